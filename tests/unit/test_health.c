/*
 * test_health.c - the readiness rule and its JSON body, the cookie trap,
 * and sd_notify against a real AF_UNIX datagram socket (path and abstract),
 * the watchdog period, JOURNAL_STREAM detection.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "rollcall/health.h"
#include "rollcall/notify.h"

static void test_ready(void **state)
{
    char j[1024];
    struct rc_health_in in = {
        .swept = true, .registry_ok = true, .self_listed = true, .peers = 3, .answering = 3};
    assert_true(rc_health_ready(&in, j, sizeof j));
    assert_string_equal(j, "{\"ready\":true,\"failing\":[],\"peers\":3,\"answering\":3,"
                           "\"expect\":0,\"cookie_rejects\":0}\n");
    in.expect = 3;
    assert_true(rc_health_ready(&in, j, sizeof j));
    in.answering = 2;
    assert_false(rc_health_ready(&in, j, sizeof j));
    assert_non_null(strstr(j, "\"failing\":[\"expect\"]"));
    in.registry_ok = false;
    in.registry_error = "redis: connection refused \"x\"";
    assert_false(rc_health_ready(&in, j, sizeof j));
    assert_non_null(strstr(j, "\"failing\":[\"registry\",\"expect\"]"));
    assert_non_null(strstr(j, "\"registry\":\"redis: connection refused \\\"x\\\"\""));
    in.registry_error = NULL;
    rc_health_ready(&in, j, sizeof j);
    assert_non_null(strstr(j, "\"registry\":\"no round trip yet\""));
    /* a tiny buffer still gets valid JSON */
    assert_false(rc_health_ready(&in, j, 20));
    assert_string_equal(j, "{\"ready\":false}\n");
}

static void test_cookie(void **state)
{
    char j[1024];
    struct rc_health_in in = {.swept = true,
                              .registry_ok = true,
                              .self_listed = true,
                              .peers = 2,
                              .answering = 0,
                              .cookie_rejects = 2};
    assert_true(rc_health_cookie_rejected_by_all(&in));
    assert_false(rc_health_ready(&in, j, sizeof j));
    assert_non_null(strstr(j, "\"failing\":[\"cookie\"]"));
    in.answering = 1; /* one peer shares our cookie: theirs is the wrong one */
    assert_false(rc_health_cookie_rejected_by_all(&in));
    assert_true(rc_health_ready(&in, j, sizeof j));
    in = (struct rc_health_in){0};
    assert_false(rc_health_ready(&in, j, sizeof j));
    assert_non_null(strstr(j, "\"failing\":[\"sweep\",\"registry\",\"self\"]"));
}

static int bind_dgram(const char *path, bool abstract)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    socklen_t len;
    struct timeval tv = {.tv_sec = 2};
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    strcpy(sa.sun_path, path);
    len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1);
    if (abstract) {
        sa.sun_path[0] = '\0';
        len--;
    }
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, len), 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static void test_notify(void **state)
{
    char path[64], buf[256], status[128];
    ssize_t n;
    int fd;
    unsetenv("NOTIFY_SOCKET");
    assert_false(rc_notify_enabled());
    assert_int_equal(rc_notify("READY=1"), 0); /* no socket: a no-op */
    snprintf(path, sizeof path, "/tmp/rc-notify-%d", (int)getpid());
    unlink(path);
    fd = bind_dgram(path, false);
    setenv("NOTIFY_SOCKET", path, 1);
    assert_true(rc_notify_enabled());
    rc_notify_status(status, sizeof status, 2, 3, NULL);
    assert_string_equal(status, "STATUS=2 of 3 peers answer");
    assert_int_equal(rc_notify("READY=1\nSTATUS=2 of 3 peers answer"), 0);
    n = recv(fd, buf, sizeof buf - 1, 0);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_string_equal(buf, "READY=1\nSTATUS=2 of 3 peers answer");
    close(fd);
    unlink(path);
    assert_true(rc_notify("WATCHDOG=1") < 0); /* nobody listens now */
    snprintf(path, sizeof path, "@rc-notify-%d", (int)getpid());
    fd = bind_dgram(path, true);
    setenv("NOTIFY_SOCKET", path, 1);
    assert_int_equal(rc_notify("WATCHDOG=1"), 0);
    n = recv(fd, buf, sizeof buf - 1, 0);
    assert_int_equal(n, 10);
    close(fd);
    setenv("NOTIFY_SOCKET", "relative", 1);
    assert_int_equal(rc_notify("READY=1"), -EINVAL);
    unsetenv("NOTIFY_SOCKET");
    rc_notify_status(status, sizeof status, 0, 0, "registry unavailable");
    assert_string_equal(status, "STATUS=0 of 0 peers answer, registry unavailable");
}

static void test_watchdog_and_journal(void **state)
{
    char v[64];
    struct stat st;
    unsetenv("WATCHDOG_USEC");
    assert_int_equal(rc_notify_watchdog_ms(), 0);
    setenv("WATCHDOG_USEC", "30000000", 1);
    unsetenv("WATCHDOG_PID");
    assert_int_equal(rc_notify_watchdog_ms(), 15000);
    snprintf(v, sizeof v, "%d", (int)getpid() + 1);
    setenv("WATCHDOG_PID", v, 1); /* for another process */
    assert_int_equal(rc_notify_watchdog_ms(), 0);
    snprintf(v, sizeof v, "%d", (int)getpid());
    setenv("WATCHDOG_PID", v, 1);
    assert_int_equal(rc_notify_watchdog_ms(), 15000);
    setenv("WATCHDOG_USEC", "x", 1);
    assert_int_equal(rc_notify_watchdog_ms(), 0);
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");

    unsetenv("JOURNAL_STREAM");
    assert_false(rc_journal_is_stderr());
    assert_int_equal(fstat(2, &st), 0);
    snprintf(v, sizeof v, "%llu:%llu", (unsigned long long)st.st_dev,
             (unsigned long long)st.st_ino);
    setenv("JOURNAL_STREAM", v, 1);
    assert_true(rc_journal_is_stderr());
    snprintf(v, sizeof v, "%llu:%llu", (unsigned long long)st.st_dev,
             (unsigned long long)st.st_ino + 1);
    setenv("JOURNAL_STREAM", v, 1);
    assert_false(rc_journal_is_stderr());
    setenv("JOURNAL_STREAM", "garbage", 1);
    assert_false(rc_journal_is_stderr());
    unsetenv("JOURNAL_STREAM");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ready),
        cmocka_unit_test(test_cookie),
        cmocka_unit_test(test_notify),
        cmocka_unit_test(test_watchdog_and_journal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

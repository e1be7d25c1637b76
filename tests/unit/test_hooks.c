/*
 * test_hooks.c - events (names, filter, JSON line) and the hook runner with
 * real scripts under /bin/sh: environment and stdin, output logged and
 * bounded, a hook killed at hook_timeout with its children, coalescing
 * while behind, a script that is not executable.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <event2/event.h>

#include "rollcall/hooks.h"
#include "rollcall/log.h"
#include "rollcall/metrics.h"

static char dir[256];

static void test_filter(void **state)
{
    uint32_t m = 0;
    char err[256];
    assert_int_equal(rc_event_filter_parse("peer_down, peer_up", &m, err, sizeof err), 0);
    assert_int_equal(m, (1u << RC_EV_PEER_DOWN) | (1u << RC_EV_PEER_UP));
    assert_int_equal(rc_event_filter_parse("*", &m, err, sizeof err), 0);
    assert_int_equal(m, RC_EV_ALL);
    assert_int_equal(rc_event_filter_parse("registry_down,all", &m, err, sizeof err), 0);
    assert_int_equal(m, RC_EV_ALL);
    assert_int_equal(rc_event_filter_parse("peer_down,peer_gone", &m, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "'peer_gone'"));
    assert_int_equal(rc_event_filter_parse(" , ", &m, err, sizeof err), -EINVAL);
    assert_string_equal(rc_event_name(RC_EV_REGISTRY_UP), "registry_up");
    assert_string_equal(rc_event_name((enum rc_event_type)99), "unknown");
}

static void test_json(void **state)
{
    struct rc_event ev;
    char out[RC_EVENT_JSON_MAX], big[256];
    size_t n;
    rc_event_init(&ev, RC_EV_PEER_DOWN, "b@127.0.0.1", "timeout", -1, 1795200689277LL);
    n = rc_event_json(&ev, "a@127.0.0.1", out, sizeof out);
    assert_string_equal(out, "{\"event\":\"peer_down\",\"self\":\"a@127.0.0.1\",\"node\":"
                             "\"b@127.0.0.1\",\"reason\":\"timeout\",\"ts\":"
                             "\"2026-11-20T18:51:29.277Z\",\"coalesced\":0}\n");
    assert_int_equal(n, strlen(out));
    rc_event_init(&ev, RC_EV_PEER_UP, "b@h", NULL, 0.25, 0);
    rc_event_json(&ev, "a@h", out, sizeof out);
    assert_non_null(strstr(out, "\"rtt_ms\":0.250,"));
    /* hostile bytes: quotes, control bytes, invalid UTF-8; valid UTF-8 kept */
    rc_event_init(&ev, RC_EV_REGISTRY_DOWN, "", "say \"no\"\n\x1b[2J \xff \xc3\xa9", -1, 0);
    rc_event_json(&ev, "a@h", out, sizeof out);
    assert_non_null(strstr(out, "\"reason\":\"say \\\"no\\\"\\n\\u001b[2J \\\\xff \xc3\xa9\""));
    assert_null(memchr(out, '\n', strlen(out) - 1));
    /* the longest fields still fit */
    memset(big, 1, sizeof big - 1);
    big[sizeof big - 1] = '\0';
    rc_event_init(&ev, RC_EV_PEER_LEFT, big, big, -1, 0);
    n = rc_event_json(&ev, big, out, sizeof out);
    assert_true(n > 3 * 255 * 6);
    assert_int_equal(rc_json_quote("a\"b", out, 8), 6);
    assert_string_equal(out, "\"a\\\"b\"");
    assert_int_equal(rc_json_quote("abcdef", out, 4), 0);
}

/* ---- the runner ---- */

static struct event_base *base;

static void write_script(const char *name, const char *body, char *path, size_t cap)
{
    FILE *f;
    snprintf(path, cap, "%s/%s", dir, name);
    f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "#!/bin/sh\n%s", body);
    fclose(f);
    chmod(path, 0755);
}

static char *slurp(const char *path)
{
    static char buf[65536];
    FILE *f = fopen(path, "r");
    size_t n = 0;
    buf[0] = '\0';
    if (f == NULL)
        return buf;
    n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void run_loop_ms(int ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
}

static void emit(struct rc_hooks *h, enum rc_event_type t, const char *node, const char *why)
{
    struct rc_event ev;
    rc_event_init(&ev, t, node, why, -1, rc_now_wall_ms());
    rc_hooks_emit(h, &ev);
}

static void test_runner(void **state)
{
    char script[512], rec[512], logp[512], err[256];
    struct rc_hooks_opts o = {.timeout_ms = 5000, .self = "a@127.0.0.1"};
    struct rc_hooks *h;
    struct rc_metrics *m = rc_metrics_new();
    unsigned running;
    size_t queued;
    char *s;

    snprintf(rec, sizeof rec, "%s/rec", dir);
    snprintf(logp, sizeof logp, "%s/log", dir);
    assert_int_equal(rc_log_open(logp, err, sizeof err), 0);
    setenv("ROLLCALL_COOKIE", "SECRET", 1);
    setenv("NOTIFY_SOCKET", "/nonexistent", 1);
    write_script("rec.sh",
                 "read line\n"
                 "echo \"$ROLLCALL_EVENT $ROLLCALL_SELF $ROLLCALL_NODE $ROLLCALL_REASON "
                 "$ROLLCALL_COALESCED cookie=${ROLLCALL_COOKIE:-unset} "
                 "notify=${NOTIFY_SOCKET:-unset} $line\" >> \"$(dirname \"$0\")/rec\"\n"
                 "echo hello from the hook\n"
                 "echo to stderr >&2\n"
                 "ls /proc/self/fd | wc -l\n",
                 script, sizeof script);
    o.script = script;
    o.metrics = m;
    o.mask = (1u << RC_EV_PEER_DOWN) | (1u << RC_EV_REGISTRY_DOWN);
    h = rc_hooks_new(base, &o, err, sizeof err);
    assert_non_null(h);
    emit(h, RC_EV_PEER_DOWN, "b@127.0.0.1", "connection_lost");
    emit(h, RC_EV_PEER_UP, "b@127.0.0.1", NULL); /* filtered out */
    emit(h, RC_EV_REGISTRY_DOWN, "", "connection refused");
    for (int i = 0; i < 50; i++) {
        run_loop_ms(100);
        rc_hooks_counts(h, &running, &queued);
        if (running == 0 && queued == 0)
            break;
    }
    assert_int_equal(running, 0);
    rc_hooks_free(h);
    s = slurp(rec);
    assert_non_null(strstr(s, "peer_down a@127.0.0.1 b@127.0.0.1 connection_lost 0 cookie=unset "
                              "notify=unset {\"event\":\"peer_down\""));
    assert_non_null(strstr(s, "registry_down a@127.0.0.1  connection refused 0"));
    assert_null(strstr(s, "peer_up"));
    s = slurp(logp);
    assert_non_null(strstr(s, "hook_output"));
    assert_non_null(strstr(s, "hello from the hook"));
    assert_non_null(strstr(s, "to stderr"));
    /* fds 0, 1, 2 and the one ls opens: nothing of ours leaked */
    assert_non_null(strstr(s, "line=4"));
    rc_metrics_free(m);
    rc_log_open(NULL, err, sizeof err);
}

static void test_timeout_and_coalesce(void **state)
{
    char script[512], rec[512], logp[512], err[256];
    struct rc_hooks_opts o = {.timeout_ms = 300, .self = "a@h", .max_running = 1};
    struct rc_hooks *h;
    unsigned running;
    size_t queued;
    uint64_t t0;
    char *s, *p;
    int n;

    snprintf(rec, sizeof rec, "%s/rec2", dir);
    snprintf(logp, sizeof logp, "%s/log2", dir);
    assert_int_equal(rc_log_open(logp, err, sizeof err), 0);
    /* sleeps forever, in a child too: the whole group must die */
    write_script("slow.sh",
                 "echo \"$ROLLCALL_EVENT $ROLLCALL_NODE $ROLLCALL_COALESCED\" >> "
                 "\"$(dirname \"$0\")/rec2\"\n"
                 "sleep 987.25 &\nsleep 987.25\n",
                 script, sizeof script);
    o.script = script;
    h = rc_hooks_new(base, &o, err, sizeof err);
    assert_non_null(h);
    t0 = rc_now_mono_ms();
    emit(h, RC_EV_PEER_DOWN, "b@h", "timeout"); /* runs */
    emit(h, RC_EV_PEER_DOWN, "c@h", "timeout"); /* waits */
    emit(h, RC_EV_PEER_UP, "b@h", NULL);        /* waits */
    emit(h, RC_EV_PEER_DOWN, "b@h", "timeout"); /* takes the place of b's peer_up */
    rc_hooks_counts(h, &running, &queued);
    assert_int_equal(running, 1);
    assert_int_equal(queued, 2);
    for (int i = 0; i < 60; i++) {
        run_loop_ms(100);
        rc_hooks_counts(h, &running, &queued);
        if (running == 0 && queued == 0)
            break;
    }
    assert_int_equal(running, 0);
    /* three runs of 300 ms each, killed: well under the 6 s budget */
    assert_true(rc_now_mono_ms() - t0 < 5000);
    rc_hooks_free(h);
    s = slurp(rec);
    assert_non_null(strstr(s, "peer_down b@h 0\npeer_down c@h 0\npeer_down b@h 1\n"));
    s = slurp(logp);
    for (n = 0, p = s; (p = strstr(p, "hook_killed")) != NULL; p++)
        n++;
    assert_int_equal(n, 3);
    assert_non_null(strstr(s, "coalesced"));
    /* no sleep of ours survives: its group was killed */
    assert_int_not_equal(system("pgrep -f '^sleep 987.25$' >/dev/null"), 0);
    rc_log_open(NULL, err, sizeof err);
}

static void test_bad_script(void **state)
{
    char script[512], err[256];
    struct rc_hooks_opts o = {.self = "a@h"};
    o.script = "relative.sh";
    assert_null(rc_hooks_new(base, &o, err, sizeof err));
    assert_non_null(strstr(err, "absolute"));
    o.script = "/nonexistent/hook";
    assert_null(rc_hooks_new(base, &o, err, sizeof err));
    assert_non_null(strstr(err, "/nonexistent/hook"));
    snprintf(script, sizeof script, "%s/noexec.sh", dir);
    fclose(fopen(script, "w"));
    chmod(script, 0644);
    o.script = script;
    assert_null(rc_hooks_new(base, &o, err, sizeof err));
    assert_non_null(strstr(err, "not an executable"));
}

static int setup(void **state)
{
    snprintf(dir, sizeof dir, "/tmp/rc-test-hooks-XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    base = event_base_new();
    return base == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    char cmd[300];
    event_base_free(base);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_filter),     cmocka_unit_test(test_json),
        cmocka_unit_test(test_runner),     cmocka_unit_test(test_timeout_and_coalesce),
        cmocka_unit_test(test_bad_script),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

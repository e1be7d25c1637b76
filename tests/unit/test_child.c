/*
 * test_child.c - the app as a child (agent/child.c): exit statuses, a
 * forwarded signal, the extra environment, a command that does not exist,
 * and a child that must not inherit the agent's ignored SIGPIPE.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "rollcall/child.h"

struct result {
    struct event_base *base;
    int status;
    int calls;
};

static void on_exit_cb(void *arg, int status)
{
    struct result *r = arg;

    r->status = status;
    r->calls++;
    event_base_loopbreak(r->base);
}

static void guard_cb(evutil_socket_t fd, short what, void *arg)
{
    event_base_loopbreak(arg);
}

/* Runs argv to its end (at most 10 s); returns the status. */
static int run_child(char *const argv[], const char *const env[], int forward_sig)
{
    struct result r = {0};
    struct rc_child *c;
    struct event *guard;
    struct timeval ten = {10, 0};
    char err[256] = "";

    r.base = event_base_new();
    assert_non_null(r.base);
    guard = evtimer_new(r.base, guard_cb, r.base);
    evtimer_add(guard, &ten);
    c = rc_child_start(r.base, argv, env, on_exit_cb, &r, NULL, err, sizeof err);
    assert_non_null(c);
    assert_true(rc_child_running(c));
    assert_true(rc_child_pid(c) > 0);
    if (forward_sig != 0) {
        usleep(100 * 1000);
        assert_int_equal(rc_child_signal(c, forward_sig), 0);
    }
    event_base_dispatch(r.base);
    assert_int_equal(r.calls, 1);
    assert_false(rc_child_running(c));
    assert_int_equal(rc_child_signal(c, SIGTERM), -ESRCH);
    rc_child_free(c);
    event_free(guard);
    event_base_free(r.base);
    return r.status;
}

static void test_exit_codes(void **state)
{
    char *ok[] = {"sh", "-c", "exit 0", NULL};
    char *three[] = {"sh", "-c", "exit 3", NULL};
    char *killed[] = {"sh", "-c", "kill -KILL $$", NULL};

    assert_int_equal(run_child(ok, NULL, 0), 0);
    assert_int_equal(run_child(three, NULL, 0), 3);
    assert_int_equal(run_child(killed, NULL, 0), 128 + SIGKILL);
}

static void test_forwarded_signal(void **state)
{
    char *sleeper[] = {"sleep", "30", NULL};
    char *trapper[] = {"sh", "-c", "trap 'exit 7' TERM; while :; do sleep 0.05; done", NULL};

    assert_int_equal(run_child(sleeper, NULL, SIGTERM), 128 + SIGTERM);
    assert_int_equal(run_child(trapper, NULL, SIGTERM), 7);
}

static void test_environment(void **state)
{
    const char *env[] = {"RELEASE_NODE=app@127.0.0.1", "HOME=/nonexistent-rc", NULL};
    char *check[] = {"sh", "-c",
                     "[ \"$RELEASE_NODE\" = app@127.0.0.1 ] && [ \"$HOME\" = /nonexistent-rc ] && "
                     "[ \"$RC_TEST_KEEP\" = kept ]",
                     NULL};

    setenv("RC_TEST_KEEP", "kept", 1);
    setenv("RELEASE_NODE", "replaced@h", 1);
    assert_int_equal(run_child(check, env, 0), 0);
}

static void test_sigpipe_default_in_child(void **state)
{
    /* The agent ignores SIGPIPE; the child must die of it like any program.
     * (A shell cannot un-ignore a signal ignored on entry: if the child
     * inherited SIG_IGN, `trap -` does nothing and the shell exits 0.) */
    char *check[] = {"sh", "-c", "trap - PIPE; kill -PIPE $$; exit 0", NULL};

    signal(SIGPIPE, SIG_IGN);
    assert_int_equal(run_child(check, NULL, 0), 128 + SIGPIPE);
    signal(SIGPIPE, SIG_DFL);
}

static void test_missing_command(void **state)
{
    struct event_base *base = event_base_new();
    char *nope[] = {"/nonexistent/rollcall-no-such-program", NULL};
    char *empty[] = {NULL};
    char err[256] = "";
    int e = 0;

    assert_null(rc_child_start(base, nope, NULL, on_exit_cb, NULL, &e, err, sizeof err));
    assert_int_equal(e, ENOENT);
    assert_non_null(strstr(err, "cannot start '/nonexistent/rollcall-no-such-program'"));
    assert_null(rc_child_start(base, empty, NULL, on_exit_cb, NULL, &e, err, sizeof err));
    assert_int_equal(e, EINVAL);
    event_base_free(base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exit_codes),      cmocka_unit_test(test_forwarded_signal),
        cmocka_unit_test(test_environment),     cmocka_unit_test(test_sigpipe_default_in_child),
        cmocka_unit_test(test_missing_command),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

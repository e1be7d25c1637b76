/*
 * test_metrics.c - the Prometheus text rendering: every series present with
 * HELP and TYPE once, cumulative buckets, +Inf = _count, label escaping of
 * hostile node names, per-peer series from the render-time table, NULL
 * metrics recorders are no-ops. (The integration test parses a live
 * agent's /metrics with python3-prometheus-client.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <event2/buffer.h>

#include "rollcall/metrics.h"

static char *render(struct rc_metrics *m, const struct rc_metrics_state *st)
{
    struct evbuffer *b = evbuffer_new();
    size_t n;
    char *s;
    assert_int_equal(rc_metrics_render(m, st, b), 0);
    n = evbuffer_get_length(b);
    s = malloc(n + 1);
    evbuffer_remove(b, s, n);
    s[n] = '\0';
    evbuffer_free(b);
    return s;
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

static void test_render(void **state)
{
    struct rc_metrics *m = rc_metrics_new();
    struct rc_metrics_peer peers[] = {
        {.name = "b@127.0.0.1", .up = true, .known = true, .rtt_s = 0.000125},
        {.name = "evil\"\\\n@h", .up = false, .known = true, .rtt_s = -1},
    };
    struct rc_metrics_state st = {.self = "a@127.0.0.1",
                                  .version = "0.1.0",
                                  .peers = peers,
                                  .npeers = 2,
                                  .sweeps = 7,
                                  .ready = true,
                                  .start_time_s = 1795200689};
    char *s;

    rc_metrics_sweep(m, 0.0004);
    rc_metrics_sweep(m, 0.003);
    rc_metrics_sweep(m, 20);
    rc_metrics_regop(m, RC_REGOP_LIST, 0.002, true);
    rc_metrics_regop(m, RC_REGOP_PUBLISH, 0.5, false);
    rc_metrics_entries(m, 3, 1);
    rc_metrics_ping_failed(m, RC_REASON_COOKIE_REJECTED);
    rc_metrics_ping_failed(m, RC_REASON_COOKIE_REJECTED);
    rc_metrics_change(m, RC_CHANGE_DOWN);
    rc_metrics_registry_up(m, true);
    rc_metrics_hook(m, RC_HOOK_COALESCED, 3);
    s = render(m, &st);

    assert_non_null(strstr(s, "rollcall_build_info{version=\"0.1.0\",node=\"a@127.0.0.1\"} 1\n"));
    assert_non_null(strstr(s, "rollcall_sweeps_total 7\n"));
    assert_non_null(strstr(s, "rollcall_sweep_duration_seconds_bucket{le=\"0.0005\"} 1\n"));
    assert_non_null(strstr(s, "rollcall_sweep_duration_seconds_bucket{le=\"0.005\"} 2\n"));
    assert_non_null(strstr(s, "rollcall_sweep_duration_seconds_bucket{le=\"10\"} 2\n"));
    assert_non_null(strstr(s, "rollcall_sweep_duration_seconds_bucket{le=\"+Inf\"} 3\n"));
    assert_non_null(strstr(s, "rollcall_sweep_duration_seconds_count 3\n"));
    assert_non_null(strstr(s, "rollcall_sweep_duration_seconds_sum 20.0034"));
    assert_non_null(strstr(s, "rollcall_registry_operation_duration_seconds_bucket{op=\"list\","
                              "le=\"0.0025\"} 1\n"));
    assert_non_null(strstr(s, "rollcall_registry_operation_duration_seconds_count{op=\"publish\"}"
                              " 1\n"));
    assert_non_null(strstr(s, "rollcall_registry_errors_total{op=\"publish\"} 1\n"));
    assert_non_null(strstr(s, "rollcall_registry_errors_total{op=\"list\"} 0\n"));
    assert_non_null(strstr(s, "rollcall_registry_entries_listed 3\n"));
    assert_non_null(strstr(s, "rollcall_registry_up 1\n"));
    assert_non_null(strstr(s, "rollcall_ping_failures_total{reason=\"cookie_rejected\"} 2\n"));
    assert_non_null(strstr(s, "rollcall_ping_failures_total{reason=\"timeout\"} 0\n"));
    assert_null(strstr(s, "reason=\"ok\""));
    assert_non_null(strstr(s, "rollcall_state_changes_total{event=\"peer_down\"} 1\n"));
    assert_non_null(strstr(s, "rollcall_peers 2\n"));
    assert_non_null(strstr(s, "rollcall_peers_up 1\n"));
    assert_non_null(strstr(s, "rollcall_peer_up{node=\"b@127.0.0.1\"} 1\n"));
    assert_non_null(strstr(s, "rollcall_peer_up{node=\"evil\\\"\\\\\\n@h\"} 0\n"));
    assert_non_null(strstr(s, "rollcall_peer_rtt_seconds{node=\"b@127.0.0.1\"} 0.000125"));
    assert_int_equal(count(s, "rollcall_peer_rtt_seconds{"), 1);
    assert_non_null(strstr(s, "rollcall_hook_events_coalesced_total 3\n"));
    assert_int_equal(count(s, "# TYPE rollcall_registry_operation_duration_seconds histogram\n"),
                     1);
    /* every line a comment or "name[{...}] value", no raw newline in a label */
    for (char *line = strtok(s, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        if (line[0] == '#')
            continue;
        assert_true(strncmp(line, "rollcall_", 9) == 0);
        assert_non_null(strrchr(line, ' '));
    }
    free(s);
    rc_metrics_free(m);
}

static void test_null(void **state)
{
    /* metrics off: every recorder is a no-op */
    rc_metrics_sweep(NULL, 1);
    rc_metrics_regop(NULL, RC_REGOP_OPEN, 1, false);
    rc_metrics_ping_failed(NULL, RC_REASON_TIMEOUT);
    rc_metrics_change(NULL, RC_CHANGE_UP);
    rc_metrics_hook(NULL, RC_HOOK_RUN, 1);
    rc_metrics_free(NULL);
    /* out-of-range enums are ignored */
    struct rc_metrics *m = rc_metrics_new();
    rc_metrics_regop(m, (enum rc_metric_regop)9, 1, false);
    rc_metrics_ping_failed(m, (enum rc_reason)99);
    rc_metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render),
        cmocka_unit_test(test_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

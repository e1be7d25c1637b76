/*
 * test_detect.c - the pieces of a verdict (agent/detect.c): the RFC 6298
 * per-link deadline, local health, and the confirmation rule over every
 * kind of round the network harness (tests/net/) produces.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "rollcall/detect.h"

static void test_rtt(void **state)
{
    struct rc_rtt r;

    memset(&r, 0, sizeof r);
    /* no sample: the configured timeout */
    assert_int_equal(rc_rtt_deadline_ms(&r, 500, 900), 500);
    /* a fast steady link: still the configured timeout (never lower) */
    for (int i = 0; i < 20; i++)
        rc_rtt_add(&r, 300);
    assert_int_equal(rc_rtt_deadline_ms(&r, 500, 900), 500);
    /* a slow steady link (500 ms +- 100): the deadline grows past 500 */
    memset(&r, 0, sizeof r);
    for (int i = 0; i < 50; i++)
        rc_rtt_add(&r, (uint64_t)(i % 2 == 0 ? 400000 : 600000));
    assert_true(rc_rtt_deadline_ms(&r, 500, 900) > 700);
    /* but never past the cap */
    assert_int_equal(rc_rtt_deadline_ms(&r, 500, 750), 750);
    /* a cap below the base means the base */
    assert_int_equal(rc_rtt_deadline_ms(&r, 500, 100), 500);
    /* the first sample sets srtt and half of it as variance */
    memset(&r, 0, sizeof r);
    rc_rtt_add(&r, 800000);
    assert_int_equal(r.srtt_us, 800000);
    assert_int_equal(r.rttvar_us, 400000);
    assert_int_equal(rc_rtt_deadline_ms(&r, 500, 5000), 2400);
}

static void test_health(void **state)
{
    struct rc_health h = {0};

    /* one lost peer of ten is the peer's problem, not ours */
    rc_health_sweep(&h, 10, 1, 0, 1000);
    assert_int_equal(h.score, 0);
    /* most peers at once: ours */
    rc_health_sweep(&h, 10, 6, 0, 1000);
    assert_int_equal(h.score, 1);
    assert_int_equal(rc_health_factor(&h), 2);
    /* a late loop counts too */
    rc_health_sweep(&h, 10, 0, 700, 1000);
    assert_int_equal(h.score, 2);
    /* capped */
    for (int i = 0; i < 20; i++)
        rc_health_sweep(&h, 10, 10, 0, 1000);
    assert_int_equal(h.score, RC_HEALTH_MAX);
    /* a sweep with some loss neither heals nor hurts */
    rc_health_sweep(&h, 10, 1, 0, 1000);
    assert_int_equal(h.score, RC_HEALTH_MAX);
    /* clean sweeps heal one step each */
    for (int i = 0; i < RC_HEALTH_MAX; i++)
        rc_health_sweep(&h, 10, 0, 0, 1000);
    assert_int_equal(h.score, 0);
    rc_health_sweep(&h, 10, 0, 0, 1000);
    assert_int_equal(h.score, 0);
    /* a single peer that times out is not "most peers" */
    rc_health_sweep(&h, 1, 1, 0, 1000);
    assert_int_equal(h.score, 0);
}

static struct rc_round round_base(void)
{
    struct rc_round r;

    memset(&r, 0, sizeof r);
    r.helpers_asked = 3;
    r.silence_ms = 3000;
    r.suspect_ms = 1000;
    return r;
}

static void test_refute(void **state)
{
    struct rc_round r = round_base();
    struct rc_decision d;

    r.direct_answered = true;
    d = rc_detect_decide(&r, 1500);
    assert_int_equal(d.verdict, RC_VERDICT_REFUTE);
    assert_string_equal(d.confirmed_by, "direct");
    /* one helper reaching it outweighs everything else */
    r = round_base();
    r.helpers_replied = 3;
    r.helpers_ok = 1;
    r.helpers_silent_unacked = 2;
    r.direct_tcp = RC_TCP_UNACKED;
    d = rc_detect_decide(&r, 1500);
    assert_int_equal(d.verdict, RC_VERDICT_REFUTE);
    assert_string_equal(d.confirmed_by, "helpers");
}

static void test_refused_is_immediate(void **state)
{
    struct rc_round r = round_base();
    struct rc_decision d;

    r.silence_ms = 10; /* however recent the last answer */
    r.direct_refused = true;
    d = rc_detect_decide(&r, 1500);
    assert_int_equal(d.verdict, RC_VERDICT_DOWN);
    assert_string_equal(d.evidence, "refused");
    assert_string_equal(d.confirmed_by, "direct");
    r.direct_refused = false;
    r.helpers_replied = 1;
    r.helpers_refused = 1;
    d = rc_detect_decide(&r, 1500);
    assert_int_equal(d.verdict, RC_VERDICT_DOWN);
    assert_string_equal(d.confirmed_by, "helpers");
}

/* The weak spot of an earlier design: 20 % loss on one node. A helper whose
 * ping was acknowledged but not answered in time, or who heard the peer
 * recently, is no evidence of death while the silence is short. */
static void test_lossy_link_stays_suspect(void **state)
{
    struct rc_round r = round_base();
    struct rc_decision d;

    r.silence_ms = 900; /* someone heard it 0.9 s ago */
    r.helpers_replied = 3;
    r.helpers_silent_acked = 3;
    r.direct_tcp = RC_TCP_ACKED;
    d = rc_detect_decide(&r, 1500);
    assert_int_equal(d.verdict, RC_VERDICT_STAY);
    /* helpers with no opinion (unknown/busy) are no evidence either */
    r = round_base();
    r.helpers_replied = 3;
    r.helpers_unknown = 3;
    d = rc_detect_decide(&r, 1500);
    assert_int_equal(d.verdict, RC_VERDICT_STAY);
}

/* We asked and nobody answered us: we are the likely problem. */
static void test_no_helper_reply_stays(void **state)
{
    struct rc_round r = round_base();
    struct rc_decision d;

    r.silence_ms = 60000;
    r.helpers_replied = 0;
    r.direct_tcp = RC_TCP_UNACKED;
    d = rc_detect_decide(&r, 1500);
    assert_int_equal(d.verdict, RC_VERDICT_STAY);
}

static void test_confirmed_down(void **state)
{
    struct rc_round r = round_base();
    struct rc_decision d;

    /* a cable pull: nobody's bytes acknowledged, everyone silent long enough */
    r.helpers_replied = 2;
    r.helpers_silent_unacked = 2;
    r.direct_tcp = RC_TCP_UNACKED;
    r.silence_ms = 1500;
    d = rc_detect_decide(&r, 1500);
    assert_int_equal(d.verdict, RC_VERDICT_DOWN);
    assert_string_equal(d.evidence, "silent");
    assert_string_equal(d.confirmed_by, "direct+helpers");
    /* a frozen process: kernels acknowledge, nobody answers */
    r.direct_tcp = RC_TCP_ACKED;
    d = rc_detect_decide(&r, 1500);
    assert_int_equal(d.verdict, RC_VERDICT_DOWN);
    assert_string_equal(d.evidence, "acked_unanswered");
    /* the same one millisecond earlier: not yet */
    r.silence_ms = 1499;
    d = rc_detect_decide(&r, 1500);
    assert_int_equal(d.verdict, RC_VERDICT_STAY);
}

static void test_alone(void **state)
{
    struct rc_round r;
    struct rc_decision d;

    memset(&r, 0, sizeof r);
    r.direct_tcp = RC_TCP_UNACKED;
    r.silence_ms = 2999;
    d = rc_detect_decide(&r, 1500);
    assert_int_equal(d.verdict, RC_VERDICT_STAY);
    r.silence_ms = 3000;
    d = rc_detect_decide(&r, 1500);
    assert_int_equal(d.verdict, RC_VERDICT_DOWN);
    assert_string_equal(d.confirmed_by, "direct");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rtt),
        cmocka_unit_test(test_health),
        cmocka_unit_test(test_refute),
        cmocka_unit_test(test_refused_is_immediate),
        cmocka_unit_test(test_lossy_link_stays_suspect),
        cmocka_unit_test(test_no_helper_reply_stays),
        cmocka_unit_test(test_confirmed_down),
        cmocka_unit_test(test_alone),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

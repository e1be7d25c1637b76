/*
 * test_peers.c - the peer table and its state machine (agent/peers.c),
 * driven with a fake clock: transitions, the two-stage prune and its
 * timing, a member that comes back, a snapshot applied mid-sweep, leaving.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rollcall/peers.h"

#define STALE 10000 /* stale_after, ms */
#define PRUNE 30000 /* prune_after, ms */

struct fx {
    struct rc_peers t;
    struct rc_peer_changes ch;
    struct rc_snap_entry v[8];
    struct rc_snapshot snap;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return -1;
    rc_peers_init(&f->t, STALE, PRUNE);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    rc_peers_free(&f->t);
    rc_peer_changes_free(&f->ch);
    free(f);
    return 0;
}

/* A snapshot of "name:age_ms" items (sorted by the caller), "!" = self. */
static const struct rc_snapshot *snap(struct fx *f, const char *const *items, size_t n)
{
    memset(f->v, 0, sizeof(f->v));
    for (size_t i = 0; i < n; i++) {
        const char *it = items[i];
        bool self = it[0] == '!';
        const char *colon;

        if (self)
            it++;
        colon = strchr(it, ':');
        snprintf(f->v[i].e.name, sizeof(f->v[i].e.name), "%.*s", (int)(colon - it), it);
        f->v[i].e.age_ms = strtoll(colon + 1, NULL, 10);
        f->v[i].self = self;
        snprintf(f->v[i].ip, sizeof(f->v[i].ip), "127.0.0.1");
    }
    f->snap.v = f->v;
    f->snap.n = n;
    return &f->snap;
}

#define SNAP(f, ...)                                                                               \
    snap((f), (const char *const[]){__VA_ARGS__},                                                  \
         sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *))

static int ok(struct fx *f, const char *name, uint64_t rtt_us, struct rc_peer_change *chg)
{
    struct rc_verdict v = {.ok = true, .reason = RC_REASON_OK, .rtt_us = rtt_us};

    return rc_peers_record(&f->t, name, &v, chg);
}

static int nak(struct fx *f, const char *name, enum rc_reason r, struct rc_peer_change *chg)
{
    struct rc_verdict v = {.ok = false, .reason = r};

    return rc_peers_record(&f->t, name, &v, chg);
}

static size_t count(const struct rc_peer_changes *ch, enum rc_peer_event ev)
{
    size_t n = 0;

    for (size_t i = 0; i < ch->n; i++)
        n += ch->v[i].ev == ev;
    return n;
}

/* ---- transitions ---- */

static void test_transitions(void **state)
{
    struct fx *f = *state;
    struct rc_peer_change chg;
    struct rc_peer *p;

    assert_int_equal(rc_peers_apply(&f->t, SNAP(f, "a@h:0", "b@h:0", "!me@h:0"), &f->ch), 0);
    assert_int_equal(f->t.n, 2); /* never self */
    assert_int_equal(f->ch.n, 0);
    assert_null(rc_peers_find(&f->t, "me@h"));
    p = rc_peers_find(&f->t, "a@h");
    assert_non_null(p);
    assert_int_equal(p->state, RC_PEER_UNKNOWN);

    /* no verdict outside a sweep */
    assert_int_equal(ok(f, "a@h", 100, &chg), -EALREADY);

    rc_peers_sweep_begin(&f->t);
    assert_int_equal(ok(f, "a@h", 1500, &chg), 1);
    assert_int_equal(chg.ev, RC_PEER_EV_UP);
    assert_string_equal(chg.name, "a@h");
    assert_int_equal(chg.from, RC_PEER_UNKNOWN);
    assert_int_equal(chg.to, RC_PEER_UP);
    assert_int_equal(chg.rtt_us, 1500);
    /* one verdict per member per sweep */
    assert_int_equal(nak(f, "a@h", RC_REASON_TIMEOUT, &chg), -EALREADY);
    assert_int_equal(nak(f, "zz@h", RC_REASON_TIMEOUT, &chg), -ENOENT);
    assert_int_equal(nak(f, "b@h", RC_REASON_CONNECT_REFUSED, &chg), 1);
    assert_int_equal(chg.ev, RC_PEER_EV_DOWN);
    assert_int_equal(chg.reason, RC_REASON_CONNECT_REFUSED);
    rc_peers_sweep_end(&f->t, 1000, &f->ch);
    assert_int_equal(f->ch.n, 0);
    assert_true(rc_peers_find(&f->t, "a@h")->last.ok);
    assert_int_equal(rc_peers_find(&f->t, "b@h")->last.reason, RC_REASON_CONNECT_REFUSED);

    /* the same state again: no change reported */
    rc_peers_sweep_begin(&f->t);
    assert_int_equal(ok(f, "a@h", 900, &chg), 0);
    assert_int_equal(rc_peers_find(&f->t, "a@h")->rtt_us, 900);
    assert_int_equal(nak(f, "b@h", RC_REASON_TIMEOUT, &chg), 0);
    /* a member without a verdict at the end: a timeout */
    rc_peers_sweep_end(&f->t, 2000, &f->ch);
    assert_int_equal(f->ch.n, 0);

    rc_peers_sweep_begin(&f->t);
    assert_int_equal(nak(f, "b@h", RC_REASON_TIMEOUT, &chg), 0);
    rc_peers_sweep_end(&f->t, 3000, &f->ch); /* a@h did not answer */
    assert_int_equal(f->ch.n, 1);
    assert_int_equal(f->ch.v[0].ev, RC_PEER_EV_DOWN);
    assert_string_equal(f->ch.v[0].name, "a@h");
    assert_int_equal(f->ch.v[0].from, RC_PEER_UP);
    assert_int_equal(f->ch.v[0].reason, RC_REASON_TIMEOUT);

    /* a lost connection: down at once, between sweeps too */
    rc_peers_sweep_begin(&f->t);
    assert_int_equal(ok(f, "a@h", 100, &chg), 1);
    rc_peers_sweep_end(&f->t, 4000, &f->ch);
    assert_int_equal(rc_peers_mark_down(&f->t, "a@h", RC_REASON_CONNECTION_LOST, 5000, &chg), 1);
    assert_int_equal(chg.ev, RC_PEER_EV_DOWN);
    assert_int_equal(chg.reason, RC_REASON_CONNECTION_LOST);
    assert_int_equal(rc_peers_mark_down(&f->t, "a@h", RC_REASON_CONNECTION_LOST, 5000, &chg), 0);
    assert_int_equal(rc_peers_mark_down(&f->t, "zz@h", RC_REASON_CONNECTION_LOST, 5000, &chg),
                     -ENOENT);

    /* a ping that could not start on our side: our failure, named so */
    rc_peers_sweep_begin(&f->t);
    assert_int_equal(nak(f, "b@h", RC_REASON_LOCAL_ERROR, &chg), 0);
    assert_int_equal(rc_peers_find(&f->t, "b@h")->last.reason, RC_REASON_LOCAL_ERROR);
    assert_string_equal(rc_reason_str(RC_REASON_LOCAL_ERROR), "local_error");
    rc_peers_sweep_end(&f->t, 5000, &f->ch);

    /* an unsorted or duplicated snapshot is refused, the table unchanged */
    assert_int_equal(rc_peers_apply(&f->t, SNAP(f, "b@h:0", "a@h:0"), &f->ch), -EINVAL);
    assert_int_equal(rc_peers_apply(&f->t, SNAP(f, "a@h:0", "a@h:0"), &f->ch), -EINVAL);
    assert_int_equal(f->t.n, 2);
}

/* ---- the two-stage prune ---- */

static void sweep_failing(struct fx *f, const char *name, uint64_t now)
{
    rc_peers_sweep_begin(&f->t);
    nak(f, name, RC_REASON_CONNECT_REFUSED, NULL);
    rc_peers_sweep_end(&f->t, now, &f->ch);
}

static void test_prune_timing(void **state)
{
    struct fx *f = *state;
    struct rc_peer_change chg;
    struct rc_peer *p;

    /* failing but fresh in the registry: never pruned, however long */
    assert_int_equal(rc_peers_apply(&f->t, SNAP(f, "a@h:500"), &f->ch), 0);
    sweep_failing(f, "a@h", 1000);
    p = rc_peers_find(&f->t, "a@h");
    assert_int_equal(p->failing_since_ms, 1000);
    sweep_failing(f, "a@h", 1000 + PRUNE + 5000);
    assert_int_equal(count(&f->ch, RC_PEER_EV_PRUNE), 0);

    /* stale now, failing since 1000: due at 1000 + PRUNE, not a ms before */
    assert_int_equal(rc_peers_apply(&f->t, SNAP(f, "a@h:20000"), &f->ch), 0);
    p = rc_peers_find(&f->t, "a@h");
    assert_int_equal(p->failing_since_ms, 1000); /* carried over */
    sweep_failing(f, "a@h", 1000 + PRUNE - 1);
    assert_int_equal(count(&f->ch, RC_PEER_EV_PRUNE), 0);
    sweep_failing(f, "a@h", 1000 + PRUNE);
    assert_int_equal(f->ch.n, 1);
    assert_int_equal(f->ch.v[0].ev, RC_PEER_EV_PRUNE);
    assert_int_equal(f->ch.v[0].age_ms, 20000);
    assert_true(rc_peers_find(&f->t, "a@h")->prune_requested);

    /* still listed: not asked again before prune_after has passed... */
    sweep_failing(f, "a@h", 1000 + PRUNE + 1000);
    assert_int_equal(count(&f->ch, RC_PEER_EV_PRUNE), 0);
    /* ...then asked again */
    sweep_failing(f, "a@h", 1000 + 2 * PRUNE);
    assert_int_equal(f->ch.n, 1);
    assert_int_equal(f->ch.v[0].ev, RC_PEER_EV_PRUNE);

    /* the store says the prune took: announced (PRUNED, the age when asked),
     * and the member then leaves quietly */
    assert_int_equal(rc_peers_pruned(&f->t, "a@h", 20000, &chg), 1);
    assert_int_equal(chg.ev, RC_PEER_EV_PRUNED);
    assert_string_equal(chg.name, "a@h");
    assert_int_equal(chg.age_ms, 20000);
    assert_int_equal(rc_peers_apply(&f->t, SNAP(f, "b@h:0"), &f->ch), 0);
    assert_int_equal(f->ch.n, 1);
    assert_int_equal(f->ch.v[0].ev, RC_PEER_EV_LEFT);
    assert_string_equal(f->ch.v[0].name, "a@h");
    assert_true(f->ch.v[0].quiet);
    assert_null(rc_peers_find(&f->t, "a@h"));

    /* a member that answers is never pruned, stale or not */
    assert_int_equal(rc_peers_apply(&f->t, SNAP(f, "b@h:99999999"), &f->ch), 0);
    for (uint64_t now = 100000; now < 100000 + 3 * PRUNE; now += 1000) {
        rc_peers_sweep_begin(&f->t);
        ok(f, "b@h", 10, NULL);
        rc_peers_sweep_end(&f->t, now, &f->ch);
        assert_int_equal(f->ch.n, 0);
    }
    assert_int_equal(rc_peers_find(&f->t, "b@h")->failing_since_ms, 0);

    /* a silent member (no verdict: timeouts) is pruned like a refusing one */
    rc_peers_sweep_begin(&f->t);
    rc_peers_sweep_end(&f->t, 200000, &f->ch);
    assert_int_equal(count(&f->ch, RC_PEER_EV_DOWN), 1);
    rc_peers_sweep_begin(&f->t);
    rc_peers_sweep_end(&f->t, 200000 + PRUNE, &f->ch);
    assert_int_equal(count(&f->ch, RC_PEER_EV_PRUNE), 1);
}

/* Stale only by our count since the store last spoke (it said fresh then,
 * and heartbeats do not make us list): the store is asked again, quietly,
 * at most every STALE / 2; a prune only once the store itself says stale. */
static void test_prune_on_the_stores_word(void **state)
{
    struct fx *f = *state;

    assert_int_equal(rc_peers_apply(&f->t, SNAP(f, "a@h:25000"), &f->ch), 0);
    f->t.v[0].se.store_age_ms = 2000; /* the store said fresh at 1000 */
    f->t.v[0].se.store_read_ms = 1000;
    sweep_failing(f, "a@h", 1000);
    sweep_failing(f, "a@h", 1000 + PRUNE);
    assert_int_equal(count(&f->ch, RC_PEER_EV_PRUNE), 0);
    assert_int_equal(count(&f->ch, RC_PEER_EV_RECHECK), 1);
    assert_false(rc_peers_find(&f->t, "a@h")->prune_requested);
    /* asked: not again before STALE / 2 */
    sweep_failing(f, "a@h", 1000 + PRUNE + STALE / 2 - 1);
    assert_int_equal(f->ch.n, 0);
    sweep_failing(f, "a@h", 1000 + PRUNE + STALE / 2);
    assert_int_equal(count(&f->ch, RC_PEER_EV_RECHECK), 1);
    /* the store's answer: fresh (its heartbeats came all along): nothing */
    assert_int_equal(rc_peers_apply(&f->t, SNAP(f, "a@h:3000"), &f->ch), 0);
    f->t.v[0].se.store_age_ms = 3000;
    f->t.v[0].se.store_read_ms = 1000 + PRUNE + STALE;
    sweep_failing(f, "a@h", 1000 + PRUNE + STALE);
    assert_int_equal(f->ch.n, 0);
    /* the store's answer: stale (dead): pruned, and logged as such */
    assert_int_equal(rc_peers_apply(&f->t, SNAP(f, "a@h:45000"), &f->ch), 0);
    f->t.v[0].se.store_age_ms = 45000;
    f->t.v[0].se.store_read_ms = 1000 + PRUNE + 2 * STALE;
    sweep_failing(f, "a@h", 1000 + PRUNE + 2 * STALE);
    assert_int_equal(count(&f->ch, RC_PEER_EV_PRUNE), 1);
    assert_int_equal(count(&f->ch, RC_PEER_EV_RECHECK), 0);
}

/* ---- a member that comes back ---- */

static void test_comes_back(void **state)
{
    struct fx *f = *state;
    struct rc_peer_change chg;
    struct rc_peer *p;

    assert_int_equal(rc_peers_apply(&f->t, SNAP(f, "a@h:20000"), &f->ch), 0);
    rc_peers_sweep_begin(&f->t);
    assert_int_equal(ok(f, "a@h", 100, &chg), 1);
    rc_peers_sweep_end(&f->t, 1000, &f->ch);
    sweep_failing(f, "a@h", 2000);
    sweep_failing(f, "a@h", 2000 + PRUNE);
    assert_int_equal(count(&f->ch, RC_PEER_EV_PRUNE), 1);

    /* the remove did not take, and the node restarted: its entry is fresh */
    assert_int_equal(rc_peers_apply(&f->t, SNAP(f, "a@h:100"), &f->ch), 0);
    assert_int_equal(f->ch.n, 0);
    p = rc_peers_find(&f->t, "a@h");
    assert_false(p->prune_requested);
    rc_peers_sweep_begin(&f->t);
    assert_int_equal(ok(f, "a@h", 250, &chg), 1);
    assert_int_equal(chg.from, RC_PEER_DOWN);
    assert_int_equal(chg.to, RC_PEER_UP);
    rc_peers_sweep_end(&f->t, 3000 + PRUNE, &f->ch);
    assert_int_equal(p->failing_since_ms, 0);

    /* failing again later: the prune clock starts over */
    assert_int_equal(rc_peers_apply(&f->t, SNAP(f, "a@h:20000"), &f->ch), 0);
    sweep_failing(f, "a@h", 50000 + PRUNE);
    assert_int_equal(count(&f->ch, RC_PEER_EV_PRUNE), 0);
    sweep_failing(f, "a@h", 50000 + 2 * PRUNE);
    assert_int_equal(count(&f->ch, RC_PEER_EV_PRUNE), 1);
}

/* Asked to prune, but another agent's remove took first (ours found none):
 * nothing announced as pruned here, and the member's leaving is announced
 * as a leave (docs/logs.md: peer_left, "pruned by another node"). A prune
 * reported for a member no longer in the table is still announced. */
static void test_pruned_by_another(void **state)
{
    struct fx *f = *state;
    struct rc_peer_change chg;

    assert_int_equal(rc_peers_apply(&f->t, SNAP(f, "a@h:20000", "b@h:0"), &f->ch), 0);
    sweep_failing(f, "a@h", 1000);
    sweep_failing(f, "a@h", 1000 + PRUNE);
    assert_int_equal(count(&f->ch, RC_PEER_EV_PRUNE), 1);
    assert_int_equal(rc_peers_apply(&f->t, SNAP(f, "b@h:0"), &f->ch), 0);
    assert_int_equal(f->ch.n, 1);
    assert_int_equal(f->ch.v[0].ev, RC_PEER_EV_LEFT);
    assert_false(f->ch.v[0].quiet);

    assert_int_equal(rc_peers_pruned(&f->t, "gone@h", 31000, &chg), 1);
    assert_int_equal(chg.ev, RC_PEER_EV_PRUNED);
    assert_string_equal(chg.name, "gone@h");
}

/* ---- a snapshot applied while a sweep runs ---- */

static void test_snapshot_mid_sweep(void **state)
{
    struct fx *f = *state;
    struct rc_peer_change chg;

    assert_int_equal(rc_peers_apply(&f->t, SNAP(f, "a@h:0", "b@h:0", "c@h:0"), &f->ch), 0);
    rc_peers_sweep_begin(&f->t);
    assert_int_equal(ok(f, "a@h", 100, &chg), 1);

    /* b leaves, d joins, a and c stay: the table is rebuilt under the sweep */
    assert_int_equal(rc_peers_apply(&f->t, SNAP(f, "a@h:0", "c@h:0", "d@h:0"), &f->ch), 0);
    assert_int_equal(f->ch.n, 1);
    assert_int_equal(f->ch.v[0].ev, RC_PEER_EV_LEFT);
    assert_string_equal(f->ch.v[0].name, "b@h");
    assert_false(f->ch.v[0].quiet);
    assert_true(rc_peers_has_new(&f->t, SNAP(f, "a@h:0", "e@h:0")));
    assert_false(rc_peers_has_new(&f->t, SNAP(f, "a@h:0", "!me@h:0", "d@h:0")));

    /* a kept its verdict; b's late answer finds nobody; d is not in this sweep */
    assert_true(rc_peers_find(&f->t, "a@h")->done);
    assert_int_equal(ok(f, "a@h", 100, &chg), -EALREADY);
    assert_int_equal(ok(f, "b@h", 100, &chg), -ENOENT);
    assert_int_equal(ok(f, "d@h", 100, &chg), -EALREADY);
    assert_int_equal(ok(f, "c@h", 100, &chg), 1);
    rc_peers_sweep_end(&f->t, 1000, &f->ch);
    assert_int_equal(f->ch.n, 0); /* d is not timed out */
    assert_int_equal(rc_peers_find(&f->t, "d@h")->state, RC_PEER_UNKNOWN);

    /* the next sweep includes d */
    rc_peers_sweep_begin(&f->t);
    rc_peers_sweep_end(&f->t, 2000, &f->ch);
    assert_int_equal(count(&f->ch, RC_PEER_EV_DOWN), 3);
    assert_int_equal(rc_peers_find(&f->t, "d@h")->state, RC_PEER_DOWN);
}

/* ---- leaving ---- */

static void test_leave(void **state)
{
    struct fx *f = *state;
    struct rc_peer_change chg;

    /* a member that leaves the registry (clean shutdown): announced, not pruned */
    assert_int_equal(rc_peers_apply(&f->t, SNAP(f, "a@h:0", "b@h:0"), &f->ch), 0);
    rc_peers_sweep_begin(&f->t);
    ok(f, "a@h", 1, NULL);
    ok(f, "b@h", 1, NULL);
    rc_peers_sweep_end(&f->t, 1000, &f->ch);
    assert_int_equal(rc_peers_apply(&f->t, SNAP(f, "a@h:0"), &f->ch), 0);
    assert_int_equal(f->ch.n, 1);
    assert_int_equal(f->ch.v[0].ev, RC_PEER_EV_LEFT);
    assert_string_equal(f->ch.v[0].name, "b@h");
    assert_false(f->ch.v[0].quiet);
    assert_int_equal(count(&f->ch, RC_PEER_EV_PRUNE), 0);

    /* this node leaves mid-sweep: no verdicts, no timeouts, nothing pruned */
    rc_peers_sweep_begin(&f->t);
    rc_peers_leave(&f->t);
    assert_false(f->t.sweeping);
    assert_int_equal(ok(f, "a@h", 1, &chg), -EALREADY);
    rc_peers_sweep_end(&f->t, 1000 + 10 * PRUNE, &f->ch);
    assert_int_equal(f->ch.n, 0);
    assert_int_equal(rc_peers_find(&f->t, "a@h")->state, RC_PEER_UP);

    /* everyone leaves */
    assert_int_equal(rc_peers_apply(&f->t, SNAP(f, "!me@h:0"), &f->ch), 0);
    assert_int_equal(f->t.n, 0);
    assert_int_equal(count(&f->ch, RC_PEER_EV_LEFT), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_transitions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prune_timing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prune_on_the_stores_word, setup, teardown),
        cmocka_unit_test_setup_teardown(test_comes_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pruned_by_another, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_mid_sweep, setup, teardown),
        cmocka_unit_test_setup_teardown(test_leave, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

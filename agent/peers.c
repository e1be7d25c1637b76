/*
 * peers.c - the peer table and its state machine: pure, the clock passed in.
 *
 * Every state change goes through transition(); every ping verdict through
 * rc_peers_record. The table is an array sorted by name, rebuilt whole from
 * each snapshot (members carried over by binary search in the old one).
 */
#include "rollcall/peers.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A suspicion answered later than this was an outage, not a round trip:
 * it teaches the link's deadline nothing. */
#define LATE_SAMPLE_MAX_MS 2000

static int changes_reserve(struct rc_peer_changes *c, size_t more)
{
    struct rc_peer_change *bigger;
    size_t cap;

    if (c->cap - c->n >= more)
        return 0;
    cap = c->cap == 0 ? 16 : c->cap;
    while (cap - c->n < more)
        cap *= 2;
    bigger = realloc(c->v, cap * sizeof(*bigger));
    if (bigger == NULL)
        return -ENOMEM;
    c->v = bigger;
    c->cap = cap;
    return 0;
}

/* A new zeroed change for p at the end of c, or NULL (no memory). */
static struct rc_peer_change *changes_push(struct rc_peer_changes *c, const struct rc_peer *p,
                                           enum rc_peer_event ev)
{
    struct rc_peer_change *chg;

    if (changes_reserve(c, 1) != 0)
        return NULL;
    chg = &c->v[c->n++];
    memset(chg, 0, sizeof(*chg));
    chg->ev = ev;
    snprintf(chg->name, sizeof(chg->name), "%s", p->se.e.name);
    return chg;
}

void rc_peer_changes_free(struct rc_peer_changes *c)
{
    free(c->v);
    c->v = NULL;
    c->n = 0;
    c->cap = 0;
}

void rc_peers_init(struct rc_peers *t, uint64_t stale_after_ms, uint64_t prune_after_ms)
{
    memset(t, 0, sizeof(*t));
    rc_peers_set_expiry(t, stale_after_ms, prune_after_ms);
}

void rc_peers_set_expiry(struct rc_peers *t, uint64_t stale_after_ms, uint64_t prune_after_ms)
{
    t->stale_after_ms = stale_after_ms;
    t->prune_after_ms = prune_after_ms;
}

void rc_peers_free(struct rc_peers *t)
{
    free(t->v);
    t->v = NULL;
    t->n = 0;
    t->sweeping = false;
}

struct rc_peer *rc_peers_find(const struct rc_peers *t, const char *name)
{
    size_t lo = 0, hi = t->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(t->v[mid].se.e.name, name);

        if (c == 0)
            return &t->v[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

bool rc_peers_has_new(const struct rc_peers *t, const struct rc_snapshot *s)
{
    for (size_t i = 0; i < s->n; i++)
        if (!s->v[i].self && rc_peers_find(t, s->v[i].e.name) == NULL)
            return true;
    return false;
}

/* The one place a member changes state. Fills chg and returns 1 if it did.
 * Classic changes (UP, DOWN) carry the classic from state: a suspect was
 * still up (or unknown) for everyone outside. */
static int transition(struct rc_peer *p, enum rc_peer_state to, uint64_t now_ms,
                      struct rc_peer_change *chg)
{
    enum rc_peer_state from = p->state;
    enum rc_peer_event ev;

    if (from == to)
        return 0;
    if (from == RC_PEER_SUSPECT)
        from = p->suspect_from;
    if (to == RC_PEER_SUSPECT) {
        p->suspect_from = p->state;
        ev = RC_PEER_EV_SUSPECT;
    } else if (to == RC_PEER_UP) {
        ev = from == RC_PEER_UP ? RC_PEER_EV_REFUTED : RC_PEER_EV_UP;
    } else {
        ev = RC_PEER_EV_DOWN;
    }
    if (chg != NULL) {
        memset(chg, 0, sizeof(*chg));
        chg->ev = ev;
        snprintf(chg->name, sizeof(chg->name), "%s", p->se.e.name);
        chg->from = from;
        chg->to = to;
        chg->reason = p->reason;
        chg->rtt_us = p->rtt_us;
        chg->evidence = p->evidence != NULL ? p->evidence : "none";
        chg->confirmed_by = p->confirmed_by != NULL ? p->confirmed_by : "none";
        if (p->state == RC_PEER_SUSPECT && now_ms > p->suspect_since_ms)
            chg->suspect_ms = now_ms - p->suspect_since_ms;
    }
    p->state = to;
    return 1;
}

/* Failures that say nothing about the peer's process by themselves: the
 * packets got lost, or the route did, or the connection closed (a dead
 * process's kernel closes it, but so does a live peer that replaced a
 * connection stuck in back-off). With confirmation they make a suspect,
 * never a verdict: the first confirmation round dials afresh, and a dead
 * process's host refuses that at once. */
static bool soft_failure(enum rc_reason r)
{
    return r == RC_REASON_TIMEOUT || r == RC_REASON_UNREACHABLE || r == RC_REASON_CONNECTION_LOST;
}

/* Failures a live peer of ours can cause once, and a dead or foreign one
 * every time: a handshake the other side closed (its own timer, a
 * simultaneous connect, a connection it replaced; or a cookie it does not
 * share: OTP closes without a word then, and so does a rollcall acceptor).
 * The first makes a suspect, whose confirmation dials again at once; the
 * same failure again, while suspect, is the verdict. */
static bool twice_failure(enum rc_reason r)
{
    return r == RC_REASON_COOKIE_REJECTED || r == RC_REASON_HANDSHAKE_FAILED;
}

/* The host answered for its process: nothing listens, EPMD knows no such
 * node, or the connection closed in the handshake (a dying process's
 * listener can still complete a TCP handshake until the kernel closes it
 * too, then resets what it accepted). */
static bool refusal(enum rc_reason r)
{
    return r == RC_REASON_CONNECT_REFUSED || r == RC_REASON_NOT_REGISTERED ||
           r == RC_REASON_EPMD_UNREACHABLE || r == RC_REASON_HANDSHAKE_FAILED;
}

/* THE verdict function: one ping's result (or a lost connection's reason)
 * applied to p. */
static int judge(struct rc_peers *t, struct rc_peer *p, const struct rc_verdict *v,
                 struct rc_peer_change *chg)
{
    if (v->ok) {
        uint64_t sample_us = v->rtt_us;

        /* A suspicion by timeout answered now: the ping that timed out took
         * at least this long, and the peer was alive. Karn's problem (no
         * sample from a ping that timed out) would otherwise keep the
         * deadline below a slow but steady peer's answers for ever. */
        if (p->state == RC_PEER_SUSPECT && p->reason == RC_REASON_TIMEOUT &&
            p->suspect_since_ms != 0 && v->at_ms > p->suspect_since_ms &&
            v->at_ms - p->suspect_since_ms <= LATE_SAMPLE_MAX_MS &&
            (v->at_ms - p->suspect_since_ms) * 1000 > sample_us)
            sample_us = (v->at_ms - p->suspect_since_ms) * 1000;
        p->rtt_us = v->rtt_us;
        rc_rtt_add(&p->rtt, sample_us);
        if (v->at_ms != 0)
            p->last_answer_ms = v->at_ms;
        /* Any answer, a confirmation's or a helper's included, is a peer
         * that is not failing: a starved peer whose sweep pings all time
         * out but whose suspicions are refuted is alive, and its entry
         * (stale: its own heartbeat is starved too) must not be pruned. */
        p->failing_since_ms = 0;
        return transition(p, RC_PEER_UP, v->at_ms, chg);
    }
    /* A lost connection whose fresh dial is refused stays a lost
     * connection: that is what happened, the refusal is the evidence. */
    if (!(p->state == RC_PEER_SUSPECT && p->reason == RC_REASON_CONNECTION_LOST &&
          refusal(v->reason)))
        p->reason = v->reason;
    if (t->confirm && soft_failure(v->reason)) {
        if (p->state == RC_PEER_DOWN || p->state == RC_PEER_SUSPECT)
            return 0; /* still down; or already being confirmed */
        p->suspect_since_ms = v->sent_ms != 0 ? v->sent_ms : v->at_ms;
        return transition(p, RC_PEER_SUSPECT, v->at_ms, chg);
    }
    if (t->confirm && twice_failure(v->reason) && p->state != RC_PEER_SUSPECT &&
        p->state != RC_PEER_DOWN) {
        p->suspect_since_ms = v->sent_ms != 0 ? v->sent_ms : v->at_ms;
        return transition(p, RC_PEER_SUSPECT, v->at_ms, chg);
    }
    p->evidence = t->confirm ? "refused" : "direct";
    p->confirmed_by = "direct";
    return transition(p, RC_PEER_DOWN, v->at_ms, chg);
}

int rc_peers_apply(struct rc_peers *t, const struct rc_snapshot *s, struct rc_peer_changes *out)
{
    struct rc_peer *np = NULL;
    size_t n = 0, kept = 0;
    bool *carried = NULL;

    out->n = 0;
    for (size_t i = 1; i < s->n; i++)
        if (strcmp(s->v[i - 1].e.name, s->v[i].e.name) >= 0)
            return -EINVAL;
    if (s->n > 0) {
        np = calloc(s->n, sizeof(*np));
        if (np == NULL)
            return -ENOMEM;
    }
    if (t->n > 0) {
        carried = calloc(t->n, sizeof(*carried));
        if (carried == NULL || changes_reserve(out, t->n) != 0) {
            free(carried);
            free(np);
            return -ENOMEM;
        }
    }
    for (size_t i = 0; i < s->n; i++) {
        struct rc_peer *old;

        if (s->v[i].self)
            continue;
        old = rc_peers_find(t, s->v[i].e.name);
        if (old != NULL) {
            np[n] = *old;
            carried[old - t->v] = true;
            kept++;
        } else {
            memset(&np[n], 0, sizeof(np[n]));
            np[n].in_sweep = false; /* joins the next sweep */
        }
        np[n].se = s->v[i];
        if ((np[n].prune_requested || np[n].pruned) &&
            np[n].se.e.age_ms < (int64_t)t->stale_after_ms) {
            np[n].prune_requested = false; /* it came back */
            np[n].pruned = false;
        }
        n++;
    }
    for (size_t i = 0; i < t->n && kept < t->n; i++) {
        struct rc_peer_change *chg;

        if (carried[i])
            continue;
        chg = changes_push(out, &t->v[i], RC_PEER_EV_LEFT); /* reserved: never NULL */
        chg->quiet = t->v[i].pruned;                        /* announced as PRUNED already */
    }
    free(carried);
    free(t->v);
    t->v = np;
    t->n = n;
    return 0;
}

void rc_peers_sweep_begin(struct rc_peers *t)
{
    for (size_t i = 0; i < t->n; i++) {
        t->v[i].in_sweep = true;
        t->v[i].done = false;
        t->v[i].last = (struct rc_verdict){.ok = false, .reason = RC_REASON_OK};
    }
    t->sweeping = true;
}

static int record(struct rc_peers *t, struct rc_peer *p, const struct rc_verdict *v,
                  struct rc_peer_change *chg)
{
    if (!p->in_sweep || p->done)
        return -EALREADY;
    p->done = true;
    p->last = *v;
    if (v->ok)
        p->last.reason = RC_REASON_OK;
    else
        p->last.rtt_us = 0;
    return judge(t, p, v, chg);
}

int rc_peers_record(struct rc_peers *t, const char *name, const struct rc_verdict *v,
                    struct rc_peer_change *chg)
{
    struct rc_peer *p = rc_peers_find(t, name);

    if (p == NULL)
        return -ENOENT;
    return record(t, p, v, chg);
}

int rc_peers_observe(struct rc_peers *t, const char *name, const struct rc_verdict *v,
                     struct rc_peer_change *chg)
{
    struct rc_peer *p = rc_peers_find(t, name);

    if (p == NULL)
        return -ENOENT;
    if (!v->ok && soft_failure(v->reason))
        return 0;
    return judge(t, p, v, chg);
}

int rc_peers_suspect(struct rc_peers *t, const char *name, const struct rc_verdict *v,
                     struct rc_peer_change *chg)
{
    struct rc_peer *p = rc_peers_find(t, name);

    if (p == NULL)
        return -ENOENT;
    if (!t->confirm || v->ok || !soft_failure(v->reason) || p->state != RC_PEER_UP)
        return 0;
    if (p->last_answer_ms >= v->sent_ms)
        return 0; /* it answered since that ping left */
    return judge(t, p, v, chg);
}

int rc_peers_confirm(struct rc_peers *t, const char *name, const struct rc_decision *d,
                     uint64_t now_ms, struct rc_peer_change *chg)
{
    struct rc_peer *p = rc_peers_find(t, name);

    if (p == NULL)
        return -ENOENT;
    if (p->state != RC_PEER_SUSPECT)
        return 0;
    if (d->verdict == RC_DECIDE_REFUTE) {
        p->failing_since_ms = 0; /* helpers heard it: alive, not failing */
        return transition(p, RC_PEER_UP, now_ms, chg);
    }
    if (d->verdict != RC_DECIDE_DOWN)
        return 0;
    p->evidence = d->evidence;
    p->confirmed_by = d->confirmed_by;
    return transition(p, RC_PEER_DOWN, now_ms, chg);
}

int rc_peers_mark_down(struct rc_peers *t, const char *name, enum rc_reason reason, uint64_t now_ms,
                       struct rc_peer_change *chg)
{
    struct rc_peer *p = rc_peers_find(t, name);
    /* now is also when the suspicion starts: a helper that heard the peer
     * after it refutes, one that heard it before does not */
    struct rc_verdict v = {.ok = false, .reason = reason, .at_ms = now_ms, .sent_ms = now_ms};

    if (p == NULL)
        return -ENOENT;
    return judge(t, p, &v, chg);
}

/* Two-stage expiry of p at now: stale on the registry's clock AND failing
 * for prune_after. */
static void expire(struct rc_peers *t, struct rc_peer *p, uint64_t now, struct rc_peer_changes *out)
{
    bool stale, due, retry;
    struct rc_peer_change *chg;

    if (p->last.ok) {
        p->failing_since_ms = 0;
        return;
    }
    if (p->failing_since_ms == 0)
        p->failing_since_ms = now;
    stale = p->se.e.age_ms > (int64_t)t->stale_after_ms;
    due = now - p->failing_since_ms >= t->prune_after_ms;
    /* Stale only by our count since the store last spoke, when the store
     * then said fresh: its heartbeats may have arrived all along (nobody
     * lists for a heartbeat). Ask the store again, at most every half
     * stale_after, and judge on its answer: a peer cut off from us but
     * alive must not be announced pruned (the remove, conditional on the
     * store's age, would not take, but the event, the hook and the app's
     * message would be out). */
    if (stale && due && !p->prune_requested && p->se.store_read_ms != 0 &&
        p->se.store_age_ms <= (int64_t)t->stale_after_ms) {
        if (p->recheck_ms == 0 || now - p->recheck_ms >= t->stale_after_ms / 2) {
            chg = changes_push(out, p, RC_PEER_EV_RECHECK);
            if (chg != NULL)
                p->recheck_ms = now;
        }
        return;
    }
    /* Still listed long after we asked: the remove failed (a registry
     * outage, say). Ask again; only a remove that takes is announced. */
    retry = p->prune_requested && now - p->prune_requested_ms >= t->prune_after_ms;
    if (!stale || !due || (p->prune_requested && !retry))
        return;
    chg = changes_push(out, p, RC_PEER_EV_PRUNE);
    if (chg == NULL)
        return; /* asked at the next sweep */
    chg->age_ms = p->se.e.age_ms;
    p->prune_requested = true;
    p->prune_requested_ms = now;
}

int rc_peers_pruned(struct rc_peers *t, const char *name, int64_t age_ms,
                    struct rc_peer_change *chg)
{
    struct rc_peer *p = rc_peers_find(t, name);

    memset(chg, 0, sizeof(*chg));
    chg->ev = RC_PEER_EV_PRUNED;
    snprintf(chg->name, sizeof(chg->name), "%s", name);
    chg->age_ms = age_ms;
    if (p != NULL)
        p->pruned = true;
    return 1;
}

void rc_peers_sweep_end(struct rc_peers *t, uint64_t now_ms, struct rc_peer_changes *out)
{
    const struct rc_verdict timeout = {.ok = false, .reason = RC_REASON_TIMEOUT, .at_ms = now_ms};

    out->n = 0;
    for (size_t i = 0; i < t->n; i++) {
        struct rc_peer *p = &t->v[i];
        struct rc_peer_change chg;

        if (!p->in_sweep)
            continue;
        if (!p->done && record(t, p, &timeout, &chg) == 1) {
            struct rc_peer_change *c = changes_push(out, p, chg.ev);

            if (c != NULL)
                *c = chg;
        }
        expire(t, p, now_ms, out);
    }
    t->sweeping = false;
}

void rc_peers_leave(struct rc_peers *t)
{
    for (size_t i = 0; i < t->n; i++)
        t->v[i].in_sweep = false;
    t->sweeping = false;
}

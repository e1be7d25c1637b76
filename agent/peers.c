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

/* The one place a member changes state. Fills chg and returns 1 if it did. */
static int transition(struct rc_peer *p, enum rc_peer_state to, struct rc_peer_change *chg)
{
    if (p->state == to)
        return 0;
    if (chg != NULL) {
        memset(chg, 0, sizeof(*chg));
        chg->ev = to == RC_PEER_UP ? RC_PEER_EV_UP : RC_PEER_EV_DOWN;
        snprintf(chg->name, sizeof(chg->name), "%s", p->se.e.name);
        chg->from = p->state;
        chg->to = to;
        chg->reason = p->reason;
        chg->rtt_us = p->rtt_us;
    }
    p->state = to;
    return 1;
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
        if (np[n].prune_requested && np[n].se.e.age_ms < (int64_t)t->stale_after_ms)
            np[n].prune_requested = false; /* it came back */
        n++;
    }
    for (size_t i = 0; i < t->n && kept < t->n; i++) {
        struct rc_peer_change *chg;

        if (carried[i])
            continue;
        chg = changes_push(out, &t->v[i], RC_PEER_EV_LEFT); /* reserved: never NULL */
        chg->quiet = t->v[i].prune_requested;
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

static int record(struct rc_peer *p, const struct rc_verdict *v, struct rc_peer_change *chg)
{
    if (!p->in_sweep || p->done)
        return -EALREADY;
    p->done = true;
    p->last = *v;
    if (v->ok) {
        p->last.reason = RC_REASON_OK;
        p->rtt_us = v->rtt_us;
        return transition(p, RC_PEER_UP, chg);
    }
    p->last.rtt_us = 0;
    p->reason = v->reason;
    return transition(p, RC_PEER_DOWN, chg);
}

int rc_peers_record(struct rc_peers *t, const char *name, const struct rc_verdict *v,
                    struct rc_peer_change *chg)
{
    struct rc_peer *p = rc_peers_find(t, name);

    if (p == NULL)
        return -ENOENT;
    return record(p, v, chg);
}

int rc_peers_mark_down(struct rc_peers *t, const char *name, enum rc_reason reason,
                       struct rc_peer_change *chg)
{
    struct rc_peer *p = rc_peers_find(t, name);

    if (p == NULL)
        return -ENOENT;
    p->reason = reason;
    return transition(p, RC_PEER_DOWN, chg);
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
    /* Still listed long after we asked: the remove failed (a registry
     * outage, say). Ask again, quietly. */
    retry = p->prune_requested && now - p->prune_requested_ms >= t->prune_after_ms;
    if (!stale || !due || (p->prune_requested && !retry))
        return;
    chg = changes_push(out, p, RC_PEER_EV_PRUNE);
    if (chg == NULL)
        return; /* asked at the next sweep */
    chg->age_ms = p->se.e.age_ms;
    chg->quiet = p->prune_requested;
    p->prune_requested = true;
    p->prune_requested_ms = now;
}

void rc_peers_sweep_end(struct rc_peers *t, uint64_t now_ms, struct rc_peer_changes *out)
{
    static const struct rc_verdict timeout = {.ok = false, .reason = RC_REASON_TIMEOUT};

    out->n = 0;
    for (size_t i = 0; i < t->n; i++) {
        struct rc_peer *p = &t->v[i];
        struct rc_peer_change chg;

        if (!p->in_sweep)
            continue;
        if (!p->done && record(p, &timeout, &chg) == 1) {
            struct rc_peer_change *c = changes_push(out, p, RC_PEER_EV_DOWN);

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

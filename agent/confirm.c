/*
 * confirm.c - confirmation rounds and probe serving (include/rollcall/confirm.h,
 * docs/detection.md).
 *
 * Shape: fixed slot arrays (allocated at the first suspicion, so an agent
 * that never suspects anyone pays nothing), one 50 ms tick while a round or
 * a served probe is running. Pings and probe ids point at slots, which never
 * move; a slot is freed only after its ping is cancelled or finished.
 */
#include "rollcall/confirm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "rollcall/log.h"
#include "rollcall/node.h"
#include "rollcall/probe.h"

#define TICK_MS 50
#define ROUND_MIN_MS 200

struct round {
    bool used;
    struct rc_confirm *cf;
    char name[RC_NAME_MAX + 1];
    uint32_t id;
    unsigned n;   /* rounds so far for this suspicion */
    bool running; /* else waiting for next_ms */
    uint64_t started_ms, deadline_ms, next_ms;
    struct rc_ping *direct;
    bool direct_done;
    struct rc_round ev;
    uint64_t freshest_ms; /* newest answer a helper reported (our clock), 0 none */
    char helper[RC_CONFIRM_HELPERS][RC_NAME_MAX + 1];
    bool replied[RC_CONFIRM_HELPERS];
    unsigned nhelpers;
};

struct serve {
    bool used;
    struct rc_confirm *cf;
    char asker[RC_NAME_MAX + 1];
    char target[RC_NAME_MAX + 1];
    uint32_t id;
    uint64_t sent_ms; /* when our ping for it left */
    struct rc_ping *ping;
};

struct rc_confirm {
    struct event_base *base;
    struct rc_node *node;
    struct rc_peers *peers;
    char self[RC_NAME_MAX + 1];
    uint64_t interval_ms, ping_timeout_ms;
    struct rc_health health;
    struct event *tick;
    bool tick_armed;
    struct round *rounds; /* RC_CONFIRM_ROUNDS_MAX, lazily */
    struct serve *serves; /* RC_CONFIRM_SERVE_MAX, lazily */
    uint32_t next_id;
    uint32_t rnd;
    rc_confirm_emit_cb emit;
    void *arg;
    struct rc_ratelimit rl;
};

static void tick_cb(evutil_socket_t fd, short what, void *arg);

static uint32_t next_rand(struct rc_confirm *cf)
{
    /* xorshift32: helper choice only needs to spread, not to be secret */
    uint32_t x = cf->rnd;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    cf->rnd = x;
    return x;
}

static void arm_tick(struct rc_confirm *cf)
{
    struct timeval tv = {0, TICK_MS * 1000};

    if (cf->tick_armed)
        return;
    cf->tick_armed = true;
    evtimer_add(cf->tick, &tv);
}

static void emit(struct rc_confirm *cf, const struct rc_peer_change *c)
{
    cf->emit(cf->arg, c);
}

/* The confirmation time, stretched by our own health. */
static uint64_t confirm_ms(const struct rc_confirm *cf)
{
    return (cf->interval_ms + cf->ping_timeout_ms) * rc_health_factor(&cf->health);
}

uint64_t rc_confirm_deadline_ms(const struct rc_confirm *cf, const struct rc_peer *p)
{
    return rc_rtt_deadline_ms(&p->rtt, cf->ping_timeout_ms, cf->interval_ms * 9 / 10);
}

/* A confirmation ping's deadline: the link's RFC 6298 timeout, at least
 * ROUND_MIN_MS (TCP's own minimum RTO: a lost segment is resent after it),
 * at most the sweep's. Shorter than the sweep's ping_timeout on a fast
 * link: what decides DOWN is the silence across us and the helpers, never
 * one ping, and a late answer still counts as hearing the peer. Short
 * rounds let the decision come within a round of the moment that silence
 * is long enough, instead of up to a whole ping_timeout after it. */
static uint64_t round_deadline_ms(const struct rc_confirm *cf, const struct rc_peer *p)
{
    uint64_t sweep = rc_confirm_deadline_ms(cf, p);
    uint64_t min = cf->ping_timeout_ms < ROUND_MIN_MS ? cf->ping_timeout_ms : ROUND_MIN_MS;

    if (!p->rtt.init)
        return sweep; /* never answered: nothing to go by */
    return rc_rtt_deadline_ms(&p->rtt, min, sweep);
}

int rc_confirm_health(const struct rc_confirm *cf)
{
    return cf->health.score;
}

/* What our TCP says about peer's connection after a ping went unanswered. */
static enum rc_tcp_evidence tcp_evidence(struct rc_confirm *cf, const char *peer)
{
    struct rc_link_info li;

    if (rc_node_link_info(cf->node, peer, &li) != 0)
        return RC_TCP_UNACKED; /* nothing even connecting: no sign of the host */
    if (li.handshaking)
        return RC_TCP_ACKED; /* its kernel completed the TCP handshake */
    if (!li.up)
        return RC_TCP_UNACKED; /* SYNs unanswered */
    return li.unacked > 0 ? RC_TCP_UNACKED : RC_TCP_ACKED;
}

/* A verdict from outside the sweep (a confirmation or a served ping). */
static void observe(struct rc_confirm *cf, const char *name, enum rc_reason r, uint64_t rtt_us)
{
    uint64_t now = rc_now_mono_ms();
    struct rc_verdict v = {.ok = r == RC_REASON_OK,
                           .reason = r,
                           .rtt_us = rtt_us,
                           .at_ms = now,
                           .sent_ms = now - rtt_us / 1000};
    struct rc_peer_change chg;

    if (rc_peers_observe(cf->peers, name, &v, &chg) == 1)
        emit(cf, &chg);
}

/* Our own ping, sent at sent_ms for another agent's probe, went unanswered:
 * evidence of ours, so our confirmation of an UP member starts now instead
 * of at our next sweep (the asker suspects it already; this is how a
 * suspicion reaches the other observers within one ping deadline). Not if
 * the member's process spoke to us since the ping left. */
static void suspect(struct rc_confirm *cf, const char *name, enum rc_reason r, uint64_t sent_ms)
{
    uint64_t now = rc_now_mono_ms();
    struct rc_verdict v = {.ok = false, .reason = r, .at_ms = now, .sent_ms = sent_ms};
    struct rc_peer_change chg;
    struct rc_link_info li;

    /* last_data_recv_ms is an age */
    if (rc_node_link_info(cf->node, name, &li) == 0 && li.up &&
        li.last_data_recv_ms < now - sent_ms)
        return;
    if (rc_peers_suspect(cf->peers, name, &v, &chg) == 1)
        emit(cf, &chg);
}

/* ---- rounds ---- */

static void round_free(struct round *r)
{
    rc_ping_cancel(r->direct);
    r->direct = NULL;
    r->used = false;
}

static struct round *round_find_name(struct rc_confirm *cf, const char *name)
{
    if (cf->rounds == NULL)
        return NULL;
    for (size_t i = 0; i < RC_CONFIRM_ROUNDS_MAX; i++)
        if (cf->rounds[i].used && strcmp(cf->rounds[i].name, name) == 0)
            return &cf->rounds[i];
    return NULL;
}

static void direct_cb(void *arg, enum rc_reason reason, uint64_t rtt_us)
{
    struct round *r = arg;
    struct rc_confirm *cf = r->cf;

    r->direct = NULL;
    r->direct_done = true;
    if (reason == RC_REASON_OK) {
        r->ev.direct_answered = true;
        observe(cf, r->name, reason, rtt_us); /* refutes */
    } else if (reason == RC_REASON_TIMEOUT || reason == RC_REASON_UNREACHABLE) {
        r->ev.direct_tcp = tcp_evidence(cf, r->name);
    } else if (reason == RC_REASON_CONNECTION_LOST) {
        /* closed under our ping: no answer, no refusal; the next round
         * dials afresh */
    } else {
        r->ev.direct_refused = true;
        observe(cf, r->name, reason, 0); /* down, with its reason */
    }
}

/* Picks up to RC_CONFIRM_HELPERS agents to ask about target: up members
 * first, then suspect ones (the trouble may be ours), never one that
 * stopped answering probes, always one we hold a connection to. */
static void round_ask_helpers(struct rc_confirm *cf, struct round *r, const struct rc_peer *tp,
                              uint64_t deadline_ms)
{
    struct rc_peers *t = cf->peers;
    struct rc_probe req;

    r->nhelpers = 0;
    if (t->n < 2)
        return;
    memset(&req, 0, sizeof req);
    req.kind = RC_PROBE_REQUEST;
    req.id = r->id;
    snprintf(req.target, sizeof req.target, "%s", tp->se.e.name);
    req.deadline_ms =
        (uint32_t)(deadline_ms > RC_PROBE_DEADLINE_MAX ? RC_PROBE_DEADLINE_MAX : deadline_ms);
    for (int pass = 0; pass < 2 && r->nhelpers < RC_CONFIRM_HELPERS; pass++) {
        size_t start = next_rand(cf) % t->n;
        for (size_t k = 0; k < t->n && r->nhelpers < RC_CONFIRM_HELPERS; k++) {
            const struct rc_peer *h = &t->v[(start + k) % t->n];
            enum rc_peer_state want = pass == 0 ? RC_PEER_UP : RC_PEER_SUSPECT;

            if (h == tp || h->state != want || h->probe_misses >= RC_CONFIRM_HELPER_MISSES)
                continue;
            if (rc_node_send_probe(cf->node, h->se.e.name, &req) != 0)
                continue;
            snprintf(r->helper[r->nhelpers], sizeof r->helper[0], "%s", h->se.e.name);
            r->replied[r->nhelpers] = false;
            r->nhelpers++;
        }
    }
}

static void round_start(struct rc_confirm *cf, struct round *r, uint64_t now)
{
    struct rc_peer *p = rc_peers_find(cf->peers, r->name);
    uint64_t dl;

    if (p == NULL || p->state != RC_PEER_SUSPECT) {
        round_free(r);
        return;
    }
    dl = round_deadline_ms(cf, p);
    memset(&r->ev, 0, sizeof r->ev);
    r->freshest_ms = 0;
    r->id = ++cf->next_id;
    r->running = true;
    r->started_ms = now;
    /* our ping's deadline, plus room for the helpers' replies to travel */
    r->deadline_ms = now + dl + dl / 2 + TICK_MS;
    r->direct_done = false;
    r->direct = NULL;
    if (p->se.ip[0] != '\0' && rc_node_ping(cf->node, p->se.e.name, p->se.ip, p->se.e.port, dl,
                                            direct_cb, r, &r->direct) != 0)
        r->direct_done = true;
    if (p->se.ip[0] == '\0')
        r->direct_done = true;
    round_ask_helpers(cf, r, p, dl);
    r->ev.helpers_asked = r->nhelpers;
}

/* Counts the helpers of r that never replied, when another one did (a
 * round in which nobody replied says more about us than about them). */
static void round_blame_helpers(struct rc_confirm *cf, struct round *r)
{
    if (r->ev.helpers_replied == 0)
        return;
    for (unsigned i = 0; i < r->nhelpers; i++) {
        struct rc_peer *h = rc_peers_find(cf->peers, r->helper[i]);

        if (h != NULL && !r->replied[i] && h->probe_misses < 255)
            h->probe_misses++;
    }
}

/* Judges r if its evidence is complete (or final: the deadline passed). */
static void round_eval(struct rc_confirm *cf, struct round *r, uint64_t now, bool final)
{
    struct rc_peer *p = rc_peers_find(cf->peers, r->name);
    struct rc_decision d;
    struct rc_peer_change chg;
    struct rc_link_info li;
    uint64_t latest, fast, alone = 2 * (cf->interval_ms + cf->ping_timeout_ms);

    if (p == NULL || p->state != RC_PEER_SUSPECT) {
        round_free(r); /* answered, down or gone meanwhile */
        return;
    }
    if (!final && !(r->direct_done && r->ev.helpers_replied == r->nhelpers) &&
        r->ev.helpers_ok == 0 && r->ev.helpers_refused == 0)
        return;
    latest = p->last_answer_ms > r->freshest_ms ? p->last_answer_ms : r->freshest_ms;
    /* Data from it on our connection (its own pings to us, ticks, probes)
     * is its process talking: alive then, whatever our pings got (our own
     * outbound path may be the one in trouble). */
    if (rc_node_link_info(cf->node, r->name, &li) == 0 && li.up && now > li.last_data_recv_ms &&
        now - li.last_data_recv_ms > latest)
        latest = now - li.last_data_recv_ms;
    if (latest == 0) /* never heard: count from the ping that first went unanswered */
        latest = p->suspect_since_ms;
    r->ev.silence_ms = now > latest ? now - latest : 0;
    r->ev.suspect_ms = now > p->suspect_since_ms ? now - p->suspect_since_ms : 0;
    d = rc_detect_decide(&r->ev, confirm_ms(cf), alone);
    round_blame_helpers(cf, r);
    if (d.verdict == RC_DECIDE_STAY) {
        if (rc_log_enabled(RC_LOG_DEBUG)) {
            struct rc_log_field f[] = {
                RC_LF_S("self", cf->self),
                RC_LF_S("node", r->name),
                RC_LF_I("round", (int64_t)r->n + 1),
                RC_LF_I("helpers", (int64_t)r->nhelpers),
                RC_LF_I("replied", (int64_t)r->ev.helpers_replied),
                RC_LF_S("tcp", r->ev.direct_tcp == RC_TCP_ACKED     ? "acked"
                               : r->ev.direct_tcp == RC_TCP_UNACKED ? "unacked"
                                                                    : "none"),
                RC_LF_I("silence_ms", (int64_t)r->ev.silence_ms),
            };
            rc_log_event(RC_LOG_DEBUG, "peer_still_suspect", f, 7);
        }
        rc_ping_cancel(r->direct);
        r->direct = NULL;
        r->n++;
        r->running = false;
        /* Back to back while a silent peer's verdict may be due (its
         * suspicion is younger than the confirmation time plus a round),
         * then one a sweep: a peer that stays suspect while heard (a
         * one-way cut) costs a probe burst once, not all along. */
        fast = confirm_ms(cf);
        if (fast > alone)
            fast = alone; /* a sick agent's long confirmation: no long burst */
        fast += r->deadline_ms - r->started_ms;
        r->next_ms = r->n < RC_CONFIRM_FAST_ROUNDS || r->ev.suspect_ms < fast
                         ? now
                         : r->started_ms + cf->interval_ms;
        return;
    }
    if (rc_peers_confirm(cf->peers, r->name, &d, now, &chg) == 1) {
        chg.silence_ms = r->ev.silence_ms;
        chg.helpers = r->nhelpers;
        chg.helpers_replied = r->ev.helpers_replied;
        emit(cf, &chg);
    }
    round_free(r);
}

void rc_confirm_suspect(struct rc_confirm *cf, const char *name)
{
    struct round *r = NULL;

    if (round_find_name(cf, name) != NULL)
        return;
    if (cf->rounds == NULL) {
        cf->rounds = calloc(RC_CONFIRM_ROUNDS_MAX, sizeof *cf->rounds);
        if (cf->rounds == NULL)
            return; /* stays suspect; the tick retries */
    }
    for (size_t i = 0; i < RC_CONFIRM_ROUNDS_MAX; i++) {
        if (!cf->rounds[i].used) {
            r = &cf->rounds[i];
            break;
        }
    }
    arm_tick(cf); /* a suspect without a slot is picked up by the tick */
    if (r == NULL)
        return;
    memset(r, 0, sizeof *r);
    r->used = true;
    r->cf = cf;
    snprintf(r->name, sizeof r->name, "%s", name);
    round_start(cf, r, rc_now_mono_ms());
}

/* ---- probe messages ---- */

static struct serve *serve_slot(struct rc_confirm *cf, const char *asker, bool *busy)
{
    struct serve *freeslot = NULL;
    unsigned mine = 0;

    *busy = false;
    if (cf->serves == NULL) {
        cf->serves = calloc(RC_CONFIRM_SERVE_MAX, sizeof *cf->serves);
        if (cf->serves == NULL) {
            *busy = true;
            return NULL;
        }
    }
    for (size_t i = 0; i < RC_CONFIRM_SERVE_MAX; i++) {
        struct serve *s = &cf->serves[i];
        if (!s->used) {
            if (freeslot == NULL)
                freeslot = s;
        } else if (strcmp(s->asker, asker) == 0) {
            mine++;
        }
    }
    if (freeslot == NULL || mine >= RC_CONFIRM_SERVE_PER_ASKER) {
        *busy = true;
        return NULL;
    }
    return freeslot;
}

static void reply(struct rc_confirm *cf, const char *asker, uint32_t id, enum rc_probe_result res,
                  enum rc_probe_evidence ev, const char *target)
{
    struct rc_probe rep;
    const struct rc_peer *tp = target != NULL ? rc_peers_find(cf->peers, target) : NULL;
    uint64_t now = rc_now_mono_ms();

    memset(&rep, 0, sizeof rep);
    rep.kind = RC_PROBE_REPLY;
    rep.id = id;
    rep.result = res;
    rep.evidence = ev;
    rep.age_ms = -1;
    if (tp != NULL && tp->last_answer_ms != 0 && now >= tp->last_answer_ms) {
        uint64_t age = now - tp->last_answer_ms;
        rep.age_ms = age > RC_PROBE_AGE_MAX ? RC_PROBE_AGE_MAX : (int64_t)age;
    }
    rc_node_send_probe(cf->node, asker, &rep);
}

static void serve_cb(void *arg, enum rc_reason reason, uint64_t rtt_us)
{
    struct serve *s = arg;
    struct rc_confirm *cf = s->cf;
    enum rc_probe_result res = RC_PROBE_TIMEOUT;
    enum rc_probe_evidence ev = RC_PROBE_EV_NONE;

    s->ping = NULL;
    if (reason == RC_REASON_OK) {
        res = RC_PROBE_OK;
        observe(cf, s->target, reason, rtt_us);
    } else if (reason == RC_REASON_TIMEOUT || reason == RC_REASON_UNREACHABLE) {
        ev = tcp_evidence(cf, s->target) == RC_TCP_ACKED ? RC_PROBE_EV_ACKED : RC_PROBE_EV_UNACKED;
        suspect(cf, s->target, reason, s->sent_ms);
    } else if (reason == RC_REASON_CONNECT_REFUSED || reason == RC_REASON_NOT_REGISTERED) {
        res = RC_PROBE_REFUSED;
        observe(cf, s->target, reason, 0);
    } else {
        /* cookie, protocol, resolve, a connection closed under the ping:
         * no opinion on liveness */
        res = RC_PROBE_UNKNOWN;
    }
    reply(cf, s->asker, s->id, res, ev, s->target);
    s->used = false;
}

static void serve_request(struct rc_confirm *cf, const char *asker, const struct rc_probe *q)
{
    struct rc_peer *ap = rc_peers_find(cf->peers, asker);
    struct rc_peer *tp;
    struct serve *s;
    bool busy;
    uint64_t dl;

    if (ap == NULL) {
        uint32_t suppressed = 0;
        if (rc_ratelimit_allow(&cf->rl, rc_now_mono_ms(), 5, 10000, &suppressed))
            rc_log_warn("probe: request from %s, not a registered member: ignored (%u more "
                        "suppressed)",
                        asker, suppressed);
        return;
    }
    ap->probe_misses = 0; /* it speaks the protocol */
    if (strcmp(q->target, cf->self) == 0) {
        reply(cf, asker, q->id, RC_PROBE_OK, RC_PROBE_EV_NONE, NULL);
        return;
    }
    tp = rc_peers_find(cf->peers, q->target);
    if (tp == NULL || tp->se.ip[0] == '\0') {
        reply(cf, asker, q->id, RC_PROBE_UNKNOWN, RC_PROBE_EV_NONE, NULL);
        return;
    }
    s = serve_slot(cf, asker, &busy);
    if (s == NULL) {
        reply(cf, asker, q->id, RC_PROBE_BUSY, RC_PROBE_EV_NONE, q->target);
        return;
    }
    memset(s, 0, sizeof *s);
    s->used = true;
    s->cf = cf;
    s->id = q->id;
    snprintf(s->asker, sizeof s->asker, "%s", asker);
    snprintf(s->target, sizeof s->target, "%s", q->target);
    s->sent_ms = rc_now_mono_ms();
    dl = q->deadline_ms;
    if (dl > 2 * cf->ping_timeout_ms + cf->interval_ms)
        dl = 2 * cf->ping_timeout_ms + cf->interval_ms;
    if (rc_node_ping(cf->node, tp->se.e.name, tp->se.ip, tp->se.e.port, dl, serve_cb, s,
                     &s->ping) != 0) {
        s->used = false;
        reply(cf, asker, q->id, RC_PROBE_BUSY, RC_PROBE_EV_NONE, q->target);
    }
}

static void take_reply(struct rc_confirm *cf, const char *helper, const struct rc_probe *rep)
{
    struct rc_peer *hp = rc_peers_find(cf->peers, helper);
    struct round *r = NULL;
    struct rc_peer *tp;
    uint64_t now = rc_now_mono_ms();
    unsigned i;

    if (hp != NULL)
        hp->probe_misses = 0;
    if (cf->rounds == NULL)
        return;
    for (size_t k = 0; k < RC_CONFIRM_ROUNDS_MAX; k++) {
        if (cf->rounds[k].used && cf->rounds[k].running && cf->rounds[k].id == rep->id) {
            r = &cf->rounds[k];
            break;
        }
    }
    if (r == NULL)
        return; /* late, or not ours */
    for (i = 0; i < r->nhelpers; i++)
        if (!r->replied[i] && strcmp(r->helper[i], helper) == 0)
            break;
    if (i == r->nhelpers)
        return; /* not asked in this round, or a second reply */
    r->replied[i] = true;
    r->ev.helpers_replied++;
    tp = rc_peers_find(cf->peers, r->name);
    if (rep->age_ms >= 0 && (uint64_t)rep->age_ms <= now) {
        uint64_t at = now - (uint64_t)rep->age_ms;
        if (at > r->freshest_ms)
            r->freshest_ms = at;
        /* It answered that helper after our ping that went unanswered was
         * sent: it was alive then, whatever this round says. */
        if (tp != NULL && at > tp->suspect_since_ms) {
            r->ev.helpers_ok++;
            round_eval(cf, r, now, true);
            return;
        }
    }
    switch (rep->result) {
    case RC_PROBE_OK:
        r->ev.helpers_ok++;
        break;
    case RC_PROBE_REFUSED:
        r->ev.helpers_refused++;
        break;
    case RC_PROBE_TIMEOUT:
        if (rep->evidence == RC_PROBE_EV_ACKED)
            r->ev.helpers_silent_acked++;
        else
            r->ev.helpers_silent_unacked++;
        break;
    default:
        r->ev.helpers_unknown++;
        break;
    }
    round_eval(cf, r, now, false);
}

static void probe_msg_cb(void *arg, const char *peer, const struct rc_probe *p)
{
    struct rc_confirm *cf = arg;

    if (p->kind == RC_PROBE_REQUEST)
        serve_request(cf, peer, p);
    else
        take_reply(cf, peer, p);
    arm_tick(cf);
}

/* ---- the tick ---- */

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct rc_confirm *cf = arg;
    uint64_t now = rc_now_mono_ms();
    bool busy = false;

    cf->tick_armed = false;
    if (cf->rounds != NULL) {
        for (size_t i = 0; i < RC_CONFIRM_ROUNDS_MAX; i++) {
            struct round *r = &cf->rounds[i];
            if (!r->used)
                continue;
            if (r->running)
                round_eval(cf, r, now, now >= r->deadline_ms);
            else if (now >= r->next_ms)
                round_start(cf, r, now);
            busy = busy || r->used;
        }
        /* suspects that found no free slot, or whose round ended while
         * they are still suspect (a new suspicion after a refute) */
        for (size_t i = 0; i < cf->peers->n; i++) {
            const struct rc_peer *p = &cf->peers->v[i];
            if (p->state == RC_PEER_SUSPECT && round_find_name(cf, p->se.e.name) == NULL) {
                rc_confirm_suspect(cf, p->se.e.name);
                busy = true;
            }
        }
    }
    if (cf->serves != NULL)
        for (size_t i = 0; i < RC_CONFIRM_SERVE_MAX && !busy; i++)
            busy = cf->serves[i].used;
    if (busy)
        arm_tick(cf);
}

/* ---- life ---- */

struct rc_confirm *rc_confirm_new(struct event_base *base, struct rc_node *node,
                                  struct rc_peers *peers, const struct rc_confirm_opts *o,
                                  rc_confirm_emit_cb emit_cb, void *arg)
{
    struct rc_confirm *cf = calloc(1, sizeof *cf);

    if (cf == NULL)
        return NULL;
    cf->base = base;
    cf->node = node;
    cf->peers = peers;
    snprintf(cf->self, sizeof cf->self, "%s", o->self);
    cf->interval_ms = o->interval_ms;
    cf->ping_timeout_ms = o->ping_timeout_ms;
    cf->emit = emit_cb;
    cf->arg = arg;
    cf->rnd = (uint32_t)rc_now_mono_us() | 1u;
    cf->tick = evtimer_new(base, tick_cb, cf);
    if (cf->tick == NULL) {
        free(cf);
        return NULL;
    }
    rc_node_on_probe(node, probe_msg_cb, cf);
    return cf;
}

void rc_confirm_free(struct rc_confirm *cf)
{
    if (cf == NULL)
        return;
    rc_node_on_probe(cf->node, NULL, NULL);
    if (cf->rounds != NULL)
        for (size_t i = 0; i < RC_CONFIRM_ROUNDS_MAX; i++)
            if (cf->rounds[i].used)
                round_free(&cf->rounds[i]);
    if (cf->serves != NULL)
        for (size_t i = 0; i < RC_CONFIRM_SERVE_MAX; i++)
            if (cf->serves[i].used)
                rc_ping_cancel(cf->serves[i].ping);
    event_free(cf->tick);
    free(cf->rounds);
    free(cf->serves);
    free(cf);
}

void rc_confirm_set_timing(struct rc_confirm *cf, uint64_t interval_ms, uint64_t ping_timeout_ms)
{
    cf->interval_ms = interval_ms;
    cf->ping_timeout_ms = ping_timeout_ms;
}

void rc_confirm_sweep_done(struct rc_confirm *cf, uint32_t pinged, uint32_t timed_out,
                           uint64_t lag_ms)
{
    int before = cf->health.score;

    rc_health_sweep(&cf->health, pinged, timed_out, lag_ms, cf->interval_ms);
    if (cf->health.score != before && rc_log_enabled(RC_LOG_DEBUG)) {
        struct rc_log_field f[] = {RC_LF_S("self", cf->self), RC_LF_I("health", cf->health.score),
                                   RC_LF_I("timed_out", timed_out), RC_LF_I("pinged", pinged),
                                   RC_LF_I("lag_ms", (int64_t)lag_ms)};
        rc_log_event(RC_LOG_DEBUG, "local_health", f, 5);
    }
}

/*
 * sweep.c - the agent loop: snapshots in, parallel pings out, one verdict
 * per peer per sweep, state changes logged once.
 *
 * Shape: the peer table and its state machine are agent/peers.c; this file
 * feeds it (snapshots, verdicts, the time) and emits what it reports
 * changed (log lines, prune requests, dropped connections). A new snapshot
 * is applied at the start of a sweep, or at once when it brings members the
 * table lacks: those are greeted with one ping each (greet_new) and join the
 * next sweep. Each ping names its peer, so a table rebuilt under a running
 * sweep is safe.
 *
 * Each sweep has one deadline (ping_timeout + a small slack); the pings
 * carry their own ping_timeout, so the sweep ends at the slowest answer or
 * at the deadline, whichever is first. A lost connection (the node's
 * peer-down callback) marks its peer down at once, between sweeps too.
 *
 * Everything here runs on the loop thread; the registry worker only hands
 * over finished snapshots (worker.c).
 */
#include "rollcall/sweep.h"

#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "rollcall/app.h"
#include "rollcall/child.h"
#include "rollcall/confirm.h"
#include "rollcall/log.h"
#include "rollcall/node.h"
#include "rollcall/opshub.h"
#include "rollcall/peers.h"
#include "rollcall/registry.h"
#include "rollcall/worker.h"

#define SWEEP_SLACK_MS 50
#define GREET_MAX 32 /* members greeted at once outside the sweep; more wait for it */

/* One ping of the running sweep. The peer is named, not pointed at: the
 * table may be rebuilt while the ping runs. */
struct sweep_ping {
    struct agent *agent;
    struct rc_ping *ping; /* NULL once answered or cancelled */
    char name[RC_NAME_MAX + 1];
};

/* A greeting: one ping of a member the table just gained, outside the
 * sweep (greet_new). ping NULL = a free slot. */
struct greet {
    struct agent *agent;
    struct rc_ping *ping;
    char name[RC_NAME_MAX + 1];
};

struct agent {
    struct rc_config cfg;
    struct event_base *base;
    struct rc_node *node;
    struct rc_worker *worker;
    struct rc_opshub *ops; /* metrics, HTTP endpoint, hooks, sd_notify */
    uint64_t registry_gen; /* the worker's last status we passed on */
    struct event *ev_snapshot, *ev_sweep, *ev_deadline;
    struct event *ev_term, *ev_int, *ev_hup;
    struct rc_peers peers;          /* never contains self */
    struct rc_confirm *confirm;     /* suspects' confirmation rounds (docs/detection.md) */
    uint64_t sweep_due_ms;          /* when the sweep timer should fire next */
    uint64_t sweep_lag_ms;          /* how late it fired for the running sweep: local health */
    struct rc_peer_changes changes; /* reused */
    struct sweep_ping *pings;       /* the running sweep's, npings of them */
    size_t npings, pings_cap;
    struct rc_snapshot *pending; /* newest snapshot, applied at the next sweep start */
    struct greet greets[GREET_MAX];
    bool have_snapshot, sweeping, stopping;
    size_t outstanding;
    uint64_t sweep_started_us;
    uint64_t sweeps;
    struct rc_app *app;     /* app mode (app.c, docs/app.md); NULL otherwise */
    struct rc_child *child; /* rollcall run -- CMD (child.c); NULL otherwise */
    int child_status;
    struct event *ev_quit, *ev_usr1, *ev_usr2; /* forwarded to the child */
};

/* Emits one change of the peer table: log lines, a prune request, a dropped
 * connection. */
static void emit(struct agent *a, const struct rc_peer_change *c)
{
    rc_opshub_change(a->ops, c); /* counters, the hook, /events */
    switch (c->ev) {
    case RC_PEER_EV_UP: {
        struct rc_log_field f[] = {RC_LF_S("self", a->cfg.name), RC_LF_S("node", c->name),
                                   RC_LF_D("rtt_ms", (double)c->rtt_us / 1000.0)};

        rc_log_event(RC_LOG_INFO, "peer_up", f, 3);
        rc_app_peer_event(a->app, c->name, RC_APP_PEER_UP, RC_REASON_OK);
        return;
    }
    case RC_PEER_EV_DOWN: {
        struct rc_log_field f[] = {
            RC_LF_S("self", a->cfg.name),
            RC_LF_S("node", c->name),
            RC_LF_S("reason", rc_reason_str(c->reason)),
            RC_LF_S("evidence", c->evidence),
            RC_LF_S("confirmed_by", c->confirmed_by),
            RC_LF_I("suspect_ms", (int64_t)c->suspect_ms),
            RC_LF_I("silence_ms", (int64_t)c->silence_ms),
            RC_LF_I("helpers", (int64_t)c->helpers),
            RC_LF_I("replied", (int64_t)c->helpers_replied),
        };

        rc_log_event(RC_LOG_INFO, "peer_down", f, c->helpers != 0 ? 9 : 5);
        rc_app_peer_event(a->app, c->name, RC_APP_PEER_DOWN, c->reason);
        return;
    }
    case RC_PEER_EV_SUSPECT: {
        struct rc_log_field f[] = {RC_LF_S("self", a->cfg.name), RC_LF_S("node", c->name),
                                   RC_LF_S("reason", rc_reason_str(c->reason))};

        rc_log_event(RC_LOG_DEBUG, "peer_suspect", f, 3);
        if (a->confirm != NULL)
            rc_confirm_suspect(a->confirm, c->name);
        return;
    }
    case RC_PEER_EV_REFUTED: {
        struct rc_log_field f[] = {RC_LF_S("self", a->cfg.name), RC_LF_S("node", c->name),
                                   RC_LF_I("suspect_ms", (int64_t)c->suspect_ms)};

        rc_log_event(RC_LOG_DEBUG, "peer_refuted", f, 3);
        return;
    }
    case RC_PEER_EV_LEFT:
        if (!c->quiet) {
            struct rc_log_field f[] = {RC_LF_S("self", a->cfg.name), RC_LF_S("node", c->name)};

            rc_log_event(RC_LOG_INFO, "peer_left", f, 2);
            rc_app_peer_event(a->app, c->name, RC_APP_PEER_LEFT, RC_REASON_OK);
        }
        rc_node_drop_peer(a->node, c->name);
        return;
    case RC_PEER_EV_PRUNE:
        /* announced only if the store's conditional remove takes (PRUNED) */
        rc_worker_prune(a->worker, c->name, (int64_t)a->cfg.stale_after_ms, c->age_ms);
        return;
    case RC_PEER_EV_PRUNED: {
        struct rc_log_field f[] = {RC_LF_S("self", a->cfg.name), RC_LF_S("node", c->name),
                                   RC_LF_I("age_ms", c->age_ms)};

        rc_log_event(RC_LOG_INFO, "peer_pruned", f, 3);
        rc_app_peer_event(a->app, c->name, RC_APP_PEER_PRUNED, RC_REASON_OK);
        return;
    }
    case RC_PEER_EV_RECHECK:
        rc_worker_recheck(a->worker, c->name); /* quiet: nothing happened yet */
        return;
    }
}

static void emit_cb(void *arg, const struct rc_peer_change *c)
{
    emit(arg, c);
}

static void emit_all(struct agent *a)
{
    for (size_t i = 0; i < a->changes.n; i++)
        emit(a, &a->changes.v[i]);
    a->changes.n = 0;
}

/* Records one verdict (the agent's only way to) and emits the change. */
static void record(struct agent *a, const char *name, bool ok, enum rc_reason reason,
                   uint64_t rtt_us)
{
    uint64_t now = rc_now_mono_ms();
    struct rc_verdict v = {
        .ok = ok, .reason = reason, .rtt_us = rtt_us, .at_ms = now, .sent_ms = now - rtt_us / 1000};
    struct rc_peer_change chg;

    rc_opshub_verdict(a->ops, &v);

    if (rc_peers_record(&a->peers, name, &v, &chg) == 1)
        emit(a, &chg);
}

/* Replaces the peer table with the snapshot's members, carrying state over. */
static void apply_snapshot(struct agent *a, struct rc_snapshot *s)
{
    /* our app (app mode) is watched by app.c, not swept as a peer */
    for (size_t i = 0; a->app != NULL && i < s->n; i++)
        if (strcmp(s->v[i].e.name, rc_app_name(a->app)) == 0)
            s->v[i].self = true;
    if (rc_peers_apply(&a->peers, s, &a->changes) != 0)
        return; /* keep the old table; try again next sweep */
    emit_all(a);
}

/* Alive for the outside (sweep lines, counts): up, or suspect but not
 * yet confirmed down after being up (one never seen up is not alive while
 * its first failure is being confirmed). */
static bool peer_alive(const struct rc_peer *p)
{
    return p->state == RC_PEER_UP || (p->state == RC_PEER_SUSPECT && p->suspect_from == RC_PEER_UP);
}

static void log_sweep(struct agent *a)
{
    const struct rc_peers *t = &a->peers;
    size_t cap, len = 0, i = 0;
    bool self_done = false;
    char *line;

    if (!rc_log_enabled(RC_LOG_INFO))
        return;
    if (rc_log_get_format() != RC_LOG_FMT_ELIXIR) {
        for (i = 0; i < t->n; i++) {
            const struct rc_peer *p = &t->v[i];
            struct rc_log_field f[] = {
                RC_LF_S("self", a->cfg.name),
                RC_LF_S("node", p->se.e.name),
                RC_LF_B("alive", peer_alive(p)),
                RC_LF_D("rtt_ms", p->last.ok ? (double)p->last.rtt_us / 1000.0 : 0.0),
                RC_LF_S("reason", rc_reason_str(p->last.reason)),
            };

            rc_log_event(RC_LOG_INFO, "sweep", f, 5);
        }
        return;
    }
    /* The classic line: self["a@h": true, "b@h": false], self included,
     * sorted by name. */
    cap = 64 + (t->n + 1) * (RC_NAME_MAX + 12);
    line = malloc(cap);
    if (line == NULL)
        return;
    while (i < t->n || !self_done) {
        const char *name;
        bool alive;

        if (!self_done && (i == t->n || strcmp(a->cfg.name, t->v[i].se.e.name) < 0)) {
            name = a->cfg.name;
            alive = true;
            self_done = true;
        } else {
            name = t->v[i].se.e.name;
            alive = peer_alive(&t->v[i]);
            i++;
        }
        len += (size_t)snprintf(line + len, cap - len, "%s\"%s\": %s", len != 0 ? ", " : "", name,
                                alive ? "true" : "false");
    }
    rc_log_info("%s[%s]", a->cfg.name, line);
    free(line);
}

static size_t count_alive(const struct rc_peers *t)
{
    size_t alive = 0;

    for (size_t i = 0; i < t->n; i++)
        alive += peer_alive(&t->v[i]);
    return alive;
}

static void log_sweep_done(struct agent *a)
{
    size_t alive = count_alive(&a->peers);
    struct rc_log_field f[] = {
        RC_LF_S("self", a->cfg.name),
        RC_LF_I("sweep", (int64_t)a->sweeps),
        RC_LF_I("peers", (int64_t)a->peers.n),
        RC_LF_I("alive", (int64_t)alive),
        RC_LF_D("duration_ms", (double)(rc_now_mono_us() - a->sweep_started_us) / 1000.0),
    };
    rc_log_event(RC_LOG_DEBUG, "sweep_done", f, 5);
}

static void start_sweep(struct agent *a);
static void arm_sweep_timer(struct agent *a);

/* App mode: the peers as this sweep left them, for the connector. */
static void tell_app(struct agent *a)
{
    struct rc_app_peer *ap = NULL;

    if (a->app == NULL)
        return;
    if (a->peers.n != 0) {
        ap = calloc(a->peers.n, sizeof(*ap));
        if (ap == NULL)
            return; /* the next sweep tries again */
    }
    for (size_t i = 0; i < a->peers.n; i++)
        ap[i] = (struct rc_app_peer){.name = a->peers.v[i].se.e.name,
                                     .kind = a->peers.v[i].se.e.kind,
                                     .up = a->peers.v[i].state == RC_PEER_UP};
    rc_app_sweep_done(a->app, ap, a->peers.n);
    free(ap);
}

static void finish_sweep(struct agent *a)
{
    if (!a->sweeping)
        return;
    for (size_t i = 0; i < a->npings; i++) {
        rc_ping_cancel(a->pings[i].ping);
        a->pings[i].ping = NULL;
    }
    /* timeouts for the pings still out, then the two-stage expiry */
    rc_peers_sweep_end(&a->peers, rc_now_mono_ms(), &a->changes);
    emit_all(a);
    if (a->confirm != NULL) {
        uint32_t pinged = 0, timed_out = 0;

        for (size_t i = 0; i < a->peers.n; i++) {
            const struct rc_peer *p = &a->peers.v[i];

            if (!p->in_sweep || p->se.ip[0] == '\0')
                continue;
            pinged++;
            timed_out += !p->last.ok && p->last.reason == RC_REASON_TIMEOUT;
        }
        rc_confirm_sweep_done(a->confirm, pinged, timed_out, a->sweep_lag_ms);
        a->sweep_lag_ms = 0;
    }
    a->sweeping = false;
    event_del(a->ev_deadline);
    a->sweeps++;
    rc_opshub_sweep(a->ops, (double)(rc_now_mono_us() - a->sweep_started_us) / 1e6);
    log_sweep(a);
    if (rc_log_enabled(RC_LOG_DEBUG))
        log_sweep_done(a);
    tell_app(a);
    /* A member joined while this sweep ran: greet it now rather than at the
     * next tick (start_sweep applies the snapshot, so this cannot repeat). */
    if (a->pending != NULL && rc_peers_has_new(&a->peers, a->pending)) {
        start_sweep(a);
        arm_sweep_timer(a);
    }
}

static void ping_done(void *arg, enum rc_reason r, uint64_t rtt_us)
{
    struct sweep_ping *sp = arg;
    struct agent *a = sp->agent;

    sp->ping = NULL;
    record(a, sp->name, r == RC_REASON_OK, r, rtt_us);
    if (--a->outstanding == 0)
        finish_sweep(a);
}

static void start_sweep(struct agent *a)
{
    struct sweep_ping *pings;
    struct timeval tv;
    uint64_t ms, longest = 0;

    if (a->sweeping || a->stopping)
        return;
    if (a->pending != NULL) {
        apply_snapshot(a, a->pending);
        rc_snapshot_free(a->pending);
        a->pending = NULL;
    }
    if (a->peers.n > a->pings_cap) {
        pings = calloc(a->peers.n, sizeof(*pings));
        if (pings == NULL) {
            rc_log_error("sweep: out of memory, skipping this sweep");
            return;
        }
        free(a->pings);
        a->pings = pings;
        a->pings_cap = a->peers.n;
    }
    a->npings = a->peers.n;
    a->sweeping = true;
    a->outstanding = 0;
    a->sweep_started_us = rc_now_mono_us();
    rc_peers_sweep_begin(&a->peers);
    for (size_t i = 0; i < a->peers.n; i++) {
        const struct rc_peer *p = &a->peers.v[i];
        struct sweep_ping *sp = &a->pings[i];
        int r;

        sp->agent = a;
        sp->ping = NULL;
        snprintf(sp->name, sizeof(sp->name), "%s", p->se.e.name);
        if (p->se.ip[0] == '\0') {
            record(a, sp->name, false, RC_REASON_RESOLVE_FAILED, 0);
            continue;
        }
        a->outstanding++;
        ms = a->confirm != NULL ? rc_confirm_deadline_ms(a->confirm, p) : a->cfg.ping_timeout_ms;
        if (ms > longest)
            longest = ms;
        r = rc_node_ping(a->node, p->se.e.name, p->se.ip, p->se.e.port, ms, ping_done, sp,
                         &sp->ping);
        if (r != 0) {
            /* no socket, no memory: our failure, not the peer's */
            a->outstanding--;
            sp->ping = NULL;
            record(a, sp->name, false, RC_REASON_LOCAL_ERROR, 0);
        }
    }
    if (a->outstanding == 0) {
        finish_sweep(a);
        return;
    }
    ms = (longest > a->cfg.ping_timeout_ms ? longest : a->cfg.ping_timeout_ms) + SWEEP_SLACK_MS;
    tv.tv_sec = (time_t)(ms / 1000);
    tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
    event_add(a->ev_deadline, &tv);
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    finish_sweep(arg);
}

static void sweep_cb(evutil_socket_t fd, short what, void *arg)
{
    struct agent *a = arg;
    uint64_t now = rc_now_mono_ms();

    /* EV_PERSIST: libevent sets the next run an interval after this one
     * was due, or after now if that is already past */
    a->sweep_lag_ms = now > a->sweep_due_ms ? now - a->sweep_due_ms : 0;
    a->sweep_due_ms += a->cfg.interval_ms;
    if (a->sweep_due_ms < now)
        a->sweep_due_ms = now + a->cfg.interval_ms;
    if (a->sweeping) {
        rc_log_debug("sweep: previous sweep still running, skipping this tick");
        return;
    }
    start_sweep(a);
}

static void arm_sweep_timer(struct agent *a)
{
    uint64_t ms = a->cfg.interval_ms;
    struct timeval tv = {.tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000};

    event_del(a->ev_sweep);
    event_add(a->ev_sweep, &tv);
    a->sweep_due_ms = rc_now_mono_ms() + ms;
}

/* A greeting answered: an answer counts the member up now; a failure is
 * left to its first sweep (one verdict per peer per sweep). */
static void greet_done(void *arg, enum rc_reason r, uint64_t rtt_us)
{
    struct greet *g = arg;
    struct agent *a = g->agent;
    uint64_t now = rc_now_mono_ms();
    struct rc_verdict v = {
        .ok = true, .reason = r, .rtt_us = rtt_us, .at_ms = now, .sent_ms = now - rtt_us / 1000};
    struct rc_peer_change chg;

    g->ping = NULL;
    if (r == RC_REASON_OK && rc_peers_observe(&a->peers, g->name, &v, &chg) == 1) {
        emit(a, &chg);
        tell_app(a); /* app mode: the app learns of it now, as after a sweep */
    }
}

/* The pending snapshot holds members the table lacks (a node joined): apply
 * it now, sweep running or not, and ping each new member alone. A whole
 * sweep to greet one node would ping every member again (and wait for a
 * running sweep first); the newcomer's inbound connection is usually
 * established already, so one ping answers in a round trip. The new
 * members join the next sweep. */
static void greet_new(struct agent *a)
{
    struct rc_snapshot *s = a->pending;
    size_t idx[GREET_MAX], n = 0;

    for (size_t i = 0; i < s->n && n < GREET_MAX; i++)
        if (!s->v[i].self && rc_peers_find(&a->peers, s->v[i].e.name) == NULL)
            idx[n++] = i;
    a->pending = NULL;
    apply_snapshot(a, s); /* marks our app (app mode) as self */
    for (size_t k = 0, slot = 0; k < n; k++) {
        const struct rc_snap_entry *se = &s->v[idx[k]];
        struct greet *g = NULL;

        if (se->self || se->ip[0] == '\0' || rc_peers_find(&a->peers, se->e.name) == NULL)
            continue;
        for (; slot < GREET_MAX && g == NULL; slot++)
            if (a->greets[slot].ping == NULL)
                g = &a->greets[slot];
        if (g == NULL)
            break; /* the rest waits for the next sweep */
        g->agent = a;
        snprintf(g->name, sizeof g->name, "%s", se->e.name);
        if (rc_node_ping(a->node, se->e.name, se->ip, se->e.port, a->cfg.ping_timeout_ms,
                         greet_done, g, &g->ping) != 0)
            g->ping = NULL;
    }
    rc_snapshot_free(s);
}

static void greets_cancel(struct agent *a)
{
    for (size_t i = 0; i < GREET_MAX; i++) {
        rc_ping_cancel(a->greets[i].ping);
        a->greets[i].ping = NULL;
    }
}

/* Worker thread -> loop. */
static void notify_from_worker(void *arg)
{
    struct agent *a = arg;

    event_active(a->ev_snapshot, EV_READ, 0);
}

/* The prunes the store carried out on our request: announced here, once,
 * and the member's LEFT then goes unannounced. */
static void announce_pruned(struct agent *a)
{
    struct rc_pruned batch[16];
    struct rc_peer_change chg;
    size_t n;

    while ((n = rc_worker_take_pruned(a->worker, batch, 16)) != 0)
        for (size_t i = 0; i < n; i++)
            if (rc_peers_pruned(&a->peers, batch[i].name, batch[i].age_ms, &chg) == 1)
                emit(a, &chg);
}

static void snapshot_cb(evutil_socket_t fd, short what, void *arg)
{
    struct agent *a = arg;
    struct rc_snapshot *s = rc_worker_take(a->worker);
    struct rc_worker_status st;

    /* the registry's health: readiness, registry_down / registry_up */
    if (rc_worker_status(a->worker, &st) == 0 && st.gen != a->registry_gen) {
        a->registry_gen = st.gen;
        rc_opshub_registry(a->ops, st.ok, st.error, st.self_listed);
    }
    if (s == NULL)
        return;
    announce_pruned(a); /* before any snapshot without them is applied */
    rc_snapshot_free(a->pending);
    a->pending = s;
    if (!a->have_snapshot) {
        /* The first list is in: sweep now rather than an interval later. */
        a->have_snapshot = true;
        start_sweep(a);
        arm_sweep_timer(a);
    } else if (!a->stopping && rc_peers_has_new(&a->peers, s)) {
        greet_new(a); /* a node joined: greet it now, not at the next sweep */
    }
}

static void peer_down_cb(void *arg, const char *name, enum rc_reason reason)
{
    struct agent *a = arg;
    struct rc_peer_change chg;

    if (a->app != NULL && strcmp(name, rc_app_name(a->app)) == 0) {
        rc_app_conn_lost(a->app, reason);
        return;
    }
    if (rc_peers_mark_down(&a->peers, name, reason, rc_now_mono_ms(), &chg) == 1)
        emit(a, &chg);
}

/* A node reached us that our table does not know (a newcomer pinging
 * everyone it listed): read its entry now rather than at the next list. */
static void peer_in_cb(void *arg, const char *name)
{
    struct agent *a = arg;
    if (a->worker != NULL && strcmp(name, a->cfg.name) != 0 &&
        rc_peers_find(&a->peers, name) == NULL)
        rc_worker_lookup(a->worker, name);
}

static uint64_t heartbeat_of(const struct rc_config *c)
{
    return c->heartbeat_ms != 0 ? c->heartbeat_ms : rc_worker_default_heartbeat(c->stale_after_ms);
}

static void stop_cb(evutil_socket_t sig, short what, void *arg)
{
    struct agent *a = arg;

    if (rc_child_running(a->child)) {
        /* rollcall run: the child decides when we go; its entry goes now */
        rc_log_info("received %s, passing it to the app (pid %d) and leaving the cluster",
                    sig == SIGTERM ? "SIGTERM" : "SIGINT", (int)rc_child_pid(a->child));
        rc_app_leave(a->app);
        rc_child_signal(a->child, (int)sig);
        return;
    }
    rc_log_info("received %s, leaving the cluster", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    rc_opshub_stopping(a->ops);
    a->stopping = true;
    event_base_loopexit(a->base, NULL);
}

/* SIGQUIT, SIGUSR1, SIGUSR2 under rollcall run: the app's. */
static void forward_cb(evutil_socket_t sig, short what, void *arg)
{
    struct agent *a = arg;

    if (rc_child_signal(a->child, (int)sig) != 0 && sig == SIGQUIT) {
        a->stopping = true;
        event_base_loopexit(a->base, NULL);
    }
}

static void child_exit_cb(void *arg, int status)
{
    struct agent *a = arg;

    rc_log_info("the app (pid %d) exited with status %d, leaving the cluster",
                (int)rc_child_pid(a->child), status);
    a->child_status = status;
    a->stopping = true;
    event_base_loopexit(a->base, NULL);
}

/* app.c: write our app's entry beside ours, or withdraw it. */
static void app_publish_cb(void *arg, const struct rc_entry *e)
{
    struct agent *a = arg;

    if (a->worker == NULL)
        return;
    if (e != NULL)
        rc_worker_set_extra(a->worker, e);
    else
        rc_worker_withdraw(a->worker, rc_app_name(a->app));
}

/* rollcall run -- CMD: the app as our child, with the node name and cookie
 * it should use in its environment (docs/app.md). */
static int start_child(struct agent *a, const struct rc_config *cfg, const uint8_t *cookie,
                       size_t cookie_len, char *const argv[])
{
    char node[RC_NAME_MAX + 32], ck[RC_COOKIE_MAX + 32], epmd[48], err[512] = "";
    const char *env[5], *host = strchr(cfg->app_node, '@');
    size_t n = 0;
    int e = 0;

    snprintf(node, sizeof(node), "RELEASE_NODE=%s", cfg->app_node);
    snprintf(ck, sizeof(ck), "RELEASE_COOKIE=%.*s", (int)cookie_len, (const char *)cookie);
    env[n++] = node;
    env[n++] = ck;
    env[n++] = host != NULL && strpbrk(host + 1, ".:") == NULL ? "RELEASE_DISTRIBUTION=sname"
                                                               : "RELEASE_DISTRIBUTION=name";
    if (cfg->epmd_port != 4369) {
        snprintf(epmd, sizeof(epmd), "ERL_EPMD_PORT=%u", (unsigned)cfg->epmd_port);
        env[n++] = epmd;
    }
    env[n] = NULL;
    a->child = rc_child_start(a->base, argv, env, child_exit_cb, a, &e, err, sizeof(err));
    explicit_bzero(ck, sizeof(ck));
    if (a->child == NULL) {
        rc_log_error("%s", err);
        return -e;
    }
    rc_log_info("started the app: %s (pid %d)", argv[0], (int)rc_child_pid(a->child));
    a->ev_quit = evsignal_new(a->base, SIGQUIT, forward_cb, a);
    a->ev_usr1 = evsignal_new(a->base, SIGUSR1, forward_cb, a);
    a->ev_usr2 = evsignal_new(a->base, SIGUSR2, forward_cb, a);
    if (a->ev_quit != NULL)
        event_add(a->ev_quit, NULL);
    if (a->ev_usr1 != NULL)
        event_add(a->ev_usr1, NULL);
    if (a->ev_usr2 != NULL)
        event_add(a->ev_usr2, NULL);
    return 0;
}

static void hup_cb(evutil_socket_t sig, short what, void *arg)
{
    struct agent *a = arg;
    struct rc_config next;
    char err[4096] = "", lerr[256] = "";
    bool new_interval;

    /* next: the running configuration with the keys SIGHUP may change
     * re-read; err: the keys that changed but wait for a restart */
    if (rc_config_reload(&a->cfg, &next, err, sizeof(err)) != 0) {
        rc_log_error("SIGHUP: configuration not applied, keeping the running one:");
        for (char *line = strtok(err, "\n"); line != NULL; line = strtok(NULL, "\n"))
            rc_log_error("  %s", line);
        return;
    }
    if (strcmp(next.log_file, a->cfg.log_file) != 0) {
        if (rc_log_open(next.log_file, lerr, sizeof(lerr)) != 0) {
            rc_log_error("SIGHUP: configuration not applied: %s", lerr);
            return;
        }
    } else if (rc_log_reopen(lerr, sizeof(lerr)) != 0) {
        rc_log_error("SIGHUP: cannot reopen the log: %s", lerr);
    }
    rc_log_set_level(next.log_level);
    rc_log_set_format(next.log_format);
    if (err[0] != '\0')
        rc_log_warn("SIGHUP: %s change only on restart", err);
    new_interval = next.interval_ms != a->cfg.interval_ms;
    a->cfg = next;
    rc_peers_set_expiry(&a->peers, a->cfg.stale_after_ms, a->cfg.prune_after_ms);
    rc_confirm_set_timing(a->confirm, a->cfg.interval_ms, a->cfg.ping_timeout_ms);
    rc_worker_set_store_timing(a->worker, heartbeat_of(&a->cfg), a->cfg.resync_ms);
    rc_app_set_timing(a->app, a->cfg.interval_ms, a->cfg.ping_timeout_ms);
    if (new_interval) {
        rc_worker_set_interval(a->worker, a->cfg.interval_ms);
        if (a->have_snapshot)
            arm_sweep_timer(a);
    }
    rc_log_info("SIGHUP: configuration reloaded (interval %llums, ping_timeout %llums)",
                (unsigned long long)a->cfg.interval_ms, (unsigned long long)a->cfg.ping_timeout_ms);
}

/* The address to listen on: bind if set; else, for a node named for a
 * loopback address (a@127.0.0.1 is not reachable from elsewhere, so it must
 * not listen elsewhere either), the loopback device ("lo": every 127.x and
 * ::1, so that BEAM nodes and agents on other loopback addresses share its
 * EPMD as they share a real epmd); else every interface (""). */
static void effective_bind(const struct rc_config *cfg, char *out, size_t outlen)
{
    const char *host = strchr(cfg->name, '@') + 1;
    struct in_addr in;

    if (cfg->bind[0] != '\0')
        snprintf(out, outlen, "%s", cfg->bind);
    else if ((inet_pton(AF_INET, host, &in) == 1 && (ntohl(in.s_addr) >> 24) == 127) ||
             strcmp(host, "localhost") == 0 || strcmp(host, "::1") == 0)
        snprintf(out, outlen, "lo");
    else
        out[0] = '\0';
}

static const char *epmd_word(enum rc_epmd_mode m)
{
    switch (m) {
    case RC_EPMD_AUTO:
        return "auto";
    case RC_EPMD_SYSTEM:
        return "system";
    case RC_EPMD_EMBEDDED:
        return "embedded";
    default:
        return "off";
    }
}

int rc_agent_run(const struct rc_config *cfg, const uint8_t *cookie, size_t cookie_len,
                 char *const child_argv[])
{
    int rc = 1;
    char err[512] = "", masked[RC_URL_MAX], bind[64];
    struct agent *a;
    struct rc_node_opts o;
    struct rc_entry self;
    struct rc_app_opts ao;
    struct event **evs[9];

    a = calloc(1, sizeof(*a));
    if (a == NULL) {
        rc_log_error("out of memory");
        return 1;
    }
    a->cfg = *cfg;
    rc_peers_init(&a->peers, cfg->stale_after_ms, cfg->prune_after_ms);
    evthread_use_pthreads();
    signal(SIGPIPE, SIG_IGN);
    a->base = event_base_new();
    if (a->base == NULL) {
        rc_log_error("cannot create the event loop");
        goto out_free;
    }

    o = (struct rc_node_opts){
        .name = cfg->name,
        .cookie = cookie,
        .cookie_len = cookie_len,
        .listen = true,
        .epmd = cfg->epmd,
        .epmd_port = cfg->epmd_port,
        .port_min = cfg->dist_port_min,
        .port_max = cfg->dist_port_max,
        .epmd_check_ms = cfg->interval_ms,
        .silence_ms = cfg->silence_timeout_ms,
        .tls_cert = cfg->tls_cert[0] != '\0' ? cfg->tls_cert : NULL,
        .tls_key = cfg->tls_key[0] != '\0' ? cfg->tls_key : NULL,
        .tls_ca = cfg->tls_ca[0] != '\0' ? cfg->tls_ca : NULL,
        .tls_required = cfg->tls_required,
        .bind = bind,
    };
    effective_bind(cfg, bind, sizeof(bind));
    a->node = rc_node_new(a->base, &o, err, sizeof(err));
    if (a->node == NULL) {
        rc_log_error("%s", err);
        goto out_base;
    }
    rc_node_on_peer_down(a->node, peer_down_cb, a);
    rc_node_on_peer_in(a->node, peer_in_cb, a);
    {
        struct rc_confirm_opts co = {.self = cfg->name,
                                     .interval_ms = cfg->interval_ms,
                                     .ping_timeout_ms = cfg->ping_timeout_ms};

        a->confirm = rc_confirm_new(a->base, a->node, &a->peers, &co, emit_cb, a);
        if (a->confirm == NULL) {
            rc_log_error("out of memory");
            goto out_events;
        }
        a->peers.confirm = true;
    }

    memset(&self, 0, sizeof(self));
    snprintf(self.name, sizeof(self.name), "%s", cfg->name);
    /* advertise: the host others dial, when the name's is not the one */
    snprintf(self.host, sizeof(self.host), "%s",
             cfg->advertise[0] != '\0' ? cfg->advertise : strchr(cfg->name, '@') + 1);
    self.port = rc_node_port(a->node);
    self.started_at_ms = rc_now_wall_ms();
    self.kind = RC_KIND_AGENT;

    a->ev_snapshot = event_new(a->base, -1, 0, snapshot_cb, a);
    a->ev_sweep = event_new(a->base, -1, EV_PERSIST, sweep_cb, a);
    a->ev_deadline = evtimer_new(a->base, deadline_cb, a);
    a->ev_term = evsignal_new(a->base, SIGTERM, stop_cb, a);
    a->ev_int = evsignal_new(a->base, SIGINT, stop_cb, a);
    a->ev_hup = evsignal_new(a->base, SIGHUP, hup_cb, a);
    if (a->ev_snapshot == NULL || a->ev_sweep == NULL || a->ev_deadline == NULL ||
        a->ev_term == NULL || a->ev_int == NULL || a->ev_hup == NULL) {
        rc_log_error("out of memory");
        goto out_events;
    }
    event_add(a->ev_term, NULL);
    event_add(a->ev_int, NULL);
    event_add(a->ev_hup, NULL);

    rc_registry_mask_url(cfg->registry, masked, sizeof(masked));
    rc_log_info("rollcall %s starting as %s (distribution port %u on %s, epmd %s, registry %s)",
                ROLLCALL_VERSION, cfg->name, rc_node_port(a->node),
                strcmp(bind, "lo") == 0 ? "loopback only"
                : bind[0] != '\0'       ? bind
                                        : "every interface",
                epmd_word(cfg->epmd), masked);

    a->ops = rc_opshub_new(a->base, cfg, &a->peers, err, sizeof(err));
    if (a->ops == NULL) {
        rc_log_error("%s", err);
        goto out_events;
    }
    a->worker = rc_worker_start(cfg->registry, &self, cfg->interval_ms, notify_from_worker, a,
                                rc_opshub_metrics(a->ops), err, sizeof(err));
    if (a->worker == NULL) {
        rc_log_error("%s", err);
        goto out_events;
    }
    rc_worker_set_store_timing(a->worker, heartbeat_of(cfg), cfg->resync_ms);
    if (heartbeat_of(cfg) >= cfg->stale_after_ms)
        rc_log_warn("heartbeat (%llums) is not below stale_after (%llums): our entry will look "
                    "stale between heartbeats",
                    (unsigned long long)heartbeat_of(cfg), (unsigned long long)cfg->stale_after_ms);
    if (cfg->app_node[0] != '\0') {
        ao = (struct rc_app_opts){
            .self = cfg->name,
            .app_node = cfg->app_node,
            .app_port = cfg->app_port,
            .interval_ms = cfg->interval_ms,
            .ping_timeout_ms = cfg->ping_timeout_ms,
            .disconnect = cfg->app_disconnect,
            .notify = cfg->app_notify,
        };
        a->app = rc_app_new(a->base, a->node, &ao, app_publish_cb, a, err, sizeof(err));
        if (a->app == NULL) {
            rc_log_error("%s", err);
            goto out_events;
        }
        rc_log_info("app mode: looking after %s%s", cfg->app_node,
                    child_argv != NULL ? " (started as our child)" : "");
    }
    if (child_argv != NULL && start_child(a, cfg, cookie, cookie_len, child_argv) != 0) {
        rc = 127; /* like a shell that cannot run the command */
        goto out_leave;
    }

    event_base_dispatch(a->base);
    rc = a->child != NULL ? a->child_status : 0;
out_leave:
    rc_app_leave(a->app); /* its entry goes with ours, below */

    /* Leave: our entry first (so listers stop seeing us), then the
     * connections (so peers see us go at once). The running sweep ends
     * without verdicts: the peers did nothing wrong. */
    rc_worker_stop(a->worker, true);
    a->worker = NULL;
    for (size_t i = 0; i < a->npings; i++) {
        rc_ping_cancel(a->pings[i].ping);
        a->pings[i].ping = NULL;
    }
    greets_cancel(a);
    rc_peers_leave(&a->peers);
    a->sweeping = false;

out_events:
    greets_cancel(a);
    rc_worker_stop(a->worker, false);
    rc_confirm_free(a->confirm);
    a->confirm = NULL;
    rc_app_free(a->app);
    a->app = NULL;
    rc_child_free(a->child);
    a->child = NULL;
    rc_opshub_free(a->ops);
    a->ops = NULL;
    rc_node_free(a->node);
    a->node = NULL;
    evs[0] = &a->ev_snapshot;
    evs[1] = &a->ev_sweep;
    evs[2] = &a->ev_deadline;
    evs[3] = &a->ev_term;
    evs[4] = &a->ev_int;
    evs[5] = &a->ev_hup;
    evs[6] = &a->ev_quit;
    evs[7] = &a->ev_usr1;
    evs[8] = &a->ev_usr2;
    for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++)
        if (*evs[i] != NULL)
            event_free(*evs[i]);
out_base:
    rc_node_free(a->node);
    event_base_free(a->base);
out_free:
    rc_snapshot_free(a->pending);
    rc_peers_free(&a->peers);
    rc_peer_changes_free(&a->changes);
    free(a->pings);
    free(a);
    return rc;
}

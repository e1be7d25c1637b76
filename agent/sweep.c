/*
 * sweep.c - the agent loop: snapshots in, parallel pings out, one verdict
 * per peer per sweep, state changes logged once.
 *
 * Shape: the peer table is rebuilt from a registry snapshot only between
 * sweeps, so the pings of a running sweep can point straight at their peer.
 * Each sweep has one deadline (ping_timeout + a small slack); the pings carry
 * their own ping_timeout, so the sweep ends at the slowest answer or at the
 * deadline, whichever is first. A lost connection (the node's peer-down
 * callback) marks its peer down at once, between sweeps too.
 *
 * Everything here runs on the loop thread; the registry worker only hands
 * over finished snapshots (worker.c).
 */
#include "rollcall/sweep.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "rollcall/log.h"
#include "rollcall/node.h"
#include "rollcall/registry.h"
#include "rollcall/worker.h"

#define SWEEP_SLACK_MS 50

enum peer_state { PEER_UNKNOWN, PEER_UP, PEER_DOWN };

struct peer {
    struct rc_snap_entry se;
    enum peer_state state;
    enum rc_reason reason; /* of the last failure */
    uint64_t rtt_us;
    uint64_t failing_since_ms; /* monotonic, 0 = answering */
    bool prune_requested;
    uint64_t prune_requested_ms; /* monotonic; a remove that failed is asked again */
    /* this sweep */
    struct rc_ping *ping;
    bool done;
    bool alive;
    enum rc_reason result;
    struct agent *agent;
};

struct agent {
    struct rc_config cfg;
    struct event_base *base;
    struct rc_node *node;
    struct rc_worker *worker;
    struct event *ev_snapshot, *ev_sweep, *ev_deadline;
    struct event *ev_term, *ev_int, *ev_hup;
    struct peer *peers; /* sorted by name; never contains self */
    size_t npeers;
    struct rc_snapshot *pending; /* newest snapshot, applied at the next sweep start */
    bool have_snapshot, sweeping, stopping;
    size_t outstanding;
    uint64_t sweep_started_us;
    uint64_t sweeps;
};

static void log_state(struct agent *a, struct peer *p, enum peer_state to, enum rc_reason why)
{
    if (p->state == to)
        return;
    p->state = to;
    if (to == PEER_UP) {
        struct rc_log_field f[] = {RC_LF_S("self", a->cfg.name), RC_LF_S("node", p->se.e.name),
                                   RC_LF_D("rtt_ms", (double)p->rtt_us / 1000.0)};
        rc_log_event(RC_LOG_INFO, "peer_up", f, 3);
    } else {
        struct rc_log_field f[] = {RC_LF_S("self", a->cfg.name), RC_LF_S("node", p->se.e.name),
                                   RC_LF_S("reason", rc_reason_str(why))};
        rc_log_event(RC_LOG_INFO, "peer_down", f, 3);
    }
}

static struct peer *find_peer(struct agent *a, const char *name)
{
    size_t lo = 0, hi = a->npeers;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(a->peers[mid].se.e.name, name);
        if (c == 0)
            return &a->peers[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* Replaces the peer table with the snapshot's members, carrying state over. */
static void apply_snapshot(struct agent *a, struct rc_snapshot *s)
{
    struct peer *np = s->n ? calloc(s->n, sizeof *np) : NULL;
    if (s->n && !np)
        return; /* keep the old table; try again next sweep */
    size_t n = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (s->v[i].self)
            continue;
        struct peer *old = find_peer(a, s->v[i].e.name);
        if (old) {
            np[n] = *old;
            old->agent = NULL; /* mark as carried over */
        } else {
            memset(&np[n], 0, sizeof np[n]);
        }
        np[n].se = s->v[i];
        np[n].agent = a;
        np[n].ping = NULL;
        if (np[n].prune_requested && np[n].se.e.age_ms < (int64_t)a->cfg.stale_after_ms)
            np[n].prune_requested = false; /* it came back */
        n++;
    }
    for (size_t i = 0; i < a->npeers; i++) {
        struct peer *old = &a->peers[i];
        if (!old->agent)
            continue;
        if (!old->prune_requested) {
            struct rc_log_field f[] = {RC_LF_S("self", a->cfg.name),
                                       RC_LF_S("node", old->se.e.name)};
            rc_log_event(RC_LOG_INFO, "peer_left", f, 2);
        }
        rc_node_drop_peer(a->node, old->se.e.name);
    }
    free(a->peers);
    a->peers = np;
    a->npeers = n;
}

static void log_sweep(struct agent *a)
{
    if (!rc_log_enabled(RC_LOG_INFO))
        return;
    if (rc_log_get_format() == RC_LOG_FMT_ELIXIR) {
        /* The classic line: self["a@h": true, "b@h": false], self included,
         * sorted by name. */
        size_t cap = 64 + (a->npeers + 1) * (RC_NAME_MAX + 12);
        char *line = malloc(cap);
        if (!line)
            return;
        size_t len = 0;
        bool self_done = false;
        size_t i = 0;
        while (i < a->npeers || !self_done) {
            const char *name;
            bool alive;
            if (!self_done && (i == a->npeers || strcmp(a->cfg.name, a->peers[i].se.e.name) < 0)) {
                name = a->cfg.name;
                alive = true;
                self_done = true;
            } else {
                name = a->peers[i].se.e.name;
                alive = a->peers[i].alive;
                i++;
            }
            len += (size_t)snprintf(line + len, cap - len, "%s\"%s\": %s", len ? ", " : "", name,
                                    alive ? "true" : "false");
        }
        rc_log_info("%s[%s]", a->cfg.name, line);
        free(line);
        return;
    }
    for (size_t i = 0; i < a->npeers; i++) {
        struct peer *p = &a->peers[i];
        struct rc_log_field f[] = {
            RC_LF_S("self", a->cfg.name),
            RC_LF_S("node", p->se.e.name),
            RC_LF_B("alive", p->alive),
            RC_LF_D("rtt_ms", p->alive ? (double)p->rtt_us / 1000.0 : 0.0),
            RC_LF_S("reason", rc_reason_str(p->result)),
        };
        rc_log_event(RC_LOG_INFO, "sweep", f, 5);
    }
}

static bool has_new_members(struct agent *a, const struct rc_snapshot *s);
static void start_sweep(struct agent *a);
static void arm_sweep_timer(struct agent *a);

static void finish_sweep(struct agent *a)
{
    if (!a->sweeping)
        return;
    uint64_t now = rc_now_mono_ms();
    for (size_t i = 0; i < a->npeers; i++) {
        struct peer *p = &a->peers[i];
        if (!p->done) {
            rc_ping_cancel(p->ping);
            p->ping = NULL;
            p->done = true;
            p->alive = false;
            p->result = RC_REASON_TIMEOUT;
            log_state(a, p, PEER_DOWN, RC_REASON_TIMEOUT);
        }
        /* Two-stage expiry: stale on the registry's clock AND failing for
         * prune_after. A peer that answers is never pruned. */
        if (p->alive) {
            p->failing_since_ms = 0;
        } else {
            if (!p->failing_since_ms)
                p->failing_since_ms = now;
            bool stale = p->se.e.age_ms > (int64_t)a->cfg.stale_after_ms;
            bool due = now - p->failing_since_ms >= a->cfg.prune_after_ms;
            /* The entry still listed long after we asked: the remove failed
             * (a registry outage, say). Ask again, without logging again. */
            bool retry = p->prune_requested && now - p->prune_requested_ms >= a->cfg.prune_after_ms;
            if (stale && due && (!p->prune_requested || retry)) {
                if (!p->prune_requested) {
                    struct rc_log_field f[] = {RC_LF_S("self", a->cfg.name),
                                               RC_LF_S("node", p->se.e.name),
                                               RC_LF_I("age_ms", p->se.e.age_ms)};
                    rc_log_event(RC_LOG_INFO, "peer_pruned", f, 3);
                }
                p->prune_requested = true;
                p->prune_requested_ms = now;
                rc_worker_prune(a->worker, p->se.e.name, (int64_t)a->cfg.stale_after_ms);
            }
        }
    }
    a->sweeping = false;
    event_del(a->ev_deadline);
    a->sweeps++;
    log_sweep(a);
    if (rc_log_enabled(RC_LOG_DEBUG)) {
        size_t alive = 0;
        for (size_t i = 0; i < a->npeers; i++)
            alive += a->peers[i].alive;
        struct rc_log_field f[] = {
            RC_LF_S("self", a->cfg.name),
            RC_LF_I("sweep", (int64_t)a->sweeps),
            RC_LF_I("peers", (int64_t)a->npeers),
            RC_LF_I("alive", (int64_t)alive),
            RC_LF_D("duration_ms", (double)(rc_now_mono_us() - a->sweep_started_us) / 1000.0),
        };
        rc_log_event(RC_LOG_DEBUG, "sweep_done", f, 5);
    }
    /* A member joined while this sweep ran: greet it now rather than at the
     * next tick (start_sweep applies the snapshot, so this cannot repeat). */
    if (a->pending && has_new_members(a, a->pending)) {
        start_sweep(a);
        arm_sweep_timer(a);
    }
}

static void ping_done(void *arg, enum rc_reason r, uint64_t rtt_us)
{
    struct peer *p = arg;
    struct agent *a = p->agent;
    p->ping = NULL;
    if (p->done)
        return;
    p->done = true;
    p->result = r;
    p->alive = r == RC_REASON_OK;
    if (p->alive) {
        p->rtt_us = rtt_us;
        log_state(a, p, PEER_UP, r);
    } else {
        p->reason = r;
        log_state(a, p, PEER_DOWN, r);
    }
    if (--a->outstanding == 0)
        finish_sweep(a);
}

static void start_sweep(struct agent *a)
{
    if (a->sweeping || a->stopping)
        return;
    if (a->pending) {
        apply_snapshot(a, a->pending);
        rc_snapshot_free(a->pending);
        a->pending = NULL;
    }
    a->sweeping = true;
    a->outstanding = 0;
    a->sweep_started_us = rc_now_mono_us();
    for (size_t i = 0; i < a->npeers; i++) {
        struct peer *p = &a->peers[i];
        p->done = false;
        p->alive = false;
        p->ping = NULL;
        p->agent = a;
        if (!p->se.ip[0]) {
            p->done = true;
            p->result = RC_REASON_RESOLVE_FAILED;
            log_state(a, p, PEER_DOWN, RC_REASON_RESOLVE_FAILED);
            continue;
        }
        a->outstanding++;
        int r = rc_node_ping(a->node, p->se.e.name, p->se.ip, p->se.e.port, a->cfg.ping_timeout_ms,
                             ping_done, p, &p->ping);
        if (r != 0) {
            a->outstanding--;
            p->done = true;
            p->result = RC_REASON_PROTOCOL_ERROR;
            log_state(a, p, PEER_DOWN, p->result);
        }
    }
    if (a->outstanding == 0) {
        finish_sweep(a);
        return;
    }
    uint64_t ms = a->cfg.ping_timeout_ms + SWEEP_SLACK_MS;
    struct timeval tv = {.tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000};
    event_add(a->ev_deadline, &tv);
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    finish_sweep(arg);
}

static void sweep_cb(evutil_socket_t fd, short what, void *arg)
{
    struct agent *a = arg;
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
}

static bool has_new_members(struct agent *a, const struct rc_snapshot *s)
{
    for (size_t i = 0; i < s->n; i++)
        if (!s->v[i].self && !find_peer(a, s->v[i].e.name))
            return true;
    return false;
}

/* Worker thread -> loop. */
static void notify_from_worker(void *arg)
{
    struct agent *a = arg;
    event_active(a->ev_snapshot, EV_READ, 0);
}

static void snapshot_cb(evutil_socket_t fd, short what, void *arg)
{
    struct agent *a = arg;
    struct rc_snapshot *s = rc_worker_take(a->worker);
    if (!s)
        return;
    rc_snapshot_free(a->pending);
    a->pending = s;
    if (!a->have_snapshot) {
        /* The first list is in: sweep now rather than an interval later. */
        a->have_snapshot = true;
        start_sweep(a);
        arm_sweep_timer(a);
    } else if (!a->sweeping && has_new_members(a, s)) {
        /* A node joined: greet it now, not up to an interval later. The
         * timer restarts so sweeps stay an interval apart. */
        start_sweep(a);
        arm_sweep_timer(a);
    }
}

static void peer_down_cb(void *arg, const char *name, enum rc_reason reason)
{
    struct agent *a = arg;
    struct peer *p = find_peer(a, name);
    if (!p)
        return;
    p->reason = reason;
    log_state(a, p, PEER_DOWN, reason);
}

/* A node reached us that our table does not know (a newcomer pinging
 * everyone it listed): read its entry now rather than at the next list. */
static void peer_in_cb(void *arg, const char *name)
{
    struct agent *a = arg;
    if (a->worker != NULL && strcmp(name, a->cfg.name) != 0 && find_peer(a, name) == NULL)
        rc_worker_lookup(a->worker, name);
}

static uint64_t heartbeat_of(const struct rc_config *c)
{
    return c->heartbeat_ms != 0 ? c->heartbeat_ms : rc_worker_default_heartbeat(c->stale_after_ms);
}

static void stop_cb(evutil_socket_t sig, short what, void *arg)
{
    struct agent *a = arg;
    rc_log_info("received %s, leaving the cluster", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    a->stopping = true;
    event_base_loopexit(a->base, NULL);
}

static void hup_cb(evutil_socket_t sig, short what, void *arg)
{
    struct agent *a = arg;
    struct rc_config next;
    char err[4096] = "";
    if (rc_config_reload(&a->cfg, &next, err, sizeof err) != 0) {
        rc_log_error("SIGHUP: configuration not applied, keeping the running one:");
        for (char *line = strtok(err, "\n"); line; line = strtok(NULL, "\n"))
            rc_log_error("  %s", line);
        return;
    }
    char lerr[256] = "";
    if (strcmp(next.log_file, a->cfg.log_file) != 0) {
        if (rc_log_open(next.log_file, lerr, sizeof lerr) != 0) {
            rc_log_error("SIGHUP: configuration not applied: %s", lerr);
            return;
        }
    } else if (rc_log_reopen(lerr, sizeof lerr) != 0) {
        rc_log_error("SIGHUP: cannot reopen the log: %s", lerr);
    }
    rc_log_set_level(next.log_level);
    rc_log_set_format(next.log_format);
    if (strcmp(next.name, a->cfg.name) || strcmp(next.registry, a->cfg.registry) ||
        next.epmd != a->cfg.epmd || next.epmd_port != a->cfg.epmd_port ||
        next.dist_port_min != a->cfg.dist_port_min || next.dist_port_max != a->cfg.dist_port_max ||
        strcmp(next.cookie, a->cfg.cookie) || strcmp(next.cookie_file, a->cfg.cookie_file))
        rc_log_warn("SIGHUP: name, cookie, registry and port settings change only on restart");
    bool new_interval = next.interval_ms != a->cfg.interval_ms;
    a->cfg.interval_ms = next.interval_ms;
    a->cfg.ping_timeout_ms = next.ping_timeout_ms;
    a->cfg.stale_after_ms = next.stale_after_ms;
    a->cfg.prune_after_ms = next.prune_after_ms;
    a->cfg.heartbeat_ms = next.heartbeat_ms;
    a->cfg.resync_ms = next.resync_ms;
    rc_worker_set_store_timing(a->worker, heartbeat_of(&a->cfg), a->cfg.resync_ms);
    a->cfg.log_level = next.log_level;
    a->cfg.log_format = next.log_format;
    snprintf(a->cfg.log_file, sizeof a->cfg.log_file, "%s", next.log_file);
    if (new_interval) {
        rc_worker_set_interval(a->worker, a->cfg.interval_ms);
        if (a->have_snapshot)
            arm_sweep_timer(a);
    }
    rc_log_info("SIGHUP: configuration reloaded (interval %llums, ping_timeout %llums)",
                (unsigned long long)a->cfg.interval_ms, (unsigned long long)a->cfg.ping_timeout_ms);
}

int rc_agent_run(const struct rc_config *cfg, const uint8_t *cookie, size_t cookie_len)
{
    int rc = 1;
    char err[512] = "";
    struct agent *a = calloc(1, sizeof *a);
    if (!a) {
        rc_log_error("out of memory");
        return 1;
    }
    a->cfg = *cfg;
    evthread_use_pthreads();
    signal(SIGPIPE, SIG_IGN);
    a->base = event_base_new();
    if (!a->base) {
        rc_log_error("cannot create the event loop");
        goto out_free;
    }

    struct rc_node_opts o = {
        .name = cfg->name,
        .cookie = cookie,
        .cookie_len = cookie_len,
        .listen = true,
        .epmd = cfg->epmd,
        .epmd_port = cfg->epmd_port,
        .port_min = cfg->dist_port_min,
        .port_max = cfg->dist_port_max,
        .epmd_check_ms = cfg->interval_ms,
    };
    a->node = rc_node_new(a->base, &o, err, sizeof err);
    if (!a->node) {
        rc_log_error("%s", err);
        goto out_base;
    }
    rc_node_on_peer_down(a->node, peer_down_cb, a);
    rc_node_on_peer_in(a->node, peer_in_cb, a);

    struct rc_entry self;
    memset(&self, 0, sizeof self);
    snprintf(self.name, sizeof self.name, "%s", cfg->name);
    snprintf(self.host, sizeof self.host, "%s", strchr(cfg->name, '@') + 1);
    self.port = rc_node_port(a->node);
    self.started_at_ms = rc_now_wall_ms();

    a->ev_snapshot = event_new(a->base, -1, 0, snapshot_cb, a);
    a->ev_sweep = event_new(a->base, -1, EV_PERSIST, sweep_cb, a);
    a->ev_deadline = evtimer_new(a->base, deadline_cb, a);
    a->ev_term = evsignal_new(a->base, SIGTERM, stop_cb, a);
    a->ev_int = evsignal_new(a->base, SIGINT, stop_cb, a);
    a->ev_hup = evsignal_new(a->base, SIGHUP, hup_cb, a);
    if (!a->ev_snapshot || !a->ev_sweep || !a->ev_deadline || !a->ev_term || !a->ev_int ||
        !a->ev_hup) {
        rc_log_error("out of memory");
        goto out_events;
    }
    event_add(a->ev_term, NULL);
    event_add(a->ev_int, NULL);
    event_add(a->ev_hup, NULL);

    char masked[RC_URL_MAX];
    rc_registry_mask_url(cfg->registry, masked, sizeof masked);
    rc_log_info("rollcall %s starting as %s (distribution port %u, epmd %s, registry %s)",
                ROLLCALL_VERSION, cfg->name, rc_node_port(a->node),
                cfg->epmd == RC_EPMD_AUTO       ? "auto"
                : cfg->epmd == RC_EPMD_SYSTEM   ? "system"
                : cfg->epmd == RC_EPMD_EMBEDDED ? "embedded"
                                                : "off",
                masked);

    a->worker = rc_worker_start(cfg->registry, &self, cfg->interval_ms, notify_from_worker, a, err,
                                sizeof err);
    if (!a->worker) {
        rc_log_error("%s", err);
        goto out_events;
    }
    rc_worker_set_store_timing(a->worker, heartbeat_of(cfg), cfg->resync_ms);
    if (heartbeat_of(cfg) >= cfg->stale_after_ms)
        rc_log_warn("heartbeat (%llums) is not below stale_after (%llums): our entry will look "
                    "stale between heartbeats",
                    (unsigned long long)heartbeat_of(cfg), (unsigned long long)cfg->stale_after_ms);

    event_base_dispatch(a->base);
    rc = 0;

    /* Leave: our entry first (so listers stop seeing us), then the
     * connections (so peers see us go at once). */
    rc_worker_stop(a->worker, true);
    a->worker = NULL;
    for (size_t i = 0; i < a->npeers; i++)
        rc_ping_cancel(a->peers[i].ping);

out_events:
    rc_worker_stop(a->worker, false);
    rc_node_free(a->node);
    a->node = NULL;
    struct event **evs[] = {&a->ev_snapshot, &a->ev_sweep, &a->ev_deadline,
                            &a->ev_term,     &a->ev_int,   &a->ev_hup};
    for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++)
        if (*evs[i])
            event_free(*evs[i]);
out_base:
    rc_node_free(a->node);
    event_base_free(a->base);
out_free:
    rc_snapshot_free(a->pending);
    free(a->peers);
    free(a);
    return rc;
}

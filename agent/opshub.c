/*
 * opshub.c - the operations hub (contract in opshub.h).
 */
#include "rollcall/opshub.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "rollcall/health.h"
#include "rollcall/hooks.h"
#include "rollcall/log.h"
#include "rollcall/metrics.h"
#include "rollcall/notify.h"
#include "rollcall/ops.h"

#define COOKIE_WARN_EVERY_MS (10 * 60 * 1000)

struct rc_opshub {
    struct event_base *base;
    char self[RC_NAME_MAX + 1];
    unsigned expect;
    const struct rc_peers *peers;
    struct rc_metrics *metrics;
    struct rc_ops *ops;     /* NULL: no HTTP endpoint */
    struct rc_hooks *hooks; /* NULL: no hook */
    struct event *ev_watchdog;
    struct rc_ops_peer *view; /* reused by view() */
    size_t view_cap;
    uint64_t sweeps;
    int64_t start_time_s;
    bool ready_sent;
    char status[200];
    /* the registry, as the worker last reported it */
    bool reg_known, reg_ok, self_listed;
    char reg_error[256];
    /* the cookie trap */
    bool cookie_warned;
    uint64_t cookie_warned_ms;
};

static void emit_event(struct rc_opshub *h, enum rc_event_type t, const char *node,
                       const char *reason, double rtt_ms)
{
    struct rc_event ev;
    rc_event_init(&ev, t, node, reason, rtt_ms, rc_now_wall_ms());
    rc_hooks_emit(h->hooks, &ev);
    rc_ops_event(h->ops, &ev, h->self);
}

void rc_opshub_change(struct rc_opshub *h, const struct rc_peer_change *c)
{
    if (h == NULL || c->quiet)
        return;
    switch (c->ev) {
    case RC_PEER_EV_UP:
        rc_metrics_change(h->metrics, RC_CHANGE_UP);
        emit_event(h, RC_EV_PEER_UP, c->name, NULL, (double)c->rtt_us / 1000.0);
        return;
    case RC_PEER_EV_DOWN:
        rc_metrics_change(h->metrics, RC_CHANGE_DOWN);
        emit_event(h, RC_EV_PEER_DOWN, c->name, rc_reason_str(c->reason), -1);
        return;
    case RC_PEER_EV_LEFT:
        rc_metrics_change(h->metrics, RC_CHANGE_LEFT);
        emit_event(h, RC_EV_PEER_LEFT, c->name, NULL, -1);
        return;
    case RC_PEER_EV_PRUNED:
        rc_metrics_change(h->metrics, RC_CHANGE_PRUNED);
        emit_event(h, RC_EV_PEER_PRUNED, c->name, NULL, -1);
        return;
    default:
        return; /* a change with no event of its own (yet) */
    }
}

void rc_opshub_verdict(struct rc_opshub *h, const struct rc_verdict *v)
{
    if (h != NULL && !v->ok)
        rc_metrics_ping_failed(h->metrics, v->reason);
}

/* The facts /readyz and /metrics read, from the loop's own table. */
static void view(void *arg, struct rc_ops_view *v)
{
    struct rc_opshub *h = arg;
    const struct rc_peers *t = h->peers;
    size_t i;
    if (t->n > h->view_cap) {
        struct rc_ops_peer *nv = realloc(h->view, t->n * sizeof *nv);
        if (nv != NULL) {
            h->view = nv;
            h->view_cap = t->n;
        }
    }
    memset(v, 0, sizeof *v);
    v->self = h->self;
    v->peers = h->view;
    v->npeers = t->n <= h->view_cap ? t->n : 0;
    for (i = 0; i < v->npeers; i++) {
        const struct rc_peer *p = &t->v[i];
        struct rc_ops_peer *o = &h->view[i];
        o->name = p->se.e.name;
        o->ip = p->se.ip;
        o->port = p->se.e.port;
        o->up = p->state == RC_PEER_UP;
        o->known = p->state != RC_PEER_UNKNOWN;
        o->rtt_ms = p->rtt_us != 0 ? (double)p->rtt_us / 1000.0 : -1;
        o->reason = p->state == RC_PEER_DOWN ? rc_reason_str(p->reason) : "";
        o->age_ms = p->se.e.age_ms;
        if (p->state == RC_PEER_DOWN && p->reason == RC_REASON_COOKIE_REJECTED)
            v->cookie_rejects++;
    }
    v->sweeps = h->sweeps;
    v->registry_ok = h->reg_known && h->reg_ok;
    v->registry_error = h->reg_known ? h->reg_error : "no round trip yet";
    v->self_listed = h->self_listed;
    v->expect = h->expect;
    v->start_time_s = h->start_time_s;
}

static void send_status(struct rc_opshub *h, size_t answering, size_t peers)
{
    char st[200];
    rc_notify_status(st, sizeof st, answering, peers,
                     h->reg_known && !h->reg_ok ? "registry unavailable" : NULL);
    if (strcmp(st, h->status) == 0)
        return;
    snprintf(h->status, sizeof h->status, "%s", st);
    rc_notify(st);
}

void rc_opshub_sweep(struct rc_opshub *h, double seconds)
{
    struct rc_ops_view v;
    size_t i, answering = 0;
    struct rc_health_in in;
    if (h == NULL)
        return;
    h->sweeps++;
    rc_metrics_sweep(h->metrics, seconds);
    view(h, &v);
    for (i = 0; i < v.npeers; i++)
        answering += v.peers[i].up ? 1 : 0;
    if (!h->ready_sent) {
        /* READY=1 after the first sweep: the node answers pings and has
         * judged the members it knows. */
        char st[200];
        h->ready_sent = true;
        rc_notify_status(st, sizeof st, answering, v.npeers, NULL);
        snprintf(h->status, sizeof h->status, "%s", st);
        {
            char msg[224];
            snprintf(msg, sizeof msg, "READY=1\n%s", st);
            rc_notify(msg);
        }
    } else {
        send_status(h, answering, v.npeers);
    }
    memset(&in, 0, sizeof in);
    in.answering = answering;
    in.cookie_rejects = v.cookie_rejects;
    in.peers = v.npeers;
    if (rc_health_cookie_rejected_by_all(&in)) {
        uint64_t now = rc_now_mono_ms();
        if (!h->cookie_warned || now - h->cookie_warned_ms >= COOKIE_WARN_EVERY_MS) {
            rc_log_warn("every peer that answered (%zu of %zu) rejects our cookie: this node has "
                        "another cookie than the cluster; set ROLLCALL_COOKIE (or cookie / "
                        "cookie_file in the ini) to the cluster's cookie",
                        v.cookie_rejects, v.npeers);
            h->cookie_warned = true;
            h->cookie_warned_ms = now;
        }
    } else if (answering != 0 && h->cookie_warned) {
        h->cookie_warned = false;
        rc_log_info("peers accept our cookie now (%zu answer)", answering);
    }
}

void rc_opshub_registry(struct rc_opshub *h, bool ok, const char *error, bool self_listed)
{
    bool was_known, was_ok;
    if (h == NULL)
        return;
    was_known = h->reg_known;
    was_ok = h->reg_ok;
    h->reg_known = true;
    h->reg_ok = ok;
    h->self_listed = ok ? self_listed : h->self_listed;
    snprintf(h->reg_error, sizeof h->reg_error, "%s", ok ? "" : (error != NULL ? error : ""));
    rc_metrics_registry_up(h->metrics, ok);
    if (!ok && !h->ready_sent) {
        /* No list, so no sweep yet: the daemon is up all the same (it
         * answers pings, it will sweep once the registry answers). Telling
         * systemd so keeps a registry that starts after us from failing the
         * unit's start; /readyz still says "registry". */
        char st[200], msg[224];

        h->ready_sent = true;
        rc_notify_status(st, sizeof st, 0, h->peers->n, "registry unavailable");
        snprintf(h->status, sizeof h->status, "%s", st);
        snprintf(msg, sizeof msg, "READY=1\n%s", st);
        rc_notify(msg);
    }
    if (!ok && (!was_known || was_ok))
        emit_event(h, RC_EV_REGISTRY_DOWN, NULL, h->reg_error, -1);
    else if (ok && was_known && !was_ok)
        emit_event(h, RC_EV_REGISTRY_UP, NULL, NULL, -1);
}

void rc_opshub_stopping(struct rc_opshub *h)
{
    if (h != NULL)
        rc_notify("STOPPING=1");
}

static void watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
    /* Sent from the loop: a loop that stopped turning stops the pings, and
     * systemd restarts the unit. */
    rc_notify("WATCHDOG=1");
}

struct rc_opshub *rc_opshub_new(struct event_base *base, const struct rc_config *cfg,
                                const struct rc_peers *peers, char *err, size_t errlen)
{
    struct rc_opshub *h = calloc(1, sizeof *h);
    uint64_t wd = rc_notify_watchdog_ms();
    if (h == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    h->base = base;
    snprintf(h->self, sizeof h->self, "%s", cfg->name);
    h->expect = cfg->expect;
    h->peers = peers;
    h->start_time_s = rc_now_wall_ms() / 1000;
    h->metrics = rc_metrics_new();
    if (h->metrics == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (cfg->http[0] != '\0') {
        h->ops = rc_ops_new(base, cfg->http, h->metrics, view, h, err, errlen);
        if (h->ops == NULL)
            goto fail;
        rc_log_info("http: listening on %s (/metrics /healthz /readyz /members /events)",
                    cfg->http);
    }
    if (cfg->on_event[0] != '\0') {
        uint32_t mask = RC_EV_ALL;
        struct rc_hooks_opts o = {.script = cfg->on_event,
                                  .mask = 0,
                                  .timeout_ms = cfg->hook_timeout_ms,
                                  .self = cfg->name,
                                  .metrics = h->metrics};
        if (rc_event_filter_parse(cfg->on_event_filter, &mask, err, errlen) != 0)
            goto fail; /* validated with the configuration already */
        o.mask = mask;
        h->hooks = rc_hooks_new(base, &o, err, errlen);
        if (h->hooks == NULL)
            goto fail;
    }
    if (wd != 0) {
        struct timeval tv = {.tv_sec = (time_t)(wd / 1000),
                             .tv_usec = (suseconds_t)(wd % 1000) * 1000};
        h->ev_watchdog = event_new(base, -1, EV_PERSIST, watchdog_cb, h);
        if (h->ev_watchdog == NULL) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        event_add(h->ev_watchdog, &tv);
        rc_notify("WATCHDOG=1");
    }
    return h;
fail:
    rc_opshub_free(h);
    return NULL;
}

void rc_opshub_free(struct rc_opshub *h)
{
    if (h == NULL)
        return;
    if (h->ev_watchdog != NULL)
        event_free(h->ev_watchdog);
    rc_hooks_free(h->hooks);
    rc_ops_free(h->ops);
    rc_metrics_free(h->metrics);
    free(h->view);
    free(h);
}

struct rc_metrics *rc_opshub_metrics(struct rc_opshub *h)
{
    return h != NULL ? h->metrics : NULL;
}

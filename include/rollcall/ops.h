/*
 * ops.h - the operator's endpoint: what the agent serves over HTTP
 * (agent/http_ops.c) and `rollcall monitor` (agent/http_monitor.c).
 *
 *   GET /metrics   Prometheus text format (metrics.h)
 *   GET /healthz   200 {"status":"ok",...} while the loop turns (it answers
 *                  from the loop, so a stuck loop answers nothing)
 *   GET /readyz    200 or 503 with the JSON body of health.h
 *   GET /members   the agent's current view as JSON, no new pings
 *   GET /events    a stream of event lines (hooks.h), one JSON object per
 *                  line, until the client hangs up
 *
 * The agent owns the facts; each request asks for them through view(),
 * which fills an rc_ops_view whose pointers stay valid until the next call.
 */
#ifndef ROLLCALL_OPS_H
#define ROLLCALL_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "rollcall/hooks.h"

struct event_base;
struct rc_metrics;
struct rc_ops;

struct rc_ops_peer {
    const char *name;
    const char *ip; /* "" if unresolved */
    uint16_t port;
    bool up;
    bool known;         /* pinged at least once */
    double rtt_ms;      /* last successful round trip; < 0 if never */
    const char *reason; /* of the last failure, "" if none */
    int64_t age_ms;     /* since the entry's last update, registry clock */
};

struct rc_ops_view {
    const char *self;
    const struct rc_ops_peer *peers;
    size_t npeers;
    uint64_t sweeps;
    bool registry_ok;
    const char *registry_error;
    bool self_listed;
    unsigned expect;
    size_t cookie_rejects; /* peers whose last ping failed with cookie_rejected */
    int64_t start_time_s;
};

typedef void (*rc_ops_view_fn)(void *arg, struct rc_ops_view *v);

/* Listens on addr (HOST:PORT, numeric). metrics may be NULL (then /metrics
 * holds only the loop's gauges). NULL with err set on failure. */
struct rc_ops *rc_ops_new(struct event_base *base, const char *addr, struct rc_metrics *metrics,
                          rc_ops_view_fn view, void *arg, char *err, size_t errlen);
void rc_ops_free(struct rc_ops *o); /* NULL is fine */
uint16_t rc_ops_port(const struct rc_ops *o);
/* Sends ev to every /events stream. NULL o is fine. */
void rc_ops_event(struct rc_ops *o, const struct rc_event *ev, const char *self);
/* The readiness verdict for a view (what /readyz would answer). */
bool rc_ops_ready(const struct rc_ops_view *v, char *json, size_t cap);

/* `rollcall monitor`: connects to the agent's endpoint at addr (an
 * all-interfaces address is reached on loopback), prints every event line
 * to out until the agent closes or max_lines (0 = no limit) were printed.
 * Returns the exit code: 0 after max_lines, 1 otherwise, with the reason on
 * stderr. */
int rc_monitor_run(const char *addr, FILE *out, unsigned max_lines);
/* `rollcall ready`: GET /readyz from the agent at addr, its JSON body to
 * out. Returns the exit code: 0 when the agent answers 200, 1 otherwise
 * (503, no agent, no answer within 3 s). The container's HEALTHCHECK. */
int rc_ready_run(const char *addr, FILE *out);

#endif

/*
 * metrics.h - the agent's counters, gauges and histograms, rendered in the
 * Prometheus text exposition format 0.0.4 (agent/metrics.c).
 *
 * One fixed set of series (no registry of names at run time): what an
 * operator of a membership agent asks for, named rollcall_*. Durations are
 * in seconds, as Prometheus wants. The loop and the registry worker both
 * record (one mutex; each record is a few additions); per-peer series are
 * not stored here but passed in at render time from the agent's own peer
 * table, so a peer that leaves leaves /metrics too.
 *
 * Label values are escaped as the format requires (\\, \", \n), so a node
 * name read from the registry cannot break a line.
 */
#ifndef ROLLCALL_METRICS_H
#define ROLLCALL_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rollcall/reason.h"

struct evbuffer;
struct rc_metrics;

/* Registry operations with their own duration histogram and error counter. */
enum rc_metric_regop { RC_REGOP_OPEN = 0, RC_REGOP_PUBLISH, RC_REGOP_LIST, RC_REGOP_REMOVE };
#define RC_REGOP_COUNT 4
/* State changes, as the events name them. */
enum rc_metric_change { RC_CHANGE_UP = 0, RC_CHANGE_DOWN, RC_CHANGE_PRUNED, RC_CHANGE_LEFT };
#define RC_CHANGE_COUNT 4
/* Room for every enum rc_reason (reason.h grows; the renderer stops at the
 * first value rc_reason_str does not know). */
#define RC_REASON_SLOTS 32

struct rc_metrics *rc_metrics_new(void);
void rc_metrics_free(struct rc_metrics *m); /* NULL is fine */

/* Each recorder is thread-safe; m == NULL does nothing (metrics off). */
void rc_metrics_sweep(struct rc_metrics *m, double seconds);
void rc_metrics_regop(struct rc_metrics *m, enum rc_metric_regop op, double seconds, bool ok);
void rc_metrics_entries(struct rc_metrics *m, uint64_t listed, uint64_t rejected);
void rc_metrics_ping_failed(struct rc_metrics *m, enum rc_reason why);
void rc_metrics_change(struct rc_metrics *m, enum rc_metric_change what);
void rc_metrics_registry_up(struct rc_metrics *m, bool up);
/* Hooks: started, finished with a nonzero status, killed at the timeout,
 * events coalesced while the hooks were behind. */
enum rc_metric_hook { RC_HOOK_RUN = 0, RC_HOOK_FAILED, RC_HOOK_KILLED, RC_HOOK_COALESCED };
void rc_metrics_hook(struct rc_metrics *m, enum rc_metric_hook what, uint64_t n);

/* One peer's row at render time. */
struct rc_metrics_peer {
    const char *name;
    bool up;
    bool known;   /* pinged at least once */
    double rtt_s; /* last successful round trip; < 0 if never */
};
/* Everything else that is a gauge of the loop's state at render time. */
struct rc_metrics_state {
    const char *self;
    const char *version;
    const struct rc_metrics_peer *peers;
    size_t npeers;
    uint64_t sweeps;
    bool ready;
    int64_t start_time_s; /* unix */
    /* the HTTP endpoint's own counters */
    uint64_t http_requests, http_bad, http_refused;
};

/* Appends the whole exposition to out. 0, or -ENOMEM. */
int rc_metrics_render(struct rc_metrics *m, const struct rc_metrics_state *st,
                      struct evbuffer *out);

/* The fixed bucket bounds (seconds) of every duration histogram. */
extern const double rc_metrics_buckets[];
extern const size_t rc_metrics_nbuckets;

#endif

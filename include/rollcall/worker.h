/*
 * worker.h - the registry worker thread (agent/worker.c).
 *
 * All registry I/O and host-name resolution happen here, never on the
 * network loop: a slow or dead registry cannot stop this node from
 * answering pings. The worker writes our own entry when it changes and
 * every heartbeat, lists the registry when the backend's change signal
 * fires and every resync (every interval on a backend without a signal),
 * resolves each entry's host to a numeric address, and hands the loop a
 * snapshot every interval (ages advanced between lists). On a registry error the loop keeps the
 * last good snapshot (an error is never an empty list); the outage and the recovery are logged once
 * each. Rejected entries are logged rate-limited, once per entry per 10 minutes.
 */
#ifndef ROLLCALL_WORKER_H
#define ROLLCALL_WORKER_H

#include <stdbool.h>
#include <stdint.h>

#include "rollcall/registry.h"

struct event_base;
struct rc_worker;

#define RC_IP_MAX 46 /* INET6_ADDRSTRLEN */

struct rc_snap_entry {
    struct rc_entry e;
    char ip[RC_IP_MAX]; /* numeric; "" if the host did not resolve */
    bool self;
    uint64_t read_at_ms; /* monotonic: when e.age_ms was current */
    /* What the store itself last said: the entry's age then, and when
     * (monotonic). Between reads e.age_ms is that age plus the time since,
     * which may call stale an entry whose heartbeats the store has had all
     * along (a heartbeat is not a change: nobody lists for it). 0 = not
     * known (every snapshot the worker makes sets them). */
    int64_t store_age_ms;
    uint64_t store_read_ms;
};

struct rc_snapshot {
    struct rc_snap_entry *v; /* sorted by name */
    size_t n;
    uint64_t seq;
};
void rc_snapshot_free(struct rc_snapshot *s); /* NULL is fine */

/* Resolves host (numeric or a name) to a numeric address, preferring IPv4.
 * Blocking: call it off the loop. */
int rc_resolve_host(const char *host, char *out, size_t outlen);

/* Starts the thread. notify(arg) is called from the worker thread after each
 * new snapshot; it must only wake the loop (event_active). The registry is
 * opened by the thread itself (and reopened after errors). */
struct rc_metrics;
/* metrics (may be NULL) gets the duration and outcome of every registry
 * operation, and the entries of every list. */
struct rc_worker *rc_worker_start(const char *registry_url, const struct rc_entry *self,
                                  uint64_t interval_ms, void (*notify)(void *), void *arg,
                                  struct rc_metrics *metrics, char *err, size_t errlen);
/* The outcome of the last round trip, for readiness and the registry
 * events: gen grows whenever it changes (notify() is called then too, a
 * failure included). -EAGAIN (and gen 0) before the first round trip. */
struct rc_worker_status {
    bool ok;          /* publish and list succeeded */
    bool self_listed; /* our own entry was in the list */
    char error[256];  /* "step: why" when !ok */
    uint64_t gen;
};
int rc_worker_status(struct rc_worker *w, struct rc_worker_status *out);
/* The newest snapshot not yet taken, or NULL. The caller frees it. */
struct rc_snapshot *rc_worker_take(struct rc_worker *w);
/* Asks the worker to remove an entry that is still at least min_age_ms old
 * (two-stage expiry). Runs before the next publish. age_ms is the entry's
 * age when the table asked, for the announcement. */
void rc_worker_prune(struct rc_worker *w, const char *name, int64_t min_age_ms, int64_t age_ms);
/* A prune that took: the store removed the entry on our request (backend.h,
 * remove returned 1). One that did not (refreshed meanwhile, or another
 * agent removed it first) is never reported. */
struct rc_pruned {
    char name[RC_NAME_MAX + 1];
    int64_t age_ms; /* as passed to rc_worker_prune */
};
/* Moves up to max prunes that took into out (in no particular order: one
 * round's removals happen together); returns how many. A prune is queued
 * here before the snapshot that no longer lists the entry is handed over,
 * so the loop, taking these right after a snapshot, announces a prune
 * before the table sees the member leave. */
size_t rc_worker_take_pruned(struct rc_worker *w, struct rc_pruned *out, size_t max);
void rc_worker_set_interval(struct rc_worker *w, uint64_t interval_ms);
/* How often our entry is rewritten unchanged and the registry listed in
 * full (0 = every interval, the behaviour without these keys). */
void rc_worker_set_store_timing(struct rc_worker *w, uint64_t heartbeat_ms, uint64_t resync_ms);
/* The heartbeat key's default: half of stale_after, so an entry is never
 * stale while its agent lives, even with one heartbeat lost. */
uint64_t rc_worker_default_heartbeat(uint64_t stale_after_ms);
/* A node reached us (an inbound connection) that the table does not know:
 * read its entry alone soon (rate-limited, at most LOOKUP_MAX queued).
 * Any thread; does no I/O. */
void rc_worker_lookup(struct rc_worker *w, const char *name);
/* The table is about to judge name's entry stale on ages counted since the
 * store last spoke: read it alone again (even though it is in the view), so
 * that staleness is the store's word. Same queue and limits as
 * rc_worker_lookup. Any thread; does no I/O. */
void rc_worker_recheck(struct rc_worker *w, const char *name);
/* App mode: publish e beside our own entry every round, from a round that
 * starts at once. It is marked self in snapshots, and removed with ours by
 * rc_worker_stop(w, true). */
void rc_worker_set_extra(struct rc_worker *w, const struct rc_entry *e);
/* Stops publishing name (if it is the extra) and removes it, in a round that
 * starts at once: a withdrawn app, or a stale entry of it from an earlier
 * run. */
void rc_worker_withdraw(struct rc_worker *w, const char *name);
/* Stops and joins the thread; if remove_self, removes our entry first
 * (bounded by the backend's own timeouts). NULL is fine. */
void rc_worker_stop(struct rc_worker *w, bool remove_self);

#endif

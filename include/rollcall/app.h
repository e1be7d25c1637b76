/*
 * app.h - app mode: the agent looks after one BEAM node, the app
 * (agent/app.c, docs/app.md).
 *
 * The watcher pings the app (every interval while it answers, every
 * interval / 4 but at least 100 ms while it does not) and says through the
 * publish callback when its entry must be written (the app answers) or
 * withdrawn (it does not). The connector, after each sweep and when the app
 * comes up, reads the app's nodes() and asks it (rex calls, rpc.h) to
 * connect to every live peer app it lacks, in parallel, each bounded by
 * ping_timeout, with a back-off per peer after a failure; optionally to drop
 * peers that left or were pruned; optionally it tells a registered process
 * on the app of each peer app that went down.
 *
 * The sweep feeds it: the peers after every sweep (rc_app_sweep_done), state
 * changes as they happen (rc_app_peer_event), and a lost connection to the
 * app itself (rc_app_conn_lost). Runs on the loop thread only; logs its own
 * events (app_up, app_down, app_connect, app_disconnect, app_view).
 */
#ifndef ROLLCALL_APP_H
#define ROLLCALL_APP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rollcall/reason.h"
#include "rollcall/registry.h"

struct event_base;
struct rc_node;
struct rc_app;

#define RC_APP_BACKOFF_MAX_MS 30000

struct rc_app_opts {
    const char *self;     /* the agent's own node name, for logs */
    const char *app_node; /* validated node name */
    uint16_t app_port;    /* 0 = ask EPMD */
    uint64_t interval_ms, ping_timeout_ms;
    bool disconnect;    /* app_disconnect */
    const char *notify; /* registered name for peer_down messages; "" = off */
};

/* The app's entry must be written (e != NULL, every interval until told
 * otherwise) or withdrawn (e == NULL, removed from the registry now). */
typedef void (*rc_app_publish_cb)(void *arg, const struct rc_entry *e);

/* A peer as the sweep knows it. */
struct rc_app_peer {
    const char *name;
    enum rc_entry_kind kind;
    bool up; /* answered this agent's pings, now */
};

enum rc_app_event { RC_APP_PEER_UP, RC_APP_PEER_DOWN, RC_APP_PEER_LEFT, RC_APP_PEER_PRUNED };

/* Takes over the node's message hook (for rex replies). NULL with err. */
struct rc_app *rc_app_new(struct event_base *base, struct rc_node *node,
                          const struct rc_app_opts *o, rc_app_publish_cb publish, void *arg,
                          char *err, size_t errlen);
/* Stops everything (no callbacks, no publish). NULL is fine. */
void rc_app_free(struct rc_app *a);

/* After each sweep: every peer of the registry (not the agent itself, not
 * the app). Starts the connector if the app is up. */
void rc_app_sweep_done(struct rc_app *a, const struct rc_app_peer *peers, size_t n);
/* A peer changed state (reason: for DOWN; ignored otherwise). */
void rc_app_peer_event(struct rc_app *a, const char *name, enum rc_app_event ev,
                       enum rc_reason reason);
/* The node lost its connection to the app. */
void rc_app_conn_lost(struct rc_app *a, enum rc_reason reason);
/* Leaving (SIGTERM, the child exited): withdraws the entry and stops
 * watching; the caller stops the worker afterwards. */
void rc_app_leave(struct rc_app *a);
/* Interval or ping_timeout changed (SIGHUP). */
void rc_app_set_timing(struct rc_app *a, uint64_t interval_ms, uint64_t ping_timeout_ms);

const char *rc_app_name(const struct rc_app *a);
bool rc_app_is_up(const struct rc_app *a);

#endif

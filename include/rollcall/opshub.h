/*
 * opshub.h - the agent's operations hub (agent/opshub.c): everything an
 * operator sees besides the log, fed by the agent loop at a few points.
 *
 *   rc_opshub_change    every change of the peer table (the sweep's one
 *                       sink): state-change counters, the event to the hook
 *                       runner and to /events streams
 *   rc_opshub_verdict   every ping verdict: failures by reason
 *   rc_opshub_sweep     a finished sweep: its duration, READY=1 after the
 *                       first (or after the registry's first failure: the
 *                       daemon is up, /readyz says what it waits for), STATUS "N of M peers
 * answer", the warning when every peer that answered rejects our cookie rc_opshub_registry  the
 * worker's last round trip: registry_down / registry_up events, the readiness facts
 *   rc_opshub_stopping  STOPPING=1
 *
 * It owns the metrics (handed to the registry worker, which records its
 * operation durations and errors), the HTTP endpoint (when cfg->http is
 * set), the hook runner (when cfg->on_event is set) and the systemd
 * watchdog timer (when WATCHDOG_USEC asks for one). It reads the peer table
 * the loop owns (rc_opshub_new's peers) only on the loop, when a request
 * comes in. Everything runs on the loop thread.
 */
#ifndef ROLLCALL_OPSHUB_H
#define ROLLCALL_OPSHUB_H

#include <stdbool.h>
#include <stddef.h>

#include "rollcall/config.h"
#include "rollcall/peers.h"

struct event_base;
struct rc_metrics;
struct rc_opshub;

/* NULL with err set when the endpoint cannot listen or the hook is not an
 * executable file. */
struct rc_opshub *rc_opshub_new(struct event_base *base, const struct rc_config *cfg,
                                const struct rc_peers *peers, char *err, size_t errlen);
void rc_opshub_free(struct rc_opshub *h); /* NULL is fine */
struct rc_metrics *rc_opshub_metrics(struct rc_opshub *h);

void rc_opshub_change(struct rc_opshub *h, const struct rc_peer_change *c);
void rc_opshub_verdict(struct rc_opshub *h, const struct rc_verdict *v);
void rc_opshub_sweep(struct rc_opshub *h, double seconds);
void rc_opshub_registry(struct rc_opshub *h, bool ok, const char *error, bool self_listed);
void rc_opshub_stopping(struct rc_opshub *h);

#endif

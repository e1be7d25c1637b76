/*
 * confirm.h - confirmation rounds for suspect peers, and the other side of
 * them: serving other agents' indirect probes (agent/confirm.c; the design
 * is argued in docs/detection.md).
 *
 * The peer table (peers.h) turns a timed-out ping into SUSPECT; the agent
 * loop then calls rc_confirm_suspect. A round is: one fresh ping of our own
 * (node.c replaces a connection stuck in retransmission back-off), and
 * indirect probes to up to RC_CONFIRM_HELPERS other agents over the
 * distribution connections we already hold. When every answer is in (or
 * the round's deadline passed) the evidence goes through rc_detect_decide
 * and the verdict through the peer table (rc_peers_confirm); the changes
 * come back through the emit callback, exactly like the sweep's. A round
 * without evidence either way leaves the peer suspect for another round:
 * the first RC_CONFIRM_FAST_ROUNDS back to back, then one per interval.
 *
 * Serving: a probe request is answered only when the asker and the target
 * are both registered members of our table; at most RC_CONFIRM_SERVE_PER_ASKER
 * at once per asker and RC_CONFIRM_SERVE_MAX in all (beyond: "busy"). The
 * answers we get while serving feed our own table too.
 *
 * Runs on the agent's loop thread; owns its events and pings.
 */
#ifndef ROLLCALL_CONFIRM_H
#define ROLLCALL_CONFIRM_H

#include <stdint.h>

#include "rollcall/detect.h"
#include "rollcall/peers.h"

#define RC_CONFIRM_HELPERS 3
#define RC_CONFIRM_ROUNDS_MAX 64 /* suspects confirmed at once; the rest wait their turn */
#define RC_CONFIRM_FAST_ROUNDS 3
#define RC_CONFIRM_SERVE_MAX 64
#define RC_CONFIRM_SERVE_PER_ASKER 8
#define RC_CONFIRM_HELPER_MISSES 3 /* rounds a helper left unanswered before we stop asking it */

struct event_base;
struct rc_node;
struct rc_confirm;

typedef void (*rc_confirm_emit_cb)(void *arg, const struct rc_peer_change *c);

struct rc_confirm_opts {
    const char *self;
    uint64_t interval_ms, ping_timeout_ms;
};

/* NULL on no memory. Registers itself as node's probe-message handler. */
struct rc_confirm *rc_confirm_new(struct event_base *base, struct rc_node *node,
                                  struct rc_peers *peers, const struct rc_confirm_opts *o,
                                  rc_confirm_emit_cb emit, void *arg);
/* Cancels every round and served probe. NULL is fine. */
void rc_confirm_free(struct rc_confirm *cf);

void rc_confirm_set_timing(struct rc_confirm *cf, uint64_t interval_ms, uint64_t ping_timeout_ms);

/* name turned suspect: confirm it (a round starts now, or when a slot frees). */
void rc_confirm_suspect(struct rc_confirm *cf, const char *name);

/* A sweep finished: pinged peers, of which timed_out timed out; the sweep
 * started lag_ms after its timer was due. Feeds local health. */
void rc_confirm_sweep_done(struct rc_confirm *cf, uint32_t pinged, uint32_t timed_out,
                           uint64_t lag_ms);

/* The ping deadline for p: RFC 6298 from its link's round trips, at least
 * ping_timeout, at most 90 % of the interval. */
uint64_t rc_confirm_deadline_ms(const struct rc_confirm *cf, const struct rc_peer *p);

int rc_confirm_health(const struct rc_confirm *cf);

#endif

/*
 * node.h - this process as an Erlang distribution node (erldist/node.c).
 *
 * A node owns the distribution listener, the EPMD keeper, and one
 * connection per peer name (inbound or outbound, never both for long). It
 * answers inbound pings and ticks by itself and pings peers on request. All
 * of it runs on one libevent base and never blocks: hosts given to
 * rc_node_ping must already be numeric addresses (the registry worker
 * resolves names).
 *
 * Callbacks: a ping callback runs exactly once unless the ping is cancelled,
 * and never from inside rc_node_ping itself (failures found at once are
 * delivered from the loop). Connections are persistent and ticked; an
 * established connection that closes reports RC_REASON_CONNECTION_LOST (or
 * the precise reason) through the peer-down callback at once.
 */
#ifndef ROLLCALL_NODE_H
#define ROLLCALL_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rollcall/epmd.h"
#include "rollcall/handshake.h"
#include "rollcall/reason.h"

struct event_base;
struct rc_node;
struct rc_ping;

/* Limits that keep a hostile peer bounded. */
#define RC_NODE_MAX_CONNS 4096            /* all connections, in and out */
#define RC_NODE_MAX_HANDSHAKES 256        /* inbound connections not yet through the handshake */
#define RC_NODE_HANDSHAKE_TIMEOUT_MS 7000 /* OTP's net_setuptime */
#define RC_NODE_TICK_MS 15000             /* send a tick after this long without writing */
#define RC_NODE_IDLE_MS 60000             /* close after this long without reading (net_ticktime) */
#define RC_NODE_OUT_MAX (1024 * 1024)     /* unsent bytes to a peer before we give up on it */
#define RC_NODE_PROBE_RATE 100            /* probe messages per second on one connection */

struct rc_node_opts {
    const char *name; /* full node name, validated */
    const uint8_t *cookie;
    size_t cookie_len;
    bool listen;                 /* false: outbound pings only (one-shot CLI) */
    enum rc_epmd_mode epmd;      /* ignored when !listen */
    uint16_t epmd_port;          /* where peers' EPMDs listen, and ours */
    uint16_t port_min, port_max; /* distribution listen range, 0,0 = any */
    uint64_t epmd_check_ms;      /* EPMD keeper re-check period (the interval) */
};

/* One descriptor per peer connection: lifts the process's soft
 * RLIMIT_NOFILE to the hard limit (at most 65536; systemd and shells often
 * start daemons at 1024). Call before rc_node_new, which sizes its
 * connection cap by the limit. */
void rc_node_raise_fd_limit(void);

/* Creates the node: binds the listener (when listen) and starts the EPMD
 * keeper. NULL with err on failure. */
struct rc_node *rc_node_new(struct event_base *base, const struct rc_node_opts *o, char *err,
                            size_t errlen);
/* Closes every connection and the listener; pending ping callbacks are not
 * called. NULL is fine. */
void rc_node_free(struct rc_node *n);

const char *rc_node_name(const struct rc_node *n);
uint16_t rc_node_port(const struct rc_node *n); /* 0 when not listening */
uint32_t rc_node_creation(const struct rc_node *n);

/* The peer-down callback: an established connection to peer closed. */
typedef void (*rc_peer_down_cb)(void *arg, const char *peer, enum rc_reason reason);
void rc_node_on_peer_down(struct rc_node *n, rc_peer_down_cb cb, void *arg);

/* A ping result: RC_REASON_OK with the round trip in microseconds (from the
 * call to the reply, including any connection set-up), or why not. */
typedef void (*rc_ping_cb)(void *arg, enum rc_reason reason, uint64_t rtt_us);

/* Pings peer at numeric address ip (IPv4 or IPv6); port 0 asks the EPMD on
 * ip:epmd_port first. Reuses an established connection, else connects and
 * handshakes, all within timeout_ms. Returns 0 and (if ret_ping) a handle,
 * or -EINVAL (bad name/ip), -ENOMEM, -EMFILE (connection limit). */
int rc_node_ping(struct rc_node *n, const char *peer, const char *ip, uint16_t port,
                 uint64_t timeout_ms, rc_ping_cb cb, void *arg, struct rc_ping **ret_ping);
/* Forgets a ping; its callback is never called. NULL is fine. */
void rc_ping_cancel(struct rc_ping *p);

/* Closes the connection to peer if any (a node that left the registry). No
 * peer-down callback is made for it. */
void rc_node_drop_peer(struct rc_node *n, const char *peer);

/* ---- detection under gray failure (docs/detection.md) ---- */

/* What the kernel says about the connection to a peer (TCP_INFO); all zero
 * but the flags when there is no established socket. -ENOENT: no
 * connection at all. */
struct rc_link_info {
    bool up, handshaking;
    uint32_t unacked;     /* segments sent and not acknowledged */
    uint32_t retransmits; /* of the oldest unacknowledged segment */
    uint32_t backoff;     /* exponential back-off steps of the retransmission timer */
    uint32_t rto_ms;
    uint32_t last_ack_recv_ms, last_data_recv_ms; /* ago */
};
int rc_node_link_info(const struct rc_node *n, const char *peer, struct rc_link_info *ret);

/* Indirect probe messages (include/rollcall/probe.h) arriving from peer on
 * an established connection; malformed ones and more than
 * RC_NODE_PROBE_RATE a second close that connection (without a peer-down
 * report) and never reach the callback. */
struct rc_probe;
typedef void (*rc_probe_msg_cb)(void *arg, const char *peer, const struct rc_probe *p);
void rc_node_on_probe(struct rc_node *n, rc_probe_msg_cb cb, void *arg);
/* Sends p to peer over its established connection: 0, -ENOTCONN (none),
 * -EINVAL (bad fields). */
int rc_node_send_probe(struct rc_node *n, const char *peer, const struct rc_probe *p);

/* Counters for logs and benchmarks. */
struct rc_node_stats {
    uint64_t conns_open, handshakes_pending, pings_answered, pings_sent, refused;
};
void rc_node_stats(const struct rc_node *n, struct rc_node_stats *ret);

#endif

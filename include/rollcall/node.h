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
 * The listener is dual-stack ([::] with IPV6_V6ONLY off), so IPv4 and IPv6
 * peers (`-proto_dist inet6_tcp`) both reach it; on a host without IPv6 it
 * falls back to 0.0.0.0.
 *
 * Refusals (nok, not_allowed, tls_required) are delivered: the connection
 * stops reading, its output is flushed, the write side shut down, and the
 * socket closed when the peer closes or after RC_NODE_LINGER_MS.
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
#define RC_NODE_OUT_MAX (1024 * 1024)     /* unsent bytes to a peer before we give up on it */
#define RC_NODE_LINGER_MS 2000            /* a refused connection: time to deliver the status */

/* Ticks. A peer with net_ticktime T gives up on a connection from which it
 * read nothing for about T (it looks every T/4), and OTP allows T down to a
 * few seconds, so we send a tick (Len:32 = 0, four bytes) whenever we wrote
 * nothing for RC_NODE_TICK_MS: enough for net_ticktime 5 and up. A tick
 * received while we wrote nothing for RC_NODE_TICK_ANSWER_MS is answered at
 * once (two rollcall agents never ping-pong: the answer finds a recent
 * write). We close for silence only after silence_ms (the config key
 * silence_timeout), which must outlast the slowest peer's tick: T/4 for
 * net_ticktime up to 600 s. */
#define RC_NODE_TICK_MS 1000
#define RC_NODE_TICK_ANSWER_MS 500
#define RC_NODE_SILENCE_DEFAULT_MS 600000 /* 10 min: net_ticktime 600 ticks every 150 s */
#define RC_NODE_SILENCE_MIN_MS 5000
#define RC_NODE_SILENCE_MAX_MS 3600000
#define RC_NODE_PROBE_RATE 100 /* probe messages per second on one connection */

struct rc_node_opts {
    const char *name; /* full node name, validated */
    const uint8_t *cookie;
    size_t cookie_len;
    bool listen;                 /* false: outbound pings only (one-shot CLI) */
    enum rc_epmd_mode epmd;      /* ignored when !listen */
    uint16_t epmd_port;          /* where peers' EPMDs listen, and ours */
    uint16_t port_min, port_max; /* distribution listen range, 0,0 = any */
    uint64_t epmd_check_ms;      /* EPMD keeper re-check period (the interval) */
    uint64_t silence_ms;         /* close an established peer silent this long; 0 = default */
    /* TLS distribution (docs/tls.md): all three PEM paths, or none (plain).
     * With TLS, outbound connections use TLS and inbound ones may use
     * either, unless tls_required refuses plain ones (reason tls_required). */
    const char *tls_cert, *tls_key, *tls_ca;
    bool tls_required;
    /* numeric IPv4 the listener and an embedded EPMD bind to; "lo" = every
     * loopback address (the "lo" device); NULL or "" = every interface */
    const char *bind;
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
/* The peer-in callback: a node connected to us and passed the handshake
 * (the agent reads the entry of a name it does not know yet, issue 15). */
typedef void (*rc_peer_in_cb)(void *arg, const char *peer);
void rc_node_on_peer_in(struct rc_node *n, rc_peer_in_cb cb, void *arg);

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

/* Packets from an established connection that the node does not handle
 * itself (anything but pings, their replies and ticks), already validated
 * whole (rc_msg_parse): pkt is the data after Len:32. One hook (rpc.c). */
typedef void (*rc_node_msg_cb)(void *arg, const char *peer, const uint8_t *pkt, size_t len);
void rc_node_on_message(struct rc_node *n, rc_node_msg_cb cb, void *arg);
/* Queues a whole packet (Len:32 included) on the established connection to
 * peer. 0, or -ENOTCONN when there is none (ping the peer first). */
int rc_node_send(struct rc_node *n, const char *peer, const uint8_t *pkt, size_t len);
/* The distribution flags peer sent in the handshake, and the port we dialled
 * it on (0 for a connection it made to us). -ENOTCONN if not connected. */
int rc_node_peer_info(struct rc_node *n, const char *peer, uint64_t *ret_flags, uint16_t *ret_port);
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

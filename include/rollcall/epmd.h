/*
 * epmd.h - EPMD: wire messages (erldist/epmd_msg.c, pure) and the
 * libevent-driven client, registration keeper and embedded server
 * (erldist/epmd.c).
 *
 * Wire facts: PROTOCOL.md section 1. Requests are Len:16 + body
 * (1 <= Len < RC_EPMD_MAX_REQ); responses are unprefixed.
 */
#ifndef ROLLCALL_EPMD_H
#define ROLLCALL_EPMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define RC_EPMD_MAX_REQ 3060
#define RC_EPMD_ALIVE_MAX 255

#define RC_EPMD_ALIVE2_REQ 120
#define RC_EPMD_ALIVE2_RESP 121
#define RC_EPMD_ALIVE2_X_RESP 118
#define RC_EPMD_PORT_PLEASE2_REQ 122
#define RC_EPMD_PORT2_RESP 119
#define RC_EPMD_NAMES_REQ 110

/* ---- pure wire messages (epmd_msg.c) ---- */

/* What a node registers / what PORT2_RESP reports. */
struct rc_epmd_node_info {
    uint16_t port;
    uint8_t node_type; /* 77 normal, 72 hidden */
    uint8_t protocol;  /* 0 = tcp/ipv4 */
    uint16_t high, low;
    char alive[RC_EPMD_ALIVE_MAX + 1];
};

/* ALIVE2_REQ with Len:16 prefix: High 6, Low 5, NodeType 77, Protocol 0, no extra. */
int rc_epmd_build_alive2_req(uint8_t *out, size_t cap, size_t *ret_len, uint16_t port,
                             const char *alive);
/* Parses ALIVE2_X_RESP (or ALIVE2_RESP). 0 ok with creation; -EAGAIN need more bytes;
 * -EEXIST the name is taken (Result != 0); -EPROTO malformed. */
int rc_epmd_parse_alive2_resp(const uint8_t *buf, size_t len, uint32_t *ret_creation);

/* PORT_PLEASE2_REQ with Len:16 prefix. alive = the part before '@'. */
int rc_epmd_build_port_please2_req(uint8_t *out, size_t cap, size_t *ret_len, const char *alive);
/* Parses PORT2_RESP read until EOF (eof true) or so far (eof false).
 * 0 ok; -EAGAIN need more; -ENOENT not registered (Result > 0); -EPROTO malformed. */
int rc_epmd_parse_port2_resp(const uint8_t *buf, size_t len, bool eof,
                             struct rc_epmd_node_info *ret);

/* Server side: one parsed request. */
struct rc_epmd_req {
    uint8_t type;                  /* RC_EPMD_*_REQ */
    struct rc_epmd_node_info info; /* ALIVE2: what registers; PORT_PLEASE2: info.alive */
};
/* Parses one request from the bytes received so far. 0 and *ret_used; -EAGAIN
 * need more; -EMSGSIZE Len out of range; -EPROTO malformed or unknown type. */
int rc_epmd_parse_req(const uint8_t *buf, size_t len, size_t *ret_used, struct rc_epmd_req *ret);
/* Responses (unprefixed). result 0 = ok. */
int rc_epmd_build_alive2_x_resp(uint8_t *out, size_t cap, size_t *ret_len, uint8_t result,
                                uint32_t creation);
int rc_epmd_build_port2_resp(uint8_t *out, size_t cap, size_t *ret_len,
                             const struct rc_epmd_node_info *info /* NULL = not found */);

/* ---- libevent side (epmd.c) ---- */

struct event_base;

/* One PORT_PLEASE2 lookup. The callback runs exactly once unless cancelled:
 * result 0 and the port; -ENOENT (not_registered); -ECONNREFUSED /
 * -EHOSTUNREACH / -ENETUNREACH / -ETIMEDOUT / -EIO (epmd unreachable);
 * -EPROTO (malformed answer). */
typedef void (*rc_epmd_lookup_cb)(void *arg, int result, uint16_t port);
struct rc_epmd_lookup;
/* addr is the peer host with the EPMD port set. NULL on immediate failure
 * (then the callback is never called). */
struct rc_epmd_lookup *rc_epmd_lookup_start(struct event_base *base, const struct sockaddr *addr,
                                            socklen_t addrlen, const char *alive,
                                            rc_epmd_lookup_cb cb, void *arg);
/* Stops a lookup; its callback is never called afterwards. NULL is fine. */
void rc_epmd_lookup_cancel(struct rc_epmd_lookup *l);

enum rc_epmd_mode { RC_EPMD_AUTO, RC_EPMD_SYSTEM, RC_EPMD_EMBEDDED, RC_EPMD_OFF };

/* The registration keeper. auto: register with the EPMD on 127.0.0.1:port
 * (ALIVE2, socket held open); if none answers, serve an embedded EPMD on
 * port. system: register only (retrying). embedded: serve only. off: nothing.
 * It re-checks every check_interval_ms: a lost registration is redone, or
 * (auto) the embedded server takes over, within one interval. Logs mode
 * changes at info. The embedded server answers PORT_PLEASE2 and NAMES for our
 * own node and for BEAM nodes that registered with ALIVE2 from loopback,
 * refuses ALIVE2 from other addresses, bounds connections and idle time. */
struct rc_epmd;
struct rc_epmd *rc_epmd_new(struct event_base *base, enum rc_epmd_mode mode, uint16_t epmd_port,
                            const char *alive, uint16_t dist_port, uint64_t check_interval_ms,
                            char *err, size_t errlen);
/* The creation to use in handshakes: from ALIVE2, else a time-based value >= 4. */
uint32_t rc_epmd_creation(const struct rc_epmd *e);
/* "system", "embedded", "off" or "none" (auto, nothing working yet). */
const char *rc_epmd_state(const struct rc_epmd *e);
/* Closes everything (registration socket, server, clients). NULL is fine. */
void rc_epmd_free(struct rc_epmd *e);

#endif

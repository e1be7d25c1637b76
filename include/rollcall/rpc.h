/*
 * rpc.h - calls to a peer's `rex` server, and plain sends to a registered
 * name: the codec (erldist/rpc_msg.c, pure) and the calls in flight on a
 * node (erldist/rpc.c).
 *
 * The wire form is the one erl_interface's ei_rpc() uses (docs/app.md):
 *   REG_SEND {6, FromPid, '', rex}  {FromPid, {call, Mod, Fun, Args, user}}
 * answered by
 *   SEND {2, '', FromPid}           {rex, Reply}
 * The reply names no reference, so every call gets a pid of its own: the
 * pid the reply is sent to identifies the call. Late replies (after the
 * call timed out or was cancelled) match nothing and are dropped.
 *
 * Codec: every builder writes a whole packet (Len:32 included) into a
 * caller buffer and returns 0 or -EMSGSIZE / -EINVAL. The parser reads
 * untrusted bytes: bounded, never allocates, -EPROTO on malformed input,
 * -ENOENT on a well-formed packet that is not a rex reply.
 *
 * Calls: callbacks run exactly once unless cancelled, and only from the
 * loop, never from inside rc_rpc_call. Nothing here logs.
 */
#ifndef ROLLCALL_RPC_H
#define ROLLCALL_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rollcall/handshake.h" /* RC_NAME_MAX */

#define RC_RPC_PID_NUM_MAX 0x7fff    /* 15 bits: what every OTP accepts in a pid */
#define RC_RPC_PID_SERIAL_MAX 0x1fff /* 13 bits */
#define RC_RPC_MAX_INFLIGHT 1024     /* calls in flight per rc_rpc */
#define RC_RPC_NODES_MAX 10000       /* names accepted in a nodes() reply */

/* ---- codec (rpc_msg.c) ---- */

/* A call to rex on the peer: args is the encoded argument list (no 131
 * prefix), e.g. [Peer] as LIST(1) ATOM NIL. */
int rc_rpc_build_call(uint8_t *out, size_t cap, size_t *ret_len, const char *self_node,
                      uint32_t creation, uint32_t pid_num, uint32_t pid_serial, const char *mod,
                      const char *fun, const uint8_t *args, size_t args_len);

/* A plain message to a registered name on the peer: msg is one encoded
 * term (no 131 prefix). The sender is our pid (pid_num, serial 0). */
int rc_rpc_build_send(uint8_t *out, size_t cap, size_t *ret_len, const char *self_node,
                      uint32_t creation, uint32_t pid_num, const char *to_name, const uint8_t *msg,
                      size_t msg_len);

/* {rex, Reply} sent to one of our pids. value/value_len: the encoded Reply,
 * pointing into the caller's packet. */
struct rc_rpc_reply {
    char to_node[RC_NAME_MAX + 1];
    uint32_t to_num, to_serial;
    const uint8_t *value;
    size_t value_len;
};

/* Parses the data of one packet (without its Len:32: first byte 112). 0 and
 * ret filled for a rex reply; -ENOENT for a valid packet that is something
 * else; -EPROTO for a malformed one. */
int rc_rpc_parse_reply(const uint8_t *pkt, size_t len, struct rc_rpc_reply *ret);

/* Reading a Reply. rc_rpc_value_atom: the atom (true, false, ignored...),
 * -EPROTO if the value is not an atom that fits. rc_rpc_value_badrpc: true
 * for {badrpc, _}. rc_rpc_value_nodes: calls each(arg, name) for every
 * element of a proper list of atoms, at most RC_RPC_NODES_MAX; -EPROTO (and
 * no call at all) if the value is anything else. */
int rc_rpc_value_atom(const struct rc_rpc_reply *r, char *out, size_t outlen);
bool rc_rpc_value_badrpc(const struct rc_rpc_reply *r);
int rc_rpc_value_nodes(const struct rc_rpc_reply *r, void (*each)(void *arg, const char *node),
                       void *arg);

/* ---- calls in flight on a node (rpc.c) ---- */

struct event_base;
struct rc_node;
struct rc_rpc;
struct rc_rpc_call;

/* status: 0 with the reply, -ETIMEDOUT without. */
typedef void (*rc_rpc_cb)(void *arg, int status, const struct rc_rpc_reply *reply);

/* Takes over the node's message hook (rc_node_on_message). NULL on ENOMEM. */
struct rc_rpc *rc_rpc_new(struct event_base *base, struct rc_node *node);
/* Forgets every call in flight (no callbacks) and releases the hook. */
void rc_rpc_free(struct rc_rpc *r);

/* Calls Mod:Fun(Args) through rex on peer over the node's established
 * connection. 0 and (if ret_call) a handle; -ENOTCONN (no connection up: ping
 * the peer first), -EBUSY (RC_RPC_MAX_INFLIGHT), -EMSGSIZE, -ENOMEM. */
int rc_rpc_call(struct rc_rpc *r, const char *peer, const char *mod, const char *fun,
                const uint8_t *args, size_t args_len, uint64_t timeout_ms, rc_rpc_cb cb, void *arg,
                struct rc_rpc_call **ret_call);
/* Forgets a call; its callback is never called. NULL is fine. */
void rc_rpc_cancel(struct rc_rpc_call *c);

/* Sends msg to the registered name on peer (no reply expected). 0,
 * -ENOTCONN, -EMSGSIZE. */
int rc_rpc_send(struct rc_rpc *r, const char *peer, const char *to_name, const uint8_t *msg,
                size_t msg_len);

#endif

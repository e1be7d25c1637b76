/*
 * rpc_msg.c - the rex call and plain-send packets, and the parser of rex
 * replies (include/rollcall/rpc.h).
 *
 * The parser validates the whole packet with rc_term_skip first (the same
 * two passes as msg.c), so a malformed packet is always -EPROTO whatever it
 * claims to be; only then does it look for SEND/SEND_SENDER(_TT) to a pid
 * with {rex, Reply} as the message. Reply is handed back as a span into the
 * caller's packet and read with the rc_rpc_value_* helpers.
 */
#include <errno.h>
#include <string.h>

#include "rollcall/msg.h"
#include "rollcall/rpc.h"
#include "rollcall/term.h"

static bool name_ok(const char *s)
{
    size_t n;

    if (s == NULL)
        return false;
    n = strlen(s);
    return n > 0 && n <= 255;
}

int rc_rpc_build_call(uint8_t *out, size_t cap, size_t *ret_len, const char *self_node,
                      uint32_t creation, uint32_t pid_num, uint32_t pid_serial, const char *mod,
                      const char *fun, const uint8_t *args, size_t args_len)
{
    struct rc_term_enc e;

    if (!rc_node_name_valid(self_node) || !name_ok(mod) || !name_ok(fun) || args == NULL ||
        args_len == 0 || pid_num > RC_RPC_PID_NUM_MAX || pid_serial > RC_RPC_PID_SERIAL_MAX)
        return -EINVAL;
    rc_msg_reg_send_start(&e, out, cap, self_node, pid_num, pid_serial, creation, "rex");
    rc_term_put_tuple(&e, 2);
    rc_term_put_pid(&e, self_node, pid_num, pid_serial, creation);
    rc_term_put_tuple(&e, 5);
    rc_term_put_atom(&e, "call");
    rc_term_put_atom(&e, mod);
    rc_term_put_atom(&e, fun);
    rc_term_put_raw(&e, args, args_len);
    rc_term_put_atom(&e, "user");
    return rc_msg_packet_finish(&e, ret_len);
}

int rc_rpc_build_send(uint8_t *out, size_t cap, size_t *ret_len, const char *self_node,
                      uint32_t creation, uint32_t pid_num, const char *to_name, const uint8_t *msg,
                      size_t msg_len)
{
    struct rc_term_enc e;

    if (!rc_node_name_valid(self_node) || !name_ok(to_name) || msg == NULL || msg_len == 0 ||
        pid_num > RC_RPC_PID_NUM_MAX)
        return -EINVAL;
    rc_msg_reg_send_start(&e, out, cap, self_node, pid_num, 0, creation, to_name);
    rc_term_put_raw(&e, msg, msg_len);
    return rc_msg_packet_finish(&e, ret_len);
}

/* NEW_PID_EXT or PID_EXT: node name, number, serial (creation skipped). */
static int dec_pid(struct rc_term_dec *d, char *node, size_t nodelen, uint32_t *num,
                   uint32_t *serial)
{
    struct rc_term_dec c = *d;
    int tag = rc_term_peek_tag(&c);
    size_t tail;
    const uint8_t *p;

    if (tag != RC_TAG_NEW_PID && tag != RC_TAG_PID)
        return -EPROTO;
    c.pos++;
    if (rc_term_dec_atom(&c, node, nodelen, NULL) != 0)
        return -EPROTO;
    tail = tag == RC_TAG_NEW_PID ? 12 : 9;
    if (c.len - c.pos < tail)
        return -EPROTO;
    p = c.buf + c.pos;
    *num = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    *serial = (uint32_t)p[4] << 24 | (uint32_t)p[5] << 16 | (uint32_t)p[6] << 8 | p[7];
    c.pos += tail;
    *d = c;
    return 0;
}

int rc_rpc_parse_reply(const uint8_t *pkt, size_t len, struct rc_rpc_reply *ret)
{
    struct rc_term_dec d;
    struct rc_rpc_reply r;
    size_t ctl, msg, value;
    uint32_t arity;
    int64_t op;
    char tag[8];
    size_t taglen;

    if (pkt == NULL || ret == NULL)
        return -EINVAL;
    if (len > RC_MSG_MAX_PACKET || rc_msg_split(pkt, len, &ctl, &msg) != 0)
        return -EPROTO;

    /* Pass 2: a send to one of our pids ... */
    memset(&r, 0, sizeof r);
    rc_term_dec_init(&d, pkt, len);
    d.pos = ctl;
    if (rc_term_dec_tuple(&d, &arity) != 0 || arity == 0 || rc_term_dec_long(&d, &op) != 0)
        return -EPROTO;
    if (msg == 0)
        return -ENOENT;
    if (op == RC_DOP_SEND || op == RC_DOP_SEND_SENDER) {
        if (arity != 3)
            return -ENOENT;
    } else if (op == RC_DOP_SEND_TT || op == RC_DOP_SEND_SENDER_TT) {
        if (arity != 4)
            return -ENOENT;
    } else {
        return -ENOENT;
    }
    if (rc_term_skip(&d) != 0) /* the unused cookie, or the sender */
        return -ENOENT;
    if (dec_pid(&d, r.to_node, sizeof r.to_node, &r.to_num, &r.to_serial) != 0)
        return -ENOENT;

    /* ... carrying {rex, Reply}. */
    d.pos = msg;
    if (rc_term_dec_tuple(&d, &arity) != 0 || arity != 2)
        return -ENOENT;
    if (rc_term_dec_atom(&d, tag, sizeof tag, &taglen) != 0 || taglen != 3 ||
        memcmp(tag, "rex", 3) != 0)
        return -ENOENT;
    value = d.pos;
    if (rc_term_skip(&d) != 0 || d.pos != len)
        return -ENOENT;
    r.value = pkt + value;
    r.value_len = len - value;
    *ret = r;
    return 0;
}

int rc_rpc_value_atom(const struct rc_rpc_reply *r, char *out, size_t outlen)
{
    struct rc_term_dec d;

    if (r == NULL || r->value == NULL || out == NULL || outlen == 0)
        return -EINVAL;
    rc_term_dec_init(&d, r->value, r->value_len);
    if (rc_term_dec_atom(&d, out, outlen, NULL) != 0)
        return -EPROTO;
    return 0;
}

bool rc_rpc_value_badrpc(const struct rc_rpc_reply *r)
{
    struct rc_term_dec d;
    uint32_t arity;
    char tag[8];
    size_t taglen;

    if (r == NULL || r->value == NULL)
        return false;
    rc_term_dec_init(&d, r->value, r->value_len);
    return rc_term_dec_tuple(&d, &arity) == 0 && arity == 2 &&
           rc_term_dec_atom(&d, tag, sizeof tag, &taglen) == 0 && taglen == 6 &&
           memcmp(tag, "badrpc", 6) == 0;
}

/* Walks the list; with each == NULL only validates. */
static int walk_nodes(const struct rc_rpc_reply *r, void (*each)(void *, const char *), void *arg)
{
    struct rc_term_dec d;
    uint32_t n;
    bool has_tail;
    char name[RC_TERM_ATOM_MAX + 1]; /* any atom; the callee judges the name */

    rc_term_dec_init(&d, r->value, r->value_len);
    if (rc_term_dec_list(&d, &n, &has_tail) != 0)
        return -EPROTO;
    if (n > RC_RPC_NODES_MAX)
        return -EPROTO;
    for (uint32_t i = 0; i < n; i++) {
        if (rc_term_dec_atom(&d, name, sizeof name, NULL) != 0)
            return -EPROTO;
        if (each != NULL)
            each(arg, name);
    }
    if (has_tail && rc_term_peek_tag(&d) != RC_TAG_NIL)
        return -EPROTO; /* an improper list */
    return 0;
}

int rc_rpc_value_nodes(const struct rc_rpc_reply *r, void (*each)(void *arg, const char *node),
                       void *arg)
{
    if (r == NULL || r->value == NULL || each == NULL)
        return -EINVAL;
    if (walk_nodes(r, NULL, NULL) != 0)
        return -EPROTO;
    return walk_nodes(r, each, arg);
}

/*
 * msg.c - the distribution messages rollcall reads and writes (include/rollcall/msg.h).
 *
 * rollcall answers net_kernel's is_auth call and reads the answer to its own;
 * everything else a peer sends is validated and dropped. Parsing is therefore
 * two passes over the packet: first the whole packet is checked with
 * rc_term_skip (112, 131 control, optional 131 message, nothing after), so a
 * malformed packet is always -EPROTO whatever it claims to be; then the two
 * shapes we care about are matched, and any mismatch there just means
 * RC_MSG_OTHER. The is_auth caller's pid and tag are kept as raw spans and
 * echoed byte for byte: OTP drops a reply whose pid or ref differs in any
 * field (creation included), and the tag's shape has changed across releases
 * (Ref, then [alias | Ref] with 3- or 5-word refs), so we never re-encode it.
 */
#include <errno.h>
#include <string.h>

#include "rollcall/msg.h"
#include "rollcall/term.h"

#define PASS_THROUGH RC_MSG_PASS_THROUGH

/* True if the cursor is at the atom want; the cursor moves past any atom. */
static bool match_atom(struct rc_term_dec *d, const char *want)
{
    char name[16];
    size_t n;

    if (rc_term_dec_atom(d, name, sizeof(name), &n) < 0)
        return false; /* not an atom, or longer than anything we look for */
    return n == strlen(want) && memcmp(name, want, n) == 0;
}

static bool match_tuple(struct rc_term_dec *d, uint32_t arity)
{
    uint32_t a;

    return rc_term_dec_tuple(d, &a) == 0 && a == arity;
}

/* {'$gen_call', {Pid, Tag}, {is_auth, Node}} */
static void match_is_auth(struct rc_term_dec *d, struct rc_msg *m)
{
    size_t pid, tag, tag_end;
    int t;

    if (!match_tuple(d, 3) || !match_atom(d, "$gen_call") || !match_tuple(d, 2))
        return;
    t = rc_term_peek_tag(d);
    if (t != RC_TAG_NEW_PID && t != RC_TAG_PID)
        return;
    pid = d->pos;
    if (rc_term_skip(d) < 0)
        return;
    tag = d->pos;
    if (rc_term_skip(d) < 0)
        return;
    tag_end = d->pos;
    if (!match_tuple(d, 2) || !match_atom(d, "is_auth") || rc_term_dec_atom(d, NULL, 0, NULL) < 0)
        return;
    m->kind = RC_MSG_IS_AUTH;
    m->from_pid = d->buf + pid;
    m->from_pid_len = tag - pid;
    m->tag = d->buf + tag;
    m->tag_len = tag_end - tag;
}

/* {Ref, Answer}: a reply to one of our calls. */
static void match_reply(struct rc_term_dec *d, struct rc_msg *m)
{
    if (!match_tuple(d, 2) || rc_term_dec_ref(d, m->ref_node, sizeof(m->ref_node), &m->ref_creation,
                                              m->ref_ids, &m->ref_nids) < 0)
        return;
    m->kind = RC_MSG_REPLY;
    m->yes = match_atom(d, "yes");
}

int rc_msg_split(const uint8_t *pkt, size_t len, size_t *ret_ctl, size_t *ret_msg)
{
    struct rc_term_dec d;
    size_t ctl, msg = 0;

    if (len == 0 || pkt[0] != PASS_THROUGH)
        return -EPROTO;
    rc_term_dec_init(&d, pkt, len);
    d.pos = 1;
    if (rc_term_dec_version(&d) < 0)
        return -EPROTO;
    ctl = d.pos;
    if (rc_term_skip(&d) < 0)
        return -EPROTO;
    if (d.pos < len) {
        if (rc_term_dec_version(&d) < 0)
            return -EPROTO;
        msg = d.pos;
        if (rc_term_skip(&d) < 0 || d.pos != len)
            return -EPROTO;
    }
    *ret_ctl = ctl;
    *ret_msg = msg;
    return 0;
}

int rc_msg_parse(const uint8_t *pkt, size_t len, struct rc_msg *ret)
{
    struct rc_term_dec d;
    struct rc_msg m = {.kind = RC_MSG_OTHER};
    size_t ctl, msg;
    uint32_t arity;
    int64_t op;

    if (len > RC_MSG_MAX_PACKET)
        return -EMSGSIZE;
    if (rc_msg_split(pkt, len, &ctl, &msg) != 0)
        return -EPROTO;

    /* Pass 2: what it says. A control message is a tuple {Op, ...}. */
    rc_term_dec_init(&d, pkt, len);
    d.pos = ctl;
    if (rc_term_dec_tuple(&d, &arity) < 0 || arity == 0 || rc_term_dec_long(&d, &op) < 0)
        return -EPROTO;
    if (msg != 0) {
        switch (op) {
        case RC_DOP_REG_SEND:
        case RC_DOP_REG_SEND_TT: /* {6, From, '', ToName} / {16, From, '', ToName, Token} */
            if (arity == (op == RC_DOP_REG_SEND ? 4u : 5u) && rc_term_skip(&d) == 0 &&
                rc_term_skip(&d) == 0 && match_atom(&d, "net_kernel")) {
                d.pos = msg;
                match_is_auth(&d, &m);
            }
            break;
        case RC_DOP_SEND:
        case RC_DOP_SEND_SENDER: /* {2, '', To} / {22, From, To} */
        case RC_DOP_SEND_TT:
        case RC_DOP_SEND_SENDER_TT: /* the same + Token */
            if (arity == (op == RC_DOP_SEND || op == RC_DOP_SEND_SENDER ? 3u : 4u)) {
                d.pos = msg;
                match_reply(&d, &m);
            }
            break;
        default:
            break;
        }
    }
    *ret = m;
    return 0;
}

void rc_msg_packet_start(struct rc_term_enc *e, uint8_t *out, size_t cap)
{
    rc_term_enc_init(e, out, cap);
    rc_term_put_u32(e, 0);
    rc_term_put_u8(e, PASS_THROUGH);
}

void rc_msg_reg_send_start(struct rc_term_enc *e, uint8_t *out, size_t cap, const char *self_node,
                           uint32_t pid_num, uint32_t pid_serial, uint32_t creation,
                           const char *to_name)
{
    rc_msg_packet_start(e, out, cap);
    rc_term_put_version(e);
    rc_term_put_tuple(e, 4);
    rc_term_put_long(e, RC_DOP_REG_SEND);
    rc_term_put_pid(e, self_node, pid_num, pid_serial, creation);
    rc_term_put_atom(e, "");
    rc_term_put_atom(e, to_name);
    rc_term_put_version(e); /* the message term follows */
}

int rc_msg_packet_finish(struct rc_term_enc *e, size_t *ret_len)
{
    size_t total = e->len;

    if (e->err != 0)
        return e->err;
    e->len = 0;
    rc_term_put_u32(e, (uint32_t)(total - 4));
    *ret_len = total;
    return 0;
}

int rc_msg_build_is_auth(uint8_t *out, size_t cap, size_t *ret_len, const char *self_node,
                         uint32_t creation, uint32_t pid_id, const uint32_t ref_ids[3])
{
    struct rc_term_enc e;

    if (self_node == NULL || ref_ids == NULL)
        return -EINVAL;
    rc_msg_reg_send_start(&e, out, cap, self_node, pid_id, 0, creation, "net_kernel");
    rc_term_put_tuple(&e, 3);
    rc_term_put_atom(&e, "$gen_call");
    rc_term_put_tuple(&e, 2);
    rc_term_put_pid(&e, self_node, pid_id, 0, creation);
    rc_term_put_ref(&e, self_node, creation, ref_ids, 3);
    rc_term_put_tuple(&e, 2);
    rc_term_put_atom(&e, "is_auth");
    rc_term_put_atom(&e, self_node);
    return rc_msg_packet_finish(&e, ret_len);
}

int rc_msg_build_is_auth_reply(uint8_t *out, size_t cap, size_t *ret_len, const struct rc_msg *req)
{
    struct rc_term_enc e;

    if (req == NULL || req->kind != RC_MSG_IS_AUTH || req->from_pid == NULL || req->tag == NULL)
        return -EINVAL;
    rc_msg_packet_start(&e, out, cap);
    rc_term_put_version(&e);
    rc_term_put_tuple(&e, 3);
    rc_term_put_long(&e, RC_DOP_SEND);
    rc_term_put_atom(&e, "");
    rc_term_put_raw(&e, req->from_pid, req->from_pid_len);

    rc_term_put_version(&e);
    rc_term_put_tuple(&e, 2);
    rc_term_put_raw(&e, req->tag, req->tag_len);
    rc_term_put_atom(&e, "yes");
    return rc_msg_packet_finish(&e, ret_len);
}

/*
 * probe.c - the indirect probe messages (include/rollcall/probe.h).
 *
 * Two passes like msg.c: the whole packet is validated first (112, 131
 * control, 131 message, nothing after), then matched. Only a REG_SEND to
 * rollcall_probe is ours; from there on every deviation is an error, since
 * no other program sends to that name.
 */
#include "rollcall/probe.h"

#include <errno.h>
#include <string.h>

#include "rollcall/msg.h"
#include "rollcall/term.h"

#define PROBE_VERSION 1

static const char *const result_words[] = {"ok", "refused", "timeout", "unknown", "busy"};
static const char *const evidence_words[] = {"none", "acked", "unacked"};

const char *rc_probe_result_str(enum rc_probe_result r)
{
    if ((unsigned)r < sizeof result_words / sizeof result_words[0])
        return result_words[r];
    return "unknown";
}

const char *rc_probe_evidence_str(enum rc_probe_evidence e)
{
    if ((unsigned)e < sizeof evidence_words / sizeof evidence_words[0])
        return evidence_words[e];
    return "none";
}

/* An atom from a fixed word list: its index, or -EPROTO. */
static int dec_word(struct rc_term_dec *d, const char *const *words, size_t n)
{
    char name[16];
    size_t len;

    if (rc_term_dec_atom(d, name, sizeof name, &len) < 0)
        return -EPROTO;
    for (size_t i = 0; i < n; i++)
        if (strcmp(name, words[i]) == 0)
            return (int)i;
    return -EPROTO;
}

static int dec_range(struct rc_term_dec *d, int64_t lo, int64_t hi, int64_t *ret)
{
    int64_t v;

    if (rc_term_dec_long(d, &v) < 0 || v < lo || v > hi)
        return -EPROTO;
    *ret = v;
    return 0;
}

/* The message part: {rollcall_probe, 1, req | reply, ...}. */
static int parse_body(struct rc_term_dec *d, struct rc_probe *p)
{
    uint32_t arity;
    int64_t v;
    char name[16];
    size_t len;
    int w;

    if (rc_term_dec_tuple(d, &arity) < 0 || arity < 3)
        return -EPROTO;
    if (rc_term_dec_atom(d, name, sizeof name, &len) < 0 || strcmp(name, RC_PROBE_NAME) != 0)
        return -EPROTO;
    if (rc_term_dec_long(d, &v) < 0 || v < 1)
        return -EPROTO;
    if (v != PROBE_VERSION)
        return 0; /* a later version: not for us */
    if (rc_term_dec_atom(d, name, sizeof name, &len) < 0)
        return -EPROTO;
    if (strcmp(name, "req") == 0) {
        if (arity != 6)
            return -EPROTO;
        p->kind = RC_PROBE_REQUEST;
        if (dec_range(d, 0, UINT32_MAX, &v) < 0)
            return -EPROTO;
        p->id = (uint32_t)v;
        if (rc_term_dec_atom(d, p->target, sizeof p->target, NULL) < 0 ||
            !rc_node_name_valid(p->target))
            return -EPROTO;
        if (dec_range(d, 1, RC_PROBE_DEADLINE_MAX, &v) < 0)
            return -EPROTO;
        p->deadline_ms = (uint32_t)v;
        return 1;
    }
    if (strcmp(name, "reply") == 0) {
        if (arity != 7)
            return -EPROTO;
        p->kind = RC_PROBE_REPLY;
        if (dec_range(d, 0, UINT32_MAX, &v) < 0)
            return -EPROTO;
        p->id = (uint32_t)v;
        w = dec_word(d, result_words, sizeof result_words / sizeof result_words[0]);
        if (w < 0)
            return -EPROTO;
        p->result = (enum rc_probe_result)w;
        w = dec_word(d, evidence_words, sizeof evidence_words / sizeof evidence_words[0]);
        if (w < 0)
            return -EPROTO;
        p->evidence = (enum rc_probe_evidence)w;
        if (dec_range(d, -1, RC_PROBE_AGE_MAX, &p->age_ms) < 0)
            return -EPROTO;
        return 1;
    }
    return -EPROTO;
}

int rc_probe_parse(const uint8_t *pkt, size_t len, struct rc_probe *ret)
{
    struct rc_term_dec d;
    struct rc_probe p;
    size_t ctl, msg;
    uint32_t arity;
    int64_t op;
    char to[16];
    size_t tolen;
    int r;

    if (pkt == NULL || ret == NULL || rc_msg_split(pkt, len, &ctl, &msg) != 0)
        return -EPROTO;
    if (msg == 0)
        return 0; /* control only (a link, a monitor): not a probe */

    rc_term_dec_init(&d, pkt, len);
    d.pos = ctl;
    if (rc_term_dec_tuple(&d, &arity) < 0 || arity != 4 || rc_term_dec_long(&d, &op) < 0 ||
        op != RC_DOP_REG_SEND)
        return 0;
    if (rc_term_skip(&d) < 0 || rc_term_skip(&d) < 0)
        return 0;
    if (rc_term_dec_atom(&d, to, sizeof to, &tolen) < 0 || strcmp(to, RC_PROBE_NAME) != 0)
        return 0;

    memset(&p, 0, sizeof p);
    d.pos = msg;
    r = parse_body(&d, &p);
    if (r == 1)
        *ret = p;
    return r;
}

int rc_probe_build(uint8_t *out, size_t cap, size_t *ret_len, const char *self_node,
                   uint32_t creation, uint32_t pid_id, const struct rc_probe *p)
{
    struct rc_term_enc e;

    if (out == NULL || ret_len == NULL || self_node == NULL || p == NULL)
        return -EINVAL;
    if (p->kind == RC_PROBE_REQUEST) {
        if (!rc_node_name_valid(p->target) || p->deadline_ms == 0 ||
            p->deadline_ms > RC_PROBE_DEADLINE_MAX)
            return -EINVAL;
    } else if (p->kind == RC_PROBE_REPLY) {
        if ((unsigned)p->result >= sizeof result_words / sizeof result_words[0] ||
            (unsigned)p->evidence >= sizeof evidence_words / sizeof evidence_words[0] ||
            p->age_ms < -1 || p->age_ms > RC_PROBE_AGE_MAX)
            return -EINVAL;
    } else {
        return -EINVAL;
    }
    rc_msg_reg_send_start(&e, out, cap, self_node, pid_id, 0, creation, RC_PROBE_NAME);
    if (p->kind == RC_PROBE_REQUEST) {
        rc_term_put_tuple(&e, 6);
        rc_term_put_atom(&e, RC_PROBE_NAME);
        rc_term_put_long(&e, PROBE_VERSION);
        rc_term_put_atom(&e, "req");
        rc_term_put_long(&e, p->id);
        rc_term_put_atom(&e, p->target);
        rc_term_put_long(&e, p->deadline_ms);
    } else {
        rc_term_put_tuple(&e, 7);
        rc_term_put_atom(&e, RC_PROBE_NAME);
        rc_term_put_long(&e, PROBE_VERSION);
        rc_term_put_atom(&e, "reply");
        rc_term_put_long(&e, p->id);
        rc_term_put_atom(&e, result_words[p->result]);
        rc_term_put_atom(&e, evidence_words[p->evidence]);
        rc_term_put_long(&e, p->age_ms);
    }
    return rc_msg_packet_finish(&e, ret_len);
}

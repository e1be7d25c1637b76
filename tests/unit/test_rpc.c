/*
 * test_rpc.c - the rex call codec (erldist/rpc_msg.c): the call and send
 * packets rollcall builds, and the replies it accepts and refuses.
 *
 * Packets under test sit in heap blocks of exactly their size, so the ASan
 * build turns any read past the end into a failure. Two reply bodies are the
 * bytes OTP 25's term_to_binary writes (ATOM_EXT atoms), the others are built
 * here with the encoder (SMALL_ATOM_UTF8), so both atom forms are covered.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rollcall/rpc.h"
#include "rollcall/term.h"

#define SELF "rollcall@127.0.0.2"

/* {rex, ['b@127.0.0.1', 'c@127.0.0.1']} and {rex, {badrpc, {'EXIT', {undef,
 * [{nosuch, fn, [], []}]}}}} from OTP 25 term_to_binary (131 included). */
static const char OTP_NODES_HEX[] = "8368026400037265786C0000000264000B62403132372E302E302E3164000B"
                                    "63403132372E302E302E316A";
static const char OTP_BADRPC_HEX[] =
    "83680264000372657868026400066261647270636802640004455849546802"
    "640005756E6465666C0000000168046400066E6F73756368640002666E6A6A"
    "6A";

static size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = strlen(hex) / 2;

    assert_true(n <= cap);
    for (size_t i = 0; i < n; i++) {
        unsigned v;

        assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
        out[i] = (uint8_t)v;
    }
    return n;
}

/* Copies len bytes into a heap block of exactly that size. */
static uint8_t *exact(const uint8_t *p, size_t len)
{
    uint8_t *q = malloc(len ? len : 1);

    assert_non_null(q);
    memcpy(q, p, len);
    return q;
}

/* A SEND-family packet (without Len:32) to our pid (num, serial) whose
 * message is the given encoded term (with its 131). */
static size_t build_send(uint8_t *out, size_t cap, int op, uint32_t num, uint32_t serial,
                         const uint8_t *msg, size_t msg_len)
{
    struct rc_term_enc e;

    rc_term_enc_init(&e, out, cap);
    rc_term_put_u8(&e, 112);
    rc_term_put_version(&e);
    rc_term_put_tuple(&e, op == 2 || op == 22 ? 3 : 4);
    rc_term_put_long(&e, op);
    if (op == 22 || op == 23)
        rc_term_put_pid(&e, "app@127.0.0.2", 77, 0, 5);
    else
        rc_term_put_atom(&e, "");
    rc_term_put_pid(&e, SELF, num, serial, 1234);
    if (op == 12 || op == 23)
        rc_term_put_atom(&e, "token");
    rc_term_put_raw(&e, msg, msg_len);
    assert_int_equal(e.err, 0);
    return e.len;
}

static size_t msg_rex_atom(uint8_t *out, size_t cap, const char *atom)
{
    struct rc_term_enc e;

    rc_term_enc_init(&e, out, cap);
    rc_term_put_version(&e);
    rc_term_put_tuple(&e, 2);
    rc_term_put_atom(&e, "rex");
    rc_term_put_atom(&e, atom);
    assert_int_equal(e.err, 0);
    return e.len;
}

static int parse_exact(const uint8_t *p, size_t len, struct rc_rpc_reply *r)
{
    uint8_t *q = exact(p, len);
    int rv = rc_rpc_parse_reply(q, len, r);

    if (rv == 0) { /* the span must lie inside the packet; re-point it at the caller's copy */
        assert_true(r->value >= q && r->value + r->value_len <= q + len);
        r->value = p + (r->value - q);
    }
    free(q);
    return rv;
}

/* ---- building ---- */

static void test_build_call_shape(void **state)
{
    uint8_t out[1024], args[64];
    struct rc_term_enc a;
    struct rc_term_dec d;
    size_t len;
    uint32_t arity, n;
    int64_t op;
    bool tail;
    char atom[64];

    rc_term_enc_init(&a, args, sizeof args);
    rc_term_put_list(&a, 1);
    rc_term_put_atom(&a, "b@127.0.0.3");
    rc_term_put_nil(&a);
    assert_int_equal(a.err, 0);
    assert_int_equal(rc_rpc_build_call(out, sizeof out, &len, SELF, 7, 12, 34, "net_kernel",
                                       "connect_node", args, a.len),
                     0);
    assert_int_equal(((uint32_t)out[0] << 24 | out[1] << 16 | out[2] << 8 | out[3]), len - 4);
    assert_int_equal(out[4], 112);

    rc_term_dec_init(&d, out + 5, len - 5);
    assert_int_equal(rc_term_dec_version(&d), 0);
    assert_int_equal(rc_term_dec_tuple(&d, &arity), 0);
    assert_int_equal(arity, 4);
    assert_int_equal(rc_term_dec_long(&d, &op), 0);
    assert_int_equal(op, 6);
    assert_int_equal(rc_term_peek_tag(&d), RC_TAG_NEW_PID);
    assert_int_equal(rc_term_skip(&d), 0);
    assert_int_equal(rc_term_dec_atom(&d, atom, sizeof atom, NULL), 0);
    assert_string_equal(atom, "");
    assert_int_equal(rc_term_dec_atom(&d, atom, sizeof atom, NULL), 0);
    assert_string_equal(atom, "rex");

    assert_int_equal(rc_term_dec_version(&d), 0);
    assert_int_equal(rc_term_dec_tuple(&d, &arity), 0);
    assert_int_equal(arity, 2);
    assert_int_equal(rc_term_skip(&d), 0); /* FromPid */
    assert_int_equal(rc_term_dec_tuple(&d, &arity), 0);
    assert_int_equal(arity, 5);
    assert_int_equal(rc_term_dec_atom(&d, atom, sizeof atom, NULL), 0);
    assert_string_equal(atom, "call");
    assert_int_equal(rc_term_dec_atom(&d, atom, sizeof atom, NULL), 0);
    assert_string_equal(atom, "net_kernel");
    assert_int_equal(rc_term_dec_atom(&d, atom, sizeof atom, NULL), 0);
    assert_string_equal(atom, "connect_node");
    assert_int_equal(rc_term_dec_list(&d, &n, &tail), 0);
    assert_int_equal(n, 1);
    assert_int_equal(rc_term_dec_atom(&d, atom, sizeof atom, NULL), 0);
    assert_string_equal(atom, "b@127.0.0.3");
    assert_int_equal(rc_term_peek_tag(&d), RC_TAG_NIL);
    d.pos++;
    assert_int_equal(rc_term_dec_atom(&d, atom, sizeof atom, NULL), 0);
    assert_string_equal(atom, "user");
    assert_int_equal(d.pos, d.len);
}

static void test_build_call_pid_is_the_reply_address(void **state)
{
    /* The pid in the call must be the pid a reply to it names. */
    uint8_t out[1024], args[] = {106}, msg[64], pkt[256];
    size_t len, mlen, plen;
    struct rc_rpc_reply r;

    assert_int_equal(rc_rpc_build_call(out, sizeof out, &len, SELF, 9, RC_RPC_PID_NUM_MAX,
                                       RC_RPC_PID_SERIAL_MAX, "erlang", "nodes", args, 1),
                     0);
    mlen = msg_rex_atom(msg, sizeof msg, "true");
    plen = build_send(pkt, sizeof pkt, 2, RC_RPC_PID_NUM_MAX, RC_RPC_PID_SERIAL_MAX, msg, mlen);
    assert_int_equal(parse_exact(pkt, plen, &r), 0);
    assert_int_equal(r.to_num, RC_RPC_PID_NUM_MAX);
    assert_int_equal(r.to_serial, RC_RPC_PID_SERIAL_MAX);
    assert_string_equal(r.to_node, SELF);
}

static void test_build_refuses(void **state)
{
    uint8_t out[1024], args[] = {106}, small[16];
    size_t len;

    assert_int_equal(rc_rpc_build_call(out, sizeof out, &len, "nohost", 1, 1, 1, "m", "f", args, 1),
                     -EINVAL);
    assert_int_equal(rc_rpc_build_call(out, sizeof out, &len, SELF, 1, RC_RPC_PID_NUM_MAX + 1, 1,
                                       "m", "f", args, 1),
                     -EINVAL);
    assert_int_equal(rc_rpc_build_call(out, sizeof out, &len, SELF, 1, 1, RC_RPC_PID_SERIAL_MAX + 1,
                                       "m", "f", args, 1),
                     -EINVAL);
    assert_int_equal(rc_rpc_build_call(out, sizeof out, &len, SELF, 1, 1, 1, "", "f", args, 1),
                     -EINVAL);
    assert_int_equal(rc_rpc_build_call(out, sizeof out, &len, SELF, 1, 1, 1, "m", "f", NULL, 0),
                     -EINVAL);
    assert_int_equal(rc_rpc_build_call(small, sizeof small, &len, SELF, 1, 1, 1, "m", "f", args, 1),
                     -EMSGSIZE);
    assert_int_equal(rc_rpc_build_send(out, sizeof out, &len, SELF, 1, 1, "", args, 1), -EINVAL);
    assert_int_equal(rc_rpc_build_send(small, sizeof small, &len, SELF, 1, 1, "x", args, 1),
                     -EMSGSIZE);
}

static void test_build_send_shape(void **state)
{
    uint8_t out[1024], msg[128];
    struct rc_term_enc m;
    struct rc_term_dec d;
    size_t len;
    uint32_t arity;
    int64_t op;
    char atom[64];

    rc_term_enc_init(&m, msg, sizeof msg);
    rc_term_put_tuple(&m, 4);
    rc_term_put_atom(&m, "rollcall");
    rc_term_put_atom(&m, "peer_down");
    rc_term_put_atom(&m, "b@127.0.0.3");
    rc_term_put_atom(&m, "timeout");
    assert_int_equal(rc_rpc_build_send(out, sizeof out, &len, SELF, 3, 5, "my_events", msg, m.len),
                     0);
    rc_term_dec_init(&d, out + 5, len - 5);
    assert_int_equal(rc_term_dec_version(&d), 0);
    assert_int_equal(rc_term_dec_tuple(&d, &arity), 0);
    assert_int_equal(arity, 4);
    assert_int_equal(rc_term_dec_long(&d, &op), 0);
    assert_int_equal(op, 6);
    assert_int_equal(rc_term_skip(&d), 0);
    assert_int_equal(rc_term_skip(&d), 0);
    assert_int_equal(rc_term_dec_atom(&d, atom, sizeof atom, NULL), 0);
    assert_string_equal(atom, "my_events");
    assert_int_equal(rc_term_dec_version(&d), 0);
    assert_int_equal(rc_term_skip(&d), 0);
    assert_int_equal(d.pos, d.len);
}

/* ---- parsing ---- */

static void test_parse_every_send_op(void **state)
{
    static const int ops[] = {2, 12, 22, 23};
    uint8_t msg[64], pkt[256];
    size_t mlen = msg_rex_atom(msg, sizeof msg, "true"), plen;
    struct rc_rpc_reply r;
    char atom[16];

    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        plen = build_send(pkt, sizeof pkt, ops[i], 42, 7, msg, mlen);
        assert_int_equal(parse_exact(pkt, plen, &r), 0);
        assert_int_equal(r.to_num, 42);
        assert_int_equal(r.to_serial, 7);
        assert_int_equal(rc_rpc_value_atom(&r, atom, sizeof atom), 0);
        assert_string_equal(atom, "true");
        assert_false(rc_rpc_value_badrpc(&r));
    }
}

static void collect(void *arg, const char *node)
{
    char *out = arg;

    strcat(out, node);
    strcat(out, ",");
}

static void test_parse_otp_nodes_reply(void **state)
{
    uint8_t msg[256], pkt[512];
    size_t mlen = unhex(OTP_NODES_HEX, msg, sizeof msg), plen;
    struct rc_rpc_reply r;
    char names[256] = "";
    char atom[16];

    plen = build_send(pkt, sizeof pkt, 2, 1, 1, msg, mlen);
    assert_int_equal(parse_exact(pkt, plen, &r), 0);
    assert_int_equal(rc_rpc_value_nodes(&r, collect, names), 0);
    assert_string_equal(names, "b@127.0.0.1,c@127.0.0.1,");
    assert_int_equal(rc_rpc_value_atom(&r, atom, sizeof atom), -EPROTO);
}

static void test_parse_otp_badrpc_reply(void **state)
{
    uint8_t msg[256], pkt[512];
    size_t mlen = unhex(OTP_BADRPC_HEX, msg, sizeof msg), plen;
    struct rc_rpc_reply r;
    char names[64] = "";

    plen = build_send(pkt, sizeof pkt, 2, 1, 1, msg, mlen);
    assert_int_equal(parse_exact(pkt, plen, &r), 0);
    assert_true(rc_rpc_value_badrpc(&r));
    assert_int_equal(rc_rpc_value_nodes(&r, collect, names), -EPROTO);
    assert_string_equal(names, "");
}

static void test_parse_empty_nodes(void **state)
{
    uint8_t msg[64], pkt[256];
    struct rc_term_enc e;
    size_t plen;
    struct rc_rpc_reply r;
    char names[16] = "";

    rc_term_enc_init(&e, msg, sizeof msg);
    rc_term_put_version(&e);
    rc_term_put_tuple(&e, 2);
    rc_term_put_atom(&e, "rex");
    rc_term_put_nil(&e);
    plen = build_send(pkt, sizeof pkt, 2, 1, 1, msg, e.len);
    assert_int_equal(parse_exact(pkt, plen, &r), 0);
    assert_int_equal(rc_rpc_value_nodes(&r, collect, names), 0);
    assert_string_equal(names, "");
}

static void test_nodes_refuses_bad_lists(void **state)
{
    uint8_t msg[128], pkt[256];
    struct rc_term_enc e;
    size_t plen;
    struct rc_rpc_reply r;
    char names[64] = "";

    /* improper: [a | b] */
    rc_term_enc_init(&e, msg, sizeof msg);
    rc_term_put_version(&e);
    rc_term_put_tuple(&e, 2);
    rc_term_put_atom(&e, "rex");
    rc_term_put_list(&e, 1);
    rc_term_put_atom(&e, "a@h");
    rc_term_put_atom(&e, "b@h");
    plen = build_send(pkt, sizeof pkt, 2, 1, 1, msg, e.len);
    assert_int_equal(parse_exact(pkt, plen, &r), 0);
    assert_int_equal(rc_rpc_value_nodes(&r, collect, names), -EPROTO);
    assert_string_equal(names, ""); /* nothing reported before the whole was checked */

    /* an element that is not an atom */
    rc_term_enc_init(&e, msg, sizeof msg);
    rc_term_put_version(&e);
    rc_term_put_tuple(&e, 2);
    rc_term_put_atom(&e, "rex");
    rc_term_put_list(&e, 2);
    rc_term_put_atom(&e, "a@h");
    rc_term_put_long(&e, 5);
    rc_term_put_nil(&e);
    plen = build_send(pkt, sizeof pkt, 2, 1, 1, msg, e.len);
    assert_int_equal(parse_exact(pkt, plen, &r), 0);
    assert_int_equal(rc_rpc_value_nodes(&r, collect, names), -EPROTO);
    assert_string_equal(names, "");
}

static void test_parse_not_ours(void **state)
{
    uint8_t msg[64], pkt[256];
    struct rc_term_enc e;
    size_t plen;
    struct rc_rpc_reply r;

    /* {rex, true} but sent with REG_SEND to a name: not a reply */
    rc_term_enc_init(&e, pkt, sizeof pkt);
    rc_term_put_u8(&e, 112);
    rc_term_put_version(&e);
    rc_term_put_tuple(&e, 4);
    rc_term_put_long(&e, 6);
    rc_term_put_pid(&e, "app@h", 1, 0, 1);
    rc_term_put_atom(&e, "");
    rc_term_put_atom(&e, "rex");
    rc_term_put_raw(&e, msg, msg_rex_atom(msg, sizeof msg, "true"));
    assert_int_equal(parse_exact(pkt, e.len, &r), -ENOENT);

    /* {ref, yes}: a ping reply, not rex */
    rc_term_enc_init(&e, msg, sizeof msg);
    rc_term_put_version(&e);
    rc_term_put_tuple(&e, 2);
    rc_term_put_atom(&e, "rexx");
    rc_term_put_atom(&e, "yes");
    plen = build_send(pkt, sizeof pkt, 2, 1, 1, msg, e.len);
    assert_int_equal(parse_exact(pkt, plen, &r), -ENOENT);

    /* {rex}: wrong arity */
    rc_term_enc_init(&e, msg, sizeof msg);
    rc_term_put_version(&e);
    rc_term_put_tuple(&e, 1);
    rc_term_put_atom(&e, "rex");
    plen = build_send(pkt, sizeof pkt, 2, 1, 1, msg, e.len);
    assert_int_equal(parse_exact(pkt, plen, &r), -ENOENT);

    /* a control message alone (a tick-like LINK), no payload */
    rc_term_enc_init(&e, pkt, sizeof pkt);
    rc_term_put_u8(&e, 112);
    rc_term_put_version(&e);
    rc_term_put_tuple(&e, 3);
    rc_term_put_long(&e, 1);
    rc_term_put_pid(&e, "app@h", 1, 0, 1);
    rc_term_put_pid(&e, SELF, 1, 0, 1);
    assert_int_equal(parse_exact(pkt, e.len, &r), -ENOENT);
}

static void test_parse_malformed(void **state)
{
    uint8_t msg[64], pkt[256];
    size_t mlen = msg_rex_atom(msg, sizeof msg, "true");
    size_t plen = build_send(pkt, sizeof pkt, 2, 1, 1, msg, mlen);
    struct rc_rpc_reply r;

    /* every truncation is refused, never a read past the end: malformed,
     * or (cut right after the control message) a packet without a message */
    for (size_t cut = 0; cut < plen; cut++) {
        int rv = parse_exact(pkt, cut, &r);

        assert_true(rv == -EPROTO || rv == -ENOENT);
    }
    /* trailing garbage */
    pkt[plen] = 0;
    assert_int_equal(parse_exact(pkt, plen + 1, &r), -EPROTO);
    /* not pass-through */
    pkt[0] = 113;
    assert_int_equal(parse_exact(pkt, plen, &r), -EPROTO);
    pkt[0] = 112;
    /* an unknown tag inside the message */
    pkt[plen - 1] = 0xff;
    assert_int_equal(parse_exact(pkt, plen, &r), -EPROTO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build_call_shape),
        cmocka_unit_test(test_build_call_pid_is_the_reply_address),
        cmocka_unit_test(test_build_refuses),
        cmocka_unit_test(test_build_send_shape),
        cmocka_unit_test(test_parse_every_send_op),
        cmocka_unit_test(test_parse_otp_nodes_reply),
        cmocka_unit_test(test_parse_otp_badrpc_reply),
        cmocka_unit_test(test_parse_empty_nodes),
        cmocka_unit_test(test_nodes_refuses_bad_lists),
        cmocka_unit_test(test_parse_not_ours),
        cmocka_unit_test(test_parse_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_msg.c - distribution messages (erldist/msg.c) against the captures
 * of real OTP 25 and OTP 27 exchanges in tests/fixtures/vectors/.
 *
 * Packets under test sit in heap blocks of exactly their size, so the ASan
 * build (ROLLCALL_SANITIZE) turns any read past the end into a failure.
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

#include "rollcall/msg.h"
#include "rollcall/term.h"

#define VECTORS ROLLCALL_SOURCE_DIR "/tests/fixtures/vectors/"

struct packet {
    uint8_t *data; /* after the Len:32, exactly len bytes on the heap */
    size_t len;
    uint8_t *wire; /* with the Len:32 */
    size_t wire_len;
};

static void packet_free(struct packet *p)
{
    free(p->data);
    free(p->wire);
}

/* The n-th (from 0) non-tick DIST line of direction dir ("<-" or "->") in a
 * capture file. The Len:32 must match the bytes that follow it. */
static void load_dist(const char *file, const char *dir, int n, struct packet *ret)
{
    char path[512], line[4096];
    FILE *f;
    int seen = 0;

    snprintf(path, sizeof(path), VECTORS "%s", file);
    f = fopen(path, "r");
    if (!f)
        fail_msg("cannot open %s", path);
    while (fgets(line, sizeof(line), f)) {
        char d[3], kind[8], hex[4000];
        size_t hl;

        if (sscanf(line, "%2s %7s %3999s", d, kind, hex) != 3 || strcmp(d, dir) != 0 ||
            strcmp(kind, "DIST") != 0 || strcmp(hex, "00000000") == 0 || seen++ != n)
            continue;
        fclose(f);
        hl = strlen(hex) / 2;
        ret->wire = malloc(hl);
        assert_non_null(ret->wire);
        for (size_t i = 0; i < hl; i++) {
            unsigned v;

            assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
            ret->wire[i] = (uint8_t)v;
        }
        ret->wire_len = hl;
        assert_true(hl >= 4);
        assert_int_equal((uint32_t)ret->wire[0] << 24 | ret->wire[1] << 16 | ret->wire[2] << 8 |
                             ret->wire[3],
                         hl - 4);
        ret->len = hl - 4;
        ret->data = malloc(ret->len);
        assert_non_null(ret->data);
        memcpy(ret->data, ret->wire + 4, ret->len);
        return;
    }
    fclose(f);
    fail_msg("%s: no DIST line %d in direction %s", file, n, dir);
}

static uint8_t *dup_exact(const uint8_t *b, size_t n)
{
    uint8_t *p = malloc(n ? n : 1);

    assert_non_null(p);
    memcpy(p, b, n);
    return p;
}

/* ---- OTP pings us: otp25/27-pings-cnode.txt ---- */

static void check_otp_pings_us(const char *file, const char *node, uint32_t nids)
{
    struct packet req, reply;
    struct rc_msg m;
    struct rc_term_dec d;
    uint8_t out[RC_MSG_OUT_MAX];
    uint32_t ids[5], creation, n, got_nids;
    size_t len = 0;
    bool tail;
    char name[64];

    load_dist(file, "<-", 0, &req);
    load_dist(file, "->", 0, &reply);

    assert_int_equal(rc_msg_parse(req.data, req.len, &m), 0);
    assert_int_equal(m.kind, RC_MSG_IS_AUTH);

    /* The pid: NEW_PID of the caller's node; the tag: [alias | Ref]. */
    rc_term_dec_init(&d, m.from_pid, m.from_pid_len);
    assert_int_equal(rc_term_peek_tag(&d), RC_TAG_NEW_PID);
    assert_int_equal(rc_term_skip(&d), 0);
    assert_int_equal(d.pos, m.from_pid_len);
    assert_true(m.from_pid > req.data && m.from_pid + m.from_pid_len <= req.data + req.len);
    assert_int_not_equal(m.from_pid[-1], RC_TAG_VERSION); /* inside {Pid, Tag}, no 131 */

    rc_term_dec_init(&d, m.tag, m.tag_len);
    assert_int_equal(rc_term_dec_list(&d, &n, &tail), 0);
    assert_int_equal(n, 1);
    assert_true(tail);
    assert_int_equal(rc_term_dec_atom(&d, name, sizeof(name), NULL), 0);
    assert_string_equal(name, "alias");
    assert_int_equal(rc_term_dec_ref(&d, name, sizeof(name), &creation, ids, &got_nids), 0);
    assert_string_equal(name, node);
    assert_int_equal(got_nids, nids);
    assert_int_equal(d.pos, m.tag_len);

    /* Our answer is what OTP accepted in the capture, byte for byte. */
    assert_int_equal(rc_msg_build_is_auth_reply(out, sizeof(out), &len, &m), 0);
    assert_int_equal(len, reply.wire_len);
    assert_memory_equal(out, reply.wire, len);

    /* Exactly the needed capacity works; one byte less does not. */
    assert_int_equal(rc_msg_build_is_auth_reply(out, reply.wire_len, &len, &m), 0);
    len = 12345;
    assert_int_equal(rc_msg_build_is_auth_reply(out, reply.wire_len - 1, &len, &m), -EMSGSIZE);
    assert_int_equal(len, 12345);

    packet_free(&req);
    packet_free(&reply);
}

static void test_otp25_pings_us(void **state)
{
    check_otp_pings_us("otp25-pings-cnode.txt", "otp25@127.0.0.1", 3);
}

static void test_otp27_pings_us(void **state)
{
    check_otp_pings_us("otp27-pings-cnode.txt", "otp27@127.0.0.1", 5);
}

/* ---- we ping OTP: cnode-pings-otp25/27.txt ---- */

static void check_we_ping_otp(const char *file)
{
    /* The values in the capture's '->' line. */
    static const uint32_t ref_ids[3] = {2, 0, 0};
    const char *self = "py@127.0.0.1";
    const uint32_t creation = 0x6553f101, pid_id = 1;
    struct packet ping, answer;
    struct rc_msg m;
    uint8_t out[RC_MSG_OUT_MAX];
    size_t len = 0;

    load_dist(file, "->", 0, &ping);
    load_dist(file, "<-", 0, &answer);

    /* Our encoding choices (NEW_PID, SMALL_ATOM_UTF8, SMALL_TUPLE,
     * NEWER_REFERENCE of 3 words) are the capture's: equal bytes. */
    assert_int_equal(rc_msg_build_is_auth(out, sizeof(out), &len, self, creation, pid_id, ref_ids),
                     0);
    assert_int_equal(len, ping.wire_len);
    assert_memory_equal(out, ping.wire, len);

    /* And it reads back as an is_auth call with a plain Ref tag. */
    assert_int_equal(rc_msg_parse(out + 4, len - 4, &m), 0);
    assert_int_equal(m.kind, RC_MSG_IS_AUTH);
    assert_int_equal(m.tag[0], RC_TAG_NEWER_REFERENCE);

    /* OTP's answer: SEND {2, '', Pid} + {Ref, yes}. */
    assert_int_equal(rc_msg_parse(answer.data, answer.len, &m), 0);
    assert_int_equal(m.kind, RC_MSG_REPLY);
    assert_true(m.yes);
    assert_int_equal(m.ref_nids, 3);
    assert_memory_equal(m.ref_ids, ref_ids, sizeof(ref_ids));
    assert_int_equal(m.ref_creation, creation);
    assert_string_equal(m.ref_node, self); /* the node checks name and creation */

    packet_free(&ping);
    packet_free(&answer);
}

static void test_we_ping_otp25(void **state)
{
    check_we_ping_otp("cnode-pings-otp25.txt");
}

static void test_we_ping_otp27(void **state)
{
    check_we_ping_otp("cnode-pings-otp27.txt");
}

/* Ticks never reach rc_msg_parse; if one does, it is -EPROTO (no 112). */
static void test_tick_and_empty(void **state)
{
    struct rc_msg m = {.kind = RC_MSG_REPLY};
    uint8_t one = 112;

    assert_int_equal(rc_msg_parse(&one, 0, &m), -EPROTO);
    assert_int_equal(m.kind, RC_MSG_REPLY); /* untouched */
    assert_int_equal(rc_msg_parse(&one, 1, &m), -EPROTO);
}

/* Every prefix of every captured packet: never out of bounds, never a
 * false IS_AUTH / REPLY (the message term is incomplete). */
static void test_truncated_captures(void **state)
{
    static const struct {
        const char *file, *dir;
    } caps[] = {
        {"otp25-pings-cnode.txt", "<-"}, {"otp25-pings-cnode.txt", "->"},
        {"otp27-pings-cnode.txt", "<-"}, {"otp27-pings-cnode.txt", "->"},
        {"cnode-pings-otp25.txt", "<-"}, {"cnode-pings-otp25.txt", "->"},
        {"cnode-pings-otp27.txt", "<-"}, {"cnode-pings-otp27.txt", "->"},
    };

    for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
        struct packet p;
        struct rc_msg m;

        load_dist(caps[i].file, caps[i].dir, 0, &p);
        for (size_t cut = 0; cut < p.len; cut++) {
            uint8_t *b = dup_exact(p.data, cut);
            int r = rc_msg_parse(b, cut, &m);

            /* Cut right after the control term: a valid control-only packet. */
            if (r == 0)
                assert_int_equal(m.kind, RC_MSG_OTHER);
            else
                assert_int_equal(r, -EPROTO);
            free(b);
        }
        packet_free(&p);
    }
}

/* Every single-byte change of a captured REG_SEND: parsed or refused, never
 * out of bounds, and an IS_AUTH result always has spans inside the packet
 * and a reply that builds and parses. */
static void test_mutated_capture(void **state)
{
    struct packet p;
    static const uint8_t vals[] = {0x00, 0x01, 0x7f, 0x80, 0xff};

    load_dist("otp27-pings-cnode.txt", "<-", 0, &p);
    for (size_t i = 0; i < p.len; i++) {
        for (size_t v = 0; v < sizeof(vals); v++) {
            uint8_t *b = dup_exact(p.data, p.len);
            uint8_t out[RC_MSG_OUT_MAX];
            struct rc_msg m, r;
            size_t len;

            b[i] = vals[v];
            if (rc_msg_parse(b, p.len, &m) == 0 && m.kind == RC_MSG_IS_AUTH) {
                assert_true(m.from_pid >= b && m.from_pid + m.from_pid_len <= b + p.len);
                assert_true(m.tag >= b && m.tag + m.tag_len <= b + p.len);
                assert_int_equal(rc_msg_build_is_auth_reply(out, sizeof(out), &len, &m), 0);
                assert_int_equal(rc_msg_parse(out + 4, len - 4, &r), 0);
            }
            free(b);
        }
    }
    packet_free(&p);
}

/* ---- synthetic packets ---- */

struct pkt {
    uint8_t buf[1024];
    struct rc_term_enc e;
};

static void pkt_start(struct pkt *p)
{
    rc_term_enc_init(&p->e, p->buf, sizeof(p->buf));
    rc_term_put_u8(&p->e, 112);
    rc_term_put_version(&p->e);
}

static const uint32_t ids3[3] = {7, 8, 9};

static void put_our_pid(struct rc_term_enc *e)
{
    rc_term_put_pid(e, "a@h", 1, 0, 5);
}

static void put_their_pid(struct rc_term_enc *e)
{
    rc_term_put_pid(e, "b@h", 42, 0, 6);
}

/* {'$gen_call', {Pid, Tag}, {is_auth, 'b@h'}} with Tag a NEWER_REFERENCE */
static void put_is_auth_call(struct rc_term_enc *e)
{
    rc_term_put_version(e);
    rc_term_put_tuple(e, 3);
    rc_term_put_atom(e, "$gen_call");
    rc_term_put_tuple(e, 2);
    put_their_pid(e);
    rc_term_put_ref(e, "b@h", 6, ids3, 3);
    rc_term_put_tuple(e, 2);
    rc_term_put_atom(e, "is_auth");
    rc_term_put_atom(e, "b@h");
}

static int parse_pkt(struct pkt *p, struct rc_msg *m)
{
    uint8_t *b;
    int r;

    assert_int_equal(p->e.err, 0);
    b = dup_exact(p->buf, p->e.len);
    r = rc_msg_parse(b, p->e.len, m);
    if (r == 0 && m->kind == RC_MSG_IS_AUTH) { /* spans into our copy: re-point them */
        m->from_pid = p->buf + (m->from_pid - b);
        m->tag = p->buf + (m->tag - b);
    }
    free(b);
    return r;
}

static void test_reg_send_tt(void **state)
{
    struct pkt p;
    struct rc_msg m;

    pkt_start(&p);
    rc_term_put_tuple(&p.e, 5);
    rc_term_put_long(&p.e, 16);
    put_their_pid(&p.e);
    rc_term_put_atom(&p.e, "");
    rc_term_put_atom(&p.e, "net_kernel");
    rc_term_put_tuple(&p.e, 2); /* a trace token: any term */
    rc_term_put_atom(&p.e, "token");
    rc_term_put_long(&p.e, 1234567);
    put_is_auth_call(&p.e);
    assert_int_equal(parse_pkt(&p, &m), 0);
    assert_int_equal(m.kind, RC_MSG_IS_AUTH);
    assert_int_equal(m.from_pid[0], RC_TAG_NEW_PID);
    assert_int_equal(m.tag[0], RC_TAG_NEWER_REFERENCE);
    assert_int_equal(m.tag_len, 1 + 2 + 5 + 4 + 12);

    /* REG_SEND (6) with a token is not REG_SEND: well-formed, not ours. */
    p.buf[5] = 6;
    assert_int_equal(parse_pkt(&p, &m), 0);
    assert_int_equal(m.kind, RC_MSG_OTHER);
}

static void test_reg_send_other_names_and_shapes(void **state)
{
    static const char *const names[] = {"rex", "net_kernel2", "global_name_server", ""};
    struct pkt p;
    struct rc_msg m;

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        pkt_start(&p);
        rc_term_put_tuple(&p.e, 4);
        rc_term_put_long(&p.e, 6);
        put_their_pid(&p.e);
        rc_term_put_atom(&p.e, "");
        rc_term_put_atom(&p.e, names[i]);
        put_is_auth_call(&p.e);
        assert_int_equal(parse_pkt(&p, &m), 0);
        assert_int_equal(m.kind, RC_MSG_OTHER);
    }

    /* net_kernel, but some other call. */
    pkt_start(&p);
    rc_term_put_tuple(&p.e, 4);
    rc_term_put_long(&p.e, 6);
    put_their_pid(&p.e);
    rc_term_put_atom(&p.e, "");
    rc_term_put_atom(&p.e, "net_kernel");
    rc_term_put_version(&p.e);
    rc_term_put_tuple(&p.e, 3);
    rc_term_put_atom(&p.e, "$gen_call");
    rc_term_put_tuple(&p.e, 2);
    put_their_pid(&p.e);
    rc_term_put_ref(&p.e, "b@h", 6, ids3, 3);
    rc_term_put_tuple(&p.e, 2);
    rc_term_put_atom(&p.e, "spawn");
    rc_term_put_atom(&p.e, "b@h");
    assert_int_equal(parse_pkt(&p, &m), 0);
    assert_int_equal(m.kind, RC_MSG_OTHER);

    /* $gen_call whose From is not a pid. */
    pkt_start(&p);
    rc_term_put_tuple(&p.e, 4);
    rc_term_put_long(&p.e, 6);
    put_their_pid(&p.e);
    rc_term_put_atom(&p.e, "");
    rc_term_put_atom(&p.e, "net_kernel");
    rc_term_put_version(&p.e);
    rc_term_put_tuple(&p.e, 3);
    rc_term_put_atom(&p.e, "$gen_call");
    rc_term_put_tuple(&p.e, 2);
    rc_term_put_atom(&p.e, "notapid");
    rc_term_put_ref(&p.e, "b@h", 6, ids3, 3);
    rc_term_put_tuple(&p.e, 2);
    rc_term_put_atom(&p.e, "is_auth");
    rc_term_put_atom(&p.e, "b@h");
    assert_int_equal(parse_pkt(&p, &m), 0);
    assert_int_equal(m.kind, RC_MSG_OTHER);

    /* REG_SEND with no message at all. */
    pkt_start(&p);
    rc_term_put_tuple(&p.e, 4);
    rc_term_put_long(&p.e, 6);
    put_their_pid(&p.e);
    rc_term_put_atom(&p.e, "");
    rc_term_put_atom(&p.e, "net_kernel");
    assert_int_equal(parse_pkt(&p, &m), 0);
    assert_int_equal(m.kind, RC_MSG_OTHER);
}

/* {Ref, Answer} under each of the four send controls. */
static void put_reply(struct pkt *p, int op, const char *answer)
{
    pkt_start(p);
    rc_term_put_tuple(&p->e, op == 2 || op == 22 ? 3 : 4);
    rc_term_put_long(&p->e, op);
    if (op == 2 || op == 12)
        rc_term_put_atom(&p->e, "");
    else
        put_their_pid(&p->e);
    put_our_pid(&p->e);
    if (op == 12 || op == 23)
        rc_term_put_nil(&p->e); /* trace token */
    rc_term_put_version(&p->e);
    rc_term_put_tuple(&p->e, 2);
    rc_term_put_ref(&p->e, "a@h", 5, ids3, 3);
    if (answer)
        rc_term_put_atom(&p->e, answer);
    else
        rc_term_put_long(&p->e, -1);
}

static void test_replies(void **state)
{
    static const int ops[] = {2, 12, 22, 23};
    struct pkt p;
    struct rc_msg m;

    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        put_reply(&p, ops[i], "yes");
        assert_int_equal(parse_pkt(&p, &m), 0);
        assert_int_equal(m.kind, RC_MSG_REPLY);
        assert_true(m.yes);
        assert_int_equal(m.ref_nids, 3);
        assert_memory_equal(m.ref_ids, ids3, sizeof(ids3));
        assert_int_equal(m.ref_creation, 5);

        put_reply(&p, ops[i], "no");
        assert_int_equal(parse_pkt(&p, &m), 0);
        assert_int_equal(m.kind, RC_MSG_REPLY);
        assert_false(m.yes);

        put_reply(&p, ops[i], "yesss");
        assert_int_equal(parse_pkt(&p, &m), 0);
        assert_false(m.yes);

        put_reply(&p, ops[i], NULL); /* not an atom */
        assert_int_equal(parse_pkt(&p, &m), 0);
        assert_int_equal(m.kind, RC_MSG_REPLY);
        assert_false(m.yes);
    }

    /* 'yes' as a latin1 ATOM_EXT is still yes. */
    put_reply(&p, 2, "yes");
    p.e.len -= 5;
    rc_term_put_raw(&p.e, "\x64\x00\x03yes", 6);
    assert_int_equal(parse_pkt(&p, &m), 0);
    assert_int_equal(m.kind, RC_MSG_REPLY);
    assert_true(m.yes);

    /* A SEND whose message is not {Ref, _}. */
    pkt_start(&p);
    rc_term_put_tuple(&p.e, 3);
    rc_term_put_long(&p.e, 2);
    rc_term_put_atom(&p.e, "");
    put_our_pid(&p.e);
    rc_term_put_version(&p.e);
    rc_term_put_tuple(&p.e, 2);
    rc_term_put_atom(&p.e, "ref");
    rc_term_put_atom(&p.e, "yes");
    assert_int_equal(parse_pkt(&p, &m), 0);
    assert_int_equal(m.kind, RC_MSG_OTHER);
}

static void test_other_controls(void **state)
{
    struct pkt p;
    struct rc_msg m;

    /* LINK {1, From, To} */
    pkt_start(&p);
    rc_term_put_tuple(&p.e, 3);
    rc_term_put_long(&p.e, 1);
    put_their_pid(&p.e);
    put_our_pid(&p.e);
    assert_int_equal(parse_pkt(&p, &m), 0);
    assert_int_equal(m.kind, RC_MSG_OTHER);

    /* EXIT {3, From, To, Reason} */
    pkt_start(&p);
    rc_term_put_tuple(&p.e, 4);
    rc_term_put_long(&p.e, 3);
    put_their_pid(&p.e);
    put_our_pid(&p.e);
    rc_term_put_atom(&p.e, "normal");
    assert_int_equal(parse_pkt(&p, &m), 0);
    assert_int_equal(m.kind, RC_MSG_OTHER);

    /* MONITOR_P {19, From, ToProc, Ref} */
    pkt_start(&p);
    rc_term_put_tuple(&p.e, 4);
    rc_term_put_long(&p.e, 19);
    put_their_pid(&p.e);
    rc_term_put_atom(&p.e, "net_kernel");
    rc_term_put_ref(&p.e, "b@h", 6, ids3, 3);
    assert_int_equal(parse_pkt(&p, &m), 0);
    assert_int_equal(m.kind, RC_MSG_OTHER);

    /* UNLINK_ID {35, Id, From, To}, Id a big number */
    pkt_start(&p);
    rc_term_put_tuple(&p.e, 4);
    rc_term_put_long(&p.e, 35);
    rc_term_put_long(&p.e, INT64_MAX);
    put_their_pid(&p.e);
    put_our_pid(&p.e);
    assert_int_equal(parse_pkt(&p, &m), 0);
    assert_int_equal(m.kind, RC_MSG_OTHER);

    /* An unknown operation, with a message. */
    pkt_start(&p);
    rc_term_put_tuple(&p.e, 1);
    rc_term_put_long(&p.e, 99);
    rc_term_put_version(&p.e);
    rc_term_put_nil(&p.e);
    assert_int_equal(parse_pkt(&p, &m), 0);
    assert_int_equal(m.kind, RC_MSG_OTHER);

    /* A SEND of the wrong arity is not a reply. */
    pkt_start(&p);
    rc_term_put_tuple(&p.e, 2);
    rc_term_put_long(&p.e, 2);
    put_our_pid(&p.e);
    rc_term_put_version(&p.e);
    rc_term_put_tuple(&p.e, 2);
    rc_term_put_ref(&p.e, "a@h", 5, ids3, 3);
    rc_term_put_atom(&p.e, "yes");
    assert_int_equal(parse_pkt(&p, &m), 0);
    assert_int_equal(m.kind, RC_MSG_OTHER);
}

static void test_malformed(void **state)
{
    struct pkt p;
    struct rc_msg m = {.kind = RC_MSG_REPLY};
    size_t good;

    /* Not 112 first. */
    put_reply(&p, 2, "yes");
    p.buf[0] = 113;
    assert_int_equal(parse_pkt(&p, &m), -EPROTO);
    p.buf[0] = 112;
    assert_int_equal(parse_pkt(&p, &m), 0);
    good = p.e.len;

    /* Trailing garbage after the message, or a second message. */
    rc_term_put_u8(&p.e, 0);
    assert_int_equal(parse_pkt(&p, &m), -EPROTO);
    p.e.len = good;
    rc_term_put_version(&p.e);
    rc_term_put_nil(&p.e);
    assert_int_equal(parse_pkt(&p, &m), -EPROTO);
    p.e.len = good;

    /* The control without its 131. */
    memmove(p.buf + 1, p.buf + 2, good - 2);
    p.e.len = good - 1;
    assert_int_equal(parse_pkt(&p, &m), -EPROTO);

    /* The control not a tuple / an empty tuple / no integer first. */
    pkt_start(&p);
    rc_term_put_atom(&p.e, "send");
    assert_int_equal(parse_pkt(&p, &m), -EPROTO);
    pkt_start(&p);
    rc_term_put_tuple(&p.e, 0);
    assert_int_equal(parse_pkt(&p, &m), -EPROTO);
    pkt_start(&p);
    rc_term_put_tuple(&p.e, 2);
    rc_term_put_atom(&p.e, "two");
    rc_term_put_nil(&p.e);
    assert_int_equal(parse_pkt(&p, &m), -EPROTO);

    /* Something after the control that is not 131. */
    pkt_start(&p);
    rc_term_put_tuple(&p.e, 1);
    rc_term_put_long(&p.e, 99);
    rc_term_put_nil(&p.e);
    assert_int_equal(parse_pkt(&p, &m), -EPROTO);

    /* A compressed message term. */
    pkt_start(&p);
    rc_term_put_tuple(&p.e, 3);
    rc_term_put_long(&p.e, 2);
    rc_term_put_atom(&p.e, "");
    put_our_pid(&p.e);
    rc_term_put_version(&p.e);
    rc_term_put_raw(
        &p.e, "\x50\x00\x00\x00\x67\x78\x9c\xcb\x66\x48\x61\xa4\x03\x00\x00\x66\xa2\x01\x34", 19);
    assert_int_equal(parse_pkt(&p, &m), -EPROTO);

    /* An atom-cache header (131 'D') instead of 112. */
    pkt_start(&p);
    p.buf[0] = 131;
    p.buf[1] = 'D';
    rc_term_put_u8(&p.e, 0);
    assert_int_equal(parse_pkt(&p, &m), -EPROTO);

    /* A hostile length deep inside the message. */
    put_reply(&p, 22, "yes");
    p.e.len -= 5;                                         /* drop 'yes' */
    rc_term_put_raw(&p.e, "\x6c\xff\xff\xff\xff\x6a", 6); /* LIST_EXT 2^32-1 */
    assert_int_equal(parse_pkt(&p, &m), -EPROTO);

    /* A depth bomb as the message. */
    pkt_start(&p);
    rc_term_put_tuple(&p.e, 3);
    rc_term_put_long(&p.e, 2);
    rc_term_put_atom(&p.e, "");
    put_our_pid(&p.e);
    rc_term_put_version(&p.e);
    for (int i = 0; i < 300; i++)
        rc_term_put_tuple(&p.e, 1);
    rc_term_put_nil(&p.e);
    assert_int_equal(parse_pkt(&p, &m), -EPROTO);
    assert_int_equal(m.kind, RC_MSG_REPLY); /* from the last success: failures write nothing */
}

static void test_oversize(void **state)
{
    uint8_t *b = calloc(1, RC_MSG_MAX_PACKET + 1);
    struct rc_msg m;

    assert_non_null(b);
    b[0] = 112;
    assert_int_equal(rc_msg_parse(b, RC_MSG_MAX_PACKET + 1, &m), -EMSGSIZE);
    free(b);
}

static void test_build_errors(void **state)
{
    uint8_t out[RC_MSG_OUT_MAX];
    size_t len = 7, need;
    struct rc_msg m = {.kind = RC_MSG_OTHER};
    char big[RC_TERM_ATOM_MAX + 2];

    assert_int_equal(rc_msg_build_is_auth_reply(out, sizeof(out), &len, &m), -EINVAL);
    assert_int_equal(len, 7);

    assert_int_equal(rc_msg_build_is_auth(out, sizeof(out), &need, "a@h", 1, 1, ids3), 0);
    for (size_t cap = 0; cap < need; cap++) {
        uint8_t *b = malloc(cap ? cap : 1);

        assert_non_null(b);
        assert_int_equal(rc_msg_build_is_auth(b, cap, &len, "a@h", 1, 1, ids3), -EMSGSIZE);
        assert_int_equal(len, 7);
        free(b);
    }

    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(rc_msg_build_is_auth(out, sizeof(out), &len, big, 1, 1, ids3), -EMSGSIZE);
    assert_int_equal(len, 7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_otp25_pings_us),
        cmocka_unit_test(test_otp27_pings_us),
        cmocka_unit_test(test_we_ping_otp25),
        cmocka_unit_test(test_we_ping_otp27),
        cmocka_unit_test(test_tick_and_empty),
        cmocka_unit_test(test_truncated_captures),
        cmocka_unit_test(test_mutated_capture),
        cmocka_unit_test(test_reg_send_tt),
        cmocka_unit_test(test_reg_send_other_names_and_shapes),
        cmocka_unit_test(test_replies),
        cmocka_unit_test(test_other_controls),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_oversize),
        cmocka_unit_test(test_build_errors),
    };

    return cmocka_run_group_tests_name("msg", tests, NULL, NULL);
}

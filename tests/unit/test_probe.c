/*
 * test_probe.c - the indirect probe messages (erldist/probe.c): round trips
 * of every field, packets that are not probes, and bad input of every kind
 * addressed to rollcall_probe (each must be -EPROTO, never a crash).
 *
 * Packets under test sit in heap blocks of exactly their size, so the ASan
 * build turns any read past the end into a failure.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rollcall/msg.h"
#include "rollcall/probe.h"
#include "rollcall/term.h"

#define SELF "a@10.0.0.1"

/* Parses the data part of a built packet from an exact-size heap copy. */
static int parse_copy(const uint8_t *wire, size_t len, struct rc_probe *p)
{
    uint8_t *copy = malloc(len - 4);
    int r;

    assert_non_null(copy);
    memcpy(copy, wire + 4, len - 4);
    r = rc_probe_parse(copy, len - 4, p);
    free(copy);
    return r;
}

static void test_request_round_trip(void **state)
{
    struct rc_probe in, out;
    uint8_t buf[RC_MSG_OUT_MAX];
    size_t len;
    uint32_t ids[] = {0, 1, 255, 256, 65536, 0x7fffffff, 0xffffffff};

    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        memset(&in, 0, sizeof in);
        in.kind = RC_PROBE_REQUEST;
        in.id = ids[i];
        strcpy(in.target, "n3@10.77.0.4");
        in.deadline_ms = i == 0 ? 1 : RC_PROBE_DEADLINE_MAX;
        assert_int_equal(rc_probe_build(buf, sizeof buf, &len, SELF, 7, 42, &in), 0);
        assert_int_equal(((uint32_t)buf[0] << 24 | buf[1] << 16 | buf[2] << 8 | buf[3]), len - 4);
        assert_int_equal(parse_copy(buf, len, &out), 1);
        assert_int_equal(out.kind, RC_PROBE_REQUEST);
        assert_int_equal(out.id, in.id);
        assert_string_equal(out.target, in.target);
        assert_int_equal(out.deadline_ms, in.deadline_ms);
    }
}

static void test_reply_round_trip(void **state)
{
    struct rc_probe in, out;
    uint8_t buf[RC_MSG_OUT_MAX];
    size_t len;
    int64_t ages[] = {-1, 0, 1, 300, 70000, RC_PROBE_AGE_MAX};

    for (int res = RC_PROBE_OK; res <= RC_PROBE_BUSY; res++) {
        for (int ev = RC_PROBE_EV_NONE; ev <= RC_PROBE_EV_UNACKED; ev++) {
            for (size_t a = 0; a < sizeof ages / sizeof ages[0]; a++) {
                memset(&in, 0, sizeof in);
                in.kind = RC_PROBE_REPLY;
                in.id = 1000u + (uint32_t)a;
                in.result = (enum rc_probe_result)res;
                in.evidence = (enum rc_probe_evidence)ev;
                in.age_ms = ages[a];
                assert_int_equal(rc_probe_build(buf, sizeof buf, &len, SELF, 7, 42, &in), 0);
                assert_int_equal(parse_copy(buf, len, &out), 1);
                assert_int_equal(out.kind, RC_PROBE_REPLY);
                assert_int_equal(out.id, in.id);
                assert_int_equal(out.result, in.result);
                assert_int_equal(out.evidence, in.evidence);
                assert_int_equal(out.age_ms, in.age_ms);
            }
        }
    }
    assert_string_equal(rc_probe_result_str(RC_PROBE_TIMEOUT), "timeout");
    assert_string_equal(rc_probe_evidence_str(RC_PROBE_EV_ACKED), "acked");
    assert_string_equal(rc_probe_result_str((enum rc_probe_result)99), "unknown");
}

/* A probe packet is still an ordinary, well-formed distribution packet to
 * msg.c (which must not take it for a ping or a reply). */
static void test_msg_sees_other(void **state)
{
    struct rc_probe in = {.kind = RC_PROBE_REQUEST, .id = 5, .deadline_ms = 400};
    struct rc_msg m;
    uint8_t buf[RC_MSG_OUT_MAX];
    size_t len;

    strcpy(in.target, "b@h");
    assert_int_equal(rc_probe_build(buf, sizeof buf, &len, SELF, 7, 42, &in), 0);
    assert_int_equal(rc_msg_parse(buf + 4, len - 4, &m), 0);
    assert_int_equal(m.kind, RC_MSG_OTHER);
}

static void test_not_a_probe(void **state)
{
    uint8_t buf[RC_MSG_OUT_MAX];
    size_t len;
    struct rc_probe p;
    uint32_t ids[3] = {1, 2, 3};

    /* our own ping (a REG_SEND to net_kernel) is not a probe */
    assert_int_equal(rc_msg_build_is_auth(buf, sizeof buf, &len, SELF, 7, 42, ids), 0);
    assert_int_equal(parse_copy(buf, len, &p), 0);
}

/* Builds 112, 131 {6, Pid, '', To}, 131 <body built by fn>. */
typedef void (*body_fn)(struct rc_term_enc *e);

static size_t build_raw(uint8_t *out, size_t cap, const char *to, body_fn body)
{
    struct rc_term_enc e;

    rc_term_enc_init(&e, out, cap);
    rc_term_put_u8(&e, 112);
    rc_term_put_version(&e);
    rc_term_put_tuple(&e, 4);
    rc_term_put_long(&e, 6);
    rc_term_put_pid(&e, SELF, 1, 0, 7);
    rc_term_put_atom(&e, "");
    rc_term_put_atom(&e, to);
    rc_term_put_version(&e);
    body(&e);
    assert_int_equal(e.err, 0);
    return e.len;
}

static void hdr(struct rc_term_enc *e, uint32_t arity, int64_t version, const char *what)
{
    rc_term_put_tuple(e, arity);
    rc_term_put_atom(e, RC_PROBE_NAME);
    rc_term_put_long(e, version);
    rc_term_put_atom(e, what);
}

static void b_not_tuple(struct rc_term_enc *e)
{
    rc_term_put_atom(e, "hello");
}
static void b_wrong_tag(struct rc_term_enc *e)
{
    hdr(e, 6, 1, "req");
    rc_term_enc_init(e, e->buf, 0);
}
static void b_short(struct rc_term_enc *e)
{
    rc_term_put_tuple(e, 2);
    rc_term_put_atom(e, RC_PROBE_NAME);
    rc_term_put_long(e, 1);
}
static void b_bad_word(struct rc_term_enc *e)
{
    hdr(e, 6, 1, "ask");
    rc_term_put_long(e, 1);
    rc_term_put_atom(e, "b@h");
    rc_term_put_long(e, 100);
}
static void b_req_arity(struct rc_term_enc *e)
{
    hdr(e, 5, 1, "req");
    rc_term_put_long(e, 1);
    rc_term_put_atom(e, "b@h");
}
static void b_req_neg_id(struct rc_term_enc *e)
{
    hdr(e, 6, 1, "req");
    rc_term_put_long(e, -1);
    rc_term_put_atom(e, "b@h");
    rc_term_put_long(e, 100);
}
static void b_req_big_id(struct rc_term_enc *e)
{
    hdr(e, 6, 1, "req");
    rc_term_put_long(e, 0x100000000ll);
    rc_term_put_atom(e, "b@h");
    rc_term_put_long(e, 100);
}
static void b_req_bad_name(struct rc_term_enc *e)
{
    hdr(e, 6, 1, "req");
    rc_term_put_long(e, 1);
    rc_term_put_atom(e, "no-at-sign");
    rc_term_put_long(e, 100);
}
static void b_req_name_int(struct rc_term_enc *e)
{
    hdr(e, 6, 1, "req");
    rc_term_put_long(e, 1);
    rc_term_put_long(e, 5);
    rc_term_put_long(e, 100);
}
static void b_req_zero_dl(struct rc_term_enc *e)
{
    hdr(e, 6, 1, "req");
    rc_term_put_long(e, 1);
    rc_term_put_atom(e, "b@h");
    rc_term_put_long(e, 0);
}
static void b_req_huge_dl(struct rc_term_enc *e)
{
    hdr(e, 6, 1, "req");
    rc_term_put_long(e, 1);
    rc_term_put_atom(e, "b@h");
    rc_term_put_long(e, RC_PROBE_DEADLINE_MAX + 1);
}
static void b_rep_bad_result(struct rc_term_enc *e)
{
    hdr(e, 7, 1, "reply");
    rc_term_put_long(e, 1);
    rc_term_put_atom(e, "maybe");
    rc_term_put_atom(e, "none");
    rc_term_put_long(e, 0);
}
static void b_rep_bad_ev(struct rc_term_enc *e)
{
    hdr(e, 7, 1, "reply");
    rc_term_put_long(e, 1);
    rc_term_put_atom(e, "ok");
    rc_term_put_atom(e, "lots");
    rc_term_put_long(e, 0);
}
static void b_rep_bad_age(struct rc_term_enc *e)
{
    hdr(e, 7, 1, "reply");
    rc_term_put_long(e, 1);
    rc_term_put_atom(e, "ok");
    rc_term_put_atom(e, "none");
    rc_term_put_long(e, -2);
}
static void b_rep_arity(struct rc_term_enc *e)
{
    hdr(e, 6, 1, "reply");
    rc_term_put_long(e, 1);
    rc_term_put_atom(e, "ok");
    rc_term_put_atom(e, "none");
}
static void b_version0(struct rc_term_enc *e)
{
    hdr(e, 6, 0, "req");
    rc_term_put_long(e, 1);
    rc_term_put_atom(e, "b@h");
    rc_term_put_long(e, 100);
}
static void b_version2(struct rc_term_enc *e)
{
    hdr(e, 9, 2, "whatever");
    for (int i = 0; i < 6; i++)
        rc_term_put_long(e, i);
}
static void b_good_req(struct rc_term_enc *e)
{
    hdr(e, 6, 1, "req");
    rc_term_put_long(e, 9);
    rc_term_put_atom(e, "b@h");
    rc_term_put_long(e, 100);
}

static void expect(const char *to, body_fn body, int want)
{
    uint8_t buf[512];
    size_t len = build_raw(buf, sizeof buf, to, body);
    uint8_t *copy = malloc(len);
    struct rc_probe p;

    assert_non_null(copy);
    memcpy(copy, buf, len);
    assert_int_equal(rc_probe_parse(copy, len, &p), want);
    /* every truncation is malformed (or, cut right after the control
     * message, a control-only packet): never a probe, never a crash */
    for (size_t cut = 0; cut < len; cut++) {
        int r = rc_probe_parse(copy, cut, &p);
        assert_true(r == -EPROTO || r == 0);
    }
    free(copy);
}

static void test_bad_input(void **state)
{
    expect(RC_PROBE_NAME, b_good_req, 1);
    expect("someone_else", b_good_req, 0);
    expect(RC_PROBE_NAME, b_not_tuple, -EPROTO);
    expect(RC_PROBE_NAME, b_short, -EPROTO);
    expect(RC_PROBE_NAME, b_bad_word, -EPROTO);
    expect(RC_PROBE_NAME, b_req_arity, -EPROTO);
    expect(RC_PROBE_NAME, b_req_neg_id, -EPROTO);
    expect(RC_PROBE_NAME, b_req_big_id, -EPROTO);
    expect(RC_PROBE_NAME, b_req_bad_name, -EPROTO);
    expect(RC_PROBE_NAME, b_req_name_int, -EPROTO);
    expect(RC_PROBE_NAME, b_req_zero_dl, -EPROTO);
    expect(RC_PROBE_NAME, b_req_huge_dl, -EPROTO);
    expect(RC_PROBE_NAME, b_rep_bad_result, -EPROTO);
    expect(RC_PROBE_NAME, b_rep_bad_ev, -EPROTO);
    expect(RC_PROBE_NAME, b_rep_bad_age, -EPROTO);
    expect(RC_PROBE_NAME, b_rep_arity, -EPROTO);
    expect(RC_PROBE_NAME, b_version0, -EPROTO);
    expect(RC_PROBE_NAME, b_version2, 0); /* a later version: ignored, not an error */
    (void)b_wrong_tag;
}

static void test_garbage(void **state)
{
    struct rc_probe p;
    uint8_t junk[64];

    assert_int_equal(rc_probe_parse(NULL, 0, &p), -EPROTO);
    memset(junk, 0xff, sizeof junk);
    assert_int_equal(rc_probe_parse(junk, sizeof junk, &p), -EPROTO);
    junk[0] = 112;
    assert_int_equal(rc_probe_parse(junk, sizeof junk, &p), -EPROTO);
}

static void test_build_errors(void **state)
{
    struct rc_probe p;
    uint8_t buf[RC_MSG_OUT_MAX];
    size_t len;

    memset(&p, 0, sizeof p);
    p.kind = RC_PROBE_REQUEST;
    p.deadline_ms = 100;
    strcpy(p.target, "bad name");
    assert_int_equal(rc_probe_build(buf, sizeof buf, &len, SELF, 1, 1, &p), -EINVAL);
    strcpy(p.target, "b@h");
    p.deadline_ms = 0;
    assert_int_equal(rc_probe_build(buf, sizeof buf, &len, SELF, 1, 1, &p), -EINVAL);
    p.deadline_ms = 100;
    assert_int_equal(rc_probe_build(buf, 20, &len, SELF, 1, 1, &p), -EMSGSIZE);
    p.kind = RC_PROBE_REPLY;
    p.age_ms = -5;
    assert_int_equal(rc_probe_build(buf, sizeof buf, &len, SELF, 1, 1, &p), -EINVAL);
    p.age_ms = 0;
    p.result = (enum rc_probe_result)17;
    assert_int_equal(rc_probe_build(buf, sizeof buf, &len, SELF, 1, 1, &p), -EINVAL);
    p.kind = (enum rc_probe_kind)0;
    assert_int_equal(rc_probe_build(buf, sizeof buf, &len, SELF, 1, 1, &p), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_round_trip), cmocka_unit_test(test_reply_round_trip),
        cmocka_unit_test(test_msg_sees_other),     cmocka_unit_test(test_not_a_probe),
        cmocka_unit_test(test_bad_input),          cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_build_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

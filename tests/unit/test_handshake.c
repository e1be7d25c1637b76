/*
 * test_handshake.c - the distribution handshake state machine (erldist/handshake.c).
 *
 * The replay tests feed OTP's side of four real exchanges and compare what we
 * send with the captured bytes. The hex below is copied from the capture files
 * (tests/fixtures/vectors/), cited by file and
 * line; every frame includes its Len:16. Cookie of all captures: "vectors".
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "rollcall/handshake.h"
#include "rollcall/tls.h"

#define COOKIE "vectors"
#define PY "py@127.0.0.1"
#define PY_CREATION 0x6553f101u

/* cnode-pings-otp25.txt: py@127.0.0.1 dials peer25@127.0.0.1. */
#define C25_SEND_NAME "001b4e0000000403070f946553f101000c7079403132372e302e302e31" /* line 5 -> */
#define C25_STATUS "0003736f6b"                                                    /* line 6 <- */
#define C25_CHALLENGE                                                                              \
    "00234e0000000d07df7fbdc3a121d66b00cf250010706565723235403132372e302e302e31" /* line 7 <- */
#define C25_REPLY "00157200b95d031dd123c676856cbbcb5c6e568087b2ac"               /* line 8 -> */
#define C25_ACK "001161ccdca13cb185278f6ed89a787f35c106"                         /* line 9 <- */
/* cnode-pings-otp27.txt: py@127.0.0.1 dials peer27@127.0.0.1; lines 5 and 6 equal otp25's. */
#define C27_CHALLENGE                                                                              \
    "00234e0000000d07df7fbdc73e34666b00cf2d0010706565723237403132372e302e302e31" /* line 7 <- */
#define C27_REPLY "001572a32761740bf00bae8cb7830e6ea8ae4b2645a7d2"               /* line 8 -> */
#define C27_ACK "0011610e136b273d813eeaa15a844c17c81306"                         /* line 9 <- */
/* The first DIST packet after the handshake (cnode-pings-otp25.txt line 11, first bytes). */
#define DIST_AFTER "0000004c708368036102"

/* otp25-pings-cnode.txt: otp25@127.0.0.1 dials py@127.0.0.1. */
#define O25_SEND_NAME                                                                              \
    "001e4e0000000d07df7fbd6b00cf16000f6f74703235403132372e302e302e31" /* 7 <-                     \
                                                                        */
#define O25_STATUS "0003736f6b"                                        /* 8 -> */
#define O25_CHALLENGE                                                                              \
    "001f4e0000000403070f946b0eddda6553f101000c7079403132372e302e302e31" /* 9 -> */
#define O25_REPLY "0015726f10504db17eef743bc5e1cfb6508fe2caa07ba8"       /* line 10 <- */
#define O25_ACK "001161a0a5b93a2da0b5ac4610285070d203b1"                 /* line 11 -> */
#define O25_TICK "00000000"                                              /* line 12 <- */
/* otp27-pings-cnode.txt: otp27@127.0.0.1 dials py@127.0.0.1. */
#define O27_SEND_NAME                                                                              \
    "001e4e0000000d07df7fbd6b00cf1d000f6f74703237403132372e302e302e31" /* 7 <-                     \
                                                                        */
#define O27_CHALLENGE                                                                              \
    "001f4e0000000403070f9419cbec8f6553f101000c7079403132372e302e302e31" /* 9 -> */
#define O27_REPLY "0015728dc02b573e2ae7b344ac32b8cf4cf9bb7eb9e7c2"       /* line 10 <- */
#define O27_ACK "001161f392bc0ad6dd3ee0dec1fd7c7b5d27e3"                 /* line 11 -> */

#define OTP_FLAGS 0x0d07df7fbdULL /* what both OTP releases sent */
/* What the C node of the captures sent (rollcall's flags before
 * MANDATORY_25_DIGEST): replays set self_flags to it. */
#define CAPTURED_OUR_FLAGS 0x403070F94ULL

struct bytes {
    uint8_t b[4096];
    size_t n;
};

static void add_hex(struct bytes *x, const char *hex)
{
    unsigned v;

    for (; hex[0] && hex[1]; hex += 2) {
        assert_int_equal(sscanf(hex, "%2x", &v), 1);
        assert_true(x->n < sizeof(x->b));
        x->b[x->n++] = (uint8_t)v;
    }
    assert_int_equal(hex[0], '\0');
}

static void add_raw(struct bytes *x, const void *p, size_t n)
{
    assert_true(n <= sizeof(x->b) - x->n);
    memcpy(x->b + x->n, p, n);
    x->n += n;
}

static void add_be(struct bytes *x, uint64_t v, int width)
{
    while (width--)
        x->b[x->n++] = (uint8_t)(v >> (8 * width));
}

/* One Len:16 frame around a payload given as hex. */
static void add_frame_hex(struct bytes *x, const char *payload_hex)
{
    struct bytes p = {.n = 0};

    add_hex(&p, payload_hex);
    add_be(x, p.n, 2);
    add_raw(x, p.b, p.n);
}

static struct bytes hexb(const char *hex)
{
    struct bytes x = {.n = 0};

    add_hex(&x, hex);
    return x;
}

#define assert_bytes(got, got_len, hex)                                                            \
    do {                                                                                           \
        struct bytes want_ = hexb(hex);                                                            \
        assert_int_equal((got_len), want_.n);                                                      \
        assert_memory_equal((got), want_.b, want_.n);                                              \
    } while (0)

/* Acts as the connection layer: delivers the input `chunk` bytes per read
 * (0 = all at once), keeps unconsumed bytes, collects everything sent,
 * answers RC_HS_NAME with st, and stops at DONE or FAILED. */
struct run {
    int r;
    struct bytes sent;
    struct bytes left; /* bytes not consumed by the handshake */
};

static void drive(struct rc_hs *hs, const struct bytes *in, size_t chunk, enum rc_hs_status st,
                  struct run *run)
{
    struct rc_hs_out out = {.len = 0};
    struct bytes pend = {.n = 0};
    size_t pos = 0, used;

    memset(run, 0, sizeof(*run));
    run->r = rc_hs_start(hs, &out);
    add_raw(&run->sent, out.data, out.len);
    out.len = 0;
    while (run->r == RC_HS_AGAIN && pos < in->n) {
        size_t n = chunk && chunk < in->n - pos ? chunk : in->n - pos;

        add_raw(&pend, in->b + pos, n);
        pos += n;
        for (;;) {
            run->r = rc_hs_feed(hs, pend.b, pend.n, &used, &out);
            assert_true(used <= pend.n);
            memmove(pend.b, pend.b + used, pend.n - used);
            pend.n -= used;
            add_raw(&run->sent, out.data, out.len);
            out.len = 0;
            if (run->r != RC_HS_NAME)
                break;
            run->r = rc_hs_accept(hs, st, &out);
            add_raw(&run->sent, out.data, out.len);
            out.len = 0;
            if (run->r != RC_HS_AGAIN)
                break;
        }
    }
    add_raw(&run->left, pend.b, pend.n);
    add_raw(&run->left, in->b + pos, in->n - pos);
}

static void init_acceptor(struct rc_hs *hs, const char *cookie, uint32_t challenge)
{
    assert_int_equal(rc_hs_init(hs, RC_HS_ACCEPTOR, PY, PY_CREATION, (const uint8_t *)cookie,
                                strlen(cookie), NULL, challenge),
                     0);
    hs->self_flags = CAPTURED_OUR_FLAGS;
}

static void init_initiator(struct rc_hs *hs, const char *cookie, const char *peer,
                           uint32_t challenge)
{
    assert_int_equal(rc_hs_init(hs, RC_HS_INITIATOR, PY, PY_CREATION, (const uint8_t *)cookie,
                                strlen(cookie), peer, challenge),
                     0);
    hs->self_flags = CAPTURED_OUR_FLAGS;
}

static void assert_failed(const struct rc_hs *hs, int r, enum rc_reason reason)
{
    assert_int_equal(r, RC_HS_FAILED);
    assert_string_equal(rc_reason_str(hs->reason), rc_reason_str(reason));
    assert_true(hs->why[0] != '\0');
    assert_true(strnlen(hs->why, sizeof(hs->why)) < sizeof(hs->why));
    assert_null(strstr(hs->why, COOKIE));
    for (const char *c = hs->why; *c; c++)
        assert_true(*c >= 0x20 && *c < 0x7f);
}

/* ---- digest ---- */

static void test_digest_values(void **state)
{
    /* Expected values from python3: hashlib.md5(b"vectors" + str(c).encode()).hexdigest() */
    static const struct {
        uint32_t challenge;
        const char *md5;
    } cases[] = {
        {0, "9f679d4aba67bd170d20383bb79bc7d0"},
        {0x80000000u, "b3bbeb0f8c2f33e78cc9ebff7e370087"},
        {0xffffffffu, "47225888ca1aace1f7adabbe69f00c71"},
        /* cnode-pings-otp25.txt line 8: our digest of OTP's challenge 0xc3a121d6 (>= 2^31) */
        {0xc3a121d6u, "1dd123c676856cbbcb5c6e568087b2ac"},
    };
    uint8_t d[16];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        rc_hs_digest((const uint8_t *)COOKIE, strlen(COOKIE), cases[i].challenge, d);
        assert_bytes(d, sizeof(d), cases[i].md5);
    }
    /* hashlib.md5(b"" + b"0"): an empty cookie is just the decimal string. */
    rc_hs_digest(NULL, 0, 0, d);
    assert_bytes(d, sizeof(d), "cfcd208495d565ef66e7dff9f98764da");
    /* hashlib.md5(b"k" * 300 + b"4294967295"): no length limit of its own. */
    uint8_t long_cookie[300];
    memset(long_cookie, 'k', sizeof(long_cookie));
    rc_hs_digest(long_cookie, sizeof(long_cookie), 0xffffffffu, d);
    assert_bytes(d, sizeof(d), "ee0d97de53fd2521bedb217c73fa90c2");
}

/* ---- acceptor replays (OTP pings us) ---- */

struct acceptor_case {
    const char *send_name, *challenge, *reply, *ack;
    uint32_t my_challenge;
    const char *peer;
    uint32_t peer_creation;
};

static const struct acceptor_case acceptor_cases[] = {
    {O25_SEND_NAME, O25_CHALLENGE, O25_REPLY, O25_ACK, 0x6b0eddda, "otp25@127.0.0.1", 0x6b00cf16},
    {O27_SEND_NAME, O27_CHALLENGE, O27_REPLY, O27_ACK, 0x19cbec8f, "otp27@127.0.0.1", 0x6b00cf1d},
};

static void test_acceptor_replay(void **state)
{
    for (size_t i = 0; i < 2; i++) {
        const struct acceptor_case *c = &acceptor_cases[i];
        struct rc_hs hs;
        struct rc_hs_out out = {.len = 0};
        struct bytes in;
        size_t used;

        init_acceptor(&hs, COOKIE, c->my_challenge);
        assert_int_equal(rc_hs_start(&hs, &out), RC_HS_AGAIN);
        assert_int_equal(out.len, 0);

        in = hexb(c->send_name);
        assert_int_equal(rc_hs_feed(&hs, in.b, in.n, &used, &out), RC_HS_NAME);
        assert_int_equal(used, in.n);
        assert_int_equal(out.len, 0);
        assert_string_equal(hs.peer_name, c->peer);
        assert_true(hs.peer_flags == OTP_FLAGS);
        assert_int_equal(hs.peer_creation, c->peer_creation);

        /* Same flags, creation and challenge: our status + challenge equal the capture. */
        assert_int_equal(rc_hs_accept(&hs, RC_HS_ST_OK, &out), RC_HS_AGAIN);
        struct bytes want = hexb(O25_STATUS);
        add_hex(&want, c->challenge);
        assert_int_equal(out.len, want.n);
        assert_memory_equal(out.data, want.b, want.n);
        out.len = 0;

        in = hexb(c->reply);
        assert_int_equal(rc_hs_feed(&hs, in.b, in.n, &used, &out), RC_HS_DONE);
        assert_int_equal(used, in.n);
        assert_bytes(out.data, out.len, c->ack);
        assert_int_equal(hs.reason, RC_REASON_OK);
    }
}

/* ---- initiator replays (we ping OTP) ---- */

struct initiator_case {
    const char *challenge, *reply, *ack, *peer;
    uint32_t my_challenge;
    uint32_t peer_creation;
};

static const struct initiator_case initiator_cases[] = {
    {C25_CHALLENGE, C25_REPLY, C25_ACK, "peer25@127.0.0.1", 0x00b95d03, 0x6b00cf25},
    {C27_CHALLENGE, C27_REPLY, C27_ACK, "peer27@127.0.0.1", 0xa3276174, 0x6b00cf2d},
};

static void test_initiator_replay(void **state)
{
    for (size_t i = 0; i < 2; i++) {
        const struct initiator_case *c = &initiator_cases[i];
        struct rc_hs hs;
        struct rc_hs_out out = {.len = 0};
        struct bytes in;
        size_t used;

        init_initiator(&hs, COOKIE, c->peer, c->my_challenge);
        assert_int_equal(rc_hs_start(&hs, &out), RC_HS_AGAIN);
        assert_bytes(out.data, out.len, C25_SEND_NAME);
        out.len = 0;

        in = hexb(C25_STATUS);
        assert_int_equal(rc_hs_feed(&hs, in.b, in.n, &used, &out), RC_HS_AGAIN);
        assert_int_equal(used, in.n);
        assert_int_equal(out.len, 0);

        in = hexb(c->challenge);
        assert_int_equal(rc_hs_feed(&hs, in.b, in.n, &used, &out), RC_HS_AGAIN);
        assert_int_equal(used, in.n);
        assert_bytes(out.data, out.len, c->reply);
        assert_true(hs.peer_flags == OTP_FLAGS);
        assert_int_equal(hs.peer_creation, c->peer_creation);
        out.len = 0;

        /* 'a' and the first 4-byte-framed packet in one read: the packet stays. */
        in = hexb(c->ack);
        size_t ack_len = in.n;
        add_hex(&in, DIST_AFTER);
        assert_int_equal(rc_hs_feed(&hs, in.b, in.n, &used, &out), RC_HS_DONE);
        assert_int_equal(used, ack_len);
        assert_int_equal(out.len, 0);
        assert_int_equal(hs.reason, RC_REASON_OK);
    }
}

/* ---- every chunking gives the same transcript ---- */

static void check_chunkings(enum rc_hs_role role, size_t i)
{
    struct bytes in = {.n = 0}, want = {.n = 0};
    struct run one, run;
    struct rc_hs hs;

    if (role == RC_HS_ACCEPTOR) {
        const struct acceptor_case *c = &acceptor_cases[i];

        add_hex(&in, c->send_name);
        add_hex(&in, c->reply);
        add_hex(&want, O25_STATUS);
        add_hex(&want, c->challenge);
        add_hex(&want, c->ack);
    } else {
        const struct initiator_case *c = &initiator_cases[i];

        add_hex(&in, C25_STATUS);
        add_hex(&in, c->challenge);
        add_hex(&in, c->ack);
        add_hex(&want, C25_SEND_NAME);
        add_hex(&want, c->reply);
    }
    add_hex(&in, O25_TICK);
    add_hex(&in, DIST_AFTER);

    for (size_t chunk = 0; chunk <= in.n; chunk++) {
        if (role == RC_HS_ACCEPTOR)
            init_acceptor(&hs, COOKIE, acceptor_cases[i].my_challenge);
        else
            init_initiator(&hs, COOKIE, initiator_cases[i].peer, initiator_cases[i].my_challenge);
        drive(&hs, &in, chunk, RC_HS_ST_OK, chunk ? &run : &one);
        if (!chunk) {
            assert_int_equal(one.r, RC_HS_DONE);
            assert_int_equal(one.sent.n, want.n);
            assert_memory_equal(one.sent.b, want.b, want.n);
            assert_bytes(one.left.b, one.left.n, O25_TICK DIST_AFTER);
            continue;
        }
        assert_int_equal(run.r, one.r);
        assert_int_equal(run.sent.n, one.sent.n);
        assert_memory_equal(run.sent.b, one.sent.b, one.sent.n);
        assert_int_equal(run.left.n, one.left.n);
        assert_memory_equal(run.left.b, one.left.b, one.left.n);
    }
}

static void test_split_at_every_offset(void **state)
{
    for (size_t i = 0; i < 2; i++) {
        check_chunkings(RC_HS_ACCEPTOR, i);
        check_chunkings(RC_HS_INITIATOR, i);
    }
}

/* Feeding a prefix of a frame consumes nothing; the rest completes it. */
static void test_partial_frame_not_consumed(void **state)
{
    struct rc_hs hs;
    struct rc_hs_out out = {.len = 0};
    struct bytes in = hexb(O25_SEND_NAME);
    size_t used = 99;

    init_acceptor(&hs, COOKIE, 1);
    for (size_t n = 0; n < in.n; n++) {
        assert_int_equal(rc_hs_feed(&hs, in.b, n, &used, &out), RC_HS_AGAIN);
        assert_int_equal(used, 0);
    }
    assert_int_equal(rc_hs_feed(&hs, in.b, in.n, &used, &out), RC_HS_NAME);
    assert_int_equal(used, in.n);
}

/* ---- wrong cookie ---- */

static void test_wrong_cookie_acceptor(void **state)
{
    struct rc_hs hs;
    struct rc_hs_out out = {.len = 0};
    struct bytes in = hexb(O25_SEND_NAME);
    size_t used;

    assert_int_equal(rc_hs_init(&hs, RC_HS_ACCEPTOR, PY, PY_CREATION, (const uint8_t *)"other", 5,
                                NULL, 0x6b0eddda),
                     0);
    assert_int_equal(rc_hs_feed(&hs, in.b, in.n, &used, &out), RC_HS_NAME);
    assert_int_equal(rc_hs_accept(&hs, RC_HS_ST_OK, &out), RC_HS_AGAIN);
    out.len = 0;
    in = hexb(O25_REPLY);
    assert_failed(&hs, rc_hs_feed(&hs, in.b, in.n, &used, &out), RC_REASON_COOKIE_REJECTED);
    assert_int_equal(out.len, 0); /* no 'a' */
    assert_null(strstr(hs.why, "other"));
}

static void test_wrong_cookie_initiator(void **state)
{
    struct rc_hs hs;
    struct rc_hs_out out = {.len = 0};
    struct bytes in;
    size_t used;

    init_initiator(&hs, "other", "peer25@127.0.0.1", 0x00b95d03);
    rc_hs_start(&hs, &out);
    in = hexb(C25_STATUS C25_CHALLENGE);
    assert_int_equal(rc_hs_feed(&hs, in.b, in.n, &used, &out), RC_HS_AGAIN);
    out.len = 0;
    in = hexb(C25_ACK);
    assert_failed(&hs, rc_hs_feed(&hs, in.b, in.n, &used, &out), RC_REASON_COOKIE_REJECTED);
    assert_int_equal(out.len, 0);
    assert_null(strstr(hs.why, "other"));
}

/* ---- initiator: statuses and challenge checks ---- */

/* An initiator for peer25 after send_name, fed one status frame. */
static int initiator_status(struct rc_hs *hs, struct rc_hs_out *out, const char *status_hex)
{
    struct bytes in = {.n = 0};
    size_t used;

    init_initiator(hs, COOKIE, "peer25@127.0.0.1", 0x00b95d03);
    assert_int_equal(rc_hs_start(hs, out), RC_HS_AGAIN);
    out->len = 0;
    add_frame_hex(&in, status_hex);
    return rc_hs_feed(hs, in.b, in.n, &used, out);
}

static void test_initiator_statuses(void **state)
{
    struct rc_hs hs;
    struct rc_hs_out out = {.len = 0};
    struct bytes in = hexb(C25_CHALLENGE);
    size_t used;

    /* "s" "ok_simultaneous": continue to the challenge. */
    assert_int_equal(initiator_status(&hs, &out, "736f6b5f73696d756c74616e656f7573"), RC_HS_AGAIN);
    assert_int_equal(out.len, 0);
    assert_int_equal(rc_hs_feed(&hs, in.b, in.n, &used, &out), RC_HS_AGAIN);
    assert_bytes(out.data, out.len, C25_REPLY);

    /* "s" "alive": answer "s" "true", then the challenge as usual. */
    out.len = 0;
    assert_int_equal(initiator_status(&hs, &out, "73616c697665"), RC_HS_AGAIN);
    assert_bytes(out.data, out.len, "00057374727565");
    out.len = 0;
    assert_int_equal(rc_hs_feed(&hs, in.b, in.n, &used, &out), RC_HS_AGAIN);
    assert_bytes(out.data, out.len, C25_REPLY);

    /* "s" "nok" */
    out.len = 0;
    assert_failed(&hs, initiator_status(&hs, &out, "736e6f6b"), RC_REASON_HANDSHAKE_FAILED);
    assert_string_equal(hs.why, "nok (peer's own connection attempt wins)");
    assert_int_equal(out.len, 0);

    /* "s" "not_allowed" */
    assert_failed(&hs, initiator_status(&hs, &out, "736e6f745f616c6c6f776564"),
                  RC_REASON_HANDSHAKE_FAILED);

    /* unknown status "s" "okay", a status with a control byte, a non-'s' tag */
    assert_failed(&hs, initiator_status(&hs, &out, "736f6b6179"), RC_REASON_PROTOCOL_ERROR);
    assert_failed(&hs, initiator_status(&hs, &out, "736f6b0a"), RC_REASON_PROTOCOL_ERROR);
    assert_failed(&hs, initiator_status(&hs, &out, "746f6b"), RC_REASON_PROTOCOL_ERROR);
    assert_int_equal(out.len, 0);
}

static void test_initiator_challenge_checks(void **state)
{
    struct rc_hs hs;
    struct rc_hs_out out = {.len = 0};
    struct bytes in;
    size_t used;

    /* OTP names itself peer25@127.0.0.1, we dialled peer25@localhost. */
    init_initiator(&hs, COOKIE, "peer25@localhost", 0x00b95d03);
    rc_hs_start(&hs, &out);
    out.len = 0;
    in = hexb(C25_STATUS C25_CHALLENGE);
    assert_failed(&hs, rc_hs_feed(&hs, in.b, in.n, &used, &out), RC_REASON_HANDSHAKE_FAILED);
    assert_non_null(strstr(hs.why, "peer25@127.0.0.1"));
    assert_int_equal(out.len, 0);

    /* A prefix of the dialled name is not the dialled name. */
    init_initiator(&hs, COOKIE, "peer25@127.0.0.10", 0x00b95d03);
    rc_hs_start(&hs, &out);
    out.len = 0;
    assert_failed(&hs, rc_hs_feed(&hs, in.b, in.n, &used, &out), RC_REASON_HANDSHAKE_FAILED);

    /* Without HANDSHAKE_23 (0x01000000 cleared in byte 4 of Flags). */
    init_initiator(&hs, COOKIE, "peer25@127.0.0.1", 0x00b95d03);
    rc_hs_start(&hs, &out);
    out.len = 0;
    assert_int_equal(in.b[5 + 3 + 4], 0x07);
    in.b[5 + 3 + 4] = 0x06;
    assert_failed(&hs, rc_hs_feed(&hs, in.b, in.n, &used, &out), RC_REASON_HANDSHAKE_FAILED);
    assert_int_equal(out.len, 0);

    /* A long hostile name: why quotes a bounded, printable part of it. */
    init_initiator(&hs, COOKIE, "peer25@127.0.0.1", 0x00b95d03);
    rc_hs_start(&hs, &out);
    out.len = 0;
    in = hexb(C25_STATUS);
    add_be(&in, 1 + 8 + 4 + 4 + 2 + 600, 2);
    add_hex(&in, "4e0000000d07df7fbdc3a121d66b00cf25");
    add_be(&in, 600, 2);
    for (int k = 0; k < 600; k++)
        in.b[in.n++] = k % 7 ? 'x' : '\n';
    assert_failed(&hs, rc_hs_feed(&hs, in.b, in.n, &used, &out), RC_REASON_HANDSHAKE_FAILED);
    assert_non_null(strstr(hs.why, "..."));
}

/* Trailing bytes after the name in either 'N' frame are ignored. */
static void test_trailing_bytes_after_name(void **state)
{
    struct rc_hs hs;
    struct rc_hs_out out = {.len = 0};
    struct bytes in = {.n = 0};
    size_t used;

    /* challenge payload (cnode-pings-otp25.txt line 7 without its Len) + "xyz" */
    init_initiator(&hs, COOKIE, "peer25@127.0.0.1", 0x00b95d03);
    rc_hs_start(&hs, &out);
    out.len = 0;
    add_hex(&in, C25_STATUS);
    add_frame_hex(&in, "4e0000000d07df7fbdc3a121d66b00cf250010706565723235403132372e302e302e31"
                       "78797a");
    assert_int_equal(rc_hs_feed(&hs, in.b, in.n, &used, &out), RC_HS_AGAIN);
    assert_int_equal(used, in.n);
    assert_bytes(out.data, out.len, C25_REPLY);

    /* send_name payload (otp25-pings-cnode.txt line 7 without its Len) + "xyz" */
    init_acceptor(&hs, COOKIE, 1);
    out.len = in.n = 0;
    add_frame_hex(&in, "4e0000000d07df7fbd6b00cf16000f6f74703235403132372e302e302e3178797a");
    assert_int_equal(rc_hs_feed(&hs, in.b, in.n, &used, &out), RC_HS_NAME);
    assert_string_equal(hs.peer_name, "otp25@127.0.0.1");
}

/* ---- acceptor: name, flags, status answers ---- */

/* An acceptor fed one send_name frame carrying name (flags as OTP's). */
static int acceptor_name(struct rc_hs *hs, struct rc_hs_out *out, const void *name, size_t nlen)
{
    struct bytes in = {.n = 0};
    size_t used;

    init_acceptor(hs, COOKIE, 1);
    add_be(&in, 1 + 8 + 4 + 2 + nlen, 2);
    add_hex(&in, "4e0000000d07df7fbd6b00cf16");
    add_be(&in, nlen, 2);
    add_raw(&in, name, nlen);
    return rc_hs_feed(hs, in.b, in.n, &used, out);
}

static void test_acceptor_peer_names(void **state)
{
    static const char *bad[] = {"otp25",    "@127.0.0.1", "otp25@",   "a@b@c",
                                "a.b@host", "a b@host",   "a@host/x", "\xc3\xa9@host"};
    struct rc_hs hs;
    struct rc_hs_out out = {.len = 0};
    char name[RC_NAME_MAX + 2];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_failed(&hs, acceptor_name(&hs, &out, bad[i], strlen(bad[i])),
                      RC_REASON_PROTOCOL_ERROR);
        assert_int_equal(out.len, 0);
    }
    assert_failed(&hs, acceptor_name(&hs, &out, "a@b\0c", 5), RC_REASON_PROTOCOL_ERROR);
    assert_failed(&hs, acceptor_name(&hs, &out, "a@b\n\x1b[31m", 9), RC_REASON_PROTOCOL_ERROR);

    /* 255 bytes is the longest name, 256 is too long. */
    memset(name, 'h', sizeof(name));
    name[0] = 'a';
    name[1] = '@';
    assert_int_equal(acceptor_name(&hs, &out, name, RC_NAME_MAX), RC_HS_NAME);
    assert_int_equal(strlen(hs.peer_name), RC_NAME_MAX);
    assert_failed(&hs, acceptor_name(&hs, &out, name, RC_NAME_MAX + 1), RC_REASON_PROTOCOL_ERROR);
    assert_true(strlen(hs.why) < 120);
}

static void test_acceptor_flags_and_old_name(void **state)
{
    struct rc_hs hs;
    struct rc_hs_out out = {.len = 0};
    struct bytes in = hexb(O25_SEND_NAME);
    size_t used;

    /* OTP's send_name without HANDSHAKE_23: answer not_allowed, as OTP does. */
    init_acceptor(&hs, COOKIE, 1);
    assert_int_equal(in.b[3 + 4], 0x07);
    in.b[3 + 4] = 0x06;
    assert_failed(&hs, rc_hs_feed(&hs, in.b, in.n, &used, &out), RC_REASON_HANDSHAKE_FAILED);
    assert_bytes(out.data, out.len, "000c736e6f745f616c6c6f776564");

    /* The old 'n' Version:16 Flags:32 Name: refused with not_allowed. */
    init_acceptor(&hs, COOKIE, 1);
    out.len = in.n = 0;
    add_frame_hex(&in, "6e000501077f7d6f74703235403132372e302e302e31");
    assert_failed(&hs, rc_hs_feed(&hs, in.b, in.n, &used, &out), RC_REASON_HANDSHAKE_FAILED);
    assert_bytes(out.data, out.len, "000c736e6f745f616c6c6f776564");
}

static void test_acceptor_status_answers(void **state)
{
    struct rc_hs hs;
    struct rc_hs_out out = {.len = 0};
    struct bytes in = hexb(O25_SEND_NAME);
    size_t used;

    init_acceptor(&hs, COOKIE, 0x6b0eddda);
    assert_int_equal(rc_hs_feed(&hs, in.b, in.n, &used, &out), RC_HS_NAME);
    /* Until rc_hs_accept, feeding reads nothing and repeats RC_HS_NAME. */
    in = hexb(O25_REPLY);
    assert_int_equal(rc_hs_feed(&hs, in.b, in.n, &used, &out), RC_HS_NAME);
    assert_int_equal(used, 0);
    assert_int_equal(rc_hs_accept(&hs, RC_HS_ST_OK_SIMULTANEOUS, &out), RC_HS_AGAIN);
    assert_bytes(out.data, out.len, "0010736f6b5f73696d756c74616e656f7573" O25_CHALLENGE);
    out.len = 0;
    assert_int_equal(rc_hs_feed(&hs, in.b, in.n, &used, &out), RC_HS_DONE);
    assert_bytes(out.data, out.len, O25_ACK);

    out.len = 0;
    in = hexb(O25_SEND_NAME);
    init_acceptor(&hs, COOKIE, 1);
    assert_int_equal(rc_hs_feed(&hs, in.b, in.n, &used, &out), RC_HS_NAME);
    assert_failed(&hs, rc_hs_accept(&hs, RC_HS_ST_NOK, &out), RC_REASON_HANDSHAKE_FAILED);
    assert_bytes(out.data, out.len, "0004736e6f6b");

    out.len = 0;
    init_acceptor(&hs, COOKIE, 1);
    assert_int_equal(rc_hs_feed(&hs, in.b, in.n, &used, &out), RC_HS_NAME);
    assert_failed(&hs, rc_hs_accept(&hs, RC_HS_ST_NOT_ALLOWED, &out), RC_REASON_HANDSHAKE_FAILED);
    assert_bytes(out.data, out.len, "000c736e6f745f616c6c6f776564");

    /* Out of order: before the name. */
    out.len = 0;
    init_acceptor(&hs, COOKIE, 1);
    assert_failed(&hs, rc_hs_accept(&hs, RC_HS_ST_OK, &out), RC_REASON_HANDSHAKE_FAILED);
    assert_int_equal(out.len, 0);
}

/* ---- framing errors ---- */

/* What one input does to a fresh acceptor, or to an acceptor that has sent its challenge. */
static int acceptor_after(struct rc_hs *hs, bool challenged, const struct bytes *in,
                          size_t *ret_used)
{
    struct rc_hs_out out = {.len = 0};
    struct bytes name = hexb(O25_SEND_NAME);
    size_t used;

    init_acceptor(hs, COOKIE, 0x6b0eddda);
    if (challenged) {
        assert_int_equal(rc_hs_feed(hs, name.b, name.n, &used, &out), RC_HS_NAME);
        assert_int_equal(rc_hs_accept(hs, RC_HS_ST_OK, &out), RC_HS_AGAIN);
        out.len = 0;
    }
    int r = rc_hs_feed(hs, in->b, in->n, ret_used, &out);
    if (r == RC_HS_FAILED)
        assert_int_equal(out.len, 0);
    return r;
}

static void test_framing_errors(void **state)
{
    struct rc_hs hs;
    struct bytes in;
    size_t used;

    in = hexb("0000");
    assert_failed(&hs, acceptor_after(&hs, false, &in, &used), RC_REASON_PROTOCOL_ERROR);
    /* Over RC_HS_FRAME_MAX: refused from the length alone. */
    in = hexb("0401");
    assert_failed(&hs, acceptor_after(&hs, false, &in, &used), RC_REASON_PROTOCOL_ERROR);
    in = hexb("ffff4e");
    assert_failed(&hs, acceptor_after(&hs, true, &in, &used), RC_REASON_PROTOCOL_ERROR);
    /* Wrong tags. */
    in = hexb(O25_STATUS);
    assert_failed(&hs, acceptor_after(&hs, false, &in, &used), RC_REASON_PROTOCOL_ERROR);
    in = hexb(O25_SEND_NAME);
    assert_failed(&hs, acceptor_after(&hs, true, &in, &used), RC_REASON_PROTOCOL_ERROR);
    /* 'N' shorter than its fixed part, and an Nlen past the end of the frame. */
    in = hexb("000e4e0000000d07df7fbd6b00cf1600");
    assert_failed(&hs, acceptor_after(&hs, false, &in, &used), RC_REASON_PROTOCOL_ERROR);
    in = hexb("001e4e0000000d07df7fbd6b00cf1600106f74703235403132372e302e302e31");
    assert_failed(&hs, acceptor_after(&hs, false, &in, &used), RC_REASON_PROTOCOL_ERROR);
    /* 'r' of 20 and 22 bytes. */
    in = hexb("0014726f10504db17eef743bc5e1cfb6508fe2caa07b");
    assert_failed(&hs, acceptor_after(&hs, true, &in, &used), RC_REASON_PROTOCOL_ERROR);
    in = hexb("0016726f10504db17eef743bc5e1cfb6508fe2caa07ba800");
    assert_failed(&hs, acceptor_after(&hs, true, &in, &used), RC_REASON_PROTOCOL_ERROR);

    /* A frame of exactly RC_HS_FRAME_MAX bytes is fine ('N' + trailing padding). */
    in = hexb("0400");
    add_hex(&in, &O25_SEND_NAME[4]); /* the payload, without Len */
    while (in.n < 2 + RC_HS_FRAME_MAX)
        in.b[in.n++] = 0;
    assert_int_equal(acceptor_after(&hs, false, &in, &used), RC_HS_NAME);
    assert_int_equal(used, in.n);
}

static void test_initiator_framing_errors(void **state)
{
    struct rc_hs hs;
    struct rc_hs_out out = {.len = 0};
    struct bytes in = hexb(C25_STATUS);
    size_t used;

    /* The peer speaks before our send_name. */
    init_initiator(&hs, COOKIE, "peer25@127.0.0.1", 0x00b95d03);
    assert_failed(&hs, rc_hs_feed(&hs, in.b, in.n, &used, &out), RC_REASON_PROTOCOL_ERROR);

    /* A status where the challenge belongs, and challenges cut short: below
     * the fixed part, and with an Nlen one past the end. */
    static const char *challenges[] = {
        C25_STATUS,
        "00124e0000000d07df7fbdc3a121d66b00cf2500",
        "00234e0000000d07df7fbdc3a121d66b00cf250011706565723235403132372e302e302e31",
    };
    for (size_t i = 0; i < 3; i++) {
        init_initiator(&hs, COOKIE, "peer25@127.0.0.1", 0x00b95d03);
        rc_hs_start(&hs, &out);
        out.len = 0;
        in = hexb(C25_STATUS);
        add_hex(&in, challenges[i]);
        assert_failed(&hs, rc_hs_feed(&hs, in.b, in.n, &used, &out), RC_REASON_PROTOCOL_ERROR);
        assert_int_equal(out.len, 0);
    }

    /* 'a' of 16 and 18 bytes, and 'r' where 'a' belongs. */
    static const char *acks[] = {"001061ccdca13cb185278f6ed89a787f35c1",
                                 "001261ccdca13cb185278f6ed89a787f35c10600", C25_REPLY};
    for (size_t i = 0; i < 3; i++) {
        init_initiator(&hs, COOKIE, "peer25@127.0.0.1", 0x00b95d03);
        rc_hs_start(&hs, &out);
        in = hexb(C25_STATUS C25_CHALLENGE);
        assert_int_equal(rc_hs_feed(&hs, in.b, in.n, &used, &out), RC_HS_AGAIN);
        out.len = 0;
        in = hexb(acks[i]);
        assert_failed(&hs, rc_hs_feed(&hs, in.b, in.n, &used, &out), RC_REASON_PROTOCOL_ERROR);
        assert_int_equal(out.len, 0);
    }
}

/* ---- terminal states ---- */

static void test_terminal_states_are_sticky(void **state)
{
    struct rc_hs hs;
    struct rc_hs_out out = {.len = 0};
    struct bytes in = hexb(O25_SEND_NAME O25_REPLY);
    size_t used = 99;

    /* DONE */
    init_acceptor(&hs, COOKIE, 0x6b0eddda);
    assert_int_equal(rc_hs_feed(&hs, in.b, in.n, &used, &out), RC_HS_NAME);
    assert_int_equal(rc_hs_accept(&hs, RC_HS_ST_OK, &out), RC_HS_AGAIN);
    assert_int_equal(rc_hs_feed(&hs, in.b + used, in.n - used, &used, &out), RC_HS_DONE);
    out.len = 0;
    assert_int_equal(rc_hs_feed(&hs, in.b, in.n, &used, &out), RC_HS_DONE);
    assert_int_equal(used, 0);
    assert_int_equal(rc_hs_accept(&hs, RC_HS_ST_OK, &out), RC_HS_DONE);
    assert_int_equal(rc_hs_start(&hs, &out), RC_HS_DONE);
    rc_hs_eof(&hs);
    assert_int_equal(hs.reason, RC_REASON_OK);
    assert_int_equal(out.len, 0);

    /* FAILED keeps its first reason. */
    init_acceptor(&hs, COOKIE, 1);
    in = hexb("0000");
    assert_failed(&hs, rc_hs_feed(&hs, in.b, in.n, &used, &out), RC_REASON_PROTOCOL_ERROR);
    in = hexb(O25_SEND_NAME);
    assert_failed(&hs, rc_hs_feed(&hs, in.b, in.n, &used, &out), RC_REASON_PROTOCOL_ERROR);
    assert_int_equal(used, 0);
    rc_hs_eof(&hs);
    assert_int_equal(hs.reason, RC_REASON_PROTOCOL_ERROR);
    assert_int_equal(out.len, 0);
}

/* ---- eof ---- */

static void test_eof_reasons(void **state)
{
    struct rc_hs hs;
    struct rc_hs_out out = {.len = 0};
    struct bytes in;
    size_t used;

    init_initiator(&hs, COOKIE, "peer25@127.0.0.1", 1);
    rc_hs_eof(&hs);
    assert_failed(&hs, rc_hs_feed(&hs, NULL, 0, &used, &out), RC_REASON_HANDSHAKE_FAILED);

    init_initiator(&hs, COOKIE, "peer25@127.0.0.1", 1);
    rc_hs_start(&hs, &out);
    rc_hs_eof(&hs); /* no status yet */
    assert_int_equal(hs.reason, RC_REASON_HANDSHAKE_FAILED);

    init_initiator(&hs, COOKIE, "peer25@127.0.0.1", 1);
    rc_hs_start(&hs, &out);
    in = hexb(C25_STATUS);
    rc_hs_feed(&hs, in.b, in.n, &used, &out);
    rc_hs_eof(&hs); /* status seen, no challenge */
    assert_int_equal(hs.reason, RC_REASON_HANDSHAKE_FAILED);

    init_initiator(&hs, COOKIE, "peer25@127.0.0.1", 1);
    rc_hs_start(&hs, &out);
    in = hexb(C25_STATUS C25_CHALLENGE);
    assert_int_equal(rc_hs_feed(&hs, in.b, in.n, &used, &out), RC_HS_AGAIN);
    rc_hs_eof(&hs); /* our 'r' sent: OTP closes silently on a bad digest */
    assert_failed(&hs, rc_hs_feed(&hs, NULL, 0, &used, &out), RC_REASON_COOKIE_REJECTED);

    init_acceptor(&hs, COOKIE, 1);
    rc_hs_eof(&hs);
    assert_int_equal(hs.reason, RC_REASON_HANDSHAKE_FAILED);

    init_acceptor(&hs, COOKIE, 1);
    in = hexb(O25_SEND_NAME);
    assert_int_equal(rc_hs_feed(&hs, in.b, in.n, &used, &out), RC_HS_NAME);
    rc_hs_eof(&hs); /* before our status */
    assert_int_equal(hs.reason, RC_REASON_HANDSHAKE_FAILED);

    init_acceptor(&hs, COOKIE, 1);
    assert_int_equal(rc_hs_feed(&hs, in.b, in.n, &used, &out), RC_HS_NAME);
    assert_int_equal(rc_hs_accept(&hs, RC_HS_ST_OK, &out), RC_HS_AGAIN);
    rc_hs_eof(&hs); /* after our challenge */
    assert_int_equal(hs.reason, RC_REASON_COOKIE_REJECTED);
    assert_null(strstr(hs.why, COOKIE));
}

/* ---- init and the output buffer ---- */

static void test_init_rejects(void **state)
{
    struct rc_hs hs;
    char name[RC_NAME_MAX + 2];
    uint8_t cookie[RC_COOKIE_MAX + 1] = {0};

    memset(name, 'h', sizeof(name));
    name[0] = 'a';
    name[1] = '@';
    name[RC_NAME_MAX + 1] = '\0';
    assert_int_equal(rc_hs_init(&hs, RC_HS_ACCEPTOR, name, 1, cookie, 1, NULL, 0), -EINVAL);
    assert_int_equal(rc_hs_init(&hs, RC_HS_INITIATOR, PY, 1, cookie, 1, name, 0), -EINVAL);
    name[RC_NAME_MAX] = '\0';
    assert_int_equal(rc_hs_init(&hs, RC_HS_ACCEPTOR, name, 1, cookie, 1, NULL, 0), 0);
    assert_string_equal(hs.self_name, name);
    assert_int_equal(rc_hs_init(&hs, RC_HS_INITIATOR, PY, 1, cookie, 1, name, 0), 0);

    assert_int_equal(rc_hs_init(&hs, RC_HS_ACCEPTOR, PY, 1, cookie, RC_COOKIE_MAX + 1, NULL, 0),
                     -EINVAL);
    assert_int_equal(rc_hs_init(&hs, RC_HS_ACCEPTOR, PY, 1, cookie, RC_COOKIE_MAX, NULL, 0), 0);
    assert_int_equal(rc_hs_init(&hs, RC_HS_INITIATOR, PY, 1, cookie, 1, NULL, 0), -EINVAL);
    assert_int_equal(rc_hs_init(&hs, RC_HS_INITIATOR, PY, 1, cookie, 1, "nohost", 0), -EINVAL);
    assert_int_equal(rc_hs_init(&hs, RC_HS_ACCEPTOR, "py", 1, cookie, 1, NULL, 0), -EINVAL);
    assert_int_equal(rc_hs_init(&hs, RC_HS_ACCEPTOR, NULL, 1, cookie, 1, NULL, 0), -EINVAL);
}

static void test_output_buffer_full(void **state)
{
    struct rc_hs hs;
    struct rc_hs_out out = {.len = 0};
    struct bytes in = hexb(O25_SEND_NAME);
    size_t used;

    init_acceptor(&hs, COOKIE, 1);
    assert_int_equal(rc_hs_feed(&hs, in.b, in.n, &used, &out), RC_HS_NAME);
    out.len = sizeof(out.data) - 10; /* a caller that never sends */
    assert_failed(&hs, rc_hs_accept(&hs, RC_HS_ST_OK, &out), RC_REASON_HANDSHAKE_FAILED);
    assert_int_equal(out.len, sizeof(out.data) - 10); /* neither status nor challenge */
}

/* ---- issue 14: flags, unknown flags, TLS on a plain connection ---- */

static void test_flags_we_send(void **state)
{
    struct rc_hs hs;
    struct rc_hs_out out = {.len = 0};
    uint64_t flags;

    assert_int_equal(rc_hs_init(&hs, RC_HS_INITIATOR, PY, PY_CREATION, (const uint8_t *)COOKIE,
                                strlen(COOKIE), "peer@127.0.0.1", 1),
                     0);
    assert_int_equal(rc_hs_start(&hs, &out), RC_HS_AGAIN);
    flags = ((uint64_t)out.data[3] << 56) | ((uint64_t)out.data[4] << 48) |
            ((uint64_t)out.data[5] << 40) | ((uint64_t)out.data[6] << 32) |
            ((uint64_t)out.data[7] << 24) | ((uint64_t)out.data[8] << 16) |
            ((uint64_t)out.data[9] << 8) | out.data[10];
    /* what every OTP from 25 to 29 sends, and OTP's own dist.hrl value */
    assert_true((flags & 0x4000000ULL) != 0);
    assert_true((flags & RC_DFLAG_MANDATORY_25_DIGEST) != 0);
    assert_true((flags & RC_DFLAG_PUBLISHED) == 0); /* hidden */
    assert_true((flags & RC_DFLAGS_REQUIRED) == RC_DFLAGS_REQUIRED);
}

/* OTP 29 adds flags above bit 36 (ALTACT_SIG, NATIVE_RECORDS, ...): a
 * send_name or challenge carrying any unknown high flag is accepted. */
static void test_unknown_flags_ignored(void **state)
{
    struct rc_hs hs;
    struct rc_hs_out out = {.len = 0};
    struct bytes in = hexb(O25_SEND_NAME);
    size_t used;

    init_acceptor(&hs, COOKIE, 1);
    in.b[3] |= 0xff; /* bits 56..63 */
    in.b[4] |= 0xff; /* bits 48..55 */
    in.b[5] |= 0xff; /* bits 40..47 */
    in.b[6] |= 0xf0; /* bits 36..39 */
    assert_int_equal(rc_hs_feed(&hs, in.b, in.n, &used, &out), RC_HS_NAME);
    assert_true((hs.peer_flags >> 56) == 0xff);
    assert_int_equal(rc_hs_accept(&hs, RC_HS_ST_OK, &out), RC_HS_AGAIN);
}

/* A TLS ClientHello on a plain acceptor, a TLS alert on a plain initiator:
 * tls_required, not a frame-length protocol error. */
static void test_tls_record_on_plain(void **state)
{
    struct rc_hs hs;
    struct rc_hs_out out = {.len = 0};
    struct bytes in;
    size_t used;

    init_acceptor(&hs, COOKIE, 1);
    in = hexb("160301"); /* a ClientHello record header, as OTP's inet_tls sends */
    /* two bytes alone (16 03) cannot be told from a 5635-byte frame yet: */
    assert_int_equal(rc_hs_feed(&hs, in.b, 2, &used, &out), RC_HS_AGAIN);
    assert_int_equal(used, 0);
    assert_failed(&hs, rc_hs_feed(&hs, in.b, 3, &used, &out), RC_REASON_TLS_REQUIRED);
    assert_non_null(strstr(hs.why, "TLS"));

    init_initiator(&hs, COOKIE, "peer@127.0.0.1", 1);
    assert_int_equal(rc_hs_start(&hs, &out), RC_HS_AGAIN);
    in = hexb("15030300020232"); /* alert: fatal, decode_error */
    assert_failed(&hs, rc_hs_feed(&hs, in.b, in.n, &used, &out), RC_REASON_TLS_REQUIRED);

    /* a big length that is not TLS stays a protocol error */
    init_acceptor(&hs, COOKIE, 1);
    in = hexb("160501");
    assert_failed(&hs, rc_hs_feed(&hs, in.b, in.n, &used, &out), RC_REASON_PROTOCOL_ERROR);
}

static void test_refuse(void **state)
{
    struct rc_hs hs;
    struct rc_hs_out out = {.len = 0};

    init_acceptor(&hs, COOKIE, 1);
    assert_failed(&hs, rc_hs_refuse(&hs, RC_REASON_TLS_REQUIRED, "plain peer", &out),
                  RC_REASON_TLS_REQUIRED);
    assert_bytes(out.data, out.len, "000c736e6f745f616c6c6f776564");
    assert_string_equal(hs.why, "plain peer");
}

static void test_tls_sniff(void **state)
{
    assert_int_equal(rc_tls_sniff(NULL, 0), RC_TLS_MORE);
    assert_int_equal(rc_tls_sniff((const uint8_t *)"\x16", 1), RC_TLS_MORE);
    assert_int_equal(rc_tls_sniff((const uint8_t *)"\x16\x03", 2), RC_TLS_MORE);
    assert_int_equal(rc_tls_sniff((const uint8_t *)"\x16\x03\x01", 3), RC_TLS_HANDSHAKE);
    assert_int_equal(rc_tls_sniff((const uint8_t *)"\x15\x03\x03", 3), RC_TLS_ALERT);
    assert_int_equal(rc_tls_sniff((const uint8_t *)"\x17\x03\x03", 3), RC_TLS_OTHER_RECORD);
    assert_int_equal(rc_tls_sniff((const uint8_t *)"\x16\x03\x05", 3), RC_TLS_PLAIN);
    assert_int_equal(rc_tls_sniff((const uint8_t *)"\x16\x02", 2), RC_TLS_PLAIN);
    assert_int_equal(rc_tls_sniff((const uint8_t *)"\x00\x1e\x4e", 3), RC_TLS_PLAIN);
    assert_int_equal(rc_tls_sniff((const uint8_t *)"\x04", 1), RC_TLS_PLAIN);
    assert_true(rc_tls_kind_is_tls(RC_TLS_ALERT));
    assert_false(rc_tls_kind_is_tls(RC_TLS_PLAIN));
    assert_false(rc_tls_kind_is_tls(RC_TLS_MORE));
}

/* TLS distribution frames the handshake with Len:32 ({packet, 4}). */
static void test_len32_framing(void **state)
{
    struct rc_hs hs;
    struct rc_hs_out out = {.len = 0};
    struct bytes in16 = hexb(O25_SEND_NAME), in;
    size_t used;

    init_acceptor(&hs, COOKIE, 1);
    rc_hs_use_len32(&hs);
    in = hexb("0000");
    add_raw(&in, in16.b, in16.n); /* 00 00 00 1e 'N' ... */
    assert_int_equal(rc_hs_feed(&hs, in.b, in.n - 1, &used, &out), RC_HS_AGAIN);
    assert_int_equal(used, 0);
    assert_int_equal(rc_hs_feed(&hs, in.b, in.n, &used, &out), RC_HS_NAME);
    assert_int_equal(used, in.n);
    assert_int_equal(rc_hs_accept(&hs, RC_HS_ST_OK, &out), RC_HS_AGAIN);
    assert_memory_equal(out.data, "\x00\x00\x00\x03sok", 7);
    assert_int_equal(out.data[7], 0); /* the challenge's Len:32 */
    assert_int_equal(out.data[8], 0);

    /* a 2-byte-framed send_name on a Len:32 connection: a protocol error */
    init_acceptor(&hs, COOKIE, 1);
    rc_hs_use_len32(&hs);
    out.len = 0;
    assert_failed(&hs, rc_hs_feed(&hs, in16.b, in16.n, &used, &out), RC_REASON_PROTOCOL_ERROR);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_digest_values),
        cmocka_unit_test(test_acceptor_replay),
        cmocka_unit_test(test_initiator_replay),
        cmocka_unit_test(test_split_at_every_offset),
        cmocka_unit_test(test_partial_frame_not_consumed),
        cmocka_unit_test(test_wrong_cookie_acceptor),
        cmocka_unit_test(test_wrong_cookie_initiator),
        cmocka_unit_test(test_initiator_statuses),
        cmocka_unit_test(test_initiator_challenge_checks),
        cmocka_unit_test(test_trailing_bytes_after_name),
        cmocka_unit_test(test_acceptor_peer_names),
        cmocka_unit_test(test_acceptor_flags_and_old_name),
        cmocka_unit_test(test_acceptor_status_answers),
        cmocka_unit_test(test_framing_errors),
        cmocka_unit_test(test_initiator_framing_errors),
        cmocka_unit_test(test_terminal_states_are_sticky),
        cmocka_unit_test(test_eof_reasons),
        cmocka_unit_test(test_init_rejects),
        cmocka_unit_test(test_output_buffer_full),
        cmocka_unit_test(test_flags_we_send),
        cmocka_unit_test(test_unknown_flags_ignored),
        cmocka_unit_test(test_tls_record_on_plain),
        cmocka_unit_test(test_refuse),
        cmocka_unit_test(test_tls_sniff),
        cmocka_unit_test(test_len32_framing),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

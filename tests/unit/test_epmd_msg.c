/*
 * test_epmd_msg.c - the EPMD wire messages, byte for byte.
 *
 * Expected bytes are written out by hand from docs/protocol.md ("EPMD") and
 * checked against the real exchanges in tests/fixtures/vectors (quoted here): the
 * hidden C node's ALIVE2_REQ and OTP 25.2.3 epmd's ALIVE2_X_RESP.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "rollcall/epmd_msg.h"

/* otp25-pings-cnode.txt: "-> EPMD 000f78c3bf480000060005000270790000": ALIVE2_REQ for
 * "py", port 0xc3bf = 50111, NodeType 72 (that C node registered as hidden). */
static const uint8_t capture_alive2_req[] = {0x00, 0x0f, 0x78, 0xc3, 0xbf, 0x48, 0x00, 0x00, 0x06,
                                             0x00, 0x05, 0x00, 0x02, 0x70, 0x79, 0x00, 0x00};
/* "<- EPMD 76006b00cf15": ALIVE2_X_RESP ok, creation 0x6b00cf15; the OTP 27 capture got
 * 0x6b00cf16 for the same name re-registered: epmd's +1. */
static const uint8_t capture_alive2_x_resp[] = {0x76, 0x00, 0x6b, 0x00, 0xcf, 0x15};

static void test_build_alive2_req(void **state)
{
    uint8_t out[300];
    size_t len = 0;
    uint8_t capture[sizeof(capture_alive2_req)];
    /* Len=15 'x' Port=50111 NodeType=77 Protocol=0 High=6 Low=5 Nlen=2 "py" Elen=0 */
    const uint8_t want[] = {0x00, 0x0f, 'x',  0xc3, 0xbf, 77,  0x00, 0x00, 0x06,
                            0x00, 0x05, 0x00, 0x02, 'p',  'y', 0x00, 0x00};
    assert_int_equal(rc_epmd_build_alive2_req(out, sizeof(out), &len, 50111, "py"), 0);
    assert_int_equal(len, sizeof(want));
    assert_memory_equal(out, want, sizeof(want));

    /* The capture differs only in NodeType: OTP's erl_epmd registers 77 even
     * for hidden nodes, which is what rollcall does. */
    memcpy(capture, capture_alive2_req, sizeof(capture));
    capture[5] = 77;
    assert_memory_equal(out, capture, sizeof(capture));
}

static void test_build_alive2_req_limits(void **state)
{
    uint8_t out[300];
    size_t len = 12345;
    char name[300];
    memset(name, 'a', sizeof(name));
    name[255] = '\0';
    assert_int_equal(rc_epmd_build_alive2_req(out, sizeof(out), &len, 1, name), 0);
    assert_int_equal(len, 2 + 13 + 255);
    assert_int_equal(out[0] << 8 | out[1], 13 + 255);
    assert_int_equal(rc_epmd_build_alive2_req(out, len - 1, &len, 1, name), -ENOSPC);
    name[255] = 'a';
    name[256] = '\0';
    len = 7;
    assert_int_equal(rc_epmd_build_alive2_req(out, sizeof(out), &len, 1, name), -EINVAL);
    assert_int_equal(rc_epmd_build_alive2_req(out, sizeof(out), &len, 1, ""), -EINVAL);
    assert_int_equal(rc_epmd_build_alive2_req(out, sizeof(out), &len, 1, NULL), -EINVAL);
    assert_int_equal(len, 7); /* untouched on failure */
}

static void test_parse_alive2_resp_capture(void **state)
{
    uint32_t creation = 0;
    uint8_t out[6];
    size_t len = 0;
    assert_int_equal(
        rc_epmd_parse_alive2_resp(capture_alive2_x_resp, sizeof(capture_alive2_x_resp), &creation),
        0);
    assert_int_equal(creation, 0x6b00cf15u);

    assert_int_equal(rc_epmd_build_alive2_x_resp(out, sizeof(out), &len, 0, 0x6b00cf15u), 0);
    assert_int_equal(len, 6);
    assert_memory_equal(out, capture_alive2_x_resp, 6);
    assert_int_equal(rc_epmd_build_alive2_x_resp(out, 5, &len, 0, 1), -ENOSPC);
}

static void test_parse_alive2_resp_cases(void **state)
{
    uint32_t creation = 777;
    const uint8_t dup_x[] = {0x76, 0x01, 0x00, 0x00, 0x00, 0x63};
    const uint8_t dup_y[] = {0x79, 0x01, 0x00, 0x63};
    const uint8_t old[] = {0x79, 0x00, 0x00, 0x03};
    const uint8_t garbage[] = {0x77, 0x00, 0x00, 0x00, 0x00, 0x01};
    const uint8_t longer[] = {0x76, 0x00, 0x6b, 0x00, 0xcf, 0x15, 0x00};
    const uint8_t zero[] = {0x76, 0x00, 0x00, 0x00, 0x00, 0x00};
    /* every prefix of a complete answer needs more */
    for (size_t i = 0; i < sizeof(capture_alive2_x_resp); i++)
        assert_int_equal(rc_epmd_parse_alive2_resp(capture_alive2_x_resp, i, &creation), -EAGAIN);
    assert_int_equal(creation, 777);

    /* duplicate name: Result 1, creation 99 */
    assert_int_equal(rc_epmd_parse_alive2_resp(dup_x, sizeof(dup_x), &creation), -EEXIST);
    assert_int_equal(rc_epmd_parse_alive2_resp(dup_y, sizeof(dup_y), &creation), -EEXIST);
    assert_int_equal(creation, 777);

    /* old ALIVE2_RESP: 16-bit creation */
    assert_int_equal(rc_epmd_parse_alive2_resp(old, 3, &creation), -EAGAIN);
    assert_int_equal(rc_epmd_parse_alive2_resp(old, sizeof(old), &creation), 0);
    assert_int_equal(creation, 3);

    /* garbage, trailing bytes, creation 0 */
    creation = 777;
    assert_int_equal(rc_epmd_parse_alive2_resp(garbage, 1, &creation), -EPROTO);
    assert_int_equal(rc_epmd_parse_alive2_resp(longer, sizeof(longer), &creation), -EPROTO);
    assert_int_equal(rc_epmd_parse_alive2_resp(zero, sizeof(zero), &creation), -EPROTO);
    assert_int_equal(creation, 777);
}

static void test_build_port_please2_req(void **state)
{
    uint8_t out[300];
    size_t len = 0;
    const uint8_t want[] = {0x00, 0x03, 'z', 'p', 'y'};
    char name[257];
    assert_int_equal(rc_epmd_build_port_please2_req(out, sizeof(out), &len, "py"), 0);
    assert_int_equal(len, sizeof(want));
    assert_memory_equal(out, want, sizeof(want));
    assert_int_equal(rc_epmd_build_port_please2_req(out, 4, &len, "py"), -ENOSPC);
    assert_int_equal(rc_epmd_build_port_please2_req(out, sizeof(out), &len, ""), -EINVAL);

    memset(name, 'n', 256);
    name[256] = '\0';
    assert_int_equal(rc_epmd_build_port_please2_req(out, sizeof(out), &len, name), -EINVAL);
    name[255] = '\0';
    assert_int_equal(rc_epmd_build_port_please2_req(out, sizeof(out), &len, name), 0);
    assert_int_equal(len, 3 + 255);
    assert_int_equal(out[0] << 8 | out[1], 256);
}

/* 'w' 0 Port=50111 NodeType=77 Protocol=0 High=6 Low=5 Nlen=2 "py" Elen=0 */
static const uint8_t port2_ok[] = {0x77, 0x00, 0xc3, 0xbf, 77,  0x00, 0x00, 0x06,
                                   0x00, 0x05, 0x00, 0x02, 'p', 'y',  0x00, 0x00};

static void test_port2_resp_build(void **state)
{
    struct rc_epmd_node_info info = {
        .port = 50111, .node_type = 77, .protocol = 0, .high = 6, .low = 5, .alive = "py"};
    uint8_t out[300];
    size_t len = 0;
    const uint8_t notfound[] = {0x77, 0x01};
    assert_int_equal(rc_epmd_build_port2_resp(out, sizeof(out), &len, &info), 0);
    assert_int_equal(len, sizeof(port2_ok));
    assert_memory_equal(out, port2_ok, sizeof(port2_ok));
    assert_int_equal(rc_epmd_build_port2_resp(out, sizeof(port2_ok) - 1, &len, &info), -ENOSPC);

    assert_int_equal(rc_epmd_build_port2_resp(out, sizeof(out), &len, NULL), 0);
    assert_int_equal(len, 2);
    assert_memory_equal(out, notfound, 2);
    assert_int_equal(rc_epmd_build_port2_resp(out, 1, &len, NULL), -ENOSPC);
}

static void test_port2_resp_parse(void **state)
{
    struct rc_epmd_node_info info;
    const uint8_t nf[] = {0x77, 0x01, 0x00};
    const uint8_t junk[] = {0x76, 0x00, 0x6b, 0x00, 0xcf, 0x15};
    uint8_t m[600];
    for (int eof = 0; eof <= 1; eof++) {
        memset(&info, 0, sizeof(info));
        assert_int_equal(rc_epmd_parse_port2_resp(port2_ok, sizeof(port2_ok), eof, &info), 0);
        assert_int_equal(info.port, 50111);
        assert_int_equal(info.node_type, 77);
        assert_int_equal(info.protocol, 0);
        assert_int_equal(info.high, 6);
        assert_int_equal(info.low, 5);
        assert_string_equal(info.alive, "py");
    }
    /* truncated: more wanted before EOF, malformed after */
    memset(&info, 0xAA, sizeof(info));
    for (size_t i = 0; i < sizeof(port2_ok); i++) {
        assert_int_equal(rc_epmd_parse_port2_resp(port2_ok, i, false, &info), -EAGAIN);
        assert_int_equal(rc_epmd_parse_port2_resp(port2_ok, i, true, &info), -EPROTO);
    }
    assert_int_equal(info.port, 0xAAAA); /* untouched */

    /* not registered: exactly 'w' Result>0 */
    assert_int_equal(rc_epmd_parse_port2_resp(nf, 2, true, &info), -ENOENT);
    assert_int_equal(rc_epmd_parse_port2_resp(nf, 2, false, &info), -ENOENT);
    assert_int_equal(rc_epmd_parse_port2_resp(nf, 3, true, &info), -EPROTO);

    /* garbage first byte, at any length */
    assert_int_equal(rc_epmd_parse_port2_resp(junk, 1, false, &info), -EPROTO);
    assert_int_equal(rc_epmd_parse_port2_resp(junk, sizeof(junk), true, &info), -EPROTO);

    /* a trailing byte */
    memcpy(m, port2_ok, sizeof(port2_ok));
    m[sizeof(port2_ok)] = 0;
    assert_int_equal(rc_epmd_parse_port2_resp(m, sizeof(port2_ok) + 1, true, &info), -EPROTO);
    /* Nlen 0 and Nlen 256 */
    memcpy(m, port2_ok, sizeof(port2_ok));
    m[10] = 0;
    m[11] = 0;
    assert_int_equal(rc_epmd_parse_port2_resp(m, 14, true, &info), -EPROTO);
    m[10] = 1;
    m[11] = 0;
    assert_int_equal(rc_epmd_parse_port2_resp(m, 12, false, &info), -EPROTO);
    /* NUL inside the name */
    memcpy(m, port2_ok, sizeof(port2_ok));
    m[12] = 0;
    assert_int_equal(rc_epmd_parse_port2_resp(m, sizeof(port2_ok), true, &info), -EPROTO);
    /* port 0 */
    memcpy(m, port2_ok, sizeof(port2_ok));
    m[2] = m[3] = 0;
    assert_int_equal(rc_epmd_parse_port2_resp(m, sizeof(port2_ok), true, &info), -EPROTO);
    /* Extra present: Elen=3 "abc" is read past, not into the name */
    memcpy(m, port2_ok, sizeof(port2_ok));
    m[15] = 3;
    memcpy(m + 16, "abc", 3);
    assert_int_equal(rc_epmd_parse_port2_resp(m, 18, false, &info), -EAGAIN);
    assert_int_equal(rc_epmd_parse_port2_resp(m, 18, true, &info), -EPROTO);
    assert_int_equal(rc_epmd_parse_port2_resp(m, 19, true, &info), 0);
    assert_string_equal(info.alive, "py");
    /* Elen far past the data */
    m[14] = 0xff;
    m[15] = 0xff;
    assert_int_equal(rc_epmd_parse_port2_resp(m, 19, false, &info), -EAGAIN);
    assert_int_equal(rc_epmd_parse_port2_resp(m, 19, true, &info), -EPROTO);
    /* the longest name */
    memcpy(m, port2_ok, 10);
    m[10] = 0;
    m[11] = 255;
    memset(m + 12, 'q', 255);
    m[12 + 255] = 0;
    m[13 + 255] = 0;
    assert_int_equal(rc_epmd_parse_port2_resp(m, 14 + 255, true, &info), 0);
    assert_int_equal(strlen(info.alive), 255);
}

static void test_parse_req_alive2_capture(void **state)
{
    struct rc_epmd_req req;
    size_t used = 0;
    uint8_t two[2 * sizeof(capture_alive2_req)];
    assert_int_equal(rc_epmd_parse_req(capture_alive2_req, sizeof(capture_alive2_req), &used, &req),
                     0);
    assert_int_equal(used, sizeof(capture_alive2_req));
    assert_int_equal(req.type, RC_EPMD_ALIVE2_REQ);
    assert_int_equal(req.info.port, 50111);
    assert_int_equal(req.info.node_type, 72);
    assert_int_equal(req.info.protocol, 0);
    assert_int_equal(req.info.high, 6);
    assert_int_equal(req.info.low, 5);
    assert_string_equal(req.info.alive, "py");

    /* every prefix needs more; bytes after the request are not consumed */
    used = 99;
    for (size_t i = 0; i < sizeof(capture_alive2_req); i++)
        assert_int_equal(rc_epmd_parse_req(capture_alive2_req, i, &used, &req), -EAGAIN);
    assert_int_equal(used, 99);
    memcpy(two, capture_alive2_req, sizeof(capture_alive2_req));
    memcpy(two + sizeof(capture_alive2_req), capture_alive2_req, sizeof(capture_alive2_req));
    assert_int_equal(rc_epmd_parse_req(two, sizeof(two), &used, &req), 0);
    assert_int_equal(used, sizeof(capture_alive2_req));
}

static void test_parse_req_roundtrip(void **state)
{
    uint8_t out[300];
    size_t len, used;
    struct rc_epmd_req req;
    assert_int_equal(rc_epmd_build_alive2_req(out, sizeof(out), &len, 4370, "rollcall"), 0);
    assert_int_equal(rc_epmd_parse_req(out, len, &used, &req), 0);
    assert_int_equal(used, len);
    assert_int_equal(req.type, RC_EPMD_ALIVE2_REQ);
    assert_int_equal(req.info.port, 4370);
    assert_int_equal(req.info.node_type, 77);
    assert_string_equal(req.info.alive, "rollcall");

    assert_int_equal(rc_epmd_build_port_please2_req(out, sizeof(out), &len, "rollcall"), 0);
    assert_int_equal(rc_epmd_parse_req(out, len, &used, &req), 0);
    assert_int_equal(used, len);
    assert_int_equal(req.type, RC_EPMD_PORT_PLEASE2_REQ);
    assert_string_equal(req.info.alive, "rollcall");
}

static void test_parse_req_bad(void **state)
{
    struct rc_epmd_req req;
    size_t used = 5;
    uint8_t m[3200];
    const uint8_t huge[] = {0xff, 0xff};
    const uint8_t max[] = {0x0b, 0xf4}; /* 3060 */
    const uint8_t names[] = {0x00, 0x01, 'n'};
    const char *types = "dksA\x00\xff";
    const uint8_t pp_empty[] = {0x00, 0x01, 'z'};
    const uint8_t pp_nul[] = {0x00, 0x02, 'z', 0};
    const uint8_t pp_term[] = {0x00, 0x04, 'z', 'p', 'y', 0};
    const uint8_t pp_mid[] = {0x00, 0x04, 'z', 'p', 0, 'y'};
    const uint8_t nlen0[] = {0x00, 0x0d, 'x', 0, 1, 77, 0, 0, 6, 0, 5, 0, 0, 0, 0};
    const uint8_t shortreq[] = {0x00, 0x05, 'x', 0, 1, 77, 0};

    /* Len out of range is refused from the two length bytes alone */
    const uint8_t len0[] = {0x00, 0x00};
    assert_int_equal(rc_epmd_parse_req(len0, 2, &used, &req), -EMSGSIZE);
    assert_int_equal(rc_epmd_parse_req(huge, 2, &used, &req), -EMSGSIZE);
    assert_int_equal(rc_epmd_parse_req(max, 2, &used, &req), -EMSGSIZE);
    assert_int_equal(rc_epmd_parse_req(huge, 1, &used, &req), -EAGAIN);
    assert_int_equal(used, 5);

    /* the largest allowed Len: 3059 */
    memset(m, 0, sizeof(m));
    m[0] = 0x0b;
    m[1] = 0xf3;
    m[2] = RC_EPMD_NAMES_REQ;
    assert_int_equal(rc_epmd_parse_req(m, 2 + 3058, &used, &req), -EAGAIN);
    assert_int_equal(rc_epmd_parse_req(m, 2 + 3059, &used, &req), 0);
    assert_int_equal(used, 2 + 3059);
    assert_int_equal(req.type, RC_EPMD_NAMES_REQ);

    /* NAMES */
    assert_int_equal(rc_epmd_parse_req(names, sizeof(names), &used, &req), 0);
    assert_int_equal(used, 3);
    assert_int_equal(req.type, RC_EPMD_NAMES_REQ);

    /* unknown type: DUMP, KILL, STOP and garbage */
    for (int i = 0; i < 6; i++) {
        uint8_t r[] = {0x00, 0x01, (uint8_t)types[i]};
        assert_int_equal(rc_epmd_parse_req(r, sizeof(r), &used, &req), -EPROTO);
    }

    /* PORT_PLEASE2: empty name, NUL-only, an old trailing NUL, NUL inside, 256 bytes */
    assert_int_equal(rc_epmd_parse_req(pp_empty, sizeof(pp_empty), &used, &req), -EPROTO);
    assert_int_equal(rc_epmd_parse_req(pp_nul, sizeof(pp_nul), &used, &req), -EPROTO);
    assert_int_equal(rc_epmd_parse_req(pp_term, sizeof(pp_term), &used, &req), 0);
    assert_string_equal(req.info.alive, "py");
    assert_int_equal(rc_epmd_parse_req(pp_mid, sizeof(pp_mid), &used, &req), -EPROTO);
    m[0] = 0x01;
    m[1] = 0x01; /* Len 257: 'z' + 256 bytes */
    m[2] = 'z';
    memset(m + 3, 'a', 256);
    assert_int_equal(rc_epmd_parse_req(m, 2 + 257, &used, &req), -EPROTO);
    m[1] = 0x00; /* Len 256: 255 bytes */
    assert_int_equal(rc_epmd_parse_req(m, 2 + 256, &used, &req), 0);
    assert_int_equal(strlen(req.info.alive), 255);

    /* ALIVE2: Nlen past Len, Elen past Len, bytes after Extra, Nlen 0, NUL in name, short */
    memcpy(m, capture_alive2_req, sizeof(capture_alive2_req));
    m[12] = 0x03; /* Nlen 3 */
    assert_int_equal(rc_epmd_parse_req(m, sizeof(capture_alive2_req), &used, &req), -EPROTO);
    memcpy(m, capture_alive2_req, sizeof(capture_alive2_req));
    m[16] = 0x01; /* Elen 1 */
    assert_int_equal(rc_epmd_parse_req(m, sizeof(capture_alive2_req), &used, &req), -EPROTO);
    memcpy(m, capture_alive2_req, sizeof(capture_alive2_req));
    m[1] = 0x10; /* Len 16: one byte beyond Elen=0 */
    m[17] = 0;
    assert_int_equal(rc_epmd_parse_req(m, sizeof(capture_alive2_req) + 1, &used, &req), -EPROTO);
    memcpy(m, capture_alive2_req, sizeof(capture_alive2_req));
    m[1] = 0x10;
    m[16] = 0x01; /* Elen 1 and one byte of Extra: fine */
    m[17] = 'e';
    assert_int_equal(rc_epmd_parse_req(m, sizeof(capture_alive2_req) + 1, &used, &req), 0);
    assert_string_equal(req.info.alive, "py");
    memcpy(m, capture_alive2_req, sizeof(capture_alive2_req));
    m[14] = 0;
    assert_int_equal(rc_epmd_parse_req(m, sizeof(capture_alive2_req), &used, &req), -EPROTO);
    assert_int_equal(rc_epmd_parse_req(nlen0, sizeof(nlen0), &used, &req), -EPROTO);
    assert_int_equal(rc_epmd_parse_req(shortreq, sizeof(shortreq), &used, &req), -EPROTO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build_alive2_req),
        cmocka_unit_test(test_build_alive2_req_limits),
        cmocka_unit_test(test_parse_alive2_resp_capture),
        cmocka_unit_test(test_parse_alive2_resp_cases),
        cmocka_unit_test(test_build_port_please2_req),
        cmocka_unit_test(test_port2_resp_build),
        cmocka_unit_test(test_port2_resp_parse),
        cmocka_unit_test(test_parse_req_alive2_capture),
        cmocka_unit_test(test_parse_req_roundtrip),
        cmocka_unit_test(test_parse_req_bad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

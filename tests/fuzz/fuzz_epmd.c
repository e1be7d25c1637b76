/*
 * fuzz_epmd.c - libFuzzer target for the EPMD parsers (erldist/epmd_msg.c):
 * rc_epmd_parse_req (what the embedded server reads from anyone),
 * rc_epmd_parse_port2_resp with eof true and false, and
 * rc_epmd_parse_alive2_resp (what the client and keeper read), all on the
 * raw input.
 *
 * Beyond memory safety (run under ASan/UBSan), it checks:
 *   - a parsed request never claims more bytes than it was given, and the
 *     same bytes minus one need more (-EAGAIN): requests are self-delimiting;
 *   - a parsed name is 1..255 bytes, and what parses builds and parses back
 *     to the same fields;
 *   - eof only changes "need more" into "malformed": a complete PORT2_RESP
 *     parses the same either way;
 *   - an accepted creation is never 0.
 * Seeds: tests/fuzz/corpus/fuzz_epmd/.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rollcall/epmd.h"

static void check_name(const char *alive)
{
    size_t n = strnlen(alive, RC_EPMD_ALIVE_MAX + 1);
    if (n < 1 || n > RC_EPMD_ALIVE_MAX)
        abort();
}

static void check_req(const uint8_t *data, size_t size)
{
    struct rc_epmd_req req;
    size_t used = 0;
    int r = rc_epmd_parse_req(data, size, &used, &req);
    if (r != 0) {
        if (r != -EAGAIN && r != -EMSGSIZE && r != -EPROTO)
            abort();
        return;
    }
    if (used < 3 || used > size || used > 2 + RC_EPMD_MAX_REQ - 1)
        abort();
    struct rc_epmd_req again;
    size_t used2;
    if (rc_epmd_parse_req(data, used - 1, &used2, &again) != -EAGAIN)
        abort();

    uint8_t out[2 + RC_EPMD_MAX_REQ];
    size_t len;
    struct rc_epmd_req back;
    switch (req.type) {
    case RC_EPMD_ALIVE2_REQ:
        check_name(req.info.alive);
        if (rc_epmd_build_alive2_req(out, sizeof(out), &len, req.info.port, req.info.alive) != 0)
            abort();
        if (rc_epmd_parse_req(out, len, &used2, &back) != 0 || used2 != len ||
            back.type != RC_EPMD_ALIVE2_REQ || back.info.port != req.info.port ||
            strcmp(back.info.alive, req.info.alive) != 0)
            abort();
        break;
    case RC_EPMD_PORT_PLEASE2_REQ:
        check_name(req.info.alive);
        if (rc_epmd_build_port_please2_req(out, sizeof(out), &len, req.info.alive) != 0)
            abort();
        if (rc_epmd_parse_req(out, len, &used2, &back) != 0 || used2 != len ||
            back.type != RC_EPMD_PORT_PLEASE2_REQ || strcmp(back.info.alive, req.info.alive) != 0)
            abort();
        break;
    case RC_EPMD_NAMES_REQ:
        break;
    default:
        abort();
    }
}

static void check_port2(const uint8_t *data, size_t size)
{
    struct rc_epmd_node_info a, b;
    int ra = rc_epmd_parse_port2_resp(data, size, false, &a);
    int rb = rc_epmd_parse_port2_resp(data, size, true, &b);
    if (ra == -EAGAIN) {
        if (rb != -EPROTO)
            abort();
        return;
    }
    if (ra != rb)
        abort();
    if (ra != 0) {
        if (ra != -ENOENT && ra != -EPROTO)
            abort();
        return;
    }
    if (a.port != b.port || a.node_type != b.node_type || a.protocol != b.protocol ||
        a.high != b.high || a.low != b.low || strcmp(a.alive, b.alive) != 0 || a.port == 0)
        abort();
    check_name(a.alive);
    uint8_t out[16 + RC_EPMD_ALIVE_MAX];
    size_t len;
    if (rc_epmd_build_port2_resp(out, sizeof(out), &len, &a) != 0)
        abort();
    if (rc_epmd_parse_port2_resp(out, len, true, &b) != 0 || a.port != b.port ||
        a.node_type != b.node_type || a.protocol != b.protocol || a.high != b.high ||
        a.low != b.low || strcmp(a.alive, b.alive) != 0)
        abort();
}

static void check_alive2(const uint8_t *data, size_t size)
{
    uint32_t creation = 0;
    int r = rc_epmd_parse_alive2_resp(data, size, &creation);
    if (r != 0) {
        if (r != -EAGAIN && r != -EEXIST && r != -EPROTO)
            abort();
        return;
    }
    if (creation == 0)
        abort();
    if (data[0] == RC_EPMD_ALIVE2_X_RESP) {
        uint8_t out[6];
        size_t len;
        uint32_t back = 0;
        if (rc_epmd_build_alive2_x_resp(out, sizeof(out), &len, 0, creation) != 0 || len != size ||
            memcmp(out, data, len) != 0 || rc_epmd_parse_alive2_resp(out, len, &back) != 0 ||
            back != creation)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_req(data, size);
    check_port2(data, size);
    check_alive2(data, size);
    return 0;
}

/*
 * fuzz_probe.c - libFuzzer target for the indirect probe messages
 * (erldist/probe.c).
 *
 * The input is the data part of one packet (after Len:32). Whatever it
 * holds, rc_probe_parse must not read outside it, must return 1, 0 or
 * -EPROTO, and a message it accepts must have valid fields and build back
 * into a packet that parses to the same message. Any broken promise aborts.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rollcall/names.h"
#include "rollcall/msg.h"
#include "rollcall/probe.h"

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x))                                                                                  \
            abort();                                                                               \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rc_probe p, back;
    uint8_t out[RC_MSG_OUT_MAX];
    size_t len;
    int r;

    r = rc_probe_parse(data, size, &p);
    CHECK(r == 1 || r == 0 || r == -EPROTO);
    if (r != 1)
        return 0;
    if (p.kind == RC_PROBE_REQUEST) {
        CHECK(rc_node_name_valid(p.target));
        CHECK(p.deadline_ms >= 1 && p.deadline_ms <= RC_PROBE_DEADLINE_MAX);
    } else {
        CHECK(p.kind == RC_PROBE_REPLY);
        CHECK(p.result <= RC_PROBE_BUSY && p.evidence <= RC_PROBE_EV_UNACKED);
        CHECK(p.age_ms >= -1 && p.age_ms <= RC_PROBE_AGE_MAX);
    }
    CHECK(rc_probe_build(out, sizeof out, &len, "fuzz@h", 1, 1, &p) == 0);
    CHECK(len > 4 && len <= sizeof out);
    CHECK(((uint32_t)out[0] << 24 | out[1] << 16 | out[2] << 8 | out[3]) == len - 4);
    CHECK(rc_probe_parse(out + 4, len - 4, &back) == 1);
    CHECK(back.kind == p.kind && back.id == p.id);
    if (p.kind == RC_PROBE_REQUEST)
        CHECK(strcmp(back.target, p.target) == 0 && back.deadline_ms == p.deadline_ms);
    else
        CHECK(back.result == p.result && back.evidence == p.evidence && back.age_ms == p.age_ms);
    return 0;
}

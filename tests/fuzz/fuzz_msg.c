/*
 * fuzz_msg.c - libFuzzer target for distribution packets (erldist/msg.c).
 *
 * The input is the data part of one packet (after Len:32). Whatever it
 * holds, rc_msg_parse must not read outside it; an IS_AUTH result must have
 * its spans inside the input, and the reply built from it must itself be a
 * well-formed packet (Len:32 right, rc_msg_parse accepts it). Any broken
 * promise aborts.
 */
#include <stdint.h>
#include <stdlib.h>

#include "rollcall/msg.h"

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x))                                                                                  \
            abort();                                                                               \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rc_msg m, back;
    uint8_t out[RC_MSG_OUT_MAX];
    size_t len;
    int r;

    if (rc_msg_parse(data, size, &m) < 0)
        return 0;
    switch (m.kind) {
    case RC_MSG_IS_AUTH:
        CHECK(m.from_pid >= data && m.from_pid_len > 0 &&
              m.from_pid + m.from_pid_len <= data + size);
        CHECK(m.tag >= data && m.tag_len > 0 && m.tag + m.tag_len <= data + size);
        r = rc_msg_build_is_auth_reply(out, sizeof(out), &len, &m);
        if (r < 0) {
            CHECK(m.from_pid_len + m.tag_len + 32 > sizeof(out)); /* only if it is huge */
            return 0;
        }
        CHECK(len >= 5 && len <= sizeof(out));
        CHECK(((uint32_t)out[0] << 24 | out[1] << 16 | out[2] << 8 | out[3]) == len - 4);
        CHECK(rc_msg_parse(out + 4, len - 4, &back) == 0);
        CHECK(back.kind != RC_MSG_IS_AUTH);
        break;
    case RC_MSG_REPLY:
        CHECK(m.ref_nids >= 1 && m.ref_nids <= 5);
        break;
    case RC_MSG_OTHER:
        break;
    default:
        abort();
    }
    return 0;
}

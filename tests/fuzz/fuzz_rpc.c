/*
 * fuzz_rpc.c - libFuzzer target for rex replies (erldist/rpc_msg.c).
 *
 * The input is the data part of one packet (after Len:32). Whatever it
 * holds, rc_rpc_parse_reply must not read outside it; a reply's value span
 * must lie inside the input, and the value readers must agree with each
 * other (a nodes() list reports only after the whole list checked out, and
 * never more than RC_RPC_NODES_MAX names). Any broken promise aborts.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rollcall/rpc.h"

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x))                                                                                  \
            abort();                                                                               \
    } while (0)

static void count(void *arg, const char *node)
{
    size_t *n = arg;

    CHECK(node != NULL && strlen(node) <= 1020);
    (*n)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rc_rpc_reply r;
    char atom[256];
    size_t n = 0;
    int rv = rc_rpc_parse_reply(data, size, &r);

    if (rv != 0) {
        CHECK(rv == -EPROTO || rv == -ENOENT);
        return 0;
    }
    CHECK(r.value >= data && r.value_len > 0 && r.value + r.value_len <= data + size);
    CHECK(strlen(r.to_node) <= RC_NAME_MAX);
    rv = rc_rpc_value_nodes(&r, count, &n);
    CHECK(rv == 0 || (rv == -EPROTO && n == 0));
    CHECK(n <= RC_RPC_NODES_MAX);
    if (rc_rpc_value_atom(&r, atom, sizeof atom) == 0) {
        CHECK(rv == -EPROTO); /* an atom is not a list */
        CHECK(!rc_rpc_value_badrpc(&r));
    }
    return 0;
}

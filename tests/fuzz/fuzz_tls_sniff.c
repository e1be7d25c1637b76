/*
 * fuzz_tls_sniff.c - libFuzzer target for the TLS detection path: the
 * record-header sniff (erldist/tls.c, what an inbound connection is peeked
 * with when TLS is configured) and the handshake's reaction to a TLS record
 * where a plain frame belongs (erldist/handshake.c, both roles).
 *
 * Input: the first bytes a peer sends. Checked properties:
 * - rc_tls_sniff never reads past n, is a pure function of the first three
 *   bytes, and is monotonic: a prefix says RC_TLS_MORE or the same answer;
 * - a plain acceptor and a plain initiator fed the input fail with
 *   tls_required when the input opens with a TLS record header, and never
 *   when its first frame length is one no TLS header has (0, or 1025..5119,
 *   or a non-TLS header above that); a valid first frame may be followed by
 *   anything, so after one nothing is asserted.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rollcall/handshake.h"
#include "rollcall/tls.h"

static void check(bool ok)
{
    if (!ok)
        abort();
}

static int feed_all(struct rc_hs *hs, const uint8_t *data, size_t size)
{
    struct rc_hs_out out;
    size_t used = 0;

    out.len = 0;
    return rc_hs_feed(hs, data, size, &used, &out);
}

/* The first frame cannot be a valid plain one, and the input is not TLS. */
static bool first_frame_bad_plain(const uint8_t *p, size_t n, enum rc_tls_kind whole)
{
    size_t len;

    if (n < 2 || whole != RC_TLS_PLAIN)
        return false;
    len = ((size_t)p[0] << 8) | p[1];
    return len == 0 || len > RC_HS_FRAME_MAX;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    enum rc_tls_kind whole, k;
    uint8_t *copy;
    struct rc_hs hs;
    struct rc_hs_out out;
    int r;

    /* exact-size copy: ASan catches any read past n */
    copy = malloc(size > 0 ? size : 1);
    if (copy == NULL)
        return 0;
    if (size > 0)
        memcpy(copy, data, size);
    whole = rc_tls_sniff(copy, size);
    check(whole >= RC_TLS_MORE && whole <= RC_TLS_OTHER_RECORD);
    check(whole != RC_TLS_MORE || size < 3);
    for (size_t n = 0; n <= size && n <= 3; n++) {
        k = rc_tls_sniff(copy, n);
        check(k == RC_TLS_MORE || k == whole);
    }
    if (size > 3)
        check(rc_tls_sniff(copy, 3) == whole);

    /* acceptor: the first frame's length bytes decide */
    check(rc_hs_init(&hs, RC_HS_ACCEPTOR, "py@127.0.0.1", 1, (const uint8_t *)"c", 1, NULL, 7) ==
          0);
    r = feed_all(&hs, copy, size);
    if (rc_tls_kind_is_tls(whole))
        check(r == RC_HS_FAILED && hs.reason == RC_REASON_TLS_REQUIRED);
    if (first_frame_bad_plain(copy, size, whole))
        check(r == RC_HS_FAILED && hs.reason == RC_REASON_PROTOCOL_ERROR);

    /* initiator, after its send_name */
    check(rc_hs_init(&hs, RC_HS_INITIATOR, "py@127.0.0.1", 1, (const uint8_t *)"c", 1,
                     "peer@127.0.0.1", 7) == 0);
    out.len = 0;
    check(rc_hs_start(&hs, &out) == RC_HS_AGAIN);
    r = feed_all(&hs, copy, size);
    if (rc_tls_kind_is_tls(whole))
        check(r == RC_HS_FAILED && hs.reason == RC_REASON_TLS_REQUIRED);
    if (first_frame_bad_plain(copy, size, whole))
        check(r == RC_HS_FAILED && hs.reason == RC_REASON_PROTOCOL_ERROR);
    free(copy);
    return 0;
}

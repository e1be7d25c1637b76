/*
 * fuzz_handshake.c - libFuzzer target for the handshake state machine
 * (erldist/handshake.c), both roles.
 *
 * Input: mode:8 seed:8 stream...
 *   mode bit 0     role: 0 initiator, 1 acceptor
 *   mode bit 1     start from a valid prefix: the initiator gets OTP's "sok"
 *                  and challenge first, the acceptor OTP's send_name (frames
 *                  from the captures in tests/fixtures/vectors/), so the
 *                  fuzzed bytes reach the later states
 *   mode bits 2-3  the acceptor's answer to RC_HS_NAME (enum rc_hs_status)
 *   mode bit 4     report EOF when the input runs out
 * The stream is fed once whole and once in chunks of 1..32 bytes drawn from
 * seed; both runs must send the same bytes, end the same way and leave the
 * same number of bytes unconsumed. Cookie, names and challenges are the captures', so
 * replayed capture frames (see the seed corpus) reach DONE.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rollcall/handshake.h"

#define COOKIE "vectors"

/* cnode-pings-otp25.txt lines 6 and 7: OTP's status and challenge. */
static const uint8_t initiator_prefix[] = {
    0x00, 0x03, 0x73, 0x6f, 0x6b, 0x00, 0x23, 0x4e, 0x00, 0x00, 0x00, 0x0d, 0x07, 0xdf,
    0x7f, 0xbd, 0xc3, 0xa1, 0x21, 0xd6, 0x6b, 0x00, 0xcf, 0x25, 0x00, 0x10, 'p',  'e',
    'e',  'r',  '2',  '5',  '@',  '1',  '2',  '7',  '.',  '0',  '.',  '0',  '.',  '1'};
/* otp25-pings-cnode.txt line 7: OTP's send_name. */
static const uint8_t acceptor_prefix[] = {
    0x00, 0x1e, 0x4e, 0x00, 0x00, 0x00, 0x0d, 0x07, 0xdf, 0x7f, 0xbd, 0x6b, 0x00, 0xcf, 0x16, 0x00,
    0x0f, 'o',  't',  'p',  '2',  '5',  '@',  '1',  '2',  '7',  '.',  '0',  '.',  '0',  '.',  '1'};

struct run {
    int r;
    enum rc_reason reason;
    uint8_t sent[4 * RC_HS_FRAME_MAX];
    size_t sent_len;
    size_t left; /* bytes never consumed */
};

static void check(bool ok)
{
    if (!ok)
        abort();
}

static void collect(struct run *run, struct rc_hs_out *out)
{
    check(out->len <= sizeof(out->data));
    /* A handshake sends a handful of short frames; more is a bug. */
    check(out->len <= sizeof(run->sent) - run->sent_len);
    memcpy(run->sent + run->sent_len, out->data, out->len);
    run->sent_len += out->len;
    out->len = 0;
}

static void check_terminal(struct rc_hs *hs, int r, bool cookie_in_input)
{
    struct rc_hs_out out = {.len = 0};
    size_t used = 1;
    uint8_t junk[4] = {0, 3, 's', 'o'};

    if (r == RC_HS_FAILED) {
        size_t n = strnlen(hs->why, sizeof(hs->why));

        check(hs->reason != RC_REASON_OK && n > 0 && n < sizeof(hs->why));
        for (size_t i = 0; i < n; i++)
            check(hs->why[i] >= 0x20 && hs->why[i] < 0x7f);
        /* The cookie shows up only if the peer itself sent those bytes. */
        check(!strstr(hs->why, COOKIE) || cookie_in_input);
    } else {
        check(r == RC_HS_DONE && hs->reason == RC_REASON_OK);
    }
    check(rc_hs_feed(hs, junk, sizeof(junk), &used, &out) == r && used == 0 && out.len == 0);
}

static void drive(const uint8_t *in, size_t len, unsigned mode, uint32_t seed, struct run *run)
{
    bool acceptor = mode & 1;
    struct rc_hs hs;
    struct rc_hs_out out = {.len = 0};
    uint8_t pend[2 * RC_HS_FRAME_MAX + 64];
    size_t npend = 0, pos = 0, used;

    memset(run, 0, sizeof(*run));
    check(rc_hs_init(&hs, acceptor ? RC_HS_ACCEPTOR : RC_HS_INITIATOR, "py@127.0.0.1", 0x6553f101,
                     (const uint8_t *)COOKIE, strlen(COOKIE), "peer25@127.0.0.1",
                     acceptor ? 0x6b0eddda : 0x00b95d03) == 0);
    run->r = rc_hs_start(&hs, &out);
    collect(run, &out);
    while (run->r == RC_HS_AGAIN && pos < len) {
        size_t n = len - pos;

        if (seed) {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            n = 1 + seed % 32 < n ? 1 + seed % 32 : n;
        }
        /* Like a connection layer: read at most what the buffer holds. */
        if (n > sizeof(pend) - npend)
            n = sizeof(pend) - npend;
        memcpy(pend + npend, in + pos, n);
        npend += n;
        pos += n;
        for (;;) {
            run->r = rc_hs_feed(&hs, pend, npend, &used, &out);
            check(used <= npend);
            memmove(pend, pend + used, npend - used);
            npend -= used;
            collect(run, &out);
            if (run->r != RC_HS_NAME)
                break;
            run->r = rc_hs_accept(&hs, (enum rc_hs_status)(mode >> 2 & 3), &out);
            collect(run, &out);
            if (run->r != RC_HS_AGAIN)
                break;
        }
        /* A full buffer that still yields AGAIN would stall a real caller. */
        check(run->r != RC_HS_AGAIN || npend < 2 + RC_HS_FRAME_MAX);
    }
    if (run->r == RC_HS_AGAIN && (mode & 16)) {
        rc_hs_eof(&hs);
        run->r = rc_hs_feed(&hs, NULL, 0, &used, &out);
        check(run->r == RC_HS_FAILED && used == 0);
    }
    if (run->r == RC_HS_FAILED || run->r == RC_HS_DONE)
        check_terminal(&hs, run->r, memmem(in, len, COOKIE, strlen(COOKIE)) != NULL);
    run->reason = hs.reason;
    run->left = npend + (len - pos);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t stream[8192];
    static struct run whole, chunked;
    unsigned mode;
    size_t len = 0;

    if (size < 2)
        return 0;
    mode = data[0];
    if (mode & 2) {
        const uint8_t *p = mode & 1 ? acceptor_prefix : initiator_prefix;
        size_t n = mode & 1 ? sizeof(acceptor_prefix) : sizeof(initiator_prefix);

        memcpy(stream, p, n);
        len = n;
    }
    if (size - 2 > sizeof(stream) - len)
        size = sizeof(stream) - len + 2;
    memcpy(stream + len, data + 2, size - 2);
    len += size - 2;

    drive(stream, len, mode, 0, &whole);
    drive(stream, len, mode, 0x9e3779b9u * (data[1] + 1u), &chunked);
    check(whole.r == chunked.r && whole.reason == chunked.reason);
    check(whole.sent_len == chunked.sent_len && !memcmp(whole.sent, chunked.sent, whole.sent_len));
    check(whole.left == chunked.left);
    return 0;
}

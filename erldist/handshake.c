/*
 * handshake.c - the Erlang distribution handshake, version 6, both roles.
 *
 * Owns the Len:16 framing and the send_name / status / challenge /
 * challenge_reply / challenge_ack exchange (docs/protocol.md section 2), and the
 * node-name syntax check. It is a pure state machine over byte buffers so the
 * captured OTP exchanges can be replayed byte for byte in unit tests and the
 * fuzzer can drive it without sockets; the connection layer owns the socket,
 * the deadline and the logging.
 *
 * Every incoming frame goes through one dispatch on the current state; a
 * failure goes through fail(), which is the only place that sets reason and
 * why. Names read from the wire are bounded and reduced to printable ASCII
 * before they reach why; the cookie is never formatted anywhere.
 *
 * The old 'n' send_name (version 5, followed by a 'c' complement) is refused
 * with "snot_allowed": OTP 23+ sends 'N' to any node registered with EPMD
 * High 6, which is what rollcall registers, so only pre-23 nodes and ancient
 * C nodes would send 'n', and they lack flags we require anyway.
 */
#include "rollcall/handshake.h"
#include "rollcall/bytes.h"
#include "rollcall/md5.h"
#include "rollcall/tls.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum hs_state {
    ST_START,          /* initiator: send_name not written yet */
    ST_WAIT_STATUS,    /* initiator: send_name sent */
    ST_WAIT_CHALLENGE, /* initiator: status ok / ok_simultaneous / alive seen */
    ST_WAIT_ACK,       /* initiator: challenge_reply sent */
    ST_WAIT_NAME,      /* acceptor: waiting for send_name */
    ST_NAMED,          /* acceptor: waiting for rc_hs_accept */
    ST_WAIT_REPLY,     /* acceptor: challenge sent */
    ST_DONE,
    ST_FAILED,
};

#define DIGEST_LEN 16
#define NAME_IN_WHY 64 /* bytes of a peer-supplied name quoted in why */
#define QUOTE_SIZE (NAME_IN_WHY + 4)

/* Payload sizes (after Len:16). */
#define SEND_NAME_FIXED (1 + 8 + 4 + 2)     /* 'N' Flags Creation Nlen */
#define CHALLENGE_FIXED (1 + 8 + 4 + 4 + 2) /* 'N' Flags Challenge Creation Nlen */
#define REPLY_LEN (1 + 4 + DIGEST_LEN)      /* 'r' Challenge Digest */
#define ACK_LEN (1 + DIGEST_LEN)            /* 'a' Digest */

static enum rc_hs_result current_result(const struct rc_hs *hs)
{
    switch (hs->state) {
    case ST_FAILED:
        return RC_HS_FAILED;
    case ST_DONE:
        return RC_HS_DONE;
    case ST_NAMED:
        return RC_HS_NAME;
    default:
        return RC_HS_AGAIN;
    }
}

__attribute__((format(printf, 3, 4))) static int fail(struct rc_hs *hs, enum rc_reason reason,
                                                      const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(hs->why, sizeof(hs->why), fmt, ap);
    va_end(ap);
    hs->reason = reason;
    hs->state = ST_FAILED;
    return RC_HS_FAILED;
}

/* A peer-supplied name made safe for why: at most NAME_IN_WHY bytes,
 * anything outside printable ASCII shown as '?', "..." when cut. */
static const char *quote_name(char q[QUOTE_SIZE], const uint8_t *p, size_t n)
{
    size_t i, max = n < NAME_IN_WHY ? n : NAME_IN_WHY;

    for (i = 0; i < max; i++)
        q[i] = (p[i] >= 0x20 && p[i] < 0x7f) ? (char)p[i] : '?';
    if (max < n) {
        memcpy(q + i, "...", 3);
        i += 3;
    }
    q[i] = '\0';
    return q;
}

static bool out_room(const struct rc_hs_out *out, size_t n)
{
    return out->len <= sizeof(out->data) && sizeof(out->data) - out->len >= n;
}

/* Appends Len:16 (Len:32 over TLS) + payload; the caller checked
 * out_room(hs->hdr_len + n). */
static void out_frame(const struct rc_hs *hs, struct rc_hs_out *out, const uint8_t *payload,
                      size_t n)
{
    uint8_t *p = hs->hdr_len == 4 ? rc_put32(out->data + out->len, (uint32_t)n)
                                  : rc_put16(out->data + out->len, (uint16_t)n);

    memcpy(p, payload, n);
    out->len += hs->hdr_len + n;
}

static int out_full(struct rc_hs *hs)
{
    return fail(hs, RC_REASON_HANDSHAKE_FAILED, "output buffer full (caller did not send it)");
}

/* Writes a status frame 's' + text; fails when out has no room. */
static int send_status(struct rc_hs *hs, struct rc_hs_out *out, const char *text)
{
    uint8_t buf[32];
    size_t n = strlen(text);

    if (!out_room(out, hs->hdr_len + 1 + n))
        return out_full(hs);
    buf[0] = 's';
    memcpy(buf + 1, text, n);
    out_frame(hs, out, buf, 1 + n);
    return RC_HS_AGAIN;
}

static void digest(const uint8_t *cookie, size_t cookie_len, uint32_t challenge,
                   uint8_t out[DIGEST_LEN])
{
    char dec[16];
    int declen = snprintf(dec, sizeof(dec), "%u", (unsigned)challenge);
    struct rc_md5 ctx;

    rc_md5_init(&ctx);
    rc_md5_update(&ctx, cookie, cookie_len);
    rc_md5_update(&ctx, dec, (size_t)declen);
    rc_md5_final(&ctx, out); /* wipes ctx */
}

void rc_hs_digest(const uint8_t *cookie, size_t cookie_len, uint32_t challenge, uint8_t out[16])
{
    digest(cookie, cookie_len, challenge, out);
}

/* True when got is the digest of our cookie and challenge; compared in
 * constant time, so a peer learns nothing from how long a refusal takes. */
static bool digest_ok(const struct rc_hs *hs, uint32_t challenge, const uint8_t *got)
{
    uint8_t want[DIGEST_LEN];

    digest(hs->cookie, hs->cookie_len, challenge, want);
    return rc_md5_equal(want, got, DIGEST_LEN);
}

int rc_hs_init(struct rc_hs *hs, enum rc_hs_role role, const char *self_name,
               uint32_t self_creation, const uint8_t *cookie, size_t cookie_len,
               const char *peer_name, uint32_t my_challenge)
{
    if (hs == NULL || (role != RC_HS_INITIATOR && role != RC_HS_ACCEPTOR))
        return -EINVAL;
    if (!rc_node_name_valid(self_name) || cookie_len > RC_COOKIE_MAX ||
        (cookie == NULL && cookie_len != 0))
        return -EINVAL;
    if (role == RC_HS_INITIATOR && !rc_node_name_valid(peer_name))
        return -EINVAL;

    memset(hs, 0, sizeof(*hs));
    hs->role = role;
    hs->state = role == RC_HS_INITIATOR ? ST_START : ST_WAIT_NAME;
    strcpy(hs->self_name, self_name); /* length checked by rc_node_name_valid */
    hs->self_creation = self_creation;
    hs->self_flags = RC_DFLAGS_OURS;
    hs->hdr_len = 2;
    if (role == RC_HS_INITIATOR)
        strcpy(hs->peer_name, peer_name);
    hs->my_challenge = my_challenge;
    if (cookie_len != 0)
        memcpy(hs->cookie, cookie, cookie_len);
    hs->cookie_len = cookie_len;
    hs->reason = RC_REASON_OK;
    return 0;
}

void rc_hs_use_len32(struct rc_hs *hs)
{
    hs->hdr_len = 4;
}

int rc_hs_start(struct rc_hs *hs, struct rc_hs_out *out)
{
    uint8_t buf[SEND_NAME_FIXED + RC_NAME_MAX], *p = buf;
    size_t n = strlen(hs->self_name);

    if (hs->state != ST_START)
        return current_result(hs); /* acceptor, or called twice: nothing to write */
    if (!out_room(out, hs->hdr_len + SEND_NAME_FIXED + n))
        return out_full(hs);
    *p++ = 'N';
    p = rc_put64(p, hs->self_flags);
    p = rc_put32(p, hs->self_creation);
    p = rc_put16(p, (uint16_t)n);
    memcpy(p, hs->self_name, n);
    out_frame(hs, out, buf, SEND_NAME_FIXED + n);
    hs->state = ST_WAIT_STATUS;
    return RC_HS_AGAIN;
}

static int missing_flags(struct rc_hs *hs, uint64_t flags)
{
    return fail(hs, RC_REASON_HANDSHAKE_FAILED, "peer lacks required distribution flags 0x%llx",
                (unsigned long long)(RC_DFLAGS_REQUIRED & ~flags));
}

static bool status_is(const uint8_t *f, size_t n, const char *text)
{
    return n - 1 == strlen(text) && memcmp(f + 1, text, n - 1) == 0;
}

/* Initiator: status 's' + text. */
static int on_status(struct rc_hs *hs, const uint8_t *f, size_t n, struct rc_hs_out *out)
{
    char q[QUOTE_SIZE];

    if (f[0] != 's')
        return fail(hs, RC_REASON_PROTOCOL_ERROR, "expected status 's', got tag %u", f[0]);
    if (status_is(f, n, "nok")) {
        hs->peer_wins = true;
        return fail(hs, RC_REASON_HANDSHAKE_FAILED, "nok (peer's own connection attempt wins)");
    }
    if (status_is(f, n, "not_allowed"))
        return fail(hs, RC_REASON_HANDSHAKE_FAILED, "not_allowed (peer refused our name or flags)");
    if (status_is(f, n, "alive")) {
        /* We dial only when we hold no connection to this peer, so the one
         * it still has from us is stale: "true" tells it to drop that one. */
        if (send_status(hs, out, "true") != RC_HS_AGAIN)
            return RC_HS_FAILED;
    } else if (!status_is(f, n, "ok") && !status_is(f, n, "ok_simultaneous")) {
        return fail(hs, RC_REASON_PROTOCOL_ERROR, "unknown handshake status \"%s\"",
                    quote_name(q, f + 1, n - 1));
    }
    hs->state = ST_WAIT_CHALLENGE;
    return RC_HS_AGAIN;
}

/* Initiator: challenge 'N' Flags:64 Challenge:32 Creation:32 Nlen:16 Name [ignored]. */
static int on_challenge(struct rc_hs *hs, const uint8_t *f, size_t n, struct rc_hs_out *out)
{
    uint8_t buf[REPLY_LEN], *p = buf;
    char q[QUOTE_SIZE];
    size_t nlen;

    if (f[0] != 'N')
        return fail(hs, RC_REASON_PROTOCOL_ERROR, "expected challenge 'N', got tag %u", f[0]);
    if (n < CHALLENGE_FIXED || (nlen = rc_get16(f + 17)) > n - CHALLENGE_FIXED)
        return fail(hs, RC_REASON_PROTOCOL_ERROR, "truncated challenge (%zu bytes)", n);
    hs->peer_flags = rc_get64(f + 1);
    hs->peer_challenge = rc_get32(f + 9);
    hs->peer_creation = rc_get32(f + 13);
    if ((hs->peer_flags & RC_DFLAGS_REQUIRED) != RC_DFLAGS_REQUIRED)
        return missing_flags(hs, hs->peer_flags);
    if (nlen != strlen(hs->peer_name) || memcmp(f + CHALLENGE_FIXED, hs->peer_name, nlen) != 0)
        return fail(hs, RC_REASON_HANDSHAKE_FAILED, "challenge names %s, not the node dialled",
                    quote_name(q, f + CHALLENGE_FIXED, nlen));
    if (!out_room(out, hs->hdr_len + REPLY_LEN))
        return out_full(hs);
    *p++ = 'r';
    p = rc_put32(p, hs->my_challenge);
    rc_hs_digest(hs->cookie, hs->cookie_len, hs->peer_challenge, p);
    out_frame(hs, out, buf, REPLY_LEN);
    hs->state = ST_WAIT_ACK;
    return RC_HS_AGAIN;
}

/* Initiator: challenge_ack 'a' Digest. */
static int on_ack(struct rc_hs *hs, const uint8_t *f, size_t n)
{
    if (f[0] != 'a' || n != ACK_LEN)
        return fail(hs, RC_REASON_PROTOCOL_ERROR,
                    "expected challenge_ack 'a' of %d bytes, got tag %u, %zu bytes", ACK_LEN, f[0],
                    n);
    if (!digest_ok(hs, hs->my_challenge, f + 1))
        return fail(hs, RC_REASON_COOKIE_REJECTED,
                    "challenge_ack digest does not match our cookie");
    hs->state = ST_DONE;
    return RC_HS_DONE;
}

/* Acceptor: send_name 'N' Flags:64 Creation:32 Nlen:16 Name [ignored]. */
static int on_name(struct rc_hs *hs, const uint8_t *f, size_t n, struct rc_hs_out *out)
{
    char q[QUOTE_SIZE];
    size_t nlen;

    if (f[0] == 'n') {
        if (send_status(hs, out, "not_allowed") != RC_HS_AGAIN)
            return RC_HS_FAILED;
        return fail(hs, RC_REASON_HANDSHAKE_FAILED,
                    "peer sent the old 'n' send_name (version 5); only 'N' is supported");
    }
    if (f[0] != 'N')
        return fail(hs, RC_REASON_PROTOCOL_ERROR, "expected send_name 'N', got tag %u", f[0]);
    if (n < SEND_NAME_FIXED || (nlen = rc_get16(f + 13)) > n - SEND_NAME_FIXED)
        return fail(hs, RC_REASON_PROTOCOL_ERROR, "truncated send_name (%zu bytes)", n);
    hs->peer_flags = rc_get64(f + 1);
    hs->peer_creation = rc_get32(f + 9);
    if (nlen > RC_NAME_MAX || memchr(f + SEND_NAME_FIXED, '\0', nlen) != NULL)
        return fail(hs, RC_REASON_PROTOCOL_ERROR, "invalid peer node name %s",
                    quote_name(q, f + SEND_NAME_FIXED, nlen));
    memcpy(hs->peer_name, f + SEND_NAME_FIXED, nlen);
    hs->peer_name[nlen] = '\0';
    if (!rc_node_name_valid(hs->peer_name))
        return fail(hs, RC_REASON_PROTOCOL_ERROR, "invalid peer node name %s",
                    quote_name(q, f + SEND_NAME_FIXED, nlen));
    if ((hs->peer_flags & RC_DFLAGS_REQUIRED) != RC_DFLAGS_REQUIRED) {
        /* What OTP answers a peer that lacks mandatory flags. */
        if (send_status(hs, out, "not_allowed") != RC_HS_AGAIN)
            return RC_HS_FAILED;
        return missing_flags(hs, hs->peer_flags);
    }
    hs->state = ST_NAMED;
    return RC_HS_NAME;
}

/* Acceptor: challenge_reply 'r' Challenge:32 Digest. */
static int on_reply(struct rc_hs *hs, const uint8_t *f, size_t n, struct rc_hs_out *out)
{
    uint8_t buf[ACK_LEN];

    if (f[0] != 'r' || n != REPLY_LEN)
        return fail(hs, RC_REASON_PROTOCOL_ERROR,
                    "expected challenge_reply 'r' of %d bytes, got tag %u, %zu bytes", REPLY_LEN,
                    f[0], n);
    hs->peer_challenge = rc_get32(f + 1);
    if (!digest_ok(hs, hs->my_challenge, f + 5))
        return fail(hs, RC_REASON_COOKIE_REJECTED,
                    "challenge_reply digest does not match our cookie");
    if (!out_room(out, hs->hdr_len + ACK_LEN))
        return out_full(hs);
    buf[0] = 'a';
    rc_hs_digest(hs->cookie, hs->cookie_len, hs->peer_challenge, buf + 1);
    out_frame(hs, out, buf, ACK_LEN);
    hs->state = ST_DONE;
    return RC_HS_DONE;
}

static int on_frame(struct rc_hs *hs, const uint8_t *f, size_t n, struct rc_hs_out *out)
{
    switch (hs->state) {
    case ST_WAIT_STATUS:
        return on_status(hs, f, n, out);
    case ST_WAIT_CHALLENGE:
        return on_challenge(hs, f, n, out);
    case ST_WAIT_ACK:
        return on_ack(hs, f, n);
    case ST_WAIT_NAME:
        return on_name(hs, f, n, out);
    case ST_WAIT_REPLY:
        return on_reply(hs, f, n, out);
    default: /* ST_START: the peer spoke before our send_name */
        return fail(hs, RC_REASON_PROTOCOL_ERROR, "unexpected frame (tag %u) before send_name",
                    f[0]);
    }
}

int rc_hs_feed(struct rc_hs *hs, const uint8_t *in, size_t len, size_t *ret_used,
               struct rc_hs_out *out)
{
    size_t used = 0, n;
    int r = current_result(hs);

    while (r == RC_HS_AGAIN && len - used >= hs->hdr_len) {
        n = hs->hdr_len == 4 ? rc_get32(in + used) : rc_get16(in + used);
        if (n > RC_HS_FRAME_MAX && hs->hdr_len == 2) {
            /* A TLS record header reads as a length of 5 KiB or more. */
            enum rc_tls_kind k = rc_tls_sniff(in + used, len - used);

            if (k == RC_TLS_MORE)
                break;
            if (rc_tls_kind_is_tls(k)) {
                r = fail(hs, RC_REASON_TLS_REQUIRED,
                         "peer speaks TLS (a TLS %s record where a handshake frame belongs): it "
                         "uses TLS distribution (-proto_dist inet_tls), this connection is plain",
                         k == RC_TLS_ALERT ? "alert" : "handshake");
                break;
            }
        }
        if (n == 0 || n > RC_HS_FRAME_MAX) {
            used += hs->hdr_len;
            r = fail(hs, RC_REASON_PROTOCOL_ERROR, "handshake frame length %zu", n);
            break;
        }
        if (len - used - hs->hdr_len < n)
            break;
        r = on_frame(hs, in + used + hs->hdr_len, n, out);
        used += hs->hdr_len + n;
    }
    *ret_used = used;
    return r;
}

int rc_hs_accept(struct rc_hs *hs, enum rc_hs_status st, struct rc_hs_out *out)
{
    uint8_t buf[CHALLENGE_FIXED + RC_NAME_MAX], *p = buf;
    size_t n = strlen(hs->self_name);
    const char *status;

    if (hs->state != ST_NAMED) {
        if (hs->state == ST_FAILED || hs->state == ST_DONE)
            return current_result(hs);
        return fail(hs, RC_REASON_HANDSHAKE_FAILED, "rc_hs_accept called before the peer's name");
    }
    switch (st) {
    case RC_HS_ST_OK:
        status = "ok";
        break;
    case RC_HS_ST_OK_SIMULTANEOUS:
        status = "ok_simultaneous";
        break;
    case RC_HS_ST_NOK:
        if (send_status(hs, out, "nok") != RC_HS_AGAIN)
            return RC_HS_FAILED;
        return fail(hs, RC_REASON_HANDSHAKE_FAILED,
                    "answered nok (our own connection attempt wins)");
    default:
        if (send_status(hs, out, "not_allowed") != RC_HS_AGAIN)
            return RC_HS_FAILED;
        return fail(hs, RC_REASON_HANDSHAKE_FAILED, "answered not_allowed");
    }
    /* Status and challenge together, or neither. */
    if (!out_room(out, 2 * hs->hdr_len + 1 + strlen(status) + CHALLENGE_FIXED + n))
        return out_full(hs);
    send_status(hs, out, status);
    *p++ = 'N';
    p = rc_put64(p, hs->self_flags);
    p = rc_put32(p, hs->my_challenge);
    p = rc_put32(p, hs->self_creation);
    p = rc_put16(p, (uint16_t)n);
    memcpy(p, hs->self_name, n);
    out_frame(hs, out, buf, CHALLENGE_FIXED + n);
    hs->state = ST_WAIT_REPLY;
    return RC_HS_AGAIN;
}

int rc_hs_refuse(struct rc_hs *hs, enum rc_reason reason, const char *why, struct rc_hs_out *out)
{
    if (hs->role != RC_HS_ACCEPTOR || (hs->state != ST_WAIT_NAME && hs->state != ST_NAMED))
        return fail(hs, reason, "%s", why);
    if (send_status(hs, out, "not_allowed") != RC_HS_AGAIN)
        return RC_HS_FAILED;
    return fail(hs, reason, "%s", why);
}

void rc_hs_eof(struct rc_hs *hs)
{
    if (hs->state == ST_FAILED || hs->state == ST_DONE)
        return; /* keep the first reason; after DONE the connection layer owns closes */
    if (hs->state == ST_WAIT_ACK)
        fail(hs, RC_REASON_COOKIE_REJECTED,
             "peer closed after our challenge_reply (cookie or challenge name rejected)");
    else if (hs->state == ST_WAIT_REPLY)
        fail(hs, RC_REASON_COOKIE_REJECTED,
             "peer closed after our challenge (cookie or node name rejected)");
    else
        fail(hs, RC_REASON_HANDSHAKE_FAILED, "peer closed during the handshake");
}

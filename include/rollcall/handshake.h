/*
 * handshake.h - Erlang distribution handshake, version 6 (erldist/handshake.c).
 *
 * A pure state machine: bytes in, bytes out, no sockets, no clock, no logging,
 * so unit tests replay the captured OTP exchanges in tests/fixtures/vectors and the
 * fuzzer drives it directly. The caller owns the socket and the deadline.
 *
 * Framing: every handshake message is Len:16 + payload (Len:32 + payload
 * over TLS, see rc_hs_use_len32). rc_hs_feed consumes
 * whole frames only and stops right after the frame that completes the
 * handshake, so bytes of the 4-byte phase that arrived in the same read are
 * left for the caller (ret_used tells how many were taken).
 */
#ifndef ROLLCALL_HANDSHAKE_H
#define ROLLCALL_HANDSHAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rollcall/names.h" /* RC_NAME_MAX, rc_node_name_valid */
#include "rollcall/reason.h"

#define RC_COOKIE_MAX 255    /* cookie bytes */
#define RC_HS_FRAME_MAX 1024 /* largest handshake frame accepted (payload bytes) */

/* Distribution flags (docs/protocol.md section 3). */
#define RC_DFLAG_PUBLISHED 0x1ULL
#define RC_DFLAG_EXTENDED_REFERENCES 0x4ULL
#define RC_DFLAG_HANDSHAKE_23 0x1000000ULL
#define RC_DFLAG_UNLINK_ID 0x2000000ULL
#define RC_DFLAG_MANDATORY_25_DIGEST 0x4000000ULL /* "I have all of OTP 25's mandatory set" */
/* What we send: OTP 25's mandatory set + UNLINK_ID + MANDATORY_25_DIGEST +
 * V4_NC (hidden: no PUBLISHED). Every OTP release from 25 on sends
 * MANDATORY_25_DIGEST, and OTP's dist.hrl announces it will be required.
 * Flags we do not know (OTP 29's ALTACT_SIG, NATIVE_RECORDS, ...) are
 * ignored: only RC_DFLAGS_REQUIRED is checked. */
#define RC_DFLAGS_OURS (0x403070F94ULL | RC_DFLAG_MANDATORY_25_DIGEST)
/* What we require of a peer. */
#define RC_DFLAGS_REQUIRED (RC_DFLAG_HANDSHAKE_23 | RC_DFLAG_EXTENDED_REFERENCES)

enum rc_hs_role { RC_HS_INITIATOR, RC_HS_ACCEPTOR };

/* The status an acceptor answers after reading the peer's name. */
enum rc_hs_status {
    RC_HS_ST_OK,
    RC_HS_ST_OK_SIMULTANEOUS, /* we drop our own pending attempt */
    RC_HS_ST_NOK,             /* our own attempt wins; this one ends */
    RC_HS_ST_NOT_ALLOWED,
};

/* Return values of rc_hs_start / rc_hs_feed / rc_hs_accept. */
enum rc_hs_result {
    RC_HS_FAILED = -1, /* see hs->reason and hs->why; close the socket after sending out */
    RC_HS_AGAIN = 0,   /* need more bytes */
    RC_HS_NAME = 1,    /* acceptor: hs->peer_name is known, call rc_hs_accept */
    RC_HS_DONE = 2,    /* handshake complete; switch to Len:32 packets */
};

/* Bytes to send after a call; the caller sends and then clears len. */
struct rc_hs_out {
    uint8_t data[2 * RC_HS_FRAME_MAX];
    size_t len;
};

struct rc_hs {
    enum rc_hs_role role;
    int state; /* internal */
    char self_name[RC_NAME_MAX + 1];
    uint32_t self_creation;
    uint64_t self_flags;
    /* initiator: the name we dialled (the challenge must carry exactly this);
     * acceptor: the name the peer sent (valid after RC_HS_NAME) */
    char peer_name[RC_NAME_MAX + 1];
    uint64_t peer_flags;
    uint32_t peer_creation;
    uint32_t my_challenge;   /* the challenge we issue (acceptor) or send in 'r' (initiator) */
    uint32_t peer_challenge; /* the challenge we received */
    uint8_t cookie[RC_COOKIE_MAX];
    size_t cookie_len;
    enum rc_reason reason; /* set when a call returns RC_HS_FAILED or after rc_hs_eof */
    char why[160];         /* human detail, never contains the cookie */
    bool peer_wins;        /* initiator got "nok": the peer's own connection to us wins */
    uint8_t hdr_len;       /* bytes of a frame's length: 2, or 4 over TLS */
};

/* Prepares a handshake. peer_name is required for the initiator and ignored
 * for the acceptor. my_challenge is the random 32-bit challenge (tests pass
 * fixed values). Names longer than RC_NAME_MAX or a cookie longer than
 * RC_COOKIE_MAX are truncated by nothing: the call returns -EINVAL. */
int rc_hs_init(struct rc_hs *hs, enum rc_hs_role role, const char *self_name,
               uint32_t self_creation, const uint8_t *cookie, size_t cookie_len,
               const char *peer_name, uint32_t my_challenge);

/* TLS distribution (OTP's inet_tls_dist) frames the handshake messages
 * with Len:32 instead of Len:16 ({packet, 4} on the TLS socket). Call right
 * after rc_hs_init. */
void rc_hs_use_len32(struct rc_hs *hs);

/* Initiator: writes send_name ('N') to out, returns RC_HS_AGAIN.
 * Acceptor: writes nothing, returns RC_HS_AGAIN. */
int rc_hs_start(struct rc_hs *hs, struct rc_hs_out *out);

/* Consumes bytes received from the peer (whole frames only, see above).
 * May append bytes to out even when it returns RC_HS_DONE. */
int rc_hs_feed(struct rc_hs *hs, const uint8_t *in, size_t len, size_t *ret_used,
               struct rc_hs_out *out);

/* Acceptor, after RC_HS_NAME: writes the status and, for OK and
 * OK_SIMULTANEOUS, the challenge. NOK / NOT_ALLOWED return RC_HS_FAILED with
 * reason RC_REASON_HANDSHAKE_FAILED (send out, then close). */
int rc_hs_accept(struct rc_hs *hs, enum rc_hs_status st, struct rc_hs_out *out);

/* Acceptor, in any state before the challenge: writes status "not_allowed"
 * (to refuse a connection before reading its name, e.g. a plain peer where
 * TLS is required) and fails with reason. Returns RC_HS_FAILED. */
int rc_hs_refuse(struct rc_hs *hs, enum rc_reason reason, const char *why, struct rc_hs_out *out);

/* The peer closed during the handshake: sets hs->reason. An initiator that
 * already sent its challenge reply, or an acceptor whose peer closed after
 * our challenge, gets RC_REASON_COOKIE_REJECTED (OTP closes silently on a bad
 * digest); earlier closes give RC_REASON_HANDSHAKE_FAILED. */
void rc_hs_eof(struct rc_hs *hs);

/* MD5(cookie ++ decimal string of challenge as an UNSIGNED 32-bit number). */
void rc_hs_digest(const uint8_t *cookie, size_t cookie_len, uint32_t challenge, uint8_t out[16]);

#endif

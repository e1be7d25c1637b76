/*
 * detect.h - the pieces of a verdict under gray failure (agent/detect.c;
 * the design is argued in docs/detection.md).
 *
 * Pure functions over small structs: no clock, no I/O, no logging, so the
 * peer state machine can call them and the unit tests can drive them.
 *
 * - rc_rtt: RFC 6298 smoothed round trip and variance per link, and the
 *   per-link ping deadline derived from them (never below the configured
 *   ping_timeout, never above the cap the caller gives).
 * - rc_health: Lifeguard-style local health, 0..RC_HEALTH_MAX. It rises when
 *   a sweep misses most peers at once (the fault is more likely ours) or the
 *   loop itself ran late, halves with each clean sweep, and stretches our own
 *   confirmation time by (1 + score).
 * - rc_detect_decide: one confirmation round's evidence in, one of refute /
 *   down / stay suspect out, with the words that go into the log.
 */
#ifndef ROLLCALL_DETECT_H
#define ROLLCALL_DETECT_H

#include <stdbool.h>
#include <stdint.h>

/* ---- per-link deadline ---- */

struct rc_rtt {
    uint64_t srtt_us, rttvar_us;
    bool init;
};

/* Adds one measured round trip (RFC 6298 section 2, alpha 1/8, beta 1/4). */
void rc_rtt_add(struct rc_rtt *r, uint64_t sample_us);

/* The deadline of the next ping on this link: srtt + 4 rttvar (at least
 * 50 ms of margin), never below base_ms, never above cap_ms (cap_ms below
 * base_ms means base_ms). */
uint64_t rc_rtt_deadline_ms(const struct rc_rtt *r, uint64_t base_ms, uint64_t cap_ms);

/* ---- local health ---- */

#define RC_HEALTH_MAX 8

struct rc_health {
    int score;
};

/* One finished sweep: how many peers were pinged, how many timed out, and
 * how late the sweep started against its timer (loop lag). */
void rc_health_sweep(struct rc_health *h, uint32_t pinged, uint32_t timed_out, uint64_t lag_ms,
                     uint64_t interval_ms);

/* The factor our own confirmation time is stretched by: 1 + score. */
static inline uint64_t rc_health_factor(const struct rc_health *h)
{
    return 1 + (uint64_t)(h->score < 0 ? 0 : h->score);
}

/* ---- one confirmation round ---- */

enum rc_tcp_evidence {
    RC_TCP_NONE = 0, /* no connection, or nothing outstanding */
    RC_TCP_ACKED,    /* the peer's kernel acknowledged our ping; the process did not answer */
    RC_TCP_UNACKED,  /* our bytes sit unacknowledged (retransmitting): the network or host */
};

struct rc_round {
    /* our own fresh ping in this round */
    bool direct_answered;
    bool direct_refused; /* refused, reset, not registered: the process is gone */
    enum rc_tcp_evidence direct_tcp;
    /* time since anyone (we, or a helper by its reply's age) last heard the
     * peer answer; and since the suspicion began */
    uint64_t silence_ms;
    uint64_t suspect_ms;
    /* indirect probes */
    uint32_t helpers_asked, helpers_replied;
    uint32_t helpers_ok, helpers_refused;
    uint32_t helpers_silent_acked;   /* timeout, the target's kernel acked */
    uint32_t helpers_silent_unacked; /* timeout, not even acked */
    uint32_t helpers_unknown;        /* unknown / busy: no opinion */
};

enum rc_decide {
    RC_DECIDE_STAY = 0, /* still suspect: no answer, no evidence of death yet */
    RC_DECIDE_REFUTE,   /* it answered (directly or to a helper): up */
    RC_DECIDE_DOWN,     /* confirmed */
};

struct rc_decision {
    enum rc_decide verdict;
    const char *evidence;     /* static words: "refused", "acked_unanswered", "silent", ... */
    const char *confirmed_by; /* static words: "direct", "helpers", "direct+helpers" */
};

/* confirm_ms: how long a peer must be unheard by everyone before a timeout
 * confirmed by a helper's timeout becomes a down (interval + ping_timeout
 * with the defaults), already stretched by our health factor. alone_ms: the
 * same when no helper confirms, because none could be asked or none
 * replied (we may be the one cut off): our own silence alone, held longer
 * (the agent gives twice interval + ping_timeout). Helpers that replied
 * without an opinion (unknown, busy) are no evidence: stay. */
struct rc_decision rc_detect_decide(const struct rc_round *r, uint64_t confirm_ms,
                                    uint64_t alone_ms);

#endif

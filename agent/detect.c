/*
 * detect.c - per-link deadlines, local health and the confirmation rule
 * (include/rollcall/detect.h, docs/detection.md).
 */
#include "rollcall/detect.h"

#define RTT_MARGIN_US 50000 /* RFC 6298's G, generous: timers, scheduling */

void rc_rtt_add(struct rc_rtt *r, uint64_t sample_us)
{
    uint64_t diff;

    if (!r->init) {
        r->srtt_us = sample_us;
        r->rttvar_us = sample_us / 2;
        r->init = true;
        return;
    }
    diff = r->srtt_us > sample_us ? r->srtt_us - sample_us : sample_us - r->srtt_us;
    r->rttvar_us = (3 * r->rttvar_us + diff) / 4;
    r->srtt_us = (7 * r->srtt_us + sample_us) / 8;
}

uint64_t rc_rtt_deadline_ms(const struct rc_rtt *r, uint64_t base_ms, uint64_t cap_ms)
{
    uint64_t rto_ms, var;

    if (cap_ms < base_ms)
        cap_ms = base_ms;
    if (!r->init)
        return base_ms;
    var = 4 * r->rttvar_us;
    if (var < RTT_MARGIN_US)
        var = RTT_MARGIN_US;
    rto_ms = (r->srtt_us + var + 999) / 1000;
    if (rto_ms < base_ms)
        return base_ms;
    return rto_ms > cap_ms ? cap_ms : rto_ms;
}

void rc_health_sweep(struct rc_health *h, uint32_t pinged, uint32_t timed_out, uint64_t lag_ms,
                     uint64_t interval_ms)
{
    /* Missing most peers at once, or our own timer firing late by half an
     * interval: the trouble is more likely here than everywhere else. */
    bool bad = (pinged >= 2 && 2 * timed_out > pinged) || (lag_ms * 2 > interval_ms);
    if (bad) {
        if (h->score < RC_HEALTH_MAX)
            h->score++;
    } else if (timed_out == 0) {
        h->score /= 2; /* a clean sweep: trust comes back fast once we are well */
    }
}

struct rc_decision rc_detect_decide(const struct rc_round *r, uint64_t confirm_ms,
                                    uint64_t alone_ms)
{
    struct rc_decision d = {RC_DECIDE_STAY, "none", "none"};
    uint32_t silent = r->helpers_silent_acked + r->helpers_silent_unacked;

    if (r->direct_answered || r->helpers_ok > 0) {
        d.verdict = RC_DECIDE_REFUTE;
        d.evidence = "answered";
        d.confirmed_by = r->direct_answered ? "direct" : "helpers";
        return d;
    }
    if (r->direct_refused || r->helpers_refused > 0) {
        d.verdict = RC_DECIDE_DOWN;
        d.evidence = "refused";
        d.confirmed_by = r->direct_refused && r->helpers_refused > 0 ? "direct+helpers"
                         : r->direct_refused                         ? "direct"
                                                                     : "helpers";
        return d;
    }
    if (r->helpers_asked == 0 || r->helpers_replied == 0) {
        /* Nobody to ask, or nobody answered us (we may be the one cut
         * off): our own evidence, held for alone_ms. */
        if (r->silence_ms < alone_ms)
            return d;
        d.verdict = RC_DECIDE_DOWN;
        d.evidence = r->direct_tcp == RC_TCP_ACKED ? "acked_unanswered" : "silent";
        d.confirmed_by = "direct";
        return d;
    }
    /* Helpers replied, but none with a timeout (unknown, busy): no opinion,
     * no evidence; stay suspect. */
    if (silent == 0)
        return d;
    if (r->silence_ms < confirm_ms)
        return d;
    d.verdict = RC_DECIDE_DOWN;
    /* Whose silence: a kernel that acknowledges while nobody answers is a
     * process (frozen, overloaded); bytes nobody acknowledges, the network
     * or the host. Either way everyone has waited confirm_ms for a word. */
    if (r->direct_tcp == RC_TCP_ACKED || r->helpers_silent_acked > r->helpers_silent_unacked)
        d.evidence = "acked_unanswered";
    else
        d.evidence = "silent";
    d.confirmed_by = "direct+helpers";
    return d;
}

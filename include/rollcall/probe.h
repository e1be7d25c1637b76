/*
 * probe.h - the indirect probe, a small request/response between rollcall
 * agents over the distribution connections they already hold
 * (erldist/probe.c; why and when: docs/detection.md).
 *
 * Both directions are a REG_SEND to the name rollcall_probe, which only
 * agents serve (a BEAM node drops a message to a name nobody registered):
 *
 *   control  {6, FromPid, '', rollcall_probe}
 *   request  {rollcall_probe, 1, req, Id, Target, DeadlineMs}
 *   reply    {rollcall_probe, 1, reply, Id, Result, Evidence, AgeMs}
 *
 * Id is a non-negative integer below 2^32 chosen by the asker; Target a node
 * name (validated like every node name); DeadlineMs 1..RC_PROBE_DEADLINE_MAX;
 * Result one of ok | refused | timeout | unknown | busy; Evidence one of
 * none | acked | unacked (what the helper's TCP said about its own ping);
 * AgeMs the milliseconds since the helper last heard the target answer,
 * -1 for never, at most RC_PROBE_AGE_MAX.
 *
 * Parsing is bounded (RC_MSG_MAX_PACKET, the term codec's limits) and
 * allocation-free. A packet addressed to rollcall_probe that does not match
 * the shapes above is -EPROTO (the caller closes that connection); any
 * other packet is "not a probe" (0); a later version of the message (second
 * element > 1) is ignored the same way, so agents can be upgraded one by one.
 */
#ifndef ROLLCALL_PROBE_H
#define ROLLCALL_PROBE_H

#include <stddef.h>
#include <stdint.h>

#include "rollcall/names.h" /* RC_NAME_MAX, rc_node_name_valid */

#define RC_PROBE_NAME "rollcall_probe"
#define RC_PROBE_DEADLINE_MAX 10000
#define RC_PROBE_AGE_MAX 86400000

enum rc_probe_kind { RC_PROBE_REQUEST = 1, RC_PROBE_REPLY = 2 };

enum rc_probe_result {
    RC_PROBE_OK = 0,  /* the target answered the helper's ping */
    RC_PROBE_REFUSED, /* refused / reset / not registered: the process is gone */
    RC_PROBE_TIMEOUT, /* no answer in time */
    RC_PROBE_UNKNOWN, /* the helper does not know the target (not registered there) */
    RC_PROBE_BUSY,    /* the helper declined (its limits) */
};

enum rc_probe_evidence {
    RC_PROBE_EV_NONE = 0, /* nothing to say (an answer, or no connection) */
    RC_PROBE_EV_ACKED,    /* the target's kernel acknowledged the ping, nobody answered */
    RC_PROBE_EV_UNACKED,  /* the ping's bytes were not even acknowledged */
};

struct rc_probe {
    enum rc_probe_kind kind;
    uint32_t id;
    /* request */
    char target[RC_NAME_MAX + 1];
    uint32_t deadline_ms;
    /* reply */
    enum rc_probe_result result;
    enum rc_probe_evidence evidence;
    int64_t age_ms;
};

/* Reads the data part of one packet (after Len:32). Returns 1 and fills ret
 * for a probe message, 0 for any other packet, -EPROTO for a malformed one
 * addressed to rollcall_probe (or a malformed packet at all). */
int rc_probe_parse(const uint8_t *pkt, size_t len, struct rc_probe *ret);

/* Builds a whole packet (Len:32 included) for p, sent from self_node's pid
 * (NEW_PID(self_node, pid_id, 0, creation)). Returns 0 and the length, or
 * -EINVAL (bad fields), -EMSGSIZE. */
int rc_probe_build(uint8_t *out, size_t cap, size_t *ret_len, const char *self_node,
                   uint32_t creation, uint32_t pid_id, const struct rc_probe *p);

/* Stable words for logs and the wire. Never NULL. */
const char *rc_probe_result_str(enum rc_probe_result r);
const char *rc_probe_evidence_str(enum rc_probe_evidence e);

#endif

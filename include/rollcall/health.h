/*
 * health.h - what /healthz and /readyz answer (agent/health.c). Pure: the
 * agent gathers the facts, this decides and writes the JSON body.
 *
 * Ready means all of:
 *   - "sweep":    the first sweep has finished;
 *   - "registry": the last registry round trip succeeded;
 *   - "self":     our own entry was in the last list (published and visible);
 *   - "expect":   at least `expect` peers answer (only when expect > 0);
 *   - "cookie":   not every peer that answered the handshake rejected our
 *                 cookie (a cluster with another cookie is not ours).
 * The body names every failing condition:
 *   {"ready":false,"failing":["registry","expect"],"registry":"connection refused",
 *    "peers":4,"answering":1,"expect":3,"cookie_rejects":0}
 */
#ifndef ROLLCALL_HEALTH_H
#define ROLLCALL_HEALTH_H

#include <stdbool.h>
#include <stddef.h>

struct rc_health_in {
    bool swept;                 /* a first sweep finished */
    bool registry_ok;           /* last round trip succeeded */
    const char *registry_error; /* "" or the last error */
    bool self_listed;
    unsigned expect;
    size_t peers, answering, cookie_rejects;
};

/* Decides readiness and writes the JSON body (always valid JSON, cut short
 * of the error text if cap is small; 1 KiB is plenty). */
bool rc_health_ready(const struct rc_health_in *in, char *json, size_t cap);

/* The cookie trap: some peers got as far as the digest and every one of
 * them said no, none answered. */
bool rc_health_cookie_rejected_by_all(const struct rc_health_in *in);

#endif

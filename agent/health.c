/*
 * health.c - the readiness rule and its JSON body (contract in health.h).
 */
#include "rollcall/health.h"

#include <stdio.h>
#include <string.h>

#include "rollcall/hooks.h"

bool rc_health_cookie_rejected_by_all(const struct rc_health_in *in)
{
    return in->cookie_rejects != 0 && in->answering == 0;
}

bool rc_health_ready(const struct rc_health_in *in, char *json, size_t cap)
{
    const char *failing[5];
    size_t nf = 0, i, len;
    char err[600];
    bool ready;

    if (!in->swept)
        failing[nf++] = "sweep";
    if (!in->registry_ok)
        failing[nf++] = "registry";
    if (!in->self_listed)
        failing[nf++] = "self";
    if (in->expect != 0 && in->answering < in->expect)
        failing[nf++] = "expect";
    if (rc_health_cookie_rejected_by_all(in))
        failing[nf++] = "cookie";
    ready = nf == 0;
    if (cap == 0)
        return ready;

    len = (size_t)snprintf(json, cap, "{\"ready\":%s,\"failing\":[", ready ? "true" : "false");
    for (i = 0; i < nf && len < cap; i++)
        len += (size_t)snprintf(json + len, cap - len, "%s\"%s\"", i != 0 ? "," : "", failing[i]);
    if (len < cap)
        len += (size_t)snprintf(json + len, cap - len, "]");
    if (!in->registry_ok && len < cap) {
        char e[100];
        /* the error, cut to 100 bytes before escaping (at most 6x) */
        snprintf(e, sizeof e, "%s",
                 in->registry_error != NULL && in->registry_error[0] != '\0' ? in->registry_error
                                                                             : "no round trip yet");
        if (rc_json_quote(e, err, sizeof err) == 0)
            snprintf(err, sizeof err, "\"\"");
        len += (size_t)snprintf(json + len, cap - len, ",\"registry\":%s", err);
    }
    if (len < cap)
        len += (size_t)snprintf(json + len, cap - len,
                                ",\"peers\":%zu,\"answering\":%zu,\"expect\":%u,"
                                "\"cookie_rejects\":%zu}\n",
                                in->peers, in->answering, in->expect, in->cookie_rejects);
    if (len >= cap)
        snprintf(json, cap, "{\"ready\":%s}\n", ready ? "true" : "false");
    return ready;
}

/*
 * cli.c - `rollcall members` and `rollcall ping`.
 *
 * Each command builds a short-lived, non-listening node on its own event
 * loop, starts every ping at once and runs the loop until the last answer:
 * the same code path the agent uses, so what the operator sees is what the
 * agent sees. The registry is read synchronously (there is nothing else to
 * do meanwhile).
 */
#include "rollcall/cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "rollcall/log.h"
#include "rollcall/node.h"
#include "rollcall/registry.h"
#include "rollcall/text.h"
#include "rollcall/worker.h"

struct cli_ping {
    const struct rc_entry *e;
    char ip[RC_IP_MAX];
    bool done, alive;
    enum rc_reason reason;
    uint64_t rtt_us;
    size_t *outstanding;
    struct event_base *base;
};

static void cli_ping_done(void *arg, enum rc_reason r, uint64_t rtt_us)
{
    struct cli_ping *p = arg;
    p->done = true;
    p->alive = r == RC_REASON_OK;
    p->reason = r;
    p->rtt_us = rtt_us;
    if (--*p->outstanding == 0)
        event_base_loopbreak(p->base);
}

/* A node name for the command itself: never the agent's own. */
static void cli_node_name(const struct rc_config *cfg, char *out, size_t outlen)
{
    const char *at = strchr(cfg->name, '@');
    int alive_len = (int)(at - cfg->name);
    if (alive_len > 200)
        alive_len = 200;
    snprintf(out, outlen, "%.*s-cli-%ld%s", alive_len, cfg->name, (long)getpid(), at);
}

/* Pings every entry of ps[0..n) at once; returns when all have answered. */
static int ping_all(const struct rc_config *cfg, const uint8_t *cookie, size_t cookie_len,
                    struct cli_ping *ps, size_t n)
{
    char err[512] = "";
    char name[RC_NAME_MAX + 1];
    cli_node_name(cfg, name, sizeof name);
    struct event_base *base = event_base_new();
    if (!base)
        return -ENOMEM;
    struct rc_node_opts o = {.name = name,
                             .cookie = cookie,
                             .cookie_len = cookie_len,
                             .listen = false,
                             .epmd = RC_EPMD_OFF,
                             .epmd_port = cfg->epmd_port};
    struct rc_node *node = rc_node_new(base, &o, err, sizeof err);
    if (!node) {
        fprintf(stderr, "rollcall: %s\n", err);
        event_base_free(base);
        return -EINVAL;
    }
    size_t outstanding = 0;
    for (size_t i = 0; i < n; i++) {
        struct cli_ping *p = &ps[i];
        p->outstanding = &outstanding;
        p->base = base;
        if (!p->ip[0]) {
            p->done = true;
            p->reason = RC_REASON_RESOLVE_FAILED;
            continue;
        }
        outstanding++;
        if (rc_node_ping(node, p->e->name, p->ip, p->e->port, cfg->ping_timeout_ms, cli_ping_done,
                         p, NULL) != 0) {
            outstanding--;
            p->done = true;
            p->reason = RC_REASON_PROTOCOL_ERROR;
        }
    }
    if (outstanding)
        event_base_dispatch(base);
    rc_node_free(node);
    event_base_free(base);
    return 0;
}

static void resolve_entry(const struct rc_entry *e, char *ip, size_t iplen)
{
    const char *host = e->host;
    if (!host[0]) {
        const char *at = strchr(e->name, '@');
        host = at ? at + 1 : "";
    }
    if (rc_resolve_host(host, ip, iplen) != 0)
        ip[0] = '\0';
}

static int read_registry(const struct rc_config *cfg, struct rc_reg_list *ret)
{
    char err[512] = "";
    char masked[RC_URL_MAX];
    rc_registry_mask_url(cfg->registry, masked, sizeof masked);
    struct rc_registry *reg = NULL;
    int r = rc_registry_open(cfg->registry, &reg, err, sizeof err);
    if (r == 0)
        r = rc_registry_list(reg, ret, err, sizeof err);
    rc_registry_close(reg);
    if (r != 0)
        fprintf(stderr, "rollcall: registry %s: %s\n", masked, err[0] ? err : strerror(-r));
    return r;
}

int rc_cli_members(const struct rc_config *cfg, const uint8_t *cookie, size_t cookie_len, bool json,
                   FILE *out)
{
    struct rc_reg_list list = {0};
    if (read_registry(cfg, &list) != 0)
        return 2;
    for (size_t i = 0; i < list.nrejects; i++) {
        const struct rc_reject *rj = &list.rejects[i];
        char what[4 * RC_REJECT_WHAT_MAX + 8], why[4 * sizeof rj->reason];
        rc_text_escape_cut(rj->what, rj->whatlen, RC_TEXT_BARE, what, sizeof what);
        rc_text_escape_cut(rj->reason, strlen(rj->reason), RC_TEXT_BARE, why, sizeof why);
        fprintf(stderr, "rollcall: skipped registry entry %s%s: %s\n", what, rj->cut ? "..." : "",
                why);
    }
    struct cli_ping *ps = list.n ? calloc(list.n, sizeof *ps) : NULL;
    if (list.n && !ps) {
        rc_reg_list_free(&list);
        return 2;
    }
    for (size_t i = 0; i < list.n; i++) {
        ps[i].e = &list.entries[i];
        resolve_entry(ps[i].e, ps[i].ip, sizeof ps[i].ip);
    }
    if (ping_all(cfg, cookie, cookie_len, ps, list.n) != 0) {
        free(ps);
        rc_reg_list_free(&list);
        return 2;
    }
    size_t alive = 0;
    if (json)
        fputs("[", out);
    else
        fprintf(out, "%-40s %-16s %-6s %-9s %-6s %-9s %s\n", "NODE", "HOST", "PORT", "AGE", "ALIVE",
                "RTT", "REASON");
    for (size_t i = 0; i < list.n; i++) {
        const struct cli_ping *p = &ps[i];
        const struct rc_entry *e = p->e;
        alive += p->alive;
        /* Names and hosts are validated to a safe charset by the registry
         * layer, so they need no JSON escaping. */
        if (json) {
            fprintf(out,
                    "%s\n  {\"node\": \"%s\", \"host\": \"%s\", \"port\": %u, \"age_ms\": %lld, "
                    "\"alive\": %s, \"rtt_ms\": %.3f, \"reason\": \"%s\"}",
                    i ? "," : "", e->name, p->ip, e->port, (long long)e->age_ms,
                    p->alive ? "true" : "false", p->alive ? (double)p->rtt_us / 1000.0 : 0.0,
                    rc_reason_str(p->reason));
        } else {
            char age[32], rtt[32];
            snprintf(age, sizeof age, "%.1fs", (double)e->age_ms / 1000.0);
            if (p->alive)
                snprintf(rtt, sizeof rtt, "%.2fms", (double)p->rtt_us / 1000.0);
            else
                snprintf(rtt, sizeof rtt, "-");
            fprintf(out, "%-40s %-16s %-6u %-9s %-6s %-9s %s\n", e->name, p->ip[0] ? p->ip : "?",
                    e->port, age, p->alive ? "yes" : "no", rtt, rc_reason_str(p->reason));
        }
    }
    if (json)
        fputs(list.n ? "\n]\n" : "]\n", out);
    else
        fprintf(out, "%zu of %zu members answer\n", alive, list.n);
    int rc = alive == list.n ? 0 : 1;
    free(ps);
    rc_reg_list_free(&list);
    return rc;
}

int rc_cli_ping(const struct rc_config *cfg, const uint8_t *cookie, size_t cookie_len,
                const char *target, FILE *out)
{
    const char *name = strcmp(target, "self") == 0 ? cfg->name : target;
    if (!rc_node_name_valid(name)) {
        fprintf(stderr, "rollcall: ping: '%s' is not a node name (name@host)\n", target);
        return 2;
    }
    struct rc_entry e;
    memset(&e, 0, sizeof e);
    snprintf(e.name, sizeof e.name, "%s", name);
    /* The registry knows a port (and perhaps a host) when the node
     * publishes one; without it we ask the host's EPMD. A registry that
     * cannot be read is not fatal here. */
    struct rc_reg_list list = {0};
    char err[512] = "";
    struct rc_registry *reg = NULL;
    if (rc_registry_open(cfg->registry, &reg, err, sizeof err) == 0 &&
        rc_registry_list(reg, &list, err, sizeof err) == 0) {
        for (size_t i = 0; i < list.n; i++)
            if (strcmp(list.entries[i].name, name) == 0)
                e = list.entries[i];
        rc_reg_list_free(&list);
    }
    rc_registry_close(reg);

    struct cli_ping p = {.e = &e};
    resolve_entry(&e, p.ip, sizeof p.ip);
    if (ping_all(cfg, cookie, cookie_len, &p, 1) != 0)
        return 2;
    if (p.alive) {
        fprintf(out, "pong %s (%.2f ms)\n", name, (double)p.rtt_us / 1000.0);
        return 0;
    }
    fprintf(out, "pang %s: %s\n", name, rc_reason_str(p.reason));
    return 1;
}

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
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "rollcall/log.h"
#include "rollcall/node.h"
#include "rollcall/peers.h"
#include "rollcall/registry.h"
#include "rollcall/text.h"
#include "rollcall/url.h"
#include "rollcall/worker.h"

/* A reject on stderr: the store's raw bytes escaped once (docs/logs.md). */
static void print_reject(const struct rc_reject *rj)
{
    char what[4 * RC_REJECT_WHAT_MAX + 8], why[4 * sizeof(rj->reason)];

    rc_text_escape_cut(rj->what, rj->whatlen, RC_TEXT_BARE, what, sizeof(what));
    rc_text_escape_cut(rj->reason, strlen(rj->reason), RC_TEXT_BARE, why, sizeof(why));
    fprintf(stderr, "rollcall: skipped registry entry %s%s: %s\n", what, rj->cut ? "..." : "", why);
}

static void resolve_entry(const struct rc_entry *e, char *ip, size_t iplen)
{
    const char *host = e->host, *at;

    if (host[0] == '\0') {
        at = strchr(e->name, '@');
        host = at != NULL ? at + 1 : "";
    }
    if (rc_resolve_host(host, ip, iplen) != 0)
        ip[0] = '\0';
}

/* One ping: the verdict goes into the peer table, the agent's own. */
struct cli_ping {
    const struct rc_entry *e;
    struct rc_peers *peers;
    size_t *outstanding;
    struct event_base *base;
};

static void cli_ping_done(void *arg, enum rc_reason r, uint64_t rtt_us)
{
    struct cli_ping *p = arg;
    struct rc_verdict v = {.ok = r == RC_REASON_OK, .reason = r, .rtt_us = rtt_us};

    rc_peers_record(p->peers, p->e->name, &v, NULL);
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

static int snap_cmp(const void *x, const void *y)
{
    const struct rc_snap_entry *a = x, *b = y;

    return strcmp(a->e.name, b->e.name);
}

/* The peer table of entries e[0..n) (their addresses resolved), every
 * member judged by one parallel sweep; returns when all have answered. */
static int ping_all(const struct rc_config *cfg, const uint8_t *cookie, size_t cookie_len,
                    const struct rc_entry *e, size_t n, struct rc_peers *t)
{
    char err[512] = "";
    char name[RC_NAME_MAX + 1];
    struct rc_snapshot snap = {0};
    struct rc_peer_changes ch = {0};
    struct cli_ping *ps = NULL;
    struct event_base *base = NULL;
    struct rc_node *node = NULL;
    struct rc_node_opts o;
    size_t outstanding = 0;
    int rc = -ENOMEM;

    rc_peers_init(t, cfg->stale_after_ms, cfg->prune_after_ms);
    if (n > 0) {
        snap.v = calloc(n, sizeof(*snap.v));
        ps = calloc(n, sizeof(*ps));
        if (snap.v == NULL || ps == NULL)
            goto out;
    }
    for (size_t i = 0; i < n; i++) {
        snap.v[snap.n].e = e[i];
        resolve_entry(&e[i], snap.v[snap.n].ip, sizeof(snap.v[snap.n].ip));
        snap.n++;
    }
    if (snap.n > 1)
        qsort(snap.v, snap.n, sizeof(*snap.v), snap_cmp);
    for (size_t i = 1; i < snap.n; i++) { /* a name listed twice is judged once */
        if (strcmp(snap.v[i - 1].e.name, snap.v[i].e.name) == 0) {
            memmove(&snap.v[i], &snap.v[i + 1], (snap.n - i - 1) * sizeof(*snap.v));
            snap.n--;
            i--;
        }
    }
    if (rc_peers_apply(t, &snap, &ch) != 0)
        goto out;
    cli_node_name(cfg, name, sizeof(name));
    base = event_base_new();
    if (base == NULL)
        goto out;
    o = (struct rc_node_opts){.name = name,
                              .cookie = cookie,
                              .cookie_len = cookie_len,
                              .listen = false,
                              .epmd = RC_EPMD_OFF,
                              .epmd_port = cfg->epmd_port,
                              .tls_cert = cfg->tls_cert[0] != '\0' ? cfg->tls_cert : NULL,
                              .tls_key = cfg->tls_key[0] != '\0' ? cfg->tls_key : NULL,
                              .tls_ca = cfg->tls_ca[0] != '\0' ? cfg->tls_ca : NULL};
    node = rc_node_new(base, &o, err, sizeof(err));
    if (node == NULL) {
        fprintf(stderr, "rollcall: %s\n", err);
        rc = -EINVAL;
        goto out;
    }
    rc_peers_sweep_begin(t);
    for (size_t i = 0; i < t->n; i++) {
        const struct rc_peer *peer = &t->v[i];
        struct cli_ping *p = &ps[i];
        struct rc_verdict v = {.ok = false};

        p->e = &peer->se.e;
        p->peers = t;
        p->outstanding = &outstanding;
        p->base = base;
        if (peer->se.ip[0] == '\0') {
            v.reason = RC_REASON_RESOLVE_FAILED;
            rc_peers_record(t, p->e->name, &v, NULL);
            continue;
        }
        outstanding++;
        if (rc_node_ping(node, p->e->name, peer->se.ip, p->e->port, cfg->ping_timeout_ms,
                         cli_ping_done, p, NULL) != 0) {
            /* no socket, no memory: our failure, not the peer's */
            outstanding--;
            v.reason = RC_REASON_LOCAL_ERROR;
            rc_peers_record(t, p->e->name, &v, NULL);
        }
    }
    if (outstanding != 0)
        event_base_dispatch(base);
    rc = 0;
out:
    rc_node_free(node);
    if (base != NULL)
        event_base_free(base);
    rc_peer_changes_free(&ch);
    free(snap.v);
    free(ps);
    return rc;
}

/* A file registry whose directory does not exist: the backend would make
 * it (an agent's first publish needs that) and list it empty, so that a
 * mistyped path would read as "0 of 0 members". A reader says so instead.
 * Writes the path to dir and returns true only when stat says ENOENT. */
static bool file_registry_missing(const char *url, char *dir, size_t dirlen)
{
    struct rc_url_parts u;
    char scheme[RC_URL_SCHEME_MAX];
    struct stat st;

    if (rc_url_scheme(url, scheme) == 0 || strcmp(scheme, "file") != 0 ||
        rc_url_split(url, &u) != 0 || u.path.len == 0 ||
        rc_url_decode_str(u.path.p, u.path.len, dir, dirlen) < 0)
        return false;
    return stat(dir, &st) != 0 && errno == ENOENT;
}

static int read_registry(const struct rc_config *cfg, struct rc_reg_list *ret)
{
    char err[512] = "";
    char masked[RC_URL_MAX], dir[PATH_MAX];
    struct rc_registry *reg = NULL;
    int r;

    if (file_registry_missing(cfg->registry, dir, sizeof(dir))) {
        fprintf(stderr,
                "rollcall: registry directory %s does not exist (check the registry URL; the "
                "CLI needs the agent's own -c to see its registry)\n",
                dir);
        return -ENOENT;
    }
    rc_registry_mask_url(cfg->registry, masked, sizeof(masked));
    r = rc_registry_open(cfg->registry, &reg, err, sizeof err);
    if (r == 0)
        r = rc_registry_list(reg, ret, err, sizeof err);
    rc_registry_close(reg);
    if (r != 0)
        fprintf(stderr, "rollcall: registry %s: %s\n", masked, err[0] != '\0' ? err : strerror(-r));
    return r;
}

static void print_member(FILE *out, bool json, bool first, const struct rc_entry *e,
                         const struct rc_peer *p)
{
    char age[32], rtt[32];
    bool alive = p != NULL && p->last.ok;
    const char *ip = p != NULL ? p->se.ip : "";
    enum rc_reason reason = p != NULL ? p->last.reason : RC_REASON_LOCAL_ERROR;

    /* Names and hosts are validated to a safe charset by the registry
     * layer, so they need no JSON escaping. */
    if (json) {
        fprintf(out,
                "%s\n  {\"node\": \"%s\", \"host\": \"%s\", \"port\": %u, \"age_ms\": %lld, "
                "\"alive\": %s, \"rtt_ms\": %.3f, \"reason\": \"%s\"}",
                first ? "" : ",", e->name, ip, e->port, (long long)e->age_ms,
                alive ? "true" : "false", alive ? (double)p->last.rtt_us / 1000.0 : 0.0,
                rc_reason_str(reason));
        return;
    }
    snprintf(age, sizeof(age), "%.1fs", (double)e->age_ms / 1000.0);
    if (alive)
        snprintf(rtt, sizeof(rtt), "%.2fms", (double)p->last.rtt_us / 1000.0);
    else
        snprintf(rtt, sizeof(rtt), "-");
    fprintf(out, "%-40s %-16s %-6u %-9s %-6s %-9s %s\n", e->name, ip[0] != '\0' ? ip : "?", e->port,
            age, alive ? "yes" : "no", rtt, rc_reason_str(reason));
}

int rc_cli_members(const struct rc_config *cfg, const uint8_t *cookie, size_t cookie_len, bool json,
                   FILE *out)
{
    struct rc_reg_list list = {0};
    struct rc_peers t;
    size_t alive = 0;
    int rc;

    if (read_registry(cfg, &list) != 0)
        return 2;
    for (size_t i = 0; i < list.nrejects; i++)
        print_reject(&list.rejects[i]);
    if (ping_all(cfg, cookie, cookie_len, list.entries, list.n, &t) != 0) {
        rc_peers_free(&t);
        rc_reg_list_free(&list);
        return 2;
    }
    if (json)
        fputs("[", out);
    else
        fprintf(out, "%-40s %-16s %-6s %-9s %-6s %-9s %s\n", "NODE", "HOST", "PORT", "AGE", "ALIVE",
                "RTT", "REASON");
    for (size_t i = 0; i < list.n; i++) {
        const struct rc_peer *p = rc_peers_find(&t, list.entries[i].name);

        if (p != NULL && p->last.ok)
            alive++;
        print_member(out, json, i == 0, &list.entries[i], p);
    }
    if (json)
        fputs(list.n != 0 ? "\n]\n" : "]\n", out);
    else
        fprintf(out, "%zu of %zu members answer\n", alive, list.n);
    rc = alive == list.n ? 0 : 1;
    rc_peers_free(&t);
    rc_reg_list_free(&list);
    return rc;
}

int rc_cli_ping(const struct rc_config *cfg, const uint8_t *cookie, size_t cookie_len,
                const char *target, FILE *out)
{
    const char *name = strcmp(target, "self") == 0 ? cfg->name : target;
    struct rc_reg_list list = {0};
    char err[512] = "", dir[PATH_MAX];
    struct rc_registry *reg = NULL;
    struct rc_entry e;
    struct rc_peers t;
    const struct rc_peer *p;
    int rc = 1;

    if (!rc_node_name_valid(name)) {
        fprintf(stderr, "rollcall: ping: '%s' is not a node name (name@host)\n", target);
        return 2;
    }
    memset(&e, 0, sizeof(e));
    snprintf(e.name, sizeof(e.name), "%s", name);
    /* The registry knows a port (and perhaps a host) when the node
     * publishes one; without it we ask the host's EPMD. A registry that
     * cannot be read is not fatal here. */
    if (!file_registry_missing(cfg->registry, dir, sizeof(dir)) &&
        rc_registry_open(cfg->registry, &reg, err, sizeof err) == 0 &&
        rc_registry_list(reg, &list, err, sizeof err) == 0) {
        for (size_t i = 0; i < list.n; i++)
            if (strcmp(list.entries[i].name, name) == 0)
                e = list.entries[i];
        rc_reg_list_free(&list);
    }
    rc_registry_close(reg);

    if (ping_all(cfg, cookie, cookie_len, &e, 1, &t) != 0) {
        rc_peers_free(&t);
        return 2;
    }
    p = rc_peers_find(&t, name);
    if (p != NULL && p->last.ok) {
        fprintf(out, "pong %s (%.2f ms)\n", name, (double)p->last.rtt_us / 1000.0);
        rc = 0;
    } else {
        fprintf(out, "pang %s: %s\n", name,
                rc_reason_str(p != NULL ? p->last.reason : RC_REASON_LOCAL_ERROR));
    }
    rc_peers_free(&t);
    return rc;
}

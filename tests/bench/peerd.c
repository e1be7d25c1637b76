/*
 * peerd.c - the benchmarks' multiplexed peers (tests/bench/bench.py, s1 and s5).
 *
 *   rollcall-bench-peerd --count N --out DIR --epmd-port P
 *                        [--first-index I] [--cookie-file F] [--log-level L]
 *                        [--tls-cert PEM --tls-key PEM --tls-ca PEM]
 *
 * Runs N rc_node instances on ONE libevent event_base in one process. Node i
 * (i = I .. I+N-1) is "p%03d@127.0.<i / 250>.<2 + i % 250>" (bench.py's
 * ip_of(0, i)), listens for distribution (rc_node binds the wildcard address,
 * as the agent does, so the node answers on its own loopback address), and
 * registers with the EPMD on 127.0.0.1:P ("system" mode, the bench's private
 * `epmd -port P`) so that the BEAM baseline finds it with net_adm:ping. The
 * nodes only answer pings and ticks, which rc_node does by itself.
 *
 * Why multiplexed: on a 2-core machine, 500 peer *processes* turn a sweep of
 * 500 parallel pings into a measurement of the kernel scheduling 500
 * processes (each write wakes one of them, which preempts the measured
 * agent). In a real deployment every peer is on a machine of its own; a
 * process answering many of them from one epoll loop keeps the measurement
 * about the agent. bench.py runs 4 of them (--first-index 0, 125, 250, 375):
 * a single one answers all 500 pings in series on one core, which on 2
 * cores added ~5 ms to a 500-peer sweep.
 *
 * Registry entries: every node's entry is published into DIR through the
 * project's own file backend (rc_registry_open("file://DIR") and its
 * publish, i.e. rc_entry_format and the agent's atomic write), exactly as an
 * agent with --registry file://DIR would write it: name, host = the node's
 * address, port = its distribution port, started_at. bench.py copies the
 * first n of them into each measured agent's registry directory.
 *
 * No heartbeat refresh, on purpose: the file backend ages an entry by its
 * file's mtime (not by its first line), and an agent prunes an entry only if
 * it is stale AND its pings have failed for prune_after (agent/sweep.c,
 * finish_sweep); peers that answer are never pruned, whatever their age. So
 * entries written once stay valid for as long as this process runs.
 *
 * Readiness: once every node is listening and its entry is written, peerd
 * asks the EPMD on each node's own address for the node's port (PORT_PLEASE2,
 * the lookup a BEAM node makes) until every answer is that node's
 * distribution port, and then prints one line "ready N" on stdout.
 *
 * The cookie: --cookie-file, else ROLLCALL_COOKIE, else Erlang's own lookup
 * (~/.erlang.cookie), with the agent's rules (rc_cookie_load). SIGTERM or
 * SIGINT: removes the entries, frees every node and exits 0. Bad arguments:
 * a usage on stderr, exit 2.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <event2/event.h>

#include "rollcall/config.h"
#include "rollcall/epmd.h"
#include "rollcall/log.h"
#include "rollcall/node.h"
#include "rollcall/registry.h"

#define PEERD_MAX 62500         /* ip_of() has 250 addresses per block, 250 blocks */
#define PEERD_CHECK_PARALLEL 16 /* EPMD lookups in flight while checking readiness */
#define PEERD_CHECK_RETRY_MS 100
/* How often each node's EPMD keeper re-checks (and retries) its registration.
 * The agent uses its interval; 500 nodes at 1 s would be 500 wake-ups a second. */
#define PEERD_EPMD_CHECK_MS 10000

struct check {
    struct peerd *d;
    size_t i;
    struct rc_epmd_lookup *lookup;
    bool ok;
};

struct peerd {
    struct event_base *base;
    struct rc_registry *reg;
    struct rc_node **nodes;
    char (*ips)[32]; /* "127.0.x.y" */
    size_t n;
    unsigned first;
    uint16_t epmd_port;
    /* readiness: one pass over the nodes not yet seen in EPMD, then another */
    struct check *checks;
    size_t cursor, inflight, verified;
    bool ready;
    struct event *ev_retry, *ev_term, *ev_int;
};

static void usage(FILE *out)
{
    fputs("usage: rollcall-bench-peerd --count N --out DIR --epmd-port P\n"
          "                            [--first-index I] [--cookie-file F] [--log-level L]\n"
          "                            [--tls-cert PEM --tls-key PEM --tls-ca PEM]\n"
          "\n"
          "Serves N rollcall nodes p<I>..p<I+N-1>@127.0.x.y from one process (the\n"
          "benchmarks' peers), registers them with the EPMD on port P, writes their\n"
          "registry entries into DIR and prints \"ready N\" once EPMD knows them all.\n"
          "Cookie: --cookie-file, else ROLLCALL_COOKIE, else ~/.erlang.cookie.\n"
          "Log level (stderr): error | warning (default) | info | debug.\n",
          out);
}

static bool parse_uint(const char *s, unsigned long max, unsigned long *ret)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (!*s || *end || errno || v > max || s[0] == '-')
        return false;
    *ret = v;
    return true;
}

static void check_next(struct peerd *d);

static void lookup_cb(void *arg, int result, uint16_t port)
{
    struct check *c = arg;
    struct peerd *d = c->d;
    c->lookup = NULL;
    d->inflight--;
    if (result == 0 && port == rc_node_port(d->nodes[c->i])) {
        c->ok = true;
        d->verified++;
    }
    check_next(d);
}

/* Keeps up to PEERD_CHECK_PARALLEL lookups going; at the end of a pass,
 * either announces readiness or starts another pass a little later. */
static void check_next(struct peerd *d)
{
    while (!d->ready && d->inflight < PEERD_CHECK_PARALLEL && d->cursor < d->n) {
        struct check *c = &d->checks[d->cursor++];
        if (c->ok)
            continue;
        struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(d->epmd_port)};
        inet_pton(AF_INET, d->ips[c->i], &sin.sin_addr);
        char alive[RC_NAME_MAX + 1];
        snprintf(alive, sizeof alive, "%s", rc_node_name(d->nodes[c->i]));
        *strchr(alive, '@') = '\0';
        c->lookup =
            rc_epmd_lookup_start(d->base, (struct sockaddr *)&sin, sizeof sin, alive, lookup_cb, c);
        if (c->lookup)
            d->inflight++;
    }
    if (d->ready || d->inflight > 0 || d->cursor < d->n)
        return;
    if (d->verified == d->n) {
        d->ready = true;
        printf("ready %zu\n", d->n);
        fflush(stdout);
        return;
    }
    d->cursor = 0;
    struct timeval tv = {0, PEERD_CHECK_RETRY_MS * 1000};
    event_add(d->ev_retry, &tv);
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
    check_next(arg);
}

static void stop_cb(evutil_socket_t fd, short what, void *arg)
{
    struct peerd *d = arg;
    event_base_loopbreak(d->base);
}

int main(int argc, char *argv[])
{
    static struct rc_config cfg; /* only the cookie fields are used */
    static struct peerd pd;
    struct peerd *d = &pd;
    unsigned long count = 0, first = 0, epmd_port = 0;
    const char *out = NULL;
    const char *tls_cert = NULL, *tls_key = NULL, *tls_ca = NULL;
    enum rc_log_level level = RC_LOG_WARN;
    char err[512], cookie[RC_COOKIE_MAX + 1], url[RC_URL_MAX];
    size_t cookie_len = 0;
    int rc = 1;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!v)
            goto bad_args;
        i++;
        if (!strcmp(a, "--count")) {
            if (!parse_uint(v, PEERD_MAX, &count) || count == 0)
                goto bad_args;
        } else if (!strcmp(a, "--first-index")) {
            if (!parse_uint(v, PEERD_MAX - 1, &first))
                goto bad_args;
        } else if (!strcmp(a, "--epmd-port")) {
            if (!parse_uint(v, 65535, &epmd_port) || epmd_port == 0)
                goto bad_args;
        } else if (!strcmp(a, "--out")) {
            out = v;
        } else if (!strcmp(a, "--cookie-file")) {
            snprintf(cfg.cookie_file, sizeof cfg.cookie_file, "%s", v);
        } else if (!strcmp(a, "--tls-cert")) { /* TLS distribution (docs/tls.md) */
            tls_cert = v;
        } else if (!strcmp(a, "--tls-key")) {
            tls_key = v;
        } else if (!strcmp(a, "--tls-ca")) {
            tls_ca = v;
        } else if (!strcmp(a, "--log-level")) {
            if (rc_log_level_parse(v, &level) != 0)
                goto bad_args;
        } else {
            goto bad_args;
        }
    }
    if (!count || !epmd_port || !out || out[0] != '/' || first + count > PEERD_MAX)
        goto bad_args;

    rc_log_set_level(level);
    rc_log_set_format(RC_LOG_FMT_TEXT);
    signal(SIGPIPE, SIG_IGN);
    rc_node_raise_fd_limit();
    if (!cfg.cookie_file[0] && getenv("ROLLCALL_COOKIE"))
        snprintf(cfg.cookie, sizeof cfg.cookie, "%s", getenv("ROLLCALL_COOKIE"));
    if (rc_cookie_load(&cfg, cookie, sizeof cookie, &cookie_len, err, sizeof err) != 0) {
        fprintf(stderr, "peerd: %s\n", err);
        return 2;
    }
    memset(cfg.cookie, 0, sizeof cfg.cookie);

    d->n = count;
    d->first = (unsigned)first;
    d->epmd_port = (uint16_t)epmd_port;
    d->base = event_base_new();
    d->nodes = calloc(count, sizeof *d->nodes);
    d->ips = calloc(count, sizeof *d->ips);
    d->checks = calloc(count, sizeof *d->checks);
    if (!d->base || !d->nodes || !d->ips || !d->checks) {
        fprintf(stderr, "peerd: out of memory\n");
        goto out;
    }
    d->ev_retry = evtimer_new(d->base, retry_cb, d);
    d->ev_term = evsignal_new(d->base, SIGTERM, stop_cb, d);
    d->ev_int = evsignal_new(d->base, SIGINT, stop_cb, d);
    if (!d->ev_retry || !d->ev_term || !d->ev_int) {
        fprintf(stderr, "peerd: out of memory\n");
        goto out;
    }
    event_add(d->ev_term, NULL);
    event_add(d->ev_int, NULL);

    snprintf(url, sizeof url, "file://%s", out);
    if (rc_registry_open(url, &d->reg, err, sizeof err) != 0) {
        fprintf(stderr, "peerd: %s\n", err);
        goto out;
    }

    int64_t started = rc_now_wall_ms();
    for (size_t k = 0; k < count; k++) {
        size_t i = first + k;
        char name[RC_NAME_MAX + 1];
        snprintf(d->ips[k], sizeof d->ips[k], "127.0.%u.%u", (unsigned)(i / 250),
                 (unsigned)(2 + i % 250));
        snprintf(name, sizeof name, "p%03zu@%s", i, d->ips[k]);
        struct rc_node_opts o = {
            .name = name,
            .cookie = (const uint8_t *)cookie,
            .cookie_len = cookie_len,
            .listen = true,
            .epmd = RC_EPMD_SYSTEM,
            .epmd_port = d->epmd_port,
            .epmd_check_ms = PEERD_EPMD_CHECK_MS,
            .tls_cert = tls_cert,
            .tls_key = tls_key,
            .tls_ca = tls_ca,
        };
        d->nodes[k] = rc_node_new(d->base, &o, err, sizeof err);
        if (!d->nodes[k]) {
            fprintf(stderr, "peerd: %s: %s\n", name, err);
            goto out;
        }
        /* The entry an agent with this name would publish (agent/sweep.c). */
        struct rc_entry e;
        memset(&e, 0, sizeof e);
        snprintf(e.name, sizeof e.name, "%s", name);
        snprintf(e.host, sizeof e.host, "%s", d->ips[k]);
        e.port = rc_node_port(d->nodes[k]);
        e.started_at_ms = started;
        if (rc_registry_publish(d->reg, &e, err, sizeof err) != 0) {
            fprintf(stderr, "peerd: %s: %s\n", name, err);
            goto out;
        }
        d->checks[k] = (struct check){.d = d, .i = k};
    }

    check_next(d);
    if (event_base_dispatch(d->base) < 0) {
        fprintf(stderr, "peerd: event loop failed\n");
        goto out;
    }
    rc = 0;

out:
    for (size_t k = 0; d->checks && k < count; k++)
        rc_epmd_lookup_cancel(d->checks[k].lookup);
    for (size_t k = 0; d->nodes && k < count && d->nodes[k]; k++) {
        /* Leave as an agent does: the entry first, then the connections. */
        if (d->reg)
            rc_registry_remove(d->reg, rc_node_name(d->nodes[k]), 0, err, sizeof err);
        rc_node_free(d->nodes[k]);
    }
    rc_registry_close(d->reg);
    struct event *evs[] = {d->ev_retry, d->ev_term, d->ev_int};
    for (size_t k = 0; k < sizeof evs / sizeof evs[0]; k++)
        if (evs[k])
            event_free(evs[k]);
    if (d->base)
        event_base_free(d->base);
    free(d->checks);
    free(d->ips);
    free(d->nodes);
    memset(cookie, 0, sizeof cookie);
    return rc;

bad_args:
    usage(stderr);
    return 2;
}

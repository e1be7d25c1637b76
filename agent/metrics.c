/*
 * metrics.c - the fixed set of rollcall_* series and their text rendering
 * (contract in metrics.h).
 */
#include "rollcall/metrics.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

/* 0.5 ms to 10 s: a ping on loopback is ~0.1 ms, a registry round trip
 * over a WAN tens of ms, a stuck one seconds. */
const double rc_metrics_buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                     0.1,    0.25,  0.5,    1,     2.5,  5,     10};
const size_t rc_metrics_nbuckets = sizeof rc_metrics_buckets / sizeof rc_metrics_buckets[0];
#define NB (sizeof rc_metrics_buckets / sizeof rc_metrics_buckets[0])

struct hist {
    uint64_t bucket[NB]; /* not cumulative; summed at render time */
    uint64_t count;
    double sum;
};

struct rc_metrics {
    pthread_mutex_t mu;
    struct hist sweep;
    struct hist regop[RC_REGOP_COUNT];
    uint64_t regerr[RC_REGOP_COUNT];
    uint64_t failures[RC_REASON_SLOTS];
    uint64_t changes[RC_CHANGE_COUNT];
    uint64_t hooks[4];
    uint64_t entries, rejected;
    bool registry_up, registry_known;
};

static const char *const regop_names[RC_REGOP_COUNT] = {"open", "publish", "list", "remove"};
static const char *const change_names[RC_CHANGE_COUNT] = {"peer_up", "peer_down", "peer_pruned",
                                                          "peer_left"};

struct rc_metrics *rc_metrics_new(void)
{
    struct rc_metrics *m = calloc(1, sizeof *m);
    if (m == NULL)
        return NULL;
    pthread_mutex_init(&m->mu, NULL);
    return m;
}

void rc_metrics_free(struct rc_metrics *m)
{
    if (m == NULL)
        return;
    pthread_mutex_destroy(&m->mu);
    free(m);
}

static void hist_add(struct hist *h, double v)
{
    size_t i;
    for (i = 0; i < NB; i++)
        if (v <= rc_metrics_buckets[i])
            break;
    if (i < NB)
        h->bucket[i]++;
    h->count++;
    h->sum += v;
}

void rc_metrics_sweep(struct rc_metrics *m, double seconds)
{
    if (m == NULL)
        return;
    pthread_mutex_lock(&m->mu);
    hist_add(&m->sweep, seconds);
    pthread_mutex_unlock(&m->mu);
}

void rc_metrics_regop(struct rc_metrics *m, enum rc_metric_regop op, double seconds, bool ok)
{
    if (m == NULL || (unsigned)op >= RC_REGOP_COUNT)
        return;
    pthread_mutex_lock(&m->mu);
    hist_add(&m->regop[op], seconds);
    if (!ok)
        m->regerr[op]++;
    pthread_mutex_unlock(&m->mu);
}

void rc_metrics_entries(struct rc_metrics *m, uint64_t listed, uint64_t rejected)
{
    if (m == NULL)
        return;
    pthread_mutex_lock(&m->mu);
    m->entries = listed;
    m->rejected = rejected;
    pthread_mutex_unlock(&m->mu);
}

void rc_metrics_ping_failed(struct rc_metrics *m, enum rc_reason why)
{
    if (m == NULL || (unsigned)why >= RC_REASON_SLOTS)
        return;
    pthread_mutex_lock(&m->mu);
    m->failures[why]++;
    pthread_mutex_unlock(&m->mu);
}

void rc_metrics_change(struct rc_metrics *m, enum rc_metric_change what)
{
    if (m == NULL || (unsigned)what >= RC_CHANGE_COUNT)
        return;
    pthread_mutex_lock(&m->mu);
    m->changes[what]++;
    pthread_mutex_unlock(&m->mu);
}

void rc_metrics_registry_up(struct rc_metrics *m, bool up)
{
    if (m == NULL)
        return;
    pthread_mutex_lock(&m->mu);
    m->registry_up = up;
    m->registry_known = true;
    pthread_mutex_unlock(&m->mu);
}

void rc_metrics_hook(struct rc_metrics *m, enum rc_metric_hook what, uint64_t n)
{
    if (m == NULL || (unsigned)what > RC_HOOK_COALESCED)
        return;
    pthread_mutex_lock(&m->mu);
    m->hooks[what] += n;
    pthread_mutex_unlock(&m->mu);
}

/* ---- rendering ---- */

struct out {
    struct evbuffer *b;
    bool failed;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct out *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (evbuffer_add_vprintf(o->b, fmt, ap) < 0)
        o->failed = true;
    va_end(ap);
}

/* A label value, escaped as the text format asks. */
static void put_label(struct out *o, const char *v)
{
    const char *p;
    for (p = v; *p != '\0'; p++) {
        const char *e = NULL;
        if (*p == '\\')
            e = "\\\\";
        else if (*p == '"')
            e = "\\\"";
        else if (*p == '\n')
            e = "\\n";
        if (e != NULL) {
            if (evbuffer_add(o->b, e, strlen(e)) != 0)
                o->failed = true;
        } else if (evbuffer_add(o->b, p, 1) != 0) {
            o->failed = true;
        }
    }
}

static void meta(struct out *o, const char *name, const char *type, const char *help)
{
    put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A double as the format wants it: shortest round-trip text. */
static void put_double(struct out *o, double v)
{
    char b[40];
    snprintf(b, sizeof b, "%.15g", v);
    if (strtod(b, NULL) != v)
        snprintf(b, sizeof b, "%.17g", v);
    put(o, "%s", b);
}

static void put_hist(struct out *o, const char *name, const char *label, const char *value,
                     const struct hist *h)
{
    uint64_t cum = 0;
    size_t i;
    for (i = 0; i < NB; i++) {
        cum += h->bucket[i];
        put(o, "%s_bucket{", name);
        if (label != NULL) {
            put(o, "%s=\"", label);
            put_label(o, value);
            put(o, "\",");
        }
        put(o, "le=\"%g\"} %llu\n", rc_metrics_buckets[i], (unsigned long long)cum);
    }
    put(o, "%s_bucket{", name);
    if (label != NULL) {
        put(o, "%s=\"", label);
        put_label(o, value);
        put(o, "\",");
    }
    put(o, "le=\"+Inf\"} %llu\n", (unsigned long long)h->count);
    if (label != NULL) {
        put(o, "%s_sum{%s=\"", name, label);
        put_label(o, value);
        put(o, "\"} ");
    } else {
        put(o, "%s_sum ", name);
    }
    put_double(o, h->sum);
    put(o, "\n");
    if (label != NULL) {
        put(o, "%s_count{%s=\"", name, label);
        put_label(o, value);
        put(o, "\"} %llu\n", (unsigned long long)h->count);
    } else {
        put(o, "%s_count %llu\n", name, (unsigned long long)h->count);
    }
}

int rc_metrics_render(struct rc_metrics *m, const struct rc_metrics_state *st, struct evbuffer *out)
{
    struct out o = {.b = out, .failed = false};
    struct rc_metrics c; /* a consistent copy, taken under the lock */
    size_t i, up = 0;

    pthread_mutex_lock(&m->mu);
    memcpy(&c, m, sizeof c);
    pthread_mutex_unlock(&m->mu);

    meta(&o, "rollcall_build_info", "gauge", "Always 1; the labels name the build.");
    put(&o, "rollcall_build_info{version=\"");
    put_label(&o, st->version != NULL ? st->version : "");
    put(&o, "\",node=\"");
    put_label(&o, st->self != NULL ? st->self : "");
    put(&o, "\"} 1\n");
    meta(&o, "rollcall_start_time_seconds", "gauge", "Unix time the agent started.");
    put(&o, "rollcall_start_time_seconds %lld\n", (long long)st->start_time_s);
    meta(&o, "rollcall_ready", "gauge", "1 when /readyz answers 200.");
    put(&o, "rollcall_ready %d\n", st->ready ? 1 : 0);

    meta(&o, "rollcall_sweeps_total", "counter", "Sweeps finished.");
    put(&o, "rollcall_sweeps_total %llu\n", (unsigned long long)st->sweeps);
    meta(&o, "rollcall_sweep_duration_seconds", "histogram",
         "Time from a sweep's start to its last verdict.");
    put_hist(&o, "rollcall_sweep_duration_seconds", NULL, NULL, &c.sweep);

    for (i = 0; i < st->npeers; i++)
        up += st->peers[i].up ? 1 : 0;
    meta(&o, "rollcall_peers", "gauge", "Members in the registry, self excluded.");
    put(&o, "rollcall_peers %zu\n", st->npeers);
    meta(&o, "rollcall_peers_up", "gauge", "Members that answered their last ping.");
    put(&o, "rollcall_peers_up %zu\n", up);
    meta(&o, "rollcall_peer_up", "gauge", "1 if the peer answered its last ping.");
    for (i = 0; i < st->npeers; i++) {
        put(&o, "rollcall_peer_up{node=\"");
        put_label(&o, st->peers[i].name);
        put(&o, "\"} %d\n", st->peers[i].up ? 1 : 0);
    }
    meta(&o, "rollcall_peer_rtt_seconds", "gauge", "The peer's last successful ping round trip.");
    for (i = 0; i < st->npeers; i++) {
        if (st->peers[i].rtt_s < 0)
            continue;
        put(&o, "rollcall_peer_rtt_seconds{node=\"");
        put_label(&o, st->peers[i].name);
        put(&o, "\"} ");
        put_double(&o, st->peers[i].rtt_s);
        put(&o, "\n");
    }
    meta(&o, "rollcall_ping_failures_total", "counter", "Failed pings by reason.");
    for (i = 1; i < RC_REASON_SLOTS && strcmp(rc_reason_str((enum rc_reason)i), "unknown") != 0;
         i++)
        put(&o, "rollcall_ping_failures_total{reason=\"%s\"} %llu\n",
            rc_reason_str((enum rc_reason)i), (unsigned long long)c.failures[i]);
    meta(&o, "rollcall_state_changes_total", "counter", "Peer state changes by event.");
    for (i = 0; i < RC_CHANGE_COUNT; i++)
        put(&o, "rollcall_state_changes_total{event=\"%s\"} %llu\n", change_names[i],
            (unsigned long long)c.changes[i]);

    meta(&o, "rollcall_registry_up", "gauge", "1 if the last registry round trip succeeded.");
    put(&o, "rollcall_registry_up %d\n", c.registry_known && c.registry_up ? 1 : 0);
    meta(&o, "rollcall_registry_operation_duration_seconds", "histogram",
         "Registry operations by op, successful or not.");
    for (i = 0; i < RC_REGOP_COUNT; i++)
        put_hist(&o, "rollcall_registry_operation_duration_seconds", "op", regop_names[i],
                 &c.regop[i]);
    meta(&o, "rollcall_registry_errors_total", "counter", "Failed registry operations by op.");
    for (i = 0; i < RC_REGOP_COUNT; i++)
        put(&o, "rollcall_registry_errors_total{op=\"%s\"} %llu\n", regop_names[i],
            (unsigned long long)c.regerr[i]);
    meta(&o, "rollcall_registry_entries_listed", "gauge", "Entries in the last registry list.");
    put(&o, "rollcall_registry_entries_listed %llu\n", (unsigned long long)c.entries);
    meta(&o, "rollcall_registry_entries_rejected", "gauge",
         "Entries of the last list skipped as invalid.");
    put(&o, "rollcall_registry_entries_rejected %llu\n", (unsigned long long)c.rejected);

    meta(&o, "rollcall_hook_runs_total", "counter", "Event hook processes started.");
    put(&o, "rollcall_hook_runs_total %llu\n", (unsigned long long)c.hooks[RC_HOOK_RUN]);
    meta(&o, "rollcall_hook_failures_total", "counter", "Event hooks that exited nonzero.");
    put(&o, "rollcall_hook_failures_total %llu\n", (unsigned long long)c.hooks[RC_HOOK_FAILED]);
    meta(&o, "rollcall_hook_timeouts_total", "counter", "Event hooks killed at hook_timeout.");
    put(&o, "rollcall_hook_timeouts_total %llu\n", (unsigned long long)c.hooks[RC_HOOK_KILLED]);
    meta(&o, "rollcall_hook_events_coalesced_total", "counter",
         "Events folded into a later one of the same node while the hooks were behind.");
    put(&o, "rollcall_hook_events_coalesced_total %llu\n",
        (unsigned long long)c.hooks[RC_HOOK_COALESCED]);

    meta(&o, "rollcall_http_requests_total", "counter", "HTTP requests answered.");
    put(&o, "rollcall_http_requests_total %llu\n", (unsigned long long)st->http_requests);
    meta(&o, "rollcall_http_bad_requests_total", "counter", "HTTP requests refused as malformed.");
    put(&o, "rollcall_http_bad_requests_total %llu\n", (unsigned long long)st->http_bad);
    meta(&o, "rollcall_http_refused_connections_total", "counter",
         "HTTP connections refused over the connection cap.");
    put(&o, "rollcall_http_refused_connections_total %llu\n", (unsigned long long)st->http_refused);
    return o.failed ? -ENOMEM : 0;
}

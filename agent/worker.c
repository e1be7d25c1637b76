/*
 * worker.c - the registry worker thread: publish, list, resolve, hand over.
 *
 * Why a thread and not async backends: libpq, hiredis and libcurl all have
 * blocking APIs that are simple and well tested; wrapping each in the loop
 * would triple the code. One thread doing the registry round trip once per
 * interval costs nothing, and the loop only ever touches a finished
 * snapshot under a mutex.
 *
 * What a round costs the store (issue 15, docs/registry.md "What the agent
 * asks of the store"): our entry is written when it changes (the first
 * round, after any reconnect) and otherwise every `heartbeat`; the registry
 * is listed in full at the first round, after a reconnect, every `resync`,
 * and when the backend's change signal (`changed`) says membership moved; a
 * backend without one is listed every interval, as before. A node the loop
 * meets before we list it (rc_worker_lookup: an inbound connection from a
 * name the table does not know) is read alone with `get`. Between lists the
 * loop still gets a snapshot every interval: the last view, each entry's
 * age advanced by the time since it was read, so staleness keeps counting
 * on the store's clock (a remove is conditional on the store's own age
 * anyway).
 */
#include "rollcall/worker.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rollcall/log.h"
#include "rollcall/metrics.h"

#define WARN_TABLE 256
#define WARN_EVERY_MS (10 * 60 * 1000)
#define LOOKUP_MAX 16 /* names queued for a single read; more wait for the next list */
#define LOOKUPS_PER_INTERVAL 16
/* An outage is logged when it starts, then again after 1 s, 2 s, 4 s, ...
 * at most every OUTAGE_LOG_MAX_MS, with how long and how many, and when it
 * ends: never silent while it lasts, never a line per round trip. */
#define OUTAGE_LOG_FIRST_MS 1000
#define OUTAGE_LOG_MAX_MS (60 * 1000)

struct prune_req {
    struct prune_req *next;
    char name[RC_NAME_MAX + 1];
    int64_t min_age_ms;
    int64_t age_ms; /* for the announcement */
};

struct warned {
    char what[160];
    uint64_t at_ms;
};

struct rc_worker {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool stop, remove_self;
    uint64_t interval_ms;
    char url[2048];
    struct rc_entry self;
    /* app mode (app.c): the app's entry, published beside ours while set;
     * a set or withdrawn one is written at a round that starts at once */
    struct rc_entry extra;          /* under mu */
    bool has_extra, extra_dirty;    /* under mu */
    bool kick;                      /* under mu: start a round now */
    char withdraw[RC_NAME_MAX + 1]; /* under mu; "" = nothing to remove */
    void (*notify)(void *);
    void *arg;
    struct rc_snapshot *ready;                 /* under mu */
    struct prune_req *prunes;                  /* under mu: asked for, newest first */
    struct prune_req *pruned;                  /* under mu: took, for the loop to announce */
    uint64_t heartbeat_ms;                     /* under mu; 0 = every interval */
    uint64_t resync_ms;                        /* under mu; 0 = every interval */
    char lookups[LOOKUP_MAX][RC_NAME_MAX + 1]; /* under mu */
    bool lookup_again[LOOKUP_MAX];             /* under mu: read even if in the view */
    size_t nlookups;                           /* under mu */
    struct rc_worker_status status;            /* under mu */
    struct rc_metrics *metrics;                /* may be NULL; thread-safe */
    uint64_t seq;
    /* thread-private */
    struct rc_registry *reg;
    bool outage;
    uint64_t outage_since_ms, outage_fails, outage_next_log_ms, outage_log_gap_ms;
    bool fresh;                 /* a new connection: publish and list now */
    bool published;             /* our entry written since fresh */
    uint64_t last_publish_ms;   /* monotonic */
    uint64_t last_list_ms;      /* monotonic */
    uint64_t version;           /* the backend's change token */
    struct rc_snapshot *view;   /* the last listed view (+ single reads) */
    uint64_t lookups_window_ms; /* rate limit of single reads */
    unsigned lookups_in_window;
    struct warned warned[WARN_TABLE];
    struct rc_ratelimit rl_rejects;
};

void rc_snapshot_free(struct rc_snapshot *s)
{
    if (s == NULL)
        return;
    free(s->v);
    free(s);
}

int rc_resolve_host(const char *host, char *out, size_t outlen)
{
    struct in_addr a4;
    struct in6_addr a6;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_family = AF_UNSPEC};
    struct addrinfo *res = NULL;
    const struct addrinfo *pick;
    const void *addr;
    int r;

    if (inet_pton(AF_INET, host, &a4) == 1 || inet_pton(AF_INET6, host, &a6) == 1) {
        snprintf(out, outlen, "%s", host);
        return 0;
    }
    if (getaddrinfo(host, NULL, &hints, &res) != 0 || res == NULL)
        return -ENOENT;
    pick = res;
    for (const struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        if (ai->ai_family == AF_INET) {
            pick = ai;
            break;
        }
    }
    addr = pick->ai_family == AF_INET
               ? (const void *)&((struct sockaddr_in *)pick->ai_addr)->sin_addr
               : (const void *)&((struct sockaddr_in6 *)pick->ai_addr)->sin6_addr;
    r = inet_ntop(pick->ai_family, addr, out, (socklen_t)outlen) != NULL ? 0 : -EINVAL;
    freeaddrinfo(res);
    return r;
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const struct rc_snap_entry *)a)->e.name,
                  ((const struct rc_snap_entry *)b)->e.name);
}

/* One rejected entry: warn about each `what` at most once per 10 minutes,
 * and at most 20 such lines per minute overall. */
static void warn_reject(struct rc_worker *w, const struct rc_reject *r)
{
    uint64_t now = rc_now_mono_ms();
    struct warned *slot = NULL, *oldest = &w->warned[0];
    uint32_t suppressed = 0;

    for (size_t i = 0; i < WARN_TABLE; i++) {
        struct warned *x = &w->warned[i];

        if (x->what[0] != '\0' && strcmp(x->what, r->what) == 0) {
            slot = x;
            break;
        }
        if (x->at_ms < oldest->at_ms)
            oldest = x;
    }
    if (slot != NULL && now - slot->at_ms < WARN_EVERY_MS)
        return;
    if (slot == NULL) {
        slot = oldest;
        snprintf(slot->what, sizeof(slot->what), "%s", r->what);
    }
    slot->at_ms = now;
    if (!rc_ratelimit_allow(&w->rl_rejects, now, 20, 60000, &suppressed))
        return;
    if (suppressed != 0)
        rc_log_warn("registry: %u more rejected entries not shown", suppressed);
    rc_log_warn("registry: skipping entry %s%s: %s", r->what, r->cut ? "..." : "", r->reason);
}

/* The loop learns of the registry's health from here (readiness,
 * registry_down / registry_up events). */
static void set_status(struct rc_worker *w, bool ok, const char *error, bool self_listed)
{
    bool changed;

    pthread_mutex_lock(&w->mu);
    changed = w->status.gen == 0 || w->status.ok != ok || w->status.self_listed != self_listed ||
              strncmp(w->status.error, error, sizeof(w->status.error) - 1) != 0;
    if (changed) {
        w->status.ok = ok;
        w->status.self_listed = self_listed;
        snprintf(w->status.error, sizeof(w->status.error), "%.255s", error);
        w->status.gen++;
    }
    pthread_mutex_unlock(&w->mu);
    if (changed && !ok)
        w->notify(w->arg); /* on success the hand-over's notify follows */
}

static void registry_failed(struct rc_worker *w, const char *step, int rc, const char *why)
{
    uint64_t now = rc_now_mono_ms();
    char line[640];

    snprintf(line, sizeof(line), "%s: %s", step,
             why[0] != '\0' ? why : (rc < 0 ? strerror(-rc) : "error"));
    if (!w->outage) {
        rc_log_error("registry unavailable (%s): %s (%s); pinging the last known members", step,
                     why[0] != '\0' ? why : "error", strerror(-rc));
        w->outage_since_ms = now;
        w->outage_fails = 0;
        w->outage_log_gap_ms = OUTAGE_LOG_FIRST_MS;
        w->outage_next_log_ms = now + OUTAGE_LOG_FIRST_MS;
    } else if (now >= w->outage_next_log_ms) {
        rc_log_error("registry still unavailable after %.1fs (%llu failed round trips; last: "
                     "%s: %s); pinging the last known members",
                     (double)(now - w->outage_since_ms) / 1000.0,
                     (unsigned long long)w->outage_fails + 1, step, why[0] != '\0' ? why : "error");
        w->outage_log_gap_ms *= 2;
        if (w->outage_log_gap_ms > OUTAGE_LOG_MAX_MS)
            w->outage_log_gap_ms = OUTAGE_LOG_MAX_MS;
        w->outage_next_log_ms = now + w->outage_log_gap_ms;
    } else {
        rc_log_debug("registry still unavailable (%s): %s", step, why);
    }
    w->outage_fails++;
    set_status(w, false, line, false);
    w->outage = true;
    /* After any error the backend starts from a clean connection. */
    rc_registry_close(w->reg);
    w->reg = NULL;
    w->fresh = true;
}

static void registry_ok(struct rc_worker *w)
{
    if (w->outage) {
        struct rc_log_field f[] = {
            RC_LF_D("outage_s", (double)(rc_now_mono_ms() - w->outage_since_ms) / 1000.0),
            RC_LF_I("failed_round_trips", (int64_t)w->outage_fails),
        };

        rc_log_event(RC_LOG_INFO, "registry available again", f, 2);
    }
    w->outage = false;
}

/* After a good round: healthy, and whether our own entry is in the view. */
static void registry_status_ok(struct rc_worker *w)
{
    bool self_listed = false;

    for (size_t i = 0; w->view != NULL && i < w->view->n; i++)
        if (strcmp(w->view->v[i].e.name, w->self.name) == 0)
            self_listed = true;
    set_status(w, true, "", self_listed);
}

/* App mode: the name of our app's entry, set or being withdrawn ("" =
 * none), into out. */
static void our_app(struct rc_worker *w, char out[RC_NAME_MAX + 1])
{
    pthread_mutex_lock(&w->mu);
    snprintf(out, RC_NAME_MAX + 1, "%s", w->has_extra ? w->extra.name : w->withdraw);
    pthread_mutex_unlock(&w->mu);
}

/* A listed or read entry, resolved, for the view; app is our_app()'s name
 * (our app is ours too, never a peer). */
static void snap_entry_init(struct rc_worker *w, struct rc_snap_entry *se, const struct rc_entry *e,
                            uint64_t now, const char *app)
{
    char from_name[RC_HOST_MAX + 1];
    const char *host;

    se->e = *e;
    se->self =
        strcmp(se->e.name, w->self.name) == 0 || (app[0] != '\0' && strcmp(se->e.name, app) == 0);
    se->read_at_ms = now;
    se->store_age_ms = e->age_ms;
    se->store_read_ms = now;
    host = se->e.host;
    if (host[0] == '\0') {
        const char *at = strchr(se->e.name, '@');
        snprintf(from_name, sizeof from_name, "%s", at != NULL ? at + 1 : "");
        host = from_name;
    }
    if (rc_resolve_host(host, se->ip, sizeof se->ip) != 0)
        se->ip[0] = '\0';
}

/* Hands the loop a copy of the view, each age advanced to now. */
static void hand_over(struct rc_worker *w)
{
    struct rc_snapshot *s;
    uint64_t now = rc_now_mono_ms();

    if (w->view == NULL)
        return;
    s = calloc(1, sizeof *s);
    if (s != NULL && w->view->n != 0)
        s->v = calloc(w->view->n, sizeof *s->v);
    if (s == NULL || (w->view->n != 0 && s->v == NULL)) {
        rc_snapshot_free(s);
        return;
    }
    for (size_t i = 0; i < w->view->n; i++) {
        s->v[i] = w->view->v[i];
        s->v[i].e.age_ms += (int64_t)(now - s->v[i].read_at_ms);
        s->v[i].read_at_ms = now;
    }
    s->n = w->view->n;
    pthread_mutex_lock(&w->mu);
    s->seq = ++w->seq;
    rc_snapshot_free(w->ready);
    w->ready = s;
    pthread_mutex_unlock(&w->mu);
    w->notify(w->arg);
}

/* Puts one entry read alone into the view (replacing one of that name). */
static void view_upsert(struct rc_worker *w, const struct rc_entry *e)
{
    struct rc_snap_entry *v;
    uint64_t now = rc_now_mono_ms();
    char app[RC_NAME_MAX + 1];

    our_app(w, app);
    for (size_t i = 0; i < w->view->n; i++)
        if (strcmp(w->view->v[i].e.name, e->name) == 0) {
            snap_entry_init(w, &w->view->v[i], e, now, app);
            return;
        }
    v = realloc(w->view->v, (w->view->n + 1) * sizeof *v);
    if (v == NULL)
        return;
    w->view->v = v;
    snap_entry_init(w, &w->view->v[w->view->n], e, now, app);
    w->view->n++;
    qsort(w->view->v, w->view->n, sizeof *v, cmp_entry);
}

static bool in_view(const struct rc_worker *w, const char *name)
{
    if (w->view == NULL)
        return false;
    for (size_t i = 0; i < w->view->n; i++)
        if (strcmp(w->view->v[i].e.name, name) == 0)
            return true;
    return false;
}

/* The names the loop asked about, read one by one (rate-limited). Returns
 * true when the view changed; sets *want_list when the backend cannot read
 * a single entry. */
static bool do_lookups(struct rc_worker *w, uint64_t interval_ms, bool *want_list)
{
    char names[LOOKUP_MAX][RC_NAME_MAX + 1];
    bool again[LOOKUP_MAX];
    size_t n;
    bool changed = false;
    uint64_t now = rc_now_mono_ms();

    pthread_mutex_lock(&w->mu);
    n = w->nlookups;
    memcpy(names, w->lookups, n * sizeof names[0]);
    memcpy(again, w->lookup_again, n * sizeof again[0]);
    w->nlookups = 0;
    pthread_mutex_unlock(&w->mu);
    if (now - w->lookups_window_ms >= interval_ms) {
        w->lookups_window_ms = now;
        w->lookups_in_window = 0;
    }
    for (size_t i = 0; i < n && w->reg != NULL; i++) {
        struct rc_entry e;
        char err[512] = "";
        int r;

        if (!again[i] && in_view(w, names[i]))
            continue;
        if (w->lookups_in_window >= LOOKUPS_PER_INTERVAL)
            break; /* the rest waits for the next change or resync */
        w->lookups_in_window++;
        memset(&e, 0, sizeof e);
        r = rc_registry_get(w->reg, names[i], &e, err, sizeof err);
        if (r == -ENOTSUP) {
            *want_list = true;
            break;
        }
        if (r == 0) {
            view_upsert(w, &e);
            changed = true;
            rc_log_debug("registry: read %s alone (it reached us first)", names[i]);
        } else if (r == -ENOENT || r == -EBADMSG || r == -EINVAL) {
            rc_log_debug("registry: %s reached us but has no usable entry: %s", names[i],
                         err[0] != '\0' ? err : strerror(-r));
        } else {
            registry_failed(w, "get", r, err);
        }
    }
    return changed;
}

/* Returns how many removes were asked for: the round then lists, so the
 * view holds the store's own ages again (an entry refreshed since our last
 * list stays, the remove being conditional on the store's age). A remove
 * that took is queued for the loop to announce (rc_worker_take_pruned). */
static size_t do_prunes(struct rc_worker *w)
{
    struct prune_req *list, *p;
    char err[256];
    size_t n = 0;

    pthread_mutex_lock(&w->mu);
    list = w->prunes;
    w->prunes = NULL;
    pthread_mutex_unlock(&w->mu);
    while (list != NULL) {
        int r = -ENOTCONN;

        p = list;
        list = p->next;
        err[0] = '\0';
        if (w->reg != NULL) {
            uint64_t t = rc_now_mono_us();

            r = rc_registry_remove(w->reg, p->name, p->min_age_ms, err, sizeof err);
            rc_metrics_regop(w->metrics, RC_REGOP_REMOVE, (double)(rc_now_mono_us() - t) / 1e6,
                             r >= 0);
            if (r < 0)
                rc_log_warn("registry: could not prune %s: %s", p->name, err);
            n++;
        }
        if (r == 1) {
            pthread_mutex_lock(&w->mu);
            p->next = w->pruned;
            w->pruned = p;
            pthread_mutex_unlock(&w->mu);
        } else {
            free(p);
        }
    }
    return n;
}

/* App mode: removes a withdrawn app entry, writes a set one when it is new
 * or changed, or when our own heartbeat is written (heartbeat_due). */
static int publish_extra(struct rc_worker *w, bool heartbeat_due, char *err, size_t errlen)
{
    struct rc_entry e;
    char gone[RC_NAME_MAX + 1];
    bool has, dirty;
    int r;

    pthread_mutex_lock(&w->mu);
    has = w->has_extra;
    dirty = w->extra_dirty;
    e = w->extra;
    snprintf(gone, sizeof gone, "%s", w->withdraw);
    pthread_mutex_unlock(&w->mu);
    if (gone[0] != '\0') {
        r = rc_registry_remove(w->reg, gone, 0, err, errlen);
        if (r < 0) {
            registry_failed(w, "remove", r, err);
            return r;
        }
        rc_log_info("removed %s from the registry", gone);
        pthread_mutex_lock(&w->mu);
        if (strcmp(w->withdraw, gone) == 0)
            w->withdraw[0] = '\0';
        pthread_mutex_unlock(&w->mu);
    }
    if (has && (dirty || heartbeat_due)) {
        e.updated_at_ms = rc_now_wall_ms();
        r = rc_registry_publish(w->reg, &e, err, errlen);
        if (r != 0) {
            registry_failed(w, "publish", r, err);
            return r;
        }
        pthread_mutex_lock(&w->mu);
        if (w->has_extra && strcmp(w->extra.name, e.name) == 0)
            w->extra_dirty = false;
        pthread_mutex_unlock(&w->mu);
    }
    return 0;
}

static void round_trip(struct rc_worker *w, uint64_t interval_ms)
{
    char err[512] = "", app[RC_NAME_MAX + 1];
    struct rc_reg_list list = {0};
    struct rc_snapshot *s;
    uint64_t now, heartbeat_ms, resync_ms, t0, t1;
    bool want_list, heartbeat_due;
    size_t pruned;
    int r;

    if (w->reg == NULL) {
        t0 = rc_now_mono_us();
        r = rc_registry_open(w->url, &w->reg, err, sizeof err);
        rc_metrics_regop(w->metrics, RC_REGOP_OPEN, (double)(rc_now_mono_us() - t0) / 1e6, r == 0);
        if (r != 0) {
            registry_failed(w, "open", r, err);
            return;
        }
        w->fresh = true;
    }
    pruned = do_prunes(w);
    pthread_mutex_lock(&w->mu);
    heartbeat_ms = w->heartbeat_ms;
    resync_ms = w->resync_ms;
    pthread_mutex_unlock(&w->mu);
    now = rc_now_mono_ms();
    heartbeat_due =
        w->fresh || !w->published || now - w->last_publish_ms + interval_ms / 2 >= heartbeat_ms;
    if (heartbeat_due) {
        w->self.updated_at_ms = rc_now_wall_ms();
        t0 = rc_now_mono_us();
        r = rc_registry_publish(w->reg, &w->self, err, sizeof err);
        rc_metrics_regop(w->metrics, RC_REGOP_PUBLISH, (double)(rc_now_mono_us() - t0) / 1e6,
                         r == 0);
        if (r != 0) {
            registry_failed(w, "publish", r, err);
            return;
        }
        w->published = true;
        w->last_publish_ms = now;
    }
    if (publish_extra(w, heartbeat_due, err, sizeof err) != 0)
        return;

    want_list = w->fresh || w->view == NULL || resync_ms == 0 || pruned != 0 ||
                now - w->last_list_ms + interval_ms / 2 >= resync_ms;
    if (!want_list) {
        r = rc_registry_changed(w->reg, &w->version, err, sizeof err);
        if (r == -ENOTSUP || r > 0) {
            want_list = true;
        } else if (r < 0) {
            registry_failed(w, "change check", r, err);
            return;
        }
    } else if (w->reg->ops->changed != NULL) {
        /* Take the token before listing: a change after it fires next time. */
        r = rc_registry_changed(w->reg, &w->version, err, sizeof err);
        if (r < 0) {
            registry_failed(w, "change check", r, err);
            return;
        }
    }
    if (!want_list) {
        (void)do_lookups(w, interval_ms, &want_list); /* the view goes out below */
        if (w->reg == NULL)
            return;
        if (!want_list) {
            registry_ok(w);
            registry_status_ok(w);
            hand_over(w);
            return;
        }
    }

    t1 = rc_now_mono_us();
    r = rc_registry_list(w->reg, &list, err, sizeof err); /* logs registry_round */
    rc_metrics_regop(w->metrics, RC_REGOP_LIST, (double)(rc_now_mono_us() - t1) / 1e6, r == 0);
    if (r != 0) {
        registry_failed(w, "list", r, err);
        return;
    }
    w->fresh = false;
    w->last_list_ms = now;
    registry_ok(w);
    for (size_t i = 0; i < list.nrejects; i++)
        warn_reject(w, &list.rejects[i]);
    rc_metrics_entries(w->metrics, list.n, list.nrejects);

    s = calloc(1, sizeof *s);
    if (s != NULL && list.n != 0)
        s->v = calloc(list.n, sizeof *s->v);
    if (s == NULL || (list.n != 0 && s->v == NULL)) {
        rc_snapshot_free(s);
        rc_reg_list_free(&list);
        return;
    }
    our_app(w, app);
    for (size_t i = 0; i < list.n; i++)
        snap_entry_init(w, &s->v[s->n++], &list.entries[i], now, app);
    rc_reg_list_free(&list);
    if (s->n > 1)
        qsort(s->v, s->n, sizeof *s->v, cmp_entry);
    rc_snapshot_free(w->view);
    w->view = s;
    /* Names queued meanwhile are in this list or will be in the next. */
    pthread_mutex_lock(&w->mu);
    w->nlookups = 0;
    pthread_mutex_unlock(&w->mu);
    registry_status_ok(w);
    hand_over(w);
}

/* Only the names the loop asked about (between intervals). */
static void lookup_round(struct rc_worker *w, uint64_t interval_ms)
{
    bool want_list = false;

    if (w->reg == NULL || w->fresh)
        return; /* the next round lists anyway */
    if (do_lookups(w, interval_ms, &want_list))
        hand_over(w);
    if (want_list)
        w->last_list_ms = 0; /* no single reads here: list at the next round */
}

/* Sleeps, under w->mu, until due on the monotonic clock or until stopped,
 * woken (a new interval), kicked (app mode: an entry to write or withdraw
 * now) or given names to read. */
static void sleep_until(struct rc_worker *w, uint64_t due)
{
    struct timespec ts;
    uint64_t now, wait;

    while (!w->stop && w->nlookups == 0) {
        now = rc_now_mono_ms();
        if (now >= due || w->kick)
            break;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        wait = due - now;
        ts.tv_sec += (time_t)(wait / 1000);
        ts.tv_nsec += (long)(wait % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&w->cond, &w->mu, &ts);
    }
}

/* Our entry, and our app's (extra, "" = none) first. */
static void remove_self_entry(struct rc_worker *w, const char *extra)
{
    char err[512] = "";

    if (w->reg == NULL && rc_registry_open(w->url, &w->reg, err, sizeof(err)) != 0)
        rc_log_warn("registry: could not remove our entry on shutdown: %s", err);
    if (w->reg != NULL && extra[0] != '\0') {
        if (rc_registry_remove(w->reg, extra, 0, err, sizeof err) < 0)
            rc_log_warn("registry: could not remove %s on shutdown: %s", extra, err);
        else
            rc_log_info("removed %s from the registry", extra);
    }
    if (w->reg != NULL) {
        int r = rc_registry_remove(w->reg, w->self.name, 0, err, sizeof err);
        if (r < 0)
            rc_log_warn("registry: could not remove our entry on shutdown: %s", err);
        else
            rc_log_info("removed %s from the registry", w->self.name);
    }
}

static void *worker_main(void *arg)
{
    struct rc_worker *w = arg;
    uint64_t started;
    bool remove_self;
    char extra[RC_NAME_MAX + 1];

    pthread_mutex_lock(&w->mu);
    while (!w->stop) {
        w->kick = false;
        pthread_mutex_unlock(&w->mu);
        started = rc_now_mono_ms();
        round_trip(w, w->interval_ms);
        pthread_mutex_lock(&w->mu);
        /* Sleep the rest of the interval on the monotonic clock, waking for
         * names to read alone. */
        for (;;) {
            uint64_t interval_ms;

            sleep_until(w, started + w->interval_ms);
            if (w->stop || w->kick || w->nlookups == 0)
                break;
            interval_ms = w->interval_ms;
            pthread_mutex_unlock(&w->mu);
            lookup_round(w, interval_ms);
            pthread_mutex_lock(&w->mu);
        }
    }
    remove_self = w->remove_self;
    snprintf(extra, sizeof extra, "%s", w->has_extra ? w->extra.name : w->withdraw);
    pthread_mutex_unlock(&w->mu);

    if (remove_self)
        remove_self_entry(w, extra);
    rc_registry_close(w->reg);
    w->reg = NULL;
    rc_snapshot_free(w->view);
    w->view = NULL;
    return NULL;
}

struct rc_worker *rc_worker_start(const char *registry_url, const struct rc_entry *self,
                                  uint64_t interval_ms, void (*notify)(void *), void *arg,
                                  struct rc_metrics *metrics, char *err, size_t errlen)
{
    struct rc_worker *w;
    pthread_condattr_t ca;
    int r;

    if (rc_registry_load(registry_url, err, errlen) == NULL)
        return NULL;
    w = calloc(1, sizeof(*w));
    if (w == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    snprintf(w->url, sizeof(w->url), "%s", registry_url);
    w->self = *self;
    w->interval_ms = interval_ms;
    w->fresh = true;
    w->notify = notify;
    w->arg = arg;
    w->metrics = metrics;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cond, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&w->mu, NULL);
    r = pthread_create(&w->thread, NULL, worker_main, w);
    if (r != 0) {
        snprintf(err, errlen, "cannot start the registry thread: %s", strerror(r));
        pthread_cond_destroy(&w->cond);
        pthread_mutex_destroy(&w->mu);
        free(w);
        return NULL;
    }
    return w;
}

struct rc_snapshot *rc_worker_take(struct rc_worker *w)
{
    struct rc_snapshot *s;

    pthread_mutex_lock(&w->mu);
    s = w->ready;
    w->ready = NULL;
    pthread_mutex_unlock(&w->mu);
    return s;
}

void rc_worker_prune(struct rc_worker *w, const char *name, int64_t min_age_ms, int64_t age_ms)
{
    struct prune_req *p = calloc(1, sizeof(*p));

    if (p == NULL)
        return;
    snprintf(p->name, sizeof(p->name), "%s", name);
    p->min_age_ms = min_age_ms;
    p->age_ms = age_ms;
    pthread_mutex_lock(&w->mu);
    p->next = w->prunes;
    w->prunes = p;
    pthread_mutex_unlock(&w->mu);
}

size_t rc_worker_take_pruned(struct rc_worker *w, struct rc_pruned *out, size_t max)
{
    size_t n = 0;

    pthread_mutex_lock(&w->mu);
    while (n < max && w->pruned != NULL) {
        struct prune_req *p = w->pruned;

        w->pruned = p->next;
        snprintf(out[n].name, sizeof out[n].name, "%s", p->name);
        out[n].age_ms = p->age_ms;
        n++;
        free(p);
    }
    pthread_mutex_unlock(&w->mu);
    return n;
}

void rc_worker_set_interval(struct rc_worker *w, uint64_t interval_ms)
{
    pthread_mutex_lock(&w->mu);
    w->interval_ms = interval_ms;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->mu);
}

void rc_worker_set_store_timing(struct rc_worker *w, uint64_t heartbeat_ms, uint64_t resync_ms)
{
    pthread_mutex_lock(&w->mu);
    w->heartbeat_ms = heartbeat_ms;
    w->resync_ms = resync_ms;
    pthread_mutex_unlock(&w->mu);
}

static void queue_lookup(struct rc_worker *w, const char *name, bool again)
{
    if (w == NULL || name == NULL || !rc_node_name_valid(name))
        return;
    pthread_mutex_lock(&w->mu);
    for (size_t i = 0; i < w->nlookups; i++)
        if (strcmp(w->lookups[i], name) == 0) {
            w->lookup_again[i] = w->lookup_again[i] || again;
            pthread_mutex_unlock(&w->mu);
            return;
        }
    if (w->nlookups < LOOKUP_MAX) {
        w->lookup_again[w->nlookups] = again;
        snprintf(w->lookups[w->nlookups++], sizeof w->lookups[0], "%s", name);
        pthread_cond_signal(&w->cond);
    }
    pthread_mutex_unlock(&w->mu);
}

void rc_worker_lookup(struct rc_worker *w, const char *name)
{
    queue_lookup(w, name, false);
}

void rc_worker_recheck(struct rc_worker *w, const char *name)
{
    queue_lookup(w, name, true);
}

uint64_t rc_worker_default_heartbeat(uint64_t stale_after_ms)
{
    return stale_after_ms / 2;
}

static void prune_reqs_free(struct prune_req *p)
{
    while (p != NULL) {
        struct prune_req *next = p->next;

        free(p);
        p = next;
    }
}

void rc_worker_stop(struct rc_worker *w, bool remove_self)
{
    if (w == NULL)
        return;
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    w->remove_self = remove_self;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    rc_snapshot_free(w->ready);
    prune_reqs_free(w->prunes);
    prune_reqs_free(w->pruned);
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

void rc_worker_set_extra(struct rc_worker *w, const struct rc_entry *e)
{
    bool same;

    pthread_mutex_lock(&w->mu);
    same = w->has_extra && strcmp(w->extra.name, e->name) == 0 &&
           strcmp(w->extra.host, e->host) == 0 && w->extra.port == e->port &&
           w->extra.kind == e->kind && w->extra.started_at_ms == e->started_at_ms;
    w->extra = *e;
    w->has_extra = true;
    if (strcmp(w->withdraw, e->name) == 0)
        w->withdraw[0] = '\0';
    if (!same) { /* new or changed: written at once, else with our heartbeat */
        w->extra_dirty = true;
        w->kick = true;
        pthread_cond_signal(&w->cond);
    }
    pthread_mutex_unlock(&w->mu);
}

void rc_worker_withdraw(struct rc_worker *w, const char *name)
{
    pthread_mutex_lock(&w->mu);
    if (w->has_extra && strcmp(w->extra.name, name) == 0)
        w->has_extra = false;
    snprintf(w->withdraw, sizeof w->withdraw, "%s", name);
    w->kick = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->mu);
}

int rc_worker_status(struct rc_worker *w, struct rc_worker_status *out)
{
    pthread_mutex_lock(&w->mu);
    *out = w->status;
    pthread_mutex_unlock(&w->mu);
    return out->gen != 0 ? 0 : -EAGAIN;
}

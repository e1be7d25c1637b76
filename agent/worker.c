/*
 * worker.c - the registry worker thread: publish, list, resolve, hand over.
 *
 * Why a thread and not async backends: libpq, hiredis and libcurl all have
 * blocking APIs that are simple and well tested; wrapping each in the loop
 * would triple the code. One thread doing the registry round trip once per
 * interval costs nothing, and the loop only ever touches a finished
 * snapshot under a mutex.
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

#define WARN_TABLE 256
#define WARN_EVERY_MS (10 * 60 * 1000)

struct prune_req {
    struct prune_req *next;
    char name[RC_NAME_MAX + 1];
    int64_t min_age_ms;
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
    void (*notify)(void *);
    void *arg;
    struct rc_snapshot *ready; /* under mu */
    struct prune_req *prunes;  /* under mu */
    uint64_t seq;
    /* thread-private */
    struct rc_registry *reg;
    bool outage;
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

static void registry_failed(struct rc_worker *w, const char *step, int rc, const char *why)
{
    if (!w->outage)
        rc_log_error("registry unavailable (%s): %s (%s); pinging the last known members", step,
                     why[0] != '\0' ? why : "error", strerror(-rc));
    else
        rc_log_debug("registry still unavailable (%s): %s", step, why);
    w->outage = true;
    /* After any error the backend starts from a clean connection. */
    rc_registry_close(w->reg);
    w->reg = NULL;
}

static void do_prunes(struct rc_worker *w)
{
    struct prune_req *list, *p;
    char err[256];

    pthread_mutex_lock(&w->mu);
    list = w->prunes;
    w->prunes = NULL;
    pthread_mutex_unlock(&w->mu);
    while (list != NULL) {
        p = list;
        list = p->next;
        err[0] = '\0';
        if (w->reg != NULL) {
            int r = rc_registry_remove(w->reg, p->name, p->min_age_ms, err, sizeof err);
            if (r != 0)
                rc_log_warn("registry: could not prune %s: %s", p->name, err);
        }
        free(p);
    }
}

/* A snapshot of list (its addresses resolved, sorted by name), or NULL. */
static struct rc_snapshot *snapshot_of(struct rc_worker *w, const struct rc_reg_list *list)
{
    struct rc_snapshot *s = calloc(1, sizeof(*s));
    char from_name[RC_HOST_MAX + 1];

    if (s != NULL && list->n != 0)
        s->v = calloc(list->n, sizeof(*s->v));
    if (s == NULL || (list->n != 0 && s->v == NULL)) {
        rc_snapshot_free(s);
        return NULL;
    }
    for (size_t i = 0; i < list->n; i++) {
        struct rc_snap_entry *se = &s->v[s->n];
        const char *host, *at;

        se->e = list->entries[i];
        se->self = strcmp(se->e.name, w->self.name) == 0;
        host = se->e.host;
        if (host[0] == '\0') {
            at = strchr(se->e.name, '@');
            snprintf(from_name, sizeof(from_name), "%s", at != NULL ? at + 1 : "");
            host = from_name;
        }
        if (rc_resolve_host(host, se->ip, sizeof(se->ip)) != 0)
            se->ip[0] = '\0';
        s->n++;
    }
    qsort(s->v, s->n, sizeof(*s->v), cmp_entry);
    return s;
}

static void round_trip(struct rc_worker *w)
{
    char err[512] = "";
    struct rc_reg_list list = {0};
    struct rc_snapshot *s;
    int r;

    if (w->reg == NULL) {
        r = rc_registry_open(w->url, &w->reg, err, sizeof(err));
        if (r != 0) {
            registry_failed(w, "open", r, err);
            return;
        }
    }
    do_prunes(w);
    w->self.updated_at_ms = rc_now_wall_ms();
    r = rc_registry_publish(w->reg, &w->self, err, sizeof err);
    if (r != 0) {
        registry_failed(w, "publish", r, err);
        return;
    }
    r = rc_registry_list(w->reg, &list, err, sizeof err); /* logs registry_round */
    if (r != 0) {
        registry_failed(w, "list", r, err);
        return;
    }
    if (w->outage)
        rc_log_info("registry available again");
    w->outage = false;
    for (size_t i = 0; i < list.nrejects; i++)
        warn_reject(w, &list.rejects[i]);

    s = snapshot_of(w, &list);
    rc_reg_list_free(&list);
    if (s == NULL)
        return;
    pthread_mutex_lock(&w->mu);
    s->seq = ++w->seq;
    rc_snapshot_free(w->ready);
    w->ready = s;
    pthread_mutex_unlock(&w->mu);
    w->notify(w->arg);
}

/* Sleeps, under w->mu, until due on the monotonic clock or until stopped
 * or woken (a new interval). */
static void sleep_until(struct rc_worker *w, uint64_t due)
{
    struct timespec ts;
    uint64_t now, wait;

    while (!w->stop) {
        now = rc_now_mono_ms();
        if (now >= due)
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

static void remove_self_entry(struct rc_worker *w)
{
    char err[512] = "";

    if (w->reg == NULL && rc_registry_open(w->url, &w->reg, err, sizeof(err)) != 0)
        rc_log_warn("registry: could not remove our entry on shutdown: %s", err);
    if (w->reg != NULL) {
        int r = rc_registry_remove(w->reg, w->self.name, 0, err, sizeof err);
        if (r != 0)
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

    pthread_mutex_lock(&w->mu);
    while (!w->stop) {
        pthread_mutex_unlock(&w->mu);
        started = rc_now_mono_ms();
        round_trip(w);
        pthread_mutex_lock(&w->mu);
        /* Sleep the rest of the interval on the monotonic clock. */
        sleep_until(w, started + w->interval_ms);
    }
    remove_self = w->remove_self;
    pthread_mutex_unlock(&w->mu);

    if (remove_self)
        remove_self_entry(w);
    rc_registry_close(w->reg);
    w->reg = NULL;
    return NULL;
}

struct rc_worker *rc_worker_start(const char *registry_url, const struct rc_entry *self,
                                  uint64_t interval_ms, void (*notify)(void *), void *arg,
                                  char *err, size_t errlen)
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
    w->notify = notify;
    w->arg = arg;
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

void rc_worker_prune(struct rc_worker *w, const char *name, int64_t min_age_ms)
{
    struct prune_req *p = calloc(1, sizeof(*p));

    if (p == NULL)
        return;
    snprintf(p->name, sizeof(p->name), "%s", name);
    p->min_age_ms = min_age_ms;
    pthread_mutex_lock(&w->mu);
    p->next = w->prunes;
    w->prunes = p;
    pthread_mutex_unlock(&w->mu);
}

void rc_worker_set_interval(struct rc_worker *w, uint64_t interval_ms)
{
    pthread_mutex_lock(&w->mu);
    w->interval_ms = interval_ms;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->mu);
}

void rc_worker_stop(struct rc_worker *w, bool remove_self)
{
    struct prune_req *p;

    if (w == NULL)
        return;
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    w->remove_self = remove_self;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    rc_snapshot_free(w->ready);
    while (w->prunes != NULL) {
        p = w->prunes;
        w->prunes = p->next;
        free(p);
    }
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

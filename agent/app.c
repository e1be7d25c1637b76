/*
 * app.c - app mode: watch the app, publish it while it answers, ask it to
 * connect to live peer apps (include/rollcall/app.h, docs/app.md).
 *
 * Shape: one watch timer (a ping of the app per tick), one peer table
 * rebuilt from each sweep (back-off state carried over by name), one nodes()
 * call at a time, and a list of connect/disconnect requests in flight. Every
 * request is a rex call (rpc.c) bounded by ping_timeout; its result is
 * logged once. The table's `up` follows the sweep's state changes as they
 * happen, so a peer that dies between a sweep and a request is not asked
 * for.
 */
#include "rollcall/app.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "rollcall/log.h"
#include "rollcall/node.h"
#include "rollcall/rpc.h"
#include "rollcall/term.h"
#include "rollcall/worker.h"

#define WATCH_MIN_MS 100
#define GONE_MAX 1024
#define VIEW_TEXT_MAX 2048

struct app_peer {
    char name[RC_NAME_MAX + 1];
    enum rc_entry_kind kind;
    bool up;
    uint32_t fails;
    uint64_t next_try_ms; /* monotonic; 0 = now */
    bool inflight;
};

struct req {
    struct req *next, *prev;
    struct rc_app *a;
    char peer[RC_NAME_MAX + 1];
    bool disconnect;
    uint64_t start_us;
    struct rc_rpc_call *call;
};

struct rc_app {
    struct event_base *base;
    struct rc_node *node;
    struct rc_rpc *rpc;
    char self[RC_NAME_MAX + 1];
    char name[RC_NAME_MAX + 1];
    char host[RC_HOST_MAX + 1];
    char ip[RC_IP_MAX];
    uint16_t port;
    uint64_t interval_ms, ping_timeout_ms;
    bool disconnect;
    char notify[256];
    rc_app_publish_cb publish;
    void *publish_arg;

    bool up, leaving, ever_checked;
    enum rc_reason last_reason;
    bool logged_down;
    int64_t started_at_ms;
    struct rc_ping *ping;
    struct event *ev_watch;

    struct app_peer *peers; /* sorted by name */
    size_t npeers;
    char (*gone)[RC_NAME_MAX + 1]; /* left or pruned, for app_disconnect */
    size_t ngone;

    struct rc_rpc_call *nodes_call;
    bool nodes_again; /* a sweep ended while nodes() was in flight */
    struct req *reqs;
    char view_key[VIEW_TEXT_MAX * 2 + 2];
    struct rc_ratelimit rl_fail;
};

static void watch_arm(struct rc_app *a);
static void connector_start(struct rc_app *a);

/* ---- peers ---- */

static struct app_peer *peer_find(struct rc_app *a, const char *name)
{
    size_t lo = 0, hi = a->npeers;

    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(a->peers[mid].name, name);

        if (c == 0)
            return &a->peers[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* A BEAM app we may offer: kind app, or unknown and a published (visible)
 * node by its handshake. Agents (hidden, kind agent) never. */
static bool peer_is_app(struct rc_app *a, const struct app_peer *p)
{
    uint64_t flags = 0;

    if (p->kind == RC_KIND_APP)
        return true;
    if (p->kind == RC_KIND_AGENT)
        return false;
    return rc_node_peer_info(a->node, p->name, &flags, NULL) == 0 &&
           (flags & RC_DFLAG_PUBLISHED) != 0;
}

static int cmp_peer(const void *x, const void *y)
{
    return strcmp(((const struct app_peer *)x)->name, ((const struct app_peer *)y)->name);
}

void rc_app_sweep_done(struct rc_app *a, const struct rc_app_peer *peers, size_t n)
{
    struct app_peer *np = NULL;
    size_t k = 0;

    if (a == NULL)
        return;
    if (n > 0) {
        np = calloc(n, sizeof *np);
        if (np == NULL)
            return; /* keep the old table */
    }
    for (size_t i = 0; i < n; i++) {
        struct app_peer *old;

        if (!rc_node_name_valid(peers[i].name) || strcmp(peers[i].name, a->name) == 0)
            continue;
        old = peer_find(a, peers[i].name);
        if (old != NULL)
            np[k] = *old;
        else
            snprintf(np[k].name, sizeof np[k].name, "%s", peers[i].name);
        np[k].kind = peers[i].kind;
        np[k].up = peers[i].up;
        k++;
    }
    if (k > 1)
        qsort(np, k, sizeof *np, cmp_peer);
    free(a->peers);
    a->peers = np;
    a->npeers = k;
    if (a->up)
        connector_start(a);
}

static void gone_add(struct rc_app *a, const char *name)
{
    if (a->gone == NULL) {
        a->gone = calloc(GONE_MAX, sizeof *a->gone);
        if (a->gone == NULL)
            return;
    }
    for (size_t i = 0; i < a->ngone; i++)
        if (strcmp(a->gone[i], name) == 0)
            return;
    if (a->ngone == GONE_MAX) { /* forget the oldest */
        memmove(a->gone, a->gone + 1, (GONE_MAX - 1) * sizeof *a->gone);
        a->ngone--;
    }
    snprintf(a->gone[a->ngone++], sizeof a->gone[0], "%s", name);
}

static void gone_del(struct rc_app *a, const char *name)
{
    for (size_t i = 0; i < a->ngone; i++) {
        if (strcmp(a->gone[i], name) == 0) {
            memmove(a->gone + i, a->gone + i + 1, (a->ngone - i - 1) * sizeof *a->gone);
            a->ngone--;
            return;
        }
    }
}

static void notify_down(struct rc_app *a, const char *name, const char *why)
{
    uint8_t msg[RC_NAME_MAX * 2 + 64];
    struct rc_term_enc e;

    if (a->notify[0] == '\0' || !a->up)
        return;
    rc_term_enc_init(&e, msg, sizeof msg);
    rc_term_put_tuple(&e, 4);
    rc_term_put_atom(&e, "rollcall");
    rc_term_put_atom(&e, "peer_down");
    rc_term_put_atom(&e, name);
    rc_term_put_atom(&e, why);
    if (e.err == 0 && rc_rpc_send(a->rpc, a->name, a->notify, msg, e.len) == 0)
        rc_log_debug("app: told %s's %s that %s is down (%s)", a->name, a->notify, name, why);
}

void rc_app_peer_event(struct rc_app *a, const char *name, enum rc_app_event ev,
                       enum rc_reason reason)
{
    struct app_peer *p;
    bool was_app;

    if (a == NULL || strcmp(name, a->name) == 0)
        return;
    p = peer_find(a, name);
    if (p == NULL)
        return;
    was_app = peer_is_app(a, p) || p->kind == RC_KIND_UNKNOWN;
    switch (ev) {
    case RC_APP_PEER_UP:
        p->up = true;
        p->fails = 0; /* back from the dead: ask at once */
        p->next_try_ms = 0;
        gone_del(a, name);
        return;
    case RC_APP_PEER_DOWN:
        if (p->up && was_app && p->kind != RC_KIND_AGENT)
            notify_down(a, name, rc_reason_str(reason));
        p->up = false;
        return;
    case RC_APP_PEER_LEFT:
    case RC_APP_PEER_PRUNED:
        if (p->kind != RC_KIND_AGENT) {
            if (p->up)
                notify_down(a, name, ev == RC_APP_PEER_LEFT ? "left" : "pruned");
            if (a->disconnect)
                gone_add(a, name);
        }
        p->up = false;
        return;
    }
}

/* ---- requests ---- */

static void req_free(struct req *r)
{
    struct rc_app *a = r->a;

    if (r->prev != NULL)
        r->prev->next = r->next;
    else
        a->reqs = r->next;
    if (r->next != NULL)
        r->next->prev = r->prev;
    free(r);
}

static void req_done(void *arg, int status, const struct rc_rpc_reply *reply)
{
    struct req *r = arg;
    struct rc_app *a = r->a;
    struct app_peer *p = peer_find(a, r->peer);
    double ms = (double)(rc_now_mono_us() - r->start_us) / 1000.0;
    char result[32] = "timeout";
    bool ok = false;

    r->call = NULL;
    if (status == 0) {
        if (rc_rpc_value_badrpc(reply))
            snprintf(result, sizeof result, "badrpc");
        else if (rc_rpc_value_atom(reply, result, sizeof result) != 0)
            snprintf(result, sizeof result, "protocol_error");
        else if (strcmp(result, "true") == 0)
            snprintf(result, sizeof result, "ok");
        ok = strcmp(result, "ok") == 0;
    }
    if (r->disconnect) {
        struct rc_log_field f[] = {RC_LF_S("self", a->self), RC_LF_S("app", a->name),
                                   RC_LF_S("node", r->peer), RC_LF_S("result", result)};
        rc_log_event(RC_LOG_INFO, "app_disconnect", f, 4);
        if (ok)
            gone_del(a, r->peer);
    } else {
        struct rc_log_field f[] = {RC_LF_S("self", a->self), RC_LF_S("app", a->name),
                                   RC_LF_S("node", r->peer), RC_LF_S("result", result),
                                   RC_LF_D("ms", ms)};
        uint32_t suppressed = 0;

        if (ok)
            rc_log_event(RC_LOG_INFO, "app_connect", f, 5);
        else if (rc_ratelimit_allow(&a->rl_fail, rc_now_mono_ms(), 20, 60000, &suppressed))
            rc_log_event(RC_LOG_WARN, "app_connect", f, 5);
        if (p != NULL) {
            p->inflight = false;
            if (ok) {
                p->fails = 0;
                p->next_try_ms = 0;
            } else {
                uint64_t wait = a->interval_ms;

                for (uint32_t i = 0; i < p->fails && wait < RC_APP_BACKOFF_MAX_MS; i++)
                    wait *= 2;
                if (wait > RC_APP_BACKOFF_MAX_MS)
                    wait = RC_APP_BACKOFF_MAX_MS;
                p->fails++;
                p->next_try_ms = rc_now_mono_ms() + wait;
            }
        }
    }
    req_free(r);
}

static int req_start(struct rc_app *a, const char *peer, bool disconnect)
{
    uint8_t args[RC_NAME_MAX + 16];
    struct rc_term_enc e;
    struct req *r;
    int rv;

    rc_term_enc_init(&e, args, sizeof args);
    rc_term_put_list(&e, 1);
    rc_term_put_atom(&e, peer);
    rc_term_put_nil(&e);
    if (e.err != 0)
        return e.err;
    r = calloc(1, sizeof *r);
    if (r == NULL)
        return -ENOMEM;
    r->a = a;
    snprintf(r->peer, sizeof r->peer, "%s", peer);
    r->disconnect = disconnect;
    r->start_us = rc_now_mono_us();
    rv = rc_rpc_call(a->rpc, a->name, disconnect ? "erlang" : "net_kernel",
                     disconnect ? "disconnect_node" : "connect_node", args, e.len,
                     a->ping_timeout_ms, req_done, r, &r->call);
    if (rv != 0) {
        free(r);
        return rv;
    }
    r->next = a->reqs;
    if (a->reqs != NULL)
        a->reqs->prev = r;
    a->reqs = r;
    return 0;
}

/* ---- the app's view ---- */

struct view {
    char (*v)[RC_NAME_MAX + 1];
    size_t n, cap;
};

static void view_add(void *arg, const char *node)
{
    struct view *w = arg;

    if (w->n == w->cap || !rc_node_name_valid(node))
        return;
    snprintf(w->v[w->n++], sizeof w->v[0], "%s", node);
}

static bool view_has(const struct view *w, const char *name)
{
    for (size_t i = 0; i < w->n; i++)
        if (strcmp(w->v[i], name) == 0)
            return true;
    return false;
}

static void list_append(char *out, size_t cap, const char *name)
{
    size_t len = strlen(out);

    if (len + 4 >= cap)
        return;
    if (len + strlen(name) + 2 >= cap) {
        snprintf(out + len, cap - len, "%s...", len > 0 ? "," : "");
        return;
    }
    snprintf(out + len, cap - len, "%s%s", len > 0 ? "," : "", name);
}

/* Logs once per change of (missing, extra). */
static void log_view(struct rc_app *a, const struct view *w)
{
    char missing[VIEW_TEXT_MAX] = "", extra[VIEW_TEXT_MAX] = "", key[sizeof a->view_key];

    for (size_t i = 0; i < a->npeers; i++) {
        const struct app_peer *p = &a->peers[i];

        if (p->up && peer_is_app(a, p) && !view_has(w, p->name))
            list_append(missing, sizeof missing, p->name);
    }
    for (size_t i = 0; i < w->n; i++) {
        const struct app_peer *p = peer_find(a, w->v[i]);

        if (p == NULL || !p->up || !peer_is_app(a, p))
            list_append(extra, sizeof extra, w->v[i]);
    }
    snprintf(key, sizeof key, "%s|%s", missing, extra);
    if (strcmp(key, a->view_key) == 0)
        return;
    if (missing[0] == '\0' && extra[0] == '\0') {
        struct rc_log_field f[] = {RC_LF_S("self", a->self), RC_LF_S("app", a->name),
                                   RC_LF_B("in_sync", true)};

        if (a->view_key[0] != '\0' && strcmp(a->view_key, "|") != 0)
            rc_log_event(RC_LOG_INFO, "app_view", f, 3);
    } else {
        struct rc_log_field f[] = {RC_LF_S("self", a->self), RC_LF_S("app", a->name),
                                   RC_LF_S("missing", missing), RC_LF_S("extra", extra)};

        rc_log_event(RC_LOG_INFO, "app_view", f, 4);
    }
    snprintf(a->view_key, sizeof a->view_key, "%s", key);
}

static void nodes_done(void *arg, int status, const struct rc_rpc_reply *reply)
{
    struct rc_app *a = arg;
    struct view w = {0};
    uint64_t now = rc_now_mono_ms();

    a->nodes_call = NULL;
    if (status != 0 || !a->up || a->leaving) {
        if (status != 0)
            rc_log_debug("app: nodes() of %s: no answer in %llu ms", a->name,
                         (unsigned long long)a->ping_timeout_ms);
        goto again;
    }
    w.cap = RC_RPC_NODES_MAX;
    w.v = calloc(w.cap, sizeof *w.v);
    if (w.v == NULL)
        goto again;
    if (rc_rpc_value_nodes(reply, view_add, &w) != 0) {
        uint32_t suppressed = 0;

        if (rc_ratelimit_allow(&a->rl_fail, now, 20, 60000, &suppressed))
            rc_log_warn("app: %s answered nodes() with something that is not a list of nodes",
                        a->name);
        free(w.v);
        goto again;
    }
    log_view(a, &w);
    for (size_t i = 0; i < a->npeers; i++) {
        struct app_peer *p = &a->peers[i];

        if (!p->up || p->inflight || view_has(&w, p->name) || now < p->next_try_ms ||
            !peer_is_app(a, p))
            continue;
        if (req_start(a, p->name, false) == 0)
            p->inflight = true;
    }
    if (a->disconnect) {
        for (size_t i = 0; i < a->ngone; i++) {
            bool busy = false;

            if (!view_has(&w, a->gone[i]))
                continue;
            for (struct req *r = a->reqs; r != NULL && !busy; r = r->next)
                busy = r->disconnect && strcmp(r->peer, a->gone[i]) == 0;
            if (!busy)
                req_start(a, a->gone[i], true);
        }
    }
    free(w.v);
again:
    if (a->nodes_again && a->up && !a->leaving) {
        a->nodes_again = false;
        connector_start(a);
    }
}

static void connector_start(struct rc_app *a)
{
    static const uint8_t no_args[] = {RC_TAG_NIL};

    if (!a->up || a->leaving)
        return;
    if (a->nodes_call != NULL) {
        a->nodes_again = true;
        return;
    }
    if (rc_rpc_call(a->rpc, a->name, "erlang", "nodes", no_args, sizeof no_args, a->ping_timeout_ms,
                    nodes_done, a, &a->nodes_call) != 0)
        a->nodes_call = NULL; /* not connected: the watcher will see */
}

/* ---- the watcher ---- */

static void went_down(struct rc_app *a, enum rc_reason why)
{
    bool log_it = a->up || !a->logged_down || why != a->last_reason;
    bool withdraw = a->up || !a->ever_checked;

    a->ever_checked = true;
    a->up = false;
    if (log_it) {
        struct rc_log_field f[] = {RC_LF_S("self", a->self), RC_LF_S("app", a->name),
                                   RC_LF_S("reason", rc_reason_str(why))};
        bool bad = why == RC_REASON_COOKIE_REJECTED || why == RC_REASON_HANDSHAKE_FAILED ||
                   why == RC_REASON_PROTOCOL_ERROR;

        rc_log_event(bad ? RC_LOG_WARN : RC_LOG_INFO, "app_down", f, 3);
        if (why == RC_REASON_COOKIE_REJECTED)
            rc_log_warn("app: %s refused our cookie: the agent's cookie must be the app's "
                        "(RELEASE_COOKIE, cookie_file)",
                        a->name);
    }
    a->logged_down = true;
    a->last_reason = why;
    if (a->nodes_call != NULL) {
        rc_rpc_cancel(a->nodes_call);
        a->nodes_call = NULL;
    }
    a->view_key[0] = '\0';
    if (withdraw && a->publish != NULL)
        a->publish(a->publish_arg, NULL);
}

static void publish_entry(struct rc_app *a)
{
    struct rc_entry e;
    uint16_t port = a->port;

    if (port == 0)
        rc_node_peer_info(a->node, a->name, NULL, &port);
    memset(&e, 0, sizeof e);
    snprintf(e.name, sizeof e.name, "%s", a->name);
    snprintf(e.host, sizeof e.host, "%s", a->host);
    e.port = port;
    e.kind = RC_KIND_APP;
    e.started_at_ms = a->started_at_ms;
    if (a->publish != NULL)
        a->publish(a->publish_arg, &e);
}

static void ping_done(void *arg, enum rc_reason r, uint64_t rtt_us)
{
    struct rc_app *a = arg;

    a->ping = NULL;
    if (a->leaving)
        return;
    if (r == RC_REASON_OK) {
        a->ever_checked = true;
        if (!a->up) {
            struct rc_log_field f[] = {RC_LF_S("self", a->self), RC_LF_S("app", a->name),
                                       RC_LF_D("rtt_ms", (double)rtt_us / 1000.0)};

            a->up = true;
            a->logged_down = false;
            a->started_at_ms = rc_now_wall_ms();
            rc_log_event(RC_LOG_INFO, "app_up", f, 3);
            publish_entry(a);
            connector_start(a); /* now, not at the next sweep */
        }
    } else {
        went_down(a, r);
    }
    watch_arm(a);
}

static void watch_cb(evutil_socket_t fd, short what, void *arg)
{
    struct rc_app *a = arg;
    int rv;

    if (a->leaving || a->ping != NULL)
        return;
    if (a->ip[0] == '\0' && rc_resolve_host(a->host, a->ip, sizeof a->ip) != 0) {
        a->ip[0] = '\0';
        went_down(a, RC_REASON_RESOLVE_FAILED);
        watch_arm(a);
        return;
    }
    rv = rc_node_ping(a->node, a->name, a->ip, a->port, a->ping_timeout_ms, ping_done, a, &a->ping);
    if (rv != 0) {
        a->ping = NULL;
        went_down(a, RC_REASON_PROTOCOL_ERROR);
        watch_arm(a);
    }
}

static void watch_arm(struct rc_app *a)
{
    uint64_t ms = a->interval_ms;
    struct timeval tv;

    if (!a->up) {
        ms = a->interval_ms / 4;
        if (ms < WATCH_MIN_MS)
            ms = WATCH_MIN_MS;
        if (ms > a->interval_ms)
            ms = a->interval_ms;
    }
    tv.tv_sec = (time_t)(ms / 1000);
    tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
    evtimer_add(a->ev_watch, &tv);
}

void rc_app_conn_lost(struct rc_app *a, enum rc_reason reason)
{
    if (a == NULL || a->leaving)
        return;
    if (a->ping != NULL) {
        rc_ping_cancel(a->ping);
        a->ping = NULL;
    }
    went_down(a, reason);
    event_del(a->ev_watch);
    watch_arm(a);
}

/* ---- life ---- */

struct rc_app *rc_app_new(struct event_base *base, struct rc_node *node,
                          const struct rc_app_opts *o, rc_app_publish_cb publish, void *arg,
                          char *err, size_t errlen)
{
    struct rc_app *a;
    const char *at;
    struct timeval now = {0, 0};

    if (!rc_node_name_valid(o->app_node)) {
        snprintf(err, errlen, "app_node: not a node name");
        return NULL;
    }
    a = calloc(1, sizeof *a);
    if (a == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    a->base = base;
    a->node = node;
    snprintf(a->self, sizeof a->self, "%s", o->self);
    snprintf(a->name, sizeof a->name, "%s", o->app_node);
    at = strchr(a->name, '@');
    snprintf(a->host, sizeof a->host, "%s", at + 1);
    a->port = o->app_port;
    a->interval_ms = o->interval_ms;
    a->ping_timeout_ms = o->ping_timeout_ms;
    a->disconnect = o->disconnect;
    snprintf(a->notify, sizeof a->notify, "%s", o->notify != NULL ? o->notify : "");
    a->publish = publish;
    a->publish_arg = arg;
    a->rpc = rc_rpc_new(base, node);
    a->ev_watch = evtimer_new(base, watch_cb, a);
    if (a->rpc == NULL || a->ev_watch == NULL) {
        snprintf(err, errlen, "out of memory");
        rc_app_free(a);
        return NULL;
    }
    if (rc_resolve_host(a->host, a->ip, sizeof a->ip) != 0)
        a->ip[0] = '\0'; /* tried again at every tick */
    evtimer_add(a->ev_watch, &now);
    return a;
}

void rc_app_leave(struct rc_app *a)
{
    if (a == NULL || a->leaving)
        return;
    a->leaving = true;
    event_del(a->ev_watch);
    if (a->ping != NULL) {
        rc_ping_cancel(a->ping);
        a->ping = NULL;
    }
    if (a->publish != NULL)
        a->publish(a->publish_arg, NULL);
}

void rc_app_set_timing(struct rc_app *a, uint64_t interval_ms, uint64_t ping_timeout_ms)
{
    if (a == NULL)
        return;
    a->interval_ms = interval_ms;
    a->ping_timeout_ms = ping_timeout_ms;
}

const char *rc_app_name(const struct rc_app *a)
{
    return a->name;
}

bool rc_app_is_up(const struct rc_app *a)
{
    return a != NULL && a->up;
}

void rc_app_free(struct rc_app *a)
{
    if (a == NULL)
        return;
    while (a->reqs != NULL) {
        rc_rpc_cancel(a->reqs->call);
        req_free(a->reqs);
    }
    if (a->nodes_call != NULL)
        rc_rpc_cancel(a->nodes_call);
    if (a->ping != NULL)
        rc_ping_cancel(a->ping);
    if (a->ev_watch != NULL)
        event_free(a->ev_watch);
    rc_rpc_free(a->rpc);
    free(a->peers);
    free(a->gone);
    free(a);
}

/*
 * http_ops.c - the operator's paths on the HTTP server (contract in
 * ops.h).
 */
#include "rollcall/ops.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "rollcall/health.h"
#include "rollcall/http.h"
#include "rollcall/metrics.h"

struct rc_ops {
    struct rc_http_server *http;
    struct rc_metrics *metrics;
    rc_ops_view_fn view;
    void *arg;
};

static void fill_health(const struct rc_ops_view *v, struct rc_health_in *in)
{
    size_t i, answering = 0;
    for (i = 0; i < v->npeers; i++)
        answering += v->peers[i].up ? 1 : 0;
    memset(in, 0, sizeof *in);
    in->swept = v->sweeps != 0;
    in->registry_ok = v->registry_ok;
    in->registry_error = v->registry_error;
    in->self_listed = v->self_listed;
    in->expect = v->expect;
    in->peers = v->npeers;
    in->answering = answering;
    in->cookie_rejects = v->cookie_rejects;
}

bool rc_ops_ready(const struct rc_ops_view *v, char *json, size_t cap)
{
    struct rc_health_in in;
    fill_health(v, &in);
    return rc_health_ready(&in, json, cap);
}

static void reply_buffer(struct rc_http_conn *c, int status, const char *ctype, struct evbuffer *b)
{
    size_t n = evbuffer_get_length(b);
    const void *p = n != 0 ? (const void *)evbuffer_pullup(b, (ev_ssize_t)n) : (const void *)"";
    if (p == NULL)
        rc_http_reply(c, 500, "text/plain", "out of memory\n", 14);
    else
        rc_http_reply(c, status, ctype, p, n);
}

static void serve_metrics(struct rc_ops *o, struct rc_http_conn *c, const struct rc_ops_view *v)
{
    struct rc_metrics_peer *mp = NULL;
    struct rc_metrics_state st;
    struct rc_http_stats hs;
    struct evbuffer *b = evbuffer_new();
    char j[8];
    size_t i;
    int r = -ENOMEM;

    if (v->npeers != 0)
        mp = calloc(v->npeers, sizeof *mp);
    if (b == NULL || (v->npeers != 0 && mp == NULL))
        goto out;
    for (i = 0; i < v->npeers; i++) {
        mp[i].name = v->peers[i].name;
        mp[i].up = v->peers[i].up;
        mp[i].known = v->peers[i].known;
        mp[i].rtt_s = v->peers[i].rtt_ms >= 0 ? v->peers[i].rtt_ms / 1000.0 : -1;
    }
    rc_http_stats(o->http, &hs);
    memset(&st, 0, sizeof st);
    st.self = v->self;
    st.version = ROLLCALL_VERSION;
    st.peers = mp;
    st.npeers = v->npeers;
    st.sweeps = v->sweeps;
    st.ready = rc_ops_ready(v, j, 0);
    st.start_time_s = v->start_time_s;
    st.http_requests = hs.requests;
    st.http_bad = hs.bad;
    st.http_refused = hs.refused;
    if (o->metrics != NULL) {
        r = rc_metrics_render(o->metrics, &st, b);
    } else {
        struct rc_metrics *empty = rc_metrics_new();
        r = empty != NULL ? rc_metrics_render(empty, &st, b) : -ENOMEM;
        rc_metrics_free(empty);
    }
out:
    if (r == 0)
        reply_buffer(c, 200, "text/plain; version=0.0.4; charset=utf-8", b);
    else
        rc_http_reply(c, 500, "text/plain", "out of memory\n", 14);
    if (b != NULL)
        evbuffer_free(b);
    free(mp);
}

static void put_json_str(struct evbuffer *b, const char *s)
{
    char q[6 * 260 + 3];
    if (strlen(s) > 255 || rc_json_quote(s, q, sizeof q) == 0)
        evbuffer_add(b, "\"\"", 2);
    else
        evbuffer_add(b, q, strlen(q));
}

static void serve_members(struct rc_http_conn *c, const struct rc_ops_view *v)
{
    struct evbuffer *b = evbuffer_new();
    size_t i, up = 0;
    if (b == NULL) {
        rc_http_reply(c, 500, "text/plain", "out of memory\n", 14);
        return;
    }
    for (i = 0; i < v->npeers; i++)
        up += v->peers[i].up ? 1 : 0;
    evbuffer_add_printf(b, "{\"self\":");
    put_json_str(b, v->self);
    evbuffer_add_printf(b, ",\"sweeps\":%llu,\"peers\":%zu,\"answering\":%zu,\"members\":[",
                        (unsigned long long)v->sweeps, v->npeers, up);
    for (i = 0; i < v->npeers; i++) {
        const struct rc_ops_peer *p = &v->peers[i];
        evbuffer_add_printf(b, "%s{\"name\":", i != 0 ? "," : "");
        put_json_str(b, p->name);
        evbuffer_add_printf(b, ",\"ip\":");
        put_json_str(b, p->ip);
        evbuffer_add_printf(b, ",\"port\":%u,\"alive\":%s,\"state\":\"%s\"", p->port,
                            p->up ? "true" : "false",
                            !p->known ? "unknown"
                            : p->up   ? "up"
                                      : "down");
        if (p->rtt_ms >= 0)
            evbuffer_add_printf(b, ",\"rtt_ms\":%.3f", p->rtt_ms);
        evbuffer_add_printf(b, ",\"reason\":");
        put_json_str(b, p->reason != NULL ? p->reason : "");
        evbuffer_add_printf(b, ",\"age_ms\":%lld}", (long long)p->age_ms);
    }
    evbuffer_add_printf(b, "]}\n");
    reply_buffer(c, 200, "application/json", b);
    evbuffer_free(b);
}

static void handler(void *arg, struct rc_http_conn *c, const struct rc_http_req *req)
{
    static const char index_text[] = "rollcall: /metrics /healthz /readyz /members /events\n";
    struct rc_ops *o = arg;
    struct rc_ops_view v;
    char j[1024];

    if (strcmp(req->path, "/events") == 0) {
        if (rc_http_stream_start(c, "application/x-ndjson") != 0)
            rc_http_reply(c, 503, "text/plain", "too many streams\n", 17);
        return;
    }
    if (strcmp(req->path, "/") == 0) {
        rc_http_reply(c, 200, "text/plain", index_text, sizeof index_text - 1);
        return;
    }
    memset(&v, 0, sizeof v);
    o->view(o->arg, &v);
    if (strcmp(req->path, "/metrics") == 0) {
        serve_metrics(o, c, &v);
    } else if (strcmp(req->path, "/healthz") == 0) {
        int n = snprintf(j, sizeof j, "{\"status\":\"ok\",\"sweeps\":%llu}\n",
                         (unsigned long long)v.sweeps);
        rc_http_reply(c, 200, "application/json", j, (size_t)n);
    } else if (strcmp(req->path, "/readyz") == 0) {
        bool ready = rc_ops_ready(&v, j, sizeof j);
        rc_http_reply(c, ready ? 200 : 503, "application/json", j, strlen(j));
    } else if (strcmp(req->path, "/members") == 0) {
        serve_members(c, &v);
    } else {
        rc_http_reply(c, 404, "text/plain", "not found\n", 10);
    }
}

struct rc_ops *rc_ops_new(struct event_base *base, const char *addr, struct rc_metrics *metrics,
                          rc_ops_view_fn view, void *arg, char *err, size_t errlen)
{
    struct rc_ops *o = calloc(1, sizeof *o);
    if (o == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    o->metrics = metrics;
    o->view = view;
    o->arg = arg;
    o->http = rc_http_new(base, addr, handler, o, err, errlen);
    if (o->http == NULL) {
        free(o);
        return NULL;
    }
    return o;
}

void rc_ops_free(struct rc_ops *o)
{
    if (o == NULL)
        return;
    rc_http_free(o->http);
    free(o);
}

uint16_t rc_ops_port(const struct rc_ops *o)
{
    return rc_http_port(o->http);
}

void rc_ops_event(struct rc_ops *o, const struct rc_event *ev, const char *self)
{
    char line[RC_EVENT_JSON_MAX];
    size_t n;
    if (o == NULL)
        return;
    n = rc_event_json(ev, self, line, sizeof line);
    rc_http_broadcast(o->http, line, n);
}

/*
 * http.c - the bounded HTTP/1.1 server on the agent's loop (contract and
 * limits in http.h).
 *
 * One connection = one bufferevent. Input is capped by the read watermark
 * at RC_HTTP_HEAD_MAX (a head that does not fit is a 431); the next
 * request is parsed only once the previous answer has left the output
 * buffer, so a pipelining client that never reads holds one response, not
 * many. A client has RC_HTTP_IDLE_MS to send a whole head (one timer per
 * connection, not reset by each byte: a slow sender cannot hold a slot),
 * and as long to take our answer (the bufferevent's write timeout).
 */
#include "rollcall/http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>

struct rc_http_conn {
    struct rc_http_server *s;
    struct rc_http_conn *prev, *next;
    struct bufferevent *bev;
    struct event *deadline; /* the head must arrive before it */
    bool answered;          /* the handler replied or started a stream */
    bool streaming;
    bool closing; /* close once the output is flushed */
    bool keep_alive;
    bool head_only;
};

struct rc_http_server {
    struct event_base *base;
    struct evconnlistener *listener;
    rc_http_handler handler;
    void *arg;
    struct rc_http_conn *conns;
    uint16_t port;
    struct rc_http_stats st;
};

static void conn_free(struct rc_http_conn *c)
{
    struct rc_http_server *s = c->s;
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    if (c->streaming)
        s->st.streams--;
    s->st.open--;
    if (c->deadline != NULL)
        event_free(c->deadline);
    bufferevent_free(c->bev); /* closes the socket (BEV_OPT_CLOSE_ON_FREE) */
    free(c);
}

static void arm_deadline(struct rc_http_conn *c)
{
    struct timeval tv = {.tv_sec = RC_HTTP_IDLE_MS / 1000,
                         .tv_usec = (RC_HTTP_IDLE_MS % 1000) * 1000};
    event_add(c->deadline, &tv);
}

static void send_head(struct rc_http_conn *c, int status, const char *ctype, long long len)
{
    struct evbuffer *out = bufferevent_get_output(c->bev);
    evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\nCache-Control: no-store\r\n", status,
                        rc_http_status_text(status));
    if (ctype != NULL)
        evbuffer_add_printf(out, "Content-Type: %s\r\n", ctype);
    if (len >= 0)
        evbuffer_add_printf(out, "Content-Length: %lld\r\n", len);
    if (status == 405)
        evbuffer_add_printf(out, "Allow: GET, HEAD\r\n");
    evbuffer_add_printf(out, "Connection: %s\r\n\r\n", c->keep_alive ? "keep-alive" : "close");
}

void rc_http_reply(struct rc_http_conn *c, int status, const char *content_type, const void *body,
                   size_t len)
{
    if (c->answered)
        return;
    c->answered = true;
    c->s->st.requests++;
    send_head(c, status, content_type, (long long)len);
    if (!c->head_only && len != 0)
        bufferevent_write(c->bev, body, len);
    if (!c->keep_alive)
        c->closing = true;
}

int rc_http_stream_start(struct rc_http_conn *c, const char *content_type)
{
    if (c->answered)
        return -EALREADY;
    if (c->s->st.streams >= RC_HTTP_STREAM_MAX)
        return -EBUSY;
    c->answered = true;
    c->s->st.requests++;
    c->keep_alive = false;
    if (c->head_only) {
        send_head(c, 200, content_type, -1);
        c->closing = true;
        return 0;
    }
    c->streaming = true;
    c->s->st.streams++;
    send_head(c, 200, content_type, -1);
    return 0;
}

void rc_http_broadcast(struct rc_http_server *s, const void *data, size_t len)
{
    struct rc_http_conn *c, *next;
    if (s == NULL)
        return;
    for (c = s->conns; c != NULL; c = next) {
        struct evbuffer *out;
        next = c->next;
        if (!c->streaming)
            continue;
        out = bufferevent_get_output(c->bev);
        if (evbuffer_get_length(out) + len > RC_HTTP_STREAM_BUF) {
            s->st.overflows++;
            conn_free(c);
            continue;
        }
        evbuffer_add(out, data, len);
    }
}

/* Parses and answers what is buffered, one request at a time. Returns
 * false if the connection was freed. */
static bool process(struct rc_http_conn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    struct evbuffer *out = bufferevent_get_output(c->bev);
    while (!c->closing && !c->streaming && evbuffer_get_length(out) == 0) {
        struct rc_http_req req;
        size_t avail = evbuffer_get_length(in);
        size_t want = avail < RC_HTTP_HEAD_MAX ? avail : RC_HTTP_HEAD_MAX;
        const char *p;
        int r;
        if (avail == 0)
            break;
        p = (const char *)evbuffer_pullup(in, (ev_ssize_t)want);
        if (p == NULL)
            break;
        r = rc_http_parse_request(p, want, &req);
        if (r == -EAGAIN)
            break;
        if (r < 0) {
            int status = rc_http_error_status(r);
            c->s->st.bad++;
            c->keep_alive = false;
            c->head_only = false;
            c->answered = false;
            rc_http_reply(c, status, "text/plain", rc_http_status_text(status),
                          strlen(rc_http_status_text(status)));
            evbuffer_drain(in, avail);
            break;
        }
        evbuffer_drain(in, (size_t)r);
        event_del(c->deadline);
        c->answered = false;
        c->keep_alive = req.keep_alive;
        c->head_only = req.method == RC_HTTP_HEAD;
        c->s->handler(c->s->arg, c, &req);
        if (!c->answered)
            rc_http_reply(c, 500, "text/plain", "no answer\n", 10);
        if (!c->closing && !c->streaming)
            arm_deadline(c);
    }
    if (c->streaming) {
        /* A stream's reader has nothing more to say; drop what it sends. */
        evbuffer_drain(in, evbuffer_get_length(in));
    }
    if (c->closing && evbuffer_get_length(out) == 0) {
        conn_free(c);
        return false;
    }
    return true;
}

static void read_cb(struct bufferevent *bev, void *arg)
{
    process(arg);
}

static void write_cb(struct bufferevent *bev, void *arg)
{
    /* The output buffer drained: close, or take the next request. */
    process(arg);
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct rc_http_conn *c = arg;
    if (what & BEV_EVENT_TIMEOUT)
        c->s->st.timeouts++;
    if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_WRITING) &&
        evbuffer_get_length(bufferevent_get_output(bev)) != 0 && !c->streaming) {
        /* The client half-closed after its request: finish the answer. */
        c->closing = true;
        return;
    }
    conn_free(c);
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    struct rc_http_conn *c = arg;
    c->s->st.timeouts++;
    conn_free(c);
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
                      void *arg)
{
    static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                               "Connection: close\r\n\r\n";
    struct rc_http_server *s = arg;
    struct rc_http_conn *c;
    struct timeval wt = {.tv_sec = RC_HTTP_IDLE_MS / 1000,
                         .tv_usec = (RC_HTTP_IDLE_MS % 1000) * 1000};
    if (s->st.open >= RC_HTTP_CONN_MAX) {
        s->st.refused++;
        (void)send(fd, busy, sizeof busy - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
        evutil_closesocket(fd);
        return;
    }
    c = calloc(1, sizeof *c);
    if (c == NULL) {
        evutil_closesocket(fd);
        return;
    }
    c->s = s;
    c->bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
    c->deadline = evtimer_new(s->base, deadline_cb, c);
    if (c->bev == NULL || c->deadline == NULL) {
        if (c->bev != NULL)
            bufferevent_free(c->bev);
        else
            evutil_closesocket(fd);
        if (c->deadline != NULL)
            event_free(c->deadline);
        free(c);
        return;
    }
    c->next = s->conns;
    if (s->conns != NULL)
        s->conns->prev = c;
    s->conns = c;
    s->st.open++;
    bufferevent_setwatermark(c->bev, EV_READ, 0, RC_HTTP_HEAD_MAX);
    bufferevent_setcb(c->bev, read_cb, write_cb, event_cb, c);
    bufferevent_set_timeouts(c->bev, NULL, &wt);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    arm_deadline(c);
}

int rc_http_parse_addr(const char *addr, struct sockaddr_storage *ss, int *sslen)
{
    char host[64];
    const char *colon = strrchr(addr, ':');
    const char *h = addr;
    size_t hlen;
    unsigned long port = 0;
    const char *p;
    if (colon == NULL || colon[1] == '\0' || strlen(colon + 1) > 5)
        return -EINVAL;
    for (p = colon + 1; *p != '\0'; p++) {
        if (*p < '0' || *p > '9')
            return -EINVAL;
        port = port * 10 + (unsigned long)(*p - '0');
    }
    if (port > 65535)
        return -EINVAL;
    hlen = (size_t)(colon - addr);
    if (hlen >= 2 && addr[0] == '[' && addr[hlen - 1] == ']') {
        h = addr + 1;
        hlen -= 2;
    }
    if (hlen == 0 || hlen >= sizeof host)
        return -EINVAL;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    memset(ss, 0, sizeof *ss);
    if (h == addr && inet_pton(AF_INET, host, &((struct sockaddr_in *)ss)->sin_addr) == 1) {
        ((struct sockaddr_in *)ss)->sin_family = AF_INET;
        ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
        *sslen = (int)sizeof(struct sockaddr_in);
        return 0;
    }
    if (h != addr && inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)ss)->sin6_addr) == 1) {
        ((struct sockaddr_in6 *)ss)->sin6_family = AF_INET6;
        ((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
        *sslen = (int)sizeof(struct sockaddr_in6);
        return 0;
    }
    return -EINVAL;
}

struct rc_http_server *rc_http_new(struct event_base *base, const char *addr,
                                   rc_http_handler handler, void *arg, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    int sslen = (int)sizeof ss;
    struct rc_http_server *s;
    evutil_socket_t fd;

    if (rc_http_parse_addr(addr, &ss, &sslen) != 0) {
        snprintf(err, errlen,
                 "http: '%s' is not a numeric HOST:PORT (e.g. 127.0.0.1:9100 or [::1]:9100)", addr);
        return NULL;
    }
    s = calloc(1, sizeof *s);
    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->base = base;
    s->handler = handler;
    s->arg = arg;
    s->listener = evconnlistener_new_bind(
        base, accept_cb, s, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC, 64,
        (struct sockaddr *)&ss, sslen);
    if (s->listener == NULL) {
        snprintf(err, errlen, "http: cannot listen on %s: %s", addr, strerror(errno));
        free(s);
        return NULL;
    }
    fd = evconnlistener_get_fd(s->listener);
    {
        struct sockaddr_storage bound;
        socklen_t blen = sizeof bound;
        if (getsockname(fd, (struct sockaddr *)&bound, &blen) == 0)
            s->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                        : ((struct sockaddr_in *)&bound)->sin_port);
    }
    return s;
}

void rc_http_free(struct rc_http_server *s)
{
    if (s == NULL)
        return;
    while (s->conns != NULL)
        conn_free(s->conns);
    evconnlistener_free(s->listener);
    free(s);
}

uint16_t rc_http_port(const struct rc_http_server *s)
{
    return s->port;
}

void rc_http_stats(const struct rc_http_server *s, struct rc_http_stats *out)
{
    *out = s->st;
}

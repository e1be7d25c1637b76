/*
 * epmd.c - EPMD on the libevent loop: the PORT_PLEASE2 client, the
 * registration keeper and the embedded EPMD server.
 *
 * Shape:
 * - One small client exchange (struct xchg: connect, send one request, read
 *   the answer) serves both the lookup and the keeper's ALIVE2. It uses raw
 *   non-blocking sockets rather than bufferevents so that the errno of a
 *   failed connect reaches the caller exactly (the reasons in the logs depend
 *   on it) and every send carries MSG_NOSIGNAL. An immediate connect failure
 *   is delivered from the loop, never from inside the start call, so the
 *   callback contract ("exactly once, unless cancelled") has no exception.
 * - The keeper holds the ALIVE2 socket open (the registration lives as long
 *   as that connection) and only ever reads it: EOF or any byte means the
 *   EPMD is gone, and the periodic check registers again or, in auto mode,
 *   takes the port over with the embedded server.
 * - The embedded server is modelled on OTP's epmd_srv.c: the request length
 *   is checked against the hard maximum before anything is buffered beyond
 *   it, one request per connection, ALIVE2 only from loopback, the
 *   registration ends with its connection. It adds what a daemon exposed on
 *   0.0.0.0 needs: a connection cap, an idle timeout, rate-limited warnings.
 *
 * Freeing: an exchange or a server connection may be freed from inside its
 * own event callback, as libevent allows for events (the callback returns at
 * once and nothing touches the object afterwards). A lookup is freed before
 * its user callback runs, so the callback may start or cancel other lookups;
 * the finished lookup's handle must not be used again.
 */
#include "rollcall/epmd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "rollcall/log.h"

#define LOOKUP_TIMEOUT_MS 10000  /* a backstop: callers cancel at their own deadline */
#define REGISTER_TIMEOUT_MS 5000 /* an EPMD that accepts but never answers ALIVE2 */
#define XCHG_OUT_CAP (2 + 13 + RC_EPMD_ALIVE_MAX) /* the larger request: ALIVE2_REQ */
#define XCHG_IN_CAP 2048 /* PORT2_RESP: 12 + 255 name + 2 + extra (epmd: <= 1023) */
#define MIN_CHECK_MS 10
#define SRV_MAX_CONNS 1024
#define SRV_MAX_NAMES 64              /* registered BEAM nodes */
#define SRV_SLOTS (2 * SRV_MAX_NAMES) /* plus as many remembered for their creation */
#define SRV_IDLE_MS 10000
#define SRV_RESUME_MS 100 /* accept paused after EMFILE and the like */
#define WARN_WINDOW_MS 60000

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

static struct timeval ms_tv(uint64_t ms)
{
    return (struct timeval){.tv_sec = (time_t)(ms / 1000),
                            .tv_usec = (suseconds_t)(ms % 1000) * 1000};
}

/* The errno words the header promises; the rest is "unreachable, somehow". */
static int map_conn_err(int err)
{
    switch (err) {
    case ECONNREFUSED:
    case EHOSTUNREACH:
    case ENETUNREACH:
    case ETIMEDOUT:
        return -err;
    case EHOSTDOWN:
        return -EHOSTUNREACH;
    case ENETDOWN:
        return -ENETUNREACH;
    default:
        return -EIO;
    }
}

/* A creation from the clock: unix seconds, at least 4, never prev. */
static uint32_t time_creation(uint32_t prev)
{
    uint32_t c = (uint32_t)(rc_now_wall_ms() / 1000);
    if (c == prev)
        c++;
    return c < 4 ? 4 : c;
}

/* ---- one client exchange: connect, send, read ---- */

struct xchg {
    int fd;
    struct event *ev_w;     /* connect completion, then the request */
    struct event *ev_r;     /* the answer */
    struct event *ev_timer; /* deadline; also delivers an immediate connect error */
    int pending;            /* that error */
    bool connecting;
    uint8_t out[XCHG_OUT_CAP];
    size_t outlen, outoff;
    uint8_t in[XCHG_IN_CAP];
    size_t inlen;
    /* After each read: -EAGAIN to read on, else the result handed to done. */
    int (*complete)(struct xchg *x, bool eof);
    /* Called once with 0 or -errno. It must call xchg_cleanup (it may first
     * take x->fd for itself) and may free the object holding x. */
    void (*done)(struct xchg *x, int result);
};

static void xchg_init(struct xchg *x)
{
    memset(x, 0, sizeof(*x));
    x->fd = -1;
}

static void xchg_cleanup(struct xchg *x)
{
    if (x->ev_w)
        event_free(x->ev_w);
    if (x->ev_r)
        event_free(x->ev_r);
    if (x->ev_timer)
        event_free(x->ev_timer);
    x->ev_w = x->ev_r = x->ev_timer = NULL;
    if (x->fd >= 0)
        close(x->fd);
    x->fd = -1;
}

static bool xchg_busy(const struct xchg *x)
{
    return x->ev_timer != NULL;
}

static void xchg_finish(struct xchg *x, int result)
{
    event_del(x->ev_w);
    event_del(x->ev_r);
    event_del(x->ev_timer);
    x->done(x, result); /* x may be gone now */
}

static void xchg_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct xchg *x = arg;
    xchg_finish(x, x->pending ? x->pending : -ETIMEDOUT);
}

static void xchg_write_cb(evutil_socket_t fd, short what, void *arg)
{
    struct xchg *x = arg;
    if (x->connecting) {
        int err = 0;
        socklen_t len = sizeof(err);
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
            err = errno;
        if (err == EINPROGRESS || err == EINTR)
            return;
        if (err) {
            xchg_finish(x, map_conn_err(err));
            return;
        }
        x->connecting = false;
    }
    ssize_t n = send(fd, x->out + x->outoff, x->outlen - x->outoff, MSG_NOSIGNAL);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return;
        xchg_finish(x, map_conn_err(errno));
        return;
    }
    x->outoff += (size_t)n;
    if (x->outoff < x->outlen)
        return;
    event_del(x->ev_w);
    if (event_add(x->ev_r, NULL) < 0)
        xchg_finish(x, -EIO);
}

static void xchg_read_cb(evutil_socket_t fd, short what, void *arg)
{
    struct xchg *x = arg;
    ssize_t n = recv(fd, x->in + x->inlen, sizeof(x->in) - x->inlen, 0);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return;
        xchg_finish(x, -EIO);
        return;
    }
    x->inlen += (size_t)n;
    int r = x->complete(x, n == 0);
    if (r == -EAGAIN) {
        if (n != 0 && x->inlen < sizeof(x->in))
            return;
        r = -EPROTO; /* over the cap, or EOF where the parser wanted more */
    }
    xchg_finish(x, r);
}

/* Starts connecting; x->out holds the request. 0, or -errno with nothing
 * left to clean up (done is then never called). */
static int xchg_start(struct xchg *x, struct event_base *base, const struct sockaddr *sa,
                      socklen_t salen, uint64_t timeout_ms)
{
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    x->fd = fd;
    x->ev_w = event_new(base, fd, EV_WRITE | EV_PERSIST, xchg_write_cb, x);
    x->ev_r = event_new(base, fd, EV_READ | EV_PERSIST, xchg_read_cb, x);
    x->ev_timer = evtimer_new(base, xchg_timer_cb, x);
    struct timeval tv = ms_tv(timeout_ms);
    if (!x->ev_w || !x->ev_r || !x->ev_timer || evtimer_add(x->ev_timer, &tv) < 0) {
        xchg_cleanup(x);
        return -ENOMEM;
    }
    x->outoff = 0;
    x->inlen = 0;
    x->pending = 0;
    x->connecting = true;
    if (connect(fd, sa, salen) < 0 && errno != EINPROGRESS) {
        x->pending = map_conn_err(errno);
        event_active(x->ev_timer, EV_TIMEOUT, 1);
        return 0;
    }
    if (event_add(x->ev_w, NULL) < 0) {
        xchg_cleanup(x);
        return -ENOMEM;
    }
    return 0;
}

/* ---- PORT_PLEASE2 lookup ---- */

struct rc_epmd_lookup {
    struct xchg x;
    rc_epmd_lookup_cb cb;
    void *arg;
    uint16_t port;
};

static int lookup_complete(struct xchg *x, bool eof)
{
    if (!eof) /* EPMD closes after PORT2_RESP: only EOF makes the answer whole */
        return -EAGAIN;
    struct rc_epmd_lookup *l = container_of(x, struct rc_epmd_lookup, x);
    struct rc_epmd_node_info info;
    int r = rc_epmd_parse_port2_resp(x->in, x->inlen, true, &info);
    if (r == 0)
        l->port = info.port;
    return r;
}

static void lookup_done(struct xchg *x, int result)
{
    struct rc_epmd_lookup *l = container_of(x, struct rc_epmd_lookup, x);
    rc_epmd_lookup_cb cb = l->cb;
    void *arg = l->arg;
    uint16_t port = result == 0 ? l->port : 0;
    xchg_cleanup(x);
    free(l);
    cb(arg, result, port);
}

struct rc_epmd_lookup *rc_epmd_lookup_start(struct event_base *base, const struct sockaddr *addr,
                                            socklen_t addrlen, const char *alive,
                                            rc_epmd_lookup_cb cb, void *arg)
{
    if (!base || !addr || !cb ||
        !((addr->sa_family == AF_INET && addrlen >= sizeof(struct sockaddr_in)) ||
          (addr->sa_family == AF_INET6 && addrlen >= sizeof(struct sockaddr_in6)))) {
        errno = EINVAL;
        return NULL;
    }
    struct rc_epmd_lookup *l = calloc(1, sizeof(*l));
    if (!l) {
        errno = ENOMEM;
        return NULL;
    }
    xchg_init(&l->x);
    l->x.complete = lookup_complete;
    l->x.done = lookup_done;
    l->cb = cb;
    l->arg = arg;
    int r = rc_epmd_build_port_please2_req(l->x.out, sizeof(l->x.out), &l->x.outlen, alive);
    if (r == 0)
        r = xchg_start(&l->x, base, addr, addrlen, LOOKUP_TIMEOUT_MS);
    if (r < 0) {
        free(l);
        errno = -r;
        return NULL;
    }
    return l;
}

void rc_epmd_lookup_cancel(struct rc_epmd_lookup *l)
{
    if (!l)
        return;
    xchg_cleanup(&l->x);
    free(l);
}

/* ---- the keeper and the embedded server: state ---- */

enum epmd_state { ST_NONE, ST_SYSTEM, ST_EMBEDDED, ST_OFF };

enum conn_phase {
    CP_REQUEST, /* reading the one request (idle timeout) */
    CP_REPLY,   /* writing the answer, then closing */
    CP_KEEP,    /* answered ALIVE2: open until EOF or any byte */
};

struct srv_conn {
    struct rc_epmd *e;
    struct srv_conn *prev, *next;
    int fd;
    struct event *ev_r, *ev_w;
    enum conn_phase phase;
    bool local;   /* the peer is loopback: ALIVE2 allowed */
    int slot;     /* names[] entry this connection registered, -1 none */
    uint8_t *out; /* what send() did not take at once */
    size_t outlen, outoff;
    char peer[INET6_ADDRSTRLEN];
    size_t got;
    uint8_t in[2 + RC_EPMD_MAX_REQ - 1]; /* the largest request the length allows */
};

/* A BEAM node registered with the embedded server (conn set), or a name
 * that was, remembered so that re-registering gets creation + 1. */
struct srv_name {
    bool used;
    struct srv_conn *conn;
    struct rc_epmd_node_info info;
    uint32_t creation;
    uint64_t released_ms;
};

struct rc_epmd {
    struct event_base *base;
    enum rc_epmd_mode mode;
    enum epmd_state state;
    uint16_t epmd_port, dist_port;
    char alive[RC_EPMD_ALIVE_MAX + 1];
    uint64_t check_ms;
    uint32_t creation;
    bool closing;

    /* registration with the EPMD on 127.0.0.1 (auto, system) */
    struct event *ev_check;
    struct xchg reg;
    uint32_t reg_creation; /* from the ALIVE2 answer being parsed */
    int reg_fd;            /* the held registration socket, -1 none */
    struct event *ev_reg;  /* watches it for EOF */
    int last_fail;         /* the last failure logged at warn */
    struct rc_ratelimit rl_fail;

    /* embedded server */
    struct evconnlistener *lis;
    struct event *ev_resume;
    struct srv_conn *conns;
    unsigned nconns;
    unsigned nnames;
    struct srv_name names[SRV_SLOTS];
    struct rc_ratelimit rl_full, rl_names, rl_dup, rl_remote, rl_accept;
};

static const char *state_str(enum epmd_state st)
{
    switch (st) {
    case ST_SYSTEM:
        return "system";
    case ST_EMBEDDED:
        return "embedded";
    case ST_OFF:
        return "off";
    case ST_NONE:
        break;
    }
    return "none";
}

static void set_state(struct rc_epmd *e, enum epmd_state st, const char *why)
{
    if (e->state == st)
        return;
    rc_log_info("epmd: %s -> %s: %s", state_str(e->state), state_str(st), why);
    e->state = st;
}

/* A warning at most burst times a minute, saying how many were dropped. */
static void warn_limited(struct rc_ratelimit *rl, uint32_t burst, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void warn_limited(struct rc_ratelimit *rl, uint32_t burst, const char *fmt, ...)
{
    uint32_t suppressed = 0;
    if (!rc_ratelimit_allow(rl, rc_now_mono_ms(), burst, WARN_WINDOW_MS, &suppressed))
        return;
    char msg[RC_EPMD_ALIVE_MAX + 256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (suppressed)
        rc_log_warn("%s (%u similar warnings suppressed)", msg, suppressed);
    else
        rc_log_warn("%s", msg);
}

/* ---- embedded server: the name table ---- */

static bool own_name(const struct rc_epmd *e, const char *alive)
{
    return strcmp(e->alive, alive) == 0;
}

/* 0 with *ret_creation, -EEXIST (name taken), -ENOSPC (table full). */
static int names_register(struct rc_epmd *e, struct srv_conn *c,
                          const struct rc_epmd_node_info *info, uint32_t *ret_creation)
{
    if (own_name(e, info->alive))
        return -EEXIST;
    int same = -1, free_slot = -1, oldest = -1;
    for (int i = 0; i < SRV_SLOTS; i++) {
        struct srv_name *s = &e->names[i];
        if (!s->used) {
            if (free_slot < 0)
                free_slot = i;
            continue;
        }
        if (strcmp(s->info.alive, info->alive) == 0) {
            if (s->conn)
                return -EEXIST;
            same = i;
            break;
        }
        if (!s->conn && (oldest < 0 || s->released_ms < e->names[oldest].released_ms))
            oldest = i;
    }
    if (e->nnames >= SRV_MAX_NAMES)
        return -ENOSPC;
    uint32_t creation;
    int i;
    if (same >= 0) {
        i = same;
        creation = e->names[i].creation + 1; /* epmd's bump: at least 4 */
        if (creation < 4)
            creation = 4;
    } else {
        /* With SRV_SLOTS = 2 * SRV_MAX_NAMES one of the two always exists. */
        i = free_slot >= 0 ? free_slot : oldest;
        creation = time_creation(0);
    }
    struct srv_name *s = &e->names[i];
    s->used = true;
    s->conn = c;
    s->info = *info;
    s->creation = creation;
    c->slot = i;
    e->nnames++;
    *ret_creation = creation;
    return 0;
}

static void names_unregister(struct rc_epmd *e, struct srv_conn *c)
{
    struct srv_name *s = &e->names[c->slot];
    s->conn = NULL;
    s->released_ms = rc_now_mono_ms();
    c->slot = -1;
    e->nnames--;
    if (!e->closing)
        rc_log_info("epmd: unregistered %s (port %u)", s->info.alive, s->info.port);
}

static const struct srv_name *names_find(const struct rc_epmd *e, const char *alive)
{
    for (int i = 0; i < SRV_SLOTS; i++) {
        const struct srv_name *s = &e->names[i];
        if (s->used && s->conn && strcmp(s->info.alive, alive) == 0)
            return s;
    }
    return NULL;
}

/* ---- embedded server: connections ---- */

static void conn_free(struct srv_conn *c)
{
    struct rc_epmd *e = c->e;
    if (c->slot >= 0)
        names_unregister(e, c);
    if (c->prev)
        c->prev->next = c->next;
    else
        e->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    e->nconns--;
    if (c->ev_r)
        event_free(c->ev_r);
    if (c->ev_w)
        event_free(c->ev_w);
    close(c->fd);
    free(c->out);
    free(c);
}

/* The answer has left: a reply connection is done, a registration stays. */
static void conn_sent(struct srv_conn *c)
{
    free(c->out);
    c->out = NULL;
    if (c->phase == CP_REPLY)
        conn_free(c); /* close() after the kernel took all: a normal FIN */
}

static void conn_write_cb(evutil_socket_t fd, short what, void *arg)
{
    struct srv_conn *c = arg;
    if (what & EV_TIMEOUT) {
        conn_free(c);
        return;
    }
    ssize_t n = send(fd, c->out + c->outoff, c->outlen - c->outoff, MSG_NOSIGNAL);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return;
        conn_free(c);
        return;
    }
    c->outoff += (size_t)n;
    if (c->outoff < c->outlen)
        return;
    event_del(c->ev_w);
    conn_sent(c);
}

/* Sends what fits now and queues the rest. Frees c on error or when a reply
 * connection is finished: the caller must not touch c afterwards. */
static void conn_send(struct srv_conn *c, const uint8_t *data, size_t len)
{
    ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);
    if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            conn_free(c);
            return;
        }
        n = 0;
    }
    if ((size_t)n == len) {
        conn_sent(c);
        return;
    }
    struct timeval tv = ms_tv(SRV_IDLE_MS);
    c->outlen = len - (size_t)n;
    c->outoff = 0;
    c->out = malloc(c->outlen);
    if (!c->out || event_add(c->ev_w, &tv) < 0) {
        conn_free(c);
        return;
    }
    memcpy(c->out, data + n, c->outlen);
}

static void own_info(const struct rc_epmd *e, struct rc_epmd_node_info *info)
{
    memset(info, 0, sizeof(*info));
    info->port = e->dist_port;
    info->node_type = 77; /* what OTP's own erl_epmd registers, hidden or not */
    info->protocol = 0;
    info->high = 6;
    info->low = 5;
    snprintf(info->alive, sizeof(info->alive), "%s", e->alive);
}

/* Printable names only in the table: NAMES is a line protocol. */
static bool name_printable(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f || *s == ' ')
            return false;
    return true;
}

static void handle_alive2(struct srv_conn *c, const struct rc_epmd_req *req)
{
    struct rc_epmd *e = c->e;
    if (!c->local) {
        warn_limited(&e->rl_remote, 5, "epmd: refused ALIVE2 for %s from non-loopback %s",
                     req->info.alive, c->peer);
        conn_free(c);
        return;
    }
    if (!name_printable(req->info.alive)) {
        rc_log_debug("epmd: ALIVE2 with an unprintable name from %s", c->peer);
        conn_free(c);
        return;
    }
    uint32_t creation = 99; /* epmd's creation in a refusal */
    int r = names_register(e, c, &req->info, &creation);
    if (r == 0) {
        rc_log_info("epmd: registered %s (port %u, creation %u)", req->info.alive, req->info.port,
                    creation);
    } else if (r == -EEXIST) {
        /* A duplicate rollcall keeper retries every interval: rate-limited. */
        warn_limited(&e->rl_dup, 1, "epmd: refused ALIVE2 for %s (port %u): the name is taken",
                     req->info.alive, req->info.port);
        creation = 99;
    } else {
        warn_limited(&e->rl_names, 1, "epmd: refused ALIVE2 for %s: %d names registered already",
                     req->info.alive, SRV_MAX_NAMES);
        creation = 99;
    }
    uint8_t out[6];
    size_t len;
    if (req->info.high >= 6) {
        rc_epmd_build_alive2_x_resp(out, sizeof(out), &len, r == 0 ? 0 : 1, creation);
    } else {
        /* Before OTP 23: ALIVE2_RESP with epmd's old 1..3 creations. */
        uint16_t c16 = r == 0 ? (uint16_t)(creation % 3 + 1) : 99;
        out[0] = RC_EPMD_ALIVE2_RESP;
        out[1] = r == 0 ? 0 : 1;
        out[2] = (uint8_t)(c16 >> 8);
        out[3] = (uint8_t)c16;
        len = 4;
    }
    /* Like epmd, a refused duplicate stays open too; a full table does not. */
    c->phase = r == -ENOSPC ? CP_REPLY : CP_KEEP;
    if (c->phase == CP_KEEP) {
        event_del(c->ev_r);
        if (event_add(c->ev_r, NULL) < 0) { /* no idle limit from now on */
            conn_free(c);
            return;
        }
    } else {
        event_del(c->ev_r);
    }
    conn_send(c, out, len);
}

static void handle_port_please2(struct srv_conn *c, const struct rc_epmd_req *req)
{
    struct rc_epmd *e = c->e;
    struct rc_epmd_node_info own;
    const struct rc_epmd_node_info *info = NULL;
    if (own_name(e, req->info.alive)) {
        own_info(e, &own);
        info = &own;
    } else {
        const struct srv_name *s = names_find(e, req->info.alive);
        if (s)
            info = &s->info;
    }
    uint8_t out[16 + RC_EPMD_ALIVE_MAX];
    size_t len;
    if (rc_epmd_build_port2_resp(out, sizeof(out), &len, info) < 0) {
        conn_free(c);
        return;
    }
    c->phase = CP_REPLY;
    event_del(c->ev_r);
    conn_send(c, out, len);
}

static void handle_names(struct srv_conn *c)
{
    struct rc_epmd *e = c->e;
    /* "name " NAME " at port " 65535 "\n" for us and every registered node */
    size_t cap = 4 + (SRV_MAX_NAMES + 1) * (RC_EPMD_ALIVE_MAX + 32);
    uint8_t *out = malloc(cap);
    if (!out) {
        conn_free(c);
        return;
    }
    out[0] = 0;
    out[1] = 0;
    out[2] = (uint8_t)(e->epmd_port >> 8);
    out[3] = (uint8_t)e->epmd_port;
    size_t len = 4;
    len += (size_t)snprintf((char *)out + len, cap - len, "name %s at port %u\n", e->alive,
                            e->dist_port);
    for (int i = 0; i < SRV_SLOTS; i++) {
        const struct srv_name *s = &e->names[i];
        if (s->used && s->conn)
            len += (size_t)snprintf((char *)out + len, cap - len, "name %s at port %u\n",
                                    s->info.alive, s->info.port);
    }
    c->phase = CP_REPLY;
    event_del(c->ev_r);
    conn_send(c, out, len);
    free(out);
}

static void conn_read_cb(evutil_socket_t fd, short what, void *arg)
{
    struct srv_conn *c = arg;
    if (what & EV_TIMEOUT) {
        conn_free(c);
        return;
    }
    if (c->phase == CP_KEEP) {
        /* EOF, an error or any byte at all: the registration ends (epmd does
         * the same, and OTP never writes on this socket). Read what came so
         * that the close is a FIN, not a reset. */
        if (recv(fd, c->in, sizeof(c->in), 0) < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        conn_free(c);
        return;
    }
    ssize_t n = recv(fd, c->in + c->got, sizeof(c->in) - c->got, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0) {
        conn_free(c);
        return;
    }
    c->got += (size_t)n;
    struct rc_epmd_req req;
    size_t used = 0;
    int r = rc_epmd_parse_req(c->in, c->got, &used, &req);
    if (r == -EAGAIN && c->got < sizeof(c->in))
        return;
    if (r < 0 || used != c->got) { /* one request per connection, nothing after it */
        rc_log_debug("epmd: closing %s: bad request (%d, %zu bytes)", c->peer, r, c->got);
        conn_free(c);
        return;
    }
    switch (req.type) {
    case RC_EPMD_ALIVE2_REQ:
        handle_alive2(c, &req);
        break;
    case RC_EPMD_PORT_PLEASE2_REQ:
        handle_port_please2(c, &req);
        break;
    default:
        handle_names(c);
        break;
    }
}

static bool sa_loopback(const struct sockaddr *sa, int salen)
{
    if (sa->sa_family == AF_INET && salen >= (int)sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
        return (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6 && salen >= (int)sizeof(struct sockaddr_in6)) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_LOOPBACK(a))
            return true;
        return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
    }
    return false;
}

static void sa_str(const struct sockaddr *sa, char *out, size_t cap)
{
    const void *a = sa->sa_family == AF_INET6
                        ? (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr
                        : (const void *)&((const struct sockaddr_in *)sa)->sin_addr;
    if (!inet_ntop(sa->sa_family, a, out, (socklen_t)cap))
        snprintf(out, cap, "?");
}

/* SRV_MAX_CONNS, or a quarter of the descriptor limit if that is less: a
 * flood of EPMD clients must not take the descriptors the registry and the
 * distribution port need (systemd starts services with 1024). */
static unsigned srv_max_conns(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur / 4 < SRV_MAX_CONNS)
        return rl.rlim_cur / 4 > 16 ? (unsigned)(rl.rlim_cur / 4) : 16;
    return SRV_MAX_CONNS;
}

static void accept_cb(struct evconnlistener *lis, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *arg)
{
    struct rc_epmd *e = arg;
    if (e->nconns >= srv_max_conns()) {
        /* Make room by closing the oldest connection that has not sent its
         * request yet, as the kernel does with half-open connections: a
         * real client asks within a millisecond of connecting, so a flood
         * of idle connections cannot lock it out (refusing new ones would). */
        struct srv_conn *old = NULL;
        for (struct srv_conn *x = e->conns; x; x = x->next)
            if (x->phase == CP_REQUEST)
                old = x; /* the list is newest first */
        warn_limited(&e->rl_full, 1, "epmd: %u connections open, closing the oldest idle ones",
                     e->nconns);
        if (!old) {
            close(fd);
            return;
        }
        conn_free(old);
    }
    struct srv_conn *c = calloc(1, sizeof(*c));
    if (!c) {
        close(fd);
        return;
    }
    c->e = e;
    c->fd = fd;
    c->slot = -1;
    c->phase = CP_REQUEST;
    c->local = sa_loopback(sa, salen);
    sa_str(sa, c->peer, sizeof(c->peer));
    c->next = e->conns;
    if (e->conns)
        e->conns->prev = c;
    e->conns = c;
    e->nconns++;
    c->ev_r = event_new(e->base, fd, EV_READ | EV_PERSIST, conn_read_cb, c);
    c->ev_w = event_new(e->base, fd, EV_WRITE | EV_PERSIST, conn_write_cb, c);
    struct timeval tv = ms_tv(SRV_IDLE_MS);
    if (!c->ev_r || !c->ev_w || event_add(c->ev_r, &tv) < 0)
        conn_free(c);
}

static void resume_cb(evutil_socket_t fd, short what, void *arg)
{
    struct rc_epmd *e = arg;
    evconnlistener_enable(e->lis);
}

static void accept_error_cb(struct evconnlistener *lis, void *arg)
{
    struct rc_epmd *e = arg;
    warn_limited(&e->rl_accept, 1, "epmd: accept: %s", strerror(errno));
    /* Out of descriptors or memory: the socket stays readable, so pause
     * instead of spinning on it. */
    evconnlistener_disable(lis);
    struct timeval tv = ms_tv(SRV_RESUME_MS);
    evtimer_add(e->ev_resume, &tv);
}

/* A listening socket on [::] that also takes IPv4 (IPV6_V6ONLY off), so
 * that `-proto_dist inet6_tcp` nodes register too; 0.0.0.0 on a host
 * without IPv6. Returns the descriptor or -errno. */
static int server_socket(uint16_t port)
{
    int one = 1, zero = 0;
    struct sockaddr_in6 sin6;
    struct sockaddr_in sin = {
        .sin_family = AF_INET,
        .sin_port = htons(port),
        .sin_addr.s_addr = htonl(INADDR_ANY),
    };
    int fd = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    memset(&sin6, 0, sizeof(sin6));
    sin6.sin6_family = AF_INET6;
    sin6.sin6_port = htons(port);
    sin6.sin6_addr = in6addr_any;
    if (fd >= 0) {
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0 &&
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)) == 0 &&
            bind(fd, (struct sockaddr *)&sin6, sizeof(sin6)) == 0 && listen(fd, SOMAXCONN) == 0)
            return fd;
        if (errno != EADDRNOTAVAIL && errno != EAFNOSUPPORT) {
            int r = -errno;
            close(fd);
            return r;
        }
        close(fd);
    }
    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(fd, SOMAXCONN) < 0) {
        int r = -errno;
        close(fd);
        return r;
    }
    return fd;
}

static int server_start(struct rc_epmd *e)
{
    int fd = server_socket(e->epmd_port);
    if (fd < 0)
        return fd;
    e->ev_resume = evtimer_new(e->base, resume_cb, e);
    /* backlog 0: already listening */
    e->lis = evconnlistener_new(e->base, accept_cb, e,
                                LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
    if (!e->ev_resume || !e->lis) {
        if (e->lis)
            evconnlistener_free(e->lis);
        else
            close(fd);
        if (e->ev_resume)
            event_free(e->ev_resume);
        e->lis = NULL;
        e->ev_resume = NULL;
        return -ENOMEM;
    }
    evconnlistener_set_error_cb(e->lis, accept_error_cb);
    return 0;
}

static void server_stop(struct rc_epmd *e)
{
    while (e->conns)
        conn_free(e->conns);
    if (e->lis)
        evconnlistener_free(e->lis);
    if (e->ev_resume)
        event_free(e->ev_resume);
    e->lis = NULL;
    e->ev_resume = NULL;
}

/* ---- the keeper: registration with the EPMD on this host ---- */

static const char *fail_str(int r, char *buf, size_t cap)
{
    switch (r) {
    case -EEXIST:
        return "the name is already registered there (another node with this name on this "
               "host?)";
    case -ECONNREFUSED:
        return "no epmd is listening";
    case -ETIMEDOUT:
        return "no answer";
    case -ECONNRESET:
        return "it closed the connection without answering";
    case -EPROTO:
        return "malformed answer";
    default:
        snprintf(buf, cap, "%s", strerror(-r));
        return buf;
    }
}

/* Warns when the reason changes, and at most once a minute while it stays. */
static void note_failure(struct rc_epmd *e, int r, const char *what)
{
    char buf[128];
    uint32_t suppressed = 0;
    uint64_t now = rc_now_mono_ms();
    if (r != e->last_fail)
        e->rl_fail = (struct rc_ratelimit){0};
    enum rc_log_level lvl = rc_ratelimit_allow(&e->rl_fail, now, 1, WARN_WINDOW_MS, &suppressed)
                                ? RC_LOG_WARN
                                : RC_LOG_DEBUG;
    rc_log(lvl, "epmd: %s %s on port %u: %s; retrying every %llu ms", what, e->alive, e->epmd_port,
           fail_str(r, buf, sizeof(buf)), (unsigned long long)e->check_ms);
    e->last_fail = r;
}

static void become_embedded(struct rc_epmd *e)
{
    int r = server_start(e);
    if (r == -EADDRINUSE && e->last_fail != r) {
        /* An epmd (or another agent taking over) bound the port since the
         * refused connect: the normal race, register with it next time.
         * Only a second time in a row is worth a warning. */
        rc_log_info("epmd: port %u was taken meanwhile (an epmd starting?); registering with it "
                    "within %llu ms",
                    e->epmd_port, (unsigned long long)e->check_ms);
        e->last_fail = r;
        e->rl_fail = (struct rc_ratelimit){0};
        return;
    }
    if (r < 0) {
        note_failure(e, r, "cannot serve an embedded epmd for");
        return;
    }
    e->creation = time_creation(e->creation);
    e->last_fail = 0;
    char why[96];
    snprintf(why, sizeof(why), "serving an embedded epmd on port %u (creation %u)", e->epmd_port,
             e->creation);
    set_state(e, ST_EMBEDDED, why);
}

static void reg_watch_cb(evutil_socket_t fd, short what, void *arg)
{
    struct rc_epmd *e = arg;
    uint8_t b;
    ssize_t n = recv(fd, &b, 1, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    const char *why = n == 0 ? "closed" : n > 0 ? "sent unexpected bytes" : strerror(errno);
    event_free(e->ev_reg);
    e->ev_reg = NULL;
    close(e->reg_fd);
    e->reg_fd = -1;
    rc_log_warn("epmd: the epmd on port %u %s: registration of %s lost; redoing it within "
                "%llu ms",
                e->epmd_port, why, e->alive, (unsigned long long)e->check_ms);
    set_state(e, ST_NONE, "registration lost");
}

static int reg_complete(struct xchg *x, bool eof)
{
    struct rc_epmd *e = container_of(x, struct rc_epmd, reg);
    int r = rc_epmd_parse_alive2_resp(x->in, x->inlen, &e->reg_creation);
    return r == -EAGAIN && eof ? -ECONNRESET : r;
}

static void reg_done(struct xchg *x, int result)
{
    struct rc_epmd *e = container_of(x, struct rc_epmd, reg);
    if (result < 0) {
        xchg_cleanup(x);
        if (result == -ECONNREFUSED && e->mode == RC_EPMD_AUTO)
            become_embedded(e);
        else
            note_failure(e, result, "cannot register");
        return;
    }
    /* Keep the socket: the registration lives as long as it does. */
    e->reg_fd = x->fd;
    x->fd = -1;
    xchg_cleanup(x);
    e->ev_reg = event_new(e->base, e->reg_fd, EV_READ | EV_PERSIST, reg_watch_cb, e);
    if (!e->ev_reg || event_add(e->ev_reg, NULL) < 0) {
        if (e->ev_reg)
            event_free(e->ev_reg);
        e->ev_reg = NULL;
        close(e->reg_fd);
        e->reg_fd = -1;
        note_failure(e, -ENOMEM, "cannot watch the registration of");
        return;
    }
    e->creation = e->reg_creation;
    e->last_fail = 0;
    char why[RC_EPMD_ALIVE_MAX + 96];
    snprintf(why, sizeof(why), "registered %s (port %u) with the epmd on port %u, creation %u",
             e->alive, e->dist_port, e->epmd_port, e->creation);
    set_state(e, ST_SYSTEM, why);
}

static void reg_start(struct rc_epmd *e)
{
    xchg_init(&e->reg);
    e->reg.complete = reg_complete;
    e->reg.done = reg_done;
    int r = rc_epmd_build_alive2_req(e->reg.out, sizeof(e->reg.out), &e->reg.outlen, e->dist_port,
                                     e->alive);
    struct sockaddr_in sin = {
        .sin_family = AF_INET,
        .sin_port = htons(e->epmd_port),
        .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
    };
    if (r == 0)
        r = xchg_start(&e->reg, e->base, (struct sockaddr *)&sin, sizeof(sin), REGISTER_TIMEOUT_MS);
    if (r < 0)
        note_failure(e, r, "cannot register");
}

static void check_cb(evutil_socket_t fd, short what, void *arg)
{
    struct rc_epmd *e = arg;
    /* Embedded holds the port for good; a held registration is watched; an
     * attempt in flight ends by itself (REGISTER_TIMEOUT_MS at most). */
    if (e->state == ST_EMBEDDED || e->reg_fd >= 0 || xchg_busy(&e->reg))
        return;
    reg_start(e);
}

/* ---- public ---- */

struct rc_epmd *rc_epmd_new(struct event_base *base, enum rc_epmd_mode mode, uint16_t epmd_port,
                            const char *alive, uint16_t dist_port, uint64_t check_interval_ms,
                            char *err, size_t errlen)
{
    if (!base || !alive || !*alive || strlen(alive) > RC_EPMD_ALIVE_MAX || strchr(alive, '@')) {
        snprintf(err, errlen, "epmd: invalid node name '%s'", alive ? alive : "");
        return NULL;
    }
    if (mode != RC_EPMD_OFF && epmd_port == 0) {
        snprintf(err, errlen, "epmd: port 0");
        return NULL;
    }
    struct rc_epmd *e = calloc(1, sizeof(*e));
    if (!e) {
        snprintf(err, errlen, "epmd: out of memory");
        return NULL;
    }
    e->base = base;
    e->mode = mode;
    e->state = mode == RC_EPMD_OFF ? ST_OFF : ST_NONE;
    e->epmd_port = epmd_port;
    e->dist_port = dist_port;
    snprintf(e->alive, sizeof(e->alive), "%s", alive);
    e->check_ms = check_interval_ms < MIN_CHECK_MS ? MIN_CHECK_MS : check_interval_ms;
    e->creation = time_creation(0);
    e->reg_fd = -1;
    xchg_init(&e->reg);

    switch (mode) {
    case RC_EPMD_EMBEDDED: {
        int r = server_start(e);
        if (r < 0) {
            snprintf(err, errlen, "epmd: cannot listen on port %u: %s", epmd_port, strerror(-r));
            free(e);
            return NULL;
        }
        char why[64];
        snprintf(why, sizeof(why), "serving an embedded epmd on port %u", epmd_port);
        set_state(e, ST_EMBEDDED, why);
        break;
    }
    case RC_EPMD_AUTO:
    case RC_EPMD_SYSTEM: {
        struct timeval tv = ms_tv(e->check_ms);
        e->ev_check = event_new(base, -1, EV_PERSIST, check_cb, e);
        if (!e->ev_check || event_add(e->ev_check, &tv) < 0) {
            snprintf(err, errlen, "epmd: out of memory");
            rc_epmd_free(e);
            return NULL;
        }
        check_cb(-1, 0, e); /* the first attempt now, not one interval late */
        break;
    }
    case RC_EPMD_OFF:
        break;
    }
    return e;
}

uint32_t rc_epmd_creation(const struct rc_epmd *e)
{
    return e ? e->creation : time_creation(0);
}

const char *rc_epmd_state(const struct rc_epmd *e)
{
    return e ? state_str(e->state) : "none";
}

void rc_epmd_free(struct rc_epmd *e)
{
    if (!e)
        return;
    e->closing = true;
    if (e->ev_check)
        event_free(e->ev_check);
    xchg_cleanup(&e->reg);
    if (e->ev_reg)
        event_free(e->ev_reg);
    if (e->reg_fd >= 0)
        close(e->reg_fd);
    server_stop(e);
    free(e);
}

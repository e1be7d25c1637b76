/*
 * epmd_server.c - the embedded EPMD server on the libevent loop.
 *
 * Modelled on OTP's epmd_srv.c: the request length is checked against the
 * hard maximum before anything is buffered beyond it, one request per
 * connection, ALIVE2 only from loopback, the registration ends with its
 * connection. It adds what a daemon exposed on 0.0.0.0 needs: a connection
 * cap, an idle timeout, rate-limited warnings.
 *
 * Freeing: a connection may be freed from inside its own event callback, as
 * libevent allows for events (the callback returns at once and nothing
 * touches the object afterwards). Every path that frees one says so, and its
 * caller returns.
 */
#include "rollcall/epmd_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "epmd_int.h"
#include "rollcall/log.h"

#define SRV_MAX_CONNS 1024
#define SRV_MAX_NAMES 64              /* registered BEAM nodes */
#define SRV_SLOTS (2 * SRV_MAX_NAMES) /* plus as many remembered for their creation */
#define SRV_IDLE_MS 10000
#define SRV_RESUME_MS 100 /* accept paused after EMFILE and the like */

enum conn_phase {
    CP_REQUEST, /* reading the one request (idle timeout) */
    CP_REPLY,   /* writing the answer, then closing */
    CP_KEEP,    /* answered ALIVE2: open until EOF or any byte */
};

struct srv_conn {
    struct rc_epmd_server *s;
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

struct rc_epmd_server {
    struct event_base *base;
    uint16_t epmd_port, dist_port;
    char alive[RC_EPMD_ALIVE_MAX + 1];
    bool closing; /* rc_epmd_server_free: unregistrations are not news */
    struct evconnlistener *lis;
    struct event *ev_resume;
    struct srv_conn *conns;
    unsigned nconns;
    unsigned nnames;
    struct srv_name names[SRV_SLOTS];
    struct rc_ratelimit rl_full, rl_names, rl_dup, rl_remote, rl_accept;
};

/* A warning at most burst times a minute, saying how many were dropped. */
static void warn_limited(struct rc_ratelimit *rl, uint32_t burst, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void warn_limited(struct rc_ratelimit *rl, uint32_t burst, const char *fmt, ...)
{
    uint32_t suppressed = 0;
    char msg[RC_EPMD_ALIVE_MAX + 256];
    va_list ap;

    if (!rc_ratelimit_allow(rl, rc_now_mono_ms(), burst, RC_EPMD_WARN_WINDOW_MS, &suppressed))
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (suppressed != 0)
        rc_log_warn("%s (%u similar warnings suppressed)", msg, suppressed);
    else
        rc_log_warn("%s", msg);
}

/* ---- the name table ---- */

static bool own_name(const struct rc_epmd_server *s, const char *alive)
{
    return strcmp(s->alive, alive) == 0;
}

/* 0 with *ret_creation, -EEXIST (name taken), -ENOSPC (table full). */
static int names_register(struct rc_epmd_server *s, struct srv_conn *c,
                          const struct rc_epmd_node_info *info, uint32_t *ret_creation)
{
    int same = -1, free_slot = -1, oldest = -1;
    struct srv_name *n;
    uint32_t creation;
    int i;

    if (own_name(s, info->alive))
        return -EEXIST;
    for (i = 0; i < SRV_SLOTS; i++) {
        n = &s->names[i];
        if (!n->used) {
            if (free_slot < 0)
                free_slot = i;
            continue;
        }
        if (strcmp(n->info.alive, info->alive) == 0) {
            if (n->conn != NULL)
                return -EEXIST;
            same = i;
            break;
        }
        if (n->conn == NULL && (oldest < 0 || n->released_ms < s->names[oldest].released_ms))
            oldest = i;
    }
    if (s->nnames >= SRV_MAX_NAMES)
        return -ENOSPC;
    if (same >= 0) {
        i = same;
        creation = s->names[i].creation + 1; /* epmd's bump: at least 4 */
        if (creation < 4)
            creation = 4;
    } else {
        /* With SRV_SLOTS = 2 * SRV_MAX_NAMES one of the two always exists. */
        i = free_slot >= 0 ? free_slot : oldest;
        creation = rc_epmd_time_creation(0);
    }
    n = &s->names[i];
    n->used = true;
    n->conn = c;
    n->info = *info;
    n->creation = creation;
    c->slot = i;
    s->nnames++;
    *ret_creation = creation;
    return 0;
}

static void names_unregister(struct rc_epmd_server *s, struct srv_conn *c)
{
    struct srv_name *n = &s->names[c->slot];

    n->conn = NULL;
    n->released_ms = rc_now_mono_ms();
    c->slot = -1;
    s->nnames--;
    if (!s->closing)
        rc_log_info("epmd: unregistered %s (port %u)", n->info.alive, n->info.port);
}

static const struct srv_name *names_find(const struct rc_epmd_server *s, const char *alive)
{
    const struct srv_name *n;
    int i;

    for (i = 0; i < SRV_SLOTS; i++) {
        n = &s->names[i];
        if (n->used && n->conn != NULL && strcmp(n->info.alive, alive) == 0)
            return n;
    }
    return NULL;
}

/* ---- connections ---- */

static void conn_free(struct srv_conn *c)
{
    struct rc_epmd_server *s = c->s;

    if (c->slot >= 0)
        names_unregister(s, c);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    s->nconns--;
    if (c->ev_r != NULL)
        event_free(c->ev_r);
    if (c->ev_w != NULL)
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
    ssize_t n;

    if ((what & EV_TIMEOUT) != 0) {
        conn_free(c);
        return;
    }
    n = send(fd, c->out + c->outoff, c->outlen - c->outoff, MSG_NOSIGNAL);
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
    struct timeval tv = rc_epmd_ms_tv(SRV_IDLE_MS);
    ssize_t n;

    n = send(c->fd, data, len, MSG_NOSIGNAL);
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
    c->outlen = len - (size_t)n;
    c->outoff = 0;
    c->out = malloc(c->outlen);
    if (c->out == NULL || event_add(c->ev_w, &tv) < 0) {
        conn_free(c);
        return;
    }
    memcpy(c->out, data + n, c->outlen);
}

static void own_info(const struct rc_epmd_server *s, struct rc_epmd_node_info *info)
{
    memset(info, 0, sizeof(*info));
    info->port = s->dist_port;
    info->node_type = 77; /* what OTP's own erl_epmd registers, hidden or not */
    info->protocol = 0;
    info->high = 6;
    info->low = 5;
    snprintf(info->alive, sizeof(info->alive), "%s", s->alive);
}

/* Printable names only in the table: NAMES is a line protocol. */
static bool name_printable(const char *p)
{
    for (; *p != '\0'; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == ' ')
            return false;
    return true;
}

static void handle_alive2(struct srv_conn *c, const struct rc_epmd_req *req)
{
    struct rc_epmd_server *s = c->s;
    uint32_t creation = 99; /* epmd's creation in a refusal */
    uint8_t out[6];
    size_t len;
    uint16_t c16;
    int r;

    if (!c->local) {
        warn_limited(&s->rl_remote, 5, "epmd: refused ALIVE2 for %s from non-loopback %s",
                     req->info.alive, c->peer);
        conn_free(c);
        return;
    }
    if (!name_printable(req->info.alive)) {
        rc_log_debug("epmd: ALIVE2 with an unprintable name from %s", c->peer);
        conn_free(c);
        return;
    }
    r = names_register(s, c, &req->info, &creation);
    if (r == 0) {
        rc_log_info("epmd: registered %s (port %u, creation %u)", req->info.alive, req->info.port,
                    creation);
    } else if (r == -EEXIST) {
        /* A duplicate rollcall keeper retries every interval: rate-limited. */
        warn_limited(&s->rl_dup, 1, "epmd: refused ALIVE2 for %s (port %u): the name is taken",
                     req->info.alive, req->info.port);
        creation = 99;
    } else {
        warn_limited(&s->rl_names, 1, "epmd: refused ALIVE2 for %s: %d names registered already",
                     req->info.alive, SRV_MAX_NAMES);
        creation = 99;
    }
    if (req->info.high >= 6) {
        rc_epmd_build_alive2_x_resp(out, sizeof(out), &len, r == 0 ? 0 : 1, creation);
    } else {
        /* Before OTP 23: ALIVE2_RESP with epmd's old 1..3 creations. */
        c16 = r == 0 ? (uint16_t)(creation % 3 + 1) : 99;
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
    struct rc_epmd_server *s = c->s;
    struct rc_epmd_node_info own;
    const struct rc_epmd_node_info *info = NULL;
    const struct srv_name *n;
    uint8_t out[16 + RC_EPMD_ALIVE_MAX];
    size_t len;

    if (own_name(s, req->info.alive)) {
        own_info(s, &own);
        info = &own;
    } else {
        n = names_find(s, req->info.alive);
        if (n != NULL)
            info = &n->info;
    }
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
    struct rc_epmd_server *s = c->s;
    /* "name " NAME " at port " 65535 "\n" for us and every registered node */
    size_t cap = 4 + (SRV_MAX_NAMES + 1) * (RC_EPMD_ALIVE_MAX + 32);
    const struct srv_name *n;
    uint8_t *out;
    size_t len;
    int i;

    out = malloc(cap);
    if (out == NULL) {
        conn_free(c);
        return;
    }
    out[0] = 0;
    out[1] = 0;
    out[2] = (uint8_t)(s->epmd_port >> 8);
    out[3] = (uint8_t)s->epmd_port;
    len = 4;
    len += (size_t)snprintf((char *)out + len, cap - len, "name %s at port %u\n", s->alive,
                            s->dist_port);
    for (i = 0; i < SRV_SLOTS; i++) {
        n = &s->names[i];
        if (n->used && n->conn != NULL)
            len += (size_t)snprintf((char *)out + len, cap - len, "name %s at port %u\n",
                                    n->info.alive, n->info.port);
    }
    c->phase = CP_REPLY;
    event_del(c->ev_r);
    conn_send(c, out, len);
    free(out);
}

static void conn_read_cb(evutil_socket_t fd, short what, void *arg)
{
    struct srv_conn *c = arg;
    struct rc_epmd_req req;
    size_t used = 0;
    ssize_t n;
    int r;

    if ((what & EV_TIMEOUT) != 0) {
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
    n = recv(fd, c->in + c->got, sizeof(c->in) - c->got, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0) {
        conn_free(c);
        return;
    }
    c->got += (size_t)n;
    r = rc_epmd_parse_req(c->in, c->got, &used, &req);
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
    const struct sockaddr_in *sin;
    const struct in6_addr *a;

    if (sa->sa_family == AF_INET && salen >= (int)sizeof(struct sockaddr_in)) {
        sin = (const struct sockaddr_in *)sa;
        return (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6 && salen >= (int)sizeof(struct sockaddr_in6)) {
        a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_LOOPBACK(a) != 0)
            return true;
        return IN6_IS_ADDR_V4MAPPED(a) != 0 && a->s6_addr[12] == 127;
    }
    return false;
}

static void sa_str(const struct sockaddr *sa, char *out, size_t cap)
{
    const void *a = sa->sa_family == AF_INET6
                        ? (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr
                        : (const void *)&((const struct sockaddr_in *)sa)->sin_addr;

    if (inet_ntop(sa->sa_family, a, out, (socklen_t)cap) == NULL)
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
    struct rc_epmd_server *s = arg;
    struct timeval tv = rc_epmd_ms_tv(SRV_IDLE_MS);
    struct srv_conn *old = NULL;
    struct srv_conn *x;
    struct srv_conn *c;

    if (s->nconns >= srv_max_conns()) {
        /* Make room by closing the oldest connection that has not sent its
         * request yet, as the kernel does with half-open connections: a
         * real client asks within a millisecond of connecting, so a flood
         * of idle connections cannot lock it out (refusing new ones would). */
        for (x = s->conns; x != NULL; x = x->next)
            if (x->phase == CP_REQUEST)
                old = x; /* the list is newest first */
        warn_limited(&s->rl_full, 1, "epmd: %u connections open, closing the oldest idle ones",
                     s->nconns);
        if (old == NULL) {
            close(fd);
            return;
        }
        conn_free(old);
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        close(fd);
        return;
    }
    c->s = s;
    c->fd = fd;
    c->slot = -1;
    c->phase = CP_REQUEST;
    c->local = sa_loopback(sa, salen);
    sa_str(sa, c->peer, sizeof(c->peer));
    c->next = s->conns;
    if (s->conns != NULL)
        s->conns->prev = c;
    s->conns = c;
    s->nconns++;
    c->ev_r = event_new(s->base, fd, EV_READ | EV_PERSIST, conn_read_cb, c);
    c->ev_w = event_new(s->base, fd, EV_WRITE | EV_PERSIST, conn_write_cb, c);
    if (c->ev_r == NULL || c->ev_w == NULL || event_add(c->ev_r, &tv) < 0)
        conn_free(c);
}

static void resume_cb(evutil_socket_t fd, short what, void *arg)
{
    struct rc_epmd_server *s = arg;

    evconnlistener_enable(s->lis);
}

static void accept_error_cb(struct evconnlistener *lis, void *arg)
{
    struct rc_epmd_server *s = arg;
    struct timeval tv = rc_epmd_ms_tv(SRV_RESUME_MS);

    warn_limited(&s->rl_accept, 1, "epmd: accept: %s", strerror(errno));
    /* Out of descriptors or memory: the socket stays readable, so pause
     * instead of spinning on it. */
    evconnlistener_disable(lis);
    evtimer_add(s->ev_resume, &tv);
}

/* A listening socket on [::] that also takes IPv4 (IPV6_V6ONLY off), so
 * that `-proto_dist inet6_tcp` nodes register too; 0.0.0.0 on a host
 * without IPv6. With a bind address (the agent's `bind`, network byte
 * order), that IPv4 address only. Returns the descriptor, or -1 with errno. */
static int server_socket(uint16_t port, uint32_t bind_addr)
{
    struct sockaddr_in sin = {
        .sin_family = AF_INET,
        .sin_port = htons(port),
        .sin_addr.s_addr = bind_addr,
    };
    struct sockaddr_in6 sin6;
    int one = 1, zero = 0, err;
    int fd = -1;
    bool lo = bind_addr == RC_BIND_LO;

    if (lo)
        sin.sin_addr.s_addr = htonl(INADDR_ANY);
    if (bind_addr == htonl(INADDR_ANY) || lo)
        fd = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    memset(&sin6, 0, sizeof(sin6));
    sin6.sin6_family = AF_INET6;
    sin6.sin6_port = htons(port);
    sin6.sin6_addr = in6addr_any;
    if (fd >= 0) {
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0 &&
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)) == 0 &&
            (!lo || setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, "lo", 3) == 0) &&
            bind(fd, (struct sockaddr *)&sin6, sizeof(sin6)) == 0 && listen(fd, SOMAXCONN) == 0)
            return fd;
        err = errno;
        close(fd);
        if (err != EADDRNOTAVAIL && err != EAFNOSUPPORT) {
            errno = err;
            return -1;
        }
    }
    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        (lo && setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, "lo", 3) < 0) ||
        bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(fd, SOMAXCONN) < 0) {
        err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    return fd;
}

struct rc_epmd_server *rc_epmd_server_new(struct event_base *base, uint16_t epmd_port,
                                          const char *alive, uint16_t dist_port)
{
    return rc_epmd_server_new_at(base, htonl(INADDR_ANY), epmd_port, alive, dist_port);
}

struct rc_epmd_server *rc_epmd_server_new_at(struct event_base *base, uint32_t bind_addr,
                                             uint16_t epmd_port, const char *alive,
                                             uint16_t dist_port)
{
    struct rc_epmd_server *s;
    int err;
    int fd;

    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    s->base = base;
    s->epmd_port = epmd_port;
    s->dist_port = dist_port;
    snprintf(s->alive, sizeof(s->alive), "%s", alive);

    fd = server_socket(epmd_port, bind_addr);
    if (fd < 0) {
        err = errno;
        goto out_free;
    }
    s->ev_resume = evtimer_new(base, resume_cb, s);
    if (s->ev_resume == NULL) {
        err = ENOMEM;
        goto out_close_fd;
    }
    /* backlog 0: already listening; from here on the listener owns fd */
    s->lis = evconnlistener_new(base, accept_cb, s, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
                                0, fd);
    if (s->lis == NULL) {
        err = ENOMEM;
        goto out_free_resume;
    }
    evconnlistener_set_error_cb(s->lis, accept_error_cb);
    return s;

out_free_resume:
    event_free(s->ev_resume);
out_close_fd:
    close(fd);
out_free:
    free(s);
    errno = err;
    return NULL;
}

void rc_epmd_server_free(struct rc_epmd_server *s)
{
    if (s == NULL)
        return;
    s->closing = true;
    while (s->conns != NULL)
        conn_free(s->conns);
    if (s->lis != NULL)
        evconnlistener_free(s->lis);
    if (s->ev_resume != NULL)
        event_free(s->ev_resume);
    free(s);
}

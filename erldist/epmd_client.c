/*
 * epmd_client.c - EPMD as a client on the libevent loop: the one exchange
 * (connect, send one request, read the answer) shared with the keeper's
 * ALIVE2 (epmd_int.h), and the PORT_PLEASE2 lookup built on it.
 *
 * Freeing: an exchange may be finished from inside its own event callback,
 * as libevent allows for events (the callback returns at once and nothing
 * touches the object afterwards). A lookup is freed before its user callback
 * runs, so the callback may start or cancel other lookups; the finished
 * lookup's handle must not be used again. Never logs: the caller turns the
 * result into a reason.
 */
#include "rollcall/epmd_client.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "epmd_int.h"

#define LOOKUP_TIMEOUT_MS 10000 /* a backstop: callers cancel at their own deadline */

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

/* ---- one client exchange: connect, send, read ---- */

void rc_epmd_xchg_init(struct rc_epmd_xchg *x)
{
    memset(x, 0, sizeof(*x));
    x->fd = -1;
}

void rc_epmd_xchg_cleanup(struct rc_epmd_xchg *x)
{
    if (x->ev_w != NULL)
        event_free(x->ev_w);
    if (x->ev_r != NULL)
        event_free(x->ev_r);
    if (x->ev_timer != NULL)
        event_free(x->ev_timer);
    x->ev_w = x->ev_r = x->ev_timer = NULL;
    if (x->fd >= 0)
        close(x->fd);
    x->fd = -1;
}

bool rc_epmd_xchg_busy(const struct rc_epmd_xchg *x)
{
    return x->ev_timer != NULL;
}

static void xchg_finish(struct rc_epmd_xchg *x, int result)
{
    event_del(x->ev_w);
    event_del(x->ev_r);
    event_del(x->ev_timer);
    x->done(x, result); /* x may be gone now */
}

static void xchg_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct rc_epmd_xchg *x = arg;

    xchg_finish(x, x->pending != 0 ? x->pending : -ETIMEDOUT);
}

static void xchg_write_cb(evutil_socket_t fd, short what, void *arg)
{
    struct rc_epmd_xchg *x = arg;
    ssize_t n;

    if (x->connecting) {
        int err = 0;
        socklen_t len = sizeof(err);

        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
            err = errno;
        if (err == EINPROGRESS || err == EINTR)
            return;
        if (err != 0) {
            xchg_finish(x, map_conn_err(err));
            return;
        }
        x->connecting = false;
    }
    n = send(fd, x->out + x->outoff, x->outlen - x->outoff, MSG_NOSIGNAL);
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
    struct rc_epmd_xchg *x = arg;
    ssize_t n;
    int r;

    n = recv(fd, x->in + x->inlen, sizeof(x->in) - x->inlen, 0);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return;
        xchg_finish(x, -EIO);
        return;
    }
    x->inlen += (size_t)n;
    r = x->complete(x, n == 0);
    if (r == -EAGAIN) {
        if (n != 0 && x->inlen < sizeof(x->in))
            return;
        r = -EPROTO; /* over the cap, or EOF where the parser wanted more */
    }
    xchg_finish(x, r);
}

int rc_epmd_xchg_start(struct rc_epmd_xchg *x, struct event_base *base, const struct sockaddr *sa,
                       socklen_t salen, uint64_t timeout_ms)
{
    struct timeval tv = rc_epmd_ms_tv(timeout_ms);
    int fd;

    fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    x->fd = fd;
    x->ev_w = event_new(base, fd, EV_WRITE | EV_PERSIST, xchg_write_cb, x);
    x->ev_r = event_new(base, fd, EV_READ | EV_PERSIST, xchg_read_cb, x);
    x->ev_timer = evtimer_new(base, xchg_timer_cb, x);
    if (x->ev_w == NULL || x->ev_r == NULL || x->ev_timer == NULL ||
        evtimer_add(x->ev_timer, &tv) < 0) {
        rc_epmd_xchg_cleanup(x);
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
        rc_epmd_xchg_cleanup(x);
        return -ENOMEM;
    }
    return 0;
}

/* ---- PORT_PLEASE2 lookup ---- */

struct rc_epmd_lookup {
    struct rc_epmd_xchg x;
    rc_epmd_lookup_cb cb;
    void *arg;
    uint16_t port;
};

static int lookup_complete(struct rc_epmd_xchg *x, bool eof)
{
    struct rc_epmd_lookup *l = rc_epmd_container_of(x, struct rc_epmd_lookup, x);
    struct rc_epmd_node_info info;
    int r;

    if (!eof) /* EPMD closes after PORT2_RESP: only EOF makes the answer whole */
        return -EAGAIN;
    r = rc_epmd_parse_port2_resp(x->in, x->inlen, true, &info);
    if (r == 0)
        l->port = info.port;
    return r;
}

static void lookup_done(struct rc_epmd_xchg *x, int result)
{
    struct rc_epmd_lookup *l = rc_epmd_container_of(x, struct rc_epmd_lookup, x);
    rc_epmd_lookup_cb cb = l->cb;
    void *arg = l->arg;
    uint16_t port = result == 0 ? l->port : 0;

    rc_epmd_xchg_cleanup(x);
    free(l);
    cb(arg, result, port);
}

static bool addr_ok(const struct sockaddr *addr, socklen_t addrlen)
{
    if (addr == NULL)
        return false;
    return (addr->sa_family == AF_INET && addrlen >= sizeof(struct sockaddr_in)) ||
           (addr->sa_family == AF_INET6 && addrlen >= sizeof(struct sockaddr_in6));
}

struct rc_epmd_lookup *rc_epmd_lookup_start(struct event_base *base, const struct sockaddr *addr,
                                            socklen_t addrlen, const char *alive,
                                            rc_epmd_lookup_cb cb, void *arg)
{
    struct rc_epmd_lookup *l;
    int r;

    if (base == NULL || cb == NULL || !addr_ok(addr, addrlen)) {
        errno = EINVAL;
        return NULL;
    }
    l = calloc(1, sizeof(*l));
    if (l == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    rc_epmd_xchg_init(&l->x);
    l->x.complete = lookup_complete;
    l->x.done = lookup_done;
    l->cb = cb;
    l->arg = arg;
    r = rc_epmd_build_port_please2_req(l->x.out, sizeof(l->x.out), &l->x.outlen, alive);
    if (r == 0)
        r = rc_epmd_xchg_start(&l->x, base, addr, addrlen, LOOKUP_TIMEOUT_MS);
    if (r < 0) {
        free(l);
        errno = -r;
        return NULL;
    }
    return l;
}

void rc_epmd_lookup_cancel(struct rc_epmd_lookup *l)
{
    if (l == NULL)
        return;
    rc_epmd_xchg_cleanup(&l->x);
    free(l);
}

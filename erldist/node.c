/*
 * node.c - this process as a hidden Erlang node: the distribution listener,
 * one connection per peer, pings out, answers in.
 *
 * Shape: every connection is a small state machine driven by its
 * bufferevent (EPMD lookup -> connect -> handshake -> up). The byte-level
 * work lives elsewhere (handshake.c, msg.c, epmd*.c) so that this file only
 * moves bytes and decides; nothing here parses a frame itself beyond the
 * 4-byte length. Connections are indexed by peer name so a sweep reuses an
 * established one and a ping is one round trip.
 *
 * Freeing: a connection that closes is unlinked from the name index at once
 * (so nothing finds it again) but freed only from the node's reaper event,
 * after the callback that closed it has returned (docs/conventions.md, "Ownership"). Ping
 * callbacks are likewise only ever called from the loop, never from inside
 * rc_node_ping, so a caller may start and cancel pings from any callback.
 *
 * One housekeeping timer per node (1 s) handles handshake time-outs, ticks,
 * silent peers and lingering refusals for all connections: cheaper than a
 * timer each, and the precision needed is a second.
 *
 * Closing with something to say (a refusal status): conn_close_flushed
 * takes the connection out of the index at once, like conn_close, but keeps
 * its bufferevent until the output has gone (the write callback), shuts the
 * write side and waits for the peer's close, at most RC_NODE_LINGER_MS.
 * Writing straight to the socket instead does not work: a socket
 * bufferevent keeps the front of its output buffer frozen, so evbuffer_write
 * sends nothing and the close that follows loses the status.
 *
 * TLS (docs/tls.md): outbound connections get a TLS bufferevent from the
 * module; an inbound one, when TLS is configured, is first peeked at
 * (CS_SNIFF, MSG_PEEK, nothing consumed) to see whether it opens with a TLS
 * record or a plain handshake frame.
 */
#include "rollcall/node.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>

#include "rollcall/bytes.h"
#include "rollcall/epmd_server.h"
#include "rollcall/log.h"
#include "rollcall/msg.h"
#include "rollcall/probe.h"
#include "rollcall/tls.h"

#define CONN_BUCKETS 1024 /* name index; a power of two */

enum conn_state {
    CS_SNIFF,        /* inbound, TLS configured: waiting for the first bytes */
    CS_EPMD,         /* waiting for the peer's EPMD to tell the port */
    CS_CONNECTING,   /* TCP connect in progress */
    CS_HANDSHAKE,    /* handshake frames */
    CS_UP,           /* Len:32 packets */
    CS_WAIT_INBOUND, /* the peer answered nok: its own connection to us wins */
    CS_CLOSING,      /* closed for us; flushing a refusal, then waiting for the peer's close */
    CS_DEAD,         /* closed, waiting for the reaper */
};

struct rc_conn;

struct rc_ping {
    struct rc_ping *next, *prev; /* in conn->pings */
    struct rc_conn *conn;
    struct rc_node *node;
    uint32_t ref[3];
    uint32_t creation; /* ours when sent: a reply must carry it in the reference */
    bool sent;
    uint64_t start_us;
    struct event *timer;
    enum rc_reason deferred; /* a failure to deliver from the loop */
    bool has_deferred;
    rc_ping_cb cb;
    void *arg;
};

struct rc_conn {
    struct rc_conn *next, *prev; /* node->conns (all live connections) */
    struct rc_node *node;
    char peer[RC_NAME_MAX + 1]; /* "" for an inbound one until the handshake names it */
    char addr[64];              /* "ip:port" for logs */
    bool inbound;
    bool tls;              /* bev is a TLS bufferevent */
    bool indexed;          /* findable by peer name */
    struct rc_conn *hnext; /* next in its name-index bucket */
    enum conn_state st;
    struct bufferevent *bev;
    evutil_socket_t fd;     /* CS_SNIFF: the accepted socket, before bev exists */
    struct event *sniff_ev; /* CS_SNIFF: readable / re-peek timer */
    uint64_t closing_ms;    /* CS_CLOSING: when */
    struct rc_epmd_lookup *lookup;
    struct sockaddr_storage ss;
    socklen_t sslen;
    struct rc_hs hs;
    uint64_t opened_ms, last_read_ms, last_write_ms;
    struct rc_ping *pings;
    uint64_t probe_window_ms; /* probe messages: this second's start, and count */
    uint32_t probe_count;
    bool ping_timed_out; /* since the last answer: worth asking TCP whether it is stuck */
    /* A connection stuck in TCP back-off is replaced, never just closed
     * (the peer would take the close for a crash): a successor is dialled
     * beside it, unindexed, and takes the pings; once it is up it takes the
     * name and the old one closes quietly (replaced); if it fails, the old
     * one stays as it was. The peer's acceptor drops its side of the old
     * one quietly when the successor's handshake names us. */
    bool replaced;
    struct rc_conn *old, *successor;
};

struct rc_node {
    struct event_base *base;
    char name[RC_NAME_MAX + 1];
    uint8_t cookie[RC_COOKIE_MAX];
    size_t cookie_len;
    uint16_t epmd_port;
    uint16_t port;
    uint32_t bind_addr; /* network byte order; INADDR_ANY = every interface */
    uint32_t fixed_creation;
    uint64_t silence_ms;
    struct rc_tls_ctx *tls; /* NULL: plain distribution */
    bool tls_required;
    struct evconnlistener *listener;
    struct rc_epmd *epmd;
    struct rc_conn *conns;               /* live */
    struct rc_conn *index[CONN_BUCKETS]; /* live and named, by peer name */
    struct rc_conn *dead;                /* waiting for the reaper */
    struct event *reaper;
    struct event *housekeeping;
    struct event *accept_resume; /* re-enables the listener after EMFILE */
    uint32_t max_conns;          /* RC_NODE_MAX_CONNS, or less under a low descriptor limit */
    uint32_t nconns, nhandshakes;
    uint32_t ref_counter;
    uint64_t ref_key; /* drawn once: ping references are mix(ref_key + counter) */
    uint32_t pid_id;
    rc_peer_down_cb down_cb;
    void *down_arg;
    rc_peer_in_cb in_cb;
    void *in_arg;
    rc_node_msg_cb msg_cb; /* packets not handled here (rpc.c) */
    void *msg_arg;
    struct rc_node_stats stats;
    struct rc_ratelimit rl_refuse, rl_inbound;
    rc_probe_msg_cb probe_cb;
    void *probe_arg;
};

static void conn_close(struct rc_conn *c, enum rc_reason why, bool report_down);
static void conn_read_cb(struct bufferevent *bev, void *arg);
static void conn_event_cb(struct bufferevent *bev, short what, void *arg);
static int handle_probe(struct rc_conn *c, const uint8_t *pkt, size_t len);
static void conn_close_flushed(struct rc_conn *c, enum rc_reason why);
static void log_inbound_failure(struct rc_conn *c, enum rc_reason r, const char *why);

/* ---- helpers ---- */

static uint32_t random_u32(void)
{
    uint32_t v = 0;
    /* getrandom(2) from the kernel's pool; 4 bytes never block once the
     * pool is initialised, and fail only on a kernel too old to have it */
    if (getrandom(&v, sizeof v, GRND_NONBLOCK) != (ssize_t)sizeof v) {
        v = (uint32_t)rc_now_mono_us() ^ (uint32_t)getpid() * 2654435761u;
    }
    return v;
}

void rc_node_raise_fd_limit(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max > 65536 ? 65536 : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* splitmix64's finaliser: a bijection that scatters consecutive inputs. */
static uint64_t ref_mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static void addr_to_str(const struct sockaddr *sa, char *out, size_t outlen)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    uint16_t port = 0;
    bool v6 = false;

    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
        port = ntohs(in->sin_port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        port = ntohs(in6->sin6_port);
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) != 0) {
            /* an IPv4 peer on the dual-stack listener */
            inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], ip, sizeof ip);
        } else {
            inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
            v6 = true;
        }
    }
    snprintf(out, outlen, v6 ? "[%s]:%u" : "%s:%u", ip, port);
}

static int parse_ip(const char *ip, uint16_t port, struct sockaddr_storage *ss, socklen_t *len)
{
    struct sockaddr_in *in;
    struct sockaddr_in6 *in6;

    memset(ss, 0, sizeof *ss);
    in = (struct sockaddr_in *)ss;
    in6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, ip, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons(port);
        *len = sizeof *in;
        return 0;
    }
    if (inet_pton(AF_INET6, ip, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(port);
        *len = sizeof *in6;
        return 0;
    }
    return -EINVAL;
}

static void set_port(struct sockaddr_storage *ss, uint16_t port)
{
    if (ss->ss_family == AF_INET)
        ((struct sockaddr_in *)ss)->sin_port = htons(port);
    else
        ((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
}

static enum rc_reason reason_from_errno(int err)
{
    switch (err) {
    case ECONNREFUSED:
        return RC_REASON_CONNECT_REFUSED;
    case EHOSTUNREACH:
    case ENETUNREACH:
        return RC_REASON_UNREACHABLE;
    case ETIMEDOUT:
        return RC_REASON_TIMEOUT;
    case EMFILE: /* our side, not the peer's */
    case ENFILE:
    case ENOBUFS:
    case ENOMEM:
        return RC_REASON_LOCAL_ERROR;
    default:
        return RC_REASON_CONNECTION_LOST;
    }
}

uint32_t rc_node_creation(const struct rc_node *n)
{
    if (n->epmd != NULL)
        return rc_epmd_creation(n->epmd);
    return n->fixed_creation;
}

const char *rc_node_name(const struct rc_node *n)
{
    return n->name;
}

uint16_t rc_node_port(const struct rc_node *n)
{
    return n->port;
}

void rc_node_on_peer_in(struct rc_node *n, rc_peer_in_cb cb, void *arg)
{
    n->in_cb = cb;
    n->in_arg = arg;
}

void rc_node_on_peer_down(struct rc_node *n, rc_peer_down_cb cb, void *arg)
{
    n->down_cb = cb;
    n->down_arg = arg;
}

void rc_node_stats(const struct rc_node *n, struct rc_node_stats *ret)
{
    *ret = n->stats;
    ret->conns_open = n->nconns;
    ret->handshakes_pending = n->nhandshakes;
}

/* FNV-1a: short keys, no adversary can pick our bucket count cheaply, and a
 * bad distribution costs only a longer chain. */
static uint32_t name_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s != '\0'; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h & (CONN_BUCKETS - 1);
}

static void index_add(struct rc_node *n, struct rc_conn *c)
{
    uint32_t b = name_hash(c->peer);
    c->hnext = n->index[b];
    n->index[b] = c;
    c->indexed = true;
}

static void index_del(struct rc_node *n, struct rc_conn *c)
{
    if (!c->indexed)
        return;
    for (struct rc_conn **pp = &n->index[name_hash(c->peer)]; *pp != NULL; pp = &(*pp)->hnext) {
        if (*pp == c) {
            *pp = c->hnext;
            break;
        }
    }
    c->hnext = NULL;
    c->indexed = false;
}

static struct rc_conn *find_conn(struct rc_node *n, const char *peer, const struct rc_conn *except)
{
    for (struct rc_conn *c = n->index[name_hash(peer)]; c != NULL; c = c->hnext)
        if (c != except && strcmp(c->peer, peer) == 0)
            return c;
    return NULL;
}

/* ---- pings ---- */

static void ping_detach(struct rc_ping *p)
{
    struct rc_conn *c = p->conn;
    if (c == NULL)
        return;
    if (p->prev != NULL)
        p->prev->next = p->next;
    else
        c->pings = p->next;
    if (p->next != NULL)
        p->next->prev = p->prev;
    p->next = p->prev = NULL;
    p->conn = NULL;
}

static void ping_attach(struct rc_conn *c, struct rc_ping *p)
{
    p->conn = c;
    p->prev = NULL;
    p->next = c->pings;
    if (c->pings != NULL)
        c->pings->prev = p;
    c->pings = p;
}

static void ping_free(struct rc_ping *p)
{
    ping_detach(p);
    if (p->timer != NULL)
        event_free(p->timer);
    free(p);
}

/* Delivers a result and frees the ping. The callback may start new pings. */
static void ping_finish(struct rc_ping *p, enum rc_reason r)
{
    rc_ping_cb cb = p->cb;
    void *arg = p->arg;
    uint64_t rtt = rc_now_mono_us() - p->start_us;
    ping_free(p);
    cb(arg, r, rtt);
}

/* Moves from's pings to to, as not yet sent: an answer can only come on
 * the connection they are sent on. */
static void move_pings(struct rc_conn *from, struct rc_conn *to)
{
    while (from->pings != NULL) {
        struct rc_ping *p = from->pings;
        ping_detach(p);
        p->sent = false;
        ping_attach(to, p);
    }
}

/* Fails every ping of c. The results are delivered from the loop (each
 * ping's own timer, made active now), never from inside the call that
 * closed the connection: that may be rc_node_ping itself. */
static void conn_fail_pings(struct rc_conn *c, enum rc_reason r)
{
    while (c->pings != NULL) {
        struct rc_ping *p = c->pings;
        ping_detach(p);
        p->has_deferred = true;
        p->deferred = r;
        event_active(p->timer, EV_TIMEOUT, 0);
    }
}

static void conn_write(struct rc_conn *c, const void *data, size_t len)
{
    struct evbuffer *out;

    if (c->bev == NULL || c->st == CS_DEAD)
        return;
    out = bufferevent_get_output(c->bev);
    if (evbuffer_get_length(out) + len > RC_NODE_OUT_MAX) {
        /* The peer stopped reading long ago; holding more helps nobody. */
        conn_close(c, RC_REASON_TIMEOUT, true);
        return;
    }
    bufferevent_write(c->bev, data, len);
    c->last_write_ms = rc_now_mono_ms();
}

static void ping_send(struct rc_conn *c, struct rc_ping *p)
{
    uint8_t buf[RC_MSG_OUT_MAX];
    size_t len;
    struct rc_node *n = c->node;
    if (rc_msg_build_is_auth(buf, sizeof buf, &len, n->name, rc_node_creation(n), n->pid_id,
                             p->ref) != 0) {
        /* Cannot happen with a valid name; fail the ping rather than assert. */
        ping_detach(p);
        p->has_deferred = true;
        p->deferred = RC_REASON_PROTOCOL_ERROR;
        event_active(p->timer, EV_TIMEOUT, 0);
        return;
    }
    p->sent = true;
    p->creation = rc_node_creation(n);
    n->stats.pings_sent++;
    conn_write(c, buf, len);
}

static void ping_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct rc_ping *p = arg;
    struct rc_conn *c;
    if (p->has_deferred) {
        ping_finish(p, p->deferred);
        return;
    }
    c = p->conn;
    ping_detach(p);
    if (c != NULL && c->st == CS_UP)
        c->ping_timed_out = true;
    /* A connection that never came up and has nobody waiting on it is not
     * worth keeping: the next sweep starts afresh (a frozen peer's
     * half-open handshake would otherwise pin memory). */
    if (c != NULL && c->st != CS_UP && c->pings == NULL)
        conn_close(c, RC_REASON_TIMEOUT, false);
    ping_finish(p, RC_REASON_TIMEOUT);
}

void rc_ping_cancel(struct rc_ping *p)
{
    if (p != NULL)
        ping_free(p);
}

/* ---- connection life ---- */

static void reap_cb(evutil_socket_t fd, short what, void *arg)
{
    struct rc_node *n = arg;
    while (n->dead != NULL) {
        struct rc_conn *c = n->dead;
        n->dead = c->next;
        if (c->sniff_ev != NULL)
            event_free(c->sniff_ev);
        if (c->bev != NULL)
            bufferevent_free(c->bev);
        else if (c->fd >= 0)
            evutil_closesocket(c->fd); /* closed while still sniffing */
        rc_epmd_lookup_cancel(c->lookup);
        free(c);
    }
}

static void conn_unlink(struct rc_conn *c)
{
    struct rc_node *n = c->node;
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        n->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    c->next = c->prev = NULL;
}

/* Moves c from the live list to the reaper. */
static void conn_bury(struct rc_conn *c)
{
    struct rc_node *n = c->node;

    c->st = CS_DEAD;
    if (c->bev != NULL)
        bufferevent_disable(c->bev, EV_READ | EV_WRITE);
    if (c->sniff_ev != NULL)
        event_del(c->sniff_ev);
    rc_epmd_lookup_cancel(c->lookup);
    c->lookup = NULL;
    conn_unlink(c);
    n->nconns--;
    c->next = n->dead;
    n->dead = c;
    event_active(n->reaper, EV_TIMEOUT, 0);
}

/* Takes c out of service: no longer findable, no longer a pending
 * handshake, its pings failed with why. Returns whether it was up. */
static bool conn_retire(struct rc_conn *c, enum rc_reason why)
{
    struct rc_node *n = c->node;
    bool was_up = c->st == CS_UP;

    if (c->inbound && (c->st == CS_HANDSHAKE || c->st == CS_SNIFF))
        n->nhandshakes--;
    index_del(n, c);
    conn_fail_pings(c, why);
    return was_up;
}

/* Closes c: fails its pings with why, reports a peer-down if it was up and
 * report_down, and queues it for the reaper. Safe to call from c's own
 * callbacks; c stays valid until the loop comes back around. A lingering
 * connection (CS_CLOSING) is simply handed to the reaper. */
static void conn_close(struct rc_conn *c, enum rc_reason why, bool report_down)
{
    struct rc_node *n = c->node;
    char peer[RC_NAME_MAX + 1];
    struct rc_conn *succ;
    bool was_up, quiet;

    if (c->st == CS_DEAD)
        return;
    if (c->st == CS_CLOSING) {
        conn_bury(c);
        return;
    }
    /* replaced: its successor is up; a successor in flight: the peer
     * dropped this one for it (its acceptor does when the successor's
     * handshake names us). Neither is a peer going down. */
    quiet = c->replaced || c->successor != NULL;
    if (c->old != NULL) {
        /* a successor that failed before it came up: the old one stays */
        c->old->successor = NULL;
        c->old = NULL;
    }
    succ = c->successor;
    if (succ != NULL) {
        /* the old one went first: the successor, still in its handshake,
         * takes the name (below) and the old one's pings (they wait for it) */
        c->successor = NULL;
        succ->old = NULL;
        move_pings(c, succ);
    }
    snprintf(peer, sizeof peer, "%s", c->peer);
    was_up = conn_retire(c, why); /* pings fail from the loop, not now */
    conn_bury(c);
    if (succ != NULL) {
        if (find_conn(n, succ->peer, NULL) == NULL)
            index_add(n, succ);
        else
            conn_close(succ, why, false);
    }
    if (was_up && report_down && !quiet && n->down_cb != NULL && peer[0] != '\0')
        n->down_cb(n->down_arg, peer, why);
}

static void closing_read_cb(struct bufferevent *bev, void *arg)
{
    /* Whatever the peer still sends is read and dropped: closing a socket
     * with unread input makes the kernel send a reset, and a reset can
     * overtake the status we want the peer to read. */
    evbuffer_drain(bufferevent_get_input(bev), evbuffer_get_length(bufferevent_get_input(bev)));
}

static void closing_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct rc_conn *c = arg;

    if ((what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) != 0)
        conn_bury(c);
}

/* The refusal has left our buffer: shut the write side (the peer reads it,
 * then EOF) and wait for the peer to close. A TLS connection has no plain
 * write side to shut: it is done. */
static void closing_write_cb(struct bufferevent *bev, void *arg)
{
    struct rc_conn *c = arg;
    int fd;

    if (c->st != CS_CLOSING || evbuffer_get_length(bufferevent_get_output(bev)) != 0)
        return;
    if (c->tls) {
        conn_bury(c);
        return;
    }
    fd = bufferevent_getfd(bev);
    if (fd < 0 || shutdown(fd, SHUT_WR) != 0)
        conn_bury(c);
    else
        bufferevent_disable(bev, EV_WRITE);
}

/* Like conn_close (no peer-down report), but what c's output holds still
 * reaches the peer first: see the top of this file. */
static void conn_close_flushed(struct rc_conn *c, enum rc_reason why)
{
    if (c->st == CS_DEAD || c->st == CS_CLOSING)
        return;
    if (c->bev == NULL) {
        conn_close(c, why, false);
        return;
    }
    conn_retire(c, why);
    c->st = CS_CLOSING;
    c->closing_ms = rc_now_mono_ms();
    bufferevent_setcb(c->bev, closing_read_cb, closing_write_cb, closing_event_cb, c);
    bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    closing_write_cb(c->bev, c); /* nothing left to send: shut down now */
}

static struct rc_conn *conn_new(struct rc_node *n, bool inbound)
{
    struct rc_conn *c;

    if (n->nconns >= n->max_conns)
        return NULL;
    c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->node = n;
    c->inbound = inbound;
    c->fd = -1;
    c->opened_ms = c->last_read_ms = c->last_write_ms = rc_now_mono_ms();
    c->next = n->conns;
    if (n->conns != NULL)
        n->conns->prev = c;
    n->conns = c;
    n->nconns++;
    return c;
}

static void hs_flush(struct rc_conn *c, struct rc_hs_out *out)
{
    if (out->len != 0) {
        conn_write(c, out->data, out->len);
        out->len = 0;
    }
}

static void conn_up(struct rc_conn *c)
{
    if (c->inbound)
        c->node->nhandshakes--;
    c->st = CS_UP;
    rc_log_debug("dist: connection to %s up (%s, %s)", c->peer, c->addr,
                 c->inbound ? "inbound" : "outbound");
    if (c->old != NULL) {
        /* the connection this one replaces (stuck in back-off) goes
         * quietly, and this one takes its name */
        struct rc_conn *o = c->old;
        c->old = NULL;
        o->successor = NULL;
        o->replaced = true;
        move_pings(o, c); /* sent below, on this one */
        index_del(c->node, o);
        conn_close(o, RC_REASON_TIMEOUT, false);
        index_add(c->node, c);
    }
    if (c->inbound && c->node->in_cb != NULL)
        c->node->in_cb(c->node->in_arg, c->peer);
    /* Send the pings that waited for the connection. Collect first: a
     * write failure may close c and fail them. */
    for (struct rc_ping *p = c->pings; p != NULL && c->st == CS_UP; p = p->next)
        if (!p->sent)
            ping_send(c, p);
}

/* Closes c and its successor in flight, if any, quietly. */
static void conn_close_both(struct rc_conn *c, enum rc_reason why)
{
    if (c->successor != NULL)
        conn_close(c->successor, why, false);
    conn_close(c, why, false);
}

/* Detaches and returns c's pings and its successor's (one list): they move
 * to the connection that replaces both. */
static struct rc_ping *take_pings(struct rc_conn *c)
{
    struct rc_ping *list = c->pings;
    struct rc_ping *more = c->successor != NULL ? c->successor->pings : NULL;

    c->pings = NULL;
    if (c->successor != NULL)
        c->successor->pings = NULL;
    if (list == NULL)
        return more;
    if (more != NULL) {
        struct rc_ping *last = list;
        while (last->next != NULL)
            last = last->next;
        last->next = more;
        more->prev = last;
    }
    return list;
}

/* The acceptor learned the peer's name: decide the status (docs/protocol.md
 * section 2, simultaneous connect) and index the connection by name. */
static int acceptor_named(struct rc_conn *c, struct rc_hs_out *out)
{
    struct rc_node *n = c->node;
    const char *peer = c->hs.peer_name;
    enum rc_hs_status st = RC_HS_ST_OK;
    int r;

    if (strcmp(peer, n->name) == 0) {
        st = RC_HS_ST_NOT_ALLOWED; /* someone claims to be us */
    } else {
        struct rc_conn *other = find_conn(n, peer, c);
        if (other != NULL && other->st == CS_UP && other->successor != NULL &&
            other->successor->st != CS_WAIT_INBOUND && strcmp(n->name, peer) > 0) {
            /* Both sides replace a stuck connection at once: a simultaneous
             * connect between the two successors, and ours wins by name
             * (the peer waits for it, as OTP's rule has it). */
            st = RC_HS_ST_NOK;
        } else if (other != NULL && other->st == CS_UP) {
            /* The peer dials again while we think we are connected: it
             * restarted or lost the old socket without us noticing. The
             * new connection is the truth; the old one goes quietly and
             * its waiting pings move over. */
            struct rc_ping *list = take_pings(other);
            conn_close_both(other, RC_REASON_CONNECTION_LOST);
            while (list != NULL) {
                struct rc_ping *p = list;
                list = p->next;
                p->sent = false;
                ping_attach(c, p);
            }
        } else if (other != NULL) {
            bool ours_wins = other->st != CS_WAIT_INBOUND && strcmp(n->name, peer) > 0;
            if (ours_wins) {
                st = RC_HS_ST_NOK;
            } else {
                struct rc_ping *list = take_pings(other);
                if (other->st != CS_WAIT_INBOUND)
                    st = RC_HS_ST_OK_SIMULTANEOUS;
                conn_close_both(other, RC_REASON_CONNECTION_LOST);
                while (list != NULL) {
                    struct rc_ping *p = list;
                    list = p->next;
                    p->sent = false;
                    ping_attach(c, p);
                }
            }
        }
    }
    r = rc_hs_accept(&c->hs, st, out);
    if (r == RC_HS_FAILED)
        return r;
    snprintf(c->peer, sizeof c->peer, "%s", peer);
    index_add(n, c);
    return r;
}

static void log_inbound_failure(struct rc_conn *c, enum rc_reason r, const char *why)
{
    struct rc_node *n = c->node;
    uint32_t suppressed = 0;
    if (!rc_ratelimit_allow(&n->rl_inbound, rc_now_mono_ms(), 10, 10000, &suppressed))
        return;
    if (suppressed != 0)
        rc_log_warn("dist: %u more inbound failures suppressed", suppressed);
    rc_log_warn("dist: inbound connection from %s%s%s closed: %s (%s)", c->addr,
                c->peer[0] ? " as " : "", c->peer, rc_reason_str(r), why);
}

static void handshake_failed(struct rc_conn *c, struct rc_hs_out *out)
{
    enum rc_reason r;

    hs_flush(c, out);
    r = c->hs.reason != 0 ? c->hs.reason : RC_REASON_HANDSHAKE_FAILED;
    if (c->inbound) {
        log_inbound_failure(c, r, c->hs.why);
    } else if (c->hs.peer_wins) {
        /* The peer's own connection to us wins; its pings wait for it. */
        if (c->bev != NULL) {
            bufferevent_free(c->bev);
            c->bev = NULL;
        }
        c->st = CS_WAIT_INBOUND;
        return;
    } else if (r == RC_REASON_TLS_REQUIRED) {
        rc_log_debug("dist: %s (%s): %s", c->peer, c->addr, c->hs.why);
    }
    /* The status frame (nok, not_allowed) goes out before the close. */
    conn_close_flushed(c, r);
}

static void handle_packet(struct rc_conn *c, const uint8_t *pkt, size_t len)
{
    struct rc_msg m;
    if (rc_msg_parse(pkt, len, &m) != 0) {
        if (c->inbound)
            log_inbound_failure(c, RC_REASON_PROTOCOL_ERROR, "malformed packet");
        else
            rc_log_debug("dist: malformed packet from %s (%s)", c->peer, c->addr);
        conn_close(c, RC_REASON_PROTOCOL_ERROR, true);
        return;
    }
    if (m.kind == RC_MSG_IS_AUTH) {
        uint8_t buf[RC_MSG_OUT_MAX];
        size_t blen;
        if (rc_msg_build_is_auth_reply(buf, sizeof buf, &blen, &m) == 0) {
            c->node->stats.pings_answered++;
            conn_write(c, buf, blen);
        }
    } else if (m.kind == RC_MSG_OTHER) {
        /* a probe (detection) is ours; anything else goes to the hook */
        if (handle_probe(c, pkt, len) == 0 && c->st == CS_UP && c->node->msg_cb != NULL)
            c->node->msg_cb(c->node->msg_arg, c->peer, pkt, len);
    } else if (m.kind == RC_MSG_REPLY && m.ref_nids >= 3) {
        /* Our reference comes back with our node name and creation in it;
         * one with another creation was made for an earlier incarnation of
         * this node, one with another name is not ours: neither is an
         * answer (OTP drops such messages too). */
        for (struct rc_ping *p = c->pings; p != NULL; p = p->next) {
            if (p->sent && p->ref[0] == m.ref_ids[0] && p->ref[1] == m.ref_ids[1] &&
                p->ref[2] == m.ref_ids[2] && p->creation == m.ref_creation &&
                strcmp(m.ref_node, c->node->name) == 0) {
                c->ping_timed_out = false;
                ping_finish(p, m.yes ? RC_REASON_OK : RC_REASON_HANDSHAKE_FAILED);
                break;
            }
        }
    }
}

/* A packet that is not a ping nor a reply: an indirect probe message for
 * the agent, or nothing for us. Bad probes and floods close this connection
 * only (quietly: the peer is pinged afresh at the next sweep). */
static int handle_probe(struct rc_conn *c, const uint8_t *pkt, size_t len)
{
    struct rc_node *n = c->node;
    struct rc_probe p;
    uint64_t now;
    int r = rc_probe_parse(pkt, len, &p);

    if (r == 0)
        return 0;
    if (r < 0) {
        log_inbound_failure(c, RC_REASON_PROTOCOL_ERROR, "malformed probe message");
        conn_close(c, RC_REASON_PROTOCOL_ERROR, false);
        return 1;
    }
    now = rc_now_mono_ms();
    if (now - c->probe_window_ms >= 1000) {
        c->probe_window_ms = now;
        c->probe_count = 0;
    }
    if (++c->probe_count > RC_NODE_PROBE_RATE) {
        log_inbound_failure(c, RC_REASON_PROTOCOL_ERROR, "probe flood");
        conn_close(c, RC_REASON_PROTOCOL_ERROR, false);
        return 1;
    }
    if (n->probe_cb != NULL && c->peer[0] != '\0')
        n->probe_cb(n->probe_arg, c->peer, &p);
    return 1;
}

static void read_packets(struct rc_conn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    while (c->st == CS_UP) {
        size_t avail = evbuffer_get_length(in);
        uint8_t hdr[4];
        uint32_t len;
        uint8_t *data;
        if (avail < 4)
            return;
        evbuffer_copyout(in, hdr, 4);
        len = rc_get32(hdr);
        if (len == 0) { /* a tick, or a dropped message: never an error */
            static const uint8_t tick[4] = {0, 0, 0, 0};

            evbuffer_drain(in, 4);
            if (rc_now_mono_ms() - c->last_write_ms >= RC_NODE_TICK_ANSWER_MS)
                conn_write(c, tick, sizeof tick);
            continue;
        }
        if (len > RC_MSG_MAX_PACKET) {
            if (c->inbound)
                log_inbound_failure(c, RC_REASON_PROTOCOL_ERROR, "oversized packet");
            conn_close(c, RC_REASON_PROTOCOL_ERROR, true);
            return;
        }
        if (avail < 4 + (size_t)len)
            return;
        data = evbuffer_pullup(in, 4 + (ssize_t)len);
        if (data == NULL) {
            conn_close(c, RC_REASON_PROTOCOL_ERROR, true);
            return;
        }
        handle_packet(c, data + 4, len);
        if (c->st == CS_DEAD)
            return;
        evbuffer_drain(in, 4 + (size_t)len);
    }
}

static void read_handshake(struct rc_conn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    struct rc_hs_out out;
    out.len = 0;
    while (c->st == CS_HANDSHAKE) {
        size_t avail = evbuffer_get_length(in);
        size_t take;
        uint8_t *data;
        size_t used;
        int r;
        if (avail == 0)
            return;
        take = avail < 4096 ? avail : 4096;
        data = evbuffer_pullup(in, (ssize_t)take);
        used = 0;
        r = rc_hs_feed(&c->hs, data, take, &used, &out);
        evbuffer_drain(in, used);
        if (r == RC_HS_NAME) {
            r = acceptor_named(c, &out);
            if (r == RC_HS_FAILED) {
                handshake_failed(c, &out);
                return;
            }
            hs_flush(c, &out);
            continue;
        }
        hs_flush(c, &out);
        if (r == RC_HS_FAILED) {
            handshake_failed(c, &out);
            return;
        }
        if (r == RC_HS_DONE) {
            conn_up(c);
            read_packets(c);
            return;
        }
        if (used == 0)
            return; /* a partial frame: wait for more */
    }
}

static void conn_read_cb(struct bufferevent *bev, void *arg)
{
    struct rc_conn *c = arg;
    c->last_read_ms = rc_now_mono_ms();
    if (c->st == CS_HANDSHAKE)
        read_handshake(c);
    else if (c->st == CS_UP)
        read_packets(c);
}

/* Why a TLS connection failed: OpenSSL's words (certificate verify failed:
 * certificate has expired, tlsv1 alert unknown ca, ...) and
 * RC_REASON_TLS_FAILED; or RC_REASON_OK when OpenSSL recorded nothing. */
static enum rc_reason tls_failure(struct rc_conn *c, char *why, size_t whylen)
{
    why[0] = '\0';
    if (c->tls)
        rc_tls_bev_why(c->node->tls, c->bev, why, whylen);
    return why[0] != '\0' ? RC_REASON_TLS_FAILED : RC_REASON_OK;
}

static bool connect_errno(int err)
{
    return err == ECONNREFUSED || err == EHOSTUNREACH || err == ENETUNREACH || err == ETIMEDOUT;
}

/* The TCP connection is up (plain), or the TLS session is (TLS). */
static void conn_connected(struct rc_conn *c)
{
    struct rc_node *n = c->node;
    struct rc_hs_out out;
    int one = 1;
    int fd = bufferevent_getfd(c->bev);

    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->st = CS_HANDSHAKE;
    out.len = 0;
    if (rc_hs_init(&c->hs, RC_HS_INITIATOR, n->name, rc_node_creation(n), n->cookie, n->cookie_len,
                   c->peer, random_u32()) != 0) {
        conn_close(c, RC_REASON_HANDSHAKE_FAILED, false);
        return;
    }
    if (c->tls)
        rc_hs_use_len32(&c->hs); /* inet_tls_dist: {packet, 4} */
    if (rc_hs_start(&c->hs, &out) == RC_HS_FAILED) {
        conn_close(c, RC_REASON_HANDSHAKE_FAILED, false);
        return;
    }
    hs_flush(c, &out);
}

static void conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct rc_conn *c = arg;
    char why[160];
    enum rc_reason r;

    if ((what & BEV_EVENT_CONNECTED) != 0) {
        /* inbound: a TLS session is up; the peer's send_name comes next */
        if (!c->inbound)
            conn_connected(c);
        return;
    }
    if ((what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) != 0) {
        int err = EVUTIL_SOCKET_ERROR();
        r = tls_failure(c, why, sizeof why);
        switch (c->st) {
        case CS_CONNECTING:
            if (!c->tls || connect_errno(err)) {
                conn_close(c, reason_from_errno(err), false);
                break;
            }
            if (r == RC_REASON_OK) {
                /* Closed at our ClientHello without a word: a rollcall
                 * agent without TLS closes at once, a plain BEAM after its
                 * net_setuptime. */
                r = RC_REASON_TLS_REQUIRED;
                snprintf(why, sizeof why,
                         "peer closed at our TLS ClientHello: it speaks plain "
                         "distribution, and we use TLS");
            }
            rc_log_debug("dist: TLS to %s (%s) failed: %s", c->peer, c->addr, why);
            conn_close(c, r, false);
            break;
        case CS_HANDSHAKE:
            if (r == RC_REASON_OK && c->tls && c->inbound && c->hs.peer_name[0] == '\0') {
                r = RC_REASON_TLS_FAILED;
                snprintf(why, sizeof why, "peer closed during the TLS handshake");
            }
            if (r != RC_REASON_OK) {
                /* TLS 1.3: a client learns that its certificate was refused
                 * only after it sent its send_name */
                if (c->inbound)
                    log_inbound_failure(c, r, why);
                else
                    rc_log_debug("dist: TLS to %s (%s) failed: %s", c->peer, c->addr, why);
                conn_close(c, r, false);
                break;
            }
            rc_hs_eof(&c->hs);
            if (c->inbound)
                log_inbound_failure(c, c->hs.reason, "closed during handshake");
            conn_close(c, c->hs.reason != 0 ? c->hs.reason : RC_REASON_HANDSHAKE_FAILED, false);
            break;
        case CS_UP:
            if ((what & BEV_EVENT_ERROR) != 0 && (err == EHOSTUNREACH || err == ENETUNREACH))
                conn_close(c, RC_REASON_UNREACHABLE, true);
            else
                conn_close(c, RC_REASON_CONNECTION_LOST, true);
            break;
        default:
            conn_close(c, RC_REASON_CONNECTION_LOST, false);
            break;
        }
    }
}

static void conn_connect(struct rc_conn *c, uint16_t port)
{
    struct rc_node *n = c->node;
    set_port(&c->ss, port);
    addr_to_str((struct sockaddr *)&c->ss, c->addr, sizeof c->addr);
    if (n->tls != NULL) {
        c->bev = rc_tls_bev_new(n->tls, n->base, -1, false);
        c->tls = true;
    } else {
        c->bev = bufferevent_socket_new(n->base, -1, BEV_OPT_CLOSE_ON_FREE);
    }
    if (c->bev == NULL) {
        conn_close(c, RC_REASON_CONNECT_REFUSED, false);
        return;
    }
    bufferevent_setcb(c->bev, conn_read_cb, NULL, conn_event_cb, c);
    bufferevent_setwatermark(c->bev, EV_READ, 0, RC_MSG_MAX_PACKET + 8);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    c->st = CS_CONNECTING;
    if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&c->ss, (int)c->sslen) != 0)
        conn_close(c, reason_from_errno(EVUTIL_SOCKET_ERROR()), false);
}

static void epmd_lookup_cb(void *arg, int result, uint16_t port)
{
    struct rc_conn *c = arg;
    enum rc_reason r;
    c->lookup = NULL;
    if (result == 0) {
        conn_connect(c, port);
        return;
    }
    switch (-result) {
    case ENOENT:
        r = RC_REASON_NOT_REGISTERED;
        break;
    case EHOSTUNREACH:
    case ENETUNREACH:
        r = RC_REASON_UNREACHABLE;
        break;
    case EPROTO:
        r = RC_REASON_PROTOCOL_ERROR;
        break;
    case EMFILE: /* our side, not the peer's */
    case ENFILE:
    case ENOBUFS:
    case ENOMEM:
        r = RC_REASON_LOCAL_ERROR;
        break;
    default:
        r = RC_REASON_EPMD_UNREACHABLE;
        break;
    }
    conn_close(c, r, false);
}

static int conn_start_outbound(struct rc_conn *c, uint16_t port)
{
    struct rc_node *n = c->node;
    char alive[RC_NAME_MAX + 1];
    char *at;
    if (port != 0) {
        conn_connect(c, port);
        return 0;
    }
    snprintf(alive, sizeof alive, "%s", c->peer);
    at = strchr(alive, '@');
    if (at != NULL)
        *at = '\0';
    set_port(&c->ss, n->epmd_port);
    addr_to_str((struct sockaddr *)&c->ss, c->addr, sizeof c->addr);
    c->st = CS_EPMD;
    c->lookup = rc_epmd_lookup_start(n->base, (struct sockaddr *)&c->ss, c->sslen, alive,
                                     epmd_lookup_cb, c);
    if (c->lookup == NULL)
        conn_close(c, RC_REASON_EPMD_UNREACHABLE, false);
    return 0;
}

/* The kernel's view of an established connection's socket. */
static bool conn_tcp_info(const struct rc_conn *c, struct tcp_info *ti)
{
    socklen_t len = sizeof *ti;
    int fd;

    if (c->st != CS_UP || c->bev == NULL)
        return false;
    fd = bufferevent_getfd(c->bev);
    memset(ti, 0, sizeof *ti);
    return fd >= 0 && getsockopt(fd, IPPROTO_TCP, TCP_INFO, ti, &len) == 0;
}

/* Bytes unacknowledged and the retransmission timer backed off twice or
 * more (the next try is >= 4 RTO away). */
static bool conn_stuck(const struct rc_conn *c)
{
    struct tcp_info ti;

    return conn_tcp_info(c, &ti) && ti.tcpi_unacked > 0 && ti.tcpi_backoff >= 2;
}

int rc_node_link_info(const struct rc_node *n, const char *peer, struct rc_link_info *ret)
{
    struct rc_conn *c = find_conn((struct rc_node *)n, peer, NULL);
    struct tcp_info ti;

    memset(ret, 0, sizeof *ret);
    if (c == NULL)
        return -ENOENT;
    ret->up = c->st == CS_UP;
    ret->handshaking = c->st == CS_HANDSHAKE;
    if (!conn_tcp_info(c, &ti))
        return 0;
    ret->unacked = ti.tcpi_unacked;
    ret->retransmits = ti.tcpi_retransmits;
    ret->backoff = ti.tcpi_backoff;
    ret->rto_ms = ti.tcpi_rto / 1000;
    ret->last_ack_recv_ms = ti.tcpi_last_ack_recv;
    ret->last_data_recv_ms = ti.tcpi_last_data_recv;
    return 0;
}

void rc_node_on_probe(struct rc_node *n, rc_probe_msg_cb cb, void *arg)
{
    n->probe_cb = cb;
    n->probe_arg = arg;
}

int rc_node_send_probe(struct rc_node *n, const char *peer, const struct rc_probe *p)
{
    struct rc_conn *c = find_conn(n, peer, NULL);
    uint8_t buf[RC_MSG_OUT_MAX];
    size_t len;
    int r;

    if (c == NULL || c->st != CS_UP)
        return -ENOTCONN;
    r = rc_probe_build(buf, sizeof buf, &len, n->name, rc_node_creation(n), n->pid_id, p);
    if (r != 0)
        return r;
    conn_write(c, buf, len);
    return 0;
}

int rc_node_ping(struct rc_node *n, const char *peer, const char *ip, uint16_t port,
                 uint64_t timeout_ms, rc_ping_cb cb, void *arg, struct rc_ping **ret_ping)
{
    struct rc_conn *stuck = NULL;
    struct sockaddr_storage ss;
    socklen_t sslen;
    struct rc_ping *p;
    uint64_t r;
    struct timeval tv;
    struct rc_conn *c;

    if (!rc_node_name_valid(peer) || ip == NULL)
        return -EINVAL;
    if (parse_ip(ip, port, &ss, &sslen) != 0)
        return -EINVAL;

    p = calloc(1, sizeof *p);
    if (p == NULL)
        return -ENOMEM;
    p->node = n;
    p->cb = cb;
    p->arg = arg;
    p->start_us = rc_now_mono_us();
    /* Unique and unguessable without a syscall per ping (two getrandom
     * calls per ping were ~1000 syscalls per 500-peer sweep). */
    r = ref_mix(n->ref_key + ++n->ref_counter);
    p->ref[0] = n->ref_counter;
    p->ref[1] = (uint32_t)r;
    p->ref[2] = (uint32_t)(r >> 32);
    p->timer = evtimer_new(n->base, ping_timer_cb, p);
    if (p->timer == NULL) {
        free(p);
        return -ENOMEM;
    }
    tv = (struct timeval){.tv_sec = (time_t)(timeout_ms / 1000),
                          .tv_usec = (suseconds_t)(timeout_ms % 1000) * 1000};
    evtimer_add(p->timer, &tv);

    c = find_conn(n, peer, NULL);
    if (c != NULL && c->successor != NULL) {
        c = c->successor; /* a replacement is being dialled: wait on it */
    } else if (c != NULL && c->ping_timed_out && conn_stuck(c)) {
        /* A ping would queue behind TCP's backed-off retransmissions (a
         * peer back from a cut is then seen only when the back-off ends):
         * dial a successor instead of waiting (struct rc_conn). */
        rc_log_debug("dist: connection to %s stuck in retransmission back-off, replacing it",
                     c->peer);
        stuck = c;
        c = NULL;
    }
    if (c == NULL) {
        c = conn_new(n, false);
        if (c == NULL) {
            event_free(p->timer);
            free(p);
            return -EMFILE;
        }
        snprintf(c->peer, sizeof c->peer, "%s", peer);
        if (stuck != NULL) {
            c->old = stuck; /* indexed when it is up (conn_up) */
            stuck->successor = c;
        } else {
            index_add(n, c);
        }
        c->ss = ss;

        c->sslen = sslen;
        ping_attach(c, p);
        conn_start_outbound(c, port); /* a failure here reaches cb from the loop */
    } else {
        ping_attach(c, p);
        if (c->st == CS_UP)
            ping_send(c, p);
    }
    if (ret_ping != NULL)
        *ret_ping = p;
    return 0;
}

void rc_node_on_message(struct rc_node *n, rc_node_msg_cb cb, void *arg)
{
    n->msg_cb = cb;
    n->msg_arg = arg;
}

int rc_node_send(struct rc_node *n, const char *peer, const uint8_t *pkt, size_t len)
{
    struct rc_conn *c = find_conn(n, peer, NULL);

    if (c == NULL || c->st != CS_UP)
        return -ENOTCONN;
    conn_write(c, pkt, len);
    return c->st == CS_UP ? 0 : -ENOTCONN;
}

int rc_node_peer_info(struct rc_node *n, const char *peer, uint64_t *ret_flags, uint16_t *ret_port)
{
    struct rc_conn *c = find_conn(n, peer, NULL);

    if (c == NULL || c->st != CS_UP)
        return -ENOTCONN;
    if (ret_flags != NULL)
        *ret_flags = c->hs.peer_flags;
    if (ret_port != NULL)
        *ret_port = c->inbound ? 0
                    : c->ss.ss_family == AF_INET
                        ? ntohs(((struct sockaddr_in *)&c->ss)->sin_port)
                        : ntohs(((struct sockaddr_in6 *)&c->ss)->sin6_port);
    return 0;
}

void rc_node_drop_peer(struct rc_node *n, const char *peer)
{
    struct rc_conn *c = find_conn(n, peer, NULL);
    if (c != NULL)
        conn_close_both(c, RC_REASON_SHUTDOWN);
}

/* ---- inbound ---- */

/* Starts the handshake on an accepted socket, over TLS or not. The
 * connection counts as a pending handshake already (accept_cb). */
static void inbound_start(struct rc_conn *c, evutil_socket_t fd, bool tls)
{
    struct rc_node *n = c->node;

    c->st = CS_HANDSHAKE;
    c->fd = -1; /* the bufferevent owns it now */
    c->tls = tls;
    c->bev = tls ? rc_tls_bev_new(n->tls, n->base, fd, true)
                 : bufferevent_socket_new(n->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (c->bev == NULL) {
        evutil_closesocket(fd);
        conn_close(c, RC_REASON_LOCAL_ERROR, false);
        return;
    }
    if (rc_hs_init(&c->hs, RC_HS_ACCEPTOR, n->name, rc_node_creation(n), n->cookie, n->cookie_len,
                   NULL, random_u32()) != 0) {
        conn_close(c, RC_REASON_HANDSHAKE_FAILED, false);
        return;
    }
    if (tls)
        rc_hs_use_len32(&c->hs); /* inet_tls_dist: {packet, 4} */
    bufferevent_setcb(c->bev, conn_read_cb, NULL, conn_event_cb, c);
    bufferevent_setwatermark(c->bev, EV_READ, 0, RC_MSG_MAX_PACKET + 8);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

/* A plain peer where TLS is required: answered not_allowed and closed. */
static void inbound_refuse_plain(struct rc_conn *c, evutil_socket_t fd)
{
    struct rc_hs_out out;

    inbound_start(c, fd, false);
    if (c->st != CS_HANDSHAKE)
        return;
    out.len = 0;
    rc_hs_refuse(&c->hs, RC_REASON_TLS_REQUIRED,
                 "plain distribution, but this node requires TLS (tls_required)", &out);
    handshake_failed(c, &out);
}

/* CS_SNIFF: the socket is readable (or the re-peek timer fired). Peeks at
 * up to 3 bytes, consuming nothing, and hands the socket to a TLS or a
 * plain bufferevent. Fewer than 3 bytes that could still be TLS: look
 * again in 20 ms (a readable event would fire at once, forever). */
static void sniff_cb(evutil_socket_t fd_unused, short what, void *arg)
{
    struct rc_conn *c = arg;
    struct rc_node *n = c->node;
    uint8_t head[3];
    ssize_t got = recv(c->fd, head, sizeof head, MSG_PEEK);
    enum rc_tls_kind k;
    evutil_socket_t fd = c->fd;

    if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) {
        log_inbound_failure(c, RC_REASON_HANDSHAKE_FAILED, "closed before the handshake");
        conn_close(c, RC_REASON_HANDSHAKE_FAILED, false);
        return;
    }
    k = got > 0 ? rc_tls_sniff(head, (size_t)got) : RC_TLS_MORE;
    if (k == RC_TLS_MORE) {
        struct timeval tv = {0, 20 * 1000};

        event_del(c->sniff_ev);
        event_assign(c->sniff_ev, n->base, got > 0 ? -1 : c->fd, got > 0 ? 0 : EV_READ, sniff_cb,
                     c);
        event_add(c->sniff_ev, got > 0 ? &tv : NULL);
        return;
    }
    event_free(c->sniff_ev);
    c->sniff_ev = NULL;
    if (rc_tls_kind_is_tls(k))
        inbound_start(c, fd, true);
    else if (n->tls_required)
        inbound_refuse_plain(c, fd);
    else
        inbound_start(c, fd, false);
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
                      void *arg)
{
    struct rc_node *n = arg;
    char addr[64];
    struct rc_conn *c;
    int one;
    addr_to_str(sa, addr, sizeof addr);
    if (n->nhandshakes >= RC_NODE_MAX_HANDSHAKES) {
        /* Full of connections that have not finished the handshake: close
         * the oldest rather than refuse the newest, so that a flood of idle
         * sockets cannot lock real peers out (a real handshake takes
         * milliseconds, a squatter waits). n->conns is newest first. */
        struct rc_conn *oldest = NULL;
        for (struct rc_conn *x = n->conns; x != NULL; x = x->next)
            if (x->inbound && (x->st == CS_HANDSHAKE || x->st == CS_SNIFF))
                oldest = x;
        if (oldest != NULL) {
            uint32_t suppressed = 0;
            n->stats.refused++;
            if (rc_ratelimit_allow(&n->rl_refuse, rc_now_mono_ms(), 1, 10000, &suppressed))
                rc_log_warn("dist: connection limit reached (%u in the handshake): closing the "
                            "oldest, from %s (%u more since the last warning)",
                            n->nhandshakes, oldest->addr, suppressed);
            conn_close(oldest, RC_REASON_TIMEOUT, false);
        }
    }
    if (n->nhandshakes >= RC_NODE_MAX_HANDSHAKES || n->nconns >= n->max_conns) {
        uint32_t suppressed;

        n->stats.refused++;
        evutil_closesocket(fd);
        suppressed = 0;
        if (rc_ratelimit_allow(&n->rl_refuse, rc_now_mono_ms(), 1, 10000, &suppressed))
            rc_log_warn("dist: connection limit reached (%u open, %u in handshake): refusing "
                        "%s (%u more refused since the last warning)",
                        n->nconns, n->nhandshakes, addr, suppressed);
        return;
    }
    c = conn_new(n, true);
    if (c == NULL) {
        evutil_closesocket(fd);
        return;
    }
    snprintf(c->addr, sizeof c->addr, "%s", addr);
    one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    n->nhandshakes++;
    if (n->tls != NULL) {
        /* TLS or plain? Look at the first bytes before choosing. */
        c->fd = fd;
        c->st = CS_SNIFF;
        c->sniff_ev = event_new(n->base, fd, EV_READ, sniff_cb, c);
        if (c->sniff_ev == NULL) {
            conn_close(c, RC_REASON_PROTOCOL_ERROR, false);
            return;
        }
        event_add(c->sniff_ev, NULL);
        return;
    }
    inbound_start(c, fd, false);
}

static void accept_resume_cb(evutil_socket_t fd, short what, void *arg)
{
    struct rc_node *n = arg;
    if (n->listener != NULL)
        evconnlistener_enable(n->listener);
}

/* accept() failed (out of descriptors, most likely). A level-triggered
 * listener would spin on the pending connection; pause accepting for 100 ms
 * instead, so established peers keep being served. */
static void accept_error_cb(struct evconnlistener *l, void *arg)
{
    struct rc_node *n = arg;
    int err = EVUTIL_SOCKET_ERROR();
    struct timeval tv;
    uint32_t suppressed;
    evconnlistener_disable(l);
    tv = (struct timeval){0, 100 * 1000};
    event_add(n->accept_resume, &tv);
    suppressed = 0;
    if (rc_ratelimit_allow(&n->rl_refuse, rc_now_mono_ms(), 1, 10000, &suppressed))
        rc_log_warn("dist: accept failed: %s; pausing new connections for 100 ms "
                    "(%u similar warnings suppressed)",
                    strerror(err), suppressed);
}

/* The connection cap: RC_NODE_MAX_CONNS, but never more than the descriptor
 * limit allows with room left for the registry, EPMD and logs. */
static uint32_t conn_cap(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur < (rlim_t)RC_NODE_MAX_CONNS + 128)
        return rl.rlim_cur > 160 ? (uint32_t)(rl.rlim_cur - 128) : 32;
    return RC_NODE_MAX_CONNS;
}

static void housekeeping_cb(evutil_socket_t fd, short what, void *arg)
{
    struct rc_node *n = arg;
    uint64_t now = rc_now_mono_ms();
    static const uint8_t tick[4] = {0, 0, 0, 0};
    struct rc_conn *next;
    for (struct rc_conn *c = n->conns; c != NULL; c = next) {
        next = c->next;
        if ((c->st == CS_HANDSHAKE || c->st == CS_SNIFF) &&
            now - c->opened_ms > RC_NODE_HANDSHAKE_TIMEOUT_MS) {
            if (c->inbound)
                log_inbound_failure(c, RC_REASON_TIMEOUT, "handshake not completed in time");
            conn_close(c, RC_REASON_TIMEOUT, false);
        } else if (c->st == CS_UP) {
            if (now - c->last_read_ms > n->silence_ms) {
                rc_log_info("dist: %s silent for %llu ms (silence_timeout), closing", c->peer,
                            (unsigned long long)(now - c->last_read_ms));
                conn_close(c, RC_REASON_TIMEOUT, true);
            } else if (now - c->last_write_ms + 100 >= RC_NODE_TICK_MS) {
                /* 100 ms of slack: this timer runs every second, and a
                 * write 999 ms ago must not postpone the tick by a second */
                conn_write(c, tick, sizeof tick);
            }
        } else if (c->st == CS_WAIT_INBOUND && c->pings == NULL) {
            conn_close(c, RC_REASON_TIMEOUT, false);
        } else if (c->st == CS_CLOSING && now - c->closing_ms > RC_NODE_LINGER_MS) {
            conn_close(c, RC_REASON_TIMEOUT, false);
        }
    }
}

/* A listening socket on [::] that also takes IPv4 (IPV6_V6ONLY off), or on
 * 0.0.0.0 when the host has no IPv6. Returns the descriptor or -errno. */
static int listen_socket(uint16_t port, bool v6, uint32_t bind_addr)
{
    int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1, zero = 0, rc;

    if (fd < 0)
        return -errno;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    /* every loopback address, nothing else (a node named for one) */
    if (bind_addr == RC_BIND_LO && setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, "lo", 3) != 0) {
        rc = -errno;
        close(fd);
        return rc;
    }
    if (v6) {
        struct sockaddr_in6 sin6;

        memset(&sin6, 0, sizeof sin6);
        sin6.sin6_family = AF_INET6;
        sin6.sin6_port = htons(port);
        sin6.sin6_addr = in6addr_any;
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
        rc = bind(fd, (struct sockaddr *)&sin6, sizeof sin6);
    } else {
        struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};

        sin.sin_addr.s_addr = bind_addr == RC_BIND_LO ? htonl(INADDR_ANY) : bind_addr;
        rc = bind(fd, (struct sockaddr *)&sin, sizeof sin);
    }
    if (rc != 0 || listen(fd, 511) != 0) {
        rc = -errno;
        close(fd);
        return rc;
    }
    return fd;
}

static int listen_on(struct rc_node *n, uint16_t pmin, uint16_t pmax, char *err, size_t errlen)
{
    uint16_t lo = pmin, hi = pmax;
    int last = 0, fd = -1;
    /* one IPv4 address (`bind`): IPv4 only */
    bool v6 = n->bind_addr == htonl(INADDR_ANY) || n->bind_addr == RC_BIND_LO;
    struct sockaddr_storage bound;
    socklen_t blen = sizeof bound;

    for (uint32_t p = lo; p <= hi; p++) {
        fd = v6 ? listen_socket((uint16_t)p, true, n->bind_addr) : -EAFNOSUPPORT;
        if (fd == -EAFNOSUPPORT || fd == -EADDRNOTAVAIL) {
            v6 = false; /* no IPv6 here: IPv4 only, from now on */
            fd = listen_socket((uint16_t)p, false, n->bind_addr);
        }
        if (fd >= 0)
            break;
        last = -fd;
        if (hi == 0)
            break;
    }
    if (fd >= 0) {
        /* backlog 0: listen_socket already listens with 511; libevent's -1
         * would call listen() again with 128, and a burst of connections
         * past that has its SYNs dropped and retried a second later. */
        n->listener = evconnlistener_new(n->base, accept_cb, n,
                                         LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
        if (n->listener == NULL) {
            last = ENOMEM;
            close(fd);
        }
    }
    if (n->listener == NULL) {
        snprintf(err, errlen, "cannot listen for distribution on ports %u-%u: %s", lo, hi,
                 strerror(last));
        return last != 0 ? -last : -EADDRINUSE;
    }
    evconnlistener_set_error_cb(n->listener, accept_error_cb);
    getsockname(evconnlistener_get_fd(n->listener), (struct sockaddr *)&bound, &blen);
    n->port = bound.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&bound)->sin6_port)
                                          : ntohs(((struct sockaddr_in *)&bound)->sin_port);
    return 0;
}

struct rc_node *rc_node_new(struct event_base *base, const struct rc_node_opts *o, char *err,
                            size_t errlen)
{
    struct rc_node *n;
    struct timeval one_s;

    if (!rc_node_name_valid(o->name)) {
        snprintf(err, errlen, "invalid node name");
        return NULL;
    }
    if (o->cookie_len == 0 || o->cookie_len > RC_COOKIE_MAX) {
        snprintf(err, errlen, "the cookie must be 1..%d bytes", RC_COOKIE_MAX);
        return NULL;
    }
    n = calloc(1, sizeof *n);
    if (n == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    n->base = base;
    snprintf(n->name, sizeof n->name, "%s", o->name);
    memcpy(n->cookie, o->cookie, o->cookie_len);
    n->cookie_len = o->cookie_len;
    n->epmd_port = o->epmd_port != 0 ? o->epmd_port : 4369;
    n->silence_ms = o->silence_ms != 0 ? o->silence_ms : RC_NODE_SILENCE_DEFAULT_MS;
    n->tls_required = o->tls_required;
    n->bind_addr = htonl(INADDR_ANY);
    if (o->bind != NULL && strcmp(o->bind, "lo") == 0) {
        n->bind_addr = RC_BIND_LO;
    } else if (o->bind != NULL && o->bind[0] != '\0') {
        struct in_addr a;
        if (inet_pton(AF_INET, o->bind, &a) != 1) {
            snprintf(err, errlen, "bind: '%s' is not a numeric IPv4 address", o->bind);
            free(n);
            return NULL;
        }
        n->bind_addr = a.s_addr;
    }
    n->fixed_creation = (uint32_t)(rc_now_wall_ms() / 1000);
    if (n->fixed_creation < 4)
        n->fixed_creation = 4;
    n->pid_id = 1 + (random_u32() % 0x7fff);
    n->ref_key = (uint64_t)random_u32() << 32 | random_u32();
    n->max_conns = conn_cap();
    n->reaper = event_new(base, -1, 0, reap_cb, n);
    n->housekeeping = event_new(base, -1, EV_PERSIST, housekeeping_cb, n);
    n->accept_resume = evtimer_new(base, accept_resume_cb, n);
    if (n->reaper == NULL || n->housekeeping == NULL || n->accept_resume == NULL) {
        snprintf(err, errlen, "out of memory");
        goto out_free;
    }
    one_s = (struct timeval){1, 0};
    event_add(n->housekeeping, &one_s);

    if (o->tls_cert != NULL || o->tls_key != NULL || o->tls_ca != NULL) {
        struct rc_tls_opts to = {.cert = o->tls_cert, .key = o->tls_key, .ca = o->tls_ca};

        n->tls = rc_tls_ctx_new(&to, err, errlen);
        if (n->tls == NULL)
            goto out_free;
    } else if (o->tls_required) {
        snprintf(err, errlen, "tls_required needs tls_cert, tls_key and tls_ca");
        goto out_free;
    }

    if (o->listen) {
        if (listen_on(n, o->port_min, o->port_max, err, errlen) != 0)
            goto out_free;
        if (o->epmd != RC_EPMD_OFF) {
            char alive[RC_NAME_MAX + 1];
            snprintf(alive, sizeof alive, "%s", n->name);
            *strchr(alive, '@') = '\0';
            n->epmd = rc_epmd_new_at(base, o->epmd, n->bind_addr, n->epmd_port, alive, n->port,
                                     o->epmd_check_ms != 0 ? o->epmd_check_ms : 1000, err, errlen);
            if (n->epmd == NULL)
                goto out_free;
        }
    }
    return n;

out_free:
    rc_node_free(n);
    return NULL;
}

void rc_node_free(struct rc_node *n)
{
    if (n == NULL)
        return;
    while (n->conns != NULL) {
        struct rc_conn *c = n->conns;
        /* Pings are forgotten, not failed: the owner is going away. */
        while (c->pings != NULL)
            ping_free(c->pings);
        conn_close(c, RC_REASON_SHUTDOWN, false);
    }
    reap_cb(-1, 0, n);
    if (n->listener != NULL)
        evconnlistener_free(n->listener);
    rc_epmd_free(n->epmd);
    if (n->reaper != NULL)
        event_free(n->reaper);
    if (n->housekeeping != NULL)
        event_free(n->housekeeping);
    if (n->accept_resume != NULL)
        event_free(n->accept_resume);
    rc_tls_ctx_free(n->tls);
    memset(n->cookie, 0, sizeof n->cookie);
    free(n);
}

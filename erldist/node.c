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
 * One housekeeping timer per node (1 s) handles handshake time-outs, ticks
 * and idle peers for all connections: cheaper than a timer each, and the
 * precision needed is seconds.
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
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>

#include "rollcall/bytes.h"
#include "rollcall/log.h"
#include "rollcall/msg.h"
#include "rollcall/probe.h"

#define CONN_BUCKETS 1024 /* name index; a power of two */

enum conn_state {
    CS_EPMD,         /* waiting for the peer's EPMD to tell the port */
    CS_CONNECTING,   /* TCP connect in progress */
    CS_HANDSHAKE,    /* handshake frames */
    CS_UP,           /* Len:32 packets */
    CS_WAIT_INBOUND, /* the peer answered nok: its own connection to us wins */
    CS_DEAD,         /* closed, waiting for the reaper */
};

struct rc_conn;

struct rc_ping {
    struct rc_ping *next, *prev; /* in conn->pings */
    struct rc_conn *conn;
    struct rc_node *node;
    uint32_t ref[3];
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
    bool indexed;          /* findable by peer name */
    struct rc_conn *hnext; /* next in its name-index bucket */
    enum conn_state st;
    struct bufferevent *bev;
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
    uint32_t fixed_creation;
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
    struct rc_node_stats stats;
    struct rc_ratelimit rl_refuse, rl_inbound;
    rc_probe_msg_cb probe_cb;
    void *probe_arg;
};

static void conn_close(struct rc_conn *c, enum rc_reason why, bool report_down);
static void conn_read_cb(struct bufferevent *bev, void *arg);
static void conn_event_cb(struct bufferevent *bev, short what, void *arg);
static void handle_probe(struct rc_conn *c, const uint8_t *pkt, size_t len);

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
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
        port = ntohs(in->sin_port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
        port = ntohs(in6->sin6_port);
    }
    snprintf(out, outlen, "%s:%u", ip, port);
}

static int parse_ip(const char *ip, uint16_t port, struct sockaddr_storage *ss, socklen_t *len)
{
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
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
    if (n->epmd)
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
    for (; *s; s++)
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
    for (struct rc_conn **pp = &n->index[name_hash(c->peer)]; *pp; pp = &(*pp)->hnext) {
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
    for (struct rc_conn *c = n->index[name_hash(peer)]; c; c = c->hnext)
        if (c != except && strcmp(c->peer, peer) == 0)
            return c;
    return NULL;
}

/* ---- pings ---- */

static void ping_detach(struct rc_ping *p)
{
    struct rc_conn *c = p->conn;
    if (!c)
        return;
    if (p->prev)
        p->prev->next = p->next;
    else
        c->pings = p->next;
    if (p->next)
        p->next->prev = p->prev;
    p->next = p->prev = NULL;
    p->conn = NULL;
}

static void ping_attach(struct rc_conn *c, struct rc_ping *p)
{
    p->conn = c;
    p->prev = NULL;
    p->next = c->pings;
    if (c->pings)
        c->pings->prev = p;
    c->pings = p;
}

static void ping_free(struct rc_ping *p)
{
    ping_detach(p);
    if (p->timer)
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
    while (c->pings) {
        struct rc_ping *p = c->pings;
        ping_detach(p);
        p->has_deferred = true;
        p->deferred = r;
        event_active(p->timer, EV_TIMEOUT, 0);
    }
}

static void conn_write(struct rc_conn *c, const void *data, size_t len)
{
    if (!c->bev || c->st == CS_DEAD)
        return;
    struct evbuffer *out = bufferevent_get_output(c->bev);
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
    n->stats.pings_sent++;
    conn_write(c, buf, len);
}

static void ping_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct rc_ping *p = arg;
    if (p->has_deferred) {
        ping_finish(p, p->deferred);
        return;
    }
    struct rc_conn *c = p->conn;
    ping_detach(p);
    if (c != NULL && c->st == CS_UP)
        c->ping_timed_out = true;
    /* A connection that never came up and has nobody waiting on it is not
     * worth keeping: the next sweep starts afresh (a frozen peer's
     * half-open handshake would otherwise pin memory). */
    if (c && c->st != CS_UP && !c->pings)
        conn_close(c, RC_REASON_TIMEOUT, false);
    ping_finish(p, RC_REASON_TIMEOUT);
}

void rc_ping_cancel(struct rc_ping *p)
{
    if (p)
        ping_free(p);
}

/* ---- connection life ---- */

static void reap_cb(evutil_socket_t fd, short what, void *arg)
{
    struct rc_node *n = arg;
    while (n->dead) {
        struct rc_conn *c = n->dead;
        n->dead = c->next;
        if (c->bev)
            bufferevent_free(c->bev);
        rc_epmd_lookup_cancel(c->lookup);
        free(c);
    }
}

static void conn_unlink(struct rc_conn *c)
{
    struct rc_node *n = c->node;
    if (c->prev)
        c->prev->next = c->next;
    else
        n->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->next = c->prev = NULL;
}

/* Closes c: fails its pings with why, reports a peer-down if it was up and
 * report_down, and queues it for the reaper. Safe to call from c's own
 * callbacks; c stays valid until the loop comes back around. */
static void conn_close(struct rc_conn *c, enum rc_reason why, bool report_down)
{
    struct rc_node *n = c->node;
    if (c->st == CS_DEAD)
        return;
    bool was_up = c->st == CS_UP;
    /* replaced: its successor is up; a successor in flight: the peer
     * dropped this one for it (its acceptor does when the successor's
     * handshake names us). Neither is a peer going down. */
    bool quiet = c->replaced || c->successor != NULL;
    if (c->inbound && c->st == CS_HANDSHAKE)
        n->nhandshakes--;
    c->st = CS_DEAD;
    index_del(n, c);
    if (c->bev)
        bufferevent_disable(c->bev, EV_READ | EV_WRITE);
    rc_epmd_lookup_cancel(c->lookup);
    c->lookup = NULL;
    conn_unlink(c);
    n->nconns--;
    c->next = n->dead;
    n->dead = c;
    event_active(n->reaper, EV_TIMEOUT, 0);

    if (c->old != NULL) {
        /* a successor that failed before it came up: the old one stays */
        c->old->successor = NULL;
        c->old = NULL;
    }
    if (c->successor != NULL) {
        /* the old one went first: the successor, still in its handshake,
         * takes the name now, and the old one's pings (they wait for it) */
        struct rc_conn *s = c->successor;
        c->successor = NULL;
        s->old = NULL;
        move_pings(c, s);
        if (find_conn(n, s->peer, NULL) == NULL)
            index_add(n, s);
        else
            conn_close(s, why, false);
    }

    char peer[RC_NAME_MAX + 1];
    snprintf(peer, sizeof peer, "%s", c->peer);
    conn_fail_pings(c, why);
    if (was_up && report_down && !quiet && n->down_cb && peer[0])
        n->down_cb(n->down_arg, peer, why);
}

static struct rc_conn *conn_new(struct rc_node *n, bool inbound)
{
    if (n->nconns >= n->max_conns)
        return NULL;
    struct rc_conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->node = n;
    c->inbound = inbound;
    c->opened_ms = c->last_read_ms = c->last_write_ms = rc_now_mono_ms();
    c->next = n->conns;
    if (n->conns)
        n->conns->prev = c;
    n->conns = c;
    n->nconns++;
    return c;
}

static void hs_flush(struct rc_conn *c, struct rc_hs_out *out)
{
    if (out->len) {
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
    /* Send the pings that waited for the connection. Collect first: a
     * write failure may close c and fail them. */
    for (struct rc_ping *p = c->pings; p && c->st == CS_UP; p = p->next)
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
        } else if (other && other->st == CS_UP) {
            /* The peer dials again while we think we are connected: it
             * restarted or lost the old socket without us noticing. The
             * new connection is the truth; the old one goes quietly and
             * its waiting pings move over. */
            struct rc_ping *list = take_pings(other);
            conn_close_both(other, RC_REASON_CONNECTION_LOST);
            while (list) {
                struct rc_ping *p = list;
                list = p->next;
                p->sent = false;
                ping_attach(c, p);
            }
        } else if (other) {
            bool ours_wins = other->st != CS_WAIT_INBOUND && strcmp(n->name, peer) > 0;
            if (ours_wins) {
                st = RC_HS_ST_NOK;
            } else {
                struct rc_ping *list = take_pings(other);
                if (other->st != CS_WAIT_INBOUND)
                    st = RC_HS_ST_OK_SIMULTANEOUS;
                conn_close_both(other, RC_REASON_CONNECTION_LOST);
                while (list) {
                    struct rc_ping *p = list;
                    list = p->next;
                    p->sent = false;
                    ping_attach(c, p);
                }
            }
        }
    }
    int r = rc_hs_accept(&c->hs, st, out);
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
    if (suppressed)
        rc_log_warn("dist: %u more inbound failures suppressed", suppressed);
    rc_log_warn("dist: inbound connection from %s%s%s closed: %s (%s)", c->addr,
                c->peer[0] ? " as " : "", c->peer, rc_reason_str(r), why);
}

static void handshake_failed(struct rc_conn *c, struct rc_hs_out *out)
{
    hs_flush(c, out);
    enum rc_reason r = c->hs.reason ? c->hs.reason : RC_REASON_HANDSHAKE_FAILED;
    if (c->inbound) {
        log_inbound_failure(c, r, c->hs.why);
    } else if (c->hs.peer_wins) {
        /* The peer's own connection to us wins; its pings wait for it. */
        if (c->bev) {
            bufferevent_free(c->bev);
            c->bev = NULL;
        }
        c->st = CS_WAIT_INBOUND;
        return;
    }
    /* Let the status frame (nok, not_allowed) go out before closing. */
    if (c->bev) {
        struct evbuffer *o = bufferevent_get_output(c->bev);
        int fd = bufferevent_getfd(c->bev);
        if (fd >= 0 && evbuffer_get_length(o))
            evbuffer_write(o, fd);
    }
    conn_close(c, r, false);
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
    } else if (m.kind == RC_MSG_REPLY && m.ref_nids >= 3) {
        for (struct rc_ping *p = c->pings; p; p = p->next) {
            if (p->sent && p->ref[0] == m.ref_ids[0] && p->ref[1] == m.ref_ids[1] &&
                p->ref[2] == m.ref_ids[2]) {
                c->ping_timed_out = false;
                ping_finish(p, m.yes ? RC_REASON_OK : RC_REASON_HANDSHAKE_FAILED);
                break;
            }
        }
    } else if (m.kind == RC_MSG_OTHER) {
        handle_probe(c, pkt, len);
    }
}

/* A packet that is not a ping nor a reply: an indirect probe message for
 * the agent, or nothing for us. Bad probes and floods close this connection
 * only (quietly: the peer is pinged afresh at the next sweep). */
static void handle_probe(struct rc_conn *c, const uint8_t *pkt, size_t len)
{
    struct rc_node *n = c->node;
    struct rc_probe p;
    uint64_t now;
    int r = rc_probe_parse(pkt, len, &p);

    if (r == 0)
        return;
    if (r < 0) {
        log_inbound_failure(c, RC_REASON_PROTOCOL_ERROR, "malformed probe message");
        conn_close(c, RC_REASON_PROTOCOL_ERROR, false);
        return;
    }
    now = rc_now_mono_ms();
    if (now - c->probe_window_ms >= 1000) {
        c->probe_window_ms = now;
        c->probe_count = 0;
    }
    if (++c->probe_count > RC_NODE_PROBE_RATE) {
        log_inbound_failure(c, RC_REASON_PROTOCOL_ERROR, "probe flood");
        conn_close(c, RC_REASON_PROTOCOL_ERROR, false);
        return;
    }
    if (n->probe_cb != NULL && c->peer[0] != '\0')
        n->probe_cb(n->probe_arg, c->peer, &p);
}

static void read_packets(struct rc_conn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    while (c->st == CS_UP) {
        size_t avail = evbuffer_get_length(in);
        if (avail < 4)
            return;
        uint8_t hdr[4];
        evbuffer_copyout(in, hdr, 4);
        uint32_t len = rc_get32(hdr);
        if (len == 0) { /* a tick, or a dropped message: never an error */
            evbuffer_drain(in, 4);
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
        uint8_t *data = evbuffer_pullup(in, 4 + (ssize_t)len);
        if (!data) {
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
        if (avail == 0)
            return;
        size_t take = avail < 4096 ? avail : 4096;
        uint8_t *data = evbuffer_pullup(in, (ssize_t)take);
        size_t used = 0;
        int r = rc_hs_feed(&c->hs, data, take, &used, &out);
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

static void conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct rc_conn *c = arg;
    if (what & BEV_EVENT_CONNECTED) {
        int fd = bufferevent_getfd(bev);
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct rc_node *n = c->node;
        c->st = CS_HANDSHAKE;
        struct rc_hs_out out;
        out.len = 0;
        if (rc_hs_init(&c->hs, RC_HS_INITIATOR, n->name, rc_node_creation(n), n->cookie,
                       n->cookie_len, c->peer, random_u32()) != 0 ||
            rc_hs_start(&c->hs, &out) == RC_HS_FAILED) {
            conn_close(c, RC_REASON_HANDSHAKE_FAILED, false);
            return;
        }
        hs_flush(c, &out);
        return;
    }
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        int err = EVUTIL_SOCKET_ERROR();
        switch (c->st) {
        case CS_CONNECTING:
            conn_close(c, reason_from_errno(err), false);
            break;
        case CS_HANDSHAKE:
            rc_hs_eof(&c->hs);
            if (c->inbound)
                log_inbound_failure(c, c->hs.reason, "closed during handshake");
            conn_close(c, c->hs.reason ? c->hs.reason : RC_REASON_HANDSHAKE_FAILED, false);
            break;
        case CS_UP:
            if ((what & BEV_EVENT_ERROR) && (err == EHOSTUNREACH || err == ENETUNREACH))
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
    c->bev = bufferevent_socket_new(n->base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (!c->bev) {
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
    c->lookup = NULL;
    if (result == 0) {
        conn_connect(c, port);
        return;
    }
    enum rc_reason r;
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
    if (port != 0) {
        conn_connect(c, port);
        return 0;
    }
    char alive[RC_NAME_MAX + 1];
    snprintf(alive, sizeof alive, "%s", c->peer);
    char *at = strchr(alive, '@');
    if (at)
        *at = '\0';
    set_port(&c->ss, n->epmd_port);
    addr_to_str((struct sockaddr *)&c->ss, c->addr, sizeof c->addr);
    c->st = CS_EPMD;
    c->lookup = rc_epmd_lookup_start(n->base, (struct sockaddr *)&c->ss, c->sslen, alive,
                                     epmd_lookup_cb, c);
    if (!c->lookup)
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
    if (!rc_node_name_valid(peer) || !ip)
        return -EINVAL;
    struct sockaddr_storage ss;
    socklen_t sslen;
    if (parse_ip(ip, port, &ss, &sslen) != 0)
        return -EINVAL;

    struct rc_ping *p = calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    p->node = n;
    p->cb = cb;
    p->arg = arg;
    p->start_us = rc_now_mono_us();
    /* Unique and unguessable without a syscall per ping (two getrandom
     * calls per ping were ~1000 syscalls per 500-peer sweep). */
    uint64_t r = ref_mix(n->ref_key + ++n->ref_counter);
    p->ref[0] = n->ref_counter;
    p->ref[1] = (uint32_t)r;
    p->ref[2] = (uint32_t)(r >> 32);
    p->timer = evtimer_new(n->base, ping_timer_cb, p);
    if (!p->timer) {
        free(p);
        return -ENOMEM;
    }
    struct timeval tv = {.tv_sec = (time_t)(timeout_ms / 1000),
                         .tv_usec = (suseconds_t)(timeout_ms % 1000) * 1000};
    evtimer_add(p->timer, &tv);

    struct rc_conn *c = find_conn(n, peer, NULL);
    struct rc_conn *stuck = NULL;
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
    if (!c) {
        c = conn_new(n, false);
        if (!c) {
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
    if (ret_ping)
        *ret_ping = p;
    return 0;
}

void rc_node_drop_peer(struct rc_node *n, const char *peer)
{
    struct rc_conn *c = find_conn(n, peer, NULL);
    if (c)
        conn_close_both(c, RC_REASON_SHUTDOWN);
}

/* ---- inbound ---- */

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
                      void *arg)
{
    struct rc_node *n = arg;
    char addr[64];
    addr_to_str(sa, addr, sizeof addr);
    if (n->nhandshakes >= RC_NODE_MAX_HANDSHAKES) {
        /* Full of connections that have not finished the handshake: close
         * the oldest rather than refuse the newest, so that a flood of idle
         * sockets cannot lock real peers out (a real handshake takes
         * milliseconds, a squatter waits). n->conns is newest first. */
        struct rc_conn *oldest = NULL;
        for (struct rc_conn *x = n->conns; x; x = x->next)
            if (x->inbound && x->st == CS_HANDSHAKE)
                oldest = x;
        if (oldest) {
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
        n->stats.refused++;
        evutil_closesocket(fd);
        uint32_t suppressed = 0;
        if (rc_ratelimit_allow(&n->rl_refuse, rc_now_mono_ms(), 1, 10000, &suppressed))
            rc_log_warn("dist: connection limit reached (%u open, %u in handshake): refusing "
                        "%s (%u more refused since the last warning)",
                        n->nconns, n->nhandshakes, addr, suppressed);
        return;
    }
    struct rc_conn *c = conn_new(n, true);
    if (!c) {
        evutil_closesocket(fd);
        return;
    }
    snprintf(c->addr, sizeof c->addr, "%s", addr);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->bev = bufferevent_socket_new(n->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (!c->bev) {
        evutil_closesocket(fd);
        conn_close(c, RC_REASON_PROTOCOL_ERROR, false);
        return;
    }
    if (rc_hs_init(&c->hs, RC_HS_ACCEPTOR, n->name, rc_node_creation(n), n->cookie, n->cookie_len,
                   NULL, random_u32()) != 0) {
        conn_close(c, RC_REASON_HANDSHAKE_FAILED, false);
        return;
    }
    c->st = CS_HANDSHAKE;
    n->nhandshakes++;
    bufferevent_setcb(c->bev, conn_read_cb, NULL, conn_event_cb, c);
    bufferevent_setwatermark(c->bev, EV_READ, 0, RC_MSG_MAX_PACKET + 8);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

static void accept_resume_cb(evutil_socket_t fd, short what, void *arg)
{
    struct rc_node *n = arg;
    if (n->listener)
        evconnlistener_enable(n->listener);
}

/* accept() failed (out of descriptors, most likely). A level-triggered
 * listener would spin on the pending connection; pause accepting for 100 ms
 * instead, so established peers keep being served. */
static void accept_error_cb(struct evconnlistener *l, void *arg)
{
    struct rc_node *n = arg;
    int err = EVUTIL_SOCKET_ERROR();
    evconnlistener_disable(l);
    struct timeval tv = {0, 100 * 1000};
    event_add(n->accept_resume, &tv);
    uint32_t suppressed = 0;
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
    for (struct rc_conn *c = n->conns; c; c = next) {
        next = c->next;
        if (c->st == CS_HANDSHAKE && now - c->opened_ms > RC_NODE_HANDSHAKE_TIMEOUT_MS) {
            if (c->inbound)
                log_inbound_failure(c, RC_REASON_TIMEOUT, "handshake not completed in time");
            conn_close(c, RC_REASON_TIMEOUT, false);
        } else if (c->st == CS_UP) {
            if (now - c->last_read_ms > RC_NODE_IDLE_MS) {
                rc_log_debug("dist: %s silent for %llu ms, closing", c->peer,
                             (unsigned long long)(now - c->last_read_ms));
                conn_close(c, RC_REASON_TIMEOUT, true);
            } else if (now - c->last_write_ms >= RC_NODE_TICK_MS) {
                conn_write(c, tick, sizeof tick);
            }
        } else if (c->st == CS_WAIT_INBOUND && !c->pings) {
            conn_close(c, RC_REASON_TIMEOUT, false);
        }
    }
}

static int listen_on(struct rc_node *n, uint16_t pmin, uint16_t pmax, char *err, size_t errlen)
{
    uint16_t lo = pmin, hi = pmax;
    if (lo == 0 && hi == 0)
        lo = hi = 0;
    int last_errno = 0;
    for (uint32_t p = lo; p <= hi; p++) {
        struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)p)};
        sin.sin_addr.s_addr = htonl(INADDR_ANY);
        n->listener = evconnlistener_new_bind(n->base, accept_cb, n,
                                              LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
                                                  LEV_OPT_CLOSE_ON_EXEC,
                                              511, (struct sockaddr *)&sin, sizeof sin);
        if (n->listener) {
            evconnlistener_set_error_cb(n->listener, accept_error_cb);
            break;
        }
        last_errno = EVUTIL_SOCKET_ERROR();
        if (hi == 0)
            break;
    }
    if (!n->listener) {
        snprintf(err, errlen, "cannot listen for distribution on ports %u-%u: %s", lo, hi,
                 strerror(last_errno));
        return -last_errno ? -last_errno : -EADDRINUSE;
    }
    struct sockaddr_in bound;
    socklen_t blen = sizeof bound;
    getsockname(evconnlistener_get_fd(n->listener), (struct sockaddr *)&bound, &blen);
    n->port = ntohs(bound.sin_port);
    return 0;
}

struct rc_node *rc_node_new(struct event_base *base, const struct rc_node_opts *o, char *err,
                            size_t errlen)
{
    if (!rc_node_name_valid(o->name)) {
        snprintf(err, errlen, "invalid node name");
        return NULL;
    }
    if (o->cookie_len == 0 || o->cookie_len > RC_COOKIE_MAX) {
        snprintf(err, errlen, "the cookie must be 1..%d bytes", RC_COOKIE_MAX);
        return NULL;
    }
    struct rc_node *n = calloc(1, sizeof *n);
    if (!n) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    n->base = base;
    snprintf(n->name, sizeof n->name, "%s", o->name);
    memcpy(n->cookie, o->cookie, o->cookie_len);
    n->cookie_len = o->cookie_len;
    n->epmd_port = o->epmd_port ? o->epmd_port : 4369;
    n->fixed_creation = (uint32_t)(rc_now_wall_ms() / 1000);
    if (n->fixed_creation < 4)
        n->fixed_creation = 4;
    n->pid_id = 1 + (random_u32() % 0x7fff);
    n->ref_key = (uint64_t)random_u32() << 32 | random_u32();
    n->max_conns = conn_cap();
    n->reaper = event_new(base, -1, 0, reap_cb, n);
    n->housekeeping = event_new(base, -1, EV_PERSIST, housekeeping_cb, n);
    n->accept_resume = evtimer_new(base, accept_resume_cb, n);
    if (!n->reaper || !n->housekeeping || !n->accept_resume) {
        snprintf(err, errlen, "out of memory");
        goto out_free;
    }
    struct timeval one_s = {1, 0};
    event_add(n->housekeeping, &one_s);

    if (o->listen) {
        if (listen_on(n, o->port_min, o->port_max, err, errlen) != 0)
            goto out_free;
        if (o->epmd != RC_EPMD_OFF) {
            char alive[RC_NAME_MAX + 1];
            snprintf(alive, sizeof alive, "%s", n->name);
            *strchr(alive, '@') = '\0';
            n->epmd = rc_epmd_new(base, o->epmd, n->epmd_port, alive, n->port,
                                  o->epmd_check_ms ? o->epmd_check_ms : 1000, err, errlen);
            if (!n->epmd)
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
    if (!n)
        return;
    while (n->conns) {
        struct rc_conn *c = n->conns;
        /* Pings are forgotten, not failed: the owner is going away. */
        while (c->pings)
            ping_free(c->pings);
        conn_close(c, RC_REASON_SHUTDOWN, false);
    }
    reap_cb(-1, 0, n);
    if (n->listener)
        evconnlistener_free(n->listener);
    rc_epmd_free(n->epmd);
    if (n->reaper)
        event_free(n->reaper);
    if (n->housekeeping)
        event_free(n->housekeeping);
    if (n->accept_resume)
        event_free(n->accept_resume);
    memset(n->cookie, 0, sizeof n->cookie);
    free(n);
}

/*
 * fuzz_dist_reader.c - libFuzzer target for the distribution packet reader
 * of a real node (erldist/node.c: read_packets, handle_packet, and the
 * handshake-to-packet hand-over), driven over loopback TCP.
 *
 * One rc_node (listening, epmd off) lives for the whole run. Each input:
 *
 *   mode:8 stream...
 *     mode bit 0   0: we dial the node and handshake as initiator (inbound
 *                     connection for the node); 1: the node pings us and we
 *                     accept and handshake as acceptor (outbound connection
 *                     with a ping waiting for its reply)
 *     mode bit 1   outbound only: answer the node's is_auth correctly before
 *                  the fuzzed bytes (so the reply-matching path runs too)
 *     mode bit 2   glue the fuzzed bytes to the handshake's last frame in
 *                  one write (initiator only: bytes of the 4-byte phase that
 *                  arrive in the same read as 'a' must be kept)
 *     mode bits 4-7 chunk size: 0 = one write, else 1..15 bytes per write
 *                  with the loop run between writes (partial frames)
 *
 * Then the loop runs until the node is idle, we close, and the loop runs
 * until the node has no connection left. Broken promises abort: a
 * connection or handshake counter that does not return to zero, a ping
 * callback not called exactly once, a node that never lets go of a socket.
 * Slower than a pure parser target (one TCP connection and handshake per
 * input), but it is the real code path.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "rollcall/handshake.h"
#include "rollcall/log.h"
#include "rollcall/msg.h"
#include "rollcall/node.h"

#define COOKIE "fuzzcookie"
#define NODE_NAME "node@127.0.0.1"
#define PEER_NAME "fz@127.0.0.1"
#define MAX_STREAM (RC_MSG_MAX_PACKET + 4096)

static struct event_base *base;
static struct rc_node *node;
static int lfd = -1; /* our listener for the outbound mode */
static uint16_t lport;

static void check(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_dist_reader: broken promise: %s\n", what);
        abort();
    }
}

/*
 * One TCP connection per input, ~2000 inputs a second, for 10 minutes and
 * more: so that TIME_WAIT sockets cannot pile up on one address pair, our
 * sockets close with RST (SO_LINGER 0: no TIME_WAIT on our side), and the
 * connections we dial come from a rotating source address in 127.1.0.0/16,
 * spreading the node's own TIME_WAITs (of connections it closed first) over
 * 65536 addresses.
 */
static void no_time_wait(int fd)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};

    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
}

static void bind_rotating_source(int fd)
{
    static uint32_t next;
    struct sockaddr_in src = {.sin_family = AF_INET,
                              .sin_addr.s_addr = htonl(0x7f010000u | (next++ & 0xffffu))};

    no_time_wait(fd);
    check(bind(fd, (struct sockaddr *)&src, sizeof src) == 0, "bind a loopback source address");
}

static void spin(int n)
{
    for (int i = 0; i < n; i++)
        event_base_loop(base, EVLOOP_NONBLOCK);
}

static void set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* Sends all of buf, running the loop while the socket is full. */
static bool send_all(int fd, const uint8_t *buf, size_t len)
{
    size_t off = 0;
    int stalls = 0;
    while (off < len) {
        ssize_t w = send(fd, buf + off, len - off, MSG_NOSIGNAL);
        if (w > 0) {
            off += (size_t)w;
            stalls = 0;
            continue;
        }
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && stalls++ < 10000) {
            spin(1);
            continue;
        }
        return false; /* the node closed on us: fine, it decided */
    }
    return true;
}

/* Reads what is there; -1 on EOF/error. */
static ssize_t drain(int fd, uint8_t *buf, size_t cap)
{
    ssize_t r = recv(fd, buf, cap, 0);
    if (r == 0)
        return -1;
    if (r < 0)
        return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
    return r;
}

/* Runs a handshake over fd with the loop turning, until DONE or failure. */
static bool handshake(int fd, struct rc_hs *hs, struct rc_hs_out *out, uint8_t *rest,
                      size_t *rest_len)
{
    uint8_t in[4 * RC_HS_FRAME_MAX];
    size_t nin = 0;
    *rest_len = 0;
    for (int iter = 0; iter < 2000; iter++) {
        if (out->len) {
            if (!send_all(fd, out->data, out->len))
                return false;
            out->len = 0;
        }
        spin(1);
        ssize_t r = drain(fd, in + nin, sizeof in - nin);
        if (r < 0)
            return false;
        nin += (size_t)r;
        for (;;) {
            size_t used = 0;
            int h = rc_hs_feed(hs, in, nin, &used, out);
            memmove(in, in + used, nin - used);
            nin -= used;
            if (h == RC_HS_NAME) {
                h = rc_hs_accept(hs, RC_HS_ST_OK, out);
                if (h == RC_HS_AGAIN)
                    continue;
            }
            if (h == RC_HS_DONE) {
                memcpy(rest, in, nin);
                *rest_len = nin;
                return true;
            }
            if (h == RC_HS_FAILED)
                return false;
            break;
        }
    }
    return false;
}

struct ping_state {
    int calls;
    enum rc_reason reason;
};

static void ping_cb(void *arg, enum rc_reason reason, uint64_t rtt_us)
{
    struct ping_state *ps = arg;
    ps->calls++;
    ps->reason = reason;
}

static void init(void)
{
    rc_log_set_level(RC_LOG_ERROR);
    base = event_base_new();
    check(base != NULL, "event_base_new");
    struct rc_node_opts o = {
        .name = NODE_NAME,
        .cookie = (const uint8_t *)COOKIE,
        .cookie_len = strlen(COOKIE),
        .listen = true,
        .epmd = RC_EPMD_OFF,
        .epmd_port = 1, /* never asked: pings give the port */
    };
    char err[256];
    node = rc_node_new(base, &o, err, sizeof err);
    if (!node) {
        fprintf(stderr, "fuzz_dist_reader: rc_node_new: %s\n", err);
        abort();
    }
    lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    check(bind(lfd, (struct sockaddr *)&sin, sizeof sin) == 0 && listen(lfd, 16) == 0,
          "our listener");
    socklen_t sl = sizeof sin;
    getsockname(lfd, (struct sockaddr *)&sin, &sl);
    lport = ntohs(sin.sin_port);
    set_nonblock(lfd);
}

/* Our side of the connection, handshake done; -1 if the node refused. */
static int open_inbound(struct rc_hs *hs, uint8_t *rest, size_t *rest_len, bool glue,
                        const uint8_t *stream, size_t len, bool *glued)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_port = htons(rc_node_port(node)),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind_rotating_source(fd);
    if (connect(fd, (struct sockaddr *)&sin, sizeof sin) != 0) {
        /* libFuzzer's timer signal can interrupt a blocking connect (when the
         * node's accept queue is momentarily full the SYN is retried after
         * 1 s): the connect goes on, so wait for it, up to 5 s */
        int e = errno, soerr = 0;
        socklen_t sl = sizeof soerr;
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        int pr = -1;

        for (int waited = 0; e == EINTR && waited < 50 && pr <= 0; waited++)
            pr = poll(&pfd, 1, 100);
        if (e == EINTR && pr > 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0)
            e = soerr;
        if (e != 0) {
            fprintf(stderr, "fuzz_dist_reader: connect: %s\n", strerror(e));
            check(false, "connect to the node");
        }
    }
    set_nonblock(fd);
    struct rc_hs_out out = {.len = 0};
    rc_hs_init(hs, RC_HS_INITIATOR, PEER_NAME, 7, (const uint8_t *)COOKIE, strlen(COOKIE),
               NODE_NAME, 0x9abcdef0u);
    rc_hs_start(hs, &out);
    *glued = false;
    /* The initiator's last frame is 'r'; the acceptor switches to Len:32
     * after sending 'a', so our fuzzed bytes may follow 'r' in one write.
     * Drive the handshake up to the challenge by hand to get there. */
    uint8_t in[4 * RC_HS_FRAME_MAX];
    size_t nin = 0;
    for (int iter = 0; iter < 2000; iter++) {
        if (out.len) {
            bool last = glue && out.len == 23 && out.data[2] == 'r';
            if (last) {
                static uint8_t buf[2 * RC_HS_FRAME_MAX + MAX_STREAM];
                memcpy(buf, out.data, out.len);
                memcpy(buf + out.len, stream, len);
                send_all(fd, buf, out.len + len);
                *glued = true;
            } else if (!send_all(fd, out.data, out.len)) {
                close(fd);
                return -1;
            }
            out.len = 0;
        }
        spin(1);
        ssize_t r = drain(fd, in + nin, sizeof in - nin);
        if (r < 0) {
            /* After a glued write the node may have read our bytes, sent
             * 'a' and closed on the garbage: an RST can then eat the 'a'. */
            close(fd);
            return *glued ? -2 : -1;
        }
        nin += (size_t)r;
        size_t used = 0;
        int h = rc_hs_feed(hs, in, nin, &used, &out);
        memmove(in, in + used, nin - used);
        nin -= used;
        if (h == RC_HS_DONE) {
            memcpy(rest, in, nin);
            *rest_len = nin;
            return fd;
        }
        if (h == RC_HS_FAILED) {
            close(fd);
            return -1;
        }
    }
    close(fd);
    return -1;
}

static int open_outbound(struct ping_state *ps, struct rc_ping **ret_ping, uint8_t *rest,
                         size_t *rest_len)
{
    check(rc_node_ping(node, PEER_NAME, "127.0.0.1", lport, 5000, ping_cb, ps, ret_ping) == 0,
          "rc_node_ping");
    int fd = -1;
    for (int i = 0; i < 2000 && fd < 0; i++) {
        spin(1);
        fd = accept(lfd, NULL, NULL);
    }
    check(fd >= 0, "the node dials us");
    no_time_wait(fd);
    set_nonblock(fd);
    struct rc_hs hs;
    struct rc_hs_out out = {.len = 0};
    rc_hs_init(&hs, RC_HS_ACCEPTOR, PEER_NAME, 9, (const uint8_t *)COOKIE, strlen(COOKIE), NULL,
               0x87654321u);
    rc_hs_start(&hs, &out);
    bool ok = handshake(fd, &hs, &out, rest, rest_len);
    if (out.len)
        send_all(fd, out.data, out.len); /* 'a' */
    check(ok, "outbound handshake with a correct peer");
    return fd;
}

/* Reads the node's is_auth (after the handshake) and answers it. */
static void answer_ping(int fd, uint8_t *rest, size_t *rest_len)
{
    static uint8_t in[RC_MSG_MAX_PACKET];
    size_t nin = *rest_len;
    memcpy(in, rest, nin);
    *rest_len = 0;
    for (int iter = 0; iter < 2000; iter++) {
        while (nin >= 4) {
            uint32_t len = (uint32_t)in[0] << 24 | in[1] << 16 | in[2] << 8 | in[3];
            check(len < sizeof in - 4, "node packet size");
            if (nin < 4 + len)
                break;
            struct rc_msg m;
            if (len && rc_msg_parse(in + 4, len, &m) == 0 && m.kind == RC_MSG_IS_AUTH) {
                uint8_t reply[RC_MSG_OUT_MAX];
                size_t rlen;
                check(rc_msg_build_is_auth_reply(reply, sizeof reply, &rlen, &m) == 0,
                      "build reply");
                send_all(fd, reply, rlen);
                return;
            }
            memmove(in, in + 4 + len, nin - 4 - len);
            nin -= 4 + len;
        }
        spin(1);
        ssize_t r = drain(fd, in + nin, sizeof in - nin);
        if (r < 0)
            return;
        nin += (size_t)r;
    }
    check(false, "the node never sent its ping");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t rest[4 * RC_HS_FRAME_MAX], sink[65536];
    if (!base)
        init();
    if (size < 1)
        return 0;
    unsigned mode = data[0];
    const uint8_t *stream = data + 1;
    size_t len = size - 1;
    if (len > MAX_STREAM)
        len = MAX_STREAM;
    bool outbound = mode & 1;
    size_t chunk = mode >> 4;

    struct ping_state ps = {0};
    struct rc_ping *ping = NULL;
    struct rc_hs hs;
    size_t rest_len = 0;
    bool glued = false;
    int fd;
    if (outbound) {
        fd = open_outbound(&ps, &ping, rest, &rest_len);
        if (mode & 2)
            answer_ping(fd, rest, &rest_len);
    } else {
        fd = open_inbound(&hs, rest, &rest_len, (mode & 4) && chunk == 0, stream, len, &glued);
        check(fd >= 0 || fd == -2, "inbound handshake with the right cookie");
    }

    if (fd >= 0 && !glued) {
        size_t off = 0;
        while (off < len) {
            size_t n = chunk ? (len - off < chunk ? len - off : chunk) : len - off;
            if (!send_all(fd, stream + off, n))
                break;
            off += n;
            if (chunk) {
                spin(1);
                if (drain(fd, sink, sizeof sink) < 0)
                    break;
            }
        }
    }
    /* Until idle: the node reads at most a few KB per turn. */
    for (size_t i = 0; fd >= 0 && i < len / 2048 + 8; i++) {
        spin(1);
        if (drain(fd, sink, sizeof sink) < 0)
            break;
    }
    if (fd >= 0)
        close(fd);

    struct rc_node_stats st;
    int turns = 0;
    do {
        spin(1);
        rc_node_stats(node, &st);
    } while ((st.conns_open || (outbound && ps.calls == 0)) && ++turns < 20000);
    check(st.conns_open == 0, "a connection outlived its socket");
    check(st.handshakes_pending == 0, "the handshake counter leaked");
    if (outbound) {
        check(ps.calls == 1, "the ping callback ran exactly once");
        if (mode & 2)
            check(ps.reason == RC_REASON_OK, "a correctly answered ping is a pong");
    }
    (void)ping;
    return 0;
}

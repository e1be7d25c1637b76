/*
 * test_epmd.c - the EPMD lookup client, registration keeper and embedded
 * server (erldist/epmd_client.c, epmd_keeper.c, epmd_server.c) on a real
 * libevent loop, on 127.0.0.1 and ports picked at run time.
 *
 * The "peers" are raw sockets driven between loop iterations, so a test can
 * say exactly which bytes a BEAM node or epmd would send.
 *
 * With ROLLCALL_REAL_EPMD=/path/to/epmd set, test_real_epmd runs OTP's own
 * epmd as a child (foreground, on a free port) and checks the keeper against
 * it, `epmd -names` against both, and the takeover when epmd dies. With
 * ROLLCALL_REAL_ERL=/path/to/erl set, test_real_erl registers a real BEAM
 * node (erl -start_epmd false) with the embedded server. Unset, they skip.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "rollcall/epmd_client.h"
#include "rollcall/epmd_keeper.h"
#include "rollcall/epmd_msg.h"
#include "rollcall/clock.h"
#include "rollcall/log.h"

#define LOOP_WAIT_MS 3000

static struct event_base *base;

/* ---- helpers: ports, the loop, raw peers ---- */

static uint16_t free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin;
    socklen_t len;
    assert_true(fd >= 0);
    sin = (struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_ANY)};
    assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    len = sizeof(sin);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    close(fd);
    return ntohs(sin.sin_port);
}

static struct sockaddr_in loopback(uint16_t port)
{
    return (struct sockaddr_in){
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
}

static void noop_cb(evutil_socket_t fd, short what, void *arg)
{
}

/* Runs the loop until *flag or timeout_ms; a 5 ms tick keeps EVLOOP_ONCE from
 * blocking past the deadline. Returns *flag. */
static bool run_until(const bool *flag, uint64_t timeout_ms)
{
    struct event *tick = event_new(base, -1, EV_PERSIST, noop_cb, NULL);
    struct timeval tv = {0, 5000};
    uint64_t end;
    event_add(tick, &tv);
    end = rc_now_mono_ms() + timeout_ms;
    while (!(flag != NULL && *flag) && rc_now_mono_ms() < end)
        event_base_loop(base, EVLOOP_ONCE);
    event_free(tick);
    return flag != NULL && *flag;
}

static void run_for(uint64_t ms)
{
    run_until(NULL, ms);
}

/* Runs the loop until the keeper reports want (or timeout). */
static bool run_until_state(struct rc_epmd *e, const char *want, uint64_t timeout_ms)
{
    uint64_t end = rc_now_mono_ms() + timeout_ms;
    while (strcmp(rc_epmd_state(e), want) != 0 && rc_now_mono_ms() < end)
        run_for(5);
    return strcmp(rc_epmd_state(e), want) == 0;
}

struct lk {
    bool done;
    int calls;
    int result;
    uint16_t port;
};

static void lk_cb(void *arg, int result, uint16_t port)
{
    struct lk *r = arg;
    r->done = true;
    r->calls++;
    r->result = result;
    r->port = port;
}

static struct lk lookup(uint16_t epmd_port, const char *alive)
{
    struct lk r = {0};
    struct sockaddr_in sin = loopback(epmd_port);
    struct rc_epmd_lookup *l =
        rc_epmd_lookup_start(base, (struct sockaddr *)&sin, sizeof(sin), alive, lk_cb, &r);
    assert_non_null(l);
    assert_true(run_until(&r.done, LOOP_WAIT_MS));
    run_for(20); /* and never a second time */
    assert_int_equal(r.calls, 1);
    return r;
}

/* A peer: blocking connect (the listen backlog takes it), then non-blocking. */
static int raw_connect(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sin;
    assert_true(fd >= 0);
    sin = loopback(port);
    assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

static void raw_send(int fd, const void *buf, size_t len)
{
    assert_int_equal(send(fd, buf, len, MSG_NOSIGNAL), (ssize_t)len);
}

/* Reads while the loop runs until min bytes, EOF or timeout. */
static size_t raw_read(int fd, uint8_t *buf, size_t cap, size_t min, uint64_t timeout_ms,
                       bool *ret_eof)
{
    size_t got = 0;
    bool eof = false;
    uint64_t end = rc_now_mono_ms() + timeout_ms;
    while (got < min && !eof && rc_now_mono_ms() < end) {
        ssize_t n;
        event_base_loop(base, EVLOOP_NONBLOCK);
        n = recv(fd, buf + got, cap - got, 0);
        if (n > 0)
            got += (size_t)n;
        else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
            eof = true;
        else
            poll(NULL, 0, 1);
    }
    if (ret_eof != NULL)
        *ret_eof = eof;
    return got;
}

static size_t raw_read_to_eof(int fd, uint8_t *buf, size_t cap)
{
    bool eof = false;
    size_t got = raw_read(fd, buf, cap, cap, LOOP_WAIT_MS, &eof);
    assert_true(eof);
    return got;
}

/* Registers alive through a raw socket as a BEAM node would; returns the fd
 * (the registration) and the creation. */
static int raw_alive2(uint16_t epmd_port, const char *alive, uint16_t port, uint16_t high,
                      uint8_t *ret_resp, size_t *ret_len)
{
    uint8_t req[300];
    size_t len;
    int fd;
    size_t want;
    assert_int_equal(rc_epmd_build_alive2_req(req, sizeof(req), &len, port, alive), 0);
    req[7] = (uint8_t)(high >> 8); /* High */
    req[8] = (uint8_t)high;
    fd = raw_connect(epmd_port);
    raw_send(fd, req, len);
    want = high >= 6 ? 6 : 4;
    *ret_len = raw_read(fd, ret_resp, want, want, LOOP_WAIT_MS, NULL);
    return fd;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int registered(uint16_t epmd_port, const char *alive, uint16_t port, uint32_t *ret_creation)
{
    uint8_t resp[8];
    size_t len;
    int fd = raw_alive2(epmd_port, alive, port, 6, resp, &len);
    assert_int_equal(len, 6);
    assert_int_equal(resp[0], RC_EPMD_ALIVE2_X_RESP);
    assert_int_equal(resp[1], 0);
    *ret_creation = be32(resp + 2);
    return fd;
}

static size_t names(uint16_t epmd_port, char *out, size_t cap)
{
    int fd = raw_connect(epmd_port);
    const uint8_t req[] = {0, 1, RC_EPMD_NAMES_REQ};
    uint8_t buf[8192];
    size_t got;
    size_t n;
    raw_send(fd, req, sizeof(req));
    got = raw_read_to_eof(fd, buf, sizeof(buf));
    close(fd);
    assert_true(got >= 4);
    assert_int_equal(be32(buf), epmd_port);
    n = got - 4 < cap - 1 ? got - 4 : cap - 1;
    memcpy(out, buf + 4, n);
    out[n] = '\0';
    return n;
}

/* Runs argv as a child, collecting its stdout while the loop keeps serving. */
static int run_cmd(char *const argv[], char *out, size_t cap)
{
    int p[2];
    pid_t pid;
    size_t got = 0;
    uint64_t end;
    int status = 0;
    assert_int_equal(pipe(p), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(p[1], 1);
        close(p[0]);
        close(p[1]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(p[1]);
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    end = rc_now_mono_ms() + 10000;
    for (;;) {
        ssize_t n;
        event_base_loop(base, EVLOOP_NONBLOCK);
        n = read(p[0], out + got, cap - 1 - got);
        if (n > 0) {
            got += (size_t)n;
            continue;
        }
        if (n == 0 || (errno != EAGAIN && errno != EINTR) || rc_now_mono_ms() > end)
            break;
        poll(NULL, 0, 2);
    }
    out[got] = '\0';
    close(p[0]);
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int setup(void **state)
{
    base = event_base_new();
    return base != NULL ? 0 : -1;
}

/* Children a failed assertion would leave behind (cmocka longjmps out). */
static pid_t child_epmd, child_erl;

static void reap(pid_t *pid)
{
    if (*pid > 0) {
        kill(*pid, SIGKILL);
        waitpid(*pid, NULL, 0);
    }
    *pid = 0;
}

static int teardown(void **state)
{
    reap(&child_epmd);
    reap(&child_erl);
    event_base_free(base);
    base = NULL;
    return 0;
}

static struct rc_epmd *embedded(uint16_t port, const char *alive, uint16_t dist_port)
{
    char err[256] = "";
    struct rc_epmd *e =
        rc_epmd_new(base, RC_EPMD_EMBEDDED, port, alive, dist_port, 1000, err, sizeof(err));
    if (e == NULL)
        fail_msg("rc_epmd_new: %s", err);
    return e;
}

/* ---- client lookups ---- */

static void test_lookup_own_and_unknown(void **state)
{
    uint16_t port = free_port();
    struct rc_epmd *e = embedded(port, "rollcall", 4370);
    struct lk r;
    int fd;
    const uint8_t req[] = {0x00, 0x09, 'z', 'r', 'o', 'l', 'l', 'c', 'a', 'l', 'l'};
    uint8_t buf[64];
    size_t got;
    const uint8_t want[] = {'w', 0,   0x11, 0x12, 77,  0,   0,   6,   0,   5, 0,
                            8,   'r', 'o',  'l',  'l', 'c', 'a', 'l', 'l', 0, 0};
    assert_string_equal(rc_epmd_state(e), "embedded");
    assert_true(rc_epmd_creation(e) >= 4);

    r = lookup(port, "rollcall");
    assert_int_equal(r.result, 0);
    assert_int_equal(r.port, 4370);

    r = lookup(port, "nobody");
    assert_int_equal(r.result, -ENOENT);
    assert_int_equal(r.port, 0);

    /* a raw PORT_PLEASE2 gets PORT2_RESP byte for byte, then EOF */
    fd = raw_connect(port);
    raw_send(fd, req, sizeof(req));
    got = raw_read_to_eof(fd, buf, sizeof(buf));
    assert_int_equal(got, sizeof(want));
    assert_memory_equal(buf, want, sizeof(want));
    close(fd);
    rc_epmd_free(e);
}

static void test_lookup_refused(void **state)
{
    struct lk r = lookup(free_port(), "rollcall");
    assert_int_equal(r.result, -ECONNREFUSED);
}

static void test_lookup_cancel(void **state)
{
    uint16_t port = free_port();
    struct rc_epmd *e = embedded(port, "rollcall", 4370);
    struct lk r1 = {0}, r2 = {0}, r3 = {0};
    int lfd;
    struct sockaddr_in mute;
    socklen_t sl;
    struct rc_epmd_lookup *l3;

    /* cancelled before the loop ran: a pending refusal or a reply never arrives */
    struct sockaddr_in up = loopback(port), down = loopback(free_port());
    struct rc_epmd_lookup *l1 =
        rc_epmd_lookup_start(base, (struct sockaddr *)&up, sizeof(up), "rollcall", lk_cb, &r1);
    struct rc_epmd_lookup *l2 =
        rc_epmd_lookup_start(base, (struct sockaddr *)&down, sizeof(down), "x", lk_cb, &r2);
    assert_non_null(l1);
    assert_non_null(l2);
    rc_epmd_lookup_cancel(l1);
    rc_epmd_lookup_cancel(l2);
    rc_epmd_lookup_cancel(NULL);

    /* cancelled mid-flight: connected and sent, the "EPMD" never answers */
    lfd = socket(AF_INET, SOCK_STREAM, 0);
    mute = loopback(0);
    assert_int_equal(bind(lfd, (struct sockaddr *)&mute, sizeof(mute)), 0);
    assert_int_equal(listen(lfd, 8), 0);
    sl = sizeof(mute);
    getsockname(lfd, (struct sockaddr *)&mute, &sl);
    l3 = rc_epmd_lookup_start(base, (struct sockaddr *)&mute, sizeof(mute), "x", lk_cb, &r3);
    assert_non_null(l3);
    run_for(50);
    assert_int_equal(r3.calls, 0);
    rc_epmd_lookup_cancel(l3);
    close(lfd);

    run_for(100);
    assert_int_equal(r1.calls, 0);
    assert_int_equal(r2.calls, 0);
    assert_int_equal(r3.calls, 0);

    /* bad arguments: NULL at once, no callback ever */
    errno = 0;
    assert_null(rc_epmd_lookup_start(base, (struct sockaddr *)&up, sizeof(up), "", lk_cb, &r1));
    assert_int_equal(errno, EINVAL);
    assert_null(rc_epmd_lookup_start(base, (struct sockaddr *)&up, 2, "a", lk_cb, &r1));
    run_for(20);
    assert_int_equal(r1.calls, 0);
    rc_epmd_free(e);
}

/* A server that answers garbage, or nothing, or too much. */
static void test_lookup_malformed(void **state)
{
    const struct {
        const char *answer;
        size_t len;
        int want;
    } cases[] = {
        {"", 0, -EPROTO},      {"w", 1, -EPROTO},
        {"w\x01", 2, -ENOENT}, {"v\x00\x00\x00\x00\x05", 6, -EPROTO},
        {NULL, 5000, -EPROTO}, /* over the client's cap */
    };
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = loopback(0);
    socklen_t sl;

    assert_int_equal(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(listen(lfd, 8), 0);
    sl = sizeof(sin);
    getsockname(lfd, (struct sockaddr *)&sin, &sl);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct lk r = {0};
        struct rc_epmd_lookup *l =
            rc_epmd_lookup_start(base, (struct sockaddr *)&sin, sizeof(sin), "py", lk_cb, &r);
        int c = -1;
        uint64_t end;
        uint8_t big[5000];
        assert_non_null(l);
        end = rc_now_mono_ms() + LOOP_WAIT_MS;
        while (c < 0 && rc_now_mono_ms() < end) {
            event_base_loop(base, EVLOOP_NONBLOCK);
            c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
            if (c < 0)
                poll(NULL, 0, 1);
        }
        assert_true(c >= 0);
        memset(big, 'w', sizeof(big));
        if (cases[i].len != 0)
            send(c, cases[i].answer != NULL ? (const void *)cases[i].answer : big, cases[i].len,
                 MSG_NOSIGNAL);
        shutdown(c, SHUT_WR);
        assert_true(run_until(&r.done, LOOP_WAIT_MS));
        assert_int_equal(r.result, cases[i].want);
        close(c);
    }
    close(lfd);
}

/* ---- embedded server ---- */

static void test_alive2_registration(void **state)
{
    uint16_t port = free_port();
    struct rc_epmd *e = embedded(port, "rollcall", 4370);
    struct lk r;
    uint8_t resp[8];
    size_t len;
    int dup;
    const uint8_t dup_want[] = {'v', 1, 0, 0, 0, 99};
    bool eof;
    uint32_t c2;

    uint32_t c1;
    int reg = registered(port, "beam", 5555, &c1);
    uint32_t now = (uint32_t)time(NULL);
    assert_true(c1 >= now - 5 && c1 <= now + 5); /* a fresh name: unix time */

    r = lookup(port, "beam");
    assert_int_equal(r.result, 0);
    assert_int_equal(r.port, 5555);

    /* a duplicate gets Result 1, creation 99, and its socket stays open */
    dup = raw_alive2(port, "beam", 6666, 6, resp, &len);
    assert_int_equal(len, 6);
    assert_memory_equal(resp, dup_want, 6);
    eof = false;
    raw_read(dup, resp, sizeof(resp), 1, 100, &eof);
    assert_false(eof);
    close(dup);
    /* our own name is taken too */
    dup = raw_alive2(port, "rollcall", 6666, 6, resp, &len);
    assert_int_equal(len, 6);
    assert_memory_equal(resp, dup_want, 6);
    close(dup);
    r = lookup(port, "beam");
    assert_int_equal(r.port, 5555);

    /* closing the registration socket unregisters */
    close(reg);
    run_for(20);
    r = lookup(port, "beam");
    assert_int_equal(r.result, -ENOENT);

    /* the name comes back with creation + 1 */
    reg = registered(port, "beam", 5556, &c2);
    assert_int_equal(c2, c1 + 1);
    r = lookup(port, "beam");
    assert_int_equal(r.port, 5556);

    /* any byte on the registration socket unregisters too */
    raw_send(reg, "x", 1);
    raw_read(reg, resp, sizeof(resp), 1, LOOP_WAIT_MS, &eof);
    assert_true(eof);
    close(reg);
    r = lookup(port, "beam");
    assert_int_equal(r.result, -ENOENT);

    /* High 5: the old ALIVE2_RESP with a 16-bit creation 1..3 */
    reg = raw_alive2(port, "old", 5557, 5, resp, &len);
    assert_int_equal(len, 4);
    assert_int_equal(resp[0], RC_EPMD_ALIVE2_RESP);
    assert_int_equal(resp[1], 0);
    assert_int_equal(resp[2], 0);
    assert_in_range(resp[3], 1, 3);
    r = lookup(port, "old");
    assert_int_equal(r.port, 5557);
    close(reg);

    rc_epmd_free(e);
}

static void test_names(void **state)
{
    uint16_t port = free_port();
    struct rc_epmd *e = embedded(port, "rollcall", 4370);
    char out[4096];
    uint32_t c;
    int reg;
    names(port, out, sizeof(out));
    assert_string_equal(out, "name rollcall at port 4370\n");

    reg = registered(port, "beam", 5555, &c);
    names(port, out, sizeof(out));
    assert_string_equal(out, "name rollcall at port 4370\nname beam at port 5555\n");
    close(reg);
    run_for(20);
    names(port, out, sizeof(out));
    assert_string_equal(out, "name rollcall at port 4370\n");
    rc_epmd_free(e);
}

static void test_bad_requests_closed(void **state)
{
    uint16_t port = free_port();
    struct rc_epmd *e = embedded(port, "rollcall", 4370);
    const uint8_t req[] = {0x00, 0x02, 'z', 'r'};
    uint8_t one[8];
    struct lk r;
    int fd;
    const struct {
        uint8_t b[8];
        size_t len;
    } cases[] = {
        {{0xff, 0xff}, 2},                  /* Len 65535 */
        {{0x0b, 0xf4}, 2},                  /* Len 3060 */
        {{0x00, 0x00}, 2},                  /* Len 0 */
        {{0x00, 0x01, 'k'}, 3},             /* KILL */
        {{0x00, 0x01, 'z'}, 3},             /* PORT_PLEASE2 without a name */
        {{0x00, 0x01, 'n', 0x00, 0x01}, 5}, /* bytes after the request */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int cfd = raw_connect(port);
        uint8_t buf[64];
        bool eof = false;
        size_t got;

        raw_send(cfd, cases[i].b, cases[i].len);
        got = raw_read(cfd, buf, sizeof(buf), sizeof(buf), LOOP_WAIT_MS, &eof);
        assert_true(eof);
        assert_int_equal(got, 0);
        close(cfd);
    }
    /* a request split into single bytes is fine */
    fd = raw_connect(port);
    for (size_t i = 0; i < sizeof(req); i++) {
        raw_send(fd, req + i, 1);
        run_for(5);
    }
    assert_int_equal(raw_read_to_eof(fd, one, sizeof(one)), 2);
    assert_int_equal(one[0], 'w');
    assert_int_equal(one[1], 1);
    close(fd);

    r = lookup(port, "rollcall");
    assert_int_equal(r.port, 4370);
    rc_epmd_free(e);
}

static void test_many_connections(void **state)
{
    enum { N = 1100 };
    static int fds[N];
    struct rlimit rl;
    uint16_t port;
    struct rc_epmd *e;
    struct sockaddr_in sin;
    int closed = 0;
    uint64_t end;
    struct lk r;

    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < 4096) {
        rl.rlim_cur = rl.rlim_max < 4096 ? rl.rlim_max : 4096;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur < 2 * N + 64)
        skip();

    port = free_port();
    e = embedded(port, "rollcall", 4370);
    sin = loopback(port);
    for (int i = 0; i < N; i++) {
        int rc;
        fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        assert_true(fds[i] >= 0);
        rc = connect(fds[i], (struct sockaddr *)&sin, sizeof(sin));
        assert_true(rc == 0 || errno == EINPROGRESS);
        if (i % 100 == 0)
            event_base_loop(base, EVLOOP_NONBLOCK);
    }
    /* the server takes 1024 and closes the rest at once */
    end = rc_now_mono_ms() + 5000;
    while (closed < N - 1024 && rc_now_mono_ms() < end) {
        run_for(10);
        closed = 0;
        for (int i = 0; i < N; i++) {
            char b;
            ssize_t n = recv(fds[i], &b, 1, MSG_PEEK);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != ENOTCONN))
                closed++;
        }
    }
    assert_int_equal(closed, N - 1024);

    for (int i = 0; i < N; i++)
        close(fds[i]);
    run_for(100);
    r = lookup(port, "rollcall");
    assert_int_equal(r.result, 0);
    assert_int_equal(r.port, 4370);
    rc_epmd_free(e);
}

/* 10 s idle limit for requests; none for registrations. Slow by nature. */
static void test_idle_timeout(void **state)
{
    uint16_t port = free_port();
    struct rc_epmd *e = embedded(port, "rollcall", 4370);
    uint32_t c;
    int reg = registered(port, "beam", 5555, &c);
    int idle = raw_connect(port);
    uint8_t buf[8];
    bool eof;
    uint64_t t0;
    uint64_t took;
    struct lk r;
    raw_send(idle, "\x00", 1); /* half a length */
    eof = false;
    t0 = rc_now_mono_ms();
    raw_read(idle, buf, sizeof(buf), 1, 12000, &eof);
    took = rc_now_mono_ms() - t0;
    assert_true(eof);
    assert_in_range(took, 9500, 11500);
    close(idle);
    r = lookup(port, "beam");
    assert_int_equal(r.port, 5555);
    close(reg);
    rc_epmd_free(e);
}

/* ---- the keeper ---- */

static void test_keeper_auto_register_and_takeover(void **state)
{
    uint16_t port = free_port();
    struct rc_epmd *srv = embedded(port, "srv", 4370);
    char err[256] = "";
    const uint64_t interval = 200;
    struct rc_epmd *k =
        rc_epmd_new(base, RC_EPMD_AUTO, port, "kpr", 6000, interval, err, sizeof(err));
    uint32_t c1;
    uint32_t now;
    struct lk r;
    char out[4096];
    uint64_t t0;
    uint64_t took;
    assert_non_null(k);
    assert_true(run_until_state(k, "system", LOOP_WAIT_MS));
    c1 = rc_epmd_creation(k);
    now = (uint32_t)time(NULL);
    assert_true(c1 >= now - 5 && c1 <= now + 5);
    r = lookup(port, "kpr");
    assert_int_equal(r.port, 6000);
    names(port, out, sizeof(out));
    assert_string_equal(out, "name srv at port 4370\nname kpr at port 6000\n");

    /* the EPMD dies: the keeper serves the port within one interval */
    t0 = rc_now_mono_ms();
    rc_epmd_free(srv);
    assert_true(run_until_state(k, "embedded", LOOP_WAIT_MS));
    took = rc_now_mono_ms() - t0;
    assert_true(took <= interval + 100);
    assert_true(rc_epmd_creation(k) >= 4);
    assert_int_not_equal(rc_epmd_creation(k), c1);
    r = lookup(port, "kpr");
    assert_int_equal(r.port, 6000);
    r = lookup(port, "srv");
    assert_int_equal(r.result, -ENOENT);
    rc_epmd_free(k);
}

static void test_keeper_system(void **state)
{
    uint16_t port = free_port();
    char err[256] = "";
    struct rc_epmd *k = rc_epmd_new(base, RC_EPMD_SYSTEM, port, "kpr", 6000, 50, err, sizeof(err));
    struct lk r;
    struct rc_epmd *srv;
    struct rc_epmd *k2;
    assert_non_null(k);
    run_for(300);
    assert_string_equal(rc_epmd_state(k), "none"); /* nothing to register with, no takeover */
    r = lookup(port, "kpr");
    assert_int_equal(r.result, -ECONNREFUSED);

    srv = embedded(port, "srv", 4370);
    assert_true(run_until_state(k, "system", LOOP_WAIT_MS));
    r = lookup(port, "kpr");
    assert_int_equal(r.port, 6000);

    /* the same name twice: refused, and the second keeper keeps trying */
    k2 = rc_epmd_new(base, RC_EPMD_SYSTEM, port, "kpr", 6001, 50, err, sizeof(err));
    assert_non_null(k2);
    run_for(300);
    assert_string_equal(rc_epmd_state(k2), "none");
    /* the first one leaves: the second one gets the name at its next check */
    rc_epmd_free(k);
    assert_true(run_until_state(k2, "system", LOOP_WAIT_MS));
    r = lookup(port, "kpr");
    assert_int_equal(r.port, 6001);

    /* the EPMD goes away: system mode notices and does not take over */
    rc_epmd_free(srv);
    assert_true(run_until_state(k2, "none", LOOP_WAIT_MS));
    run_for(200);
    assert_string_equal(rc_epmd_state(k2), "none");
    r = lookup(port, "kpr");
    assert_int_equal(r.result, -ECONNREFUSED);
    rc_epmd_free(k2);
}

/* Refused connect, yet the port cannot be bound (a socket holds it without
 * listening): auto retries and takes over once the port is free. */
static void test_keeper_auto_port_busy(void **state)
{
    uint16_t port = free_port();
    int blocker = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_ANY)};
    char err[256] = "";
    struct rc_epmd *k;
    struct lk r;
    assert_int_equal(bind(blocker, (struct sockaddr *)&sin, sizeof(sin)), 0);
    k = rc_epmd_new(base, RC_EPMD_AUTO, port, "kpr", 6000, 50, err, sizeof(err));
    assert_non_null(k);
    run_for(300);
    assert_string_equal(rc_epmd_state(k), "none");
    close(blocker);
    assert_true(run_until_state(k, "embedded", LOOP_WAIT_MS));
    r = lookup(port, "kpr");
    assert_int_equal(r.port, 6000);
    rc_epmd_free(k);
}

static void test_embedded_bind_fails_and_off(void **state)
{
    uint16_t port = free_port();
    struct rc_epmd *srv = embedded(port, "srv", 4370);
    char err[256] = "";
    struct rc_epmd *e =
        rc_epmd_new(base, RC_EPMD_EMBEDDED, port, "two", 4371, 1000, err, sizeof(err));
    uint32_t now;
    struct lk r;
    assert_null(e);
    assert_non_null(strstr(err, "in use"));
    rc_epmd_free(srv);

    e = rc_epmd_new(base, RC_EPMD_OFF, port, "off", 4372, 1000, err, sizeof(err));
    assert_non_null(e);
    assert_string_equal(rc_epmd_state(e), "off");
    now = (uint32_t)time(NULL);
    assert_true(rc_epmd_creation(e) >= now - 5 && rc_epmd_creation(e) <= now + 5);
    run_for(50);
    r = lookup(port, "off");
    assert_int_equal(r.result, -ECONNREFUSED);
    rc_epmd_free(e);
    rc_epmd_free(NULL);

    assert_null(rc_epmd_new(base, RC_EPMD_AUTO, port, "a@b", 1, 1000, err, sizeof(err)));
    assert_null(rc_epmd_new(base, RC_EPMD_AUTO, port, "", 1, 1000, err, sizeof(err)));
}

/* ---- against OTP's own epmd and erl (opt-in) ---- */

static void start_real_epmd(const char *epmd, uint16_t port)
{
    char portstr[8];
    pid_t pid;
    uint64_t end;
    snprintf(portstr, sizeof(portstr), "%u", port);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        dup2(null, 1);
        dup2(null, 2);
        execl(epmd, epmd, "-port", portstr, (char *)NULL);
        _exit(127);
    }
    child_epmd = pid;
    /* ready when it accepts */
    end = rc_now_mono_ms() + 5000;
    for (;;) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sin = loopback(port);
        int r = connect(fd, (struct sockaddr *)&sin, sizeof(sin));
        close(fd);
        if (r == 0)
            break;
        if (rc_now_mono_ms() > end)
            fail_msg("epmd did not start on port %u", port);
        poll(NULL, 0, 20);
    }
}

static void test_real_epmd(void **state)
{
    const char *epmd = getenv("ROLLCALL_REAL_EPMD");
    char portstr[8], out[4096];
    char *const names_argv[] = {(char *)epmd, "-port", portstr, "-names", NULL};
    uint16_t port;
    const uint64_t interval = 200;
    char err[256] = "";
    struct rc_epmd *sys;
    struct rc_epmd *aut;
    uint32_t now;
    struct lk r;
    struct rc_epmd *dup;
    uint32_t old;
    uint64_t t0;
    uint64_t took;
    if (epmd == NULL || epmd[0] == '\0')
        skip();
    port = free_port();
    start_real_epmd(epmd, port);
    sys = rc_epmd_new(base, RC_EPMD_SYSTEM, port, "rcsys", 7000, interval, err, sizeof(err));
    aut = rc_epmd_new(base, RC_EPMD_AUTO, port, "rcauto", 7001, interval, err, sizeof(err));
    assert_non_null(sys);
    assert_non_null(aut);
    assert_true(run_until_state(sys, "system", LOOP_WAIT_MS));
    assert_true(run_until_state(aut, "system", LOOP_WAIT_MS));
    now = (uint32_t)time(NULL);
    assert_true(rc_epmd_creation(sys) >= 4);
    assert_true(rc_epmd_creation(sys) <= now + 5);

    r = lookup(port, "rcsys");
    assert_int_equal(r.result, 0);
    assert_int_equal(r.port, 7000);
    r = lookup(port, "nobody");
    assert_int_equal(r.result, -ENOENT);

    snprintf(portstr, sizeof(portstr), "%u", port);
    assert_int_equal(run_cmd(names_argv, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "name rcsys at port 7000\n"));
    assert_non_null(strstr(out, "name rcauto at port 7001\n"));

    /* a duplicate with the real epmd: refused, stays "none" */
    dup = rc_epmd_new(base, RC_EPMD_SYSTEM, port, "rcsys", 7002, interval, err, sizeof(err));
    run_for(2 * interval);
    assert_string_equal(rc_epmd_state(dup), "none");
    rc_epmd_free(dup);

    /* epmd dies: system notices, auto takes over within one interval */
    old = rc_epmd_creation(aut);
    reap(&child_epmd);
    t0 = rc_now_mono_ms();
    assert_true(run_until_state(aut, "embedded", LOOP_WAIT_MS));
    assert_true(rc_epmd_creation(aut) != old);
    took = rc_now_mono_ms() - t0;
    assert_true(took <= interval + 100);
    /* ... and the system-mode keeper registers with the embedded one */
    assert_true(run_until_state(sys, "system", LOOP_WAIT_MS));

    /* OTP's epmd -names reads our embedded server */
    assert_int_equal(run_cmd(names_argv, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "epmd: up and running on port"));
    assert_non_null(strstr(out, "name rcauto at port 7001\n"));
    assert_non_null(strstr(out, "name rcsys at port 7000\n"));

    rc_epmd_free(sys);
    rc_epmd_free(aut);
}

static void test_real_erl(void **state)
{
    const char *erl = getenv("ROLLCALL_REAL_ERL");
    uint16_t port;
    struct rc_epmd *e;
    char portstr[8];
    char home[] = "/tmp/rollcall_test_epmd_XXXXXX"; /* erl must not touch the real HOME */
    int p[2];
    pid_t pid;
    char out[4096] = "";
    size_t got = 0;
    uint64_t end;
    struct lk r;
    char cookie[sizeof(home) + 16];
    char want[128];
    if (erl == NULL || erl[0] == '\0')
        skip();
    port = free_port();
    e = embedded(port, "rollcall", 4370);
    snprintf(portstr, sizeof(portstr), "%u", port);

    /* A BEAM node registers with us, prints what erl_epmd:names/1 sees, waits. */
    assert_non_null(mkdtemp(home));
    assert_int_equal(pipe(p), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setenv("HOME", home, 1);
        setenv("ERL_EPMD_PORT", portstr, 1);
        unsetenv("ERL_AFLAGS");
        unsetenv("ERL_FLAGS");
        unsetenv("ERL_ZFLAGS");
        dup2(p[1], 1);
        close(p[0]);
        close(p[1]);
        execl(erl, erl, "-noshell", "-name", "beam1@127.0.0.1", "-start_epmd", "false",
              "-setcookie", "rollcall_test", "-hidden", "-eval",
              "{ok, L} = erl_epmd:names({127,0,0,1}), io:format(\"NAMES ~p~n\", [lists:sort(L)]), "
              "timer:sleep(60000), halt().",
              (char *)NULL);
        _exit(127);
    }
    child_erl = pid;
    close(p[1]);
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    end = rc_now_mono_ms() + 20000;
    while (strchr(out, '\n') == NULL && rc_now_mono_ms() < end) {
        ssize_t n;
        event_base_loop(base, EVLOOP_NONBLOCK);
        n = read(p[0], out + got, sizeof(out) - 1 - got);
        if (n > 0)
            got += (size_t)n;
        out[got] = '\0';
        poll(NULL, 0, 5);
    }
    r = lookup(port, "beam1");
    reap(&child_erl);
    close(p[0]);
    snprintf(cookie, sizeof(cookie), "%s/.erlang.cookie", home);
    unlink(cookie);
    rmdir(home);
    assert_int_equal(r.result, 0);
    assert_true(r.port > 0);
    snprintf(want, sizeof(want), "NAMES [{\"beam1\",%u},{\"rollcall\",4370}]", r.port);
    assert_non_null(strstr(out, want));
    run_for(50);
    r = lookup(port, "beam1");
    assert_int_equal(r.result, -ENOENT); /* its death unregistered it */
    rc_epmd_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lookup_own_and_unknown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lookup_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lookup_cancel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lookup_malformed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alive2_registration, setup, teardown),
        cmocka_unit_test_setup_teardown(test_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_requests_closed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_connections, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keeper_auto_register_and_takeover, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keeper_system, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keeper_auto_port_busy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_embedded_bind_fails_and_off, setup, teardown),
        cmocka_unit_test_setup_teardown(test_real_epmd, setup, teardown),
        cmocka_unit_test_setup_teardown(test_real_erl, setup, teardown),
    };

    /* SIGPIPE stays at its default on purpose: the EPMD code sends with MSG_NOSIGNAL. */
    rc_log_set_level(getenv("ROLLCALL_TEST_DEBUG") != NULL ? RC_LOG_DEBUG : RC_LOG_ERROR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_http.c - the request parser's good and bad cases, and the server
 * against real sockets on 127.0.0.1 (port 0): replies, keep-alive, HEAD,
 * refusals, the connection cap, streams.
 *
 * The server runs on the test's own event loop in the main thread; a client
 * thread speaks plain blocking sockets and ends the loop when done.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "rollcall/http.h"

static int parse(const char *s, struct rc_http_req *req)
{
    return rc_http_parse_request(s, strlen(s), req);
}

static void test_parse_good(void **state)
{
    struct rc_http_req req;
    const char *r1 = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_int_equal(parse(r1, &req), (int)strlen(r1));
    assert_string_equal(req.path, "/metrics");
    assert_string_equal(req.query, "");
    assert_int_equal(req.method, RC_HTTP_GET);
    assert_true(req.keep_alive);
    assert_int_equal(parse("HEAD /readyz?verbose=1 HTTP/1.0\n\n", &req), 33);
    assert_int_equal(req.method, RC_HTTP_HEAD);
    assert_string_equal(req.path, "/readyz");
    assert_string_equal(req.query, "verbose=1");
    assert_false(req.keep_alive);
    assert_true(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &req) > 0);
    assert_true(req.keep_alive);
    assert_true(parse("GET / HTTP/1.1\r\nConnection: foo, close\r\n\r\n", &req) > 0);
    assert_false(req.keep_alive);
    assert_true(parse("GET / HTTP/1.1\r\nContent-Length: 000\r\n\r\n", &req) > 0);
    /* one leading empty line is ignored, and counted as taken */
    assert_int_equal(parse("\r\nGET / HTTP/1.1\r\n\r\n", &req), 20);
    /* pipelined: only the first head is taken */
    assert_int_equal(parse("GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n", &req), 19);
    assert_string_equal(req.path, "/a");
}

static void test_parse_incomplete(void **state)
{
    struct rc_http_req req;
    assert_int_equal(parse("", &req), -EAGAIN);
    assert_int_equal(parse("GET / HTTP/1.1\r\nHost: x\r\n", &req), -EAGAIN);
    assert_int_equal(parse("\r\n", &req), -EAGAIN);
}

static void test_parse_bad(void **state)
{
    struct rc_http_req req;
    char big[RC_HTTP_HEAD_MAX + 100];
    char path[RC_HTTP_PATH_MAX + 40];
    size_t i, n = 0;
    assert_int_equal(parse("POST / HTTP/1.1\r\n\r\n", &req), -EOPNOTSUPP);
    assert_int_equal(parse("get / HTTP/1.1\r\n\r\n", &req), -EOPNOTSUPP);
    assert_int_equal(parse("GET / HTTP/2.0\r\n\r\n", &req), -EPROTONOSUPPORT);
    assert_int_equal(parse("GET / FTP/1.0\r\n\r\n", &req), -EBADMSG);
    assert_int_equal(parse("GET http://x/ HTTP/1.1\r\n\r\n", &req), -EBADMSG);
    assert_int_equal(parse("GET  / HTTP/1.1\r\n\r\n", &req), -EBADMSG);
    assert_int_equal(parse("GET /\x01 HTTP/1.1\r\n\r\n", &req), -EBADMSG);
    assert_int_equal(parse("GET / HTTP/1.1\r\nNo colon\r\n\r\n", &req), -EBADMSG);
    assert_int_equal(parse("GET / HTTP/1.1\r\n folded: x\r\n\r\n", &req), -EBADMSG);
    assert_int_equal(parse("GET / HTTP/1.1\r\nName : x\r\n\r\n", &req), -EBADMSG);
    assert_int_equal(parse("GET / HTTP/1.1\r\nX: a\x7f\r\n\r\n", &req), -EBADMSG);
    assert_int_equal(parse("GET / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", &req), -EFBIG);
    assert_int_equal(parse("GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", &req), -EBADMSG);
    assert_int_equal(parse("GET / HTTP/1.1\r\nContent-Length:\r\n\r\n", &req), -EBADMSG);
    assert_int_equal(parse("GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", &req), -EFBIG);
    assert_int_equal(parse("\r\n\r\n\r\nGET / HTTP/1.1\r\n\r\n", &req), -EBADMSG);
    /* a head that never ends */
    memset(big, 'a', sizeof big);
    assert_int_equal(rc_http_parse_request(big, sizeof big, &req), -EMSGSIZE);
    /* too many headers */
    n = (size_t)snprintf(big, sizeof big, "GET / HTTP/1.1\r\n");
    for (i = 0; i <= RC_HTTP_HEADERS_MAX; i++)
        n += (size_t)snprintf(big + n, sizeof big - n, "X: y\r\n");
    n += (size_t)snprintf(big + n, sizeof big - n, "\r\n");
    assert_int_equal(rc_http_parse_request(big, n, &req), -EMSGSIZE);
    /* a path over the limit */
    memset(path, 0, sizeof path);
    path[0] = '/';
    memset(path + 1, 'p', RC_HTTP_PATH_MAX + 1);
    snprintf(big, sizeof big, "GET %s HTTP/1.1\r\n\r\n", path);
    assert_int_equal(parse(big, &req), -ENAMETOOLONG);
    assert_string_equal(rc_http_status_text(431), "Request Header Fields Too Large");
    assert_int_equal(rc_http_error_status(-EMSGSIZE), 431);
    assert_int_equal(rc_http_error_status(-EOPNOTSUPP), 405);
    assert_int_equal(rc_http_error_status(-EBADMSG), 400);
    /* a failed parse leaves req as it was */
    req.path[0] = 'X';
    assert_int_equal(parse("POST / HTTP/1.1\r\n\r\n", &req), -EOPNOTSUPP);
    assert_int_equal(req.path[0], 'X');
}

/* ---- the server ---- */

static struct event_base *base;
static struct rc_http_server *srv;
static int handled;

static void handler(void *arg, struct rc_http_conn *c, const struct rc_http_req *req)
{
    handled++;
    if (strcmp(req->path, "/hello") == 0) {
        rc_http_reply(c, 200, "text/plain", "hello\n", 6);
    } else if (strcmp(req->path, "/stream") == 0) {
        if (rc_http_stream_start(c, "application/x-ndjson") != 0)
            rc_http_reply(c, 503, "text/plain", "busy\n", 5);
    } else if (strcmp(req->path, "/silent") == 0) {
        /* no answer: the server answers 500 */
    } else {
        rc_http_reply(c, 404, "text/plain", "no\n", 3);
    }
}

static int dial(uint16_t port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    struct timeval tv = {.tv_sec = 5};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

/* Reads until the peer closes or `until` appears (NULL: until close). */
static size_t recv_until(int fd, char *buf, size_t cap, const char *until)
{
    size_t n = 0;
    buf[0] = '\0';
    while (n + 1 < cap) {
        ssize_t r = recv(fd, buf + n, cap - 1 - n, 0);
        if (r <= 0)
            break;
        n += (size_t)r;
        buf[n] = '\0';
        if (until != NULL && strstr(buf, until) != NULL)
            break;
    }
    return n;
}

static void send_all(int fd, const char *s)
{
    size_t n = strlen(s);
    while (n > 0) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

struct client_result {
    char a[4096], b[4096], c[4096], d[4096], e[4096], f[4096], busy[512];
    bool streamed;
};

static void broadcast_cb(evutil_socket_t fd, short what, void *arg)
{
    rc_http_broadcast(srv, "{\"event\":\"peer_up\"}\n", 20);
}

static void *client(void *arg)
{
    struct client_result *res = arg;
    uint16_t port = rc_http_port(srv);
    int fd, i, fds[RC_HTTP_CONN_MAX];

    /* keep-alive: two requests on one connection, then HEAD, then close */
    fd = dial(port);
    send_all(fd, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
    recv_until(fd, res->a, sizeof res->a, "hello\n");
    send_all(fd, "GET /nope HTTP/1.1\r\n\r\nHEAD /hello HTTP/1.1\r\nConnection: close\r\n\r\n");
    recv_until(fd, res->b, sizeof res->b, NULL);
    close(fd);
    /* a refused method and a handler that does not answer */
    fd = dial(port);
    send_all(fd, "DELETE /hello HTTP/1.1\r\n\r\n");
    recv_until(fd, res->c, sizeof res->c, NULL);
    close(fd);
    fd = dial(port);
    send_all(fd, "GET /silent HTTP/1.0\r\n\r\n");
    recv_until(fd, res->d, sizeof res->d, NULL);
    close(fd);
    /* a stream gets what is broadcast */
    fd = dial(port);
    send_all(fd, "GET /stream HTTP/1.1\r\n\r\n");
    recv_until(fd, res->e, sizeof res->e, "\r\n\r\n");
    {
        struct event *ev = evtimer_new(base, broadcast_cb, NULL);
        struct timeval tv = {0, 1000};
        event_add(ev, &tv); /* fires on the loop thread */
        recv_until(fd, res->f, sizeof res->f, "peer_up");
        event_free(ev);
    }
    close(fd);
    /* the connection cap: RC_HTTP_CONN_MAX held open, one more is refused */
    for (i = 0; i < RC_HTTP_CONN_MAX; i++)
        fds[i] = dial(port);
    usleep(200000); /* let the loop accept them all */
    fd = dial(port);
    recv_until(fd, res->busy, sizeof res->busy, NULL);
    close(fd);
    for (i = 0; i < RC_HTTP_CONN_MAX; i++)
        close(fds[i]);
    event_base_loopexit(base, NULL);
    return NULL;
}

static void test_server(void **state)
{
    static struct client_result res;
    struct rc_http_stats st;
    char err[256];
    pthread_t t;
    evthread_use_pthreads();
    base = event_base_new();
    assert_non_null(base);
    assert_null(rc_http_new(base, "127.0.0.1", handler, NULL, err, sizeof err));
    assert_non_null(strstr(err, "HOST:PORT"));
    srv = rc_http_new(base, "127.0.0.1:0", handler, NULL, err, sizeof err);
    assert_non_null(srv);
    assert_true(rc_http_port(srv) != 0);
    pthread_create(&t, NULL, client, &res);
    event_base_dispatch(base);
    pthread_join(t, NULL);

    assert_non_null(strstr(res.a, "HTTP/1.1 200 OK\r\n"));
    assert_non_null(strstr(res.a, "Content-Length: 6\r\n"));
    assert_non_null(strstr(res.a, "Connection: keep-alive\r\n"));
    assert_non_null(strstr(res.b, "HTTP/1.1 404 Not Found\r\n"));
    /* HEAD: the length of the body, not the body */
    assert_non_null(strstr(res.b, "HTTP/1.1 200 OK\r\n"));
    assert_null(strstr(res.b, "hello"));
    assert_non_null(strstr(res.b, "Connection: close\r\n"));
    assert_non_null(strstr(res.c, "HTTP/1.1 405 Method Not Allowed\r\n"));
    assert_non_null(strstr(res.c, "Allow: GET, HEAD\r\n"));
    assert_non_null(strstr(res.d, "HTTP/1.1 500 "));
    assert_non_null(strstr(res.e, "HTTP/1.1 200 OK\r\n"));
    assert_null(strstr(res.e, "Content-Length"));
    assert_non_null(strstr(res.f, "{\"event\":\"peer_up\"}\n"));
    assert_non_null(strstr(res.busy, "HTTP/1.1 503 "));

    rc_http_stats(srv, &st);
    assert_int_equal(st.bad, 1);
    assert_true(st.refused >= 1);
    assert_int_equal(handled, 5);
    rc_http_free(srv);
    event_base_free(base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_good),
        cmocka_unit_test(test_parse_incomplete),
        cmocka_unit_test(test_parse_bad),
        cmocka_unit_test(test_server),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

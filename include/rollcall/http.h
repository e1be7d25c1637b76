/*
 * http.h - the agent's small HTTP/1.1 endpoint (agent/http.c) and its
 * request parser (agent/http_parse.c).
 *
 * Why not evhttp: libevent 2.1 (Debian 12) cannot cap the number of
 * connections (evhttp_set_max_connections is 2.2), lives in libevent_extra
 * (DNS, RPC and a tagging codec we do not want in the address space), and its
 * parser cannot be fuzzed on its own. The endpoint serves a handful of GET
 * paths to probes, scrapers and `rollcall monitor`, so a bounded server of
 * its own is small: every limit below is a constant, the parser is a pure
 * function with a fuzz target (tests/fuzz/fuzz_http.c).
 *
 * Bounds (untrusted input): request head RC_HTTP_HEAD_MAX bytes and
 * RC_HTTP_HEADERS_MAX header lines; no request body (a Content-Length other
 * than 0 or any Transfer-Encoding is refused with 413); RC_HTTP_CONN_MAX
 * connections at once (one more is answered 503 and closed), of which
 * RC_HTTP_STREAM_MAX may be streams; an idle or slow client is closed after
 * RC_HTTP_IDLE_MS; a stream whose reader falls RC_HTTP_STREAM_BUF bytes
 * behind is closed. Methods GET and HEAD only (405 otherwise).
 *
 * Everything runs on the agent's loop; nothing here blocks or logs (the
 * caller learns of bad requests through the counters).
 */
#ifndef ROLLCALL_HTTP_H
#define ROLLCALL_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RC_HTTP_HEAD_MAX 8192
#define RC_HTTP_HEADERS_MAX 64
#define RC_HTTP_PATH_MAX 256
#define RC_HTTP_CONN_MAX 64
#define RC_HTTP_STREAM_MAX 16
#define RC_HTTP_IDLE_MS 10000
#define RC_HTTP_STREAM_BUF (256 * 1024)

enum rc_http_method { RC_HTTP_GET = 0, RC_HTTP_HEAD };

struct rc_http_req {
    enum rc_http_method method;
    char path[RC_HTTP_PATH_MAX + 1];  /* without the query */
    char query[RC_HTTP_PATH_MAX + 1]; /* after '?', "" if none */
    int minor;                        /* HTTP/1.<minor> */
    bool keep_alive;
};

/* Parses one request head from buf[0..len). Returns the number of bytes the
 * head took (> 0) when complete, -EAGAIN when more bytes are needed, or an
 * error that rc_http_error_status() turns into the status to answer:
 * -EBADMSG 400 malformed, -EOPNOTSUPP 405 method not allowed, -EFBIG 413 a
 * body was announced, -ENAMETOOLONG 414 path or query too long, -EMSGSIZE
 * 431 head too large or too many headers, -EPROTONOSUPPORT 505 not
 * HTTP/1.x. req is written on success only. */
int rc_http_parse_request(const char *buf, size_t len, struct rc_http_req *req);

int rc_http_error_status(int err);
/* The reason phrase of a status code ("OK", "Not Found", ...). */
const char *rc_http_status_text(int status);

/* ---- the server ---- */

struct event_base;
struct rc_http_server;
struct rc_http_conn;

/* Called for every complete request. The handler answers at once with
 * rc_http_reply() or turns the connection into a stream with
 * rc_http_stream_start(); a handler that does neither gets a 500. */
typedef void (*rc_http_handler)(void *arg, struct rc_http_conn *c, const struct rc_http_req *req);

/* Parses a numeric "IPV4:PORT" or "[IPV6]:PORT" (no name lookup: the
 * loop must not block). 0 or -EINVAL. */
struct sockaddr_storage;
int rc_http_parse_addr(const char *addr, struct sockaddr_storage *ss, int *sslen);

/* Listens on addr ("HOST:PORT", "[V6]:PORT"). NULL with err set on failure. */
struct rc_http_server *rc_http_new(struct event_base *base, const char *addr,
                                   rc_http_handler handler, void *arg, char *err, size_t errlen);
/* Closes the listener and every connection. NULL is fine. */
void rc_http_free(struct rc_http_server *s);
/* The port actually bound (useful with port 0). */
uint16_t rc_http_port(const struct rc_http_server *s);

/* Answers the current request. content_type may be NULL for bodies that
 * are empty. On HEAD the body is not sent (its length is). */
void rc_http_reply(struct rc_http_conn *c, int status, const char *content_type, const void *body,
                   size_t len);
/* Starts a stream: a 200 head without Content-Length (the body ends when
 * the connection closes). Returns 0, or -EBUSY when RC_HTTP_STREAM_MAX
 * streams are open (the caller then answers 503). */
int rc_http_stream_start(struct rc_http_conn *c, const char *content_type);
/* Appends to every open stream; a stream too far behind is closed. */
void rc_http_broadcast(struct rc_http_server *s, const void *data, size_t len);

struct rc_http_stats {
    uint64_t requests;  /* answered, any status */
    uint64_t bad;       /* refused by the parser */
    uint64_t refused;   /* over RC_HTTP_CONN_MAX */
    uint64_t timeouts;  /* idle or slow clients closed */
    uint64_t overflows; /* streams closed for falling behind */
    uint32_t open;      /* connections now */
    uint32_t streams;   /* streams now */
};
void rc_http_stats(const struct rc_http_server *s, struct rc_http_stats *out);

#endif

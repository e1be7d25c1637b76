/*
 * s3_int.h - the S3 backend's private contract: what its parts share, and
 * what its unit tests, fuzzers and the conformance suite reach, and its ops
 * table rc_backend_s3, which the module's entry point
 * (backends/module_stamp.c) hands to the loader. Nothing outside
 * backends/s3/ and tests/ includes it.
 *
 *   s3_url.c   the s3:// URL, SigV4 path/query encoding, request URLs (pure)
 *   s3_xml.c   ListObjectsV2 / <Error> documents (pure, expat)
 *   s3_http.c  one signed request (libcurl), the server clock, status errors
 *   s3.c       the registry operations, the body cache, rc_backend_s3
 *
 * The pure parts take bytes and never touch the network. Like the whole
 * backend: never logs, err never holds a secret, 0 or a negative errno.
 * A ctx serves one thread at a time.
 */
#ifndef ROLLCALL_BACKENDS_S3_INT_H
#define ROLLCALL_BACKENDS_S3_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <curl/curl.h>

#include "rollcall/backend.h"
#include "../written.h"

#define S3_BUCKET_MAX 63
#define S3_PREFIX_MAX 512
#define S3_KEY_MAX 1024 /* S3's own limit, bytes */
#define S3_ETAG_MAX 127
#define S3_TOKEN_MAX 4096  /* continuation token */
#define S3_SECRET_MAX 4096 /* session tokens are long */
#define S3_RESPONSE_MAX (8 * 1024 * 1024)
#define S3_ERROR_BODY_MAX (64 * 1024)
#define S3_PAGE_OBJECTS_MAX 10000 /* per ListObjectsV2 page; S3 sends <= 1000 */
#define S3_PAGES_MAX 1000
#define S3_FETCH_PARALLEL 32 /* GETs at a time when bodies are not cached (a newcomer: N) */
#define S3_DEFAULT_TIMEOUT_MS 10000
#define S3_CONNECT_TIMEOUT_MS 2000
#define S3_TIMEOUT_MIN_MS 100
#define S3_TIMEOUT_MAX_MS 120000

/* The backend: open, publish, list, remove, close (rollcall/backend.h). */
extern const struct rc_backend_ops rc_backend_s3;

/* ---- URL (s3_url.c) ---- */

struct s3_url {
    char bucket[S3_BUCKET_MAX + 1];
    char prefix[S3_PREFIX_MAX + 1]; /* decoded; no leading or trailing '/'; "" = bucket root */
    char scheme[8];                 /* "http" / "https" */
    char hostport[RC_HOST_MAX + 8]; /* as in the endpoint: "127.0.0.1:9000", "[::1]:9000" */
    bool have_endpoint;
    bool virtual_host;
    bool have_region;
    char region[64];
    bool have_keys; /* from the URL's userinfo */
    char access_key[256];
    char secret_key[256];
    int timeout_ms;
};

/* strlcpy: copies what fits, always NUL-terminates. */
void s3_copy(char *dst, size_t cap, const char *src);

/* SigV4's URI encoding: every byte but A-Z a-z 0-9 - . _ ~ (and '/' when
 * keep_slash) becomes %XX with uppercase hex. Writes a NUL-terminated
 * string; returns its length or -ENAMETOOLONG. */
ssize_t s3_uri_encode(const char *s, size_t len, bool keep_slash, char *out, size_t cap);

bool s3_bucket_valid(const char *s, size_t n); /* 1..63 of [A-Za-z0-9.-_] */
bool s3_region_valid(const char *s);           /* 1..63 of [A-Za-z0-9-_] */

/* Parses an s3:// URL. Pure: the environment (credentials, AWS_REGION) is
 * applied by open(). On failure *ret is untouched; err never holds the
 * secret. */
int s3_url_parse(const char *url, struct s3_url *ret, char *err, size_t errlen);

/* The object key for name: "PREFIX/name" or "name". -ENAMETOOLONG. */
int s3_key(const struct s3_url *u, const char *name, char *out, size_t cap);
/* scheme://host[:port] (path-style: + "/bucket"), no trailing '/'. */
int s3_base(const struct s3_url *u, char *out, size_t cap);
/* The full URL of the object named name: base + "/" + encoded key. */
int s3_object_url(const struct s3_url *u, const char *name, char *out, size_t cap);
/* The ListObjectsV2 URL: parameters sorted by name, values encoded. With
 * name, the listing of just that object (max-keys=1, prefix = its key). */
int s3_list_url(const struct s3_url *u, const char *token, const char *name, char *out, size_t cap);

/* ---- XML (s3_xml.c) ---- */

struct s3_object {
    char *key; /* decoded (encoding-type=url), may hold any byte; NUL-terminated */
    size_t keylen;
    bool bad_key; /* too long or a bad escape */
    bool have_lm, have_size;
    int64_t last_modified_ms;
    int64_t size;
    char etag[S3_ETAG_MAX + 1];
};

struct s3_page {
    struct s3_object *objs;
    size_t n, cap;
    bool truncated;
    char next_token[S3_TOKEN_MAX + 1];
    char code[64]; /* <Error><Code> */
    bool is_error; /* root was <Error> */
};

/* Parses a ListObjectsV2 response (at most S3_RESPONSE_MAX bytes), or an
 * <Error> document (page->is_error, page->code). Pure. On failure page is
 * freed and zeroed, why says why. */
int s3_parse_list(const char *xml, size_t len, struct s3_page *page, char *why, size_t whylen);
void s3_page_free(struct s3_page *page); /* NULL is fine; zeroes page */

/* ---- HTTP (s3_http.c) ---- */

struct s3_buf {
    char *p;
    size_t len, max;
    bool overflow;
};

struct s3_resp {
    long status;
    struct s3_buf body;
    char date[64];
    char last_modified[64];
    char etag[S3_ETAG_MAX + 1];
};

struct s3_cached; /* s3.c: a body seen by the previous list() */

struct s3_ctx {
    struct s3_url url;
    char sigv4[96];
    char access_key[256];
    char secret_key[256];
    char *session_token;
    CURL *curl;
    char curl_err[CURL_ERROR_SIZE];
    /* server clock: server_ms ~= local realtime ms + offset */
    bool have_offset;
    int64_t offset_ms;
    /* bodies by key + ETag, from the previous list(), sorted by key */
    struct s3_cached *cache;
    size_t ncache;
    /* the change signal (issue 15, s3.c): the marker object's ETag */
    char if_none_match[S3_ETAG_MAX + 1]; /* sent by the next request, if set */
    char marker_etag[S3_ETAG_MAX + 1];   /* "" = none seen (absent or never read) */
    bool marker_read;                    /* marker read at least once */
    uint64_t marker_checked_ms;          /* monotonic */
    struct rc_written written;           /* our entries as this ctx last wrote them */
};

/* Narrows the server clock offset with a Date header (one-second
 * resolution): the server's time at local_ms is in [date, date + 999]. */
void s3_clock_sample(struct s3_ctx *ctx, int64_t date_ms, int64_t local_ms);
/* Now on the server's clock, as well as the Dates seen so far tell. */
int64_t s3_server_now(const struct s3_ctx *ctx);

/* Sets easy up for one signed request. method: GET, HEAD, PUT (with body) or
 * DELETE. The response goes to r (body capped at maxbody); *ret_hdrs must
 * stay alive until the transfer is done and then go to s3_req_done.
 * errbuf: CURL_ERROR_SIZE bytes. */
int s3_req_setup(struct s3_ctx *ctx, CURL *easy, char *errbuf, const char *method, const char *url,
                 const char *body, size_t bodylen, size_t maxbody, struct s3_resp *r,
                 struct curl_slist **ret_hdrs, const char *op, char *err, size_t errlen);
/* Ends a transfer that s3_req_setup began, with curl's result cc: frees
 * hdrs; 0 when a response arrived (any status; r->status), a negative errno
 * and err for a transport failure (r freed). Every Date seen tunes the
 * server clock. */
int s3_req_done(struct s3_ctx *ctx, CURL *easy, const char *errbuf, CURLcode cc,
                struct curl_slist *hdrs, struct s3_resp *r, const char *op, char *err,
                size_t errlen);
/* One signed request on the ctx's own handle (s3_req_setup, s3_req_done). */
int s3_http(struct s3_ctx *ctx, const char *method, const char *url, const char *body,
            size_t bodylen, size_t maxbody, struct s3_resp *r, const char *op, char *err,
            size_t errlen);
/* A non-2xx response as an errno and a message naming S3's error code. */
int s3_status_error(const struct s3_ctx *ctx, struct s3_resp *r, const char *op, char *err,
                    size_t errlen);
void s3_resp_free(struct s3_resp *r); /* zeroes r */

#endif

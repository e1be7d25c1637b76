/*
 * s3_http.c - one signed S3 request (libcurl), and the server clock.
 *
 * Signing: CURLOPT_AWS_SIGV4 "aws:amz:REGION:s3" with region and service
 * given (curl would guess them from the host name), x-amz-content-sha256
 * always sent (hash of the body, or of nothing), x-amz-security-token when
 * a session token is set. We never set Date or x-amz-date ourselves.
 *
 * Server time: Date has one-second resolution, so the ctx keeps the
 * narrowest offset to the local clock that every Date seen so far allows,
 * which converges on the true offset within a few requests and follows a
 * stepped clock at once. Contract: s3_int.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "rollcall/clock.h"
#include "rollcall/err.h"
#include "rollcall/backend.h"

#include "s3_int.h"

/*
 * Narrows the server clock offset with a Date header (one-second
 * resolution): the server's time now is in [date, date + 999].
 */
void s3_clock_sample(struct s3_ctx *ctx, int64_t date_ms, int64_t local_ms)
{
    int64_t lo = date_ms - local_ms, hi = date_ms + 999 - local_ms;

    if (!ctx->have_offset || ctx->offset_ms < lo)
        ctx->offset_ms = lo;
    if (ctx->offset_ms > hi)
        ctx->offset_ms = hi;
    ctx->have_offset = true;
}

int64_t s3_server_now(const struct s3_ctx *ctx)
{
    return rc_now_wall_ms() + (ctx->have_offset ? ctx->offset_ms : 0);
}

static size_t s3_write_cb(char *data, size_t size, size_t nmemb, void *ud)
{
    struct s3_buf *b = ud;
    size_t n = size * nmemb;

    if (n > b->max - b->len) {
        b->overflow = true;
        return 0; /* aborts the transfer: CURLE_WRITE_ERROR */
    }
    if (b->p == NULL) {
        b->p = malloc(b->max + 1);
        if (b->p == NULL)
            return 0;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
    return n;
}

static void s3_header_value(const char *line, size_t n, size_t namelen, char *out, size_t cap)
{
    const char *v = line + namelen;
    size_t vl = n - namelen;

    while (vl > 0 && (*v == ' ' || *v == '\t'))
        v++, vl--;
    while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
        vl--;
    if (vl >= cap)
        vl = cap - 1;
    memcpy(out, v, vl);
    out[vl] = '\0';
}

static size_t s3_header_cb(char *line, size_t size, size_t nmemb, void *ud)
{
    struct s3_resp *r = ud;
    size_t n = size * nmemb;

    if (n >= 5 && strncmp(line, "HTTP/", 5) == 0) {
        r->date[0] = r->last_modified[0] = r->etag[0] = '\0'; /* a new response */
    } else if (n > 5 && strncasecmp(line, "Date:", 5) == 0) {
        s3_header_value(line, n, 5, r->date, sizeof(r->date));
    } else if (n > 14 && strncasecmp(line, "Last-Modified:", 14) == 0) {
        s3_header_value(line, n, 14, r->last_modified, sizeof(r->last_modified));
    } else if (n > 5 && strncasecmp(line, "ETag:", 5) == 0) {
        s3_header_value(line, n, 5, r->etag, sizeof(r->etag));
    }
    return n;
}

void s3_resp_free(struct s3_resp *r)
{
    free(r->body.p);
    memset(r, 0, sizeof(*r));
}

static int s3_sha256_hex(const char *data, size_t len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
        return -EIO;
    for (unsigned i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    return 0;
}

static int s3_curl_errno(CURLcode c)
{
    switch (c) {
    case CURLE_COULDNT_CONNECT:
        return -ECONNREFUSED;
    case CURLE_OPERATION_TIMEDOUT:
        return -ETIMEDOUT;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return -EHOSTUNREACH;
    case CURLE_OUT_OF_MEMORY:
        return -ENOMEM;
    case CURLE_WRITE_ERROR:
        return -EMSGSIZE;
    case CURLE_GOT_NOTHING:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
        return -ECONNRESET;
    default:
        return -EIO;
    }
}

/*
 * Sets easy up for one signed request. method: GET, HEAD, PUT (with body) or
 * DELETE. The response goes to r; *ret_hdrs must stay alive until the
 * transfer is done and then go to s3_req_done. errbuf: CURL_ERROR_SIZE bytes.
 */
int s3_req_setup(struct s3_ctx *ctx, CURL *easy, char *errbuf, const char *method, const char *url,
                 const char *body, size_t bodylen, size_t maxbody, struct s3_resp *r,
                 struct curl_slist **ret_hdrs, const char *op, char *err, size_t errlen)
{
    struct curl_slist *hdrs = NULL, *h;
    char sha[65], hsha[96];
    char *htok = NULL;

    *ret_hdrs = NULL;
    memset(r, 0, sizeof(*r));
    r->body.max = maxbody;
    if (s3_sha256_hex(body != NULL ? body : "", body != NULL ? bodylen : 0, sha) < 0) {
        rc_seterr(err, errlen, "s3 %s: cannot hash the body (libcrypto)", op);
        return -EIO;
    }
    snprintf(hsha, sizeof(hsha), "x-amz-content-sha256: %s", sha);
    h = curl_slist_append(hdrs, hsha);
    if (h == NULL)
        goto out_nomem;
    hdrs = h;
    if (ctx->session_token != NULL) {
        size_t n = strlen(ctx->session_token) + 32;

        htok = malloc(n);
        if (htok == NULL)
            goto out_nomem;
        snprintf(htok, n, "x-amz-security-token: %s", ctx->session_token);
        h = curl_slist_append(hdrs, htok);
        explicit_bzero(htok, n);
        free(htok);
        if (h == NULL)
            goto out_nomem;
        hdrs = h;
    }
    if (ctx->if_none_match[0] != '\0') {
        char hinm[S3_ETAG_MAX + 32];

        snprintf(hinm, sizeof(hinm), "If-None-Match: %s", ctx->if_none_match);
        h = curl_slist_append(hdrs, hinm);
        if (h == NULL)
            goto out_nomem;
        hdrs = h;
    }
    if (strcmp(method, "PUT") == 0) {
        h = curl_slist_append(hdrs, "Content-Type: text/plain");
        if (h == NULL)
            goto out_nomem;
        hdrs = h;
    }

    /* reset keeps the connection cache: requests reuse the connection */
    curl_easy_reset(easy);
    errbuf[0] = '\0';
    curl_easy_setopt(easy, CURLOPT_URL, url);
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(ctx->url.timeout_ms < S3_CONNECT_TIMEOUT_MS ? ctx->url.timeout_ms
                                                                        : S3_CONNECT_TIMEOUT_MS));
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long)ctx->url.timeout_ms);
    curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(easy, CURLOPT_AWS_SIGV4, ctx->sigv4);
    curl_easy_setopt(easy, CURLOPT_USERNAME, ctx->access_key);
    curl_easy_setopt(easy, CURLOPT_PASSWORD, ctx->secret_key);
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, s3_write_cb);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, &r->body);
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, s3_header_cb);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, r);
    if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
    } else if (strcmp(method, "PUT") == 0) {
        curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, "PUT");
        curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)bodylen);
        curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body);
    } else if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, method);
    }
    *ret_hdrs = hdrs;
    return 0;

out_nomem:
    curl_slist_free_all(hdrs);
    rc_seterr(err, errlen, "out of memory");
    return -ENOMEM;
}

/*
 * Ends a transfer that s3_req_setup began, with curl's result cc: frees
 * hdrs; 0 when a response arrived (any status; r->status), a negative errno
 * and err for a transport failure (r freed). Every Date seen tunes the
 * server clock.
 */
int s3_req_done(struct s3_ctx *ctx, CURL *easy, const char *errbuf, CURLcode cc,
                struct curl_slist *hdrs, struct s3_resp *r, const char *op, char *err,
                size_t errlen)
{
    int rv;

    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hdrs);
    if (cc != CURLE_OK && !(cc == CURLE_WRITE_ERROR && r->body.overflow)) {
        rv = s3_curl_errno(cc);
        rc_seterr(err, errlen, "s3 %s: %s", op,
                  errbuf[0] != '\0' ? errbuf : curl_easy_strerror(cc));
        s3_resp_free(r);
        return rv;
    }
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &r->status);
    if (r->date[0] != '\0') {
        time_t t = curl_getdate(r->date, NULL);

        if (t > 0)
            s3_clock_sample(ctx, (int64_t)t * 1000, rc_now_wall_ms());
    }
    return 0;
}

/* One signed request on the ctx's own handle (s3_req_setup, s3_req_done). */
int s3_http(struct s3_ctx *ctx, const char *method, const char *url, const char *body,
            size_t bodylen, size_t maxbody, struct s3_resp *r, const char *op, char *err,
            size_t errlen)
{
    struct curl_slist *hdrs;
    int rv;

    rv = s3_req_setup(ctx, ctx->curl, ctx->curl_err, method, url, body, bodylen, maxbody, r, &hdrs,
                      op, err, errlen);
    if (rv < 0)
        return rv;
    return s3_req_done(ctx, ctx->curl, ctx->curl_err, curl_easy_perform(ctx->curl), hdrs, r, op,
                       err, errlen);
}

/* A non-2xx response as an errno and a message naming S3's error code. */
int s3_status_error(const struct s3_ctx *ctx, struct s3_resp *r, const char *op, char *err,
                    size_t errlen)
{
    struct s3_page page;
    char why[96], code[64] = "";

    if (r->body.p != NULL && !r->body.overflow &&
        s3_parse_list(r->body.p, r->body.len, &page, why, sizeof(why)) == 0) {
        if (page.is_error)
            snprintf(code, sizeof(code), "%s", page.code);
        s3_page_free(&page);
    }
    for (char *c = code; *c != '\0'; c++)
        if ((unsigned char)*c < ' ' || (unsigned char)*c >= 0x7f)
            *c = '?';
    rc_seterr(err, errlen, "s3 %s (bucket %s): HTTP %ld%s%s", op, ctx->url.bucket, r->status,
              code[0] != '\0' ? " " : "", code);
    if (r->status == 403 || r->status == 401)
        return -EACCES;
    if (r->status == 404)
        return -ENOENT;
    if (r->status == 503 || r->status == 429)
        return -EAGAIN;
    return -EREMOTEIO;
}

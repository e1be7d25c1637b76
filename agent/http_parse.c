/*
 * http_parse.c - one HTTP/1.x request head, parsed without allocation.
 *
 * Strict where it matters for a server that takes no body: the request line
 * must be METHOD SP origin-form SP HTTP/1.x, header names are tokens, a
 * body is refused rather than skipped (no request smuggling through
 * Content-Length / Transfer-Encoding disagreements), every length is
 * bounded. Lenient only about bare LF line ends, as most servers are.
 */
#include "rollcall/http.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static bool is_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* The end of the head: the offset just past the empty line, or 0. */
static size_t head_end(const char *buf, size_t len)
{
    size_t i;
    for (i = 0; i < len; i++) {
        if (buf[i] != '\n')
            continue;
        if (i + 1 < len && buf[i + 1] == '\n')
            return i + 2;
        if (i + 2 < len && buf[i + 1] == '\r' && buf[i + 2] == '\n')
            return i + 3;
    }
    return 0;
}

/* One line [p, eol) without its CR; returns the start of the next line. */
static const char *next_line(const char *p, const char *end, const char **ret_eol)
{
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *eol;
    if (nl == NULL)
        nl = end;
    eol = nl;
    if (eol > p && eol[-1] == '\r')
        eol--;
    *ret_eol = eol;
    return nl < end ? nl + 1 : end;
}

static bool ieq(const char *a, size_t alen, const char *b)
{
    return alen == strlen(b) && strncasecmp(a, b, alen) == 0;
}

/* Does the comma-separated value [v, v+n) contain the token tok? */
static bool has_token(const char *v, size_t n, const char *tok)
{
    size_t i = 0;
    while (i < n) {
        size_t s, e;
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        s = i;
        while (i < n && v[i] != ',')
            i++;
        e = i;
        while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
            e--;
        if (e > s && ieq(v + s, e - s, tok))
            return true;
    }
    return false;
}

static int parse_request_line(const char *p, const char *eol, struct rc_http_req *req)
{
    const char *sp1, *sp2, *target, *q;
    size_t mlen, tlen, plen;
    sp1 = memchr(p, ' ', (size_t)(eol - p));
    if (sp1 == NULL || sp1 == p)
        return -EBADMSG;
    mlen = (size_t)(sp1 - p);
    for (size_t i = 0; i < mlen; i++)
        if (!is_tchar((unsigned char)p[i]))
            return -EBADMSG;
    target = sp1 + 1;
    sp2 = memchr(target, ' ', (size_t)(eol - target));
    if (sp2 == NULL || sp2 == target)
        return -EBADMSG;
    /* version: exactly HTTP/1.<digit> */
    if (eol - (sp2 + 1) != 8 || memcmp(sp2 + 1, "HTTP/", 5) != 0)
        return (eol - (sp2 + 1) >= 5 && memcmp(sp2 + 1, "HTTP/", 5) == 0) ? -EPROTONOSUPPORT
                                                                          : -EBADMSG;
    if (sp2[6] != '1' || sp2[7] != '.' || sp2[8] < '0' || sp2[8] > '9')
        return (sp2[6] >= '0' && sp2[6] <= '9') ? -EPROTONOSUPPORT : -EBADMSG;
    req->minor = sp2[8] - '0';
    tlen = (size_t)(sp2 - target);
    for (size_t i = 0; i < tlen; i++) {
        unsigned char c = (unsigned char)target[i];
        if (c <= 0x20 || c >= 0x7f)
            return -EBADMSG;
    }
    if (target[0] != '/')
        return -EBADMSG;
    q = memchr(target, '?', tlen);
    plen = q != NULL ? (size_t)(q - target) : tlen;
    if (plen > RC_HTTP_PATH_MAX || (q != NULL && tlen - plen - 1 > RC_HTTP_PATH_MAX))
        return -ENAMETOOLONG;
    memcpy(req->path, target, plen);
    req->path[plen] = '\0';
    if (q != NULL) {
        memcpy(req->query, q + 1, tlen - plen - 1);
        req->query[tlen - plen - 1] = '\0';
    }
    if (ieq(p, mlen, "GET") && memcmp(p, "GET", 3) == 0)
        req->method = RC_HTTP_GET;
    else if (ieq(p, mlen, "HEAD") && memcmp(p, "HEAD", 4) == 0)
        req->method = RC_HTTP_HEAD;
    else
        return -EOPNOTSUPP;
    return 0;
}

int rc_http_parse_request(const char *buf, size_t len, struct rc_http_req *ret_req)
{
    struct rc_http_req parsed;
    struct rc_http_req *req = &parsed;
    size_t scan = len < RC_HTTP_HEAD_MAX ? len : RC_HTTP_HEAD_MAX;
    size_t end;
    const char *p, *stop, *eol;
    size_t skip = 0;
    int r, nheaders = 0;
    bool conn_close = false, conn_keep = false;

    memset(req, 0, sizeof *req);
    /* RFC 9112 2.2: a server should ignore an empty line or two before the
     * request line (left over from a previous request's body). */
    while (skip < 4 && skip < scan && (buf[skip] == '\r' || buf[skip] == '\n'))
        skip++;
    if (skip == scan)
        return -EAGAIN;
    if (buf[skip] == '\r' || buf[skip] == '\n')
        return -EBADMSG;
    buf += skip;
    len -= skip;
    scan -= skip;
    end = head_end(buf, scan);
    if (end == 0)
        return len >= RC_HTTP_HEAD_MAX ? -EMSGSIZE : -EAGAIN;

    p = buf;
    stop = buf + end;
    p = next_line(p, stop, &eol);
    r = parse_request_line(buf, eol, req);
    if (r != 0)
        return r;
    while (p < stop) {
        const char *line = p, *colon, *v, *ve;
        p = next_line(p, stop, &eol);
        if (eol == line)
            break; /* the empty line */
        if (++nheaders > RC_HTTP_HEADERS_MAX)
            return -EMSGSIZE;
        colon = memchr(line, ':', (size_t)(eol - line));
        if (colon == NULL || colon == line)
            return -EBADMSG;
        for (const char *c = line; c < colon; c++)
            if (!is_tchar((unsigned char)*c))
                return -EBADMSG; /* also rejects obs-fold and "Name :" */
        v = colon + 1;
        while (v < eol && (*v == ' ' || *v == '\t'))
            v++;
        ve = eol;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        for (const char *c = v; c < ve; c++) {
            unsigned char ch = (unsigned char)*c;
            if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
                return -EBADMSG;
        }
        if (ieq(line, (size_t)(colon - line), "content-length")) {
            if (ve == v)
                return -EBADMSG;
            for (const char *c = v; c < ve; c++) {
                if (*c < '0' || *c > '9')
                    return -EBADMSG;
                if (*c != '0')
                    return -EFBIG;
            }
        } else if (ieq(line, (size_t)(colon - line), "transfer-encoding")) {
            return -EFBIG;
        } else if (ieq(line, (size_t)(colon - line), "connection")) {
            if (has_token(v, (size_t)(ve - v), "close"))
                conn_close = true;
            if (has_token(v, (size_t)(ve - v), "keep-alive"))
                conn_keep = true;
        }
    }
    req->keep_alive = req->minor >= 1 ? !conn_close : (conn_keep && !conn_close);
    *ret_req = parsed;
    return (int)(skip + end);
}

int rc_http_error_status(int err)
{
    switch (err) {
    case -EOPNOTSUPP:
        return 405;
    case -EFBIG:
        return 413;
    case -ENAMETOOLONG:
        return 414;
    case -EMSGSIZE:
        return 431;
    case -EPROTONOSUPPORT:
        return 505;
    default:
        return 400;
    }
}

const char *rc_http_status_text(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Unknown";
    }
}

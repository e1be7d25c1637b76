/*
 * s3.c - the S3 registry backend (libcurl SigV4 + expat):
 *
 *   s3://BUCKET[/PREFIX][?endpoint=http://HOST:PORT&region=us-east-1
 *                         &addressing=path|virtual&timeout=10s]
 *
 * One object per node, PREFIX/<node name>, holding the entry text (entry.c)
 * without its refresh-time line: the refresh time is the object's
 * LastModified, judged against the server's Date, so every reader ages
 * entries on the store's clock. Because the body then changes only when
 * host, port or started_at change, its ETag stays the same across
 * refreshes, and list() fetches a body only for objects whose ETag it has
 * not seen: a steady-state sweep is one ListObjectsV2 request per 1000
 * objects, not one GET per node. The GETs a list does need run
 * S3_FETCH_PARALLEL at a time (curl multi), on connections of their own.
 *
 * Signing: CURLOPT_AWS_SIGV4 "aws:amz:REGION:s3" with region and service
 * given (curl would guess them from the host name), x-amz-content-sha256
 * always sent (hash of the body, or of nothing), x-amz-security-token when
 * a session token is set. libcurl 7.88 signs the path and query exactly as
 * sent, so we send them canonical: every path segment percent-encoded with
 * uppercase hex, query parameters sorted by name with encoded values. We
 * never set Date or x-amz-date ourselves.
 *
 * Listing: ListObjectsV2 (list-type=2, encoding-type=url so that any key
 * survives XML, prefix, continuation-token), parsed with expat by local
 * element name (servers differ in namespace), responses capped at 8 MiB,
 * no DOCTYPE accepted. Server time: Date has one-second resolution, so the
 * backend keeps the narrowest offset to the local clock that every Date
 * seen so far allows, which converges on the true offset within a few
 * requests and follows a stepped clock at once.
 *
 * Conditional remove reads the object's LastModified from a listing of just
 * its key (so it judges the age exactly as list() does; HEAD would give
 * whole seconds only) and then deletes: a node that refreshes between the
 * two loses its object until its next publish, one interval later. S3
 * offers nothing atomic here.
 *
 * Credentials: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN,
 * or ACCESS_KEY:SECRET@ in the URL. Region: region=, else AWS_REGION /
 * AWS_DEFAULT_REGION, else us-east-1. Without endpoint= the AWS endpoint
 * https://s3.REGION.amazonaws.com with virtual-host addressing is used;
 * with one, path-style unless addressing=virtual.
 *
 * Pure parts (URL, encoding, XML) take bytes and never touch the network, so
 * the unit tests and fuzzers include this file and drive them. Never logs;
 * err never holds a secret. A ctx serves one thread at a time.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <expat.h>
#include <openssl/evp.h>

#include "rollcall/err.h"
#include "rollcall/registry.h"

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
#define S3_FETCH_PARALLEL 8 /* GETs at a time when bodies are not cached */
#define S3_DEFAULT_TIMEOUT_MS 10000
#define S3_CONNECT_TIMEOUT_MS 2000
#define S3_TIMEOUT_MIN_MS 100
#define S3_TIMEOUT_MAX_MS 120000
#define S3_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* strlcpy: copies what fits, always NUL-terminates. */
static void s3_copy(char *dst, size_t cap, const char *src)
{
    size_t n = strnlen(src, cap - 1);

    memcpy(dst, src, n);
    dst[n] = '\0';
}

/*
 * SigV4's URI encoding: every byte but A-Z a-z 0-9 - . _ ~ (and '/' when
 * keep_slash) becomes %XX with uppercase hex. Writes a NUL-terminated
 * string; returns its length or -ENAMETOOLONG.
 */
static ssize_t rc_s3_uri_encode(const char *s, size_t len, bool keep_slash, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        bool plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                     c == '-' || c == '.' || c == '_' || c == '~' || (c == '/' && keep_slash);

        if (o + (plain ? 1 : 3) >= cap)
            return -ENAMETOOLONG;
        if (plain) {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    if (cap == 0)
        return -ENAMETOOLONG;
    out[o] = '\0';
    return (ssize_t)o;
}

static bool s3_duration_ms(const char *s, long *ret)
{
    long v = 0;
    size_t i = 0, len = strlen(s);

    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
        if (v > 100000000)
            return false;
        v = v * 10 + (s[i] - '0');
    }
    if (i == 0)
        return false;
    if (i == len || strcmp(s + i, "ms") == 0)
        ;
    else if (strcmp(s + i, "s") == 0)
        v *= 1000;
    else if (strcmp(s + i, "m") == 0)
        v *= 60000;
    else
        return false;
    *ret = v;
    return true;
}

/* ---- URL ---- */

struct rc_s3_url {
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

static bool s3_bucket_valid(const char *s, size_t n)
{
    if (n < 1 || n > S3_BUCKET_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == '_'))
            return false;
    }
    return true;
}

static bool s3_region_valid(const char *s)
{
    size_t n = strlen(s);

    if (n < 1 || n > 63)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
              (s[i] >= 'A' && s[i] <= 'Z') || s[i] == '_'))
            return false;
    return true;
}

/* endpoint=http(s)://HOST[:PORT][/] */
static int s3_parse_endpoint(const char *v, struct rc_s3_url *u, char *err, size_t errlen)
{
    const char *hp;
    size_t n;

    if (strncasecmp(v, "http://", 7) == 0) {
        snprintf(u->scheme, sizeof(u->scheme), "http");
        hp = v + 7;
    } else if (strncasecmp(v, "https://", 8) == 0) {
        snprintf(u->scheme, sizeof(u->scheme), "https");
        hp = v + 8;
    } else {
        rc_seterr(err, errlen, "s3 URL: endpoint= must start with http:// or https://");
        return -EINVAL;
    }
    n = strcspn(hp, "/?#");
    if (n == 0 || n >= sizeof(u->hostport) || (hp[n] != '\0' && strcmp(hp + n, "/") != 0)) {
        rc_seterr(err, errlen, "s3 URL: endpoint= must be SCHEME://HOST[:PORT], without a path");
        return -EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        char c = hp[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == '_' || c == ':' || c == '[' || c == ']')) {
            rc_seterr(err, errlen, "s3 URL: endpoint= has a bad host[:port]");
            return -EINVAL;
        }
    }
    memcpy(u->hostport, hp, n);
    u->hostport[n] = '\0';
    u->have_endpoint = true;
    return 0;
}

/*
 * Parses an s3:// URL. Pure: the environment (credentials, AWS_REGION) is
 * applied by open(). err never contains the secret.
 */
static int rc_s3_url_parse(const char *url, struct rc_s3_url *ret, char *err, size_t errlen)
{
    struct rc_s3_url u;
    const char *p, *auth_end, *at = NULL, *b;
    size_t n;
    int addressing = -1; /* -1 default, 0 path, 1 virtual */

    memset(&u, 0, sizeof(u));
    u.timeout_ms = S3_DEFAULT_TIMEOUT_MS;
    if (url == NULL || strncasecmp(url, "s3://", 5) != 0) {
        rc_seterr(err, errlen, "not an s3:// URL");
        return -EINVAL;
    }
    p = url + 5;
    auth_end = p + strcspn(p, "/?#");
    for (const char *c = p; c < auth_end; c++)
        if (*c == '@')
            at = c;
    if (at != NULL) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        ssize_t k, s;

        if (colon == NULL) {
            rc_seterr(err, errlen, "s3 URL: credentials must be ACCESS_KEY:SECRET@");
            return -EINVAL;
        }
        k = rc_url_decode(p, (size_t)(colon - p), false, u.access_key, sizeof(u.access_key));
        s = rc_url_decode(colon + 1, (size_t)(at - colon - 1), false, u.secret_key,
                          sizeof(u.secret_key));
        if (k <= 0 || s <= 0 || strlen(u.access_key) != (size_t)k ||
            strlen(u.secret_key) != (size_t)s) {
            rc_seterr(err, errlen, "s3 URL: bad credentials in the URL");
            return -EINVAL;
        }
        for (const char *c = u.access_key; *c; c++)
            if ((unsigned char)*c <= ' ' || *c == 0x7f || *c == ':' || *c == '/') {
                rc_seterr(err, errlen, "s3 URL: bad access key");
                return -EINVAL;
            }
        for (const char *c = u.secret_key; *c; c++)
            if ((unsigned char)*c < ' ' || *c == 0x7f) {
                rc_seterr(err, errlen, "s3 URL: bad secret key");
                return -EINVAL;
            }
        u.have_keys = true;
        b = at + 1;
    } else {
        b = p;
    }
    n = (size_t)(auth_end - b);
    if (!s3_bucket_valid(b, n)) {
        rc_seterr(err, errlen, "s3 URL: bucket must be 1..%d of [a-z0-9.-_]", S3_BUCKET_MAX);
        return -EINVAL;
    }
    memcpy(u.bucket, b, n);
    u.bucket[n] = '\0';

    /* /prefix: decoded, '/'-separated, no empty, "." or ".." segments */
    p = auth_end;
    if (*p == '/') {
        const char *pe = p + strcspn(p, "?#");
        ssize_t d;
        size_t len;

        while (p < pe && *p == '/')
            p++;
        d = rc_url_decode(p, (size_t)(pe - p), false, u.prefix, sizeof(u.prefix));
        if (d < 0) {
            rc_seterr(err, errlen, "s3 URL: bad prefix (bad %%-escape or longer than %d bytes)",
                      S3_PREFIX_MAX);
            return -EINVAL;
        }
        len = (size_t)d;
        while (len > 0 && u.prefix[len - 1] == '/')
            u.prefix[--len] = '\0';
        for (size_t i = 0; i < len; i++) {
            unsigned char c = (unsigned char)u.prefix[i];

            if (c < ' ' || c == 0x7f) {
                rc_seterr(err, errlen, "s3 URL: control byte in the prefix");
                return -EINVAL;
            }
        }
        for (const char *seg = u.prefix; len > 0 && seg <= u.prefix + len;) {
            size_t sl = strcspn(seg, "/");

            if (sl == 0 || (sl == 1 && seg[0] == '.') ||
                (sl == 2 && seg[0] == '.' && seg[1] == '.')) {
                rc_seterr(err, errlen, "s3 URL: the prefix has an empty, \".\" or \"..\" segment");
                return -EINVAL;
            }
            seg += sl + 1;
        }
        p = pe;
    }

    if (*p == '?') {
        p++;
        while (*p != '\0' && *p != '#') {
            size_t plen = strcspn(p, "&#");
            const char *eq = memchr(p, '=', plen);
            size_t klen = eq != NULL ? (size_t)(eq - p) : plen;
            const char *v = eq != NULL ? eq + 1 : p + plen;
            char val[512];
            ssize_t vl;

            if (plen == 0) {
                p++;
                continue;
            }
            vl = rc_url_decode(v, (size_t)(p + plen - v), false, val, sizeof(val));
            if (vl < 0 || strlen(val) != (size_t)vl) {
                rc_seterr(err, errlen, "s3 URL: bad value for %.*s=", (int)(klen > 32 ? 32 : klen),
                          p);
                return -EINVAL;
            }
            if (klen == 8 && memcmp(p, "endpoint", 8) == 0) {
                int rv = s3_parse_endpoint(val, &u, err, errlen);

                if (rv < 0)
                    return rv;
            } else if (klen == 6 && memcmp(p, "region", 6) == 0) {
                if (!s3_region_valid(val)) {
                    rc_seterr(err, errlen, "s3 URL: bad region=");
                    return -EINVAL;
                }
                s3_copy(u.region, sizeof(u.region), val);
                u.have_region = true;
            } else if (klen == 10 && memcmp(p, "addressing", 10) == 0) {
                if (strcmp(val, "path") == 0) {
                    addressing = 0;
                } else if (strcmp(val, "virtual") == 0) {
                    addressing = 1;
                } else {
                    rc_seterr(err, errlen, "s3 URL: addressing= must be path or virtual");
                    return -EINVAL;
                }
            } else if (klen == 7 && memcmp(p, "timeout", 7) == 0) {
                long ms;

                if (!s3_duration_ms(val, &ms) || ms < S3_TIMEOUT_MIN_MS || ms > S3_TIMEOUT_MAX_MS) {
                    rc_seterr(err, errlen,
                              "s3 URL: timeout= must be a duration of %dms..%ds (e.g. 10s)",
                              S3_TIMEOUT_MIN_MS, S3_TIMEOUT_MAX_MS / 1000);
                    return -EINVAL;
                }
                u.timeout_ms = (int)ms;
            } else {
                rc_seterr(err, errlen,
                          "s3 URL: unknown parameter \"%.*s\" (known: endpoint, region, "
                          "addressing, timeout)",
                          (int)(klen > 32 ? 32 : klen), p);
                return -EINVAL;
            }
            p += plen;
            if (*p == '&')
                p++;
        }
    }
    if (*p == '#') {
        rc_seterr(err, errlen, "s3 URL: no fragment (#) allowed");
        return -EINVAL;
    }
    u.virtual_host = addressing == -1 ? !u.have_endpoint : addressing == 1;
    if (u.virtual_host && strchr(u.bucket, '.') != NULL && strcmp(u.scheme, "https") == 0) {
        /* *.s3.amazonaws.com certificates do not cover dotted bucket names */
        rc_seterr(err, errlen, "s3 URL: a bucket name with dots needs addressing=path over https");
        return -EINVAL;
    }
    *ret = u;
    return 0;
}

/* The object key for name: "PREFIX/name" or "name". */
static int s3_key(const struct rc_s3_url *u, const char *name, char *out, size_t cap)
{
    int n = u->prefix[0] != '\0' ? snprintf(out, cap, "%s/%s", u->prefix, name)
                                 : snprintf(out, cap, "%s", name);

    return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

/* scheme://host[:port] (path-style: + "/bucket"), no trailing '/'. */
static int s3_base(const struct rc_s3_url *u, char *out, size_t cap)
{
    int n;

    if (u->virtual_host)
        n = snprintf(out, cap, "%s://%s.%s", u->scheme, u->bucket, u->hostport);
    else
        n = snprintf(out, cap, "%s://%s/%s", u->scheme, u->hostport, u->bucket);
    return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

/* The full URL of the object named name: base + "/" + encoded key. */
static int rc_s3_object_url(const struct rc_s3_url *u, const char *name, char *out, size_t cap)
{
    char key[S3_PREFIX_MAX + RC_NAME_MAX + 2];
    size_t bl;
    ssize_t el;

    if (s3_key(u, name, key, sizeof(key)) < 0 || s3_base(u, out, cap) < 0)
        return -ENAMETOOLONG;
    bl = strlen(out);
    if (bl + 2 >= cap)
        return -ENAMETOOLONG;
    out[bl++] = '/';
    el = rc_s3_uri_encode(key, strlen(key), true, out + bl, cap - bl);
    return el < 0 ? (int)el : 0;
}

/*
 * The ListObjectsV2 URL: parameters sorted by name, values encoded. With
 * name, the listing of just that object (max-keys=1, prefix = its key: the
 * key itself sorts first among the keys it prefixes).
 */
static int rc_s3_list_url(const struct rc_s3_url *u, const char *token, const char *name, char *out,
                          size_t cap)
{
    char pfx[S3_PREFIX_MAX + RC_NAME_MAX + 2];
    size_t o;
    ssize_t el;
    int n;

    if (s3_base(u, out, cap) < 0)
        return -ENAMETOOLONG;
    o = strlen(out);
    n = snprintf(out + o, cap - o, "/?");
    if (n < 0 || (size_t)n >= cap - o)
        return -ENAMETOOLONG;
    o += (size_t)n;
    if (token != NULL && token[0] != '\0') {
        n = snprintf(out + o, cap - o, "continuation-token=");
        if (n < 0 || (size_t)n >= cap - o)
            return -ENAMETOOLONG;
        o += (size_t)n;
        el = rc_s3_uri_encode(token, strlen(token), false, out + o, cap - o);
        if (el < 0)
            return (int)el;
        o += (size_t)el;
        if (o + 1 >= cap)
            return -ENAMETOOLONG;
        out[o++] = '&';
    }
    n = snprintf(out + o, cap - o, "encoding-type=url&list-type=2%s",
                 name != NULL ? "&max-keys=1" : "");
    if (n < 0 || (size_t)n >= cap - o)
        return -ENAMETOOLONG;
    o += (size_t)n;
    if (name != NULL) {
        if (s3_key(u, name, pfx, sizeof(pfx)) < 0)
            return -ENAMETOOLONG;
    } else if (u->prefix[0] != '\0') {
        snprintf(pfx, sizeof(pfx), "%s/", u->prefix);
    } else {
        return 0;
    }
    n = snprintf(out + o, cap - o, "&prefix=");
    if (n < 0 || (size_t)n >= cap - o)
        return -ENAMETOOLONG;
    o += (size_t)n;
    el = rc_s3_uri_encode(pfx, strlen(pfx), false, out + o, cap - o);
    return el < 0 ? (int)el : 0;
}

/* ---- XML ---- */

struct rc_s3_object {
    char *key; /* decoded (encoding-type=url), may hold any byte; NUL-terminated */
    size_t keylen;
    bool bad_key; /* too long or a bad escape */
    bool have_lm, have_size;
    int64_t last_modified_ms;
    int64_t size;
    char etag[S3_ETAG_MAX + 1];
};

struct rc_s3_page {
    struct rc_s3_object *objs;
    size_t n, cap;
    bool truncated;
    char next_token[S3_TOKEN_MAX + 1];
    char code[64]; /* <Error><Code> */
    bool is_error; /* root was <Error> */
};

enum s3_field {
    S3_F_NONE,
    S3_F_KEY,
    S3_F_LM,
    S3_F_ETAG,
    S3_F_SIZE,
    S3_F_TRUNCATED,
    S3_F_TOKEN,
    S3_F_CODE,
};

struct s3_xml {
    XML_Parser xp;
    struct rc_s3_page *page;
    int depth;
    bool root_list, root_error, in_contents;
    enum s3_field field;
    char text[S3_TOKEN_MAX * 3 + 1]; /* the current leaf's text */
    size_t tlen;
    bool toverflow;
    int rv; /* first error */
    char *why;
    size_t whylen;
};

static const char *s3_local(const XML_Char *name)
{
    const char *c = strrchr(name, ':');

    return c != NULL ? c + 1 : name;
}

static void s3_xml_fail(struct s3_xml *x, int rv, const char *why)
{
    if (x->rv == 0) {
        x->rv = rv;
        rc_seterr(x->why, x->whylen, "%s", why);
    }
    XML_StopParser(x->xp, XML_FALSE);
}

static void XMLCALL s3_xml_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
    struct s3_xml *x = ud;
    const char *l = s3_local(name);

    (void)attrs;
    x->depth++;
    x->field = S3_F_NONE;
    x->tlen = 0;
    x->toverflow = false;
    if (x->depth > 16) {
        s3_xml_fail(x, -EPROTO, "XML nested too deep");
        return;
    }
    if (x->depth == 1) {
        x->root_list = strcmp(l, "ListBucketResult") == 0;
        x->root_error = strcmp(l, "Error") == 0;
        x->page->is_error = x->root_error;
        if (!x->root_list && !x->root_error)
            s3_xml_fail(x, -EPROTO, "not a ListBucketResult");
        return;
    }
    if (x->root_error) {
        if (x->depth == 2 && strcmp(l, "Code") == 0)
            x->field = S3_F_CODE;
        return;
    }
    if (x->depth == 2) {
        if (strcmp(l, "Contents") == 0) {
            struct rc_s3_object *o;

            if (x->page->n >= S3_PAGE_OBJECTS_MAX) {
                s3_xml_fail(x, -E2BIG, "too many objects in one listing page");
                return;
            }
            if (x->page->n == x->page->cap) {
                size_t cap = x->page->cap ? x->page->cap * 2 : 64;
                void *p = realloc(x->page->objs, cap * sizeof(*o));

                if (p == NULL) {
                    s3_xml_fail(x, -ENOMEM, "out of memory");
                    return;
                }
                x->page->objs = p;
                x->page->cap = cap;
            }
            o = &x->page->objs[x->page->n++];
            memset(o, 0, sizeof(*o));
            x->in_contents = true;
        } else if (strcmp(l, "IsTruncated") == 0) {
            x->field = S3_F_TRUNCATED;
        } else if (strcmp(l, "NextContinuationToken") == 0) {
            x->field = S3_F_TOKEN;
        }
        return;
    }
    if (x->depth == 3 && x->in_contents) {
        if (strcmp(l, "Key") == 0)
            x->field = S3_F_KEY;
        else if (strcmp(l, "LastModified") == 0)
            x->field = S3_F_LM;
        else if (strcmp(l, "ETag") == 0)
            x->field = S3_F_ETAG;
        else if (strcmp(l, "Size") == 0)
            x->field = S3_F_SIZE;
    }
}

static void XMLCALL s3_xml_text(void *ud, const XML_Char *s, int len)
{
    struct s3_xml *x = ud;

    if (x->field == S3_F_NONE || len <= 0)
        return;
    if ((size_t)len > sizeof(x->text) - 1 - x->tlen) {
        x->toverflow = true;
        return;
    }
    memcpy(x->text + x->tlen, s, (size_t)len);
    x->tlen += (size_t)len;
}

static bool s3_digits(const char *s, size_t len, int64_t *ret)
{
    int64_t v = 0;

    if (len == 0 || len > 18)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *ret = v;
    return true;
}

static void XMLCALL s3_xml_end(void *ud, const XML_Char *name)
{
    struct s3_xml *x = ud;
    const char *l = s3_local(name);
    struct rc_s3_object *o =
        x->in_contents && x->page->n > 0 ? &x->page->objs[x->page->n - 1] : NULL;

    x->text[x->tlen] = '\0';
    switch (x->field) {
    case S3_F_NONE:
        break;
    case S3_F_CODE:
        s3_copy(x->page->code, sizeof(x->page->code), x->toverflow ? "?" : x->text);
        break;
    case S3_F_TRUNCATED:
        x->page->truncated = strcmp(x->text, "true") == 0;
        break;
    case S3_F_TOKEN:
        if (x->toverflow || x->tlen > S3_TOKEN_MAX) {
            s3_xml_fail(x, -EPROTO, "continuation token too long");
            return;
        }
        memcpy(x->page->next_token, x->text, x->tlen + 1);
        break;
    case S3_F_KEY: {
        ssize_t d;

        if (o == NULL || o->key != NULL)
            break;
        o->key = malloc(S3_KEY_MAX + 1);
        if (o->key == NULL) {
            s3_xml_fail(x, -ENOMEM, "out of memory");
            return;
        }
        d = x->toverflow ? -ENAMETOOLONG
                         : rc_url_decode(x->text, x->tlen, true, o->key, S3_KEY_MAX + 1);
        if (d < 0) {
            size_t keep = x->tlen < 64 ? x->tlen : 64;

            /* keep the raw start for the reject message */
            memcpy(o->key, x->text, keep);
            o->key[keep] = '\0';
            o->keylen = keep;
            o->bad_key = true;
        } else {
            o->keylen = (size_t)d;
        }
        break;
    }
    case S3_F_LM:
        if (o != NULL && rc_time_parse_iso(x->text, x->tlen, &o->last_modified_ms) == 0 &&
            !x->toverflow)
            o->have_lm = true;
        break;
    case S3_F_ETAG:
        if (o != NULL && !x->toverflow && x->tlen <= S3_ETAG_MAX)
            memcpy(o->etag, x->text, x->tlen + 1);
        break;
    case S3_F_SIZE:
        if (o != NULL && !x->toverflow)
            o->have_size = s3_digits(x->text, x->tlen, &o->size);
        break;
    }
    x->field = S3_F_NONE;
    x->tlen = 0;
    x->toverflow = false;
    if (x->depth == 2 && x->in_contents && strcmp(l, "Contents") == 0)
        x->in_contents = false;
    x->depth--;
}

static void XMLCALL s3_xml_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
                                   const XML_Char *pubid, int has_internal_subset)
{
    (void)name, (void)sysid, (void)pubid, (void)has_internal_subset;
    s3_xml_fail(ud, -EPROTO, "DOCTYPE not accepted");
}

static void rc_s3_page_free(struct rc_s3_page *page)
{
    if (page == NULL)
        return;
    for (size_t i = 0; i < page->n; i++)
        free(page->objs[i].key);
    free(page->objs);
    memset(page, 0, sizeof(*page));
}

/*
 * Parses a ListObjectsV2 response, or an <Error> document (page->is_error,
 * page->code). Pure. On failure page is freed and zeroed, why says why.
 */
static int rc_s3_parse_list(const char *xml, size_t len, struct rc_s3_page *page, char *why,
                            size_t whylen)
{
    struct s3_xml *x;
    int rv = 0;

    memset(page, 0, sizeof(*page));
    if (len > S3_RESPONSE_MAX) {
        rc_seterr(why, whylen, "response larger than %d bytes", S3_RESPONSE_MAX);
        return -EMSGSIZE;
    }
    x = calloc(1, sizeof(*x));
    if (x == NULL) {
        rc_seterr(why, whylen, "out of memory");
        return -ENOMEM;
    }
    x->page = page;
    x->why = why;
    x->whylen = whylen;
    x->xp = XML_ParserCreate(NULL);
    if (x->xp == NULL) {
        free(x);
        rc_seterr(why, whylen, "out of memory");
        return -ENOMEM;
    }
    XML_SetUserData(x->xp, x);
    XML_SetElementHandler(x->xp, s3_xml_start, s3_xml_end);
    XML_SetCharacterDataHandler(x->xp, s3_xml_text);
    XML_SetStartDoctypeDeclHandler(x->xp, s3_xml_doctype);
    if (XML_Parse(x->xp, xml, (int)len, XML_TRUE) == XML_STATUS_ERROR && x->rv == 0) {
        x->rv = -EPROTO;
        rc_seterr(why, whylen, "bad XML at line %lu: %s",
                  (unsigned long)XML_GetCurrentLineNumber(x->xp),
                  XML_ErrorString(XML_GetErrorCode(x->xp)));
    }
    if (x->rv == 0 && !x->root_list && !x->root_error) {
        x->rv = -EPROTO;
        rc_seterr(why, whylen, "empty XML document");
    }
    rv = x->rv;
    XML_ParserFree(x->xp);
    free(x);
    if (rv < 0)
        rc_s3_page_free(page);
    return rv;
}

/* ---- HTTP ---- */

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
};

struct s3_cached {
    char *key;
    char etag[S3_ETAG_MAX + 1];
    bool ok;
    struct rc_entry entry; /* ok */
    char why[96];          /* !ok */
    /* during one list() only: */
    size_t name_off;          /* the node name is key + name_off */
    int64_t last_modified_ms; /* from this listing */
    bool gone;                /* deleted between the listing and its GET */
};

struct s3_ctx {
    struct rc_s3_url url;
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
};

static int64_t s3_realtime_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Narrows the server clock offset with a Date header (one-second
 * resolution): the server's time now is in [date, date + 999].
 */
static void s3_clock_sample(struct s3_ctx *ctx, int64_t date_ms, int64_t local_ms)
{
    int64_t lo = date_ms - local_ms, hi = date_ms + 999 - local_ms;

    if (!ctx->have_offset || ctx->offset_ms < lo)
        ctx->offset_ms = lo;
    if (ctx->offset_ms > hi)
        ctx->offset_ms = hi;
    ctx->have_offset = true;
}

static int64_t s3_server_now(const struct s3_ctx *ctx)
{
    return s3_realtime_ms() + (ctx->have_offset ? ctx->offset_ms : 0);
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
        r->date[0] = r->last_modified[0] = '\0'; /* a new response (after 100-continue) */
    } else if (n > 5 && strncasecmp(line, "Date:", 5) == 0) {
        s3_header_value(line, n, 5, r->date, sizeof(r->date));
    } else if (n > 14 && strncasecmp(line, "Last-Modified:", 14) == 0) {
        s3_header_value(line, n, 14, r->last_modified, sizeof(r->last_modified));
    }
    return n;
}

static void s3_resp_free(struct s3_resp *r)
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
static int s3_req_setup(struct s3_ctx *ctx, CURL *easy, char *errbuf, const char *method,
                        const char *url, const char *body, size_t bodylen, size_t maxbody,
                        struct s3_resp *r, struct curl_slist **ret_hdrs, const char *op, char *err,
                        size_t errlen)
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
static int s3_req_done(struct s3_ctx *ctx, CURL *easy, const char *errbuf, CURLcode cc,
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
            s3_clock_sample(ctx, (int64_t)t * 1000, s3_realtime_ms());
    }
    return 0;
}

/* One signed request on the ctx's own handle (s3_req_setup, s3_req_done). */
static int s3_http(struct s3_ctx *ctx, const char *method, const char *url, const char *body,
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
static int s3_status_error(const struct s3_ctx *ctx, struct s3_resp *r, const char *op, char *err,
                           size_t errlen)
{
    struct rc_s3_page page;
    char why[96], code[64] = "";

    if (r->body.p != NULL && !r->body.overflow &&
        rc_s3_parse_list(r->body.p, r->body.len, &page, why, sizeof(why)) == 0) {
        if (page.is_error)
            snprintf(code, sizeof(code), "%s", page.code);
        rc_s3_page_free(&page);
    }
    for (char *c = code; *c; c++)
        if ((unsigned char)*c < ' ' || (unsigned char)*c >= 0x7f)
            *c = '?';
    rc_seterr(err, errlen, "s3 %s (bucket %s): HTTP %ld%s%s", op, ctx->url.bucket, r->status,
              code[0] ? " " : "", code);
    if (r->status == 403 || r->status == 401)
        return -EACCES;
    if (r->status == 404)
        return -ENOENT;
    if (r->status == 503 || r->status == 429)
        return -EAGAIN;
    return -EREMOTEIO;
}

/* ---- the backend ---- */

static pthread_once_t s3_curl_once = PTHREAD_ONCE_INIT;
static CURLcode s3_curl_init_rc;

static void s3_curl_init(void)
{
    s3_curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void s3_cache_free(struct s3_cached *c, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(c[i].key);
    free(c);
}

static void s3_close(void *vctx)
{
    struct s3_ctx *ctx = vctx;

    if (ctx == NULL)
        return;
    if (ctx->curl != NULL)
        curl_easy_cleanup(ctx->curl);
    s3_cache_free(ctx->cache, ctx->ncache);
    if (ctx->session_token != NULL) {
        explicit_bzero(ctx->session_token, strlen(ctx->session_token));
        free(ctx->session_token);
    }
    explicit_bzero(ctx, sizeof(*ctx));
    free(ctx);
}

static bool s3_cred_ok(const char *s, size_t max, bool key)
{
    size_t n = strlen(s);

    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < ' ' || s[i] == 0x7f || (key && (s[i] == ':' || s[i] == ' ')))
            return false;
    return true;
}

static int s3_open(const char *url, void **ret_ctx, char *err, size_t errlen)
{
    struct s3_ctx *ctx;
    const char *ak, *sk, *tok;
    int rv;

    pthread_once(&s3_curl_once, s3_curl_init);
    if (s3_curl_init_rc != CURLE_OK) {
        rc_seterr(err, errlen, "cannot initialise libcurl");
        return -EIO;
    }
    ctx = calloc(1, sizeof(*ctx));
    if (ctx == NULL) {
        rc_seterr(err, errlen, "out of memory");
        return -ENOMEM;
    }
    rv = rc_s3_url_parse(url, &ctx->url, err, errlen);
    if (rv < 0)
        goto out_close;
    if (!ctx->url.have_region) {
        const char *r = getenv("AWS_REGION");

        if (r == NULL || r[0] == '\0')
            r = getenv("AWS_DEFAULT_REGION");
        if (r == NULL || r[0] == '\0')
            r = "us-east-1";
        if (!s3_region_valid(r)) {
            rc_seterr(err, errlen, "s3: bad region in AWS_REGION / AWS_DEFAULT_REGION");
            rv = -EINVAL;
            goto out_close;
        }
        snprintf(ctx->url.region, sizeof(ctx->url.region), "%s", r);
    }
    if (!ctx->url.have_endpoint) {
        snprintf(ctx->url.scheme, sizeof(ctx->url.scheme), "https");
        snprintf(ctx->url.hostport, sizeof(ctx->url.hostport), "s3.%s.amazonaws.com",
                 ctx->url.region);
    }
    snprintf(ctx->sigv4, sizeof(ctx->sigv4), "aws:amz:%s:s3", ctx->url.region);

    if (ctx->url.have_keys) {
        ak = ctx->url.access_key;
        sk = ctx->url.secret_key;
    } else {
        ak = getenv("AWS_ACCESS_KEY_ID");
        sk = getenv("AWS_SECRET_ACCESS_KEY");
    }
    if (ak == NULL || sk == NULL || ak[0] == '\0' || sk[0] == '\0') {
        rc_seterr(err, errlen,
                  "s3: no credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)");
        rv = -EINVAL;
        goto out_close;
    }
    if (!s3_cred_ok(ak, sizeof(ctx->access_key) - 1, true) ||
        !s3_cred_ok(sk, sizeof(ctx->secret_key) - 1, false)) {
        rc_seterr(err, errlen, "s3: the access key or secret key has bad characters or length");
        rv = -EINVAL;
        goto out_close;
    }
    snprintf(ctx->access_key, sizeof(ctx->access_key), "%s", ak);
    snprintf(ctx->secret_key, sizeof(ctx->secret_key), "%s", sk);
    tok = getenv("AWS_SESSION_TOKEN");
    if (tok != NULL && tok[0] != '\0' && !ctx->url.have_keys) {
        if (!s3_cred_ok(tok, S3_SECRET_MAX, false)) {
            rc_seterr(err, errlen, "s3: AWS_SESSION_TOKEN has bad characters or length");
            rv = -EINVAL;
            goto out_close;
        }
        ctx->session_token = strdup(tok);
        if (ctx->session_token == NULL)
            goto out_nomem;
    }
    ctx->curl = curl_easy_init();
    if (ctx->curl == NULL)
        goto out_nomem;
    *ret_ctx = ctx;
    return 0;

out_nomem:
    rc_seterr(err, errlen, "out of memory");
    rv = -ENOMEM;
out_close:
    s3_close(ctx);
    return rv;
}

static int s3_publish(void *vctx, const struct rc_entry *self, char *err, size_t errlen)
{
    struct s3_ctx *ctx = vctx;
    char url[2048], text[1024];
    struct s3_resp r;
    size_t len;
    int rv;

    if (!rc_node_name_valid(self->name) ||
        rc_entry_format_body(self, text, sizeof(text), &len) < 0) {
        rc_seterr(err, errlen, "not a valid entry (name or host)");
        return -EINVAL;
    }
    if (rc_s3_object_url(&ctx->url, self->name, url, sizeof(url)) < 0) {
        rc_seterr(err, errlen, "s3: object URL too long");
        return -ENAMETOOLONG;
    }
    rv = s3_http(ctx, "PUT", url, text, len, S3_ERROR_BODY_MAX, &r, "publish", err, errlen);
    if (rv < 0)
        return rv;
    if (r.status < 200 || r.status > 299)
        rv = s3_status_error(ctx, &r, "publish", err, errlen);
    s3_resp_free(&r);
    return rv;
}

static int s3_cached_cmp(const void *a, const void *b)
{
    return strcmp(((const struct s3_cached *)a)->key, ((const struct s3_cached *)b)->key);
}

static const struct s3_cached *s3_cache_find(const struct s3_ctx *ctx, const char *key)
{
    struct s3_cached probe = {.key = (char *)key};

    if (ctx->ncache == 0)
        return NULL;
    return bsearch(&probe, ctx->cache, ctx->ncache, sizeof(*ctx->cache), s3_cached_cmp);
}

/* All objects under the prefix, every page. On success *ret holds them. */
static int s3_list_all(struct s3_ctx *ctx, struct rc_s3_page *ret, char *err, size_t errlen)
{
    struct rc_s3_page all = {0};
    char *url, token[S3_TOKEN_MAX + 1] = "";
    int rv = 0;

    url = malloc(S3_TOKEN_MAX * 3 + 2048);
    if (url == NULL) {
        rc_seterr(err, errlen, "out of memory");
        return -ENOMEM;
    }
    for (int pages = 0;; pages++) {
        struct rc_s3_page page;
        struct s3_resp r;
        char why[128];

        if (pages >= S3_PAGES_MAX) {
            rc_seterr(err, errlen, "s3 list: more than %d pages", S3_PAGES_MAX);
            rv = -E2BIG;
            break;
        }
        if (rc_s3_list_url(&ctx->url, token, NULL, url, S3_TOKEN_MAX * 3 + 2048) < 0) {
            rc_seterr(err, errlen, "s3 list: URL too long");
            rv = -ENAMETOOLONG;
            break;
        }
        rv = s3_http(ctx, "GET", url, NULL, 0, S3_RESPONSE_MAX, &r, "list", err, errlen);
        if (rv < 0)
            break;
        if (r.status != 200) {
            rv = s3_status_error(ctx, &r, "list", err, errlen);
            s3_resp_free(&r);
            break;
        }
        if (r.body.overflow) {
            rc_seterr(err, errlen, "s3 list: response larger than %d bytes", S3_RESPONSE_MAX);
            s3_resp_free(&r);
            rv = -EMSGSIZE;
            break;
        }
        rv =
            rc_s3_parse_list(r.body.p != NULL ? r.body.p : "", r.body.len, &page, why, sizeof(why));
        s3_resp_free(&r);
        if (rv < 0) {
            rc_seterr(err, errlen, "s3 list: %s", why);
            break;
        }
        if (page.is_error) {
            rc_seterr(err, errlen, "s3 list (bucket %s): error %s", ctx->url.bucket, page.code);
            rc_s3_page_free(&page);
            rv = -EREMOTEIO;
            break;
        }
        /* append this page's objects */
        if (page.n > 0) {
            void *p = realloc(all.objs, (all.n + page.n) * sizeof(*all.objs));

            if (p == NULL) {
                rc_s3_page_free(&page);
                rc_seterr(err, errlen, "out of memory");
                rv = -ENOMEM;
                break;
            }
            all.objs = p;
            memcpy(all.objs + all.n, page.objs, page.n * sizeof(*page.objs));
            all.n += page.n;
            all.cap = all.n;
            free(page.objs); /* the keys moved to all */
            page.objs = NULL;
            page.n = 0;
        }
        if (!page.truncated || all.n > RC_REGISTRY_MAX_ENTRIES) {
            all.truncated = page.truncated;
            rc_s3_page_free(&page);
            break;
        }
        if (page.next_token[0] == '\0') {
            rc_s3_page_free(&page);
            rc_seterr(err, errlen, "s3 list: truncated listing without NextContinuationToken");
            rv = -EPROTO;
            break;
        }
        memcpy(token, page.next_token, sizeof(token));
        rc_s3_page_free(&page);
    }
    free(url);
    if (rv < 0) {
        rc_s3_page_free(&all);
        return rv;
    }
    *ret = all;
    return 0;
}

/*
 * Judges the response r to one object's GET into c (ok or a reject reason)
 * and frees r. Returns 1 if the object vanished meanwhile, 0 done, negative
 * (with err) to fail the list.
 */
static int s3_fetch_result(struct s3_ctx *ctx, const char *name, struct s3_resp *r,
                           struct s3_cached *c, char *err, size_t errlen)
{
    int rv = 0;

    if (r->status == 404) {
        rv = 1;
    } else if (r->status == 403) {
        snprintf(c->why, sizeof(c->why), "cannot read the object (HTTP 403)");
    } else if (r->status != 200) {
        rv = s3_status_error(ctx, r, "get", err, errlen);
    } else if (r->body.overflow) {
        snprintf(c->why, sizeof(c->why), "larger than %d bytes", RC_ENTRY_TEXT_MAX);
    } else if (rc_entry_parse(r->body.p != NULL ? r->body.p : "", r->body.len, name, &c->entry,
                              c->why, sizeof(c->why)) == 0) {
        c->ok = true;
    }
    s3_resp_free(r);
    return rv;
}

/* One body to fetch: the object's node name, where its verdict goes. */
struct s3_job {
    const char *name;
    struct s3_cached *c;
};

/* A transfer slot of s3_fetch_all. */
struct s3_slot {
    CURL *easy;
    struct curl_slist *hdrs;
    struct s3_resp r;
    size_t job;
    bool busy;
    char errbuf[CURL_ERROR_SIZE];
};

/*
 * Judges every transfer of multi that has finished (s3_req_done, then
 * s3_fetch_result) and frees its slot. Returns the first error, with err;
 * the later ones are judged too but not reported.
 */
static int s3_fetch_finished(struct s3_ctx *ctx, CURLM *multi, struct s3_job *jobs, size_t *busy,
                             char *err, size_t errlen)
{
    CURLMsg *m;
    int left, rv = 0;

    while ((m = curl_multi_info_read(multi, &left)) != NULL) {
        struct s3_slot *sl = NULL;
        char later[128];
        char *e = rv == 0 ? err : later;
        size_t elen = rv == 0 ? errlen : sizeof(later);

        if (m->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&sl);
        CURLcode cc = m->data.result;
        curl_multi_remove_handle(multi, sl->easy);
        sl->busy = false;
        (*busy)--;
        struct s3_job *j = &jobs[sl->job];
        int r = s3_req_done(ctx, sl->easy, sl->errbuf, cc, sl->hdrs, &sl->r, "get", e, elen);

        sl->hdrs = NULL;
        if (r == 0)
            r = s3_fetch_result(ctx, j->name, &sl->r, j->c, e, elen);
        if (r == 1)
            j->c->gone = true;
        else if (r < 0 && rv == 0)
            rv = r;
    }
    return rv;
}

/*
 * Fetches the bodies of jobs, up to S3_FETCH_PARALLEL at a time, each on its
 * own connection (a cold cache at 1000 nodes was 0.7 s of GETs in series).
 * A job whose object vanished meanwhile gets c->gone. A transport error or
 * an unexpected status fails the whole list, as one GET in series did; the
 * transfers still under way are then abandoned. The connections last for
 * one call: a warm cache fetches nothing, and keeping S3_FETCH_PARALLEL idle
 * connections open to the store between rounds would cost it more.
 */
static int s3_fetch_all(struct s3_ctx *ctx, struct s3_job *jobs, size_t njobs, char *err,
                        size_t errlen)
{
    struct s3_slot slots[S3_FETCH_PARALLEL];
    size_t nslots = njobs < S3_FETCH_PARALLEL ? njobs : S3_FETCH_PARALLEL, next = 0, busy = 0;
    CURLM *multi;
    int rv = 0;

    if (njobs == 0)
        return 0;
    memset(slots, 0, sizeof(slots));
    multi = curl_multi_init();
    if (multi == NULL)
        goto out_nomem;
    for (size_t k = 0; k < nslots; k++) {
        slots[k].easy = curl_easy_init();
        if (slots[k].easy == NULL)
            goto out_nomem;
    }
    while (rv == 0 && (next < njobs || busy > 0)) {
        /* fill the idle slots */
        for (size_t k = 0; k < nslots && rv == 0; k++) {
            struct s3_slot *sl = &slots[k];
            char url[2048];

            if (sl->busy)
                continue;
            /* a name that makes no URL is judged here, without a request */
            while (next < njobs &&
                   rc_s3_object_url(&ctx->url, jobs[next].name, url, sizeof(url)) < 0) {
                snprintf(jobs[next].c->why, sizeof(jobs[next].c->why), "object URL too long");
                next++;
            }
            if (next >= njobs)
                break;
            rv = s3_req_setup(ctx, sl->easy, sl->errbuf, "GET", url, NULL, 0, RC_ENTRY_TEXT_MAX,
                              &sl->r, &sl->hdrs, "get", err, errlen);
            if (rv < 0)
                break;
            curl_easy_setopt(sl->easy, CURLOPT_PRIVATE, sl);
            if (curl_multi_add_handle(multi, sl->easy) != CURLM_OK) {
                curl_slist_free_all(sl->hdrs);
                sl->hdrs = NULL;
                goto out_nomem;
            }
            sl->job = next++;
            sl->busy = true;
            busy++;
        }
        if (rv < 0 || busy == 0)
            break;
        int running = 0;
        size_t was_busy = busy;
        CURLMcode mc = curl_multi_perform(multi, &running);
        if (mc == CURLM_OK)
            rv = s3_fetch_finished(ctx, multi, jobs, &busy, err, errlen);
        /* wait for the network only when no freed slot can take a job */
        if (mc == CURLM_OK && rv == 0 && running > 0 && (busy == was_busy || next >= njobs))
            mc = curl_multi_poll(multi, NULL, 0, 1000, NULL);
        if (mc != CURLM_OK) {
            rc_seterr(err, errlen, "s3 get: %s", curl_multi_strerror(mc));
            rv = -EIO;
        }
    }
    goto out;

out_nomem:
    rc_seterr(err, errlen, "out of memory");
    rv = -ENOMEM;
out:
    for (size_t k = 0; k < nslots; k++) {
        struct s3_slot *sl = &slots[k];

        if (sl->easy == NULL)
            continue;
        if (sl->busy) {
            curl_multi_remove_handle(multi, sl->easy);
            curl_slist_free_all(sl->hdrs);
            s3_resp_free(&sl->r);
        }
        curl_easy_cleanup(sl->easy);
    }
    if (multi != NULL)
        curl_multi_cleanup(multi);
    return rv;
}

/*
 * list(): one listing (all pages), then the bodies whose ETag the cache has
 * not seen, fetched in parallel (s3_fetch_all), then the entries in listing
 * order. At most RC_REGISTRY_MAX_ENTRIES objects get as far as a cache slot
 * (or a GET): past that a reject says the rest are ignored, as every
 * backend does.
 */
static int s3_list(void *vctx, struct rc_reg_list *ret_list, char *err, size_t errlen)
{
    struct s3_ctx *ctx = vctx;
    struct rc_reg_list l = {0};
    struct rc_s3_page all;
    struct s3_cached *cache = NULL;
    struct s3_job *jobs = NULL;
    size_t ncache = 0, njobs = 0, kept = 0, plen = strlen(ctx->url.prefix);
    int64_t now;
    int rv;

    rv = s3_list_all(ctx, &all, err, errlen);
    if (rv < 0)
        return rv;
    if (all.n > 0) {
        cache = calloc(all.n, sizeof(*cache));
        jobs = calloc(all.n, sizeof(*jobs));
        if (cache == NULL || jobs == NULL) {
            rv = -ENOMEM;
            goto out_nomem;
        }
    }
    /* 1. what the listing says: rejects, cache hits, bodies to fetch */
    for (size_t i = 0; i < all.n; i++) {
        struct rc_s3_object *o = &all.objs[i];
        const char *name = o->key != NULL ? o->key : "";
        size_t nlen = o->keylen;
        const struct s3_cached *old;
        struct s3_cached *c;

        if (o->key == NULL)
            continue; /* a <Contents> without <Key>: nothing to name */
        if (!o->bad_key && plen > 0) {
            if (nlen <= plen || memcmp(name, ctx->url.prefix, plen) != 0 || name[plen] != '/')
                continue; /* not under our prefix (a server ignoring prefix=) */
            name += plen + 1;
            nlen -= plen + 1;
        }
        if (o->bad_key || nlen > RC_NAME_MAX || strlen(name) != nlen || !rc_node_name_valid(name)) {
            rv = rc_reg_list_reject(&l, name, nlen, "not a valid node name");
            goto next;
        }
        if (!o->have_lm) {
            rv = rc_reg_list_reject(&l, name, nlen, "no LastModified in the listing");
            goto next;
        }
        if (o->have_size && o->size > RC_ENTRY_TEXT_MAX) {
            char why[64];

            snprintf(why, sizeof(why), "larger than %d bytes", RC_ENTRY_TEXT_MAX);
            rv = rc_reg_list_reject(&l, name, nlen, why);
            goto next;
        }
        if (ncache == RC_REGISTRY_MAX_ENTRIES) {
            char why[96];

            snprintf(why, sizeof(why), "more than %d entries; the rest are ignored",
                     RC_REGISTRY_MAX_ENTRIES);
            rv = rc_reg_list_reject(&l, name, nlen, why);
            if (rv == 0)
                break;
            goto next;
        }
        c = &cache[ncache++];
        old = o->etag[0] != '\0' ? s3_cache_find(ctx, o->key) : NULL;
        if (old != NULL && strcmp(old->etag, o->etag) == 0) {
            c->ok = old->ok;
            c->entry = old->entry;
            memcpy(c->why, old->why, sizeof(c->why));
        } else {
            jobs[njobs].name = name;
            jobs[njobs].c = c;
            njobs++;
        }
        c->name_off = (size_t)(name - o->key);
        c->last_modified_ms = o->last_modified_ms;
        c->key = o->key;
        o->key = NULL; /* the cache owns it now; name still points into it */
        memcpy(c->etag, o->etag, sizeof(c->etag));
    next:
        if (rv < 0)
            goto out_nomem;
    }
    rc_s3_page_free(&all);
    /* 2. the bodies not cached */
    rv = s3_fetch_all(ctx, jobs, njobs, err, errlen);
    if (rv < 0)
        goto out_free;
    /* 3. the entries, in listing order; the cache keeps what still exists */
    now = s3_server_now(ctx);
    for (size_t i = 0; i < ncache; i++) {
        struct s3_cached *c = &cache[i];
        const char *name = c->key + c->name_off;
        struct rc_entry e;

        if (c->gone) {
            free(c->key);
            continue;
        }
        cache[kept++] = *c;
        if (!c->ok) {
            rv = rc_reg_list_reject(&l, name, strlen(name), c->why);
        } else {
            e = c->entry;
            e.updated_at_ms = c->last_modified_ms;
            e.age_ms = now - c->last_modified_ms;
            if (e.age_ms < 0)
                e.age_ms = 0;
            rv = rc_reg_list_add(&l, &e);
        }
        if (rv < 0) {
            /* keep every key still owned in cache[0..kept) for the free */
            for (size_t k = i + 1; k < ncache; k++)
                cache[kept++] = cache[k];
            ncache = kept;
            goto out_nomem;
        }
    }
    ncache = kept;
    free(jobs);
    if (ncache > 1)
        qsort(cache, ncache, sizeof(*cache), s3_cached_cmp);
    s3_cache_free(ctx->cache, ctx->ncache);
    ctx->cache = cache;
    ctx->ncache = ncache;
    *ret_list = l;
    return 0;

out_nomem:
    rc_seterr(err, errlen, "out of memory");
out_free:
    free(jobs);
    s3_cache_free(cache, ncache);
    rc_s3_page_free(&all);
    rc_reg_list_free(&l);
    return rv;
}

/*
 * The age of name's object, judged exactly as list() judges it: its
 * LastModified from a listing of just that key (HEAD's Last-Modified has
 * only whole seconds) against the server's clock. -ENOENT if it is missing.
 */
static int s3_age(struct s3_ctx *ctx, const char *name, int64_t *ret_age, char *err, size_t errlen)
{
    char url[4096], key[S3_PREFIX_MAX + RC_NAME_MAX + 2], why[128];
    struct rc_s3_page page;
    struct s3_resp r;
    int rv;

    if (rc_s3_list_url(&ctx->url, NULL, name, url, sizeof(url)) < 0 ||
        s3_key(&ctx->url, name, key, sizeof(key)) < 0) {
        rc_seterr(err, errlen, "s3: object URL too long");
        return -ENAMETOOLONG;
    }
    rv = s3_http(ctx, "GET", url, NULL, 0, S3_RESPONSE_MAX, &r, "remove (list)", err, errlen);
    if (rv < 0)
        return rv;
    if (r.status != 200 || r.body.overflow) {
        rv = r.status != 200 ? s3_status_error(ctx, &r, "remove (list)", err, errlen) : -EMSGSIZE;
        if (rv == -EMSGSIZE)
            rc_seterr(err, errlen, "s3 remove (list): response too large");
        s3_resp_free(&r);
        return rv;
    }
    rv = rc_s3_parse_list(r.body.p != NULL ? r.body.p : "", r.body.len, &page, why, sizeof(why));
    s3_resp_free(&r);
    if (rv < 0) {
        rc_seterr(err, errlen, "s3 remove (list): %s", why);
        return rv;
    }
    rv = -ENOENT;
    for (size_t i = 0; i < page.n; i++) {
        const struct rc_s3_object *o = &page.objs[i];

        if (o->key == NULL || o->bad_key || strcmp(o->key, key) != 0)
            continue;
        if (!o->have_lm) {
            rc_seterr(err, errlen, "s3 remove: no LastModified for the object");
            rv = -EPROTO;
        } else {
            *ret_age = s3_server_now(ctx) - o->last_modified_ms;
            rv = 0;
        }
        break;
    }
    rc_s3_page_free(&page);
    return rv;
}

static int s3_remove(void *vctx, const char *name, int64_t min_age_ms, char *err, size_t errlen)
{
    struct s3_ctx *ctx = vctx;
    char url[2048];
    struct s3_resp r;
    int rv;

    if (name == NULL || !rc_node_name_valid(name)) {
        rc_seterr(err, errlen, "not a valid node name");
        return -EINVAL;
    }
    if (rc_s3_object_url(&ctx->url, name, url, sizeof(url)) < 0) {
        rc_seterr(err, errlen, "s3: object URL too long");
        return -ENAMETOOLONG;
    }
    if (min_age_ms > 0) {
        int64_t age = 0;

        rv = s3_age(ctx, name, &age, err, errlen);
        if (rv == -ENOENT)
            return 0; /* gone already */
        if (rv < 0)
            return rv;
        if (age < min_age_ms)
            return 0; /* refreshed meanwhile: it stays */
    }
    rv = s3_http(ctx, "DELETE", url, NULL, 0, S3_ERROR_BODY_MAX, &r, "remove", err, errlen);
    if (rv < 0)
        return rv;
    if ((r.status < 200 || r.status > 299) && r.status != 404)
        rv = s3_status_error(ctx, &r, "remove", err, errlen);
    s3_resp_free(&r);
    return rv;
}

const struct rc_backend_ops rc_backend_s3 = {
    .scheme = "s3",
    .open = s3_open,
    .publish = s3_publish,
    .list = s3_list,
    .remove = s3_remove,
    .close = s3_close,
};

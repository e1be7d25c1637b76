/*
 * s3_url.c - the S3 backend's URL work (pure: bytes in, bytes out):
 *
 *   s3://BUCKET[/PREFIX][?endpoint=http://HOST:PORT&region=us-east-1
 *                         &addressing=path|virtual&timeout=10s]
 *
 * Credentials may come as ACCESS_KEY:SECRET@ in the URL; err never holds
 * them. Without endpoint= the backend uses AWS (s3.c, open) with
 * virtual-host addressing; with one, path-style unless addressing=virtual.
 *
 * Request URLs are built canonical, because libcurl 7.88 signs the path and
 * query exactly as sent (CURLOPT_AWS_SIGV4): every path segment
 * percent-encoded with uppercase hex, query parameters sorted by name with
 * encoded values. Contract: s3_int.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rollcall/duration.h"
#include "rollcall/err.h"
#include "rollcall/backend.h"
#include "rollcall/url.h"

#include "s3_int.h"
void s3_copy(char *dst, size_t cap, const char *src)
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
ssize_t s3_uri_encode(const char *s, size_t len, bool keep_slash, char *out, size_t cap)
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

bool s3_bucket_valid(const char *s, size_t n)
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

bool s3_region_valid(const char *s)
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
static int s3_parse_endpoint(const char *v, struct s3_url *u, char *err, size_t errlen)
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
int s3_url_parse(const char *url, struct s3_url *ret, char *err, size_t errlen)
{
    struct s3_url u;
    struct rc_url_parts parts;
    const char *p;
    int addressing = -1; /* -1 default, 0 path, 1 virtual */

    memset(&u, 0, sizeof(u));
    u.timeout_ms = S3_DEFAULT_TIMEOUT_MS;
    if (url == NULL || strncasecmp(url, "s3://", 5) != 0) {
        rc_seterr(err, errlen, "not an s3:// URL");
        return -EINVAL;
    }
    /* the authority: [ACCESS_KEY:SECRET@]BUCKET, nothing else (no [v6], no :port) */
    if (rc_url_split(url, &parts) < 0 || parts.host_bracketed || parts.has_port ||
        !s3_bucket_valid(parts.host.p, parts.host.len)) {
        rc_seterr(err, errlen, "s3 URL: bucket must be 1..%d of [a-z0-9.-_]", S3_BUCKET_MAX);
        return -EINVAL;
    }
    if (parts.has_user) {
        ssize_t k, s;

        if (!parts.has_password) {
            rc_seterr(err, errlen, "s3 URL: credentials must be ACCESS_KEY:SECRET@");
            return -EINVAL;
        }
        k = rc_url_decode_str(parts.user.p, parts.user.len, u.access_key, sizeof(u.access_key));
        s = rc_url_decode_str(parts.password.p, parts.password.len, u.secret_key,
                              sizeof(u.secret_key));
        if (k <= 0 || s <= 0) {
            rc_seterr(err, errlen, "s3 URL: bad credentials in the URL");
            return -EINVAL;
        }
        for (const char *c = u.access_key; *c != '\0'; c++)
            if ((unsigned char)*c <= ' ' || *c == 0x7f || *c == ':' || *c == '/') {
                rc_seterr(err, errlen, "s3 URL: bad access key");
                return -EINVAL;
            }
        for (const char *c = u.secret_key; *c != '\0'; c++)
            if ((unsigned char)*c < ' ' || *c == 0x7f) {
                rc_seterr(err, errlen, "s3 URL: bad secret key");
                return -EINVAL;
            }
        u.have_keys = true;
    }
    memcpy(u.bucket, parts.host.p, parts.host.len);
    u.bucket[parts.host.len] = '\0';

    /* /prefix: decoded, '/'-separated, no empty, "." or ".." segments */
    p = parts.path.p;
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
            vl = rc_url_decode_str(v, (size_t)(p + plen - v), val, sizeof(val));
            if (vl < 0) {
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
                uint64_t ms;

                if (rc_duration_from_text(val, strlen(val), &ms) < 0 || ms < S3_TIMEOUT_MIN_MS ||
                    ms > S3_TIMEOUT_MAX_MS) {
                    rc_seterr(err, errlen,
                              "s3 URL: timeout= must be a duration of %dms..%ds (" RC_DURATION_HINT
                              ")",
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
int s3_key(const struct s3_url *u, const char *name, char *out, size_t cap)
{
    int n = u->prefix[0] != '\0' ? snprintf(out, cap, "%s/%s", u->prefix, name)
                                 : snprintf(out, cap, "%s", name);

    return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

/* scheme://host[:port] (path-style: + "/bucket"), no trailing '/'. */
int s3_base(const struct s3_url *u, char *out, size_t cap)
{
    int n;

    if (u->virtual_host)
        n = snprintf(out, cap, "%s://%s.%s", u->scheme, u->bucket, u->hostport);
    else
        n = snprintf(out, cap, "%s://%s/%s", u->scheme, u->hostport, u->bucket);
    return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

/* The full URL of the object named name: base + "/" + encoded key. */
int s3_object_url(const struct s3_url *u, const char *name, char *out, size_t cap)
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
    el = s3_uri_encode(key, strlen(key), true, out + bl, cap - bl);
    return el < 0 ? (int)el : 0;
}

/*
 * The ListObjectsV2 URL: parameters sorted by name, values encoded. With
 * name, the listing of just that object (max-keys=1, prefix = its key: the
 * key itself sorts first among the keys it prefixes).
 */
int s3_list_url(const struct s3_url *u, const char *token, const char *name, char *out, size_t cap)
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
        el = s3_uri_encode(token, strlen(token), false, out + o, cap - o);
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
    el = s3_uri_encode(pfx, strlen(pfx), false, out + o, cap - o);
    return el < 0 ? (int)el : 0;
}

/*
 * url.c - URL scheme, authority splitter, percent-decoding and secret
 * masking (url.h).
 */
#include "rollcall/url.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>

size_t rc_url_scheme(const char *url, char out[RC_URL_SCHEME_MAX])
{
    size_t i;

    if (url == NULL || isalpha((unsigned char)url[0]) == 0)
        return 0;
    for (i = 0; url[i] != ':'; i++) {
        unsigned char c = (unsigned char)url[i];

        if (i + 1 >= RC_URL_SCHEME_MAX)
            return 0;
        if (isalnum(c) == 0 && c != '+' && c != '-' && c != '.')
            return 0;
        out[i] = (char)tolower(c);
    }
    out[i] = '\0';
    return i;
}

static struct rc_url_span span(const char *p, size_t len)
{
    struct rc_url_span s = {p, len};

    return s;
}

int rc_url_split(const char *url, struct rc_url_parts *ret)
{
    char scheme[RC_URL_SCHEME_MAX];
    struct rc_url_parts u;
    size_t slen = rc_url_scheme(url, scheme);
    const char *p, *end;

    if (slen == 0)
        return -EINVAL;
    memset(&u, 0, sizeof(u));
    u.scheme = span(url, slen);
    p = url + slen + 1;
    if (p[0] == '/' && p[1] == '/') {
        const char *auth = p + 2, *at = NULL, *hp;

        u.has_authority = true;
        end = auth + strcspn(auth, "/?#");
        for (const char *c = auth; c < end; c++)
            if (*c == '@')
                at = c;
        hp = auth;
        if (at != NULL) {
            const char *colon = memchr(auth, ':', (size_t)(at - auth));

            u.has_user = true;
            u.user = span(auth, (size_t)((colon != NULL ? colon : at) - auth));
            if (colon != NULL) {
                u.has_password = true;
                u.password = span(colon + 1, (size_t)(at - colon - 1));
            }
            hp = at + 1;
        }
        if (hp < end && *hp == '[') {
            const char *rb = memchr(hp, ']', (size_t)(end - hp));

            if (rb == NULL)
                return -EINVAL;
            u.host_bracketed = true;
            u.host = span(hp + 1, (size_t)(rb - hp - 1));
            hp = rb + 1;
            if (hp < end && *hp != ':')
                return -EINVAL;
        } else {
            const char *colon = memchr(hp, ':', (size_t)(end - hp));

            u.host = span(hp, (size_t)((colon != NULL ? colon : end) - hp));
            hp += u.host.len;
        }
        if (hp < end) { /* *hp == ':' */
            u.has_port = true;
            u.port = span(hp + 1, (size_t)(end - hp - 1));
        }
        p = end;
    }
    end = p + strcspn(p, "?#");
    u.path = span(p, (size_t)(end - p));
    p = end;
    if (*p == '?') {
        u.has_query = true;
        end = p + 1 + strcspn(p + 1, "#");
        u.query = span(p + 1, (size_t)(end - p - 1));
        p = end;
    }
    if (*p == '#') {
        u.has_fragment = true;
        u.fragment = span(p + 1, strlen(p + 1));
    }
    *ret = u;
    return 0;
}

int rc_url_port(struct rc_url_span port, unsigned *ret)
{
    unsigned v = 0;

    if (port.len == 0 || port.len > 5)
        return -EINVAL;
    for (size_t i = 0; i < port.len; i++) {
        if (port.p[i] < '0' || port.p[i] > '9')
            return -EINVAL;
        v = v * 10 + (unsigned)(port.p[i] - '0');
    }
    if (v > 65535)
        return -EINVAL;
    *ret = v;
    return 0;
}

int rc_hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

ssize_t rc_url_decode(const char *s, size_t len, bool plus_space, char *out, size_t cap)
{
    size_t o = 0;

    for (size_t i = 0; i < len; i++) {
        char c = s[i];

        if (c == '%') {
            int hi = i + 2 < len ? rc_hexval(s[i + 1]) : -1;
            int lo = hi >= 0 ? rc_hexval(s[i + 2]) : -1;

            if (lo < 0)
                return -EINVAL;
            c = (char)(hi * 16 + lo);
            i += 2;
        } else if (c == '+' && plus_space) {
            c = ' ';
        }
        if (o + 1 >= cap)
            return -ENAMETOOLONG;
        out[o++] = c;
    }
    if (cap == 0)
        return -ENAMETOOLONG;
    out[o] = '\0';
    return (ssize_t)o;
}

ssize_t rc_url_decode_str(const char *s, size_t len, char *out, size_t cap)
{
    ssize_t n = rc_url_decode(s, len, false, out, cap);

    if (n < 0)
        return n;
    return memchr(out, '\0', (size_t)n) != NULL ? -EINVAL : n;
}

bool rc_url_is_conninfo(const char *s)
{
    size_t i = 0;

    if (s == NULL)
        return false;
    while (isspace((unsigned char)s[i]) != 0)
        i++;
    if (isalpha((unsigned char)s[i]) == 0)
        return false;
    while (isalnum((unsigned char)s[i]) != 0 || s[i] == '_')
        i++;
    while (isspace((unsigned char)s[i]) != 0)
        i++;
    return s[i] == '=';
}

/* ---- masking ---- */

/* Query / conninfo keys whose values are secrets (substring, case-insensitive). */
static const char *const secret_key_words[] = {
    "password", "passwd", "secret", "token", "sig", "access_key", "accesskey", "credential", "auth",
};

/* true if the key s[0..len) (percent-encoded or not) names a secret. */
static bool secret_key(const char *s, size_t len)
{
    char key[64];
    size_t k = 0;

    for (size_t i = 0; i < len && k + 1 < sizeof(key); i++) {
        int c = (unsigned char)s[i];

        if (c == '%' && i + 2 < len && rc_hexval(s[i + 1]) >= 0 && rc_hexval(s[i + 2]) >= 0) {
            c = rc_hexval(s[i + 1]) * 16 + rc_hexval(s[i + 2]);
            i += 2;
        }
        key[k++] = (char)tolower(c);
    }
    key[k] = '\0';
    for (size_t i = 0; i < sizeof(secret_key_words) / sizeof(secret_key_words[0]); i++)
        if (strstr(key, secret_key_words[i]) != NULL)
            return true;
    return false;
}

struct outbuf {
    char *p;
    size_t cap, len;
};

static void put(struct outbuf *o, const char *s, size_t n)
{
    if (o->cap == 0)
        return;
    if (n > o->cap - 1 - o->len)
        n = o->cap - 1 - o->len;
    memcpy(o->p + o->len, s, n);
    o->len += n;
    o->p[o->len] = '\0';
}

/* Copies a query string "k=v&k=v" (up to '#' or the end), masking secret values. */
static const char *mask_query(struct outbuf *o, const char *q)
{
    while (*q != '\0' && *q != '#') {
        size_t plen = strcspn(q, "&;#");
        const char *eq = memchr(q, '=', plen);

        if (eq != NULL && secret_key(q, (size_t)(eq - q)) && eq + 1 < q + plen) {
            put(o, q, (size_t)(eq - q) + 1);
            put(o, "***", 3);
        } else {
            put(o, q, plen);
        }
        q += plen;
        if (*q == '&' || *q == ';')
            put(o, q++, 1);
    }
    return q;
}

/* A libpq conninfo "k=v k='v v'": masks secret values, quoted or not. */
static void mask_conninfo(struct outbuf *o, const char *s)
{
    while (*s != '\0') {
        size_t ws = strspn(s, " \t\r\n");
        size_t klen;
        const char *v;
        bool secret;

        put(o, s, ws);
        s += ws;
        klen = strcspn(s, "= \t\r\n");
        secret = secret_key(s, klen);
        put(o, s, klen);
        s += klen;
        ws = strspn(s, " \t\r\n");
        put(o, s, ws);
        s += ws;
        if (*s != '=')
            continue;
        put(o, s++, 1);
        ws = strspn(s, " \t\r\n");
        put(o, s, ws);
        s += ws;
        v = s;
        if (*s == '\'') {
            for (s++; *s != '\0' && *s != '\''; s++)
                if (*s == '\\' && s[1] != '\0')
                    s++;
            if (*s == '\'')
                s++;
        } else {
            s += strcspn(s, " \t\r\n");
        }
        if (secret && s > v)
            put(o, "***", 3);
        else
            put(o, v, (size_t)(s - v));
    }
}

void rc_url_mask(const char *url, char *out, size_t outlen)
{
    struct outbuf o = {out, outlen, 0};
    char scheme[RC_URL_SCHEME_MAX];
    const char *p, *auth, *end, *at = NULL;

    if (out == NULL || outlen == 0)
        return;
    out[0] = '\0';
    if (url == NULL)
        return;
    if (rc_url_scheme(url, scheme) == 0) {
        if (rc_url_is_conninfo(url))
            mask_conninfo(&o, url);
        else
            put(&o, url, strlen(url));
        return;
    }

    p = url + strlen(scheme) + 1;
    if (p[0] == '/' && p[1] == '/') {
        /* Userinfo ends at the last '@' before the query: a password may hold
         * an unencoded '/' or '@', so anything that could be one is masked. */
        auth = p + 2;
        end = auth + strcspn(auth, "?#");
        for (const char *c = auth; c < end; c++)
            if (*c == '@')
                at = c;
        if (at != NULL) {
            const char *colon = memchr(auth, ':', (size_t)(at - auth));

            put(&o, url, (size_t)(auth - url));
            if (colon != NULL) {
                put(&o, auth, (size_t)(colon - auth) + 1);
                put(&o, "***", 3);
            } else {
                put(&o, auth, (size_t)(at - auth));
            }
            p = at;
        } else {
            put(&o, url, (size_t)(auth - url));
            p = auth;
        }
    } else {
        put(&o, url, (size_t)(p - url));
    }
    /* path, then the query, then the fragment as it is */
    end = p + strcspn(p, "?#");
    put(&o, p, (size_t)(end - p));
    p = end;
    if (*p == '?') {
        put(&o, p++, 1);
        p = mask_query(&o, p);
    }
    put(&o, p, strlen(p));
}

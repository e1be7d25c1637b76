/*
 * registry.c - the registry front: backend lookup by URL scheme, the open
 * registry handle, the list helpers every backend fills its result with,
 * URL masking for logs and check-config, and the ISO-8601 time functions the
 * entry format and the backends share.
 *
 * The backends are one array of slots, one line per scheme. The file
 * backend is built in; Redis, PostgreSQL and S3 are modules loaded on first
 * use, so that an agent on the file backend maps none of libpq, libcurl,
 * hiredis or their TLS and Kerberos libraries (docs/registry.md, "Modules"). The list helpers own
 * the two bounds every backend needs (RC_REGISTRY_MAX_ENTRIES, and escaping
 * of whatever garbage a reject names) so no backend can forget them.
 */
#include <ctype.h>
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rollcall/err.h"
#include "rollcall/registry.h"

/*
 * Every backend, looked up by scheme. The file backend is part of the
 * program; the others are modules (registry.h says where they are looked
 * for). The weak references are non-NULL only in a program that links the
 * backend in, which then uses its own copy. One line per backend.
 */
extern const struct rc_backend_ops rc_backend_redis __attribute__((weak));
extern const struct rc_backend_ops rc_backend_postgres __attribute__((weak));
extern const struct rc_backend_ops rc_backend_s3 __attribute__((weak));

static struct rc_backend_slot {
    const char *scheme;
    const struct rc_backend_ops *linked; /* in the program, or NULL */
    const struct rc_backend_ops *loaded; /* from the module; under rc_modules_lock */
} rc_backends[] = {
    {"file", &rc_backend_fs, NULL},
    {"redis", &rc_backend_redis, NULL},       /* backends/redis.c */
    {"postgres", &rc_backend_postgres, NULL}, /* backends/postgres.c ("postgresql" alias) */
    {"s3", &rc_backend_s3, NULL},             /* backends/s3.c */
};
#define RC_NBACKENDS (sizeof(rc_backends) / sizeof(rc_backends[0]))

static pthread_mutex_t rc_modules_lock = PTHREAD_MUTEX_INITIALIZER;

#ifndef RC_MODULE_DIR_DEFAULT
#define RC_MODULE_DIR_DEFAULT "/usr/local/lib/rollcall"
#endif

/* Schemes that name the same backend as another scheme (libpq accepts both). */
static const struct {
    const char *alias;
    const char *scheme;
} rc_scheme_aliases[] = {
    {"postgresql", "postgres"},
};

#define RC_SCHEME_MAX 32

/*
 * Copies url's scheme (RFC 3986: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ),
 * then ':') into out, lower-cased. Returns its length, or 0 if url does not
 * start with a scheme that fits.
 */
static size_t url_scheme(const char *url, char out[RC_SCHEME_MAX])
{
    size_t i;

    if (url == NULL || !isalpha((unsigned char)url[0]))
        return 0;
    for (i = 0; url[i] != ':'; i++) {
        unsigned char c = (unsigned char)url[i];

        if (i + 1 >= RC_SCHEME_MAX)
            return 0;
        if (!isalnum(c) && c != '+' && c != '-' && c != '.')
            return 0;
        out[i] = (char)tolower(c);
    }
    out[i] = '\0';
    return i;
}

static const char *scheme_canonical(const char *scheme)
{
    for (size_t i = 0; i < sizeof(rc_scheme_aliases) / sizeof(rc_scheme_aliases[0]); i++)
        if (strcmp(scheme, rc_scheme_aliases[i].alias) == 0)
            return rc_scheme_aliases[i].scheme;
    return scheme;
}

/* The directory of the running executable, into out; false if unknown. */
static bool exe_dir(char *out, size_t outlen)
{
    ssize_t n = readlink("/proc/self/exe", out, outlen - 1);
    char *slash;

    if (n <= 0 || (size_t)n >= outlen - 1)
        return false;
    out[n] = '\0';
    slash = strrchr(out, '/');
    if (slash == NULL)
        return false;
    *slash = '\0';
    return true;
}

/* Appends ", dir" (or "dir") to the list of places searched, for errors. */
static void note_dir(char *tried, size_t triedlen, const char *dir)
{
    size_t used = strlen(tried);

    if (used < triedlen)
        snprintf(tried + used, triedlen - used, "%s%s", used ? ", " : "", dir);
}

/*
 * Loads rollcall-<scheme>.so from the first directory that has it. Called
 * with rc_modules_lock held. The module's own undefined rc_* symbols resolve
 * against the program (linked with -rdynamic); RTLD_LOCAL keeps its names
 * out of everyone else's way. Modules are never unloaded.
 */
static const struct rc_backend_ops *load_module(const char *scheme, char *err, size_t errlen)
{
    char dirs[3][PATH_MAX], tried[3 * 64 + 3 * PATH_MAX] = "";
    char path[PATH_MAX + 64], sym[64];
    const char *env = getenv("ROLLCALL_MODULE_DIR");
    size_t ndirs = 0;

    if (env != NULL && env[0] != '\0') {
        snprintf(dirs[ndirs++], PATH_MAX, "%s", env);
    } else {
        if (exe_dir(dirs[ndirs], PATH_MAX))
            ndirs++;
        snprintf(dirs[ndirs++], PATH_MAX, "%s", RC_MODULE_DIR_DEFAULT);
    }
    for (size_t i = 0; i < ndirs; i++) {
        void *h;
        const struct rc_backend_ops *ops;
        const char *version;

        int n = snprintf(path, sizeof(path), "%s/rollcall-%s.so", dirs[i], scheme);

        note_dir(tried, sizeof(tried), dirs[i]);
        if (n < 0 || (size_t)n >= sizeof(path) || access(path, F_OK) != 0)
            continue;
        h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        if (h == NULL) {
            const char *why = dlerror();
            rc_seterr(err, errlen, "%s:// registry: cannot load %s: %s", scheme, path,
                      why ? why : "unknown error");
            return NULL;
        }
        snprintf(sym, sizeof(sym), "rc_backend_%s", scheme);
        ops = dlsym(h, sym);
        version = dlsym(h, "rc_backend_module_version");
        if (ops == NULL || version == NULL || strcmp(ops->scheme, scheme) != 0) {
            rc_seterr(err, errlen, "%s:// registry: %s is not a rollcall %s backend module", scheme,
                      path, scheme);
            dlclose(h);
            return NULL;
        }
        if (strcmp(version, ROLLCALL_VERSION) != 0) {
            rc_seterr(err, errlen,
                      "%s:// registry: %s is from rollcall %.32s, this is rollcall %s; install "
                      "the modules that came with this binary",
                      scheme, path, version, ROLLCALL_VERSION);
            dlclose(h);
            return NULL;
        }
        return ops;
    }
    rc_seterr(err, errlen,
              "%s:// registry: backend module rollcall-%s.so not found (looked in %s; "
              "ROLLCALL_MODULE_DIR overrides)",
              scheme, scheme, tried);
    return NULL;
}

/* "file://, redis://, ..." for error messages. */
static void supported_schemes(char *out, size_t outlen)
{
    size_t used = 0;

    out[0] = '\0';
    for (size_t i = 0; i < RC_NBACKENDS && used < outlen; i++) {
        int n =
            snprintf(out + used, outlen - used, "%s%s://", i ? ", " : "", rc_backends[i].scheme);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

const struct rc_backend_ops *rc_registry_load(const char *url, char *err, size_t errlen)
{
    char scheme[RC_SCHEME_MAX], supported[128];
    const char *want;
    const struct rc_backend_ops *ops = NULL;

    if (url_scheme(url, scheme) == 0) {
        rc_seterr(err, errlen, "registry is not a URL (expected SCHEME://...)");
        return NULL;
    }
    want = scheme_canonical(scheme);
    for (size_t i = 0; i < RC_NBACKENDS; i++) {
        struct rc_backend_slot *b = &rc_backends[i];

        if (strcmp(b->scheme, want) != 0)
            continue;
        if (b->linked != NULL)
            return b->linked;
        pthread_mutex_lock(&rc_modules_lock);
        if (b->loaded == NULL)
            b->loaded = load_module(b->scheme, err, errlen);
        ops = b->loaded;
        pthread_mutex_unlock(&rc_modules_lock);
        return ops;
    }
    supported_schemes(supported, sizeof(supported));
    rc_seterr(err, errlen, "unsupported registry scheme \"%s:\" (rollcall knows %s)", scheme,
              supported);
    return NULL;
}

bool rc_registry_known(const char *url)
{
    char scheme[RC_SCHEME_MAX];

    if (url_scheme(url, scheme) == 0)
        return false;
    for (size_t i = 0; i < RC_NBACKENDS; i++)
        if (strcmp(rc_backends[i].scheme, scheme_canonical(scheme)) == 0)
            return true;
    return false;
}

const struct rc_backend_ops *rc_registry_find(const char *url)
{
    return rc_registry_load(url, NULL, 0);
}

/* A libpq "host=... dbname=..." conninfo: a word of [a-z_] followed by '='. */
static bool looks_like_conninfo(const char *s)
{
    size_t i = 0;

    while (isspace((unsigned char)s[i]))
        i++;
    if (!isalpha((unsigned char)s[i]))
        return false;
    while (isalnum((unsigned char)s[i]) || s[i] == '_')
        i++;
    while (isspace((unsigned char)s[i]))
        i++;
    return s[i] == '=';
}

int rc_registry_open(const char *url, struct rc_registry **ret, char *err, size_t errlen)
{
    const struct rc_backend_ops *ops;
    struct rc_registry *r;
    char scheme[RC_SCHEME_MAX];
    int rv;

    if (url == NULL || url[0] == '\0') {
        rc_seterr(err, errlen, "registry URL is empty");
        return -EINVAL;
    }
    /* Never echo the URL itself: it may carry a password. */
    if (url_scheme(url, scheme) == 0) {
        if (looks_like_conninfo(url))
            rc_seterr(err, errlen,
                      "registry is a libpq key=value conninfo, not a URL; write it as "
                      "postgres://USER@HOST:PORT/DBNAME?sslmode=... (password from PGPASSWORD "
                      "or ~/.pgpass)");
        else
            rc_seterr(
                err, errlen,
                "registry is not a URL (expected SCHEME://..., e.g. file:///var/lib/rollcall)");
        return -EINVAL;
    }
    ops = rc_registry_load(url, err, errlen);
    if (ops == NULL)
        return -EPROTONOSUPPORT;

    r = calloc(1, sizeof(*r));
    if (r == NULL) {
        rc_seterr(err, errlen, "out of memory");
        return -ENOMEM;
    }
    r->ops = ops;
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    rv = ops->open(url, &r->ctx, err, errlen);
    if (rv < 0) {
        if (err != NULL && errlen > 0 && err[0] == '\0')
            rc_seterr(err, errlen, "%s registry: %s", ops->scheme, strerror(-rv));
        free(r);
        return rv;
    }
    *ret = r;
    return 0;
}

void rc_registry_close(struct rc_registry *r)
{
    if (r == NULL)
        return;
    if (r->ops != NULL && r->ops->close != NULL)
        r->ops->close(r->ctx);
    free(r);
}

/* ---- list helpers ---- */

void rc_reg_list_free(struct rc_reg_list *l)
{
    if (l == NULL)
        return;
    free(l->entries);
    free(l->rejects);
    memset(l, 0, sizeof(*l));
}

/*
 * The capacity of an array holding n elements, built only by grow(): 16, then
 * doubling, at most RC_REGISTRY_MAX_ENTRIES. Derived from n, so the list
 * struct needs no capacity field.
 */
static size_t capacity(size_t n)
{
    size_t c = 16;

    if (n == 0)
        return 0;
    while (c < n)
        c *= 2;
    return c < RC_REGISTRY_MAX_ENTRIES ? c : RC_REGISTRY_MAX_ENTRIES;
}

/* Makes room for one more element in *arr, which holds n. */
static int grow(void **arr, size_t n, size_t elem)
{
    size_t cap;
    void *p;

    if (n >= RC_REGISTRY_MAX_ENTRIES)
        return -E2BIG;
    if (n < capacity(n))
        return 0;
    cap = n == 0 ? 16 : n * 2;
    if (cap > RC_REGISTRY_MAX_ENTRIES)
        cap = RC_REGISTRY_MAX_ENTRIES;
    p = realloc(*arr, cap * elem);
    if (p == NULL)
        return -ENOMEM;
    *arr = p;
    return 0;
}

int rc_reg_list_add(struct rc_reg_list *l, const struct rc_entry *e)
{
    int rv = grow((void **)&l->entries, l->n, sizeof(*l->entries));

    if (rv < 0)
        return rv;
    l->entries[l->n++] = *e;
    return 0;
}

/* Length of the valid UTF-8 sequence at s (at most len bytes), 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t len, uint32_t *ret_cp)
{
    uint32_t cp;
    size_t n;

    if (s[0] < 0x80) {
        *ret_cp = s[0];
        return 1;
    } else if (s[0] >= 0xC2 && s[0] <= 0xDF) {
        n = 2, cp = s[0] & 0x1F;
    } else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        n = 3, cp = s[0] & 0x0F;
    } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        n = 4, cp = s[0] & 0x07;
    } else {
        return 0;
    }
    if (len < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    *ret_cp = cp;
    return n;
}

/*
 * Copies len raw bytes into out (cap >= 4) escaped for a log line: printable
 * ASCII and valid UTF-8 stay, '\\' and control characters (C0, DEL, C1)
 * become \\, \n, \r, \t, \xNN or \u00NN, every byte of invalid UTF-8 becomes
 * \xNN. Cut at an escape boundary, ending in "..." when it does not fit.
 */
static void escape_bytes(const char *in, size_t len, char *out, size_t cap)
{
    const unsigned char *s = (const unsigned char *)in;
    size_t o = 0;

    for (size_t i = 0; i < len;) {
        char tmp[8];
        size_t tn;
        uint32_t cp;
        size_t n = utf8_seq(s + i, len - i, &cp);

        if (n == 0) {
            tn = (size_t)snprintf(tmp, sizeof(tmp), "\\x%02X", s[i]);
            n = 1;
        } else if (cp == '\\') {
            tn = 2, memcpy(tmp, "\\\\", 2);
        } else if (cp == '\n') {
            tn = 2, memcpy(tmp, "\\n", 2);
        } else if (cp == '\r') {
            tn = 2, memcpy(tmp, "\\r", 2);
        } else if (cp == '\t') {
            tn = 2, memcpy(tmp, "\\t", 2);
        } else if (cp < 0x20 || cp == 0x7F) {
            tn = (size_t)snprintf(tmp, sizeof(tmp), "\\x%02X", (unsigned)cp);
        } else if (cp >= 0x80 && cp <= 0x9F) {
            tn = (size_t)snprintf(tmp, sizeof(tmp), "\\u%04X", (unsigned)cp);
        } else {
            tn = n;
            memcpy(tmp, s + i, n);
        }
        /* keep room for "..." unless this is the last piece */
        if (o + tn + (i + n < len ? 3 : 0) >= cap) {
            if (o + 3 >= cap)
                o = cap > 4 ? cap - 4 : 0;
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        memcpy(out + o, tmp, tn);
        o += tn;
        i += n;
    }
    out[o] = '\0';
}

int rc_reg_list_reject(struct rc_reg_list *l, const char *what, size_t whatlen, const char *reason)
{
    struct rc_reject *r;
    int rv = grow((void **)&l->rejects, l->nrejects, sizeof(*l->rejects));

    if (rv == -E2BIG)
        return 0;
    if (rv < 0)
        return rv;
    r = &l->rejects[l->nrejects++];
    escape_bytes(what != NULL ? what : "", what != NULL ? whatlen : 0, r->what, sizeof(r->what));
    escape_bytes(reason != NULL ? reason : "", reason != NULL ? strlen(reason) : 0, r->reason,
                 sizeof(r->reason));
    return 0;
}

/* ---- URL masking ---- */

/* Query / conninfo keys whose values are secrets (substring, case-insensitive). */
static const char *const secret_key_words[] = {
    "password", "passwd", "secret", "token", "sig", "access_key", "accesskey", "credential", "auth",
};

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
    out[o] = '\0';
    return (ssize_t)o;
}

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

void rc_registry_mask_url(const char *url, char *out, size_t outlen)
{
    struct outbuf o = {out, outlen, 0};
    char scheme[RC_SCHEME_MAX];
    const char *p, *auth, *end, *at = NULL;

    if (out == NULL || outlen == 0)
        return;
    out[0] = '\0';
    if (url == NULL)
        return;
    if (url_scheme(url, scheme) == 0) {
        if (looks_like_conninfo(url))
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

/* ---- time ---- */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    int64_t era;
    unsigned yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned)(y - era * 400);
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* Year 0000..9999 in milliseconds; what the text format can hold. */
#define RC_TIME_MIN_MS (-62167219200000LL) /* 0000-01-01T00:00:00.000Z */
#define RC_TIME_MAX_MS 253402300799999LL   /* 9999-12-31T23:59:59.999Z */

void rc_time_format_iso(int64_t unix_ms, char out[32])
{
    int64_t days, ms_of_day, y, era;
    unsigned doe, yoe, doy, mp, d, m;

    if (unix_ms < RC_TIME_MIN_MS)
        unix_ms = RC_TIME_MIN_MS;
    if (unix_ms > RC_TIME_MAX_MS)
        unix_ms = RC_TIME_MAX_MS;
    days = unix_ms / 86400000;
    ms_of_day = unix_ms % 86400000;
    if (ms_of_day < 0) {
        ms_of_day += 86400000;
        days--;
    }
    /* civil_from_days */
    days += 719468;
    era = (days >= 0 ? days : days - 146096) / 146097;
    doe = (unsigned)(days - era * 146097);
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    y = (int64_t)yoe + era * 400;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    d = doy - (153 * mp + 2) / 5 + 1;
    m = mp < 10 ? mp + 3 : mp - 9;
    y += m <= 2;
    /* The "% 10000" / "% 100" change nothing (the clamp above bounds every
     * field); they let the compiler see that 32 bytes always suffice. */
    snprintf(out, 32, "%04u-%02u-%02uT%02u:%02u:%02u.%03uZ", (unsigned)y % 10000, m % 100, d % 100,
             (unsigned)(ms_of_day / 3600000) % 100, (unsigned)(ms_of_day / 60000 % 60),
             (unsigned)(ms_of_day / 1000 % 60), (unsigned)(ms_of_day % 1000));
}

/* Reads exactly n digits at s[*i]. */
static bool digits(const char *s, size_t len, size_t *i, unsigned n, unsigned *ret)
{
    unsigned v = 0;

    if (len - *i < n)
        return false;
    for (unsigned k = 0; k < n; k++) {
        char c = s[*i + k];

        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (unsigned)(c - '0');
    }
    *i += n;
    *ret = v;
    return true;
}

static bool lit(const char *s, size_t len, size_t *i, const char *any_of)
{
    if (*i >= len || s[*i] == '\0' || strchr(any_of, s[*i]) == NULL)
        return false;
    (*i)++;
    return true;
}

int rc_time_parse_iso(const char *s, size_t len, int64_t *ret_unix_ms)
{
    static const unsigned char mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    unsigned y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0, ms = 0, dim;
    size_t i = 0;

    if (s == NULL)
        return -EINVAL;
    /* "T" per ISO 8601; "t" and " " as RFC 3339 allows (Elixir's
     * DateTime.to_string writes a space). */
    if (!digits(s, len, &i, 4, &y) || !lit(s, len, &i, "-") || !digits(s, len, &i, 2, &mo) ||
        !lit(s, len, &i, "-") || !digits(s, len, &i, 2, &d) || !lit(s, len, &i, "Tt ") ||
        !digits(s, len, &i, 2, &h) || !lit(s, len, &i, ":") || !digits(s, len, &i, 2, &mi) ||
        !lit(s, len, &i, ":") || !digits(s, len, &i, 2, &sec))
        return -EINVAL;
    if (i < len && s[i] == '.') {
        unsigned nd = 0;

        for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++, nd++)
            if (nd < 3)
                ms = ms * 10 + (unsigned)(s[i] - '0');
        if (nd == 0 || nd > 9)
            return -EINVAL;
        for (; nd < 3; nd++)
            ms *= 10;
    }
    if (i < len && (s[i] == 'Z' || s[i] == 'z'))
        i++;
    else if (len - i == 6 && memcmp(s + i, "+00:00", 6) == 0)
        i += 6;
    else
        return -EINVAL;
    if (i != len)
        return -EINVAL;

    if (mo < 1 || mo > 12 || h > 23 || mi > 59 || sec > 60)
        return -EINVAL;
    dim = mdays[mo - 1];
    if (mo == 2 && (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
        dim = 29;
    if (d < 1 || d > dim)
        return -EINVAL;
    /* a leap second :60 counts as the next second's start, as timegm does;
     * past the last formattable instant (a :60 on 9999-12-31) is refused so
     * that every accepted time formats back to itself */
    int64_t t = ((days_from_civil(y, mo, d) * 24 + h) * 60 + mi) * 60000LL + sec * 1000LL + ms;
    if (t > RC_TIME_MAX_MS)
        return -EINVAL;
    *ret_unix_ms = t;
    return 0;
}

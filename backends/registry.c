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
#include "rollcall/url.h"

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
    char scheme[RC_URL_SCHEME_MAX], supported[128];
    const char *want;
    const struct rc_backend_ops *ops = NULL;

    if (rc_url_scheme(url, scheme) == 0) {
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
    char scheme[RC_URL_SCHEME_MAX];

    if (rc_url_scheme(url, scheme) == 0)
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

int rc_registry_open(const char *url, struct rc_registry **ret, char *err, size_t errlen)
{
    const struct rc_backend_ops *ops;
    struct rc_registry *r;
    char scheme[RC_URL_SCHEME_MAX];
    int rv;

    if (url == NULL || url[0] == '\0') {
        rc_seterr(err, errlen, "registry URL is empty");
        return -EINVAL;
    }
    /* Never echo the URL itself: it may carry a password. */
    if (rc_url_scheme(url, scheme) == 0) {
        if (rc_url_is_conninfo(url))
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

void rc_registry_mask_url(const char *url, char *out, size_t outlen)
{
    rc_url_mask(url, out, outlen);
}

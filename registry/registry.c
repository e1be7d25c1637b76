/*
 * registry.c - the registry facade (registry.h): the backend table and
 * lookup by URL scheme, the open handle, and publish / list / remove with
 * the checks, the cap, the timing and the debug line that every backend
 * would otherwise repeat.
 *
 * The backends are one array of slots, one line per scheme. The file
 * backend is built in; Redis, PostgreSQL and S3 are modules loaded on first
 * use (modules.c), so that an agent on the file backend maps none of libpq,
 * libcurl, hiredis or their TLS and Kerberos libraries (docs/registry.md,
 * "Modules").
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rollcall/clock.h"
#include "rollcall/err.h"
#include "rollcall/log.h"
#include "rollcall/registry.h"
#include "rollcall/url.h"
#include "modules.h"

/* Every backend, looked up by scheme. One line per backend. */
static struct rc_backend_slot {
    const char *scheme;
    const struct rc_backend_ops *linked; /* in the program, or NULL */
    const struct rc_backend_ops *loaded; /* from the module; under rc_modules_lock */
} rc_backends[] = {
    {"file", &rc_backend_fs, NULL}, /* backends/fs.c */
    {"redis", NULL, NULL},          /* rollcall-redis.so */
    {"postgres", NULL, NULL},       /* rollcall-postgres.so ("postgresql" alias) */
    {"s3", NULL, NULL},             /* rollcall-s3.so */
};
#define RC_NBACKENDS (sizeof(rc_backends) / sizeof(rc_backends[0]))

static pthread_mutex_t rc_modules_lock = PTHREAD_MUTEX_INITIALIZER;

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

/* "file://, redis://, ..." for error messages. */
static void supported_schemes(char *out, size_t outlen)
{
    size_t used = 0;

    out[0] = '\0';
    for (size_t i = 0; i < RC_NBACKENDS && used < outlen; i++) {
        int n = snprintf(out + used, outlen - used, "%s%s://", i != 0 ? ", " : "",
                         rc_backends[i].scheme);
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
            b->loaded = rc_module_load(b->scheme, err, errlen);
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

int rc_registry_open_ops(const struct rc_backend_ops *ops, const char *url,
                         struct rc_registry **ret, char *err, size_t errlen)
{
    struct rc_registry *r;
    int rv;

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

int rc_registry_open(const char *url, struct rc_registry **ret, char *err, size_t errlen)
{
    const struct rc_backend_ops *ops;
    char scheme[RC_URL_SCHEME_MAX];

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
    return rc_registry_open_ops(ops, url, ret, err, errlen);
}

void rc_registry_close(struct rc_registry *r)
{
    if (r == NULL)
        return;
    if (r->ops != NULL && r->ops->close != NULL)
        r->ops->close(r->ctx);
    free(r);
}

/* A name the facade lets through: NUL-terminated within its array, valid. */
static bool name_ok(const char *name, size_t size)
{
    return name != NULL && memchr(name, '\0', size) != NULL && rc_node_name_valid(name);
}

int rc_registry_publish(struct rc_registry *r, const struct rc_entry *self, char *err,
                        size_t errlen)
{
    uint64_t t0;
    int rv;

    if (self == NULL || !name_ok(self->name, sizeof(self->name))) {
        rc_seterr(err, errlen, "cannot publish: not a valid node name");
        return -EINVAL;
    }
    if (memchr(self->host, '\0', sizeof(self->host)) == NULL ||
        !rc_host_valid(self->host, strlen(self->host))) {
        rc_seterr(err, errlen, "cannot publish: not a valid host");
        return -EINVAL;
    }
    t0 = rc_now_mono_us();
    rv = r->ops->publish(r->ctx, self, err, errlen);
    r->last.publish_us = rc_now_mono_us() - t0;
    return rv;
}

/* The debug line of a round: the publish before this list, if any, and it. */
static void log_round(struct rc_registry *r, const struct rc_reg_list *l)
{
    struct rc_log_field f[4];
    size_t n = 0;

    if (!rc_log_enabled(RC_LOG_DEBUG))
        return;
    if (r->last.publish_us != 0)
        f[n++] = RC_LF_D("publish_ms", (double)r->last.publish_us / 1000.0);
    f[n++] = RC_LF_D("list_ms", (double)r->last.list_us / 1000.0);
    f[n++] = RC_LF_I("entries", (int64_t)l->n);
    f[n++] = RC_LF_I("rejects", (int64_t)l->nrejects);
    rc_log_event(RC_LOG_DEBUG, "registry_round", f, n);
}

int rc_registry_list(struct rc_registry *r, struct rc_reg_list *ret_list, char *err, size_t errlen)
{
    struct rc_reg_list l = {0};
    uint64_t t0 = rc_now_mono_us();
    int rv = r->ops->list(r->ctx, &l, err, errlen);

    r->last.list_us = rc_now_mono_us() - t0;
    if (rv < 0) {
        r->last.publish_us = 0;
        return rv;
    }
    if (l.overflow) {
        char why[96];

        snprintf(why, sizeof(why), "more than %d entries; the rest are ignored",
                 RC_REGISTRY_MAX_ENTRIES);
        rv = rc_reg_list_reject(&l, l.overflow_name, strlen(l.overflow_name), why);
        if (rv < 0) {
            rc_reg_list_free(&l);
            rc_seterr(err, errlen, "out of memory");
            return rv;
        }
    }
    log_round(r, &l);
    r->last.publish_us = 0;
    *ret_list = l;
    return 0;
}

int rc_registry_remove(struct rc_registry *r, const char *name, int64_t min_age_ms, char *err,
                       size_t errlen)
{
    if (name == NULL || !rc_node_name_valid(name)) {
        rc_seterr(err, errlen, "cannot remove: not a valid node name");
        return -EINVAL;
    }
    return r->ops->remove(r->ctx, name, min_age_ms, err, errlen);
}

int rc_registry_changed(struct rc_registry *r, uint64_t *version, char *err, size_t errlen)
{
    if (r->ops->changed == NULL)
        return -ENOTSUP;
    return r->ops->changed(r->ctx, version, err, errlen);
}

int rc_registry_get(struct rc_registry *r, const char *name, struct rc_entry *ret, char *err,
                    size_t errlen)
{
    int rv;

    if (name == NULL || !rc_node_name_valid(name)) {
        rc_seterr(err, errlen, "cannot read: not a valid node name");
        return -EINVAL;
    }
    if (r->ops->get == NULL)
        return -ENOTSUP;
    rv = r->ops->get(r->ctx, name, ret, err, errlen);
    if (rv == 0 && strcmp(ret->name, name) != 0) {
        rc_seterr(err, errlen, "the store answered for another name");
        return -EBADMSG;
    }
    return rv;
}

void rc_registry_mask_url(const char *url, char *out, size_t outlen)
{
    rc_url_mask(url, out, outlen);
}

/*
 * tls.c - the TLS front for distribution connections: the record-header
 * sniff (pure) and the loader of the OpenSSL module rollcall-tls.so.
 *
 * The module is looked for where the backend modules are (ROLLCALL_MODULE_DIR,
 * else next to the program, else the install directory), loaded once with
 * dlopen on the first context and never unloaded; its version stamp must be
 * this build's. Nothing here logs: errors go to the caller's err buffer.
 */
#include "rollcall/tls.h"

#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rollcall/err.h"
#include "rollcall/moddir.h"

#ifndef RC_MODULE_DIR_DEFAULT
#define RC_MODULE_DIR_DEFAULT "/usr/local/lib/rollcall"
#endif

struct rc_tls_ctx {
    const struct rc_tls_module *mod;
    void *impl;
};

static pthread_mutex_t tls_lock = PTHREAD_MUTEX_INITIALIZER;
static const struct rc_tls_module *tls_module; /* under tls_lock */

enum rc_tls_kind rc_tls_sniff(const uint8_t *p, size_t n)
{
    if (n == 0 || p == NULL)
        return RC_TLS_MORE;
    if (p[0] < 20 || p[0] > 23)
        return RC_TLS_PLAIN;
    if (n < 2)
        return RC_TLS_MORE;
    if (p[1] != 3)
        return RC_TLS_PLAIN;
    if (n < 3)
        return RC_TLS_MORE;
    if (p[2] > 4)
        return RC_TLS_PLAIN;
    if (p[0] == 22)
        return RC_TLS_HANDSHAKE;
    if (p[0] == 21)
        return RC_TLS_ALERT;
    return RC_TLS_OTHER_RECORD;
}

bool rc_tls_kind_is_tls(enum rc_tls_kind k)
{
    return k == RC_TLS_HANDSHAKE || k == RC_TLS_ALERT || k == RC_TLS_OTHER_RECORD;
}

/* Called with tls_lock held. */
static const struct rc_tls_module *load_module(char *err, size_t errlen)
{
    char dirs[RC_MODULE_DIRS_MAX][PATH_MAX], path[PATH_MAX + 32];
    const struct rc_tls_module *mod;
    size_t ndirs, i;
    void *h;
    int n;

    ndirs = rc_module_dirs(RC_MODULE_DIR_DEFAULT, dirs);
    for (i = 0; i < ndirs; i++) {
        n = snprintf(path, sizeof(path), "%s/rollcall-tls.so", dirs[i]);
        if (n < 0 || (size_t)n >= sizeof(path) || access(path, F_OK) != 0)
            continue;
        h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        if (h == NULL) {
            const char *why = dlerror();

            rc_seterr(err, errlen, "tls: cannot load %s: %s", path, why ? why : "unknown error");
            return NULL;
        }
        mod = dlsym(h, "rc_tls_module_v1");
        if (mod == NULL || mod->version == NULL || strcmp(mod->version, ROLLCALL_VERSION) != 0) {
            rc_seterr(err, errlen,
                      "tls: %s is not the TLS module of rollcall %s; install the modules that "
                      "came with this binary",
                      path, ROLLCALL_VERSION);
            dlclose(h);
            return NULL;
        }
        return mod;
    }
    rc_seterr(err, errlen,
              "tls: module rollcall-tls.so not found (looked in %s%s%s; ROLLCALL_MODULE_DIR "
              "overrides)",
              dirs[0], ndirs > 1 ? ", " : "", ndirs > 1 ? dirs[1] : "");
    return NULL;
}

struct rc_tls_ctx *rc_tls_ctx_new(const struct rc_tls_opts *o, char *err, size_t errlen)
{
    const struct rc_tls_module *mod;
    struct rc_tls_ctx *ctx;

    if (o == NULL || o->cert == NULL || o->key == NULL || o->ca == NULL) {
        rc_seterr(err, errlen, "tls: tls_cert, tls_key and tls_ca are all required");
        return NULL;
    }
    pthread_mutex_lock(&tls_lock);
    if (tls_module == NULL)
        tls_module = load_module(err, errlen);
    mod = tls_module;
    pthread_mutex_unlock(&tls_lock);
    if (mod == NULL)
        return NULL;
    ctx = calloc(1, sizeof(*ctx));
    if (ctx == NULL) {
        rc_seterr(err, errlen, "tls: out of memory");
        return NULL;
    }
    ctx->mod = mod;
    ctx->impl = mod->ctx_new(o, err, errlen);
    if (ctx->impl == NULL) {
        free(ctx);
        return NULL;
    }
    return ctx;
}

void rc_tls_ctx_free(struct rc_tls_ctx *ctx)
{
    if (ctx == NULL)
        return;
    ctx->mod->ctx_free(ctx->impl);
    free(ctx);
}

struct bufferevent *rc_tls_bev_new(struct rc_tls_ctx *ctx, struct event_base *base,
                                   evutil_socket_t fd, bool server)
{
    return ctx->mod->bev_new(ctx->impl, base, fd, server);
}

void rc_tls_bev_why(struct rc_tls_ctx *ctx, struct bufferevent *bev, char *out, size_t outlen)
{
    if (outlen == 0)
        return;
    out[0] = '\0';
    if (ctx != NULL && bev != NULL)
        ctx->mod->bev_why(bev, out, outlen);
}

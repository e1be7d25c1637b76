/*
 * modules.c - loading a backend module (modules.h, backend.h).
 *
 * A module is rollcall-<scheme>.so exporting one function,
 * RC_BACKEND_ENTRY_SYMBOL. It is opened RTLD_NOW | RTLD_LOCAL: it links the
 * base layer and the store library itself and needs nothing from the
 * program (which exports nothing), so its names stay out of everyone's way.
 */
#include <dlfcn.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rollcall/err.h"
#include "rollcall/moddir.h"
#include "modules.h"

#ifndef RC_MODULE_DIR_DEFAULT
#define RC_MODULE_DIR_DEFAULT "/usr/local/lib/rollcall"
#endif

/* Appends ", dir" (or "dir") to the list of places searched, for errors. */
static void note_dir(char *tried, size_t triedlen, const char *dir)
{
    size_t used = strlen(tried);

    if (used < triedlen)
        snprintf(tried + used, triedlen - used, "%s%s", used != 0 ? ", " : "", dir);
}

/* Checks the module at path (already opened as h); its ops, or NULL. */
static const struct rc_backend_ops *check_module(void *h, const char *path, const char *scheme,
                                                 char *err, size_t errlen)
{
    rc_backend_entry_fn entry;
    const struct rc_backend_module *m;

    *(void **)&entry = dlsym(h, RC_BACKEND_ENTRY_SYMBOL);
    m = entry != NULL ? entry() : NULL;
    if (m == NULL) {
        rc_seterr(err, errlen, "%s:// registry: %s is not a rollcall %s backend module (no %s)",
                  scheme, path, scheme, RC_BACKEND_ENTRY_SYMBOL);
        return NULL;
    }
    if (m->abi_version != RC_BACKEND_ABI_VERSION) {
        rc_seterr(err, errlen,
                  "%s:// registry: %s has backend ABI version %u, this rollcall %s has ABI "
                  "version %u; install the modules that came with this binary",
                  scheme, path, (unsigned)m->abi_version, ROLLCALL_VERSION,
                  (unsigned)RC_BACKEND_ABI_VERSION);
        return NULL;
    }
    if (m->ops == NULL || m->scheme == NULL || strcmp(m->scheme, scheme) != 0 ||
        m->ops->scheme == NULL || strcmp(m->ops->scheme, scheme) != 0) {
        rc_seterr(err, errlen, "%s:// registry: %s is not a rollcall %s backend module", scheme,
                  path, scheme);
        return NULL;
    }
    return m->ops;
}

const struct rc_backend_ops *rc_module_load(const char *scheme, char *err, size_t errlen)
{
    char dirs[RC_MODULE_DIRS_MAX][PATH_MAX], tried[3 * 64 + 3 * PATH_MAX] = "";
    char path[PATH_MAX + 64];
    size_t ndirs;

    ndirs = rc_module_dirs(RC_MODULE_DIR_DEFAULT, dirs);
    for (size_t i = 0; i < ndirs; i++) {
        const struct rc_backend_ops *ops;
        void *h;
        int n = snprintf(path, sizeof(path), "%s/rollcall-%s.so", dirs[i], scheme);

        note_dir(tried, sizeof(tried), dirs[i]);
        if (n < 0 || (size_t)n >= sizeof(path) || access(path, F_OK) != 0)
            continue;
        h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        if (h == NULL) {
            const char *why = dlerror();

            rc_seterr(err, errlen, "%s:// registry: cannot load %s: %s", scheme, path,
                      why != NULL ? why : "unknown error");
            return NULL;
        }
        ops = check_module(h, path, scheme, err, errlen);
        if (ops == NULL)
            dlclose(h);
        return ops;
    }
    rc_seterr(err, errlen,
              "%s:// registry: backend module rollcall-%s.so not found (looked in %s; "
              "ROLLCALL_MODULE_DIR overrides)",
              scheme, scheme, tried);
    return NULL;
}

/*
 * registry.h - the registry facade (registry/registry.c): the one way the
 * program talks to a registry, whatever the backend.
 *
 * rc_registry_open finds the backend for the URL's scheme (the file backend
 * is built in; Redis, PostgreSQL and S3 are modules loaded on first use,
 * registry/modules.c, docs/registry.md "Modules") and opens it. publish,
 * list and remove check what goes in (node names, hosts), cap and report
 * what comes out (RC_REGISTRY_MAX_ENTRIES), time the call and write the
 * debug line, once here for every backend; the backend does only store I/O
 * (backend.h). 0 or a negative errno, with a human reason in err that never
 * repeats the URL (it may hold a password). A handle serves one thread at a
 * time.
 */
#ifndef ROLLCALL_REGISTRY_H
#define ROLLCALL_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rollcall/backend.h" /* struct rc_backend_ops, the store.h structs */
#include "rollcall/url.h"     /* transitional: rc_url_decode, rc_hexval for the backends */

/* The built-in file backend (backends/fs.c). */
extern const struct rc_backend_ops rc_backend_fs;

/* The backend for url's scheme, loading its module if need be; NULL when
 * the scheme is unknown or its module cannot be loaded. */
const struct rc_backend_ops *rc_registry_find(const char *url);
/* The same, with why not in err (no secrets: the URL is never echoed). */
const struct rc_backend_ops *rc_registry_load(const char *url, char *err, size_t errlen);
/* True when url's scheme names a backend of rollcall's, loaded or not. */
bool rc_registry_known(const char *url);

/* Timings of the handle's last calls (monotonic, microseconds). */
struct rc_registry_timing {
    uint64_t publish_us; /* the last publish, 0 if none since the last list */
    uint64_t list_us;    /* the last list */
};

/* An open registry. Callers use the functions below, not the fields. */
struct rc_registry {
    const struct rc_backend_ops *ops;
    void *ctx;
    struct rc_registry_timing last;
};

/* Looks the backend up and opens it. -EPROTONOSUPPORT for an unknown scheme
 * or a module that cannot be loaded, -EINVAL for a value that is no URL. */
int rc_registry_open(const char *url, struct rc_registry **ret, char *err, size_t errlen);
/* Opens url with the given backend (tests: a fake backend, a linked-in one). */
int rc_registry_open_ops(const struct rc_backend_ops *ops, const char *url,
                         struct rc_registry **ret, char *err, size_t errlen);
void rc_registry_close(struct rc_registry *r); /* NULL is fine */

/* Writes or refreshes self. -EINVAL (nothing sent) for an invalid node name
 * or host. */
int rc_registry_publish(struct rc_registry *r, const struct rc_entry *self, char *err,
                        size_t errlen);

/* Lists every entry (at most RC_REGISTRY_MAX_ENTRIES; past that, one reject
 * says the rest are ignored) and the rejects. *ret_list is written only on
 * success; free it with rc_reg_list_free. At debug level logs one
 * `registry_round` line: publish_ms (the publish before it, if any),
 * list_ms, entries, rejects. */
int rc_registry_list(struct rc_registry *r, struct rc_reg_list *ret_list, char *err, size_t errlen);

/* Removes name; with min_age_ms > 0 only if still that old (backend.h).
 * 1 = removed by this call, 0 = none there or it stayed, negative errno;
 * -EINVAL (nothing sent) for an invalid node name. */
int rc_registry_remove(struct rc_registry *r, const char *name, int64_t min_age_ms, char *err,
                       size_t errlen);

/* The backend's change signal (backend.h, `changed`): 1 = list now, 0 = no
 * change since the last call, negative errno. -ENOTSUP when the backend has
 * none (the caller lists every interval). */
int rc_registry_changed(struct rc_registry *r, uint64_t *version, char *err, size_t errlen);

/* Reads one entry (backend.h, `get`): 0, -ENOENT, -EINVAL (nothing sent) for
 * an invalid node name, -ENOTSUP when the backend has no get (the caller
 * lists instead), another negative errno. */
int rc_registry_get(struct rc_registry *r, const char *name, struct rc_entry *ret, char *err,
                    size_t errlen);

/* Copies url into out with any password / secret query values replaced by
 * "***" (for logs and check-config): rc_url_mask (url.h). */
void rc_registry_mask_url(const char *url, char *out, size_t outlen);

#endif

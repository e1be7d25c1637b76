/*
 * registry.h - the registry: entries, the backend interface, lookup by URL
 * scheme (backends/registry.c), the shared entry text format
 * (backends/entry.c) and the backends (backends/fs.c, redis.c, postgres.c, s3.c).
 *
 * Registry contents are written by other machines: every parser here is
 * bounded and rejects rather than guesses. A backend never logs above debug;
 * it returns 0 or a negative errno and writes a human reason into err (never
 * a secret). A backend error is never an empty list.
 */
#ifndef ROLLCALL_REGISTRY_H
#define ROLLCALL_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "rollcall/isotime.h" /* rc_time_format_iso, rc_time_parse_iso */
#include "rollcall/names.h"   /* RC_NAME_MAX, RC_HOST_MAX, rc_node_name_valid */
#include "rollcall/url.h"     /* transitional: rc_url_decode, rc_hexval for the backends */

#define RC_ENTRY_TEXT_MAX (64 * 1024) /* larger stored entries are rejected */
#define RC_REGISTRY_MAX_ENTRIES 10000 /* list() stops (with a reject) beyond this */

struct rc_entry {
    char name[RC_NAME_MAX + 1]; /* full node name, validated */
    char host[RC_HOST_MAX + 1]; /* where to dial; "" = the host part of name */
    uint16_t port;              /* distribution port; 0 = ask EPMD */
    int64_t started_at_ms;      /* unix ms, 0 = unknown */
    int64_t updated_at_ms;      /* unix ms as the writer claims it, 0 = unknown */
    int64_t age_ms;             /* list(): ms since the last refresh, on the backend's clock */
};

/* Something list() found and could not use (garbage written by someone else).
 * `what` is already escaped for logging (no control bytes, no raw non-UTF-8). */
struct rc_reject {
    char what[160];
    char reason[96];
};

struct rc_reg_list {
    struct rc_entry *entries;
    size_t n;
    struct rc_reject *rejects;
    size_t nrejects;
};

/* ---- backend interface ---- */

struct rc_backend_ops {
    const char *scheme; /* "file", "redis", "postgres", "postgresql", "s3" */

    /* Parses url (secrets may come from the environment), connects lazily or
     * eagerly as the backend likes. On success *ret_ctx is set. On failure
     * *ret_ctx is untouched and err says why (without secrets). */
    int (*open)(const char *url, void **ret_ctx, char *err, size_t errlen);

    /* Writes or refreshes self, setting its refresh time to the backend's now. */
    int (*publish)(void *ctx, const struct rc_entry *self, char *err, size_t errlen);

    /* Lists every entry with age_ms on the backend's clock, plus rejects.
     * *ret_list is written only on success; free it with rc_reg_list_free. */
    int (*list)(void *ctx, struct rc_reg_list *ret_list, char *err, size_t errlen);

    /* Removes name. If min_age_ms > 0, removes it only if it is still at least
     * that old on the backend's clock (a node that refreshed meanwhile stays).
     * Removing a missing entry is success. */
    int (*remove)(void *ctx, const char *name, int64_t min_age_ms, char *err, size_t errlen);

    /* Frees ctx. NULL is fine. */
    void (*close)(void *ctx);
};

/*
 * Where the backends live. The file backend is part of the program. Redis,
 * PostgreSQL and S3 are modules, loaded on first use (docs/registry.md):
 * rollcall-<scheme>.so, which defines `rc_backend_<scheme>` and
 * `rc_backend_module_version` (== ROLLCALL_VERSION, checked on load). A
 * program that links a backend in (the tests, the valgrind build) uses that
 * copy and loads no module. Modules are searched for in $ROLLCALL_MODULE_DIR
 * alone when it is set, else next to the executable, then in
 * RC_MODULE_DIR_DEFAULT (the install's lib/rollcall).
 */
extern const struct rc_backend_ops rc_backend_fs;
extern const struct rc_backend_ops rc_backend_redis;
extern const struct rc_backend_ops rc_backend_postgres;
extern const struct rc_backend_ops rc_backend_s3;

/* The backend for url's scheme, loading its module if need be; NULL when
 * the scheme is unknown or its module cannot be loaded. */
const struct rc_backend_ops *rc_registry_find(const char *url);
/* The same, with why not in err (no secrets: the URL is never echoed). */
const struct rc_backend_ops *rc_registry_load(const char *url, char *err, size_t errlen);
/* True when url's scheme names a backend of rollcall's, loaded or not. */
bool rc_registry_known(const char *url);

/* An open registry: ops + ctx. */
struct rc_registry {
    const struct rc_backend_ops *ops;
    void *ctx;
};

/* Looks the backend up and opens it. -EPROTONOSUPPORT for an unknown scheme. */
int rc_registry_open(const char *url, struct rc_registry **ret, char *err, size_t errlen);
void rc_registry_close(struct rc_registry *r); /* NULL is fine */

void rc_reg_list_free(struct rc_reg_list *l); /* frees the arrays, zeroes l; NULL is fine */
/* Appends to a list under construction (backends use these).
 * rc_reg_list_add: -ENOMEM, or -E2BIG past RC_REGISTRY_MAX_ENTRIES.
 * rc_reg_list_reject: -ENOMEM; a reject past RC_REGISTRY_MAX_ENTRIES is
 * dropped (returns 0): past that many, one more says nothing new. */
int rc_reg_list_add(struct rc_reg_list *l, const struct rc_entry *e);
int rc_reg_list_reject(struct rc_reg_list *l, const char *what, size_t whatlen, const char *reason);

/* Copies url into out with any password / secret query values replaced by
 * "***" (for logs and check-config). */
void rc_registry_mask_url(const char *url, char *out, size_t outlen);

/* ---- the entry text format (entry.c), shared by the file and S3 backends ----
 *
 *   2026-11-20T22:54:17.123Z          first line: ISO-8601 UTC refresh time
 *   name=rollcall@10.0.0.5
 *   host=10.0.0.5
 *   port=0
 *   started_at=2026-11-20T22:50:01.000Z
 *
 * Unknown keys are ignored; every key is optional. A text that is only a
 * timestamp (as the classic Elixir setup writes) is valid.
 */

/* Writes the text for e (NUL-terminated). -EMSGSIZE if cap is too small. */
int rc_entry_format(const struct rc_entry *e, char *out, size_t cap, size_t *ret_len);

/* The same text without its first (refresh time) line: for stores that keep
 * the refresh time themselves (a Redis score, an S3 LastModified), so the
 * stored body stays byte-identical between refreshes. */
int rc_entry_format_body(const struct rc_entry *e, char *out, size_t cap, size_t *ret_len);

/* Parses text of len bytes (not NUL-terminated; len <= RC_ENTRY_TEXT_MAX).
 * name_hint is the name the store knows the entry by (file or object name);
 * a name= line must equal it. On success fills ret (age_ms = 0; a missing
 * first-line timestamp leaves updated_at_ms 0). -EPROTO with a reason in err
 * for anything else: bad name, bad port, control bytes, over-long lines. */
int rc_entry_parse(const char *text, size_t len, const char *name_hint, struct rc_entry *ret,
                   char *err, size_t errlen);

#endif

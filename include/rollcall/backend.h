/*
 * backend.h - the registry backend ABI: what a backend implements and how a
 * backend module (rollcall-<scheme>.so) presents itself to the loader
 * (registry/modules.c).
 *
 * A backend does store I/O only. The registry facade (registry.h) has
 * already checked what it passes in: a valid node name and host for
 * publish, a valid node name for remove; it caps and reports list overflow
 * (store.h, rc_reg_list_add), times every call and writes the debug line.
 * A backend never logs: it returns 0 or a negative errno and writes a human
 * reason into err (never a secret). A backend error is never an empty list.
 *
 * A module links the base layer (rollcall_base) and the store library
 * (rollcall_store) and nothing else of rollcall's; it exports exactly one
 * symbol, RC_BACKEND_ENTRY_SYMBOL (backends/module_stamp.c defines it).
 * The loader calls it and refuses the module unless abi_version equals its
 * own RC_BACKEND_ABI_VERSION, before it reads any other field.
 */
#ifndef ROLLCALL_BACKEND_H
#define ROLLCALL_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "rollcall/store.h"

/* Bump on any change to struct rc_backend_ops, struct rc_backend_module or
 * the store.h structs (rc_entry, rc_reject, rc_reg_list) and their rules. */
#define RC_BACKEND_ABI_VERSION 1

struct rc_backend_ops {
    const char *scheme; /* "file", "redis", "postgres", "s3" */

    /* Parses url (secrets may come from the environment), connects lazily or
     * eagerly as the backend likes. On success *ret_ctx is set. On failure
     * *ret_ctx is untouched and err says why (without secrets). */
    int (*open)(const char *url, void **ret_ctx, char *err, size_t errlen);

    /* Writes or refreshes self, setting its refresh time to the backend's
     * now. self->name and self->host are valid (names.h). */
    int (*publish)(void *ctx, const struct rc_entry *self, char *err, size_t errlen);

    /* Lists every entry with age_ms on the backend's clock, plus rejects.
     * *ret_list is written only on success; free it with rc_reg_list_free. */
    int (*list)(void *ctx, struct rc_reg_list *ret_list, char *err, size_t errlen);

    /* Removes name (a valid node name). If min_age_ms > 0, removes it only if
     * it is still at least that old on the backend's clock (a node that
     * refreshed meanwhile stays). Removing a missing entry is success. */
    int (*remove)(void *ctx, const char *name, int64_t min_age_ms, char *err, size_t errlen);

    /* Frees ctx. NULL is fine. */
    void (*close)(void *ctx);
};

/* What a module's entry point returns. abi_version comes first and stays
 * first in every future version. */
struct rc_backend_module {
    uint32_t abi_version; /* RC_BACKEND_ABI_VERSION the module was built with */
    const char *scheme;   /* == ops->scheme */
    const struct rc_backend_ops *ops;
};

#define RC_BACKEND_ENTRY_SYMBOL "rc_backend_entry"
typedef const struct rc_backend_module *(*rc_backend_entry_fn)(void);

#endif

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
#define RC_BACKEND_ABI_VERSION                                                                     \
    3 /* 3: remove says whether it removed; 2: changed and get (issue 15), struct rc_entry         \
         gained kind (issue 12) */

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
     * refreshed meanwhile stays). Returns 1 when this call removed the
     * entry, 0 when there was none (another agent removed it first) or it
     * stayed, a negative errno on error. The agent announces a prune only on
     * 1, so with min_age_ms > 0 a backend says 1 only for an entry it found
     * old enough and then deleted (on S3, whose DELETE cannot tell, two agents
     * pruning in the same moment may both say 1). With min_age_ms <= 0 a
     * backend that cannot tell says 1. */
    int (*remove)(void *ctx, const char *name, int64_t min_age_ms, char *err, size_t errlen);

    /* Frees ctx. NULL is fine. */
    void (*close)(void *ctx);

    /* Optional (NULL: the agent lists every interval). The backend's cheapest
     * honest change signal: 1 when the set of entries or an entry's content
     * (host, port, started_at, details; not a mere refresh) may have changed
     * since the caller last got 1 or 0, 0 when it surely has not, a negative
     * errno on error. *version is the caller's token, 0 at first: the
     * backend writes what it needs to compare next time (a counter, an mtime)
     * and may return 1 spuriously (a new connection that may have missed a
     * notification). publish and remove must make the signal fire when they
     * change membership and must not when they only refresh. Called once per
     * interval: it should cost no store request, or one small one. */
    int (*changed)(void *ctx, uint64_t *version, char *err, size_t errlen);

    /* Optional (NULL: the agent lists instead). Reads one entry, age_ms on the
     * backend's clock as in list(): 0, -ENOENT when there is none, -EBADMSG
     * when it is there but unusable, another negative errno on error. */
    int (*get)(void *ctx, const char *name, struct rc_entry *ret, char *err, size_t errlen);
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

/*
 * modules.h - the backend module loader (registry/modules.c), private to
 * the registry facade.
 */
#ifndef ROLLCALL_REGISTRY_MODULES_H
#define ROLLCALL_REGISTRY_MODULES_H

#include <stddef.h>

#include "rollcall/backend.h"

/* Loads rollcall-<scheme>.so from the first directory that has it
 * ($ROLLCALL_MODULE_DIR alone when set, else the executable's directory,
 * then RC_MODULE_DIR_DEFAULT) and checks its ABI version and scheme. NULL
 * with why in err (the file, and both versions on a mismatch). Not
 * thread-safe: the caller serializes. Modules are never unloaded. */
const struct rc_backend_ops *rc_module_load(const char *scheme, char *err, size_t errlen);

#endif

/*
 * moddir.h - where rollcall's loadable modules are looked for.
 *
 * Contract: the registry backends (rollcall-<scheme>.so) and the TLS module
 * (rollcall-tls.so) are searched in the same folders, in this order:
 * $ROLLCALL_MODULE_DIR alone when it is set and not empty; otherwise the
 * folder of the running executable (a build tree), then the install folder
 * the caller names. libc only, never logs (base layer).
 */
#ifndef ROLLCALL_MODDIR_H
#define ROLLCALL_MODDIR_H

#include <limits.h>
#include <stddef.h>

#define RC_MODULE_DIRS_MAX 2

/* Fills dirs with the folders to search, in order; returns how many (1 or
 * 2). install_dir is the last resort (RC_MODULE_DIR_DEFAULT). */
size_t rc_module_dirs(const char *install_dir, char dirs[RC_MODULE_DIRS_MAX][PATH_MAX]);

#endif

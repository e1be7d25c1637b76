/*
 * err.h - the human reason that goes with a negative errno (agent/err.c).
 *
 * Library-like code (codec, backends) does not log: it returns -errno and
 * writes why into a caller buffer `char *err, size_t errlen` (STYLE.md).
 */
#ifndef ROLLCALL_ERR_H
#define ROLLCALL_ERR_H

#include <stddef.h>

/* printf into err (truncating, always NUL-terminated). err NULL or errlen 0:
 * nothing is written. */
void rc_seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif

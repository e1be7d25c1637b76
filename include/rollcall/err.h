/*
 * err.h - the human reason that goes with a negative errno (base/err.c).
 *
 * Library-like code (base/, the registry, the backends, the erldist codecs)
 * does not log: it returns 0 or -errno and writes why into a caller buffer
 * `char *err, size_t errlen` (docs/conventions.md).
 */
#ifndef ROLLCALL_ERR_H
#define ROLLCALL_ERR_H

#include <stddef.h>

/* printf into err (truncating, always NUL-terminated). err NULL or errlen 0:
 * nothing is written. */
void rc_seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif

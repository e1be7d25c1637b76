/*
 * duration.h - the one duration syntax (base/duration.c), for the config
 * file, the command line, the environment and registry URL options alike.
 *
 * The rule: decimal digits, then a unit, one of ms, s, m, h (lower case, no
 * space, no sign, no fraction): "500ms", "2s", "1m", "1h". Bare digits are
 * milliseconds ("500" = 500ms; what rollcall has always read, kept so that
 * no existing setting changes meaning). Ranges are the caller's rule.
 */
#ifndef ROLLCALL_DURATION_H
#define ROLLCALL_DURATION_H

#include <stddef.h>
#include <stdint.h>

/* The one error message, for "invalid duration 'x' (" RC_DURATION_HINT ")". */
#define RC_DURATION_HINT "use a number and a unit: 500ms, 2s, 1m, 1h"

/* Parses s[0..len) (s need not be NUL-terminated). -EINVAL if it is not a
 * duration or does not fit in 64-bit milliseconds; *ret_ms is then untouched. */
int rc_duration_from_text(const char *s, size_t len, uint64_t *ret_ms);

/* Writes ms in the largest unit that divides it exactly: "2h", "90s",
 * "1500ms", "0ms". Parses back to ms. */
void rc_duration_to_text(uint64_t ms, char *out, size_t outlen);

#endif

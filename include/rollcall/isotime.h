/*
 * isotime.h - ISO-8601 / RFC 3339 UTC times with milliseconds
 * (base/isotime.c), the form registry entries and log lines carry:
 * "2026-11-20T22:54:17.123Z". Pure; years 0000..9999.
 */
#ifndef ROLLCALL_ISOTIME_H
#define ROLLCALL_ISOTIME_H

#include <stddef.h>
#include <stdint.h>

#define RC_ISOTIME_LEN 32 /* buffer for rc_time_format_iso (25 bytes used incl. NUL) */

/* "2026-11-20T22:54:17.123Z"; times outside 0000..9999 are clamped. */
void rc_time_format_iso(int64_t unix_ms, char out[RC_ISOTIME_LEN]);

/* Parses the same from s[0..len) (not NUL-terminated): also without the
 * fraction (1..9 digits), 't' or ' ' for 'T', 'z' or "+00:00" for 'Z', a
 * leap second :60. -EINVAL if not, and *ret_unix_ms is untouched. */
int rc_time_parse_iso(const char *s, size_t len, int64_t *ret_unix_ms);

#endif

/*
 * text.h - untrusted bytes as text (base/text.c): the one strict UTF-8
 * decoder and the one escaper that makes any bytes safe for a log line.
 *
 * The decoder is strict (no overlong forms, no surrogates, nothing past
 * U+10FFFF, as OTP checks atom text). The escaper is the policy of
 * docs/logs.md, "Escaping", and nobody else writes escapes: code that holds
 * untrusted bytes keeps them raw and lets the log line (or, where there is
 * no logger, rc_text_escape itself) escape them exactly once.
 */
#ifndef ROLLCALL_TEXT_H
#define ROLLCALL_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The length (1..4) of the valid UTF-8 sequence at s[0..len), its code point
 * in *ret_cp (may be NULL); 0 if len is 0 or s does not start one. */
size_t rc_utf8_decode(const unsigned char *s, size_t len, uint32_t *ret_cp);

/* Where the escaped text goes (docs/logs.md, "Escaping"):
 *   RC_TEXT_BARE    an elixir message, a terminal: '"' stays as it is
 *   RC_TEXT_QUOTED  inside a "..." logfmt value: '"' becomes \"
 *   RC_TEXT_JSON    inside a JSON string: controls \u00NN, an invalid byte
 *                   the text \\xNN, so the document stays valid UTF-8 JSON
 * In all modes: '\' becomes \\; \n \t \r; other C0 and DEL \xNN (JSON
 * \u00NN); a C1 control (U+0080..U+009F) \xc2\xNN (JSON \u00NN); a byte
 * that is not valid UTF-8 \xNN; valid UTF-8 passes unchanged. */
enum rc_text_mode { RC_TEXT_BARE, RC_TEXT_QUOTED, RC_TEXT_JSON };

/* The longest escape one input byte or character turns into. */
#define RC_TEXT_ESC_MAX 8

/* Escapes in[0..len) into out (cap bytes including the NUL; always
 * NUL-terminated when cap > 0). Writes whole escapes only: when the next one
 * does not fit it stops. Returns the length written; *ret_used (may be NULL)
 * is how many input bytes that covers (len when everything fit). */
size_t rc_text_escape(const char *in, size_t len, enum rc_text_mode mode, char *out, size_t cap,
                      size_t *ret_used);

/* The same, but a cut shows: when in does not fit, the output ends in "..."
 * (when cap >= 4; a smaller cap just cuts). For one-line messages without a logger (the
 * CLI's stderr, error strings). Returns the length written. */
size_t rc_text_escape_cut(const char *in, size_t len, enum rc_text_mode mode, char *out,
                          size_t cap);

/* true if s[0..len) is printable as it is in a logfmt value without
 * quotes: non-empty valid UTF-8 with no control, space, '"', '=' or '\'. */
bool rc_text_bare_ok(const char *s, size_t len);

#endif

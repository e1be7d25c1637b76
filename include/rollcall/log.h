/*
 * log.h - the daemon's one logger (agent/log.c).
 *
 * Three formats (docs/logs.md):
 *   elixir  "18:51:29.277 [info] message"               (local time, ms)
 *   text    logfmt: ts=2026-11-20T18:51:29.277Z level=info msg=... key=value ...
 *   json    {"ts":"2026-11-20T18:51:29.277Z","level":"info","msg":"...","key":value}
 * Whatever the format, no control byte and no invalid UTF-8 reaches the
 * output unescaped: the logger escapes (\n, \xNN; JSON \u00NN) every message
 * and value, so callers may pass names read from the network or registry.
 * The level is checked before anything is formatted; errno is preserved.
 * Thread-safe (the registry worker logs too): one write(2) per line.
 */
#ifndef ROLLCALL_LOG_H
#define ROLLCALL_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rollcall/clock.h" /* transitional: callers that want rc_now_* include clock.h */

enum rc_log_level { RC_LOG_ERROR = 0, RC_LOG_WARN, RC_LOG_INFO, RC_LOG_DEBUG };
enum rc_log_format { RC_LOG_FMT_ELIXIR = 0, RC_LOG_FMT_TEXT, RC_LOG_FMT_JSON };

/* Opens path for appending (NULL or "" = stderr). Replaces the current sink
 * only on success. */
int rc_log_open(const char *path, char *err, size_t errlen);
/* Reopens the current file (SIGHUP, after logrotate). No-op for stderr. */
int rc_log_reopen(char *err, size_t errlen);
void rc_log_close(void);
void rc_log_set_level(enum rc_log_level level);
void rc_log_set_format(enum rc_log_format fmt);
/* Prefixes each line with its sd-daemon(3) priority ("<6>"), for a stderr
 * that is the journal (rc_journal_is_stderr, notify.h). */
void rc_log_set_journal(bool on);
enum rc_log_format rc_log_get_format(void);
bool rc_log_enabled(enum rc_log_level level);

/* Parses "error|warn|warning|info|debug" / "elixir|text|json". -EINVAL if not. */
int rc_log_level_parse(const char *s, enum rc_log_level *ret);
int rc_log_format_parse(const char *s, enum rc_log_format *ret);
const char *rc_log_level_str(enum rc_log_level level);
const char *rc_log_format_str(enum rc_log_format fmt);

/* A printf-style message line. In text/json the message becomes msg=. */
void rc_log(enum rc_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define rc_log_error(...) rc_log(RC_LOG_ERROR, __VA_ARGS__)
#define rc_log_warn(...) rc_log(RC_LOG_WARN, __VA_ARGS__)
#define rc_log_info(...) rc_log(RC_LOG_INFO, __VA_ARGS__)
#define rc_log_debug(...) rc_log(RC_LOG_DEBUG, __VA_ARGS__)

/* Logs at error and exits 1. */
void rc_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* A structured event: msg plus typed fields.
 *   elixir: "HH:MM:SS.mmm [level] msg key=value key=value"
 *   text:   "ts=... level=... msg=msg key=value ..." (values quoted when needed)
 *   json:   {"ts":...,"level":...,"msg":msg,"key":value,...} (bool/int/double unquoted) */
enum rc_log_ftype { RC_LF_STR, RC_LF_INT, RC_LF_BOOL, RC_LF_DOUBLE };
struct rc_log_field {
    const char *key;
    enum rc_log_ftype type;
    union {
        const char *s;
        int64_t i;
        bool b;
        double d;
    } v;
};
#define RC_LF_S(k, val) ((struct rc_log_field){.key = (k), .type = RC_LF_STR, .v.s = (val)})
#define RC_LF_I(k, val) ((struct rc_log_field){.key = (k), .type = RC_LF_INT, .v.i = (val)})
#define RC_LF_B(k, val) ((struct rc_log_field){.key = (k), .type = RC_LF_BOOL, .v.b = (val)})
#define RC_LF_D(k, val) ((struct rc_log_field){.key = (k), .type = RC_LF_DOUBLE, .v.d = (val)})
void rc_log_event(enum rc_log_level level, const char *msg, const struct rc_log_field *fields,
                  size_t nfields);

/* Formats one line exactly as it would be written (without the trailing
 * newline) into out; for unit tests. now_ms is the unix time to print. */
size_t rc_log_render(char *out, size_t cap, enum rc_log_format fmt, enum rc_log_level level,
                     int64_t now_ms, const char *msg, const struct rc_log_field *fields,
                     size_t nfields);

/* Rate limiting: at most `burst` lines per `window_ms`; returns true if this
 * one may be logged. When a window that suppressed lines ends, the next
 * allowed call sets *ret_suppressed (may be NULL) to how many were dropped. */
struct rc_ratelimit {
    uint64_t window_start_ms;
    uint32_t count;
    uint32_t suppressed;
};
bool rc_ratelimit_allow(struct rc_ratelimit *rl, uint64_t now_ms, uint32_t burst,
                        uint64_t window_ms, uint32_t *ret_suppressed);

#endif

/*
 * log.c - the daemon's one logger: three formats, one escaping policy, one
 * write(2) per line.
 *
 * Every line is built on the caller's stack by rc_log_render (the same
 * function the unit tests call), then written whole under a mutex, so lines
 * from the registry worker and the network loop never interleave, not even
 * on a pipe where only PIPE_BUF-sized writes are atomic. The level and format
 * are atomics: the level check before any formatting costs one load.
 *
 * Escaping is done here (with the one escaper, base/text.c) and nowhere
 * else: callers pass raw bytes, because they log names that
 * came from the network or from a registry anyone can write to. A byte that
 * is not printable (C0, DEL, a C1 control encoded in UTF-8) or not part of
 * valid UTF-8 never reaches the output raw: elixir and text write \n, \t,
 * \r or \xNN; JSON writes \n, \t, \r, \u00NN for controls, and invalid bytes
 * as the six characters \\xNN so the document stays valid UTF-8 JSON while
 * the reader still sees which byte it was. Backslashes are always doubled so
 * an escape in the output can never be confused with the same text in the
 * input.
 *
 * A line has a hard size (RC_LOG_LINE_MAX). Content that does not fit ends in
 * "..." and the line is still well-formed: a JSON object stays closed and a
 * quoted logfmt value keeps its closing quote (the writers keep back a small
 * reserve for exactly that).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "rollcall/err.h"
#include "rollcall/fileio.h"
#include "rollcall/log.h"
#include "rollcall/text.h"
#include "rollcall/clock.h"
#include "rollcall/isotime.h"

#define RC_LOG_LINE_MAX                                                                            \
    (128 * 1024) /* one line, without the newline: the classic sweep line names every member */
#define RC_LOG_MSG_MAX (64 * 1024) /* a printf-formatted message before escaping */
#define RC_LOG_RESERVE 48          /* kept back for "...", closing quotes and braces */

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static int log_fd = STDERR_FILENO; /* guarded by log_lock */
static char log_path[PATH_MAX];    /* "" = stderr; guarded by log_lock */
static atomic_int log_level = RC_LOG_INFO;
static atomic_int log_format = RC_LOG_FMT_ELIXIR;
static atomic_bool log_journal = false;

static const char *const level_words[] = {"error", "warning", "info", "debug"};
static const char *const format_words[] = {"elixir", "text", "json"};

/* ---- names ---- */

int rc_log_level_parse(const char *s, enum rc_log_level *ret)
{
    if (s == NULL)
        return -EINVAL;
    if (strcasecmp(s, "warn") == 0) {
        *ret = RC_LOG_WARN;
        return 0;
    }
    for (size_t i = 0; i < sizeof(level_words) / sizeof(level_words[0]); i++) {
        if (strcasecmp(s, level_words[i]) == 0) {
            *ret = (enum rc_log_level)i;
            return 0;
        }
    }
    return -EINVAL;
}

int rc_log_format_parse(const char *s, enum rc_log_format *ret)
{
    if (s == NULL)
        return -EINVAL;
    for (size_t i = 0; i < sizeof(format_words) / sizeof(format_words[0]); i++) {
        if (strcasecmp(s, format_words[i]) == 0) {
            *ret = (enum rc_log_format)i;
            return 0;
        }
    }
    return -EINVAL;
}

const char *rc_log_level_str(enum rc_log_level level)
{
    if ((unsigned)level < sizeof(level_words) / sizeof(level_words[0]))
        return level_words[level];
    return "unknown";
}

const char *rc_log_format_str(enum rc_log_format fmt)
{
    if ((unsigned)fmt < sizeof(format_words) / sizeof(format_words[0]))
        return format_words[fmt];
    return "unknown";
}

void rc_log_set_level(enum rc_log_level level)
{
    atomic_store_explicit(&log_level, (int)level, memory_order_relaxed);
}

void rc_log_set_journal(bool on)
{
    atomic_store_explicit(&log_journal, on, memory_order_relaxed);
}

void rc_log_set_format(enum rc_log_format fmt)
{
    atomic_store_explicit(&log_format, (int)fmt, memory_order_relaxed);
}

enum rc_log_format rc_log_get_format(void)
{
    return (enum rc_log_format)atomic_load_explicit(&log_format, memory_order_relaxed);
}

bool rc_log_enabled(enum rc_log_level level)
{
    return (int)level <= atomic_load_explicit(&log_level, memory_order_relaxed);
}

/* ---- the sink ---- */

static int open_append(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0640);

    if (fd < 0) {
        int e = errno;

        rc_seterr(err, errlen, "cannot open log file %s: %s", path, strerror(e));
        return -e;
    }
    return fd;
}

/* Installs fd (and its path) as the sink; closes the previous file. */
static void sink_swap(int fd, const char *path)
{
    int old;

    pthread_mutex_lock(&log_lock);
    old = log_fd;
    log_fd = fd;
    snprintf(log_path, sizeof(log_path), "%s", path);
    pthread_mutex_unlock(&log_lock);
    if (old != STDERR_FILENO && old != fd)
        close(old);
}

int rc_log_open(const char *path, char *err, size_t errlen)
{
    int fd;

    if (path == NULL || path[0] == '\0') {
        sink_swap(STDERR_FILENO, "");
        return 0;
    }
    if (strlen(path) >= sizeof(log_path)) {
        rc_seterr(err, errlen, "log file name too long");
        return -ENAMETOOLONG;
    }
    fd = open_append(path, err, errlen);
    if (fd < 0)
        return fd;
    sink_swap(fd, path);
    atomic_store_explicit(&log_journal, false, memory_order_relaxed); /* a file has no <N> */
    return 0;
}

int rc_log_reopen(char *err, size_t errlen)
{
    char path[PATH_MAX];
    int fd;

    pthread_mutex_lock(&log_lock);
    memcpy(path, log_path, sizeof(path));
    pthread_mutex_unlock(&log_lock);
    if (path[0] == '\0')
        return 0;
    fd = open_append(path, err, errlen);
    if (fd < 0)
        return fd;
    sink_swap(fd, path);
    atomic_store_explicit(&log_journal, false, memory_order_relaxed); /* a file has no <N> */
    return 0;
}

void rc_log_close(void)
{
    sink_swap(STDERR_FILENO, "");
}

static void sink_write(const char *buf, size_t len)
{
    pthread_mutex_lock(&log_lock);
    (void)rc_write_full(log_fd, buf, len); /* nowhere left to complain to */
    pthread_mutex_unlock(&log_lock);
}

/* ---- the line buffer ---- */

struct ob {
    char *buf;
    size_t cap; /* bytes including the NUL */
    size_t len;
    size_t limit; /* content may grow to here; the rest is the closing reserve */
    bool full;    /* content was cut: everything after is dropped */
};

static void ob_init(struct ob *o, char *buf, size_t cap)
{
    o->buf = buf;
    o->cap = cap;
    o->len = 0;
    o->limit = cap > RC_LOG_RESERVE + 1 ? cap - 1 - RC_LOG_RESERVE : 0;
    o->full = false;
    if (cap > 0)
        buf[0] = '\0';
}

/* Content: all n bytes or none (and then the line is full). */
static bool ob_put(struct ob *o, const char *s, size_t n)
{
    if (o->full)
        return false;
    if (o->len + n > o->limit) {
        o->full = true;
        return false;
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    o->buf[o->len] = '\0';
    return true;
}

static bool ob_puts(struct ob *o, const char *s)
{
    return ob_put(o, s, strlen(s));
}

/* Closing syntax: may use the reserve; cut at the NUL only if cap is tiny. */
static void ob_tail(struct ob *o, const char *s)
{
    size_t n = strlen(s);

    if (o->cap == 0)
        return;
    if (o->len + n > o->cap - 1)
        n = o->cap - 1 - o->len;
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    o->buf[o->len] = '\0';
}

/* ---- escaping (base/text.c is the one escaper) ---- */

/* Appends s (n bytes) escaped for mode; returns false if the line filled up
 * (whole escapes only: the cut never splits one). */
static bool put_escaped(struct ob *o, const char *s, size_t n, enum rc_text_mode mode)
{
    size_t used;

    if (o->full)
        return false;
    o->len += rc_text_escape(s, n, mode, o->buf + o->len, o->limit - o->len + 1, &used);
    if (used < n) {
        o->full = true;
        return false;
    }
    return true;
}

/* A string value: JSON "..."; logfmt bare or "...". */
static void put_str_value(struct ob *o, const char *s, enum rc_log_format fmt)
{
    if (s == NULL)
        s = "";
    if (fmt != RC_LOG_FMT_JSON && rc_text_bare_ok(s, strlen(s))) {
        if (!put_escaped(o, s, strlen(s), RC_TEXT_BARE))
            ob_tail(o, "...");
        return;
    }
    if (!ob_put(o, "\"", 1)) {
        ob_tail(o, fmt == RC_LOG_FMT_JSON ? "null" : "\"\"");
        return;
    }
    if (!put_escaped(o, s, strlen(s), fmt == RC_LOG_FMT_JSON ? RC_TEXT_JSON : RC_TEXT_QUOTED))
        ob_tail(o, "...");
    ob_tail(o, "\"");
}

/* Field keys come from our own code, but a stray byte must not break the
 * line: anything outside [A-Za-z0-9_.-] becomes '_'. */
static void put_key(struct ob *o, const char *k)
{
    char buf[64];
    size_t n = 0;

    if (k == NULL || k[0] == '\0')
        k = "_";
    for (; k[n] != '\0' && n < sizeof(buf) - 1; n++) {
        char c = k[n];

        buf[n] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                         c == '_' || c == '.' || c == '-'
                     ? c
                     : '_';
    }
    ob_put(o, buf, n);
}

static void format_double(double d, bool json, char *out, size_t outlen)
{
    size_t n;

    if (isfinite(d) == 0) {
        snprintf(out, outlen, "%s", json ? "null" : isnan(d) != 0 ? "nan" : d > 0 ? "inf" : "-inf");
        return;
    }
    if (fabs(d) >= 1e15) {
        snprintf(out, outlen, "%.6e", d);
        return;
    }
    /* milliseconds with microsecond precision, trailing zeros dropped */
    snprintf(out, outlen, "%.3f", d);
    n = strlen(out);
    while (n > 0 && out[n - 1] == '0')
        out[--n] = '\0';
    if (n > 0 && out[n - 1] == '.')
        out[--n] = '\0';
    if (strcmp(out, "-0") == 0)
        snprintf(out, outlen, "0");
}

static void put_field_value(struct ob *o, const struct rc_log_field *f, enum rc_log_format fmt)
{
    char num[64];

    switch (f->type) {
    case RC_LF_STR:
        put_str_value(o, f->v.s, fmt);
        return;
    case RC_LF_INT:
        snprintf(num, sizeof(num), "%" PRId64, f->v.i);
        break;
    case RC_LF_BOOL:
        snprintf(num, sizeof(num), "%s", f->v.b ? "true" : "false");
        break;
    case RC_LF_DOUBLE:
        format_double(f->v.d, fmt == RC_LOG_FMT_JSON, num, sizeof(num));
        break;
    default:
        snprintf(num, sizeof(num), "%s", fmt == RC_LOG_FMT_JSON ? "null" : "?");
        break;
    }
    ob_puts(o, num);
}

/* After a cut: did the field started at mark get any value bytes? (A string
 * value always gets at least its quotes; a number either fits or not.) */
static bool field_has_value(const struct ob *o, size_t mark)
{
    const char *sep = memchr(o->buf + mark, o->buf[mark] == ',' ? ':' : '=', o->len - mark);

    return sep != NULL && (size_t)(sep - o->buf) + 1 < o->len;
}

/* "HH:MM:SS.mmm" in local time (what Elixir's Logger prints by default). */
static void local_hms(int64_t now_ms, char out[16])
{
    int64_t secs = now_ms / 1000, ms = now_ms % 1000;
    time_t t;
    struct tm tm;

    if (ms < 0) {
        ms += 1000;
        secs--;
    }
    t = (time_t)secs;
    if (localtime_r(&t, &tm) == NULL)
        memset(&tm, 0, sizeof(tm));
    snprintf(out, 16, "%02d:%02d:%02d.%03d", tm.tm_hour % 100, tm.tm_min % 100, tm.tm_sec % 100,
             (int)ms);
}

size_t rc_log_render(char *out, size_t cap, enum rc_log_format fmt, enum rc_log_level level,
                     int64_t now_ms, const char *msg, const struct rc_log_field *fields,
                     size_t nfields)
{
    struct ob o;
    char ts[32];

    ob_init(&o, out, cap);
    if (cap == 0)
        return 0;
    if (msg == NULL)
        msg = "";

    if (fmt == RC_LOG_FMT_JSON) {
        rc_time_format_iso(now_ms, ts);
        ob_puts(&o, "{\"ts\":\"");
        ob_puts(&o, ts);
        ob_puts(&o, "\",\"level\":\"");
        ob_puts(&o, rc_log_level_str(level));
        ob_puts(&o, "\",\"msg\":");
        put_str_value(&o, msg, fmt);
        for (size_t i = 0; i < nfields && !o.full; i++) {
            size_t mark = o.len;

            ob_puts(&o, ",\"");
            put_key(&o, fields[i].key);
            ob_puts(&o, "\":");
            if (!o.full)
                put_field_value(&o, &fields[i], fmt);
            if (o.full && !field_has_value(&o, mark)) { /* no half field */
                o.len = mark;
                out[o.len] = '\0';
            }
        }
        if (o.full)
            ob_tail(&o, ",\"truncated\":true");
        ob_tail(&o, "}");
        return o.len;
    }

    if (fmt == RC_LOG_FMT_TEXT) {
        rc_time_format_iso(now_ms, ts);
        ob_puts(&o, "ts=");
        ob_puts(&o, ts);
        ob_puts(&o, " level=");
        ob_puts(&o, rc_log_level_str(level));
        ob_puts(&o, " msg=");
        put_str_value(&o, msg, fmt);
    } else {
        local_hms(now_ms, ts);
        ob_puts(&o, ts);
        ob_puts(&o, " [");
        ob_puts(&o, rc_log_level_str(level));
        ob_puts(&o, "] ");
        if (!put_escaped(&o, msg, strlen(msg), RC_TEXT_BARE))
            ob_tail(&o, "...");
    }
    for (size_t i = 0; i < nfields && !o.full; i++) {
        size_t mark = o.len;

        ob_put(&o, " ", 1);
        put_key(&o, fields[i].key);
        ob_put(&o, "=", 1);
        if (!o.full)
            put_field_value(&o, &fields[i], fmt);
        if (o.full && !field_has_value(&o, mark)) { /* no half field */
            o.len = mark;
            out[o.len] = '\0';
            ob_tail(&o, " ...");
        }
    }
    return o.len;
}

/* ---- writing ---- */

static void emit(enum rc_log_level level, const char *msg, const struct rc_log_field *fields,
                 size_t nfields)
{
    char line[RC_LOG_LINE_MAX + 5];
    size_t n, p = 0;

    /* sd-daemon(3) priority prefix for the journal: <3> err ... <7> debug */
    if (atomic_load_explicit(&log_journal, memory_order_relaxed)) {
        line[0] = '<';
        line[1] = level == RC_LOG_ERROR  ? '3'
                  : level == RC_LOG_WARN ? '4'
                  : level == RC_LOG_INFO ? '6'
                                         : '7';
        line[2] = '>';
        p = 3;
    }
    n = p + rc_log_render(line + p, RC_LOG_LINE_MAX + 1, rc_log_get_format(), level,
                          rc_now_wall_ms(), msg, fields, nfields);
    line[n++] = '\n';
    sink_write(line, n);
}

static void vformat(char *msg, size_t cap, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static void vformat(char *msg, size_t cap, const char *fmt, va_list ap)
{
    int n = vsnprintf(msg, cap, fmt, ap);

    if (n < 0)
        snprintf(msg, cap, "(unprintable log message: %s)", fmt);
    else if ((size_t)n >= cap && cap > 4)
        memcpy(msg + cap - 4, "...", 4);
}

void rc_log(enum rc_log_level level, const char *fmt, ...)
{
    int saved = errno;
    char msg[RC_LOG_MSG_MAX];
    va_list ap;

    if (!rc_log_enabled(level))
        return;
    va_start(ap, fmt);
    vformat(msg, sizeof(msg), fmt, ap); /* errno untouched so far: %m works */
    va_end(ap);
    emit(level, msg, NULL, 0);
    errno = saved;
}

void rc_fatal(const char *fmt, ...)
{
    char msg[RC_LOG_MSG_MAX];
    va_list ap;

    va_start(ap, fmt);
    vformat(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    emit(RC_LOG_ERROR, msg, NULL, 0);
    exit(1);
}

void rc_log_event(enum rc_log_level level, const char *msg, const struct rc_log_field *fields,
                  size_t nfields)
{
    int saved = errno;

    if (!rc_log_enabled(level))
        return;
    emit(level, msg, fields, nfields);
    errno = saved;
}

/* ---- rate limiting ---- */

bool rc_ratelimit_allow(struct rc_ratelimit *rl, uint64_t now_ms, uint32_t burst,
                        uint64_t window_ms, uint32_t *ret_suppressed)
{
    uint32_t report = 0;

    if (rl->count == 0 && rl->suppressed == 0) {
        rl->window_start_ms = now_ms; /* first use, or a quiet window */
    } else if (now_ms < rl->window_start_ms || now_ms - rl->window_start_ms >= window_ms) {
        report = rl->suppressed;
        rl->window_start_ms = now_ms;
        rl->count = 0;
        rl->suppressed = 0;
    }
    if (rl->count >= burst) {
        if (rl->suppressed < UINT32_MAX)
            rl->suppressed++;
        if (ret_suppressed != NULL)
            *ret_suppressed = 0;
        return false;
    }
    rl->count++;
    if (ret_suppressed != NULL)
        *ret_suppressed = report;
    return true;
}

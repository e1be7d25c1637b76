/*
 * config_ini.c - the ini layer of the configuration: one file, every
 * malformed line reported with its FILE:LINE.
 *
 * The ini file goes through inih, fed by our own line reader
 * (ini_parse_stream): inih's handler gets no line number in the Debian
 * build, silently splits lines over its 200-byte buffer and reports only the
 * first of several errors. The reader counts lines, refuses over-long lines
 * and NUL bytes outright, strips indentation (so an indented key is a key,
 * never an inih continuation line that would silently glue itself to the
 * previous value), and knows which lines must reach the handler, so every
 * malformed line is reported, not just the first.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ini.h>

#include "config_int.h"

#define CONFIG_FILE_MAX (1024 * 1024) /* an ini larger than this is not a config file */

static const char *const sections[] = {"node", "registry", "agent", "log", "app", "ops"};

struct ini_state {
    struct rc_cfg_load *L;
    const char *file;
    const char *data;
    size_t len, pos;
    unsigned lineno;
    bool expect_handler; /* the current line is key=value: inih must call us */
    bool handler_called;
    bool section_ok; /* false after a bad section header: its keys are not checked */
    unsigned errors;
    unsigned set_on[RC_CFG_NKEYS]; /* line where this file set each key (duplicates) */
};

static void ini_error(struct ini_state *st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void ini_error(struct ini_state *st, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    rc_cfg_err_add(st->L->e, "%s:%u: %s", st->file, st->lineno, msg);
    st->errors++;
}

static bool section_known(const char *s, size_t n)
{
    for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++)
        if (strlen(sections[i]) == n && memcmp(sections[i], s, n) == 0)
            return true;
    return false;
}

/* A line as inih will see it (indentation already gone): what must happen. */
static void ini_classify(struct ini_state *st, const char *s, size_t n)
{
    char q[RC_CFG_ECHO_BUF], name[ECHO_MAX + 1];

    if (n == 0 || s[0] == ';' || s[0] == '#')
        return; /* blank or comment */
    if (s[0] != '[') {
        st->expect_handler = true;
        return;
    }
    /* inih: the section ends at ']', unless an inline comment (" ;") comes first */
    for (size_t i = 1; i < n; i++) {
        if (s[i] == ';' && isspace((unsigned char)s[i - 1]) != 0)
            break;
        if (s[i] == ']') {
            st->section_ok = section_known(s + 1, i - 1);
            if (!st->section_ok) {
                snprintf(name, sizeof(name), "%.*s", (int)(i - 1), s + 1);
                ini_error(st, "unknown section [%s] (node, registry, agent, log, app, ops)",
                          rc_cfg_escape(name, q, false));
            }
            return;
        }
    }
    st->section_ok = false;
    ini_error(st, "section header without ']'");
}

/* inih reads lines through here (fgets-like: at most num-1 bytes + NUL). */
static char *ini_read_line(char *str, int num, void *stream)
{
    struct ini_state *st = stream;
    const char *line, *nl;
    size_t raw;

    if (st->expect_handler && !st->handler_called)
        ini_error(st, "expected 'key = value'");
    st->expect_handler = false;
    st->handler_called = false;
    if (st->pos >= st->len || num < 2)
        return NULL;

    line = st->data + st->pos;
    nl = memchr(line, '\n', st->len - st->pos);
    raw = nl != NULL ? (size_t)(nl - line) : st->len - st->pos;
    st->pos += raw + (nl != NULL);
    st->lineno++;
    if (raw > 0 && line[raw - 1] == '\r')
        raw--;
    if (st->lineno == 1 && raw >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0) {
        line += 3;
        raw -= 3;
    }
    while (raw > 0 && isspace((unsigned char)*line) != 0) { /* as inih's lskip */
        line++;
        raw--;
    }

    str[0] = '\n';
    str[1] = '\0';
    if (memchr(line, '\0', raw) != NULL) {
        ini_error(st, "NUL byte in line");
        return str;
    }
    if (raw + 2 > (size_t)num) {
        ini_error(st, "line too long (at most %d bytes)", num - 2);
        return str;
    }
    memcpy(str, line, raw);
    str[raw] = '\n';
    str[raw + 1] = '\0';
    ini_classify(st, line, raw);
    return str;
}

static int ini_on_key(void *user, const char *section, const char *name, const char *value)
{
    struct ini_state *st = user;
    struct rc_cfg_load *L = st->L;
    const struct rc_key *k;
    char q[RC_CFG_ECHO_BUF], msg[512], unq[256]; /* inih lines are < 200 bytes */
    size_t ki, vlen;

    st->handler_called = true;
    if (!st->section_ok)
        return 1; /* the header was reported already */
    if (name[0] == '\0') {
        ini_error(st, "missing key name before '='");
        return 0;
    }
    k = rc_cfg_key_find(name, strlen(name), false);
    if (k == NULL) {
        if (section[0] != '\0')
            ini_error(st, "unknown key %s in [%s]", rc_cfg_echo(name, q), section);
        else
            ini_error(st, "unknown key %s", rc_cfg_echo(name, q));
        return 0;
    }
    if (section[0] == '\0') {
        ini_error(st, "key '%s' is outside any section; put it under [%s]", k->name, k->section);
        return 0;
    }
    if (strcmp(section, k->section) != 0) {
        ini_error(st, "key '%s' belongs in [%s], not [%s]", k->name, k->section, section);
        return 0;
    }
    ki = rc_cfg_key_index(k);
    if (st->set_on[ki] != 0) {
        ini_error(st, "duplicate key '%s' (already set on line %u)", k->name, st->set_on[ki]);
        return 0;
    }
    st->set_on[ki] = st->lineno;

    /* "value" in double quotes: the quotes go (so "" is an empty value) */
    vlen = strlen(value);
    if (vlen >= 2 && value[0] == '"' && value[vlen - 1] == '"' && vlen - 2 < sizeof(unq)) {
        memcpy(unq, value + 1, vlen - 2);
        unq[vlen - 2] = '\0';
        value = unq;
    }
    if (rc_cfg_key_parse(k, value, &L->cfg, msg, sizeof(msg)) < 0) {
        ini_error(st, "%s: %s", k->name, msg);
        return 0;
    }
    L->src[ki] = (struct rc_cfg_src){.kind = SRC_FILE, .line = st->lineno};
    return 1;
}

/* Parses an ini held in memory; file names it in errors. */
static void ini_parse_buf(struct rc_cfg_load *L, const char *file, const char *data, size_t len)
{
    struct ini_state st = {.L = L, .file = file, .data = data, .len = len, .section_ok = true};
    int rv;

    rv = ini_parse_stream(ini_read_line, &st, ini_on_key, &st);
    /* inih's verdict is final even where our own checks saw nothing */
    if (rv != 0 && st.errors == 0) {
        if (rv > 0) {
            st.lineno = (unsigned)rv;
            ini_error(&st, "syntax error");
        } else {
            rc_cfg_err_add(L->e, "%s: cannot parse (inih error %d)", file, rv);
        }
    }
}

void rc_cfg_ini_load(struct rc_cfg_load *L, const char *path)
{
    char *data = NULL, *bigger;
    size_t len = 0, cap = 0;
    int fd;

    if (strlen(path) >= sizeof(L->cfg.config_file)) {
        rc_cfg_err_add(L->e, "config file name too long");
        return;
    }
    snprintf(L->cfg.config_file, sizeof(L->cfg.config_file), "%s", path);
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        rc_cfg_err_add(L->e, "%s: cannot open: %s", path, strerror(errno));
        return;
    }
    for (;;) {
        ssize_t r;

        if (len == cap) {
            if (cap > CONFIG_FILE_MAX) {
                rc_cfg_err_add(L->e, "%s: larger than %d bytes; not a config file", path,
                               CONFIG_FILE_MAX);
                goto out_free;
            }
            cap = cap == 0 ? 4096 : cap * 2;
            bigger = malloc(cap); /* not realloc: the old copy is wiped first */
            if (bigger == NULL) {
                rc_cfg_err_add(L->e, "%s: out of memory", path);
                goto out_free;
            }
            if (data != NULL) {
                memcpy(bigger, data, len);
                explicit_bzero(data, len);
                free(data);
            }
            data = bigger;
        }
        r = read(fd, data + len, cap - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc_cfg_err_add(L->e, "%s: cannot read: %s", path, strerror(errno));
            goto out_free;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    ini_parse_buf(L, path, data, len);
out_free:
    if (data != NULL)
        explicit_bzero(data, len); /* it may hold the cookie */
    free(data);
    close(fd);
}

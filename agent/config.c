/*
 * config.c - every setting of rollcall: one table, four layers, every error.
 *
 * keys[] below is the whole configuration surface. Each row gives a key's
 * section, type, place in struct rc_config, bounds, default (as the text a
 * user would write, parsed by the same code as user input) and doc line.
 * The environment variable ROLLCALL_<KEY>, the flag --<key-with-dashes>,
 * check-config's output and the unknown-key checks are all derived from it,
 * so adding a key is one row (Redis's config.c shape).
 *
 * Layers, each overriding the one before: defaults < ini file (-c FILE,
 * --config FILE or ROLLCALL_CONFIG) < environment < command-line flags. An
 * error in any layer is collected rather than returned at once, so one run
 * of `rollcall check-config` shows everything that is wrong, each error
 * naming where it came from ("FILE:LINE: ...", "environment ROLLCALL_X: ...",
 * "option --x: ...").
 *
 * The ini file goes through inih, fed by our own line reader
 * (ini_parse_stream): inih's handler gets no line number in the Debian
 * build, silently splits lines over its 200-byte buffer and reports only the
 * first of several errors. The reader counts lines, refuses over-long lines
 * and NUL bytes outright, strips indentation (so an indented key is a key,
 * never an inih continuation line that would silently glue itself to the
 * previous value), and knows which lines must reach the handler, so every
 * malformed line is reported, not just the first.
 *
 * Where each value came from is kept in static state next to the table (the
 * public struct has no room for it); it is committed only when a whole load
 * validates, like the configuration itself.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <ini.h>

#include "rollcall/config.h"
#include "rollcall/registry.h"

#define CONFIG_FILE_MAX (1024 * 1024) /* an ini larger than this is not a config file */
#define DUR_S 1000ULL
#define DUR_M (60 * DUR_S)
#define DUR_H (60 * DUR_M)
#define ECHO_MAX 64 /* bytes of a bad value quoted back in an error */

enum ktype {
    KT_NAME,     /* node name, "" = auto */
    KT_COOKIE,   /* secret, printable ASCII */
    KT_PATH,     /* file name, "" = none */
    KT_URL,      /* registry URL, never echoed unmasked */
    KT_DURATION, /* uint64_t ms */
    KT_PORT,     /* uint16_t */
    KT_EPMD,     /* enum rc_epmd_mode */
    KT_LOG_FORMAT,
    KT_LOG_LEVEL,
};

struct rc_key {
    const char *section;
    const char *name;
    enum ktype type;
    size_t offset;
    size_t size;
    uint64_t min, max; /* durations (ms) and ports */
    const char *def;
    bool secret;
    const char *doc;
};

#define AT(field) offsetof(struct rc_config, field), sizeof(((struct rc_config *)0)->field)

/* The configuration surface. Names are the product's interface: never rename. */
static const struct rc_key keys[] = {
    {"node", "name", KT_NAME, AT(name), 0, 0, "", false,
     "node name alive@host; a bare alive gets @<first global IPv4>"},
    {"node", "cookie", KT_COOKIE, AT(cookie), 0, 0, "", true,
     "the cookie itself (prefer cookie_file or ROLLCALL_COOKIE)"},
    {"node", "cookie_file", KT_PATH, AT(cookie_file), 0, 0, "", false,
     "file holding the cookie; default: Erlang's lookup (~/.erlang.cookie)"},
    {"node", "epmd", KT_EPMD, AT(epmd), 0, 0, "auto", false, "auto, system, embedded or off"},
    {"node", "epmd_port", KT_PORT, AT(epmd_port), 1, 65535, "4369", false,
     "EPMD port (ERL_EPMD_PORT sets it too)"},
    {"node", "dist_port_min", KT_PORT, AT(dist_port_min), 0, 65535, "0", false,
     "lowest distribution listen port (0 = any)"},
    {"node", "dist_port_max", KT_PORT, AT(dist_port_max), 0, 65535, "0", false,
     "highest distribution listen port (0 = any)"},
    {"registry", "registry", KT_URL, AT(registry), 0, 0, "file:///tmp/rollcall", false,
     "registry URL: file:///DIR, redis://, postgres://, s3://"},
    {"registry", "stale_after", KT_DURATION, AT(stale_after_ms), 10, 720 * DUR_H, "10s", false,
     "an entry not refreshed for this long is stale"},
    {"registry", "prune_after", KT_DURATION, AT(prune_after_ms), 10, 720 * DUR_H, "30s", false,
     "a stale entry whose pings failed this long is removed"},
    {"registry", "heartbeat", KT_DURATION, AT(heartbeat_ms), 0, 720 * DUR_H, "0", false,
     "rewrite our unchanged entry this often; 0 = stale_after / 2"},
    {"registry", "resync", KT_DURATION, AT(resync_ms), 0, 720 * DUR_H, "1m", false,
     "list the whole registry this often even without a change signal; 0 = every interval"},
    {"agent", "interval", KT_DURATION, AT(interval_ms), 10, DUR_H, "1s", false,
     "time between sweeps"},
    {"agent", "ping_timeout", KT_DURATION, AT(ping_timeout_ms), 10, DUR_H, "500ms", false,
     "deadline of one ping, all steps"},
    {"log", "log_format", KT_LOG_FORMAT, AT(log_format), 0, 0, "elixir", false,
     "elixir, text or json"},
    {"log", "log_level", KT_LOG_LEVEL, AT(log_level), 0, 0, "info", false,
     "error, warning, info or debug"},
    {"log", "log_file", KT_PATH, AT(log_file), 0, 0, "", false, "log file; empty = stderr"},
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static const char *const sections[] = {"node", "registry", "agent", "log"};
static const char *const epmd_words[] = {"auto", "system", "embedded", "off"};

static const char *const command_words[] = {"run", "members", "ping", "check-config"};

/* ---- where a value came from ---- */

enum src_kind { SRC_DEFAULT = 0, SRC_FILE, SRC_ENV, SRC_FLAG };

struct src {
    enum src_kind kind;
    unsigned line; /* SRC_FILE */
    bool erl_env;  /* SRC_ENV: ERL_EPMD_PORT rather than ROLLCALL_EPMD_PORT */
};

/* Committed by a successful load or reload, for rc_config_print. */
static struct src g_src[NKEYS];
static bool g_name_auto_host;

/* The argv rc_config_reload re-reads (a private copy: the caller's argv has
 * the cookie scrubbed). */
static char **g_argv;
static int g_argc;

/* ---- errors ---- */

struct errs {
    char *buf;
    size_t cap;
    size_t len;
    unsigned n;
};

static void err_add(struct errs *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void err_add(struct errs *e, const char *fmt, ...)
{
    va_list ap;
    int w;

    e->n++;
    if (e->buf == NULL || e->cap == 0 || e->len + 1 >= e->cap)
        return;
    if (e->len > 0)
        e->buf[e->len++] = '\n';
    va_start(ap, fmt);
    w = vsnprintf(e->buf + e->len, e->cap - e->len, fmt, ap);
    va_end(ap);
    if (w < 0)
        w = 0;
    e->len = e->len + (size_t)w < e->cap ? e->len + (size_t)w : e->cap - 1;
    e->buf[e->len] = '\0';
}

/* s for an error message: control bytes as \xNN, long values cut. */
static const char *escape(const char *s, char out[ECHO_MAX * 4 + 8], bool quote)
{
    size_t o = 0;

    if (quote)
        out[o++] = '\'';
    for (size_t i = 0; s[i] != '\0'; i++) {
        unsigned char c = (unsigned char)s[i];

        if (i == ECHO_MAX) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        if (c < 0x20 || c == 0x7F || c == '\\')
            o += (size_t)sprintf(out + o, "\\x%02x", c);
        else
            out[o++] = (char)c;
    }
    if (quote)
        out[o++] = '\'';
    out[o] = '\0';
    return out;
}

/* 'value', quoted and escaped. */
static const char *echo(const char *s, char out[ECHO_MAX * 4 + 8])
{
    return escape(s, out, true);
}

/* ---- value types ---- */

static bool has_control(const char *s)
{
    for (; *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7F)
            return true;
    return false;
}

int rc_duration_parse(const char *s, uint64_t *ret_ms)
{
    static const struct {
        const char *unit;
        uint64_t ms;
    } units[] = {{"", 1}, {"ms", 1}, {"s", DUR_S}, {"m", DUR_M}, {"h", DUR_H}};
    uint64_t v = 0;
    size_t i = 0;

    if (s == NULL || !isdigit((unsigned char)s[0]))
        return -EINVAL;
    for (; isdigit((unsigned char)s[i]); i++) {
        if (v > (UINT64_MAX - 9) / 10)
            return -EINVAL;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    for (size_t u = 0; u < sizeof(units) / sizeof(units[0]); u++) {
        if (strcmp(s + i, units[u].unit) == 0) {
            if (v > UINT64_MAX / units[u].ms)
                return -EINVAL;
            *ret_ms = v * units[u].ms;
            return 0;
        }
    }
    return -EINVAL;
}

void rc_duration_format(uint64_t ms, char *out, size_t outlen)
{
    if (ms != 0 && ms % DUR_H == 0)
        snprintf(out, outlen, "%lluh", (unsigned long long)(ms / DUR_H));
    else if (ms != 0 && ms % DUR_M == 0)
        snprintf(out, outlen, "%llum", (unsigned long long)(ms / DUR_M));
    else if (ms != 0 && ms % DUR_S == 0)
        snprintf(out, outlen, "%llus", (unsigned long long)(ms / DUR_S));
    else
        snprintf(out, outlen, "%llums", (unsigned long long)ms);
}

static int word_index(const char *s, const char *const *words, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(s, words[i]) == 0)
            return (int)i;
    return -1;
}

static bool alive_valid(const char *alive)
{
    char probe[RC_NAME_MAX + 1];
    int n = snprintf(probe, sizeof(probe), "%s@h", alive);

    return n > 0 && (size_t)n < sizeof(probe) && rc_node_name_valid(probe);
}

/*
 * Parses s as key k's type into c. On failure writes a message (never the
 * value of a secret, never an unmasked URL) and leaves c untouched.
 */
static int key_parse(const struct rc_key *k, const char *s, struct rc_config *c, char *msg,
                     size_t msglen)
{
    char *field = (char *)c + k->offset;
    char q[ECHO_MAX * 4 + 8], lo[32], hi[32];
    uint64_t v = 0;
    int i;

    switch (k->type) {
    case KT_NAME:
        if (strchr(s, '@') != NULL ? !rc_node_name_valid(s) : s[0] != '\0' && !alive_valid(s)) {
            snprintf(msg, msglen,
                     "invalid node name %s (expected alive@host or alive; alive of A-Z a-z 0-9 "
                     "_ -, host of A-Z a-z 0-9 . _ : -)",
                     echo(s, q));
            return -EINVAL;
        }
        break;
    case KT_COOKIE:
        if (strlen(s) > RC_COOKIE_MAX) {
            snprintf(msg, msglen, "cookie longer than %d bytes", RC_COOKIE_MAX);
            return -EINVAL;
        }
        for (const char *p = s; *p != '\0'; p++) {
            if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7E) {
                snprintf(msg, msglen, "cookie has a byte that is not printable ASCII");
                return -EINVAL;
            }
        }
        break;
    case KT_PATH:
        if (has_control(s)) {
            snprintf(msg, msglen, "control character in file name %s", echo(s, q));
            return -EINVAL;
        }
        break;
    case KT_URL: {
        char masked[RC_URL_MAX], why[512];

        rc_registry_mask_url(s, masked, sizeof(masked));
        if (s[0] == '\0') {
            snprintf(msg, msglen, "registry URL is empty");
            return -EINVAL;
        }
        if (has_control(s)) {
            snprintf(msg, msglen, "control character in registry URL %s", echo(masked, q));
            return -EINVAL;
        }
        if (strlen(s) < k->size && !rc_registry_known(s)) {
            snprintf(msg, msglen,
                     "unsupported registry %s (expected file:///DIR, redis://HOST, "
                     "postgres://HOST/DB or s3://BUCKET)",
                     echo(masked, q));
            return -EINVAL;
        }
        /* a module that is missing or stale is a configuration error too,
         * and check-config is where the operator should learn of it */
        if (strlen(s) < k->size && rc_registry_load(s, why, sizeof(why)) == NULL) {
            snprintf(msg, msglen, "%s", why);
            return -EINVAL;
        }
        break;
    }
    case KT_DURATION:
        if (rc_duration_parse(s, &v) < 0) {
            snprintf(msg, msglen,
                     "invalid duration %s (use a number and a unit: 500ms, 2s, 1m, 1h)",
                     echo(s, q));
            return -EINVAL;
        }
        if (v < k->min || v > k->max) {
            rc_duration_format(k->min, lo, sizeof(lo));
            rc_duration_format(k->max, hi, sizeof(hi));
            snprintf(msg, msglen, "%s is out of range (%s to %s)", echo(s, q), lo, hi);
            return -ERANGE;
        }
        *(uint64_t *)(void *)field = v;
        return 0;
    case KT_PORT:
        for (i = 0; isdigit((unsigned char)s[i]) && v <= 65535; i++)
            v = v * 10 + (uint64_t)(s[i] - '0');
        if (i == 0 || s[i] != '\0' || v < k->min || v > k->max) {
            snprintf(msg, msglen, "invalid port %s (%llu to %llu)", echo(s, q),
                     (unsigned long long)k->min, (unsigned long long)k->max);
            return -ERANGE;
        }
        *(uint16_t *)(void *)field = (uint16_t)v;
        return 0;
    case KT_EPMD:
        i = word_index(s, epmd_words, sizeof(epmd_words) / sizeof(epmd_words[0]));
        if (i < 0) {
            snprintf(msg, msglen, "invalid value %s (auto, system, embedded or off)", echo(s, q));
            return -EINVAL;
        }
        *(enum rc_epmd_mode *)(void *)field = (enum rc_epmd_mode)i;
        return 0;
    case KT_LOG_FORMAT:
        if (rc_log_format_parse(s, (enum rc_log_format *)(void *)field) < 0) {
            snprintf(msg, msglen, "invalid value %s (elixir, text or json)", echo(s, q));
            return -EINVAL;
        }
        return 0;
    case KT_LOG_LEVEL:
        if (rc_log_level_parse(s, (enum rc_log_level *)(void *)field) < 0) {
            snprintf(msg, msglen, "invalid value %s (error, warning, info or debug)", echo(s, q));
            return -EINVAL;
        }
        return 0;
    }
    /* the string types */
    if (strlen(s) >= k->size) {
        snprintf(msg, msglen, "value too long (at most %zu bytes)", k->size - 1);
        return -ENAMETOOLONG;
    }
    memcpy(field, s, strlen(s) + 1);
    return 0;
}

/* The value of k in c as check-config shows it (secrets masked). */
static void key_format(const struct rc_key *k, const struct rc_config *c, char *out, size_t outlen)
{
    const char *field = (const char *)c + k->offset;

    if (k->secret) { /* only strings are secret */
        if (field[0] != '\0')
            snprintf(out, outlen, "***");
        else if (c->cookie_file[0] != '\0')
            snprintf(out, outlen, "(not set: read from cookie_file)");
        else
            snprintf(out, outlen, "(not set: Erlang's lookup)");
        return;
    }
    switch (k->type) {
    case KT_NAME:
    case KT_COOKIE:
        snprintf(out, outlen, "%s", field);
        return;
    case KT_PATH:
        if (field[0] != '\0')
            snprintf(out, outlen, "%s", field);
        else
            snprintf(out, outlen, "%s",
                     k->offset == offsetof(struct rc_config, log_file) ? "(stderr)" : "(not set)");
        return;
    case KT_URL:
        rc_registry_mask_url(field, out, outlen);
        return;
    case KT_DURATION:
        rc_duration_format(*(const uint64_t *)(const void *)field, out, outlen);
        return;
    case KT_PORT:
        snprintf(out, outlen, "%u", (unsigned)*(const uint16_t *)(const void *)field);
        return;
    case KT_EPMD:
        snprintf(out, outlen, "%s", epmd_words[*(const enum rc_epmd_mode *)(const void *)field]);
        return;
    case KT_LOG_FORMAT:
        snprintf(out, outlen, "%s",
                 rc_log_format_str(*(const enum rc_log_format *)(const void *)field));
        return;
    case KT_LOG_LEVEL:
        snprintf(out, outlen, "%s",
                 rc_log_level_str(*(const enum rc_log_level *)(const void *)field));
        return;
    }
}

static const struct rc_key *key_find(const char *name, size_t len, bool dashes)
{
    for (size_t i = 0; i < NKEYS; i++) {
        const char *kn = keys[i].name;
        size_t j = 0;

        for (; j < len && kn[j] != '\0'; j++)
            if (name[j] != kn[j] && !(dashes && kn[j] == '_' && name[j] == '-'))
                break;
        if (j == len && kn[j] == '\0')
            return &keys[i];
    }
    return NULL;
}

static size_t key_index(const struct rc_key *k)
{
    return (size_t)(k - keys);
}

static void env_name(const struct rc_key *k, char *out, size_t outlen)
{
    size_t n = (size_t)snprintf(out, outlen, "ROLLCALL_");

    for (const char *p = k->name; *p != '\0' && n + 1 < outlen; p++)
        out[n++] = (char)toupper((unsigned char)*p);
    out[n] = '\0';
}

static void flag_name(const struct rc_key *k, char *out, size_t outlen)
{
    size_t n = (size_t)snprintf(out, outlen, "--");

    for (const char *p = k->name; *p != '\0' && n + 1 < outlen; p++)
        out[n++] = *p == '_' ? '-' : *p;
    out[n] = '\0';
}

void rc_config_defaults(struct rc_config *c)
{
    char msg[256];

    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < NKEYS; i++)
        if (key_parse(&keys[i], keys[i].def, c, msg, sizeof(msg)) < 0)
            abort(); /* a default that does not parse is a bug in keys[] */
}

/* ---- one load ---- */

struct load {
    struct rc_config cfg;
    struct src src[NKEYS];
    bool name_auto_host;
    struct errs *e;
};

/* Origin prefix of key ki's current source, for validation errors. */
static void origin(const struct load *L, size_t ki, char *out, size_t outlen)
{
    char nm[64];

    switch (L->src[ki].kind) {
    case SRC_FILE:
        snprintf(out, outlen, "%s:%u: %s: ", L->cfg.config_file, L->src[ki].line, keys[ki].name);
        return;
    case SRC_ENV:
        if (L->src[ki].erl_env)
            snprintf(out, outlen, "environment ERL_EPMD_PORT: ");
        else {
            env_name(&keys[ki], nm, sizeof(nm));
            snprintf(out, outlen, "environment %s: ", nm);
        }
        return;
    case SRC_FLAG:
        flag_name(&keys[ki], nm, sizeof(nm));
        snprintf(out, outlen, "option %s: ", nm);
        return;
    case SRC_DEFAULT:
        snprintf(out, outlen, "%s: ", keys[ki].name);
        return;
    }
}

/* ---- the ini file ---- */

struct ini_state {
    struct load *L;
    const char *file;
    const char *data;
    size_t len, pos;
    unsigned lineno;
    bool expect_handler; /* the current line is key=value: inih must call us */
    bool handler_called;
    bool section_ok; /* false after a bad section header: its keys are not checked */
    unsigned errors;
    unsigned set_on[NKEYS]; /* line where this file set each key (duplicates) */
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
    err_add(st->L->e, "%s:%u: %s", st->file, st->lineno, msg);
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
    char q[ECHO_MAX * 4 + 8], name[ECHO_MAX + 1];

    if (n == 0 || s[0] == ';' || s[0] == '#')
        return; /* blank or comment */
    if (s[0] != '[') {
        st->expect_handler = true;
        return;
    }
    /* inih: the section ends at ']', unless an inline comment (" ;") comes first */
    for (size_t i = 1; i < n; i++) {
        if (s[i] == ';' && isspace((unsigned char)s[i - 1]))
            break;
        if (s[i] == ']') {
            st->section_ok = section_known(s + 1, i - 1);
            if (!st->section_ok) {
                snprintf(name, sizeof(name), "%.*s", (int)(i - 1), s + 1);
                ini_error(st, "unknown section [%s] (node, registry, agent, log)",
                          escape(name, q, false));
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
    while (raw > 0 && isspace((unsigned char)*line)) { /* as inih's lskip */
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
    struct load *L = st->L;
    const struct rc_key *k;
    char q[ECHO_MAX * 4 + 8], msg[512], unq[256]; /* inih lines are < 200 bytes */
    size_t ki, vlen;

    st->handler_called = true;
    if (!st->section_ok)
        return 1; /* the header was reported already */
    if (name[0] == '\0') {
        ini_error(st, "missing key name before '='");
        return 0;
    }
    k = key_find(name, strlen(name), false);
    if (k == NULL) {
        if (section[0] != '\0')
            ini_error(st, "unknown key %s in [%s]", echo(name, q), section);
        else
            ini_error(st, "unknown key %s", echo(name, q));
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
    ki = key_index(k);
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
    if (key_parse(k, value, &L->cfg, msg, sizeof(msg)) < 0) {
        ini_error(st, "%s: %s", k->name, msg);
        return 0;
    }
    L->src[ki] = (struct src){.kind = SRC_FILE, .line = st->lineno};
    return 1;
}

/* Parses an ini held in memory; file names it in errors. */
static void ini_parse_buf(struct load *L, const char *file, const char *data, size_t len)
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
            err_add(L->e, "%s: cannot parse (inih error %d)", file, rv);
        }
    }
}

static void ini_load_file(struct load *L, const char *path)
{
    char *data = NULL, *bigger;
    size_t len = 0, cap = 0;
    int fd;

    if (strlen(path) >= sizeof(L->cfg.config_file)) {
        err_add(L->e, "config file name too long");
        return;
    }
    snprintf(L->cfg.config_file, sizeof(L->cfg.config_file), "%s", path);
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        err_add(L->e, "%s: cannot open: %s", path, strerror(errno));
        return;
    }
    for (;;) {
        ssize_t r;

        if (len == cap) {
            if (cap > CONFIG_FILE_MAX) {
                err_add(L->e, "%s: larger than %d bytes; not a config file", path, CONFIG_FILE_MAX);
                goto out_free;
            }
            cap = cap == 0 ? 4096 : cap * 2;
            bigger = malloc(cap); /* not realloc: the old copy is wiped first */
            if (bigger == NULL) {
                err_add(L->e, "%s: out of memory", path);
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
            err_add(L->e, "%s: cannot read: %s", path, strerror(errno));
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

/* ---- the environment ---- */

static void env_apply_one(struct load *L, const struct rc_key *k, const char *var, bool erl_env)
{
    const char *v = getenv(var);
    char msg[512];

    if (v == NULL || v[0] == '\0')
        return; /* empty counts as unset: compose's ${X} of an unset X */
    if (key_parse(k, v, &L->cfg, msg, sizeof(msg)) < 0) {
        err_add(L->e, "environment %s: %s", var, msg);
        return;
    }
    L->src[key_index(k)] = (struct src){.kind = SRC_ENV, .erl_env = erl_env};
}

static void env_apply(struct load *L)
{
    char var[64];

    for (size_t i = 0; i < NKEYS; i++) {
        if (strcmp(keys[i].name, "epmd_port") == 0)
            env_apply_one(L, &keys[i], "ERL_EPMD_PORT", true); /* below ROLLCALL_EPMD_PORT */
        env_name(&keys[i], var, sizeof(var));
        env_apply_one(L, &keys[i], var, false);
    }
}

/* ---- the command line ---- */

struct cmdline {
    struct rc_args args;
    int target_idx;         /* ping NODE: index in argv, 0 = none */
    const char *config;     /* -c / --config */
    const char *val[NKEYS]; /* the last --key value of each key */
};

/*
 * Overwrites a registry URL in the process's own argv with its masked form
 * (rc_registry_mask_url: no password, no secret query value), cut to the
 * original length and padded with NULs, so that ps and /proc/PID/cmdline
 * show no secret. Any prefix of a masked URL is secret-free.
 */
static void scrub_url(char *arg)
{
    char masked[RC_URL_MAX + 64];
    size_t n = strlen(arg), m;

    rc_registry_mask_url(arg, masked, sizeof(masked));
    if (strcmp(masked, arg) == 0)
        return;
    m = strlen(masked);
    if (m > n)
        m = n;
    memcpy(arg, masked, m);
    memset(arg + m, '\0', n - m);
}

/*
 * Parses argv into cl. scrub, if not NULL, is the caller's own argv (same
 * strings as argv): the value of every --cookie in it is overwritten with '*'.
 */
static void parse_argv(int argc, char **argv, char **scrub, struct cmdline *cl, struct errs *e)
{
    struct rc_config scratch;
    char q[ECHO_MAX * 4 + 8], msg[512], fl[64];
    bool only_positional = false, have_command = false, bad_command = false;

    memset(cl, 0, sizeof(*cl));
    rc_config_defaults(&scratch);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];

        if (only_positional || a[0] != '-' || a[1] == '\0') {
            int c;

            if (!have_command) {
                have_command = true;
                c = word_index(a, command_words, sizeof(command_words) / sizeof(command_words[0]));
                if (c < 0 || strcmp(a, command_words[c]) != 0) {
                    err_add(e, "unknown command %s (run, members, ping NODE, check-config)",
                            echo(a, q));
                    bad_command = true;
                } else {
                    cl->args.command = (enum rc_command)c;
                }
            } else if (cl->args.command == RC_CMD_PING && !bad_command && cl->target_idx == 0) {
                cl->target_idx = i;
                cl->args.target = a;
            } else if (!bad_command) {
                err_add(e, "unexpected argument %s", echo(a, q));
            }
            continue;
        }
        if (strcmp(a, "--") == 0) {
            only_positional = true;
            continue;
        }
        if (a[1] != '-') { /* short options */
            if (strcmp(a, "-h") == 0) {
                cl->args.help = true;
            } else if (strcmp(a, "-V") == 0) {
                cl->args.version = true;
            } else if (a[1] == 'c') {
                if (a[2] != '\0')
                    cl->config = a + 2;
                else if (i + 1 < argc)
                    cl->config = argv[++i];
                else
                    err_add(e, "option -c: missing FILE");
            } else {
                err_add(e, "unknown option %s (see rollcall --help)", echo(a, q));
            }
            continue;
        }

        /* --name, --name=value, --name value */
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t nlen = eq != NULL ? (size_t)(eq - name) : strlen(name);
        const char *val = eq != NULL ? eq + 1 : NULL;
        const struct rc_key *k;
        int val_idx = i;

        if ((nlen == 4 && memcmp(name, "help", 4) == 0) ||
            (nlen == 7 && memcmp(name, "version", 7) == 0) ||
            (nlen == 4 && memcmp(name, "json", 4) == 0)) {
            if (val != NULL)
                err_add(e, "option --%.*s takes no value", (int)nlen, name);
            else if (name[0] == 'h')
                cl->args.help = true;
            else if (name[0] == 'v')
                cl->args.version = true;
            else
                cl->args.json = true;
            continue;
        }
        k = key_find(name, nlen, true);
        if (k == NULL && !(nlen == 6 && memcmp(name, "config", 6) == 0)) {
            char opt[ECHO_MAX + 1];

            snprintf(opt, sizeof(opt), "--%.*s", (int)(nlen < ECHO_MAX - 2 ? nlen : ECHO_MAX - 2),
                     name);
            err_add(e, "unknown option %s (see rollcall --help)", echo(opt, q));
            continue;
        }
        if (val == NULL) {
            if (i + 1 >= argc) {
                err_add(e, "option --%.*s: missing value", (int)nlen, name);
                continue;
            }
            val = argv[++i];
            val_idx = i;
        }
        if (k == NULL) {
            cl->config = val;
            continue;
        }
        flag_name(k, fl, sizeof(fl));
        if (k->type == KT_COOKIE && scrub != NULL)
            memset(scrub[val_idx] + (val - argv[val_idx]), '*', strlen(val));
        if (k->type == KT_URL && scrub != NULL)
            scrub_url(scrub[val_idx] + (val - argv[val_idx]));
        if (key_parse(k, val, &scratch, msg, sizeof(msg)) < 0) {
            err_add(e, "option %s: %s", fl, msg);
            continue;
        }
        cl->val[key_index(k)] = val;
    }
    if (cl->args.command == RC_CMD_PING && cl->target_idx == 0 && !bad_command)
        err_add(e, "ping: missing NODE (rollcall ping NAME@HOST)");
    if (cl->args.json && cl->args.command != RC_CMD_MEMBERS && !bad_command)
        err_add(e, "option --json: only with the members command");
    explicit_bzero(&scratch, sizeof(scratch));
}

static void flags_apply(struct load *L, const struct cmdline *cl)
{
    char msg[512];

    for (size_t i = 0; i < NKEYS; i++) {
        if (cl->val[i] == NULL)
            continue;
        if (key_parse(&keys[i], cl->val[i], &L->cfg, msg, sizeof(msg)) == 0) /* checked before */
            L->src[i] = (struct src){.kind = SRC_FLAG};
    }
}

/* ---- the whole ---- */

int rc_first_global_ipv4(char *out, size_t outlen)
{
    struct ifaddrs *ifa, *p;
    int rv = -ENOENT;

    if (getifaddrs(&ifa) < 0)
        return -errno;
    for (p = ifa; p != NULL; p = p->ifa_next) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)p->ifa_addr;
        uint32_t a;

        if (sin == NULL || sin->sin_family != AF_INET || !(p->ifa_flags & IFF_UP) ||
            (p->ifa_flags & IFF_LOOPBACK))
            continue;
        a = ntohl(sin->sin_addr.s_addr);
        if (a == 0 || (a >> 24) == 127 || (a >> 16) == 0xA9FE) /* 0.0.0.0, 127/8, 169.254/16 */
            continue;
        rv = inet_ntop(AF_INET, &sin->sin_addr, out, (socklen_t)outlen) != NULL ? 0 : -ENOSPC;
        break;
    }
    freeifaddrs(ifa);
    return rv;
}

static void validate(struct load *L)
{
    struct rc_config *c = &L->cfg;
    size_t ki_name = 0, ki_min = 0, ki_max = 0;
    char pre[PATH_MAX + 64];

    for (size_t i = 0; i < NKEYS; i++) {
        if (keys[i].offset == offsetof(struct rc_config, name))
            ki_name = i;
        else if (keys[i].offset == offsetof(struct rc_config, dist_port_min))
            ki_min = i;
        else if (keys[i].offset == offsetof(struct rc_config, dist_port_max))
            ki_max = i;
    }

    if ((c->dist_port_min == 0) != (c->dist_port_max == 0)) {
        origin(L, c->dist_port_max != 0 ? ki_max : ki_min, pre, sizeof(pre));
        err_add(L->e, "%sset both dist_port_min and dist_port_max, or neither (0 = any port)", pre);
    } else if (c->dist_port_min > c->dist_port_max) {
        origin(L, L->src[ki_max].kind != SRC_DEFAULT ? ki_max : ki_min, pre, sizeof(pre));
        err_add(L->e, "%sdist_port_min %u is above dist_port_max %u", pre,
                (unsigned)c->dist_port_min, (unsigned)c->dist_port_max);
    }

    /* the node name: "" and a bare alive get the host part now */
    if (strchr(c->name, '@') == NULL) {
        char ip[INET_ADDRSTRLEN] = "127.0.0.1", full[sizeof(c->name) + sizeof(ip)];
        const char *alive = c->name[0] != '\0' ? c->name : "rollcall";

        if (rc_first_global_ipv4(ip, sizeof(ip)) < 0)
            snprintf(ip, sizeof(ip), "127.0.0.1");
        snprintf(full, sizeof(full), "%s@%s", alive, ip);
        if (strlen(full) > RC_NAME_MAX || !rc_node_name_valid(full)) {
            origin(L, ki_name, pre, sizeof(pre));
            err_add(L->e, "%snode name with host %s is too long", pre, ip);
        } else {
            memcpy(c->name, full, strlen(full) + 1);
            L->name_auto_host = true;
        }
    }
}

/* The whole load from argv. The result stays in L; errors in e. */
static void load_all(struct load *L, struct cmdline *cl, int argc, char **argv, char **scrub,
                     struct errs *e)
{
    const char *path;

    memset(L, 0, sizeof(*L));
    L->e = e;
    rc_config_defaults(&L->cfg);
    parse_argv(argc, argv, scrub, cl, e);
    if (cl->args.help || cl->args.version)
        return;

    path = cl->config;
    if (path == NULL) {
        path = getenv("ROLLCALL_CONFIG");
        if (path != NULL && path[0] == '\0')
            path = NULL;
    }
    if (path != NULL)
        ini_load_file(L, path);
    env_apply(L);
    flags_apply(L, cl);
    validate(L);
}

static void commit_sources(const struct load *L)
{
    memcpy(g_src, L->src, sizeof(g_src));
    g_name_auto_host = L->name_auto_host;
}

static char **argv_copy(int argc, char *argv[])
{
    size_t bytes = (size_t)(argc + 1) * sizeof(char *);
    char **copy, *p;

    for (int i = 0; i < argc; i++)
        bytes += strlen(argv[i]) + 1;
    copy = malloc(bytes);
    if (copy == NULL)
        return NULL;
    p = (char *)(copy + argc + 1);
    for (int i = 0; i < argc; i++) {
        size_t n = strlen(argv[i]) + 1;

        memcpy(p, argv[i], n);
        copy[i] = p;
        p += n;
    }
    copy[argc] = NULL;
    return copy;
}

static void argv_free(char **argv, int argc)
{
    if (argv == NULL)
        return;
    for (int i = 0; i < argc; i++)
        explicit_bzero(argv[i], strlen(argv[i]));
    free(argv);
}

int rc_config_load(struct rc_config *ret, struct rc_args *ret_args, int argc, char *argv[],
                   char *err, size_t errlen)
{
    struct errs e = {.buf = err, .cap = errlen};
    struct load *L;
    struct cmdline cl;
    char **copy;

    if (err != NULL && errlen > 0)
        err[0] = '\0';
    memset(ret_args, 0, sizeof(*ret_args));
    copy = argv_copy(argc, argv);
    L = malloc(sizeof(*L));
    if (copy == NULL || L == NULL) {
        free(copy);
        free(L);
        err_add(&e, "out of memory");
        return -ENOMEM;
    }
    argv_free(g_argv, g_argc);
    g_argv = copy;
    g_argc = argc;

    /* argv is scrubbed on the way: the cookie leaves ps and /proc/PID/cmdline */
    load_all(L, &cl, g_argc, g_argv, argv, &e);
    *ret_args = cl.args;
    if (cl.target_idx > 0)
        ret_args->target = argv[cl.target_idx];

    if (e.n == 0) {
        *ret = L->cfg;
        commit_sources(L);
    }
    explicit_bzero(L, sizeof(*L));
    free(L);
    return e.n == 0 ? 0 : -EINVAL;
}

int rc_config_reload(const struct rc_config *cur, struct rc_config *ret, char *err, size_t errlen)
{
    struct errs e = {.buf = err, .cap = errlen};
    struct load *L;
    struct cmdline cl;

    (void)cur; /* everything is re-read; the caller picks what may change */
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (g_argv == NULL) {
        err_add(&e, "nothing to reload: the configuration was never loaded");
        return -EINVAL;
    }
    L = malloc(sizeof(*L));
    if (L == NULL) {
        err_add(&e, "out of memory");
        return -ENOMEM;
    }
    load_all(L, &cl, g_argc, g_argv, NULL, &e);
    if (e.n == 0) {
        *ret = L->cfg;
        commit_sources(L);
    }
    explicit_bzero(L, sizeof(*L));
    free(L);
    return e.n == 0 ? 0 : -EINVAL;
}

void rc_config_print(const struct rc_config *c, FILE *out)
{
    char value[RC_URL_MAX + PATH_MAX], source[PATH_MAX + 64], nm[64];

    for (size_t i = 0; i < NKEYS; i++) {
        const struct rc_key *k = &keys[i];

        key_format(k, c, value, sizeof(value));
        switch (g_src[i].kind) {
        case SRC_FILE:
            snprintf(source, sizeof(source), "%s:%u", c->config_file, g_src[i].line);
            break;
        case SRC_ENV:
            if (g_src[i].erl_env)
                snprintf(nm, sizeof(nm), "ERL_EPMD_PORT");
            else
                env_name(k, nm, sizeof(nm));
            snprintf(source, sizeof(source), "env %s", nm);
            break;
        case SRC_FLAG:
            flag_name(k, nm, sizeof(nm));
            snprintf(source, sizeof(source), "flag %s", nm);
            break;
        default:
            snprintf(source, sizeof(source), "default");
            break;
        }
        if (k->type == KT_NAME && g_name_auto_host)
            snprintf(source + strlen(source), sizeof(source) - strlen(source), " (host added)");
        fprintf(out, "%s.%s = %s  # %s\n", k->section, k->name, value, source);
    }
}

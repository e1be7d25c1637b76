/*
 * config.c - every setting of rollcall: one table, four layers, every error.
 *
 * rc_cfg_keys[] below is the whole configuration surface. Each row gives a
 * key's section, type, place in struct rc_config, bounds, default (as the
 * text a user would write, parsed by the same code as user input), whether
 * SIGHUP may change it, and its doc line. The environment variable
 * ROLLCALL_<KEY>, the flag --<key-with-dashes>, --help, check-config's
 * output, the SIGHUP rules and the unknown-key checks are all derived from
 * it, so adding a key is one row (Redis's config.c shape) plus its line in
 * docs/config.md (a unit test holds the two together).
 *
 * Layers, each overriding the one before: defaults < ini file (-c FILE,
 * --config FILE or ROLLCALL_CONFIG; config_ini.c) < environment <
 * command-line flags (config_argv.c). An error in any layer is collected
 * rather than returned at once, so one run of `rollcall check-config` shows
 * everything that is wrong, each error naming where it came from
 * ("FILE:LINE: ...", "environment ROLLCALL_X: ...", "option --x: ...").
 *
 * Where each value came from is kept in static state next to the table (the
 * public struct has no room for it); it is committed only when a whole load
 * validates, like the configuration itself.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_int.h"
#include "rollcall/duration.h"
#include "rollcall/netif.h"
#include "rollcall/registry.h"

#define HOUR_MS (3600ULL * 1000) /* duration bounds in the table */

#define AT(field) offsetof(struct rc_config, field), sizeof(((struct rc_config *)0)->field)

/* The configuration surface. Names are the product's interface: never rename. */
const struct rc_key rc_cfg_keys[RC_CFG_NKEYS] = {
    {"node", "name", KT_NAME, AT(name), 0, 0, "", false, false,
     "node name alive@host; a bare alive gets @<first global IPv4>"},
    {"node", "cookie", KT_COOKIE, AT(cookie), 0, 0, "", true, false,
     "the cookie itself (prefer cookie_file or ROLLCALL_COOKIE)"},
    {"node", "cookie_file", KT_PATH, AT(cookie_file), 0, 0, "", false, false,
     "file holding the cookie; default: Erlang's lookup (~/.erlang.cookie)"},
    {"node", "epmd", KT_EPMD, AT(epmd), 0, 0, "auto", false, false,
     "auto, system, embedded or off"},
    {"node", "epmd_port", KT_PORT, AT(epmd_port), 1, 65535, "4369", false, false,
     "EPMD port, ours and the peers' (ERL_EPMD_PORT too)"},
    {"node", "dist_port_min", KT_PORT, AT(dist_port_min), 0, 65535, "0", false, false,
     "lowest distribution listen port; 0 = any"},
    {"node", "dist_port_max", KT_PORT, AT(dist_port_max), 0, 65535, "0", false, false,
     "highest distribution listen port; 0 = any"},
    {"registry", "registry", KT_URL, AT(registry), 0, 0, "file:///tmp/rollcall", false, false,
     "registry URL: file:///DIR, redis://, postgres://, s3://"},
    {"registry", "stale_after", KT_DURATION, AT(stale_after_ms), 10, 720 * HOUR_MS, "10s", false,
     true, "an entry not refreshed for this long is stale"},
    {"registry", "prune_after", KT_DURATION, AT(prune_after_ms), 10, 720 * HOUR_MS, "30s", false,
     true, "a stale entry whose pings failed this long is removed"},
    {"agent", "interval", KT_DURATION, AT(interval_ms), 10, HOUR_MS, "1s", false, true,
     "time between sweeps"},
    {"agent", "ping_timeout", KT_DURATION, AT(ping_timeout_ms), 10, HOUR_MS, "500ms", false, true,
     "deadline of one ping, all steps"},
    {"log", "log_format", KT_LOG_FORMAT, AT(log_format), 0, 0, "elixir", false, true,
     "elixir, text or json"},
    {"log", "log_level", KT_LOG_LEVEL, AT(log_level), 0, 0, "info", false, true,
     "error, warning, info or debug"},
    {"log", "log_file", KT_PATH, AT(log_file), 0, 0, "", false, true, "log file; empty = stderr"},
};

_Static_assert(sizeof(rc_cfg_keys) / sizeof(rc_cfg_keys[0]) == RC_CFG_NKEYS, "RC_CFG_NKEYS");

static const char *const epmd_words[] = {"auto", "system", "embedded", "off"};

/* Committed by a successful load or reload, for rc_config_print. */
static struct rc_cfg_src g_src[RC_CFG_NKEYS];
static bool g_name_auto_host;

/* The argv rc_config_reload re-reads (a private copy: the caller's argv has
 * the cookie scrubbed). */
static char **g_argv;
static int g_argc;

/* ---- errors ---- */

void rc_cfg_err_add(struct rc_cfg_errs *e, const char *fmt, ...)
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
const char *rc_cfg_escape(const char *s, char out[RC_CFG_ECHO_BUF], bool quote)
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
const char *rc_cfg_echo(const char *s, char out[RC_CFG_ECHO_BUF])
{
    return rc_cfg_escape(s, out, true);
}

/* ---- value types ---- */

static bool has_control(const char *s)
{
    for (; *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7F)
            return true;
    return false;
}

int rc_cfg_word_index(const char *s, const char *const *words, size_t n)
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
int rc_cfg_key_parse(const struct rc_key *k, const char *s, struct rc_config *c, char *msg,
                     size_t msglen)
{
    char *field = (char *)c + k->offset;
    char q[RC_CFG_ECHO_BUF], lo[32], hi[32];
    uint64_t v = 0;
    int i;

    switch (k->type) {
    case KT_NAME:
        if (strchr(s, '@') != NULL ? !rc_node_name_valid(s) : s[0] != '\0' && !alive_valid(s)) {
            snprintf(msg, msglen,
                     "invalid node name %s (expected alive@host or alive; alive of A-Z a-z 0-9 "
                     "_ -, host of A-Z a-z 0-9 . _ : -)",
                     rc_cfg_echo(s, q));
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
            snprintf(msg, msglen, "control character in file name %s", rc_cfg_echo(s, q));
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
            snprintf(msg, msglen, "control character in registry URL %s", rc_cfg_echo(masked, q));
            return -EINVAL;
        }
        if (strlen(s) < k->size && !rc_registry_known(s)) {
            snprintf(msg, msglen,
                     "unsupported registry %s (expected file:///DIR, redis://HOST, "
                     "postgres://HOST/DB or s3://BUCKET)",
                     rc_cfg_echo(masked, q));
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
        if (rc_duration_from_text(s, strlen(s), &v) < 0) {
            snprintf(msg, msglen, "invalid duration %s (" RC_DURATION_HINT ")", rc_cfg_echo(s, q));
            return -EINVAL;
        }
        if (v < k->min || v > k->max) {
            rc_duration_to_text(k->min, lo, sizeof(lo));
            rc_duration_to_text(k->max, hi, sizeof(hi));
            snprintf(msg, msglen, "%s is out of range (%s to %s)", rc_cfg_echo(s, q), lo, hi);
            return -ERANGE;
        }
        *(uint64_t *)(void *)field = v;
        return 0;
    case KT_PORT:
        for (i = 0; isdigit((unsigned char)s[i]) && v <= 65535; i++)
            v = v * 10 + (uint64_t)(s[i] - '0');
        if (i == 0 || s[i] != '\0' || v < k->min || v > k->max) {
            snprintf(msg, msglen, "invalid port %s (%llu to %llu)", rc_cfg_echo(s, q),
                     (unsigned long long)k->min, (unsigned long long)k->max);
            return -ERANGE;
        }
        *(uint16_t *)(void *)field = (uint16_t)v;
        return 0;
    case KT_EPMD:
        i = rc_cfg_word_index(s, epmd_words, sizeof(epmd_words) / sizeof(epmd_words[0]));
        if (i < 0) {
            snprintf(msg, msglen, "invalid value %s (auto, system, embedded or off)",
                     rc_cfg_echo(s, q));
            return -EINVAL;
        }
        *(enum rc_epmd_mode *)(void *)field = (enum rc_epmd_mode)i;
        return 0;
    case KT_LOG_FORMAT:
        if (rc_log_format_parse(s, (enum rc_log_format *)(void *)field) < 0) {
            snprintf(msg, msglen, "invalid value %s (elixir, text or json)", rc_cfg_echo(s, q));
            return -EINVAL;
        }
        return 0;
    case KT_LOG_LEVEL:
        if (rc_log_level_parse(s, (enum rc_log_level *)(void *)field) < 0) {
            snprintf(msg, msglen, "invalid value %s (error, warning, info or debug)",
                     rc_cfg_echo(s, q));
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
        rc_duration_to_text(*(const uint64_t *)(const void *)field, out, outlen);
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

const struct rc_key *rc_cfg_key_find(const char *name, size_t len, bool dashes)
{
    for (size_t i = 0; i < RC_CFG_NKEYS; i++) {
        const char *kn = rc_cfg_keys[i].name;
        size_t j = 0;

        for (; j < len && kn[j] != '\0'; j++)
            if (name[j] != kn[j] && !(dashes && kn[j] == '_' && name[j] == '-'))
                break;
        if (j == len && kn[j] == '\0')
            return &rc_cfg_keys[i];
    }
    return NULL;
}

size_t rc_cfg_key_index(const struct rc_key *k)
{
    return (size_t)(k - rc_cfg_keys);
}

void rc_cfg_env_name(const struct rc_key *k, char *out, size_t outlen)
{
    size_t n = (size_t)snprintf(out, outlen, "ROLLCALL_");

    for (const char *p = k->name; *p != '\0' && n + 1 < outlen; p++)
        out[n++] = (char)toupper((unsigned char)*p);
    out[n] = '\0';
}

void rc_cfg_flag_name(const struct rc_key *k, char *out, size_t outlen)
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
    for (size_t i = 0; i < RC_CFG_NKEYS; i++)
        if (rc_cfg_key_parse(&rc_cfg_keys[i], rc_cfg_keys[i].def, c, msg, sizeof(msg)) < 0)
            abort(); /* a default that does not parse is a bug in rc_cfg_keys[] */
}

/* Origin prefix of key ki's current source, for validation errors. */
static void origin(const struct rc_cfg_load *L, size_t ki, char *out, size_t outlen)
{
    char nm[64];

    switch (L->src[ki].kind) {
    case SRC_FILE:
        snprintf(out, outlen, "%s:%u: %s: ", L->cfg.config_file, L->src[ki].line,
                 rc_cfg_keys[ki].name);
        return;
    case SRC_ENV:
        if (L->src[ki].erl_env)
            snprintf(out, outlen, "environment ERL_EPMD_PORT: ");
        else {
            rc_cfg_env_name(&rc_cfg_keys[ki], nm, sizeof(nm));
            snprintf(out, outlen, "environment %s: ", nm);
        }
        return;
    case SRC_FLAG:
        rc_cfg_flag_name(&rc_cfg_keys[ki], nm, sizeof(nm));
        snprintf(out, outlen, "option %s: ", nm);
        return;
    case SRC_DEFAULT:
        snprintf(out, outlen, "%s: ", rc_cfg_keys[ki].name);
        return;
    }
}

/* ---- the environment ---- */

static void env_apply_one(struct rc_cfg_load *L, const struct rc_key *k, const char *var,
                          bool erl_env)
{
    const char *v = getenv(var);
    char msg[512];

    if (v == NULL || v[0] == '\0')
        return; /* empty counts as unset: compose's ${X} of an unset X */
    if (rc_cfg_key_parse(k, v, &L->cfg, msg, sizeof(msg)) < 0) {
        rc_cfg_err_add(L->e, "environment %s: %s", var, msg);
        return;
    }
    L->src[rc_cfg_key_index(k)] = (struct rc_cfg_src){.kind = SRC_ENV, .erl_env = erl_env};
}

static void env_apply(struct rc_cfg_load *L)
{
    char var[64];

    for (size_t i = 0; i < RC_CFG_NKEYS; i++) {
        if (strcmp(rc_cfg_keys[i].name, "epmd_port") == 0)
            env_apply_one(L, &rc_cfg_keys[i], "ERL_EPMD_PORT", true); /* below ROLLCALL_EPMD_PORT */
        rc_cfg_env_name(&rc_cfg_keys[i], var, sizeof(var));
        env_apply_one(L, &rc_cfg_keys[i], var, false);
    }
}

static void validate(struct rc_cfg_load *L)
{
    struct rc_config *c = &L->cfg;
    size_t ki_name = 0, ki_min = 0, ki_max = 0;
    char pre[PATH_MAX + 64];

    for (size_t i = 0; i < RC_CFG_NKEYS; i++) {
        if (rc_cfg_keys[i].offset == offsetof(struct rc_config, name))
            ki_name = i;
        else if (rc_cfg_keys[i].offset == offsetof(struct rc_config, dist_port_min))
            ki_min = i;
        else if (rc_cfg_keys[i].offset == offsetof(struct rc_config, dist_port_max))
            ki_max = i;
    }

    if ((c->dist_port_min == 0) != (c->dist_port_max == 0)) {
        origin(L, c->dist_port_max != 0 ? ki_max : ki_min, pre, sizeof(pre));
        rc_cfg_err_add(
            L->e, "%sset both dist_port_min and dist_port_max, or neither (0 = any port)", pre);
    } else if (c->dist_port_min > c->dist_port_max) {
        origin(L, L->src[ki_max].kind != SRC_DEFAULT ? ki_max : ki_min, pre, sizeof(pre));
        rc_cfg_err_add(L->e, "%sdist_port_min %u is above dist_port_max %u", pre,
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
            rc_cfg_err_add(L->e, "%snode name with host %s is too long", pre, ip);
        } else {
            memcpy(c->name, full, strlen(full) + 1);
            L->name_auto_host = true;
        }
    }
}

/* The whole load from argv. The result stays in L; errors in e. */
static void load_all(struct rc_cfg_load *L, struct rc_cfg_cmdline *cl, int argc, char **argv,
                     char **scrub, struct rc_cfg_errs *e)
{
    const char *path;

    memset(L, 0, sizeof(*L));
    L->e = e;
    rc_config_defaults(&L->cfg);
    rc_cfg_parse_argv(argc, argv, scrub, cl, e);
    if (cl->args.help || cl->args.version)
        return;

    path = cl->config;
    if (path == NULL) {
        path = getenv("ROLLCALL_CONFIG");
        if (path != NULL && path[0] == '\0')
            path = NULL;
    }
    if (path != NULL)
        rc_cfg_ini_load(L, path);
    env_apply(L);
    rc_cfg_flags_apply(L, cl);
    validate(L);
}

static void commit_sources(const struct rc_cfg_load *L)
{
    memcpy(g_src, L->src, sizeof(g_src));
    g_name_auto_host = L->name_auto_host;
}

int rc_config_load(struct rc_config *ret, struct rc_args *ret_args, int argc, char *argv[],
                   char *err, size_t errlen)
{
    struct rc_cfg_errs e = {.buf = err, .cap = errlen};
    struct rc_cfg_load *L;
    struct rc_cfg_cmdline cl;
    char **copy;

    if (err != NULL && errlen > 0)
        err[0] = '\0';
    memset(ret_args, 0, sizeof(*ret_args));
    copy = rc_cfg_argv_copy(argc, argv);
    L = malloc(sizeof(*L));
    if (copy == NULL || L == NULL) {
        free(copy);
        free(L);
        rc_cfg_err_add(&e, "out of memory");
        return -ENOMEM;
    }
    rc_cfg_argv_free(g_argv, g_argc);
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
    struct rc_cfg_errs e = {.buf = err, .cap = errlen};
    struct rc_cfg_load *L;
    struct rc_cfg_cmdline cl;
    size_t len = 0;

    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (g_argv == NULL) {
        rc_cfg_err_add(&e, "nothing to reload: the configuration was never loaded");
        return -EINVAL;
    }
    L = malloc(sizeof(*L));
    if (L == NULL) {
        rc_cfg_err_add(&e, "out of memory");
        return -ENOMEM;
    }
    load_all(L, &cl, g_argc, g_argv, NULL, &e);
    if (e.n == 0) {
        /* the running configuration, with what SIGHUP may change re-read;
         * err names the keys that changed but wait for a restart */
        *ret = *cur;
        for (size_t i = 0; i < RC_CFG_NKEYS; i++) {
            const struct rc_key *k = &rc_cfg_keys[i];

            if (k->reload) {
                memcpy((char *)ret + k->offset, (const char *)&L->cfg + k->offset, k->size);
                g_src[i] = L->src[i];
            } else if (memcmp((const char *)cur + k->offset, (const char *)&L->cfg + k->offset,
                              k->size) != 0 &&
                       err != NULL && len + strlen(k->name) + 3 < errlen) {
                len += (size_t)snprintf(err + len, errlen - len, "%s%s", len != 0 ? ", " : "",
                                        k->name);
            }
        }
    }
    explicit_bzero(L, sizeof(*L));
    free(L);
    return e.n == 0 ? 0 : -EINVAL;
}

void rc_config_print(const struct rc_config *c, FILE *out)
{
    char value[RC_URL_MAX + PATH_MAX], source[PATH_MAX + 64], nm[64];

    for (size_t i = 0; i < RC_CFG_NKEYS; i++) {
        const struct rc_key *k = &rc_cfg_keys[i];

        key_format(k, c, value, sizeof(value));
        switch (g_src[i].kind) {
        case SRC_FILE:
            snprintf(source, sizeof(source), "%s:%u", c->config_file, g_src[i].line);
            break;
        case SRC_ENV:
            if (g_src[i].erl_env)
                snprintf(nm, sizeof(nm), "ERL_EPMD_PORT");
            else
                rc_cfg_env_name(k, nm, sizeof(nm));
            snprintf(source, sizeof(source), "env %s", nm);
            break;
        case SRC_FLAG:
            rc_cfg_flag_name(k, nm, sizeof(nm));
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

/* The placeholder of a key's value in --help. */
static const char *metavar(const struct rc_key *k)
{
    switch (k->type) {
    case KT_NAME:
        return "NAME";
    case KT_COOKIE:
        return "COOKIE";
    case KT_PATH:
        return "FILE";
    case KT_URL:
        return "URL";
    case KT_DURATION:
        return "D";
    case KT_PORT:
        return "PORT";
    case KT_EPMD:
        return "MODE";
    case KT_LOG_FORMAT:
        return "F";
    case KT_LOG_LEVEL:
        return "L";
    }
    return "VALUE";
}

void rc_config_usage(FILE *out)
{
    char fl[64], left[96];

    fputs("usage: rollcall [options] [command]\n"
          "\n"
          "commands:\n"
          "  run                   run the agent in the foreground (the default)\n"
          "  members [--json]      list the registry and ping every member (exit 1 if any is "
          "down)\n"
          "  ping NODE             ping one node, or 'self' (exit 0 on pong, 1 on pang)\n"
          "  check-config          print the effective configuration, secrets masked\n"
          "  help                  this help\n"
          "\n"
          "options (* = SIGHUP applies a new value; the others need a restart):\n"
          "  -c, --config FILE     ini file (also ROLLCALL_CONFIG)\n",
          out);
    for (size_t i = 0; i < RC_CFG_NKEYS; i++) {
        const struct rc_key *k = &rc_cfg_keys[i];

        rc_cfg_flag_name(k, fl, sizeof(fl));
        snprintf(left, sizeof(left), "%s %s", fl, metavar(k));
        fprintf(out, "%c %-21s %s", k->reload ? '*' : ' ', left, k->doc);
        if (k->def[0] != '\0')
            fprintf(out, " (default %s)", k->def);
        fputc('\n', out);
    }
    fputs("  -h, --help            this help\n"
          "  -V, --version         the version\n"
          "\n"
          "Every option is also an ini key in its [section] and a ROLLCALL_<KEY>\n"
          "environment variable; precedence: defaults < ini < environment < options.\n"
          "See docs/config.md.\n",
          out);
}

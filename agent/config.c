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
#include <sys/socket.h>
#include <unistd.h>

#include "config_int.h"
#include "rollcall/duration.h"
#include "rollcall/hooks.h"
#include "rollcall/http.h"
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
    {"node", "tls_cert", KT_PATH, AT(tls_cert), 0, 0, "", false, false,
     "PEM certificate for TLS distribution (docs/tls.md); with tls_key and tls_ca"},
    {"node", "tls_key", KT_PATH, AT(tls_key), 0, 0, "", false, false,
     "PEM private key of tls_cert"},
    {"node", "tls_ca", KT_PATH, AT(tls_ca), 0, 0, "", false, false,
     "PEM CA file peers' certificates must chain to"},
    {"node", "tls_required", KT_BOOL, AT(tls_required), 0, 0, "false", false, false,
     "true: refuse plain distribution peers (reason tls_required)"},
    {"node", "silence_timeout", KT_DURATION, AT(silence_timeout_ms), 5000, HOUR_MS, "10m", false,
     false, "close a connection silent this long (net_ticktime up to 600 s ticks every 150 s)"},
    {"node", "bind", KT_ADDR, AT(bind), 0, 0, "", false, false,
     "IPv4 the listener and an embedded EPMD bind to; default: loopback only for a loopback "
     "name, else every interface"},
    {"node", "advertise", KT_HOST, AT(advertise), 0, 0, "", false, false,
     "host published in the registry for others to dial; default: the name's host"},
    {"registry", "registry", KT_URL, AT(registry), 0, 0, "file:///tmp/rollcall", false, false,
     "registry URL: file:///DIR, redis://, postgres://, s3://"},
    {"registry", "stale_after", KT_DURATION, AT(stale_after_ms), 10, 720 * HOUR_MS, "10s", false,
     true, "an entry not refreshed for this long is stale"},
    {"registry", "prune_after", KT_DURATION, AT(prune_after_ms), 10, 720 * HOUR_MS, "30s", false,
     true, "a stale entry whose pings failed this long is removed"},
    {"registry", "heartbeat", KT_DURATION, AT(heartbeat_ms), 0, 720 * HOUR_MS, "0", false, true,
     "rewrite our unchanged entry this often; 0 = stale_after / 2"},
    {"registry", "resync", KT_DURATION, AT(resync_ms), 0, 720 * HOUR_MS, "1m", false, true,
     "list the whole registry this often even without a change signal; 0 = every interval"},
    {"agent", "interval", KT_DURATION, AT(interval_ms), 10, HOUR_MS, "1s", false, true,
     "time between sweeps"},
    {"agent", "ping_timeout", KT_DURATION, AT(ping_timeout_ms), 10, HOUR_MS, "500ms", false, true,
     "deadline of one ping, all steps"},
    {"log", "log_format", KT_LOG_FORMAT, AT(log_format), 0, 0, "elixir", false, true,
     "elixir, text or json"},
    {"log", "log_level", KT_LOG_LEVEL, AT(log_level), 0, 0, "info", false, true,
     "error, warning, info or debug"},
    {"log", "log_file", KT_PATH, AT(log_file), 0, 0, "", false, true, "log file; empty = stderr"},
    {"app", "app_node", KT_APP_NODE, AT(app_node), 0, 0, "", false, false,
     "app mode: the BEAM node to cluster (docs/app.md); also RELEASE_NODE"},
    {"app", "app_port", KT_PORT, AT(app_port), 0, 65535, "0", false, false,
     "the app's distribution port when it runs without EPMD; 0 = ask EPMD"},
    {"app", "app_disconnect", KT_BOOL, AT(app_disconnect), 0, 0, "false", false, false,
     "ask the app to disconnect from peers that left or were pruned"},
    {"app", "app_notify", KT_REGNAME, AT(app_notify), 0, 0, "", false, false,
     "registered name on the app told {rollcall, peer_down, Node, Reason}"},
    {"ops", "http", KT_LISTEN, AT(http), 0, 0, "", false, false,
     "HOST:PORT of /metrics /healthz /readyz /members /events; empty = off"},
    {"ops", "expect", KT_COUNT, AT(expect), 0, 100000, "0", false, false,
     "/readyz wants this many peers answering; 0 = no such rule"},
    {"ops", "on_event", KT_EXEC, AT(on_event), 0, 0, "", false, false,
     "program run on every membership event (absolute path)"},
    {"ops", "on_event_filter", KT_EVENTS, AT(on_event_filter), 0, 0, "*", false, false,
     "events that run it: peer_up,peer_down,peer_pruned,peer_left,registry_down,registry_up"},
    {"ops", "hook_timeout", KT_DURATION, AT(hook_timeout_ms), 10, HOUR_MS, "10s", false, false,
     "a hook still running after this is killed with its process group"},
};

_Static_assert(sizeof(rc_cfg_keys) / sizeof(rc_cfg_keys[0]) == RC_CFG_NKEYS, "RC_CFG_NKEYS");

static const char *const epmd_words[] = {"auto", "system", "embedded", "off"};
static const char *const bool_words[] = {"false", "true", "no", "yes", "off", "on", "0", "1"};

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

/* s for an error message, escaped once by base's escaper (docs/logs.md,
 * "Escaping"), at most ECHO_MAX bytes of it, a cut shown as "...". */
const char *rc_cfg_escape(const char *s, char out[RC_CFG_ECHO_BUF], bool quote)
{
    size_t len = strlen(s);
    size_t o = 0;

    if (quote)
        out[o++] = '\'';
    o += rc_text_escape_cut(s, len < ECHO_MAX ? len : ECHO_MAX, RC_TEXT_BARE, out + o,
                            RC_CFG_ECHO_BUF - o - 5);
    if (len > ECHO_MAX) {
        memcpy(out + o, "...", 3);
        o += 3;
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
    case KT_ADDR: {
        struct in_addr in;

        if (s[0] != '\0' && inet_pton(AF_INET, s, &in) != 1) {
            snprintf(msg, msglen, "invalid address %s (a numeric IPv4 address, e.g. 10.0.0.5)",
                     rc_cfg_echo(s, q));
            return -EINVAL;
        }
        break;
    }
    case KT_HOST:
        if (s[0] != '\0' && !rc_host_valid(s, strlen(s))) {
            snprintf(msg, msglen, "invalid host %s (A-Z a-z 0-9 . _ : -)", rc_cfg_echo(s, q));
            return -EINVAL;
        }
        break;
    case KT_LISTEN: {
        struct sockaddr_storage ss;
        int sslen;

        if (s[0] != '\0' && rc_http_parse_addr(s, &ss, &sslen) != 0) {
            snprintf(msg, msglen,
                     "invalid address %s (a numeric HOST:PORT: 127.0.0.1:9100, [::1]:9100, "
                     "0.0.0.0:9100)",
                     rc_cfg_echo(s, q));
            return -EINVAL;
        }
        break;
    }
    case KT_COUNT:
        for (i = 0; isdigit((unsigned char)s[i]) && v <= k->max; i++)
            v = v * 10 + (uint64_t)(s[i] - '0');
        if (i == 0 || s[i] != '\0' || v < k->min || v > k->max) {
            snprintf(msg, msglen, "invalid number %s (%llu to %llu)", rc_cfg_echo(s, q),
                     (unsigned long long)k->min, (unsigned long long)k->max);
            return -ERANGE;
        }
        *(uint32_t *)(void *)field = (uint32_t)v;
        return 0;
    case KT_EVENTS: {
        uint32_t mask;
        char why[256];

        if (rc_event_filter_parse(s, &mask, why, sizeof(why)) != 0) {
            snprintf(msg, msglen, "%s", why);
            return -EINVAL;
        }
        break;
    }
    case KT_EXEC:
        if (s[0] != '\0' && (s[0] != '/' || has_control(s))) {
            snprintf(msg, msglen, "%s is not an absolute path", rc_cfg_echo(s, q));
            return -EINVAL;
        }
        if (s[0] != '\0' && access(s, X_OK) != 0) {
            snprintf(msg, msglen, "%s: %s (the hook must be an executable file)", rc_cfg_echo(s, q),
                     strerror(errno));
            return -EINVAL;
        }
        break;
    case KT_DURATION:
        if (rc_duration_from_text(s, strlen(s), &v) < 0) {
            snprintf(msg, msglen, "invalid duration %s (" RC_DURATION_HINT ")", rc_cfg_echo(s, q));
            return -EINVAL;
        }
        if (v < k->min || v > k->max) {
            rc_duration_to_text(k->min, lo, sizeof(lo));
            rc_duration_to_text(k->max, hi, sizeof(hi));
            /* the one rule, stated where it bites: a bare number is ms */
            if (s[strspn(s, "0123456789")] == '\0')
                snprintf(msg, msglen,
                         "%s is out of range (%s to %s): a bare number is milliseconds, "
                         "so this is %llums (" RC_DURATION_HINT ")",
                         rc_cfg_echo(s, q), lo, hi, (unsigned long long)v);
            else
                snprintf(msg, msglen, "%s is out of range (%s to %s)", rc_cfg_echo(s, q), lo, hi);
            return -ERANGE;
        }
        *(uint64_t *)(void *)field = v;
        return 0;
    case KT_PORT:
        for (i = 0; isdigit((unsigned char)s[i]) != 0 && v <= 65535; i++)
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
    case KT_APP_NODE:
        if (strchr(s, '@') != NULL ? !rc_node_name_valid(s) : s[0] != '\0' && !alive_valid(s)) {
            snprintf(msg, msglen,
                     "invalid app node name %s (expected alive@host or alive; alive of A-Z a-z "
                     "0-9 _ -, host of A-Z a-z 0-9 . _ : -)",
                     rc_cfg_echo(s, q));
            return -EINVAL;
        }
        break;
    case KT_BOOL:
        i = rc_cfg_word_index(s, bool_words, sizeof(bool_words) / sizeof(bool_words[0]));
        if (i < 0) {
            snprintf(msg, msglen, "invalid value %s (true or false)", rc_cfg_echo(s, q));
            return -EINVAL;
        }
        *(bool *)(void *)field = (i % 2) == 1;
        return 0;
    case KT_REGNAME:
        for (const char *p = s; *p != '\0'; p++) {
            if (!isalnum((unsigned char)*p) && *p != '_') {
                snprintf(msg, msglen,
                         "invalid registered name %s (letters, digits and _, as an atom)",
                         rc_cfg_echo(s, q));
                return -EINVAL;
            }
        }
        break;
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
    case KT_APP_NODE:
    case KT_REGNAME:
        snprintf(out, outlen, "%s", field[0] != '\0' ? field : "(not set)");
        return;
    case KT_BOOL:
        snprintf(out, outlen, "%s", *(const bool *)(const void *)field ? "true" : "false");
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
    case KT_ADDR:
    case KT_HOST:
    case KT_LISTEN:
    case KT_EXEC:
        snprintf(out, outlen, "%s", field[0] != '\0' ? field : "(not set)");
        return;
    case KT_EVENTS:
        snprintf(out, outlen, "%s", field);
        return;
    case KT_COUNT:
        snprintf(out, outlen, "%u", (unsigned)*(const uint32_t *)(const void *)field);
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
        if (L->src[ki].alt_env != NULL)
            snprintf(out, outlen, "environment %s: ", L->src[ki].alt_env);
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
                          const char *alt_env)
{
    const char *v = getenv(var);
    char msg[512];

    if (v == NULL || v[0] == '\0')
        return; /* empty counts as unset: compose's ${X} of an unset X */
    if (rc_cfg_key_parse(k, v, &L->cfg, msg, sizeof(msg)) < 0) {
        rc_cfg_err_add(L->e, "environment %s: %s", var, msg);
        return;
    }
    L->src[rc_cfg_key_index(k)] = (struct rc_cfg_src){.kind = SRC_ENV, .alt_env = alt_env};
}

static void env_apply(struct rc_cfg_load *L)
{
    char var[64];

    for (size_t i = 0; i < RC_CFG_NKEYS; i++) {
        /* other programs' variables, below ROLLCALL_<KEY> */
        if (strcmp(rc_cfg_keys[i].name, "epmd_port") == 0)
            env_apply_one(L, &rc_cfg_keys[i], "ERL_EPMD_PORT", "ERL_EPMD_PORT");
        if (strcmp(rc_cfg_keys[i].name, "app_node") == 0)
            env_apply_one(L, &rc_cfg_keys[i], "RELEASE_NODE", "RELEASE_NODE");
        if (strcmp(rc_cfg_keys[i].name, "cookie") == 0)
            env_apply_one(L, &rc_cfg_keys[i], "RELEASE_COOKIE", "RELEASE_COOKIE");
        rc_cfg_env_name(&rc_cfg_keys[i], var, sizeof(var));
        env_apply_one(L, &rc_cfg_keys[i], var, NULL);
    }
}

static size_t key_at(size_t offset)
{
    for (size_t i = 0; i < RC_CFG_NKEYS; i++)
        if (rc_cfg_keys[i].offset == offset)
            return i;
    abort(); /* a field without a key is a bug in rc_cfg_keys[] */
}

/* App mode (docs/app.md): RELEASE_COOKIE only where no cookie was given;
 * RELEASE_DISTRIBUTION decides how a bare app_node alive gets its host. */
static void validate_app(struct rc_cfg_load *L)
{
    struct rc_config *c = &L->cfg;
    size_t ki_app = key_at(offsetof(struct rc_config, app_node));
    size_t ki_cookie = key_at(offsetof(struct rc_config, cookie));
    size_t ki_file = key_at(offsetof(struct rc_config, cookie_file));
    const char *dist = getenv("RELEASE_DISTRIBUTION");
    char pre[PATH_MAX + 64], host[RC_HOST_MAX + 1], full[RC_NAME_MAX + RC_HOST_MAX + 2];

    if (L->src[ki_cookie].alt_env != NULL && L->src[ki_file].kind != SRC_DEFAULT) {
        explicit_bzero(c->cookie, sizeof(c->cookie)); /* cookie_file wins over RELEASE_COOKIE */
        L->src[ki_cookie] = (struct rc_cfg_src){.kind = SRC_DEFAULT};
    }
    if (dist != NULL && dist[0] != '\0' && strcmp(dist, "name") != 0 &&
        strcmp(dist, "sname") != 0 && strcmp(dist, "none") != 0)
        rc_cfg_err_add(L->e, "environment RELEASE_DISTRIBUTION: '%s' is not name, sname or none",
                       dist);
    if (dist != NULL && strcmp(dist, "none") == 0 && L->src[ki_app].alt_env != NULL) {
        c->app_node[0] = '\0'; /* an undistributed release: nothing to look after */
        L->src[ki_app] = (struct rc_cfg_src){.kind = SRC_DEFAULT};
    }
    if (c->app_node[0] == '\0')
        return;
    if (strchr(c->app_node, '@') == NULL) {
        if (dist != NULL && strcmp(dist, "sname") == 0) {
            if (gethostname(host, sizeof(host)) != 0)
                snprintf(host, sizeof(host), "localhost");
            host[sizeof(host) - 1] = '\0';
            host[strcspn(host, ".")] = '\0';
        } else {
            snprintf(host, sizeof(host), "%s", strchr(c->name, '@') + 1);
        }
        snprintf(full, sizeof(full), "%s@%s", c->app_node, host);
        if (strlen(full) > RC_NAME_MAX || !rc_node_name_valid(full)) {
            origin(L, ki_app, pre, sizeof(pre));
            rc_cfg_err_add(L->e, "%sapp node name with host %s is not valid", pre, host);
            return;
        }
        memcpy(c->app_node, full, strlen(full) + 1);
    }
    if (strcmp(c->app_node, c->name) == 0) {
        origin(L, ki_app, pre, sizeof(pre));
        rc_cfg_err_add(L->e, "%sthe app cannot have the agent's own name %s", pre, c->name);
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
    validate_app(L);
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
    /* run -- CMD without an app_node: the app is app@<the agent's host> */
    if (cl->child_idx > 0 && L->cfg.app_node[0] == '\0')
        snprintf(L->cfg.app_node, sizeof(L->cfg.app_node), "app");
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
    if (cl.child_idx > 0)
        ret_args->child_argv = &argv[cl.child_idx];

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
            if (g_src[i].alt_env != NULL)
                snprintf(nm, sizeof(nm), "%s", g_src[i].alt_env);
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
    case KT_APP_NODE:
        return "NAME";
    case KT_BOOL:
        return "BOOL";
    case KT_REGNAME:
        return "NAME";
    case KT_ADDR:
        return "IP";
    case KT_HOST:
        return "HOST";
    case KT_LISTEN:
        return "HOST:PORT";
    case KT_COUNT:
        return "N";
    case KT_EVENTS:
        return "EVENTS";
    case KT_EXEC:
        return "PROGRAM";
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
          "  run -- CMD ARGS       the same, with the app CMD as its child (docs/app.md)\n"
          "  members [--json]      list the registry and ping every member (exit 1 if any is "
          "down)\n"
          "  ping NODE             ping one node, or 'self' (exit 0 on pong, 1 on pang)\n"
          "  check-config          print the effective configuration, secrets masked\n"
          "  monitor               stream the running agent's events (over its http)\n"
          "  ready                 the running agent's /readyz: exit 0 when ready\n"
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

/*
 * config.h - configuration (agent/config.c) and the cookie (agent/cookie.c).
 *
 * Defaults < ini file < environment ROLLCALL_<KEY> < command-line --key.
 * One table holds every key with its section, type, bounds and default
 * (agent/config.c; docs/config.md lists them); the ini sections only group
 * keys. Every error is collected (not just the first) and names its origin:
 * "FILE:LINE: ...", "environment ROLLCALL_X: ...", "option --x: ...".
 */
#ifndef ROLLCALL_CONFIG_H
#define ROLLCALL_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "rollcall/epmd.h"
#include "rollcall/handshake.h" /* RC_COOKIE_MAX */
#include "rollcall/names.h"
#include "rollcall/log.h"

#define RC_URL_MAX 2048

struct rc_config {
    /* [node] */
    char name[RC_NAME_MAX + 1]; /* as resolved: always "alive@host" after rc_config_load */
    char cookie[RC_COOKIE_MAX + 1];
    char cookie_file[PATH_MAX];
    enum rc_epmd_mode epmd;
    uint16_t epmd_port;
    uint16_t dist_port_min, dist_port_max;                        /* 0,0 = any */
    char tls_cert[PATH_MAX], tls_key[PATH_MAX], tls_ca[PATH_MAX]; /* "" = plain (docs/tls.md) */
    bool tls_required;
    uint64_t silence_timeout_ms;     /* close an established peer silent this long */
    char bind[64];                   /* numeric IPv4; "" = by the name (sweep.c) */
    char advertise[RC_HOST_MAX + 1]; /* host published; "" = the name's */
    /* [registry] */
    char registry[RC_URL_MAX];
    uint64_t stale_after_ms;
    uint64_t prune_after_ms;
    uint64_t heartbeat_ms; /* 0 = stale_after / 2 */
    uint64_t resync_ms;    /* 0 = list every interval */
    /* [agent] */
    uint64_t interval_ms;
    uint64_t ping_timeout_ms;
    /* [app] (docs/app.md) */
    char app_node[RC_NAME_MAX + 1]; /* "" = app mode off; always alive@host after a load */
    uint16_t app_port;              /* 0 = ask EPMD */
    bool app_disconnect;
    char app_notify[256]; /* registered name told of dead peers; "" = off */
    /* [log] */
    enum rc_log_format log_format;
    enum rc_log_level log_level;
    char log_file[PATH_MAX];
    /* [ops] (docs/operations.md) */
    char http[80];             /* HOST:PORT of the operator endpoint; "" = off */
    uint32_t expect;           /* /readyz wants this many peers answering */
    char on_event[PATH_MAX];   /* the event hook; "" = none */
    char on_event_filter[256]; /* comma-separated event names, "*" = all */
    uint64_t hook_timeout_ms;
    /* where the ini came from ("" = none) */
    char config_file[PATH_MAX];
};

/* What the command line asked for besides configuration. */
enum rc_command {
    RC_CMD_RUN = 0,
    RC_CMD_MEMBERS,
    RC_CMD_PING,
    RC_CMD_CHECK_CONFIG,
    RC_CMD_MONITOR, /* the running agent's events, over its http endpoint */
    RC_CMD_READY,   /* the running agent's /readyz: exit 0 if ready */
};
struct rc_args {
    enum rc_command command;
    const char *target; /* ping NODE */
    bool json;          /* members --json */
    char **child_argv;  /* run -- CMD ARGS: CMD and its arguments (NULL-terminated), or NULL */
    bool help;
    bool version;
};

/* Fills the defaults. */
void rc_config_defaults(struct rc_config *c);

/* Parses argv (flags and the command), reads the ini named by -c/--config or
 * ROLLCALL_CONFIG (none by default), applies the environment, then the flags,
 * validates the whole, and resolves the node name (a bare "name" or no name
 * gets "@<first global IPv4>", falling back to 127.0.0.1). On failure returns
 * -EINVAL and err holds every error, one per line. ret_args is filled even on
 * failure as far as argv was understood (so --help works with bad config). */
int rc_config_load(struct rc_config *ret, struct rc_args *ret_args, int argc, char *argv[],
                   char *err, size_t errlen);
/* rc_config_load also overwrites the value of a --cookie flag in argv with
 * '*' bytes so that it never shows in ps or /proc/PID/cmdline. It keeps a
 * private copy of argv for rc_config_reload. */

/* SIGHUP: re-reads the same ini, environment and flags. Returns 0 only if
 * the whole validates (else -EINVAL, every error in err, *ret untouched). */
int rc_config_reload(const struct rc_config *cur, struct rc_config *ret, char *err, size_t errlen);
/* On success *ret is *cur with the keys SIGHUP may change (the table's
 * reload flag: interval, ping_timeout, stale_after, prune_after and the log
 * keys) re-read; err then names the other keys whose value changed and
 * waits for a restart ("name, registry"), or is "". */

/* --help and `rollcall help`: the commands and every key as a flag with its
 * doc line and default, from the key table. */
void rc_config_usage(FILE *out);

/* check-config: prints every key as "section.key = value  (source)" with
 * secrets masked (cookie, passwords in the registry URL). */
void rc_config_print(const struct rc_config *c, FILE *out);

/* The cookie: cfg->cookie if set; else cfg->cookie_file; else Erlang's own
 * lookup ($HOME/.erlang.cookie, then $XDG_CONFIG_HOME/erlang/.erlang.cookie,
 * else creates $HOME/.erlang.cookie with 20 random A-Z, mode 0400). A cookie
 * file must be a regular file without group/other permission bits (-EPERM
 * with a clear message otherwise). Printable bytes up to the first other byte
 * are the cookie; only '\n', '\r', ' ' may follow. Never logs the cookie. */
int rc_cookie_load(const struct rc_config *cfg, char *out, size_t outlen, size_t *ret_len,
                   char *err, size_t errlen);

#endif

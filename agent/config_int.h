/*
 * config_int.h - the parts of the configuration code that its files share
 * (agent/config.c, config_ini.c, config_argv.c). Private: nothing outside
 * agent/config*.c and the configuration tests includes it.
 *
 * The key table (rc_cfg_keys, config.c) is the whole configuration surface;
 * one load (struct rc_cfg_load) fills a struct rc_config layer by layer and
 * remembers where each value came from; every error goes into one struct
 * rc_cfg_errs, one per line, so that a run shows everything that is wrong.
 */
#ifndef ROLLCALL_CONFIG_INT_H
#define ROLLCALL_CONFIG_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rollcall/config.h"
#include "rollcall/text.h"

#define ECHO_MAX 64 /* bytes of a bad value quoted back in an error */
#define RC_CFG_ECHO_BUF (ECHO_MAX * RC_TEXT_ESC_MAX + 16)
#define RC_CFG_NKEYS 33 /* rows of rc_cfg_keys (checked in config.c) */

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
    KT_APP_NODE, /* node name or bare alive, "" = off; completed by validate() */
    KT_BOOL,     /* bool: true/false, yes/no, on/off, 1/0 */
    KT_REGNAME,  /* a registered process name: [A-Za-z0-9_], "" = none */
    KT_ADDR,     /* numeric IPv4 address, "" = none */
    KT_HOST,     /* a host name or address, "" = none */
    KT_LISTEN,   /* numeric HOST:PORT, "" = off */
    KT_COUNT,    /* uint32_t, min..max */
    KT_EVENTS,   /* an event filter (hooks.h) */
    KT_EXEC,     /* absolute path of an executable file, "" = none */
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
    bool reload; /* SIGHUP applies a new value; otherwise it waits for a restart */
    const char *doc;
};

/* The configuration surface, RC_CFG_NKEYS rows. */
extern const struct rc_key rc_cfg_keys[RC_CFG_NKEYS];

/* Where a value came from. */
enum src_kind { SRC_DEFAULT = 0, SRC_FILE, SRC_ENV, SRC_FLAG };

struct rc_cfg_src {
    enum src_kind kind;
    unsigned line;       /* SRC_FILE */
    const char *alt_env; /* SRC_ENV: ERL_EPMD_PORT, RELEASE_NODE... rather than ROLLCALL_X */
};

/* Collected errors, one per line; n counts them all, also those cut off. */
struct rc_cfg_errs {
    char *buf;
    size_t cap;
    size_t len;
    unsigned n;
};

/* One load: the configuration, where each value came from, the errors. */
struct rc_cfg_load {
    struct rc_config cfg;
    struct rc_cfg_src src[RC_CFG_NKEYS];
    bool name_auto_host;
    struct rc_cfg_errs *e;
};

/* What argv said, before it is applied (config_argv.c). */
struct rc_cfg_cmdline {
    struct rc_args args;
    int target_idx;                /* ping NODE: index in argv, 0 = none */
    int child_idx;                 /* run -- CMD: index of CMD in argv, 0 = none */
    const char *config;            /* -c / --config */
    const char *val[RC_CFG_NKEYS]; /* the last --key value of each key */
};

/* config.c */
void rc_cfg_err_add(struct rc_cfg_errs *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* s for an error message: control bytes as \xNN, long values cut; quoted if quote. */
const char *rc_cfg_escape(const char *s, char out[RC_CFG_ECHO_BUF], bool quote);
/* 'value', quoted and escaped. */
const char *rc_cfg_echo(const char *s, char out[RC_CFG_ECHO_BUF]);
/* Index of s in words[0..n) ignoring case, or -1. */
int rc_cfg_word_index(const char *s, const char *const *words, size_t n);
/* Parses s as key k's type into c; on failure a message (never a secret's
 * value, never an unmasked URL) and c untouched. 0 / negative errno. */
int rc_cfg_key_parse(const struct rc_key *k, const char *s, struct rc_config *c, char *msg,
                     size_t msglen);
/* The key named name[0..len) ('-' for '_' if dashes), or NULL. */
const struct rc_key *rc_cfg_key_find(const char *name, size_t len, bool dashes);
size_t rc_cfg_key_index(const struct rc_key *k);
void rc_cfg_env_name(const struct rc_key *k, char *out, size_t outlen);  /* ROLLCALL_KEY */
void rc_cfg_flag_name(const struct rc_key *k, char *out, size_t outlen); /* --key */

/* config_ini.c: reads and applies the ini file at path. */
void rc_cfg_ini_load(struct rc_cfg_load *L, const char *path);

/* config_argv.c */
/* Parses argv into cl. scrub, if not NULL, is the caller's own argv (same
 * strings as argv): every --cookie value in it is overwritten with '*', every
 * --registry URL with its masked form. */
void rc_cfg_parse_argv(int argc, char **argv, char **scrub, struct rc_cfg_cmdline *cl,
                       struct rc_cfg_errs *e);
/* Applies the flags of cl to L (they were checked by parse_argv). */
void rc_cfg_flags_apply(struct rc_cfg_load *L, const struct rc_cfg_cmdline *cl);
/* A private copy of argv in one allocation, NULL-terminated; NULL if no memory. */
char **rc_cfg_argv_copy(int argc, char *argv[]);
/* Wipes and frees a copy. NULL is fine. */
void rc_cfg_argv_free(char **argv, int argc);

#endif

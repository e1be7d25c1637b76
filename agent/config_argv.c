/*
 * config_argv.c - the command-line layer of the configuration: the command,
 * its argument and the --key flags; the scrubbing of secrets from the
 * process's own argv (a --cookie value, a password in a --registry URL), so
 * that ps and /proc/PID/cmdline never show them; the private argv copy that
 * SIGHUP re-reads.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"
#include "rollcall/registry.h"

/* In enum rc_command's order. */
static const char *const command_words[] = {"run",          "members", "ping",
                                            "check-config", "monitor", "ready"};

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

void rc_cfg_parse_argv(int argc, char **argv, char **scrub, struct rc_cfg_cmdline *cl,
                       struct rc_cfg_errs *e)
{
    struct rc_config scratch;
    char q[RC_CFG_ECHO_BUF], msg[512], fl[64];
    bool only_positional = false, have_command = false, bad_command = false;

    memset(cl, 0, sizeof(*cl));
    rc_config_defaults(&scratch);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *name, *eq, *val;
        const struct rc_key *k;
        size_t nlen;
        int val_idx = i;

        if (only_positional || a[0] != '-' || a[1] == '\0') {
            int c;

            if (!have_command && strcmp(a, "help") == 0) {
                have_command = true; /* `rollcall help`: the same as --help */
                cl->args.help = true;
            } else if (!have_command) {
                have_command = true;
                c = rc_cfg_word_index(a, command_words,
                                      sizeof(command_words) / sizeof(command_words[0]));
                if (c < 0 || strcmp(a, command_words[c]) != 0) {
                    rc_cfg_err_add(e,
                                   "unknown command %s (run, members, ping NODE, check-config, "
                                   "monitor, ready, help)",
                                   rc_cfg_echo(a, q));
                    bad_command = true;
                } else {
                    cl->args.command = (enum rc_command)c;
                }
            } else if (cl->args.command == RC_CMD_PING && !bad_command && cl->target_idx == 0) {
                cl->target_idx = i;
                cl->args.target = a;
            } else if (!bad_command) {
                rc_cfg_err_add(e, "unexpected argument %s", rc_cfg_echo(a, q));
            }
            continue;
        }
        if (strcmp(a, "--") == 0) {
            if (have_command && cl->args.command == RC_CMD_RUN && !bad_command) {
                /* run -- CMD ARGS: the rest is the app's (docs/app.md) */
                if (i + 1 >= argc)
                    rc_cfg_err_add(e, "run --: missing the command to run");
                else
                    cl->child_idx = i + 1;
                break;
            }
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
                    rc_cfg_err_add(e, "option -c: missing FILE");
            } else {
                rc_cfg_err_add(e, "unknown option %s (see rollcall --help)", rc_cfg_echo(a, q));
            }
            continue;
        }

        /* --name, --name=value, --name value */
        name = a + 2;
        eq = strchr(name, '=');
        nlen = eq != NULL ? (size_t)(eq - name) : strlen(name);
        val = eq != NULL ? eq + 1 : NULL;

        if ((nlen == 4 && memcmp(name, "help", 4) == 0) ||
            (nlen == 7 && memcmp(name, "version", 7) == 0) ||
            (nlen == 4 && memcmp(name, "json", 4) == 0)) {
            if (val != NULL)
                rc_cfg_err_add(e, "option --%.*s takes no value", (int)nlen, name);
            else if (name[0] == 'h')
                cl->args.help = true;
            else if (name[0] == 'v')
                cl->args.version = true;
            else
                cl->args.json = true;
            continue;
        }
        k = rc_cfg_key_find(name, nlen, true);
        if (k == NULL && !(nlen == 6 && memcmp(name, "config", 6) == 0)) {
            char opt[ECHO_MAX + 1];

            snprintf(opt, sizeof(opt), "--%.*s", (int)(nlen < ECHO_MAX - 2 ? nlen : ECHO_MAX - 2),
                     name);
            rc_cfg_err_add(e, "unknown option %s (see rollcall --help)", rc_cfg_echo(opt, q));
            continue;
        }
        if (val == NULL) {
            if (i + 1 >= argc) {
                rc_cfg_err_add(e, "option --%.*s: missing value", (int)nlen, name);
                continue;
            }
            val = argv[++i];
            val_idx = i;
        }
        if (k == NULL) {
            cl->config = val;
            continue;
        }
        rc_cfg_flag_name(k, fl, sizeof(fl));
        if (k->type == KT_COOKIE && scrub != NULL)
            memset(scrub[val_idx] + (val - argv[val_idx]), '*', strlen(val));
        if (k->type == KT_URL && scrub != NULL)
            scrub_url(scrub[val_idx] + (val - argv[val_idx]));
        if (rc_cfg_key_parse(k, val, &scratch, msg, sizeof(msg)) < 0) {
            rc_cfg_err_add(e, "option %s: %s", fl, msg);
            continue;
        }
        cl->val[rc_cfg_key_index(k)] = val;
    }
    if (cl->args.command == RC_CMD_PING && cl->target_idx == 0 && !bad_command)
        rc_cfg_err_add(e, "ping: missing NODE (rollcall ping NAME@HOST)");
    if (cl->args.json && cl->args.command != RC_CMD_MEMBERS && !bad_command)
        rc_cfg_err_add(e, "option --json: only with the members command");
    explicit_bzero(&scratch, sizeof(scratch));
}

void rc_cfg_flags_apply(struct rc_cfg_load *L, const struct rc_cfg_cmdline *cl)
{
    char msg[512];

    for (size_t i = 0; i < RC_CFG_NKEYS; i++) {
        if (cl->val[i] == NULL)
            continue;
        if (rc_cfg_key_parse(&rc_cfg_keys[i], cl->val[i], &L->cfg, msg, sizeof(msg)) ==
            0) /* checked before */
            L->src[i] = (struct rc_cfg_src){.kind = SRC_FLAG};
    }
}

char **rc_cfg_argv_copy(int argc, char *argv[])
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

void rc_cfg_argv_free(char **argv, int argc)
{
    if (argv == NULL)
        return;
    for (int i = 0; i < argc; i++)
        explicit_bzero(argv[i], strlen(argv[i]));
    free(argv);
}

/*
 * main.c - parse the configuration, pick the command, run it.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "rollcall/cli.h"
#include "rollcall/config.h"
#include "rollcall/log.h"
#include "rollcall/node.h"
#include "rollcall/notify.h"
#include "rollcall/ops.h"
#include "rollcall/sweep.h"

int main(int argc, char *argv[])
{
    static struct rc_config cfg;
    static char err[16384];
    struct rc_args args;
    char cookie[RC_COOKIE_MAX + 1];
    size_t cookie_len = 0;
    int r, rc;

    memset(&args, 0, sizeof(args));
    /* Backends write to sockets (hiredis with write(2)); a peer that hangs
     * up must give EPIPE, not kill the process. */
    signal(SIGPIPE, SIG_IGN);
    r = rc_config_load(&cfg, &args, argc, argv, err, sizeof(err));
    if (args.help) {
        rc_config_usage(stdout);
        return 0;
    }
    if (args.version) {
        printf("rollcall %s\n", ROLLCALL_VERSION);
        return 0;
    }
    if (r != 0) {
        fprintf(stderr, "rollcall: configuration error%s:\n%s\n",
                strchr(err, '\n') != NULL ? "s" : "", err);
        /* The daemon says EX_CONFIG, so that systemd does not restart a
         * unit that cannot start (RestartPreventExitStatus=78); the
         * one-shot commands keep 2. */
        return args.command == RC_CMD_RUN ? EX_CONFIG : 2;
    }
    rc_log_set_format(cfg.log_format);
    rc_log_set_level(args.command == RC_CMD_RUN      ? cfg.log_level
                     : cfg.log_level == RC_LOG_DEBUG ? RC_LOG_DEBUG
                                                     : RC_LOG_WARN);

    /* Under systemd, stderr is the journal: give each line its priority. */
    if (args.command == RC_CMD_RUN && cfg.log_file[0] == '\0' && rc_journal_is_stderr())
        rc_log_set_journal(true);

    /* The running agent's endpoint: no cookie, no registry needed. */
    if (args.command == RC_CMD_MONITOR || args.command == RC_CMD_READY) {
        if (cfg.http[0] == '\0') {
            fprintf(stderr,
                    "rollcall: %s needs the agent's http address: run it with the "
                    "agent's -c, or give --http HOST:PORT\n",
                    args.command == RC_CMD_MONITOR ? "monitor" : "ready");
            return 2;
        }
        return args.command == RC_CMD_MONITOR ? rc_monitor_run(cfg.http, stdout, 0)
                                              : rc_ready_run(cfg.http, stdout);
    }
    if (args.command == RC_CMD_CHECK_CONFIG)
        rc_config_print(&cfg, stdout);
    if (rc_cookie_load(&cfg, cookie, sizeof(cookie), &cookie_len, err, sizeof(err)) != 0) {
        fprintf(stderr, "rollcall: %s\n", err);
        return 2;
    }

    switch (args.command) {
    case RC_CMD_CHECK_CONFIG:
        rc = 0;
        break;
    case RC_CMD_MEMBERS:
        rc = rc_cli_members(&cfg, (const uint8_t *)cookie, cookie_len, args.json, stdout);
        break;
    case RC_CMD_PING:
        rc = rc_cli_ping(&cfg, (const uint8_t *)cookie, cookie_len, args.target, stdout);
        break;
    default:
        rc_node_raise_fd_limit();
        if (cfg.log_file[0] != '\0' && rc_log_open(cfg.log_file, err, sizeof(err)) != 0) {
            fprintf(stderr, "rollcall: %s\n", err);
            explicit_bzero(cookie, sizeof(cookie));
            return 2;
        }
        rc = rc_agent_run(&cfg, (const uint8_t *)cookie, cookie_len, args.child_argv);
        break;
    }
    explicit_bzero(cookie, sizeof(cookie));
    rc_log_close();
    return rc;
}

/*
 * main.c - parse the configuration, pick the command, run it.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "rollcall/cli.h"
#include "rollcall/config.h"
#include "rollcall/log.h"
#include "rollcall/node.h"
#include "rollcall/sweep.h"

static void usage(FILE *out)
{
    fputs("usage: rollcall [options] [command]\n"
          "\n"
          "commands:\n"
          "  run                 run the agent in the foreground (the default)\n"
          "  members [--json]    list the registry and ping every member (exit 1 if any is down)\n"
          "  ping NODE           ping one node, or 'self' (exit 0 on pong, 1 on pang)\n"
          "  check-config        print the effective configuration, secrets masked\n"
          "\n"
          "options:\n"
          "  -c, --config FILE   ini file (also ROLLCALL_CONFIG)\n"
          "  --name NAME         node name, name@host (default rollcall@<first global IPv4>)\n"
          "  --cookie-file FILE  the shared secret (default: Erlang's ~/.erlang.cookie)\n"
          "  --epmd MODE         auto | system | embedded | off\n"
          "  --epmd-port PORT    EPMD port (4369; also ERL_EPMD_PORT)\n"
          "  --dist-port-min N, --dist-port-max N   distribution listen range\n"
          "  --registry URL      file:///dir, redis://, postgres://, s3://bucket/prefix?...\n"
          "  --interval D        time between sweeps (1s)\n"
          "  --ping-timeout D    deadline of one ping, all steps (500ms)\n"
          "  --stale-after D, --prune-after D   two-stage expiry (10s, 30s)\n"
          "  --log-format F      elixir | text | json\n"
          "  --log-level L       error | warning | info | debug\n"
          "  --log-file FILE     log to FILE instead of stderr (reopened on SIGHUP)\n"
          "  -h, --help          this help;  -V, --version  the version\n"
          "\n"
          "Every option is also an ini key and a ROLLCALL_<KEY> environment variable;\n"
          "precedence: defaults < ini < environment < options. See docs/config.md.\n",
          out);
}

int main(int argc, char *argv[])
{
    static struct rc_config cfg;
    struct rc_args args;
    static char err[16384];
    memset(&args, 0, sizeof args);
    /* Backends write to sockets (hiredis with write(2)); a peer that hangs
     * up must give EPIPE, not kill the process. */
    signal(SIGPIPE, SIG_IGN);
    int r = rc_config_load(&cfg, &args, argc, argv, err, sizeof err);
    if (args.help) {
        usage(stdout);
        return 0;
    }
    if (args.version) {
        printf("rollcall %s\n", ROLLCALL_VERSION);
        return 0;
    }
    if (r != 0) {
        fprintf(stderr, "rollcall: configuration error%s:\n%s\n", strchr(err, '\n') ? "s" : "",
                err);
        return 2;
    }
    rc_log_set_format(cfg.log_format);
    rc_log_set_level(args.command == RC_CMD_RUN      ? cfg.log_level
                     : cfg.log_level == RC_LOG_DEBUG ? RC_LOG_DEBUG
                                                     : RC_LOG_WARN);

    if (args.command == RC_CMD_CHECK_CONFIG) {
        rc_config_print(&cfg, stdout);
        char cookie[RC_COOKIE_MAX + 1];
        size_t cookie_len = 0;
        if (rc_cookie_load(&cfg, cookie, sizeof cookie, &cookie_len, err, sizeof err) != 0) {
            fprintf(stderr, "rollcall: %s\n", err);
            return 2;
        }
        memset(cookie, 0, sizeof cookie);
        return 0;
    }

    char cookie[RC_COOKIE_MAX + 1];
    size_t cookie_len = 0;
    if (rc_cookie_load(&cfg, cookie, sizeof cookie, &cookie_len, err, sizeof err) != 0) {
        fprintf(stderr, "rollcall: %s\n", err);
        return 2;
    }

    int rc;
    switch (args.command) {
    case RC_CMD_MEMBERS:
        rc = rc_cli_members(&cfg, (const uint8_t *)cookie, cookie_len, args.json, stdout);
        break;
    case RC_CMD_PING:
        rc = rc_cli_ping(&cfg, (const uint8_t *)cookie, cookie_len, args.target, stdout);
        break;
    default:
        rc_node_raise_fd_limit();
        if (cfg.log_file[0] && rc_log_open(cfg.log_file, err, sizeof err) != 0) {
            fprintf(stderr, "rollcall: %s\n", err);
            return 2;
        }
        rc = rc_agent_run(&cfg, (const uint8_t *)cookie, cookie_len);
        break;
    }
    memset(cookie, 0, sizeof cookie);
    rc_log_close();
    return rc;
}

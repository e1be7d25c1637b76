/*
 * cli.h - the operator commands (agent/cli.c): members, ping, check-config.
 *
 * They use the same backend and distribution code as the agent, directly
 * and synchronously, under a node name of their own ("<alive>-cli-<pid>@host")
 * so that they never disturb the running agent's connections.
 * Exit codes: 0 success (all members / the node answered), 1 some did not,
 * 2 usage, configuration or registry error.
 */
#ifndef ROLLCALL_CLI_H
#define ROLLCALL_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "rollcall/config.h"

/* Lists the registry and pings every entry in parallel; prints a table
 * (or a JSON array with --json) to out. */
int rc_cli_members(const struct rc_config *cfg, const uint8_t *cookie, size_t cookie_len, bool json,
                   FILE *out);

/* Pings one node ("self" = the configured name). Host and port come from
 * its registry entry when there is one, else from the name and EPMD. */
int rc_cli_ping(const struct rc_config *cfg, const uint8_t *cookie, size_t cookie_len,
                const char *target, FILE *out);

#endif

/*
 * sweep.h - the agent: the network loop, the sweep and the daemon's life
 * (agent/sweep.c).
 *
 * Every interval the sweep pings every member of the newest registry
 * snapshot at once, each bounded by ping_timeout, and logs the result when
 * the last answer is in or the deadline passes: so a sweep costs the slowest
 * peer, never the sum. State changes (up, down with its reason, pruned, left)
 * are logged once, as they happen: a lost connection marks its peer down at
 * once, without waiting for the next sweep. The peer states themselves are
 * the peer table's (peers.h); this is the loop around it.
 */
#ifndef ROLLCALL_SWEEP_H
#define ROLLCALL_SWEEP_H

#include "rollcall/config.h"

/* Runs the agent until SIGTERM/SIGINT. cookie is the resolved cookie.
 * child_argv (NULL = none): `rollcall run -- CMD ARGS`, the app as our child
 * (docs/app.md); the agent then runs until the child exits, and returns its
 * status (127 if it cannot be started). Returns the process exit code. */
int rc_agent_run(const struct rc_config *cfg, const uint8_t *cookie, size_t cookie_len,
                 char *const child_argv[]);

#endif

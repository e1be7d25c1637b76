/*
 * child.h - the app as a child of the agent, for `rollcall run -- CMD ARGS`
 * (agent/child.c).
 *
 * One child per process. The child is started with posix_spawnp, with every
 * signal disposition back to its default and an empty signal mask (the agent
 * ignores SIGPIPE and blocks nothing, but the child must not inherit even
 * that), in the agent's process group, with the agent's environment plus the
 * given NAME=VALUE pairs (which replace variables of the same name).
 *
 * SIGCHLD is watched on the caller's event base; every exited child is
 * reaped (as PID 1 in a container the agent inherits orphans too), and the
 * exit callback runs once, from the loop, with the child's status: its exit
 * code, or 128 + the number of the signal that ended it.
 */
#ifndef ROLLCALL_CHILD_H
#define ROLLCALL_CHILD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct event_base;
struct rc_child;

#define RC_CHILD_ENV_MAX 16 /* extra variables */

typedef void (*rc_child_exit_cb)(void *arg, int status);

/* Starts argv[0] (searched in PATH) with argv. NULL with err on failure
 * (e.g. "cannot start 'x': No such file or directory"); *ret_errno (may be
 * NULL) is the errno then. env_extra is a NULL-terminated list of
 * "NAME=VALUE" (at most RC_CHILD_ENV_MAX), may be NULL. */
struct rc_child *rc_child_start(struct event_base *base, char *const argv[],
                                const char *const env_extra[], rc_child_exit_cb cb, void *arg,
                                int *ret_errno, char *err, size_t errlen);

pid_t rc_child_pid(const struct rc_child *c);
/* True until the exit has been seen. */
bool rc_child_running(const struct rc_child *c);
/* Sends sig to the child if it still runs. 0 or -errno. */
int rc_child_signal(struct rc_child *c, int sig);
/* Stops watching (the child, if running, keeps running). NULL is fine. */
void rc_child_free(struct rc_child *c);

/* The exit status of a wait(2) status word: code, or 128 + signal. */
int rc_child_status(int wstatus);

#endif

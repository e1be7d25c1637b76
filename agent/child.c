/*
 * child.c - the app as a child of the agent (include/rollcall/child.h).
 *
 * posix_spawnp rather than fork + exec: glibc reports a failed exec (CMD
 * not found, not executable) as the call's own error, so there is no
 * half-started child to explain, and nothing runs between fork and exec in
 * a process that has threads (the registry worker).
 */
#include "rollcall/child.h"

#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <event2/event.h>

extern char **environ;

struct rc_child {
    struct event_base *base;
    pid_t pid;
    bool running;
    int status;
    struct event *ev_chld;
    struct event *ev_exit; /* delivers the callback from the loop */
    rc_child_exit_cb cb;
    void *arg;
};

int rc_child_status(int wstatus)
{
    if (WIFEXITED(wstatus) != 0)
        return WEXITSTATUS(wstatus);
    if (WIFSIGNALED(wstatus) != 0)
        return 128 + WTERMSIG(wstatus);
    return 1;
}

static void exit_cb(evutil_socket_t fd, short what, void *arg)
{
    struct rc_child *c = arg;

    if (c->cb != NULL)
        c->cb(c->arg, c->status);
}

static void chld_cb(evutil_socket_t sig, short what, void *arg)
{
    struct rc_child *c = arg;
    int ws;
    pid_t p;

    /* Reap everything: our child and any orphan handed to us as PID 1. */
    while ((p = waitpid(-1, &ws, WNOHANG)) > 0) {
        if (p == c->pid && c->running) {
            c->running = false;
            c->status = rc_child_status(ws);
            event_active(c->ev_exit, EV_TIMEOUT, 0);
        }
    }
}

/* environ with the extras replacing same-named variables. */
static char **build_env(const char *const extra[])
{
    size_t n = 0, m = 0, k = 0;
    char **env;

    while (environ != NULL && environ[n] != NULL)
        n++;
    while (extra != NULL && extra[m] != NULL)
        m++;
    env = calloc(n + m + 1, sizeof *env);
    if (env == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        const char *eq = strchr(environ[i], '=');
        size_t klen = eq != NULL ? (size_t)(eq - environ[i]) : strlen(environ[i]);
        bool replaced = false;

        for (size_t j = 0; j < m && !replaced; j++)
            replaced = strncmp(extra[j], environ[i], klen) == 0 && extra[j][klen] == '=';
        if (!replaced)
            env[k++] = environ[i];
    }
    for (size_t j = 0; j < m; j++)
        env[k++] = (char *)extra[j];
    env[k] = NULL;
    return env;
}

struct rc_child *rc_child_start(struct event_base *base, char *const argv[],
                                const char *const env_extra[], rc_child_exit_cb cb, void *arg,
                                int *ret_errno, char *err, size_t errlen)
{
    struct rc_child *c;
    posix_spawnattr_t attr;
    sigset_t all, none;
    char **env;
    size_t m = 0;
    int rv;

    if (ret_errno != NULL)
        *ret_errno = 0;
    while (env_extra != NULL && env_extra[m] != NULL)
        m++;
    if (argv == NULL || argv[0] == NULL || argv[0][0] == '\0' || m > RC_CHILD_ENV_MAX) {
        if (ret_errno != NULL)
            *ret_errno = EINVAL;
        snprintf(err, errlen, "no command to run");
        return NULL;
    }
    c = calloc(1, sizeof *c);
    if (c == NULL)
        goto oom;
    c->base = base;
    c->cb = cb;
    c->arg = arg;
    c->ev_chld = evsignal_new(base, SIGCHLD, chld_cb, c);
    c->ev_exit = event_new(base, -1, 0, exit_cb, c);
    if (c->ev_chld == NULL || c->ev_exit == NULL || event_add(c->ev_chld, NULL) != 0)
        goto oom;
    env = build_env(env_extra);
    if (env == NULL)
        goto oom;

    sigfillset(&all);
    sigdelset(&all, SIGKILL);
    sigdelset(&all, SIGSTOP);
    sigemptyset(&none);
    posix_spawnattr_init(&attr);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    rv = posix_spawnp(&c->pid, argv[0], NULL, &attr, argv, env);
    posix_spawnattr_destroy(&attr);
    free(env);
    if (rv != 0) {
        if (ret_errno != NULL)
            *ret_errno = rv;
        snprintf(err, errlen, "cannot start '%s': %s", argv[0], strerror(rv));
        rc_child_free(c);
        return NULL;
    }
    c->running = true;
    return c;

oom:
    if (ret_errno != NULL)
        *ret_errno = ENOMEM;
    snprintf(err, errlen, "out of memory");
    rc_child_free(c);
    return NULL;
}

pid_t rc_child_pid(const struct rc_child *c)
{
    return c->pid;
}

bool rc_child_running(const struct rc_child *c)
{
    return c != NULL && c->running;
}

int rc_child_signal(struct rc_child *c, int sig)
{
    if (c == NULL || !c->running)
        return -ESRCH;
    if (kill(c->pid, sig) != 0)
        return -errno;
    return 0;
}

void rc_child_free(struct rc_child *c)
{
    if (c == NULL)
        return;
    if (c->ev_chld != NULL)
        event_free(c->ev_chld);
    if (c->ev_exit != NULL)
        event_free(c->ev_exit);
    free(c);
}

/*
 * hooks.c - the event hook runner (contract in hooks.h).
 *
 * State on the loop only: a queue of waiting events (a ring; an event of a
 * node already waiting replaces it) and up to max_running children. Each
 * child has an output pipe read by an event and a kill timer; SIGCHLD (a
 * libevent signal event, so handled on the loop) reaps them by pid, never
 * with waitpid(-1): other children of the process are not ours to reap.
 */
#include "rollcall/hooks.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "rollcall/log.h"
#include "rollcall/metrics.h"

extern char **environ;

struct run {
    struct rc_hooks *h;
    pid_t pid; /* 0 = free slot */
    int out_fd;
    struct event *ev_out, *ev_kill;
    struct rc_event ev;
    char line[RC_HOOK_LINE_MAX + 1];
    size_t line_len;
    size_t logged;  /* output bytes logged so far */
    size_t dropped; /* output bytes past RC_HOOK_LOG_MAX */
    bool killed;
    uint64_t started_ms;
};

struct rc_hooks {
    struct event_base *base;
    char script[4096];
    char self[256];
    uint32_t mask;
    uint64_t timeout_ms;
    unsigned max_running, running;
    struct run *runs; /* max_running slots */
    struct rc_event *queue;
    size_t queue_max, qhead, qlen;
    struct event *ev_chld;
    struct rc_metrics *metrics;
    struct rc_ratelimit rl_behind;
    uint64_t coalesced_unlogged;
};

static void start_next(struct rc_hooks *h);

static void log_output_line(struct run *r)
{
    struct rc_log_field f[] = {RC_LF_S("event", rc_event_name(r->ev.type)),
                               RC_LF_S("node", r->ev.node), RC_LF_S("line", r->line)};
    r->line[r->line_len] = '\0';
    if (r->logged >= RC_HOOK_LOG_MAX) {
        r->dropped += r->line_len;
    } else {
        r->logged += r->line_len;
        rc_log_event(RC_LOG_INFO, "hook_output", f, 3);
    }
    r->line_len = 0;
}

static void drain_output(struct run *r)
{
    char buf[1024];
    for (;;) {
        ssize_t n = read(r->out_fd, buf, sizeof buf);
        ssize_t i;
        if (n <= 0) {
            if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
                event_del(r->ev_out);
                if (r->line_len != 0)
                    log_output_line(r);
            }
            if (n < 0 && errno == EINTR)
                continue;
            return;
        }
        for (i = 0; i < n; i++) {
            if (buf[i] == '\n') {
                log_output_line(r);
                continue;
            }
            if (r->line_len == RC_HOOK_LINE_MAX)
                log_output_line(r); /* a long line is logged in pieces */
            r->line[r->line_len++] = buf[i];
        }
    }
}

static void out_cb(evutil_socket_t fd, short what, void *arg)
{
    drain_output(arg);
}

static void kill_cb(evutil_socket_t fd, short what, void *arg)
{
    struct run *r = arg;
    char d[32];
    struct rc_log_field f[3];
    if (r->pid <= 0)
        return;
    /* The whole process group: a shell script's children too. */
    kill(-r->pid, SIGKILL);
    r->killed = true;
    snprintf(d, sizeof d, "%llums", (unsigned long long)r->h->timeout_ms);
    f[0] = RC_LF_S("event", rc_event_name(r->ev.type));
    f[1] = RC_LF_S("node", r->ev.node);
    f[2] = RC_LF_S("hook_timeout", d);
    rc_log_event(RC_LOG_WARN, "hook_killed", f, 3);
    rc_metrics_hook(r->h->metrics, RC_HOOK_KILLED, 1);
}

static void finish_run(struct run *r, int status)
{
    struct rc_hooks *h = r->h;
    if (r->out_fd >= 0) {
        /* What the hook wrote before it ended; a background grandchild that
         * keeps the pipe open does not keep us reading. */
        drain_output(r);
        if (r->line_len != 0)
            log_output_line(r);
        event_del(r->ev_out);
        close(r->out_fd);
        r->out_fd = -1;
    }
    if (r->dropped != 0)
        rc_log_warn("hook output: %zu more bytes not logged (limit %d per run)", r->dropped,
                    RC_HOOK_LOG_MAX);
    event_del(r->ev_kill);
    if (!r->killed && (!WIFEXITED(status) || WEXITSTATUS(status) != 0)) {
        struct rc_log_field f[] = {
            RC_LF_S("event", rc_event_name(r->ev.type)), RC_LF_S("node", r->ev.node),
            WIFEXITED(status) ? RC_LF_I("status", WEXITSTATUS(status))
                              : RC_LF_I("signal", WIFSIGNALED(status) ? WTERMSIG(status) : 0)};
        rc_log_event(RC_LOG_WARN, "hook_failed", f, 3);
        rc_metrics_hook(h->metrics, RC_HOOK_FAILED, 1);
    }
    r->pid = 0;
    r->killed = false;
    h->running--;
    start_next(h);
}

static void chld_cb(evutil_socket_t sig, short what, void *arg)
{
    struct rc_hooks *h = arg;
    unsigned i;
    for (i = 0; i < h->max_running; i++) {
        struct run *r = &h->runs[i];
        int status = 0;
        pid_t p;
        if (r->pid <= 0)
            continue;
        do
            p = waitpid(r->pid, &status, WNOHANG);
        while (p < 0 && errno == EINTR);
        if (p == r->pid || (p < 0 && errno == ECHILD))
            finish_run(r, p == r->pid ? status : 0);
    }
}

/* environ without our variables and secrets, plus the event's. */
static char **build_env(const struct rc_hooks *h, const struct rc_event *ev, char *own[5])
{
    static const char *const drop[] = {
        "ROLLCALL_EVENT=",  "ROLLCALL_SELF=",      "ROLLCALL_NODE=",
        "ROLLCALL_REASON=", "ROLLCALL_COALESCED=", "ROLLCALL_COOKIE=",
        "NOTIFY_SOCKET=",   "WATCHDOG_PID=",       "WATCHDOG_USEC="};
    size_t n = 0, i, k = 0;
    char **env;
    for (i = 0; environ != NULL && environ[i] != NULL; i++)
        n++;
    env = calloc(n + 6, sizeof *env);
    if (env == NULL)
        return NULL;
    for (i = 0; i < n; i++) {
        bool skip = false;
        size_t d;
        for (d = 0; d < sizeof drop / sizeof drop[0]; d++)
            if (strncmp(environ[i], drop[d], strlen(drop[d])) == 0)
                skip = true;
        if (!skip)
            env[k++] = environ[i];
    }
    if (asprintf(&own[0], "ROLLCALL_EVENT=%s", rc_event_name(ev->type)) < 0)
        own[0] = NULL;
    if (asprintf(&own[1], "ROLLCALL_SELF=%s", h->self) < 0)
        own[1] = NULL;
    if (asprintf(&own[2], "ROLLCALL_NODE=%s", ev->node) < 0)
        own[2] = NULL;
    if (asprintf(&own[3], "ROLLCALL_REASON=%s", ev->reason) < 0)
        own[3] = NULL;
    if (asprintf(&own[4], "ROLLCALL_COALESCED=%u", ev->coalesced) < 0)
        own[4] = NULL;
    for (i = 0; i < 5; i++)
        if (own[i] != NULL)
            env[k++] = own[i];
    env[k] = NULL;
    return env;
}

static int spawn(struct rc_hooks *h, struct run *r)
{
    int in[2] = {-1, -1}, out[2] = {-1, -1};
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    sigset_t all, none;
    char *own[5] = {NULL, NULL, NULL, NULL, NULL};
    char **env = NULL;
    char *argv[] = {h->script, NULL};
    char json[RC_EVENT_JSON_MAX];
    size_t jlen;
    pid_t pid = -1;
    int rc, i;

    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) {
        rc = -errno;
        goto out_pipes;
    }
    env = build_env(h, &r->ev, own);
    if (env == NULL) {
        rc = -ENOMEM;
        goto out_pipes;
    }
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, out[1], 2);
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    posix_spawnattr_init(&at);
    sigfillset(&all);
    sigemptyset(&none);
    posix_spawnattr_setsigdefault(&at, &all);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setpgroup(&at, 0);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF |
                                      POSIX_SPAWN_SETSIGMASK);
    rc = posix_spawn(&pid, h->script, &fa, &at, argv, env);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    if (rc != 0) {
        rc = -rc;
        goto out_pipes;
    }
    close(in[0]);
    in[0] = -1;
    close(out[1]);
    out[1] = -1;
    /* One line into an empty pipe (64 KiB): never blocks; a hook that does
     * not read stdin just never sees it. */
    jlen = rc_event_json(&r->ev, h->self, json, sizeof json);
    fcntl(in[1], F_SETFL, O_NONBLOCK);
    if (write(in[1], json, jlen) < 0 && errno != EPIPE)
        rc_log_debug("hook: cannot write the event to its stdin: %s", strerror(errno));
    close(in[1]);
    in[1] = -1;
    fcntl(out[0], F_SETFL, O_NONBLOCK);
    r->pid = pid;
    r->out_fd = out[0];
    out[0] = -1;
    r->line_len = 0;
    r->logged = 0;
    r->dropped = 0;
    r->killed = false;
    r->started_ms = rc_now_mono_ms();
    event_assign(r->ev_out, h->base, r->out_fd, EV_READ | EV_PERSIST, out_cb, r);
    event_add(r->ev_out, NULL);
    {
        struct timeval tv = {.tv_sec = (time_t)(h->timeout_ms / 1000),
                             .tv_usec = (suseconds_t)(h->timeout_ms % 1000) * 1000};
        event_add(r->ev_kill, &tv);
    }
    rc = 0;
out_pipes:
    for (i = 0; i < 2; i++) {
        if (in[i] >= 0)
            close(in[i]);
        if (out[i] >= 0)
            close(out[i]);
    }
    for (i = 0; i < 5; i++)
        free(own[i]);
    free(env);
    return rc;
}

static void start_next(struct rc_hooks *h)
{
    while (h->qlen != 0 && h->running < h->max_running) {
        struct run *r = NULL;
        unsigned i;
        int rc;
        for (i = 0; i < h->max_running; i++)
            if (h->runs[i].pid == 0) {
                r = &h->runs[i];
                break;
            }
        if (r == NULL)
            return;
        r->ev = h->queue[h->qhead];
        h->qhead = (h->qhead + 1) % h->queue_max;
        h->qlen--;
        rc = spawn(h, r);
        if (rc != 0) {
            struct rc_log_field f[] = {RC_LF_S("event", rc_event_name(r->ev.type)),
                                       RC_LF_S("node", r->ev.node), RC_LF_S("script", h->script),
                                       RC_LF_S("error", strerror(-rc))};
            rc_log_event(RC_LOG_ERROR, "hook_not_started", f, 4);
            rc_metrics_hook(h->metrics, RC_HOOK_FAILED, 1);
            continue;
        }
        h->running++;
        rc_metrics_hook(h->metrics, RC_HOOK_RUN, 1);
    }
}

void rc_hooks_emit(struct rc_hooks *h, const struct rc_event *ev)
{
    size_t i;
    if (h == NULL || (unsigned)ev->type >= RC_EV_COUNT || (h->mask & (1u << ev->type)) == 0)
        return;
    /* Behind: a waiting event of the same node (or the registry) takes the
     * newer state. */
    for (i = 0; i < h->qlen; i++) {
        struct rc_event *w = &h->queue[(h->qhead + i) % h->queue_max];
        bool reg_w = w->type == RC_EV_REGISTRY_DOWN || w->type == RC_EV_REGISTRY_UP;
        bool reg_e = ev->type == RC_EV_REGISTRY_DOWN || ev->type == RC_EV_REGISTRY_UP;
        if (reg_w == reg_e && strcmp(w->node, ev->node) == 0) {
            uint32_t folded = w->coalesced + 1 + ev->coalesced;
            *w = *ev;
            w->coalesced = folded;
            h->coalesced_unlogged++;
            rc_metrics_hook(h->metrics, RC_HOOK_COALESCED, 1);
            goto behind;
        }
    }
    if (h->qlen == h->queue_max) {
        /* Full of distinct nodes: the oldest waiting event gives way. */
        struct rc_event *old = &h->queue[h->qhead];
        rc_log_warn("hooks: queue full (%zu events), dropping the %s of %s", h->queue_max,
                    rc_event_name(old->type), old->node[0] != '\0' ? old->node : "registry");
        h->qhead = (h->qhead + 1) % h->queue_max;
        h->qlen--;
        h->coalesced_unlogged++;
        rc_metrics_hook(h->metrics, RC_HOOK_COALESCED, 1);
    }
    h->queue[(h->qhead + h->qlen) % h->queue_max] = *ev;
    h->qlen++;
    start_next(h);
behind:
    if (h->coalesced_unlogged != 0) {
        uint32_t suppressed = 0;
        if (rc_ratelimit_allow(&h->rl_behind, rc_now_mono_ms(), 1, 10000, &suppressed)) {
            rc_log_warn("hooks are behind (%u running, %zu waiting): %llu events coalesced "
                        "into a later event of the same node",
                        h->running, h->qlen, (unsigned long long)h->coalesced_unlogged);
            h->coalesced_unlogged = 0;
        }
    }
}

struct rc_hooks *rc_hooks_new(struct event_base *base, const struct rc_hooks_opts *o, char *err,
                              size_t errlen)
{
    struct rc_hooks *h;
    struct stat st;
    unsigned i;
    if (o->script[0] != '/') {
        snprintf(err, errlen, "on_event: '%s' is not an absolute path", o->script);
        return NULL;
    }
    if (stat(o->script, &st) != 0) {
        snprintf(err, errlen, "on_event: %s: %s", o->script, strerror(errno));
        return NULL;
    }
    if (!S_ISREG(st.st_mode) || access(o->script, X_OK) != 0) {
        snprintf(err, errlen, "on_event: %s is not an executable file", o->script);
        return NULL;
    }
    h = calloc(1, sizeof *h);
    if (h == NULL)
        goto oom;
    h->base = base;
    snprintf(h->script, sizeof h->script, "%s", o->script);
    snprintf(h->self, sizeof h->self, "%s", o->self != NULL ? o->self : "");
    h->mask = o->mask != 0 ? o->mask : RC_EV_ALL;
    h->timeout_ms = o->timeout_ms != 0 ? o->timeout_ms : 10000;
    h->max_running = o->max_running != 0 ? o->max_running : 4;
    h->queue_max = o->queue_max != 0 ? o->queue_max : RC_HOOK_QUEUE_MAX;
    h->metrics = o->metrics;
    h->runs = calloc(h->max_running, sizeof *h->runs);
    h->queue = calloc(h->queue_max, sizeof *h->queue);
    h->ev_chld = evsignal_new(base, SIGCHLD, chld_cb, h);
    if (h->runs == NULL || h->queue == NULL || h->ev_chld == NULL)
        goto oom;
    for (i = 0; i < h->max_running; i++) {
        struct run *r = &h->runs[i];
        r->h = h;
        r->out_fd = -1;
        r->ev_out = event_new(base, -1, 0, out_cb, r);
        r->ev_kill = evtimer_new(base, kill_cb, r);
        if (r->ev_out == NULL || r->ev_kill == NULL)
            goto oom;
    }
    event_add(h->ev_chld, NULL);
    return h;
oom:
    rc_hooks_free(h);
    snprintf(err, errlen, "out of memory");
    return NULL;
}

void rc_hooks_counts(const struct rc_hooks *h, unsigned *running, size_t *queued)
{
    *running = h->running;
    *queued = h->qlen;
}

void rc_hooks_free(struct rc_hooks *h)
{
    unsigned i;
    if (h == NULL)
        return;
    for (i = 0; h->runs != NULL && i < h->max_running; i++) {
        struct run *r = &h->runs[i];
        if (r->pid > 0) {
            int status;
            kill(-r->pid, SIGKILL);
            while (waitpid(r->pid, &status, 0) < 0 && errno == EINTR)
                ;
        }
        if (r->out_fd >= 0)
            close(r->out_fd);
        if (r->ev_out != NULL)
            event_free(r->ev_out);
        if (r->ev_kill != NULL)
            event_free(r->ev_kill);
    }
    if (h->ev_chld != NULL)
        event_free(h->ev_chld);
    free(h->runs);
    free(h->queue);
    free(h);
}

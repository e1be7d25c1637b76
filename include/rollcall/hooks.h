/*
 * hooks.h - membership events and the event hook runner.
 *
 * Events (agent/hooks_event.c, pure): what the agent tells the outside
 * world when a peer or the registry changes state. The same JSON line goes
 * to a hook's stdin and to `rollcall monitor` (GET /events).
 *
 * The runner (agent/hooks.c), Serf-style: on_event = /path/to/script runs
 * once per event that passes the filter, with ROLLCALL_EVENT, ROLLCALL_SELF,
 * ROLLCALL_NODE, ROLLCALL_REASON and ROLLCALL_COALESCED in its environment
 * and the event's JSON line on stdin. It never blocks the loop: the script
 * is spawned (posix_spawn, its own process group, no inherited fds beyond
 * 0-2, default signal dispositions, ROLLCALL_COOKIE and NOTIFY_SOCKET
 * removed from its environment), its output is read without blocking and
 * logged line by line up to RC_HOOK_LOG_MAX bytes per run, at most
 * max_running hooks run at once, and one that outlives hook_timeout has its
 * whole process group killed (SIGKILL). Events that arrive while
 * max_running hooks run wait in a queue; when an event of a node is already
 * waiting, the newer one takes its place (the node's latest state wins) and
 * the count of events folded in travels with it (ROLLCALL_COALESCED,
 * "coalesced"). The runner logs, rate-limited, when that happens.
 */
#ifndef ROLLCALL_HOOKS_H
#define ROLLCALL_HOOKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum rc_event_type {
    RC_EV_PEER_UP = 0,
    RC_EV_PEER_DOWN,
    RC_EV_PEER_PRUNED,
    RC_EV_PEER_LEFT,
    RC_EV_REGISTRY_DOWN,
    RC_EV_REGISTRY_UP,
};
#define RC_EV_COUNT 6
#define RC_EV_ALL ((1u << RC_EV_COUNT) - 1)

#define RC_EVENT_TEXT_MAX 256  /* node and reason, each */
#define RC_EVENT_JSON_MAX 8192 /* 3 strings of 255 bytes, each escaped up to 8x */

struct rc_event {
    enum rc_event_type type;
    int64_t ts_ms;                  /* unix */
    char node[RC_EVENT_TEXT_MAX];   /* "" for registry events */
    char reason[RC_EVENT_TEXT_MAX]; /* "" if none */
    double rtt_ms;                  /* peer_up; < 0 if none */
    uint32_t coalesced;             /* events folded into this one */
};

/* "peer_up", ... Never NULL. */
const char *rc_event_name(enum rc_event_type t);
/* Parses a comma-separated list of event names ("*" or "all" = every
 * event; blanks around names are fine) into a bit mask (1u << type).
 * -EINVAL with the offending name in err. */
int rc_event_filter_parse(const char *s, uint32_t *ret_mask, char *err, size_t errlen);
/* Fills ev (text fields truncated to fit). node and reason may be NULL. */
void rc_event_init(struct rc_event *ev, enum rc_event_type t, const char *node, const char *reason,
                   double rtt_ms, int64_t ts_ms);
/* One JSON object and a '\n':
 * {"event":"peer_down","self":"a@h","node":"b@h","reason":"timeout",
 *  "ts":"2026-12-06T07:40:01.123Z","coalesced":0}
 * plus "rtt_ms" for peer_up. Strings are escaped by rc_text_escape's JSON
 * mode (controls \u00NN, an invalid byte the text \\xNN). Returns the length
 * written (always < cap when cap >= RC_EVENT_JSON_MAX). */
size_t rc_event_json(const struct rc_event *ev, const char *self, char *out, size_t cap);

/* s (at most RC_EVENT_TEXT_MAX bytes) as a JSON string with its quotes,
 * escaped as above, into out. Returns the length, or 0 (out = "") if it
 * does not fit: cap >= RC_TEXT_ESC_MAX * strlen + 3 always fits. */
size_t rc_json_quote(const char *s, char *out, size_t cap);

/* ---- the runner ---- */

#define RC_HOOK_LOG_MAX 4096
#define RC_HOOK_LINE_MAX 512
#define RC_HOOK_QUEUE_MAX 4096 /* a cluster of thousands comes up at once */

struct event_base;
struct rc_metrics;
struct rc_hooks;

struct rc_hooks_opts {
    const char *script; /* absolute path, executable */
    uint32_t mask;      /* RC_EV_ALL if 0 */
    uint64_t timeout_ms;
    unsigned max_running; /* 4 if 0 */
    size_t queue_max;     /* RC_HOOK_QUEUE_MAX if 0 */
    const char *self;
    struct rc_metrics *metrics; /* may be NULL */
};

/* NULL with err set if the script is not an executable file. */
struct rc_hooks *rc_hooks_new(struct event_base *base, const struct rc_hooks_opts *o, char *err,
                              size_t errlen);
/* Queues or starts the hook for ev (if the filter lets it through). */
void rc_hooks_emit(struct rc_hooks *h, const struct rc_event *ev);
/* Running hooks and queued events, for tests and /metrics. */
void rc_hooks_counts(const struct rc_hooks *h, unsigned *running, size_t *queued);
/* Kills the running hooks' process groups, reaps them, drops the queue.
 * NULL is fine. */
void rc_hooks_free(struct rc_hooks *h);

#endif

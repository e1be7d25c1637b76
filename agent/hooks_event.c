/*
 * hooks_event.c - event names, the event filter and the event's JSON line
 * (contract in hooks.h). Pure: no I/O, no logging.
 */
#include "rollcall/hooks.h"

#include "rollcall/isotime.h"
#include "rollcall/text.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const char *const names[RC_EV_COUNT] = {"peer_up",   "peer_down",     "peer_pruned",
                                               "peer_left", "registry_down", "registry_up"};

const char *rc_event_name(enum rc_event_type t)
{
    if ((unsigned)t >= RC_EV_COUNT)
        return "unknown";
    return names[t];
}

int rc_event_filter_parse(const char *s, uint32_t *ret_mask, char *err, size_t errlen)
{
    uint32_t mask = 0;
    const char *p = s;
    while (*p != '\0') {
        const char *b, *e;
        size_t n, i;
        bool found = false;
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (*p == '\0')
            break;
        b = p;
        while (*p != '\0' && *p != ',')
            p++;
        e = p;
        while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        n = (size_t)(e - b);
        if ((n == 1 && b[0] == '*') || (n == 3 && memcmp(b, "all", 3) == 0)) {
            mask = RC_EV_ALL;
            continue;
        }
        for (i = 0; i < RC_EV_COUNT; i++) {
            if (strlen(names[i]) == n && memcmp(names[i], b, n) == 0) {
                mask |= 1u << i;
                found = true;
            }
        }
        if (!found) {
            snprintf(err, errlen,
                     "unknown event '%.*s' (expected a comma-separated list of peer_up, "
                     "peer_down, peer_pruned, peer_left, registry_down, registry_up, or *)",
                     (int)(n > 64 ? 64 : n), b);
            return -EINVAL;
        }
    }
    if (mask == 0) {
        snprintf(err, errlen, "empty event filter (use * for every event)");
        return -EINVAL;
    }
    *ret_mask = mask;
    return 0;
}

void rc_event_init(struct rc_event *ev, enum rc_event_type t, const char *node, const char *reason,
                   double rtt_ms, int64_t ts_ms)
{
    memset(ev, 0, sizeof *ev);
    ev->type = t;
    ev->ts_ms = ts_ms;
    ev->rtt_ms = rtt_ms;
    snprintf(ev->node, sizeof ev->node, "%s", node != NULL ? node : "");
    snprintf(ev->reason, sizeof ev->reason, "%s", reason != NULL ? reason : "");
}

struct jb {
    char *out;
    size_t cap, len;
};

static void jb_put(struct jb *b, const char *s, size_t n)
{
    if (b->len + n < b->cap) {
        memcpy(b->out + b->len, s, n);
        b->len += n;
    } else {
        b->len = b->cap; /* mark full; nothing more fits */
    }
}

/* A JSON string: the base layer's one escaper, in its JSON mode. */
static void jb_str(struct jb *b, const char *s)
{
    char esc[RC_EVENT_TEXT_MAX * RC_TEXT_ESC_MAX + 1];
    size_t n = strlen(s), used = 0;
    size_t len = rc_text_escape(s, n, RC_TEXT_JSON, esc, sizeof esc, &used);
    if (used != n) {
        b->len = b->cap; /* longer than any field we write: mark full */
        return;
    }
    jb_put(b, "\"", 1);
    jb_put(b, esc, len);
    jb_put(b, "\"", 1);
}

size_t rc_json_quote(const char *s, char *out, size_t cap)
{
    struct jb b = {.out = out, .cap = cap, .len = 0};
    if (cap == 0)
        return 0;
    jb_str(&b, s);
    if (b.len >= cap)
        b.len = 0;
    out[b.len] = '\0';
    return b.len;
}

size_t rc_event_json(const struct rc_event *ev, const char *self, char *out, size_t cap)
{
    struct jb b = {.out = out, .cap = cap, .len = 0};
    char ts[RC_ISOTIME_LEN], num[48];
    if (cap == 0)
        return 0;
    rc_time_format_iso(ev->ts_ms, ts);
    jb_put(&b, "{\"event\":", 9);
    jb_str(&b, rc_event_name(ev->type));
    jb_put(&b, ",\"self\":", 8);
    jb_str(&b, self != NULL ? self : "");
    jb_put(&b, ",\"node\":", 8);
    jb_str(&b, ev->node);
    jb_put(&b, ",\"reason\":", 10);
    jb_str(&b, ev->reason);
    jb_put(&b, ",\"ts\":", 6);
    jb_str(&b, ts);
    if (ev->type == RC_EV_PEER_UP && ev->rtt_ms >= 0) {
        snprintf(num, sizeof num, ",\"rtt_ms\":%.3f", ev->rtt_ms);
        jb_put(&b, num, strlen(num));
    }
    snprintf(num, sizeof num, ",\"coalesced\":%u}\n", ev->coalesced);
    jb_put(&b, num, strlen(num));
    if (b.len >= cap) {
        /* Cannot happen with cap >= RC_EVENT_JSON_MAX (the text fields are
         * bounded); still end with a valid, if short, line. */
        b.len = 0;
        jb_put(&b, "{}\n", 3);
    }
    out[b.len] = '\0';
    return b.len;
}

/*
 * hooks_event.c - event names, the event filter and the event's JSON line
 * (contract in hooks.h). Pure: no I/O, no logging.
 */
#include "rollcall/hooks.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

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

/* Length of the valid UTF-8 sequence at s (1-4), or 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    uint32_t cp;
    size_t len, i;
    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        len = 2, cp = s[0] & 0x1f;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        len = 3, cp = s[0] & 0x0f;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        len = 4, cp = s[0] & 0x07;
    else
        return 0;
    if (n < len)
        return 0;
    for (i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
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

static void jb_str(struct jb *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s), i = 0;
    jb_put(b, "\"", 1);
    while (i < n) {
        size_t l = utf8_seq(p + i, n - i);
        char esc[8];
        if (l == 1 && p[i] >= 0x20 && p[i] != 0x7f && p[i] != '"' && p[i] != '\\') {
            jb_put(b, (const char *)p + i, 1);
        } else if (l == 1 && (p[i] == '"' || p[i] == '\\')) {
            esc[0] = '\\';
            esc[1] = (char)p[i];
            jb_put(b, esc, 2);
        } else if (l > 1) {
            jb_put(b, (const char *)p + i, l);
        } else {
            snprintf(esc, sizeof esc, "\\u%04x", p[i]);
            jb_put(b, esc, 6);
            l = 1;
        }
        i += l;
    }
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
    char ts[96], num[48];
    time_t sec = (time_t)(ev->ts_ms / 1000);
    struct tm tm;
    if (cap == 0)
        return 0;
    gmtime_r(&sec, &tm);
    snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ev->ts_ms % 1000));
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

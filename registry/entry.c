/*
 * entry.c - the entry text format (store.h), shared by the file and S3
 * backends; part of the store library every backend module links.
 *
 *   2026-11-20T22:54:17.123Z          first line: ISO-8601 UTC refresh time
 *   name=rollcall@10.0.0.5
 *   host=10.0.0.5
 *   port=0
 *   started_at=2026-11-20T22:50:01.000Z
 *
 * The store's own name for the entry (file or object name) is what makes it
 * an entry, so the parser is strict about names and bytes and lenient about
 * content: the classic Elixir setup writes only a timestamp, other writers
 * may write anything. The rule, documented in docs/registry.md:
 *
 *   rejected (-EPROTO): a text over RC_ENTRY_TEXT_MAX, a line over
 *     RC_ENTRY_LINE_MAX, a NUL or other control byte (C0, DEL, C1) except
 *     '\n' and a '\r' right before '\n' or at the end, invalid UTF-8
 *     anywhere, a hint that is not a valid node name, a name= that differs
 *     from the hint, a bad port= (1..5 digits, 0..65535) / host= /
 *     started_at= value, a known key given twice;
 *   tolerated (ignored): a first line that is not a timestamp (updated_at_ms
 *     stays 0, the caller's clock says how old it is), lines that are not
 *     key=value, unknown keys, empty lines, a missing final newline.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "rollcall/err.h"
#include "rollcall/store.h"
#include "rollcall/text.h"

#define RC_ENTRY_LINE_MAX 1024 /* bytes per line, without the line end */

enum rc_entry_kind rc_entry_kind_parse(const char *val, size_t len)
{
    if (len == 5 && memcmp(val, "agent", 5) == 0)
        return RC_KIND_AGENT;
    if (len == 3 && memcmp(val, "app", 3) == 0)
        return RC_KIND_APP;
    return RC_KIND_UNKNOWN;
}

const char *rc_entry_kind_str(enum rc_entry_kind kind)
{
    switch (kind) {
    case RC_KIND_AGENT:
        return "agent";
    case RC_KIND_APP:
        return "app";
    default:
        return "";
    }
}

int rc_entry_format(const struct rc_entry *e, char *out, size_t cap, size_t *ret_len)
{
    char updated[32], started[32] = "";
    const char *kind;
    int n;

    if (memchr(e->name, '\0', sizeof(e->name)) == NULL || !rc_node_name_valid(e->name) ||
        !rc_host_valid(e->host, strnlen(e->host, sizeof(e->host))))
        return -EINVAL;
    rc_time_format_iso(e->updated_at_ms, updated);
    if (e->started_at_ms != 0)
        rc_time_format_iso(e->started_at_ms, started);
    kind = rc_entry_kind_str(e->kind);
    n = snprintf(out, cap, "%s\nname=%s\n%s%s%sport=%u\n%s%s%s%s%s%s", updated, e->name,
                 e->host[0] != '\0' ? "host=" : "", e->host, e->host[0] != '\0' ? "\n" : "",
                 (unsigned)e->port, started[0] != '\0' ? "started_at=" : "", started,
                 started[0] != '\0' ? "\n" : "", kind[0] != '\0' ? "kind=" : "", kind,
                 kind[0] != '\0' ? "\n" : "");
    if (n < 0 || (size_t)n >= cap)
        return -EMSGSIZE;
    if (ret_len != NULL)
        *ret_len = (size_t)n;
    return 0;
}

/*
 * Checks the bytes of the whole text: control bytes and UTF-8. Returns the
 * 1-based line number of the first bad byte and sets *what, or 0 if clean.
 */
static size_t check_bytes(const unsigned char *s, size_t len, const char **what)
{
    size_t line = 1;

    for (size_t i = 0; i < len;) {
        unsigned char c = s[i];
        size_t n;
        uint32_t cp;

        if (c == '\n') {
            line++, i++;
            continue;
        }
        if (c == '\r' && (i + 1 == len || s[i + 1] == '\n')) {
            i++;
            continue;
        }
        if (c < 0x20 || c == 0x7F) {
            *what = c == 0 ? "NUL byte" : "control byte";
            return line;
        }
        n = rc_utf8_decode(s + i, len - i, &cp);
        if (n == 0) {
            *what = "invalid UTF-8";
            return line;
        }
        if (cp >= 0x80 && cp <= 0x9F) {
            *what = "control character";
            return line;
        }
        i += n;
    }
    return 0;
}

/* "key=" with key [a-z0-9_]+: returns the key length, 0 if the line is not one. */
static size_t key_len(const char *s, size_t len)
{
    size_t i = 0;

    while (i < len && ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
        i++;
    return i > 0 && i < len && s[i] == '=' ? i : 0;
}

static bool key_is(const char *key, size_t klen, const char *want)
{
    return klen == strlen(want) && memcmp(key, want, klen) == 0;
}

enum { SEEN_NAME = 1, SEEN_HOST = 2, SEEN_PORT = 4, SEEN_STARTED = 8, SEEN_KIND = 16 };

int rc_entry_parse(const char *text, size_t len, const char *name_hint, struct rc_entry *ret,
                   char *err, size_t errlen)
{
    struct rc_entry e;
    const char *what = NULL;
    size_t lineno, pos;
    unsigned seen = 0;

    if (name_hint == NULL || !rc_node_name_valid(name_hint)) {
        rc_seterr(err, errlen, "not a valid node name");
        return -EPROTO;
    }
    if (len > RC_ENTRY_TEXT_MAX) {
        rc_seterr(err, errlen, "larger than %d bytes", RC_ENTRY_TEXT_MAX);
        return -EPROTO;
    }
    if (len > 0 && text == NULL)
        return -EINVAL;
    lineno = check_bytes((const unsigned char *)text, len, &what);
    if (lineno != 0) {
        rc_seterr(err, errlen, "line %zu: %s", lineno, what);
        return -EPROTO;
    }

    memset(&e, 0, sizeof(e));
    memcpy(e.name, name_hint, strlen(name_hint) + 1);

    for (pos = 0, lineno = 1; pos < len; lineno++) {
        const char *line = text + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t llen = nl != NULL ? (size_t)(nl - line) : len - pos;
        const char *val;
        size_t klen, vlen;

        pos += llen + (nl != NULL);
        if (llen > 0 && line[llen - 1] == '\r')
            llen--;
        if (llen > RC_ENTRY_LINE_MAX) {
            rc_seterr(err, errlen, "line %zu: longer than %d bytes", lineno, RC_ENTRY_LINE_MAX);
            return -EPROTO;
        }
        if (lineno == 1 && rc_time_parse_iso(line, llen, &e.updated_at_ms) == 0)
            continue;
        klen = key_len(line, llen);
        if (klen == 0)
            continue; /* not key=value: tolerated */
        val = line + klen + 1;
        vlen = llen - klen - 1;

        if (key_is(line, klen, "name")) {
            if ((seen & SEEN_NAME) != 0)
                goto duplicate;
            seen |= SEEN_NAME;
            if (vlen != strlen(name_hint) || memcmp(val, name_hint, vlen) != 0) {
                rc_seterr(err, errlen, "line %zu: name= differs from the entry's name", lineno);
                return -EPROTO;
            }
        } else if (key_is(line, klen, "host")) {
            if ((seen & SEEN_HOST) != 0)
                goto duplicate;
            seen |= SEEN_HOST;
            if (!rc_host_valid(val, vlen)) {
                rc_seterr(err, errlen, "line %zu: host= is not a host name or address", lineno);
                return -EPROTO;
            }
            memcpy(e.host, val, vlen);
            e.host[vlen] = '\0';
        } else if (key_is(line, klen, "port")) {
            unsigned long port = 0;

            if ((seen & SEEN_PORT) != 0)
                goto duplicate;
            seen |= SEEN_PORT;
            for (size_t i = 0; i < vlen && i < 5; i++) {
                if (val[i] < '0' || val[i] > '9') {
                    port = 65536;
                    break;
                }
                port = port * 10 + (unsigned long)(val[i] - '0');
            }
            if (vlen == 0 || vlen > 5 || port > 65535) {
                rc_seterr(err, errlen, "line %zu: port= is not a number 0..65535", lineno);
                return -EPROTO;
            }
            e.port = (uint16_t)port;
        } else if (key_is(line, klen, "started_at")) {
            if ((seen & SEEN_STARTED) != 0)
                goto duplicate;
            seen |= SEEN_STARTED;
            if (rc_time_parse_iso(val, vlen, &e.started_at_ms) < 0) {
                rc_seterr(err, errlen, "line %zu: started_at= is not an ISO-8601 UTC time", lineno);
                return -EPROTO;
            }
        } else if (key_is(line, klen, "kind")) {
            /* lenient: an unknown value, or a second kind=, reads as unknown */
            e.kind = (seen & SEEN_KIND) != 0 ? RC_KIND_UNKNOWN : rc_entry_kind_parse(val, vlen);
            seen |= SEEN_KIND;
        }
        /* unknown keys: ignored */
        continue;

    duplicate:
        rc_seterr(err, errlen, "line %zu: %.*s= given twice", lineno, (int)klen, line);
        return -EPROTO;
    }

    *ret = e;
    return 0;
}

int rc_entry_format_body(const struct rc_entry *e, char *out, size_t cap, size_t *ret_len)
{
    size_t len;
    int rv = rc_entry_format(e, out, cap, &len);
    char *nl;

    if (rv < 0)
        return rv;
    nl = memchr(out, '\n', len);
    if (nl == NULL)
        return -EINVAL;
    len -= (size_t)(nl + 1 - out);
    memmove(out, nl + 1, len + 1);
    *ret_len = len;
    return 0;
}

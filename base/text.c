/*
 * text.c - the UTF-8 decoder and the log escaper (text.h).
 */
#include "rollcall/text.h"

#include <stdio.h>
#include <string.h>

size_t rc_utf8_decode(const unsigned char *s, size_t len, uint32_t *ret_cp)
{
    uint32_t cp;
    size_t n;

    if (len == 0)
        return 0;
    if (s[0] < 0x80) {
        n = 1, cp = s[0];
    } else if (s[0] >= 0xC2 && s[0] <= 0xDF) {
        n = 2, cp = s[0] & 0x1Fu;
    } else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        n = 3, cp = s[0] & 0x0Fu;
    } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        n = 4, cp = s[0] & 0x07u;
    } else {
        return 0;
    }
    if (len < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3Fu);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    if (ret_cp != NULL)
        *ret_cp = cp;
    return n;
}

/* The escape of the character or byte at s into tmp; its length in *ret_tn.
 * Returns how many input bytes it covers. */
static size_t escape_one(const unsigned char *s, size_t len, enum rc_text_mode mode,
                         char tmp[RC_TEXT_ESC_MAX + 1], size_t *ret_tn)
{
    uint32_t cp = 0;
    size_t n = rc_utf8_decode(s, len, &cp);
    int tn;

    if (n == 0) { /* not UTF-8: JSON gets the text \xNN (backslash escaped) */
        tn = snprintf(tmp, RC_TEXT_ESC_MAX + 1, mode == RC_TEXT_JSON ? "\\\\x%02x" : "\\x%02x",
                      s[0]);
        n = 1;
    } else if (cp == '\\') {
        tn = snprintf(tmp, RC_TEXT_ESC_MAX + 1, "\\\\");
    } else if (cp == '"' && mode != RC_TEXT_BARE) {
        tn = snprintf(tmp, RC_TEXT_ESC_MAX + 1, "\\\"");
    } else if (cp == '\n') {
        tn = snprintf(tmp, RC_TEXT_ESC_MAX + 1, "\\n");
    } else if (cp == '\t') {
        tn = snprintf(tmp, RC_TEXT_ESC_MAX + 1, "\\t");
    } else if (cp == '\r') {
        tn = snprintf(tmp, RC_TEXT_ESC_MAX + 1, "\\r");
    } else if (cp < 0x20 || cp == 0x7F) {
        tn = snprintf(tmp, RC_TEXT_ESC_MAX + 1, mode == RC_TEXT_JSON ? "\\u%04x" : "\\x%02x",
                      (unsigned)cp);
    } else if (cp >= 0x80 && cp <= 0x9F) { /* C1: some terminals still obey them */
        if (mode == RC_TEXT_JSON)
            tn = snprintf(tmp, RC_TEXT_ESC_MAX + 1, "\\u%04x", (unsigned)cp);
        else
            tn = snprintf(tmp, RC_TEXT_ESC_MAX + 1, "\\x%02x\\x%02x", s[0], s[1]);
    } else {
        memcpy(tmp, s, n);
        tn = (int)n;
    }
    *ret_tn = (size_t)tn;
    return n;
}

size_t rc_text_escape(const char *in, size_t len, enum rc_text_mode mode, char *out, size_t cap,
                      size_t *ret_used)
{
    const unsigned char *s = (const unsigned char *)in;
    size_t i = 0, o = 0;

    if (cap == 0) {
        if (ret_used != NULL)
            *ret_used = 0;
        return 0;
    }
    while (i < len) {
        char tmp[RC_TEXT_ESC_MAX + 1];
        size_t tn, n = escape_one(s + i, len - i, mode, tmp, &tn);

        if (o + tn > cap - 1)
            break;
        memcpy(out + o, tmp, tn);
        o += tn;
        i += n;
    }
    out[o] = '\0';
    if (ret_used != NULL)
        *ret_used = i;
    return o;
}

size_t rc_text_escape_cut(const char *in, size_t len, enum rc_text_mode mode, char *out, size_t cap)
{
    size_t used, o;

    if (cap == 0)
        return 0;
    o = rc_text_escape(in, len, mode, out, cap, &used);
    if (used == len || cap < 4)
        return o; /* all of it, or no room to mark the cut */
    /* did not fit: again with room for "..." */
    o = rc_text_escape(in, len, mode, out, cap - 3, &used);
    memcpy(out + o, "...", 4);
    return o + 3;
}

bool rc_text_bare_ok(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;

    if (len == 0)
        return false;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n = rc_utf8_decode(p + i, len - i, &cp);

        if (n == 0 || cp <= ' ' || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F) || cp == '"' ||
            cp == '=' || cp == '\\')
            return false;
        i += n;
    }
    return true;
}

/*
 * fuzz_base.c - libFuzzer target for the base layer's parsers of untrusted
 * text: rc_url_split / rc_url_port / rc_url_decode (base/url.c),
 * rc_duration_from_text (base/duration.c), rc_utf8_decode and
 * rc_text_escape (base/text.c).
 *
 * Beyond memory safety (run under ASan/UBSan), it checks:
 *   - every span of a split URL lies inside the URL, in order;
 *   - an accepted duration formats and parses back to the same value;
 *   - the escaper consumes everything given room, its output is valid
 *     UTF-8 without control bytes, and a smaller buffer yields a prefix.
 * Seeds: tests/fuzz/corpus/fuzz_base/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rollcall/duration.h"
#include "rollcall/text.h"
#include "rollcall/url.h"

static void span_in(const char *url, size_t len, struct rc_url_span s, const char **last)
{
    if (s.p == NULL)
        return;
    if (s.p < url || s.p + s.len > url + len || s.p < *last)
        abort();
    *last = s.p + s.len;
}

static void check_url(const uint8_t *data, size_t size)
{
    char *url = malloc(size + 1), out[256];
    struct rc_url_parts u;
    const char *last;
    unsigned port;

    if (url == NULL)
        return;
    memcpy(url, data, size);
    url[size] = '\0';
    if (rc_url_split(url, &u) == 0) {
        last = url;
        span_in(url, strlen(url), u.scheme, &last);
        span_in(url, strlen(url), u.user, &last);
        span_in(url, strlen(url), u.password, &last);
        span_in(url, strlen(url), u.host, &last);
        span_in(url, strlen(url), u.port, &last);
        span_in(url, strlen(url), u.path, &last);
        span_in(url, strlen(url), u.query, &last);
        span_in(url, strlen(url), u.fragment, &last);
        if (u.has_port && rc_url_port(u.port, &port) == 0 && port > 65535)
            abort();
        if (u.has_password && rc_url_decode(u.password.p, u.password.len, false, out,
                                            sizeof(out)) >= (ssize_t)sizeof(out))
            abort();
    }
    free(url);
}

static void check_duration(const uint8_t *data, size_t size)
{
    uint64_t ms, back;
    char out[32];

    if (rc_duration_from_text((const char *)data, size, &ms) != 0)
        return;
    rc_duration_to_text(ms, out, sizeof(out));
    if (rc_duration_from_text(out, strlen(out), &back) != 0 || back != ms)
        abort();
}

static void check_escape(const uint8_t *data, size_t size)
{
    size_t cap = 8 * size + 1, used, n, small_n;
    char *out = malloc(cap), *small = malloc(size / 2 + 1);

    if (out == NULL || small == NULL)
        goto out_free;
    for (int m = RC_TEXT_BARE; m <= RC_TEXT_JSON; m++) {
        n = rc_text_escape((const char *)data, size, (enum rc_text_mode)m, out, cap, &used);
        if (used != size || strlen(out) != n)
            abort();
        for (size_t i = 0; i < n;) {
            uint32_t cp;
            size_t k = rc_utf8_decode((const unsigned char *)out + i, n - i, &cp);

            if (k == 0 || cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F))
                abort();
            i += k;
        }
        small_n = rc_text_escape((const char *)data, size, (enum rc_text_mode)m, small,
                                 size / 2 + 1, &used);
        if (small_n > n || memcmp(small, out, small_n) != 0 || used > size)
            abort();
    }
out_free:
    free(out);
    free(small);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_url(data, size);
    check_duration(data, size);
    check_escape(data, size);
    return 0;
}

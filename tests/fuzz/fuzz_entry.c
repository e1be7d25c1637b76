/*
 * fuzz_entry.c - libFuzzer target for what the registry reads from other
 * machines and from the user: rc_entry_parse (registry/entry.c) on the raw
 * input under a fixed name, rc_time_parse_iso (base/isotime.c) on the raw
 * input, rc_registry_mask_url (base/url.c) and a reject (registry/list.c)
 * shown through the one escaper (base/text.c).
 *
 * Beyond memory safety (run under ASan/UBSan), it checks:
 *   - an accepted entry formats and parses back to the same fields;
 *   - an accepted time formats and parses back to the same instant;
 *   - a masked URL is NUL-terminated within its buffer, whatever the size;
 *   - a reject keeps a prefix of the raw bytes, cut only past
 *     RC_REJECT_WHAT_MAX, and escaped in every mode it is valid UTF-8
 *     without control bytes.
 * Seeds: tests/fuzz/corpus/fuzz_entry/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rollcall/registry.h"
#include "rollcall/text.h"

#define HINT "fuzz@127.0.0.1"

static void check_entry(const uint8_t *data, size_t size)
{
    struct rc_entry e, back;
    char err[128], text[2048];
    size_t len;

    if (rc_entry_parse((const char *)data, size, HINT, &e, err, sizeof(err)) != 0)
        return;
    if (strcmp(e.name, HINT) != 0)
        abort();
    if (rc_entry_format(&e, text, sizeof(text), &len) != 0)
        abort();
    if (rc_entry_parse(text, len, HINT, &back, err, sizeof(err)) != 0)
        abort();
    if (strcmp(back.host, e.host) != 0 || back.port != e.port ||
        back.started_at_ms != e.started_at_ms || back.updated_at_ms != e.updated_at_ms)
        abort();
}

static void check_time(const uint8_t *data, size_t size)
{
    int64_t ms, back;
    char out[32];

    if (rc_time_parse_iso((const char *)data, size, &ms) != 0)
        return;
    rc_time_format_iso(ms, out);
    if (strlen(out) != 24 || rc_time_parse_iso(out, strlen(out), &back) != 0 || back != ms)
        abort();
}

static void check_mask(const uint8_t *data, size_t size)
{
    static const size_t caps[] = {1, 9, 64, 4096};
    char *url = malloc(size + 1);
    char out[4096];

    if (url == NULL)
        return;
    memcpy(url, data, size);
    url[size] = '\0';
    for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
        rc_registry_mask_url(url, out, caps[i]);
        if (memchr(out, '\0', caps[i]) == NULL)
            abort();
    }
    free(url);
}

static void check_reject(const uint8_t *data, size_t size)
{
    static const enum rc_text_mode modes[] = {RC_TEXT_BARE, RC_TEXT_QUOTED, RC_TEXT_JSON};
    struct rc_reg_list l = {0};
    const struct rc_reject *r;
    char out[8 * (RC_REJECT_WHAT_MAX + 1) + 1];

    if (rc_reg_list_reject(&l, (const char *)data, size, "fuzz") != 0)
        abort();
    r = &l.rejects[0];
    if (r->whatlen > RC_REJECT_WHAT_MAX || r->what[r->whatlen] != '\0' ||
        memcmp(r->what, data, r->whatlen) != 0 || r->cut != (r->whatlen < size) ||
        (size > RC_REJECT_WHAT_MAX && r->whatlen + 3 < RC_REJECT_WHAT_MAX))
        abort();
    for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
        size_t used, n = rc_text_escape(r->what, r->whatlen, modes[m], out, sizeof(out), &used);
        struct rc_entry e;
        char err[128];

        if (used != r->whatlen || strlen(out) != n)
            abort();
        /* escaped output is text: the entry parser checks UTF-8 and controls */
        if (rc_entry_parse(out, n, HINT, &e, err, sizeof(err)) != 0 &&
            (strstr(err, "UTF-8") != NULL || strstr(err, "control") != NULL ||
             strstr(err, "NUL") != NULL))
            abort();
    }
    rc_reg_list_free(&l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_entry(data, size);
    check_time(data, size);
    check_mask(data, size);
    check_reject(data, size);
    return 0;
}

/*
 * fuzz_entry.c - libFuzzer target for what the registry reads from other
 * machines and from the user: rc_entry_parse (backends/entry.c) on the raw
 * input under a fixed name, rc_time_parse_iso on the raw input, and
 * rc_registry_mask_url and the reject escaping (backends/registry.c) on it.
 *
 * Beyond memory safety (run under ASan/UBSan), it checks:
 *   - an accepted entry formats and parses back to the same fields;
 *   - an accepted time formats and parses back to the same instant;
 *   - a masked URL is NUL-terminated within its buffer, whatever the size;
 *   - an escaped reject is printable ASCII or valid UTF-8, no control bytes.
 * Seeds: tests/fuzz/corpus/fuzz_entry/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rollcall/registry.h"

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
    struct rc_reg_list l = {0};
    const unsigned char *p;

    if (rc_reg_list_reject(&l, (const char *)data, size, "fuzz") != 0)
        abort();
    for (p = (const unsigned char *)l.rejects[0].what; *p != '\0'; p++)
        if (*p < 0x20 || *p == 0x7F)
            abort();
    if (memchr(l.rejects[0].what, '\0', sizeof(l.rejects[0].what)) == NULL)
        abort();
    /* escaped output parses as text: the entry parser checks UTF-8 and controls */
    {
        struct rc_entry e;
        char err[128];
        const char *w = l.rejects[0].what;

        if (rc_entry_parse(w, strlen(w), HINT, &e, err, sizeof(err)) != 0 &&
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

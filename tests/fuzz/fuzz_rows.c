/*
 * fuzz_rows.c - libFuzzer target for the row decoders of the Redis and
 * PostgreSQL backends (redis_decode_row, pg_decode_row): what other
 * writers may have left in the store.
 *
 * Input: byte 0 picks the decoder (even: Redis, odd: PostgreSQL).
 *   Redis: byte 1 = name length (mod what is left), then the name, 8 bytes
 *     of age (little-endian, signed), 1 byte of value kind, the rest the value.
 *   PostgreSQL: byte 1 = NULL mask of the 6 columns, the rest the 6 column
 *     texts separated by 0xFF bytes.
 * Every input, after byte 0, is also a SCRIPT LOAD reply (redis_sha_reply_ok):
 *   accepted only as exactly 40 hex digits.
 * Beyond memory safety it checks that an accepted row is a valid entry
 * (valid name, NUL-terminated host, age >= 0) and that a rejected one leaves
 * the output untouched and gives a reason.
 * Seeds: tests/fuzz/corpus/fuzz_rows/.
 *
 * The decoders come from the backends' objects (rollcall_backend_redis,
 * rollcall_backend_postgres) through their private headers.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../backends/postgres_int.h"
#include "../../backends/redis_int.h"
#include "rollcall/url.h" /* rc_hexval */

static void check(int rv, const struct rc_entry *e, const char *why)
{
    if (rv == 0) {
        if (!rc_node_name_valid(e->name) || memchr(e->host, '\0', sizeof(e->host)) == NULL ||
            e->age_ms < 0)
            abort();
        return;
    }
    if (rv != -EPROTO || why[0] == '\0')
        abort();
    for (size_t i = 0; i < sizeof(*e); i++)
        if (((const unsigned char *)e)[i] != 0xA5)
            abort();
}

static void redis_row(const uint8_t *d, size_t n)
{
    struct rc_entry e;
    char why[96] = "";
    size_t namelen;
    int64_t age = 0;
    enum redis_value vk;
    int rv;

    if (n < 1)
        return;
    namelen = n > 1 ? d[0] % n : 0;
    d++, n--;
    if (namelen > n)
        return;
    {
        const char *name = (const char *)d;
        const uint8_t *p = d + namelen;
        size_t left = n - namelen;

        if (left < 9)
            return;
        for (int i = 7; i >= 0; i--)
            age = (int64_t)((uint64_t)age << 8 | p[i]);
        vk = (enum redis_value)(p[8] % 4);
        memset(&e, 0xA5, sizeof(e));
        rv = redis_decode_row(name, namelen, age, 1795215257000LL, vk, (const char *)p + 9,
                              left - 9, &e, why, sizeof(why));
        check(rv, &e, why);
    }
}

static void pg_row(const uint8_t *d, size_t n)
{
    const char *val[PG_NCOLS];
    int len[PG_NCOLS];
    bool isnull[PG_NCOLS];
    struct rc_entry e;
    char why[96] = "";
    uint8_t mask;
    size_t pos = 1;
    int rv;

    if (n < 1)
        return;
    mask = d[0];
    for (int c = 0; c < PG_NCOLS; c++) {
        const uint8_t *sep;
        size_t end;

        if (pos > n)
            pos = n;
        sep = pos < n ? memchr(d + pos, 0xFF, n - pos) : NULL;
        end = sep != NULL ? (size_t)(sep - d) : n;
        val[c] = (const char *)d + pos;
        len[c] = (int)(end - pos);
        isnull[c] = (mask >> c) & 1;
        pos = end + 1;
    }
    memset(&e, 0xA5, sizeof(e));
    rv = pg_decode_row(val, len, isnull, &e, why, sizeof(why));
    check(rv, &e, why);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > RC_ENTRY_TEXT_MAX + 64)
        return 0;
    if (data[0] % 2 == 0)
        redis_row(data + 1, size - 1);
    else
        pg_row(data + 1, size - 1);
    /* the SCRIPT LOAD reply check (redis.c): a digest only if 40 hex digits */
    if (redis_sha_reply_ok(REDIS_REPLY_STRING, (const char *)data + 1, size - 1)) {
        for (size_t i = 1; i < size; i++)
            if (rc_hexval(data[i]) < 0)
                __builtin_trap();
        if (size - 1 != 40)
            __builtin_trap();
    }
    return 0;
}

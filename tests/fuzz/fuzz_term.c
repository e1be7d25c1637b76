/*
 * fuzz_term.c - libFuzzer target for the term decoder (erldist/term.c).
 *
 * Walks the input as a stream of terms (a 131 between them is taken as a
 * version byte), then runs every decoder at each early offset and checks the
 * contract: a failed call leaves the cursor where it was, a successful one
 * moves it forward within the input, the typed decoders agree with
 * rc_term_skip on where a term ends, and what decodes re-encodes to a term
 * that decodes to the same value. Any broken promise aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rollcall/term.h"

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x))                                                                                  \
            abort();                                                                               \
    } while (0)

/* The cursor moved forward on success, stayed put on failure. */
static void check_moved(int r, size_t before, const struct rc_term_dec *d)
{
    if (r < 0)
        CHECK(d->pos == before);
    else
        CHECK(d->pos > before && d->pos <= d->len);
}

/* rc_term_skip from start ends exactly at end. */
static void check_skip_ends_at(const uint8_t *data, size_t size, size_t start, size_t end)
{
    struct rc_term_dec s = {data, size, start};

    CHECK(rc_term_skip(&s) == 0 && s.pos == end);
}

static void decode_at(const uint8_t *data, size_t size, size_t at)
{
    struct rc_term_dec d = {data, size, at};
    char name[RC_TERM_ATOM_MAX + 1], node[RC_TERM_ATOM_MAX + 1];
    uint32_t arity, n, ids[5], creation, nids;
    int64_t v;
    size_t len;
    bool tail;
    int r;

    r = rc_term_dec_tuple(&d, &arity);
    check_moved(r, at, &d);
    d.pos = at;
    r = rc_term_dec_list(&d, &n, &tail);
    check_moved(r, at, &d);

    d.pos = at;
    r = rc_term_dec_atom(&d, name, sizeof(name), &len);
    check_moved(r, at, &d);
    if (r == 0) {
        uint8_t buf[RC_TERM_ATOM_MAX + 8];
        struct rc_term_enc e;
        struct rc_term_dec back;
        char again[RC_TERM_ATOM_MAX + 1];
        size_t len2;

        CHECK(strlen(name) <= len && name[len] == '\0');
        check_skip_ends_at(data, size, at, d.pos);
        if (strlen(name) == len) { /* no NUL inside: round trip through put_atom */
            rc_term_enc_init(&e, buf, sizeof(buf));
            rc_term_put_atom(&e, name);
            if (e.err == 0) {
                rc_term_dec_init(&back, buf, e.len);
                CHECK(rc_term_dec_atom(&back, again, sizeof(again), &len2) == 0);
                CHECK(len2 == len && memcmp(again, name, len) == 0 && back.pos == e.len);
            }
        }
    }

    d.pos = at;
    r = rc_term_dec_long(&d, &v);
    check_moved(r, at, &d);
    if (r == 0) {
        uint8_t buf[16];
        struct rc_term_enc e;
        struct rc_term_dec back;
        int64_t v2;

        check_skip_ends_at(data, size, at, d.pos);
        rc_term_enc_init(&e, buf, sizeof(buf));
        rc_term_put_long(&e, v);
        CHECK(e.err == 0);
        rc_term_dec_init(&back, buf, e.len);
        CHECK(rc_term_dec_long(&back, &v2) == 0 && v2 == v && back.pos == e.len);
    }

    d.pos = at;
    r = rc_term_dec_ref(&d, node, sizeof(node), &creation, ids, &nids);
    check_moved(r, at, &d);
    if (r == 0) {
        CHECK(nids >= 1 && nids <= 5);
        check_skip_ends_at(data, size, at, d.pos);
    }

    d.pos = at;
    r = rc_term_skip(&d);
    check_moved(r, at, &d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rc_term_dec d;

    rc_term_dec_init(&d, data, size);
    while (d.pos < size) {
        size_t before = d.pos;
        int r = rc_term_peek_tag(&d) == RC_TAG_VERSION ? rc_term_dec_version(&d) : rc_term_skip(&d);

        check_moved(r, before, &d);
        if (r < 0)
            break;
    }

    /* Every decoder at the first offsets: the fuzzer moves the interesting
     * bytes there itself, and a bound keeps each run fast. */
    for (size_t at = 0; at < size && at < 32; at++)
        decode_at(data, size, at);
    return 0;
}

/*
 * test_term.c - the external term codec (erldist/term.c).
 *
 * The valid encodings below are term_to_binary output of a real OTP 25.2.3
 * node (minus the 131), or hand-made forms OTP 25's binary_to_term accepts
 * (except FUN, which OTP 23+ no longer decodes); the refused ones are forms
 * OTP refuses too, or never sends (see docs/dist-codec.md). Every input is copied into a heap
 * block of exactly its size, so under the ASan build (ROLLCALL_SANITIZE) a
 * read one byte too far fails the test.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rollcall/term.h"

#define NODE_GEN_UTF8 "770d67656e403132372e302e302e31"     /* 'gen@127.0.0.1' */
#define NODE_GEN_LATIN1 "64000d67656e403132372e302e302e31" /* the same, ATOM_EXT */

/* Hex (spaces allowed) to a heap block of exactly its size. */
static uint8_t *unhex(const char *hex, size_t *ret_len)
{
    size_t n = 0, cap = strlen(hex) / 2 + 1;
    uint8_t *out = malloc(cap);

    assert_non_null(out);
    for (const char *p = hex; *p;) {
        unsigned v;

        if (*p == ' ') {
            p++;
            continue;
        }
        assert_int_equal(sscanf(p, "%2x", &v), 1);
        out[n++] = (uint8_t)v;
        p += 2;
    }
    *ret_len = n;
    return realloc(out, n ? n : 1);
}

static uint8_t *dup_exact(const uint8_t *b, size_t n)
{
    uint8_t *p = malloc(n ? n : 1);

    assert_non_null(p);
    memcpy(p, b, n);
    return p;
}

static int skip_hex(const char *hex, size_t *ret_pos)
{
    struct rc_term_dec d;
    size_t len;
    uint8_t *b = unhex(hex, &len);
    int r;

    rc_term_dec_init(&d, b, len);
    r = rc_term_skip(&d);
    if (r < 0)
        assert_int_equal(d.pos, 0);
    if (ret_pos)
        *ret_pos = d.pos;
    free(b);
    return r;
}

/* Skips the whole input; every shorter prefix fails with -EMSGSIZE and leaves
 * the cursor alone. */
static void check_skip_whole_and_truncated(const uint8_t *b, size_t len)
{
    struct rc_term_dec d;

    rc_term_dec_init(&d, b, len);
    assert_int_equal(rc_term_skip(&d), 0);
    assert_int_equal(d.pos, len);
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *p = dup_exact(b, cut);

        rc_term_dec_init(&d, p, cut);
        assert_int_equal(rc_term_skip(&d), -EMSGSIZE);
        assert_int_equal(d.pos, 0);
        free(p);
    }
}

/* ---- every tag skipped ---- */

static const struct {
    const char *name;
    const char *hex;
} valid_terms[] = {
    {"SMALL_INTEGER", "612a"},
    {"INTEGER", "62fffeee90"},
    {"NEW_FLOAT", "463ff8000000000000"},
    {"FLOAT", "63 312e3530303030303030303030303030303030303030652b30300000000000"},
    {"ATOM", "6400036162 63"},
    {"SMALL_ATOM", "7301e9"},
    {"ATOM_UTF8", "760003616263"},
    {"SMALL_ATOM_UTF8", "770668c3a96c6c6f"},
    {"SMALL_ATOM_UTF8 with NUL", "77026100"},
    {"SMALL_TUPLE", "6802 6101 6102"},
    {"SMALL_TUPLE empty", "6800"},
    {"LARGE_TUPLE", "6900000002 6101 6102"},
    {"NIL", "6a"},
    {"STRING", "6b0003616263"},
    {"STRING empty", "6b0000"},
    {"LIST", "6c00000002 6101 640001 61 6a"},
    {"LIST improper", "6c00000001 6101 640001 61"},
    {"LIST of none, atom tail", "6c00000000 770161"},
    {"BINARY", "6d00000003010203"},
    {"BINARY empty", "6d00000000"},
    {"BIT_BINARY", "4d0000000304010230"},
    {"BIT_BINARY empty", "4d0000000000"},
    {"SMALL_BIG", "6e0900000000000000000001"},
    {"SMALL_BIG negative", "6e0901000000000000000001"},
    {"SMALL_BIG zero digits", "6e0000"},
    {"LARGE_BIG", "6f0000000900000000000000000001"},
    {"MAP", "7400000002640001616101640001626b000102"},
    {"MAP empty", "7400000000"},
    {"NEW_PID", "58" NODE_GEN_LATIN1 "00000009000000006b00d070"},
    {"PID", "67" NODE_GEN_UTF8 "000000090000000003"},
    {"NEW_PORT", "59" NODE_GEN_LATIN1 "000000006b00d070"},
    {"V4_PORT", "78" NODE_GEN_UTF8 "000000010000000500000003"},
    {"PORT", "66" NODE_GEN_UTF8 "0000000503"},
    {"NEWER_REFERENCE", "5a0003" NODE_GEN_LATIN1 "6b00d0700001536c953c000205d983d2"},
    {"NEWER_REFERENCE 5 words",
     "5a0005" NODE_GEN_UTF8 "00000003 0000000100000002000000030000000400000005"},
    {"NEW_REFERENCE", "720003" NODE_GEN_UTF8 "03000000010000000200000003"},
    {"REFERENCE", "65" NODE_GEN_UTF8 "0000000503"},
    {"EXPORT", "71 6400056c69737473 640003736571 6102"},
    {"EXPORT, INTEGER arity", "71 770161 770162 620000000a"},
    {"NEW_FUN", "70000000520170f43504a63daccdb3a24278a421744d0000000000000001"
                "7705726363686b6100620387a1a858770d67656e403132372e302e302e31"
                "00000009000000006b00d0726e0800ad5c479df7e2e918"},
    {"NEW_FUN no free vars", "70000000490144 65bb9269f67c511517cbc82bc9caa8 00000000 00000000"
                             "640005726367656e 6100 6202232ddc"
                             "58" NODE_GEN_LATIN1 "00000009000000006b00d070"},
    {"FUN", "75 00000001 58" NODE_GEN_UTF8 "000000010000000000000003 77016d 6100 6100 6101"},
};

static void test_skip_every_tag(void **state)
{
    for (size_t i = 0; i < sizeof(valid_terms) / sizeof(valid_terms[0]); i++) {
        size_t len;
        uint8_t *b = unhex(valid_terms[i].hex, &len);

        print_message("  %s\n", valid_terms[i].name);
        check_skip_whole_and_truncated(b, len);
        free(b);
    }
}

static void test_skip_long_atoms(void **state)
{
    char hex[4 + 2 * 1024 + 1];
    size_t pos;

    /* 255 latin1 characters: the limit; 256: refused. */
    strcpy(hex, "6400ff");
    for (int i = 0; i < 255; i++)
        strcat(hex, "61");
    assert_int_equal(skip_hex(hex, &pos), 0);
    assert_int_equal(pos, 3 + 255);
    strcpy(hex, "640100");
    for (int i = 0; i < 256; i++)
        strcat(hex, "61");
    assert_int_equal(skip_hex(hex, NULL), -EPROTO);

    /* 200 two-byte characters (400 bytes) as OTP encodes them: fine. */
    strcpy(hex, "760190");
    for (int i = 0; i < 200; i++)
        strcat(hex, "c3a9");
    assert_int_equal(skip_hex(hex, &pos), 0);
    assert_int_equal(pos, 3 + 400);
    /* 256 characters of UTF-8: refused. */
    strcpy(hex, "760100");
    for (int i = 0; i < 256; i++)
        strcat(hex, "61");
    assert_int_equal(skip_hex(hex, NULL), -EPROTO);
}

static void test_skip_refuses(void **state)
{
    static const struct {
        const char *name, *hex;
    } bad[] = {
        {"COMPRESSED (real OTP output)", "5000000067789ccb664861a403000066a20134"},
        {"ATOM_CACHE_REF", "5201"},
        {"LOCAL", "79 6a"},
        {"unknown 0", "00"},
        {"unknown 255", "ff"},
        {"version byte inside", "83 6a"},
        {"UTF-8 truncated sequence", "7702c328"},
        {"UTF-8 overlong", "7702c0af"},
        {"UTF-8 surrogate", "7703eda080"},
        {"UTF-8 past U+10FFFF", "7704f4908080"},
        {"UTF-8 stray continuation", "770180"},
        {"UTF-8 lead byte 0xff", "7701ff"},
        {"BIT_BINARY 0 bits of 3 bytes", "4d0000000300010203"},
        {"BIT_BINARY 9 bits", "4d0000000309010203"},
        {"BIT_BINARY empty with bits", "4d0000000003"},
        {"SMALL_BIG sign 2", "6e020201"},
        {"LARGE_BIG sign 2", "6f00000001 02 01"},
        {"NEW_FLOAT NaN", "46fff8000000000000"},
        {"NEW_FLOAT infinity", "467ff0000000000000"},
        {"NEWER_REFERENCE 0 words", "5a0000" NODE_GEN_UTF8 "00000003"},
        {"NEWER_REFERENCE 6 words",
         "5a0006" NODE_GEN_UTF8 "00000003 000000010000000200000003000000040000000500000006"},
        {"NEW_REFERENCE 6 words",
         "720006" NODE_GEN_UTF8 "03 000000010000000200000003000000040000000500000006"},
        {"NEW_PID node not an atom", "58 6100 00000001 00000000 00000003"},
        {"NEW_PID node an atom cache ref", "58 5201 00000001 00000000 00000003"},
        {"EXPORT arity an atom", "71 770161 770162 770163"},
        {"NEW_FUN Size too small", "70 0000000a 00 00000000"},
        {"NEW_FUN Size one byte long",
         "70000000530170f43504a63daccdb3a24278a421744d0000000000000001"
         "7705726363686b6100620387a1a858770d67656e403132372e302e302e31"
         "00000009000000006b00d0726e0800ad5c479df7e2e918 6a"},
        {"NEW_FUN Size one byte short",
         "70000000510170f43504a63daccdb3a24278a421744d0000000000000001"
         "7705726363686b6100620387a1a858770d67656e403132372e302e302e31"
         "00000009000000006b00d0726e0800ad5c479df7e2e918"},
        {"NEW_FUN pid not a pid", "70000000250100000000000000000000000000000000 00000000 00000000"
                                  "77016d 6100 6100 6a"},
        {"FUN pid not a pid", "75 00000000 6a 77016d 6100 6100"},
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        print_message("  %s\n", bad[i].name);
        assert_int_equal(skip_hex(bad[i].hex, NULL), -EPROTO);
    }
}

static void test_skip_hostile_lengths(void **state)
{
    static const char *const hostile[] = {
        "6c ffffffff 6101 6a",   /* LIST */
        "6c 80000000 6101 6a",   /* LIST, 2^31 */
        "69 ffffffff 6101",      /* LARGE_TUPLE */
        "68 ff 6101",            /* SMALL_TUPLE */
        "74 ffffffff 6101 6101", /* MAP */
        "74 80000000 6101 6101", /* MAP, 2*n wraps 32 bits */
        "6d ffffffff 00",        /* BINARY */
        "6d fffffffc 00",        /* BINARY, +4 would wrap 32 bits */
        "4d ffffffff 08 00",     /* BIT_BINARY */
        "6f ffffffff 00 01",     /* LARGE_BIG */
        "6e ff 00 01",           /* SMALL_BIG */
        "6b ffff 61",            /* STRING */
        "76 ffff 61",            /* ATOM_UTF8 */
        "64 ffff 61",            /* ATOM */
        "77 ff 61",              /* SMALL_ATOM_UTF8 */
        "70 ffffffff 00",        /* NEW_FUN */
        "70 fffffffe 00",        /* NEW_FUN */
        "75 ffffffff 58 770161 00000001 00000000 00000003 770161 6100 6100 6a", /* FUN */
    };

    for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
        print_message("  %s\n", hostile[i]);
        assert_int_equal(skip_hex(hostile[i], NULL), -EMSGSIZE);
    }
}

/* n nested one-element containers around a NIL: prefix repeated, then 6a. */
static int skip_nested(const char *prefix_hex, size_t n)
{
    size_t plen, len;
    uint8_t *prefix = unhex(prefix_hex, &plen);
    uint8_t *b;
    struct rc_term_dec d;
    int r;

    len = plen * n + 1;
    b = malloc(len);
    assert_non_null(b);
    for (size_t i = 0; i < n; i++)
        memcpy(b + i * plen, prefix, plen);
    b[len - 1] = RC_TAG_NIL;
    rc_term_dec_init(&d, b, len);
    r = rc_term_skip(&d);
    assert_int_equal(d.pos, r == 0 ? len : 0);
    free(b);
    free(prefix);
    return r;
}

static void test_skip_depth(void **state)
{
    assert_int_equal(skip_nested("6801", RC_TERM_MAX_DEPTH), 0);
    assert_int_equal(skip_nested("6801", RC_TERM_MAX_DEPTH + 1), -ELOOP);
    assert_int_equal(skip_nested("6801", 1000000), -ELOOP); /* the bomb: fails fast */
    assert_int_equal(skip_nested("6900000001", 1000000), -ELOOP);
    assert_int_equal(skip_nested("6c00000001", RC_TERM_MAX_DEPTH), -EMSGSIZE); /* no tails */
    assert_int_equal(skip_nested("6c00000001", 1000000), -ELOOP);
    assert_int_equal(skip_nested("74000000016a", 1000000), -ELOOP); /* #{[] => #{...}} */
    /* A fun's free variables nest too. */
    assert_int_equal(skip_nested("7500000001 58770161000000010000000000000003 770161 6100 6100",
                                 RC_TERM_MAX_DEPTH + 1),
                     -ELOOP);
    assert_int_equal(skip_nested("7500000001 58770161000000010000000000000003 770161 6100 6100",
                                 RC_TERM_MAX_DEPTH),
                     0);
}

/* An improper chain [1 | [1 | [1 | ... []]]] is one list, not deep nesting. */
static void test_skip_list_tail_chain(void **state)
{
    enum { N = 200000 };
    size_t len = N * 7 + 1;
    uint8_t *b = malloc(len);
    struct rc_term_dec d;

    assert_non_null(b);
    for (size_t i = 0; i < N; i++)
        memcpy(b + i * 7, "\x6c\x00\x00\x00\x01\x61\x01", 7);
    b[len - 1] = RC_TAG_NIL;
    rc_term_dec_init(&d, b, len);
    assert_int_equal(rc_term_skip(&d), 0);
    assert_int_equal(d.pos, len);
    rc_term_dec_init(&d, b, len - 1); /* the last tail missing */
    assert_int_equal(rc_term_skip(&d), -EMSGSIZE);
    assert_int_equal(d.pos, 0);
    free(b);
}

static void test_skip_sequence_and_bad_cursor(void **state)
{
    size_t len;
    uint8_t *b = unhex("6101 6a 770161", &len);
    struct rc_term_dec d;

    rc_term_dec_init(&d, b, len);
    assert_int_equal(rc_term_skip(&d), 0);
    assert_int_equal(d.pos, 2);
    assert_int_equal(rc_term_skip(&d), 0);
    assert_int_equal(rc_term_skip(&d), 0);
    assert_int_equal(d.pos, len);
    assert_int_equal(rc_term_skip(&d), -EMSGSIZE);
    assert_int_equal(rc_term_peek_tag(&d), -EMSGSIZE);
    d.pos = len + 10; /* a caller's bug must not become a read */
    assert_int_equal(rc_term_skip(&d), -EMSGSIZE);
    assert_int_equal(rc_term_peek_tag(&d), -EMSGSIZE);
    assert_int_equal(d.pos, len + 10);
    free(b);
}

/* ---- decoders ---- */

static void test_dec_version_and_peek(void **state)
{
    size_t len;
    uint8_t *b = unhex("83 68 00", &len);
    struct rc_term_dec d;

    rc_term_dec_init(&d, b, len);
    assert_int_equal(rc_term_peek_tag(&d), RC_TAG_VERSION);
    assert_int_equal(rc_term_dec_version(&d), 0);
    assert_int_equal(d.pos, 1);
    assert_int_equal(rc_term_peek_tag(&d), RC_TAG_SMALL_TUPLE);
    assert_int_equal(rc_term_dec_version(&d), -EPROTO);
    assert_int_equal(d.pos, 1);
    rc_term_dec_init(&d, b, 0);
    assert_int_equal(rc_term_dec_version(&d), -EMSGSIZE);
    free(b);
}

static void test_dec_tuple(void **state)
{
    size_t len;
    uint8_t *b = unhex("6802 6101 6102", &len);
    struct rc_term_dec d;
    uint32_t arity = 99;

    rc_term_dec_init(&d, b, len);
    assert_int_equal(rc_term_dec_tuple(&d, &arity), 0);
    assert_int_equal(arity, 2);
    assert_int_equal(d.pos, 2);
    assert_int_equal(rc_term_dec_tuple(&d, &arity), -EPROTO); /* an integer */
    assert_int_equal(d.pos, 2);
    free(b);

    b = unhex("6900000003 6101 6102 6103", &len);
    rc_term_dec_init(&d, b, len);
    assert_int_equal(rc_term_dec_tuple(&d, &arity), 0);
    assert_int_equal(arity, 3);
    assert_int_equal(d.pos, 5);
    rc_term_dec_init(&d, b, len - 1); /* 3 elements cannot fit in 5 bytes... they can: */
    assert_int_equal(rc_term_dec_tuple(&d, &arity), 0);
    rc_term_dec_init(&d, b, 7); /* but not in 2 */
    arity = 99;
    assert_int_equal(rc_term_dec_tuple(&d, &arity), -EMSGSIZE);
    assert_int_equal(arity, 99);
    assert_int_equal(d.pos, 0);
    for (size_t cut = 0; cut < 5; cut++) {
        uint8_t *p = dup_exact(b, cut);

        rc_term_dec_init(&d, p, cut);
        assert_int_equal(rc_term_dec_tuple(&d, &arity), -EMSGSIZE);
        free(p);
    }
    free(b);

    b = unhex("69ffffffff 6101", &len);
    rc_term_dec_init(&d, b, len);
    assert_int_equal(rc_term_dec_tuple(&d, &arity), -EMSGSIZE);
    assert_int_equal(d.pos, 0);
    free(b);
}

static void test_dec_list(void **state)
{
    size_t len;
    uint8_t *b = unhex("6c00000001 6101 770161", &len);
    struct rc_term_dec d;
    uint32_t n = 99;
    bool tail = false;

    rc_term_dec_init(&d, b, len);
    assert_int_equal(rc_term_dec_list(&d, &n, &tail), 0);
    assert_int_equal(n, 1);
    assert_true(tail);
    assert_int_equal(d.pos, 5);
    assert_int_equal(rc_term_skip(&d), 0);
    assert_int_equal(rc_term_dec_list(&d, &n, &tail), -EPROTO); /* the atom tail */
    free(b);

    b = unhex("6a", &len);
    rc_term_dec_init(&d, b, len);
    assert_int_equal(rc_term_dec_list(&d, &n, &tail), 0);
    assert_int_equal(n, 0);
    assert_false(tail);
    assert_int_equal(d.pos, 1);
    free(b);

    b = unhex("6c00000002 6101", &len); /* 2 elements and a tail in 2 bytes */
    rc_term_dec_init(&d, b, len);
    assert_int_equal(rc_term_dec_list(&d, &n, &tail), -EMSGSIZE);
    assert_int_equal(d.pos, 0);
    free(b);

    b = unhex("6cffffffff 6101 6a", &len);
    rc_term_dec_init(&d, b, len);
    assert_int_equal(rc_term_dec_list(&d, &n, &tail), -EMSGSIZE);
    free(b);

    b = unhex("6b0001 61", &len); /* STRING is not a LIST header */
    rc_term_dec_init(&d, b, len);
    assert_int_equal(rc_term_dec_list(&d, &n, &tail), -EPROTO);
    free(b);
}

static void check_atom(const char *hex, const char *want)
{
    size_t len, n = 0;
    uint8_t *b = unhex(hex, &len);
    struct rc_term_dec d;
    char out[RC_TERM_ATOM_MAX + 1];

    rc_term_dec_init(&d, b, len);
    assert_int_equal(rc_term_dec_atom(&d, out, sizeof(out), &n), 0);
    assert_string_equal(out, want);
    assert_int_equal(n, strlen(want));
    assert_int_equal(d.pos, len);
    free(b);
}

static void test_dec_atom(void **state)
{
    size_t len, n = 77;
    uint8_t *b;
    struct rc_term_dec d;
    char out[8];

    check_atom("770a6e65745f6b65726e656c", "net_kernel");
    check_atom("76000a6e65745f6b65726e656c", "net_kernel");
    check_atom("64000a6e65745f6b65726e656c", "net_kernel");
    check_atom("730a6e65745f6b65726e656c", "net_kernel");
    check_atom("7700", "");
    check_atom("770668c3a96c6c6f", "h\xc3\xa9llo");
    check_atom("73 05 68e96c6c6f", "h\xc3\xa9llo"); /* latin1 becomes UTF-8 */
    check_atom("64 0001 ff", "\xc3\xbf");

    b = unhex("770a6e65745f6b65726e656c", &len);
    rc_term_dec_init(&d, b, len);
    memset(out, 'x', sizeof(out));
    assert_int_equal(rc_term_dec_atom(&d, out, sizeof(out), &n), -EMSGSIZE);
    assert_int_equal(out[0], 'x'); /* nothing written */
    assert_int_equal(n, 77);
    assert_int_equal(d.pos, 0);
    assert_int_equal(rc_term_dec_atom(&d, NULL, 0, &n), 0); /* validate only */
    assert_int_equal(n, 10);
    assert_int_equal(d.pos, len);
    free(b);

    /* NUL inside: the length tells the truth. */
    b = unhex("7703 61 00 62", &len);
    rc_term_dec_init(&d, b, len);
    assert_int_equal(rc_term_dec_atom(&d, out, sizeof(out), &n), 0);
    assert_int_equal(n, 3);
    assert_memory_equal(out, "a\0b", 4);
    free(b);

    b = unhex("6101", &len);
    rc_term_dec_init(&d, b, len);
    assert_int_equal(rc_term_dec_atom(&d, out, sizeof(out), NULL), -EPROTO);
    assert_int_equal(d.pos, 0);
    free(b);
}

static void check_long(const char *hex, int r_want, int64_t want)
{
    size_t len;
    uint8_t *b = unhex(hex, &len);
    struct rc_term_dec d;
    int64_t v = 12345;

    rc_term_dec_init(&d, b, len);
    assert_int_equal(rc_term_dec_long(&d, &v), r_want);
    if (r_want == 0) {
        assert_true(v == want);
        assert_int_equal(d.pos, len);
    } else {
        assert_true(v == 12345);
        assert_int_equal(d.pos, 0);
    }
    free(b);
}

static void test_dec_long(void **state)
{
    check_long("612a", 0, 42);
    check_long("61ff", 0, 255);
    check_long("62fffeee90", 0, -70000);
    check_long("6280000000", 0, INT32_MIN);
    check_long("6e0800ffffffffffffff7f", 0, INT64_MAX); /* OTP's encoding of it */
    check_long("6e08010000000000000080", 0, INT64_MIN);
    check_long("6e0800 0000000000000080", -EPROTO, 0);  /* 2^63 */
    check_long("6e0801 0100000000000080", -EPROTO, 0);  /* -(2^63 + 1) */
    check_long("6e0900000000000000000001", -EPROTO, 0); /* 2^64 */
    check_long("6e0900ffffffffffffffff00", -EPROTO, 0); /* 2^64 - 1, 9 digits */
    check_long("6e09000100000000000000 00", 0, 1);      /* high zero digits */
    check_long("6e0000", 0, 0);
    check_long("6e0101 05", 0, -5);
    check_long("6e0102 05", -EPROTO, 0);
    check_long("6e0500 0102", -EMSGSIZE, 0);
    check_long("62ffff", -EMSGSIZE, 0);
    check_long("61", -EMSGSIZE, 0);
    check_long("6f0000000100 01", -EPROTO, 0); /* LARGE_BIG: not for this call */
    check_long("6a", -EPROTO, 0);
}

static void test_dec_ref(void **state)
{
    size_t len;
    uint8_t *b;
    struct rc_term_dec d;
    char node[32], small[4];
    uint32_t ids[5] = {0}, creation = 0, nids = 0;

    /* OTP 27's 5-word alias ref from otp27-pings-cnode.txt */
    b = unhex("5a0005770f6f74703237403132372e302e302e316b00cf1d"
              "000044606535000291408f970000050300000000",
              &len);
    rc_term_dec_init(&d, b, len);
    assert_int_equal(rc_term_dec_ref(&d, node, sizeof(node), &creation, ids, &nids), 0);
    assert_string_equal(node, "otp27@127.0.0.1");
    assert_int_equal(creation, 0x6b00cf1d);
    assert_int_equal(nids, 5);
    assert_int_equal(ids[0], 0x00004460);
    assert_int_equal(ids[1], 0x65350002);
    assert_int_equal(ids[2], 0x91408f97);
    assert_int_equal(ids[3], 0x00000503);
    assert_int_equal(ids[4], 0);
    assert_int_equal(d.pos, len);

    /* Node buffer too small: -EMSGSIZE and nothing written. */
    rc_term_dec_init(&d, b, len);
    memset(small, 'x', sizeof(small));
    nids = 42;
    assert_int_equal(rc_term_dec_ref(&d, small, sizeof(small), &creation, ids, &nids), -EMSGSIZE);
    assert_int_equal(small[0], 'x');
    assert_int_equal(nids, 42);
    assert_int_equal(d.pos, 0);
    /* NULL node: ids only. */
    assert_int_equal(rc_term_dec_ref(&d, NULL, 0, &creation, ids, &nids), 0);
    assert_int_equal(nids, 5);
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *p = dup_exact(b, cut);

        rc_term_dec_init(&d, p, cut);
        nids = 42;
        assert_int_equal(rc_term_dec_ref(&d, node, sizeof(node), &creation, ids, &nids), -EMSGSIZE);
        assert_int_equal(nids, 42);
        free(p);
    }
    free(b);

    b = unhex("720003" NODE_GEN_UTF8 "03000000010000000200000003", &len);
    rc_term_dec_init(&d, b, len);
    assert_int_equal(rc_term_dec_ref(&d, node, sizeof(node), &creation, ids, &nids), 0);
    assert_string_equal(node, "gen@127.0.0.1");
    assert_int_equal(creation, 3);
    assert_int_equal(nids, 3);
    assert_int_equal(ids[2], 3);
    free(b);

    b = unhex("65" NODE_GEN_UTF8 "0000000503", &len); /* old REFERENCE: not for this call */
    rc_term_dec_init(&d, b, len);
    assert_int_equal(rc_term_dec_ref(&d, node, sizeof(node), &creation, ids, &nids), -EPROTO);
    free(b);
}

/* ---- encoders ---- */

static void test_put_primitives(void **state)
{
    uint8_t buf[16];
    struct rc_term_enc e;

    rc_term_enc_init(&e, buf, sizeof(buf));
    rc_term_put_version(&e);
    rc_term_put_u8(&e, 0xab);
    rc_term_put_u16(&e, 0x1234);
    rc_term_put_u32(&e, 0xdeadbeef);
    rc_term_put_raw(&e, "xy", 2);
    rc_term_put_raw(&e, NULL, 0);
    rc_term_put_nil(&e);
    assert_int_equal(e.err, 0);
    assert_int_equal(e.len, 11);
    assert_memory_equal(buf, "\x83\xab\x12\x34\xde\xad\xbe\xefxy\x6a", 11);
}

/* put, then decode it back with the matching decoder and rc_term_skip. */
static void test_put_long_round_trip(void **state)
{
    static const struct {
        int64_t v;
        const char *hex;
    } cases[] = {
        {0, "6100"},
        {255, "61ff"},
        {256, "6200000100"},
        {-1, "62ffffffff"},
        {INT32_MAX, "627fffffff"},
        {INT32_MIN, "6280000000"},
        {(int64_t)INT32_MAX + 1, "6e040000000080"},
        {(int64_t)INT32_MIN - 1, "6e040101000080"},
        {1LL << 40, "6e06000000000000 01"},
        {INT64_MAX, "6e0800ffffffffffffff7f"},
        {INT64_MIN, "6e08010000000000000080"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint8_t buf[16];
        struct rc_term_enc e;
        struct rc_term_dec d;
        size_t len;
        uint8_t *want = unhex(cases[i].hex, &len);
        int64_t v;

        rc_term_enc_init(&e, buf, sizeof(buf));
        rc_term_put_long(&e, cases[i].v);
        assert_int_equal(e.err, 0);
        assert_int_equal(e.len, len);
        assert_memory_equal(buf, want, len);
        rc_term_dec_init(&d, buf, e.len);
        assert_int_equal(rc_term_dec_long(&d, &v), 0);
        assert_true(v == cases[i].v);
        rc_term_dec_init(&d, buf, e.len);
        assert_int_equal(rc_term_skip(&d), 0);
        assert_int_equal(d.pos, e.len);
        free(want);
    }
}

static void test_put_atom_round_trip(void **state)
{
    static const struct {
        size_t len;
        const char *unit; /* repeated, then 'a' up to len */
    } cases[] = {
        {0, "a"}, {1, "a"}, {255, "\xc3\xa9"}, {256, "\xc3\xa9"}, {1020, "\xf0\x9f\x98\x80"},
    };
    static char name[RC_TERM_ATOM_MAX + 2];
    uint8_t buf[RC_TERM_ATOM_MAX + 8];
    char out[RC_TERM_ATOM_MAX + 1];
    struct rc_term_enc e;
    struct rc_term_dec d;
    size_t n;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len = cases[i].len, ul = strlen(cases[i].unit), j = 0;

        for (; j + ul <= len; j += ul)
            memcpy(name + j, cases[i].unit, ul);
        for (; j < len; j++)
            name[j] = 'a';
        name[len] = '\0';

        rc_term_enc_init(&e, buf, sizeof(buf));
        rc_term_put_atom(&e, name);
        assert_int_equal(e.err, 0);
        if (len < 256) {
            assert_int_equal(buf[0], RC_TAG_SMALL_ATOM_UTF8);
            assert_int_equal(buf[1], len);
            assert_int_equal(e.len, 2 + len);
        } else {
            assert_int_equal(buf[0], RC_TAG_ATOM_UTF8);
            assert_int_equal(buf[1] << 8 | buf[2], len);
            assert_int_equal(e.len, 3 + len);
        }
        rc_term_dec_init(&d, buf, e.len);
        assert_int_equal(rc_term_dec_atom(&d, out, sizeof(out), &n), 0);
        assert_int_equal(n, len);
        assert_string_equal(out, name);
        rc_term_dec_init(&d, buf, e.len);
        assert_int_equal(rc_term_skip(&d), 0);
    }

    /* Longer than any atom: a sticky error, nothing written. */
    memset(name, 'a', RC_TERM_ATOM_MAX + 1);
    name[RC_TERM_ATOM_MAX + 1] = '\0';
    rc_term_enc_init(&e, buf, sizeof(buf));
    rc_term_put_atom(&e, name);
    assert_int_equal(e.err, -EMSGSIZE);
    assert_int_equal(e.len, 0);
    rc_term_put_nil(&e);
    assert_int_equal(e.len, 0);
}

static void test_put_containers_round_trip(void **state)
{
    uint8_t buf[2048];
    struct rc_term_enc e;
    struct rc_term_dec d;
    uint32_t n;
    bool tail;
    char out[64];

    rc_term_enc_init(&e, buf, sizeof(buf));
    rc_term_put_tuple(&e, 2);
    rc_term_put_list(&e, 1);
    rc_term_put_atom(&e, "alias");
    rc_term_put_long(&e, 7); /* improper tail */
    rc_term_put_tuple(&e, 300);
    for (int i = 0; i < 300; i++)
        rc_term_put_nil(&e);
    assert_int_equal(e.err, 0);
    assert_memory_equal(buf,
                        "\x68\x02\x6c\x00\x00\x00\x01\x77\x05"
                        "alias\x61\x07\x69\x00\x00\x01\x2c",
                        21);

    rc_term_dec_init(&d, buf, e.len);
    assert_int_equal(rc_term_skip(&d), 0);
    assert_int_equal(d.pos, e.len);
    rc_term_dec_init(&d, buf, e.len);
    assert_int_equal(rc_term_dec_tuple(&d, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(rc_term_dec_list(&d, &n, &tail), 0);
    assert_int_equal(n, 1);
    assert_true(tail);
    assert_int_equal(rc_term_dec_atom(&d, out, sizeof(out), NULL), 0);
    assert_string_equal(out, "alias");
    assert_int_equal(rc_term_skip(&d), 0);
    assert_int_equal(rc_term_dec_tuple(&d, &n), 0);
    assert_int_equal(n, 300);
}

static void test_put_pid_ref_round_trip(void **state)
{
    uint8_t buf[128];
    struct rc_term_enc e;
    struct rc_term_dec d;
    const uint32_t ids[5] = {1, 2, 3, 4, 5};
    uint32_t got[5], creation, nids;
    char node[32];
    size_t len;
    uint8_t *want = unhex("58770c7079403132372e302e302e3100000001000000006553f101", &len);

    rc_term_enc_init(&e, buf, sizeof(buf));
    rc_term_put_pid(&e, "py@127.0.0.1", 1, 0, 0x6553f101);
    assert_int_equal(e.err, 0);
    assert_int_equal(e.len, len); /* as in cnode-pings-otp25.txt */
    assert_memory_equal(buf, want, len);
    free(want);

    for (uint32_t k = 1; k <= 5; k++) {
        rc_term_enc_init(&e, buf, sizeof(buf));
        rc_term_put_ref(&e, "py@127.0.0.1", 0x6553f101, ids, k);
        assert_int_equal(e.err, 0);
        assert_int_equal(buf[0], RC_TAG_NEWER_REFERENCE);
        rc_term_dec_init(&d, buf, e.len);
        assert_int_equal(rc_term_dec_ref(&d, node, sizeof(node), &creation, got, &nids), 0);
        assert_string_equal(node, "py@127.0.0.1");
        assert_int_equal(creation, 0x6553f101);
        assert_int_equal(nids, k);
        assert_memory_equal(got, ids, k * sizeof(ids[0]));
        assert_int_equal(d.pos, e.len);
    }

    rc_term_enc_init(&e, buf, sizeof(buf));
    rc_term_put_ref(&e, "py@127.0.0.1", 1, ids, 0);
    assert_int_equal(e.err, -EINVAL);
    assert_int_equal(e.len, 0);
    rc_term_enc_init(&e, buf, sizeof(buf));
    rc_term_put_ref(&e, "py@127.0.0.1", 1, ids, 6);
    assert_int_equal(e.err, -EINVAL);
}

/* Every capacity short of the full encoding: sticky -EMSGSIZE, no write past
 * cap (the buffer is exactly cap bytes on the heap), later puts ignored. */
static void test_put_sticky_overflow(void **state)
{
    const uint32_t ids[3] = {1, 2, 3};
    uint8_t full[256];
    struct rc_term_enc e;
    size_t need;

    rc_term_enc_init(&e, full, sizeof(full));
    rc_term_put_tuple(&e, 3);
    rc_term_put_pid(&e, "py@127.0.0.1", 1, 0, 7);
    rc_term_put_ref(&e, "py@127.0.0.1", 7, ids, 3);
    rc_term_put_long(&e, INT64_MIN);
    assert_int_equal(e.err, 0);
    need = e.len;

    for (size_t cap = 0; cap < need; cap++) {
        uint8_t *buf = malloc(cap ? cap : 1);

        assert_non_null(buf);
        rc_term_enc_init(&e, buf, cap);
        rc_term_put_tuple(&e, 3);
        rc_term_put_pid(&e, "py@127.0.0.1", 1, 0, 7);
        rc_term_put_ref(&e, "py@127.0.0.1", 7, ids, 3);
        rc_term_put_long(&e, INT64_MIN);
        assert_int_equal(e.err, -EMSGSIZE);
        assert_true(e.len <= cap);
        assert_memory_equal(buf, full, e.len); /* what fitted is right */
        free(buf);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_skip_every_tag),
        cmocka_unit_test(test_skip_long_atoms),
        cmocka_unit_test(test_skip_refuses),
        cmocka_unit_test(test_skip_hostile_lengths),
        cmocka_unit_test(test_skip_depth),
        cmocka_unit_test(test_skip_list_tail_chain),
        cmocka_unit_test(test_skip_sequence_and_bad_cursor),
        cmocka_unit_test(test_dec_version_and_peek),
        cmocka_unit_test(test_dec_tuple),
        cmocka_unit_test(test_dec_list),
        cmocka_unit_test(test_dec_atom),
        cmocka_unit_test(test_dec_long),
        cmocka_unit_test(test_dec_ref),
        cmocka_unit_test(test_put_primitives),
        cmocka_unit_test(test_put_long_round_trip),
        cmocka_unit_test(test_put_atom_round_trip),
        cmocka_unit_test(test_put_containers_round_trip),
        cmocka_unit_test(test_put_pid_ref_round_trip),
        cmocka_unit_test(test_put_sticky_overflow),
    };

    return cmocka_run_group_tests_name("term", tests, NULL, NULL);
}

/*
 * test_base_text.c - base/text.c: the strict UTF-8 decoder and the one
 * escaper, in each mode, including where a cut may fall.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "rollcall/text.h"

static size_t dec(const char *s, size_t len, uint32_t *cp)
{
    return rc_utf8_decode((const unsigned char *)s, len, cp);
}

static void test_utf8_decode(void **state)
{
    uint32_t cp = 0;

    assert_int_equal(dec("a", 1, &cp), 1);
    assert_int_equal(cp, 'a');
    assert_int_equal(dec("\xc3\xa9", 2, &cp), 2);
    assert_int_equal(cp, 0xE9);
    assert_int_equal(dec("\xe2\x9c\x93", 3, &cp), 3);
    assert_int_equal(cp, 0x2713);
    assert_int_equal(dec("\xf0\x9f\x98\x80", 4, &cp), 4);
    assert_int_equal(cp, 0x1F600);
    assert_int_equal(dec("\xf4\x8f\xbf\xbf", 4, &cp), 4); /* U+10FFFF */
    assert_int_equal(dec("\0", 1, &cp), 1);
    assert_int_equal(cp, 0);
    assert_int_equal(dec("a", 1, NULL), 1);
    /* invalid: empty, truncated, overlong, surrogate, past U+10FFFF, stray */
    assert_int_equal(dec("", 0, &cp), 0);
    assert_int_equal(dec("\xc3", 1, &cp), 0);
    assert_int_equal(dec("\xe2\x9c", 2, &cp), 0);
    assert_int_equal(dec("\xc0\x80", 2, &cp), 0);
    assert_int_equal(dec("\xc1\xbf", 2, &cp), 0);
    assert_int_equal(dec("\xe0\x80\x80", 3, &cp), 0);
    assert_int_equal(dec("\xf0\x80\x80\x80", 4, &cp), 0);
    assert_int_equal(dec("\xed\xa0\x80", 3, &cp), 0); /* U+D800 */
    assert_int_equal(dec("\xf4\x90\x80\x80", 4, &cp), 0);
    assert_int_equal(dec("\xf5\x80\x80\x80", 4, &cp), 0);
    assert_int_equal(dec("\x80", 1, &cp), 0);
    assert_int_equal(dec("\xff", 1, &cp), 0);
    assert_int_equal(dec("\xc3(", 2, &cp), 0);
}

static const char hostile[] =
    "a\nb\tc\r\x1b[31md\"q\"\\e\xff\xc3(f\xc2\x9bg\x7fh \xc3\xa9 \xe2\x9c\x93";

static void expect(enum rc_text_mode mode, const char *want)
{
    char out[256];
    size_t used = 0,
           n = rc_text_escape(hostile, sizeof(hostile) - 1, mode, out, sizeof(out), &used);

    assert_string_equal(out, want);
    assert_int_equal(n, strlen(want));
    assert_int_equal(used, sizeof(hostile) - 1);
}

static void test_escape_modes(void **state)
{
    expect(RC_TEXT_BARE,
           "a\\nb\\tc\\r\\x1b[31md\"q\"\\\\e\\xff\\xc3(f\\xc2\\x9bg\\x7fh \xc3\xa9 \xe2\x9c\x93");
    expect(
        RC_TEXT_QUOTED,
        "a\\nb\\tc\\r\\x1b[31md\\\"q\\\"\\\\e\\xff\\xc3(f\\xc2\\x9bg\\x7fh \xc3\xa9 \xe2\x9c\x93");
    expect(RC_TEXT_JSON, "a\\nb\\tc\\r\\u001b[31md\\\"q\\\"\\\\e\\\\xff\\\\xc3(f\\u009bg\\u007fh "
                         "\xc3\xa9 \xe2\x9c\x93");
}

/* The double-escape bug's name: \x1b once. */
static void test_escape_once(void **state)
{
    char out[64];

    rc_text_escape("evil\x1b[2J@h", 10, RC_TEXT_BARE, out, sizeof(out), NULL);
    assert_string_equal(out, "evil\\x1b[2J@h");
    rc_text_escape("a\0b", 3, RC_TEXT_BARE, out, sizeof(out), NULL);
    assert_string_equal(out, "a\\x00b");
}

static void test_escape_cut(void **state)
{
    char out[16];
    size_t used = 99;

    /* whole escapes only: "ab\n" into 4 bytes: "ab" then "\n" (2) does not fit */
    assert_int_equal(rc_text_escape("ab\ncd", 5, RC_TEXT_BARE, out, 4, &used), 2);
    assert_string_equal(out, "ab");
    assert_int_equal(used, 2);
    /* a multi-byte character is not split */
    assert_int_equal(rc_text_escape("a\xc3\xa9", 3, RC_TEXT_BARE, out, 3, &used), 1);
    assert_int_equal(used, 1);
    /* cap 0 writes nothing, cap 1 only the NUL */
    memset(out, 'X', sizeof(out));
    assert_int_equal(rc_text_escape("abc", 3, RC_TEXT_BARE, out, 0, &used), 0);
    assert_int_equal(out[0], 'X');
    assert_int_equal(used, 0);
    assert_int_equal(rc_text_escape("abc", 3, RC_TEXT_BARE, out, 1, &used), 0);
    assert_string_equal(out, "");
    /* the cut variant marks a cut */
    assert_int_equal(rc_text_escape_cut("abcdefghijkl", 12, RC_TEXT_BARE, out, 8), 7);
    assert_string_equal(out, "abcd...");
    assert_int_equal(rc_text_escape_cut("abc", 3, RC_TEXT_BARE, out, 4), 3);
    assert_string_equal(out, "abc");
    assert_int_equal(rc_text_escape_cut("\n\n\n\n", 4, RC_TEXT_BARE, out, 8), 7);
    assert_string_equal(out, "\\n\\n...");
    assert_int_equal(rc_text_escape_cut("abcdef", 6, RC_TEXT_BARE, out, 3), 2);
    assert_string_equal(out, "ab");
}

static void test_bare_ok(void **state)
{
    assert_true(rc_text_bare_ok("a@10.0.0.1", 10));
    assert_true(rc_text_bare_ok("\xc3\xa9t\xc3\xa9", 5));
    assert_false(rc_text_bare_ok("", 0));
    assert_false(rc_text_bare_ok("a b", 3));
    assert_false(rc_text_bare_ok("a=b", 3));
    assert_false(rc_text_bare_ok("a\"b", 3));
    assert_false(rc_text_bare_ok("a\\b", 3));
    assert_false(rc_text_bare_ok("a\x7f", 2));
    assert_false(rc_text_bare_ok("a\xc2\x9b", 3));
    assert_false(rc_text_bare_ok("a\xff", 2));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8_decode), cmocka_unit_test(test_escape_modes),
        cmocka_unit_test(test_escape_once), cmocka_unit_test(test_escape_cut),
        cmocka_unit_test(test_bare_ok),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

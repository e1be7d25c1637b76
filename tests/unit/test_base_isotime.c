/*
 * test_base_isotime.c - base/isotime.c: ISO-8601 UTC times, what is read,
 * what is refused, and that format and parse agree.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "rollcall/isotime.h"

static void expect_time(const char *s, int64_t want)
{
    int64_t got = -12345;

    if (rc_time_parse_iso(s, strlen(s), &got) != 0)
        fail_msg("rejected \"%s\"", s);
    if (got != want)
        fail_msg("\"%s\" -> %lld, want %lld", s, (long long)got, (long long)want);
}

static void expect_bad_time(const char *s)
{
    int64_t got = -12345;

    if (rc_time_parse_iso(s, strlen(s), &got) != -EINVAL)
        fail_msg("accepted \"%s\"", s);
    assert_int_equal(got, -12345);
}

static void test_time_parse(void **state)
{
    expect_time("1970-01-01T00:00:00.000Z", 0);
    expect_time("2026-11-20T22:54:17.123Z", 1795215257123LL);
    expect_time("2026-11-20T22:54:17Z", 1795215257000LL);
    expect_time("2026-11-20T22:54:17.1Z", 1795215257100LL);
    expect_time("2026-11-20T22:54:17.123456789Z", 1795215257123LL); /* truncated, not rounded */
    expect_time("2026-11-20T22:54:17.999999z", 1795215257999LL);
    expect_time("2026-11-20t22:54:17+00:00", 1795215257000LL);
    expect_time("2026-11-20 22:54:17.123456Z", 1795215257123LL);
    expect_time("2024-02-29T12:00:00Z", 1709208000000LL);
    expect_time("2000-02-29T00:00:00Z", 951782400000LL);
    expect_time("1969-12-31T23:59:59.999Z", -1);
    expect_time("2016-12-31T23:59:60Z", 1483228800000LL); /* leap second */
    expect_time("9999-12-31T23:59:59.999Z", 253402300799999LL);

    expect_bad_time(
        "9999-12-31T23:59:60.999999999Z"); /* past the last formattable instant (fuzz_entry) */
    expect_bad_time("");
    expect_bad_time("2026-11-20");
    expect_bad_time("2026-11-20T22:54:17");   /* no zone */
    expect_bad_time("2026-11-20T22:54:17.Z"); /* empty fraction */
    expect_bad_time("2026-11-20T22:54:17.1234567890Z");
    expect_bad_time("2026-11-20T22:54:17+02:00");
    expect_bad_time("2026-11-20T22:54:17-00:00");
    expect_bad_time("2026-11-20T22:54:17Z ");
    expect_bad_time(" 2026-11-20T22:54:17Z");
    expect_bad_time("2026-11-20T22:54:17ZZ");
    expect_bad_time("2026-1-20T22:54:17Z");
    expect_bad_time("2026-00-20T22:54:17Z");
    expect_bad_time("2026-13-20T22:54:17Z");
    expect_bad_time("2026-11-00T22:54:17Z");
    expect_bad_time("2026-11-31T22:54:17Z");
    expect_bad_time("2023-02-29T22:54:17Z");
    expect_bad_time("1900-02-29T22:54:17Z");
    expect_bad_time("2026-11-20T24:00:00Z");
    expect_bad_time("2026-11-20T23:60:00Z");
    expect_bad_time("2026-11-20T23:59:61Z");
    expect_bad_time("2026-11-20X22:54:17Z");
    expect_bad_time("+2026-11-20T22:54:17Z");
    expect_bad_time("2026-11-20T22:54:1Z");

    /* len bounds the parse: the NUL-free prefix is all that is read */
    int64_t got;
    assert_int_equal(rc_time_parse_iso("2026-11-20T22:54:17Zjunk", 20, &got), 0);
    assert_int_equal(got, 1795215257000LL);
    assert_int_equal(rc_time_parse_iso("2026-11-20T22:54:17Z", 19, &got), -EINVAL);
    assert_int_equal(rc_time_parse_iso(NULL, 0, &got), -EINVAL);
}

static void test_time_format(void **state)
{
    char out[32];

    rc_time_format_iso(0, out);
    assert_string_equal(out, "1970-01-01T00:00:00.000Z");
    rc_time_format_iso(1795215257123LL, out);
    assert_string_equal(out, "2026-11-20T22:54:17.123Z");
    assert_int_equal(strlen(out), 24);
    rc_time_format_iso(-1, out);
    assert_string_equal(out, "1969-12-31T23:59:59.999Z");
    rc_time_format_iso(1709208000000LL, out);
    assert_string_equal(out, "2024-02-29T12:00:00.000Z");
    /* out of the year 0000..9999 range: clamped */
    rc_time_format_iso(INT64_MAX, out);
    assert_string_equal(out, "9999-12-31T23:59:59.999Z");
    rc_time_format_iso(INT64_MIN, out);
    assert_string_equal(out, "0000-01-01T00:00:00.000Z");

    /* format and parse agree across the range */
    for (int64_t ms = -62167219200000LL; ms < 253402300799999LL; ms += 86399999LL * 97 + 7) {
        int64_t back;

        rc_time_format_iso(ms, out);
        assert_int_equal(rc_time_parse_iso(out, strlen(out), &back), 0);
        assert_int_equal(back, ms);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_time_parse),
        cmocka_unit_test(test_time_format),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

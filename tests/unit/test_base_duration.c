/*
 * test_base_duration.c - base/duration.c: the one duration rule, its bad
 * cases, and that format and parse agree.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "rollcall/duration.h"

static void expect_ms(const char *s, uint64_t want)
{
    uint64_t ms = 12345;

    if (rc_duration_from_text(s, strlen(s), &ms) != 0)
        fail_msg("rejected \"%s\"", s);
    assert_int_equal(ms, want);
}

static void test_good(void **state)
{
    expect_ms("500ms", 500);
    expect_ms("2s", 2000);
    expect_ms("1m", 60000);
    expect_ms("1h", 3600000);
    expect_ms("10", 10); /* bare digits: milliseconds */
    expect_ms("0", 0);
    expect_ms("0s", 0);
    expect_ms("007s", 7000);
    expect_ms("1844674407370955160", 1844674407370955160ULL);
    expect_ms("1000000h", 1000000ULL * 3600000ULL);
    expect_ms("5124095576030h", 5124095576030ULL * 3600000ULL);
}

static void test_bad(void **state)
{
    static const char *const bad[] = {"",
                                      "s",
                                      "1.5s",
                                      "5 s",
                                      "-1s",
                                      "+1s",
                                      "1S",
                                      "1d",
                                      "2sec",
                                      " 1s",
                                      "1s ",
                                      "1ms5",
                                      "1mss",
                                      "0x10",
                                      "1e3",
                                      "18446744073709551616",
                                      "5124095576030432h"};
    uint64_t ms = 12345;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (rc_duration_from_text(bad[i], strlen(bad[i]), &ms) != -EINVAL)
            fail_msg("accepted \"%s\"", bad[i]);
        assert_int_equal(ms, 12345);
    }
    assert_int_equal(rc_duration_from_text(NULL, 0, &ms), -EINVAL);
    /* the length bounds the text: "2s" within "2sx" */
    assert_int_equal(rc_duration_from_text("2sx", 2, &ms), 0);
    assert_int_equal(ms, 2000);
    assert_int_equal(rc_duration_from_text("2sx", 0, &ms), -EINVAL);
}

static void test_format(void **state)
{
    char out[32];
    uint64_t back;

    rc_duration_to_text(1500, out, sizeof(out));
    assert_string_equal(out, "1500ms");
    rc_duration_to_text(90000, out, sizeof(out));
    assert_string_equal(out, "90s");
    rc_duration_to_text(120000, out, sizeof(out));
    assert_string_equal(out, "2m");
    rc_duration_to_text(7200000, out, sizeof(out));
    assert_string_equal(out, "2h");
    rc_duration_to_text(0, out, sizeof(out));
    assert_string_equal(out, "0ms");
    for (uint64_t v = 1; v < 100000000000ULL; v = v * 3 + 7) {
        rc_duration_to_text(v, out, sizeof(out));
        assert_int_equal(rc_duration_from_text(out, strlen(out), &back), 0);
        assert_int_equal(back, v);
    }
    assert_non_null(strstr(RC_DURATION_HINT, "500ms, 2s, 1m, 1h"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good),
        cmocka_unit_test(test_bad),
        cmocka_unit_test(test_format),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

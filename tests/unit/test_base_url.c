/*
 * test_base_url.c - base/url.c: the scheme, the authority splitter (the
 * last '@', IPv6 brackets, empty versus missing parts), the port,
 * percent-decoding and conninfo detection. Masking is tested in
 * test_registry.c (rc_registry_mask_url).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "rollcall/url.h"

static void span_eq(struct rc_url_span s, const char *want)
{
    if (want == NULL) {
        assert_null(s.p);
        assert_int_equal(s.len, 0);
        return;
    }
    assert_non_null(s.p);
    if (s.len != strlen(want) || memcmp(s.p, want, s.len) != 0)
        fail_msg("span \"%.*s\", want \"%s\"", (int)s.len, s.p, want);
}

static void test_scheme(void **state)
{
    char out[RC_URL_SCHEME_MAX];

    assert_int_equal(rc_url_scheme("ReDiS://h", out), 5);
    assert_string_equal(out, "redis");
    assert_int_equal(rc_url_scheme("a+b-c.d:x", out), 7);
    assert_int_equal(rc_url_scheme("1abc://x", out), 0);
    assert_int_equal(rc_url_scheme("/var/lib", out), 0);
    assert_int_equal(rc_url_scheme("redis", out), 0);
    assert_int_equal(rc_url_scheme("a b://x", out), 0);
    assert_int_equal(rc_url_scheme(NULL, out), 0);
    assert_int_equal(rc_url_scheme("abcdefghijklmnopqrstuvwxyz01234:", out), 31);
    assert_int_equal(rc_url_scheme("abcdefghijklmnopqrstuvwxyz012345:", out), 0); /* too long */
}

static void test_split(void **state)
{
    struct rc_url_parts u;

    assert_int_equal(rc_url_split("redis://user:p@ss@host:6379/0?timeout=2s#f", &u), 0);
    span_eq(u.scheme, "redis");
    assert_true(u.has_authority && u.has_user && u.has_password && u.has_port);
    span_eq(u.user, "user");
    span_eq(u.password, "p@ss"); /* the userinfo ends at the last '@' */
    span_eq(u.host, "host");
    span_eq(u.port, "6379");
    span_eq(u.path, "/0");
    assert_true(u.has_query && u.has_fragment);
    span_eq(u.query, "timeout=2s");
    span_eq(u.fragment, "f");

    assert_int_equal(rc_url_split("redis://:pw@[::1]:7000", &u), 0);
    assert_true(u.has_user && u.has_password && u.host_bracketed);
    assert_int_equal(u.user.len, 0); /* empty, but there */
    span_eq(u.password, "pw");
    span_eq(u.host, "::1");
    span_eq(u.port, "7000");
    assert_int_equal(u.path.len, 0);
    assert_false(u.has_query);

    assert_int_equal(rc_url_split("s3://bucket/pre/fix", &u), 0);
    assert_false(u.has_user || u.has_password || u.has_port);
    span_eq(u.user, NULL);
    span_eq(u.host, "bucket");
    span_eq(u.path, "/pre/fix");

    assert_int_equal(rc_url_split("file:///var/lib/rollcall", &u), 0);
    assert_true(u.has_authority);
    assert_int_equal(u.host.len, 0);
    span_eq(u.path, "/var/lib/rollcall");

    assert_int_equal(rc_url_split("file:/x?y", &u), 0);
    assert_false(u.has_authority);
    span_eq(u.path, "/x");
    span_eq(u.query, "y");

    assert_int_equal(rc_url_split("redis://h:", &u), 0);
    assert_true(u.has_port);
    assert_int_equal(u.port.len, 0);

    /* a '/' ends the authority: what follows is path, not password */
    assert_int_equal(rc_url_split("redis://u:p/w@h", &u), 0);
    span_eq(u.host, "u");
    span_eq(u.port, "p");
    span_eq(u.path, "/w@h");

    assert_int_equal(rc_url_split("redis://[::1", &u), -EINVAL);
    assert_int_equal(rc_url_split("redis://[::1]x", &u), -EINVAL);
    assert_int_equal(rc_url_split("no scheme", &u), -EINVAL);
    assert_int_equal(rc_url_split(NULL, &u), -EINVAL);
}

static void test_port(void **state)
{
    unsigned p = 7;
    struct rc_url_span s;

    s.p = "6379", s.len = 4;
    assert_int_equal(rc_url_port(s, &p), 0);
    assert_int_equal(p, 6379);
    s.p = "0", s.len = 1;
    assert_int_equal(rc_url_port(s, &p), 0);
    assert_int_equal(p, 0);
    s.p = "65535", s.len = 5;
    assert_int_equal(rc_url_port(s, &p), 0);
    s.p = "65536", s.len = 5;
    assert_int_equal(rc_url_port(s, &p), -EINVAL);
    s.p = "000001", s.len = 6;
    assert_int_equal(rc_url_port(s, &p), -EINVAL);
    s.p = "", s.len = 0;
    assert_int_equal(rc_url_port(s, &p), -EINVAL);
    s.p = "1a", s.len = 2;
    assert_int_equal(rc_url_port(s, &p), -EINVAL);
    s.p = "-1", s.len = 2;
    assert_int_equal(rc_url_port(s, &p), -EINVAL);
}

static void test_decode(void **state)
{
    char out[8];

    assert_int_equal(rc_url_decode("a%40b+c", 7, false, out, sizeof(out)), 5);
    assert_string_equal(out, "a@b+c");
    assert_int_equal(rc_url_decode("a%40b+c", 7, true, out, sizeof(out)), 5);
    assert_string_equal(out, "a@b c");
    assert_int_equal(rc_url_decode("%4a%4A", 6, false, out, sizeof(out)), 2);
    assert_string_equal(out, "JJ");
    assert_int_equal(rc_url_decode("%", 1, false, out, sizeof(out)), -EINVAL);
    assert_int_equal(rc_url_decode("%4", 2, false, out, sizeof(out)), -EINVAL);
    assert_int_equal(rc_url_decode("%zz", 3, false, out, sizeof(out)), -EINVAL);
    assert_int_equal(rc_url_decode("12345678", 8, false, out, sizeof(out)), -ENAMETOOLONG);
    assert_int_equal(rc_url_decode("1234567", 7, false, out, sizeof(out)), 7);
    assert_int_equal(rc_url_decode("", 0, false, out, 0), -ENAMETOOLONG);
    assert_int_equal(rc_url_decode("a%00b", 5, false, out, sizeof(out)), 3);
    assert_int_equal(rc_url_decode_str("a%00b", 5, out, sizeof(out)), -EINVAL);
    assert_int_equal(rc_url_decode_str("a%20b", 5, out, sizeof(out)), 3);
    assert_int_equal(rc_hexval('f'), 15);
    assert_int_equal(rc_hexval('F'), 15);
    assert_int_equal(rc_hexval('g'), -1);
}

static void test_conninfo(void **state)
{
    assert_true(rc_url_is_conninfo("host=db dbname=rc"));
    assert_true(rc_url_is_conninfo("  sslmode = require"));
    assert_false(rc_url_is_conninfo("postgres://h/db"));
    assert_false(rc_url_is_conninfo("/var/lib"));
    assert_false(rc_url_is_conninfo("=x"));
    assert_false(rc_url_is_conninfo(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scheme), cmocka_unit_test(test_split),    cmocka_unit_test(test_port),
        cmocka_unit_test(test_decode), cmocka_unit_test(test_conninfo),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_entry.c - the entry text format (registry/entry.c): what is rejected,
 * what is tolerated, and that format and parse agree.
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

#include "rollcall/registry.h"

#define HINT "rollcall@10.0.0.5"

static char err[128];

/* Parses a NUL-terminated text under HINT. */
static int parse(const char *text, struct rc_entry *e)
{
    err[0] = '\0';
    return rc_entry_parse(text, strlen(text), HINT, e, err, sizeof(err));
}

static void expect_reject(const char *text, const char *why)
{
    struct rc_entry e;

    memset(&e, 0x5A, sizeof(e));
    if (parse(text, &e) != -EPROTO)
        fail_msg("accepted: \"%s\"", text);
    if (why != NULL && strstr(err, why) == NULL)
        fail_msg("reason \"%s\" lacks \"%s\" for \"%s\"", err, why, text);
    /* nothing written on failure */
    for (size_t i = 0; i < sizeof(e); i++)
        assert_int_equal(((unsigned char *)&e)[i], 0x5A);
}

static void expect_ok(const char *text, struct rc_entry *e)
{
    if (parse(text, e) != 0)
        fail_msg("rejected (%s): \"%s\"", err, text);
    assert_string_equal(e->name, HINT);
}

static void test_round_trip(void **state)
{
    struct rc_entry in = {0}, out;
    char text[1024];
    size_t len = 0;

    strcpy(in.name, HINT);
    strcpy(in.host, "10.0.0.5");
    in.port = 4370;
    in.started_at_ms = 1795215001000LL;
    in.updated_at_ms = 1795215257123LL;
    in.age_ms = 99; /* not part of the text */
    assert_int_equal(rc_entry_format(&in, text, sizeof(text), &len), 0);
    assert_int_equal(len, strlen(text));
    assert_string_equal(text, "2026-11-20T22:54:17.123Z\n"
                              "name=rollcall@10.0.0.5\n"
                              "host=10.0.0.5\n"
                              "port=4370\n"
                              "started_at=2026-11-20T22:50:01.000Z\n");
    assert_int_equal(rc_entry_parse(text, len, HINT, &out, err, sizeof(err)), 0);
    assert_string_equal(out.name, in.name);
    assert_string_equal(out.host, in.host);
    assert_int_equal(out.port, in.port);
    assert_int_equal(out.started_at_ms, in.started_at_ms);
    assert_int_equal(out.updated_at_ms, in.updated_at_ms);
    assert_int_equal(out.age_ms, 0);

    /* optional fields left out stay out, and come back as unknown */
    in.host[0] = '\0';
    in.port = 0;
    in.started_at_ms = 0;
    assert_int_equal(rc_entry_format(&in, text, sizeof(text), &len), 0);
    assert_string_equal(text, "2026-11-20T22:54:17.123Z\nname=rollcall@10.0.0.5\nport=0\n");
    assert_int_equal(rc_entry_parse(text, len, HINT, &out, err, sizeof(err)), 0);
    assert_string_equal(out.host, "");
    assert_int_equal(out.port, 0);
    assert_int_equal(out.started_at_ms, 0);
}

static void test_format_errors(void **state)
{
    struct rc_entry e = {0};
    char text[1024];
    size_t len = 7;

    strcpy(e.name, HINT);
    assert_int_equal(rc_entry_format(&e, text, 10, &len), -EMSGSIZE);
    assert_int_equal(len, 7);
    strcpy(e.name, "no-at-sign");
    assert_int_equal(rc_entry_format(&e, text, sizeof(text), &len), -EINVAL);
    strcpy(e.name, "a/b@host");
    assert_int_equal(rc_entry_format(&e, text, sizeof(text), &len), -EINVAL);
    strcpy(e.name, HINT);
    strcpy(e.host, "10.0.0.5\nport=1");
    assert_int_equal(rc_entry_format(&e, text, sizeof(text), &len), -EINVAL);
    strcpy(e.host, "host name");
    assert_int_equal(rc_entry_format(&e, text, sizeof(text), &len), -EINVAL);
}

/* What the classic Elixir setup writes: a timestamp and nothing else. */
static void test_classic_elixir(void **state)
{
    struct rc_entry e;

    expect_ok("2026-11-20T22:54:17.123456Z\n", &e);
    assert_int_equal(e.updated_at_ms, 1795215257123LL);
    assert_string_equal(e.host, "");
    assert_int_equal(e.port, 0);
    assert_int_equal(e.started_at_ms, 0);

    expect_ok("2026-11-20T22:54:17Z", &e); /* no newline, no fraction */
    assert_int_equal(e.updated_at_ms, 1795215257000LL);
    expect_ok("2026-11-20 22:54:17.123456Z\r\n", &e); /* DateTime.to_string, CRLF */
    assert_int_equal(e.updated_at_ms, 1795215257123LL);
    expect_ok("2026-11-20T22:54:17.123+00:00\n", &e);
    assert_int_equal(e.updated_at_ms, 1795215257123LL);
}

/* Readable text that is not ours: the name stands, the time is unknown. */
static void test_garbage_tolerated(void **state)
{
    static const char *const texts[] = {
        "",
        "\n",
        "hello world\n",
        "{\"node\": \"x\", \"t\": 1}\n",
        "Fri Nov 20 22:54:17 UTC 2026\n",  /* a timestamp, but not ISO-8601 */
        "2026-13-45T99:99:99Z\n",          /* not a valid time: just garbage */
        "2026-11-20T22:54:17.123+02:00\n", /* not UTC: not taken */
        "NAME=someone@else\nPort=x\n",     /* keys are lower-case: unknown lines */
        "port = 4370\n",                   /* not key=value: ignored */
        "note=\"quoted\" value\nx=\n=y\n",
        "caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x90\x98\n", /* valid UTF-8 */
    };
    struct rc_entry e;

    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        expect_ok(texts[i], &e);
        assert_int_equal(e.updated_at_ms, 0);
        assert_int_equal(e.port, 0);
        assert_string_equal(e.host, "");
    }
}

static void test_first_line_key_value(void **state)
{
    struct rc_entry e;

    /* no timestamp line: keys still count */
    expect_ok("name=" HINT "\nhost=db-1.example\nport=4370\nextra=ignored\n", &e);
    assert_int_equal(e.updated_at_ms, 0);
    assert_string_equal(e.host, "db-1.example");
    assert_int_equal(e.port, 4370);
    /* a timestamp on a later line is not the refresh time */
    expect_ok("junk\n2026-11-20T22:54:17Z\n", &e);
    assert_int_equal(e.updated_at_ms, 0);
    /* IPv6 host */
    expect_ok("2026-11-20T22:54:17Z\nhost=fe80::1\n", &e);
    assert_string_equal(e.host, "fe80::1");
}

static void test_long_lines(void **state)
{
    char text[2100];
    struct rc_entry e;

    memset(text, 'x', 1024);
    text[1024] = '\0';
    expect_ok(text, &e); /* exactly the limit */
    strcpy(text + 1024, "\r\n");
    expect_ok(text, &e); /* the line end does not count */
    memset(text, 'x', 1025);
    text[1025] = '\0';
    expect_reject(text, "longer than 1024");
    strcpy(text, "2026-11-20T22:54:17Z\nnote=");
    memset(text + strlen(text), 'y', 1030);
    text[21 + 5 + 1030] = '\0';
    expect_reject(text, "line 2");
}

static void test_text_too_long(void **state)
{
    size_t len = RC_ENTRY_TEXT_MAX + 1;
    char *text = malloc(len);
    struct rc_entry e;

    assert_non_null(text);
    for (size_t i = 0; i < len; i++)
        text[i] = (i % 64 == 63) ? '\n' : 'a';
    assert_int_equal(rc_entry_parse(text, len, HINT, &e, err, sizeof(err)), -EPROTO);
    assert_int_equal(rc_entry_parse(text, len - 1, HINT, &e, err, sizeof(err)), 0);
    free(text);
}

static void test_control_bytes(void **state)
{
    static const char *const texts[] = {
        "2026-11-20T22:54:17Z\nport=4370\tx\n",
        "\x1b[31mred\n",
        "2026-11-20T22:54:17Z\x7f\n",
        "a\rb\n",                /* a bare CR is not a line end */
        "abc\r\r\n",             /* only one trailing CR */
        "note=\xc2\x85 (NEL)\n", /* a C1 control, valid UTF-8 */
        "\x0c",
    };
    struct rc_entry e;
    char with_nul[] = "2026-11-20T22:54:17Z\nhost=a\0b\n";

    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
        expect_reject(texts[i], "control");
    memset(&e, 0, sizeof(e));
    assert_int_equal(rc_entry_parse(with_nul, sizeof(with_nul) - 1, HINT, &e, err, sizeof(err)),
                     -EPROTO);
    assert_non_null(strstr(err, "line 2: NUL byte"));
    /* CR before LF, or ending the text, is fine */
    expect_ok("2026-11-20T22:54:17Z\r\nport=1\r\n", &e);
    assert_int_equal(e.port, 1);
    expect_ok("2026-11-20T22:54:17Z\r\nport=2\r", &e);
    assert_int_equal(e.port, 2);
}

static void test_non_utf8(void **state)
{
    static const char *const texts[] = {
        "note=\xff\n",
        "note=\xc0\xaf\n",              /* overlong '/' */
        "note=\xe0\x80\xaf\n",          /* overlong, 3 bytes */
        "note=\xed\xa0\x80\n",          /* surrogate */
        "note=\xf4\x90\x80\x80\n",      /* > U+10FFFF */
        "note=\xe2\x82",                /* truncated at the end */
        "note=\xe2\x82x\n",             /* truncated mid-text */
        "\x80\n",                       /* lone continuation byte */
        "name=rollcall@10.0.0.5\xa0\n", /* in a value that matters */
    };

    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
        expect_reject(texts[i], "invalid UTF-8");
}

static void test_ports(void **state)
{
    static const char *const bad[] = {"",          "-1",    "65536", "+80", " 80",
                                      "80 ",       "0x50",  "8o",    "1e3", "99999999999999999999",
                                      "000004370", "\"80\""};
    struct rc_entry e;
    char text[64];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(text, sizeof(text), "port=%s\n", bad[i]);
        expect_reject(text, "port=");
    }
    expect_ok("port=0\n", &e);
    assert_int_equal(e.port, 0);
    expect_ok("port=65535\n", &e);
    assert_int_equal(e.port, 65535);
    expect_ok("port=04370\n", &e);
    assert_int_equal(e.port, 4370);
}

static void test_hosts(void **state)
{
    struct rc_entry e;
    char text[400];

    expect_reject("host=\"10.0.0.5\"\n", "host=");
    expect_reject("host=10.0.0.5 \n", "host=");
    expect_reject("host=a/b\n", "host=");
    expect_reject("host=[::1]\n", "host=");
    expect_ok("host=\n", &e);
    assert_string_equal(e.host, "");
    strcpy(text, "host=");
    memset(text + 5, 'h', RC_HOST_MAX);
    text[5 + RC_HOST_MAX] = '\0';
    expect_ok(text, &e);
    assert_int_equal(strlen(e.host), RC_HOST_MAX);
    strcat(text, "h");
    expect_reject(text, "host=");
}

static void test_names(void **state)
{
    struct rc_entry e;

    expect_ok("name=" HINT "\n", &e);
    expect_reject("name=other@10.0.0.5\n", "differs");
    expect_reject("name=\"" HINT "\"\n", "differs");
    expect_reject("name=" HINT " \n", "differs");
    expect_reject("name=\n", "differs");
    expect_reject("name=" HINT "\nname=" HINT "\n", "given twice");
    /* the hint itself must be a node name: garbage content never rescues a bad name */
    static const char *const bad_hints[] = {"",      "no-at",  "a@b@c", "a/b@h", "a@h/x", "../x@h",
                                            "a@h\n", "\xff@h", "a b@h", "@h",    "a@"};
    for (size_t i = 0; i < sizeof(bad_hints) / sizeof(bad_hints[0]); i++) {
        assert_int_equal(rc_entry_parse("", 0, bad_hints[i], &e, err, sizeof(err)), -EPROTO);
        assert_non_null(strstr(err, "not a valid node name"));
    }
    assert_int_equal(rc_entry_parse("", 0, NULL, &e, err, sizeof(err)), -EPROTO);
}

static void test_other_keys(void **state)
{
    struct rc_entry e;

    expect_ok("started_at=2026-11-20T22:50:01.5Z\n", &e);
    assert_int_equal(e.started_at_ms, 1795215001500LL);
    expect_reject("started_at=yesterday\n", "started_at=");
    expect_reject("started_at=\n", "started_at=");
    expect_reject("port=1\nport=1\n", "port= given twice");
    expect_reject("host=a\nhost=a\n", "given twice");
    expect_reject("started_at=2026-11-20T22:50:01Z\nstarted_at=2026-11-20T22:50:01Z\n",
                  "given twice");
    /* unknown keys may repeat */
    expect_ok("x=1\nx=2\nupdated_at=whenever\n", &e);
}

/* kind= (docs/app.md): agent and app round-trip; anything else, a second
 * kind=, or none at all (an older rollcall, a classic Elixir file) reads as
 * unknown and never rejects the entry. */
static void test_kind(void **state)
{
    struct rc_entry in = {0}, out;
    char text[1024];
    size_t len;

    strcpy(in.name, HINT);
    in.updated_at_ms = 1795215257123LL;
    in.kind = RC_KIND_APP;
    assert_int_equal(rc_entry_format(&in, text, sizeof(text), &len), 0);
    assert_string_equal(text,
                        "2026-11-20T22:54:17.123Z\nname=rollcall@10.0.0.5\nport=0\nkind=app\n");
    assert_int_equal(rc_entry_parse(text, len, HINT, &out, err, sizeof(err)), 0);
    assert_int_equal(out.kind, RC_KIND_APP);
    in.kind = RC_KIND_AGENT;
    assert_int_equal(rc_entry_format_body(&in, text, sizeof(text), &len), 0);
    assert_string_equal(text, "name=rollcall@10.0.0.5\nport=0\nkind=agent\n");
    assert_int_equal(rc_entry_parse(text, len, HINT, &out, err, sizeof(err)), 0);
    assert_int_equal(out.kind, RC_KIND_AGENT);

    expect_ok("2026-11-20T22:54:17.123456Z\n", &out);
    assert_int_equal(out.kind, RC_KIND_UNKNOWN);
    expect_ok("name=rollcall@10.0.0.5\nport=0\n", &out);
    assert_int_equal(out.kind, RC_KIND_UNKNOWN);
    expect_ok("kind=App\n", &out);
    assert_int_equal(out.kind, RC_KIND_UNKNOWN);
    expect_ok("kind=app \n", &out);
    assert_int_equal(out.kind, RC_KIND_UNKNOWN);
    expect_ok("kind=\n", &out);
    assert_int_equal(out.kind, RC_KIND_UNKNOWN);
    expect_ok("kind=app\nkind=app\n", &out);
    assert_int_equal(out.kind, RC_KIND_UNKNOWN);
    expect_ok("kind=agent\nkind=app\n", &out);
    assert_int_equal(out.kind, RC_KIND_UNKNOWN);
    assert_string_equal(rc_entry_kind_str(RC_KIND_UNKNOWN), "");
    assert_int_equal(rc_entry_kind_parse("agent", 5), RC_KIND_AGENT);
    assert_int_equal(rc_entry_kind_parse("agentx", 5), RC_KIND_AGENT); /* len decides */
    assert_int_equal(rc_entry_kind_parse("ap", 2), RC_KIND_UNKNOWN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_format_errors),
        cmocka_unit_test(test_classic_elixir),
        cmocka_unit_test(test_garbage_tolerated),
        cmocka_unit_test(test_first_line_key_value),
        cmocka_unit_test(test_long_lines),
        cmocka_unit_test(test_text_too_long),
        cmocka_unit_test(test_control_bytes),
        cmocka_unit_test(test_non_utf8),
        cmocka_unit_test(test_ports),
        cmocka_unit_test(test_hosts),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_other_keys),
        cmocka_unit_test(test_kind),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

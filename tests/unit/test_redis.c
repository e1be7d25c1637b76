/*
 * test_redis.c - the pure parts of the Redis backend (backends/redis.c): URL
 * parsing and the decoding of list's rows. No server: backend_redis in the
 * integration tests runs the backend against redis-server.
 *
 * The backend's objects are linked in (rollcall_backend_redis): the parsers
 * through its private header, the operations through rc_backend_redis.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../backends/redis_int.h"

static char err[256];

static struct redis_url parse_ok(const char *url)
{
    struct redis_url u;

    err[0] = '\0';
    if (redis_url_parse(url, &u, err, sizeof(err)) != 0)
        fail_msg("refused %s: %s", url, err);
    return u;
}

static void parse_bad(const char *url, const char *why)
{
    struct redis_url u;

    memset(&u, 0x5A, sizeof(u));
    err[0] = '\0';
    if (redis_url_parse(url, &u, err, sizeof(err)) >= 0)
        fail_msg("accepted %s", url);
    if (why != NULL && strstr(err, why) == NULL)
        fail_msg("reason \"%s\" lacks \"%s\" for %s", err, why, url);
    for (size_t i = 0; i < sizeof(u); i++)
        assert_int_equal(((unsigned char *)&u)[i], 0x5A);
    assert_null(strstr(err, "hunter2"));
}

static void test_url_full(void **state)
{
    struct redis_url u = parse_ok(
        "redis://app%40x:p%40ss%2Fw%3Ard@cache.example:6380/3?cluster=prod.eu-1&timeout=1500ms");

    assert_string_equal(u.host, "cache.example");
    assert_int_equal(u.port, 6380);
    assert_int_equal(u.db, 3);
    assert_true(u.have_user);
    assert_string_equal(u.user, "app@x");
    assert_true(u.have_password);
    assert_string_equal(u.password, "p@ss/w:rd");
    assert_string_equal(u.cluster, "prod.eu-1");
    assert_int_equal(u.timeout_ms, 1500);
}

static void test_url_defaults(void **state)
{
    struct redis_url u = parse_ok("redis://10.0.0.7");

    assert_string_equal(u.host, "10.0.0.7");
    assert_int_equal(u.port, 6379);
    assert_int_equal(u.db, 0);
    assert_false(u.have_user);
    assert_false(u.have_password);
    assert_string_equal(u.cluster, "rollcall");
    assert_int_equal(u.timeout_ms, 2000);

    u = parse_ok("redis://");
    assert_string_equal(u.host, "127.0.0.1");
    u = parse_ok("redis://h/");
    assert_int_equal(u.db, 0);
    u = parse_ok("REDIS://h:1?timeout=2s");
    assert_int_equal(u.port, 1);
    assert_int_equal(u.timeout_ms, 2000);
}

static void test_url_password_only(void **state)
{
    struct redis_url u = parse_ok("redis://:secret@h");

    assert_false(u.have_user);
    assert_true(u.have_password);
    assert_string_equal(u.password, "secret");

    /* a password with an unescaped '@': the userinfo ends at the last '@' */
    u = parse_ok("redis://:a@b@h:7");
    assert_string_equal(u.password, "a@b");
    assert_string_equal(u.host, "h");
    assert_int_equal(u.port, 7);

    /* a user without a password: the password comes from REDISCLI_AUTH */
    u = parse_ok("redis://bob@h");
    assert_true(u.have_user);
    assert_false(u.have_password);
}

static void test_url_ipv6(void **state)
{
    struct redis_url u = parse_ok("redis://[::1]:6390/2");

    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, 6390);
    assert_int_equal(u.db, 2);
    u = parse_ok("redis://[fe80::1%25eth0]");
    assert_string_equal(u.host, "fe80::1%eth0"); /* zone id, %-decoded */
}

static void test_url_errors(void **state)
{
    parse_bad("rediss://h", "redis://");
    parse_bad("redis://:hunter2@h:0", "port");
    parse_bad("redis://:hunter2@h:65536", "port");
    parse_bad("redis://:hunter2@h:x", "port");
    parse_bad("redis://:hunter2@h:", "port");
    parse_bad("redis://:hunter2@h/x", "database");
    parse_bad("redis://:hunter2@h/1/2", "database");
    parse_bad("redis://:hunter2@[::1", "IPv6");
    parse_bad("redis://:hunter2@h?cluster=a{b}", "cluster");
    parse_bad("redis://:hunter2@h?cluster=", "cluster");
    parse_bad("redis://:hunter2@h?timeout=1h", "timeout");
    parse_bad("redis://:hunter2@h?timeout=50ms", "timeout");
    parse_bad("redis://:hunter2@h?password=hunter2", "unknown parameter \"password\"");
    parse_bad("redis://:hunter2@h#x", "fragment");
    parse_bad("redis://:hun%zzter2@h", "password");
    parse_bad("redis://:hun%00ter2@h", "password");
    parse_bad("redis://:hunter2@h%20x", "host");
}

static int decode(const char *name, long long age, enum redis_value vk, const char *value,
                  struct rc_entry *e)
{
    err[0] = '\0';
    return redis_decode_row(name, strlen(name), age, 1795215257000LL, vk, value,
                            value != NULL ? strlen(value) : 0, e, err, sizeof(err));
}

static void test_decode_ok(void **state)
{
    struct rc_entry e;

    assert_int_equal(decode("a@10.0.0.1", 1500, REDIS_VALUE_TEXT,
                            "name=a@10.0.0.1\nhost=10.0.0.1\nport=4370\n"
                            "started_at=2026-11-20T22:50:01.000Z\n",
                            &e),
                     0);
    assert_string_equal(e.name, "a@10.0.0.1");
    assert_string_equal(e.host, "10.0.0.1");
    assert_int_equal(e.port, 4370);
    assert_int_equal(e.age_ms, 1500);
    assert_int_equal(e.updated_at_ms, 1795215257000LL - 1500);
    assert_int_equal(e.started_at_ms, 1795215001000LL);

    /* an empty value is an entry with nothing but its name */
    assert_int_equal(decode("b@h", 0, REDIS_VALUE_TEXT, "", &e), 0);
    assert_string_equal(e.host, "");
    assert_int_equal(e.port, 0);

    /* a negative age (a score in the future) is 0 */
    assert_int_equal(decode("b@h", -20, REDIS_VALUE_TEXT, "", &e), 0);
    assert_int_equal(e.age_ms, 0);
}

static void expect_reject(const char *name, size_t namelen, enum redis_value vk, const char *value,
                          const char *why)
{
    struct rc_entry e;

    memset(&e, 0x5A, sizeof(e));
    err[0] = '\0';
    if (redis_decode_row(name, namelen, 0, 0, vk, value, value ? strlen(value) : 0, &e, err,
                         sizeof(err)) != -EPROTO)
        fail_msg("accepted %.*s", (int)namelen, name);
    if (strstr(err, why) == NULL)
        fail_msg("reason \"%s\" lacks \"%s\"", err, why);
    for (size_t i = 0; i < sizeof(e); i++)
        assert_int_equal(((unsigned char *)&e)[i], 0x5A);
}

static void test_decode_rejects(void **state)
{
    char longname[400];

    expect_reject("no-at", 5, REDIS_VALUE_TEXT, "", "node name");
    expect_reject("a b@h", 5, REDIS_VALUE_TEXT, "", "node name");
    expect_reject("a@h\0x", 5, REDIS_VALUE_TEXT, "", "node name");
    memset(longname, 'a', sizeof(longname));
    longname[1] = '@';
    expect_reject(longname, RC_NAME_MAX + 1, REDIS_VALUE_TEXT, "", "node name");
    expect_reject("a@h", 3, REDIS_VALUE_MISSING, NULL, "no details");
    expect_reject("a@h", 3, REDIS_VALUE_TOO_BIG, NULL, "larger");
    expect_reject("a@h", 3, REDIS_VALUE_OVER_BUDGET, NULL, "capped");
    expect_reject("a@h", 3, REDIS_VALUE_TEXT, "port=70000\n", "port");
    expect_reject("a@h", 3, REDIS_VALUE_TEXT, "name=b@h\n", "name");
    expect_reject("a@h", 3, REDIS_VALUE_TEXT, "host=\x01\n", "control");
}

static void test_format_strips_time(void **state)
{
    struct rc_entry e = {0}, back;
    char text[1024];
    size_t len;

    strcpy(e.name, "n@h");
    e.port = 1;
    e.updated_at_ms = 1795215257123LL;
    assert_int_equal(rc_entry_format_body(&e, text, sizeof(text), &len), 0);
    assert_string_equal(text, "name=n@h\nport=1\n");
    assert_int_equal(len, strlen(text));
    assert_int_equal(decode("n@h", 5, REDIS_VALUE_TEXT, text, &back), 0);
    assert_int_equal(back.port, 1);
}

static void test_scripts_hash(void **state)
{
    void *ctx = NULL;
    char e[128];

    assert_int_equal(rc_backend_redis.open("redis://127.0.0.1:1/0?cluster=t", &ctx, e, sizeof(e)),
                     0);
    /* digests are learned from the server (SCRIPT LOAD) on first use */
    for (int i = 0; i < REDIS_NSCRIPTS; i++)
        assert_string_equal(((struct redis_ctx *)ctx)->sha[i], "");
    assert_false(((struct redis_ctx *)ctx)->script_load_refused);
    /* every key of a cluster shares one hash tag (one slot) */
    assert_string_equal(((struct redis_ctx *)ctx)->key_nodes, "rollcall:{t}:nodes");
    assert_string_equal(((struct redis_ctx *)ctx)->key_info, "rollcall:{t}:info");
    rc_backend_redis.close(ctx);
    rc_backend_redis.close(NULL);
}

/* What SCRIPT LOAD may answer: only 40 hex digits are taken as a digest. */
static void test_sha_reply(void **state)
{
    const char *ok = "e0e1f9fabfc9d4800c877a703b823ac0578ff8db";
    const char *upper = "E0E1F9FABFC9D4800C877A703B823AC0578FF8DB";
    char bad[41];

    (void)state;
    assert_true(redis_sha_reply_ok(REDIS_REPLY_STRING, ok, 40));
    assert_true(redis_sha_reply_ok(REDIS_REPLY_STATUS, upper, 40));
    assert_false(redis_sha_reply_ok(REDIS_REPLY_ERROR, ok, 40));
    assert_false(redis_sha_reply_ok(REDIS_REPLY_INTEGER, ok, 40));
    assert_false(redis_sha_reply_ok(REDIS_REPLY_NIL, NULL, 0));
    assert_false(redis_sha_reply_ok(REDIS_REPLY_STRING, NULL, 40));
    assert_false(redis_sha_reply_ok(REDIS_REPLY_STRING, ok, 39));
    assert_false(redis_sha_reply_ok(REDIS_REPLY_STRING, "", 0));
    /* 41 bytes: a digest with one more digit is not a digest */
    assert_false(
        redis_sha_reply_ok(REDIS_REPLY_STRING, "e0e1f9fabfc9d4800c877a703b823ac0578ff8dba", 41));
    for (size_t i = 0; i < 40; i++) {
        const char subst[] = {'g', ' ', '\0', '\n', '-', 'x'};

        for (size_t k = 0; k < sizeof(subst); k++) {
            memcpy(bad, ok, 41);
            bad[i] = subst[k];
            assert_false(redis_sha_reply_ok(REDIS_REPLY_STRING, bad, 40));
        }
    }
}

static int reply_error(const char *text, char *e, size_t elen)
{
    struct redis_ctx ctx;
    redisReply r = {.type = REDIS_REPLY_ERROR, .str = (char *)text, .len = strlen(text)};

    memset(&ctx, 0, sizeof(ctx));
    strcpy(ctx.url.host, "10.0.0.9");
    ctx.url.port = 7000;
    return redis_reply_error(&ctx, &r, "list", e, elen);
}

static void test_reply_errors(void **state)
{
    char e[256];

    assert_int_equal(reply_error("MOVED 3999 10.0.0.8:7001", e, sizeof(e)), -EREMOTEIO);
    assert_string_equal(e, "redis cluster redirected (MOVED 3999 10.0.0.8:7001): point the URL "
                           "at the primary holding slot 3999");
    assert_int_equal(reply_error("ASK 12 10.0.0.8:7001", e, sizeof(e)), -EREMOTEIO);
    assert_non_null(strstr(e, "slot 12"));
    assert_int_equal(reply_error("NOAUTH Authentication required.", e, sizeof(e)), -EACCES);
    assert_int_equal(
        reply_error("NOPERM this user has no permissions to run the 'zadd' command", e, sizeof(e)),
        -EACCES);
    assert_int_equal(
        reply_error("READONLY You can't write against a read only replica.", e, sizeof(e)), -EROFS);
    assert_non_null(strstr(e, "primary"));
    assert_int_equal(reply_error("LOADING Redis is loading the dataset in memory", e, sizeof(e)),
                     -EAGAIN);
    assert_int_equal(reply_error("ERR unknown command", e, sizeof(e)), -EREMOTEIO);
    assert_string_equal(e, "redis list at 10.0.0.9:7000: ERR unknown command");
}

static void test_unreachable_is_an_error(void **state)
{
    void *ctx = NULL;
    struct rc_reg_list l = {0};
    struct rc_entry self = {0};
    char e[256];

    assert_int_equal(
        rc_backend_redis.open("redis://:hunter2@127.0.0.1:1?timeout=500ms", &ctx, e, sizeof(e)), 0);
    assert_true(rc_backend_redis.list(ctx, &l, e, sizeof(e)) < 0);
    assert_null(l.entries);
    assert_non_null(strstr(e, "127.0.0.1:1"));
    assert_null(strstr(e, "hunter2"));
    strcpy(self.name, "a@h");
    assert_true(rc_backend_redis.publish(ctx, &self, e, sizeof(e)) < 0);
    assert_true(rc_backend_redis.remove(ctx, "a@h", 0, e, sizeof(e)) < 0);
    rc_backend_redis.close(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_full),          cmocka_unit_test(test_url_defaults),
        cmocka_unit_test(test_url_password_only), cmocka_unit_test(test_url_ipv6),
        cmocka_unit_test(test_url_errors),        cmocka_unit_test(test_decode_ok),
        cmocka_unit_test(test_decode_rejects),    cmocka_unit_test(test_format_strips_time),
        cmocka_unit_test(test_scripts_hash),      cmocka_unit_test(test_sha_reply),
        cmocka_unit_test(test_reply_errors),      cmocka_unit_test(test_unreachable_is_an_error),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

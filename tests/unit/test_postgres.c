/*
 * test_postgres.c - the pure parts of the PostgreSQL backend
 * (backends/postgres.c): splitting rollcall_cluster off the URI, decoding
 * list's rows, flattening libpq messages. No server: backend_postgres in the
 * integration tests runs the backend against a private PostgreSQL.
 *
 * The backend's objects are linked in (rollcall_backend_postgres): the parsers
 * through its private header, the operations through rc_backend_postgres.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../backends/postgres_int.h"

static char err[256];

static void split_ok(const char *url, const char *want_uri, const char *want_cluster)
{
    char uri[PG_URI_MAX], cluster[PG_CLUSTER_MAX + 1];

    err[0] = '\0';
    if (pg_url_split(url, uri, sizeof(uri), cluster, err, sizeof(err)) != 0)
        fail_msg("refused %s: %s", url, err);
    assert_string_equal(uri, want_uri);
    assert_string_equal(cluster, want_cluster);
}

static void split_bad(const char *url, const char *why)
{
    char uri[PG_URI_MAX], cluster[PG_CLUSTER_MAX + 1];

    err[0] = '\0';
    if (pg_url_split(url, uri, sizeof(uri), cluster, err, sizeof(err)) >= 0)
        fail_msg("accepted %s", url);
    if (strstr(err, why) == NULL)
        fail_msg("reason \"%s\" lacks \"%s\"", err, why);
    assert_null(strstr(err, "hunter2"));
}

static void test_split(void **state)
{
    split_ok("postgres://u:hunter2@db:5432/reg", "postgres://u:hunter2@db:5432/reg", "rollcall");
    split_ok("postgresql://db/reg?sslmode=require&rollcall_cluster=prod",
             "postgresql://db/reg?sslmode=require", "prod");
    split_ok("postgres://db/reg?rollcall_cluster=a.b-c_d&sslmode=verify-full&connect_timeout=3",
             "postgres://db/reg?sslmode=verify-full&connect_timeout=3", "a.b-c_d");
    split_ok("postgres://db/reg?rollcall_cluster=x", "postgres://db/reg", "x");
    split_ok("postgres://db/reg?rollcall_cluster=%41b", "postgres://db/reg", "Ab");
    split_ok("postgres:///reg?host=/var/run/postgresql", "postgres:///reg?host=/var/run/postgresql",
             "rollcall");
    /* a parameter that only starts like ours is not ours */
    split_ok("postgres://db/r?rollcall_clusterx=1", "postgres://db/r?rollcall_clusterx=1",
             "rollcall");
}

static void test_split_errors(void **state)
{
    split_bad("mysql://u:hunter2@db/x", "postgres://");
    split_bad("postgres://u:hunter2@db/x?rollcall_cluster=", "rollcall_cluster");
    split_bad("postgres://u:hunter2@db/x?rollcall_cluster=a%20b", "rollcall_cluster");
    split_bad("postgres://u:hunter2@db/x?rollcall_cluster=a%00", "rollcall_cluster");
    split_bad("postgres://u:hunter2@db/x?rollcall_cluster=a%", "rollcall_cluster");
    split_bad("postgres://u:hunter2@db/x?rollcall_cluster=a&rollcall_cluster=b", "twice");
}

static void test_open_checks_uri(void **state)
{
    void *ctx = NULL;
    char e[256];

    /* libpq's own parse error would quote the password: not passed on */
    assert_int_equal(rc_backend_postgres.open("postgres://u:hun%zzter2@db/x", &ctx, e, sizeof(e)),
                     -EINVAL);
    assert_null(strstr(e, "hun"));
    assert_null(ctx);
    /* an unknown parameter is named */
    assert_int_equal(
        rc_backend_postgres.open("postgres://u:hunter2@db/x?sslmod=require", &ctx, e, sizeof(e)),
        -EINVAL);
    assert_non_null(strstr(e, "sslmod"));
    assert_null(strstr(e, "hunter2"));
    assert_int_equal(
        rc_backend_postgres.open("postgres://u:hunter2@db/x?sslmode=disable&rollcall_cluster=c",
                                 &ctx, e, sizeof(e)),
        0);
    assert_string_equal(((struct pg_ctx *)ctx)->cluster, "c");
    rc_backend_postgres.close(ctx);
    rc_backend_postgres.close(NULL);
}

struct row {
    const char *val[PG_NCOLS];
    int len[PG_NCOLS];
    bool isnull[PG_NCOLS];
};

static struct row mkrow(const char *name, const char *host, const char *port, const char *started,
                        const char *seen, const char *age)
{
    struct row r;
    const char *v[PG_NCOLS] = {name, host, port, started, seen, age};

    for (int i = 0; i < PG_NCOLS; i++) {
        r.isnull[i] = v[i] == NULL;
        r.val[i] = v[i] != NULL ? v[i] : "";
        r.len[i] = v[i] != NULL ? (int)strlen(v[i]) : 0;
    }
    return r;
}

static void test_decode_ok(void **state)
{
    struct row r = mkrow("a@10.0.0.1", "10.0.0.1", "4370", "1795215001000", "1795215257123", "250");
    struct rc_entry e;

    assert_int_equal(pg_decode_row(r.val, r.len, r.isnull, &e, err, sizeof(err)), 0);
    assert_string_equal(e.name, "a@10.0.0.1");
    assert_string_equal(e.host, "10.0.0.1");
    assert_int_equal(e.port, 4370);
    assert_int_equal(e.started_at_ms, 1795215001000LL);
    assert_int_equal(e.updated_at_ms, 1795215257123LL);
    assert_int_equal(e.age_ms, 250);

    r = mkrow("b@h", NULL, NULL, NULL, "-5000", "-3");
    assert_int_equal(pg_decode_row(r.val, r.len, r.isnull, &e, err, sizeof(err)), 0);
    assert_string_equal(e.host, "");
    assert_int_equal(e.port, 0);
    assert_int_equal(e.started_at_ms, 0);
    assert_int_equal(e.updated_at_ms, -5000);
    assert_int_equal(e.age_ms, 0); /* last_seen in the future */
}

static void expect_reject(struct row r, const char *why)
{
    struct rc_entry e;

    memset(&e, 0x5A, sizeof(e));
    err[0] = '\0';
    if (pg_decode_row(r.val, r.len, r.isnull, &e, err, sizeof(err)) != -EPROTO)
        fail_msg("accepted %s", r.val[0]);
    if (strstr(err, why) == NULL)
        fail_msg("reason \"%s\" lacks \"%s\"", err, why);
    for (size_t i = 0; i < sizeof(e); i++)
        assert_int_equal(((unsigned char *)&e)[i], 0x5A);
}

static void test_decode_rejects(void **state)
{
    char longname[300];

    expect_reject(mkrow(NULL, "", "0", NULL, "1", "1"), "node name");
    expect_reject(mkrow("bad name", "", "0", NULL, "1", "1"), "node name");
    expect_reject(mkrow("noat", "", "0", NULL, "1", "1"), "node name");
    memset(longname, 'x', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    longname[3] = '@';
    expect_reject(mkrow(longname, "", "0", NULL, "1", "1"), "node name");
    expect_reject(mkrow("a@h", "bad host!", "0", NULL, "1", "1"), "host");
    expect_reject(mkrow("a@h", "h\n", "0", NULL, "1", "1"), "host");
    expect_reject(mkrow("a@h", "", "70000", NULL, "1", "1"), "port");
    expect_reject(mkrow("a@h", "", "-1", NULL, "1", "1"), "port");
    expect_reject(mkrow("a@h", "", "x", NULL, "1", "1"), "port");
    expect_reject(mkrow("a@h", "", "0", "soon", "1", "1"), "started_at");
    expect_reject(mkrow("a@h", "", "0", NULL, NULL, NULL), "last_seen");
    expect_reject(mkrow("a@h", "", "0", NULL, "1", "99999999999999999999"), "last_seen");
    expect_reject(mkrow("a@h", "", "0", NULL, "1", ""), "last_seen");
    expect_reject(mkrow("a@h", "", "0", NULL, "1", "-"), "last_seen");
}

static void test_flatten(void **state)
{
    char out[64];

    pg_flatten("connection to server failed: Connection refused\n\tIs the server running?\n", out,
               sizeof(out));
    assert_string_equal(out, "connection to server failed: Connection refused; Is the server");
    pg_flatten("one\n", out, sizeof(out));
    assert_string_equal(out, "one");
    pg_flatten(NULL, out, sizeof(out));
    assert_string_equal(out, "");
    pg_flatten("a\x01"
               "b",
               out, sizeof(out));
    assert_string_equal(out, "a b");
}

static void test_unreachable_is_an_error(void **state)
{
    void *ctx = NULL;
    struct rc_reg_list l = {0};
    char e[512];

    assert_int_equal(rc_backend_postgres.open("postgres://u:hunter2@127.0.0.1:1/x?sslmode=disable",
                                              &ctx, e, sizeof(e)),
                     0);
    assert_true(rc_backend_postgres.list(ctx, &l, e, sizeof(e)) < 0);
    assert_null(l.entries);
    assert_non_null(strstr(e, "cannot connect"));
    assert_null(strstr(e, "hunter2"));
    rc_backend_postgres.close(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_split_errors),
        cmocka_unit_test(test_open_checks_uri),
        cmocka_unit_test(test_decode_ok),
        cmocka_unit_test(test_decode_rejects),
        cmocka_unit_test(test_flatten),
        cmocka_unit_test(test_unreachable_is_an_error),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

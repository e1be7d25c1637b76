/*
 * test_registry.c - the registry facade (registry/registry.c, modules.c,
 * list.c): lookup by scheme, module loading, opening, the checks and the
 * list cap done once for every backend (over a fake backend), URL masking,
 * the list helpers.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "rollcall/log.h"
#include "rollcall/registry.h"

/* ---- lookup and open ---- */

static void test_find(void **state)
{
    assert_ptr_equal(rc_registry_find("file:///var/lib/rollcall"), &rc_backend_fs);
    assert_ptr_equal(rc_registry_find("FILE:///x"), &rc_backend_fs); /* schemes ignore case */
    assert_ptr_equal(rc_registry_find("file:/x"), &rc_backend_fs);
    assert_null(rc_registry_find("nope://x"));
    assert_null(rc_registry_find("files:///x"));
    assert_null(rc_registry_find("fil:///x"));
    assert_null(rc_registry_find("/var/lib/rollcall"));
    assert_null(rc_registry_find("file"));
    assert_null(rc_registry_find(""));
    assert_null(rc_registry_find(NULL));
    assert_null(rc_registry_find("host=db password=x"));
}

/* "postgresql" names whatever backend "postgres" names (the module, when it loads). */
static void test_postgres_alias(void **state)
{
    const struct rc_backend_ops *pg = rc_registry_find("postgres://u@h/db");

    assert_ptr_equal(rc_registry_find("postgresql://u@h/db"), pg);
    assert_ptr_equal(rc_registry_find("PostgreSQL://u@h/db"), pg);
    if (pg != NULL)
        assert_string_equal(pg->scheme, "postgres");
}

/*
 * Module loading (Redis, PostgreSQL and S3 are rollcall-<scheme>.so). The
 * failures come first: a module that loads is cached for the process.
 * ROLLCALL_BINARY_DIR is where the build puts the real modules.
 */
static void test_module_errors(void **state)
{
    char dir[] = "/tmp/rc-test-modules-XXXXXX", path[512], err[1024];
    FILE *f;

    assert_true(rc_registry_known("redis://h"));
    assert_true(rc_registry_known("S3://b"));
    assert_true(rc_registry_known("postgresql://h/db"));
    assert_false(rc_registry_known("nope://h"));
    assert_false(rc_registry_known("redis"));

    assert_non_null(mkdtemp(dir));
    setenv("ROLLCALL_MODULE_DIR", dir, 1);

    /* missing: says which module and where it looked */
    assert_null(rc_registry_load("redis://user:hunter2@h/0", err, sizeof(err)));
    assert_non_null(strstr(err, "rollcall-redis.so not found"));
    assert_non_null(strstr(err, dir));
    assert_null(strstr(err, "hunter2"));

    /* not a shared object */
    snprintf(path, sizeof(path), "%s/rollcall-redis.so", dir);
    assert_non_null(f = fopen(path, "w"));
    fputs("not an ELF file\n", f);
    fclose(f);
    assert_null(rc_registry_load("redis://h/0", err, sizeof(err)));
    assert_non_null(strstr(err, "cannot load"));
    unlink(path);

    /* a real module under the wrong name: refused by its symbol and scheme */
    snprintf(path, sizeof(path), "%s/rollcall-redis.so", dir);
    assert_int_equal(symlink(ROLLCALL_BINARY_DIR "/rollcall-s3.so", path), 0);
    assert_null(rc_registry_load("redis://h/0", err, sizeof(err)));
    assert_non_null(strstr(err, "is not a rollcall redis backend module"));
    unlink(path);
    rmdir(dir);

    /* unknown scheme: names the ones rollcall knows */
    assert_null(rc_registry_load("nope://h", err, sizeof(err)));
    assert_non_null(strstr(err, "unsupported registry scheme \"nope:\""));
    assert_non_null(strstr(err, "redis://"));

    /* the build's own modules load, and the answer is cached */
    setenv("ROLLCALL_MODULE_DIR", ROLLCALL_BINARY_DIR, 1);
    const struct rc_backend_ops *ops = rc_registry_load("redis://h/0", err, sizeof(err));
    assert_non_null(ops);
    assert_string_equal(ops->scheme, "redis");
    unsetenv("ROLLCALL_MODULE_DIR");
    assert_ptr_equal(rc_registry_find("REDIS://h/0"), ops);
}

static void test_open_errors(void **state)
{
    struct rc_registry *r = (struct rc_registry *)0x1;
    char err[256];

    assert_int_equal(rc_registry_open("nope://user:hunter2@host/x", &r, err, sizeof(err)),
                     -EPROTONOSUPPORT);
    assert_non_null(strstr(err, "\"nope:\""));
    assert_non_null(strstr(err, "file://"));
    assert_null(strstr(err, "hunter2"));
    assert_ptr_equal(r, (struct rc_registry *)0x1); /* untouched */

    assert_int_equal(rc_registry_open("host=db.example user=me password=hunter2 dbname=rc", &r, err,
                                      sizeof(err)),
                     -EINVAL);
    assert_non_null(strstr(err, "key=value"));
    assert_non_null(strstr(err, "postgres://"));
    assert_null(strstr(err, "hunter2"));

    assert_int_equal(rc_registry_open("/var/lib/rollcall", &r, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "not a URL"));
    assert_int_equal(rc_registry_open("", &r, err, sizeof(err)), -EINVAL);
    assert_int_equal(rc_registry_open(NULL, &r, err, sizeof(err)), -EINVAL);

    /* a backend's own open error comes through */
    assert_int_equal(rc_registry_open("file:relative/dir", &r, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "absolute"));
    assert_ptr_equal(r, (struct rc_registry *)0x1);
}

static void test_open_close(void **state)
{
    char dir[] = "/tmp/rc-test-registry-XXXXXX", url[64], err[256];
    struct rc_registry *r = NULL;
    struct rc_reg_list l;

    assert_non_null(mkdtemp(dir));
    snprintf(url, sizeof(url), "file://%s", dir);
    assert_int_equal(rc_registry_open(url, &r, err, sizeof(err)), 0);
    assert_non_null(r);
    assert_ptr_equal(r->ops, &rc_backend_fs);
    assert_int_equal(rc_registry_list(r, &l, err, sizeof(err)), 0);
    assert_int_equal(l.n, 0);
    rc_reg_list_free(&l);
    rc_registry_close(r);
    rc_registry_close(NULL);
    assert_int_equal(rmdir(dir), 0);
}

/* ---- masking ---- */

static void expect_mask(const char *url, const char *want)
{
    char out[512];

    rc_registry_mask_url(url, out, sizeof(out));
    if (strcmp(out, want) != 0)
        fail_msg("mask(\"%s\") = \"%s\", want \"%s\"", url, out, want);
}

static void test_mask_url(void **state)
{
    expect_mask("file:///var/lib/rollcall", "file:///var/lib/rollcall");
    expect_mask("redis://user:pass@host:6379/0", "redis://user:***@host:6379/0");
    expect_mask("redis://:pass@host:6379", "redis://:***@host:6379");
    expect_mask("redis://host:6379/0", "redis://host:6379/0");
    expect_mask("postgres://me@db/rc", "postgres://me@db/rc");
    expect_mask("postgresql://me:p%40ss@db:5432/rc?sslmode=require&password=x&connect_timeout=5",
                "postgresql://me:***@db:5432/rc?sslmode=require&password=***&connect_timeout=5");
    /* a password holding unencoded '@' or '/' is masked whole */
    expect_mask("redis://u:p@ss/w@rd@host/0", "redis://u:***@host/0");
    expect_mask("s3://bucket/prefix?endpoint=http://127.0.0.1:9000&region=us-east-1"
                "&access_key=AKIA&secret_key=SK&session_token=T&X-Amz-Signature=abc&sig=s",
                "s3://bucket/prefix?endpoint=http://127.0.0.1:9000&region=us-east-1"
                "&access_key=***&secret_key=***&session_token=***&X-Amz-Signature=***&sig=***");
    expect_mask("s3://bucket?SECRET_KEY=x;Token=y#frag",
                "s3://bucket?SECRET_KEY=***;Token=***#frag");
    expect_mask("s3://b?pass%77ord=x", "s3://b?pass%77ord=***"); /* encoded key */
    expect_mask("s3://b?password=&x=1", "s3://b?password=&x=1"); /* nothing to hide */
    expect_mask("s3://b?password", "s3://b?password");
    expect_mask("redis://u:pw@h?x=1#password=frag", "redis://u:***@h?x=1#password=frag");
    /* not URLs: a libpq conninfo is masked too, anything else copied */
    expect_mask("host=db user=me password='a b\\' c' sslmode=require",
                "host=db user=me password=*** sslmode=require");
    expect_mask("host=db password = hunter2", "host=db password = ***");
    expect_mask("/var/lib/rollcall", "/var/lib/rollcall");
    expect_mask("", "");
}

static void test_mask_url_truncates(void **state)
{
    const char *url = "redis://user:verysecretpassword@host:6379/0?token=anothersecret";
    char out[40];

    for (size_t cap = 1; cap <= sizeof(out); cap++) {
        memset(out, 'X', sizeof(out));
        rc_registry_mask_url(url, out, cap);
        assert_true(strlen(out) < cap);
        assert_null(strstr(out, "secret"));
        assert_null(strstr(out, "verys"));
    }
    rc_registry_mask_url(url, out, 0); /* writes nothing */
    rc_registry_mask_url(NULL, out, sizeof(out));
    assert_string_equal(out, "");
}

/* ---- list helpers ---- */

static void test_list_cap(void **state)
{
    struct rc_reg_list l = {0};
    struct rc_entry e = {0};

    for (int i = 0; i < RC_REGISTRY_MAX_ENTRIES; i++) {
        snprintf(e.name, sizeof(e.name), "n%d@h", i);
        assert_int_equal(rc_reg_list_add(&l, &e), 0);
    }
    assert_int_equal(rc_reg_list_add(&l, &e), -E2BIG);
    assert_int_equal(l.n, RC_REGISTRY_MAX_ENTRIES);
    for (int i = 0; i < RC_REGISTRY_MAX_ENTRIES; i++) {
        char want[32];

        snprintf(want, sizeof(want), "n%d@h", i);
        assert_string_equal(l.entries[i].name, want);
    }
    for (int i = 0; i < RC_REGISTRY_MAX_ENTRIES; i++)
        assert_int_equal(rc_reg_list_reject(&l, "x", 1, "why"), 0);
    /* past the cap a reject is dropped, not an error: the list stays usable */
    assert_int_equal(rc_reg_list_reject(&l, "x", 1, "why"), 0);
    assert_int_equal(l.nrejects, RC_REGISTRY_MAX_ENTRIES);
    rc_reg_list_free(&l);
    assert_null(l.entries);
    assert_null(l.rejects);
    assert_int_equal(l.n, 0);
    assert_int_equal(l.nrejects, 0);
    rc_reg_list_free(&l); /* twice is fine */
    rc_reg_list_free(NULL);
}

/* A reject keeps the store's bytes as they are (escaping is the log line's
 * job, once): cut at RC_REJECT_WHAT_MAX on a character boundary. */
static void test_reject_raw(void **state)
{
    static const char hostile[] = "a\nb\r\t\\\x01\x7f\xff\xc3(\xc2\x85\xc3\xa9";
    struct rc_reg_list l = {0};
    char raw[400];

    assert_int_equal(rc_reg_list_reject(&l, hostile, 15, "bad\nreason"), 0);
    assert_int_equal(l.rejects[0].whatlen, 15);
    assert_memory_equal(l.rejects[0].what, hostile, 15);
    assert_int_equal(l.rejects[0].what[15], '\0');
    assert_false(l.rejects[0].cut);
    assert_string_equal(l.rejects[0].reason, "bad\nreason");
    /* embedded NUL: whatlen counts, not strlen */
    assert_int_equal(rc_reg_list_reject(&l, "a\0b", 3, "r"), 0);
    assert_int_equal(l.rejects[1].whatlen, 3);
    assert_memory_equal(l.rejects[1].what, "a\0b", 3);
    /* NULL what and reason */
    assert_int_equal(rc_reg_list_reject(&l, NULL, 5, NULL), 0);
    assert_int_equal(l.rejects[2].whatlen, 0);
    assert_string_equal(l.rejects[2].reason, "");

    /* too long: cut on a character boundary, marked as cut */
    for (size_t i = 0; i < sizeof(raw); i += 2)
        memcpy(raw + i, "\xc3\xa9", 2);
    assert_int_equal(rc_reg_list_reject(&l, raw, sizeof(raw), "r"), 0);
    assert_true(l.rejects[3].cut);
    assert_int_equal(l.rejects[3].whatlen, RC_REJECT_WHAT_MAX - 1); /* 158: whole characters */
    assert_memory_equal(l.rejects[3].what, raw, l.rejects[3].whatlen);
    /* not UTF-8: cut at the limit */
    memset(raw, 0x80, sizeof(raw));
    assert_int_equal(rc_reg_list_reject(&l, raw, sizeof(raw), "r"), 0);
    assert_int_equal(l.rejects[4].whatlen, RC_REJECT_WHAT_MAX);
    memset(raw, '\n', sizeof(raw));
    assert_int_equal(rc_reg_list_reject(&l, raw, RC_REJECT_WHAT_MAX, "r"), 0);
    assert_false(l.rejects[5].cut);
    assert_int_equal(l.rejects[5].whatlen, RC_REJECT_WHAT_MAX);
    rc_reg_list_free(&l);
}

/* ---- the facade, over a fake backend ---- */

struct fake {
    int publishes, lists, removes;
    size_t nentries;    /* list() adds this many entries */
    const char *reject; /* and this reject, if not NULL */
};

static struct fake fake_state;

static int fake_open(const char *url, void **ret_ctx, char *err, size_t errlen)
{
    memset(&fake_state, 0, sizeof(fake_state));
    *ret_ctx = &fake_state;
    return 0;
}

static int fake_publish(void *ctx, const struct rc_entry *self, char *err, size_t errlen)
{
    ((struct fake *)ctx)->publishes++;
    return 0;
}

static int fake_list(void *ctx, struct rc_reg_list *ret, char *err, size_t errlen)
{
    struct fake *f = ctx;
    struct rc_reg_list l = {0};
    struct rc_entry e = {0};
    int rv;

    f->lists++;
    for (size_t i = 0; i < f->nentries; i++) {
        snprintf(e.name, sizeof(e.name), "n%zu@h", i);
        rv = rc_reg_list_add(&l, &e);
        if (rv == -E2BIG)
            break; /* the cap: the facade reports it */
        assert_int_equal(rv, 0);
    }
    if (f->reject != NULL)
        assert_int_equal(
            rc_reg_list_reject(&l, f->reject, strlen(f->reject), "not a valid node name"), 0);
    *ret = l;
    return 0;
}

static int fake_remove(void *ctx, const char *name, int64_t min_age_ms, char *err, size_t errlen)
{
    ((struct fake *)ctx)->removes++;
    return 0;
}

static void fake_close(void *ctx)
{
}

static const struct rc_backend_ops fake_ops = {
    .scheme = "fake",
    .open = fake_open,
    .publish = fake_publish,
    .list = fake_list,
    .remove = fake_remove,
    .close = fake_close,
};

/* publish and remove: bad names never reach the backend */
static void test_facade_checks(void **state)
{
    struct rc_registry *r = NULL;
    struct rc_entry e = {0};
    char err[128];

    assert_int_equal(rc_registry_open_ops(&fake_ops, "fake://x", &r, err, sizeof(err)), 0);
    strcpy(e.name, "../escape@h");
    assert_int_equal(rc_registry_publish(r, &e, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "node name"));
    strcpy(e.name, "a@h");
    strcpy(e.host, "bad host");
    assert_int_equal(rc_registry_publish(r, &e, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "host"));
    memset(e.name, 'a', sizeof(e.name)); /* not NUL-terminated */
    e.host[0] = '\0';
    assert_int_equal(rc_registry_publish(r, &e, err, sizeof(err)), -EINVAL);
    assert_int_equal(rc_registry_publish(r, NULL, err, sizeof(err)), -EINVAL);
    assert_int_equal(rc_registry_remove(r, "a/b@h", 0, err, sizeof(err)), -EINVAL);
    assert_int_equal(rc_registry_remove(r, "", 0, err, sizeof(err)), -EINVAL);
    assert_int_equal(rc_registry_remove(r, NULL, 0, err, sizeof(err)), -EINVAL);
    assert_int_equal(fake_state.publishes, 0);
    assert_int_equal(fake_state.removes, 0);

    strcpy(e.name, "a@h");
    strcpy(e.host, "10.0.0.1");
    assert_int_equal(rc_registry_publish(r, &e, err, sizeof(err)), 0);
    assert_int_equal(rc_registry_remove(r, "a@h", 5, err, sizeof(err)), 0);
    assert_int_equal(fake_state.publishes, 1);
    assert_int_equal(fake_state.removes, 1);
    rc_registry_close(r);
}

/* the cap is reported once, by the facade, naming the first entry dropped */
static void test_facade_list_cap(void **state)
{
    struct rc_registry *r = NULL;
    struct rc_reg_list l;
    char err[128];

    assert_int_equal(rc_registry_open_ops(&fake_ops, "fake://x", &r, err, sizeof(err)), 0);
    fake_state.nentries = RC_REGISTRY_MAX_ENTRIES + 5;
    assert_int_equal(rc_registry_list(r, &l, err, sizeof(err)), 0);
    assert_int_equal(l.n, RC_REGISTRY_MAX_ENTRIES);
    assert_int_equal(l.nrejects, 1);
    assert_string_equal(l.rejects[0].what, "n10000@h");
    assert_non_null(strstr(l.rejects[0].reason, "more than 10000 entries; the rest are ignored"));
    rc_reg_list_free(&l);

    fake_state.nentries = RC_REGISTRY_MAX_ENTRIES; /* exactly the cap: nothing to report */
    assert_int_equal(rc_registry_list(r, &l, err, sizeof(err)), 0);
    assert_int_equal(l.n, RC_REGISTRY_MAX_ENTRIES);
    assert_int_equal(l.nrejects, 0);
    rc_reg_list_free(&l);
    rc_registry_close(r);
}

/*
 * The double-escape bug (issue 10): a hostile name through the facade, then
 * the agent's warning line ("registry: skipping entry %s%s: %s", worker.c)
 * rendered in every format: one escape, as docs/logs.md shows.
 */
static void test_facade_reject_escaped_once(void **state)
{
    struct rc_registry *r = NULL;
    struct rc_reg_list l;
    char err[128], msg[512], line[1024];
    const struct rc_reject *rj;

    assert_int_equal(rc_registry_open_ops(&fake_ops, "fake://x", &r, err, sizeof(err)), 0);
    fake_state.reject = "evil\x1b[2J@h";
    assert_int_equal(rc_registry_list(r, &l, err, sizeof(err)), 0);
    assert_int_equal(l.nrejects, 1);
    rj = &l.rejects[0];
    snprintf(msg, sizeof(msg), "registry: skipping entry %s%s: %s", rj->what, rj->cut ? "..." : "",
             rj->reason);
    rc_log_render(line, sizeof(line), RC_LOG_FMT_ELIXIR, RC_LOG_WARN, 0, msg, NULL, 0);
    assert_non_null(strstr(line, "[warning] registry: skipping entry evil\\x1b[2J@h: not a valid"));
    assert_null(strstr(line, "\\\\x"));
    rc_log_render(line, sizeof(line), RC_LOG_FMT_TEXT, RC_LOG_WARN, 0, msg, NULL, 0);
    assert_non_null(strstr(line, "msg=\"registry: skipping entry evil\\x1b[2J@h: not a valid"));
    rc_log_render(line, sizeof(line), RC_LOG_FMT_JSON, RC_LOG_WARN, 0, msg, NULL, 0);
    assert_non_null(
        strstr(line, "\"msg\":\"registry: skipping entry evil\\u001b[2J@h: not a valid"));
    rc_reg_list_free(&l);
    rc_registry_close(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_find),
        cmocka_unit_test(test_postgres_alias),
        cmocka_unit_test(test_module_errors),
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_open_close),
        cmocka_unit_test(test_mask_url),
        cmocka_unit_test(test_mask_url_truncates),
        cmocka_unit_test(test_list_cap),
        cmocka_unit_test(test_reject_raw),
        cmocka_unit_test(test_facade_checks),
        cmocka_unit_test(test_facade_list_cap),
        cmocka_unit_test(test_facade_reject_escaped_once),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

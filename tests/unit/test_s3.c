/*
 * test_s3.c - the pure parts of the S3 backend (backends/s3/): URL parsing,
 * SigV4 path and query encoding, ListObjectsV2 / Error XML parsing, the
 * server clock estimate. No server: backend_s3 in the integration tests runs
 * the backend against MinIO.
 *
 * The backend's objects are linked in (rollcall_backend_s3): the parsers
 * through its private header, the operations through rc_backend_s3.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../backends/s3/s3_int.h"

static char err[256];

static struct s3_url parse_ok(const char *url)
{
    struct s3_url u;

    err[0] = '\0';
    if (s3_url_parse(url, &u, err, sizeof(err)) != 0)
        fail_msg("refused %s: %s", url, err);
    return u;
}

static void parse_bad(const char *url, const char *why)
{
    struct s3_url u;

    memset(&u, 0x5A, sizeof(u));
    err[0] = '\0';
    if (s3_url_parse(url, &u, err, sizeof(err)) >= 0)
        fail_msg("accepted %s", url);
    if (why != NULL && strstr(err, why) == NULL)
        fail_msg("reason \"%s\" lacks \"%s\" for %s", err, why, url);
    /* never written on failure */
    for (size_t i = 0; i < sizeof(u); i++)
        assert_int_equal(((unsigned char *)&u)[i], 0x5A);
}

static void test_url_path_style(void **state)
{
    struct s3_url u =
        parse_ok("s3://reg-bucket/a/b/?endpoint=http://127.0.0.1:9000&region=eu-west-3");

    assert_string_equal(u.bucket, "reg-bucket");
    assert_string_equal(u.prefix, "a/b");
    assert_string_equal(u.scheme, "http");
    assert_string_equal(u.hostport, "127.0.0.1:9000");
    assert_string_equal(u.region, "eu-west-3");
    assert_true(u.have_endpoint);
    assert_false(u.virtual_host);
    assert_false(u.have_keys);
    assert_int_equal(u.timeout_ms, S3_DEFAULT_TIMEOUT_MS);
}

static void test_url_defaults(void **state)
{
    struct s3_url u = parse_ok("s3://bucket");

    assert_string_equal(u.prefix, "");
    assert_false(u.have_endpoint);
    assert_true(u.virtual_host); /* AWS itself: virtual-host addressing */
    assert_false(u.have_region);

    u = parse_ok("s3://bucket/");
    assert_string_equal(u.prefix, "");
    u = parse_ok("s3://bucket//x//");
    assert_string_equal(u.prefix, "x");
}

static void test_url_options(void **state)
{
    struct s3_url u = parse_ok("s3://b/p?endpoint=https%3A%2F%2Fminio.example%3A9443%2F"
                               "&addressing=virtual&timeout=2s");

    assert_string_equal(u.scheme, "https");
    assert_string_equal(u.hostport, "minio.example:9443");
    assert_true(u.virtual_host);
    assert_int_equal(u.timeout_ms, 2000);

    u = parse_ok("s3://b?endpoint=http://[::1]:9000&addressing=path&timeout=750ms");
    assert_string_equal(u.hostport, "[::1]:9000");
    assert_false(u.virtual_host);
    assert_int_equal(u.timeout_ms, 750);
}

static void test_url_prefix_decoded(void **state)
{
    struct s3_url u = parse_ok("s3://b/my%20cluster/n%40des?endpoint=http://h:1");

    assert_string_equal(u.prefix, "my cluster/n@des");
}

static void test_url_credentials(void **state)
{
    struct s3_url u = parse_ok("s3://AKIA123:se%2Fcr%2Bet@bucket/p?endpoint=http://h:1");

    assert_true(u.have_keys);
    assert_string_equal(u.access_key, "AKIA123");
    assert_string_equal(u.secret_key, "se/cr+et");
    assert_string_equal(u.bucket, "bucket");
}

static void test_url_errors(void **state)
{
    parse_bad("http://bucket", "s3://");
    parse_bad("s3://", "bucket");
    parse_bad("s3://bu{ket/x", "bucket");
    parse_bad("s3://b/../x", "segment");
    parse_bad("s3://b/x/./y", "segment");
    parse_bad("s3://b/x%0Ay", "control");
    parse_bad("s3://b/x%zz", "prefix");
    parse_bad("s3://b?endpoint=ftp://h", "http");
    parse_bad("s3://b?endpoint=http://h:1/path", "without a path");
    parse_bad("s3://b?endpoint=http://", "without a path");
    parse_bad("s3://b?addressing=sideways", "addressing");
    parse_bad("s3://b?timeout=forever", "timeout");
    parse_bad("s3://b?timeout=10", "timeout"); /* 10 ms: below the minimum */
    parse_bad("s3://b?region=us%20east", "region");
    parse_bad("s3://b?bogus=1", "unknown parameter \"bogus\"");
    parse_bad("s3://b#frag", "fragment");
    parse_bad("s3://nokey@b", "ACCESS_KEY:SECRET");
    parse_bad("s3://k:s%00x@b", "credentials");
    parse_bad("s3://my.bucket?endpoint=https://h&addressing=virtual", "dots");
}

static void test_url_err_has_no_secret(void **state)
{
    struct s3_url u;

    err[0] = '\0';
    assert_true(s3_url_parse("s3://AK:TopSecret99@b/p?secret=TopSecret99", &u, err, sizeof(err)) <
                0);
    assert_null(strstr(err, "TopSecret99"));
    err[0] = '\0';
    assert_true(s3_url_parse("s3://AK:TopSecret99@b/p?endpoint=TopSecret99", &u, err, sizeof(err)) <
                0);
    assert_null(strstr(err, "TopSecret99"));
}

static void test_uri_encode(void **state)
{
    char out[64];

    assert_int_equal(s3_uri_encode("a b/c@d~e_f-g.h", 15, true, out, sizeof(out)), 19);
    assert_string_equal(out, "a%20b/c%40d~e_f-g.h");
    s3_uri_encode("a/b+c=d:", 8, false, out, sizeof(out));
    assert_string_equal(out, "a%2Fb%2Bc%3Dd%3A");
    s3_uri_encode("\xc3\xa9\x01\xff", 4, false, out, sizeof(out));
    assert_string_equal(out, "%C3%A9%01%FF"); /* uppercase hex, every byte */
    assert_int_equal(s3_uri_encode("@@@@", 4, false, out, 12), -ENAMETOOLONG);
    assert_int_equal(s3_uri_encode("@@@", 3, false, out, 10), 9);
    assert_int_equal(s3_uri_encode("", 0, false, out, 1), 0);
}

static void test_object_url(void **state)
{
    struct s3_url u = parse_ok("s3://bkt/my%20reg/x?endpoint=http://127.0.0.1:9000");
    char out[512];

    assert_int_equal(s3_object_url(&u, "rollcall@fe80::1", out, sizeof(out)), 0);
    assert_string_equal(out, "http://127.0.0.1:9000/bkt/my%20reg/x/rollcall%40fe80%3A%3A1");

    u = parse_ok("s3://bkt?endpoint=http://minio:9000&addressing=virtual");
    assert_int_equal(s3_object_url(&u, "a@b", out, sizeof(out)), 0);
    assert_string_equal(out, "http://bkt.minio:9000/a%40b");

    assert_int_equal(s3_object_url(&u, "a@b", out, 20), -ENAMETOOLONG);
}

static void test_list_url_sorted(void **state)
{
    struct s3_url u = parse_ok("s3://bkt/reg/nodes?endpoint=http://h:9000");
    char out[1024];

    assert_int_equal(s3_list_url(&u, NULL, NULL, out, sizeof(out)), 0);
    assert_string_equal(out,
                        "http://h:9000/bkt/?encoding-type=url&list-type=2&prefix=reg%2Fnodes%2F");
    /* the listing of one object, for the conditional remove */
    assert_int_equal(s3_list_url(&u, NULL, "a@h", out, sizeof(out)), 0);
    assert_string_equal(out, "http://h:9000/bkt/?encoding-type=url&list-type=2&max-keys=1"
                             "&prefix=reg%2Fnodes%2Fa%40h");
    assert_int_equal(s3_list_url(&u, "1/a+b=", NULL, out, sizeof(out)), 0);
    assert_string_equal(out, "http://h:9000/bkt/?continuation-token=1%2Fa%2Bb%3D"
                             "&encoding-type=url&list-type=2&prefix=reg%2Fnodes%2F");

    u = parse_ok("s3://bkt?endpoint=http://h:9000&addressing=virtual");
    assert_int_equal(s3_list_url(&u, "", NULL, out, sizeof(out)), 0);
    assert_string_equal(out, "http://bkt.h:9000/?encoding-type=url&list-type=2");
}

static const char aws_page[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
    "<Name>bkt</Name><Prefix>reg%2F</Prefix><KeyCount>2</KeyCount><MaxKeys>1000</MaxKeys>"
    "<EncodingType>url</EncodingType><IsTruncated>true</IsTruncated>"
    "<Contents><Key>reg/a%40h</Key><LastModified>2026-11-20T22:54:17.123Z</LastModified>"
    "<ETag>&quot;0123abcd&quot;</ETag><Size>42</Size><StorageClass>STANDARD</StorageClass>"
    "</Contents>"
    "<Contents><Key>reg/with+space%2Bplus</Key><LastModified>2026-11-20T22:54:18.000Z"
    "</LastModified><ETag>\"ffff\"</ETag><Size>7</Size></Contents>"
    "<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>"
    "</ListBucketResult>";

static void test_parse_list_aws(void **state)
{
    struct s3_page p;
    char why[128];

    assert_int_equal(s3_parse_list(aws_page, strlen(aws_page), &p, why, sizeof(why)), 0);
    assert_false(p.is_error);
    assert_true(p.truncated);
    assert_string_equal(p.next_token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");
    assert_int_equal(p.n, 2);
    assert_string_equal(p.objs[0].key, "reg/a@h");
    assert_int_equal(p.objs[0].keylen, 7);
    assert_true(p.objs[0].have_lm);
    assert_int_equal(p.objs[0].last_modified_ms, 1795215257123LL);
    assert_string_equal(p.objs[0].etag, "\"0123abcd\"");
    assert_true(p.objs[0].have_size);
    assert_int_equal(p.objs[0].size, 42);
    /* encoding-type=url: '+' is a space, %2B a plus */
    assert_string_equal(p.objs[1].key, "reg/with space+plus");
    s3_page_free(&p);
}

static void test_parse_list_namespaces(void **state)
{
    /* a prefixed namespace and no namespace at all parse the same */
    static const char prefixed[] =
        "<s3:ListBucketResult xmlns:s3=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        "<s3:IsTruncated>false</s3:IsTruncated><s3:Contents><s3:Key>k@h</s3:Key>"
        "<s3:LastModified>2026-01-01T00:00:00Z</s3:LastModified><s3:Size>1</s3:Size>"
        "</s3:Contents></s3:ListBucketResult>";
    static const char bare[] = "<ListBucketResult><Contents><Key>k@h</Key></Contents>"
                               "</ListBucketResult>";
    struct s3_page p;
    char why[128];

    assert_int_equal(s3_parse_list(prefixed, strlen(prefixed), &p, why, sizeof(why)), 0);
    assert_int_equal(p.n, 1);
    assert_string_equal(p.objs[0].key, "k@h");
    assert_true(p.objs[0].have_lm);
    assert_false(p.truncated);
    s3_page_free(&p);

    assert_int_equal(s3_parse_list(bare, strlen(bare), &p, why, sizeof(why)), 0);
    assert_int_equal(p.n, 1);
    assert_false(p.objs[0].have_lm); /* the caller rejects it */
    assert_false(p.objs[0].have_size);
    s3_page_free(&p);
}

static void test_parse_list_empty(void **state)
{
    static const char empty[] = "<ListBucketResult xmlns=\"x\"><Name>b</Name><KeyCount>0"
                                "</KeyCount><IsTruncated>false</IsTruncated></ListBucketResult>";
    struct s3_page p;
    char why[128];

    assert_int_equal(s3_parse_list(empty, strlen(empty), &p, why, sizeof(why)), 0);
    assert_int_equal(p.n, 0);
    assert_false(p.truncated);
    s3_page_free(&p);
}

static void test_parse_error_doc(void **state)
{
    static const char doc[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>"
                              "SignatureDoesNotMatch</Code><Message>The request signature we "
                              "calculated does not match</Message><Key>x</Key></Error>";
    struct s3_page p;
    char why[128];

    assert_int_equal(s3_parse_list(doc, strlen(doc), &p, why, sizeof(why)), 0);
    assert_true(p.is_error);
    assert_string_equal(p.code, "SignatureDoesNotMatch");
    assert_int_equal(p.n, 0);
    s3_page_free(&p);
}

static void expect_bad_xml(const char *xml, const char *why_part)
{
    struct s3_page p;
    char why[128] = "";

    memset(&p, 0x5A, sizeof(p));
    if (s3_parse_list(xml, strlen(xml), &p, why, sizeof(why)) >= 0)
        fail_msg("accepted: %s", xml);
    if (why_part != NULL && strstr(why, why_part) == NULL)
        fail_msg("reason \"%s\" lacks \"%s\"", why, why_part);
    assert_null(p.objs);
    assert_int_equal(p.n, 0);
}

static void test_parse_bad_xml(void **state)
{
    char deep[1024] = "<ListBucketResult>";

    expect_bad_xml("", "XML");
    expect_bad_xml("<ListBucketResult><Contents>", "XML");
    expect_bad_xml("<Other/>", "ListBucketResult");
    expect_bad_xml("<!DOCTYPE x [<!ENTITY a \"aaaa\">]><ListBucketResult>&a;</ListBucketResult>",
                   "DOCTYPE");
    expect_bad_xml("<ListBucketResult><Contents><Key>\x01</Key></Contents></ListBucketResult>",
                   "XML");
    for (int i = 0; i < 20; i++)
        strcat(deep, "<a>");
    for (int i = 0; i < 20; i++)
        strcat(deep, "</a>");
    strcat(deep, "</ListBucketResult>");
    expect_bad_xml(deep, "deep");
}

static void test_parse_long_key_flagged(void **state)
{
    size_t n = 2000;
    char *xml = malloc(n + 200);
    struct s3_page p;
    char why[128];

    assert_non_null(xml);
    strcpy(xml, "<ListBucketResult><Contents><Key>");
    memset(xml + strlen(xml), 'k', n);
    strcpy(xml + 33 + n, "</Key><ETag>e</ETag></Contents><Contents><Key>%zz</Key></Contents>"
                         "</ListBucketResult>");
    assert_int_equal(s3_parse_list(xml, strlen(xml), &p, why, sizeof(why)), 0);
    assert_int_equal(p.n, 2);
    assert_true(p.objs[0].bad_key); /* longer than S3's 1024 bytes */
    assert_true(p.objs[0].keylen <= 64);
    assert_string_equal(p.objs[0].etag, "e");
    assert_true(p.objs[1].bad_key); /* a bad %-escape */
    s3_page_free(&p);
    free(xml);
}

static void test_parse_truncated_token_too_long(void **state)
{
    size_t n = S3_TOKEN_MAX + 10;
    char *xml = malloc(n + 200);
    char why[128];
    struct s3_page p;

    assert_non_null(xml);
    strcpy(xml, "<ListBucketResult><NextContinuationToken>");
    memset(xml + strlen(xml), 't', n);
    strcpy(xml + 41 + n, "</NextContinuationToken></ListBucketResult>");
    assert_true(s3_parse_list(xml, strlen(xml), &p, why, sizeof(why)) < 0);
    assert_non_null(strstr(why, "token"));
    free(xml);
}

static void test_clock_estimate(void **state)
{
    struct s3_ctx ctx;

    memset(&ctx, 0, sizeof(ctx));
    /* server 10.000..10.999 s while we read 5.000: offset in [5000, 5999] */
    s3_clock_sample(&ctx, 10000, 5000);
    assert_int_equal(ctx.offset_ms, 5000);
    /* later: server says 10 s still while we read 5.600: offset >= 4400 and <= 5399 */
    s3_clock_sample(&ctx, 10000, 5600);
    assert_int_equal(ctx.offset_ms, 5000);
    /* server reaches 11 s when we read 5.700: offset >= 5300 */
    s3_clock_sample(&ctx, 11000, 5700);
    assert_int_equal(ctx.offset_ms, 5300);
    /* a stepped server clock (an hour back) is followed at once */
    s3_clock_sample(&ctx, 11000 - 3600000, 5800);
    assert_int_equal(ctx.offset_ms, 11000 - 3600000 + 999 - 5800);
}

static void test_format_has_no_time_line(void **state)
{
    struct rc_entry e = {0}, back;
    char text[1024], why[96];
    size_t len = 0;

    strcpy(e.name, "n@10.0.0.1");
    strcpy(e.host, "10.0.0.1");
    e.port = 4370;
    e.started_at_ms = 1795215001000LL;
    e.updated_at_ms = 1795215257123LL;
    assert_int_equal(rc_entry_format_body(&e, text, sizeof(text), &len), 0);
    assert_int_equal(strlen(text), len);
    assert_memory_equal(text, "name=n@10.0.0.1\n", 16);
    /* the same entry refreshed later gives the same body (a stable ETag) */
    {
        char text2[1024];
        size_t len2;

        e.updated_at_ms += 5000;
        assert_int_equal(rc_entry_format_body(&e, text2, sizeof(text2), &len2), 0);
        assert_string_equal(text, text2);
    }
    assert_int_equal(rc_entry_parse(text, len, e.name, &back, why, sizeof(why)), 0);
    assert_string_equal(back.host, "10.0.0.1");
    assert_int_equal(back.port, 4370);
    assert_int_equal(back.started_at_ms, e.started_at_ms);
    assert_int_equal(back.updated_at_ms, 0);
}

static void test_open_needs_credentials(void **state)
{
    void *ctx = NULL;
    char e[256];

    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    unsetenv("AWS_REGION");
    unsetenv("AWS_DEFAULT_REGION");
    assert_int_equal(rc_backend_s3.open("s3://b?endpoint=http://127.0.0.1:1", &ctx, e, sizeof(e)),
                     -EINVAL);
    assert_non_null(strstr(e, "AWS_ACCESS_KEY_ID"));
    assert_null(ctx);

    setenv("AWS_ACCESS_KEY_ID", "AK", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "SecretValue123", 1);
    setenv("AWS_SESSION_TOKEN", "zzsessionzz\nx", 1);
    assert_true(rc_backend_s3.open("s3://b?endpoint=http://127.0.0.1:1", &ctx, e, sizeof(e)) < 0);
    assert_null(strstr(e, "zzsessionzz"));
    unsetenv("AWS_SESSION_TOKEN");
    assert_int_equal(rc_backend_s3.open("s3://b?endpoint=http://127.0.0.1:1", &ctx, e, sizeof(e)),
                     0);
    assert_string_equal(((struct s3_ctx *)ctx)->sigv4, "aws:amz:us-east-1:s3");
    rc_backend_s3.close(ctx);
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
}

static void test_unreachable_is_an_error(void **state)
{
    void *ctx = NULL;
    struct rc_reg_list l = {0};
    char e[256];
    int rv;

    /* port 1 on loopback: nothing listens; list must fail, not come back empty */
    assert_int_equal(
        rc_backend_s3.open("s3://k:SecretValue123@b?endpoint=http://127.0.0.1:1&timeout=1s", &ctx,
                           e, sizeof(e)),
        0);
    rv = rc_backend_s3.list(ctx, &l, e, sizeof(e));
    assert_true(rv < 0);
    assert_null(l.entries);
    assert_true(e[0] != '\0');
    assert_null(strstr(e, "SecretValue123"));
    rc_backend_s3.close(ctx);
    rc_backend_s3.close(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_path_style),
        cmocka_unit_test(test_url_defaults),
        cmocka_unit_test(test_url_options),
        cmocka_unit_test(test_url_prefix_decoded),
        cmocka_unit_test(test_url_credentials),
        cmocka_unit_test(test_url_errors),
        cmocka_unit_test(test_url_err_has_no_secret),
        cmocka_unit_test(test_uri_encode),
        cmocka_unit_test(test_object_url),
        cmocka_unit_test(test_list_url_sorted),
        cmocka_unit_test(test_parse_list_aws),
        cmocka_unit_test(test_parse_list_namespaces),
        cmocka_unit_test(test_parse_list_empty),
        cmocka_unit_test(test_parse_error_doc),
        cmocka_unit_test(test_parse_bad_xml),
        cmocka_unit_test(test_parse_long_key_flagged),
        cmocka_unit_test(test_parse_truncated_token_too_long),
        cmocka_unit_test(test_clock_estimate),
        cmocka_unit_test(test_format_has_no_time_line),
        cmocka_unit_test(test_open_needs_credentials),
        cmocka_unit_test(test_unreachable_is_an_error),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

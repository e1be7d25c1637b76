/*
 * test_log.c - the three formats, escaping of hostile bytes, the sink and the
 * rate limiter.
 *
 * Lines are rendered through rc_log_render with a fixed clock
 * (2026-11-20T18:51:29.277Z) and TZ=UTC, so the elixir format's local time is
 * predictable. JSON output is checked by a small strict validator below
 * (structure, escapes, no raw control bytes, valid UTF-8), not by eye.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "rollcall/log.h"
#include "rollcall/reason.h"

#define NOW 1795200689277LL /* 2026-11-20T18:51:29.277Z */

static size_t render(char *out, size_t cap, enum rc_log_format fmt, enum rc_log_level level,
                     const char *msg, const struct rc_log_field *f, size_t nf)
{
    return rc_log_render(out, cap, fmt, level, NOW, msg, f, nf);
}

/* ---- a strict JSON checker: one object, valid escapes, valid UTF-8 ---- */

struct js {
    const unsigned char *p, *end;
};

static bool js_ws(struct js *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
    return true;
}

static bool js_value(struct js *j);

static bool js_string(struct js *j)
{
    if (j->p >= j->end || *j->p != '"')
        return false;
    j->p++;
    while (j->p < j->end && *j->p != '"') {
        unsigned char c = *j->p;

        if (c < 0x20)
            return false;
        if (c == '\\') {
            j->p++;
            if (j->p >= j->end)
                return false;
            if (*j->p == 'u') {
                for (int i = 1; i <= 4; i++)
                    if (j->p + i >= j->end || !strchr("0123456789abcdefABCDEF", j->p[i]) ||
                        j->p[i] == 0)
                        return false;
                j->p += 5;
                continue;
            }
            if (!strchr("\"\\/bfnrt", *j->p) || *j->p == 0)
                return false;
            j->p++;
            continue;
        }
        if (c < 0x80) {
            j->p++;
            continue;
        }
        /* UTF-8 */
        int n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
        if (n == 0 || c > 0xF4 || j->p + n > j->end)
            return false;
        for (int i = 1; i < n; i++)
            if ((j->p[i] & 0xC0) != 0x80)
                return false;
        j->p += n;
    }
    if (j->p >= j->end)
        return false;
    j->p++;
    return true;
}

static bool js_number(struct js *j)
{
    const unsigned char *s = j->p;

    if (j->p < j->end && *j->p == '-')
        j->p++;
    while (j->p < j->end && strchr("0123456789.eE+-", *j->p) && *j->p)
        j->p++;
    return j->p > s;
}

static bool js_lit(struct js *j, const char *w)
{
    size_t n = strlen(w);

    if ((size_t)(j->end - j->p) < n || memcmp(j->p, w, n) != 0)
        return false;
    j->p += n;
    return true;
}

static bool js_object(struct js *j)
{
    j->p++; /* { */
    js_ws(j);
    if (j->p < j->end && *j->p == '}') {
        j->p++;
        return true;
    }
    for (;;) {
        js_ws(j);
        if (!js_string(j))
            return false;
        js_ws(j);
        if (j->p >= j->end || *j->p != ':')
            return false;
        j->p++;
        if (!js_value(j))
            return false;
        js_ws(j);
        if (j->p < j->end && *j->p == ',') {
            j->p++;
            continue;
        }
        if (j->p < j->end && *j->p == '}') {
            j->p++;
            return true;
        }
        return false;
    }
}

static bool js_value(struct js *j)
{
    js_ws(j);
    if (j->p >= j->end)
        return false;
    switch (*j->p) {
    case '{':
        return js_object(j);
    case '"':
        return js_string(j);
    case 't':
        return js_lit(j, "true");
    case 'f':
        return js_lit(j, "false");
    case 'n':
        return js_lit(j, "null");
    default:
        return js_number(j);
    }
}

static bool json_valid_object(const char *s, size_t n)
{
    struct js j = {(const unsigned char *)s, (const unsigned char *)s + n};

    js_ws(&j);
    if (j.p >= j.end || *j.p != '{' || !js_object(&j))
        return false;
    js_ws(&j);
    return j.p == j.end;
}

/* no byte below 0x20 or DEL anywhere in a rendered line */
static void assert_no_control(const char *s)
{
    for (; *s != '\0'; s++)
        assert_false((unsigned char)*s < 0x20 || *s == 0x7F);
}

/* ---- formats ---- */

static void test_elixir_classic_line(void **state)
{
    char out[512];
    size_t n;

    (void)state;
    n = render(out, sizeof(out), RC_LOG_FMT_ELIXIR, RC_LOG_INFO,
               "a@172.18.0.2[\"a@172.18.0.2\": true, \"b@172.18.0.3\": true]", NULL, 0);
    assert_string_equal(out, "18:51:29.277 [info] a@172.18.0.2[\"a@172.18.0.2\": true, "
                             "\"b@172.18.0.3\": true]");
    assert_int_equal(n, strlen(out));
}

static void test_elixir_levels_and_event(void **state)
{
    char out[512];
    struct rc_log_field f[] = {
        RC_LF_S("node", "b@10.0.0.6"),
        RC_LF_S("reason", rc_reason_str(RC_REASON_TIMEOUT)),
        RC_LF_D("rtt_ms", 500.25),
    };

    (void)state;
    render(out, sizeof(out), RC_LOG_FMT_ELIXIR, RC_LOG_WARN, "peer_down", f, 3);
    assert_string_equal(out, "18:51:29.277 [warning] peer_down node=b@10.0.0.6 reason=timeout "
                             "rtt_ms=500.25");
    render(out, sizeof(out), RC_LOG_FMT_ELIXIR, RC_LOG_ERROR, "x", NULL, 0);
    assert_string_equal(out, "18:51:29.277 [error] x");
    render(out, sizeof(out), RC_LOG_FMT_ELIXIR, RC_LOG_DEBUG, "x", NULL, 0);
    assert_string_equal(out, "18:51:29.277 [debug] x");
}

static void test_elixir_local_time(void **state)
{
    char out[128];

    (void)state;
    setenv("TZ", "Asia/Kolkata", 1); /* +05:30, no DST */
    tzset();
    render(out, sizeof(out), RC_LOG_FMT_ELIXIR, RC_LOG_INFO, "x", NULL, 0);
    setenv("TZ", "UTC", 1);
    tzset();
    /* only if the zone database is installed; otherwise glibc falls back to UTC */
    if (access("/usr/share/zoneinfo/Asia/Kolkata", R_OK) == 0)
        assert_string_equal(out, "00:21:29.277 [info] x");
    /* before 1970: milliseconds stay positive */
    rc_log_render(out, sizeof(out), RC_LOG_FMT_ELIXIR, RC_LOG_INFO, -1, "x", NULL, 0);
    assert_string_equal(out, "23:59:59.999 [info] x");
}

static void test_text_sweep_line(void **state)
{
    char out[512];
    struct rc_log_field f[] = {
        RC_LF_S("self", "a@10.0.0.5"), RC_LF_S("node", "b@10.0.0.6"), RC_LF_B("alive", true),
        RC_LF_D("rtt_ms", 0.412),      RC_LF_S("reason", "ok"),
    };

    (void)state;
    render(out, sizeof(out), RC_LOG_FMT_TEXT, RC_LOG_INFO, "sweep", f, 5);
    assert_string_equal(out, "ts=2026-11-20T18:51:29.277Z level=info msg=sweep self=a@10.0.0.5 "
                             "node=b@10.0.0.6 alive=true rtt_ms=0.412 reason=ok");
    render(out, sizeof(out), RC_LOG_FMT_TEXT, RC_LOG_WARN, "registry list failed: timed out",
           (struct rc_log_field[]){RC_LF_I("entries", -3), RC_LF_S("why", "")}, 2);
    assert_string_equal(out, "ts=2026-11-20T18:51:29.277Z level=warning msg=\"registry list "
                             "failed: timed out\" entries=-3 why=\"\"");
}

static void test_json_sweep_line(void **state)
{
    char out[512];
    size_t n;
    struct rc_log_field f[] = {
        RC_LF_S("self", "a@10.0.0.5"),
        RC_LF_S("node", "b@10.0.0.6"),
        RC_LF_B("alive", false),
        RC_LF_D("rtt_ms", 12.0),
        RC_LF_S("reason", "connect_refused"),
        RC_LF_I("n", 42),
    };

    (void)state;
    n = render(out, sizeof(out), RC_LOG_FMT_JSON, RC_LOG_INFO, "sweep", f, 6);
    assert_string_equal(out, "{\"ts\":\"2026-11-20T18:51:29.277Z\",\"level\":\"info\",\"msg\":"
                             "\"sweep\",\"self\":\"a@10.0.0.5\",\"node\":\"b@10.0.0.6\","
                             "\"alive\":false,\"rtt_ms\":12,\"reason\":\"connect_refused\","
                             "\"n\":42}");
    assert_true(json_valid_object(out, n));
}

static void test_json_doubles(void **state)
{
    char out[256];
    size_t n;

    (void)state;
    n = render(out, sizeof(out), RC_LOG_FMT_JSON, RC_LOG_INFO, "d",
               (struct rc_log_field[]){RC_LF_D("a", NAN), RC_LF_D("b", 1e300),
                                       RC_LF_D("c", -0.0001), RC_LF_D("d", 1.5)},
               4);
    assert_true(json_valid_object(out, n));
    assert_non_null(strstr(out, "\"a\":null,\"b\":1.000000e+300,\"c\":0,\"d\":1.5}"));
}

/* ---- escaping ---- */

static const char hostile[] = "a\nb\tc\x1b[31md\"q\"\\e\xff\xc3(f\xc2\x9bg\x7fh é ✓";

static void test_escape_elixir(void **state)
{
    char out[512];

    (void)state;
    render(out, sizeof(out), RC_LOG_FMT_ELIXIR, RC_LOG_INFO, hostile, NULL, 0);
    assert_string_equal(out, "18:51:29.277 [info] a\\nb\\tc\\x1b[31md\"q\"\\\\e\\xff\\xc3(f"
                             "\\xc2\\x9bg\\x7fh é ✓");
    assert_no_control(out);
}

static void test_escape_text(void **state)
{
    char out[512];

    (void)state;
    render(out, sizeof(out), RC_LOG_FMT_TEXT, RC_LOG_INFO, "m",
           (struct rc_log_field[]){RC_LF_S("v", hostile), RC_LF_S("k", "a=b"), RC_LF_S("u", "é")},
           3);
    assert_string_equal(out, "ts=2026-11-20T18:51:29.277Z level=info msg=m "
                             "v=\"a\\nb\\tc\\x1b[31md\\\"q\\\"\\\\e\\xff\\xc3(f\\xc2\\x9bg\\x7fh "
                             "é ✓\" k=\"a=b\" u=é");
    assert_no_control(out);
}

static void test_escape_json(void **state)
{
    char out[512];
    size_t n;

    (void)state;
    n = render(out, sizeof(out), RC_LOG_FMT_JSON, RC_LOG_INFO, hostile,
               (struct rc_log_field[]){RC_LF_S("bad key\n", "\x01")}, 1);
    assert_string_equal(out, "{\"ts\":\"2026-11-20T18:51:29.277Z\",\"level\":\"info\",\"msg\":"
                             "\"a\\nb\\tc\\u001b[31md\\\"q\\\"\\\\e\\\\xff\\\\xc3(f\\u009bg"
                             "\\u007fh é ✓\",\"bad_key_\":\"\\u0001\"}");
    assert_true(json_valid_object(out, n));
    assert_no_control(out);
}

/* every single byte value, alone and inside text, in all formats */
static void test_escape_all_bytes(void **state)
{
    char out[256], msg[8];

    (void)state;
    for (int b = 1; b < 256; b++) {
        snprintf(msg, sizeof(msg), "x%cy", b);
        for (int fmt = RC_LOG_FMT_ELIXIR; fmt <= RC_LOG_FMT_JSON; fmt++) {
            size_t n = render(out, sizeof(out), (enum rc_log_format)fmt, RC_LOG_INFO, msg,
                              (struct rc_log_field[]){RC_LF_S("v", msg)}, 1);

            assert_no_control(out);
            for (size_t i = 0; i < n; i++)
                assert_true((unsigned char)out[i] < 0x80); /* a lone high byte is invalid */
            if (fmt == RC_LOG_FMT_JSON)
                assert_true(json_valid_object(out, n));
        }
    }
}

static void test_truncation_stays_wellformed(void **state)
{
    char big[20000], out[1024];
    size_t n;

    (void)state;
    memset(big, '\n', sizeof(big) - 1); /* worst case: every byte grows to two */
    big[sizeof(big) - 1] = '\0';
    n = render(out, sizeof(out), RC_LOG_FMT_JSON, RC_LOG_INFO, big,
               (struct rc_log_field[]){RC_LF_S("node", "b@h"), RC_LF_I("n", 1)}, 2);
    assert_true(n < sizeof(out));
    assert_true(json_valid_object(out, n));
    assert_non_null(strstr(out, "...\""));
    assert_non_null(strstr(out, "\"truncated\":true}"));

    n = render(out, sizeof(out), RC_LOG_FMT_JSON, RC_LOG_INFO, "m",
               (struct rc_log_field[]){RC_LF_S("a", big), RC_LF_I("n", 1)}, 2);
    assert_true(json_valid_object(out, n));

    n = render(out, sizeof(out), RC_LOG_FMT_TEXT, RC_LOG_INFO, "m",
               (struct rc_log_field[]){RC_LF_S("a", big)}, 1);
    assert_true(n < sizeof(out));
    assert_int_equal(out[n - 1], '"');

    /* a 1-byte buffer gets just the NUL */
    assert_int_equal(render(out, 1, RC_LOG_FMT_JSON, RC_LOG_INFO, "m", NULL, 0), 0);
    assert_int_equal(out[0], '\0');
}

/* ---- names ---- */

static void test_parse_names(void **state)
{
    enum rc_log_level l;
    enum rc_log_format f;

    (void)state;
    assert_int_equal(rc_log_level_parse("warn", &l), 0);
    assert_int_equal(l, RC_LOG_WARN);
    assert_int_equal(rc_log_level_parse("warning", &l), 0);
    assert_int_equal(l, RC_LOG_WARN);
    assert_int_equal(rc_log_level_parse("DEBUG", &l), 0);
    assert_int_equal(l, RC_LOG_DEBUG);
    assert_int_equal(rc_log_level_parse("verbose", &l), -EINVAL);
    assert_int_equal(rc_log_format_parse("json", &f), 0);
    assert_int_equal(f, RC_LOG_FMT_JSON);
    assert_int_equal(rc_log_format_parse("logfmt", &f), -EINVAL);
    assert_string_equal(rc_log_level_str(RC_LOG_WARN), "warning");
    assert_string_equal(rc_log_format_str(RC_LOG_FMT_TEXT), "text");
}

/* ---- the sink ---- */

struct tmp {
    char dir[64];
    char path[128];
};

static int tmp_setup(void **state)
{
    struct tmp *t = calloc(1, sizeof(*t));

    snprintf(t->dir, sizeof(t->dir), "/tmp/rollcall-test-log-XXXXXX");
    if (mkdtemp(t->dir) == NULL)
        return -1;
    snprintf(t->path, sizeof(t->path), "%s/agent.log", t->dir);
    *state = t;
    return 0;
}

static int tmp_teardown(void **state)
{
    struct tmp *t = *state;
    char cmd[160];

    rc_log_close();
    rc_log_set_level(RC_LOG_INFO);
    rc_log_set_format(RC_LOG_FMT_ELIXIR);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->dir);
    if (system(cmd) != 0)
        return -1;
    free(t);
    return 0;
}

static char *slurp(const char *path, size_t *ret_len)
{
    FILE *f = fopen(path, "r");
    struct stat st;
    char *buf;
    size_t n;

    assert_non_null(f);
    assert_int_equal(fstat(fileno(f), &st), 0);
    buf = calloc(1, (size_t)st.st_size + 1);
    assert_non_null(buf);
    n = fread(buf, 1, (size_t)st.st_size, f);
    fclose(f);
    if (ret_len != NULL)
        *ret_len = n;
    return buf;
}

static void test_sink_level_errno_reopen(void **state)
{
    struct tmp *t = *state;
    char err[256], moved[160], *text;
    struct stat st;

    umask(022);
    assert_int_equal(rc_log_open(t->path, err, sizeof(err)), 0);
    assert_int_equal(stat(t->path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0640);
    rc_log_set_format(RC_LOG_FMT_TEXT);
    rc_log_set_level(RC_LOG_INFO);
    assert_false(rc_log_enabled(RC_LOG_DEBUG));
    assert_true(rc_log_enabled(RC_LOG_WARN));

    errno = ENOENT;
    rc_log_info("hello %s: %m", "world");
    assert_int_equal(errno, ENOENT);
    rc_log_debug("not shown");
    rc_log_event(RC_LOG_INFO, "peer_up", (struct rc_log_field[]){RC_LF_S("node", "b@h")}, 1);
    assert_int_equal(errno, ENOENT);

    text = slurp(t->path, NULL);
    assert_non_null(strstr(text, "level=info msg=\"hello world: No such file or directory\"\n"));
    assert_null(strstr(text, "not shown"));
    assert_non_null(strstr(text, "msg=peer_up node=b@h\n"));
    free(text);

    /* logrotate: move the file away, reopen, the next line lands in a new file */
    snprintf(moved, sizeof(moved), "%s.1", t->path);
    assert_int_equal(rename(t->path, moved), 0);
    assert_int_equal(rc_log_reopen(err, sizeof(err)), 0);
    rc_log_warn("after rotate");
    text = slurp(t->path, NULL);
    assert_non_null(strstr(text, "level=warning msg=\"after rotate\"\n"));
    assert_null(strstr(text, "hello"));
    free(text);

    /* a failed open keeps the current sink */
    assert_int_equal(rc_log_open("/nonexistent-dir/x.log", err, sizeof(err)), -ENOENT);
    assert_non_null(strstr(err, "/nonexistent-dir/x.log"));
    rc_log_info("still here");
    text = slurp(t->path, NULL);
    assert_non_null(strstr(text, "still here"));
    free(text);
}

#define THREADS 8
#define LINES 2000

static void *writer(void *arg)
{
    long id = (long)arg;
    char pad[600];

    memset(pad, 'a' + (int)id, sizeof(pad) - 1);
    pad[sizeof(pad) - 1] = '\0';
    for (int i = 0; i < LINES; i++)
        rc_log_event(
            RC_LOG_INFO, "t",
            (struct rc_log_field[]){RC_LF_I("id", id), RC_LF_I("i", i), RC_LF_S("pad", pad)}, 3);
    return NULL;
}

static void test_sink_threads_whole_lines(void **state)
{
    struct tmp *t = *state;
    pthread_t th[THREADS];
    char err[256], *text, *line, *save = NULL;
    size_t n, count = 0;

    assert_int_equal(rc_log_open(t->path, err, sizeof(err)), 0);
    rc_log_set_format(RC_LOG_FMT_JSON);
    for (long i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, writer, (void *)i), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    text = slurp(t->path, &n);
    for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        assert_true(json_valid_object(line, strlen(line)));
        count++;
    }
    assert_int_equal(count, THREADS * LINES);
    free(text);
}

/* ---- rate limiting ---- */

static void test_ratelimit(void **state)
{
    struct rc_ratelimit rl = {0};
    uint32_t sup = 99;

    (void)state;
    /* burst of 3 per second, starting at monotonic time 0 */
    assert_true(rc_ratelimit_allow(&rl, 0, 3, 1000, &sup));
    assert_int_equal(sup, 0);
    assert_true(rc_ratelimit_allow(&rl, 10, 3, 1000, &sup));
    assert_true(rc_ratelimit_allow(&rl, 20, 3, 1000, NULL));
    assert_false(rc_ratelimit_allow(&rl, 30, 3, 1000, &sup));
    assert_false(rc_ratelimit_allow(&rl, 999, 3, 1000, &sup));
    /* the window ends: the next allowed call reports the two dropped lines */
    assert_true(rc_ratelimit_allow(&rl, 1000, 3, 1000, &sup));
    assert_int_equal(sup, 2);
    assert_true(rc_ratelimit_allow(&rl, 1001, 3, 1000, &sup));
    assert_int_equal(sup, 0);
    /* a window without drops reports nothing */
    assert_true(rc_ratelimit_allow(&rl, 5000, 3, 1000, &sup));
    assert_int_equal(sup, 0);
    /* a clock that went backwards starts a new window rather than stalling */
    assert_true(rc_ratelimit_allow(&rl, 5001, 3, 1000, NULL));
    assert_true(rc_ratelimit_allow(&rl, 5002, 3, 1000, NULL));
    assert_false(rc_ratelimit_allow(&rl, 5003, 3, 1000, NULL));
    assert_true(rc_ratelimit_allow(&rl, 100, 3, 1000, &sup));
    assert_int_equal(sup, 1);
}

static void test_clocks(void **state)
{
    uint64_t a = rc_now_mono_ms(), b;
    int64_t w = rc_now_wall_ms();

    (void)state;
    b = rc_now_mono_ms();
    assert_true(b >= a);
    assert_true(rc_now_mono_us() >= a * 1000);
    assert_true(w > 1700000000000LL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_elixir_classic_line),
        cmocka_unit_test(test_elixir_levels_and_event),
        cmocka_unit_test(test_elixir_local_time),
        cmocka_unit_test(test_text_sweep_line),
        cmocka_unit_test(test_json_sweep_line),
        cmocka_unit_test(test_json_doubles),
        cmocka_unit_test(test_escape_elixir),
        cmocka_unit_test(test_escape_text),
        cmocka_unit_test(test_escape_json),
        cmocka_unit_test(test_escape_all_bytes),
        cmocka_unit_test(test_truncation_stays_wellformed),
        cmocka_unit_test(test_parse_names),
        cmocka_unit_test_setup_teardown(test_sink_level_errno_reopen, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_sink_threads_whole_lines, tmp_setup, tmp_teardown),
        cmocka_unit_test(test_ratelimit),
        cmocka_unit_test(test_clocks),
    };

    setenv("TZ", "UTC", 1);
    tzset();
    return cmocka_run_group_tests(tests, NULL, NULL);
}

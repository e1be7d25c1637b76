/*
 * test_config.c - the configuration: precedence of the four layers, every
 * error kind with its exact text, the command line, --cookie scrubbing,
 * check-config masking, reload, and that the shipped example ini and the
 * docs cover every key.
 *
 * Each test runs with every ROLLCALL_* variable and ERL_EPMD_PORT removed
 * from the environment and a fresh temp directory for its ini file.
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

#include "../../agent/config_int.h" /* the key table */
#include "rollcall/config.h"
#include "rollcall/duration.h"
#include "rollcall/netif.h"
#include "rollcall/registry.h"

extern char **environ;

#define ERRLEN 8192

struct fx {
    char dir[64];
    char ini[128];
    char err[ERRLEN];
    char host[64]; /* what a bare name gets */
    struct rc_config cfg;
    struct rc_args args;
    char *argv[32]; /* mutable copies, as main() gets them */
    int argc;
};

static void clear_env(void)
{
    char name[256];
    bool again = true;

    while (again) { /* unsetenv changes environ: restart after each */
        again = false;
        for (char **e = environ; *e != NULL; e++) {
            if (strncmp(*e, "ROLLCALL_", 9) == 0 || strncmp(*e, "ERL_EPMD_PORT=", 14) == 0 ||
                strncmp(*e, "RELEASE_", 8) == 0) {
                snprintf(name, sizeof(name), "%.*s", (int)(strchr(*e, '=') - *e), *e);
                unsetenv(name);
                again = true;
                break;
            }
        }
    }
}

static void free_argv(struct fx *f)
{
    for (int i = 0; i < f->argc; i++)
        free(f->argv[i]);
    f->argc = 0;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));

    clear_env();
    snprintf(f->dir, sizeof(f->dir), "/tmp/rollcall-test-config-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->ini, sizeof(f->ini), "%s/rollcall.ini", f->dir);
    if (rc_first_global_ipv4(f->host, sizeof(f->host)) < 0)
        snprintf(f->host, sizeof(f->host), "127.0.0.1");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    free_argv(f);
    unlink(f->ini);
    rmdir(f->dir);
    clear_env();
    free(f);
    return 0;
}

static void write_ini(struct fx *f, const char *text, size_t len)
{
    FILE *fp = fopen(f->ini, "w");

    assert_non_null(fp);
    assert_int_equal(fwrite(text, 1, len, fp), len);
    fclose(fp);
}

#define WRITE_INI(f, text) write_ini((f), (text), sizeof(text) - 1)

/* Loads with argv "rollcall" + the NULL-terminated list. */
static int load(struct fx *f, ...)
{
    va_list ap;
    const char *a;

    free_argv(f);
    f->argv[f->argc++] = strdup("rollcall");
    va_start(ap, f);
    while ((a = va_arg(ap, const char *)) != NULL)
        f->argv[f->argc++] = strdup(a);
    va_end(ap);
    f->argv[f->argc] = NULL;
    memset(&f->cfg, 0xA5, sizeof(f->cfg));
    return rc_config_load(&f->cfg, &f->args, f->argc, f->argv, f->err, sizeof(f->err));
}

static char *print_cfg(const struct rc_config *c)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);

    assert_non_null(m);
    rc_config_print(c, m);
    fclose(m);
    return buf;
}

/* asserts that out has the line exactly */
static void assert_line(const char *out, const char *line)
{
    size_t n = strlen(line);

    for (const char *p = out; p != NULL && *p != '\0'; p = strchr(p, '\n'), p = p ? p + 1 : p) {
        if (strncmp(p, line, n) == 0 && (p[n] == '\n' || p[n] == '\0'))
            return;
    }
    fail_msg("line \"%s\" not in:\n%s", line, out);
}

/* ---- defaults and precedence ---- */

static void test_defaults(void **state)
{
    struct fx *f = *state;
    char name[128];

    assert_int_equal(load(f, NULL), 0);
    snprintf(name, sizeof(name), "rollcall@%s", f->host);
    assert_string_equal(f->cfg.name, name);
    assert_string_equal(f->cfg.cookie, "");
    assert_string_equal(f->cfg.cookie_file, "");
    assert_int_equal(f->cfg.epmd, RC_EPMD_AUTO);
    assert_int_equal(f->cfg.epmd_port, 4369);
    assert_int_equal(f->cfg.dist_port_min, 0);
    assert_int_equal(f->cfg.dist_port_max, 0);
    assert_string_equal(f->cfg.registry, "file:///tmp/rollcall");
    assert_int_equal(f->cfg.stale_after_ms, 10000);
    assert_int_equal(f->cfg.prune_after_ms, 30000);
    assert_int_equal(f->cfg.interval_ms, 1000);
    assert_int_equal(f->cfg.ping_timeout_ms, 500);
    assert_int_equal(f->cfg.log_format, RC_LOG_FMT_ELIXIR);
    assert_int_equal(f->cfg.log_level, RC_LOG_INFO);
    assert_string_equal(f->cfg.log_file, "");
    assert_string_equal(f->cfg.config_file, "");
    assert_int_equal(f->args.command, RC_CMD_RUN);
    assert_string_equal(f->err, "");
}

static const char precedence_ini[] = "[node]\n"
                                     "epmd_port = 1111\n"
                                     "name = fromfile\n"
                                     "[agent]\n"
                                     "interval = 2s\n"
                                     "ping_timeout = 300ms\n"
                                     "[registry]\n"
                                     "stale_after = 1m\n"
                                     "[log]\n"
                                     "log_level = debug\n"
                                     "log_format = text\n";

static void test_precedence(void **state)
{
    struct fx *f = *state;
    char line[256], *out;

    WRITE_INI(f, precedence_ini);
    setenv("ROLLCALL_INTERVAL", "3s", 1);
    setenv("ROLLCALL_LOG_FORMAT", "json", 1);
    setenv("ERL_EPMD_PORT", "3333", 1);
    assert_int_equal(load(f, "-c", f->ini, "--interval", "4s", "--ping-timeout=200ms", NULL), 0);
    assert_int_equal(f->cfg.interval_ms, 4000);     /* flag > env > ini */
    assert_int_equal(f->cfg.ping_timeout_ms, 200);  /* flag > ini */
    assert_int_equal(f->cfg.stale_after_ms, 60000); /* ini */
    assert_int_equal(f->cfg.prune_after_ms, 30000); /* default */
    assert_int_equal(f->cfg.epmd_port, 3333);       /* ERL_EPMD_PORT > ini */
    assert_int_equal(f->cfg.log_level, RC_LOG_DEBUG);
    assert_int_equal(f->cfg.log_format, RC_LOG_FMT_JSON); /* env > ini */
    assert_string_equal(f->cfg.config_file, f->ini);

    out = print_cfg(&f->cfg);
    assert_line(out, "agent.interval = 4s  # flag --interval");
    assert_line(out, "agent.ping_timeout = 200ms  # flag --ping-timeout");
    snprintf(line, sizeof(line), "registry.stale_after = 1m  # %s:8", f->ini);
    assert_line(out, line);
    assert_line(out, "registry.prune_after = 30s  # default");
    assert_line(out, "node.epmd_port = 3333  # env ERL_EPMD_PORT");
    assert_line(out, "log.log_format = json  # env ROLLCALL_LOG_FORMAT");
    snprintf(line, sizeof(line), "log.log_level = debug  # %s:10", f->ini);
    assert_line(out, line);
    snprintf(line, sizeof(line), "node.name = fromfile@%s  # %s:3 (host added)", f->host, f->ini);
    assert_line(out, line);
    free(out);

    /* ROLLCALL_EPMD_PORT beats ERL_EPMD_PORT; a flag beats both */
    setenv("ROLLCALL_EPMD_PORT", "2222", 1);
    assert_int_equal(load(f, "-c", f->ini, NULL), 0);
    assert_int_equal(f->cfg.epmd_port, 2222);
    assert_int_equal(f->cfg.interval_ms, 3000); /* env > ini */
    out = print_cfg(&f->cfg);
    assert_line(out, "node.epmd_port = 2222  # env ROLLCALL_EPMD_PORT");
    assert_line(out, "agent.interval = 3s  # env ROLLCALL_INTERVAL");
    free(out);
    assert_int_equal(load(f, "--epmd-port", "4444", "-c", f->ini, NULL), 0);
    assert_int_equal(f->cfg.epmd_port, 4444);

    /* the ini named by ROLLCALL_CONFIG; -c wins over it */
    clear_env();
    setenv("ROLLCALL_CONFIG", f->ini, 1);
    assert_int_equal(load(f, NULL), 0);
    assert_int_equal(f->cfg.interval_ms, 2000);
    assert_int_equal(f->cfg.epmd_port, 1111);
    assert_int_equal(load(f, "--config", "/nonexistent/rollcall.ini", NULL), -EINVAL);
    assert_string_equal(f->err,
                        "/nonexistent/rollcall.ini: cannot open: No such file or directory");

    /* an empty variable counts as unset */
    setenv("ROLLCALL_INTERVAL", "", 1);
    assert_int_equal(load(f, NULL), 0);
    assert_int_equal(f->cfg.interval_ms, 2000);
}

static void test_every_key_by_env_and_flag(void **state)
{
    struct fx *f = *state;

    setenv("ROLLCALL_NAME", "n1@10.1.2.3", 1);
    setenv("ROLLCALL_COOKIE_FILE", "/etc/rollcall/cookie", 1);
    setenv("ROLLCALL_EPMD", "off", 1);
    setenv("ROLLCALL_DIST_PORT_MIN", "9100", 1);
    setenv("ROLLCALL_DIST_PORT_MAX", "9105", 1);
    setenv("ROLLCALL_REGISTRY", "file:///var/lib/rollcall", 1);
    setenv("ROLLCALL_STALE_AFTER", "20s", 1);
    setenv("ROLLCALL_PRUNE_AFTER", "1h", 1);
    setenv("ROLLCALL_PING_TIMEOUT", "750", 1);
    setenv("ROLLCALL_LOG_LEVEL", "warn", 1);
    setenv("ROLLCALL_LOG_FILE", "/var/log/rollcall.log", 1);
    assert_int_equal(load(f, NULL), 0);
    assert_string_equal(f->cfg.name, "n1@10.1.2.3");
    assert_string_equal(f->cfg.cookie_file, "/etc/rollcall/cookie");
    assert_int_equal(f->cfg.epmd, RC_EPMD_OFF);
    assert_int_equal(f->cfg.dist_port_min, 9100);
    assert_int_equal(f->cfg.dist_port_max, 9105);
    assert_string_equal(f->cfg.registry, "file:///var/lib/rollcall");
    assert_int_equal(f->cfg.stale_after_ms, 20000);
    assert_int_equal(f->cfg.prune_after_ms, 3600000);
    assert_int_equal(f->cfg.ping_timeout_ms, 750);
    assert_int_equal(f->cfg.log_level, RC_LOG_WARN);
    assert_string_equal(f->cfg.log_file, "/var/log/rollcall.log");

    assert_int_equal(load(f, "--name=n2@h", "--cookie-file", "/c", "--epmd", "embedded",
                          "--dist-port-min=1", "--dist-port-max", "2", "--registry", "file:///r",
                          "--stale-after", "2m", "--prune-after=3m", "--log-level=error",
                          "--log-file", "", "--log-format", "text", NULL),
                     0);
    assert_string_equal(f->cfg.name, "n2@h");
    assert_string_equal(f->cfg.cookie_file, "/c");
    assert_int_equal(f->cfg.epmd, RC_EPMD_EMBEDDED);
    assert_int_equal(f->cfg.dist_port_min, 1);
    assert_int_equal(f->cfg.dist_port_max, 2);
    assert_string_equal(f->cfg.registry, "file:///r");
    assert_int_equal(f->cfg.stale_after_ms, 120000);
    assert_int_equal(f->cfg.prune_after_ms, 180000);
    assert_int_equal(f->cfg.log_level, RC_LOG_ERROR);
    assert_int_equal(f->cfg.log_format, RC_LOG_FMT_TEXT);
    assert_string_equal(f->cfg.log_file, ""); /* a flag may set "" explicitly */
}

/* ---- ini errors ---- */

static void test_ini_every_error(void **state)
{
    struct fx *f = *state;
    char ini[4096], expect[4096], longline[400];
    int n;

    memset(longline, 'x', 300);
    longline[300] = '\0';
    n = snprintf(ini, sizeof(ini),
                 "[node]\n"                  /* 1 */
                 "name = a@b\n"              /* 2 */
                 "epmd = sometimes\n"        /* 3 */
                 "epmd_port = 70000\n"       /* 4 */
                 "bogus = 1\n"               /* 5 */
                 "interval = 2s\n"           /* 6 */
                 "[agent]\n"                 /* 7 */
                 "interval = fast\n"         /* 8 */
                 "ping_timeout = 5ms\n"      /* 9 */
                 "this line has no equals\n" /* 10 */
                 "interval = 1s\n"           /* 11 */
                 "[nosuch\n"                 /* 12 */
                 "[weird]\n"                 /* 13 */
                 "key = v\n"                 /* 14: under an unknown section: not reported */
                 "[log]\n"                   /* 15 */
                 "log_level = loud\n"        /* 16 */
                 "log_file = %s\n"           /* 17 */
                 "= novalue\n"               /* 18 */
                 "log_format = json",        /* 19, no newline at the end */
                 longline);
    write_ini(f, ini, (size_t)n);
    assert_int_equal(load(f, "-c", f->ini, NULL), -EINVAL);
    snprintf(expect, sizeof(expect),
             "%1$s:3: epmd: invalid value 'sometimes' (auto, system, embedded or off)\n"
             "%1$s:4: epmd_port: invalid port '70000' (1 to 65535)\n"
             "%1$s:5: unknown key 'bogus' in [node]\n"
             "%1$s:6: key 'interval' belongs in [agent], not [node]\n"
             "%1$s:8: interval: invalid duration 'fast' (use a number and a unit: 500ms, 2s, "
             "1m, 1h)\n"
             "%1$s:9: ping_timeout: '5ms' is out of range (10ms to 1h)\n"
             "%1$s:10: expected 'key = value'\n"
             "%1$s:11: duplicate key 'interval' (already set on line 8)\n"
             "%1$s:12: section header without ']'\n"
             "%1$s:13: unknown section [weird] (node, registry, agent, log, app, ops)\n"
             "%1$s:16: log_level: invalid value 'loud' (error, warning, info or debug)\n"
             "%1$s:17: line too long (at most 198 bytes)\n"
             "%1$s:18: missing key name before '='",
             f->ini);
    assert_string_equal(f->err, expect);
    /* ret is not written on failure */
    assert_int_equal(((unsigned char *)&f->cfg)[0], 0xA5);
}

static void test_ini_key_outside_section_and_nul(void **state)
{
    struct fx *f = *state;
    char expect[512];

    WRITE_INI(f, "interval = 1s\n[agent]\nping_timeout = 1\0s\n");
    assert_int_equal(load(f, "-c", f->ini, NULL), -EINVAL);
    snprintf(expect, sizeof(expect),
             "%1$s:1: key 'interval' is outside any section; put it under [agent]\n"
             "%1$s:3: NUL byte in line",
             f->ini);
    assert_string_equal(f->err, expect);
}

static void test_ini_syntax_forms(void **state)
{
    struct fx *f = *state;
    char name[128];

    /* BOM, CRLF, indentation, quotes, comments, ':' as separator */
    WRITE_INI(f, "\xEF\xBB\xBF; a comment\r\n"
                 "# another\r\n"
                 "[node]\r\n"
                 "  name = \"quoted\"\r\n"
                 "\tepmd = off ; inline comment\r\n"
                 "    cookie = \" spaced cookie \"\r\n"
                 "\r\n"
                 "[agent]\r\n"
                 "interval: 250ms\r\n"
                 "[log]\r\n"
                 "log_file = \"\"\r\n"
                 "log_level = DEBUG\r\n");
    assert_int_equal(load(f, "-c", f->ini, NULL), 0);
    snprintf(name, sizeof(name), "quoted@%s", f->host);
    assert_string_equal(f->cfg.name, name);
    assert_int_equal(f->cfg.epmd, RC_EPMD_OFF);
    assert_string_equal(f->cfg.cookie, " spaced cookie ");
    assert_int_equal(f->cfg.interval_ms, 250);
    assert_string_equal(f->cfg.log_file, "");
    assert_int_equal(f->cfg.log_level, RC_LOG_DEBUG);

    /* an indented key after a key is a key, not an inih continuation line */
    WRITE_INI(f, "[agent]\ninterval = 2s\n    ping_timeout = 100ms\n");
    assert_int_equal(load(f, "-c", f->ini, NULL), 0);
    assert_int_equal(f->cfg.interval_ms, 2000);
    assert_int_equal(f->cfg.ping_timeout_ms, 100);

    /* an empty file is fine */
    WRITE_INI(f, "");
    assert_int_equal(load(f, "-c", f->ini, NULL), 0);
}

static void test_values(void **state)
{
    struct fx *f = *state;

    assert_int_equal(load(f, "--epmd-port", "0", NULL), -EINVAL);
    assert_string_equal(f->err, "option --epmd-port: invalid port '0' (1 to 65535)");
    assert_int_equal(load(f, "--epmd-port", "12a", NULL), -EINVAL);
    assert_int_equal(load(f, "--dist-port-max", "65536", NULL), -EINVAL);
    assert_string_equal(f->err, "option --dist-port-max: invalid port '65536' (0 to 65535)");
    assert_int_equal(load(f, "--interval", "2h", NULL), -EINVAL);
    assert_string_equal(f->err, "option --interval: '2h' is out of range (10ms to 1h)");
    assert_int_equal(load(f, "--interval", "1.5s", NULL), -EINVAL);
    assert_string_equal(f->err, "option --interval: invalid duration '1.5s' (use a number and a "
                                "unit: 500ms, 2s, 1m, 1h)");
    assert_int_equal(load(f, "--log-format", "xml", NULL), -EINVAL);
    assert_string_equal(f->err, "option --log-format: invalid value 'xml' (elixir, text or json)");
    assert_int_equal(load(f, "--registry", "ftp://host/x", NULL), -EINVAL);
    assert_string_equal(f->err, "option --registry: unsupported registry 'ftp://host/x' (expected "
                                "file:///DIR, redis://HOST, postgres://HOST/DB or s3://BUCKET)");
    assert_int_equal(load(f, "--log-file", "a\nb", NULL), -EINVAL);
    assert_string_equal(f->err, "option --log-file: control character in file name 'a\\nb'");
    /* a bare number is milliseconds, and the range error says so */
    assert_int_equal(load(f, "--interval", "5", NULL), -EINVAL);
    assert_string_equal(f->err, "option --interval: '5' is out of range (10ms to 1h): a bare "
                                "number is milliseconds, so this is 5ms (use a number and a "
                                "unit: 500ms, 2s, 1m, 1h)");
    /* [ops] and the addresses (docs/operations.md) */
    assert_int_equal(load(f, "--bind", "eth0", NULL), -EINVAL);
    assert_string_equal(f->err, "option --bind: invalid address 'eth0' (a numeric IPv4 address, "
                                "e.g. 10.0.0.5)");
    assert_int_equal(load(f, "--advertise", "a b", NULL), -EINVAL);
    assert_int_equal(load(f, "--http", "localhost:9100", NULL), -EINVAL);
    assert_string_equal(f->err, "option --http: invalid address 'localhost:9100' (a numeric "
                                "HOST:PORT: 127.0.0.1:9100, [::1]:9100, 0.0.0.0:9100)");
    assert_int_equal(load(f, "--http", "127.0.0.1:65536", NULL), -EINVAL);
    assert_int_equal(load(f, "--http", "[::1]:9100", "--expect", "3", NULL), 0);
    assert_string_equal(f->cfg.http, "[::1]:9100");
    assert_int_equal(f->cfg.expect, 3);
    assert_int_equal(load(f, "--expect", "-1", NULL), -EINVAL);
    assert_string_equal(f->err, "option --expect: invalid number '-1' (0 to 100000)");
    assert_int_equal(load(f, "--on-event", "hook.sh", NULL), -EINVAL);
    assert_string_equal(f->err, "option --on-event: 'hook.sh' is not an absolute path");
    assert_int_equal(load(f, "--on-event", "/nonexistent/hook", NULL), -EINVAL);
    assert_string_equal(f->err, "option --on-event: '/nonexistent/hook': No such file or "
                                "directory (the hook must be an executable file)");
    assert_int_equal(load(f, "--on-event", "/bin/true", "--on-event-filter", "peer_down,up", NULL),
                     -EINVAL);
    assert_string_equal(f->err, "option --on-event-filter: unknown event 'up' (expected a "
                                "comma-separated list of peer_up, peer_down, peer_pruned, "
                                "peer_left, registry_down, registry_up, or *)");
    assert_int_equal(load(f, "--hook-timeout", "0", NULL), -EINVAL);

    setenv("ROLLCALL_PING_TIMEOUT", "soon", 1);
    setenv("ROLLCALL_EPMD", "maybe", 1);
    assert_int_equal(load(f, NULL), -EINVAL);
    assert_string_equal(f->err, "environment ROLLCALL_EPMD: invalid value 'maybe' (auto, system, "
                                "embedded or off)\n"
                                "environment ROLLCALL_PING_TIMEOUT: invalid duration 'soon' (use "
                                "a number and a unit: 500ms, 2s, 1m, 1h)");
    clear_env();
    setenv("ERL_EPMD_PORT", "x", 1);
    assert_int_equal(load(f, NULL), -EINVAL);
    assert_string_equal(f->err, "environment ERL_EPMD_PORT: invalid port 'x' (1 to 65535)");
}

static void test_dist_ports(void **state)
{
    struct fx *f = *state;
    char expect[512];

    assert_int_equal(load(f, "--dist-port-min", "9000", "--dist-port-max", "8000", NULL), -EINVAL);
    assert_string_equal(f->err, "option --dist-port-max: dist_port_min 9000 is above dist_port_max "
                                "8000");
    WRITE_INI(f, "[node]\ndist_port_min = 9000\n");
    assert_int_equal(load(f, "-c", f->ini, NULL), -EINVAL);
    snprintf(expect, sizeof(expect),
             "%s:2: dist_port_min: set both dist_port_min and dist_port_max, or neither (0 = any "
             "port)",
             f->ini);
    assert_string_equal(f->err, expect);
    assert_int_equal(load(f, "--dist-port-min", "9000", "--dist-port-max", "9000", NULL), 0);
}

static void test_names(void **state)
{
    struct fx *f = *state;
    char name[128];

    assert_int_equal(load(f, "--name", "node1", NULL), 0);
    snprintf(name, sizeof(name), "node1@%s", f->host);
    assert_string_equal(f->cfg.name, name);
    assert_int_equal(load(f, "--name", "a@b.example.com", NULL), 0);
    assert_string_equal(f->cfg.name, "a@b.example.com");
    assert_int_equal(load(f, "--name", "bad name", NULL), -EINVAL);
    assert_string_equal(f->err, "option --name: invalid node name 'bad name' (expected alive@host "
                                "or alive; alive of A-Z a-z 0-9 _ -, host of A-Z a-z 0-9 . _ : -)");
    assert_int_equal(load(f, "--name", "x@", NULL), -EINVAL);
    assert_int_equal(load(f, "--name", "@h", NULL), -EINVAL);
}

/* App mode (docs/app.md): the [app] keys, a release's RELEASE_* variables
 * below ROLLCALL_*, and run -- CMD. */
static void test_app_keys(void **state)
{
    struct fx *f = *state;
    char want[128];

    assert_int_equal(load(f, "--name", "r@10.0.0.5", NULL), 0);
    assert_string_equal(f->cfg.app_node, "");
    assert_false(f->cfg.app_disconnect);
    assert_int_equal(load(f, "--name", "r@10.0.0.5", "--app-node", "shop", "--app-port", "9100",
                          "--app-disconnect", "yes", "--app-notify", "rollcall_events", NULL),
                     0);
    assert_string_equal(f->cfg.app_node, "shop@10.0.0.5"); /* the agent's host */
    assert_int_equal(f->cfg.app_port, 9100);
    assert_true(f->cfg.app_disconnect);
    assert_string_equal(f->cfg.app_notify, "rollcall_events");

    assert_int_equal(load(f, "--app-node", "bad name", NULL), -EINVAL);
    assert_non_null(strstr(f->err, "option --app-node: invalid app node name 'bad name'"));
    assert_int_equal(load(f, "--app-node", "a@b@c", NULL), -EINVAL);
    assert_int_equal(load(f, "--app-disconnect", "maybe", NULL), -EINVAL);
    assert_string_equal(f->err, "option --app-disconnect: invalid value 'maybe' (true or false)");
    assert_int_equal(load(f, "--app-notify", "no-dash", NULL), -EINVAL);
    assert_int_equal(load(f, "--app-port", "65536", NULL), -EINVAL);
    assert_int_equal(load(f, "--name", "r@10.0.0.5", "--app-node", "r@10.0.0.5", NULL), -EINVAL);
    assert_non_null(strstr(f->err, "the app cannot have the agent's own name"));

    /* a release's environment, below ROLLCALL_APP_NODE */
    setenv("RELEASE_NODE", "shop@10.0.0.9", 1);
    setenv("RELEASE_COOKIE", "RELEASECOOKIE", 1);
    assert_int_equal(load(f, "--name", "r@10.0.0.5", NULL), 0);
    assert_string_equal(f->cfg.app_node, "shop@10.0.0.9");
    assert_string_equal(f->cfg.cookie, "RELEASECOOKIE");
    assert_int_equal(load(f, "--name", "r@10.0.0.5", "--cookie-file", "/x", NULL), 0);
    assert_string_equal(f->cfg.cookie, ""); /* cookie_file wins over RELEASE_COOKIE */
    setenv("ROLLCALL_APP_NODE", "other@10.0.0.9", 1);
    assert_int_equal(load(f, "--name", "r@10.0.0.5", NULL), 0);
    assert_string_equal(f->cfg.app_node, "other@10.0.0.9");
    unsetenv("ROLLCALL_APP_NODE");
    setenv("RELEASE_NODE", "bad name!", 1);
    assert_int_equal(load(f, NULL), -EINVAL);
    assert_non_null(strstr(f->err, "environment RELEASE_NODE: invalid app node name"));
    setenv("RELEASE_NODE", "shop", 1);
    setenv("RELEASE_DISTRIBUTION", "sname", 1);
    assert_int_equal(load(f, "--name", "r@10.0.0.5", NULL), 0);
    assert_null(strchr(strchr(f->cfg.app_node, '@'), '.')); /* the short host name */
    setenv("RELEASE_DISTRIBUTION", "none", 1);
    assert_int_equal(load(f, "--name", "r@10.0.0.5", NULL), 0);
    assert_string_equal(f->cfg.app_node, ""); /* undistributed: nothing to look after */
    setenv("RELEASE_DISTRIBUTION", "long", 1);
    assert_int_equal(load(f, NULL), -EINVAL);
    assert_non_null(strstr(f->err, "environment RELEASE_DISTRIBUTION: 'long'"));
    clear_env();

    /* run -- CMD: the rest is the child's; without app_node, app@<host> */
    assert_int_equal(load(f, "--name", "r@10.0.0.5", "run", "--", "sh", "-c", "--name x", NULL), 0);
    assert_non_null(f->args.child_argv);
    assert_string_equal(f->args.child_argv[0], "sh");
    assert_string_equal(f->args.child_argv[2], "--name x");
    assert_null(f->args.child_argv[3]);
    snprintf(want, sizeof(want), "app@10.0.0.5");
    assert_string_equal(f->cfg.app_node, want);
    assert_int_equal(load(f, "run", "--", NULL), -EINVAL);
    assert_non_null(strstr(f->err, "run --: missing the command to run"));
    assert_int_equal(load(f, "--", "ping", "self", NULL), 0); /* -- elsewhere: positional */
    assert_null(f->args.child_argv);
}

static void test_first_global_ipv4(void **state)
{
    char ip[64];
    int rv = rc_first_global_ipv4(ip, sizeof(ip));

    (void)state;
    assert_true(rv == 0 || rv == -ENOENT);
    if (rv == 0) {
        assert_true(strncmp(ip, "127.", 4) != 0);
        assert_true(strncmp(ip, "169.254.", 8) != 0);
        assert_string_not_equal(ip, "0.0.0.0");
    }
    assert_int_equal(rc_first_global_ipv4(ip, 4), rv == 0 ? -ENOSPC : -ENOENT);
}

/* ---- the command line ---- */

static void test_commands(void **state)
{
    struct fx *f = *state;

    assert_int_equal(load(f, "members", "--json", NULL), 0);
    assert_int_equal(f->args.command, RC_CMD_MEMBERS);
    assert_true(f->args.json);
    assert_int_equal(load(f, "--json", "members", "--interval", "2s", NULL), 0);
    assert_true(f->args.json);
    assert_int_equal(f->cfg.interval_ms, 2000);
    assert_int_equal(load(f, "ping", "b@10.0.0.6", "--ping-timeout", "2s", NULL), 0);
    assert_int_equal(f->args.command, RC_CMD_PING);
    assert_ptr_equal(f->args.target, f->argv[2]);
    assert_string_equal(f->args.target, "b@10.0.0.6");
    assert_int_equal(load(f, "check-config", NULL), 0);
    assert_int_equal(f->args.command, RC_CMD_CHECK_CONFIG);
    assert_int_equal(load(f, "run", NULL), 0);
    assert_int_equal(f->args.command, RC_CMD_RUN);
    assert_int_equal(load(f, "--", "ping", "--odd-but-a-name", NULL), 0);
    assert_string_equal(f->args.target, "--odd-but-a-name");

    assert_int_equal(load(f, "ping", NULL), -EINVAL);
    assert_string_equal(f->err, "ping: missing NODE (rollcall ping NAME@HOST)");
    assert_int_equal(load(f, "frobnicate", "x", NULL), -EINVAL);
    assert_string_equal(f->err, "unknown command 'frobnicate' (run, members, ping NODE, "
                                "check-config, monitor, ready, help)");
    assert_int_equal(load(f, "members", "extra", NULL), -EINVAL);
    assert_string_equal(f->err, "unexpected argument 'extra'");
    assert_int_equal(load(f, "run", "--json", NULL), -EINVAL);
    assert_string_equal(f->err, "option --json: only with the members command");
    assert_int_equal(load(f, "--bogus", "-x", "--interval", NULL), -EINVAL);
    assert_string_equal(f->err, "unknown option '--bogus' (see rollcall --help)\n"
                                "unknown option '-x' (see rollcall --help)\n"
                                "option --interval: missing value");
    assert_int_equal(load(f, "--help=yes", NULL), -EINVAL);
    assert_string_equal(f->err, "option --help takes no value");
    assert_int_equal(load(f, "--ping_timeout", "300ms", NULL), 0); /* '_' spelling tolerated */
    assert_int_equal(f->cfg.ping_timeout_ms, 300);
    assert_int_equal(load(f, "help", NULL), 0); /* `rollcall help` is --help */
    assert_true(f->args.help);
}

static void test_help_version_despite_bad_config(void **state)
{
    struct fx *f = *state;

    setenv("ROLLCALL_CONFIG", "/nonexistent.ini", 1);
    setenv("ROLLCALL_INTERVAL", "never", 1);
    assert_int_equal(load(f, "--help", NULL), 0);
    assert_true(f->args.help);
    assert_int_equal(load(f, "members", "-h", NULL), 0);
    assert_true(f->args.help);
    assert_int_equal(f->args.command, RC_CMD_MEMBERS);
    assert_int_equal(load(f, "-V", NULL), 0);
    assert_true(f->args.version);
    assert_int_equal(load(f, "--version", NULL), 0);
    assert_true(f->args.version);
    /* a bad option is still reported, with help set */
    assert_int_equal(load(f, "--help", "--bogus", NULL), -EINVAL);
    assert_true(f->args.help);
    /* -cFILE and --config=FILE */
    WRITE_INI(f, "[agent]\ninterval = 7s\n");
    clear_env();
    free_argv(f);
    {
        char opt[160];

        snprintf(opt, sizeof(opt), "-c%s", f->ini);
        assert_int_equal(load(f, opt, NULL), 0);
        assert_int_equal(f->cfg.interval_ms, 7000);
        snprintf(opt, sizeof(opt), "--config=%s", f->ini);
        assert_int_equal(load(f, opt, NULL), 0);
        assert_int_equal(f->cfg.interval_ms, 7000);
    }
}

/* ---- secrets ---- */

static void test_cookie_scrubbed_from_argv(void **state)
{
    struct fx *f = *state;
    char *out;

    assert_int_equal(load(f, "--cookie", "s3cret", "check-config", "--cookie=0ther", NULL), 0);
    assert_string_equal(f->argv[2], "******");
    assert_string_equal(f->argv[4], "--cookie=*****");
    assert_string_equal(f->cfg.cookie, "0ther"); /* the last one wins */
    out = print_cfg(&f->cfg);
    assert_line(out, "node.cookie = ***  # flag --cookie");
    assert_null(strstr(out, "0ther"));
    assert_null(strstr(out, "s3cret"));
    free(out);

    /* scrubbed even when the load fails */
    assert_int_equal(load(f, "--cookie", "s3cret", "--bogus", NULL), -EINVAL);
    assert_string_equal(f->argv[2], "******");
    assert_null(strstr(f->err, "s3cret"));

    /* a bad cookie is reported without its value */
    assert_int_equal(load(f, "--cookie", "bad\tcookie", NULL), -EINVAL);
    assert_string_equal(f->err, "option --cookie: cookie has a byte that is not printable ASCII");
}

/* A password in a --registry URL leaves ps and /proc/PID/cmdline too; the
 * configuration keeps the real URL. */
static void test_registry_password_scrubbed_from_argv(void **state)
{
    struct fx *f = *state;

    assert_int_equal(load(f, "--registry", "redis://u:pa55word@h:6379/0", "check-config", NULL), 0);
    assert_string_equal(f->argv[2], "redis://u:***@h:6379/0");
    assert_string_equal(f->cfg.registry, "redis://u:pa55word@h:6379/0");

    /* the masked form is longer than a short password: cut, never overrun */
    assert_int_equal(load(f, "--registry=redis://u:p@h/0", NULL), 0);
    assert_string_equal(f->argv[1], "--registry=redis://u:***@h");
    assert_string_equal(f->cfg.registry, "redis://u:p@h/0");

    /* a URL without secrets is left as it is */
    assert_int_equal(load(f, "--registry", "file:///var/lib/rollcall", NULL), 0);
    assert_string_equal(f->argv[2], "file:///var/lib/rollcall");

    /* scrubbed even when the load fails */
    assert_int_equal(load(f, "--registry", "redis://u:pa55word@h:6379/0", "--bogus", NULL),
                     -EINVAL);
    assert_null(strstr(f->argv[2], "pa55word"));
    assert_null(strstr(f->err, "pa55word"));
}

static void test_check_config_masks(void **state)
{
    struct fx *f = *state;
    char *out;
    size_t lines = 0;

    WRITE_INI(f, "[node]\ncookie = hunter2hunter2\n");
    assert_int_equal(load(f, "-c", f->ini, NULL), 0);
    out = print_cfg(&f->cfg);
    assert_null(strstr(out, "hunter2"));
    for (const char *p = out; *p != '\0'; p++)
        lines += *p == '\n';
    assert_int_equal(lines, RC_CFG_NKEYS); /* every key, one line each */
    assert_line(out, "node.cookie_file = (not set)  # default");
    assert_line(out, "log.log_file = (stderr)  # default");
    free(out);

    assert_int_equal(load(f, NULL), 0);
    out = print_cfg(&f->cfg);
    assert_line(out, "node.cookie = (not set: Erlang's lookup)  # default");
    free(out);

    /* a password in the registry URL never shows, wherever the backend is built */
    if (rc_registry_find("redis://h") != NULL) {
        assert_int_equal(load(f, "--registry", "redis://user:pa55word@h:6379/0", NULL), 0);
        out = print_cfg(&f->cfg);
        assert_null(strstr(out, "pa55word"));
        assert_non_null(strstr(out, "registry.registry = redis://user:"));
        free(out);
        assert_int_equal(load(f, "--registry", "redis://user:pa55word@h:x\x01", NULL), -EINVAL);
        assert_null(strstr(f->err, "pa55word"));
    }
}

/* ---- reload ---- */

static void test_reload(void **state)
{
    struct fx *f = *state;
    struct rc_config next;
    char err[1024], expect[512];

    WRITE_INI(f, "[agent]\ninterval = 2s\n[log]\nlog_level = info\n");
    assert_int_equal(load(f, "-c", f->ini, "--ping-timeout", "100ms", NULL), 0);
    assert_int_equal(f->cfg.interval_ms, 2000);

    WRITE_INI(f, "[agent]\ninterval = 5s\nping_timeout = 300ms\n[log]\nlog_level = debug\n");
    assert_int_equal(rc_config_reload(&f->cfg, &next, err, sizeof(err)), 0);
    assert_int_equal(next.interval_ms, 5000);
    assert_int_equal(next.ping_timeout_ms, 100); /* the flag still wins */
    assert_int_equal(next.log_level, RC_LOG_DEBUG);

    WRITE_INI(f, "[agent]\ninterval = 5 seconds\n");
    memset(&next, 0x5A, sizeof(next));
    assert_int_equal(rc_config_reload(&f->cfg, &next, err, sizeof(err)), -EINVAL);
    snprintf(expect, sizeof(expect),
             "%s:2: interval: invalid duration '5 seconds' (use a number and a unit: 500ms, 2s, "
             "1m, 1h)",
             f->ini);
    assert_string_equal(err, expect);
    assert_int_equal(((unsigned char *)&next)[0], 0x5A);
}

/* SIGHUP changes only the keys the table marks reloadable; the others keep
 * their running value and are named. */
static void test_reload_restart_keys(void **state)
{
    struct fx *f = *state;
    struct rc_config next;
    char err[1024];

    WRITE_INI(f, "[node]\nepmd_port = 4369\n[agent]\ninterval = 2s\n");
    assert_int_equal(load(f, "-c", f->ini, NULL), 0);
    WRITE_INI(f, "[node]\nepmd_port = 4370\ndist_port_min = 9000\ndist_port_max = 9100\n"
                 "[agent]\ninterval = 3s\n");
    assert_int_equal(rc_config_reload(&f->cfg, &next, err, sizeof(err)), 0);
    assert_int_equal(next.interval_ms, 3000);
    assert_int_equal(next.epmd_port, 4369);
    assert_int_equal(next.dist_port_min, 0);
    assert_string_equal(next.name, f->cfg.name);
    assert_string_equal(err, "epmd_port, dist_port_min, dist_port_max");

    WRITE_INI(f, "[node]\nepmd_port = 4369\n[agent]\ninterval = 4s\n");
    assert_int_equal(rc_config_reload(&f->cfg, &next, err, sizeof(err)), 0);
    assert_int_equal(next.interval_ms, 4000);
    assert_string_equal(err, "");
}

/* ---- durations (the base layer's one rule, as the configuration reads it) ---- */

static int rc_duration_parse(const char *s, uint64_t *ret_ms)
{
    return rc_duration_from_text(s, s != NULL ? strlen(s) : 0, ret_ms);
}

static void test_durations(void **state)
{
    uint64_t ms = 0;
    char out[32];

    (void)state;
    assert_int_equal(rc_duration_parse("500ms", &ms), 0);
    assert_int_equal(ms, 500);
    assert_int_equal(rc_duration_parse("2s", &ms), 0);
    assert_int_equal(ms, 2000);
    assert_int_equal(rc_duration_parse("1m", &ms), 0);
    assert_int_equal(ms, 60000);
    assert_int_equal(rc_duration_parse("1h", &ms), 0);
    assert_int_equal(ms, 3600000);
    assert_int_equal(rc_duration_parse("10", &ms), 0);
    assert_int_equal(ms, 10);
    assert_int_equal(rc_duration_parse("0", &ms), 0);
    assert_int_equal(ms, 0);
    const char *bad[] = {"",
                         "s",
                         "1.5s",
                         "5 s",
                         "-1s",
                         "+1s",
                         "1S",
                         "1d",
                         "2sec",
                         " 1s",
                         "18446744073709551616",
                         "5124095576030432h",
                         NULL};
    for (size_t i = 0; bad[i] != NULL; i++)
        assert_int_equal(rc_duration_parse(bad[i], &ms), -EINVAL);
    assert_int_equal(rc_duration_parse(NULL, &ms), -EINVAL);

    rc_duration_to_text(1500, out, sizeof(out));
    assert_string_equal(out, "1500ms");
    rc_duration_to_text(2000, out, sizeof(out));
    assert_string_equal(out, "2s");
    rc_duration_to_text(90000, out, sizeof(out));
    assert_string_equal(out, "90s");
    rc_duration_to_text(120000, out, sizeof(out));
    assert_string_equal(out, "2m");
    rc_duration_to_text(7200000, out, sizeof(out));
    assert_string_equal(out, "2h");
    rc_duration_to_text(0, out, sizeof(out));
    assert_string_equal(out, "0ms");
    /* round trip */
    for (uint64_t v = 1; v < 10000000; v = v * 3 + 7) {
        rc_duration_to_text(v, out, sizeof(out));
        assert_int_equal(rc_duration_parse(out, &ms), 0);
        assert_int_equal(ms, v);
    }
}

/* ---- the shipped files cover every key ---- */

static char *slurp(const char *path)
{
    FILE *fp = fopen(path, "r");
    char *buf = calloc(1, 1 << 20);

    assert_non_null(fp);
    assert_true(fread(buf, 1, (1 << 20) - 1, fp) > 0);
    fclose(fp);
    return buf;
}

static void test_shipped_ini_and_docs(void **state)
{
    struct fx *f = *state;
    char path[512], *out, *docs, *ini, *save = NULL;

    snprintf(path, sizeof(path), "%s/packaging/rollcall.ini", ROLLCALL_SOURCE_DIR);
    assert_int_equal(load(f, "-c", path, NULL), 0);
    out = print_cfg(&f->cfg);
    ini = slurp(path);
    snprintf(path, sizeof(path), "%s/docs/config.md", ROLLCALL_SOURCE_DIR);
    docs = slurp(path);
    for (char *line = strtok_r(out, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        char key[64], needle[96], env[96];
        const char *dot = strchr(line, '.'), *sp = strchr(line, ' ');
        size_t i;

        assert_non_null(dot);
        snprintf(key, sizeof(key), "%.*s", (int)(sp - dot - 1), dot + 1);
        snprintf(needle, sizeof(needle), "`%s`", key);
        if (strstr(docs, needle) == NULL)
            fail_msg("docs/config.md does not document %s", key);
        snprintf(env, sizeof(env), "ROLLCALL_");
        for (i = 0; key[i] != '\0'; i++)
            env[9 + i] = (char)(key[i] >= 'a' && key[i] <= 'z' ? key[i] - 32 : key[i]);
        env[9 + i] = '\0';
        if (strstr(docs, env) == NULL)
            fail_msg("docs/config.md does not name %s", env);
        snprintf(needle, sizeof(needle), "%s =", key);
        if (strstr(ini, needle) == NULL)
            fail_msg("packaging/rollcall.ini does not show %s", key);
    }
    free(out);
    free(ini);
    free(docs);
}

/* Cell c (0-based) of a markdown table row "| a | b |" into out, trimmed. */
static bool md_cell(const char *row, int c, char *out, size_t outlen)
{
    const char *p = row, *end;
    size_t n;

    for (int i = 0; i <= c; i++) {
        p = strchr(p, '|');
        if (p == NULL)
            return false;
        p++;
    }
    end = strchr(p, '|');
    if (end == NULL)
        return false;
    while (p < end && *p == ' ')
        p++;
    while (end > p && end[-1] == ' ')
        end--;
    n = (size_t)(end - p);
    if (n >= outlen)
        return false;
    memcpy(out, p, n);
    out[n] = '\0';
    return true;
}

/* docs/config.md's key table and its SIGHUP list against the key table:
 * every key documented once, in its section, with its variable, flag and
 * default; no key the program does not have; SIGHUP's keys exactly the
 * reloadable ones. */
static void test_docs_key_table(void **state)
{
    char path[512], *docs, *save = NULL, *line, *sighup, *rest;
    unsigned seen[RC_CFG_NKEYS] = {0};
    bool in_table = false, listed[RC_CFG_NKEYS] = {false};

    (void)state;
    snprintf(path, sizeof(path), "%s/docs/config.md", ROLLCALL_SOURCE_DIR);
    docs = slurp(path);
    assert_non_null(docs);
    sighup = strstr(docs, "\n## SIGHUP");
    assert_non_null(sighup);
    rest = strstr(sighup, "Everything else");
    assert_non_null(rest);
    /* the reloadable keys are the backticked words of the bullets before
     * "Everything else" */
    for (char *b = strstr(sighup, "\n- "); b != NULL && b < rest; b = strstr(b + 1, "\n- ")) {
        char *eol = strchr(b + 1, '\n');

        for (char *q = strchr(b, '`'); q != NULL && q < eol; q = strchr(q, '`')) {
            char *close = strchr(q + 1, '`');
            const struct rc_key *k;

            assert_non_null(close);
            k = rc_cfg_key_find(q + 1, (size_t)(close - q - 1), false);
            if (k == NULL)
                fail_msg("docs/config.md SIGHUP names '%.*s', not a key", (int)(close - q - 1),
                         q + 1);
            listed[rc_cfg_key_index(k)] = true;
            q = close + 1;
        }
    }
    for (size_t i = 0; i < RC_CFG_NKEYS; i++)
        if (listed[i] != rc_cfg_keys[i].reload)
            fail_msg("docs/config.md SIGHUP: %s is %s but the key table says %s",
                     rc_cfg_keys[i].name, listed[i] ? "listed" : "not listed",
                     rc_cfg_keys[i].reload ? "reloadable" : "restart only");

    for (line = strtok_r(docs, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        char sec[64], key[96], env[128], flag[96], def[128], want[160];
        const struct rc_key *k;
        size_t ki;

        if (strcmp(line, "## Keys") == 0) {
            in_table = true;
            continue;
        }
        if (!in_table || strncmp(line, "| ", 2) != 0) {
            if (in_table && strncmp(line, "## ", 3) == 0)
                break;
            continue;
        }
        assert_true(md_cell(line, 0, sec, sizeof(sec)));
        if (strcmp(sec, "section") == 0 || strncmp(sec, "---", 3) == 0)
            continue;
        assert_true(md_cell(line, 1, key, sizeof(key)));
        assert_true(md_cell(line, 2, env, sizeof(env)));
        assert_true(md_cell(line, 3, flag, sizeof(flag)));
        assert_true(md_cell(line, 5, def, sizeof(def)));
        assert_true(strlen(key) > 2 && key[0] == '`' && key[strlen(key) - 1] == '`');
        k = rc_cfg_key_find(key + 1, strlen(key) - 2, false);
        if (k == NULL)
            fail_msg("docs/config.md documents %s, which is not a key", key);
        ki = rc_cfg_key_index(k);
        seen[ki]++;
        assert_string_equal(sec, k->section);
        snprintf(want, sizeof(want), "`");
        rc_cfg_env_name(k, want + 1, sizeof(want) - 2);
        strcat(want, "`");
        if (strncmp(env, want, strlen(want)) != 0)
            fail_msg("docs/config.md: %s: environment %s, expected %s", k->name, env, want);
        snprintf(want, sizeof(want), "`");
        rc_cfg_flag_name(k, want + 1, sizeof(want) - 2);
        strcat(want, "`");
        assert_string_equal(flag, want);
        if (k->def[0] != '\0') {
            snprintf(want, sizeof(want), "`%s`", k->def);
            if (strcmp(def, want) != 0)
                fail_msg("docs/config.md: %s defaults to %s, the program to %s", k->name, def,
                         want);
        } else if (def[0] == '`' && strchr(def, '<') == NULL) {
            fail_msg("docs/config.md: %s defaults to %s, the program to nothing", k->name, def);
        }
    }
    for (size_t i = 0; i < RC_CFG_NKEYS; i++)
        if (seen[i] != 1)
            fail_msg("docs/config.md's key table has %s %u times", rc_cfg_keys[i].name, seen[i]);
    free(docs);
}

/* --help is the key table: every flag, its doc line, its default. */
static void test_usage_from_table(void **state)
{
    char *buf = NULL, fl[64];
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);

    (void)state;
    assert_non_null(out);
    rc_config_usage(out);
    fclose(out);
    for (size_t i = 0; i < RC_CFG_NKEYS; i++) {
        const struct rc_key *k = &rc_cfg_keys[i];

        rc_cfg_flag_name(k, fl, sizeof(fl));
        if (strstr(buf, fl) == NULL)
            fail_msg("--help does not show %s", fl);
        assert_non_null(strstr(buf, k->doc));
    }
    assert_non_null(strstr(buf, "--cookie COOKIE"));
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_precedence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_every_key_by_env_and_flag, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ini_every_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ini_key_outside_section_and_nul, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ini_syntax_forms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dist_ports, setup, teardown),
        cmocka_unit_test_setup_teardown(test_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_app_keys, setup, teardown),
        cmocka_unit_test(test_first_global_ipv4),
        cmocka_unit_test_setup_teardown(test_commands, setup, teardown),
        cmocka_unit_test_setup_teardown(test_help_version_despite_bad_config, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cookie_scrubbed_from_argv, setup, teardown),
        cmocka_unit_test_setup_teardown(test_registry_password_scrubbed_from_argv, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_config_masks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reload, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reload_restart_keys, setup, teardown),
        cmocka_unit_test(test_durations),
        cmocka_unit_test_setup_teardown(test_shipped_ini_and_docs, setup, teardown),
        cmocka_unit_test(test_docs_key_table),
        cmocka_unit_test(test_usage_from_table),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

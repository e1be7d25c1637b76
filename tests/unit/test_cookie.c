/*
 * test_cookie.c - the cookie lookup and the cookie file rules, checked
 * against what OTP's auth.erl does with the same file.
 *
 * Every test gets its own temp directory as HOME (and no XDG_CONFIG_HOME),
 * so the Erlang lookup and the creation of ~/.erlang.cookie never touch the
 * real home of whoever runs the tests.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "rollcall/config.h"

struct fx {
    char home[64];
    char file[128]; /* $HOME/c */
    char err[512];
    char out[RC_COOKIE_MAX + 1];
    size_t len;
    struct rc_config cfg;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));

    snprintf(f->home, sizeof(f->home), "/tmp/rollcall-test-cookie-XXXXXX");
    if (mkdtemp(f->home) == NULL)
        return -1;
    setenv("HOME", f->home, 1);
    unsetenv("XDG_CONFIG_HOME");
    snprintf(f->file, sizeof(f->file), "%s/c", f->home);
    rc_config_defaults(&f->cfg);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->home);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

static void put(const char *path, const void *data, size_t len, mode_t mode)
{
    int fd;

    unlink(path);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
}

#define PUT(path, lit, mode) put((path), (lit), sizeof(lit) - 1, (mode))

static int load_file(struct fx *f)
{
    snprintf(f->cfg.cookie_file, sizeof(f->cfg.cookie_file), "%s", f->file);
    memset(f->out, 0, sizeof(f->out));
    f->err[0] = '\0';
    f->len = 0;
    return rc_cookie_load(&f->cfg, f->out, sizeof(f->out), &f->len, f->err, sizeof(f->err));
}

static void test_permissions(void **state)
{
    struct fx *f = *state;
    char expect[512];

    PUT(f->file, "SECRETCOOKIE\n", 0644);
    assert_int_equal(load_file(f), -EPERM);
    snprintf(expect, sizeof(expect),
             "cookie file %1$s must be accessible by its owner only (mode 0644); fix: chmod 400 "
             "%1$s",
             f->file);
    assert_string_equal(f->err, expect);
    assert_null(strstr(f->err, "SECRETCOOKIE"));

    PUT(f->file, "SECRETCOOKIE\n", 0440);
    assert_int_equal(load_file(f), -EPERM);
    PUT(f->file, "SECRETCOOKIE\n", 0604);
    assert_int_equal(load_file(f), -EPERM);

    PUT(f->file, "SECRETCOOKIE\n", 0400);
    assert_int_equal(load_file(f), 0);
    assert_string_equal(f->out, "SECRETCOOKIE");
    assert_int_equal(f->len, 12);
    PUT(f->file, "SECRETCOOKIE\n", 0600);
    assert_int_equal(load_file(f), 0);
}

static void test_not_regular(void **state)
{
    struct fx *f = *state;
    char expect[256];

    assert_int_equal(mkdir(f->file, 0700), 0);
    assert_int_equal(load_file(f), -EPERM);
    snprintf(expect, sizeof(expect), "cookie file %s is not a regular file", f->file);
    assert_string_equal(f->err, expect);
    rmdir(f->file);

    assert_int_equal(mkfifo(f->file, 0600), 0); /* must not hang */
    assert_int_equal(load_file(f), -EPERM);
    unlink(f->file);

    assert_int_equal(load_file(f), -ENOENT); /* a named file must exist */
    snprintf(expect, sizeof(expect), "cannot open cookie file %s: No such file or directory",
             f->file);
    assert_string_equal(f->err, expect);
}

static void test_symlink(void **state)
{
    struct fx *f = *state;
    char target[160];

    snprintf(target, sizeof(target), "%s/real", f->home);
    PUT(target, "LINKEDCOOKIE", 0400);
    assert_int_equal(symlink(target, f->file), 0);
    assert_int_equal(load_file(f), 0); /* followed, as Erlang does */
    assert_string_equal(f->out, "LINKEDCOOKIE");
    /* the checks apply to the target: symlinks themselves are mode 0777 */
    assert_int_equal(chmod(target, 0644), 0);
    assert_int_equal(load_file(f), -EPERM);
    unlink(f->file);
    assert_int_equal(symlink(f->home, f->file), 0);
    assert_int_equal(load_file(f), -EPERM);
}

static void test_content_rules(void **state)
{
    struct fx *f = *state;
    static const struct {
        const char *data;
        size_t len;
        int rv;
        const char *cookie;
    } cases[] = {
        {"ABC", 3, 0, "ABC"},
        {"ABC\n", 4, 0, "ABC"},
        {"ABC\r\n", 5, 0, "ABC"},
        {"ABC\n\n  \r\n", 9, 0, "ABC"},
        {"ABC \n", 5, 0, "ABC "}, /* a space before the newline is cookie */
        {"A B C", 5, 0, "A B C"}, /* spaces are printable */
        {"~!@#$%^&*()", 11, 0, "~!@#$%^&*()"},
        /* '~' never occurs in a mkdtemp name: "Q~" in err would be the cookie */
        {"Q~C\001DEF", 7, -EINVAL, NULL}, /* a non-printable byte ends the cookie... */
        {"Q~C\nDEF", 7, -EINVAL, NULL},   /* ...and nothing but \n \r space may follow */
        {"Q~C\n\t", 5, -EINVAL, NULL},
        {"Q~C\0", 4, -EINVAL, NULL},
        {"Q~\xc3\xa9", 4, -EINVAL, NULL}, /* not ASCII */
        {"", 0, -EINVAL, NULL},
        {"\n", 1, -EINVAL, NULL},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        put(f->file, cases[i].data, cases[i].len, 0400);
        assert_int_equal(load_file(f), cases[i].rv);
        if (cases[i].cookie != NULL) {
            assert_string_equal(f->out, cases[i].cookie);
            assert_int_equal(f->len, strlen(cases[i].cookie));
        } else {
            assert_true(f->err[0] != '\0');
            assert_null(strstr(f->err, "Q~"));
        }
    }
    PUT(f->file, "ABC\001DEF", 0400);
    load_file(f);
    {
        char expect[256];

        snprintf(expect, sizeof(expect),
                 "cookie file %s: bad character 0x01 at byte 3 (a cookie is one line of "
                 "printable ASCII; Erlang refuses this file too)",
                 f->file);
        assert_string_equal(f->err, expect);
    }
}

static void test_sizes(void **state)
{
    struct fx *f = *state;
    char big[5000];

    memset(big, 'A', sizeof(big));
    put(f->file, big, 255, 0400);
    assert_int_equal(load_file(f), 0);
    assert_int_equal(f->len, 255);
    put(f->file, big, 256, 0400);
    assert_int_equal(load_file(f), -EINVAL);
    put(f->file, big, sizeof(big), 0400);
    assert_int_equal(load_file(f), -EFBIG);
    /* too small a caller buffer */
    PUT(f->file, "ABCDEFGH", 0400);
    snprintf(f->cfg.cookie_file, sizeof(f->cfg.cookie_file), "%s", f->file);
    assert_int_equal(rc_cookie_load(&f->cfg, f->out, 4, &f->len, f->err, sizeof(f->err)), -ENOSPC);
}

static void test_config_cookie_wins(void **state)
{
    struct fx *f = *state;

    PUT(f->file, "FROMFILE", 0400);
    snprintf(f->cfg.cookie, sizeof(f->cfg.cookie), "FROMCONFIG");
    assert_int_equal(load_file(f), 0);
    assert_string_equal(f->out, "FROMCONFIG");
    assert_int_equal(f->len, 10);
}

static void test_erlang_lookup_and_creation(void **state)
{
    struct fx *f = *state;
    char path[160], again[RC_COOKIE_MAX + 1];
    struct stat st;
    size_t len;

    /* nothing anywhere: ~/.erlang.cookie is created, 20 A-Z, 0400 */
    umask(0);
    assert_int_equal(
        rc_cookie_load(&f->cfg, f->out, sizeof(f->out), &f->len, f->err, sizeof(f->err)), 0);
    umask(022);
    assert_int_equal(f->len, 20);
    for (size_t i = 0; i < 20; i++)
        assert_true(f->out[i] >= 'A' && f->out[i] <= 'Z');
    snprintf(path, sizeof(path), "%s/.erlang.cookie", f->home);
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0400);
    assert_int_equal(st.st_size, 20);

    /* the next start reads the same one */
    assert_int_equal(rc_cookie_load(&f->cfg, again, sizeof(again), &len, f->err, sizeof(f->err)),
                     0);
    assert_int_equal(len, 20);
    assert_memory_equal(again, f->out, 20);

    /* XDG is used when ~/.erlang.cookie is missing, and nothing is created */
    assert_int_equal(unlink(path), 0);
    snprintf(again, sizeof(again), "%s/xdg", f->home);
    setenv("XDG_CONFIG_HOME", again, 1);
    assert_int_equal(mkdir(again, 0700), 0);
    snprintf(again, sizeof(again), "%s/xdg/erlang", f->home);
    assert_int_equal(mkdir(again, 0700), 0);
    snprintf(again, sizeof(again), "%s/xdg/erlang/.erlang.cookie", f->home);
    PUT(again, "XDGCOOKIE\n", 0400);
    assert_int_equal(
        rc_cookie_load(&f->cfg, f->out, sizeof(f->out), &f->len, f->err, sizeof(f->err)), 0);
    assert_string_equal(f->out, "XDGCOOKIE");
    assert_int_equal(access(path, F_OK), -1);

    /* ...and ~/.erlang.cookie comes first when both exist */
    PUT(path, "HOMECOOKIE", 0400);
    assert_int_equal(
        rc_cookie_load(&f->cfg, f->out, sizeof(f->out), &f->len, f->err, sizeof(f->err)), 0);
    assert_string_equal(f->out, "HOMECOOKIE");

    /* a bad ~/.erlang.cookie is an error, not a reason to look further */
    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(
        rc_cookie_load(&f->cfg, f->out, sizeof(f->out), &f->len, f->err, sizeof(f->err)), -EPERM);
    assert_non_null(strstr(f->err, "chmod 400"));

    /* without XDG_CONFIG_HOME: ~/.config/erlang/.erlang.cookie */
    unlink(path);
    unsetenv("XDG_CONFIG_HOME");
    snprintf(again, sizeof(again), "%s/.config", f->home);
    assert_int_equal(mkdir(again, 0700), 0);
    snprintf(again, sizeof(again), "%s/.config/erlang", f->home);
    assert_int_equal(mkdir(again, 0700), 0);
    snprintf(again, sizeof(again), "%s/.config/erlang/.erlang.cookie", f->home);
    PUT(again, "DOTCONFIG", 0400);
    assert_int_equal(
        rc_cookie_load(&f->cfg, f->out, sizeof(f->out), &f->len, f->err, sizeof(f->err)), 0);
    assert_string_equal(f->out, "DOTCONFIG");
}

static void test_no_home(void **state)
{
    struct fx *f = *state;

    unsetenv("HOME");
    assert_int_equal(
        rc_cookie_load(&f->cfg, f->out, sizeof(f->out), &f->len, f->err, sizeof(f->err)), -ENOENT);
    assert_non_null(strstr(f->err, "HOME is not set"));
}

static void test_created_cookies_differ(void **state)
{
    struct fx *f = *state;
    char first[32], path[160];
    size_t len;

    snprintf(path, sizeof(path), "%s/.erlang.cookie", f->home);
    assert_int_equal(rc_cookie_load(&f->cfg, first, sizeof(first), &len, f->err, sizeof(f->err)),
                     0);
    unlink(path);
    assert_int_equal(
        rc_cookie_load(&f->cfg, f->out, sizeof(f->out), &f->len, f->err, sizeof(f->err)), 0);
    assert_memory_not_equal(first, f->out, 20);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_permissions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_regular, setup, teardown),
        cmocka_unit_test_setup_teardown(test_symlink, setup, teardown),
        cmocka_unit_test_setup_teardown(test_content_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sizes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_cookie_wins, setup, teardown),
        cmocka_unit_test_setup_teardown(test_erlang_lookup_and_creation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_home, setup, teardown),
        cmocka_unit_test_setup_teardown(test_created_cookies_differ, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

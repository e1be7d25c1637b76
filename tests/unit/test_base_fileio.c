/*
 * test_base_fileio.c - base/fileio.c: the loops finish on pipes (short
 * reads and writes), the bounded read tells exactly-max from more, and
 * exclusive creation cleans up after itself. Also base/clock.c.
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
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "rollcall/clock.h"
#include "rollcall/fileio.h"

#define BIG (1 << 20) /* more than a pipe holds: forces short writes */

static void test_pipe_loops(void **state)
{
    int fds[2];
    char *out = malloc(BIG), *in = malloc(BIG + 1);
    pid_t pid;
    int status;

    assert_non_null(out);
    assert_non_null(in);
    for (size_t i = 0; i < BIG; i++)
        out[i] = (char)(i * 7);
    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        _exit(rc_write_full(fds[1], out, BIG) == 0 ? 0 : 1);
    }
    close(fds[1]);
    assert_int_equal(rc_read_full(fds[0], in, BIG + 1), BIG); /* stops at end of file */
    assert_memory_equal(in, out, BIG);
    assert_int_equal(rc_read_full(fds[0], in, 10), 0);
    close(fds[0]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    free(out);
    free(in);
}

static void test_errors(void **state)
{
    char buf[4];

    assert_int_equal(rc_read_full(-1, buf, sizeof(buf)), -EBADF);
    assert_int_equal(rc_write_full(-1, "x", 1), -EBADF);
    assert_int_equal(rc_write_full(-1, "x", 0), 0); /* nothing to write */
}

static void test_bounded(void **state)
{
    char dir[] = "/tmp/rc-test-fileio-XXXXXX", path[128], buf[9];

    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/f", dir);
    assert_int_equal(rc_file_create(path, 0600, "12345678", 8), 0);
    assert_int_equal(rc_file_create(path, 0600, "x", 1), -EEXIST);
    assert_int_equal(rc_file_read(path, 0, buf, 8), 8); /* exactly max: fine */
    assert_memory_equal(buf, "12345678", 8);
    assert_int_equal(rc_file_read(path, 0, buf, 7), -EFBIG); /* one more than max */
    assert_int_equal(rc_file_read(path, 0, buf, 0), -EFBIG);
    {
        struct stat st;

        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0600);
    }
    assert_int_equal(unlink(path), 0);
    assert_int_equal(rc_file_read(path, 0, buf, 8), -ENOENT);
    /* O_NOFOLLOW on request */
    assert_int_equal(symlink("/etc/hostname", path), 0);
    assert_int_equal(rc_file_read(path, O_NOFOLLOW, buf, 8), -ELOOP);
    assert_int_equal(rc_file_create(path, 0600, "x", 1), -EEXIST);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(rmdir(dir), 0);
    assert_int_equal(rc_file_create("/nonexistent-dir/f", 0600, "x", 1), -ENOENT);
}

static void test_clock(void **state)
{
    uint64_t m0 = rc_now_mono_ms(), u0 = rc_now_mono_us();
    int64_t w = rc_now_wall_ms();

    usleep(20000);
    assert_true(rc_now_mono_ms() >= m0 + 19);
    assert_true(rc_now_mono_us() >= u0 + 19000);
    assert_true(w > 1700000000000LL); /* after 2023 */
    assert_true(rc_now_wall_ms() >= w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pipe_loops),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_bounded),
        cmocka_unit_test(test_clock),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * fileio.c - read/write loops and bounded file reads (fileio.h).
 */
#include "rollcall/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

ssize_t rc_read_full(int fd, void *buf, size_t len)
{
    size_t got = 0;

    while (got < len) {
        ssize_t n = read(fd, (char *)buf + got, len - got);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

int rc_write_full(int fd, const void *buf, size_t len)
{
    const char *p = buf;

    while (len > 0) {
        ssize_t n = write(fd, p, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return -EIO;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

ssize_t rc_read_bounded(int fd, void *buf, size_t max)
{
    ssize_t n = rc_read_full(fd, buf, max + 1);

    if (n < 0)
        return n;
    return (size_t)n > max ? -EFBIG : n;
}

ssize_t rc_file_read(const char *path, int extra_flags, void *buf, size_t max)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | extra_flags);
    ssize_t n;

    if (fd < 0)
        return -errno;
    n = rc_read_bounded(fd, buf, max);
    close(fd);
    return n;
}

int rc_file_create(const char *path, mode_t mode, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW, mode);
    int rv;

    if (fd < 0)
        return -errno;
    rv = fchmod(fd, mode) < 0 ? -errno : 0;
    if (rv == 0)
        rv = rc_write_full(fd, data, len);
    if (rv == 0 && fsync(fd) < 0)
        rv = -errno;
    close(fd);
    if (rv < 0)
        unlink(path);
    return rv;
}

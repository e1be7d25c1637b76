/*
 * fileio.h - reads and writes that finish (base/fileio.c): the EINTR and
 * short-count loops written once, and bounded whole-file reads so that no
 * file someone else wrote can make rollcall allocate or read without end.
 * 0 / bytes, or -errno; nothing logs.
 */
#ifndef ROLLCALL_FILEIO_H
#define ROLLCALL_FILEIO_H

#include <stddef.h>
#include <sys/types.h>

/* Reads until len bytes or end of file, retrying EINTR. Returns the bytes
 * read (< len only at end of file), or -errno (EAGAIN on a non-blocking fd
 * with nothing read yet). */
ssize_t rc_read_full(int fd, void *buf, size_t len);

/* Writes all len bytes, retrying EINTR and short writes. 0 or -errno. */
int rc_write_full(int fd, const void *buf, size_t len);

/* Reads fd to its end into buf, which holds max + 1 bytes (the extra byte
 * tells a file of exactly max bytes from a longer one, e.g. one that grew
 * after fstat). Returns the length (<= max), -EFBIG if there is more, or
 * -errno. */
ssize_t rc_read_bounded(int fd, void *buf, size_t max);

/* Opens path (O_RDONLY | O_CLOEXEC | O_NOCTTY | extra_flags, e.g.
 * O_NOFOLLOW) and rc_read_bounded's it. -errno of open, read, or -EFBIG. */
ssize_t rc_file_read(const char *path, int extra_flags, void *buf, size_t max);

/* Creates path exclusively (O_EXCL | O_NOFOLLOW, mode, fchmod'ed to mode
 * whatever the umask), writes data, fsyncs. On any failure after creating
 * it, the file is removed. -EEXIST if it exists, else -errno. */
int rc_file_create(const char *path, mode_t mode, const void *data, size_t len);

#endif

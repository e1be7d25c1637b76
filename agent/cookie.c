/*
 * cookie.c - finds the distribution cookie the way Erlang does (OTP's
 * lib/kernel/src/auth.erl; docs/protocol.md section 7), so that a rollcall
 * started beside BEAM nodes by the same user shares their cookie without
 * any configuration.
 *
 * Order: the `cookie` key (ROLLCALL_COOKIE), else `cookie_file`, else
 * $HOME/.erlang.cookie, else $XDG_CONFIG_HOME/erlang/.erlang.cookie, else a
 * new $HOME/.erlang.cookie with 20 random A-Z, mode 0400.
 *
 * A cookie file is read the way OTP's auth.erl reads it, byte for byte: the
 * same file must give the same cookie here and in `erl`, or the two refuse
 * each other with nothing but a closed socket to show for it. That is also
 * why a file Erlang refuses (group/other bits, not a regular file, stray
 * bytes after the cookie) is refused here, with the fix in the message.
 * Symlinks are followed, as Erlang follows them; the checks apply to what
 * was opened (fstat on the descriptor, so there is no window between check
 * and read).
 *
 * The cookie is a root password for every BEAM node that shares it: it never
 * appears in an error message, and buffers that held it are wiped.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rollcall/err.h"
#include "rollcall/config.h"
#include "rollcall/log.h"

#define COOKIE_FILE_MAX 4096 /* a cookie file is one short line */
#define COOKIE_NEW_LEN 20    /* what Erlang creates */

static bool printable(unsigned char c)
{
    return c >= 0x20 && c <= 0x7E;
}

static int give(const char *cookie, size_t len, char *out, size_t outlen, size_t *ret_len,
                char *err, size_t errlen)
{
    if (len + 1 > outlen) {
        rc_seterr(err, errlen, "cookie buffer too small");
        return -ENOSPC;
    }
    memcpy(out, cookie, len);
    out[len] = '\0';
    if (ret_len != NULL)
        *ret_len = len;
    return 0;
}

/* auth.erl's check_cookie: printable bytes are the cookie; after the first
 * other byte only '\n', '\r' and ' ' may follow. */
static int parse_cookie(const char *path, const unsigned char *buf, size_t n, size_t *ret_len,
                        char *err, size_t errlen)
{
    size_t len = 0;

    while (len < n && printable(buf[len]))
        len++;
    for (size_t i = len; i < n; i++) {
        if (buf[i] != '\n' && buf[i] != '\r' && buf[i] != ' ') {
            rc_seterr(err, errlen,
                      "cookie file %s: bad character 0x%02x at byte %zu (a cookie is one line of "
                      "printable ASCII; Erlang refuses this file too)",
                      path, buf[i], i);
            return -EINVAL;
        }
    }
    if (len == 0) {
        rc_seterr(err, errlen, "cookie file %s is empty", path);
        return -EINVAL;
    }
    if (len > RC_COOKIE_MAX) {
        rc_seterr(err, errlen, "cookie file %s: the cookie is longer than %d bytes", path,
                  RC_COOKIE_MAX);
        return -EINVAL;
    }
    *ret_len = len;
    return 0;
}

/* Reads the cookie file at path. A missing file is -ENOENT, with err set
 * only when `must_exist`. */
static int read_cookie_file(const char *path, bool must_exist, char *out, size_t outlen,
                            size_t *ret_len, char *err, size_t errlen)
{
    unsigned char buf[COOKIE_FILE_MAX + 1];
    size_t n = 0, len;
    struct stat st;
    int fd, rv;

    /* O_NONBLOCK: a FIFO put in its place must not hang us before fstat */
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        rv = -errno;
        if (rv != -ENOENT || must_exist)
            rc_seterr(err, errlen, "cannot open cookie file %s: %s", path, strerror(-rv));
        return rv;
    }
    if (fstat(fd, &st) < 0) {
        rv = -errno;
        rc_seterr(err, errlen, "cannot stat cookie file %s: %s", path, strerror(-rv));
        goto out_close;
    }
    if (S_ISREG(st.st_mode) == 0) {
        rc_seterr(err, errlen, "cookie file %s is not a regular file", path);
        rv = -EPERM;
        goto out_close;
    }
    if ((st.st_mode & 077) != 0) {
        rc_seterr(err, errlen,
                  "cookie file %s must be accessible by its owner only (mode %04o); fix: chmod 400 "
                  "%s",
                  path, (unsigned)(st.st_mode & 07777), path);
        rv = -EPERM;
        goto out_close;
    }
    if (st.st_size > COOKIE_FILE_MAX) {
        rc_seterr(err, errlen, "cookie file %s is too large (%lld bytes, at most %d)", path,
                  (long long)st.st_size, COOKIE_FILE_MAX);
        rv = -EFBIG;
        goto out_close;
    }
    while (n < sizeof(buf)) {
        ssize_t r = read(fd, buf + n, sizeof(buf) - n);

        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rv = -errno;
            rc_seterr(err, errlen, "cannot read cookie file %s: %s", path, strerror(-rv));
            goto out_wipe;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    if (n > COOKIE_FILE_MAX) { /* grew after fstat */
        rc_seterr(err, errlen, "cookie file %s is too large (at most %d bytes)", path,
                  COOKIE_FILE_MAX);
        rv = -EFBIG;
        goto out_wipe;
    }
    rv = parse_cookie(path, buf, n, &len, err, errlen);
    if (rv == 0)
        rv = give((const char *)buf, len, out, outlen, ret_len, err, errlen);
out_wipe:
    explicit_bzero(buf, sizeof(buf));
out_close:
    close(fd);
    return rv;
}

/* 20 uniformly random A-Z (rejection sampling: no modulo bias). */
static int random_cookie(char out[COOKIE_NEW_LEN])
{
    size_t have = 0;

    while (have < COOKIE_NEW_LEN) {
        unsigned char rnd[32];
        ssize_t r = getrandom(rnd, sizeof(rnd), 0);

        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -errno;
        for (ssize_t i = 0; i < r && have < COOKIE_NEW_LEN; i++)
            if (rnd[i] < 26 * 9)
                out[have++] = (char)('A' + rnd[i] % 26);
        explicit_bzero(rnd, sizeof(rnd));
    }
    return 0;
}

/* Creates path exclusively with a new cookie, mode 0400, as Erlang does.
 * If someone else created it meanwhile (another agent starting at the same
 * moment), that file wins and is read instead. */
static int create_cookie_file(const char *path, char *out, size_t outlen, size_t *ret_len,
                              char *err, size_t errlen)
{
    char cookie[COOKIE_NEW_LEN];
    size_t off = 0;
    int fd, rv;

    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW, 0400);
    if (fd < 0) {
        rv = -errno;
        if (rv == -EEXIST)
            return read_cookie_file(path, true, out, outlen, ret_len, err, errlen);
        rc_seterr(err, errlen, "cannot create cookie file %s: %s", path, strerror(-rv));
        return rv;
    }
    rv = random_cookie(cookie);
    if (rv < 0) {
        rc_seterr(err, errlen, "cannot create cookie file %s: no randomness: %s", path,
                  strerror(-rv));
        goto out_unlink;
    }
    if (fchmod(fd, 0400) < 0) { /* whatever the umask */
        rv = -errno;
        rc_seterr(err, errlen, "cannot chmod cookie file %s: %s", path, strerror(-rv));
        goto out_unlink;
    }
    while (off < sizeof(cookie)) {
        ssize_t w = write(fd, cookie + off, sizeof(cookie) - off);

        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            rv = -errno;
            rc_seterr(err, errlen, "cannot write cookie file %s: %s", path, strerror(-rv));
            goto out_unlink;
        }
        off += (size_t)w;
    }
    if (fsync(fd) < 0) {
        rv = -errno;
        rc_seterr(err, errlen, "cannot write cookie file %s: %s", path, strerror(-rv));
        goto out_unlink;
    }
    close(fd);
    rv = give(cookie, sizeof(cookie), out, outlen, ret_len, err, errlen);
    explicit_bzero(cookie, sizeof(cookie));
    /* A new cookie means no peer shares it yet: say where it is. */
    if (rv == 0)
        rc_log_warn("created the cookie file %s (20 random letters, mode 0400): every node of "
                    "the cluster needs this same cookie (or set ROLLCALL_COOKIE / cookie_file)",
                    path);
    return rv;

out_unlink:
    close(fd);
    unlink(path);
    explicit_bzero(cookie, sizeof(cookie));
    return rv;
}

static int join(char *out, size_t outlen, const char *dir, const char *rest, char *err,
                size_t errlen)
{
    int n = snprintf(out, outlen, "%s/%s", dir, rest);

    if (n < 0 || (size_t)n >= outlen) {
        rc_seterr(err, errlen, "cookie path under %s is too long", dir);
        return -ENAMETOOLONG;
    }
    return 0;
}

int rc_cookie_load(const struct rc_config *cfg, char *out, size_t outlen, size_t *ret_len,
                   char *err, size_t errlen)
{
    char home_cookie[PATH_MAX], xdg_cookie[PATH_MAX];
    const char *home, *xdg;
    int rv;

    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (cfg->cookie[0] != '\0')
        return give(cfg->cookie, strlen(cfg->cookie), out, outlen, ret_len, err, errlen);
    if (cfg->cookie_file[0] != '\0')
        return read_cookie_file(cfg->cookie_file, true, out, outlen, ret_len, err, errlen);

    home = getenv("HOME");
    if (home == NULL || home[0] == '\0') {
        rc_seterr(err, errlen,
                  "no cookie: HOME is not set, so there is no ~/.erlang.cookie; set cookie_file "
                  "(or ROLLCALL_COOKIE_FILE)");
        return -ENOENT;
    }
    rv = join(home_cookie, sizeof(home_cookie), home, ".erlang.cookie", err, errlen);
    if (rv < 0)
        return rv;
    rv = read_cookie_file(home_cookie, false, out, outlen, ret_len, err, errlen);
    if (rv != -ENOENT)
        return rv;

    xdg = getenv("XDG_CONFIG_HOME");
    if (xdg != NULL && xdg[0] != '\0')
        rv = join(xdg_cookie, sizeof(xdg_cookie), xdg, "erlang/.erlang.cookie", err, errlen);
    else
        rv = join(xdg_cookie, sizeof(xdg_cookie), home, ".config/erlang/.erlang.cookie", err,
                  errlen);
    if (rv < 0)
        return rv;
    rv = read_cookie_file(xdg_cookie, false, out, outlen, ret_len, err, errlen);
    if (rv != -ENOENT)
        return rv;

    return create_cookie_file(home_cookie, out, outlen, ret_len, err, errlen);
}

/*
 * fs.c - the file registry backend: file:///abs/dir, one file per node named
 * by the node name, in the entry text format (entry.c).
 *
 * Compatible with the classic Elixir setup: its nodes write a file named by
 * their node name holding a timestamp, and they see our files the same way.
 * Anything readable under a valid node name is an entry; its age comes from
 * the file's mtime, judged against the file system's own clock (the mtime of
 * a file we just wrote), so a shared volume served by another machine with a
 * skewed clock still ages entries correctly.
 *
 * Shape:
 * - The directory is opened afresh by every call (never a cached fd): if it is
 *   removed or remounted, list() fails loudly instead of listing a dead inode
 *   as empty.
 * - publish writes a ".rc-tmp-<pid>-<random>" dotfile (O_EXCL), fsyncs it,
 *   renames it over the node's file, and keeps that inode's mtime as the
 *   clock reference. No reader ever sees half a file. The directory itself is
 *   not fsynced: a rename lost in a crash only leaves the previous heartbeat,
 *   which the next publish replaces.
 * - list opens every candidate with O_NOFOLLOW|O_NONBLOCK, accepts only
 *   regular files up to RC_ENTRY_TEXT_MAX, and turns everything it cannot use
 *   into a reject (never into an error, never into a silent skip), except
 *   dotfiles, which are ours (temp files) or someone's private business.
 * - It never writes a file of another node: publish writes only self->name,
 *   remove only unlinks.
 * - A heartbeat (publish of an entry whose content this ctx wrote last time)
 *   only sets the file's mtime (utimensat, the fs's now): the directory is
 *   untouched, so its mtime moves only when an entry is created, replaced
 *   with new content or removed. That mtime is the change signal
 *   (`changed`: one stat of the directory per interval). When this ctx has
 *   an entry of its own, the fs clock is read by touching that entry rather
 *   than by a probe file, which would move the directory's mtime.
 * - A ctx serves one thread at a time (the registry worker, or a one-shot
 *   command).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rollcall/err.h"
#include "rollcall/clock.h"
#include "rollcall/fileio.h"
#include "rollcall/registry.h"
#include "written.h"

#ifndef O_PATH
#define O_PATH O_RDONLY
#endif

#define FS_TMP_PREFIX ".rc-tmp-"
#define FS_CLOCK_REUSE_MS 5000    /* how long a known fs mtime stands in for the fs clock */
#define FS_TMP_STALE_MS 60000     /* temp files of crashed writers older than this are removed */
#define FS_CLEANUP_EVERY_MS 60000 /* how often publish looks for them */
#define FS_DIR_MODE 0755
#define FS_FILE_MODE 0644

struct fs_ctx {
    char *dir; /* absolute path, no trailing '/' (except "/") */
    char *buf; /* RC_ENTRY_TEXT_MAX + 1 bytes, list()'s read buffer */
    /* The fs clock: an mtime the fs gave a file of ours, and when (monotonic). */
    bool have_clock;
    int64_t clock_fs_ms;
    uint64_t clock_mono_ms;
    bool cleaned;
    uint64_t cleaned_mono_ms;
    /* Our entries as this ctx last wrote them (text after the time line). */
    struct rc_written written;
    char self_name[RC_NAME_MAX + 1]; /* the last one written: the fs clock's probe */
};

static int64_t mtime_ms(const struct stat *st)
{
    return (int64_t)st->st_mtim.tv_sec * 1000 + st->st_mtim.tv_nsec / 1000000;
}

/*
 * file:///abs/dir, file://localhost/abs/dir or file:/abs/dir, percent-encoded
 * bytes decoded. Writes the directory (trailing '/' dropped) into out.
 */
static int parse_url(const char *url, char *out, size_t outlen, char *err, size_t errlen)
{
    const char *p;
    size_t o = 0;
    size_t plen;
    ssize_t n;

    if (strncasecmp(url, "file:", 5) != 0) {
        rc_seterr(err, errlen, "not a file: URL");
        return -EINVAL;
    }
    p = url + 5;
    if (p[0] == '/' && p[1] == '/') {
        const char *host = p + 2;
        size_t hlen = strcspn(host, "/?#");

        if (hlen != 0 && !(hlen == 9 && strncasecmp(host, "localhost", 9) == 0)) {
            rc_seterr(err, errlen,
                      "file registry URL names a host (%.*s); only local directories work: "
                      "file:///ABSOLUTE/DIR",
                      (int)(hlen > 64 ? 64 : hlen), host);
            return -EINVAL;
        }
        p = host + hlen;
    }
    if (p[0] != '/') {
        rc_seterr(err, errlen,
                  "file registry URL needs an absolute directory: file:///ABSOLUTE/DIR");
        return -EINVAL;
    }
    plen = strcspn(p, "?#");
    if (p[plen] != '\0') {
        rc_seterr(err, errlen, "file registry URL takes no query or fragment ('%c')", p[plen]);
        return -EINVAL;
    }
    n = rc_url_decode(p, plen, false, out, outlen);
    if (n == -ENAMETOOLONG) {
        rc_seterr(err, errlen, "file registry path is too long");
        return -ENAMETOOLONG;
    }
    if (n < 0 || memchr(out, '\0', (size_t)n) != NULL) {
        rc_seterr(err, errlen, "file registry URL has a bad %%-escape");
        return -EINVAL;
    }
    o = (size_t)n;
    while (o > 1 && out[o - 1] == '/')
        o--;
    out[o] = '\0';
    return 0;
}

/* mkdir -p with FS_DIR_MODE (the umask applies). */
static int mkdir_p(const char *dir)
{
    char path[PATH_MAX];
    size_t len = strlen(dir);

    if (len >= sizeof(path))
        return -ENAMETOOLONG;
    memcpy(path, dir, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (path[i] != '/' && path[i] != '\0')
            continue;
        path[i] = '\0';
        if (mkdir(path, FS_DIR_MODE) < 0 && errno != EEXIST)
            return -errno;
        path[i] = i < len ? '/' : '\0';
    }
    return 0;
}

/* Opens the directory afresh; create: make it first if it is missing. */
static int dir_open(struct fs_ctx *ctx, int flags, bool create, char *err, size_t errlen)
{
    int fd = open(ctx->dir, flags | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0 && errno == ENOENT && create) {
        int rv = mkdir_p(ctx->dir);

        if (rv < 0) {
            rc_seterr(err, errlen, "cannot create registry directory %s: %s", ctx->dir,
                      strerror(-rv));
            return rv;
        }
        fd = open(ctx->dir, flags | O_DIRECTORY | O_CLOEXEC);
    }
    if (fd < 0) {
        int e = errno;

        rc_seterr(err, errlen, "cannot open registry directory %s: %s", ctx->dir, strerror(e));
        return -e;
    }
    return fd;
}

/* Creates a new ".rc-tmp-<pid>-<random>" in dfd; its name goes to name. */
static int tmp_create(int dfd, char name[64])
{
    for (int tries = 0; tries < 8; tries++) {
        uint64_t r;
        int fd;

        if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
            r = rc_now_mono_us() * 0x9E3779B97F4A7C15ULL + (uint64_t)tries;
        snprintf(name, 64, FS_TMP_PREFIX "%ld-%016llx", (long)getpid(), (unsigned long long)r);
        fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, FS_FILE_MODE);
        if (fd >= 0 || errno != EEXIST)
            return fd >= 0 ? fd : -errno;
    }
    return -EEXIST;
}

static void clock_remember(struct fs_ctx *ctx, const struct stat *st)
{
    ctx->have_clock = true;
    ctx->clock_fs_ms = mtime_ms(st);
    ctx->clock_mono_ms = rc_now_mono_ms();
}

/*
 * The file system's now: the last mtime it gave us, advanced by local
 * monotonic time, if that is recent; else the mtime of a probe file created
 * (and removed) now; else, on a read-only directory, the local wall clock.
 */
static int64_t fs_clock(struct fs_ctx *ctx, int dfd)
{
    uint64_t mono = rc_now_mono_ms();
    char name[64];
    struct stat st;
    int fd, rv;

    if (ctx->have_clock && mono - ctx->clock_mono_ms <= FS_CLOCK_REUSE_MS)
        return ctx->clock_fs_ms + (int64_t)(mono - ctx->clock_mono_ms);
    if (ctx->self_name[0] != '\0' &&
        utimensat(dfd, ctx->self_name, NULL, AT_SYMLINK_NOFOLLOW) == 0 &&
        fstatat(dfd, ctx->self_name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        clock_remember(ctx, &st);
        return ctx->clock_fs_ms;
    }
    fd = tmp_create(dfd, name);
    if (fd < 0)
        return rc_now_wall_ms();
    rv = fstat(fd, &st);
    close(fd);
    unlinkat(dfd, name, 0);
    if (rv < 0)
        return rc_now_wall_ms();
    clock_remember(ctx, &st);
    return ctx->clock_fs_ms;
}

/* Removes temp files that crashed writers left behind. Best effort. */
static void cleanup_tmp(struct fs_ctx *ctx)
{
    uint64_t mono = rc_now_mono_ms();
    struct dirent *de;
    DIR *d;
    int fd;

    if (ctx->cleaned && mono - ctx->cleaned_mono_ms < FS_CLEANUP_EVERY_MS)
        return;
    ctx->cleaned = true;
    ctx->cleaned_mono_ms = mono;
    fd = open(ctx->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return;
    d = fdopendir(fd);
    if (d == NULL) {
        close(fd);
        return;
    }
    while ((de = readdir(d)) != NULL) {
        struct stat st;

        if (strncmp(de->d_name, FS_TMP_PREFIX, strlen(FS_TMP_PREFIX)) != 0)
            continue;
        if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) != 0 &&
            ctx->clock_fs_ms - mtime_ms(&st) > FS_TMP_STALE_MS)
            unlinkat(fd, de->d_name, 0);
    }
    closedir(d);
}

static void fs_close(void *vctx)
{
    struct fs_ctx *ctx = vctx;

    if (ctx == NULL)
        return;
    free(ctx->buf);
    free(ctx->dir);
    free(ctx);
}

static int fs_open(const char *url, void **ret_ctx, char *err, size_t errlen)
{
    char path[PATH_MAX - NAME_MAX - 2];
    struct fs_ctx *ctx;
    int rv, fd;

    rv = parse_url(url, path, sizeof(path), err, errlen);
    if (rv < 0)
        return rv;
    ctx = calloc(1, sizeof(*ctx));
    if (ctx == NULL)
        goto out_nomem;
    ctx->dir = strdup(path);
    ctx->buf = malloc(RC_ENTRY_TEXT_MAX + 1);
    if (ctx->dir == NULL || ctx->buf == NULL)
        goto out_nomem;
    fd = dir_open(ctx, O_PATH, true, err, errlen);
    if (fd < 0) {
        fs_close(ctx);
        return fd;
    }
    close(fd);
    *ret_ctx = ctx;
    return 0;

out_nomem:
    fs_close(ctx);
    rc_seterr(err, errlen, "out of memory");
    return -ENOMEM;
}

static int fs_publish(void *vctx, const struct rc_entry *self, char *err, size_t errlen)
{
    struct fs_ctx *ctx = vctx;
    struct rc_entry e = *self;
    char text[2048], tmp[64];
    const char *body;
    struct stat st;
    size_t len, body_len;
    int rv, dfd, fd;

    e.updated_at_ms = rc_now_wall_ms();
    rv = rc_entry_format(&e, text, sizeof(text), &len);
    if (rv < 0) {
        rc_seterr(err, errlen, "cannot publish: invalid node name or host");
        return rv;
    }
    body = memchr(text, '\n', len);
    body = body != NULL ? body + 1 : text + len;
    body_len = len - (size_t)(body - text);
    dfd = dir_open(ctx, O_PATH, true, err, errlen);
    if (dfd < 0)
        return dfd;
    if (rc_written_same(&ctx->written, e.name, body, body_len)) {
        /* A heartbeat: the fs's now into the mtime, the directory untouched. */
        if (utimensat(dfd, e.name, NULL, AT_SYMLINK_NOFOLLOW) == 0) {
            if (fstatat(dfd, e.name, &st, AT_SYMLINK_NOFOLLOW) == 0)
                clock_remember(ctx, &st);
            close(dfd);
            return 0;
        }
        /* Gone (pruned, say) or not ours to touch: write it anew. */
    }
    fd = tmp_create(dfd, tmp);
    if (fd < 0) {
        rv = fd;
        rc_seterr(err, errlen, "cannot create a temp file in %s: %s", ctx->dir, strerror(-rv));
        goto out_close_dir;
    }
    rv = rc_write_full(fd, text, len);
    if (rv == 0 && fsync(fd) < 0)
        rv = -errno;
    if (rv < 0) {
        rc_seterr(err, errlen, "cannot write %s/%s: %s", ctx->dir, tmp, strerror(-rv));
        goto out_unlink_tmp;
    }
    if (renameat(dfd, tmp, dfd, e.name) < 0) {
        rv = -errno;
        rc_seterr(err, errlen, "cannot rename %s/%s to %s: %s", ctx->dir, tmp, e.name,
                  strerror(-rv));
        goto out_unlink_tmp;
    }
    /* fd is now the node's file: its mtime is the fs clock's latest reading. */
    if (fstat(fd, &st) == 0)
        clock_remember(ctx, &st);
    close(fd);
    close(dfd);
    snprintf(ctx->self_name, sizeof(ctx->self_name), "%s", e.name);
    rc_written_set(&ctx->written, e.name, body, body_len);
    cleanup_tmp(ctx);
    return 0;

out_unlink_tmp:
    close(fd);
    unlinkat(dfd, tmp, 0);
out_close_dir:
    close(dfd);
    return rv;
}

/* Reads one file into ctx->buf; returns its length, or -1 with a reason for a reject. */
static ssize_t read_entry(struct fs_ctx *ctx, int fd, const struct stat *st, char *why,
                          size_t whylen)
{
    ssize_t n;

    if (S_ISREG(st->st_mode) == 0) {
        rc_seterr(why, whylen, "not a regular file");
        return -1;
    }
    if (st->st_size > RC_ENTRY_TEXT_MAX)
        goto too_big;
    /* Bounded: the file may have grown since fstat. */
    n = rc_read_bounded(fd, ctx->buf, RC_ENTRY_TEXT_MAX);
    if (n == -EFBIG)
        goto too_big;
    if (n < 0) {
        rc_seterr(why, whylen, "read failed: %s", strerror((int)-n));
        return -1;
    }
    return n;

too_big:
    rc_seterr(why, whylen, "larger than %d bytes", RC_ENTRY_TEXT_MAX);
    return -1;
}

static int entry_cmp(const void *a, const void *b)
{
    return strcmp(((const struct rc_entry *)a)->name, ((const struct rc_entry *)b)->name);
}

static int fs_list(void *vctx, struct rc_reg_list *ret_list, char *err, size_t errlen)
{
    struct fs_ctx *ctx = vctx;
    struct rc_reg_list l = {0};
    struct dirent *de;
    int64_t now;
    DIR *d;
    int rv = 0, dfd;

    dfd = dir_open(ctx, O_RDONLY, false, err, errlen);
    if (dfd < 0)
        return dfd;
    now = fs_clock(ctx, dfd);
    d = fdopendir(dfd);
    if (d == NULL) {
        rv = -errno;
        close(dfd);
        rc_seterr(err, errlen, "cannot read registry directory %s: %s", ctx->dir, strerror(-rv));
        return rv;
    }
    for (;;) {
        const char *name;
        char why[96];
        struct rc_entry e;
        struct stat st;
        ssize_t len;
        int fd;

        errno = 0;
        de = readdir(d);
        if (de == NULL) {
            if (errno != 0) {
                rv = -errno;
                rc_seterr(err, errlen, "cannot read registry directory %s: %s", ctx->dir,
                          strerror(-rv));
            }
            break;
        }
        name = de->d_name;
        if (name[0] == '.')
            continue;
        if (!rc_node_name_valid(name)) {
            rv = rc_reg_list_reject(&l, name, strlen(name), "file name is not a valid node name");
            goto next;
        }
        if (de->d_type == DT_LNK) {
            rv = rc_reg_list_reject(&l, name, strlen(name), "symbolic link");
            goto next;
        }
        if (de->d_type != DT_REG && de->d_type != DT_UNKNOWN) {
            rv = rc_reg_list_reject(&l, name, strlen(name), "not a regular file");
            goto next;
        }
        fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        if (fd < 0) {
            switch (errno) {
            case ENOENT: /* removed since readdir */
                continue;
            case ELOOP:
                rv = rc_reg_list_reject(&l, name, strlen(name), "symbolic link");
                goto next;
            case EACCES:
            case EPERM:
            case ENXIO:
            case ENODEV:
            case EISDIR:
            case EOVERFLOW:
            case ETXTBSY:
            case EWOULDBLOCK:
                snprintf(why, sizeof(why), "cannot open: %s", strerror(errno));
                rv = rc_reg_list_reject(&l, name, strlen(name), why);
                goto next;
            default:
                rv = -errno;
                rc_seterr(err, errlen, "cannot open %s/%s: %s", ctx->dir, name, strerror(-rv));
                goto next;
            }
        }
        if (fstat(fd, &st) < 0) {
            rv = -errno;
            close(fd);
            rc_seterr(err, errlen, "cannot stat %s/%s: %s", ctx->dir, name, strerror(-rv));
            goto next;
        }
        len = read_entry(ctx, fd, &st, why, sizeof(why));
        close(fd);
        if (len < 0) {
            rv = rc_reg_list_reject(&l, name, strlen(name), why);
            goto next;
        }
        if (rc_entry_parse(ctx->buf, (size_t)len, name, &e, why, sizeof(why)) < 0) {
            rv = rc_reg_list_reject(&l, name, strlen(name), why);
            goto next;
        }
        e.age_ms = now - mtime_ms(&st);
        if (e.age_ms < 0)
            e.age_ms = 0;
        rv = rc_reg_list_add(&l, &e);
        if (rv == -E2BIG) { /* the cap: the facade reports the rest */
            rv = 0;
            break;
        }
    next:
        if (rv < 0)
            break;
    }
    closedir(d);
    if (rv < 0) {
        if (rv == -ENOMEM)
            rc_seterr(err, errlen, "out of memory");
        rc_reg_list_free(&l);
        return rv;
    }
    if (l.n > 1)
        qsort(l.entries, l.n, sizeof(*l.entries), entry_cmp);
    *ret_list = l;
    return 0;
}

static int fs_remove(void *vctx, const char *name, int64_t min_age_ms, char *err, size_t errlen)
{
    struct fs_ctx *ctx = vctx;
    struct stat st;
    int rv = 0, dfd;

    dfd = dir_open(ctx, O_PATH, false, err, errlen);
    if (dfd == -ENOENT)
        return 0; /* no directory, no entry */
    if (dfd < 0)
        return dfd;
    /* Best effort: a node that refreshes between this stat and the unlink
     * loses its file until its next publish (one interval). Of two agents
     * pruning at once, the one whose unlink finds the file says 1. */
    if (min_age_ms > 0) {
        if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            rv = errno == ENOENT ? 0 : -errno;
            if (rv < 0)
                rc_seterr(err, errlen, "cannot stat %s/%s: %s", ctx->dir, name, strerror(-rv));
            goto out_close_dir;
        }
        if (fs_clock(ctx, dfd) - mtime_ms(&st) < min_age_ms)
            goto out_close_dir; /* refreshed meanwhile: it stays */
    }
    if (unlinkat(dfd, name, 0) == 0) {
        rv = 1;
    } else if (errno != ENOENT) {
        rv = -errno;
        rc_seterr(err, errlen, "cannot remove %s/%s: %s", ctx->dir, name, strerror(-rv));
    }
    if (rv >= 0)
        rc_written_forget(&ctx->written, name); /* gone, by us or another */
out_close_dir:
    close(dfd);
    return rv;
}

/* The directory's mtime (and inode: a replaced directory is a change). */
static int fs_changed(void *vctx, uint64_t *version, char *err, size_t errlen)
{
    struct fs_ctx *ctx = vctx;
    struct stat st;
    uint64_t v;

    if (stat(ctx->dir, &st) < 0) {
        int e = errno;

        rc_seterr(err, errlen, "cannot stat registry directory %s: %s", ctx->dir, strerror(e));
        return -e;
    }
    v = ((uint64_t)st.st_mtim.tv_sec * 1000000000u + (uint64_t)st.st_mtim.tv_nsec) ^
        ((uint64_t)st.st_ino << 40);
    if (v == 0)
        v = 1;
    if (v == *version)
        return 0;
    *version = v;
    return 1;
}

static int fs_get(void *vctx, const char *name, struct rc_entry *ret, char *err, size_t errlen)
{
    struct fs_ctx *ctx = vctx;
    struct stat st;
    char why[96];
    ssize_t len;
    int64_t now;
    int dfd, fd, rv;

    dfd = dir_open(ctx, O_PATH, false, err, errlen);
    if (dfd < 0)
        return dfd;
    fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        rv = -errno;
        close(dfd);
        rc_seterr(err, errlen, "cannot open %s/%s: %s", ctx->dir, name, strerror(-rv));
        return rv == -ENOENT ? -ENOENT : (rv == -ELOOP ? -EBADMSG : rv);
    }
    if (fstat(fd, &st) < 0) {
        rv = -errno;
        rc_seterr(err, errlen, "cannot stat %s/%s: %s", ctx->dir, name, strerror(-rv));
        goto out;
    }
    len = read_entry(ctx, fd, &st, why, sizeof(why));
    if (len < 0 || rc_entry_parse(ctx->buf, (size_t)len, name, ret, why, sizeof(why)) < 0) {
        rc_seterr(err, errlen, "%s: %s", name, why);
        rv = -EBADMSG;
        goto out;
    }
    now = fs_clock(ctx, dfd);
    ret->age_ms = now - mtime_ms(&st);
    if (ret->age_ms < 0)
        ret->age_ms = 0;
    rv = 0;
out:
    close(fd);
    close(dfd);
    return rv;
}

const struct rc_backend_ops rc_backend_fs = {
    .scheme = "file",
    .open = fs_open,
    .publish = fs_publish,
    .list = fs_list,
    .remove = fs_remove,
    .close = fs_close,
    .changed = fs_changed,
    .get = fs_get,
};

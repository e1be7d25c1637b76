/*
 * test_fs.c - the file registry backend (backends/fs.c) in a mkdtemp
 * directory: publish / list / remove, atomic replace, what list rejects and
 * how it names it, ages on the file system's clock, and errors that must not
 * look like an empty registry.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
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
#include "rollcall/registry.h"

#define SELF "rollcall@127.0.0.1"

struct fixture {
    char dir[64];
    void *ctx;
    char err[256];
};

static const struct rc_backend_ops *fs = &rc_backend_fs;

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    chmod(path, 0700); /* so that a test's chmod 000 does not block the cleanup */
    return remove(path);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char url[128];

    if (f == NULL)
        return -1;
    strcpy(f->dir, "/tmp/rc-test-fs-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(url, sizeof(url), "file://%s", f->dir);
    if (fs->open(url, &f->ctx, f->err, sizeof(f->err)) != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    fs->close(f->ctx);
    chmod(f->dir, 0700);
    nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static void path_of(struct fixture *f, const char *name, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s/%s", f->dir, name);
}

static void write_file(struct fixture *f, const char *name, const char *text, size_t len)
{
    char path[512];
    int fd;

    path_of(f, name, path, sizeof(path));
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    close(fd);
}

/*
 * Sets a file's mtime to now + delta_ms on this machine's clock, which is the
 * fs clock here. The kernel stamps files from its coarse clock (one tick, up
 * to 10 ms, behind CLOCK_REALTIME), so ages are checked to within SLACK_MS.
 */
#define SLACK_MS 50
static void set_mtime(struct fixture *f, const char *name, int64_t delta_ms)
{
    struct timespec ts[2];
    struct timespec now;

    clock_gettime(CLOCK_REALTIME, &now);
    int64_t ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000 + delta_ms;
    ts[0].tv_sec = ts[1].tv_sec = ms / 1000;
    ts[0].tv_nsec = ts[1].tv_nsec = (ms % 1000) * 1000000;
    char path[512];
    path_of(f, name, path, sizeof(path));
    assert_int_equal(utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW), 0);
}

static bool exists(struct fixture *f, const char *name)
{
    char path[512];
    struct stat st;

    path_of(f, name, path, sizeof(path));
    return lstat(path, &st) == 0;
}

/* Names in the directory, sorted, joined by ' '. */
static void dir_names(struct fixture *f, char *out, size_t outlen)
{
    struct dirent **names;
    int n = scandir(f->dir, &names, NULL, alphasort);
    size_t used = 0;

    assert_true(n >= 0);
    out[0] = '\0';
    for (int i = 0; i < n; i++) {
        if (strcmp(names[i]->d_name, ".") != 0 && strcmp(names[i]->d_name, "..") != 0)
            used += (size_t)snprintf(out + used, outlen - used, "%s%s", used ? " " : "",
                                     names[i]->d_name);
        free(names[i]);
    }
    free(names);
}

static void list_ok(struct fixture *f, struct rc_reg_list *l)
{
    int rv = fs->list(f->ctx, l, f->err, sizeof(f->err));

    if (rv != 0)
        fail_msg("list: %d %s", rv, f->err);
}

static const struct rc_entry *find_entry(const struct rc_reg_list *l, const char *name)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->entries[i].name, name) == 0)
            return &l->entries[i];
    return NULL;
}

static const struct rc_reject *find_reject(const struct rc_reg_list *l, const char *what)
{
    for (size_t i = 0; i < l->nrejects; i++)
        if (strcmp(l->rejects[i].what, what) == 0)
            return &l->rejects[i];
    return NULL;
}

static void publish_self(struct fixture *f, const char *name)
{
    struct rc_entry e = {0};

    strcpy(e.name, name);
    strcpy(e.host, "127.0.0.1");
    e.port = 4370;
    e.started_at_ms = 1795215001000LL;
    if (fs->publish(f->ctx, &e, f->err, sizeof(f->err)) != 0)
        fail_msg("publish %s: %s", name, f->err);
}

/* ---- open ---- */

static void test_open_urls(void **state)
{
    struct fixture *f = *state;
    char url[256], err[256];
    void *ctx = (void *)0x1;
    struct stat st;

    /* creates missing directories, nested */
    snprintf(url, sizeof(url), "file://%s/a/b/", f->dir);
    assert_int_equal(fs->open(url, &ctx, err, sizeof(err)), 0);
    fs->close(ctx);
    snprintf(url, sizeof(url), "%s/a/b", f->dir);
    assert_int_equal(stat(url, &st), 0);
    assert_true(S_ISDIR(st.st_mode));

    snprintf(url, sizeof(url), "file:%s/a", f->dir);
    assert_int_equal(fs->open(url, &ctx, err, sizeof(err)), 0);
    fs->close(ctx);
    snprintf(url, sizeof(url), "file://localhost%s/a", f->dir);
    assert_int_equal(fs->open(url, &ctx, err, sizeof(err)), 0);
    fs->close(ctx);
    snprintf(url, sizeof(url), "file://%s/with%%20space", f->dir);
    assert_int_equal(fs->open(url, &ctx, err, sizeof(err)), 0);
    fs->close(ctx);
    assert_true(exists(f, "with space"));

    ctx = (void *)0x1;
    assert_int_equal(fs->open("file:relative/dir", &ctx, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "absolute"));
    assert_int_equal(fs->open("file://", &ctx, err, sizeof(err)), -EINVAL);
    assert_int_equal(fs->open("file://otherhost/x", &ctx, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "otherhost"));
    assert_int_equal(fs->open("file:///tmp/x?mode=1", &ctx, err, sizeof(err)), -EINVAL);
    assert_int_equal(fs->open("file:///tmp/x%00y", &ctx, err, sizeof(err)), -EINVAL);
    assert_int_equal(fs->open("file:///tmp/x%zz", &ctx, err, sizeof(err)), -EINVAL);
    assert_ptr_equal(ctx, (void *)0x1); /* untouched on failure */

    /* a file where the directory should be */
    write_file(f, "plain", "x", 1);
    snprintf(url, sizeof(url), "file://%s/plain", f->dir);
    assert_int_equal(fs->open(url, &ctx, err, sizeof(err)), -ENOTDIR);
    assert_non_null(strstr(err, "plain"));
}

/* ---- publish / list / remove ---- */

static void test_publish_list_remove(void **state)
{
    struct fixture *f = *state;
    struct rc_reg_list l;
    const struct rc_entry *e;
    char names[1024];

    publish_self(f, SELF);
    dir_names(f, names, sizeof(names));
    assert_string_equal(names, SELF); /* no temp file left behind */

    list_ok(f, &l);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.nrejects, 0);
    e = &l.entries[0];
    assert_string_equal(e->name, SELF);
    assert_string_equal(e->host, "127.0.0.1");
    assert_int_equal(e->port, 4370);
    assert_int_equal(e->started_at_ms, 1795215001000LL);
    assert_true(e->updated_at_ms > 1700000000000LL);
    assert_true(e->age_ms >= 0 && e->age_ms < 2000);
    rc_reg_list_free(&l);

    assert_int_equal(fs->remove(f->ctx, SELF, 0, f->err, sizeof(f->err)), 1);
    assert_false(exists(f, SELF));
    /* removing a missing entry is success, and says none was removed */
    assert_int_equal(fs->remove(f->ctx, SELF, 0, f->err, sizeof(f->err)), 0);
    assert_int_equal(fs->remove(f->ctx, SELF, 1000, f->err, sizeof(f->err)), 0);
    list_ok(f, &l);
    assert_int_equal(l.n, 0);
    rc_reg_list_free(&l);
}

static void test_atomic_replace(void **state)
{
    struct fixture *f = *state;
    char path[512], names[1024];
    struct stat before, after;
    struct rc_reg_list l;
    struct rc_entry e = {0};

    publish_self(f, SELF);
    path_of(f, SELF, path, sizeof(path));
    assert_int_equal(stat(path, &before), 0);
    strcpy(e.name, SELF);
    e.port = 5555;
    assert_int_equal(fs->publish(f->ctx, &e, f->err, sizeof(f->err)), 0);
    assert_int_equal(stat(path, &after), 0);
    assert_true(before.st_ino != after.st_ino); /* a new file renamed over, not rewritten */
    dir_names(f, names, sizeof(names));
    assert_string_equal(names, SELF);
    list_ok(f, &l);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.entries[0].port, 5555);
    assert_string_equal(l.entries[0].host, "");
    rc_reg_list_free(&l);
}

static void test_several_sorted(void **state)
{
    struct fixture *f = *state;
    struct rc_reg_list l;

    publish_self(f, "c@h");
    publish_self(f, "a@h");
    publish_self(f, "b@h");
    list_ok(f, &l);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.entries[0].name, "a@h");
    assert_string_equal(l.entries[1].name, "b@h");
    assert_string_equal(l.entries[2].name, "c@h");
    rc_reg_list_free(&l);
}

/* ---- what list tolerates, skips and rejects ---- */

static void test_classic_and_garbage(void **state)
{
    struct fixture *f = *state;
    struct rc_reg_list l;
    const struct rc_entry *e;

    write_file(f, "elixir@10.0.0.7", "2026-11-20 22:54:17.123456Z\n", 28);
    write_file(f, "garbage@10.0.0.8", "hello, world\n", 13);
    write_file(f, "empty@10.0.0.9", "", 0);
    write_file(f, "liar@10.0.0.10", "name=other@10.0.0.10\n", 21);
    list_ok(f, &l);
    assert_int_equal(l.n, 3);
    e = find_entry(&l, "elixir@10.0.0.7");
    assert_non_null(e);
    assert_int_equal(e->updated_at_ms, 1795215257123LL);
    assert_true(e->age_ms < 2000); /* age from mtime, not from the claimed time */
    e = find_entry(&l, "garbage@10.0.0.8");
    assert_non_null(e);
    assert_int_equal(e->updated_at_ms, 0);
    assert_non_null(find_entry(&l, "empty@10.0.0.9"));
    assert_int_equal(l.nrejects, 1);
    assert_string_equal(l.rejects[0].what, "liar@10.0.0.10");
    assert_non_null(strstr(l.rejects[0].reason, "differs"));
    rc_reg_list_free(&l);
}

static void test_dotfiles_skipped(void **state)
{
    struct fixture *f = *state;
    struct rc_reg_list l;

    write_file(f, ".hidden@h", "2026-11-20T22:54:17Z\n", 21);
    write_file(f, ".rc-tmp-1-00", "half", 4);
    list_ok(f, &l);
    assert_int_equal(l.n, 0);
    assert_int_equal(l.nrejects, 0);
    rc_reg_list_free(&l);
}

/* find_reject for raw names with a NUL-free what. */
static const struct rc_reject *find_raw(const struct rc_reg_list *l, const char *what)
{
    for (size_t i = 0; i < l->nrejects; i++)
        if (l->rejects[i].whatlen == strlen(what) &&
            memcmp(l->rejects[i].what, what, strlen(what)) == 0)
            return &l->rejects[i];
    return NULL;
}

static void test_bad_names(void **state)
{
    struct fixture *f = *state;
    struct rc_registry *r = NULL;
    struct rc_reg_list l;
    const struct rc_reject *rj;
    struct rc_entry e = {0};
    char url[128], msg[512], line[1024];

    /* a name with '/' cannot be published, removed, or even exist as a file
     * name: the facade refuses it before the backend sees it */
    snprintf(url, sizeof(url), "file://%s", f->dir);
    assert_int_equal(rc_registry_open(url, &r, f->err, sizeof(f->err)), 0);
    strcpy(e.name, "../escape@h");
    assert_int_equal(rc_registry_publish(r, &e, f->err, sizeof(f->err)), -EINVAL);
    strcpy(e.name, "a/b@h");
    assert_int_equal(rc_registry_publish(r, &e, f->err, sizeof(f->err)), -EINVAL);
    /* and the file backend's own formatting refuses it too */
    assert_int_equal(fs->publish(f->ctx, &e, f->err, sizeof(f->err)), -EINVAL);
    assert_int_equal(rc_registry_remove(r, "../x@h", 0, f->err, sizeof(f->err)), -EINVAL);
    assert_int_equal(rc_registry_remove(r, "a/b@h", 0, f->err, sizeof(f->err)), -EINVAL);
    assert_int_equal(rc_registry_remove(r, "", 0, f->err, sizeof(f->err)), -EINVAL);

    write_file(f, "new\nline@h", "", 0);
    write_file(f, "bad\377byte@h", "", 0);
    write_file(f, "no-at-sign", "", 0);
    write_file(f, "evil\x1b[2J@h", "", 0);
    assert_int_equal(rc_registry_list(r, &l, f->err, sizeof(f->err)), 0);
    assert_int_equal(l.n, 0);
    assert_int_equal(l.nrejects, 4);
    for (size_t i = 0; i < l.nrejects; i++)
        assert_non_null(strstr(l.rejects[i].reason, "not a valid node name"));
    /* rejects keep the raw names: escaping is the log line's job, once */
    assert_non_null(find_raw(&l, "new\nline@h"));
    assert_non_null(find_raw(&l, "bad\377byte@h"));
    assert_non_null(find_raw(&l, "no-at-sign"));
    rj = find_raw(&l, "evil\x1b[2J@h");
    assert_non_null(rj);

    /* the double-escape bug (issue 10): the agent's warning (worker.c) shows
     * \x1b once, as docs/logs.md promises, not \\x1B */
    snprintf(msg, sizeof(msg), "registry: skipping entry %s%s: %s", rj->what, rj->cut ? "..." : "",
             rj->reason);
    rc_log_render(line, sizeof(line), RC_LOG_FMT_ELIXIR, RC_LOG_WARN, 0, msg, NULL, 0);
    assert_non_null(strstr(line, "[warning] registry: skipping entry evil\\x1b[2J@h: file name is "
                                 "not a valid node name"));
    assert_null(strstr(line, "\\\\"));
    rc_log_render(line, sizeof(line), RC_LOG_FMT_JSON, RC_LOG_WARN, 0, msg, NULL, 0);
    assert_non_null(strstr(line, "skipping entry evil\\u001b[2J@h: "));
    rj = find_raw(&l, "bad\377byte@h");
    snprintf(msg, sizeof(msg), "registry: skipping entry %s: %s", rj->what, rj->reason);
    rc_log_render(line, sizeof(line), RC_LOG_FMT_ELIXIR, RC_LOG_WARN, 0, msg, NULL, 0);
    assert_non_null(strstr(line, "skipping entry bad\\xffbyte@h: "));
    rc_reg_list_free(&l);
    rc_registry_close(r);
}

static void test_too_big(void **state)
{
    struct fixture *f = *state;
    size_t len = RC_ENTRY_TEXT_MAX + 1;
    char *text = malloc(len);
    struct rc_reg_list l;

    assert_non_null(text);
    for (size_t i = 0; i < len; i++)
        text[i] = (i % 80 == 79) ? '\n' : 'x';
    write_file(f, "big@h", text, len);
    write_file(f, "limit@h", text, len - 1);
    free(text);
    list_ok(f, &l);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.entries[0].name, "limit@h");
    assert_int_equal(l.nrejects, 1);
    assert_string_equal(l.rejects[0].what, "big@h");
    assert_non_null(strstr(l.rejects[0].reason, "larger than 65536"));
    rc_reg_list_free(&l);
}

static void test_unreadable_file(void **state)
{
    struct fixture *f = *state;
    struct rc_reg_list l;
    char path[512];
    int fd;

    write_file(f, "locked@h", "2026-11-20T22:54:17Z\n", 21);
    path_of(f, "locked@h", path, sizeof(path));
    assert_int_equal(chmod(path, 0), 0);
    fd = open(path, O_RDONLY);
    if (fd >= 0) {
        close(fd);
        print_message("    running as root (or with CAP_DAC_OVERRIDE): chmod 000 does not "
                      "stop reading, so an unreadable file cannot be made here\n");
        skip();
    }
    publish_self(f, SELF);
    list_ok(f, &l);
    assert_int_equal(l.n, 1); /* not an error: the other entries still come */
    assert_int_equal(l.nrejects, 1);
    assert_string_equal(l.rejects[0].what, "locked@h");
    assert_non_null(strstr(l.rejects[0].reason, "Permission denied"));
    rc_reg_list_free(&l);
}

static void test_not_regular(void **state)
{
    struct fixture *f = *state;
    struct rc_reg_list l;
    char path[512];
    const struct rc_reject *r;

    publish_self(f, SELF);
    path_of(f, "link@h", path, sizeof(path));
    assert_int_equal(symlink(SELF, path), 0);
    path_of(f, "dangling@h", path, sizeof(path));
    assert_int_equal(symlink("/nonexistent", path), 0);
    path_of(f, "outside@h", path, sizeof(path));
    assert_int_equal(symlink("/etc/passwd", path), 0);
    path_of(f, "dir@h", path, sizeof(path));
    assert_int_equal(mkdir(path, 0755), 0);
    path_of(f, "fifo@h", path, sizeof(path));
    assert_int_equal(mkfifo(path, 0644), 0); /* must not block the list */

    list_ok(f, &l);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.entries[0].name, SELF);
    assert_int_equal(l.nrejects, 5);
    assert_non_null(r = find_reject(&l, "link@h"));
    assert_string_equal(r->reason, "symbolic link");
    assert_non_null(r = find_reject(&l, "dangling@h"));
    assert_string_equal(r->reason, "symbolic link");
    assert_non_null(r = find_reject(&l, "outside@h"));
    assert_string_equal(r->reason, "symbolic link");
    assert_non_null(r = find_reject(&l, "dir@h"));
    assert_string_equal(r->reason, "not a regular file");
    assert_non_null(r = find_reject(&l, "fifo@h"));
    assert_string_equal(r->reason, "not a regular file");
    rc_reg_list_free(&l);
}

/* ---- ages on the file system's clock ---- */

static void test_staleness(void **state)
{
    struct fixture *f = *state;
    struct rc_reg_list l;
    const struct rc_entry *e;

    publish_self(f, SELF); /* the fs clock reference */
    write_file(f, "old@h", "2026-11-20T22:54:17Z\n", 21);
    set_mtime(f, "old@h", -30000);
    write_file(f, "older@h", "", 0);
    set_mtime(f, "older@h", -3600 * 1000);
    write_file(f, "future@h", "", 0);
    set_mtime(f, "future@h", +60000);
    list_ok(f, &l);
    assert_int_equal(l.n, 4);
    e = find_entry(&l, "old@h");
    assert_true(e->age_ms >= 30000 - SLACK_MS && e->age_ms < 32000);
    e = find_entry(&l, "older@h");
    assert_true(e->age_ms >= 3600000 - SLACK_MS && e->age_ms < 3602000);
    e = find_entry(&l, "future@h");
    assert_int_equal(e->age_ms, 0); /* clamped */
    rc_reg_list_free(&l);
}

/* A reader that never published (rollcall members) probes the fs clock with a temp file. */
static void test_clock_without_publish(void **state)
{
    struct fixture *f = *state;
    struct rc_reg_list l;
    char url[128], names[1024];
    void *reader;

    write_file(f, "old@h", "", 0);
    set_mtime(f, "old@h", -10000);
    snprintf(url, sizeof(url), "file://%s", f->dir);
    assert_int_equal(fs->open(url, &reader, f->err, sizeof(f->err)), 0);
    assert_int_equal(fs->list(reader, &l, f->err, sizeof(f->err)), 0);
    assert_int_equal(l.n, 1);
    assert_true(l.entries[0].age_ms >= 10000 - SLACK_MS && l.entries[0].age_ms < 12000);
    rc_reg_list_free(&l);
    fs->close(reader);
    dir_names(f, names, sizeof(names));
    assert_string_equal(names, "old@h"); /* the probe is gone */
}

/* On a read-only directory the local wall clock stands in. */
static void test_clock_read_only(void **state)
{
    struct fixture *f = *state;
    struct rc_reg_list l;
    char url[128];
    void *reader;
    int fd;

    write_file(f, "old@h", "", 0);
    set_mtime(f, "old@h", -10000);
    assert_int_equal(chmod(f->dir, 0555), 0);
    fd = open(f->dir, O_RDONLY | O_DIRECTORY);
    if (fd >= 0 && faccessat(fd, ".", W_OK, AT_EACCESS) == 0) {
        close(fd);
        print_message("    running as root: chmod 555 does not make the directory read-only\n");
        skip();
    }
    close(fd);
    snprintf(url, sizeof(url), "file://%s", f->dir);
    assert_int_equal(fs->open(url, &reader, f->err, sizeof(f->err)), 0);
    assert_int_equal(fs->list(reader, &l, f->err, sizeof(f->err)), 0);
    assert_int_equal(l.n, 1);
    assert_true(l.entries[0].age_ms >= 10000 - SLACK_MS && l.entries[0].age_ms < 12000);
    rc_reg_list_free(&l);
    fs->close(reader);
}

static void test_remove_min_age(void **state)
{
    struct fixture *f = *state;

    publish_self(f, "peer@h");
    assert_int_equal(fs->remove(f->ctx, "peer@h", 10000, f->err, sizeof(f->err)), 0);
    assert_true(exists(f, "peer@h")); /* fresh: kept */
    set_mtime(f, "peer@h", -30000);
    assert_int_equal(fs->remove(f->ctx, "peer@h", 60000, f->err, sizeof(f->err)), 0);
    assert_true(exists(f, "peer@h")); /* 30 s old, not yet 60 */
    assert_int_equal(fs->remove(f->ctx, "peer@h", 10000, f->err, sizeof(f->err)), 1);
    assert_false(exists(f, "peer@h"));
    assert_int_equal(fs->remove(f->ctx, "peer@h", 10000, f->err, sizeof(f->err)), 0);
}

static void test_stale_temp_cleanup(void **state)
{
    struct fixture *f = *state;
    char names[1024];

    write_file(f, ".rc-tmp-999-dead", "half", 4);
    set_mtime(f, ".rc-tmp-999-dead", -120000);
    write_file(f, ".rc-tmp-998-live", "half", 4);
    set_mtime(f, ".rc-tmp-998-live", -5000);
    write_file(f, ".other", "x", 1);
    set_mtime(f, ".other", -120000);
    publish_self(f, SELF);
    dir_names(f, names, sizeof(names));
    assert_string_equal(names, ".other .rc-tmp-998-live " SELF);
}

/* ---- errors are errors, never an empty list ---- */

static void test_missing_dir(void **state)
{
    struct fixture *f = *state;
    struct rc_reg_list l = {.n = 77};
    char url[128];
    void *ctx;
    int rv;

    snprintf(url, sizeof(url), "file://%s/sub", f->dir);
    assert_int_equal(fs->open(url, &ctx, f->err, sizeof(f->err)), 0);
    snprintf(url, sizeof(url), "%s/sub", f->dir);
    assert_int_equal(rmdir(url), 0);
    rv = fs->list(ctx, &l, f->err, sizeof(f->err));
    assert_int_equal(rv, -ENOENT);
    assert_non_null(strstr(f->err, url));
    assert_int_equal(l.n, 77); /* untouched */
    /* removing from a missing directory: the entry is certainly gone */
    assert_int_equal(fs->remove(ctx, SELF, 0, f->err, sizeof(f->err)), 0);
    /* publish brings the directory back */
    struct rc_entry e = {0};
    strcpy(e.name, SELF);
    assert_int_equal(fs->publish(ctx, &e, f->err, sizeof(f->err)), 0);
    assert_int_equal(fs->list(ctx, &l, f->err, sizeof(f->err)), 0);
    assert_int_equal(l.n, 1);
    rc_reg_list_free(&l);
    fs->close(ctx);
}

static void test_unreadable_dir(void **state)
{
    struct fixture *f = *state;
    struct rc_reg_list l = {.n = 77};
    int fd;

    publish_self(f, SELF);
    assert_int_equal(chmod(f->dir, 0), 0);
    fd = open(f->dir, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        close(fd);
        print_message("    running as root (or with CAP_DAC_OVERRIDE): chmod 000 does not "
                      "stop reading a directory; test_missing_dir covers the error path\n");
        skip();
    }
    assert_int_equal(fs->list(f->ctx, &l, f->err, sizeof(f->err)), -EACCES);
    assert_int_equal(l.n, 77);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_urls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_publish_list_remove, setup, teardown),
        cmocka_unit_test_setup_teardown(test_atomic_replace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_several_sorted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_classic_and_garbage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dotfiles_skipped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_too_big, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unreadable_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_regular, setup, teardown),
        cmocka_unit_test_setup_teardown(test_staleness, setup, teardown),
        cmocka_unit_test_setup_teardown(test_clock_without_publish, setup, teardown),
        cmocka_unit_test_setup_teardown(test_clock_read_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove_min_age, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_temp_cleanup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unreadable_dir, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

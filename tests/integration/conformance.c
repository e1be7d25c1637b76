/*
 * conformance.c - the registry backend conformance suite.
 *
 *   conformance [--outage-cmd CMD --restore-cmd CMD] [--bulk N] URL
 *
 * Runs the contract of include/rollcall/registry.h against one live backend
 * through rc_registry_open, the way the agent uses it, and prints one line
 * per check ("ok - name" / "FAIL - name: why") and then "N passed, M failed";
 * exits 0 only if every check passed.
 *
 * Entries it creates are named c<pid>-...@host, so a shared store only
 * gains (and loses again) entries of this run. Garbage "written by someone
 * else" is written with the store's own client (raw hiredis, raw libpq, a
 * signed PUT, a plain file) and removed again at the end.
 *
 * --outage-cmd / --restore-cmd: shell commands that stop and restart the
 * store (tests/integration/servers/start-*.sh --stop / --restart DIR). With
 * them the suite also checks that list() and publish() fail with an error
 * (never an empty list) while the store is down, and work again after it is
 * back, on the same registry handle (reconnect).
 *
 * Every err string any call returns is checked for the URL's password and
 * the secrets in the environment (REDISCLI_AUTH, PGPASSWORD,
 * AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN).
 *
 * The backends' objects are linked in (rollcall_backend_redis, _postgres,
 * _s3), so the garbage writers can use their raw connections through the
 * private headers; the registry itself loads the backend modules
 * (rollcall-<scheme>.so, next to this binary) exactly as the agent does,
 * through the facade (rc_registry_publish/list/remove).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../backends/postgres_int.h"
#include "../../backends/redis_int.h"
#include "../../backends/s3/s3_int.h"
#include "rollcall/registry.h"
#include "rollcall/text.h"

#define CONF_SECRETS_MAX 8
#define CONF_ERRLEN 512

struct conf {
    const char *url;
    char scheme[16];
    struct rc_registry *reg;
    char secrets[CONF_SECRETS_MAX][600];
    int nsecrets;
    int passed, failed;
    char pfx[32]; /* "c<pid>" */
    const char *outage_cmd, *restore_cmd;
    int bulk;
    const char *test;       /* current check */
    char why[CONF_ERRLEN];  /* first failure of the current check */
    char skip[CONF_ERRLEN]; /* why the current check did not apply */
    bool leaked;
};

static void fail(struct conf *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fail(struct conf *c, const char *fmt, ...)
{
    va_list ap;

    if (c->why[0] != '\0')
        return;
    va_start(ap, fmt);
    vsnprintf(c->why, sizeof(c->why), fmt, ap);
    va_end(ap);
}

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* ---- secrets ---- */

static void add_secret(struct conf *c, const char *s, size_t len)
{
    if (s == NULL || len < 4 || len >= sizeof(c->secrets[0]) || c->nsecrets >= CONF_SECRETS_MAX)
        return;
    memcpy(c->secrets[c->nsecrets], s, len);
    c->secrets[c->nsecrets][len] = '\0';
    c->nsecrets++;
}

/* The URL's userinfo password (raw and decoded) and the environment's secrets. */
static void collect_secrets(struct conf *c)
{
    static const char *const envs[] = {"REDISCLI_AUTH", "PGPASSWORD", "AWS_SECRET_ACCESS_KEY",
                                       "AWS_SESSION_TOKEN"};
    const char *p = strstr(c->url, "://");

    if (p != NULL) {
        const char *auth = p + 3, *end = auth + strcspn(auth, "/?#"), *at = NULL, *colon;

        for (const char *q = auth; q < end; q++)
            if (*q == '@')
                at = q;
        colon = at != NULL ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
        if (colon != NULL) {
            char dec[600];
            ssize_t n = rc_url_decode(colon + 1, (size_t)(at - colon - 1), false, dec, sizeof(dec));

            add_secret(c, colon + 1, (size_t)(at - colon - 1));
            if (n > 0)
                add_secret(c, dec, (size_t)n);
        }
    }
    for (size_t i = 0; i < sizeof(envs) / sizeof(envs[0]); i++) {
        const char *v = getenv(envs[i]);

        if (v != NULL)
            add_secret(c, v, strlen(v));
    }
}

static void check_err(struct conf *c, const char *op, const char *err)
{
    for (int i = 0; i < c->nsecrets; i++) {
        if (strstr(err, c->secrets[i]) != NULL) {
            fail(c, "%s: the error message contains a secret", op);
            c->leaked = true;
        }
    }
}

/* ---- registry calls that check err ---- */

static int r_publish(struct conf *c, const struct rc_entry *e, char *err)
{
    int rv;

    err[0] = '\0';
    rv = rc_registry_publish(c->reg, e, err, CONF_ERRLEN);
    check_err(c, "publish", err);
    if (rv < 0 && err[0] == '\0')
        fail(c, "publish failed (%s) without a reason in err", strerror(-rv));
    return rv;
}

static int r_list(struct conf *c, struct rc_reg_list *l, char *err)
{
    int rv;

    err[0] = '\0';
    memset(l, 0, sizeof(*l));
    rv = rc_registry_list(c->reg, l, err, CONF_ERRLEN);
    check_err(c, "list", err);
    if (rv < 0 && err[0] == '\0')
        fail(c, "list failed (%s) without a reason in err", strerror(-rv));
    if (rv < 0 && (l->entries != NULL || l->n != 0))
        fail(c, "list failed but wrote ret_list");
    return rv;
}

static int r_remove(struct conf *c, const char *name, int64_t min_age, char *err)
{
    int rv;

    err[0] = '\0';
    rv = rc_registry_remove(c->reg, name, min_age, err, CONF_ERRLEN);
    check_err(c, "remove", err);
    if (rv < 0 && err[0] == '\0')
        fail(c, "remove failed (%s) without a reason in err", strerror(-rv));
    if (rv > 1)
        fail(c, "remove returned %d (0, 1 or a negative errno)", rv);
    return rv;
}

static const struct rc_entry *find(const struct rc_reg_list *l, const char *name)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->entries[i].name, name) == 0)
            return &l->entries[i];
    return NULL;
}

static void make_entry(struct conf *c, struct rc_entry *e, const char *tag, const char *host,
                       uint16_t port)
{
    memset(e, 0, sizeof(*e));
    snprintf(e->name, sizeof(e->name), "%s-%s@%s", c->pfx, tag, host);
    snprintf(e->host, sizeof(e->host), "%s", host);
    e->port = port;
    e->started_at_ms = (wall_ms() / 1000) * 1000 - 60000;
    e->updated_at_ms = wall_ms();
}

/* Lists and returns the entry named name (copied), or fails the check. */
static bool list_find(struct conf *c, const char *name, struct rc_entry *ret)
{
    struct rc_reg_list l;
    char err[CONF_ERRLEN];
    const struct rc_entry *e;
    int rv = r_list(c, &l, err);

    if (rv < 0) {
        fail(c, "list: %s (%s)", err, strerror(-rv));
        return false;
    }
    e = find(&l, name);
    if (e != NULL && ret != NULL)
        *ret = *e;
    rc_reg_list_free(&l);
    return e != NULL;
}

/* ---- the checks ---- */

static void t_publish_list(struct conf *c)
{
    struct rc_entry e, got;
    char err[CONF_ERRLEN];
    int rv;

    make_entry(c, &e, "basic", "127.0.0.1", 4370);
    e.kind = RC_KIND_APP; /* docs/app.md: the kind survives every backend */
    rv = r_publish(c, &e, err);
    if (rv < 0)
        return fail(c, "publish: %s (%s)", err, strerror(-rv));
    if (!list_find(c, e.name, &got))
        return fail(c, "%s not listed after publish", e.name);
    if (strcmp(got.host, e.host) != 0 || got.port != e.port)
        fail(c, "listed host/port %s:%u, published %s:%u", got.host, got.port, e.host, e.port);
    if (got.kind != e.kind)
        fail(c, "listed kind %d, published %d", (int)got.kind, (int)e.kind);
    if (got.started_at_ms != 0 && got.started_at_ms != e.started_at_ms)
        fail(c, "started_at %lld, published %lld", (long long)got.started_at_ms,
             (long long)e.started_at_ms);
    if (got.age_ms < 0 || got.age_ms > 5000)
        fail(c, "age %lld ms right after publish (want 0..5000)", (long long)got.age_ms);
    r_remove(c, e.name, 0, err);
}

static void t_republish_refreshes(struct conf *c)
{
    struct rc_entry e, got;
    char err[CONF_ERRLEN];
    int64_t before;
    int rv;

    make_entry(c, &e, "refresh", "127.0.0.1", 0);
    if ((rv = r_publish(c, &e, err)) < 0)
        return fail(c, "publish: %s", err);
    sleep_ms(2500);
    if (!list_find(c, e.name, &got))
        return fail(c, "%s not listed", e.name);
    before = got.age_ms;
    /* staleness is judged on the store's clock without anyone publishing */
    if (before < 1000)
        fail(c, "age %lld ms after 2.5 s without a publish (want >= 1000)", (long long)before);
    if (before > 10000)
        fail(c, "age %lld ms after 2.5 s (want <= 10000)", (long long)before);
    if ((rv = r_publish(c, &e, err)) < 0)
        return fail(c, "re-publish: %s", err);
    if (!list_find(c, e.name, &got))
        return fail(c, "%s not listed after re-publish", e.name);
    if (got.age_ms > before - 1000)
        fail(c, "age %lld ms after re-publish, was %lld (want a drop of >= 1000)",
             (long long)got.age_ms, (long long)before);
    r_remove(c, e.name, 0, err);
    printf("FIGURE staleness: age after 2.5 s idle = %lld ms, after re-publish = %lld ms\n",
           (long long)before, (long long)got.age_ms);
}

static void t_remove(struct conf *c)
{
    struct rc_entry e;
    char err[CONF_ERRLEN];
    int rv;

    make_entry(c, &e, "remove", "127.0.0.1", 0);
    if ((rv = r_publish(c, &e, err)) < 0)
        return fail(c, "publish: %s", err);
    if ((rv = r_remove(c, e.name, 0, err)) < 0)
        return fail(c, "remove: %s (%s)", err, strerror(-rv));
    if (rv != 1)
        fail(c, "remove of a listed entry returned %d, not 1 (removed)", rv);
    if (list_find(c, e.name, NULL))
        return fail(c, "%s still listed after remove", e.name);
    if ((rv = r_remove(c, e.name, 0, err)) < 0)
        fail(c, "second remove: %s (%s)", err, strerror(-rv));
    /* the agent announces a prune only on 1: a missing entry is 0 */
    if ((rv = r_remove(c, e.name, 1000, err)) < 0)
        fail(c, "conditional remove of a missing entry: %s (%s)", err, strerror(-rv));
    else if (rv != 0)
        fail(c, "conditional remove of a missing entry returned %d, not 0", rv);
}

static void t_remove_missing(struct conf *c)
{
    char name[RC_NAME_MAX + 1], err[CONF_ERRLEN];
    int rv;

    snprintf(name, sizeof(name), "%s-never@127.0.0.9", c->pfx);
    if ((rv = r_remove(c, name, 0, err)) < 0)
        fail(c, "remove of a never-published entry: %s (%s)", err, strerror(-rv));
}

static void t_conditional_remove(struct conf *c)
{
    struct rc_entry old, fresh, got;
    char err[CONF_ERRLEN];
    int rv;

    make_entry(c, &old, "old", "127.0.0.1", 0);
    make_entry(c, &fresh, "fresh", "127.0.0.1", 0);
    if ((rv = r_publish(c, &old, err)) < 0)
        return fail(c, "publish: %s", err);
    sleep_ms(3200);
    if ((rv = r_publish(c, &fresh, err)) < 0)
        return fail(c, "publish: %s", err);
    /* fresh (age ~0) must survive min_age 60 s */
    if ((rv = r_remove(c, fresh.name, 60000, err)) < 0)
        fail(c, "conditional remove (fresh): %s", err);
    else if (rv != 0)
        fail(c, "conditional remove of a fresh entry returned %d, not 0 (kept)", rv);
    if (!list_find(c, fresh.name, NULL))
        fail(c, "a fresh entry was removed by remove(min_age_ms = 60000)");
    /* old must go with min_age = the age list() just gave it: remove judges
     * age exactly as list does (the agent prunes with min_age = stale_after
     * an entry that list showed older than that) */
    if (!list_find(c, old.name, &got))
        return fail(c, "%s not listed", old.name);
    if (got.age_ms < 1000)
        fail(c, "an entry idle for 3.2 s is listed with age %lld ms", (long long)got.age_ms);
    if ((rv = r_remove(c, old.name, got.age_ms > 0 ? got.age_ms : 1, err)) < 0)
        fail(c, "conditional remove (old): %s", err);
    else if (rv != 1)
        fail(c, "conditional remove of an old entry returned %d, not 1 (removed)", rv);
    if (list_find(c, old.name, NULL))
        fail(c, "an entry listed with age %lld ms survived remove(min_age_ms = %lld)",
             (long long)got.age_ms, (long long)got.age_ms);
    r_remove(c, old.name, 0, err);
    r_remove(c, fresh.name, 0, err);
}

static void t_odd_names(struct conf *c)
{
    static const char *const hosts[] = {"fe80::1", "a.b-c_d.e", "UPPER.Example.COM", "::1",
                                        "10.0.0.1"};
    struct rc_entry e[6];
    char err[CONF_ERRLEN];
    struct rc_reg_list l;
    size_t n = 0;
    int rv;

    for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++, n++) {
        memset(&e[n], 0, sizeof(e[n]));
        snprintf(e[n].name, sizeof(e[n].name), "%s_Odd-%zu@%s", c->pfx, i, hosts[i]);
    }
    /* the longest valid name: RC_NAME_MAX bytes */
    memset(&e[n], 0, sizeof(e[n]));
    snprintf(e[n].name, sizeof(e[n].name), "%s-long@", c->pfx);
    for (size_t k = strlen(e[n].name); k < RC_NAME_MAX; k++)
        e[n].name[k] = "abc.def-ghi_jkl:"[k % 16];
    e[n].name[RC_NAME_MAX] = '\0';
    if (e[n].name[RC_NAME_MAX - 1] == '@')
        e[n].name[RC_NAME_MAX - 1] = 'x';
    n++;
    for (size_t i = 0; i < n; i++) {
        if (!rc_node_name_valid(e[i].name))
            return fail(c, "test bug: %s is not valid", e[i].name);
        e[i].port = (uint16_t)(9000 + i);
        if ((rv = r_publish(c, &e[i], err)) < 0)
            return fail(c, "publish %s: %s", e[i].name, err);
    }
    if ((rv = r_list(c, &l, err)) < 0)
        return fail(c, "list: %s", err);
    for (size_t i = 0; i < n; i++) {
        const struct rc_entry *g = find(&l, e[i].name);

        if (g == NULL)
            fail(c, "%s not listed", e[i].name);
        else if (g->port != e[i].port)
            fail(c, "%s: port %u, published %u", e[i].name, g->port, e[i].port);
    }
    for (size_t i = 0; i < l.nrejects; i++)
        if (strstr(l.rejects[i].what, c->pfx) != NULL)
            fail(c, "our entry %s rejected: %s", l.rejects[i].what, l.rejects[i].reason);
    rc_reg_list_free(&l);
    for (size_t i = 0; i < n; i++)
        if ((rv = r_remove(c, e[i].name, 0, err)) < 0)
            fail(c, "remove %s: %s", e[i].name, err);
}

static void t_invalid_input(struct conf *c)
{
    struct rc_entry e;
    char err[CONF_ERRLEN];

    memset(&e, 0, sizeof(e));
    snprintf(e.name, sizeof(e.name), "no-at-sign");
    if (r_publish(c, &e, err) >= 0)
        fail(c, "publish accepted the invalid name \"no-at-sign\"");
    if (r_remove(c, "../x@y", 0, err) >= 0)
        fail(c, "remove accepted the invalid name \"../x@y\"");
}

/* ---- garbage written by someone else ---- */

struct garbage {
    int injected; /* how many unusable entries the store now holds */
    char names[8][96];
    int nnames; /* names that must not be listed */
};

static void garbage_name(struct conf *c, struct garbage *g, const char *tag)
{
    snprintf(g->names[g->nnames++], sizeof(g->names[0]), "%.40s%.50s", c->pfx, tag);
}

static int redis_raw(struct redis_ctx *rc, const char *op, int argc, const char **argv,
                     const size_t *lens, char *err)
{
    int rv = 0;
    redisReply *r;

    if (rc->c == NULL && (rv = redis_connect(rc, err, CONF_ERRLEN)) < 0)
        return rv;
    r = redis_command(rc, argc, argv, lens, op, &rv, err, CONF_ERRLEN);
    if (r == NULL)
        return rv;
    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(err, CONF_ERRLEN, "%s: %s", op, r->str);
        rv = -EIO;
    }
    freeReplyObject(r);
    return rv;
}

static int garbage_redis(struct conf *c, struct garbage *g, bool cleanup, char *err)
{
    void *v = NULL;
    struct redis_ctx *rc;
    char score[24], nodup[96], badval[96], nohash[96], big[96], badname[96];
    char *bigval;
    int rv;

    if ((rv = rc_backend_redis.open(c->url, &v, err, CONF_ERRLEN)) < 0)
        return rv;
    rc = v;
    snprintf(score, sizeof(score), "%lld", (long long)wall_ms());
    snprintf(badname, sizeof(badname), "%s bad name\x01", c->pfx);
    snprintf(badval, sizeof(badval), "%s-gbadval@h", c->pfx);
    snprintf(nohash, sizeof(nohash), "%s-gnohash@h", c->pfx);
    snprintf(big, sizeof(big), "%s-gbig@h", c->pfx);
    snprintf(nodup, sizeof(nodup), "%s-gname@h", c->pfx);
    bigval = malloc(RC_ENTRY_TEXT_MAX + 100);
    if (bigval == NULL) {
        rc_backend_redis.close(rc);
        return -ENOMEM;
    }
    memset(bigval, 'x', RC_ENTRY_TEXT_MAX + 100);
    if (!cleanup) {
        const char *members[] = {badname, badval, nohash, big, nodup};

        for (size_t i = 0; i < 5 && rv == 0; i++)
            rv = redis_raw(
                rc, "ZADD", 4, (const char *[]){"ZADD", rc->key_nodes, score, members[i]},
                (const size_t[]){4, strlen(rc->key_nodes), strlen(score), strlen(members[i])}, err);
        if (rv == 0)
            rv = redis_raw(rc, "HSET", 4, (const char *[]){"HSET", rc->key_info, badname, "x"},
                           (const size_t[]){4, strlen(rc->key_info), strlen(badname), 1}, err);
        if (rv == 0)
            rv = redis_raw(rc, "HSET", 4,
                           (const char *[]){"HSET", rc->key_info, badval, "port=99999\n\x02"},
                           (const size_t[]){4, strlen(rc->key_info), strlen(badval), 12}, err);
        if (rv == 0)
            rv = redis_raw(
                rc, "HSET", 4, (const char *[]){"HSET", rc->key_info, big, bigval},
                (const size_t[]){4, strlen(rc->key_info), strlen(big), RC_ENTRY_TEXT_MAX + 100},
                err);
        if (rv == 0)
            rv = redis_raw(rc, "HSET", 4,
                           (const char *[]){"HSET", rc->key_info, nodup, "name=other@h\n"},
                           (const size_t[]){4, strlen(rc->key_info), strlen(nodup), 13}, err);
        g->injected = 5;
        garbage_name(c, g, " bad name\x01");
        garbage_name(c, g, "-gbadval@h");
        garbage_name(c, g, "-gnohash@h");
        garbage_name(c, g, "-gbig@h");
        garbage_name(c, g, "-gname@h");
    } else {
        const char *members[] = {badname, badval, nohash, big, nodup};

        for (size_t i = 0; i < 5 && rv == 0; i++) {
            rv = redis_raw(rc, "ZREM", 3, (const char *[]){"ZREM", rc->key_nodes, members[i]},
                           (const size_t[]){4, strlen(rc->key_nodes), strlen(members[i])}, err);
            if (rv == 0)
                rv = redis_raw(rc, "HDEL", 3, (const char *[]){"HDEL", rc->key_info, members[i]},
                               (const size_t[]){4, strlen(rc->key_info), strlen(members[i])}, err);
        }
    }
    free(bigval);
    rc_backend_redis.close(rc);
    return rv;
}

static int garbage_postgres(struct conf *c, struct garbage *g, bool cleanup, char *err)
{
    void *v = NULL;
    struct pg_ctx *pc;
    char sql[2048], pat[64];
    PGresult *res;
    int rv;

    if ((rv = rc_backend_postgres.open(c->url, &v, err, CONF_ERRLEN)) < 0)
        return rv;
    pc = v;
    if ((rv = pg_connect(pc, err, CONF_ERRLEN)) < 0) {
        rc_backend_postgres.close(pc);
        return rv;
    }
    snprintf(pat, sizeof(pat), "%s%%", c->pfx);
    if (!cleanup) {
        /* a bad name, a bad host, a port out of range, a last_seen that is
         * not a finite time, a started_at that is not one either */
        snprintf(sql, sizeof(sql),
                 "INSERT INTO rollcall_nodes (cluster, name, host, port, started_at, last_seen) "
                 "VALUES "
                 "($1, $2 || ' bad name', '', 0, NULL, now()),"
                 "($1, $2 || '-gbadhost@h', 'bad host!', 0, NULL, now()),"
                 "($1, $2 || '-gbadport@h', '', 70000, NULL, now()),"
                 "($1, $2 || '-ginfseen@h', '', 0, NULL, 'infinity'),"
                 "($1, $2 || '-gnegport@h', '', -1, NULL, now())");
        res = PQexecParams(pc->conn, sql, 2, NULL, (const char *[]){pc->cluster, c->pfx}, NULL,
                           NULL, 0);
        g->injected = 5;
        garbage_name(c, g, " bad name");
        garbage_name(c, g, "-gbadhost@h");
        garbage_name(c, g, "-gbadport@h");
        garbage_name(c, g, "-ginfseen@h");
        garbage_name(c, g, "-gnegport@h");
    } else {
        snprintf(sql, sizeof(sql),
                 "DELETE FROM rollcall_nodes WHERE cluster = $1 AND name LIKE $2");
        res =
            PQexecParams(pc->conn, sql, 2, NULL, (const char *[]){pc->cluster, pat}, NULL, NULL, 0);
    }
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        snprintf(err, CONF_ERRLEN, "raw SQL: %s", PQresultErrorMessage(res));
        rv = -EIO;
    }
    PQclear(res);
    rc_backend_postgres.close(pc);
    return rv;
}

static int s3_raw(struct s3_ctx *sc, const char *method, const char *name, const char *body,
                  size_t len, char *err)
{
    char url[4096];
    struct s3_resp r;
    int rv;

    /* s3_object_url wants a valid-looking name only for length; build it by hand */
    if (s3_base(&sc->url, url, sizeof(url)) < 0)
        return -ENAMETOOLONG;
    {
        char key[2048];
        size_t bl = strlen(url);

        if (s3_key(&sc->url, name, key, sizeof(key)) < 0)
            return -ENAMETOOLONG;
        url[bl++] = '/';
        if (s3_uri_encode(key, strlen(key), true, url + bl, sizeof(url) - bl) < 0)
            return -ENAMETOOLONG;
    }
    rv = s3_http(sc, method, url, body, len, S3_ERROR_BODY_MAX, &r, method, err, CONF_ERRLEN);
    if (rv < 0)
        return rv;
    if (r.status < 200 || r.status > 299)
        rv = s3_status_error(sc, &r, method, err, CONF_ERRLEN);
    s3_resp_free(&r);
    return rv;
}

static int garbage_s3(struct conf *c, struct garbage *g, bool cleanup, char *err)
{
    void *v = NULL;
    struct s3_ctx *sc;
    char names[5][96];
    char *big;
    int rv;

    if ((rv = rc_backend_s3.open(c->url, &v, err, CONF_ERRLEN)) < 0)
        return rv;
    sc = v;
    snprintf(names[0], sizeof(names[0]), "%s bad name", c->pfx);
    snprintf(names[1], sizeof(names[1]), "%s-gbadbody@h", c->pfx);
    snprintf(names[2], sizeof(names[2]), "%s-gbig@h", c->pfx);
    snprintf(names[3], sizeof(names[3]), "%s-sub/gnested@h", c->pfx);
    snprintf(names[4], sizeof(names[4]), "%s-gname@h", c->pfx);
    big = malloc(RC_ENTRY_TEXT_MAX + 100);
    if (big == NULL) {
        rc_backend_s3.close(sc);
        return -ENOMEM;
    }
    memset(big, 'x', RC_ENTRY_TEXT_MAX + 100);
    if (!cleanup) {
        rv = s3_raw(sc, "PUT", names[0], "x\n", 2, err);
        if (rv == 0)
            rv = s3_raw(sc, "PUT", names[1], "port=1\n\x01\x02\n", 10, err);
        if (rv == 0)
            rv = s3_raw(sc, "PUT", names[2], big, RC_ENTRY_TEXT_MAX + 100, err);
        if (rv == 0)
            rv = s3_raw(sc, "PUT", names[3], "port=1\n", 7, err);
        if (rv == 0)
            rv = s3_raw(sc, "PUT", names[4], "name=other@h\n", 13, err);
        g->injected = 5;
        for (int i = 0; i < 5; i++)
            snprintf(g->names[g->nnames++], sizeof(g->names[0]), "%.95s", names[i]);
    } else {
        for (int i = 0; i < 5; i++) {
            int r2 = s3_raw(sc, "DELETE", names[i], NULL, 0, err);

            if (r2 < 0 && rv == 0)
                rv = r2;
        }
    }
    free(big);
    rc_backend_s3.close(sc);
    return rv;
}

static int garbage_file(struct conf *c, struct garbage *g, bool cleanup, char *err)
{
    char dir[PATH_MAX], path[PATH_MAX + 128];
    const char *p = c->url + 5;
    static const char *const tags[] = {" bad name", "-gbadbody@h", "-gbig@h", "-gname@h"};
    int fd;

    if (strncmp(p, "//", 2) == 0)
        p += 2 + strcspn(p + 2, "/");
    snprintf(dir, sizeof(dir), "%s", p);
    for (size_t i = 0; i < 4; i++) {
        snprintf(path, sizeof(path), "%s/%s%s", dir, c->pfx, tags[i]);
        if (cleanup) {
            unlink(path);
            continue;
        }
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) {
            snprintf(err, CONF_ERRLEN, "cannot write %.300s: %s", path, strerror(errno));
            return -errno;
        }
        if (i == 0 && write(fd, "x\n", 2) != 2)
            goto out_write;
        if (i == 1 && write(fd, "port=1\n\x01\x02\n", 10) != 10)
            goto out_write;
        if (i == 2) {
            static char big[RC_ENTRY_TEXT_MAX + 100];

            memset(big, 'x', sizeof(big));
            if (write(fd, big, sizeof(big)) != (ssize_t)sizeof(big))
                goto out_write;
        }
        if (i == 3 && write(fd, "name=other@h\n", 13) != 13)
            goto out_write;
        close(fd);
        garbage_name(c, g, tags[i]);
        g->injected++;
        continue;
    out_write:
        close(fd);
        snprintf(err, CONF_ERRLEN, "cannot write %.300s", path);
        return -EIO;
    }
    return 0;
}

static int garbage(struct conf *c, struct garbage *g, bool cleanup, char *err)
{
    if (strcmp(c->scheme, "redis") == 0)
        return garbage_redis(c, g, cleanup, err);
    if (strcmp(c->scheme, "postgres") == 0 || strcmp(c->scheme, "postgresql") == 0)
        return garbage_postgres(c, g, cleanup, err);
    if (strcmp(c->scheme, "s3") == 0)
        return garbage_s3(c, g, cleanup, err);
    if (strcmp(c->scheme, "file") == 0)
        return garbage_file(c, g, cleanup, err);
    snprintf(err, CONF_ERRLEN, "no garbage writer for scheme %s", c->scheme);
    return -ENOTSUP;
}

static void t_garbage_rejected(struct conf *c)
{
    struct garbage g = {0};
    struct rc_entry e;
    struct rc_reg_list l;
    char err[CONF_ERRLEN];
    size_t ours = 0;
    int rv;

    make_entry(c, &e, "beside-garbage", "127.0.0.1", 0);
    if ((rv = r_publish(c, &e, err)) < 0)
        return fail(c, "publish: %s", err);
    rv = garbage(c, &g, false, err);
    if (rv < 0) {
        fail(c, "writing garbage: %s", err);
        goto out_cleanup;
    }
    rv = r_list(c, &l, err);
    if (rv < 0) {
        fail(c, "list failed with garbage in the store: %s (%s)", err, strerror(-rv));
        goto out_cleanup;
    }
    if (find(&l, e.name) == NULL)
        fail(c, "our valid entry is missing beside the garbage");
    for (int i = 0; i < g.nnames; i++)
        if (find(&l, g.names[i]) != NULL)
            fail(c, "garbage entry %s was listed as valid", g.names[i]);
    for (size_t i = 0; i < l.nrejects; i++) {
        const char *w = l.rejects[i].what; /* raw: escaped once where shown */
        char shown[4 * RC_REJECT_WHAT_MAX + 8];

        rc_text_escape_cut(w, l.rejects[i].whatlen, RC_TEXT_BARE, shown, sizeof(shown));
        if (strstr(w, c->pfx) != NULL)
            ours++;
        if (l.rejects[i].whatlen == 0)
            fail(c, "a reject names nothing");
        for (const char *q = shown; *q; q++)
            if ((unsigned char)*q < ' ' || *q == 0x7f)
                fail(c, "reject's name is not escaped when shown: %s", shown);
        if (l.rejects[i].reason[0] == '\0')
            fail(c, "reject of %s has no reason", shown);
    }
    if (ours < (size_t)g.injected)
        fail(c, "%zu of our %d garbage entries rejected (want all)", ours, g.injected);
    {
        char shown[4 * RC_REJECT_WHAT_MAX + 8] = "";

        if (l.nrejects > 0)
            rc_text_escape_cut(l.rejects[0].what, l.rejects[0].whatlen, RC_TEXT_BARE, shown,
                               sizeof(shown));
        printf("FIGURE garbage: %zu rejects, e.g. \"%s\": %s\n", l.nrejects, shown,
               l.nrejects ? l.rejects[0].reason : "");
    }
    rc_reg_list_free(&l);
out_cleanup:
    if (garbage(c, &g, true, err) < 0)
        fail(c, "removing the garbage: %s", err);
    r_remove(c, e.name, 0, err);
}

static void t_bulk(struct conf *c)
{
    struct rc_entry e;
    struct rc_reg_list l;
    char err[CONF_ERRLEN];
    int64_t t0, t1, t2, t3;
    int found = 0, rv;

    t0 = mono_ms();
    for (int i = 0; i < c->bulk; i++) {
        char host[32];

        snprintf(host, sizeof(host), "10.%d.%d.%d", (i >> 16) & 255, (i >> 8) & 255, i & 255);
        make_entry(c, &e, "bulk", host, (uint16_t)(i % 60000 + 1));
        if ((rv = r_publish(c, &e, err)) < 0)
            return fail(c, "publish #%d: %s", i, err);
    }
    t1 = mono_ms();
    if ((rv = r_list(c, &l, err)) < 0)
        return fail(c, "list: %s", err);
    t2 = mono_ms();
    for (size_t i = 0; i < l.n; i++)
        if (strncmp(l.entries[i].name, c->pfx, strlen(c->pfx)) == 0 &&
            strstr(l.entries[i].name, "-bulk@") != NULL)
            found++;
    rc_reg_list_free(&l);
    if (found != c->bulk)
        fail(c, "%d of %d published entries listed", found, c->bulk);
    /* a second list: the steady-state cost */
    if ((rv = r_list(c, &l, err)) < 0)
        fail(c, "second list: %s", err);
    else
        rc_reg_list_free(&l);
    t3 = mono_ms();
    printf("FIGURE bulk: %d publishes %lld ms, first list %lld ms, second list %lld ms\n", c->bulk,
           (long long)(t1 - t0), (long long)(t2 - t1), (long long)(t3 - t2));
    for (int i = 0; i < c->bulk; i++) {
        char host[32];

        snprintf(host, sizeof(host), "10.%d.%d.%d", (i >> 16) & 255, (i >> 8) & 255, i & 255);
        make_entry(c, &e, "bulk", host, 0);
        if ((rv = r_remove(c, e.name, 0, err)) < 0)
            return fail(c, "remove #%d: %s", i, err);
    }
}

static int run_cmd(const char *cmd)
{
    int st;

    fflush(stdout);
    st = system(cmd);
    return st == -1 ? -1 : WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static void t_outage(struct conf *c)
{
    struct rc_entry e;
    struct rc_reg_list l;
    char err[CONF_ERRLEN];
    int64_t t0, took;
    int rv;

    make_entry(c, &e, "outage", "127.0.0.1", 0);
    if ((rv = r_publish(c, &e, err)) < 0)
        return fail(c, "publish before the outage: %s", err);
    if (run_cmd(c->outage_cmd) != 0)
        return fail(c, "the outage command failed: %s", c->outage_cmd);
    t0 = mono_ms();
    rv = r_list(c, &l, err);
    took = mono_ms() - t0;
    if (rv >= 0) {
        fail(c, "list with the store down returned success with %zu entries (want an error)", l.n);
        rc_reg_list_free(&l);
    } else {
        printf("FIGURE outage: list failed in %lld ms: %s\n", (long long)took, err);
    }
    if (took > 15000)
        fail(c, "list took %lld ms to fail with the store down", (long long)took);
    if ((rv = r_publish(c, &e, err)) >= 0)
        fail(c, "publish with the store down succeeded");
    if ((rv = r_remove(c, e.name, 0, err)) >= 0)
        fail(c, "remove with the store down succeeded");
    if (run_cmd(c->restore_cmd) != 0)
        return fail(c, "the restore command failed: %s", c->restore_cmd);
    /* the same handle reconnects; a store that is up but still warming up
     * (MinIO answers 503 XMinioIAMNotInitialized for a while after a restart
     * on a loaded machine) is retried as the agent's next round would */
    t0 = mono_ms();
    while ((rv = r_publish(c, &e, err)) < 0 && strstr(err, "HTTP 503") != NULL &&
           mono_ms() - t0 < 30000)
        usleep(200 * 1000);
    if (rv < 0)
        return fail(c, "publish after the store came back: %s", err);
    printf("FIGURE outage: publish succeeded %lld ms after the restore\n",
           (long long)(mono_ms() - t0));
    if (!list_find(c, e.name, NULL))
        fail(c, "entry not listed after the store came back");
    r_remove(c, e.name, 0, err);
}

/* ---- the change signal and single reads (issue 15) ---- */

#define CHANGE_WAIT_MS 25000 /* S3 polls its marker at most every 10 s */

/* watcher's changed() until it says `want` (or, for want == 0, until it
 * settles at 0), polling every 100 ms. */
static bool change_wait(struct conf *c, struct rc_registry *watcher, uint64_t *version, int want,
                        const char *what)
{
    int64_t deadline = mono_ms() + CHANGE_WAIT_MS;
    char err[CONF_ERRLEN];
    int rv;

    for (;;) {
        err[0] = '\0';
        rv = rc_registry_changed(watcher, version, err, sizeof(err));
        check_err(c, "changed", err);
        if (rv < 0) {
            fail(c, "%s: changed: %s (%s)", what, err, strerror(-rv));
            return false;
        }
        if (rv == want)
            return true;
        if (mono_ms() > deadline) {
            fail(c, "%s: changed() did not say %d within %d ms", what, want, CHANGE_WAIT_MS);
            return false;
        }
        sleep_ms(100);
    }
}

static void t_change_signal(struct conf *c)
{
    struct rc_registry *w = NULL;
    struct rc_entry e, f;
    char err[CONF_ERRLEN];
    uint64_t v = 0, v2;
    int rv;

    rv = rc_registry_open(c->url, &w, err, sizeof(err));
    if (rv < 0)
        return fail(c, "open a second handle: %s", err);
    rv = rc_registry_changed(w, &v, err, sizeof(err));
    if (rv == -ENOTSUP) {
        rc_registry_close(w);
        return fail(c, "the backend has no change signal");
    }
    if (!change_wait(c, w, &v, 0, "settle"))
        goto out;
    make_entry(c, &e, "chg", "127.0.0.1", 4370);
    if ((rv = r_publish(c, &e, err)) < 0) {
        fail(c, "publish: %s", err);
        goto out;
    }
    if (!change_wait(c, w, &v, 1, "a new entry"))
        goto out;
    if (!change_wait(c, w, &v, 0, "settle after the new entry"))
        goto out;
    /* A heartbeat (the same entry again) must not fire. S3 answers 0 between
     * its polls without asking: wait out one poll period so that it asks. */
    if ((rv = r_publish(c, &e, err)) < 0) {
        fail(c, "republish: %s", err);
        goto out;
    }
    sleep_ms(strcmp(c->scheme, "s3") == 0 ? 10500 : 1500);
    rv = rc_registry_changed(w, &v, err, sizeof(err));
    if (rv != 0) {
        fail(c, "a heartbeat (same entry) fired the change signal (%d: %s)", rv, err);
        goto out;
    }
    e.port = 4371; /* a new content is a change */
    if ((rv = r_publish(c, &e, err)) < 0 || !change_wait(c, w, &v, 1, "a changed port"))
        goto out;
    if (!change_wait(c, w, &v, 0, "settle after the port"))
        goto out;
    if ((rv = r_remove(c, e.name, 0, err)) < 0 || !change_wait(c, w, &v, 1, "a removal"))
        goto out;
    /* What a closed handle missed: a fresh handle with the old token sees it. */
    if (!change_wait(c, w, &v, 0, "settle after the removal"))
        goto out;
    rc_registry_close(w);
    w = NULL;
    make_entry(c, &f, "chg2", "127.0.0.1", 4372);
    if ((rv = r_publish(c, &f, err)) < 0) {
        fail(c, "publish while the watcher is away: %s", err);
        goto out;
    }
    if (rc_registry_open(c->url, &w, err, sizeof(err)) < 0) {
        fail(c, "reopen: %s", err);
        goto out;
    }
    v2 = v;
    rv = rc_registry_changed(w, &v2, err, sizeof(err));
    if (rv != 1)
        fail(c, "a change made while the watcher was closed was not reported on reopen (%d: %s)",
             rv, err);
    r_remove(c, f.name, 0, err);
out:
    rc_registry_close(w);
}

static void t_get_one(struct conf *c)
{
    struct rc_entry e, got;
    char err[CONF_ERRLEN], missing[RC_NAME_MAX + 1];
    int rv;

    make_entry(c, &e, "get", "127.0.0.1", 4373);
    if ((rv = r_publish(c, &e, err)) < 0)
        return fail(c, "publish: %s", err);
    memset(&got, 0, sizeof(got));
    err[0] = '\0';
    rv = rc_registry_get(c->reg, e.name, &got, err, sizeof(err));
    check_err(c, "get", err);
    if (rv < 0) {
        fail(c, "get: %s (%s)", err, strerror(-rv));
    } else {
        if (strcmp(got.name, e.name) != 0 || strcmp(got.host, e.host) != 0 || got.port != e.port)
            fail(c, "get returned %s %s:%u, published %s %s:%u", got.name, got.host, got.port,
                 e.name, e.host, e.port);
        if (got.age_ms < 0 || got.age_ms > 5000)
            fail(c, "get: age %lld ms right after publish (want 0..5000)", (long long)got.age_ms);
    }
    snprintf(missing, sizeof(missing), "%s-nosuch@127.0.0.1", c->pfx);
    rv = rc_registry_get(c->reg, missing, &got, err, sizeof(err));
    if (rv != -ENOENT)
        fail(c, "get of a missing entry: %d (want -ENOENT)", rv);
    r_remove(c, e.name, 0, err);
}

/* A wrong password: the call fails and err holds neither password. */
static void t_wrong_password(struct conf *c)
{
    char url[2048], err[CONF_ERRLEN];
    const char *p = strstr(c->url, "://"), *auth, *end, *at = NULL, *colon;
    struct rc_registry *r = NULL;
    struct rc_reg_list l;
    int rv;

    if (p == NULL)
        return;
    auth = p + 3;
    end = auth + strcspn(auth, "/?#");
    for (const char *q = auth; q < end; q++)
        if (*q == '@')
            at = q;
    colon = at != NULL ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
    if (colon == NULL) {
        snprintf(c->skip, sizeof(c->skip), "the URL has no password");
        return;
    }
    snprintf(url, sizeof(url), "%.*sWrongPassw0rd%s", (int)(colon + 1 - c->url), c->url, at);
    add_secret(c, "WrongPassw0rd", 13);
    rv = rc_registry_open(url, &r, err, sizeof(err));
    check_err(c, "open (wrong password)", err);
    if (rv < 0)
        return; /* refused at open: fine, err checked */
    err[0] = '\0';
    rv = rc_registry_list(r, &l, err, sizeof(err));
    check_err(c, "list (wrong password)", err);
    if (rv >= 0) {
        fail(c, "list with a wrong password succeeded");
        rc_reg_list_free(&l);
    } else if (rv != -EACCES) {
        printf("note - wrong_password: list failed with %s (not EACCES): %s\n", strerror(-rv), err);
    }
    rc_registry_close(r);
}

/* A URL with an unknown parameter is refused at open, without the secret in err. */
static void t_bad_url(struct conf *c)
{
    char url[2048], err[CONF_ERRLEN];
    struct rc_registry *r = NULL;
    int rv;

    if (strcmp(c->scheme, "file") == 0)
        snprintf(url, sizeof(url), "%s?bogus=1", c->url);
    else
        snprintf(url, sizeof(url), "%s%sbogus_param=1", c->url, strchr(c->url, '?') ? "&" : "?");
    rv = rc_registry_open(url, &r, err, sizeof(err));
    check_err(c, "open (bad URL)", err);
    if (rv >= 0) {
        /* libpq refuses unknown parameters only when it connects */
        struct rc_reg_list l;

        err[0] = '\0';
        rv = rc_registry_list(r, &l, err, sizeof(err));
        check_err(c, "list (bad URL)", err);
        if (rv >= 0) {
            fail(c, "a URL with an unknown parameter worked");
            rc_reg_list_free(&l);
        }
        rc_registry_close(r);
    }
    if (err[0] == '\0')
        fail(c, "no reason given for the bad URL");
}

/* postgres: concurrent first starts on an empty schema all succeed. */
static void t_pg_concurrent_create(struct conf *c)
{
    enum { N = 8 };
    char schema[64], url[2048], err[CONF_ERRLEN], sql[256];
    void *v = NULL;
    struct pg_ctx *pc;
    pid_t kids[N];
    int bad = 0, rv;

    snprintf(schema, sizeof(schema), "conformance_%d", (int)getpid());
    if ((rv = rc_backend_postgres.open(c->url, &v, err, sizeof(err))) < 0)
        return fail(c, "open: %s", err);
    pc = v;
    if ((rv = pg_connect(pc, err, sizeof(err))) < 0) {
        rc_backend_postgres.close(pc);
        return fail(c, "connect: %s", err);
    }
    snprintf(sql, sizeof(sql), "CREATE SCHEMA %s", schema);
    if (pg_exec_simple(pc, sql, PGRES_COMMAND_OK, "create schema", err, sizeof(err)) < 0) {
        rc_backend_postgres.close(pc);
        return fail(c, "%s", err);
    }
    snprintf(url, sizeof(url), "%s%soptions=-csearch_path%%3D%s", c->url,
             strchr(c->url, '?') ? "&" : "?", schema);
    for (int i = 0; i < N; i++) {
        kids[i] = fork();
        if (kids[i] == 0) {
            struct rc_registry *r;
            struct rc_entry e;
            char kerr[CONF_ERRLEN];

            if (rc_registry_open(url, &r, kerr, sizeof(kerr)) < 0) {
                fprintf(stderr, "child open: %s\n", kerr);
                _exit(1);
            }
            make_entry(c, &e, "race", "127.0.0.1", (uint16_t)(i + 1));
            snprintf(e.name, sizeof(e.name), "%s-race%d@127.0.0.1", c->pfx, i);
            if (rc_registry_publish(r, &e, kerr, sizeof(kerr)) < 0) {
                fprintf(stderr, "child publish: %s\n", kerr);
                _exit(1);
            }
            rc_registry_close(r);
            _exit(0);
        }
    }
    for (int i = 0; i < N; i++) {
        int st;

        if (kids[i] < 0 || waitpid(kids[i], &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            bad++;
    }
    if (bad > 0)
        fail(c, "%d of %d concurrent first starts failed", bad, N);
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s.rollcall_nodes", schema);
    {
        PGresult *res = PQexec(pc->conn, sql);

        if (PQresultStatus(res) != PGRES_TUPLES_OK || atoi(PQgetvalue(res, 0, 0)) != N)
            fail(c, "after the race the new table holds %s rows (want %d)",
                 PQresultStatus(res) == PGRES_TUPLES_OK ? PQgetvalue(res, 0, 0) : "?", N);
        PQclear(res);
    }
    /* a table dropped under a connected registry is created again by its next call */
    {
        struct rc_registry *r;
        struct rc_entry e;
        char e2[CONF_ERRLEN];

        if (rc_registry_open(url, &r, e2, sizeof(e2)) < 0) {
            fail(c, "open: %s", e2);
        } else {
            make_entry(c, &e, "dropped", "127.0.0.1", 0);
            if (rc_registry_publish(r, &e, e2, sizeof(e2)) < 0)
                fail(c, "publish: %s", e2);
            snprintf(sql, sizeof(sql), "DROP TABLE %s.rollcall_nodes", schema);
            if (pg_exec_simple(pc, sql, PGRES_COMMAND_OK, "drop table", e2, sizeof(e2)) < 0)
                fail(c, "%s", e2);
            else if (rc_registry_publish(r, &e, e2, sizeof(e2)) < 0)
                fail(c, "publish after the table was dropped: %s (want it created again)", e2);
            rc_registry_close(r);
        }
    }
    snprintf(sql, sizeof(sql), "DROP SCHEMA %s CASCADE", schema);
    pg_exec_simple(pc, sql, PGRES_COMMAND_OK, "drop schema", err, sizeof(err));
    rc_backend_postgres.close(pc);
}

/* redis / postgres: a restarted server (connections cut) is reconnected
 * transparently by the next call. */
static void t_reconnect(struct conf *c)
{
    struct rc_entry e;
    char err[CONF_ERRLEN];
    int rv;

    make_entry(c, &e, "reconnect", "127.0.0.1", 0);
    if ((rv = r_publish(c, &e, err)) < 0)
        return fail(c, "publish: %s", err);
    if (strcmp(c->scheme, "redis") == 0) {
        void *v = NULL;
        struct redis_ctx *rc;

        if (rc_backend_redis.open(c->url, &v, err, sizeof(err)) < 0)
            return fail(c, "open: %s", err);
        rc = v;
        /* cut every other client, as a restart would; also forget our scripts */
        redis_raw(rc, "CLIENT KILL", 4, (const char *[]){"CLIENT", "KILL", "SKIPME", "yes"},
                  (const size_t[]){6, 4, 6, 3}, err);
        redis_raw(rc, "SCRIPT FLUSH", 2, (const char *[]){"SCRIPT", "FLUSH"},
                  (const size_t[]){6, 5}, err);
        rc_backend_redis.close(rc);
    } else {
        void *v = NULL;
        struct pg_ctx *pc;

        if (rc_backend_postgres.open(c->url, &v, err, sizeof(err)) < 0 ||
            pg_connect(v, err, sizeof(err)) < 0) {
            rc_backend_postgres.close(v);
            return fail(c, "open: %s", err);
        }
        pc = v;
        pg_exec_simple(pc,
                       "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                       "application_name = 'rollcall' AND pid <> pg_backend_pid()",
                       PGRES_TUPLES_OK, "terminate", err, sizeof(err));
        rc_backend_postgres.close(pc);
    }
    if ((rv = r_publish(c, &e, err)) < 0)
        fail(c, "publish after the connection was cut: %s (want a transparent reconnect)", err);
    if (!list_find(c, e.name, NULL))
        fail(c, "not listed after reconnect");
    r_remove(c, e.name, 0, err);
}

/* redis: script digests come from SCRIPT LOAD; a user refused the SCRIPT
 * command gets EVAL instead. Whichever way this handle went, the server must
 * agree: the digests are in its script cache, or SCRIPT LOAD really is
 * refused to this user (run-conformance.sh runs both users). */
static void t_redis_scripts(struct conf *c)
{
    struct redis_ctx *rc = c->reg->ctx;
    const int used[] = {REDIS_SCRIPT_PUBLISH, REDIS_SCRIPT_LIST};
    struct rc_entry e;
    char err[CONF_ERRLEN];
    redisReply *r;
    int rv = 0;

    make_entry(c, &e, "scripts", "127.0.0.1", 0);
    if (r_publish(c, &e, err) < 0)
        return fail(c, "publish: %s", err);
    if (!list_find(c, e.name, NULL))
        return fail(c, "not listed");
    r_remove(c, e.name, 0, err);
    if (rc->script_load_refused) {
        for (int i = 0; i < REDIS_NSCRIPTS; i++)
            if (rc->sha[i][0] != '\0')
                return fail(c, "script %d has a digest although SCRIPT LOAD was refused", i);
        rv = redis_raw(rc, "SCRIPT LOAD", 3, (const char *[]){"SCRIPT", "LOAD", "return 1"},
                       (const size_t[]){6, 4, 8}, err);
        if (rv != -EIO || strstr(err, "NOPERM") == NULL)
            return fail(c, "the backend fell back to EVAL, but this user may SCRIPT LOAD (%s)",
                        rv == 0 ? "it worked" : err);
        printf("# SCRIPT LOAD refused to this user: scripts went by EVAL\n");
        return;
    }
    for (size_t k = 0; k < sizeof(used) / sizeof(used[0]); k++) {
        const char *sha = rc->sha[used[k]];

        if (strlen(sha) != 40 || strspn(sha, "0123456789abcdef") != 40)
            return fail(c, "script %d has no digest after use: \"%s\"", used[k], sha);
        if (rc->c == NULL && (rv = redis_connect(rc, err, CONF_ERRLEN)) < 0)
            return fail(c, "connect: %s", err);
        r = redis_command(rc, 3, (const char *[]){"SCRIPT", "EXISTS", sha},
                          (const size_t[]){6, 6, 40}, "SCRIPT EXISTS", &rv, err, CONF_ERRLEN);
        if (r == NULL)
            return fail(c, "SCRIPT EXISTS: %s", err);
        bool known = r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
                     r->element[0]->type == REDIS_REPLY_INTEGER && r->element[0]->integer == 1;
        freeReplyObject(r);
        if (!known)
            return fail(c, "the server does not know script %d by the digest %s", used[k], sha);
    }
    printf("# script digests from SCRIPT LOAD, known to the server\n");
}

/* s3: the steady state costs one request, bodies are fetched only when their
 * ETag changes; checked by timing is unreliable, so by an ETag-stable body:
 * re-publishing the same entry must not change the listed values. */
static void t_s3_stable_body(struct conf *c)
{
    struct rc_entry e, got;
    char err[CONF_ERRLEN];
    int rv;

    make_entry(c, &e, "etag", "127.0.0.1", 1234);
    if ((rv = r_publish(c, &e, err)) < 0)
        return fail(c, "publish: %s", err);
    if (!list_find(c, e.name, &got))
        return fail(c, "not listed");
    e.port = 4321; /* a changed body must be noticed despite the cache */
    if ((rv = r_publish(c, &e, err)) < 0)
        return fail(c, "publish: %s", err);
    if (!list_find(c, e.name, &got))
        return fail(c, "not listed after the change");
    if (got.port != 4321)
        fail(c, "port %u after re-publishing with 4321: a stale cached body", got.port);
    r_remove(c, e.name, 0, err);
}

struct check {
    const char *name;
    void (*fn)(struct conf *);
    const char *only; /* scheme list, NULL = all */
};

static const struct check checks[] = {
    {"publish_then_list", t_publish_list, NULL},
    {"remove_then_gone", t_remove, NULL},
    {"remove_missing_is_ok", t_remove_missing, NULL},
    {"invalid_names_refused", t_invalid_input, NULL},
    {"republish_refreshes_and_idle_ages", t_republish_refreshes, NULL},
    {"conditional_remove", t_conditional_remove, NULL},
    {"odd_but_valid_names", t_odd_names, NULL},
    {"garbage_rejected_not_fatal", t_garbage_rejected, NULL},
    {"bulk_publish_list", t_bulk, NULL},
    {"bad_url_refused", t_bad_url, NULL},
    {"wrong_password", t_wrong_password, "redis postgres postgresql s3"},
    {"reconnect_after_cut", t_reconnect, "redis postgres postgresql"},
    {"redis_script_digests", t_redis_scripts, "redis"},
    {"pg_concurrent_first_start", t_pg_concurrent_create, "postgres postgresql"},
    {"s3_changed_body_seen", t_s3_stable_body, "s3"},
    {"change_signal", t_change_signal, NULL},
    {"get_one_entry", t_get_one, NULL},
    {"outage_is_an_error", t_outage, NULL},
};

static bool scheme_in(const char *scheme, const char *list)
{
    size_t n = strlen(scheme);

    for (const char *p = list; (p = strstr(p, scheme)) != NULL; p += n)
        if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
            return true;
    return false;
}

static void usage(void)
{
    fprintf(stderr, "usage: conformance [--outage-cmd CMD --restore-cmd CMD] [--bulk N] "
                    "[--only NAME] URL\n");
    exit(2);
}

int main(int argc, char **argv)
{
    struct conf c = {0};
    char err[CONF_ERRLEN], masked[1024];
    const char *only = NULL;
    int rv;

    c.bulk = 1000;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--outage-cmd") == 0 && i + 1 < argc)
            c.outage_cmd = argv[++i];
        else if (strcmp(argv[i], "--restore-cmd") == 0 && i + 1 < argc)
            c.restore_cmd = argv[++i];
        else if (strcmp(argv[i], "--bulk") == 0 && i + 1 < argc)
            c.bulk = atoi(argv[++i]);
        else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc)
            only = argv[++i];
        else if (argv[i][0] == '-' || c.url != NULL)
            usage();
        else
            c.url = argv[i];
    }
    if (c.url == NULL || (c.outage_cmd == NULL) != (c.restore_cmd == NULL))
        usage();
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* hiredis 0.14 writes with write(2): a server gone away means SIGPIPE,
     * which any program using the redis backend ignores (the agent does) */
    signal(SIGPIPE, SIG_IGN);
    snprintf(c.scheme, sizeof(c.scheme), "%.*s", (int)strcspn(c.url, ":"), c.url);
    for (char *p = c.scheme; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    snprintf(c.pfx, sizeof(c.pfx), "c%d", (int)getpid());
    collect_secrets(&c);
    rc_registry_mask_url(c.url, masked, sizeof(masked));
    printf("conformance: %s (entries named %s-*)\n", masked, c.pfx);

    rv = rc_registry_open(c.url, &c.reg, err, sizeof(err));
    c.test = "open";
    check_err(&c, "open", err);
    if (rv < 0) {
        printf("FAIL - open: %s (%s)\n", err, strerror(-rv));
        printf("0 passed, 1 failed\n");
        return 1;
    }
    for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
        const struct check *k = &checks[i];
        int64_t t0;

        if (only != NULL && strstr(k->name, only) == NULL)
            continue;
        if (k->only != NULL && !scheme_in(c.scheme, k->only))
            continue;
        if (k->fn == t_outage && c.outage_cmd == NULL) {
            printf("skip - %s: no --outage-cmd given (the agent-level tests cover it)\n", k->name);
            continue;
        }
        c.test = k->name;
        c.why[0] = c.skip[0] = '\0';
        t0 = mono_ms();
        k->fn(&c);
        if (c.why[0] == '\0' && c.skip[0] != '\0') {
            printf("skip - %s: %s\n", k->name, c.skip);
        } else if (c.why[0] == '\0') {
            c.passed++;
            printf("ok - %s (%lld ms)\n", k->name, (long long)(mono_ms() - t0));
        } else {
            c.failed++;
            printf("FAIL - %s: %s\n", k->name, c.why);
        }
    }
    rc_registry_close(c.reg);
    printf("%d passed, %d failed\n", c.passed, c.failed);
    return c.failed == 0 && c.passed > 0 ? 0 : 1;
}

/*
 * redis.c - the Redis registry backend (hiredis 0.14):
 *
 *   redis://[USER[:PASSWORD]@]HOST[:PORT][/DB][?cluster=NAME&timeout=2s]
 *
 * Layout, one hash tag per cluster so every key of a cluster lives in one
 * slot and the scripts stay legal on a Redis Cluster primary:
 *
 *   rollcall:{NAME}:nodes   sorted set, member = node name, score = the
 *                           server's TIME in ms at the last publish
 *   rollcall:{NAME}:info    hash, field = node name, value = the entry text
 *                           (entry.c) without its refresh-time line
 *   rollcall:{NAME}:version counter, INCRed by publish when an entry is new
 *                           or its text changed and by remove when it
 *                           removed one; also the pub/sub channel on which
 *                           the new value is PUBLISHed (issue 15)
 *
 * Change signal (`changed`): a second connection SUBSCRIBEd to the version
 * channel, read without blocking (poll with a zero timeout) once per
 * interval: no request while nothing changes. On (re)subscribing, one GET
 * of the version tells what the dropped subscription missed. A heartbeat
 * (publish with the same text) bumps nothing.
 *
 * Every operation is one Lua script (EVALSHA with the digest the server gave
 * for SCRIPT LOAD, EVAL on NOSCRIPT, which also covers a restarted or flushed
 * server) that reads redis.call('TIME'), so
 * ages are judged on the server's clock and the conditional remove is
 * atomic. list returns [now, count, name, age, value, name, age, value...];
 * the script caps the bytes it returns so garbage written by someone else
 * cannot make the reply unbounded. No KEYS, no SCAN.
 *
 * Connections: open() only parses the URL; the first call connects (connect
 * timeout, then redisSetTimeout for commands, TCP keepalive, AUTH, SELECT).
 * After any I/O error the context is freed and the next call reconnects; a
 * call that fails on a connection it reused (the server restarted since)
 * reconnects and retries once, since every script is idempotent.
 *
 * Pure parts (URL parsing, row decoding) are plain functions of bytes; the
 * unit tests and fuzzers (tests/unit/test_redis.c, tests/fuzz/) reach them
 * through redis_int.h. Never logs; err never holds the password.
 * A ctx serves one thread at a time.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <poll.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>

#include "rollcall/duration.h"
#include "rollcall/err.h"
#include "rollcall/backend.h"
#include "rollcall/url.h"

#include "redis_int.h"

/* ---- URL ---- */

/* Cluster names become part of a key and of its hash tag: no '{', '}'. */
bool redis_cluster_valid(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > REDIS_CLUSTER_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return false;
    }
    return true;
}

/* ?cluster=NAME&timeout=DURATION into u. */
static int redis_url_query(struct rc_url_span q, struct redis_url *u, char *err, size_t errlen)
{
    const char *p = q.p, *end = q.p + q.len;

    while (p < end) {
        size_t plen = strcspn(p, "&#");
        const char *eq = memchr(p, '=', plen);
        size_t klen = eq != NULL ? (size_t)(eq - p) : plen;
        const char *v = eq != NULL ? eq + 1 : p + plen;
        size_t vlen = (size_t)(p + plen - v);
        char val[128];

        if (plen == 0) {
            p++;
            continue;
        }
        if (rc_url_decode_str(v, vlen, val, sizeof(val)) < 0) {
            rc_seterr(err, errlen, "redis URL: bad value for %.*s=", (int)(klen > 32 ? 32 : klen),
                      p);
            return -EINVAL;
        }
        if (klen == 7 && memcmp(p, "cluster", 7) == 0) {
            if (!redis_cluster_valid(val)) {
                rc_seterr(err, errlen, "redis URL: cluster= must be 1..%d of [A-Za-z0-9_.-]",
                          REDIS_CLUSTER_MAX);
                return -EINVAL;
            }
            memcpy(u->cluster, val, strlen(val) + 1);
        } else if (klen == 7 && memcmp(p, "timeout", 7) == 0) {
            uint64_t ms;

            if (rc_duration_from_text(val, strlen(val), &ms) < 0 || ms < REDIS_TIMEOUT_MIN_MS ||
                ms > REDIS_TIMEOUT_MAX_MS) {
                rc_seterr(err, errlen,
                          "redis URL: timeout= must be a duration of %dms..%ds (" RC_DURATION_HINT
                          ")",
                          REDIS_TIMEOUT_MIN_MS, REDIS_TIMEOUT_MAX_MS / 1000);
                return -EINVAL;
            }
            u->timeout_ms = (int)ms;
        } else {
            /* Key names are not secrets; values may be. */
            rc_seterr(err, errlen,
                      "redis URL: unknown parameter \"%.*s\" (known: cluster, timeout)",
                      (int)(klen > 32 ? 32 : klen), p);
            return -EINVAL;
        }
        p += plen;
        if (p < end && *p == '&')
            p++;
    }
    return 0;
}

/*
 * Parses a redis:// URL, split by rc_url_split. Pure: the environment
 * (REDISCLI_AUTH) is the caller's business. err never contains the password.
 */
int redis_url_parse(const char *url, struct redis_url *ret, char *err, size_t errlen)
{
    struct redis_url u;
    struct rc_url_parts parts;
    int rv;

    memset(&u, 0, sizeof(u));
    u.port = REDIS_DEFAULT_PORT;
    u.timeout_ms = REDIS_DEFAULT_TIMEOUT_MS;
    snprintf(u.cluster, sizeof(u.cluster), "%s", REDIS_DEFAULT_CLUSTER);

    if (url == NULL || strncasecmp(url, "redis://", 8) != 0) {
        rc_seterr(err, errlen, "not a redis:// URL");
        return -EINVAL;
    }
    if (rc_url_split(url, &parts) < 0) {
        /* the scheme is there: an unterminated "[v6", or "[v6]" not followed by ":PORT" */
        rc_seterr(err, errlen,
                  "redis URL: bad [IPv6] host (unterminated, or not followed by :PORT)");
        return -EINVAL;
    }
    if (parts.user.len > 0) {
        if (rc_url_decode_str(parts.user.p, parts.user.len, u.user, sizeof(u.user)) < 0) {
            rc_seterr(err, errlen, "redis URL: bad user name");
            return -EINVAL;
        }
        u.have_user = true;
    }
    if (parts.has_password) {
        if (rc_url_decode_str(parts.password.p, parts.password.len, u.password,
                              sizeof(u.password)) < 0) {
            rc_seterr(err, errlen, "redis URL: bad password (bad %%-escape or too long)");
            return -EINVAL;
        }
        u.have_password = u.password[0] != '\0';
    }

    /* host: [v6] or name, then :port */
    if (parts.host.len > RC_HOST_MAX) {
        rc_seterr(err, errlen, "redis URL: host name too long");
        return -EINVAL;
    }
    if ((parts.host_bracketed && parts.host.len == 0) ||
        rc_url_decode_str(parts.host.p != NULL ? parts.host.p : "", parts.host.len, u.host,
                          sizeof(u.host)) < 0) {
        rc_seterr(err, errlen, "redis URL: bad host");
        return -EINVAL;
    }
    for (const char *c = u.host; *c != '\0'; c++) {
        if ((unsigned char)*c <= ' ' || *c == 0x7f || *c == '/' || *c == '@') {
            rc_seterr(err, errlen, "redis URL: bad host");
            return -EINVAL;
        }
    }
    if (u.host[0] == '\0')
        snprintf(u.host, sizeof(u.host), "127.0.0.1");
    if (parts.has_port) {
        unsigned port;

        if (rc_url_port(parts.port, &port) < 0 || port == 0) {
            rc_seterr(err, errlen, "redis URL: bad port (must be 1..65535)");
            return -EINVAL;
        }
        u.port = (uint16_t)port;
    }

    /* /db */
    if (parts.path.len > 0) {
        long db = 0;

        for (size_t i = 1; i < parts.path.len; i++) {
            char c = parts.path.p[i];

            if (c < '0' || c > '9' || db > 100000000) {
                rc_seterr(err, errlen, "redis URL: the path must be a database number");
                return -EINVAL;
            }
            db = db * 10 + (c - '0');
        }
        u.db = (int)db;
    }

    if (parts.has_query) {
        rv = redis_url_query(parts.query, &u, err, errlen);
        if (rv < 0)
            return rv;
    }
    if (parts.has_fragment) {
        rc_seterr(err, errlen, "redis URL: no fragment (#) allowed");
        return -EINVAL;
    }
    *ret = u;
    return 0;
}

/* ---- rows ---- */

/*
 * Decodes one row of list's reply: the member name, its age on the server's
 * clock, the server's now and the hash value. Pure. -EPROTO with a reason in
 * why for anything someone else may have written badly.
 */
int redis_decode_row(const char *name, size_t namelen, long long age_ms, long long now_ms,
                     enum redis_value vkind, const char *value, size_t valuelen,
                     struct rc_entry *ret, char *why, size_t whylen)
{
    char nm[RC_NAME_MAX + 1];
    struct rc_entry e;
    int rv;

    if (namelen > RC_NAME_MAX || memchr(name, '\0', namelen) != NULL) {
        rc_seterr(why, whylen, "not a valid node name");
        return -EPROTO;
    }
    memcpy(nm, name, namelen);
    nm[namelen] = '\0';
    if (!rc_node_name_valid(nm)) {
        rc_seterr(why, whylen, "not a valid node name");
        return -EPROTO;
    }
    if (vkind == REDIS_VALUE_MISSING) {
        rc_seterr(why, whylen, "no details in the info hash");
        return -EPROTO;
    }
    if (vkind == REDIS_VALUE_OVER_BUDGET) {
        rc_seterr(why, whylen, "not read: the list reply is capped at %d bytes", REDIS_LIST_BUDGET);
        return -EPROTO;
    }
    if (vkind != REDIS_VALUE_TEXT || valuelen > RC_ENTRY_TEXT_MAX) {
        rc_seterr(why, whylen, "details larger than %d bytes", RC_ENTRY_TEXT_MAX);
        return -EPROTO;
    }
    rv = rc_entry_parse(value, valuelen, nm, &e, why, whylen);
    if (rv < 0)
        return rv;
    if (age_ms < 0)
        age_ms = 0;
    e.age_ms = age_ms;
    /* The refresh time is the score (the server's TIME), not a claim in the text. */
    e.updated_at_ms = now_ms - age_ms;
    *ret = e;
    return 0;
}

/* ---- scripts ---- */

/* Lua numbers are doubles: ms since 1970 fit exactly (< 2^53). Redis >= 5
 * replicates script effects, so writes after TIME are legal; on 3.2/4 the
 * replicate_commands() call makes them so. */
#define REDIS_LUA_NOW                                                                              \
    "if redis.replicate_commands then redis.replicate_commands() end\n"                            \
    "local t = redis.call('TIME')\n"                                                               \
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"

/* KEYS: nodes, info, version. ARGV: name, text. Returns the server's now in
 * ms. A new entry or a new text bumps and publishes the version. */
static const char redis_lua_publish[] =
    REDIS_LUA_NOW "local old = redis.call('HGET', KEYS[2], ARGV[1])\n"
                  "redis.call('ZADD', KEYS[1], now, ARGV[1])\n"
                  "if old ~= ARGV[2] then\n"
                  "  redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])\n"
                  "  redis.call('PUBLISH', KEYS[3], redis.call('INCR', KEYS[3]))\n"
                  "end\n"
                  "return now\n";

/* KEYS: nodes, info. ARGV: max entries, max value bytes, byte budget.
 * Returns {now, count, name, age, value, ...}; value is the text, false
 * when the hash has none, its length when it is too large, minus its length
 * when the reply's byte budget is spent. */
static const char redis_lua_list[] =
    REDIS_LUA_NOW "local max = tonumber(ARGV[1])\n"
                  "local maxval = tonumber(ARGV[2])\n"
                  "local budget = tonumber(ARGV[3])\n"
                  "local z = redis.call('ZRANGE', KEYS[1], 0, max, 'WITHSCORES')\n"
                  "local out = {now, redis.call('ZCARD', KEYS[1])}\n"
                  "for i = 1, #z, 2 do\n"
                  "  local name = z[i]\n"
                  "  if #name > 300 then name = string.sub(name, 1, 300) end\n"
                  "  local age = now - tonumber(z[i + 1])\n"
                  "  if age < 0 then age = 0 elseif age > 4e15 then age = 4e15 end\n"
                  "  local v = redis.call('HGET', KEYS[2], z[i])\n"
                  "  budget = budget - #name\n"
                  "  if v then\n"
                  "    if #v > maxval then v = #v elseif #v > budget then v = -#v\n"
                  "    else budget = budget - #v end\n"
                  "  end\n"
                  "  out[#out + 1] = name\n"
                  "  out[#out + 1] = age\n"
                  "  out[#out + 1] = v\n"
                  "end\n"
                  "return out\n";

/* KEYS: nodes, info, version. ARGV: name, min age in ms (0 = always).
 * Returns 1 if this call removed it, 0 if it was absent or kept because it
 * is fresher. A removal bumps and publishes the version. */
static const char redis_lua_remove[] =
    REDIS_LUA_NOW "local min = tonumber(ARGV[2])\n"
                  "if min > 0 then\n"
                  "  local s = redis.call('ZSCORE', KEYS[1], ARGV[1])\n"
                  "  if s and now - tonumber(s) < min then return 0 end\n"
                  "end\n"
                  "local gone = redis.call('ZREM', KEYS[1], ARGV[1])\n"
                  "gone = gone + redis.call('HDEL', KEYS[2], ARGV[1])\n"
                  "if gone > 0 then\n"
                  "  redis.call('PUBLISH', KEYS[3], redis.call('INCR', KEYS[3]))\n"
                  "  return 1\n"
                  "end\n"
                  "return 0\n";

/* KEYS: nodes, info. ARGV: name, max value bytes. Returns {now} when there
 * is no such member, else {now, age, value} with value as in list (false
 * when the hash has none, its length when too large). */
static const char redis_lua_get[] =
    REDIS_LUA_NOW "local s = redis.call('ZSCORE', KEYS[1], ARGV[1])\n"
                  "if not s then return {now} end\n"
                  "local age = now - tonumber(s)\n"
                  "if age < 0 then age = 0 elseif age > 4e15 then age = 4e15 end\n"
                  "local v = redis.call('HGET', KEYS[2], ARGV[1])\n"
                  "if v and #v > tonumber(ARGV[2]) then v = #v end\n"
                  "return {now, age, v}\n";

static const char *const redis_scripts[REDIS_NSCRIPTS] = {
    redis_lua_publish,
    redis_lua_list,
    redis_lua_remove,
    redis_lua_get,
};

/* ---- the backend ---- */

static void redis_drop(struct redis_ctx *ctx)
{
    if (ctx->c != NULL) {
        redisFree(ctx->c);
        ctx->c = NULL;
    }
}

/* A SCRIPT LOAD reply we accept: a string of exactly 40 hex digits. */
bool redis_sha_reply_ok(int type, const char *s, size_t len)
{
    if ((type != REDIS_REPLY_STRING && type != REDIS_REPLY_STATUS) || s == NULL || len != 40)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (rc_hexval(s[i]) < 0)
            return false;
    }
    return true;
}

static void redis_where(const struct redis_ctx *ctx, char *out, size_t outlen)
{
    if (strchr(ctx->url.host, ':') != NULL)
        snprintf(out, outlen, "[%s]:%u", ctx->url.host, (unsigned)ctx->url.port);
    else
        snprintf(out, outlen, "%s:%u", ctx->url.host, (unsigned)ctx->url.port);
}

/* A negative errno for the I/O error on c (hiredis keeps only a string). */
static int redis_io_errno(const redisContext *c, int saved_errno)
{
    if (c->err == REDIS_ERR_EOF)
        return -ECONNRESET;
    if (c->err == REDIS_ERR_OOM)
        return -ENOMEM;
    if (c->err == REDIS_ERR_PROTOCOL)
        return -EPROTO;
    if (c->err == REDIS_ERR_IO && saved_errno != 0)
        return saved_errno == EAGAIN || saved_errno == EWOULDBLOCK || saved_errno == EINPROGRESS
                   ? -ETIMEDOUT
                   : -saved_errno;
    if (strstr(c->errstr, "timed out") != NULL)
        return -ETIMEDOUT;
    return -EIO;
}

/*
 * Turns a server error reply into an errno and a message. MOVED/ASK mean the
 * URL points at a cluster node that does not own our slot.
 */
int redis_reply_error(const struct redis_ctx *ctx, const redisReply *r, const char *op, char *err,
                      size_t errlen)
{
    char where[RC_HOST_MAX + 16];
    int len = r->len > 200 ? 200 : (int)r->len;

    redis_where(ctx, where, sizeof(where));
    if (strncmp(r->str, "MOVED ", 6) == 0 || strncmp(r->str, "ASK ", 4) == 0) {
        const char *slot = strchr(r->str, ' ') + 1;
        int slen = (int)strspn(slot, "0123456789");

        rc_seterr(err, errlen,
                  "redis cluster redirected (%.*s): point the URL at the primary holding "
                  "slot %.*s",
                  len, r->str, slen, slot);
        return -EREMOTEIO;
    }
    if (strncmp(r->str, "NOAUTH", 6) == 0 || strncmp(r->str, "WRONGPASS", 9) == 0 ||
        strncmp(r->str, "NOPERM", 6) == 0 || strncmp(r->str, "ERR invalid password", 20) == 0 ||
        strncmp(r->str, "ERR AUTH", 8) == 0) {
        rc_seterr(err, errlen, "redis %s at %s: %.*s", op, where, len, r->str);
        return -EACCES;
    }
    if (strncmp(r->str, "READONLY", 8) == 0) {
        rc_seterr(err, errlen,
                  "redis %s at %s: the server is a read-only replica; point the URL at the "
                  "primary",
                  op, where);
        return -EROFS;
    }
    rc_seterr(err, errlen, "redis %s at %s: %.*s", op, where, len, r->str);
    if (strncmp(r->str, "LOADING", 7) == 0 || strncmp(r->str, "BUSY", 4) == 0 ||
        strncmp(r->str, "TRYAGAIN", 8) == 0 || strncmp(r->str, "CLUSTERDOWN", 11) == 0)
        return -EAGAIN;
    return -EREMOTEIO;
}

/*
 * Sends one command. On an I/O error drops the connection and returns NULL
 * with *ret_rv and err set; a server error reply is returned as a reply.
 */
redisReply *redis_command(struct redis_ctx *ctx, int argc, const char **argv, const size_t *lens,
                          const char *op, int *ret_rv, char *err, size_t errlen)
{
    redisReply *r = NULL;
    char where[RC_HOST_MAX + 16];

    errno = 0;
    r = redisCommandArgv(ctx->c, argc, argv, lens);
    if (r == NULL) {
        int rv = redis_io_errno(ctx->c, errno);

        redis_where(ctx, where, sizeof(where));
        rc_seterr(err, errlen, "redis %s at %s: %s", op, where,
                  rv == -ETIMEDOUT ? "timed out" : ctx->c->errstr);
        redis_drop(ctx);
        *ret_rv = rv;
    }
    return r;
}

int redis_connect(struct redis_ctx *ctx, char *err, size_t errlen)
{
    struct timeval tv = {ctx->url.timeout_ms / 1000, (ctx->url.timeout_ms % 1000) * 1000};
    char where[RC_HOST_MAX + 16];
    const char *pass = ctx->url.have_password ? ctx->url.password : getenv("REDISCLI_AUTH");
    redisReply *r = NULL;
    int rv = 0;

    redis_where(ctx, where, sizeof(where));
    errno = 0;
    ctx->c = redisConnectWithTimeout(ctx->url.host, ctx->url.port, tv);
    if (ctx->c == NULL) {
        rc_seterr(err, errlen, "out of memory");
        return -ENOMEM;
    }
    if (ctx->c->err != 0) {
        rv = redis_io_errno(ctx->c, errno);
        rc_seterr(err, errlen, "cannot connect to redis at %s: %s", where,
                  rv == -ETIMEDOUT ? "connect timed out" : ctx->c->errstr);
        goto out_drop;
    }
    if (redisSetTimeout(ctx->c, tv) != REDIS_OK) {
        rc_seterr(err, errlen, "redis at %s: cannot set the command timeout", where);
        rv = -EIO;
        goto out_drop;
    }
    (void)redisEnableKeepAlive(ctx->c);

    if (pass != NULL && pass[0] != '\0') {
        const char *argv[3] = {"AUTH", ctx->url.user, pass};
        size_t lens[3] = {4, strlen(ctx->url.user), strlen(pass)};

        if (ctx->url.have_user)
            r = redis_command(ctx, 3, argv, lens, "AUTH", &rv, err, errlen);
        else
            r = redis_command(ctx, 2, (const char *[]){"AUTH", pass},
                              (const size_t[]){4, strlen(pass)}, "AUTH", &rv, err, errlen);
        if (r == NULL)
            return rv;
        if (r->type == REDIS_REPLY_ERROR) {
            /* The server's text ("WRONGPASS invalid username-password pair")
             * never holds the password itself. */
            rv = redis_reply_error(ctx, r, "AUTH", err, errlen);
            if (rv == -EREMOTEIO)
                rv = -EACCES;
            freeReplyObject(r);
            goto out_drop;
        }
        freeReplyObject(r);
    } else if (ctx->url.have_user) {
        rc_seterr(err, errlen,
                  "redis URL names user \"%s\" but no password (in the URL or REDISCLI_AUTH)",
                  ctx->url.user);
        rv = -EINVAL;
        goto out_drop;
    }

    if (ctx->url.db != 0) {
        char db[16];
        int n = snprintf(db, sizeof(db), "%d", ctx->url.db);

        r = redis_command(ctx, 2, (const char *[]){"SELECT", db}, (const size_t[]){6, (size_t)n},
                          "SELECT", &rv, err, errlen);
        if (r == NULL)
            return rv;
        if (r->type == REDIS_REPLY_ERROR) {
            rv = redis_reply_error(ctx, r, "SELECT", err, errlen);
            freeReplyObject(r);
            goto out_drop;
        }
        freeReplyObject(r);
    }
    return 0;

out_drop:
    redis_drop(ctx);
    return rv;
}

/*
 * Asks the server for a script's digest (SCRIPT LOAD) unless it is known or
 * refused. 0 also when the server says no or answers nonsense (the script
 * then goes by EVAL); < 0 only for an I/O error, which dropped the
 * connection as redis_command does.
 */
static int redis_learn_sha(struct redis_ctx *ctx, int script, char *err, size_t errlen)
{
    const char *argv[3] = {"SCRIPT", "LOAD", redis_scripts[script]};
    size_t lens[3] = {6, 4, strlen(redis_scripts[script])};
    redisReply *r;
    int rv = 0;

    if (ctx->sha[script][0] != '\0' || ctx->script_load_refused)
        return 0;
    r = redis_command(ctx, 3, argv, lens, "SCRIPT LOAD", &rv, err, errlen);
    if (r == NULL)
        return rv;
    if (redis_sha_reply_ok(r->type, r->str, r->len)) {
        for (size_t i = 0; i < 40; i++)
            ctx->sha[script][i] = (char)tolower((unsigned char)r->str[i]);
        ctx->sha[script][40] = '\0';
    } else {
        ctx->script_load_refused = true;
    }
    freeReplyObject(r);
    return 0;
}

/*
 * Runs one of our scripts with KEYS = {nodes, info} and args. Connects if
 * needed; EVALSHA when the digest is known (redis_learn_sha), EVAL when it
 * is not or the server does not know the script (restart, SCRIPT FLUSH). A
 * failure on a reused connection is retried once on a fresh one. On success
 * *ret is a non-error reply.
 */
static int redis_script(struct redis_ctx *ctx, int script, const char *op, int nargs,
                        const char **args, const size_t *arglens, redisReply **ret, char *err,
                        size_t errlen)
{
    const char *argv[9];
    size_t lens[9];
    int rv = 0;

    if (nargs > 3)
        return -EINVAL;
    for (int attempt = 0; attempt < 2; attempt++) {
        bool fresh = ctx->c == NULL;
        redisReply *r;
        bool by_sha;

        if (fresh) {
            rv = redis_connect(ctx, err, errlen);
            if (rv < 0)
                return rv;
        }
        rv = redis_learn_sha(ctx, script, err, errlen);
        if (rv < 0) {
            if (!fresh && attempt == 0)
                continue;
            return rv;
        }
        by_sha = ctx->sha[script][0] != '\0';
        argv[0] = by_sha ? "EVALSHA" : "EVAL";
        lens[0] = strlen(argv[0]);
        argv[1] = by_sha ? ctx->sha[script] : redis_scripts[script];
        lens[1] = strlen(argv[1]);
        argv[2] = "3";
        lens[2] = 1;
        argv[3] = ctx->key_nodes;
        lens[3] = strlen(ctx->key_nodes);
        argv[4] = ctx->key_info;
        lens[4] = strlen(ctx->key_info);
        argv[5] = ctx->key_version;
        lens[5] = strlen(ctx->key_version);
        for (int i = 0; i < nargs; i++) {
            argv[6 + i] = args[i];
            lens[6 + i] = arglens[i];
        }
        r = redis_command(ctx, 6 + nargs, argv, lens, op, &rv, err, errlen);
        if (by_sha && r != NULL && r->type == REDIS_REPLY_ERROR &&
            strncmp(r->str, "NOSCRIPT", 8) == 0) {
            freeReplyObject(r);
            argv[0] = "EVAL";
            lens[0] = 4;
            argv[1] = redis_scripts[script];
            lens[1] = strlen(redis_scripts[script]);
            r = redis_command(ctx, 6 + nargs, argv, lens, op, &rv, err, errlen);
        }
        if (r == NULL) {
            if (!fresh && attempt == 0)
                continue; /* the server may have restarted since: one fresh try */
            return rv;
        }
        if (r->type == REDIS_REPLY_ERROR) {
            rv = redis_reply_error(ctx, r, op, err, errlen);
            freeReplyObject(r);
            return rv;
        }
        *ret = r;
        return 0;
    }
    return rv;
}

static int redis_open(const char *url, void **ret_ctx, char *err, size_t errlen)
{
    struct redis_ctx *ctx;
    int rv;

    ctx = calloc(1, sizeof(*ctx));
    if (ctx == NULL) {
        rc_seterr(err, errlen, "out of memory");
        return -ENOMEM;
    }
    rv = redis_url_parse(url, &ctx->url, err, errlen);
    if (rv < 0)
        goto out_free;
    snprintf(ctx->key_nodes, sizeof(ctx->key_nodes), "rollcall:{%s}:nodes", ctx->url.cluster);
    snprintf(ctx->key_info, sizeof(ctx->key_info), "rollcall:{%s}:info", ctx->url.cluster);
    snprintf(ctx->key_version, sizeof(ctx->key_version), "rollcall:{%s}:version", ctx->url.cluster);
    *ret_ctx = ctx;
    return 0;

out_free:
    explicit_bzero(ctx, sizeof(*ctx));
    free(ctx);
    return rv;
}

static int redis_publish(void *vctx, const struct rc_entry *self, char *err, size_t errlen)
{
    struct redis_ctx *ctx = vctx;
    char text[1024];
    size_t len;
    redisReply *r = NULL;
    int rv;

    rv = rc_entry_format_body(self, text, sizeof(text), &len);
    if (rv < 0) {
        rc_seterr(err, errlen, "cannot format the entry for %s", self->name);
        return -EINVAL;
    }
    rv = redis_script(ctx, REDIS_SCRIPT_PUBLISH, "publish", 2, (const char *[]){self->name, text},
                      (const size_t[]){strlen(self->name), len}, &r, err, errlen);
    if (rv < 0)
        return rv;
    if (r->type != REDIS_REPLY_INTEGER) {
        rc_seterr(err, errlen, "redis publish: unexpected reply type %d", r->type);
        rv = -EPROTO;
    }
    freeReplyObject(r);
    return rv;
}

static int redis_list(void *vctx, struct rc_reg_list *ret_list, char *err, size_t errlen)
{
    struct redis_ctx *ctx = vctx;
    struct rc_reg_list l = {0};
    char amax[16], aval[16], abudget[16];
    long long now;
    redisReply *r = NULL;
    int rv;

    snprintf(amax, sizeof(amax), "%d", RC_REGISTRY_MAX_ENTRIES);
    snprintf(aval, sizeof(aval), "%d", RC_ENTRY_TEXT_MAX);
    snprintf(abudget, sizeof(abudget), "%d", REDIS_LIST_BUDGET);
    rv = redis_script(ctx, REDIS_SCRIPT_LIST, "list", 3, (const char *[]){amax, aval, abudget},
                      (const size_t[]){strlen(amax), strlen(aval), strlen(abudget)}, &r, err,
                      errlen);
    if (rv < 0)
        return rv;
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 2 || (r->elements - 2) % 3 != 0 ||
        r->element[0]->type != REDIS_REPLY_INTEGER || r->element[1]->type != REDIS_REPLY_INTEGER) {
        rc_seterr(err, errlen, "redis list: unexpected reply shape");
        rv = -EPROTO;
        goto out_free;
    }
    now = r->element[0]->integer;
    for (size_t i = 2; i < r->elements; i += 3) {
        const redisReply *n = r->element[i], *a = r->element[i + 1], *v = r->element[i + 2];
        enum redis_value vk;
        struct rc_entry e;
        char why[96];

        if (n->type != REDIS_REPLY_STRING || a->type != REDIS_REPLY_INTEGER ||
            (v->type != REDIS_REPLY_STRING && v->type != REDIS_REPLY_NIL &&
             v->type != REDIS_REPLY_INTEGER)) {
            rc_seterr(err, errlen, "redis list: unexpected reply shape");
            rv = -EPROTO;
            goto out_free;
        }
        if (v->type == REDIS_REPLY_STRING)
            vk = REDIS_VALUE_TEXT;
        else if (v->type == REDIS_REPLY_NIL)
            vk = REDIS_VALUE_MISSING;
        else
            vk = v->integer < 0 ? REDIS_VALUE_OVER_BUDGET : REDIS_VALUE_TOO_BIG;
        if (redis_decode_row(n->str, n->len, a->integer, now, vk, v->str,
                             vk == REDIS_VALUE_TEXT ? v->len : 0, &e, why, sizeof(why)) < 0) {
            rv = rc_reg_list_reject(&l, n->str, n->len, why);
        } else {
            rv = rc_reg_list_add(&l, &e);
            if (rv == -E2BIG) {
                rv = 0; /* full: the facade reports the rest */
                break;
            }
        }
        if (rv < 0) {
            rc_seterr(err, errlen, "out of memory");
            goto out_free;
        }
    }
    if (r->element[1]->integer > RC_REGISTRY_MAX_ENTRIES + 1) {
        char why[96];

        snprintf(why, sizeof(why), "%lld entries in the sorted set; only %d are read",
                 r->element[1]->integer, RC_REGISTRY_MAX_ENTRIES);
        rv = rc_reg_list_reject(&l, ctx->key_nodes, strlen(ctx->key_nodes), why);
        if (rv < 0) {
            rc_seterr(err, errlen, "out of memory");
            goto out_free;
        }
    }
    freeReplyObject(r);
    *ret_list = l;
    return 0;

out_free:
    freeReplyObject(r);
    rc_reg_list_free(&l);
    return rv;
}

static int redis_remove(void *vctx, const char *name, int64_t min_age_ms, char *err, size_t errlen)
{
    struct redis_ctx *ctx = vctx;
    char amin[24];
    redisReply *r = NULL;
    int rv;

    snprintf(amin, sizeof(amin), "%lld", (long long)(min_age_ms > 0 ? min_age_ms : 0));
    rv = redis_script(ctx, REDIS_SCRIPT_REMOVE, "remove", 2, (const char *[]){name, amin},
                      (const size_t[]){strlen(name), strlen(amin)}, &r, err, errlen);
    if (rv < 0)
        return rv;
    if (r->type != REDIS_REPLY_INTEGER) {
        rc_seterr(err, errlen, "redis remove: unexpected reply type %d", r->type);
        rv = -EPROTO;
    } else {
        rv = r->integer > 0 ? 1 : 0;
    }
    freeReplyObject(r);
    return rv;
}

static int redis_get(void *vctx, const char *name, struct rc_entry *ret, char *err, size_t errlen)
{
    struct redis_ctx *ctx = vctx;
    char aval[16], why[96];
    enum redis_value vk;
    const redisReply *a, *v;
    redisReply *r = NULL;
    int rv;

    snprintf(aval, sizeof(aval), "%d", RC_ENTRY_TEXT_MAX);
    rv = redis_script(ctx, REDIS_SCRIPT_GET, "get", 2, (const char *[]){name, aval},
                      (const size_t[]){strlen(name), strlen(aval)}, &r, err, errlen);
    if (rv < 0)
        return rv;
    if (r->type != REDIS_REPLY_ARRAY || (r->elements != 1 && r->elements != 3) ||
        r->element[0]->type != REDIS_REPLY_INTEGER) {
        rc_seterr(err, errlen, "redis get: unexpected reply shape");
        rv = -EPROTO;
        goto out;
    }
    if (r->elements == 1) {
        rc_seterr(err, errlen, "no entry for %s", name);
        rv = -ENOENT;
        goto out;
    }
    a = r->element[1];
    v = r->element[2];
    if (a->type != REDIS_REPLY_INTEGER ||
        (v->type != REDIS_REPLY_STRING && v->type != REDIS_REPLY_NIL &&
         v->type != REDIS_REPLY_INTEGER)) {
        rc_seterr(err, errlen, "redis get: unexpected reply shape");
        rv = -EPROTO;
        goto out;
    }
    vk = v->type == REDIS_REPLY_STRING ? REDIS_VALUE_TEXT
         : v->type == REDIS_REPLY_NIL  ? REDIS_VALUE_MISSING
                                       : REDIS_VALUE_TOO_BIG;
    if (redis_decode_row(name, strlen(name), a->integer, r->element[0]->integer, vk, v->str,
                         vk == REDIS_VALUE_TEXT ? v->len : 0, ret, why, sizeof(why)) < 0) {
        rc_seterr(err, errlen, "%s", why);
        rv = -EBADMSG;
    }
out:
    freeReplyObject(r);
    return rv;
}

static void redis_sub_drop(struct redis_ctx *ctx)
{
    if (ctx->sub != NULL) {
        redisFree(ctx->sub);
        ctx->sub = NULL;
    }
}

/* A second connection (same AUTH and SELECT) subscribed to the version
 * channel, then the version itself from the first: what we may have missed. */
static int redis_subscribe(struct redis_ctx *ctx, long long *ret_version, char *err, size_t errlen)
{
    redisContext *keep = ctx->c;
    redisReply *r;
    int rv;

    ctx->c = NULL;
    rv = redis_connect(ctx, err, errlen);
    ctx->sub = ctx->c;
    ctx->c = keep;
    if (rv < 0)
        return rv;
    r = redisCommandArgv(ctx->sub, 2, (const char *[]){"SUBSCRIBE", ctx->key_version},
                         (const size_t[]){9, strlen(ctx->key_version)});
    if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
        rc_seterr(err, errlen, "redis SUBSCRIBE: %s",
                  r == NULL ? ctx->sub->errstr : "unexpected reply");
        if (r != NULL)
            freeReplyObject(r);
        redis_sub_drop(ctx);
        return -EIO;
    }
    freeReplyObject(r);
    if (ctx->c == NULL) {
        rv = redis_connect(ctx, err, errlen);
        if (rv < 0) {
            redis_sub_drop(ctx);
            return rv;
        }
    }
    r = redis_command(ctx, 2, (const char *[]){"GET", ctx->key_version},
                      (const size_t[]){3, strlen(ctx->key_version)}, "GET", &rv, err, errlen);
    if (r == NULL) {
        redis_sub_drop(ctx);
        return rv;
    }
    *ret_version = 0;
    if (r->type == REDIS_REPLY_STRING)
        *ret_version = strtoll(r->str, NULL, 10);
    else if (r->type != REDIS_REPLY_NIL) {
        rv = r->type == REDIS_REPLY_ERROR ? redis_reply_error(ctx, r, "GET", err, errlen) : -EPROTO;
        if (rv == -EPROTO)
            rc_seterr(err, errlen, "redis GET version: unexpected reply type %d", r->type);
        freeReplyObject(r);
        redis_sub_drop(ctx);
        return rv;
    }
    freeReplyObject(r);
    return 0;
}

static int redis_changed(void *vctx, uint64_t *version, char *err, size_t errlen)
{
    struct redis_ctx *ctx = vctx;
    struct pollfd pfd;
    bool got = false;
    long long v;
    int rv;

    if (ctx->sub == NULL) {
        rv = redis_subscribe(ctx, &v, err, errlen);
        if (rv < 0)
            return rv;
        if (*version == (uint64_t)v + 1)
            return 0;
        *version = (uint64_t)v + 1;
        return 1;
    }
    /* Drain what the server pushed since the last call, without blocking. */
    for (;;) {
        void *reply = NULL;

        if (redisGetReplyFromReader(ctx->sub, &reply) != REDIS_OK) {
            redis_sub_drop(ctx);
            return 1; /* resubscribe next time; list now in case we missed one */
        }
        if (reply != NULL) {
            redisReply *m = reply;

            if (m->type == REDIS_REPLY_ARRAY && m->elements == 3 &&
                m->element[2]->type == REDIS_REPLY_STRING)
                *version = (uint64_t)strtoll(m->element[2]->str, NULL, 10) + 1;
            got = true;
            freeReplyObject(m);
            continue;
        }
        pfd.fd = ctx->sub->fd;
        pfd.events = POLLIN;
        pfd.revents = 0;
        if (poll(&pfd, 1, 0) <= 0 || (pfd.revents & (POLLIN | POLLHUP | POLLERR)) == 0)
            break;
        if (redisBufferRead(ctx->sub) != REDIS_OK) {
            redis_sub_drop(ctx);
            return 1;
        }
    }
    return got ? 1 : 0;
}

static void redis_close(void *vctx)
{
    struct redis_ctx *ctx = vctx;

    if (ctx == NULL)
        return;
    redis_sub_drop(ctx);
    redis_drop(ctx);
    explicit_bzero(ctx, sizeof(*ctx));
    free(ctx);
}

const struct rc_backend_ops rc_backend_redis = {
    .scheme = "redis",
    .open = redis_open,
    .publish = redis_publish,
    .list = redis_list,
    .remove = redis_remove,
    .close = redis_close,
    .changed = redis_changed,
    .get = redis_get,
};

/*
 * redis_int.h - the Redis backend's private contract (backends/redis.c):
 * what its unit tests, its fuzzer and the conformance suite reach, and its
 * ops table rc_backend_redis, which the module's entry point
 * (backends/module_stamp.c) hands to the loader. Nothing outside backends/
 * and tests/ includes it.
 *
 * The parsers (URL, list rows, SCRIPT LOAD replies) are pure functions of
 * bytes. The connection calls are here for the conformance suite, which
 * writes garbage into the store with the backend's own client. Never logs;
 * err never holds the password; 0 or a negative errno.
 */
#ifndef ROLLCALL_BACKENDS_REDIS_INT_H
#define ROLLCALL_BACKENDS_REDIS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#include "rollcall/backend.h"

#define REDIS_DEFAULT_PORT 6379
#define REDIS_DEFAULT_CLUSTER "rollcall"
#define REDIS_DEFAULT_TIMEOUT_MS 2000
#define REDIS_TIMEOUT_MIN_MS 100
#define REDIS_TIMEOUT_MAX_MS 60000
#define REDIS_CLUSTER_MAX 64
#define REDIS_USER_MAX 255
#define REDIS_PASSWORD_MAX 511
/* What list's script returns at most in names and values, all entries
 * together; past it values come back as their length and are rejected. */
#define REDIS_LIST_BUDGET (8 * 1024 * 1024)

/* The backend: open, publish, list, remove, close (rollcall/backend.h). */
extern const struct rc_backend_ops rc_backend_redis;

/* ---- URL ---- */

struct redis_url {
    char host[RC_HOST_MAX + 1]; /* without IPv6 brackets */
    uint16_t port;
    int db;
    bool have_user, have_password;
    char user[REDIS_USER_MAX + 1];
    char password[REDIS_PASSWORD_MAX + 1];
    char cluster[REDIS_CLUSTER_MAX + 1];
    int timeout_ms;
};

/* Cluster names become part of a key and of its hash tag: no '{', '}'. */
bool redis_cluster_valid(const char *s);

/* Parses a redis:// URL. Pure: the environment (REDISCLI_AUTH) is the
 * caller's business. On failure *ret is untouched; err never contains the
 * password. */
int redis_url_parse(const char *url, struct redis_url *ret, char *err, size_t errlen);

/* ---- rows ---- */

enum redis_value {
    REDIS_VALUE_TEXT,
    REDIS_VALUE_MISSING,
    REDIS_VALUE_TOO_BIG,
    REDIS_VALUE_OVER_BUDGET, /* the list reply's byte budget was spent before it */
};

/* Decodes one row of list's reply: the member name, its age on the server's
 * clock, the server's now and the hash value. Pure. -EPROTO with a reason in
 * why for anything someone else may have written badly; ret is then
 * untouched. */
int redis_decode_row(const char *name, size_t namelen, long long age_ms, long long now_ms,
                     enum redis_value vkind, const char *value, size_t valuelen,
                     struct rc_entry *ret, char *why, size_t whylen);

/* A SCRIPT LOAD reply we accept: a string of exactly 40 hex digits. */
bool redis_sha_reply_ok(int type, const char *s, size_t len);

/* ---- the connection ---- */

enum {
    REDIS_SCRIPT_PUBLISH,
    REDIS_SCRIPT_LIST,
    REDIS_SCRIPT_REMOVE,
    REDIS_SCRIPT_GET, /* one entry (issue 15) */
    REDIS_NSCRIPTS
};

/*
 * The scripts' SHA-1s come from the server (SCRIPT LOAD, once per script and
 * ctx), not from a hash of our own: the module then needs no libcrypto, and
 * the server is the one that must agree on the digest anyway. Until a script
 * has a digest, or when the server refuses SCRIPT LOAD (an ACL may allow
 * EVAL but not SCRIPT) or answers with something that is not one, that
 * script is sent whole with EVAL.
 */
struct redis_ctx {
    struct redis_url url;
    char key_nodes[REDIS_CLUSTER_MAX + 32];
    char key_info[REDIS_CLUSTER_MAX + 32];
    char key_version[REDIS_CLUSTER_MAX + 32]; /* the change counter and channel (issue 15) */
    char sha[REDIS_NSCRIPTS][41];             /* "" = not known yet */
    bool script_load_refused;                 /* EVAL only, for this ctx's life */
    redisContext *c;                          /* NULL = connect on the next call */
    redisContext *sub;                        /* SUBSCRIBEd to key_version; NULL = not yet */
};

/* Connects ctx (ctx->c NULL before): connect timeout, command timeout,
 * keepalive, AUTH, SELECT. On failure ctx->c is NULL again. */
int redis_connect(struct redis_ctx *ctx, char *err, size_t errlen);

/* Sends one command. On an I/O error drops the connection and returns NULL
 * with *ret_rv and err set; a server error reply is returned as a reply. */
redisReply *redis_command(struct redis_ctx *ctx, int argc, const char **argv, const size_t *lens,
                          const char *op, int *ret_rv, char *err, size_t errlen);

/* Turns a server error reply into an errno and a message. MOVED/ASK mean the
 * URL points at a cluster node that does not own our slot. */
int redis_reply_error(const struct redis_ctx *ctx, const redisReply *r, const char *op, char *err,
                      size_t errlen);

#endif

/*
 * postgres.c - the PostgreSQL registry backend (libpq):
 *
 *   postgres://[USER[:PASSWORD]@]HOST[:PORT]/DBNAME[?sslmode=...&rollcall_cluster=NAME]
 *
 * Any libpq connection URI works (postgresql:// too, host=/socket/dir,
 * sslmode, PGPASSWORD, ~/.pgpass, PGSERVICE...): the URI goes to libpq as
 * it is, minus our one parameter, rollcall_cluster (default "rollcall"),
 * which selects the rows of one cluster in the shared table:
 *
 *   rollcall_nodes (cluster, name, host, port, started_at, last_seen, details)
 *   PRIMARY KEY (cluster, name)
 *
 * Shape:
 * - Every age is computed by the server (now() - last_seen), so readers with
 *   skewed clocks agree. publish is one upsert; the conditional remove is one
 *   DELETE ... AND last_seen <= now() - interval, atomic in the server.
 * - The table is created on first use when missing: the existence check runs
 *   first (a role without CREATE on the schema can use a table an admin
 *   made), and creation runs under pg_advisory_xact_lock in a transaction,
 *   because concurrent CREATE TABLE IF NOT EXISTS from several first starts
 *   otherwise fails with a duplicate key in pg_type.
 * - No prepared statements: PQexecParams sends each statement with its
 *   parameters, so a restarted server or a transaction-pooling pgbouncer
 *   leaves nothing to re-prepare. At one call per sweep the parse is free.
 * - Connections: open() only checks the URI; the first call connects with
 *   our defaults placed before the URI so that the URI's own values win
 *   (connect_timeout 5 s, TCP keepalives, tcp_user_timeout, application_name),
 *   then SETs statement_timeout. When the connection is lost it is dropped
 *   and the next call reconnects; a call that fails on a connection it
 *   reused retries once on a fresh one (every statement is idempotent).
 * - Change signal (issue 15): publish NOTIFYs channel rollcall_changed
 *   (payload: the cluster) in the same statement when the row is new or its
 *   host, port or started_at changed, remove when it deleted a row; a
 *   heartbeat (same values) notifies nobody. `changed` LISTENs once per
 *   connection and then only reads what the server already pushed
 *   (PQconsumeInput, PQnotifies: no statement per interval). A new
 *   connection, which may have missed notifications, reports a change once,
 *   so the caller lists. LISTEN needs a session: behind a pgbouncer in
 *   transaction mode, notifications are lost and only the resync lists.
 * - Rows are untrusted like any registry content (someone may INSERT by
 *   hand): pg_decode_row() validates each one and bad rows become rejects.
 *
 * Never logs; err never holds the password (libpq's parse errors, which can
 * quote the URI, are not passed on). A ctx serves one thread at a time.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libpq-fe.h>

#include "rollcall/clock.h"
#include "rollcall/err.h"
#include "rollcall/backend.h"
#include "rollcall/url.h"

#include "postgres_int.h"

#define PG_STATEMENT_TIMEOUT_MS 5000
#define PG_STR2(x) #x
#define PG_STR(x) PG_STR2(x)
#define PG_LOCK_KEY "7526481350247380332" /* pg_advisory_xact_lock key: "rollcall" */

bool pg_cluster_valid(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > PG_CLUSTER_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return false;
    }
    return true;
}

/*
 * Splits our parameter off a postgres:// or postgresql:// URI. Pure. Writes
 * the URI libpq gets (every other parameter kept in order) into out and the
 * cluster name (default "rollcall") into cluster. err never quotes the URI.
 */
int pg_url_split(const char *url, char *out, size_t outcap, char cluster[PG_CLUSTER_MAX + 1],
                 char *err, size_t errlen)
{
    const char *q, *p;
    size_t o, base;
    bool have_cluster = false;

    if (url == NULL ||
        (strncasecmp(url, "postgres://", 11) != 0 && strncasecmp(url, "postgresql://", 13) != 0)) {
        rc_seterr(err, errlen, "not a postgres:// or postgresql:// URL");
        return -EINVAL;
    }
    if (strlen(url) >= outcap || strlen(url) >= PG_URI_MAX) {
        rc_seterr(err, errlen, "postgres URL is too long");
        return -ENAMETOOLONG;
    }
    snprintf(cluster, PG_CLUSTER_MAX + 1, "%s", PG_DEFAULT_CLUSTER);
    q = strchr(url, '?');
    if (q == NULL) {
        memcpy(out, url, strlen(url) + 1);
        return 0;
    }
    base = (size_t)(q - url);
    memcpy(out, url, base);
    o = base;
    for (p = q + 1; *p != '\0';) {
        size_t plen = strcspn(p, "&");
        const char *eq = memchr(p, '=', plen);
        size_t klen = eq != NULL ? (size_t)(eq - p) : plen;

        if (klen == strlen(PG_CLUSTER_PARAM) && memcmp(p, PG_CLUSTER_PARAM, klen) == 0) {
            const char *v = eq != NULL ? eq + 1 : p + plen;
            size_t vlen = (size_t)(p + plen - v);

            if (have_cluster) {
                rc_seterr(err, errlen, "postgres URL: %s given twice", PG_CLUSTER_PARAM);
                return -EINVAL;
            }
            have_cluster = true;
            if (rc_url_decode_str(v, vlen, cluster, PG_CLUSTER_MAX + 1) < 0 ||
                !pg_cluster_valid(cluster))
                goto bad_cluster;
        } else if (plen > 0) {
            out[o] = o == base ? '?' : '&';
            o++;
            memcpy(out + o, p, plen);
            o += plen;
        }
        p += plen;
        if (*p == '&')
            p++;
    }
    out[o] = '\0';
    return 0;

bad_cluster:
    rc_seterr(err, errlen, "postgres URL: %s= must be 1..%d of [A-Za-z0-9_.-]", PG_CLUSTER_PARAM,
              PG_CLUSTER_MAX);
    return -EINVAL;
}

/* ---- rows ---- */

/* A decimal int64 of exactly len bytes, optional leading '-'. */
static bool pg_int64_parse(const char *s, int len, int64_t *ret)
{
    int64_t v = 0;
    bool neg = false;
    int i = 0;

    if (s == NULL || len <= 0)
        return false;
    if (s[0] == '-') {
        neg = true;
        i = 1;
    }
    if (i == len || len - i > 18)
        return false;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *ret = neg ? -v : v;
    return true;
}

/*
 * Decodes one row of list's query, in text format: name, host, port,
 * started_at ms, last_seen ms, age ms (NULL when not a finite time). Pure.
 * -EPROTO with a reason in why for anything someone may have written badly.
 */
int pg_decode_row(const char *const val[PG_NCOLS], const int len[PG_NCOLS],
                  const bool isnull[PG_NCOLS], struct rc_entry *ret, char *why, size_t whylen)
{
    struct rc_entry e;
    int64_t port, v;

    memset(&e, 0, sizeof(e));
    if (isnull[PG_COL_NAME] || len[PG_COL_NAME] < 0 || len[PG_COL_NAME] > RC_NAME_MAX ||
        memchr(val[PG_COL_NAME], '\0', (size_t)len[PG_COL_NAME]) != NULL)
        goto bad_name;
    memcpy(e.name, val[PG_COL_NAME], (size_t)len[PG_COL_NAME]);
    e.name[len[PG_COL_NAME]] = '\0';
    if (!rc_node_name_valid(e.name))
        goto bad_name;
    if (!isnull[PG_COL_HOST]) {
        if (len[PG_COL_HOST] < 0 || !rc_host_valid(val[PG_COL_HOST], (size_t)len[PG_COL_HOST])) {
            rc_seterr(why, whylen, "host is not a host name or address");
            return -EPROTO;
        }
        memcpy(e.host, val[PG_COL_HOST], (size_t)len[PG_COL_HOST]);
        e.host[len[PG_COL_HOST]] = '\0';
    }
    if (!isnull[PG_COL_PORT]) {
        if (!pg_int64_parse(val[PG_COL_PORT], len[PG_COL_PORT], &port) || port < 0 ||
            port > 65535) {
            rc_seterr(why, whylen, "port is not a number 0..65535");
            return -EPROTO;
        }
        e.port = (uint16_t)port;
    }
    if (!isnull[PG_COL_STARTED]) {
        if (!pg_int64_parse(val[PG_COL_STARTED], len[PG_COL_STARTED], &v)) {
            rc_seterr(why, whylen, "started_at is not a finite time");
            return -EPROTO;
        }
        e.started_at_ms = v;
    }
    if (isnull[PG_COL_SEEN] || isnull[PG_COL_AGE] ||
        !pg_int64_parse(val[PG_COL_SEEN], len[PG_COL_SEEN], &e.updated_at_ms) ||
        !pg_int64_parse(val[PG_COL_AGE], len[PG_COL_AGE], &e.age_ms)) {
        rc_seterr(why, whylen, "last_seen is not a finite time");
        return -EPROTO;
    }
    if (e.age_ms < 0)
        e.age_ms = 0;
    *ret = e;
    return 0;

bad_name:
    rc_seterr(why, whylen, "not a valid node name");
    return -EPROTO;
}

/* ---- statements ---- */

static const char pg_sql_exists[] = "SELECT to_regclass('rollcall_nodes') IS NOT NULL";

static const char pg_sql_create[] = "CREATE TABLE IF NOT EXISTS rollcall_nodes ("
                                    " cluster text NOT NULL,"
                                    " name text NOT NULL,"
                                    " host text NOT NULL DEFAULT '',"
                                    " port integer NOT NULL DEFAULT 0,"
                                    " started_at timestamptz,"
                                    " last_seen timestamptz NOT NULL DEFAULT now(),"
                                    " details text NOT NULL DEFAULT '',"
                                    " PRIMARY KEY (cluster, name))";

#define PG_STARTED "CASE WHEN $5::bigint = 0 THEN NULL ELSE to_timestamp($5::bigint / 1000.0) END"
#define PG_CHANNEL "rollcall_changed"

/* $1 cluster, $2 name, $3 host, $4 port, $5 started_at ms (0 = unknown),
 * $6 details: "kind=agent" / "kind=app" / "" (docs/app.md).
 * Both CTEs see the table as it was before the statement: `old` is the row
 * before the upsert. Notifies when there was none or it differed. */
static const char pg_sql_publish[] =
    "WITH old AS (SELECT host, port, started_at, details FROM rollcall_nodes"
    "  WHERE cluster = $1 AND name = $2),"
    " up AS (INSERT INTO rollcall_nodes AS n"
    "  (cluster, name, host, port, started_at, last_seen, details)"
    "  VALUES ($1, $2, $3, $4::integer, " PG_STARTED ", now(), $6)"
    "  ON CONFLICT (cluster, name) DO UPDATE SET host = EXCLUDED.host, port = EXCLUDED.port,"
    "  started_at = EXCLUDED.started_at, last_seen = now(), details = EXCLUDED.details"
    "  RETURNING 1)"
    " SELECT pg_notify('" PG_CHANNEL "', $1) FROM (SELECT count(*) FROM up) u"
    " WHERE NOT EXISTS (SELECT 1 FROM old WHERE host = $3 AND port = $4::integer"
    "  AND started_at IS NOT DISTINCT FROM " PG_STARTED " AND details = $6)";

/* $1 cluster, $2 name: one row as list() returns it. */
static const char pg_sql_get[] =
    "SELECT name, host, port::text,"
    " CASE WHEN isfinite(started_at) THEN (extract(epoch FROM started_at) * 1000)::bigint END,"
    " CASE WHEN isfinite(last_seen) THEN (extract(epoch FROM last_seen) * 1000)::bigint END,"
    " CASE WHEN isfinite(last_seen)"
    "  THEN floor(extract(epoch FROM (now() - last_seen)) * 1000)::bigint END,"
    " details FROM rollcall_nodes WHERE cluster = $1 AND name = $2";

/* $1 cluster, $2 limit. Times that are not finite ('infinity') come back as
 * NULL: a cast of them would fail the whole query. */
static const char pg_sql_list[] =
    "SELECT name, host, port::text,"
    " CASE WHEN isfinite(started_at) THEN (extract(epoch FROM started_at) * 1000)::bigint END,"
    " CASE WHEN isfinite(last_seen) THEN (extract(epoch FROM last_seen) * 1000)::bigint END,"
    " CASE WHEN isfinite(last_seen)"
    "  THEN floor(extract(epoch FROM (now() - last_seen)) * 1000)::bigint END,"
    " details FROM rollcall_nodes WHERE cluster = $1 ORDER BY name LIMIT $2::bigint";

/* $1 cluster, $2 name, $3 min age ms (<= 0 = always). list() floors ages
 * (a ::bigint cast alone rounds, which could list an age half a millisecond
 * ahead of what remove() then sees). */
static const char pg_sql_remove[] =
    "WITH gone AS (DELETE FROM rollcall_nodes WHERE cluster = $1 AND name = $2"
    " AND ($3::bigint <= 0 OR last_seen <= now() - $3::bigint * interval '1 millisecond')"
    " RETURNING 1)"
    " SELECT pg_notify('" PG_CHANNEL "', $1) FROM gone";

/* ---- the backend ---- */

static void pg_drop(struct pg_ctx *ctx)
{
    ctx->listening = false;
    if (ctx->conn != NULL) {
        PQfinish(ctx->conn);
        ctx->conn = NULL;
    }
}

/* Copies a libpq message on one line (newlines become "; "), trimmed. */
void pg_flatten(const char *msg, char *out, size_t cap)
{
    size_t o = 0;

    if (cap == 0)
        return;
    for (const char *m = msg != NULL ? msg : ""; *m != '\0' && o + 1 < cap; m++) {
        if (*m == '\n' || *m == '\r') {
            while (m[1] == '\n' || m[1] == '\r' || m[1] == ' ' || m[1] == '\t')
                m++;
            if (m[1] == '\0')
                break;
            if (o + 3 >= cap)
                break;
            out[o++] = ';';
            out[o++] = ' ';
            continue;
        }
        out[o++] = (unsigned char)*m < ' ' ? ' ' : *m;
    }
    while (o > 0 && (out[o - 1] == ' ' || out[o - 1] == ';'))
        o--;
    out[o] = '\0';
}

/* A connection-level failure (before or instead of a query). */
static int pg_conn_errno(const char *msg)
{
    if (strstr(msg, "timeout") != NULL || strstr(msg, "timed out") != NULL)
        return -ETIMEDOUT;
    if (strstr(msg, "password authentication failed") != NULL ||
        strstr(msg, "no pg_hba.conf entry") != NULL ||
        strstr(msg, "no password supplied") != NULL || strstr(msg, "authentication failed") != NULL)
        return -EACCES;
    if (strstr(msg, "refused") != NULL)
        return -ECONNREFUSED;
    return -ECONNRESET;
}

/*
 * Checks a result. 0 if it has status want; otherwise a negative errno and
 * err, and the connection is dropped if it was lost. Frees nothing.
 */
/* The client-side deadline of one statement. statement_timeout is enforced
 * by the server, so a server that is frozen (SIGSTOP, a stalled VM) or a
 * network that drops packets would block the registry worker forever;
 * this bounds every round trip from our side. */
#define PG_CLIENT_DEADLINE_MS (PG_STATEMENT_TIMEOUT_MS + 2000)

/* PQexecParams with a deadline. Returns the first result (NULL on failure:
 * then *ret_timed_out says whether the deadline passed, in which case the
 * connection has been dropped). */
static PGresult *pg_exec(struct pg_ctx *ctx, const char *sql, int nparams,
                         const char *const *params, bool *ret_timed_out)
{
    int64_t deadline = (int64_t)rc_now_mono_ms() + PG_CLIENT_DEADLINE_MS;
    PGresult *first = NULL, *r;

    *ret_timed_out = false;
    if (PQsendQueryParams(ctx->conn, sql, nparams, NULL, params, NULL, NULL, 0) == 0)
        return NULL;
    for (;;) {
        while (PQisBusy(ctx->conn) != 0) {
            struct pollfd pfd = {.fd = PQsocket(ctx->conn), .events = POLLIN};
            int64_t left = deadline - (int64_t)rc_now_mono_ms();
            int n = left > 0 ? poll(&pfd, 1, (int)left) : 0;

            if (n == 0) {
                PQclear(first);
                pg_drop(ctx);
                *ret_timed_out = true;
                return NULL;
            }
            if (n < 0 && errno != EINTR)
                return first;
            if (n > 0 && PQconsumeInput(ctx->conn) == 0)
                return first; /* connection trouble: PQerrorMessage says */
        }
        r = PQgetResult(ctx->conn);
        if (r == NULL)
            return first;
        if (first == NULL)
            first = r;
        else
            PQclear(r);
    }
}

static int pg_timed_out(const char *op, char *err, size_t errlen)
{
    rc_seterr(err, errlen, "postgres %s: no answer within %d ms (server frozen or unreachable)", op,
              PG_CLIENT_DEADLINE_MS);
    return -ETIMEDOUT;
}

static int pg_check(struct pg_ctx *ctx, const PGresult *res, ExecStatusType want, const char *op,
                    char *err, size_t errlen)
{
    const char *state, *primary;
    char msg[256];
    int rv;

    if (res != NULL && PQresultStatus(res) == want)
        return 0;
    if (ctx->conn == NULL || PQstatus(ctx->conn) != CONNECTION_OK) {
        pg_flatten(PQerrorMessage(ctx->conn), msg, sizeof(msg));
        rc_seterr(err, errlen, "postgres %s: connection lost: %s", op,
                  msg[0] != '\0' ? msg : "no reply");
        rv = pg_conn_errno(msg);
        pg_drop(ctx);
        return rv == -ECONNREFUSED ? -ECONNRESET : rv;
    }
    if (res == NULL) {
        pg_flatten(PQerrorMessage(ctx->conn), msg, sizeof(msg));
        rc_seterr(err, errlen, "postgres %s: %s", op, msg);
        return -ENOMEM;
    }
    state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    pg_flatten(primary != NULL ? primary : PQresultErrorMessage(res), msg, sizeof(msg));
    if (msg[0] == '\0')
        snprintf(msg, sizeof(msg), "unexpected result %s", PQresStatus(PQresultStatus(res)));
    rc_seterr(err, errlen, "postgres %s: %s%s%s%s", op, msg, state != NULL ? " (SQLSTATE " : "",
              state != NULL ? state : "", state != NULL ? ")" : "");
    if (state == NULL)
        return -EPROTO;
    if (strcmp(state, "42501") == 0 || strncmp(state, "28", 2) == 0)
        return -EACCES;
    if (strcmp(state, "57014") == 0)
        return -ETIMEDOUT; /* statement_timeout */
    if (strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0) {
        pg_drop(ctx); /* connection exception, admin shutdown: start afresh */
        return -ECONNRESET;
    }
    if (strcmp(state, "25006") == 0)
        return -EROFS; /* read-only transaction: a standby */
    if (strcmp(state, "42P01") == 0) {
        pg_drop(ctx); /* the table was dropped: a new connection creates it again */
        return -ENOENT;
    }
    return -EREMOTEIO;
}

int pg_exec_simple(struct pg_ctx *ctx, const char *sql, ExecStatusType want, const char *op,
                   char *err, size_t errlen)
{
    bool timed_out;
    PGresult *res = pg_exec(ctx, sql, 0, NULL, &timed_out);
    int rv = timed_out ? pg_timed_out(op, err, errlen) : pg_check(ctx, res, want, op, err, errlen);

    PQclear(res);
    return rv;
}

/* Creates the table if it is missing; see the top of the file. */
static int pg_ensure_table(struct pg_ctx *ctx, char *err, size_t errlen)
{
    bool timed_out;
    PGresult *res = pg_exec(ctx, pg_sql_exists, 0, NULL, &timed_out);
    bool exists;
    int rv;

    if (timed_out)
        return pg_timed_out("checking for table rollcall_nodes", err, errlen);
    rv = pg_check(ctx, res, PGRES_TUPLES_OK, "checking for table rollcall_nodes", err, errlen);
    if (rv < 0) {
        PQclear(res);
        return rv;
    }
    exists = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    if (exists)
        return 0;

    rv = pg_exec_simple(ctx, "BEGIN", PGRES_COMMAND_OK, "creating table rollcall_nodes", err,
                        errlen);
    if (rv < 0)
        return rv;
    rv = pg_exec_simple(ctx, "SELECT pg_advisory_xact_lock(" PG_LOCK_KEY ")", PGRES_TUPLES_OK,
                        "creating table rollcall_nodes (advisory lock)", err, errlen);
    if (rv == 0)
        rv = pg_exec_simple(ctx, pg_sql_create, PGRES_COMMAND_OK, "creating table rollcall_nodes",
                            err, errlen);
    if (rv == 0)
        rv = pg_exec_simple(ctx, "COMMIT", PGRES_COMMAND_OK, "creating table rollcall_nodes", err,
                            errlen);
    if (rv < 0 && ctx->conn != NULL) {
        PGresult *r = pg_exec(ctx, "ROLLBACK", 0, NULL, &timed_out);

        PQclear(r);
    }
    return rv;
}

/* libpq prints NOTICEs ("relation already exists, skipping") to stderr by
 * default; a backend does not log. */
static void pg_notice_ignore(void *arg, const char *message)
{
    (void)arg, (void)message;
}

int pg_connect(struct pg_ctx *ctx, char *err, size_t errlen)
{
    /* Defaults first: the URI (expanded from dbname) overrides any of them. */
    static const char *const keys[] = {
        "connect_timeout",     "keepalives",       "keepalives_idle",
        "keepalives_interval", "keepalives_count", "tcp_user_timeout",
        "application_name",    "dbname",           NULL,
    };
    const char *vals[] = {"5", "1", "10", "5", "3", "15000", "rollcall", ctx->uri, NULL};
    char msg[256];
    int rv;

    ctx->conn = PQconnectdbParams(keys, vals, 1);
    if (ctx->conn == NULL) {
        rc_seterr(err, errlen, "out of memory");
        return -ENOMEM;
    }
    if (PQstatus(ctx->conn) != CONNECTION_OK) {
        pg_flatten(PQerrorMessage(ctx->conn), msg, sizeof(msg));
        rc_seterr(err, errlen, "cannot connect to postgres: %s", msg);
        rv = pg_conn_errno(msg);
        pg_drop(ctx);
        return rv;
    }
    PQsetNoticeProcessor(ctx->conn, pg_notice_ignore, NULL);
    rv = pg_exec_simple(ctx, "SET statement_timeout = " PG_STR(PG_STATEMENT_TIMEOUT_MS),
                        PGRES_COMMAND_OK, "setting statement_timeout", err, errlen);
    if (rv == 0)
        rv = pg_ensure_table(ctx, err, errlen);
    if (rv < 0)
        pg_drop(ctx);
    return rv;
}

/*
 * Runs one parameterised statement. Connects if needed; a failure on a
 * reused connection that lost it is retried once on a fresh one. On success
 * *ret is the result (caller clears).
 */
static int pg_run(struct pg_ctx *ctx, const char *sql, int nparams, const char *const *params,
                  ExecStatusType want, const char *op, PGresult **ret, char *err, size_t errlen)
{
    int rv = 0;

    for (int attempt = 0; attempt < 2; attempt++) {
        bool fresh = ctx->conn == NULL;
        PGresult *res;
        bool timed_out;

        if (fresh) {
            rv = pg_connect(ctx, err, errlen);
            if (rv < 0)
                return rv;
        }
        res = pg_exec(ctx, sql, nparams, params, &timed_out);
        if (timed_out)
            return pg_timed_out(op, err, errlen);
        rv = pg_check(ctx, res, want, op, err, errlen);
        if (rv == 0) {
            *ret = res;
            return 0;
        }
        PQclear(res);
        if (ctx->conn != NULL || fresh)
            return rv;
        /* lost a connection we reused (server restarted?) or the table is
         * gone: one fresh try */
    }
    return rv;
}

static int pg_open(const char *url, void **ret_ctx, char *err, size_t errlen)
{
    struct pg_ctx *ctx;
    PQconninfoOption *opts;
    char *perr = NULL;
    int rv;

    ctx = calloc(1, sizeof(*ctx));
    if (ctx == NULL)
        goto out_nomem;
    ctx->uri = malloc(PG_URI_MAX);
    if (ctx->uri == NULL)
        goto out_nomem;
    rv = pg_url_split(url, ctx->uri, PG_URI_MAX, ctx->cluster, err, errlen);
    if (rv < 0)
        goto out_free;
    /* Catch bad URIs now. libpq's parse messages may quote the URI (and so a
     * password); only the ones that name a parameter are passed on. */
    opts = PQconninfoParse(ctx->uri, &perr);
    if (opts == NULL) {
        char msg[128] = "";

        if (perr != NULL && strstr(perr, "invalid URI query parameter") != NULL)
            pg_flatten(perr, msg, sizeof(msg));
        rc_seterr(err, errlen, "postgres URL is not a valid libpq connection URI%s%s%s",
                  msg[0] != '\0' ? " (" : "", msg,
                  msg[0] != '\0' ? ")" : " (check %-escapes and parameter names)");
        PQfreemem(perr);
        rv = -EINVAL;
        goto out_free;
    }
    PQconninfoFree(opts);
    *ret_ctx = ctx;
    return 0;

out_nomem:
    rc_seterr(err, errlen, "out of memory");
    rv = -ENOMEM;
out_free:
    if (ctx != NULL && ctx->uri != NULL) {
        explicit_bzero(ctx->uri, PG_URI_MAX);
        free(ctx->uri);
    }
    free(ctx);
    return rv;
}

static int pg_publish(void *vctx, const struct rc_entry *self, char *err, size_t errlen)
{
    struct pg_ctx *ctx = vctx;
    char port[8], started[24], details[16];
    const char *params[6];
    PGresult *res = NULL;
    int rv;

    snprintf(port, sizeof(port), "%u", (unsigned)self->port);
    snprintf(started, sizeof(started), "%lld", (long long)self->started_at_ms);
    params[0] = ctx->cluster;
    params[1] = self->name;
    params[2] = self->host;
    params[3] = port;
    params[4] = started;
    snprintf(details, sizeof(details), "%s%s", self->kind != RC_KIND_UNKNOWN ? "kind=" : "",
             rc_entry_kind_str(self->kind));
    params[5] = details;
    rv = pg_run(ctx, pg_sql_publish, 6, params, PGRES_TUPLES_OK, "publish", &res, err, errlen);
    if (rv < 0)
        return rv;
    PQclear(res);
    return 0;
}

/* Row i's details column (after the PG_NCOLS ones): "kind=app" /
 * "kind=agent"; anything else is unknown. */
static enum rc_entry_kind pg_row_kind(const PGresult *res, int i)
{
    if (PQgetisnull(res, i, PG_NCOLS) == 0 && PQgetlength(res, i, PG_NCOLS) > 5 &&
        memcmp(PQgetvalue(res, i, PG_NCOLS), "kind=", 5) == 0)
        return rc_entry_kind_parse(PQgetvalue(res, i, PG_NCOLS) + 5,
                                   (size_t)PQgetlength(res, i, PG_NCOLS) - 5);
    return RC_KIND_UNKNOWN;
}

static int pg_list(void *vctx, struct rc_reg_list *ret_list, char *err, size_t errlen)
{
    struct pg_ctx *ctx = vctx;
    struct rc_reg_list l = {0};
    char limit[16];
    const char *params[2] = {ctx->cluster, limit};
    PGresult *res = NULL;
    int rv, nrows;

    snprintf(limit, sizeof(limit), "%d", RC_REGISTRY_MAX_ENTRIES + 1);
    rv = pg_run(ctx, pg_sql_list, 2, params, PGRES_TUPLES_OK, "list", &res, err, errlen);
    if (rv < 0)
        return rv;
    if (PQnfields(res) != PG_NCOLS + 1) { /* + details, read apart: only its kind= */
        rc_seterr(err, errlen, "postgres list: unexpected result shape");
        rv = -EPROTO;
        goto out_clear;
    }
    nrows = PQntuples(res);
    for (int i = 0; i < nrows; i++) {
        const char *val[PG_NCOLS];
        int len[PG_NCOLS];
        bool isnull[PG_NCOLS];
        struct rc_entry e;
        char why[96];

        for (int c = 0; c < PG_NCOLS; c++) {
            isnull[c] = PQgetisnull(res, i, c) != 0;
            val[c] = PQgetvalue(res, i, c);
            len[c] = PQgetlength(res, i, c);
        }
        if (pg_decode_row(val, len, isnull, &e, why, sizeof(why)) < 0) {
            rv = rc_reg_list_reject(&l, val[PG_COL_NAME],
                                    isnull[PG_COL_NAME] ? 0 : (size_t)len[PG_COL_NAME], why);
        } else {
            e.kind = pg_row_kind(res, i);
            rv = rc_reg_list_add(&l, &e);
            if (rv == -E2BIG) {
                rv = 0; /* full: the facade reports the rest */
                break;
            }
        }
        if (rv < 0) {
            rc_seterr(err, errlen, "out of memory");
            goto out_clear;
        }
    }
    PQclear(res);
    *ret_list = l;
    return 0;

out_clear:
    PQclear(res);
    rc_reg_list_free(&l);
    return rv;
}

static int pg_remove(void *vctx, const char *name, int64_t min_age_ms, char *err, size_t errlen)
{
    struct pg_ctx *ctx = vctx;
    char minage[24];
    const char *params[3] = {ctx->cluster, name, minage};
    PGresult *res = NULL;
    int rv;

    snprintf(minage, sizeof(minage), "%lld", (long long)(min_age_ms > 0 ? min_age_ms : 0));
    rv = pg_run(ctx, pg_sql_remove, 3, params, PGRES_TUPLES_OK, "remove", &res, err, errlen);
    if (rv < 0)
        return rv;
    rv = PQntuples(res) > 0 ? 1 : 0; /* one row per deleted entry (and its notify) */
    PQclear(res);
    return rv;
}

static int pg_get(void *vctx, const char *name, struct rc_entry *ret, char *err, size_t errlen)
{
    struct pg_ctx *ctx = vctx;
    const char *params[2] = {ctx->cluster, name};
    const char *val[PG_NCOLS];
    int len[PG_NCOLS];
    bool isnull[PG_NCOLS];
    PGresult *res = NULL;
    char why[96];
    int rv;

    rv = pg_run(ctx, pg_sql_get, 2, params, PGRES_TUPLES_OK, "get", &res, err, errlen);
    if (rv < 0)
        return rv;
    if (PQnfields(res) != PG_NCOLS + 1 || PQntuples(res) > 1) {
        rc_seterr(err, errlen, "postgres get: unexpected result shape");
        rv = -EPROTO;
        goto out;
    }
    if (PQntuples(res) == 0) {
        rc_seterr(err, errlen, "no entry for %s", name);
        rv = -ENOENT;
        goto out;
    }
    for (int c = 0; c < PG_NCOLS; c++) {
        isnull[c] = PQgetisnull(res, 0, c) != 0;
        val[c] = PQgetvalue(res, 0, c);
        len[c] = PQgetlength(res, 0, c);
    }
    if (pg_decode_row(val, len, isnull, ret, why, sizeof(why)) < 0) {
        rc_seterr(err, errlen, "%s", why);
        rv = -EBADMSG;
    } else {
        ret->kind = pg_row_kind(res, 0);
    }
out:
    PQclear(res);
    return rv;
}

static int pg_changed(void *vctx, uint64_t *version, char *err, size_t errlen)
{
    struct pg_ctx *ctx = vctx;
    PGnotify *n;
    PGresult *res = NULL;
    bool got = false;
    int rv;

    if (ctx->conn == NULL || !ctx->listening) {
        rv = pg_run(ctx, "LISTEN " PG_CHANNEL, 0, NULL, PGRES_COMMAND_OK, "listen", &res, err,
                    errlen);
        if (rv < 0)
            return rv;
        PQclear(res);
        ctx->listening = true;
        (*version)++;
        return 1; /* a new session: what happened before it is unknown */
    }
    if (PQconsumeInput(ctx->conn) == 0) {
        pg_drop(ctx);
        return 1; /* listen again next time; list now in case we missed one */
    }
    while ((n = PQnotifies(ctx->conn)) != NULL) {
        if (n->extra != NULL && strcmp(n->extra, ctx->cluster) == 0)
            got = true;
        PQfreemem(n);
    }
    if (got)
        (*version)++;
    return got ? 1 : 0;
}

static void pg_close(void *vctx)
{
    struct pg_ctx *ctx = vctx;

    if (ctx == NULL)
        return;
    pg_drop(ctx);
    if (ctx->uri != NULL) {
        explicit_bzero(ctx->uri, PG_URI_MAX);
        free(ctx->uri);
    }
    free(ctx);
}

const struct rc_backend_ops rc_backend_postgres = {
    .scheme = "postgres",
    .open = pg_open,
    .publish = pg_publish,
    .list = pg_list,
    .remove = pg_remove,
    .close = pg_close,
    .changed = pg_changed,
    .get = pg_get,
};

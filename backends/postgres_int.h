/*
 * postgres_int.h - the PostgreSQL backend's private contract
 * (backends/postgres.c): what its unit tests, its fuzzer and the conformance
 * suite reach, and its ops table rc_backend_postgres, which the module's
 * entry point (backends/module_stamp.c) hands to the loader. Nothing outside
 * backends/ and tests/ includes it.
 *
 * The parsers (URL split, list rows, libpq messages) are pure functions of
 * bytes. The connection calls are here for the conformance suite, which
 * writes garbage into the table with the backend's own connection. Never
 * logs; err never holds the password; 0 or a negative errno.
 */
#ifndef ROLLCALL_BACKENDS_POSTGRES_INT_H
#define ROLLCALL_BACKENDS_POSTGRES_INT_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

#include "rollcall/backend.h"

#define PG_DEFAULT_CLUSTER "rollcall"
#define PG_CLUSTER_MAX 64
#define PG_URI_MAX 4096
#define PG_CLUSTER_PARAM "rollcall_cluster" /* our one URL parameter; libpq never sees it */

/* The backend: open, publish, list, remove, close (rollcall/backend.h). */
extern const struct rc_backend_ops rc_backend_postgres;

/* ---- URL ---- */

bool pg_cluster_valid(const char *s); /* 1..PG_CLUSTER_MAX of [A-Za-z0-9_.-] */

/* Splits our parameter off a postgres:// or postgresql:// URI. Pure. Writes
 * the URI libpq gets (every other parameter kept in order) into out and the
 * cluster name (default "rollcall") into cluster. err never quotes the URI. */
int pg_url_split(const char *url, char *out, size_t outcap, char cluster[PG_CLUSTER_MAX + 1],
                 char *err, size_t errlen);

/* ---- rows ---- */

enum { PG_COL_NAME, PG_COL_HOST, PG_COL_PORT, PG_COL_STARTED, PG_COL_SEEN, PG_COL_AGE, PG_NCOLS };

/* Decodes one row of list's query, in text format: name, host, port,
 * started_at ms, last_seen ms, age ms (NULL when not a finite time). Pure.
 * -EPROTO with a reason in why for anything someone may have written badly;
 * ret is then untouched. */
int pg_decode_row(const char *const val[PG_NCOLS], const int len[PG_NCOLS],
                  const bool isnull[PG_NCOLS], struct rc_entry *ret, char *why, size_t whylen);

/* Copies a libpq message on one line (newlines become "; "), trimmed. */
void pg_flatten(const char *msg, char *out, size_t cap);

/* ---- the connection ---- */

struct pg_ctx {
    char *uri; /* what libpq gets; holds the password if the URL did */
    char cluster[PG_CLUSTER_MAX + 1];
    PGconn *conn;   /* NULL = connect on the next call */
    bool listening; /* LISTEN rollcall_changed done on conn (issue 15) */
};

/* Connects ctx (ctx->conn NULL before), sets statement_timeout and creates
 * the table if it is missing. On failure ctx->conn is NULL again. */
int pg_connect(struct pg_ctx *ctx, char *err, size_t errlen);

/* Runs sql without parameters on ctx's connection, within the client-side
 * deadline; 0 if the result has status want. */
int pg_exec_simple(struct pg_ctx *ctx, const char *sql, ExecStatusType want, const char *op,
                   char *err, size_t errlen);

#endif

/*
 * store.h - what a registry holds and how a backend hands it over
 * (registry/list.c, registry/entry.c: the small store library that the
 * program and every backend module link).
 *
 * Registry contents are written by other machines: every parser here is
 * bounded and rejects rather than guesses, and whatever a backend cannot
 * use becomes a reject that keeps the store's raw bytes, to be escaped once
 * where it is shown (the log line, the CLI; docs/logs.md, "Escaping").
 * Nothing here logs. 0 or a negative errno; reasons in `char *err, size_t
 * errlen`, never a secret.
 */
#ifndef ROLLCALL_STORE_H
#define ROLLCALL_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rollcall/isotime.h" /* rc_time_format_iso, rc_time_parse_iso */
#include "rollcall/names.h"   /* RC_NAME_MAX, RC_HOST_MAX, rc_node_name_valid */

#define RC_ENTRY_TEXT_MAX (64 * 1024) /* larger stored entries are rejected */
#define RC_REGISTRY_MAX_ENTRIES 10000 /* list() keeps at most this many entries */
#define RC_REJECT_WHAT_MAX 159        /* bytes of a reject's name kept */

/* Who wrote an entry (docs/app.md): an agent for itself, an agent in app
 * mode for its app, or unknown (no kind: a classic Elixir sync-dir file, an
 * older rollcall, anything else). Stored as kind=agent / kind=app (text
 * formats) or in PostgreSQL's details column. The field made the module ABI
 * version 2 (backend.h): a module built before it is refused, not misread. */
enum rc_entry_kind { RC_KIND_UNKNOWN = 0, RC_KIND_AGENT, RC_KIND_APP };

struct rc_entry {
    char name[RC_NAME_MAX + 1]; /* full node name, validated */
    char host[RC_HOST_MAX + 1]; /* where to dial; "" = the host part of name */
    uint16_t port;              /* distribution port; 0 = ask EPMD */
    int64_t started_at_ms;      /* unix ms, 0 = unknown */
    int64_t updated_at_ms;      /* unix ms as the writer claims it, 0 = unknown */
    int64_t age_ms;             /* list(): ms since the last refresh, on the backend's clock */
    enum rc_entry_kind kind;    /* kind=; RC_KIND_UNKNOWN when absent */
};

/* Something list() found and could not use (garbage written by someone
 * else). `what` is the store's name for it AS IT IS, raw and untrusted (any
 * byte, even NUL: whatlen counts), cut to RC_REJECT_WHAT_MAX bytes and
 * NUL-terminated after that; `cut` says it was longer. Show it only through
 * the logger or rc_text_escape (text.h), which escape it exactly once. */
struct rc_reject {
    char what[RC_REJECT_WHAT_MAX + 1];
    size_t whatlen;
    bool cut;
    char reason[96]; /* the backend's words; treated as untrusted text too */
};

struct rc_reg_list {
    struct rc_entry *entries;
    size_t n;
    struct rc_reject *rejects;
    size_t nrejects;
    /* Set by rc_reg_list_add when an entry did not fit (the cap): the first
     * one dropped. The registry facade turns it into one reject. */
    bool overflow;
    char overflow_name[RC_NAME_MAX + 1];
};

void rc_reg_list_free(struct rc_reg_list *l); /* frees the arrays, zeroes l; NULL is fine */

/* Appends to a list under construction (backends use these).
 * rc_reg_list_add: -ENOMEM, or -E2BIG when the list already holds
 * RC_REGISTRY_MAX_ENTRIES (the entry is dropped and noted in l->overflow;
 * the backend stops listing and returns success: the facade reports it).
 * rc_reg_list_reject: -ENOMEM; a reject past RC_REGISTRY_MAX_ENTRIES is
 * dropped (returns 0): past that many, one more says nothing new. */
int rc_reg_list_add(struct rc_reg_list *l, const struct rc_entry *e);
int rc_reg_list_reject(struct rc_reg_list *l, const char *what, size_t whatlen, const char *reason);
/* true once the list holds RC_REGISTRY_MAX_ENTRIES entries. */
bool rc_reg_list_full(const struct rc_reg_list *l);

/* ---- the entry text format (registry/entry.c), shared by the file and S3
 * backends (Redis stores the body, PostgreSQL columns) ----
 *
 *   2026-11-20T22:54:17.123Z          first line: ISO-8601 UTC refresh time
 *   name=rollcall@10.0.0.5
 *   host=10.0.0.5
 *   port=0
 *   started_at=2026-11-20T22:50:01.000Z
 *   kind=agent                        agent / app (docs/app.md); else unknown
 *
 * Unknown keys are ignored; every key is optional. A text that is only a
 * timestamp (as the classic Elixir setup writes) is valid.
 */

/* Writes the text for e (NUL-terminated). -EINVAL for a bad name or host,
 * -EMSGSIZE if cap is too small. */
int rc_entry_format(const struct rc_entry *e, char *out, size_t cap, size_t *ret_len);

/* The kind a kind= value names; anything but "agent" / "app" is unknown.
 * rc_entry_kind_str: "agent", "app", or "" for unknown. */
enum rc_entry_kind rc_entry_kind_parse(const char *val, size_t len);
const char *rc_entry_kind_str(enum rc_entry_kind kind);

/* The same text without its first (refresh time) line: for stores that keep
 * the refresh time themselves (a Redis score, an S3 LastModified), so the
 * stored body stays byte-identical between refreshes. */
int rc_entry_format_body(const struct rc_entry *e, char *out, size_t cap, size_t *ret_len);

/* Parses text of len bytes (not NUL-terminated; len <= RC_ENTRY_TEXT_MAX).
 * name_hint is the name the store knows the entry by (file or object name);
 * a name= line must equal it. On success fills ret (age_ms = 0; a missing
 * first-line timestamp leaves updated_at_ms 0). -EPROTO with a reason in err
 * for anything else: bad name, bad port, control bytes, over-long lines. */
int rc_entry_parse(const char *text, size_t len, const char *name_hint, struct rc_entry *ret,
                   char *err, size_t errlen);

#endif

/*
 * peers.h - the peer table and its state machine (agent/peers.c).
 *
 * Pure: no sockets, no event loop, no clock, no logging. The caller passes
 * the time in and gets back what changed (struct rc_peer_change); emitting
 * it (log lines, events, a prune request to the registry worker, dropping a
 * connection) is the caller's job: the agent loop (sweep.c) and the CLI
 * (cli.c) share this table, so a verdict means the same everywhere.
 *
 * The table holds the members of the newest registry snapshot except this
 * node, sorted by name. A snapshot may be applied at any time, even while a
 * sweep runs: a member that stays keeps its state (and its verdict of the
 * running sweep), a new member joins the next sweep, a member that went is
 * reported as LEFT.
 *
 * One sweep: rc_peers_sweep_begin, then one rc_peers_record per answer (the
 * ONE place a ping verdict is recorded), then rc_peers_sweep_end, which
 * records a timeout for every member that did not answer and runs the
 * two-stage expiry: a member is pruned only when its registry entry is
 * stale (age > stale_after) AND its pings have failed for prune_after. A
 * member that answers is never pruned; a prune that did not take (the
 * entry is still listed prune_after later) is asked again, quietly.
 *
 * States: UNKNOWN (never judged), UP, DOWN. A state between UP and DOWN
 * (suspect) can be added here: every transition goes through one internal
 * function and is reported with its from and to states.
 *
 * Errors: 0 / negative errno. Ownership: the table owns its array; change
 * lists are the caller's (reuse one across calls, free it at the end).
 */
#ifndef ROLLCALL_PEERS_H
#define ROLLCALL_PEERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rollcall/names.h"
#include "rollcall/detect.h"
#include "rollcall/reason.h"
#include "rollcall/worker.h"

/* SUSPECT: a ping went unanswered, no evidence of death yet (the classic
 * output still says true); see docs/detection.md. */
enum rc_peer_state { RC_PEER_UNKNOWN = 0, RC_PEER_UP, RC_PEER_DOWN, RC_PEER_SUSPECT };

/* The result of one ping. ok implies reason == RC_REASON_OK; rtt_us only
 * means something when ok. */
struct rc_verdict {
    bool ok;
    enum rc_reason reason;
    uint64_t rtt_us;
    uint64_t at_ms, sent_ms; /* caller's clock: the verdict, the ping's start (0: unknown) */
};

struct rc_peer {
    struct rc_snap_entry se; /* the registry's view: name, host, port, age, address */
    enum rc_peer_state state;
    enum rc_reason reason;     /* of the last failure */
    uint64_t rtt_us;           /* of the last answer */
    uint64_t failing_since_ms; /* caller's clock; 0 = answering */
    bool prune_requested;
    bool pruned;                 /* the store removed its entry on our request */
    uint64_t prune_requested_ms; /* caller's clock */
    uint64_t recheck_ms;         /* caller's clock: when we last asked the store again */
    /* the running (or last) sweep */
    bool in_sweep;          /* part of it (a member that joined mid-sweep is not) */
    bool done;              /* its verdict is in */
    struct rc_verdict last; /* that verdict, valid when done */
    /* detection (docs/detection.md); the caller's clock */
    struct rc_rtt rtt;               /* the link's round trips: its ping deadline */
    uint64_t last_answer_ms;         /* 0 = never */
    uint64_t suspect_since_ms;       /* when the ping that went unanswered was sent */
    enum rc_peer_state suspect_from; /* the state it was suspected in */
    const char *evidence;            /* of the last DOWN: static words */
    const char *confirmed_by;
    uint8_t probe_misses; /* confirm.c: probe rounds it left unanswered */
};

struct rc_peers {
    struct rc_peer *v; /* sorted by name; read-only for the caller */
    size_t n;
    bool sweeping;
    uint64_t stale_after_ms, prune_after_ms;
    /* true (the agent): a timeout makes a member SUSPECT, and only
     * rc_peers_confirm makes a suspect DOWN; false (the CLI's one-shot
     * table): a timeout is a verdict, as before */
    bool confirm;
};

enum rc_peer_event {
    RC_PEER_EV_UP = 1,  /* rtt_us */
    RC_PEER_EV_DOWN,    /* reason */
    RC_PEER_EV_LEFT,    /* no longer in the registry: drop its connection */
    RC_PEER_EV_PRUNE,   /* ask the registry to remove it (age_ms: its entry's age); silent */
    RC_PEER_EV_SUSPECT, /* UP/UNKNOWN -> SUSPECT (reason): confirm it; not a classic change */
    RC_PEER_EV_REFUTED, /* SUSPECT -> UP again (suspect_ms): not a classic change */
    RC_PEER_EV_RECHECK, /* stale only by our count since the store last spoke: read it again */
    RC_PEER_EV_PRUNED,  /* the store removed its entry on our request (age_ms): announce it */
};

struct rc_peer_change {
    enum rc_peer_event ev;
    char name[RC_NAME_MAX + 1];
    enum rc_peer_state from, to; /* UP, DOWN */
    enum rc_reason reason;       /* DOWN */
    uint64_t rtt_us;             /* UP */
    int64_t age_ms;              /* PRUNE, PRUNED */
    bool quiet; /* act but do not announce: LEFT of a member we pruned (announced PRUNED) */
    /* DOWN: how it was confirmed (static words, never NULL for DOWN) */
    const char *evidence, *confirmed_by;
    uint64_t suspect_ms;               /* REFUTED, DOWN: how long it was suspect */
    uint64_t silence_ms;               /* DOWN after a round: unheard by everyone this long */
    uint32_t helpers, helpers_replied; /* DOWN after a round */
};

struct rc_peer_changes {
    struct rc_peer_change *v;
    size_t n, cap;
};
void rc_peer_changes_free(struct rc_peer_changes *c); /* frees v; the struct is reusable */

void rc_peers_init(struct rc_peers *t, uint64_t stale_after_ms, uint64_t prune_after_ms);
void rc_peers_set_expiry(struct rc_peers *t, uint64_t stale_after_ms, uint64_t prune_after_ms);
void rc_peers_free(struct rc_peers *t); /* the struct is reusable after rc_peers_init */

/* The member named name, or NULL. */
struct rc_peer *rc_peers_find(const struct rc_peers *t, const char *name);
/* Whether s holds a member (not self) that the table does not. */
bool rc_peers_has_new(const struct rc_peers *t, const struct rc_snapshot *s);

/* Replaces the members with s's (s->v sorted by name, no duplicates: else
 * -EINVAL), carrying state over; appends a LEFT change to out (cleared
 * first) for every member that went. -ENOMEM leaves the table as it was.
 * A member whose entry is fresh again (age < stale_after) is no longer
 * being pruned: it came back. */
int rc_peers_apply(struct rc_peers *t, const struct rc_snapshot *s, struct rc_peer_changes *out);

/* Starts a sweep over every member. */
void rc_peers_sweep_begin(struct rc_peers *t);

/* Records one ping verdict for the member named name in the running sweep.
 * Returns 1 and fills chg when the member's state changed (UP or DOWN), 0
 * when it did not, -ENOENT for no such member, -EALREADY when the member
 * has its verdict already or is not part of the sweep. */
int rc_peers_record(struct rc_peers *t, const char *name, const struct rc_verdict *v,
                    struct rc_peer_change *chg);

/* An established connection to name was lost (between sweeps too). With
 * confirmation the member becomes SUSPECT (reason connection_lost) and the
 * confirmation round's fresh dial decides: a refusal makes it DOWN within a
 * round trip, keeping reason connection_lost; an answer refutes it (a live
 * peer that closed a connection on purpose). Without, DOWN at once. Same
 * returns as rc_peers_record, without -EALREADY; the sweep's verdict is
 * not touched. */
int rc_peers_mark_down(struct rc_peers *t, const char *name, enum rc_reason reason, uint64_t now_ms,
                       struct rc_peer_change *chg);

/* Ends the sweep at now_ms: a timeout for every member without a verdict,
 * then the expiry. Appends to out (cleared first) the DOWN and PRUNE
 * changes. A PRUNE change that cannot be stored (no memory) is not marked
 * as asked, so the next sweep asks again. */
void rc_peers_sweep_end(struct rc_peers *t, uint64_t now_ms, struct rc_peer_changes *out);

/* A verdict from outside the sweep (a confirmation ping, a ping made for
 * another agent's probe): an answer refutes a suspect, a refusal (any failure
 * but a timeout, a lost route or a lost connection) is a DOWN, those three
 * change nothing. Same returns as
 * rc_peers_mark_down; the sweep's bookkeeping is not touched. */
int rc_peers_observe(struct rc_peers *t, const char *name, const struct rc_verdict *v,
                     struct rc_peer_change *chg);

/* A timeout (or lost route or connection) seen outside the sweep by a ping
 * of our own, e.g. one made for another agent's probe: an UP member that
 * has not answered us since v->sent_ms becomes SUSPECT, so that our own
 * confirmation starts now rather than at our next sweep. Nothing else
 * changes. Same returns as rc_peers_mark_down. */
int rc_peers_suspect(struct rc_peers *t, const char *name, const struct rc_verdict *v,
                     struct rc_peer_change *chg);

/* The end of a confirmation round (agent/confirm.c) for a SUSPECT member:
 * REFUTE makes it UP, DOWN makes it DOWN with d's evidence, STAY changes
 * nothing. Returns 1 and fills chg on a change, 0 if none (or the member
 * is not suspect any more), -ENOENT. */
int rc_peers_confirm(struct rc_peers *t, const char *name, const struct rc_decision *d,
                     uint64_t now_ms, struct rc_peer_change *chg);

/* The store removed name's entry on our request (rc_worker_take_pruned):
 * fills chg (PRUNED, age_ms) and marks the member, if still in the table,
 * so that its LEFT is quiet. Returns 1 always: the removal happened, table
 * or not. */
int rc_peers_pruned(struct rc_peers *t, const char *name, int64_t age_ms,
                    struct rc_peer_change *chg);

/* This node leaves: the running sweep ends without verdicts (the members
 * did nothing wrong; their connections are about to close on our side). */
void rc_peers_leave(struct rc_peers *t);

#endif

/*
 * epmd_int.h - private to erldist/epmd_*.c: the one client exchange that
 * both the lookup (epmd_client.c) and the keeper's ALIVE2 (epmd_keeper.c)
 * run, and the small helpers the three EPMD files share. Not a public
 * contract: nothing outside erldist/epmd_*.c includes it.
 *
 * An exchange: connect, send one request, read the answer. It uses raw
 * non-blocking sockets rather than bufferevents so that the errno of a failed
 * connect reaches the caller exactly (the reasons in the logs depend on it)
 * and every send carries MSG_NOSIGNAL. An immediate connect failure is
 * delivered from the loop, never from inside rc_epmd_xchg_start, so callers'
 * "exactly once, unless cancelled" callbacks have no exception.
 */
#ifndef ROLLCALL_EPMD_INT_H
#define ROLLCALL_EPMD_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "rollcall/epmd_msg.h"
#include "rollcall/clock.h"

#define RC_EPMD_XCHG_OUT_CAP (2 + 13 + RC_EPMD_ALIVE_MAX) /* the larger request: ALIVE2_REQ */
#define RC_EPMD_XCHG_IN_CAP 2048     /* PORT2_RESP: 12 + 255 name + 2 + extra (epmd: <= 1023) */
#define RC_EPMD_WARN_WINDOW_MS 60000 /* rate-limited warnings: per this window */

#define rc_epmd_container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

struct event;
struct event_base;

struct rc_epmd_xchg {
    int fd;
    struct event *ev_w;     /* connect completion, then the request */
    struct event *ev_r;     /* the answer */
    struct event *ev_timer; /* deadline; also delivers an immediate connect error */
    int pending;            /* that error */
    bool connecting;
    uint8_t out[RC_EPMD_XCHG_OUT_CAP];
    size_t outlen, outoff;
    uint8_t in[RC_EPMD_XCHG_IN_CAP];
    size_t inlen;
    /* After each read: -EAGAIN to read on, else the result handed to done. */
    int (*complete)(struct rc_epmd_xchg *x, bool eof);
    /* Called once with 0 or -errno. It must call rc_epmd_xchg_cleanup (it may
     * first take x->fd for itself) and may free the object holding x. */
    void (*done)(struct rc_epmd_xchg *x, int result);
};

/* Zeroes x; fd -1. */
void rc_epmd_xchg_init(struct rc_epmd_xchg *x);
/* Frees the events and closes the socket; x may be started again. */
void rc_epmd_xchg_cleanup(struct rc_epmd_xchg *x);
/* True between a successful start and done. */
bool rc_epmd_xchg_busy(const struct rc_epmd_xchg *x);
/* Starts connecting; x->out holds the request, complete and done are set.
 * 0, or -errno with nothing left to clean up (done is then never called). */
int rc_epmd_xchg_start(struct rc_epmd_xchg *x, struct event_base *base, const struct sockaddr *sa,
                       socklen_t salen, uint64_t timeout_ms);

static inline struct timeval rc_epmd_ms_tv(uint64_t ms)
{
    return (struct timeval){.tv_sec = (time_t)(ms / 1000),
                            .tv_usec = (suseconds_t)(ms % 1000) * 1000};
}

/* A creation from the clock: unix seconds, at least 4, never prev. */
static inline uint32_t rc_epmd_time_creation(uint32_t prev)
{
    uint32_t c;

    c = (uint32_t)(rc_now_wall_ms() / 1000);
    if (c == prev)
        c++;
    return c < 4 ? 4 : c;
}

#endif

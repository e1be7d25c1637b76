/*
 * epmd_client.h - one PORT_PLEASE2 lookup on the libevent loop
 * (erldist/epmd_client.c): "which distribution port has node NAME on that
 * host?". Used by the node to dial peers; it needs no registration of its own.
 *
 * Contract: the callback runs exactly once unless cancelled, always from the
 * loop (never from inside rc_epmd_lookup_start). The lookup is freed before
 * its callback runs, so the callback may start or cancel other lookups; the
 * finished handle must not be used again. Details: docs/epmd.md, "Lookup".
 */
#ifndef ROLLCALL_EPMD_CLIENT_H
#define ROLLCALL_EPMD_CLIENT_H

#include <stdint.h>
#include <sys/socket.h>

#include "rollcall/epmd_msg.h"

struct event_base;

/* result 0 and the port; -ENOENT (not_registered); -ECONNREFUSED /
 * -EHOSTUNREACH / -ENETUNREACH / -ETIMEDOUT / -EIO (epmd unreachable);
 * -EPROTO (malformed answer). */
typedef void (*rc_epmd_lookup_cb)(void *arg, int result, uint16_t port);
struct rc_epmd_lookup;
/* addr is the peer host with the EPMD port set; alive the part before '@'.
 * NULL with errno on immediate failure (then the callback is never called):
 * EINVAL bad arguments, ENOMEM / EMFILE and the like. */
struct rc_epmd_lookup *rc_epmd_lookup_start(struct event_base *base, const struct sockaddr *addr,
                                            socklen_t addrlen, const char *alive,
                                            rc_epmd_lookup_cb cb, void *arg);
/* Stops a lookup; its callback is never called afterwards. NULL is fine. */
void rc_epmd_lookup_cancel(struct rc_epmd_lookup *l);

#endif

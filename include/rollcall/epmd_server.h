/*
 * epmd_server.h - the embedded EPMD server (erldist/epmd_server.c), modelled
 * on OTP's erts/epmd/src/epmd_srv.c. The keeper (epmd_keeper.h) starts it
 * when the host has no EPMD; nothing else needs to.
 *
 * Contract: it listens on epmd_port (on every address, or on the one
 * rc_epmd_server_new_at names) and answers PORT_PLEASE2 and
 * NAMES for our own node and for BEAM nodes that registered with ALIVE2 from
 * loopback; it refuses ALIVE2 from other addresses and bounds connections
 * and idle time. One request per connection; a registration lives as long as
 * its connection. It logs registrations at info and refusals as rate-limited
 * warnings. Details: docs/epmd.md, "The embedded server".
 */
#ifndef ROLLCALL_EPMD_SERVER_H
#define ROLLCALL_EPMD_SERVER_H

#include <stdint.h>

struct event_base;

struct rc_epmd_server;
/* Binds and listens now. alive is our own name (1..RC_EPMD_ALIVE_MAX bytes,
 * no '@'), served with dist_port. NULL with errno set on failure (EADDRINUSE
 * when the port is taken, ENOMEM, ...). */
struct rc_epmd_server *rc_epmd_server_new(struct event_base *base, uint16_t epmd_port,
                                          const char *alive, uint16_t dist_port);
/* The same, listening on one IPv4 address (network byte order;
 * INADDR_ANY = every interface), or with RC_BIND_LO on every loopback
 * address, IPv4 and IPv6, and nothing else (the socket is bound to the "lo"
 * device): the agent's `bind`. */
#define RC_BIND_LO 0xffffffffu /* INADDR_NONE: never an address to bind */
struct rc_epmd_server *rc_epmd_server_new_at(struct event_base *base, uint32_t bind_addr,
                                             uint16_t epmd_port, const char *alive,
                                             uint16_t dist_port);
/* Closes the listener and every connection, registrations included, without
 * logging each unregistration. NULL is fine. */
void rc_epmd_server_free(struct rc_epmd_server *s);

#endif

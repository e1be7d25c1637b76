/*
 * epmd_keeper.h - the registration keeper (erldist/epmd_keeper.c): makes our
 * node findable through EPMD on this host, whatever the host offers.
 *
 * Contract. auto: register with the EPMD on 127.0.0.1:port (ALIVE2, socket
 * held open); if none answers, serve an embedded EPMD on port
 * (epmd_server.h). system: register only (retrying). embedded: serve only.
 * off: nothing. It re-checks every check_interval_ms: a lost registration is
 * redone, or (auto) the embedded server takes over, within one interval. It
 * logs mode changes at info and failures as rate-limited warnings.
 * Details: docs/epmd.md, "The keeper".
 */
#ifndef ROLLCALL_EPMD_KEEPER_H
#define ROLLCALL_EPMD_KEEPER_H

#include <stddef.h>
#include <stdint.h>

struct event_base;

enum rc_epmd_mode { RC_EPMD_AUTO, RC_EPMD_SYSTEM, RC_EPMD_EMBEDDED, RC_EPMD_OFF };

struct rc_epmd;
/* alive is our name before '@'. NULL with a reason in err: a bad name, port
 * 0, out of memory, or (embedded) the port cannot be bound. */
struct rc_epmd *rc_epmd_new(struct event_base *base, enum rc_epmd_mode mode, uint16_t epmd_port,
                            const char *alive, uint16_t dist_port, uint64_t check_interval_ms,
                            char *err, size_t errlen);
/* The same, for a node bound to one IPv4 address (network byte order;
 * INADDR_ANY = every interface, as rc_epmd_new): an embedded server listens
 * there only, and a loopback bind address (127.0.0.0/8) is also where the
 * keeper looks for a running EPMD (else 127.0.0.1). */
struct rc_epmd *rc_epmd_new_at(struct event_base *base, enum rc_epmd_mode mode, uint32_t bind_addr,
                               uint16_t epmd_port, const char *alive, uint16_t dist_port,
                               uint64_t check_interval_ms, char *err, size_t errlen);
/* The creation to use in handshakes: from ALIVE2, else a time-based value >= 4. */
uint32_t rc_epmd_creation(const struct rc_epmd *e);
/* "system", "embedded", "off" or "none" (auto, nothing working yet). */
const char *rc_epmd_state(const struct rc_epmd *e);
/* Closes everything (registration socket, server, clients). NULL is fine. */
void rc_epmd_free(struct rc_epmd *e);

#endif

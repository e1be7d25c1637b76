/*
 * netif.h - this host's interface addresses (agent/netif.c).
 *
 * Used to give a bare node name ("rollcall") its host part. Blocking only
 * as long as getifaddrs(3); never logs.
 */
#ifndef ROLLCALL_NETIF_H
#define ROLLCALL_NETIF_H

#include <stddef.h>

/* First global (non-loopback, non-link-local) IPv4 address of this host into
 * out, dotted. -ENOENT if there is none, -ENOSPC if out is too small,
 * another negative errno if the interfaces cannot be read. */
int rc_first_global_ipv4(char *out, size_t outlen);

#endif

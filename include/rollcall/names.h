/*
 * names.h - Erlang node names and host names as rollcall accepts them
 * (base/names.c), and their bounds. Pure predicates: no allocation, no
 * errno. Every name read from the network, a registry or the command line
 * passes through one of these before it is used.
 */
#ifndef ROLLCALL_NAMES_H
#define ROLLCALL_NAMES_H

#include <stdbool.h>
#include <stddef.h>

#define RC_NAME_MAX 255 /* full node name "alive@host", bytes, without NUL */
#define RC_HOST_MAX 255 /* a host to dial, bytes, without NUL */

/* true if name is a valid node name: exactly one '@', alive part
 * [A-Za-z0-9_-]{1,}, host part [A-Za-z0-9._:-]{1,}, total <= RC_NAME_MAX.
 * NULL is not valid. */
bool rc_node_name_valid(const char *name);

/* true if s[0..len) is a host as a node name or registry entry may give it:
 * [A-Za-z0-9._:-]{0,RC_NAME_MAX} (empty is allowed: "the name's host"). */
bool rc_host_valid(const char *s, size_t len);

#endif

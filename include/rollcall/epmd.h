/*
 * epmd.h - EPMD as node.h and config.h see it: the wire messages
 * (epmd_msg.h), the lookup client (epmd_client.h) and the registration
 * keeper with its mode (epmd_keeper.h). It declares nothing itself; new code
 * includes the one part it uses. The embedded server (epmd_server.h) is the
 * keeper's business only. Map: docs/epmd.md.
 */
#ifndef ROLLCALL_EPMD_H
#define ROLLCALL_EPMD_H

#include "rollcall/epmd_msg.h"
#include "rollcall/epmd_client.h"
#include "rollcall/epmd_keeper.h"

#endif

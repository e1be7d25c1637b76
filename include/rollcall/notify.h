/*
 * notify.h - systemd's readiness protocol and journal detection
 * (agent/notify.c), without libsystemd.
 *
 * sd_notify(3) is one datagram of "KEY=VALUE\n" lines to the AF_UNIX socket
 * named by $NOTIFY_SOCKET (a path, or "@name" for the abstract namespace).
 * With no NOTIFY_SOCKET every call is a no-op returning 0, so the agent
 * calls them unconditionally. The watchdog period comes from WATCHDOG_USEC
 * (only when WATCHDOG_PID is unset or ours); the agent pings at half of it.
 *
 * Journal: systemd sets JOURNAL_STREAM=DEV:INO for a unit whose stderr is
 * the journal; when stderr's fstat matches, the logger prefixes each line
 * with "<N>" (sd-daemon(3) priorities) so that journalctl -p works.
 */
#ifndef ROLLCALL_NOTIFY_H
#define ROLLCALL_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Sends state ("READY=1", "STATUS=...\nWATCHDOG=1", ...). 0 if sent or if
 * there is no NOTIFY_SOCKET; negative errno otherwise. Never blocks. */
int rc_notify(const char *state);
bool rc_notify_enabled(void);
/* Half the watchdog period in ms, or 0 if systemd asked for none. */
uint64_t rc_notify_watchdog_ms(void);
/* "STATUS=N of M peers answer" (plus ", registry unavailable" etc. from
 * extra, if not NULL) into out. */
void rc_notify_status(char *out, size_t cap, size_t answering, size_t peers, const char *extra);

/* True when stderr is the journal stream systemd gave us. */
bool rc_journal_is_stderr(void);

#endif

/*
 * reason.h - why a ping failed or a peer went down.
 *
 * One enum shared by the handshake, the connection layer, the sweep and the
 * logs, so that every format prints the same precise words.
 */
#ifndef ROLLCALL_REASON_H
#define ROLLCALL_REASON_H

enum rc_reason {
    RC_REASON_OK = 0,
    RC_REASON_EPMD_UNREACHABLE, /* the peer host's EPMD refused or timed out */
    RC_REASON_NOT_REGISTERED,   /* EPMD answered: no such node */
    RC_REASON_CONNECT_REFUSED,  /* TCP RST on the distribution port */
    RC_REASON_TIMEOUT,          /* the ping deadline passed (any step) */
    RC_REASON_COOKIE_REJECTED,  /* digest mismatch, either direction */
    RC_REASON_HANDSHAKE_FAILED, /* nok / not_allowed / name or flag mismatch */
    RC_REASON_PROTOCOL_ERROR,   /* malformed or oversized frame or term */
    RC_REASON_CONNECTION_LOST,  /* an established connection closed */
    RC_REASON_UNREACHABLE,      /* EHOSTUNREACH / ENETUNREACH */
    RC_REASON_RESOLVE_FAILED,   /* the host name does not resolve */
    RC_REASON_SHUTDOWN,         /* we are stopping */
    RC_REASON_LOCAL_ERROR,      /* our side: out of sockets or memory (EMFILE, ENOMEM, ...) */
    RC_REASON_TLS_REQUIRED,     /* one side speaks TLS distribution, the other plain */
    RC_REASON_TLS_FAILED,       /* the TLS session failed (certificate, CA, alert) */
};

/* Returns the stable lower-case word for a reason ("timeout", ...). Never NULL. */
static inline const char *rc_reason_str(enum rc_reason r)
{
    switch (r) {
    case RC_REASON_OK:
        return "ok";
    case RC_REASON_EPMD_UNREACHABLE:
        return "epmd_unreachable";
    case RC_REASON_NOT_REGISTERED:
        return "not_registered";
    case RC_REASON_CONNECT_REFUSED:
        return "connect_refused";
    case RC_REASON_TIMEOUT:
        return "timeout";
    case RC_REASON_COOKIE_REJECTED:
        return "cookie_rejected";
    case RC_REASON_HANDSHAKE_FAILED:
        return "handshake_failed";
    case RC_REASON_PROTOCOL_ERROR:
        return "protocol_error";
    case RC_REASON_CONNECTION_LOST:
        return "connection_lost";
    case RC_REASON_UNREACHABLE:
        return "unreachable";
    case RC_REASON_RESOLVE_FAILED:
        return "resolve_failed";
    case RC_REASON_SHUTDOWN:
        return "shutdown";
    case RC_REASON_LOCAL_ERROR:
        return "local_error";
    case RC_REASON_TLS_REQUIRED:
        return "tls_required";
    case RC_REASON_TLS_FAILED:
        return "tls_failed";
    }
    return "unknown";
}

#endif

/*
 * tls.h - TLS for distribution connections, as `-proto_dist inet_tls` speaks
 * it: a TLS session on the distribution socket, then the ordinary handshake
 * and packets inside it (EPMD stays plain).
 *
 * Two parts:
 * - rc_tls_sniff (erldist/tls.c, pure, no OpenSSL): tells a TLS record
 *   header from the first bytes of a plain distribution handshake, so that a
 *   TLS peer reached without TLS, and a plain peer reached where TLS is
 *   required, fail with reason tls_required instead of a length error.
 * - the context (erldist/tls.c loads erldist/tls_openssl.c, built as the
 *   module rollcall-tls.so, with dlopen on the first rc_tls_ctx_new): a plain
 *   agent never maps libssl. One context per node, used only from the
 *   node's event loop thread.
 *
 * Verification is mutual and by chain only: both sides present a
 * certificate, and each must chain to tls_ca (the CA file); names in the
 * certificate are not compared with node names (as an OTP node whose
 * -ssl_dist_optfile sets verify_peer and server_name_indication disable).
 */
#ifndef ROLLCALL_TLS_H
#define ROLLCALL_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/util.h>

struct bufferevent;
struct event_base;
struct rc_tls_ctx;

/* What the first bytes of a stream are. */
enum rc_tls_kind {
    RC_TLS_MORE = 0,    /* fewer than 3 bytes: cannot tell yet */
    RC_TLS_PLAIN,       /* anything that is not a TLS record header */
    RC_TLS_HANDSHAKE,   /* a TLS handshake record (a ClientHello / ServerHello) */
    RC_TLS_ALERT,       /* a TLS alert record (what a TLS server answers to plain bytes) */
    RC_TLS_OTHER_RECORD /* change_cipher_spec or application_data */
};

/* Classifies p[0..n): a TLS record header is ContentType (20..23), then
 * major version 3 and minor version 0..4. A plain handshake frame starts with
 * Len:16 <= 1024, i.e. a first byte of 0..4, so the two never overlap. */
enum rc_tls_kind rc_tls_sniff(const uint8_t *p, size_t n);

/* true for the three TLS kinds. */
bool rc_tls_kind_is_tls(enum rc_tls_kind k);

/* PEM files; ca is required (peers are always verified). */
struct rc_tls_opts {
    const char *cert, *key, *ca;
};

/* Loads the module (once per process) and builds a context: certificate,
 * key (checked against each other), CA, TLS 1.2 minimum, mutual
 * verification. NULL with err (file and OpenSSL reason) on failure. */
struct rc_tls_ctx *rc_tls_ctx_new(const struct rc_tls_opts *o, char *err, size_t errlen);
void rc_tls_ctx_free(struct rc_tls_ctx *ctx); /* NULL is fine */

/* A bufferevent that speaks TLS on fd (or, with fd -1, on the socket that
 * bufferevent_socket_connect will create). server: accept a session (peer
 * certificate required) or open one. Closes fd when freed. NULL on failure
 * (fd then still belongs to the caller). */
struct bufferevent *rc_tls_bev_new(struct rc_tls_ctx *ctx, struct event_base *base,
                                   evutil_socket_t fd, bool server);

/* Why the TLS session on bev failed, in words ("certificate verify failed:
 * certificate has expired", ...); "" when OpenSSL recorded nothing. */
void rc_tls_bev_why(struct rc_tls_ctx *ctx, struct bufferevent *bev, char *out, size_t outlen);

/* The module's table (erldist/tls_openssl.c); the loader checks version. */
struct rc_tls_module {
    const char *version; /* ROLLCALL_VERSION of the build */
    void *(*ctx_new)(const struct rc_tls_opts *o, char *err, size_t errlen);
    void (*ctx_free)(void *ctx);
    struct bufferevent *(*bev_new)(void *ctx, struct event_base *base, evutil_socket_t fd,
                                   bool server);
    void (*bev_why)(struct bufferevent *bev, char *out, size_t outlen);
};

#endif

/*
 * tls_openssl.c - the TLS module (rollcall-tls.so): OpenSSL's libssl behind
 * the table in rollcall/tls.h. Built as a module, not into the program, so a
 * plain agent never maps libssl (erldist/tls.c loads it on demand).
 *
 * One SSL_CTX serves both roles: TLS 1.2 or newer, our certificate chain and
 * key, the CA file as the only trust anchor, and the peer's certificate
 * required in both directions. Read and write buffers are released while a
 * connection is idle (SSL_MODE_RELEASE_BUFFERS): distribution connections
 * are mostly idle, and this is most of a TLS connection's memory. A peer
 * that closes without close_notify (as a BEAM may) is an EOF, not an error.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "rollcall/tls.h"

/* The last OpenSSL error on this thread, in words, appended to err. */
static void ssl_err(char *err, size_t errlen, const char *what, const char *file)
{
    unsigned long e = ERR_peek_last_error();
    const char *reason = e != 0 ? ERR_reason_error_string(e) : NULL;

    snprintf(err, errlen, "tls: %s %s: %s", what, file,
             reason != NULL ? reason : "unknown OpenSSL error");
    ERR_clear_error();
}

/* Remembers the last fatal alert the peer sent (its reason for refusing
 * us), in the SSL's app data as alert + 1: libevent keeps only OpenSSL's
 * error codes, which for a received alert may say no more than
 * "SSL_ERROR_SSL". */
static void info_cb(const SSL *ssl, int where, int ret)
{
    if ((where & SSL_CB_READ_ALERT) == SSL_CB_READ_ALERT && (ret >> 8) == SSL3_AL_FATAL)
        SSL_set_app_data((SSL *)ssl, (void *)(uintptr_t)((ret & 0xff) + 1));
}

static void *ctx_new(const struct rc_tls_opts *o, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_method());
    STACK_OF(X509_NAME) *cas = NULL;

    if (ctx == NULL) {
        snprintf(err, errlen, "tls: cannot create an OpenSSL context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
    if (SSL_CTX_use_certificate_chain_file(ctx, o->cert) != 1) {
        ssl_err(err, errlen, "cannot use the certificate (tls_cert)", o->cert);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, o->key, SSL_FILETYPE_PEM) != 1) {
        ssl_err(err, errlen, "cannot use the key (tls_key)", o->key);
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        ssl_err(err, errlen, "the key does not match the certificate", o->key);
        goto fail;
    }
    if (SSL_CTX_load_verify_locations(ctx, o->ca, NULL) != 1) {
        ssl_err(err, errlen, "cannot load the CA file (tls_ca)", o->ca);
        goto fail;
    }
    cas = SSL_load_client_CA_file(o->ca);
    if (cas != NULL)
        SSL_CTX_set_client_CA_list(ctx, cas); /* takes ownership */
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    SSL_CTX_set_verify_depth(ctx, 8);
    SSL_CTX_set_info_callback(ctx, info_cb);
    return ctx;

fail:
    SSL_CTX_free(ctx);
    return NULL;
}

static void ctx_free(void *ctx)
{
    SSL_CTX_free(ctx);
}

static struct bufferevent *bev_new(void *ctx, struct event_base *base, evutil_socket_t fd,
                                   bool server)
{
    SSL *ssl = SSL_new(ctx);
    struct bufferevent *bev;

    if (ssl == NULL)
        return NULL;
    bev = bufferevent_openssl_socket_new(
        base, fd, ssl, server ? BUFFEREVENT_SSL_ACCEPTING : BUFFEREVENT_SSL_CONNECTING,
        BEV_OPT_CLOSE_ON_FREE);
    if (bev == NULL) {
        SSL_free(ssl);
        return NULL;
    }
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    return bev;
}

static void bev_why(struct bufferevent *bev, char *out, size_t outlen)
{
    SSL *ssl = bufferevent_openssl_get_ssl(bev);
    unsigned long e, last = 0;
    uintptr_t alert;
    char buf[256];
    long vr;
    const char *reason;

    while ((e = bufferevent_get_openssl_error(bev)) != 0)
        if (ERR_GET_LIB(e) != 0) /* libevent also records SSL_get_error's small codes */
            last = e;
    if (ssl != NULL && (vr = SSL_get_verify_result(ssl)) != X509_V_OK) {
        snprintf(out, outlen, "peer certificate verify failed: %s",
                 X509_verify_cert_error_string(vr));
        return;
    }
    alert = ssl != NULL ? (uintptr_t)SSL_get_app_data(ssl) : 0;
    if (alert != 0) {
        snprintf(out, outlen, "the peer refused the session: alert %s",
                 SSL_alert_desc_string_long((int)(alert - 1)));
        return;
    }
    if (last != 0) {
        /* "error:0A000418:SSL routines::tlsv1 alert unknown ca": the words */
        ERR_error_string_n(last, buf, sizeof(buf));
        reason = strrchr(buf, ':');
        snprintf(out, outlen, "%s", reason != NULL && reason[1] != '\0' ? reason + 1 : buf);
    }
}

__attribute__((visibility("default"))) const struct rc_tls_module rc_tls_module_v1 = {
    .version = ROLLCALL_VERSION,
    .ctx_new = ctx_new,
    .ctx_free = ctx_free,
    .bev_new = bev_new,
    .bev_why = bev_why,
};

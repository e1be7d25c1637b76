/*
 * url.h - registry URLs (base/url.c): the scheme, the one authority
 * splitter, percent-decoding, and masking of secrets for logs.
 *
 * Pure and bounded: nothing allocates, nothing is echoed into an error (a
 * URL may carry a password). The splitter only finds the parts; what a
 * part may hold (a bucket name, a port range) is the backend's rule.
 */
#ifndef ROLLCALL_URL_H
#define ROLLCALL_URL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define RC_URL_SCHEME_MAX 32 /* scheme buffer, incl. NUL */

/* A part of a URL: len bytes at p, not decoded, not NUL-terminated. */
struct rc_url_span {
    const char *p;
    size_t len;
};

/*
 * scheme:[//[user[:password]@]host[:port]][path][?query][#fragment]
 *
 * The authority ends at the first '/', '?' or '#'; the userinfo at its LAST
 * '@' (a password may hold an unencoded '@'); the password at the first ':'
 * of the userinfo. A host in [ ] is an IPv6 literal: host is given without
 * the brackets. Absent parts have p == NULL, len 0; the has_ flags tell an
 * empty part ("redis://:pw@h": has_user, user.len 0) from a missing one.
 */
struct rc_url_parts {
    struct rc_url_span scheme; /* as written (compare with strncasecmp) */
    bool has_authority;        /* "//" follows the scheme */
    bool has_user, has_password, has_port, has_query, has_fragment;
    bool host_bracketed;         /* "[v6]" */
    struct rc_url_span user;     /* userinfo before its first ':' */
    struct rc_url_span password; /* userinfo after it */
    struct rc_url_span host;     /* without [ ] */
    struct rc_url_span port;     /* after the host's ':' (digits not checked) */
    struct rc_url_span path;     /* from the '/' (or right after the scheme's ':'), may be empty */
    struct rc_url_span query;    /* after '?', up to '#' */
    struct rc_url_span fragment; /* after '#' */
};

/* Splits url (NUL-terminated). -EINVAL without a scheme (RFC 3986:
 * ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":", at most
 * RC_URL_SCHEME_MAX - 1 bytes) or with an unterminated "[v6". */
int rc_url_split(const char *url, struct rc_url_parts *ret);

/* Copies url's scheme, lower-cased, into out. Returns its length, 0 if url
 * (may be NULL) does not start with one. */
size_t rc_url_scheme(const char *url, char out[RC_URL_SCHEME_MAX]);

/* The value of a hex digit, or -1. */
int rc_hexval(int c);

/* Percent-decodes s[0..len) into out (cap bytes incl. NUL; plus_space: '+'
 * is ' '). Returns the decoded length, -EINVAL on a bad escape,
 * -ENAMETOOLONG if it does not fit. A %00 decodes to a NUL byte: callers
 * that cannot hold one check with memchr (or use rc_url_decode_str). */
ssize_t rc_url_decode(const char *s, size_t len, bool plus_space, char *out, size_t cap);

/* rc_url_decode for a C string: also -EINVAL if the result holds a NUL. */
ssize_t rc_url_decode_str(const char *s, size_t len, char *out, size_t cap);

/* The port digits of a split URL: 0..65535, at least one digit. -EINVAL if not. */
int rc_url_port(struct rc_url_span port, unsigned *ret);

/* true if s looks like a libpq "key=value ..." conninfo (a word of
 * [A-Za-z0-9_] then '='), which is not a URL. */
bool rc_url_is_conninfo(const char *s);

/* Copies url into out (outlen bytes incl. NUL, truncating) with the
 * password and the values of secret-looking query keys (password, secret,
 * token, sig, access_key, credential, auth, ...) replaced by "***". A libpq
 * conninfo is masked the same way; anything else is copied. Over-masks
 * rather than leaks: the userinfo here ends at the last '@' before '?'. */
void rc_url_mask(const char *url, char *out, size_t outlen);

#endif

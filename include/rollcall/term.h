/*
 * term.h - bounded Erlang external term format codec (erldist/term.c).
 *
 * Decoding is a cursor over untrusted bytes (no allocation): every length is
 * checked against the bytes left before it is used, nesting is bounded by
 * RC_TERM_MAX_DEPTH, and a failed call leaves the cursor where it was.
 * Encoding writes into a caller-provided fixed buffer with a sticky overflow
 * flag, so a sequence of puts needs one check at the end.
 *
 * All functions return 0 on success or a negative errno:
 *   -EPROTO    malformed input, unknown tag, wrong type for the call
 *   -EMSGSIZE  a length that does not fit the bytes left / the output buffer
 *   -ELOOP     nesting deeper than RC_TERM_MAX_DEPTH
 */
#ifndef ROLLCALL_TERM_H
#define ROLLCALL_TERM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RC_TERM_MAX_DEPTH 64
#define RC_TERM_ATOM_MAX 1020 /* 255 characters of up to 4 UTF-8 bytes */

enum rc_term_tag {
    RC_TAG_VERSION = 131,
    RC_TAG_NEW_FLOAT = 70,
    RC_TAG_BIT_BINARY = 77,
    RC_TAG_COMPRESSED = 80,
    RC_TAG_ATOM_CACHE_REF = 82,
    RC_TAG_NEW_PID = 88,
    RC_TAG_NEW_PORT = 89,
    RC_TAG_NEWER_REFERENCE = 90,
    RC_TAG_SMALL_INTEGER = 97,
    RC_TAG_INTEGER = 98,
    RC_TAG_FLOAT = 99,
    RC_TAG_ATOM = 100,
    RC_TAG_REFERENCE = 101,
    RC_TAG_PORT = 102,
    RC_TAG_PID = 103,
    RC_TAG_SMALL_TUPLE = 104,
    RC_TAG_LARGE_TUPLE = 105,
    RC_TAG_NIL = 106,
    RC_TAG_STRING = 107,
    RC_TAG_LIST = 108,
    RC_TAG_BINARY = 109,
    RC_TAG_SMALL_BIG = 110,
    RC_TAG_LARGE_BIG = 111,
    RC_TAG_NEW_FUN = 112,
    RC_TAG_EXPORT = 113,
    RC_TAG_NEW_REFERENCE = 114,
    RC_TAG_SMALL_ATOM = 115,
    RC_TAG_MAP = 116,
    RC_TAG_FUN = 117,
    RC_TAG_ATOM_UTF8 = 118,
    RC_TAG_SMALL_ATOM_UTF8 = 119,
    RC_TAG_V4_PORT = 120,
    RC_TAG_LOCAL = 121,
};

/* A read cursor. buf[0..len) is the input, pos the next byte to read. */
struct rc_term_dec {
    const uint8_t *buf;
    size_t len;
    size_t pos;
};

static inline void rc_term_dec_init(struct rc_term_dec *d, const uint8_t *buf, size_t len)
{
    d->buf = buf;
    d->len = len;
    d->pos = 0;
}

/* Reads the version byte 131. */
int rc_term_dec_version(struct rc_term_dec *d);

/* The tag at the cursor without consuming it, or -EMSGSIZE at the end. */
int rc_term_peek_tag(const struct rc_term_dec *d);

/* Validates and skips one whole term (any tag listed in docs/protocol.md section 6;
 * COMPRESSED, ATOM_CACHE_REF, LOCAL and unknown tags give -EPROTO). */
int rc_term_skip(struct rc_term_dec *d);

/* SMALL_TUPLE or LARGE_TUPLE header; the elements follow. */
int rc_term_dec_tuple(struct rc_term_dec *d, uint32_t *ret_arity);

/* LIST header (ret_len elements then a tail term follow) or NIL (ret_len 0,
 * no tail follows: *ret_has_tail is false). */
int rc_term_dec_list(struct rc_term_dec *d, uint32_t *ret_len, bool *ret_has_tail);

/* Any atom encoding (ATOM, SMALL_ATOM, ATOM_UTF8, SMALL_ATOM_UTF8). Copies the
 * name NUL-terminated into out (outlen bytes incl. NUL; -EMSGSIZE if it does
 * not fit). ret_len may be NULL. */
int rc_term_dec_atom(struct rc_term_dec *d, char *out, size_t outlen, size_t *ret_len);

/* SMALL_INTEGER, INTEGER, or a SMALL_BIG that fits in int64. */
int rc_term_dec_long(struct rc_term_dec *d, int64_t *ret);

/* NEWER_REFERENCE or NEW_REFERENCE: node atom copied into node (nodelen incl.
 * NUL), creation, and up to 5 id words. */
int rc_term_dec_ref(struct rc_term_dec *d, char *node, size_t nodelen, uint32_t *ret_creation,
                    uint32_t ids[5], uint32_t *ret_nids);

/* A write buffer. Overflow sets err = -EMSGSIZE and later puts do nothing. */
struct rc_term_enc {
    uint8_t *buf;
    size_t cap;
    size_t len;
    int err;
};

static inline void rc_term_enc_init(struct rc_term_enc *e, uint8_t *buf, size_t cap)
{
    e->buf = buf;
    e->cap = cap;
    e->len = 0;
    e->err = 0;
}

void rc_term_put_raw(struct rc_term_enc *e, const void *bytes, size_t n);
void rc_term_put_u8(struct rc_term_enc *e, uint8_t v);
void rc_term_put_u16(struct rc_term_enc *e, uint16_t v);
void rc_term_put_u32(struct rc_term_enc *e, uint32_t v);
void rc_term_put_version(struct rc_term_enc *e);
void rc_term_put_tuple(struct rc_term_enc *e, uint32_t arity);
void rc_term_put_list(struct rc_term_enc *e, uint32_t n); /* elements and a tail follow */
void rc_term_put_nil(struct rc_term_enc *e);
void rc_term_put_atom(struct rc_term_enc *e, const char *name); /* SMALL_ATOM_UTF8 / ATOM_UTF8 */
void rc_term_put_long(struct rc_term_enc *e, int64_t v);        /* smallest encoding */
void rc_term_put_pid(struct rc_term_enc *e, const char *node, uint32_t id, uint32_t serial,
                     uint32_t creation); /* NEW_PID_EXT */
void rc_term_put_ref(struct rc_term_enc *e, const char *node, uint32_t creation,
                     const uint32_t *ids, uint32_t nids); /* NEWER_REFERENCE_EXT */

#endif

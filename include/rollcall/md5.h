/*
 * md5.h - MD5 (RFC 1321), for the distribution handshake's cookie digest
 * only (erldist/md5.c).
 *
 * The handshake digest is MD5(cookie ++ decimal challenge), fixed by the
 * Erlang protocol; MD5 is not used for anything else here. rollcall has its
 * own ~100-line implementation so that the agent never loads or initialises
 * libcrypto (about 2 MiB of resident pages, docs/BENCHMARKS.md) for one hash.
 *
 * Contract: rc_md5_init, then any number of rc_md5_update calls (any split
 * of the input gives the same digest), then rc_md5_final, which writes the
 * 16-byte digest and wipes the context. No allocation, no failure.
 */
#ifndef ROLLCALL_MD5_H
#define ROLLCALL_MD5_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RC_MD5_LEN 16

struct rc_md5 {
    uint32_t h[4];   /* state A, B, C, D */
    uint64_t len;    /* bytes hashed so far */
    uint8_t buf[64]; /* the partial block */
    size_t used;     /* bytes in buf */
};

void rc_md5_init(struct rc_md5 *c);
void rc_md5_update(struct rc_md5 *c, const void *data, size_t len);
void rc_md5_final(struct rc_md5 *c, uint8_t out[RC_MD5_LEN]);

/* One-shot digest of data. */
void rc_md5(const void *data, size_t len, uint8_t out[RC_MD5_LEN]);

/* Constant-time comparison of two n-byte buffers: true when equal. The time
 * taken depends on n only, never on where they differ. */
bool rc_md5_equal(const uint8_t *a, const uint8_t *b, size_t n);

#endif

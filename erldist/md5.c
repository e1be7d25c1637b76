/*
 * md5.c - MD5 as RFC 1321 specifies it: 512-bit blocks, four rounds of 16
 * steps, little-endian words, the length in bits appended as the last 8
 * bytes. Written from the RFC's text; the 64 constants are
 * floor(2^32 * |sin(i + 1)|). Checked against the RFC's test suite and
 * OpenSSL in tests/unit/test_md5.c.
 */
#include "rollcall/md5.h"

#include <string.h>

static const uint32_t K[64] = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
};

/* Left-rotation amounts: four per round, repeated four times in a round. */
static const uint8_t S[4][4] = {{7, 12, 17, 22}, {5, 9, 14, 20}, {4, 11, 16, 23}, {6, 10, 15, 21}};

static uint32_t rotl(uint32_t x, unsigned n)
{
    return (x << n) | (x >> (32 - n));
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void block(uint32_t h[4], const uint8_t *p)
{
    uint32_t x[16];
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3];

    for (int i = 0; i < 16; i++)
        x[i] = le32(p + 4 * i);
    for (unsigned i = 0; i < 64; i++) {
        uint32_t f, t;
        unsigned g, round = i / 16;

        switch (round) {
        case 0: /* F(b,c,d) = (b & c) | (~b & d); words in order */
            f = (b & c) | (~b & d);
            g = i;
            break;
        case 1: /* G(b,c,d) = (b & d) | (c & ~d); word 5i+1 */
            f = (b & d) | (c & ~d);
            g = (5 * i + 1) % 16;
            break;
        case 2: /* H(b,c,d) = b ^ c ^ d; word 3i+5 */
            f = b ^ c ^ d;
            g = (3 * i + 5) % 16;
            break;
        default: /* I(b,c,d) = c ^ (b | ~d); word 7i */
            f = c ^ (b | ~d);
            g = (7 * i) % 16;
            break;
        }
        t = d;
        d = c;
        c = b;
        b = b + rotl(a + f + K[i] + x[g], S[round][i % 4]);
        a = t;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
}

void rc_md5_init(struct rc_md5 *c)
{
    c->h[0] = 0x67452301;
    c->h[1] = 0xefcdab89;
    c->h[2] = 0x98badcfe;
    c->h[3] = 0x10325476;
    c->len = 0;
    c->used = 0;
}

void rc_md5_update(struct rc_md5 *c, const void *data, size_t len)
{
    const uint8_t *p = data;

    c->len += len;
    if (c->used > 0) {
        size_t take = sizeof(c->buf) - c->used;
        if (take > len)
            take = len;
        memcpy(c->buf + c->used, p, take);
        c->used += take;
        p += take;
        len -= take;
        if (c->used < sizeof(c->buf))
            return;
        block(c->h, c->buf);
        c->used = 0;
    }
    for (; len >= 64; p += 64, len -= 64)
        block(c->h, p);
    if (len > 0) {
        memcpy(c->buf, p, len);
        c->used = len;
    }
}

void rc_md5_final(struct rc_md5 *c, uint8_t out[RC_MD5_LEN])
{
    uint64_t bits = c->len * 8;
    uint8_t pad[72] = {0x80};
    /* pad to 56 mod 64, then the 64-bit little-endian bit count */
    size_t padlen = (c->used < 56 ? 56 : 120) - c->used;
    volatile uint8_t *v = (volatile uint8_t *)c;

    for (int i = 0; i < 8; i++)
        pad[padlen + i] = (uint8_t)(bits >> (8 * i));
    rc_md5_update(c, pad, padlen + 8);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++)
            out[4 * i + j] = (uint8_t)(c->h[i] >> (8 * j));
    /* the state held cookie-derived bits: wipe it where the compiler must */
    for (size_t i = 0; i < sizeof(*c); i++)
        v[i] = 0;
}

void rc_md5(const void *data, size_t len, uint8_t out[RC_MD5_LEN])
{
    struct rc_md5 c;

    rc_md5_init(&c);
    rc_md5_update(&c, data, len);
    rc_md5_final(&c, out);
}

bool rc_md5_equal(const uint8_t *a, const uint8_t *b, size_t n)
{
    volatile uint8_t acc = 0;

    for (size_t i = 0; i < n; i++)
        acc |= a[i] ^ b[i];
    return acc == 0;
}

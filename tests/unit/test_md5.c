/*
 * test_md5.c - rollcall's MD5 (erldist/md5.c): the RFC 1321 test suite
 * (appendix A.5), every split of an input across update calls, lengths
 * around the padding boundaries against OpenSSL's MD5, and the
 * constant-time comparison. (The handshake replay tests in test_handshake.c
 * also check the digest against real OTP 25 and 27 captures.)
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "rollcall/md5.h"

static void hex(const uint8_t d[RC_MD5_LEN], char out[2 * RC_MD5_LEN + 1])
{
    for (int i = 0; i < RC_MD5_LEN; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void test_rfc1321_suite(void **state)
{
    static const struct {
        const char *in, *want;
    } v[] = {
        {"", "d41d8cd98f00b204e9800998ecf8427e"},
        {"a", "0cc175b9c0f1b6a831c399e269772661"},
        {"abc", "900150983cd24fb0d6963f7d28e17f72"},
        {"message digest", "f96b697d7cb7938d525a2f31aaf161d0"},
        {"abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"},
        {"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
         "d174ab98d277d9f5a5611c2c9f419d9f"},
        {"12345678901234567890123456789012345678901234567890123456789012345678901234567890",
         "57edf4a22be3c955ac49da2e2107b67a"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        uint8_t d[RC_MD5_LEN];
        char h[2 * RC_MD5_LEN + 1];
        rc_md5(v[i].in, strlen(v[i].in), d);
        hex(d, h);
        assert_string_equal(h, v[i].want);
    }
}

/* Deterministic bytes, so a failure reproduces. */
static void fill(uint8_t *p, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = (uint8_t)(seed >> 16);
    }
}

static void test_against_openssl(void **state)
{
    uint8_t buf[300];
    (void)state;
    fill(buf, sizeof buf, 7);
    /* every length 0..299 covers 55/56/63/64/119/120 and the two-block pad */
    for (size_t n = 0; n < sizeof buf; n++) {
        uint8_t ours[RC_MD5_LEN], theirs[EVP_MAX_MD_SIZE];
        unsigned int tl = 0;
        rc_md5(buf, n, ours);
        assert_int_equal(EVP_Digest(buf, n, theirs, &tl, EVP_md5(), NULL), 1);
        assert_int_equal(tl, RC_MD5_LEN);
        assert_memory_equal(ours, theirs, RC_MD5_LEN);
    }
}

static void test_any_split(void **state)
{
    uint8_t buf[200], whole[RC_MD5_LEN];
    (void)state;
    fill(buf, sizeof buf, 99);
    rc_md5(buf, sizeof buf, whole);
    for (size_t a = 0; a <= sizeof buf; a++) {
        for (size_t b = a; b <= sizeof buf; b += 13) {
            struct rc_md5 c;
            uint8_t d[RC_MD5_LEN];
            rc_md5_init(&c);
            rc_md5_update(&c, buf, a);
            rc_md5_update(&c, buf + a, 0);
            rc_md5_update(&c, buf + a, b - a);
            rc_md5_update(&c, buf + b, sizeof buf - b);
            rc_md5_final(&c, d);
            assert_memory_equal(d, whole, RC_MD5_LEN);
        }
    }
}

static void test_final_wipes(void **state)
{
    struct rc_md5 c, zero;
    uint8_t d[RC_MD5_LEN];
    (void)state;
    memset(&zero, 0, sizeof zero);
    rc_md5_init(&c);
    rc_md5_update(&c, "secret cookie", 13);
    rc_md5_final(&c, d);
    assert_memory_equal(&c, &zero, sizeof c);
}

static void test_equal(void **state)
{
    uint8_t a[16], b[16];
    (void)state;
    fill(a, sizeof a, 1);
    memcpy(b, a, sizeof b);
    assert_true(rc_md5_equal(a, b, 16));
    assert_true(rc_md5_equal(a, b, 0));
    for (int i = 0; i < 16; i++) {
        b[i] ^= 0x01;
        assert_false(rc_md5_equal(a, b, 16));
        b[i] ^= 0x01;
        b[i] ^= 0x80;
        assert_false(rc_md5_equal(a, b, 16));
        b[i] ^= 0x80;
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc1321_suite), cmocka_unit_test(test_against_openssl),
        cmocka_unit_test(test_any_split),     cmocka_unit_test(test_final_wipes),
        cmocka_unit_test(test_equal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

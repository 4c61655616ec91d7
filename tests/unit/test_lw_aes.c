/*
 * test_lw_aes.c - the element's compact AES (lw_aes.c) and its backend
 * (lw_crypto_compact) against FIPS-197 and against mbedTLS.
 *
 * FIPS-197 appendix C gives one block for each key size and appendix A.1
 * the AES-128 key expansion; then thousands of random keys and blocks must
 * encrypt and decrypt exactly as mbedTLS does, and the whole backend (CMAC
 * over random prefix/message splits, derive, wrap, unwrap) must agree with
 * the mbedTLS backend byte for byte. A fixed seed keeps a failure
 * reproducible.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>
#include <mbedtls/aes.h>

#include "lorawan/lw_aes.h"
#include "lorawan/lw_crypto.h"
#include "test_util.h"

#define RANDOM_CASES 3000

/* xorshift32: a fixed, reproducible stream (no libc rand state shared). */
static uint32_t next_random(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

static void random_bytes(uint32_t *s, uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)next_random(s);
}

static void fips197_case(const char *key, const char *cipher)
{
    uint8_t k[32], in[16], out[16], back[16];
    size_t klen = tu_hex(key, k, sizeof(k));
    tu_hex("00112233445566778899aabbccddeeff", in, sizeof(in));
    lw_aes a;
    assert_int_equal(lw_aes_set_key(&a, k, klen), LW_OK);
    lw_aes_encrypt_block(&a, in, out);
    assert_hex_equal(out, 16, cipher);
    lw_aes_decrypt_block(&a, out, back);
    assert_memory_equal(back, in, 16);
    lw_aes_encrypt_block(&a, in, in);   /* in place */
    assert_memory_equal(in, out, 16);
    lw_aes_wipe(&a);
}

static void fips197_appendix_c(void **state)
{
    (void)state;
    fips197_case("000102030405060708090a0b0c0d0e0f", "69c4e0d86a7b0430d8cdb78070b4c55a");
    fips197_case("000102030405060708090a0b0c0d0e0f1011121314151617", "dda97ca4864cdfe06eaf70a0ec0d7191");
    fips197_case("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
                 "8ea2b7ca516745bfeafc49904b496089");
}

static void fips197_a1_key_expansion(void **state)
{
    (void)state;
    uint8_t k[16];
    tu_hex("2b7e151628aed2a6abf7158809cf4f3c", k, sizeof(k));
    lw_aes a;
    assert_int_equal(lw_aes_set_key(&a, k, 16), LW_OK);
    assert_int_equal(a.rounds, 10);
    assert_hex_equal(a.round_keys + 16, 16, "a0fafe1788542cb123a339392a6c7605");
    assert_hex_equal(a.round_keys + 160, 16, "d014f9a8c9ee2589e13f0cc8b6630ca6");
}

static void bad_key_lengths_refused(void **state)
{
    (void)state;
    uint8_t k[33] = {0};
    lw_aes a;
    const size_t bad[] = {0, 15, 17, 20, 31, 33};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(lw_aes_set_key(&a, k, bad[i]), LW_ERR_KEY);
        assert_int_equal(a.rounds, 0);
    }
    assert_int_equal(lw_aes_set_key(NULL, k, 16), LW_ERR_ARGUMENT);
    assert_int_equal(lw_aes_set_key(&a, NULL, 16), LW_ERR_ARGUMENT);
}

static void random_blocks_match_mbedtls(void **state)
{
    (void)state;
    uint32_t seed = 0x5EED1234u;
    for (int n = 0; n < RANDOM_CASES; n++) {
        size_t klen = 16 + 8 * (size_t)(n % 3);
        uint8_t k[32], in[16], ours[16], theirs[16];
        random_bytes(&seed, k, sizeof(k));
        random_bytes(&seed, in, sizeof(in));
        lw_aes a;
        assert_int_equal(lw_aes_set_key(&a, k, klen), LW_OK);
        mbedtls_aes_context m;
        mbedtls_aes_init(&m);
        assert_int_equal(mbedtls_aes_setkey_enc(&m, k, (unsigned)klen * 8), 0);
        assert_int_equal(mbedtls_aes_crypt_ecb(&m, MBEDTLS_AES_ENCRYPT, in, theirs), 0);
        lw_aes_encrypt_block(&a, in, ours);
        assert_memory_equal(ours, theirs, 16);
        assert_int_equal(mbedtls_aes_setkey_dec(&m, k, (unsigned)klen * 8), 0);
        assert_int_equal(mbedtls_aes_crypt_ecb(&m, MBEDTLS_AES_DECRYPT, in, theirs), 0);
        lw_aes_decrypt_block(&a, in, ours);
        assert_memory_equal(ours, theirs, 16);
        mbedtls_aes_free(&m);
        lw_aes_wipe(&a);
    }
}

/* The compact backend gives the mbedTLS backend's bytes for every
 * operation, over random keys and random messages cut at random points. */
static void compact_backend_matches_software(void **state)
{
    (void)state;
    const lw_crypto *ours = lw_crypto_compact(), *ref = lw_crypto_software();
    uint32_t seed = 0xC0FFEE01u;
    uint8_t msg[300];
    for (int n = 0; n < RANDOM_CASES; n++) {
        uint8_t kb[32], block[16], a[16], b[16];
        random_bytes(&seed, kb, sizeof(kb));
        random_bytes(&seed, block, sizeof(block));
        random_bytes(&seed, msg, sizeof(msg));
        lw_key k;
        assert_int_equal(lw_key_from_bytes(&k, kb, 16 + 8 * (size_t)(n % 3)), LW_OK);

        size_t len = next_random(&seed) % sizeof(msg);
        size_t cut = len == 0 ? 0 : next_random(&seed) % (len + 1);
        assert_int_equal(lw_cmac_prefixed(ours, &k, msg, cut, msg + cut, len - cut, a), LW_OK);
        assert_int_equal(lw_cmac(ref, &k, msg, len, b), LW_OK);
        assert_memory_equal(a, b, 16);

        assert_int_equal(lw_aes_decrypt(ours, &k, block, a), LW_OK);
        assert_int_equal(lw_aes_decrypt(ref, &k, block, b), LW_OK);
        assert_memory_equal(a, b, 16);

        lw_key d1, d2, payload, back;
        assert_int_equal(lw_derive(ours, &k, block, &d1), LW_OK);
        assert_int_equal(lw_derive(ref, &k, block, &d2), LW_OK);
        assert_memory_equal(d1.material, d2.material, 16);

        uint8_t w1[40], w2[40];
        size_t plen = 16 + 8 * (size_t)((n / 3) % 3);
        assert_int_equal(lw_key_from_bytes(&payload, msg, plen), LW_OK);
        assert_int_equal(lw_key_wrap(ours, &k, &payload, w1, sizeof(w1)), LW_OK);
        assert_int_equal(lw_key_wrap(ref, &k, &payload, w2, sizeof(w2)), LW_OK);
        assert_memory_equal(w1, w2, plen + 8);
        assert_int_equal(lw_key_unwrap(ours, &k, w2, plen + 8, &back), LW_OK);
        assert_memory_equal(back.material, payload.material, plen);
        w2[n % (plen + 8)] ^= (uint8_t)(1u << (n % 8));
        assert_int_equal(lw_key_unwrap(ours, &k, w2, plen + 8, &back), LW_ERR_MIC);
        lw_key_wipe(&k);
    }
}

/* RFC 4493 section 4 through the compact backend, every length. */
static void compact_cmac_rfc4493(void **state)
{
    (void)state;
    lw_key k;
    uint8_t msg[64], out[16];
    tu_key(&k, "2b7e151628aed2a6abf7158809cf4f3c");
    tu_hex("6bc1bee22e409f96e93d7e117393172a ae2d8a571e03ac9c9eb76fac45af8e51"
           "30c81c46a35ce411e5fbc1191a0a52ef f69f2445df4f9b17ad2b417be66c3710",
           msg, sizeof(msg));
    assert_int_equal(lw_cmac(lw_crypto_compact(), &k, NULL, 0, out), LW_OK);
    assert_hex_equal(out, 16, "bb1d6929e95937287fa37d129b756746");
    assert_int_equal(lw_cmac(lw_crypto_compact(), &k, msg, 16, out), LW_OK);
    assert_hex_equal(out, 16, "070a16b46b4d4144f79bdd9dd04a287c");
    assert_int_equal(lw_cmac_prefixed(lw_crypto_compact(), &k, msg, 7, msg + 7, 33, out), LW_OK);
    assert_hex_equal(out, 16, "dfa66747de9ae63030ca32611497c827");
    assert_int_equal(lw_cmac_prefixed(lw_crypto_compact(), &k, msg, 64, NULL, 0, out), LW_OK);
    assert_hex_equal(out, 16, "51f0bebf7e3b9d92fc49741779363cfe");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fips197_appendix_c),
        cmocka_unit_test(fips197_a1_key_expansion),
        cmocka_unit_test(bad_key_lengths_refused),
        cmocka_unit_test(random_blocks_match_mbedtls),
        cmocka_unit_test(compact_backend_matches_software),
        cmocka_unit_test(compact_cmac_rfc4493),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

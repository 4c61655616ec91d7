/*
 * lw_crypto_mbedtls.c - the software crypto backend, on mbedTLS.
 *
 * Only mbedTLS's AES block cipher is used. AES-CMAC (RFC 4493) and RFC 3394
 * key wrap (section 2.2.1/2.2.2, the indexed form) are written here on top
 * of it: mbedTLS's CMAC goes through its generic cipher layer, which links
 * every cipher of a stock configuration (the secure element's footprint grew
 * by about 170 KiB with it), and Debian's mbedTLS 2.28 is built without
 * MBEDTLS_NIST_KW_C. The RFCs' own vectors check both in
 * tests/unit/test_lw_crypto.c, and the oracle suite checks every MIC against
 * lora-packet.
 *
 * Every AES context and every intermediate block that depended on a key is
 * wiped before return, on success and on failure.
 */
#include "lorawan/lw_crypto.h"
#include "lorawan/lw_secure.h"

#include <string.h>
#include <mbedtls/aes.h>

static int key_usable(const lw_key *key)
{
    return key->length == 16 || key->length == 24 || key->length == 32;
}

static lw_status aes_block(const lw_key *key, int mode, const uint8_t in[16], uint8_t out[16])
{
    if (!key_usable(key))
        return LW_ERR_KEY;
    mbedtls_aes_context aes;
    mbedtls_aes_init(&aes);
    int rc = (mode == MBEDTLS_AES_ENCRYPT)
                 ? mbedtls_aes_setkey_enc(&aes, key->material, key->length * 8u)
                 : mbedtls_aes_setkey_dec(&aes, key->material, key->length * 8u);
    if (rc == 0)
        rc = mbedtls_aes_crypt_ecb(&aes, mode, in, out);
    mbedtls_aes_free(&aes);
    LW_WIPE(aes);
    return rc == 0 ? LW_OK : LW_ERR_CRYPTO;
}

static lw_status sw_aes_encrypt(void *ctx, const lw_key *key, const uint8_t in[16], uint8_t out[16])
{
    (void)ctx;
    return aes_block(key, MBEDTLS_AES_ENCRYPT, in, out);
}

static lw_status sw_aes_decrypt(void *ctx, const lw_key *key, const uint8_t in[16], uint8_t out[16])
{
    (void)ctx;
    return aes_block(key, MBEDTLS_AES_DECRYPT, in, out);
}

/* RFC 4493 2.3: K1/K2 = doubling of L = AES(K, 0) in GF(2^128). */
static void cmac_double(const uint8_t in[16], uint8_t out[16])
{
    uint8_t carry = 0;
    for (int i = 15; i >= 0; i--) {
        uint8_t b = in[i];
        out[i] = (uint8_t)((b << 1) | carry);
        carry = (uint8_t)(b >> 7);
    }
    /* Constant time: the reduction is applied through a mask, not a branch
     * on a bit that depends on the key. */
    out[15] ^= (uint8_t)(0x87 & (0u - carry));
}

/* AES-CMAC (RFC 4493) over mbedTLS's AES block. mbedTLS's own CMAC runs
 * through its generic cipher layer, which drags every cipher of a stock
 * configuration into the binary (about 170 KiB measured by
 * bench/se_footprint.sh); a secure element needs the AES block alone. */
static lw_status sw_cmac(void *ctx, const lw_key *key, const uint8_t *msg, size_t len, uint8_t out[16])
{
    (void)ctx;
    if (!key_usable(key))
        return LW_ERR_KEY;
    mbedtls_aes_context aes;
    mbedtls_aes_init(&aes);
    uint8_t l[16] = {0}, k1[16], k2[16], x[16] = {0}, last[16];
    int rc = mbedtls_aes_setkey_enc(&aes, key->material, key->length * 8u);
    if (rc == 0)
        rc = mbedtls_aes_crypt_ecb(&aes, MBEDTLS_AES_ENCRYPT, l, l);
    cmac_double(l, k1);
    cmac_double(k1, k2);

    size_t blocks = (len + 15) / 16;
    int complete = (len > 0 && len % 16 == 0);
    if (blocks == 0)
        blocks = 1;
    for (size_t b = 0; b + 1 < blocks && rc == 0; b++) {
        for (int i = 0; i < 16; i++)
            x[i] ^= msg[16 * b + (size_t)i];
        rc = mbedtls_aes_crypt_ecb(&aes, MBEDTLS_AES_ENCRYPT, x, x);
    }
    size_t off = 16 * (blocks - 1);
    size_t rest = len - off;   /* 0..16 */
    for (size_t i = 0; i < 16; i++) {
        uint8_t m = i < rest ? msg[off + i] : (i == rest ? 0x80 : 0x00);
        last[i] = (uint8_t)(m ^ (complete ? k1[i] : k2[i]));
    }
    for (int i = 0; i < 16; i++)
        x[i] ^= last[i];
    if (rc == 0)
        rc = mbedtls_aes_crypt_ecb(&aes, MBEDTLS_AES_ENCRYPT, x, out);
    mbedtls_aes_free(&aes);
    LW_WIPE(aes);
    LW_WIPE(l);
    LW_WIPE(k1);
    LW_WIPE(k2);
    LW_WIPE(x);
    LW_WIPE(last);
    return rc == 0 ? LW_OK : LW_ERR_CRYPTO;
}

static lw_status sw_derive(void *ctx, const lw_key *root, const uint8_t block[16], lw_key *out)
{
    uint8_t value[16];
    lw_status st = sw_aes_encrypt(ctx, root, block, value);
    if (st == LW_OK)
        st = lw_key_from_bytes(out, value, sizeof(value));
    LW_WIPE(value);
    return st;
}

/* RFC 3394 2.2.1: n 64-bit blocks P, 6n AES rounds, output C = A | R[1..n]. */
static lw_status sw_wrap(void *ctx, const lw_key *kek, const lw_key *key, uint8_t *out, size_t out_cap)
{
    (void)ctx;
    if (!key_usable(kek) || !key_usable(key))
        return LW_ERR_KEY;
    size_t n = key->length / 8u;
    if (out_cap < (size_t)key->length + LW_WRAP_OVERHEAD)
        return LW_ERR_BUFFER;

    mbedtls_aes_context aes;
    mbedtls_aes_init(&aes);
    if (mbedtls_aes_setkey_enc(&aes, kek->material, kek->length * 8u) != 0) {
        mbedtls_aes_free(&aes);
        return LW_ERR_CRYPTO;
    }
    uint8_t a[8], r[4][8], b[16];
    memset(a, 0xA6, sizeof(a));
    for (size_t i = 0; i < n; i++)
        memcpy(r[i], key->material + 8 * i, 8);

    int rc = 0;
    for (unsigned j = 0; j <= 5 && rc == 0; j++) {
        for (size_t i = 0; i < n && rc == 0; i++) {
            memcpy(b, a, 8);
            memcpy(b + 8, r[i], 8);
            rc = mbedtls_aes_crypt_ecb(&aes, MBEDTLS_AES_ENCRYPT, b, b);
            uint64_t t = (uint64_t)n * j + i + 1;
            memcpy(a, b, 8);
            for (int k = 0; k < 8; k++)
                a[7 - k] ^= (uint8_t)(t >> (8 * k));
            memcpy(r[i], b + 8, 8);
        }
    }
    if (rc == 0) {
        memcpy(out, a, 8);
        for (size_t i = 0; i < n; i++)
            memcpy(out + 8 + 8 * i, r[i], 8);
    }
    mbedtls_aes_free(&aes);
    LW_WIPE(aes);
    LW_WIPE(r);
    LW_WIPE(b);
    LW_WIPE(a);
    return rc == 0 ? LW_OK : LW_ERR_CRYPTO;
}

/* RFC 3394 2.2.2, with the 2.2.3 integrity check done in constant time. */
static lw_status sw_unwrap(void *ctx, const lw_key *kek, const uint8_t *in, size_t in_len, lw_key *out)
{
    (void)ctx;
    if (!key_usable(kek))
        return LW_ERR_KEY;
    if (in_len != 24 && in_len != 32 && in_len != 40)
        return LW_ERR_KEY;
    size_t n = (in_len - 8) / 8u;

    mbedtls_aes_context aes;
    mbedtls_aes_init(&aes);
    if (mbedtls_aes_setkey_dec(&aes, kek->material, kek->length * 8u) != 0) {
        mbedtls_aes_free(&aes);
        return LW_ERR_CRYPTO;
    }
    uint8_t a[8], r[4][8], b[16], plain[32];
    memcpy(a, in, 8);
    for (size_t i = 0; i < n; i++)
        memcpy(r[i], in + 8 + 8 * i, 8);

    int rc = 0;
    for (int j = 5; j >= 0 && rc == 0; j--) {
        for (size_t i = n; i >= 1 && rc == 0; i--) {
            uint64_t t = (uint64_t)n * (unsigned)j + i;
            memcpy(b, a, 8);
            for (int k = 0; k < 8; k++)
                b[7 - k] ^= (uint8_t)(t >> (8 * k));
            memcpy(b + 8, r[i - 1], 8);
            rc = mbedtls_aes_crypt_ecb(&aes, MBEDTLS_AES_DECRYPT, b, b);
            memcpy(a, b, 8);
            memcpy(r[i - 1], b + 8, 8);
        }
    }
    static const uint8_t iv[8] = {0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6};
    lw_status st = LW_ERR_CRYPTO;
    if (rc == 0) {
        if (lw_secure_equal(a, iv, 8)) {
            for (size_t i = 0; i < n; i++)
                memcpy(plain + 8 * i, r[i], 8);
            st = lw_key_from_bytes(out, plain, n * 8);
        } else {
            st = LW_ERR_MIC;
        }
    }
    mbedtls_aes_free(&aes);
    LW_WIPE(aes);
    LW_WIPE(r);
    LW_WIPE(b);
    LW_WIPE(plain);
    LW_WIPE(a);
    return st;
}

static void sw_release(void *ctx, lw_key *key)
{
    (void)ctx;
    lw_key_wipe(key);
}

static const lw_crypto_class software_class = {
    .name = "software (mbedTLS)",
    .aes_encrypt = sw_aes_encrypt,
    .aes_decrypt = sw_aes_decrypt,
    .cmac = sw_cmac,
    .derive = sw_derive,
    .wrap = sw_wrap,
    .unwrap = sw_unwrap,
    .release = sw_release,
};

static const lw_crypto software_backend = {.cls = &software_class, .ctx = NULL};

const lw_crypto *lw_crypto_software(void)
{
    return &software_backend;
}

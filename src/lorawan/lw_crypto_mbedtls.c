/*
 * lw_crypto_mbedtls.c - the software crypto backend of hosts, on mbedTLS's
 * AES block cipher.
 *
 * Only mbedtls_aes_* is used: CMAC and key wrap are ferry's own
 * (lw_crypto_modes.c says why), run here over mbedTLS's block. A firmware
 * links lw_crypto_compact instead (lw_crypto_compact.c), and
 * test_lw_aes.c checks that the two agree.
 *
 * Every AES context is wiped before return, on success and on failure.
 */
#include "lorawan/lw_crypto.h"
#include "lorawan/lw_crypto_modes.h"
#include "lorawan/lw_secure.h"

#include <string.h>
#include <mbedtls/aes.h>

static int key_usable(const lw_key *key)
{
    return key->length == 16 || key->length == 24 || key->length == 32;
}

/* mbedTLS keeps separate schedules per direction: `mode` picks one. */
static lw_status aes_setup(mbedtls_aes_context *aes, const lw_key *key, int mode)
{
    mbedtls_aes_init(aes);
    if (!key_usable(key))
        return LW_ERR_KEY;
    int rc = (mode == MBEDTLS_AES_ENCRYPT) ? mbedtls_aes_setkey_enc(aes, key->material, key->length * 8u)
                                           : mbedtls_aes_setkey_dec(aes, key->material, key->length * 8u);
    return rc == 0 ? LW_OK : LW_ERR_CRYPTO;
}

static void aes_done(mbedtls_aes_context *aes)
{
    mbedtls_aes_free(aes);
    lw_secure_wipe(aes, sizeof(*aes));
}

static lw_status block_encrypt(const void *keyed, const uint8_t in[16], uint8_t out[16])
{
    return mbedtls_aes_crypt_ecb((mbedtls_aes_context *)keyed, MBEDTLS_AES_ENCRYPT, in, out) == 0 ? LW_OK
                                                                                                 : LW_ERR_CRYPTO;
}

static lw_status block_decrypt(const void *keyed, const uint8_t in[16], uint8_t out[16])
{
    return mbedtls_aes_crypt_ecb((mbedtls_aes_context *)keyed, MBEDTLS_AES_DECRYPT, in, out) == 0 ? LW_OK
                                                                                                 : LW_ERR_CRYPTO;
}

static lw_status sw_aes_encrypt(void *ctx, const lw_key *key, const uint8_t in[16], uint8_t out[16])
{
    (void)ctx;
    mbedtls_aes_context aes;
    lw_status st = aes_setup(&aes, key, MBEDTLS_AES_ENCRYPT);
    if (st == LW_OK)
        st = block_encrypt(&aes, in, out);
    aes_done(&aes);
    return st;
}

static lw_status sw_aes_decrypt(void *ctx, const lw_key *key, const uint8_t in[16], uint8_t out[16])
{
    (void)ctx;
    mbedtls_aes_context aes;
    lw_status st = aes_setup(&aes, key, MBEDTLS_AES_DECRYPT);
    if (st == LW_OK)
        st = block_decrypt(&aes, in, out);
    aes_done(&aes);
    return st;
}

static lw_status sw_cmac(void *ctx, const lw_key *key, const uint8_t *prefix, size_t prefix_len, const uint8_t *msg,
                         size_t len, uint8_t out[16])
{
    (void)ctx;
    mbedtls_aes_context aes;
    lw_status st = aes_setup(&aes, key, MBEDTLS_AES_ENCRYPT);
    if (st == LW_OK)
        st = lw_mode_cmac(block_encrypt, &aes, prefix, prefix_len, msg, len, out);
    aes_done(&aes);
    return st;
}

static lw_status sw_derive(void *ctx, const lw_key *root, const uint8_t block[16], lw_key *out)
{
    (void)ctx;
    mbedtls_aes_context aes;
    lw_status st = aes_setup(&aes, root, MBEDTLS_AES_ENCRYPT);
    if (st == LW_OK)
        st = lw_mode_derive(block_encrypt, &aes, block, out);
    aes_done(&aes);
    return st;
}

static lw_status sw_wrap(void *ctx, const lw_key *kek, const lw_key *key, uint8_t *out, size_t out_cap)
{
    (void)ctx;
    if (!key_usable(kek) || !key_usable(key))
        return LW_ERR_KEY;
    if (out_cap < (size_t)key->length + LW_WRAP_OVERHEAD)
        return LW_ERR_BUFFER;
    mbedtls_aes_context aes;
    lw_status st = aes_setup(&aes, kek, MBEDTLS_AES_ENCRYPT);
    if (st == LW_OK)
        st = lw_mode_wrap(block_encrypt, &aes, key->material, key->length, out);
    aes_done(&aes);
    return st;
}

static lw_status sw_unwrap(void *ctx, const lw_key *kek, const uint8_t *in, size_t in_len, lw_key *out)
{
    (void)ctx;
    if (!key_usable(kek))
        return LW_ERR_KEY;
    if (in_len != 24 && in_len != 32 && in_len != 40)
        return LW_ERR_KEY;
    mbedtls_aes_context aes;
    lw_status st = aes_setup(&aes, kek, MBEDTLS_AES_DECRYPT);
    if (st == LW_OK)
        st = lw_mode_unwrap_key(block_decrypt, &aes, in, in_len, out);
    aes_done(&aes);
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

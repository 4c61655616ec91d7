/*
 * lw_crypto_compact.c - the software crypto backend a secure element
 * firmware links: the compact AES of lw_aes.c under the CMAC and key wrap
 * of lw_crypto_modes.c, and nothing from mbedTLS.
 *
 * One expanded key (lw_aes: 177 bytes in an element built with
 * LW_KEY_MAX=16, 241 otherwise) lives on the stack for the length of a call
 * and is wiped before return, on success and on failure.
 */
#include "lorawan/lw_aes.h"
#include "lorawan/lw_crypto.h"
#include "lorawan/lw_crypto_modes.h"
#include "lorawan/lw_secure.h"

static lw_status block_encrypt(const void *keyed, const uint8_t in[16], uint8_t out[16])
{
    lw_aes_encrypt_block(keyed, in, out);
    return LW_OK;
}

static lw_status block_decrypt(const void *keyed, const uint8_t in[16], uint8_t out[16])
{
    lw_aes_decrypt_block(keyed, in, out);
    return LW_OK;
}

/* Expands `key` into *aes; a token key (no material) is LW_ERR_KEY. */
static lw_status expand(lw_aes *aes, const lw_key *key)
{
    return lw_aes_set_key(aes, key->material, key->length);
}

static lw_status compact_aes(const lw_key *key, lw_block_fn fn, const uint8_t in[16], uint8_t out[16])
{
    lw_aes aes;
    lw_status st = expand(&aes, key);
    if (st == LW_OK)
        st = fn(&aes, in, out);
    lw_aes_wipe(&aes);
    return st;
}

static lw_status compact_encrypt(void *ctx, const lw_key *key, const uint8_t in[16], uint8_t out[16])
{
    (void)ctx;
    return compact_aes(key, block_encrypt, in, out);
}

static lw_status compact_decrypt(void *ctx, const lw_key *key, const uint8_t in[16], uint8_t out[16])
{
    (void)ctx;
    return compact_aes(key, block_decrypt, in, out);
}

static lw_status compact_cmac(void *ctx, const lw_key *key, const uint8_t *prefix, size_t prefix_len,
                              const uint8_t *msg, size_t len, uint8_t out[16])
{
    (void)ctx;
    lw_aes aes;
    lw_status st = expand(&aes, key);
    if (st == LW_OK)
        st = lw_mode_cmac(block_encrypt, &aes, prefix, prefix_len, msg, len, out);
    lw_aes_wipe(&aes);
    return st;
}

static lw_status compact_derive(void *ctx, const lw_key *root, const uint8_t block[16], lw_key *out)
{
    (void)ctx;
    lw_aes aes;
    lw_status st = expand(&aes, root);
    if (st == LW_OK)
        st = lw_mode_derive(block_encrypt, &aes, block, out);
    lw_aes_wipe(&aes);
    return st;
}

static lw_status compact_wrap(void *ctx, const lw_key *kek, const lw_key *key, uint8_t *out, size_t out_cap)
{
    (void)ctx;
    if (key->length != 16 && key->length != 24 && key->length != 32)
        return LW_ERR_KEY;
    if (out_cap < (size_t)key->length + LW_WRAP_OVERHEAD)
        return LW_ERR_BUFFER;
    lw_aes aes;
    lw_status st = expand(&aes, kek);
    if (st == LW_OK)
        st = lw_mode_wrap(block_encrypt, &aes, key->material, key->length, out);
    lw_aes_wipe(&aes);
    return st;
}

static lw_status compact_unwrap(void *ctx, const lw_key *kek, const uint8_t *in, size_t in_len, lw_key *out)
{
    (void)ctx;
    if ((in_len != 24 && in_len != 32 && in_len != 40) || in_len > LW_KEY_MAX + LW_WRAP_OVERHEAD)
        return LW_ERR_KEY;
    lw_aes aes;
    lw_status st = expand(&aes, kek);
    if (st == LW_OK)
        st = lw_mode_unwrap_key(block_decrypt, &aes, in, in_len, out);
    lw_aes_wipe(&aes);
    return st;
}

static void compact_release(void *ctx, lw_key *key)
{
    (void)ctx;
    lw_key_wipe(key);
}

static const lw_crypto_class compact_class = {
    .name = "compact (ferry AES)",
    .aes_encrypt = compact_encrypt,
    .aes_decrypt = compact_decrypt,
    .cmac = compact_cmac,
    .derive = compact_derive,
    .wrap = compact_wrap,
    .unwrap = compact_unwrap,
    .release = compact_release,
};

static const lw_crypto compact_backend = {.cls = &compact_class, .ctx = NULL};

const lw_crypto *lw_crypto_compact(void)
{
    return &compact_backend;
}

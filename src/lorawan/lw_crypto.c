/* lw_crypto.c - argument checks and dispatch to a crypto backend. */
#include "lorawan/lw_crypto.h"
#include "lorawan/lw_secure.h"

#include <string.h>

lw_status lw_key_from_bytes(lw_key *key, const uint8_t *bytes, size_t len)
{
    if (key == NULL || bytes == NULL)
        return LW_ERR_ARGUMENT;
    if ((len != 16 && len != 24 && len != 32) || len > LW_KEY_MAX)
        return LW_ERR_KEY;
    lw_key_wipe(key);
    memcpy(key->material, bytes, len);
    key->length = (uint8_t)len;
    return LW_OK;
}

void lw_key_wipe(lw_key *key)
{
    if (key != NULL)
        lw_secure_wipe(key, sizeof(*key));
}

static int backend_ok(const lw_crypto *c)
{
    return c != NULL && c->cls != NULL;
}

lw_status lw_aes_encrypt(const lw_crypto *c, const lw_key *key, const uint8_t in[16], uint8_t out[16])
{
    if (!backend_ok(c) || key == NULL || in == NULL || out == NULL)
        return LW_ERR_ARGUMENT;
    return c->cls->aes_encrypt(c->ctx, key, in, out);
}

lw_status lw_aes_decrypt(const lw_crypto *c, const lw_key *key, const uint8_t in[16], uint8_t out[16])
{
    if (!backend_ok(c) || key == NULL || in == NULL || out == NULL)
        return LW_ERR_ARGUMENT;
    return c->cls->aes_decrypt(c->ctx, key, in, out);
}

lw_status lw_cmac(const lw_crypto *c, const lw_key *key, const uint8_t *msg, size_t len, uint8_t out[16])
{
    return lw_cmac_prefixed(c, key, NULL, 0, msg, len, out);
}

lw_status lw_cmac_prefixed(const lw_crypto *c, const lw_key *key, const uint8_t *prefix, size_t prefix_len,
                           const uint8_t *msg, size_t len, uint8_t out[16])
{
    if (!backend_ok(c) || key == NULL || (prefix == NULL && prefix_len != 0) || (msg == NULL && len != 0) ||
        out == NULL)
        return LW_ERR_ARGUMENT;
    return c->cls->cmac(c->ctx, key, prefix, prefix_len, msg, len, out);
}

lw_status lw_derive(const lw_crypto *c, const lw_key *root, const uint8_t block[16], lw_key *out)
{
    if (!backend_ok(c) || root == NULL || block == NULL || out == NULL)
        return LW_ERR_ARGUMENT;
    return c->cls->derive(c->ctx, root, block, out);
}

lw_status lw_key_wrap(const lw_crypto *c, const lw_key *kek, const lw_key *key, uint8_t *out, size_t out_cap)
{
    if (!backend_ok(c) || kek == NULL || key == NULL || out == NULL)
        return LW_ERR_ARGUMENT;
    return c->cls->wrap(c->ctx, kek, key, out, out_cap);
}

lw_status lw_key_unwrap(const lw_crypto *c, const lw_key *kek, const uint8_t *in, size_t in_len, lw_key *out)
{
    if (!backend_ok(c) || kek == NULL || in == NULL || out == NULL)
        return LW_ERR_ARGUMENT;
    return c->cls->unwrap(c->ctx, kek, in, in_len, out);
}

void lw_key_release(const lw_crypto *c, lw_key *key)
{
    if (backend_ok(c) && key != NULL)
        c->cls->release(c->ctx, key);
}

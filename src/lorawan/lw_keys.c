/*
 * lw_keys.c - session-key derivation (LoRaWAN L2 1.0.4 section 6.2.5,
 * 1.1 section 6.2.2.2 and 6.2.2.3).
 *
 *   1.0.x: key = aes(NwkKey, type | JoinNonce(3) | NetID(3) | DevNonce(2) | pad16)
 *   1.1:   key = aes(root,   type | JoinNonce(3) | JoinEUI(8) | DevNonce(2) | pad16)
 *   JS:    key = aes(NwkKey, type | DevEUI(8) | pad16)
 *
 * The block holds no secret; the results stay in the backend.
 */
#include "lorawan/lw_keys.h"
#include "lorawan/lw_frame.h"

#include <string.h>

enum {
    TYPE_F_NWK_S_INT = 0x01,   /* NwkSKey in 1.0.x */
    TYPE_APP_S = 0x02,
    TYPE_S_NWK_S_INT = 0x03,
    TYPE_NWK_S_ENC = 0x04,
    TYPE_JS_ENC = 0x05,
    TYPE_JS_INT = 0x06
};

static lw_status derive_one(const lw_crypto *c, const lw_key *root, uint8_t type, const uint8_t *tail,
                            size_t tail_len, lw_key *out)
{
    uint8_t block[16] = {0};
    block[0] = type;
    memcpy(block + 1, tail, tail_len);
    return lw_derive(c, root, block, out);
}

lw_status lw_derive_session_keys_10(const lw_crypto *c, const lw_key *nwk_key, uint32_t join_nonce,
                                    uint32_t net_id, uint16_t dev_nonce, lw_session_keys_10 *out)
{
    if (out == NULL || join_nonce > 0xFFFFFFu || net_id > 0xFFFFFFu)
        return LW_ERR_ARGUMENT;
    memset(out, 0, sizeof(*out));
    uint8_t tail[8];
    lw_put_le(tail, join_nonce, 3);
    lw_put_le(tail + 3, net_id, 3);
    lw_put_le(tail + 6, dev_nonce, 2);
    lw_status st = derive_one(c, nwk_key, TYPE_F_NWK_S_INT, tail, sizeof(tail), &out->nwk_s_key);
    if (st == LW_OK)
        st = derive_one(c, nwk_key, TYPE_APP_S, tail, sizeof(tail), &out->app_s_key);
    if (st != LW_OK)
        lw_session_keys_10_release(c, out);
    return st;
}

lw_status lw_derive_session_keys_11(const lw_crypto *c, const lw_key *nwk_key, const lw_key *app_key,
                                    uint32_t join_nonce, uint64_t join_eui, uint16_t dev_nonce,
                                    lw_session_keys_11 *out)
{
    if (out == NULL || join_nonce > 0xFFFFFFu)
        return LW_ERR_ARGUMENT;
    memset(out, 0, sizeof(*out));
    uint8_t tail[13];
    lw_put_le(tail, join_nonce, 3);
    lw_put_le(tail + 3, join_eui, 8);
    lw_put_le(tail + 11, dev_nonce, 2);
    lw_status st = derive_one(c, nwk_key, TYPE_F_NWK_S_INT, tail, sizeof(tail), &out->f_nwk_s_int_key);
    if (st == LW_OK)
        st = derive_one(c, nwk_key, TYPE_S_NWK_S_INT, tail, sizeof(tail), &out->s_nwk_s_int_key);
    if (st == LW_OK)
        st = derive_one(c, nwk_key, TYPE_NWK_S_ENC, tail, sizeof(tail), &out->nwk_s_enc_key);
    if (st == LW_OK)
        st = derive_one(c, app_key, TYPE_APP_S, tail, sizeof(tail), &out->app_s_key);
    if (st != LW_OK)
        lw_session_keys_11_release(c, out);
    return st;
}

lw_status lw_derive_js_keys(const lw_crypto *c, const lw_key *nwk_key, uint64_t dev_eui, lw_js_keys *out)
{
    if (out == NULL)
        return LW_ERR_ARGUMENT;
    memset(out, 0, sizeof(*out));
    uint8_t tail[8];
    lw_put_le(tail, dev_eui, 8);
    lw_status st = derive_one(c, nwk_key, TYPE_JS_INT, tail, sizeof(tail), &out->js_int_key);
    if (st == LW_OK)
        st = derive_one(c, nwk_key, TYPE_JS_ENC, tail, sizeof(tail), &out->js_enc_key);
    if (st != LW_OK)
        lw_js_keys_release(c, out);
    return st;
}

/* Releasing a key that was never set is harmless for every backend: a zero
 * handle and zero length name nothing. */
void lw_session_keys_10_release(const lw_crypto *c, lw_session_keys_10 *k)
{
    if (k == NULL)
        return;
    lw_key_release(c, &k->nwk_s_key);
    lw_key_release(c, &k->app_s_key);
}

void lw_session_keys_11_release(const lw_crypto *c, lw_session_keys_11 *k)
{
    if (k == NULL)
        return;
    lw_key_release(c, &k->f_nwk_s_int_key);
    lw_key_release(c, &k->s_nwk_s_int_key);
    lw_key_release(c, &k->nwk_s_enc_key);
    lw_key_release(c, &k->app_s_key);
}

void lw_js_keys_release(const lw_crypto *c, lw_js_keys *k)
{
    if (k == NULL)
        return;
    lw_key_release(c, &k->js_int_key);
    lw_key_release(c, &k->js_enc_key);
}

/*
 * lw_keys.h - LoRaWAN session-key derivation, 1.0.x and 1.1.
 *
 * Each key is derived by the backend as AES-encrypt(root, block) and stays
 * in it ("derive and keep"): with a token backend the caller receives handles,
 * never bytes. Release every output with lw_key_release() when done.
 */
#ifndef FERRY_LW_KEYS_H
#define FERRY_LW_KEYS_H

#include <stdint.h>
#include "lorawan/lw_crypto.h"

typedef struct lw_session_keys_10 {
    lw_key nwk_s_key;
    lw_key app_s_key;
} lw_session_keys_10;

typedef struct lw_session_keys_11 {
    lw_key f_nwk_s_int_key;
    lw_key s_nwk_s_int_key;
    lw_key nwk_s_enc_key;
    lw_key app_s_key;
} lw_session_keys_11;

typedef struct lw_js_keys {
    lw_key js_int_key;
    lw_key js_enc_key;
} lw_js_keys;

/* 1.0.x: NwkSKey = aes(NwkKey, 01 | JoinNonce | NetID | DevNonce | pad),
 * AppSKey likewise with 02. In 1.0.x the root is the device's AppKey
 * (called NwkKey in 1.1 terms). On failure every output is released. */
lw_status lw_derive_session_keys_10(const lw_crypto *c, const lw_key *nwk_key, uint32_t join_nonce,
                                    uint32_t net_id, uint16_t dev_nonce, lw_session_keys_10 *out) LW_MUST_CHECK;

/* 1.1 (OptNeg set): FNwkSIntKey (01), SNwkSIntKey (03), NwkSEncKey (04) from
 * NwkKey and AppSKey (02) from AppKey, over JoinNonce | JoinEUI | DevNonce. */
lw_status lw_derive_session_keys_11(const lw_crypto *c, const lw_key *nwk_key, const lw_key *app_key,
                                    uint32_t join_nonce, uint64_t join_eui, uint16_t dev_nonce,
                                    lw_session_keys_11 *out) LW_MUST_CHECK;

/* 1.1: JSIntKey (06) and JSEncKey (05) from NwkKey over DevEUI. */
lw_status lw_derive_js_keys(const lw_crypto *c, const lw_key *nwk_key, uint64_t dev_eui,
                            lw_js_keys *out) LW_MUST_CHECK;

void lw_session_keys_10_release(const lw_crypto *c, lw_session_keys_10 *k);
void lw_session_keys_11_release(const lw_crypto *c, lw_session_keys_11 *k);
void lw_js_keys_release(const lw_crypto *c, lw_js_keys *k);

#endif

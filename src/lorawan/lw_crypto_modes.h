/*
 * lw_crypto_modes.h - AES-CMAC and RFC 3394 key wrap written once, over any
 * AES block function, for the software backends (mbedTLS on a host, the
 * compact AES of lw_aes.h on a microcontroller).
 *
 * Internal to src/lorawan/: a backend sets up its AES key schedule once and
 * hands these functions the keyed block operation, so a 1 KiB CMAC costs
 * one key expansion, not one per block.
 */
#ifndef FERRY_LW_CRYPTO_MODES_H
#define FERRY_LW_CRYPTO_MODES_H

#include <stddef.h>
#include <stdint.h>
#include "lorawan/lw_crypto.h"
#include "lorawan/lw_status.h"

/* One AES block operation under a key the backend has already expanded. */
typedef lw_status (*lw_block_fn)(const void *keyed, const uint8_t in[16], uint8_t out[16]);

/* out = AES-CMAC(key, prefix | msg) (RFC 4493), without ever holding the
 * concatenation: the two parts are fed block by block. */
lw_status lw_mode_cmac(lw_block_fn encrypt, const void *keyed, const uint8_t *prefix, size_t prefix_len,
                       const uint8_t *msg, size_t len, uint8_t out[16]) LW_MUST_CHECK;

/* RFC 3394 2.2.1: wraps key[key_len] (16, 24 or 32 bytes) into
 * out[key_len + 8]. */
lw_status lw_mode_wrap(lw_block_fn encrypt, const void *keyed, const uint8_t *key, size_t key_len,
                       uint8_t *out) LW_MUST_CHECK;

/* RFC 3394 2.2.2 with the 2.2.3 integrity check in constant time: unwraps
 * in[in_len] (24, 32 or 40 bytes) into plain[in_len - 8]. LW_ERR_MIC when
 * the check fails; plain is then wiped. */
lw_status lw_mode_unwrap(lw_block_fn decrypt, const void *keyed, const uint8_t *in, size_t in_len,
                         uint8_t *plain) LW_MUST_CHECK;

/* The LoRaWAN "derive and keep": *out becomes the 16-byte key
 * AES-encrypt(keyed, block). */
lw_status lw_mode_derive(lw_block_fn encrypt, const void *keyed, const uint8_t block[16], lw_key *out) LW_MUST_CHECK;

/* lw_mode_unwrap into a new software key *out (in_len - 8 bytes, at most
 * LW_KEY_MAX); the plaintext on the stack is wiped. */
lw_status lw_mode_unwrap_key(lw_block_fn decrypt, const void *keyed, const uint8_t *in, size_t in_len,
                             lw_key *out) LW_MUST_CHECK;

#endif

/*
 * lw_aes.h - the element's own compact AES (FIPS-197), for targets without
 * mbedTLS.
 *
 * One byte-oriented implementation of AES-128/192/256, encryption and
 * decryption, with 2 x 256 bytes of S-box tables in flash and no other
 * table: a few hundred bytes of code on a Cortex-M0+, where mbedTLS's
 * T-table AES weighs several KiB. Table lookups are constant-time on a core
 * without a data cache (Cortex-M0/M0+/M3/M4 with flash wait states do not
 * cache data); on a host with caches, use the mbedTLS backend, which
 * tests/unit/test_lw_aes.c checks this one against.
 *
 * The caller owns the context; nothing is allocated and nothing global is
 * written. Wipe the context with lw_aes_wipe() when done.
 */
#ifndef FERRY_LW_AES_H
#define FERRY_LW_AES_H

#include <stddef.h>
#include <stdint.h>
#include "lorawan/lw_crypto.h"
#include "lorawan/lw_status.h"

#define LW_AES_BLOCK 16
/* Room for the round keys of the longest key allowed: 15 for AES-256, 11
 * for an element built with LW_KEY_MAX=16 (64 bytes less on its stack). */
#define LW_AES_ROUND_KEYS (16 * (LW_KEY_MAX / 4 + 7))

/* An expanded key. */
typedef struct lw_aes {
    uint8_t round_keys[LW_AES_ROUND_KEYS];
    uint8_t rounds;              /* 10, 12 or 14; 0 = no key */
} lw_aes;

/* Expands a 16-, 24- or 32-byte key (at most LW_KEY_MAX) into *a.
 * LW_ERR_KEY for another length (and *a is wiped). The same context serves both directions. */
lw_status lw_aes_set_key(lw_aes *a, const uint8_t *key, size_t len) LW_MUST_CHECK;

/* out = AES-encrypt(a, in); in and out may be the same block. */
void lw_aes_encrypt_block(const lw_aes *a, const uint8_t in[LW_AES_BLOCK], uint8_t out[LW_AES_BLOCK]);

/* out = AES-decrypt(a, in); in and out may be the same block. */
void lw_aes_decrypt_block(const lw_aes *a, const uint8_t in[LW_AES_BLOCK], uint8_t out[LW_AES_BLOCK]);

/* Wipes the expanded key. */
void lw_aes_wipe(lw_aes *a);

#endif

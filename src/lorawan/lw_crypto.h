/*
 * lw_crypto.h - the crypto interface of the LoRaWAN core.
 *
 * The core never touches key bytes itself. It asks a backend, through a small
 * table of function pointers, to run AES, AES-CMAC, a "derive and keep" step
 * and RFC 3394 key wrap on keys it names with an lw_key. Two backends exist:
 *
 *   - software backends, where an lw_key carries the key material:
 *     lw_crypto_software (mbedTLS) on hosts, for the lab, the CLI and the
 *     element emulated there, and lw_crypto_compact (the element's own
 *     compact AES, lw_aes.h) for a microcontroller without mbedTLS;
 *   - token backends (the server's PKCS#11 key service), where an lw_key
 *     carries only a token object handle and the material never leaves the
 *     token.
 *
 * So the same frame code runs on a microcontroller and on a server whose keys
 * live in an HSM, chosen when the lw_crypto is built, not with #ifdef.
 */
#ifndef FERRY_LW_CRYPTO_H
#define FERRY_LW_CRYPTO_H

#include <stddef.h>
#include <stdint.h>
#include "lorawan/lw_status.h"

#define LW_KEY_LEN 16        /* every LoRaWAN key is AES-128 */
/* KEKs may be AES-192 or AES-256. A secure element, whose keys are all
 * AES-128, is built with -DLW_KEY_MAX=16: every lw_key on its stack is then
 * 16 bytes smaller, and longer keys are refused (LW_ERR_KEY). */
#ifndef LW_KEY_MAX
#define LW_KEY_MAX 32
#endif
#define LW_WRAP_OVERHEAD 8   /* RFC 3394 adds one 64-bit block */

/* A reference to a key. Software backends read `material[0..length)`;
 * token backends read `handle` and leave `material` zero. The core itself
 * reads neither. Wipe with lw_key_wipe() when done. */
typedef struct lw_key {
    uint8_t  material[LW_KEY_MAX];
    uint8_t  length;              /* 16, 24 or 32; 0 = no key */
    uint64_t handle;              /* token object handle, 0 = none */
} lw_key;

typedef struct lw_crypto_class {
    const char *name;
    /* out = AES-ECB-encrypt(key, in), one block. */
    lw_status (*aes_encrypt)(void *ctx, const lw_key *key, const uint8_t in[16], uint8_t out[16]);
    /* out = AES-ECB-decrypt(key, in), one block. */
    lw_status (*aes_decrypt)(void *ctx, const lw_key *key, const uint8_t in[16], uint8_t out[16]);
    /* out = AES-CMAC(key, prefix | msg) (RFC 4493), full 16 bytes. The
     * message comes in two parts (prefix_len may be 0) so that callers
     * putting a B0 block or a DevEUI before a frame need not copy it. */
    lw_status (*cmac)(void *ctx, const lw_key *key, const uint8_t *prefix, size_t prefix_len, const uint8_t *msg,
                      size_t len, uint8_t out[16]);
    /* *out becomes a new 128-bit key whose value is AES-ECB-encrypt(root, block):
     * the LoRaWAN derivation. The value stays inside the backend. */
    lw_status (*derive)(void *ctx, const lw_key *root, const uint8_t block[16], lw_key *out);
    /* RFC 3394 wrap of `key` under `kek` into out[key->length + 8]. */
    lw_status (*wrap)(void *ctx, const lw_key *kek, const lw_key *key, uint8_t *out, size_t out_cap);
    /* RFC 3394 unwrap of in[in_len] under `kek` into a new key *out;
     * LW_ERR_MIC when the integrity check fails. */
    lw_status (*unwrap)(void *ctx, const lw_key *kek, const uint8_t *in, size_t in_len, lw_key *out);
    /* Forgets a key made by derive or unwrap (token: destroys the object). */
    void (*release)(void *ctx, lw_key *key);
} lw_crypto_class;

/* A backend: its class and its context, both owned by whoever built it. */
typedef struct lw_crypto {
    const lw_crypto_class *cls;
    void *ctx;
} lw_crypto;

/* The mbedTLS software backend. Its context is stateless (NULL), so the
 * returned object is a constant that every caller may share. */
const lw_crypto *lw_crypto_software(void);

/* The compact software backend (lw_aes.h, no mbedTLS): the one a secure
 * element firmware links. Same results as lw_crypto_software, slower. */
const lw_crypto *lw_crypto_compact(void);

/* Sets a software key from `len` bytes (16, 24 or 32, at most LW_KEY_MAX).
 * LW_ERR_KEY otherwise. */
lw_status lw_key_from_bytes(lw_key *key, const uint8_t *bytes, size_t len) LW_MUST_CHECK;

/* Wipes every byte of *key. */
void lw_key_wipe(lw_key *key);

/* Convenience wrappers: check arguments and dispatch to the backend. */
lw_status lw_aes_encrypt(const lw_crypto *c, const lw_key *key, const uint8_t in[16], uint8_t out[16]) LW_MUST_CHECK;
lw_status lw_aes_decrypt(const lw_crypto *c, const lw_key *key, const uint8_t in[16], uint8_t out[16]) LW_MUST_CHECK;
lw_status lw_cmac(const lw_crypto *c, const lw_key *key, const uint8_t *msg, size_t len, uint8_t out[16]) LW_MUST_CHECK;
/* out = AES-CMAC(key, prefix | msg), without a copy of the concatenation. */
lw_status lw_cmac_prefixed(const lw_crypto *c, const lw_key *key, const uint8_t *prefix, size_t prefix_len,
                           const uint8_t *msg, size_t len, uint8_t out[16]) LW_MUST_CHECK;
lw_status lw_derive(const lw_crypto *c, const lw_key *root, const uint8_t block[16], lw_key *out) LW_MUST_CHECK;
lw_status lw_key_wrap(const lw_crypto *c, const lw_key *kek, const lw_key *key, uint8_t *out, size_t out_cap) LW_MUST_CHECK;
lw_status lw_key_unwrap(const lw_crypto *c, const lw_key *kek, const uint8_t *in, size_t in_len, lw_key *out) LW_MUST_CHECK;
void lw_key_release(const lw_crypto *c, lw_key *key);

#endif

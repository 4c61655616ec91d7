/*
 * lw_crypto_modes.c - AES-CMAC (RFC 4493) and key wrap (RFC 3394, the
 * indexed form of 2.2.1/2.2.2) over a keyed AES block function.
 *
 * Why here and not in a library: mbedTLS's CMAC goes through its generic
 * cipher layer, which links every cipher of a stock configuration (the
 * element's footprint grew by about 170 KiB with it), Debian's mbedTLS 2.28
 * is built without MBEDTLS_NIST_KW_C, and a microcontroller build has no
 * mbedTLS at all. The RFCs' vectors check both in test_lw_crypto.c.
 *
 * The CMAC takes its message in two parts (a prefix such as LoRaWAN's B0
 * block or MLS's DevEUI, then the frame) and carries a partial block between
 * them, so no caller copies a frame just to put 16 bytes in front of it.
 *
 * Every intermediate block that depended on a key is wiped before return.
 */
#include "lorawan/lw_crypto_modes.h"
#include "lorawan/lw_secure.h"

#include <string.h>

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

lw_status lw_mode_cmac(lw_block_fn encrypt, const void *keyed, const uint8_t *prefix, size_t prefix_len,
                       const uint8_t *msg, size_t len, uint8_t out[16])
{
    uint8_t x[16] = {0}, k[16], buf[16];
    size_t total = prefix_len + len, fill = 0;
    lw_status st = LW_OK;
    /* Every block but the last is chained as it completes; the last (full or
     * partial) waits in buf for its subkey. */
    for (size_t i = 0; i < total && st == LW_OK; i++) {
        if (fill == 16) {
            for (int j = 0; j < 16; j++)
                x[j] ^= buf[j];
            st = encrypt(keyed, x, x);
            fill = 0;
        }
        buf[fill++] = i < prefix_len ? prefix[i] : msg[i - prefix_len];
    }
    if (st == LW_OK)
        st = encrypt(keyed, (const uint8_t[16]){0}, k);   /* L */
    if (st == LW_OK) {
        uint8_t l[16];
        memcpy(l, k, 16);
        cmac_double(l, k);                                  /* K1 */
        if (fill < 16) {
            memcpy(l, k, 16);
            cmac_double(l, k);                              /* K2 */
            buf[fill] = 0x80;
            memset(buf + fill + 1, 0, 15 - fill);
        }
        LW_WIPE(l);
        for (int j = 0; j < 16; j++)
            x[j] ^= (uint8_t)(buf[j] ^ k[j]);
        st = encrypt(keyed, x, out);
    }
    LW_WIPE(x);
    LW_WIPE(k);
    LW_WIPE(buf);
    return st;
}

lw_status lw_mode_wrap(lw_block_fn encrypt, const void *keyed, const uint8_t *key, size_t key_len, uint8_t *out)
{
    size_t n = key_len / 8u;
    uint8_t b[16];
    uint8_t *a = out, *r = out + 8;
    memset(a, 0xA6, 8);
    memmove(r, key, key_len);
    lw_status st = LW_OK;
    for (unsigned j = 0; j <= 5 && st == LW_OK; j++) {
        for (size_t i = 0; i < n && st == LW_OK; i++) {
            memcpy(b, a, 8);
            memcpy(b + 8, r + 8 * i, 8);
            st = encrypt(keyed, b, b);
            uint64_t t = (uint64_t)n * j + i + 1;
            memcpy(a, b, 8);
            for (int k = 0; k < 8; k++)
                a[7 - k] ^= (uint8_t)(t >> (8 * k));
            memcpy(r + 8 * i, b + 8, 8);
        }
    }
    LW_WIPE(b);
    if (st != LW_OK)
        lw_secure_wipe(out, key_len + 8);
    return st;
}

lw_status lw_mode_unwrap(lw_block_fn decrypt, const void *keyed, const uint8_t *in, size_t in_len,
                         uint8_t *plain)
{
    size_t n = (in_len - 8) / 8u;
    uint8_t a[8], b[16];
    memcpy(a, in, 8);
    memcpy(plain, in + 8, in_len - 8);
    lw_status st = LW_OK;
    for (int j = 5; j >= 0 && st == LW_OK; j--) {
        for (size_t i = n; i >= 1 && st == LW_OK; i--) {
            uint64_t t = (uint64_t)n * (unsigned)j + i;
            memcpy(b, a, 8);
            for (int k = 0; k < 8; k++)
                b[7 - k] ^= (uint8_t)(t >> (8 * k));
            memcpy(b + 8, plain + 8 * (i - 1), 8);
            st = decrypt(keyed, b, b);
            memcpy(a, b, 8);
            memcpy(plain + 8 * (i - 1), b + 8, 8);
        }
    }
    static const uint8_t iv[8] = {0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6};
    if (st == LW_OK && !lw_secure_equal(a, iv, 8))
        st = LW_ERR_MIC;
    if (st != LW_OK)
        lw_secure_wipe(plain, in_len - 8);
    LW_WIPE(a);
    LW_WIPE(b);
    return st;
}

lw_status lw_mode_derive(lw_block_fn encrypt, const void *keyed, const uint8_t block[16], lw_key *out)
{
    uint8_t value[16];
    lw_status st = encrypt(keyed, block, value);
    if (st == LW_OK)
        st = lw_key_from_bytes(out, value, sizeof(value));
    LW_WIPE(value);
    return st;
}

lw_status lw_mode_unwrap_key(lw_block_fn decrypt, const void *keyed, const uint8_t *in, size_t in_len, lw_key *out)
{
    if (in_len < 8 || in_len - 8 > LW_KEY_MAX)
        return LW_ERR_KEY;
    uint8_t plain[LW_KEY_MAX];
    lw_status st = lw_mode_unwrap(decrypt, keyed, in, in_len, plain);
    if (st == LW_OK)
        st = lw_key_from_bytes(out, plain, in_len - 8);
    LW_WIPE(plain);
    return st;
}

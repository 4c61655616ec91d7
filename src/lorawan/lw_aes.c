/*
 * lw_aes.c - compact AES (FIPS-197), byte-oriented.
 *
 * The state is the 16 input bytes in order, so byte i sits in row i % 4,
 * column i / 4 (FIPS-197 3.4). Rounds are written from the standard's four
 * steps directly, with no T-tables: the point of this file is code size on a
 * microcontroller, not speed (one block costs about 10,000 cycles on a
 * Cortex-M0+, against ~1,500 for a table implementation that needs 4 KiB
 * or more of tables).
 *
 * InvMixColumns is MixColumns after a cheap pre-step (multiplying a column
 * by {04}x^2 + {05} first), which saves a second multiply routine: the
 * identity used by the compact implementations in the Rijndael book.
 *
 * xtime() multiplies by {02} with a mask instead of a branch, so no branch
 * depends on key or data.
 */
#include "lorawan/lw_aes.h"
#include "lorawan/lw_secure.h"

#include <string.h>

static const uint8_t sbox[256] = {
    0x63, 0x7c, 0x77, 0x7b, 0xf2, 0x6b, 0x6f, 0xc5, 0x30, 0x01, 0x67, 0x2b, 0xfe, 0xd7, 0xab, 0x76,
    0xca, 0x82, 0xc9, 0x7d, 0xfa, 0x59, 0x47, 0xf0, 0xad, 0xd4, 0xa2, 0xaf, 0x9c, 0xa4, 0x72, 0xc0,
    0xb7, 0xfd, 0x93, 0x26, 0x36, 0x3f, 0xf7, 0xcc, 0x34, 0xa5, 0xe5, 0xf1, 0x71, 0xd8, 0x31, 0x15,
    0x04, 0xc7, 0x23, 0xc3, 0x18, 0x96, 0x05, 0x9a, 0x07, 0x12, 0x80, 0xe2, 0xeb, 0x27, 0xb2, 0x75,
    0x09, 0x83, 0x2c, 0x1a, 0x1b, 0x6e, 0x5a, 0xa0, 0x52, 0x3b, 0xd6, 0xb3, 0x29, 0xe3, 0x2f, 0x84,
    0x53, 0xd1, 0x00, 0xed, 0x20, 0xfc, 0xb1, 0x5b, 0x6a, 0xcb, 0xbe, 0x39, 0x4a, 0x4c, 0x58, 0xcf,
    0xd0, 0xef, 0xaa, 0xfb, 0x43, 0x4d, 0x33, 0x85, 0x45, 0xf9, 0x02, 0x7f, 0x50, 0x3c, 0x9f, 0xa8,
    0x51, 0xa3, 0x40, 0x8f, 0x92, 0x9d, 0x38, 0xf5, 0xbc, 0xb6, 0xda, 0x21, 0x10, 0xff, 0xf3, 0xd2,
    0xcd, 0x0c, 0x13, 0xec, 0x5f, 0x97, 0x44, 0x17, 0xc4, 0xa7, 0x7e, 0x3d, 0x64, 0x5d, 0x19, 0x73,
    0x60, 0x81, 0x4f, 0xdc, 0x22, 0x2a, 0x90, 0x88, 0x46, 0xee, 0xb8, 0x14, 0xde, 0x5e, 0x0b, 0xdb,
    0xe0, 0x32, 0x3a, 0x0a, 0x49, 0x06, 0x24, 0x5c, 0xc2, 0xd3, 0xac, 0x62, 0x91, 0x95, 0xe4, 0x79,
    0xe7, 0xc8, 0x37, 0x6d, 0x8d, 0xd5, 0x4e, 0xa9, 0x6c, 0x56, 0xf4, 0xea, 0x65, 0x7a, 0xae, 0x08,
    0xba, 0x78, 0x25, 0x2e, 0x1c, 0xa6, 0xb4, 0xc6, 0xe8, 0xdd, 0x74, 0x1f, 0x4b, 0xbd, 0x8b, 0x8a,
    0x70, 0x3e, 0xb5, 0x66, 0x48, 0x03, 0xf6, 0x0e, 0x61, 0x35, 0x57, 0xb9, 0x86, 0xc1, 0x1d, 0x9e,
    0xe1, 0xf8, 0x98, 0x11, 0x69, 0xd9, 0x8e, 0x94, 0x9b, 0x1e, 0x87, 0xe9, 0xce, 0x55, 0x28, 0xdf,
    0x8c, 0xa1, 0x89, 0x0d, 0xbf, 0xe6, 0x42, 0x68, 0x41, 0x99, 0x2d, 0x0f, 0xb0, 0x54, 0xbb, 0x16,
};

static uint8_t xtime(uint8_t x)
{
    return (uint8_t)((x << 1) ^ (0x1Bu & (0u - (unsigned)(x >> 7))));
}

lw_status lw_aes_set_key(lw_aes *a, const uint8_t *key, size_t len)
{
    if (a == NULL || key == NULL)
        return LW_ERR_ARGUMENT;
    lw_aes_wipe(a);
    if ((len != 16 && len != 24 && len != 32) || len > LW_KEY_MAX)
        return LW_ERR_KEY;
    unsigned nk = (unsigned)len / 4, rounds = nk + 6, words = 4 * (rounds + 1);
    uint8_t *w = a->round_keys;
    uint8_t rcon = 1;
    memcpy(w, key, len);
    /* FIPS-197 5.2, one 4-byte word at a time. */
    for (unsigned i = nk; i < words; i++) {
        uint8_t t[4];
        memcpy(t, w + 4 * (i - 1), 4);
        if (i % nk == 0) {
            uint8_t first = t[0];
            t[0] = (uint8_t)(sbox[t[1]] ^ rcon);
            t[1] = sbox[t[2]];
            t[2] = sbox[t[3]];
            t[3] = sbox[first];
            rcon = xtime(rcon);
        } else if (nk > 6 && i % nk == 4) {
            for (unsigned k = 0; k < 4; k++)
                t[k] = sbox[t[k]];
        }
        for (unsigned k = 0; k < 4; k++)
            w[4 * i + k] = (uint8_t)(w[4 * (i - nk) + k] ^ t[k]);
        lw_secure_wipe(t, sizeof(t));
    }
    a->rounds = (uint8_t)rounds;
    return LW_OK;
}

static void add_round_key(uint8_t s[16], const uint8_t *rk)
{
    for (unsigned i = 0; i < 16; i++)
        s[i] ^= rk[i];
}

/* InvSubBytes of one byte without an inverse table (256 bytes of flash the
 * element cannot spare): the index whose S-box entry is x, found by reading
 * all 256 entries and keeping the match with a mask, so neither the
 * addresses read nor any branch depend on x. 11 instructions an entry as
 * GCC 12 builds it for a Cortex-M0+, about 3,600 cycles a byte, 0.6 million
 * a block (60 times the table's); only key unwrap decrypts (PERSONALISE,
 * profile install): ~7 million cycles for a 16-byte key, 0.15 s at 48 MHz. */
static uint8_t inv_sub(uint8_t x)
{
    unsigned r = 0;
    for (unsigned i = 0; i < 256; i++)
        r |= i & (((unsigned)(sbox[i] ^ x) - 1u) >> 8);
    return (uint8_t)r;
}

/* SubBytes and ShiftRows together: row r moves r columns to the left
 * (InvSubBytes and InvShiftRows, to the right, when inverse). */
static void sub_shift(uint8_t s[16], int inverse)
{
    uint8_t t[16];
    for (unsigned i = 0; i < 16; i++) {
        unsigned row = i % 4, col = i / 4;
        unsigned from = inverse ? (col + 4 - row) % 4 : (col + row) % 4;
        uint8_t v = s[row + 4 * from];
        t[i] = inverse ? inv_sub(v) : sbox[v];
    }
    memcpy(s, t, 16);
    lw_secure_wipe(t, sizeof(t));
}

static void mix_columns(uint8_t s[16])
{
    for (unsigned c = 0; c < 16; c += 4) {
        uint8_t a0 = s[c], a1 = s[c + 1], a2 = s[c + 2], a3 = s[c + 3];
        uint8_t all = (uint8_t)(a0 ^ a1 ^ a2 ^ a3);
        s[c] ^= (uint8_t)(all ^ xtime((uint8_t)(a0 ^ a1)));
        s[c + 1] ^= (uint8_t)(all ^ xtime((uint8_t)(a1 ^ a2)));
        s[c + 2] ^= (uint8_t)(all ^ xtime((uint8_t)(a2 ^ a3)));
        s[c + 3] ^= (uint8_t)(all ^ xtime((uint8_t)(a3 ^ a0)));
    }
}

/* InvMixColumns = MixColumns after this step (see the top comment). */
static void inv_mix_pre(uint8_t s[16])
{
    for (unsigned c = 0; c < 16; c += 4) {
        uint8_t u = xtime(xtime((uint8_t)(s[c] ^ s[c + 2])));
        uint8_t v = xtime(xtime((uint8_t)(s[c + 1] ^ s[c + 3])));
        s[c] ^= u;
        s[c + 1] ^= v;
        s[c + 2] ^= u;
        s[c + 3] ^= v;
    }
}

void lw_aes_encrypt_block(const lw_aes *a, const uint8_t in[LW_AES_BLOCK], uint8_t out[LW_AES_BLOCK])
{
    uint8_t s[16];
    memcpy(s, in, 16);
    add_round_key(s, a->round_keys);
    for (unsigned r = 1; r <= a->rounds; r++) {
        sub_shift(s, 0);
        if (r != a->rounds)
            mix_columns(s);
        add_round_key(s, a->round_keys + 16 * r);
    }
    memcpy(out, s, 16);
    lw_secure_wipe(s, sizeof(s));
}

void lw_aes_decrypt_block(const lw_aes *a, const uint8_t in[LW_AES_BLOCK], uint8_t out[LW_AES_BLOCK])
{
    uint8_t s[16];
    memcpy(s, in, 16);
    for (unsigned r = a->rounds; r >= 1; r--) {
        add_round_key(s, a->round_keys + 16 * r);
        if (r != a->rounds) {
            inv_mix_pre(s);
            mix_columns(s);
        }
        sub_shift(s, 1);
    }
    add_round_key(s, a->round_keys);
    memcpy(out, s, 16);
    lw_secure_wipe(s, sizeof(s));
}

void lw_aes_wipe(lw_aes *a)
{
    if (a != NULL)
        lw_secure_wipe(a, sizeof(*a));
}

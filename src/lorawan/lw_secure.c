/*
 * lw_secure.c - wipe, constant-time compare, constant-time hex.
 *
 * The hex decoder follows the branch-free technique used by libsodium and
 * wireguard-tools: each digit is classified with arithmetic masks rather than
 * comparisons that compile to branches.
 */
#include "lorawan/lw_secure.h"

#include <string.h>

void lw_secure_wipe(void *p, size_t len)
{
    if (p == NULL || len == 0)
        return;
    /* A volatile function pointer stops the compiler from proving the
     * memset dead, on any C17 toolchain (explicit_bzero is not portable to
     * microcontroller libcs). */
    static void *(*const volatile memset_v)(void *, int, size_t) = memset;
    memset_v(p, 0, len);
}

int lw_secure_equal(const void *a, const void *b, size_t len)
{
    const volatile uint8_t *x = a;
    const volatile uint8_t *y = b;
    uint8_t diff = 0;
    for (size_t i = 0; i < len; i++)
        diff |= (uint8_t)(x[i] ^ y[i]);
    /* (diff - 1) >> 8 is all-ones only when diff == 0. */
    return (int)((((unsigned)diff - 1u) >> 8) & 1u);
}

/* Value of a hex digit in the low nibble, and in bit 8 a flag that is set
 * when c is a valid digit; computed without branching on c. */
static unsigned hex_digit_value(unsigned char c)
{
    unsigned num = (unsigned)c ^ 0x30u;                       /* '0'..'9' -> 0..9 */
    unsigned num_ok = ((num - 10u) >> 8) & 1u;                /* num < 10 */
    unsigned alpha = ((unsigned)c & ~0x20u) - 55u;            /* 'A'..'F' -> 10..15 */
    unsigned alpha_ok = (((alpha - 10u) ^ (alpha - 16u)) >> 8) & 1u; /* 10 <= alpha < 16 */
    unsigned value = ((0u - num_ok) & num) | ((0u - alpha_ok) & alpha);
    return (value & 0x0fu) | ((num_ok | alpha_ok) << 8);
}

lw_status lw_hex_decode(const char *hex, size_t hex_len, uint8_t *out, size_t out_len)
{
    if (hex == NULL || out == NULL)
        return LW_ERR_ARGUMENT;
    if (hex_len != 2 * out_len) {
        lw_secure_wipe(out, out_len);
        return LW_ERR_HEX;
    }
    unsigned ok = 1;
    for (size_t i = 0; i < out_len; i++) {
        unsigned hi = hex_digit_value((unsigned char)hex[2 * i]);
        unsigned lo = hex_digit_value((unsigned char)hex[2 * i + 1]);
        ok &= (hi >> 8) & (lo >> 8);
        out[i] = (uint8_t)(((hi & 0x0fu) << 4) | (lo & 0x0fu));
    }
    if (!ok) {
        lw_secure_wipe(out, out_len);
        return LW_ERR_HEX;
    }
    return LW_OK;
}

lw_status lw_hex_encode(const uint8_t *in, size_t len, char *out, size_t cap)
{
    static const char digits[] = "0123456789abcdef";
    if ((in == NULL && len != 0) || out == NULL)
        return LW_ERR_ARGUMENT;
    if (cap < 2 * len + 1)
        return LW_ERR_BUFFER;
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0x0f];
    }
    out[2 * len] = '\0';
    return LW_OK;
}

/*
 * test_util.h - helpers shared by the cmocka unit tests.
 *
 * Vectors are written in the tests as hex text, the way specifications and
 * other projects publish them; these helpers turn that text into bytes and
 * compare buffers against it. The decoder here is deliberately independent of
 * lw_hex_decode(), which is itself under test, and it tolerates spaces so a
 * frame can be written field by field ("40 F17DBE49 00 0200 01 ...").
 *
 * Include after <stdarg.h> <stddef.h> <stdint.h> <setjmp.h> <cmocka.h>.
 */
#ifndef FERRY_TEST_UTIL_H
#define FERRY_TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "lorawan/lw_crypto.h"

static inline int tu_nibble(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes `hex` (spaces ignored) into out[cap] and returns the byte count.
 * A malformed vector is a bug in the test itself, so it fails the test. */
static inline size_t tu_hex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = 0;
    int hi = -1;
    for (const char *p = hex; *p != '\0'; p++) {
        if (*p == ' ')
            continue;
        int v = tu_nibble(*p);
        if (v < 0)
            fail_msg("test vector has a non-hex character '%c' in \"%s\"", *p, hex);
        if (hi < 0) {
            hi = v;
            continue;
        }
        if (n >= cap)
            fail_msg("test vector \"%s\" does not fit in %zu bytes", hex, cap);
        out[n++] = (uint8_t)((hi << 4) | v);
        hi = -1;
    }
    if (hi >= 0)
        fail_msg("test vector \"%s\" has an odd number of digits", hex);
    return n;
}

/* A software key from hex (16, 24 or 32 bytes). */
static inline void tu_key(lw_key *key, const char *hex)
{
    uint8_t bytes[LW_KEY_MAX];
    size_t n = tu_hex(hex, bytes, sizeof(bytes));
    memset(key, 0, sizeof(*key));
    assert_int_equal(lw_key_from_bytes(key, bytes, n), LW_OK);
}

/* True when every byte of p[len] is zero. */
static inline int tu_all_zero(const void *p, size_t len)
{
    const uint8_t *b = p;
    uint8_t acc = 0;
    for (size_t i = 0; i < len; i++)
        acc |= b[i];
    return acc == 0;
}

/* Asserts that buf[len] holds exactly the bytes written in `hex`. */
#define assert_hex_equal(buf, len, hex)                                  \
    do {                                                                 \
        uint8_t tu_expected_[512];                                       \
        size_t tu_n_ = tu_hex((hex), tu_expected_, sizeof(tu_expected_)); \
        assert_int_equal((size_t)(len), tu_n_);                          \
        assert_memory_equal((buf), tu_expected_, tu_n_);                 \
    } while (0)

/* Asserts that a software key holds `hex` and is 16 bytes long. */
#define assert_key_equal(key, hex)                     \
    do {                                               \
        assert_int_equal((key)->length, LW_KEY_LEN);   \
        assert_hex_equal((key)->material, LW_KEY_LEN, hex); \
    } while (0)

#endif

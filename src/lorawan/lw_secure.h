/*
 * lw_secure.h - handling secrets: wiping, constant-time comparison and
 * constant-time hex decoding.
 *
 * Every buffer that held key material is wiped with lw_secure_wipe() at each
 * exit of its scope; tags and MICs are compared with lw_secure_equal(). The hex
 * decoder does not branch on the digits, so keys typed by an operator or read
 * from a file do not leak through timing.
 */
#ifndef FERRY_LW_SECURE_H
#define FERRY_LW_SECURE_H

#include <stddef.h>
#include <stdint.h>
#include "lorawan/lw_status.h"

/* Overwrites `len` bytes at `p` with zeros; the compiler may not elide it. */
void lw_secure_wipe(void *p, size_t len);

#define LW_WIPE(x) lw_secure_wipe(&(x), sizeof(x))

/* 1 when the `len` bytes at a and b are equal, 0 otherwise, in time that
 * depends only on `len`. */
int lw_secure_equal(const void *a, const void *b, size_t len) LW_MUST_CHECK;

/* Decodes exactly `out_len` bytes from `hex` (2*out_len digits, any case,
 * NUL-terminated or not: only the first 2*out_len chars are read, and
 * `hex_len` must equal 2*out_len). Constant time in the digits.
 * LW_ERR_HEX if a character is not a hex digit or the length differs; `out`
 * is then wiped. */
lw_status lw_hex_decode(const char *hex, size_t hex_len, uint8_t *out, size_t out_len) LW_MUST_CHECK;

/* Writes 2*len lowercase hex digits and a NUL to `out` (capacity `cap`).
 * LW_ERR_BUFFER if cap < 2*len + 1. */
lw_status lw_hex_encode(const uint8_t *in, size_t len, char *out, size_t cap) LW_MUST_CHECK;

#endif

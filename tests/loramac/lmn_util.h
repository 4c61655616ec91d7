/*
 * lmn_util.h - small helpers shared by the LoRaMac-node test programs
 * (lmn_dev.c, lmn_se.c): hex in and out, and the crypto status names.
 */
#ifndef LMN_UTIL_H
#define LMN_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "LoRaMacCrypto.h"

static inline const char *lmn_crypto_status_name(LoRaMacCryptoStatus_t st)
{
    static const char *const names[] = {
        [LORAMAC_CRYPTO_SUCCESS] = "LORAMAC_CRYPTO_SUCCESS",
        [LORAMAC_CRYPTO_FAIL_MIC] = "LORAMAC_CRYPTO_FAIL_MIC",
        [LORAMAC_CRYPTO_FAIL_ADDRESS] = "LORAMAC_CRYPTO_FAIL_ADDRESS",
        [LORAMAC_CRYPTO_FAIL_JOIN_NONCE] = "LORAMAC_CRYPTO_FAIL_JOIN_NONCE",
        [LORAMAC_CRYPTO_FAIL_RJCOUNT0_OVERFLOW] = "LORAMAC_CRYPTO_FAIL_RJCOUNT0_OVERFLOW",
        [LORAMAC_CRYPTO_FAIL_FCNT_ID] = "LORAMAC_CRYPTO_FAIL_FCNT_ID",
        [LORAMAC_CRYPTO_FAIL_FCNT_SMALLER] = "LORAMAC_CRYPTO_FAIL_FCNT_SMALLER",
        [LORAMAC_CRYPTO_FAIL_FCNT_DUPLICATED] = "LORAMAC_CRYPTO_FAIL_FCNT_DUPLICATED",
        [LORAMAC_CRYPTO_FAIL_PARAM] = "LORAMAC_CRYPTO_FAIL_PARAM",
        [LORAMAC_CRYPTO_ERROR_NPE] = "LORAMAC_CRYPTO_ERROR_NPE",
        [LORAMAC_CRYPTO_ERROR_INVALID_KEY_ID] = "LORAMAC_CRYPTO_ERROR_INVALID_KEY_ID",
        [LORAMAC_CRYPTO_ERROR_INVALID_ADDR_ID] = "LORAMAC_CRYPTO_ERROR_INVALID_ADDR_ID",
        [LORAMAC_CRYPTO_ERROR_INVALID_VERSION] = "LORAMAC_CRYPTO_ERROR_INVALID_VERSION",
        [LORAMAC_CRYPTO_ERROR_BUF_SIZE] = "LORAMAC_CRYPTO_ERROR_BUF_SIZE",
        [LORAMAC_CRYPTO_ERROR_SECURE_ELEMENT_FUNC] = "LORAMAC_CRYPTO_ERROR_SECURE_ELEMENT_FUNC",
        [LORAMAC_CRYPTO_ERROR_PARSER] = "LORAMAC_CRYPTO_ERROR_PARSER",
        [LORAMAC_CRYPTO_ERROR_SERIALIZER] = "LORAMAC_CRYPTO_ERROR_SERIALIZER",
        [LORAMAC_CRYPTO_ERROR_RJCOUNT1_OVERFLOW] = "LORAMAC_CRYPTO_ERROR_RJCOUNT1_OVERFLOW",
        [LORAMAC_CRYPTO_ERROR] = "LORAMAC_CRYPTO_ERROR",
    };
    return (size_t)st < sizeof names / sizeof names[0] && names[st] != NULL ? names[st] : "?";
}

static inline int lmn_hex_digit(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Exactly `n` bytes of hex, or -1. */
static inline int lmn_hex_exact(const char *s, uint8_t *out, size_t n)
{
    if (s == NULL || strlen(s) != 2 * n)
        return -1;
    for (size_t i = 0; i < n; i++) {
        int hi = lmn_hex_digit(s[2 * i]), lo = lmn_hex_digit(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

/* Any length up to cap; *len the bytes decoded. */
static inline int lmn_hex_any(const char *s, uint8_t *out, size_t cap, size_t *len)
{
    size_t n = strlen(s);
    if (n % 2 != 0 || n / 2 > cap || lmn_hex_exact(s, out, n / 2) != 0)
        return -1;
    *len = n / 2;
    return 0;
}

static inline void lmn_print_hex(const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        printf("%02X", b[i]);
}

/* Writes buf[len] to path whole, through a temporary file that is synced
 * and renamed: a kill leaves the old or the new state, as a device's NVM
 * driver must. 0, or -1 with a sentence on stderr. */
static inline int lmn_file_save(const char *prog, const char *path, const void *buf, size_t len)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) {
        fprintf(stderr, "%s: path too long: %s\n", prog, path);
        return -1;
    }
    FILE *f = fopen(tmp, "wb");
    if (f == NULL) {
        fprintf(stderr, "%s: cannot write %s\n", prog, tmp);
        return -1;
    }
    bool ok = fwrite(buf, 1, len, f) == len;
    ok = fflush(f) == 0 && fsync(fileno(f)) == 0 && ok;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        fprintf(stderr, "%s: cannot write %s\n", prog, path);
        return -1;
    }
    return 0;
}

#endif

/*
 * mls_bytes.h - big-endian field access shared by the MLS sources.
 *
 * Internal to src/mls/: not part of the public API. Every multi-byte integer
 * MLS puts on the wire is big-endian (network order), unlike LoRaWAN's
 * little-endian frame fields, so that the counter block matches PKCS#11
 * CKM_AES_CTR and a DevEUI reads on the wire as people write it.
 */
#ifndef FERRY_MLS_BYTES_H
#define FERRY_MLS_BYTES_H

#include <stdint.h>

static inline void mls_put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void mls_put_be32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (24 - 8 * i));
}

static inline void mls_put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static inline uint16_t mls_get_be16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static inline uint32_t mls_get_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline uint64_t mls_get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

#endif

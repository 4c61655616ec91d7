/*
 * se_test_env.h - a RAM NVM with power-cut injection, and a network side
 * built from the LoRaWAN core, for the secure element's tests.
 *
 * The NVM counts writes; when the count reaches `cut_at`, that write stores
 * only a prefix of its bytes (as a torn flash write would) and the "power"
 * stays off: every later write fails too, until the test reboots the element.
 */
#ifndef FERRY_SE_TEST_ENV_H
#define FERRY_SE_TEST_ENV_H

#include <stdint.h>
#include <string.h>
#include "se/se.h"

typedef struct ram_nvm {
    uint8_t bank[2][SE_NVM_BANK_SIZE];
    unsigned writes;
    unsigned cut_at;      /* 0 = never */
    unsigned tear;        /* how the cut write tears: 0 = a prefix that depends on the
                           * cut point; 1..8 = none, 1 byte, 4, 10 (header), half, all
                           * but the CRC, all but 1 byte, all of it (power lost after
                           * the write, before it was acknowledged) */
    int power_off;
} ram_nvm;

static size_t ram_tear_length(const ram_nvm *n, size_t len)
{
    switch (n->tear) {
    case 1: return 0;
    case 2: return 1;
    case 3: return 4;
    case 4: return 10;
    case 5: return len / 2;
    case 6: return len > 4 ? len - 4 : 0;
    case 7: return len - 1;
    case 8: return len;
    default: return (n->writes * 37u) % len;
    }
}

static se_status ram_read(void *ctx, unsigned bank, uint8_t *buf, size_t len)
{
    ram_nvm *n = ctx;
    if (bank > 1 || len > SE_NVM_BANK_SIZE)
        return SE_ERR_NVM;
    memcpy(buf, n->bank[bank], len);
    return SE_OK;
}

static se_status ram_write(void *ctx, unsigned bank, const uint8_t *buf, size_t len)
{
    ram_nvm *n = ctx;
    if (bank > 1 || len > SE_NVM_BANK_SIZE || n->power_off)
        return SE_ERR_NVM;
    n->writes++;
    if (n->cut_at != 0 && n->writes == n->cut_at) {
        /* Torn: a prefix whose length depends on the cut point. */
        size_t part = ram_tear_length(n, len);
        memcpy(n->bank[bank], buf, part);
        n->power_off = 1;
        return SE_ERR_NVM;
    }
    memcpy(n->bank[bank], buf, len);
    return SE_OK;
}

static const se_nvm_class ram_nvm_class = {.read = ram_read, .write = ram_write};

static inline se_nvm ram_nvm_bind(ram_nvm *n)
{
    se_nvm v = {.cls = &ram_nvm_class, .ctx = n};
    return v;
}

#endif

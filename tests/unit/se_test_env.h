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
    int power_off;
} ram_nvm;

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
        size_t part = (n->writes * 37u) % len;
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

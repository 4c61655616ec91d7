/*
 * se_test_env.h - the secure element's NVM in tests: simulated NOR flash
 * (sehost/se_nvm_ram.h) with its rules, erase counts and power cuts.
 *
 * `writes` counts programs and erases; when it reaches `cut_at`, that
 * operation tears as `tear` says (1..8, se_nvm_ram.h) and the "power" stays
 * off: every later operation fails too, until the test reboots the element.
 * A zeroed ram_nvm is a 4 x 2 KiB flash of unknown content.
 */
#ifndef FERRY_SE_TEST_ENV_H
#define FERRY_SE_TEST_ENV_H

#include <stdint.h>
#include <string.h>
#include "se/se.h"
#include "sehost/se_nvm_ram.h"

typedef se_nvm_ram ram_nvm;

static inline se_nvm ram_nvm_bind(ram_nvm *n)
{
    se_nvm v;
    memset(&v, 0, sizeof(v));
    (void)se_nvm_ram_bind(n, &v);   /* cannot fail with the default geometry */
    return v;
}

/* What a reboot finds in `v`: a fresh element booted from it, and its
 * GET INFO. SE_OK, or the status of the boot or of se_get_info. */
static inline se_status se_info_after_boot(const se_nvm *v, se_info *info)
{
    se again;
    se_status st = se_boot(&again, v, lw_crypto_software());
    return st != SE_OK ? st : se_get_info(&again, info);
}

/* RFC 3394 of key[16] under kek[16] into out[24], as the factory and the
 * Identity Manager wrap keys for the element. */
static inline lw_status se_test_wrap(const uint8_t kek_bytes[16], const uint8_t key_bytes[16], uint8_t out[24])
{
    lw_key kek, key;
    lw_status st = lw_key_from_bytes(&kek, kek_bytes, 16);
    if (st == LW_OK)
        st = lw_key_from_bytes(&key, key_bytes, 16);
    if (st == LW_OK)
        st = lw_key_wrap(lw_crypto_software(), &kek, &key, out, 24);
    return st;
}

#endif

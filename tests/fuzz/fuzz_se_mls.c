/*
 * fuzz_se_mls.c - libFuzzer target for the secure element's MLS endpoint:
 * each input is a sequence of MLS frames (length byte, then the frame) pushed
 * as if they came in verified downlinks on FPort 200, interleaved with
 * requests for uplink frames. Checks: no crash or out-of-bounds, no frame
 * the element emits holds its keys, and since no input can carry a valid tag
 * the element's profiles and counters never change.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lorawan/lorawan.h"
#include "se/se.h"
#include "../unit/se_test_env.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t KEY[16] = {0x5a, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static ram_nvm nvm;
    static se e;
    memset(&nvm, 0, sizeof(nvm));
    se_nvm v = ram_nvm_bind(&nvm);
    lw_key k;
    se_personalisation p = {.dev_eui = 1, .join_eui = 2, .mac_version = SE_MAC_1_1};
    if (lw_key_from_bytes(&k, KEY, 16) != LW_OK || lw_key_wrap(lw_crypto_software(), &k, &k, p.nwk_key_wrapped, 24) ||
        lw_key_wrap(lw_crypto_software(), &k, &k, p.app_key_wrapped, 24) ||
        lw_key_wrap(lw_crypto_software(), &k, &k, p.mls_key_wrapped, 24) ||
        se_manufacture(&e, &v, lw_crypto_software(), KEY) != SE_OK || se_personalise(&e, &p) != SE_OK)
        abort();
    se_state before = e.st;
    size_t pos = 0;
    uint32_t now = 0;
    while (pos < size) {
        size_t len = data[pos++];
        if (len > size - pos)
            len = size - pos;
        if (len > 0)
            (void)se_mls_push(&e, data + pos, len);
        pos += len;
        se_set_time(&e, now += 600);
        uint8_t out[242];
        size_t n = 0;
        if (se_mls_next_uplink(&e, 11 + (len % 232), out, &n) != SE_OK && n != 0)
            abort();
        for (size_t i = 0; i + 16 <= n; i++)
            if (memcmp(out + i, KEY, 16) == 0)
                abort();
    }
    if (memcmp(&before, &e.st, sizeof(before)) != 0)
        abort();
    return 0;
}

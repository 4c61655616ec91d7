/*
 * fuzz_se_apdu.c - libFuzzer target for the secure element's APDU
 * dispatcher. Each input is a sequence of APDUs, each prefixed by its length
 * byte, run against a freshly personalised element (1.1 bootstrap profile).
 * Checks: no crash, no out-of-bounds, every response ends with a status word
 * and fits its buffer, and no response holds the element's root keys.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lorawan/lorawan.h"
#include "se/se_apdu.h"
#include "../unit/se_test_env.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t TRANSPORT[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
static const uint8_t NWK_KEY[16] = {0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8,
                                    0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf, 0xb0};

static void wrap(const uint8_t kek_bytes[16], const uint8_t key_bytes[16], uint8_t out[24])
{
    lw_key kek, key;
    if (lw_key_from_bytes(&kek, kek_bytes, 16) != LW_OK || lw_key_from_bytes(&key, key_bytes, 16) != LW_OK ||
        lw_key_wrap(lw_crypto_software(), &kek, &key, out, 24) != LW_OK)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ram_nvm nvm;
    memset(&nvm, 0, sizeof(nvm));
    se_nvm v = ram_nvm_bind(&nvm);
    se e;
    if (se_manufacture(&e, &v, lw_crypto_software(), TRANSPORT) != SE_OK)
        abort();
    se_personalisation p = {.dev_eui = 1, .join_eui = 2, .mac_version = SE_MAC_1_1};
    wrap(TRANSPORT, NWK_KEY, p.nwk_key_wrapped);
    wrap(TRANSPORT, NWK_KEY, p.app_key_wrapped);
    wrap(TRANSPORT, NWK_KEY, p.mls_key_wrapped);
    /* Half the inputs start blank, to reach personalisation too. */
    if (size > 0 && (data[0] & 1) && se_personalise(&e, &p) != SE_OK)
        abort();

    size_t pos = size > 0 ? 1 : 0;
    while (pos < size) {
        size_t len = data[pos++];
        if (len > size - pos)
            len = size - pos;
        uint8_t resp[SE_APDU_MAX_RESPONSE];
        size_t n = 0;
        (void)se_apdu_process(&e, data + pos, len, resp, sizeof(resp), &n);
        if (n < 2 || n > sizeof(resp))
            abort();
        for (size_t i = 0; i + 16 <= n; i++) {
            if (memcmp(resp + i, NWK_KEY, 16) == 0)
                abort();
        }
        pos += len;
    }
    return 0;
}

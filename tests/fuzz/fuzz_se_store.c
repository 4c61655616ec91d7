/*
 * fuzz_se_store.c - libFuzzer target for the element's flash store: the
 * input is the content of a 2 x 1 KiB flash (the rest erased). Checks: no
 * crash or out-of-bounds whatever the flash holds; when a state is read, a
 * commit on top of it keeps the flash rules and reads back.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "se/se_store.h"
#include "sehost/se_nvm_ram.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static se_nvm_ram r;
    se_nvm_geometry g = {.page_size = 1024, .page_count = 2, .program_unit = 8};
    se_nvm nvm;
    memset(&r, 0, sizeof(r));
    if (se_nvm_ram_format(&r, &g) != SE_OK || se_nvm_ram_bind(&r, &nvm) != SE_OK)
        abort();
    memcpy(r.mem, data, size < 2048 ? size : 2048);
    se_store s;
    se_state cur, next, back;
    if (se_store_open(&s, &nvm, &cur) != SE_OK)
        return 0;
    next = cur;
    next.session.nfcnt_down++;
    next.mls_down_counter++;
    if (se_store_commit(&s, &cur, &next) != SE_OK || r.violations != 0)
        abort();
    if (se_store_open(&s, &nvm, &back) != SE_OK || back.session.nfcnt_down != next.session.nfcnt_down ||
        back.mls_down_counter != next.mls_down_counter)
        abort();
    return 0;
}

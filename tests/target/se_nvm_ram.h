/*
 * se_nvm_ram.h - the element's NVM kept in RAM, for the test firmware on
 * QEMU (which has no flash to program). One small file on purpose: it
 * follows src/se/se_nvm.h and is the only thing to adapt when that
 * interface changes.
 */
#ifndef FERRY_SE_NVM_RAM_H
#define FERRY_SE_NVM_RAM_H

#include "se/se_nvm.h"

typedef struct se_nvm_ram {
    uint8_t bank[2][SE_NVM_BANK_SIZE];
    unsigned writes;
} se_nvm_ram;

/* The se_nvm handle over *r (owned by the caller, zeroed or kept). */
se_nvm se_nvm_ram_bind(se_nvm_ram *r);

#endif

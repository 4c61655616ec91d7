/*
 * se_nvm.h - the secure element's persistent memory, as the core sees it.
 *
 * Two banks of equal size. The core writes a whole image to the bank it is
 * not running from and only then treats it as current (se_store.c), so a
 * write torn by a power cut leaves the other bank intact. A backend provides
 * reading and writing one bank; a write must be durable when it returns
 * SE_OK (on a chip: flash program + verify; on a host: write + fsync).
 */
#ifndef FERRY_SE_NVM_H
#define FERRY_SE_NVM_H

#include <stddef.h>
#include <stdint.h>
#include "se/se_status.h"

#define SE_NVM_BANK_SIZE 1024

typedef struct se_nvm_class {
    /* Reads `len` bytes of bank 0 or 1 from its start. A bank never written
     * reads as anything at all: the core checks integrity itself. */
    se_status (*read)(void *ctx, unsigned bank, uint8_t *buf, size_t len);
    /* Writes `len` bytes to the start of bank 0 or 1, durably. */
    se_status (*write)(void *ctx, unsigned bank, const uint8_t *buf, size_t len);
} se_nvm_class;

typedef struct se_nvm {
    const se_nvm_class *cls;
    void *ctx;
} se_nvm;

#endif

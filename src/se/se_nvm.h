/*
 * se_nvm.h - the secure element's persistent memory, as the core sees it:
 * NOR flash.
 *
 * A few pages of flash that a chip vendor hands to the element (at most 4
 * are needed; docs/se-store.md). Flash obeys three rules the store is built
 * around, and a backend must enforce them rather than hide them:
 *
 *   - an erased page reads as 0xFF everywhere;
 *   - programming writes whole program units (8-byte double-words on
 *     STM32L4/WL) and only into units still erased since the page's last
 *     erase: a unit is never programmed twice;
 *   - erasing works on a whole page, and a page lasts a rated number of
 *     erase cycles (10,000 on most microcontrollers).
 *
 * A power cut may interrupt a program (the unit holds some of its bits, or
 * garbage) or an erase (the page holds anything at all). The core checks
 * everything it reads (se_store.c) and never relies on a completed write it
 * was not told about.
 *
 * Every call must be durable when it returns SE_OK (on a chip: program +
 * verify; on a host: write + fsync).
 */
#ifndef FERRY_SE_NVM_H
#define FERRY_SE_NVM_H

#include <stddef.h>
#include <stdint.h>
#include "se/se_status.h"

/* The store writes 8-byte slots: a program unit must divide 8. */
#define SE_NVM_SLOT 8

typedef struct se_nvm_geometry {
    uint32_t page_size;      /* bytes per erasable page, a multiple of 8 */
    uint32_t page_count;     /* pages given to the element, 2..SE_NVM_PAGES_MAX */
    uint32_t program_unit;   /* bytes programmed at once: 1, 2, 4 or 8 */
} se_nvm_geometry;

#define SE_NVM_PAGES_MAX 16
#define SE_NVM_PAGE_MIN  1024    /* a page holds a whole state snapshot and room to journal */
#define SE_NVM_PAGE_MAX  65536

typedef struct se_nvm_class {
    /* Reads `len` bytes of `page` from `offset`. Reads never fail on a
     * sound chip; what they return may be anything after a torn write. */
    se_status (*read)(void *ctx, uint32_t page, uint32_t offset, uint8_t *buf, size_t len);
    /* Programs `len` bytes at `offset` of `page`; offset and len are
     * multiples of the program unit and every unit is erased. A backend
     * refuses anything else with SE_ERR_NVM. */
    se_status (*program)(void *ctx, uint32_t page, uint32_t offset, const uint8_t *buf, size_t len);
    /* Erases a whole page (every byte 0xFF). */
    se_status (*erase)(void *ctx, uint32_t page);
} se_nvm_class;

typedef struct se_nvm {
    const se_nvm_class *cls;
    void *ctx;
    se_nvm_geometry geometry;
} se_nvm;

#endif

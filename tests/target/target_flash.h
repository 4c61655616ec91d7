/*
 * target_flash.h - the element's flash kept in RAM, for the test firmware on
 * QEMU (which has no flash to program): 4 pages of 2 KiB programmed 8 bytes
 * at a time, as on an STM32WL, with the rules such flash imposes (a unit
 * programmed once between erases, whole-page erases), so that the firmware
 * fails where a chip would. One small file on purpose: it follows
 * src/se/se_nvm.h and is the only thing to adapt when that interface
 * changes.
 */
#ifndef FERRY_TARGET_FLASH_H
#define FERRY_TARGET_FLASH_H

#include "se/se_nvm.h"

#define TARGET_FLASH_PAGE  2048
#define TARGET_FLASH_PAGES 4

typedef struct target_flash {
    uint8_t page[TARGET_FLASH_PAGES][TARGET_FLASH_PAGE];
    unsigned writes;   /* programs and erases */
} target_flash;

/* The se_nvm handle over *f (owned by the caller, zeroed or kept). */
se_nvm target_flash_bind(target_flash *f);

#endif

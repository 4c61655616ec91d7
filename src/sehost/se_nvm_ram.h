/*
 * se_nvm_ram.h - NOR flash simulated in RAM, strict about flash rules, with
 * erase counts and power cuts: the element's memory in tests, in the lab and
 * in the wear bench, and the rule-keeper behind the file backend.
 *
 * Rules enforced (a breach is refused with SE_ERR_NVM and counted in
 * `violations`, so a test catches a store that assumes too much): a program
 * is aligned to the program unit, stays in its page and goes only to units
 * erased since the page's last erase; an erase is a whole page.
 *
 * Power cuts: operations (programs and erases) are numbered from 1 in
 * `writes`; the one numbered `cut_at` is torn as `tear` says and fails, and
 * the power stays off (every later operation fails) until the caller clears
 * `power_off`, as a reboot would.
 */
#ifndef FERRY_SE_NVM_RAM_H
#define FERRY_SE_NVM_RAM_H

#include <stdbool.h>
#include <stdint.h>
#include "se/se_nvm.h"

#define SE_NVM_RAM_MAX 8192     /* bytes: 4 pages of 2 KiB, or 8 of 1 KiB */

/* How the cut operation tears. For a program / for an erase:
 *   1 nothing happened            / nothing happened
 *   2 the first byte only         / the first half of the page erased
 *   3 odd bits programmed only    / the page filled with noise
 *   4 noise ANDed into the bytes  / every other byte erased
 *   5 the first half of the bytes / all but the last 8 bytes erased
 *   6 all but the last byte       / the page's bits half set (OR 0x55)
 *   7 even bits programmed only   / erased but a noise slot at its start
 *   8 done, but the power went before it was acknowledged (both)
 *   0 one of 1..8 chosen by the operation's number */
#define SE_NVM_TEAR_WAYS 8

typedef struct se_nvm_ram {
    se_nvm_geometry geometry;
    uint8_t mem[SE_NVM_RAM_MAX];
    uint32_t erases[SE_NVM_PAGES_MAX];   /* erase count of each page */
    uint64_t programs;                   /* program calls that succeeded */
    unsigned writes;                     /* programs and erases attempted: the cut points */
    unsigned cut_at;                     /* 0 = never */
    unsigned tear;
    bool power_off;
    bool cut_erase;                      /* the cut operation was an erase */
    unsigned violations;                 /* flash rules broken by the caller */
} se_nvm_ram;

/* 4 pages of 2 KiB, 8-byte program unit: an STM32WL's double-word flash. */
extern const se_nvm_geometry se_nvm_ram_default_geometry;

/* Binds *nvm to r. A flash whose geometry is still zero (a zeroed struct)
 * takes the default one; its bytes are what they are (a never-erased chip
 * reads as anything). SE_ERR_ARGUMENT when the geometry does not fit. */
se_status se_nvm_ram_bind(se_nvm_ram *r, se_nvm *nvm);

/* Sets the geometry and erases everything (a factory-fresh chip). */
se_status se_nvm_ram_format(se_nvm_ram *r, const se_nvm_geometry *g);

/* Bytes the flash spans: page_size * page_count. */
uint32_t se_nvm_ram_size(const se_nvm_ram *r);

#endif

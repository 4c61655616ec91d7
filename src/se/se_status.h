/*
 * se_status.h - the status type of the secure element.
 *
 * Each value maps to one ISO 7816-4 status word (se_status_sw) so that the
 * APDU layer and the C API report the same thing; se_strerror gives the
 * sentence a host program prints.
 */
#ifndef FERRY_SE_STATUS_H
#define FERRY_SE_STATUS_H

#include <stdint.h>

typedef enum se_status {
    SE_OK = 0,
    SE_ERR_ARGUMENT,        /* bad parameter from the host: 6A80 */
    SE_ERR_LENGTH,          /* wrong Lc / data length: 6700 */
    SE_ERR_STATE,           /* command not allowed in this lifecycle state: 6985 */
    SE_ERR_NO_PROFILE,      /* no usable profile in the slot asked for: 6A88 */
    SE_ERR_NO_SESSION,      /* no joined session yet: 6985-like, 6986 */
    SE_ERR_MIC,             /* integrity check failed: 6982 */
    SE_ERR_REPLAY,          /* nonce or counter already used or too old: 6983 */
    SE_ERR_COUNTER,         /* a counter would overflow: 6984 */
    SE_ERR_FRAME,           /* the LoRaWAN frame is malformed or of the wrong kind: 6A80-like, 6A81 */
    SE_ERR_NVM,             /* persistent memory failed; nothing changed: 6581 */
    SE_ERR_CORRUPT,         /* no flash page holds a valid state: 6F01 */
    SE_ERR_CRYPTO,          /* crypto backend failure: 6F00 */
    SE_ERR_BUFFER,          /* the response does not fit the host's buffer: 6C00 */
    SE_ERR_INS,             /* unknown instruction: 6D00 */
    SE_ERR_CLA,             /* unknown class: 6E00 */
    SE_ERR_NO_SPACE,        /* no free profile slot: 6A84 */
    SE_STATUS_COUNT
} se_status;

/* A static sentence for `st`. */
const char *se_strerror(se_status st);

/* The ISO 7816-4 status word for `st` (0x9000 for SE_OK). */
uint16_t se_status_sw(se_status st);

/* The status for a status word returned by a chip; SE_ERR_CRYPTO for a word
 * this SE never sends. */
se_status se_status_from_sw(uint16_t sw);

#endif

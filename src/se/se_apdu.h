/*
 * se_apdu.h - the secure element's command interface: ISO 7816-4 style
 * APDUs (CLA INS P1 P2 [Lc data] [Le] -> data SW1 SW2), short form only.
 *
 * Every command and response layout is in docs/se-commands.md. Multi-byte
 * fields are big-endian, as people read them; LoRaWAN frames inside are
 * carried as they are on the air. No response ever holds a key.
 */
#ifndef FERRY_SE_APDU_H
#define FERRY_SE_APDU_H

#include <stddef.h>
#include <stdint.h>
#include "se/se.h"

#define SE_CLA 0x80

enum se_ins {
    SE_INS_PERSONALISE = 0x10,
    SE_INS_GET_INFO = 0xCA,
    SE_INS_JOIN_REQUEST = 0x20,
    SE_INS_REJOIN_REQUEST = 0x21,
    SE_INS_JOIN_ACCEPT = 0x22,
    SE_INS_PROTECT_UPLINK = 0x30,
    SE_INS_UNPROTECT_DOWNLINK = 0x31,
    SE_INS_MLS_UPLINK = 0x40,
    SE_INS_SET_TIME = 0x42,
    SE_INS_SECURE_GET = 0x43,
    SE_INS_SECURE_REPLY = 0x44,
    SE_INS_MLS_DOWNLINK = 0x45,
    SE_INS_KEYED_CMAC = 0x50,
    SE_INS_KEY_STREAM = 0x51,
    SE_INS_MC_SETUP = 0x52
};

/* P1 of JOIN REQUEST / JOIN ACCEPT and P2 of REJOIN REQUEST: the host built
 * the frame (LoRaMac-node's form, docs/se-commands.md). */
#define SE_P_HOST_FRAME 0x01
/* P2 of KEYED CMAC: verify the 4 bytes at the end of the data. */
#define SE_P_VERIFY 0x01

#define SE_SECURE_CHUNK 240   /* bytes of a secure command or reply per APDU */

#define SE_APDU_MAX_RESPONSE 258   /* 256 data bytes + SW1 SW2 */
#define SE_APDU_MAX_COMMAND 261    /* CLA INS P1 P2 Lc, 255 data bytes, Le */
/* One buffer for command and answer (se_apdu_process, resp == cmd). */
#define SE_APDU_BUFFER SE_APDU_MAX_COMMAND
#define SE_PERSONALISE_LEN 97
#define SE_INFO_LEN 61   /* 58 before the last JoinNonce was added */

/* Uplink flags (PROTECT UPLINK byte 0) and downlink flags (UNPROTECT
 * DOWNLINK response byte 0). */
/* GET INFO byte 28. */
#define SE_INFO_ON_TRIAL       0x01
#define SE_INFO_JOINED         0x02
#define SE_INFO_HAS_JOIN_NONCE 0x04   /* offset 58 holds the last JoinNonce accepted */

#define SE_UP_CONFIRMED   0x01
#define SE_UP_ADR         0x02
#define SE_UP_ADR_ACK_REQ 0x04
#define SE_UP_ACK         0x08
#define SE_UP_CLASS_B     0x10
#define SE_UP_HAS_FPORT   0x80
#define SE_DOWN_CONFIRMED 0x01
#define SE_DOWN_ACK       0x02
#define SE_DOWN_F_PENDING 0x04
#define SE_DOWN_ADR       0x08

#define SE_DOWN_SECURE    0x20   /* a secure command waits for the application */
#define SE_DOWN_MLS       0x40   /* consumed by the MLS endpoint: ask MLS UPLINK */
#define SE_DOWN_HAS_FPORT 0x80

/* Runs one command APDU cmd[len] and writes the response (data, then SW1
 * SW2) to resp[cap], its length to *resp_len. Always produces a status word,
 * also for a malformed APDU; returns the se_status behind it. cap must be at
 * least 2; SE_APDU_MAX_RESPONSE always suffices. The answer is built in resp
 * itself (a chip has no RAM for a second copy). resp may be cmd itself: one
 * APDU buffer of SE_APDU_BUFFER bytes, as on a smart card, where every
 * answer is written at or before the command bytes it still needs;
 * otherwise the two must not overlap. A response that does not fit is
 * SE_ERR_BUFFER, checked before a command consumes a counter where the
 * size is known in advance. */
se_status se_apdu_process(se *e, const uint8_t *cmd, size_t len, uint8_t *resp, size_t cap, size_t *resp_len);

#endif

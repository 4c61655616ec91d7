/*
 * lw_mic.h - Message Integrity Codes for every LoRaWAN message kind.
 *
 * Each function takes the encoded message without its MIC (`msg`, `len`):
 * for a join-accept that is the plaintext MHDR | fields. The MIC is the first
 * four bytes of an AES-CMAC. lw_mic_equal() compares two MICs in constant time.
 */
#ifndef FERRY_LW_MIC_H
#define FERRY_LW_MIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "lorawan/lw_crypto.h"
#include "lorawan/lw_frame.h"

/* Join-request: cmac(NwkKey (1.1) or AppKey (1.0), MHDR|JoinEUI|DevEUI|DevNonce). */
lw_status lw_mic_join_request(const lw_crypto *c, const lw_key *key, const uint8_t *msg, size_t len,
                              uint8_t mic[LW_MIC_LEN]) LW_MUST_CHECK;

/* Rejoin-request: key is SNwkSIntKey for types 0 and 2, JSIntKey for type 1. */
lw_status lw_mic_rejoin_request(const lw_crypto *c, const lw_key *key, const uint8_t *msg, size_t len,
                                uint8_t mic[LW_MIC_LEN]) LW_MUST_CHECK;

/* 1.0.x join-accept (and 1.1 without OptNeg): cmac(NwkKey, MHDR | fields). */
lw_status lw_mic_join_accept_10(const lw_crypto *c, const lw_key *nwk_key, const uint8_t *msg, size_t len,
                                uint8_t mic[LW_MIC_LEN]) LW_MUST_CHECK;

/* 1.1 join-accept with OptNeg: cmac(JSIntKey, JoinReqType | JoinEUI | DevNonce
 * | MHDR | fields), JoinEUI and DevNonce little-endian. */
lw_status lw_mic_join_accept_11(const lw_crypto *c, const lw_key *js_int_key, uint8_t join_req_type,
                                uint64_t join_eui, uint16_t dev_nonce, const uint8_t *msg, size_t len,
                                uint8_t mic[LW_MIC_LEN]) LW_MUST_CHECK;

/* What a data MIC binds besides the message. `fcnt` is the full 32-bit
 * counter (the wire carries its low 16 bits). `conf_fcnt` is the counter of
 * the confirmed frame being acknowledged (1.1 only); the specification makes
 * it 0 when the ACK bit is clear, and these functions apply that rule from
 * the FCtrl byte in `msg`. `tx_dr` and `tx_ch` are the uplink's data rate and
 * channel index (1.1 uplinks only). */
typedef struct lw_data_mic_params {
    uint32_t dev_addr;
    uint32_t fcnt;
    uint16_t conf_fcnt;
    uint8_t tx_dr;
    uint8_t tx_ch;
} lw_data_mic_params;

/* 1.0.x data frame, up or down (direction from the MType in msg[0]):
 * cmac(NwkSKey, B0 | msg). */
lw_status lw_mic_data_10(const lw_crypto *c, const lw_key *nwk_s_key, const lw_data_mic_params *p,
                         const uint8_t *msg, size_t len, uint8_t mic[LW_MIC_LEN]) LW_MUST_CHECK;

/* 1.1 uplink: cmacS(SNwkSIntKey, B1 | msg)[0..1] | cmacF(FNwkSIntKey, B0 | msg)[0..1]. */
lw_status lw_mic_data_up_11(const lw_crypto *c, const lw_key *s_nwk_s_int_key, const lw_key *f_nwk_s_int_key,
                            const lw_data_mic_params *p, const uint8_t *msg, size_t len,
                            uint8_t mic[LW_MIC_LEN]) LW_MUST_CHECK;

/* 1.1 downlink: cmac(SNwkSIntKey, B0 with ConfFCnt | msg). */
lw_status lw_mic_data_down_11(const lw_crypto *c, const lw_key *s_nwk_s_int_key, const lw_data_mic_params *p,
                              const uint8_t *msg, size_t len, uint8_t mic[LW_MIC_LEN]) LW_MUST_CHECK;

/* 1 when a and b are the same MIC; constant time. */
int lw_mic_equal(const uint8_t a[LW_MIC_LEN], const uint8_t b[LW_MIC_LEN]) LW_MUST_CHECK;

#endif

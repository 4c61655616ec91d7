/*
 * lw_frame.h - LoRaWAN PHYPayload encoding and decoding (L2 1.0.x and 1.1).
 *
 * Decoding parses the raw bytes once, with explicit lengths, into an lw_frame
 * whose byte-string fields point into the caller's buffer: no copy, no
 * allocation, no read past `len`. Encoding is the inverse and writes the MIC
 * bytes held in the struct; computing that MIC is lw_mic.h's job, so a frame
 * is typically encoded, its MIC computed over the encoded bytes, then patched
 * in with lw_frame_set_mic().
 *
 * Integers are held in host order with the meaning people read: an EUI of
 * 70B3D57ED0000001 is 0x70B3D57ED0000001 here and 01 00 00 D0 7E D5 B3 70 on
 * the wire.
 *
 * A join-accept is encrypted on the wire, so decode only exposes its
 * ciphertext; lw_join_accept_decrypt() (lw_cipher.h) yields the plaintext that
 * lw_join_accept_parse() reads.
 */
#ifndef FERRY_LW_FRAME_H
#define FERRY_LW_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "lorawan/lw_status.h"

#define LW_PHY_MAX          255  /* largest PHYPayload a LoRa radio carries */
#define LW_MIC_LEN          4
#define LW_FOPTS_MAX        15
#define LW_CFLIST_LEN       16
#define LW_JOIN_REQUEST_LEN 23   /* MHDR 1 + JoinEUI 8 + DevEUI 8 + DevNonce 2 + MIC 4 */
#define LW_REJOIN_02_LEN    19   /* MHDR, type, NetID 3, DevEUI 8, RJcount0 2, MIC */
#define LW_REJOIN_1_LEN     24   /* MHDR, type, JoinEUI 8, DevEUI 8, RJcount1 2, MIC */
#define LW_JOIN_ACCEPT_LEN  17   /* without CFList */
#define LW_JOIN_ACCEPT_CFLIST_LEN 33
#define LW_DATA_MIN_LEN     12   /* MHDR, DevAddr 4, FCtrl, FCnt 2, MIC */

typedef enum lw_mtype {
    LW_MTYPE_JOIN_REQUEST = 0,
    LW_MTYPE_JOIN_ACCEPT = 1,
    LW_MTYPE_UNCONFIRMED_DATA_UP = 2,
    LW_MTYPE_UNCONFIRMED_DATA_DOWN = 3,
    LW_MTYPE_CONFIRMED_DATA_UP = 4,
    LW_MTYPE_CONFIRMED_DATA_DOWN = 5,
    LW_MTYPE_REJOIN_REQUEST = 6,
    LW_MTYPE_PROPRIETARY = 7
} lw_mtype;

typedef enum lw_mac_version {
    LW_MAC_1_0 = 0,   /* 1.0.0 .. 1.0.4: one NwkSKey, one AppKey */
    LW_MAC_1_1 = 1
} lw_mac_version;

typedef enum lw_rejoin_type {
    LW_REJOIN_TYPE_0 = 0,
    LW_REJOIN_TYPE_1 = 1,
    LW_REJOIN_TYPE_2 = 2
} lw_rejoin_type;

/* JoinReqType as the 1.1 join-accept MIC uses it. */
#define LW_JOIN_REQ_TYPE_JOIN     0xFF
#define LW_JOIN_REQ_TYPE_REJOIN_0 0x00
#define LW_JOIN_REQ_TYPE_REJOIN_1 0x01
#define LW_JOIN_REQ_TYPE_REJOIN_2 0x02

typedef struct lw_join_request {
    uint64_t join_eui;
    uint64_t dev_eui;
    uint16_t dev_nonce;
} lw_join_request;

typedef struct lw_rejoin_request {
    lw_rejoin_type type;
    uint32_t net_id;      /* types 0 and 2 */
    uint64_t join_eui;    /* type 1 */
    uint64_t dev_eui;
    uint16_t rj_count;    /* RJcount0 (types 0, 2) or RJcount1 (type 1) */
} lw_rejoin_request;

/* FCtrl; bit 4 means ADRACKReq uplink and RFU downlink in 1.0.x-1.1, and
 * FPending downlink / ClassB uplink share bit 4 in other revisions: we keep
 * the 1.1 names by direction. */
typedef struct lw_fctrl {
    bool adr;
    bool adr_ack_req;     /* uplink only; RFU bit downlink */
    bool ack;
    bool f_pending;       /* downlink: FPending; uplink: ClassB */
    uint8_t fopts_len;    /* 0..15 */
} lw_fctrl;

typedef struct lw_data_frame {
    uint32_t dev_addr;
    lw_fctrl fctrl;
    uint16_t fcnt;                 /* the 16 bits on the wire */
    const uint8_t *fopts;          /* fctrl.fopts_len bytes */
    bool has_fport;
    uint8_t fport;
    const uint8_t *frm_payload;    /* as on the wire: encrypted */
    size_t frm_payload_len;
} lw_data_frame;

typedef struct lw_frame {
    lw_mtype mtype;
    uint8_t major;                 /* 0 = LoRaWAN R1 */
    uint8_t rfu;                   /* MHDR bits 4..2, kept for a bit-exact re-encode */
    union {
        lw_join_request join_request;
        lw_rejoin_request rejoin_request;
        struct { const uint8_t *ciphertext; size_t len; } join_accept;  /* after MHDR, MIC included */
        lw_data_frame data;
        struct { const uint8_t *payload; size_t len; } proprietary;     /* after MHDR, opaque */
    } u;
    uint8_t mic[LW_MIC_LEN];       /* not set for join-accept and proprietary */
} lw_frame;

/* Join-accept plaintext fields. */
typedef struct lw_join_accept {
    uint32_t join_nonce;           /* 24 bits: AppNonce in 1.0 */
    uint32_t net_id;               /* 24 bits: Home_NetID in 1.1 */
    uint32_t dev_addr;
    uint8_t dl_settings;           /* bit 7 OptNeg, 6..4 RX1DROffset, 3..0 RX2DataRate */
    uint8_t rx_delay;
    bool has_cflist;
    uint8_t cflist[LW_CFLIST_LEN];
} lw_join_accept;

#define LW_DL_OPTNEG 0x80

/* True for the four data MTypes; lw_mtype_is_uplink for the two uplinks. */
bool lw_mtype_is_data(lw_mtype m);
bool lw_mtype_is_uplink(lw_mtype m);

/* The specification's name of an MType ("JoinRequest", "UnconfirmedDataUp"...). */
const char *lw_mtype_name(lw_mtype m);

/* Parses `len` bytes at `phy` into *out. Pointers in *out point into `phy`.
 * Errors: LW_ERR_TRUNCATED / LW_ERR_TOO_LONG for a length that does not fit
 * the MType, LW_ERR_MAJOR for a Major other than 0, LW_ERR_FORMAT for a
 * rejoin type above 2, or a data frame with FOptsLen > 0 and FPort 0 (L2 1.1
 * section 4.3.1.6 forbids port 0 when FOpts is used, even with an empty
 * FRMPayload). A join-accept of 18 to 32 bytes is LW_ERR_TRUNCATED (a partial
 * CFList), above 33 LW_ERR_TOO_LONG. *out is only meaningful on LW_OK. */
lw_status lw_frame_decode(const uint8_t *phy, size_t len, lw_frame *out) LW_MUST_CHECK;

/* Writes the frame's PHYPayload to out[cap] and its length to *out_len.
 * A join-accept's ciphertext and a proprietary payload are copied as they
 * are. LW_ERR_BUFFER when cap is too small, LW_ERR_FORMAT for a field the
 * wire cannot carry (fopts_len > 15, FOpts with FPort 0, rejoin type > 2). */
lw_status lw_frame_encode(const lw_frame *f, uint8_t *out, size_t cap, size_t *out_len) LW_MUST_CHECK;

/* Overwrites the last four bytes of an encoded frame with `mic`. */
lw_status lw_frame_set_mic(uint8_t *phy, size_t len, const uint8_t mic[LW_MIC_LEN]) LW_MUST_CHECK;

/* Reads a decrypted join-accept: plain[len] = MHDR | fields | MIC (17 or 33
 * bytes). The MIC bytes are copied to mic[4]. */
lw_status lw_join_accept_parse(const uint8_t *plain, size_t len, lw_join_accept *out, uint8_t mic[LW_MIC_LEN]) LW_MUST_CHECK;

/* Writes MHDR | fields of a join-accept (without MIC) to out[cap]: 13 or 29
 * bytes. The MIC is computed over these bytes and appended by the caller
 * before lw_join_accept_encrypt(). */
lw_status lw_join_accept_build(const lw_join_accept *ja, uint8_t *out, size_t cap, size_t *out_len) LW_MUST_CHECK;

/* Byte-order helpers for the wire formats: n (1..8) bytes, little-endian as
 * LoRaWAN frames carry integers, big-endian as APDUs and MLS do. */
uint64_t lw_get_le(const uint8_t *p, size_t n);
void lw_put_le(uint8_t *p, uint64_t v, size_t n);
uint64_t lw_get_be(const uint8_t *p, size_t n);
void lw_put_be(uint8_t *p, uint64_t v, size_t n);

#endif

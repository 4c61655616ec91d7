/*
 * lab_udp.h - the Semtech UDP packet-forwarder protocol (GWMP), version 2,
 * as in Lora-net/packet_forwarder PROTOCOL.TXT: the codec only, no socket.
 *
 * Every datagram starts with four bytes:
 *
 *     0      protocol version = 2
 *     1-2    random token (big-endian; echoed by the acknowledgement)
 *     3      identifier
 *
 *   PUSH_DATA 0x00  gw -> ns  | gateway EUI (8, big-endian) | {"rxpk":[...],"stat":{...}}
 *   PUSH_ACK  0x01  ns -> gw  | (nothing)
 *   PULL_DATA 0x02  gw -> ns  | gateway EUI
 *   PULL_RESP 0x03  ns -> gw  | {"txpk":{...}}   (v2: the token is the one TX_ACK echoes)
 *   PULL_ACK  0x04  ns -> gw  | (nothing)
 *   TX_ACK    0x05  gw -> ns  | gateway EUI | optional {"txpk_ack":{"error":"NONE"}}
 *
 * Both directions are here (parse and build of every kind), so the network
 * server and the simulated gateway share one codec, and a real packet
 * forwarder can stand in for the simulated one. The JSON parts use jansson;
 * the binary header parse is pure. Bytes from the socket are parsed once,
 * with explicit lengths, into the structs below.
 *
 * Subset: LoRa modulation only (an "FSK" rxpk is reported with lora=false;
 * the NS ignores it); "stat" objects are accepted and ignored; "time" is
 * kept as text.
 */
#ifndef FERRY_LAB_UDP_H
#define FERRY_LAB_UDP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "lab/lab_status.h"
#include "lorawan/lw_frame.h"

#define LAB_UDP_VERSION   2
#define LAB_UDP_HDR_LEN   4
#define LAB_UDP_GW_HDR_LEN 12      /* header + gateway EUI */
#define LAB_UDP_MAX       65507    /* largest UDP payload on IPv4 */
#define LAB_UDP_RXPK_MAX  16       /* rxpk objects read from one PUSH_DATA */

typedef enum lab_udp_type {
    LAB_UDP_PUSH_DATA = 0x00,
    LAB_UDP_PUSH_ACK = 0x01,
    LAB_UDP_PULL_DATA = 0x02,
    LAB_UDP_PULL_RESP = 0x03,
    LAB_UDP_PULL_ACK = 0x04,
    LAB_UDP_TX_ACK = 0x05
} lab_udp_type;

/* One datagram, decoded. `json` points into the caller's datagram. */
typedef struct lab_udp_packet {
    uint16_t token;
    lab_udp_type type;
    uint64_t gateway_eui;   /* PUSH_DATA, PULL_DATA, TX_ACK */
    const uint8_t *json;    /* PUSH_DATA, PULL_RESP: required; TX_ACK: optional (len 0) */
    size_t json_len;
} lab_udp_packet;

/* Splits a datagram. LAB_ERR_VERSION for a version byte other than 2,
 * LAB_ERR_FORMAT for an unknown identifier, a length that does not fit the
 * kind (acks are exactly 4 bytes, PULL_DATA exactly 12), or a JSON part that
 * does not start with '{' and end with '}'. */
lab_status lab_udp_decode(const uint8_t *d, size_t len, lab_udp_packet *out) LAB_MUST_CHECK;

/* The inverse: writes p into out[cap]. LAB_ERR_BUFFER when it does not fit,
 * LAB_ERR_ARGUMENT when a JSON part is missing where required. */
lab_status lab_udp_encode(const lab_udp_packet *p, uint8_t *out, size_t cap, size_t *out_len) LAB_MUST_CHECK;

/* An uplink as the gateway heard it (one rxpk object). */
typedef struct lab_rxpk {
    uint32_t tmst;          /* concentrator counter, microseconds, wraps */
    char time[40];          /* "" when absent */
    double freq;            /* MHz */
    uint8_t chan, rfch;
    int stat;               /* 1 CRC ok, -1 CRC bad, 0 no CRC */
    bool lora;              /* false: FSK (the rest of the modulation fields are 0) */
    uint8_t sf;             /* 7..12 */
    uint16_t bw;            /* kHz: 125, 250, 500 */
    char codr[8];           /* "4/5" */
    int rssi;               /* dBm */
    double lsnr;            /* dB */
    size_t size;
    uint8_t data[LW_PHY_MAX];
} lab_rxpk;

/* Reads the rxpk array of a PUSH_DATA's JSON (json[len]). *n may be 0 (a
 * "stat"-only datagram). Every rxpk needs tmst, freq, stat, modu, datr,
 * size and data; data must decode (base64, padding optional) to exactly
 * `size` bytes, at most 255. More than `max` objects is LAB_ERR_FORMAT. */
lab_status lab_udp_rxpk_parse(const uint8_t *json, size_t len, lab_rxpk *out, size_t max, size_t *n) LAB_MUST_CHECK;

/* Writes {"rxpk":[...]} for pk[n] into out[cap], NUL-terminated. */
lab_status lab_udp_rxpk_build(const lab_rxpk *pk, size_t n, char *out, size_t cap, size_t *out_len) LAB_MUST_CHECK;

/* A downlink to emit (the txpk object of PULL_RESP). */
typedef struct lab_txpk {
    bool imme;              /* send at once (class C); else at tmst */
    uint32_t tmst;
    double freq;
    uint8_t rfch;
    int powe;
    uint8_t sf;
    uint16_t bw;
    char codr[8];
    bool ipol;              /* true for LoRaWAN downlinks */
    size_t size;
    uint8_t data[LW_PHY_MAX];
} lab_txpk;

lab_status lab_udp_txpk_build(const lab_txpk *tx, char *out, size_t cap, size_t *out_len) LAB_MUST_CHECK;
/* Reads {"txpk":{...}}: data and size required (and consistent), the rest
 * optional (defaults 0/false). */
lab_status lab_udp_txpk_parse(const uint8_t *json, size_t len, lab_txpk *out) LAB_MUST_CHECK;

/* A ferry extension for the simulated clock (docs/lab-ns.md, "Simulated
 * time"): a PULL_RESP whose JSON is {"txnone":{"tmst":N}} tells the gateway
 * that the uplink it heard at concentrator time N gets no downlink, so the
 * simulator need not wait for that uplink's RX2 to close. It is never
 * acknowledged and never sent under the wall clock; a real forwarder would
 * answer it with a TX_ACK error and send nothing. */
lab_status lab_udp_txnone_build(uint32_t tmst, bool wait, char *out, size_t cap, size_t *out_len) LAB_MUST_CHECK;
/* LAB_ERR_FORMAT when json[len] is not such an object (e.g. a txpk). With
 * {"txnone":{"tmst":N,"wait":true}} the NS says instead that the answer, if
 * any, comes later from elsewhere (a roamed uplink's home network): *wait. */
lab_status lab_udp_txnone_parse(const uint8_t *json, size_t len, uint32_t *tmst, bool *wait) LAB_MUST_CHECK;

/* TX_ACK's {"txpk_ack":{"error":"..."}}: *error gets the text, "NONE" when
 * the JSON part is empty or has no error field. */
lab_status lab_udp_tx_ack_parse(const uint8_t *json, size_t len, char *error, size_t cap) LAB_MUST_CHECK;

/* "SF7BW125" <-> sf/bw. */
lab_status lab_udp_datr_parse(const char *s, uint8_t *sf, uint16_t *bw) LAB_MUST_CHECK;

/* RFC 4648 base64 (standard alphabet). Decode accepts missing padding;
 * LAB_ERR_FORMAT for any other character, LAB_ERR_BUFFER past cap. */
lab_status lab_base64_decode(const char *in, size_t len, uint8_t *out, size_t cap, size_t *out_len) LAB_MUST_CHECK;
lab_status lab_base64_encode(const uint8_t *in, size_t len, char *out, size_t cap) LAB_MUST_CHECK;

#endif

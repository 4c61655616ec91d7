/*
 * lab_ns_mac.h - the MAC commands a device sends up, and the answers the
 * lab network server gives (LoRaWAN L2 1.0.4 / 1.1 section 5).
 *
 * Answered: LinkCheckReq -> LinkCheckAns (margin over the SF's floor, number
 * of gateways), DeviceTimeReq -> DeviceTimeAns, RekeyInd -> RekeyConf (1.1),
 * ResetInd -> ResetConf (1.1). Read and recorded: DevStatusAns. Read and
 * ignored (answers to requests this NS never sends, lengths known so that
 * parsing goes on): LinkADRAns, DutyCycleAns, RXParamSetupAns,
 * NewChannelAns, RXTimingSetupAns, TxParamSetupAns, DlChannelAns,
 * ADRParamSetupAns, RejoinParamSetupAns. An unknown CID ends parsing (the
 * rest cannot be framed), as the specification says.
 */
#ifndef FERRY_LAB_NS_MAC_H
#define FERRY_LAB_NS_MAC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "lab/lab_status.h"

#define LAB_MAC_LINK_CHECK   0x02
#define LAB_MAC_DEV_STATUS   0x06
#define LAB_MAC_RESET        0x01
#define LAB_MAC_REKEY        0x0B
#define LAB_MAC_DEVICE_TIME  0x0D

typedef struct lab_mac_link {
    double snr;             /* best gateway's SNR of this uplink */
    uint8_t sf;
    unsigned gw_count;      /* gateways that heard it */
    uint64_t gps_time_ms;   /* for DeviceTimeAns: ms since the GPS epoch */
    bool v11;               /* the session is 1.1 */
} lab_mac_link;

typedef struct lab_mac_report {
    unsigned commands;      /* commands read */
    bool unknown;           /* parsing stopped at an unknown CID or a short command */
    bool dev_status;
    uint8_t battery;
    int8_t margin;          /* 6-bit signed */
    bool rekey;             /* RekeyInd seen */
    uint8_t rekey_version;
} lab_mac_report;

/* Reads cmds[len] (plaintext) and appends answers to answers[cap].
 * LAB_ERR_BUFFER when the answers do not fit (the caller keeps at most 15
 * bytes for FOpts). */
lab_status lab_mac_uplink(const uint8_t *cmds, size_t len, const lab_mac_link *link, uint8_t *answers, size_t cap,
                          size_t *answers_len, lab_mac_report *rep) LAB_MUST_CHECK;

#endif

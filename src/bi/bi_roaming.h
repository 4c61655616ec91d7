/*
 * bi_roaming.h - the passive-roaming messages between network servers
 * (TS002 1.0/1.1 §12.2, §13): PRStartReq/Ans, PRStopReq/Ans,
 * XmitDataReq/Ans with ULMetaData and DLMetaData, and the HomeNSAns a
 * visited network server reads. Parsed and built both ways, because the
 * lab network server plays both roles (visited: fNS; home: sNS = hNS).
 *
 * Field names are the spec's, as brocaar/lorawan and ChirpStack spell them
 * (ULMetaData, DLMetaData, GWInfo, FNSULToken, ULToken, RXDelay1, ...);
 * PRStartAns also carries DevAddr, which the spec lacks and ChirpStack
 * adds: a visited network server needs it to recognise the device's data
 * uplinks. Frequencies are MHz (numbers), data rates are Regional
 * Parameters DR indexes, tokens are opaque hex.
 *
 * The same rules as the rest of the layer: hex in either case with an
 * optional 0x, null = absent, unknown fields ignored (ServiceProfile,
 * DeviceProfile, VSExtension...), errors naming the field
 * ("ULMetaData.GWInfo[0].SNR: must be a number"). KeyEnvelopes must be
 * wrapped: a clear key is refused on input and never written.
 */
#ifndef FERRY_BI_ROAMING_H
#define FERRY_BI_ROAMING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "bi/bi_header.h"
#include "bi/bi_key_envelope.h"
#include "bi/bi_message.h"
#include "lorawan/lw_frame.h"

#define BI_UL_TOKEN_MAX   128 /* ULToken / FNSULToken bytes (ChirpStack's are protobufs) */
#define BI_GW_INFO_MAX    16  /* GWInfo entries read; more is an error, never a silent cut */
#define BI_GW_ID_MAX      16  /* GWInfo.ID bytes (a gateway EUI has 8) */
#define BI_META_TEXT_MAX  63  /* RecvTime, RFRegion, ClassMode */

/* One GWInfo element: a gateway that heard the uplink (or should send). */
typedef struct bi_gw_info {
    size_t id_len;                    /* 0: no ID */
    uint8_t id[BI_GW_ID_MAX];
    char rf_region[BI_META_TEXT_MAX + 1];
    bool has_rssi;
    int32_t rssi;                     /* dBm */
    bool has_snr;
    double snr;                       /* dB */
    bool has_lat, has_lon;
    double lat, lon;
    size_t ul_token_len;              /* 0: none */
    uint8_t ul_token[BI_UL_TOKEN_MAX];
    bool dl_allowed;
} bi_gw_info;

/* ULMetaData: how and where an uplink was heard. */
typedef struct bi_ul_meta {
    bool has_dev_eui;
    uint64_t dev_eui;
    bool has_dev_addr;
    uint32_t dev_addr;
    bool has_fport;
    uint8_t fport;
    bool has_fcnt_up, has_fcnt_down;
    uint32_t fcnt_up, fcnt_down;
    bool confirmed;
    bool has_data_rate;
    uint8_t data_rate;                /* 0..15 */
    bool has_ul_freq;
    double ul_freq;                   /* MHz */
    bool has_margin, has_battery;
    int32_t margin;                   /* -32..31, as in DevStatusAns */
    uint8_t battery;
    size_t fns_ul_token_len;
    uint8_t fns_ul_token[BI_UL_TOKEN_MAX];
    char recv_time[BI_META_TEXT_MAX + 1]; /* ISO 8601 as sent; "" absent */
    char rf_region[BI_META_TEXT_MAX + 1];
    bool has_gw_cnt;
    uint32_t gw_cnt;
    size_t n_gw_info;
    bi_gw_info gw_info[BI_GW_INFO_MAX];
} bi_ul_meta;

/* DLMetaData: how the receiving network server should send a downlink. */
typedef struct bi_dl_meta {
    bool has_dev_eui;
    uint64_t dev_eui;
    bool has_fport;
    uint8_t fport;
    bool has_fcnt_down;
    uint32_t fcnt_down;
    bool confirmed;
    bool has_dl_freq1, has_dl_freq2;
    double dl_freq1, dl_freq2;        /* MHz: RX1, RX2 */
    bool has_data_rate1, has_data_rate2;
    uint8_t data_rate1, data_rate2;
    bool has_rx_delay1;
    uint8_t rx_delay1;                /* seconds 0..15 (a join-accept: 5) */
    char class_mode[BI_META_TEXT_MAX + 1]; /* "A", "B", "C"; "" absent */
    size_t fns_ul_token_len;
    uint8_t fns_ul_token[BI_UL_TOKEN_MAX];
    size_t n_gw_info;
    bi_gw_info gw_info[BI_GW_INFO_MAX];
    bool hi_priority;
} bi_dl_meta;

typedef struct bi_pr_start_req {
    size_t phy_payload_len;           /* 1..255 */
    uint8_t phy_payload[LW_PHY_MAX];
    bi_ul_meta ul;                    /* required */
} bi_pr_start_req;

typedef struct bi_pr_start_ans {
    bi_result result;
    size_t phy_payload_len;           /* 0: none (a join-accept on a Success of a join) */
    uint8_t phy_payload[LW_PHY_MAX];
    bool has_dev_eui;
    uint64_t dev_eui;
    bool has_dev_addr;                /* not in TS002; ChirpStack's addition */
    uint32_t dev_addr;
    bool has_lifetime;
    uint32_t lifetime;                /* seconds; 0 = a stateless visited NS */
    bi_key_envelope f_nwk_s_int_key;  /* 1.1 device: when the fNS checks MICs */
    bi_key_envelope nwk_s_key;        /* 1.0 device */
    bool has_fcnt_up;
    uint32_t fcnt_up;
    bool has_dl_meta;
    bi_dl_meta dl;
} bi_pr_start_ans;

typedef struct bi_pr_stop_req {
    uint64_t dev_eui;                 /* required */
    bool has_lifetime;
    uint32_t lifetime;
} bi_pr_stop_req;

/* XmitDataReq: exactly one of PHYPayload / FRMPayload, exactly one of
 * ULMetaData (an uplink, fNS -> sNS) / DLMetaData (a downlink, sNS -> fNS). */
typedef struct bi_xmit_data_req {
    bool frm;                         /* the payload is FRMPayload (sNS <-> hNS), else PHYPayload */
    size_t payload_len;               /* 1..255 */
    uint8_t payload[LW_PHY_MAX];
    bool uplink;                      /* ul is set, else dl */
    bi_ul_meta ul;
    bi_dl_meta dl;
} bi_xmit_data_req;

typedef struct bi_xmit_data_ans {
    bi_result result;
    bool has_dl_freq1, has_dl_freq2;  /* on Success after a downlink: the window used */
    double dl_freq1, dl_freq2;
} bi_xmit_data_ans;

/* One roaming message; hdr.message_type selects the member of u. */
typedef struct bi_roam_msg {
    bi_header hdr;
    union {
        bi_pr_start_req pr_start_req;     /* BI_MSG_PR_START_REQ */
        bi_pr_start_ans pr_start_ans;     /* BI_MSG_PR_START_ANS */
        bi_pr_stop_req pr_stop_req;       /* BI_MSG_PR_STOP_REQ */
        bi_result pr_stop_ans;            /* BI_MSG_PR_STOP_ANS */
        bi_xmit_data_req xmit_data_req;   /* BI_MSG_XMIT_DATA_REQ */
        bi_xmit_data_ans xmit_data_ans;   /* BI_MSG_XMIT_DATA_ANS */
        bi_home_ns_ans home_ns_ans;       /* BI_MSG_HOME_NS_ANS */
    } u;
} bi_roam_msg;

/* True for the seven types above. */
bool bi_roam_type(bi_message_type t);

/* Parses one of the seven messages from body[len]. The header is read as
 * bi_relay_parse() reads it (any version, answers included); a type that
 * is not one of the seven is BI_ERR_UNSUPPORTED (answerable when it is a
 * request, so that the receiver answers it with Malformed). On failure
 * `err` names the field; `m->hdr` holds what was parsed of the header, and
 * err->answerable says whether bi_error_answer_build() can answer it.
 * Wipe nothing: every key in a roaming message is wrapped (a clear
 * envelope is refused with BI_ERR_CLEAR_KEY). */
bi_status bi_roam_parse(const void *body, size_t len, bi_roam_msg *m, bi_error *err) BI_MUST_CHECK;

/* The inverse: writes m as JSON (hex uppercase, TS002 field order) into
 * out[cap] with a NUL; *out_len excludes it. BI_ERR_ARGUMENT for a type
 * that is not one of the seven, a header the version forbids (NSIDs or
 * HNSID in 1.0), a length out of range or an XmitDataReq that is not
 * exactly one payload and one metadata; BI_ERR_CLEAR_KEY for a clear
 * envelope; BI_ERR_BUFFER when it does not fit. */
bi_status bi_roam_build(const bi_roam_msg *m, char *out, size_t cap, size_t *out_len) BI_MUST_CHECK;

#endif

/*
 * bi_message.h - the messages a Join Server receives and sends:
 * JoinReq/JoinAns, RejoinReq/RejoinAns, AppSKeyReq/AppSKeyAns,
 * HomeNSReq/HomeNSAns (TS002 1.0 and 1.1).
 *
 * Requests are parsed once, at the edge, into a bi_request; answers are
 * built from C structs into JSON text in a caller-owned buffer. Nothing here
 * does I/O or crypto, and nothing allocates past the call (jansson's
 * document lives only inside each function).
 *
 * Typical server code:
 *
 *     bi_request req; bi_error err;
 *     if (bi_request_parse(body, len, &req, &err) != BI_OK) {
 *         if (!err.answerable) -> HTTP 400, err.description as the body
 *         else bi_error_answer_build(&req.hdr, bi_error_result_code(&err),
 *                                    err.description, out, cap, &n) -> HTTP 200
 *     }
 *     bi_header ah; bi_answer_header(&req.hdr, &ah);
 *     bi_join_ans ans = {...}; bi_join_ans_build(&ah, &ans, out, cap, &n);
 */
#ifndef FERRY_BI_MESSAGE_H
#define FERRY_BI_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "bi/bi_header.h"
#include "bi/bi_key_envelope.h"
#include "lorawan/lw_frame.h"

#define BI_SESSION_KEY_ID_MAX 64   /* bytes; TTS uses a 16-byte ULID */
#define BI_ANSWER_MAX         4096 /* enough for any answer built here */

/* MACVersion of the device, as TTS spells them ("1.0" and "1.0.0" are the
 * same version). */
typedef enum bi_mac_version {
    BI_MAC_1_0_0 = 0,
    BI_MAC_1_0_1,
    BI_MAC_1_0_2,
    BI_MAC_1_0_3,
    BI_MAC_1_0_4,
    BI_MAC_1_1,
    BI_MAC_COUNT
} bi_mac_version;

/* "1.0.0" .. "1.0.4", "1.1"; NULL when out of range. */
const char *bi_mac_version_name(bi_mac_version v);
/* Accepts "1.0", "1.0.0" .. "1.0.4", "1.1"; BI_ERR_VALUE otherwise. */
bi_status bi_mac_version_parse(const char *s, size_t len, bi_mac_version *out) BI_MUST_CHECK;
/* The core's view: LW_MAC_1_1 for 1.1, LW_MAC_1_0 for every 1.0.x. */
lw_mac_version bi_mac_version_lw(bi_mac_version v);

/* JoinReq and RejoinReq carry the same fields. */
typedef struct bi_join_req {
    bi_mac_version mac_version;
    size_t phy_payload_len; /* 23 for a JoinReq; 19 or 24 for a RejoinReq */
    uint8_t phy_payload[LW_PHY_MAX];
    uint64_t dev_eui;
    uint32_t dev_addr;
    uint8_t dl_settings;
    uint8_t rx_delay;       /* 0..15 */
    bool has_cflist;        /* "CFList": "" (as TTS sends) counts as absent */
    uint8_t cflist[LW_CFLIST_LEN];
} bi_join_req;

typedef struct bi_app_s_key_req {
    uint64_t dev_eui;
    size_t session_key_id_len; /* 1..BI_SESSION_KEY_ID_MAX */
    uint8_t session_key_id[BI_SESSION_KEY_ID_MAX];
} bi_app_s_key_req;

typedef struct bi_home_ns_req {
    uint64_t dev_eui;
} bi_home_ns_req;

typedef struct bi_request {
    bi_header hdr; /* hdr.message_type selects the member of u */
    union {
        bi_join_req join;     /* BI_MSG_JOIN_REQ and BI_MSG_REJOIN_REQ */
        bi_app_s_key_req app_s_key;
        bi_home_ns_req home_ns;
    } u;
} bi_request;

/* Parses a request body of `len` bytes (need not be NUL-terminated).
 * BI_OK: `req` holds the message. Roles are checked: a JoinReq, RejoinReq
 * or HomeNSReq comes from a NetID, an AppSKeyReq from an AS-ID (kept as a
 * name whatever it looks like), and all four go to a JoinEUI.
 * On failure `err` names the field and the reason, and `req->hdr` holds what
 * was parsed of the header (enough for bi_error_answer_build() when
 * err->answerable). Unknown fields and VSExtension are ignored. */
bi_status bi_request_parse(const void *body, size_t len, bi_request *req, bi_error *err) BI_MUST_CHECK;

/* The inverse, for peers and tests: writes `req` as JSON (hex uppercase)
 * into out[cap] with a NUL; *out_len excludes the NUL. BI_ERR_BUFFER when it
 * does not fit, BI_ERR_ARGUMENT for a message type or field out of range. */
bi_status bi_request_build(const bi_request *req, char *out, size_t cap, size_t *out_len) BI_MUST_CHECK;

/* JoinAns and RejoinAns. Which network keys go out depends on the device's
 * MAC version, not on ProtocolVersion: NwkSKey for 1.0.x; FNwkSIntKey,
 * SNwkSIntKey and NwkSEncKey for 1.1. Envelopes with present=false are left
 * out; a present envelope must be wrapped (BI_ERR_CLEAR_KEY otherwise). */
typedef struct bi_join_ans {
    bi_result result;
    size_t phy_payload_len; /* 0: no PHYPayload (failures) */
    uint8_t phy_payload[LW_PHY_MAX];
    bool has_lifetime;
    uint32_t lifetime;      /* seconds */
    bi_key_envelope nwk_s_key;
    bi_key_envelope f_nwk_s_int_key;
    bi_key_envelope s_nwk_s_int_key;
    bi_key_envelope nwk_s_enc_key;
    bi_key_envelope app_s_key;
    size_t session_key_id_len; /* 0: no SessionKeyID */
    uint8_t session_key_id[BI_SESSION_KEY_ID_MAX];
} bi_join_ans;

typedef struct bi_app_s_key_ans {
    bi_result result;
    uint64_t dev_eui;          /* always written, echoes the request */
    bi_key_envelope app_s_key; /* on Success */
    size_t session_key_id_len;
    uint8_t session_key_id[BI_SESSION_KEY_ID_MAX];
} bi_app_s_key_ans;

typedef struct bi_home_ns_ans {
    bi_result result;
    bool has_h_net_id;    /* on Success */
    uint32_t h_net_id;
    bool has_hnsid;       /* 1.1 only: BI_ERR_ARGUMENT in a 1.0 answer */
    uint64_t hnsid;
} bi_home_ns_ans;

/* Each builder writes the answer header `hdr` (from bi_answer_header(),
 * possibly adjusted) and the body into out[cap], NUL-terminated, *out_len
 * without the NUL. hdr->message_type must be the builder's type
 * (JoinAns or RejoinAns for bi_join_ans_build). Fails with BI_ERR_ARGUMENT
 * for inconsistent input (a wrong MessageType, a ResultCode the version
 * lacks, NSIDs or HNSID in 1.0, a length out of range), BI_ERR_CLEAR_KEY for
 * an unwrapped envelope, BI_ERR_BUFFER when out[cap] is too small, and
 * BI_ERR_NOMEM. Which network keys are present (NwkSKey vs the three 1.1
 * keys) is the caller's choice and is not checked. The output holds only
 * wrapped keys, so it needs no wiping. */
bi_status bi_join_ans_build(const bi_header *hdr, const bi_join_ans *ans, char *out, size_t cap,
                            size_t *out_len) BI_MUST_CHECK;
bi_status bi_app_s_key_ans_build(const bi_header *hdr, const bi_app_s_key_ans *ans, char *out, size_t cap,
                                 size_t *out_len) BI_MUST_CHECK;
bi_status bi_home_ns_ans_build(const bi_header *hdr, const bi_home_ns_ans *ans, char *out, size_t cap,
                               size_t *out_len) BI_MUST_CHECK;

/* The answer to a request that failed to parse (err.answerable) or that the
 * server refuses before building a full answer: the answer header of `req`
 * (swapped as bi_answer_header() does) and Result {code, description}.
 * `description` may be NULL or "" (no Description); it is cut at
 * BI_DESCRIPTION_MAX bytes. For InvalidProtocolVersion, req->version is
 * whatever bi_request_parse() left there (1.0). */
bi_status bi_error_answer_build(const bi_header *req, bi_result_code code, const char *description, char *out,
                                size_t cap, size_t *out_len) BI_MUST_CHECK;

#endif

/*
 * bi_header.h - what every Backend Interfaces (TS002 1.0/1.1) message shares:
 * the protocol version, the message types, the sender and receiver IDs, the
 * tokens, the common header, result codes, and the parse error report.
 *
 * Conventions (docs/backend-interfaces.md has the full tables):
 *  - Hex on input: with or without "0x"/"0X", digits in either case.
 *  - Hex on output: UPPERCASE, no "0x". The Things Stack writes uppercase,
 *    ChirpStack and brocaar/lorawan decode either case, so uppercase is the
 *    one form that every peer we know reads and that matches TTS byte for
 *    byte.
 *  - EUIs, NetIDs and DevAddrs are held as the number people read
 *    (big-endian hex on the wire: "70B3D57ED0000001" is 0x70B3D57ED0000001).
 */
#ifndef FERRY_BI_HEADER_H
#define FERRY_BI_HEADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "bi/bi_status.h"

#define BI_BODY_MAX        65536u /* larger bodies are refused before parsing */
#define BI_JSON_MAX_DEPTH  16     /* BI messages nest 4 deep; VSExtension gets room */
#define BI_ID_MAX          255    /* SenderID/ReceiverID as text (an AS-ID is a host name) */
#define BI_TOKEN_MAX       64     /* SenderToken/ReceiverToken bytes */
#define BI_DESCRIPTION_MAX 255    /* Result.Description characters */

/* ProtocolVersion. */
typedef enum bi_version {
    BI_VERSION_1_0 = 0, /* "1.0" */
    BI_VERSION_1_1 = 1  /* "1.1": SenderNSID/ReceiverNSID exist */
} bi_version;

/* "1.0" or "1.1"; never NULL. */
const char *bi_version_name(bi_version v);

/* MessageType: every name of TS002 1.0 Table 12 and 1.1, so that a message a
 * Join Server does not serve is told apart from a name that does not exist. */
typedef enum bi_message_type {
    BI_MSG_JOIN_REQ = 0, BI_MSG_JOIN_ANS,
    BI_MSG_REJOIN_REQ, BI_MSG_REJOIN_ANS,
    BI_MSG_APP_S_KEY_REQ, BI_MSG_APP_S_KEY_ANS,
    BI_MSG_HOME_NS_REQ, BI_MSG_HOME_NS_ANS,
    BI_MSG_PR_START_REQ, BI_MSG_PR_START_ANS,
    BI_MSG_PR_STOP_REQ, BI_MSG_PR_STOP_ANS,
    BI_MSG_HR_START_REQ, BI_MSG_HR_START_ANS,
    BI_MSG_HR_STOP_REQ, BI_MSG_HR_STOP_ANS,
    BI_MSG_PROFILE_REQ, BI_MSG_PROFILE_ANS,
    BI_MSG_XMIT_DATA_REQ, BI_MSG_XMIT_DATA_ANS,
    BI_MSG_PR_START_NOTIF,
    BI_MSG_COUNT
} bi_message_type;

/* The spec's name ("JoinReq"); NULL for an out-of-range value. */
const char *bi_message_type_name(bi_message_type t);
/* BI_OK and *out when `name` (exactly `len` bytes) is a message type name
 * (case-sensitive, as peers send it); BI_ERR_MESSAGE_TYPE otherwise. */
bi_status bi_message_type_parse(const char *name, size_t len, bi_message_type *out) BI_MUST_CHECK;
/* True for the ...Req types (the ones that have an answer). */
bool bi_message_type_is_request(bi_message_type t);
/* The answer type of a request (JoinReq -> JoinAns); BI_ERR_ARGUMENT when
 * `req` is not a request. */
bi_status bi_message_type_answer(bi_message_type req, bi_message_type *ans) BI_MUST_CHECK;

/* SenderID / ReceiverID. The kind comes from the text: 6 hex digits are a
 * NetID, 16 a JoinEUI (or other EUI), anything else an AS-ID, which is a
 * plain string. Request parsers then fix the kind by role (a JoinReq comes
 * from a NetID, an AppSKeyReq from an AS-ID whatever it looks like). */
typedef enum bi_id_kind {
    BI_ID_NET_ID = 0, /* value: 24-bit NetID */
    BI_ID_EUI = 1,    /* value: EUI-64 */
    BI_ID_NAME = 2    /* AS-ID: only `raw` counts; value is 0 */
} bi_id_kind;

typedef struct bi_id {
    bi_id_kind kind;
    uint64_t value;
    char raw[BI_ID_MAX + 1]; /* the string as received (or as set), NUL-terminated */
} bi_id;

/* Fill an ID from a number or a name, for answers and request builders.
 * bi_id_set_name: BI_ERR_ARGUMENT for an empty name, one longer than
 * BI_ID_MAX, or one with a control character. */
void bi_id_set_net_id(bi_id *id, uint32_t net_id);
void bi_id_set_eui(bi_id *id, uint64_t eui);
bi_status bi_id_set_name(bi_id *id, const char *name) BI_MUST_CHECK;

/* SenderToken / ReceiverToken: opaque bytes, hex on the wire. */
typedef struct bi_token {
    size_t len; /* 0: absent ("" on the wire counts as absent) */
    uint8_t bytes[BI_TOKEN_MAX];
} bi_token;

/* The header of every message. */
typedef struct bi_header {
    bi_version version;
    bi_id sender_id;
    bi_id receiver_id;
    uint32_t transaction_id;
    bi_message_type message_type;
    bi_token sender_token;
    bi_token receiver_token;
    bool has_sender_nsid;   /* 1.1 only */
    bool has_receiver_nsid; /* 1.1 only */
    uint64_t sender_nsid;
    uint64_t receiver_nsid;
} bi_header;

/* The header of the answer to `req`: same version and TransactionID,
 * Sender/Receiver IDs swapped, ReceiverToken = the request's SenderToken,
 * no SenderToken (the caller may set one), NSIDs swapped in 1.1, and the
 * answer MessageType. BI_ERR_ARGUMENT when req is not a request. */
bi_status bi_answer_header(const bi_header *req, bi_header *ans) BI_MUST_CHECK;

/* Result.ResultCode. */
typedef enum bi_result_code {
    BI_RESULT_SUCCESS = 0,
    BI_RESULT_MIC_FAILED,
    BI_RESULT_JOIN_REQ_FAILED,
    BI_RESULT_NO_ROAMING_AGREEMENT,
    BI_RESULT_DEV_ROAMING_DISALLOWED,
    BI_RESULT_ROAMING_ACT_DISALLOWED,
    BI_RESULT_ACTIVATION_DISALLOWED,
    BI_RESULT_UNKNOWN_DEV_EUI,
    BI_RESULT_UNKNOWN_DEV_ADDR,
    BI_RESULT_UNKNOWN_SENDER,
    BI_RESULT_UNKNOWN_RECEIVER,     /* written "UnkownReceiver", as the spec spells it */
    BI_RESULT_DEFERRED,
    BI_RESULT_XMIT_FAILED,
    BI_RESULT_INVALID_FPORT,
    BI_RESULT_INVALID_PROTOCOL_VERSION,
    BI_RESULT_STALE_DEVICE_PROFILE,
    BI_RESULT_MALFORMED,            /* "MalformedRequest" in 1.0, "MalformedMessage" in 1.1 */
    BI_RESULT_FRAME_SIZE_ERROR,
    BI_RESULT_OTHER,
    BI_RESULT_NO_ACTION,            /* 1.1 only */
    BI_RESULT_FRAME_REPLAYED,       /* 1.1 only */
    BI_RESULT_COUNT
} bi_result_code;

/* The ResultCode string for `v`; NULL when the code does not exist in that
 * version (NoAction and FrameReplayed in 1.0) or is out of range. */
const char *bi_result_code_name(bi_result_code c, bi_version v);
/* Reads a ResultCode string of either version. Accepts both Malformed names
 * and both spellings of (Unk|Unkn)ownReceiver. BI_ERR_VALUE if unknown. */
bi_status bi_result_code_parse(const char *name, bi_result_code *out) BI_MUST_CHECK;

typedef struct bi_result {
    bi_result_code code;
    char description[BI_DESCRIPTION_MAX + 1]; /* "" = no Description */
} bi_result;

/* What a parser reports on failure. `description` is one sentence naming the
 * field and the reason ("PHYPayload: 256 bytes, more than 255"), never a key.
 * `answerable` says whether the header was good enough (a known request
 * MessageType, SenderID, ReceiverID, TransactionID) to send an answer with a
 * Result (HTTP 200); when false the body is not a BI message the server can
 * answer, which is the only case for HTTP 400. */
typedef struct bi_error {
    bi_status status;
    bool answerable;
    char field[48]; /* "" when the fault is the body as a whole */
    char description[BI_DESCRIPTION_MAX + 1];
} bi_error;

/* The ResultCode for a failed parse: InvalidProtocolVersion, FrameSizeError,
 * or Malformed for everything else. */
bi_result_code bi_error_result_code(const bi_error *err);

#endif

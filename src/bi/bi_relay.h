/*
 * bi_relay.h - the header of ANY Backend Interfaces message, for relays.
 *
 * A peering hub routes messages between operators by ReceiverID and never
 * reads their bodies: the keys inside are wrapped for the final receiver
 * (docs/hub.md). It needs the header of every kind of message - requests,
 * answers sent asynchronously, notifications - which bi_request_parse()
 * (the Join Server's parser) refuses for anything but the four requests a
 * Join Server serves. bi_relay_parse() reads only the header, with the
 * layer's usual rules (hex in either case with an optional 0x, null =
 * absent, unknown fields ignored, 64 KiB and 16 levels at most).
 *
 * It also checks that the ReceiverID is of the kind the message type is
 * addressed to (bi_relay_receiver_kind), so that a JoinReq is never routed
 * by a NetID nor a PRStartReq by a JoinEUI.
 */
#ifndef FERRY_BI_RELAY_H
#define FERRY_BI_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include "bi/bi_header.h"

typedef struct bi_relay_msg {
    bi_header hdr;          /* any MessageType; SenderNSID/ReceiverNSID kept in 1.1 only */
    bool has_result;        /* an answer whose Result.ResultCode is a known code */
    bi_result_code result;
} bi_relay_msg;

/* The kind of ReceiverID a message type goes to: BI_ID_EUI (a JoinEUI) for
 * JoinReq, RejoinReq, AppSKeyReq and HomeNSReq; BI_ID_NAME (an AS-ID) for
 * AppSKeyAns; BI_ID_NET_ID for every other type (answers to network
 * servers, and all roaming messages between network servers). */
bi_id_kind bi_relay_receiver_kind(bi_message_type t);

/* Reads the header of the message in body[len] (need not be
 * NUL-terminated) into *out. Any MessageType is accepted: requests,
 * answers and notifications.
 *
 * Fails with err->answerable false (the body is not a message anyone can
 * answer: HTTP 400) when the body is not a JSON object within the limits,
 * or MessageType, SenderID, ReceiverID or TransactionID is missing or
 * malformed. Once those are good, a failure of a request is answerable
 * (out->hdr then holds what bi_error_answer_build() needs): BI_ERR_VERSION
 * (InvalidProtocolVersion), a malformed token or NSID, or a ReceiverID of
 * the wrong kind for the type (Malformed). The same faults in an answer or
 * a notification are not answerable: nobody answers an answer.
 *
 * For AppSKeyReq the SenderID is an AS-ID (a name whatever it looks like),
 * for AppSKeyAns the ReceiverID is; NetIDs and EUIs keep their value. */
bi_status bi_relay_parse(const void *body, size_t len, bi_relay_msg *out, bi_error *err) BI_MUST_CHECK;

/* True when the message ID `id` (as parsed) equals `want`: NetIDs and EUIs
 * by value (so "00001a" equals "0x00001A"), names byte for byte. */
bool bi_id_equal(const bi_id *id, const bi_id *want);

#endif

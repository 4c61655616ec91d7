/*
 * bi.h - the LoRaWAN Backend Interfaces (TS002 1.0 and 1.1) JSON layer in
 * one include.
 *
 * Pure data transformation over jansson: bodies in, C structs out, and back.
 * No I/O, no crypto, no key in clear on output. See docs/backend-interfaces.md.
 *
 *   bi_status.h        the status enum and bi_strerror()
 *   bi_header.h        versions, message types, IDs, tokens, the common
 *                      header, result codes, parse errors
 *   bi_key_envelope.h  KeyEnvelope {KEKLabel, AESKey}
 *   bi_message.h       JoinReq/Ans, RejoinReq/Ans, AppSKeyReq/Ans, HomeNSReq/Ans
 *   bi_device.h        device import lines
 *   bi_relay.h         the header of any message, for relays (the hub)
 *   bi_roaming.h       passive roaming: PRStart, PRStop, XmitData, HomeNSAns
 */
#ifndef FERRY_BI_H
#define FERRY_BI_H

#include "bi/bi_status.h"
#include "bi/bi_header.h"
#include "bi/bi_key_envelope.h"
#include "bi/bi_message.h"
#include "bi/bi_device.h"
#include "bi/bi_relay.h"
#include "bi/bi_roaming.h"

#endif

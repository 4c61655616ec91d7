/*
 * lab_bi.h - the network server's side of the Backend Interfaces: the
 * JoinReq it sends (built by the bi layer) and the JoinAns it reads.
 *
 * The bi layer parses requests (the Join Server's side) and builds answers;
 * a network server needs the converse, so the JoinAns parser lives here, in
 * the lab layer, over jansson and bi's own field parsers (result codes, key
 * envelopes), with the same rules: hex either case with optional 0x,
 * unknown fields ignored, null = absent.
 */
#ifndef FERRY_LAB_BI_H
#define FERRY_LAB_BI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "bi/bi.h"
#include "lab/lab_status.h"

/* What the NS puts in a JoinReq. */
typedef struct lab_join_req_params {
    bi_version version;        /* ProtocolVersion */
    uint32_t net_id;           /* SenderID */
    uint64_t nsid;             /* SenderNSID (1.1 only; 0 = none) */
    uint64_t join_eui;         /* ReceiverID */
    uint32_t transaction_id;
    bi_mac_version mac_version;
    const uint8_t *phy;        /* the join-request, 23 bytes */
    size_t phy_len;
    uint64_t dev_eui;
    uint32_t dev_addr;
    uint8_t dl_settings;
    uint8_t rx_delay;
} lab_join_req_params;

/* Writes the JoinReq body into out[cap] (NUL-terminated). */
lab_status lab_bi_join_req_build(const lab_join_req_params *p, char *out, size_t cap, size_t *out_len) LAB_MUST_CHECK;

/* Reads a JoinAns body. The header must be a JoinAns for `transaction_id`
 * from `join_eui` to `net_id` (LAB_ERR_FORMAT otherwise, as for any type or
 * format error). On LAB_OK `ans->result` holds the ResultCode; the other
 * fields are filled as present (PHYPayload 17 or 33 bytes on Success).
 * Envelopes hold wrapped keys only: a clear one is LAB_ERR_FORMAT. Wipe
 * `ans` with lab_bi_join_ans_wipe(). */
lab_status lab_bi_join_ans_parse(const char *body, size_t len, uint64_t join_eui, uint32_t net_id,
                                 uint32_t transaction_id, bi_join_ans *ans) LAB_MUST_CHECK;
void lab_bi_join_ans_wipe(bi_join_ans *ans);

/* Hex text (optional 0x, either case) of exactly `n` bytes, or 1..max bytes
 * when n is 0 (then *out_len is set). Public data only. */
lab_status lab_hex_parse(const char *s, size_t len, uint8_t *out, size_t n, size_t max, size_t *out_len) LAB_MUST_CHECK;
/* A big-endian number of exactly `digits` hex digits (EUI 16, NetID 6, DevAddr 8). */
lab_status lab_hex_uint(const char *s, size_t len, unsigned digits, uint64_t *out) LAB_MUST_CHECK;

#endif

/*
 * test_lw_frame.c - PHYPayload decoding and encoding, join-accept fields.
 *
 * Frames come from the published vectors (lorawan-test-vectors.md) and from
 * lora-packet's test suite, so the field values asserted here are the ones
 * other implementations read from the same bytes. Every MType decodes and
 * re-encodes to the identical bytes; every length boundary is checked one
 * byte short and one byte long.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "lorawan/lw_frame.h"
#include "test_util.h"

/* V1 join-request (lora-packet mic_test.ts). */
#define JR_V1 "00 39363463336913AA 0569357432383133 0489 C65B1304"
/* V1 zero-key join-accept, wire form. */
#define JA_17 "20 e3de108795f776b8037610ef7869b5b3"
/* A join-accept with CFList, wire form (key 01x16; see test_lw_cipher.c). */
#define JA_33 "20 66d4ac23eda7f4e51cc241e7ff1948aa 2cc787d2feeafde182ec376e57c03e9a"
/* lora-packet README: unconfirmed up, FPort 1, "test" encrypted. */
#define UNC_UP "40 F17DBE49 00 0200 01 95437876 2B11FF0D"
/* lora-packet mic_test.ts: unconfirmed down, ACK, FPort 1, empty payload. */
#define UNC_DOWN "60 f17dbe49 20 0200 01 f9d65d27"
/* Confirmed up with ADR, ACK and three FOpts bytes (MIC bytes arbitrary). */
#define CONF_UP "80 DA1B0126 A3 0501 020305 0A 0102030405 11223344"
/* Confirmed down: brocaar's FOpts frame with MType 5, FCtrl ACK|FPending|3. */
#define CONF_DOWN "A0 04030201 33 0000 22ac0a 01 f0b468dd aa5ed13a"
/* V4 rejoin-requests (TTS join_messages_test.go). */
#define REJOIN0 "c0 00 030201 0807060504030201 0201 11da47bd"
#define REJOIN1 "c0 01 0807060504030201 0807060504030201 0201 67f9abe7"
#define REJOIN2 "c0 02 030201 0807060504030201 0201 2b459cf0"
#define PROPRIETARY "e0 0102030405"

static const char *const every_kind[] = {
    JR_V1, JA_17, JA_33, UNC_UP, UNC_DOWN, CONF_UP, CONF_DOWN, REJOIN0, REJOIN1, REJOIN2, PROPRIETARY,
};

typedef struct {
    uint8_t bytes[300];
    size_t len;
    lw_frame f;
} wire;

static lw_status decode_hex(wire *w, const char *hex)
{
    w->len = tu_hex(hex, w->bytes, sizeof(w->bytes));
    return lw_frame_decode(w->bytes, w->len, &w->f);
}

/* A decoded frame re-encodes to exactly its input, with exact capacity, and
 * one byte less capacity is an error, not a shorter frame. */
static void check_round_trip(const uint8_t *bytes, size_t len)
{
    lw_frame f;
    uint8_t out[LW_PHY_MAX + 8];
    size_t out_len = 0;
    assert_int_equal(lw_frame_decode(bytes, len, &f), LW_OK);
    assert_int_equal(lw_frame_encode(&f, out, len, &out_len), LW_OK);
    assert_int_equal(out_len, len);
    assert_memory_equal(out, bytes, len);
    out_len = 12345;
    assert_int_equal(lw_frame_encode(&f, out, len - 1, &out_len), LW_ERR_BUFFER);
    assert_int_equal(out_len, 12345);
}

/* ---- decoding each MType ----------------------------------------------- */

static void decode_join_request(void **state)
{
    (void)state;
    wire w;
    assert_int_equal(decode_hex(&w, JR_V1), LW_OK);
    assert_int_equal(w.f.mtype, LW_MTYPE_JOIN_REQUEST);
    assert_int_equal(w.f.major, 0);
    assert_int_equal(w.f.rfu, 0);
    /* wire LE 39 36 34 63 33 69 13 AA = AA13693363343639 as people read it */
    assert_true(w.f.u.join_request.join_eui == 0xAA13693363343639ull);
    assert_true(w.f.u.join_request.dev_eui == 0x3331383274356905ull);
    assert_int_equal(w.f.u.join_request.dev_nonce, 0x8904);
    assert_hex_equal(w.f.mic, 4, "C65B1304");
}

static void decode_join_accept_without_cflist(void **state)
{
    (void)state;
    wire w;
    assert_int_equal(decode_hex(&w, JA_17), LW_OK);
    assert_int_equal(w.f.mtype, LW_MTYPE_JOIN_ACCEPT);
    assert_ptr_equal(w.f.u.join_accept.ciphertext, w.bytes + 1);
    assert_int_equal(w.f.u.join_accept.len, 16);
}

static void decode_join_accept_with_cflist(void **state)
{
    (void)state;
    wire w;
    assert_int_equal(decode_hex(&w, JA_33), LW_OK);
    assert_int_equal(w.f.mtype, LW_MTYPE_JOIN_ACCEPT);
    assert_ptr_equal(w.f.u.join_accept.ciphertext, w.bytes + 1);
    assert_int_equal(w.f.u.join_accept.len, 32);
}

static void decode_unconfirmed_data_up(void **state)
{
    (void)state;
    wire w;
    assert_int_equal(decode_hex(&w, UNC_UP), LW_OK);
    const lw_data_frame *d = &w.f.u.data;
    assert_int_equal(w.f.mtype, LW_MTYPE_UNCONFIRMED_DATA_UP);
    assert_int_equal(d->dev_addr, 0x49BE7DF1);
    assert_false(d->fctrl.adr);
    assert_false(d->fctrl.adr_ack_req);
    assert_false(d->fctrl.ack);
    assert_false(d->fctrl.f_pending);
    assert_int_equal(d->fctrl.fopts_len, 0);
    assert_int_equal(d->fcnt, 2);
    assert_true(d->has_fport);
    assert_int_equal(d->fport, 1);
    assert_ptr_equal(d->frm_payload, w.bytes + 9);
    assert_int_equal(d->frm_payload_len, 4);
    assert_hex_equal(d->frm_payload, d->frm_payload_len, "95437876");
    assert_hex_equal(w.f.mic, 4, "2B11FF0D");
}

static void decode_unconfirmed_data_down_ack_empty_payload(void **state)
{
    (void)state;
    wire w;
    assert_int_equal(decode_hex(&w, UNC_DOWN), LW_OK);
    const lw_data_frame *d = &w.f.u.data;
    assert_int_equal(w.f.mtype, LW_MTYPE_UNCONFIRMED_DATA_DOWN);
    assert_int_equal(d->dev_addr, 0x49BE7DF1);
    assert_true(d->fctrl.ack);
    assert_false(d->fctrl.adr);
    assert_int_equal(d->fcnt, 2);
    assert_true(d->has_fport);
    assert_int_equal(d->fport, 1);
    assert_int_equal(d->frm_payload_len, 0);
    assert_hex_equal(w.f.mic, 4, "f9d65d27");
}

static void decode_confirmed_data_up_with_fopts(void **state)
{
    (void)state;
    wire w;
    assert_int_equal(decode_hex(&w, CONF_UP), LW_OK);
    const lw_data_frame *d = &w.f.u.data;
    assert_int_equal(w.f.mtype, LW_MTYPE_CONFIRMED_DATA_UP);
    assert_int_equal(d->dev_addr, 0x26011BDA);
    assert_true(d->fctrl.adr);
    assert_false(d->fctrl.adr_ack_req);
    assert_true(d->fctrl.ack);
    assert_false(d->fctrl.f_pending);
    assert_int_equal(d->fctrl.fopts_len, 3);
    assert_int_equal(d->fcnt, 0x0105);
    assert_ptr_equal(d->fopts, w.bytes + 8);
    assert_hex_equal(d->fopts, 3, "020305");
    assert_true(d->has_fport);
    assert_int_equal(d->fport, 10);
    assert_hex_equal(d->frm_payload, d->frm_payload_len, "0102030405");
    assert_hex_equal(w.f.mic, 4, "11223344");
}

static void decode_confirmed_data_down_fctrl_bits(void **state)
{
    (void)state;
    wire w;
    assert_int_equal(decode_hex(&w, CONF_DOWN), LW_OK);
    const lw_data_frame *d = &w.f.u.data;
    assert_int_equal(w.f.mtype, LW_MTYPE_CONFIRMED_DATA_DOWN);
    assert_int_equal(d->dev_addr, 0x01020304);
    assert_false(d->fctrl.adr);
    assert_true(d->fctrl.ack);
    assert_true(d->fctrl.f_pending);
    assert_int_equal(d->fctrl.fopts_len, 3);
    assert_hex_equal(d->fopts, 3, "22ac0a");
    assert_int_equal(d->fport, 1);
    assert_hex_equal(d->frm_payload, d->frm_payload_len, "f0b468dd");
}

static void decode_fctrl_all_bits_uplink(void **state)
{
    (void)state;
    wire w;
    /* F0: ADR, ADRACKReq, ACK, ClassB; no FOpts, no FPort */
    assert_int_equal(decode_hex(&w, "40 01000000 F0 FFFF 00000000"), LW_OK);
    assert_true(w.f.u.data.fctrl.adr);
    assert_true(w.f.u.data.fctrl.adr_ack_req);
    assert_true(w.f.u.data.fctrl.ack);
    assert_true(w.f.u.data.fctrl.f_pending);
    assert_int_equal(w.f.u.data.fcnt, 0xFFFF);
    assert_int_equal(w.f.u.data.dev_addr, 1);
}

static void decode_rejoin_type_0(void **state)
{
    (void)state;
    wire w;
    assert_int_equal(decode_hex(&w, REJOIN0), LW_OK);
    const lw_rejoin_request *r = &w.f.u.rejoin_request;
    assert_int_equal(w.f.mtype, LW_MTYPE_REJOIN_REQUEST);
    assert_int_equal(r->type, LW_REJOIN_TYPE_0);
    assert_int_equal(r->net_id, 0x010203);
    assert_true(r->dev_eui == 0x0102030405060708ull);
    assert_int_equal(r->rj_count, 0x0102);
    assert_hex_equal(w.f.mic, 4, "11da47bd");
}

static void decode_rejoin_type_1(void **state)
{
    (void)state;
    wire w;
    assert_int_equal(decode_hex(&w, REJOIN1), LW_OK);
    const lw_rejoin_request *r = &w.f.u.rejoin_request;
    assert_int_equal(r->type, LW_REJOIN_TYPE_1);
    assert_true(r->join_eui == 0x0102030405060708ull);
    assert_true(r->dev_eui == 0x0102030405060708ull);
    assert_int_equal(r->rj_count, 0x0102);
    assert_hex_equal(w.f.mic, 4, "67f9abe7");
}

static void decode_rejoin_type_2(void **state)
{
    (void)state;
    wire w;
    assert_int_equal(decode_hex(&w, REJOIN2), LW_OK);
    const lw_rejoin_request *r = &w.f.u.rejoin_request;
    assert_int_equal(r->type, LW_REJOIN_TYPE_2);
    assert_int_equal(r->net_id, 0x010203);
    assert_true(r->dev_eui == 0x0102030405060708ull);
    assert_hex_equal(w.f.mic, 4, "2b459cf0");
}

static void decode_proprietary(void **state)
{
    (void)state;
    wire w;
    assert_int_equal(decode_hex(&w, PROPRIETARY), LW_OK);
    assert_int_equal(w.f.mtype, LW_MTYPE_PROPRIETARY);
    assert_ptr_equal(w.f.u.proprietary.payload, w.bytes + 1);
    assert_int_equal(w.f.u.proprietary.len, 5);
}

static void decode_proprietary_mhdr_only(void **state)
{
    (void)state;
    wire w;
    assert_int_equal(decode_hex(&w, "e0"), LW_OK);
    assert_int_equal(w.f.mtype, LW_MTYPE_PROPRIETARY);
    assert_int_equal(w.f.u.proprietary.len, 0);
}

static void decode_keeps_mhdr_rfu_bits(void **state)
{
    (void)state;
    wire w;
    /* 0x5C = MType 2, RFU 111, Major 0 */
    assert_int_equal(decode_hex(&w, "5C F17DBE49 00 0200 01 95437876 2B11FF0D"), LW_OK);
    assert_int_equal(w.f.mtype, LW_MTYPE_UNCONFIRMED_DATA_UP);
    assert_int_equal(w.f.rfu, 7);
    check_round_trip(w.bytes, w.len);
}

/* ---- data frame layouts ------------------------------------------------ */

static void data_without_fport(void **state)
{
    (void)state;
    wire w;
    assert_int_equal(decode_hex(&w, "40 F17DBE49 00 0300 2A3518AF"), LW_OK);
    assert_int_equal(w.len, LW_DATA_MIN_LEN);
    assert_false(w.f.u.data.has_fport);
    assert_int_equal(w.f.u.data.frm_payload_len, 0);
    assert_hex_equal(w.f.mic, 4, "2A3518AF");
    check_round_trip(w.bytes, w.len);
}

static void data_fopts_without_fport(void **state)
{
    (void)state;
    wire w;
    assert_int_equal(decode_hex(&w, "40 F17DBE49 02 0300 0203 2A3518AF"), LW_OK);
    assert_int_equal(w.f.u.data.fctrl.fopts_len, 2);
    assert_hex_equal(w.f.u.data.fopts, 2, "0203");
    assert_false(w.f.u.data.has_fport);
    check_round_trip(w.bytes, w.len);
}

static void data_fport_0_without_fopts(void **state)
{
    (void)state;
    wire w;
    /* lora-packet fopts_test.ts: a 1.1 RekeyInd on port 0 */
    assert_int_equal(decode_hex(&w, "40 679810e0 80 0000 00 c2c5 248de748"), LW_OK);
    assert_true(w.f.u.data.has_fport);
    assert_int_equal(w.f.u.data.fport, 0);
    assert_hex_equal(w.f.u.data.frm_payload, w.f.u.data.frm_payload_len, "c2c5");
}

static void data_fport_with_empty_payload(void **state)
{
    (void)state;
    wire w;
    assert_int_equal(decode_hex(&w, "40 F17DBE49 00 0300 01 2A3518AF"), LW_OK);
    assert_true(w.f.u.data.has_fport);
    assert_int_equal(w.f.u.data.fport, 1);
    assert_int_equal(w.f.u.data.frm_payload_len, 0);
    check_round_trip(w.bytes, w.len);
}

static void data_15_fopts_bytes(void **state)
{
    (void)state;
    wire w;
    assert_int_equal(decode_hex(&w, "40 F17DBE49 0F 0300 000102030405060708090a0b0c0d0e 07 ff 2A3518AF"), LW_OK);
    assert_int_equal(w.f.u.data.fctrl.fopts_len, 15);
    assert_hex_equal(w.f.u.data.fopts, 15, "000102030405060708090a0b0c0d0e");
    assert_int_equal(w.f.u.data.fport, 7);
    assert_hex_equal(w.f.u.data.frm_payload, w.f.u.data.frm_payload_len, "ff");
    check_round_trip(w.bytes, w.len);
}

static void data_255_bytes(void **state)
{
    (void)state;
    uint8_t phy[LW_PHY_MAX];
    for (size_t i = 0; i < sizeof(phy); i++)
        phy[i] = (uint8_t)(i * 31 + 7);
    phy[0] = 0x40;
    phy[5] = 0x00;   /* FCtrl: no FOpts */
    lw_frame f;
    assert_int_equal(lw_frame_decode(phy, sizeof(phy), &f), LW_OK);
    assert_true(f.u.data.has_fport);
    assert_int_equal(f.u.data.fport, phy[8]);
    assert_int_equal(f.u.data.frm_payload_len, LW_PHY_MAX - 13);
    assert_ptr_equal(f.u.data.frm_payload, phy + 9);
    assert_memory_equal(f.mic, phy + LW_PHY_MAX - 4, 4);
    check_round_trip(phy, sizeof(phy));
}

static void any_frame_of_256_bytes_is_too_long(void **state)
{
    (void)state;
    uint8_t phy[LW_PHY_MAX + 1];
    memset(phy, 0, sizeof(phy));
    lw_frame f;
    for (unsigned m = 0; m < 8; m++) {
        phy[0] = (uint8_t)(m << 5);
        assert_int_equal(lw_frame_decode(phy, sizeof(phy), &f), LW_ERR_TOO_LONG);
    }
}

/* ---- round trips ------------------------------------------------------- */

static void round_trip_every_mtype(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(every_kind) / sizeof(every_kind[0]); i++) {
        uint8_t bytes[64];
        size_t n = tu_hex(every_kind[i], bytes, sizeof(bytes));
        check_round_trip(bytes, n);
    }
}

/* ---- length boundaries ------------------------------------------------- */

static void check_length(const char *hex, size_t len, lw_status expected)
{
    uint8_t bytes[300];
    size_t n = tu_hex(hex, bytes, sizeof(bytes));
    assert_true(len <= sizeof(bytes));
    for (size_t i = n; i < len; i++)
        bytes[i] = 0x00;   /* padding for the "too long" cases */
    lw_frame f;
    lw_status st = lw_frame_decode(bytes, len, &f);
    if (st != expected)
        fail_msg("%.20s... at %zu bytes: status %d, expected %d", hex, len, (int)st, (int)expected);
}

static void empty_input_is_truncated(void **state)
{
    (void)state;
    uint8_t b = 0;
    lw_frame f;
    assert_int_equal(lw_frame_decode(&b, 0, &f), LW_ERR_TRUNCATED);
}

static void decode_null_arguments(void **state)
{
    (void)state;
    uint8_t b[23] = {0};
    lw_frame f;
    assert_int_equal(lw_frame_decode(NULL, 23, &f), LW_ERR_ARGUMENT);
    assert_int_equal(lw_frame_decode(b, 23, NULL), LW_ERR_ARGUMENT);
}

static void join_request_length_boundaries(void **state)
{
    (void)state;
    check_length(JR_V1, 22, LW_ERR_TRUNCATED);
    check_length(JR_V1, 23, LW_OK);
    check_length(JR_V1, 24, LW_ERR_TOO_LONG);
    check_length(JR_V1, 1, LW_ERR_TRUNCATED);
}

static void join_accept_length_boundaries(void **state)
{
    (void)state;
    check_length(JA_17, 16, LW_ERR_TRUNCATED);
    check_length(JA_17, 17, LW_OK);
    check_length(JA_33, 33, LW_OK);
    check_length(JA_33, 34, LW_ERR_TOO_LONG);
    check_length(JA_17, 1, LW_ERR_TRUNCATED);
}

static void join_accept_between_the_two_sizes_is_rejected(void **state)
{
    (void)state;
    /* 18..32 bytes is neither form; the core calls it truncated (shorter
     * than the CFList form). */
    for (size_t len = 18; len <= 32; len++)
        check_length(JA_33, len, LW_ERR_TRUNCATED);
}

static void rejoin_type_0_and_2_length_boundaries(void **state)
{
    (void)state;
    check_length(REJOIN0, 18, LW_ERR_TRUNCATED);
    check_length(REJOIN0, 19, LW_OK);
    check_length(REJOIN0, 20, LW_ERR_TOO_LONG);
    check_length(REJOIN2, 18, LW_ERR_TRUNCATED);
    check_length(REJOIN2, 19, LW_OK);
    check_length(REJOIN2, 20, LW_ERR_TOO_LONG);
    /* a type 0 of type 1's length is too long, not a type 1 */
    check_length(REJOIN0, 24, LW_ERR_TOO_LONG);
}

static void rejoin_type_1_length_boundaries(void **state)
{
    (void)state;
    check_length(REJOIN1, 23, LW_ERR_TRUNCATED);
    check_length(REJOIN1, 24, LW_OK);
    check_length(REJOIN1, 25, LW_ERR_TOO_LONG);
    check_length(REJOIN1, 19, LW_ERR_TRUNCATED);
}

static void rejoin_without_type_byte_is_truncated(void **state)
{
    (void)state;
    check_length(REJOIN0, 1, LW_ERR_TRUNCATED);
}

static void data_one_byte_short_is_truncated_for_each_data_mtype(void **state)
{
    (void)state;
    const char *const minimal[] = {
        "40 F17DBE49 00 0300 2A3518AF",
        "60 F17DBE49 00 0300 2A3518AF",
        "80 F17DBE49 00 0300 2A3518AF",
        "A0 F17DBE49 00 0300 2A3518AF",
    };
    for (size_t i = 0; i < 4; i++) {
        check_length(minimal[i], LW_DATA_MIN_LEN, LW_OK);
        check_length(minimal[i], LW_DATA_MIN_LEN - 1, LW_ERR_TRUNCATED);
        check_length(minimal[i], 1, LW_ERR_TRUNCATED);
    }
}

static void fopts_len_beyond_frame_is_truncated(void **state)
{
    (void)state;
    /* FOptsLen 5 but only 2 bytes before the MIC */
    check_length("40 F17DBE49 05 0300 0203 2A3518AF", 14, LW_ERR_TRUNCATED);
    /* for every FOptsLen, a frame one byte short of holding FOpts and MIC */
    for (unsigned k = 1; k <= 15; k++) {
        uint8_t phy[32] = {0x40, 0xF1, 0x7D, 0xBE, 0x49, (uint8_t)k, 0x03, 0x00};
        lw_frame f;
        assert_int_equal(lw_frame_decode(phy, 8 + k + 4 - 1, &f), LW_ERR_TRUNCATED);
        assert_int_equal(lw_frame_decode(phy, 8 + k + 4, &f), LW_OK);
        assert_false(f.u.data.has_fport);
    }
}

/* ---- format errors ----------------------------------------------------- */

static void major_other_than_0_is_rejected(void **state)
{
    (void)state;
    const char *const frames[] = {JR_V1, JA_17, UNC_UP, REJOIN0, PROPRIETARY};
    for (size_t i = 0; i < sizeof(frames) / sizeof(frames[0]); i++) {
        for (uint8_t major = 1; major <= 3; major++) {
            wire w;
            w.len = tu_hex(frames[i], w.bytes, sizeof(w.bytes));
            w.bytes[0] |= major;
            assert_int_equal(lw_frame_decode(w.bytes, w.len, &w.f), LW_ERR_MAJOR);
        }
    }
}

static void rejoin_type_3_is_format_error(void **state)
{
    (void)state;
    wire w;
    assert_int_equal(decode_hex(&w, "c0 03 030201 0807060504030201 0201 11da47bd"), LW_ERR_FORMAT);
    assert_int_equal(decode_hex(&w, "c0 ff 030201 0807060504030201 0201 11da47bd"), LW_ERR_FORMAT);
}

static void fopts_with_fport_0_is_format_error(void **state)
{
    (void)state;
    wire w;
    /* MAC commands in FOpts and in a port-0 FRMPayload at once */
    assert_int_equal(decode_hex(&w, "40 F17DBE49 01 0300 02 00 03 2A3518AF"), LW_ERR_FORMAT);
    assert_int_equal(decode_hex(&w, "60 F17DBE49 0F 0300 000102030405060708090a0b0c0d0e 00 0102 2A3518AF"),
                     LW_ERR_FORMAT);
}

/* ---- encoding from fields ---------------------------------------------- */

static void encode_join_request_from_fields(void **state)
{
    (void)state;
    /* V2 (chirpstack): JoinEUI 0101..01, DevEUI 0202..02, DevNonce 771 */
    lw_frame f;
    memset(&f, 0, sizeof(f));
    f.mtype = LW_MTYPE_JOIN_REQUEST;
    f.u.join_request.join_eui = 0x0101010101010101ull;
    f.u.join_request.dev_eui = 0x0202020202020202ull;
    f.u.join_request.dev_nonce = 771;
    tu_hex("09b97b32", f.mic, 4);
    uint8_t out[32];
    size_t n = 0;
    assert_int_equal(lw_frame_encode(&f, out, sizeof(out), &n), LW_OK);
    assert_hex_equal(out, n, "00 0101010101010101 0202020202020202 0303 09b97b32");
}

static void encode_join_request_eui_byte_order(void **state)
{
    (void)state;
    lw_frame f;
    memset(&f, 0, sizeof(f));
    f.mtype = LW_MTYPE_JOIN_REQUEST;
    f.u.join_request.join_eui = 0x70B3D57ED0000001ull;
    f.u.join_request.dev_eui = 0x0004A30B001C0530ull;
    f.u.join_request.dev_nonce = 0xABCD;
    uint8_t out[32];
    size_t n = 0;
    assert_int_equal(lw_frame_encode(&f, out, sizeof(out), &n), LW_OK);
    assert_hex_equal(out, n, "00 010000D07ED5B370 30051C000BA30400 CDAB 00000000");
}

static void encode_rejoin_from_fields(void **state)
{
    (void)state;
    lw_frame f;
    memset(&f, 0, sizeof(f));
    f.mtype = LW_MTYPE_REJOIN_REQUEST;
    f.u.rejoin_request.type = LW_REJOIN_TYPE_1;
    f.u.rejoin_request.join_eui = 0x0102030405060708ull;
    f.u.rejoin_request.dev_eui = 0x0102030405060708ull;
    f.u.rejoin_request.rj_count = 0x0102;
    tu_hex("67f9abe7", f.mic, 4);
    uint8_t out[32];
    size_t n = 0;
    assert_int_equal(lw_frame_encode(&f, out, sizeof(out), &n), LW_OK);
    assert_hex_equal(out, n, REJOIN1);

    f.u.rejoin_request.type = LW_REJOIN_TYPE_2;
    f.u.rejoin_request.net_id = 0x010203;
    tu_hex("2b459cf0", f.mic, 4);
    assert_int_equal(lw_frame_encode(&f, out, sizeof(out), &n), LW_OK);
    assert_hex_equal(out, n, REJOIN2);
}

static void encode_data_from_fields(void **state)
{
    (void)state;
    const uint8_t payload[4] = {0x95, 0x43, 0x78, 0x76};
    lw_frame f;
    memset(&f, 0, sizeof(f));
    f.mtype = LW_MTYPE_UNCONFIRMED_DATA_UP;
    f.u.data.dev_addr = 0x49BE7DF1;
    f.u.data.fcnt = 2;
    f.u.data.has_fport = true;
    f.u.data.fport = 1;
    f.u.data.frm_payload = payload;
    f.u.data.frm_payload_len = sizeof(payload);
    tu_hex("2B11FF0D", f.mic, 4);
    uint8_t out[32];
    size_t n = 0;
    assert_int_equal(lw_frame_encode(&f, out, sizeof(out), &n), LW_OK);
    assert_hex_equal(out, n, UNC_UP);
}

static void encode_fctrl_bits(void **state)
{
    (void)state;
    const uint8_t fopts[2] = {0x02, 0x03};
    lw_frame f;
    memset(&f, 0, sizeof(f));
    f.mtype = LW_MTYPE_CONFIRMED_DATA_DOWN;
    f.u.data.dev_addr = 0x01020304;
    f.u.data.fctrl.adr = true;
    f.u.data.fctrl.ack = true;
    f.u.data.fctrl.f_pending = true;
    f.u.data.fctrl.fopts_len = 2;
    f.u.data.fopts = fopts;
    f.u.data.fcnt = 0xBEEF;
    uint8_t out[32];
    size_t n = 0;
    assert_int_equal(lw_frame_encode(&f, out, sizeof(out), &n), LW_OK);
    assert_hex_equal(out, n, "A0 04030201 B2 EFBE 0203 00000000");
}

static void encode_fopts_len_over_15_is_format_error(void **state)
{
    (void)state;
    uint8_t fopts[16] = {0};
    lw_frame f;
    memset(&f, 0, sizeof(f));
    f.mtype = LW_MTYPE_UNCONFIRMED_DATA_UP;
    f.u.data.fctrl.fopts_len = 16;
    f.u.data.fopts = fopts;
    uint8_t out[64];
    size_t n;
    assert_int_equal(lw_frame_encode(&f, out, sizeof(out), &n), LW_ERR_FORMAT);
}

static void encode_fopts_with_fport_0_is_format_error(void **state)
{
    (void)state;
    uint8_t fopts[1] = {0x02};
    uint8_t payload[1] = {0x03};
    lw_frame f;
    memset(&f, 0, sizeof(f));
    f.mtype = LW_MTYPE_UNCONFIRMED_DATA_UP;
    f.u.data.fctrl.fopts_len = 1;
    f.u.data.fopts = fopts;
    f.u.data.has_fport = true;
    f.u.data.fport = 0;
    f.u.data.frm_payload = payload;
    f.u.data.frm_payload_len = 1;
    uint8_t out[64];
    size_t n;
    assert_int_equal(lw_frame_encode(&f, out, sizeof(out), &n), LW_ERR_FORMAT);
}

static void encode_rejoin_type_3_is_format_error(void **state)
{
    (void)state;
    lw_frame f;
    memset(&f, 0, sizeof(f));
    f.mtype = LW_MTYPE_REJOIN_REQUEST;
    f.u.rejoin_request.type = (lw_rejoin_type)3;
    uint8_t out[64];
    size_t n;
    assert_int_equal(lw_frame_encode(&f, out, sizeof(out), &n), LW_ERR_FORMAT);
}

static void encode_join_accept_wrong_ciphertext_length(void **state)
{
    (void)state;
    uint8_t ct[40] = {0};
    lw_frame f;
    memset(&f, 0, sizeof(f));
    f.mtype = LW_MTYPE_JOIN_ACCEPT;
    f.u.join_accept.ciphertext = ct;
    uint8_t out[64];
    size_t n;
    const size_t bad[] = {0, 15, 17, 31, 33};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        f.u.join_accept.len = bad[i];
        assert_int_equal(lw_frame_encode(&f, out, sizeof(out), &n), LW_ERR_FORMAT);
    }
}

static void encode_null_arguments(void **state)
{
    (void)state;
    lw_frame f;
    memset(&f, 0, sizeof(f));
    uint8_t out[32];
    size_t n;
    assert_int_equal(lw_frame_encode(NULL, out, sizeof(out), &n), LW_ERR_ARGUMENT);
    assert_int_equal(lw_frame_encode(&f, NULL, sizeof(out), &n), LW_ERR_ARGUMENT);
    assert_int_equal(lw_frame_encode(&f, out, sizeof(out), NULL), LW_ERR_ARGUMENT);
}

/* ---- set_mic, helpers -------------------------------------------------- */

static void set_mic_overwrites_last_four_bytes(void **state)
{
    (void)state;
    wire w;
    assert_int_equal(decode_hex(&w, UNC_UP), LW_OK);
    const uint8_t mic[4] = {0xDE, 0xAD, 0xBE, 0xEF};
    assert_int_equal(lw_frame_set_mic(w.bytes, w.len, mic), LW_OK);
    assert_hex_equal(w.bytes, w.len, "40 F17DBE49 00 0200 01 95437876 DEADBEEF");
}

static void set_mic_on_too_short_frame(void **state)
{
    (void)state;
    uint8_t phy[4] = {0};
    const uint8_t mic[4] = {1, 2, 3, 4};
    assert_int_equal(lw_frame_set_mic(phy, 4, mic), LW_ERR_TRUNCATED);
    assert_true(tu_all_zero(phy, sizeof(phy)));
    assert_int_equal(lw_frame_set_mic(NULL, 12, mic), LW_ERR_ARGUMENT);
}

static void mtype_predicates_and_names(void **state)
{
    (void)state;
    static const char *const names[8] = {
        "JoinRequest", "JoinAccept", "UnconfirmedDataUp", "UnconfirmedDataDown",
        "ConfirmedDataUp", "ConfirmedDataDown", "RejoinRequest", "Proprietary",
    };
    for (unsigned m = 0; m < 8; m++) {
        assert_string_equal(lw_mtype_name((lw_mtype)m), names[m]);
        assert_int_equal(lw_mtype_is_data((lw_mtype)m), m >= 2 && m <= 5);
        assert_int_equal(lw_mtype_is_uplink((lw_mtype)m), m == 2 || m == 4);
    }
}

static void little_endian_helpers(void **state)
{
    (void)state;
    uint8_t b[8];
    lw_put_le(b, 0x70B3D57ED0000001ull, 8);
    assert_hex_equal(b, 8, "010000D07ED5B370");
    assert_true(lw_get_le(b, 8) == 0x70B3D57ED0000001ull);
    memset(b, 0xAA, sizeof(b));
    lw_put_le(b, 0x00123456, 3);
    assert_hex_equal(b, 8, "563412AAAAAAAAAA");
    assert_int_equal(lw_get_le(b, 3), 0x123456);
    assert_int_equal(lw_get_le(b, 0), 0);
}

/* ---- join-accept fields ------------------------------------------------ */

/* V1 plaintext (lora-packet mic_test.ts). */
#define JA_PLAIN_V1 "20 386337 CCBBAA E7CD2C01 00 00 D9D0A6E7"
/* V4 body with the classic EU868 CFList (867.1-867.9 MHz, type 0) and OptNeg. */
#define CFLIST "184F84E85684B85E84886684586E8400"
#define JA_PLAIN_CFLIST "20 030201 030201 04030201 80 01 " CFLIST " 2c5357de"

static void join_accept_parse_without_cflist(void **state)
{
    (void)state;
    uint8_t plain[17], mic[4];
    lw_join_accept ja;
    tu_hex(JA_PLAIN_V1, plain, sizeof(plain));
    memset(&ja, 0xEE, sizeof(ja));
    assert_int_equal(lw_join_accept_parse(plain, 17, &ja, mic), LW_OK);
    assert_int_equal(ja.join_nonce, 0x376338);
    assert_int_equal(ja.net_id, 0xAABBCC);
    assert_int_equal(ja.dev_addr, 0x012CCDE7);
    assert_int_equal(ja.dl_settings, 0);
    assert_int_equal(ja.rx_delay, 0);
    assert_false(ja.has_cflist);
    assert_hex_equal(mic, 4, "D9D0A6E7");
}

static void join_accept_parse_with_cflist(void **state)
{
    (void)state;
    uint8_t plain[33], mic[4];
    lw_join_accept ja;
    tu_hex(JA_PLAIN_CFLIST, plain, sizeof(plain));
    assert_int_equal(lw_join_accept_parse(plain, 33, &ja, mic), LW_OK);
    assert_int_equal(ja.join_nonce, 0x010203);
    assert_int_equal(ja.net_id, 0x010203);
    assert_int_equal(ja.dev_addr, 0x01020304);
    assert_int_equal(ja.dl_settings, LW_DL_OPTNEG);
    assert_int_equal(ja.rx_delay, 1);
    assert_true(ja.has_cflist);
    assert_hex_equal(ja.cflist, LW_CFLIST_LEN, CFLIST);
    assert_hex_equal(mic, 4, "2c5357de");
}

static void join_accept_parse_bad_lengths(void **state)
{
    (void)state;
    uint8_t plain[40] = {0x20};
    uint8_t mic[4];
    lw_join_accept ja;
    assert_int_equal(lw_join_accept_parse(plain, 0, &ja, mic), LW_ERR_TRUNCATED);
    assert_int_equal(lw_join_accept_parse(plain, 16, &ja, mic), LW_ERR_TRUNCATED);
    assert_int_equal(lw_join_accept_parse(plain, 18, &ja, mic), LW_ERR_TRUNCATED);
    assert_int_equal(lw_join_accept_parse(plain, 32, &ja, mic), LW_ERR_TRUNCATED);
    assert_int_equal(lw_join_accept_parse(plain, 34, &ja, mic), LW_ERR_TOO_LONG);
}

static void join_accept_parse_wrong_mhdr(void **state)
{
    (void)state;
    uint8_t plain[17], mic[4];
    lw_join_accept ja;
    tu_hex(JA_PLAIN_V1, plain, sizeof(plain));
    plain[0] = 0x40;
    assert_int_equal(lw_join_accept_parse(plain, 17, &ja, mic), LW_ERR_MTYPE);
    plain[0] = 0x21;
    assert_int_equal(lw_join_accept_parse(plain, 17, &ja, mic), LW_ERR_MAJOR);
    assert_int_equal(lw_join_accept_parse(NULL, 17, &ja, mic), LW_ERR_ARGUMENT);
}

static void join_accept_build_without_cflist(void **state)
{
    (void)state;
    /* V2 (chirpstack) fields */
    lw_join_accept ja;
    memset(&ja, 0, sizeof(ja));
    ja.join_nonce = 65793;
    ja.net_id = 0x020202;
    ja.dev_addr = 0x01020304;
    uint8_t out[40];
    size_t n = 0;
    assert_int_equal(lw_join_accept_build(&ja, out, sizeof(out), &n), LW_OK);
    assert_hex_equal(out, n, "20 010101 020202 04030201 00 00");
}

static void join_accept_build_with_cflist(void **state)
{
    (void)state;
    lw_join_accept ja;
    memset(&ja, 0, sizeof(ja));
    ja.join_nonce = 0x010203;
    ja.net_id = 0x010203;
    ja.dev_addr = 0x01020304;
    ja.dl_settings = LW_DL_OPTNEG;
    ja.rx_delay = 1;
    ja.has_cflist = true;
    tu_hex(CFLIST, ja.cflist, sizeof(ja.cflist));
    uint8_t out[40];
    size_t n = 0;
    assert_int_equal(lw_join_accept_build(&ja, out, sizeof(out), &n), LW_OK);
    assert_hex_equal(out, n, "20 030201 030201 04030201 80 01 " CFLIST);
}

static void join_accept_build_buffer_too_small(void **state)
{
    (void)state;
    lw_join_accept ja;
    memset(&ja, 0, sizeof(ja));
    uint8_t out[40];
    size_t n = 999;
    assert_int_equal(lw_join_accept_build(&ja, out, 12, &n), LW_ERR_BUFFER);
    assert_int_equal(lw_join_accept_build(&ja, out, 13, &n), LW_OK);
    assert_int_equal(n, 13);
    ja.has_cflist = true;
    assert_int_equal(lw_join_accept_build(&ja, out, 28, &n), LW_ERR_BUFFER);
    assert_int_equal(lw_join_accept_build(&ja, out, 29, &n), LW_OK);
    assert_int_equal(n, 29);
}

static void join_accept_build_rejects_values_over_24_bits(void **state)
{
    (void)state;
    lw_join_accept ja;
    memset(&ja, 0, sizeof(ja));
    uint8_t out[40];
    size_t n;
    ja.join_nonce = 0x1000000;
    assert_int_equal(lw_join_accept_build(&ja, out, sizeof(out), &n), LW_ERR_FORMAT);
    ja.join_nonce = 0;
    ja.net_id = 0x1000000;
    assert_int_equal(lw_join_accept_build(&ja, out, sizeof(out), &n), LW_ERR_FORMAT);
}

static void join_accept_build_then_parse(void **state)
{
    (void)state;
    lw_join_accept ja, back;
    memset(&ja, 0, sizeof(ja));
    ja.join_nonce = 0xAE3B1C;
    ja.net_id = 0x020101;
    ja.dev_addr = 0x26011BDA;
    ja.dl_settings = 0x93;
    ja.rx_delay = 5;
    ja.has_cflist = true;
    for (int i = 0; i < LW_CFLIST_LEN; i++)
        ja.cflist[i] = (uint8_t)(0xF0 - i);
    uint8_t buf[40], mic[4];
    size_t n = 0;
    assert_int_equal(lw_join_accept_build(&ja, buf, sizeof(buf), &n), LW_OK);
    memcpy(buf + n, "\x01\x02\x03\x04", 4);
    assert_int_equal(lw_join_accept_parse(buf, n + 4, &back, mic), LW_OK);
    assert_memory_equal(&back, &ja, sizeof(ja));
    assert_hex_equal(mic, 4, "01020304");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(decode_join_request),
        cmocka_unit_test(decode_join_accept_without_cflist),
        cmocka_unit_test(decode_join_accept_with_cflist),
        cmocka_unit_test(decode_unconfirmed_data_up),
        cmocka_unit_test(decode_unconfirmed_data_down_ack_empty_payload),
        cmocka_unit_test(decode_confirmed_data_up_with_fopts),
        cmocka_unit_test(decode_confirmed_data_down_fctrl_bits),
        cmocka_unit_test(decode_fctrl_all_bits_uplink),
        cmocka_unit_test(decode_rejoin_type_0),
        cmocka_unit_test(decode_rejoin_type_1),
        cmocka_unit_test(decode_rejoin_type_2),
        cmocka_unit_test(decode_proprietary),
        cmocka_unit_test(decode_proprietary_mhdr_only),
        cmocka_unit_test(decode_keeps_mhdr_rfu_bits),
        cmocka_unit_test(data_without_fport),
        cmocka_unit_test(data_fopts_without_fport),
        cmocka_unit_test(data_fport_0_without_fopts),
        cmocka_unit_test(data_fport_with_empty_payload),
        cmocka_unit_test(data_15_fopts_bytes),
        cmocka_unit_test(data_255_bytes),
        cmocka_unit_test(any_frame_of_256_bytes_is_too_long),
        cmocka_unit_test(round_trip_every_mtype),
        cmocka_unit_test(empty_input_is_truncated),
        cmocka_unit_test(decode_null_arguments),
        cmocka_unit_test(join_request_length_boundaries),
        cmocka_unit_test(join_accept_length_boundaries),
        cmocka_unit_test(join_accept_between_the_two_sizes_is_rejected),
        cmocka_unit_test(rejoin_type_0_and_2_length_boundaries),
        cmocka_unit_test(rejoin_type_1_length_boundaries),
        cmocka_unit_test(rejoin_without_type_byte_is_truncated),
        cmocka_unit_test(data_one_byte_short_is_truncated_for_each_data_mtype),
        cmocka_unit_test(fopts_len_beyond_frame_is_truncated),
        cmocka_unit_test(major_other_than_0_is_rejected),
        cmocka_unit_test(rejoin_type_3_is_format_error),
        cmocka_unit_test(fopts_with_fport_0_is_format_error),
        cmocka_unit_test(encode_join_request_from_fields),
        cmocka_unit_test(encode_join_request_eui_byte_order),
        cmocka_unit_test(encode_rejoin_from_fields),
        cmocka_unit_test(encode_data_from_fields),
        cmocka_unit_test(encode_fctrl_bits),
        cmocka_unit_test(encode_fopts_len_over_15_is_format_error),
        cmocka_unit_test(encode_fopts_with_fport_0_is_format_error),
        cmocka_unit_test(encode_rejoin_type_3_is_format_error),
        cmocka_unit_test(encode_join_accept_wrong_ciphertext_length),
        cmocka_unit_test(encode_null_arguments),
        cmocka_unit_test(set_mic_overwrites_last_four_bytes),
        cmocka_unit_test(set_mic_on_too_short_frame),
        cmocka_unit_test(mtype_predicates_and_names),
        cmocka_unit_test(little_endian_helpers),
        cmocka_unit_test(join_accept_parse_without_cflist),
        cmocka_unit_test(join_accept_parse_with_cflist),
        cmocka_unit_test(join_accept_parse_bad_lengths),
        cmocka_unit_test(join_accept_parse_wrong_mhdr),
        cmocka_unit_test(join_accept_build_without_cflist),
        cmocka_unit_test(join_accept_build_with_cflist),
        cmocka_unit_test(join_accept_build_buffer_too_small),
        cmocka_unit_test(join_accept_build_rejects_values_over_24_bits),
        cmocka_unit_test(join_accept_build_then_parse),
    };
    return cmocka_run_group_tests_name("lw_frame", tests, NULL, NULL);
}

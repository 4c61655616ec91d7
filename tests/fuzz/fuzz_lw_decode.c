/*
 * fuzz_lw_decode.c - libFuzzer target for the LoRaWAN frame parsers.
 *
 * For every input:
 *   1. lw_frame_decode(); when it accepts the bytes, lw_frame_encode() must
 *      give them back exactly. Every MType round-trips bit for bit in ferry
 *      (MHDR RFU bits and every FCtrl bit are kept in lw_frame), so a
 *      difference is a bug, not a normalisation;
 *   2. on a decoded frame, the MIC function of its kind and, for data frames,
 *      FRMPayload and FOpts decryption run with a fixed key; each must
 *      succeed on anything decode accepted, and the recomputed MIC patched
 *      in with lw_frame_set_mic() must still decode;
 *   3. a decoded join-accept is decrypted, parsed and MIC-checked (1.0 and
 *      1.1), and a successful parse must rebuild the same plaintext;
 *   4. the raw input also goes to lw_join_accept_parse() directly.
 * Sanitizers catch reads past `len`; the checks above catch logic errors.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lorawan/lorawan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                \
    do {                           \
        if (!(cond))               \
            __builtin_trap();      \
    } while (0)

static const uint8_t fixed_key[16] = {
    0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6, 0xab, 0xf7, 0x15, 0x88, 0x09, 0xcf, 0x4f, 0x3c,
};

static void check_join_accept_plain(const uint8_t *plain, size_t len, const lw_crypto *c, const lw_key *key)
{
    lw_join_accept ja;
    uint8_t mic[LW_MIC_LEN];
    if (lw_join_accept_parse(plain, len, &ja, mic) != LW_OK)
        return;
    CHECK(len == LW_JOIN_ACCEPT_LEN || len == LW_JOIN_ACCEPT_CFLIST_LEN);
    CHECK(ja.has_cflist == (len == LW_JOIN_ACCEPT_CFLIST_LEN));

    /* build(parse(x)) == x without its MIC, apart from MHDR RFU bits which
     * build always writes as zero */
    uint8_t rebuilt[LW_JOIN_ACCEPT_CFLIST_LEN];
    size_t n = 0;
    CHECK(lw_join_accept_build(&ja, rebuilt, sizeof(rebuilt), &n) == LW_OK);
    CHECK(n == len - LW_MIC_LEN);
    CHECK((rebuilt[0] & 0xE3) == (plain[0] & 0xE3));
    CHECK(memcmp(rebuilt + 1, plain + 1, n - 1) == 0);

    uint8_t calc[LW_MIC_LEN];
    CHECK(lw_mic_join_accept_10(c, key, plain, n, calc) == LW_OK);
    CHECK(lw_mic_join_accept_11(c, key, LW_JOIN_REQ_TYPE_JOIN, 0x0102030405060708ull, 0x0102, plain, n, calc) ==
          LW_OK);
    (void)lw_mic_equal(mic, calc);
}

static void check_data(const lw_frame *f, const uint8_t *phy, size_t len, const lw_crypto *c, const lw_key *key)
{
    const lw_data_frame *d = &f->u.data;
    bool up = lw_mtype_is_uplink(f->mtype);
    CHECK(len >= LW_DATA_MIN_LEN);
    CHECK(8u + d->fctrl.fopts_len + (d->has_fport ? 1u : 0u) + d->frm_payload_len + LW_MIC_LEN == len);
    CHECK(!(d->has_fport && d->fport == 0 && d->fctrl.fopts_len > 0));

    lw_data_mic_params p = {.dev_addr = d->dev_addr, .fcnt = d->fcnt, .conf_fcnt = 7, .tx_dr = 3, .tx_ch = 1};
    uint8_t mic[LW_MIC_LEN];
    CHECK(lw_mic_data_10(c, key, &p, phy, len - LW_MIC_LEN, mic) == LW_OK);
    if (up)
        CHECK(lw_mic_data_up_11(c, key, key, &p, phy, len - LW_MIC_LEN, mic) == LW_OK);
    else
        CHECK(lw_mic_data_down_11(c, key, &p, phy, len - LW_MIC_LEN, mic) == LW_OK);

    uint8_t buf[LW_PHY_MAX];
    CHECK(lw_frm_payload_crypt(c, key, up, d->dev_addr, d->fcnt, d->frm_payload, d->frm_payload_len, buf) == LW_OK);
    bool a_fcnt_down = !up && d->has_fport && d->fport > 0;
    CHECK(lw_fopts_crypt_11(c, key, up, a_fcnt_down, d->dev_addr, d->fcnt, d->fopts, d->fctrl.fopts_len, buf) ==
          LW_OK);

    /* the MIC we computed, patched in, gives a frame that still decodes to
     * the same fields with that MIC */
    uint8_t copy[LW_PHY_MAX];
    memcpy(copy, phy, len);
    CHECK(lw_frame_set_mic(copy, len, mic) == LW_OK);
    lw_frame g;
    CHECK(lw_frame_decode(copy, len, &g) == LW_OK);
    CHECK(memcmp(g.mic, mic, LW_MIC_LEN) == 0);
    CHECK(g.u.data.dev_addr == d->dev_addr && g.u.data.fcnt == d->fcnt);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const lw_crypto *c = lw_crypto_software();
    lw_key key;
    if (lw_key_from_bytes(&key, fixed_key, sizeof(fixed_key)) != LW_OK)
        abort();

    /* 4. the raw input as a join-accept plaintext */
    check_join_accept_plain(data, size, c, &key);

    lw_frame f;
    lw_status st = lw_frame_decode(data, size, &f);
    if (st != LW_OK) {
        CHECK(st < LW_STATUS_COUNT);
        lw_key_wipe(&key);
        return 0;
    }
    CHECK(size >= 1 && size <= LW_PHY_MAX);
    CHECK(f.major == 0);

    /* 1. exact round trip, and no shorter buffer accepted */
    uint8_t out[LW_PHY_MAX];
    size_t out_len = 0;
    CHECK(lw_frame_encode(&f, out, sizeof(out), &out_len) == LW_OK);
    CHECK(out_len == size);
    CHECK(memcmp(out, data, size) == 0);
    CHECK(lw_frame_encode(&f, out, size - 1, &out_len) == LW_ERR_BUFFER);

    /* 2. and 3. per kind */
    uint8_t mic[LW_MIC_LEN];
    switch (f.mtype) {
    case LW_MTYPE_JOIN_REQUEST:
        CHECK(size == LW_JOIN_REQUEST_LEN);
        CHECK(lw_mic_join_request(c, &key, data, size - LW_MIC_LEN, mic) == LW_OK);
        break;
    case LW_MTYPE_REJOIN_REQUEST:
        CHECK(size == (f.u.rejoin_request.type == LW_REJOIN_TYPE_1 ? LW_REJOIN_1_LEN : LW_REJOIN_02_LEN));
        CHECK(lw_mic_rejoin_request(c, &key, data, size - LW_MIC_LEN, mic) == LW_OK);
        break;
    case LW_MTYPE_JOIN_ACCEPT: {
        uint8_t plain[LW_JOIN_ACCEPT_CFLIST_LEN], wire[LW_JOIN_ACCEPT_CFLIST_LEN];
        CHECK(lw_join_accept_decrypt(c, &key, data, size, plain, sizeof(plain)) == LW_OK);
        check_join_accept_plain(plain, size, c, &key);
        /* the server direction inverts the device direction */
        CHECK(lw_join_accept_encrypt(c, &key, plain, size, wire, sizeof(wire)) == LW_OK);
        CHECK(memcmp(wire, data, size) == 0);
        break;
    }
    case LW_MTYPE_PROPRIETARY:
        CHECK(f.u.proprietary.len == size - 1);
        break;
    default:
        check_data(&f, data, size, c, &key);
        break;
    }
    lw_key_wipe(&key);
    return 0;
}

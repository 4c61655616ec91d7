/*
 * test_lw_cipher.c - join-accept, FRMPayload and 1.1 FOpts encryption.
 *
 * Join-accept: V1 (lora-packet zero key), V2 (chirpstack 1.0 and 1.1 wire
 * forms), V4 (TTS encrypted body), plus a CFList case computed with node's
 * crypto. FRMPayload: lora-packet's README and decrypt_test.ts frames, the
 * brocaar 1.1 downlink and a 1.1 RekeyInd on port 0 from lora-packet's
 * fopts_test.ts. FOpts: the brocaar downlink (AFCntDown variant of the 1.1
 * errata A block) and uplink cases computed independently with node.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "lorawan/lw_cipher.h"
#include "lorawan/lw_mic.h"
#include "test_util.h"

static const lw_crypto *sw(void)
{
    return lw_crypto_software();
}

#define KEY_V2 "0102030405060708090a0b0c0d0e0f10"
#define KEY_V4 "01010101010101010101010101010101"
#define KEY_ZERO "00000000000000000000000000000000"
#define APP_S_KEY_LP "ec925802ae430ca77fd3dd73cb2cc588"
#define KEY_HAND "2b7e151628aed2a6abf7158809cf4f3c"

/* ---- join-accept ------------------------------------------------------- */

static void check_ja_encrypt(const char *key_hex, const char *plain_hex, const char *wire_hex)
{
    lw_key k;
    uint8_t plain[33], out[40];
    tu_key(&k, key_hex);
    size_t n = tu_hex(plain_hex, plain, sizeof(plain));
    memset(out, 0xEE, sizeof(out));
    assert_int_equal(lw_join_accept_encrypt(sw(), &k, plain, n, out, sizeof(out)), LW_OK);
    assert_hex_equal(out, n, wire_hex);
    assert_int_equal(out[n], 0xEE);
}

static void check_ja_decrypt(const char *key_hex, const char *wire_hex, const char *plain_hex)
{
    lw_key k;
    uint8_t wire[33], out[33];
    tu_key(&k, key_hex);
    size_t n = tu_hex(wire_hex, wire, sizeof(wire));
    assert_int_equal(lw_join_accept_decrypt(sw(), &k, wire, n, out, n), LW_OK);
    assert_hex_equal(out, n, plain_hex);
}

#define JA_V1_PLAIN "20 000000 000000 00000000 00 00 f86f0a91"
#define JA_V1_WIRE "20 e3de108795f776b8037610ef7869b5b3"
#define JA_V2_10_PLAIN "20 010101 020202 04030201 00 00 3449f212"
#define JA_V2_10_WIRE "20 23cf335489aae3183c0be0baa8dee5f3"
#define JA_V2_11_PLAIN "20 010101 020202 04030201 80 00 93ff9a3a"
#define JA_V2_11_WIRE "20 7abeea06b02920f11c02d0348fcf1815"
#define JA_V4_PLAIN "20 030201 030201 04030201 00 01 32f54ab3"
#define JA_V4_WIRE "20 c9fbb259e11649096a568a9e3b7117c3"
#define JA_CFLIST_PLAIN "20 030201 030201 04030201 80 01 184F84E85684B85E84886684586E8400 2c5357de"
#define JA_CFLIST_WIRE "20 66d4ac23eda7f4e51cc241e7ff1948aa 2cc787d2feeafde182ec376e57c03e9a"

static void join_accept_encrypt_v1_zero_key(void **state)
{
    (void)state;
    check_ja_encrypt(KEY_ZERO, JA_V1_PLAIN, JA_V1_WIRE);
}

static void join_accept_decrypt_v1_zero_key(void **state)
{
    (void)state;
    check_ja_decrypt(KEY_ZERO, JA_V1_WIRE, JA_V1_PLAIN);
}

static void join_accept_encrypt_v2_10(void **state)
{
    (void)state;
    check_ja_encrypt(KEY_V2, JA_V2_10_PLAIN, JA_V2_10_WIRE);
}

static void join_accept_encrypt_v2_11(void **state)
{
    (void)state;
    check_ja_encrypt(KEY_V2, JA_V2_11_PLAIN, JA_V2_11_WIRE);
}

static void join_accept_decrypt_v2_10_and_11(void **state)
{
    (void)state;
    check_ja_decrypt(KEY_V2, JA_V2_10_WIRE, JA_V2_10_PLAIN);
    check_ja_decrypt(KEY_V2, JA_V2_11_WIRE, JA_V2_11_PLAIN);
}

static void join_accept_encrypt_v4(void **state)
{
    (void)state;
    check_ja_encrypt(KEY_V4, JA_V4_PLAIN, JA_V4_WIRE);
}

static void join_accept_decrypt_v4(void **state)
{
    (void)state;
    check_ja_decrypt(KEY_V4, JA_V4_WIRE, JA_V4_PLAIN);
}

static void join_accept_encrypt_with_cflist(void **state)
{
    (void)state;
    check_ja_encrypt(KEY_V4, JA_CFLIST_PLAIN, JA_CFLIST_WIRE);
    check_ja_decrypt(KEY_V4, JA_CFLIST_WIRE, JA_CFLIST_PLAIN);
}

static void join_accept_in_place(void **state)
{
    (void)state;
    lw_key k;
    uint8_t buf[33];
    tu_key(&k, KEY_V4);
    size_t n = tu_hex(JA_CFLIST_PLAIN, buf, sizeof(buf));
    assert_int_equal(lw_join_accept_encrypt(sw(), &k, buf, n, buf, n), LW_OK);
    assert_hex_equal(buf, n, JA_CFLIST_WIRE);
    assert_int_equal(lw_join_accept_decrypt(sw(), &k, buf, n, buf, n), LW_OK);
    assert_hex_equal(buf, n, JA_CFLIST_PLAIN);
}

static void join_accept_device_flow_v2_11(void **state)
{
    (void)state;
    /* What a device does: decrypt with NwkKey, parse, see OptNeg, check the
     * 1.1 MIC (JSIntKey: the same key stands in for it in V2). */
    lw_key k;
    uint8_t wire[17], plain[17], mic[4], expected[4];
    lw_join_accept ja;
    tu_key(&k, KEY_V2);
    tu_hex(JA_V2_11_WIRE, wire, sizeof(wire));
    assert_int_equal(lw_join_accept_decrypt(sw(), &k, wire, 17, plain, sizeof(plain)), LW_OK);
    assert_int_equal(lw_join_accept_parse(plain, 17, &ja, mic), LW_OK);
    assert_int_equal(ja.dl_settings & LW_DL_OPTNEG, LW_DL_OPTNEG);
    assert_int_equal(ja.join_nonce, 65793);
    assert_int_equal(ja.dev_addr, 0x01020304);
    assert_int_equal(lw_mic_join_accept_11(sw(), &k, LW_JOIN_REQ_TYPE_JOIN, 0x0807060504030201ull, 258, plain, 13,
                                           expected),
                     LW_OK);
    assert_int_equal(lw_mic_equal(mic, expected), 1);
}

static void join_accept_bad_lengths(void **state)
{
    (void)state;
    lw_key k;
    uint8_t in[40] = {0x20}, out[40];
    tu_key(&k, KEY_V4);
    memset(out, 0xEE, sizeof(out));
    assert_int_equal(lw_join_accept_encrypt(sw(), &k, in, 16, out, sizeof(out)), LW_ERR_TRUNCATED);
    assert_int_equal(lw_join_accept_decrypt(sw(), &k, in, 16, out, sizeof(out)), LW_ERR_TRUNCATED);
    assert_int_equal(lw_join_accept_decrypt(sw(), &k, in, 1, out, sizeof(out)), LW_ERR_TRUNCATED);
    /* neither 17 nor 33 bytes */
    const size_t bad[] = {18, 25, 32, 34, 40};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_not_equal(lw_join_accept_encrypt(sw(), &k, in, bad[i], out, sizeof(out)), LW_OK);
        assert_int_not_equal(lw_join_accept_decrypt(sw(), &k, in, bad[i], out, sizeof(out)), LW_OK);
    }
    for (size_t i = 0; i < sizeof(out); i++)
        assert_int_equal(out[i], 0xEE);
}

static void join_accept_buffer_too_small(void **state)
{
    (void)state;
    lw_key k;
    uint8_t in[33], out[33];
    tu_key(&k, KEY_V4);
    tu_hex(JA_CFLIST_PLAIN, in, sizeof(in));
    assert_int_equal(lw_join_accept_encrypt(sw(), &k, in, 33, out, 32), LW_ERR_BUFFER);
    assert_int_equal(lw_join_accept_decrypt(sw(), &k, in, 17, out, 16), LW_ERR_BUFFER);
}

static void join_accept_wrong_mtype(void **state)
{
    (void)state;
    lw_key k;
    uint8_t in[17], out[17];
    tu_key(&k, KEY_V4);
    tu_hex(JA_V4_WIRE, in, sizeof(in));
    in[0] = 0x40;
    assert_int_equal(lw_join_accept_decrypt(sw(), &k, in, 17, out, 17), LW_ERR_MTYPE);
    assert_int_equal(lw_join_accept_encrypt(sw(), &k, in, 17, out, 17), LW_ERR_MTYPE);
}

static void join_accept_unset_key_wipes_output(void **state)
{
    (void)state;
    lw_key k;
    memset(&k, 0, sizeof(k));
    uint8_t in[17], out[17];
    tu_hex(JA_V4_WIRE, in, sizeof(in));
    memset(out, 0xEE, sizeof(out));
    assert_int_equal(lw_join_accept_decrypt(sw(), &k, in, 17, out, 17), LW_ERR_KEY);
    assert_true(tu_all_zero(out, sizeof(out)));
}

static void join_accept_null_arguments(void **state)
{
    (void)state;
    lw_key k;
    uint8_t in[17] = {0x20}, out[17];
    tu_key(&k, KEY_V4);
    assert_int_equal(lw_join_accept_decrypt(sw(), &k, NULL, 17, out, 17), LW_ERR_ARGUMENT);
    assert_int_equal(lw_join_accept_decrypt(sw(), &k, in, 17, NULL, 17), LW_ERR_ARGUMENT);
    assert_int_equal(lw_join_accept_encrypt(sw(), NULL, in, 17, out, 17), LW_ERR_ARGUMENT);
}

/* ---- FRMPayload -------------------------------------------------------- */

static void check_frm(const char *key_hex, bool uplink, uint32_t dev_addr, uint32_t fcnt, const char *in_hex,
                      const char *out_hex)
{
    lw_key k;
    uint8_t in[LW_PHY_MAX], out[LW_PHY_MAX];
    tu_key(&k, key_hex);
    size_t n = tu_hex(in_hex, in, sizeof(in));
    assert_int_equal(lw_frm_payload_crypt(sw(), &k, uplink, dev_addr, fcnt, in, n, out), LW_OK);
    assert_hex_equal(out, n, out_hex);
}

static void frm_payload_readme_decrypts_to_test(void **state)
{
    (void)state;
    /* lora-packet README: 40F17DBE4900020001954378762B11FF0D, FPort 1 */
    check_frm(APP_S_KEY_LP, true, 0x49BE7DF1, 2, "95437876", "74657374");   /* "test" */
}

static void frm_payload_wrong_key_scrambles(void **state)
{
    (void)state;
    /* lora-packet decrypt_test.ts "bad key scrambles payload" */
    check_frm("ec925802ae430ca77fd3dd73cb2cc580", true, 0x49BE7DF1, 2, "95437876", "5999fc3f");
}

static void frm_payload_multi_block(void **state)
{
    (void)state;
    /* lora-packet decrypt_test.ts: 44 bytes = 2 full blocks and 12 bytes */
    check_frm(APP_S_KEY_LP, true, 0x49BE7DF1, 4,
              "55332de41a11adc072553544429ce7787707d1c316e027e7e5e334263376affb8aa17ad30075293f28dea8a2",
              "54686520717569636b2062726f776e20666f78206a756d7073206f76657220746865206c617a7920646f672e");
}

static void frm_payload_downlink_brocaar(void **state)
{
    (void)state;
    check_frm("100f0e0d0c0b0a090807060504030201", false, 0x01020304, 0, "f0b468dd", "01020304");
}

static void frm_payload_port_0_rekeyind_11(void **state)
{
    (void)state;
    /* lora-packet fopts_test.ts: FPort 0, so NwkSEncKey; plaintext RekeyInd 1.1 */
    assert_true(lw_frm_payload_key_is_network(0));
    check_frm("a5406d11c50850c965c2545ad81980a7", true, 0xE0109867, 0, "c2c5", "0b01");
}

static void frm_payload_downlink_32_bit_fcnt(void **state)
{
    (void)state;
    /* Independent (node): Ai = 01 00000000 01 DA1B0126 07000100 00 i */
    check_frm(KEY_HAND, false, 0x26011BDA, 0x00010007, "0102030405060708090a0b0c0d0e0f101112",
              "2b611f11d4915fd33486cd7aca65f171aadc");
}

static void frm_payload_round_trip_in_place(void **state)
{
    (void)state;
    lw_key k;
    uint8_t orig[LW_PHY_MAX], buf[LW_PHY_MAX];
    tu_key(&k, KEY_HAND);
    for (size_t i = 0; i < sizeof(orig); i++)
        orig[i] = (uint8_t)(i ^ 0x5A);
    memcpy(buf, orig, sizeof(buf));
    assert_int_equal(lw_frm_payload_crypt(sw(), &k, true, 0x26011BDA, 77, buf, sizeof(buf), buf), LW_OK);
    assert_memory_not_equal(buf, orig, sizeof(buf));
    assert_int_equal(lw_frm_payload_crypt(sw(), &k, true, 0x26011BDA, 77, buf, sizeof(buf), buf), LW_OK);
    assert_memory_equal(buf, orig, sizeof(buf));
}

static void frm_payload_direction_matters(void **state)
{
    (void)state;
    lw_key k;
    uint8_t in[4] = {0}, up[4], down[4];
    tu_key(&k, APP_S_KEY_LP);
    assert_int_equal(lw_frm_payload_crypt(sw(), &k, true, 1, 1, in, 4, up), LW_OK);
    assert_int_equal(lw_frm_payload_crypt(sw(), &k, false, 1, 1, in, 4, down), LW_OK);
    assert_memory_not_equal(up, down, 4);
}

static void frm_payload_empty_and_limits(void **state)
{
    (void)state;
    lw_key k;
    uint8_t buf[LW_PHY_MAX + 1] = {0};
    tu_key(&k, KEY_HAND);
    assert_int_equal(lw_frm_payload_crypt(sw(), &k, true, 1, 1, NULL, 0, NULL), LW_OK);
    assert_int_equal(lw_frm_payload_crypt(sw(), &k, true, 1, 1, buf, LW_PHY_MAX + 1, buf), LW_ERR_TOO_LONG);
    assert_int_equal(lw_frm_payload_crypt(sw(), &k, true, 1, 1, NULL, 4, buf), LW_ERR_ARGUMENT);
    assert_int_equal(lw_frm_payload_crypt(sw(), &k, true, 1, 1, buf, 4, NULL), LW_ERR_ARGUMENT);
}

static void frm_payload_key_choice_by_port(void **state)
{
    (void)state;
    assert_true(lw_frm_payload_key_is_network(0));
    for (unsigned port = 1; port <= 255; port++)
        assert_false(lw_frm_payload_key_is_network((uint8_t)port));
}

/* ---- FOpts (1.1) ------------------------------------------------------- */

static void check_fopts(const char *key_hex, bool uplink, bool a_fcnt_down, uint32_t dev_addr, uint32_t fcnt,
                        const char *in_hex, const char *out_hex)
{
    lw_key k;
    uint8_t in[LW_FOPTS_MAX], out[LW_FOPTS_MAX + 1];
    tu_key(&k, key_hex);
    size_t n = tu_hex(in_hex, in, sizeof(in));
    memset(out, 0xEE, sizeof(out));
    assert_int_equal(lw_fopts_crypt_11(sw(), &k, uplink, a_fcnt_down, dev_addr, fcnt, in, n, out), LW_OK);
    assert_hex_equal(out, n, out_hex);
    assert_int_equal(out[n], 0xEE);
}

#define NWK_S_ENC_BROCAAR "01010101010101010101010101010200"

static void fopts_downlink_afcntdown_brocaar(void **state)
{
    (void)state;
    /* 600403020103000022ac0a01f0b468ddaa5ed13a: FPort 1 downlink, so the
     * A block carries 0x02 (AFCntDown) per the 1.1 errata. */
    check_fopts(NWK_S_ENC_BROCAAR, false, true, 0x01020304, 0, "22ac0a", "020701");
}

static void fopts_downlink_nfcntdown(void **state)
{
    (void)state;
    /* Same bytes with the 0x01 (NFCntDown) variant: computed with node */
    check_fopts(NWK_S_ENC_BROCAAR, false, false, 0x01020304, 0, "22ac0a", "b2f5ef");
}

static void fopts_uplink(void **state)
{
    (void)state;
    /* A = 01 000000 01 00 DA1B0126 05010200 00 01 (node crypto) */
    check_fopts(KEY_HAND, true, false, 0x26011BDA, 0x00020105, "0206ff2a", "530de49f");
}

static void fopts_15_bytes(void **state)
{
    (void)state;
    check_fopts(KEY_HAND, true, false, 0x26011BDA, 1, "000000000000000000000000000000",
                "660a1673f891999b7e1af5041d49db");
}

static void fopts_round_trip_in_place(void **state)
{
    (void)state;
    lw_key k;
    uint8_t buf[3];
    tu_key(&k, NWK_S_ENC_BROCAAR);
    tu_hex("020701", buf, 3);
    assert_int_equal(lw_fopts_crypt_11(sw(), &k, false, true, 0x01020304, 0, buf, 3, buf), LW_OK);
    assert_hex_equal(buf, 3, "22ac0a");
    assert_int_equal(lw_fopts_crypt_11(sw(), &k, false, true, 0x01020304, 0, buf, 3, buf), LW_OK);
    assert_hex_equal(buf, 3, "020701");
}

static void fopts_too_long(void **state)
{
    (void)state;
    lw_key k;
    uint8_t buf[16] = {0};
    tu_key(&k, KEY_HAND);
    assert_int_equal(lw_fopts_crypt_11(sw(), &k, true, false, 1, 1, buf, 16, buf), LW_ERR_TOO_LONG);
}

static void fopts_uplink_cannot_use_afcntdown(void **state)
{
    (void)state;
    lw_key k;
    uint8_t buf[3] = {0};
    tu_key(&k, KEY_HAND);
    assert_int_equal(lw_fopts_crypt_11(sw(), &k, true, true, 1, 1, buf, 3, buf), LW_ERR_ARGUMENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(join_accept_encrypt_v1_zero_key),
        cmocka_unit_test(join_accept_decrypt_v1_zero_key),
        cmocka_unit_test(join_accept_encrypt_v2_10),
        cmocka_unit_test(join_accept_encrypt_v2_11),
        cmocka_unit_test(join_accept_decrypt_v2_10_and_11),
        cmocka_unit_test(join_accept_encrypt_v4),
        cmocka_unit_test(join_accept_decrypt_v4),
        cmocka_unit_test(join_accept_encrypt_with_cflist),
        cmocka_unit_test(join_accept_in_place),
        cmocka_unit_test(join_accept_device_flow_v2_11),
        cmocka_unit_test(join_accept_bad_lengths),
        cmocka_unit_test(join_accept_buffer_too_small),
        cmocka_unit_test(join_accept_wrong_mtype),
        cmocka_unit_test(join_accept_unset_key_wipes_output),
        cmocka_unit_test(join_accept_null_arguments),
        cmocka_unit_test(frm_payload_readme_decrypts_to_test),
        cmocka_unit_test(frm_payload_wrong_key_scrambles),
        cmocka_unit_test(frm_payload_multi_block),
        cmocka_unit_test(frm_payload_downlink_brocaar),
        cmocka_unit_test(frm_payload_port_0_rekeyind_11),
        cmocka_unit_test(frm_payload_downlink_32_bit_fcnt),
        cmocka_unit_test(frm_payload_round_trip_in_place),
        cmocka_unit_test(frm_payload_direction_matters),
        cmocka_unit_test(frm_payload_empty_and_limits),
        cmocka_unit_test(frm_payload_key_choice_by_port),
        cmocka_unit_test(fopts_downlink_afcntdown_brocaar),
        cmocka_unit_test(fopts_downlink_nfcntdown),
        cmocka_unit_test(fopts_uplink),
        cmocka_unit_test(fopts_15_bytes),
        cmocka_unit_test(fopts_round_trip_in_place),
        cmocka_unit_test(fopts_too_long),
        cmocka_unit_test(fopts_uplink_cannot_use_afcntdown),
    };
    return cmocka_run_group_tests_name("lw_cipher", tests, NULL, NULL);
}

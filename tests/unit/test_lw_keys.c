/*
 * test_lw_keys.c - 1.0.x and 1.1 session keys, join-server keys.
 *
 * Vectors (lorawan-test-vectors.md): V1 lora-packet key_gen_test.ts, V3
 * chirpstack lrwn/src/keys.rs, V4 TTS key_derivation_test.go. Nonces and
 * identifiers are passed as the host-order integers people read (NetID
 * "aabbcc" is 0xAABBCC); the core puts them little-endian into the blocks.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "lorawan/lw_keys.h"
#include "test_util.h"

static const lw_crypto *sw(void)
{
    return lw_crypto_software();
}

#define V3_NWK_KEY "01020304050607080102030405060708"
#define V3_APP_KEY "00000000000000000000000000000000"
#define V4_KEY "BEC499C69E9C939E413B663961636C61"

/* ---- 1.0.x ------------------------------------------------------------- */

static void session_keys_10_v1_lora_packet(void **state)
{
    (void)state;
    lw_key app_key;
    lw_session_keys_10 s;
    tu_key(&app_key, "98929b92c49edba9676d646d3b612456");
    assert_int_equal(lw_derive_session_keys_10(sw(), &app_key, 0x376338, 0xAABBCC, 0xF18E, &s), LW_OK);
    assert_key_equal(&s.nwk_s_key, "4e3d6e6afbcc67af2ba3c8e8ec4acf4b");
    assert_key_equal(&s.app_s_key, "610897aa6f1460623443b527d3ac6a9d");
    lw_session_keys_10_release(sw(), &s);
}

static void session_keys_10_v3_chirpstack(void **state)
{
    (void)state;
    lw_key nwk_key;
    lw_session_keys_10 s;
    tu_key(&nwk_key, V3_NWK_KEY);
    assert_int_equal(lw_derive_session_keys_10(sw(), &nwk_key, 65536, 0x010203, 258, &s), LW_OK);
    assert_key_equal(&s.nwk_s_key, "df53c35f3034ccced0ff354c70de04df");
    assert_key_equal(&s.app_s_key, "927b9c911183cffe4cb2ff4b75545f6d");
    lw_session_keys_10_release(sw(), &s);
}

static void session_keys_10_v4_tts_legacy(void **state)
{
    (void)state;
    lw_key key;
    lw_session_keys_10 s;
    tu_key(&key, V4_KEY);
    assert_int_equal(lw_derive_session_keys_10(sw(), &key, 0xAE3B1C, 0x020101, 0x7369, &s), LW_OK);
    assert_key_equal(&s.nwk_s_key, "0DB924EE6AF90698E05FC7CE48303C01");
    assert_key_equal(&s.app_s_key, "8C1E0543A229088DE6F84E74BB46BD62");
    lw_session_keys_10_release(sw(), &s);
}

static void session_keys_10_rejects_values_over_24_bits(void **state)
{
    (void)state;
    lw_key key;
    lw_session_keys_10 s;
    tu_key(&key, V3_NWK_KEY);
    assert_int_equal(lw_derive_session_keys_10(sw(), &key, 0x1000000, 0, 0, &s), LW_ERR_ARGUMENT);
    assert_int_equal(lw_derive_session_keys_10(sw(), &key, 0, 0x1000000, 0, &s), LW_ERR_ARGUMENT);
}

/* ---- 1.1 --------------------------------------------------------------- */

static void session_keys_11_v3_chirpstack(void **state)
{
    (void)state;
    lw_key nwk_key, app_key;
    lw_session_keys_11 s;
    tu_key(&nwk_key, V3_NWK_KEY);
    tu_key(&app_key, V3_APP_KEY);
    assert_int_equal(lw_derive_session_keys_11(sw(), &nwk_key, &app_key, 65536, 0x0807060504030201ull, 258, &s),
                     LW_OK);
    assert_key_equal(&s.app_s_key, "01621215d1ca08febf0c602cc2ad90fa");
    assert_key_equal(&s.f_nwk_s_int_key, "537f8aae896c79e015d102d06286354e");
    assert_key_equal(&s.s_nwk_s_int_key, "589498993092cfdb5fd2e02ac7510bf1");
    assert_key_equal(&s.nwk_s_enc_key, "9898283c4f66eb6c6fd5165882046c40");
    lw_session_keys_11_release(sw(), &s);
}

static void session_keys_11_v4_tts(void **state)
{
    (void)state;
    lw_key key;
    lw_session_keys_11 s;
    tu_key(&key, V4_KEY);
    assert_int_equal(lw_derive_session_keys_11(sw(), &key, &key, 0xAE3B1C, 0x0000001223224242ull, 0x7369, &s),
                     LW_OK);
    assert_key_equal(&s.app_s_key, "B035CCE24E4A040EB5CECBF21724412D");
    assert_key_equal(&s.f_nwk_s_int_key, "379084E7CE22FF191BFF4B77536F2AA3");
    assert_key_equal(&s.s_nwk_s_int_key, "63C59309D53485BC5164DBF71627AEB9");
    assert_key_equal(&s.nwk_s_enc_key, "CE07A009A3970AC0519A099ED53E550B");
    lw_session_keys_11_release(sw(), &s);
}

static void session_keys_11_app_s_key_comes_from_app_key(void **state)
{
    (void)state;
    /* V3 with AppKey and NwkKey swapped: the network keys change, and the
     * AppSKey becomes the value derived from the other root. */
    lw_key nwk_key, app_key;
    lw_session_keys_11 a, b;
    tu_key(&nwk_key, V3_NWK_KEY);
    tu_key(&app_key, V3_APP_KEY);
    assert_int_equal(lw_derive_session_keys_11(sw(), &nwk_key, &app_key, 65536, 0x0807060504030201ull, 258, &a),
                     LW_OK);
    assert_int_equal(lw_derive_session_keys_11(sw(), &nwk_key, &nwk_key, 65536, 0x0807060504030201ull, 258, &b),
                     LW_OK);
    assert_memory_equal(a.f_nwk_s_int_key.material, b.f_nwk_s_int_key.material, 16);
    assert_memory_equal(a.s_nwk_s_int_key.material, b.s_nwk_s_int_key.material, 16);
    assert_memory_equal(a.nwk_s_enc_key.material, b.nwk_s_enc_key.material, 16);
    assert_memory_not_equal(a.app_s_key.material, b.app_s_key.material, 16);
    lw_session_keys_11_release(sw(), &a);
    lw_session_keys_11_release(sw(), &b);
}

/* ---- join server keys -------------------------------------------------- */

static void js_keys_v4_tts(void **state)
{
    (void)state;
    lw_key key;
    lw_js_keys js;
    tu_key(&key, V4_KEY);
    assert_int_equal(lw_derive_js_keys(sw(), &key, 0x0042004213424341ull, &js), LW_OK);
    assert_key_equal(&js.js_int_key, "CB8E9EE114C3FB5CE472A5AA13AB1855");
    assert_key_equal(&js.js_enc_key, "BB711EEFB9829B4A75866F8616BACD6D");
    lw_js_keys_release(sw(), &js);
}

/* ---- release and failure ----------------------------------------------- */

static void release_10_wipes_keys(void **state)
{
    (void)state;
    lw_key key;
    lw_session_keys_10 s;
    tu_key(&key, V3_NWK_KEY);
    assert_int_equal(lw_derive_session_keys_10(sw(), &key, 1, 2, 3, &s), LW_OK);
    assert_false(tu_all_zero(&s.nwk_s_key, sizeof(s.nwk_s_key)));
    lw_session_keys_10_release(sw(), &s);
    assert_true(tu_all_zero(&s, sizeof(s)));
}

static void release_11_wipes_keys(void **state)
{
    (void)state;
    lw_key key;
    lw_session_keys_11 s;
    tu_key(&key, V3_NWK_KEY);
    assert_int_equal(lw_derive_session_keys_11(sw(), &key, &key, 1, 2, 3, &s), LW_OK);
    assert_false(tu_all_zero(&s.app_s_key, sizeof(s.app_s_key)));
    lw_session_keys_11_release(sw(), &s);
    assert_true(tu_all_zero(&s, sizeof(s)));
}

static void release_js_wipes_keys(void **state)
{
    (void)state;
    lw_key key;
    lw_js_keys js;
    tu_key(&key, V3_NWK_KEY);
    assert_int_equal(lw_derive_js_keys(sw(), &key, 1, &js), LW_OK);
    lw_js_keys_release(sw(), &js);
    assert_true(tu_all_zero(&js, sizeof(js)));
}

static void release_null_is_harmless(void **state)
{
    (void)state;
    lw_session_keys_10_release(sw(), NULL);
    lw_session_keys_11_release(sw(), NULL);
    lw_js_keys_release(sw(), NULL);
}

static void unset_root_key_fails_and_leaves_nothing(void **state)
{
    (void)state;
    lw_key unset;
    memset(&unset, 0, sizeof(unset));
    lw_session_keys_10 s10;
    lw_js_keys js;
    memset(&s10, 0xEE, sizeof(s10));
    memset(&js, 0xEE, sizeof(js));
    assert_int_equal(lw_derive_session_keys_10(sw(), &unset, 1, 2, 3, &s10), LW_ERR_KEY);
    assert_true(tu_all_zero(&s10, sizeof(s10)));
    assert_int_equal(lw_derive_js_keys(sw(), &unset, 1, &js), LW_ERR_KEY);
    assert_true(tu_all_zero(&js, sizeof(js)));
}

static void failure_after_partial_derivation_releases_all(void **state)
{
    (void)state;
    /* NwkKey good, AppKey unusable: three keys are derived before the
     * fourth fails, and all three must be gone on return. */
    lw_key nwk_key, unset;
    lw_session_keys_11 s;
    tu_key(&nwk_key, V3_NWK_KEY);
    memset(&unset, 0, sizeof(unset));
    memset(&s, 0xEE, sizeof(s));
    assert_int_equal(lw_derive_session_keys_11(sw(), &nwk_key, &unset, 1, 2, 3, &s), LW_ERR_KEY);
    assert_true(tu_all_zero(&s, sizeof(s)));
}

static void null_arguments(void **state)
{
    (void)state;
    lw_key key;
    lw_session_keys_10 s10;
    lw_session_keys_11 s11;
    lw_js_keys js;
    tu_key(&key, V3_NWK_KEY);
    assert_int_equal(lw_derive_session_keys_10(sw(), &key, 1, 2, 3, NULL), LW_ERR_ARGUMENT);
    assert_int_equal(lw_derive_session_keys_10(sw(), NULL, 1, 2, 3, &s10), LW_ERR_ARGUMENT);
    assert_int_equal(lw_derive_session_keys_10(NULL, &key, 1, 2, 3, &s10), LW_ERR_ARGUMENT);
    assert_int_equal(lw_derive_session_keys_11(sw(), &key, &key, 1, 2, 3, NULL), LW_ERR_ARGUMENT);
    assert_int_equal(lw_derive_session_keys_11(sw(), &key, NULL, 1, 2, 3, &s11), LW_ERR_ARGUMENT);
    assert_int_equal(lw_derive_js_keys(sw(), &key, 1, NULL), LW_ERR_ARGUMENT);
    assert_int_equal(lw_derive_js_keys(sw(), NULL, 1, &js), LW_ERR_ARGUMENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(session_keys_10_v1_lora_packet),
        cmocka_unit_test(session_keys_10_v3_chirpstack),
        cmocka_unit_test(session_keys_10_v4_tts_legacy),
        cmocka_unit_test(session_keys_10_rejects_values_over_24_bits),
        cmocka_unit_test(session_keys_11_v3_chirpstack),
        cmocka_unit_test(session_keys_11_v4_tts),
        cmocka_unit_test(session_keys_11_app_s_key_comes_from_app_key),
        cmocka_unit_test(js_keys_v4_tts),
        cmocka_unit_test(release_10_wipes_keys),
        cmocka_unit_test(release_11_wipes_keys),
        cmocka_unit_test(release_js_wipes_keys),
        cmocka_unit_test(release_null_is_harmless),
        cmocka_unit_test(unset_root_key_fails_and_leaves_nothing),
        cmocka_unit_test(failure_after_partial_derivation_releases_all),
        cmocka_unit_test(null_arguments),
    };
    return cmocka_run_group_tests_name("lw_keys", tests, NULL, NULL);
}

/*
 * test_se.c - the secure element's LoRaWAN life, checked against the core
 * playing the network, and its power-cut safety.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "lorawan/lorawan.h"
#include "se/se.h"
#include "se_test_env.h"

static const uint8_t TRANSPORT[16] = {0x70, 0x71, 0x72, 0x73, 0x74, 0x75, 0x76, 0x77,
                                      0x78, 0x79, 0x7a, 0x7b, 0x7c, 0x7d, 0x7e, 0x7f};
static const uint8_t NWK_KEY[16] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
                                    0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10};
static const uint8_t APP_KEY[16] = {0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18,
                                    0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x20};
static const uint8_t MLS_KEY[16] = {0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28,
                                    0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f, 0x30};
static const uint8_t CUST_NWK[16] = {0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8,
                                     0xc9, 0xca, 0xcb, 0xcc, 0xcd, 0xce, 0xcf, 0xd0};
static const uint8_t CUST_APP[16] = {0xd1, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8,
                                     0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xe0};
#define DEV_EUI 0x70B3D57ED0001234ull
#define BOOT_JOIN_EUI 0x70B3D57ED0000001ull
#define CUST_JOIN_EUI 0x0011223344556677ull

static void wrap(const uint8_t kek_bytes[16], const uint8_t key_bytes[16], uint8_t out[24])
{
    lw_key kek, key;
    assert_int_equal(lw_key_from_bytes(&kek, kek_bytes, 16), LW_OK);
    assert_int_equal(lw_key_from_bytes(&key, key_bytes, 16), LW_OK);
    assert_int_equal(lw_key_wrap(lw_crypto_software(), &kek, &key, out, 24), LW_OK);
}

static se_status personalise(se *e, uint8_t mac_version)
{
    se_personalisation p = {.dev_eui = DEV_EUI, .serial = 42, .join_eui = BOOT_JOIN_EUI,
                            .mac_version = mac_version};
    wrap(TRANSPORT, NWK_KEY, p.nwk_key_wrapped);
    wrap(TRANSPORT, APP_KEY, p.app_key_wrapped);
    wrap(TRANSPORT, MLS_KEY, p.mls_key_wrapped);
    return se_personalise(e, &p);
}

/* A personalised element on a fresh flash (*nvm, bound into *v). */
static void personalised(se *e, ram_nvm *nvm, se_nvm *v, uint8_t mac_version)
{
    memset(nvm, 0, sizeof(*nvm));
    *v = ram_nvm_bind(nvm);
    assert_int_equal(se_manufacture(e, v, lw_crypto_software(), TRANSPORT), SE_OK);
    assert_int_equal(personalise(e, mac_version), SE_OK);
}

/* The network side: checks a join-request and answers it as a Join Server
 * would, with the core only. */
static void network_answer_join(const uint8_t jr[23], const uint8_t nwk_bytes[16], const uint8_t app_bytes[16],
                                bool v11, uint32_t join_nonce, uint8_t out[17], lw_session_keys_11 *keys11,
                                lw_session_keys_10 *keys10)
{
    const lw_crypto *c = lw_crypto_software();
    lw_key nwk, app;
    assert_int_equal(lw_key_from_bytes(&nwk, nwk_bytes, 16), LW_OK);
    assert_int_equal(lw_key_from_bytes(&app, app_bytes, 16), LW_OK);
    lw_frame f;
    assert_int_equal(lw_frame_decode(jr, 23, &f), LW_OK);
    assert_int_equal(f.mtype, LW_MTYPE_JOIN_REQUEST);
    uint8_t mic[4];
    assert_int_equal(lw_mic_join_request(c, &nwk, jr, 19, mic), LW_OK);
    assert_true(lw_mic_equal(mic, f.mic));

    lw_join_accept ja = {.join_nonce = join_nonce, .net_id = 0x000013, .dev_addr = 0x26011234,
                         .dl_settings = v11 ? LW_DL_OPTNEG : 0, .rx_delay = 1};
    uint8_t plain[33];
    size_t n = 0;
    assert_int_equal(lw_join_accept_build(&ja, plain, sizeof(plain), &n), LW_OK);
    if (v11) {
        lw_js_keys js;
        assert_int_equal(lw_derive_js_keys(c, &nwk, f.u.join_request.dev_eui, &js), LW_OK);
        assert_int_equal(lw_mic_join_accept_11(c, &js.js_int_key, 0xFF, f.u.join_request.join_eui,
                                               f.u.join_request.dev_nonce, plain, n, plain + n), LW_OK);
        assert_int_equal(lw_derive_session_keys_11(c, &nwk, &app, join_nonce, f.u.join_request.join_eui,
                                                   f.u.join_request.dev_nonce, keys11), LW_OK);
    } else {
        assert_int_equal(lw_mic_join_accept_10(c, &nwk, plain, n, plain + n), LW_OK);
        assert_int_equal(lw_derive_session_keys_10(c, &nwk, join_nonce, 0x13, f.u.join_request.dev_nonce, keys10),
                         LW_OK);
    }
    assert_int_equal(lw_join_accept_encrypt(c, &nwk, plain, n + 4, out, 17), LW_OK);
}

static void test_blank_element_refuses_everything_but_personalisation(void **state)
{
    (void)state;
    ram_nvm nvm = {0};
    se_nvm v = ram_nvm_bind(&nvm);
    se e;
    assert_int_equal(se_boot(&e, &v, lw_crypto_software()), SE_ERR_CORRUPT);
    assert_int_equal(se_manufacture(&e, &v, lw_crypto_software(), TRANSPORT), SE_OK);
    uint8_t jr[23];
    assert_int_equal(se_build_join_request(&e, jr), SE_ERR_STATE);
    assert_int_equal(se_manufacture(&e, &v, lw_crypto_software(), TRANSPORT), SE_ERR_STATE);
}

static void test_personalisation_is_once_and_checks_wrapping(void **state)
{
    (void)state;
    ram_nvm nvm = {0};
    se_nvm v = ram_nvm_bind(&nvm);
    se e;
    assert_int_equal(se_manufacture(&e, &v, lw_crypto_software(), TRANSPORT), SE_OK);
    se_personalisation p = {.dev_eui = DEV_EUI, .join_eui = BOOT_JOIN_EUI, .mac_version = SE_MAC_1_1};
    wrap(TRANSPORT, NWK_KEY, p.nwk_key_wrapped);
    wrap(TRANSPORT, APP_KEY, p.app_key_wrapped);
    wrap(TRANSPORT, MLS_KEY, p.mls_key_wrapped);
    p.app_key_wrapped[5] ^= 0x01;
    assert_int_equal(se_personalise(&e, &p), SE_ERR_MIC);
    se_info info;
    assert_int_equal(se_get_info(&e, &info), SE_OK);
    assert_int_equal(info.lifecycle, SE_LIFECYCLE_BLANK);
    assert_int_equal(personalise(&e, SE_MAC_1_1), SE_OK);
    assert_int_equal(personalise(&e, SE_MAC_1_1), SE_ERR_STATE);
    /* The transport key is gone from memory and from every page of flash. */
    for (size_t i = 0; i + 16 <= se_nvm_ram_size(&nvm); i++)
        assert_false(memcmp(nvm.mem + i, TRANSPORT, 16) == 0);
    assert_int_equal(nvm.violations, 0);
    for (size_t i = 0; i + 16 <= sizeof(e.st); i++)
        assert_false(memcmp((const uint8_t *)&e.st + i, TRANSPORT, 16) == 0);
}

static void join_and_check(se *e, bool v11, uint32_t join_nonce, lw_session_keys_11 *k11, lw_session_keys_10 *k10)
{
    uint8_t jr[23], ja[17];
    assert_int_equal(se_build_join_request(e, jr), SE_OK);
    network_answer_join(jr, NWK_KEY, APP_KEY, v11, join_nonce, ja, k11, k10);
    se_join_result r;
    assert_int_equal(se_process_join_accept(e, ja, sizeof(ja), &r), SE_OK);
    assert_int_equal(r.dev_addr, 0x26011234);
    assert_int_equal(r.mac_version, v11 ? SE_MAC_1_1 : SE_MAC_1_0_3);
}

static void test_join_1_0_uplink_downlink(void **state)
{
    (void)state;
    const lw_crypto *c = lw_crypto_software();
    ram_nvm nvm;
    se_nvm v;
    se e;
    personalised(&e, &nvm, &v, SE_MAC_1_0_3);
    lw_session_keys_10 k;
    join_and_check(&e, false, 7, NULL, &k);

    static const uint8_t text[] = "hello";
    se_uplink up = {.has_fport = true, .fport = 10, .payload = text, .payload_len = 5};
    uint8_t frame[64];
    size_t n = 0;
    assert_int_equal(se_protect_uplink(&e, &up, frame, sizeof(frame), &n), SE_OK);
    lw_frame f;
    assert_int_equal(lw_frame_decode(frame, n, &f), LW_OK);
    lw_data_mic_params mp = {.dev_addr = 0x26011234, .fcnt = 0};
    uint8_t mic[4], plain[5];
    assert_int_equal(lw_mic_data_10(c, &k.nwk_s_key, &mp, frame, n - 4, mic), LW_OK);
    assert_true(lw_mic_equal(mic, f.mic));
    assert_int_equal(lw_frm_payload_crypt(c, &k.app_s_key, true, 0x26011234, 0, f.u.data.frm_payload, 5, plain),
                     LW_OK);
    assert_memory_equal(plain, text, 5);

    /* A downlink from the network, then its replay. */
    uint8_t enc[3], down[32];
    static const uint8_t msg[3] = {1, 2, 3};
    assert_int_equal(lw_frm_payload_crypt(c, &k.app_s_key, false, 0x26011234, 5, msg, 3, enc), LW_OK);
    lw_frame d = {.mtype = LW_MTYPE_UNCONFIRMED_DATA_DOWN};
    d.u.data.dev_addr = 0x26011234;
    d.u.data.fcnt = 5;
    d.u.data.has_fport = true;
    d.u.data.fport = 3;
    d.u.data.frm_payload = enc;
    d.u.data.frm_payload_len = 3;
    size_t dn = 0;
    assert_int_equal(lw_frame_encode(&d, down, sizeof(down), &dn), LW_OK);
    mp.fcnt = 5;
    assert_int_equal(lw_mic_data_10(c, &k.nwk_s_key, &mp, down, dn - 4, mic), LW_OK);
    assert_int_equal(lw_frame_set_mic(down, dn, mic), LW_OK);
    uint8_t out[64];
    se_downlink dl;
    down[dn - 1] ^= 1;
    assert_int_equal(se_unprotect_downlink(&e, down, dn, out, sizeof(out), &dl), SE_ERR_MIC);
    down[dn - 1] ^= 1;
    assert_int_equal(se_unprotect_downlink(&e, down, dn, out, sizeof(out), &dl), SE_OK);
    assert_int_equal(dl.fcnt, 5);
    assert_memory_equal(dl.payload, msg, 3);
    /* Replayed: its counter is behind the element's, so it reads as 65,536 ahead. */
    assert_int_equal(se_unprotect_downlink(&e, down, dn, out, sizeof(out), &dl), SE_ERR_REPLAY);
    lw_session_keys_10_release(c, &k);
}

static void test_join_1_1_uplink_mic(void **state)
{
    (void)state;
    const lw_crypto *c = lw_crypto_software();
    ram_nvm nvm;
    se_nvm v;
    se e;
    personalised(&e, &nvm, &v, SE_MAC_1_1);
    lw_session_keys_11 k;
    join_and_check(&e, true, 1, &k, NULL);
    static const uint8_t fopts[2] = {0x02, 0x03};
    se_uplink up = {.fopts = fopts, .fopts_len = 2, .tx_dr = 5, .tx_ch = 2};
    uint8_t frame[64], mic[4];
    size_t n = 0;
    assert_int_equal(se_protect_uplink(&e, &up, frame, sizeof(frame), &n), SE_OK);
    lw_frame f;
    assert_int_equal(lw_frame_decode(frame, n, &f), LW_OK);
    lw_data_mic_params mp = {.dev_addr = 0x26011234, .fcnt = 0, .tx_dr = 5, .tx_ch = 2};
    assert_int_equal(lw_mic_data_up_11(c, &k.s_nwk_s_int_key, &k.f_nwk_s_int_key, &mp, frame, n - 4, mic), LW_OK);
    assert_true(lw_mic_equal(mic, f.mic));
    uint8_t plain[2];
    assert_int_equal(lw_fopts_crypt_11(c, &k.nwk_s_enc_key, true, false, 0x26011234, 0, f.u.data.fopts, 2, plain),
                     LW_OK);
    assert_memory_equal(plain, fopts, 2);
    /* A replayed join-accept (same JoinNonce) is refused after a new join-request. */
    uint8_t jr[23], ja[17];
    assert_int_equal(se_build_join_request(&e, jr), SE_OK);
    lw_session_keys_11 k2;
    network_answer_join(jr, NWK_KEY, APP_KEY, true, 1, ja, &k2, NULL);
    se_join_result r;
    assert_int_equal(se_process_join_accept(&e, ja, sizeof(ja), &r), SE_ERR_REPLAY);
    lw_session_keys_11_release(c, &k);
    lw_session_keys_11_release(c, &k2);
}

/* One 1.1 downlink built by the network with the reference helpers:
 * FOpts encrypted under AFCntDown's (FPort > 0) or NFCntDown's block,
 * ConfFCnt in B0 when it acknowledges. */
static size_t network_downlink_11(const lw_session_keys_11 *k, bool ack, uint16_t conf_fcnt, uint32_t fcnt,
                                  const uint8_t *fopts, uint8_t fopts_len, uint8_t fport, const uint8_t *msg,
                                  size_t len, uint8_t *down, size_t cap)
{
    const lw_crypto *c = lw_crypto_software();
    uint8_t efopts[15], enc[32];
    assert_int_equal(lw_fopts_crypt_11(c, &k->nwk_s_enc_key, false, fport > 0, 0x26011234, fcnt, fopts, fopts_len,
                                       efopts), LW_OK);
    assert_int_equal(lw_frm_payload_crypt(c, fport == 0 ? &k->nwk_s_enc_key : &k->app_s_key, false, 0x26011234,
                                          fcnt, msg, len, enc), LW_OK);
    lw_frame d = {.mtype = LW_MTYPE_CONFIRMED_DATA_DOWN};
    d.u.data.dev_addr = 0x26011234;
    d.u.data.fctrl.ack = ack;
    d.u.data.fctrl.fopts_len = fopts_len;
    d.u.data.fopts = efopts;
    d.u.data.fcnt = (uint16_t)fcnt;
    d.u.data.has_fport = len > 0;
    d.u.data.fport = fport;
    d.u.data.frm_payload = enc;
    d.u.data.frm_payload_len = len;
    size_t n = 0;
    uint8_t mic[4];
    assert_int_equal(lw_frame_encode(&d, down, cap, &n), LW_OK);
    lw_data_mic_params mp = {.dev_addr = 0x26011234, .fcnt = fcnt, .conf_fcnt = conf_fcnt};
    assert_int_equal(lw_mic_data_down_11(c, &k->s_nwk_s_int_key, &mp, down, n - 4, mic), LW_OK);
    assert_int_equal(lw_frame_set_mic(down, n, mic), LW_OK);
    return n;
}

/* 1.1 frames with every block field the element writes: a confirmed uplink
 * acknowledging a downlink (ConfFCnt, TxDr, TxCh in B1) with FOpts and an
 * FPort 0 payload; downlinks acknowledging a confirmed uplink (ConfFCnt in
 * B0) with FOpts under NFCntDown's and AFCntDown's blocks. */
static void test_1_1_confirmed_frames(void **state)
{
    (void)state;
    const lw_crypto *c = lw_crypto_software();
    ram_nvm nvm;
    se_nvm v;
    se e;
    personalised(&e, &nvm, &v, SE_MAC_1_1);
    lw_session_keys_11 k;
    join_and_check(&e, true, 1, &k, NULL);
    static const uint8_t fopts[3] = {0x03, 0x07, 0x01}, cmd[4] = {0x06, 0x0a, 0x0b, 0x0c};
    se_uplink up = {.confirmed = true, .ack = true, .conf_fcnt = 0x1234, .fopts = fopts, .fopts_len = 3,
                    .tx_dr = 3, .tx_ch = 7};
    uint8_t frame[64], mic[4], plain[20];
    size_t n = 0;
    assert_int_equal(se_protect_uplink(&e, &up, frame, sizeof(frame), &n), SE_OK);   /* FCntUp 0 */
    up.fopts_len = 0;
    up.has_fport = true;
    up.payload = cmd;
    up.payload_len = 4;
    up.conf_fcnt = 0x4321;
    assert_int_equal(se_protect_uplink(&e, &up, frame, sizeof(frame), &n), SE_OK);   /* FCntUp 1, FPort 0 */
    lw_frame f;
    assert_int_equal(lw_frame_decode(frame, n, &f), LW_OK);
    lw_data_mic_params mp = {.dev_addr = 0x26011234, .fcnt = 1, .conf_fcnt = 0x4321, .tx_dr = 3, .tx_ch = 7};
    assert_int_equal(lw_mic_data_up_11(c, &k.s_nwk_s_int_key, &k.f_nwk_s_int_key, &mp, frame, n - 4, mic), LW_OK);
    assert_true(lw_mic_equal(mic, f.mic));
    assert_int_equal(lw_frm_payload_crypt(c, &k.nwk_s_enc_key, true, 0x26011234, 1, f.u.data.frm_payload, 4, plain),
                     LW_OK);
    assert_memory_equal(plain, cmd, 4);
    up.payload_len = 0;
    up.has_fport = false;
    up.fopts_len = 3;
    assert_int_equal(se_protect_uplink(&e, &up, frame, sizeof(frame), &n), SE_OK);   /* FCntUp 2 */
    assert_int_equal(lw_frame_decode(frame, n, &f), LW_OK);
    mp.fcnt = 2;
    assert_int_equal(lw_mic_data_up_11(c, &k.s_nwk_s_int_key, &k.f_nwk_s_int_key, &mp, frame, n - 4, mic), LW_OK);
    assert_true(lw_mic_equal(mic, f.mic));
    assert_int_equal(lw_fopts_crypt_11(c, &k.nwk_s_enc_key, true, false, 0x26011234, 2, f.u.data.fopts, 3, plain),
                     LW_OK);
    assert_memory_equal(plain, fopts, 3);

    /* The element's last confirmed uplink was FCntUp 2. */
    uint8_t down[64], out[64];
    se_downlink dl;
    size_t dn = network_downlink_11(&k, true, 1, 4, fopts, 3, 0, NULL, 0, down, sizeof(down));
    assert_int_equal(se_unprotect_downlink(&e, down, dn, out, sizeof(out), &dl), SE_ERR_MIC);   /* ConfFCnt 1 */
    dn = network_downlink_11(&k, true, 2, 4, fopts, 3, 0, NULL, 0, down, sizeof(down));
    assert_int_equal(se_unprotect_downlink(&e, down, dn, out, sizeof(out), &dl), SE_OK);
    assert_int_equal(dl.fcnt, 4);
    assert_int_equal(dl.fopts_len, 3);
    assert_memory_equal(dl.fopts, fopts, 3);
    dn = network_downlink_11(&k, false, 0, 5, NULL, 0, 0, cmd, 4, down, sizeof(down));
    assert_int_equal(se_unprotect_downlink(&e, down, dn, out, sizeof(out), &dl), SE_OK);
    assert_int_equal(dl.fport, 0);
    assert_memory_equal(dl.payload, cmd, 4);
    /* FPort > 0: AFCntDown, and FOpts under its block; the ACK was taken,
     * so ConfFCnt is 0 now. */
    dn = network_downlink_11(&k, true, 0, 9, fopts, 3, 5, cmd, 4, down, sizeof(down));
    assert_int_equal(se_unprotect_downlink(&e, down, dn, out, sizeof(out), &dl), SE_OK);
    assert_int_equal(dl.fcnt, 9);
    assert_memory_equal(dl.fopts, fopts, 3);
    assert_memory_equal(dl.payload, cmd, 4);
    lw_session_keys_11_release(c, &k);
}

/* FCntUp is reserved in flash 32 at a time: most uplinks write nothing,
 * and after a reboot the counter resumes above every value used. */
static void test_uplinks_reserve_their_counter_in_blocks(void **state)
{
    (void)state;
    ram_nvm nvm;
    se_nvm v;
    se e;
    personalised(&e, &nvm, &v, SE_MAC_1_0_3);
    lw_session_keys_10 k;
    join_and_check(&e, false, 1, NULL, &k);
    lw_session_keys_10_release(lw_crypto_software(), &k);
    unsigned before = nvm.writes;
    se_uplink up = {.has_fport = true, .fport = 1, .payload = (const uint8_t *)"x", .payload_len = 1};
    uint8_t frame[64];
    size_t n = 0;
    for (int i = 0; i < 96; i++)
        assert_int_equal(se_protect_uplink(&e, &up, frame, sizeof(frame), &n), SE_OK);
    assert_true(nvm.writes - before <= 96 / SE_STORE_FCNT_UP_BLOCK + 1);   /* one slot per block */
    se_info info;
    assert_int_equal(se_info_after_boot(&v, &info), SE_OK);
    assert_true(info.fcnt_up >= 96 && info.fcnt_up <= 96 + SE_STORE_FCNT_UP_BLOCK);
    assert_int_equal(nvm.violations, 0);
}

static void test_rejoin_requests_and_their_answer(void **state)
{
    (void)state;
    const lw_crypto *c = lw_crypto_software();
    ram_nvm nvm;
    se_nvm v;
    se e;
    personalised(&e, &nvm, &v, SE_MAC_1_1);
    lw_session_keys_11 k;
    join_and_check(&e, true, 1, &k, NULL);
    lw_key nwk;
    lw_js_keys js;
    assert_int_equal(lw_key_from_bytes(&nwk, NWK_KEY, 16), LW_OK);
    assert_int_equal(lw_derive_js_keys(c, &nwk, DEV_EUI, &js), LW_OK);
    uint8_t frame[32], mic[4];
    size_t n = 0;
    lw_frame f;
    for (unsigned type = 0; type <= 2; type++) {
        for (unsigned round = 0; round < 2; round++) {
            assert_int_equal(se_build_rejoin_request(&e, (lw_rejoin_type)type, frame, sizeof(frame), &n), SE_OK);
            assert_int_equal(lw_frame_decode(frame, n, &f), LW_OK);
            assert_int_equal(f.mtype, LW_MTYPE_REJOIN_REQUEST);
            assert_int_equal(f.u.rejoin_request.type, type);
            assert_true(f.u.rejoin_request.dev_eui == DEV_EUI);
            /* RJcount0 is shared by types 0 and 2; RJcount1 is its own. */
            unsigned want = type == 1 ? round : (type == 0 ? round : 2 + round);
            assert_int_equal(f.u.rejoin_request.rj_count, want);
            const lw_key *key = type == 1 ? &js.js_int_key : &k.s_nwk_s_int_key;
            assert_int_equal(lw_mic_rejoin_request(c, key, frame, n - 4, mic), LW_OK);
            assert_true(lw_mic_equal(mic, f.mic));
        }
    }
    /* The answer to the last rejoin (type 2, RJcount0 = 3): encrypted with
     * JSEncKey, MIC with JSIntKey over JoinReqType 02 | JoinEUI | RJcount0. */
    lw_join_accept ja = {.join_nonce = 2, .net_id = 0x13, .dev_addr = 0x26019999, .dl_settings = LW_DL_OPTNEG};
    uint8_t plain[33], wire[33];
    assert_int_equal(lw_join_accept_build(&ja, plain, sizeof(plain), &n), LW_OK);
    assert_int_equal(lw_mic_join_accept_11(c, &js.js_int_key, 0x02, BOOT_JOIN_EUI, 3, plain, n, plain + n), LW_OK);
    assert_int_equal(lw_join_accept_encrypt(c, &js.js_enc_key, plain, n + 4, wire, sizeof(wire)), LW_OK);
    se_join_result r;
    assert_int_equal(se_process_join_accept(&e, wire, n + 4, &r), SE_OK);
    assert_int_equal(r.dev_addr, 0x26019999);
    /* A 1.0 session has no rejoin-requests. */
    lw_session_keys_11_release(c, &k);
    lw_js_keys_release(c, &js);
    ram_nvm nvm10 = {0};
    se_nvm v10 = ram_nvm_bind(&nvm10);
    assert_int_equal(se_manufacture(&e, &v10, c, TRANSPORT), SE_OK);
    assert_int_equal(personalise(&e, SE_MAC_1_0_3), SE_OK);
    lw_session_keys_10 k10;
    join_and_check(&e, false, 1, NULL, &k10);
    assert_int_equal(se_build_rejoin_request(&e, LW_REJOIN_TYPE_0, frame, sizeof(frame), &n), SE_ERR_STATE);
    lw_session_keys_10_release(c, &k10);
}

static void stage_customer(se *e, uint8_t id, uint8_t attempts)
{
    uint8_t kek_bytes[16] = {0x55};
    lw_key kek;
    assert_int_equal(lw_key_from_bytes(&kek, kek_bytes, 16), LW_OK);
    se_profile_install p = {.id = id, .join_eui = CUST_JOIN_EUI, .mac_version = SE_MAC_1_1,
                            .max_join_attempts = attempts};
    wrap(kek_bytes, CUST_NWK, p.nwk_key_wrapped);
    wrap(kek_bytes, CUST_APP, p.app_key_wrapped);
    assert_int_equal(se_profile_stage(e, &kek, &p), SE_OK);
}

static void test_profile_trial_falls_back_after_attempts(void **state)
{
    (void)state;
    ram_nvm nvm;
    se_nvm v;
    se e;
    personalised(&e, &nvm, &v, SE_MAC_1_1);
    stage_customer(&e, 7, 3);
    assert_int_equal(se_profile_activate(&e, 7), SE_OK);
    uint8_t jr[23];
    lw_frame f;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(se_build_join_request(&e, jr), SE_OK);
        assert_int_equal(lw_frame_decode(jr, 23, &f), LW_OK);
        assert_true(f.u.join_request.join_eui == CUST_JOIN_EUI);
    }
    /* The fourth attempt goes back to the bootstrap profile by itself. */
    assert_int_equal(se_build_join_request(&e, jr), SE_OK);
    assert_int_equal(lw_frame_decode(jr, 23, &f), LW_OK);
    assert_true(f.u.join_request.join_eui == BOOT_JOIN_EUI);
    se_info info;
    assert_int_equal(se_get_info(&e, &info), SE_OK);
    assert_false(info.on_trial);
    assert_int_equal(info.active_slot, SE_SLOT_BOOTSTRAP);
    assert_int_equal(e.st.event_id, 1);
    assert_int_equal(e.st.fallback_reason, 1);
    assert_int_equal(e.st.fallback_attempts, 3);
    assert_int_equal(e.st.staged_slot, 1);   /* the left profile waits, staged */
    assert_int_equal(e.st.fallback_profile_id, 7);
}

static void test_profile_trial_confirmed_by_join_accept(void **state)
{
    (void)state;
    ram_nvm nvm;
    se_nvm v;
    se e;
    personalised(&e, &nvm, &v, SE_MAC_1_1);
    stage_customer(&e, 9, 2);
    assert_int_equal(se_profile_activate(&e, 9), SE_OK);
    uint8_t jr[23], ja[17];
    lw_session_keys_11 k;
    assert_int_equal(se_build_join_request(&e, jr), SE_OK);
    network_answer_join(jr, CUST_NWK, CUST_APP, true, 1, ja, &k, NULL);
    se_join_result r;
    assert_int_equal(se_process_join_accept(&e, ja, sizeof(ja), &r), SE_OK);
    se_info info;
    assert_int_equal(se_get_info(&e, &info), SE_OK);
    assert_false(info.on_trial);
    assert_int_equal(info.active_profile_id, 9);
    /* Bootstrap can never be deleted; the old fallback is now free to go. */
    assert_int_equal(se_profile_delete(&e, 0), SE_ERR_STATE);
    assert_int_equal(se_profile_delete(&e, 9), SE_ERR_STATE);
    assert_int_equal(se_return_to_bootstrap(&e), SE_OK);
    assert_int_equal(se_get_info(&e, &info), SE_OK);
    assert_int_equal(info.active_slot, SE_SLOT_BOOTSTRAP);
    lw_session_keys_11_release(lw_crypto_software(), &k);
}

/* Runs a life of the element, stopping when the NVM loses power. Returns
 * the DevNonces and FCntUps that left the element before the cut. */
typedef struct emitted {
    uint32_t max_dev_nonce_plus1;
    uint32_t max_fcnt_up_plus1;
} emitted;

static void life(se *e, ram_nvm *nvm, emitted *out)
{
    se_nvm v = ram_nvm_bind(nvm);
    if (se_boot(e, &v, lw_crypto_software()) != SE_OK) {
        if (se_manufacture(e, &v, lw_crypto_software(), TRANSPORT) != SE_OK)
            return;
    }
    if (e->st.lifecycle == SE_LIFECYCLE_BLANK && personalise(e, SE_MAC_1_0_3) != SE_OK)
        return;
    for (int round = 0; round < 4; round++) {
        uint8_t jr[23], ja[17];
        if (se_build_join_request(e, jr) != SE_OK)
            return;
        lw_frame f;
        assert_int_equal(lw_frame_decode(jr, 23, &f), LW_OK);
        if ((uint32_t)f.u.join_request.dev_nonce + 1 > out->max_dev_nonce_plus1)
            out->max_dev_nonce_plus1 = f.u.join_request.dev_nonce + 1u;
        lw_session_keys_10 k;
        network_answer_join(jr, NWK_KEY, APP_KEY, false, 100u + (uint32_t)round + f.u.join_request.dev_nonce, ja,
                            NULL, &k);
        lw_session_keys_10_release(lw_crypto_software(), &k);
        se_join_result r;
        if (se_process_join_accept(e, ja, sizeof(ja), &r) != SE_OK)
            return;
        out->max_fcnt_up_plus1 = 0;   /* a new session counts from 0 */
        for (int i = 0; i < 3; i++) {
            se_uplink up = {.has_fport = true, .fport = 1, .payload = jr, .payload_len = 4};
            uint8_t frame[64];
            size_t n;
            if (se_protect_uplink(e, &up, frame, sizeof(frame), &n) != SE_OK)
                return;
            assert_int_equal(lw_frame_decode(frame, n, &f), LW_OK);
            out->max_fcnt_up_plus1 = f.u.data.fcnt + 1u;
        }
    }
}

static void test_power_cut_at_every_write(void **state)
{
    (void)state;
    /* Count the writes of an uninterrupted life. */
    ram_nvm full = {0};
    se e;
    emitted em = {0};
    life(&e, &full, &em);
    unsigned total = full.writes;
    assert_true(total > 20);
    /* Programs and erases of se_manufacture: a cut among them may leave a
     * chip that was never manufactured. */
    ram_nvm fresh = {0};
    se_nvm fv = ram_nvm_bind(&fresh);
    assert_int_equal(se_manufacture(&e, &fv, lw_crypto_software(), TRANSPORT), SE_OK);
    unsigned factory_writes = fresh.writes;

    for (unsigned cut = 1; cut <= total; cut++) {
        ram_nvm nvm = {0};
        nvm.cut_at = cut;
        emitted before = {0};
        life(&e, &nvm, &before);
        assert_true(nvm.power_off);
        /* Power back: the element boots, then lives on. */
        nvm.power_off = 0;
        nvm.cut_at = 0;
        se_nvm v = ram_nvm_bind(&nvm);
        se after;
        se_status st = se_boot(&after, &v, lw_crypto_software());
        if (st == SE_ERR_CORRUPT) {
            assert_true(cut <= factory_writes);   /* the factory write itself was cut */
            continue;
        }
        assert_int_equal(st, SE_OK);
        assert_int_equal(nvm.violations, 0);
        if (after.st.lifecycle == SE_LIFECYCLE_BLANK)
            continue;
        /* No DevNonce that left the element can come out again. */
        uint8_t jr[23];
        assert_int_equal(se_build_join_request(&after, jr), SE_OK);
        lw_frame f;
        assert_int_equal(lw_frame_decode(jr, 23, &f), LW_OK);
        assert_true(f.u.join_request.dev_nonce >= before.max_dev_nonce_plus1);
        /* Nor an FCntUp, if the session survived. */
        if (after.st.session.valid)
            assert_true(after.st.session.fcnt_up >= before.max_fcnt_up_plus1);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blank_element_refuses_everything_but_personalisation),
        cmocka_unit_test(test_personalisation_is_once_and_checks_wrapping),
        cmocka_unit_test(test_join_1_0_uplink_downlink),
        cmocka_unit_test(test_join_1_1_uplink_mic),
        cmocka_unit_test(test_1_1_confirmed_frames),
        cmocka_unit_test(test_uplinks_reserve_their_counter_in_blocks),
        cmocka_unit_test(test_rejoin_requests_and_their_answer),
        cmocka_unit_test(test_profile_trial_falls_back_after_attempts),
        cmocka_unit_test(test_profile_trial_confirmed_by_join_accept),
        cmocka_unit_test(test_power_cut_at_every_write),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

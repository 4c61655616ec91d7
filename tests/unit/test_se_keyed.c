/*
 * test_se_keyed.c - the element's commands for LoRaMac-node's
 * secure-element API (docs/se-commands.md, "Commands for LoRaMac-node"),
 * through se_apdu_process with one buffer for command and answer, as the
 * driver ports/loramac-node/ferry-se reaches them: join and rejoin MICs
 * for the host's frames, the join-accept that returns the decrypted frame,
 * KEYED CMAC (compute, verify), KEY STREAM, MC SETUP, MLS DOWNLINK and the
 * last JoinNonce in GET INFO. Every result is checked against ferry's
 * LoRaWAN core computing from the keys the test personalised; every
 * refusal against the element's state image, which must not change.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "lorawan/lorawan.h"
#include "se/se_apdu.h"
#include "sehost/se_client.h"
#include "se_test_env.h"

static const uint8_t TRANSPORT[16] = {0x70, 0x71, 0x72, 0x73, 0x74, 0x75, 0x76, 0x77,
                                      0x78, 0x79, 0x7a, 0x7b, 0x7c, 0x7d, 0x7e, 0x7f};
static const uint8_t NWK_KEY[16] = {0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6,
                                    0xab, 0xf7, 0x15, 0x88, 0x09, 0xcf, 0x4f, 0x3c};
static const uint8_t APP_KEY[16] = {0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18,
                                    0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x20};
static const uint8_t MLS_KEY[16] = {0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28,
                                    0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f, 0x30};
#define DEV_EUI 0x0004A30B001C0530ull
#define JOIN_EUI 0x70B3D57ED0000001ull
#define DEV_ADDR 0x26012345u
#define NET_ID 0x000013u

typedef struct env {
    ram_nvm nvm;
    se_nvm v;
    se e;
    const lw_crypto *c;
    uint8_t mac;
    lw_session_keys_11 k;   /* 1.0.x: every network key is the NwkSKey */
} env;

static env E;

static void wrap(const uint8_t kek_bytes[16], const uint8_t key_bytes[16], uint8_t out[24])
{
    assert_int_equal(se_test_wrap(kek_bytes, key_bytes, out), LW_OK);
}

static void setup_element(uint8_t mac)
{
    memset(&E, 0, sizeof(E));
    E.c = lw_crypto_software();
    E.mac = mac;
    E.v = ram_nvm_bind(&E.nvm);
    assert_int_equal(se_manufacture(&E.e, &E.v, E.c, TRANSPORT), SE_OK);
    se_personalisation p = {.dev_eui = DEV_EUI, .serial = 1, .join_eui = JOIN_EUI, .mac_version = mac};
    wrap(TRANSPORT, NWK_KEY, p.nwk_key_wrapped);
    wrap(TRANSPORT, APP_KEY, p.app_key_wrapped);
    wrap(TRANSPORT, MLS_KEY, p.mls_key_wrapped);
    assert_int_equal(se_personalise(&E.e, &p), SE_OK);
}

/* One APDU, one buffer; the status word's se_status; data to out. */
static se_status apdu(uint8_t ins, uint8_t p1, uint8_t p2, const uint8_t *data, size_t lc, uint8_t *out,
                      size_t *out_len)
{
    uint8_t buf[SE_APDU_BUFFER];
    size_t len = 4;
    buf[0] = SE_CLA;
    buf[1] = ins;
    buf[2] = p1;
    buf[3] = p2;
    if (lc > 0) {
        buf[len++] = (uint8_t)lc;
        memcpy(buf + len, data, lc);
        len += lc;
    }
    buf[len++] = 0;
    size_t n = 0;
    se_status st = se_apdu_process(&E.e, buf, len, buf, sizeof(buf), &n);
    assert_true(n >= 2);
    assert_int_equal(se_status_from_sw((uint16_t)(buf[n - 2] << 8 | buf[n - 1])), st);
    if (out != NULL)
        memcpy(out, buf, n - 2);
    if (out_len != NULL)
        *out_len = n - 2;
    return st;
}

/* The element's whole state, to prove a refusal changed nothing (RAM and,
 * through a reboot, flash). */
typedef struct snapshot {
    uint8_t ram[SE_STATE_IMAGE_LEN];
    uint8_t flash[SE_STATE_IMAGE_LEN];
} snapshot;

static void take(snapshot *s)
{
    size_t n = 0;
    assert_int_equal(se_state_serialize(&E.e.st, s->ram, sizeof(s->ram), &n), SE_OK);
    se again;
    assert_int_equal(se_boot(&again, &E.v, E.c), SE_OK);
    assert_int_equal(se_state_serialize(&again.st, s->flash, sizeof(s->flash), &n), SE_OK);
}

static void assert_unchanged(const snapshot *before)
{
    snapshot now;
    take(&now);
    assert_memory_equal(before->ram, now.ram, SE_STATE_IMAGE_LEN);
    assert_memory_equal(before->flash, now.flash, SE_STATE_IMAGE_LEN);
}

/* A refusal: the status, and nothing changed. */
static void refused(se_status want, uint8_t ins, uint8_t p1, uint8_t p2, const uint8_t *data, size_t lc)
{
    snapshot s;
    take(&s);
    bool pending = E.e.pending.active;
    assert_int_equal(apdu(ins, p1, p2, data, lc, NULL, NULL), want);
    assert_unchanged(&s);
    assert_int_equal(E.e.pending.active, pending);
}

static void join_frame(uint16_t dev_nonce, uint8_t out[19])
{
    out[0] = 0x00;
    lw_put_le(out + 1, JOIN_EUI, 8);
    lw_put_le(out + 9, DEV_EUI, 8);
    lw_put_le(out + 17, dev_nonce, 2);
}

static uint32_t info_u(size_t off, size_t n)
{
    uint8_t r[SE_INFO_LEN];
    size_t len = 0;
    assert_int_equal(apdu(SE_INS_GET_INFO, 0, 0, NULL, 0, r, &len), SE_OK);
    assert_int_equal(len, SE_INFO_LEN);
    return (uint32_t)lw_get_be(r + off, n);
}

/* Join with the host's DevNonce, then the join-accept in LoRaMac-node's
 * form (decrypted frame back); E.k gets the session keys. */
static void join(uint16_t dev_nonce, uint32_t join_nonce)
{
    uint8_t frame[19], mic[4], want[4], r[64];
    size_t n = 0;
    join_frame(dev_nonce, frame);
    assert_int_equal(apdu(SE_INS_JOIN_REQUEST, SE_P_HOST_FRAME, 0, frame, 19, mic, &n), SE_OK);
    assert_int_equal(n, 4);
    lw_key nwk, app;
    assert_int_equal(lw_key_from_bytes(&nwk, NWK_KEY, 16), LW_OK);
    assert_int_equal(lw_key_from_bytes(&app, APP_KEY, 16), LW_OK);
    assert_int_equal(lw_mic_join_request(E.c, &nwk, frame, 19, want), LW_OK);
    assert_memory_equal(mic, want, 4);
    assert_int_equal(info_u(31, 3), (uint32_t)dev_nonce + 1);

    bool v11 = E.mac == SE_MAC_1_1;
    lw_join_accept ja = {.join_nonce = join_nonce, .net_id = NET_ID, .dev_addr = DEV_ADDR,
                         .dl_settings = v11 ? LW_DL_OPTNEG : 0, .rx_delay = 1};
    uint8_t plain[33], wire[33];
    size_t len = 0;
    assert_int_equal(lw_join_accept_build(&ja, plain, sizeof(plain), &len), LW_OK);
    if (v11) {
        lw_js_keys js;
        assert_int_equal(lw_derive_js_keys(E.c, &nwk, DEV_EUI, &js), LW_OK);
        assert_int_equal(lw_mic_join_accept_11(E.c, &js.js_int_key, LW_JOIN_REQ_TYPE_JOIN, JOIN_EUI, dev_nonce, plain,
                                               len, plain + len), LW_OK);
        lw_js_keys_release(E.c, &js);
    } else {
        assert_int_equal(lw_mic_join_accept_10(E.c, &nwk, plain, len, plain + len), LW_OK);
    }
    assert_int_equal(lw_join_accept_encrypt(E.c, &nwk, plain, len + 4, wire, sizeof(wire)), LW_OK);
    assert_int_equal(apdu(SE_INS_JOIN_ACCEPT, SE_P_HOST_FRAME, 0, wire, len + 4, r, &n), SE_OK);
    assert_int_equal(n, len + 4);
    assert_memory_equal(r, plain, len + 4);   /* LoRaMac-node gets the frame decrypted, MIC included */
    if (v11) {
        assert_int_equal(lw_derive_session_keys_11(E.c, &nwk, &app, join_nonce, JOIN_EUI, dev_nonce, &E.k), LW_OK);
    } else {
        lw_session_keys_10 k10;
        assert_int_equal(lw_derive_session_keys_10(E.c, &nwk, join_nonce, NET_ID, dev_nonce, &k10), LW_OK);
        E.k.f_nwk_s_int_key = k10.nwk_s_key;
        E.k.s_nwk_s_int_key = k10.nwk_s_key;
        E.k.nwk_s_enc_key = k10.nwk_s_key;
        E.k.app_s_key = k10.app_s_key;
    }
    /* GET INFO: joined, the JoinNonce at its new offset, flag bit 2. */
    assert_int_equal(info_u(28, 1) & (SE_INFO_JOINED | SE_INFO_HAS_JOIN_NONCE), SE_INFO_JOINED | SE_INFO_HAS_JOIN_NONCE);
    assert_int_equal(info_u(58, 3), join_nonce);
    /* The same join-accept again: nothing outstanding. */
    refused(SE_ERR_STATE, SE_INS_JOIN_ACCEPT, SE_P_HOST_FRAME, 0, wire, len + 4);
}

/* The 13 block bytes: b1..b4, dir, DevAddr LE, FCnt LE. */
static void fields(uint8_t f[13], const uint8_t b14[4], uint8_t dir, uint32_t addr, uint32_t fcnt)
{
    memcpy(f, b14, 4);
    f[4] = dir;
    lw_put_le(f + 5, addr, 4);
    lw_put_le(f + 9, fcnt, 4);
}

static const uint8_t ZERO4[4] = {0};

static void test_join_request_host_frame(void **state)
{
    (void)state;
    setup_element(SE_MAC_1_0_4);
    uint8_t frame[19];
    /* Before any join: LoRaMac-node's DevNonce may jump ahead (5). */
    join_frame(5, frame);
    uint8_t mic[4];
    size_t n = 0;
    assert_int_equal(apdu(SE_INS_JOIN_REQUEST, SE_P_HOST_FRAME, 0, frame, 19, mic, &n), SE_OK);
    assert_int_equal(info_u(31, 3), 6);
    /* Replayed and older DevNonces: refused, nothing changes. */
    refused(SE_ERR_REPLAY, SE_INS_JOIN_REQUEST, SE_P_HOST_FRAME, 0, frame, 19);
    join_frame(4, frame);
    refused(SE_ERR_REPLAY, SE_INS_JOIN_REQUEST, SE_P_HOST_FRAME, 0, frame, 19);
    /* Another JoinEUI, another DevEUI, not a join-request, wrong length. */
    join_frame(9, frame);
    frame[1] ^= 1;
    refused(SE_ERR_ARGUMENT, SE_INS_JOIN_REQUEST, SE_P_HOST_FRAME, 0, frame, 19);
    frame[1] ^= 1;
    frame[12] ^= 1;
    refused(SE_ERR_ARGUMENT, SE_INS_JOIN_REQUEST, SE_P_HOST_FRAME, 0, frame, 19);
    frame[12] ^= 1;
    frame[0] = 0x40;
    refused(SE_ERR_ARGUMENT, SE_INS_JOIN_REQUEST, SE_P_HOST_FRAME, 0, frame, 19);
    frame[0] = 0;
    refused(SE_ERR_LENGTH, SE_INS_JOIN_REQUEST, SE_P_HOST_FRAME, 0, frame, 18);
    /* The last DevNonce there is, then none. */
    join_frame(0xFFFF, frame);
    assert_int_equal(apdu(SE_INS_JOIN_REQUEST, SE_P_HOST_FRAME, 0, frame, 19, mic, &n), SE_OK);
    assert_int_equal(info_u(31, 3), 0x10000);
    refused(SE_ERR_COUNTER, SE_INS_JOIN_REQUEST, SE_P_HOST_FRAME, 0, frame, 19);
}

static void test_join_accept_frame_10(void **state)
{
    (void)state;
    setup_element(SE_MAC_1_0_4);
    /* Without a join outstanding: refused. */
    uint8_t junk[17] = {0x20};
    refused(SE_ERR_STATE, SE_INS_JOIN_ACCEPT, SE_P_HOST_FRAME, 0, junk, 17);
    join(3, 1);
    /* Keyed commands work in 1.0.x: NwkSKey for every network role. */
    uint8_t f[13], msg[12] = {0x40}, mic[4], want[16];
    size_t n = 0;
    fields(f, ZERO4, 0, DEV_ADDR, 7);
    uint8_t d[13 + sizeof(msg)];
    memcpy(d, f, 13);
    memcpy(d + 13, msg, sizeof(msg));
    assert_int_equal(apdu(SE_INS_KEYED_CMAC, SE_KEY_F_NWK_S_INT, 0, d, sizeof(d), mic, &n), SE_OK);
    uint8_t b0[16] = {0x49};
    memcpy(b0 + 1, f, 13);
    b0[15] = sizeof(msg);
    assert_int_equal(lw_cmac_prefixed(E.c, &E.k.f_nwk_s_int_key, b0, 16, msg, sizeof(msg), want), LW_OK);
    assert_memory_equal(mic, want, 4);
    /* 1.0.x has no B1: ConfFCnt bytes on SNwkSIntKey refused. */
    static const uint8_t conf[4] = {1, 0, 0, 0};
    fields(d, conf, 1, DEV_ADDR, 7);
    refused(SE_ERR_ARGUMENT, SE_INS_KEYED_CMAC, SE_KEY_S_NWK_S_INT, 0, d, sizeof(d));
    /* Rejoin-requests exist in 1.1 only. */
    uint8_t rj[15] = {0xC0, 0x00};
    refused(SE_ERR_STATE, SE_INS_REJOIN_REQUEST, 0, SE_P_HOST_FRAME, rj, 15);
}

static void test_keyed_cmac_11(void **state)
{
    (void)state;
    setup_element(SE_MAC_1_1);
    uint8_t d[13 + 32 + 4], mic[4], full[16], b[16];
    size_t n = 0;
    uint8_t msg[32];
    for (unsigned i = 0; i < sizeof(msg); i++)
        msg[i] = (uint8_t)(i * 7);
    fields(d, ZERO4, 0, DEV_ADDR, 1);
    memcpy(d + 13, msg, sizeof(msg));
    /* No session yet. */
    refused(SE_ERR_NO_SESSION, SE_INS_KEYED_CMAC, SE_KEY_F_NWK_S_INT, 0, d, 13 + 32);
    join(0, 1);

    /* B0 under FNwkSIntKey, B1 (ConfFCnt, TxDr, TxCh) under SNwkSIntKey. */
    assert_int_equal(apdu(SE_INS_KEYED_CMAC, SE_KEY_F_NWK_S_INT, 0, d, 13 + 32, mic, &n), SE_OK);
    assert_int_equal(n, 4);
    memset(b, 0, 16);
    b[0] = 0x49;
    memcpy(b + 1, d, 13);
    b[15] = 32;
    assert_int_equal(lw_cmac_prefixed(E.c, &E.k.f_nwk_s_int_key, b, 16, msg, 32, full), LW_OK);
    assert_memory_equal(mic, full, 4);
    static const uint8_t b1[4] = {0x05, 0x00, 0x03, 0x02};
    fields(d, b1, 0, DEV_ADDR, 1);
    assert_int_equal(apdu(SE_INS_KEYED_CMAC, SE_KEY_S_NWK_S_INT, 0, d, 13 + 32, mic, &n), SE_OK);
    memcpy(b + 1, d, 13);
    assert_int_equal(lw_cmac_prefixed(E.c, &E.k.s_nwk_s_int_key, b, 16, msg, 32, full), LW_OK);
    assert_memory_equal(mic, full, 4);

    /* Verify: the right MIC passes, a wrong one is 6982; neither commits. */
    memcpy(d + 13 + 32, full, 4);
    snapshot s;
    take(&s);
    assert_int_equal(apdu(SE_INS_KEYED_CMAC, SE_KEY_S_NWK_S_INT, SE_P_VERIFY, d, sizeof(d), NULL, &n), SE_OK);
    assert_int_equal(n, 0);
    assert_unchanged(&s);
    d[sizeof(d) - 1] ^= 1;
    refused(SE_ERR_MIC, SE_INS_KEYED_CMAC, SE_KEY_S_NWK_S_INT, SE_P_VERIFY, d, sizeof(d));
    d[sizeof(d) - 1] ^= 1;

    /* Wrong key ids: none, a key-stream key, an unknown one, a multicast
     * group never set up, McAppSKey for a MIC. */
    static const uint8_t bad_ids[] = {0x00, SE_KEY_NWK_S_ENC, SE_KEY_APP_S, 0x05, 0x30, SE_KEY_MC_APP_S | 1,
                                      SE_KEY_MC_NWK_S | 4};
    for (unsigned i = 0; i < sizeof(bad_ids); i++)
        refused(SE_ERR_ARGUMENT, SE_INS_KEYED_CMAC, bad_ids[i], 0, d, 13 + 32);
    refused(SE_ERR_STATE, SE_INS_KEYED_CMAC, SE_KEY_MC_NWK_S | 1, 0, (uint8_t[13 + 4]){0, 0, 0, 0, 1}, 13 + 4);
    /* Wrong shape: another DevAddr, direction 2, FNwkSIntKey for a
     * downlink or with B1 bytes, no message, too short. */
    fields(d, ZERO4, 0, DEV_ADDR + 1, 1);
    refused(SE_ERR_ARGUMENT, SE_INS_KEYED_CMAC, SE_KEY_F_NWK_S_INT, 0, d, 13 + 32);
    fields(d, ZERO4, 2, DEV_ADDR, 1);
    refused(SE_ERR_ARGUMENT, SE_INS_KEYED_CMAC, SE_KEY_S_NWK_S_INT, 0, d, 13 + 32);
    fields(d, ZERO4, 1, DEV_ADDR, 1);
    refused(SE_ERR_ARGUMENT, SE_INS_KEYED_CMAC, SE_KEY_F_NWK_S_INT, 0, d, 13 + 32);
    fields(d, b1, 0, DEV_ADDR, 1);
    refused(SE_ERR_ARGUMENT, SE_INS_KEYED_CMAC, SE_KEY_F_NWK_S_INT, 0, d, 13 + 32);
    refused(SE_ERR_LENGTH, SE_INS_KEYED_CMAC, SE_KEY_S_NWK_S_INT, 0, d, 13);
    refused(SE_ERR_LENGTH, SE_INS_KEYED_CMAC, SE_KEY_S_NWK_S_INT, SE_P_VERIFY, d, 13 + 4);
}

static void test_key_stream(void **state)
{
    (void)state;
    setup_element(SE_MAC_1_1);
    uint8_t f[13], out[16], want[16], a[16];
    size_t n = 0;
    fields(f, ZERO4, 1, DEV_ADDR, 0x12345);
    refused(SE_ERR_NO_SESSION, SE_INS_KEY_STREAM, SE_KEY_APP_S, 1, f, 13);
    join(0, 1);
    assert_int_equal(apdu(SE_INS_KEY_STREAM, SE_KEY_APP_S, 2, f, 13, out, &n), SE_OK);
    assert_int_equal(n, 16);
    memset(a, 0, 16);
    a[0] = 0x01;
    memcpy(a + 1, f, 13);
    a[15] = 2;
    assert_int_equal(lw_aes_encrypt(E.c, &E.k.app_s_key, a, want), LW_OK);
    assert_memory_equal(out, want, 16);
    /* And against the core's payload cipher: a zero payload's key stream. */
    uint8_t zeros[32] = {0}, ks[32];
    assert_int_equal(lw_frm_payload_crypt(E.c, &E.k.app_s_key, false, DEV_ADDR, 0x12345, zeros, 32, ks), LW_OK);
    assert_memory_equal(out, ks + 16, 16);
    /* NwkSEncKey with the 1.1.1 FOpts type in byte 4. */
    static const uint8_t fopts_type[4] = {0, 0, 0, 2};
    fields(f, fopts_type, 1, DEV_ADDR, 9);
    assert_int_equal(apdu(SE_INS_KEY_STREAM, SE_KEY_NWK_S_ENC, 1, f, 13, out, &n), SE_OK);
    memcpy(a + 1, f, 13);
    a[15] = 1;
    assert_int_equal(lw_aes_encrypt(E.c, &E.k.nwk_s_enc_key, a, want), LW_OK);
    assert_memory_equal(out, want, 16);
    /* Refused: the FOpts type on AppSKey, byte 2 set, type 3, direction 2,
     * another DevAddr, MIC keys, wrong length. */
    refused(SE_ERR_ARGUMENT, SE_INS_KEY_STREAM, SE_KEY_APP_S, 1, f, 13);
    static const uint8_t b2[4] = {0, 1, 0, 0}, t3[4] = {0, 0, 0, 3};
    fields(f, b2, 1, DEV_ADDR, 9);
    refused(SE_ERR_ARGUMENT, SE_INS_KEY_STREAM, SE_KEY_NWK_S_ENC, 1, f, 13);
    fields(f, t3, 1, DEV_ADDR, 9);
    refused(SE_ERR_ARGUMENT, SE_INS_KEY_STREAM, SE_KEY_NWK_S_ENC, 1, f, 13);
    fields(f, ZERO4, 2, DEV_ADDR, 9);
    refused(SE_ERR_ARGUMENT, SE_INS_KEY_STREAM, SE_KEY_APP_S, 1, f, 13);
    fields(f, ZERO4, 0, DEV_ADDR ^ 0x100, 9);
    refused(SE_ERR_ARGUMENT, SE_INS_KEY_STREAM, SE_KEY_APP_S, 1, f, 13);
    fields(f, ZERO4, 0, DEV_ADDR, 9);
    refused(SE_ERR_ARGUMENT, SE_INS_KEY_STREAM, SE_KEY_F_NWK_S_INT, 1, f, 13);
    refused(SE_ERR_ARGUMENT, SE_INS_KEY_STREAM, SE_KEY_S_NWK_S_INT, 1, f, 13);
    refused(SE_ERR_LENGTH, SE_INS_KEY_STREAM, SE_KEY_APP_S, 1, f, 12);
}

static void test_rejoin_host_frame(void **state)
{
    (void)state;
    setup_element(SE_MAC_1_1);
    uint8_t rj0[15], rj1[20], mic[4], want[4];
    size_t n = 0;
    rj0[0] = 0xC0;
    rj0[1] = 0x00;
    lw_put_le(rj0 + 2, NET_ID, 3);
    lw_put_le(rj0 + 5, DEV_EUI, 8);
    lw_put_le(rj0 + 13, 3, 2);
    refused(SE_ERR_NO_SESSION, SE_INS_REJOIN_REQUEST, 0, SE_P_HOST_FRAME, rj0, 15);
    join(0, 1);
    /* Type 0 with the stack's RJcount0 3 (ahead of the element's 0). */
    assert_int_equal(apdu(SE_INS_REJOIN_REQUEST, 0, SE_P_HOST_FRAME, rj0, 15, mic, &n), SE_OK);
    assert_int_equal(n, 4);
    assert_int_equal(lw_mic_rejoin_request(E.c, &E.k.s_nwk_s_int_key, rj0, 15, want), LW_OK);
    assert_memory_equal(mic, want, 4);
    /* Type 2 shares RJcount0: 3 again is a replay, 4 goes. */
    rj0[1] = 0x02;
    refused(SE_ERR_REPLAY, SE_INS_REJOIN_REQUEST, 2, SE_P_HOST_FRAME, rj0, 15);
    lw_put_le(rj0 + 13, 4, 2);
    assert_int_equal(apdu(SE_INS_REJOIN_REQUEST, 2, SE_P_HOST_FRAME, rj0, 15, mic, &n), SE_OK);
    /* Another NetID: not this session's frame. */
    rj0[2] ^= 1;
    lw_put_le(rj0 + 13, 9, 2);
    refused(SE_ERR_ARGUMENT, SE_INS_REJOIN_REQUEST, 2, SE_P_HOST_FRAME, rj0, 15);
    /* Type 1 under JSIntKey, and its length checked. */
    rj1[0] = 0xC0;
    rj1[1] = 0x01;
    lw_put_le(rj1 + 2, JOIN_EUI, 8);
    lw_put_le(rj1 + 10, DEV_EUI, 8);
    lw_put_le(rj1 + 18, 1, 2);
    refused(SE_ERR_LENGTH, SE_INS_REJOIN_REQUEST, 1, SE_P_HOST_FRAME, rj1, 19);
    assert_int_equal(apdu(SE_INS_REJOIN_REQUEST, 1, SE_P_HOST_FRAME, rj1, 20, mic, &n), SE_OK);
    lw_key nwk;
    lw_js_keys js;
    assert_int_equal(lw_key_from_bytes(&nwk, NWK_KEY, 16), LW_OK);
    assert_int_equal(lw_derive_js_keys(E.c, &nwk, DEV_EUI, &js), LW_OK);
    assert_int_equal(lw_mic_rejoin_request(E.c, &js.js_int_key, rj1, 20, want), LW_OK);
    assert_memory_equal(mic, want, 4);
    lw_js_keys_release(E.c, &js);
    refused(SE_ERR_REPLAY, SE_INS_REJOIN_REQUEST, 1, SE_P_HOST_FRAME, rj1, 20);
}

static void test_mc_setup(void **state)
{
    (void)state;
    setup_element(SE_MAC_1_1);
    join(0, 1);
    /* TS005: McRootKey = AES(AppKey, 20 | 0..), McKEKey = AES(McRootKey, 0),
     * McKey = AES-encrypt(McKEKey, McKey_encrypted). */
    lw_key app, root, kek, mck, mc_app, mc_nwk;
    uint8_t t[16] = {0x20}, zero[16] = {0}, mckey[16], enc[16], blk[16];
    for (int i = 0; i < 16; i++)
        mckey[i] = (uint8_t)(0xA0 + i);
    assert_int_equal(lw_key_from_bytes(&app, APP_KEY, 16), LW_OK);
    assert_int_equal(lw_aes_encrypt(E.c, &app, t, t), LW_OK);
    assert_int_equal(lw_key_from_bytes(&root, t, 16), LW_OK);
    assert_int_equal(lw_aes_encrypt(E.c, &root, zero, t), LW_OK);
    assert_int_equal(lw_key_from_bytes(&kek, t, 16), LW_OK);
    assert_int_equal(lw_aes_decrypt(E.c, &kek, mckey, enc), LW_OK);
    assert_int_equal(lw_key_from_bytes(&mck, mckey, 16), LW_OK);
    const uint32_t mc_addr = 0x01FF0042;
    memset(blk, 0, 16);
    blk[0] = 1;
    lw_put_le(blk + 1, mc_addr, 4);
    assert_int_equal(lw_aes_encrypt(E.c, &mck, blk, t), LW_OK);
    assert_int_equal(lw_key_from_bytes(&mc_app, t, 16), LW_OK);
    blk[0] = 2;
    assert_int_equal(lw_aes_encrypt(E.c, &mck, blk, t), LW_OK);
    assert_int_equal(lw_key_from_bytes(&mc_nwk, t, 16), LW_OK);

    uint8_t d[20];
    memcpy(d, enc, 16);
    lw_put_be(d + 16, mc_addr, 4);
    /* Refused: group 4, a root-key block type other than 00/20, length. */
    refused(SE_ERR_ARGUMENT, SE_INS_MC_SETUP, 4, 0x20, d, 20);
    refused(SE_ERR_ARGUMENT, SE_INS_MC_SETUP, 2, 0x10, d, 20);
    refused(SE_ERR_LENGTH, SE_INS_MC_SETUP, 2, 0x20, d, 16);
    assert_int_equal(apdu(SE_INS_MC_SETUP, 2, 0x20, d, 20, NULL, NULL), SE_OK);

    /* It survives a reboot: the group is in flash. */
    assert_int_equal(se_boot(&E.e, &E.v, E.c), SE_OK);
    uint8_t f[13 + 8], out[16], want[16], a[16];
    size_t n = 0;
    fields(f, ZERO4, 1, mc_addr, 5);
    assert_int_equal(apdu(SE_INS_KEY_STREAM, SE_KEY_MC_APP_S | 2, 1, f, 13, out, &n), SE_OK);
    memset(a, 0, 16);
    a[0] = 1;
    memcpy(a + 1, f, 13);
    a[15] = 1;
    assert_int_equal(lw_aes_encrypt(E.c, &mc_app, a, want), LW_OK);
    assert_memory_equal(out, want, 16);
    /* A group downlink MIC under McNwkSKey: compute, verify. */
    static const uint8_t msg[8] = {0x60, 0x42, 0x00, 0xFF, 0x01, 0x00, 0x05, 0x00};
    memcpy(f + 13, msg, 8);
    assert_int_equal(apdu(SE_INS_KEYED_CMAC, SE_KEY_MC_NWK_S | 2, 0, f, 21, out, &n), SE_OK);
    uint8_t b0[16] = {0x49};
    memcpy(b0 + 1, f, 13);
    b0[15] = 8;
    assert_int_equal(lw_cmac_prefixed(E.c, &mc_nwk, b0, 16, msg, 8, want), LW_OK);
    assert_memory_equal(out, want, 4);
    /* Multicast is downlink only, at its own address, never McAppSKey for a MIC. */
    fields(f, ZERO4, 0, mc_addr, 5);
    refused(SE_ERR_ARGUMENT, SE_INS_KEY_STREAM, SE_KEY_MC_APP_S | 2, 1, f, 13);
    fields(f, ZERO4, 1, DEV_ADDR, 5);
    refused(SE_ERR_ARGUMENT, SE_INS_KEY_STREAM, SE_KEY_MC_APP_S | 2, 1, f, 13);
    fields(f, ZERO4, 1, mc_addr, 5);
    refused(SE_ERR_ARGUMENT, SE_INS_KEYED_CMAC, SE_KEY_MC_APP_S | 2, 0, f, 21);
    refused(SE_ERR_STATE, SE_INS_KEY_STREAM, SE_KEY_MC_APP_S | 3, 1, f, 13);
    /* A multicast group of another profile is unusable: the element back
     * on its bootstrap profile under another id would refuse it (the
     * owner is stored with the group). */
    assert_int_equal(E.e.st.mc[2].profile_id, E.e.st.profiles[E.e.st.active_slot].id);
}

static void test_mls_downlink(void **state)
{
    (void)state;
    setup_element(SE_MAC_1_0_4);
    /* A fragment that does not open: consumed, flags say MLS, nothing
     * committed. */
    static const uint8_t junk[6] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06};
    snapshot s;
    take(&s);
    uint8_t r[4];
    size_t n = 0;
    assert_int_equal(apdu(SE_INS_MLS_DOWNLINK, 0, 0, junk, sizeof(junk), r, &n), SE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(r[0] & SE_DOWN_MLS, SE_DOWN_MLS);
    assert_int_equal(r[0] & SE_DOWN_SECURE, 0);
    assert_unchanged(&s);
    refused(SE_ERR_LENGTH, SE_INS_MLS_DOWNLINK, 0, 0, NULL, 0);
}

/* A trial profile whose attempts are spent: the host's next join-request,
 * built for the trial profile, makes the element fall back; the fallback is
 * committed, the answer is 6985, GET INFO names the bootstrap profile, and
 * a join-request built for it then goes. */
static void test_join_request_after_fallback(void **state)
{
    (void)state;
    setup_element(SE_MAC_1_0_4);
    const uint64_t cust_eui = 0x70B3D57ED00A0000ull;
    uint8_t kek_bytes[16] = {0x55}, cust[16] = {0x66};
    lw_key kek;
    assert_int_equal(lw_key_from_bytes(&kek, kek_bytes, 16), LW_OK);
    se_profile_install p = {.id = 7, .join_eui = cust_eui, .mac_version = SE_MAC_1_0_4, .max_join_attempts = 1};
    wrap(kek_bytes, cust, p.nwk_key_wrapped);
    wrap(kek_bytes, cust, p.app_key_wrapped);
    assert_int_equal(se_profile_stage(&E.e, &kek, &p), SE_OK);
    assert_int_equal(se_profile_activate(&E.e, 7), SE_OK);
    uint8_t frame[19], mic[4];
    size_t n = 0;
    join_frame(0, frame);
    lw_put_le(frame + 1, cust_eui, 8);
    assert_int_equal(apdu(SE_INS_JOIN_REQUEST, SE_P_HOST_FRAME, 0, frame, 19, mic, &n), SE_OK);   /* attempt 1 */
    /* The attempt is spent: the next one for the trial profile falls back. */
    lw_put_le(frame + 17, 1, 2);
    assert_int_equal(apdu(SE_INS_JOIN_REQUEST, SE_P_HOST_FRAME, 0, frame, 19, mic, &n), SE_ERR_STATE);
    assert_int_equal(info_u(17, 1), SE_SLOT_BOOTSTRAP);
    assert_int_equal(info_u(19, 4), (uint32_t)(JOIN_EUI >> 32));
    assert_int_equal(info_u(23, 4), (uint32_t)JOIN_EUI);
    assert_int_equal(info_u(28, 1) & SE_INFO_ON_TRIAL, 0);
    /* Read again, built for the bootstrap profile: it goes (nothing of the
     * refused one was consumed). */
    uint32_t next = info_u(31, 3);
    join_frame((uint16_t)next, frame);
    assert_int_equal(apdu(SE_INS_JOIN_REQUEST, SE_P_HOST_FRAME, 0, frame, 19, mic, &n), SE_OK);
    assert_int_equal(info_u(31, 3), next + 1);
}

/* The host side (se_client) of every command, in process: the same
 * answers as the raw APDUs and ferry's LoRaWAN core. */
static void test_client_mirror(void **state)
{
    (void)state;
    setup_element(SE_MAC_1_1);
    se_client cl;
    se_client_open_local(&cl, &E.e);
    uint8_t frame[19], mic[4], want[16];
    join_frame(2, frame);
    assert_int_equal(se_client_join_request_mic(&cl, frame, mic), SE_OK);
    lw_key nwk, app;
    assert_int_equal(lw_key_from_bytes(&nwk, NWK_KEY, 16), LW_OK);
    assert_int_equal(lw_key_from_bytes(&app, APP_KEY, 16), LW_OK);
    assert_int_equal(lw_mic_join_request(E.c, &nwk, frame, 19, want), LW_OK);
    assert_memory_equal(mic, want, 4);
    assert_int_equal(se_client_join_request_mic(&cl, frame, mic), SE_ERR_REPLAY);

    lw_join_accept ja = {.join_nonce = 4, .net_id = NET_ID, .dev_addr = DEV_ADDR, .dl_settings = LW_DL_OPTNEG};
    uint8_t plain[33], wire[33], got[33];
    size_t len = 0;
    lw_js_keys js;
    assert_int_equal(lw_join_accept_build(&ja, plain, sizeof(plain), &len), LW_OK);
    assert_int_equal(lw_derive_js_keys(E.c, &nwk, DEV_EUI, &js), LW_OK);
    assert_int_equal(lw_mic_join_accept_11(E.c, &js.js_int_key, 0xFF, JOIN_EUI, 2, plain, len, plain + len), LW_OK);
    assert_int_equal(lw_join_accept_encrypt(E.c, &nwk, plain, len + 4, wire, sizeof(wire)), LW_OK);
    assert_int_equal(se_client_join_accept_frame(&cl, wire, len + 4, got), SE_OK);
    assert_memory_equal(got, plain, len + 4);
    assert_int_equal(lw_derive_session_keys_11(E.c, &nwk, &app, 4, JOIN_EUI, 2, &E.k), LW_OK);
    se_info info;
    assert_int_equal(se_client_get_info(&cl, &info), SE_OK);
    assert_true(info.joined && info.has_join_nonce && info.last_join_nonce == 4 && info.next_dev_nonce == 3);

    uint8_t f[13], msg[20], b[16];
    memset(msg, 0x3C, sizeof(msg));
    fields(f, ZERO4, 0, DEV_ADDR, 11);
    assert_int_equal(se_client_keyed_cmac(&cl, SE_KEY_F_NWK_S_INT, f, msg, sizeof(msg), mic), SE_OK);
    memset(b, 0, 16);
    b[0] = 0x49;
    memcpy(b + 1, f, 13);
    b[15] = sizeof(msg);
    assert_int_equal(lw_cmac_prefixed(E.c, &E.k.f_nwk_s_int_key, b, 16, msg, sizeof(msg), want), LW_OK);
    assert_memory_equal(mic, want, 4);
    fields(f, ZERO4, 1, DEV_ADDR, 11);
    b[5] = 1;
    assert_int_equal(lw_cmac_prefixed(E.c, &E.k.s_nwk_s_int_key, b, 16, msg, sizeof(msg), want), LW_OK);
    assert_int_equal(se_client_keyed_verify(&cl, SE_KEY_S_NWK_S_INT, f, msg, sizeof(msg), want), SE_OK);
    want[0] ^= 1;
    assert_int_equal(se_client_keyed_verify(&cl, SE_KEY_S_NWK_S_INT, f, msg, sizeof(msg), want), SE_ERR_MIC);
    uint8_t ks[16];
    assert_int_equal(se_client_key_stream(&cl, SE_KEY_APP_S, f, 1, ks), SE_OK);
    b[0] = 0x01;
    b[15] = 1;
    assert_int_equal(lw_aes_encrypt(E.c, &E.k.app_s_key, b, want), LW_OK);
    assert_memory_equal(ks, want, 16);
    uint8_t enc[16] = {0}, flags = 0;
    assert_int_equal(se_client_mc_setup(&cl, 0, 0x20, enc, 0x01020304), SE_OK);
    assert_int_equal(se_client_mc_setup(&cl, 0, 0x21, enc, 0x01020304), SE_ERR_ARGUMENT);
    static const uint8_t junk[3] = {1, 2, 3};
    assert_int_equal(se_client_mls_downlink(&cl, junk, sizeof(junk), &flags), SE_OK);
    assert_int_equal(flags & SE_DOWN_MLS, SE_DOWN_MLS);
    uint8_t rj[15] = {0xC0, 0x00};
    lw_put_le(rj + 2, NET_ID, 3);
    lw_put_le(rj + 5, DEV_EUI, 8);
    assert_int_equal(se_client_rejoin_request_mic(&cl, LW_REJOIN_TYPE_0, rj, sizeof(rj), mic), SE_OK);
    assert_int_equal(lw_mic_rejoin_request(E.c, &E.k.s_nwk_s_int_key, rj, sizeof(rj), want), LW_OK);
    assert_memory_equal(mic, want, 4);
    lw_js_keys_release(E.c, &js);
    se_client_close(&cl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_join_request_host_frame),
        cmocka_unit_test(test_join_accept_frame_10),
        cmocka_unit_test(test_keyed_cmac_11),
        cmocka_unit_test(test_key_stream),
        cmocka_unit_test(test_rejoin_host_frame),
        cmocka_unit_test(test_mc_setup),
        cmocka_unit_test(test_mls_downlink),
        cmocka_unit_test(test_join_request_after_fallback),
        cmocka_unit_test(test_client_mirror),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

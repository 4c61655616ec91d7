/*
 * test_js.c - the Join Server's request handling, driven directly through
 * js_handle_bi / js_handle_admin (no HTTP), with a real SoftHSM2 token and a
 * SQLite database in a temporary deployment made by js_deploy_init.
 *
 * Every answer is checked with independent software crypto
 * (lw_crypto_software): the join-accept is decrypted and its MIC verified
 * with the device's root keys, and each wrapped session key is unwrapped
 * with the peer's KEK and compared with the software derivation for the
 * JoinNonce and DevNonce of that accept. One deployment serves all tests
 * (SoftHSM2 allows one configuration per process); the tests use distinct
 * devices so that their order does not matter except where stated.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "js/js.h"
#include "js/js_internal.h"
#include "lorawan/lorawan.h"
#include "store/store_outbox.h"
#include "test_util.h"

#define JOIN_EUI 0x70B3D57ED0000000ull
#define HOME_NET 0x000013u
#define OTHER_NET 0x000014u
#define STRANGER 0x0000AAu

static const char *NS_KEK = "00112233445566778899AABBCCDDEEFF";
static const char *AS_KEK = "0F0E0D0C0B0A09080706050403020100";
static const char *TR_KEK = "A0A1A2A3A4A5A6A7A8A9AAABACADAEAF";
static const char *APPKEY_102 = "2B7E151628AED2A6ABF7158809CF4F3C";
static const char *APPKEY_104 = "000102030405060708090A0B0C0D0E0F";
static const char *NWKKEY_11 = "101112131415161718191A1B1C1D1E1F";
static const char *APPKEY_11 = "202122232425262728292A2B2C2D2E2F";

#define DEV_102 0x0004A30B001C0001ull
#define DEV_104 0x0004A30B001C0002ull
#define DEV_11  0x0004A30B001C0003ull

static char dir[256];
static char ns_token[80], sender_token[80];
static char admin_token[80];
static js_ctx *ctx;
static js_worker *w;
static uint32_t txn = 1;

/* ---------------------------------------------------------------- helpers */

static void read_token(const char *path, char *out, size_t cap)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    assert_non_null(fgets(out, (int)cap, f));
    fclose(f);
    out[strcspn(out, "\n")] = '\0';
}

static void sw_key(lw_key *k, const char *hex)
{
    uint8_t b[16];
    assert_int_equal(tu_hex(hex, b, sizeof(b)), 16);
    assert_int_equal(lw_key_from_bytes(k, b, 16), LW_OK);
}

static void wrap_hex(const char *kek_hex, const char *key_hex, char out[49])
{
    lw_key kek, key;
    sw_key(&kek, kek_hex);
    sw_key(&key, key_hex);
    uint8_t w8[24];
    assert_int_equal(lw_key_wrap(lw_crypto_software(), &kek, &key, w8, sizeof(w8)), LW_OK);
    assert_int_equal(lw_hex_encode(w8, 24, out, 49), LW_OK);
}

static void import_kek(const char *label, const char *hex)
{
    uint8_t k[16];
    tu_hex(hex, k, 16);
    char err[JS_ERR_MAX];
    assert_int_equal(js_kek_import_clear(w, label, k, 16, err), JS_OK);
}

static void import_line(const char *line, bool allow_clear)
{
    store_device d;
    bool clear = false;
    char err[JS_ERR_MAX];
    js_status st = js_device_translate(w, line, strlen(line), allow_clear, &d, &clear, err);
    if (st != JS_OK)
        fail_msg("translate: %s", err);
    assert_int_equal(store_device_put(js_worker_store(w), &d, false), STORE_OK);
}

/* A signed join-request under `root`. */
static void join_request(uint64_t dev_eui, uint16_t dev_nonce, const char *root, uint8_t phy[23])
{
    lw_frame f;
    memset(&f, 0, sizeof(f));
    f.mtype = LW_MTYPE_JOIN_REQUEST;
    f.u.join_request.join_eui = JOIN_EUI;
    f.u.join_request.dev_eui = dev_eui;
    f.u.join_request.dev_nonce = dev_nonce;
    size_t n = 0;
    assert_int_equal(lw_frame_encode(&f, phy, 23, &n), LW_OK);
    lw_key k;
    sw_key(&k, root);
    uint8_t mic[4];
    assert_int_equal(lw_mic_join_request(lw_crypto_software(), &k, phy, 19, mic), LW_OK);
    assert_int_equal(lw_frame_set_mic(phy, 23, mic), LW_OK);
}

static void body_for(bi_message_type t, bi_version v, uint32_t sender, const char *mac, const uint8_t *phy,
                     size_t phy_len, uint64_t dev_eui, char *out, size_t cap)
{
    bi_request r;
    memset(&r, 0, sizeof(r));
    r.hdr.version = v;
    bi_id_set_net_id(&r.hdr.sender_id, sender);
    bi_id_set_eui(&r.hdr.receiver_id, JOIN_EUI);
    r.hdr.transaction_id = txn++;
    r.hdr.message_type = t;
    if (v == BI_VERSION_1_1) {
        r.hdr.has_sender_nsid = true;
        r.hdr.sender_nsid = 0x0000000000000013ull;
    }
    if (t == BI_MSG_HOME_NS_REQ) {
        r.u.home_ns.dev_eui = dev_eui;
    } else {
        assert_int_equal(bi_mac_version_parse(mac, strlen(mac), &r.u.join.mac_version), BI_OK);
        memcpy(r.u.join.phy_payload, phy, phy_len);
        r.u.join.phy_payload_len = phy_len;
        r.u.join.dev_eui = dev_eui;
        r.u.join.dev_addr = 0x26011234;
        r.u.join.dl_settings = 0x03;
        r.u.join.rx_delay = 1;
    }
    size_t n = 0;
    assert_int_equal(bi_request_build(&r, out, cap, &n), BI_OK);
}

static json_t *call(const char *body, size_t len, const char *bearer, js_reply *r)
{
    js_auth a = {.bearer = bearer, .tls_chain = NULL, .tls_chain_len = 0};
    js_handle_bi(w, &a, body, len, r);
    if (r->http_status != 200)
        return NULL;
    json_error_t je;
    json_t *o = json_loadb(r->body, r->len, 0, &je);
    assert_non_null(o);
    return o;
}

static const char *result_of(json_t *o)
{
    return json_string_value(json_object_get(json_object_get(o, "Result"), "ResultCode"));
}

static size_t hex_field(json_t *o, const char *name, uint8_t *out, size_t cap)
{
    const char *s = json_string_value(json_object_get(o, name));
    assert_non_null(s);
    return tu_hex(s, out, cap);
}

/* Unwraps envelope `name` with `kek_hex` and compares it with `want`. */
static void check_env(json_t *o, const char *name, const char *label, const char *kek_hex, const lw_key *want)
{
    json_t *env = json_object_get(o, name);
    assert_non_null(env);
    assert_string_equal(json_string_value(json_object_get(env, "KEKLabel")), label);
    uint8_t wr[24];
    assert_int_equal(tu_hex(json_string_value(json_object_get(env, "AESKey")), wr, 24), 24);
    lw_key kek, got;
    sw_key(&kek, kek_hex);
    assert_int_equal(lw_key_unwrap(lw_crypto_software(), &kek, wr, 24, &got), LW_OK);
    assert_memory_equal(got.material, want->material, 16);
}

/* Decrypts a join-accept with `key`, checks the MIC with `mic_key` (1.0)
 * or JSIntKey (1.1, join_req_type), returns the fields. */
static void open_accept(json_t *o, const char *enc_key, bool v11, const lw_key *js_int, uint8_t jrt,
                        uint16_t dev_nonce, lw_join_accept *ja)
{
    uint8_t wire[33], plain[33], mic[4], want[4];
    size_t n = hex_field(o, "PHYPayload", wire, sizeof(wire));
    lw_key k;
    sw_key(&k, enc_key);
    assert_int_equal(lw_join_accept_decrypt(lw_crypto_software(), &k, wire, n, plain, sizeof(plain)), LW_OK);
    assert_int_equal(lw_join_accept_parse(plain, n, ja, mic), LW_OK);
    if (v11)
        assert_int_equal(
            lw_mic_join_accept_11(lw_crypto_software(), js_int, jrt, JOIN_EUI, dev_nonce, plain, n - 4, want), LW_OK);
    else
        assert_int_equal(lw_mic_join_accept_10(lw_crypto_software(), &k, plain, n - 4, want), LW_OK);
    assert_memory_equal(mic, want, 4);
}

/* ---------------------------------------------------------------- fixture */

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "%s/ferry-js-XXXXXX", access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    if (mkdtemp(dir) == NULL)
        return -1;
    char dep[300], err[JS_ERR_MAX], path[400];
    snprintf(dep, sizeof(dep), "%s/dep", dir);
    static const js_join_eui_range je = {JOIN_EUI, 64};
    js_init_opts o = {.join_euis = &je, .n_join_euis = 1};
    if (js_deploy_init(dep, &o, err) != JS_OK) {
        fprintf(stderr, "init: %s\n", err);
        return -1;
    }
    snprintf(path, sizeof(path), "%s/ns.token", dir);
    if (js_peer_add(dep, "000013", path, NULL, "0000000000000013", err) != JS_OK)
        return -1;
    read_token(path, ns_token, sizeof(ns_token));
    snprintf(path, sizeof(path), "%s/other.token", dir);
    if (js_peer_add(dep, "0x000014", path, NULL, NULL, err) != JS_OK)
        return -1;
    read_token(path, sender_token, sizeof(sender_token));
    snprintf(path, sizeof(path), "%s/as.token", dir);
    if (js_peer_add(dep, "as.example.com", path, NULL, NULL, err) != JS_OK)
        return -1;
    snprintf(path, sizeof(path), "%s/stranger.token", dir);
    if (js_peer_add(dep, "0000AA", path, NULL, NULL, err) != JS_OK)
        return -1;
    snprintf(path, sizeof(path), "%s/admin.token", dep);
    read_token(path, admin_token, sizeof(admin_token));
    if (js_open(dep, &ctx, err) != JS_OK || js_worker_open(ctx, &w, err) != JS_OK) {
        fprintf(stderr, "open: %s\n", err);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    js_worker_close(w);
    js_close(ctx);
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Runs first: KEKs and the three devices. */
static void provisioning(void **state)
{
    (void)state;
    import_kek("ns:000013", NS_KEK);
    import_kek("as:app1", AS_KEK);
    import_kek("transport", TR_KEK);
    char err[JS_ERR_MAX];
    uint8_t k[16];
    tu_hex(NS_KEK, k, 16);
    assert_int_equal(js_kek_import_clear(w, "ns:000013", k, 16, err), JS_ERR_EXISTS);

    char line[1024], wr1[49], wr2[49];
    /* 1.0.2 with a clear key: refused without the flag, taken with it. */
    snprintf(line, sizeof(line),
             "{\"DevEUI\":\"%016llX\",\"JoinEUI\":\"%016llX\",\"MACVersion\":\"1.0.2\",\"HomeNetID\":\"000013\","
             "\"AllowedNetIDs\":[\"000014\"],\"NwkKey\":{\"AESKey\":\"%s\"},\"NSKEKLabel\":\"ns:000013\","
             "\"ASKEKLabel\":\"as:app1\",\"ASID\":\"as.example.com\"}",
             (unsigned long long)DEV_102, JOIN_EUI, APPKEY_102);
    store_device d;
    bool clear = false;
    assert_int_equal(js_device_translate(w, line, strlen(line), false, &d, &clear, err), JS_ERR_CLEAR_KEY);
    assert_true(clear);
    import_line(line, true);
    /* 1.0.4 wrapped under the transport KEK; a wrong KEK is refused. */
    wrap_hex(TR_KEK, APPKEY_104, wr1);
    snprintf(line, sizeof(line),
             "{\"DevEUI\":\"%016llX\",\"JoinEUI\":\"%016llX\",\"MACVersion\":\"1.0.4\",\"HomeNetID\":\"000013\","
             "\"NwkKey\":{\"KEKLabel\":\"as:app1\",\"AESKey\":\"%s\"},\"NSKEKLabel\":\"ns:000013\"}",
             (unsigned long long)DEV_104, JOIN_EUI, wr1);
    assert_int_equal(js_device_translate(w, line, strlen(line), false, &d, &clear, err), JS_ERR_KEK);
    snprintf(line, sizeof(line),
             "{\"DevEUI\":\"%016llX\",\"JoinEUI\":\"%016llX\",\"MACVersion\":\"1.0.4\",\"HomeNetID\":\"000013\","
             "\"NwkKey\":{\"KEKLabel\":\"transport\",\"AESKey\":\"%s\"},\"NSKEKLabel\":\"ns:000013\"}",
             (unsigned long long)DEV_104, JOIN_EUI, wr1);
    import_line(line, false);
    /* 1.1, both keys wrapped. */
    wrap_hex(TR_KEK, NWKKEY_11, wr1);
    wrap_hex(TR_KEK, APPKEY_11, wr2);
    snprintf(line, sizeof(line),
             "{\"DevEUI\":\"%016llX\",\"JoinEUI\":\"%016llX\",\"MACVersion\":\"1.1\",\"HomeNetID\":\"000013\","
             "\"NwkKey\":{\"KEKLabel\":\"transport\",\"AESKey\":\"%s\"},"
             "\"AppKey\":{\"KEKLabel\":\"transport\",\"AESKey\":\"%s\"},"
             "\"NSKEKLabel\":\"ns:000013\",\"ASKEKLabel\":\"as:app1\",\"ASID\":\"as.example.com\"}",
             (unsigned long long)DEV_11, JOIN_EUI, wr1, wr2);
    import_line(line, false);
}

/* ---------------------------------------------------------------- joins */

static void join_10(uint64_t dev, const char *key, const char *mac, uint16_t nonce, bool expect_as, uint32_t sender,
                    const char *bearer)
{
    uint8_t phy[23];
    char body[2048];
    join_request(dev, nonce, key, phy);
    body_for(BI_MSG_JOIN_REQ, BI_VERSION_1_0, sender, mac, phy, 23, dev, body, sizeof(body));
    js_reply r;
    json_t *o = call(body, strlen(body), bearer, &r);
    assert_non_null(o);
    if (strcmp(result_of(o), "Success") != 0)
        fail_msg("join: %s", r.body);
    lw_join_accept ja;
    open_accept(o, key, false, NULL, 0, nonce, &ja);
    assert_int_equal(ja.net_id, sender);
    assert_int_equal(ja.dev_addr, 0x26011234);
    assert_int_equal(ja.dl_settings, 0x03);
    lw_key root;
    sw_key(&root, key);
    lw_session_keys_10 sk;
    assert_int_equal(lw_derive_session_keys_10(lw_crypto_software(), &root, ja.join_nonce, sender, nonce, &sk), LW_OK);
    check_env(o, "NwkSKey", "ns:000013", NS_KEK, &sk.nwk_s_key);
    if (expect_as)
        check_env(o, "AppSKey", "as:app1", AS_KEK, &sk.app_s_key);
    else
        assert_null(json_object_get(o, "AppSKey"));
    assert_non_null(json_object_get(o, "SessionKeyID"));
    assert_non_null(json_object_get(o, "Lifetime"));
    json_decref(o);
}

static void join_102_and_replay(void **state)
{
    (void)state;
    join_10(DEV_102, APPKEY_102, "1.0.2", 0x1234, true, HOME_NET, ns_token);
    /* another allowed network, then a lower (random) DevNonce: fine in 1.0.2 */
    join_10(DEV_102, APPKEY_102, "1.0.2", 0x0005, true, OTHER_NET, sender_token);
    /* replay of an accepted DevNonce */
    uint8_t phy[23];
    char body[2048];
    join_request(DEV_102, 0x1234, APPKEY_102, phy);
    body_for(BI_MSG_JOIN_REQ, BI_VERSION_1_0, HOME_NET, "1.0.2", phy, 23, DEV_102, body, sizeof(body));
    js_reply r;
    json_t *o = call(body, strlen(body), ns_token, &r);
    assert_string_equal(result_of(o), "JoinReqFailed");
    json_decref(o);
}

static void join_104_counter(void **state)
{
    (void)state;
    join_10(DEV_104, APPKEY_104, "1.0.4", 10, false, HOME_NET, ns_token);
    join_10(DEV_104, APPKEY_104, "1.0.4", 11, false, HOME_NET, ns_token);
    uint8_t phy[23];
    char body[2048];
    join_request(DEV_104, 9, APPKEY_104, phy);
    body_for(BI_MSG_JOIN_REQ, BI_VERSION_1_1, HOME_NET, "1.0.4", phy, 23, DEV_104, body, sizeof(body));
    js_reply r;
    json_t *o = call(body, strlen(body), ns_token, &r);
    assert_string_equal(result_of(o), "JoinReqFailed");
    json_decref(o);
}

static json_t *join_11(uint16_t nonce, lw_join_accept *ja, lw_session_keys_11 *sk)
{
    uint8_t phy[23];
    char body[2048];
    join_request(DEV_11, nonce, NWKKEY_11, phy);
    body_for(BI_MSG_JOIN_REQ, BI_VERSION_1_1, HOME_NET, "1.1", phy, 23, DEV_11, body, sizeof(body));
    js_reply r;
    json_t *o = call(body, strlen(body), ns_token, &r);
    assert_non_null(o);
    if (strcmp(result_of(o), "Success") != 0)
        fail_msg("join 1.1: %s", r.body);
    lw_key nwk, app;
    sw_key(&nwk, NWKKEY_11);
    sw_key(&app, APPKEY_11);
    lw_js_keys jk;
    assert_int_equal(lw_derive_js_keys(lw_crypto_software(), &nwk, DEV_11, &jk), LW_OK);
    open_accept(o, NWKKEY_11, true, &jk.js_int_key, LW_JOIN_REQ_TYPE_JOIN, nonce, ja);
    assert_true(ja->dl_settings & LW_DL_OPTNEG);
    assert_int_equal(
        lw_derive_session_keys_11(lw_crypto_software(), &nwk, &app, ja->join_nonce, JOIN_EUI, nonce, sk), LW_OK);
    check_env(o, "FNwkSIntKey", "ns:000013", NS_KEK, &sk->f_nwk_s_int_key);
    check_env(o, "SNwkSIntKey", "ns:000013", NS_KEK, &sk->s_nwk_s_int_key);
    check_env(o, "NwkSEncKey", "ns:000013", NS_KEK, &sk->nwk_s_enc_key);
    check_env(o, "AppSKey", "as:app1", AS_KEK, &sk->app_s_key);
    assert_null(json_object_get(o, "NwkSKey"));
    return o;
}

static void join_11_and_app_s_key(void **state)
{
    (void)state;
    lw_join_accept ja;
    lw_session_keys_11 sk;
    json_t *o = join_11(1, &ja, &sk);
    const char *skid = json_string_value(json_object_get(o, "SessionKeyID"));
    assert_non_null(skid);
    char body[1024];
    /* the device's AS gets the AppSKey of that session */
    snprintf(body, sizeof(body),
             "{\"ProtocolVersion\":\"1.0\",\"SenderID\":\"as.example.com\",\"ReceiverID\":\"70B3D57ED0000000\","
             "\"TransactionID\":5,\"MessageType\":\"AppSKeyReq\",\"DevEUI\":\"%016llX\",\"SessionKeyID\":\"%s\"}",
             (unsigned long long)DEV_11, skid);
    char as_path[400], as_token[80];
    snprintf(as_path, sizeof(as_path), "%s/as.token", dir);
    read_token(as_path, as_token, sizeof(as_token));
    js_reply r;
    json_t *a = call(body, strlen(body), as_token, &r);
    assert_string_equal(result_of(a), "Success");
    check_env(a, "AppSKey", "as:app1", AS_KEK, &sk.app_s_key);
    json_decref(a);
    /* without the AS's token: UnknownSender */
    a = call(body, strlen(body), ns_token, &r);
    assert_string_equal(result_of(a), "UnknownSender");
    json_decref(a);
    /* an unknown SessionKeyID */
    snprintf(body, sizeof(body),
             "{\"ProtocolVersion\":\"1.0\",\"SenderID\":\"as.example.com\",\"ReceiverID\":\"70B3D57ED0000000\","
             "\"TransactionID\":6,\"MessageType\":\"AppSKeyReq\",\"DevEUI\":\"%016llX\",\"SessionKeyID\":\"0102\"}",
             (unsigned long long)DEV_11);
    a = call(body, strlen(body), as_token, &r);
    assert_string_equal(result_of(a), "UnknownDevEUI");
    json_decref(a);
    json_decref(o);
}

static void rejoin_11(void **state)
{
    (void)state;
    lw_key nwk;
    sw_key(&nwk, NWKKEY_11);
    lw_js_keys jk;
    assert_int_equal(lw_derive_js_keys(lw_crypto_software(), &nwk, DEV_11, &jk), LW_OK);
    /* type 1, MIC by JSIntKey */
    lw_frame f;
    memset(&f, 0, sizeof(f));
    f.mtype = LW_MTYPE_REJOIN_REQUEST;
    f.u.rejoin_request.type = LW_REJOIN_TYPE_1;
    f.u.rejoin_request.join_eui = JOIN_EUI;
    f.u.rejoin_request.dev_eui = DEV_11;
    f.u.rejoin_request.rj_count = 7;
    uint8_t phy[24];
    size_t n = 0;
    assert_int_equal(lw_frame_encode(&f, phy, sizeof(phy), &n), LW_OK);
    assert_int_equal(n, 24);
    uint8_t mic[4];
    assert_int_equal(lw_mic_rejoin_request(lw_crypto_software(), &jk.js_int_key, phy, 20, mic), LW_OK);
    assert_int_equal(lw_frame_set_mic(phy, 24, mic), LW_OK);
    char body[2048];
    body_for(BI_MSG_REJOIN_REQ, BI_VERSION_1_1, HOME_NET, "1.1", phy, 24, DEV_11, body, sizeof(body));
    js_reply r;
    json_t *o = call(body, strlen(body), ns_token, &r);
    if (strcmp(result_of(o), "Success") != 0)
        fail_msg("rejoin: %s", r.body);
    /* the accept is encrypted with JSEncKey and its MIC has JoinReqType 01 */
    uint8_t wire[33], plain[33], want[4], got[4];
    size_t wl = hex_field(o, "PHYPayload", wire, sizeof(wire));
    assert_int_equal(lw_join_accept_decrypt(lw_crypto_software(), &jk.js_enc_key, wire, wl, plain, sizeof(plain)),
                     LW_OK);
    lw_join_accept ja;
    assert_int_equal(lw_join_accept_parse(plain, wl, &ja, got), LW_OK);
    assert_int_equal(lw_mic_join_accept_11(lw_crypto_software(), &jk.js_int_key, 0x01, JOIN_EUI, 7, plain, wl - 4,
                                           want),
                     LW_OK);
    assert_memory_equal(got, want, 4);
    json_decref(o);
    /* the same RJcount1 again is refused */
    body_for(BI_MSG_REJOIN_REQ, BI_VERSION_1_1, HOME_NET, "1.1", phy, 24, DEV_11, body, sizeof(body));
    o = call(body, strlen(body), ns_token, &r);
    assert_string_equal(result_of(o), "JoinReqFailed");
    json_decref(o);
    /* a broken MIC */
    phy[23] ^= 1;
    body_for(BI_MSG_REJOIN_REQ, BI_VERSION_1_1, HOME_NET, "1.1", phy, 24, DEV_11, body, sizeof(body));
    o = call(body, strlen(body), ns_token, &r);
    assert_string_equal(result_of(o), "MICFailed");
    json_decref(o);
    /* type 0 (MIC is the NS's): served */
    memset(&f, 0, sizeof(f));
    f.mtype = LW_MTYPE_REJOIN_REQUEST;
    f.u.rejoin_request.type = LW_REJOIN_TYPE_0;
    f.u.rejoin_request.net_id = HOME_NET;
    f.u.rejoin_request.dev_eui = DEV_11;
    f.u.rejoin_request.rj_count = 0;
    assert_int_equal(lw_frame_encode(&f, phy, sizeof(phy), &n), LW_OK);
    assert_int_equal(n, 19);
    body_for(BI_MSG_REJOIN_REQ, BI_VERSION_1_1, HOME_NET, "1.1", phy, 19, DEV_11, body, sizeof(body));
    o = call(body, strlen(body), ns_token, &r);
    assert_string_equal(result_of(o), "Success");
    json_decref(o);
}

/* ---------------------------------------------------------------- failures */

static void expect(const char *body, const char *bearer, const char *code)
{
    js_reply r;
    json_t *o = call(body, strlen(body), bearer, &r);
    if (o == NULL)
        fail_msg("HTTP %u: %s", r.http_status, r.body);
    if (strcmp(result_of(o), code) != 0)
        fail_msg("expected %s, got %s", code, r.body);
    json_decref(o);
}

static void failure_codes(void **state)
{
    (void)state;
    uint8_t phy[23];
    char body[2048];
    /* bad MIC */
    join_request(DEV_102, 0x4000, APPKEY_104, phy);
    body_for(BI_MSG_JOIN_REQ, BI_VERSION_1_0, HOME_NET, "1.0.2", phy, 23, DEV_102, body, sizeof(body));
    expect(body, ns_token, "MICFailed");
    /* unknown device */
    join_request(0x1122334455667788ull, 1, APPKEY_104, phy);
    body_for(BI_MSG_JOIN_REQ, BI_VERSION_1_0, HOME_NET, "1.0.2", phy, 23, 0x1122334455667788ull, body, sizeof(body));
    expect(body, ns_token, "UnknownDevEUI");
    /* a sender that is authenticated but not allowed for the device */
    join_request(DEV_102, 0x4001, APPKEY_102, phy);
    char spath[400], stoken[80];
    snprintf(spath, sizeof(spath), "%s/stranger.token", dir);
    read_token(spath, stoken, sizeof(stoken));
    body_for(BI_MSG_JOIN_REQ, BI_VERSION_1_0, STRANGER, "1.0.2", phy, 23, DEV_102, body, sizeof(body));
    expect(body, stoken, "ActivationDisallowed");
    /* no token, a wrong token */
    body_for(BI_MSG_JOIN_REQ, BI_VERSION_1_0, HOME_NET, "1.0.2", phy, 23, DEV_102, body, sizeof(body));
    expect(body, NULL, "UnknownSender");
    expect(body, sender_token, "UnknownSender");
    /* wrong protocol version */
    expect("{\"ProtocolVersion\":\"2.0\",\"SenderID\":\"000013\",\"ReceiverID\":\"70B3D57ED0000000\","
           "\"TransactionID\":1,\"MessageType\":\"JoinReq\"}",
           ns_token, "InvalidProtocolVersion");
    /* truncated frame */
    expect("{\"ProtocolVersion\":\"1.0\",\"SenderID\":\"000013\",\"ReceiverID\":\"70B3D57ED0000000\","
           "\"TransactionID\":1,\"MessageType\":\"JoinReq\",\"MACVersion\":\"1.0.2\",\"PHYPayload\":\"0000\","
           "\"DevEUI\":\"0004A30B001C0001\",\"DevAddr\":\"01020304\",\"DLSettings\":\"00\",\"RxDelay\":1}",
           ns_token, "FrameSizeError");
    /* a missing field: MalformedRequest (1.0) / MalformedMessage (1.1) */
    expect("{\"ProtocolVersion\":\"1.0\",\"SenderID\":\"000013\",\"ReceiverID\":\"70B3D57ED0000000\","
           "\"TransactionID\":1,\"MessageType\":\"JoinReq\"}",
           ns_token, "MalformedRequest");
    expect("{\"ProtocolVersion\":\"1.1\",\"SenderID\":\"000013\",\"ReceiverID\":\"70B3D57ED0000000\","
           "\"SenderNSID\":\"0000000000000013\",\"TransactionID\":1,\"MessageType\":\"JoinReq\"}",
           ns_token, "MalformedMessage");
    /* another JoinEUI */
    expect("{\"ProtocolVersion\":\"1.0\",\"SenderID\":\"000013\",\"ReceiverID\":\"70B3D57ED0000001\","
           "\"TransactionID\":1,\"MessageType\":\"HomeNSReq\",\"DevEUI\":\"0004A30B001C0001\"}",
           ns_token, "UnkownReceiver");
    /* not JSON: HTTP 400 */
    js_reply r;
    js_auth a = {.bearer = ns_token, .tls_chain = NULL, .tls_chain_len = 0};
    js_handle_bi(w, &a, "{not json", 9, &r);
    assert_int_equal(r.http_status, 400);
}

/* JoinEUI ranges: parsed strictly, matched by prefix, changed in ferry.conf
 * (never the last one), taken by the running server at a reload; a device
 * outside them is refused at import. */
static void join_eui_ranges(void **state)
{
    (void)state;
    js_join_eui_range r;
    char err[JS_ERR_MAX], t[JS_JOIN_EUI_TEXT_MAX];
    assert_int_equal(js_join_eui_range_parse("70B3D57ED0100000/44", &r, err), JS_OK);
    assert_true(r.prefix == 0x70B3D57ED0100000ull && r.bits == 44);
    js_join_eui_range_text(&r, t);
    assert_string_equal(t, "70B3D57ED0100000/44");
    assert_true(js_join_eui_ranges_match(&r, 1, 0x70B3D57ED01FFFFFull));
    assert_false(js_join_eui_ranges_match(&r, 1, 0x70B3D57ED0200000ull));
    assert_int_equal(js_join_eui_range_parse("0x70b3d57ed0000000", &r, err), JS_OK);
    js_join_eui_range_text(&r, t);
    assert_string_equal(t, "70B3D57ED0000000");
    static const char *const bad[] = {"70B3D57ED0100001/44", "70B3D57ED0000000/0", "70B3D57ED0000000/65",
                                      "70B3D57ED000000", "70B3D57ED0000000/", "70B3D57ED0000000/4x", "zz"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(js_join_eui_range_parse(bad[i], &r, err), JS_ERR_ARGUMENT);
    assert_non_null(strstr(err, "zz"));

    char dep[300], body[1024];
    snprintf(dep, sizeof(dep), "%s/dep", dir);
    const char *home_ns_req = "{\"ProtocolVersion\":\"1.0\",\"SenderID\":\"000013\",\"ReceiverID\":\"70B3D57ED0100001\","
                              "\"TransactionID\":1,\"MessageType\":\"HomeNSReq\",\"DevEUI\":\"0004A30B001C0F01\"}";
    expect(home_ns_req, ns_token, "UnkownReceiver");
    assert_int_equal(js_join_eui_change(dep, true, "70B3D57ED0100000/44", err), JS_OK);
    assert_int_equal(js_join_eui_change(dep, true, "70B3D57ED0100000/44", err), JS_ERR_EXISTS);
    assert_int_equal(js_join_eui_change(dep, false, "70B3D57ED0200000/44", err), JS_ERR_NOT_FOUND);
    /* in the file, not yet in the running server */
    expect(home_ns_req, ns_token, "UnkownReceiver");
    assert_int_equal(js_join_eui_reload(ctx, err), JS_OK);
    expect(home_ns_req, ns_token, "UnknownDevEUI");
    /* a device in the new range is taken, one outside every range is not */
    char wr[49];
    wrap_hex(TR_KEK, APPKEY_104, wr);
    snprintf(body, sizeof(body),
             "{\"DevEUI\":\"0004A30B001C0F02\",\"JoinEUI\":\"%s\",\"MACVersion\":\"1.0.4\",\"HomeNetID\":\"000013\","
             "\"NwkKey\":{\"KEKLabel\":\"transport\",\"AESKey\":\"%s\"},\"NSKEKLabel\":\"ns:000013\"}",
             "70B3D57ED0100002", wr);
    store_device d;
    bool clear = false;
    assert_int_equal(js_device_translate(w, body, strlen(body), false, &d, &clear, err), JS_OK);
    memcpy(strstr(body, "70B3D57ED0100002"), "70B3D57ED0200002", 16);
    assert_int_equal(js_device_translate(w, body, strlen(body), false, &d, &clear, err), JS_ERR_INPUT);
    assert_non_null(strstr(err, "70B3D57ED0200002 is not served"));
    assert_non_null(strstr(err, "70B3D57ED0100000/44"));
    /* the original JoinEUI goes; the last range never does */
    char orig[20];
    snprintf(orig, sizeof(orig), "%016llX", (unsigned long long)JOIN_EUI);
    assert_int_equal(js_join_eui_change(dep, false, orig, err), JS_OK);
    assert_int_equal(js_join_eui_change(dep, false, "70B3D57ED0100000/44", err), JS_ERR_ARGUMENT);
    assert_non_null(strstr(err, "last one"));
    js_config *cfg = calloc(1, sizeof(*cfg));
    assert_int_equal(js_config_load(dep, cfg, err), JS_OK);
    assert_int_equal(cfg->n_join_euis, 1);
    assert_true(cfg->join_euis[0].prefix == 0x70B3D57ED0100000ull && cfg->join_euis[0].bits == 44);
    free(cfg);
    /* put back as it was for the other tests */
    assert_int_equal(js_join_eui_change(dep, true, orig, err), JS_OK);
    assert_int_equal(js_join_eui_change(dep, false, "70B3D57ED0100000/44", err), JS_OK);
    assert_int_equal(js_join_eui_reload(ctx, err), JS_OK);
    expect(home_ns_req, ns_token, "UnkownReceiver");
}

static void home_ns(void **state)
{
    (void)state;
    char body[1024];
    body_for(BI_MSG_HOME_NS_REQ, BI_VERSION_1_1, OTHER_NET, NULL, NULL, 0, DEV_102, body, sizeof(body));
    js_reply r;
    json_t *o = call(body, strlen(body), sender_token, &r);
    assert_string_equal(result_of(o), "Success");
    assert_string_equal(json_string_value(json_object_get(o, "HNetID")), "000013");
    assert_string_equal(json_string_value(json_object_get(o, "HNSID")), "0000000000000013");
    json_decref(o);
    char spath[400], stoken[80];
    snprintf(spath, sizeof(spath), "%s/stranger.token", dir);
    read_token(spath, stoken, sizeof(stoken));
    body_for(BI_MSG_HOME_NS_REQ, BI_VERSION_1_0, STRANGER, NULL, NULL, 0, DEV_102, body, sizeof(body));
    o = call(body, strlen(body), stoken, &r);
    assert_string_equal(result_of(o), "NoRoamingAgreement");
    assert_null(json_object_get(o, "HNetID"));
    json_decref(o);
}

/* ---------------------------------------------------------------- admin */

static void admin_api(void **state)
{
    (void)state;
    char wr[49], line[1024], bearer[100];
    wrap_hex(TR_KEK, APPKEY_104, wr);
    snprintf(line, sizeof(line),
             "{\"DevEUI\":\"0004A30B001C00AA\",\"JoinEUI\":\"%016llX\",\"MACVersion\":\"1.0.3\","
             "\"HomeNetID\":\"000013\",\"NwkKey\":{\"KEKLabel\":\"transport\",\"AESKey\":\"%s\"},"
             "\"NSKEKLabel\":\"ns:000013\"}",
             JOIN_EUI, wr);
    js_reply r;
    js_auth none = {.bearer = "wrong", .tls_chain = NULL, .tls_chain_len = 0};
    js_handle_admin(w, &none, "POST", "/api/v1/devices", line, strlen(line), &r);
    assert_int_equal(r.http_status, 401);
    snprintf(bearer, sizeof(bearer), "%s", admin_token);
    js_auth ok = {.bearer = bearer, .tls_chain = NULL, .tls_chain_len = 0};
    js_handle_admin(w, &ok, "POST", "/api/v1/devices", line, strlen(line), &r);
    assert_int_equal(r.http_status, 201);
    assert_null(strstr(r.body, wr));
    js_handle_admin(w, &ok, "POST", "/api/v1/devices", line, strlen(line), &r);
    assert_int_equal(r.http_status, 409);
    js_handle_admin(w, &ok, "GET", "/api/v1/devices/0004A30B001C00AA", "", 0, &r);
    assert_int_equal(r.http_status, 200);
    assert_non_null(strstr(r.body, "\"MACVersion\":\"1.0.3\""));
    js_handle_admin(w, &ok, "DELETE", "/api/v1/devices/0004A30B001C00AA", "", 0, &r);
    assert_int_equal(r.http_status, 200);
    js_handle_admin(w, &ok, "GET", "/api/v1/devices/0004A30B001C00AA", "", 0, &r);
    assert_int_equal(r.http_status, 404);
    /* a clear key is refused by the API */
    snprintf(line, sizeof(line),
             "{\"DevEUI\":\"0004A30B001C00AB\",\"JoinEUI\":\"%016llX\",\"MACVersion\":\"1.0.3\","
             "\"HomeNetID\":\"000013\",\"NwkKey\":{\"AESKey\":\"%s\"}}",
             JOIN_EUI, APPKEY_104);
    js_handle_admin(w, &ok, "POST", "/api/v1/devices", line, strlen(line), &r);
    assert_int_equal(r.http_status, 400);
}

/* Root keys kept per worker (js_worker_root_key): a key renewed by a PUT
 * is used at once (the old one, still cached, would fail the MIC); at
 * JS_ROOT_CACHE the oldest entries go, counted, and are unwrapped again
 * when needed; a blob that does not unwrap caches nothing. */
static void root_key_cache(void **state)
{
    (void)state;
    static const char *RENEWED = "3132333435363738393A3B3C3D3E3F40";
    join_10(DEV_104, APPKEY_104, "1.0.4", 5000, false, HOME_NET, ns_token); /* cached now */
    char wr[49], line[1024], path[64], bearer[100];
    wrap_hex(TR_KEK, RENEWED, wr);
    snprintf(line, sizeof line,
             "{\"DevEUI\":\"%016llX\",\"JoinEUI\":\"%016llX\",\"MACVersion\":\"1.0.4\",\"HomeNetID\":\"000013\","
             "\"NwkKey\":{\"KEKLabel\":\"transport\",\"AESKey\":\"%s\"},\"NSKEKLabel\":\"ns:000013\"}",
             (unsigned long long)DEV_104, JOIN_EUI, wr);
    snprintf(path, sizeof path, "/api/v1/devices/%016llX", (unsigned long long)DEV_104);
    snprintf(bearer, sizeof bearer, "%s", admin_token);
    js_auth admin = {.bearer = bearer, .tls_chain = NULL, .tls_chain_len = 0};
    js_reply r;
    js_handle_admin(w, &admin, "PUT", path, line, strlen(line), &r);
    assert_int_equal(r.http_status, 200);
    uint8_t phy[23];
    char body[2048];
    join_request(DEV_104, 5001, APPKEY_104, phy);
    body_for(BI_MSG_JOIN_REQ, BI_VERSION_1_0, HOME_NET, "1.0.4", phy, 23, DEV_104, body, sizeof(body));
    expect(body, ns_token, "MICFailed");
    join_10(DEV_104, RENEWED, "1.0.4", 5001, false, HOME_NET, ns_token);

    store_device d;
    assert_int_equal(store_device_get(js_worker_store(w), DEV_104, &d), STORE_OK);
    size_t held = 0;
    for (size_t i = 0; i < JS_ROOT_CACHE; i++)
        held += w->roots[i].key.handle != 0;
    assert_true(held >= 1);
    uint64_t evicted = ctx->metrics.root_evictions;
    const lw_key *k = NULL;
    for (uint64_t i = 0; i < JS_ROOT_CACHE; i++)
        assert_int_equal(js_worker_root_key(w, 0xFEED000000000000ull + i, JS_ROOT_NWK, &d.nwk_key, &k), HSM_OK);
    assert_int_equal(ctx->metrics.root_evictions - evicted, held); /* every earlier entry, once */
    /* the same blob for the same device again: the entry, not a new unwrap */
    uint64_t unwraps = ctx->metrics.root_unwraps;
    const lw_key *again = NULL;
    assert_int_equal(js_worker_root_key(w, 0xFEED000000000000ull, JS_ROOT_NWK, &d.nwk_key, &again), HSM_OK);
    assert_int_equal(ctx->metrics.root_unwraps, unwraps);
    assert_int_not_equal(again->handle, 0);
    /* a blob that does not unwrap: an error, and nothing kept for it */
    store_blob bad = d.nwk_key;
    bad.data[3] ^= 0x40;
    assert_int_not_equal(js_worker_root_key(w, 0xBAD, JS_ROOT_NWK, &bad, &k), HSM_OK);
    for (size_t i = 0; i < JS_ROOT_CACHE; i++)
        assert_false(w->roots[i].key.handle != 0 && w->roots[i].dev_eui == 0xBAD);
    /* DEV_104 was evicted: unwrapped again, served with the renewed key */
    join_10(DEV_104, RENEWED, "1.0.4", 5002, false, HOME_NET, ns_token);
}

static void metrics(void **state)
{
    (void)state;
    js_reply r;
    js_reply_reset(&r);
    r.http_status = 200;
    r.has_type = true;
    r.type = BI_MSG_JOIN_REQ;
    r.has_result = true;
    r.result = BI_RESULT_SUCCESS;
    js_metrics_observe(ctx, &r, 0.003);
    char text[8192];
    size_t n = 0;
    assert_int_equal(js_metrics_render(ctx, text, sizeof(text), &n), JS_OK);
    assert_non_null(strstr(text, "ferry_js_requests_total{type=\"JoinReq\",result=\"Success\"} 1"));
    assert_non_null(strstr(text, "ferry_js_request_duration_seconds_count 1"));
}

/* An answer larger than the reply buffer is never sent cut: 500 with a
 * fixed short body (and an error line in the log). */
static void reply_too_large_is_500(void **state)
{
    (void)state;
    js_reply *r = calloc(1, sizeof *r);
    char *big = malloc(JS_REPLY_MAX + 100);
    assert_non_null(r);
    assert_non_null(big);
    memset(big, 'x', JS_REPLY_MAX + 99);
    big[JS_REPLY_MAX + 99] = '\0';
    js_reply_reset(r);
    assert_true(js_reply_text(r, 200, "application/json", "{\"k\":\"%s\"}", "v"));
    assert_int_equal(r->http_status, 200);
    assert_int_equal(r->len, strlen("{\"k\":\"v\"}"));
    assert_false(js_reply_text(r, 200, "application/json", "{\"k\":\"%s\"}", big));
    assert_int_equal(r->http_status, 500);
    assert_string_equal(r->content_type, "text/plain");
    assert_int_equal(r->len, strlen(r->body));
    assert_true(r->len < 100);
    assert_null(strchr(r->body, 'x'));
    assert_non_null(strstr(r->note, "JS_REPLY_MAX"));
    /* exactly full (JS_REPLY_MAX - 1 bytes and the NUL) still fits */
    big[JS_REPLY_MAX - 1] = '\0';
    assert_true(js_reply_text(r, 201, "text/plain", "%s", big));
    assert_int_equal(r->http_status, 201);
    assert_int_equal(r->len, JS_REPLY_MAX - 1);
    free(big);
    free(r);
}

/* Asynchronous answers (js_async.c): 000014 given an answer URL and an
 * outbox of 2. The HTTP answer is an empty 200; the JoinAns is in the
 * outbox (and opens); a duplicate is answered once; a reused TransactionID
 * in flight is 409; a full outbox is 503 without using the DevNonce; an
 * unauthenticated request stays synchronous. No delivery thread runs here
 * (js_serve's); tests/integration/js_async.sh delivers. */
static uint32_t async_join(uint16_t nonce, uint32_t tx, char *body, size_t cap, js_reply *r)
{
    uint8_t phy[23];
    join_request(DEV_102, nonce, APPKEY_102, phy);
    txn = tx;
    body_for(BI_MSG_JOIN_REQ, BI_VERSION_1_0, 0x000014, "1.0.2", phy, 23, DEV_102, body, cap);
    js_auth a = {.bearer = sender_token};
    js_handle_bi(w, &a, body, strlen(body), r);
    return tx;
}

static void asynchronous_answers(void **state)
{
    (void)state;
    char err[JS_ERR_MAX], path[400];
    js_worker_close(w);
    js_close(ctx);
    snprintf(path, sizeof path, "%s/dep/ferry.conf", dir);
    FILE *f = fopen(path, "a");
    assert_non_null(f);
    fprintf(f, "peer.000014.answer_url = http://127.0.0.1:9/answers\nasync_outbox_max = 2\n");
    fclose(f);
    snprintf(path, sizeof path, "%s/dep", dir);
    assert_int_equal(js_open(path, &ctx, err), JS_OK);
    assert_int_equal(js_worker_open(ctx, &w, err), JS_OK);
    store *db = js_worker_store(w);
    js_reply *r = malloc(sizeof *r);
    store_outbox_entry *e = malloc(sizeof *e);
    assert_non_null(r);
    assert_non_null(e);
    char body[2048], body2[2048], body3[2048];

    uint32_t tx1 = async_join(0x7A01, 900001, body, sizeof body, r);
    assert_int_equal(r->http_status, 200);
    assert_int_equal(r->len, 0);
    assert_true(r->has_result && r->result == BI_RESULT_SUCCESS);
    assert_non_null(strstr(r->note, "queued"));
    assert_int_equal(store_outbox_find(db, "000014", tx1, e), STORE_OK);
    assert_int_equal(e->state, STORE_OUTBOX_PENDING);
    assert_string_equal(e->answer_url, "http://127.0.0.1:9/answers");
    json_error_t je;
    json_t *o = json_loadb(e->answer, e->answer_len, 0, &je);
    assert_non_null(o);
    assert_string_equal(result_of(o), "Success");
    assert_int_equal(json_integer_value(json_object_get(o, "TransactionID")), tx1);
    lw_join_accept ja;
    open_accept(o, APPKEY_102, false, NULL, 0, 0x7A01, &ja);
    assert_int_equal(ja.net_id, 0x000014);
    json_decref(o);

    /* the same request again: 200, nothing new */
    js_auth a = {.bearer = sender_token};
    js_handle_bi(w, &a, body, strlen(body), r);
    assert_int_equal(r->http_status, 200);
    assert_int_equal(r->len, 0);
    assert_non_null(strstr(r->note, "duplicate"));
    size_t pending = 0;
    assert_int_equal(store_outbox_count(db, STORE_OUTBOX_PENDING, &pending), STORE_OK);
    assert_int_equal(pending, 1);
    /* its TransactionID with another body while the answer is in flight */
    async_join(0x7A02, tx1, body2, sizeof body2, r);
    assert_int_equal(r->http_status, 409);

    uint32_t tx2 = async_join(0x7A03, 900002, body2, sizeof body2, r);
    assert_int_equal(r->http_status, 200);
    /* full (2 pending): 503 before the join is served */
    uint32_t tx3 = async_join(0x7A04, 900003, body3, sizeof body3, r);
    assert_int_equal(r->http_status, 503);
    assert_int_equal(store_outbox_find(db, "000014", tx3, e), STORE_ERR_NOT_FOUND);
    assert_int_equal(store_outbox_finish(db, "000014", tx2, STORE_OUTBOX_DELIVERED), STORE_OK);
    js_handle_bi(w, &a, body3, strlen(body3), r);
    assert_int_equal(r->http_status, 200);
    assert_true(r->has_result && r->result == BI_RESULT_SUCCESS); /* its DevNonce was not used by the 503 */

    /* not authenticated: refused in the HTTP response, never queued */
    js_auth wrong = {.bearer = ns_token};
    uint8_t phy[23];
    join_request(DEV_102, 0x7A05, APPKEY_102, phy);
    body_for(BI_MSG_JOIN_REQ, BI_VERSION_1_0, 0x000014, "1.0.2", phy, 23, DEV_102, body, sizeof body);
    js_handle_bi(w, &wrong, body, strlen(body), r);
    assert_int_equal(r->http_status, 200);
    assert_non_null(strstr(r->body, "UnknownSender"));

    char *m = malloc(1024 * 1024);
    size_t n = 0;
    assert_non_null(m);
    assert_int_equal(js_metrics_render(ctx, m, 1024 * 1024, &n), JS_OK);
    assert_non_null(strstr(m, "ferry_js_async_queued_total 3\n"));
    assert_non_null(strstr(m, "ferry_js_async_duplicates_total 1\n"));
    assert_non_null(strstr(m, "ferry_js_async_refused_total 1\n"));
    free(m);
    free(e);
    free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(provisioning),
        cmocka_unit_test(join_102_and_replay),
        cmocka_unit_test(join_104_counter),
        cmocka_unit_test(join_11_and_app_s_key),
        cmocka_unit_test(rejoin_11),
        cmocka_unit_test(failure_codes),
        cmocka_unit_test(join_eui_ranges),
        cmocka_unit_test(home_ns),
        cmocka_unit_test(admin_api),
        cmocka_unit_test(root_key_cache),
        cmocka_unit_test(metrics),
        cmocka_unit_test(reply_too_large_is_500),
        cmocka_unit_test(asynchronous_answers),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

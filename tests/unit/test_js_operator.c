/*
 * test_js_operator.c - network operators of the activation service: their
 * rows, onboarding checks, and what the bootstrap Join Server answers them
 * (js_handle_bi / js_handle_admin, no HTTP), with a real SoftHSM2 token, a
 * SQLite database and the Identity Manager's policy lookup installed
 * (idm_se_policy), as `ferry serve` installs it.
 *
 * The fixture: operators A (00000A), B (00000B, with an NSID), C (00000C),
 * D (00000D, suspended in one test), a hub operator F (00000F, no
 * credential); the bootstrap network 000000 as a ferry.conf peer; secure
 * elements SE_ALL (every operator admitted), SE_AB (its maker admits A and
 * B only) and SE_MOVED (active at its customer, whose Join Server has home
 * NetID 000013 and allows only A); a plain device DEV_PLAIN (home 000000,
 * AllowedNetIDs C). Each JoinAns is checked with software crypto: the
 * NwkSKey unwraps under the asking operator's KEK, equals the derivation
 * for the accept's JoinNonce, and does not unwrap under another's.
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

#include "idm/idm_roaming.h"
#include "js/js.h"
#include "lorawan/lorawan.h"
#include "store/store_idm_tenant.h"
#include "store/store_operator.h"
#include "test_util.h"

#define JOIN_EUI 0x70B3D57ED0000000ull
#define OP_A 0x00000Au
#define OP_B 0x00000Bu
#define OP_C 0x00000Cu
#define OP_D 0x00000Du
#define OP_F 0x00000Fu
#define NSID_B 0x000000000000000Bull
#define BOOT_NET 0x000000u
#define CUST_NET 0x000013u

#define SE_ALL    0x70B3D57ED0050001ull
#define SE_AB     0x70B3D57ED0050002ull
#define SE_MOVED  0x70B3D57ED0050003ull
#define DEV_PLAIN 0x70B3D57ED0050004ull

static const char *TR_KEK = "A0A1A2A3A4A5A6A7A8A9AAABACADAEAF";
static const char *KEK_HEX[4] = {"000102030405060708090A0B0C0D0EA0", "000102030405060708090A0B0C0D0EB0",
                                 "000102030405060708090A0B0C0D0EC0", "000102030405060708090A0B0C0D0ED0"};
static const char *APPKEY = "2B7E151628AED2A6ABF7158809CF4F3C";

static char dir[256], dep[300];
static char tok[4][80]; /* A, B, C, D */
static char admin_token[80];
static js_ctx *ctx;
static js_worker *w;
static store *db;
static uint32_t txn = 1;
static uint16_t nonce = 1;

/* ---------------------------------------------------------------- helpers */

static void sw_key(lw_key *k, const char *hex)
{
    uint8_t b[16];
    assert_int_equal(tu_hex(hex, b, sizeof(b)), 16);
    assert_int_equal(lw_key_from_bytes(k, b, 16), LW_OK);
}

static void import_kek(const char *label, const char *hex)
{
    uint8_t k[16];
    tu_hex(hex, k, 16);
    char err[JS_ERR_MAX];
    assert_int_equal(js_kek_import_clear(w, label, k, 16, err), JS_OK);
}

/* A bearer token and its hash, as `operator add --token-out` makes them. */
static void make_token(char out[80], uint8_t hash[32])
{
    char t[JS_TOKEN_HEX_LEN + 1];
    assert_int_equal(js_token_generate(t, hash), JS_OK);
    snprintf(out, 80, "%s", t);
}

static void add_operator(uint32_t net_id, const char *kek, int token_index, bool nsid)
{
    js_operator_opts o = {.net_id = net_id, .name = "op", .kek_label = kek, .actor = "test"};
    if (token_index >= 0) {
        make_token(tok[token_index], o.token_sha256);
        o.has_token = true;
    }
    o.has_nsid = nsid;
    o.nsid = NSID_B;
    char err[JS_ERR_MAX];
    js_status st = js_operator_add(db, &o, err);
    if (st != JS_OK)
        fail_msg("operator add %06X: %s", (unsigned)net_id, err);
}

static void put_device(uint64_t dev_eui, const char *allowed)
{
    lw_key kek, key;
    sw_key(&kek, TR_KEK);
    sw_key(&key, APPKEY);
    uint8_t w8[24];
    char wr[49], line[1024], err[JS_ERR_MAX];
    assert_int_equal(lw_key_wrap(lw_crypto_software(), &kek, &key, w8, sizeof(w8)), LW_OK);
    assert_int_equal(lw_hex_encode(w8, 24, wr, sizeof(wr)), LW_OK);
    snprintf(line, sizeof(line),
             "{\"DevEUI\":\"%016llX\",\"JoinEUI\":\"%016llX\",\"MACVersion\":\"1.0.4\",\"HomeNetID\":\"000000\","
             "%s\"NwkKey\":{\"KEKLabel\":\"transport\",\"AESKey\":\"%s\"},\"NSKEKLabel\":\"bootstrap-ns\"}",
             (unsigned long long)dev_eui, JOIN_EUI, allowed, wr);
    store_device d;
    bool clear = false;
    if (js_device_translate(w, line, strlen(line), false, &d, &clear, err) != JS_OK)
        fail_msg("translate: %s", err);
    assert_int_equal(store_device_put(db, &d, false), STORE_OK);
}

static void put_se(uint64_t dev_eui, const char *operators, idm_state state)
{
    store_idm_se se;
    memset(&se, 0, sizeof(se));
    se.dev_eui = dev_eui;
    se.join_eui = JOIN_EUI;
    se.serial = dev_eui & 0xFFFF;
    se.mac_version = STORE_MAC_1_0_4;
    se.mls_key.len = 24;
    memset(se.mls_key.data, 0x5A, 24);
    memset(se.owner_token_hash, (int)(dev_eui & 0xFF), sizeof(se.owner_token_hash));
    se.state = state;
    snprintf(se.operators, sizeof(se.operators), "%s", operators);
    assert_int_equal(store_idm_se_put(db, &se), STORE_OK);
}

/* SE_MOVED's customer: tenant "cust", Join Server "cust-js" (home
 * 000013, allows only A), the claim and the current profile keys. */
static void put_customer(void)
{
    store_idm_tenant t;
    memset(&t, 0, sizeof(t));
    snprintf(t.id, sizeof(t.id), "cust");
    t.kind = STORE_IDM_TENANT_CUSTOMER;
    memset(t.token_hash, 0x33, sizeof(t.token_hash));
    assert_int_equal(store_idm_tenant_put(db, &t), STORE_OK);
    store_idm_js j;
    memset(&j, 0, sizeof(j));
    snprintf(j.id, sizeof(j.id), "cust-js");
    snprintf(j.tenant_id, sizeof(j.tenant_id), "cust");
    snprintf(j.admin_url, sizeof(j.admin_url), "http://127.0.0.1:1");
    j.token_key.len = 24;
    j.token_ct_len = 20;
    j.join_eui = 0x70B3D57ED00A0000ull;
    j.home_net_id = CUST_NET;
    snprintf(j.kek_label, sizeof(j.kek_label), "transport");
    snprintf(j.allowed_net_ids, sizeof(j.allowed_net_ids), "00000A");
    assert_int_equal(store_idm_js_put(db, &j), STORE_OK);
    snprintf(j.id, sizeof(j.id), "bad-js");
    snprintf(j.allowed_net_ids, sizeof(j.allowed_net_ids), "00000a"); /* not canonical: refused */
    assert_int_equal(store_idm_js_put(db, &j), STORE_ERR_ARGUMENT);
    store_idm_claim c;
    memset(&c, 0, sizeof(c));
    c.dev_eui = SE_MOVED;
    snprintf(c.tenant_id, sizeof(c.tenant_id), "cust");
    c.state = STORE_IDM_CLAIM_CLAIMED;
    snprintf(c.js_id, sizeof(c.js_id), "cust-js");
    c.provisioned_at = 1;
    assert_int_equal(store_idm_claim_put(db, &c), STORE_OK);
    store_idm_profile_key k;
    memset(&k, 0, sizeof(k));
    k.dev_eui = SE_MOVED;
    k.slot = STORE_IDM_SLOT_CURRENT;
    snprintf(k.js_id, sizeof(k.js_id), "cust-js");
    k.profile_id = 1;
    k.nwk_key.len = 24;
    memset(k.nwk_key.data, 0x11, 24);
    assert_int_equal(store_idm_key_put(db, &k), STORE_OK);
}

/* ---------------------------------------------------------------- requests */

static void join_request(uint64_t dev_eui, uint16_t dev_nonce, uint8_t phy[23])
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
    sw_key(&k, APPKEY);
    uint8_t mic[4];
    assert_int_equal(lw_mic_join_request(lw_crypto_software(), &k, phy, 19, mic), LW_OK);
    assert_int_equal(lw_frame_set_mic(phy, 23, mic), LW_OK);
}

static void body_for(bi_message_type t, bi_version v, uint32_t sender, uint64_t nsid, const uint8_t *phy,
                     uint64_t dev_eui, char *out, size_t cap)
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
        r.hdr.sender_nsid = nsid;
    }
    if (t == BI_MSG_HOME_NS_REQ) {
        r.u.home_ns.dev_eui = dev_eui;
    } else {
        r.u.join.mac_version = BI_MAC_1_0_4;
        memcpy(r.u.join.phy_payload, phy, 23);
        r.u.join.phy_payload_len = 23;
        r.u.join.dev_eui = dev_eui;
        r.u.join.dev_addr = 0x26011234;
        r.u.join.rx_delay = 1;
    }
    size_t n = 0;
    assert_int_equal(bi_request_build(&r, out, cap, &n), BI_OK);
}

/* Sends a body as `bearer` and records the reply in the metrics, as the
 * HTTP shell does. */
static json_t *call(const char *body, const char *bearer, js_reply *r)
{
    js_auth a = {.bearer = bearer, .tls_chain = NULL, .tls_chain_len = 0};
    js_handle_bi(w, &a, body, strlen(body), r);
    js_metrics_observe(ctx, r, 0.001);
    assert_int_equal(r->http_status, 200);
    json_error_t je;
    json_t *o = json_loadb(r->body, r->len, 0, &je);
    assert_non_null(o);
    return o;
}

static const char *result_of(json_t *o)
{
    return json_string_value(json_object_get(json_object_get(o, "Result"), "ResultCode"));
}

/* A JoinReq of `dev` from `sender`; its ResultCode. On Success the accept
 * and the NwkSKey are checked: the NwkSKey unwraps under kek_index's KEK
 * with label `label` and is the software derivation; under other_index's
 * KEK it does not unwrap. */
static const char *join_as(uint64_t dev, uint32_t sender, bi_version v, uint64_t nsid, const char *bearer,
                           const char *label, int kek_index, int other_index)
{
    static char result[40];
    uint8_t phy[23];
    char body[2048];
    uint16_t dn = nonce++;
    join_request(dev, dn, phy);
    body_for(BI_MSG_JOIN_REQ, v, sender, nsid, phy, dev, body, sizeof(body));
    js_reply r;
    json_t *o = call(body, bearer, &r);
    snprintf(result, sizeof(result), "%s", result_of(o));
    if (strcmp(result, "Success") == 0) {
        /* the accept, decrypted and its MIC checked with the root key */
        uint8_t wire[33], plain[33], mic[4], want[4];
        size_t n = tu_hex(json_string_value(json_object_get(o, "PHYPayload")), wire, sizeof(wire));
        lw_key root;
        sw_key(&root, APPKEY);
        lw_join_accept ja;
        assert_int_equal(lw_join_accept_decrypt(lw_crypto_software(), &root, wire, n, plain, sizeof(plain)), LW_OK);
        assert_int_equal(lw_join_accept_parse(plain, n, &ja, mic), LW_OK);
        assert_int_equal(lw_mic_join_accept_10(lw_crypto_software(), &root, plain, n - 4, want), LW_OK);
        assert_memory_equal(mic, want, 4);
        assert_int_equal(ja.net_id, sender);
        lw_session_keys_10 sk;
        assert_int_equal(lw_derive_session_keys_10(lw_crypto_software(), &root, ja.join_nonce, sender, dn, &sk), LW_OK);
        json_t *env = json_object_get(o, "NwkSKey");
        assert_non_null(env);
        assert_string_equal(json_string_value(json_object_get(env, "KEKLabel")), label);
        uint8_t wr[24];
        assert_int_equal(tu_hex(json_string_value(json_object_get(env, "AESKey")), wr, 24), 24);
        lw_key kek, got;
        sw_key(&kek, KEK_HEX[kek_index]);
        assert_int_equal(lw_key_unwrap(lw_crypto_software(), &kek, wr, 24, &got), LW_OK);
        assert_memory_equal(got.material, sk.nwk_s_key.material, 16);
        sw_key(&kek, KEK_HEX[other_index]);
        assert_int_not_equal(lw_key_unwrap(lw_crypto_software(), &kek, wr, 24, &got), LW_OK);
        /* the IDM is not this device's AS here: no AppSKey goes out */
        assert_null(json_object_get(o, "AppSKey"));
    } else {
        assert_null(json_object_get(o, "NwkSKey"));
        assert_null(json_object_get(o, "PHYPayload"));
    }
    json_decref(o);
    return result;
}

static const char *home_ns_as(uint64_t dev, uint32_t sender, const char *bearer, char hnet[8])
{
    static char result[40];
    char body[1024];
    body_for(BI_MSG_HOME_NS_REQ, BI_VERSION_1_0, sender, 0, NULL, dev, body, sizeof(body));
    js_reply r;
    json_t *o = call(body, bearer, &r);
    snprintf(result, sizeof(result), "%s", result_of(o));
    const char *h = json_string_value(json_object_get(o, "HNetID"));
    snprintf(hnet, 8, "%s", h != NULL ? h : "");
    json_decref(o);
    return result;
}

/* ---------------------------------------------------------------- fixture */

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "%s/ferry-op-XXXXXX", access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    if (mkdtemp(dir) == NULL)
        return -1;
    char err[JS_ERR_MAX], path[400];
    snprintf(dep, sizeof(dep), "%s/dep", dir);
    static const js_join_eui_range je = {JOIN_EUI, 64};
    js_init_opts o = {.join_euis = &je, .n_join_euis = 1};
    if (js_deploy_init(dep, &o, err) != JS_OK) {
        fprintf(stderr, "init: %s\n", err);
        return -1;
    }
    snprintf(path, sizeof(path), "%s/boot.token", dir);
    if (js_peer_add(dep, "000000", path, NULL, NULL, err) != JS_OK)
        return -1;
    snprintf(path, sizeof(path), "%s/admin.token", dep);
    FILE *f = fopen(path, "r");
    if (f == NULL || fgets(admin_token, sizeof(admin_token), f) == NULL)
        return -1;
    fclose(f);
    admin_token[strcspn(admin_token, "\n")] = '\0';
    if (js_open(dep, &ctx, err) != JS_OK || js_worker_open(ctx, &w, err) != JS_OK) {
        fprintf(stderr, "open: %s\n", err);
        return -1;
    }
    js_set_se_policy(ctx, idm_se_policy, NULL);
    db = js_worker_store(w);
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

/* ---------------------------------------------------------------- tests */

/* Runs first: KEKs, operators, devices. What onboarding refuses. */
static void onboarding(void **state)
{
    (void)state;
    import_kek("transport", TR_KEK);
    import_kek("bootstrap-ns", "00112233445566778899AABBCCDDEEFF");
    import_kek("ns:A", KEK_HEX[0]);
    import_kek("ns:B", KEK_HEX[1]);
    import_kek("ns:C", KEK_HEX[2]);
    import_kek("ns:D", KEK_HEX[3]);
    store_idm_audit_report before;
    assert_int_equal(store_idm_audit_verify(db, &before), STORE_OK);

    char err[JS_ERR_MAX];
    js_operator_opts o = {.net_id = OP_A, .kek_label = "no-such-kek", .has_token = true};
    assert_int_equal(js_operator_add(db, &o, err), JS_ERR_NOT_FOUND);
    assert_non_null(strstr(err, "no-such-kek"));
    o.kek_label = "ns:A";
    o.has_token = false;
    assert_int_equal(js_operator_add(db, &o, err), JS_ERR_INPUT); /* no credential */
    o.client_ca = "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n";
    assert_int_equal(js_operator_add(db, &o, err), JS_ERR_INPUT); /* a CA that does not parse */
    o.client_ca = NULL;
    o.has_token = true;
    o.net_id = 0x1000000;
    assert_int_equal(js_operator_add(db, &o, err), JS_ERR_INPUT);
    o.net_id = OP_A;
    o.kek_label = "";
    assert_int_equal(js_operator_add(db, &o, err), JS_ERR_INPUT); /* direct without KEK */
    store_operator row;
    assert_int_equal(store_operator_get(db, OP_A, &row), STORE_ERR_NOT_FOUND);

    add_operator(OP_A, "ns:A", 0, false);
    add_operator(OP_B, "ns:B", 1, true);
    add_operator(OP_C, "ns:C", 2, false);
    add_operator(OP_D, "ns:D", 3, false);
    js_operator_opts hub = {.net_id = OP_F, .name = "via the hub", .reach = STORE_OPERATOR_HUB, .actor = "test"};
    assert_int_equal(js_operator_add(db, &hub, err), JS_OK);
    o.kek_label = "ns:A";
    assert_int_equal(js_operator_add(db, &o, err), JS_ERR_EXISTS);

    assert_int_equal(store_operator_get(db, OP_B, &row), STORE_OK);
    assert_true(row.has_token && row.has_nsid && row.nsid == NSID_B && !row.has_client_ca && !row.suspended);
    assert_string_equal(row.kek_label, "ns:B");
    assert_int_equal(store_operator_get(db, OP_F, &row), STORE_OK);
    assert_true(row.reach == STORE_OPERATOR_HUB && !row.has_token && row.kek_label[0] == '\0');
    store_operator page[8];
    size_t n = 0;
    assert_int_equal(store_operator_list(db, NULL, page, 8, &n), STORE_OK);
    assert_int_equal(n, 5);
    assert_int_equal(page[0].net_id, OP_A);
    uint32_t after = OP_C;
    assert_int_equal(store_operator_list(db, &after, page, 8, &n), STORE_OK);
    assert_int_equal(n, 2);
    assert_int_equal(page[0].net_id, OP_D);

    /* five operator.add entries, the chain still verifies */
    store_idm_audit_report now;
    assert_int_equal(store_idm_audit_verify(db, &now), STORE_OK);
    assert_true(now.ok);
    assert_int_equal(now.entries, before.entries + 5);

    put_device(SE_ALL, "");
    put_device(SE_AB, "");
    put_device(SE_MOVED, "");
    put_device(DEV_PLAIN, "\"AllowedNetIDs\":[\"00000C\"],");
    put_se(SE_ALL, "*", IDM_STATE_MANUFACTURED);
    put_se(SE_AB, "00000A,00000B", IDM_STATE_BOOTSTRAPPED);
    put_se(SE_MOVED, "", IDM_STATE_ACTIVE_AT_CUSTOMER);
    put_customer();
    js_se_policy p;
    assert_int_equal(idm_se_policy(NULL, db, SE_AB, &p), JS_OK);
    assert_true(p.is_se && !p.all_operators && p.operator_count == 2 && p.operators[1] == OP_B && !p.moved);
    assert_int_equal(idm_se_policy(NULL, db, SE_MOVED, &p), JS_OK);
    assert_true(p.is_se && p.all_operators && p.moved && p.home_net_id == CUST_NET && p.allowed_count == 1);
    assert_int_equal(idm_se_policy(NULL, db, DEV_PLAIN, &p), JS_OK);
    assert_false(p.is_se);
}

/* Each operator gets its keys under its own KEK, never another's. */
static void keys_under_own_kek(void **state)
{
    (void)state;
    assert_string_equal(join_as(SE_ALL, OP_A, BI_VERSION_1_0, 0, tok[0], "ns:A", 0, 1), "Success");
    assert_string_equal(join_as(SE_ALL, OP_C, BI_VERSION_1_0, 0, tok[2], "ns:C", 2, 0), "Success");
    /* B in BI 1.1 with its NSID; with another NSID it is not B */
    assert_string_equal(join_as(SE_ALL, OP_B, BI_VERSION_1_1, NSID_B, tok[1], "ns:B", 1, 2), "Success");
    assert_string_equal(join_as(SE_ALL, OP_B, BI_VERSION_1_1, 0x42, tok[1], "", 0, 0), "UnknownSender");
    /* a plain device: C is in its AllowedNetIDs and gets its own KEK, not
     * the device's NSKEKLabel; A is neither home nor allowed */
    assert_string_equal(join_as(DEV_PLAIN, OP_C, BI_VERSION_1_0, 0, tok[2], "ns:C", 2, 3), "Success");
    assert_string_equal(join_as(DEV_PLAIN, OP_A, BI_VERSION_1_0, 0, tok[0], "", 0, 0), "ActivationDisallowed");
}

static void refusals(void **state)
{
    (void)state;
    /* the maker of SE_AB admits A and B only */
    assert_string_equal(join_as(SE_AB, OP_C, BI_VERSION_1_0, 0, tok[2], "", 0, 0), "ActivationDisallowed");
    assert_string_equal(join_as(SE_AB, OP_A, BI_VERSION_1_0, 0, tok[0], "ns:A", 0, 2), "Success");
    /* a wrong token, another operator's token, an unknown NetID, the hub
     * operator (no credential to talk directly) */
    assert_string_equal(join_as(SE_ALL, OP_A, BI_VERSION_1_0, 0, "nope", "", 0, 0), "UnknownSender");
    assert_string_equal(join_as(SE_ALL, OP_A, BI_VERSION_1_0, 0, tok[2], "", 0, 0), "UnknownSender");
    assert_string_equal(join_as(SE_ALL, 0x0000EE, BI_VERSION_1_0, 0, tok[0], "", 0, 0), "UnknownSender");
    assert_string_equal(join_as(SE_ALL, OP_F, BI_VERSION_1_0, 0, NULL, "", 0, 0), "UnknownSender");
    /* suspended: refused, never keys; resumed: served again */
    char err[JS_ERR_MAX], h[8];
    assert_int_equal(js_operator_set_suspended(db, OP_D, true, "test", err), JS_OK);
    assert_string_equal(join_as(SE_ALL, OP_D, BI_VERSION_1_0, 0, tok[3], "", 0, 0), "ActivationDisallowed");
    assert_string_equal(home_ns_as(SE_ALL, OP_D, tok[3], h), "NoRoamingAgreement");
    assert_string_equal(h, "");
    /* a suspended operator with a wrong token is still an unknown sender */
    assert_string_equal(join_as(SE_ALL, OP_D, BI_VERSION_1_0, 0, "nope", "", 0, 0), "UnknownSender");
    assert_int_equal(js_operator_set_suspended(db, OP_D, false, "test", err), JS_OK);
    assert_string_equal(join_as(SE_ALL, OP_D, BI_VERSION_1_0, 0, tok[3], "ns:D", 3, 0), "Success");
    assert_int_equal(js_operator_set_suspended(db, 0x0000EE, true, "test", err), JS_ERR_NOT_FOUND);
}

static void home_ns(void **state)
{
    (void)state;
    char h[8];
    /* a bootstrap SE: the bootstrap network is home */
    assert_string_equal(home_ns_as(SE_ALL, OP_B, tok[1], h), "Success");
    assert_string_equal(h, "000000");
    assert_string_equal(home_ns_as(SE_AB, OP_C, tok[2], h), "NoRoamingAgreement");
    /* a moved SE: its customer's network, for the networks the customer allows */
    assert_string_equal(home_ns_as(SE_MOVED, OP_A, tok[0], h), "Success");
    assert_string_equal(h, "000013");
    assert_string_equal(home_ns_as(SE_MOVED, OP_B, tok[1], h), "NoRoamingAgreement");
    /* the bootstrap network's own peer asks too: the same answer */
    char path[400], boot[80];
    snprintf(path, sizeof(path), "%s/boot.token", dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    assert_non_null(fgets(boot, sizeof(boot), f));
    fclose(f);
    boot[strcspn(boot, "\n")] = '\0';
    assert_string_equal(home_ns_as(SE_ALL, BOOT_NET, boot, h), "Success");
    assert_string_equal(h, "000000");
    /* an SE on trial of its first profile is still at bootstrap */
    assert_int_equal(store_idm_se_set_state(db, SE_MOVED, IDM_STATE_ACTIVE_AT_CUSTOMER, IDM_STATE_PROFILE_PENDING), STORE_OK);
    assert_string_equal(home_ns_as(SE_MOVED, OP_B, tok[1], h), "Success");
    assert_string_equal(h, "000000");
    assert_int_equal(store_idm_se_set_state(db, SE_MOVED, IDM_STATE_PROFILE_PENDING, IDM_STATE_ACTIVE_AT_CUSTOMER), STORE_OK);
}

static void counters(void **state)
{
    (void)state;
    char text[65536];
    size_t n = 0;
    assert_int_equal(js_metrics_render(ctx, text, sizeof(text), &n), JS_OK);
    assert_non_null(strstr(text, "ferry_js_operator_activations_total{operator=\"00000A\"} 2\n"));
    assert_non_null(strstr(text, "ferry_js_operator_activations_total{operator=\"00000D\"} 1\n"));
    assert_non_null(
        strstr(text, "ferry_js_operator_refusals_total{operator=\"00000C\",request=\"join\",reason=\"ActivationDisallowed\"} 1\n"));
    assert_non_null(
        strstr(text, "ferry_js_operator_refusals_total{operator=\"00000A\",request=\"join\",reason=\"UnknownSender\"} 2\n"));
    assert_non_null(
        strstr(text, "ferry_js_operator_refusals_total{operator=\"00000D\",request=\"home_ns\",reason=\"NoRoamingAgreement\"} 1\n"));
    assert_non_null(strstr(text, "ferry_js_operator_home_ns_total{operator=\"00000B\"} 2\n"));
    /* a NetID that is not onboarded never becomes a label */
    assert_null(strstr(text, "operator=\"0000EE\""));
    /* flushed to the database: `operator show` counts them; twice = once */
    assert_int_equal(js_metrics_flush(ctx, db), JS_OK);
    assert_int_equal(js_metrics_flush(ctx, db), JS_OK);
    store_operator op;
    assert_int_equal(store_operator_get(db, OP_A, &op), STORE_OK);
    char js[4096];
    assert_int_equal(js_operator_json(db, &op, true, js, sizeof(js), &n), JS_OK);
    assert_non_null(strstr(js, "\"Activations\":2"));
    assert_non_null(strstr(js, "\"UnknownSender\":2"));
    assert_non_null(strstr(js, "\"HomeNSAnswers\":1"));
    assert_null(strstr(js, tok[0]));
    store_operator_count c[16];
    assert_int_equal(store_operator_counts(db, OP_C, c, 16, &n), STORE_OK);
    assert_int_equal(n, 3); /* join ActivationDisallowed, join Success, home_ns NoRoamingAgreement */
}

static void admin_api(void **state)
{
    (void)state;
    js_reply r;
    js_auth bad = {.bearer = "wrong"}, ok = {.bearer = admin_token};
    const char *body = "{\"NetID\":\"0x00002a\",\"Name\":\"Net 42\",\"KEKLabel\":\"ns:A\","
                       "\"TokenSHA256\":\"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\"}";
    js_handle_admin(w, &bad, "POST", "/api/v1/operators", body, strlen(body), &r);
    assert_int_equal(r.http_status, 401);
    js_handle_admin(w, &ok, "POST", "/api/v1/operators", body, strlen(body), &r);
    assert_int_equal(r.http_status, 201);
    assert_non_null(strstr(r.body, "\"NetID\":\"00002A\""));
    assert_non_null(strstr(r.body, "\"Token\":true"));
    assert_null(strstr(r.body, "00112233445566778899"));
    js_handle_admin(w, &ok, "POST", "/api/v1/operators", body, strlen(body), &r);
    assert_int_equal(r.http_status, 409);
    const char *typo = "{\"NetID\":\"00002B\",\"KEKLabel\":\"ns:A\",\"TokenSha256\":\"00\"}";
    js_handle_admin(w, &ok, "POST", "/api/v1/operators", typo, strlen(typo), &r);
    assert_int_equal(r.http_status, 400);
    assert_non_null(strstr(r.body, "TokenSha256"));
    const char *nokek = "{\"NetID\":\"00002B\",\"KEKLabel\":\"nope\",\"TokenSHA256\":"
                        "\"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\"}";
    js_handle_admin(w, &ok, "POST", "/api/v1/operators", nokek, strlen(nokek), &r);
    assert_int_equal(r.http_status, 400);
    js_handle_admin(w, &ok, "GET", "/api/v1/operators/00002B", "", 0, &r);
    assert_int_equal(r.http_status, 404);
    js_handle_admin(w, &ok, "GET", "/api/v1/operators", "", 0, &r);
    assert_int_equal(r.http_status, 200);
    assert_non_null(strstr(r.body, "\"NetID\":\"00000A\""));
    assert_non_null(strstr(r.body, "\"NetID\":\"00002A\""));
    js_handle_admin(w, &ok, "GET", "/api/v1/operators?after=00000F", "", 0, &r);
    assert_int_equal(r.http_status, 200);
    assert_null(strstr(r.body, "\"NetID\":\"00000A\""));
    assert_non_null(strstr(r.body, "\"NetID\":\"00002A\""));
    js_handle_admin(w, &ok, "POST", "/api/v1/operators/00002A/suspend", "", 0, &r);
    assert_int_equal(r.http_status, 200);
    assert_non_null(strstr(r.body, "\"State\":\"suspended\""));
    js_handle_admin(w, &ok, "POST", "/api/v1/operators/00002A/resume", "", 0, &r);
    assert_non_null(strstr(r.body, "\"State\":\"active\""));
    js_handle_admin(w, &ok, "GET", "/api/v1/operators/00000A", "", 0, &r);
    assert_int_equal(r.http_status, 200);
    assert_non_null(strstr(r.body, "\"Activations\":2"));
    js_handle_admin(w, &ok, "DELETE", "/api/v1/operators/00002A", "", 0, &r);
    assert_int_equal(r.http_status, 200);
    js_handle_admin(w, &ok, "DELETE", "/api/v1/operators/00002A", "", 0, &r);
    assert_int_equal(r.http_status, 404);
}

/* A removed operator is an unknown sender; its counters are gone. */
static void removal(void **state)
{
    (void)state;
    char err[JS_ERR_MAX];
    /* one more activation, counted in this process but not yet flushed */
    assert_string_equal(join_as(SE_ALL, OP_C, BI_VERSION_1_0, 0, tok[2], "ns:C", 2, 1), "Success");
    assert_int_equal(js_operator_remove(db, OP_C, "test", err), JS_OK);
    assert_string_equal(join_as(SE_ALL, OP_C, BI_VERSION_1_0, 0, tok[2], "", 0, 0), "UnknownSender");
    store_operator_count c[16];
    size_t n = 1;
    assert_int_equal(store_operator_counts(db, OP_C, c, 16, &n), STORE_OK);
    assert_int_equal(n, 0);
    /* what it was still counted in this process does not bring them back */
    assert_int_equal(js_metrics_flush(ctx, db), JS_OK);
    assert_int_equal(store_operator_counts(db, OP_C, c, 16, &n), STORE_OK);
    assert_int_equal(n, 0);
    assert_int_equal(js_operator_remove(db, OP_C, "test", err), JS_ERR_NOT_FOUND);
    store_idm_audit_report rep;
    assert_int_equal(store_idm_audit_verify(db, &rep), STORE_OK);
    assert_true(rep.ok);
}

/* The NetID lists of `idm import --operators` and `idm js add --allowed-net-ids`. */
static void net_id_lists(void **state)
{
    (void)state;
    char out[STORE_IDM_OPERATORS_MAX + 1], err[IDM_ERR_MAX];
    assert_int_equal(idm_net_id_list_canon("*", true, 64, out, sizeof(out), err), IDM_OK);
    assert_string_equal(out, "*");
    assert_int_equal(idm_net_id_list_canon("", false, 16, out, sizeof(out), err), IDM_OK);
    assert_string_equal(out, "");
    assert_int_equal(idm_net_id_list_canon("00000a,0xC00053", true, 64, out, sizeof(out), err), IDM_OK);
    assert_string_equal(out, "00000A,C00053");
    assert_int_equal(idm_net_id_list_canon("00000A,00000a", true, 64, out, sizeof(out), err), IDM_ERR_INPUT);
    assert_int_equal(idm_net_id_list_canon("00000A,", true, 64, out, sizeof(out), err), IDM_ERR_INPUT);
    assert_int_equal(idm_net_id_list_canon("0000A", true, 64, out, sizeof(out), err), IDM_ERR_INPUT);
    assert_int_equal(idm_net_id_list_canon("000001,000002,000003", false, 2, out, sizeof(out), err), IDM_ERR_INPUT);
    bool all = false;
    uint32_t ids[4];
    size_t n = 0;
    assert_int_equal(idm_net_id_list_parse("00000A,C00053", &all, ids, 4, &n), IDM_OK);
    assert_true(!all && n == 2 && ids[1] == 0xC00053);
    assert_int_equal(idm_net_id_list_parse("00000A;C00053", &all, ids, 4, &n), IDM_ERR_INPUT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(onboarding), cmocka_unit_test(keys_under_own_kek), cmocka_unit_test(refusals),
        cmocka_unit_test(home_ns),    cmocka_unit_test(counters),           cmocka_unit_test(admin_api),
        cmocka_unit_test(removal),    cmocka_unit_test(net_id_lists),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

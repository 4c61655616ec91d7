/*
 * test_lab_ns.c - the lab network server's engine (src/lab/lab_ns*.c) with
 * fake I/O: a fake Join Server that answers JoinReqs with keys wrapped under
 * the NS's KEK, a fake AS that records uplinks, a fake gateway link that
 * records datagrams. Frames are built here with the LoRaWAN core and the
 * test's own session keys. Covers: join, PULL_RESP timing, de-duplication
 * and the best gateway, 32-bit FCnt (rollover), replay and MIC refusal,
 * 1.0 and 1.1 MICs, MAC commands (LinkCheckReq in encrypted 1.1 FOpts),
 * /downlink answers, class A delivery, routes and config refusals, and
 * the state file: sessions and counters back after a restart, keys only
 * wrapped in it, a torn last line, a damaged file or another KEK refused.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lab/lab.h"
#include "lorawan/lorawan.h"
#include "test_util.h"

#define NET_ID   0x000013u
#define JOIN_EUI 0x70B3D57ED0000000ULL
#define DEV_EUI  0x0004A30B001C0A01ULL
#define GW1 0xAA555A0000000001ULL
#define GW2 0xAA555A0000000002ULL
#define T0 1700000000000ULL

static const char KEK_HEX[] = "00112233445566778899aabbccddeeff";
static const char NWK_HEX[] = "000102030405060708090a0b0c0d0e0f"; /* NwkSKey / FNwkSIntKey */
static const char SNWK_HEX[] = "101112131415161718191a1b1c1d1e1f";
static const char ENC_HEX[] = "202122232425262728292a2b2c2d2e2f";

typedef struct fake {
    bool v11;                 /* the JS answers with 1.1 keys */
    const char *result;       /* NULL: Success */
    int js_calls, as_calls;
    char as_body[4096];
    const char *as_answer;
    uint8_t sent[4][2048];
    size_t sent_len[4];
    uint64_t sent_gw[4];
    int n_sent;
    char last_event[64];
    uint32_t last_dev_addr;   /* of the last JoinReq */
} fake;

static void wrap_env(bi_key_envelope *env, const char *label, const char *key_hex)
{
    lw_key kek, k;
    tu_key(&kek, KEK_HEX);
    tu_key(&k, key_hex);
    uint8_t w[24];
    assert_int_equal(lw_key_wrap(lw_crypto_software(), &kek, &k, w, sizeof(w)), LW_OK);
    assert_int_equal(bi_key_envelope_set_wrapped(env, label, w), BI_OK);
    env->present = true;
}

static lab_status fake_js(void *user, const lab_ns_route *r, const char *body, size_t len, char *ans, size_t cap,
                          size_t *ans_len)
{
    (void)r;
    fake *f = user;
    f->js_calls++;
    bi_request req;
    bi_error err;
    assert_int_equal(bi_request_parse(body, len, &req, &err), BI_OK);
    assert_int_equal(req.hdr.message_type, BI_MSG_JOIN_REQ);
    assert_true(req.hdr.sender_id.value == NET_ID);
    assert_true(req.u.join.dev_addr >> 25 == (NET_ID & 0x3F));
    f->last_dev_addr = req.u.join.dev_addr;
    bi_header ah;
    assert_int_equal(bi_answer_header(&req.hdr, &ah), BI_OK);
    bi_join_ans a;
    memset(&a, 0, sizeof(a));
    if (f->result != NULL) {
        assert_int_equal(bi_result_code_parse(f->result, &a.result.code), BI_OK);
    } else {
        a.phy_payload_len = tu_hex("20 0102030405060708090A0B0C0D0E0F10", a.phy_payload, sizeof(a.phy_payload));
        if (f->v11) {
            wrap_env(&a.f_nwk_s_int_key, "ns:000013", NWK_HEX);
            wrap_env(&a.s_nwk_s_int_key, "ns:000013", SNWK_HEX);
            wrap_env(&a.nwk_s_enc_key, "ns:000013", ENC_HEX);
        } else {
            wrap_env(&a.nwk_s_key, "ns:000013", NWK_HEX);
        }
        wrap_env(&a.app_s_key, "as:app1", ENC_HEX);
        a.session_key_id_len = 2;
        a.session_key_id[0] = 0xAB;
    }
    assert_int_equal(bi_join_ans_build(&ah, &a, ans, cap, ans_len), BI_OK);
    return LAB_OK;
}

static lab_status fake_as(void *user, const char *body, size_t len, char *ans, size_t cap, size_t *ans_len)
{
    fake *f = user;
    f->as_calls++;
    assert_true(len < sizeof(f->as_body));
    memcpy(f->as_body, body, len);
    f->as_body[len] = 0;
    snprintf(ans, cap, "%s", f->as_answer ? f->as_answer : "{}");
    *ans_len = strlen(ans);
    return LAB_OK;
}

static void fake_send(void *user, uint64_t gw, const uint8_t *d, size_t len)
{
    fake *f = user;
    assert_true(f->n_sent < 4 && len <= sizeof(f->sent[0]));
    memcpy(f->sent[f->n_sent], d, len);
    f->sent_len[f->n_sent] = len;
    f->sent_gw[f->n_sent++] = gw;
}

static void fake_log(void *user, const char *event, uint64_t dev_eui, const char *detail)
{
    (void)dev_eui;
    (void)detail;
    fake *f = user;
    snprintf(f->last_event, sizeof(f->last_event), "%s", event);
}

static void config(lab_ns_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->net_id = NET_ID;
    cfg->nsid = NET_ID;
    cfg->bi_version = BI_VERSION_1_1;
    cfg->mac_version = BI_MAC_1_1;
    strcpy(cfg->kek_label, "ns:000013");
    tu_key(&cfg->kek, KEK_HEX);
    cfg->routes[0].prefix = JOIN_EUI;
    cfg->routes[0].bits = 32;
    strcpy(cfg->routes[0].url, "http://js.invalid/");
    cfg->n_routes = 1;
    cfg->dedup_ms = 200;
    cfg->late_ms = 1000;
    cfg->rx_delay = 1;
    cfg->tx_power = 14;
}

static lab_ns *engine(fake *f)
{
    lab_ns_config cfg;
    config(&cfg);
    lab_ns_io io = {.user = f, .js_post = fake_js, .as_post = fake_as, .send = fake_send, .log = fake_log};
    lab_ns *ns = NULL;
    assert_int_equal(lab_ns_new(&cfg, &io, &ns), LAB_OK);
    return ns;
}

/* One rxpk of phy[len] from gateway gw in a PUSH_DATA; checks the PUSH_ACK. */
static void push(lab_ns *ns, uint64_t now, uint64_t gw, const uint8_t *phy, size_t len, double snr)
{
    lab_rxpk pk;
    memset(&pk, 0, sizeof(pk));
    pk.tmst = 1000000;
    pk.freq = 868.1;
    pk.stat = 1;
    pk.lora = true;
    pk.sf = 7;
    pk.bw = 125;
    pk.lsnr = snr;
    pk.rssi = -50;
    pk.size = len;
    memcpy(pk.data, phy, len);
    char json[2048];
    size_t jn = 0;
    assert_int_equal(lab_udp_rxpk_build(&pk, 1, json, sizeof(json), &jn), LAB_OK);
    lab_udp_packet p = {.token = 7, .type = LAB_UDP_PUSH_DATA, .gateway_eui = gw, .json = (const uint8_t *)json,
                        .json_len = jn};
    uint8_t d[2100], rep[16];
    size_t dn = 0, rn = 0;
    uint64_t g = 0;
    bool pull = true;
    assert_int_equal(lab_udp_encode(&p, d, sizeof(d), &dn), LAB_OK);
    assert_int_equal(lab_ns_datagram(ns, now, d, dn, rep, sizeof(rep), &rn, &g, &pull), LAB_OK);
    assert_int_equal(rn, 4);
    assert_int_equal(rep[3], LAB_UDP_PUSH_ACK);
    assert_false(pull);
    assert_true(g == gw);
}

/* The txpk of the f->n_sent-th datagram. */
static void sent_txpk(const fake *f, int i, lab_txpk *tx)
{
    lab_udp_packet p;
    assert_int_equal(lab_udp_decode(f->sent[i], f->sent_len[i], &p), LAB_OK);
    assert_int_equal(p.type, LAB_UDP_PULL_RESP);
    assert_int_equal(lab_udp_txpk_parse(p.json, p.json_len, tx), LAB_OK);
}

static void join(lab_ns *ns, fake *f, uint64_t now)
{
    uint8_t jr[23] = {0}; /* MHDR 00, JoinEUI, DevEUI, DevNonce 1; the MIC is the JS's to check */
    jr[17] = 1;
    lw_put_le(jr + 1, JOIN_EUI, 8);
    lw_put_le(jr + 9, DEV_EUI, 8);
    push(ns, now, GW1, jr, sizeof(jr), 5);
    assert_int_equal(lab_ns_tick(ns, now + 100), 100);
    assert_int_equal(f->js_calls, 0);
    lab_ns_tick(ns, now + 200);
}

/* A data uplink of the session the fake JS made. */
static size_t uplink(bool v11, uint32_t dev_addr, uint32_t fcnt, bool confirmed, const uint8_t *fopts, uint8_t fopts_len,
                     uint8_t port, uint8_t *out)
{
    lw_frame fr;
    memset(&fr, 0, sizeof(fr));
    fr.mtype = confirmed ? LW_MTYPE_CONFIRMED_DATA_UP : LW_MTYPE_UNCONFIRMED_DATA_UP;
    lw_data_frame *d = &fr.u.data;
    d->dev_addr = dev_addr;
    d->fcnt = (uint16_t)fcnt;
    uint8_t enc[16];
    lw_key nwk, snwk, nenc;
    tu_key(&nwk, NWK_HEX);
    tu_key(&snwk, SNWK_HEX);
    tu_key(&nenc, ENC_HEX);
    const lw_crypto *c = lw_crypto_software();
    if (fopts_len) {
        memcpy(enc, fopts, fopts_len);
        if (v11)
            assert_int_equal(lw_fopts_crypt_11(c, &nenc, true, false, dev_addr, fcnt, fopts, fopts_len, enc), LW_OK);
        d->fopts = enc;
        d->fctrl.fopts_len = fopts_len;
    }
    static const uint8_t payload[3] = {0xC1, 0xC2, 0xC3};
    if (port) {
        d->has_fport = true;
        d->fport = port;
        d->frm_payload = payload;
        d->frm_payload_len = sizeof(payload);
    }
    size_t n = 0;
    assert_int_equal(lw_frame_encode(&fr, out, LW_PHY_MAX, &n), LW_OK);
    lw_data_mic_params mp = {.dev_addr = dev_addr, .fcnt = fcnt, .tx_dr = 5, .tx_ch = 0};
    uint8_t mic[4];
    if (v11)
        assert_int_equal(lw_mic_data_up_11(c, &snwk, &nwk, &mp, out, n - 4, mic), LW_OK);
    else
        assert_int_equal(lw_mic_data_10(c, &nwk, &mp, out, n - 4, mic), LW_OK);
    assert_int_equal(lw_frame_set_mic(out, n, mic), LW_OK);
    return n;
}

#define ADDR ((NET_ID & 0x3Fu) << 25 | 1u)

static void test_join_and_uplinks_10(void **state)
{
    (void)state;
    fake f;
    memset(&f, 0, sizeof(f));
    lab_ns *ns = engine(&f);
    join(ns, &f, T0);
    assert_int_equal(f.js_calls, 1);
    assert_int_equal(f.n_sent, 1);
    lab_txpk tx;
    sent_txpk(&f, 0, &tx);
    assert_true(tx.tmst == 6000000 && tx.freq == 868.1 && tx.sf == 7 && tx.ipol && tx.size == 17);
    lab_ns_stats st;
    lab_ns_stats_get(ns, &st);
    assert_int_equal(st.joins, 1);
    assert_int_equal(st.sessions, 1);

    uint8_t phy[LW_PHY_MAX];
    uint64_t t = T0 + 1000;
    size_t n = uplink(false, ADDR, 0, false, NULL, 0, 2, phy);
    push(ns, t, GW1, phy, n, 3);
    push(ns, t + 50, GW2, phy, n, 9); /* a better copy from a second gateway */
    lab_ns_tick(ns, t + 200);
    lab_ns_stats_get(ns, &st);
    assert_int_equal(st.uplinks, 2);
    assert_int_equal(st.duplicates, 1);
    assert_int_equal(f.as_calls, 1);
    assert_non_null(strstr(f.as_body, "\"FCnt\":0"));
    assert_non_null(strstr(f.as_body, "\"FRMPayload\":\"C1C2C3\""));
    assert_non_null(strstr(f.as_body, "\"KEKLabel\":\"as:app1\""));
    assert_non_null(strstr(f.as_body, "\"SessionKeyID\":\"AB00\""));
    assert_non_null(strstr(f.as_body, "\"MaxDownlinkPayload\":242"));
    /* a copy after the window but within late_ms: still a duplicate */
    push(ns, t + 600, GW1, phy, n, 3);
    lab_ns_tick(ns, t + 900);
    lab_ns_stats_get(ns, &st);
    assert_int_equal(st.duplicates, 2);
    /* the same frame later: a replay */
    push(ns, t + 5000, GW1, phy, n, 3);
    lab_ns_tick(ns, t + 5200);
    lab_ns_stats_get(ns, &st);
    assert_int_equal(st.replays, 1);
    assert_int_equal(f.as_calls, 1);
    /* a wrong MIC */
    n = uplink(false, ADDR, 1, false, NULL, 0, 2, phy);
    phy[n - 1] ^= 1;
    push(ns, t + 6000, GW1, phy, n, 3);
    lab_ns_tick(ns, t + 6200);
    lab_ns_stats_get(ns, &st);
    assert_int_equal(st.mic_failures, 1);
    /* an unknown DevAddr */
    n = uplink(false, ADDR + 1, 1, false, NULL, 0, 2, phy);
    push(ns, t + 7000, GW1, phy, n, 3);
    lab_ns_tick(ns, t + 7200);
    lab_ns_stats_get(ns, &st);
    assert_int_equal(st.unknown_dev_addr, 1);
    /* 32-bit FCnt: 65535, then wire 0x0001 is 65537 */
    n = uplink(false, ADDR, 65535, false, NULL, 0, 2, phy);
    push(ns, t + 8000, GW1, phy, n, 3);
    lab_ns_tick(ns, t + 8200);
    assert_non_null(strstr(f.as_body, "\"FCnt\":65535"));
    n = uplink(false, ADDR, 65537, false, NULL, 0, 2, phy);
    push(ns, t + 9000, GW1, phy, n, 3);
    lab_ns_tick(ns, t + 9200);
    assert_non_null(strstr(f.as_body, "\"FCnt\":65537"));
    /* and the old 65535 is now a replay */
    n = uplink(false, ADDR, 65535, false, NULL, 0, 2, phy);
    phy[0] ^= 0; /* same bytes as before but outside late_ms */
    push(ns, t + 12000, GW1, phy, n, 3);
    lab_ns_tick(ns, t + 12200);
    lab_ns_stats_get(ns, &st);
    assert_int_equal(st.replays, 2);
    lab_ns_free(ns);
}

static void test_downlink_endpoint_and_class_a(void **state)
{
    (void)state;
    fake f;
    memset(&f, 0, sizeof(f));
    lab_ns *ns = engine(&f);
    join(ns, &f, T0);
    char ans[512];
    char body[256];
    snprintf(body, sizeof(body), "{\"DevEUI\":\"%016llX\",\"FPort\":3,\"FCnt\":4,\"FRMPayload\":\"0102\"}",
             (unsigned long long)DEV_EUI);
    assert_int_equal(lab_ns_downlink_post(ns, body, strlen(body), ans, sizeof(ans)), 409);
    assert_non_null(strstr(ans, "\"NextAFCntDown\":0"));
    assert_int_equal(lab_ns_downlink_post(ns, "{", 1, ans, sizeof(ans)), 400);
    const char *unk = "{\"DevEUI\":\"0000000000000001\",\"FPort\":3,\"FCnt\":0,\"FRMPayload\":\"01\"}";
    assert_int_equal(lab_ns_downlink_post(ns, unk, strlen(unk), ans, sizeof(ans)), 404);
    char big[700];
    int k = snprintf(big, sizeof(big), "{\"DevEUI\":\"%016llX\",\"FPort\":3,\"FCnt\":0,\"FRMPayload\":\"",
                     (unsigned long long)DEV_EUI);
    for (int i = 0; i < 243; i++)
        k += snprintf(big + k, sizeof(big) - (size_t)k, "00");
    snprintf(big + k, sizeof(big) - (size_t)k, "\"}");
    assert_int_equal(lab_ns_downlink_post(ns, big, strlen(big), ans, sizeof(ans)), 413);
    snprintf(body, sizeof(body), "{\"DevEUI\":\"%016llX\",\"FPort\":3,\"FCnt\":0,\"FRMPayload\":\"0102\",\"Confirmed\":true}",
             (unsigned long long)DEV_EUI);
    assert_int_equal(lab_ns_downlink_post(ns, body, strlen(body), ans, sizeof(ans)), 200);
    assert_non_null(strstr(ans, "\"NextAFCntDown\":1"));

    /* the next uplink (with LinkCheckReq in FOpts) takes it out in RX1 */
    uint8_t phy[LW_PHY_MAX];
    uint8_t lcr = LAB_MAC_LINK_CHECK;
    size_t n = uplink(false, ADDR, 0, true, &lcr, 1, 2, phy);
    push(ns, T0 + 2000, GW1, phy, n, 2.5);
    push(ns, T0 + 2010, GW2, phy, n, 0.5);
    lab_ns_tick(ns, T0 + 2200);
    assert_int_equal(f.n_sent, 2);
    assert_true(f.sent_gw[1] == GW1);
    lab_txpk tx;
    sent_txpk(&f, 1, &tx);
    assert_true(tx.tmst == 2000000);
    lw_frame fr;
    assert_int_equal(lw_frame_decode(tx.data, tx.size, &fr), LW_OK);
    assert_int_equal(fr.mtype, LW_MTYPE_CONFIRMED_DATA_DOWN);
    assert_true(fr.u.data.fctrl.ack);
    assert_int_equal(fr.u.data.fcnt, 0);
    assert_int_equal(fr.u.data.fport, 3);
    assert_int_equal(fr.u.data.frm_payload_len, 2);
    /* LinkCheckAns: margin 2.5 - (-7.5) = 10 dB, 2 gateways */
    assert_int_equal(fr.u.data.fctrl.fopts_len, 3);
    assert_int_equal(fr.u.data.fopts[0], LAB_MAC_LINK_CHECK);
    assert_int_equal(fr.u.data.fopts[1], 10);
    assert_int_equal(fr.u.data.fopts[2], 2);
    lw_key nwk;
    tu_key(&nwk, NWK_HEX);
    uint8_t mic[4];
    lw_data_mic_params mp = {.dev_addr = ADDR, .fcnt = 0};
    assert_int_equal(lw_mic_data_10(lw_crypto_software(), &nwk, &mp, tx.data, tx.size - 4, mic), LW_OK);
    assert_true(lw_mic_equal(mic, fr.mic));
    /* the AS may answer an uplink with Downlinks; the counter moved on */
    snprintf(body, sizeof(body), "{\"Downlinks\":[{\"DevEUI\":\"%016llX\",\"FPort\":4,\"FCnt\":1,\"FRMPayload\":\"AA\"}]}",
             (unsigned long long)DEV_EUI);
    f.as_answer = body;
    n = uplink(false, ADDR, 1, false, NULL, 0, 2, phy);
    push(ns, T0 + 3000, GW1, phy, n, 2.5);
    lab_ns_tick(ns, T0 + 3200);
    assert_int_equal(f.n_sent, 3);
    sent_txpk(&f, 2, &tx);
    assert_int_equal(lw_frame_decode(tx.data, tx.size, &fr), LW_OK);
    assert_int_equal(fr.u.data.fport, 4);
    assert_int_equal(fr.u.data.fcnt, 1);
    lab_ns_free(ns);
}

/* The gateway's TX_ACK for the PULL_RESP in f->sent[i]. */
static void tx_ack(lab_ns *ns, const fake *f, int i, uint64_t gw, const char *error)
{
    lab_udp_packet p;
    assert_int_equal(lab_udp_decode(f->sent[i], f->sent_len[i], &p), LAB_OK);
    char j[96];
    snprintf(j, sizeof(j), "{\"txpk_ack\":{\"error\":\"%s\"}}", error);
    lab_udp_packet a = {.token = p.token, .type = LAB_UDP_TX_ACK, .gateway_eui = gw, .json = (const uint8_t *)j,
                        .json_len = strlen(j)};
    uint8_t d[256], rep[16];
    size_t dn = 0, rn = 0;
    uint64_t g = 0;
    bool pull = false;
    assert_int_equal(lab_udp_encode(&a, d, sizeof(d), &dn), LAB_OK);
    assert_int_equal(lab_ns_datagram(ns, T0, d, dn, rep, sizeof(rep), &rn, &g, &pull), LAB_OK);
}

/* f->sent[i] is a "no downlink" notice for the uplink of tmst. */
static void assert_none(const fake *f, int i, uint32_t tmst)
{
    lab_udp_packet p;
    assert_int_equal(lab_udp_decode(f->sent[i], f->sent_len[i], &p), LAB_OK);
    assert_int_equal(p.type, LAB_UDP_PULL_RESP);
    uint32_t t = 0;
    bool wait = true;
    assert_int_equal(lab_udp_txnone_parse(p.json, p.json_len, &t, &wait), LAB_OK);
    assert_int_equal(t, tmst);
    assert_false(wait);
    lab_txpk tx;
    assert_int_equal(lab_udp_txpk_parse(p.json, p.json_len, &tx), LAB_ERR_FORMAT);
}

/* An NS with clock = simulated, its I/O the fake f. */
static lab_ns *sim_ns(fake *f)
{
    lab_ns_config cfg;
    config(&cfg);
    cfg.clock = LAB_CLOCK_SIMULATED;
    lab_ns_io io = {.user = f, .js_post = fake_js, .as_post = fake_as, .send = fake_send, .log = fake_log};
    lab_ns *ns = NULL;
    assert_int_equal(lab_ns_new(&cfg, &io, &ns), LAB_OK);
    return ns;
}

/* clock = simulated (docs/lab-ns.md, "Simulated time"): RX1 whatever the
 * wall clock says, a notice for an uplink that gets nothing, RX2 after a
 * refused RX1, a notice and the application downlink queued again (same
 * counter) after a refused RX2. */
static void test_simulated_clock(void **state)
{
    (void)state;
    fake f;
    memset(&f, 0, sizeof(f));
    lab_ns *ns = sim_ns(&f);
    /* the join is processed 9 s of wall time after the uplink: still RX1 */
    uint8_t jr[23] = {0};
    jr[17] = 1;
    lw_put_le(jr + 1, JOIN_EUI, 8);
    lw_put_le(jr + 9, DEV_EUI, 8);
    push(ns, T0, GW1, jr, sizeof(jr), 5);
    lab_ns_tick(ns, T0 + 9000);
    assert_int_equal(f.n_sent, 1);
    lab_txpk tx;
    sent_txpk(&f, 0, &tx);
    assert_true(tx.tmst == 1000000 + 5000000 && tx.freq == 868.1 && tx.sf == 7);
    tx_ack(ns, &f, 0, GW1, "NONE");
    /* an uplink with nothing to say back: the notice names its tmst */
    f.n_sent = 0;
    uint8_t phy[LW_PHY_MAX];
    size_t n = uplink(false, ADDR, 0, false, NULL, 0, 2, phy);
    push(ns, T0 + 10000, GW1, phy, n, 2.5);
    lab_ns_tick(ns, T0 + 10200);
    assert_int_equal(f.n_sent, 1);
    assert_true(f.sent_gw[0] == GW1);
    assert_none(&f, 0, 1000000);
    /* an application downlink: RX1 refused (duty cycle), then RX2 */
    char body[256], ans[512];
    snprintf(body, sizeof(body), "{\"DevEUI\":\"%016llX\",\"FPort\":3,\"FCnt\":0,\"FRMPayload\":\"0102\"}",
             (unsigned long long)DEV_EUI);
    assert_int_equal(lab_ns_downlink_post(ns, body, strlen(body), ans, sizeof(ans)), 200);
    f.n_sent = 0;
    n = uplink(false, ADDR, 1, false, NULL, 0, 2, phy);
    push(ns, T0 + 20000, GW1, phy, n, 2.5);
    lab_ns_tick(ns, T0 + 20200);
    assert_int_equal(f.n_sent, 1);
    sent_txpk(&f, 0, &tx);
    assert_true(tx.tmst == 2000000);
    tx_ack(ns, &f, 0, GW1, "DUTY_CYCLE");
    assert_int_equal(f.n_sent, 2);
    lab_txpk tx2;
    sent_txpk(&f, 1, &tx2);
    assert_true(tx2.tmst == 3000000 && tx2.freq == LAB_EU868_RX2_FREQ && tx2.sf == 12);
    assert_int_equal(tx2.size, tx.size);
    assert_memory_equal(tx2.data, tx.data, tx.size);
    /* RX2 refused too: a notice, and the downlink waits for the next uplink */
    tx_ack(ns, &f, 1, GW1, "COLLISION_PACKET");
    assert_int_equal(f.n_sent, 3);
    assert_none(&f, 2, 1000000);
    lab_ns_stats st;
    lab_ns_stats_get(ns, &st);
    assert_int_equal(st.rx2_retries, 1);
    assert_int_equal(st.requeued, 1);
    assert_int_equal(lab_ns_downlink_post(ns, body, strlen(body), ans, sizeof(ans)), 409);
    assert_non_null(strstr(ans, "\"NextAFCntDown\":1"));
    f.n_sent = 0;
    n = uplink(false, ADDR, 2, false, NULL, 0, 2, phy);
    push(ns, T0 + 30000, GW1, phy, n, 2.5);
    lab_ns_tick(ns, T0 + 30200);
    assert_int_equal(f.n_sent, 1);
    sent_txpk(&f, 0, &tx);
    lw_frame fr;
    assert_int_equal(lw_frame_decode(tx.data, tx.size, &fr), LW_OK);
    assert_int_equal(fr.u.data.fport, 3);
    assert_int_equal(fr.u.data.fcnt, 0);
    tx_ack(ns, &f, 0, GW1, "NONE");
    assert_int_equal(f.n_sent, 1);
    lab_ns_free(ns);
}

/* Simulated clock, many downlinks in flight (issue 15's lost answers): a
 * gateway that reads its socket late acknowledges its downlink after the NS
 * has sent hundreds of others; a refusal must still get the RX2 retry (or
 * the notice), or the device listens for an answer that never comes. The
 * NS once kept its last 256 RX1 downlinks only. */
static void test_simulated_many_in_flight(void **state)
{
    (void)state;
    fake f;
    memset(&f, 0, sizeof(f));
    lab_ns *ns = sim_ns(&f);
    fake first;
    enum { JOINS = 1000 };
    for (unsigned i = 0; i < JOINS; i++) {
        uint8_t jr[23] = {0};
        lw_put_le(jr + 1, JOIN_EUI, 8);
        lw_put_le(jr + 9, DEV_EUI, 8);
        lw_put_le(jr + 17, i + 1, 2); /* DevNonce: a new join-request each time */
        f.n_sent = 0;
        push(ns, T0 + i * 1000ull, GW1, jr, sizeof(jr), 5);
        lab_ns_tick(ns, T0 + i * 1000ull + 500);
        assert_int_equal(f.n_sent, 1);
        if (i == 0)
            first = f;
    }
    /* the first join-accept's RX1 is refused: its RX2 follows */
    f.n_sent = 0;
    tx_ack(ns, &first, 0, GW1, "DUTY_CYCLE");
    assert_int_equal(f.n_sent, 1);
    lab_txpk tx;
    sent_txpk(&f, 0, &tx);
    assert_true(tx.tmst == 1000000 + 6000000 && tx.freq == LAB_EU868_RX2_FREQ);
    /* and its RX2 refused: the notice */
    tx_ack(ns, &f, 0, GW1, "DUTY_CYCLE");
    assert_int_equal(f.n_sent, 2);
    assert_none(&f, 1, 1000000);
    lab_ns_stats st;
    lab_ns_stats_get(ns, &st);
    assert_int_equal(st.sent_forgotten, 0);
    assert_int_equal(st.rx2_retries, 1);
    lab_ns_free(ns);
}

static void test_session_11(void **state)
{
    (void)state;
    fake f;
    memset(&f, 0, sizeof(f));
    f.v11 = true;
    lab_ns *ns = engine(&f);
    join(ns, &f, T0);
    uint8_t phy[LW_PHY_MAX];
    uint8_t lcr = LAB_MAC_LINK_CHECK;
    size_t n = uplink(true, ADDR, 0, false, &lcr, 1, 0, phy); /* FOpts only */
    push(ns, T0 + 1000, GW1, phy, n, 2.5);
    lab_ns_tick(ns, T0 + 1200);
    assert_int_equal(f.n_sent, 2);
    lab_txpk tx;
    sent_txpk(&f, 1, &tx);
    lw_frame fr;
    assert_int_equal(lw_frame_decode(tx.data, tx.size, &fr), LW_OK);
    assert_false(fr.u.data.has_fport);
    assert_int_equal(fr.u.data.fctrl.fopts_len, 3);
    lw_key snwk, enc;
    tu_key(&snwk, SNWK_HEX);
    tu_key(&enc, ENC_HEX);
    uint8_t plain[3];
    assert_int_equal(lw_fopts_crypt_11(lw_crypto_software(), &enc, false, false, ADDR, 0, fr.u.data.fopts, 3, plain),
                     LW_OK);
    assert_int_equal(plain[0], LAB_MAC_LINK_CHECK);
    assert_int_equal(plain[2], 1);
    uint8_t mic[4];
    lw_data_mic_params mp = {.dev_addr = ADDR, .fcnt = 0};
    assert_int_equal(lw_mic_data_down_11(lw_crypto_software(), &snwk, &mp, tx.data, tx.size - 4, mic), LW_OK);
    assert_true(lw_mic_equal(mic, fr.mic));
    /* a 1.0-style MIC on a 1.1 session is refused */
    n = uplink(false, ADDR, 1, false, NULL, 0, 2, phy);
    push(ns, T0 + 2000, GW1, phy, n, 2.5);
    lab_ns_tick(ns, T0 + 2200);
    lab_ns_stats st;
    lab_ns_stats_get(ns, &st);
    assert_int_equal(st.mic_failures, 1);
    lab_ns_free(ns);
}

static void test_join_refusals(void **state)
{
    (void)state;
    fake f;
    memset(&f, 0, sizeof(f));
    f.result = "UnknownDevEUI";
    lab_ns *ns = engine(&f);
    join(ns, &f, T0);
    lab_ns_stats st;
    lab_ns_stats_get(ns, &st);
    assert_int_equal(st.joins_refused, 1);
    assert_int_equal(st.sessions, 0);
    assert_int_equal(f.n_sent, 0);
    assert_string_equal(f.last_event, "join refused");
    /* no route */
    uint8_t jr[23] = {0};
    lw_put_le(jr + 1, 0x0102030405060708ULL, 8);
    push(ns, T0 + 1000, GW1, jr, sizeof(jr), 1);
    lab_ns_tick(ns, T0 + 1200);
    lab_ns_stats_get(ns, &st);
    assert_int_equal(st.no_route, 1);
    assert_int_equal(f.js_calls, 1);
    lab_ns_free(ns);
}

static void test_mac_commands(void **state)
{
    (void)state;
    lab_mac_link link = {.snr = -10, .sf = 12, .gw_count = 3, .v11 = true, .gps_time_ms = 1000500};
    uint8_t ans[15];
    size_t n = 0;
    lab_mac_report rep;
    uint8_t cmds[] = {0x06, 0xFE, 0x3F, 0x02, 0x0B, 0x01, 0x0D, 0x03, 0x07};
    assert_int_equal(lab_mac_uplink(cmds, sizeof(cmds), &link, ans, sizeof(ans), &n, &rep), LAB_OK);
    assert_true(rep.dev_status && rep.battery == 0xFE && rep.margin == -1 && rep.rekey && rep.rekey_version == 1);
    assert_int_equal(rep.commands, 5);
    uint8_t want[] = {0x02, 10, 3, 0x0B, 0x01, 0x0D, 0xE8, 0x03, 0x00, 0x00, 0x80};
    assert_int_equal(n, sizeof(want));
    assert_memory_equal(ans, want, sizeof(want));
    /* unknown CID stops parsing; RekeyInd is not a 1.0 command */
    link.v11 = false;
    uint8_t odd[] = {0x02, 0x0B, 0x01, 0x02};
    assert_int_equal(lab_mac_uplink(odd, sizeof(odd), &link, ans, sizeof(ans), &n, &rep), LAB_OK);
    assert_true(rep.unknown);
    assert_int_equal(rep.commands, 1);
    assert_int_equal(lab_mac_uplink(cmds + 3, 1, &link, ans, 2, &n, &rep), LAB_ERR_BUFFER);
}

static void test_config_and_routes(void **state)
{
    (void)state;
    char dir[] = "/tmp/ferry-labcfg.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char p[256], err[256];
    snprintf(p, sizeof(p), "%s/kek", dir);
    FILE *f = fopen(p, "w");
    fprintf(f, "%s\n", KEK_HEX);
    fclose(f);
    chmod(p, 0600);
    snprintf(p, sizeof(p), "%s/tok", dir);
    f = fopen(p, "w");
    fprintf(f, "secret\n");
    fclose(f);
    chmod(p, 0600);
    snprintf(p, sizeof(p), "%s/ns.conf", dir);
    f = fopen(p, "w");
    fprintf(f, "net_id = 000013\nkek_label = ns:000013\nkek_file = kek\n"
               "route = 70B3D57E00000000/32 http://a/ tok\nroute = 70B3D57ED0000000/64 http://b/ tok\n"
               "route = 0000000000000000/0 http://c/ tok\nas_url = https://127.0.0.1:4720\nca_file = tok\n");
    fclose(f);
    lab_ns_config cfg;
    assert_int_equal(lab_ns_config_load(p, &cfg, err, sizeof(err)), LAB_OK);
    char want_ca[300];
    snprintf(want_ca, sizeof(want_ca), "%s/tok", dir); /* relative to the config's directory */
    assert_string_equal(cfg.ca_file, want_ca);
    assert_int_equal(cfg.n_routes, 3);
    assert_string_equal(cfg.routes[0].token, "secret");
    assert_string_equal(lab_ns_route_find(&cfg, 0x70B3D57ED0000000ULL)->url, "http://b/");
    assert_string_equal(lab_ns_route_find(&cfg, 0x70B3D57ED0000001ULL)->url, "http://a/");
    assert_string_equal(lab_ns_route_find(&cfg, 0x0102030405060708ULL)->url, "http://c/");
    assert_int_equal(cfg.kek.length, 16);
    lab_ns_config_wipe(&cfg);
    /* a KEK readable by others is refused */
    snprintf(p, sizeof(p), "%s/kek", dir);
    chmod(p, 0644);
    snprintf(p, sizeof(p), "%s/ns.conf", dir);
    assert_int_equal(lab_ns_config_load(p, &cfg, err, sizeof(err)), LAB_ERR_CONFIG);
    assert_non_null(strstr(err, "readable by others"));
    f = fopen(p, "w"); /* a CA file that is not there is refused at load, naming the key */
    fprintf(f, "net_id = 000013\nca_file = no-such-ca.pem\n");
    fclose(f);
    assert_int_equal(lab_ns_config_load(p, &cfg, err, sizeof(err)), LAB_ERR_CONFIG);
    assert_non_null(strstr(err, "line 2: ca_file"));
    f = fopen(p, "w");
    fprintf(f, "net_id = 13\n");
    fclose(f);
    assert_int_equal(lab_ns_config_load(p, &cfg, err, sizeof(err)), LAB_ERR_CONFIG);
    assert_non_null(strstr(err, "line 1: net_id"));
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static lab_ns *engine_with_state(fake *f, const char *path, lab_status want)
{
    lab_ns_config cfg;
    config(&cfg);
    snprintf(cfg.state_file, sizeof(cfg.state_file), "%s", path);
    lab_ns_io io = {.user = f, .js_post = fake_js, .as_post = fake_as, .send = fake_send, .log = fake_log};
    lab_ns *ns = NULL;
    assert_int_equal(lab_ns_new(&cfg, &io, &ns), LAB_OK);
    char err[300] = "";
    assert_int_equal(lab_ns_state_open(ns, err, sizeof(err)), want);
    if (want != LAB_OK) {
        assert_non_null(strstr(err, path));
        lab_ns_free(ns);
        return NULL;
    }
    return ns;
}

static char *slurp(const char *path)
{
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    char *b = calloc(1, 65536);
    size_t n = fread(b, 1, 65535, fp);
    fclose(fp);
    b[n] = '\0';
    return b;
}

static void test_state_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/ferry-labns-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof(path), "%s/ns.state", dir);
    fake f;
    memset(&f, 0, sizeof(f));
    f.v11 = true;
    lab_ns *ns = engine_with_state(&f, path, LAB_OK);
    join(ns, &f, T0);
    uint8_t phy[LW_PHY_MAX];
    uint8_t lcr = LAB_MAC_LINK_CHECK;
    size_t n = uplink(true, ADDR, 5, false, &lcr, 1, 2, phy); /* answered: NFCntDown 0 spent */
    push(ns, T0 + 1000, GW1, phy, n, 2.5);
    lab_ns_tick(ns, T0 + 1200);
    assert_int_equal(f.as_calls, 1);
    lab_ns_free(ns); /* as a kill: nothing is written at the end */

    /* what is on disk: the keys only wrapped */
    char *text = slurp(path);
    char key_upper[33];
    for (int i = 0; i < 32; i++)
        key_upper[i] = (char)(NWK_HEX[i] >= 'a' ? NWK_HEX[i] - 32 : NWK_HEX[i]);
    key_upper[32] = '\0';
    assert_null(strstr(text, key_upper));
    assert_null(strstr(text, NWK_HEX));
    assert_null(strstr(text, "202122232425262728292A2B2C2D2E2F"));
    assert_non_null(strstr(text, "\"fcnt_up_next\":6"));
    free(text);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 077, 0);

    /* started again: the session is back, the old frame a replay, the next accepted */
    memset(&f, 0, sizeof(f));
    f.v11 = true;
    ns = engine_with_state(&f, path, LAB_OK);
    lab_ns_stats st;
    lab_ns_stats_get(ns, &st);
    assert_int_equal(st.sessions, 1);
    assert_int_equal(st.state_sessions_loaded, 1);
    push(ns, T0 + 20000, GW1, phy, n, 2.5);
    lab_ns_tick(ns, T0 + 20200);
    lab_ns_stats_get(ns, &st);
    assert_int_equal(st.replays, 1);
    n = uplink(true, ADDR, 6, false, &lcr, 1, 2, phy);
    push(ns, T0 + 30000, GW1, phy, n, 2.5);
    lab_ns_tick(ns, T0 + 30200);
    assert_int_equal(f.as_calls, 1);
    assert_non_null(strstr(f.as_body, "\"FCnt\":6"));
    assert_non_null(strstr(f.as_body, "\"KEKLabel\":\"as:app1\""));
    /* the answer's downlink counter follows the one spent before the restart */
    assert_int_equal(f.n_sent, 1);
    lab_txpk tx;
    sent_txpk(&f, 0, &tx);
    lw_frame fr;
    assert_int_equal(lw_frame_decode(tx.data, tx.size, &fr), LW_OK);
    assert_int_equal(fr.u.data.fcnt, 1);
    /* a new join goes on from the DevAddr after the one given */
    join(ns, &f, T0 + 40000);
    lab_ns_stats_get(ns, &st);
    assert_int_equal(st.sessions, 2);
    assert_int_equal(f.last_dev_addr, ADDR + 1);
    lab_ns_free(ns);

    /* a torn last line is ignored, the rest loads */
    FILE *fp = fopen(path, "a");
    assert_non_null(fp);
    fputs("{\"counters\":{\"seq\":1,\"fcnt", fp);
    fclose(fp);
    memset(&f, 0, sizeof(f));
    f.v11 = true;
    ns = engine_with_state(&f, path, LAB_OK);
    lab_ns_stats_get(ns, &st);
    assert_int_equal(st.sessions, 2);
    assert_string_equal(f.last_event, "state torn");
    lab_ns_free(ns);

    /* a bad line followed by good ones: a damaged file, the NS does not start */
    text = slurp(path);
    fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("{\"counters\":{\"seq\":99}}\n", fp);
    fputs(text, fp);
    fclose(fp);
    free(text);
    assert_null(engine_with_state(&f, path, LAB_ERR_CONFIG));

    /* another NS's file (another KEK): its keys do not unwrap */
    unlink(path);
    memset(&f, 0, sizeof(f));
    ns = engine_with_state(&f, path, LAB_OK);
    join(ns, &f, T0);
    lab_ns_free(ns);
    lab_ns_config cfg;
    config(&cfg);
    tu_key(&cfg.kek, ENC_HEX);
    snprintf(cfg.state_file, sizeof(cfg.state_file), "%s", path);
    lab_ns_io io = {.user = &f, .js_post = fake_js, .as_post = fake_as, .send = fake_send, .log = fake_log};
    assert_int_equal(lab_ns_new(&cfg, &io, &ns), LAB_OK);
    char err[300];
    assert_int_equal(lab_ns_state_open(ns, err, sizeof(err)), LAB_ERR_CONFIG);
    assert_non_null(strstr(err, "line 1"));
    lab_ns_free(ns);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_join_and_uplinks_10),
        cmocka_unit_test(test_downlink_endpoint_and_class_a),
        cmocka_unit_test(test_simulated_clock),
        cmocka_unit_test(test_simulated_many_in_flight),
        cmocka_unit_test(test_session_11),
        cmocka_unit_test(test_join_refusals),
        cmocka_unit_test(test_mac_commands),
        cmocka_unit_test(test_config_and_routes),
        cmocka_unit_test(test_state_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

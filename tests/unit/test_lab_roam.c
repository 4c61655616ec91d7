/*
 * test_lab_roam.c - passive roaming in the lab network server's engine
 * (lab_ns_roam.c, lab_ns_home.c), two engines in one process: a VISITED
 * one (NetID 000014, no Join Server route, a roaming hub) and a HOME one
 * (NetID 000013, a fake Join Server, a fake AS), joined by a fake hub that
 * hands the visited engine's hub_post bodies to the home engine's
 * lab_ns_bi_post() (HomeNSReq is answered by the fake hub itself), and
 * keeps the home engine's queued downlinks for the test to deliver.
 * Covers: activation (HomeNSReq, PRStartReq, the accept through the visited
 * gateway in RX1), data uplinks in XmitDataReq reaching the home AS, the
 * home's ACK back in XmitDataReq and out of the visited gateway, RX2 and too
 * late, every refusal the two roles answer, PRStopReq, Lifetime expiry.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lab/lab.h"
#include "lorawan/lorawan.h"
#include "test_util.h"

#define HOME_NET 0x000013u
#define VISIT_NET 0x000014u
#define JOIN_EUI 0x70B3D57ED0000000ULL
#define DEV_EUI 0x0004A30B001C0B01ULL
#define GW 0xAA555A00000000F1ULL
#define T0 1700000000000ULL
#define ADDR ((HOME_NET & 0x3Fu) << 25 | 1u)

static const char KEK_HEX[] = "00112233445566778899aabbccddeeff";
static const char VKEK_HEX[] = "ffeeddccbbaa99887766554433221100";
static const char NWK_HEX[] = "000102030405060708090a0b0c0d0e0f";

typedef struct world {
    lab_ns *visited, *home;
    uint64_t now;
    const char *home_ns_result;  /* NULL: Success with HNetID 000013 */
    bool home_unreachable;
    int js_calls, as_calls, hub_posts;
    char last_hub_body[8192];
    char queued[4][8192];
    size_t queued_len[4];
    int n_queued;
    uint8_t sent[4][2048];
    size_t sent_len[4];
    int n_sent;
    char last_event[64], last_detail[512];
} world;

static world *W;

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

/* The home network's Join Server: a 1.0 session, keys wrapped for home. */
static lab_status fake_js(void *user, const lab_ns_route *r, const char *body, size_t len, char *ans, size_t cap,
                          size_t *ans_len)
{
    (void)r;
    world *w = user;
    w->js_calls++;
    bi_request req;
    bi_error err;
    assert_int_equal(bi_request_parse(body, len, &req, &err), BI_OK);
    assert_true(req.hdr.sender_id.value == HOME_NET); /* the home network asks, for itself */
    bi_header ah;
    assert_int_equal(bi_answer_header(&req.hdr, &ah), BI_OK);
    bi_join_ans a;
    memset(&a, 0, sizeof(a));
    a.phy_payload_len = tu_hex("20 0102030405060708090A0B0C0D0E0F10", a.phy_payload, sizeof(a.phy_payload));
    wrap_env(&a.nwk_s_key, "ns:000013", NWK_HEX);
    wrap_env(&a.app_s_key, "as:app1", NWK_HEX);
    assert_int_equal(bi_join_ans_build(&ah, &a, ans, cap, ans_len), BI_OK);
    return LAB_OK;
}

static lab_status fake_as(void *user, const char *body, size_t len, char *ans, size_t cap, size_t *ans_len)
{
    (void)body;
    (void)len;
    world *w = user;
    w->as_calls++;
    snprintf(ans, cap, "{}");
    *ans_len = 2;
    return LAB_OK;
}

static void fake_send(void *user, uint64_t gw, const uint8_t *d, size_t len)
{
    world *w = user;
    assert_true(gw == GW);
    assert_true(w->n_sent < 4 && len <= sizeof(w->sent[0]));
    memcpy(w->sent[w->n_sent], d, len);
    w->sent_len[w->n_sent++] = len;
}

static void fake_log(void *user, const char *event, uint64_t dev_eui, const char *detail)
{
    (void)dev_eui;
    world *w = user;
    snprintf(w->last_event, sizeof(w->last_event), "%s", event);
    snprintf(w->last_detail, sizeof(w->last_detail), "%s", detail);
}

/* The hub, seen from the visited engine: HomeNSReq answered here, the
 * rest handed to the home engine as a POST /bi. */
static lab_status fake_hub_post(void *user, const char *body, size_t len, char *ans, size_t cap, size_t *ans_len)
{
    world *w = user;
    w->hub_posts++;
    assert_true(len < sizeof(w->last_hub_body));
    memcpy(w->last_hub_body, body, len);
    w->last_hub_body[len] = '\0';
    bi_relay_msg m;
    bi_error e;
    assert_int_equal(bi_relay_parse(body, len, &m, &e), BI_OK);
    assert_true(m.hdr.sender_id.value == VISIT_NET);
    if (m.hdr.message_type == BI_MSG_HOME_NS_REQ) {
        bi_header ah;
        assert_int_equal(bi_answer_header(&m.hdr, &ah), BI_OK);
        bi_home_ns_ans h;
        memset(&h, 0, sizeof(h));
        if (w->home_ns_result != NULL) {
            assert_int_equal(bi_result_code_parse(w->home_ns_result, &h.result.code), BI_OK);
            snprintf(h.result.description, sizeof(h.result.description), "from the fake hub");
        } else {
            h.has_h_net_id = true;
            h.h_net_id = HOME_NET;
        }
        assert_int_equal(bi_home_ns_ans_build(&ah, &h, ans, cap, ans_len), BI_OK);
        return LAB_OK;
    }
    if (w->home_unreachable)
        return LAB_ERR_IO;
    assert_true(m.hdr.receiver_id.value == HOME_NET);
    int code = lab_ns_bi_post(w->home, w->now, body, len, ans, cap, ans_len);
    return code == 200 ? LAB_OK : LAB_ERR_IO;
}

static void fake_hub_queue(void *user, const char *body, size_t len)
{
    world *w = user;
    assert_true(w->n_queued < 4 && len < sizeof(w->queued[0]));
    memcpy(w->queued[w->n_queued], body, len);
    w->queued[w->n_queued][len] = '\0';
    w->queued_len[w->n_queued++] = len;
}

static void base_config(lab_ns_config *cfg, uint32_t net_id, const char *kek_label, const char *kek_hex)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->net_id = net_id;
    cfg->nsid = net_id;
    cfg->bi_version = BI_VERSION_1_1;
    cfg->mac_version = BI_MAC_1_1;
    strcpy(cfg->kek_label, kek_label);
    tu_key(&cfg->kek, kek_hex);
    cfg->dedup_ms = 200;
    cfg->late_ms = 1000;
    cfg->rx_delay = 1;
    cfg->tx_power = 14;
    cfg->roaming_lifetime = 60;
    strcpy(cfg->roaming_hub_url, "http://hub.invalid/");
    strcpy(cfg->bi_token, "t");
}

static void open_world(world *w, bool home_has_route)
{
    memset(w, 0, sizeof(*w));
    W = w;
    w->now = T0;
    lab_ns_config vc, hc;
    base_config(&vc, VISIT_NET, "ns:000014", VKEK_HEX);
    base_config(&hc, HOME_NET, "ns:000013", KEK_HEX);
    if (home_has_route) {
        hc.routes[0].prefix = JOIN_EUI;
        hc.routes[0].bits = 32;
        strcpy(hc.routes[0].url, "http://js.invalid/");
        hc.n_routes = 1;
    }
    lab_ns_io vio = {.user = w, .send = fake_send, .log = fake_log, .hub_post = fake_hub_post,
                     .hub_queue = fake_hub_queue};
    lab_ns_io hio = {.user = w, .js_post = fake_js, .as_post = fake_as, .send = fake_send, .log = fake_log,
                     .hub_post = fake_hub_post, .hub_queue = fake_hub_queue};
    assert_int_equal(lab_ns_new(&vc, &vio, &w->visited), LAB_OK);
    assert_int_equal(lab_ns_new(&hc, &hio, &w->home), LAB_OK);
}

static void close_world(world *w)
{
    lab_ns_free(w->visited);
    lab_ns_free(w->home);
}

static void push(world *w, const uint8_t *phy, size_t len)
{
    lab_rxpk pk;
    memset(&pk, 0, sizeof(pk));
    pk.tmst = 1000000;
    pk.freq = 868.1;
    pk.stat = 1;
    pk.lora = true;
    pk.sf = 7;
    pk.bw = 125;
    pk.lsnr = 6;
    pk.rssi = -50;
    pk.size = len;
    memcpy(pk.data, phy, len);
    char json[2048];
    size_t jn = 0;
    assert_int_equal(lab_udp_rxpk_build(&pk, 1, json, sizeof(json), &jn), LAB_OK);
    lab_udp_packet p = {.token = 7, .type = LAB_UDP_PUSH_DATA, .gateway_eui = GW, .json = (const uint8_t *)json,
                        .json_len = jn};
    uint8_t d[2100], rep[16];
    size_t dn = 0, rn = 0;
    uint64_t g = 0;
    bool pull = false;
    assert_int_equal(lab_udp_encode(&p, d, sizeof(d), &dn), LAB_OK);
    assert_int_equal(lab_ns_datagram(w->visited, w->now, d, dn, rep, sizeof(rep), &rn, &g, &pull), LAB_OK);
    w->now += 200;
    lab_ns_tick(w->visited, w->now);
}

static void join(world *w)
{
    uint8_t jr[23] = {0};
    jr[17] = 1;
    lw_put_le(jr + 1, JOIN_EUI, 8);
    lw_put_le(jr + 9, DEV_EUI, 8);
    push(w, jr, sizeof(jr));
}

static size_t uplink(uint32_t fcnt, bool confirmed, uint8_t *out)
{
    lw_frame fr;
    memset(&fr, 0, sizeof(fr));
    fr.mtype = confirmed ? LW_MTYPE_CONFIRMED_DATA_UP : LW_MTYPE_UNCONFIRMED_DATA_UP;
    fr.u.data.dev_addr = ADDR;
    fr.u.data.fcnt = (uint16_t)fcnt;
    static const uint8_t payload[2] = {0xC1, 0xC2};
    fr.u.data.has_fport = true;
    fr.u.data.fport = 2;
    fr.u.data.frm_payload = payload;
    fr.u.data.frm_payload_len = sizeof(payload);
    size_t n = 0;
    assert_int_equal(lw_frame_encode(&fr, out, LW_PHY_MAX, &n), LW_OK);
    lw_key nwk;
    tu_key(&nwk, NWK_HEX);
    lw_data_mic_params mp = {.dev_addr = ADDR, .fcnt = fcnt};
    uint8_t mic[4];
    assert_int_equal(lw_mic_data_10(lw_crypto_software(), &nwk, &mp, out, n - 4, mic), LW_OK);
    assert_int_equal(lw_frame_set_mic(out, n, mic), LW_OK);
    return n;
}

static void sent_txpk(const world *w, int i, lab_txpk *tx)
{
    lab_udp_packet p;
    assert_int_equal(lab_udp_decode(w->sent[i], w->sent_len[i], &p), LAB_OK);
    assert_int_equal(p.type, LAB_UDP_PULL_RESP);
    assert_int_equal(lab_udp_txpk_parse(p.json, p.json_len, tx), LAB_OK);
}

static lab_ns_stats stats(lab_ns *ns)
{
    lab_ns_stats s;
    lab_ns_stats_get(ns, &s);
    return s;
}

/* Posts body to ns's /bi; returns the HTTP status, the answer in w's buffer. */
static char answer[16384];
static int bi_post(lab_ns *ns, const char *body)
{
    size_t n = 0;
    int code = lab_ns_bi_post(ns, W->now, body, strlen(body), answer, sizeof(answer), &n);
    answer[n] = '\0';
    return code;
}

static void expect_code(const char *want)
{
    bi_roam_msg *m = malloc(sizeof(*m));
    bi_error e;
    bi_relay_msg r;
    assert_int_equal(bi_relay_parse(answer, strlen(answer), &r, &e), BI_OK);
    assert_true(r.has_result);
    if (strcmp(bi_result_code_name(r.result, r.hdr.version), want) != 0)
        fail_msg("expected %s: %s", want, answer);
    free(m);
}

static void test_activation_data_and_downlink(void **state)
{
    (void)state;
    world w;
    open_world(&w, true);
    join(&w);
    assert_int_equal(w.hub_posts, 2); /* HomeNSReq, PRStartReq */
    assert_non_null(strstr(w.last_hub_body, "\"MessageType\":\"PRStartReq\""));
    assert_non_null(strstr(w.last_hub_body, "\"DataRate\":5"));
    assert_non_null(strstr(w.last_hub_body, "\"ULFreq\":868.1,"));
    assert_non_null(strstr(w.last_hub_body, "\"FNSULToken\":\"0000000000000001\""));
    assert_int_equal(w.js_calls, 1);
    assert_int_equal(w.n_sent, 1); /* the accept, through the visited gateway */
    lab_txpk tx;
    sent_txpk(&w, 0, &tx);
    assert_true(tx.tmst == 6000000 && tx.freq == 868.1 && tx.sf == 7 && tx.size == 17);
    assert_int_equal(stats(w.visited).roam_joins, 1);
    assert_int_equal(stats(w.visited).sessions, 0);
    assert_int_equal(stats(w.home).pr_start, 1);
    assert_int_equal(stats(w.home).sessions, 1);

    /* a confirmed uplink: to the home AS, and the ACK comes back queued */
    uint8_t phy[LW_PHY_MAX];
    w.now += 2000;
    size_t n = uplink(0, true, phy);
    push(&w, phy, n);
    assert_int_equal(w.as_calls, 1);
    assert_int_equal(stats(w.visited).roam_up, 1);
    assert_int_equal(stats(w.home).xmit_up, 1);
    assert_int_equal(w.n_queued, 1);
    assert_non_null(strstr(w.queued[0], "\"DLMetaData\""));
    assert_non_null(strstr(w.queued[0], "\"RXDelay1\":1"));
    assert_non_null(strstr(w.queued[0], "\"FNSULToken\":\"0000000000000002\""));
    assert_int_equal(bi_post(w.visited, w.queued[0]), 200);
    expect_code("Success");
    assert_non_null(strstr(answer, "\"DLFreq1\":868.1}"));
    assert_int_equal(w.n_sent, 2);
    sent_txpk(&w, 1, &tx);
    assert_true(tx.tmst == 2000000 && tx.freq == 868.1);
    lab_ns_hub_answer(w.home, answer, strlen(answer));
    assert_int_equal(stats(w.home).roam_errors, 0);
    assert_int_equal(stats(w.visited).roam_down, 1);

    /* the same downlink again: its uplink was answered, but the token is
     * still known; now 1.5 s after: RX2 */
    w.now += 1300;
    assert_int_equal(bi_post(w.visited, w.queued[0]), 200);
    expect_code("Success");
    if (strstr(answer, "\"DLFreq2\":869.525}") == NULL)
        fail_msg("RX2 expected: %s", answer);
    sent_txpk(&w, 2, &tx);
    assert_true(tx.tmst == 3000000 && tx.freq == 869.525 && tx.sf == 12);
    /* and later still: too late, XmitFailed, and the home network counts it */
    w.now += 2000;
    assert_int_equal(bi_post(w.visited, w.queued[0]), 200);
    expect_code("XmitFailed");
    lab_ns_hub_answer(w.home, answer, strlen(answer));
    assert_int_equal(stats(w.home).roam_errors, 1);
    /* a downlink naming a token the visited network never gave */
    char forged[8192];
    snprintf(forged, sizeof(forged), "%s", w.queued[0]);
    char *t = strstr(forged, "0000000000000002");
    memcpy(t, "00000000000000FF", 16);
    assert_int_equal(bi_post(w.visited, forged), 200);
    expect_code("XmitFailed");

    /* the home network refuses a replay, a bad MIC */
    w.now += 2000;
    push(&w, phy, n);
    assert_int_equal(stats(w.home).replays, 1);
    assert_int_equal(w.as_calls, 1);
    assert_non_null(strstr(w.last_detail, "FrameReplayed"));
    n = uplink(1, false, phy);
    phy[n - 1] ^= 1;
    push(&w, phy, n);
    assert_int_equal(stats(w.home).mic_failures, 1);
    assert_non_null(strstr(w.last_detail, "MICFailed"));

    /* PRStopReq from the home network: the visited one forgets the device */
    char stop[512];
    snprintf(stop, sizeof(stop),
             "{\"ProtocolVersion\":\"1.1\",\"SenderID\":\"000013\",\"ReceiverID\":\"000014\",\"TransactionID\":9,"
             "\"MessageType\":\"PRStopReq\",\"SenderNSID\":\"0000000000000013\",\"DevEUI\":\"%016llX\"}",
             (unsigned long long)DEV_EUI);
    assert_int_equal(bi_post(w.visited, stop), 200);
    expect_code("Success");
    assert_int_equal(bi_post(w.visited, stop), 200);
    expect_code("UnknownDevEUI");
    n = uplink(2, false, phy);
    push(&w, phy, n);
    assert_int_equal(stats(w.visited).unknown_dev_addr, 1);
    assert_int_equal(stats(w.visited).roam_up, 1);
    close_world(&w);
}

static void test_lifetime(void **state)
{
    (void)state;
    world w;
    open_world(&w, true);
    join(&w);
    assert_int_equal(stats(w.visited).roam_joins, 1);
    uint8_t phy[LW_PHY_MAX];
    w.now += 61000; /* roaming_lifetime 60 s */
    size_t n = uplink(0, false, phy);
    push(&w, phy, n);
    assert_int_equal(stats(w.visited).roam_up, 0);
    assert_int_equal(stats(w.visited).unknown_dev_addr, 1);
    close_world(&w);
}

static void test_join_refusals(void **state)
{
    (void)state;
    world w;
    open_world(&w, true);
    w.home_ns_result = "UnkownReceiver";
    join(&w);
    assert_int_equal(w.hub_posts, 1);
    assert_int_equal(w.n_sent, 0);
    assert_string_equal(w.last_event, "roaming join refused");
    assert_non_null(strstr(w.last_detail, "UnkownReceiver: from the fake hub"));
    assert_int_equal(stats(w.visited).roam_refused, 1);
    close_world(&w);

    open_world(&w, true);
    w.home_unreachable = true;
    join(&w);
    assert_int_equal(w.n_sent, 0);
    assert_non_null(strstr(w.last_detail, "PRStartReq: the roaming hub is unreachable"));
    close_world(&w);

    open_world(&w, false); /* the home network has no route to the JS */
    join(&w);
    assert_int_equal(w.n_sent, 0);
    assert_non_null(strstr(w.last_detail, "UnknownDevEUI: no Join Server route for JoinEUI 70B3D57ED0000000"));
    assert_int_equal(stats(w.home).no_route, 1);
    close_world(&w);
}

static void test_bi_endpoint_refusals(void **state)
{
    (void)state;
    world w;
    open_world(&w, true);
    assert_int_equal(bi_post(w.home, "not json"), 400);
    assert_int_equal(bi_post(w.home, "{\"ProtocolVersion\":\"1.1\",\"SenderID\":\"000014\",\"ReceiverID\":\"000013\","
                                     "\"TransactionID\":1,\"MessageType\":\"PRStartAns\",\"Result\":{\"ResultCode\":\"Success\"}}"),
                     400);
    assert_non_null(strstr(answer, "synchronous"));
    assert_int_equal(bi_post(w.home, "{\"ProtocolVersion\":\"1.1\",\"SenderID\":\"000014\",\"ReceiverID\":\"000013\","
                                     "\"TransactionID\":1,\"MessageType\":\"ProfileReq\",\"DevEUI\":\"0004A30B001C0B01\"}"),
                     200);
    expect_code("MalformedMessage");
    assert_non_null(strstr(answer, "ProfileReq is not served"));
    static const char pr[] =
        "{\"ProtocolVersion\":\"1.0\",\"SenderID\":\"000014\",\"ReceiverID\":\"%s\",\"TransactionID\":1,"
        "\"MessageType\":\"PRStartReq\",\"PHYPayload\":\"00000000D07ED5B370010B1C000BA30400010000000000\","
        "\"ULMetaData\":{%s}}";
    char body[1024];
    snprintf(body, sizeof(body), pr, "000099", "\"DataRate\":5,\"ULFreq\":868.1");
    assert_int_equal(bi_post(w.home, body), 200);
    expect_code("UnkownReceiver");
    snprintf(body, sizeof(body), pr, "000013", "\"ULFreq\":868.1");
    assert_int_equal(bi_post(w.home, body), 200);
    expect_code("MalformedRequest");
    assert_non_null(strstr(answer, "DataRate and ULFreq are required"));
    snprintf(body, sizeof(body), pr, "000013", "\"DataRate\":9,\"ULFreq\":868.1");
    assert_int_equal(bi_post(w.home, body), 200);
    expect_code("MalformedRequest");
    /* a data frame in PRStartReq: stateless roaming, not served */
    snprintf(body, sizeof(body),
             "{\"ProtocolVersion\":\"1.0\",\"SenderID\":\"000014\",\"ReceiverID\":\"000013\",\"TransactionID\":1,"
             "\"MessageType\":\"PRStartReq\",\"PHYPayload\":\"4001000026000000020102AABBCCDD\","
             "\"ULMetaData\":{\"DataRate\":5,\"ULFreq\":868.1}}");
    assert_int_equal(bi_post(w.home, body), 200);
    expect_code("MalformedRequest");
    /* an uplink nobody has a session for */
    snprintf(body, sizeof(body),
             "{\"ProtocolVersion\":\"1.1\",\"SenderID\":\"000014\",\"ReceiverID\":\"000013\",\"TransactionID\":1,"
             "\"MessageType\":\"XmitDataReq\",\"SenderNSID\":\"0000000000000014\","
             "\"PHYPayload\":\"4001000026000000020102AABBCCDD\",\"ULMetaData\":{\"DataRate\":5,\"ULFreq\":868.1}}");
    assert_int_equal(bi_post(w.home, body), 200);
    expect_code("UnknownDevAddr");
    assert_true(stats(w.home).roam_errors >= 5);
    close_world(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_activation_data_and_downlink),
        cmocka_unit_test(test_lifetime),
        cmocka_unit_test(test_join_refusals),
        cmocka_unit_test(test_bi_endpoint_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_bi_roaming.c - the relay header reader (bi_relay.h) and the passive
 * roaming messages (bi_roaming.h): requests, answers sent asynchronously,
 * notifications; which ReceiverID kind each type goes to; PRStartReq/Ans,
 * XmitDataReq (both directions)/Ans, PRStopReq/Ans and HomeNSAns parsed
 * from peer-style JSON (lowercase hex, 0x, ChirpStack's field names),
 * written back and read again to the same struct; errors that name nested
 * fields; clear keys refused.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bi/bi.h"
#include "test_util.h"

static bi_relay_msg relay_ok(const char *body)
{
    bi_relay_msg m;
    bi_error e;
    bi_status st = bi_relay_parse(body, strlen(body), &m, &e);
    if (st != BI_OK)
        fail_msg("relay parse of %s: %s", body, e.description);
    return m;
}

static void relay_fails(const char *body, bi_status want, bool answerable, const char *field)
{
    bi_relay_msg m;
    bi_error e;
    bi_status st = bi_relay_parse(body, strlen(body), &m, &e);
    if (st != want || e.answerable != answerable || (field != NULL && strcmp(e.field, field) != 0))
        fail_msg("%s: got %s (%s) answerable %d, field \"%s\"", body, bi_strerror(st), e.description, e.answerable,
                 e.field);
}

static void test_relay(void **state)
{
    (void)state;
    bi_relay_msg m = relay_ok("{\"ProtocolVersion\":\"1.1\",\"SenderID\":\"0xc00053\",\"ReceiverID\":\"70b3d57ed0000000\","
                              "\"TransactionID\":99,\"MessageType\":\"HomeNSReq\",\"SenderNSID\":\"C00053C00053C000\","
                              "\"SenderToken\":\"0a0b\",\"DevEUI\":\"0102030405060708\"}");
    assert_int_equal(m.hdr.message_type, BI_MSG_HOME_NS_REQ);
    assert_int_equal(m.hdr.sender_id.kind, BI_ID_NET_ID);
    assert_int_equal(m.hdr.sender_id.value, 0xC00053);
    assert_int_equal(m.hdr.receiver_id.value, 0x70B3D57ED0000000ULL);
    assert_true(m.hdr.has_sender_nsid);
    assert_int_equal(m.hdr.sender_token.len, 2);
    assert_false(m.has_result);

    /* an answer sent asynchronously: read, with its Result */
    m = relay_ok("{\"ProtocolVersion\":\"1.0\",\"SenderID\":\"000014\",\"ReceiverID\":\"000013\",\"TransactionID\":7,"
                 "\"MessageType\":\"PRStartAns\",\"Result\":{\"ResultCode\":\"UnknownReceiver\"}}");
    assert_int_equal(m.hdr.message_type, BI_MSG_PR_START_ANS);
    assert_true(m.has_result);
    assert_int_equal(m.result, BI_RESULT_UNKNOWN_RECEIVER);
    /* a notification */
    m = relay_ok("{\"ProtocolVersion\":\"1.1\",\"SenderID\":\"000014\",\"ReceiverID\":\"000013\",\"TransactionID\":7,"
                 "\"MessageType\":\"PRStartNotif\"}");
    assert_int_equal(m.hdr.message_type, BI_MSG_PR_START_NOTIF);
    /* NSIDs in 1.0: not kept (a 1.0 answer could not carry them) */
    m = relay_ok("{\"ProtocolVersion\":\"1.0\",\"SenderID\":\"000014\",\"ReceiverID\":\"000013\",\"TransactionID\":7,"
                 "\"MessageType\":\"XmitDataReq\",\"SenderNSID\":\"0000000000000014\"}");
    assert_false(m.hdr.has_sender_nsid);
    /* roles: AppSKeyReq comes from an AS-ID, AppSKeyAns goes to one */
    m = relay_ok("{\"ProtocolVersion\":\"1.0\",\"SenderID\":\"C00053\",\"ReceiverID\":\"70B3D57ED0000000\","
                 "\"TransactionID\":7,\"MessageType\":\"AppSKeyReq\"}");
    assert_int_equal(m.hdr.sender_id.kind, BI_ID_NAME);
    assert_string_equal(m.hdr.sender_id.raw, "C00053");
    m = relay_ok("{\"ProtocolVersion\":\"1.0\",\"SenderID\":\"70B3D57ED0000000\",\"ReceiverID\":\"as.example.com\","
                 "\"TransactionID\":7,\"MessageType\":\"AppSKeyAns\",\"Result\":{\"ResultCode\":\"Success\"}}");
    assert_int_equal(m.hdr.receiver_id.kind, BI_ID_NAME);
    assert_int_equal(bi_relay_receiver_kind(BI_MSG_JOIN_REQ), BI_ID_EUI);
    assert_int_equal(bi_relay_receiver_kind(BI_MSG_JOIN_ANS), BI_ID_NET_ID);
    assert_int_equal(bi_relay_receiver_kind(BI_MSG_XMIT_DATA_REQ), BI_ID_NET_ID);

    /* what makes a body unroutable (400) ... */
    relay_fails("[1]", BI_ERR_NOT_OBJECT, false, "");
    relay_fails("{\"MessageType\":\"Hello\"}", BI_ERR_MESSAGE_TYPE, false, "MessageType");
    relay_fails("{\"MessageType\":\"JoinReq\",\"SenderID\":\"000013\",\"TransactionID\":1}", BI_ERR_MISSING, false,
                "ReceiverID");
    relay_fails("{\"MessageType\":\"JoinReq\",\"SenderID\":\"000013\",\"ReceiverID\":\"70B3D57ED0000000\","
                "\"TransactionID\":-1}",
                BI_ERR_RANGE, false, "TransactionID");
    /* ... and what a request is answered with */
    relay_fails("{\"MessageType\":\"JoinReq\",\"SenderID\":\"000013\",\"ReceiverID\":\"70B3D57ED0000000\","
                "\"TransactionID\":1}",
                BI_ERR_VERSION, true, "ProtocolVersion");
    relay_fails("{\"ProtocolVersion\":\"1.1\",\"MessageType\":\"JoinReq\",\"SenderID\":\"000013\",\"ReceiverID\":\"000014\","
                "\"TransactionID\":1}",
                BI_ERR_VALUE, true, "ReceiverID");
    relay_fails("{\"ProtocolVersion\":\"1.1\",\"MessageType\":\"PRStartReq\",\"SenderID\":\"000013\","
                "\"ReceiverID\":\"70B3D57ED0000000\",\"TransactionID\":1}",
                BI_ERR_VALUE, true, "ReceiverID");
    relay_fails("{\"ProtocolVersion\":\"1.1\",\"MessageType\":\"PRStartReq\",\"SenderID\":\"000013\","
                "\"ReceiverID\":\"000014\",\"TransactionID\":1,\"SenderNSID\":\"12\"}",
                BI_ERR_HEX, true, "SenderNSID");
    /* the same faults in an answer: nobody answers an answer */
    relay_fails("{\"MessageType\":\"PRStartAns\",\"SenderID\":\"000013\",\"ReceiverID\":\"000014\",\"TransactionID\":1}",
                BI_ERR_VERSION, false, "ProtocolVersion");

    bi_id a, b;
    bi_id_set_net_id(&a, 0x1A);
    bi_id_set_net_id(&b, 0x1A);
    assert_true(bi_id_equal(&a, &b));
    bi_id_set_eui(&b, 0x1A);
    assert_false(bi_id_equal(&a, &b));
}

static bi_roam_msg *roam_ok(const char *body)
{
    bi_roam_msg *m = malloc(sizeof(*m));
    bi_error e;
    if (bi_roam_parse(body, strlen(body), m, &e) != BI_OK)
        fail_msg("roam parse of %s: %s", body, e.description);
    return m;
}

/* build, parse again: the same struct (IDs are rewritten canonically) */
static void round_trip(const bi_roam_msg *m)
{
    char *out = malloc(BI_BODY_MAX);
    size_t n = 0;
    bi_status st = bi_roam_build(m, out, BI_BODY_MAX, &n);
    if (st != BI_OK)
        fail_msg("build: %s", bi_strerror(st));
    bi_roam_msg *b = roam_ok(out);
    memcpy(b->hdr.sender_id.raw, m->hdr.sender_id.raw, sizeof(m->hdr.sender_id.raw));
    memcpy(b->hdr.receiver_id.raw, m->hdr.receiver_id.raw, sizeof(m->hdr.receiver_id.raw));
    if (memcmp(b, m, sizeof(*m)) != 0)
        fail_msg("round trip differs: %s", out);
    free(b);
    free(out);
}

static void roam_fails(const char *body, bi_status want, const char *field)
{
    bi_roam_msg *m = malloc(sizeof(*m));
    bi_error e;
    bi_status st = bi_roam_parse(body, strlen(body), m, &e);
    if (st != want || strcmp(e.field, field) != 0)
        fail_msg("%s: got %s, field \"%s\" (%s)", body, bi_strerror(st), e.field, e.description);
    assert_true(strncmp(e.description, e.field, strlen(e.field)) == 0);
    free(m);
}

#define HDR(type, from, to) \
    "{\"ProtocolVersion\":\"1.1\",\"SenderID\":\"" from "\",\"ReceiverID\":\"" to "\",\"TransactionID\":1234," \
    "\"MessageType\":\"" type "\",\"SenderNSID\":\"0000000000" from "\""

static void test_pr_start(void **state)
{
    (void)state;
    /* as a ChirpStack fNS writes it: lowercase hex, GWInfo with an opaque ULToken */
    bi_roam_msg *m = roam_ok(
        HDR("PRStartReq", "000014", "000013") ",\"PHYPayload\":\"00000000d07ed5b370010b1c000ba304000000fad3635a\","
        "\"ULMetaData\":{\"DevEUI\":\"0004a30b001c0b01\",\"DataRate\":5,\"ULFreq\":868.1,\"RecvTime\":\"2026-12-02T06:00:00Z\","
        "\"RFRegion\":\"EU868\",\"GWCnt\":2,\"FNSULToken\":\"0x0102\",\"GWInfo\":[{\"ID\":\"aa555a0000000001\","
        "\"RFRegion\":\"EU868\",\"RSSI\":-60,\"SNR\":7.5,\"Lat\":52.1,\"Lon\":4.3,\"ULToken\":\"0a0b0c\",\"DLAllowed\":true},"
        "{\"ID\":\"aa555a0000000002\",\"RSSI\":-70,\"SNR\":-2}]},\"VSExtension\":{\"VendorID\":\"EC656E\",\"Object\":{}}}");
    const bi_pr_start_req *r = &m->u.pr_start_req;
    assert_int_equal(r->phy_payload_len, 23);
    assert_true(r->ul.has_dev_eui && r->ul.dev_eui == 0x0004A30B001C0B01ULL);
    assert_int_equal(r->ul.data_rate, 5);
    assert_true(r->ul.ul_freq == 868.1);
    assert_int_equal(r->ul.fns_ul_token_len, 2);
    assert_int_equal(r->ul.n_gw_info, 2);
    assert_int_equal(r->ul.gw_info[0].rssi, -60);
    assert_true(r->ul.gw_info[0].snr == 7.5 && r->ul.gw_info[0].dl_allowed);
    assert_true(r->ul.gw_info[1].snr == -2.0 && !r->ul.gw_info[1].dl_allowed);
    assert_string_equal(r->ul.recv_time, "2026-12-02T06:00:00Z");
    round_trip(m);
    free(m);

    m = roam_ok("{\"ProtocolVersion\":\"1.1\",\"SenderID\":\"000013\",\"ReceiverID\":\"000014\",\"TransactionID\":1234,"
                "\"MessageType\":\"PRStartAns\",\"ReceiverNSID\":\"0000000000000014\",\"Result\":{\"ResultCode\":\"Success\"},"
                "\"PHYPayload\":\"204D675073BB4153B23653EFA82C1F3A49\",\"DevEUI\":\"0004A30B001C0B01\",\"DevAddr\":\"26000001\","
                "\"Lifetime\":600,\"NwkSKey\":{\"KEKLabel\":\"ns:000014\",\"AESKey\":\"e3d5a47ba25cbe6e5da820846e0cb6a82b750c59d848ec7a\"},"
                "\"FCntUp\":0,\"ServiceProfile\":{\"ServiceProfile\":\"x\"},"
                "\"DLMetaData\":{\"DevEUI\":\"0004A30B001C0B01\",\"DLFreq1\":868.1,\"DLFreq2\":869.525,\"RXDelay1\":5,"
                "\"DataRate1\":5,\"DataRate2\":0,\"ClassMode\":\"A\",\"FNSULToken\":\"0102\",\"GWInfo\":[{\"ULToken\":\"0a0b0c\"}],"
                "\"HiPriorityFlag\":true}}");
    const bi_pr_start_ans *a = &m->u.pr_start_ans;
    assert_int_equal(a->result.code, BI_RESULT_SUCCESS);
    assert_int_equal(a->phy_payload_len, 17);
    assert_true(a->has_dev_addr && a->dev_addr == 0x26000001);
    assert_true(a->has_lifetime && a->lifetime == 600);
    assert_true(a->nwk_s_key.present && !a->nwk_s_key.clear);
    assert_true(a->has_dl_meta && a->dl.rx_delay1 == 5 && a->dl.dl_freq2 == 869.525 && a->dl.hi_priority);
    assert_string_equal(a->dl.class_mode, "A");
    round_trip(m);
    free(m);

    /* a failure: the bare answer */
    m = roam_ok("{\"ProtocolVersion\":\"1.0\",\"SenderID\":\"000013\",\"ReceiverID\":\"000014\",\"TransactionID\":1,"
                "\"MessageType\":\"PRStartAns\",\"Result\":{\"ResultCode\":\"UnkownReceiver\",\"Description\":\"no route\"}}");
    assert_int_equal(m->u.pr_start_ans.result.code, BI_RESULT_UNKNOWN_RECEIVER);
    assert_string_equal(m->u.pr_start_ans.result.description, "no route");
    round_trip(m);
    free(m);
}

static void test_xmit_data(void **state)
{
    (void)state;
    bi_roam_msg *m = roam_ok(HDR("XmitDataReq", "000014", "000013") ",\"PHYPayload\":\"40010000260000000002AB\","
                             "\"ULMetaData\":{\"DevAddr\":\"26000001\",\"FPort\":2,\"FCntUp\":7,\"Confirmed\":true,"
                             "\"DataRate\":0,\"ULFreq\":868.3,\"Margin\":-5,\"Battery\":254}}");
    const bi_xmit_data_req *x = &m->u.xmit_data_req;
    assert_true(x->uplink && !x->frm);
    assert_true(x->ul.confirmed && x->ul.fcnt_up == 7 && x->ul.margin == -5 && x->ul.battery == 254);
    round_trip(m);
    free(m);
    m = roam_ok(HDR("XmitDataReq", "000013", "000014") ",\"PHYPayload\":\"60010000262000000002AB\","
                "\"DLMetaData\":{\"RXDelay1\":1,\"DLFreq1\":868.3,\"DataRate1\":0,\"FNSULToken\":\"0000000000000002\","
                "\"GWInfo\":[]}}");
    x = &m->u.xmit_data_req;
    assert_false(x->uplink);
    assert_int_equal(x->dl.fns_ul_token_len, 8);
    round_trip(m);
    free(m);
    m = roam_ok("{\"ProtocolVersion\":\"1.1\",\"SenderID\":\"000014\",\"ReceiverID\":\"000013\",\"TransactionID\":3,"
                "\"MessageType\":\"XmitDataAns\",\"Result\":{\"ResultCode\":\"Success\"},\"DLFreq1\":868.3}");
    assert_true(m->u.xmit_data_ans.has_dl_freq1 && !m->u.xmit_data_ans.has_dl_freq2);
    round_trip(m);
    free(m);
    m = roam_ok(HDR("PRStopReq", "000013", "000014") ",\"DevEUI\":\"0004A30B001C0B01\",\"Lifetime\":0}");
    assert_true(m->u.pr_stop_req.has_lifetime);
    round_trip(m);
    free(m);
    m = roam_ok("{\"ProtocolVersion\":\"1.1\",\"SenderID\":\"70B3D57ED0000000\",\"ReceiverID\":\"000014\","
                "\"TransactionID\":3,\"MessageType\":\"HomeNSAns\",\"Result\":{\"ResultCode\":\"Success\"},"
                "\"HNetID\":\"000013\",\"HNSID\":\"0000000000000013\"}");
    assert_true(m->u.home_ns_ans.has_h_net_id && m->u.home_ns_ans.h_net_id == 0x13 && m->u.home_ns_ans.has_hnsid);
    round_trip(m);
    free(m);
}

static void test_roam_errors(void **state)
{
    (void)state;
    roam_fails(HDR("PRStartReq", "000014", "000013") ",\"PHYPayload\":\"00\"}", BI_ERR_MISSING, "ULMetaData");
    roam_fails(HDR("PRStartReq", "000014", "000013") ",\"PHYPayload\":\"00\",\"ULMetaData\":{\"GWInfo\":[{\"SNR\":\"7\"}]}}",
               BI_ERR_TYPE, "ULMetaData.GWInfo[0].SNR");
    roam_fails(HDR("PRStartReq", "000014", "000013") ",\"PHYPayload\":\"00\",\"ULMetaData\":{\"DataRate\":16}}",
               BI_ERR_RANGE, "ULMetaData.DataRate");
    roam_fails(HDR("PRStartReq", "000014", "000013") ",\"PHYPayload\":\"\",\"ULMetaData\":{}}", BI_ERR_FRAME_SIZE,
               "PHYPayload");
    roam_fails(HDR("PRStartReq", "000014", "000013") ",\"PHYPayload\":\"00\",\"ULMetaData\":{\"GWInfo\":"
               "[{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}]}}",
               BI_ERR_RANGE, "ULMetaData.GWInfo");
    roam_fails(HDR("XmitDataReq", "000014", "000013") ",\"PHYPayload\":\"00\",\"FRMPayload\":\"00\",\"ULMetaData\":{}}",
               BI_ERR_MISSING, "PHYPayload");
    roam_fails(HDR("XmitDataReq", "000014", "000013") ",\"PHYPayload\":\"00\",\"ULMetaData\":{},\"DLMetaData\":{}}",
               BI_ERR_MISSING, "ULMetaData");
    roam_fails(HDR("XmitDataReq", "000014", "000013") ",\"PHYPayload\":\"00\",\"DLMetaData\":{\"RXDelay1\":16}}",
               BI_ERR_RANGE, "DLMetaData.RXDelay1");
    roam_fails("{\"ProtocolVersion\":\"1.1\",\"SenderID\":\"000013\",\"ReceiverID\":\"000014\",\"TransactionID\":1,"
               "\"MessageType\":\"PRStartAns\",\"Result\":{\"ResultCode\":\"Success\"},"
               "\"NwkSKey\":{\"AESKey\":\"01020304050607080102030405060708\"}}",
               BI_ERR_CLEAR_KEY, "NwkSKey");
    roam_fails("{\"ProtocolVersion\":\"1.1\",\"SenderID\":\"000013\",\"ReceiverID\":\"000014\",\"TransactionID\":1,"
               "\"MessageType\":\"PRStartAns\"}",
               BI_ERR_MISSING, "Result");
    roam_fails("{\"ProtocolVersion\":\"1.1\",\"SenderID\":\"000013\",\"ReceiverID\":\"000014\",\"TransactionID\":1,"
               "\"MessageType\":\"PRStartAns\",\"Result\":{\"ResultCode\":\"Fine\"}}",
               BI_ERR_VALUE, "Result.ResultCode");
    roam_fails(HDR("ProfileReq", "000014", "000013") ",\"DevEUI\":\"0004A30B001C0B01\"}", BI_ERR_UNSUPPORTED,
               "MessageType");

    /* builders refuse what they must not write */
    bi_roam_msg *m = calloc(1, sizeof(*m));
    char out[4096];
    size_t n;
    m->hdr.version = BI_VERSION_1_0;
    m->hdr.message_type = BI_MSG_XMIT_DATA_REQ;
    bi_id_set_net_id(&m->hdr.sender_id, 0x14);
    bi_id_set_net_id(&m->hdr.receiver_id, 0x13);
    assert_int_equal(bi_roam_build(m, out, sizeof(out), &n), BI_ERR_ARGUMENT); /* no payload */
    m->u.xmit_data_req.payload_len = 1;
    m->u.xmit_data_req.uplink = true;
    assert_int_equal(bi_roam_build(m, out, sizeof(out), &n), BI_OK);
    assert_int_equal(bi_roam_build(m, out, 20, &n), BI_ERR_BUFFER);
    m->hdr.message_type = BI_MSG_PR_START_ANS;
    memset(&m->u, 0, sizeof(m->u));
    m->u.pr_start_ans.nwk_s_key.present = true;
    m->u.pr_start_ans.nwk_s_key.clear = true;
    assert_int_equal(bi_roam_build(m, out, sizeof(out), &n), BI_ERR_CLEAR_KEY);
    m->hdr.message_type = BI_MSG_JOIN_ANS;
    assert_int_equal(bi_roam_build(m, out, sizeof(out), &n), BI_ERR_ARGUMENT);
    free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_relay),
        cmocka_unit_test(test_pr_start),
        cmocka_unit_test(test_xmit_data),
        cmocka_unit_test(test_roam_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

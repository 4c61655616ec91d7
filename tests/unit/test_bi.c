/*
 * test_bi.c - the Backend Interfaces JSON layer: requests as The Things
 * Stack, ChirpStack, Helium and lorawan-js send them, every parse error with
 * its field and result code, answers compared field by field (and once byte
 * for byte), KeyEnvelopes clear and wrapped, device import lines.
 *
 * Samples come from ../shared/reference/backend-interfaces.md §1.5 (TTS
 * interop client test, lorawan-js README), §1.2 (Helium's 0x SenderID) and
 * §1.7 (ChirpStack's KeyEnvelope vector).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "bi/bi.h"
#include "test_util.h"

/* TTS JoinReq (§1.5) with the 1.0 header as current TTS sends it: no
 * SenderNSID, and "CFList":"" when there is none. */
static const char TTS_JOIN_REQ_10[] =
    "{\"ProtocolVersion\":\"1.0\",\"TransactionID\":0,\"MessageType\":\"JoinReq\",\"SenderID\":\"42FFFF\","
    "\"ReceiverID\":\"70B3D57ED0000000\",\"MACVersion\":\"1.0.3\","
    "\"PHYPayload\":\"00000000D07ED5B370080706050403020100003851F0B6\",\"DevEUI\":\"0102030405060708\","
    "\"DevAddr\":\"01020304\",\"DLSettings\":\"00\",\"RxDelay\":5,\"CFList\":\"\"}";

/* The same in 1.1 as ChirpStack would write it: lowercase, a token, a CFList,
 * a VSExtension (ignored), 0x prefixes. */
static const char CS_JOIN_REQ_11[] =
    "{\"ProtocolVersion\":\"1.1\",\"SenderID\":\"0x000013\",\"ReceiverID\":\"0x70b3d57ed0000000\","
    "\"TransactionID\":4294967295,\"MessageType\":\"JoinReq\",\"SenderToken\":\"0a0b\","
    "\"SenderNSID\":\"0x0000000000000013\",\"MACVersion\":\"1.1\","
    "\"PHYPayload\":\"0x00000000d07ed5b370080706050403020100003851f0b6\",\"DevEUI\":\"0102030405060708\","
    "\"DevAddr\":\"26011234\",\"DLSettings\":\"0x03\",\"RxDelay\":1,"
    "\"CFList\":\"184F84E85684B85E84886684586E8400\","
    "\"VSExtension\":{\"VendorID\":\"EC656E\",\"Object\":{\"TTSV3\":{\"HTenantID\":\"t\"}}}}";

/* lorawan-js README: MACVersion "1.0", TransactionID above 2^31. */
static const char LJS_JOIN_REQ[] =
    "{\"ProtocolVersion\":\"1.0\",\"SenderID\":\"000000\",\"ReceiverID\":\"D84BCF5B9FAF1803\","
    "\"TransactionID\":3502070497,\"MessageType\":\"JoinReq\",\"MACVersion\":\"1.0\",\"DevAddr\":\"00F3BFBF\","
    "\"PHYPayload\":\"000318AF9F5BCF4BD8010300000000000004F2C6E80A33\",\"DLSettings\":\"00\",\"RxDelay\":1,"
    "\"DevEUI\":\"0000000000000301\",\"CFList\":\"184f84e85684b85e84886684586e8400\"}";

/* A 1.1 rejoin-request type 0 (TTS join_messages_test.go frame). */
static const char REJOIN_REQ_11[] =
    "{\"ProtocolVersion\":\"1.1\",\"SenderID\":\"030201\",\"ReceiverID\":\"70B3D57ED0000000\","
    "\"TransactionID\":7,\"MessageType\":\"RejoinReq\",\"SenderNSID\":\"0000000000030201\",\"MACVersion\":\"1.1\","
    "\"PHYPayload\":\"C0000302010807060504030201020111DA47BD\",\"DevEUI\":\"0102030405060708\","
    "\"DevAddr\":\"01020304\",\"DLSettings\":\"00\",\"RxDelay\":1}";

/* An AS asks for an AppSKey; its AS-ID looks like hex but is a name. */
static const char APPSKEY_REQ[] =
    "{\"ProtocolVersion\":\"1.0\",\"SenderID\":\"cafe42\",\"ReceiverID\":\"70B3D57ED0000000\","
    "\"TransactionID\":12,\"MessageType\":\"AppSKeyReq\",\"DevEUI\":\"0102030405060708\","
    "\"SessionKeyID\":\"016BFA7BAD4756346A674981E75CDBDC\"}";

/* Helium writes its NetID with 0x. */
static const char HOMENS_REQ_HELIUM[] =
    "{\"ProtocolVersion\":\"1.1\",\"SenderID\":\"0xC00053\",\"ReceiverID\":\"70B3D57ED0000000\","
    "\"TransactionID\":99,\"MessageType\":\"HomeNSReq\",\"SenderNSID\":\"C00053C00053C000\","
    "\"DevEUI\":\"0102030405060708\"}";

static bi_status parse(const char *json, bi_request *req, bi_error *err)
{
    return bi_request_parse(json, strlen(json), req, err);
}

/* ---- requests --------------------------------------------------------- */

static void test_tts_join_req_10(void **state)
{
    (void)state;
    bi_request r;
    bi_error e;
    assert_int_equal(parse(TTS_JOIN_REQ_10, &r, &e), BI_OK);
    assert_int_equal(r.hdr.version, BI_VERSION_1_0);
    assert_int_equal(r.hdr.message_type, BI_MSG_JOIN_REQ);
    assert_int_equal(r.hdr.sender_id.kind, BI_ID_NET_ID);
    assert_true(r.hdr.sender_id.value == 0x42FFFF);
    assert_string_equal(r.hdr.sender_id.raw, "42FFFF");
    assert_int_equal(r.hdr.receiver_id.kind, BI_ID_EUI);
    assert_true(r.hdr.receiver_id.value == 0x70B3D57ED0000000ull);
    assert_int_equal(r.hdr.transaction_id, 0);
    assert_int_equal(r.hdr.sender_token.len, 0);
    assert_false(r.hdr.has_sender_nsid);
    assert_int_equal(r.u.join.mac_version, BI_MAC_1_0_3);
    assert_hex_equal(r.u.join.phy_payload, r.u.join.phy_payload_len, "00000000D07ED5B370080706050403020100003851F0B6");
    assert_true(r.u.join.dev_eui == 0x0102030405060708ull);
    assert_int_equal(r.u.join.dev_addr, 0x01020304);
    assert_int_equal(r.u.join.dl_settings, 0);
    assert_int_equal(r.u.join.rx_delay, 5);
    assert_false(r.u.join.has_cflist);
}

static char *mutate(const char *base, const char *key, const char *value);

static void test_cs_join_req_11(void **state)
{
    (void)state;
    bi_request r;
    bi_error e;
    assert_int_equal(parse(CS_JOIN_REQ_11, &r, &e), BI_OK);
    assert_int_equal(r.hdr.version, BI_VERSION_1_1);
    assert_true(r.hdr.sender_id.value == 0x13);
    assert_string_equal(r.hdr.sender_id.raw, "0x000013");
    assert_true(r.hdr.receiver_id.value == 0x70B3D57ED0000000ull);
    assert_int_equal(r.hdr.transaction_id, 4294967295u);
    assert_hex_equal(r.hdr.sender_token.bytes, r.hdr.sender_token.len, "0A0B");
    assert_true(r.hdr.has_sender_nsid);
    assert_true(r.hdr.sender_nsid == 0x13);
    assert_false(r.hdr.has_receiver_nsid);
    assert_int_equal(r.u.join.mac_version, BI_MAC_1_1);
    assert_int_equal(bi_mac_version_lw(r.u.join.mac_version), LW_MAC_1_1);
    assert_int_equal(r.u.join.phy_payload_len, 23);
    assert_int_equal(r.u.join.dev_addr, 0x26011234);
    assert_int_equal(r.u.join.dl_settings, 3);
    assert_true(r.u.join.has_cflist);
    assert_hex_equal(r.u.join.cflist, 16, "184F84E85684B85E84886684586E8400");
    /* ChirpStack v4 spells 1.1 "1.1.0" (lrwn MacVersion::LORAWAN_1_1_0) */
    char *m = mutate(CS_JOIN_REQ_11, "MACVersion", "\"1.1.0\"");
    assert_int_equal(parse(m, &r, &e), BI_OK);
    assert_int_equal(r.u.join.mac_version, BI_MAC_1_1);
    free(m);
    m = mutate(CS_JOIN_REQ_11, "MACVersion", "\"1.1.1\"");
    assert_int_equal(parse(m, &r, &e), BI_ERR_VALUE);
    free(m);
    bi_mac_version v;
    assert_int_equal(bi_mac_version_parse("1.1.0", 5, &v), BI_OK);
    assert_int_equal(v, BI_MAC_1_1);
    assert_string_equal(bi_mac_version_name(v), "1.1"); /* answers name it as TS002 does */
}

static void test_lorawan_js_join_req(void **state)
{
    (void)state;
    bi_request r;
    bi_error e;
    assert_int_equal(parse(LJS_JOIN_REQ, &r, &e), BI_OK);
    assert_int_equal(r.hdr.transaction_id, 3502070497u);
    assert_int_equal(r.u.join.mac_version, BI_MAC_1_0_0);
    assert_true(r.u.join.dev_eui == 0x301);
    assert_true(r.u.join.has_cflist);
}

static void test_other_requests(void **state)
{
    (void)state;
    bi_request r;
    bi_error e;
    assert_int_equal(parse(REJOIN_REQ_11, &r, &e), BI_OK);
    assert_int_equal(r.hdr.message_type, BI_MSG_REJOIN_REQ);
    assert_int_equal(r.u.join.phy_payload_len, 19);

    assert_int_equal(parse(APPSKEY_REQ, &r, &e), BI_OK);
    assert_int_equal(r.hdr.message_type, BI_MSG_APP_S_KEY_REQ);
    assert_int_equal(r.hdr.sender_id.kind, BI_ID_NAME); /* an AS-ID even though it looks like a NetID */
    assert_string_equal(r.hdr.sender_id.raw, "cafe42");
    assert_true(r.u.app_s_key.dev_eui == 0x0102030405060708ull);
    assert_hex_equal(r.u.app_s_key.session_key_id, r.u.app_s_key.session_key_id_len,
                     "016BFA7BAD4756346A674981E75CDBDC");

    assert_int_equal(parse(HOMENS_REQ_HELIUM, &r, &e), BI_OK);
    assert_int_equal(r.hdr.message_type, BI_MSG_HOME_NS_REQ);
    assert_true(r.hdr.sender_id.value == 0xC00053);
    assert_true(r.u.home_ns.dev_eui == 0x0102030405060708ull);
}

/* parse -> build -> parse gives the same struct (both start zeroed). */
static void check_round_trip(const char *json)
{
    bi_request a, b;
    bi_error e;
    char out[BI_ANSWER_MAX];
    size_t n;
    assert_int_equal(parse(json, &a, &e), BI_OK);
    assert_int_equal(bi_request_build(&a, out, sizeof(out), &n), BI_OK);
    assert_int_equal(strlen(out), n);
    assert_int_equal(bi_request_parse(out, n, &b, &e), BI_OK);
    /* raw IDs are rewritten canonical; compare them separately */
    assert_true(a.hdr.sender_id.value == b.hdr.sender_id.value);
    assert_int_equal(a.hdr.sender_id.kind, b.hdr.sender_id.kind);
    memcpy(b.hdr.sender_id.raw, a.hdr.sender_id.raw, sizeof(a.hdr.sender_id.raw));
    memcpy(b.hdr.receiver_id.raw, a.hdr.receiver_id.raw, sizeof(a.hdr.receiver_id.raw));
    assert_memory_equal(&a, &b, sizeof(a));
    /* and the output is uppercase, without 0x */
    assert_null(strstr(out, "0x"));
    /* one byte short is an error, not a shorter message */
    assert_int_equal(bi_request_build(&a, out, n, &n), BI_ERR_BUFFER);
}

static void test_request_round_trips(void **state)
{
    (void)state;
    check_round_trip(TTS_JOIN_REQ_10);
    check_round_trip(CS_JOIN_REQ_11);
    check_round_trip(LJS_JOIN_REQ);
    check_round_trip(REJOIN_REQ_11);
    check_round_trip(APPSKEY_REQ);
    check_round_trip(HOMENS_REQ_HELIUM);
}

/* ---- request errors --------------------------------------------------- */

/* `base` with member `key` replaced by the JSON `value` (NULL: removed). */
static char *mutate(const char *base, const char *key, const char *value)
{
    json_error_t je;
    json_t *o = json_loads(base, 0, &je);
    assert_non_null(o);
    if (value == NULL) {
        json_object_del(o, key);
    } else {
        json_t *v = json_loads(value, JSON_DECODE_ANY, &je);
        assert_non_null(v);
        json_object_set_new(o, key, v);
    }
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    assert_non_null(s);
    return s;
}

typedef struct {
    const char *base;
    const char *key;
    const char *value; /* NULL: remove the key */
    bi_status status;
    const char *field;
    bool answerable;
    bi_result_code code;
} error_case;

static void test_request_errors(void **state)
{
    (void)state;
    const char *J10 = TTS_JOIN_REQ_10, *J11 = CS_JOIN_REQ_11;
    const error_case cases[] = {
        /* header: the four fields an answer needs */
        {J10, "MessageType", NULL, BI_ERR_MISSING, "MessageType", false, BI_RESULT_MALFORMED},
        {J10, "MessageType", "\"JoinRequest\"", BI_ERR_MESSAGE_TYPE, "MessageType", false, BI_RESULT_MALFORMED},
        {J10, "MessageType", "\"JoinAns\"", BI_ERR_UNSUPPORTED, "MessageType", false, BI_RESULT_MALFORMED},
        {J10, "MessageType", "\"PRStartNotif\"", BI_ERR_UNSUPPORTED, "MessageType", false, BI_RESULT_MALFORMED},
        {J10, "MessageType", "7", BI_ERR_TYPE, "MessageType", false, BI_RESULT_MALFORMED},
        {J10, "SenderID", NULL, BI_ERR_MISSING, "SenderID", false, BI_RESULT_MALFORMED},
        {J10, "SenderID", "\"\"", BI_ERR_VALUE, "SenderID", false, BI_RESULT_MALFORMED},
        {J10, "ReceiverID", "42", BI_ERR_TYPE, "ReceiverID", false, BI_RESULT_MALFORMED},
        {J10, "TransactionID", NULL, BI_ERR_MISSING, "TransactionID", false, BI_RESULT_MALFORMED},
        {J10, "TransactionID", "-1", BI_ERR_RANGE, "TransactionID", false, BI_RESULT_MALFORMED},
        {J10, "TransactionID", "4294967296", BI_ERR_RANGE, "TransactionID", false, BI_RESULT_MALFORMED},
        {J10, "TransactionID", "1.5", BI_ERR_TYPE, "TransactionID", false, BI_RESULT_MALFORMED},
        {J10, "TransactionID", "\"12\"", BI_ERR_TYPE, "TransactionID", false, BI_RESULT_MALFORMED},
        /* from here on the message can be answered */
        {J10, "ProtocolVersion", "\"1.2\"", BI_ERR_VERSION, "ProtocolVersion", true,
         BI_RESULT_INVALID_PROTOCOL_VERSION},
        {J10, "ProtocolVersion", "\"BI1.0\"", BI_ERR_VERSION, "ProtocolVersion", true,
         BI_RESULT_INVALID_PROTOCOL_VERSION},
        {J10, "ProtocolVersion", "1.0", BI_ERR_VERSION, "ProtocolVersion", true,
         BI_RESULT_INVALID_PROTOCOL_VERSION},
        {J10, "ProtocolVersion", NULL, BI_ERR_VERSION, "ProtocolVersion", true,
         BI_RESULT_INVALID_PROTOCOL_VERSION},
        {J10, "SenderNSID", "\"42FFFF42FFFF42FF\"", BI_ERR_NSID, "SenderNSID", true, BI_RESULT_MALFORMED},
        {J10, "ReceiverNSID", "\"0000000000000001\"", BI_ERR_NSID, "ReceiverNSID", true, BI_RESULT_MALFORMED},
        {J11, "SenderNSID", NULL, BI_ERR_NSID, "SenderNSID", true, BI_RESULT_MALFORMED},
        {J11, "SenderNSID", "\"42FFFF\"", BI_ERR_HEX, "SenderNSID", true, BI_RESULT_MALFORMED},
        {J10, "SenderToken", "\"0a0\"", BI_ERR_HEX, "SenderToken", true, BI_RESULT_MALFORMED},
        {J10, "SenderToken", "\"zz\"", BI_ERR_HEX, "SenderToken", true, BI_RESULT_MALFORMED},
        {J10, "VSExtension", "[1]", BI_ERR_TYPE, "VSExtension", true, BI_RESULT_MALFORMED},
        {J10, "SenderID", "\"70B3D57ED0000000\"", BI_ERR_VALUE, "SenderID", true, BI_RESULT_MALFORMED},
        {J10, "ReceiverID", "\"42FFFF\"", BI_ERR_VALUE, "ReceiverID", true, BI_RESULT_MALFORMED},
        {J10, "MessageType", "\"PRStartReq\"", BI_ERR_UNSUPPORTED, "MessageType", true, BI_RESULT_MALFORMED},
        /* JoinReq body */
        {J10, "MACVersion", NULL, BI_ERR_MISSING, "MACVersion", true, BI_RESULT_MALFORMED},
        {J10, "MACVersion", "\"1.2\"", BI_ERR_VALUE, "MACVersion", true, BI_RESULT_MALFORMED},
        {J10, "MACVersion", "\"1.0.5\"", BI_ERR_VALUE, "MACVersion", true, BI_RESULT_MALFORMED},
        {J10, "PHYPayload", NULL, BI_ERR_MISSING, "PHYPayload", true, BI_RESULT_MALFORMED},
        {J10, "PHYPayload", "\"\"", BI_ERR_FRAME_SIZE, "PHYPayload", true, BI_RESULT_FRAME_SIZE_ERROR},
        {J10, "PHYPayload", "\"00000000D07ED5B370080706050403020100003851F0\"", BI_ERR_FRAME_SIZE, "PHYPayload",
         true, BI_RESULT_FRAME_SIZE_ERROR},
        {J10, "PHYPayload", "\"00000000D07ED5B370080706050403020100003851F0B6F\"", BI_ERR_HEX, "PHYPayload",
         true, BI_RESULT_MALFORMED},
        {J10, "PHYPayload", "\"00000000D07ED5B370080706050403020100003851F0BG\"", BI_ERR_HEX, "PHYPayload",
         true, BI_RESULT_MALFORMED},
        {J10, "PHYPayload", "[0]", BI_ERR_TYPE, "PHYPayload", true, BI_RESULT_MALFORMED},
        {J10, "DevEUI", "\"01020304050607\"", BI_ERR_HEX, "DevEUI", true, BI_RESULT_MALFORMED},
        {J10, "DevEUI", "\"0x010203040506070\"", BI_ERR_HEX, "DevEUI", true, BI_RESULT_MALFORMED},
        {J10, "DevEUI", "null", BI_ERR_MISSING, "DevEUI", true, BI_RESULT_MALFORMED},
        {J10, "DevAddr", "\"010203\"", BI_ERR_HEX, "DevAddr", true, BI_RESULT_MALFORMED},
        {J10, "DLSettings", "0", BI_ERR_TYPE, "DLSettings", true, BI_RESULT_MALFORMED},
        {J10, "RxDelay", "16", BI_ERR_RANGE, "RxDelay", true, BI_RESULT_MALFORMED},
        {J10, "RxDelay", "\"5\"", BI_ERR_TYPE, "RxDelay", true, BI_RESULT_MALFORMED},
        {J10, "RxDelay", NULL, BI_ERR_MISSING, "RxDelay", true, BI_RESULT_MALFORMED},
        {J10, "CFList", "\"184F84E85684B85E84886684586E84\"", BI_ERR_HEX, "CFList", true, BI_RESULT_MALFORMED},
        {REJOIN_REQ_11, "PHYPayload", "\"00000000D07ED5B370080706050403020100003851F0B6\"", BI_ERR_FRAME_SIZE,
         "PHYPayload", true, BI_RESULT_FRAME_SIZE_ERROR},
        {APPSKEY_REQ, "SessionKeyID", NULL, BI_ERR_MISSING, "SessionKeyID", true, BI_RESULT_MALFORMED},
        {APPSKEY_REQ, "SessionKeyID", "\"\"", BI_ERR_HEX, "SessionKeyID", true, BI_RESULT_MALFORMED},
        {APPSKEY_REQ, "ReceiverID", "\"app.example\"", BI_ERR_VALUE, "ReceiverID", true, BI_RESULT_MALFORMED},
        {HOMENS_REQ_HELIUM, "DevEUI", "\"xyz\"", BI_ERR_HEX, "DevEUI", true, BI_RESULT_MALFORMED},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const error_case *c = &cases[i];
        char *body = mutate(c->base, c->key, c->value);
        bi_request r;
        bi_error e;
        bi_status st = parse(body, &r, &e);
        if (st != c->status || strcmp(e.field, c->field) != 0 || e.answerable != c->answerable)
            fail_msg("case %zu (%s=%s): got %d field \"%s\" answerable %d (%s)", i, c->key,
                     c->value ? c->value : "(removed)", st, e.field, e.answerable, e.description);
        assert_int_equal(bi_error_result_code(&e), c->code);
        /* the description names the field and does not echo it twice */
        assert_true(strncmp(e.description, c->field, strlen(c->field)) == 0);
        if (e.answerable) {
            char out[BI_ANSWER_MAX];
            size_t n;
            assert_int_equal(bi_error_answer_build(&r.hdr, bi_error_result_code(&e), e.description, out,
                                                   sizeof(out), &n),
                             BI_OK);
        }
        free(body);
    }
}

static void test_body_errors(void **state)
{
    (void)state;
    bi_request r;
    bi_error e;
    assert_int_equal(parse("", &r, &e), BI_ERR_NOT_JSON);
    assert_false(e.answerable);
    assert_int_equal(parse("JoinReq", &r, &e), BI_ERR_NOT_JSON);
    assert_int_equal(parse("{\"MessageType\":\"JoinReq\"", &r, &e), BI_ERR_NOT_JSON);
    assert_int_equal(parse("[{\"MessageType\":\"JoinReq\"}]", &r, &e), BI_ERR_NOT_OBJECT);
    assert_false(e.answerable);
    assert_int_equal(parse("\"JoinReq\"", &r, &e), BI_ERR_NOT_OBJECT);
    assert_int_equal(parse("42", &r, &e), BI_ERR_NOT_OBJECT);
    assert_int_equal(parse("null", &r, &e), BI_ERR_NOT_OBJECT);
    assert_int_equal(parse("{}", &r, &e), BI_ERR_MISSING);
    assert_false(e.answerable);
    /* duplicate keys are ambiguous: refused */
    assert_int_equal(parse("{\"MessageType\":\"JoinReq\",\"MessageType\":\"HomeNSReq\"}", &r, &e),
                     BI_ERR_NOT_JSON);
    assert_non_null(strstr(e.description, "duplicate"));
    /* a NUL inside the body */
    assert_int_equal(bi_request_parse("{\"a\":1}\0", 8, &r, &e), BI_ERR_NOT_JSON);
    assert_int_equal(bi_request_parse(NULL, 0, &r, &e), BI_ERR_NOT_JSON);

    /* nesting: 16 levels in VSExtension pass, 17 do not; brackets inside
     * strings do not count */
    char deep[1000];
    for (int depth = 15; depth <= 16; depth++) {
        char *p = deep;
        p += sprintf(p, "%.*s", (int)strlen(TTS_JOIN_REQ_10) - 1, TTS_JOIN_REQ_10);
        p += sprintf(p, ",\"VSExtension\":");
        for (int i = 0; i < depth; i++)
            *p++ = '{', p += sprintf(p, "\"a[{\":");
        p += sprintf(p, "1");
        for (int i = 0; i < depth; i++)
            *p++ = '}';
        strcpy(p, "}");
        bi_status st = parse(deep, &r, &e);
        assert_int_equal(st, depth == 15 ? BI_OK : BI_ERR_TOO_DEEP);
    }
    /* very deep: refused before jansson recurses */
    size_t big = 60000;
    char *b = malloc(big + 1);
    assert_non_null(b);
    memset(b, '[', big);
    b[big] = '\0';
    assert_int_equal(parse(b, &r, &e), BI_ERR_TOO_DEEP);
    assert_false(e.answerable);
    free(b);

    /* over 64 KiB: refused without parsing, even if valid */
    size_t huge = BI_BODY_MAX + 1;
    b = malloc(huge + 1);
    assert_non_null(b);
    memset(b, ' ', huge);
    memcpy(b, TTS_JOIN_REQ_10, strlen(TTS_JOIN_REQ_10));
    b[huge] = '\0';
    assert_int_equal(parse(b, &r, &e), BI_ERR_TOO_LARGE);
    assert_false(e.answerable);
    b[huge - 1] = '\0'; /* exactly 64 KiB is fine */
    assert_int_equal(bi_request_parse(b, BI_BODY_MAX, &r, &e), BI_OK);
    free(b);

    /* a PHYPayload of 256 bytes is FrameSizeError (bodies up to 255 pass the
     * generic check and then meet the join-request size) */
    char phy[600];
    memset(phy, 'A', 512);
    phy[512] = '\0';
    char val[620];
    snprintf(val, sizeof(val), "\"%s\"", phy);
    char *m = mutate(TTS_JOIN_REQ_10, "PHYPayload", val);
    assert_int_equal(parse(m, &r, &e), BI_ERR_FRAME_SIZE);
    assert_string_equal(e.description, "PHYPayload: 256 bytes, expected 1 to 255");
    free(m);
}

static void test_huge_numbers(void **state)
{
    (void)state;
    bi_request r;
    bi_error e;
    /* beyond what jansson holds as an integer: still named precisely */
    char *m = mutate(TTS_JOIN_REQ_10, "TransactionID", "0");
    char *p = strstr(m, "\"TransactionID\":0");
    assert_non_null(p);
    char body[1024];
    snprintf(body, sizeof(body), "%.*s\"TransactionID\":99999999999999999999999%s", (int)(p - m), m,
             p + strlen("\"TransactionID\":0"));
    assert_int_equal(parse(body, &r, &e), BI_ERR_RANGE);
    assert_string_equal(e.field, "TransactionID");
    assert_false(e.answerable);
    free(m);

    m = mutate(TTS_JOIN_REQ_10, "RxDelay", "0");
    p = strstr(m, "\"RxDelay\":0");
    assert_non_null(p);
    snprintf(body, sizeof(body), "%.*s\"RxDelay\":1e400%s", (int)(p - m), m, p + strlen("\"RxDelay\":0"));
    bi_status st = parse(body, &r, &e);
    /* jansson refuses 1e400 as a real overflow: not a number we can read */
    assert_true(st == BI_ERR_NOT_JSON || st == BI_ERR_RANGE);
    snprintf(body, sizeof(body), "%.*s\"RxDelay\":184467440737095516160%s", (int)(p - m), m,
             p + strlen("\"RxDelay\":0"));
    assert_int_equal(parse(body, &r, &e), BI_ERR_RANGE);
    assert_string_equal(e.field, "RxDelay");
    assert_true(e.answerable);
    free(m);
}

/* ---- answers ---------------------------------------------------------- */

static json_t *load(const char *s)
{
    json_error_t je;
    json_t *o = json_loads(s, 0, &je);
    if (o == NULL)
        fail_msg("answer is not JSON: %s (%s)", je.text, s);
    return o;
}

static void assert_member(const json_t *o, const char *key, const char *want)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_string(v))
        fail_msg("member %s missing or not a string", key);
    assert_string_equal(json_string_value(v), want);
}

static void wrapped(bi_key_envelope *env, const char *label, uint8_t fill)
{
    uint8_t k[BI_WRAPPED_KEY_LEN];
    memset(k, fill, sizeof(k));
    assert_int_equal(bi_key_envelope_set_wrapped(env, label, k), BI_OK);
}

static void test_join_ans_10_exact(void **state)
{
    (void)state;
    bi_request r;
    bi_error e;
    char tts[600];
    /* TTS's request with a SenderToken, to see it come back as ReceiverToken */
    snprintf(tts, sizeof(tts), "%.*s,\"SenderToken\":\"01\"}", (int)strlen(TTS_JOIN_REQ_10) - 1, TTS_JOIN_REQ_10);
    assert_int_equal(parse(tts, &r, &e), BI_OK);
    bi_header h;
    assert_int_equal(bi_answer_header(&r.hdr, &h), BI_OK);

    bi_join_ans a;
    memset(&a, 0, sizeof(a));
    a.result.code = BI_RESULT_SUCCESS;
    a.phy_payload_len = tu_hex("204D675073BB4153B23653EFA82C1F3A49E19C2A8696C9A34BF492674779E4BEFA", a.phy_payload,
                               sizeof(a.phy_payload));
    a.has_lifetime = true;
    a.lifetime = 0;
    uint8_t nwk[24], app[24];
    tu_hex("EB56FE6681999F25D548CFEDD4A6528B331BB5ADE1CAF17F", nwk, 24);
    tu_hex("2A195CC93CA54AD82CFB36C83D91450F3D2D523556F13E69", app, 24);
    assert_int_equal(bi_key_envelope_set_wrapped(&a.nwk_s_key, "ns:42FFFF", nwk), BI_OK);
    assert_int_equal(bi_key_envelope_set_wrapped(&a.app_s_key, "as:010042", app), BI_OK);
    a.session_key_id_len = tu_hex("016BFA7BAD4756346A674981E75CDBDC", a.session_key_id, sizeof(a.session_key_id));

    char out[BI_ANSWER_MAX];
    size_t n;
    assert_int_equal(bi_join_ans_build(&h, &a, out, sizeof(out), &n), BI_OK);
    assert_string_equal(out,
        "{\"ProtocolVersion\":\"1.0\",\"SenderID\":\"70B3D57ED0000000\",\"ReceiverID\":\"42FFFF\","
        "\"TransactionID\":0,\"MessageType\":\"JoinAns\",\"ReceiverToken\":\"01\","
        "\"Result\":{\"ResultCode\":\"Success\"},"
        "\"PHYPayload\":\"204D675073BB4153B23653EFA82C1F3A49E19C2A8696C9A34BF492674779E4BEFA\",\"Lifetime\":0,"
        "\"NwkSKey\":{\"KEKLabel\":\"ns:42FFFF\",\"AESKey\":\"EB56FE6681999F25D548CFEDD4A6528B331BB5ADE1CAF17F\"},"
        "\"AppSKey\":{\"KEKLabel\":\"as:010042\",\"AESKey\":\"2A195CC93CA54AD82CFB36C83D91450F3D2D523556F13E69\"},"
        "\"SessionKeyID\":\"016BFA7BAD4756346A674981E75CDBDC\"}");
    assert_int_equal(n, strlen(out));
    /* exact capacity works, one less does not */
    char exact[BI_ANSWER_MAX];
    assert_int_equal(bi_join_ans_build(&h, &a, exact, n + 1, &n), BI_OK);
    assert_int_equal(bi_join_ans_build(&h, &a, exact, n, &n), BI_ERR_BUFFER);
}

static void test_join_ans_11_fields(void **state)
{
    (void)state;
    bi_request r;
    bi_error e;
    char req[900];
    /* a 1.1 request with a ReceiverNSID too, to see both NSIDs swap */
    snprintf(req, sizeof(req), "%.*s,\"ReceiverNSID\":\"70b3d57ed0000001\"}", (int)strlen(CS_JOIN_REQ_11) - 1,
             CS_JOIN_REQ_11);
    assert_int_equal(parse(req, &r, &e), BI_OK);
    bi_header h;
    assert_int_equal(bi_answer_header(&r.hdr, &h), BI_OK);
    assert_int_equal(h.message_type, BI_MSG_JOIN_ANS);

    bi_join_ans a;
    memset(&a, 0, sizeof(a));
    a.result.code = BI_RESULT_SUCCESS;
    a.phy_payload_len = 33;
    memset(a.phy_payload, 0x20, 33);
    a.has_lifetime = true;
    a.lifetime = 86400;
    wrapped(&a.f_nwk_s_int_key, "ns:000013", 0x11);
    wrapped(&a.s_nwk_s_int_key, "ns:000013", 0x22);
    wrapped(&a.nwk_s_enc_key, "ns:000013", 0x33);
    wrapped(&a.app_s_key, "as:app", 0x44);

    char out[BI_ANSWER_MAX];
    size_t n;
    assert_int_equal(bi_join_ans_build(&h, &a, out, sizeof(out), &n), BI_OK);
    json_t *o = load(out);
    assert_member(o, "ProtocolVersion", "1.1");
    assert_member(o, "SenderID", "70B3D57ED0000000");
    assert_member(o, "ReceiverID", "000013");
    assert_int_equal(json_integer_value(json_object_get(o, "TransactionID")), 4294967295LL);
    assert_member(o, "MessageType", "JoinAns");
    assert_member(o, "ReceiverToken", "0A0B");
    assert_null(json_object_get(o, "SenderToken"));
    assert_member(o, "ReceiverNSID", "0000000000000013");
    assert_member(o, "SenderNSID", "70B3D57ED0000001");
    assert_member(json_object_get(o, "Result"), "ResultCode", "Success");
    assert_null(json_object_get(json_object_get(o, "Result"), "Description"));
    assert_int_equal(json_integer_value(json_object_get(o, "Lifetime")), 86400);
    assert_member(json_object_get(o, "FNwkSIntKey"), "AESKey", "111111111111111111111111111111111111111111111111");
    assert_member(json_object_get(o, "SNwkSIntKey"), "KEKLabel", "ns:000013");
    assert_member(json_object_get(o, "NwkSEncKey"), "AESKey", "333333333333333333333333333333333333333333333333");
    assert_null(json_object_get(o, "NwkSKey"));
    assert_null(json_object_get(o, "SessionKeyID"));
    json_decref(o);

    /* RejoinAns uses the same builder */
    assert_int_equal(parse(REJOIN_REQ_11, &r, &e), BI_OK);
    assert_int_equal(bi_answer_header(&r.hdr, &h), BI_OK);
    assert_int_equal(bi_join_ans_build(&h, &a, out, sizeof(out), &n), BI_OK);
    o = load(out);
    assert_member(o, "MessageType", "RejoinAns");
    assert_member(o, "ReceiverNSID", "0000000000030201");
    assert_null(json_object_get(o, "SenderNSID"));
    json_decref(o);

    /* a clear envelope is never written */
    a.app_s_key.clear = true;
    assert_int_equal(bi_join_ans_build(&h, &a, out, sizeof(out), &n), BI_ERR_CLEAR_KEY);
    a.app_s_key.clear = false;
    a.app_s_key.kek_label[0] = '\0';
    assert_int_equal(bi_join_ans_build(&h, &a, out, sizeof(out), &n), BI_ERR_CLEAR_KEY);
    /* a JoinAns header is needed */
    h.message_type = BI_MSG_HOME_NS_ANS;
    assert_int_equal(bi_join_ans_build(&h, &a, out, sizeof(out), &n), BI_ERR_ARGUMENT);
}

static void test_failure_answers(void **state)
{
    (void)state;
    bi_request r;
    bi_error e;
    char out[BI_ANSWER_MAX];
    size_t n;
    json_t *o;

    /* MICFailed in a JoinAns with a Description */
    assert_int_equal(parse(TTS_JOIN_REQ_10, &r, &e), BI_OK);
    bi_header h;
    assert_int_equal(bi_answer_header(&r.hdr, &h), BI_OK);
    bi_join_ans a;
    memset(&a, 0, sizeof(a));
    a.result.code = BI_RESULT_MIC_FAILED;
    strcpy(a.result.description, "join-request MIC mismatch");
    assert_int_equal(bi_join_ans_build(&h, &a, out, sizeof(out), &n), BI_OK);
    o = load(out);
    assert_member(json_object_get(o, "Result"), "ResultCode", "MICFailed");
    assert_member(json_object_get(o, "Result"), "Description", "join-request MIC mismatch");
    assert_null(json_object_get(o, "PHYPayload"));
    assert_null(json_object_get(o, "Lifetime"));
    json_decref(o);

    /* the Malformed name follows the version */
    char *m = mutate(TTS_JOIN_REQ_10, "DevEUI", "\"0102\"");
    assert_int_equal(parse(m, &r, &e), BI_ERR_HEX);
    assert_true(e.answerable);
    assert_int_equal(bi_error_answer_build(&r.hdr, bi_error_result_code(&e), e.description, out, sizeof(out), &n),
                     BI_OK);
    o = load(out);
    assert_member(o, "MessageType", "JoinAns");
    assert_member(o, "ReceiverID", "42FFFF");
    assert_member(json_object_get(o, "Result"), "ResultCode", "MalformedRequest");
    assert_member(json_object_get(o, "Result"), "Description", "DevEUI: 4 hex digits, expected 16");
    json_decref(o);
    free(m);

    m = mutate(CS_JOIN_REQ_11, "DevAddr", NULL);
    assert_int_equal(parse(m, &r, &e), BI_ERR_MISSING);
    assert_int_equal(bi_error_answer_build(&r.hdr, bi_error_result_code(&e), e.description, out, sizeof(out), &n),
                     BI_OK);
    o = load(out);
    assert_member(json_object_get(o, "Result"), "ResultCode", "MalformedMessage");
    assert_member(json_object_get(o, "Result"), "Description", "DevAddr: required field is missing");
    assert_member(o, "ReceiverNSID", "0000000000000013");
    json_decref(o);
    free(m);

    /* 1.1 without SenderNSID: answered with no ReceiverNSID */
    m = mutate(CS_JOIN_REQ_11, "SenderNSID", NULL);
    assert_int_equal(parse(m, &r, &e), BI_ERR_NSID);
    assert_int_equal(bi_error_answer_build(&r.hdr, bi_error_result_code(&e), e.description, out, sizeof(out), &n),
                     BI_OK);
    o = load(out);
    assert_member(json_object_get(o, "Result"), "ResultCode", "MalformedMessage");
    assert_null(json_object_get(o, "ReceiverNSID"));
    json_decref(o);
    free(m);

    /* wrong version: answered as 1.0 */
    m = mutate(CS_JOIN_REQ_11, "ProtocolVersion", "\"2.0\"");
    assert_int_equal(parse(m, &r, &e), BI_ERR_VERSION);
    assert_int_equal(bi_error_answer_build(&r.hdr, bi_error_result_code(&e), e.description, out, sizeof(out), &n),
                     BI_OK);
    o = load(out);
    assert_member(o, "ProtocolVersion", "1.0");
    assert_member(json_object_get(o, "Result"), "ResultCode", "InvalidProtocolVersion");
    assert_null(json_object_get(o, "ReceiverNSID"));
    json_decref(o);
    free(m);

    /* a Description longer than allowed is cut, never overflows */
    char longdesc[1000];
    memset(longdesc, 'x', sizeof(longdesc) - 1);
    longdesc[sizeof(longdesc) - 1] = '\0';
    assert_int_equal(parse(TTS_JOIN_REQ_10, &r, &e), BI_OK);
    assert_int_equal(bi_error_answer_build(&r.hdr, BI_RESULT_JOIN_REQ_FAILED, longdesc, out, sizeof(out), &n), BI_OK);
    o = load(out);
    assert_int_equal(strlen(json_string_value(json_object_get(json_object_get(o, "Result"), "Description"))),
                     BI_DESCRIPTION_MAX);
    json_decref(o);
    /* echoed values are shown as printable ASCII, so a Description is
     * always valid UTF-8, even when cut in the middle of a character */
    m = mutate(TTS_JOIN_REQ_10, "ProtocolVersion", "\"a\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\"");
    assert_int_equal(parse(m, &r, &e), BI_ERR_VERSION);
    assert_string_equal(e.description, "ProtocolVersion: \"a???????????????...\" is not supported (1.0 or 1.1)");
    assert_int_equal(bi_error_answer_build(&r.hdr, bi_error_result_code(&e), e.description, out, sizeof(out), &n),
                     BI_OK);
    free(m);
    m = mutate(TTS_JOIN_REQ_10, "MACVersion", "\"1.0\\n\"");
    assert_int_equal(parse(m, &r, &e), BI_ERR_VALUE);
    assert_string_equal(e.description, "MACVersion: \"1.0?\" is not 1.0, 1.0.0 to 1.0.4 or 1.1");
    free(m);
    /* a caller's Description that is not UTF-8 goes out as ASCII */
    assert_int_equal(parse(TTS_JOIN_REQ_10, &r, &e), BI_OK);
    assert_int_equal(bi_error_answer_build(&r.hdr, BI_RESULT_JOIN_REQ_FAILED, "bad \xff\xfe byte", out, sizeof(out), &n),
                     BI_OK);
    o = load(out);
    assert_member(json_object_get(o, "Result"), "Description", "bad ?? byte");
    json_decref(o);
    /* a code the version lacks */
    assert_int_equal(bi_error_answer_build(&r.hdr, BI_RESULT_NO_ACTION, NULL, out, sizeof(out), &n), BI_ERR_ARGUMENT);
}

static void test_app_s_key_and_home_ns_ans(void **state)
{
    (void)state;
    bi_request r;
    bi_error e;
    char out[BI_ANSWER_MAX];
    size_t n;
    bi_header h;

    assert_int_equal(parse(APPSKEY_REQ, &r, &e), BI_OK);
    assert_int_equal(bi_answer_header(&r.hdr, &h), BI_OK);
    bi_app_s_key_ans k;
    memset(&k, 0, sizeof(k));
    k.result.code = BI_RESULT_SUCCESS;
    k.dev_eui = r.u.app_s_key.dev_eui;
    wrapped(&k.app_s_key, "as:cafe42", 0xAB);
    memcpy(k.session_key_id, r.u.app_s_key.session_key_id, r.u.app_s_key.session_key_id_len);
    k.session_key_id_len = r.u.app_s_key.session_key_id_len;
    assert_int_equal(bi_app_s_key_ans_build(&h, &k, out, sizeof(out), &n), BI_OK);
    json_t *o = load(out);
    assert_member(o, "MessageType", "AppSKeyAns");
    assert_member(o, "ReceiverID", "cafe42"); /* the AS-ID exactly as sent */
    assert_member(o, "DevEUI", "0102030405060708");
    assert_member(json_object_get(o, "AppSKey"), "KEKLabel", "as:cafe42");
    assert_member(o, "SessionKeyID", "016BFA7BAD4756346A674981E75CDBDC");
    json_decref(o);

    assert_int_equal(parse(HOMENS_REQ_HELIUM, &r, &e), BI_OK);
    assert_int_equal(bi_answer_header(&r.hdr, &h), BI_OK);
    bi_home_ns_ans hn;
    memset(&hn, 0, sizeof(hn));
    hn.result.code = BI_RESULT_SUCCESS;
    hn.has_h_net_id = true;
    hn.h_net_id = 0x000013;
    hn.has_hnsid = true;
    hn.hnsid = 0x70B3D57ED0000013ull;
    assert_int_equal(bi_home_ns_ans_build(&h, &hn, out, sizeof(out), &n), BI_OK);
    o = load(out);
    assert_member(o, "MessageType", "HomeNSAns");
    assert_member(o, "ReceiverID", "C00053"); /* "0xC00053" written canonical */
    assert_member(o, "ReceiverNSID", "C00053C00053C000");
    assert_member(o, "HNetID", "000013");
    assert_member(o, "HNSID", "70B3D57ED0000013");
    json_decref(o);

    /* NoRoamingAgreement, and no HNSID in 1.0 */
    hn.result.code = BI_RESULT_NO_ROAMING_AGREEMENT;
    hn.has_h_net_id = false;
    h.version = BI_VERSION_1_0;
    h.has_receiver_nsid = false;
    assert_int_equal(bi_home_ns_ans_build(&h, &hn, out, sizeof(out), &n), BI_ERR_ARGUMENT);
    hn.has_hnsid = false;
    assert_int_equal(bi_home_ns_ans_build(&h, &hn, out, sizeof(out), &n), BI_OK);
    o = load(out);
    assert_member(json_object_get(o, "Result"), "ResultCode", "NoRoamingAgreement");
    assert_null(json_object_get(o, "HNetID"));
    json_decref(o);
    /* NSIDs in a 1.0 header are refused */
    h.has_receiver_nsid = true;
    assert_int_equal(bi_home_ns_ans_build(&h, &hn, out, sizeof(out), &n), BI_ERR_ARGUMENT);
}

static void test_result_codes(void **state)
{
    (void)state;
    assert_string_equal(bi_result_code_name(BI_RESULT_MALFORMED, BI_VERSION_1_0), "MalformedRequest");
    assert_string_equal(bi_result_code_name(BI_RESULT_MALFORMED, BI_VERSION_1_1), "MalformedMessage");
    assert_string_equal(bi_result_code_name(BI_RESULT_UNKNOWN_RECEIVER, BI_VERSION_1_0), "UnkownReceiver");
    assert_null(bi_result_code_name(BI_RESULT_FRAME_REPLAYED, BI_VERSION_1_0));
    assert_string_equal(bi_result_code_name(BI_RESULT_FRAME_REPLAYED, BI_VERSION_1_1), "FrameReplayed");
    assert_null(bi_result_code_name(BI_RESULT_COUNT, BI_VERSION_1_1));
    bi_result_code c;
    for (unsigned i = 0; i < BI_RESULT_COUNT; i++) {
        assert_int_equal(bi_result_code_parse(bi_result_code_name(i, BI_VERSION_1_1), &c), BI_OK);
        assert_int_equal(c, i);
        assert_non_null(bi_strerror((bi_status)(i % BI_STATUS_COUNT)));
    }
    assert_int_equal(bi_result_code_parse("MalformedRequest", &c), BI_OK);
    assert_int_equal(c, BI_RESULT_MALFORMED);
    assert_int_equal(bi_result_code_parse("UnknownReceiver", &c), BI_OK);
    assert_int_equal(c, BI_RESULT_UNKNOWN_RECEIVER);
    assert_int_equal(bi_result_code_parse("success", &c), BI_ERR_VALUE);
    for (unsigned i = 0; i <= BI_STATUS_COUNT; i++)
        assert_non_null(bi_strerror((bi_status)i));
    /* message type names round-trip, and answers pair with requests */
    for (unsigned i = 0; i < BI_MSG_COUNT; i++) {
        bi_message_type t, a;
        const char *name = bi_message_type_name(i);
        assert_int_equal(bi_message_type_parse(name, strlen(name), &t), BI_OK);
        assert_int_equal(t, i);
        if (bi_message_type_is_request(t)) {
            assert_int_equal(bi_message_type_answer(t, &a), BI_OK);
            assert_non_null(strstr(bi_message_type_name(a), "Ans"));
        } else {
            assert_int_equal(bi_message_type_answer(t, &a), BI_ERR_ARGUMENT);
        }
    }
}

/* ---- KeyEnvelope ------------------------------------------------------ */

static void test_key_envelope(void **state)
{
    (void)state;
    bi_key_envelope env;
    bi_error e;
    /* ChirpStack's vector: wrapped under test-kek */
    const char *cs = "{\"KEKLabel\":\"test-kek\",\"AESKey\":\"e3d5a47ba25cbe6e5da820846e0cb6a82b750c59d848ec7a\"}";
    assert_int_equal(bi_key_envelope_parse(cs, strlen(cs), &env, &e), BI_OK);
    assert_true(env.present);
    assert_false(env.clear);
    assert_string_equal(env.kek_label, "test-kek");
    assert_hex_equal(env.aes_key, env.aes_key_len, "e3d5a47ba25cbe6e5da820846e0cb6a82b750c59d848ec7a");

    /* clear: no label, or an empty one */
    const char *clear[] = {
        "{\"AESKey\":\"0x01020304050607080102030405060708\"}",
        "{\"KEKLabel\":\"\",\"AESKey\":\"01020304050607080102030405060708\"}",
        "{\"KEKLabel\":null,\"AESKey\":\"01020304050607080102030405060708\"}",
    };
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(bi_key_envelope_parse(clear[i], strlen(clear[i]), &env, &e), BI_OK);
        assert_true(env.clear);
        assert_hex_equal(env.aes_key, env.aes_key_len, "01020304050607080102030405060708");
        bi_key_envelope_wipe(&env);
        assert_true(tu_all_zero(&env, sizeof(env)));
    }

    const struct {
        const char *json;
        bi_status st;
        const char *field;
    } bad[] = {
        {"{\"KEKLabel\":\"k\"}", BI_ERR_MISSING, "AESKey"},
        {"{\"KEKLabel\":\"k\",\"AESKey\":\"01020304050607080102030405060708\"}", BI_ERR_HEX, "AESKey"},
        {"{\"AESKey\":\"e3d5a47ba25cbe6e5da820846e0cb6a82b750c59d848ec7a\"}", BI_ERR_HEX, "AESKey"},
        {"{\"AESKey\":\"0102030405060708010203040506070g\"}", BI_ERR_HEX, "AESKey"},
        {"{\"AESKey\":\"010203040506070801020304050607080\"}", BI_ERR_HEX, "AESKey"},
        {"{\"AESKey\":16}", BI_ERR_TYPE, "AESKey"},
        {"{\"KEKLabel\":7,\"AESKey\":\"01020304050607080102030405060708\"}", BI_ERR_TYPE, "KEKLabel"},
        {"{\"KEKLabel\":\"a\\nb\",\"AESKey\":\"01020304050607080102030405060708\"}", BI_ERR_VALUE, "KEKLabel"},
        {"[]", BI_ERR_NOT_OBJECT, ""},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        bi_status st = bi_key_envelope_parse(bad[i].json, strlen(bad[i].json), &env, &e);
        if (st != bad[i].st || strcmp(e.field, bad[i].field) != 0)
            fail_msg("bad envelope %zu: %d %s", i, st, e.description);
        assert_true(tu_all_zero(&env, sizeof(env)));
        /* a Description never carries key digits */
        assert_null(strstr(e.description, "0102030405"));
    }
    uint8_t w[BI_WRAPPED_KEY_LEN] = {0};
    assert_int_equal(bi_key_envelope_set_wrapped(&env, "", w), BI_ERR_ARGUMENT);
}

/* ---- device import lines ---------------------------------------------- */

static const char DEV_10[] =
    "{\"DevEUI\":\"70b3d57ed0000001\",\"JoinEUI\":\"0x70B3D57ED0000000\",\"MACVersion\":\"1.0.2\","
    "\"HomeNetID\":\"000013\",\"AllowedNetIDs\":[\"000014\",\"0xC00053\"],"
    "\"NwkKey\":{\"KEKLabel\":\"import\",\"AESKey\":\"e3d5a47ba25cbe6e5da820846e0cb6a82b750c59d848ec7a\"},"
    "\"NSKEKLabel\":\"ns:000013\",\"ASKEKLabel\":\"as:app1\",\"ASID\":\"app1.example.com\"}\n";

static const char DEV_11_CLEAR[] =
    "{\"DevEUI\":\"70B3D57ED0000002\",\"JoinEUI\":\"70B3D57ED0000000\",\"MACVersion\":\"1.1\","
    "\"HomeNetID\":\"000013\",\"NwkKey\":{\"AESKey\":\"01020304050607080102030405060708\"},"
    "\"AppKey\":{\"KEKLabel\":\"import\",\"AESKey\":\"e3d5a47ba25cbe6e5da820846e0cb6a82b750c59d848ec7a\"}}";

static void test_device_lines(void **state)
{
    (void)state;
    bi_device d;
    bi_error e;
    assert_int_equal(bi_device_parse(DEV_10, strlen(DEV_10), &d, &e), BI_OK);
    assert_true(d.dev_eui == 0x70B3D57ED0000001ull);
    assert_true(d.join_eui == 0x70B3D57ED0000000ull);
    assert_int_equal(d.mac_version, BI_MAC_1_0_2);
    assert_int_equal(d.home_net_id, 0x13);
    assert_int_equal(d.allowed_net_ids_len, 2);
    assert_int_equal(d.allowed_net_ids[0], 0x14);
    assert_int_equal(d.allowed_net_ids[1], 0xC00053);
    assert_false(d.nwk_key.clear);
    assert_false(d.app_key.present);
    assert_false(bi_device_has_clear_key(&d));
    assert_string_equal(d.ns_kek_label, "ns:000013");
    assert_string_equal(d.as_kek_label, "as:app1");
    assert_string_equal(d.as_id, "app1.example.com");
    assert_int_equal(d.next_join_nonce, 0); /* no floor given */
    bi_device_wipe(&d);
    assert_true(tu_all_zero(&d, sizeof(d)));

    /* NextJoinNonce: the JoinNonce floor of a device that moves here. */
    char *floored = mutate(DEV_10, "NextJoinNonce", "16777215");
    assert_int_equal(bi_device_parse(floored, strlen(floored), &d, &e), BI_OK);
    assert_int_equal(d.next_join_nonce, 0xFFFFFF);
    bi_device_wipe(&d);
    free(floored);

    assert_int_equal(bi_device_parse(DEV_11_CLEAR, strlen(DEV_11_CLEAR), &d, &e), BI_OK);
    assert_int_equal(d.mac_version, BI_MAC_1_1);
    assert_true(d.nwk_key.clear);
    assert_true(d.app_key.present);
    assert_true(bi_device_has_clear_key(&d));
    assert_string_equal(d.ns_kek_label, "");
    bi_device_wipe(&d);

    const struct {
        const char *base, *key, *value;
        bi_status st;
        const char *field;
    } bad[] = {
        {DEV_10, "DevEUI", NULL, BI_ERR_MISSING, "DevEUI"},
        {DEV_10, "JoinEUI", "\"70B3D57ED000000\"", BI_ERR_HEX, "JoinEUI"},
        {DEV_10, "MACVersion", "\"1.0.5\"", BI_ERR_VALUE, "MACVersion"},
        {DEV_10, "MACVersion", "1.1", BI_ERR_TYPE, "MACVersion"},
        {DEV_10, "HomeNetID", "\"13\"", BI_ERR_HEX, "HomeNetID"},
        {DEV_10, "AllowedNetIDs", "\"000014\"", BI_ERR_TYPE, "AllowedNetIDs"},
        {DEV_10, "AllowedNetIDs", "[\"000014\",20]", BI_ERR_TYPE, "AllowedNetIDs[1]"},
        {DEV_10, "AllowedNetIDs", "[\"000014\",\"0000140\"]", BI_ERR_HEX, "AllowedNetIDs[1]"},
        {DEV_10, "NwkKey", NULL, BI_ERR_MISSING, "NwkKey"},
        {DEV_10, "NwkKey", "\"e3d5\"", BI_ERR_TYPE, "NwkKey"},
        {DEV_10, "NwkKey", "{\"KEKLabel\":\"x\",\"AESKey\":\"0102\"}", BI_ERR_HEX, "NwkKey.AESKey"},
        {DEV_10, "AppKey", "{\"AESKey\":\"01020304050607080102030405060708\"}", BI_ERR_VALUE, "AppKey"},
        {DEV_11_CLEAR, "AppKey", NULL, BI_ERR_MISSING, "AppKey"},
        {DEV_11_CLEAR, "AppKey", "{\"KEKLabel\":\"\",\"AESKey\":\"01\"}", BI_ERR_HEX, "AppKey.AESKey"},
        {DEV_10, "NSKEKLabel", "5", BI_ERR_TYPE, "NSKEKLabel"},
        {DEV_10, "ASID", "\"a\\u0001\"", BI_ERR_VALUE, "ASID"},
        {DEV_10, "NextJoinNonce", "16777216", BI_ERR_RANGE, "NextJoinNonce"},
        {DEV_10, "NextJoinNonce", "-1", BI_ERR_RANGE, "NextJoinNonce"},
        {DEV_10, "NextJoinNonce", "\"1\"", BI_ERR_TYPE, "NextJoinNonce"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *line = mutate(bad[i].base, bad[i].key, bad[i].value);
        bi_status st = bi_device_parse(line, strlen(line), &d, &e);
        if (st != bad[i].st || strcmp(e.field, bad[i].field) != 0)
            fail_msg("bad device line %zu: %d %s", i, st, e.description);
        assert_true(tu_all_zero(&d, sizeof(d)));
        free(line);
    }
    assert_int_equal(bi_device_parse("not json", 8, &d, &e), BI_ERR_NOT_JSON);
    assert_int_equal(bi_device_parse("[]", 2, &d, &e), BI_ERR_NOT_OBJECT);
    /* too many allowed NetIDs */
    char many[2000] = "[";
    for (int i = 0; i < BI_ALLOWED_NET_IDS_MAX + 1; i++)
        strcat(many, i ? ",\"000001\"" : "\"000001\"");
    strcat(many, "]");
    char *line = mutate(DEV_10, "AllowedNetIDs", many);
    assert_int_equal(bi_device_parse(line, strlen(line), &d, &e), BI_ERR_VALUE);
    free(line);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tts_join_req_10),
        cmocka_unit_test(test_cs_join_req_11),
        cmocka_unit_test(test_lorawan_js_join_req),
        cmocka_unit_test(test_other_requests),
        cmocka_unit_test(test_request_round_trips),
        cmocka_unit_test(test_request_errors),
        cmocka_unit_test(test_body_errors),
        cmocka_unit_test(test_huge_numbers),
        cmocka_unit_test(test_join_ans_10_exact),
        cmocka_unit_test(test_join_ans_11_fields),
        cmocka_unit_test(test_failure_answers),
        cmocka_unit_test(test_app_s_key_and_home_ns_ans),
        cmocka_unit_test(test_result_codes),
        cmocka_unit_test(test_key_envelope),
        cmocka_unit_test(test_device_lines),
    };
    return cmocka_run_group_tests_name("bi", tests, NULL, NULL);
}

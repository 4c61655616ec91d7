/*
 * test_mls_cmd.c - MLS command, response and event bodies.
 *
 * Each command type is encoded, compared with its byte table in
 * docs/mls.md, decoded back and compared field by field. The decoders then
 * meet every wrong length (each one shorter and longer than the fixed size),
 * forbidden values and unknown types; a refused decode must leave its output
 * zeroed, and an encoder must refuse what the decoder would refuse.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "mls/mls_cmd.h"
#include "test_util.h"

static void encode_decode(const mls_cmd *in, const char *hex)
{
    uint8_t body[MLS_BODY_MAX];
    size_t len;
    assert_int_equal(mls_cmd_encode(in, body, sizeof(body), &len), MLS_OK);
    if (hex != NULL)
        assert_hex_equal(body, len, hex);
    mls_cmd out;
    assert_int_equal(mls_cmd_decode(in->type, body, len, &out), MLS_OK);
    assert_int_equal(out.type, in->type);
    if (in->type == MLS_T_SECURE) {
        /* Opaque bytes are not copied: the decoder points into the body. */
        assert_int_equal(out.u.secure.len, in->u.secure.len);
        assert_ptr_equal(out.u.secure.data, body);
        assert_memory_equal(out.u.secure.data, in->u.secure.data, in->u.secure.len);
    } else {
        assert_memory_equal(&out.u, &in->u, sizeof(in->u));
    }
    /* Every other length of the same body is refused. */
    for (size_t n = 0; n < len + 2 && n <= MLS_SECURE_MAX + 1; n++) {
        if (n == len || (in->type == MLS_T_SECURE && n >= 1 && n <= MLS_SECURE_MAX))
            continue;
        mls_status st = mls_cmd_decode(in->type, body, n, &out);
        assert_int_equal(st, n < len ? MLS_ERR_TRUNCATED : MLS_ERR_TOO_LONG);
        assert_true(tu_all_zero(&out, sizeof(out)));
    }
    /* A buffer one byte short is an error. */
    assert_int_equal(mls_cmd_encode(in, body, len - 1, &len), MLS_ERR_BUFFER);
    assert_int_equal(len, 0);
}

static void install_round_trip(void **state)
{
    (void)state;
    mls_cmd c;
    memset(&c, 0, sizeof(c));
    c.type = MLS_T_INSTALL;
    mls_profile_install *p = &c.u.install;
    p->profile_id = 0x1234;
    p->join_eui = 0x0102030405060708ull;
    p->dev_eui = 0x1112131415161718ull;
    p->mac_version = MLS_MAC_1_1;
    p->flags = MLS_INSTALL_ACTIVATE_NOW;
    p->max_join_attempts = 0x0203;
    p->max_silence_hours = 0x0405;
    memset(p->nwk_key_wrapped, 0xAA, MLS_WRAPPED_LEN);
    memset(p->app_key_wrapped, 0xBB, MLS_WRAPPED_LEN);
    encode_decode(&c, "1234 0102030405060708 1112131415161718 01 01 0203 0405"
                      "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
                      "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB");
    /* 1.0.x carries one key: AppKey must be zero. */
    p->mac_version = MLS_MAC_1_0;
    uint8_t body[128];
    size_t len;
    assert_int_equal(mls_cmd_encode(&c, body, sizeof(body), &len), MLS_ERR_FORMAT);
    memset(p->app_key_wrapped, 0, MLS_WRAPPED_LEN);
    encode_decode(&c, NULL);
}

static void install_forbidden_values(void **state)
{
    (void)state;
    uint8_t body[72];
    mls_cmd out;
    memset(body, 0, sizeof(body));
    body[1] = 1;      /* profile 1 */
    body[18] = 0x00;  /* 1.0.x, AppKey zero */
    assert_int_equal(mls_cmd_decode(MLS_T_INSTALL, body, sizeof(body), &out), MLS_OK);
    body[18] = 0x03;  /* no such MAC version */
    assert_int_equal(mls_cmd_decode(MLS_T_INSTALL, body, sizeof(body), &out), MLS_ERR_FORMAT);
    assert_true(tu_all_zero(&out, sizeof(out)));
    body[18] = 0x00;
    body[19] = 0x02;  /* reserved flag */
    assert_int_equal(mls_cmd_decode(MLS_T_INSTALL, body, sizeof(body), &out), MLS_ERR_FORMAT);
    body[19] = 0;
    body[60] = 1;     /* 1.0.x with a non-zero AppKey */
    assert_int_equal(mls_cmd_decode(MLS_T_INSTALL, body, sizeof(body), &out), MLS_ERR_FORMAT);
    body[60] = 0;
    body[1] = 0;      /* profile 0 */
    assert_int_equal(mls_cmd_decode(MLS_T_INSTALL, body, sizeof(body), &out), MLS_ERR_FORMAT);
}

static void small_commands_round_trip(void **state)
{
    (void)state;
    mls_cmd c;
    memset(&c, 0, sizeof(c));
    c.type = MLS_T_STATUS;
    c.u.status.ack_event = 9;
    encode_decode(&c, "09");

    memset(&c, 0, sizeof(c));
    c.type = MLS_T_ACTIVATE;
    c.u.activate.profile_id = 0xBEEF;
    encode_decode(&c, "BEEF");

    memset(&c, 0, sizeof(c));
    c.type = MLS_T_DELETE;
    c.u.remove.profile_id = 2;
    encode_decode(&c, "0002");

    memset(&c, 0, sizeof(c));
    c.type = MLS_T_RENEW;
    c.u.renew.profile_id = 3;
    memset(c.u.renew.nwk_key_wrapped, 0x11, MLS_WRAPPED_LEN);
    memset(c.u.renew.app_key_wrapped, 0x22, MLS_WRAPPED_LEN);
    encode_decode(&c, "0003 111111111111111111111111111111111111111111111111"
                      "222222222222222222222222222222222222222222222222");

    memset(&c, 0, sizeof(c));
    c.type = MLS_T_ROTATE;
    c.u.rotate.new_epoch = 4;
    memset(c.u.rotate.root_wrapped, 0x33, MLS_WRAPPED_LEN);
    encode_decode(&c, "04 333333333333333333333333333333333333333333333333");

    memset(&c, 0, sizeof(c));
    c.type = MLS_T_BOOTSTRAP;
    c.u.bootstrap.flags = MLS_BOOTSTRAP_ERASE;
    encode_decode(&c, "01");

    memset(&c, 0, sizeof(c));
    c.type = MLS_T_SECURE;
    c.u.secure.len = 3;
    c.u.secure.data = (const uint8_t *)"\x01\x02\x03";
    encode_decode(&c, "010203");
    static uint8_t big[MLS_SECURE_MAX];
    memset(big, 0x44, sizeof(big));
    c.u.secure.len = MLS_SECURE_MAX;
    c.u.secure.data = big;
    encode_decode(&c, NULL);
    c.u.secure.data = NULL;   /* bytes promised but missing */
    uint8_t body[8];
    size_t len = 99;
    c.u.secure.len = 3;
    assert_int_equal(mls_cmd_encode(&c, body, sizeof(body), &len), MLS_ERR_ARGUMENT);
}

static void small_commands_forbidden_values(void **state)
{
    (void)state;
    mls_cmd out;
    const uint8_t zero2[2] = {0, 0}, flag2[1] = {0x02};
    assert_int_equal(mls_cmd_decode(MLS_T_ACTIVATE, zero2, 2, &out), MLS_ERR_FORMAT);
    assert_int_equal(mls_cmd_decode(MLS_T_DELETE, zero2, 2, &out), MLS_ERR_FORMAT);
    assert_int_equal(mls_cmd_decode(MLS_T_BOOTSTRAP, flag2, 1, &out), MLS_ERR_FORMAT);
    static uint8_t big[MLS_SECURE_MAX + 1];
    assert_int_equal(mls_cmd_decode(MLS_T_SECURE, big, 0, &out), MLS_ERR_TRUNCATED);
    assert_int_equal(mls_cmd_decode(MLS_T_SECURE, big, sizeof(big), &out), MLS_ERR_TOO_LONG);
    assert_int_equal(mls_cmd_decode(MLS_T_SECURE, NULL, 5, &out), MLS_ERR_ARGUMENT);
    mls_cmd c;
    memset(&c, 0, sizeof(c));
    c.type = MLS_T_SECURE;
    uint8_t body[8];
    size_t len;
    assert_int_equal(mls_cmd_encode(&c, body, sizeof(body), &len), MLS_ERR_FORMAT);
}

static void unknown_types_are_refused(void **state)
{
    (void)state;
    mls_cmd out;
    const uint8_t b[2] = {0, 1};
    for (int t = 0; t < 256; t++) {
        mls_status st = mls_cmd_decode((uint8_t)t, b, 2, &out);
        if (t == MLS_T_ACTIVATE || t == MLS_T_DELETE || t == MLS_T_SECURE)
            assert_int_equal(st, MLS_OK);
        else if (t >= MLS_T_STATUS && t <= MLS_T_BOOTSTRAP)
            assert_int_not_equal(st, MLS_OK);
        else
            assert_int_equal(st, MLS_ERR_TYPE);
        assert_non_null(mls_type_name((uint8_t)t));
    }
    mls_cmd c;
    memset(&c, 0, sizeof(c));
    c.type = 0x09;
    uint8_t body[8];
    size_t len;
    assert_int_equal(mls_cmd_encode(&c, body, sizeof(body), &len), MLS_ERR_TYPE);
    assert_string_equal(mls_type_name(0x82), "response:install");
    assert_string_equal(mls_type_name(0xC0), "event");
}

static void responses_round_trip(void **state)
{
    (void)state;
    uint8_t body[MLS_BODY_MAX];
    size_t len;
    mls_rsp r, out;

    memset(&r, 0, sizeof(r));
    r.type = MLS_T_STATUS;
    r.req_counter = 0x01020304;
    r.u.status = (mls_se_status){.state = 1, .active_profile = 7, .staged_profile = 8, .pending_event = 2};
    assert_int_equal(mls_rsp_encode(&r, body, sizeof(body), &len), MLS_OK);
    assert_hex_equal(body, len, "01020304 00 01 0007 0008 02");
    assert_int_equal(mls_rsp_decode(MLS_T_RESPONSE | MLS_T_STATUS, body, len, &out), MLS_OK);
    assert_memory_equal(&out, &r, sizeof(r));
    assert_int_equal(mls_rsp_decode(MLS_T_RESPONSE | MLS_T_STATUS, body, len - 1, &out), MLS_ERR_TRUNCATED);
    assert_int_equal(mls_rsp_decode(MLS_T_RESPONSE | MLS_T_STATUS, body, len + 1, &out), MLS_ERR_TOO_LONG);
    body[5] = 2;
    assert_int_equal(mls_rsp_decode(MLS_T_RESPONSE | MLS_T_STATUS, body, len, &out), MLS_ERR_FORMAT);
    assert_true(tu_all_zero(&out, sizeof(out)));

    /* An error result carries no data. */
    memset(&r, 0, sizeof(r));
    r.type = MLS_T_ACTIVATE;
    r.req_counter = 77;
    r.result = MLS_R_NO_PROFILE;
    assert_int_equal(mls_rsp_encode(&r, body, sizeof(body), &len), MLS_OK);
    assert_hex_equal(body, len, "0000004D 03");
    assert_int_equal(mls_rsp_decode(MLS_T_RESPONSE | MLS_T_ACTIVATE, body, len, &out), MLS_OK);
    assert_memory_equal(&out, &r, sizeof(r));
    assert_int_equal(mls_rsp_decode(MLS_T_RESPONSE | MLS_T_ACTIVATE, body, len + 1, &out), MLS_ERR_TOO_LONG);
    assert_int_equal(mls_rsp_decode(MLS_T_RESPONSE | MLS_T_ACTIVATE, body, 4, &out), MLS_ERR_TRUNCATED);
    body[4] = 10;
    assert_int_equal(mls_rsp_decode(MLS_T_RESPONSE | MLS_T_ACTIVATE, body, len, &out), MLS_ERR_FORMAT);

    /* A secure reply, empty and full. */
    memset(&r, 0, sizeof(r));
    r.type = MLS_T_SECURE;
    r.req_counter = 5;
    assert_int_equal(mls_rsp_encode(&r, body, sizeof(body), &len), MLS_OK);
    assert_int_equal(len, 5);
    static uint8_t reply[MLS_SECURE_MAX];
    memset(reply, 0x5E, sizeof(reply));
    r.u.secure.len = MLS_SECURE_MAX;
    r.u.secure.data = NULL;
    assert_int_equal(mls_rsp_encode(&r, body, sizeof(body), &len), MLS_ERR_ARGUMENT);
    r.u.secure.data = reply;
    assert_int_equal(mls_rsp_encode(&r, body, sizeof(body), &len), MLS_OK);
    assert_int_equal(len, MLS_BODY_MAX);
    assert_int_equal(mls_rsp_decode(MLS_T_RESPONSE | MLS_T_SECURE, body, len, &out), MLS_OK);
    assert_int_equal(out.req_counter, r.req_counter);
    assert_int_equal(out.result, r.result);
    assert_int_equal(out.u.secure.len, MLS_SECURE_MAX);
    assert_ptr_equal(out.u.secure.data, body + 5);
    assert_memory_equal(out.u.secure.data, reply, MLS_SECURE_MAX);
    assert_int_equal(mls_rsp_encode(&r, body, len - 1, &len), MLS_ERR_BUFFER);

    /* Wrong message types. */
    assert_int_equal(mls_rsp_decode(MLS_T_INSTALL, body, 5, &out), MLS_ERR_TYPE);
    assert_int_equal(mls_rsp_decode(MLS_T_EVENT, body, 5, &out), MLS_ERR_TYPE);
    assert_int_equal(mls_rsp_decode(0x89, body, 5, &out), MLS_ERR_TYPE);
    assert_int_equal(mls_rsp_decode(0x80, body, 5, &out), MLS_ERR_TYPE);
    r.type = 0;
    assert_int_equal(mls_rsp_encode(&r, body, sizeof(body), &len), MLS_ERR_TYPE);
}

static void events_round_trip(void **state)
{
    (void)state;
    mls_event ev, out;
    /* Field by field over zeroes: the struct is compared whole, padding too. */
    memset(&ev, 0, sizeof(ev));
    ev.event_id = 3;
    ev.code = MLS_EVENT_FALLBACK;
    ev.profile_id = 0x0102;
    ev.reason = MLS_FALLBACK_JOINS;
    ev.join_attempts = 16;
    uint8_t body[16];
    size_t len;
    assert_int_equal(mls_event_encode(&ev, body, sizeof(body), &len), MLS_OK);
    assert_hex_equal(body, len, "03 01 0102 01 0010");
    assert_int_equal(mls_event_decode(body, len, &out), MLS_OK);
    assert_memory_equal(&out, &ev, sizeof(ev));
    assert_int_equal(mls_event_decode(body, len - 1, &out), MLS_ERR_TRUNCATED);
    assert_int_equal(mls_event_decode(body, len + 1, &out), MLS_ERR_TOO_LONG);
    body[0] = 0;
    assert_int_equal(mls_event_decode(body, len, &out), MLS_ERR_FORMAT);
    body[0] = 3;
    body[1] = 2;
    assert_int_equal(mls_event_decode(body, len, &out), MLS_ERR_FORMAT);
    body[1] = 1;
    body[4] = 4;
    assert_int_equal(mls_event_decode(body, len, &out), MLS_ERR_FORMAT);
    assert_true(tu_all_zero(&out, sizeof(out)));
    assert_int_equal(mls_event_encode(&ev, body, len - 1, &len), MLS_ERR_BUFFER);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(install_round_trip),
        cmocka_unit_test(install_forbidden_values),
        cmocka_unit_test(small_commands_round_trip),
        cmocka_unit_test(small_commands_forbidden_values),
        cmocka_unit_test(unknown_types_are_refused),
        cmocka_unit_test(responses_round_trip),
        cmocka_unit_test(events_round_trip),
    };
    return cmocka_run_group_tests_name("mls_cmd", tests, NULL, NULL);
}

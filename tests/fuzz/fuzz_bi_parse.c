/*
 * fuzz_bi_parse.c - libFuzzer target for the Backend Interfaces parsers.
 *
 * For every input:
 *   1. bi_request_parse(); when it accepts the body, bi_request_build() must
 *      write it back and the rebuilt text must parse to the same struct
 *      (IDs compared by kind and value: the builder writes them canonical);
 *      the answer header must build, and so must an error answer;
 *   2. when it refuses the body, the status is a real one, the description
 *      is a terminated string that starts with the field name, and an
 *      answerable failure must yield an error answer (FrameSizeError,
 *      InvalidProtocolVersion or Malformed) that is itself valid JSON;
 *   3. the same bytes as a device import line and as a KeyEnvelope: on
 *      failure the output record must be all zeros (wiped).
 * Sanitizers catch reads past `size`; the checks above catch logic errors.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "bi/bi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                \
    do {                           \
        if (!(cond))               \
            __builtin_trap();      \
    } while (0)

static int all_zero(const void *p, size_t len)
{
    const uint8_t *b = p;
    uint8_t acc = 0;
    for (size_t i = 0; i < len; i++)
        acc |= b[i];
    return acc == 0;
}

static void check_error(const bi_error *e, bi_status st)
{
    CHECK(st > BI_OK && st < BI_STATUS_COUNT);
    CHECK(e->status == st);
    CHECK(memchr(e->description, '\0', sizeof(e->description)) != NULL);
    CHECK(memchr(e->field, '\0', sizeof(e->field)) != NULL);
    CHECK(strncmp(e->description, e->field, strlen(e->field)) == 0);
}

static void check_valid_json(const char *s, size_t n)
{
    json_error_t je;
    json_t *o = json_loadb(s, n, 0, &je);
    CHECK(json_is_object(o));
    json_decref(o);
}

static void check_request(const uint8_t *data, size_t size)
{
    bi_request a, b;
    bi_error e;
    static char out[BI_BODY_MAX];
    size_t n = 0;
    bi_status st = bi_request_parse(data, size, &a, &e);
    if (st != BI_OK) {
        check_error(&e, st);
        if (e.answerable) {
            bi_result_code code = bi_error_result_code(&e);
            CHECK(bi_error_answer_build(&a.hdr, code, e.description, out, sizeof(out), &n) == BI_OK);
            check_valid_json(out, n);
        }
        return;
    }
    CHECK(bi_message_type_is_request(a.hdr.message_type));
    CHECK(bi_request_build(&a, out, sizeof(out), &n) == BI_OK);
    CHECK(strlen(out) == n);
    CHECK(bi_request_parse(out, n, &b, &e) == BI_OK);
    CHECK(a.hdr.sender_id.kind == b.hdr.sender_id.kind && a.hdr.sender_id.value == b.hdr.sender_id.value);
    CHECK(a.hdr.receiver_id.kind == b.hdr.receiver_id.kind && a.hdr.receiver_id.value == b.hdr.receiver_id.value);
    if (a.hdr.sender_id.kind == BI_ID_NAME)
        CHECK(strcmp(a.hdr.sender_id.raw, b.hdr.sender_id.raw) == 0);
    memcpy(b.hdr.sender_id.raw, a.hdr.sender_id.raw, sizeof(a.hdr.sender_id.raw));
    memcpy(b.hdr.receiver_id.raw, a.hdr.receiver_id.raw, sizeof(a.hdr.receiver_id.raw));
    CHECK(memcmp(&a, &b, sizeof(a)) == 0);

    bi_header h;
    CHECK(bi_answer_header(&a.hdr, &h) == BI_OK);
    CHECK(h.transaction_id == a.hdr.transaction_id);
    CHECK(bi_error_answer_build(&a.hdr, BI_RESULT_JOIN_REQ_FAILED, "fuzz", out, sizeof(out), &n) == BI_OK);
    check_valid_json(out, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_request(data, size);

    bi_device d;
    bi_error e;
    bi_status st = bi_device_parse((const char *)data, size, &d, &e);
    if (st != BI_OK) {
        check_error(&e, st);
        CHECK(all_zero(&d, sizeof(d)));
    } else {
        CHECK(d.nwk_key.present);
        CHECK(d.app_key.present == (d.mac_version == BI_MAC_1_1));
        bi_device_wipe(&d);
    }

    bi_key_envelope env;
    st = bi_key_envelope_parse((const char *)data, size, &env, &e);
    if (st != BI_OK) {
        check_error(&e, st);
        CHECK(all_zero(&env, sizeof(env)));
    } else {
        CHECK(env.aes_key_len == (env.clear ? BI_AES_KEY_LEN : BI_WRAPPED_KEY_LEN));
        bi_key_envelope_wipe(&env);
    }
    return 0;
}

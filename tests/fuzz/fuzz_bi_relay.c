/*
 * fuzz_bi_relay.c - libFuzzer target for the parsers the hub and passive
 * roaming added to the Backend Interfaces layer.
 *
 * For every input:
 *   1. bi_relay_parse() (the hub's header reader): on success the IDs are
 *      of the kind the type is addressed to and the raw texts are
 *      terminated; a failure has a real status, a terminated description
 *      that starts with the field, and a request that failed answerably
 *      yields an error answer that is valid JSON (what the hub sends back);
 *   2. bi_roam_parse(): on success bi_roam_build() must write the message
 *      back and the text must parse to the same struct (IDs compared by
 *      kind and value: the builder writes them canonical); on failure the
 *      body part of the record is all zeros (nothing half-filled is left).
 * Sanitizers catch reads past `size`; the checks catch logic errors.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "bi/bi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)           \
    do {                      \
        if (!(cond))          \
            __builtin_trap(); \
    } while (0)

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

static int all_zero(const void *p, size_t len)
{
    const uint8_t *b = p;
    uint8_t acc = 0;
    for (size_t i = 0; i < len; i++)
        acc |= b[i];
    return acc == 0;
}

static char out[BI_BODY_MAX];

static void check_relay(const uint8_t *data, size_t size)
{
    bi_relay_msg m;
    bi_error e;
    size_t n = 0;
    bi_status st = bi_relay_parse(data, size, &m, &e);
    if (st != BI_OK) {
        check_error(&e, st);
        if (e.answerable) {
            CHECK(bi_message_type_is_request(m.hdr.message_type));
            CHECK(bi_error_answer_build(&m.hdr, bi_error_result_code(&e), e.description, out, sizeof(out), &n) ==
                  BI_OK);
            check_valid_json(out, n);
        }
        return;
    }
    CHECK(m.hdr.receiver_id.kind == bi_relay_receiver_kind(m.hdr.message_type));
    CHECK(memchr(m.hdr.sender_id.raw, '\0', sizeof(m.hdr.sender_id.raw)) != NULL);
    CHECK(m.hdr.version == BI_VERSION_1_1 || (!m.hdr.has_sender_nsid && !m.hdr.has_receiver_nsid));
    if (bi_message_type_is_request(m.hdr.message_type)) {
        /* what the hub answers with when it refuses the request */
        CHECK(bi_error_answer_build(&m.hdr, BI_RESULT_UNKNOWN_RECEIVER, "fuzz", out, sizeof(out), &n) == BI_OK);
        check_valid_json(out, n);
    }
}

static void check_roam(const uint8_t *data, size_t size)
{
    static bi_roam_msg a, b;
    bi_error e;
    size_t n = 0;
    bi_status st = bi_roam_parse(data, size, &a, &e);
    if (st != BI_OK) {
        check_error(&e, st);
        CHECK(all_zero(&a.u, sizeof(a.u)));
        return;
    }
    CHECK(bi_roam_type(a.hdr.message_type));
    CHECK(bi_roam_build(&a, out, sizeof(out), &n) == BI_OK);
    CHECK(strlen(out) == n);
    CHECK(bi_roam_parse(out, n, &b, &e) == BI_OK);
    CHECK(bi_id_equal(&a.hdr.sender_id, &b.hdr.sender_id));
    CHECK(bi_id_equal(&a.hdr.receiver_id, &b.hdr.receiver_id));
    memcpy(b.hdr.sender_id.raw, a.hdr.sender_id.raw, sizeof(a.hdr.sender_id.raw));
    memcpy(b.hdr.receiver_id.raw, a.hdr.receiver_id.raw, sizeof(a.hdr.receiver_id.raw));
    CHECK(memcmp(&a, &b, sizeof(a)) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_relay(data, size);
    check_roam(data, size);
    return 0;
}

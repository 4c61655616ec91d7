/*
 * fuzz_mls_cmd.c - libFuzzer target for the MLS body decoders.
 *
 * The first byte is a message type, the rest a body. Each decoder that
 * accepts it must produce a struct that encodes back to exactly the same
 * bytes: the formats have one encoding per value, so anything else means a
 * decoder accepted something its encoder would not write.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mls/mls_cmd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    if (alen != blen || (alen > 0 && memcmp(a, b, alen) != 0))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t type = data[0];
    const uint8_t *body = data + 1;
    size_t n = size - 1;
    static uint8_t out[MLS_BODY_MAX];
    static mls_cmd cmd;
    static mls_rsp rsp;
    mls_event ev;
    size_t len;

    if (mls_cmd_decode(type, body, n, &cmd) == MLS_OK) {
        if (cmd.type != type || mls_cmd_encode(&cmd, out, sizeof(out), &len) != MLS_OK)
            abort();
        same(out, len, body, n);
    }
    if (mls_rsp_decode(type, body, n, &rsp) == MLS_OK) {
        if ((MLS_T_RESPONSE | rsp.type) != type || mls_rsp_encode(&rsp, out, sizeof(out), &len) != MLS_OK)
            abort();
        same(out, len, body, n);
    }
    if (mls_event_decode(body, n, &ev) == MLS_OK) {
        if (mls_event_encode(&ev, out, sizeof(out), &len) != MLS_OK)
            abort();
        same(out, len, body, n);
    }
    (void)mls_type_name(type);
    return 0;
}

/*
 * fuzz_mls_open.c - libFuzzer target for the MLS receiver.
 *
 * First byte even: the rest is an untrusted message handed to
 * mls_header_parse() and mls_open() of an SE session. The fuzzer cannot
 * compute a tag, so only a genuine message (a seed vector) may open, and
 * re-sealing its body with its counter must give the input back exactly.
 * First byte odd: the rest is a body that the server seals and the SE opens;
 * it must come back identical, and the same message with one bit flipped
 * (chosen by the input) must be refused.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mls/mls.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t root_bytes[16] = {0x2B, 0x7E, 0x15, 0x16, 0x28, 0xAE, 0xD2, 0xA6,
                                       0xAB, 0xF7, 0x15, 0x88, 0x09, 0xCF, 0x4F, 0x3C};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    lw_key root;
    memset(&root, 0, sizeof(root));
    if (lw_key_from_bytes(&root, root_bytes, sizeof(root_bytes)) != LW_OK)
        abort();
    mls_session server, se;
    if (mls_session_init(&server, lw_crypto_software(), MLS_ROLE_SERVER, &root, 0x70B3D57ED0000001ull, 3, 1, 0) !=
            MLS_OK ||
        mls_session_init(&se, lw_crypto_software(), MLS_ROLE_SE, &root, 0x70B3D57ED0000001ull, 3, 1, 0) != MLS_OK)
        abort();
    lw_key_wipe(&root);

    static uint8_t msg[MLS_MSG_MAX], body[MLS_MSG_MAX];
    size_t mlen, blen;
    mls_header h;
    const uint8_t *in = data + 1;
    size_t n = size - 1;
    if ((data[0] & 1) == 0) {
        (void)mls_header_parse(in, n, &h);
        if (mls_open(&se, in, n, &h, body, sizeof(body), &blen) == MLS_OK) {
            /* Only a genuine message (a seed vector) opens: sealing its body
             * again with its counter must give back exactly the input. */
            server.tx_next = h.counter;
            if (mls_seal(&server, h.type, body, blen, msg, sizeof(msg), &mlen) != MLS_OK || mlen != n ||
                memcmp(msg, in, n) != 0)
                abort();
        } else if (blen != 0) {
            abort();
        }
    } else if (n <= MLS_BODY_MAX) {
        if (mls_seal(&server, data[0], in, n, msg, sizeof(msg), &mlen) != MLS_OK || mlen != n + MLS_OVERHEAD)
            abort();
        if (mls_open(&se, msg, mlen, &h, body, sizeof(body), &blen) != MLS_OK || blen != n ||
            (n > 0 && memcmp(body, in, n) != 0) || h.type != data[0] || h.counter != 1)
            abort();
        size_t bit = (size_t)(data[0] >> 1) * 8191u % (mlen * 8);
        msg[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        if (mls_open(&se, msg, mlen, &h, body, sizeof(body), &blen) == MLS_OK)
            abort();
        if (mls_accept_counter(&se, 1) != MLS_OK || mls_accept_counter(&se, 1) != MLS_ERR_REPLAY)
            abort();
    }
    mls_session_end(&server);
    mls_session_end(&se);
    return 0;
}

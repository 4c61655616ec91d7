/*
 * fuzz_mls_frag.c - libFuzzer target for MLS fragmentation.
 *
 * The input is a sequence of records: time step (1) | length (1) | frame.
 * Each frame goes to a receiver (as data) and to a sender that is sending a
 * fixed 300-byte message (as an ack); in between, the sender yields its next
 * fragment and the receiver builds an ack and, when complete, gives the
 * message up. Invariants: nothing reads or writes out of bounds, every frame
 * produced fits the frame size asked for, a reassembled message is at most
 * MLS_FRAG_MSG_MAX bytes, and a refused frame leaves the state unchanged.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mls/mls_frag.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static mls_frag_rx rx, rx_before;
    static mls_frag_tx tx, tx_before;
    static uint8_t msg[300], out[MLS_FRAG_MSG_MAX];
    for (size_t i = 0; i < sizeof(msg); i++)
        msg[i] = (uint8_t)i;
    uint32_t now = 0;
    mls_frag_rx_init(&rx, 50);
    size_t frame_max = size > 0 ? MLS_FRAG_FRAME_MIN + data[0] % (MLS_FRAG_FRAME_MAX - MLS_FRAG_FRAME_MIN + 1)
                                : MLS_FRAG_FRAME_MIN;
    if (mls_frag_tx_start(&tx, 1, msg, sizeof(msg), frame_max, now, 100) != MLS_OK)
        abort();

    size_t off = size > 0 ? 1 : 0;
    while (off + 2 <= size) {
        now += data[off];
        size_t len = data[off + 1];
        off += 2;
        if (len > size - off)
            len = size - off;
        const uint8_t *frame = data + off;
        off += len;

        int complete = 0;
        rx_before = rx;
        mls_status st = mls_frag_rx_push(&rx, frame, len, now, &complete);
        if (st != MLS_OK && st != MLS_ERR_ARGUMENT && memcmp(&rx, &rx_before, sizeof(rx)) != 0)
            abort();
        if (complete) {
            size_t got;
            if (mls_frag_rx_take(&rx, out, sizeof(out), &got) != MLS_OK || got == 0 || got > MLS_FRAG_MSG_MAX)
                abort();
        }
        uint8_t ack[MLS_FRAG_FRAME_MAX];
        size_t alen, cap = MLS_FRAG_FRAME_MIN + len % 232;
        if (mls_frag_rx_ack(&rx, cap, ack, &alen) == MLS_OK && alen > cap)
            abort();
        (void)mls_frag_rx_poll(&rx, now);

        tx_before = tx;
        if (mls_frag_tx_ack(&tx, frame, len, now) != MLS_OK && memcmp(&tx, &tx_before, sizeof(tx)) != 0)
            abort();
        uint8_t f[MLS_FRAG_FRAME_MAX];
        size_t flen;
        if (mls_frag_tx_next(&tx, frame_max, f, &flen) == MLS_OK && flen > frame_max)
            abort();
        if (mls_frag_tx_poll(&tx, now) != MLS_OK)
            (void)mls_frag_tx_start(&tx, 2, msg, sizeof(msg), frame_max, now, 100);
    }
    return 0;
}

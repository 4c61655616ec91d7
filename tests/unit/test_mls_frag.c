/*
 * test_mls_frag.c - fragmentation, selective acks, loss, reordering,
 * duplicates, inconsistent fragments and timeouts.
 *
 * The lossy-link test runs a whole transfer between a sender and a receiver
 * through a simulated link that drops 20% of the frames in each direction,
 * shuffles each round and duplicates some frames, with a fixed-seed PRNG so
 * a failure replays exactly. It checks that the message arrives intact and
 * that, after the first round, only fragments the receiver lacked are sent.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "mls/mls_frag.h"
#include "test_util.h"

static uint32_t rng_state;

static uint32_t rng(void)
{
    uint32_t x = rng_state;   /* xorshift32 */
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return rng_state = x;
}

static void fill(uint8_t *p, size_t n, uint8_t seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(seed + i * 31 + (i >> 8));
}

/* The two ends, static: each struct holds a 1 KiB buffer. */
static mls_frag_tx tx;
static mls_frag_rx rx;

typedef struct stats {
    unsigned frames_sent;
    unsigned rounds;
    unsigned needless;   /* fragments re-sent that the receiver already had */
} stats;

/* Transfers msg[len] over frames of `frame` bytes, dropping loss_pct % of
 * frames both ways, reordering and duplicating. */
static stats transfer(const uint8_t *msg, size_t len, size_t frame, unsigned loss_pct, uint32_t seed)
{
    stats s = {0, 0, 0};
    static uint8_t frames[MLS_FRAG_COUNT_MAX + 1][MLS_FRAG_FRAME_MAX];
    static size_t lens[MLS_FRAG_COUNT_MAX + 1];
    static uint8_t out[MLS_FRAG_MSG_MAX];
    rng_state = seed;
    uint32_t now = 1000;
    mls_frag_rx_init(&rx, 600);
    assert_int_equal(mls_frag_tx_start(&tx, 5, msg, len, frame, now, 600), MLS_OK);
    int complete_seen = 0, acked_last_round = 0;
    while (!mls_frag_tx_done(&tx)) {
        assert_true(++s.rounds < 200);
        now += 10;
        size_t n = 0, flen;
        for (;;) {
            assert_int_equal(mls_frag_tx_next(&tx, frame, frames[n], &flen), MLS_OK);
            if (flen == 0)
                break;
            assert_true(flen <= frame);
            lens[n++] = flen;
            s.frames_sent++;
            /* After an ack arrived, nothing the receiver has is resent. */
            if (acked_last_round && rx.msg_id == 5 && ((rx.have[frames[n - 1][1] / 8] >> (frames[n - 1][1] % 8)) & 1))
                s.needless++;
        }
        /* Duplicate one frame, then shuffle the round. */
        if (n > 0 && rng() % 2 == 0) {
            size_t j = rng() % n;
            memcpy(frames[n], frames[j], MLS_FRAG_FRAME_MAX);
            lens[n] = lens[j];
            n++;
        }
        for (size_t i = n; i > 1; i--) {
            size_t j = rng() % i;
            uint8_t tmp[MLS_FRAG_FRAME_MAX];
            size_t tl = lens[i - 1];
            memcpy(tmp, frames[i - 1], MLS_FRAG_FRAME_MAX);
            memcpy(frames[i - 1], frames[j], MLS_FRAG_FRAME_MAX);
            memcpy(frames[j], tmp, MLS_FRAG_FRAME_MAX);
            lens[i - 1] = lens[j];
            lens[j] = tl;
        }
        for (size_t i = 0; i < n; i++) {
            if (rng() % 100 < loss_pct)
                continue;
            int complete;
            assert_int_equal(mls_frag_rx_push(&rx, frames[i], lens[i], now, &complete), MLS_OK);
            if (complete) {
                assert_false(complete_seen);
                complete_seen = 1;
                size_t got;
                assert_int_equal(mls_frag_rx_take(&rx, out, sizeof(out), &got), MLS_OK);
                assert_int_equal(got, len);
                assert_memory_equal(out, msg, len);
            }
        }
        uint8_t ack[MLS_FRAG_FRAME_MAX];
        size_t alen;
        mls_status st = mls_frag_rx_ack(&rx, frame, ack, &alen);
        if (st == MLS_ERR_FRAG_STATE || rng() % 100 < loss_pct) {
            mls_frag_tx_rewind(&tx);   /* no ack came: the sender's wait expired */
            acked_last_round = 0;
            continue;
        }
        assert_int_equal(st, MLS_OK);
        assert_true(alen <= frame);
        assert_int_equal(mls_frag_tx_ack(&tx, ack, alen, now), MLS_OK);
        acked_last_round = 1;
    }
    assert_true(complete_seen);
    return s;
}

static void lossless_transfers_at_every_size(void **state)
{
    (void)state;
    static uint8_t msg[MLS_FRAG_MSG_MAX];
    static const size_t frames[] = {11, 12, 51, 115, 222, 242};
    static const size_t lens[] = {1, 6, 7, 8, 238, 239, 500, MLS_FRAG_MSG_MAX};
    for (size_t f = 0; f < sizeof(frames) / sizeof(frames[0]); f++) {
        for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
            fill(msg, lens[l], (uint8_t)(f * 16 + l));
            stats s = transfer(msg, lens[l], frames[f], 0, 1);
            size_t size = frames[f] - MLS_FRAG_HEADER_LEN;
            assert_int_equal(s.frames_sent, (lens[l] + size - 1) / size);
            assert_int_equal(s.rounds, 1);
        }
    }
}

static void one_kib_over_11_byte_frames_fits_the_header(void **state)
{
    (void)state;
    static uint8_t msg[MLS_FRAG_MSG_MAX];
    fill(msg, sizeof(msg), 9);
    assert_int_equal(mls_frag_tx_start(&tx, 1, msg, sizeof(msg), MLS_FRAG_FRAME_MIN, 0, 60), MLS_OK);
    assert_int_equal(tx.count, 147);   /* ceil(1024 / 7) <= 255 */
    uint8_t f[MLS_FRAG_FRAME_MIN];
    size_t n;
    assert_int_equal(mls_frag_tx_next(&tx, sizeof(f), f, &n), MLS_OK);
    assert_hex_equal(f, 4, "01 00 93 07");
    /* Over the maximum or under the minimum frame, or an empty message. */
    assert_int_equal(mls_frag_tx_start(&tx, 1, msg, sizeof(msg) + 1, 11, 0, 60), MLS_ERR_TOO_LONG);
    assert_int_equal(mls_frag_tx_start(&tx, 1, msg, 10, 10, 0, 60), MLS_ERR_ARGUMENT);
    assert_int_equal(mls_frag_tx_start(&tx, 1, msg, 10, 243, 0, 60), MLS_ERR_ARGUMENT);
    assert_int_equal(mls_frag_tx_start(&tx, 1, msg, 0, 50, 0, 60), MLS_ERR_ARGUMENT);
    assert_int_equal(mls_frag_tx_start(&tx, 0x80, msg, 10, 50, 0, 60), MLS_ERR_ARGUMENT);
    /* 1 KiB with 11-byte frames and a 20% lossy link, including acks that
     * cover only 64 fragments per frame. */
    stats s = transfer(msg, sizeof(msg), 11, 20, 0xC0FFEE);
    assert_int_equal(s.needless, 0);
}

static void lossy_links_with_reordering_and_duplicates(void **state)
{
    (void)state;
    static uint8_t msg[MLS_FRAG_MSG_MAX];
    for (uint32_t seed = 1; seed <= 40; seed++) {
        size_t len = 1 + (seed * 97) % MLS_FRAG_MSG_MAX;
        size_t frame = 11 + (seed * 53) % (MLS_FRAG_FRAME_MAX - 10);
        fill(msg, len, (uint8_t)seed);
        stats s = transfer(msg, len, frame, 20, seed * 2654435761u);
        assert_int_equal(s.needless, 0);
        s = transfer(msg, len, frame, 50, seed);
        assert_int_equal(s.needless, 0);
    }
}

static void push(const char *hex, uint32_t now, mls_status want, int want_complete)
{
    uint8_t f[MLS_FRAG_FRAME_MAX + 8];
    size_t n = tu_hex(hex, f, sizeof(f));
    int complete = -1;
    assert_int_equal(mls_frag_rx_push(&rx, f, n, now, &complete), want);
    assert_int_equal(complete, want_complete);
}

static void inconsistent_and_malformed_fragments(void **state)
{
    (void)state;
    mls_frag_rx_init(&rx, 100);
    push("07 00 03 04 A0A1A2A3", 1, MLS_OK, 0);
    mls_frag_rx before = rx;
    push("07 01 04 04 B0B1B2B3", 1, MLS_ERR_FRAG_INCONSISTENT, 0);  /* other count */
    push("07 01 03 05 B0B1B2B3B4", 1, MLS_ERR_FRAG_INCONSISTENT, 0); /* other size */
    push("07 00 03 04 A0A1A2FF", 1, MLS_ERR_FRAG_INCONSISTENT, 0);  /* same index, other bytes */
    push("07 03 03 04 B0", 1, MLS_ERR_FORMAT, 0);                   /* index >= count */
    push("07 00 00 04 B0", 1, MLS_ERR_FORMAT, 0);                   /* count 0 */
    push("07 00 03 00 B0", 1, MLS_ERR_FORMAT, 0);                   /* size 0 */
    push("07 00 03 EF B0", 1, MLS_ERR_FORMAT, 0);                   /* size 239 > 238 */
    push("07 01 03 04 B0B1B2", 1, MLS_ERR_FORMAT, 0);               /* short middle */
    push("07 02 03 04 C0C1C2C3C4", 1, MLS_ERR_FORMAT, 0);           /* long last */
    push("07 00 FF 05 B0B1B2B3B4", 1, MLS_ERR_TOO_LONG, 0);         /* 254*5+1 > 1024 */
    push("07 00 03", 1, MLS_ERR_TRUNCATED, 0);
    push("87 00 03 04 00", 1, MLS_ERR_TYPE, 0);                        /* an ack */
    assert_memory_equal(&before, &rx, sizeof(rx));

    push("07 00 03 04 A0A1A2A3", 2, MLS_OK, 0);                     /* duplicate */
    push("07 02 03 04 C0", 3, MLS_OK, 0);
    uint8_t ack[16];
    size_t alen;
    assert_int_equal(mls_frag_rx_ack(&rx, sizeof(ack), ack, &alen), MLS_OK);
    assert_hex_equal(ack, alen, "87 03 01 02");   /* have 0; from 1: bit 1 = index 2 */
    push("07 01 03 04 B0B1B2B3", 4, MLS_OK, 1);
    assert_int_equal(mls_frag_rx_ack(&rx, sizeof(ack), ack, &alen), MLS_OK);
    assert_hex_equal(ack, alen, "87 03 03");
    uint8_t out[16];
    size_t n;
    assert_int_equal(mls_frag_rx_take(&rx, out, 8, &n), MLS_ERR_BUFFER);
    assert_int_equal(mls_frag_rx_take(&rx, out, sizeof(out), &n), MLS_OK);
    assert_hex_equal(out, n, "A0A1A2A3 B0B1B2B3 C0");
    assert_int_equal(mls_frag_rx_take(&rx, out, sizeof(out), &n), MLS_ERR_FRAG_STATE);
    /* Late duplicates of the finished message change nothing. */
    push("07 01 03 04 B0B1B2B3", 5, MLS_OK, 0);
    assert_int_equal(mls_frag_rx_ack(&rx, sizeof(ack), ack, &alen), MLS_OK);
    assert_hex_equal(ack, alen, "87 03 03");
    /* A new id starts a new message, even one abandoning an unfinished one. */
    push("08 00 02 04 D0D1D2D3", 6, MLS_OK, 0);
    push("09 01 02 04 E0", 7, MLS_OK, 0);
    assert_int_equal(rx.msg_id, 9);
    assert_int_equal(rx.received, 1);
}

static void receiver_times_out(void **state)
{
    (void)state;
    mls_frag_rx_init(&rx, 100);
    uint8_t ack[16];
    size_t alen;
    assert_int_equal(mls_frag_rx_ack(&rx, sizeof(ack), ack, &alen), MLS_ERR_FRAG_STATE);
    push("01 00 02 04 A0A1A2A3", 0xFFFFFFF0u, MLS_OK, 0);  /* across the clock's wrap */
    assert_int_equal(mls_frag_rx_poll(&rx, 0xFFFFFFF0u + 99), MLS_OK);
    assert_int_equal(mls_frag_rx_poll(&rx, 0xFFFFFFF0u + 100), MLS_ERR_FRAG_TIMEOUT);
    assert_int_equal(mls_frag_rx_ack(&rx, sizeof(ack), ack, &alen), MLS_ERR_FRAG_STATE);
    /* The late second half alone does not complete anything. */
    push("01 01 02 04 B0", 200, MLS_OK, 0);
    assert_int_equal(rx.received, 1);
    /* A stale fragment arriving after the timeout restarts rather than
     * joining the old message. */
    push("01 00 02 04 A0A1A2A3", 400, MLS_OK, 0);
    assert_int_equal(rx.received, 1);
}

static void sender_acks_timeouts_and_rate_drop(void **state)
{
    (void)state;
    uint8_t msg[100], f[64], ack[16];
    size_t n;
    fill(msg, sizeof(msg), 1);
    assert_int_equal(mls_frag_tx_start(&tx, 3, msg, sizeof(msg), 24, 50, 30), MLS_OK);
    assert_int_equal(tx.count, 5);  /* 20-byte fragments */
    for (int i = 0; i < 5; i++) {
        assert_int_equal(mls_frag_tx_next(&tx, sizeof(f), f, &n), MLS_OK);
        assert_int_equal(f[1], i);
    }
    assert_int_equal(mls_frag_tx_next(&tx, sizeof(f), f, &n), MLS_OK);
    assert_int_equal(n, 0);
    /* Ack: have 0,1 and 3. Only 2 and 4 come again. */
    size_t al = tu_hex("83 05 02 02", ack, sizeof(ack));
    assert_int_equal(mls_frag_tx_ack(&tx, ack, al, 60), MLS_OK);
    assert_int_equal(mls_frag_tx_next(&tx, sizeof(f), f, &n), MLS_OK);
    assert_int_equal(f[1], 2);
    /* The data rate drops: fragment 4 no longer fits a 20-byte frame. */
    assert_int_equal(mls_frag_tx_next(&tx, 20, f, &n), MLS_ERR_FRAG_FRAME);
    assert_int_equal(mls_frag_tx_next(&tx, sizeof(f), f, &n), MLS_OK);
    assert_int_equal(f[1], 4);
    /* Refused acks change nothing. */
    mls_frag_tx before = tx;
    al = tu_hex("84 05 00", ack, sizeof(ack));
    assert_int_equal(mls_frag_tx_ack(&tx, ack, al, 61), MLS_ERR_FRAG_STATE);
    al = tu_hex("83 06 00", ack, sizeof(ack));
    assert_int_equal(mls_frag_tx_ack(&tx, ack, al, 61), MLS_ERR_FRAG_INCONSISTENT);
    al = tu_hex("83 05 06", ack, sizeof(ack));
    assert_int_equal(mls_frag_tx_ack(&tx, ack, al, 61), MLS_ERR_FORMAT);
    al = tu_hex("83 05 02 08", ack, sizeof(ack));   /* bit for index 5 */
    assert_int_equal(mls_frag_tx_ack(&tx, ack, al, 61), MLS_ERR_FORMAT);
    al = tu_hex("03 05 02 08", ack, sizeof(ack));
    assert_int_equal(mls_frag_tx_ack(&tx, ack, al, 61), MLS_ERR_TYPE);
    assert_int_equal(mls_frag_tx_ack(&tx, ack, 2, 61), MLS_ERR_TRUNCATED);
    assert_memory_equal(&before, &tx, sizeof(tx));
    /* No progress since t=60: abandoned at t=90. */
    assert_int_equal(mls_frag_tx_poll(&tx, 89), MLS_OK);
    assert_int_equal(mls_frag_tx_poll(&tx, 90), MLS_ERR_FRAG_TIMEOUT);
    assert_int_equal(mls_frag_tx_next(&tx, sizeof(f), f, &n), MLS_ERR_FRAG_STATE);
    assert_false(mls_frag_tx_done(&tx));
    /* A complete ack finishes it. */
    assert_int_equal(mls_frag_tx_start(&tx, 3, msg, sizeof(msg), 24, 50, 30), MLS_OK);
    al = tu_hex("83 05 05", ack, sizeof(ack));
    assert_int_equal(mls_frag_tx_ack(&tx, ack, al, 70), MLS_OK);
    assert_true(mls_frag_tx_done(&tx));
    assert_int_equal(mls_frag_tx_poll(&tx, 1000), MLS_OK);
    assert_int_equal(mls_frag_tx_next(&tx, sizeof(f), f, &n), MLS_OK);
    assert_int_equal(n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(lossless_transfers_at_every_size),
        cmocka_unit_test(one_kib_over_11_byte_frames_fits_the_header),
        cmocka_unit_test(lossy_links_with_reordering_and_duplicates),
        cmocka_unit_test(inconsistent_and_malformed_fragments),
        cmocka_unit_test(receiver_times_out),
        cmocka_unit_test(sender_acks_timeouts_and_rate_drop),
    };
    return cmocka_run_group_tests_name("mls_frag", tests, NULL, NULL);
}

/*
 * mls_frag.h - carrying MLS messages (up to 1 KiB) over LoRaWAN frames of
 * 11 to 242 bytes, with selective acknowledgement.
 *
 * Pure like the rest of MLS: the caller owns the sender and receiver structs
 * (each holds its own 1 KiB buffer), hands in frames and the current time as
 * monotonic seconds, and takes frames back; nothing here sends, sleeps or
 * reads a clock. Formats and state machines are in docs/mls.md.
 *
 *   data frame  [0 | msg_id:7] | index | count | frag_size | payload
 *   ack frame   [1 | msg_id:7] | count | base  | bitmap...
 *
 * Fragments are not authenticated: MLS authenticates the reassembled
 * message. A forged fragment can therefore stall a transfer (as jamming can)
 * but never make a wrong message accepted.
 *
 * Sender, per message:
 *     mls_frag_tx_start()        copy the message, fix the fragment size
 *     loop: mls_frag_tx_next()   next fragment to send (0 bytes: wait)
 *           mls_frag_tx_ack()    on each ack frame received
 *           mls_frag_tx_rewind() when the caller gave up waiting for an ack
 *           mls_frag_tx_poll()   MLS_ERR_FRAG_TIMEOUT: abandoned
 *     until mls_frag_tx_done()
 * Receiver:
 *     mls_frag_rx_init() once, then per frame mls_frag_rx_push(),
 *     mls_frag_rx_ack() to build the ack to send back, mls_frag_rx_take()
 *     once complete, mls_frag_rx_poll() to expire an abandoned message.
 */
#ifndef FERRY_MLS_FRAG_H
#define FERRY_MLS_FRAG_H

#include <stddef.h>
#include <stdint.h>
#include "mls/mls.h"
#include "mls/mls_status.h"

#define MLS_FRAG_HEADER_LEN   4
#define MLS_FRAG_ACK_HEADER   3
#define MLS_FRAG_FRAME_MIN    11    /* smallest LoRaWAN FRMPayload (DR0, US915) */
#define MLS_FRAG_FRAME_MAX    242
#define MLS_FRAG_MSG_MAX      MLS_MSG_MAX
#define MLS_FRAG_COUNT_MAX    255
#define MLS_FRAG_SIZE_MAX     (MLS_FRAG_FRAME_MAX - MLS_FRAG_HEADER_LEN)  /* 238 */
#define MLS_FRAG_ID_MAX       0x7F
#define MLS_FRAG_ACK_BIT      0x80

/* Sender state of one message. Caller-owned, no pointers inside. */
typedef struct mls_frag_tx {
    uint8_t msg[MLS_FRAG_MSG_MAX];
    uint16_t len;
    uint8_t active;
    uint8_t msg_id;
    uint8_t count;
    uint8_t frag_size;
    uint8_t acked[32];      /* bit i: the receiver has fragment i */
    uint8_t sent[32];       /* bit i: sent (or acked) in the current round */
    uint32_t last_progress; /* seconds: start or last ack that acked something new */
    uint32_t timeout;
} mls_frag_tx;

/* Receiver state. Caller-owned, no pointers inside. */
typedef struct mls_frag_rx {
    uint8_t buf[MLS_FRAG_MSG_MAX];
    uint8_t have[32];
    uint8_t state;          /* 0 idle, 1 receiving, 2 complete, 3 taken */
    uint8_t msg_id;
    uint8_t count;
    uint8_t frag_size;
    uint8_t received;
    uint16_t last_len;      /* payload length of the last fragment once seen */
    uint32_t last_activity;
    uint32_t timeout;
} mls_frag_rx;

/* Starts sending msg[len] (1..MLS_FRAG_MSG_MAX bytes, copied; msg may be
 * tx->msg itself, for a message sealed in place or sent again) as message
 * `msg_id` (0..127) in fragments sized for frames of `frame_max` bytes
 * (MLS_FRAG_FRAME_MIN..MLS_FRAG_FRAME_MAX): every later fragment of this
 * message has that size, whatever the data rate does. The transfer times out
 * after `timeout` seconds without progress, counted from `now`. */
mls_status mls_frag_tx_start(mls_frag_tx *tx, uint8_t msg_id, const uint8_t *msg, size_t len,
                             size_t frame_max, uint32_t now, uint32_t timeout) MLS_MUST_CHECK;

/* Writes the lowest-numbered fragment that is neither acked nor sent in this
 * round into out[frame_cap] and sets *out_len; *out_len = 0 when there is
 * nothing to send now (wait for an ack, or done). MLS_ERR_FRAG_FRAME when
 * frame_cap is below this fragment's size (the data rate dropped: restart the
 * message with a smaller frame_max); MLS_ERR_FRAG_STATE when no message. */
mls_status mls_frag_tx_next(mls_frag_tx *tx, size_t frame_cap, uint8_t *out, size_t *out_len) MLS_MUST_CHECK;

/* Applies an ack frame: marks fragments acked and starts a new round in
 * which tx_next yields exactly the fragments the ack shows missing inside
 * its window (base .. base + 8 * bitmap bytes); fragments beyond the window
 * wait for a later ack (or mls_frag_tx_rewind). Errors, each
 * leaving *tx unchanged: MLS_ERR_TRUNCATED, MLS_ERR_TYPE (not an ack),
 * MLS_ERR_FRAG_STATE (no message, or an ack for another msg_id),
 * MLS_ERR_FRAG_INCONSISTENT (count differs), MLS_ERR_FORMAT (base beyond
 * count or bits set past the last fragment), MLS_ERR_TOO_LONG. */
mls_status mls_frag_tx_ack(mls_frag_tx *tx, const uint8_t *ack, size_t len, uint32_t now) MLS_MUST_CHECK;

/* Starts a new round without an ack: every fragment not acked is yielded
 * again. For when the caller waited long enough for an ack. */
void mls_frag_tx_rewind(mls_frag_tx *tx);

/* 1 when every fragment has been acked, 0 otherwise. */
int mls_frag_tx_done(const mls_frag_tx *tx);

/* MLS_ERR_FRAG_TIMEOUT (and the message is dropped) when the transfer made
 * no progress for `timeout` seconds; MLS_OK otherwise. */
mls_status mls_frag_tx_poll(mls_frag_tx *tx, uint32_t now) MLS_MUST_CHECK;

/* Empties *rx; an unfinished message is abandoned after `timeout` seconds
 * without a new fragment. */
void mls_frag_rx_init(mls_frag_rx *rx, uint32_t timeout);

/* Takes one data frame. *complete becomes 1 when this fragment completed the
 * message (take it with mls_frag_rx_take), 0 otherwise (also for duplicates,
 * which return MLS_OK and change nothing). A fragment of a new msg_id
 * abandons an unfinished message (the sender moved on). Errors, each leaving
 * *rx unchanged: MLS_ERR_TRUNCATED, MLS_ERR_TYPE (an ack frame),
 * MLS_ERR_FORMAT (index >= count, a zero or oversized fragment size, a
 * payload length that does not fit its index), MLS_ERR_TOO_LONG (message
 * over MLS_FRAG_MSG_MAX), MLS_ERR_FRAG_INCONSISTENT (count or size differ
 * from earlier fragments of the same message, or a duplicate index with
 * different bytes). */
mls_status mls_frag_rx_push(mls_frag_rx *rx, const uint8_t *frame, size_t len, uint32_t now,
                            int *complete) MLS_MUST_CHECK;

/* Builds the ack of the current (or just completed) message into
 * out[frame_cap]: base = first missing index (count when complete), then as
 * many bitmap bytes as fit. MLS_ERR_BUFFER when frame_cap <
 * MLS_FRAG_ACK_HEADER + 1 while fragments are missing; MLS_ERR_FRAG_STATE
 * when no message was seen. */
mls_status mls_frag_rx_ack(const mls_frag_rx *rx, size_t frame_cap, uint8_t *out, size_t *out_len) MLS_MUST_CHECK;

/* Copies the completed message into out[cap] and sets *len; later
 * duplicates of its fragments are still recognised. MLS_ERR_FRAG_STATE when
 * no complete message, MLS_ERR_BUFFER when cap is too small. */
mls_status mls_frag_rx_take(mls_frag_rx *rx, uint8_t *out, size_t cap, size_t *len) MLS_MUST_CHECK;

/* The completed message without a copy: *msg points into rx->buf, which
 * the caller may then use (open it in place, keep it) until a fragment of
 * another message arrives and reuses the buffer; mls_frag_rx_holds tells
 * whether it still does. Later duplicates of the message's fragments are
 * still recognised and acked. MLS_ERR_FRAG_STATE when no complete message.
 * For a receiver with no RAM to spare (a secure element). */
mls_status mls_frag_rx_take_in_place(mls_frag_rx *rx, uint8_t **msg, size_t *len) MLS_MUST_CHECK;

/* 1 while `msg` (from mls_frag_rx_take_in_place) is still the taken
 * message in rx->buf, 0 once a new message has reused the buffer. */
int mls_frag_rx_holds(const mls_frag_rx *rx, const uint8_t *msg);

/* MLS_ERR_FRAG_TIMEOUT (and the unfinished message is dropped) when no
 * fragment arrived for `timeout` seconds; MLS_OK otherwise. */
mls_status mls_frag_rx_poll(mls_frag_rx *rx, uint32_t now) MLS_MUST_CHECK;

#endif

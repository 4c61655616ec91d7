/*
 * mls_frag.c - fragmentation with selective acknowledgement.
 *
 * Why this shape:
 *   - The fragment size is fixed when a message starts (frame size minus the
 *     4-byte header) and travels in every fragment, so the receiver can place
 *     a fragment before it knows the total: offset = index * frag_size. Only
 *     the last fragment may be shorter, so the total is known once it
 *     arrives. 1 KiB over 11-byte frames is 147 fragments, within one byte.
 *   - An ack is cumulative and selective at once: `base` says "I have every
 *     fragment below base", the bitmap covers base.. as far as the frame
 *     allows. In an 11-byte frame that is 64 fragments past the first hole;
 *     fragments beyond the bitmap are simply treated as not yet acked.
 *   - Each ack starts a new round on the sender: whatever it still lacks is
 *     sent again, once, in index order. With Class A LoRaWAN the ack usually
 *     rides on the next uplink, so a round is one exchange.
 *   - A new msg_id abandons an unfinished message instead of being refused:
 *     the sender only moves on after giving up, and refusing would leave the
 *     receiver deaf until its own timeout.
 *   - Timeouts use unsigned subtraction of caller-supplied seconds, correct
 *     across a 32-bit wrap of the caller's clock.
 */
#include "mls/mls_frag.h"
#include "lorawan/lw_secure.h"

#include <string.h>

enum { RX_IDLE = 0, RX_RECEIVING = 1, RX_COMPLETE = 2, RX_TAKEN = 3 };

static int bit_get(const uint8_t *map, unsigned i)
{
    return (map[i / 8] >> (i % 8)) & 1;
}

static void bit_set(uint8_t *map, unsigned i)
{
    map[i / 8] = (uint8_t)(map[i / 8] | (1u << (i % 8)));
}

static size_t frag_len(unsigned index, unsigned count, unsigned size, size_t total)
{
    return index + 1 < count ? size : total - (size_t)(count - 1) * size;
}

/* ---- sender ------------------------------------------------------------ */

mls_status mls_frag_tx_start(mls_frag_tx *tx, uint8_t msg_id, const uint8_t *msg, size_t len,
                             size_t frame_max, uint32_t now, uint32_t timeout)
{
    if (tx == NULL || msg == NULL || msg_id > MLS_FRAG_ID_MAX || frame_max < MLS_FRAG_FRAME_MIN ||
        frame_max > MLS_FRAG_FRAME_MAX || len == 0)
        return MLS_ERR_ARGUMENT;
    if (len > MLS_FRAG_MSG_MAX)
        return MLS_ERR_TOO_LONG;
    size_t size = frame_max - MLS_FRAG_HEADER_LEN;
    /* Counted, not divided: the element's Cortex-M0+ has no divide
     * instruction, and this was one of its last two divisions (libgcc's
     * costs 270 bytes of its code). <= 147 given the bounds above. */
    size_t count = 0;
    for (size_t at = 0; at < len; at += size)
        count++;
    /* msg may be tx->msg itself (a message sealed in place): move it first,
     * then reset everything else. */
    memmove(tx->msg, msg, len);
    memset(tx->msg + len, 0, sizeof(tx->msg) - len);
    tx->len = (uint16_t)len;
    tx->active = 1;
    tx->msg_id = msg_id;
    tx->count = (uint8_t)count;
    tx->frag_size = (uint8_t)size;
    memset(tx->acked, 0, sizeof(tx->acked));
    memset(tx->sent, 0, sizeof(tx->sent));
    tx->last_progress = now;
    tx->timeout = timeout;
    return MLS_OK;
}

mls_status mls_frag_tx_next(mls_frag_tx *tx, size_t frame_cap, uint8_t *out, size_t *out_len)
{
    if (tx == NULL || out == NULL || out_len == NULL)
        return MLS_ERR_ARGUMENT;
    *out_len = 0;
    if (!tx->active)
        return MLS_ERR_FRAG_STATE;
    for (unsigned i = 0; i < tx->count; i++) {
        if (bit_get(tx->acked, i) || bit_get(tx->sent, i))
            continue;
        size_t n = frag_len(i, tx->count, tx->frag_size, tx->len);
        if (frame_cap < MLS_FRAG_HEADER_LEN + n)
            return MLS_ERR_FRAG_FRAME;
        out[0] = tx->msg_id;
        out[1] = (uint8_t)i;
        out[2] = tx->count;
        out[3] = tx->frag_size;
        memcpy(out + MLS_FRAG_HEADER_LEN, tx->msg + (size_t)i * tx->frag_size, n);
        bit_set(tx->sent, i);
        *out_len = MLS_FRAG_HEADER_LEN + n;
        return MLS_OK;
    }
    return MLS_OK;
}

mls_status mls_frag_tx_ack(mls_frag_tx *tx, const uint8_t *ack, size_t len, uint32_t now)
{
    if (tx == NULL || ack == NULL)
        return MLS_ERR_ARGUMENT;
    if (len < MLS_FRAG_ACK_HEADER)
        return MLS_ERR_TRUNCATED;
    if ((ack[0] & MLS_FRAG_ACK_BIT) == 0)
        return MLS_ERR_TYPE;
    if (!tx->active || (ack[0] & MLS_FRAG_ID_MAX) != tx->msg_id)
        return MLS_ERR_FRAG_STATE;
    unsigned count = ack[1], base = ack[2];
    if (count != tx->count)
        return MLS_ERR_FRAG_INCONSISTENT;
    if (base > count)
        return MLS_ERR_FORMAT;
    size_t nbytes = len - MLS_FRAG_ACK_HEADER;
    if (nbytes > 32)
        return MLS_ERR_TOO_LONG;
    const uint8_t *map = ack + MLS_FRAG_ACK_HEADER;
    for (unsigned b = 0; b < nbytes * 8; b++)
        if (bit_get(map, b) && base + b >= count)
            return MLS_ERR_FORMAT;

    /* Inside the window [0, base + 8 * nbytes) the ack is authoritative:
     * what it lacks is sent again. Beyond it the ack says nothing, so those
     * fragments keep their "sent this round" mark and wait for a later ack
     * whose window reaches them; `base` itself is always missing, so a round
     * never starts empty. */
    int progress = 0;
    for (unsigned i = 0; i < count; i++) {
        int in_window = i < base || i - base < nbytes * 8;
        int has = i < base || (in_window && bit_get(map, i - base));
        if (has && !bit_get(tx->acked, i)) {
            bit_set(tx->acked, i);
            progress = 1;
        }
        if (has || (!in_window && i != base && bit_get(tx->sent, i)))
            bit_set(tx->sent, i);
        else
            tx->sent[i / 8] = (uint8_t)(tx->sent[i / 8] & ~(1u << (i % 8)));
    }
    if (progress)
        tx->last_progress = now;
    return MLS_OK;
}

void mls_frag_tx_rewind(mls_frag_tx *tx)
{
    if (tx != NULL)
        memcpy(tx->sent, tx->acked, sizeof(tx->sent));
}

int mls_frag_tx_done(const mls_frag_tx *tx)
{
    if (tx == NULL || !tx->active)
        return 0;
    for (unsigned i = 0; i < tx->count; i++)
        if (!bit_get(tx->acked, i))
            return 0;
    return 1;
}

mls_status mls_frag_tx_poll(mls_frag_tx *tx, uint32_t now)
{
    if (tx == NULL)
        return MLS_ERR_ARGUMENT;
    if (tx->active && !mls_frag_tx_done(tx) && now - tx->last_progress >= tx->timeout) {
        memset(tx, 0, sizeof(*tx));
        return MLS_ERR_FRAG_TIMEOUT;
    }
    return MLS_OK;
}

/* ---- receiver ---------------------------------------------------------- */

void mls_frag_rx_init(mls_frag_rx *rx, uint32_t timeout)
{
    if (rx == NULL)
        return;
    memset(rx, 0, sizeof(*rx));
    rx->timeout = timeout;
}

static void rx_reset(mls_frag_rx *rx)
{
    uint32_t timeout = rx->timeout;
    mls_frag_rx_init(rx, timeout);
}

static int rx_expired(const mls_frag_rx *rx, uint32_t now)
{
    return rx->state == RX_RECEIVING && now - rx->last_activity >= rx->timeout;
}

mls_status mls_frag_rx_push(mls_frag_rx *rx, const uint8_t *frame, size_t len, uint32_t now, int *complete)
{
    if (rx == NULL || frame == NULL || complete == NULL)
        return MLS_ERR_ARGUMENT;
    *complete = 0;
    if (len < MLS_FRAG_HEADER_LEN + 1)
        return MLS_ERR_TRUNCATED;
    if (frame[0] & MLS_FRAG_ACK_BIT)
        return MLS_ERR_TYPE;
    unsigned id = frame[0], index = frame[1], count = frame[2], size = frame[3];
    size_t n = len - MLS_FRAG_HEADER_LEN;
    if (count == 0 || index >= count || size == 0 || size > MLS_FRAG_SIZE_MAX)
        return MLS_ERR_FORMAT;
    if (n > size || (index + 1 < count && n != size))
        return MLS_ERR_FORMAT;
    if ((size_t)(count - 1) * size + (index + 1 == count ? n : 1) > MLS_FRAG_MSG_MAX)
        return MLS_ERR_TOO_LONG;

    const uint8_t *payload = frame + MLS_FRAG_HEADER_LEN;
    int same_msg = rx->state != RX_IDLE && id == rx->msg_id && !rx_expired(rx, now);
    if (same_msg && (count != rx->count || size != rx->frag_size)) {
        /* After completion the sender may reuse the id for a new message
         * only once it saw our final ack; a mismatch while receiving is an
         * error. */
        if (rx->state == RX_RECEIVING)
            return MLS_ERR_FRAG_INCONSISTENT;
        same_msg = 0;
    }
    if (same_msg && bit_get(rx->have, index)) {
        if (rx->state == RX_TAKEN)
            return MLS_OK;   /* the bytes are gone; the header matched */
        size_t stored = index + 1 == count ? rx->last_len : size;
        if (stored != n || !lw_secure_equal(rx->buf + (size_t)index * size, payload, n))
            return MLS_ERR_FRAG_INCONSISTENT;
        return MLS_OK;
    }
    if (!same_msg) {
        rx_reset(rx);
        rx->state = RX_RECEIVING;
        rx->msg_id = (uint8_t)id;
        rx->count = (uint8_t)count;
        rx->frag_size = (uint8_t)size;
    }
    memcpy(rx->buf + (size_t)index * size, payload, n);
    if (index + 1 == count)
        rx->last_len = (uint16_t)n;
    bit_set(rx->have, index);
    rx->received++;
    rx->last_activity = now;
    if (rx->received == rx->count) {
        rx->state = RX_COMPLETE;
        *complete = 1;
    }
    return MLS_OK;
}

mls_status mls_frag_rx_ack(const mls_frag_rx *rx, size_t frame_cap, uint8_t *out, size_t *out_len)
{
    if (rx == NULL || out == NULL || out_len == NULL)
        return MLS_ERR_ARGUMENT;
    *out_len = 0;
    if (rx->state == RX_IDLE)
        return MLS_ERR_FRAG_STATE;
    unsigned base = 0;
    while (base < rx->count && bit_get(rx->have, base))
        base++;
    size_t want = (rx->count - base + 7) / 8;
    if (want > 0 && frame_cap < MLS_FRAG_ACK_HEADER + 1)
        return MLS_ERR_BUFFER;
    if (frame_cap < MLS_FRAG_ACK_HEADER)
        return MLS_ERR_BUFFER;
    size_t nbytes = want < frame_cap - MLS_FRAG_ACK_HEADER ? want : frame_cap - MLS_FRAG_ACK_HEADER;
    out[0] = (uint8_t)(MLS_FRAG_ACK_BIT | rx->msg_id);
    out[1] = rx->count;
    out[2] = (uint8_t)base;
    memset(out + MLS_FRAG_ACK_HEADER, 0, nbytes);
    for (unsigned b = 0; b < nbytes * 8 && base + b < rx->count; b++)
        if (bit_get(rx->have, base + b))
            bit_set(out + MLS_FRAG_ACK_HEADER, b);
    *out_len = MLS_FRAG_ACK_HEADER + nbytes;
    return MLS_OK;
}

mls_status mls_frag_rx_take(mls_frag_rx *rx, uint8_t *out, size_t cap, size_t *len)
{
    if (rx == NULL || out == NULL || len == NULL)
        return MLS_ERR_ARGUMENT;
    *len = 0;
    if (rx->state != RX_COMPLETE)
        return MLS_ERR_FRAG_STATE;
    size_t total = (size_t)(rx->count - 1) * rx->frag_size + rx->last_len;
    if (cap < total)
        return MLS_ERR_BUFFER;
    memcpy(out, rx->buf, total);
    lw_secure_wipe(rx->buf, sizeof(rx->buf));
    rx->state = RX_TAKEN;
    *len = total;
    return MLS_OK;
}

mls_status mls_frag_rx_take_in_place(mls_frag_rx *rx, uint8_t **msg, size_t *len)
{
    if (rx == NULL || msg == NULL || len == NULL)
        return MLS_ERR_ARGUMENT;
    *msg = NULL;
    *len = 0;
    if (rx->state != RX_COMPLETE)
        return MLS_ERR_FRAG_STATE;
    rx->state = RX_TAKEN;
    *msg = rx->buf;
    *len = (size_t)(rx->count - 1) * rx->frag_size + rx->last_len;
    return MLS_OK;
}

int mls_frag_rx_holds(const mls_frag_rx *rx, const uint8_t *msg)
{
    return rx != NULL && rx->state == RX_TAKEN && msg == rx->buf;
}

mls_status mls_frag_rx_poll(mls_frag_rx *rx, uint32_t now)
{
    if (rx == NULL)
        return MLS_ERR_ARGUMENT;
    if (rx_expired(rx, now)) {
        rx_reset(rx);
        return MLS_ERR_FRAG_TIMEOUT;
    }
    return MLS_OK;
}

/*
 * mls.c - MLS key schedule, sealing and opening.
 *
 * Design in brief (the byte tables are in docs/mls.md):
 *
 *   purpose key = AES-ECB(K_root, label | DevEUI(8, BE) | epoch | 00*6)
 *   message     = header(8) | AES-CTR(enc key, body) | tag(8)
 *   CTR block i = DevEUI(8, BE) | dir | epoch | counter(4, BE) | i(2, BE)
 *   tag         = AES-CMAC(mac key, DevEUI(8, BE) | header | ciphertext)[0..8)
 *
 * Why these choices:
 *   - Encrypt-then-MAC with independent keys per purpose and per direction: a
 *     reflected message can never verify (the other direction's MAC key), and
 *     the receiver authenticates before it decrypts anything.
 *   - The CTR counter block is unique per (key, direction, epoch, counter,
 *     block), and the sender's 32-bit counter never repeats within an epoch,
 *     so no keystream is ever reused. Its last two bytes are the block index,
 *     big-endian, from 0: PKCS#11 CKM_AES_CTR with ulCounterBits = 16 and this
 *     block as cb[] produces the same stream, and a 1008-byte body needs only
 *     63 blocks, so the 16-bit counter never wraps.
 *   - The DevEUI is in the key derivation AND in the MAC input, so a message
 *     is bound to one SE even if two SEs were (wrongly) given the same root.
 *   - The DevEUI goes to the backend as the CMAC's prefix
 *     (lw_cmac_prefixed): the message is never copied behind it, which on a
 *     secure element saves a 1 KiB stack buffer.
 *   - mls_open() is const on the session: replay state moves only through
 *     mls_accept_counter(), after the caller has persisted the counter, so a
 *     power cut between the two can at worst reject a message, never accept
 *     one twice.
 */
#include "mls/mls.h"
#include "mls/mls_bytes.h"
#include "lorawan/lw_secure.h"

#include <string.h>

static mls_status derive_one(const lw_crypto *c, const lw_key *root, uint8_t label, uint64_t deveui,
                             uint8_t epoch, lw_key *out)
{
    uint8_t block[16] = {0};
    block[0] = label;
    mls_put_be64(block + 1, deveui);
    block[9] = epoch;
    return mls_status_from_lw(lw_derive(c, root, block, out));
}

mls_status mls_keys_derive(const lw_crypto *c, const lw_key *root, uint64_t deveui, uint8_t epoch,
                           mls_keys *keys)
{
    if (c == NULL || root == NULL || keys == NULL)
        return MLS_ERR_ARGUMENT;
    LW_WIPE(*keys);
    mls_status st = derive_one(c, root, MLS_LABEL_ENC_DOWN, deveui, epoch, &keys->enc_down);
    if (st == MLS_OK)
        st = derive_one(c, root, MLS_LABEL_MAC_DOWN, deveui, epoch, &keys->mac_down);
    if (st == MLS_OK)
        st = derive_one(c, root, MLS_LABEL_WRAP_DOWN, deveui, epoch, &keys->wrap_down);
    if (st == MLS_OK)
        st = derive_one(c, root, MLS_LABEL_ENC_UP, deveui, epoch, &keys->enc_up);
    if (st == MLS_OK)
        st = derive_one(c, root, MLS_LABEL_MAC_UP, deveui, epoch, &keys->mac_up);
    if (st != MLS_OK)
        mls_keys_release(c, keys);
    return st;
}

void mls_keys_release(const lw_crypto *c, mls_keys *keys)
{
    if (keys == NULL)
        return;
    /* Release only what was made: a token backend would otherwise be asked
     * to destroy handle 0. */
    lw_key *all[] = {&keys->enc_down, &keys->mac_down, &keys->wrap_down, &keys->enc_up, &keys->mac_up};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        if (all[i]->length != 0 || all[i]->handle != 0)
            lw_key_release(c, all[i]);
    LW_WIPE(*keys);
}

mls_status mls_session_init(mls_session *s, const lw_crypto *c, mls_role role, const lw_key *root,
                            uint64_t deveui, uint8_t epoch, uint32_t tx_next, uint32_t rx_last)
{
    if (s == NULL || c == NULL || root == NULL || (role != MLS_ROLE_SERVER && role != MLS_ROLE_SE) ||
        tx_next == 0)
        return MLS_ERR_ARGUMENT;
    LW_WIPE(*s);
    mls_status st = mls_keys_derive(c, root, deveui, epoch, &s->keys);
    if (st != MLS_OK) {
        LW_WIPE(*s);
        return st;
    }
    s->crypto = c;
    s->deveui = deveui;
    s->epoch = epoch;
    s->role = (uint8_t)role;
    s->tx_next = tx_next;
    s->rx_last = rx_last;
    return MLS_OK;
}

void mls_session_end(mls_session *s)
{
    if (s == NULL)
        return;
    mls_keys_release(s->crypto, &s->keys);
    LW_WIPE(*s);
}

static uint8_t send_dir(const mls_session *s)
{
    return s->role == MLS_ROLE_SE ? MLS_DIR_UP : MLS_DIR_DOWN;
}

/* out[i] = in[i] ^ keystream[i] for len bytes; in and out may be the same. */
static mls_status ctr_xor(const mls_session *s, uint8_t dir, uint32_t counter, const uint8_t *in,
                          uint8_t *out, size_t len)
{
    const lw_key *key = dir == MLS_DIR_DOWN ? &s->keys.enc_down : &s->keys.enc_up;
    uint8_t block[16], stream[16];
    mls_put_be64(block, s->deveui);
    block[8] = dir;
    block[9] = s->epoch;
    mls_put_be32(block + 10, counter);
    mls_status st = MLS_OK;
    for (size_t off = 0, i = 0; off < len && st == MLS_OK; off += 16, i++) {
        mls_put_be16(block + 14, (uint16_t)i);
        st = mls_status_from_lw(lw_aes_encrypt(s->crypto, key, block, stream));
        size_t n = len - off < 16 ? len - off : 16;
        for (size_t k = 0; k < n && st == MLS_OK; k++)
            out[off + k] = (uint8_t)(in[off + k] ^ stream[k]);
    }
    LW_WIPE(stream);
    LW_WIPE(block);
    return st;
}

/* tag = CMAC(mac key of dir, DevEUI | msg[0..len))[0..8). */
static mls_status compute_tag(const mls_session *s, uint8_t dir, const uint8_t *msg, size_t len,
                              uint8_t tag[MLS_TAG_LEN])
{
    uint8_t deveui[8];
    uint8_t full[16];
    if (len > MLS_MSG_MAX - MLS_TAG_LEN)
        return MLS_ERR_TOO_LONG;
    mls_put_be64(deveui, s->deveui);
    const lw_key *key = dir == MLS_DIR_DOWN ? &s->keys.mac_down : &s->keys.mac_up;
    mls_status st = mls_status_from_lw(lw_cmac_prefixed(s->crypto, key, deveui, sizeof(deveui), msg, len, full));
    if (st == MLS_OK)
        memcpy(tag, full, MLS_TAG_LEN);
    LW_WIPE(full);
    return st;
}

mls_status mls_seal(mls_session *s, uint8_t type, const uint8_t *body, size_t body_len, uint8_t *out,
                    size_t cap, size_t *out_len)
{
    if (s == NULL || out == NULL || out_len == NULL || (body == NULL && body_len != 0))
        return MLS_ERR_ARGUMENT;
    *out_len = 0;
    if (body_len > MLS_BODY_MAX)
        return MLS_ERR_TOO_LONG;
    if (cap < body_len + MLS_OVERHEAD)
        return MLS_ERR_BUFFER;
    if (s->tx_next == 0)
        return MLS_ERR_COUNTER;

    uint32_t counter = s->tx_next;
    uint8_t dir = send_dir(s);
    out[0] = MLS_VERSION;
    out[1] = dir;
    out[2] = s->epoch;
    mls_put_be32(out + 3, counter);
    out[7] = type;
    mls_status st = ctr_xor(s, dir, counter, body, out + MLS_HEADER_LEN, body_len);
    if (st == MLS_OK)
        st = compute_tag(s, dir, out, MLS_HEADER_LEN + body_len, out + MLS_HEADER_LEN + body_len);
    if (st != MLS_OK) {
        lw_secure_wipe(out, cap);
        return st;
    }
    *out_len = body_len + MLS_OVERHEAD;
    s->tx_next = counter + 1;  /* wraps to 0 = exhausted after 0xFFFFFFFF */
    return MLS_OK;
}

mls_status mls_header_parse(const uint8_t *msg, size_t len, mls_header *h)
{
    if (msg == NULL || h == NULL)
        return MLS_ERR_ARGUMENT;
    memset(h, 0, sizeof(*h));
    if (len < MLS_OVERHEAD)
        return MLS_ERR_TRUNCATED;
    if (len > MLS_MSG_MAX)
        return MLS_ERR_TOO_LONG;
    if (msg[0] != MLS_VERSION)
        return MLS_ERR_VERSION;
    if ((msg[1] & 0xFE) != 0)
        return MLS_ERR_FORMAT;
    h->version = msg[0];
    h->dir = msg[1];
    h->epoch = msg[2];
    h->counter = mls_get_be32(msg + 3);
    h->type = msg[7];
    return MLS_OK;
}

mls_status mls_open(const mls_session *s, const uint8_t *msg, size_t len, mls_header *h, uint8_t *body,
                    size_t cap, size_t *body_len)
{
    if (s == NULL || msg == NULL || h == NULL || body_len == NULL || (body == NULL && cap != 0))
        return MLS_ERR_ARGUMENT;
    *body_len = 0;
    mls_header hdr;
    uint8_t tag[MLS_TAG_LEN];
    mls_status st = mls_header_parse(msg, len, &hdr);
    size_t n = len >= MLS_OVERHEAD ? len - MLS_OVERHEAD : 0;
    uint8_t want_dir = s->role == MLS_ROLE_SE ? MLS_DIR_DOWN : MLS_DIR_UP;
    if (st == MLS_OK && hdr.dir != want_dir)
        st = MLS_ERR_DIRECTION;
    if (st == MLS_OK && hdr.epoch != s->epoch)
        st = MLS_ERR_EPOCH;
    if (st == MLS_OK && cap < n)
        st = MLS_ERR_BUFFER;
    if (st == MLS_OK)
        st = compute_tag(s, hdr.dir, msg, MLS_HEADER_LEN + n, tag);
    if (st == MLS_OK && !lw_secure_equal(tag, msg + MLS_HEADER_LEN + n, MLS_TAG_LEN))
        st = MLS_ERR_TAG;
    if (st == MLS_OK && hdr.counter <= s->rx_last)
        st = MLS_ERR_REPLAY;
    if (st == MLS_OK)
        st = ctr_xor(s, hdr.dir, hdr.counter, msg + MLS_HEADER_LEN, body, n);
    LW_WIPE(tag);
    if (st != MLS_OK) {
        if (body != NULL)
            lw_secure_wipe(body, cap);
        memset(h, 0, sizeof(*h));
        return st;
    }
    *h = hdr;
    *body_len = n;
    return MLS_OK;
}

mls_status mls_accept_counter(mls_session *s, uint32_t counter)
{
    if (s == NULL)
        return MLS_ERR_ARGUMENT;
    if (counter <= s->rx_last)
        return MLS_ERR_REPLAY;
    s->rx_last = counter;
    return MLS_OK;
}

mls_status mls_wrap_key(const mls_session *s, const lw_key *key, uint8_t *out, size_t cap)
{
    if (s == NULL || key == NULL || out == NULL)
        return MLS_ERR_ARGUMENT;
    mls_status st = mls_status_from_lw(lw_key_wrap(s->crypto, &s->keys.wrap_down, key, out, cap));
    if (st != MLS_OK)
        lw_secure_wipe(out, cap);
    return st;
}

mls_status mls_unwrap_key(const mls_session *s, const uint8_t *in, size_t in_len, lw_key *out)
{
    if (s == NULL || in == NULL || out == NULL)
        return MLS_ERR_ARGUMENT;
    mls_status st = mls_status_from_lw(lw_key_unwrap(s->crypto, &s->keys.wrap_down, in, in_len, out));
    if (st != MLS_OK)
        lw_key_wipe(out);
    return st;
}

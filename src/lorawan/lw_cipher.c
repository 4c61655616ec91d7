/*
 * lw_cipher.c - FRMPayload, FOpts and join-accept encryption
 * (LoRaWAN L2 1.1 sections 4.3.3, 4.3.1.6, 6.2.3).
 *
 * FRMPayload: S = aes(K, A1) | aes(K, A2) | ..., payload XOR S, with
 *   Ai = 0x01 | 00 00 00 00 | Dir | DevAddr(4) | FCnt(4) | 0x00 | i
 * FOpts (1.1): one block, A = 0x01 | 00 00 00 | 0x01 or 0x02 | Dir | DevAddr | FCnt | 0x00 | 0x01,
 *   where 0x02 marks a downlink counted by AFCntDown (errata 1.1).
 * Keystream blocks are wiped after use: with a known plaintext they are as
 * good as the key for that frame.
 */
#include "lorawan/lw_cipher.h"
#include "lorawan/lw_secure.h"

#include <string.h>

static void a_block(uint8_t a[16], uint8_t byte4, bool uplink, uint32_t dev_addr, uint32_t fcnt, uint8_t i)
{
    a[0] = 0x01;
    a[1] = a[2] = a[3] = 0;
    a[4] = byte4;
    a[5] = uplink ? 0 : 1;
    lw_put_le(a + 6, dev_addr, 4);
    lw_put_le(a + 10, fcnt, 4);
    a[14] = 0;
    a[15] = i;
}

bool lw_frm_payload_key_is_network(uint8_t fport)
{
    return fport == 0;
}

lw_status lw_frm_payload_crypt(const lw_crypto *c, const lw_key *key, bool uplink, uint32_t dev_addr,
                               uint32_t fcnt, const uint8_t *in, size_t len, uint8_t *out)
{
    if ((in == NULL || out == NULL) && len != 0)
        return LW_ERR_ARGUMENT;
    if (len > LW_PHY_MAX)
        return LW_ERR_TOO_LONG;
    uint8_t a[16], s[16];
    lw_status st = LW_OK;
    for (size_t off = 0, i = 1; off < len && st == LW_OK; off += 16, i++) {
        a_block(a, 0, uplink, dev_addr, fcnt, (uint8_t)i);
        st = lw_aes_encrypt(c, key, a, s);
        size_t n = len - off < 16 ? len - off : 16;
        for (size_t k = 0; k < n && st == LW_OK; k++)
            out[off + k] = in[off + k] ^ s[k];
    }
    LW_WIPE(s);
    return st;
}

lw_status lw_fopts_crypt_11(const lw_crypto *c, const lw_key *nwk_s_enc_key, bool uplink, bool a_fcnt_down,
                            uint32_t dev_addr, uint32_t fcnt, const uint8_t *in, size_t len, uint8_t *out)
{
    if ((in == NULL || out == NULL) && len != 0)
        return LW_ERR_ARGUMENT;
    if (len > LW_FOPTS_MAX)
        return LW_ERR_TOO_LONG;
    if (uplink && a_fcnt_down)
        return LW_ERR_ARGUMENT;
    if (len == 0)
        return LW_OK;
    uint8_t a[16], s[16];
    a_block(a, a_fcnt_down ? 0x02 : 0x01, uplink, dev_addr, fcnt, 0x01);
    lw_status st = lw_aes_encrypt(c, nwk_s_enc_key, a, s);
    if (st == LW_OK) {
        for (size_t k = 0; k < len; k++)
            out[k] = in[k] ^ s[k];
    }
    LW_WIPE(s);
    return st;
}

static lw_status join_accept_transform(const lw_crypto *c, const lw_key *key, bool server, const uint8_t *in,
                                       size_t len, uint8_t *out, size_t cap)
{
    if (in == NULL || out == NULL)
        return LW_ERR_ARGUMENT;
    if (len != LW_JOIN_ACCEPT_LEN && len != LW_JOIN_ACCEPT_CFLIST_LEN)
        return len > LW_JOIN_ACCEPT_CFLIST_LEN ? LW_ERR_TOO_LONG : LW_ERR_TRUNCATED;
    if (cap < len)
        return LW_ERR_BUFFER;
    if ((in[0] >> 5) != LW_MTYPE_JOIN_ACCEPT)
        return LW_ERR_MTYPE;
    uint8_t block[16];
    lw_status st = LW_OK;
    for (size_t off = 1; off < len && st == LW_OK; off += 16) {
        st = server ? lw_aes_decrypt(c, key, in + off, block) : lw_aes_encrypt(c, key, in + off, block);
        if (st == LW_OK)
            memcpy(out + off, block, 16);
    }
    LW_WIPE(block);
    if (st != LW_OK) {
        lw_secure_wipe(out, len);
        return st;
    }
    out[0] = in[0];
    return LW_OK;
}

lw_status lw_join_accept_encrypt(const lw_crypto *c, const lw_key *key, const uint8_t *plain, size_t len,
                                 uint8_t *out, size_t cap)
{
    return join_accept_transform(c, key, true, plain, len, out, cap);
}

lw_status lw_join_accept_decrypt(const lw_crypto *c, const lw_key *key, const uint8_t *wire, size_t len,
                                 uint8_t *out, size_t cap)
{
    return join_accept_transform(c, key, false, wire, len, out, cap);
}

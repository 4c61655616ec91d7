/*
 * lw_mic.c - MICs (LoRaWAN L2 1.1 sections 4.4, 6.2.2-6.2.5).
 *
 * Data MICs prepend a B0 (and for 1.1 uplinks a B1) block:
 *
 *   B0 = 0x49 | ConfFCnt(2) 00 00 (1.1 down) or 00 00 00 00 | Dir | DevAddr(4) | FCnt(4) | 0x00 | len(msg)
 *   B1 = 0x49 | ConfFCnt(2) | TxDr | TxCh | Dir(0) | DevAddr(4) | FCntUp(4) | 0x00 | len(msg)
 *
 * The block goes to the backend as the CMAC's prefix (lw_cmac_prefixed), so
 * no frame is copied behind it: on a secure element every byte of stack
 * counts.
 */
#include "lorawan/lw_mic.h"
#include "lorawan/lw_secure.h"

#include <string.h>

#define MIC_BLOCK_TAG 0x49
#define FCTRL_ACK 0x20

static lw_status mic_over(const lw_crypto *c, const lw_key *key, const uint8_t *prefix, size_t prefix_len,
                          const uint8_t *msg, size_t len, uint8_t mic[LW_MIC_LEN])
{
    uint8_t full[16];
    lw_status st = lw_cmac_prefixed(c, key, prefix, prefix_len, msg, len, full);
    if (st == LW_OK)
        memcpy(mic, full, LW_MIC_LEN);
    LW_WIPE(full);
    return st;
}

lw_status lw_mic_join_request(const lw_crypto *c, const lw_key *key, const uint8_t *msg, size_t len,
                              uint8_t mic[LW_MIC_LEN])
{
    if (msg == NULL || mic == NULL)
        return LW_ERR_ARGUMENT;
    if (len != LW_JOIN_REQUEST_LEN - LW_MIC_LEN)
        return LW_ERR_ARGUMENT;
    return mic_over(c, key, NULL, 0, msg, len, mic);
}

lw_status lw_mic_rejoin_request(const lw_crypto *c, const lw_key *key, const uint8_t *msg, size_t len,
                                uint8_t mic[LW_MIC_LEN])
{
    if (msg == NULL || mic == NULL)
        return LW_ERR_ARGUMENT;
    if (len != LW_REJOIN_02_LEN - LW_MIC_LEN && len != LW_REJOIN_1_LEN - LW_MIC_LEN)
        return LW_ERR_ARGUMENT;
    return mic_over(c, key, NULL, 0, msg, len, mic);
}

static int join_accept_len_ok(size_t len)
{
    return len == LW_JOIN_ACCEPT_LEN - LW_MIC_LEN || len == LW_JOIN_ACCEPT_CFLIST_LEN - LW_MIC_LEN;
}

lw_status lw_mic_join_accept_10(const lw_crypto *c, const lw_key *nwk_key, const uint8_t *msg, size_t len,
                                uint8_t mic[LW_MIC_LEN])
{
    if (msg == NULL || mic == NULL || !join_accept_len_ok(len))
        return LW_ERR_ARGUMENT;
    return mic_over(c, nwk_key, NULL, 0, msg, len, mic);
}

lw_status lw_mic_join_accept_11(const lw_crypto *c, const lw_key *js_int_key, uint8_t join_req_type,
                                uint64_t join_eui, uint16_t dev_nonce, const uint8_t *msg, size_t len,
                                uint8_t mic[LW_MIC_LEN])
{
    if (msg == NULL || mic == NULL || !join_accept_len_ok(len))
        return LW_ERR_ARGUMENT;
    uint8_t head[1 + 8 + 2];
    head[0] = join_req_type;
    lw_put_le(head + 1, join_eui, 8);
    lw_put_le(head + 9, dev_nonce, 2);
    return mic_over(c, js_int_key, head, sizeof(head), msg, len, mic);
}

/* Fills a B0/B1 block whose bytes 1..4 the caller sets. */
static void data_block(uint8_t b[16], bool uplink, const lw_data_mic_params *p, size_t msg_len)
{
    b[0] = MIC_BLOCK_TAG;
    memset(b + 1, 0, 4);
    b[5] = uplink ? 0 : 1;
    lw_put_le(b + 6, p->dev_addr, 4);
    lw_put_le(b + 10, p->fcnt, 4);
    b[14] = 0;
    b[15] = (uint8_t)msg_len;
}

/* Checks a data message and reports its direction and whether FCtrl.ACK is set. */
static lw_status data_msg_check(const uint8_t *msg, size_t len, const lw_data_mic_params *p, bool *uplink,
                                bool *ack)
{
    if (msg == NULL || p == NULL)
        return LW_ERR_ARGUMENT;
    if (len < LW_DATA_MIN_LEN - LW_MIC_LEN)
        return LW_ERR_TRUNCATED;
    if (len > LW_PHY_MAX - LW_MIC_LEN)
        return LW_ERR_TOO_LONG;
    lw_mtype m = (lw_mtype)(msg[0] >> 5);
    if (!lw_mtype_is_data(m))
        return LW_ERR_MTYPE;
    *uplink = lw_mtype_is_uplink(m);
    *ack = (msg[5] & FCTRL_ACK) != 0;
    return LW_OK;
}

static lw_status mic_with_block(const lw_crypto *c, const lw_key *key, const uint8_t block[16],
                                const uint8_t *msg, size_t len, uint8_t mic[LW_MIC_LEN])
{
    return mic_over(c, key, block, 16, msg, len, mic);
}

lw_status lw_mic_data_10(const lw_crypto *c, const lw_key *nwk_s_key, const lw_data_mic_params *p,
                         const uint8_t *msg, size_t len, uint8_t mic[LW_MIC_LEN])
{
    bool uplink, ack;
    if (mic == NULL)
        return LW_ERR_ARGUMENT;
    lw_status st = data_msg_check(msg, len, p, &uplink, &ack);
    if (st != LW_OK)
        return st;
    uint8_t b0[16];
    data_block(b0, uplink, p, len);
    return mic_with_block(c, nwk_s_key, b0, msg, len, mic);
}

lw_status lw_mic_data_up_11(const lw_crypto *c, const lw_key *s_nwk_s_int_key, const lw_key *f_nwk_s_int_key,
                            const lw_data_mic_params *p, const uint8_t *msg, size_t len,
                            uint8_t mic[LW_MIC_LEN])
{
    bool uplink, ack;
    if (mic == NULL)
        return LW_ERR_ARGUMENT;
    lw_status st = data_msg_check(msg, len, p, &uplink, &ack);
    if (st != LW_OK)
        return st;
    if (!uplink)
        return LW_ERR_MTYPE;
    uint8_t b0[16], b1[16], cmac_s[LW_MIC_LEN], cmac_f[LW_MIC_LEN];
    data_block(b0, true, p, len);
    data_block(b1, true, p, len);
    lw_put_le(b1 + 1, ack ? p->conf_fcnt : 0, 2);
    b1[3] = p->tx_dr;
    b1[4] = p->tx_ch;
    st = mic_with_block(c, s_nwk_s_int_key, b1, msg, len, cmac_s);
    if (st == LW_OK)
        st = mic_with_block(c, f_nwk_s_int_key, b0, msg, len, cmac_f);
    if (st == LW_OK) {
        mic[0] = cmac_s[0];
        mic[1] = cmac_s[1];
        mic[2] = cmac_f[0];
        mic[3] = cmac_f[1];
    }
    return st;
}

lw_status lw_mic_data_down_11(const lw_crypto *c, const lw_key *s_nwk_s_int_key, const lw_data_mic_params *p,
                              const uint8_t *msg, size_t len, uint8_t mic[LW_MIC_LEN])
{
    bool uplink, ack;
    if (mic == NULL)
        return LW_ERR_ARGUMENT;
    lw_status st = data_msg_check(msg, len, p, &uplink, &ack);
    if (st != LW_OK)
        return st;
    if (uplink)
        return LW_ERR_MTYPE;
    uint8_t b0[16];
    data_block(b0, false, p, len);
    lw_put_le(b0 + 1, ack ? p->conf_fcnt : 0, 2);
    return mic_with_block(c, s_nwk_s_int_key, b0, msg, len, mic);
}

int lw_mic_equal(const uint8_t a[LW_MIC_LEN], const uint8_t b[LW_MIC_LEN])
{
    if (a == NULL || b == NULL)
        return 0;
    return lw_secure_equal(a, b, LW_MIC_LEN);
}

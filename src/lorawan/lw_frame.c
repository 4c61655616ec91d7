/*
 * lw_frame.c - PHYPayload parsing and serialisation.
 *
 * Layout (LoRaWAN L2 1.1 section 4, 6.2.2-6.2.4):
 *
 *   PHYPayload  = MHDR(1) | MACPayload | MIC(4)
 *   MHDR        = MType(7..5) | RFU(4..2) | Major(1..0)
 *   data        = DevAddr(4) | FCtrl(1) | FCnt(2) | FOpts(0..15) | [FPort(1) | FRMPayload]
 *   join-req    = JoinEUI(8) | DevEUI(8) | DevNonce(2)
 *   rejoin 0/2  = type(1) | NetID(3) | DevEUI(8) | RJcount0(2)
 *   rejoin 1    = type(1) | JoinEUI(8) | DevEUI(8) | RJcount1(2)
 *   join-accept = encrypted(JoinNonce(3) | NetID(3) | DevAddr(4) | DLSettings(1) | RxDelay(1) | [CFList(16)] | MIC(4))
 *
 * Every multi-byte field is little-endian on the wire. Each length is checked
 * before the bytes it covers are read, so no input can make us read past
 * `len`; the fuzz target in tests/fuzz/ holds us to that.
 */
#include "lorawan/lw_frame.h"

#include <string.h>

#define FCTRL_ADR          0x80
#define FCTRL_ADR_ACK_REQ  0x40
#define FCTRL_ACK          0x20
#define FCTRL_F_PENDING    0x10
#define FCTRL_FOPTS_LEN    0x0f

uint64_t lw_get_le(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = n; i > 0; i--)
        v = (v << 8) | p[i - 1];
    return v;
}

void lw_put_le(uint8_t *p, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

uint64_t lw_get_be(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

void lw_put_be(uint8_t *p, uint64_t v, size_t n)
{
    for (size_t i = n; i > 0; i--) {
        p[i - 1] = (uint8_t)v;
        v >>= 8;
    }
}

bool lw_mtype_is_data(lw_mtype m)
{
    return m >= LW_MTYPE_UNCONFIRMED_DATA_UP && m <= LW_MTYPE_CONFIRMED_DATA_DOWN;
}

bool lw_mtype_is_uplink(lw_mtype m)
{
    return m == LW_MTYPE_UNCONFIRMED_DATA_UP || m == LW_MTYPE_CONFIRMED_DATA_UP;
}

const char *lw_mtype_name(lw_mtype m)
{
    switch (m) {
    case LW_MTYPE_JOIN_REQUEST:          return "JoinRequest";
    case LW_MTYPE_JOIN_ACCEPT:           return "JoinAccept";
    case LW_MTYPE_UNCONFIRMED_DATA_UP:   return "UnconfirmedDataUp";
    case LW_MTYPE_UNCONFIRMED_DATA_DOWN: return "UnconfirmedDataDown";
    case LW_MTYPE_CONFIRMED_DATA_UP:     return "ConfirmedDataUp";
    case LW_MTYPE_CONFIRMED_DATA_DOWN:   return "ConfirmedDataDown";
    case LW_MTYPE_REJOIN_REQUEST:        return "RejoinRequest";
    case LW_MTYPE_PROPRIETARY:           return "Proprietary";
    }
    return "Unknown";
}

/* A fixed-length kind: shorter is truncated, longer is too long. */
static lw_status expect_length(size_t len, size_t want)
{
    if (len < want)
        return LW_ERR_TRUNCATED;
    if (len > want)
        return LW_ERR_TOO_LONG;
    return LW_OK;
}

static lw_status decode_rejoin(const uint8_t *phy, size_t len, lw_rejoin_request *r)
{
    if (len < 2)
        return LW_ERR_TRUNCATED;
    uint8_t type = phy[1];
    if (type > LW_REJOIN_TYPE_2)
        return LW_ERR_FORMAT;
    r->type = (lw_rejoin_type)type;
    if (type == LW_REJOIN_TYPE_1) {
        lw_status st = expect_length(len, LW_REJOIN_1_LEN);
        if (st != LW_OK)
            return st;
        r->net_id = 0;
        r->join_eui = lw_get_le(phy + 2, 8);
        r->dev_eui = lw_get_le(phy + 10, 8);
        r->rj_count = (uint16_t)lw_get_le(phy + 18, 2);
    } else {
        lw_status st = expect_length(len, LW_REJOIN_02_LEN);
        if (st != LW_OK)
            return st;
        r->net_id = (uint32_t)lw_get_le(phy + 2, 3);
        r->join_eui = 0;
        r->dev_eui = lw_get_le(phy + 5, 8);
        r->rj_count = (uint16_t)lw_get_le(phy + 13, 2);
    }
    return LW_OK;
}

static lw_status decode_data(const uint8_t *phy, size_t len, lw_data_frame *d)
{
    if (len < LW_DATA_MIN_LEN)
        return LW_ERR_TRUNCATED;
    uint8_t fctrl = phy[5];
    d->dev_addr = (uint32_t)lw_get_le(phy + 1, 4);
    d->fctrl.adr = (fctrl & FCTRL_ADR) != 0;
    d->fctrl.adr_ack_req = (fctrl & FCTRL_ADR_ACK_REQ) != 0;
    d->fctrl.ack = (fctrl & FCTRL_ACK) != 0;
    d->fctrl.f_pending = (fctrl & FCTRL_F_PENDING) != 0;
    d->fctrl.fopts_len = fctrl & FCTRL_FOPTS_LEN;
    d->fcnt = (uint16_t)lw_get_le(phy + 6, 2);

    size_t fhdr_end = 8u + d->fctrl.fopts_len;
    if (fhdr_end + LW_MIC_LEN > len)
        return LW_ERR_TRUNCATED;
    d->fopts = phy + 8;

    size_t rest = len - fhdr_end - LW_MIC_LEN;
    if (rest == 0) {
        d->has_fport = false;
        d->fport = 0;
        d->frm_payload = NULL;
        d->frm_payload_len = 0;
        return LW_OK;
    }
    d->has_fport = true;
    d->fport = phy[fhdr_end];
    d->frm_payload = phy + fhdr_end + 1;
    d->frm_payload_len = rest - 1;
    /* MAC commands travel either in FOpts or in FRMPayload on port 0, never
     * in both (section 4.3.1.6). */
    if (d->fport == 0 && d->fctrl.fopts_len > 0)
        return LW_ERR_FORMAT;
    return LW_OK;
}

lw_status lw_frame_decode(const uint8_t *phy, size_t len, lw_frame *out)
{
    if (phy == NULL || out == NULL)
        return LW_ERR_ARGUMENT;
    memset(out, 0, sizeof(*out));
    if (len < 1)
        return LW_ERR_TRUNCATED;
    if (len > LW_PHY_MAX)
        return LW_ERR_TOO_LONG;

    out->mtype = (lw_mtype)(phy[0] >> 5);
    out->rfu = (uint8_t)((phy[0] >> 2) & 0x07);
    out->major = phy[0] & 0x03;
    if (out->major != 0)
        return LW_ERR_MAJOR;

    lw_status st = LW_OK;
    switch (out->mtype) {
    case LW_MTYPE_JOIN_REQUEST:
        st = expect_length(len, LW_JOIN_REQUEST_LEN);
        if (st != LW_OK)
            return st;
        out->u.join_request.join_eui = lw_get_le(phy + 1, 8);
        out->u.join_request.dev_eui = lw_get_le(phy + 9, 8);
        out->u.join_request.dev_nonce = (uint16_t)lw_get_le(phy + 17, 2);
        break;
    case LW_MTYPE_REJOIN_REQUEST:
        st = decode_rejoin(phy, len, &out->u.rejoin_request);
        break;
    case LW_MTYPE_JOIN_ACCEPT:
        if (len > LW_JOIN_ACCEPT_CFLIST_LEN)
            return LW_ERR_TOO_LONG;
        if (len != LW_JOIN_ACCEPT_LEN && len != LW_JOIN_ACCEPT_CFLIST_LEN)
            return LW_ERR_TRUNCATED;
        out->u.join_accept.ciphertext = phy + 1;
        out->u.join_accept.len = len - 1;
        return LW_OK;   /* the MIC is inside the ciphertext */
    case LW_MTYPE_UNCONFIRMED_DATA_UP:
    case LW_MTYPE_UNCONFIRMED_DATA_DOWN:
    case LW_MTYPE_CONFIRMED_DATA_UP:
    case LW_MTYPE_CONFIRMED_DATA_DOWN:
        st = decode_data(phy, len, &out->u.data);
        break;
    case LW_MTYPE_PROPRIETARY:
        out->u.proprietary.payload = phy + 1;
        out->u.proprietary.len = len - 1;
        return LW_OK;   /* no defined MIC */
    }
    if (st != LW_OK)
        return st;
    memcpy(out->mic, phy + len - LW_MIC_LEN, LW_MIC_LEN);
    return LW_OK;
}

/* Appends n bytes at *pos, failing when they do not fit. */
static lw_status put_bytes(uint8_t *out, size_t cap, size_t *pos, const uint8_t *src, size_t n)
{
    if (n > cap - *pos)
        return LW_ERR_BUFFER;
    /* memmove: a secure element encodes a frame into the one APDU buffer
     * that still holds the FOpts and payload a few bytes further on. */
    if (n > 0)
        memmove(out + *pos, src, n);
    *pos += n;
    return LW_OK;
}

static lw_status put_le(uint8_t *out, size_t cap, size_t *pos, uint64_t v, size_t n)
{
    uint8_t tmp[8];
    lw_put_le(tmp, v, n);
    return put_bytes(out, cap, pos, tmp, n);
}

static lw_status encode_data(const lw_data_frame *d, uint8_t *out, size_t cap, size_t *pos)
{
    if (d->fctrl.fopts_len > LW_FOPTS_MAX)
        return LW_ERR_FORMAT;
    if (d->fctrl.fopts_len > 0 && d->fopts == NULL)
        return LW_ERR_ARGUMENT;
    if (d->frm_payload_len > 0 && (d->frm_payload == NULL || !d->has_fport))
        return LW_ERR_ARGUMENT;
    if (d->has_fport && d->fport == 0 && d->fctrl.fopts_len > 0)
        return LW_ERR_FORMAT;
    uint8_t fctrl = (uint8_t)((d->fctrl.adr ? FCTRL_ADR : 0) | (d->fctrl.adr_ack_req ? FCTRL_ADR_ACK_REQ : 0) |
                              (d->fctrl.ack ? FCTRL_ACK : 0) | (d->fctrl.f_pending ? FCTRL_F_PENDING : 0) |
                              d->fctrl.fopts_len);
    lw_status st = put_le(out, cap, pos, d->dev_addr, 4);
    if (st == LW_OK)
        st = put_bytes(out, cap, pos, &fctrl, 1);
    if (st == LW_OK)
        st = put_le(out, cap, pos, d->fcnt, 2);
    if (st == LW_OK)
        st = put_bytes(out, cap, pos, d->fopts, d->fctrl.fopts_len);
    if (st == LW_OK && d->has_fport) {
        st = put_bytes(out, cap, pos, &d->fport, 1);
        if (st == LW_OK)
            st = put_bytes(out, cap, pos, d->frm_payload, d->frm_payload_len);
    }
    return st;
}

lw_status lw_frame_encode(const lw_frame *f, uint8_t *out, size_t cap, size_t *out_len)
{
    if (f == NULL || out == NULL || out_len == NULL)
        return LW_ERR_ARGUMENT;
    if (f->major > 3 || f->rfu > 7 || (unsigned)f->mtype > LW_MTYPE_PROPRIETARY)
        return LW_ERR_FORMAT;
    size_t pos = 0;
    uint8_t mhdr = (uint8_t)((unsigned)f->mtype << 5 | (unsigned)f->rfu << 2 | f->major);
    lw_status st = put_bytes(out, cap, &pos, &mhdr, 1);
    bool with_mic = true;

    switch (f->mtype) {
    case LW_MTYPE_JOIN_REQUEST: {
        const lw_join_request *j = &f->u.join_request;
        if (st == LW_OK)
            st = put_le(out, cap, &pos, j->join_eui, 8);
        if (st == LW_OK)
            st = put_le(out, cap, &pos, j->dev_eui, 8);
        if (st == LW_OK)
            st = put_le(out, cap, &pos, j->dev_nonce, 2);
        break;
    }
    case LW_MTYPE_REJOIN_REQUEST: {
        const lw_rejoin_request *r = &f->u.rejoin_request;
        if ((unsigned)r->type > LW_REJOIN_TYPE_2)
            return LW_ERR_FORMAT;
        uint8_t type = (uint8_t)r->type;
        if (st == LW_OK)
            st = put_bytes(out, cap, &pos, &type, 1);
        if (r->type == LW_REJOIN_TYPE_1) {
            if (st == LW_OK)
                st = put_le(out, cap, &pos, r->join_eui, 8);
        } else {
            if (r->net_id > 0xFFFFFFu)
                return LW_ERR_FORMAT;
            if (st == LW_OK)
                st = put_le(out, cap, &pos, r->net_id, 3);
        }
        if (st == LW_OK)
            st = put_le(out, cap, &pos, r->dev_eui, 8);
        if (st == LW_OK)
            st = put_le(out, cap, &pos, r->rj_count, 2);
        break;
    }
    case LW_MTYPE_JOIN_ACCEPT:
        if (f->u.join_accept.ciphertext == NULL)
            return LW_ERR_ARGUMENT;
        if (f->u.join_accept.len != LW_JOIN_ACCEPT_LEN - 1 && f->u.join_accept.len != LW_JOIN_ACCEPT_CFLIST_LEN - 1)
            return LW_ERR_FORMAT;
        if (st == LW_OK)
            st = put_bytes(out, cap, &pos, f->u.join_accept.ciphertext, f->u.join_accept.len);
        with_mic = false;
        break;
    case LW_MTYPE_PROPRIETARY:
        if (f->u.proprietary.payload == NULL && f->u.proprietary.len != 0)
            return LW_ERR_ARGUMENT;
        if (st == LW_OK)
            st = put_bytes(out, cap, &pos, f->u.proprietary.payload, f->u.proprietary.len);
        with_mic = false;
        break;
    default:
        if (st == LW_OK)
            st = encode_data(&f->u.data, out, cap, &pos);
        break;
    }
    if (st == LW_OK && with_mic)
        st = put_bytes(out, cap, &pos, f->mic, LW_MIC_LEN);
    if (st == LW_OK && pos > LW_PHY_MAX)
        st = LW_ERR_TOO_LONG;
    if (st != LW_OK)
        return st;
    *out_len = pos;
    return LW_OK;
}

lw_status lw_frame_set_mic(uint8_t *phy, size_t len, const uint8_t mic[LW_MIC_LEN])
{
    if (phy == NULL || mic == NULL)
        return LW_ERR_ARGUMENT;
    if (len < 1 + LW_MIC_LEN)
        return LW_ERR_TRUNCATED;
    memcpy(phy + len - LW_MIC_LEN, mic, LW_MIC_LEN);
    return LW_OK;
}

lw_status lw_join_accept_parse(const uint8_t *plain, size_t len, lw_join_accept *out, uint8_t mic[LW_MIC_LEN])
{
    if (plain == NULL || out == NULL || mic == NULL)
        return LW_ERR_ARGUMENT;
    if (len > LW_JOIN_ACCEPT_CFLIST_LEN)
        return LW_ERR_TOO_LONG;
    if (len != LW_JOIN_ACCEPT_LEN && len != LW_JOIN_ACCEPT_CFLIST_LEN)
        return LW_ERR_TRUNCATED;
    if ((plain[0] >> 5) != LW_MTYPE_JOIN_ACCEPT)
        return LW_ERR_MTYPE;
    if ((plain[0] & 0x03) != 0)
        return LW_ERR_MAJOR;
    memset(out, 0, sizeof(*out));
    out->join_nonce = (uint32_t)lw_get_le(plain + 1, 3);
    out->net_id = (uint32_t)lw_get_le(plain + 4, 3);
    out->dev_addr = (uint32_t)lw_get_le(plain + 7, 4);
    out->dl_settings = plain[11];
    out->rx_delay = plain[12];
    out->has_cflist = (len == LW_JOIN_ACCEPT_CFLIST_LEN);
    if (out->has_cflist)
        memcpy(out->cflist, plain + 13, LW_CFLIST_LEN);
    memcpy(mic, plain + len - LW_MIC_LEN, LW_MIC_LEN);
    return LW_OK;
}

lw_status lw_join_accept_build(const lw_join_accept *ja, uint8_t *out, size_t cap, size_t *out_len)
{
    if (ja == NULL || out == NULL || out_len == NULL)
        return LW_ERR_ARGUMENT;
    if (ja->join_nonce > 0xFFFFFFu || ja->net_id > 0xFFFFFFu)
        return LW_ERR_FORMAT;
    size_t need = ja->has_cflist ? LW_JOIN_ACCEPT_CFLIST_LEN - LW_MIC_LEN : LW_JOIN_ACCEPT_LEN - LW_MIC_LEN;
    if (cap < need)
        return LW_ERR_BUFFER;
    out[0] = (uint8_t)(LW_MTYPE_JOIN_ACCEPT << 5);
    lw_put_le(out + 1, ja->join_nonce, 3);
    lw_put_le(out + 4, ja->net_id, 3);
    lw_put_le(out + 7, ja->dev_addr, 4);
    out[11] = ja->dl_settings;
    out[12] = ja->rx_delay;
    if (ja->has_cflist)
        memcpy(out + 13, ja->cflist, LW_CFLIST_LEN);
    *out_len = need;
    return LW_OK;
}

/*
 * se_apdu.c - APDU parsing and dispatch to the element's operations.
 *
 * Parsing follows ISO 7816-4 short cases: 4 bytes (case 1), 5 (case 2, Le),
 * 5 + Lc (case 3) and 6 + Lc (case 4). Anything else is a length error. The
 * data field is parsed here, once, into the C structs of se.h; the
 * operations never see raw APDU bytes. Each command's handler is its own
 * frame (SE_NOINLINE), so that one command's structs are not on the stack
 * under another's.
 */
#include "se/se_apdu.h"
#include "se/se_internal.h"
#include "lorawan/lw_frame.h"
#include "lorawan/lw_mic.h"
#include "lorawan/lw_secure.h"
#include "mls/mls_cmd.h"

#include <string.h>

typedef struct apdu {
    uint8_t cla, ins, p1, p2;
    const uint8_t *data;
    size_t lc;
} apdu;

static se_status parse(const uint8_t *cmd, size_t len, apdu *a)
{
    if (len < 4)
        return SE_ERR_LENGTH;
    a->cla = cmd[0];
    a->ins = cmd[1];
    a->p1 = cmd[2];
    a->p2 = cmd[3];
    a->data = NULL;
    a->lc = 0;
    if (len == 4 || len == 5)
        return SE_OK;
    size_t lc = cmd[4];
    if (lc == 0 || (len != 5 + lc && len != 6 + lc))
        return SE_ERR_LENGTH;
    a->lc = lc;
    a->data = cmd + 5;
    return SE_OK;
}

SE_NOINLINE static se_status do_personalise(se *e, const apdu *a)
{
    if (a->lc != SE_PERSONALISE_LEN)
        return SE_ERR_LENGTH;
    se_personalisation p;
    const uint8_t *d = a->data;
    p.dev_eui = lw_get_be(d, 8);
    p.serial = lw_get_be(d + 8, 8);
    p.join_eui = lw_get_be(d + 16, 8);
    p.mac_version = d[24];
    memcpy(p.nwk_key_wrapped, d + 25, 24);
    memcpy(p.app_key_wrapped, d + 49, 24);
    memcpy(p.mls_key_wrapped, d + 73, 24);
    se_status st = se_personalise(e, &p);
    LW_WIPE(p);
    return st;
}

SE_NOINLINE static se_status do_get_info(se *e, uint8_t *out, size_t cap, size_t *n)
{
    if (cap < SE_INFO_LEN)
        return SE_ERR_BUFFER;
    se_info i;
    se_status st = se_get_info(e, &i);
    if (st != SE_OK)
        return st;
    uint8_t *p = out;
    p[0] = i.lifecycle;
    lw_put_be(p + 1, i.dev_eui, 8);
    lw_put_be(p + 9, i.serial, 8);
    p[17] = i.active_slot;
    p[18] = i.active_profile_id;
    lw_put_be(p + 19, i.join_eui, 8);
    p[27] = i.mac_version;
    p[28] = (uint8_t)((i.on_trial ? SE_INFO_ON_TRIAL : 0) | (i.joined ? SE_INFO_JOINED : 0) |
                      (i.has_join_nonce ? SE_INFO_HAS_JOIN_NONCE : 0));
    p[29] = i.join_attempts;
    p[30] = i.staged_slot;
    lw_put_be(p + 31, i.next_dev_nonce, 3);
    lw_put_be(p + 34, i.dev_addr, 4);
    lw_put_be(p + 38, i.fcnt_up, 4);
    lw_put_be(p + 42, i.nfcnt_down, 4);
    lw_put_be(p + 46, i.afcnt_down, 4);
    p[50] = i.mls_epoch;
    lw_put_be(p + 51, i.mls_down_counter, 4);
    lw_put_be(p + 55, i.net_id, 3);
    lw_put_be(p + 58, i.last_join_nonce, 3);
    *n = SE_INFO_LEN;
    return SE_OK;
}

SE_NOINLINE static se_status do_join_accept(se *e, const apdu *a, uint8_t *out, size_t cap, size_t *n)
{
    if (cap < 10 + LW_CFLIST_LEN)
        return SE_ERR_BUFFER;
    se_join_result r;
    bool frame = (a->p1 == SE_P_HOST_FRAME);
    se_status st = se_join_accept_for(e, a->data, a->lc, &r, frame ? out : NULL);
    if (st != SE_OK || frame) {
        *n = st == SE_OK ? a->lc : 0;   /* LoRaMac-node's form: the decrypted frame */
        return st;
    }
    lw_put_be(out, r.dev_addr, 4);
    lw_put_be(out + 4, r.net_id, 3);
    out[7] = r.dl_settings;
    out[8] = r.rx_delay;
    out[9] = r.mac_version;
    *n = 10;
    if (r.has_cflist) {
        memcpy(out + 10, r.cflist, LW_CFLIST_LEN);
        *n += LW_CFLIST_LEN;
    }
    return SE_OK;
}

SE_NOINLINE static se_status do_protect_uplink(se *e, const apdu *a, uint8_t *out, size_t cap, size_t *n)
{
    if (a->lc < 7)
        return SE_ERR_LENGTH;
    const uint8_t *d = a->data;
    se_uplink up;
    memset(&up, 0, sizeof(up));
    up.confirmed = (d[0] & SE_UP_CONFIRMED) != 0;
    up.adr = (d[0] & SE_UP_ADR) != 0;
    up.adr_ack_req = (d[0] & SE_UP_ADR_ACK_REQ) != 0;
    up.ack = (d[0] & SE_UP_ACK) != 0;
    up.class_b = (d[0] & SE_UP_CLASS_B) != 0;
    up.has_fport = (d[0] & SE_UP_HAS_FPORT) != 0;
    up.fport = d[1];
    up.conf_fcnt = (uint16_t)lw_get_be(d + 2, 2);
    up.tx_dr = d[4];
    up.tx_ch = d[5];
    up.fopts_len = d[6];
    if (up.fopts_len > LW_FOPTS_MAX || 7u + up.fopts_len > a->lc)
        return SE_ERR_LENGTH;
    up.fopts = d + 7;
    up.payload = d + 7 + up.fopts_len;
    up.payload_len = a->lc - 7 - up.fopts_len;
    return se_protect_uplink(e, &up, out, cap, n);
}

/* FOpts and FRMPayload are decrypted straight into their place in the
 * response, after its 7-byte head. */
SE_NOINLINE static se_status do_unprotect_downlink(se *e, const apdu *a, uint8_t *out, size_t cap, size_t *n)
{
    if (cap < 7)
        return SE_ERR_BUFFER;
    se_downlink dl;
    se_status st = se_unprotect_downlink(e, a->data, a->lc, out + 7, cap - 7, &dl);
    if (st != SE_OK)
        return st;
    out[0] = (uint8_t)((dl.confirmed ? SE_DOWN_CONFIRMED : 0) | (dl.ack ? SE_DOWN_ACK : 0) |
                       (dl.f_pending ? SE_DOWN_F_PENDING : 0) | (dl.adr ? SE_DOWN_ADR : 0) |
                       (dl.has_fport ? SE_DOWN_HAS_FPORT : 0) | (dl.mls ? SE_DOWN_MLS : 0) |
                       (dl.secure_pending ? SE_DOWN_SECURE : 0));
    lw_put_be(out + 1, dl.fcnt, 4);
    out[5] = dl.fport;
    out[6] = dl.fopts_len;
    *n = 7u + dl.fopts_len + dl.payload_len;
    return SE_OK;
}

SE_NOINLINE static se_status do_secure_get(se *e, const apdu *a, uint8_t *out, size_t cap, size_t *n)
{
    const uint8_t *cmd = NULL;
    size_t len = 0;
    se_status st = se_secure_command(e, &cmd, &len);
    if (st != SE_OK)
        return st;
    size_t off = (size_t)a->p1 << 8 | a->p2;
    if (off > len)
        return SE_ERR_ARGUMENT;
    size_t chunk = len - off < SE_SECURE_CHUNK ? len - off : SE_SECURE_CHUNK;
    if (chunk > cap)
        return SE_ERR_BUFFER;
    memcpy(out, cmd + off, chunk);
    *n = chunk;
    return SE_OK;
}

/* Chunks of the reply accumulate where the response will carry them
 * (se_secure_reply_append); P1 bit 0 rejects, P2 bit 0 marks the last. */
static se_status do_secure_reply(se *e, const apdu *a)
{
    se_status st = se_secure_reply_append(e, a->data, a->lc);
    if (st != SE_OK || !(a->p2 & 0x01))
        return st;
    return se_secure_reply_finish(e, (a->p1 & 0x01) == 0);
}


/* LoRaMac-node's join and rejoin: the host's frame without MIC in, the MIC
 * out. */
SE_NOINLINE static se_status do_join_mic(se *e, const apdu *a, uint8_t *out, size_t cap, size_t *n)
{
    uint8_t frame[LW_REJOIN_1_LEN];
    size_t len = 0;
    se_status st;
    if (a->ins == SE_INS_JOIN_REQUEST) {
        if (a->lc != LW_JOIN_REQUEST_LEN - LW_MIC_LEN)
            return SE_ERR_LENGTH;
        st = se_join_request_for(e, a->data, frame);
        len = LW_JOIN_REQUEST_LEN;
    } else {
        if (a->lc != (a->p1 == LW_REJOIN_TYPE_1 ? LW_REJOIN_1_LEN : LW_REJOIN_02_LEN) - LW_MIC_LEN)
            return SE_ERR_LENGTH;
        st = se_rejoin_request_for(e, (lw_rejoin_type)a->p1, a->data, frame, sizeof(frame), &len);
    }
    if (st == SE_OK && cap < LW_MIC_LEN)
        st = SE_ERR_BUFFER;
    if (st == SE_OK) {
        memcpy(out, frame + len - LW_MIC_LEN, LW_MIC_LEN);
        *n = LW_MIC_LEN;
    }
    return st;
}

/* KEYED CMAC and KEY STREAM: 13 block bytes, then the message (and, to
 * verify, the MIC expected). The answer is built after the data is used. */
SE_NOINLINE static se_status do_keyed(se *e, const apdu *a, uint8_t *out, size_t *n)
{
    bool cmac = a->ins == SE_INS_KEYED_CMAC;
    size_t tail = (cmac && (a->p2 & SE_P_VERIFY)) ? LW_MIC_LEN : 0;
    if (cmac ? a->lc < SE_BLOCK_FIELDS + 1 + tail : a->lc != SE_BLOCK_FIELDS)
        return SE_ERR_LENGTH;
    size_t len = a->lc - SE_BLOCK_FIELDS - tail;
    uint8_t r[16];
    se_status st = se_keyed(e, a->p1, cmac, a->data, a->p2, a->data + SE_BLOCK_FIELDS, len, r);
    if (st == SE_OK && tail > 0 && !lw_mic_equal(r, a->data + SE_BLOCK_FIELDS + len))
        st = SE_ERR_MIC;
    *n = (st == SE_OK && tail == 0) ? (cmac ? LW_MIC_LEN : 16) : 0;
    memcpy(out, r, *n);
    LW_WIPE(r);
    return st;
}

/* MLS DOWNLINK: what UNPROTECT DOWNLINK does with an FPort 200 payload, for
 * a host whose MAC decrypted it. */
static se_status do_mls_downlink(se *e, const apdu *a, uint8_t *out, size_t *n)
{
    se_status st = se_require_operational(e);
    if (st != SE_OK)
        return st;
    if (a->lc == 0)
        return SE_ERR_LENGTH;
    (void)se_mls_push(e, a->data, a->lc);   /* a bad fragment changes nothing; the IDM repeats */
    out[0] = (uint8_t)(SE_DOWN_MLS | (e->mls.secure_state == SE_SECURE_HELD ? SE_DOWN_SECURE : 0));
    *n = 1;
    return SE_OK;
}

static se_status dispatch(se *e, const apdu *a, uint8_t *out, size_t cap, size_t *n)
{
    *n = 0;
    if (a->cla != SE_CLA)
        return SE_ERR_CLA;
    switch (a->ins) {
    case SE_INS_PERSONALISE:
        return do_personalise(e, a);
    case SE_INS_GET_INFO:
        return do_get_info(e, out, cap, n);
    case SE_INS_JOIN_REQUEST: {
        if (a->p1 == SE_P_HOST_FRAME)
            return do_join_mic(e, a, out, cap, n);
        if (cap < LW_JOIN_REQUEST_LEN)
            return SE_ERR_BUFFER;
        se_status st = se_build_join_request(e, out);
        if (st == SE_OK)
            *n = LW_JOIN_REQUEST_LEN;
        return st;
    }
    case SE_INS_REJOIN_REQUEST:
        if (a->p2 == SE_P_HOST_FRAME)
            return do_join_mic(e, a, out, cap, n);
        return se_build_rejoin_request(e, (lw_rejoin_type)a->p1, out, cap, n);
    case SE_INS_JOIN_ACCEPT:
        return do_join_accept(e, a, out, cap, n);
    case SE_INS_PROTECT_UPLINK:
        return do_protect_uplink(e, a, out, cap, n);
    case SE_INS_UNPROTECT_DOWNLINK:
        return do_unprotect_downlink(e, a, out, cap, n);
    case SE_INS_MLS_UPLINK:
        if (a->p1 > cap)
            return SE_ERR_BUFFER;
        return se_mls_next_uplink(e, a->p1, out, n);
    case SE_INS_SET_TIME:
        if (a->lc != 4)
            return SE_ERR_LENGTH;
        se_set_time(e, (uint32_t)lw_get_be(a->data, 4));
        return SE_OK;
    case SE_INS_SECURE_GET:
        return do_secure_get(e, a, out, cap, n);
    case SE_INS_SECURE_REPLY:
        return do_secure_reply(e, a);
    case SE_INS_MLS_DOWNLINK:
        return do_mls_downlink(e, a, out, n);
    case SE_INS_KEYED_CMAC:
    case SE_INS_KEY_STREAM:
        if (cap < 16)
            return SE_ERR_BUFFER;
        return do_keyed(e, a, out, n);
    case SE_INS_MC_SETUP:
        if (a->lc != 20)
            return SE_ERR_LENGTH;
        return se_mc_setup(e, a->p1, a->p2, a->data, (uint32_t)lw_get_be(a->data + 16, 4));
    default:
        return SE_ERR_INS;
    }
}

/* The answer is written straight into the caller's buffer, its status
 * word after it; on failure the buffer is wiped and holds the word alone. */
se_status se_apdu_process(se *e, const uint8_t *cmd, size_t len, uint8_t *resp, size_t cap, size_t *resp_len)
{
    if (resp == NULL || resp_len == NULL || cap < 2)
        return SE_ERR_ARGUMENT;
    size_t n = 0;
    apdu a;
    se_status st = (e == NULL || cmd == NULL) ? SE_ERR_ARGUMENT : parse(cmd, len, &a);
    if (st == SE_OK)
        st = dispatch(e, &a, resp, cap - 2, &n);
    if (st == SE_OK && n + 2 > cap)
        st = SE_ERR_BUFFER;
    if (st != SE_OK) {
        lw_secure_wipe(resp, cap);
        n = 0;
    }
    uint16_t sw = se_status_sw(st);
    resp[n] = (uint8_t)(sw >> 8);
    resp[n + 1] = (uint8_t)sw;
    *resp_len = n + 2;
    return st;
}

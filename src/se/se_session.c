/*
 * se_session.c - the network session: join-accept, uplinks, downlinks.
 *
 * Counters: FCntUp is consumed and committed before the protected frame
 * leaves. A downlink's 32-bit counter is rebuilt from its 16 wire bits as the
 * smallest value not below the next expected one; the MIC covers the 32-bit
 * value, so an old frame replayed lands 65,536 higher and fails its MIC.
 * A gap above MAX_FCNT_GAP is refused outright (LoRaWAN 1.0.x rule).
 */
#include "se/se.h"
#include "se/se_internal.h"
#include "lorawan/lorawan.h"

#include <string.h>

#define MAX_FCNT_GAP 16384u

/* JoinNonce rule by MAC version: 1.0.4 and 1.1 count up, earlier versions
 * only promise a value different from the last one. */
static bool join_nonce_fresh(const se_profile *p, uint32_t join_nonce)
{
    if (!p->has_join_nonce)
        return true;
    if (p->mac_version == SE_MAC_1_0_4 || p->mac_version == SE_MAC_1_1)
        return join_nonce > p->last_join_nonce;
    return join_nonce != p->last_join_nonce;
}

static se_status open_join_accept(se *e, const se_profile *p, const uint8_t *phy, size_t len, uint8_t plain[33],
                                  lw_join_accept *ja, bool *is_11)
{
    const se_pending_join *pj = &e->pending;
    lw_key root;
    lw_js_keys js;
    memset(&js, 0, sizeof(js));
    uint8_t mic[LW_MIC_LEN], want[LW_MIC_LEN];
    se_status st = se_load_key(&root, p->nwk_key);
    bool need_js = (p->mac_version == SE_MAC_1_1);
    if (st == SE_OK && need_js)
        st = se_from_lw(lw_derive_js_keys(e->crypto, &root, p->dev_eui, &js));
    /* A rejoin's answer is encrypted with JSEncKey, a join's with NwkKey. */
    const lw_key *dec_key = (pj->join_req_type == LW_JOIN_REQ_TYPE_JOIN) ? &root : &js.js_enc_key;
    if (st == SE_OK)
        st = se_from_lw(lw_join_accept_decrypt(e->crypto, dec_key, phy, len, plain, 33));
    if (st == SE_OK)
        st = se_from_lw(lw_join_accept_parse(plain, len, ja, mic));
    if (st == SE_OK) {
        *is_11 = (ja->dl_settings & LW_DL_OPTNEG) != 0;
        if (*is_11 && p->mac_version != SE_MAC_1_1)
            st = SE_ERR_FRAME;   /* a 1.0.x device cannot accept a 1.1 session */
    }
    if (st == SE_OK && *is_11)
        st = se_from_lw(lw_mic_join_accept_11(e->crypto, &js.js_int_key, pj->join_req_type, pj->join_eui,
                                              pj->nonce, plain, len - LW_MIC_LEN, want));
    else if (st == SE_OK)
        st = se_from_lw(lw_mic_join_accept_10(e->crypto, &root, plain, len - LW_MIC_LEN, want));
    if (st == SE_OK && !lw_mic_equal(mic, want))
        st = SE_ERR_MIC;
    lw_key_wipe(&root);
    lw_js_keys_release(e->crypto, &js);
    return st;
}

static se_status derive_session(se *e, const se_profile *p, const lw_join_accept *ja, bool is_11, se_session *s)
{
    const se_pending_join *pj = &e->pending;
    lw_key nwk, app;
    se_status st = se_load_key(&nwk, p->nwk_key);
    if (st == SE_OK)
        st = se_load_key(&app, p->app_key);
    if (st == SE_OK && is_11) {
        lw_session_keys_11 k;
        st = se_from_lw(lw_derive_session_keys_11(e->crypto, &nwk, &app, ja->join_nonce, pj->join_eui,
                                                  pj->nonce, &k));
        if (st == SE_OK) {
            memcpy(s->f_nwk_s_int_key, k.f_nwk_s_int_key.material, 16);
            memcpy(s->s_nwk_s_int_key, k.s_nwk_s_int_key.material, 16);
            memcpy(s->nwk_s_enc_key, k.nwk_s_enc_key.material, 16);
            memcpy(s->app_s_key, k.app_s_key.material, 16);
        }
        lw_session_keys_11_release(e->crypto, &k);
    } else if (st == SE_OK) {
        /* 1.0.x, or a 1.1 device answered by a 1.0 network (OptNeg clear):
         * one network key, every network role takes it. */
        lw_session_keys_10 k;
        st = se_from_lw(lw_derive_session_keys_10(e->crypto, &nwk, ja->join_nonce, ja->net_id, pj->nonce, &k));
        if (st == SE_OK) {
            memcpy(s->f_nwk_s_int_key, k.nwk_s_key.material, 16);
            memcpy(s->s_nwk_s_int_key, k.nwk_s_key.material, 16);
            memcpy(s->nwk_s_enc_key, k.nwk_s_key.material, 16);
            memcpy(s->app_s_key, k.app_s_key.material, 16);
        }
        lw_session_keys_10_release(e->crypto, &k);
    }
    lw_key_wipe(&nwk);
    lw_key_wipe(&app);
    return st;
}

se_status se_process_join_accept(se *e, const uint8_t *phy, size_t len, se_join_result *out)
{
    return se_join_accept_for(e, phy, len, out, NULL);
}

se_status se_join_accept_for(se *e, const uint8_t *phy, size_t len, se_join_result *out, uint8_t *plain_out)
{
    se_status st = se_require_operational(e);
    if (st != SE_OK)
        return st;
    if (phy == NULL || out == NULL)
        return SE_ERR_ARGUMENT;
    if (!e->pending.active)
        return SE_ERR_STATE;
    if (len < 1 || (phy[0] >> 5) != LW_MTYPE_JOIN_ACCEPT)
        return SE_ERR_FRAME;
    if (len != LW_JOIN_ACCEPT_LEN && len != LW_JOIN_ACCEPT_CFLIST_LEN)
        return SE_ERR_FRAME;

    se_state next = e->st;
    se_profile *p = &next.profiles[e->pending.slot];
    if (!p->in_use) {
        se_state_wipe(&next);
        return SE_ERR_NO_PROFILE;
    }
    uint8_t plain[33];
    lw_join_accept ja;
    bool is_11 = false;
    st = open_join_accept(e, p, phy, len, plain, &ja, &is_11);
    if (st == SE_OK && !join_nonce_fresh(p, ja.join_nonce))
        st = SE_ERR_REPLAY;

    se_session s;
    memset(&s, 0, sizeof(s));
    if (st == SE_OK)
        st = derive_session(e, p, &ja, is_11, &s);
    if (st != SE_OK) {
        LW_WIPE(s);
        LW_WIPE(plain);
        se_state_wipe(&next);
        return st;
    }
    s.valid = true;
    s.slot = e->pending.slot;
    s.mac_version = is_11 ? SE_MAC_1_1 : (p->mac_version == SE_MAC_1_1 ? SE_MAC_1_0_4 : p->mac_version);
    s.dev_addr = ja.dev_addr;
    s.net_id = ja.net_id;
    next.session = s;
    LW_WIPE(s);
    p->has_join_nonce = true;
    p->last_join_nonce = ja.join_nonce;
    if (next.on_trial && e->pending.slot == next.active_slot) {
        /* The new network answered: the profile is confirmed. */
        next.on_trial = false;
        next.previous_slot = SE_NO_SLOT;
        next.join_attempts = 0;
        se_profile_drop_superseded(&next, next.profiles[next.active_slot].id);
    }
    st = se_commit(e, &next);
    if (st == SE_OK && plain_out != NULL)
        memcpy(plain_out, plain, len);   /* the frame as opened: no key in it */
    LW_WIPE(plain);
    if (st != SE_OK)
        return st;
    e->pending.active = false;
    memset(out, 0, sizeof(*out));
    out->dev_addr = ja.dev_addr;
    out->net_id = ja.net_id;
    out->dl_settings = ja.dl_settings;
    out->rx_delay = ja.rx_delay;
    out->has_cflist = ja.has_cflist;
    memcpy(out->cflist, ja.cflist, LW_CFLIST_LEN);
    out->mac_version = e->st.session.mac_version;
    return SE_OK;
}

se_status se_protect_uplink(se *e, const se_uplink *up, uint8_t *out, size_t cap, size_t *out_len)
{
    se_status st = se_require_operational(e);
    if (st != SE_OK)
        return st;
    if (up == NULL || out == NULL || out_len == NULL)
        return SE_ERR_ARGUMENT;
    if (!e->st.session.valid)
        return SE_ERR_NO_SESSION;
    if (up->fopts_len > LW_FOPTS_MAX || (up->fopts_len > 0 && up->fopts == NULL) ||
        (up->payload_len > 0 && (up->payload == NULL || !up->has_fport)) ||
        (up->has_fport && up->fport == 0 && up->fopts_len > 0) ||
        1u + 7u + up->fopts_len + 1u + up->payload_len + LW_MIC_LEN > LW_PHY_MAX)
        return SE_ERR_ARGUMENT;

    se_state next = e->st;
    se_session *s = &next.session;
    if (s->fcnt_up == UINT32_MAX) {
        se_state_wipe(&next);
        return SE_ERR_COUNTER;   /* the session is spent: join again */
    }
    uint32_t fcnt = s->fcnt_up++;
    if (up->confirmed) {
        s->has_conf_fcnt_up = true;
        s->conf_fcnt_up = fcnt;
    }
    bool v11 = (s->mac_version == SE_MAC_1_1);

    /* The frame is built in `out` with the plaintext, then FOpts and
     * FRMPayload are encrypted where they lie: no second frame on the
     * stack. */
    lw_frame f;
    memset(&f, 0, sizeof(f));
    f.mtype = up->confirmed ? LW_MTYPE_CONFIRMED_DATA_UP : LW_MTYPE_UNCONFIRMED_DATA_UP;
    f.u.data.dev_addr = s->dev_addr;
    f.u.data.fctrl.adr = up->adr;
    f.u.data.fctrl.adr_ack_req = up->adr_ack_req;
    f.u.data.fctrl.ack = up->ack;
    f.u.data.fctrl.f_pending = up->class_b;
    f.u.data.fctrl.fopts_len = up->fopts_len;
    f.u.data.fcnt = (uint16_t)fcnt;
    f.u.data.fopts = up->fopts;
    f.u.data.has_fport = up->has_fport;
    f.u.data.fport = up->fport;
    f.u.data.frm_payload = up->payload;
    f.u.data.frm_payload_len = up->payload_len;
    size_t len = 0;
    st = se_from_lw(lw_frame_encode(&f, out, cap, &len));
    uint8_t *fopts = out + 8;                          /* MHDR DevAddr FCtrl FCnt */
    uint8_t *payload = fopts + up->fopts_len + 1;      /* after FPort */
    lw_key k;
    memset(&k, 0, sizeof(k));
    if (st == SE_OK && up->fopts_len > 0 && v11)
        st = se_load_key(&k, s->nwk_s_enc_key);
    if (st == SE_OK && up->fopts_len > 0 && v11)
        st = se_from_lw(lw_fopts_crypt_11(e->crypto, &k, true, false, s->dev_addr, fcnt, fopts, up->fopts_len, fopts));
    if (st == SE_OK && up->payload_len > 0)
        st = se_load_key(&k, lw_frm_payload_key_is_network(up->fport) ? s->nwk_s_enc_key : s->app_s_key);
    if (st == SE_OK && up->payload_len > 0)
        st = se_from_lw(lw_frm_payload_crypt(e->crypto, &k, true, s->dev_addr, fcnt, payload, up->payload_len,
                                             payload));
    lw_key_wipe(&k);
    uint8_t mic[LW_MIC_LEN];
    lw_data_mic_params mp = {.dev_addr = s->dev_addr, .fcnt = fcnt, .conf_fcnt = up->conf_fcnt,
                             .tx_dr = up->tx_dr, .tx_ch = up->tx_ch};
    lw_key sint;
    memset(&sint, 0, sizeof(sint));
    if (st == SE_OK)
        st = se_load_key(&k, s->f_nwk_s_int_key);
    if (st == SE_OK && v11)
        st = se_load_key(&sint, s->s_nwk_s_int_key);
    if (st == SE_OK && v11)
        st = se_from_lw(lw_mic_data_up_11(e->crypto, &sint, &k, &mp, out, len - LW_MIC_LEN, mic));
    else if (st == SE_OK)
        st = se_from_lw(lw_mic_data_10(e->crypto, &k, &mp, out, len - LW_MIC_LEN, mic));
    if (st == SE_OK)
        st = se_from_lw(lw_frame_set_mic(out, len, mic));
    lw_key_wipe(&k);
    lw_key_wipe(&sint);
    if (st != SE_OK) {
        lw_secure_wipe(out, cap);
        se_state_wipe(&next);
        return st;
    }
    st = se_commit(e, &next);
    if (st != SE_OK) {
        lw_secure_wipe(out, cap);
        return st;
    }
    *out_len = len;
    return SE_OK;
}

/* The 32-bit counter a 16-bit wire value stands for, given the next one
 * expected; SE_ERR_REPLAY when the gap is too large to be genuine. */
static se_status rebuild_fcnt(uint32_t expected, uint16_t wire, uint32_t *out)
{
    uint32_t candidate = (expected & 0xFFFF0000u) | wire;
    if (candidate < expected) {
        if (expected > UINT32_MAX - 0x10000u)
            return SE_ERR_COUNTER;
        candidate += 0x10000u;
    }
    if (candidate - expected > MAX_FCNT_GAP)
        return SE_ERR_REPLAY;
    *out = candidate;
    return SE_OK;
}

/* Checks and decrypts data downlink *f (phy[len]) into out_buf[cap] and
 * commits the new downlink counter; *fcnt_out is the full counter. Out of
 * line on purpose: its state copy is off the stack again before the MLS
 * endpoint, the deepest path of the element, runs on the payload. */
SE_NOINLINE static se_status open_downlink(se *e, const lw_frame *f, const uint8_t *phy, size_t len, uint8_t *out_buf,
                                           size_t cap, uint32_t *fcnt_out)
{
    const lw_data_frame *d = &f->u.data;
    se_state next = e->st;
    se_session *s = &next.session;
    if (d->dev_addr != s->dev_addr) {
        se_state_wipe(&next);
        return SE_ERR_FRAME;
    }
    bool v11 = (s->mac_version == SE_MAC_1_1);
    /* 1.1 keeps an application counter for FPort > 0; 1.0.x one counter. */
    bool app_counter = v11 && d->has_fport && d->fport > 0;
    uint32_t *expected = app_counter ? &s->afcnt_down : &s->nfcnt_down;
    uint32_t fcnt = 0;
    se_status st = rebuild_fcnt(*expected, d->fcnt, &fcnt);

    lw_key enc, app, sint;
    memset(&enc, 0, sizeof(enc));
    memset(&app, 0, sizeof(app));
    memset(&sint, 0, sizeof(sint));
    uint8_t want[LW_MIC_LEN];
    lw_data_mic_params mp = {.dev_addr = s->dev_addr, .fcnt = fcnt,
                             .conf_fcnt = (uint16_t)(s->has_conf_fcnt_up ? s->conf_fcnt_up : 0)};
    if (st == SE_OK)
        st = se_load_key(&sint, s->s_nwk_s_int_key);
    if (st == SE_OK && v11)
        st = se_from_lw(lw_mic_data_down_11(e->crypto, &sint, &mp, phy, len - LW_MIC_LEN, want));
    else if (st == SE_OK)
        st = se_from_lw(lw_mic_data_10(e->crypto, &sint, &mp, phy, len - LW_MIC_LEN, want));
    if (st == SE_OK && !lw_mic_equal(want, f->mic))
        st = SE_ERR_MIC;
    if (st == SE_OK)
        st = se_load_key(&enc, s->nwk_s_enc_key);
    if (st == SE_OK)
        st = se_load_key(&app, s->app_s_key);
    uint8_t *fopts = out_buf;
    uint8_t *payload = out_buf + d->fctrl.fopts_len;
    if (st == SE_OK && d->fctrl.fopts_len > 0) {
        if (v11)
            st = se_from_lw(lw_fopts_crypt_11(e->crypto, &enc, false, app_counter, s->dev_addr, fcnt, d->fopts,
                                              d->fctrl.fopts_len, fopts));
        else
            memcpy(fopts, d->fopts, d->fctrl.fopts_len);
    }
    if (st == SE_OK && d->frm_payload_len > 0) {
        const lw_key *k = lw_frm_payload_key_is_network(d->fport) ? &enc : &app;
        st = se_from_lw(lw_frm_payload_crypt(e->crypto, k, false, s->dev_addr, fcnt, d->frm_payload,
                                             d->frm_payload_len, payload));
    }
    lw_key_wipe(&enc);
    lw_key_wipe(&app);
    lw_key_wipe(&sint);
    if (st != SE_OK) {
        lw_secure_wipe(out_buf, cap);
        se_state_wipe(&next);
        return st;
    }
    if (fcnt == UINT32_MAX)
        s->valid = false;   /* wrapping to 0 would reopen old counters: the session ends */
    else
        *expected = fcnt + 1;
    if (d->fctrl.ack)
        s->has_conf_fcnt_up = false;
    st = se_commit(e, &next);
    if (st != SE_OK) {
        lw_secure_wipe(out_buf, cap);
        return st;
    }
    *fcnt_out = fcnt;
    return SE_OK;
}

se_status se_unprotect_downlink(se *e, const uint8_t *phy, size_t len, uint8_t *out_buf, size_t cap,
                                se_downlink *out)
{
    se_status st = se_require_operational(e);
    if (st != SE_OK)
        return st;
    if (phy == NULL || out_buf == NULL || out == NULL)
        return SE_ERR_ARGUMENT;
    if (!e->st.session.valid)
        return SE_ERR_NO_SESSION;
    lw_frame f;
    st = se_from_lw(lw_frame_decode(phy, len, &f));
    if (st != SE_OK)
        return st;
    if (f.mtype != LW_MTYPE_UNCONFIRMED_DATA_DOWN && f.mtype != LW_MTYPE_CONFIRMED_DATA_DOWN)
        return SE_ERR_FRAME;
    const lw_data_frame *d = &f.u.data;
    if (cap < (size_t)d->fctrl.fopts_len + d->frm_payload_len)
        return SE_ERR_BUFFER;
    uint32_t fcnt = 0;
    st = open_downlink(e, &f, phy, len, out_buf, cap, &fcnt);
    if (st != SE_OK)
        return st;
    uint8_t *fopts = out_buf;
    uint8_t *payload = out_buf + d->fctrl.fopts_len;
    memset(out, 0, sizeof(*out));
    if (d->has_fport && d->fport == SE_MLS_FPORT && d->frm_payload_len > 0) {
        /* For the element itself: the host sees neither the fragment nor
         * what it carries. */
        (void)se_mls_push(e, payload, d->frm_payload_len);
        lw_secure_wipe(payload, d->frm_payload_len);
        out->mls = true;
        out->secure_pending = e->mls.secure_state == SE_SECURE_HELD;
        out->confirmed = (f.mtype == LW_MTYPE_CONFIRMED_DATA_DOWN);
        out->ack = d->fctrl.ack;
        out->fcnt = fcnt;
        out->has_fport = true;
        out->fport = d->fport;
        out->fopts_len = d->fctrl.fopts_len;
        out->fopts = fopts;
        out->payload = payload;
        return SE_OK;
    }
    out->confirmed = (f.mtype == LW_MTYPE_CONFIRMED_DATA_DOWN);
    out->ack = d->fctrl.ack;
    out->f_pending = d->fctrl.f_pending;
    out->adr = d->fctrl.adr;
    out->fcnt = fcnt;
    out->fopts_len = d->fctrl.fopts_len;
    out->fopts = fopts;
    out->has_fport = d->has_fport;
    out->fport = d->fport;
    out->payload_len = d->frm_payload_len;
    out->payload = payload;
    return SE_OK;
}

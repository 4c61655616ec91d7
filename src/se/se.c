/*
 * se.c - the secure element's operations.
 *
 * Pattern of every state-changing operation:
 *
 *     se_state next = e->st;   modify next;   commit(next);   e->st = next;   answer
 *
 * so a failed commit (power cut, worn flash) leaves RAM and NVM as they were,
 * and an answer never leaves the element before the counters it consumed are
 * durable. Keys are turned into lw_key values only for the call that uses
 * them and wiped right after.
 */
#include "se/se.h"
#include "se/se_internal.h"
#include "lorawan/lorawan.h"

#include <string.h>

#define NONCE_EXHAUSTED 0x10000u

se_status se_manufacture(se *e, const se_nvm *nvm, const lw_crypto *crypto, const uint8_t transport_key[16])
{
    if (e == NULL || nvm == NULL || crypto == NULL || transport_key == NULL)
        return SE_ERR_ARGUMENT;
    memset(e, 0, sizeof(*e));
    /* The element's own state is the probe: it is blank again below. */
    se_status st = se_store_open(&e->store, nvm, &e->st);
    se_state_wipe(&e->st);
    if (st == SE_OK)
        return SE_ERR_STATE;   /* never overwrite an element that holds an image */
    se_state next;
    memset(&next, 0, sizeof(next));
    next.lifecycle = SE_LIFECYCLE_BLANK;
    memcpy(next.transport_key, transport_key, 16);
    next.active_slot = SE_SLOT_BOOTSTRAP;
    next.previous_slot = SE_NO_SLOT;
    next.staged_slot = SE_NO_SLOT;
    e->crypto = crypto;
    se_mls_reset(e);
    st = se_commit(e, &next);
    e->booted = (st == SE_OK);
    return st;
}

se_status se_boot(se *e, const se_nvm *nvm, const lw_crypto *crypto)
{
    if (e == NULL || nvm == NULL || crypto == NULL)
        return SE_ERR_ARGUMENT;
    memset(e, 0, sizeof(*e));
    e->crypto = crypto;
    se_mls_reset(e);
    se_status st = se_store_open(&e->store, nvm, &e->st);
    e->booted = (st == SE_OK);
    return st;
}

static bool mac_version_ok(uint8_t v)
{
    return v == SE_MAC_1_0_2 || v == SE_MAC_1_0_3 || v == SE_MAC_1_0_4 || v == SE_MAC_1_1;
}

se_status se_personalise(se *e, const se_personalisation *p)
{
    if (e == NULL || p == NULL || !e->booted)
        return SE_ERR_ARGUMENT;
    if (e->st.lifecycle != SE_LIFECYCLE_BLANK)
        return SE_ERR_STATE;
    if (!mac_version_ok(p->mac_version))
        return SE_ERR_ARGUMENT;
    se_state next = e->st;
    lw_key transport;
    se_status st = se_load_key(&transport, e->st.transport_key);
    se_profile *boot = &next.profiles[SE_SLOT_BOOTSTRAP];
    if (st == SE_OK)
        st = se_unwrap_key(e->crypto, &transport, p->nwk_key_wrapped, boot->nwk_key);
    if (st == SE_OK)
        st = se_unwrap_key(e->crypto, &transport, p->app_key_wrapped, boot->app_key);
    if (st == SE_OK)
        st = se_unwrap_key(e->crypto, &transport, p->mls_key_wrapped, next.mls_root_key);
    lw_key_wipe(&transport);
    if (st != SE_OK) {
        se_state_wipe(&next);
        return st;
    }
    boot->in_use = true;
    boot->id = 0;
    boot->dev_eui = p->dev_eui;
    boot->join_eui = p->join_eui;
    boot->mac_version = p->mac_version;
    boot->max_join_attempts = 0;
    next.dev_eui = p->dev_eui;
    next.serial = p->serial;
    next.mls_up_counter = 1;   /* MLS counters start at 1: 0 means none */
    next.active_slot = SE_SLOT_BOOTSTRAP;
    lw_secure_wipe(next.transport_key, sizeof(next.transport_key));
    next.lifecycle = SE_LIFECYCLE_OPERATIONAL;
    /* The flash still holds the blank state with the transport key: the
     * personalised state goes to a fresh page and every other page is
     * erased (a purge cut short is finished at the next boot). */
    return se_commit_erasing_history(e, &next);
}

static se_nonce_entry *nonce_entry(se_state *s, uint64_t join_eui, bool create)
{
    for (unsigned i = 0; i < SE_NONCE_TABLE; i++) {
        if (s->nonces[i].in_use && s->nonces[i].join_eui == join_eui)
            return &s->nonces[i];
    }
    if (!create)
        return NULL;
    for (unsigned i = 0; i < SE_NONCE_TABLE; i++) {
        if (!s->nonces[i].in_use) {
            s->nonces[i].in_use = true;
            s->nonces[i].join_eui = join_eui;
            s->nonces[i].next_dev_nonce = 0;
            return &s->nonces[i];
        }
    }
    return NULL;
}

se_status se_get_info(const se *e, se_info *out)
{
    if (e == NULL || out == NULL || !e->booted)
        return SE_ERR_ARGUMENT;
    memset(out, 0, sizeof(*out));
    const se_state *s = &e->st;
    const se_profile *p = &s->profiles[s->active_slot];
    out->lifecycle = s->lifecycle;
    out->dev_eui = s->dev_eui;
    out->serial = s->serial;
    out->active_slot = s->active_slot;
    out->active_profile_id = p->id;
    out->join_eui = p->join_eui;
    out->mac_version = p->mac_version;
    out->on_trial = s->on_trial;
    out->join_attempts = s->join_attempts;
    out->staged_slot = s->staged_slot;
    for (unsigned i = 0; i < SE_NONCE_TABLE; i++) {
        if (s->nonces[i].in_use && s->nonces[i].join_eui == p->join_eui)
            out->next_dev_nonce = s->nonces[i].next_dev_nonce;
    }
    out->rj_count1 = s->rj_count1;
    out->joined = s->session.valid;
    out->dev_addr = s->session.dev_addr;
    out->net_id = s->session.net_id;
    out->fcnt_up = s->session.fcnt_up;
    out->nfcnt_down = s->session.nfcnt_down;
    out->afcnt_down = s->session.afcnt_down;
    out->rj_count0 = s->session.rj_count0;
    out->mls_epoch = s->mls_epoch;
    out->mls_down_counter = s->mls_down_counter;
    out->mls_up_counter = s->mls_up_counter;
    out->has_join_nonce = p->has_join_nonce;
    out->last_join_nonce = p->last_join_nonce;
    return SE_OK;
}

/* Falls back from a trial profile whose attempts are spent, and records an
 * event for the Identity Manager (docs/mls.md, EVENT). */
static void fall_back(se_state *s)
{
    s->fallback_profile_id = s->profiles[s->active_slot].id;
    s->fallback_reason = SE_FALLBACK_JOINS;
    s->fallback_attempts = s->join_attempts;
    s->last_event_id = (uint8_t)(s->last_event_id == 255 ? 1 : s->last_event_id + 1);
    s->event_id = s->last_event_id;
    s->active_slot = s->previous_slot;
    s->previous_slot = SE_NO_SLOT;
    s->on_trial = false;
    s->join_attempts = 0;
    memset(&s->session, 0, sizeof(s->session));
    /* A renewal's copy is dropped; a new profile waits, staged, for the
     * Identity Manager to try it again or delete it. */
    uint16_t left_id = s->fallback_profile_id;
    se_profile_drop_superseded(s, left_id);
    for (unsigned i = 1; i < SE_PROFILE_SLOTS; i++) {
        if (s->profiles[i].in_use && s->profiles[i].id == left_id && i != s->active_slot &&
            s->staged_slot == SE_NO_SLOT)
            s->staged_slot = (uint8_t)i;
    }
}

/* A join-request the host built (LoRaMac-node's serializer) names the
 * element's own identity for the profile that joins: MHDR, JoinEUI and
 * DevEUI as the element would write them. */
static bool join_frame_names(const uint8_t *frame, const se_profile *p)
{
    return frame[0] == (LW_MTYPE_JOIN_REQUEST << 5) && lw_get_le(frame + 1, 8) == p->join_eui &&
           lw_get_le(frame + 9, 8) == p->dev_eui;
}

se_status se_join_request_for(se *e, const uint8_t *host_frame, uint8_t out[LW_JOIN_REQUEST_LEN])
{
    se_status st = se_require_operational(e);
    if (st != SE_OK)
        return st;
    if (out == NULL)
        return SE_ERR_ARGUMENT;
    se_state next = e->st;
    /* A switch the Identity Manager ordered happens at the latest when the
     * host decides to join. */
    bool switched = se_profile_apply_switch(&next);
    bool changed = switched;
    if (next.on_trial) {
        const se_profile *trial = &next.profiles[next.active_slot];
        if (trial->max_join_attempts > 0 && next.join_attempts >= trial->max_join_attempts) {
            fall_back(&next);
            changed = true;
        }
    }
    const se_profile *p = &next.profiles[next.active_slot];
    if (!p->in_use) {
        se_state_wipe(&next);
        return SE_ERR_NO_PROFILE;
    }
    if (host_frame != NULL && !join_frame_names(host_frame, p)) {
        /* The host built its frame for the profile it knew. When the
         * element has just switched (as it would have at this join anyway)
         * the switch is kept and the host is told to read GET INFO and
         * join again; otherwise nothing changes. */
        if (!changed) {
            se_state_wipe(&next);
            return SE_ERR_ARGUMENT;
        }
        st = se_commit(e, &next);
        if (st != SE_OK)
            return st;
        if (switched)
            e->mls.tx_active = false;   /* the answer that ordered the switch is no longer sent */
        return SE_ERR_STATE;
    }
    if (next.on_trial)
        next.join_attempts++;
    se_nonce_entry *n = nonce_entry(&next, p->join_eui, true);
    uint32_t want = (host_frame != NULL) ? (uint32_t)lw_get_le(host_frame + 17, 2) : 0;
    if (n != NULL && host_frame == NULL)
        want = n->next_dev_nonce;
    if (n == NULL || n->next_dev_nonce >= NONCE_EXHAUSTED) {
        se_state_wipe(&next);
        return SE_ERR_COUNTER;
    }
    if (want < n->next_dev_nonce) {
        se_state_wipe(&next);
        return SE_ERR_REPLAY;   /* a DevNonce this JoinEUI has seen */
    }
    uint16_t dev_nonce = (uint16_t)want;
    n->next_dev_nonce = want + 1;

    lw_frame f;
    memset(&f, 0, sizeof(f));
    f.mtype = LW_MTYPE_JOIN_REQUEST;
    f.u.join_request.join_eui = p->join_eui;
    f.u.join_request.dev_eui = p->dev_eui;
    f.u.join_request.dev_nonce = dev_nonce;
    uint8_t frame[LW_JOIN_REQUEST_LEN];
    size_t len = 0;
    uint8_t mic[LW_MIC_LEN];
    lw_key k;
    st = se_load_key(&k, p->nwk_key);
    if (st == SE_OK)
        st = se_from_lw(lw_frame_encode(&f, frame, sizeof(frame), &len));
    if (st == SE_OK)
        st = se_from_lw(lw_mic_join_request(e->crypto, &k, frame, len - LW_MIC_LEN, mic));
    if (st == SE_OK)
        st = se_from_lw(lw_frame_set_mic(frame, len, mic));
    lw_key_wipe(&k);
    se_pending_join pending = {.active = true, .join_req_type = LW_JOIN_REQ_TYPE_JOIN,
                               .slot = next.active_slot, .join_eui = p->join_eui, .nonce = dev_nonce};
    if (st != SE_OK) {
        se_state_wipe(&next);
        return st;
    }
    st = se_commit(e, &next);
    if (st != SE_OK)
        return st;
    if (switched)
        e->mls.tx_active = false;
    e->pending = pending;
    memcpy(out, frame, LW_JOIN_REQUEST_LEN);
    return SE_OK;
}

se_status se_build_join_request(se *e, uint8_t out[LW_JOIN_REQUEST_LEN])
{
    return se_join_request_for(e, NULL, out);
}

se_status se_build_rejoin_request(se *e, lw_rejoin_type type, uint8_t *out, size_t cap, size_t *out_len)
{
    return se_rejoin_request_for(e, type, NULL, out, cap, out_len);
}

se_status se_rejoin_request_for(se *e, lw_rejoin_type type, const uint8_t *host_frame, uint8_t *out, size_t cap,
                                size_t *out_len)
{
    se_status st = se_require_operational(e);
    if (st != SE_OK)
        return st;
    if (out == NULL || out_len == NULL || (unsigned)type > LW_REJOIN_TYPE_2)
        return SE_ERR_ARGUMENT;
    const se_session *s = &e->st.session;
    if (!s->valid)
        return SE_ERR_NO_SESSION;
    if (s->mac_version != SE_MAC_1_1)
        return SE_ERR_STATE;   /* rejoin-requests exist only in 1.1 */
    se_state next = e->st;
    const se_profile *p = &next.profiles[next.session.slot];

    lw_frame f;
    memset(&f, 0, sizeof(f));
    f.mtype = LW_MTYPE_REJOIN_REQUEST;
    f.u.rejoin_request.type = type;
    f.u.rejoin_request.dev_eui = p->dev_eui;
    uint32_t *counter = (type == LW_REJOIN_TYPE_1) ? &next.rj_count1 : &next.session.rj_count0;
    if (*counter > 0xFFFFu) {
        se_state_wipe(&next);
        return SE_ERR_COUNTER;
    }
    uint32_t want = *counter;
    if (host_frame != NULL)
        want = (uint32_t)lw_get_le(host_frame + (type == LW_REJOIN_TYPE_1 ? 18 : 13), 2);
    if (want < *counter) {
        se_state_wipe(&next);
        return SE_ERR_REPLAY;   /* the stack's counter is behind the element's */
    }
    uint16_t rj = (uint16_t)want;
    *counter = want + 1;
    f.u.rejoin_request.rj_count = rj;
    if (type == LW_REJOIN_TYPE_1)
        f.u.rejoin_request.join_eui = p->join_eui;
    else
        f.u.rejoin_request.net_id = next.session.net_id;

    uint8_t frame[LW_REJOIN_1_LEN];
    size_t len = 0;
    uint8_t mic[LW_MIC_LEN];
    lw_key k, root;
    memset(&k, 0, sizeof(k));
    lw_js_keys js;
    memset(&js, 0, sizeof(js));
    st = se_from_lw(lw_frame_encode(&f, frame, sizeof(frame), &len));
    if (st == SE_OK && type == LW_REJOIN_TYPE_1) {
        st = se_load_key(&root, p->nwk_key);
        if (st == SE_OK)
            st = se_from_lw(lw_derive_js_keys(e->crypto, &root, p->dev_eui, &js));
        lw_key_wipe(&root);
        if (st == SE_OK)
            st = se_from_lw(lw_mic_rejoin_request(e->crypto, &js.js_int_key, frame, len - LW_MIC_LEN, mic));
    } else if (st == SE_OK) {
        st = se_load_key(&k, next.session.s_nwk_s_int_key);
        if (st == SE_OK)
            st = se_from_lw(lw_mic_rejoin_request(e->crypto, &k, frame, len - LW_MIC_LEN, mic));
    }
    lw_key_wipe(&k);
    lw_js_keys_release(e->crypto, &js);
    if (st == SE_OK)
        st = se_from_lw(lw_frame_set_mic(frame, len, mic));
    if (st == SE_OK && host_frame != NULL && memcmp(frame, host_frame, len - LW_MIC_LEN) != 0)
        st = SE_ERR_ARGUMENT;   /* not the frame this element would send */
    if (st == SE_OK && cap < len)
        st = SE_ERR_BUFFER;
    se_pending_join pending = {.active = true, .join_req_type = (uint8_t)type, .slot = next.session.slot,
                               .join_eui = p->join_eui, .nonce = rj};
    if (st != SE_OK) {
        se_state_wipe(&next);
        return st;
    }
    st = se_commit(e, &next);
    if (st != SE_OK)
        return st;
    e->pending = pending;
    memcpy(out, frame, len);
    *out_len = len;
    return SE_OK;
}

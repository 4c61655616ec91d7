/*
 * js_handler.c - a Backend Interfaces body in, an answer out.
 *
 * The order of checks for a JoinReq/RejoinReq follows the cost of each and
 * what it may reveal: parse (bi) -> ReceiverID is us -> the peer is
 * authenticated for its SenderID -> PHYPayload decodes and matches DevEUI ->
 * the device exists under that JoinEUI -> SenderID may activate it ->
 * the MIC (one C_UnwrapKey and one CMAC in the token) -> make_session()
 * for the JoinNonce the device should get, outside any lock -> one store
 * transaction (batched with other threads' joins on SQLite) that applies
 * the DevNonce rule, takes the JoinNonce and keeps the session: the prepared
 * one if the JoinNonce granted is the one predicted, else one made by
 * make_session() again inside. The answer is built only from what that
 * transaction committed, so an answer never leaves for a nonce the database
 * did not keep. The peer KEKs are looked up before the transaction: a missing KEK
 * refuses the join without consuming a DevNonce.
 *
 * Rejoin types 0 and 2 carry a MIC under SNwkSIntKey, which the network
 * server checks before it forwards the request (TS002 1.0 §11.4.1); the JS
 * checks type 1 (JSIntKey) itself.
 *
 * Onboarded operators (js.h, docs/operators.md): a SenderID that is an
 * operator's NetID authenticates with that operator's credentials, is
 * refused while it is suspended (ActivationDisallowed, NoRoamingAgreement),
 * may activate every secure element of the Identity Manager whose maker
 * admits it besides the devices whose home or allowed NetID it is, and
 * receives its network session keys under its own KEK. A HomeNSReq about
 * an SE that moved to its customer answers the customer's NetID, within
 * the customer's restriction.
 */
#include "js/js.h"
#include "js/js_internal.h"

#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define JSON_TYPE "application/json"

static void answer_error(js_reply *out, const bi_header *h, bi_result_code code, const char *desc)
{
    size_t n = 0;
    out->has_result = true;
    out->result = code;
    snprintf(out->note, sizeof(out->note), "%s", desc != NULL ? desc : "");
    if (bi_error_answer_build(h, code, desc, out->body, sizeof(out->body), &n) != BI_OK) {
        js_reply_text(out, 500, "text/plain", "could not build the answer\n");
        return;
    }
    out->http_status = 200;
    out->content_type = JSON_TYPE;
    out->len = n;
}

static void sender_text(const bi_id *id, char out[BI_ID_MAX + 1])
{
    if (id->kind == BI_ID_NET_ID)
        snprintf(out, BI_ID_MAX + 1, "%06llX", (unsigned long long)id->value);
    else if (id->kind == BI_ID_EUI)
        snprintf(out, BI_ID_MAX + 1, "%016llX", (unsigned long long)id->value);
    else
        snprintf(out, BI_ID_MAX + 1, "%s", id->raw);
}

static bool net_in(const uint32_t *list, size_t n, uint32_t net_id)
{
    for (size_t i = 0; i < n; i++) {
        if (list[i] == net_id)
            return true;
    }
    return false;
}

/* The SE's maker admits this operator (every onboarded one, or a list). */
static bool maker_admits(const js_se_policy *p, uint32_t net_id)
{
    return p->is_se && (p->all_operators || net_in(p->operators, p->operator_count, net_id));
}

static bool net_allowed(const store_device *d, uint32_t net_id)
{
    if (d->home_net_id == net_id)
        return true;
    for (size_t i = 0; i < d->allowed_net_id_count; i++) {
        if (d->allowed_net_ids[i] == net_id)
            return true;
    }
    return false;
}

/* ---------------------------------------------------------------- joins */

typedef struct join_job {
    js_worker *w;
    const js_config *cfg;
    const store_device *dev;
    const bi_join_req *jr;
    const char *ns_label;
    const char *as_label;
    const lw_key *ns_kek;
    const lw_key *as_kek;      /* NULL: the AppSKey is only kept */
    lw_key nwk_key, app_key;
    lw_js_keys js;
    bool v11;                  /* OptNeg: 1.1 keys and MIC */
    int rejoin_type;           /* -1 for a JoinReq */
    uint32_t net_id;
    uint64_t join_eui;
    bi_join_ans ans;
    char err[JS_ERR_MAX];
} join_job;

static store_status fail_job(join_job *j, const char *what, lw_status ls)
{
    js_errf(j->err, "%s: %s", what, lw_strerror(ls));
    return STORE_ERR_ABORTED;
}

static store_status wrap_env(join_job *j, const lw_key *kek, const char *label, const lw_key *key,
                             bi_key_envelope *env)
{
    uint8_t wrapped[BI_WRAPPED_KEY_LEN];
    lw_status ls = lw_key_wrap(hsm_session_crypto(j->w->sess), kek, key, wrapped, sizeof(wrapped));
    if (ls != LW_OK)
        return fail_job(j, "wrapping a session key", ls);
    if (bi_key_envelope_set_wrapped(env, label, wrapped) != BI_OK) {
        js_errf(j->err, "KEK label does not fit a KeyEnvelope");
        return STORE_ERR_ABORTED;
    }
    return STORE_OK;
}

/* Builds the join-accept with the granted JoinNonce; keys stay in the token. */
static store_status build_accept(join_job *j, const store_join_grant *g, const lw_key *enc_key)
{
    const lw_crypto *c = hsm_session_crypto(j->w->sess);
    lw_join_accept ja;
    memset(&ja, 0, sizeof(ja));
    ja.join_nonce = g->join_nonce;
    ja.net_id = j->net_id;
    ja.dev_addr = j->jr->dev_addr;
    ja.dl_settings = j->v11 ? (uint8_t)(j->jr->dl_settings | LW_DL_OPTNEG) : (uint8_t)(j->jr->dl_settings & 0x7F);
    ja.rx_delay = j->jr->rx_delay;
    ja.has_cflist = j->jr->has_cflist;
    if (ja.has_cflist)
        memcpy(ja.cflist, j->jr->cflist, LW_CFLIST_LEN);
    uint8_t plain[LW_JOIN_ACCEPT_CFLIST_LEN];
    size_t n = 0;
    lw_status ls = lw_join_accept_build(&ja, plain, sizeof(plain), &n);
    uint8_t mic[LW_MIC_LEN];
    if (ls == LW_OK) {
        if (j->v11) {
            uint8_t jrt = j->rejoin_type < 0 ? LW_JOIN_REQ_TYPE_JOIN : (uint8_t)j->rejoin_type;
            ls = lw_mic_join_accept_11(c, &j->js.js_int_key, jrt, j->join_eui, g->dev_nonce, plain, n, mic);
        } else {
            ls = lw_mic_join_accept_10(c, &j->nwk_key, plain, n, mic);
        }
    }
    if (ls != LW_OK)
        return fail_job(j, "join-accept", ls);
    memcpy(plain + n, mic, LW_MIC_LEN);
    n += LW_MIC_LEN;
    ls = lw_join_accept_encrypt(c, enc_key, plain, n, j->ans.phy_payload, sizeof(j->ans.phy_payload));
    LW_WIPE(plain);
    if (ls != LW_OK)
        return fail_job(j, "join-accept encryption", ls);
    j->ans.phy_payload_len = n;
    return STORE_OK;
}

/* The store's callback: runs inside the join transaction. */
static store_status make_session(void *ctx, const store_join_grant *g, store_session *s)
{
    join_job *j = ctx;
    const lw_crypto *c = hsm_session_crypto(j->w->sess);
    memset(&j->ans, 0, sizeof(j->ans));
    lw_session_keys_10 k10;
    lw_session_keys_11 k11;
    memset(&k10, 0, sizeof(k10));
    memset(&k11, 0, sizeof(k11));
    lw_status ls;
    if (j->v11)
        ls = lw_derive_session_keys_11(c, &j->nwk_key, &j->app_key, g->join_nonce, j->join_eui, g->dev_nonce, &k11);
    else
        ls = lw_derive_session_keys_10(c, &j->nwk_key, g->join_nonce, j->net_id, g->dev_nonce, &k10);
    if (ls != LW_OK)
        return fail_job(j, "session key derivation", ls);

    store_status st = build_accept(j, g, j->rejoin_type < 0 ? &j->nwk_key : &j->js.js_enc_key);
    const lw_key *app_s_key = j->v11 ? &k11.app_s_key : &k10.app_s_key;
    if (st == STORE_OK && j->v11) {
        st = wrap_env(j, j->ns_kek, j->ns_label, &k11.f_nwk_s_int_key, &j->ans.f_nwk_s_int_key);
        if (st == STORE_OK)
            st = wrap_env(j, j->ns_kek, j->ns_label, &k11.s_nwk_s_int_key, &j->ans.s_nwk_s_int_key);
        if (st == STORE_OK)
            st = wrap_env(j, j->ns_kek, j->ns_label, &k11.nwk_s_enc_key, &j->ans.nwk_s_enc_key);
    } else if (st == STORE_OK) {
        st = wrap_env(j, j->ns_kek, j->ns_label, &k10.nwk_s_key, &j->ans.nwk_s_key);
    }
    if (st == STORE_OK && j->as_kek != NULL)
        st = wrap_env(j, j->as_kek, j->as_label, app_s_key, &j->ans.app_s_key);
    if (st == STORE_OK) {
        size_t n = 0;
        hsm_status hs = hsm_key_wrap_blob(j->w->sess, app_s_key, s->app_s_key.data, sizeof(s->app_s_key.data), &n);
        if (hs != HSM_OK) {
            js_errf(j->err, "keeping the AppSKey: %s", hsm_strerror(hs));
            st = STORE_ERR_ABORTED;
        }
        s->app_s_key.len = n;
    }
    if (st == STORE_OK) {
        /* 16 random bytes, like TTS's ULIDs: unique per device with
         * overwhelming probability; the store refuses a duplicate anyway. */
        if (getrandom(s->session_key_id, 16, 0) != 16) {
            js_errf(j->err, "random generator failed");
            st = STORE_ERR_ABORTED;
        } else {
            s->session_key_id_len = 16;
            memcpy(j->ans.session_key_id, s->session_key_id, 16);
            j->ans.session_key_id_len = 16;
        }
        s->dev_addr = j->jr->dev_addr;
        s->lifetime_s = j->cfg->lifetime;
        j->ans.has_lifetime = true;
        j->ans.lifetime = j->cfg->lifetime;
    }
    if (j->v11)
        lw_session_keys_11_release(c, &k11);
    else
        lw_session_keys_10_release(c, &k10);
    return st;
}

/* The root keys are the worker's cache's (js_worker_root_key): only the
 * copies of their handles go. */
static void release_job(join_job *j)
{
    const lw_crypto *c = hsm_session_crypto(j->w->sess);
    lw_js_keys_release(c, &j->js);
    lw_secure_wipe(&j->nwk_key, sizeof(j->nwk_key));
    lw_secure_wipe(&j->app_key, sizeof(j->app_key));
}

static hsm_status root_key(join_job *j, js_root_role role, const store_blob *blob, lw_key *out)
{
    const lw_key *k = NULL;
    hsm_status hs = js_worker_root_key(j->w, j->dev->dev_eui, role, blob, &k);
    if (hs == HSM_OK)
        *out = *k;
    return hs;
}

static void handle_join(js_worker *w, const bi_request *req, const store_operator *op, store_batch_ticket *ticket,
                        js_reply *out)
{
    const js_config *cfg = w->ctx->cfg;
    const bi_join_req *jr = &req->u.join;
    bool rejoin = req->hdr.message_type == BI_MSG_REJOIN_REQ;
    char msg[JS_ERR_MAX];
    lw_frame f;
    lw_status ls = lw_frame_decode(jr->phy_payload, jr->phy_payload_len, &f);
    if (ls == LW_ERR_TRUNCATED || ls == LW_ERR_TOO_LONG) {
        answer_error(out, &req->hdr, BI_RESULT_FRAME_SIZE_ERROR, "PHYPayload: wrong size for its message type");
        return;
    }
    lw_mtype want = rejoin ? LW_MTYPE_REJOIN_REQUEST : LW_MTYPE_JOIN_REQUEST;
    if (ls != LW_OK || f.mtype != want) {
        answer_error(out, &req->hdr, BI_RESULT_MALFORMED,
                     rejoin ? "PHYPayload: not a rejoin-request" : "PHYPayload: not a join-request");
        return;
    }
    uint64_t frame_dev_eui = rejoin ? f.u.rejoin_request.dev_eui : f.u.join_request.dev_eui;
    out->has_dev_eui = true;
    out->dev_eui = jr->dev_eui;
    if (frame_dev_eui != jr->dev_eui) {
        answer_error(out, &req->hdr, BI_RESULT_MALFORMED, "DevEUI: differs from the one in PHYPayload");
        return;
    }
    store_device dev;
    store_status ss = store_device_get(w->db, jr->dev_eui, &dev);
    if (ss == STORE_ERR_NOT_FOUND) {
        answer_error(out, &req->hdr, BI_RESULT_UNKNOWN_DEV_EUI, "no device with that DevEUI");
        return;
    }
    if (ss != STORE_OK) {
        js_errf(msg, "database: %s", store_strerror(ss));
        answer_error(out, &req->hdr, BI_RESULT_JOIN_REQ_FAILED, msg);
        return;
    }
    join_job j;
    memset(&j, 0, sizeof(j));
    j.w = w;
    j.cfg = cfg;
    j.dev = &dev;
    j.jr = jr;
    j.net_id = (uint32_t)req->hdr.sender_id.value;
    j.rejoin_type = rejoin ? (int)f.u.rejoin_request.type : -1;
    if (!rejoin)
        j.join_eui = f.u.join_request.join_eui;
    else if (f.u.rejoin_request.type == LW_REJOIN_TYPE_1)
        j.join_eui = f.u.rejoin_request.join_eui;
    else
        j.join_eui = dev.join_eui;
    if (j.join_eui != dev.join_eui) {
        answer_error(out, &req->hdr, BI_RESULT_UNKNOWN_DEV_EUI, "no device with that DevEUI under that JoinEUI");
        return;
    }
    bool allowed = net_allowed(&dev, j.net_id);
    const char *refusal = "SenderID is neither the device's home NetID nor one it allows";
    if (!allowed && op != NULL) {
        js_se_policy pol;
        if (js_se_policy_of(w, dev.dev_eui, &pol) != JS_OK) {
            answer_error(out, &req->hdr, BI_RESULT_JOIN_REQ_FAILED, "database: the SE's operator policy");
            return;
        }
        allowed = maker_admits(&pol, j.net_id);
        if (pol.is_se)
            refusal = "the maker of this secure element does not let this operator activate it";
    }
    if (!allowed) {
        answer_error(out, &req->hdr, BI_RESULT_ACTIVATION_DISALLOWED, refusal);
        return;
    }
    bool dev11 = dev.mac_version == STORE_MAC_1_1;
    if (rejoin && !dev11) {
        answer_error(out, &req->hdr, BI_RESULT_JOIN_REQ_FAILED, "rejoin-requests exist only in LoRaWAN 1.1");
        return;
    }
    j.v11 = dev11 && (rejoin || jr->mac_version == BI_MAC_1_1);
    /* An operator receives the network keys under its own KEK, whatever
     * the device's NSKEKLabel (which is its home network's). */
    const char *ns_label = op != NULL ? op->kek_label : dev.ns_kek_label;
    if (ns_label[0] == '\0') {
        answer_error(out, &req->hdr, BI_RESULT_JOIN_REQ_FAILED,
                     op != NULL ? "the operator has no KEK (it reaches this Join Server through the hub)"
                                : "the device has no NSKEKLabel: network session keys cannot be delivered");
        return;
    }
    j.ns_label = ns_label;
    if (js_worker_kek(w, ns_label, &j.ns_kek, msg) != JS_OK) {
        answer_error(out, &req->hdr, BI_RESULT_JOIN_REQ_FAILED, msg);
        return;
    }
    if (dev.as_kek_label[0] != '\0') {
        j.as_label = dev.as_kek_label;
        if (js_worker_kek(w, dev.as_kek_label, &j.as_kek, msg) != JS_OK) {
            answer_error(out, &req->hdr, BI_RESULT_JOIN_REQ_FAILED, msg);
            return;
        }
    }
    const lw_crypto *c = hsm_session_crypto(w->sess);
    hsm_status hs = root_key(&j, JS_ROOT_NWK, &dev.nwk_key, &j.nwk_key);
    if (hs == HSM_OK && j.v11) {
        if (dev.app_key.len == 0)
            hs = HSM_ERR_KEY_INVALID;
        else
            hs = root_key(&j, JS_ROOT_APP, &dev.app_key, &j.app_key);
    }
    if (hs == HSM_OK && dev11) {
        if (lw_derive_js_keys(c, &j.nwk_key, dev.dev_eui, &j.js) != LW_OK)
            hs = HSM_ERR_DEVICE;
    }
    if (hs != HSM_OK) {
        js_errf(msg, "key service: %s", hsm_strerror(hs));
        answer_error(out, &req->hdr, BI_RESULT_JOIN_REQ_FAILED, msg);
        release_job(&j);
        return;
    }
    /* MIC */
    bool check_mic = !rejoin || f.u.rejoin_request.type == LW_REJOIN_TYPE_1;
    if (check_mic) {
        uint8_t mic[LW_MIC_LEN];
        size_t mlen = jr->phy_payload_len - LW_MIC_LEN;
        ls = rejoin ? lw_mic_rejoin_request(c, &j.js.js_int_key, jr->phy_payload, mlen, mic)
                    : lw_mic_join_request(c, &j.nwk_key, jr->phy_payload, mlen, mic);
        if (ls != LW_OK) {
            js_errf(msg, "key service: %s", lw_strerror(ls));
            answer_error(out, &req->hdr, BI_RESULT_JOIN_REQ_FAILED, msg);
            release_job(&j);
            return;
        }
        if (lw_mic_equal(mic, f.mic) != 1) {
            answer_error(out, &req->hdr, BI_RESULT_MIC_FAILED,
                         rejoin ? "rejoin-request MIC does not match" : "join-request MIC does not match");
            release_job(&j);
            return;
        }
    }
    /* The keys for the JoinNonce the device should get, derived now, outside
     * the database's writer lock, in parallel with the other threads. The
     * store keeps this session only if the grant it makes under the lock is
     * the one predicted; if another join of the device came first, it calls
     * make_session again inside (store_prepared). */
    uint16_t nonce = rejoin ? f.u.rejoin_request.rj_count : f.u.join_request.dev_nonce;
    store_prepared prep;
    memset(&prep, 0, sizeof(prep));
    prep.grant = (store_join_grant){.dev_eui = dev.dev_eui, .join_eui = j.join_eui, .mac_version = dev.mac_version,
                                    .dev_nonce = nonce, .join_nonce = dev.next_join_nonce};
    bool prepared = dev.next_join_nonce < STORE_JOIN_NONCE_LIMIT &&
                    make_session(&j, &prep.grant, &prep.session) == STORE_OK;
    bi_join_ans prep_ans = j.ans; /* make_session() overwrites j.ans if the store calls it */
    store_join_result res;
    if (!rejoin) {
        store_join sj = {.dev_eui = dev.dev_eui, .join_eui = j.join_eui, .dev_nonce = nonce,
                         .make_session = make_session, .ctx = &j, .prepared = prepared ? &prep : NULL,
                         .ticket = ticket};
        ss = store_join_commit_batched(w->db, w->ctx->batch, &sj, &res);
    } else {
        store_rejoin sr = {.dev_eui = dev.dev_eui, .join_eui = j.join_eui, .rejoin_type = j.rejoin_type,
                           .rj_count = nonce, .make_session = make_session, .ctx = &j,
                           .prepared = prepared ? &prep : NULL, .ticket = ticket};
        ss = store_rejoin_commit_batched(w->db, w->ctx->batch, &sr, &res);
    }
    lw_secure_wipe(&prep, sizeof(prep));
    release_job(&j);
    /* The answer must be the one built with the session that was kept. */
    if (ss == STORE_OK && res.used_prepared)
        j.ans = prep_ans;
    lw_secure_wipe(&prep_ans, sizeof(prep_ans));
    switch (ss) {
    case STORE_OK:
        break;
    case STORE_ERR_REPLAY:
        answer_error(out, &req->hdr, BI_RESULT_JOIN_REQ_FAILED,
                     rejoin ? "RJcount refused: not greater than the last one accepted"
                            : "DevNonce refused: used already (or not greater than the last one, 1.0.4/1.1)");
        return;
    case STORE_ERR_JOIN_NONCE_EXHAUSTED:
        answer_error(out, &req->hdr, BI_RESULT_JOIN_REQ_FAILED, "the device has used all 2^24 JoinNonces");
        return;
    case STORE_ERR_NO_SESSION:
        answer_error(out, &req->hdr, BI_RESULT_JOIN_REQ_FAILED,
                     "a rejoin-request of type 0 or 2 needs a session to rejoin from; this device has none");
        return;
    case STORE_ERR_NOT_FOUND:
        answer_error(out, &req->hdr, BI_RESULT_UNKNOWN_DEV_EUI, "no device with that DevEUI");
        return;
    case STORE_ERR_ABORTED:
        answer_error(out, &req->hdr, BI_RESULT_JOIN_REQ_FAILED, j.err);
        return;
    default:
        js_errf(msg, "database: %s", store_strerror(ss));
        answer_error(out, &req->hdr, BI_RESULT_JOIN_REQ_FAILED, msg);
        return;
    }
    bi_header ah;
    size_t n = 0;
    j.ans.result.code = BI_RESULT_SUCCESS;
    if (bi_answer_header(&req->hdr, &ah) != BI_OK ||
        bi_join_ans_build(&ah, &j.ans, out->body, sizeof(out->body), &n) != BI_OK) {
        js_reply_text(out, 500, "text/plain", "could not build the answer\n");
        return;
    }
    out->http_status = 200;
    out->content_type = JSON_TYPE;
    out->len = n;
    out->has_result = true;
    out->result = BI_RESULT_SUCCESS;
    snprintf(out->note, sizeof(out->note), "JoinNonce %06X", (unsigned)res.join_nonce);
}

/* ---------------------------------------------------------------- AppSKeyReq */

static void app_s_key_fail(js_reply *out, const bi_header *ah, uint64_t dev_eui, bi_result_code code,
                           const char *desc)
{
    bi_app_s_key_ans a;
    memset(&a, 0, sizeof(a));
    a.result.code = code;
    snprintf(a.result.description, sizeof(a.result.description), "%s", desc);
    a.dev_eui = dev_eui;
    size_t n = 0;
    out->has_result = true;
    out->result = code;
    snprintf(out->note, sizeof(out->note), "%s", desc);
    if (bi_app_s_key_ans_build(ah, &a, out->body, sizeof(out->body), &n) != BI_OK) {
        js_reply_text(out, 500, "text/plain", "could not build the answer\n");
        return;
    }
    out->http_status = 200;
    out->content_type = JSON_TYPE;
    out->len = n;
}

static void handle_app_s_key(js_worker *w, const bi_request *req, js_reply *out)
{
    const bi_app_s_key_req *r = &req->u.app_s_key;
    bi_header ah;
    if (bi_answer_header(&req->hdr, &ah) != BI_OK) {
        js_reply_text(out, 500, "text/plain", "could not build the answer\n");
        return;
    }
    out->has_dev_eui = true;
    out->dev_eui = r->dev_eui;
    char msg[JS_ERR_MAX];
    store_device dev;
    store_status ss = store_device_get(w->db, r->dev_eui, &dev);
    if (ss == STORE_ERR_NOT_FOUND) {
        app_s_key_fail(out, &ah, r->dev_eui, BI_RESULT_UNKNOWN_DEV_EUI, "no device with that DevEUI");
        return;
    }
    if (ss != STORE_OK) {
        js_errf(msg, "database: %s", store_strerror(ss));
        app_s_key_fail(out, &ah, r->dev_eui, BI_RESULT_OTHER, msg);
        return;
    }
    if (dev.as_id[0] == '\0' || strcmp(dev.as_id, req->hdr.sender_id.raw) != 0) {
        app_s_key_fail(out, &ah, r->dev_eui, BI_RESULT_ACTIVATION_DISALLOWED,
                       "SenderID is not the application server of this device");
        return;
    }
    store_session s;
    ss = r->session_key_id_len > STORE_SESSION_ID_MAX
             ? STORE_ERR_NOT_FOUND
             : store_session_get(w->db, r->dev_eui, r->session_key_id, r->session_key_id_len, &s);
    if (ss == STORE_OK && s.expires_at != 0 && s.expires_at <= (int64_t)time(NULL))
        ss = STORE_ERR_NOT_FOUND;
    if (ss != STORE_OK || s.app_s_key.len == 0) {
        app_s_key_fail(out, &ah, r->dev_eui, BI_RESULT_UNKNOWN_DEV_EUI,
                       "no session with that SessionKeyID for the device (or it expired)");
        return;
    }
    if (dev.as_kek_label[0] == '\0') {
        app_s_key_fail(out, &ah, r->dev_eui, BI_RESULT_OTHER, "the device has no ASKEKLabel");
        return;
    }
    const lw_key *kek = NULL;
    if (js_worker_kek(w, dev.as_kek_label, &kek, msg) != JS_OK) {
        app_s_key_fail(out, &ah, r->dev_eui, BI_RESULT_OTHER, msg);
        return;
    }
    lw_key k;
    memset(&k, 0, sizeof(k));
    bi_app_s_key_ans a;
    memset(&a, 0, sizeof(a));
    uint8_t wrapped[BI_WRAPPED_KEY_LEN];
    hsm_status hs = hsm_key_unwrap_blob(w->sess, HSM_KEY_WORKING, s.app_s_key.data, s.app_s_key.len, &k);
    lw_status ls = LW_OK;
    if (hs == HSM_OK)
        ls = lw_key_wrap(hsm_session_crypto(w->sess), kek, &k, wrapped, sizeof(wrapped));
    hsm_key_release(w->sess, &k);
    if (hs != HSM_OK || ls != LW_OK || bi_key_envelope_set_wrapped(&a.app_s_key, dev.as_kek_label, wrapped) != BI_OK) {
        app_s_key_fail(out, &ah, r->dev_eui, BI_RESULT_OTHER, "key service failed to wrap the AppSKey");
        return;
    }
    a.result.code = BI_RESULT_SUCCESS;
    a.dev_eui = r->dev_eui;
    memcpy(a.session_key_id, r->session_key_id, r->session_key_id_len);
    a.session_key_id_len = r->session_key_id_len;
    size_t n = 0;
    if (bi_app_s_key_ans_build(&ah, &a, out->body, sizeof(out->body), &n) != BI_OK) {
        js_reply_text(out, 500, "text/plain", "could not build the answer\n");
        return;
    }
    out->http_status = 200;
    out->content_type = JSON_TYPE;
    out->len = n;
    out->has_result = true;
    out->result = BI_RESULT_SUCCESS;
}

/* ---------------------------------------------------------------- HomeNSReq */

static void handle_home_ns(js_worker *w, const bi_request *req, const store_operator *op, js_reply *out)
{
    const js_config *cfg = w->ctx->cfg;
    out->has_dev_eui = true;
    out->dev_eui = req->u.home_ns.dev_eui;
    store_device dev;
    store_status ss = store_device_get(w->db, req->u.home_ns.dev_eui, &dev);
    if (ss == STORE_ERR_NOT_FOUND) {
        answer_error(out, &req->hdr, BI_RESULT_UNKNOWN_DEV_EUI, "no device with that DevEUI");
        return;
    }
    if (ss != STORE_OK) {
        answer_error(out, &req->hdr, BI_RESULT_OTHER, "database failure");
        return;
    }
    uint32_t sender = (uint32_t)req->hdr.sender_id.value;
    js_se_policy pol;
    if (js_se_policy_of(w, dev.dev_eui, &pol) != JS_OK) {
        answer_error(out, &req->hdr, BI_RESULT_OTHER, "database failure (the SE's policy)");
        return;
    }
    uint32_t home = dev.home_net_id;
    bool allowed;
    if (pol.is_se && pol.moved) {
        /* the SE runs its customer's profile: the customer's network is
         * home, and the customer's restriction, if any, says who may ask */
        home = pol.home_net_id;
        if (sender == home)
            allowed = true;
        else if (pol.allowed_count > 0)
            allowed = net_in(pol.allowed, pol.allowed_count, sender);
        else
            allowed = op != NULL || net_allowed(&dev, sender);
    } else {
        allowed = net_allowed(&dev, sender) || (op != NULL && maker_admits(&pol, sender));
    }
    if (!allowed) {
        answer_error(out, &req->hdr, BI_RESULT_NO_ROAMING_AGREEMENT,
                     "SenderID is not a network this device may use");
        return;
    }
    bi_home_ns_ans a;
    memset(&a, 0, sizeof(a));
    a.result.code = BI_RESULT_SUCCESS;
    a.has_h_net_id = true;
    a.h_net_id = home;
    if (req->hdr.version == BI_VERSION_1_1) {
        store_operator hop;
        char id[BI_ID_MAX + 1];
        snprintf(id, sizeof(id), "%06X", (unsigned)home);
        const js_peer *p = js_config_peer(cfg, id);
        if (store_operator_get(w->db, home, &hop) == STORE_OK && hop.has_nsid) {
            a.has_hnsid = true;
            a.hnsid = hop.nsid;
        } else if (p != NULL && p->has_nsid) {
            a.has_hnsid = true;
            a.hnsid = p->nsid;
        }
    }
    bi_header ah;
    size_t n = 0;
    if (bi_answer_header(&req->hdr, &ah) != BI_OK ||
        bi_home_ns_ans_build(&ah, &a, out->body, sizeof(out->body), &n) != BI_OK) {
        js_reply_text(out, 500, "text/plain", "could not build the answer\n");
        return;
    }
    out->http_status = 200;
    out->content_type = JSON_TYPE;
    out->len = n;
    out->has_result = true;
    out->result = BI_RESULT_SUCCESS;
}

/* ---------------------------------------------------------------- entry */

void js_handle_bi(js_worker *w, const js_auth *auth, const void *body, size_t len, js_reply *out)
{
    js_reply_reset(out);
    bi_request req;
    bi_error err;
    memset(&req, 0, sizeof(req));
    if (bi_request_parse(body, len, &req, &err) != BI_OK) {
        if (!err.answerable) {
            snprintf(out->note, sizeof(out->note), "%s", err.description);
            js_reply_text(out, 400, "text/plain", "not a Backend Interfaces request: %s\n", err.description);
            return;
        }
        out->has_type = true;
        out->type = req.hdr.message_type;
        answer_error(out, &req.hdr, bi_error_result_code(&err), err.description);
        return;
    }
    out->has_type = true;
    out->type = req.hdr.message_type;
    if (req.hdr.receiver_id.kind != BI_ID_EUI || !js_serves_join_eui(w->ctx, req.hdr.receiver_id.value)) {
        answer_error(out, &req.hdr, BI_RESULT_UNKNOWN_RECEIVER, "ReceiverID is not a JoinEUI this Join Server serves");
        return;
    }
    char sender[BI_ID_MAX + 1];
    sender_text(&req.hdr.sender_id, sender);
    bool home_ns = req.hdr.message_type == BI_MSG_HOME_NS_REQ;
    /* A NetID onboarded as an operator: its row, not a ferry.conf peer. */
    store_operator op;
    bool is_op = false;
    if (req.hdr.sender_id.kind == BI_ID_NET_ID) {
        store_status os = store_operator_get(w->db, (uint32_t)req.hdr.sender_id.value, &op);
        if (os != STORE_OK && os != STORE_ERR_NOT_FOUND) {
            answer_error(out, &req.hdr, home_ns ? BI_RESULT_OTHER : BI_RESULT_JOIN_REQ_FAILED,
                         "database failure (operators)");
            return;
        }
        is_op = os == STORE_OK;
        out->has_operator = is_op;
        out->operator_net_id = is_op ? op.net_id : 0;
    }
    bool authenticated = is_op ? js_operator_authenticated(w, &op, sender, &req.hdr, auth)
                               : js_peer_authenticated(w->ctx, sender, auth);
    if (!authenticated) {
        answer_error(out, &req.hdr, BI_RESULT_UNKNOWN_SENDER, "the peer is not authenticated for this SenderID");
        return;
    }
    /* From here on the sender is who it claims: one configured for
     * asynchronous answers gets them at its answer URL. Refusals before
     * this point stay in the HTTP response, so that an unauthenticated
     * body cannot make the Join Server POST to someone's URL. */
    js_answer_to to;
    if (js_async_target(w->ctx, sender, is_op ? &op : NULL, &to))
        js_async_serve(w, &to, sender, &req, body, len, is_op ? &op : NULL, out);
    else
        js_answer_request(w, &req, is_op ? &op : NULL, out);
}

void js_answer_request(js_worker *w, const bi_request *req, const store_operator *op, js_reply *out)
{
    bool home_ns = req->hdr.message_type == BI_MSG_HOME_NS_REQ;
    if (op != NULL && op->suspended && (home_ns || req->hdr.message_type == BI_MSG_JOIN_REQ ||
                                        req->hdr.message_type == BI_MSG_REJOIN_REQ)) {
        answer_error(out, &req->hdr, home_ns ? BI_RESULT_NO_ROAMING_AGREEMENT : BI_RESULT_ACTIVATION_DISALLOWED,
                     "this operator is suspended");
        return;
    }
    switch (req->hdr.message_type) {
    case BI_MSG_JOIN_REQ:
    case BI_MSG_REJOIN_REQ: {
        /* Announced as it starts: the thread that writes the next batch
         * waits for this join (store_batch_announce) instead of paying an
         * fsync without it. Withdrawn whatever happened: a no-op once the
         * join was queued. */
        store_batch_ticket ticket;
        store_batch_announce(w->ctx->batch, &ticket);
        handle_join(w, req, op, &ticket, out);
        store_batch_withdraw(w->ctx->batch, &ticket);
        break;
    }
    case BI_MSG_APP_S_KEY_REQ:
        handle_app_s_key(w, req, out);
        break;
    case BI_MSG_HOME_NS_REQ:
        handle_home_ns(w, req, op, out);
        break;
    default:
        answer_error(out, &req->hdr, BI_RESULT_MALFORMED, "this message is not served by a Join Server");
        break;
    }
}

/*
 * idm_provision.c - a customer profile for one SE: keys made in the token,
 * the customer Join Server provisioned, one INSTALL that also activates the
 * profile (flags bit 0, docs/mls.md 5.2) sealed and queued (docs/idm.md,
 * "Provisioning").
 *
 * Order, and why:
 *   0. a reservation: the claim's provisioned_at becomes -now in its own
 *      transaction, so that two provisioners (idm serve's housekeeping and
 *      a CLI `idm assign`) cannot both post keys to the customer JS; a
 *      reservation older than IDM_PROVISION_STALE seconds (a crashed
 *      provisioner) may be taken over
 *   1. keys generated (hsm_key_generate: session objects, never bytes here),
 *      wrapped under the customer KEK and under the SE's MLS WrapDown;
 *      INSTALL with "activate now" sealed with MLS counter tx_next (one
 *      message instead of INSTALL + ACTIVATE: one fragment train, one
 *      response, and so fewer frames in the air; docs/scale.md)
 *   2. POST the device to the customer JS (a 409 means an earlier attempt
 *      got this far and then failed to commit: its keys were never sent to
 *      the SE, so the device is deleted and posted again)
 *   3. one transaction: the sealed command, tx_next + 1, the claim's
 *      provisioned_at, the lifecycle transition profile_queued and its audit
 * A crash between 2 and 3 leaves a device on the customer JS whose keys
 * nobody has; step 2 of the retry replaces it. A crash before 3 never let a
 * sealed message out, so the counters it used are free to be used again:
 * no ciphertext under them ever left the process.
 */
#include "idm/idm_ota.h"
#include "idm/idm_log.h"
#include "lorawan/lw_secure.h"
#include "mls/mls_cmd.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

idm_status idm_mls_open(hsm_session *hs, const store_idm_se *se, const store_idm_ota *ota, mls_session *out)
{
    memset(out, 0, sizeof *out);
    lw_key root;
    if (hsm_key_unwrap_blob(hs, HSM_KEY_WORKING, se->mls_key.data, se->mls_key.len, &root) != HSM_OK)
        return IDM_ERR_HSM;
    const lw_crypto *c = hsm_session_crypto(hs);
    idm_status rc = IDM_OK;
    if (mls_session_init(out, c, MLS_ROLE_SERVER, &root, se->dev_eui, ota->epoch, ota->tx_next, ota->rx_last) !=
        MLS_OK) {
        rc = IDM_ERR_MLS;
    } else {
        /* WrapDown again, as a KEK: lw_derive makes working keys, which the
         * token will not let wrap (hsm_keys.c on why). Same block as mls.c. */
        uint8_t block[16] = {MLS_LABEL_WRAP_DOWN};
        for (int i = 0; i < 8; i++)
            block[1 + i] = (uint8_t)(se->dev_eui >> (56 - 8 * i));
        block[9] = ota->epoch;
        lw_key_release(c, &out->keys.wrap_down);
        if (hsm_key_derive(hs, HSM_KEY_KEK, &root, block, &out->keys.wrap_down) != HSM_OK) {
            mls_session_end(out);
            rc = IDM_ERR_HSM;
        }
    }
    hsm_key_release(hs, &root);
    return rc;
}

static uint8_t mls_mac(store_mac_version v)
{
    return v == STORE_MAC_1_1 ? MLS_MAC_1_1 : v == STORE_MAC_1_0_4 ? MLS_MAC_1_0_4 : MLS_MAC_1_0;
}

#define IDM_PROVISION_STALE 300

typedef struct prov {
    store_idm_se se;
    store_idm_claim claim;
    store_idm_js js;
    store_idm_ota ota;           /* as it will be written */
    store_idm_ota ota_old;       /* as read: the compare of the compare-and-set */
    store_idm_cmd cmd;           /* INSTALL, activating at once */
    store_idm_profile_key key;   /* the new keys as master-key blobs: the "current" row once committed */
    uint32_t join_nonce_floor;   /* NextJoinNonce in the device line (idm_join_nonce_floor) */
    char line[1024];
    const char *actor;
    int64_t now;
    int64_t reservation;         /* -now once reserved */
    idm_status result;
    char *err;
} prov;

idm_status idm_seal_cmd(mls_session *ms, const mls_cmd *cmd, size_t msg_max, store_idm_cmd *out, int64_t deadline)
{
    uint8_t body[MLS_BODY_MAX];
    size_t blen = 0;
    memset(out, 0, sizeof *out);
    out->counter = ms->tx_next;
    out->type = cmd->type;
    mls_status ms_st = mls_cmd_encode(cmd, body, sizeof body, &blen);
    /* Never more than the SE's firmware takes (docs/mls.md, "Message
     * size"): checked before sealing, so no counter is spent on it. */
    if (ms_st == MLS_OK && blen + MLS_OVERHEAD > (msg_max != 0 ? msg_max : MLS_MSG_MAX)) {
        lw_secure_wipe(body, sizeof body);
        return IDM_ERR_TOO_BIG;
    }
    if (ms_st == MLS_OK)
        ms_st = mls_seal(ms, cmd->type, body, blen, out->msg, sizeof out->msg, &out->msg_len);
    lw_secure_wipe(body, sizeof body);
    out->state = STORE_IDM_CMD_QUEUED;
    out->deadline = deadline;
    out->result = -1;
    return ms_st == MLS_OK ? IDM_OK : IDM_ERR_MLS;
}

/* The customer JS's device line for keys nwk (and app for 1.1), held in
 * the token: KeyEnvelopes under the KEK shared with that JS. */
static idm_status device_line(hsm_session *hs, store *db, const store_idm_js *js, const store_idm_se *se,
                              const lw_key *nwk, const lw_key *app, uint32_t join_nonce_floor, char *line, size_t cap,
                              char err[IDM_ERR_MAX])
{
    const lw_crypto *c = hsm_session_crypto(hs);
    store_kek kek;
    store_status ss = store_kek_get(db, js->kek_label, &kek);
    if (ss != STORE_OK) {
        snprintf(err, IDM_ERR_MAX, "KEK %s of join server %s: %s", js->kek_label, js->id, store_strerror(ss));
        return IDM_ERR_KEK;
    }
    bool v11 = se->mac_version == STORE_MAC_1_1;
    lw_key kk = {0};
    uint8_t w_nwk[24], w_app[24];
    char hn[49], ha[49] = "";
    idm_status rc = IDM_ERR_HSM;
    if (hsm_key_unwrap_blob(hs, HSM_KEY_KEK, kek.key.data, kek.key.len, &kk) != HSM_OK ||
        lw_key_wrap(c, &kk, nwk, w_nwk, sizeof w_nwk) != LW_OK ||
        (v11 && lw_key_wrap(c, &kk, app, w_app, sizeof w_app) != LW_OK)) {
        snprintf(err, IDM_ERR_MAX, "key service: could not wrap under KEK %s", js->kek_label);
        goto out;
    }
    if (lw_hex_encode(w_nwk, 24, hn, sizeof hn) != LW_OK || (v11 && lw_hex_encode(w_app, 24, ha, sizeof ha) != LW_OK))
        goto out;
    char app_part[160] = "", ns_part[200] = "";
    if (v11)
        snprintf(app_part, sizeof app_part, ",\"AppKey\":{\"KEKLabel\":\"%s\",\"AESKey\":\"%s\"}", js->kek_label, ha);
    if (js->ns_kek_label[0] != '\0')
        snprintf(ns_part, sizeof ns_part, ",\"NSKEKLabel\":\"%s\"", js->ns_kek_label);
    if (js->as_kek_label[0] != '\0')
        snprintf(ns_part + strlen(ns_part), sizeof ns_part - strlen(ns_part), ",\"ASKEKLabel\":\"%s\"",
                 js->as_kek_label);
    /* The customer's restriction of where its devices join (docs/operators.md):
     * the canonical "000013,C00053" becomes ["000013","C00053"]. */
    char nets_part[24 + STORE_NET_IDS_MAX * 9] = "";
    if (js->allowed_net_ids[0] != '\0') {
        size_t k = (size_t)snprintf(nets_part, sizeof nets_part, ",\"AllowedNetIDs\":[");
        const char *p = js->allowed_net_ids; /* 6 hex digits, then ',' or the end (store_idm_js_put checked) */
        for (bool first = true; *p != '\0' && k + 12 < sizeof nets_part; first = false) {
            k += (size_t)snprintf(nets_part + k, sizeof nets_part - k, "%s\"%.6s\"", first ? "" : ",", p);
            p += strnlen(p, 6);
            if (*p == ',')
                p++;
        }
        snprintf(nets_part + k, sizeof nets_part - k, "]");
    }
    /* The JoinNonce floor of a device that moves to this JS (0: the JS
     * keeps its own counter, as for new keys on the same JS). */
    char floor_part[32] = "";
    if (join_nonce_floor > 0)
        snprintf(floor_part, sizeof floor_part, ",\"NextJoinNonce\":%u", (unsigned)join_nonce_floor);
    int n = snprintf(line, cap,
                     "{\"DevEUI\":\"%016llX\",\"JoinEUI\":\"%016llX\",\"MACVersion\":\"%s\",\"HomeNetID\":\"%06X\","
                     "\"NwkKey\":{\"KEKLabel\":\"%s\",\"AESKey\":\"%s\"}%s%s%s%s}",
                     (unsigned long long)se->dev_eui, (unsigned long long)js->join_eui,
                     store_mac_version_name(se->mac_version), (unsigned)js->home_net_id, js->kek_label, hn, app_part,
                     ns_part, nets_part, floor_part);
    if (n < 0 || (size_t)n >= cap) {
        snprintf(err, IDM_ERR_MAX, "device line too long");
        goto out;
    }
    rc = IDM_OK;
out:
    hsm_key_release(hs, &kk);
    lw_secure_wipe(&kek, sizeof kek);
    lw_secure_wipe(w_nwk, sizeof w_nwk);
    lw_secure_wipe(w_app, sizeof w_app);
    return rc;
}

idm_status idm_profile_keys_make(hsm_session *hs, bool v11, lw_key *nwk, lw_key *app, store_idm_profile_key *blobs)
{
    size_t ln = 0, la = 0;
    if (hsm_key_generate(hs, HSM_KEY_WORKING, nwk) != HSM_OK ||
        (v11 && hsm_key_generate(hs, HSM_KEY_WORKING, app) != HSM_OK) ||
        hsm_key_wrap_blob(hs, nwk, blobs->nwk_key.data, sizeof blobs->nwk_key.data, &ln) != HSM_OK ||
        (v11 && hsm_key_wrap_blob(hs, app, blobs->app_key.data, sizeof blobs->app_key.data, &la) != HSM_OK)) {
        hsm_key_release(hs, nwk);
        hsm_key_release(hs, app);
        return IDM_ERR_HSM;
    }
    blobs->nwk_key.len = ln;
    blobs->app_key.len = la;
    return IDM_OK;
}

/* Step 1: everything in the token. */
static idm_status prepare(hsm_session *hs, store *db, prov *p, const idm_policy *pol)
{
    bool v11 = p->se.mac_version == STORE_MAC_1_1;
    lw_key nwk = {0}, app = {0};
    mls_session ms;
    memset(&ms, 0, sizeof ms);
    idm_status rc = IDM_ERR_HSM;
    mls_cmd cmd;
    memset(&cmd, 0, sizeof cmd);
    if (idm_profile_keys_make(hs, v11, &nwk, &app, &p->key) != IDM_OK) {
        snprintf(p->err, IDM_ERR_MAX, "key service: could not make the customer keys");
        goto out;
    }
    /* For the customer Join Server: KeyEnvelopes under the shared KEK. */
    if ((rc = device_line(hs, db, &p->js, &p->se, &nwk, &app, p->join_nonce_floor, p->line, sizeof p->line,
                          p->err)) != IDM_OK)
        goto out;
    /* For the SE: the same keys under its MLS WrapDown, sealed. */
    rc = idm_mls_open(hs, &p->se, &p->ota, &ms);
    if (rc != IDM_OK) {
        snprintf(p->err, IDM_ERR_MAX, "MLS session: %s", idm_strerror(rc));
        goto out;
    }
    rc = IDM_ERR_MLS;
    mls_profile_install *in = &cmd.u.install;
    cmd.type = MLS_T_INSTALL;
    in->profile_id = p->ota.next_profile_id != 0 ? p->ota.next_profile_id : 1;
    in->join_eui = p->js.join_eui;
    in->dev_eui = p->se.dev_eui;
    in->mac_version = mls_mac(p->se.mac_version);
    in->max_join_attempts = pol->max_join_attempts;
    /* The element activates the profile right after installing it and
     * answers once for both, switching networks after the answer has left
     * (docs/mls.md 9): the job of a separate ACTIVATE, without its
     * fragments, its response and their acknowledgements. */
    in->flags = MLS_INSTALL_ACTIVATE_NOW;
    if (mls_wrap_key(&ms, &nwk, in->nwk_key_wrapped, sizeof in->nwk_key_wrapped) != MLS_OK ||
        (v11 && mls_wrap_key(&ms, &app, in->app_key_wrapped, sizeof in->app_key_wrapped) != MLS_OK)) {
        snprintf(p->err, IDM_ERR_MAX, "MLS: could not wrap the profile keys for the SE");
        goto out;
    }
    uint16_t profile_id = in->profile_id;
    int64_t deadline = p->now + (int64_t)pol->deadline_s;
    if ((rc = idm_seal_cmd(&ms, &cmd, p->se.mls_msg_max, &p->cmd, deadline)) != IDM_OK) {
        snprintf(p->err, IDM_ERR_MAX, "MLS: the INSTALL command %s", rc == IDM_ERR_TOO_BIG ? "exceeds the SE's MLSMessageMax" : "could not be sealed");
        goto out;
    }
    rc = IDM_ERR_MLS;
    p->key.dev_eui = p->se.dev_eui;
    p->key.slot = STORE_IDM_SLOT_CURRENT;
    snprintf(p->key.js_id, sizeof p->key.js_id, "%s", p->js.id);
    p->key.profile_id = profile_id;
    p->ota.tx_next = ms.tx_next;
    p->ota.next_profile_id = (uint16_t)(profile_id == 0xFFFF ? 1 : profile_id + 1);
    rc = IDM_OK;
out:
    if (rc == IDM_ERR_MLS && p->err[0] == '\0')
        snprintf(p->err, IDM_ERR_MAX, "MLS: could not seal the profile commands");
    mls_session_end(&ms);
    hsm_key_release(hs, &nwk);
    hsm_key_release(hs, &app);
    lw_secure_wipe(&cmd, sizeof cmd);
    return rc;
}

idm_status idm_profile_prepare(hsm_session *hs, store *db, const store_idm_se *se, const store_idm_js *js,
                               const store_idm_ota *ota, const idm_policy *pol, char *line, size_t cap,
                               store_idm_cmd *cmd, char err[IDM_ERR_MAX])
{
    err[0] = '\0';
    prov *p = calloc(1, sizeof *p);
    if (p == NULL)
        return IDM_ERR_NOMEM;
    p->se = *se;
    p->js = *js;
    p->ota = *ota;
    p->err = err;
    p->now = (int64_t)time(NULL);
    idm_status rc = prepare(hs, db, p, pol);
    if (rc == IDM_OK && strlen(p->line) >= cap) {
        snprintf(err, IDM_ERR_MAX, "device line buffer too small");
        rc = IDM_ERR_ARGUMENT;
    }
    if (rc == IDM_OK) {
        memcpy(line, p->line, strlen(p->line) + 1);
        *cmd = p->cmd;
    }
    lw_secure_wipe(p, sizeof *p);
    free(p);
    return rc;
}

/* Step 2: POST the device line; a 409 (a device of an earlier attempt, or
 * the keys a renewal replaces) is deleted and posted again. */
static idm_status post_line(hsm_session *hs, store *db, const store_idm_js *js, uint64_t dev_eui, const char *line, bool replace,
                            uint32_t *next_join_nonce, char err[IDM_ERR_MAX])
{
    char token[STORE_IDM_TOKEN_CT_MAX + 1], url[STORE_IDM_URL_MAX + 64];
    if (idm_js_token(hs, js, token, sizeof token) != IDM_OK) {
        snprintf(err, IDM_ERR_MAX, "key service: could not read join server %s's admin token", js->id);
        return IDM_ERR_HSM;
    }
    idm_http_resp *r = malloc(sizeof *r);
    idm_status rc = r == NULL ? IDM_ERR_NOMEM : IDM_OK;
    /* A first POST that meets a device (an earlier attempt that crashed
     * before its commit, or a device not deleted yet) replaces it with PUT,
     * which keeps the JS's DevNonce history and JoinNonce counter. */
    for (int attempt = 0; rc == IDM_OK && attempt < 2; attempt++) {
        bool put = replace || attempt == 1;
        if (put)
            snprintf(url, sizeof url, "%s/api/v1/devices/%016llX", js->admin_url, (unsigned long long)dev_eui);
        else
            snprintf(url, sizeof url, "%s/api/v1/devices", js->admin_url);
        rc = idm_js_call(db, js, put ? "PUT" : "POST", url, token, line, r, err);
        if (rc != IDM_OK)
            break;
        if (r->status == (put ? 200 : 201)) {
            json_t *root = json_loadb(r->body, r->len, 0, NULL);
            json_t *nj = json_object_get(root, "NextJoinNonce");
            *next_join_nonce = json_is_integer(nj) ? (uint32_t)json_integer_value(nj) : 0;
            json_decref(root);
            break;
        }
        if (r->status == 409 && !put)
            continue;
        snprintf(err, IDM_ERR_MAX, "join server %s: %s %s answered %ld: %.120s", js->id, put ? "PUT" : "POST",
                 put ? "/api/v1/devices/{DevEUI}" : "/api/v1/devices", r->status, r->body);
        rc = IDM_ERR_REMOTE;
        break;
    }
    lw_secure_wipe(token, sizeof token);
    free(r);
    return rc;
}

/* METHOD {url}/api/v1/devices/{DevEUI} on customer JS `js` with its admin
 * token (read from the token, wiped after); the answer in *r. */
static idm_status device_call(hsm_session *hs, store *db, const store_idm_js *js, const char *method, uint64_t dev_eui,
                              idm_http_resp *r, char err[IDM_ERR_MAX])
{
    char token[STORE_IDM_TOKEN_CT_MAX + 1], url[STORE_IDM_URL_MAX + 64];
    if (idm_js_token(hs, js, token, sizeof token) != IDM_OK) {
        snprintf(err, IDM_ERR_MAX, "key service: could not read join server %s's admin token", js->id);
        return IDM_ERR_HSM;
    }
    snprintf(url, sizeof url, "%s/api/v1/devices/%016llX", js->admin_url, (unsigned long long)dev_eui);
    idm_status rc = idm_js_call(db, js, method, url, token, NULL, r, err);
    lw_secure_wipe(token, sizeof token);
    return rc;
}

idm_status idm_js_next_join_nonce(hsm_session *hs, store *db, const store_idm_js *js, uint64_t dev_eui,
                                  uint32_t *next, int64_t *last, char err[IDM_ERR_MAX])
{
    *next = 0;
    if (last != NULL)
        *last = IDM_JOIN_NONCE_UNSAID;
    idm_http_resp *r = malloc(sizeof *r);
    idm_status rc = r == NULL ? IDM_ERR_NOMEM : device_call(hs, db, js, "GET", dev_eui, r, err);
    if (rc == IDM_OK)
        rc = idm_js_join_nonce_answer(js, dev_eui, r, next, last, err);
    free(r);
    return rc;
}

idm_status idm_js_join_nonce_answer(const store_idm_js *js, uint64_t dev_eui, const idm_http_resp *r, uint32_t *next,
                                    int64_t *last, char err[IDM_ERR_MAX])
{
    *next = 0;
    if (last != NULL)
        *last = IDM_JOIN_NONCE_UNSAID;
    idm_status rc = IDM_OK;
    if (r->status == 404) {
        rc = IDM_ERR_NOT_FOUND;
        snprintf(err, IDM_ERR_MAX, "join server %s does not know %016llX", js->id, (unsigned long long)dev_eui);
    } else {
        json_t *root = r->status == 200 ? json_loadb(r->body, r->len, 0, NULL) : NULL;
        json_t *n = root != NULL ? json_object_get(root, "NextJoinNonce") : NULL;
        if (n == NULL || !json_is_integer(n) || json_integer_value(n) < 0 ||
            json_integer_value(n) > (json_int_t)STORE_JOIN_NONCE_LIMIT) {
            snprintf(err, IDM_ERR_MAX, "join server %s: GET /api/v1/devices/{DevEUI} answered %ld without a NextJoinNonce",
                     js->id, r->status);
            rc = IDM_ERR_REMOTE;
        } else {
            *next = (uint32_t)json_integer_value(n);
            json_t *l = json_object_get(root, "LastJoinNonce");
            if (last != NULL && json_is_integer(l) && json_integer_value(l) >= -1 &&
                json_integer_value(l) < (json_int_t)*next)
                *last = (int64_t)json_integer_value(l);
        }
        json_decref(root);
    }
    return rc;
}

/* Why a reserve: the floor is read while the device is still served by the
 * Join Server it leaves, and it may join there again (a reset, a rejoin)
 * until the profile switch reaches it. Each such join takes one JoinNonce
 * there; the reserve keeps those below the new server's first one. 256 per
 * move spends 1/65,536 of the 2^24 JoinNonces a device has. */
#define IDM_JOIN_NONCE_RESERVE 256u

idm_status idm_join_nonce_floor(hsm_session *hs, store *db, uint64_t dev_eui, const char *other_js_id,
                                uint32_t *floor, char err[IDM_ERR_MAX])
{
    uint32_t high = 0;
    store_device *boot = malloc(sizeof *boot);
    store_status ss = boot == NULL ? STORE_ERR_NOMEM : store_device_get(db, dev_eui, boot);
    if (ss == STORE_OK)
        high = boot->next_join_nonce;
    if (boot != NULL)
        lw_secure_wipe(boot, sizeof *boot);
    free(boot);
    if (ss != STORE_OK && ss != STORE_ERR_NOT_FOUND) {
        snprintf(err, IDM_ERR_MAX, "%016llX: the bootstrap Join Server's JoinNonce: %s", (unsigned long long)dev_eui,
                 store_strerror(ss));
        return ss == STORE_ERR_NOMEM ? IDM_ERR_NOMEM : IDM_ERR_STORE;
    }
    idm_status rc = IDM_OK;
    if (other_js_id != NULL && other_js_id[0] != '\0') {
        store_idm_js *js = calloc(1, sizeof *js);
        uint32_t there = 0;
        rc = js == NULL ? IDM_ERR_NOMEM : IDM_OK;
        if (rc == IDM_OK && (ss = store_idm_js_get(db, other_js_id, js)) != STORE_OK) {
            snprintf(err, IDM_ERR_MAX, "join server %s: %s", other_js_id, store_strerror(ss));
            rc = ss == STORE_ERR_NOT_FOUND ? IDM_ERR_NOT_FOUND : IDM_ERR_STORE;
        }
        /* A JS that no longer knows the device serves it no JoinNonce. */
        if (rc == IDM_OK && (rc = idm_js_next_join_nonce(hs, db, js, dev_eui, &there, NULL, err)) == IDM_ERR_NOT_FOUND)
            rc = IDM_OK;
        if (rc == IDM_OK && there > high)
            high = there;
        if (js != NULL)
            lw_secure_wipe(js, sizeof *js);
        free(js);
    }
    if (rc != IDM_OK)
        return rc;
    uint64_t f = (uint64_t)high + IDM_JOIN_NONCE_RESERVE;
    if (f >= STORE_JOIN_NONCE_LIMIT) {
        snprintf(err, IDM_ERR_MAX, "%016llX: the device has used up its JoinNonces", (unsigned long long)dev_eui);
        return IDM_ERR_ILLEGAL;
    }
    *floor = (uint32_t)f;
    return IDM_OK;
}

idm_status idm_js_put_device(hsm_session *hs, store *db, const store_idm_js *js, const store_idm_se *se,
                             const store_idm_profile_key *k, uint32_t *next_join_nonce, char err[IDM_ERR_MAX])
{
    lw_key nwk = {0}, app = {0};
    char *line = malloc(1024);
    idm_status rc = line == NULL ? IDM_ERR_NOMEM : IDM_OK;
    if (rc == IDM_OK && (hsm_key_unwrap_blob(hs, HSM_KEY_WORKING, k->nwk_key.data, k->nwk_key.len, &nwk) != HSM_OK ||
                         (k->app_key.len > 0 && hsm_key_unwrap_blob(hs, HSM_KEY_WORKING, k->app_key.data,
                                                                     k->app_key.len, &app) != HSM_OK))) {
        snprintf(err, IDM_ERR_MAX, "key service: the profile key blobs of %016llX", (unsigned long long)se->dev_eui);
        rc = IDM_ERR_HSM;
    }
    if (rc == IDM_OK)
        rc = device_line(hs, db, js, se, &nwk, &app, 0, line, 1024, err);
    if (rc == IDM_OK)
        rc = post_line(hs, db, js, se->dev_eui, line, true, next_join_nonce, err);
    hsm_key_release(hs, &nwk);
    hsm_key_release(hs, &app);
    if (line != NULL)
        lw_secure_wipe(line, 1024);
    free(line);
    return rc;
}

idm_status idm_js_delete_device(hsm_session *hs, store *db, const store_idm_js *js, uint64_t dev_eui,
                                char err[IDM_ERR_MAX])
{
    idm_http_resp *r = malloc(sizeof *r);
    idm_status rc = r == NULL ? IDM_ERR_NOMEM : device_call(hs, db, js, "DELETE", dev_eui, r, err);
    if (rc == IDM_OK && r->status != 200 && r->status != 404) {
        snprintf(err, IDM_ERR_MAX, "join server %s: DELETE answered %ld", js->id, r->status);
        rc = IDM_ERR_REMOTE;
    }
    free(r);
    return rc;
}

/* Step 3. */
static store_status commit_fn(store *s, void *ctx)
{
    prov *p = ctx;
    store_idm_claim c;
    store_status st = store_idm_claim_get(s, p->se.dev_eui, &c);
    if (st != STORE_OK)
        return st;
    store_idm_claim_state to = STORE_IDM_CLAIM_NONE;
    if (idm_claim_transition(c.state, IDM_CLAIM_EV_PROVISION, &to) != IDM_OK || strcmp(c.js_id, p->js.id) != 0 ||
        c.provisioned_at != p->reservation)
        return STORE_ERR_ABORTED; /* changed under us, or our reservation was taken over */
    c.provisioned_at = p->now;
    if ((st = store_idm_claim_put(s, &c)) != STORE_OK || (st = store_idm_ota_cas(s, &p->ota_old, &p->ota)) != STORE_OK)
        return st;
    p->cmd.dev_eui = p->se.dev_eui;
    snprintf(p->cmd.origin, sizeof p->cmd.origin, "%s", p->actor);
    if ((st = store_idm_cmd_add(s, &p->cmd)) != STORE_OK)
        return st;
    /* The keys of the profile: "current" from now on. A transfer keeps the
     * old owner's as "previous" until the new owner's JS confirms a join
     * (an abandoned transfer puts them back). */
    store_idm_profile_key old;
    memset(&old, 0, sizeof old);
    st = store_idm_key_get(s, p->se.dev_eui, STORE_IDM_SLOT_CURRENT, &old);
    if (st != STORE_OK && st != STORE_ERR_NOT_FOUND)
        return st;
    bool transfer = c.op == STORE_IDM_OP_TRANSFER;
    if ((st = store_idm_key_delete_all(s, p->se.dev_eui)) != STORE_OK)
        goto keys_out;
    if (transfer && old.nwk_key.len > 0) {
        old.slot = STORE_IDM_SLOT_PREVIOUS;
        if ((st = store_idm_key_put(s, &old)) != STORE_OK)
            goto keys_out;
    }
    st = store_idm_key_put(s, &p->key);
keys_out:
    lw_secure_wipe(&old, sizeof old);
    if (st != STORE_OK)
        return st;
    json_t *det = json_pack("{s:s,s:s,s:i,s:[I]}", "tenant", c.tenant_id, "js", p->js.id, "profile_id",
                            (int)(p->ota.next_profile_id - 1), "mls_counters", (json_int_t)p->cmd.counter);
    st = det != NULL ? idm_se_event_txn(s, p->se.dev_eui, IDM_EV_PROFILE_QUEUED, p->actor, det, NULL) : STORE_ERR_NOMEM;
    json_decref(det);
    return st;
}

/* Step 0, and its undo when a later step fails. */
static store_status reserve_fn(store *s, void *ctx)
{
    prov *p = ctx;
    store_idm_claim c;
    store_status st = store_idm_claim_get(s, p->se.dev_eui, &c);
    if (st != STORE_OK)
        return st;
    bool free_now = c.provisioned_at == 0 || (c.provisioned_at < 0 && -c.provisioned_at < p->now - IDM_PROVISION_STALE);
    store_idm_claim_state to = STORE_IDM_CLAIM_NONE;
    if (idm_claim_transition(c.state, IDM_CLAIM_EV_PROVISION, &to) != IDM_OK || strcmp(c.js_id, p->claim.js_id) != 0 ||
        !free_now)
        return STORE_ERR_ABORTED;
    c.provisioned_at = p->reservation = -p->now;
    return store_idm_claim_put(s, &c);
}

static store_status unreserve_fn(store *s, void *ctx)
{
    prov *p = ctx;
    store_idm_claim c;
    store_status st = store_idm_claim_get(s, p->se.dev_eui, &c);
    if (st != STORE_OK || c.provisioned_at != p->reservation)
        return st;
    c.provisioned_at = 0;
    return store_idm_claim_put(s, &c);
}

idm_status idm_provision(hsm_session *hs, store *db, uint64_t dev_eui, const idm_policy *pol, const char *actor,
                         char err[IDM_ERR_MAX])
{
    err[0] = '\0';
    prov *p = calloc(1, sizeof *p);
    if (p == NULL)
        return IDM_ERR_NOMEM;
    p->err = err;
    p->actor = actor;
    p->now = (int64_t)time(NULL);
    idm_status rc = IDM_OK;
    store_status ss = store_idm_se_get(db, dev_eui, &p->se);
    if (ss == STORE_OK)
        ss = store_idm_claim_get(db, dev_eui, &p->claim);
    store_idm_claim_state claim_to = STORE_IDM_CLAIM_NONE;
    if (ss != STORE_OK || idm_claim_transition(p->claim.state, IDM_CLAIM_EV_PROVISION, &claim_to) != IDM_OK ||
        p->claim.js_id[0] == '\0') {
        rc = ss == STORE_OK || ss == STORE_ERR_NOT_FOUND ? IDM_ERR_NOT_FOUND : IDM_ERR_STORE;
        snprintf(err, IDM_ERR_MAX, "%016llX: not claimed and assigned", (unsigned long long)dev_eui);
        goto out;
    }
    if (p->claim.provisioned_at > 0) {
        rc = IDM_ERR_EXISTS;
        snprintf(err, IDM_ERR_MAX, "%016llX: provisioned already", (unsigned long long)dev_eui);
        goto out;
    }
    idm_state next;
    if (idm_state_transition(p->se.state, IDM_EV_PROFILE_QUEUED, &next) != IDM_OK) {
        rc = IDM_ERR_ILLEGAL;
        snprintf(err, IDM_ERR_MAX, "%016llX: state %s: a profile cannot be queued (not bootstrapped yet?)",
                 (unsigned long long)dev_eui, idm_state_name(p->se.state));
        goto out;
    }
    if ((ss = store_idm_js_get(db, p->claim.js_id, &p->js)) != STORE_OK) {
        rc = IDM_ERR_NOT_FOUND;
        snprintf(err, IDM_ERR_MAX, "join server %s: %s", p->claim.js_id, store_strerror(ss));
        goto out;
    }
    ss = store_idm_ota_get(db, dev_eui, &p->ota);
    p->ota_old = p->ota;
    if (ss != STORE_OK && ss != STORE_ERR_NOT_FOUND) {
        rc = IDM_ERR_STORE;
        snprintf(err, IDM_ERR_MAX, "database: %s", store_strerror(ss));
        goto out;
    }
    uint64_t pending = 0;
    if (store_idm_cmd_count(db, dev_eui, STORE_IDM_CMD_QUEUED, &pending) != STORE_OK || pending != 0 ||
        store_idm_cmd_count(db, dev_eui, STORE_IDM_CMD_SENDING, &pending) != STORE_OK || pending != 0) {
        rc = IDM_ERR_BUSY;
        snprintf(err, IDM_ERR_MAX, "%016llX: a delivery is in progress", (unsigned long long)dev_eui);
        goto out;
    }
    if ((ss = store_idm_txn(db, reserve_fn, p)) != STORE_OK) {
        rc = ss == STORE_ERR_ABORTED ? IDM_ERR_BUSY : IDM_ERR_STORE;
        snprintf(err, IDM_ERR_MAX, "%016llX: %s", (unsigned long long)dev_eui,
                 ss == STORE_ERR_ABORTED ? "another provisioning of this SE is in progress" : store_strerror(ss));
        goto out;
    }
    /* The JoinNonce floor for the new JS: above what the bootstrap JS and,
     * for a transfer, the old owner's JS have served the device. */
    if ((rc = idm_join_nonce_floor(hs, db, dev_eui, p->claim.op == STORE_IDM_OP_TRANSFER ? p->claim.prev_js_id : "",
                                   &p->join_nonce_floor, err)) != IDM_OK ||
        (rc = prepare(hs, db, p, pol)) != IDM_OK ||
        (rc = post_line(hs, db, &p->js, p->se.dev_eui, p->line, false, &p->key.join_nonce_base, err)) != IDM_OK) {
        if (store_idm_txn(db, unreserve_fn, p) != STORE_OK)
            idm_logf("%016llX: the provisioning reservation stays until it is stale",
                    (unsigned long long)dev_eui);
        goto out;
    }
    ss = store_idm_txn(db, commit_fn, p);
    if (ss != STORE_OK) {
        if (store_idm_txn(db, unreserve_fn, p) != STORE_OK)
            idm_logf("%016llX: the provisioning reservation stays until it is stale",
                    (unsigned long long)dev_eui);
        rc = ss == STORE_ERR_ABORTED ? IDM_ERR_BUSY : IDM_ERR_STORE;
        snprintf(err, IDM_ERR_MAX, "%016llX: queueing the profile: %s", (unsigned long long)dev_eui,
                 ss == STORE_ERR_ABORTED ? "the claim, the state or the MLS counters changed meanwhile"
                                         : store_strerror(ss));
    }
out:
    lw_secure_wipe(p, sizeof *p);
    free(p);
    return rc;
}

/*
 * idm_ops.c - what the Identity Manager does with an SE after its first
 * profile (docs/idm.md, "Operations"): fleet transfer, key renewal, secure
 * commands, return to bootstrap, retirement, and the follow-ups that finish
 * or undo them.
 *
 * One rule runs through all of them: a device is never bricked. The SE only
 * leaves keys behind after a join with the new ones verified, so the IDM
 * only takes keys away from a customer Join Server once that JS confirmed a
 * join (its LastJoinNonce at or above its counter when the keys were put there):
 *   - a renewal sends RENEW and keeps the new keys pending (blobs under the
 *     master key); only when the SE acknowledged them do they replace the
 *     old ones on the JS, and the old ones are kept ("previous") until a
 *     join confirms the new ones. Delivered but never joined within the
 *     deadline: the SE's trial fell back to the old keys, so they go back
 *     on the JS;
 *   - a transfer provisions the new owner's JS first; the old owner's
 *     device is deleted after the new JS confirmed a join. The SE falls back
 *     to the old owner's profile if the new network never answers, and the
 *     transfer is then abandoned.
 *
 * Every command is sealed once, in the transaction that advances the MLS
 * counter and records the claim's `op`, so a crash never reuses a counter
 * and never leaves an operation half recorded.
 */
#include "idm/idm_ota.h"
#include "idm/idm_log.h"
#include "lorawan/lw_secure.h"
#include "mls/mls_cmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void eui16(uint64_t v, char out[17])
{
    snprintf(out, 17, "%016llX", (unsigned long long)v);
}

static idm_status from_store(store_status st)
{
    return st == STORE_ERR_NOT_FOUND ? IDM_ERR_NOT_FOUND : st == STORE_ERR_ABORTED ? IDM_ERR_BUSY : IDM_ERR_STORE;
}

/* The SE, its claim, and whether the caller may act on it. */
static idm_status load(store *db, uint64_t dev_eui, const char *tenant_id, store_idm_se *se, store_idm_claim *c,
                       char err[IDM_ERR_MAX])
{
    memset(c, 0, sizeof *c);
    store_status st = store_idm_se_get(db, dev_eui, se);
    if (st == STORE_OK) {
        st = store_idm_claim_get(db, dev_eui, c);
        if (st == STORE_ERR_NOT_FOUND) {
            c->state = STORE_IDM_CLAIM_NONE;
            st = STORE_OK;
        }
    }
    if (st != STORE_OK) {
        snprintf(err, IDM_ERR_MAX, "%016llX: %s", (unsigned long long)dev_eui, store_strerror(st));
        return from_store(st);
    }
    if (tenant_id != NULL && (c->state != STORE_IDM_CLAIM_CLAIMED || strcmp(c->tenant_id, tenant_id) != 0)) {
        snprintf(err, IDM_ERR_MAX, "%016llX: no such secure element", (unsigned long long)dev_eui);
        return IDM_ERR_NOT_FOUND;
    }
    return IDM_OK;
}

static idm_status require_event(const store_idm_se *se, idm_event ev, const char *what, char err[IDM_ERR_MAX])
{
    idm_state next;
    if (idm_state_transition(se->state, ev, &next) != IDM_OK) {
        snprintf(err, IDM_ERR_MAX, "%016llX: state %s: %s is not possible now", (unsigned long long)se->dev_eui,
                 idm_state_name(se->state), what);
        return IDM_ERR_ILLEGAL;
    }
    return IDM_OK;
}

static idm_status require_idle(store *db, const store_idm_claim *c, uint64_t dev_eui, char err[IDM_ERR_MAX])
{
    uint64_t q = 0, sn = 0;
    if (c->op != STORE_IDM_OP_NONE) {
        snprintf(err, IDM_ERR_MAX, "%016llX: a %s is in progress", (unsigned long long)dev_eui, store_idm_op_name(c->op));
        return IDM_ERR_BUSY;
    }
    if (store_idm_cmd_count(db, dev_eui, STORE_IDM_CMD_QUEUED, &q) != STORE_OK ||
        store_idm_cmd_count(db, dev_eui, STORE_IDM_CMD_SENDING, &sn) != STORE_OK) {
        snprintf(err, IDM_ERR_MAX, "database: reading the command queue");
        return IDM_ERR_STORE;
    }
    if (q + sn > 0) {
        snprintf(err, IDM_ERR_MAX, "%016llX: a delivery is in progress", (unsigned long long)dev_eui);
        return IDM_ERR_BUSY;
    }
    return IDM_OK;
}

/* ---------------------------------------------------------------- one sealed command, queued */

typedef struct queue_job {
    const store_idm_ota *before;
    store_idm_ota after;
    store_idm_cmd *cmd;
    store_status (*extra)(store *s, void *ctx); /* claim op, key rows, transition, audit */
    void *ctx;
} queue_job;

static store_status queue_fn(store *s, void *ctx)
{
    queue_job *j = ctx;
    store_status st = store_idm_ota_cas(s, j->before, &j->after);
    if (st == STORE_OK)
        st = store_idm_cmd_add(s, j->cmd);
    if (st == STORE_OK && j->extra != NULL)
        st = j->extra(s, j->ctx);
    return st;
}

/* Seals *cmd for the SE with its next MLS counter and queues it with
 * extra(s, ctx) in one transaction. `fill` (may be NULL) runs with the open
 * MLS session before sealing (to wrap keys under WrapDown). */
static idm_status queue_cmd(hsm_session *hs, store *db, const store_idm_se *se, mls_cmd *cmd,
                            idm_status (*fill)(mls_session *ms, mls_cmd *cmd, void *ctx), void *fill_ctx,
                            const idm_policy *pol, const char *actor, store_status (*extra)(store *, void *),
                            void *ctx, int64_t *seq, char err[IDM_ERR_MAX])
{
    store_idm_ota ota;
    store_status ss = store_idm_ota_get(db, se->dev_eui, &ota);
    if (ss != STORE_OK && ss != STORE_ERR_NOT_FOUND) {
        snprintf(err, IDM_ERR_MAX, "database: %s", store_strerror(ss));
        return IDM_ERR_STORE;
    }
    store_idm_cmd *c = calloc(1, sizeof *c);
    if (c == NULL)
        return IDM_ERR_NOMEM;
    mls_session ms;
    idm_status rc = idm_mls_open(hs, se, &ota, &ms);
    if (rc != IDM_OK) {
        snprintf(err, IDM_ERR_MAX, "MLS session: %s", idm_strerror(rc));
        free(c);
        return rc;
    }
    if (fill != NULL && (rc = fill(&ms, cmd, fill_ctx)) != IDM_OK)
        snprintf(err, IDM_ERR_MAX, "MLS: could not wrap the keys for the SE");
    else if ((rc = idm_seal_cmd(&ms, cmd, se->mls_msg_max, c, (int64_t)time(NULL) + (int64_t)pol->deadline_s)) ==
             IDM_ERR_TOO_BIG)
        snprintf(err, IDM_ERR_MAX, "the SE takes MLS messages of at most %u bytes (its MLSMessageMax): this %s "
                 "command is larger%s", (unsigned)(se->mls_msg_max != 0 ? se->mls_msg_max : MLS_MSG_MAX),
                 mls_type_name(cmd->type), cmd->type == MLS_T_SECURE ? "; send a shorter payload" : "");
    else if (rc != IDM_OK)
        snprintf(err, IDM_ERR_MAX, "MLS: could not seal the %s command", mls_type_name(cmd->type));
    queue_job j = {&ota, ota, c, extra, ctx};
    j.after.tx_next = ms.tx_next;
    mls_session_end(&ms);
    if (rc == IDM_OK) {
        c->dev_eui = se->dev_eui;
        snprintf(c->origin, sizeof c->origin, "%s", actor);
        ss = store_idm_txn(db, queue_fn, &j);
        if (ss != STORE_OK) {
            rc = ss == STORE_ERR_ABORTED ? IDM_ERR_BUSY : IDM_ERR_STORE;
            if (err[0] == '\0')
                snprintf(err, IDM_ERR_MAX, "%016llX: queueing %s: %s", (unsigned long long)se->dev_eui,
                         mls_type_name(cmd->type),
                         ss == STORE_ERR_ABORTED ? "the SE's state or MLS counters changed meanwhile"
                                                 : store_strerror(ss));
        } else if (seq != NULL) {
            *seq = c->seq;
        }
    }
    lw_secure_wipe(c, sizeof *c);
    free(c);
    return rc;
}

/* ---------------------------------------------------------------- transfer */

typedef struct transfer_job {
    uint64_t dev_eui;
    const char *tenant_id, *to_tenant, *to_js, *actor;
    idm_status result;
    char *err;
} transfer_job;

static store_status transfer_fn(store *s, void *ctx)
{
    transfer_job *j = ctx;
    store_idm_claim c;
    store_idm_tenant t;
    store_status st = store_idm_claim_get(s, j->dev_eui, &c);
    if (st != STORE_OK)
        return st;
    store_idm_claim_state to = STORE_IDM_CLAIM_NONE;
    if (idm_claim_transition(c.state, IDM_CLAIM_EV_TRANSFER, &to) != IDM_OK || c.js_id[0] == '\0' ||
        c.provisioned_at <= 0 || (j->tenant_id != NULL && strcmp(c.tenant_id, j->tenant_id) != 0)) {
        j->result = j->tenant_id != NULL ? IDM_ERR_NOT_FOUND : IDM_ERR_ILLEGAL;
        snprintf(j->err, IDM_ERR_MAX, "%016llX: %s", (unsigned long long)j->dev_eui,
                 j->tenant_id != NULL ? "no such secure element" : "not claimed and provisioned: nothing to transfer");
        return STORE_OK;
    }
    if (c.op != STORE_IDM_OP_NONE) {
        j->result = IDM_ERR_BUSY;
        snprintf(j->err, IDM_ERR_MAX, "%016llX: a %s is in progress", (unsigned long long)j->dev_eui,
                 store_idm_op_name(c.op));
        return STORE_OK;
    }
    if ((st = store_idm_tenant_get(s, j->to_tenant, &t)) != STORE_OK || t.kind != STORE_IDM_TENANT_CUSTOMER) {
        j->result = IDM_ERR_NOT_FOUND;
        snprintf(j->err, IDM_ERR_MAX, "tenant %s: no such customer", j->to_tenant);
        return st == STORE_ERR_NOT_FOUND || st == STORE_OK ? STORE_OK : st;
    }
    store_idm_js js[2];
    size_t n = 0;
    if (j->to_js != NULL) {
        st = store_idm_js_get(s, j->to_js, &js[0]);
        n = st == STORE_OK && strcmp(js[0].tenant_id, t.id) == 0 ? 1 : 0;
        if (st != STORE_OK && st != STORE_ERR_NOT_FOUND)
            return st;
    } else if ((st = store_idm_js_of_tenant(s, t.id, js, 2, &n)) != STORE_OK) {
        return st;
    }
    char to_js[STORE_IDM_ID_MAX + 1];
    snprintf(to_js, sizeof to_js, "%s", n > 0 ? js[0].id : "");
    lw_secure_wipe(js, sizeof js);
    if (n != 1) {
        j->result = n == 0 ? IDM_ERR_NOT_FOUND : IDM_ERR_ARGUMENT;
        snprintf(j->err, IDM_ERR_MAX, "tenant %s: %s", t.id,
                 n == 0 ? "no such Join Server" : "has several Join Servers: name one");
        return STORE_OK;
    }
    if (strcmp(to_js, c.js_id) == 0) {
        j->result = IDM_ERR_ARGUMENT;
        snprintf(j->err, IDM_ERR_MAX, "%016llX: on Join Server %s already", (unsigned long long)j->dev_eui, to_js);
        return STORE_OK;
    }
    json_t *det = json_pack("{s:s,s:s,s:s,s:s}", "from_tenant", c.tenant_id, "from_js", c.js_id, "to_tenant", t.id,
                            "to_js", to_js);
    if (det == NULL)
        return STORE_ERR_NOMEM;
    memcpy(c.prev_tenant_id, c.tenant_id, sizeof c.prev_tenant_id);
    memcpy(c.prev_js_id, c.js_id, sizeof c.prev_js_id);
    snprintf(c.tenant_id, sizeof c.tenant_id, "%s", t.id);
    snprintf(c.js_id, sizeof c.js_id, "%s", to_js);
    c.state = to;
    c.op = STORE_IDM_OP_TRANSFER;
    c.provisioned_at = 0;
    c.failures = 0;
    if ((st = store_idm_claim_put(s, &c)) == STORE_OK)
        st = idm_se_event_txn(s, j->dev_eui, IDM_EV_TRANSFER_REQUESTED, j->actor, det, NULL);
    json_decref(det);
    if (st == STORE_ERR_ABORTED) {
        j->result = IDM_ERR_ILLEGAL;
        snprintf(j->err, IDM_ERR_MAX, "%016llX: its state does not allow a transfer now",
                 (unsigned long long)j->dev_eui);
    }
    return st;
}

idm_status idm_transfer(hsm_session *hs, store *db, uint64_t dev_eui, const char *tenant_id, const char *to_tenant,
                        const char *to_js, const idm_policy *p, const char *actor, char err[IDM_ERR_MAX])
{
    err[0] = '\0';
    if (to_tenant == NULL) {
        snprintf(err, IDM_ERR_MAX, "the new owner (tenant) is required");
        return IDM_ERR_ARGUMENT;
    }
    store_idm_se se;
    store_idm_claim c;
    idm_status rc = load(db, dev_eui, tenant_id, &se, &c, err);
    if (rc == IDM_OK)
        rc = require_event(&se, IDM_EV_TRANSFER_REQUESTED, "a transfer", err);
    if (rc == IDM_OK)
        rc = require_idle(db, &c, dev_eui, err);
    lw_secure_wipe(&se, sizeof se);
    if (rc != IDM_OK)
        return rc;
    transfer_job j = {dev_eui, tenant_id, to_tenant, to_js, actor, IDM_OK, err};
    store_status st = store_idm_txn(db, transfer_fn, &j);
    if (st != STORE_OK && j.result == IDM_OK) {
        snprintf(err, IDM_ERR_MAX, "%016llX: %s", (unsigned long long)dev_eui, store_strerror(st));
        return from_store(st);
    }
    if (j.result != IDM_OK)
        return j.result;
    /* The new owner's JS now; if it cannot be reached, housekeeping retries
     * (transfer_pending is in the provisioning work list). */
    char e2[IDM_ERR_MAX];
    idm_status pr = idm_provision(hs, db, dev_eui, p, actor, e2);
    if (pr != IDM_OK)
        idm_logf("%016llX: transfer: provisioning later: %s", (unsigned long long)dev_eui, e2);
    return IDM_OK;
}

/* ---------------------------------------------------------------- key renewal */

typedef struct renew_job {
    uint64_t dev_eui;
    store_idm_profile_key pending;
    const char *actor;
} renew_job;

typedef struct renew_fill {
    lw_key *nwk, *app;
    bool v11;
} renew_fill;

static idm_status renew_wrap(mls_session *ms, mls_cmd *cmd, void *ctx)
{
    renew_fill *f = ctx;
    if (mls_wrap_key(ms, f->nwk, cmd->u.renew.nwk_key_wrapped, sizeof cmd->u.renew.nwk_key_wrapped) != MLS_OK ||
        (f->v11 && mls_wrap_key(ms, f->app, cmd->u.renew.app_key_wrapped, sizeof cmd->u.renew.app_key_wrapped) !=
                       MLS_OK))
        return IDM_ERR_MLS;
    return IDM_OK;
}

static store_status renew_fn(store *s, void *ctx)
{
    renew_job *j = ctx;
    store_idm_claim c;
    store_status st = store_idm_claim_get(s, j->dev_eui, &c);
    if (st != STORE_OK)
        return st;
    if (c.op != STORE_IDM_OP_NONE || strcmp(c.js_id, j->pending.js_id) != 0)
        return STORE_ERR_ABORTED;
    c.op = STORE_IDM_OP_RENEW;
    if ((st = store_idm_claim_put(s, &c)) != STORE_OK || (st = store_idm_key_put(s, &j->pending)) != STORE_OK)
        return st;
    json_t *det = json_pack("{s:b,s:s,s:s,s:i}", "renewal", 1, "tenant", c.tenant_id, "js", c.js_id, "profile_id",
                            (int)j->pending.profile_id);
    st = det != NULL ? idm_se_event_txn(s, j->dev_eui, IDM_EV_PROFILE_QUEUED, j->actor, det, NULL) : STORE_ERR_NOMEM;
    json_decref(det);
    return st;
}

idm_status idm_renew(hsm_session *hs, store *db, uint64_t dev_eui, const char *tenant_id, const idm_policy *p,
                     const char *actor, char err[IDM_ERR_MAX])
{
    err[0] = '\0';
    store_idm_se se;
    store_idm_claim c;
    renew_job *j = calloc(1, sizeof *j);
    if (j == NULL)
        return IDM_ERR_NOMEM;
    store_idm_profile_key cur;
    memset(&cur, 0, sizeof cur);
    idm_status rc = load(db, dev_eui, tenant_id, &se, &c, err);
    if (rc == IDM_OK && se.state != IDM_STATE_ACTIVE_AT_CUSTOMER) {
        snprintf(err, IDM_ERR_MAX, "%016llX: state %s: keys are renewed only on an SE active at its customer",
                 (unsigned long long)dev_eui, idm_state_name(se.state));
        rc = IDM_ERR_ILLEGAL;
    }
    if (rc == IDM_OK)
        rc = require_idle(db, &c, dev_eui, err);
    if (rc == IDM_OK) {
        store_status ss = store_idm_key_get(db, dev_eui, STORE_IDM_SLOT_CURRENT, &cur);
        if (ss != STORE_OK || strcmp(cur.js_id, c.js_id) != 0) {
            snprintf(err, IDM_ERR_MAX, "%016llX: no customer profile keys recorded for Join Server %s",
                     (unsigned long long)dev_eui, c.js_id);
            rc = ss == STORE_OK || ss == STORE_ERR_NOT_FOUND ? IDM_ERR_NOT_FOUND : IDM_ERR_STORE;
        }
    }
    lw_key nwk = {0}, app = {0};
    bool v11 = se.mac_version == STORE_MAC_1_1;
    if (rc == IDM_OK && (rc = idm_profile_keys_make(hs, v11, &nwk, &app, &j->pending)) != IDM_OK)
        snprintf(err, IDM_ERR_MAX, "key service: could not make the new keys");
    if (rc == IDM_OK) {
        j->dev_eui = dev_eui;
        j->actor = actor;
        j->pending.slot = STORE_IDM_SLOT_PENDING;
        j->pending.dev_eui = dev_eui;
        memcpy(j->pending.js_id, cur.js_id, sizeof j->pending.js_id);
        j->pending.profile_id = cur.profile_id;
        mls_cmd cmd;
        memset(&cmd, 0, sizeof cmd);
        cmd.type = MLS_T_RENEW;
        cmd.u.renew.profile_id = cur.profile_id;
        renew_fill f = {&nwk, &app, v11};
        rc = queue_cmd(hs, db, &se, &cmd, renew_wrap, &f, p, actor, renew_fn, j, NULL, err);
        lw_secure_wipe(&cmd, sizeof cmd);
    }
    hsm_key_release(hs, &nwk);
    hsm_key_release(hs, &app);
    lw_secure_wipe(&cur, sizeof cur);
    lw_secure_wipe(&se, sizeof se);
    lw_secure_wipe(j, sizeof *j);
    free(j);
    return rc;
}

/* ---------------------------------------------------------------- secure commands */

typedef struct audit_job {
    uint64_t dev_eui;
    const char *actor, *action;
    char subject[17];
    json_t *details;             /* borrowed */
    store_idm_op op;             /* set the claim's op (NONE: leave it) */
} audit_job;

static store_status audit_fn(store *s, void *ctx)
{
    audit_job *j = ctx;
    if (j->op != STORE_IDM_OP_NONE) {
        store_idm_claim c;
        store_status st = store_idm_claim_get(s, j->dev_eui, &c);
        if (st != STORE_OK && st != STORE_ERR_NOT_FOUND)
            return st;
        if (st == STORE_OK && c.op != STORE_IDM_OP_NONE)
            return STORE_ERR_ABORTED;
        if (st == STORE_OK) { /* an unclaimed SE has no claim to mark */
            c.op = j->op;
            if ((st = store_idm_claim_put(s, &c)) != STORE_OK)
                return st;
        }
    }
    return idm_audit_txn(s, j->actor, j->action, j->subject, j->details);
}

idm_status idm_secure_send(hsm_session *hs, store *db, uint64_t dev_eui, const char *tenant_id, const uint8_t *data,
                           size_t len, const idm_policy *p, const char *actor, int64_t *seq, char err[IDM_ERR_MAX])
{
    err[0] = '\0';
    if (data == NULL || len == 0 || len > MLS_SECURE_MAX) {
        snprintf(err, IDM_ERR_MAX, "a secure command is 1 to %u bytes", (unsigned)MLS_SECURE_MAX);
        return IDM_ERR_ARGUMENT;
    }
    store_idm_se se;
    store_idm_claim c;
    idm_status rc = load(db, dev_eui, tenant_id, &se, &c, err);
    if (rc == IDM_OK && (se.state == IDM_STATE_MANUFACTURED || se.state == IDM_STATE_RETIRED)) {
        snprintf(err, IDM_ERR_MAX, "%016llX: state %s: the SE cannot be reached", (unsigned long long)dev_eui,
                 idm_state_name(se.state));
        rc = IDM_ERR_ILLEGAL;
    }
    mls_cmd *cmd = calloc(1, sizeof *cmd);
    if (rc == IDM_OK && cmd == NULL)
        rc = IDM_ERR_NOMEM;
    if (rc == IDM_OK) {
        cmd->type = MLS_T_SECURE;
        cmd->u.secure.len = (uint16_t)len;
        cmd->u.secure.data = data;   /* read when the command is sealed, below */
        audit_job a = {dev_eui, actor, "idm.secure.queued", "", json_pack("{s:I}", "len", (json_int_t)len),
                       STORE_IDM_OP_NONE};
        eui16(dev_eui, a.subject);
        rc = a.details != NULL ? queue_cmd(hs, db, &se, cmd, NULL, NULL, p, actor, audit_fn, &a, seq, err)
                               : IDM_ERR_NOMEM;
        json_decref(a.details);
    }
    if (cmd != NULL)
        lw_secure_wipe(cmd, sizeof *cmd);
    free(cmd);
    lw_secure_wipe(&se, sizeof se);
    return rc;
}

/* ---------------------------------------------------------------- return to bootstrap, retire */

idm_status idm_return_to_bootstrap(hsm_session *hs, store *db, uint64_t dev_eui, const char *tenant_id,
                                   const idm_policy *p, const char *actor, char err[IDM_ERR_MAX])
{
    err[0] = '\0';
    store_idm_se se;
    store_idm_claim c;
    idm_status rc = load(db, dev_eui, tenant_id, &se, &c, err);
    if (rc == IDM_OK)
        rc = require_event(&se, IDM_EV_RETURN_REQUESTED, "a return to bootstrap", err);
    if (rc == IDM_OK)
        rc = require_idle(db, &c, dev_eui, err);
    /* Before BOOTSTRAP leaves: the bootstrap JS's counter above the
     * customer JS's, so that its first join-accept after the switch is one
     * the device takes (docs/idm.md, "JoinNonce across Join Servers"). */
    uint32_t floor = 0;
    if (rc == IDM_OK && (rc = idm_join_nonce_floor(hs, db, dev_eui, c.js_id, &floor, err)) == IDM_OK) {
        store_status ss = store_device_raise_join_nonce(db, dev_eui, floor);
        if (ss != STORE_OK) {
            snprintf(err, IDM_ERR_MAX, "%016llX: raising the bootstrap Join Server's JoinNonce: %s",
                     (unsigned long long)dev_eui, store_strerror(ss));
            rc = from_store(ss);
        }
    }
    if (rc == IDM_OK) {
        mls_cmd cmd;
        memset(&cmd, 0, sizeof cmd);
        cmd.type = MLS_T_BOOTSTRAP;
        cmd.u.bootstrap.flags = MLS_BOOTSTRAP_ERASE;
        audit_job a = {dev_eui, actor, "idm.return.queued", "", NULL, STORE_IDM_OP_RETURN};
        eui16(dev_eui, a.subject);
        rc = queue_cmd(hs, db, &se, &cmd, NULL, NULL, p, actor, audit_fn, &a, NULL, err);
    }
    lw_secure_wipe(&se, sizeof se);
    return rc;
}

/* The claim let go: released, its Join Servers owed a deletion. */
static store_status release_claim_txn(store *s, uint64_t dev_eui, const char *reason)
{
    store_idm_claim c;
    store_status st = store_idm_claim_get(s, dev_eui, &c);
    if (st == STORE_ERR_NOT_FOUND)
        return store_idm_key_delete_all(s, dev_eui);
    if (st != STORE_OK)
        return st;
    store_idm_claim_state to = STORE_IDM_CLAIM_NONE;
    if (idm_claim_transition(c.state, IDM_CLAIM_EV_LET_GO, &to) != IDM_OK)
        return STORE_ERR_ABORTED;
    if (c.js_id[0] != '\0' && c.provisioned_at != 0 && (st = store_idm_cleanup_add(s, dev_eui, c.js_id, reason)) != STORE_OK)
        return st;
    if (c.prev_js_id[0] != '\0' && (st = store_idm_cleanup_add(s, dev_eui, c.prev_js_id, reason)) != STORE_OK)
        return st;
    c.state = to; /* released, or still locked: the operator's lock outlives the holder */
    c.tenant_id[0] = c.js_id[0] = c.prev_tenant_id[0] = c.prev_js_id[0] = '\0';
    c.op = STORE_IDM_OP_NONE;
    c.provisioned_at = 0;
    c.failures = 0;
    if ((st = store_idm_claim_put(s, &c)) != STORE_OK)
        return st;
    return store_idm_key_delete_all(s, dev_eui);
}

store_status idm_ops_returned_txn(store *s, uint64_t dev_eui, const char *actor)
{
    store_status st = release_claim_txn(s, dev_eui, "return to bootstrap");
    return st == STORE_OK ? idm_se_event_txn(s, dev_eui, IDM_EV_RETURN_REQUESTED, actor, NULL, NULL) : st;
}

typedef struct retire_job {
    uint64_t dev_eui;
    const char *actor;
} retire_job;

static store_status retire_fn(store *s, void *ctx)
{
    retire_job *j = ctx;
    store_status st = store_idm_cmd_fail_all(s, j->dev_eui);
    if (st == STORE_OK)
        st = release_claim_txn(s, j->dev_eui, "retired");
    if (st == STORE_OK)
        st = idm_se_event_txn(s, j->dev_eui, IDM_EV_RETIRE, j->actor, NULL, NULL);
    /* Revoked where it could still act: the bootstrap Join Server's device
     * row goes, and its sessions with it (ON DELETE CASCADE), in the same
     * transaction, so no JoinReq, RejoinReq or HomeNSReq of a retired SE is
     * answered with keys or Success again. */
    if (st == STORE_OK) {
        st = store_device_delete(s, j->dev_eui);
        if (st == STORE_ERR_NOT_FOUND)
            st = STORE_OK;
    }
    return st;
}

idm_status idm_retire(store *db, uint64_t dev_eui, const char *actor, char err[IDM_ERR_MAX])
{
    err[0] = '\0';
    retire_job j = {dev_eui, actor};
    store_status st = store_idm_txn(db, retire_fn, &j);
    if (st == STORE_ERR_ABORTED) {
        snprintf(err, IDM_ERR_MAX, "%016llX: retired already", (unsigned long long)dev_eui);
        return IDM_ERR_ILLEGAL;
    }
    if (st != STORE_OK) {
        snprintf(err, IDM_ERR_MAX, "%016llX: %s", (unsigned long long)dev_eui, store_strerror(st));
        return from_store(st);
    }
    return IDM_OK;
}

/* ---------------------------------------------------------------- follow-ups */

store_status idm_ops_update_failed_txn(store *s, uint64_t dev_eui, store_idm_op *op_out)
{
    *op_out = STORE_IDM_OP_NONE;
    store_idm_claim c;
    store_status st = store_idm_claim_get(s, dev_eui, &c);
    if (st == STORE_ERR_NOT_FOUND)
        return STORE_OK;
    if (st != STORE_OK)
        return st;
    *op_out = c.op;
    if (c.op == STORE_IDM_OP_RENEW) {
        if ((st = store_idm_key_delete(s, dev_eui, STORE_IDM_SLOT_PENDING)) != STORE_OK)
            return st;
    } else if (c.op == STORE_IDM_OP_TRANSFER) {
        /* Back to the old owner, whose device was never touched; the new
         * owner's device (if it was made) is owed a deletion. */
        if (c.provisioned_at != 0 && (st = store_idm_cleanup_add(s, dev_eui, c.js_id, "transfer abandoned")) != STORE_OK)
            return st;
        store_idm_profile_key prev;
        memset(&prev, 0, sizeof prev);
        st = store_idm_key_get(s, dev_eui, STORE_IDM_SLOT_PREVIOUS, &prev);
        if (st == STORE_OK) {
            prev.slot = STORE_IDM_SLOT_CURRENT;
            if ((st = store_idm_key_delete_all(s, dev_eui)) == STORE_OK)
                st = store_idm_key_put(s, &prev);
        } else if (st == STORE_ERR_NOT_FOUND) {
            st = store_idm_key_delete(s, dev_eui, STORE_IDM_SLOT_CURRENT);
        }
        lw_secure_wipe(&prev, sizeof prev);
        if (st != STORE_OK)
            return st;
        /* Handed back only while the claim allows it: a claim the operator
         * refused or a holder released meanwhile keeps no holder. */
        store_idm_claim_state to = STORE_IDM_CLAIM_NONE;
        if (idm_claim_transition(c.state, IDM_CLAIM_EV_TRANSFER_UNDONE, &to) == IDM_OK) {
            c.state = to;
            memcpy(c.tenant_id, c.prev_tenant_id, sizeof c.tenant_id);
            memcpy(c.js_id, c.prev_js_id, sizeof c.js_id);
            c.provisioned_at = (int64_t)time(NULL);
        }
        c.prev_tenant_id[0] = c.prev_js_id[0] = '\0';
    } else if (c.op == STORE_IDM_OP_NONE) {
        return STORE_OK;
    }
    c.op = STORE_IDM_OP_NONE;
    return store_idm_claim_put(s, &c);
}

typedef struct push_job {
    uint64_t dev_eui;
    const char *actor;
    uint32_t join_nonce_base;
} push_job;

static store_status push_fn(store *s, void *ctx)
{
    push_job *j = ctx;
    store_idm_profile_key cur, pend;
    memset(&cur, 0, sizeof cur);
    memset(&pend, 0, sizeof pend);
    store_status st = store_idm_key_get(s, j->dev_eui, STORE_IDM_SLOT_PENDING, &pend);
    if (st == STORE_OK && !pend.acked)
        st = STORE_ERR_ABORTED;
    if (st == STORE_OK && (st = store_idm_key_get(s, j->dev_eui, STORE_IDM_SLOT_CURRENT, &cur)) == STORE_OK) {
        cur.slot = STORE_IDM_SLOT_PREVIOUS;
        st = store_idm_key_put(s, &cur);
    }
    if (st == STORE_OK) {
        pend.slot = STORE_IDM_SLOT_CURRENT;
        pend.created_at = (int64_t)time(NULL);
        pend.join_nonce_base = j->join_nonce_base;
        if ((st = store_idm_key_put(s, &pend)) == STORE_OK)
            st = store_idm_key_delete(s, j->dev_eui, STORE_IDM_SLOT_PENDING);
    }
    lw_secure_wipe(&cur, sizeof cur);
    lw_secure_wipe(&pend, sizeof pend);
    if (st != STORE_OK)
        return st;
    json_t *det = json_pack("{s:b}", "renewal", 1);
    st = det != NULL ? idm_se_event_txn(s, j->dev_eui, IDM_EV_PROFILE_ACKED, j->actor, det, NULL) : STORE_ERR_NOMEM;
    json_decref(det);
    return st;
}

idm_status idm_ops_renew_push(hsm_session *hs, store *db, uint64_t dev_eui, const char *actor, char err[IDM_ERR_MAX])
{
    err[0] = '\0';
    store_idm_se se;
    store_idm_profile_key *k = calloc(1, sizeof *k);
    store_idm_js *js = calloc(1, sizeof *js);
    idm_status rc = k == NULL || js == NULL ? IDM_ERR_NOMEM : IDM_OK;
    store_status ss = STORE_OK;
    if (rc == IDM_OK && ((ss = store_idm_se_get(db, dev_eui, &se)) != STORE_OK ||
                         (ss = store_idm_key_get(db, dev_eui, STORE_IDM_SLOT_PENDING, k)) != STORE_OK ||
                         (ss = store_idm_js_get(db, k->js_id, js)) != STORE_OK)) {
        snprintf(err, IDM_ERR_MAX, "%016llX: renewal: %s", (unsigned long long)dev_eui, store_strerror(ss));
        rc = from_store(ss);
    }
    if (rc == IDM_OK && !k->acked) {
        snprintf(err, IDM_ERR_MAX, "%016llX: the SE has not acknowledged the new keys", (unsigned long long)dev_eui);
        rc = IDM_ERR_BUSY;
    }
    uint32_t nj = 0;
    if (rc == IDM_OK)
        rc = idm_js_put_device(hs, db, js, &se, k, &nj, err);
    if (rc == IDM_OK) {
        push_job j = {dev_eui, actor, nj};
        if ((ss = store_idm_txn(db, push_fn, &j)) != STORE_OK) {
            snprintf(err, IDM_ERR_MAX, "%016llX: recording the renewal: %s", (unsigned long long)dev_eui,
                     store_strerror(ss));
            rc = from_store(ss);
        }
    }
    if (k != NULL)
        lw_secure_wipe(k, sizeof *k);
    if (js != NULL)
        lw_secure_wipe(js, sizeof *js);
    free(k);
    free(js);
    lw_secure_wipe(&se, sizeof se);
    return rc;
}

typedef struct joined_job {
    uint64_t dev_eui;
    const char *actor;
} joined_job;

static store_status joined_fn(store *s, void *ctx)
{
    joined_job *j = ctx;
    store_idm_claim c;
    store_status st = store_idm_claim_get(s, j->dev_eui, &c);
    if (st != STORE_OK && st != STORE_ERR_NOT_FOUND)
        return st;
    json_t *det = json_pack("{s:s}", "via", "customer_js");
    if (det == NULL)
        return STORE_ERR_NOMEM;
    if (st == STORE_OK && (c.op == STORE_IDM_OP_RENEW || c.op == STORE_IDM_OP_TRANSFER)) {
        if (c.prev_js_id[0] != '\0') {
            /* The new owner's JS saw a join: now the old owner's device goes. */
            st = store_idm_cleanup_add(s, j->dev_eui, c.prev_js_id, "transferred");
            if (st == STORE_OK && json_object_set_new(det, "transfer_from", json_string(c.prev_js_id)) != 0)
                st = STORE_ERR_NOMEM;
        } else if (json_object_set_new(det, "renewal", json_true()) != 0) {
            st = STORE_ERR_NOMEM;
        }
        if (st == STORE_OK)
            st = store_idm_key_delete(s, j->dev_eui, STORE_IDM_SLOT_PREVIOUS);
        c.prev_tenant_id[0] = c.prev_js_id[0] = '\0';
        c.op = STORE_IDM_OP_NONE;
        if (st == STORE_OK)
            st = store_idm_claim_put(s, &c);
    } else {
        st = STORE_OK;
    }
    if (st == STORE_OK)
        st = idm_se_event_txn(s, j->dev_eui, IDM_EV_CUSTOMER_JOIN, j->actor, det, NULL);
    json_decref(det);
    return st;
}

idm_status idm_ops_customer_joined(store *db, uint64_t dev_eui, const char *actor, char err[IDM_ERR_MAX])
{
    err[0] = '\0';
    joined_job j = {dev_eui, actor};
    store_status st = store_idm_txn(db, joined_fn, &j);
    if (st != STORE_OK) {
        snprintf(err, IDM_ERR_MAX, "%016llX: customer join: %s", (unsigned long long)dev_eui, store_strerror(st));
        return from_store(st);
    }
    return IDM_OK;
}

typedef struct undo_job {
    uint64_t dev_eui;
    const char *why, *actor;
    bool restored;               /* a renewal: previous keys are back on the JS */
    uint32_t join_nonce_base;    /* the JS's NextJoinNonce then */
} undo_job;

static store_status undo_fn(store *s, void *ctx)
{
    undo_job *j = ctx;
    store_status st;
    if (j->restored) {
        store_idm_profile_key prev;
        memset(&prev, 0, sizeof prev);
        if ((st = store_idm_key_get(s, j->dev_eui, STORE_IDM_SLOT_PREVIOUS, &prev)) == STORE_OK) {
            prev.slot = STORE_IDM_SLOT_CURRENT;
            prev.join_nonce_base = j->join_nonce_base;
            if ((st = store_idm_key_delete_all(s, j->dev_eui)) == STORE_OK)
                st = store_idm_key_put(s, &prev);
        }
        lw_secure_wipe(&prev, sizeof prev);
        store_idm_claim c;
        if (st == STORE_OK && (st = store_idm_claim_get(s, j->dev_eui, &c)) == STORE_OK) {
            c.op = STORE_IDM_OP_NONE;
            st = store_idm_claim_put(s, &c);
        }
    } else {
        store_idm_op op;
        st = idm_ops_update_failed_txn(s, j->dev_eui, &op);
    }
    if (st != STORE_OK)
        return st;
    json_t *det = json_pack("{s:s}", "reason", j->why);
    st = det != NULL ? idm_se_event_txn(s, j->dev_eui, IDM_EV_UPDATE_FAILED, j->actor, det, NULL) : STORE_ERR_NOMEM;
    json_decref(det);
    return st;
}

idm_status idm_ops_undo_update(hsm_session *hs, store *db, uint64_t dev_eui, const char *why, const char *actor,
                               char err[IDM_ERR_MAX])
{
    err[0] = '\0';
    store_idm_se se;
    store_idm_claim c;
    idm_status rc = load(db, dev_eui, NULL, &se, &c, err);
    undo_job j = {dev_eui, why, actor, false, 0};
    if (rc == IDM_OK && c.op == STORE_IDM_OP_RENEW) {
        /* The SE's trial fell back to the old keys (or never got the new
         * ones): put them back on the JS before anything else. */
        store_idm_profile_key *k = calloc(1, sizeof *k);
        store_idm_js *js = calloc(1, sizeof *js);
        store_status ss = STORE_OK;
        if (k == NULL || js == NULL)
            rc = IDM_ERR_NOMEM;
        else if ((ss = store_idm_key_get(db, dev_eui, STORE_IDM_SLOT_PREVIOUS, k)) != STORE_OK ||
                 (ss = store_idm_js_get(db, k->js_id, js)) != STORE_OK) {
            snprintf(err, IDM_ERR_MAX, "%016llX: the keys before the renewal: %s", (unsigned long long)dev_eui,
                     store_strerror(ss));
            rc = from_store(ss);
        } else {
            rc = idm_js_put_device(hs, db, js, &se, k, &j.join_nonce_base, err);
        }
        j.restored = true;
        if (k != NULL)
            lw_secure_wipe(k, sizeof *k);
        if (js != NULL)
            lw_secure_wipe(js, sizeof *js);
        free(k);
        free(js);
    } else if (rc == IDM_OK && c.op != STORE_IDM_OP_TRANSFER) {
        snprintf(err, IDM_ERR_MAX, "%016llX: no renewal or transfer to undo", (unsigned long long)dev_eui);
        rc = IDM_ERR_ILLEGAL;
    }
    lw_secure_wipe(&se, sizeof se);
    if (rc != IDM_OK)
        return rc;
    store_status st = store_idm_txn(db, undo_fn, &j);
    if (st != STORE_OK) {
        snprintf(err, IDM_ERR_MAX, "%016llX: undoing the update: %s", (unsigned long long)dev_eui, store_strerror(st));
        return from_store(st);
    }
    return IDM_OK;
}

typedef struct redeliver_job {
    uint64_t dev_eui;
    const char *actor;
} redeliver_job;

static store_status redeliver_fn(store *s, void *ctx)
{
    redeliver_job *j = ctx;
    store_idm_claim c;
    store_idm_se se;
    store_status st = store_idm_claim_get(s, j->dev_eui, &c);
    if (st == STORE_OK)
        st = store_idm_se_get(s, j->dev_eui, &se);
    if (st != STORE_OK)
        return st;
    store_idm_claim_state to = STORE_IDM_CLAIM_NONE;
    bool still = se.state == IDM_STATE_FALLBACK && idm_claim_transition(c.state, IDM_CLAIM_EV_PROVISION, &to) == IDM_OK &&
                 c.provisioned_at > 0 && c.op == STORE_IDM_OP_NONE;
    lw_secure_wipe(&se, sizeof se);
    if (!still)
        return STORE_ERR_ABORTED;
    char subject[17];
    eui16(j->dev_eui, subject);
    json_t *det = json_pack("{s:s,s:s}", "tenant", c.tenant_id, "js", c.js_id);
    c.provisioned_at = 0; /* the provisioning work list takes it again */
    st = det != NULL ? store_idm_claim_put(s, &c) : STORE_ERR_NOMEM;
    if (st == STORE_OK)
        st = idm_audit_txn(s, j->actor, "idm.redeliver", subject, det);
    json_decref(det);
    return st;
}

idm_status idm_ops_redeliver(store *db, uint64_t dev_eui, const char *actor, char err[IDM_ERR_MAX])
{
    err[0] = '\0';
    redeliver_job j = {dev_eui, actor};
    store_status st = store_idm_txn(db, redeliver_fn, &j);
    if (st != STORE_OK) {
        snprintf(err, IDM_ERR_MAX, "%016llX: redelivery: %s", (unsigned long long)dev_eui, store_strerror(st));
        return from_store(st);
    }
    return IDM_OK;
}

/* One deletion owed to a customer JS: asked again, forgotten once done. */
static void cleanup_one(hsm_session *hs, store *db, const store_idm_cleanup *c, store_idm_js *js)
{
    char err[IDM_ERR_MAX] = "", subject[17];
    store_status ss = store_idm_js_get(db, c->js_id, js);
    idm_status rc = ss == STORE_OK ? idm_js_delete_device(hs, db, js, c->dev_eui, err) : IDM_ERR_NOT_FOUND;
    if (rc != IDM_OK && ss == STORE_OK) {
        idm_logf("%016llX: deleting from %s later: %s", (unsigned long long)c->dev_eui, c->js_id, err);
        return;
    }
    eui16(c->dev_eui, subject);
    json_t *det = json_pack("{s:s,s:s}", "js", c->js_id, "reason", c->reason);
    if (det != NULL && ss != STORE_OK && json_object_set_new(det, "js_unknown", json_true()) != 0) {
        json_decref(det);
        det = NULL;
    }
    if (det == NULL) {
        idm_logf("%016llX: deletion from %s: %s (kept for the next round)", (unsigned long long)c->dev_eui, c->js_id,
                 idm_strerror(IDM_ERR_NOMEM));
        return;
    }
    if (store_idm_cleanup_done(db, c->dev_eui, c->js_id) == STORE_OK)
        (void)idm_audit(db, "idm-ota", "idm.js.device_deleted", subject, det);
    json_decref(det);
}

idm_status idm_ops_cleanup(hsm_session *hs, store *db, char err[IDM_ERR_MAX])
{
    err[0] = '\0';
    store_idm_cleanup *list = calloc(IDM_OTA_WORK_PAGE, sizeof *list);
    store_idm_js *js = calloc(1, sizeof *js);
    store_idm_cleanup after;
    size_t n = 0;
    bool first = true;
    idm_status rc = IDM_OK;
    if (list == NULL || js == NULL) {
        rc = IDM_ERR_NOMEM;
        snprintf(err, IDM_ERR_MAX, "housekeeping: JS deletions: %s", idm_strerror(rc));
        goto out;
    }
    do {
        store_status st = store_idm_cleanup_list(db, first ? NULL : &after, list, IDM_OTA_WORK_PAGE, &n);
        if (st != STORE_OK) {
            rc = IDM_ERR_STORE;
            snprintf(err, IDM_ERR_MAX, "housekeeping: listing JS deletions: %s", store_strerror(st));
            idm_logf("%s", err);
            break;
        }
        for (size_t i = 0; i < n; i++)
            cleanup_one(hs, db, &list[i], js);
        if (n > 0)
            after = list[n - 1];
        first = false;
    } while (n == IDM_OTA_WORK_PAGE);
out:
    if (js != NULL)
        lw_secure_wipe(js, sizeof *js);
    free(js);
    free(list);
    return rc;
}

/*
 * idm_claim.c - claims and assignment (docs/idm.md, "Claims").
 *
 * A claim is checked and changed in one transaction with its audit entry.
 * Why the owner token is compared before anything is answered: a caller
 * without the token must not learn whether, or by whom, an SE is held, so
 * every claim without it gets one answer. Why wrong tokens are counted per
 * tenant and SE: a count per SE let anyone who knows DevEUIs lock them for
 * their buyers; counted per tenant, a guesser locks out only itself.
 * Release and refuse leave the SE with no holder: a holder kept on a
 * released claim came back at the next unlock, ahead of the real buyer.
 */
#include "idm/idm_tenant.h"
#include "lorawan/lw_secure.h"

#include <mbedtls/sha256.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void eui_text(uint64_t eui, char out[17])
{
    snprintf(out, 17, "%016llX", (unsigned long long)eui);
}

static idm_status from_store(store_status st)
{
    switch (st) {
    case STORE_OK:
        return IDM_OK;
    case STORE_ERR_NOT_FOUND:
        return IDM_ERR_NOT_FOUND;
    case STORE_ERR_EXISTS:
        return IDM_ERR_EXISTS;
    case STORE_ERR_ARGUMENT:
        return IDM_ERR_ARGUMENT;
    default:
        return IDM_ERR_STORE;
    }
}

/* ---------------------------------------------------------------- claims */

typedef struct claim_job {
    uint64_t dev_eui;
    const char *tenant_id;
    const char *owner_token;
    idm_claim_op op;
    const char *actor;
    idm_status result;
    bool already;
    char *err;
} claim_job;

/* An audit entry of SE dev_eui with details {k1: v1} or {k1: v1, k2: v2}
 * (k2 NULL), built by jansson so that no value can break or cut them. */
static store_status audit_pairs(store *s, const char *actor, const char *action, uint64_t dev_eui, const char *k1,
                                const char *v1, const char *k2, const char *v2)
{
    char subject[17];
    eui_text(dev_eui, subject);
    json_t *det = json_pack("{s:s}", k1, v1);
    if (det != NULL && k2 != NULL && json_object_set_new(det, k2, json_string(v2)) != 0) {
        json_decref(det);
        det = NULL;
    }
    store_status st = det != NULL ? idm_audit_txn(s, actor, action, subject, det) : STORE_ERR_NOMEM;
    json_decref(det);
    return st;
}

static store_status claim_audit(store *s, const claim_job *j, const char *action)
{
    return audit_pairs(s, j->actor, action, j->dev_eui, "tenant", j->tenant_id, NULL, NULL);
}

/* The one answer to a claim without the right owner token: the same for an
 * SE that does not exist, is free, is held by anyone, is locked or is
 * retired, and for a tenant that guessed too often, so that guessing
 * teaches nothing (docs/idm.md, "Claims"). */
#define NO_MATCH "the owner token does not match this DevEUI"

static store_status claim_fn(store *s, void *ctx)
{
    claim_job *j = ctx;
    j->result = IDM_OK;
    j->already = false;
    store_idm_tenant t;
    store_status st = store_idm_tenant_get(s, j->tenant_id, &t);
    if (st != STORE_OK || t.kind != STORE_IDM_TENANT_CUSTOMER) {
        /* decided on the tenant alone, before the SE is looked at */
        j->result = st == STORE_OK ? IDM_ERR_FORBIDDEN : IDM_ERR_NOT_FOUND;
        snprintf(j->err, IDM_ERR_MAX, "tenant %s: %s", j->tenant_id,
                 st == STORE_OK ? "only a customer tenant claims" : "unknown");
        return st == STORE_OK || st == STORE_ERR_NOT_FOUND ? STORE_OK : st;
    }
    /* A malformed token is a mistake of form, refused on the input alone:
     * not counted, and no SE looked up. */
    uint8_t tok[IDM_OWNER_TOKEN_LEN], h[32];
    if (j->owner_token == NULL || strlen(j->owner_token) != 2 * IDM_OWNER_TOKEN_LEN ||
        lw_hex_decode(j->owner_token, 2 * IDM_OWNER_TOKEN_LEN, tok, sizeof tok) != LW_OK) {
        lw_secure_wipe(tok, sizeof tok);
        j->result = IDM_ERR_ARGUMENT;
        snprintf(j->err, IDM_ERR_MAX, "OwnerToken: %u hex digits, as on the label", 2 * IDM_OWNER_TOKEN_LEN);
        return STORE_OK;
    }
    (void)mbedtls_sha256_ret(tok, sizeof tok, h, 0);
    lw_secure_wipe(tok, sizeof tok);
    store_idm_se se;
    st = store_idm_se_get(s, j->dev_eui, &se);
    if (st != STORE_OK && st != STORE_ERR_NOT_FOUND) {
        lw_secure_wipe(h, sizeof h);
        return st;
    }
    bool exists = st == STORE_OK;
    /* compared whether or not the SE exists, so the time does not tell */
    static const uint8_t none[STORE_IDM_HASH_LEN] = {0};
    bool good = lw_secure_equal(h, exists ? se.owner_token_hash : none, sizeof h) == 1 && exists;
    lw_secure_wipe(h, sizeof h);
    bool retired = exists && se.state == IDM_STATE_RETIRED;
    lw_secure_wipe(&se, sizeof se);
    uint32_t failures = 0;
    if (exists && (st = store_idm_claim_failures_get(s, j->dev_eui, j->tenant_id, &failures)) != STORE_OK)
        return st;
    if (!good || failures >= IDM_CLAIM_MAX_FAILURES) {
        j->result = IDM_ERR_AUTH;
        snprintf(j->err, IDM_ERR_MAX, NO_MATCH);
        if (!exists)
            return STORE_OK;
        /* counted for this tenant only: it locks itself out, never the buyer */
        bool counted = !good && failures < IDM_CLAIM_MAX_FAILURES;
        if (counted && (st = store_idm_claim_failures_add(s, j->dev_eui, j->tenant_id, &failures)) != STORE_OK)
            return st;
        return claim_audit(s, j, counted && failures >= IDM_CLAIM_MAX_FAILURES ? "idm.claim.locked_out" : "idm.claim.refused");
    }
    /* The right token: its holder may learn where the SE stands. */
    if (retired) {
        j->result = IDM_ERR_ILLEGAL;
        snprintf(j->err, IDM_ERR_MAX, "the secure element is retired");
        return claim_audit(s, j, "idm.claim.refused");
    }
    store_idm_claim c;
    st = store_idm_claim_get(s, j->dev_eui, &c);
    if (st == STORE_ERR_NOT_FOUND) {
        memset(&c, 0, sizeof c);
        c.dev_eui = j->dev_eui;
        c.state = STORE_IDM_CLAIM_NONE;
    } else if (st != STORE_OK) {
        return st;
    }
    store_idm_claim_state to = STORE_IDM_CLAIM_NONE;
    if (idm_claim_transition(c.state, IDM_CLAIM_EV_CLAIM, &to) != IDM_OK) {
        /* the table's only hole for a claim is an operator's lock */
        j->result = IDM_ERR_LOCKED;
        snprintf(j->err, IDM_ERR_MAX, "the claim of this secure element is locked by the operator");
        return claim_audit(s, j, "idm.claim.refused");
    }
    if (c.state == STORE_IDM_CLAIM_CLAIMED && strcmp(c.tenant_id, j->tenant_id) != 0) {
        j->result = IDM_ERR_LOCKED;
        snprintf(j->err, IDM_ERR_MAX, "the secure element is claimed by another tenant");
        return claim_audit(s, j, "idm.claim.refused");
    }
    if ((st = store_idm_claim_failures_clear(s, j->dev_eui, j->tenant_id)) != STORE_OK)
        return st;
    if (c.state == STORE_IDM_CLAIM_CLAIMED) {
        j->already = true;
        return STORE_OK;
    }
    c.state = to;
    memcpy(c.tenant_id, j->tenant_id, strlen(j->tenant_id) + 1);
    c.js_id[0] = '\0';
    c.failures = 0;
    c.provisioned_at = 0;
    st = store_idm_claim_put(s, &c);
    if (st == STORE_OK)
        st = claim_audit(s, j, "idm.claim");
    return st;
}

idm_status idm_claim(store *db, uint64_t dev_eui, const char *tenant_id, const char *owner_token, const char *actor,
                     bool *already, char err[IDM_ERR_MAX])
{
    err[0] = '\0';
    if (db == NULL || tenant_id == NULL)
        return IDM_ERR_ARGUMENT;
    claim_job j = {.dev_eui = dev_eui, .tenant_id = tenant_id, .owner_token = owner_token, .actor = actor, .err = err};
    store_status st = store_idm_txn(db, claim_fn, &j);
    if (st != STORE_OK) {
        snprintf(err, IDM_ERR_MAX, "%016llX: %s", (unsigned long long)dev_eui, store_strerror(st));
        return IDM_ERR_STORE;
    }
    if (j.result == IDM_ERR_NOT_FOUND && err[0] == '\0')
        snprintf(err, IDM_ERR_MAX, "no such secure element");
    if (already != NULL)
        *already = j.already;
    return j.result;
}

typedef struct claim_batch {
    claim_job *jobs;
    size_t n;
} claim_batch;

static store_status claim_batch_fn(store *s, void *ctx)
{
    claim_batch *b = ctx;
    for (size_t i = 0; i < b->n; i++) {
        store_status st = claim_fn(s, &b->jobs[i]);
        if (st != STORE_OK)
            return st;
    }
    return STORE_OK;
}

idm_status idm_claim_many(store *db, const char *tenant_id, const char *actor, idm_claim_item *items, size_t n)
{
    if (db == NULL || tenant_id == NULL || items == NULL || n == 0 || n > IDM_CLAIM_BATCH_MAX)
        return IDM_ERR_ARGUMENT;
    claim_job *jobs = calloc(n, sizeof *jobs);
    if (jobs == NULL)
        return IDM_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        items[i].err[0] = '\0';
        jobs[i] = (claim_job){.dev_eui = items[i].dev_eui, .tenant_id = tenant_id, .owner_token = items[i].owner_token,
                              .actor = actor, .err = items[i].err};
    }
    claim_batch b = {jobs, n};
    if (store_idm_txn(db, claim_batch_fn, &b) == STORE_OK) {
        for (size_t i = 0; i < n; i++) {
            items[i].result = jobs[i].result;
            items[i].already = jobs[i].already;
            if (jobs[i].result == IDM_ERR_NOT_FOUND && items[i].err[0] == '\0')
                snprintf(items[i].err, IDM_ERR_MAX, "no such secure element");
        }
    } else {
        /* rolled back as a whole: each on its own, as idm_claim */
        for (size_t i = 0; i < n; i++)
            items[i].result = idm_claim(db, items[i].dev_eui, tenant_id, items[i].owner_token, actor,
                                        &items[i].already, items[i].err);
    }
    free(jobs);
    return IDM_OK;
}

/* ---------------------------------------------------------------- claims files */

/* Exactly 2*n hex digits s[len] into out[n], decoded in constant time. */
static bool hex_exact(const char *s, size_t len, uint8_t *out, size_t n)
{
    return len == 2 * n && lw_hex_decode(s, len, out, n) == LW_OK;
}

static bool eui_of(const char *s, size_t len, uint64_t *out)
{
    uint8_t b[8];
    if (!hex_exact(s, len, b, sizeof b))
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < sizeof b; i++)
        v = v << 8 | b[i];
    *out = v;
    return true;
}

/* Checks that s[len] is an owner token and copies its text into token[]. */
static bool token_of(const char *s, size_t len, char token[2 * IDM_OWNER_TOKEN_LEN + 1])
{
    uint8_t raw[IDM_OWNER_TOKEN_LEN];
    bool ok = hex_exact(s, len, raw, sizeof raw);
    lw_secure_wipe(raw, sizeof raw);
    if (ok) {
        memcpy(token, s, len);
        token[len] = '\0';
    }
    return ok;
}

/* LW:D0:<JoinEUI>:<DevEUI>:<ProfileID>[:<letter><value>]... (docs/hsa.md):
 * the fixed fields are checked, and of the optional ones only O is read. */
static idm_status qr_parse(const char *p, size_t len, uint64_t *dev_eui, char token[2 * IDM_OWNER_TOKEN_LEN + 1],
                           char err[IDM_ERR_MAX])
{
    const char *end = p + len;
    size_t field = 0;
    bool have_token = false;
    uint64_t x = 0;
    uint8_t pid[4];
    for (const char *q = p;; field++) {
        const char *colon = memchr(q, ':', (size_t)(end - q));
        size_t n = (size_t)((colon != NULL ? colon : end) - q);
        bool ok = true;
        if (field == 0)
            ok = n == 2 && memcmp(q, "LW", 2) == 0;
        else if (field == 1)
            ok = n == 2 && memcmp(q, "D0", 2) == 0;
        else if (field == 2)
            ok = eui_of(q, n, &x);
        else if (field == 3)
            ok = eui_of(q, n, dev_eui);
        else if (field == 4)
            ok = hex_exact(q, n, pid, sizeof pid);
        else if (n > 0 && q[0] == 'O') {
            if (have_token || !token_of(q + 1, n - 1, token)) {
                snprintf(err, IDM_ERR_MAX, "QR: the O field must be one owner token of %d hex digits",
                         2 * IDM_OWNER_TOKEN_LEN);
                return IDM_ERR_INPUT;
            }
            have_token = true;
        }
        if (!ok) {
            snprintf(err, IDM_ERR_MAX, "QR: expected LW:D0:<JoinEUI>:<DevEUI>:<ProfileID>:O<OwnerToken>");
            return IDM_ERR_INPUT;
        }
        if (colon == NULL)
            break;
        q = colon + 1;
    }
    if (field < 4 || !have_token) {
        snprintf(err, IDM_ERR_MAX, "QR: %s", field < 4 ? "expected LW:D0:<JoinEUI>:<DevEUI>:<ProfileID>:O<OwnerToken>"
                                                       : "no owner token (the O field)");
        return IDM_ERR_INPUT;
    }
    return IDM_OK;
}

idm_status idm_claim_line_parse(const char *line, uint64_t *dev_eui, char token[2 * IDM_OWNER_TOKEN_LEN + 1],
                                char err[IDM_ERR_MAX])
{
    err[0] = '\0';
    if (line == NULL || dev_eui == NULL || token == NULL)
        return IDM_ERR_ARGUMENT;
    token[0] = '\0';
    const char *p = line + strspn(line, " \t");
    size_t len = strcspn(p, "\r\n");
    while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
        len--;
    idm_status st = IDM_OK;
    if (len >= 3 && memcmp(p, "LW:", 3) == 0) {
        st = qr_parse(p, len, dev_eui, token, err);
    } else {
        size_t a = 0;
        while (a < len && p[a] != ' ' && p[a] != '\t')
            a++;
        size_t b = a;
        while (b < len && (p[b] == ' ' || p[b] == '\t'))
            b++;
        if (!eui_of(p, a, dev_eui) || !token_of(p + b, len - b, token)) {
            snprintf(err, IDM_ERR_MAX,
                     "expected DEVEUI OWNERTOKEN (16 and %d hex digits) or a QR payload LW:D0:...:O<OwnerToken>",
                     2 * IDM_OWNER_TOKEN_LEN);
            st = IDM_ERR_INPUT;
        }
    }
    if (st != IDM_OK) {
        lw_secure_wipe(token, 2 * IDM_OWNER_TOKEN_LEN + 1);
        *dev_eui = 0;
    }
    return st;
}

static store_status change_fn(store *s, void *ctx)
{
    claim_job *j = ctx;
    j->result = IDM_OK;
    store_idm_claim c;
    store_status st = store_idm_claim_get(s, j->dev_eui, &c);
    if (st == STORE_ERR_NOT_FOUND && j->op == IDM_CLAIM_LOCK && store_idm_se_get(s, j->dev_eui, &(store_idm_se){0}) == STORE_OK) {
        memset(&c, 0, sizeof c);
        c.dev_eui = j->dev_eui;
        c.state = STORE_IDM_CLAIM_NONE;
        st = STORE_OK;
    }
    if (st != STORE_OK) {
        j->result = from_store(st);
        /* a tenant's release of an unknown SE answers as for another's */
        snprintf(j->err, IDM_ERR_MAX, j->op == IDM_CLAIM_RELEASE ? "no such secure element" : "%016llX: no claim",
                 (unsigned long long)j->dev_eui);
        return st == STORE_ERR_NOT_FOUND ? STORE_OK : st;
    }
    /* The claim table (idm_state.c) says whether the change is legal from
     * the claim's state; the holder and "no profile queued yet" are the
     * checks beside it that the table cannot see. */
    idm_claim_event ev = IDM_CLAIM_EV_LOCK;
    const char *action = "idm.claim.lock";
    switch (j->op) {
    case IDM_CLAIM_RELEASE:
        ev = IDM_CLAIM_EV_RELEASE, action = "idm.claim.release";
        break;
    case IDM_CLAIM_REFUSE:
        ev = IDM_CLAIM_EV_REFUSE, action = "idm.claim.refuse";
        break;
    case IDM_CLAIM_LOCK:
        break;
    case IDM_CLAIM_UNLOCK:
        ev = c.tenant_id[0] != '\0' ? IDM_CLAIM_EV_UNLOCK_HELD : IDM_CLAIM_EV_UNLOCK_FREE, action = "idm.claim.unlock";
        break;
    }
    store_idm_claim_state to = STORE_IDM_CLAIM_NONE;
    bool legal = idm_claim_transition(c.state, ev, &to) == IDM_OK;
    switch (j->op) {
    case IDM_CLAIM_RELEASE:
        if (!legal || j->tenant_id == NULL || strcmp(c.tenant_id, j->tenant_id) != 0) {
            j->result = IDM_ERR_NOT_FOUND;
            snprintf(j->err, IDM_ERR_MAX, "no such secure element");
            return STORE_OK;
        }
        if (c.provisioned_at != 0) {
            j->result = IDM_ERR_ILLEGAL;
            snprintf(j->err, IDM_ERR_MAX, "%016llX: a profile was queued; release is a transfer now",
                     (unsigned long long)j->dev_eui);
            return STORE_OK;
        }
        break;
    case IDM_CLAIM_REFUSE:
        if (!legal || c.provisioned_at != 0) {
            j->result = IDM_ERR_ILLEGAL;
            snprintf(j->err, IDM_ERR_MAX, "%016llX: only an unprovisioned claimed SE can be refused",
                     (unsigned long long)j->dev_eui);
            return STORE_OK;
        }
        break;
    case IDM_CLAIM_LOCK:
    case IDM_CLAIM_UNLOCK:
        if (!legal) {
            j->result = IDM_ERR_ILLEGAL;
            snprintf(j->err, IDM_ERR_MAX, "%016llX: the claim is %s", (unsigned long long)j->dev_eui,
                     j->op == IDM_CLAIM_UNLOCK ? "not locked" : store_idm_claim_state_name(c.state));
            return STORE_OK;
        }
        if (j->op == IDM_CLAIM_UNLOCK) {
            c.failures = 0;
            /* the operator's unlock also forgives every tenant's wrong tokens */
            if ((st = store_idm_claim_failures_clear(s, j->dev_eui, NULL)) != STORE_OK)
                return st;
        }
        break;
    }
    store_idm_claim_state from = c.state;
    c.state = to;
    if (to == STORE_IDM_CLAIM_RELEASED || to == STORE_IDM_CLAIM_REFUSED) {
        /* no holder any more: the next to prove the owner token claims it */
        c.js_id[0] = '\0';
        c.tenant_id[0] = '\0';
    }
    st = store_idm_claim_put(s, &c);
    return st == STORE_OK ? audit_pairs(s, j->actor, action, j->dev_eui, "from", store_idm_claim_state_name(from),
                                        "to", store_idm_claim_state_name(to))
                          : st;
}

idm_status idm_claim_change(store *db, uint64_t dev_eui, idm_claim_op op, const char *tenant_id, const char *actor,
                            char err[IDM_ERR_MAX])
{
    err[0] = '\0';
    claim_job j = {.dev_eui = dev_eui, .tenant_id = tenant_id, .op = op, .actor = actor, .err = err};
    store_status st = store_idm_txn(db, change_fn, &j);
    if (st != STORE_OK) {
        snprintf(err, IDM_ERR_MAX, "%016llX: %s", (unsigned long long)dev_eui, store_strerror(st));
        return IDM_ERR_STORE;
    }
    return j.result;
}

/* ---------------------------------------------------------------- assignment */

typedef struct assign_job {
    uint64_t dev_eui;
    const char *tenant_id, *js_id, *actor;
    idm_status result;
    char *err;
} assign_job;

static store_status assign_fn(store *s, void *ctx)
{
    assign_job *j = ctx;
    j->result = IDM_OK;
    store_idm_claim c;
    store_status st = store_idm_claim_get(s, j->dev_eui, &c);
    store_idm_claim_state to = STORE_IDM_CLAIM_NONE;
    if (st == STORE_ERR_NOT_FOUND ||
        (st == STORE_OK && (idm_claim_transition(c.state, IDM_CLAIM_EV_ASSIGN, &to) != IDM_OK ||
                            (j->tenant_id != NULL && strcmp(c.tenant_id, j->tenant_id) != 0)))) {
        j->result = IDM_ERR_NOT_FOUND;
        snprintf(j->err, IDM_ERR_MAX, "%016llX: not claimed%s%s", (unsigned long long)j->dev_eui,
                 j->tenant_id != NULL ? " by " : "", j->tenant_id != NULL ? j->tenant_id : "");
        return STORE_OK;
    }
    if (st != STORE_OK)
        return st;
    store_idm_js js[2];
    size_t n = 0;
    if (j->js_id != NULL) {
        st = store_idm_js_get(s, j->js_id, &js[0]);
        n = st == STORE_OK && strcmp(js[0].tenant_id, c.tenant_id) == 0 ? 1 : 0;
        if (st != STORE_OK && st != STORE_ERR_NOT_FOUND)
            return st;
    } else {
        st = store_idm_js_of_tenant(s, c.tenant_id, js, 2, &n);
        if (st != STORE_OK)
            return st;
        if (n > 1) {
            j->result = IDM_ERR_ARGUMENT;
            snprintf(j->err, IDM_ERR_MAX, "tenant %s has several Join Servers: name one", c.tenant_id);
            lw_secure_wipe(js, sizeof js);
            return STORE_OK;
        }
    }
    if (n == 0) {
        j->result = IDM_ERR_NOT_FOUND;
        snprintf(j->err, IDM_ERR_MAX, "tenant %s has no such Join Server", c.tenant_id);
        return STORE_OK;
    }
    if (c.provisioned_at != 0 && strcmp(c.js_id, js[0].id) == 0) {
        lw_secure_wipe(js, sizeof js);
        return STORE_OK; /* already assigned and provisioned: nothing new */
    }
    if (c.provisioned_at != 0) {
        j->result = IDM_ERR_ILLEGAL;
        snprintf(j->err, IDM_ERR_MAX, "%016llX: provisioned on %s already; moving it is a transfer",
                 (unsigned long long)j->dev_eui, c.js_id);
        lw_secure_wipe(js, sizeof js);
        return STORE_OK;
    }
    memcpy(c.js_id, js[0].id, strlen(js[0].id) + 1);
    lw_secure_wipe(js, sizeof js);
    st = store_idm_claim_put(s, &c);
    if (st == STORE_OK)
        st = audit_pairs(s, j->actor, "idm.assign", j->dev_eui, "tenant", c.tenant_id, "js", c.js_id);
    return st;
}

idm_status idm_assign(store *db, uint64_t dev_eui, const char *tenant_id, const char *js_id, const char *actor,
                      char err[IDM_ERR_MAX])
{
    err[0] = '\0';
    assign_job j = {dev_eui, tenant_id, js_id, actor, IDM_OK, err};
    store_status st = store_idm_txn(db, assign_fn, &j);
    if (st != STORE_OK) {
        snprintf(err, IDM_ERR_MAX, "%016llX: %s", (unsigned long long)dev_eui, store_strerror(st));
        return IDM_ERR_STORE;
    }
    return j.result;
}

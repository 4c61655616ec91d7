/*
 * idm_roaming.c - the IDM's answer to the bootstrap Join Server: who may
 * activate an SE, and where it is (idm_roaming.h).
 *
 * "Where it is" follows the SE's lifecycle state, not its claim: a claim
 * and an assignment say where the SE will go, the state says which profile
 * it runs. A visited network asking HomeNSReq must be sent to the network
 * that will answer the SE's join-request, so only an SE that runs a
 * customer profile (or tries one on trial) has the customer's NetID as
 * home; one on its bootstrap profile has the bootstrap network's.
 */
#include "idm/idm_roaming.h"
#include "lorawan/lw_secure.h"
#include "store/store_idm_tenant.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* One NetID of exactly 6 hex digits (optional 0x) in t[len]. */
static bool net_id_of(const char *t, size_t len, uint32_t *out)
{
    if (len > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X')) {
        t += 2;
        len -= 2;
    }
    if (len != 6)
        return false;
    uint32_t v = 0;
    for (size_t i = 0; i < 6; i++) {
        int h = hexval(t[i]);
        if (h < 0)
            return false;
        v = v << 4 | (uint32_t)h;
    }
    *out = v;
    return true;
}

idm_status idm_net_id_list_canon(const char *text, bool allow_all, size_t max, char *out, size_t cap,
                                 char err[IDM_ERR_MAX])
{
    err[0] = '\0';
    if (text == NULL || out == NULL || cap < 2)
        return IDM_ERR_ARGUMENT;
    out[0] = '\0';
    if (text[0] == '\0' || strcmp(text, "*") == 0) {
        if (allow_all)
            snprintf(out, cap, "*");
        return IDM_OK;
    }
    uint32_t seen[JS_SE_OPERATORS_MAX];
    size_t n = 0, pos = 0;
    const char *p = text;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
        uint32_t id;
        if (!net_id_of(p, len, &id)) {
            snprintf(err, IDM_ERR_MAX, "NetID %zu of the list: expected 6 hex digits, got \"%.*s\"", n + 1,
                     (int)(len > 16 ? 16 : len), p);
            return IDM_ERR_INPUT;
        }
        for (size_t i = 0; i < n; i++) {
            if (seen[i] == id) {
                snprintf(err, IDM_ERR_MAX, "NetID %06X is listed twice", (unsigned)id);
                return IDM_ERR_INPUT;
            }
        }
        if (n >= max || n >= JS_SE_OPERATORS_MAX || pos + 7 > cap) {
            snprintf(err, IDM_ERR_MAX, "at most %zu NetIDs", max < JS_SE_OPERATORS_MAX ? max : JS_SE_OPERATORS_MAX);
            return IDM_ERR_INPUT;
        }
        seen[n++] = id;
        pos += (size_t)snprintf(out + pos, cap - pos, "%s%06X", pos > 0 ? "," : "", (unsigned)id);
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    return IDM_OK;
}

idm_status idm_net_id_list_parse(const char *canon, bool *all, uint32_t *out, size_t cap, size_t *count)
{
    *all = false;
    *count = 0;
    if (strcmp(canon, "*") == 0) {
        *all = true;
        return IDM_OK;
    }
    if (canon[0] == '\0')
        return IDM_OK;
    size_t len = strlen(canon);
    if (len % 7 != 6)
        return IDM_ERR_INPUT;
    for (size_t i = 0; i < len; i++) /* canonical: uppercase */
        if (canon[i] >= 'a' && canon[i] <= 'f')
            return IDM_ERR_INPUT;
    for (size_t i = 0; i < len; i += 7) {
        if (*count >= cap || !net_id_of(canon + i, 6, &out[*count]) || (i + 6 < len && canon[i + 6] != ','))
            return IDM_ERR_INPUT;
        (*count)++;
    }
    return IDM_OK;
}

/* The slot of idm_profile_key holding the keys of the customer profile the
 * SE runs, or NULL when it runs its bootstrap profile. */
/* The key slot of the profile the SE runs now; false when none. */
static bool running_slot(idm_state st, const store_idm_claim *c, store_idm_key_slot *slot)
{
    switch (st) {
    case IDM_STATE_PROFILE_DELIVERED:
    case IDM_STATE_ACTIVE_AT_CUSTOMER:
    case IDM_STATE_TRANSFER_PENDING:
        *slot = STORE_IDM_SLOT_CURRENT;
        return true;
    case IDM_STATE_PROFILE_PENDING:
        /* a renewal or a transfer on its way: the SE still runs the
         * previous customer profile (a transfer keeps the old owner's keys
         * as "previous", a renewal stays with the same Join Server) */
        if (c->op == STORE_IDM_OP_TRANSFER) {
            *slot = STORE_IDM_SLOT_PREVIOUS;
            return true;
        }
        if (c->op == STORE_IDM_OP_RENEW) {
            *slot = STORE_IDM_SLOT_CURRENT;
            return true;
        }
        return false;
    default:
        return false;
    }
}

js_status idm_se_policy(void *fn_ctx, store *db, uint64_t dev_eui, js_se_policy *out)
{
    (void)fn_ctx;
    memset(out, 0, sizeof *out);
    store_idm_se se;
    store_status ss = store_idm_se_get(db, dev_eui, &se);
    if (ss == STORE_ERR_NOT_FOUND)
        return JS_OK;
    if (ss != STORE_OK)
        return JS_ERR_STORE;
    out->is_se = true;
    js_status rc = JS_OK;
    idm_state st = se.state;
    if (idm_net_id_list_parse(se.operators, &out->all_operators, out->operators, JS_SE_OPERATORS_MAX,
                              &out->operator_count) != IDM_OK) {
        rc = JS_ERR_STORE;
        goto done;
    }
    store_idm_claim claim;
    memset(&claim, 0, sizeof claim);
    ss = store_idm_claim_get(db, dev_eui, &claim);
    if (ss != STORE_OK && ss != STORE_ERR_NOT_FOUND) {
        rc = JS_ERR_STORE;
        goto done;
    }
    store_idm_key_slot slot;
    if (!running_slot(st, &claim, &slot))
        goto done;
    store_idm_profile_key key;
    char js_id[STORE_IDM_ID_MAX + 1];
    ss = store_idm_key_get(db, dev_eui, slot, &key);
    if (ss == STORE_OK)
        snprintf(js_id, sizeof js_id, "%s", key.js_id);
    else if (ss == STORE_ERR_NOT_FOUND && claim.js_id[0] != '\0')
        snprintf(js_id, sizeof js_id, "%s", claim.js_id); /* rows from before the profile keys were kept */
    else {
        rc = JS_ERR_STORE;
        goto done;
    }
    lw_secure_wipe(&key, sizeof key);
    store_idm_js *js = calloc(1, sizeof *js);
    if (js == NULL) {
        rc = JS_ERR_NOMEM;
        goto done;
    }
    bool all = false;
    if (store_idm_js_get(db, js_id, js) != STORE_OK ||
        idm_net_id_list_parse(js->allowed_net_ids, &all, out->allowed, STORE_NET_IDS_MAX, &out->allowed_count) !=
            IDM_OK ||
        all) {
        rc = JS_ERR_STORE;
    } else {
        out->moved = true;
        out->home_net_id = js->home_net_id;
    }
    lw_secure_wipe(js, sizeof *js);
    free(js);
done:
    lw_secure_wipe(&se, sizeof se);
    return rc;
}

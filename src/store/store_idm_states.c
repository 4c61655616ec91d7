/*
 * store_idm_states.c - one text table per IDM enum (store_idm_states.h).
 *
 * These tables are the only place in C where a state, a kind, an op or a
 * slot is spelled. The database spells them too: the CHECK lists of
 * store_schema.c, and the SQL of the store's work lists, which filter on
 * the stored text where the rows are (store_idm_tenant.c,
 * store_idm_keys.c). The round trip in tests/unit/test_store.c writes every
 * value through both databases and checks its stored text, so a drift
 * between this file and the schema fails there.
 */
#include "store/store_idm_states.h"

#include <string.h>

static const char *const SE_STATES[IDM_STATE_COUNT] = {
    [IDM_STATE_MANUFACTURED] = "manufactured",
    [IDM_STATE_BOOTSTRAPPED] = "bootstrapped",
    [IDM_STATE_PROFILE_PENDING] = "profile_pending",
    [IDM_STATE_PROFILE_DELIVERED] = "profile_delivered",
    [IDM_STATE_ACTIVE_AT_CUSTOMER] = "active_at_customer",
    [IDM_STATE_FALLBACK] = "fallback",
    [IDM_STATE_TRANSFER_PENDING] = "transfer_pending",
    [IDM_STATE_RETURNED_TO_BOOTSTRAP] = "returned_to_bootstrap",
    [IDM_STATE_RETIRED] = "retired",
};

static const char *const CLAIM_STATES[STORE_IDM_CLAIM_STATE_COUNT] = {
    [STORE_IDM_CLAIM_NONE] = "none",
    [STORE_IDM_CLAIM_CLAIMED] = "claimed",
    [STORE_IDM_CLAIM_LOCKED] = "locked",
    [STORE_IDM_CLAIM_RELEASED] = "released",
    [STORE_IDM_CLAIM_REFUSED] = "refused",
};

static const char *const OPS[STORE_IDM_OP_COUNT] = {
    [STORE_IDM_OP_NONE] = "",
    [STORE_IDM_OP_RENEW] = "renew",
    [STORE_IDM_OP_TRANSFER] = "transfer",
    [STORE_IDM_OP_RETURN] = "return",
};

static const char *const CMD_STATES[STORE_IDM_CMD_STATE_COUNT] = {
    [STORE_IDM_CMD_QUEUED] = "queued",
    [STORE_IDM_CMD_SENDING] = "sending",
    [STORE_IDM_CMD_DONE] = "done",
    [STORE_IDM_CMD_FAILED] = "failed",
};

static const char *const TENANT_KINDS[STORE_IDM_TENANT_KIND_COUNT] = {
    [STORE_IDM_TENANT_MAKER] = "maker",
    [STORE_IDM_TENANT_CUSTOMER] = "customer",
};

static const char *const KEY_SLOTS[STORE_IDM_SLOT_COUNT] = {
    [STORE_IDM_SLOT_CURRENT] = "current",
    [STORE_IDM_SLOT_PENDING] = "pending",
    [STORE_IDM_SLOT_PREVIOUS] = "previous",
};

static const char *name_of(const char *const *names, int count, int v)
{
    return v >= 0 && v < count ? names[v] : "?";
}

static store_status parse_in(const char *const *names, int count, const char *text, int *out)
{
    if (text == NULL)
        return STORE_ERR_ARGUMENT;
    for (int i = 0; i < count; i++) {
        if (strcmp(text, names[i]) == 0) {
            *out = i;
            return STORE_OK;
        }
    }
    return STORE_ERR_ARGUMENT;
}

/* One name and one parse per type, all through the two helpers above. */
#define CONVERSIONS(TYPE, NAME_FN, PARSE_FN, TABLE, COUNT)                                                        \
    const char *NAME_FN(TYPE v)                                                                                   \
    {                                                                                                             \
        return name_of(TABLE, (int)(COUNT), (int)v);                                                              \
    }                                                                                                             \
    store_status PARSE_FN(const char *text, TYPE *out)                                                            \
    {                                                                                                             \
        int v = 0;                                                                                                \
        if (out == NULL)                                                                                          \
            return STORE_ERR_ARGUMENT;                                                                            \
        store_status st = parse_in(TABLE, (int)(COUNT), text, &v);                                                \
        if (st == STORE_OK)                                                                                       \
            *out = (TYPE)v;                                                                                       \
        return st;                                                                                                \
    }

CONVERSIONS(idm_state, store_idm_se_state_name, store_idm_se_state_parse, SE_STATES, IDM_STATE_COUNT)
CONVERSIONS(store_idm_claim_state, store_idm_claim_state_name, store_idm_claim_state_parse, CLAIM_STATES,
            STORE_IDM_CLAIM_STATE_COUNT)
CONVERSIONS(store_idm_op, store_idm_op_name, store_idm_op_parse, OPS, STORE_IDM_OP_COUNT)
CONVERSIONS(store_idm_cmd_state, store_idm_cmd_state_name, store_idm_cmd_state_parse, CMD_STATES,
            STORE_IDM_CMD_STATE_COUNT)
CONVERSIONS(store_idm_tenant_kind, store_idm_tenant_kind_name, store_idm_tenant_kind_parse, TENANT_KINDS,
            STORE_IDM_TENANT_KIND_COUNT)
CONVERSIONS(store_idm_key_slot, store_idm_key_slot_name, store_idm_key_slot_parse, KEY_SLOTS, STORE_IDM_SLOT_COUNT)

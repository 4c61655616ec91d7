/*
 * idm_state.c - the lifecycle table. Why a dense [state][event] table rather
 * than a switch: every pair is visible in one place, the unit test walks all
 * of them against the documented list, and an illegal pair is simply a hole.
 * The claim and command tables below follow the same pattern.
 */
#include "idm/idm_state.h"

#include <stddef.h>

/* 0 = illegal; otherwise the next state + 1. */
#define TO(s) ((unsigned char)((s) + 1))

static const unsigned char TABLE[IDM_STATE_COUNT][IDM_EVENT_COUNT] = {
    [IDM_STATE_MANUFACTURED] = {
        [IDM_EV_BOOTSTRAP_JOIN] = TO(IDM_STATE_BOOTSTRAPPED),
        [IDM_EV_RETIRE] = TO(IDM_STATE_RETIRED),
    },
    [IDM_STATE_BOOTSTRAPPED] = {
        [IDM_EV_BOOTSTRAP_JOIN] = TO(IDM_STATE_BOOTSTRAPPED),
        [IDM_EV_PROFILE_QUEUED] = TO(IDM_STATE_PROFILE_PENDING),
        /* a renewal whose delivery failed left the old customer profile
         * active: the customer JS reporting a join brings it back */
        [IDM_EV_CUSTOMER_JOIN] = TO(IDM_STATE_ACTIVE_AT_CUSTOMER),
        [IDM_EV_RETIRE] = TO(IDM_STATE_RETIRED),
    },
    [IDM_STATE_PROFILE_PENDING] = {
        [IDM_EV_BOOTSTRAP_JOIN] = TO(IDM_STATE_PROFILE_PENDING),
        [IDM_EV_PROFILE_ACKED] = TO(IDM_STATE_PROFILE_DELIVERED),
        [IDM_EV_DELIVERY_FAILED] = TO(IDM_STATE_BOOTSTRAPPED),
        [IDM_EV_UPDATE_FAILED] = TO(IDM_STATE_ACTIVE_AT_CUSTOMER),
        [IDM_EV_RETIRE] = TO(IDM_STATE_RETIRED),
    },
    [IDM_STATE_PROFILE_DELIVERED] = {
        [IDM_EV_BOOTSTRAP_JOIN] = TO(IDM_STATE_FALLBACK),
        [IDM_EV_CUSTOMER_JOIN] = TO(IDM_STATE_ACTIVE_AT_CUSTOMER),
        [IDM_EV_FALLBACK_REPORTED] = TO(IDM_STATE_FALLBACK),
        [IDM_EV_RETURN_REQUESTED] = TO(IDM_STATE_RETURNED_TO_BOOTSTRAP),
        [IDM_EV_UPDATE_FAILED] = TO(IDM_STATE_ACTIVE_AT_CUSTOMER),
        [IDM_EV_RETIRE] = TO(IDM_STATE_RETIRED),
    },
    [IDM_STATE_ACTIVE_AT_CUSTOMER] = {
        [IDM_EV_BOOTSTRAP_JOIN] = TO(IDM_STATE_FALLBACK),
        [IDM_EV_PROFILE_QUEUED] = TO(IDM_STATE_PROFILE_PENDING),
        [IDM_EV_CUSTOMER_JOIN] = TO(IDM_STATE_ACTIVE_AT_CUSTOMER),
        [IDM_EV_FALLBACK_REPORTED] = TO(IDM_STATE_FALLBACK),
        [IDM_EV_TRANSFER_REQUESTED] = TO(IDM_STATE_TRANSFER_PENDING),
        [IDM_EV_RETURN_REQUESTED] = TO(IDM_STATE_RETURNED_TO_BOOTSTRAP),
        [IDM_EV_RETIRE] = TO(IDM_STATE_RETIRED),
    },
    [IDM_STATE_FALLBACK] = {
        [IDM_EV_BOOTSTRAP_JOIN] = TO(IDM_STATE_FALLBACK),
        [IDM_EV_PROFILE_QUEUED] = TO(IDM_STATE_PROFILE_PENDING),
        [IDM_EV_CUSTOMER_JOIN] = TO(IDM_STATE_ACTIVE_AT_CUSTOMER),
        [IDM_EV_TRANSFER_REQUESTED] = TO(IDM_STATE_TRANSFER_PENDING),
        [IDM_EV_RETURN_REQUESTED] = TO(IDM_STATE_RETURNED_TO_BOOTSTRAP),
        [IDM_EV_RETIRE] = TO(IDM_STATE_RETIRED),
    },
    [IDM_STATE_TRANSFER_PENDING] = {
        [IDM_EV_BOOTSTRAP_JOIN] = TO(IDM_STATE_TRANSFER_PENDING),
        [IDM_EV_PROFILE_QUEUED] = TO(IDM_STATE_PROFILE_PENDING),
        [IDM_EV_DELIVERY_FAILED] = TO(IDM_STATE_ACTIVE_AT_CUSTOMER),
        [IDM_EV_CUSTOMER_JOIN] = TO(IDM_STATE_TRANSFER_PENDING),
        [IDM_EV_FALLBACK_REPORTED] = TO(IDM_STATE_FALLBACK),
        [IDM_EV_RETURN_REQUESTED] = TO(IDM_STATE_RETURNED_TO_BOOTSTRAP),
        [IDM_EV_RETIRE] = TO(IDM_STATE_RETIRED),
    },
    [IDM_STATE_RETURNED_TO_BOOTSTRAP] = {
        [IDM_EV_BOOTSTRAP_JOIN] = TO(IDM_STATE_BOOTSTRAPPED),
        [IDM_EV_RETIRE] = TO(IDM_STATE_RETIRED),
    },
    [IDM_STATE_RETIRED] = {0},
};

static const char *const EVENT_NAMES[IDM_EVENT_COUNT] = {
    [IDM_EV_BOOTSTRAP_JOIN] = "bootstrap_join",
    [IDM_EV_PROFILE_QUEUED] = "profile_queued",
    [IDM_EV_PROFILE_ACKED] = "profile_acked",
    [IDM_EV_DELIVERY_FAILED] = "delivery_failed",
    [IDM_EV_CUSTOMER_JOIN] = "customer_join",
    [IDM_EV_FALLBACK_REPORTED] = "fallback_reported",
    [IDM_EV_TRANSFER_REQUESTED] = "transfer_requested",
    [IDM_EV_RETURN_REQUESTED] = "return_requested",
    [IDM_EV_RETIRE] = "retire",
    [IDM_EV_UPDATE_FAILED] = "update_failed",
};

idm_status idm_state_transition(idm_state from, idm_event event, idm_state *to)
{
    if ((unsigned)from >= IDM_STATE_COUNT || (unsigned)event >= IDM_EVENT_COUNT || to == NULL)
        return IDM_ERR_ARGUMENT;
    unsigned char next = TABLE[from][event];
    if (next == 0)
        return IDM_ERR_ILLEGAL;
    *to = (idm_state)(next - 1);
    return IDM_OK;
}

const char *idm_state_name(idm_state s)
{
    return store_idm_se_state_name(s);
}

const char *idm_event_name(idm_event e)
{
    return (unsigned)e < IDM_EVENT_COUNT ? EVENT_NAMES[e] : "?";
}

/* ---------------------------------------------------------------- claims
 *
 * Who drives each event is idm_claim_event's comment (idm_state.h); whether
 * that actor may is idm_authorize's answer, asked before this table. What
 * the table cannot see is checked beside it by the caller: that the holder
 * is the one asking (claim again, release), that no profile was queued yet
 * (release, refuse), that the tenant is a customer. */

#define C(s) ((unsigned char)(STORE_IDM_CLAIM_##s + 1))

static const unsigned char CLAIM_TABLE[STORE_IDM_CLAIM_STATE_COUNT][IDM_CLAIM_EVENT_COUNT] = {
    [STORE_IDM_CLAIM_NONE] = {
        [IDM_CLAIM_EV_CLAIM] = C(CLAIMED),
        [IDM_CLAIM_EV_LOCK] = C(LOCKED),
        [IDM_CLAIM_EV_LET_GO] = C(NONE),
    },
    [STORE_IDM_CLAIM_CLAIMED] = {
        [IDM_CLAIM_EV_CLAIM] = C(CLAIMED),          /* its holder again: "Already" */
        [IDM_CLAIM_EV_RELEASE] = C(RELEASED),
        [IDM_CLAIM_EV_REFUSE] = C(REFUSED),
        [IDM_CLAIM_EV_LOCK] = C(LOCKED),
        [IDM_CLAIM_EV_ASSIGN] = C(CLAIMED),
        [IDM_CLAIM_EV_PROVISION] = C(CLAIMED),
        [IDM_CLAIM_EV_TRANSFER] = C(CLAIMED),       /* another holder */
        [IDM_CLAIM_EV_TRANSFER_UNDONE] = C(CLAIMED),/* the previous holder back */
        [IDM_CLAIM_EV_LET_GO] = C(RELEASED),
    },
    [STORE_IDM_CLAIM_LOCKED] = {
        [IDM_CLAIM_EV_LOCK] = C(LOCKED),
        [IDM_CLAIM_EV_UNLOCK_HELD] = C(CLAIMED),
        [IDM_CLAIM_EV_UNLOCK_FREE] = C(RELEASED),
        [IDM_CLAIM_EV_TRANSFER_UNDONE] = C(LOCKED), /* locked mid-transfer: still locked */
        [IDM_CLAIM_EV_LET_GO] = C(LOCKED),          /* the operator's lock outlives the holder */
    },
    [STORE_IDM_CLAIM_RELEASED] = {
        [IDM_CLAIM_EV_CLAIM] = C(CLAIMED),
        [IDM_CLAIM_EV_LOCK] = C(LOCKED),
        [IDM_CLAIM_EV_LET_GO] = C(RELEASED),
    },
    [STORE_IDM_CLAIM_REFUSED] = {
        [IDM_CLAIM_EV_CLAIM] = C(CLAIMED),
        [IDM_CLAIM_EV_LOCK] = C(LOCKED),
        [IDM_CLAIM_EV_LET_GO] = C(RELEASED),
    },
};

static const char *const CLAIM_EVENT_NAMES[IDM_CLAIM_EVENT_COUNT] = {
    [IDM_CLAIM_EV_CLAIM] = "claim",
    [IDM_CLAIM_EV_RELEASE] = "release",
    [IDM_CLAIM_EV_REFUSE] = "refuse",
    [IDM_CLAIM_EV_LOCK] = "lock",
    [IDM_CLAIM_EV_UNLOCK_HELD] = "unlock_held",
    [IDM_CLAIM_EV_UNLOCK_FREE] = "unlock_free",
    [IDM_CLAIM_EV_ASSIGN] = "assign",
    [IDM_CLAIM_EV_PROVISION] = "provision",
    [IDM_CLAIM_EV_TRANSFER] = "transfer",
    [IDM_CLAIM_EV_TRANSFER_UNDONE] = "transfer_undone",
    [IDM_CLAIM_EV_LET_GO] = "let_go",
};

idm_status idm_claim_transition(store_idm_claim_state from, idm_claim_event ev, store_idm_claim_state *to)
{
    if ((unsigned)from >= STORE_IDM_CLAIM_STATE_COUNT || (unsigned)ev >= IDM_CLAIM_EVENT_COUNT || to == NULL)
        return IDM_ERR_ARGUMENT;
    unsigned char next = CLAIM_TABLE[from][ev];
    if (next == 0)
        return IDM_ERR_ILLEGAL;
    *to = (store_idm_claim_state)(next - 1);
    return IDM_OK;
}

const char *idm_claim_event_name(idm_claim_event e)
{
    return (unsigned)e < IDM_CLAIM_EVENT_COUNT ? CLAIM_EVENT_NAMES[e] : "?";
}

/* ---------------------------------------------------------------- commands
 *
 * Only the IDM's engine moves a command once it is queued (idm_ota.c); the
 * answer is taken only from a command whose fragments went out, and done
 * and failed are final. store_idm_cmd_fail_all does GIVE_UP for every
 * queued or sending command of an SE at once, in SQL: the unit test checks
 * that this table and that statement agree. */

#define K(s) ((unsigned char)(STORE_IDM_CMD_##s + 1))

static const unsigned char CMD_TABLE[STORE_IDM_CMD_STATE_COUNT][IDM_CMD_EVENT_COUNT] = {
    [STORE_IDM_CMD_QUEUED] = {
        [IDM_CMD_EV_START] = K(SENDING),
        [IDM_CMD_EV_GIVE_UP] = K(FAILED),
    },
    [STORE_IDM_CMD_SENDING] = {
        [IDM_CMD_EV_START] = K(SENDING),
        [IDM_CMD_EV_ANSWER_OK] = K(DONE),
        [IDM_CMD_EV_ANSWER_ERROR] = K(FAILED),
        [IDM_CMD_EV_GIVE_UP] = K(FAILED),
    },
    [STORE_IDM_CMD_DONE] = {0},
    [STORE_IDM_CMD_FAILED] = {0},
};

static const char *const CMD_EVENT_NAMES[IDM_CMD_EVENT_COUNT] = {
    [IDM_CMD_EV_START] = "start",
    [IDM_CMD_EV_ANSWER_OK] = "answer_ok",
    [IDM_CMD_EV_ANSWER_ERROR] = "answer_error",
    [IDM_CMD_EV_GIVE_UP] = "give_up",
};

idm_status idm_cmd_transition(store_idm_cmd_state from, idm_cmd_event ev, store_idm_cmd_state *to)
{
    if ((unsigned)from >= STORE_IDM_CMD_STATE_COUNT || (unsigned)ev >= IDM_CMD_EVENT_COUNT || to == NULL)
        return IDM_ERR_ARGUMENT;
    unsigned char next = CMD_TABLE[from][ev];
    if (next == 0)
        return IDM_ERR_ILLEGAL;
    *to = (store_idm_cmd_state)(next - 1);
    return IDM_OK;
}

const char *idm_cmd_event_name(idm_cmd_event e)
{
    return (unsigned)e < IDM_CMD_EVENT_COUNT ? CMD_EVENT_NAMES[e] : "?";
}

/*
 * idm_state.c - the lifecycle table. Why a dense [state][event] table rather
 * than a switch: every pair is visible in one place, the unit test walks all
 * of them against the documented list, and an illegal pair is simply a hole.
 */
#include "idm/idm_state.h"

#include <stddef.h>

#include <string.h>

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

static const char *const STATE_NAMES[IDM_STATE_COUNT] = {
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
    return (unsigned)s < IDM_STATE_COUNT ? STATE_NAMES[s] : "?";
}

const char *idm_event_name(idm_event e)
{
    return (unsigned)e < IDM_EVENT_COUNT ? EVENT_NAMES[e] : "?";
}

idm_status idm_state_parse(const char *name, idm_state *out)
{
    if (name == NULL || out == NULL)
        return IDM_ERR_ARGUMENT;
    for (int i = 0; i < IDM_STATE_COUNT; i++) {
        if (strcmp(name, STATE_NAMES[i]) == 0) {
            *out = (idm_state)i;
            return IDM_OK;
        }
    }
    return IDM_ERR_ARGUMENT;
}

/*
 * idm_state.h - the per-SE lifecycle state machine (docs/idm-lifecycle.md).
 *
 * One explicit table: for every (state, event) pair either the next state or
 * "illegal". The IDM asks it before every change of an SE's state and writes
 * the change with store_idm_se_set_state (compare-and-set on the old state),
 * so that two operations racing on one SE cannot both move it.
 */
#ifndef FERRY_IDM_STATE_H
#define FERRY_IDM_STATE_H

#include "idm/idm_status.h"

typedef enum idm_state {
    IDM_STATE_MANUFACTURED = 0,     /* imported from the HSA batch; never joined */
    IDM_STATE_BOOTSTRAPPED,         /* a bootstrap join was seen */
    IDM_STATE_PROFILE_PENDING,      /* a customer profile is being delivered over MLS */
    IDM_STATE_PROFILE_DELIVERED,    /* the SE acknowledged the profile (on trial) */
    IDM_STATE_ACTIVE_AT_CUSTOMER,   /* a join on the customer Join Server confirmed */
    IDM_STATE_FALLBACK,             /* the SE went back to its previous profile */
    IDM_STATE_TRANSFER_PENDING,     /* a fleet transfer to another owner was asked */
    IDM_STATE_RETURNED_TO_BOOTSTRAP,/* a return-to-bootstrap command was sent */
    IDM_STATE_RETIRED,              /* end of life: terminal */
    IDM_STATE_COUNT
} idm_state;

typedef enum idm_event {
    IDM_EV_BOOTSTRAP_JOIN = 0,      /* the bootstrap Join Server answered a join of the SE */
    IDM_EV_PROFILE_QUEUED,          /* customer keys made, customer JS provisioned, profile queued */
    IDM_EV_PROFILE_ACKED,           /* the SE acknowledged install + activate of the profile */
    IDM_EV_DELIVERY_FAILED,         /* the delivery deadline passed without the SE's ack */
    IDM_EV_CUSTOMER_JOIN,           /* the customer JS confirmed a join, or the SE reported one */
    IDM_EV_FALLBACK_REPORTED,       /* the SE reported it fell back to its previous profile */
    IDM_EV_TRANSFER_REQUESTED,      /* an operator asked for a fleet transfer */
    IDM_EV_RETURN_REQUESTED,        /* a return-to-bootstrap command was acknowledged by the SE */
    IDM_EV_RETIRE,                  /* an operator retired the SE */
    IDM_EV_UPDATE_FAILED,           /* a key renewal or transfer did not take: the SE runs its
                                       previous customer profile */
    IDM_EVENT_COUNT
} idm_event;

/* The state after `event` in `from` into *to. IDM_ERR_ILLEGAL (and *to
 * untouched) when the table has no such transition; IDM_ERR_ARGUMENT for a
 * value out of range. */
idm_status idm_state_transition(idm_state from, idm_event event, idm_state *to) __attribute__((warn_unused_result));

/* "manufactured", "profile_pending", ... as stored in idm_se.state; "?" when out of range. */
const char *idm_state_name(idm_state s);

/* The state named `name`; IDM_ERR_ARGUMENT when unknown. */
idm_status idm_state_parse(const char *name, idm_state *out) __attribute__((warn_unused_result));

/* "bootstrap_join", ... ; "?" when out of range. */
const char *idm_event_name(idm_event e);

#endif

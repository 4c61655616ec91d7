/*
 * idm_state.h - the per-SE lifecycle state machine (docs/idm-lifecycle.md).
 *
 * One explicit table: for every (state, event) pair either the next state or
 * "illegal". The IDM asks it before every change of an SE's state and writes
 * the change with store_idm_se_set_state (compare-and-set on the old state),
 * so that two operations racing on one SE cannot both move it.
 *
 * The same kind of table for the two smaller machines beside it: the claim
 * (store_idm_claim.state: who holds the SE) and the delivery of one sealed
 * MLS command (store_idm_cmd.state). The tables say which change is legal
 * from which state; who may ask for it is decided before, once, by
 * idm_authorize (idm_authz.c), and each event below names the actors that
 * drive it as that function allows them.
 */
#ifndef FERRY_IDM_STATE_H
#define FERRY_IDM_STATE_H

#include "idm/idm_status.h"
#include "store/store_idm_states.h"

/* idm_state (IDM_STATE_MANUFACTURED ... IDM_STATE_RETIRED, IDM_STATE_COUNT)
 * is declared in store/store_idm_states.h: the store converts it to and
 * from the text of idm_se.state, and may not include this layer's headers.
 * The values and their meaning are listed there; the transitions here. */

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

/* "manufactured", "profile_pending", ... as stored in idm_se.state (the
 * store's table, store_idm_se_state_name); "?" when out of range. There is
 * no parse here: text becomes a state only in the store, when a row is read. */
const char *idm_state_name(idm_state s);

/* "bootstrap_join", ... ; "?" when out of range. */
const char *idm_event_name(idm_event e);

/* ---------------------------------------------------------------- claims */

/* What changes a claim, and who drives it (idm_authorize decides who may). */
typedef enum idm_claim_event {
    IDM_CLAIM_EV_CLAIM = 0,         /* a customer tenant proved the owner token (idm_claim); from
                                       claimed only by its holder: "Already" */
    IDM_CLAIM_EV_RELEASE,           /* the holding customer, or the operator for it, gave it back
                                       before a profile was queued (idm_claim_change) */
    IDM_CLAIM_EV_REFUSE,            /* the operator refused an unprovisioned claim */
    IDM_CLAIM_EV_LOCK,              /* the operator froze it (a tenant's wrong owner tokens lock out
                                       that tenant only: counted apart, the claim does not move) */
    IDM_CLAIM_EV_UNLOCK_HELD,       /* the operator unfroze it, a holder being recorded */
    IDM_CLAIM_EV_UNLOCK_FREE,       /* the operator unfroze it, no holder being recorded */
    IDM_CLAIM_EV_ASSIGN,            /* the holder or the operator chose its Join Server (idm_assign) */
    IDM_CLAIM_EV_PROVISION,         /* the IDM reserved, provisioned or re-queued the profile on that
                                       JS (idm_provision, housekeeping's redelivery) */
    IDM_CLAIM_EV_TRANSFER,          /* the holder or the operator handed it to another customer */
    IDM_CLAIM_EV_TRANSFER_UNDONE,   /* the transfer did not take: back to the previous holder (the
                                       IDM, idm_ops_update_failed_txn) */
    IDM_CLAIM_EV_LET_GO,            /* retired (operator) or returned to bootstrap (the SE's ack of a
                                       return asked by holder, maker or operator): no holder any more */
    IDM_CLAIM_EVENT_COUNT
} idm_claim_event;

/* The claim state after `ev` in `from` (STORE_IDM_CLAIM_NONE: no claim row
 * yet) into *to. IDM_ERR_ILLEGAL (*to untouched) when the table has no such
 * transition; IDM_ERR_ARGUMENT for a value out of range. */
idm_status idm_claim_transition(store_idm_claim_state from, idm_claim_event ev,
                                store_idm_claim_state *to) __attribute__((warn_unused_result));

/* "claim", "release", ... ; "?" when out of range. */
const char *idm_claim_event_name(idm_claim_event e);

/* ---------------------------------------------------------------- commands */

/* What moves a sealed MLS command (idm_cmd.state) along. A command is born
 * queued (store_idm_cmd_add), sealed for a maker, a customer or the operator
 * as idm_authorize allows them, or by the IDM itself; everything after that
 * is the IDM's own doing (idm_ota.c). */
typedef enum idm_cmd_event {
    IDM_CMD_EV_START = 0,           /* a round of fragments starts under a new msg_id (again, from
                                       sending: the data rate dropped and the message starts over) */
    IDM_CMD_EV_ANSWER_OK,           /* the SE's response to it: OK */
    IDM_CMD_EV_ANSWER_ERROR,        /* the SE's response to it: a refusal */
    IDM_CMD_EV_GIVE_UP,             /* its deadline passed, the delivery was given up, the SE retired
                                       (store_idm_cmd_fail_all) */
    IDM_CMD_EVENT_COUNT
} idm_cmd_event;

/* The command state after `ev` in `from` into *to; IDM_ERR_ILLEGAL (*to
 * untouched) when the table has no such transition; IDM_ERR_ARGUMENT for a
 * value out of range. */
idm_status idm_cmd_transition(store_idm_cmd_state from, idm_cmd_event ev,
                              store_idm_cmd_state *to) __attribute__((warn_unused_result));

/* "start", "answer_ok", ... ; "?" when out of range. */
const char *idm_cmd_event_name(idm_cmd_event e);

#endif

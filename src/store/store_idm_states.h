/*
 * store_idm_states.h - the Identity Manager's states and kinds as C enums,
 * and the one conversion of each to and from the text the database holds.
 *
 * Why here, in the store: the text of a state is a storage detail (the TEXT
 * columns of the idm_* tables, with their CHECK lists in store_schema.c), so
 * the one table per type that maps a value to its text lives at that
 * boundary. The store converts when it writes or reads a row; everything
 * above it compares enums. The same tables name the values where they leave
 * as text again (the CLI's JSON, the REST API's JSON, audit details), so a
 * state is spelled in exactly one place.
 *
 * Why the SE lifecycle keeps the IDM's names (idm_state, IDM_STATE_*): it is
 * the IDM's concept and its transition table is the IDM's
 * (src/idm/idm_state.c). It is declared here only because a layer includes
 * nothing above it (docs/architecture.md) and the store must convert it;
 * idm/idm_state.h includes this header. Which change is legal from which
 * state is never the store's business: the IDM's tables decide
 * (src/idm/idm_state.c), and who may ask is idm_authorize's
 * (src/idm/idm_authz.c).
 *
 * Text read from the database that names no value is STORE_ERR_CORRUPT,
 * never mapped to a guess.
 */
#ifndef FERRY_STORE_IDM_STATES_H
#define FERRY_STORE_IDM_STATES_H

#include "store/store.h"

/* The per-SE lifecycle (idm_se.state; docs/idm-lifecycle.md). */
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

/* Who holds an SE (idm_claim.state; docs/idm.md, "Claims"). NONE is the
 * absence of a claim row: never stored, refused by store_idm_claim_put. */
typedef enum store_idm_claim_state {
    STORE_IDM_CLAIM_NONE = 0,       /* "none": no claim was ever made */
    STORE_IDM_CLAIM_CLAIMED,        /* "claimed": held by its tenant */
    STORE_IDM_CLAIM_LOCKED,         /* "locked": frozen by the operator */
    STORE_IDM_CLAIM_RELEASED,       /* "released": given back, no holder */
    STORE_IDM_CLAIM_REFUSED,        /* "refused": refused by the operator, no holder */
    STORE_IDM_CLAIM_STATE_COUNT
} store_idm_claim_state;

/* The update in flight on a claim (idm_claim.op; docs/idm.md, "Operations"). */
typedef enum store_idm_op {
    STORE_IDM_OP_NONE = 0,          /* "" */
    STORE_IDM_OP_RENEW,             /* "renew": a key renewal */
    STORE_IDM_OP_TRANSFER,          /* "transfer": a fleet transfer from prev_tenant_id */
    STORE_IDM_OP_RETURN,            /* "return": a return to bootstrap */
    STORE_IDM_OP_COUNT
} store_idm_op;

/* A sealed MLS command's delivery (idm_cmd.state). */
typedef enum store_idm_cmd_state {
    STORE_IDM_CMD_QUEUED = 0,       /* "queued": sealed, no fragment sent yet */
    STORE_IDM_CMD_SENDING,          /* "sending": fragments going out under msg_id */
    STORE_IDM_CMD_DONE,             /* "done": the SE answered OK */
    STORE_IDM_CMD_FAILED,           /* "failed": refused by the SE, or given up */
    STORE_IDM_CMD_STATE_COUNT
} store_idm_cmd_state;

/* A tenant of the IDM's REST API (idm_tenant.kind). */
typedef enum store_idm_tenant_kind {
    STORE_IDM_TENANT_MAKER = 0,     /* "maker": imports batches of SEs */
    STORE_IDM_TENANT_CUSTOMER,      /* "customer": claims SEs, runs Join Servers */
    STORE_IDM_TENANT_KIND_COUNT
} store_idm_tenant_kind;

/* A profile's key slot (idm_profile_key.slot; store_idm_tenant.h says why). */
typedef enum store_idm_key_slot {
    STORE_IDM_SLOT_CURRENT = 0,     /* "current" */
    STORE_IDM_SLOT_PENDING,         /* "pending" */
    STORE_IDM_SLOT_PREVIOUS,        /* "previous" */
    STORE_IDM_SLOT_COUNT
} store_idm_key_slot;

/* Each *_name gives the stored text of a value ("?" when out of range: a
 * bug, and the store refuses to write it). Each *_parse gives the value of
 * a text; STORE_ERR_ARGUMENT when the text names none (the row readers
 * turn that into STORE_ERR_CORRUPT). The text of NONE values: claim state
 * "none", op "". */
const char *store_idm_se_state_name(idm_state s);
store_status store_idm_se_state_parse(const char *text, idm_state *out) STORE_MUST_CHECK;
const char *store_idm_claim_state_name(store_idm_claim_state s);
store_status store_idm_claim_state_parse(const char *text, store_idm_claim_state *out) STORE_MUST_CHECK;
const char *store_idm_op_name(store_idm_op op);
store_status store_idm_op_parse(const char *text, store_idm_op *out) STORE_MUST_CHECK;
const char *store_idm_cmd_state_name(store_idm_cmd_state s);
store_status store_idm_cmd_state_parse(const char *text, store_idm_cmd_state *out) STORE_MUST_CHECK;
const char *store_idm_tenant_kind_name(store_idm_tenant_kind k);
store_status store_idm_tenant_kind_parse(const char *text, store_idm_tenant_kind *out) STORE_MUST_CHECK;
const char *store_idm_key_slot_name(store_idm_key_slot s);
store_status store_idm_key_slot_parse(const char *text, store_idm_key_slot *out) STORE_MUST_CHECK;

#endif

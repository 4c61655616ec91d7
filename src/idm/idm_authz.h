/*
 * idm_authz.h - who may do what to which secure element, in one place
 * (docs/idm.md, "Who may do what").
 *
 * Every entry point that acts for someone - the operator's CLI, a tenant's
 * REST call, the Join Server answering a network operator - describes the
 * actor, the action and what it knows of the SE, and asks idm_authorize
 * before it reads or changes anything. The lifecycle table (idm_state.h)
 * then says whether the change is legal from the SE's state; this says
 * whether this actor may ask for it at all.
 *
 * A refusal to a tenant is IDM_ERR_NOT_FOUND with the one text "no such
 * secure element" whether the SE does not exist, is another's, is retired
 * or is not the maker's: nothing outside tells these apart.
 */
#ifndef FERRY_IDM_AUTHZ_H
#define FERRY_IDM_AUTHZ_H

#include "idm/idm_state.h"
#include "idm/idm_status.h"

#include <stdbool.h>

typedef enum idm_actor_kind {
    IDM_ACTOR_OPERATOR = 0,   /* the IDM's operator: the CLI on the deployment */
    IDM_ACTOR_MAKER,          /* a tenant of kind maker */
    IDM_ACTOR_CUSTOMER,       /* a tenant of kind customer */
    IDM_ACTOR_NETWORK,        /* a network operator, through the Join Server */
    IDM_ACTOR_COUNT
} idm_actor_kind;

typedef enum idm_action {
    IDM_ACT_READ = 0,         /* an SE's status */
    IDM_ACT_CLAIM,            /* prove the owner token and hold the SE */
    IDM_ACT_RELEASE,          /* give a held SE back */
    IDM_ACT_ASSIGN,           /* choose the holder's Join Server */
    IDM_ACT_TRANSFER,         /* hand the SE to another customer */
    IDM_ACT_RENEW,            /* new root keys */
    IDM_ACT_RETURN,           /* back to the bootstrap profile */
    IDM_ACT_COMMAND,          /* queue a secure command */
    IDM_ACT_READ_COMMAND,     /* a queued command, its result and reply */
    IDM_ACT_RELAY,            /* carry MLS frames through the customer's AS */
    IDM_ACT_MODERATE,         /* refuse, lock, unlock a claim; provision now */
    IDM_ACT_RETIRE,           /* end of life */
    IDM_ACT_ACTIVATE,         /* join or HomeNSReq on a network */
    IDM_ACTION_COUNT
} idm_action;

typedef struct idm_actor {
    idm_actor_kind kind;
    const char *id;           /* the tenant's id; "" for the operator and networks */
} idm_actor;

/* What the caller read of the SE (and of the command, for READ_COMMAND),
 * in the same transaction as the change it is about to make. */
typedef struct idm_subject {
    bool exists;
    idm_state state;
    const char *maker;        /* the maker tenant of its batch, "" none */
    const char *holder;       /* the tenant holding it (claim "claimed"), "" none */
    const char *leaving;      /* the tenant it is being transferred away from, "" none */
    const char *cmd_origin;   /* READ_COMMAND: the command's origin ("tenant:ID", "cli:tenant:ID", ...) */
} idm_subject;

/* IDM_OK when `a` may do `act` to `s`. Otherwise:
 *   IDM_ERR_NOT_FOUND - a tenant that may not know of this SE (the same
 *                       answer as for an SE that does not exist);
 *   IDM_ERR_FORBIDDEN - the action is not one this kind of actor has
 *                       (a maker claiming), decided on the actor alone;
 *   IDM_ERR_ILLEGAL   - the operator, or a tenant that may see the SE,
 *                       asking for something its state rules out (a
 *                       retired SE).
 * *reason, when not NULL, is set to a short static sentence for logs and
 * answers. */
idm_status idm_authorize(const idm_actor *a, idm_action act, const idm_subject *s, const char **reason)
    __attribute__((warn_unused_result));

/* "operator", "maker", "customer", "network"; "?" out of range. */
const char *idm_actor_kind_name(idm_actor_kind k);

/* "read", "claim", ...; "?" out of range. */
const char *idm_action_name(idm_action act);

#endif

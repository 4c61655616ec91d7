/*
 * idm_authz.c - the authorization table (idm_authz.h).
 *
 * Two questions, in this order:
 *   1. Does this kind of actor have the action at all? A table by kind,
 *      decided on the actor alone, so the answer tells nothing of the SE.
 *   2. Is this SE within the actor's reach, in a state that allows it?
 *      A maker reaches the SEs of its own batches and none other; a
 *      customer the SEs it holds now (and, while a transfer moves an SE
 *      away from it, relays for it and reads its own commands); a command
 *      only by whoever queued it. A retired SE is within no one's reach but
 *      the operator's, and the operator may only read it.
 * Everything a tenant may not see answers like an SE that does not exist.
 */
#include "idm/idm_authz.h"

#include <stddef.h>
#include <string.h>

/* Which actions each kind of actor has (question 1). */
static const bool HAS[IDM_ACTOR_COUNT][IDM_ACTION_COUNT] = {
    [IDM_ACTOR_OPERATOR] = {
        [IDM_ACT_READ] = true, [IDM_ACT_CLAIM] = true, [IDM_ACT_RELEASE] = true, [IDM_ACT_ASSIGN] = true,
        [IDM_ACT_TRANSFER] = true, [IDM_ACT_RENEW] = true, [IDM_ACT_RETURN] = true, [IDM_ACT_COMMAND] = true,
        [IDM_ACT_READ_COMMAND] = true, [IDM_ACT_MODERATE] = true, [IDM_ACT_RETIRE] = true,
    },
    /* The maker built the SE and may follow it, but the keys and the
     * network are the customer's: reading, and a command or a return to
     * bootstrap only while no customer holds it (stock, repair). */
    [IDM_ACTOR_MAKER] = {
        [IDM_ACT_READ] = true, [IDM_ACT_RETURN] = true, [IDM_ACT_COMMAND] = true, [IDM_ACT_READ_COMMAND] = true,
    },
    [IDM_ACTOR_CUSTOMER] = {
        [IDM_ACT_READ] = true, [IDM_ACT_CLAIM] = true, [IDM_ACT_RELEASE] = true, [IDM_ACT_ASSIGN] = true,
        [IDM_ACT_TRANSFER] = true, [IDM_ACT_RENEW] = true, [IDM_ACT_RETURN] = true, [IDM_ACT_COMMAND] = true,
        [IDM_ACT_READ_COMMAND] = true, [IDM_ACT_RELAY] = true,
    },
    [IDM_ACTOR_NETWORK] = {
        [IDM_ACT_ACTIVATE] = true,
    },
};

static const char *const KIND_NAMES[IDM_ACTOR_COUNT] = {"operator", "maker", "customer", "network"};
static const char *const ACTION_NAMES[IDM_ACTION_COUNT] = {
    "read", "claim", "release", "assign", "transfer", "renew", "return", "command", "read_command", "relay",
    "moderate", "retire", "activate",
};

static bool is(const char *a, const char *b)
{
    return a != NULL && b != NULL && a[0] != '\0' && strcmp(a, b) == 0;
}

/* The origin a tenant's command carries: "tenant:ID" from the REST API,
 * "cli:tenant:ID" when the operator queued it on the tenant's behalf. */
static bool queued_by(const char *origin, const char *id)
{
    if (origin == NULL || id == NULL || id[0] == '\0')
        return false;
    if (strncmp(origin, "cli:", 4) == 0)
        origin += 4;
    return strncmp(origin, "tenant:", 7) == 0 && strcmp(origin + 7, id) == 0;
}

static idm_status refuse(idm_status st, const char *why, const char **reason)
{
    if (reason != NULL)
        *reason = why;
    return st;
}

idm_status idm_authorize(const idm_actor *a, idm_action act, const idm_subject *s, const char **reason)
{
    if (reason != NULL)
        *reason = NULL;
    if (a == NULL || s == NULL || (unsigned)a->kind >= IDM_ACTOR_COUNT || (unsigned)act >= IDM_ACTION_COUNT)
        return refuse(IDM_ERR_ARGUMENT, "authorization asked with a value out of range", reason);
    bool tenant = a->kind == IDM_ACTOR_MAKER || a->kind == IDM_ACTOR_CUSTOMER;
    if (tenant && (a->id == NULL || a->id[0] == '\0'))
        return refuse(IDM_ERR_ARGUMENT, "a tenant without an id", reason);
    if (!HAS[a->kind][act])
        return refuse(IDM_ERR_FORBIDDEN,
                      a->kind == IDM_ACTOR_MAKER && act == IDM_ACT_CLAIM ? "only a customer tenant claims"
                                                                         : "this kind of actor may not do that",
                      reason);
    if (!s->exists)
        return refuse(IDM_ERR_NOT_FOUND, "no such secure element", reason);
    bool retired = s->state == IDM_STATE_RETIRED;
    switch (a->kind) {
    case IDM_ACTOR_OPERATOR:
        if (retired && act != IDM_ACT_READ && act != IDM_ACT_READ_COMMAND)
            return refuse(IDM_ERR_ILLEGAL, "the secure element is retired", reason);
        return IDM_OK;
    case IDM_ACTOR_NETWORK:
        /* which networks may activate which SE is the operators' policy
         * (docs/operators.md); here only whether the SE may be active at all */
        if (retired)
            return refuse(IDM_ERR_NOT_FOUND, "the secure element is retired", reason);
        return IDM_OK;
    case IDM_ACTOR_MAKER:
        if (retired || !is(s->maker, a->id))
            return refuse(IDM_ERR_NOT_FOUND, "no such secure element", reason);
        if ((act == IDM_ACT_RETURN || act == IDM_ACT_COMMAND) && s->holder != NULL && s->holder[0] != '\0')
            return refuse(IDM_ERR_ILLEGAL, "a customer holds the secure element", reason);
        if (act == IDM_ACT_READ_COMMAND && !queued_by(s->cmd_origin, a->id))
            return refuse(IDM_ERR_NOT_FOUND, "no such command", reason);
        return IDM_OK;
    case IDM_ACTOR_CUSTOMER:
        if (retired)
            return refuse(IDM_ERR_NOT_FOUND, "no such secure element", reason);
        if (act == IDM_ACT_CLAIM)   /* the owner token decides, in idm_claim */
            return IDM_OK;
        if (act == IDM_ACT_RELAY || act == IDM_ACT_READ_COMMAND) {
            if (!is(s->holder, a->id) && !is(s->leaving, a->id))
                return refuse(IDM_ERR_NOT_FOUND, "no such secure element", reason);
            if (act == IDM_ACT_READ_COMMAND && !queued_by(s->cmd_origin, a->id))
                return refuse(IDM_ERR_NOT_FOUND, "no such command", reason);
            return IDM_OK;
        }
        if (!is(s->holder, a->id))
            return refuse(IDM_ERR_NOT_FOUND, "no such secure element", reason);
        return IDM_OK;
    default:
        return refuse(IDM_ERR_ARGUMENT, "unknown actor", reason);
    }
}

const char *idm_actor_kind_name(idm_actor_kind k)
{
    return (unsigned)k < IDM_ACTOR_COUNT ? KIND_NAMES[k] : "?";
}

const char *idm_action_name(idm_action act)
{
    return (unsigned)act < IDM_ACTION_COUNT ? ACTION_NAMES[act] : "?";
}

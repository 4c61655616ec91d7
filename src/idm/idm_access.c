/*
 * idm_access.c - the facts idm_authorize decides on, read from the store
 * (idm_access.h). Kept apart from idm_authz.c so that the table stays a
 * pure function that its unit test drives without a database.
 */
#include "idm/idm_access.h"
#include "lorawan/lw_secure.h"

#include <stdlib.h>
#include <string.h>

idm_actor idm_actor_of_tenant(const store_idm_tenant *t)
{
    idm_actor a = {t->kind == STORE_IDM_TENANT_MAKER ? IDM_ACTOR_MAKER : IDM_ACTOR_CUSTOMER, t->id};
    return a;
}

idm_status idm_facts_read(store *db, uint64_t dev_eui, int64_t seq, idm_facts *f)
{
    memset(f, 0, sizeof *f);
    f->s.maker = f->maker;
    f->s.holder = f->holder;
    f->s.leaving = f->leaving;
    f->s.cmd_origin = f->origin;
    store_idm_se se;
    store_status st = store_idm_se_get(db, dev_eui, &se);
    if (st == STORE_ERR_NOT_FOUND)
        return IDM_OK;
    if (st != STORE_OK)
        return IDM_ERR_STORE;
    /* a state no table names never gets here: the store reads it as corrupt */
    f->s.state = se.state;
    memcpy(f->maker, se.maker, sizeof f->maker);
    lw_secure_wipe(&se, sizeof se);
    store_idm_claim c;
    st = store_idm_claim_get(db, dev_eui, &c);
    if (st == STORE_OK) {
        if (c.state == STORE_IDM_CLAIM_CLAIMED)
            memcpy(f->holder, c.tenant_id, sizeof f->holder);
        if (c.op == STORE_IDM_OP_TRANSFER)
            memcpy(f->leaving, c.prev_tenant_id, sizeof f->leaving);
    } else if (st != STORE_ERR_NOT_FOUND) {
        return IDM_ERR_STORE;
    }
    if (seq > 0) {
        store_idm_cmd *cmd = calloc(1, sizeof *cmd);
        if (cmd == NULL)
            return IDM_ERR_NOMEM;
        st = store_idm_cmd_get(db, dev_eui, seq, cmd);
        if (st == STORE_OK)
            memcpy(f->origin, cmd->origin, sizeof f->origin);
        lw_secure_wipe(cmd, sizeof *cmd);
        free(cmd);
        if (st == STORE_ERR_NOT_FOUND)
            return IDM_OK;   /* exists stays false: "no such command" answers like any refusal */
        if (st != STORE_OK)
            return IDM_ERR_STORE;
    }
    f->s.exists = true;
    return IDM_OK;
}

idm_status idm_access_check(store *db, const idm_actor *a, idm_action act, uint64_t dev_eui, int64_t seq,
                            const char **reason)
{
    idm_facts f;
    idm_status st = idm_facts_read(db, dev_eui, seq, &f);
    if (st != IDM_OK) {
        if (reason != NULL)
            *reason = "the database could not be read";
        return st;
    }
    return idm_authorize(a, act, &f.s, reason);
}

/*
 * idm_access.h - what idm_authorize needs, read from the store: the actor a
 * tenant is, and the facts of an SE (and of one of its commands).
 */
#ifndef FERRY_IDM_ACCESS_H
#define FERRY_IDM_ACCESS_H

#include "idm/idm_authz.h"
#include "store/store.h"
#include "store/store_idm.h"
#include "store/store_idm_tenant.h"

#include <stdint.h>

/* An idm_subject with the storage its strings point into. */
typedef struct idm_facts {
    idm_subject s;
    char maker[STORE_IDM_MAKER_MAX + 1];
    char holder[STORE_IDM_ID_MAX + 1];
    char leaving[STORE_IDM_ID_MAX + 1];
    char origin[STORE_IDM_ID_MAX + 16];
} idm_facts;

/* The actor an authenticated tenant is: maker or customer, by its kind. */
idm_actor idm_actor_of_tenant(const store_idm_tenant *t);

/* Reads the SE dev_eui and its claim into *f (f->s points into f). An SE
 * that does not exist is f->s.exists false and IDM_OK; IDM_ERR_STORE when
 * the database fails. With seq > 0 the command (dev_eui, seq) is read too:
 * its origin in f->s.cmd_origin, and an unknown command is as an unknown
 * SE (exists false). */
idm_status idm_facts_read(store *db, uint64_t dev_eui, int64_t seq, idm_facts *f) __attribute__((warn_unused_result));

/* idm_facts_read, then idm_authorize: the one call an entry point makes.
 * *reason as idm_authorize's. */
idm_status idm_access_check(store *db, const idm_actor *a, idm_action act, uint64_t dev_eui, int64_t seq,
                            const char **reason) __attribute__((warn_unused_result));

#endif

/*
 * idm_serve_ops.h - the REST API of the operations after the first profile
 * (idm_serve_ops.c, docs/idm.md "Operations"), called by idm_serve.c for
 * an authenticated tenant. Internal to `idm serve`.
 */
#ifndef FERRY_IDM_SERVE_OPS_H
#define FERRY_IDM_SERVE_OPS_H

#include <jansson.h>
#include <pthread.h>

#include "idm/idm_ota.h"

/* DevEUIs of one POST /api/v1/fleet/... request: more is a 400. The
 * console learns it from GET /api/v1/me ("FleetMax") and acts on a larger
 * set in batches under it. */
#define IDM_FLEET_MAX 1000

typedef struct idm_serve_ops_ctx {
    idm_ota *engine;
    hsm_session *hs;
    store *db;
    const idm_policy *pol;
    pthread_mutex_t *lock;        /* held on entry; fleet requests give it up between SEs, so that
                                     the housekeeping thread is not kept waiting (uplinks are: they
                                     come on the one HTTP thread) */
} idm_serve_ops_ctx;

/* Handles method+url for tenant t when it is one of the operation paths
 * (returns true, with *status and *out: a JSON text made by json_dumps, so
 * it is freed with jansson's free function, as idm_serve.c's reply.heap
 * is); false when the path is not one of them. body the parsed request
 * (may be NULL). */
bool idm_serve_ops(const idm_serve_ops_ctx *x, const store_idm_tenant *t, const char *method, const char *url,
                   json_t *body, unsigned *status, char **out);

#endif

/*
 * idm_view.h - what the activation console reads (docs/idm.md "Console
 * API", docs/console.md): a tenant's SEs with filters and cursor paging,
 * one SE's history from the audit chain, its commands, its Join Servers,
 * counts per state and events per hour; an operator's activations and
 * refusals. Internal to `idm serve`, which authenticates the caller and
 * calls idm_view_handle under its lock.
 *
 * Every SE handed out passes idm_authorize (IDM_ACT_READ, a command
 * IDM_ACT_READ_COMMAND) on the facts of its row; the store's queries only
 * narrow the rows to the caller's reach so that a page is cheap. What of
 * an SE's audit entries a caller sees is idm_view_entry_reach.
 */
#ifndef FERRY_IDM_VIEW_H
#define FERRY_IDM_VIEW_H

#include "idm/idm_authz.h"
#include "store/store_idm_view.h"
#include "store/store_operator.h"

#include <jansson.h>

#define IDM_VIEW_PAGE_DEFAULT 100   /* rows of a page when `limit` is not given */
#define IDM_VIEW_PAGE_MAX 500       /* the largest `limit`: above it, 400 */
#define IDM_VIEW_JS_MAX 64          /* Join Servers of a tenant listed; more is an error, never cut */
#define IDM_VIEW_WINDOW_S 86400     /* the overview's events: the last 24 hours, per hour */

/* Who is reading: a maker or customer tenant, or a network operator. */
typedef struct idm_viewer {
    idm_actor actor;                /* IDM_ACTOR_MAKER, _CUSTOMER, or _NETWORK for an operator */
    const char *name;
    uint32_t net_id;                /* an operator's NetID */
} idm_viewer;

/* A query argument of the request, NULL when absent. */
typedef const char *(*idm_view_query_fn)(void *ctx, const char *name);

/* When method+path is one of the console's reads: true, with *status and
 * *out (a JSON document the caller owns; NULL only when memory ran out).
 * False for any other path. */
bool idm_view_handle(store *db, const idm_viewer *v, const char *method, const char *path, idm_view_query_fn query,
                     void *qctx, unsigned *status, json_t **out);

/* How much of an SE's audit entry a viewer who may read the SE sees:
 * nothing; the lifecycle change alone (event, from, to, time: no actor,
 * no details, which may name another tenant); or the whole entry (its own
 * actions). */
typedef enum idm_view_reach {
    IDM_VIEW_HIDDEN = 0,
    IDM_VIEW_CHANGE,
    IDM_VIEW_FULL,
} idm_view_reach;
idm_view_reach idm_view_entry_reach(const idm_viewer *v, const store_idm_audit_entry *e);

/* The lifecycle change of entry e (an "idm.se.*" entry) as the stream and
 * the history send it: {"Seq","DevEUI","Event","From","To","At"}; NULL
 * when e is no such entry or memory ran out. */
json_t *idm_view_change_json(const store_idm_audit_entry *e);

#endif

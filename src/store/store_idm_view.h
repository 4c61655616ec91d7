/*
 * store_idm_view.h - the reads behind the activation console and its REST
 * API (docs/idm.md "Console API", docs/console.md): pages of a tenant's
 * SEs with filters, counts per state, an SE's audit entries, a tenant's
 * commands, and the lifecycle changes since a point of the audit chain
 * (the live stream).
 *
 * These queries narrow the rows to a tenant's reach (the SEs it holds, or
 * those of its batches) so that a page is cheap; they do not decide who
 * may see what. idm_authorize does, on every row the IDM hands out
 * (src/idm/idm_view.c). Every list is a page of at most `cap` rows after a
 * cursor: a page shorter than cap is the last; nothing is cut silently.
 */
#ifndef FERRY_STORE_IDM_VIEW_H
#define FERRY_STORE_IDM_VIEW_H

#include "store/store_idm_tenant.h"

#define STORE_IDM_VIEW_TEXT_MAX 1024   /* an audit entry's details: longer ones are flagged, not cut */

/* Whose SEs a query narrows to: the ones a customer holds (claim claimed,
 * held by tenant_id), or the ones of a maker's batches (not retired). */
typedef enum store_idm_scope {
    STORE_IDM_SCOPE_HOLDER = 0,
    STORE_IDM_SCOPE_MAKER,
} store_idm_scope;

/* The orders a page of SEs comes in. Each is a key and the DevEUI as the
 * tie-break, so that a keyset cursor (the key and DevEUI of a page's last
 * row) leads to the next page without a row seen twice or skipped:
 *   DEV_EUI      the DevEUI alone
 *   STATE        the lifecycle state in lifecycle order (idm_state's)
 *   LAST_EVENT   the later of the SE's and its claim's last change
 *   JOIN_SERVER  the Join Server id of its claim ("" without one) */
typedef enum store_idm_se_sort {
    STORE_IDM_SORT_DEV_EUI = 0,
    STORE_IDM_SORT_STATE,
    STORE_IDM_SORT_LAST_EVENT,
    STORE_IDM_SORT_JOIN_SERVER,
    STORE_IDM_SORT_COUNT
} store_idm_se_sort;

/* The wire names "dev_eui", "state", "last_event", "join_server". */
const char *store_idm_se_sort_name(store_idm_se_sort sort);
store_status store_idm_se_sort_parse(const char *text, store_idm_se_sort *out) STORE_MUST_CHECK;

typedef struct store_idm_se_filter {
    store_idm_scope scope;
    const char *tenant_id;          /* required */
    bool has_state;
    idm_state state;
    bool has_claim;
    store_idm_claim_state claim;    /* NONE: SEs without a claim row */
    const char *js_id;              /* NULL: any */
    const char *prefix;             /* DevEUI prefix, 0..16 uppercase hex digits; NULL: any */
    store_idm_se_sort sort;
    bool desc;                      /* descending key, then descending DevEUI */
    bool has_after;                 /* the cursor: the rows after (key, DevEUI) in the order */
    uint64_t after;                 /* its DevEUI */
    int64_t after_num;              /* its key for STATE (an idm_state) and LAST_EVENT */
    const char *after_text;         /* its key for JOIN_SERVER ("" or a Join Server id) */
} store_idm_se_filter;

/* An SE as a list shows it, with the facts idm_authorize needs. */
typedef struct store_idm_se_row {
    uint64_t dev_eui;
    idm_state state;
    char maker[STORE_IDM_MAKER_MAX + 1];
    store_idm_claim_state claim;    /* NONE: no claim row */
    char tenant_id[STORE_IDM_ID_MAX + 1];
    char js_id[STORE_IDM_ID_MAX + 1];
    store_idm_op op;
    char prev_tenant_id[STORE_IDM_ID_MAX + 1];
    uint64_t pending;               /* commands queued or sending */
    int64_t updated_at;             /* the later of the SE's and its claim's last change */
    uint16_t profile_id;            /* the customer profile of its current keys; 0 none */
} store_idm_se_row;

/* Key of r in the order `sort` as a cursor holds it: *num for STATE and
 * LAST_EVENT, *text (r's own buffer, "" for none) for JOIN_SERVER. */
void store_idm_se_row_key(const store_idm_se_row *r, store_idm_se_sort sort, int64_t *num, const char **text);

/* One page of the SEs f selects, in f's order, into out[cap]
 * (1..INT32_MAX). STORE_ERR_ARGUMENT for a malformed filter (a cursor key
 * out of range included). */
store_status store_idm_se_page(store *s, const store_idm_se_filter *f, store_idm_se_row *out, size_t cap,
                               size_t *count) STORE_MUST_CHECK;

/* The SEs of the scope per lifecycle state: counts[IDM_STATE_COUNT]. */
store_status store_idm_se_state_counts(store *s, store_idm_scope scope, const char *tenant_id,
                                       uint64_t counts[IDM_STATE_COUNT]) STORE_MUST_CHECK;

typedef struct store_idm_audit_entry {
    int64_t seq;
    int64_t logged_at;
    uint64_t dev_eui;               /* the subject as a DevEUI (entries of SEs only) */
    char actor[STORE_IDM_ID_MAX + 16];
    char action[64];
    bool details_too_long;          /* details above STORE_IDM_VIEW_TEXT_MAX: details is "" */
    char details[STORE_IDM_VIEW_TEXT_MAX + 1];
} store_idm_audit_entry;

/* One page of the audit entries about dev_eui after seq `after`, in chain
 * order. */
store_status store_idm_audit_of_se(store *s, uint64_t dev_eui, int64_t after, store_idm_audit_entry *out,
                                   size_t cap, size_t *count) STORE_MUST_CHECK;

/* One page of the lifecycle changes of any SE (actions "idm.se.*") after
 * seq `after`, in chain order: what the live stream sends. */
store_status store_idm_audit_se_changes(store *s, int64_t after, store_idm_audit_entry *out, size_t cap,
                                        size_t *count) STORE_MUST_CHECK;

/* The seq of the newest audit entry (0: none). */
store_status store_idm_audit_head(store *s, int64_t *seq) STORE_MUST_CHECK;

/* Lifecycle events of the scope's SEs since `since` (Unix seconds), per
 * hour and event: rows of (hour start, event name without "idm.se.", n). */
typedef struct store_idm_event_count {
    int64_t hour;                   /* Unix seconds, a multiple of 3600 */
    char event[32];
    uint64_t n;
} store_idm_event_count;
/* STORE_ERR_ARGUMENT when there are more than cap rows (nothing is cut:
 * 24 hours x a few events fit STORE_IDM_EVENT_COUNTS_MAX). */
#define STORE_IDM_EVENT_COUNTS_MAX 512
store_status store_idm_se_event_counts(store *s, store_idm_scope scope, const char *tenant_id, int64_t since,
                                       store_idm_event_count *out, size_t cap, size_t *count) STORE_MUST_CHECK;

/* A command as the console lists it (no sealed bytes). */
typedef struct store_idm_cmd_row {
    uint64_t dev_eui;
    int64_t seq;
    uint8_t type;
    store_idm_cmd_state state;
    int result;
    size_t reply_len;
    uint8_t reply[1024];
    char origin[STORE_IDM_ID_MAX + 16];
    int64_t created_at;
} store_idm_cmd_row;

/* One page of the commands queued by tenant_id (origin "tenant:ID" or
 * "cli:tenant:ID"), in (DevEUI, seq) order after (after_dev, after_seq)
 * (has_after false: from the first). */
store_status store_idm_cmd_page_of(store *s, const char *tenant_id, bool has_after, uint64_t after_dev,
                                   int64_t after_seq, store_idm_cmd_row *out, size_t cap,
                                   size_t *count) STORE_MUST_CHECK;

#endif

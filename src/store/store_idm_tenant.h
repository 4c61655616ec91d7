/*
 * store_idm_tenant.h - the Identity Manager's tenants, customer Join
 * Servers, claims and over-the-air delivery state (schema version 3,
 * src/store/store_schema.c; docs/idm.md).
 *
 *   idm_tenant       a device maker or a customer, with the SHA-256 of its
 *                    bearer token for the IDM's REST API
 *   idm_customer_js  a customer's Join Server: admin API URL, its admin
 *                    token kept encrypted (see below), JoinEUI, home NetID,
 *                    and the label of the KEK shared with it (a row of the
 *                    keks table, `ferry kek import`)
 *   idm_claim        which tenant holds an SE, and the state of that claim
 *   idm_ota          per SE: the MLS counters and fragment/profile ids
 *   idm_cmd          per SE: the queue of sealed MLS commands and the
 *                    fragment state of the one being delivered
 *
 * The customer JS's admin token is a credential the IDM must present in
 * clear to the customer's API, so it cannot be a hash. It is kept as
 * token_ct = nonce(16) || AES-CTR(K, token) where K is a working key made
 * in the token for that row and stored as token_key, a blob under the
 * master key: the database alone does not reveal it (store holds blobs and
 * ciphertext only; idm_tenant.c does the crypto).
 *
 * Same rules as store.h: records caller-owned and filled by value, every
 * function returns a store_status.
 */
#ifndef FERRY_STORE_IDM_TENANT_H
#define FERRY_STORE_IDM_TENANT_H

#include "store/store_idm.h"

#define STORE_IDM_ID_MAX 64          /* tenant and JS ids: [A-Za-z0-9._-], 1..64 */

/* Tenant and Join Server ids: [A-Za-z0-9._-], 1..STORE_IDM_ID_MAX. */
bool store_idm_id_ok(const char *id);
#define STORE_IDM_NAME_MAX 128
#define STORE_IDM_URL_MAX 512
#define STORE_IDM_TOKEN_CT_MAX 144   /* 16-byte nonce + a token of up to 128 bytes */
#define STORE_IDM_FRAG_BITMAP 32     /* 256 fragment bits */

typedef struct store_idm_tenant {
    char id[STORE_IDM_ID_MAX + 1];
    store_idm_tenant_kind kind;
    char name[STORE_IDM_NAME_MAX + 1];
    uint8_t token_hash[STORE_IDM_HASH_LEN];
    int64_t created_at;              /* set by the store */
} store_idm_tenant;

typedef struct store_idm_js {
    char id[STORE_IDM_ID_MAX + 1];
    char tenant_id[STORE_IDM_ID_MAX + 1];
    char admin_url[STORE_IDM_URL_MAX + 1];
    store_blob token_key;            /* working key under the master key */
    size_t token_ct_len;
    uint8_t token_ct[STORE_IDM_TOKEN_CT_MAX];
    uint64_t join_eui;
    uint32_t home_net_id;
    char kek_label[STORE_LABEL_MAX + 1];     /* the KEK shared with that JS (IDM keks table) */
    char ns_kek_label[STORE_LABEL_MAX + 1];  /* NSKEKLabel of the devices made there ("" none) */
    char as_kek_label[STORE_LABEL_MAX + 1];  /* ASKEKLabel of the devices made there ("" none) */
    /* The NetIDs its devices may join through besides home_net_id, sent as
     * their AllowedNetIDs and applied to HomeNSReq for them at the
     * bootstrap Join Server (docs/operators.md): "" = no restriction, else
     * 6 uppercase hex digits each, separated by commas. */
    char allowed_net_ids[STORE_NET_IDS_MAX * 7];
    int64_t created_at;
} store_idm_js;

typedef struct store_idm_claim {
    uint64_t dev_eui;
    char tenant_id[STORE_IDM_ID_MAX + 1];  /* "" = none */
    store_idm_claim_state state;     /* claimed, locked, released, refused (never NONE in a row) */
    char js_id[STORE_IDM_ID_MAX + 1];      /* "" = not assigned */
    uint32_t failures;               /* wrong owner tokens in a row */
    int64_t provisioned_at;          /* 0 = the assigned JS was not provisioned yet; < 0 = a
                                        provisioning reserved it at -value (idm_provision.c) */
    store_idm_op op;                 /* the update in flight: NONE, RENEW, TRANSFER, RETURN */
    char prev_tenant_id[STORE_IDM_ID_MAX + 1];  /* transfer: the owner the SE is leaving ("" none) */
    char prev_js_id[STORE_IDM_ID_MAX + 1];      /* transfer: that owner's Join Server */
    int64_t created_at, updated_at;  /* set by the store */
} store_idm_claim;

typedef struct store_idm_ota {
    uint64_t dev_eui;
    uint8_t epoch;
    uint32_t tx_next;                /* next MLS counter to seal with (>= 1) */
    uint32_t rx_last;                /* last MLS counter accepted from the SE */
    uint8_t next_msg_id;             /* fragment msg_id of the next message (0..127) */
    uint16_t next_profile_id;
    int64_t last_fcnt_up;            /* last uplink FCnt processed in last_session; -1 none */
    size_t last_session_len;         /* SessionKeyID of that uplink's session (0 = none) */
    uint8_t last_session[STORE_SESSION_ID_MAX];
    uint8_t last_event_id;           /* the SE's last event acted on (it repeats one until acked); 0 none */
    bool exists;                     /* set by store_idm_ota_get: the row is in the database */
} store_idm_ota;

typedef struct store_idm_cmd {
    uint64_t dev_eui;
    int64_t seq;                     /* order in the SE's queue, from 1 */
    uint8_t type;                    /* MLS_T_* */
    uint32_t counter;                /* the MLS counter it was sealed with */
    size_t msg_len;
    uint8_t msg[1024];               /* sealed: header | ciphertext | tag */
    store_idm_cmd_state state;       /* queued, sending, done, failed (idm_state.c: the table) */
    uint8_t msg_id;
    uint8_t frame_max;               /* 0 until the first fragment left */
    uint8_t acked[STORE_IDM_FRAG_BITMAP];
    uint8_t sent[STORE_IDM_FRAG_BITMAP];
    uint32_t rounds;                 /* re-send rounds so far */
    int64_t last_sent_at;
    int64_t deadline;                /* Unix seconds: failed after this */
    int result;                      /* mls_result of the SE's answer; -1 none */
    size_t reply_len;                /* a secure command's reply (application bytes, not secret to the IDM) */
    uint8_t reply[1024];
    char origin[STORE_IDM_ID_MAX + 16];  /* who queued it ("tenant:acme", "idm-ota", ...) */
    int64_t created_at;              /* set by the store */
} store_idm_cmd;

/* The customer root keys of one of an SE's profiles, as blobs under the
 * master key (never clear). slot current: the keys the SE's customer
 * profile runs and its Join Server holds; pending: a renewal's new keys,
 * sent to the SE, given to the Join Server once the SE acknowledged them
 * (acked); previous: the keys a renewal replaced, kept until the new ones
 * are confirmed by a join, to be put back if they never are. */
typedef struct store_idm_profile_key {
    uint64_t dev_eui;
    store_idm_key_slot slot;
    char js_id[STORE_IDM_ID_MAX + 1];
    uint16_t profile_id;
    store_blob nwk_key;
    store_blob app_key;              /* len 0 for LoRaWAN 1.0.x */
    bool acked;
    uint32_t join_nonce_base;        /* the JS's NextJoinNonce when these keys were put there: a
                                        join with them is seen once it is above this */
    int64_t created_at;              /* set by the store on insert */
} store_idm_profile_key;

/* A device that a customer Join Server must forget (after a transfer away
 * from it, a return to bootstrap, an abandoned transfer): retried by the
 * housekeeping until that JS answers. */
typedef struct store_idm_cleanup {
    uint64_t dev_eui;
    char js_id[STORE_IDM_ID_MAX + 1];
    char reason[32];
} store_idm_cleanup;

/* ---- tenants ---- */
store_status store_idm_tenant_put(store *s, const store_idm_tenant *t) STORE_MUST_CHECK;  /* EXISTS */
store_status store_idm_tenant_get(store *s, const char *id, store_idm_tenant *out) STORE_MUST_CHECK;
/* The tenant whose token hashes to hash[32]; NOT_FOUND otherwise. */
store_status store_idm_tenant_by_token(store *s, const uint8_t hash[STORE_IDM_HASH_LEN],
                                       store_idm_tenant *out) STORE_MUST_CHECK;
/* In id order after `after` (NULL: first) into out[cap]. */
store_status store_idm_tenant_list(store *s, const char *after, store_idm_tenant *out, size_t cap,
                                   size_t *count) STORE_MUST_CHECK;

/* ---- customer Join Servers ---- */
store_status store_idm_js_put(store *s, const store_idm_js *j) STORE_MUST_CHECK;          /* EXISTS */
store_status store_idm_js_get(store *s, const char *id, store_idm_js *out) STORE_MUST_CHECK;

/* The PEM CA bundle a customer JS's admin API is verified against (schema
 * v7; "" = the system's CAs). Read apart from the row: kilobytes, needed
 * only for a call to that JS. _get: STORE_ERR_NOT_FOUND for an unknown JS,
 * STORE_ERR_ARGUMENT when it does not fit out[cap]. */
#define STORE_IDM_CA_MAX 65536
store_status store_idm_js_ca_set(store *s, const char *id, const char *pem) STORE_MUST_CHECK;
store_status store_idm_js_ca_get(store *s, const char *id, char *out, size_t cap, size_t *len) STORE_MUST_CHECK;
/* The tenant's Join Servers in id order (at most cap). */
store_status store_idm_js_of_tenant(store *s, const char *tenant_id, store_idm_js *out, size_t cap,
                                    size_t *count) STORE_MUST_CHECK;

/* ---- claims ---- */
/* Inserts or replaces the claim of c->dev_eui (the SE must exist). */
store_status store_idm_claim_put(store *s, const store_idm_claim *c) STORE_MUST_CHECK;
/* Inside a transaction on PostgreSQL the row stays locked to its end
 * (SELECT ... FOR UPDATE), so that a read-check-put of a claim is never
 * interleaved with another writer's. */
store_status store_idm_claim_get(store *s, uint64_t dev_eui, store_idm_claim *out) STORE_MUST_CHECK;

/* Wrong owner tokens counted per (SE, tenant) (schema v6): one tenant's
 * guesses lock out that tenant only. get gives 0 when none were counted;
 * add adds one and gives the new count; clear forgets the tenant's count,
 * or with tenant_id NULL every tenant's (the operator's unlock). */
store_status store_idm_claim_failures_get(store *s, uint64_t dev_eui, const char *tenant_id,
                                          uint32_t *failures) STORE_MUST_CHECK;
store_status store_idm_claim_failures_add(store *s, uint64_t dev_eui, const char *tenant_id,
                                          uint32_t *failures) STORE_MUST_CHECK;
store_status store_idm_claim_failures_clear(store *s, uint64_t dev_eui, const char *tenant_id) STORE_MUST_CHECK;

/* Work lists are pages, sized by the caller: at most cap (1..INT32_MAX)
 * DevEUIs, all above *after (after NULL: from the first), in DevEUI order.
 * A page shorter than cap is the last; the caller passes the last DevEUI
 * of a full page as the next `after`. Nothing is cut at a fixed count.
 *
 * DevEUIs of the SEs that need the engine:
 *   STORE_IDM_WORK_BOOTSTRAP  state manufactured or returned_to_bootstrap and
 *                             a Join Server session newer than the state
 *   STORE_IDM_WORK_PROVISION  claimed, assigned, not provisioned (or reserved), state
 *                             bootstrapped, fallback or transfer_pending
 *   STORE_IDM_WORK_DELIVERED  state profile_delivered (customer join wanted) */
typedef enum store_idm_work {
    STORE_IDM_WORK_BOOTSTRAP = 0,
    STORE_IDM_WORK_PROVISION,
    STORE_IDM_WORK_DELIVERED,
    STORE_IDM_WORK_RENEW_ACKED       /* a renewal the SE acknowledged, its keys not yet on the JS */
} store_idm_work;
store_status store_idm_work_list(store *s, store_idm_work what, const uint64_t *after, uint64_t *out, size_t cap,
                                 size_t *count) STORE_MUST_CHECK;

/* Customer joins to ask about (docs/idm.md, "Housekeeping"): the SEs in
 * profile_delivered whose check is due at `now`: never checked in this
 * delivery, or due_at <= now. A page as above. */
store_status store_idm_join_check_due(store *s, int64_t now, const uint64_t *after, uint64_t *out, size_t cap,
                                      size_t *count) STORE_MUST_CHECK;
/* Records that a check of the SE at `now` found no join yet, in one
 * transaction: the k-th such check of this delivery makes the next one due
 * first_s * 2^(k-1) seconds later, at most max_s (1 <= first_s <= max_s),
 * into *due_at. The delivery is the SE's updated_at as stored now: once the
 * SE's state changes, the record no longer applies and k starts again.
 * STORE_ERR_NOT_FOUND for an unknown SE. */
store_status store_idm_join_check_later(store *s, uint64_t dev_eui, int64_t now, uint32_t first_s, uint32_t max_s,
                                        int64_t *due_at) STORE_MUST_CHECK;

/* ---- over-the-air state ---- */
/* NOT_FOUND when the SE has none yet (*out is then the fresh state: tx_next
 * 1, rx_last 0, exists false). */
store_status store_idm_ota_get(store *s, uint64_t dev_eui, store_idm_ota *out) STORE_MUST_CHECK;
/* Compare-and-set: writes *next only if the row is still *old as read
 * (epoch, tx_next, rx_last, next_msg_id, next_profile_id; or still absent
 * when !old->exists). STORE_ERR_ABORTED when another writer changed it, so
 * that an MLS counter can never move backwards or be handed out twice, even
 * by two processes (idm serve and a CLI provisioning). */
store_status store_idm_ota_cas(store *s, const store_idm_ota *old, const store_idm_ota *next) STORE_MUST_CHECK;

/* Records the SE's event `event_id` as acted on (inside the transaction
 * that recorded its MLS counter). */
store_status store_idm_ota_set_event(store *s, uint64_t dev_eui, uint8_t event_id) STORE_MUST_CHECK;

/* Appends a command; c->seq is ignored and set to the next one. */
store_status store_idm_cmd_add(store *s, store_idm_cmd *c) STORE_MUST_CHECK;
/* The oldest command in state queued or sending; NOT_FOUND when none. */
store_status store_idm_cmd_current(store *s, uint64_t dev_eui, store_idm_cmd *out) STORE_MUST_CHECK;
/* Writes back state, msg_id, frame_max, bitmaps, rounds, last_sent_at,
 * result, only while the stored command is still queued or sending:
 * STORE_ERR_ABORTED when it is final by now (or gone), so that a writer
 * holding an old copy never moves a done or failed command back. */
store_status store_idm_cmd_update(store *s, const store_idm_cmd *c) STORE_MUST_CHECK;
/* Marks every queued/sending command of the SE failed (a delivery given up). */
store_status store_idm_cmd_fail_all(store *s, uint64_t dev_eui) STORE_MUST_CHECK;
/* A page (as store_idm_work_list) of the DevEUIs with a queued/sending
 * command whose deadline is before `now`. */
store_status store_idm_cmd_expired(store *s, int64_t now, const uint64_t *after, uint64_t *out, size_t cap,
                                   size_t *count) STORE_MUST_CHECK;
/* Commands of the SE in `state`. */
store_status store_idm_cmd_count(store *s, uint64_t dev_eui, store_idm_cmd_state state,
                                 uint64_t *count) STORE_MUST_CHECK;

/* A secure command (or any command) by its seq. */
store_status store_idm_cmd_get(store *s, uint64_t dev_eui, int64_t seq, store_idm_cmd *out) STORE_MUST_CHECK;

/* ---- profile keys (blobs), cleanups, key age ---- */
/* Inserts or replaces the row (dev_eui, slot); created_at is kept when k->created_at != 0. */
store_status store_idm_key_put(store *s, const store_idm_profile_key *k) STORE_MUST_CHECK;
store_status store_idm_key_get(store *s, uint64_t dev_eui, store_idm_key_slot slot,
                               store_idm_profile_key *out) STORE_MUST_CHECK;      /* NOT_FOUND */
/* Deletes slot `slot` of the SE; _all: every slot of it. */
store_status store_idm_key_delete(store *s, uint64_t dev_eui, store_idm_key_slot slot) STORE_MUST_CHECK;
store_status store_idm_key_delete_all(store *s, uint64_t dev_eui) STORE_MUST_CHECK;
/* A page (as store_idm_work_list) of the SEs active at their customer, no
 * update in flight, whose current keys were made before `before` (a
 * policy's maximum key age). */
store_status store_idm_key_age_list(store *s, int64_t before, const uint64_t *after, uint64_t *out, size_t cap,
                                    size_t *count) STORE_MUST_CHECK;
/* A page (as store_idm_work_list) of the SEs back on bootstrap after a
 * profile (state fallback, claimed, assigned, provisioned, nothing in
 * flight) since before `before`. */
store_status store_idm_redeliver_list(store *s, int64_t before, const uint64_t *after, uint64_t *out, size_t cap,
                                      size_t *count) STORE_MUST_CHECK;
store_status store_idm_cleanup_add(store *s, uint64_t dev_eui, const char *js_id,
                                   const char *reason) STORE_MUST_CHECK;
/* A page of the deletions owed, in (dev_eui, js_id) order after *after
 * (NULL: from the first), at most cap (1..INT32_MAX); a page shorter than
 * cap is the last, else pass its last entry as the next `after`. */
store_status store_idm_cleanup_list(store *s, const store_idm_cleanup *after, store_idm_cleanup *out, size_t cap,
                                    size_t *count) STORE_MUST_CHECK;
/* Removes one cleanup (the JS answered), or every one of (dev_eui, js_id) */
store_status store_idm_cleanup_done(store *s, uint64_t dev_eui, const char *js_id) STORE_MUST_CHECK;

/* The newest Join Server session of dev_eui with that SessionKeyID: see
 * store_session_get; here only to keep the IDM's reads in one place. */

#endif

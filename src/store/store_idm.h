/*
 * store_idm.h - the Identity Manager's tables: secure elements and the
 * hash-chained audit log (schema version 2, src/store/store_schema.c).
 *
 * idm_se keeps what the IDM knows of each secure element beyond the Join
 * Server's device row (which store_device_put writes for the bootstrap Join
 * Server): serial number, the MLS root key as a blob under the HSM master
 * key, the SHA-256 of the owner token (the token itself is never stored) and
 * the lifecycle state (docs/idm-lifecycle.md).
 *
 * idm_audit is append-only and hash-chained: entry n carries prev_hash (the
 * hash of entry n-1, 32 zero bytes for entry 1) and
 *   hash = SHA-256(prev_hash || u64be(seq) || u64be(logged_at) ||
 *                  u32be(len) actor || u32be(len) action ||
 *                  u32be(len) subject || u32be(len) details)
 * so that changing, removing or reordering any entry but the last is found
 * by store_idm_audit_verify(). Removing the newest entries is not: keep the
 * head hash (it is reported by verify) somewhere the database's writer cannot
 * reach to catch that too.
 *
 * Same rules as store.h: no key in clear, records are caller-owned and filled
 * by value, every function returns a store_status.
 */
#ifndef FERRY_STORE_IDM_H
#define FERRY_STORE_IDM_H

#include "store/store.h"
#include "store/store_idm_states.h"

#define STORE_IDM_HASH_LEN 32     /* SHA-256 */
#define STORE_IDM_OPERATORS_MAX 447 /* "*" or up to 64 NetIDs "000013,C00053,..." */
#define STORE_IDM_MAKER_MAX 64     /* a maker tenant id (STORE_IDM_ID_MAX) */

typedef struct store_idm_se {
    uint64_t dev_eui;             /* primary key */
    uint64_t join_eui;            /* the bootstrap JoinEUI */
    uint64_t serial;
    store_mac_version mac_version;
    store_blob mls_key;           /* MLS root key wrapped under the master key; required */
    uint8_t owner_token_hash[STORE_IDM_HASH_LEN];
    idm_state state;              /* stored as its text (store_idm_states.h) */
    /* The operators its maker lets activate it (docs/operators.md): "*" (or
     * "" on insert) = every onboarded operator, else NetIDs as 6 uppercase
     * hex digits separated by commas. Set on import, never changed. */
    char operators[STORE_IDM_OPERATORS_MAX + 1];
    /* The maker tenant whose batch it came from (`idm import --maker`);
     * "" = none recorded, and then no maker may act on it. Set on import,
     * never changed. */
    char maker[STORE_IDM_MAKER_MAX + 1];
    /* The largest sealed MLS message the SE takes (its firmware's build,
     * from the batch): 128..1024; 0 on insert = 1024. Never changed. */
    uint16_t mls_msg_max;
    int64_t created_at;           /* set by the store */
    int64_t updated_at;           /* set by the store */
} store_idm_se;

/* Runs fn(s, ctx) in one write transaction (rolled back when fn fails, or
 * when the commit does; retried as a whole on a transient conflict, so fn
 * must be repeatable). Everything below may run inside it, store_idm_txn
 * too: a transaction inside a transaction is a savepoint (store_txn), undone
 * alone when its fn fails, durable only with the enclosing commit. */
store_status store_idm_txn(store *s, store_status (*fn)(store *s, void *ctx), void *ctx) STORE_MUST_CHECK;

/* Inserts a secure element; STORE_ERR_EXISTS if the DevEUI is known. */
store_status store_idm_se_put(store *s, const store_idm_se *se) STORE_MUST_CHECK;

/* Reads one; STORE_ERR_NOT_FOUND if unknown. */
store_status store_idm_se_get(store *s, uint64_t dev_eui, store_idm_se *out) STORE_MUST_CHECK;

/* Moves the state from `from` to `to` only if it is still `from` (the caller
 * checked the transition with idm_state_transition): a compare-and-set on
 * the stored text of `from`. STORE_ERR_NOT_FOUND if the DevEUI is unknown,
 * STORE_ERR_ABORTED if its state was not `from`, STORE_ERR_ARGUMENT for a
 * value out of range. */
store_status store_idm_se_set_state(store *s, uint64_t dev_eui, idm_state from, idm_state to) STORE_MUST_CHECK;

/* How many secure elements the IDM holds. */
store_status store_idm_se_count(store *s, uint64_t *count) STORE_MUST_CHECK;

/* ---------------------------------------------------------------- audit */

/* One audit record as the caller gives it. Strings are UTF-8 text without
 * NUL, at most 64 KiB each; `details` is a JSON object (never a key, a blob
 * or a token). */
typedef struct store_idm_audit_record {
    const char *actor;            /* who: "cli", a tenant id, "system" */
    const char *action;           /* what: "idm.import", "idm.claim", ... */
    const char *subject;          /* on what: a DevEUI, a batch hash */
    const char *details;          /* JSON object text */
} store_idm_audit_record;

/* Appends `r` as the next entry of the chain; *seq (may be NULL) receives
 * its position. Call it inside store_idm_txn, in the transaction that makes
 * the change it records, so that the two commit or vanish together. Two
 * writers racing for the same position: one gets STORE_ERR_EXISTS (or
 * STORE_ERR_BUSY) and its transaction rolls back. */
store_status store_idm_audit_append(store *s, const store_idm_audit_record *r, int64_t *seq) STORE_MUST_CHECK;

typedef struct store_idm_audit_report {
    bool ok;
    uint64_t entries;                       /* entries checked (all of them when ok) */
    int64_t first_bad_seq;                  /* when !ok: the first entry that does not verify */
    const char *reason;                     /* when !ok: a static sentence */
    uint8_t head_hash[STORE_IDM_HASH_LEN];  /* hash of the last good entry (zeros when none) */
} store_idm_audit_report;

/* Walks the whole chain in seq order (streaming: constant memory) and
 * recomputes every hash. STORE_OK with report->ok false names the first
 * broken entry: a hash that does not match its record, a prev_hash that is
 * not the previous entry's hash, or a gap in seq. */
store_status store_idm_audit_verify(store *s, store_idm_audit_report *report) STORE_MUST_CHECK;

#endif

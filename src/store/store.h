/*
 * store.h - the Join Server's durable state: devices, KEKs, used DevNonces,
 * JoinNonce counters, rejoin counters and the sessions kept for AppSKeyReq.
 *
 * One interface, two databases: SQLite (embedded, the default of `ferry
 * init`) and PostgreSQL (several `serve` processes sharing one state). The
 * rules of a join are written once (store_join.c) over a small driver class
 * (store_driver.h) that each database implements; both run the same schema
 * and the same tests. docs/store.md describes the tables and transactions.
 *
 * Keys never reach this layer in clear. Every key field is a store_blob: an
 * opaque RFC 3394 wrap under the HSM's storage master key, produced and
 * consumed by the hsm layer. The store copies blobs in and out and never
 * logs or formats them; there is no function here that takes key bytes.
 *
 * Ownership: a `store` is opened by store_open() and freed by store_close();
 * one handle is one database connection and must be used by one thread at a
 * time (open one per thread). Every record struct is caller-owned and
 * filled by value; nothing returned points into the store.
 *
 * Every function returns a store_status; STORE_OK is 0.
 */
#ifndef FERRY_STORE_H
#define FERRY_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum store_status {
    STORE_OK = 0,
    STORE_ERR_ARGUMENT,      /* a NULL pointer or a field out of its range */
    STORE_ERR_CONFIG,        /* the location is neither sqlite: nor postgresql:// */
    STORE_ERR_OPEN,          /* the database could not be opened or reached */
    STORE_ERR_SCHEMA_NEWER,  /* the database was migrated by a newer ferry */
    STORE_ERR_MIGRATION,     /* a schema migration failed; nothing was changed */
    STORE_ERR_NOT_FOUND,     /* no such device, KEK or session */
    STORE_ERR_EXISTS,        /* the device, KEK or session already exists */
    STORE_ERR_REPLAY,        /* DevNonce or RJcount refused: used, or not increasing */
    STORE_ERR_JOIN_NONCE_EXHAUSTED, /* the device has used all 2^24 JoinNonces */
    STORE_ERR_NOT_ALLOWED,   /* the device's MAC version does not allow it */
    STORE_ERR_NO_SESSION,    /* a rejoin of type 0 or 2 for a device that has no session */
    STORE_ERR_ABORTED,       /* the caller's session callback refused; nothing changed */
    STORE_ERR_BUSY,          /* the database stayed locked or kept conflicting */
    STORE_ERR_CORRUPT,       /* a stored row breaks an invariant of this layer */
    STORE_ERR_NOMEM,         /* out of memory */
    STORE_ERR_BACKEND,       /* any other database error (see store_last_error) */
    STORE_ERR_FULL,          /* a named capacity is reached (e.g. the answer outbox) */
    STORE_STATUS_COUNT
} store_status;

/* A static, human sentence for `st`; never NULL, never needs freeing. */
const char *store_strerror(store_status st);

#if defined(__GNUC__)
#define STORE_MUST_CHECK __attribute__((warn_unused_result))
#else
#define STORE_MUST_CHECK
/* Deletes the sessions that expired at or before `now` (Unix seconds);
 * sessions without expiry stay. *deleted (may be NULL) is how many went. */
store_status store_session_purge(store *s, int64_t now, size_t *deleted) STORE_MUST_CHECK;

#endif

/* Sizes. A wrapped AES-128 key is 24 bytes, a wrapped AES-256 key 40. */
#define STORE_BLOB_MAX 40
#define STORE_LABEL_MAX 64      /* KEK labels and AS-IDs, without the NUL */
#define STORE_NET_IDS_MAX 16    /* AllowedNetIDs per device */
#define STORE_SESSION_ID_MAX 32 /* SessionKeyID bytes */
#define STORE_JOIN_NONCE_LIMIT 0x1000000u /* 2^24: JoinNonces are 0..0xFFFFFF */
/* The first JoinNonce a device is ever given. Not 0: LoRaMac-node and LoRa
 * Basics Modem start with a stored JoinNonce of 0 and accept only a
 * different (1.0.x) or greater (1.1) one, so a 0 would be thrown away. */
#define STORE_JOIN_NONCE_FIRST 1u

/* An opaque wrapped key; len 0 means "absent". */
typedef struct store_blob {
    size_t len;
    uint8_t data[STORE_BLOB_MAX];
} store_blob;

typedef enum store_mac_version {
    STORE_MAC_1_0_0 = 0,
    STORE_MAC_1_0_1,
    STORE_MAC_1_0_2,
    STORE_MAC_1_0_3,
    STORE_MAC_1_0_4,
    STORE_MAC_1_1,
    STORE_MAC_COUNT
} store_mac_version;

/* "1.0.0" .. "1.0.4", "1.1" (as Backend Interfaces writes MACVersion). */
const char *store_mac_version_name(store_mac_version v);
store_status store_mac_version_parse(const char *text, store_mac_version *out) STORE_MUST_CHECK;

/* True when the version's DevNonce is a counter (1.0.4 and 1.1), false
 * when it is random (1.0.0 .. 1.0.3). */
bool store_mac_version_counts_dev_nonce(store_mac_version v);

/* ---------------------------------------------------------------- open */

typedef struct store store;

/* Opens the database at `location` and applies every migration it lacks:
 *   "sqlite:/path/to/ferry.db"           (created if missing)
 *   "postgresql://..." or "postgres://..." (a libpq URI)
 *   "pg:host=... dbname=..."              (a libpq keyword conninfo)
 * On success *out is a new handle for store_close(). STORE_ERR_CONFIG for an
 * unknown scheme, STORE_ERR_OPEN when the database cannot be reached,
 * STORE_ERR_SCHEMA_NEWER when it carries a schema this binary does not know
 * (the database is left untouched). */
store_status store_open(const char *location, store **out) STORE_MUST_CHECK;

/* Closes the connection and frees the handle; NULL is ignored. */
void store_close(store *s);

/* "sqlite" or "postgresql". */
const char *store_backend_name(const store *s);

/* The schema version the database is at after open. */
int store_schema_version(const store *s);

/* True where a write transaction excludes every other writer of the
 * database, in any process, from its begin to its end (SQLite: BEGIN
 * IMMEDIATE takes the writer lock); false where writers run at once and
 * keep apart by row locks (PostgreSQL, READ COMMITTED). What one such
 * transaction reads and writes can never interleave with another's. */
bool store_txn_excludes_writers(const store *s);

/* The schema version this binary migrates to. */
int store_schema_latest(void);

/* The database's message for the last STORE_ERR_BACKEND/OPEN/MIGRATION on
 * this handle, for logs ("" when none). It never contains parameter values,
 * so no blob can leak through it. Valid until the next call on `s`. */
const char *store_last_error(const store *s);

/* ---------------------------------------------------------------- devices */

typedef struct store_device {
    uint64_t dev_eui;   /* the identity: primary key */
    uint64_t join_eui;
    store_mac_version mac_version;
    uint32_t home_net_id;                       /* 24 bits */
    size_t allowed_net_id_count;
    uint32_t allowed_net_ids[STORE_NET_IDS_MAX]; /* 24 bits each */
    store_blob nwk_key;  /* required; for 1.0.x this is the device's AppKey */
    store_blob app_key;  /* 1.1 only; len 0 for 1.0.x */
    char ns_kek_label[STORE_LABEL_MAX + 1]; /* "" = none */
    char as_kek_label[STORE_LABEL_MAX + 1]; /* "" = none */
    char as_id[STORE_LABEL_MAX + 1];        /* "" = none */
    /* The next JoinNonce to issue. On insert it is a floor: the counter
     * starts at max(floor, STORE_JOIN_NONCE_FIRST) - 0 for a new device, the
     * JoinNonce floor its Identity Manager or old server gives when the device
     * moves here (docs/store.md, "JoinNonce"). An upsert never moves it
     * backwards. */
    uint32_t next_join_nonce;
    /* Read only (put ignores it): the JoinNonce of the session in force on
     * this server, -1 when it never answered the device. Whether a join was
     * served since the device came here with a floor is "last_join_nonce >=
     * that floor"; next_join_nonce alone cannot tell it after a migration
     * moved never-joined counters from 0 to 1. */
    int64_t last_join_nonce;
    int64_t created_at; /* Unix seconds; set by the store */
} store_device;

/* Inserts `d`. STORE_ERR_EXISTS if the DevEUI is known, unless `upsert`:
 * then every field is replaced except created_at, the DevNonce history and
 * the JoinNonce counter, which only moves forwards (a re-import must never
 * make a JoinNonce repeat). */
store_status store_device_put(store *s, const store_device *d, bool upsert) STORE_MUST_CHECK;

/* Raises the device's JoinNonce counter to at least `floor` (0 ..
 * STORE_JOIN_NONCE_LIMIT - 1); a counter already there stays. What the
 * Identity Manager does to its bootstrap Join Server's device before the
 * device comes back from a customer's Join Server: the next JoinNonce must be
 * above every one the device accepted elsewhere. STORE_ERR_NOT_FOUND if
 * unknown, STORE_ERR_ARGUMENT for a floor out of range. */
store_status store_device_raise_join_nonce(store *s, uint64_t dev_eui, uint32_t floor) STORE_MUST_CHECK;

/* Reads the device `dev_eui` into *out; STORE_ERR_NOT_FOUND if unknown. */
store_status store_device_get(store *s, uint64_t dev_eui, store_device *out) STORE_MUST_CHECK;

/* Lists devices in DevEUI order, starting after *after (from the first when
 * `after` is NULL), into out[cap]; *count is how many were written. A page
 * shorter than `cap` is the last one. */
store_status store_device_list(store *s, const uint64_t *after, store_device *out, size_t cap,
                               size_t *count) STORE_MUST_CHECK;

/* Deletes the device with its DevNonce history, rejoin counters and sessions.
 * STORE_ERR_NOT_FOUND if unknown. */
store_status store_device_delete(store *s, uint64_t dev_eui) STORE_MUST_CHECK;

/* ---------------------------------------------------------------- KEKs */

typedef struct store_kek {
    char label[STORE_LABEL_MAX + 1]; /* 1..64 printable characters */
    store_blob key;                  /* the KEK wrapped under the master key */
    int64_t created_at;              /* set by the store */
} store_kek;

/* Inserts `k`; STORE_ERR_EXISTS if the label is taken. */
store_status store_kek_put(store *s, const store_kek *k) STORE_MUST_CHECK;
store_status store_kek_get(store *s, const char *label, store_kek *out) STORE_MUST_CHECK;
/* Lists in label order after `after` (NULL: from the first); see device_list. */
store_status store_kek_list(store *s, const char *after, store_kek *out, size_t cap,
                            size_t *count) STORE_MUST_CHECK;
store_status store_kek_delete(store *s, const char *label) STORE_MUST_CHECK;

/* ---------------------------------------------------------------- joins */

/* A session the Join Server kept: what AppSKeyReq reads back. */
typedef struct store_session {
    uint64_t dev_eui;
    uint64_t join_eui;
    size_t session_key_id_len;                 /* 1..STORE_SESSION_ID_MAX */
    uint8_t session_key_id[STORE_SESSION_ID_MAX];
    uint32_t dev_addr;
    uint32_t join_nonce;    /* set by the store */
    uint16_t dev_nonce;     /* DevNonce, or RJcount of a rejoin; set by the store */
    int rejoin_type;        /* -1 for a JoinReq, else 0, 1 or 2; set by the store */
    store_blob app_s_key;       /* kept for AppSKeyReq; len 0 = not kept */
    store_blob f_nwk_s_int_key; /* 1.0.x: NwkSKey; optional */
    store_blob s_nwk_s_int_key; /* 1.1; optional */
    store_blob nwk_s_enc_key;   /* 1.1; optional */
    uint32_t lifetime_s;    /* 0 = no expiry */
    int64_t created_at;     /* set by the store */
    int64_t expires_at;     /* created_at + lifetime_s, 0 = never; set by the store */
} store_session;

/* What the store grants the caller inside a join transaction. */
typedef struct store_join_grant {
    uint64_t dev_eui;
    uint64_t join_eui;
    store_mac_version mac_version; /* as stored, read under the lock */
    uint16_t dev_nonce;            /* DevNonce, or the RJcount of a rejoin */
    uint32_t join_nonce;           /* the JoinNonce this answer carries */
} store_join_grant;

/* Called inside the transaction once the nonce rules passed and the JoinNonce
 * is reserved: derive the session keys (in the HSM) with grant->join_nonce
 * and fill `session` (session_key_id, dev_addr, blobs, lifetime_s; the store
 * sets the rest). Any status other than STORE_OK rolls everything back and
 * the commit returns STORE_ERR_ABORTED (keep your own error in `ctx`). It runs
 * with the device locked: keep it short, and do not call the store from it.
 * If the database asks for the transaction to be retried (STORE_ERR_BUSY
 * inside), it is called again with a fresh grant; only the session of the
 * call whose transaction committed is kept, so make it free of side effects
 * outside `session` (or undo them when the commit fails). */
typedef store_status (*store_session_fn)(void *ctx, const store_join_grant *grant, store_session *session);

/* A session the caller made before the transaction, for the grant it
 * expected (typically with join_nonce = the device's next_join_nonce read by
 * store_device_get), so that the key derivations run outside the writer
 * lock. Inside the transaction the store compares `grant` field by field
 * with the real grant: equal, `session` is kept as if make_session had
 * returned it; different (another join of the device came first), the store
 * calls make_session as usual and `session` is ignored. Either way the rules
 * and the commit are the same; only where the HSM work runs changes. */
typedef struct store_prepared {
    store_join_grant grant;
    store_session session;
} store_prepared;

/* A join announced to a store_batch (store_batch_announce); see there. */
typedef struct store_batch_ticket {
    unsigned parity;
    bool live;
} store_batch_ticket;

typedef struct store_join {
    uint64_t dev_eui;
    /* From the JoinReq frame. The nonce rules are per (DevEUI, JoinEUI); the
     * store does not compare it with the device's provisioned JoinEUI - that
     * policy is the caller's (grant->join_eui is this value). */
    uint64_t join_eui;
    uint16_t dev_nonce;
    store_session_fn make_session;
    void *ctx;
    const store_prepared *prepared; /* NULL: make_session always runs inside */
    store_batch_ticket *ticket;     /* announced to the batch, or NULL (store_batch_announce) */
} store_join;

typedef struct store_join_result {
    uint32_t join_nonce;
    store_mac_version mac_version;
    int64_t created_at;
    int64_t expires_at;
    /* true: the committed session is the caller's store_prepared one; false:
     * it is the one the last make_session call returned. (After a retried
     * transaction these may differ from what the first attempt used.) */
    bool used_prepared;
} store_join_result;

/* Serves a JoinReq, atomically and durably, in one transaction that holds the
 * device: (a) the DevNonce rule of the device's MAC version - 1.0.4 and 1.1:
 * strictly greater than the last accepted for (DevEUI, JoinEUI); 1.0.0 to
 * 1.0.3: never accepted before for that pair; (b) takes the device's next
 * JoinNonce; (c) calls make_session and keeps the session; then commits (on
 * SQLite with synchronous=FULL, on PostgreSQL with synchronous_commit=on),
 * so once this returns STORE_OK the join survives a crash.
 * Errors, each leaving the database unchanged: STORE_ERR_NOT_FOUND (unknown
 * DevEUI), STORE_ERR_REPLAY, STORE_ERR_JOIN_NONCE_EXHAUSTED, STORE_ERR_ABORTED,
 * STORE_ERR_EXISTS (SessionKeyID already used by the device), STORE_ERR_BUSY. */
store_status store_join_commit(store *s, const store_join *j, store_join_result *out) STORE_MUST_CHECK;

typedef struct store_rejoin {
    uint64_t dev_eui;
    uint64_t join_eui;   /* type 1: from the frame; types 0 and 2: ignored */
    int rejoin_type;     /* 0, 1 or 2 */
    uint16_t rj_count;   /* RJcount0 for types 0 and 2, RJcount1 for type 1 */
    store_session_fn make_session;
    void *ctx;
    const store_prepared *prepared; /* as in store_join */
    store_batch_ticket *ticket;     /* as in store_join */
} store_rejoin;

/* Serves a RejoinReq like store_join_commit (same JoinNonce counter, same
 * session keeping, same atomicity), with the counter rule instead of the
 * DevNonce rule: RJcount1 (type 1) strictly greater than the last one of
 * (DevEUI, JoinEUI), for the device's whole life; RJcount0 (types 0 and 2)
 * strictly greater than the last one received in the session in force (see
 * docs/store.md for what that can and cannot catch). STORE_ERR_NOT_ALLOWED
 * when the device is not LoRaWAN 1.1. */
store_status store_rejoin_commit(store *s, const store_rejoin *r, store_join_result *out) STORE_MUST_CHECK;

/* ---------------------------------------------------------------- group commit */

/* A commit queue shared by the threads of one process that write joins to
 * one SQLite database (docs/join-server.md, "Threads, state and
 * durability"). SQLite has one writer and synchronous=FULL makes every
 * COMMIT an fsync; with the queue, the joins that arrive while one
 * transaction is being written wait, and the next thread to run takes all
 * of them into one BEGIN IMMEDIATE ... COMMIT, each in a SAVEPOINT of its
 * own: a refused join rolls back to its savepoint and leaves the others
 * untouched. Each caller returns only after the
 * COMMIT that holds its join returned (or with its own refusal), so the
 * durability of store_join_commit is unchanged.
 * Created by store_batch_new (STORE_ERR_NOMEM), freed by store_batch_free
 * once no thread uses it; thread-safe. */
typedef struct store_batch store_batch;
store_status store_batch_new(store_batch **out) STORE_MUST_CHECK;
void store_batch_free(store_batch *b);

/* What `b` wrote so far: *transactions committed (or failed) and the
 * *joins they carried (joins / transactions is the mean batch size), and
 * *waits_cut: the writers that stopped waiting for announced joins at
 * STORE_BATCH_WAIT_US. */
void store_batch_counts(store_batch *b, uint64_t *transactions, uint64_t *joins, uint64_t *waits_cut);

/* The longest a batch's writer waits for announced joins, microseconds. */
#define STORE_BATCH_WAIT_US 2000

/* Announces a join that will be queued on `b` within moments (the caller
 * derives its keys now): the next writer of `b` waits for it, up to
 * STORE_BATCH_WAIT_US, so that the joins in flight share one commit instead
 * of each paying an fsync. store_join_commit_batched with `t` as the join's
 * ticket resolves the announcement when it queues the join; a caller that
 * will not queue it (a refusal before the commit) calls
 * store_batch_withdraw. Withdrawing a resolved ticket does nothing, so a
 * caller may always withdraw after the commit call. Never fails. */
void store_batch_announce(store_batch *b, store_batch_ticket *t);
void store_batch_withdraw(store_batch *b, store_batch_ticket *t);

/* store_join_commit / store_rejoin_commit through the queue `b`, on the
 * calling thread's own handle `s` (all handles queued on one batch must
 * open the same database). The callbacks of queued joins may run on
 * another queued thread (the one that writes the batch), while their own
 * thread waits. With b == NULL, or on PostgreSQL (whose connections
 * commit in parallel), this is the unbatched call. */
store_status store_join_commit_batched(store *s, store_batch *b, const store_join *j,
                                       store_join_result *out) STORE_MUST_CHECK;
store_status store_rejoin_commit_batched(store *s, store_batch *b, const store_rejoin *r,
                                         store_join_result *out) STORE_MUST_CHECK;

/* Reads the session `session_key_id` of `dev_eui` (AppSKeyReq).
 * STORE_ERR_NOT_FOUND if there is none; expiry is the caller's decision. */
store_status store_session_get(store *s, uint64_t dev_eui, const uint8_t *session_key_id, size_t len,
                               store_session *out) STORE_MUST_CHECK;

/* Deletes the sessions that expired at or before `now` (Unix seconds);
 * sessions without expiry stay. *deleted (may be NULL) is how many went. */
store_status store_session_purge(store *s, int64_t now, size_t *deleted) STORE_MUST_CHECK;

#endif

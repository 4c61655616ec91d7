/*
 * store_outbox.h - the Join Server's outbox of asynchronous answers
 * (schema version 9, src/store/store_schema.c; docs/store.md "js_outbox",
 * docs/join-server.md "Asynchronous answers").
 *
 * TS002 lets a request be answered by a separate HTTP request back to its
 * sender. The Join Server answers such a request with HTTP 200 at once and
 * keeps its answer here, written before the 200 leaves, so that a restart
 * (even a SIGKILL) loses no answer; a delivery thread of `ferry serve`
 * POSTs it to the sender's answer URL with back-off until it is taken or
 * its deadline passes.
 *
 * One row per (SenderID, TransactionID): the row is also what makes a
 * duplicate request (same sender, same TransactionID, same body, compared
 * by SHA-256) answered once. A row stays after delivery or expiry until
 * store_outbox_purge, so a late duplicate still finds it.
 *
 * The answer is the Backend Interfaces JSON the sender would have got in
 * the HTTP response: session keys appear only as KeyEnvelopes wrapped under
 * the peers' KEKs, never clear. Times are Unix milliseconds (the retry
 * back-off is finer than a second).
 *
 * Same rules as store.h: records caller-owned and filled by value, every
 * function returns a store_status.
 */
#ifndef FERRY_STORE_OUTBOX_H
#define FERRY_STORE_OUTBOX_H

#include "store/store.h"

#define STORE_OUTBOX_SENDER_MAX 255    /* a SenderID as text (NetID, JoinEUI or AS-ID: a host name) */
#define STORE_OUTBOX_URL_MAX    1024
#define STORE_OUTBOX_ANSWER_MAX 8192   /* bytes of an answer body (the Join Server's reply buffer) */
#define STORE_OUTBOX_HASH_LEN   32     /* SHA-256 of the request body */

typedef enum store_outbox_state {
    STORE_OUTBOX_PENDING = 0,          /* to be POSTed (again) at next_attempt_ms */
    STORE_OUTBOX_DELIVERED,            /* the sender's URL answered 2xx */
    STORE_OUTBOX_EXPIRED,              /* the deadline passed before a delivery */
    STORE_OUTBOX_STATE_COUNT
} store_outbox_state;

typedef struct store_outbox_entry {
    char sender_id[STORE_OUTBOX_SENDER_MAX + 1];
    uint32_t transaction_id;
    uint8_t request_sha256[STORE_OUTBOX_HASH_LEN];
    char answer_url[STORE_OUTBOX_URL_MAX + 1];
    char answer[STORE_OUTBOX_ANSWER_MAX + 1]; /* NUL-terminated */
    size_t answer_len;
    store_outbox_state state;
    unsigned attempts;                 /* POSTs made so far */
    int64_t next_attempt_ms;
    int64_t deadline_ms;
    int64_t created_ms;                /* set by the store */
} store_outbox_entry;

/* "pending" / "delivered" / "expired"; NULL out of range. */
const char *store_outbox_state_name(store_outbox_state st);

/* The current time in Unix milliseconds (the outbox's clock). */
int64_t store_now_ms(void);

/* Queues e (state PENDING) unless `capacity` rows are pending already:
 * STORE_ERR_FULL then, nothing written. A delivered or expired row of the
 * same (SenderID, TransactionID) is replaced (the sender reused the ID for
 * a new request); a pending one is kept and STORE_ERR_EXISTS returned. One
 * transaction, committed before it returns. */
store_status store_outbox_add(store *s, const store_outbox_entry *e, size_t capacity) STORE_MUST_CHECK;

/* The row of (sender_id, transaction_id); STORE_ERR_NOT_FOUND if none. */
store_status store_outbox_find(store *s, const char *sender_id, uint32_t transaction_id,
                               store_outbox_entry *out) STORE_MUST_CHECK;

/* How many rows are in state `st`. */
store_status store_outbox_count(store *s, store_outbox_state st, size_t *count) STORE_MUST_CHECK;

/* The pending rows due at now_ms (next_attempt_ms <= now_ms), earliest
 * first, into out[cap]; *count how many. More may be due: the caller asks
 * again after handling these. */
store_status store_outbox_due(store *s, int64_t now_ms, store_outbox_entry *out, size_t cap,
                              size_t *count) STORE_MUST_CHECK;

/* Takes a due row for one delivery attempt: moves its next_attempt_ms from
 * `seen_ms` (what store_outbox_due returned) to `lease_ms`, only if no one
 * else did (several `serve` processes on one PostgreSQL). STORE_ERR_BUSY
 * when another process took it first; nothing changed then. */
store_status store_outbox_claim(store *s, const char *sender_id, uint32_t transaction_id, int64_t seen_ms,
                                int64_t lease_ms) STORE_MUST_CHECK;

/* After a failed attempt: attempts + 1, the next one at next_ms. */
store_status store_outbox_retry_at(store *s, const char *sender_id, uint32_t transaction_id,
                                   int64_t next_ms) STORE_MUST_CHECK;

/* Closes a row as DELIVERED (attempts + 1) or EXPIRED. STORE_ERR_NOT_FOUND
 * when it is not pending. */
store_status store_outbox_finish(store *s, const char *sender_id, uint32_t transaction_id,
                                 store_outbox_state st) STORE_MUST_CHECK;

/* Deletes delivered and expired rows last changed before before_ms;
 * *deleted (may be NULL) how many. Pending rows are never purged. */
store_status store_outbox_purge(store *s, int64_t before_ms, size_t *deleted) STORE_MUST_CHECK;

#endif

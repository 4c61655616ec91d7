/*
 * store_operator.h - network operators onboarded to the activation service
 * (schema version 5, src/store/store_schema.c; docs/operators.md).
 *
 *   idm_operator        one row per operator, keyed by its NetID: name, NSID
 *                       (BI 1.1), its credentials (the SHA-256 of a bearer
 *                       token, and/or the PEM CA bundle that issues its TLS
 *                       client certificates), the label of the KEK its
 *                       network session keys are wrapped under (a row of the
 *                       keks table), how it reaches the bootstrap Join
 *                       Server (direct, or through the hub) and its state
 *   idm_operator_count  what the Join Server answered it: one counter per
 *                       (request kind, ResultCode), added to by each `serve`
 *                       process (docs/join-server.md, "Metrics")
 *
 * An operator is the third kind of tenant of the Identity Manager beside
 * device makers and customers; the Join Server (src/js) reads these rows on
 * every request from a NetID, so a suspension takes effect at the next
 * request, without a restart. No column holds a secret: tokens are kept as
 * SHA-256, CA certificates are public.
 *
 * Same rules as store.h: records caller-owned and filled by value, every
 * function returns a store_status.
 */
#ifndef FERRY_STORE_OPERATOR_H
#define FERRY_STORE_OPERATOR_H

#include "store/store.h"

#define STORE_OPERATOR_NAME_MAX 128
#define STORE_OPERATOR_CA_MAX   32768 /* bytes of a PEM CA bundle */
#define STORE_OPERATOR_HASH_LEN 32    /* SHA-256 */
#define STORE_OPERATOR_COUNTS_MAX 64  /* (request, result) pairs per operator */
#define STORE_OPERATOR_URL_MAX  1023  /* an answer URL, without the NUL */
#define STORE_OPERATOR_PATH_MAX 1023  /* a file path, without the NUL */

typedef enum store_operator_reach {
    STORE_OPERATOR_DIRECT = 0,        /* its network server sends JoinReq/HomeNSReq itself */
    STORE_OPERATOR_HUB                /* it is reached through the peering hub (passive roaming) */
} store_operator_reach;

typedef struct store_operator {
    uint32_t net_id;                  /* 24 bits: the identity */
    char name[STORE_OPERATOR_NAME_MAX + 1];
    bool has_nsid;                    /* its NS-ID (BI 1.1 SenderNSID, HNSID) */
    uint64_t nsid;
    bool has_token;
    uint8_t token_sha256[STORE_OPERATOR_HASH_LEN];
    bool has_client_ca;               /* the PEM itself: store_operator_client_ca */
    uint8_t client_ca_sha256[STORE_OPERATOR_HASH_LEN];
    char kek_label[STORE_LABEL_MAX + 1]; /* "" only when reach is STORE_OPERATOR_HUB */
    store_operator_reach reach;
    bool suspended;
    /* asynchronous answers (schema 9): its answers are POSTed to
     * answer_url ("" = in the HTTP response) with the bearer token kept
     * in answer_token_file, a path on each Join Server host ("" = none) */
    char answer_url[STORE_OPERATOR_URL_MAX + 1];
    char answer_token_file[STORE_OPERATOR_PATH_MAX + 1];
    int64_t created_at, updated_at;   /* set by the store */
} store_operator;

/* "direct" / "hub"; NULL out of range. parse: the reach a text names
 * (the CLI's --reach, the reach column), STORE_ERR_ARGUMENT for any other. */
const char *store_operator_reach_name(store_operator_reach r);
store_status store_operator_reach_parse(const char *text, store_operator_reach *out) STORE_MUST_CHECK;

/* Inserts `op` with its client CA bundle (client_ca NULL or "" = none; its
 * SHA-256 must then be op->client_ca_sha256 and has_client_ca true).
 * STORE_ERR_EXISTS when the NetID is onboarded already. */
store_status store_operator_put(store *s, const store_operator *op, const char *client_ca) STORE_MUST_CHECK;

/* The operator `net_id`; STORE_ERR_NOT_FOUND if none. */
store_status store_operator_get(store *s, uint32_t net_id, store_operator *out) STORE_MUST_CHECK;

/* The operator whose bearer token hashes to hash[32] (the activation
 * console's sign-in, docs/idm.md "Console API"); STORE_ERR_NOT_FOUND if
 * none. The caller still compares the hash in constant time. */
store_status store_operator_by_token(store *s, const uint8_t hash[STORE_OPERATOR_HASH_LEN],
                                     store_operator *out) STORE_MUST_CHECK;

/* Its client CA bundle into out[cap] (NUL-terminated), *len without the
 * NUL; "" when it has none. STORE_ERR_NOT_FOUND, STORE_ERR_ARGUMENT when it
 * does not fit. */
store_status store_operator_client_ca(store *s, uint32_t net_id, char *out, size_t cap,
                                      size_t *len) STORE_MUST_CHECK;

/* In NetID order after *after (NULL: from the first) into out[cap]. */
store_status store_operator_list(store *s, const uint32_t *after, store_operator *out, size_t cap,
                                 size_t *count) STORE_MUST_CHECK;

/* Suspends or resumes; STORE_ERR_NOT_FOUND. */
store_status store_operator_set_suspended(store *s, uint32_t net_id, bool suspended) STORE_MUST_CHECK;

/* Removes the operator and its counters; STORE_ERR_NOT_FOUND. */
store_status store_operator_delete(store *s, uint32_t net_id) STORE_MUST_CHECK;

/* ---- counters ---- */

typedef struct store_operator_count {
    char request[16];                 /* "join" (JoinReq, RejoinReq) or "home_ns" */
    char result[32];                  /* a ResultCode name ("Success", "ActivationDisallowed", ...) */
    uint64_t n;
} store_operator_count;

/* Adds n to the counter (net_id, request, result); nothing when the
 * operator is no longer onboarded (its counts went with it). */
store_status store_operator_count_add(store *s, uint32_t net_id, const char *request, const char *result,
                                      uint64_t n) STORE_MUST_CHECK;

/* The operator's counters, in (request, result) order, into out[cap];
 * STORE_ERR_ARGUMENT when it has more than cap (nothing is cut: pass
 * STORE_OPERATOR_COUNTS_MAX, above the 2 requests x BI ResultCodes). */
store_status store_operator_counts(store *s, uint32_t net_id, store_operator_count *out, size_t cap,
                                   size_t *count) STORE_MUST_CHECK;

#endif

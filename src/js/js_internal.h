/*
 * js_internal.h - internal to src/js: the context and worker structs, the
 * per-session KEK cache, metrics storage and small helpers.
 */
#ifndef FERRY_JS_INTERNAL_H
#define FERRY_JS_INTERNAL_H

#include <gnutls/x509.h>
#include <pthread.h>

#include "js/js.h"
#include "net/net_cert.h"
#include "lorawan/lorawan.h"

#define JS_METRIC_TYPES   4   /* JoinReq, RejoinReq, AppSKeyReq, HomeNSReq */
#define JS_METRIC_OTHER   4   /* index for "other" (admin, 400s, unknown types) */
#define JS_BUCKETS        12

/* Per-operator counters: request kind (0 JoinReq/RejoinReq, 1 HomeNSReq)
 * by ResultCode. `total` since the process started (/metrics), `pending`
 * not yet added to the database (js_metrics_flush). Bounded: operators
 * beyond JS_OP_METRICS_MAX are counted only in ferry_js_requests_total. */
#define JS_OP_METRICS_MAX 256
#define JS_OP_KINDS       2

typedef struct js_op_metrics {
    uint32_t net_id;
    uint64_t total[JS_OP_KINDS][BI_RESULT_COUNT];
    uint64_t pending[JS_OP_KINDS][BI_RESULT_COUNT];
} js_op_metrics;

/* What became of asynchronous answers (js_async.c): ferry_js_async_*_total. */
typedef enum js_async_outcome {
    JS_ASYNC_QUEUED = 0,      /* written to the outbox, 200 sent */
    JS_ASYNC_DELIVERED,       /* the sender's URL took it (2xx) */
    JS_ASYNC_RETRIED,         /* an attempt failed; another is scheduled */
    JS_ASYNC_EXPIRED,         /* the deadline passed undelivered */
    JS_ASYNC_DUPLICATE,       /* a request answered already (or in flight): 200, nothing new */
    JS_ASYNC_REFUSED,         /* the outbox was full: 503 */
    JS_ASYNC_OUTCOME_COUNT
} js_async_outcome;

typedef struct js_metrics {
    pthread_mutex_t lock;
    size_t op_count;
    js_op_metrics *ops;                                       /* [JS_OP_METRICS_MAX], by arrival */
    uint64_t count[JS_METRIC_TYPES + 1][BI_RESULT_COUNT + 1]; /* last column: no result (HTTP 400) */
    uint64_t hist[JS_BUCKETS + 1];                            /* cumulative at render time */
    uint64_t hist_count;
    double hist_sum;
    uint64_t http_status[6];                                  /* 1xx..5xx by hundreds */
    uint64_t cert_refused[NET_CERT_VERDICT_COUNT];            /* client certificate chains refused, by why */
    uint64_t async[JS_ASYNC_OUTCOME_COUNT];                   /* asynchronous answers, by outcome */
    int64_t async_pending;                                    /* outbox rows pending, as last counted (-1: not yet) */
    uint64_t root_unwraps, root_evictions;                    /* js_worker_root_key: misses, and entries released at JS_ROOT_CACHE */
} js_metrics;

typedef struct js_async js_async;

struct js_ctx {
    js_config *cfg;
    hsm *h;
    js_metrics metrics;
    /* SQLite has one writer and an fsync per COMMIT: the threads of this
     * process queue their joins here and share transactions (group commit,
     * store_join_commit_batched); PostgreSQL ignores it. */
    store_batch *batch;
    /* trust[i]: the CA list that authenticates cfg->peers[i]'s client
     * certificates (its client_ca, else tls_client_ca), or NULL. */
    gnutls_x509_trust_list_t *trust;
    pthread_rwlock_t trust_lock;      /* readers: requests; writer: js_trust_reload */
    bool trust_lock_ready;
    /* TLS reloads asked by the admin API (POST /api/v1/tls/reload) and
     * done by js_serve's main loop, which owns the server */
    pthread_mutex_t reload_lock;
    pthread_cond_t reload_cond;
    uint64_t reload_asked, reload_done;
    js_status reload_result;
    char reload_err[JS_ERR_MAX];
    /* cfg->join_euis: read by every request, replaced at a reload */
    pthread_rwlock_t join_eui_lock;
    /* the Identity Manager's view of its secure elements (js_set_se_policy) */
    js_se_policy_fn se_policy;
    void *se_policy_ctx;
    /* the delivery thread of asynchronous answers while js_serve runs
     * (NULL otherwise): handlers wake it when they queue an answer */
    js_async *async;
};

/* js_join_eui.c: whether the server serves eui now (its ranges may change
 * at a reload); the list as text for messages; the ranges read again from
 * ferry.conf (at SIGHUP). */
bool js_serves_join_eui(js_ctx *ctx, uint64_t eui);
void js_join_eui_list_text(js_ctx *ctx, char *out, size_t cap);
js_status js_join_eui_reload(js_ctx *ctx, char err[JS_ERR_MAX]);

#define JS_KEK_CACHE 16

typedef struct js_kek_entry {
    char label[STORE_LABEL_MAX + 1];
    store_blob blob;          /* what was unwrapped: a changed KEK row is noticed */
    lw_key key;               /* session object in this worker's session */
    uint64_t used;            /* LRU clock */
} js_kek_entry;

/* Device root keys (NwkKey, AppKey) kept unwrapped per worker: a device
 * that joins again on the same worker skips the C_UnwrapKey (and the
 * C_DestroyObject) of its root key. An entry is the blob it came from; a
 * changed key (a PUT of the device) has another blob and replaces it. At
 * JS_ROOT_CACHE the least recently used entry is released (counted:
 * ferry_js_root_key_cache_evictions_total). */
#define JS_ROOT_CACHE 64

typedef enum js_root_role { JS_ROOT_NWK = 0, JS_ROOT_APP = 1 } js_root_role;

typedef struct js_root_entry {
    uint64_t dev_eui;
    js_root_role role;
    store_blob blob;          /* what was unwrapped */
    lw_key key;               /* session object in this worker's session; handle 0: free */
    uint64_t used;            /* LRU clock */
} js_root_entry;

/* An operator's client CA bundle as a trust list, kept while the bundle's
 * SHA-256 in its row is the same (js_auth.c). */
#define JS_OP_TRUST_CACHE 8

/* Counts one asynchronous answer's outcome; the pending gauge when
 * pending >= 0. */
void js_metrics_async(js_ctx *ctx, js_async_outcome o);
void js_metrics_async_pending(js_ctx *ctx, int64_t pending);

/* Counts (and logs) a client certificate chain refused for `why`. */
void js_metrics_cert_refused(js_ctx *ctx, const char *sender, net_cert_verdict why);

typedef struct js_op_trust {
    uint32_t net_id;
    uint8_t ca_sha256[JS_HASH_LEN];
    gnutls_x509_trust_list_t tl;  /* NULL = free entry */
    uint64_t used;
} js_op_trust;

struct js_worker {
    js_ctx *ctx;
    hsm_session *sess;
    store *db;
    uint64_t clock;
    js_kek_entry keks[JS_KEK_CACHE];
    js_root_entry roots[JS_ROOT_CACHE];
    js_op_trust op_trust[JS_OP_TRUST_CACHE];
    js_reply reply;           /* js_http.c: the answer being built on this worker's thread */
};

/* True when `auth` authenticates the onboarded operator `op` for a request
 * with header `h`: its bearer token, or a client certificate chain that
 * verifies against its own CA bundle and names `sender` (the rule of
 * js_peer_authenticated); in BI 1.1 the SenderNSID must be its NSID when
 * one is recorded. An operator without any credential authenticates only
 * with peer_auth = none. */
bool js_operator_authenticated(js_worker *w, const store_operator *op, const char *sender, const bi_header *h,
                               const js_auth *auth);
/* Frees the worker's operator trust lists (js_worker_close). */
void js_op_trust_release(js_worker *w);

/* The operator CA bundles in the database, concatenated onto *pem (which
 * may be NULL; realloc'd; *len updated), for the TLS handshake's list of
 * acceptable CAs. JS_OK also when there is none. */
js_status js_operator_trust_pem(store *db, char **pem, size_t *len);

/* The IDM's policy for dev_eui (is_se false without a lookup installed). */
js_status js_se_policy_of(js_worker *w, uint64_t dev_eui, js_se_policy *out);

/* /api/v1/operators of the admin API (js_operator_api.c); the caller
 * checked the admin token. */
void js_handle_admin_operators(js_worker *w, const char *method, const char *path, const void *body, size_t len,
                               js_reply *out);

/* Loads ctx->trust from the configuration (js_auth.c); JS_ERR_CONFIG when
 * a CA file gives no certificate. js_trust_free undoes it (safe on a
 * partial load). */
js_status js_trust_load(js_ctx *ctx, char err[JS_ERR_MAX]);
void js_trust_free(js_ctx *ctx);
/* Every peer's CA and CRL read again and swapped in at once; on error the
 * lists in place stay and err names the file. */
js_status js_trust_reload(js_ctx *ctx, char err[JS_ERR_MAX]);

/* The admin API's POST /api/v1/tls/reload: asks js_serve's loop to reload
 * (as SIGHUP does) and waits for its result, at most `seconds`. */
js_status js_reload_ask(js_ctx *ctx, unsigned seconds, char err[JS_ERR_MAX]);
/* True when some peer can authenticate by client certificate. */
bool js_trust_any(const js_ctx *ctx);
/* The distinct CA files of ctx->trust concatenated (NUL-terminated; *len
 * without the NUL), for the TLS handshake; NULL if none or on failure.
 * The caller frees it. */
char *js_trust_pem(const js_ctx *ctx, size_t *len);


/* A NetID given as 6 hex digits becomes uppercase without 0x; anything
 * else (an AS-ID) is copied. */
void js_canonical_id(const char *in, char out[BI_ID_MAX + 1]);

/* The KEK `label` as a HSM_KEY_KEK handle of this worker's session, from
 * the cache or unwrapped from the store. *key stays owned by the cache.
 * JS_ERR_NOT_FOUND when no KEK has that label. */
js_status js_worker_kek(js_worker *w, const char *label, const lw_key **key, char err[JS_ERR_MAX]);

/* The root key `role` of device `dev_eui`, wrapped in `blob` under the
 * master key, as a HSM_KEY_WORKING handle of this worker's session: from
 * the cache when the same blob was unwrapped for that device and role
 * before, else unwrapped and cached. *key stays owned by the cache (never
 * release it). It stays valid while this worker makes fewer than
 * JS_ROOT_CACHE further calls (eviction takes the least recently used
 * entry), so a join may hold its NwkKey and AppKey together. Fails as
 * hsm_key_unwrap_blob, caching nothing. */
hsm_status js_worker_root_key(js_worker *w, uint64_t dev_eui, js_root_role role, const store_blob *blob,
                              const lw_key **key);


/* The answer to an authenticated request (js_handler.c): JoinReq,
 * RejoinReq, AppSKeyReq, HomeNSReq, with op the sender's operator row or
 * NULL. Fills *out as js_handle_bi does. */
void js_answer_request(js_worker *w, const bi_request *req, const store_operator *op, js_reply *out);

/* ---- asynchronous answers (js_async.c) ---------------------------------
 * Where a sender's answers go when it takes them asynchronously: pointers
 * into an operator row or the configuration, valid while those are. */
typedef struct js_answer_to {
    const char *url;
    const char *token_file;           /* "" = no bearer token */
    const char *ca;                   /* "" = the system's CAs */
} js_answer_to;

/* True when `sender` takes its answers asynchronously: the onboarded
 * operator's answer_url (op, may be NULL) first, else its ferry.conf
 * peer's; *out says where. */
bool js_async_target(const js_ctx *ctx, const char *sender, const store_operator *op, js_answer_to *out);

/* Serves an authenticated request of an asynchronous sender: a duplicate
 * (same SenderID, TransactionID and body) gets 200 and nothing new; a full
 * outbox 503 before anything is done; otherwise the answer is made
 * (js_answer_request: a join's nonces are committed first), written to the
 * outbox for to->url, and *out is 200 with an empty body. */
void js_async_serve(js_worker *w, const js_answer_to *to, const char *sender, const bi_request *req, const void *body,
                    size_t len, const store_operator *op, js_reply *out);

/* The delivery thread (js_serve runs one): its own database connection and
 * HTTP client; POSTs due answers with back-off until each is delivered or
 * expires. Start checks every answer_token_file is readable
 * (JS_ERR_CONFIG). Stop joins the thread; NULL is ignored. */
js_status js_async_start(js_ctx *ctx, js_async **out, char err[JS_ERR_MAX]);
void js_async_stop(js_async *a);

/* vsnprintf into err[JS_ERR_MAX] (cut when longer). */
void js_errf(char err[JS_ERR_MAX], const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Copies src into dst[cap], cut to fit, always NUL-terminated. */
void js_copy(char *dst, size_t cap, const char *src);

/* Fills a reply with a plain-text / JSON body. A body that does not fit
 * r->body (JS_REPLY_MAX) is never cut: the reply becomes 500 with a fixed
 * short plain-text body, an error line is logged, and false is returned. */
bool js_reply_text(js_reply *r, unsigned status, const char *content_type, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif

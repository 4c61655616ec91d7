/*
 * js.h - ferry's Join Server: the table of contents.
 *
 * A deployment is a directory (docs/join-server.md): ferry.conf, a SoftHSM2
 * token, the database, admin.token. This layer turns Backend Interfaces
 * requests into answers with the hsm (keys) and the store (state), and runs
 * them behind an HTTP server. The request handling is a function of
 * (worker, credentials, body) -> (HTTP status, body) with no I/O of its own,
 * so the unit tests drive it directly; js_http.c is the thin HTTP shell.
 *
 * Ownership and threads:
 *   js_ctx     one per process: the configuration, the hsm (PKCS#11 module,
 *              login), the metrics. Shared by every thread.
 *   js_worker  one per thread: a PKCS#11 session, a database connection and
 *              a cache of peer KEK handles (session objects, so per session).
 *              Never used by two threads at once.
 * Open: js_open() then js_worker_open() per thread; close the workers before
 * js_close().
 *
 * Secrets: keys exist only as token handles and as blobs wrapped under the
 * token's master key; the only clear input is the operator's explicit one
 * (js_kek_import_clear, js_device_translate with allow_clear). Bearer tokens
 * are kept as SHA-256 hashes and compared in constant time. Nothing here
 * formats a key, a blob or a token into text.
 */
#ifndef FERRY_JS_H
#define FERRY_JS_H

#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bi/bi.h"
#include "hsm/hsm.h"
#include "net/net_cert.h"
#include "store/store.h"
#include "store/store_operator.h"

typedef enum js_status {
    JS_OK = 0,
    JS_ERR_ARGUMENT,  /* a NULL pointer or a value out of range */
    JS_ERR_CONFIG,    /* ferry.conf is missing, unreadable or wrong (see the message) */
    JS_ERR_EXISTS,    /* the deployment, KEK or device exists already */
    JS_ERR_NOT_FOUND, /* no such KEK or device */
    JS_ERR_IO,        /* a file could not be written or read */
    JS_ERR_HSM,       /* the key service failed (see the message) */
    JS_ERR_STORE,     /* the database failed (see the message) */
    JS_ERR_INPUT,     /* an import line or request body is malformed */
    JS_ERR_CLEAR_KEY, /* a clear key without the operator's permission */
    JS_ERR_KEK,       /* a wrapped key does not unwrap under the named KEK */
    JS_ERR_RANDOM,    /* the OS random generator failed */
    JS_ERR_NOMEM,     /* out of memory */
    JS_ERR_HTTP,      /* the HTTP server could not start (address, TLS) */
    JS_STATUS_COUNT
} js_status;

/* A static sentence for `st`; never NULL. */
const char *js_strerror(js_status st);

typedef struct js_ctx js_ctx;       /* the process: js_open */
typedef struct js_worker js_worker; /* one thread: js_worker_open */

/* ---- configuration (js_config.c) -------------------------------------- */

#define JS_CONF_FILE      "ferry.conf"
#define JS_ADMIN_TOKEN    "admin.token"
#define JS_DEFAULT_PORT   4711
#define JS_TOKEN_LABEL    "ferry"
#define JS_PEERS_MAX      64
#define JS_PATH_MAX       1024
#define JS_ERR_MAX        256
#define JS_HASH_LEN       32        /* SHA-256 of a bearer token */
#define JS_TOKEN_HEX_LEN  64        /* a generated token: 32 random bytes as hex */
#define JS_ANSWER_URL_MAX 1024      /* an asynchronous answer URL, with its NUL */

/* Asynchronous answers: the defaults of their ferry.conf keys. */
#define JS_ASYNC_DEADLINE_S_DEFAULT   600     /* async_deadline: from the request to the last attempt */
#define JS_ASYNC_RETRY_MS_DEFAULT     1000    /* async_retry_ms: the first back-off, doubled each time */
#define JS_ASYNC_RETRY_MAX_MS_DEFAULT 60000   /* async_retry_max_ms: the longest back-off */
#define JS_ASYNC_OUTBOX_MAX_DEFAULT   10000   /* async_outbox_max: pending answers; beyond, 503 */
#define JS_ASYNC_KEEP_S_DEFAULT       86400   /* async_keep: finished rows kept to answer duplicates once */

typedef struct js_peer {
    char id[BI_ID_MAX + 1];           /* NetID as 6 uppercase hex, or an AS-ID */
    bool has_token;
    uint8_t token_sha256[JS_HASH_LEN];
    bool has_nsid;                    /* the NS-ID sent as HNSID for this home NetID */
    uint64_t nsid;
    char client_ca[JS_PATH_MAX];      /* PEM CA bundle that issues this peer's client
                                         certificates; "" = none (docs/join-server.md) */
    char client_crl[JS_PATH_MAX];     /* that CA's CRL (PEM or DER); "" = tls_client_crl */
    /* Asynchronous answers (js_async.c, docs/join-server.md): where this
     * sender takes its answers ("" = in the HTTP response, synchronous),
     * the file holding the bearer token presented there ("" = none) and
     * the CA file that verifies that URL over https ("" = the system's). */
    char answer_url[JS_ANSWER_URL_MAX];
    char answer_token_file[JS_PATH_MAX];
    char answer_ca[JS_PATH_MAX];
} js_peer;

/* A block of JoinEUIs: those whose top `bits` bits are `prefix`'s
 * (js_join_eui.c). 64 bits: one JoinEUI. */
typedef struct js_join_eui_range {
    uint64_t prefix;                  /* the bits past `bits` are zero */
    unsigned bits;                    /* 1..64 */
} js_join_eui_range;

#define JS_JOIN_EUIS_MAX 64
#define JS_JOIN_EUI_TEXT_MAX 24       /* "70B3D57ED0000000/40" and a NUL */

typedef struct js_config {
    char dir[JS_PATH_MAX];            /* absolute deployment directory */
    js_join_eui_range join_euis[JS_JOIN_EUIS_MAX]; /* the JoinEUIs served (ReceiverID, devices) */
    size_t n_join_euis;               /* at least 1 */
    char listen[128];                 /* ADDR:PORT */
    char database[JS_PATH_MAX + 16];  /* store_open() location */
    char pkcs11_module[JS_PATH_MAX];
    char softhsm_conf[JS_PATH_MAX];   /* "" for a non-SoftHSM2 module */
    char token_label[HSM_LABEL_MAX + 1];
    char pin_file[JS_PATH_MAX];
    bool peer_auth_required;          /* false only with plain HTTP on loopback */
    uint32_t lifetime;                /* JoinAns Lifetime and session expiry, seconds; 0 = none */
    unsigned threads;                 /* HTTP worker threads, 1..64 */
    bool listen_shared;               /* SO_REUSEPORT: several `serve` processes on one address */
    char tls_cert[JS_PATH_MAX];       /* "" = no TLS */
    char tls_key[JS_PATH_MAX];
    char tls_client_ca[JS_PATH_MAX];  /* CA for the peers without their own client_ca; "" = none */
    char tls_client_crl[JS_PATH_MAX]; /* CRL for the peers without their own client_crl; "" = none */
    bool tls_crl_required;            /* a client CA without a current CRL is a start-up error */
    char tls_priority[512];           /* GnuTLS priority string; "" = NET_TLS_PRIORITY_DEFAULT */
    bool tls_priority_below_floor;    /* tls_priority may allow less than the default's floor */
    bool has_admin_token;
    uint8_t admin_token_sha256[JS_HASH_LEN];
    uint32_t async_deadline_s;        /* asynchronous answers: see JS_ASYNC_*_DEFAULT */
    uint32_t async_retry_ms;
    uint32_t async_retry_max_ms;
    uint32_t async_outbox_max;
    uint32_t async_keep_s;
    size_t peer_count;
    js_peer peers[JS_PEERS_MAX];
} js_config;

/* Reads DIR/ferry.conf into *out (caller-owned; it is large, allocate it).
 * JS_ERR_CONFIG with a sentence in err[JS_ERR_MAX] naming the line. */
js_status js_config_load(const char *dir, js_config *out, char err[JS_ERR_MAX]);

/* "EUI" or "EUI/BITS" (16 hex digits, optional 0x; BITS 1..64, the bits
 * past them zero). JS_ERR_ARGUMENT with the reason in err. */
js_status js_join_eui_range_parse(const char *text, js_join_eui_range *out, char err[JS_ERR_MAX]);
/* "70B3D57ED0000000/40"; a single JoinEUI without "/64". */
void js_join_eui_range_text(const js_join_eui_range *r, char out[JS_JOIN_EUI_TEXT_MAX]);
/* True when eui falls in one of r[0..n). */
bool js_join_eui_ranges_match(const js_join_eui_range *r, size_t n, uint64_t eui);
/* Adds a range to cfg (ferry.conf's `join_eui`, repeatable): JS_ERR_EXISTS
 * for one given twice. */
js_status js_config_add_join_eui(js_config *cfg, const char *text, char err[JS_ERR_MAX]);
/* `ferry joineui add|remove RANGE`: DIR/ferry.conf rewritten atomically
 * with the range added or removed (the last one is never removed). A
 * running server takes it at SIGHUP. */
js_status js_join_eui_change(const char *dir, bool add, const char *range, char err[JS_ERR_MAX]);

/* The peer entry for `id` (compared exactly; NetIDs are uppercase), or NULL. */
const js_peer *js_config_peer(const js_config *cfg, const char *id);


/* SHA-256 of `len` bytes. */
void js_sha256(const void *data, size_t len, uint8_t out[JS_HASH_LEN]);

/* A fresh random token: 64 lowercase hex digits and a NUL in out[65], and
 * its hash. The caller wipes out[] when done. */
js_status js_token_generate(char out[JS_TOKEN_HEX_LEN + 1], uint8_t hash[JS_HASH_LEN]);

/* ---- deployment (js_deploy.c) ----------------------------------------- */

typedef struct js_init_opts {
    const js_join_eui_range *join_euis; /* one or more */
    size_t n_join_euis;
    const char *listen;       /* NULL = 127.0.0.1:JS_DEFAULT_PORT */
    const char *database;     /* NULL = sqlite:DIR/ferry.db */
    const char *token_label;  /* NULL = JS_TOKEN_LABEL */
} js_init_opts;

/* Creates a deployment in `dir` (0700; it may exist but must not hold one):
 * the token (hsm_token_create), the database (store_open: migrations),
 * DIR/admin.token (0600, the admin API's bearer token, written once) and
 * DIR/ferry.conf (0600) holding only the token's hash. JS_ERR_EXISTS when
 * DIR already holds a deployment; nothing is overwritten. */
js_status js_deploy_init(const char *dir, const js_init_opts *o, char err[JS_ERR_MAX]);

/* Appends a peer to DIR/ferry.conf with its credentials, at least one of:
 * token_out: a fresh bearer token goes to that file (new, 0600) and only its
 * hash to ferry.conf; client_ca: a PEM file of one or more CA certificates
 * (checked to parse) whose absolute path is kept as peer.<ID>.client_ca.
 * nsid_hex (may be NULL): the NS-ID for HomeNSAns. */
js_status js_peer_add(const char *dir, const char *id, const char *token_out, const char *client_ca,
                      const char *nsid_hex, char err[JS_ERR_MAX]);

/* ---- the service (js.c) ----------------------------------------------- */

/* Loads DIR's configuration and opens its key service. *out is freed with
 * js_close(). */
js_status js_open(const char *dir, js_ctx **out, char err[JS_ERR_MAX]);
void js_close(js_ctx *ctx);
const js_config *js_ctx_config(const js_ctx *ctx);

/* A PKCS#11 session and a database connection for the calling thread. */
js_status js_worker_open(js_ctx *ctx, js_worker **out, char err[JS_ERR_MAX]);
void js_worker_close(js_worker *w);
store *js_worker_store(js_worker *w);

/* ---- keys and devices (js_admin.c) ------------------------------------ */

/* Imports a KEK from key[len] (16, 24 or 32 bytes) under `label`: made
 * inside the token, kept as a blob. key[] is wiped on every path. */
js_status js_kek_import_clear(js_worker *w, const char *label, uint8_t *key, size_t len, char err[JS_ERR_MAX]);

/* Generates a random AES-128 KEK inside the token and keeps it as a blob. */
js_status js_kek_generate(js_worker *w, const char *label, char err[JS_ERR_MAX]);

/* Parses one device line (bi_device_parse) and translates its keys into
 * master-key blobs inside the token: wrapped envelopes are unwrapped under
 * the KEK they name (which must have been imported), clear ones are taken
 * only with allow_clear (*was_clear tells). *out is ready for
 * store_device_put; nothing is written. */
js_status js_device_translate(js_worker *w, const char *line, size_t len, bool allow_clear, store_device *out,
                              bool *was_clear, char err[JS_ERR_MAX]);

/* ---- requests (js_handler.c, js_admin_api.c) -------------------------- */

#define JS_REPLY_MAX 8192

/* One certificate as the TLS client sent it (DER): the server layer's. */
typedef net_cert js_cert;

#define JS_CHAIN_MAX NET_CHAIN_MAX

/* What the transport knows about the peer. The certificates are not
 * verified by the transport: js_peer_authenticated verifies them against
 * the CA of the SenderID they claim. */
typedef struct js_auth {
    const char *bearer;       /* the token of "Authorization: Bearer X", or NULL */
    const js_cert *tls_chain; /* the client's certificate chain, leaf first, or NULL */
    size_t tls_chain_len;     /* 0..JS_CHAIN_MAX */
} js_auth;

/* ---- peer authentication (js_auth.c) ----------------------------------- */

/* True when `auth` authenticates the peer `sender` (a canonical peer ID):
 * its bearer token matches peer.<sender>.token_sha256, or its client
 * certificate chain verifies against that peer's own CA (peer.<sender>.
 * client_ca, else tls_client_ca) and names `sender` (a DNS or URI
 * subjectAltName if the certificate has any, else its CN). A peer with
 * neither credential configured is served only with peer_auth = none. */
bool js_peer_authenticated(js_ctx *ctx, const char *sender, const js_auth *auth);

/* An answer: HTTP status and body, plus what the metrics and logs record. */
typedef struct js_reply {
    unsigned http_status;
    const char *content_type;
    size_t len;
    char body[JS_REPLY_MAX];
    bool has_type;            /* a BI message was recognised */
    bi_message_type type;     /* the request's MessageType */
    bool has_result;
    bi_result_code result;
    bool has_dev_eui;
    uint64_t dev_eui;
    bool has_operator;        /* the SenderID is an onboarded operator (per-operator metrics) */
    uint32_t operator_net_id;
    char note[BI_DESCRIPTION_MAX + 1]; /* the Description or admin error, for the log */
} js_reply;

/* Clears every field of *r (the body to ""). */
void js_reply_reset(js_reply *r);

/* Serves one Backend Interfaces body (POST /): JoinReq, RejoinReq,
 * AppSKeyReq, HomeNSReq. Always fills *out: 200 with an answer, or 400 with
 * a plain-text sentence when the body is not an answerable BI message. */
void js_handle_bi(js_worker *w, const js_auth *auth, const void *body, size_t len, js_reply *out);

/* The admin REST API (/api/v1/...), authenticated by the admin token:
 *   POST   /api/v1/devices           a device line (wrapped keys only) -> 201
 *   GET    /api/v1/devices/{DevEUI}  -> 200 the device without keys
 *   DELETE /api/v1/devices/{DevEUI}  -> 200
 *   /api/v1/operators...             network operators (js_operator_api.c)
 * 401 without a valid token, 404, 409 for an existing device, 400 bad input. */
void js_handle_admin(js_worker *w, const js_auth *auth, const char *method, const char *path, const void *body,
                     size_t len, js_reply *out);

/* A device as JSON text without keys or blobs (for the CLI and the admin
 * API): {"DevEUI":...,"JoinEUI":...,"MACVersion":...,...}. */
js_status js_device_json(const store_device *d, char *out, size_t cap, size_t *len);

/* ---- operators (js_operator.c, js_operator_api.c; docs/operators.md) -- */

/* Network operators onboarded to the activation service: rows of the
 * database (store_operator.h), read on every request from their NetID, so
 * onboarding, suspending and removing need no restart. An operator's entry
 * replaces a ferry.conf peer of the same NetID. For an onboarded operator:
 *   - it authenticates with its own credentials (a bearer token kept as
 *     SHA-256 and/or client certificates chaining to its own CA bundle),
 *     and in BI 1.1 with its NSID as SenderNSID when one is recorded;
 *     otherwise UnknownSender;
 *   - suspended: ActivationDisallowed (JoinReq, RejoinReq) or
 *     NoRoamingAgreement (HomeNSReq), never keys;
 *   - it may activate a device whose home or allowed NetID it is, and any
 *     SE of the Identity Manager whose maker admits it (js_se_policy);
 *   - its network session keys are wrapped under ITS KEK (kek_label), never
 *     under the device's NSKEKLabel. */

#define JS_OPERATOR_CA_MAX STORE_OPERATOR_CA_MAX

typedef struct js_operator_opts {
    uint32_t net_id;
    const char *name;             /* NULL = "" */
    bool has_nsid;
    uint64_t nsid;
    bool has_token;               /* token_sha256: SHA-256 of its bearer token */
    uint8_t token_sha256[JS_HASH_LEN];
    const char *client_ca;        /* PEM CA bundle text, NULL = none; must hold a certificate */
    const char *kek_label;        /* required for reach direct; must be in the keks table */
    store_operator_reach reach;
    const char *answer_url;       /* NULL = synchronous answers; else http(s):// (docs/join-server.md) */
    const char *answer_token_file;/* NULL = none; an absolute path, 0600, holding the token for answer_url */
    const char *actor;            /* for the audit entry ("cli", "admin-api") */
} js_operator_opts;

/* Onboards an operator: checks (NetID 24 bits, a credential for a direct
 * operator, the CA bundle parses, the KEK exists), then inserts the row
 * and its audit entry ("operator.add") in one transaction.
 * JS_ERR_EXISTS when the NetID is onboarded already, JS_ERR_INPUT /
 * JS_ERR_NOT_FOUND (the KEK) with the reason in err; nothing changes then. */
js_status js_operator_add(store *db, const js_operator_opts *o, char err[JS_ERR_MAX]);

/* Suspends (suspend true) or resumes; "operator.suspend" / "operator.resume"
 * audited in the same transaction. JS_ERR_NOT_FOUND. */
js_status js_operator_set_suspended(store *db, uint32_t net_id, bool suspend, const char *actor, char err[JS_ERR_MAX]);

/* Removes the operator and its counters ("operator.remove" audited). */
js_status js_operator_remove(store *db, uint32_t net_id, const char *actor, char err[JS_ERR_MAX]);

/* The operator as JSON text (no credential, only whether it has one):
 * {"NetID","Name","NSID","State","Reach","KEKLabel","Token","ClientCA",
 *  "CreatedAt","UpdatedAt"} and, with counts, "Activations", "HomeNSAnswers"
 * and "Refusals" {ResultCode: n} from the database's counters. */
js_status js_operator_json(store *db, const store_operator *op, bool with_counts, char *out, size_t cap, size_t *len);

/* An NetID as 6 hex digits (optional 0x, either case) into *out; false otherwise. */
bool js_net_id_parse(const char *text, uint32_t *out);

/* What the Identity Manager knows of a device that is one of its secure
 * elements: who may activate it and where it is. The Join Server does not
 * know the IDM's tables; the IDM deployment installs its answer with
 * js_set_se_policy (`ferry serve` does, idm/idm_roaming.h). */
#define JS_SE_OPERATORS_MAX 64
typedef struct js_se_policy {
    bool is_se;                   /* false: not an SE of the IDM, the rest is unset */
    bool all_operators;           /* its maker lets every onboarded operator activate it */
    size_t operator_count;        /* else these */
    uint32_t operators[JS_SE_OPERATORS_MAX];
    bool moved;                   /* it runs a customer profile (its customer's JoinEUI) */
    uint32_t home_net_id;         /* moved: the customer's NetID */
    size_t allowed_count;         /* moved: the NetIDs the customer allows (0 = no restriction) */
    uint32_t allowed[STORE_NET_IDS_MAX];
} js_se_policy;

/* Fills *out for dev_eui from the database `db` (the worker's connection);
 * JS_OK with is_se false for a device that is not an SE. */
typedef js_status (*js_se_policy_fn)(void *fn_ctx, store *db, uint64_t dev_eui, js_se_policy *out);

/* Installs the policy lookup (before js_serve; NULL removes it). Without
 * one, every device is treated as "not an SE". */
void js_set_se_policy(js_ctx *ctx, js_se_policy_fn fn, void *fn_ctx);

/* ---- metrics and logs (js_metrics.c, js_log.c) ------------------------ */

/* Records one request (thread-safe). */
void js_metrics_observe(js_ctx *ctx, const js_reply *r, double seconds);
/* Prometheus text exposition into out[cap]; JS_ERR_ARGUMENT if too small. */
js_status js_metrics_render(js_ctx *ctx, char *out, size_t cap, size_t *len);

/* Adds the per-operator counts observed since the last flush to the
 * database's counters (store_operator_count_add, one transaction), so that
 * `operator show` sees them; js_serve calls it every second and at stop.
 * On failure the counts are kept for the next flush. */
js_status js_metrics_flush(js_ctx *ctx, store *db);

/* One JSON line on stderr: {"ts":...,"level":...,"msg":...} plus the
 * request fields of `r` when given. Never a key, a blob or a token. */
void js_log(const char *level, const char *msg, const js_reply *r, double seconds, const char *extra);

/* The request fields of r (type, result, dev_eui, detail) added to the
 * JSON object o: what js_http.c gives the server layer's access log. */
void js_log_fields(const js_reply *r, json_t *o);

/* ---- HTTP (js_http.c) -------------------------------------------------- */

/* Serves HTTP on `listen` (NULL = the configuration's) until *stop is set:
 * POST / (Backend Interfaces), /api/v1/ (admin), GET /metrics. Plain HTTP
 * only on loopback; TLS when tls_cert is configured. Calls
 * hsm_process_harden() first. When *hup is set (SIGHUP; hup may be NULL),
 * or the admin API asks, the TLS material is read again without a restart
 * (docs/join-server.md, "Rotating certificates"). */
js_status js_serve(js_ctx *ctx, const char *listen, volatile sig_atomic_t *stop, volatile sig_atomic_t *hup,
                   char err[JS_ERR_MAX]);

#endif

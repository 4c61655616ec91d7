/*
 * hub.h - ferry's peering hub: routes LoRaWAN Backend Interfaces messages
 * between operators (docs/hub.md).
 *
 * A member (a network server by NetID, a Join Server by JoinEUI prefix, an
 * application server by AS-ID) POSTs a message to the hub; the hub
 *   1. reads its header only (bi_relay_parse: MessageType, SenderID,
 *      ReceiverID, TransactionID, ProtocolVersion),
 *   2. authenticates the member by its bearer token (kept as SHA-256) or
 *      its client certificate (verified against that member's CA), and
 *      checks that the SenderID is the member's own ID - a member never
 *      speaks for another,
 *   3. finds the route for the ReceiverID (JoinEUI: longest prefix; NetID
 *      and AS-ID: exact),
 *   4. POSTs the body, byte for byte, to the route's URL with the
 *      credential configured for that route (and that sender), and
 *   5. returns the receiver's answer (HTTP status and body) to the sender:
 *      synchronous request/answer only.
 * The body is never parsed past the header: its KeyEnvelopes are wrapped
 * for the final receiver, so the hub holds no key in clear.
 *
 *   configuration   hub_config_load / hub_config_wipe    (hub_config.c)
 *   routes, members hub_route_find, hub_member_find,
 *                   hub_route_bearer                     (hub_route.c)
 *   authentication  hub_ctx_open (trust lists),
 *                   hub_member_authenticated             (hub_auth.c)
 *   the handler     hub_route_message: body in, reply out, forwarding
 *                   through hub_io (no socket of its own) (hub_handler.c)
 *   metrics, logs   hub_metrics_observe/render, hub_log  (hub_metrics.c, hub_log.c)
 *   the process     hub_serve: libmicrohttpd (+GnuTLS), libcurl (hub_http.c)
 */
#ifndef FERRY_HUB_H
#define FERRY_HUB_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "bi/bi.h"
#include "net/net_cert.h"

#include <jansson.h>

typedef enum hub_status {
    HUB_OK = 0,
    HUB_ERR_ARGUMENT, /* a NULL pointer or a value the caller may not pass */
    HUB_ERR_CONFIG,   /* the configuration file is missing or wrong */
    HUB_ERR_NOMEM,    /* out of memory */
    HUB_ERR_IO,       /* a file, socket or HTTP exchange failed */
    HUB_ERR_TLS,      /* a certificate, key or CA file could not be used */
    HUB_ERR_RANDOM,   /* the random generator failed */
    HUB_STATUS_COUNT
} hub_status;

/* A static sentence; never NULL. */
const char *hub_strerror(hub_status st);

#if defined(__GNUC__)
#define HUB_MUST_CHECK __attribute__((warn_unused_result))
#else
#define HUB_MUST_CHECK
#endif

#define HUB_MEMBERS_MAX 64
#define HUB_ROUTES_MAX  64
#define HUB_CREDS_MAX   256
#define HUB_URL_MAX     256
#define HUB_PATH_MAX    512
#define HUB_TOKEN_MAX   128
#define HUB_HASH_LEN    32
#define HUB_CHAIN_MAX   NET_CHAIN_MAX
#define HUB_ERR_MAX     512

/* A member: who may send through the hub, and as which SenderID. */
typedef struct hub_member {
    bi_id id;                       /* NetID, JoinEUI (with `bits`) or AS-ID */
    unsigned bits;                  /* a JoinEUI member: prefix length (64: one JoinEUI) */
    bool has_token;
    uint8_t token_sha256[HUB_HASH_LEN];
    char client_ca[HUB_PATH_MAX];   /* "" none: a PEM CA bundle for its client certificates */
    char client_crl[HUB_PATH_MAX];  /* "" none: that CA's CRL (PEM or DER) */
} hub_member;

/* A route: where messages for a ReceiverID go. */
typedef struct hub_route {
    bi_id_kind kind;                /* EUI: a JoinEUI prefix; NET_ID and NAME: exact */
    uint64_t prefix;                /* EUI: the prefix; NET_ID: the NetID */
    unsigned bits;                  /* EUI: 0..64 */
    char name[BI_ID_MAX + 1];       /* NAME: the AS-ID; else the text as configured */
    char url[HUB_URL_MAX];
    char token[HUB_TOKEN_MAX + 1];  /* the bearer for every sender without its own; "" none */
} hub_route;

/* A per-sender credential for one route: the receiver knows each sender
 * (ferry's Join Server authenticates the SenderID), so the hub holds one
 * token per member for it (route token file lines "SENDERID TOKEN"). */
typedef struct hub_cred {
    size_t route;                   /* index into hub_config.routes */
    bi_id sender;
    char token[HUB_TOKEN_MAX + 1];
} hub_cred;

typedef struct hub_config {
    char listen[64];                /* "127.0.0.1:4800" */
    unsigned threads;               /* HTTP worker threads, 2..64 (default 4) */
    unsigned timeout_ms;            /* per forwarded request (default 4000) */
    char tls_cert[HUB_PATH_MAX], tls_key[HUB_PATH_MAX]; /* HTTPS; required off loopback */
    char ca_file[HUB_PATH_MAX];     /* verifies https:// receivers; "" the system's */
    char client_cert[HUB_PATH_MAX], client_key[HUB_PATH_MAX]; /* presented to https:// receivers */
    bool tls_crl_required;          /* a member's client CA without a current CRL is a start-up error */
    char tls_priority[512];         /* GnuTLS priority string; "" = NET_TLS_PRIORITY_DEFAULT */
    bool tls_priority_below_floor;  /* tls_priority may allow less than the default's floor */
    hub_member members[HUB_MEMBERS_MAX];
    size_t n_members;
    hub_route routes[HUB_ROUTES_MAX];
    size_t n_routes;
    hub_cred creds[HUB_CREDS_MAX];
    size_t n_creds;
} hub_config;

/* Reads a `key = value` file (docs/hub.md). Files named in it are read
 * relative to its directory; token files must not be readable by group or
 * others. HUB_ERR_CONFIG with a sentence naming the line in err. */
hub_status hub_config_load(const char *path, hub_config *cfg, char err[HUB_ERR_MAX]) HUB_MUST_CHECK;
/* Wipes the tokens (and everything else). */
void hub_config_wipe(hub_config *cfg);

/* The route for a ReceiverID, or NULL: a JoinEUI by the longest matching
 * prefix, a NetID or an AS-ID exactly. */
const hub_route *hub_route_find(const hub_config *cfg, const bi_id *receiver);
/* The bearer the hub sends to `route` for `sender`: its own credential if
 * it has one, else the route's; NULL when neither. */
const char *hub_route_bearer(const hub_config *cfg, const hub_route *route, const bi_id *sender);
/* The member whose ID is `sender` (a JoinEUI: the longest prefix holding
 * it), or NULL. */
const hub_member *hub_member_find(const hub_config *cfg, const bi_id *sender);

/* SHA-256 of a token, as kept in the configuration. */
void hub_sha256(const void *data, size_t len, uint8_t out[HUB_HASH_LEN]);
/* A fresh 256-bit token as 64 hex digits (NUL-terminated) and its hash. */
hub_status hub_token_generate(char out[65], uint8_t hash[HUB_HASH_LEN]) HUB_MUST_CHECK;

/* ---- the handler ------------------------------------------------------- */

/* One certificate of the chain a TLS client sent (DER, borrowed): the
 * server layer's. */
typedef net_cert hub_cert;

/* What the transport knows about the sender. */
typedef struct hub_auth {
    const char *bearer;             /* the Authorization: Bearer value, or NULL */
    const hub_cert *tls_chain;      /* as sent, leaf first; verified per member */
    size_t tls_chain_len;
} hub_auth;

#define HUB_REPLY_MAX (BI_BODY_MAX + 1024)

/* What became of a POST (a label of the metrics and the logs). */
typedef enum hub_outcome {
    HUB_FORWARDED = 0,      /* the receiver answered; its answer went back */
    HUB_MALFORMED,          /* not a BI message, or a request the hub answered Malformed */
    HUB_TOO_LARGE,          /* over 64 KiB */
    HUB_UNKNOWN_SENDER,     /* the credentials are not the SenderID's member's */
    HUB_UNKNOWN_RECEIVER,   /* no route for the ReceiverID */
    HUB_UNREACHABLE,        /* the receiver gave no HTTP answer */
    HUB_OUTCOME_COUNT
} hub_outcome;

/* "forwarded", "malformed", ...; never NULL. */
const char *hub_outcome_name(hub_outcome o);

/* The hub's answer to one POST, and what logs and metrics say about it. */
typedef struct hub_reply {
    unsigned http_status;
    const char *content_type;       /* static */
    size_t len;
    char body[HUB_REPLY_MAX];
    /* for logs and metrics; never key material */
    bool has_type;
    bi_message_type type;
    bool has_result;
    bi_result_code result;          /* the answer's ResultCode, the receiver's or the hub's */
    hub_outcome outcome;
    char sender[BI_ID_MAX + 1], receiver[BI_ID_MAX + 1];
    char note[BI_DESCRIPTION_MAX + 1];
    double forward_seconds;         /* time spent waiting for the receiver */
} hub_reply;

/* The I/O the handler asks for: POST body[len] to route->url with the
 * bearer (NULL: none) and put the receiver's HTTP status and body into
 * ans[cap] (cap - 1 bytes at most, NUL-terminated). HUB_ERR_IO with a
 * sentence in why[] when there is no HTTP answer (refused, timeout, TLS, an
 * answer too large); the sentence goes back to the sender, so it does not
 * name the URL. */
typedef struct hub_io {
    void *user;
    hub_status (*forward)(void *user, const hub_route *route, const char *bearer, const char *body, size_t len,
                          char *ans, size_t cap, size_t *ans_len, unsigned *http_status, char why[200]);
} hub_io;

#define HUB_BUCKETS 12

/* Counters behind GET /metrics: labels are message types, outcomes and
 * result codes only (bounded, never an ID, never a secret). */
typedef struct hub_metrics {
    pthread_mutex_t lock;
    uint64_t count[BI_MSG_COUNT + 1][HUB_OUTCOME_COUNT][BI_RESULT_COUNT + 1]; /* [type|none][outcome][result|none] */
    uint64_t http_status[6];        /* by class: [2] = 2xx ... */
    uint64_t hist[HUB_BUCKETS + 1]; /* time waiting for receivers */
    uint64_t hist_count;
    double hist_sum;
} hub_metrics;

/* The process context: configuration (borrowed), one trust list per member
 * with a client CA, metrics. */
typedef struct hub_ctx {
    const hub_config *cfg;
    hub_io io;
    void *trust[HUB_MEMBERS_MAX];   /* gnutls_x509_trust_list_t, NULL: none; under trust_lock */
    pthread_rwlock_t trust_lock;    /* readers: requests; writer: hub_trust_reload */
    bool metrics_ready;
    hub_metrics metrics;
} hub_ctx;

/* Loads the members' CA files and sets up metrics. HUB_ERR_TLS with a
 * sentence when a CA file holds no certificate. Closed with hub_ctx_close. */
hub_status hub_ctx_open(hub_ctx *ctx, const hub_config *cfg, const hub_io *io, char err[HUB_ERR_MAX]) HUB_MUST_CHECK;
void hub_ctx_close(hub_ctx *ctx);

/* The members' CAs and CRLs read again and swapped in at once (SIGHUP);
 * on error the lists in place stay and err names the file. */
hub_status hub_trust_reload(hub_ctx *ctx, char err[HUB_ERR_MAX]) HUB_MUST_CHECK;

/* True when `auth` proves to be `m`: its bearer token (constant-time
 * compare of SHA-256), or a client certificate chain that verifies against
 * m's CA alone and names m's ID (SAN DNS/URI, else the single CN). */
bool hub_member_authenticated(hub_ctx *ctx, const hub_member *m, const hub_auth *auth);

/* Routes one POSTed body (docs/hub.md, "What the hub answers"). Always
 * fills `r`: 400 (not a BI message: plain text), 413 (too large), 200 with
 * a BI answer from the hub (UnknownSender, UnkownReceiver, Malformed,
 * InvalidProtocolVersion, Other when the receiver is unreachable), 403/404/
 * 502 (the same refusals of a message that is not a request: plain text),
 * or the receiver's own status and body. */
void hub_route_message(hub_ctx *ctx, const hub_auth *auth, const char *body, size_t len, hub_reply *r);

/* ---- metrics and logs ---------------------------------------------------- */

void hub_metrics_observe(hub_ctx *ctx, const hub_reply *r, double seconds);
/* Prometheus text 0.0.4 into out[cap]; HUB_ERR_ARGUMENT when it does not fit. */
hub_status hub_metrics_render(hub_ctx *ctx, char *out, size_t cap, size_t *len) HUB_MUST_CHECK;
/* One JSON line on stderr: ts, level, msg and, with r, status, type,
 * outcome, result, sender, receiver, detail, ms. Never a body or a header. */
void hub_log(const char *level, const char *msg, const hub_reply *r, double seconds, const char *detail);
/* The message fields of r added to the JSON object o (the access log's). */
void hub_log_fields(const hub_reply *r, json_t *o);

/* ---- the process --------------------------------------------------------- */

/* Serves cfg->listen until *stop: POST (any path but /metrics) routes a
 * message, GET /metrics the counters. Plain HTTP only on loopback; HTTPS
 * with tls_cert/tls_key, client certificates requested when a member has a
 * CA. Calls hsm_process_harden() first (no core dumps: the hub holds
 * tokens). HUB_ERR_IO / HUB_ERR_TLS with a sentence on start-up failure. */
hub_status hub_serve(const hub_config *cfg, volatile sig_atomic_t *stop, volatile sig_atomic_t *hup,
                     char err[HUB_ERR_MAX]) HUB_MUST_CHECK;

#endif

/*
 * idm_ota.h - profiles over the air: provisioning a claimed SE, the MLS
 * delivery engine (the application server of the bootstrap sessions,
 * docs/ns-as.md), and `idm serve` around it (docs/idm.md).
 *
 *   idm_provision()   customer root keys generated IN the token; the
 *                     customer JS provisioned through its admin API
 *                     (KeyEnvelopes under the customer KEK); one INSTALL
 *                     that activates at once sealed for the SE (keys
 *                     wrapped under its MLS WrapDown, also in the token)
 *                     and queued with the MLS counter, in one transaction
 *   idm_ota_uplink()  one NS uplink on FPort 200: decrypt with the
 *                     session's AppSKey (in the token), acks and fragments,
 *                     reassemble, mls_open, act; answer with the next
 *                     downlink fragment encrypted under NextAFCntDown
 *   idm_ota_tick()    housekeeping: bootstrap joins seen in the JS's
 *                     sessions, provisioning of assigned SEs, customer
 *                     joins confirmed by the customer JS, deadlines
 *
 * Durable state (store_idm_tenant.h): idm_ota (MLS counters: tx_next is
 * advanced in the same transaction that stores the sealed message, before
 * it can leave) and idm_cmd (queue, fragment bitmaps). Only the reassembly
 * of the SE's own uplink messages is in memory: the SE re-sends fragments
 * it has no ack for, so a restart loses nothing.
 *
 * Threads: an idm_ota is used by one thread at a time (idm serve holds a
 * lock around each call). Processes: several engines may share one
 * database (several idm serve on one PostgreSQL); each works on an SE only
 * under that SE's lease (store_idm_lease.h), taken by idm_ota_uplink,
 * idm_ota_relay and each SE's housekeeping, and given back when done.
 */
#ifndef FERRY_IDM_OTA_H
#define FERRY_IDM_OTA_H

#include "idm/idm_tenant.h"
#include "mls/mls.h"
#include "mls/mls_cmd.h"

#include <signal.h>

#define IDM_MLS_FPORT 200

typedef struct idm_policy {
    uint32_t deadline_s;          /* a command not answered this long after it was queued fails */
    uint32_t retry_base_s;        /* wait for an ack before re-sending a round; doubles per round */
    uint32_t retry_max_s;         /* cap of that wait */
    uint16_t max_join_attempts;   /* the profile's trial: SE falls back after this many failed joins */
    uint32_t poll_s;              /* idm_ota_tick period in idm serve */
    uint32_t max_key_age_s;       /* renew an active SE's root keys after this long; 0 = never */
    uint32_t redeliver_after_s;   /* an SE back on bootstrap (fallback) gets a new profile after this long; 0 = never */
    uint32_t mls_rx_slots;        /* SEs whose uplink messages are reassembled at once (1..IDM_OTA_RX_SLOTS_MAX) */
} idm_policy;

/* Reassembly slots for the SEs' uplink MLS messages, one per SE sending a
 * message now (idm.conf mls_rx_slots). When all hold unfinished messages, a
 * fragment of another SE is refused and counted (idm_ota_counters), never
 * does it evict one: the SE sends it again. */
#define IDM_OTA_RX_SLOTS_DEFAULT 256u
#define IDM_OTA_RX_SLOTS_MAX 65536u

#define IDM_POLICY_DEFAULT {86400u, 30u, 3600u, 8u, 5u, 0u, 3600u, IDM_OTA_RX_SLOTS_DEFAULT}

/* ---- the customer Join Server's admin API (idm_client.c, src/net's client) ---- */

typedef struct idm_http_resp {
    long status;
    size_t len;
    char body[4096];
} idm_http_resp;

/* One request; bearer (may be NULL) goes into Authorization. Non-2xx is not
 * an error here: look at out->status. IDM_ERR_REMOTE when unreachable or
 * when the answer does not fit out->body; IDM_ERR_ARGUMENT for a URL that
 * would send the token over plain HTTP off loopback. */
idm_status idm_http_call(const char *method, const char *url, const char *bearer, const char *body,
                         const char *ca_pem, idm_http_resp *out, char err[IDM_ERR_MAX]);

/* idm_http_call to customer Join Server js, verified against the CA stored
 * for it (`idm js add --ca-file`; none = the system's CAs). */
idm_status idm_js_call(store *db, const store_idm_js *js, const char *method, const char *url, const char *bearer,
                       const char *body, idm_http_resp *out, char err[IDM_ERR_MAX]);

/* ---- MLS on the server side (idm_provision.c) ---- */

/* Opens the server end of the SE's MLS session in the token: the MLS root
 * blob unwrapped, the five purpose keys derived, WrapDown as a KEK object so
 * it can wrap profile keys (hsm_key_derive); counters from *ota. End with
 * mls_session_end(). */
idm_status idm_mls_open(hsm_session *hs, const store_idm_se *se, const store_idm_ota *ota, mls_session *out);

/* Step 1 of idm_provision alone, for measuring it (make bench): the
 * customer keys made in the token, the device line for JS js (KeyEnvelopes
 * under its KEK) into line[cap], INSTALL with "activate now" sealed for SE
 * se with counter ota->tx_next into *cmd; nothing posted, nothing stored. */
idm_status idm_profile_prepare(hsm_session *hs, store *db, const store_idm_se *se, const store_idm_js *js,
                               const store_idm_ota *ota, const idm_policy *pol, char *line, size_t cap,
                               store_idm_cmd *cmd, char err[IDM_ERR_MAX]);

/* Provisions SE dev_eui for its assigned customer JS (claimed, assigned,
 * state bootstrapped/fallback/active_at_customer) and queues one INSTALL
 * with "activate now" (its OK response is profile_acked); transition
 * profile_queued. IDM_ERR_REMOTE when the customer JS
 * refuses (nothing queued, nothing changed). */
idm_status idm_provision(hsm_session *hs, store *db, uint64_t dev_eui, const idm_policy *p, const char *actor,
                         char err[IDM_ERR_MAX]);

/* Seals *cmd with the session's next counter (ms->tx_next advances) into
 * *out, state queued, with the deadline. IDM_ERR_TOO_BIG (no counter
 * spent) when the sealed message would exceed msg_max, the SE's
 * MLSMessageMax (0: the protocol's 1024); IDM_ERR_MLS on failure. */
idm_status idm_seal_cmd(mls_session *ms, const mls_cmd *cmd, size_t msg_max, store_idm_cmd *out, int64_t deadline);

/* Generates the customer root keys of a profile in the token (NwkKey; and
 * AppKey when v11) as session objects *nwk, *app, and their blobs under the
 * master key into blobs->nwk_key/app_key. The caller releases the objects. */
idm_status idm_profile_keys_make(hsm_session *hs, bool v11, lw_key *nwk, lw_key *app, store_idm_profile_key *blobs);

/* Puts the device of SE `se` on customer JS `js` with the keys of row *k
 * (blobs unwrapped in the token, wrapped under the JS's KEK) with PUT: an
 * existing device of that DevEUI gets the keys and keeps its DevNonce
 * history and JoinNonce. *next_join_nonce the JS's counter afterwards: a
 * join with these keys is confirmed once it is above that. */
idm_status idm_js_put_device(hsm_session *hs, store *db, const store_idm_js *js, const store_idm_se *se,
                             const store_idm_profile_key *k, uint32_t *next_join_nonce, char err[IDM_ERR_MAX]);

/* The customer JS `js`'s JoinNonce counter for dev_eui (GET
 * /api/v1/devices/{DevEUI}) into *next, and (when `last` is not NULL) the
 * JoinNonce of the last join it served into *last: -1 for none,
 * IDM_JOIN_NONCE_UNSAID from a Join Server too old to say. IDM_ERR_NOT_FOUND
 * when the JS does not know the device, IDM_ERR_REMOTE for any other answer
 * without a NextJoinNonce. */
#define IDM_JOIN_NONCE_UNSAID (-2)
idm_status idm_js_next_join_nonce(hsm_session *hs, store *db, const store_idm_js *js, uint64_t dev_eui,
                                  uint32_t *next, int64_t *last, char err[IDM_ERR_MAX]);
/* The same from an answer *r to that GET made by the caller (the
 * housekeeping makes it outside its lock), with the same results. */
idm_status idm_js_join_nonce_answer(const store_idm_js *js, uint64_t dev_eui, const idm_http_resp *r, uint32_t *next,
                                    int64_t *last, char err[IDM_ERR_MAX]);

/* The JoinNonce floor for the next Join Server of device dev_eui: above the
 * bootstrap Join Server's counter (this database) and, when other_js_id is
 * not "", the counter of that customer JS (the one the device leaves), plus
 * a reserve for the joins it may still serve before the device switches
 * (docs/idm.md, "JoinNonce across Join Servers"). Whatever JoinNonce the
 * device last accepted came from one of those counters, so a Join Server
 * starting at *floor is accepted by stacks that want a greater one.
 * IDM_ERR_REMOTE when the other JS cannot be asked: no floor is guessed. */
idm_status idm_join_nonce_floor(hsm_session *hs, store *db, uint64_t dev_eui, const char *other_js_id,
                                uint32_t *floor, char err[IDM_ERR_MAX]);

/* Deletes the device from customer JS `js` (a 404 counts as done). */
idm_status idm_js_delete_device(hsm_session *hs, store *db, const store_idm_js *js, uint64_t dev_eui,
                                char err[IDM_ERR_MAX]);

/* ---- operations after the first profile (idm_ops.c; docs/idm.md "Operations") ----
 *
 * Each seals its MLS command in the token and queues it in one transaction
 * with the claim's `op`, the key rows and the audit entry; what happens when
 * the SE answers is in idm_ota.c (responses) and idm_ops.c (follow-ups).
 * tenant_id non-NULL: the caller is that tenant and must hold the SE
 * (IDM_ERR_NOT_FOUND otherwise, as if it did not exist); NULL: the operator.
 * IDM_ERR_BUSY while another update or a profile delivery is in flight;
 * IDM_ERR_ILLEGAL when the SE's state does not allow the operation. */

/* Fleet transfer to tenant to_tenant's Join Server to_js (NULL: its only
 * one): transfer_requested now; the new JS is provisioned and the profile
 * queued (idm_provision) at once when possible, else by housekeeping. The
 * old owner's device is deleted only after the new JS confirmed a join. */
idm_status idm_transfer(hsm_session *hs, store *db, uint64_t dev_eui, const char *tenant_id, const char *to_tenant,
                        const char *to_js, const idm_policy *p, const char *actor, char err[IDM_ERR_MAX]);

/* Key renewal of an SE active at its customer: new root keys made in the
 * token, RENEW of the active profile queued (profile_queued); the customer
 * JS gets them when the SE acknowledged (idm_ops_renew_push). */
idm_status idm_renew(hsm_session *hs, store *db, uint64_t dev_eui, const char *tenant_id, const idm_policy *p,
                     const char *actor, char err[IDM_ERR_MAX]);

/* Queues a secure command (1..MLS_SECURE_MAX bytes) for the SE's
 * application; *seq its place in the SE's queue (store_idm_cmd_get reads
 * its state, result and reply later). */
idm_status idm_secure_send(hsm_session *hs, store *db, uint64_t dev_eui, const char *tenant_id, const uint8_t *data,
                           size_t len, const idm_policy *p, const char *actor, int64_t *seq, char err[IDM_ERR_MAX]);

/* Queues BOOTSTRAP (erase the operational profiles). When the SE
 * acknowledges: return_requested, the claim released, the customer JS's
 * device deleted (idm_js_cleanup). */
idm_status idm_return_to_bootstrap(hsm_session *hs, store *db, uint64_t dev_eui, const char *tenant_id,
                                   const idm_policy *p, const char *actor, char err[IDM_ERR_MAX]);

/* Retires the SE (operator): every queued command fails, its customer
 * JS's device is deleted, state retired. */
idm_status idm_retire(store *db, uint64_t dev_eui, const char *actor, char err[IDM_ERR_MAX]);

/* Follow-ups, run by the engine and its housekeeping: a renewal the SE
 * acknowledged gets its keys onto the customer JS (profile_acked); a
 * confirmed customer join ends a renewal or transfer (old keys dropped,
 * the old owner's device queued for deletion); an update delivered but
 * never joined within the deadline is undone (the previous keys back on
 * the JS, or the transfer abandoned: update_failed); pending JS deletions
 * are retried. Failures of single SEs are logged and retried later. */
idm_status idm_ops_renew_push(hsm_session *hs, store *db, uint64_t dev_eui, const char *actor, char err[IDM_ERR_MAX]);
idm_status idm_ops_customer_joined(store *db, uint64_t dev_eui, const char *actor, char err[IDM_ERR_MAX]);
idm_status idm_ops_undo_update(hsm_session *hs, store *db, uint64_t dev_eui, const char *why, const char *actor,
                               char err[IDM_ERR_MAX]);
/* Retries every pending JS deletion, page by page (IDM_OTA_WORK_PAGE);
 * IDM_ERR_STORE when the list cannot be read (err says why). */
idm_status idm_ops_cleanup(hsm_session *hs, store *db, char err[IDM_ERR_MAX]);

/* An SE back on its bootstrap profile after a profile that never joined
 * (state fallback) is given a new one: its claim becomes unprovisioned again,
 * and provisioning makes new keys and queues a new INSTALL (activating). Run by
 * housekeeping `redeliver_after` seconds after the fallback. */
idm_status idm_ops_redeliver(store *db, uint64_t dev_eui, const char *actor, char err[IDM_ERR_MAX]);

/* Inside a transaction: the claim's update in flight failed or did not
 * take: a renewal's pending keys dropped; a transfer abandoned (claim back
 * to the old owner, the new JS's device owed a deletion); op cleared.
 * *op_out gets the op it was (RENEW, TRANSFER, RETURN or NONE): the
 * caller applies update_failed for the first two, delivery_failed for a
 * first profile. */
store_status idm_ops_update_failed_txn(store *s, uint64_t dev_eui, store_idm_op *op_out) STORE_MUST_CHECK;

/* Inside a transaction: the SE acknowledged BOOTSTRAP: claim released,
 * its Join Servers owed a deletion, key rows dropped, return_requested. */
store_status idm_ops_returned_txn(store *s, uint64_t dev_eui, const char *actor) STORE_MUST_CHECK;

/* ---- the delivery engine (idm_ota.c) ---- */

typedef struct idm_ota idm_ota;

/* A clock: seconds since the epoch; `arg` is the clock's own. */
typedef int64_t (*idm_clock_fn)(void *arg);

/* hs and db are borrowed for the engine's life; IDM_ERR_ARGUMENT when
 * p->mls_rx_slots is not 1..IDM_OTA_RX_SLOTS_MAX. The wall clock until
 * idm_ota_set_clock. */
idm_status idm_ota_new(hsm_session *hs, store *db, const idm_policy *p, idm_ota **out);
void idm_ota_free(idm_ota *e);

/* The engine's clock from here on (deadlines, re-sends, re-deliveries,
 * key age): now_fn(arg); NULL = the wall clock. Tests move time with it. */
void idm_ota_set_clock(idm_ota *e, idm_clock_fn now_fn, void *arg);

typedef struct idm_uplink {
    uint64_t dev_eui;
    uint32_t dev_addr;
    size_t session_key_id_len;
    uint8_t session_key_id[STORE_SESSION_ID_MAX];
    uint32_t fcnt;
    uint8_t fport;
    size_t frm_len;
    uint8_t frm[242];             /* encrypted with AppSKey, as received */
    size_t max_downlink;          /* MaxDownlinkPayload */
    uint32_t next_af_cnt_down;
    int32_t queued_down;          /* DownlinkQueued: downlinks the NS still holds for the
                                     device, not yet sent; -1 when the NS does not say */
} idm_uplink;

typedef struct idm_downlink {
    bool present;
    uint8_t fport;
    uint32_t fcnt;
    size_t frm_len;
    uint8_t frm[242];             /* encrypted with AppSKey under fcnt */
} idm_downlink;

/* The same exchange for an SE on a customer network, relayed by its
 * owner's application server (docs/idm.md, "Relay"): frame[len] is an MLS
 * frame as the AS decrypted it from FPort 200 (len 0: an uplink on another
 * port, a downlink window); *out gets the frame to send back on FPort 200
 * (out_len 0: none), which the AS encrypts with its AppSKey. MLS protects
 * both end to end; the AS sees only ciphertext. */
idm_status idm_ota_relay(idm_ota *e, uint64_t dev_eui, const uint8_t *frame, size_t len, size_t max_downlink,
                         uint8_t out[242], size_t *out_len, char err[IDM_ERR_MAX]);

/* Handles one uplink (any FPort: each opens a class A downlink window; only
 * FPort 200 is read as MLS); *dl gets the downlink to queue at once, if any
 * (none, and IDM_OK, when another engine held the SE's lease past the
 * wait: the SE's next uplink tries again).
 * IDM_ERR_NOT_FOUND unknown SE or session; IDM_ERR_ARGUMENT malformed. */
idm_status idm_ota_uplink(idm_ota *e, const idm_uplink *u, idm_downlink *dl, char err[IDM_ERR_MAX]);

/* The housekeeping reads its work lists in pages of this many SEs and goes
 * on until a page comes back short: a fleet of any size is handled in one
 * tick; the page only bounds the memory a tick holds. */
#define IDM_OTA_WORK_PAGE 256

/* What an operator watches (GET /healthz of idm serve). */
typedef struct idm_ota_counters {
    uint64_t rx_slots;       /* the capacity, mls_rx_slots */
    uint64_t rx_in_use;      /* slots holding an unfinished message now */
    uint64_t rx_refused;     /* fragments refused since start because every slot was in use */
} idm_ota_counters;
void idm_ota_counters_get(const idm_ota *e, idm_ota_counters *out);

/* One round of housekeeping (see the top of this file). Failures of single
 * SEs are logged to stderr and skipped; a work list that cannot be read is
 * logged, the other lists still run, and the first such failure is the
 * answer (IDM_ERR_STORE, err says which list). */
idm_status idm_ota_tick(idm_ota *e, char err[IDM_ERR_MAX]);

/* The lock the engine shares with its other callers (idm serve: the HTTP
 * thread's uplinks and requests, one PKCS#11 session, one database
 * connection). Without one (the default) idm_ota_tick runs as one piece and
 * its caller locks around it. With one, the caller of idm_ota_tick must not
 * hold it: the tick takes it for each page of a work list and each SE's
 * step, and lets go of it while it waits on a customer JS's answer to a
 * customer-join check, so that an uplink waits at most one SE's step. */
typedef void (*idm_lock_fn)(void *arg);
void idm_ota_set_lock(idm_ota *e, idm_lock_fn lock, idm_lock_fn unlock, void *arg);

/* A delivered SE whose customer JS saw no join with its new keys yet is
 * asked again after poll, 2 poll, 4 poll... seconds, at most this often
 * (docs/idm.md, "Housekeeping"): catches every join, at most this late. */
#define IDM_JOIN_CHECK_MAX_S 30

/* ---- idm serve (idm_serve.c, libmicrohttpd) ---- */

typedef struct idm_config {
    char listen[128];             /* ADDR:PORT, default 127.0.0.1:4720 */
    bool has_ns_token;
    uint8_t ns_token_sha256[32];  /* the NS's bearer token for POST /uplink */
    char tls_cert[1024];          /* PEM certificate (chain) path; "" = plain HTTP, loopback only */
    char tls_key[1024];           /* PEM private key path; set together with tls_cert */
    char tls_priority[512];       /* GnuTLS priority string; "" = NET_TLS_PRIORITY_DEFAULT */
    bool tls_priority_below_floor;
    uint32_t console_streams;     /* the console's live streams open at once (1..IDM_CONSOLE_STREAMS_MAX) */
    idm_policy policy;
} idm_config;

#define IDM_CONSOLE_STREAMS_DEFAULT 64u
#define IDM_CONSOLE_STREAMS_MAX 1024u

/* DIR/idm.conf: `key = value` lines (listen, ns_token_sha256, tls_cert,
 * tls_key, delivery_deadline, retry_base, retry_max, max_join_attempts,
 * poll, max_key_age, redeliver_after); missing file = defaults. Unknown keys are errors. Relative
 * tls_cert/tls_key paths are taken from dir; one without the other is an
 * error. */
idm_status idm_config_load(const char *dir, idm_config *out, char err[IDM_ERR_MAX]);

typedef struct idm_config_setting {
    const char *key;              /* one of idm.conf's keys */
    const char *value;            /* as it is written in the file */
} idm_config_setting;

#define IDM_CONFIG_SET_MAX 16     /* settings changed at once */

/* Sets keys of DIR/idm.conf (made by idm_config_init) at once: each key
 * must be one idm_config_load knows and its value one it takes
 * (IDM_ERR_ARGUMENT naming the key otherwise); the new file is checked
 * whole, then replaces the old one atomically (a temporary file, fsync,
 * rename(2), fsync of DIR). Other lines and comments are kept; a key not
 * in the file yet is appended. IDM_ERR_NOT_FOUND without idm.conf,
 * IDM_ERR_INPUT when the result would not load (tls_cert without
 * tls_key): nothing is changed then. */
idm_status idm_config_set(const char *dir, const idm_config_setting *set, size_t n, char err[IDM_ERR_MAX]);

/* Writes DIR/idm.conf (0600) with a fresh NS token, returned in
 * token_hex for the caller's 0600 file. IDM_ERR_EXISTS if present. */
idm_status idm_config_init(const char *dir, const char *listen, char token_hex[IDM_TENANT_TOKEN_HEX + 1],
                           char err[IDM_ERR_MAX]);

typedef struct idm_core idm_core;

typedef struct idm_serve_opts {
    idm_core *core;               /* opened with its token (idm_core.h); borrowed */
    const char *listen;           /* overrides idm.conf's listen when non-NULL */
    volatile sig_atomic_t *stop;  /* serves until *stop (the caller's signal handler sets it) */
    volatile sig_atomic_t *hup;   /* when set (SIGHUP), tls_cert and tls_key are read again; may be NULL */
} idm_serve_opts;

/* Serves the IDM `core` until *o->stop: its session, database and
 * idm.conf, under one lock shared by the HTTP and housekeeping threads. */
idm_status idm_serve(const idm_serve_opts *o, char err[IDM_ERR_MAX]);

#endif

/*
 * idm_ota.h - profiles over the air: provisioning a claimed SE, the MLS
 * delivery engine (the application server of the bootstrap sessions,
 * docs/ns-as.md), and `idm serve` around it (docs/idm.md).
 *
 *   idm_provision()   customer root keys generated IN the token; the
 *                     customer JS provisioned through its admin API
 *                     (KeyEnvelopes under the customer KEK); INSTALL and
 *                     ACTIVATE sealed for the SE (keys wrapped under its
 *                     MLS WrapDown, also in the token) and queued with the
 *                     MLS counter, all in one transaction
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
 * lock around each call).
 */
#ifndef FERRY_IDM_OTA_H
#define FERRY_IDM_OTA_H

#include "idm/idm_tenant.h"
#include "mls/mls.h"

#define IDM_MLS_FPORT 200

typedef struct idm_policy {
    uint32_t deadline_s;          /* a command not answered this long after it was queued fails */
    uint32_t retry_base_s;        /* wait for an ack before re-sending a round; doubles per round */
    uint32_t retry_max_s;         /* cap of that wait */
    uint16_t max_join_attempts;   /* the profile's trial: SE falls back after this many failed joins */
    uint32_t poll_s;              /* idm_ota_tick period in idm serve */
} idm_policy;

#define IDM_POLICY_DEFAULT {86400u, 30u, 3600u, 8u, 5u}

/* ---- the customer Join Server's admin API (idm_client.c, libcurl) ---- */

typedef struct idm_http_resp {
    long status;
    size_t len;
    char body[4096];
} idm_http_resp;

/* One request; bearer (may be NULL) goes into Authorization. Non-2xx is not
 * an error here: look at out->status. IDM_ERR_REMOTE when unreachable. */
idm_status idm_http_call(const char *method, const char *url, const char *bearer, const char *body,
                         idm_http_resp *out, char err[IDM_ERR_MAX]);

/* ---- MLS on the server side (idm_provision.c) ---- */

/* Opens the server end of the SE's MLS session in the token: the MLS root
 * blob unwrapped, the five purpose keys derived, WrapDown as a KEK object so
 * it can wrap profile keys (hsm_key_derive); counters from *ota. End with
 * mls_session_end(). */
idm_status idm_mls_open(hsm_session *hs, const store_idm_se *se, const store_idm_ota *ota, mls_session *out);

/* Provisions SE dev_eui for its assigned customer JS (claimed, assigned,
 * state bootstrapped/fallback/active_at_customer) and queues INSTALL +
 * ACTIVATE; transition profile_queued. IDM_ERR_REMOTE when the customer JS
 * refuses (nothing queued, nothing changed). */
idm_status idm_provision(hsm_session *hs, store *db, uint64_t dev_eui, const idm_policy *p, const char *actor,
                         char err[IDM_ERR_MAX]);

/* ---- the delivery engine (idm_ota.c) ---- */

typedef struct idm_ota idm_ota;

/* hs and db are borrowed for the engine's life. */
idm_status idm_ota_new(hsm_session *hs, store *db, const idm_policy *p, idm_ota **out);
void idm_ota_free(idm_ota *e);

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
} idm_uplink;

typedef struct idm_downlink {
    bool present;
    uint8_t fport;
    uint32_t fcnt;
    size_t frm_len;
    uint8_t frm[242];             /* encrypted with AppSKey under fcnt */
} idm_downlink;

/* Handles one uplink (any FPort: each opens a class A downlink window; only
 * FPort 200 is read as MLS); *dl gets the downlink to queue at once, if any.
 * IDM_ERR_NOT_FOUND unknown SE or session; IDM_ERR_ARGUMENT malformed. */
idm_status idm_ota_uplink(idm_ota *e, const idm_uplink *u, idm_downlink *dl, char err[IDM_ERR_MAX]);

/* One round of housekeeping (see the top of this file). Failures of single
 * SEs are logged to stderr and skipped. */
idm_status idm_ota_tick(idm_ota *e, char err[IDM_ERR_MAX]);

/* ---- idm serve (idm_serve.c, libmicrohttpd) ---- */

typedef struct idm_config {
    char listen[128];             /* ADDR:PORT, default 127.0.0.1:4720 */
    bool has_ns_token;
    uint8_t ns_token_sha256[32];  /* the NS's bearer token for POST /uplink */
    idm_policy policy;
} idm_config;

/* DIR/idm.conf: `key = value` lines (listen, ns_token_sha256,
 * delivery_deadline, retry_base, retry_max, max_join_attempts, poll);
 * missing file = defaults. Unknown keys are errors. */
idm_status idm_config_load(const char *dir, idm_config *out, char err[IDM_ERR_MAX]);

/* Writes DIR/idm.conf (0600) with a fresh NS token, returned in
 * token_hex for the caller's 0600 file. IDM_ERR_EXISTS if present. */
idm_status idm_config_init(const char *dir, const char *listen, char token_hex[IDM_TENANT_TOKEN_HEX + 1],
                           char err[IDM_ERR_MAX]);

typedef struct idm_serve_opts {
    const hsm_config *hc;
    const char *database;
    const idm_config *cfg;
    const char *listen;           /* overrides cfg->listen when non-NULL */
} idm_serve_opts;

/* Serves until SIGINT/SIGTERM. */
idm_status idm_serve(const idm_serve_opts *o, char err[IDM_ERR_MAX]);

#endif

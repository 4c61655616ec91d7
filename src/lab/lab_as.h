/*
 * lab_as.h - the lab's application server (AS) of a customer network
 * (docs/lab-as.md): the `as_url` of a lab network server.
 *
 * It stands for the customer's own AS, and does the two things ferry needs
 * from one:
 *
 *   - application data: every `POST /uplink` (docs/ns-as.md) carries the
 *     session's AppSKey as a KeyEnvelope wrapped under the AS's KEK; the AS
 *     unwraps it in software (RFC 3394, lw_crypto_software()), decrypts
 *     FRMPayload, wipes the key, and keeps the last LAB_AS_HISTORY
 *     application uplinks of each DevEUI in memory (`GET /uplinks/{DevEUI}`);
 *   - the relay of docs/idm.md ("Relay: reaching an SE on its customer's
 *     network"): for every uplink it posts the decrypted FPort 200 frame (or
 *     "" for the other ports: each uplink opens a class A window) to the
 *     Identity Manager with the customer tenant's token, encrypts the frame
 *     the IDM answers with the AppSKey under the uplink's NextAFCntDown, and
 *     hands it back to the NS as `Downlinks`. An IDM that cannot be reached
 *     or does not know the SE is logged; the NS still gets 200 {}.
 *
 * Like the lab NS, the engine (lab_as.c, lab_as_msg.c) does no I/O: the
 * shell (lab_as_http.c) hands it bodies and the clock, and it calls back
 * through a small table (lab_as_io) to reach the IDM and to log. Unlike the
 * NS engine it is thread-safe: the history and the counters sit behind a
 * mutex, and the relay call runs outside it, so a slow IDM does not stall
 * `GET /uplinks` or `/status`.
 *
 * Keys: the KEK is a software key from a hex file, as the lab NS's
 * (docs/lab-ns.md, "The KEK"); a session's AppSKey exists in clear only on
 * the stack of the request that needed it, and is wiped before the answer
 * leaves. Nothing with a key or a token is ever logged.
 */
#ifndef FERRY_LAB_AS_H
#define FERRY_LAB_AS_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "bi/bi_key_envelope.h"
#include "lab/lab_status.h"
#include "lorawan/lw_crypto.h"

#define LAB_AS_HISTORY      64    /* application uplinks kept per DevEUI */
#define LAB_AS_DEVICES_MAX  4096  /* DevEUIs kept; the one heard least recently goes first */
#define LAB_AS_PAYLOAD_MAX  242   /* largest FRMPayload (EU868 N at DR5..7) */
#define LAB_AS_URL_MAX      256
#define LAB_AS_TOKEN_MAX    128
#define LAB_AS_ANSWER_MAX   16384 /* largest IDM answer read */
#define LAB_AS_MLS_FPORT    200

/* ---- configuration (lab_as_config.c) -------------------------------------- */

typedef struct lab_as_config {
    char listen[64];                          /* "127.0.0.1:9000"; loopback only (plain HTTP) */
    uint8_t token_sha256[32];                 /* SHA-256 of the bearer the NS sends (token_file) */
    char kek_label[BI_KEK_LABEL_MAX + 1];     /* the devices' ASKEKLabel */
    lw_key kek;                               /* software key: docs/lab-ns.md, "The KEK" */
    char idm_url[LAB_AS_URL_MAX];             /* "" = no relay; no trailing '/' */
    char idm_token[LAB_AS_TOKEN_MAX + 1];     /* the customer tenant's bearer at the IDM */
    char ca_file[512];                        /* PEM CA bundle for an https:// idm_url; "" = the system's */
    uint32_t idm_timeout_ms;                  /* one relay call, default 2000 (the lab NS waits 3 s for us) */
} lab_as_config;

/* Reads a `key = value` file (docs/lab-as.md). Files are read relative to
 * the config file's directory; secret files (token, KEK) must not be
 * readable by group or others. Only the token's SHA-256 is kept.
 * LAB_ERR_CONFIG with a sentence in err[cap] ("line N: ...", without the
 * file name, which the caller prints); cfg is then
 * wiped. */
lab_status lab_as_config_load(const char *path, lab_as_config *cfg, char *err, size_t cap) LAB_MUST_CHECK;
/* Wipes the KEK, the token hash and the IDM token. */
void lab_as_config_wipe(lab_as_config *cfg);

/* ---- messages (lab_as_msg.c): pure, no state --------------------------------- */

/* One NS -> AS uplink, parsed once at the edge (docs/ns-as.md). */
typedef struct lab_as_uplink {
    uint64_t dev_eui;
    uint32_t dev_addr;
    bi_key_envelope app_s_key;                /* present: wrapped (a clear envelope is refused) */
    uint32_t fcnt;                            /* full 32-bit FCntUp */
    uint8_t fport;                            /* 1..223 */
    size_t frm_len;
    uint8_t frm_payload[LAB_AS_PAYLOAD_MAX];  /* as received: encrypted */
    bool confirmed;
    unsigned dr;
    unsigned max_downlink;                    /* MaxDownlinkPayload, 0 when absent */
    uint32_t next_afcnt_down;
    bool has_next_afcnt_down;
    char recv_time[40];                       /* the NS's RecvTime, "" when absent */
} lab_as_uplink;

/* Parses an uplink body. Required: DevEUI, DevAddr, FCnt, FPort (1..223),
 * FRMPayload (hex, 0..242 bytes); AppSKey, when there, must be a wrapped
 * KeyEnvelope; unknown fields are ignored, duplicate keys refused.
 * LAB_ERR_FORMAT with the offending field's name in what[cap]. */
lab_status lab_as_uplink_parse(const char *body, size_t len, lab_as_uplink *up, char *what,
                               size_t cap) LAB_MUST_CHECK;

/* Unwraps the uplink's AppSKey under cfg's KEK into *app_s_key (a software
 * key: wipe it with lw_key_wipe). LAB_ERR_UNKNOWN: no envelope, or one for
 * another KEKLabel; LAB_ERR_CRYPTO: it does not unwrap (wrong KEK). */
lab_status lab_as_app_s_key(const lab_as_config *cfg, const lab_as_uplink *up, lw_key *app_s_key) LAB_MUST_CHECK;

/* The relay request body {"FRMPayload": hex, "MaxDownlinkPayload": n}:
 * frame[len] is the decrypted FPort 200 payload (len 0 for other ports). */
lab_status lab_as_relay_body(const uint8_t *frame, size_t len, unsigned max_downlink, char *out, size_t cap,
                             size_t *out_len) LAB_MUST_CHECK;

/* Reads the IDM's 200 answer: {} (*len 0) or {"FPort":200,"FRMPayload":hex}
 * (FPort may be absent). LAB_ERR_FORMAT for anything else, also another
 * FPort or an empty body. */
lab_status lab_as_relay_answer_parse(const char *body, size_t len, uint8_t frame[LAB_AS_PAYLOAD_MAX],
                                     size_t *frame_len) LAB_MUST_CHECK;

/* The answer to the NS carrying one downlink: frame[len] encrypted with
 * app_s_key for the uplink's device under its NextAFCntDown (LoRaWAN L2
 * 4.3.3, downlink direction), as
 * {"Downlinks":[{"DevEUI","FPort":200,"FCnt","FRMPayload"}]}.
 * LAB_ERR_TOO_BIG when len exceeds the uplink's MaxDownlinkPayload,
 * LAB_ERR_ARGUMENT when the uplink had no NextAFCntDown. */
lab_status lab_as_downlinks_build(const lw_key *app_s_key, const lab_as_uplink *up, const uint8_t *frame, size_t len,
                                  char *out, size_t cap) LAB_MUST_CHECK;

/* ---- the engine (lab_as.c) ------------------------------------------------- */

typedef struct lab_as_io {
    void *user;
    /* POST body to url with the IDM token as bearer. *http is the status
     * (0 when nothing answered); a body, if any, into ans[cap] NUL-terminated.
     * LAB_ERR_IO when the exchange failed (unreachable, timeout, overlong). */
    lab_status (*idm_post)(void *user, const char *url, const char *body, size_t len, long *http, char *ans,
                           size_t cap, size_t *ans_len);
    /* One event; level "info" or "warn". Optional. */
    void (*log)(void *user, const char *level, const char *event, uint64_t dev_eui, const char *detail);
} lab_as_io;

typedef struct lab_as_stats {
    uint64_t uplinks;        /* accepted POST /uplink bodies */
    uint64_t app_uplinks;    /* ... decrypted and kept (FPort != 200) */
    uint64_t mls_uplinks;    /* ... decrypted FPort 200 frames */
    uint64_t bad_requests;   /* malformed bodies (400) */
    uint64_t unauthorised;   /* bad or missing bearer (401) */
    uint64_t key_errors;     /* no AppSKey, another KEK, or it did not unwrap */
    uint64_t relays;         /* relay calls answered 200 by the IDM */
    uint64_t relay_refused;  /* ... answered 404 (not this tenant's SE) */
    uint64_t relay_errors;   /* IDM unreachable, other status, or a malformed answer */
    uint64_t downlinks;      /* frames handed to the NS */
    uint64_t devices;        /* DevEUIs with a history */
} lab_as_stats;

typedef struct lab_as lab_as;

/* A new engine; copies cfg (the caller may wipe its copy). Freed, and every
 * secret wiped, by lab_as_free. */
lab_status lab_as_new(const lab_as_config *cfg, const lab_as_io *io, lab_as **out) LAB_MUST_CHECK;
void lab_as_free(lab_as *as);

/* True when `authorization` (the header's value, may be NULL) is
 * "Bearer <token>" with the configured token: SHA-256, then a constant-time
 * compare. A refusal is counted. */
bool lab_as_authorised(lab_as *as, const char *authorization);

/* POST /uplink: body in, HTTP status out (200, or 400 for a malformed body),
 * the JSON answer in out[cap] (NUL-terminated): {} or {"Downlinks":[...]}.
 * now_ms stamps the history when the NS gave no RecvTime. May call
 * io->idm_post (without holding the engine's lock). */
int lab_as_uplink_post(lab_as *as, const char *body, size_t len, uint64_t now_ms, char *out, size_t cap);

/* GET /uplinks/{DevEUI}: 200 {"DevEUI","Total","Uplinks":[{"FCnt","FPort",
 * "FRMPayload","RecvTime"}...]} oldest first, 404 for a DevEUI never heard,
 * 400 for one that is not 16 hex digits. *out is malloc()ed (the caller
 * frees it), NULL only when out of memory (then 500). */
int lab_as_uplinks_get(lab_as *as, const char *dev_eui, char **out);

/* The counters, and the same as JSON for GET /status (no identifiers). */
void lab_as_stats_get(lab_as *as, lab_as_stats *out);
lab_status lab_as_stats_json(lab_as *as, char *out, size_t cap) LAB_MUST_CHECK;

/* ---- the process (lab_as_http.c) -------------------------------------------- */

/* Runs until *stop becomes non-zero: libmicrohttpd on cfg->listen (refused
 * unless loopback), libcurl towards the IDM. Log lines (one JSON object
 * each, never a key or a token) go to stderr; "listening" once the socket
 * is open. LAB_ERR_IO / LAB_ERR_CONFIG with a sentence in err[cap]. */
lab_status lab_as_serve(const lab_as_config *cfg, volatile sig_atomic_t *stop, char *err, size_t cap) LAB_MUST_CHECK;

#endif

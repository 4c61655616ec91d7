/*
 * lab_ns.h - the lab network server: configuration, the engine, its I/O.
 *
 * The engine (lab_ns.c) is pure over injected I/O: the caller hands it
 * datagrams from gateways and HTTP bodies from the application server, and
 * the clock as a number; it answers with bytes and calls back through a
 * small table (lab_ns_io) to post to Join Servers and the application
 * server and to send datagrams to a gateway. Sockets, HTTP and threads live
 * in lab_ns_http.c, so tests drive the engine directly with fake I/O.
 *
 * What the engine does (docs/lab-ns.md has the whole story):
 *   - PUSH_DATA/PULL_DATA/TX_ACK of the packet-forwarder protocol (lab_udp.h);
 *   - de-duplication: copies of one PHYPayload heard within `dedup_ms` are
 *     one uplink (the best gateway answers); later copies are dropped;
 *   - joins: a JoinReq to the Join Server routed by JoinEUI prefix, the
 *     JoinAns's keys unwrapped with the NS's KEK, the join-accept sent for
 *     RX1 (5 s after the uplink, in the gateway's clock) or RX2;
 *   - data frames: 32-bit FCnt tracking, replay refusal, MIC (1.0.x and 1.1),
 *     MAC commands (lab_ns_mac.c), FPort > 0 uplinks forwarded to the AS
 *     still encrypted (docs/ns-as.md), class A downlinks after an uplink.
 *
 * State is in memory: a restart forgets sessions (devices rejoin). Stated
 * plainly in docs/lab-ns.md.
 */
#ifndef FERRY_LAB_NS_H
#define FERRY_LAB_NS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "bi/bi.h"
#include "lab/lab_status.h"
#include "lorawan/lw_crypto.h"

#define LAB_NS_ROUTES_MAX 32
#define LAB_NS_URL_MAX    256
#define LAB_NS_TOKEN_MAX  128
#define LAB_NS_QUEUE_MAX  8      /* downlinks queued per device */
#define LAB_NS_ANSWER_MAX 16384  /* largest JS/AS answer body read */

/* One JoinEUI-prefix route: JoinEUIs whose top `bits` bits equal those of
 * `prefix` go to `url` with `token` as bearer. Longest prefix wins. */
typedef struct lab_ns_route {
    uint64_t prefix;
    unsigned bits;               /* 0..64 */
    char url[LAB_NS_URL_MAX];
    char token[LAB_NS_TOKEN_MAX + 1];
} lab_ns_route;

typedef struct lab_ns_config {
    uint32_t net_id;             /* SenderID of JoinReqs; DevAddr prefix (NwkID = low 6 bits) */
    uint64_t nsid;               /* SenderNSID (BI 1.1) */
    bi_version bi_version;       /* ProtocolVersion of JoinReqs (default 1.1) */
    bi_mac_version mac_version;  /* MACVersion asked (default 1.1; the JS answers by the device's) */
    char kek_label[BI_KEK_LABEL_MAX + 1];
    lw_key kek;                  /* software key: see docs/lab-ns.md, "The KEK" */
    lab_ns_route routes[LAB_NS_ROUTES_MAX];
    size_t n_routes;
    uint32_t dedup_ms;           /* de-duplication window (default 200) */
    uint32_t late_ms;            /* copies this long after the window are still duplicates (default 2000);
                                    later ones meet the FCnt check as replays */
    uint8_t rx_delay;            /* RxDelay given to devices, seconds 1..15 (default 1) */
    int tx_power;                /* dBm in txpk (default 14) */
    /* Used by the shell (lab_ns_http.c), not by the engine: */
    char udp_listen[64];         /* "127.0.0.1:1700" */
    char http_listen[64];        /* "127.0.0.1:8090": POST /downlink, GET /status */
    char as_url[LAB_NS_URL_MAX]; /* "" = no AS: uplinks are counted, not forwarded */
    char ca_file[512];           /* PEM CA bundle verifying https:// routes and as_url; "" = the system's */
    char as_token[LAB_NS_TOKEN_MAX + 1];       /* bearer the NS sends to the AS */
    char downlink_token[LAB_NS_TOKEN_MAX + 1]; /* bearer the AS must send to /downlink */
} lab_ns_config;

/* Reads a `key = value` file (docs/lab-ns.md). Token and KEK files are read
 * relative to the config file's directory when not absolute; the KEK file
 * holds 32, 48 or 64 hex digits and must not be readable by others.
 * LAB_ERR_CONFIG with a sentence in err[cap] naming the line. */
lab_status lab_ns_config_load(const char *path, lab_ns_config *cfg, char *err, size_t cap) LAB_MUST_CHECK;
/* Wipes the KEK and the tokens. */
void lab_ns_config_wipe(lab_ns_config *cfg);
/* The route for a JoinEUI, or NULL. */
const lab_ns_route *lab_ns_route_find(const lab_ns_config *cfg, uint64_t join_eui);

/* The I/O the engine asks for. Every callback is optional except send. */
typedef struct lab_ns_io {
    void *user;
    /* POST body to the route's Join Server; the 200 answer's body into
     * ans[cap]. Anything but HTTP 200 with a body is LAB_ERR_IO. */
    lab_status (*js_post)(void *user, const lab_ns_route *route, const char *body, size_t len, char *ans,
                          size_t cap, size_t *ans_len);
    /* POST body to {as_url}/uplink; the 200 answer's body into ans[cap]. */
    lab_status (*as_post)(void *user, const char *body, size_t len, char *ans, size_t cap, size_t *ans_len);
    /* Send a datagram to a gateway (at its last PULL_DATA address). */
    void (*send)(void *user, uint64_t gateway_eui, const uint8_t *d, size_t len);
    /* One event: "uplink", "join", "join refused", "mic failed", "replay", ... */
    void (*log)(void *user, const char *event, uint64_t dev_eui, const char *detail);
} lab_ns_io;

typedef struct lab_ns_stats {
    uint64_t datagrams, bad_datagrams;
    uint64_t uplinks;          /* distinct frames after de-duplication */
    uint64_t duplicates;       /* copies dropped */
    uint64_t joins, joins_refused, no_route;
    uint64_t data_up, mic_failures, replays, unknown_dev_addr;
    uint64_t forwarded, as_errors;
    uint64_t downlinks, join_accepts, tx_ack_errors;
    uint64_t sessions;
} lab_ns_stats;

typedef struct lab_ns lab_ns;

/* A new engine; copies cfg (the caller may wipe its copy). One owner, freed
 * with lab_ns_free (which wipes every session key). */
lab_status lab_ns_new(const lab_ns_config *cfg, const lab_ns_io *io, lab_ns **out) LAB_MUST_CHECK;
void lab_ns_free(lab_ns *ns);

/* One datagram from a gateway at wall time now_ms (ms since the epoch).
 * The acknowledgement to send back to the sender's address goes to
 * reply[cap] (*reply_len 0 when none); *gateway_eui and *pull tell the shell
 * to remember that address for the gateway (pull: it was a PULL_DATA).
 * Uplinks are buffered for de-duplication; lab_ns_tick() processes them. */
lab_status lab_ns_datagram(lab_ns *ns, uint64_t now_ms, const uint8_t *d, size_t len, uint8_t *reply, size_t cap,
                           size_t *reply_len, uint64_t *gateway_eui, bool *pull) LAB_MUST_CHECK;

/* Processes every buffered uplink whose window ended by now_ms. Returns the
 * milliseconds until the next window ends, or UINT64_MAX when none waits. */
uint64_t lab_ns_tick(lab_ns *ns, uint64_t now_ms);

/* The NS-AS POST /downlink (docs/ns-as.md): body in, HTTP status out, the
 * JSON answer in ans[cap]. Authentication is the shell's job. */
int lab_ns_downlink_post(lab_ns *ns, const char *body, size_t len, char *ans, size_t cap);

/* Counters, and the same as JSON for GET /status (NUL-terminated). */
void lab_ns_stats_get(const lab_ns *ns, lab_ns_stats *out);
lab_status lab_ns_stats_json(const lab_ns *ns, char *out, size_t cap) LAB_MUST_CHECK;

#endif

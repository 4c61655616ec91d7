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
 *     still encrypted (docs/ns-as.md), class A downlinks after an uplink;
 *   - passive roaming through a peering hub (lab_ns_roam.c): as the visited
 *     network, a join-request with no route goes out as HomeNSReq and
 *     PRStartReq, later uplinks of that DevAddr as XmitDataReq; as the home
 *     network, a partner's PRStartReq and XmitDataReq are served as if our
 *     own gateways had heard the frame.
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
#include "lab/lab_radio.h"
#include "lab/lab_status.h"
#include "lorawan/lw_crypto.h"

#define LAB_NS_ROUTES_MAX 32
#define LAB_NS_URL_MAX    256
#define LAB_NS_TOKEN_MAX  128
#define LAB_NS_QUEUE_MAX  8      /* downlinks queued per device */
#define LAB_NS_ANSWER_MAX 16384  /* largest JS/AS answer body read */
#define LAB_NS_SIM_DEDUP_MS 20   /* dedup_ms by default under clock = simulated */
#define LAB_NS_SENT_MAX   16384  /* downlinks remembered until their TX_ACK, at token % this (simulated clock) */

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
    /* Passive roaming (docs/lab-ns.md, "Passive roaming"). */
    char roaming_hub_url[LAB_NS_URL_MAX];      /* "" = none: no visited role, no downlinks to partners */
    char roaming_hub_token[LAB_NS_TOKEN_MAX + 1]; /* bearer the NS sends to the hub */
    char bi_token[LAB_NS_TOKEN_MAX + 1];       /* bearer the hub must send to POST /bi; "" = /bi closed */
    uint32_t roaming_lifetime;                 /* home role: PRStartAns Lifetime, seconds (default 3600) */
    char state_file[512];                      /* sessions kept across restarts; "" = in memory only */
    lab_clock clock;             /* simulated: docs/lab-ns.md, "Simulated time" */
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
    /* Passive roaming, both optional. hub_post: POST body to the roaming
     * hub and wait for the answer (visited role: HomeNSReq, PRStartReq,
     * XmitDataReq uplinks), as js_post. hub_queue: send body to the hub
     * once the current engine call has returned, and hand the answer to
     * lab_ns_hub_answer() (home role: a downlink XmitDataReq made while
     * answering the partner's XmitDataReq; posting it there and then would
     * wait on the partner, which is waiting on us). */
    lab_status (*hub_post)(void *user, const char *body, size_t len, char *ans, size_t cap, size_t *ans_len);
    void (*hub_queue)(void *user, const char *body, size_t len);
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
    /* passive roaming, visited role (fNS) */
    uint64_t roam_joins;       /* join-accepts sent for a home network */
    uint64_t roam_refused;     /* roaming joins that failed (HomeNSAns, PRStartAns, late) */
    uint64_t roam_up;          /* data uplinks forwarded in XmitDataReq */
    uint64_t roam_down;        /* downlinks of a home network sent through our gateways */
    /* passive roaming, home role (sNS/hNS) */
    uint64_t pr_start;         /* PRStartReq joins served for a partner */
    uint64_t xmit_up;          /* XmitDataReq uplinks from a partner that verified */
    uint64_t xmit_down;        /* downlinks queued to a partner */
    uint64_t roam_errors;      /* refused roaming messages, failed exchanges with the hub */
    /* state_file */
    uint64_t state_sessions_loaded; /* sessions read back at the start */
    uint64_t state_write_failures;  /* records not written (each logged) */
    /* clock = simulated */
    uint64_t no_downlink;      /* "no downlink" notices sent to gateways */
    uint64_t rx2_retries;      /* RX1 downlinks a gateway refused, sent again for RX2 */
    uint64_t sent_forgotten;   /* RX1 downlinks forgotten before their TX_ACK (LAB_NS_SENT_MAX) */
    uint64_t requeued;         /* application downlinks no window took, queued again */
} lab_ns_stats;

typedef struct lab_ns lab_ns;

/* A new engine; copies cfg (the caller may wipe its copy). One owner, freed
 * with lab_ns_free (which wipes every session key). */
lab_status lab_ns_new(const lab_ns_config *cfg, const lab_ns_io *io, lab_ns **out) LAB_MUST_CHECK;
/* Reads cfg.state_file back (when set) and keeps it to append to.
 * LAB_ERR_CONFIG (a damaged file, or one written under another KEK) or
 * LAB_ERR_IO, with a sentence in err[cap]. */
lab_status lab_ns_state_open(lab_ns *ns, char *err, size_t cap) LAB_MUST_CHECK;
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

/* A Backend Interfaces message from the roaming hub (POST /bi; the bearer
 * is the shell's to check): PRStartReq and uplink XmitDataReq (home role),
 * downlink XmitDataReq and PRStopReq (visited role). Returns the HTTP
 * status (200 with the BI answer in ans[cap], 400 with a sentence for a
 * body that is not an answerable BI message); *ans_len is the answer's
 * length. */
int lab_ns_bi_post(lab_ns *ns, uint64_t now_ms, const char *body, size_t len, char *ans, size_t cap,
                   size_t *ans_len);

/* The hub's answer to a message sent through io.hub_queue (an XmitDataAns):
 * a refusal is counted and logged. */
void lab_ns_hub_answer(lab_ns *ns, const char *body, size_t len);

/* Counters, and the same as JSON for GET /status (NUL-terminated). */
void lab_ns_stats_get(const lab_ns *ns, lab_ns_stats *out);
lab_status lab_ns_stats_json(const lab_ns *ns, char *out, size_t cap) LAB_MUST_CHECK;

#endif

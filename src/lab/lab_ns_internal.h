/*
 * lab_ns_internal.h - the engine's state, shared by lab_ns.c (radio side)
 * and lab_ns_as.c (NS-AS side). Not a public header.
 */
#ifndef FERRY_LAB_NS_INTERNAL_H
#define FERRY_LAB_NS_INTERNAL_H

#include "lab/lab_ns.h"
#include "lab/lab_udp.h"

#define DEDUP_SLOTS  256   /* uplinks waiting for their window to end */
#define RECENT_SLOTS 256   /* processed uplinks remembered to drop late copies */

typedef struct queued_down {
    uint8_t fport;
    uint32_t fcnt;
    bool confirmed;
    size_t len;
    uint8_t payload[LW_PHY_MAX]; /* encrypted by the AS */
} queued_down;

typedef struct lab_session {
    uint64_t dev_eui, join_eui;
    uint32_t dev_addr;
    uint64_t seq;                /* join order: the newest session of a DevEUI wins */
    bool v11;
    lw_key f_nwk_s_int_key;      /* 1.0: NwkSKey in all three */
    lw_key s_nwk_s_int_key;
    lw_key nwk_s_enc_key;
    bi_key_envelope app_s_key;   /* wrapped for the AS, passed on as received */
    size_t session_key_id_len;
    uint8_t session_key_id[BI_SESSION_KEY_ID_MAX];
    bool has_up;
    uint32_t fcnt_up_next;
    uint32_t nfcnt_down;         /* 1.0: the one FCntDown */
    uint32_t afcnt_down;         /* 1.1 only */
    bool conf_down_pending;      /* a confirmed downlink awaits the ACK bit */
    uint32_t conf_down_fcnt;
    uint8_t last_dr;
    queued_down queue[LAB_NS_QUEUE_MAX];
    size_t queued;
} lab_session;

/* Home role: where an uplink came from when a roaming partner (the
 * visited network) heard it instead of our own gateways. */
typedef struct lab_roam_origin {
    uint32_t net_id;             /* the partner: the message's SenderID */
    bool has_nsid;
    uint64_t nsid;
    bi_version version;          /* answers and downlinks go in the partner's version */
    size_t fns_ul_token_len;     /* echoed in DLMetaData */
    uint8_t fns_ul_token[BI_UL_TOKEN_MAX];
    size_t ul_token_len;         /* the best gateway's GWInfo.ULToken */
    uint8_t ul_token[BI_UL_TOKEN_MAX];
    size_t gw_id_len;
    uint8_t gw_id[BI_GW_ID_MAX];
} lab_roam_origin;

typedef struct dedup_slot {
    bool used;
    uint64_t first_ms;
    size_t len;
    uint8_t phy[LW_PHY_MAX];
    lab_rxpk best;
    uint64_t best_gw;
    unsigned gw_count;
    const lab_roam_origin *roam; /* home role: heard by a partner; NULL: by our gateways */
} dedup_slot;

/* Visited role: a device of another network that joined through our
 * gateways; its data uplinks go to its home network. */
typedef struct lab_roam_entry {
    bool used;
    uint32_t dev_addr;
    uint64_t dev_eui;
    uint32_t home_net_id;
    bool has_hnsid;
    uint64_t hnsid;
    bi_version version;
    uint64_t expires_ms;
} lab_roam_entry;

/* Visited role: an uplink forwarded to a home network, kept so that the
 * downlink it may get (XmitDataReq with our FNSULToken) finds its gateway
 * and its receive windows. */
typedef struct lab_roam_up {
    uint64_t token;              /* FNSULToken, 8 bytes big-endian; 0 = free */
    uint32_t home_net_id;
    dedup_slot up;
} lab_roam_up;

#define ROAM_ENTRIES 16384 /* passive-roaming sessions a visited NS keeps (the oldest goes when full): a 10,000-device demo roams 2,000 at once */
#define ROAM_UPS     64

/* Receive windows for one downlink: RX1 (may be absent) and RX2. */
typedef struct lab_ns_windows {
    unsigned delay_s;            /* RX1 delay; RX2 is one second later */
    bool has_rx1;
    double f1;
    uint8_t sf1;
    uint16_t bw1;
    double f2;
    uint8_t sf2;
    uint16_t bw2;
    unsigned rx2_max;            /* largest PHYPayload RX2 may carry */
} lab_ns_windows;

/* What a join produced (lab_ns_join_run). */
typedef struct lab_join_outcome {
    lab_session *session;        /* owned until lab_ns_join_commit(); NULL on failure */
    uint8_t accept[LW_PHY_MAX];
    size_t accept_len;
    uint32_t dev_addr;
    bi_result_code code;         /* on failure: what to tell a roaming partner */
    char why[300];               /* on failure: the sentence already logged */
} lab_join_outcome;

typedef struct recent_slot {
    uint64_t at_ms;
    size_t len;
    uint8_t phy[LW_PHY_MAX];
} recent_slot;

/* Simulated clock: an RX1 downlink sent, kept until its TX_ACK so that a
 * gateway's refusal (its duty cycle, a frame already on air) can be
 * answered with the same frame in RX2, or with a "no downlink" notice. */
typedef struct sent_down {
    bool used;
    bool rx2_ok;                 /* rx2 below can be tried */
    uint16_t token;
    uint64_t gw;
    uint32_t up_tmst;            /* the uplink's concentrator time */
    lab_txpk rx2;
    bool has_q;                  /* it carried this application downlink: */
    queued_down q;               /* back to the head of its queue when no window takes it */
    uint64_t dev_eui;
} sent_down;

struct lab_ns {
    lab_ns_config cfg;
    lab_ns_io io;
    lab_ns_stats stats;
    lab_session **sessions;
    size_t n_sessions, cap_sessions;
    uint64_t session_seq;
    uint32_t next_nwk_addr;
    uint32_t transaction_id;
    uint16_t down_token;
    dedup_slot *dedup;   /* DEDUP_SLOTS */
    recent_slot *recent; /* RECENT_SLOTS, a ring */
    size_t recent_next;
    lab_roam_entry *roam_entries; /* ROAM_ENTRIES (visited role) */
    lab_roam_up *roam_ups;        /* ROAM_UPS, a ring (visited role) */
    size_t roam_up_next;
    uint64_t roam_token_seq;
    int state_fd;                 /* cfg.state_file open to append; -1: none */
    sent_down *sent;              /* LAB_NS_SENT_MAX, at token % LAB_NS_SENT_MAX (simulated clock) */
    bool answered;                /* the uplink being processed got a PULL_RESP */
    bool deferred;                /* ... or went to its home network, which answers later */
    const queued_down *sending_q; /* answer_uplink: the application downlink being sent */
    uint64_t sending_dev_eui;
};

/* lab_ns.c: a session joins the table (ownership passes). */
lab_status lab_ns_session_add(lab_ns *ns, lab_session *s) LAB_MUST_CHECK;
/* Drops every other session of s's device: s has proved the device uses it. */
void lab_ns_session_promote(lab_ns *ns, const lab_session *s);

/* lab_ns_state.c (docs/lab-ns.md, "State file"): a join and an accepted
 * uplink are appended to cfg.state_file when one is set. */
void lab_ns_state_session(lab_ns *ns, const lab_session *s);
void lab_ns_state_counters(lab_ns *ns, const lab_session *s);
void lab_ns_state_close(lab_ns *ns);

/* The newest session of a DevEUI, or NULL. */
lab_session *lab_ns_session_by_dev_eui(lab_ns *ns, uint64_t dev_eui);
/* The counter the next application downlink must carry (queued ones included). */
uint32_t lab_ns_next_afcnt(const lab_session *s);
/* Largest FRMPayload the next downlink can carry (RX1 at the last uplink's DR). */
unsigned lab_ns_max_payload(const lab_session *s);
/* Queues a downlink for a session: LAB_ERR_FCNT, LAB_ERR_TOO_BIG,
 * LAB_ERR_BUFFER (queue full), LAB_ERR_ARGUMENT (FPort). */
lab_status lab_ns_enqueue(lab_session *s, uint8_t fport, uint32_t fcnt, bool confirmed, const uint8_t *payload,
                          size_t len) LAB_MUST_CHECK;
/* NS -> AS: forwards one verified uplink and queues the answer's Downlinks. */
void lab_ns_forward_uplink(lab_ns *ns, lab_session *s, const uint8_t *phy, size_t phy_len, uint32_t fcnt,
                           uint64_t now_ms);
void lab_ns_log(lab_ns *ns, const char *event, uint64_t dev_eui, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ---- shared by lab_ns.c and lab_ns_roam.c ---- */

/* The windows of a class A answer to `up` heard by our gateways: RX1 on the
 * uplink's frequency and data rate after delay_s, RX2 on 869.525 MHz DR0. */
void lab_ns_windows_of(const dedup_slot *up, unsigned delay_s, unsigned rx2_max, lab_ns_windows *w);
/* Sends phy[len] as a PULL_RESP through up's best gateway in RX1 when there
 * is still time (wall clock since the first copy), else RX2. *rx2 tells
 * which. LAB_ERR_IO when both have passed (or RX2 cannot carry it). */
lab_status lab_ns_send_radio(lab_ns *ns, const dedup_slot *up, const lab_ns_windows *w, uint64_t now_ms,
                             const uint8_t *phy, size_t len, bool *rx2) LAB_MUST_CHECK;
/* JoinReq to the route's Join Server for the join-request in `up`, and the
 * session from its JoinAns (not yet added). Refusals are counted and
 * logged; out->code says what a roaming partner should be told. */
lab_status lab_ns_join_run(lab_ns *ns, const dedup_slot *up, const lw_join_request *jr, const lab_ns_route *route,
                           lab_join_outcome *out) LAB_MUST_CHECK;
/* Adds out->session (ownership passes) and counts the join. */
lab_status lab_ns_join_commit(lab_ns *ns, lab_join_outcome *out) LAB_MUST_CHECK;
/* Frees what lab_ns_join_run left (the session if not committed). */
void lab_ns_join_outcome_free(lab_join_outcome *out);
/* A data uplink: session, FCnt, MIC, MAC commands, AS, class A answer.
 * LAB_OK, or LAB_ERR_UNKNOWN / LAB_ERR_MIC / LAB_ERR_REPLAY (counted). */
lab_status lab_ns_data_up(lab_ns *ns, const dedup_slot *up, const lw_frame *f, uint64_t now_ms);

/* lab_ns_roam.c. Visited role: a join-request without a Join Server route
 * goes to its home network through the hub (true: handled). */
bool lab_ns_roam_join(lab_ns *ns, const dedup_slot *up, const lw_join_request *jr, uint64_t now_ms);
/* Visited role: a data uplink of a roaming device goes to its home network
 * (true: it was one, handled). */
bool lab_ns_roam_data(lab_ns *ns, const dedup_slot *up, const lw_frame *f, uint64_t now_ms);
/* A request header from this NS: SenderID our NetID, a new TransactionID,
 * SenderNSID in 1.1. */
void lab_ns_roam_request_header(lab_ns *ns, bi_header *h, bi_message_type t, bi_version v);
/* Visited role, messages from a home network (lab_ns_bi_post): a downlink
 * XmitDataReq (sent through the gateway of the uplink its FNSULToken
 * names; *out gets the window used) and PRStopReq. The ResultCode to
 * answer, with a sentence in why[] when it is not Success. */
bi_result_code lab_ns_roam_visited_down(lab_ns *ns, uint64_t now_ms, const bi_header *h, const bi_xmit_data_req *x,
                                        bi_xmit_data_ans *out, char why[300]);
bi_result_code lab_ns_roam_visited_stop(lab_ns *ns, const bi_header *h, const bi_pr_stop_req *r, char why[300]);
/* Home role (lab_ns_home.c): a downlink for an uplink a partner heard goes
 * back to it in an XmitDataReq (queued through io.hub_queue). */
lab_status lab_ns_roam_down(lab_ns *ns, const dedup_slot *up, uint64_t dev_eui, unsigned delay_s,
                            const uint8_t *phy, size_t len) LAB_MUST_CHECK;

#endif

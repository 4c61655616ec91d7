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

typedef struct dedup_slot {
    bool used;
    uint64_t first_ms;
    size_t len;
    uint8_t phy[LW_PHY_MAX];
    lab_rxpk best;
    uint64_t best_gw;
    unsigned gw_count;
} dedup_slot;

typedef struct recent_slot {
    uint64_t at_ms;
    size_t len;
    uint8_t phy[LW_PHY_MAX];
} recent_slot;

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
};

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

#endif

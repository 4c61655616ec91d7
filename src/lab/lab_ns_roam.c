/*
 * lab_ns_roam.c - passive roaming in the lab network server's engine
 * (TS002 §12.2.1 "activation", §13 "passive roaming") through a peering hub
 * (docs/hub.md): the design of both roles, and the visited role's code;
 * the home role and the POST /bi dispatcher are in lab_ns_home.c. Pure like
 * lab_ns.c: every message goes out through io.hub_post / io.hub_queue and
 * comes in through lab_ns_bi_post().
 *
 * Visited role (fNS: our gateways hear a device of another network):
 *   join-request, no Join Server route for its JoinEUI
 *     -> HomeNSReq (ReceiverID = JoinEUI) -> HomeNSAns {HNetID}
 *     -> PRStartReq {PHYPayload, ULMetaData} (ReceiverID = HNetID)
 *     -> PRStartAns {PHYPayload = join-accept, DevAddr, Lifetime, DLMetaData}
 *     -> the join-accept goes down through the gateway that heard it best,
 *        and DevAddr -> HNetID is kept for Lifetime seconds;
 *   a data uplink of such a DevAddr -> XmitDataReq {PHYPayload, ULMetaData
 *     with our FNSULToken}; a downlink comes back as an XmitDataReq
 *     {PHYPayload, DLMetaData with that FNSULToken} and leaves in RX1/RX2 of
 *     the uplink it answers.
 * Home role (sNS = hNS: the device is ours, a partner heard it):
 *   PRStartReq -> JoinReq to our Join Server, as if our gateways had heard
 *     the join-request -> PRStartAns; XmitDataReq -> MIC, FCnt, AS, as
 *     usual -> XmitDataAns; the class A answer goes back to the partner in
 *     its own XmitDataReq (queued: see lab_ns_io.hub_queue).
 *
 * The radio clock stays with the visited network: the home network names
 * both windows (DLMetaData: RXDelay1, DLFreq1/DataRate1, DLFreq2/DataRate2)
 * and the visited one picks RX1 or RX2 by its own wall clock, as for its
 * own downlinks. Stateless passive roaming (Lifetime 0: every uplink in a
 * PRStartReq) is not supported; neither are the network keys a home network
 * may give a stateful fNS (it never sends them: the home checks MICs).
 */
#include "lab/lab_ns_internal.h"
#include "lab/lab_region.h"
#include "lorawan/lorawan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ROAM_BODY_MAX 8192

/* ---- helpers ------------------------------------------------------------- */

static void put_be64(uint8_t out[8], uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        out[i] = (uint8_t)v;
}

static uint64_t get_be64(const uint8_t *b, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | b[i];
    return v;
}

void lab_ns_roam_request_header(lab_ns *ns, bi_header *h, bi_message_type t, bi_version v)
{
    memset(h, 0, sizeof(*h));
    h->version = v;
    h->message_type = t;
    h->transaction_id = ++ns->transaction_id;
    bi_id_set_net_id(&h->sender_id, ns->cfg.net_id);
    if (v == BI_VERSION_1_1) {
        h->has_sender_nsid = true;
        h->sender_nsid = ns->cfg.nsid;
    }
}

static void iso_time(uint64_t ms, char out[BI_META_TEXT_MAX + 1])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, BI_META_TEXT_MAX + 1, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)(ms % 1000));
}

/* ULMetaData for an uplink our gateways heard; `token` is the FNSULToken
 * (and the best gateway's ULToken) a downlink will name it by. */
static void ul_meta_of(const dedup_slot *up, uint64_t now_ms, uint64_t token, bi_ul_meta *ul)
{
    memset(ul, 0, sizeof(*ul));
    ul->has_data_rate = lab_eu868_dr(up->best.sf, up->best.bw, &ul->data_rate) == LAB_OK;
    ul->has_ul_freq = true;
    ul->ul_freq = up->best.freq;
    iso_time(now_ms, ul->recv_time);
    strcpy(ul->rf_region, "EU868");
    ul->has_gw_cnt = true;
    ul->gw_cnt = up->gw_count;
    ul->fns_ul_token_len = 8;
    put_be64(ul->fns_ul_token, token);
    bi_gw_info *g = &ul->gw_info[0];
    ul->n_gw_info = 1;
    g->id_len = 8;
    put_be64(g->id, up->best_gw);
    strcpy(g->rf_region, "EU868");
    g->has_rssi = true;
    g->rssi = up->best.rssi;
    g->has_snr = true;
    g->snr = up->best.lsnr;
    g->ul_token_len = 8;
    put_be64(g->ul_token, token);
    g->dl_allowed = true;
}

/* Windows from a partner's DLMetaData (its absent fields: ours for `up`). */
static lab_status windows_of_dl(const dedup_slot *up, const bi_dl_meta *dl, unsigned delay_s, unsigned rx2_max,
                                lab_ns_windows *w)
{
    lab_ns_windows_of(up, delay_s, rx2_max, w);
    if (dl == NULL)
        return LAB_OK;
    if (dl->has_rx_delay1)
        w->delay_s = dl->rx_delay1 == 0 ? 1 : dl->rx_delay1; /* LoRaWAN: RxDelay 0 means 1 s */
    if (dl->has_dl_freq1) {
        w->f1 = dl->dl_freq1;
        if (dl->has_data_rate1 && lab_eu868_dr_params(dl->data_rate1, &w->sf1, &w->bw1) != LAB_OK)
            return LAB_ERR_FORMAT;
    } else if (dl->has_dl_freq2) {
        w->has_rx1 = false; /* only RX2 offered */
    }
    if (dl->has_dl_freq2) {
        w->f2 = dl->dl_freq2;
        if (dl->has_data_rate2) {
            if (lab_eu868_dr_params(dl->data_rate2, &w->sf2, &w->bw2) != LAB_OK)
                return LAB_ERR_FORMAT;
            if (rx2_max > 51) /* data: what RX2's data rate carries */
                w->rx2_max = lab_eu868_max_payload(dl->data_rate2);
        }
    }
    return LAB_OK;
}

static uint64_t remember_up(lab_ns *ns, const dedup_slot *up, uint32_t home)
{
    lab_roam_up *r = &ns->roam_ups[ns->roam_up_next];
    ns->roam_up_next = (ns->roam_up_next + 1) % ROAM_UPS;
    r->token = ++ns->roam_token_seq;
    r->home_net_id = home;
    r->up = *up;
    r->up.roam = NULL;
    return r->token;
}

static lab_roam_entry *entry_by_dev_addr(lab_ns *ns, uint32_t dev_addr, uint64_t now_ms)
{
    for (size_t i = 0; i < ROAM_ENTRIES; i++) {
        lab_roam_entry *e = &ns->roam_entries[i];
        if (!e->used)
            continue;
        if (e->expires_ms <= now_ms) {
            memset(e, 0, sizeof(*e)); /* Lifetime over: the device is nobody's here any more */
            continue;
        }
        if (e->dev_addr == dev_addr)
            return e;
    }
    return NULL;
}

static void entry_add(lab_ns *ns, const lab_roam_entry *n)
{
    lab_roam_entry *slot = NULL, *oldest = NULL;
    for (size_t i = 0; i < ROAM_ENTRIES; i++) {
        lab_roam_entry *e = &ns->roam_entries[i];
        if (e->used && e->dev_addr == n->dev_addr) {
            slot = e; /* the same DevAddr again: the newest join wins */
            break;
        }
        if (!e->used && slot == NULL)
            slot = e;
        if (e->used && (oldest == NULL || e->expires_ms < oldest->expires_ms))
            oldest = e;
    }
    if (slot == NULL)
        slot = oldest; /* full: the one that expires first goes */
    *slot = *n;
    slot->used = true;
}

/* Posts msg to the hub and reads the answer, which must be `want` for msg's
 * TransactionID, from `from`, to us. */
static lab_status hub_exchange(lab_ns *ns, const char *body, size_t len, const bi_header *req, bi_message_type want,
                               bi_roam_msg *ans, char why[300])
{
    char *buf = malloc(LAB_NS_ANSWER_MAX);
    size_t n = 0;
    if (buf == NULL)
        return LAB_ERR_NOMEM;
    lab_status st = ns->io.hub_post(ns->io.user, body, len, buf, LAB_NS_ANSWER_MAX, &n);
    if (st != LAB_OK) {
        snprintf(why, 300, "%s: the roaming hub is unreachable or did not answer HTTP 200",
                 bi_message_type_name(req->message_type));
        free(buf);
        return st;
    }
    bi_error err;
    bi_status bs = bi_roam_parse(buf, n, ans, &err);
    free(buf);
    if (bs != BI_OK) {
        snprintf(why, 300, "%s: the answer is malformed: %.200s", bi_message_type_name(req->message_type),
                 err.description);
        return LAB_ERR_FORMAT;
    }
    const bi_header *h = &ans->hdr;
    if (h->message_type != want || h->transaction_id != req->transaction_id ||
        !bi_id_equal(&h->receiver_id, &req->sender_id) || !bi_id_equal(&h->sender_id, &req->receiver_id)) {
        snprintf(why, 300, "%s: the answer is not %s for TransactionID %u from %.64s to us",
                 bi_message_type_name(req->message_type), bi_message_type_name(want), (unsigned)req->transaction_id,
                 req->receiver_id.raw);
        return LAB_ERR_FORMAT;
    }
    return LAB_OK;
}

static void result_why(char why[300], const char *what, const bi_result *r)
{
    snprintf(why, 300, "%s answered %s%s%.200s", what, bi_result_code_name(r->code, BI_VERSION_1_1),
             r->description[0] ? ": " : "", r->description);
}

/* ---- visited role ------------------------------------------------------- */

/* HomeNSReq for the device: its home NetID (and NSID in 1.1). */
static lab_status home_of(lab_ns *ns, const lw_join_request *jr, uint32_t *hnet, bool *has_hnsid, uint64_t *hnsid,
                          char why[300])
{
    bi_request req;
    memset(&req, 0, sizeof(req));
    lab_ns_roam_request_header(ns, &req.hdr, BI_MSG_HOME_NS_REQ, ns->cfg.bi_version);
    bi_id_set_eui(&req.hdr.receiver_id, jr->join_eui);
    req.u.home_ns.dev_eui = jr->dev_eui;
    char body[1024];
    size_t blen = 0;
    if (bi_request_build(&req, body, sizeof(body), &blen) != BI_OK) {
        snprintf(why, 300, "HomeNSReq could not be built");
        return LAB_ERR_ARGUMENT;
    }
    bi_roam_msg *ans = malloc(sizeof(*ans));
    if (ans == NULL)
        return LAB_ERR_NOMEM;
    lab_status st = hub_exchange(ns, body, blen, &req.hdr, BI_MSG_HOME_NS_ANS, ans, why);
    const bi_home_ns_ans *h = &ans->u.home_ns_ans;
    if (st == LAB_OK && h->result.code != BI_RESULT_SUCCESS) {
        result_why(why, "HomeNSReq: the hub or the Join Server", &h->result);
        st = LAB_ERR_JOIN;
    } else if (st == LAB_OK && !h->has_h_net_id) {
        snprintf(why, 300, "HomeNSAns: Success without HNetID");
        st = LAB_ERR_FORMAT;
    } else if (st == LAB_OK && h->h_net_id == ns->cfg.net_id) {
        snprintf(why, 300, "the device's home is this network (%06X), which has no Join Server route for it",
                 (unsigned)ns->cfg.net_id);
        st = LAB_ERR_NO_ROUTE;
    }
    if (st == LAB_OK) {
        *hnet = h->h_net_id;
        *has_hnsid = h->has_hnsid;
        *hnsid = h->hnsid;
    }
    free(ans);
    return st;
}

bool lab_ns_roam_join(lab_ns *ns, const dedup_slot *up, const lw_join_request *jr, uint64_t now_ms)
{
    if (ns->cfg.roaming_hub_url[0] == '\0' || ns->io.hub_post == NULL)
        return false;
    char why[300] = "";
    uint32_t hnet = 0;
    bool has_hnsid = false;
    uint64_t hnsid = 0;
    bi_roam_msg *m = malloc(sizeof(*m));
    bi_roam_msg *ans = malloc(sizeof(*ans));
    char *body = malloc(ROAM_BODY_MAX);
    lab_status st = (m == NULL || ans == NULL || body == NULL) ? LAB_ERR_NOMEM : LAB_OK;
    if (st == LAB_OK)
        st = home_of(ns, jr, &hnet, &has_hnsid, &hnsid, why);
    if (st == LAB_OK) {
        memset(m, 0, sizeof(*m));
        lab_ns_roam_request_header(ns, &m->hdr, BI_MSG_PR_START_REQ, ns->cfg.bi_version);
        bi_id_set_net_id(&m->hdr.receiver_id, hnet);
        if (has_hnsid && m->hdr.version == BI_VERSION_1_1) {
            m->hdr.has_receiver_nsid = true;
            m->hdr.receiver_nsid = hnsid;
        }
        bi_pr_start_req *r = &m->u.pr_start_req;
        memcpy(r->phy_payload, up->phy, up->len);
        r->phy_payload_len = up->len;
        ul_meta_of(up, now_ms, remember_up(ns, up, hnet), &r->ul);
        r->ul.has_dev_eui = true;
        r->ul.dev_eui = jr->dev_eui;
        size_t blen = 0;
        if (bi_roam_build(m, body, ROAM_BODY_MAX, &blen) != BI_OK) {
            snprintf(why, 300, "PRStartReq could not be built");
            st = LAB_ERR_ARGUMENT;
        } else {
            st = hub_exchange(ns, body, blen, &m->hdr, BI_MSG_PR_START_ANS, ans, why);
        }
    }
    const bi_pr_start_ans *a = ans != NULL ? &ans->u.pr_start_ans : NULL;
    if (st == LAB_OK && a->result.code != BI_RESULT_SUCCESS) {
        result_why(why, "PRStartReq: the home network", &a->result);
        st = LAB_ERR_JOIN;
    } else if (st == LAB_OK && ((a->phy_payload_len != LW_JOIN_ACCEPT_LEN &&
                                 a->phy_payload_len != LW_JOIN_ACCEPT_CFLIST_LEN) ||
                                !a->has_dev_addr)) {
        snprintf(why, 300, "PRStartAns: Success without a join-accept PHYPayload or without DevAddr");
        st = LAB_ERR_FORMAT;
    } else if (st == LAB_OK && (!a->has_lifetime || a->lifetime == 0)) {
        snprintf(why, 300, "PRStartAns: Lifetime 0 (stateless passive roaming) is not supported by this network server");
        st = LAB_ERR_FORMAT;
    }
    lab_ns_windows w;
    if (st == LAB_OK && windows_of_dl(up, a->has_dl_meta ? &a->dl : NULL, LAB_JOIN_ACCEPT_DELAY1_S, 51, &w) != LAB_OK) {
        snprintf(why, 300, "PRStartAns: DLMetaData names a data rate EU868 does not have");
        st = LAB_ERR_FORMAT;
    }
    if (st == LAB_OK && (st = lab_ns_send_radio(ns, up, &w, now_ms, a->phy_payload, a->phy_payload_len, NULL)) !=
                            LAB_OK)
        snprintf(why, 300, "join-accept too late for RX1 and RX2");
    if (st == LAB_OK) {
        lab_roam_entry e = {.dev_addr = a->dev_addr, .dev_eui = jr->dev_eui, .home_net_id = hnet,
                            .has_hnsid = has_hnsid, .hnsid = hnsid, .version = ns->cfg.bi_version,
                            .expires_ms = now_ms + (uint64_t)a->lifetime * 1000};
        entry_add(ns, &e);
        ns->stats.roam_joins++;
        ns->stats.join_accepts++;
        lab_ns_log(ns, "roaming join", jr->dev_eui, "home network %06X, DevAddr %08X, Lifetime %u s", (unsigned)hnet,
                   (unsigned)a->dev_addr, (unsigned)a->lifetime);
    } else {
        ns->stats.roam_refused++;
        ns->stats.joins_refused++;
        lab_ns_log(ns, "roaming join refused", jr->dev_eui, "%s", why[0] ? why : lab_strerror(st));
    }
    free(m);
    free(ans);
    free(body);
    return true;
}

bool lab_ns_roam_data(lab_ns *ns, const dedup_slot *up, const lw_frame *f, uint64_t now_ms)
{
    if (ns->io.hub_post == NULL || ns->cfg.roaming_hub_url[0] == '\0')
        return false;
    const lw_data_frame *d = &f->u.data;
    for (size_t i = 0; i < ns->n_sessions; i++)
        if (ns->sessions[i]->dev_addr == d->dev_addr)
            return false; /* one of ours */
    const lab_roam_entry *e = entry_by_dev_addr(ns, d->dev_addr, now_ms);
    if (e == NULL)
        return false;
    char why[300] = "";
    bi_roam_msg *m = calloc(1, sizeof(*m));
    bi_roam_msg *ans = malloc(sizeof(*ans));
    char *body = malloc(ROAM_BODY_MAX);
    lab_status st = (m == NULL || ans == NULL || body == NULL) ? LAB_ERR_NOMEM : LAB_OK;
    if (st == LAB_OK) {
        lab_ns_roam_request_header(ns, &m->hdr, BI_MSG_XMIT_DATA_REQ, e->version);
        bi_id_set_net_id(&m->hdr.receiver_id, e->home_net_id);
        if (e->has_hnsid && m->hdr.version == BI_VERSION_1_1) {
            m->hdr.has_receiver_nsid = true;
            m->hdr.receiver_nsid = e->hnsid;
        }
        bi_xmit_data_req *x = &m->u.xmit_data_req;
        memcpy(x->payload, up->phy, up->len);
        x->payload_len = up->len;
        x->uplink = true;
        ul_meta_of(up, now_ms, remember_up(ns, up, e->home_net_id), &x->ul);
        x->ul.has_dev_eui = true;
        x->ul.dev_eui = e->dev_eui;
        x->ul.has_dev_addr = true;
        x->ul.dev_addr = d->dev_addr;
        x->ul.has_fcnt_up = true;
        x->ul.fcnt_up = d->fcnt; /* the 16 bits on the wire: the home network rebuilds the rest */
        x->ul.has_fport = d->has_fport;
        x->ul.fport = d->fport;
        x->ul.confirmed = f->mtype == LW_MTYPE_CONFIRMED_DATA_UP;
        size_t blen = 0;
        if (bi_roam_build(m, body, ROAM_BODY_MAX, &blen) != BI_OK) {
            snprintf(why, 300, "XmitDataReq could not be built");
            st = LAB_ERR_ARGUMENT;
        } else {
            st = hub_exchange(ns, body, blen, &m->hdr, BI_MSG_XMIT_DATA_ANS, ans, why);
        }
    }
    if (st == LAB_OK && ans->u.xmit_data_ans.result.code != BI_RESULT_SUCCESS) {
        result_why(why, "XmitDataReq: the home network", &ans->u.xmit_data_ans.result);
        st = LAB_ERR_JOIN;
    }
    if (st == LAB_OK) {
        ns->stats.roam_up++;
        lab_ns_log(ns, "roaming uplink", e->dev_eui, "DevAddr %08X FCnt %u to home network %06X",
                   (unsigned)d->dev_addr, (unsigned)d->fcnt, (unsigned)e->home_net_id);
    } else {
        ns->stats.roam_errors++;
        lab_ns_log(ns, "roaming uplink refused", e->dev_eui, "DevAddr %08X FCnt %u: %s", (unsigned)d->dev_addr,
                   (unsigned)d->fcnt, why[0] ? why : lab_strerror(st));
    }
    free(m);
    free(ans);
    free(body);
    return true;
}

bi_result_code lab_ns_roam_visited_down(lab_ns *ns, uint64_t now_ms, const bi_header *h, const bi_xmit_data_req *x,
                                   bi_xmit_data_ans *out, char why[300])
{
    const bi_dl_meta *dl = &x->dl;
    if (x->frm) {
        snprintf(why, 300, "FRMPayload: this network server relays PHYPayloads only");
        return BI_RESULT_MALFORMED;
    }
    const uint8_t *tok = dl->fns_ul_token;
    size_t tn = dl->fns_ul_token_len;
    if (tn == 0 && dl->n_gw_info > 0) { /* a peer that echoes only the gateway's ULToken */
        tok = dl->gw_info[0].ul_token;
        tn = dl->gw_info[0].ul_token_len;
    }
    lab_roam_up *r = NULL;
    uint64_t t = tn == 8 ? get_be64(tok, 8) : 0;
    for (size_t i = 0; t != 0 && i < ROAM_UPS && r == NULL; i++)
        if (ns->roam_ups[i].token == t && ns->roam_ups[i].home_net_id == (uint32_t)h->sender_id.value)
            r = &ns->roam_ups[i];
    if (r == NULL) {
        snprintf(why, 300, "DLMetaData.FNSULToken: no uplink of yours with that token is kept here");
        return BI_RESULT_XMIT_FAILED;
    }
    lab_ns_windows w;
    if (windows_of_dl(&r->up, dl, ns->cfg.rx_delay, lab_eu868_max_payload(LAB_EU868_RX2_DR), &w) != LAB_OK) {
        snprintf(why, 300, "DLMetaData: a data rate EU868 does not have");
        return BI_RESULT_MALFORMED;
    }
    bool rx2 = false;
    if (lab_ns_send_radio(ns, &r->up, &w, now_ms, x->payload, x->payload_len, &rx2) != LAB_OK) {
        snprintf(why, 300, "RX1 and RX2 of the uplink have passed (or RX2 cannot carry %zu bytes)", x->payload_len);
        return BI_RESULT_XMIT_FAILED;
    }
    ns->stats.roam_down++;
    ns->stats.downlinks++;
    if (rx2) {
        out->has_dl_freq2 = true;
        out->dl_freq2 = w.f2;
    } else {
        out->has_dl_freq1 = true;
        out->dl_freq1 = w.f1;
    }
    lab_ns_log(ns, "roaming downlink", dl->has_dev_eui ? dl->dev_eui : 0, "from home network %06X in %s",
               (unsigned)h->sender_id.value, rx2 ? "RX2" : "RX1");
    return BI_RESULT_SUCCESS;
}

bi_result_code lab_ns_roam_visited_stop(lab_ns *ns, const bi_header *h, const bi_pr_stop_req *r, char why[300])
{
    unsigned n = 0;
    for (size_t i = 0; i < ROAM_ENTRIES; i++) {
        lab_roam_entry *e = &ns->roam_entries[i];
        if (e->used && e->dev_eui == r->dev_eui && e->home_net_id == (uint32_t)h->sender_id.value) {
            memset(e, 0, sizeof(*e));
            n++;
        }
    }
    if (n == 0) {
        snprintf(why, 300, "no roaming session of yours for DevEUI %016llX", (unsigned long long)r->dev_eui);
        return BI_RESULT_UNKNOWN_DEV_EUI;
    }
    lab_ns_log(ns, "roaming stopped", r->dev_eui, "by home network %06X", (unsigned)h->sender_id.value);
    return BI_RESULT_SUCCESS;
}

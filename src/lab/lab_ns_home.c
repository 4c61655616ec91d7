/*
 * lab_ns_home.c - the roaming messages the lab network server receives
 * (POST /bi from the hub, lab_ns_bi_post) and its home role: a partner's
 * PRStartReq and XmitDataReq served as if our own gateways had heard the
 * frame, and the downlinks that go back to the partner (lab_ns_roam_down).
 * The visited role's side is in lab_ns_roam.c; the design note is there.
 *
 * How a partner's uplink becomes one of ours: a dedup_slot is made from the
 * PHYPayload and ULMetaData (DataRate and ULFreq are required: the 1.1 MIC
 * binds them and the downlink's RX1 uses them; the best GWInfo's SNR and
 * RSSI, and GWCnt, feed LinkCheckAns) with `roam` pointing at where it came
 * from. The rest of the engine runs unchanged; only send_down() looks at
 * `roam`, to send the answer back to the partner instead of to a gateway.
 */
#include "lab/lab_ns_internal.h"
#include "lab/lab_region.h"
#include "lorawan/lorawan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROAM_BODY_MAX 8192

/* The answer header to a partner's request, with our NSID in 1.1. */
static void answer_header(const lab_ns *ns, const bi_header *req, bi_header *ah)
{
    if (bi_answer_header(req, ah) != BI_OK)
        memset(ah, 0, sizeof(*ah));
    if (ah->version == BI_VERSION_1_1) {
        ah->has_sender_nsid = true;
        ah->sender_nsid = ns->cfg.nsid;
    }
}

/* The partner's uplink as an uplink of ours (see the top of the file). */
static bool slot_of(const bi_header *h, const uint8_t *phy, size_t len, const bi_ul_meta *ul, uint64_t now_ms,
                    dedup_slot *up, lab_roam_origin *o, char why[300])
{
    memset(up, 0, sizeof(*up));
    memset(o, 0, sizeof(*o));
    if (!ul->has_data_rate || !ul->has_ul_freq) {
        snprintf(why, 300, "ULMetaData: DataRate and ULFreq are required by this network server");
        return false;
    }
    if (lab_eu868_dr_params(ul->data_rate, &up->best.sf, &up->best.bw) != LAB_OK) {
        snprintf(why, 300, "ULMetaData.DataRate: %u is not an EU868 LoRa data rate (DR0..DR6)", ul->data_rate);
        return false;
    }
    if (len == 0 || len > LW_PHY_MAX) {
        snprintf(why, 300, "PHYPayload: 1 to %d bytes", LW_PHY_MAX);
        return false;
    }
    up->used = true;
    up->first_ms = now_ms;
    up->len = len;
    memcpy(up->phy, phy, len);
    up->best.freq = ul->ul_freq;
    up->best.stat = 1;
    up->best.lora = true;
    strcpy(up->best.codr, "4/5");
    up->best.size = len;
    memcpy(up->best.data, phy, len);
    size_t best = 0;
    for (size_t i = 1; i < ul->n_gw_info; i++)
        if (ul->gw_info[i].has_snr && (!ul->gw_info[best].has_snr || ul->gw_info[i].snr > ul->gw_info[best].snr))
            best = i;
    if (ul->n_gw_info > 0) {
        const bi_gw_info *g = &ul->gw_info[best];
        up->best.lsnr = g->has_snr ? g->snr : 0;
        up->best.rssi = g->has_rssi ? (int)g->rssi : 0;
        memcpy(o->ul_token, g->ul_token, g->ul_token_len);
        o->ul_token_len = g->ul_token_len;
        memcpy(o->gw_id, g->id, g->id_len);
        o->gw_id_len = g->id_len;
    }
    up->gw_count = ul->has_gw_cnt && ul->gw_cnt > 0 ? ul->gw_cnt : ul->n_gw_info > 0 ? (unsigned)ul->n_gw_info : 1;
    o->net_id = (uint32_t)h->sender_id.value;
    o->has_nsid = h->has_sender_nsid;
    o->nsid = h->sender_nsid;
    o->version = h->version;
    memcpy(o->fns_ul_token, ul->fns_ul_token, ul->fns_ul_token_len);
    o->fns_ul_token_len = ul->fns_ul_token_len;
    up->roam = o;
    return true;
}

/* DLMetaData for a downlink answering `up` (heard by a partner). */
static void dl_meta_of(const lab_ns *ns, const dedup_slot *up, uint64_t dev_eui, unsigned delay_s, bi_dl_meta *dl)
{
    const lab_roam_origin *o = up->roam;
    memset(dl, 0, sizeof(*dl));
    (void)ns;
    dl->has_dev_eui = dev_eui != 0;
    dl->dev_eui = dev_eui;
    dl->has_dl_freq1 = true;
    dl->dl_freq1 = up->best.freq; /* EU868 RX1: the uplink's channel, RX1DROffset 0 */
    dl->has_data_rate1 = lab_eu868_dr(up->best.sf, up->best.bw, &dl->data_rate1) == LAB_OK;
    dl->has_dl_freq2 = true;
    dl->dl_freq2 = LAB_EU868_RX2_FREQ;
    dl->has_data_rate2 = true;
    dl->data_rate2 = LAB_EU868_RX2_DR;
    dl->has_rx_delay1 = true;
    dl->rx_delay1 = (uint8_t)delay_s;
    strcpy(dl->class_mode, "A");
    memcpy(dl->fns_ul_token, o->fns_ul_token, o->fns_ul_token_len);
    dl->fns_ul_token_len = o->fns_ul_token_len;
    if (o->ul_token_len > 0 || o->gw_id_len > 0) {
        bi_gw_info *g = &dl->gw_info[0];
        dl->n_gw_info = 1;
        memcpy(g->id, o->gw_id, o->gw_id_len);
        g->id_len = o->gw_id_len;
        memcpy(g->ul_token, o->ul_token, o->ul_token_len);
        g->ul_token_len = o->ul_token_len;
        g->dl_allowed = true;
    }
}

lab_status lab_ns_roam_down(lab_ns *ns, const dedup_slot *up, uint64_t dev_eui, unsigned delay_s, const uint8_t *phy,
                            size_t len)
{
    const lab_roam_origin *o = up->roam;
    if (ns->io.hub_queue == NULL || ns->cfg.roaming_hub_url[0] == '\0') {
        ns->stats.roam_errors++;
        lab_ns_log(ns, "roaming downlink failed", dev_eui, "no roaming hub to send it to network %06X through",
                   (unsigned)o->net_id);
        return LAB_ERR_IO;
    }
    bi_roam_msg *m = calloc(1, sizeof(*m));
    char *body = malloc(ROAM_BODY_MAX);
    lab_status st = (m == NULL || body == NULL) ? LAB_ERR_NOMEM : LAB_OK;
    size_t blen = 0;
    if (st == LAB_OK) {
        lab_ns_roam_request_header(ns, &m->hdr, BI_MSG_XMIT_DATA_REQ, o->version);
        bi_id_set_net_id(&m->hdr.receiver_id, o->net_id);
        if (o->has_nsid && o->version == BI_VERSION_1_1) {
            m->hdr.has_receiver_nsid = true;
            m->hdr.receiver_nsid = o->nsid;
        }
        bi_xmit_data_req *x = &m->u.xmit_data_req;
        memcpy(x->payload, phy, len);
        x->payload_len = len;
        x->uplink = false;
        dl_meta_of(ns, up, dev_eui, delay_s, &x->dl);
        if (bi_roam_build(m, body, ROAM_BODY_MAX, &blen) != BI_OK)
            st = LAB_ERR_ARGUMENT;
    }
    if (st == LAB_OK) {
        ns->io.hub_queue(ns->io.user, body, blen);
        ns->stats.xmit_down++;
        lab_ns_log(ns, "roaming downlink", dev_eui, "%zu bytes to network %06X (XmitDataReq %u)", len,
                   (unsigned)o->net_id, (unsigned)m->hdr.transaction_id);
    } else {
        ns->stats.roam_errors++;
        lab_ns_log(ns, "roaming downlink failed", dev_eui, "XmitDataReq could not be built (%s)", lab_strerror(st));
    }
    free(m);
    free(body);
    return st;
}

/* ---- the partner's requests ------------------------------------------------ */

static bi_result_code home_pr_start(lab_ns *ns, uint64_t now_ms, const bi_roam_msg *m, bi_pr_start_ans *a,
                                    char why[300])
{
    const bi_pr_start_req *r = &m->u.pr_start_req;
    dedup_slot up;
    lab_roam_origin o;
    if (!slot_of(&m->hdr, r->phy_payload, r->phy_payload_len, &r->ul, now_ms, &up, &o, why))
        return BI_RESULT_MALFORMED;
    lw_frame f;
    if (lw_frame_decode(up.phy, up.len, &f) != LW_OK || f.mtype != LW_MTYPE_JOIN_REQUEST) {
        snprintf(why, 300, "PHYPayload: not a join-request (this network server takes data uplinks in XmitDataReq; "
                           "stateless passive roaming is not supported)");
        return BI_RESULT_MALFORMED;
    }
    const lw_join_request *jr = &f.u.join_request;
    const lab_ns_route *route = lab_ns_route_find(&ns->cfg, jr->join_eui);
    if (route == NULL) {
        ns->stats.no_route++;
        ns->stats.joins_refused++;
        snprintf(why, 300, "no Join Server route for JoinEUI %016llX at the home network",
                 (unsigned long long)jr->join_eui);
        lab_ns_log(ns, "join refused", jr->dev_eui, "for network %06X: %s", (unsigned)o.net_id, why);
        return BI_RESULT_UNKNOWN_DEV_EUI;
    }
    lab_join_outcome out;
    lab_status st = lab_ns_join_run(ns, &up, jr, route, &out);
    bi_result_code code = out.code;
    if (st != LAB_OK)
        snprintf(why, 300, "%s", out.why);
    if (st == LAB_OK) {
        memcpy(a->phy_payload, out.accept, out.accept_len);
        a->phy_payload_len = out.accept_len;
        a->has_dev_addr = true;
        a->dev_addr = out.dev_addr;
        st = lab_ns_join_commit(ns, &out);
        if (st != LAB_OK) {
            snprintf(why, 300, "the session could not be kept (%s)", lab_strerror(st));
            code = BI_RESULT_JOIN_REQ_FAILED;
        }
    }
    lab_ns_join_outcome_free(&out);
    if (st != LAB_OK)
        return code;
    a->has_dev_eui = true;
    a->dev_eui = jr->dev_eui;
    a->has_lifetime = true;
    a->lifetime = ns->cfg.roaming_lifetime;
    a->has_dl_meta = true;
    dl_meta_of(ns, &up, jr->dev_eui, LAB_JOIN_ACCEPT_DELAY1_S, &a->dl);
    ns->stats.pr_start++;
    lab_ns_log(ns, "roaming join served", jr->dev_eui, "for network %06X, DevAddr %08X", (unsigned)o.net_id,
               (unsigned)a->dev_addr);
    return BI_RESULT_SUCCESS;
}

static bi_result_code home_xmit_up(lab_ns *ns, uint64_t now_ms, const bi_roam_msg *m, char why[300])
{
    const bi_xmit_data_req *x = &m->u.xmit_data_req;
    if (x->frm) {
        snprintf(why, 300, "FRMPayload: this network server takes PHYPayloads (fNS to sNS)");
        return BI_RESULT_MALFORMED;
    }
    dedup_slot up;
    lab_roam_origin o;
    if (!slot_of(&m->hdr, x->payload, x->payload_len, &x->ul, now_ms, &up, &o, why))
        return BI_RESULT_MALFORMED;
    lw_frame f;
    if (lw_frame_decode(up.phy, up.len, &f) != LW_OK ||
        (f.mtype != LW_MTYPE_UNCONFIRMED_DATA_UP && f.mtype != LW_MTYPE_CONFIRMED_DATA_UP)) {
        snprintf(why, 300, "PHYPayload: not a data uplink");
        return BI_RESULT_MALFORMED;
    }
    lab_status st = lab_ns_data_up(ns, &up, &f, now_ms);
    switch (st) {
    case LAB_OK:
        ns->stats.xmit_up++;
        return BI_RESULT_SUCCESS;
    case LAB_ERR_MIC:
        snprintf(why, 300, "the MIC does not verify under any session of DevAddr %08X", (unsigned)f.u.data.dev_addr);
        return BI_RESULT_MIC_FAILED;
    case LAB_ERR_REPLAY:
        snprintf(why, 300, "FCnt %u of DevAddr %08X was seen already", (unsigned)f.u.data.fcnt,
                 (unsigned)f.u.data.dev_addr);
        return m->hdr.version == BI_VERSION_1_1 ? BI_RESULT_FRAME_REPLAYED : BI_RESULT_OTHER;
    default:
        snprintf(why, 300, "no session for DevAddr %08X", (unsigned)f.u.data.dev_addr);
        return BI_RESULT_UNKNOWN_DEV_ADDR;
    }
}

static int text_answer(char *ans, size_t cap, size_t *alen, int status, const char *msg)
{
    int n = snprintf(ans, cap, "%s\n", msg);
    *alen = n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
    return status;
}

static int error_answer(lab_ns *ns, const bi_header *req, bi_result_code code, const char *why, char *ans, size_t cap,
                        size_t *alen)
{
    ns->stats.roam_errors++;
    bi_header h = *req;
    if (bi_error_answer_build(&h, code, why, ans, cap, alen) != BI_OK)
        return text_answer(ans, cap, alen, 500, "the answer could not be built");
    return 200;
}

int lab_ns_bi_post(lab_ns *ns, uint64_t now_ms, const char *body, size_t len, char *ans, size_t cap, size_t *ans_len)
{
    *ans_len = 0;
    if (ns == NULL || body == NULL || ans == NULL || cap == 0)
        return 500;
    bi_roam_msg *m = malloc(sizeof(*m));
    bi_roam_msg *a = calloc(1, sizeof(*a));
    if (m == NULL || a == NULL) {
        free(m);
        free(a);
        return text_answer(ans, cap, ans_len, 503, "out of memory");
    }
    bi_error err;
    bi_status bs = bi_roam_parse(body, len, m, &err);
    int status = 200;
    char why[300] = "";
    if (bs != BI_OK) {
        bi_result_code code = bi_error_result_code(&err);
        if (!err.answerable) {
            ns->stats.roam_errors++;
            status = text_answer(ans, cap, ans_len, 400, err.description);
        } else if (bs == BI_ERR_UNSUPPORTED) {
            snprintf(why, sizeof(why), "%s is not served by this network server",
                     bi_message_type_name(m->hdr.message_type));
            status = error_answer(ns, &m->hdr, BI_RESULT_MALFORMED, why, ans, cap, ans_len);
        } else {
            status = error_answer(ns, &m->hdr, code, err.description, ans, cap, ans_len);
        }
        goto out;
    }
    const bi_header *h = &m->hdr;
    if (!bi_message_type_is_request(h->message_type)) {
        ns->stats.roam_errors++;
        status = text_answer(ans, cap, ans_len, 400,
                             "answers come back in the HTTP response (synchronous); this network server takes no "
                             "asynchronous answers");
        goto out;
    }
    if (h->receiver_id.kind != BI_ID_NET_ID || h->receiver_id.value != ns->cfg.net_id) {
        snprintf(why, sizeof(why), "ReceiverID %.64s is not this network server's NetID", h->receiver_id.raw);
        status = error_answer(ns, h, BI_RESULT_UNKNOWN_RECEIVER, why, ans, cap, ans_len);
        goto out;
    }
    if (h->sender_id.kind != BI_ID_NET_ID) {
        status = error_answer(ns, h, BI_RESULT_MALFORMED, "SenderID: a network server's NetID (6 hex digits)", ans,
                              cap, ans_len);
        goto out;
    }
    answer_header(ns, h, &a->hdr);
    bi_result *res = NULL;
    bi_result_code code = BI_RESULT_SUCCESS;
    switch (h->message_type) {
    case BI_MSG_PR_START_REQ:
        res = &a->u.pr_start_ans.result;
        code = home_pr_start(ns, now_ms, m, &a->u.pr_start_ans, why);
        break;
    case BI_MSG_XMIT_DATA_REQ:
        res = &a->u.xmit_data_ans.result;
        code = m->u.xmit_data_req.uplink
                   ? home_xmit_up(ns, now_ms, m, why)
                   : lab_ns_roam_visited_down(ns, now_ms, h, &m->u.xmit_data_req, &a->u.xmit_data_ans, why);
        break;
    default: /* PRStopReq */
        res = &a->u.pr_stop_ans;
        code = lab_ns_roam_visited_stop(ns, h, &m->u.pr_stop_req, why);
        break;
    }
    if (code != BI_RESULT_SUCCESS) {
        /* a failed request gets a bare answer: no half-filled body */
        status = error_answer(ns, h, code, why, ans, cap, ans_len);
        goto out;
    }
    res->code = BI_RESULT_SUCCESS;
    if (bi_roam_build(a, ans, cap, ans_len) != BI_OK)
        status = text_answer(ans, cap, ans_len, 500, "the answer could not be built");
out:
    free(m);
    free(a);
    return status;
}

void lab_ns_hub_answer(lab_ns *ns, const char *body, size_t len)
{
    bi_roam_msg *m = malloc(sizeof(*m));
    if (m == NULL)
        return;
    bi_error err;
    if (body == NULL || bi_roam_parse(body, len, m, &err) != BI_OK || m->hdr.message_type != BI_MSG_XMIT_DATA_ANS) {
        ns->stats.roam_errors++;
        lab_ns_log(ns, "roaming downlink failed", 0, "the answer to a queued XmitDataReq is not an XmitDataAns");
    } else if (m->u.xmit_data_ans.result.code != BI_RESULT_SUCCESS) {
        ns->stats.roam_errors++;
        lab_ns_log(ns, "roaming downlink failed", 0, "network %.64s answered XmitDataReq %u with %s%s%s",
                   m->hdr.sender_id.raw, (unsigned)m->hdr.transaction_id,
                   bi_result_code_name(m->u.xmit_data_ans.result.code, BI_VERSION_1_1),
                   m->u.xmit_data_ans.result.description[0] ? ": " : "", m->u.xmit_data_ans.result.description);
    }
    free(m);
}

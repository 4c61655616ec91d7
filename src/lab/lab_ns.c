/*
 * lab_ns.c - the lab network server's engine, radio side: datagrams,
 * de-duplication, joins, data uplinks, class A downlinks.
 *
 * Design. The engine owns no socket and no clock: lab_ns_datagram() takes a
 * datagram and the time, lab_ns_tick() ends de-duplication windows, and the
 * I/O it needs (Join Server, application server, gateways) goes through the
 * lab_ns_io table. The shell (lab_ns_http.c) calls it under one mutex.
 *
 * Timing model. The gateway's concentrator counter (rxpk.tmst, in µs) is the
 * clock that matters for the radio: a downlink is sent at once in a
 * PULL_RESP whose txpk.tmst is the uplink's tmst + RX1 delay (1 s .. 15 s for
 * data, 5 s for a join-accept), exactly as a real forwarder expects. When
 * the engine took too long to answer (wall clock since the first copy
 * arrived, against the delay minus a 100 ms margin), RX2 is used (delay +
 * 1 s, 869.525 MHz, DR0); past RX2 the downlink waits for the next uplink.
 *
 * Session keys. The JoinAns's network keys are unwrapped with the NS's KEK
 * into software lw_keys held in memory (docs/lab-ns.md, "The KEK"); the
 * AppSKey is never unwrapped: its envelope (wrapped for the AS) and the
 * SessionKeyID are passed on to the AS with each uplink.
 */
#include "lab/lab_ns_internal.h"
#include "lab/lab_bi.h"
#include "lab/lab_ns_mac.h"
#include "lab/lab_region.h"
#include "lorawan/lorawan.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RX_MARGIN_MS 100
/* GPS epoch (1980-01-06) in Unix ms, and the leap seconds since (18). */
#define GPS_EPOCH_UNIX_MS 315964800000ULL
#define GPS_LEAP_S 18

void lab_ns_log(lab_ns *ns, const char *event, uint64_t dev_eui, const char *fmt, ...)
{
    if (ns->io.log == NULL)
        return;
    char detail[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    ns->io.log(ns->io.user, event, dev_eui, detail);
}

static void session_free(lab_session *s)
{
    if (s == NULL)
        return;
    lw_secure_wipe(s, sizeof(*s));
    free(s);
}

lab_status lab_ns_new(const lab_ns_config *cfg, const lab_ns_io *io, lab_ns **out)
{
    if (cfg == NULL || io == NULL || io->send == NULL || out == NULL || cfg->kek.length == 0)
        return LAB_ERR_ARGUMENT;
    lab_ns *ns = calloc(1, sizeof(*ns));
    if (ns == NULL)
        return LAB_ERR_NOMEM;
    ns->dedup = calloc(DEDUP_SLOTS, sizeof(*ns->dedup));
    ns->recent = calloc(RECENT_SLOTS, sizeof(*ns->recent));
    ns->roam_entries = calloc(ROAM_ENTRIES, sizeof(*ns->roam_entries));
    ns->roam_ups = calloc(ROAM_UPS, sizeof(*ns->roam_ups));
    ns->sent = calloc(LAB_NS_SENT_MAX, sizeof(*ns->sent));
    if (ns->dedup == NULL || ns->recent == NULL || ns->roam_entries == NULL || ns->roam_ups == NULL ||
        ns->sent == NULL) {
        lab_ns_free(ns);
        return LAB_ERR_NOMEM;
    }
    ns->cfg = *cfg;
    ns->io = *io;
    ns->next_nwk_addr = 1;
    ns->state_fd = -1;
    *out = ns;
    return LAB_OK;
}

void lab_ns_free(lab_ns *ns)
{
    if (ns == NULL)
        return;
    lab_ns_state_close(ns);
    for (size_t i = 0; i < ns->n_sessions; i++)
        session_free(ns->sessions[i]);
    free(ns->sessions);
    free(ns->dedup);
    free(ns->recent);
    free(ns->roam_entries);
    free(ns->roam_ups);
    free(ns->sent);
    lab_ns_config_wipe(&ns->cfg);
    lw_secure_wipe(ns, sizeof(*ns));
    free(ns);
}

void lab_ns_stats_get(const lab_ns *ns, lab_ns_stats *out)
{
    *out = ns->stats;
    out->sessions = ns->n_sessions;
}

/* ---- sessions ------------------------------------------------------------ */

lab_session *lab_ns_session_by_dev_eui(lab_ns *ns, uint64_t dev_eui)
{
    lab_session *best = NULL;
    for (size_t i = 0; i < ns->n_sessions; i++) {
        lab_session *s = ns->sessions[i];
        if (s->dev_eui == dev_eui && (best == NULL || s->seq > best->seq))
            best = s;
    }
    return best;
}

/* Drops every other session of s's device: s has proved the device uses it. */
void lab_ns_session_promote(lab_ns *ns, const lab_session *s)
{
    size_t j = 0;
    for (size_t i = 0; i < ns->n_sessions; i++) {
        lab_session *o = ns->sessions[i];
        if (o != s && o->dev_eui == s->dev_eui)
            session_free(o);
        else
            ns->sessions[j++] = o;
    }
    ns->n_sessions = j;
}

lab_status lab_ns_session_add(lab_ns *ns, lab_session *s)
{
    if (ns->n_sessions == ns->cap_sessions) {
        size_t cap = ns->cap_sessions ? ns->cap_sessions * 2 : 64;
        lab_session **p = realloc(ns->sessions, cap * sizeof(*p));
        if (p == NULL)
            return LAB_ERR_NOMEM;
        ns->sessions = p;
        ns->cap_sessions = cap;
    }
    ns->sessions[ns->n_sessions++] = s;
    return LAB_OK;
}

uint32_t lab_ns_next_afcnt(const lab_session *s)
{
    return (s->v11 ? s->afcnt_down : s->nfcnt_down) + (uint32_t)s->queued;
}

unsigned lab_ns_max_payload(const lab_session *s)
{
    return lab_eu868_max_payload(s->last_dr);
}

lab_status lab_ns_enqueue(lab_session *s, uint8_t fport, uint32_t fcnt, bool confirmed, const uint8_t *payload,
                          size_t len)
{
    if (fport == 0 || fport > 223)
        return LAB_ERR_ARGUMENT;
    if (fcnt != lab_ns_next_afcnt(s))
        return LAB_ERR_FCNT;
    if (len > lab_ns_max_payload(s))
        return LAB_ERR_TOO_BIG;
    if (s->queued == LAB_NS_QUEUE_MAX)
        return LAB_ERR_BUFFER;
    queued_down *q = &s->queue[s->queued++];
    q->fport = fport;
    q->fcnt = fcnt;
    q->confirmed = confirmed;
    q->len = len;
    if (len)
        memcpy(q->payload, payload, len);
    return LAB_OK;
}

/* ---- sending ------------------------------------------------------------- */

void lab_ns_windows_of(const dedup_slot *up, unsigned delay_s, unsigned rx2_max, lab_ns_windows *w)
{
    memset(w, 0, sizeof(*w));
    w->delay_s = delay_s;
    w->has_rx1 = true;
    w->f1 = up->best.freq;
    w->sf1 = up->best.sf;
    w->bw1 = up->best.bw;
    w->f2 = LAB_EU868_RX2_FREQ;
    if (lab_eu868_dr_params(LAB_EU868_RX2_DR, &w->sf2, &w->bw2) != LAB_OK) {
        w->sf2 = 12; /* cannot happen: DR0 is SF12BW125 */
        w->bw2 = 125;
    }
    w->rx2_max = rx2_max;
}

/* Sends tx as a PULL_RESP to gateway gw; *token gets its token. */
static lab_status send_txpk(lab_ns *ns, uint64_t gw, const lab_txpk *tx, uint16_t *token)
{
    char json[1024];
    size_t jn = 0;
    lab_status st = lab_udp_txpk_build(tx, json, sizeof(json), &jn);
    if (st != LAB_OK)
        return st;
    lab_udp_packet p = {.token = ++ns->down_token, .type = LAB_UDP_PULL_RESP, .json = (const uint8_t *)json,
                        .json_len = jn};
    uint8_t d[1100];
    size_t dn = 0;
    st = lab_udp_encode(&p, d, sizeof(d), &dn);
    if (st != LAB_OK)
        return st;
    ns->io.send(ns->io.user, gw, d, dn);
    *token = p.token;
    return LAB_OK;
}

/* Simulated clock: tells gateway gw that its uplink of tmst gets no
 * downlink (lab_udp.h, txnone). */
static void send_none(lab_ns *ns, uint64_t gw, uint32_t tmst, bool wait)
{
    char json[64];
    size_t jn = 0;
    uint8_t d[128];
    size_t dn = 0;
    if (lab_udp_txnone_build(tmst, wait, json, sizeof(json), &jn) != LAB_OK)
        return;
    lab_udp_packet p = {.token = ++ns->down_token, .type = LAB_UDP_PULL_RESP, .json = (const uint8_t *)json,
                        .json_len = jn};
    if (lab_udp_encode(&p, d, sizeof(d), &dn) != LAB_OK)
        return;
    ns->io.send(ns->io.user, gw, d, dn);
    ns->stats.no_downlink++;
}

lab_status lab_ns_send_radio(lab_ns *ns, const dedup_slot *up, const lab_ns_windows *w, uint64_t now_ms,
                             const uint8_t *phy, size_t len, bool *rx2)
{
    lab_txpk tx;
    memset(&tx, 0, sizeof(tx));
    /* Under the simulated clock the servers' own time is not on the air's
     * clock: RX1 is always still ahead (docs/lab-ns.md, "Simulated time"). */
    bool sim = ns->cfg.clock == LAB_CLOCK_SIMULATED;
    uint64_t elapsed = now_ms > up->first_ms ? now_ms - up->first_ms : 0;
    bool rx1 = w->has_rx1 && (sim || elapsed + RX_MARGIN_MS < (uint64_t)w->delay_s * 1000);
    tx.powe = ns->cfg.tx_power;
    strcpy(tx.codr, "4/5");
    tx.ipol = true;
    tx.size = len;
    memcpy(tx.data, phy, len);
    lab_txpk second = tx;
    second.tmst = up->best.tmst + (w->delay_s + 1) * 1000000u;
    second.freq = w->f2;
    second.sf = w->sf2;
    second.bw = w->bw2;
    if (rx1) {
        tx.tmst = up->best.tmst + w->delay_s * 1000000u;
        tx.freq = w->f1;
        tx.sf = w->sf1;
        tx.bw = w->bw1;
    } else {
        if ((!sim && elapsed + RX_MARGIN_MS >= (uint64_t)(w->delay_s + 1) * 1000) || len > w->rx2_max)
            return LAB_ERR_IO;
        tx = second;
    }
    if (rx2 != NULL)
        *rx2 = !rx1;
    uint16_t token = 0;
    lab_status st = send_txpk(ns, up->best_gw, &tx, &token);
    if (st != LAB_OK)
        return st;
    ns->answered = true;
    if (sim) {
        /* kept at its token's slot: the TX_ACK finds it at once, and only a
         * downlink LAB_NS_SENT_MAX PULL_RESPs older, still unacknowledged,
         * is ever forgotten (counted) */
        sent_down *sd = &ns->sent[token % LAB_NS_SENT_MAX];
        if (sd->used)
            ns->stats.sent_forgotten++;
        *sd = (sent_down){.used = true, .rx2_ok = rx1 && len <= w->rx2_max, .token = token, .gw = up->best_gw,
                          .up_tmst = up->best.tmst, .rx2 = second, .has_q = ns->sending_q != NULL,
                          .dev_eui = ns->sending_dev_eui};
        if (ns->sending_q != NULL)
            sd->q = *ns->sending_q;
    }
    return LAB_OK;
}

/* Simulated clock: an application downlink that no window took goes back
 * to the head of its queue with its counter, as an NS that dequeues on a
 * positive TX_ACK would keep it (the device never saw that counter). */
static void requeue(lab_ns *ns, const sent_down *sd)
{
    lab_session *s = sd->has_q ? lab_ns_session_by_dev_eui(ns, sd->dev_eui) : NULL;
    if (s == NULL || s->queued == LAB_NS_QUEUE_MAX)
        return;
    uint32_t *next = s->v11 ? &s->afcnt_down : &s->nfcnt_down;
    if (*next != sd->q.fcnt + 1)
        return; /* another downlink went since: the counter is spent */
    memmove(&s->queue[1], &s->queue[0], s->queued * sizeof(s->queue[0]));
    s->queue[0] = sd->q;
    s->queued++;
    *next = sd->q.fcnt;
    if (sd->q.confirmed)
        s->conf_down_pending = false;
    ns->stats.requeued++;
}

/* Simulated clock: the TX_ACK of a downlink. A refused RX1 is sent again
 * for RX2; a refused RX2 (or an RX1 that RX2 cannot carry) gets the "no
 * downlink" notice, so the gateway's device stops listening. */
static void sim_tx_ack(lab_ns *ns, uint64_t gw, uint16_t token, bool refused)
{
    sent_down *sd = &ns->sent[token % LAB_NS_SENT_MAX];
    if (!sd->used || sd->token != token || sd->gw != gw)
        return;
    if (!refused) {
        lw_secure_wipe(sd, sizeof(*sd));
        return;
    }
    uint16_t t2 = 0;
    if (sd->rx2_ok && send_txpk(ns, gw, &sd->rx2, &t2) == LAB_OK) {
        ns->stats.rx2_retries++;
        /* the retry's TX_ACK comes back with its own token: the entry moves there */
        sent_down *to = &ns->sent[t2 % LAB_NS_SENT_MAX];
        if (to != sd) {
            if (to->used)
                ns->stats.sent_forgotten++;
            *to = *sd;
            lw_secure_wipe(sd, sizeof(*sd));
        }
        to->token = t2;
        to->rx2_ok = false;
        return;
    }
    sd->used = false;
    requeue(ns, sd);
    send_none(ns, gw, sd->up_tmst, false);
    lw_secure_wipe(sd, sizeof(*sd));
}

/* Sends phy[len] as the answer to `up`, for the window `delay_s` after it
 * (RX1), or RX2 when that is too late: through the gateway that heard it
 * best, or, when a roaming partner heard it, back to that partner.
 * Returns LAB_ERR_IO when even RX2 has passed. */
static lab_status send_down(lab_ns *ns, const dedup_slot *up, uint64_t dev_eui, unsigned delay_s, uint64_t now_ms,
                            const uint8_t *phy, size_t len, unsigned rx2_max)
{
    if (up->roam != NULL)
        return lab_ns_roam_down(ns, up, dev_eui, delay_s, phy, len);
    lab_ns_windows w;
    lab_ns_windows_of(up, delay_s, rx2_max, &w);
    return lab_ns_send_radio(ns, up, &w, now_ms, phy, len, NULL);
}

/* ---- joins --------------------------------------------------------------- */

static lab_status unwrap(lab_ns *ns, const bi_key_envelope *env, lw_key *out)
{
    if (!env->present || env->clear || env->aes_key_len != BI_WRAPPED_KEY_LEN ||
        strcmp(env->kek_label, ns->cfg.kek_label) != 0)
        return LAB_ERR_CRYPTO;
    return lw_key_unwrap(lw_crypto_software(), &ns->cfg.kek, env->aes_key, env->aes_key_len, out) == LW_OK
               ? LAB_OK
               : LAB_ERR_CRYPTO;
}

static lab_status session_from_answer(lab_ns *ns, const bi_join_ans *ans, lab_session *s)
{
    lab_status st;
    s->v11 = ans->f_nwk_s_int_key.present;
    if (s->v11) {
        st = unwrap(ns, &ans->f_nwk_s_int_key, &s->f_nwk_s_int_key);
        if (st == LAB_OK)
            st = unwrap(ns, &ans->s_nwk_s_int_key, &s->s_nwk_s_int_key);
        if (st == LAB_OK)
            st = unwrap(ns, &ans->nwk_s_enc_key, &s->nwk_s_enc_key);
    } else {
        st = unwrap(ns, &ans->nwk_s_key, &s->f_nwk_s_int_key);
        s->s_nwk_s_int_key = s->f_nwk_s_int_key;
        s->nwk_s_enc_key = s->f_nwk_s_int_key;
    }
    s->app_s_key = ans->app_s_key;
    s->session_key_id_len = ans->session_key_id_len;
    memcpy(s->session_key_id, ans->session_key_id, ans->session_key_id_len);
    return st;
}

void lab_ns_join_outcome_free(lab_join_outcome *out)
{
    if (out == NULL)
        return;
    session_free(out->session);
    lw_secure_wipe(out, sizeof(*out));
}

lab_status lab_ns_join_run(lab_ns *ns, const dedup_slot *up, const lw_join_request *jr, const lab_ns_route *route,
                           lab_join_outcome *out)
{
    memset(out, 0, sizeof(*out));
    out->code = BI_RESULT_JOIN_REQ_FAILED;
    if (ns->io.js_post == NULL || route == NULL) {
        ns->stats.joins_refused++;
        snprintf(out->why, sizeof(out->why), "no Join Server client");
        return LAB_ERR_JOIN;
    }
    /* Type 0 NetID layout: NwkID = the NetID's low 6 bits, 25-bit NwkAddr. */
    uint32_t dev_addr = ((ns->cfg.net_id & 0x3Fu) << 25) | (ns->next_nwk_addr & 0x1FFFFFFu);
    lab_join_req_params p = {
        .version = ns->cfg.bi_version, .net_id = ns->cfg.net_id, .nsid = ns->cfg.nsid, .join_eui = jr->join_eui,
        .transaction_id = ++ns->transaction_id, .mac_version = ns->cfg.mac_version, .phy = up->phy,
        .phy_len = up->len, .dev_eui = jr->dev_eui, .dev_addr = dev_addr, .dl_settings = 0,
        .rx_delay = ns->cfg.rx_delay,
    };
    char body[2048];
    size_t blen = 0;
    char *answer = malloc(LAB_NS_ANSWER_MAX);
    lab_session *s = calloc(1, sizeof(*s));
    bi_join_ans ans;
    memset(&ans, 0, sizeof(ans));
    const char *why = NULL;
    lab_status st = (answer == NULL || s == NULL) ? LAB_ERR_NOMEM : lab_bi_join_req_build(&p, body, sizeof(body), &blen);
    size_t alen = 0;
    if (st == LAB_OK && (st = ns->io.js_post(ns->io.user, route, body, blen, answer, LAB_NS_ANSWER_MAX, &alen)) != LAB_OK)
        why = "Join Server unreachable or not HTTP 200";
    if (st == LAB_OK && (st = lab_bi_join_ans_parse(answer, alen, jr->join_eui, ns->cfg.net_id, p.transaction_id,
                                                    &ans)) != LAB_OK)
        why = "JoinAns malformed";
    if (st == LAB_OK && ans.result.code != BI_RESULT_SUCCESS) {
        st = LAB_ERR_JOIN;
        ns->stats.joins_refused++;
        out->code = ans.result.code;
        snprintf(out->why, sizeof(out->why), "Join Server answered %s%s%s",
                 bi_result_code_name(ans.result.code, BI_VERSION_1_1), ans.result.description[0] ? ": " : "",
                 ans.result.description);
        lab_ns_log(ns, "join refused", jr->dev_eui, "%s", out->why);
    } else if (st == LAB_OK && (st = session_from_answer(ns, &ans, s)) != LAB_OK) {
        why = "session keys did not unwrap under this NS's KEK";
    }
    if (st == LAB_OK) {
        s->dev_eui = jr->dev_eui;
        s->join_eui = jr->join_eui;
        s->dev_addr = dev_addr;
        s->seq = ++ns->session_seq;
        if (lab_eu868_dr(up->best.sf, up->best.bw, &s->last_dr) != LAB_OK)
            s->last_dr = 0;
        memcpy(out->accept, ans.phy_payload, ans.phy_payload_len);
        out->accept_len = ans.phy_payload_len;
        out->dev_addr = dev_addr;
        out->session = s;
        s = NULL;
    } else if (why != NULL) {
        ns->stats.joins_refused++;
        snprintf(out->why, sizeof(out->why), "%s (%s)", why, lab_strerror(st));
        lab_ns_log(ns, "join failed", jr->dev_eui, "%s", out->why);
    }
    lab_bi_join_ans_wipe(&ans);
    session_free(s);
    free(answer);
    return st;
}

lab_status lab_ns_join_commit(lab_ns *ns, lab_join_outcome *out)
{
    if (out->session == NULL)
        return LAB_ERR_ARGUMENT;
    lab_status st = lab_ns_session_add(ns, out->session);
    if (st != LAB_OK)
        return st;
    lab_session *s = out->session;
    out->session = NULL;
    ns->next_nwk_addr++;
    ns->stats.joins++;
    lab_ns_state_session(ns, s);
    lab_ns_log(ns, "join", s->dev_eui, "DevAddr %08X, LoRaWAN %s session", (unsigned)s->dev_addr,
               s->v11 ? "1.1" : "1.0.x");
    return LAB_OK;
}

static void handle_join(lab_ns *ns, const dedup_slot *up, const lw_join_request *jr, uint64_t now_ms)
{
    const lab_ns_route *route = lab_ns_route_find(&ns->cfg, jr->join_eui);
    if (route == NULL) {
        if (lab_ns_roam_join(ns, up, jr, now_ms))
            return;
        ns->stats.no_route++;
        ns->stats.joins_refused++;
        lab_ns_log(ns, "join refused", jr->dev_eui, "no Join Server route for JoinEUI %016llX",
                   (unsigned long long)jr->join_eui);
        return;
    }
    lab_join_outcome o;
    if (lab_ns_join_run(ns, up, jr, route, &o) == LAB_OK) {
        lab_status st = send_down(ns, up, jr->dev_eui, LAB_JOIN_ACCEPT_DELAY1_S, now_ms, o.accept, o.accept_len, 51);
        if (st == LAB_OK)
            st = lab_ns_join_commit(ns, &o);
        if (st == LAB_OK) {
            ns->stats.join_accepts++;
        } else {
            ns->stats.joins_refused++;
            lab_ns_log(ns, "join failed", jr->dev_eui, "%s (%s)",
                       st == LAB_ERR_IO ? "join-accept too late for RX1 and RX2" : "session not kept",
                       lab_strerror(st));
        }
    }
    lab_ns_join_outcome_free(&o);
}

/* ---- data ---------------------------------------------------------------- */

static lab_status data_mic(const lab_session *s, const dedup_slot *up, const lw_frame *f, uint32_t fcnt,
                           uint8_t mic[LW_MIC_LEN])
{
    lw_data_mic_params mp = {.dev_addr = f->u.data.dev_addr, .fcnt = fcnt};
    const lw_crypto *c = lw_crypto_software();
    lw_status ls;
    if (s->v11) {
        mp.conf_fcnt = (uint16_t)s->conf_down_fcnt;
        if (lab_eu868_dr(up->best.sf, up->best.bw, &mp.tx_dr) != LAB_OK)
            return LAB_ERR_FORMAT;
        mp.tx_ch = lab_eu868_channel(up->best.freq);
        ls = lw_mic_data_up_11(c, &s->s_nwk_s_int_key, &s->f_nwk_s_int_key, &mp, up->phy, up->len - LW_MIC_LEN, mic);
    } else {
        ls = lw_mic_data_10(c, &s->f_nwk_s_int_key, &mp, up->phy, up->len - LW_MIC_LEN, mic);
    }
    return ls == LW_OK ? LAB_OK : LAB_ERR_CRYPTO;
}

static bool mic_ok(const lab_session *s, const dedup_slot *up, const lw_frame *f, uint32_t fcnt)
{
    uint8_t mic[LW_MIC_LEN];
    return data_mic(s, up, f, fcnt, mic) == LAB_OK && lw_mic_equal(mic, f->mic);
}

/* Finds the session and the full 32-bit FCnt of a data uplink.
 * LAB_ERR_UNKNOWN, LAB_ERR_REPLAY or LAB_ERR_MIC. */
static lab_status match_session(lab_ns *ns, const dedup_slot *up, const lw_frame *f, lab_session **out,
                                uint32_t *fcnt)
{
    lab_status st = LAB_ERR_UNKNOWN;
    for (size_t i = 0; i < ns->n_sessions; i++) {
        lab_session *s = ns->sessions[i];
        if (s->dev_addr != f->u.data.dev_addr)
            continue;
        uint32_t c = (s->fcnt_up_next & 0xFFFF0000u) | f->u.data.fcnt;
        if (s->has_up && c < s->fcnt_up_next) {
            /* Behind the counter: a replay if it verifies as the old value,
             * else the 16-bit wire counter has rolled over. */
            if (mic_ok(s, up, f, c)) {
                st = LAB_ERR_REPLAY;
                continue;
            }
            if (c > UINT32_MAX - 0x10000u) {
                st = LAB_ERR_REPLAY; /* the 32-bit counter is exhausted */
                continue;
            }
            c += 0x10000u;
        }
        if (mic_ok(s, up, f, c)) {
            *out = s;
            *fcnt = c;
            return LAB_OK;
        }
        /* Ahead in the same 64 Ki block is ambiguous with a replay from the
         * block before: the MIC tells which. */
        if (s->has_up && c >= 0x10000u && c - 0x10000u < s->fcnt_up_next && mic_ok(s, up, f, c - 0x10000u)) {
            st = LAB_ERR_REPLAY;
            continue;
        }
        if (st == LAB_ERR_UNKNOWN)
            st = LAB_ERR_MIC;
    }
    return st;
}

/* Builds and sends the class A answer to an uplink of `s`, when there is
 * anything to say: a queued application downlink, MAC answers, or the ACK
 * of a confirmed uplink. */
static void answer_uplink(lab_ns *ns, lab_session *s, const dedup_slot *up, bool ack, uint32_t up_fcnt,
                          const uint8_t *mac, size_t mac_len, uint64_t now_ms)
{
    queued_down *q = s->queued ? &s->queue[0] : NULL;
    if (q == NULL && mac_len == 0 && !ack)
        return;
    lw_frame f;
    memset(&f, 0, sizeof(f));
    f.mtype = (q != NULL && q->confirmed) ? LW_MTYPE_CONFIRMED_DATA_DOWN : LW_MTYPE_UNCONFIRMED_DATA_DOWN;
    lw_data_frame *d = &f.u.data;
    d->dev_addr = s->dev_addr;
    d->fctrl.ack = ack;
    d->fctrl.f_pending = s->queued > 1;
    uint32_t fcnt = q != NULL ? q->fcnt : s->nfcnt_down;
    d->fcnt = (uint16_t)fcnt;
    uint8_t fopts[LW_FOPTS_MAX];
    if (mac_len > LW_FOPTS_MAX)
        mac_len = 0; /* cannot happen: lab_mac_uplink was given 15 bytes */
    memcpy(fopts, mac, mac_len);
    const lw_crypto *c = lw_crypto_software();
    bool ok = true;
    if (s->v11 && mac_len)
        ok = lw_fopts_crypt_11(c, &s->nwk_s_enc_key, false, q != NULL, s->dev_addr, fcnt, fopts, mac_len, fopts) ==
             LW_OK;
    d->fctrl.fopts_len = (uint8_t)mac_len;
    d->fopts = fopts;
    if (q != NULL) {
        d->has_fport = true;
        d->fport = q->fport;
        d->frm_payload = q->payload;
        d->frm_payload_len = q->len;
    }
    uint8_t phy[LW_PHY_MAX];
    size_t len = 0;
    uint8_t mic[LW_MIC_LEN];
    lw_data_mic_params mp = {.dev_addr = s->dev_addr, .fcnt = fcnt, .conf_fcnt = (uint16_t)up_fcnt};
    ok = ok && lw_frame_encode(&f, phy, sizeof(phy), &len) == LW_OK;
    if (ok)
        ok = (s->v11 ? lw_mic_data_down_11(c, &s->s_nwk_s_int_key, &mp, phy, len - LW_MIC_LEN, mic)
                     : lw_mic_data_10(c, &s->f_nwk_s_int_key, &mp, phy, len - LW_MIC_LEN, mic)) == LW_OK &&
             lw_frame_set_mic(phy, len, mic) == LW_OK;
    lw_secure_wipe(fopts, sizeof(fopts));
    if (!ok) {
        lab_ns_log(ns, "downlink failed", s->dev_eui, "could not build the frame");
        return;
    }
    ns->sending_q = q;
    ns->sending_dev_eui = s->dev_eui;
    lab_status sst = send_down(ns, up, s->dev_eui, ns->cfg.rx_delay, now_ms, phy, len,
                               lab_eu868_max_payload(LAB_EU868_RX2_DR));
    ns->sending_q = NULL;
    if (sst != LAB_OK) {
        lab_ns_log(ns, "downlink late", s->dev_eui, "RX1 and RX2 passed; kept for the next uplink");
        return;
    }
    /* Sent: the counter is spent, the queue moves on. */
    if (q != NULL) {
        if (s->v11)
            s->afcnt_down = fcnt + 1;
        else
            s->nfcnt_down = fcnt + 1;
        if (q->confirmed) {
            s->conf_down_pending = true;
            s->conf_down_fcnt = fcnt;
        }
        memmove(&s->queue[0], &s->queue[1], (s->queued - 1) * sizeof(s->queue[0]));
        s->queued--;
        lw_secure_wipe(&s->queue[s->queued], sizeof(s->queue[0]));
    } else {
        s->nfcnt_down = fcnt + 1;
    }
    ns->stats.downlinks++;
    lab_ns_log(ns, "downlink", s->dev_eui, "FCnt %u%s", (unsigned)fcnt, q != NULL ? ", application" : ", MAC only");
}

lab_status lab_ns_data_up(lab_ns *ns, const dedup_slot *up, const lw_frame *f, uint64_t now_ms)
{
    ns->stats.data_up++;
    lab_session *s = NULL;
    uint32_t fcnt = 0;
    lab_status st = match_session(ns, up, f, &s, &fcnt);
    if (st != LAB_OK) {
        if (st == LAB_ERR_REPLAY)
            ns->stats.replays++;
        else if (st == LAB_ERR_MIC)
            ns->stats.mic_failures++;
        else
            ns->stats.unknown_dev_addr++;
        lab_ns_log(ns, st == LAB_ERR_REPLAY ? "replay" : st == LAB_ERR_MIC ? "mic failed" : "unknown devaddr", 0,
                   "DevAddr %08X FCnt %u: %s", (unsigned)f->u.data.dev_addr, (unsigned)f->u.data.fcnt,
                   lab_strerror(st));
        return st;
    }
    s->has_up = true;
    s->fcnt_up_next = fcnt + 1;
    if (lab_eu868_dr(up->best.sf, up->best.bw, &s->last_dr) != LAB_OK)
        s->last_dr = 0;
    lab_ns_session_promote(ns, s);
    const lw_data_frame *d = &f->u.data;
    if (d->fctrl.ack)
        s->conf_down_pending = false;

    /* MAC commands: FOpts (encrypted in 1.1), or FRMPayload on FPort 0. */
    uint8_t cmds[LW_PHY_MAX];
    size_t ncmd = 0;
    const lw_crypto *c = lw_crypto_software();
    if (d->has_fport && d->fport == 0 && d->frm_payload_len) {
        if (lw_frm_payload_crypt(c, &s->nwk_s_enc_key, true, d->dev_addr, fcnt, d->frm_payload, d->frm_payload_len,
                                 cmds) == LW_OK)
            ncmd = d->frm_payload_len;
    } else if (d->fctrl.fopts_len) {
        ncmd = d->fctrl.fopts_len;
        if (s->v11) {
            if (lw_fopts_crypt_11(c, &s->nwk_s_enc_key, true, false, d->dev_addr, fcnt, d->fopts, ncmd, cmds) != LW_OK)
                ncmd = 0;
        } else {
            memcpy(cmds, d->fopts, ncmd);
        }
    }
    uint8_t answers[LW_FOPTS_MAX];
    size_t nans = 0;
    lab_mac_link link = {.snr = up->best.lsnr, .sf = up->best.sf, .gw_count = up->gw_count, .v11 = s->v11,
                         .gps_time_ms = now_ms - GPS_EPOCH_UNIX_MS + GPS_LEAP_S * 1000ULL};
    lab_mac_report rep;
    if (ncmd && lab_mac_uplink(cmds, ncmd, &link, answers, sizeof(answers), &nans, &rep) == LAB_OK && rep.dev_status)
        lab_ns_log(ns, "dev status", s->dev_eui, "battery %u margin %d", rep.battery, rep.margin);
    lw_secure_wipe(cmds, sizeof(cmds));

    if (d->has_fport && d->fport > 0)
        lab_ns_forward_uplink(ns, s, up->phy, up->len, fcnt, now_ms);
    bool confirmed = f->mtype == LW_MTYPE_CONFIRMED_DATA_UP;
    answer_uplink(ns, s, up, confirmed, fcnt, answers, nans, now_ms);
    /* after the answer: its downlink counter is spent too */
    lab_ns_state_counters(ns, s);
    return LAB_OK;
}

static void handle_data(lab_ns *ns, const dedup_slot *up, const lw_frame *f, uint64_t now_ms)
{
    if (lab_ns_roam_data(ns, up, f, now_ms)) {
        ns->deferred = true;
        return;
    }
    (void)lab_ns_data_up(ns, up, f, now_ms); /* refusals are counted and logged there */
}

/* ---- datagrams, de-duplication -------------------------------------------- */

static void process(lab_ns *ns, dedup_slot *up, uint64_t now_ms)
{
    ns->stats.uplinks++;
    recent_slot *r = &ns->recent[ns->recent_next];
    ns->recent_next = (ns->recent_next + 1) % RECENT_SLOTS;
    r->at_ms = now_ms;
    r->len = up->len;
    memcpy(r->phy, up->phy, up->len);
    ns->answered = ns->deferred = false;
    lw_frame f;
    if (lw_frame_decode(up->phy, up->len, &f) != LW_OK)
        lab_ns_log(ns, "bad frame", 0, "%zu bytes that are not a LoRaWAN frame", up->len);
    else if (f.mtype == LW_MTYPE_JOIN_REQUEST)
        handle_join(ns, up, &f.u.join_request, now_ms);
    else if (f.mtype == LW_MTYPE_UNCONFIRMED_DATA_UP || f.mtype == LW_MTYPE_CONFIRMED_DATA_UP)
        handle_data(ns, up, &f, now_ms);
    else
        lab_ns_log(ns, "ignored", 0, "%s not handled by this NS", lw_mtype_name(f.mtype));
    /* Simulated clock: an uplink that got nothing is said so, so that the
     * simulator need not wait for its RX2; a roamed one is answered, or
     * not, by its home network later, which the "wait" notice says. */
    if (ns->cfg.clock == LAB_CLOCK_SIMULATED && !ns->answered && up->roam == NULL)
        send_none(ns, up->best_gw, up->best.tmst, ns->deferred);
}

static void take_rxpk(lab_ns *ns, uint64_t now_ms, uint64_t gw, const lab_rxpk *pk)
{
    if (pk->stat != 1 || !pk->lora || pk->size == 0)
        return;
    dedup_slot *free_slot = NULL;
    for (size_t i = 0; i < DEDUP_SLOTS; i++) {
        dedup_slot *s = &ns->dedup[i];
        if (!s->used) {
            if (free_slot == NULL)
                free_slot = s;
            continue;
        }
        if (s->len == pk->size && memcmp(s->phy, pk->data, pk->size) == 0) {
            s->gw_count++;
            ns->stats.duplicates++;
            if (pk->lsnr > s->best.lsnr || (pk->lsnr == s->best.lsnr && pk->rssi > s->best.rssi)) {
                s->best = *pk;
                s->best_gw = gw;
            }
            return;
        }
    }
    for (size_t i = 0; i < RECENT_SLOTS; i++) {
        recent_slot *r = &ns->recent[i];
        if (r->len == pk->size && now_ms - r->at_ms < ns->cfg.late_ms && memcmp(r->phy, pk->data, pk->size) == 0) {
            ns->stats.duplicates++; /* a copy arriving after its window: already handled */
            return;
        }
    }
    if (free_slot == NULL) {
        lab_ns_log(ns, "overload", 0, "de-duplication buffer full; uplink dropped");
        return;
    }
    memset(free_slot, 0, sizeof(*free_slot));
    free_slot->used = true;
    free_slot->first_ms = now_ms;
    free_slot->len = pk->size;
    memcpy(free_slot->phy, pk->data, pk->size);
    free_slot->best = *pk;
    free_slot->best_gw = gw;
    free_slot->gw_count = 1;
}

lab_status lab_ns_datagram(lab_ns *ns, uint64_t now_ms, const uint8_t *d, size_t len, uint8_t *reply, size_t cap,
                           size_t *reply_len, uint64_t *gateway_eui, bool *pull)
{
    if (ns == NULL || d == NULL || reply == NULL || reply_len == NULL || gateway_eui == NULL || pull == NULL)
        return LAB_ERR_ARGUMENT;
    *reply_len = 0;
    *gateway_eui = 0;
    *pull = false;
    ns->stats.datagrams++;
    lab_udp_packet p;
    lab_status st = lab_udp_decode(d, len, &p);
    if (st != LAB_OK) {
        ns->stats.bad_datagrams++;
        return st;
    }
    lab_udp_packet ack = {.token = p.token};
    switch (p.type) {
    case LAB_UDP_PUSH_DATA: {
        lab_rxpk *pk = calloc(LAB_UDP_RXPK_MAX, sizeof(*pk));
        size_t n = 0;
        if (pk == NULL)
            return LAB_ERR_NOMEM;
        st = lab_udp_rxpk_parse(p.json, p.json_len, pk, LAB_UDP_RXPK_MAX, &n);
        if (st == LAB_OK) {
            for (size_t i = 0; i < n; i++)
                take_rxpk(ns, now_ms, p.gateway_eui, &pk[i]);
        } else {
            ns->stats.bad_datagrams++;
        }
        free(pk);
        /* Acknowledged even when the JSON is bad: the datagram arrived, and a
         * retransmission would not be better. */
        ack.type = LAB_UDP_PUSH_ACK;
        *gateway_eui = p.gateway_eui;
        lab_status e = lab_udp_encode(&ack, reply, cap, reply_len);
        return st != LAB_OK ? st : e;
    }
    case LAB_UDP_PULL_DATA:
        ack.type = LAB_UDP_PULL_ACK;
        *gateway_eui = p.gateway_eui;
        *pull = true;
        return lab_udp_encode(&ack, reply, cap, reply_len);
    case LAB_UDP_TX_ACK: {
        char err[32];
        *gateway_eui = p.gateway_eui;
        st = lab_udp_tx_ack_parse(p.json, p.json_len, err, sizeof(err));
        bool refused = st != LAB_OK || strcmp(err, "NONE") != 0;
        if (ns->cfg.clock == LAB_CLOCK_SIMULATED)
            sim_tx_ack(ns, p.gateway_eui, p.token, refused);
        if (refused) {
            ns->stats.tx_ack_errors++;
            lab_ns_log(ns, "tx refused", 0, "gateway %016llX: %s", (unsigned long long)p.gateway_eui,
                       st == LAB_OK ? err : "malformed TX_ACK");
        }
        return st;
    }
    default: /* acks and PULL_RESP go the other way */
        ns->stats.bad_datagrams++;
        return LAB_ERR_FORMAT;
    }
}

uint64_t lab_ns_tick(lab_ns *ns, uint64_t now_ms)
{
    uint64_t next = UINT64_MAX;
    for (size_t i = 0; i < DEDUP_SLOTS; i++) {
        dedup_slot *s = &ns->dedup[i];
        if (!s->used)
            continue;
        uint64_t due = s->first_ms + ns->cfg.dedup_ms;
        if (due <= now_ms) {
            process(ns, s, now_ms);
            s->used = false;
        } else if (due - now_ms < next) {
            next = due - now_ms;
        }
    }
    return next;
}

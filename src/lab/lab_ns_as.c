/*
 * lab_ns_as.c - the engine's NS-AS side (docs/ns-as.md): the uplink body it
 * posts to the application server, the Downlinks an answer may carry, the
 * POST /downlink handler, and GET /status.
 *
 * FRMPayload travels as received (encrypted with the AppSKey, which this NS
 * never holds) both ways. The session's AppSKey envelope from the JoinAns
 * (wrapped under the AS's KEK) rides along in each uplink as `AppSKey`, next
 * to `SessionKeyID`, so that an AS without a Backend Interfaces client can
 * still open the session.
 */
#include "lab/lab_ns_internal.h"
#include "lab/lab_bi.h"
#include "net/net_json.h"
#include "lorawan/lorawan.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int set_hex(json_t *o, const char *k, const uint8_t *b, size_t n)
{
    static const char digits[] = "0123456789ABCDEF";
    char text[2 * LW_PHY_MAX + 1];
    if (n > LW_PHY_MAX)
        return -1;
    for (size_t i = 0; i < n; i++) {
        text[2 * i] = digits[b[i] >> 4];
        text[2 * i + 1] = digits[b[i] & 15];
    }
    text[2 * n] = 0;
    return json_object_set_new(o, k, json_string(text));
}

static int set_be(json_t *o, const char *k, uint64_t v, unsigned digits)
{
    char text[17];
    snprintf(text, sizeof(text), "%0*llX", (int)digits, (unsigned long long)v);
    return json_object_set_new(o, k, json_string(text));
}

/* Queues one downlink object; LAB_OK or the reason it was refused. */
static lab_status queue_object(lab_ns *ns, json_t *o, lab_session **sess)
{
    json_t *eui = json_object_get(o, "DevEUI");
    json_t *port = json_object_get(o, "FPort");
    json_t *fcnt = json_object_get(o, "FCnt");
    json_t *pl = json_object_get(o, "FRMPayload");
    json_t *conf = json_object_get(o, "Confirmed");
    uint64_t dev_eui = 0;
    if (!json_is_object(o) || !json_is_string(eui) ||
        lab_hex_uint(json_string_value(eui), json_string_length(eui), 16, &dev_eui) != LAB_OK ||
        !json_is_integer(port) || json_integer_value(port) < 1 || json_integer_value(port) > 223 ||
        !json_is_integer(fcnt) || json_integer_value(fcnt) < 0 || json_integer_value(fcnt) > UINT32_MAX ||
        !json_is_string(pl) || (conf != NULL && !json_is_null(conf) && !json_is_boolean(conf)))
        return LAB_ERR_FORMAT;
    uint8_t payload[LW_PHY_MAX];
    size_t n = 0;
    if (json_string_length(pl) > 0 && lab_hex_parse(json_string_value(pl), json_string_length(pl), payload, 0,
                                                    LW_PHY_MAX, &n) != LAB_OK)
        return LAB_ERR_FORMAT;
    lab_session *s = lab_ns_session_by_dev_eui(ns, dev_eui);
    *sess = s;
    if (s == NULL)
        return LAB_ERR_UNKNOWN;
    return lab_ns_enqueue(s, (uint8_t)json_integer_value(port), (uint32_t)json_integer_value(fcnt), json_is_true(conf),
                          payload, n);
}

static int answer(char *out, size_t cap, json_t *o, int status)
{
    if (o == NULL || json_dumpb(o, NULL, 0, JSON_COMPACT) + 1 > cap) {
        json_decref(o);
        snprintf(out, cap, "{\"Error\":\"internal\"}");
        return 500;
    }
    size_t n = json_dumpb(o, out, cap, JSON_COMPACT);
    out[n] = 0;
    json_decref(o);
    return status;
}

int lab_ns_downlink_post(lab_ns *ns, const char *body, size_t len, char *out, size_t cap)
{
    json_t *root = NULL;
    char why[NET_ERR_MAX];
    lab_session *s = NULL;
    bool parsed = net_json_parse(body, len, 0, &root, why) == NET_OK;
    lab_status st = parsed && json_is_object(root) ? queue_object(ns, root, &s) : LAB_ERR_FORMAT;
    json_decref(root);
    json_t *o = json_object();
    int http;
    switch (st) {
    case LAB_OK:
        json_object_set_new(o, "Queued", json_true());
        http = 200;
        break;
    case LAB_ERR_FCNT:
        json_object_set_new(o, "Error", json_string("FCnt"));
        http = 409;
        break;
    case LAB_ERR_TOO_BIG:
        json_object_set_new(o, "Error", json_string("FRMPayload too large"));
        json_object_set_new(o, "MaxDownlinkPayload", json_integer(lab_ns_max_payload(s)));
        http = 413;
        break;
    case LAB_ERR_UNKNOWN:
        json_object_set_new(o, "Error", json_string("unknown DevEUI"));
        http = 404;
        break;
    case LAB_ERR_BUFFER:
        json_object_set_new(o, "Error", json_string("queue full"));
        http = 429;
        break;
    default:
        /* not JSON: the parser's reason (a byte, a key twice); else the fields */
        json_object_set_new(o, "Error", json_string(parsed ? "malformed downlink: DevEUI, FPort 1..223, FCnt, FRMPayload"
                                                          : why));
        http = 400;
        break;
    }
    if (s != NULL)
        json_object_set_new(o, "NextAFCntDown", json_integer(lab_ns_next_afcnt(s)));
    return answer(out, cap, o, http);
}

static void recv_time(uint64_t now_ms, char out[32])
{
    time_t t = (time_t)(now_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03uZ", (unsigned)(now_ms % 1000));
}

void lab_ns_forward_uplink(lab_ns *ns, lab_session *s, const uint8_t *phy, size_t phy_len, uint32_t fcnt,
                           uint64_t now_ms)
{
    if (ns->io.as_post == NULL)
        return;
    lw_frame f;
    if (lw_frame_decode(phy, phy_len, &f) != LW_OK)
        return;
    const lw_data_frame *d = &f.u.data;
    json_t *o = json_object();
    char when[32];
    recv_time(now_ms, when);
    int e = o == NULL ? -1 : 0;
    e |= set_be(o, "DevEUI", s->dev_eui, 16);
    e |= set_be(o, "DevAddr", s->dev_addr, 8);
    if (s->session_key_id_len)
        e |= set_hex(o, "SessionKeyID", s->session_key_id, s->session_key_id_len);
    if (s->app_s_key.present) {
        json_t *env = json_object();
        e |= json_object_set_new(o, "AppSKey", env);
        e |= json_object_set_new(env, "KEKLabel", json_string(s->app_s_key.kek_label));
        e |= set_hex(env, "AESKey", s->app_s_key.aes_key, s->app_s_key.aes_key_len);
    }
    e |= json_object_set_new(o, "FCnt", json_integer(fcnt));
    e |= json_object_set_new(o, "FPort", json_integer(d->fport));
    e |= set_hex(o, "FRMPayload", d->frm_payload, d->frm_payload_len);
    e |= json_object_set_new(o, "Confirmed", json_boolean(f.mtype == LW_MTYPE_CONFIRMED_DATA_UP));
    e |= json_object_set_new(o, "DR", json_integer(s->last_dr));
    e |= json_object_set_new(o, "MaxDownlinkPayload", json_integer(lab_ns_max_payload(s)));
    e |= json_object_set_new(o, "NextAFCntDown", json_integer(lab_ns_next_afcnt(s)));
    e |= json_object_set_new(o, "DownlinkQueued", json_integer((json_int_t)s->queued));
    e |= json_object_set_new(o, "RecvTime", json_string(when));
    char body[2048];
    size_t blen = e == 0 ? json_dumpb(o, body, sizeof(body), JSON_COMPACT) : 0;
    json_decref(o);
    char *ans = malloc(LAB_NS_ANSWER_MAX);
    size_t alen = 0;
    lab_status st = (blen == 0 || blen >= sizeof(body) || ans == NULL)
                        ? LAB_ERR_NOMEM
                        : ns->io.as_post(ns->io.user, body, blen, ans, LAB_NS_ANSWER_MAX, &alen);
    if (st != LAB_OK) {
        ns->stats.as_errors++;
        lab_ns_log(ns, "as error", s->dev_eui, "uplink FCnt %u not delivered: %s", (unsigned)fcnt, lab_strerror(st));
        free(ans);
        return;
    }
    ns->stats.forwarded++;
    json_error_t je;
    json_t *root = alen ? json_loadb(ans, alen, JSON_REJECT_DUPLICATES, &je) : NULL;
    free(ans);
    json_t *list = json_object_get(root, "Downlinks");
    for (size_t i = 0; json_is_array(list) && i < json_array_size(list); i++) {
        lab_session *ds = NULL;
        lab_status q = queue_object(ns, json_array_get(list, i), &ds);
        if (q != LAB_OK)
            lab_ns_log(ns, "downlink refused", s->dev_eui, "Downlinks[%zu] in the AS answer: %s", i,
                       lab_strerror(q));
    }
    json_decref(root);
}

lab_status lab_ns_stats_json(const lab_ns *ns, char *out, size_t cap)
{
    lab_ns_stats s;
    lab_ns_stats_get(ns, &s);
    int n = snprintf(out, cap,
                     "{\"datagrams\":%llu,\"bad_datagrams\":%llu,\"uplinks\":%llu,\"duplicates\":%llu,"
                     "\"joins\":%llu,\"joins_refused\":%llu,\"no_route\":%llu,\"data_up\":%llu,"
                     "\"mic_failures\":%llu,\"replays\":%llu,\"unknown_dev_addr\":%llu,\"forwarded\":%llu,"
                     "\"as_errors\":%llu,\"downlinks\":%llu,\"join_accepts\":%llu,\"tx_ack_errors\":%llu,"
                     "\"sessions\":%llu,\"roam_joins\":%llu,\"roam_refused\":%llu,\"roam_up\":%llu,"
                     "\"roam_down\":%llu,\"pr_start\":%llu,\"xmit_up\":%llu,\"xmit_down\":%llu,"
                     "\"roam_errors\":%llu,\"state_sessions_loaded\":%llu,\"state_write_failures\":%llu,"
                     "\"no_downlink\":%llu,\"rx2_retries\":%llu,\"sent_forgotten\":%llu}",
                     (unsigned long long)s.datagrams, (unsigned long long)s.bad_datagrams,
                     (unsigned long long)s.uplinks, (unsigned long long)s.duplicates, (unsigned long long)s.joins,
                     (unsigned long long)s.joins_refused, (unsigned long long)s.no_route,
                     (unsigned long long)s.data_up, (unsigned long long)s.mic_failures,
                     (unsigned long long)s.replays, (unsigned long long)s.unknown_dev_addr,
                     (unsigned long long)s.forwarded, (unsigned long long)s.as_errors,
                     (unsigned long long)s.downlinks, (unsigned long long)s.join_accepts,
                     (unsigned long long)s.tx_ack_errors, (unsigned long long)s.sessions,
                     (unsigned long long)s.roam_joins, (unsigned long long)s.roam_refused,
                     (unsigned long long)s.roam_up, (unsigned long long)s.roam_down, (unsigned long long)s.pr_start,
                     (unsigned long long)s.xmit_up, (unsigned long long)s.xmit_down,
                     (unsigned long long)s.roam_errors, (unsigned long long)s.state_sessions_loaded,
                     (unsigned long long)s.state_write_failures, (unsigned long long)s.no_downlink,
                     (unsigned long long)s.rx2_retries, (unsigned long long)s.sent_forgotten);
    return n > 0 && (size_t)n < cap ? LAB_OK : LAB_ERR_BUFFER;
}

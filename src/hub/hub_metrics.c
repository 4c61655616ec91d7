/*
 * hub_metrics.c - counters for GET /metrics (Prometheus text 0.0.4) and
 * the JSON log lines of the hub.
 *
 * Labels are message types, outcomes and result codes: bounded, and never
 * an operator's ID, a token or a body. Logs carry the IDs (they are who
 * talked to whom, which an operator of a hub must be able to audit) but
 * never a body, a header or a token.
 */
#include "hub/hub.h"
#include "net/net_log.h"
#include "net/net_text.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const double bucket_le[HUB_BUCKETS] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0};

void hub_metrics_observe(hub_ctx *ctx, const hub_reply *r, double seconds)
{
    (void)seconds;
    hub_metrics *m = &ctx->metrics;
    size_t t = r->has_type && (unsigned)r->type < BI_MSG_COUNT ? (size_t)r->type : BI_MSG_COUNT;
    size_t res = r->has_result && (unsigned)r->result < BI_RESULT_COUNT ? (size_t)r->result : BI_RESULT_COUNT;
    size_t o = (unsigned)r->outcome < HUB_OUTCOME_COUNT ? (size_t)r->outcome : HUB_MALFORMED;
    pthread_mutex_lock(&m->lock);
    m->count[t][o][res]++;
    unsigned cls = r->http_status / 100;
    if (cls >= 1 && cls <= 5)
        m->http_status[cls]++;
    if (r->outcome == HUB_FORWARDED || r->outcome == HUB_UNREACHABLE) {
        size_t b = 0;
        while (b < HUB_BUCKETS && r->forward_seconds > bucket_le[b])
            b++;
        m->hist[b]++;
        m->hist_count++;
        m->hist_sum += r->forward_seconds;
    }
    pthread_mutex_unlock(&m->lock);
}

hub_status hub_metrics_render(hub_ctx *ctx, char *outp, size_t cap, size_t *len)
{
    if (ctx == NULL || outp == NULL || len == NULL || cap == 0)
        return HUB_ERR_ARGUMENT;
    hub_metrics *snap = malloc(sizeof(*snap));
    if (snap == NULL)
        return HUB_ERR_NOMEM;
    pthread_mutex_lock(&ctx->metrics.lock);
    memcpy(snap->count, ctx->metrics.count, sizeof(snap->count));
    memcpy(snap->http_status, ctx->metrics.http_status, sizeof(snap->http_status));
    memcpy(snap->hist, ctx->metrics.hist, sizeof(snap->hist));
    snap->hist_count = ctx->metrics.hist_count;
    snap->hist_sum = ctx->metrics.hist_sum;
    pthread_mutex_unlock(&ctx->metrics.lock);
    net_text o = {.p = outp, .cap = cap};
    net_text_put(
        &o, "# HELP ferry_hub_messages_total Messages POSTed to the hub, by MessageType, outcome and the ResultCode "
            "of the answer returned.\n# TYPE ferry_hub_messages_total counter\n");
    for (size_t t = 0; t <= BI_MSG_COUNT; t++)
        for (size_t oc = 0; oc < HUB_OUTCOME_COUNT; oc++)
            for (size_t r = 0; r <= BI_RESULT_COUNT; r++) {
                uint64_t c = snap->count[t][oc][r];
                if (c == 0)
                    continue;
                const char *tn = t < BI_MSG_COUNT ? bi_message_type_name((bi_message_type)t) : "none";
                const char *rn = r < BI_RESULT_COUNT ? bi_result_code_name((bi_result_code)r, BI_VERSION_1_1) : "none";
                net_text_put(&o, "ferry_hub_messages_total{type=\"%s\",outcome=\"%s\",result=\"%s\"} %llu\n", tn,
                             hub_outcome_name((hub_outcome)oc), rn ? rn : "none", (unsigned long long)c);
            }
    net_text_put(&o, "# HELP ferry_hub_http_responses_total HTTP responses by status class.\n"
                     "# TYPE ferry_hub_http_responses_total counter\n");
    for (unsigned k = 2; k <= 5; k++)
        net_text_put(&o, "ferry_hub_http_responses_total{code=\"%uxx\"} %llu\n", k,
                     (unsigned long long)snap->http_status[k]);
    net_text_put(&o, "# HELP ferry_hub_forward_duration_seconds Time waiting for the receiver.\n"
                     "# TYPE ferry_hub_forward_duration_seconds histogram\n");
    uint64_t cum = 0;
    for (size_t b = 0; b < HUB_BUCKETS; b++) {
        cum += snap->hist[b];
        net_text_put(&o, "ferry_hub_forward_duration_seconds_bucket{le=\"%g\"} %llu\n", bucket_le[b],
                     (unsigned long long)cum);
    }
    net_text_put(&o, "ferry_hub_forward_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
                 (unsigned long long)snap->hist_count);
    net_text_put(&o, "ferry_hub_forward_duration_seconds_sum %.6f\nferry_hub_forward_duration_seconds_count %llu\n",
                 snap->hist_sum, (unsigned long long)snap->hist_count);
    free(snap);
    if (o.over)
        return HUB_ERR_ARGUMENT;
    *len = o.len;
    return HUB_OK;
}

void hub_log_fields(const hub_reply *r, json_t *o)
{
    if (r == NULL || !json_is_object(o))
        return;
    if (r->has_type)
        json_object_set_new(o, "type", json_string(bi_message_type_name(r->type)));
    json_object_set_new(o, "outcome", json_string(hub_outcome_name(r->outcome)));
    if (r->has_result) {
        const char *rn = bi_result_code_name(r->result, BI_VERSION_1_1);
        json_object_set_new(o, "result", json_string(rn ? rn : "?"));
    }
    /* IDs are validated text; net_log_text shows any other bytes as hex */
    if (r->sender[0])
        json_object_set_new(o, "sender", net_log_text(r->sender, strlen(r->sender), sizeof(r->sender)));
    if (r->receiver[0])
        json_object_set_new(o, "receiver", net_log_text(r->receiver, strlen(r->receiver), sizeof(r->receiver)));
    if (r->note[0])
        json_object_set_new(o, "detail", net_log_text(r->note, strlen(r->note), sizeof(r->note)));
    json_object_set_new(o, "forward_ms", json_real(r->forward_seconds * 1000.0));
}

void hub_log(const char *level, const char *msg, const hub_reply *r, double seconds, const char *detail)
{
    json_t *o = json_object();
    if (o == NULL)
        return;
    if (r != NULL) {
        json_object_set_new(o, "status", json_integer(r->http_status));
        hub_log_fields(r, o);
        json_object_set_new(o, "ms", json_real(seconds * 1000.0));
    }
    if (detail != NULL)
        json_object_set_new(o, "detail", net_log_text(detail, strlen(detail), 1024));
    net_log("hub", level, msg, o);
}

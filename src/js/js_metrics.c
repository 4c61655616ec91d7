/*
 * js_metrics.c - counters for GET /metrics, Prometheus text format 0.0.4.
 *
 * One mutex around a few arrays: a request takes it once, for a handful of
 * additions, which is noise next to the PKCS#11 calls and the fsync of a
 * join. Labels hold only message types and result codes, never a DevEUI
 * (unbounded cardinality) and never anything secret.
 */
#include "js/js.h"
#include "js/js_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const double bucket_le[JS_BUCKETS] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                             0.05,   0.1,   0.25,   0.5,   1.0,  2.5};
static const char *const type_names[JS_METRIC_TYPES + 1] = {"JoinReq", "RejoinReq", "AppSKeyReq", "HomeNSReq",
                                                            "other"};

static size_t type_index(const js_reply *r)
{
    if (!r->has_type)
        return JS_METRIC_OTHER;
    switch (r->type) {
    case BI_MSG_JOIN_REQ: return 0;
    case BI_MSG_REJOIN_REQ: return 1;
    case BI_MSG_APP_S_KEY_REQ: return 2;
    case BI_MSG_HOME_NS_REQ: return 3;
    default: return JS_METRIC_OTHER;
    }
}

void js_metrics_observe(js_ctx *ctx, const js_reply *r, double seconds)
{
    js_metrics *m = &ctx->metrics;
    size_t t = type_index(r);
    size_t res = r->has_result && (unsigned)r->result < BI_RESULT_COUNT ? (size_t)r->result : BI_RESULT_COUNT;
    pthread_mutex_lock(&m->lock);
    m->count[t][res]++;
    size_t b = 0;
    while (b < JS_BUCKETS && seconds > bucket_le[b])
        b++;
    m->hist[b]++;
    m->hist_count++;
    m->hist_sum += seconds;
    unsigned cls = r->http_status / 100;
    if (cls >= 1 && cls <= 5)
        m->http_status[cls]++;
    pthread_mutex_unlock(&m->lock);
}

typedef struct out_buf {
    char *p;
    size_t cap, len;
    bool over;
} out_buf;

static void put(out_buf *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(out_buf *o, const char *fmt, ...)
{
    if (o->over)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= o->cap - o->len) {
        o->over = true;
        return;
    }
    o->len += (size_t)n;
}

js_status js_metrics_render(js_ctx *ctx, char *outp, size_t cap, size_t *len)
{
    js_metrics snap;
    pthread_mutex_lock(&ctx->metrics.lock);
    memcpy(snap.count, ctx->metrics.count, sizeof(snap.count));
    memcpy(snap.hist, ctx->metrics.hist, sizeof(snap.hist));
    snap.hist_count = ctx->metrics.hist_count;
    snap.hist_sum = ctx->metrics.hist_sum;
    memcpy(snap.http_status, ctx->metrics.http_status, sizeof(snap.http_status));
    pthread_mutex_unlock(&ctx->metrics.lock);

    out_buf o = {outp, cap, 0, cap == 0};
    put(&o, "# HELP ferry_js_requests_total Requests served, by Backend Interfaces message type and ResultCode.\n"
            "# TYPE ferry_js_requests_total counter\n");
    for (size_t t = 0; t <= JS_METRIC_TYPES; t++) {
        for (size_t r = 0; r <= BI_RESULT_COUNT; r++) {
            if (snap.count[t][r] == 0)
                continue;
            const char *rn = r < BI_RESULT_COUNT ? bi_result_code_name((bi_result_code)r, BI_VERSION_1_1) : "none";
            if (r == BI_RESULT_MALFORMED)
                rn = "Malformed";
            put(&o, "ferry_js_requests_total{type=\"%s\",result=\"%s\"} %llu\n", type_names[t], rn != NULL ? rn : "?",
                (unsigned long long)snap.count[t][r]);
        }
    }
    put(&o, "# HELP ferry_js_http_responses_total HTTP responses by status class.\n"
            "# TYPE ferry_js_http_responses_total counter\n");
    for (unsigned c = 1; c <= 5; c++)
        put(&o, "ferry_js_http_responses_total{code=\"%uxx\"} %llu\n", c, (unsigned long long)snap.http_status[c]);
    put(&o, "# HELP ferry_js_request_duration_seconds Time from a complete request body to its answer.\n"
            "# TYPE ferry_js_request_duration_seconds histogram\n");
    uint64_t cum = 0;
    for (size_t b = 0; b < JS_BUCKETS; b++) {
        cum += snap.hist[b];
        put(&o, "ferry_js_request_duration_seconds_bucket{le=\"%g\"} %llu\n", bucket_le[b], (unsigned long long)cum);
    }
    put(&o, "ferry_js_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n", (unsigned long long)snap.hist_count);
    put(&o, "ferry_js_request_duration_seconds_sum %.6f\n", snap.hist_sum);
    put(&o, "ferry_js_request_duration_seconds_count %llu\n", (unsigned long long)snap.hist_count);
    uint64_t txns = 0, joins = 0;
    store_batch_counts(ctx->batch, &txns, &joins);
    put(&o, "# HELP ferry_js_store_commits_total SQLite transactions that wrote joins (group commit).\n"
            "# TYPE ferry_js_store_commits_total counter\n"
            "ferry_js_store_commits_total %llu\n"
            "# HELP ferry_js_store_committed_joins_total Joins and rejoins those transactions carried.\n"
            "# TYPE ferry_js_store_committed_joins_total counter\n"
            "ferry_js_store_committed_joins_total %llu\n",
        (unsigned long long)txns, (unsigned long long)joins);
    if (o.over)
        return JS_ERR_ARGUMENT;
    *len = o.len;
    return JS_OK;
}

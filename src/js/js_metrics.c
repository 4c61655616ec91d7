/*
 * js_metrics.c - counters for GET /metrics, Prometheus text format 0.0.4.
 *
 * One mutex around a few arrays: a request takes it once, for a handful of
 * additions, which is noise next to the PKCS#11 calls and the fsync of a
 * join. Labels hold only message types and result codes, never a DevEUI
 * (unbounded cardinality) and never anything secret.
 *
 * Per-operator counters carry the operator's NetID as a label: bounded by
 * the operators onboarded (and by JS_OP_METRICS_MAX), never a NetID that is
 * not onboarded. They are also added to the database every second
 * (js_metrics_flush), so that `ferry operator show` counts what every
 * `serve` process answered; a SIGKILL loses at most that second.
 */
#include "js/js.h"
#include "js/js_internal.h"
#include "net/net_text.h"

#include "store/store_idm.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const double bucket_le[JS_BUCKETS] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5};
static const char *const type_names[JS_METRIC_TYPES + 1] = {"JoinReq", "RejoinReq", "AppSKeyReq", "HomeNSReq", "other"};

static size_t type_index(const js_reply *r)
{
    if (!r->has_type)
        return JS_METRIC_OTHER;
    switch (r->type) {
    case BI_MSG_JOIN_REQ:
        return 0;
    case BI_MSG_REJOIN_REQ:
        return 1;
    case BI_MSG_APP_S_KEY_REQ:
        return 2;
    case BI_MSG_HOME_NS_REQ:
        return 3;
    default:
        return JS_METRIC_OTHER;
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
    size_t kind = t == 3 ? 1 : 0;
    if (r->has_operator && r->has_result && (unsigned)r->result < BI_RESULT_COUNT && (t <= 1 || t == 3) &&
        m->ops != NULL) {
        js_op_metrics *om = NULL;
        for (size_t i = 0; i < m->op_count && om == NULL; i++)
            if (m->ops[i].net_id == r->operator_net_id)
                om = &m->ops[i];
        if (om == NULL && m->op_count < JS_OP_METRICS_MAX) {
            om = &m->ops[m->op_count++];
            om->net_id = r->operator_net_id;
        }
        if (om != NULL) {
            om->total[kind][r->result]++;
            om->pending[kind][r->result]++;
        }
    }
    pthread_mutex_unlock(&m->lock);
}

static const char *const op_kind_names[JS_OP_KINDS] = {"join", "home_ns"};

typedef struct flush_job {
    js_op_metrics *snap;
    size_t count;
} flush_job;

static store_status flush_txn(store *s, void *ctx)
{
    flush_job *f = ctx;
    for (size_t i = 0; i < f->count; i++) {
        for (size_t k = 0; k < JS_OP_KINDS; k++) {
            for (size_t r = 0; r < BI_RESULT_COUNT; r++) {
                uint64_t n = f->snap[i].pending[k][r];
                const char *rn = bi_result_code_name((bi_result_code)r, BI_VERSION_1_1);
                if (n == 0 || rn == NULL)
                    continue;
                if (r == BI_RESULT_MALFORMED)
                    rn = "Malformed";
                store_status st = store_operator_count_add(s, f->snap[i].net_id, op_kind_names[k], rn, n);
                if (st != STORE_OK)
                    return st;
            }
        }
    }
    return STORE_OK;
}

js_status js_metrics_flush(js_ctx *ctx, store *db)
{
    js_metrics *m = &ctx->metrics;
    if (m->ops == NULL || db == NULL)
        return JS_ERR_ARGUMENT;
    flush_job f = {.snap = malloc(JS_OP_METRICS_MAX * sizeof(*f.snap))};
    if (f.snap == NULL)
        return JS_ERR_NOMEM;
    /* take the pending counts out under the lock; give them back on failure */
    pthread_mutex_lock(&m->lock);
    bool any = false;
    for (size_t i = 0; i < m->op_count; i++) {
        f.snap[i] = m->ops[i];
        memset(m->ops[i].pending, 0, sizeof(m->ops[i].pending));
        for (size_t k = 0; k < JS_OP_KINDS && !any; k++)
            for (size_t r = 0; r < BI_RESULT_COUNT && !any; r++)
                any = f.snap[i].pending[k][r] != 0;
    }
    f.count = m->op_count;
    pthread_mutex_unlock(&m->lock);
    store_status st = any ? store_idm_txn(db, flush_txn, &f) : STORE_OK;
    if (st != STORE_OK) {
        pthread_mutex_lock(&m->lock);
        for (size_t i = 0; i < f.count; i++)
            for (size_t k = 0; k < JS_OP_KINDS; k++)
                for (size_t r = 0; r < BI_RESULT_COUNT; r++)
                    m->ops[i].pending[k][r] += f.snap[i].pending[k][r];
        pthread_mutex_unlock(&m->lock);
    }
    free(f.snap);
    return st == STORE_OK ? JS_OK : JS_ERR_STORE;
}

/* The per-operator families; the caller holds no lock (it copies). */
static void put_operators(net_text *o, const js_op_metrics *ops, size_t n)
{
    net_text_put(o,
                 "# HELP ferry_js_operator_activations_total JoinReq and RejoinReq of each onboarded operator answered "
                 "Success.\n"
                 "# TYPE ferry_js_operator_activations_total counter\n");
    for (size_t i = 0; i < n; i++)
        net_text_put(o, "ferry_js_operator_activations_total{operator=\"%06X\"} %llu\n", (unsigned)ops[i].net_id,
                     (unsigned long long)ops[i].total[0][BI_RESULT_SUCCESS]);
    net_text_put(o, "# HELP ferry_js_operator_home_ns_total HomeNSReq of each onboarded operator answered Success.\n"
                    "# TYPE ferry_js_operator_home_ns_total counter\n");
    for (size_t i = 0; i < n; i++)
        net_text_put(o, "ferry_js_operator_home_ns_total{operator=\"%06X\"} %llu\n", (unsigned)ops[i].net_id,
                     (unsigned long long)ops[i].total[1][BI_RESULT_SUCCESS]);
    net_text_put(o,
                 "# HELP ferry_js_operator_refusals_total Requests of each onboarded operator refused, by request and "
                 "ResultCode.\n"
                 "# TYPE ferry_js_operator_refusals_total counter\n");
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < JS_OP_KINDS; k++) {
            for (size_t r = 0; r < BI_RESULT_COUNT; r++) {
                const char *rn = bi_result_code_name((bi_result_code)r, BI_VERSION_1_1);
                if (r == BI_RESULT_SUCCESS || ops[i].total[k][r] == 0 || rn == NULL)
                    continue;
                net_text_put(o,
                             "ferry_js_operator_refusals_total{operator=\"%06X\",request=\"%s\",reason=\"%s\"} %llu\n",
                             (unsigned)ops[i].net_id, op_kind_names[k], r == BI_RESULT_MALFORMED ? "Malformed" : rn,
                             (unsigned long long)ops[i].total[k][r]);
            }
        }
    }
}

void js_metrics_async(js_ctx *ctx, js_async_outcome o)
{
    if ((unsigned)o >= JS_ASYNC_OUTCOME_COUNT)
        return;
    pthread_mutex_lock(&ctx->metrics.lock);
    ctx->metrics.async[o]++;
    pthread_mutex_unlock(&ctx->metrics.lock);
}

void js_metrics_async_pending(js_ctx *ctx, int64_t pending)
{
    pthread_mutex_lock(&ctx->metrics.lock);
    ctx->metrics.async_pending = pending;
    pthread_mutex_unlock(&ctx->metrics.lock);
}

/* ferry_js_async_<name>_total, one per outcome, and the outbox gauge. */
static void put_async(net_text *o, const uint64_t *n, int64_t pending)
{
    static const char *const what[JS_ASYNC_OUTCOME_COUNT][2] = {
        [JS_ASYNC_QUEUED] = {"queued", "Asynchronous answers written to the outbox (200 sent)."},
        [JS_ASYNC_DELIVERED] = {"delivered", "Asynchronous answers the sender's answer URL took (2xx)."},
        [JS_ASYNC_RETRIED] = {"retried", "Delivery attempts that failed and were scheduled again."},
        [JS_ASYNC_EXPIRED] = {"expired", "Asynchronous answers whose deadline passed undelivered."},
        [JS_ASYNC_DUPLICATE] = {"duplicates", "Duplicate requests of asynchronous senders, answered once."},
        [JS_ASYNC_REFUSED] = {"refused", "Requests refused with 503 because the outbox was full."},
    };
    for (unsigned i = 0; i < JS_ASYNC_OUTCOME_COUNT; i++)
        net_text_put(o, "# HELP ferry_js_async_%s_total %s\n# TYPE ferry_js_async_%s_total counter\n"
                        "ferry_js_async_%s_total %llu\n",
                     what[i][0], what[i][1], what[i][0], what[i][0], (unsigned long long)n[i]);
    if (pending >= 0)
        net_text_put(o, "# HELP ferry_js_async_outbox_pending Asynchronous answers waiting for delivery.\n"
                        "# TYPE ferry_js_async_outbox_pending gauge\nferry_js_async_outbox_pending %lld\n",
                     (long long)pending);
}

js_status js_metrics_render(js_ctx *ctx, char *outp, size_t cap, size_t *len)
{
    js_metrics snap;
    js_op_metrics *ops = malloc(JS_OP_METRICS_MAX * sizeof(*ops));
    size_t op_count = 0;
    if (ops == NULL)
        return JS_ERR_NOMEM;
    pthread_mutex_lock(&ctx->metrics.lock);
    op_count = ctx->metrics.ops != NULL ? ctx->metrics.op_count : 0;
    if (op_count > 0)
        memcpy(ops, ctx->metrics.ops, op_count * sizeof(*ops));
    memcpy(snap.count, ctx->metrics.count, sizeof(snap.count));
    memcpy(snap.hist, ctx->metrics.hist, sizeof(snap.hist));
    snap.hist_count = ctx->metrics.hist_count;
    snap.hist_sum = ctx->metrics.hist_sum;
    memcpy(snap.http_status, ctx->metrics.http_status, sizeof(snap.http_status));
    memcpy(snap.cert_refused, ctx->metrics.cert_refused, sizeof(snap.cert_refused));
    memcpy(snap.async, ctx->metrics.async, sizeof(snap.async));
    snap.async_pending = ctx->metrics.async_pending;
    snap.root_unwraps = ctx->metrics.root_unwraps;
    snap.root_evictions = ctx->metrics.root_evictions;
    pthread_mutex_unlock(&ctx->metrics.lock);

    net_text o = {outp, cap, 0, cap == 0};
    net_text_put(&o,
                 "# HELP ferry_js_requests_total Requests served, by Backend Interfaces message type and ResultCode.\n"
                 "# TYPE ferry_js_requests_total counter\n");
    for (size_t t = 0; t <= JS_METRIC_TYPES; t++) {
        for (size_t r = 0; r <= BI_RESULT_COUNT; r++) {
            if (snap.count[t][r] == 0)
                continue;
            const char *rn = r < BI_RESULT_COUNT ? bi_result_code_name((bi_result_code)r, BI_VERSION_1_1) : "none";
            if (r == BI_RESULT_MALFORMED)
                rn = "Malformed";
            net_text_put(&o, "ferry_js_requests_total{type=\"%s\",result=\"%s\"} %llu\n", type_names[t],
                         rn != NULL ? rn : "?", (unsigned long long)snap.count[t][r]);
        }
    }
    net_text_put(&o, "# HELP ferry_js_http_responses_total HTTP responses by status class.\n"
                     "# TYPE ferry_js_http_responses_total counter\n");
    for (unsigned c = 1; c <= 5; c++)
        net_text_put(&o, "ferry_js_http_responses_total{code=\"%uxx\"} %llu\n", c,
                     (unsigned long long)snap.http_status[c]);
    net_text_put(&o, "# HELP ferry_js_client_cert_refused_total Client certificate chains that did not authenticate "
                     "their SenderID, by reason.\n"
                     "# TYPE ferry_js_client_cert_refused_total counter\n");
    for (unsigned v = NET_CERT_NONE; v < NET_CERT_VERDICT_COUNT; v++)
        net_text_put(&o, "ferry_js_client_cert_refused_total{reason=\"%s\"} %llu\n",
                     net_cert_verdict_name((net_cert_verdict)v), (unsigned long long)snap.cert_refused[v]);
    net_text_put(&o, "# HELP ferry_js_request_duration_seconds Time from a complete request body to its answer.\n"
                     "# TYPE ferry_js_request_duration_seconds histogram\n");
    uint64_t cum = 0;
    for (size_t b = 0; b < JS_BUCKETS; b++) {
        cum += snap.hist[b];
        net_text_put(&o, "ferry_js_request_duration_seconds_bucket{le=\"%g\"} %llu\n", bucket_le[b],
                     (unsigned long long)cum);
    }
    net_text_put(&o, "ferry_js_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
                 (unsigned long long)snap.hist_count);
    net_text_put(&o, "ferry_js_request_duration_seconds_sum %.6f\n", snap.hist_sum);
    net_text_put(&o, "ferry_js_request_duration_seconds_count %llu\n", (unsigned long long)snap.hist_count);
    uint64_t txns = 0, joins = 0, cut = 0;
    store_batch_counts(ctx->batch, &txns, &joins, &cut);
    net_text_put(&o,
                 "# HELP ferry_js_store_commits_total Transactions that wrote joins (group commit).\n"
                 "# TYPE ferry_js_store_commits_total counter\n"
                 "ferry_js_store_commits_total %llu\n"
                 "# HELP ferry_js_store_committed_joins_total Joins and rejoins those transactions carried.\n"
                 "# TYPE ferry_js_store_committed_joins_total counter\n"
                 "ferry_js_store_committed_joins_total %llu\n"
                 "# HELP ferry_js_store_batch_waits_cut_total Commits that stopped waiting for joins in flight "
                 "at the bound (STORE_BATCH_WAIT_US).\n"
                 "# TYPE ferry_js_store_batch_waits_cut_total counter\n"
                 "ferry_js_store_batch_waits_cut_total %llu\n",
                 (unsigned long long)txns, (unsigned long long)joins, (unsigned long long)cut);
    net_text_put(&o,
                 "# HELP ferry_js_root_key_unwraps_total Device root keys unwrapped (not found in a worker's cache).\n"
                 "# TYPE ferry_js_root_key_unwraps_total counter\n"
                 "ferry_js_root_key_unwraps_total %llu\n"
                 "# HELP ferry_js_root_key_cache_evictions_total Root keys released because a worker's cache "
                 "was full (JS_ROOT_CACHE).\n"
                 "# TYPE ferry_js_root_key_cache_evictions_total counter\n"
                 "ferry_js_root_key_cache_evictions_total %llu\n",
                 (unsigned long long)snap.root_unwraps, (unsigned long long)snap.root_evictions);
    put_async(&o, snap.async, snap.async_pending);
    put_operators(&o, ops, op_count);
    free(ops);
    if (o.over)
        return JS_ERR_ARGUMENT;
    *len = o.len;
    return JS_OK;
}

void js_metrics_cert_refused(js_ctx *ctx, const char *sender, net_cert_verdict why)
{
    if ((unsigned)why >= NET_CERT_VERDICT_COUNT)
        return;
    js_metrics *m = &ctx->metrics;
    pthread_mutex_lock(&m->lock);
    m->cert_refused[why]++;
    pthread_mutex_unlock(&m->lock);
    char detail[160];
    snprintf(detail, sizeof(detail), "SenderID %.64s: %s", sender, net_cert_verdict_name(why));
    js_log("warn", "client certificate refused", NULL, 0, detail);
}

/*
 * js_async.c - asynchronous Backend Interfaces answers (TS002 1.0 §22.1):
 * the HTTP response only acknowledges a request; the answer travels later
 * as a request of its own, POSTed to the sender.
 *
 * Which senders: a ferry.conf peer with `peer.<ID>.answer_url` (its entry
 * counts also for an onboarded operator of that NetID, whose credentials
 * stay in the database). Which requests: those that pass authentication;
 * earlier refusals (not BI, wrong ReceiverID, UnknownSender) stay in the
 * HTTP response, so an unauthenticated body never makes ferry POST.
 *
 * The order, and why:
 *   1. the outbox row of (SenderID, TransactionID) is looked up first: a
 *      duplicate of a request already answered (same body) gets 200 and
 *      nothing else - no second join, no second answer;
 *   2. a full outbox refuses with HTTP 503 *before* the request is served,
 *      so no DevNonce is consumed for a request whose answer could not be
 *      kept, and the sender retries as after any 503. Not a BI error answer:
 *      in this mode a BI answer can only travel through the outbox that is
 *      full, and a synchronous one would be read by nobody;
 *   3. the answer is made exactly as in the synchronous mode (a join's
 *      DevNonce and JoinNonce committed before it exists);
 *   4. it is written to the outbox in its own transaction, committed before
 *      the 200 leaves: from then on a restart, even a SIGKILL, loses it not;
 *   5. the delivery thread POSTs it with the peer's bearer token, doubling
 *      the back-off from async_retry_ms to async_retry_max_ms, and gives up
 *      at async_deadline (counted, logged, kept as "expired").
 * Between 3 and 4 a crash loses the answer of a committed join, as a crash
 * between the commit and the HTTP response does in the synchronous mode.
 */
#include "js/js.h"
#include "js/js_internal.h"
#include "net/net_client.h"
#include "net/net_config.h"
#include "store/store_outbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

_Static_assert(JS_REPLY_MAX <= STORE_OUTBOX_ANSWER_MAX, "an answer must fit an outbox row");
_Static_assert(BI_ID_MAX <= STORE_OUTBOX_SENDER_MAX, "a SenderID must fit an outbox row");

#define DUE_BATCH       16      /* rows read per turn; the rest on the next turn, at once */
#define IDLE_WAIT_MS    250     /* the longest sleep between looks at the outbox */
#define POST_TIMEOUT_MS 10000   /* one delivery attempt */
#define PURGE_EVERY_MS  60000
#define ANSWER_ACK_MAX  4096    /* what the sender's URL may answer to a delivery (ignored) */

bool js_async_target(const js_ctx *ctx, const char *sender, const store_operator *op, js_answer_to *out)
{
    if (op != NULL && op->answer_url[0] != '\0') {
        *out = (js_answer_to){op->answer_url, op->answer_token_file, ""};
        return true;
    }
    const js_peer *p = js_config_peer(ctx->cfg, sender);
    if (p == NULL || p->answer_url[0] == '\0')
        return false;
    *out = (js_answer_to){p->answer_url, p->answer_token_file, p->answer_ca};
    return true;
}

static void async_log(const char *level, const char *msg, const store_outbox_entry *e, const char *detail)
{
    char line[STORE_OUTBOX_SENDER_MAX + NET_ERR_MAX + 96];
    snprintf(line, sizeof line, "SenderID %s, TransactionID %u, attempts %u%s%.255s", e->sender_id,
             (unsigned)e->transaction_id, e->attempts, detail != NULL ? ": " : "", detail != NULL ? detail : "");
    js_log(level, msg, NULL, 0.0, line);
}

/* The 200 with an empty body that acknowledges a request, carrying the
 * request's identity (type, result, DevEUI, operator) of `answer` for the
 * metrics and the access log. */
static void acknowledge(js_reply *out, const js_reply *answer, const char *note)
{
    *out = *answer;
    lw_secure_wipe(out->body, sizeof out->body);
    out->http_status = 200;
    out->content_type = "text/plain";
    out->len = 0;
    js_copy(out->note, sizeof out->note, note);
}

static void wake(js_ctx *ctx);

/* Step 5: the answer made for (sender, txid) into the outbox; *out the
 * acknowledgement, or why there is none. e is scratch. */
static void queue_answer(js_worker *w, const js_answer_to *to, const char *sender, uint32_t txid,
                         const uint8_t hash[JS_HASH_LEN], const js_reply *answer, store_outbox_entry *e, js_reply *out)
{
    js_ctx *ctx = w->ctx;
    const js_config *cfg = ctx->cfg;
    memset(e, 0, sizeof *e);
    js_copy(e->sender_id, sizeof e->sender_id, sender);
    e->transaction_id = txid;
    memcpy(e->request_sha256, hash, JS_HASH_LEN);
    js_copy(e->answer_url, sizeof e->answer_url, to->url);
    memcpy(e->answer, answer->body, answer->len);
    e->answer[answer->len] = '\0';
    e->answer_len = answer->len;
    int64_t now = store_now_ms();
    e->next_attempt_ms = now;
    e->deadline_ms = now + (int64_t)cfg->async_deadline_s * 1000;
    store_status ss = store_outbox_add(w->db, e, cfg->async_outbox_max);
    if (ss == STORE_OK) {
        char note[BI_DESCRIPTION_MAX + 1];
        snprintf(note, sizeof note, "asynchronous: answer queued%s%.200s", answer->note[0] ? "; " : "", answer->note);
        acknowledge(out, answer, note);
        js_metrics_async(ctx, JS_ASYNC_QUEUED);
        wake(ctx);
        return;
    }
    /* another request of this (sender, TransactionID) was queued meanwhile:
     * the same body is a duplicate answered once, another one a conflict */
    bool same = ss == STORE_ERR_EXISTS && store_outbox_find(w->db, sender, txid, e) == STORE_OK &&
                memcmp(e->request_sha256, hash, JS_HASH_LEN) == 0;
    if (same) {
        acknowledge(out, answer, "asynchronous: a concurrent duplicate, answered once");
        js_metrics_async(ctx, JS_ASYNC_DUPLICATE);
        return;
    }
    /* the request was served (a join's nonces are committed) but its answer
     * cannot be kept: the sender must learn it now */
    js_reply_text(out, ss == STORE_ERR_EXISTS ? 409 : 503, "text/plain", "the answer could not be queued: %s\n",
                  store_strerror(ss));
    js_copy(out->note, sizeof out->note, "asynchronous: served but its answer not queued (lost)");
    if (ss == STORE_ERR_FULL)
        js_metrics_async(ctx, JS_ASYNC_REFUSED);
    js_copy(e->sender_id, sizeof e->sender_id, sender);
    e->transaction_id = txid;
    async_log("error", "asynchronous answer lost: the outbox refused it after the request was served", e,
              store_strerror(ss));
}

void js_async_serve(js_worker *w, const js_answer_to *to, const char *sender, const bi_request *req, const void *body,
                    size_t len, const store_operator *op, js_reply *out)
{
    js_ctx *ctx = w->ctx;
    const js_config *cfg = ctx->cfg;
    store_outbox_entry *e = malloc(sizeof *e);
    js_reply *answer = malloc(sizeof *answer);
    if (e == NULL || answer == NULL) {
        free(e);
        free(answer);
        js_reply_text(out, 503, "text/plain", "out of memory\n");
        return;
    }
    js_reply_reset(answer);
    answer->has_type = out->has_type;
    answer->type = out->type;
    answer->has_operator = out->has_operator;
    answer->operator_net_id = out->operator_net_id;
    uint8_t hash[JS_HASH_LEN];
    js_sha256(body, len, hash);
    uint32_t txid = req->hdr.transaction_id;
    store_status ss = store_outbox_find(w->db, sender, txid, e);
    if (ss == STORE_OK && memcmp(e->request_sha256, hash, JS_HASH_LEN) == 0) {
        char note[96];
        snprintf(note, sizeof note, "asynchronous: a duplicate, answered once (%s)", store_outbox_state_name(e->state));
        acknowledge(out, answer, note);
        js_metrics_async(ctx, JS_ASYNC_DUPLICATE);
        goto done;
    }
    if (ss == STORE_OK && e->state == STORE_OUTBOX_PENDING) {
        js_reply_text(out, 409, "text/plain",
                      "TransactionID %u of SenderID %s has a different request whose answer is not delivered yet\n",
                      (unsigned)txid, sender);
        js_copy(out->note, sizeof out->note, "asynchronous: TransactionID reused while its answer is in flight");
        goto done;
    }
    size_t pending = 0;
    if (ss == STORE_OK || ss == STORE_ERR_NOT_FOUND)
        ss = store_outbox_count(w->db, STORE_OUTBOX_PENDING, &pending);
    if (ss != STORE_OK) {
        js_reply_text(out, 503, "text/plain", "the outbox of asynchronous answers cannot be read\n");
        js_copy(out->note, sizeof out->note, store_strerror(ss));
        goto done;
    }
    if (pending >= cfg->async_outbox_max) {
        js_reply_text(out, 503, "text/plain", "the outbox of asynchronous answers is full (%u); retry later\n",
                      (unsigned)cfg->async_outbox_max);
        js_copy(out->note, sizeof out->note, "asynchronous: outbox full (async_outbox_max), nothing served");
        js_metrics_async(ctx, JS_ASYNC_REFUSED);
        goto done;
    }
    js_answer_request(w, req, op, answer);
    if (answer->http_status != 200) {
        /* not a BI answer (the server could not build one): say so now */
        *out = *answer;
        goto done;
    }
    queue_answer(w, to, sender, txid, hash, answer, e, out);
done:
    lw_secure_wipe(answer, sizeof *answer);
    lw_secure_wipe(e, sizeof *e);
    free(answer);
    free(e);
}

/* ---------------------------------------------------------------- delivery */

struct js_async {
    js_ctx *ctx;
    store *db;
    net_client *http;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool kicked, stop;
    store_outbox_entry due[DUE_BATCH];
    char ack[ANSWER_ACK_MAX];
};

/* Wakes the delivery thread: to look at the outbox now, or to stop. */
static void signal_thread(js_async *a, bool stop)
{
    pthread_mutex_lock(&a->lock);
    a->kicked = true;
    a->stop = a->stop || stop;
    pthread_cond_signal(&a->cond);
    pthread_mutex_unlock(&a->lock);
}

static void wake(js_ctx *ctx)
{
    if (ctx->async != NULL)
        signal_thread(ctx->async, false);
}

/* The bearer token in `path` (its first line, net_config_read_secret)
 * into out[cap]; false when the file cannot be read or holds none. The
 * caller wipes out. */
static bool read_token(const char *path, char *out, size_t cap, char why[NET_ERR_MAX])
{
    if (net_config_read_secret(path, out, cap, why) != NET_OK)
        return false;
    if (out[0] == '\0')
        snprintf(why, NET_ERR_MAX, "%.200s holds no token", path);
    return out[0] != '\0';
}

/* Milliseconds to wait after the attempts made: retry_ms doubled per
 * attempt, at most retry_max_ms. */
static int64_t back_off_ms(const js_config *cfg, unsigned attempts)
{
    int64_t d = cfg->async_retry_ms;
    for (unsigned i = 1; i < attempts && d < cfg->async_retry_max_ms; i++)
        d *= 2;
    return d < cfg->async_retry_max_ms ? d : cfg->async_retry_max_ms;
}

/* One POST of e's answer; true when the sender's URL took it (2xx). The
 * URL, token and CA are looked up now (an operator's row, else its
 * ferry.conf peer): a sender that moved its endpoint or replaced its token
 * gets its pending answers there, and a token only ever goes to the URL it
 * is configured with. A sender no longer configured gets the answer at the
 * URL it had, without a token. */
static bool post_answer(js_async *a, const store_outbox_entry *e, char why[NET_ERR_MAX])
{
    store_operator op;
    uint32_t net_id = 0;
    bool is_op = js_net_id_parse(e->sender_id, &net_id) && store_operator_get(a->db, net_id, &op) == STORE_OK;
    js_answer_to to = {e->answer_url, "", ""};
    if (!js_async_target(a->ctx, e->sender_id, is_op ? &op : NULL, &to))
        to = (js_answer_to){e->answer_url, "", ""};
    char token[NET_CLIENT_TOKEN_MAX + 2];
    token[0] = '\0';
    if (to.token_file[0] != '\0' && !read_token(to.token_file, token, sizeof token, why))
        return false;
    net_call call = {
        .url = to.url,
        .bearer = token[0] != '\0' ? token : NULL,
        .body = e->answer,
        .len = e->answer_len,
        .ca_file = to.ca,
        .timeout_ms = POST_TIMEOUT_MS,
    };
    net_answer ans = {.body = a->ack, .cap = sizeof a->ack};
    net_status ns = net_client_call(a->http, &call, &ans, why);
    lw_secure_wipe(token, sizeof token);
    if (ns != NET_OK)
        return false;
    if (ans.status < 200 || ans.status > 299) {
        snprintf(why, NET_ERR_MAX, "the answer URL said HTTP %u", ans.status);
        return false;
    }
    return true;
}

static void deliver_one(js_async *a, store_outbox_entry *e)
{
    js_ctx *ctx = a->ctx;
    int64_t now = store_now_ms();
    store_status ss;
    if (now >= e->deadline_ms) {
        ss = store_outbox_finish(a->db, e->sender_id, e->transaction_id, STORE_OUTBOX_EXPIRED);
        if (ss == STORE_OK) {
            js_metrics_async(ctx, JS_ASYNC_EXPIRED);
            async_log("error", "asynchronous answer expired undelivered (async_deadline)", e, NULL);
        }
        return;
    }
    /* taken for the attempt: no other process posts it meanwhile, and a
     * crash mid-POST leaves it due again when the lease ends */
    ss = store_outbox_claim(a->db, e->sender_id, e->transaction_id, e->next_attempt_ms,
                            now + POST_TIMEOUT_MS + 1000);
    if (ss != STORE_OK)
        return;
    char why[NET_ERR_MAX] = "";
    if (post_answer(a, e, why)) {
        e->attempts++;
        ss = store_outbox_finish(a->db, e->sender_id, e->transaction_id, STORE_OUTBOX_DELIVERED);
        js_metrics_async(ctx, JS_ASYNC_DELIVERED);
        async_log(ss == STORE_OK ? "info" : "error",
                  ss == STORE_OK ? "asynchronous answer delivered" : "asynchronous answer delivered, not recorded", e,
                  ss == STORE_OK ? NULL : store_strerror(ss));
        return;
    }
    e->attempts++;
    int64_t next = store_now_ms() + back_off_ms(ctx->cfg, e->attempts);
    if (next > e->deadline_ms)
        next = e->deadline_ms; /* the last look, which expires it */
    ss = store_outbox_retry_at(a->db, e->sender_id, e->transaction_id, next);
    js_metrics_async(ctx, JS_ASYNC_RETRIED);
    async_log("warn", "asynchronous answer not delivered; retry scheduled", e, why);
    if (ss != STORE_OK)
        async_log("error", "asynchronous answer: the retry could not be recorded (the lease will end)", e,
                  store_strerror(ss));
}

static void *run(void *arg)
{
    js_async *a = arg;
    const js_config *cfg = a->ctx->cfg;
    int64_t purged_at = 0;
    for (;;) {
        pthread_mutex_lock(&a->lock);
        bool stop = a->stop;
        a->kicked = false;
        pthread_mutex_unlock(&a->lock);
        if (stop)
            break;
        int64_t now = store_now_ms();
        size_t n = 0;
        store_status ss = store_outbox_due(a->db, now, a->due, DUE_BATCH, &n);
        if (ss != STORE_OK)
            js_log("error", "asynchronous answers: the outbox cannot be read", NULL, 0.0, store_strerror(ss));
        for (size_t i = 0; i < n; i++)
            deliver_one(a, &a->due[i]);
        size_t pending = 0;
        if (store_outbox_count(a->db, STORE_OUTBOX_PENDING, &pending) == STORE_OK)
            js_metrics_async_pending(a->ctx, (int64_t)pending);
        if (now - purged_at >= PURGE_EVERY_MS) {
            size_t gone = 0;
            if (store_outbox_purge(a->db, now - (int64_t)cfg->async_keep_s * 1000, &gone) == STORE_OK)
                purged_at = now;
        }
        if (n == DUE_BATCH)
            continue; /* more may be due now */
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += (long)IDLE_WAIT_MS * 1000000L;
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        pthread_mutex_lock(&a->lock);
        while (!a->kicked && !a->stop)
            if (pthread_cond_timedwait(&a->cond, &a->lock, &until) != 0)
                break;
        pthread_mutex_unlock(&a->lock);
    }
    return NULL;
}

js_status js_async_start(js_ctx *ctx, js_async **out, char err[JS_ERR_MAX])
{
    *out = NULL;
    const js_config *cfg = ctx->cfg;
    for (size_t i = 0; i < cfg->peer_count; i++) {
        const js_peer *p = &cfg->peers[i];
        if (p->answer_token_file[0] == '\0')
            continue;
        /* the ssh rule, as for every secret file of ferry's: a token
         * readable by others is refused, not used */
        struct stat sb;
        if (stat(p->answer_token_file, &sb) == 0 && (sb.st_mode & 077) != 0) {
            js_errf(err, "peer %s: answer_token_file %.200s: readable by others (chmod 600)", p->id,
                    p->answer_token_file);
            return JS_ERR_CONFIG;
        }
        char token[NET_CLIENT_TOKEN_MAX + 2];
        char why[NET_ERR_MAX];
        bool ok = read_token(p->answer_token_file, token, sizeof token, why);
        lw_secure_wipe(token, sizeof token);
        if (!ok) {
            js_errf(err, "peer %s: answer_token_file: %.200s", p->id, why);
            return JS_ERR_CONFIG;
        }
    }
    js_async *a = calloc(1, sizeof *a);
    if (a == NULL)
        return JS_ERR_NOMEM;
    a->ctx = ctx;
    store_status ss = store_open(cfg->database, &a->db);
    if (ss != STORE_OK) {
        js_errf(err, "database: %s", store_strerror(ss));
        store_close(a->db);
        free(a);
        return JS_ERR_STORE;
    }
    if (net_client_new(&a->http) != NET_OK) {
        store_close(a->db);
        free(a);
        return JS_ERR_NOMEM;
    }
    pthread_mutex_init(&a->lock, NULL);
    pthread_cond_init(&a->cond, NULL);
    int rc = pthread_create(&a->thread, NULL, run, a);
    if (rc != 0) {
        js_errf(err, "the delivery thread of asynchronous answers: %s", strerror(rc));
        pthread_mutex_destroy(&a->lock);
        pthread_cond_destroy(&a->cond);
        net_client_free(a->http);
        store_close(a->db);
        free(a);
        return JS_ERR_NOMEM;
    }
    ctx->async = a;
    *out = a;
    return JS_OK;
}

void js_async_stop(js_async *a)
{
    if (a == NULL)
        return;
    signal_thread(a, true);
    pthread_join(a->thread, NULL);
    a->ctx->async = NULL;
    pthread_mutex_destroy(&a->lock);
    pthread_cond_destroy(&a->cond);
    net_client_free(a->http);
    store_close(a->db);
    lw_secure_wipe(a->due, sizeof a->due);
    free(a);
}

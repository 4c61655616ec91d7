/*
 * js.c - the service context and per-thread workers.
 *
 * A worker owns one PKCS#11 session and one database connection, the two
 * resources that must not be shared between threads. It also caches peer
 * KEKs as session objects (docs/hsm.md, "Handle cache"): a KEK is unwrapped
 * from its blob once per session, not once per join. The cache remembers
 * the blob it unwrapped and compares it with the row read on each use, so a
 * KEK deleted and re-imported under the same label is noticed at the next
 * request; the row read is one indexed SELECT, cheaper than a C_UnwrapKey.
 */
#include "js/js.h"
#include "js/js_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

js_status js_open(const char *dir, js_ctx **out, char err[JS_ERR_MAX])
{
    *out = NULL;
    js_ctx *ctx = calloc(1, sizeof(*ctx));
    if (ctx == NULL)
        return JS_ERR_NOMEM;
    ctx->cfg = calloc(1, sizeof(*ctx->cfg));
    if (ctx->cfg == NULL) {
        free(ctx);
        return JS_ERR_NOMEM;
    }
    js_status st = js_config_load(dir, ctx->cfg, err);
    if (st != JS_OK) {
        free(ctx->cfg);
        free(ctx);
        return st;
    }
    hsm_config hc = {
        .module = ctx->cfg->pkcs11_module[0] != '\0' ? ctx->cfg->pkcs11_module : NULL,
        .softhsm_conf = ctx->cfg->softhsm_conf[0] != '\0' ? ctx->cfg->softhsm_conf : NULL,
        .token_label = ctx->cfg->token_label,
        .pin_file = ctx->cfg->pin_file,
        .master_label = NULL,
    };
    hsm_diag diag = {0};
    hsm_status hs = hsm_open(&hc, &ctx->h, &diag);
    if (hs != HSM_OK) {
        char line[200];
        js_errf(err, "key service: %s", hsm_diag_format(hs, &diag, line, sizeof(line)));
        free(ctx->cfg);
        free(ctx);
        return JS_ERR_HSM;
    }
    st = js_trust_load(ctx, err);
    ctx->metrics.ops = st == JS_OK ? calloc(JS_OP_METRICS_MAX, sizeof(*ctx->metrics.ops)) : NULL;
    if (st != JS_OK || ctx->metrics.ops == NULL || store_batch_new(&ctx->batch) != STORE_OK) {
        free(ctx->metrics.ops);
        js_trust_free(ctx);
        hsm_close(ctx->h);
        free(ctx->cfg);
        free(ctx);
        return st != JS_OK ? st : JS_ERR_NOMEM;
    }
    ctx->metrics.async_pending = -1;
    pthread_mutex_init(&ctx->metrics.lock, NULL);
    pthread_mutex_init(&ctx->reload_lock, NULL);
    pthread_rwlock_init(&ctx->join_eui_lock, NULL);
    pthread_cond_init(&ctx->reload_cond, NULL);
    *out = ctx;
    return JS_OK;
}

void js_close(js_ctx *ctx)
{
    if (ctx == NULL)
        return;
    hsm_close(ctx->h);
    pthread_mutex_destroy(&ctx->metrics.lock);
    pthread_mutex_destroy(&ctx->reload_lock);
    pthread_rwlock_destroy(&ctx->join_eui_lock);
    pthread_cond_destroy(&ctx->reload_cond);
    free(ctx->metrics.ops);
    store_batch_free(ctx->batch);
    js_trust_free(ctx);
    free(ctx->cfg);
    free(ctx);
}

const js_config *js_ctx_config(const js_ctx *ctx)
{
    return ctx->cfg;
}

void js_set_se_policy(js_ctx *ctx, js_se_policy_fn fn, void *fn_ctx)
{
    ctx->se_policy = fn;
    ctx->se_policy_ctx = fn_ctx;
}

js_status js_se_policy_of(js_worker *w, uint64_t dev_eui, js_se_policy *out)
{
    memset(out, 0, sizeof(*out));
    if (w->ctx->se_policy == NULL)
        return JS_OK;
    return w->ctx->se_policy(w->ctx->se_policy_ctx, w->db, dev_eui, out);
}

js_status js_worker_open(js_ctx *ctx, js_worker **out, char err[JS_ERR_MAX])
{
    *out = NULL;
    js_worker *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return JS_ERR_NOMEM;
    w->ctx = ctx;
    hsm_status hs = hsm_session_open(ctx->h, &w->sess);
    if (hs != HSM_OK) {
        js_errf(err, "key service session: %s", hsm_strerror(hs));
        free(w);
        return JS_ERR_HSM;
    }
    store_status ss = store_open(ctx->cfg->database, &w->db);
    if (ss != STORE_OK) {
        js_errf(err, "database: %s", store_strerror(ss));
        store_close(w->db);
        hsm_session_close(w->sess);
        free(w);
        return JS_ERR_STORE;
    }
    *out = w;
    return JS_OK;
}

void js_worker_close(js_worker *w)
{
    if (w == NULL)
        return;
    for (size_t i = 0; i < JS_KEK_CACHE; i++)
        hsm_key_release(w->sess, &w->keks[i].key);
    for (size_t i = 0; i < JS_ROOT_CACHE; i++)
        hsm_key_release(w->sess, &w->roots[i].key);
    js_op_trust_release(w);
    store_close(w->db);
    hsm_session_close(w->sess);
    lw_secure_wipe(w, sizeof(*w));
    free(w);
}

store *js_worker_store(js_worker *w)
{
    return w->db;
}

js_status js_worker_kek(js_worker *w, const char *label, const lw_key **key, char err[JS_ERR_MAX])
{
    store_kek row;
    store_status ss = store_kek_get(w->db, label, &row);
    if (ss == STORE_ERR_NOT_FOUND) {
        js_errf(err, "KEK \"%.64s\" is not known to this Join Server", label);
        return JS_ERR_NOT_FOUND;
    }
    if (ss != STORE_OK) {
        js_errf(err, "database: %s", store_strerror(ss));
        return JS_ERR_STORE;
    }
    w->clock++;
    js_kek_entry *victim = &w->keks[0];
    for (size_t i = 0; i < JS_KEK_CACHE; i++) {
        js_kek_entry *e = &w->keks[i];
        if (e->key.handle != 0 && strcmp(e->label, label) == 0) {
            if (e->blob.len == row.key.len && lw_secure_equal(e->blob.data, row.key.data, row.key.len)) {
                e->used = w->clock;
                *key = &e->key;
                return JS_OK;
            }
            victim = e; /* the KEK changed: replace this entry */
            break;
        }
        if (e->used < victim->used)
            victim = e;
    }
    hsm_key_release(w->sess, &victim->key);
    memset(victim, 0, sizeof(*victim));
    hsm_status hs = hsm_key_unwrap_blob(w->sess, HSM_KEY_KEK, row.key.data, row.key.len, &victim->key);
    if (hs != HSM_OK) {
        js_errf(err, "KEK \"%.64s\": %s", label, hsm_strerror(hs));
        return JS_ERR_HSM;
    }
    snprintf(victim->label, sizeof(victim->label), "%s", label);
    victim->blob = row.key;
    victim->used = w->clock;
    *key = &victim->key;
    return JS_OK;
}

hsm_status js_worker_root_key(js_worker *w, uint64_t dev_eui, js_root_role role, const store_blob *blob,
                              const lw_key **key)
{
    w->clock++;
    js_root_entry *victim = &w->roots[0];
    for (size_t i = 0; i < JS_ROOT_CACHE; i++) {
        js_root_entry *e = &w->roots[i];
        if (e->key.handle != 0 && e->dev_eui == dev_eui && e->role == role) {
            if (e->blob.len == blob->len && lw_secure_equal(e->blob.data, blob->data, blob->len)) {
                e->used = w->clock;
                *key = &e->key;
                return HSM_OK;
            }
            victim = e; /* the device's key changed: replace this entry */
            break;
        }
        if (victim->key.handle != 0 && (e->key.handle == 0 || e->used < victim->used))
            victim = e;
    }
    bool evict = victim->key.handle != 0 && !(victim->dev_eui == dev_eui && victim->role == role);
    hsm_key_release(w->sess, &victim->key);
    memset(victim, 0, sizeof(*victim));
    hsm_status hs = hsm_key_unwrap_blob(w->sess, HSM_KEY_WORKING, blob->data, blob->len, &victim->key);
    pthread_mutex_lock(&w->ctx->metrics.lock);
    w->ctx->metrics.root_unwraps++;
    w->ctx->metrics.root_evictions += evict;
    pthread_mutex_unlock(&w->ctx->metrics.lock);
    if (hs != HSM_OK) {
        memset(victim, 0, sizeof(*victim));
        return hs;
    }
    victim->dev_eui = dev_eui;
    victim->role = role;
    victim->blob = *blob;
    victim->used = w->clock;
    *key = &victim->key;
    return HSM_OK;
}

bool js_reply_text(js_reply *r, unsigned status, const char *content_type, const char *fmt, ...)
{
    r->http_status = status;
    r->content_type = content_type;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(r->body, sizeof(r->body), fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof(r->body)) {
        r->len = (size_t)n;
        return true;
    }
    /* A cut answer could be read as a whole one (a JSON body cut inside a
     * string still parses with some clients): refuse it instead. */
    static const char TOO_LARGE[] = "the answer does not fit the server's reply buffer\n";
    r->http_status = 500;
    r->content_type = "text/plain";
    memcpy(r->body, TOO_LARGE, sizeof TOO_LARGE);
    r->len = sizeof TOO_LARGE - 1;
    js_copy(r->note, sizeof(r->note), "answer larger than JS_REPLY_MAX: 500 sent instead");
    char detail[96];
    snprintf(detail, sizeof detail, "an answer of %d bytes (intended status %u) exceeds JS_REPLY_MAX (%u)", n, status,
             (unsigned)JS_REPLY_MAX);
    js_log("error", "answer too large for the reply buffer: 500 sent instead", NULL, 0.0, detail);
    return false;
}

void js_reply_reset(js_reply *r)
{
    r->http_status = 0;
    r->content_type = NULL;
    r->len = 0;
    r->body[0] = '\0';
    r->has_type = false;
    r->type = BI_MSG_JOIN_REQ;
    r->has_result = false;
    r->result = BI_RESULT_SUCCESS;
    r->has_dev_eui = false;
    r->dev_eui = 0;
    r->has_operator = false;
    r->operator_net_id = 0;
    r->note[0] = '\0';
}

void js_errf(char err[JS_ERR_MAX], const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(err, JS_ERR_MAX, fmt, ap);
    va_end(ap);
}

void js_copy(char *dst, size_t cap, const char *src)
{
    if (cap == 0)
        return;
    size_t n = strnlen(src, cap - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

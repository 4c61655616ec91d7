/*
 * js_http.c - the Join Server on the server layer (src/net/net_server.h):
 * routes a request to js_handle_bi / js_handle_admin / the metrics.
 *
 * libmicrohttpd's thread pool (`threads` in ferry.conf) runs the handler;
 * each pool thread gets its own js_worker (PKCS#11 session + database
 * connection) the first time it serves a request, found again through a
 * pthread key; all workers are listed so that they are closed after the
 * server stopped (its threads joined) and before the hsm closes.
 *
 * Client certificates: when some peer or operator has a client CA, every
 * distinct CA is given to the server layer, which then asks each client for
 * a certificate and hands the chain as sent; js_auth.c verifies it against
 * the CA of the SenderID the body claims (the union authenticates nobody).
 */
#include "js/js.h"
#include "js/js_internal.h"
#include "net/net_addr.h"
#include "net/net_log.h"
#include "net/net_server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define METRICS_MAX (1024 * 1024)
#define FLUSH_EVERY 20 /* main-loop turns of 50 ms: operator counters reach the database every second */

typedef struct worker_node {
    js_worker *w;
    struct worker_node *next;
} worker_node;

typedef struct server {
    js_ctx *ctx;
    pthread_key_t key;
    pthread_mutex_t lock;
    worker_node *workers;
} server;

static js_worker *thread_worker(server *srv)
{
    js_worker *w = pthread_getspecific(srv->key);
    if (w != NULL)
        return w;
    char err[JS_ERR_MAX];
    if (js_worker_open(srv->ctx, &w, err) != JS_OK) {
        js_log("error", "worker could not open", NULL, 0, err);
        return NULL;
    }
    worker_node *n = malloc(sizeof(*n));
    if (n == NULL) {
        js_worker_close(w);
        return NULL;
    }
    n->w = w;
    pthread_mutex_lock(&srv->lock);
    n->next = srv->workers;
    srv->workers = n;
    pthread_mutex_unlock(&srv->lock);
    pthread_setspecific(srv->key, w);
    return w;
}

static void serve_metrics(server *srv, const net_request *rq, net_reply *rp)
{
    /* per-operator families make the text outgrow a js_reply body */
    size_t n = 0;
    char *text = malloc(METRICS_MAX);
    if (text != NULL && js_metrics_render(srv->ctx, text, METRICS_MAX, &n) == JS_OK &&
        net_server_metrics(rq->server, text, METRICS_MAX, &n) == NET_OK)
        net_reply_copy(rp, 200, "text/plain; version=0.0.4", text, n);
    else
        net_reply_error(rp, 500, "the metrics do not fit their buffer");
    free(text);
}

static void on_request(void *user, const net_request *rq, net_reply *rp)
{
    server *srv = user;
    if (strcmp(rq->path, "/metrics") == 0 && strcmp(rq->method, "GET") == 0) {
        serve_metrics(srv, rq, rp);
        rp->log_level = "debug";
        return;
    }
    /* The worker's own reply buffer: one request at a time per pool thread,
     * and no 8 KiB malloc per request (a large request makes glibc
     * consolidate its fast bins, which showed in the profile). */
    js_worker *w = thread_worker(srv);
    js_reply *r = w != NULL ? &w->reply : malloc(sizeof(*r));
    if (r == NULL) {
        net_reply_error(rp, 500, "out of memory");
        return;
    }
    js_reply_reset(r);
    const char *what = "request";
    js_auth auth = {.bearer = rq->bearer, .tls_chain = rq->chain, .tls_chain_len = rq->chain_len};
    if (w == NULL) {
        js_reply_text(r, 503, "text/plain", "the server cannot reach its key service or database\n");
    } else if (strncmp(rq->path, "/api/", 5) == 0) {
        what = "admin";
        /* the one query the admin API takes: a list's cursor */
        char path[512];
        const char *after = net_request_query(rq, "after");
        const char *target = rq->path;
        if (after != NULL && strcmp(rq->path, "/api/v1/operators") == 0) {
            if ((size_t)snprintf(path, sizeof(path), "%s?after=%s", rq->path, after) >= sizeof(path)) {
                js_reply_text(r, 400, "text/plain", "the query is too long\n");
                target = NULL;
            } else {
                target = path;
            }
        }
        if (target != NULL)
            js_handle_admin(w, &auth, rq->method, target, rq->body, rq->len, r);
    } else if (strcmp(rq->method, "POST") == 0) {
        js_handle_bi(w, &auth, rq->body, rq->len, r);
    } else {
        js_reply_text(r, 405, "text/plain", "Backend Interfaces messages are POSTed\n");
    }
    js_metrics_observe(srv->ctx, r, net_request_seconds(rq));
    js_log_fields(r, rp->log);
    rp->log_msg = what;
    rp->log_level = r->http_status >= 500 ? "error" : "info";
    net_reply_copy(rp, r->http_status, r->content_type, r->body, r->len);
    lw_secure_wipe(r, sizeof(*r));
    if (w == NULL)
        free(r);
}

/* New TLS material without a restart (SIGHUP, POST /api/v1/tls/reload):
 * the server's certificate, key, priority and the client CAs it asks for,
 * then every peer's CA and CRL. Each part is all or nothing; the files are
 * those ferry.conf names (replace their contents to rotate). */
static js_status tls_reload(js_ctx *ctx, net_server *ns, store *db, char err[JS_ERR_MAX])
{
    const js_config *cfg = ctx->cfg;
    js_status st = JS_OK;
    if (cfg->tls_cert[0] != '\0') {
        char *ca = NULL;
        size_t ca_len = 0;
        if (js_trust_any(ctx) && (ca = js_trust_pem(ctx, &ca_len)) == NULL) {
            js_errf(err, "a client CA file could not be read");
            return JS_ERR_CONFIG;
        }
        if (js_operator_trust_pem(db, &ca, &ca_len) != JS_OK) {
            free(ca);
            js_errf(err, "the operators' client CAs could not be read");
            return JS_ERR_STORE;
        }
        net_tls t = {cfg->tls_cert, cfg->tls_key, ca, ca_len, cfg->tls_priority, cfg->tls_priority_below_floor};
        char nerr[NET_ERR_MAX];
        if (net_server_reload_taking_ca(ns, &t, nerr) != NET_OK) {
            js_errf(err, "%s", nerr);
            st = JS_ERR_HTTP;
        }
    }
    if (st == JS_OK)
        st = js_trust_reload(ctx, err);
    return st;
}

js_status js_reload_ask(js_ctx *ctx, unsigned seconds, char err[JS_ERR_MAX])
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += seconds;
    pthread_mutex_lock(&ctx->reload_lock);
    uint64_t mine = ++ctx->reload_asked;
    int rc = 0;
    while (ctx->reload_done < mine && rc == 0)
        rc = pthread_cond_timedwait(&ctx->reload_cond, &ctx->reload_lock, &until);
    js_status st = ctx->reload_done >= mine ? ctx->reload_result : JS_ERR_HTTP;
    if (ctx->reload_done >= mine)
        snprintf(err, JS_ERR_MAX, "%s", ctx->reload_err);
    else
        js_errf(err, "the reload did not finish within %u s", seconds);
    pthread_mutex_unlock(&ctx->reload_lock);
    return st;
}

/* Runs the reloads asked (a signal or the admin API) and answers them. */
static void reload_if_asked(js_ctx *ctx, net_server *ns, store *db, volatile sig_atomic_t *hup)
{
    pthread_mutex_lock(&ctx->reload_lock);
    uint64_t asked = ctx->reload_asked;
    bool api = asked > ctx->reload_done;
    pthread_mutex_unlock(&ctx->reload_lock);
    bool signal = hup != NULL && *hup;
    if (!api && !signal)
        return;
    if (hup != NULL)
        *hup = 0;
    char err[JS_ERR_MAX] = "";
    js_status st = tls_reload(ctx, ns, db, err);
    js_log(st == JS_OK ? "info" : "error", st == JS_OK ? "TLS material reloaded" : "TLS reload refused: the material in place stays",
           NULL, 0, st == JS_OK ? (signal ? "SIGHUP" : "admin API") : err);
    /* The JoinEUI ranges too (`ferry joineui add|remove` edits ferry.conf). */
    char e2[JS_ERR_MAX] = "";
    js_status s2 = js_join_eui_reload(ctx, e2);
    if (s2 == JS_OK) {
        char list[JS_JOIN_EUIS_MAX * (JS_JOIN_EUI_TEXT_MAX + 2)];
        js_join_eui_list_text(ctx, list, sizeof list);
        js_log("info", "JoinEUI ranges", NULL, 0, list);
    } else {
        js_log("error", "JoinEUI ranges not reloaded: the ones in place stay", NULL, 0, e2);
        if (st == JS_OK) {
            st = s2;
            snprintf(err, sizeof err, "%s", e2);
        }
    }
    pthread_mutex_lock(&ctx->reload_lock);
    ctx->reload_done = asked;
    ctx->reload_result = st;
    snprintf(ctx->reload_err, sizeof(ctx->reload_err), "%s", err);
    pthread_cond_broadcast(&ctx->reload_cond);
    pthread_mutex_unlock(&ctx->reload_lock);
}

js_status js_serve(js_ctx *ctx, const char *listen, volatile sig_atomic_t *stop, volatile sig_atomic_t *hup,
                   char err[JS_ERR_MAX])
{
    err[0] = '\0';
    const js_config *cfg = ctx->cfg;
    if (listen == NULL)
        listen = cfg->listen;
    if (hsm_process_harden() != HSM_OK) {
        js_errf(err, "could not keep the process out of core dumps (hsm_process_harden)");
        return JS_ERR_HSM;
    }
    net_addr a;
    char nerr[NET_ERR_MAX];
    if (net_addr_parse(listen, &a, nerr) != NET_OK) {
        js_errf(err, "%s", nerr);
        return JS_ERR_ARGUMENT;
    }
    bool tls = cfg->tls_cert[0] != '\0';
    if (!cfg->peer_auth_required && !(a.loopback && !tls)) {
        js_errf(err, "peer_auth = none is allowed only with plain HTTP on loopback");
        return JS_ERR_HTTP;
    }
    /* The main thread's own connection: operator CA bundles for the
     * handshake, and the operator counters' flush. */
    store *db = NULL;
    store_status dss = store_open(cfg->database, &db);
    if (dss != STORE_OK) {
        js_errf(err, "database: %s", store_strerror(dss));
        store_close(db);
        return JS_ERR_STORE;
    }
    char *ca = NULL;
    size_t ca_len = 0;
    if (tls) {
        if (js_trust_any(ctx))
            ca = js_trust_pem(ctx, &ca_len);
        bool ca_ok = !js_trust_any(ctx) || ca != NULL;
        /* Operators onboarded with a client CA: their bundles join the
         * list the handshake advertises (and make it ask for a certificate).
         * Verification is still per SenderID, in js_auth.c. */
        if (ca_ok && js_operator_trust_pem(db, &ca, &ca_len) != JS_OK)
            ca_ok = false;
        if (!ca_ok) {
            js_errf(err, "could not read a client CA file");
            free(ca);
            store_close(db);
            return JS_ERR_HTTP;
        }
    }
    server srv;
    memset(&srv, 0, sizeof(srv));
    srv.ctx = ctx;
    pthread_key_create(&srv.key, NULL);
    pthread_mutex_init(&srv.lock, NULL);
    net_server_opts o = {
        .service = "js",
        .listen = listen,
        .tls = {cfg->tls_cert, cfg->tls_key, ca, ca_len, cfg->tls_priority, cfg->tls_priority_below_floor},
        .threads = cfg->threads,
        .shared_port = cfg->listen_shared,
        .limits = {.body_max = BI_BODY_MAX},
        .handle = on_request,
        .user = &srv,
    };
    net_server *ns = NULL;
    /* the delivery thread of asynchronous answers runs before the first
     * request can queue one, and stops after the last was served; it also
     * resumes the deliveries a previous process left pending */
    js_async *async = NULL;
    js_status st = js_async_start(ctx, &async, err);
    if (st != JS_OK) {
        /* err says why */
    } else if (net_server_start(&o, &ns, nerr) != NET_OK) {
        js_errf(err, "%s", nerr);
        st = JS_ERR_HTTP;
    } else {
        char line[200];
        /* the port bound, which differs from the configured one for ":0":
         * what a supervisor or a test reads to reach a server that chose
         * its own port */
        snprintf(line, sizeof(line), "%s %s, port %u%s, %u threads, peer_auth %s", tls ? "https" : "http", listen,
                 net_server_port(ns), cfg->listen_shared ? " (shared)" : "", cfg->threads,
                 cfg->peer_auth_required ? "required" : "none");
        js_log("info", "listening", NULL, 0, line);
        for (unsigned turn = 1; !*stop; turn++) {
            usleep(50 * 1000);
            reload_if_asked(ctx, ns, db, hup);
            if (turn % FLUSH_EVERY == 0 && js_metrics_flush(ctx, db) != JS_OK)
                js_log("error", "operator counters not written (kept for the next flush)", NULL, 0, NULL);
        }
        net_server_stop(ns);
        if (js_metrics_flush(ctx, db) != JS_OK)
            js_log("error", "operator counters not written at stop", NULL, 0, NULL);
        js_log("info", "stopped", NULL, 0, NULL);
    }
    js_async_stop(async);
    store_close(db);
    worker_node *n = srv.workers;
    while (n != NULL) {
        worker_node *next = n->next;
        js_worker_close(n->w);
        free(n);
        n = next;
    }
    pthread_key_delete(srv.key);
    pthread_mutex_destroy(&srv.lock);
    if (ca != NULL) {
        lw_secure_wipe(ca, ca_len);
        free(ca);
    }
    return st;
}

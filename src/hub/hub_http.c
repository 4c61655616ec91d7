/*
 * hub_http.c - the hub as a process: the server layer (src/net) in front of
 * hub_route_message(), the server layer's HTTP client behind it.
 *
 * Threads: libmicrohttpd's pool (`threads`); a forwarded request holds its
 * thread until the receiver answers (synchronous request/answer), so the
 * pool bounds how many exchanges are in flight. Each pool thread keeps one
 * net_client (a pthread key; connections to receivers are reused), freed
 * when the thread ends at net_server_stop().
 *
 * Transport security as ferry's Join Server: plain HTTP only on loopback;
 * with tls_cert/tls_key HTTPS on any address; when a member has a client
 * CA, every CA file is given to the server layer so that it asks clients
 * for a certificate, and the chain as sent is verified per member in
 * hub_auth.c (never against the union).
 */
#include "hub/hub.h"
#include "hsm/hsm.h"
#include "lorawan/lw_secure.h"
#include "net/net_client.h"
#include "net/net_server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define METRICS_MAX (1u << 20) /* every label combination: 22 types x 6 outcomes x 22 results */

typedef struct server {
    hub_ctx *ctx;
    const hub_config *cfg;
    pthread_key_t client_key;
} server;

/* ---- forwarding ------------------------------------------------------------ */

static void client_free(void *p)
{
    net_client_free(p);
}

static hub_status forward(void *user, const hub_route *route, const char *bearer, const char *body, size_t len,
                          char *ans, size_t cap, size_t *ans_len, unsigned *http_status, char why[200])
{
    server *srv = user;
    net_client *c = pthread_getspecific(srv->client_key);
    if (c == NULL) {
        if (net_client_new(&c) != NET_OK) {
            snprintf(why, 200, "the HTTP client could not start");
            return HUB_ERR_NOMEM;
        }
        pthread_setspecific(srv->client_key, c);
    }
    const hub_config *cfg = srv->cfg;
    net_call call = {
        .method = "POST",
        .url = route->url,
        .bearer = bearer != NULL && bearer[0] != '\0' ? bearer : NULL,
        .body = body,
        .len = len,
        .ca_file = cfg->ca_file,
        .client_cert = cfg->client_cert,
        .client_key = cfg->client_key,
        .timeout_ms = cfg->timeout_ms,
    };
    net_answer a = {.body = ans, .cap = cap};
    char err[NET_ERR_MAX];
    net_status st = net_client_call(c, &call, &a, err);
    if (st != NET_OK) {
        snprintf(why, 200, "%.199s", err);
        return st == NET_ERR_NOMEM ? HUB_ERR_NOMEM : HUB_ERR_IO;
    }
    *ans_len = a.len;
    *http_status = a.status;
    return HUB_OK;
}

/* ---- serving ----------------------------------------------------------------- */

static void on_request(void *user, const net_request *rq, net_reply *rp)
{
    server *srv = user;
    if (strcmp(rq->path, "/metrics") == 0 && strcmp(rq->method, "GET") == 0) {
        char *out = malloc(METRICS_MAX);
        size_t n = 0;
        if (out != NULL && hub_metrics_render(srv->ctx, out, METRICS_MAX, &n) == HUB_OK &&
            net_server_metrics(rq->server, out, METRICS_MAX, &n) == NET_OK)
            net_reply_copy(rp, 200, "text/plain; version=0.0.4", out, n);
        else
            net_reply_error(rp, 500, "the metrics do not fit their buffer");
        free(out);
        rp->log_level = "debug";
        return;
    }
    if (strcmp(rq->method, "POST") != 0) {
        net_reply_copy(rp, 405, "text/plain", "Backend Interfaces messages are POSTed\n", 39);
        return;
    }
    hub_reply *r = malloc(sizeof(*r));
    if (r == NULL) {
        net_reply_error(rp, 500, "out of memory");
        return;
    }
    hub_auth auth = {.bearer = rq->bearer, .tls_chain = rq->chain, .tls_chain_len = rq->chain_len};
    hub_route_message(srv->ctx, &auth, rq->body, rq->len, r);
    hub_metrics_observe(srv->ctx, r, net_request_seconds(rq));
    hub_log_fields(r, rp->log);
    rp->log_msg = "message";
    rp->log_level = r->http_status >= 500 || r->outcome == HUB_UNREACHABLE ? "error"
                    : r->outcome != HUB_FORWARDED                           ? "warn"
                                                                            : "info";
    net_reply_copy(rp, r->http_status, r->content_type, r->body, r->len);
    lw_secure_wipe(r, sizeof(*r));
    free(r);
}

/* Every member CA file, concatenated (what the handshake advertises). */
static bool trust_pem(const hub_config *cfg, char **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    for (size_t i = 0; i < cfg->n_members; i++) {
        const char *path = cfg->members[i].client_ca;
        if (path[0] != '\0' && !net_ca_bundle_add(out, len, path)) {
            free(*out);
            *out = NULL;
            return false;
        }
    }
    return true;
}

/* SIGHUP: the hub's certificate, key and priority, then every member's CA
 * and CRL, read again (the files hub.conf names); each part all or nothing. */
static void tls_reload(hub_ctx *ctx, const hub_config *cfg, net_server *ns)
{
    char err[HUB_ERR_MAX] = "";
    hub_status st = HUB_OK;
    if (cfg->tls_cert[0] != '\0') {
        char *ca = NULL, nerr[NET_ERR_MAX];
        size_t ca_len = 0;
        bool read = trust_pem(cfg, &ca, &ca_len);
        net_tls t = {cfg->tls_cert, cfg->tls_key, ca, ca_len, cfg->tls_priority, cfg->tls_priority_below_floor};
        if (!read || net_server_reload_taking_ca(ns, &t, nerr) != NET_OK) {
            snprintf(err, sizeof(err), "%s", read ? nerr : "a member's client CA could not be read");
            st = HUB_ERR_TLS;
        }
    }
    if (st == HUB_OK)
        st = hub_trust_reload(ctx, err);
    hub_log(st == HUB_OK ? "info" : "error",
            st == HUB_OK ? "TLS material reloaded" : "TLS reload refused: the material in place stays", NULL, 0,
            st == HUB_OK ? "SIGHUP" : err);
}

hub_status hub_serve(const hub_config *cfg, volatile sig_atomic_t *stop, volatile sig_atomic_t *hup,
                     char err[HUB_ERR_MAX])
{
    if (cfg == NULL || stop == NULL || err == NULL)
        return HUB_ERR_ARGUMENT;
    err[0] = '\0';
    if (hsm_process_harden() != HSM_OK) {
        snprintf(err, HUB_ERR_MAX, "could not keep the process out of core dumps");
        return HUB_ERR_IO;
    }
    bool tls = cfg->tls_cert[0] != '\0';
    char *ca = NULL;
    size_t ca_len = 0;
    if (!trust_pem(cfg, &ca, &ca_len)) {
        snprintf(err, HUB_ERR_MAX, "could not read a member's client CA (at most %u bytes in all)", NET_CA_BUNDLE_MAX);
        return HUB_ERR_TLS;
    }
    if (ca != NULL && !tls) {
        snprintf(err, HUB_ERR_MAX, "a member has a client_ca but the hub serves plain HTTP: configure tls_cert");
        free(ca);
        return HUB_ERR_CONFIG;
    }
    server srv = {.cfg = cfg};
    hub_io io = {.user = &srv, .forward = forward};
    hub_ctx *ctx = calloc(1, sizeof(*ctx));
    if (ctx == NULL) {
        free(ca);
        return HUB_ERR_NOMEM;
    }
    hub_status st = hub_ctx_open(ctx, cfg, &io, err);
    if (st != HUB_OK) {
        free(ctx);
        free(ca);
        return st;
    }
    srv.ctx = ctx;
    pthread_key_create(&srv.client_key, client_free);
    net_server_opts o = {
        .service = "hub",
        .listen = cfg->listen,
        .tls = {cfg->tls_cert, cfg->tls_key, ca, ca_len, cfg->tls_priority, cfg->tls_priority_below_floor},
        .threads = cfg->threads,
        /* a larger body is answered 413 by the server layer and counted
         * in its statistics (ferry_http_* in /metrics) */
        .limits = {.body_max = BI_BODY_MAX},
        .handle = on_request,
        .user = &srv,
    };
    net_server *ns = NULL;
    char nerr[NET_ERR_MAX];
    if (net_server_start(&o, &ns, nerr) != NET_OK) {
        snprintf(err, HUB_ERR_MAX, "%s", nerr);
        st = HUB_ERR_IO;
    } else {
        char line[200];
        snprintf(line, sizeof(line), "%s %s, port %u, %u threads, %zu members, %zu routes", tls ? "https" : "http",
                 cfg->listen, net_server_port(ns), cfg->threads, cfg->n_members, cfg->n_routes);
        hub_log("info", "listening", NULL, 0, line);
        while (!*stop) {
            usleep(50 * 1000);
            if (hup != NULL && *hup) {
                *hup = 0;
                tls_reload(ctx, cfg, ns);
            }
        }
        net_server_stop(ns);
        hub_log("info", "stopped", NULL, 0, NULL);
    }
    pthread_key_delete(srv.client_key);
    if (ca != NULL) {
        lw_secure_wipe(ca, ca_len);
        free(ca);
    }
    hub_ctx_close(ctx);
    free(ctx);
    return st;
}

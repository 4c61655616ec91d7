/*
 * js_http.c - the HTTP shell around js_handle_bi / js_handle_admin.
 *
 * libmicrohttpd with an internal thread pool (`threads` in ferry.conf).
 * Each pool thread gets its own js_worker (PKCS#11 session + database
 * connection) the first time it serves a request, found again through a
 * pthread key; all workers are listed so that they are closed after
 * MHD_stop_daemon() has joined the pool threads and before the hsm closes.
 *
 * Transport security: plain HTTP is refused on any address that is not
 * loopback; with tls_cert/tls_key GnuTLS serves HTTPS (any address).
 *
 * Client certificates: when some peer has a client CA (peer.<ID>.client_ca
 * or the fallback tls_client_ca), libmicrohttpd is given every distinct CA
 * file concatenated as MHD_OPTION_HTTPS_MEM_TRUST. That makes it ask each
 * client for a certificate (GNUTLS_CERT_REQUEST: optional, so token-only
 * peers still connect) and lets the handshake advertise the acceptable CA
 * names. The handshake's own verification against that union is NOT what
 * authenticates: a certificate from peer A's CA verifies against the union
 * too. The chain the client sent is handed to the handler, which verifies
 * it against the CA of the SenderID the body claims (js_auth.c). Asking
 * without a trust store (a custom GnuTLS callback) would work as well but
 * needs hooks libmicrohttpd does not offer for its sessions.
 */
#include "js/js.h"
#include "js/js_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
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
    bool client_ca;
} server;

typedef struct conn_state {
    char *buf;
    size_t len, cap;
    bool too_big;
    struct timespec start;
} conn_state;

static double since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

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

static enum MHD_Result send_reply(struct MHD_Connection *c, const js_reply *r)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(r->len, (void *)r->body, MHD_RESPMEM_MUST_COPY);
    if (resp == NULL)
        return MHD_NO;
    if (r->content_type != NULL)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type);
    enum MHD_Result ret = MHD_queue_response(c, r->http_status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* The certificates the client sent, as they are: verified per SenderID by
 * js_peer_authenticated, not here (see js_auth.c for why). */
static size_t client_chain(struct MHD_Connection *c, js_cert out[JS_CHAIN_MAX])
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    if (ci == NULL || ci->tls_session == NULL)
        return 0;
    unsigned n = 0;
    const gnutls_datum_t *chain = gnutls_certificate_get_peers((gnutls_session_t)ci->tls_session, &n);
    if (chain == NULL || n == 0 || n > JS_CHAIN_MAX)
        return 0;
    for (unsigned i = 0; i < n; i++)
        out[i] = (js_cert){.der = chain[i].data, .len = chain[i].size};
    return n;
}

static const char *bearer_of(struct MHD_Connection *c)
{
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
        return NULL;
    h += 7;
    while (*h == ' ')
        h++;
    return h;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    (void)version;
    server *srv = cls;
    conn_state *cs = *con_cls;
    if (cs == NULL) {
        cs = calloc(1, sizeof(*cs));
        if (cs == NULL)
            return MHD_NO;
        clock_gettime(CLOCK_MONOTONIC, &cs->start);
        *con_cls = cs;
        return MHD_YES;
    }
    if (*upload_size > 0) {
        if (!cs->too_big) {
            if (cs->len + *upload_size > BI_BODY_MAX) {
                cs->too_big = true;
            } else {
                if (cs->len + *upload_size > cs->cap) {
                    size_t ncap = cs->len + *upload_size + 1024;
                    char *nb = malloc(ncap);
                    if (nb == NULL)
                        return MHD_NO;
                    if (cs->buf != NULL) {
                        memcpy(nb, cs->buf, cs->len);
                        lw_secure_wipe(cs->buf, cs->cap);
                        free(cs->buf);
                    }
                    cs->buf = nb;
                    cs->cap = ncap;
                }
                memcpy(cs->buf + cs->len, upload, *upload_size);
                cs->len += *upload_size;
            }
        }
        *upload_size = 0;
        return MHD_YES;
    }

    js_reply *r = malloc(sizeof(*r));
    if (r == NULL)
        return MHD_NO;
    js_reply_reset(r);
    const char *what = "request";
    if (strcmp(url, "/metrics") == 0 && strcmp(method, "GET") == 0) {
        /* per-operator families make the text outgrow a js_reply body */
        size_t n = 0, cap = METRICS_MAX;
        char *text = malloc(cap);
        enum MHD_Result ret = MHD_NO;
        if (text != NULL && js_metrics_render(srv->ctx, text, cap, &n) == JS_OK) {
            struct MHD_Response *resp = MHD_create_response_from_buffer(n, text, MHD_RESPMEM_MUST_FREE);
            if (resp != NULL) {
                text = NULL;
                MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; version=0.0.4");
                ret = MHD_queue_response(c, 200, resp);
                MHD_destroy_response(resp);
            }
        } else {
            js_reply_text(r, 500, "text/plain", "metrics do not fit\n");
            ret = send_reply(c, r);
        }
        free(text);
        free(r);
        return ret;
    }
    if (cs->too_big) {
        js_reply_text(r, 413, "text/plain", "body larger than %u bytes\n", BI_BODY_MAX);
    } else {
        js_worker *w = thread_worker(srv);
        js_cert chain[JS_CHAIN_MAX];
        js_auth auth = {.bearer = bearer_of(c), .tls_chain = chain, .tls_chain_len = 0};
        if (srv->client_ca)
            auth.tls_chain_len = client_chain(c, chain);
        if (w == NULL) {
            js_reply_text(r, 503, "text/plain", "the server cannot reach its key service or database\n");
        } else if (strncmp(url, "/api/", 5) == 0) {
            what = "admin";
            /* the one query the admin API takes: a list's cursor */
            char path[512];
            const char *after = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "after");
            const char *target = url;
            if (after != NULL && strcmp(url, "/api/v1/operators") == 0 &&
                (size_t)snprintf(path, sizeof(path), "%s?after=%s", url, after) < sizeof(path))
                target = path;
            js_handle_admin(w, &auth, method, target, cs->buf != NULL ? cs->buf : "", cs->len, r);
        } else if (strcmp(method, "POST") == 0) {
            js_handle_bi(w, &auth, cs->buf != NULL ? cs->buf : "", cs->len, r);
        } else {
            js_reply_text(r, 405, "text/plain", "Backend Interfaces messages are POSTed\n");
        }
    }
    double dt = since(&cs->start);
    js_metrics_observe(srv->ctx, r, dt);
    js_log(r->http_status >= 500 ? "error" : "info", what, r, dt, NULL);
    enum MHD_Result ret = send_reply(c, r);
    lw_secure_wipe(r, sizeof(*r));
    free(r);
    return ret;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    conn_state *cs = *con_cls;
    if (cs == NULL)
        return;
    if (cs->buf != NULL) {
        lw_secure_wipe(cs->buf, cs->cap);
        free(cs->buf);
    }
    free(cs);
    *con_cls = NULL;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 65536, n = 0;
    char *b = malloc(cap + 1);
    if (b != NULL) {
        n = fread(b, 1, cap, f);
        b[n] = '\0';
    }
    fclose(f);
    if (b != NULL && n == cap) { /* larger than any PEM we expect */
        free(b);
        return NULL;
    }
    *len = n;
    return b;
}

static void wipe_free(char *p, size_t n)
{
    if (p != NULL) {
        lw_secure_wipe(p, n);
        free(p);
    }
}

js_status js_serve(js_ctx *ctx, const char *listen, volatile sig_atomic_t *stop, char err[JS_ERR_MAX])
{
    err[0] = '\0';
    const js_config *cfg = ctx->cfg;
    if (listen == NULL)
        listen = cfg->listen;
    if (hsm_process_harden() != HSM_OK) {
        js_errf(err, "could not keep the process out of core dumps (hsm_process_harden)");
        return JS_ERR_HSM;
    }
    char host[128];
    uint16_t port;
    if (js_parse_listen(listen, host, sizeof(host), &port) != JS_OK) {
        js_errf(err, "listen address \"%s\": expected ADDR:PORT", listen);
        return JS_ERR_ARGUMENT;
    }
    bool loopback = js_listen_is_loopback(listen);
    bool tls = cfg->tls_cert[0] != '\0';
    if (!tls && !loopback) {
        js_errf(err, "%s is not a loopback address: configure tls_cert and tls_key", listen);
        return JS_ERR_HTTP;
    }
    if (!cfg->peer_auth_required && !(loopback && !tls)) {
        js_errf(err, "peer_auth = none is allowed only with plain HTTP on loopback");
        return JS_ERR_HTTP;
    }
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO;
    socklen_t sl;
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons(port);
        sl = sizeof(*s4);
    } else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(port);
        sl = sizeof(*s6);
        flags |= MHD_USE_IPv6;
    } else {
        js_errf(err, "listen address \"%s\": a numeric IPv4 or IPv6 address is expected", host);
        return JS_ERR_ARGUMENT;
    }
    (void)sl;
    /* The main thread's own connection: operator CA bundles for the
     * handshake, and the operator counters' flush. */
    store *db = NULL;
    store_status dss = store_open(cfg->database, &db);
    if (dss != STORE_OK) {
        js_errf(err, "database: %s", store_strerror(dss));
        store_close(db);
        return JS_ERR_STORE;
    }
    char *cert = NULL, *key = NULL, *ca = NULL;
    size_t cert_len = 0, key_len = 0, ca_len = 0;
    if (tls) {
        flags |= MHD_USE_TLS;
        cert = read_file(cfg->tls_cert, &cert_len);
        key = read_file(cfg->tls_key, &key_len);
        if (js_trust_any(ctx))
            ca = js_trust_pem(ctx, &ca_len);
        bool ca_ok = !js_trust_any(ctx) || ca != NULL;
        /* Operators onboarded with a client CA: their bundles join the
         * list the handshake advertises (and make it ask for a certificate).
         * Verification is still per SenderID, in js_auth.c. */
        if (ca_ok && js_operator_trust_pem(db, &ca, &ca_len) != JS_OK)
            ca_ok = false;
        if (cert == NULL || key == NULL || !ca_ok) {
            js_errf(err, "could not read tls_cert, tls_key or a client CA file");
            wipe_free(cert, cert_len);
            wipe_free(key, key_len);
            wipe_free(ca, ca_len);
            store_close(db);
            return JS_ERR_HTTP;
        }
    }
    server srv;
    memset(&srv, 0, sizeof(srv));
    srv.ctx = ctx;
    srv.client_ca = ca != NULL;
    pthread_key_create(&srv.key, NULL);
    pthread_mutex_init(&srv.lock, NULL);

    struct MHD_OptionItem opts[8];
    size_t no = 0;
    opts[no++] = (struct MHD_OptionItem){MHD_OPTION_SOCK_ADDR, 0, &ss};
    opts[no++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, (intptr_t)cfg->threads, NULL};
    opts[no++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT, 30, NULL};
    if (tls) {
        opts[no++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, key};
        opts[no++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, cert};
        if (ca != NULL)
            opts[no++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_TRUST, 0, ca};
    }
    opts[no++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    struct MHD_Daemon *d = MHD_start_daemon(flags, port, NULL, NULL, on_request, &srv, MHD_OPTION_NOTIFY_COMPLETED,
                                            on_completed, NULL, MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
    js_status st = JS_OK;
    if (d == NULL) {
        js_errf(err, "could not listen on %s%s (address in use, or TLS files invalid)", listen,
                 tls ? " with TLS" : "");
        st = JS_ERR_HTTP;
    } else {
        char line[200];
        /* the port bound, which differs from the configured one for ":0":
         * what a supervisor or a test reads to reach a server that chose
         * its own port */
        const union MHD_DaemonInfo *bi = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
        snprintf(line, sizeof(line), "%s %s, port %u, %u threads, peer_auth %s", tls ? "https" : "http", listen,
                 bi != NULL ? (unsigned)bi->port : 0u, cfg->threads, cfg->peer_auth_required ? "required" : "none");
        js_log("info", "listening", NULL, 0, line);
        for (unsigned turn = 1; !*stop; turn++) {
            usleep(50 * 1000);
            if (turn % FLUSH_EVERY == 0 && js_metrics_flush(ctx, db) != JS_OK)
                js_log("error", "operator counters not written (kept for the next flush)", NULL, 0, NULL);
        }
        MHD_stop_daemon(d);
        if (js_metrics_flush(ctx, db) != JS_OK)
            js_log("error", "operator counters not written at stop", NULL, 0, NULL);
        js_log("info", "stopped", NULL, 0, NULL);
    }
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
    wipe_free(cert, cert_len);
    wipe_free(key, key_len);
    wipe_free(ca, ca_len);
    return st;
}

/*
 * hub_http.c - the hub as a process: libmicrohttpd (+GnuTLS) in front of
 * hub_route_message(), libcurl behind it.
 *
 * Threads: libmicrohttpd's pool (`threads`); a forwarded request holds its
 * thread until the receiver answers (synchronous request/answer), so the
 * pool bounds how many exchanges are in flight. Each pool thread keeps one
 * libcurl handle (a pthread key; connections to receivers are reused) that
 * is cleaned up when the thread ends at MHD_stop_daemon().
 *
 * Transport security as ferry's Join Server: plain HTTP only on loopback;
 * with tls_cert/tls_key HTTPS on any address; when a member has a client
 * CA, every CA file is given to libmicrohttpd as MHD_OPTION_HTTPS_MEM_TRUST
 * so that it asks clients for a certificate, and the chain as sent is
 * verified per member in hub_auth.c (never against the union).
 *
 * Buffers that held a body are wiped before they are freed: they hold only
 * wrapped keys, but a hub has no business leaving even those around.
 */
#include "hub/hub.h"
#include "hsm/hsm.h"
#include "lorawan/lw_secure.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <gnutls/gnutls.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct server {
    hub_ctx *ctx;
    const hub_config *cfg;
    pthread_key_t curl_key;
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

/* ---- forwarding (libcurl) ------------------------------------------------ */

typedef struct sink {
    char *buf;
    size_t len, cap;
    bool overflow;
} sink;

static size_t on_body(char *p, size_t size, size_t n, void *user)
{
    sink *s = user;
    size_t k = size * n;
    if (s->len + k > s->cap) {
        s->overflow = true;
        return 0;
    }
    memcpy(s->buf + s->len, p, k);
    s->len += k;
    return k;
}

static void curl_free_handle(void *p)
{
    curl_easy_cleanup(p);
}

static hub_status forward(void *user, const hub_route *route, const char *bearer, const char *body, size_t len,
                          char *ans, size_t cap, size_t *ans_len, unsigned *http_status, char why[200])
{
    server *srv = user;
    CURL *c = pthread_getspecific(srv->curl_key);
    if (c == NULL) {
        c = curl_easy_init();
        if (c == NULL) {
            snprintf(why, 200, "libcurl could not start");
            return HUB_ERR_NOMEM;
        }
        pthread_setspecific(srv->curl_key, c);
    }
    curl_easy_reset(c);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    char auth[HUB_TOKEN_MAX + 32];
    if (h != NULL && bearer != NULL && bearer[0] != '\0') {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", bearer);
        struct curl_slist *h2 = curl_slist_append(h, auth); /* libcurl copies the string */
        lw_secure_wipe(auth, sizeof(auth));
        if (h2 == NULL) {
            curl_slist_free_all(h);
            h = NULL;
        } else {
            h = h2;
        }
    }
    if (h == NULL) {
        snprintf(why, 200, "out of memory");
        return HUB_ERR_NOMEM;
    }
    sink s = {.buf = ans, .cap = cap > 0 ? cap - 1 : 0};
    const hub_config *cfg = srv->cfg;
    curl_easy_setopt(c, CURLOPT_URL, route->url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)cfg->timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    if (cfg->ca_file[0])
        curl_easy_setopt(c, CURLOPT_CAINFO, cfg->ca_file);
    if (cfg->client_cert[0]) {
        curl_easy_setopt(c, CURLOPT_SSLCERT, cfg->client_cert);
        curl_easy_setopt(c, CURLOPT_SSLKEY, cfg->client_key);
    }
    CURLcode rc = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(h);
    /* the handle keeps the header list pointer until reset: drop it now */
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    if (s.overflow) {
        snprintf(why, 200, "it answered more than %zu bytes", s.cap);
        return HUB_ERR_IO;
    }
    if (rc != CURLE_OK || code < 100 || code > 599) {
        snprintf(why, 200, "%s", rc != CURLE_OK ? curl_easy_strerror(rc) : "no HTTP status");
        return HUB_ERR_IO;
    }
    ans[s.len] = '\0';
    *ans_len = s.len;
    *http_status = (unsigned)code;
    return HUB_OK;
}

/* ---- serving (libmicrohttpd) --------------------------------------------- */

static enum MHD_Result send_body(struct MHD_Connection *c, unsigned status, const char *type, const char *body,
                                 size_t len)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (resp == NULL)
        return MHD_NO;
    if (type != NULL)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    enum MHD_Result ret = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static size_t client_chain(struct MHD_Connection *c, hub_cert out[HUB_CHAIN_MAX])
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    if (ci == NULL || ci->tls_session == NULL)
        return 0;
    unsigned n = 0;
    const gnutls_datum_t *chain = gnutls_certificate_get_peers((gnutls_session_t)ci->tls_session, &n);
    if (chain == NULL || n == 0 || n > HUB_CHAIN_MAX)
        return 0;
    for (unsigned i = 0; i < n; i++)
        out[i] = (hub_cert){.der = chain[i].data, .len = chain[i].size};
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

static bool body_append(conn_state *cs, const char *data, size_t n)
{
    if (cs->too_big)
        return true;
    if (cs->len + n > BI_BODY_MAX) {
        cs->too_big = true;
        return true;
    }
    if (cs->len + n + 1 > cs->cap) {
        size_t ncap = cs->len + n + 1024;
        char *nb = malloc(ncap);
        if (nb == NULL)
            return false;
        if (cs->buf != NULL) {
            memcpy(nb, cs->buf, cs->len);
            lw_secure_wipe(cs->buf, cs->cap);
            free(cs->buf);
        }
        cs->buf = nb;
        cs->cap = ncap;
    }
    memcpy(cs->buf + cs->len, data, n);
    cs->len += n;
    return true;
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
        bool ok = body_append(cs, upload, *upload_size);
        *upload_size = 0;
        return ok ? MHD_YES : MHD_NO;
    }
    if (strcmp(url, "/metrics") == 0 && strcmp(method, "GET") == 0) {
        /* every label combination fits: 22 types x 6 outcomes x 22 results */
        const size_t cap = 1u << 20;
        char *out = malloc(cap);
        size_t n = 0;
        enum MHD_Result ret;
        if (out != NULL && hub_metrics_render(srv->ctx, out, cap, &n) == HUB_OK)
            ret = send_body(c, 200, "text/plain; version=0.0.4", out, n);
        else
            ret = send_body(c, 500, "text/plain", "metrics do not fit\n", 19);
        free(out);
        return ret;
    }
    if (strcmp(method, "POST") != 0)
        return send_body(c, 405, "text/plain", "Backend Interfaces messages are POSTed\n", 39);
    hub_reply *r = malloc(sizeof(*r));
    if (r == NULL)
        return MHD_NO;
    hub_cert chain[HUB_CHAIN_MAX];
    hub_auth auth = {.bearer = bearer_of(c), .tls_chain = chain, .tls_chain_len = 0};
    if (srv->client_ca)
        auth.tls_chain_len = client_chain(c, chain);
    hub_route_message(srv->ctx, &auth, cs->buf != NULL ? cs->buf : "", cs->too_big ? BI_BODY_MAX + 1 : cs->len, r);
    double dt = since(&cs->start);
    hub_metrics_observe(srv->ctx, r, dt);
    hub_log(r->http_status >= 500 || r->outcome == HUB_UNREACHABLE ? "error"
            : r->outcome != HUB_FORWARDED                           ? "warn"
                                                                    : "info",
            "message", r, dt, NULL);
    enum MHD_Result ret = send_body(c, r->http_status, r->content_type, r->body, r->len);
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

/* ---- start-up -------------------------------------------------------------- */

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 1 << 20, n = 0;
    char *b = malloc(cap + 1);
    if (b != NULL) {
        n = fread(b, 1, cap, f);
        b[n] = '\0';
    }
    fclose(f);
    if (b != NULL && n == cap) {
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

/* Every member CA file, concatenated (what the handshake advertises). */
static char *trust_pem(const hub_config *cfg, size_t *len)
{
    char *out = NULL;
    size_t n = 0;
    for (size_t i = 0; i < cfg->n_members; i++) {
        const char *path = cfg->members[i].client_ca;
        if (path[0] == '\0')
            continue;
        size_t k = 0;
        char *one = read_file(path, &k);
        if (one == NULL) {
            free(out);
            return NULL;
        }
        char *nb = realloc(out, n + k + 2);
        if (nb == NULL) {
            free(one);
            free(out);
            return NULL;
        }
        out = nb;
        memcpy(out + n, one, k);
        n += k;
        out[n++] = '\n';
        out[n] = '\0';
        free(one);
    }
    *len = n;
    return out;
}

static bool parse_listen(const char *listen, struct sockaddr_storage *ss, bool *v6, bool *loopback)
{
    char host[128];
    const char *colon = strrchr(listen, ':');
    if (colon == NULL || colon == listen)
        return false;
    size_t hl = (size_t)(colon - listen);
    if (listen[0] == '[' && hl >= 2 && listen[hl - 1] == ']') {
        listen++;
        hl -= 2;
    }
    if (hl >= sizeof(host))
        return false;
    memcpy(host, listen, hl);
    host[hl] = '\0';
    char *end;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (*end != '\0' || colon[1] == '\0' || port > 65535) /* 0: the system chooses */
        return false;
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        *v6 = false;
        *loopback = (ntohl(s4->sin_addr.s_addr) >> 24) == 127;
        return true;
    }
    if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        *v6 = true;
        *loopback = IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr);
        return true;
    }
    return false;
}

hub_status hub_serve(const hub_config *cfg, volatile sig_atomic_t *stop, char err[HUB_ERR_MAX])
{
    if (cfg == NULL || stop == NULL || err == NULL)
        return HUB_ERR_ARGUMENT;
    err[0] = '\0';
    if (hsm_process_harden() != HSM_OK) {
        snprintf(err, HUB_ERR_MAX, "could not keep the process out of core dumps");
        return HUB_ERR_IO;
    }
    struct sockaddr_storage ss;
    bool v6 = false, loopback = false;
    if (!parse_listen(cfg->listen, &ss, &v6, &loopback)) {
        snprintf(err, HUB_ERR_MAX, "listen %s: a numeric ADDR:PORT is expected", cfg->listen);
        return HUB_ERR_CONFIG;
    }
    bool tls = cfg->tls_cert[0] != '\0';
    if (!tls && !loopback) {
        snprintf(err, HUB_ERR_MAX, "listen %s is not a loopback address: configure tls_cert and tls_key", cfg->listen);
        return HUB_ERR_CONFIG;
    }
    server srv = {.cfg = cfg};
    hub_io io = {.user = &srv, .forward = forward};
    hub_ctx *ctx = calloc(1, sizeof(*ctx));
    if (ctx == NULL)
        return HUB_ERR_NOMEM;
    hub_status st = hub_ctx_open(ctx, cfg, &io, err);
    if (st != HUB_OK) {
        free(ctx);
        return st;
    }
    srv.ctx = ctx;
    char *cert = NULL, *key = NULL, *ca = NULL;
    size_t cert_len = 0, key_len = 0, ca_len = 0;
    bool any_ca = false;
    for (size_t i = 0; i < cfg->n_members; i++)
        any_ca |= cfg->members[i].client_ca[0] != '\0';
    if (tls) {
        cert = read_file(cfg->tls_cert, &cert_len);
        key = read_file(cfg->tls_key, &key_len);
        if (any_ca)
            ca = trust_pem(cfg, &ca_len);
        if (cert == NULL || key == NULL || (any_ca && ca == NULL)) {
            snprintf(err, HUB_ERR_MAX, "could not read tls_cert, tls_key or a member's client CA");
            st = HUB_ERR_TLS;
            goto out;
        }
    } else if (any_ca) {
        snprintf(err, HUB_ERR_MAX, "a member has a client_ca but the hub serves plain HTTP: configure tls_cert");
        st = HUB_ERR_CONFIG;
        goto out;
    }
    srv.client_ca = ca != NULL;
    pthread_key_create(&srv.curl_key, curl_free_handle);
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
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | (v6 ? MHD_USE_IPv6 : 0) | (tls ? MHD_USE_TLS : 0);
    struct MHD_Daemon *d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, &srv, MHD_OPTION_NOTIFY_COMPLETED,
                                            on_completed, NULL, MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
    if (d == NULL) {
        snprintf(err, HUB_ERR_MAX, "could not listen on %s%s (address in use, or TLS files invalid)", cfg->listen,
                 tls ? " with TLS" : "");
        st = HUB_ERR_IO;
    } else {
        char line[200];
        const union MHD_DaemonInfo *bi = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
        snprintf(line, sizeof(line), "%s %s, port %u, %u threads, %zu members, %zu routes", tls ? "https" : "http",
                 cfg->listen, bi != NULL ? (unsigned)bi->port : 0u, cfg->threads, cfg->n_members, cfg->n_routes);
        hub_log("info", "listening", NULL, 0, line);
        while (!*stop)
            usleep(50 * 1000);
        MHD_stop_daemon(d);
        hub_log("info", "stopped", NULL, 0, NULL);
    }
    pthread_key_delete(srv.curl_key);
out:
    wipe_free(cert, cert_len);
    wipe_free(key, key_len);
    wipe_free(ca, ca_len);
    hub_ctx_close(ctx);
    free(ctx);
    return st;
}

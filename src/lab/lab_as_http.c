/*
 * lab_as_http.c - the lab application server as a process (lab_as_serve):
 * libmicrohttpd in front of the engine, libcurl towards the Identity
 * Manager, log lines on stderr.
 *
 *   POST /uplink            the NS's uplinks (docs/ns-as.md), bearer checked
 *   GET  /uplinks/{DevEUI}  the decrypted history of a device, same bearer
 *   GET  /status            counters only, no identifiers, no authentication
 *
 * Threads: a pool of four libmicrohttpd threads, so that one uplink waiting
 * on the IDM does not hold up `GET /uplinks`; the engine is thread-safe
 * (its lock is never held across the relay call). Each relay call gets its
 * own curl handle: a few hundred microseconds, and no handle shared between
 * threads.
 *
 * Plain HTTP on a loopback address only (checked when the configuration is
 * read, and again here): the bearer tokens would travel in clear otherwise.
 * An https:// idm_url is verified against ca_file or the system's CAs.
 */
#include "lab/lab_log.h"
#include "lab/lab_as.h"
#include "lab/lab_gw.h"
#include "lorawan/lw_secure.h"

#include <curl/curl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define HTTP_BODY_MAX 65536
#define POOL_THREADS  4

typedef struct shell {
    const lab_as_config *cfg;
    lab_as *as;
} shell;


static void io_log(void *user, const char *level, const char *event, uint64_t dev_eui, const char *detail)
{
    (void)user;
    lab_log_line(level, event, dev_eui, detail);
}

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

static lab_status io_idm_post(void *user, const char *url, const char *body, size_t len, long *http, char *ans,
                              size_t cap, size_t *ans_len)
{
    shell *sh = user;
    *http = 0;
    *ans_len = 0;
    if (cap == 0)
        return LAB_ERR_ARGUMENT;
    ans[0] = 0;
    CURL *c = curl_easy_init();
    if (c == NULL)
        return LAB_ERR_NOMEM;
    char auth[LAB_AS_TOKEN_MAX + 32];
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", sh->cfg->idm_token);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    struct curl_slist *h2 = h != NULL ? curl_slist_append(h, auth) : NULL;
    lw_secure_wipe(auth, sizeof(auth));
    if (h2 == NULL) {
        curl_slist_free_all(h);
        curl_easy_cleanup(c);
        return LAB_ERR_NOMEM;
    }
    h = h2;
    sink s = {.buf = ans, .cap = cap - 1};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)sh->cfg->idm_timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (sh->cfg->ca_file[0] != 0)
        curl_easy_setopt(c, CURLOPT_CAINFO, sh->cfg->ca_file);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, http);
    /* libcurl keeps a copy of the headers only for the transfer; the list is
     * ours, and so is the token in it. */
    for (struct curl_slist *p = h; p != NULL; p = p->next)
        lw_secure_wipe(p->data, strlen(p->data));
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK || s.overflow) {
        lab_log_line("warn", "http error", 0, rc != CURLE_OK ? curl_easy_strerror(rc) : "IDM answer too long");
        *http = 0;
        return LAB_ERR_IO;
    }
    ans[s.len] = 0;
    *ans_len = s.len;
    return LAB_OK;
}

/* ---- the HTTP server ----------------------------------------------------------- */

typedef struct conn {
    char *buf;
    size_t len;
    bool too_big;
} conn;

static enum MHD_Result reply(struct MHD_Connection *c, unsigned code, const char *body)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return ret;
}

static bool authorised(shell *sh, struct MHD_Connection *c)
{
    return lab_as_authorised(sh->as, MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION));
}

static enum MHD_Result route(shell *sh, struct MHD_Connection *c, const char *url, const char *method, conn *k)
{
    static const char unauth[] = "{\"Error\":\"bad or missing bearer token\"}";
    if (strcmp(url, "/status") == 0) {
        if (strcmp(method, "GET") != 0)
            return reply(c, 405, "{\"Error\":\"GET only\"}");
        char out[1024];
        lab_status st = lab_as_stats_json(sh->as, out, sizeof(out));
        return reply(c, st == LAB_OK ? 200 : 500, st == LAB_OK ? out : "{}");
    }
    if (strncmp(url, "/uplinks/", 9) == 0) {
        if (strcmp(method, "GET") != 0)
            return reply(c, 405, "{\"Error\":\"GET only\"}");
        if (!authorised(sh, c))
            return reply(c, 401, unauth);
        char *out = NULL;
        int code = lab_as_uplinks_get(sh->as, url + 9, &out);
        enum MHD_Result r = reply(c, (unsigned)code, out != NULL ? out : "{\"Error\":\"internal\"}");
        free(out);
        return r;
    }
    if (strcmp(url, "/uplink") != 0)
        return reply(c, 404, "{\"Error\":\"not found\"}");
    if (strcmp(method, "POST") != 0)
        return reply(c, 405, "{\"Error\":\"POST only\"}");
    if (!authorised(sh, c))
        return reply(c, 401, unauth);
    if (k->too_big)
        return reply(c, 413, "{\"Error\":\"body over 64 KiB\"}");
    char out[4096]; /* {} or one downlink of at most 242 bytes */
    int code = lab_as_uplink_post(sh->as, k->buf ? k->buf : "", k->len, lab_now_ms(), out, sizeof(out));
    enum MHD_Result r = reply(c, (unsigned)code, out);
    lw_secure_wipe(out, sizeof(out));
    return r;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *data, size_t *size, void **ptr)
{
    (void)version;
    conn *k = *ptr;
    if (k == NULL) {
        k = calloc(1, sizeof(*k));
        if (k == NULL)
            return MHD_NO;
        *ptr = k;
        return MHD_YES;
    }
    if (*size) {
        if (k->len + *size > HTTP_BODY_MAX) {
            k->too_big = true;
        } else {
            char *nb = realloc(k->buf, k->len + *size + 1);
            if (nb == NULL)
                return MHD_NO;
            k->buf = nb;
            memcpy(k->buf + k->len, data, *size);
            k->len += *size;
        }
        *size = 0;
        return MHD_YES;
    }
    return route(cls, c, url, method, k);
}

static void on_done(void *cls, struct MHD_Connection *c, void **ptr, enum MHD_RequestTerminationCode tc)
{
    (void)cls;
    (void)c;
    (void)tc;
    conn *k = *ptr;
    if (k != NULL) {
        if (k->buf != NULL)
            lw_secure_wipe(k->buf, k->len);
        free(k->buf);
        free(k);
    }
    *ptr = NULL;
}

static bool is_loopback(const struct sockaddr_storage *sa)
{
    if (sa->ss_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
    if (sa->ss_family == AF_INET6)
        return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)sa)->sin6_addr);
    return false;
}

lab_status lab_as_serve(const lab_as_config *cfg, volatile sig_atomic_t *stop, char *err, size_t cap)
{
    struct sockaddr_storage sa;
    unsigned sl = 0;
    if (lab_addr_parse(cfg->listen, &sa, &sl) != LAB_OK) {
        snprintf(err, cap, "listen %s: numeric ADDR:PORT expected", cfg->listen);
        return LAB_ERR_CONFIG;
    }
    if (!is_loopback(&sa)) {
        snprintf(err, cap, "listen %s: the lab AS serves plain HTTP on loopback only", cfg->listen);
        return LAB_ERR_CONFIG;
    }
    shell sh = {.cfg = cfg};
    lab_as_io io = {.user = &sh, .idm_post = io_idm_post, .log = io_log};
    lab_status st = lab_as_new(cfg, &io, &sh.as);
    if (st != LAB_OK) {
        snprintf(err, cap, "engine: %s", lab_strerror(st));
        return st;
    }
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG | (sa.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0), 0, NULL,
        NULL, on_request, &sh, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_NOTIFY_COMPLETED, on_done, &sh,
        MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_THREAD_POOL_SIZE, (unsigned)POOL_THREADS, MHD_OPTION_END);
    if (d == NULL) {
        snprintf(err, cap, "listen %s: cannot listen", cfg->listen);
        lab_as_free(sh.as);
        return LAB_ERR_IO;
    }
    char detail[LAB_AS_URL_MAX + BI_KEK_LABEL_MAX + 128];
    const union MHD_DaemonInfo *bi = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    snprintf(detail, sizeof(detail), "http %s, port %u, kek %s, relay %s", cfg->listen,
             bi != NULL ? (unsigned)bi->port : 0u, cfg->kek_label, cfg->idm_url[0] ? cfg->idm_url : "off");
    lab_log_line("info", "listening", 0, detail);
    while (!*stop) {
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
    }
    MHD_stop_daemon(d);
    lab_log_line("info", "stopped", 0, "");
    lab_as_free(sh.as);
    return LAB_OK;
}

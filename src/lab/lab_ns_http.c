/*
 * lab_ns_http.c - the lab network server's process shell (lab_ns_http.h).
 *
 * Threads: the main thread runs the UDP loop (poll with the engine's next
 * de-duplication deadline as timeout) and makes the engine's outgoing HTTP
 * calls with libcurl, synchronously; libmicrohttpd answers /downlink and
 * /status on its own thread. One mutex serialises every call into the
 * engine. A slow Join Server therefore delays other uplinks: acceptable for
 * a lab, and written down in docs/lab-ns.md.
 *
 * Passive roaming: POST /bi takes roaming messages from the hub (bearer
 * `bi_token`) on the HTTP thread; the engine's own roaming requests go to
 * the hub synchronously like JoinReqs, except the downlinks the home role
 * makes while answering a partner: those wait in an outbox that the main
 * loop sends with its own libcurl handle, outside the lock (sending them
 * from inside the answer would wait on the partner, which waits on us).
 *
 * Authentication: outgoing requests carry the route's (or the AS's) bearer
 * token; /downlink requires `downlink_token`, /bi `bi_token`, compared in
 * constant time.
 * Plain HTTP is refused on a non-loopback http_listen (as `ferry serve`).
 */
#include "lab/lab_log.h"
#include "lab/lab_ns_http.h"
#include "lab/lab_gw.h"
#include "lab/lab_udp.h"
#include "lorawan/lw_secure.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define GW_MAX 64
#define HTTP_BODY_MAX 65536

typedef struct gw_addr {
    uint64_t eui;
    struct sockaddr_storage sa;
    socklen_t len;
} gw_addr;

/* A roaming message waiting to go to the hub (io.hub_queue). */
typedef struct outbox_item {
    char *body;
    size_t len;
    struct outbox_item *next;
} outbox_item;

#define OUTBOX_MAX 64

typedef struct shell {
    const lab_ns_config *cfg;
    lab_ns *ns;
    pthread_mutex_t lock;
    int udp;
    gw_addr gws[GW_MAX];
    size_t n_gws;
    CURL *curl;          /* the engine's calls (under lock) */
    CURL *curl_out;      /* the outbox (main thread, outside the lock) */
    outbox_item *outbox, *outbox_tail;
    size_t outbox_len;
    int wake[2];         /* a byte in wake[1] ends the main loop's poll: the outbox has work */
} shell;


static void io_log(void *user, const char *event, uint64_t dev_eui, const char *detail)
{
    (void)user;
    bool warn = strstr(event, "refused") || strstr(event, "fail") || strstr(event, "replay") ||
                strstr(event, "error") || strstr(event, "late") || strstr(event, "unknown");
    lab_log_line(warn ? "warn" : "info", event, dev_eui, detail);
}

static void io_send(void *user, uint64_t gw, const uint8_t *d, size_t len)
{
    shell *sh = user;
    for (size_t i = 0; i < sh->n_gws; i++) {
        if (sh->gws[i].eui == gw) {
            if (sendto(sh->udp, d, len, 0, (struct sockaddr *)&sh->gws[i].sa, sh->gws[i].len) < 0)
                lab_log_line("warn", "send failed", 0, strerror(errno));
            return;
        }
    }
    char detail[80];
    snprintf(detail, sizeof(detail), "gateway %016llX never sent PULL_DATA", (unsigned long long)gw);
    lab_log_line("warn", "no downlink path", 0, detail);
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

static lab_status post(shell *sh, CURL *c, const char *url, const char *token, const char *body, size_t len,
                       char *ans, size_t cap, size_t *ans_len)
{
    curl_easy_reset(c);
    char auth[LAB_NS_TOKEN_MAX + 32];
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    if (token != NULL && token[0]) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
        struct curl_slist *h2 = curl_slist_append(h, auth);
        if (h2 != NULL)
            h = h2;
        lw_secure_wipe(auth, sizeof(auth));
    }
    sink s = {.buf = ans, .cap = cap > 0 ? cap - 1 : 0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 3000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (sh->cfg->ca_file[0] != 0) /* a private CA (the lab's, an IDM's): https:// peers are verified against it */
        curl_easy_setopt(c, CURLOPT_CAINFO, sh->cfg->ca_file);
    CURLcode rc = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(h);
    if (rc != CURLE_OK || code != 200 || s.overflow) {
        char detail[300];
        snprintf(detail, sizeof(detail), "%s: %s, HTTP %ld", url, rc == CURLE_OK ? "answered" : curl_easy_strerror(rc),
                 code);
        lab_log_line("warn", "http error", 0, detail);
        return LAB_ERR_IO;
    }
    ans[s.len] = 0;
    *ans_len = s.len;
    return LAB_OK;
}

static lab_status io_js_post(void *user, const lab_ns_route *r, const char *body, size_t len, char *ans, size_t cap,
                             size_t *ans_len)
{
    shell *sh = user;
    return post(sh, sh->curl, r->url, r->token, body, len, ans, cap, ans_len);
}

static lab_status io_as_post(void *user, const char *body, size_t len, char *ans, size_t cap, size_t *ans_len)
{
    shell *sh = user;
    char url[LAB_NS_URL_MAX + 16];
    size_t ul = strlen(sh->cfg->as_url);
    snprintf(url, sizeof(url), "%s%suplink", sh->cfg->as_url, ul && sh->cfg->as_url[ul - 1] == '/' ? "" : "/");
    return post(sh, sh->curl, url, sh->cfg->as_token, body, len, ans, cap, ans_len);
}

static lab_status io_hub_post(void *user, const char *body, size_t len, char *ans, size_t cap, size_t *ans_len)
{
    shell *sh = user;
    return post(sh, sh->curl, sh->cfg->roaming_hub_url, sh->cfg->roaming_hub_token, body, len, ans, cap, ans_len);
}

/* Called by the engine (under the lock): the message leaves from the main
 * loop once this engine call is over. */
static void io_hub_queue(void *user, const char *body, size_t len)
{
    shell *sh = user;
    outbox_item *it = sh->outbox_len < OUTBOX_MAX ? calloc(1, sizeof(*it)) : NULL;
    if (it != NULL && (it->body = malloc(len + 1)) == NULL) {
        free(it);
        it = NULL;
    }
    if (it == NULL) {
        lab_log_line("warn", "roaming downlink dropped", 0, "outbox full or out of memory");
        return;
    }
    memcpy(it->body, body, len);
    it->body[len] = 0;
    it->len = len;
    if (sh->outbox_tail != NULL)
        sh->outbox_tail->next = it;
    else
        sh->outbox = it;
    sh->outbox_tail = it;
    sh->outbox_len++;
    char b = 1;
    (void)!write(sh->wake[1], &b, 1);
}

/* Main thread: sends what the engine queued, one message at a time, the
 * lock released while the hub is asked. */
static void drain_outbox(shell *sh)
{
    char *ans = malloc(LAB_NS_ANSWER_MAX);
    for (;;) {
        pthread_mutex_lock(&sh->lock);
        outbox_item *it = sh->outbox;
        if (it != NULL) {
            sh->outbox = it->next;
            if (sh->outbox == NULL)
                sh->outbox_tail = NULL;
            sh->outbox_len--;
        }
        pthread_mutex_unlock(&sh->lock);
        if (it == NULL)
            break;
        size_t alen = 0;
        lab_status st = ans == NULL ? LAB_ERR_NOMEM
                                    : post(sh, sh->curl_out, sh->cfg->roaming_hub_url, sh->cfg->roaming_hub_token,
                                           it->body, it->len, ans, LAB_NS_ANSWER_MAX, &alen);
        pthread_mutex_lock(&sh->lock);
        lab_ns_hub_answer(sh->ns, st == LAB_OK ? ans : NULL, st == LAB_OK ? alen : 0);
        pthread_mutex_unlock(&sh->lock);
        free(it->body);
        free(it);
    }
    free(ans);
}

/* ---- HTTP server ----------------------------------------------------------- */

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

static bool authorised(struct MHD_Connection *c, const char *want)
{
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (want[0] == 0)
        return false; /* no token configured: the endpoint is closed */
    if (h == NULL || strncmp(h, "Bearer ", 7) != 0)
        return false;
    h += 7;
    size_t n = strlen(want);
    return strlen(h) == n && lw_secure_equal(h, want, n);
}

static enum MHD_Result reply_n(struct MHD_Connection *c, unsigned code, const char *type, const char *body,
                               size_t len)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    enum MHD_Result ret = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return ret;
}

/* POST /bi: a roaming message from the hub (lab_ns_bi_post). */
static enum MHD_Result on_bi(shell *sh, struct MHD_Connection *c, const char *method, const conn *k)
{
    if (strcmp(method, "POST") != 0)
        return reply_n(c, 405, "text/plain", "POST only\n", 10);
    if (!authorised(c, sh->cfg->bi_token))
        return reply_n(c, 401, "text/plain", "bad or missing bearer token\n", 28);
    if (k->too_big)
        return reply_n(c, 413, "text/plain", "body over 64 KiB\n", 17);
    char *out = malloc(LAB_NS_ANSWER_MAX);
    if (out == NULL)
        return MHD_NO;
    size_t n = 0;
    pthread_mutex_lock(&sh->lock);
    int code = lab_ns_bi_post(sh->ns, lab_now_ms(), k->buf ? k->buf : "", k->len, out, LAB_NS_ANSWER_MAX, &n);
    pthread_mutex_unlock(&sh->lock);
    enum MHD_Result ret =
        reply_n(c, (unsigned)code, n > 0 && out[0] == '{' ? "application/json" : "text/plain", out, n);
    free(out);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *data, size_t *size, void **ptr)
{
    (void)version;
    shell *sh = cls;
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
    if (strcmp(method, "GET") == 0 && strcmp(url, "/status") == 0) {
        char out[2048];
        pthread_mutex_lock(&sh->lock);
        lab_status st = lab_ns_stats_json(sh->ns, out, sizeof(out));
        pthread_mutex_unlock(&sh->lock);
        return reply(c, st == LAB_OK ? 200 : 500, st == LAB_OK ? out : "{}");
    }
    if (strcmp(url, "/bi") == 0)
        return on_bi(sh, c, method, k);
    if (strcmp(url, "/downlink") != 0)
        return reply(c, 404, "{\"Error\":\"not found\"}");
    if (strcmp(method, "POST") != 0)
        return reply(c, 405, "{\"Error\":\"POST only\"}");
    if (!authorised(c, sh->cfg->downlink_token))
        return reply(c, 401, "{\"Error\":\"bad or missing bearer token\"}");
    if (k->too_big)
        return reply(c, 413, "{\"Error\":\"body over 64 KiB\"}");
    char out[1024];
    pthread_mutex_lock(&sh->lock);
    int code = lab_ns_downlink_post(sh->ns, k->buf ? k->buf : "", k->len, out, sizeof(out));
    pthread_mutex_unlock(&sh->lock);
    return reply(c, (unsigned)code, out);
}

static void on_done(void *cls, struct MHD_Connection *c, void **ptr, enum MHD_RequestTerminationCode tc)
{
    (void)cls;
    (void)c;
    (void)tc;
    conn *k = *ptr;
    if (k != NULL) {
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

/* ---- the loop -------------------------------------------------------------- */

static void remember_gateway(shell *sh, uint64_t eui, const struct sockaddr_storage *sa, socklen_t len)
{
    size_t i = 0;
    while (i < sh->n_gws && sh->gws[i].eui != eui)
        i++;
    if (i == sh->n_gws) {
        if (sh->n_gws == GW_MAX) {
            lab_log_line("warn", "too many gateways", 0, "gateway table full; PULL_DATA ignored");
            return;
        }
        sh->n_gws++;
    }
    sh->gws[i].eui = eui;
    sh->gws[i].sa = *sa;
    sh->gws[i].len = len;
}

lab_status lab_ns_serve(const lab_ns_config *cfg, volatile sig_atomic_t *stop, char *err, size_t cap)
{
    shell sh;
    memset(&sh, 0, sizeof(sh));
    sh.cfg = cfg;
    sh.udp = -1;
    struct sockaddr_storage ua, ha;
    unsigned ul = 0, hl = 0;
    if (lab_addr_parse(cfg->udp_listen, &ua, &ul) != LAB_OK || lab_addr_parse(cfg->http_listen, &ha, &hl) != LAB_OK) {
        snprintf(err, cap, "udp_listen/http_listen: numeric ADDR:PORT expected");
        return LAB_ERR_CONFIG;
    }
    if (!is_loopback(&ha)) {
        snprintf(err, cap, "http_listen %s: the lab NS serves plain HTTP on loopback only", cfg->http_listen);
        return LAB_ERR_CONFIG;
    }
    bool roaming = cfg->roaming_hub_url[0] != 0;
    lab_ns_io io = {.user = &sh, .js_post = io_js_post, .as_post = cfg->as_url[0] ? io_as_post : NULL,
                    .send = io_send, .log = io_log, .hub_post = roaming ? io_hub_post : NULL,
                    .hub_queue = roaming ? io_hub_queue : NULL};
    sh.wake[0] = sh.wake[1] = -1;
    lab_status st = lab_ns_new(cfg, &io, &sh.ns);
    if (st != LAB_OK) {
        snprintf(err, cap, "engine: %s", lab_strerror(st));
        return st;
    }
    pthread_mutex_init(&sh.lock, NULL);
    sh.curl = curl_easy_init();
    sh.curl_out = curl_easy_init();
    sh.udp = socket(ua.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct MHD_Daemon *d = NULL;
    if (sh.curl_out == NULL || pipe2(sh.wake, O_CLOEXEC | O_NONBLOCK) != 0) {
        snprintf(err, cap, "cannot set up the roaming outbox: %s", strerror(errno));
        st = LAB_ERR_IO;
        goto out;
    }
    if (sh.curl == NULL || sh.udp < 0 || bind(sh.udp, (struct sockaddr *)&ua, ul) != 0) {
        snprintf(err, cap, "udp_listen %s: %s", cfg->udp_listen, strerror(errno));
        st = LAB_ERR_IO;
        goto out;
    }
    d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG | (ha.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0),
                         0, NULL, NULL, on_request, &sh, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ha,
                         MHD_OPTION_NOTIFY_COMPLETED, on_done, &sh, MHD_OPTION_CONNECTION_TIMEOUT, 10u,
                         MHD_OPTION_END);
    if (d == NULL) {
        snprintf(err, cap, "http_listen %s: cannot listen", cfg->http_listen);
        st = LAB_ERR_IO;
        goto out;
    }
    /* the ports bound, which differ from the configured ones for ":0" */
    struct sockaddr_storage bound;
    socklen_t bl = sizeof(bound);
    unsigned udp_port = 0;
    if (getsockname(sh.udp, (struct sockaddr *)&bound, &bl) == 0)
        udp_port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                     : ((struct sockaddr_in *)&bound)->sin_port);
    const union MHD_DaemonInfo *bi = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    char detail[600];
    snprintf(detail, sizeof(detail), "udp %s, http %s, udp port %u, http port %u, %zu route(s)%s%s", cfg->udp_listen,
             cfg->http_listen, udp_port, bi != NULL ? (unsigned)bi->port : 0u, cfg->n_routes,
             roaming ? ", roaming hub " : "", roaming ? cfg->roaming_hub_url : "");
    lab_log_line("info", "listening", 0, detail);
    uint64_t wait = UINT64_MAX;
    while (!*stop) {
        int timeout = wait == UINT64_MAX || wait > 200 ? 200 : (int)wait;
        struct pollfd pfds[2] = {{.fd = sh.udp, .events = POLLIN}, {.fd = sh.wake[0], .events = POLLIN}};
        struct pollfd *pfd = &pfds[0];
        int r = poll(pfds, 2, timeout);
        if (r > 0 && (pfds[1].revents & POLLIN)) {
            char drain[64];
            while (read(sh.wake[0], drain, sizeof(drain)) > 0)
                ;
            drain_outbox(&sh);
        }
        if (r > 0 && (pfd->revents & POLLIN)) {
            uint8_t buf[LAB_UDP_MAX];
            struct sockaddr_storage from;
            socklen_t fl = sizeof(from);
            ssize_t n = recvfrom(sh.udp, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
            if (n > 0) {
                uint8_t rep[64];
                size_t rn = 0;
                uint64_t gw = 0;
                bool pull = false;
                pthread_mutex_lock(&sh.lock);
                lab_status ds = lab_ns_datagram(sh.ns, lab_now_ms(), buf, (size_t)n, rep, sizeof(rep), &rn, &gw, &pull);
                if (pull)
                    remember_gateway(&sh, gw, &from, fl);
                pthread_mutex_unlock(&sh.lock);
                if (rn)
                    (void)sendto(sh.udp, rep, rn, 0, (struct sockaddr *)&from, fl);
                if (ds != LAB_OK)
                    lab_log_line("warn", "bad datagram", 0, lab_strerror(ds));
            }
        }
        pthread_mutex_lock(&sh.lock);
        wait = lab_ns_tick(sh.ns, lab_now_ms());
        pthread_mutex_unlock(&sh.lock);
    }
    lab_log_line("info", "stopped", 0, "");
out:
    if (d != NULL)
        MHD_stop_daemon(d);
    if (sh.udp >= 0)
        close(sh.udp);
    if (sh.curl != NULL)
        curl_easy_cleanup(sh.curl);
    if (sh.curl_out != NULL)
        curl_easy_cleanup(sh.curl_out);
    for (outbox_item *it = sh.outbox; it != NULL;) {
        outbox_item *next = it->next;
        free(it->body);
        free(it);
        it = next;
    }
    for (int i = 0; i < 2; i++)
        if (sh.wake[i] >= 0)
            close(sh.wake[i]);
    lab_ns_free(sh.ns);
    pthread_mutex_destroy(&sh.lock);
    return st;
}

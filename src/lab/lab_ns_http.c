/*
 * lab_ns_http.c - the lab network server's process shell (lab_ns_http.h).
 *
 * Threads: the main thread runs the UDP loop (poll with the engine's next
 * de-duplication deadline as timeout) and makes the engine's outgoing HTTP
 * calls with the server layer's HTTP client, synchronously; the server layer
 * (src/net) answers /downlink and
 * /status on its own thread. One mutex serialises every call into the
 * engine. A slow Join Server therefore delays other uplinks: acceptable for
 * a lab, and written down in docs/lab-ns.md.
 *
 * Passive roaming: POST /bi takes roaming messages from the hub (bearer
 * `bi_token`) on the HTTP thread; the engine's own roaming requests go to
 * the hub synchronously like JoinReqs, except the downlinks the home role
 * makes while answering a partner: those wait in an outbox that the main
 * loop sends with its own net_client, outside the lock (sending them
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
#include "net/net_client.h"
#include "net/net_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define GW_MAX 1024 /* gateways an NS keeps an address for (the simulated clock's cells: docs/scale.md) */
#define HTTP_BODY_MAX 65536
#define UDP_RCVBUF (8 * 1024 * 1024) /* asked for the gateways' socket (the kernel caps it at rmem_max) */

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
    net_client *client;  /* the engine's calls (under lock) */
    net_client *client_out; /* the outbox (main thread, outside the lock) */
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

static lab_status post(shell *sh, net_client *c, const char *url, const char *token, const char *body, size_t len,
                       char *ans, size_t cap, size_t *ans_len)
{
    /* a private CA (the lab's, an IDM's): https:// peers are verified against it */
    net_call call = {.method = "POST", .url = url, .bearer = token != NULL && token[0] ? token : NULL,
                     .body = body, .len = len, .ca_file = sh->cfg->ca_file, .timeout_ms = 3000};
    net_answer a = {.body = ans, .cap = cap};
    char err[NET_ERR_MAX];
    net_status st = net_client_call(c, &call, &a, err);
    if (st != NET_OK || a.status != 200) {
        char detail[NET_ERR_MAX + 32];
        if (st == NET_OK)
            snprintf(detail, sizeof(detail), "%.200s: answered HTTP %u", url, a.status);
        else
            snprintf(detail, sizeof(detail), "%s", err);
        lab_log_line("warn", "http error", 0, detail);
        return LAB_ERR_IO;
    }
    *ans_len = a.len;
    return LAB_OK;
}

static lab_status io_js_post(void *user, const lab_ns_route *r, const char *body, size_t len, char *ans, size_t cap,
                             size_t *ans_len)
{
    shell *sh = user;
    return post(sh, sh->client, r->url, r->token, body, len, ans, cap, ans_len);
}

static lab_status io_as_post(void *user, const char *body, size_t len, char *ans, size_t cap, size_t *ans_len)
{
    shell *sh = user;
    char url[LAB_NS_URL_MAX + 16];
    size_t ul = strlen(sh->cfg->as_url);
    snprintf(url, sizeof(url), "%s%suplink", sh->cfg->as_url, ul && sh->cfg->as_url[ul - 1] == '/' ? "" : "/");
    return post(sh, sh->client, url, sh->cfg->as_token, body, len, ans, cap, ans_len);
}

static lab_status io_hub_post(void *user, const char *body, size_t len, char *ans, size_t cap, size_t *ans_len)
{
    shell *sh = user;
    return post(sh, sh->client, sh->cfg->roaming_hub_url, sh->cfg->roaming_hub_token, body, len, ans, cap, ans_len);
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
                                    : post(sh, sh->client_out, sh->cfg->roaming_hub_url, sh->cfg->roaming_hub_token,
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

/* A configured token (kept in clear in the lab's config) against the one
 * presented, in constant time over the configured length. */
static bool authorised(const net_request *rq, const char *want)
{
    if (want[0] == 0 || rq->bearer == NULL)
        return false; /* no token configured: the endpoint is closed */
    size_t n = strlen(want);
    return strlen(rq->bearer) == n && lw_secure_equal(rq->bearer, want, n) == 1;
}

/* POST /bi: a roaming message from the hub (lab_ns_bi_post). */
static void on_bi(shell *sh, const net_request *rq, net_reply *rp)
{
    if (strcmp(rq->method, "POST") != 0) {
        net_reply_copy(rp, 405, "text/plain", "POST only\n", 10);
        return;
    }
    if (!authorised(rq, sh->cfg->bi_token)) {
        net_reply_copy(rp, 401, "text/plain", "bad or missing bearer token\n", 28);
        return;
    }
    char *out = malloc(LAB_NS_ANSWER_MAX);
    if (out == NULL) {
        net_reply_error(rp, 500, "out of memory");
        return;
    }
    size_t n = 0;
    pthread_mutex_lock(&sh->lock);
    int code = lab_ns_bi_post(sh->ns, lab_now_ms(), rq->body, rq->len, out, LAB_NS_ANSWER_MAX, &n);
    pthread_mutex_unlock(&sh->lock);
    net_reply_copy(rp, (unsigned)code, n > 0 && out[0] == '{' ? "application/json" : "text/plain", out, n);
    free(out);
}

static void on_request(void *user, const net_request *rq, net_reply *rp)
{
    shell *sh = user;
    if (strcmp(rq->method, "GET") == 0 && strcmp(rq->path, "/status") == 0) {
        char out[2048];
        pthread_mutex_lock(&sh->lock);
        lab_status st = lab_ns_stats_json(sh->ns, out, sizeof(out));
        pthread_mutex_unlock(&sh->lock);
        if (st == LAB_OK)
            net_reply_copy(rp, 200, "application/json", out, strlen(out));
        else
            net_reply_error(rp, 500, "the status does not fit its buffer");
        rp->log_level = "debug";
        return;
    }
    if (strcmp(rq->path, "/bi") == 0) {
        on_bi(sh, rq, rp);
        return;
    }
    if (strcmp(rq->path, "/downlink") != 0) {
        net_reply_error(rp, 404, "not found");
        return;
    }
    if (strcmp(rq->method, "POST") != 0) {
        net_reply_error(rp, 405, "POST only");
        return;
    }
    if (!authorised(rq, sh->cfg->downlink_token)) {
        net_reply_error(rp, 401, "bad or missing bearer token");
        return;
    }
    char out[1024];
    pthread_mutex_lock(&sh->lock);
    int code = lab_ns_downlink_post(sh->ns, rq->body, rq->len, out, sizeof(out));
    pthread_mutex_unlock(&sh->lock);
    net_reply_copy(rp, (unsigned)code, "application/json", out, strlen(out));
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
    struct sockaddr_storage ua;
    unsigned ul = 0;
    if (lab_addr_parse(cfg->udp_listen, &ua, &ul) != LAB_OK) {
        snprintf(err, cap, "udp_listen %s: numeric ADDR:PORT expected", cfg->udp_listen);
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
    if ((st = lab_ns_state_open(sh.ns, err, cap)) != LAB_OK) {
        lab_ns_free(sh.ns);
        return st;
    }
    pthread_mutex_init(&sh.lock, NULL);
    net_server *d = NULL;
    if (net_client_new(&sh.client) != NET_OK || net_client_new(&sh.client_out) != NET_OK) {
        snprintf(err, cap, "the HTTP client could not start");
        st = LAB_ERR_NOMEM;
        goto out;
    }
    sh.udp = socket(ua.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (pipe2(sh.wake, O_CLOEXEC | O_NONBLOCK) != 0) {
        snprintf(err, cap, "cannot set up the roaming outbox: %s", strerror(errno));
        st = LAB_ERR_IO;
        goto out;
    }
    /* The one socket every gateway's PUSH_DATA and TX_ACK arrive on: while
     * the loop waits on a Join Server, a burst from hundreds of simulated
     * gateways overflowed the kernel's default (~208 KiB) and the datagrams
     * were dropped unseen (RcvbufErrors), uplinks and TX_ACKs with them
     * (issue 15). The kernel may grant less (net.core.rmem_max): logged. */
    int rcvbuf = UDP_RCVBUF;
    socklen_t rl = sizeof rcvbuf;
    if (sh.udp >= 0 && (setsockopt(sh.udp, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf) != 0 ||
                        getsockopt(sh.udp, SOL_SOCKET, SO_RCVBUF, &rcvbuf, &rl) != 0)) {
        snprintf(err, cap, "udp_listen %s: receive buffer: %s", cfg->udp_listen, strerror(errno));
        st = LAB_ERR_IO;
        goto out;
    }
    if (sh.udp < 0 || bind(sh.udp, (struct sockaddr *)&ua, ul) != 0) {
        snprintf(err, cap, "udp_listen %s: %s", cfg->udp_listen, strerror(errno));
        st = LAB_ERR_IO;
        goto out;
    }
    net_server_opts o = {.service = "lab-ns", .listen = cfg->http_listen, .limits = {.body_max = HTTP_BODY_MAX},
                         .handle = on_request, .user = &sh};
    char nerr[NET_ERR_MAX];
    net_status ns = net_server_start(&o, &d, nerr);
    if (ns != NET_OK) {
        snprintf(err, cap, "http_listen: %s", nerr);
        st = ns == NET_ERR_IO ? LAB_ERR_IO : LAB_ERR_CONFIG;
        goto out;
    }
    /* the ports bound, which differ from the configured ones for ":0" */
    struct sockaddr_storage bound;
    socklen_t bl = sizeof(bound);
    unsigned udp_port = 0;
    if (getsockname(sh.udp, (struct sockaddr *)&bound, &bl) == 0)
        udp_port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                     : ((struct sockaddr_in *)&bound)->sin_port);
    char detail[600];
    snprintf(detail, sizeof(detail), "udp %s, http %s, udp port %u, http port %u, udp receive buffer %d bytes, %zu route(s)%s%s",
             cfg->udp_listen, cfg->http_listen, udp_port, net_server_port(d), rcvbuf, cfg->n_routes,
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
    net_server_stop(d);
    if (sh.udp >= 0)
        close(sh.udp);
    net_client_free(sh.client);
    net_client_free(sh.client_out);
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

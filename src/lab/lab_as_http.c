/*
 * lab_as_http.c - the lab application server as a process (lab_as_serve):
 * the server layer (src/net) in front of the engine, its HTTP client
 * towards the Identity Manager, JSON log lines on stderr.
 *
 *   POST /uplink            the NS's uplinks (docs/ns-as.md), bearer checked
 *   GET  /uplinks/{DevEUI}  the decrypted history of a device, same bearer
 *   GET  /status            counters only, no identifiers, no authentication
 *
 * Threads: a pool of four server threads, so that one uplink waiting
 * on the IDM does not hold up `GET /uplinks`; the engine is thread-safe
 * (its lock is never held across the relay call). Each relay call gets its
 * own net_client: a few hundred microseconds, and no handle shared
 * between threads.
 *
 * Plain HTTP on a loopback address only (checked when the configuration is
 * read, and again here): the bearer tokens would travel in clear otherwise.
 * An https:// idm_url is verified against ca_file or the system's CAs.
 */
#include "lab/lab_log.h"
#include "lab/lab_as.h"
#include "lab/lab_gw.h"
#include "lorawan/lw_secure.h"
#include "net/net_client.h"
#include "net/net_server.h"

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

static lab_status io_idm_post(void *user, const char *url, const char *body, size_t len, long *http, char *ans,
                              size_t cap, size_t *ans_len)
{
    shell *sh = user;
    *http = 0;
    *ans_len = 0;
    if (cap == 0)
        return LAB_ERR_ARGUMENT;
    ans[0] = 0;
    /* one client per call: relay calls come from several pool threads */
    net_client *c = NULL;
    if (net_client_new(&c) != NET_OK)
        return LAB_ERR_NOMEM;
    net_call call = {.method = "POST", .url = url, .bearer = sh->cfg->idm_token, .body = body, .len = len,
                     .ca_file = sh->cfg->ca_file, .timeout_ms = sh->cfg->idm_timeout_ms};
    net_answer a = {.body = ans, .cap = cap};
    char err[NET_ERR_MAX];
    net_status st = net_client_call(c, &call, &a, err);
    net_client_free(c);
    if (st != NET_OK) {
        lab_log_line("warn", "http error", 0, err);
        return LAB_ERR_IO;
    }
    *http = (long)a.status;
    *ans_len = a.len;
    return LAB_OK;
}

/* ---- the HTTP server ----------------------------------------------------------- */

static bool authorised(shell *sh, const net_request *rq)
{
    return lab_as_authorised(sh->as, net_request_header(rq, "Authorization"));
}

static void reply(net_reply *rp, int code, const char *body)
{
    net_reply_copy(rp, (unsigned)code, "application/json", body, strlen(body));
}

static void on_request(void *user, const net_request *rq, net_reply *rp)
{
    shell *sh = user;
    if (strcmp(rq->path, "/status") == 0) {
        if (strcmp(rq->method, "GET") != 0) {
            net_reply_error(rp, 405, "GET only");
            return;
        }
        char out[1024];
        if (lab_as_stats_json(sh->as, out, sizeof(out)) == LAB_OK)
            reply(rp, 200, out);
        else
            net_reply_error(rp, 500, "the status does not fit its buffer");
        rp->log_level = "debug";
        return;
    }
    if (strncmp(rq->path, "/uplinks/", 9) == 0) {
        if (strcmp(rq->method, "GET") != 0) {
            net_reply_error(rp, 405, "GET only");
            return;
        }
        if (!authorised(sh, rq)) {
            net_reply_error(rp, 401, "bad or missing bearer token");
            return;
        }
        char *out = NULL;
        int code = lab_as_uplinks_get(sh->as, rq->path + 9, &out);
        if (out != NULL)
            reply(rp, code, out);
        else
            net_reply_error(rp, 500, "out of memory");
        free(out);
        return;
    }
    if (strcmp(rq->path, "/uplink") != 0) {
        net_reply_error(rp, 404, "not found");
        return;
    }
    if (strcmp(rq->method, "POST") != 0) {
        net_reply_error(rp, 405, "POST only");
        return;
    }
    if (!authorised(sh, rq)) {
        net_reply_error(rp, 401, "bad or missing bearer token");
        return;
    }
    char out[4096]; /* {} or one downlink of at most 242 bytes */
    int code = lab_as_uplink_post(sh->as, rq->body, rq->len, lab_now_ms(), out, sizeof(out));
    reply(rp, code, out);
    lw_secure_wipe(out, sizeof(out));
}

lab_status lab_as_serve(const lab_as_config *cfg, volatile sig_atomic_t *stop, char *err, size_t cap)
{
    shell sh = {.cfg = cfg};
    lab_as_io io = {.user = &sh, .idm_post = io_idm_post, .log = io_log};
    lab_status st = lab_as_new(cfg, &io, &sh.as);
    if (st != LAB_OK) {
        snprintf(err, cap, "engine: %s", lab_strerror(st));
        return st;
    }
    net_server_opts o = {.service = "lab-as", .listen = cfg->listen, .threads = POOL_THREADS,
                         .limits = {.body_max = HTTP_BODY_MAX}, .handle = on_request, .user = &sh};
    net_server *d = NULL;
    char nerr[NET_ERR_MAX];
    net_status ns = net_server_start(&o, &d, nerr);
    if (ns != NET_OK) {
        snprintf(err, cap, "listen: %s", nerr);
        lab_as_free(sh.as);
        return ns == NET_ERR_IO ? LAB_ERR_IO : LAB_ERR_CONFIG;
    }
    char detail[LAB_AS_URL_MAX + BI_KEK_LABEL_MAX + 128];
    snprintf(detail, sizeof(detail), "http %s, port %u, kek %s, relay %s", cfg->listen, net_server_port(d),
             cfg->kek_label, cfg->idm_url[0] ? cfg->idm_url : "off");
    lab_log_line("info", "listening", 0, detail);
    while (!*stop) {
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
    }
    net_server_stop(d);
    lab_log_line("info", "stopped", 0, "");
    lab_as_free(sh.as);
    return LAB_OK;
}

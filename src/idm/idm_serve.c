/*
 * idm_serve.c - `ferry -d DIR idm serve`: the NS-AS endpoint of the
 * bootstrap sessions and the tenants' REST API, over libmicrohttpd, plus a
 * housekeeping thread (idm_ota_tick every `poll` seconds).
 *
 * The IDM's core (idm_core.h, opened by the caller) gives its one PKCS#11
 * session, one database connection and idm.conf, used under one lock by
 * the HTTP thread and the housekeeping thread (which takes it for one SE's
 * step at a time, never for a round or a customer JS's answer: see
 * idm_ota_set_lock): the engine keeps its state
 * in the database, so a second `idm serve` on PostgreSQL would scale it out
 * more simply than threads here (not done: two engines would race for one
 * SE's fragments; an advisory lock per SE would be needed).
 *
 * Transport: plain HTTP only on an IPv4 loopback address; with tls_cert and
 * tls_key in idm.conf, HTTPS (GnuTLS inside libmicrohttpd) on any IPv4
 * address, as the Join Server does (js_http.c). Bearer tokens and owner
 * tokens never cross a network in clear.
 *
 *   POST /uplink                         NS, bearer = the NS token (docs/ns-as.md)
 *   POST /api/v1/claims                  tenant: {"DevEUI","OwnerToken"}, or
 *                                        {"Claims":[{"DevEUI","OwnerToken"},...]} (1..1000)
 *   DELETE /api/v1/claims/{DevEUI}       tenant: release
 *   POST /api/v1/ses/{DevEUI}/assign     tenant: {"JoinServer": id} (optional)
 *   GET  /api/v1/ses/{DevEUI}            tenant: status of an SE it holds (maker: any)
 *   GET  /api/v1/me, /ses, /ses/{DevEUI}/history, /commands, /joinservers, /overview, /operator
 *                                        the console's reads (idm_view.c); operators too
 *   GET  /api/v1/events                  the live stream of SE changes (idm_stream.c, a thread of its own)
 *   GET  /, /app.js, ...                 the activation console (idm_console.h, docs/console.md)
 *   GET  /healthz
 *   GET  /metrics                        the server layer's counters (Prometheus text)
 *
 * Every answer carries the security headers of secure_headers() (a CSP
 * without inline script or style; no-store on API answers).
 */
#include "idm/idm_access.h"
#include "idm/idm_core.h"
#include "idm/idm_log.h"
#include "idm/idm_ota.h"
#include "idm/idm_serve_ops.h"
#include "idm/idm_console.h"
#include "idm/idm_stream.h"
#include "idm/idm_view.h"
#include "lorawan/lw_secure.h"
#include "net/net_addr.h"
#include "net/net_json.h"
#include "net/net_log.h"
#include "net/net_server.h"
#include "net/net_token.h"

#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BODY_MAX 8192
#define CLAIMS_BODY_MAX (256 * 1024) /* POST /api/v1/claims: a list of up to CLAIMS_MAX entries */
#define CLAIMS_MAX 1000

typedef struct server {
    pthread_mutex_t lock;
    idm_core *core;               /* owns what follows but the engine (idm_core.h) */
    idm_ota *engine;
    hsm_session *hs;
    store *db;
    const idm_config *cfg;
    volatile sig_atomic_t *stop;
    idm_stream_hub *hub;          /* the console's live streams (its own lock) */
} server;

/* An answer: a small one in body[], or one of any size in heap, which then
 * wins: a json_dumps() text, from jansson's allocator (the CLI installs a
 * wiping one, cli_json.c), which on_request frees with jansson's free. */
typedef struct reply {
    unsigned status;
    char body[1024];
    char *heap;
    char why[256];              /* a refusal's reason, for the access log */
} reply;

static void reply_error(reply *r, unsigned status, const char *msg)
{
    r->status = status;
    snprintf(r->why, sizeof r->why, "%s", msg);
    char esc[512];
    size_t j = 0;
    for (size_t i = 0; msg[i] != '\0' && j + 2 < sizeof esc; i++) {
        unsigned char c = (unsigned char)msg[i];
        if (c == '"' || c == '\\')
            esc[j++] = '\\';
        esc[j++] = (c < 0x20 || c > 0x7e) ? '?' : (char)c;
    }
    esc[j] = '\0';
    snprintf(r->body, sizeof r->body, "{\"Error\":\"%s\"}", esc);
}

/* Answers with the document o (consumed; NULL = out of memory), rendered
 * whole into r->heap: no answer is cut short. */
static void reply_json(reply *r, unsigned status, json_t *o)
{
    char *s = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (s == NULL) {
        reply_error(r, 500, "out of memory");
        return;
    }
    r->status = status;
    r->heap = s;
}

static bool parse_hex(const char *s, uint8_t *out, size_t min, size_t max, size_t *len)
{
    if (s == NULL)
        return false;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
        s += 2;
    size_t n = strlen(s);
    if (n % 2 != 0 || n / 2 < min || n / 2 > max)
        return false;
    *len = n / 2;
    return lw_hex_decode(s, n, out, n / 2) == LW_OK;
}

static bool parse_eui(const char *s, uint64_t *out)
{
    uint8_t b[8];
    size_t n = 0;
    if (!parse_hex(s, b, 8, 8, &n))
        return false;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | b[i];
    *out = v;
    return true;
}

static bool json_u32(const json_t *o, const char *k, uint32_t *out)
{
    json_t *v = json_object_get(o, k);
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 0xFFFFFFFFll)
        return false;
    *out = (uint32_t)json_integer_value(v);
    return true;
}

/* ---------------------------------------------------------------- POST /uplink */

static void handle_uplink(server *sv, const net_request *rq, reply *r)
{
    if (!sv->cfg->has_ns_token || !net_token_matches(rq->bearer, sv->cfg->ns_token_sha256)) {
        reply_error(r, 401, "bearer token missing or wrong");
        return;
    }
    json_t *o = NULL;
    char why[NET_ERR_MAX];
    if (net_json_parse(rq->body, rq->len, 0, &o, why) != NET_OK) {
        reply_error(r, 400, why);
        return;
    }
    idm_uplink u;
    memset(&u, 0, sizeof u);
    uint8_t addr[4];
    size_t n = 0;
    uint32_t fport = 0, maxdl = 0;
    const char *bad = NULL;
    if (!json_is_object(o))
        bad = "body: a JSON object";
    else if (!parse_eui(json_string_value(json_object_get(o, "DevEUI")), &u.dev_eui))
        bad = "DevEUI: 16 hex digits";
    else if (!parse_hex(json_string_value(json_object_get(o, "DevAddr")), addr, 4, 4, &n))
        bad = "DevAddr: 8 hex digits";
    else if (!parse_hex(json_string_value(json_object_get(o, "SessionKeyID")), u.session_key_id, 1,
                        STORE_SESSION_ID_MAX, &u.session_key_id_len))
        bad = "SessionKeyID: hex";
    else if (!json_u32(o, "FCnt", &u.fcnt))
        bad = "FCnt: a number";
    else if (!json_u32(o, "FPort", &fport) || fport < 1 || fport > 223)
        bad = "FPort: 1..223";
    else if (!parse_hex(json_string_value(json_object_get(o, "FRMPayload")), u.frm, 0, sizeof u.frm, &u.frm_len))
        bad = "FRMPayload: hex, at most 242 bytes";
    else if (!json_u32(o, "MaxDownlinkPayload", &maxdl))
        bad = "MaxDownlinkPayload: a number";
    else if (!json_u32(o, "NextAFCntDown", &u.next_af_cnt_down))
        bad = "NextAFCntDown: a number";
    u.queued_down = -1;
    uint32_t queued = 0;
    if (bad == NULL && json_object_get(o, "DownlinkQueued") != NULL) {
        if (!json_u32(o, "DownlinkQueued", &queued) || queued > 1000)
            bad = "DownlinkQueued: a number, 0..1000";
        else
            u.queued_down = (int32_t)queued;
    }
    json_decref(o);
    if (bad != NULL) {
        reply_error(r, 400, bad);
        return;
    }
    u.dev_addr = (uint32_t)addr[0] << 24 | (uint32_t)addr[1] << 16 | (uint32_t)addr[2] << 8 | addr[3];
    u.fport = (uint8_t)fport;
    u.max_downlink = maxdl;
    idm_downlink dl;
    char err[IDM_ERR_MAX];
    uint64_t dev_eui_of_uplink = u.dev_eui;
    pthread_mutex_lock(&sv->lock);
    idm_status st = idm_ota_uplink(sv->engine, &u, &dl, err);
    pthread_mutex_unlock(&sv->lock);
    lw_secure_wipe(&u, sizeof u);
    if (st != IDM_OK) {
        reply_error(r, st == IDM_ERR_NOT_FOUND ? 404 : st == IDM_ERR_ARGUMENT ? 400 : 500, err);
        return;
    }
    r->status = 200;
    if (!dl.present) {
        snprintf(r->body, sizeof r->body, "{}");
        return;
    }
    char hex[2 * 242 + 1];
    if (lw_hex_encode(dl.frm, dl.frm_len, hex, sizeof hex) != LW_OK) {
        reply_error(r, 500, "downlink");
        return;
    }
    snprintf(r->body, sizeof r->body,
             "{\"Downlinks\":[{\"DevEUI\":\"%016llX\",\"FPort\":%u,\"FCnt\":%u,\"FRMPayload\":\"%s\",\"Confirmed\":false}]}",
             (unsigned long long)dev_eui_of_uplink, dl.fport, dl.fcnt, hex);
}

/* ---------------------------------------------------------------- tenant API */

static const char *http_of(idm_status st, unsigned *code)
{
    switch (st) {
    case IDM_OK:
        *code = 200;
        break;
    case IDM_ERR_NOT_FOUND:
        *code = 404;
        break;
    case IDM_ERR_AUTH:
    case IDM_ERR_FORBIDDEN:
        *code = 403;
        break;
    case IDM_ERR_LOCKED:
    case IDM_ERR_ILLEGAL:
    case IDM_ERR_EXISTS:
    case IDM_ERR_BUSY:
        *code = 409;
        break;
    case IDM_ERR_ARGUMENT:
        *code = 400;
        break;
    case IDM_ERR_TOO_BIG:
        *code = 413;
        break;
    default:
        *code = 500;
        break;
    }
    return idm_strerror(st);
}

static void se_status(server *sv, const store_idm_tenant *t, uint64_t dev, reply *r)
{
    idm_actor a = idm_actor_of_tenant(t);
    idm_status as = idm_access_check(sv->db, &a, IDM_ACT_READ, dev, 0, NULL);
    if (as != IDM_OK) {
        unsigned code = 404;
        http_of(as, &code);
        reply_error(r, code, as == IDM_ERR_NOT_FOUND ? "no such secure element" : idm_strerror(as));
        return;
    }
    store_idm_se se;
    store_idm_claim c;
    store_status ss = store_idm_se_get(sv->db, dev, &se);
    bool have_claim = ss == STORE_OK && store_idm_claim_get(sv->db, dev, &c) == STORE_OK;
    if (ss != STORE_OK) {
        lw_secure_wipe(&se, sizeof se);
        reply_error(r, 500, "the secure element could not be read");
        return;
    }
    uint64_t pending = 0, q = 0;
    if (store_idm_cmd_count(sv->db, dev, STORE_IDM_CMD_SENDING, &pending) != STORE_OK ||
        store_idm_cmd_count(sv->db, dev, STORE_IDM_CMD_QUEUED, &q) != STORE_OK)
        pending = q = 0;
    r->status = 200;
    snprintf(r->body, sizeof r->body,
             "{\"DevEUI\":\"%016llX\",\"State\":\"%s\",\"Claim\":\"%s\",\"Tenant\":\"%s\",\"JoinServer\":\"%s\","
             "\"PendingCommands\":%llu}",
             (unsigned long long)dev, idm_state_name(se.state),
             store_idm_claim_state_name(have_claim ? c.state : STORE_IDM_CLAIM_NONE), have_claim ? c.tenant_id : "",
             have_claim ? c.js_id : "", (unsigned long long)(pending + q));
    lw_secure_wipe(&se, sizeof se);
}

/* Overwrites a string's text inside a parsed document before it is freed:
 * owner tokens (as idm_batch_line_parse does for the batch file). */
static void wipe_json_string(json_t *s)
{
    if (json_is_string(s))
        lw_secure_wipe((char *)json_string_value(s), json_string_length(s));
}

/* One result of a claims list: {"DevEUI","Claim":"claimed","Already"} or
 * {"DevEUI","Error","Status"}; DevEUI is null when the entry had none. */
static json_t *claim_result(bool have_dev, uint64_t dev, idm_status st, bool already, const char *err)
{
    json_t *o = json_object();
    char eui[17];
    snprintf(eui, sizeof eui, "%016llX", (unsigned long long)dev);
    int e = json_object_set_new(o, "DevEUI", have_dev ? json_string(eui) : json_null());
    if (st == IDM_OK) {
        e |= json_object_set_new(o, "Claim", json_string(store_idm_claim_state_name(STORE_IDM_CLAIM_CLAIMED)));
        e |= json_object_set_new(o, "Already", json_boolean(already));
    } else {
        unsigned code = 500;
        const char *generic = http_of(st, &code);
        json_t *msg = json_string(err[0] != '\0' ? err : generic);
        e |= json_object_set_new(o, "Error", msg != NULL ? msg : json_string(generic));
        e |= json_object_set_new(o, "Status", json_integer(code));
    }
    if (o != NULL && e != 0) {
        json_decref(o);
        o = NULL;
    }
    return o;
}

/* POST /api/v1/claims {"Claims":[...]}: a customer claims many SEs at once,
 * in batches of IDM_CLAIM_BATCH_MAX per transaction (idm_claim_many, as
 * `idm claim --file`); each entry gets its own result and audit entry, so a
 * bad entry stops nothing and the answer (200) says what happened to each,
 * in order. Called with sv->lock held: libmicrohttpd serves requests on one
 * thread here, so other requests, uplinks too, wait for the whole list,
 * which is why a list is capped at CLAIMS_MAX. */
static void handle_claims_list(server *sv, const store_idm_tenant *t, const char *actor, json_t *list, reply *r)
{
    size_t n = json_array_size(list);
    if (!json_is_array(list) || n == 0 || n > CLAIMS_MAX) {
        reply_error(r, 400, "Claims: an array of 1 to 1000 {\"DevEUI\",\"OwnerToken\"} objects");
        return;
    }
    json_t *results = json_array();
    idm_claim_item *items = calloc(IDM_CLAIM_BATCH_MAX, sizeof *items);
    uint64_t claimed = 0, failed = 0;
    bool ok = results != NULL && items != NULL;
    for (size_t from = 0; from < n && ok; from += IDM_CLAIM_BATCH_MAX) {
        size_t to = n - from < IDM_CLAIM_BATCH_MAX ? n : from + IDM_CLAIM_BATCH_MAX, k = 0;
        for (size_t i = from; i < to; i++) {
            json_t *entry = json_array_get(list, i);
            json_t *ot = json_object_get(entry, "OwnerToken");
            uint64_t dev = 0;
            if (parse_eui(json_string_value(json_object_get(entry, "DevEUI")), &dev) && json_is_string(ot))
                items[k++] = (idm_claim_item){.dev_eui = dev, .owner_token = json_string_value(ot)};
        }
        idm_status bst = k > 0 ? idm_claim_many(sv->db, t->id, actor, items, k) : IDM_OK;
        k = 0;
        for (size_t i = from; i < to && ok; i++) {
            json_t *entry = json_array_get(list, i);
            uint64_t dev = 0;
            bool have_dev = parse_eui(json_string_value(json_object_get(entry, "DevEUI")), &dev);
            bool already = false;
            char err[IDM_ERR_MAX] = "";
            idm_status st = IDM_ERR_ARGUMENT;
            if (!have_dev || !json_is_string(json_object_get(entry, "OwnerToken"))) {
                snprintf(err, sizeof err, "entry %zu: DevEUI (16 hex digits) and OwnerToken are required", i + 1);
            } else {
                idm_claim_item *it = &items[k++];
                st = bst == IDM_OK ? it->result : bst;
                already = it->already;
                if (bst == IDM_OK)
                    snprintf(err, sizeof err, "%s", it->err);
            }
            if (st == IDM_OK)
                claimed++;
            else
                failed++;
            json_t *res = claim_result(have_dev, dev, st, already, err);
            ok = res != NULL && json_array_append_new(results, res) == 0;
        }
    }
    free(items);
    for (size_t i = 0; i < n; i++) /* all of them: the loop stops early when memory runs out */
        wipe_json_string(json_object_get(json_array_get(list, i), "OwnerToken"));
    json_t *out = ok ? json_object() : NULL;
    if (out != NULL && (json_object_set_new(out, "Results", results) != 0 ||
                        json_object_set_new(out, "Claimed", json_integer((json_int_t)claimed)) != 0 ||
                        json_object_set_new(out, "Failed", json_integer((json_int_t)failed)) != 0)) {
        json_decref(out);
        out = NULL;
    } else if (out == NULL) {
        json_decref(results);
    }
    reply_json(r, 200, out);
}

static const char *query_of(void *ctx, const char *name)
{
    return net_request_query(ctx, name);
}

/* A bearer token that is no tenant's: a network operator's (the token it
 * has for the Join Server) reads its counters; anything else is 401.
 * Called with sv->lock held; gives it back. */
static void handle_operator(server *sv, const net_request *rq, reply *r)
{
    store_operator op;
    idm_status st = rq->bearer != NULL ? idm_operator_authenticate(sv->db, rq->bearer, &op) : IDM_ERR_AUTH;
    if (st != IDM_OK) {
        pthread_mutex_unlock(&sv->lock);
        reply_error(r, st == IDM_ERR_STORE ? 500 : 401,
                    st == IDM_ERR_STORE ? "the database could not be read" : "bearer token missing or wrong");
        return;
    }
    idm_viewer v = {.actor = {IDM_ACTOR_NETWORK, ""}, .name = op.name, .net_id = op.net_id};
    unsigned code = 500;
    json_t *doc = NULL;
    bool handled = idm_view_handle(sv->db, &v, rq->method, rq->path, query_of, (void *)rq, &code, &doc);
    pthread_mutex_unlock(&sv->lock);
    if (handled)
        reply_json(r, code, doc);
    else
        reply_error(r, 403, "a network operator reads its activation counters only (GET /api/v1/operator)");
}

/* GET /api/v1/events: the caller's SE state changes as server-sent
 * events (idm_stream.h), from now or after Last-Event-ID. */
static void handle_events(server *sv, const net_request *rq, net_reply *rp)
{
    store_idm_tenant t;
    pthread_mutex_lock(&sv->lock);
    idm_status st = rq->bearer != NULL ? idm_tenant_authenticate(sv->db, rq->bearer, &t) : IDM_ERR_AUTH;
    int64_t head = 0;
    bool head_ok = st == IDM_OK && store_idm_audit_head(sv->db, &head) == STORE_OK;
    store_operator op;
    bool is_operator = st == IDM_ERR_AUTH && rq->bearer != NULL &&
                    idm_operator_authenticate(sv->db, rq->bearer, &op) == IDM_OK;
    pthread_mutex_unlock(&sv->lock);
    if (is_operator) {
        net_reply_error(rp, 403, "a network operator has no secure elements to follow: GET /api/v1/operator");
        return;
    }
    if (st != IDM_OK) {
        net_reply_error(rp, st == IDM_ERR_STORE ? 500 : 401,
                        st == IDM_ERR_STORE ? "the database could not be read" : "bearer token missing or wrong");
        return;
    }
    if (!head_ok) {
        net_reply_error(rp, 500, "the audit chain could not be read");
        return;
    }
    int64_t after = head;
    const char *last = net_request_header(rq, "Last-Event-ID");
    if (last != NULL && last[0] != '\0') {
        char *end = NULL;
        long long v = strtoll(last, &end, 10);
        if (end == last || *end != '\0' || v < 0 || v > head) {
            net_reply_error(rp, 400, "Last-Event-ID: the id of an event this stream sent");
            return;
        }
        after = v;
    }
    net_stream *ns = NULL;
    if (net_reply_stream(rp, 200, "text/event-stream", &ns) != NET_OK) {
        net_reply_error(rp, 500, "out of memory");
        return;
    }
    char hello[96];
    int n = snprintf(hello, sizeof hello, "retry: 2000\nevent: hello\ndata: {\"Head\":%lld}\n\n", (long long)after);
    idm_actor a = idm_actor_of_tenant(&t);
    if (net_stream_send(ns, hello, (size_t)n) != NET_OK || idm_stream_subscribe(sv->hub, &a, after, ns) != IDM_OK) {
        /* full (counted by the hub): the stream ends at once after an error event */
        static const char full[] = "event: error\ndata: {\"Error\":\"too many live streams are open: "
                                   "the page falls back to reloading; try again later\"}\n\n";
        if (net_stream_send(ns, full, sizeof full - 1) != NET_OK)
            idm_core_logf(sv->core, "a live stream refused: its error event could not be queued either");
        net_stream_end(ns);
        net_stream_release(ns);
        rp->status = 503;
        json_object_set_new(rp->log, "detail", json_string("live streams full"));
    }
}

static void handle_tenant(server *sv, const net_request *rq, reply *r)
{
    const char *method = rq->method, *url = rq->path;
    store_idm_tenant t;
    const char *tok = rq->bearer;
    pthread_mutex_lock(&sv->lock);
    idm_status st = tok != NULL ? idm_tenant_authenticate(sv->db, tok, &t) : IDM_ERR_AUTH;
    if (st != IDM_OK) {
        handle_operator(sv, rq, r); /* unlocks */
        return;
    }
    char err[IDM_ERR_MAX] = "";
    char actor[80];
    snprintf(actor, sizeof actor, "tenant:%s", t.id);
    uint64_t dev = 0;
    unsigned code = 200;
    /* A body that is not JSON, holds a key twice (which one wins differs
     * between parsers) or is not UTF-8 is refused with the parser's
     * reason, before anything is looked at. */
    json_t *o = NULL;
    char why[NET_ERR_MAX];
    if (rq->len > 0 && net_json_parse(rq->body, rq->len, 0, &o, why) != NET_OK) {
        pthread_mutex_unlock(&sv->lock);
        reply_error(r, 400, why);
        return;
    }
    idm_serve_ops_ctx ops = {sv->engine, sv->hs, sv->db, &sv->cfg->policy, &sv->lock};
    char *ops_body = NULL;
    idm_viewer viewer = {.actor = idm_actor_of_tenant(&t), .name = t.name};
    json_t *view = NULL;
    if (idm_view_handle(sv->db, &viewer, method, url, query_of, (void *)rq, &code, &view)) {
        reply_json(r, code, view);
    } else if (idm_serve_ops(&ops, &t, method, url, o, &code, &ops_body)) {
        r->status = code;
        if (ops_body != NULL)
            r->heap = ops_body;
        else
            reply_error(r, 500, "out of memory");
    } else if (strcmp(method, "POST") == 0 && strcmp(url, "/api/v1/claims") == 0 &&
               json_object_get(o, "Claims") != NULL) {
        handle_claims_list(sv, &t, actor, json_object_get(o, "Claims"), r);
    } else if (strcmp(method, "POST") == 0 && strcmp(url, "/api/v1/claims") == 0) {
        const char *ot = json_string_value(json_object_get(o, "OwnerToken"));
        bool already = false;
        if (!parse_eui(json_string_value(json_object_get(o, "DevEUI")), &dev) || ot == NULL) {
            reply_error(r, 400, "DevEUI and OwnerToken are required");
        } else if ((st = idm_claim(sv->db, dev, t.id, ot, actor, &already, err)) != IDM_OK) {
            http_of(st, &code);
            reply_error(r, code, err[0] ? err : idm_strerror(st));
        } else {
            r->status = 200;
            snprintf(r->body, sizeof r->body, "{\"DevEUI\":\"%016llX\",\"Claim\":\"claimed\",\"Already\":%s}",
                     (unsigned long long)dev, already ? "true" : "false");
        }
        wipe_json_string(json_object_get(o, "OwnerToken"));
    } else if (strcmp(method, "DELETE") == 0 && strncmp(url, "/api/v1/claims/", 15) == 0 && parse_eui(url + 15, &dev)) {
        idm_actor a = idm_actor_of_tenant(&t);
        if ((st = idm_access_check(sv->db, &a, IDM_ACT_RELEASE, dev, 0, NULL)) != IDM_OK ||
            (st = idm_claim_change(sv->db, dev, IDM_CLAIM_RELEASE, t.id, actor, err)) != IDM_OK) {
            if (st == IDM_ERR_NOT_FOUND)
                snprintf(err, sizeof err, "no such secure element");
            http_of(st, &code);
            reply_error(r, code, err[0] ? err : idm_strerror(st));
        } else {
            r->status = 200;
            snprintf(r->body, sizeof r->body, "{\"DevEUI\":\"%016llX\",\"Claim\":\"released\"}",
                     (unsigned long long)dev);
        }
    } else if (strncmp(url, "/api/v1/ses/", 12) == 0 && strlen(url) >= 28) {
        char eui[17];
        memcpy(eui, url + 12, 16);
        eui[16] = '\0';
        const char *rest = url + 28;
        if (!parse_eui(eui, &dev)) {
            reply_error(r, 400, "DevEUI: 16 hex digits");
        } else if (strcmp(method, "GET") == 0 && rest[0] == '\0') {
            se_status(sv, &t, dev, r);
        } else if (strcmp(method, "POST") == 0 && strcmp(rest, "/assign") == 0) {
            const char *js = json_string_value(json_object_get(o, "JoinServer"));
            idm_actor a = idm_actor_of_tenant(&t);
            if ((st = idm_access_check(sv->db, &a, IDM_ACT_ASSIGN, dev, 0, NULL)) != IDM_OK ||
                (st = idm_assign(sv->db, dev, t.id, js, actor, err)) != IDM_OK) {
                if (st == IDM_ERR_NOT_FOUND)
                    snprintf(err, sizeof err, "no such secure element");
                http_of(st, &code);
                reply_error(r, code, err[0] ? err : idm_strerror(st));
            } else {
                se_status(sv, &t, dev, r);
            }
        } else {
            reply_error(r, 404, "no such resource");
        }
    } else {
        reply_error(r, 404, "no such resource");
    }
    json_decref(o);
    pthread_mutex_unlock(&sv->lock);
}

/* ---------------------------------------------------------------- the server layer */

/* GET /healthz: alive, and the engine's capacities with what reached them. */
static void handle_healthz(server *sv, reply *r)
{
    idm_ota_counters k;
    pthread_mutex_lock(&sv->lock);
    idm_ota_counters_get(sv->engine, &k);
    pthread_mutex_unlock(&sv->lock);
    idm_stream_counters sk;
    idm_stream_counters_get(sv->hub, &sk);
    r->status = 200;
    int n = snprintf(r->body, sizeof r->body,
                     "{\"ok\":true,\"mls_rx_slots\":%llu,\"mls_rx_in_use\":%llu,\"mls_rx_refused\":%llu,"
                     "\"streams_max\":%d,\"streams_open\":%llu,\"streams_refused\":%llu,\"streams_dropped_slow\":%llu,"
                     "\"stream_events_sent\":%llu}",
                     (unsigned long long)k.rx_slots, (unsigned long long)k.rx_in_use,
                     (unsigned long long)k.rx_refused, (int)sk.capacity, (unsigned long long)sk.subscribers,
                     (unsigned long long)sk.refused_full, (unsigned long long)sk.dropped_slow,
                     (unsigned long long)sk.sent);
    if (n < 0 || (size_t)n >= sizeof r->body) { /* three integers fit many times over: never, but said */
        r->status = 500;
        snprintf(r->body, sizeof r->body, "{\"ok\":false}");
    }
}

/* The claims list and the fleet operations take up to 1000 DevEUIs. */
static size_t body_max(void *user, const char *method, const char *path)
{
    (void)user;
    bool lists = strcmp(method, "POST") == 0 &&
                 (strcmp(path, "/api/v1/claims") == 0 || strncmp(path, "/api/v1/fleet/", 14) == 0);
    return lists ? CLAIMS_BODY_MAX : BODY_MAX;
}

/* Every answer: nothing framed, sniffed or sent elsewhere; the console's
 * page runs only its own files (no inline script or style); API answers
 * are never cached (they carry a tenant's fleet). */
static void secure_headers(net_reply *rp, bool api)
{
    static const char *const H[][2] = {
        {"Content-Security-Policy",
         "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
         "connect-src 'self'; media-src 'self' blob:; base-uri 'none'; form-action 'none'; "
         "frame-ancestors 'none'"},
        {"X-Content-Type-Options", "nosniff"},
        {"Referrer-Policy", "no-referrer"},
        {"X-Frame-Options", "DENY"},
        {"Cross-Origin-Opener-Policy", "same-origin"},
        {"Cross-Origin-Resource-Policy", "same-origin"},
        {"Permissions-Policy", "camera=(self), microphone=(), geolocation=()"},
    };
    bool ok = true;
    for (size_t i = 0; i < sizeof H / sizeof H[0]; i++)
        ok = ok && net_reply_header(rp, H[i][0], H[i][1]) == NET_OK;
    ok = ok && net_reply_header(rp, "Cache-Control", api ? "no-store" : "no-cache") == NET_OK;
    (void)ok; /* 8 of NET_REPLY_HEADERS_MAX (12): never short, and an answer without them is still correct */
}

static void on_request(void *user, const net_request *rq, net_reply *rp)
{
    server *sv = user;
    const char *url = rq->path, *method = rq->method;
    reply *r = calloc(1, sizeof *r);
    if (r == NULL) {
        net_reply_error(rp, 500, "out of memory");
        return;
    }
    if (strcmp(url, "/metrics") == 0 && strcmp(method, "GET") == 0) {
        /* the server layer's counters (connections refused or cut, bodies too large) */
        char text[2048];
        size_t n = 0;
        if (net_server_metrics(rq->server, text, sizeof text, &n) == NET_OK)
            net_reply_copy(rp, 200, "text/plain; version=0.0.4", text, n);
        else
            net_reply_error(rp, 500, "the metrics do not fit their buffer");
        rp->log_level = "debug";
        free(r);
        return;
    }
    secure_headers(rp, strncmp(url, "/api/", 5) == 0 || strcmp(url, "/healthz") == 0);
    const idm_console_asset *asset = strcmp(method, "GET") == 0 ? idm_console_find(url) : NULL;
    if (asset != NULL) {
        net_reply_copy(rp, 200, asset->content_type, asset->data, asset->len);
        rp->log_level = "debug";
        free(r);
        return;
    }
    if (strcmp(url, "/api/v1/events") == 0 && strcmp(method, "GET") == 0) {
        handle_events(sv, rq, rp);
        free(r);
        return;
    }
    if (strcmp(url, "/healthz") == 0) {
        handle_healthz(sv, r);
        rp->log_level = "debug";
    } else if (strcmp(url, "/uplink") == 0 && strcmp(method, "POST") == 0) {
        handle_uplink(sv, rq, r);
    } else if (strncmp(url, "/api/v1/", 8) == 0) {
        handle_tenant(sv, rq, r);
    } else {
        reply_error(r, 404, "no such resource");
    }
    const char *body = r->heap != NULL ? r->heap : r->body;
    net_reply_copy(rp, r->status, "application/json", body, strlen(body));
    if (r->why[0] != '\0')
        json_object_set_new(rp->log, "detail", net_log_text(r->why, strlen(r->why), sizeof r->why));
    if (r->heap != NULL) {
        json_free_t jfree = NULL;
        json_get_alloc_funcs(NULL, &jfree);
        lw_secure_wipe(r->heap, strlen(r->heap));
        (jfree != NULL ? jfree : free)(r->heap);
    }
    lw_secure_wipe(r, sizeof *r);
    free(r);
}

/* The console's live streams: a tick every IDM_STREAM_TICK_MS reads the
 * new lifecycle changes from the audit chain (any instance's) and sends
 * them to whoever may see them (idm_stream.h). */
static void *streamer(void *arg)
{
    server *sv = arg;
    while (!*sv->stop) {
        pthread_mutex_lock(&sv->lock);
        idm_status st = idm_stream_tick(sv->hub, sv->db, (int64_t)time(NULL));
        pthread_mutex_unlock(&sv->lock);
        if (st != IDM_OK)
            idm_core_logf(sv->core, "live streams: a tick failed (%s); the changes go out next tick",
                          idm_strerror(st));
        usleep(IDM_STREAM_TICK_MS * 1000);
    }
    return NULL;
}

static void lock_engine(void *arg)
{
    pthread_mutex_lock(&((server *)arg)->lock);
}

static void unlock_engine(void *arg)
{
    pthread_mutex_unlock(&((server *)arg)->lock);
}

/* A round takes the lock for each SE's step, not for the round, and lets
 * go of it while a customer JS answers (idm_ota_set_lock): an uplink waits
 * for one step at most. */
static void *housekeeping(void *arg)
{
    server *sv = arg;
    while (!*sv->stop) {
        char err[IDM_ERR_MAX];
        (void)idm_ota_tick(sv->engine, err);
        for (uint32_t i = 0; i < sv->cfg->policy.poll_s * 10 && !*sv->stop; i++)
            usleep(100 * 1000);
    }
    return NULL;
}

idm_status idm_serve(const idm_serve_opts *o, char err[IDM_ERR_MAX])
{
    if (o->core == NULL || idm_core_session(o->core) == NULL || o->stop == NULL) {
        snprintf(err, IDM_ERR_MAX, "idm serve needs the IDM opened with its token");
        return IDM_ERR_ARGUMENT;
    }
    const idm_config *cfg = idm_core_config(o->core);
    const char *listen = o->listen != NULL ? o->listen : cfg->listen;
    /* the address and the plain-HTTP policy first, in idm.conf's words */
    net_addr na;
    char nerr[NET_ERR_MAX];
    if (net_addr_parse(listen, &na, nerr) != NET_OK) {
        snprintf(err, IDM_ERR_MAX, "%s", nerr);
        return IDM_ERR_ARGUMENT;
    }
    bool tls = cfg->tls_cert[0] != '\0';
    if (!tls && !na.loopback) {
        snprintf(err, IDM_ERR_MAX,
                 "listen address \"%.64s\" is not loopback: plain HTTP is served on loopback only; "
                 "set tls_cert and tls_key in idm.conf for HTTPS",
                 listen);
        return IDM_ERR_ARGUMENT;
    }
    if (!cfg->has_ns_token) {
        snprintf(err, IDM_ERR_MAX, "no ns_token_sha256 in idm.conf: run `ferry -d DIR idm init` first");
        return IDM_ERR_ARGUMENT;
    }
    server sv;
    memset(&sv, 0, sizeof sv);
    sv.core = o->core;
    sv.stop = o->stop;
    sv.cfg = cfg;
    sv.hs = idm_core_session(o->core);
    sv.db = idm_core_store(o->core);
    idm_status rc = idm_core_engine_new(o->core, &sv.engine);
    if (rc == IDM_OK)
        rc = idm_stream_hub_new(cfg->console_streams, &sv.hub);
    if (rc != IDM_OK)
        goto out;
    pthread_mutex_init(&sv.lock, NULL);
    idm_ota_set_lock(sv.engine, lock_engine, unlock_engine, &sv);
    net_server_opts so = {
        .service = "idm",
        .listen = listen,
        .tls = {.cert = cfg->tls_cert,
                .key = cfg->tls_key,
                .priority = cfg->tls_priority,
                .below_floor_ok = cfg->tls_priority_below_floor},
        .threads = 1, /* one HTTP thread: the engine's lock serialises anyway (see the top) */
        .limits = {.body_max = BODY_MAX},
        .handle = on_request,
        .body_max = body_max,
        .user = &sv,
    };
    net_server *ns = NULL;
    if (net_server_start(&so, &ns, nerr) != NET_OK) {
        snprintf(err, IDM_ERR_MAX, "%s", nerr);
        rc = IDM_ERR_IO;
    } else {
        idm_log_listening(listen, net_server_port(ns), tls ? "https" : "http");
        pthread_t hk, sm;
        bool hk_ok = pthread_create(&hk, NULL, housekeeping, &sv) == 0;
        bool sm_ok = pthread_create(&sm, NULL, streamer, &sv) == 0;
        while (!*sv.stop) {
            usleep(50 * 1000);
            if (o->hup != NULL && *o->hup) {
                /* the certificate rotated without a restart (docs/net.md) */
                *o->hup = 0;
                net_tls t = {.cert = cfg->tls_cert,
                             .key = cfg->tls_key,
                             .priority = cfg->tls_priority,
                             .below_floor_ok = cfg->tls_priority_below_floor};
                bool ok = !tls || net_server_reload(ns, &t, nerr) == NET_OK;
                if (ok)
                    idm_core_logf(o->core, "TLS material reloaded (SIGHUP)");
                else
                    idm_core_logf(o->core, "TLS reload refused: the material in place stays: %s", nerr);
            }
        }
        if (hk_ok)
            pthread_join(hk, NULL);
        if (sm_ok)
            pthread_join(sm, NULL);
        idm_stream_hub_free(sv.hub); /* ends every stream before the server stops */
        sv.hub = NULL;
        net_server_stop(ns);
        idm_core_logf(o->core, "stopped");
    }
    pthread_mutex_destroy(&sv.lock);
out:
    idm_stream_hub_free(sv.hub);
    idm_ota_free(sv.engine);
    return rc;
}

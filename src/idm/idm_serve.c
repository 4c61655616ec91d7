/*
 * idm_serve.c - `ferry -d DIR idm serve`: the NS-AS endpoint of the
 * bootstrap sessions and the tenants' REST API, over libmicrohttpd, plus a
 * housekeeping thread (idm_ota_tick every `poll` seconds).
 *
 * The IDM's core (idm_core.h, opened by the caller) gives its one PKCS#11
 * session, one database connection and idm.conf, used under one lock by
 * the HTTP thread and the housekeeping thread: the engine keeps its state
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
 *   GET  /healthz
 */
#include "idm/idm_access.h"
#include "idm/idm_core.h"
#include "idm/idm_log.h"
#include "idm/idm_ota.h"
#include "idm/idm_serve_ops.h"
#include "lorawan/lw_secure.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <mbedtls/sha256.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BODY_MAX 8192
#define CLAIMS_BODY_MAX (256 * 1024) /* POST /api/v1/claims: a list of up to CLAIMS_MAX entries */
#define CLAIMS_MAX 1000
#define PEM_MAX (64 * 1024)

typedef struct server {
    pthread_mutex_t lock;
    idm_core *core;               /* owns what follows but the engine (idm_core.h) */
    idm_ota *engine;
    hsm_session *hs;
    store *db;
    const idm_config *cfg;
    volatile sig_atomic_t *stop;
} server;

/* An answer: a small one in body[], or one of any size in heap, which then
 * wins: a json_dumps() text, from jansson's allocator (the CLI installs a
 * wiping one, cli_json.c), which on_request frees with jansson's free. */
typedef struct reply {
    unsigned status;
    char body[1024];
    char *heap;
} reply;

/* A request body, grown as it arrives up to max bytes (BODY_MAX, or
 * CLAIMS_BODY_MAX for the claims list). It can hold owner tokens, so each
 * buffer is wiped before it is freed. buf is always NUL-terminated. */
typedef struct conn {
    char *buf;
    size_t len, cap, max;
    bool too_big, no_memory;
} conn;

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static void reply_error(reply *r, unsigned status, const char *msg)
{
    r->status = status;
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

static bool bearer_is(struct MHD_Connection *c, const uint8_t hash[32])
{
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (h == NULL || strncmp(h, "Bearer ", 7) != 0)
        return false;
    uint8_t got[32];
    (void)mbedtls_sha256_ret((const unsigned char *)h + 7, strlen(h + 7), got, 0);
    return lw_secure_equal(got, hash, 32) == 1;
}

static const char *bearer_of(struct MHD_Connection *c)
{
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    return h != NULL && strncmp(h, "Bearer ", 7) == 0 ? h + 7 : NULL;
}

/* ---------------------------------------------------------------- POST /uplink */

static void handle_uplink(server *sv, struct MHD_Connection *c, const conn *cs, reply *r)
{
    if (!sv->cfg->has_ns_token || !bearer_is(c, sv->cfg->ns_token_sha256)) {
        reply_error(r, 401, "bearer token missing or wrong");
        return;
    }
    json_error_t je;
    json_t *o = json_loadb(cs->buf, cs->len, JSON_REJECT_DUPLICATES, &je);
    if (o == NULL) {
        char why[200];
        snprintf(why, sizeof why, "body: %s at byte %d", je.text, je.position);
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
    if (store_idm_cmd_count(sv->db, dev, "sending", &pending) != STORE_OK ||
        store_idm_cmd_count(sv->db, dev, "queued", &q) != STORE_OK)
        pending = q = 0;
    r->status = 200;
    snprintf(r->body, sizeof r->body,
             "{\"DevEUI\":\"%016llX\",\"State\":\"%s\",\"Claim\":\"%s\",\"Tenant\":\"%s\",\"JoinServer\":\"%s\","
             "\"PendingCommands\":%llu}",
             (unsigned long long)dev, se.state, have_claim ? c.state : "none", have_claim ? c.tenant_id : "",
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
        e |= json_object_set_new(o, "Claim", json_string("claimed"));
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

/* POST /api/v1/claims {"Claims":[...]}: a customer claims many SEs at once.
 * Each entry is its own idm_claim, with its own transaction and audit entry,
 * so a bad entry stops nothing and the answer (200) says what happened to
 * each, in order. Called with sv->lock held. libmicrohttpd serves requests
 * on one thread here, so other requests, uplinks too, wait for the whole
 * list: about 0.5 ms an entry on SQLite (1000 in 0.5 s, measured), which is
 * why a list is capped at CLAIMS_MAX. */
static void handle_claims_list(server *sv, const store_idm_tenant *t, const char *actor, json_t *list, reply *r)
{
    size_t n = json_array_size(list);
    if (!json_is_array(list) || n == 0 || n > CLAIMS_MAX) {
        reply_error(r, 400, "Claims: an array of 1 to 1000 {\"DevEUI\",\"OwnerToken\"} objects");
        return;
    }
    json_t *results = json_array();
    uint64_t claimed = 0, failed = 0;
    bool ok = results != NULL;
    for (size_t i = 0; i < n && ok; i++) {
        json_t *entry = json_array_get(list, i);
        json_t *ot = json_object_get(entry, "OwnerToken");
        uint64_t dev = 0;
        bool have_dev = parse_eui(json_string_value(json_object_get(entry, "DevEUI")), &dev);
        bool already = false;
        char err[IDM_ERR_MAX] = "";
        idm_status st = IDM_ERR_ARGUMENT;
        if (!have_dev || !json_is_string(ot)) {
            snprintf(err, sizeof err, "entry %zu: DevEUI (16 hex digits) and OwnerToken are required", i + 1);
        } else {
            st = idm_claim(sv->db, dev, t->id, json_string_value(ot), actor, &already, err);
        }
        if (st == IDM_OK)
            claimed++;
        else
            failed++;
        json_t *res = ok ? claim_result(have_dev, dev, st, already, err) : NULL;
        ok = res != NULL && json_array_append_new(results, res) == 0;
    }
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

static void handle_tenant(server *sv, struct MHD_Connection *c, const char *method, const char *url, const conn *cs,
                          reply *r)
{
    store_idm_tenant t;
    const char *tok = bearer_of(c);
    pthread_mutex_lock(&sv->lock);
    idm_status st = tok != NULL ? idm_tenant_authenticate(sv->db, tok, &t) : IDM_ERR_AUTH;
    if (st != IDM_OK) {
        pthread_mutex_unlock(&sv->lock);
        reply_error(r, 401, "bearer token missing or wrong");
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
    json_error_t je;
    json_t *o = cs->len > 0 ? json_loadb(cs->buf, cs->len, JSON_REJECT_DUPLICATES, &je) : NULL;
    if (cs->len > 0 && o == NULL) {
        pthread_mutex_unlock(&sv->lock);
        char why[200];
        snprintf(why, sizeof why, "body: %s at byte %d", je.text, je.position);
        reply_error(r, 400, why);
        return;
    }
    idm_serve_ops_ctx ops = {sv->engine, sv->hs, sv->db, &sv->cfg->policy, &sv->lock};
    char *ops_body = NULL;
    if (idm_serve_ops(&ops, &t, method, url, o, &code, &ops_body)) {
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

/* ---------------------------------------------------------------- libmicrohttpd */

/* A connection's body buffer: small at first, for max bytes at most. */
static conn *conn_new(size_t max)
{
    conn *cs = calloc(1, sizeof *cs);
    if (cs == NULL)
        return NULL;
    cs->cap = 1024;
    cs->max = max;
    cs->buf = calloc(1, cs->cap);
    if (cs->buf == NULL) {
        free(cs);
        return NULL;
    }
    return cs;
}

/* Appends n bytes of the body, doubling the buffer as needed (the old one
 * is wiped, not realloc()ed, because it may hold an owner token). Sets
 * too_big past cs->max, no_memory when malloc fails; then drops the rest. */
static void conn_append(conn *cs, const char *p, size_t n)
{
    if (cs->too_big || cs->no_memory)
        return;
    if (n > cs->max - cs->len) {
        cs->too_big = true;
        return;
    }
    if (cs->len + n + 1 > cs->cap) {
        size_t cap = cs->cap;
        while (cap < cs->len + n + 1)
            cap *= 2;
        char *b = malloc(cap);
        if (b == NULL) {
            cs->no_memory = true;
            return;
        }
        memcpy(b, cs->buf, cs->len + 1);
        lw_secure_wipe(cs->buf, cs->cap);
        free(cs->buf);
        cs->buf = b;
        cs->cap = cap;
    }
    memcpy(cs->buf + cs->len, p, n);
    cs->len += n;
    cs->buf[cs->len] = '\0';
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    (void)version;
    server *sv = cls;
    conn *cs = *con_cls;
    if (cs == NULL) {
        bool list = strcmp(method, "POST") == 0 && strcmp(url, "/api/v1/claims") == 0;
        cs = conn_new(list ? CLAIMS_BODY_MAX : BODY_MAX);
        if (cs == NULL)
            return MHD_NO;
        *con_cls = cs;
        return MHD_YES;
    }
    if (*upload_size > 0) {
        conn_append(cs, upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    reply *r = calloc(1, sizeof *r);
    if (r == NULL)
        return MHD_NO;
    if (cs->too_big) {
        char msg[64];
        snprintf(msg, sizeof msg, "body too large: at most %zu bytes here", cs->max);
        reply_error(r, 413, msg);
    } else if (cs->no_memory)
        reply_error(r, 500, "out of memory");
    else if (strcmp(url, "/healthz") == 0)
        r->status = 200, snprintf(r->body, sizeof r->body, "{\"ok\":true}");
    else if (strcmp(url, "/uplink") == 0 && strcmp(method, "POST") == 0)
        handle_uplink(sv, c, cs, r);
    else if (strncmp(url, "/api/v1/", 8) == 0)
        handle_tenant(sv, c, method, url, cs, r);
    else
        reply_error(r, 404, "no such resource");
    char *body = r->heap != NULL ? r->heap : r->body;
    struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result ret = MHD_NO;
    if (resp != NULL) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
        ret = MHD_queue_response(c, r->status, resp);
        MHD_destroy_response(resp);
    }
    idm_log_request(method, url, r->status);
    if (r->heap != NULL) {
        json_free_t jfree = NULL;
        json_get_alloc_funcs(NULL, &jfree);
        lw_secure_wipe(r->heap, strlen(r->heap));
        (jfree != NULL ? jfree : free)(r->heap);
    }
    lw_secure_wipe(r, sizeof *r);
    free(r);
    return ret;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)c, (void)toe;
    conn *cs = *con_cls;
    if (cs != NULL) {
        lw_secure_wipe(cs->buf, cs->cap);
        free(cs->buf);
        lw_secure_wipe(cs, sizeof *cs);
        free(cs);
    }
    *con_cls = NULL;
}

/* Reads a PEM file for libmicrohttpd, NUL-terminated; *len for the wipe.
 * NULL when it cannot be read or is larger than PEM_MAX. */
static char *read_pem(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *b = malloc(PEM_MAX + 1);
    size_t n = b != NULL ? fread(b, 1, PEM_MAX + 1, f) : 0;
    bool whole = b != NULL && !ferror(f) && n > 0 && n <= PEM_MAX;
    fclose(f);
    if (!whole) {
        if (b != NULL) {
            lw_secure_wipe(b, PEM_MAX + 1);
            free(b);
        }
        return NULL;
    }
    b[n] = '\0';
    *len = PEM_MAX + 1;
    return b;
}

/* The private key's copy is wiped before it is freed. */
static void wipe_free(char *p, size_t n)
{
    if (p != NULL) {
        lw_secure_wipe(p, n);
        free(p);
    }
}

static void *housekeeping(void *arg)
{
    server *sv = arg;
    while (!stop_flag) {
        char err[IDM_ERR_MAX];
        pthread_mutex_lock(&sv->lock);
        (void)idm_ota_tick(sv->engine, err);
        pthread_mutex_unlock(&sv->lock);
        for (uint32_t i = 0; i < sv->cfg->policy.poll_s * 10 && !stop_flag; i++)
            usleep(100 * 1000);
    }
    return NULL;
}

idm_status idm_serve(const idm_serve_opts *o, char err[IDM_ERR_MAX])
{
    if (o->core == NULL || idm_core_session(o->core) == NULL) {
        snprintf(err, IDM_ERR_MAX, "idm serve needs the IDM opened with its token");
        return IDM_ERR_ARGUMENT;
    }
    const idm_config *cfg = idm_core_config(o->core);
    const char *listen = o->listen != NULL ? o->listen : cfg->listen;
    char host[128];
    const char *colon = strrchr(listen, ':');
    /* the whole port, digits only: "17141x" is a mistake, not port 17141;
     * 0 lets the system choose (the log line names the port bound) */
    char *end = NULL;
    unsigned long port = colon != NULL && colon[1] >= '0' && colon[1] <= '9' ? strtoul(colon + 1, &end, 10) : 70000;
    if (colon == NULL || (size_t)(colon - listen) >= sizeof host || end == NULL || *end != '\0' || port > 65535) {
        snprintf(err, IDM_ERR_MAX, "listen address \"%s\": expected ADDR:PORT", listen);
        return IDM_ERR_ARGUMENT;
    }
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = '\0';
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        snprintf(err, IDM_ERR_MAX, "listen address \"%s\": a numeric IPv4 address is expected", listen);
        return IDM_ERR_ARGUMENT;
    }
    bool tls = cfg->tls_cert[0] != '\0';
    if (!tls && (ntohl(sa.sin_addr.s_addr) >> 24) != 127) {
        snprintf(err, IDM_ERR_MAX,
                 "listen address \"%.64s\" is not loopback: plain HTTP is served on 127.0.0.0/8 only; "
                 "set tls_cert and tls_key in idm.conf for HTTPS",
                 listen);
        return IDM_ERR_ARGUMENT;
    }
    if (!cfg->has_ns_token) {
        snprintf(err, IDM_ERR_MAX, "no ns_token_sha256 in idm.conf: run `ferry -d DIR idm init` first");
        return IDM_ERR_ARGUMENT;
    }
    char *cert = NULL, *key = NULL;
    size_t cert_len = 0, key_len = 0;
    if (tls && ((cert = read_pem(cfg->tls_cert, &cert_len)) == NULL ||
                (key = read_pem(cfg->tls_key, &key_len)) == NULL)) {
        snprintf(err, IDM_ERR_MAX, "%s %.160s: cannot be read (a PEM file of at most 64 KiB)",
                 cert == NULL ? "tls_cert" : "tls_key", cert == NULL ? cfg->tls_cert : cfg->tls_key);
        wipe_free(cert, cert_len);
        return IDM_ERR_IO;
    }
    server sv;
    memset(&sv, 0, sizeof sv);
    sv.core = o->core;
    sv.cfg = cfg;
    sv.hs = idm_core_session(o->core);
    sv.db = idm_core_store(o->core);
    idm_status rc = idm_core_engine_new(o->core, &sv.engine);
    if (rc != IDM_OK)
        goto out;
    pthread_mutex_init(&sv.lock, NULL);
    struct sigaction act;
    memset(&act, 0, sizeof act);
    act.sa_handler = on_signal;
    sigaction(SIGINT, &act, NULL);
    sigaction(SIGTERM, &act, NULL);
    struct MHD_OptionItem tls_opts[3] = {{MHD_OPTION_END, 0, NULL}};
    if (tls) {
        tls_opts[0] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, key};
        tls_opts[1] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, cert};
        tls_opts[2] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    }
    struct MHD_Daemon *d =
        MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | (tls ? MHD_USE_TLS : 0), (uint16_t)port,
                         NULL, NULL, on_request, &sv, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                         MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_CONNECTION_TIMEOUT, 30u,
                         MHD_OPTION_ARRAY, tls_opts, MHD_OPTION_END);
    if (d == NULL) {
        snprintf(err, IDM_ERR_MAX, "could not listen on %s%s", listen,
                 tls ? " with TLS (address in use, or tls_cert and tls_key are not a matching PEM certificate and key)"
                     : " (address in use?)");
        rc = IDM_ERR_IO;
    } else {
        const union MHD_DaemonInfo *bi = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
        idm_log_listening(listen, bi != NULL ? (unsigned)bi->port : 0u, tls ? "https" : "http");
        pthread_t hk;
        bool hk_ok = pthread_create(&hk, NULL, housekeeping, &sv) == 0;
        while (!stop_flag)
            usleep(50 * 1000);
        if (hk_ok)
            pthread_join(hk, NULL);
        MHD_stop_daemon(d);
        idm_core_logf(o->core, "stopped");
    }
    pthread_mutex_destroy(&sv.lock);
out:
    idm_ota_free(sv.engine);
    wipe_free(cert, cert_len);
    wipe_free(key, key_len);
    return rc;
}

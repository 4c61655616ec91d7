/*
 * js_operator_api.c - /api/v1/operators on the admin API (the admin token
 * was checked by js_handle_admin):
 *
 *   GET    /api/v1/operators[?after=NETID]    200 {"Operators":[...],"Next":NETID|null}
 *   POST   /api/v1/operators                  201 the operator (body below)
 *   GET    /api/v1/operators/{NetID}          200 the operator with its counters
 *   POST   /api/v1/operators/{NetID}/suspend  200 the operator
 *   POST   /api/v1/operators/{NetID}/resume   200 the operator
 *   DELETE /api/v1/operators/{NetID}          200 {"NetID":...,"Removed":true}
 *
 * POST body: {"NetID":"000013","Name":"...","NSID":"EUI","TokenSHA256":"64 hex",
 * "ClientCA":"PEM text","KEKLabel":"...","Reach":"direct"|"hub",
 * "AnswerURL":"https://...","AnswerTokenFile":"/path"}. The bearer
 * token travels only as its SHA-256 (the operator makes its token and keeps
 * it), so no credential is ever in a request or an answer. Unknown fields
 * are refused, as unknown ferry.conf keys are: a misspelt credential must
 * not pass silently. 400 bad body, 404 unknown operator or KEK, 409 the
 * NetID is onboarded already.
 */
#include "js/js.h"
#include "js/js_internal.h"
#include "net/net_json.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#define JSON_TYPE "application/json"
#define BASE "/api/v1/operators"
#define LIST_PAGE 16

static void op_error(js_reply *out, unsigned status, const char *msg)
{
    snprintf(out->note, sizeof(out->note), "%s", msg);
    json_t *o = json_pack("{s:s}", "error", msg);
    char text[2 * JS_ERR_MAX + 32];
    size_t n = o != NULL ? json_dumpb(o, text, sizeof(text) - 1, JSON_COMPACT) : 0;
    json_decref(o);
    if (n == 0 || n >= sizeof(text))
        n = (size_t)snprintf(text, sizeof(text), "{\"error\":\"?\"}");
    text[n] = '\0';
    js_reply_text(out, status, JSON_TYPE, "%s", text);
}

static void op_reply(js_worker *w, js_reply *out, unsigned status, uint32_t net_id, bool with_counts)
{
    store_operator op;
    store_status ss = store_operator_get(w->db, net_id, &op);
    size_t n = 0;
    if (ss != STORE_OK) {
        op_error(out, ss == STORE_ERR_NOT_FOUND ? 404 : 500, ss == STORE_ERR_NOT_FOUND ? "no such operator"
                                                                                     : "database failure");
        return;
    }
    if (js_operator_json(w->db, &op, with_counts, out->body, sizeof(out->body), &n) != JS_OK) {
        op_error(out, 500, "could not render the operator");
        return;
    }
    out->http_status = status;
    out->content_type = JSON_TYPE;
    out->len = n;
}

static unsigned status_of(js_status st)
{
    switch (st) {
    case JS_OK: return 200;
    case JS_ERR_EXISTS: return 409;
    case JS_ERR_NOT_FOUND: return 404;
    case JS_ERR_INPUT:
    case JS_ERR_ARGUMENT: return 400;
    default: return 500;
    }
}

static const char *str_field(json_t *o, const char *name, bool *bad)
{
    json_t *v = json_object_get(o, name);
    if (v == NULL || json_is_null(v))
        return NULL;
    if (!json_is_string(v)) {
        *bad = true;
        return NULL;
    }
    return json_string_value(v);
}

static void add(js_worker *w, const void *body, size_t len, js_reply *out)
{
    json_t *o = NULL;
    char why[NET_ERR_MAX];
    if (net_json_parse(body, len, 0, &o, why) != NET_OK) {
        op_error(out, 400, why);
        return;
    }
    if (!json_is_object(o)) {
        json_decref(o);
        op_error(out, 400, "the body must be one JSON object");
        return;
    }
    static const char *const known[] = {"NetID",    "Name",  "NSID",      "TokenSHA256",    "ClientCA",
                                        "KEKLabel", "Reach", "AnswerURL", "AnswerTokenFile"};
    const char *key;
    json_t *val;
    json_object_foreach(o, key, val) {
        bool ok = false;
        for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
            ok |= strcmp(key, known[i]) == 0;
        if (!ok) {
            char msg[120];
            snprintf(msg, sizeof(msg), "unknown field \"%.40s\"", key);
            op_error(out, 400, msg);
            json_decref(o);
            return;
        }
    }
    bool bad = false;
    const char *net = str_field(o, "NetID", &bad), *nsid = str_field(o, "NSID", &bad);
    const char *tok = str_field(o, "TokenSHA256", &bad), *reach = str_field(o, "Reach", &bad);
    js_operator_opts op = {.name = str_field(o, "Name", &bad), .client_ca = str_field(o, "ClientCA", &bad),
                           .kek_label = str_field(o, "KEKLabel", &bad), .answer_url = str_field(o, "AnswerURL", &bad),
                           .answer_token_file = str_field(o, "AnswerTokenFile", &bad), .actor = "admin-api"};
    const char *msg = NULL;
    if (bad)
        msg = "every field is a string";
    else if (!js_net_id_parse(net, &op.net_id))
        msg = "NetID: 6 hex digits";
    else if (tok != NULL && lw_hex_decode(tok, strlen(tok), op.token_sha256, JS_HASH_LEN) != LW_OK)
        msg = "TokenSHA256: 64 hex digits (the SHA-256 of the operator's bearer token)";
    else if (reach != NULL && strcmp(reach, "direct") != 0 && strcmp(reach, "hub") != 0)
        msg = "Reach: \"direct\" or \"hub\"";
    if (msg == NULL && nsid != NULL) {
        uint8_t b[8];
        const char *h = nsid[0] == '0' && (nsid[1] == 'x' || nsid[1] == 'X') ? nsid + 2 : nsid;
        if (lw_hex_decode(h, strlen(h), b, 8) != LW_OK) {
            msg = "NSID: 16 hex digits";
        } else {
            op.has_nsid = true;
            for (int i = 0; i < 8; i++)
                op.nsid = op.nsid << 8 | b[i];
        }
    }
    if (msg != NULL) {
        op_error(out, 400, msg);
        json_decref(o);
        return;
    }
    op.has_token = tok != NULL;
    op.reach = reach != NULL && strcmp(reach, "hub") == 0 ? STORE_OPERATOR_HUB : STORE_OPERATOR_DIRECT;
    char err[JS_ERR_MAX];
    js_status st = js_operator_add(w->db, &op, err);
    json_decref(o);
    if (st != JS_OK) {
        op_error(out, st == JS_ERR_NOT_FOUND ? 400 : status_of(st), err);
        return;
    }
    op_reply(w, out, 201, op.net_id, false);
}

static void list(js_worker *w, const char *query, js_reply *out)
{
    uint32_t after = 0;
    bool has_after = false;
    if (query != NULL) {
        if (strncmp(query, "after=", 6) != 0 || !js_net_id_parse(query + 6, &after)) {
            op_error(out, 400, "the only query is after=NETID");
            return;
        }
        has_after = true;
    }
    store_operator page[LIST_PAGE];
    size_t count = 0;
    if (store_operator_list(w->db, has_after ? &after : NULL, page, LIST_PAGE, &count) != STORE_OK) {
        op_error(out, 500, "database failure");
        return;
    }
    json_t *o = json_object(), *arr = json_array();
    int e = o == NULL || arr == NULL;
    for (size_t i = 0; i < count && e == 0; i++) {
        char text[1024];
        size_t n = 0;
        json_error_t je;
        json_t *item = js_operator_json(w->db, &page[i], false, text, sizeof(text), &n) == JS_OK
                           ? json_loadb(text, n, 0, &je)
                           : NULL;
        e |= item == NULL || json_array_append_new(arr, item) != 0;
    }
    e |= json_object_set_new(o, "Operators", arr);
    char next[7];
    snprintf(next, sizeof(next), "%06X", count > 0 ? (unsigned)page[count - 1].net_id : 0u);
    e |= json_object_set_new(o, "Next", count == LIST_PAGE ? json_string(next) : json_null());
    size_t n = e == 0 ? json_dumpb(o, out->body, sizeof(out->body), JSON_COMPACT | JSON_PRESERVE_ORDER) : 0;
    json_decref(o);
    if (n == 0 || n >= sizeof(out->body)) {
        op_error(out, 500, "could not render the list");
        return;
    }
    out->body[n] = '\0';
    out->http_status = 200;
    out->content_type = JSON_TYPE;
    out->len = n;
}

void js_handle_admin_operators(js_worker *w, const char *method, const char *path, const void *body, size_t len,
                               js_reply *out)
{
    const char *rest = path + strlen(BASE);
    if (*rest == '\0' || *rest == '?') {
        if (strcmp(method, "GET") == 0)
            list(w, *rest == '?' ? rest + 1 : NULL, out);
        else if (strcmp(method, "POST") == 0)
            add(w, body, len, out);
        else
            op_error(out, 405, "use GET or POST on " BASE);
        return;
    }
    /* "/{NetID}" or "/{NetID}/suspend|resume" */
    char id[16];
    const char *slash = strchr(rest + 1, '/');
    size_t idlen = slash != NULL ? (size_t)(slash - rest - 1) : strlen(rest + 1);
    uint32_t net_id = 0;
    if (idlen >= sizeof(id) || (memcpy(id, rest + 1, idlen), id[idlen] = '\0', !js_net_id_parse(id, &net_id))) {
        op_error(out, 400, "NetID: 6 hex digits");
        return;
    }
    char err[JS_ERR_MAX];
    if (slash != NULL) {
        bool suspend = strcmp(slash, "/suspend") == 0;
        if (!suspend && strcmp(slash, "/resume") != 0) {
            op_error(out, 404, "no such resource");
        } else if (strcmp(method, "POST") != 0) {
            op_error(out, 405, "use POST to suspend or resume");
        } else {
            js_status st = js_operator_set_suspended(w->db, net_id, suspend, "admin-api", err);
            if (st != JS_OK)
                op_error(out, status_of(st), err);
            else
                op_reply(w, out, 200, net_id, false);
        }
        return;
    }
    if (strcmp(method, "GET") == 0) {
        op_reply(w, out, 200, net_id, true);
    } else if (strcmp(method, "DELETE") == 0) {
        js_status st = js_operator_remove(w->db, net_id, "admin-api", err);
        if (st != JS_OK)
            op_error(out, status_of(st), err);
        else
            js_reply_text(out, 200, JSON_TYPE, "{\"NetID\":\"%06X\",\"Removed\":true}", (unsigned)net_id);
    } else {
        op_error(out, 405, "use GET or DELETE on " BASE "/{NetID}");
    }
}

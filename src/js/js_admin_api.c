/*
 * js_admin_api.c - the admin REST API the IDM uses to provision devices.
 *
 * Authenticated by the deployment's admin token (Authorization: Bearer),
 * whose SHA-256 is in ferry.conf; compared in constant time. Keys arrive
 * only as wrapped KeyEnvelopes under a KEK already imported with `ferry kek
 * import`: a clear key is refused here whatever the body says (the clear
 * path is an operator's decision at the console, not an API call). Answers
 * never carry a key or a blob (js_device_json). /api/v1/operators is
 * js_operator_api.c.
 */
#include "js/js.h"
#include "js/js_internal.h"
#include "net/net_token.h"

#include <stdio.h>
#include <string.h>

#define JSON_TYPE "application/json"
#define DEVICES "/api/v1/devices"
#define OPERATORS "/api/v1/operators"
#define TLS_RELOAD "/api/v1/tls/reload"
#define METRICS_FLUSH "/api/v1/metrics/flush"

static void admin_error(js_reply *out, unsigned status, const char *msg)
{
    snprintf(out->note, sizeof(out->note), "%s", msg);
    char esc[BI_DESCRIPTION_MAX + 1];
    size_t j = 0;
    for (size_t i = 0; msg[i] != '\0' && j + 2 < sizeof(esc); i++) {
        unsigned char c = (unsigned char)msg[i];
        if (c == '"' || c == '\\')
            esc[j++] = '\\';
        esc[j++] = (c < 0x20 || c > 0x7e) ? '?' : (char)c;
    }
    esc[j] = '\0';
    js_reply_text(out, status, JSON_TYPE, "{\"error\":\"%s\"}", esc);
}

static bool parse_dev_eui(const char *s, uint64_t *out)
{
    uint8_t b[8];
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
        s += 2;
    if (lw_hex_decode(s, strlen(s), b, sizeof(b)) != LW_OK)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < 8; i++)
        v = (v << 8) | b[i];
    *out = v;
    return true;
}

static void device_reply(js_reply *out, unsigned status, const store_device *d)
{
    size_t n = 0;
    if (js_device_json(d, out->body, sizeof(out->body), &n) != JS_OK) {
        admin_error(out, 500, "could not render the device");
        return;
    }
    out->http_status = status;
    out->content_type = JSON_TYPE;
    out->len = n;
}

/* POST creates (409 when the DevEUI exists); PUT on /devices/{DevEUI}
 * replaces keys and policy of that device or creates it, keeping its
 * DevNonce history and never moving its JoinNonce back (store_device_put's
 * upsert): what a key renewal needs, since the device keeps joining with
 * the same DevNonce counter and must never see an old JoinNonce again. */
static void put_device(js_worker *w, const void *body, size_t len, uint64_t path_eui, bool replace, js_reply *out)
{
    char err[JS_ERR_MAX];
    store_device d;
    bool was_clear = false;
    js_status st = js_device_translate(w, body, len, false, &d, &was_clear, err);
    if (st != JS_OK) {
        admin_error(out, st == JS_ERR_HSM || st == JS_ERR_STORE ? 500 : 400, err);
        return;
    }
    out->has_dev_eui = true;
    out->dev_eui = d.dev_eui;
    if (replace && d.dev_eui != path_eui) {
        admin_error(out, 400, "DevEUI of the body differs from the path");
        lw_secure_wipe(&d, sizeof(d));
        return;
    }
    store_status ss = store_device_put(w->db, &d, replace);
    if (ss == STORE_ERR_EXISTS) {
        admin_error(out, 409, "a device with that DevEUI exists");
    } else if (ss != STORE_OK) {
        snprintf(err, sizeof(err), "database: %s", store_strerror(ss));
        admin_error(out, 500, err);
    } else if (store_device_get(w->db, d.dev_eui, &d) == STORE_OK) {
        device_reply(out, replace ? 200 : 201, &d);
    } else {
        admin_error(out, 500, "the device was stored but could not be read back");
    }
    lw_secure_wipe(&d, sizeof(d));
}

/* The per-operator counters reach the database once a second from the
 * serving loop; this writes what this process counted so far before it
 * answers, so that whoever reads `ferry operator show` next (a test, an
 * operator closing a billing period) sees every request answered before
 * the call. Only this process's counters: each `serve` has its own. */
static void flush_metrics(js_worker *w, const char *method, js_reply *out)
{
    if (strcmp(method, "POST") != 0) {
        admin_error(out, 405, "use POST on " METRICS_FLUSH);
        return;
    }
    if (js_metrics_flush(w->ctx, w->db) != JS_OK) {
        admin_error(out, 500, "operator counters not written (kept for the next flush)");
        return;
    }
    js_reply_text(out, 200, JSON_TYPE, "{\"flushed\":true}");
}

/* POST /api/v1/tls/reload: the TLS material read again, as SIGHUP does,
 * with the outcome in the answer: 200, or 409 with why the material in
 * place stays. */
static void tls_reload(js_worker *w, const char *method, js_reply *out)
{
    if (strcmp(method, "POST") != 0) {
        admin_error(out, 405, "use POST on " TLS_RELOAD);
        return;
    }
    char err[JS_ERR_MAX];
    if (js_reload_ask(w->ctx, 20, err) != JS_OK) {
        admin_error(out, 409, err);
        return;
    }
    js_reply_text(out, 200, JSON_TYPE, "{\"reloaded\":true}");
}

void js_handle_admin(js_worker *w, const js_auth *auth, const char *method, const char *path, const void *body,
                     size_t len, js_reply *out)
{
    js_reply_reset(out);
    const js_config *cfg = w->ctx->cfg;
    if (!cfg->has_admin_token || auth == NULL || !net_token_matches(auth->bearer, cfg->admin_token_sha256)) {
        admin_error(out, 401, "admin token missing or wrong");
        return;
    }
    if (strcmp(path, METRICS_FLUSH) == 0) {
        flush_metrics(w, method, out);
        return;
    }
    if (strcmp(path, TLS_RELOAD) == 0) {
        tls_reload(w, method, out);
        return;
    }
    size_t ol = strlen(OPERATORS);
    if (strncmp(path, OPERATORS, ol) == 0 && (path[ol] == '\0' || path[ol] == '/' || path[ol] == '?')) {
        js_handle_admin_operators(w, method, path, body, len, out);
        return;
    }
    size_t dl = strlen(DEVICES);
    if (strncmp(path, DEVICES, dl) != 0 || (path[dl] != '\0' && path[dl] != '/')) {
        admin_error(out, 404, "no such resource");
        return;
    }
    const char *rest = path[dl] == '/' ? path + dl + 1 : NULL;
    if (rest == NULL || *rest == '\0') {
        if (strcmp(method, "POST") == 0)
            put_device(w, body, len, 0, false, out);
        else
            admin_error(out, 405, "use POST on /api/v1/devices");
        return;
    }
    uint64_t eui;
    if (!parse_dev_eui(rest, &eui)) {
        admin_error(out, 400, "DevEUI: expected 16 hex digits");
        return;
    }
    out->has_dev_eui = true;
    out->dev_eui = eui;
    store_device d;
    store_status ss;
    if (strcmp(method, "GET") == 0) {
        ss = store_device_get(w->db, eui, &d);
        if (ss == STORE_OK)
            device_reply(out, 200, &d);
        lw_secure_wipe(&d, sizeof(d));
    } else if (strcmp(method, "PUT") == 0) {
        put_device(w, body, len, eui, true, out);
        return;
    } else if (strcmp(method, "DELETE") == 0) {
        ss = store_device_delete(w->db, eui);
        if (ss == STORE_OK)
            js_reply_text(out, 200, JSON_TYPE, "{\"DevEUI\":\"%016llX\",\"deleted\":true}", (unsigned long long)eui);
    } else {
        admin_error(out, 405, "use GET, PUT or DELETE on /api/v1/devices/{DevEUI}");
        return;
    }
    if (ss == STORE_ERR_NOT_FOUND)
        admin_error(out, 404, "no device with that DevEUI");
    else if (ss != STORE_OK)
        admin_error(out, 500, "database failure");
}

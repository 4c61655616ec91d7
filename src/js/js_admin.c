/*
 * js_admin.c - KEKs and devices: the operations behind `ferry kek`,
 * `ferry device` and the admin REST API.
 *
 * A device line's keys are translated inside the token before anything is
 * stored: a wrapped KeyEnvelope is unwrapped under its transport KEK and
 * wrapped again under the master key in one hsm_import_wrapped() call, so
 * the key never enters this process. The clear path (the operator's
 * --allow-clear-keys) goes through hsm_import_clear(), which wipes the bytes.
 */
#include "js/js.h"
#include "js/js_internal.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

static bool label_ok(const char *label)
{
    size_t n = strlen(label);
    if (n == 0 || n > STORE_LABEL_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)label[i];
        if (c < 0x21 || c > 0x7e)
            return false;
    }
    return true;
}

static js_status put_kek(js_worker *w, const char *label, const uint8_t *blob, size_t blob_len,
                         char err[JS_ERR_MAX])
{
    store_kek k;
    memset(&k, 0, sizeof(k));
    snprintf(k.label, sizeof(k.label), "%s", label);
    memcpy(k.key.data, blob, blob_len);
    k.key.len = blob_len;
    store_status ss = store_kek_put(w->db, &k);
    if (ss == STORE_ERR_EXISTS) {
        js_errf(err, "KEK \"%s\" exists already", label);
        return JS_ERR_EXISTS;
    }
    if (ss != STORE_OK) {
        js_errf(err, "database: %s", store_strerror(ss));
        return JS_ERR_STORE;
    }
    return JS_OK;
}

js_status js_kek_import_clear(js_worker *w, const char *label, uint8_t *key, size_t len, char err[JS_ERR_MAX])
{
    err[0] = '\0';
    if (!label_ok(label)) {
        lw_secure_wipe(key, len);
        js_errf(err, "label: 1 to %d printable characters without spaces", STORE_LABEL_MAX);
        return JS_ERR_ARGUMENT;
    }
    store_kek existing;
    if (store_kek_get(w->db, label, &existing) == STORE_OK) {
        lw_secure_wipe(key, len);
        js_errf(err, "KEK \"%s\" exists already", label);
        return JS_ERR_EXISTS;
    }
    uint8_t blob[HSM_BLOB_MAX];
    size_t blob_len = 0;
    hsm_status hs = hsm_import_clear(w->sess, key, len, blob, sizeof(blob), &blob_len);
    if (hs != HSM_OK) {
        js_errf(err, "key service: %s", hsm_strerror(hs));
        return JS_ERR_HSM;
    }
    js_status st = put_kek(w, label, blob, blob_len, err);
    LW_WIPE(blob);
    return st;
}

js_status js_kek_generate(js_worker *w, const char *label, char err[JS_ERR_MAX])
{
    err[0] = '\0';
    if (!label_ok(label)) {
        js_errf(err, "label: 1 to %d printable characters without spaces", STORE_LABEL_MAX);
        return JS_ERR_ARGUMENT;
    }
    lw_key k;
    memset(&k, 0, sizeof(k));
    hsm_status hs = hsm_key_generate(w->sess, HSM_KEY_KEK, &k);
    uint8_t blob[HSM_BLOB_MAX];
    size_t blob_len = 0;
    if (hs == HSM_OK)
        hs = hsm_key_wrap_blob(w->sess, &k, blob, sizeof(blob), &blob_len);
    hsm_key_release(w->sess, &k);
    if (hs != HSM_OK) {
        js_errf(err, "key service: %s", hsm_strerror(hs));
        return JS_ERR_HSM;
    }
    js_status st = put_kek(w, label, blob, blob_len, err);
    LW_WIPE(blob);
    return st;
}

/* One envelope into a master-key blob. */
static js_status translate_key(js_worker *w, bi_key_envelope *env, const char *field, bool allow_clear,
                               store_blob *out, bool *was_clear, char err[JS_ERR_MAX])
{
    hsm_status hs;
    size_t n = 0;
    if (env->clear) {
        *was_clear = true;
        if (!allow_clear) {
            js_errf(err, "%s: a clear key (no KEKLabel); pass --allow-clear-keys to accept it", field);
            return JS_ERR_CLEAR_KEY;
        }
        hs = hsm_import_clear(w->sess, env->aes_key, env->aes_key_len, out->data, sizeof(out->data), &n);
    } else {
        const lw_key *kek = NULL;
        js_status st = js_worker_kek(w, env->kek_label, &kek, err);
        if (st != JS_OK) {
            char inner[JS_ERR_MAX];
            snprintf(inner, sizeof(inner), "%s", err);
            js_errf(err, "%s: %s", field, inner);
            return st;
        }
        hs = hsm_import_wrapped(w->sess, kek, env->aes_key, env->aes_key_len, out->data, sizeof(out->data), &n);
        if (hs == HSM_ERR_WRAPPED_INVALID) {
            js_errf(err, "%s: does not unwrap under KEK \"%.64s\"", field, env->kek_label);
            return JS_ERR_KEK;
        }
    }
    if (hs != HSM_OK) {
        js_errf(err, "%s: key service: %s", field, hsm_strerror(hs));
        return JS_ERR_HSM;
    }
    out->len = n;
    return JS_OK;
}

js_status js_device_translate(js_worker *w, const char *line, size_t len, bool allow_clear, store_device *out,
                              bool *was_clear, char err[JS_ERR_MAX])
{
    err[0] = '\0';
    *was_clear = false;
    memset(out, 0, sizeof(*out));
    bi_device d;
    bi_error be;
    if (bi_device_parse(line, len, &d, &be) != BI_OK) {
        js_errf(err, "%s", be.description);
        return JS_ERR_INPUT;
    }
    js_status st = JS_OK;
    if (!js_serves_join_eui(w->ctx, d.join_eui)) {
        char list[JS_JOIN_EUIS_MAX * (JS_JOIN_EUI_TEXT_MAX + 2)];
        js_join_eui_list_text(w->ctx, list, sizeof list);
        js_errf(err, "JoinEUI: %016llX is not served by this Join Server (%.160s; `ferry joineui add`)",
                (unsigned long long)d.join_eui, list);
        st = JS_ERR_INPUT;
    } else if (d.allowed_net_ids_len > STORE_NET_IDS_MAX) {
        js_errf(err, "AllowedNetIDs: at most %d here", STORE_NET_IDS_MAX);
        st = JS_ERR_INPUT;
    } else if (strlen(d.ns_kek_label) > STORE_LABEL_MAX || strlen(d.as_kek_label) > STORE_LABEL_MAX ||
               strlen(d.as_id) > STORE_LABEL_MAX) {
        js_errf(err, "NSKEKLabel, ASKEKLabel and ASID: at most %d characters here", STORE_LABEL_MAX);
        st = JS_ERR_INPUT;
    }
    if (st == JS_OK) {
        out->dev_eui = d.dev_eui;
        out->join_eui = d.join_eui;
        out->mac_version = (store_mac_version)d.mac_version;
        out->home_net_id = d.home_net_id;
        out->allowed_net_id_count = d.allowed_net_ids_len;
        memcpy(out->allowed_net_ids, d.allowed_net_ids, d.allowed_net_ids_len * sizeof(uint32_t));
        js_copy(out->ns_kek_label, sizeof(out->ns_kek_label), d.ns_kek_label);
        js_copy(out->as_kek_label, sizeof(out->as_kek_label), d.as_kek_label);
        js_copy(out->as_id, sizeof(out->as_id), d.as_id);
        out->next_join_nonce = d.next_join_nonce;
        st = translate_key(w, &d.nwk_key, "NwkKey", allow_clear, &out->nwk_key, was_clear, err);
    }
    if (st == JS_OK && d.app_key.present)
        st = translate_key(w, &d.app_key, "AppKey", allow_clear, &out->app_key, was_clear, err);
    bi_device_wipe(&d);
    if (st != JS_OK)
        lw_secure_wipe(out, sizeof(*out));
    return st;
}

js_status js_device_json(const store_device *d, char *out, size_t cap, size_t *len)
{
    json_t *o = json_object();
    json_t *nets = json_array();
    char buf[32];
    int e = (o == NULL || nets == NULL);
    snprintf(buf, sizeof(buf), "%016llX", (unsigned long long)d->dev_eui);
    e |= json_object_set_new(o, "DevEUI", json_string(buf));
    snprintf(buf, sizeof(buf), "%016llX", (unsigned long long)d->join_eui);
    e |= json_object_set_new(o, "JoinEUI", json_string(buf));
    const char *mv = store_mac_version_name(d->mac_version);
    e |= json_object_set_new(o, "MACVersion", json_string(mv != NULL ? mv : "?"));
    snprintf(buf, sizeof(buf), "%06X", (unsigned)d->home_net_id);
    e |= json_object_set_new(o, "HomeNetID", json_string(buf));
    for (size_t i = 0; i < d->allowed_net_id_count && nets != NULL; i++) {
        snprintf(buf, sizeof(buf), "%06X", (unsigned)d->allowed_net_ids[i]);
        e |= json_array_append_new(nets, json_string(buf));
    }
    e |= json_object_set_new(o, "AllowedNetIDs", nets);
    e |= json_object_set_new(o, "NSKEKLabel", json_string(d->ns_kek_label));
    e |= json_object_set_new(o, "ASKEKLabel", json_string(d->as_kek_label));
    e |= json_object_set_new(o, "ASID", json_string(d->as_id));
    e |= json_object_set_new(o, "HasAppKey", json_boolean(d->app_key.len > 0));
    e |= json_object_set_new(o, "NextJoinNonce", json_integer((json_int_t)d->next_join_nonce));
    e |= json_object_set_new(o, "LastJoinNonce", json_integer((json_int_t)d->last_join_nonce));
    e |= json_object_set_new(o, "CreatedAt", json_integer((json_int_t)d->created_at));
    js_status st = JS_OK;
    if (e != 0) {
        st = JS_ERR_NOMEM;
    } else {
        size_t n = json_dumpb(o, out, cap, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (n == 0 || n >= cap)
            st = JS_ERR_ARGUMENT;
        else {
            out[n] = '\0';
            *len = n;
        }
    }
    json_decref(o);
    return st;
}

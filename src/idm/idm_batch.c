/*
 * idm_batch.c - one line of the HSA's batch file, out and in (docs/hsa.md).
 *
 * Written with snprintf (the HSA writes a million of these; the layout is
 * fixed), read with jansson (the IDM must accept any valid JSON spelling and
 * refuse anything else with the field named). Key bytes are decoded from hex
 * in constant time. Fields the IDM does not know are ignored, so that a newer
 * HSA can add some; QR is read only for its ProfileID and checked against
 * the line's own fields.
 */
#include "idm/idm.h"
#include "lorawan/lw_secure.h"
#include "mls/mls.h"
#include "se/se_state.h"

#include <jansson.h>
#include <stdarg.h>
#include <string.h>

static void errf(char err[IDM_ERR_MAX], const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void errf(char err[IDM_ERR_MAX], const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, IDM_ERR_MAX, fmt, ap);
    va_end(ap);
}

idm_status idm_mac_version_se_code(store_mac_version v, uint8_t *code)
{
    switch (v) {
    case STORE_MAC_1_0_2: *code = SE_MAC_1_0_2; return IDM_OK;
    case STORE_MAC_1_0_3: *code = SE_MAC_1_0_3; return IDM_OK;
    case STORE_MAC_1_0_4: *code = SE_MAC_1_0_4; return IDM_OK;
    case STORE_MAC_1_1: *code = SE_MAC_1_1; return IDM_OK;
    default: return IDM_ERR_ARGUMENT;
    }
}

static void hex_upper(const uint8_t *b, size_t n, char *out)
{
    static const char HEX[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = HEX[b[i] >> 4];
        out[2 * i + 1] = HEX[b[i] & 15];
    }
    out[2 * n] = '\0';
}

void idm_qr_payload(const idm_batch_line *l, char out[IDM_QR_MAX])
{
    char token[2 * IDM_OWNER_TOKEN_LEN + 1];
    hex_upper(l->owner_token, IDM_OWNER_TOKEN_LEN, token);
    snprintf(out, IDM_QR_MAX, "LW:D0:%016llX:%016llX:%08X:O%s", (unsigned long long)l->join_eui,
             (unsigned long long)l->dev_eui, (unsigned)l->profile_id, token);
    lw_secure_wipe(token, sizeof token);
}

static int key_json(char *out, size_t cap, const char *name, const idm_batch_key *k)
{
    char hex[2 * HSM_BLOB_LEN + 1];
    hex_upper(k->wrapped, HSM_BLOB_LEN, hex);
    return snprintf(out, cap, "\"%s\":{\"KEKLabel\":\"%s\",\"AESKey\":\"%s\"}", name, k->kek_label, hex);
}

static bool label_ok(const char *label)
{
    size_t n = strnlen(label, STORE_LABEL_MAX + 1);
    if (n == 0 || n > STORE_LABEL_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (label[i] <= 0x20 || label[i] > 0x7e || label[i] == '"' || label[i] == '\\')
            return false;
    return true;
}

idm_status idm_batch_line_format(const idm_batch_line *l, char *out, size_t cap, size_t *len)
{
    if (l == NULL || out == NULL || len == NULL || !label_ok(l->nwk_key.kek_label) ||
        !label_ok(l->app_key.kek_label) || !label_ok(l->mls_key.kek_label) ||
        (unsigned)l->mac_version >= STORE_MAC_COUNT)
        return IDM_ERR_ARGUMENT;
    char token[2 * IDM_OWNER_TOKEN_LEN + 1], qr[IDM_QR_MAX];
    hex_upper(l->owner_token, IDM_OWNER_TOKEN_LEN, token);
    idm_qr_payload(l, qr);
    size_t at = 0;
    int n = snprintf(out, cap,
                     "{\"DevEUI\":\"%016llX\",\"JoinEUI\":\"%016llX\",\"SerialNumber\":\"%016llX\","
                     "\"MACVersion\":\"%s\",",
                     (unsigned long long)l->dev_eui, (unsigned long long)l->join_eui,
                     (unsigned long long)l->serial, store_mac_version_name(l->mac_version));
    const idm_batch_key *keys[3] = {&l->nwk_key, &l->app_key, &l->mls_key};
    static const char *const names[3] = {"NwkKey", "AppKey", "MLSKey"};
    for (int i = 0; i < 3 && n >= 0 && (size_t)n < cap - at; i++) {
        at += (size_t)n;
        n = key_json(out + at, cap - at, names[i], keys[i]);
        if (n >= 0 && (size_t)n < cap - at) {
            at += (size_t)n;
            n = snprintf(out + at, cap - at, ",");
        }
    }
    if (n >= 0 && (size_t)n < cap - at && l->mls_msg_max != 0) {
        at += (size_t)n;
        n = snprintf(out + at, cap - at, "\"MLSMessageMax\":%u,", (unsigned)l->mls_msg_max);
    }
    if (n >= 0 && (size_t)n < cap - at) {
        at += (size_t)n;
        n = snprintf(out + at, cap - at, "\"OwnerToken\":\"%s\",\"QR\":\"%s\"}\n", token, qr);
    }
    lw_secure_wipe(token, sizeof token);
    lw_secure_wipe(qr, sizeof qr);
    if (n < 0 || (size_t)n >= cap - at) {
        lw_secure_wipe(out, cap);
        return IDM_ERR_ARGUMENT;
    }
    *len = at + (size_t)n;
    return IDM_OK;
}

/* ---------------------------------------------------------------- parsing */

static bool hex_u64(const char *text, unsigned digits, uint64_t *out)
{
    if (strlen(text) != digits)
        return false;
    uint64_t v = 0;
    for (unsigned i = 0; i < digits; i++) {
        char c = text[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10
              : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0)
            return false;
        v = (v << 4) | (uint64_t)d;
    }
    *out = v;
    return true;
}

static const char *string_field(json_t *o, const char *name)
{
    json_t *v = json_object_get(o, name);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static idm_status eui_field(json_t *o, const char *name, uint64_t *out, char err[IDM_ERR_MAX])
{
    const char *t = string_field(o, name);
    if (t == NULL || !hex_u64(t, 16, out)) {
        errf(err, "%s: expected 16 hex digits", name);
        return IDM_ERR_INPUT;
    }
    return IDM_OK;
}

static idm_status key_field(json_t *o, const char *name, idm_batch_key *k, char err[IDM_ERR_MAX])
{
    json_t *env = json_object_get(o, name);
    const char *label = json_is_object(env) ? string_field(env, "KEKLabel") : NULL;
    const char *hex = json_is_object(env) ? string_field(env, "AESKey") : NULL;
    if (label == NULL || hex == NULL) {
        errf(err, "%s: expected a KeyEnvelope {\"KEKLabel\": ..., \"AESKey\": ...}", name);
        return IDM_ERR_INPUT;
    }
    if (!label_ok(label)) {
        /* an empty label would mean a key in clear: never accepted here */
        errf(err, "%s.KEKLabel: 1 to %d printable characters (a clear key is never accepted)", name,
             STORE_LABEL_MAX);
        return IDM_ERR_INPUT;
    }
    if (strlen(hex) != 2 * HSM_BLOB_LEN || lw_hex_decode(hex, strlen(hex), k->wrapped, HSM_BLOB_LEN) != LW_OK) {
        errf(err, "%s.AESKey: expected %d hex digits (an RFC 3394 wrap of a 16-byte key)", name, 2 * HSM_BLOB_LEN);
        return IDM_ERR_INPUT;
    }
    memcpy(k->kek_label, label, strlen(label) + 1);
    return IDM_OK;
}

static idm_status parse_object(json_t *o, idm_batch_line *l, char err[IDM_ERR_MAX])
{
    idm_status st;
    if ((st = eui_field(o, "DevEUI", &l->dev_eui, err)) != IDM_OK ||
        (st = eui_field(o, "JoinEUI", &l->join_eui, err)) != IDM_OK ||
        (st = eui_field(o, "SerialNumber", &l->serial, err)) != IDM_OK)
        return st;
    const char *mac = string_field(o, "MACVersion");
    uint8_t code;
    if (mac == NULL || store_mac_version_parse(mac, &l->mac_version) != STORE_OK ||
        idm_mac_version_se_code(l->mac_version, &code) != IDM_OK) {
        errf(err, "MACVersion: expected \"1.0.2\", \"1.0.3\", \"1.0.4\" or \"1.1\"");
        return IDM_ERR_INPUT;
    }
    if ((st = key_field(o, "NwkKey", &l->nwk_key, err)) != IDM_OK ||
        (st = key_field(o, "AppKey", &l->app_key, err)) != IDM_OK ||
        (st = key_field(o, "MLSKey", &l->mls_key, err)) != IDM_OK)
        return st;
    json_t *mm = json_object_get(o, "MLSMessageMax");
    if (mm != NULL) {
        json_int_t v = json_is_integer(mm) ? json_integer_value(mm) : -1;
        if (v < MLS_MSG_MIN || v > 1024) {
            errf(err, "MLSMessageMax: an integer from %d to 1024 (the element's largest sealed MLS message)",
                 MLS_MSG_MIN);
            return IDM_ERR_INPUT;
        }
        l->mls_msg_max = (uint16_t)v;
    }
    const char *token = string_field(o, "OwnerToken");
    if (token == NULL || strlen(token) != 2 * IDM_OWNER_TOKEN_LEN ||
        lw_hex_decode(token, strlen(token), l->owner_token, IDM_OWNER_TOKEN_LEN) != LW_OK) {
        errf(err, "OwnerToken: expected %d hex digits", 2 * IDM_OWNER_TOKEN_LEN);
        return IDM_ERR_INPUT;
    }
    /* The QR must say what the line says: a label printed from a mangled
     * line would claim the wrong device. */
    const char *qr = string_field(o, "QR");
    if (qr != NULL) {
        /* LW:D0: (6) JoinEUI (16) : DevEUI (16) : ProfileID at 40..47 */
        uint64_t pid = 0;
        char pid_hex[9] = {0};
        if (strlen(qr) >= 48)
            memcpy(pid_hex, qr + 40, 8);
        if (strlen(qr) < 50 || !hex_u64(pid_hex, 8, &pid)) {
            errf(err, "QR: expected LW:D0:<JoinEUI>:<DevEUI>:<ProfileID>:O<OwnerToken>");
            return IDM_ERR_INPUT;
        }
        l->profile_id = (uint32_t)pid;
        char want[IDM_QR_MAX];
        idm_qr_payload(l, want);
        bool same = strlen(qr) == strlen(want) && lw_secure_equal(qr, want, strlen(want));
        lw_secure_wipe(want, sizeof want);
        if (!same) {
            errf(err, "QR: does not match the line's JoinEUI, DevEUI and OwnerToken");
            return IDM_ERR_INPUT;
        }
    }
    return IDM_OK;
}

idm_status idm_batch_line_parse(const char *text, size_t len, idm_batch_line *out, char err[IDM_ERR_MAX])
{
    err[0] = '\0';
    if (text == NULL || out == NULL)
        return IDM_ERR_ARGUMENT;
    memset(out, 0, sizeof *out);
    json_error_t jerr;
    json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (o == NULL || !json_is_object(o)) {
        errf(err, "not a JSON object%s%s", o == NULL ? ": " : "", o == NULL ? jerr.text : "");
        json_decref(o);
        return IDM_ERR_INPUT;
    }
    idm_status st = parse_object(o, out, err);
    /* Overwrite the token's text inside the document before it is freed. */
    json_t *tok = json_object_get(o, "OwnerToken");
    if (json_is_string(tok))
        lw_secure_wipe((char *)json_string_value(tok), json_string_length(tok));
    json_t *qr = json_object_get(o, "QR");
    if (json_is_string(qr))
        lw_secure_wipe((char *)json_string_value(qr), json_string_length(qr));
    json_decref(o);
    if (st != IDM_OK)
        lw_secure_wipe(out, sizeof *out);
    return st;
}

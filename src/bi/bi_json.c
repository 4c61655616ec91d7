/*
 * bi_json.c - the field readers and writers every BI parser and builder
 * shares, and the guarded entry to jansson.
 *
 * Why a pre-scan before json_loadb(): jansson's parser recurses once per
 * nesting level and its own limit (JSON_PARSER_MAX_DEPTH) is 2048, far more
 * than a BI message needs, and json_decref() recurses the same way. A
 * one-pass byte scan that counts brackets outside strings
 * (net_json_too_deep_at) bounds both at BI_JSON_MAX_DEPTH before jansson
 * sees the text.
 *
 * Why a second parse on numeric overflow: jansson refuses an integer that
 * does not fit a long long, which would make `"TransactionID":
 * 99999999999999999999` look like "not JSON". Parsing again with
 * JSON_DECODE_INT_AS_REAL lets the field reader name the field that is out
 * of range, as a MalformedRequest answer should.
 */
#include "bi/bi_json.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lorawan/lw_secure.h"
#include "net/net_json.h"

bi_status bi_fail(bi_error *err, bi_status st, const char *field, const char *fmt, ...)
{
    if (err == NULL)
        return st;
    char reason[200]; /* + field (47) + ": " fits the description */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    err->status = st;
    snprintf(err->field, sizeof(err->field), "%s", field ? field : "");
    if (err->field[0] != '\0')
        snprintf(err->description, sizeof(err->description), "%s: %s", err->field, reason);
    else
        snprintf(err->description, sizeof(err->description), "%s", reason);
    return st;
}

bi_status bi_json_load(const void *body, size_t len, json_t **root, bi_error *err)
{
    *root = NULL;
    if (body == NULL && len != 0)
        return bi_fail(err, BI_ERR_ARGUMENT, "", "no body");
    if (len > BI_BODY_MAX)
        return bi_fail(err, BI_ERR_TOO_LARGE, "", "body of %zu bytes is larger than %u", len, BI_BODY_MAX);
    if (len > 0 && net_json_too_deep_at(body, len, BI_JSON_MAX_DEPTH) < len)
        return bi_fail(err, BI_ERR_TOO_DEEP, "", "JSON nested deeper than %d levels", BI_JSON_MAX_DEPTH);

    /* jansson's words for it ("unable to decode byte 0xff") do not say where */
    size_t bad = net_utf8_invalid_at(body, len);
    if (bad < len)
        return bi_fail(err, BI_ERR_NOT_JSON, "", "not JSON: invalid UTF-8 at byte %zu", bad);

    const size_t flags = JSON_REJECT_DUPLICATES | JSON_DECODE_ANY;
    json_error_t jerr;
    json_t *doc = json_loadb(body, len, flags, &jerr);
    if (doc == NULL && json_error_code(&jerr) == json_error_numeric_overflow)
        doc = json_loadb(body, len, flags | JSON_DECODE_INT_AS_REAL, &jerr);
    if (doc == NULL) {
        if (json_error_code(&jerr) == json_error_out_of_memory)
            return bi_fail(err, BI_ERR_NOMEM, "", "out of memory while parsing");
        return bi_fail(err, BI_ERR_NOT_JSON, "", "not JSON: %s at byte %d", jerr.text, jerr.position);
    }
    if (!json_is_object(doc)) {
        json_decref(doc);
        return bi_fail(err, BI_ERR_NOT_OBJECT, "", "JSON body is not an object");
    }
    *root = doc;
    return BI_OK;
}

void bi_printable(char *out, size_t cap, const char *s, size_t len)
{
    if (cap == 0)
        return;
    size_t n = 0;
    for (size_t i = 0; i < len && n + 1 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        out[n++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    out[n] = '\0';
    if (n < len && cap >= 4)
        memcpy(out + cap - 4, "...", 4);
}

json_t *bi_json_get(const json_t *obj, const char *name)
{
    json_t *v = json_object_get(obj, name);
    return json_is_null(v) ? NULL : v;
}

bi_status bi_json_string(const json_t *obj, const char *field, bool required, const char **s, size_t *len,
                         bi_error *err)
{
    *s = NULL;
    *len = 0;
    json_t *v = bi_json_get(obj, field);
    if (v == NULL)
        return required ? bi_fail(err, BI_ERR_MISSING, field, "required field is missing") : BI_OK;
    if (!json_is_string(v))
        return bi_fail(err, BI_ERR_TYPE, field, "must be a string");
    *s = json_string_value(v);
    *len = json_string_length(v);
    return BI_OK;
}

bi_status bi_hex_text(const char *s, size_t len, uint8_t *out, size_t min, size_t max, size_t *out_len,
                      const char *field, bi_error *err)
{
    *out_len = 0;
    if (len >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        s += 2;
        len -= 2;
    }
    if (len % 2 != 0)
        return bi_fail(err, BI_ERR_HEX, field, "odd number of hex digits (%zu)", len);
    size_t n = len / 2;
    if (n < min || n > max) {
        if (min == max)
            return bi_fail(err, BI_ERR_HEX, field, "%zu bytes, expected %zu", n, min);
        return bi_fail(err, BI_ERR_HEX, field, "%zu bytes, expected %zu to %zu", n, min, max);
    }
    if (lw_hex_decode(s, len, out, n) != LW_OK)
        return bi_fail(err, BI_ERR_HEX, field, "not hexadecimal");
    *out_len = n;
    return BI_OK;
}

bi_status bi_json_hex(const json_t *obj, const char *field, bool required, uint8_t *out, size_t min, size_t max,
                      size_t *out_len, bi_error *err)
{
    const char *s;
    size_t len;
    *out_len = 0;
    bi_status st = bi_json_string(obj, field, required, &s, &len, err);
    if (st != BI_OK || s == NULL)
        return st;
    if (len == 0 && !required)
        return BI_OK;
    return bi_hex_text(s, len, out, min, max, out_len, field, err);
}

bi_status bi_hex_be(const char *s, size_t len, unsigned bytes, uint64_t *v, const char *field, bi_error *err)
{
    uint8_t buf[8];
    size_t n;
    *v = 0;
    if (bytes == 0 || bytes > sizeof(buf))
        return bi_fail(err, BI_ERR_ARGUMENT, field, "internal: bad width");
    /* say "N hex digits" rather than "N bytes": that is what people type */
    size_t digits = len;
    if (digits >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
        digits -= 2;
    if (digits != 2u * bytes)
        return bi_fail(err, BI_ERR_HEX, field, "%zu hex digits, expected %u", digits, 2u * bytes);
    bi_status st = bi_hex_text(s, len, buf, bytes, bytes, &n, field, err);
    if (st != BI_OK)
        return st;
    for (size_t i = 0; i < n; i++)
        *v = (*v << 8) | buf[i];
    return BI_OK;
}

bi_status bi_json_be(const json_t *obj, const char *field, bool required, unsigned bytes, uint64_t *v,
                     bool *present, bi_error *err)
{
    const char *s;
    size_t len;
    *v = 0;
    if (present)
        *present = false;
    bi_status st = bi_json_string(obj, field, required, &s, &len, err);
    if (st != BI_OK || s == NULL)
        return st;
    st = bi_hex_be(s, len, bytes, v, field, err);
    if (st == BI_OK && present)
        *present = true;
    return st;
}

bi_status bi_json_uint(const json_t *obj, const char *field, bool required, uint64_t max, uint64_t *v,
                       bool *present, bi_error *err)
{
    *v = 0;
    if (present)
        *present = false;
    json_t *j = bi_json_get(obj, field);
    if (j == NULL)
        return required ? bi_fail(err, BI_ERR_MISSING, field, "required field is missing") : BI_OK;
    if (json_is_integer(j)) {
        json_int_t i = json_integer_value(j);
        if (i < 0 || (uint64_t)i > max)
            return bi_fail(err, BI_ERR_RANGE, field, "%lld is out of range 0..%llu", (long long)i,
                           (unsigned long long)max);
        *v = (uint64_t)i;
    } else if (json_is_real(j)) {
        double d = json_real_value(j);
        /* the comparisons are false for NaN, which jansson never yields anyway */
        if (!(d >= 0.0 && d <= (double)max))
            return bi_fail(err, BI_ERR_RANGE, field, "out of range 0..%llu", (unsigned long long)max);
        uint64_t u = (uint64_t)d;
        if ((double)u != d)
            return bi_fail(err, BI_ERR_TYPE, field, "must be an integer");
        *v = u;
    } else {
        return bi_fail(err, BI_ERR_TYPE, field, "must be a number");
    }
    if (present)
        *present = true;
    return BI_OK;
}

/* A label-like string value `v` (may be NULL: absent), reported as `name`. */
static bi_status label_value(const json_t *v, const char *name, bool required, char *out, size_t max,
                             bi_error *err)
{
    out[0] = '\0';
    if (v == NULL)
        return required ? bi_fail(err, BI_ERR_MISSING, name, "required field is missing") : BI_OK;
    if (!json_is_string(v))
        return bi_fail(err, BI_ERR_TYPE, name, "must be a string");
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    if (len == 0)
        return required ? bi_fail(err, BI_ERR_VALUE, name, "must not be empty") : BI_OK;
    if (len > max)
        return bi_fail(err, BI_ERR_VALUE, name, "%zu characters, at most %zu", len, max);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return bi_fail(err, BI_ERR_VALUE, name, "contains a control character");
    memcpy(out, s, len);
    out[len] = '\0';
    return BI_OK;
}

bi_status bi_json_label(const json_t *obj, const char *field, bool required, char *out, size_t max,
                        bi_error *err)
{
    return label_value(bi_json_get(obj, field), field, required, out, max, err);
}

static bi_status key_envelope(json_t *obj, const char *field, bool required, bi_key_envelope *env, bi_error *err);

bi_status bi_json_key_envelope(json_t *obj, const char *field, bool required, bi_key_envelope *env,
                               bi_error *err)
{
    bi_status st = key_envelope(obj, field, required, env, err);
    /* the AESKey text may be a clear key: overwrite it inside the document,
     * which the caller owns, on every path (see bi_key_envelope.h) */
    json_t *k = json_object_get(json_object_get(obj, field), "AESKey");
    if (json_is_string(k))
        lw_secure_wipe((char *)json_string_value(k), json_string_length(k));
    if (st != BI_OK)
        bi_key_envelope_wipe(env);
    return st;
}

static bi_status key_envelope(json_t *obj, const char *field, bool required, bi_key_envelope *env, bi_error *err)
{
    char name[48];
    memset(env, 0, sizeof(*env));
    json_t *j = bi_json_get(obj, field);
    if (j == NULL)
        return required ? bi_fail(err, BI_ERR_MISSING, field, "required KeyEnvelope is missing") : BI_OK;
    if (!json_is_object(j))
        return bi_fail(err, BI_ERR_TYPE, field, "KeyEnvelope must be an object");

    snprintf(name, sizeof(name), "%s%sKEKLabel", field, field[0] ? "." : "");
    bi_status st = label_value(bi_json_get(j, "KEKLabel"), name, false, env->kek_label, BI_KEK_LABEL_MAX, err);
    if (st != BI_OK)
        return st;
    env->clear = env->kek_label[0] == '\0';

    snprintf(name, sizeof(name), "%s%sAESKey", field, field[0] ? "." : "");
    json_t *k = bi_json_get(j, "AESKey");
    if (k == NULL)
        return bi_fail(err, BI_ERR_MISSING, name, "required field is missing");
    if (!json_is_string(k))
        return bi_fail(err, BI_ERR_TYPE, name, "must be a string");
    size_t want = env->clear ? BI_AES_KEY_LEN : BI_WRAPPED_KEY_LEN;
    const char *text = json_string_value(k);
    size_t len = json_string_length(k);
    size_t digits = len >= 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X') ? len - 2 : len;
    if (digits != 2 * want)
        st = env->clear ? bi_fail(err, BI_ERR_HEX, name, "%zu hex digits; a clear key (no KEKLabel) has %zu", digits,
                                  2 * want)
                        : bi_fail(err, BI_ERR_HEX, name, "%zu hex digits; a wrapped key has %zu", digits, 2 * want);
    else
        st = bi_hex_text(text, len, env->aes_key, want, want, &env->aes_key_len, name, err);
    if (st != BI_OK)
        return st;
    env->present = true;
    return BI_OK;
}

/* ---- writers ------------------------------------------------------------ */

static bi_status put(json_t *obj, const char *key, json_t *v)
{
    if (v == NULL)
        return BI_ERR_NOMEM;
    return json_object_set_new(obj, key, v) == 0 ? BI_OK : BI_ERR_NOMEM;
}

bi_status bi_put_hex(json_t *obj, const char *key, const uint8_t *b, size_t n)
{
    static const char digits[] = "0123456789ABCDEF";
    char buf[2 * 256 + 1];
    if (n > 256)
        return BI_ERR_ARGUMENT;
    for (size_t i = 0; i < n; i++) {
        buf[2 * i] = digits[b[i] >> 4];
        buf[2 * i + 1] = digits[b[i] & 0x0f];
    }
    buf[2 * n] = '\0';
    return put(obj, key, json_stringn(buf, 2 * n));
}

bi_status bi_put_be(json_t *obj, const char *key, uint64_t v, unsigned bytes)
{
    uint8_t b[8];
    if (bytes == 0 || bytes > 8)
        return BI_ERR_ARGUMENT;
    for (unsigned i = 0; i < bytes; i++)
        b[bytes - 1 - i] = (uint8_t)(v >> (8 * i));
    return bi_put_hex(obj, key, b, bytes);
}

bi_status bi_put_str(json_t *obj, const char *key, const char *s)
{
    return put(obj, key, json_string(s));
}

bi_status bi_put_uint(json_t *obj, const char *key, uint64_t v)
{
    if (v > (uint64_t)INT64_MAX)
        return BI_ERR_ARGUMENT;
    return put(obj, key, json_integer((json_int_t)v));
}

static bi_status put_id(json_t *obj, const char *key, const bi_id *id)
{
    switch (id->kind) {
    case BI_ID_NET_ID: return bi_put_be(obj, key, id->value, 3);
    case BI_ID_EUI:    return bi_put_be(obj, key, id->value, 8);
    case BI_ID_NAME:   return id->raw[0] ? bi_put_str(obj, key, id->raw) : BI_ERR_ARGUMENT;
    }
    return BI_ERR_ARGUMENT;
}

bi_status bi_put_header(json_t *obj, const bi_header *h)
{
    const char *type = bi_message_type_name(h->message_type);
    if (type == NULL || (h->version != BI_VERSION_1_0 && h->version != BI_VERSION_1_1))
        return BI_ERR_ARGUMENT;
    if (h->version == BI_VERSION_1_0 && (h->has_sender_nsid || h->has_receiver_nsid))
        return BI_ERR_ARGUMENT;
    if (h->sender_token.len > BI_TOKEN_MAX || h->receiver_token.len > BI_TOKEN_MAX)
        return BI_ERR_ARGUMENT;
    bi_status st = BI_OK;
    /* field order as TS002 lists them; jansson keeps insertion order */
    if (st == BI_OK) st = bi_put_str(obj, "ProtocolVersion", bi_version_name(h->version));
    if (st == BI_OK) st = put_id(obj, "SenderID", &h->sender_id);
    if (st == BI_OK) st = put_id(obj, "ReceiverID", &h->receiver_id);
    if (st == BI_OK) st = bi_put_uint(obj, "TransactionID", h->transaction_id);
    if (st == BI_OK) st = bi_put_str(obj, "MessageType", type);
    if (st == BI_OK && h->sender_token.len)
        st = bi_put_hex(obj, "SenderToken", h->sender_token.bytes, h->sender_token.len);
    if (st == BI_OK && h->receiver_token.len)
        st = bi_put_hex(obj, "ReceiverToken", h->receiver_token.bytes, h->receiver_token.len);
    if (st == BI_OK && h->has_sender_nsid)
        st = bi_put_be(obj, "SenderNSID", h->sender_nsid, 8);
    if (st == BI_OK && h->has_receiver_nsid)
        st = bi_put_be(obj, "ReceiverNSID", h->receiver_nsid, 8);
    return st;
}

bi_status bi_put_key_envelope(json_t *obj, const char *key, const bi_key_envelope *env)
{
    if (!env->present)
        return BI_OK;
    if (env->clear || env->kek_label[0] == '\0')
        return BI_ERR_CLEAR_KEY;
    if (env->aes_key_len != BI_WRAPPED_KEY_LEN || strlen(env->kek_label) > BI_KEK_LABEL_MAX)
        return BI_ERR_ARGUMENT;
    json_t *e = json_object();
    if (e == NULL)
        return BI_ERR_NOMEM;
    bi_status st = bi_put_str(e, "KEKLabel", env->kek_label);
    if (st == BI_OK)
        st = bi_put_hex(e, "AESKey", env->aes_key, env->aes_key_len);
    if (st != BI_OK) {
        json_decref(e);
        return st;
    }
    return put(obj, key, e);
}

bi_status bi_put_result(json_t *obj, const bi_result *r, bi_version v)
{
    const char *name = bi_result_code_name(r->code, v);
    if (name == NULL)
        return BI_ERR_ARGUMENT;
    json_t *res = json_object();
    if (res == NULL)
        return BI_ERR_NOMEM;
    bi_status st = bi_put_str(res, "ResultCode", name);
    if (st == BI_OK && r->description[0] != '\0') {
        /* the caller's text may be anything: if jansson refuses it as
         * UTF-8, send it as printable ASCII rather than fail the answer */
        size_t n = strnlen(r->description, BI_DESCRIPTION_MAX);
        json_t *d = json_stringn(r->description, n);
        if (d == NULL) {
            char ascii[BI_DESCRIPTION_MAX + 1];
            bi_printable(ascii, sizeof(ascii), r->description, n);
            d = json_string(ascii);
        }
        st = d ? put(res, "Description", d) : BI_ERR_ARGUMENT;
    }
    if (st != BI_OK) {
        json_decref(res);
        return st;
    }
    return put(obj, "Result", res);
}

bi_status bi_json_dump(json_t *root, char *out, size_t cap, size_t *out_len)
{
    if (root == NULL)
        return BI_ERR_NOMEM;
    /* reals (roaming frequencies in MHz) with 15 significant digits: 868.1
     * is written "868.1", not jansson's default 868.10000000000002 */
    const size_t flags = JSON_COMPACT | JSON_REAL_PRECISION(15);
    size_t n = json_dumpb(root, NULL, 0, flags);
    bi_status st = BI_OK;
    if (n == 0)
        st = BI_ERR_NOMEM;
    else if (n + 1 > cap)
        st = BI_ERR_BUFFER;
    else if (json_dumpb(root, out, cap, flags) != n)
        st = BI_ERR_NOMEM;
    json_decref(root);
    if (st != BI_OK)
        return st;
    out[n] = '\0';
    *out_len = n;
    return BI_OK;
}

/*
 * lab_as_msg.c - the lab AS's messages (lab_as.h): the NS's uplink body in,
 * the relay request to the Identity Manager out, its answer in, the
 * `Downlinks` answer to the NS out; and the two crypto steps between them
 * (AppSKey unwrap, FRMPayload encryption), over the software backend.
 *
 * Everything here is pure: bytes in, bytes out, no state, so the unit tests
 * drive each step alone. Parsing follows the Backend Interfaces' rules
 * (docs/ns-as.md): hex in either case with an optional 0x, null is absent,
 * unknown fields ignored, duplicate keys refused (jansson's
 * JSON_REJECT_DUPLICATES), every number range-checked.
 */
#include "lab/lab_as.h"
#include "lab/lab_bi.h"
#include "net/net_json.h"
#include "lorawan/lorawan.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

static void upper(char *s)
{
    for (; *s; s++)
        *s = (char)toupper((unsigned char)*s);
}

static json_t *get(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_null(v) ? NULL : v;
}

static bool get_uint(json_t *o, const char *k, json_int_t max, bool required, uint64_t *out, bool *present)
{
    json_t *v = get(o, k);
    if (present != NULL)
        *present = v != NULL;
    if (v == NULL)
        return !required;
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > max)
        return false;
    *out = (uint64_t)json_integer_value(v);
    return true;
}

static bool get_hex_uint(json_t *o, const char *k, unsigned digits, uint64_t *out)
{
    json_t *v = get(o, k);
    return json_is_string(v) && lab_hex_uint(json_string_value(v), json_string_length(v), digits, out) == LAB_OK;
}

/* Hex of 0..max bytes ("" is zero bytes). */
static bool get_hex_bytes(json_t *v, uint8_t *out, size_t max, size_t *len)
{
    if (!json_is_string(v))
        return false;
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    *len = 0;
    if (n == 0 || (n == 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')))
        return true;
    return lab_hex_parse(s, n, out, 0, max, len) == LAB_OK;
}

static bool get_envelope(json_t *o, bi_key_envelope *env)
{
    memset(env, 0, sizeof(*env));
    json_t *e = get(o, "AppSKey");
    if (e == NULL)
        return true;
    json_t *label = get(e, "KEKLabel");
    json_t *key = get(e, "AESKey");
    if (!json_is_object(e) || !json_is_string(label) || json_string_length(label) == 0 ||
        json_string_length(label) > BI_KEK_LABEL_MAX || strlen(json_string_value(label)) != json_string_length(label) ||
        !json_is_string(key))
        return false; /* a clear envelope (no KEKLabel) is refused: the AppSKey never travels in clear */
    size_t n = 0;
    if (lab_hex_parse(json_string_value(key), json_string_length(key), env->aes_key, BI_WRAPPED_KEY_LEN, 0, &n) !=
        LAB_OK)
        return false;
    env->present = true;
    env->aes_key_len = BI_WRAPPED_KEY_LEN;
    memcpy(env->kek_label, json_string_value(label), json_string_length(label) + 1);
    return true;
}

static lab_status bad(char *what, size_t cap, const char *field)
{
    snprintf(what, cap, "%s", field);
    return LAB_ERR_FORMAT;
}

static lab_status parse_fields(json_t *o, lab_as_uplink *up, char *what, size_t cap)
{
    uint64_t u = 0;
    bool present = false;
    if (!json_is_object(o))
        return bad(what, cap, "body (a JSON object)");
    if (!get_hex_uint(o, "DevEUI", 16, &up->dev_eui))
        return bad(what, cap, "DevEUI");
    if (!get_hex_uint(o, "DevAddr", 8, &u))
        return bad(what, cap, "DevAddr");
    up->dev_addr = (uint32_t)u;
    if (!get_uint(o, "FCnt", UINT32_MAX, true, &u, NULL))
        return bad(what, cap, "FCnt");
    up->fcnt = (uint32_t)u;
    if (!get_uint(o, "FPort", 223, true, &u, NULL) || u == 0)
        return bad(what, cap, "FPort");
    up->fport = (uint8_t)u;
    if (!get_hex_bytes(get(o, "FRMPayload"), up->frm_payload, LAB_AS_PAYLOAD_MAX, &up->frm_len))
        return bad(what, cap, "FRMPayload");
    if (!get_envelope(o, &up->app_s_key))
        return bad(what, cap, "AppSKey");
    json_t *conf = get(o, "Confirmed");
    if (conf != NULL && !json_is_boolean(conf))
        return bad(what, cap, "Confirmed");
    up->confirmed = json_is_true(conf);
    u = 0;
    if (!get_uint(o, "DR", 15, false, &u, NULL))
        return bad(what, cap, "DR");
    up->dr = (unsigned)u;
    u = 0;
    if (!get_uint(o, "MaxDownlinkPayload", LAB_AS_PAYLOAD_MAX, false, &u, NULL))
        return bad(what, cap, "MaxDownlinkPayload");
    up->max_downlink = (unsigned)u;
    u = 0;
    if (!get_uint(o, "NextAFCntDown", UINT32_MAX, false, &u, &present))
        return bad(what, cap, "NextAFCntDown");
    up->next_afcnt_down = (uint32_t)u;
    up->has_next_afcnt_down = present;
    json_t *t = get(o, "RecvTime");
    if (t != NULL) {
        const char *s = json_string_value(t);
        bool ok = s != NULL && json_string_length(t) < sizeof(up->recv_time);
        for (size_t i = 0; ok && s[i]; i++)
            ok = isalnum((unsigned char)s[i]) || strchr(":.-+", s[i]) != NULL;
        if (!ok)
            return bad(what, cap, "RecvTime");
        memcpy(up->recv_time, s, json_string_length(t) + 1);
    }
    return LAB_OK;
}

lab_status lab_as_uplink_parse(const char *body, size_t len, lab_as_uplink *up, char *what, size_t cap)
{
    if (body == NULL || up == NULL || what == NULL || cap == 0)
        return LAB_ERR_ARGUMENT;
    memset(up, 0, sizeof(*up));
    what[0] = 0;
    json_t *o = NULL;
    char why[NET_ERR_MAX];
    lab_status st = net_json_parse(body, len, 0, &o, why) != NET_OK ? bad(what, cap, why) : parse_fields(o, up, what, cap);
    json_decref(o);
    if (st != LAB_OK)
        memset(up, 0, sizeof(*up));
    return st;
}

lab_status lab_as_app_s_key(const lab_as_config *cfg, const lab_as_uplink *up, lw_key *app_s_key)
{
    if (cfg == NULL || up == NULL || app_s_key == NULL)
        return LAB_ERR_ARGUMENT;
    memset(app_s_key, 0, sizeof(*app_s_key));
    if (!up->app_s_key.present || strcmp(up->app_s_key.kek_label, cfg->kek_label) != 0)
        return LAB_ERR_UNKNOWN;
    if (lw_key_unwrap(lw_crypto_software(), &cfg->kek, up->app_s_key.aes_key, up->app_s_key.aes_key_len,
                      app_s_key) != LW_OK || app_s_key->length != LW_KEY_LEN) {
        lw_key_wipe(app_s_key);
        return LAB_ERR_CRYPTO;
    }
    return LAB_OK;
}

lab_status lab_as_relay_body(const uint8_t *frame, size_t len, unsigned max_downlink, char *out, size_t cap,
                             size_t *out_len)
{
    char hex[2 * LAB_AS_PAYLOAD_MAX + 1] = "";
    if ((len > 0 && frame == NULL) || len > LAB_AS_PAYLOAD_MAX || out == NULL || out_len == NULL)
        return LAB_ERR_ARGUMENT;
    if (len > 0 && lw_hex_encode(frame, len, hex, sizeof(hex)) != LW_OK)
        return LAB_ERR_BUFFER;
    upper(hex);
    int n = snprintf(out, cap, "{\"FRMPayload\":\"%s\",\"MaxDownlinkPayload\":%u}", hex, max_downlink);
    if (n < 0 || (size_t)n >= cap)
        return LAB_ERR_BUFFER;
    *out_len = (size_t)n;
    return LAB_OK;
}

lab_status lab_as_relay_answer_parse(const char *body, size_t len, uint8_t frame[LAB_AS_PAYLOAD_MAX],
                                     size_t *frame_len)
{
    if (body == NULL || frame == NULL || frame_len == NULL)
        return LAB_ERR_ARGUMENT;
    *frame_len = 0;
    json_error_t je;
    json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    lab_status st = LAB_ERR_FORMAT;
    uint64_t port = LAB_AS_MLS_FPORT;
    json_t *pl = json_is_object(o) ? get(o, "FRMPayload") : NULL;
    if (json_is_object(o) && get_uint(o, "FPort", 255, false, &port, NULL) && port == LAB_AS_MLS_FPORT &&
        (pl == NULL || get_hex_bytes(pl, frame, LAB_AS_PAYLOAD_MAX, frame_len)))
        st = LAB_OK;
    json_decref(o);
    if (st != LAB_OK)
        *frame_len = 0;
    return st;
}

lab_status lab_as_downlinks_build(const lw_key *app_s_key, const lab_as_uplink *up, const uint8_t *frame, size_t len,
                                  char *out, size_t cap)
{
    if (app_s_key == NULL || up == NULL || frame == NULL || out == NULL || len == 0 || len > LAB_AS_PAYLOAD_MAX)
        return LAB_ERR_ARGUMENT;
    if (!up->has_next_afcnt_down)
        return LAB_ERR_ARGUMENT;
    if (len > up->max_downlink)
        return LAB_ERR_TOO_BIG;
    uint8_t enc[LAB_AS_PAYLOAD_MAX];
    char hex[2 * LAB_AS_PAYLOAD_MAX + 1];
    if (lw_frm_payload_crypt(lw_crypto_software(), app_s_key, false, up->dev_addr, up->next_afcnt_down, frame, len,
                             enc) != LW_OK)
        return LAB_ERR_CRYPTO;
    lab_status st = lw_hex_encode(enc, len, hex, sizeof(hex)) == LW_OK ? LAB_OK : LAB_ERR_BUFFER;
    upper(hex);
    if (st == LAB_OK) {
        int n = snprintf(out, cap,
                         "{\"Downlinks\":[{\"DevEUI\":\"%016llX\",\"FPort\":%u,\"FCnt\":%u,\"FRMPayload\":\"%s\"}]}",
                         (unsigned long long)up->dev_eui, (unsigned)LAB_AS_MLS_FPORT, (unsigned)up->next_afcnt_down,
                         hex);
        if (n < 0 || (size_t)n >= cap)
            st = LAB_ERR_BUFFER;
    }
    return st;
}

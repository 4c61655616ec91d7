/*
 * lab_bi.c - JoinReq out, JoinAns in (see lab_bi.h).
 */
#include "lab/lab_bi.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include "lorawan/lw_secure.h"

lab_status lab_hex_parse(const char *s, size_t len, uint8_t *out, size_t n, size_t max, size_t *out_len)
{
    if (s == NULL || out == NULL)
        return LAB_ERR_ARGUMENT;
    if (len >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        s += 2;
        len -= 2;
    }
    if (len % 2 != 0)
        return LAB_ERR_FORMAT;
    size_t bytes = len / 2;
    if (n != 0 ? bytes != n : (bytes == 0 || bytes > max))
        return LAB_ERR_FORMAT;
    if (lw_hex_decode(s, len, out, bytes) != LW_OK)
        return LAB_ERR_FORMAT;
    if (out_len != NULL)
        *out_len = bytes;
    return LAB_OK;
}

lab_status lab_hex_uint(const char *s, size_t len, unsigned digits, uint64_t *out)
{
    uint8_t b[8];
    if (digits == 0 || digits > 16 || digits % 2 != 0)
        return LAB_ERR_ARGUMENT;
    lab_status st = lab_hex_parse(s, len, b, digits / 2, 0, NULL);
    if (st == LAB_OK)
        *out = lw_get_be(b, digits / 2);
    return st;
}

lab_status lab_bi_join_req_build(const lab_join_req_params *p, char *out, size_t cap, size_t *out_len)
{
    if (p == NULL || p->phy == NULL || p->phy_len != LW_JOIN_REQUEST_LEN)
        return LAB_ERR_ARGUMENT;
    bi_request req;
    memset(&req, 0, sizeof(req));
    req.hdr.version = p->version;
    bi_id_set_net_id(&req.hdr.sender_id, p->net_id);
    bi_id_set_eui(&req.hdr.receiver_id, p->join_eui);
    req.hdr.transaction_id = p->transaction_id;
    req.hdr.message_type = BI_MSG_JOIN_REQ;
    if (p->version == BI_VERSION_1_1) {
        req.hdr.has_sender_nsid = true;
        req.hdr.sender_nsid = p->nsid;
    }
    bi_join_req *j = &req.u.join;
    j->mac_version = p->mac_version;
    j->phy_payload_len = p->phy_len;
    memcpy(j->phy_payload, p->phy, p->phy_len);
    j->dev_eui = p->dev_eui;
    j->dev_addr = p->dev_addr;
    j->dl_settings = p->dl_settings;
    j->rx_delay = p->rx_delay;
    bi_status bs = bi_request_build(&req, out, cap, out_len);
    if (bs == BI_ERR_BUFFER)
        return LAB_ERR_BUFFER;
    return bs == BI_OK ? LAB_OK : LAB_ERR_ARGUMENT;
}

void lab_bi_join_ans_wipe(bi_join_ans *ans)
{
    if (ans != NULL)
        lw_secure_wipe(ans, sizeof(*ans));
}

static bool str_field(json_t *root, const char *k, const char **s, size_t *len)
{
    json_t *v = json_object_get(root, k);
    if (!json_is_string(v))
        return false;
    *s = json_string_value(v);
    *len = json_string_length(v);
    return true;
}

/* An absent or null field is fine (present=false); anything else must be a
 * wrapped envelope. */
static lab_status envelope(json_t *root, const char *k, bi_key_envelope *env)
{
    json_t *v = json_object_get(root, k);
    memset(env, 0, sizeof(*env));
    if (v == NULL || json_is_null(v))
        return LAB_OK;
    if (!json_is_object(v))
        return LAB_ERR_FORMAT;
    /* json_dumpb into our own buffer: a process may have installed its own
     * jansson allocator (the CLI's wiping one), so nothing jansson
     * allocates is freed here. */
    char text[512];
    size_t tn = json_dumpb(v, text, sizeof(text), JSON_COMPACT);
    if (tn == 0 || tn >= sizeof(text))
        return LAB_ERR_FORMAT;
    bi_error err;
    bi_status bs = bi_key_envelope_parse(text, tn, env, &err);
    lw_secure_wipe(text, sizeof(text));
    if (bs != BI_OK || env->clear) {
        bi_key_envelope_wipe(env);
        return LAB_ERR_FORMAT;
    }
    env->present = true;
    return LAB_OK;
}

static lab_status parse_header(json_t *root, uint64_t join_eui, uint32_t net_id, uint32_t tid)
{
    const char *s;
    size_t n;
    uint64_t v;
    if (!str_field(root, "MessageType", &s, &n) || strcmp(s, "JoinAns") != 0)
        return LAB_ERR_FORMAT;
    if (!str_field(root, "ProtocolVersion", &s, &n) || (strcmp(s, "1.0") != 0 && strcmp(s, "1.1") != 0))
        return LAB_ERR_FORMAT;
    if (!str_field(root, "SenderID", &s, &n) || lab_hex_uint(s, n, 16, &v) != LAB_OK || v != join_eui)
        return LAB_ERR_FORMAT;
    if (!str_field(root, "ReceiverID", &s, &n) || lab_hex_uint(s, n, 6, &v) != LAB_OK || v != net_id)
        return LAB_ERR_FORMAT;
    json_t *t = json_object_get(root, "TransactionID");
    if (!json_is_integer(t) || json_integer_value(t) != (json_int_t)tid)
        return LAB_ERR_FORMAT;
    return LAB_OK;
}

lab_status lab_bi_join_ans_parse(const char *body, size_t len, uint64_t join_eui, uint32_t net_id,
                                 uint32_t transaction_id, bi_join_ans *ans)
{
    if (body == NULL || ans == NULL)
        return LAB_ERR_ARGUMENT;
    memset(ans, 0, sizeof(*ans));
    if (len > BI_BODY_MAX)
        return LAB_ERR_FORMAT;
    json_error_t je;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(root)) {
        json_decref(root);
        return LAB_ERR_FORMAT;
    }
    lab_status st = parse_header(root, join_eui, net_id, transaction_id);
    json_t *res = json_object_get(root, "Result");
    json_t *code = json_is_object(res) ? json_object_get(res, "ResultCode") : NULL;
    if (st == LAB_OK && (!json_is_string(code) || bi_result_code_parse(json_string_value(code), &ans->result.code) != BI_OK))
        st = LAB_ERR_FORMAT;
    if (st == LAB_OK) {
        json_t *d = json_object_get(res, "Description");
        if (json_is_string(d)) {
            size_t dn = json_string_length(d);
            if (dn > BI_DESCRIPTION_MAX)
                dn = BI_DESCRIPTION_MAX;
            memcpy(ans->result.description, json_string_value(d), dn);
            ans->result.description[dn] = 0;
        }
    }
    const char *s;
    size_t n;
    if (st == LAB_OK && str_field(root, "PHYPayload", &s, &n) && n > 0) {
        st = lab_hex_parse(s, n, ans->phy_payload, 0, LW_PHY_MAX, &ans->phy_payload_len);
        if (st == LAB_OK && ans->phy_payload_len != LW_JOIN_ACCEPT_LEN &&
            ans->phy_payload_len != LW_JOIN_ACCEPT_CFLIST_LEN)
            st = LAB_ERR_FORMAT;
    }
    json_t *lt = json_object_get(root, "Lifetime");
    if (st == LAB_OK && lt != NULL && !json_is_null(lt)) {
        if (!json_is_integer(lt) || json_integer_value(lt) < 0 || json_integer_value(lt) > UINT32_MAX)
            st = LAB_ERR_FORMAT;
        else {
            ans->has_lifetime = true;
            ans->lifetime = (uint32_t)json_integer_value(lt);
        }
    }
    if (st == LAB_OK)
        st = envelope(root, "NwkSKey", &ans->nwk_s_key);
    if (st == LAB_OK)
        st = envelope(root, "FNwkSIntKey", &ans->f_nwk_s_int_key);
    if (st == LAB_OK)
        st = envelope(root, "SNwkSIntKey", &ans->s_nwk_s_int_key);
    if (st == LAB_OK)
        st = envelope(root, "NwkSEncKey", &ans->nwk_s_enc_key);
    if (st == LAB_OK)
        st = envelope(root, "AppSKey", &ans->app_s_key);
    if (st == LAB_OK && str_field(root, "SessionKeyID", &s, &n) && n > 0)
        st = lab_hex_parse(s, n, ans->session_key_id, 0, BI_SESSION_KEY_ID_MAX, &ans->session_key_id_len);
    if (st == LAB_OK && ans->result.code == BI_RESULT_SUCCESS) {
        bool v10 = ans->nwk_s_key.present;
        bool v11 = ans->f_nwk_s_int_key.present && ans->s_nwk_s_int_key.present && ans->nwk_s_enc_key.present;
        if (ans->phy_payload_len == 0 || v10 == v11)
            st = LAB_ERR_FORMAT; /* a Success needs an accept and one set of network keys */
    }
    json_decref(root);
    if (st != LAB_OK)
        lab_bi_join_ans_wipe(ans);
    return st;
}

/*
 * bi_answer.c - JoinAns, RejoinAns, AppSKeyAns, HomeNSAns and the bare
 * error answer, built into the caller's buffer.
 *
 * Every builder goes header, Result, then the body in the order TS002 lists
 * the fields, which is also the order TTS writes them; peers do not depend
 * on it, but people reading logs and diffs do.
 */
#include "bi/bi_json.h"
#include "bi/bi_message.h"

#include <string.h>

/* Starts an answer object: the header (whose type must be `want` or
 * `want2`) and the Result. */
static bi_status begin(const bi_header *hdr, bi_message_type want, bi_message_type want2, const bi_result *r,
                       json_t **out)
{
    *out = NULL;
    if (hdr == NULL || r == NULL || (hdr->message_type != want && hdr->message_type != want2))
        return BI_ERR_ARGUMENT;
    json_t *o = json_object();
    if (o == NULL)
        return BI_ERR_NOMEM;
    bi_status st = bi_put_header(o, hdr);
    if (st == BI_OK)
        st = bi_put_result(o, r, hdr->version);
    if (st != BI_OK) {
        json_decref(o);
        return st;
    }
    *out = o;
    return BI_OK;
}

static bi_status finish(json_t *o, bi_status st, char *out, size_t cap, size_t *out_len)
{
    if (st != BI_OK) {
        json_decref(o);
        return st;
    }
    return bi_json_dump(o, out, cap, out_len);
}

bi_status bi_join_ans_build(const bi_header *hdr, const bi_join_ans *ans, char *out, size_t cap, size_t *out_len)
{
    if (ans == NULL || out == NULL || out_len == NULL)
        return BI_ERR_ARGUMENT;
    if (ans->phy_payload_len > LW_PHY_MAX || ans->session_key_id_len > BI_SESSION_KEY_ID_MAX)
        return BI_ERR_ARGUMENT;
    json_t *o;
    bi_status st = begin(hdr, BI_MSG_JOIN_ANS, BI_MSG_REJOIN_ANS, &ans->result, &o);
    if (st != BI_OK)
        return st;
    if (ans->phy_payload_len)
        st = bi_put_hex(o, "PHYPayload", ans->phy_payload, ans->phy_payload_len);
    if (st == BI_OK && ans->has_lifetime)
        st = bi_put_uint(o, "Lifetime", ans->lifetime);
    if (st == BI_OK) st = bi_put_key_envelope(o, "SNwkSIntKey", &ans->s_nwk_s_int_key);
    if (st == BI_OK) st = bi_put_key_envelope(o, "FNwkSIntKey", &ans->f_nwk_s_int_key);
    if (st == BI_OK) st = bi_put_key_envelope(o, "NwkSEncKey", &ans->nwk_s_enc_key);
    if (st == BI_OK) st = bi_put_key_envelope(o, "NwkSKey", &ans->nwk_s_key);
    if (st == BI_OK) st = bi_put_key_envelope(o, "AppSKey", &ans->app_s_key);
    if (st == BI_OK && ans->session_key_id_len)
        st = bi_put_hex(o, "SessionKeyID", ans->session_key_id, ans->session_key_id_len);
    return finish(o, st, out, cap, out_len);
}

bi_status bi_app_s_key_ans_build(const bi_header *hdr, const bi_app_s_key_ans *ans, char *out, size_t cap,
                                 size_t *out_len)
{
    if (ans == NULL || out == NULL || out_len == NULL || ans->session_key_id_len > BI_SESSION_KEY_ID_MAX)
        return BI_ERR_ARGUMENT;
    json_t *o;
    bi_status st = begin(hdr, BI_MSG_APP_S_KEY_ANS, BI_MSG_APP_S_KEY_ANS, &ans->result, &o);
    if (st != BI_OK)
        return st;
    st = bi_put_be(o, "DevEUI", ans->dev_eui, 8);
    if (st == BI_OK) st = bi_put_key_envelope(o, "AppSKey", &ans->app_s_key);
    if (st == BI_OK && ans->session_key_id_len)
        st = bi_put_hex(o, "SessionKeyID", ans->session_key_id, ans->session_key_id_len);
    return finish(o, st, out, cap, out_len);
}

bi_status bi_home_ns_ans_build(const bi_header *hdr, const bi_home_ns_ans *ans, char *out, size_t cap,
                               size_t *out_len)
{
    if (ans == NULL || out == NULL || out_len == NULL)
        return BI_ERR_ARGUMENT;
    if (ans->has_hnsid && (hdr == NULL || hdr->version != BI_VERSION_1_1))
        return BI_ERR_ARGUMENT;
    json_t *o;
    bi_status st = begin(hdr, BI_MSG_HOME_NS_ANS, BI_MSG_HOME_NS_ANS, &ans->result, &o);
    if (st != BI_OK)
        return st;
    if (ans->has_h_net_id)
        st = bi_put_be(o, "HNetID", ans->h_net_id, 3);
    if (st == BI_OK && ans->has_hnsid)
        st = bi_put_be(o, "HNSID", ans->hnsid, 8);
    return finish(o, st, out, cap, out_len);
}

bi_status bi_error_answer_build(const bi_header *req, bi_result_code code, const char *description, char *out,
                                size_t cap, size_t *out_len)
{
    if (req == NULL || out == NULL || out_len == NULL)
        return BI_ERR_ARGUMENT;
    bi_header hdr;
    bi_status st = bi_answer_header(req, &hdr);
    if (st != BI_OK)
        return st;
    bi_result r;
    memset(&r, 0, sizeof(r));
    r.code = code;
    if (description != NULL)
        snprintf(r.description, sizeof(r.description), "%s", description);
    json_t *o;
    st = begin(&hdr, hdr.message_type, hdr.message_type, &r, &o);
    if (st != BI_OK)
        return st;
    return finish(o, BI_OK, out, cap, out_len);
}

/*
 * bi_roaming.c - PRStartReq/Ans, PRStopReq/Ans, XmitDataReq/Ans and
 * HomeNSAns, parsed and built (see bi_roaming.h).
 *
 * The header goes through bi_relay_parse()'s reader, so that answers are
 * read with the same rules as requests; the body readers below are flat
 * lists of field reads, like bi_request.c's.
 */
#include "bi/bi_roam_meta.h"
#include "bi/bi_relay.h"

#include <string.h>

bool bi_roam_type(bi_message_type t)
{
    switch (t) {
    case BI_MSG_PR_START_REQ:
    case BI_MSG_PR_START_ANS:
    case BI_MSG_PR_STOP_REQ:
    case BI_MSG_PR_STOP_ANS:
    case BI_MSG_XMIT_DATA_REQ:
    case BI_MSG_XMIT_DATA_ANS:
    case BI_MSG_HOME_NS_ANS:
        return true;
    default:
        return false;
    }
}

/* Result {ResultCode, Description}: required in every answer. */
static bi_status parse_result(const json_t *root, bi_result *r, bi_error *err)
{
    memset(r, 0, sizeof(*r));
    json_t *res = bi_json_get(root, "Result");
    if (res == NULL)
        return bi_fail(err, BI_ERR_MISSING, "Result", "required field is missing");
    if (!json_is_object(res))
        return bi_fail(err, BI_ERR_TYPE, "Result", "must be an object");
    const char *s;
    size_t n;
    bi_status st = bi_json_string(res, "ResultCode", true, &s, &n, err);
    if (st != BI_OK)
        return bi_roam_prefixed(st, err, "Result");
    if (strlen(s) != n || bi_result_code_parse(s, &r->code) != BI_OK) {
        char shown[36];
        bi_printable(shown, sizeof(shown), s, n);
        return bi_fail(err, BI_ERR_VALUE, "Result.ResultCode", "\"%s\" is not a result code", shown);
    }
    st = bi_json_string(res, "Description", false, &s, &n, err);
    if (st != BI_OK)
        return bi_roam_prefixed(st, err, "Result");
    if (s != NULL) {
        /* kept as printable ASCII: it is shown in logs */
        bi_printable(r->description, sizeof(r->description), s, n);
    }
    return BI_OK;
}

static bi_status parse_phy(const json_t *root, const char *field, bool required, uint8_t *out, size_t *len,
                           bi_error *err)
{
    const char *s;
    size_t n;
    *len = 0;
    bi_status st = bi_json_string(root, field, required, &s, &n, err);
    if (st != BI_OK || s == NULL)
        return st;
    size_t digits = n >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') ? n - 2 : n;
    if (digits == 0 && !required)
        return BI_OK;
    if (digits == 0 || digits > 2 * LW_PHY_MAX)
        return bi_fail(err, BI_ERR_FRAME_SIZE, field, "%zu bytes, expected 1 to %d", (digits + 1) / 2, LW_PHY_MAX);
    return bi_hex_text(s, n, out, 1, LW_PHY_MAX, len, field, err);
}

/* A KeyEnvelope that must be wrapped. */
static bi_status wrapped_envelope(json_t *root, const char *field, bi_key_envelope *env, bi_error *err)
{
    bi_status st = bi_json_key_envelope(root, field, false, env, err);
    if (st == BI_OK && env->present && env->clear) {
        bi_key_envelope_wipe(env);
        return bi_fail(err, BI_ERR_CLEAR_KEY, field, "a key in clear (no KEKLabel) is not accepted");
    }
    return st;
}

static bi_status parse_pr_start_ans(json_t *root, bi_pr_start_ans *a, bi_error *err)
{
    uint64_t v = 0;
    bi_status st = parse_result(root, &a->result, err);
    if (st == BI_OK) st = parse_phy(root, "PHYPayload", false, a->phy_payload, &a->phy_payload_len, err);
    if (st == BI_OK) st = bi_json_be(root, "DevEUI", false, 8, &a->dev_eui, &a->has_dev_eui, err);
    if (st == BI_OK) st = bi_json_be(root, "DevAddr", false, 4, &v, &a->has_dev_addr, err);
    a->dev_addr = (uint32_t)v;
    if (st == BI_OK) st = bi_json_uint(root, "Lifetime", false, UINT32_MAX, &v, &a->has_lifetime, err);
    a->lifetime = (uint32_t)v;
    if (st == BI_OK) st = wrapped_envelope(root, "FNwkSIntKey", &a->f_nwk_s_int_key, err);
    if (st == BI_OK) st = wrapped_envelope(root, "NwkSKey", &a->nwk_s_key, err);
    if (st == BI_OK) st = bi_json_uint(root, "FCntUp", false, UINT32_MAX, &v, &a->has_fcnt_up, err);
    a->fcnt_up = (uint32_t)v;
    if (st == BI_OK) st = bi_dl_meta_parse(root, "DLMetaData", false, &a->dl, &a->has_dl_meta, err);
    return st;
}

static bi_status parse_xmit_req(const json_t *root, bi_xmit_data_req *x, bi_error *err)
{
    size_t phy_len = 0, frm_len = 0;
    uint8_t frm[LW_PHY_MAX];
    bi_status st = parse_phy(root, "PHYPayload", false, x->payload, &phy_len, err);
    if (st == BI_OK) st = parse_phy(root, "FRMPayload", false, frm, &frm_len, err);
    if (st != BI_OK)
        return st;
    if ((phy_len == 0) == (frm_len == 0))
        return bi_fail(err, BI_ERR_MISSING, "PHYPayload",
                       phy_len ? "and FRMPayload are both present; exactly one is allowed"
                               : "or FRMPayload is required");
    x->frm = frm_len != 0;
    x->payload_len = x->frm ? frm_len : phy_len;
    if (x->frm)
        memcpy(x->payload, frm, frm_len);
    bool has_ul = false, has_dl = false;
    st = bi_ul_meta_parse(root, "ULMetaData", false, &x->ul, &has_ul, err);
    if (st == BI_OK) st = bi_dl_meta_parse(root, "DLMetaData", false, &x->dl, &has_dl, err);
    if (st == BI_OK && has_ul == has_dl)
        st = bi_fail(err, BI_ERR_MISSING, "ULMetaData",
                     has_ul ? "and DLMetaData are both present; exactly one is allowed" : "or DLMetaData is required");
    x->uplink = has_ul;
    return st;
}

static bi_status parse_body(json_t *root, bi_roam_msg *m, bi_error *err)
{
    uint64_t v = 0;
    bool p;
    bi_status st;
    switch (m->hdr.message_type) {
    case BI_MSG_PR_START_REQ:
        st = parse_phy(root, "PHYPayload", true, m->u.pr_start_req.phy_payload, &m->u.pr_start_req.phy_payload_len,
                       err);
        if (st == BI_OK)
            st = bi_ul_meta_parse(root, "ULMetaData", true, &m->u.pr_start_req.ul, &p, err);
        return st;
    case BI_MSG_PR_START_ANS:
        return parse_pr_start_ans(root, &m->u.pr_start_ans, err);
    case BI_MSG_PR_STOP_REQ:
        st = bi_json_be(root, "DevEUI", true, 8, &m->u.pr_stop_req.dev_eui, NULL, err);
        if (st == BI_OK)
            st = bi_json_uint(root, "Lifetime", false, UINT32_MAX, &v, &m->u.pr_stop_req.has_lifetime, err);
        m->u.pr_stop_req.lifetime = (uint32_t)v;
        return st;
    case BI_MSG_PR_STOP_ANS:
        return parse_result(root, &m->u.pr_stop_ans, err);
    case BI_MSG_XMIT_DATA_REQ:
        return parse_xmit_req(root, &m->u.xmit_data_req, err);
    case BI_MSG_XMIT_DATA_ANS:
        st = parse_result(root, &m->u.xmit_data_ans.result, err);
        if (st == BI_OK)
            st = bi_roam_real(root, "DLFreq1", &m->u.xmit_data_ans.dl_freq1, &m->u.xmit_data_ans.has_dl_freq1, err);
        if (st == BI_OK)
            st = bi_roam_real(root, "DLFreq2", &m->u.xmit_data_ans.dl_freq2, &m->u.xmit_data_ans.has_dl_freq2, err);
        return st;
    case BI_MSG_HOME_NS_ANS: {
        bi_home_ns_ans *h = &m->u.home_ns_ans;
        st = parse_result(root, &h->result, err);
        if (st == BI_OK)
            st = bi_json_be(root, "HNetID", false, 3, &v, &h->has_h_net_id, err);
        h->h_net_id = (uint32_t)v;
        if (st == BI_OK)
            st = bi_json_be(root, "HNSID", false, 8, &h->hnsid, &h->has_hnsid, err);
        if (m->hdr.version == BI_VERSION_1_0) { /* a 1.0 answer cannot carry it: ignored */
            h->has_hnsid = false;
            h->hnsid = 0;
        }
        return st;
    }
    default:
        return bi_fail(err, BI_ERR_UNSUPPORTED, "MessageType", "%s is not a roaming message",
                       bi_message_type_name(m->hdr.message_type));
    }
}

bi_status bi_roam_parse(const void *body, size_t len, bi_roam_msg *m, bi_error *err)
{
    if (m == NULL || err == NULL)
        return BI_ERR_ARGUMENT;
    memset(m, 0, sizeof(*m));
    bi_relay_msg rm;
    bi_status st = bi_relay_parse(body, len, &rm, err);
    m->hdr = rm.hdr;
    if (st != BI_OK)
        return st;
    json_t *root;
    /* parsed again: the relay reader does not hand out its document */
    st = bi_json_load(body, len, &root, err);
    if (st != BI_OK)
        return st;
    err->answerable = bi_message_type_is_request(m->hdr.message_type);
    st = parse_body(root, m, err);
    json_decref(root);
    if (st != BI_OK) {
        bi_header keep = m->hdr;
        memset(m, 0, sizeof(*m));
        m->hdr = keep;
    }
    return st;
}

/* ---- builders ----------------------------------------------------------- */

static bi_status put_result(json_t *o, const bi_result *r, bi_version v)
{
    return bi_put_result(o, r, v);
}

static bi_status build_body(json_t *o, const bi_roam_msg *m)
{
    const bi_version v = m->hdr.version;
    bi_status st = BI_OK;
    switch (m->hdr.message_type) {
    case BI_MSG_PR_START_REQ: {
        const bi_pr_start_req *r = &m->u.pr_start_req;
        if (r->phy_payload_len == 0 || r->phy_payload_len > LW_PHY_MAX)
            return BI_ERR_ARGUMENT;
        st = bi_put_hex(o, "PHYPayload", r->phy_payload, r->phy_payload_len);
        if (st == BI_OK) st = bi_put_ul_meta(o, "ULMetaData", &r->ul);
        return st;
    }
    case BI_MSG_PR_START_ANS: {
        const bi_pr_start_ans *a = &m->u.pr_start_ans;
        if (a->phy_payload_len > LW_PHY_MAX)
            return BI_ERR_ARGUMENT;
        st = put_result(o, &a->result, v);
        if (st == BI_OK && a->phy_payload_len) st = bi_put_hex(o, "PHYPayload", a->phy_payload, a->phy_payload_len);
        if (st == BI_OK && a->has_dev_eui) st = bi_put_be(o, "DevEUI", a->dev_eui, 8);
        if (st == BI_OK && a->has_dev_addr) st = bi_put_be(o, "DevAddr", a->dev_addr, 4);
        if (st == BI_OK && a->has_lifetime) st = bi_put_uint(o, "Lifetime", a->lifetime);
        if (st == BI_OK) st = bi_put_key_envelope(o, "FNwkSIntKey", &a->f_nwk_s_int_key);
        if (st == BI_OK) st = bi_put_key_envelope(o, "NwkSKey", &a->nwk_s_key);
        if (st == BI_OK && a->has_fcnt_up) st = bi_put_uint(o, "FCntUp", a->fcnt_up);
        if (st == BI_OK && a->has_dl_meta) st = bi_put_dl_meta(o, "DLMetaData", &a->dl);
        return st;
    }
    case BI_MSG_PR_STOP_REQ:
        st = bi_put_be(o, "DevEUI", m->u.pr_stop_req.dev_eui, 8);
        if (st == BI_OK && m->u.pr_stop_req.has_lifetime) st = bi_put_uint(o, "Lifetime", m->u.pr_stop_req.lifetime);
        return st;
    case BI_MSG_PR_STOP_ANS:
        return put_result(o, &m->u.pr_stop_ans, v);
    case BI_MSG_XMIT_DATA_REQ: {
        const bi_xmit_data_req *x = &m->u.xmit_data_req;
        if (x->payload_len == 0 || x->payload_len > LW_PHY_MAX)
            return BI_ERR_ARGUMENT;
        st = bi_put_hex(o, x->frm ? "FRMPayload" : "PHYPayload", x->payload, x->payload_len);
        if (st == BI_OK)
            st = x->uplink ? bi_put_ul_meta(o, "ULMetaData", &x->ul) : bi_put_dl_meta(o, "DLMetaData", &x->dl);
        return st;
    }
    case BI_MSG_XMIT_DATA_ANS: {
        const bi_xmit_data_ans *a = &m->u.xmit_data_ans;
        st = put_result(o, &a->result, v);
        if (st == BI_OK && a->has_dl_freq1) st = bi_put_real(o, "DLFreq1", a->dl_freq1);
        if (st == BI_OK && a->has_dl_freq2) st = bi_put_real(o, "DLFreq2", a->dl_freq2);
        return st;
    }
    case BI_MSG_HOME_NS_ANS: {
        const bi_home_ns_ans *h = &m->u.home_ns_ans;
        if (h->has_hnsid && v == BI_VERSION_1_0)
            return BI_ERR_ARGUMENT;
        st = put_result(o, &h->result, v);
        if (st == BI_OK && h->has_h_net_id) st = bi_put_be(o, "HNetID", h->h_net_id, 3);
        if (st == BI_OK && h->has_hnsid) st = bi_put_be(o, "HNSID", h->hnsid, 8);
        return st;
    }
    default:
        return BI_ERR_ARGUMENT;
    }
}

bi_status bi_roam_build(const bi_roam_msg *m, char *out, size_t cap, size_t *out_len)
{
    if (m == NULL || out == NULL || out_len == NULL || !bi_roam_type(m->hdr.message_type))
        return BI_ERR_ARGUMENT;
    if (m->hdr.receiver_id.kind != bi_relay_receiver_kind(m->hdr.message_type))
        return BI_ERR_ARGUMENT;
    json_t *o = json_object();
    if (o == NULL)
        return BI_ERR_NOMEM;
    bi_status st = bi_put_header(o, &m->hdr);
    if (st == BI_OK)
        st = build_body(o, m);
    if (st != BI_OK) {
        json_decref(o);
        return st;
    }
    return bi_json_dump(o, out, cap, out_len);
}

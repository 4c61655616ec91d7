/*
 * bi_relay.c - the header of any BI message (see bi_relay.h).
 *
 * The order of the checks is the order an answer needs them, as in
 * bi_header.c: MessageType, SenderID, ReceiverID, TransactionID first; once
 * those are good a request can be answered with a Result, whatever else is
 * wrong. Unlike bi_header_parse() nothing here depends on a Join Server's
 * view: answers and notifications are read, and SenderNSID is not required
 * in 1.1 (that rule belongs to the receiver, which gets the body as sent).
 */
#include "bi/bi_json.h"
#include "bi/bi_relay.h"

#include <string.h>

bi_id_kind bi_relay_receiver_kind(bi_message_type t)
{
    switch (t) {
    case BI_MSG_JOIN_REQ:
    case BI_MSG_REJOIN_REQ:
    case BI_MSG_APP_S_KEY_REQ:
    case BI_MSG_HOME_NS_REQ:
        return BI_ID_EUI;
    case BI_MSG_APP_S_KEY_ANS:
        return BI_ID_NAME;
    default:
        return BI_ID_NET_ID;
    }
}

bool bi_id_equal(const bi_id *id, const bi_id *want)
{
    if (id == NULL || want == NULL || id->kind != want->kind)
        return false;
    if (id->kind == BI_ID_NAME)
        return strcmp(id->raw, want->raw) == 0;
    return id->value == want->value;
}

static const char *kind_text(bi_id_kind k)
{
    switch (k) {
    case BI_ID_EUI:    return "a JoinEUI (16 hex digits)";
    case BI_ID_NET_ID: return "a NetID (6 hex digits)";
    default:           return "an AS-ID";
    }
}

static void as_name(bi_id *id)
{
    id->kind = BI_ID_NAME;
    id->value = 0;
}

/* SenderNSID / ReceiverNSID: 16 hex digits when present; kept in 1.1 only
 * (a 1.0 answer cannot carry them, so a relay's answer leaves them out). */
static bi_status parse_nsid(const json_t *root, const char *field, bi_version v, bool *has, uint64_t *nsid,
                            bi_error *err)
{
    bool present = false;
    uint64_t value = 0;
    bi_status st = bi_json_be(root, field, false, 8, &value, &present, err);
    *has = st == BI_OK && present && v == BI_VERSION_1_1;
    *nsid = *has ? value : 0;
    return st;
}

static bi_status parse_header(const json_t *root, bi_relay_msg *m, bi_error *err)
{
    bi_header *h = &m->hdr;
    const char *s;
    size_t len;
    uint64_t v;
    bi_status st = bi_json_string(root, "MessageType", true, &s, &len, err);
    if (st != BI_OK)
        return st;
    if (bi_message_type_parse(s, len, &h->message_type) != BI_OK) {
        char shown[36];
        bi_printable(shown, sizeof(shown), s, len);
        return bi_fail(err, BI_ERR_MESSAGE_TYPE, "MessageType", "\"%s\" is not a Backend Interfaces message type",
                       shown);
    }
    if ((st = bi_json_id(root, "SenderID", &h->sender_id, err)) != BI_OK)
        return st;
    if ((st = bi_json_id(root, "ReceiverID", &h->receiver_id, err)) != BI_OK)
        return st;
    if ((st = bi_json_uint(root, "TransactionID", true, UINT32_MAX, &v, NULL, err)) != BI_OK)
        return st;
    h->transaction_id = (uint32_t)v;
    if (h->message_type == BI_MSG_APP_S_KEY_REQ)
        as_name(&h->sender_id);
    if (h->message_type == BI_MSG_APP_S_KEY_ANS)
        as_name(&h->receiver_id);
    err->answerable = bi_message_type_is_request(h->message_type);

    json_t *pv = bi_json_get(root, "ProtocolVersion");
    const char *pvs = json_is_string(pv) ? json_string_value(pv) : NULL;
    if (pvs != NULL && strcmp(pvs, "1.0") == 0) {
        h->version = BI_VERSION_1_0;
    } else if (pvs != NULL && strcmp(pvs, "1.1") == 0) {
        h->version = BI_VERSION_1_1;
    } else if (pvs != NULL) {
        char shown[20];
        bi_printable(shown, sizeof(shown), pvs, json_string_length(pv));
        return bi_fail(err, BI_ERR_VERSION, "ProtocolVersion", "\"%s\" is not supported (1.0 or 1.1)", shown);
    } else {
        return bi_fail(err, BI_ERR_VERSION, "ProtocolVersion",
                       pv == NULL ? "required field is missing" : "must be the string \"1.0\" or \"1.1\"");
    }
    if ((st = bi_json_hex(root, "SenderToken", false, h->sender_token.bytes, 1, BI_TOKEN_MAX, &h->sender_token.len,
                          err)) != BI_OK)
        return st;
    if ((st = bi_json_hex(root, "ReceiverToken", false, h->receiver_token.bytes, 1, BI_TOKEN_MAX,
                          &h->receiver_token.len, err)) != BI_OK)
        return st;
    if ((st = parse_nsid(root, "SenderNSID", h->version, &h->has_sender_nsid, &h->sender_nsid, err)) != BI_OK)
        return st;
    if ((st = parse_nsid(root, "ReceiverNSID", h->version, &h->has_receiver_nsid, &h->receiver_nsid, err)) != BI_OK)
        return st;
    bi_id_kind want = bi_relay_receiver_kind(h->message_type);
    if (h->receiver_id.kind != want)
        return bi_fail(err, BI_ERR_VALUE, "ReceiverID", "a %s is addressed to %s", bi_message_type_name(h->message_type),
                       kind_text(want));
    return BI_OK;
}

static void parse_result(const json_t *root, bi_relay_msg *m)
{
    json_t *res = bi_json_get(root, "Result");
    json_t *code = json_is_object(res) ? bi_json_get(res, "ResultCode") : NULL;
    m->has_result = json_is_string(code) && bi_result_code_parse(json_string_value(code), &m->result) == BI_OK;
    if (!m->has_result)
        m->result = BI_RESULT_SUCCESS;
}

bi_status bi_relay_parse(const void *body, size_t len, bi_relay_msg *out, bi_error *err)
{
    if (out == NULL || err == NULL)
        return BI_ERR_ARGUMENT;
    memset(out, 0, sizeof(*out));
    memset(err, 0, sizeof(*err));
    out->hdr.version = BI_VERSION_1_0;
    json_t *root;
    bi_status st = bi_json_load(body, len, &root, err);
    if (st != BI_OK)
        return st;
    st = parse_header(root, out, err);
    if (st == BI_OK && !bi_message_type_is_request(out->hdr.message_type))
        parse_result(root, out);
    json_decref(root);
    return st;
}

/*
 * bi_header.c - the common header of every BI message, and the name tables
 * (message types, result codes) with their version-dependent spellings.
 *
 * Header fields are read in the order an answer needs them: MessageType,
 * SenderID, ReceiverID, TransactionID first. Once those four are good the
 * message can be answered with a Result even if the rest is wrong, and
 * err->answerable says so; before that the body is not a message we can
 * answer, and only then does the server fall back to HTTP 400.
 */
#include "bi/bi_json.h"

#include <string.h>

const char *bi_version_name(bi_version v)
{
    return v == BI_VERSION_1_1 ? "1.1" : "1.0";
}

static const char *const message_type_names[BI_MSG_COUNT] = {
    [BI_MSG_JOIN_REQ] = "JoinReq",         [BI_MSG_JOIN_ANS] = "JoinAns",
    [BI_MSG_REJOIN_REQ] = "RejoinReq",     [BI_MSG_REJOIN_ANS] = "RejoinAns",
    [BI_MSG_APP_S_KEY_REQ] = "AppSKeyReq", [BI_MSG_APP_S_KEY_ANS] = "AppSKeyAns",
    [BI_MSG_HOME_NS_REQ] = "HomeNSReq",    [BI_MSG_HOME_NS_ANS] = "HomeNSAns",
    [BI_MSG_PR_START_REQ] = "PRStartReq",  [BI_MSG_PR_START_ANS] = "PRStartAns",
    [BI_MSG_PR_STOP_REQ] = "PRStopReq",    [BI_MSG_PR_STOP_ANS] = "PRStopAns",
    [BI_MSG_HR_START_REQ] = "HRStartReq",  [BI_MSG_HR_START_ANS] = "HRStartAns",
    [BI_MSG_HR_STOP_REQ] = "HRStopReq",    [BI_MSG_HR_STOP_ANS] = "HRStopAns",
    [BI_MSG_PROFILE_REQ] = "ProfileReq",   [BI_MSG_PROFILE_ANS] = "ProfileAns",
    [BI_MSG_XMIT_DATA_REQ] = "XmitDataReq", [BI_MSG_XMIT_DATA_ANS] = "XmitDataAns",
    [BI_MSG_PR_START_NOTIF] = "PRStartNotif",
};

const char *bi_message_type_name(bi_message_type t)
{
    return (unsigned)t < BI_MSG_COUNT ? message_type_names[t] : NULL;
}

bi_status bi_message_type_parse(const char *name, size_t len, bi_message_type *out)
{
    for (unsigned i = 0; i < BI_MSG_COUNT; i++) {
        if (strlen(message_type_names[i]) == len && memcmp(message_type_names[i], name, len) == 0) {
            *out = (bi_message_type)i;
            return BI_OK;
        }
    }
    return BI_ERR_MESSAGE_TYPE;
}

bool bi_message_type_is_request(bi_message_type t)
{
    /* requests and answers alternate in the enum, notifications come last */
    return t < BI_MSG_PR_START_NOTIF && (t % 2) == 0;
}

bi_status bi_message_type_answer(bi_message_type req, bi_message_type *ans)
{
    if (!bi_message_type_is_request(req))
        return BI_ERR_ARGUMENT;
    *ans = (bi_message_type)(req + 1);
    return BI_OK;
}

void bi_id_set_net_id(bi_id *id, uint32_t net_id)
{
    static const char digits[] = "0123456789ABCDEF";
    id->kind = BI_ID_NET_ID;
    id->value = net_id & 0xFFFFFFu;
    for (int i = 0; i < 6; i++)
        id->raw[i] = digits[(id->value >> (20 - 4 * i)) & 0xF];
    id->raw[6] = '\0';
}

void bi_id_set_eui(bi_id *id, uint64_t eui)
{
    static const char digits[] = "0123456789ABCDEF";
    id->kind = BI_ID_EUI;
    id->value = eui;
    for (int i = 0; i < 16; i++)
        id->raw[i] = digits[(eui >> (60 - 4 * i)) & 0xF];
    id->raw[16] = '\0';
}

bi_status bi_id_set_name(bi_id *id, const char *name)
{
    if (id == NULL || name == NULL)
        return BI_ERR_ARGUMENT;
    size_t len = strlen(name);
    if (len == 0 || len > BI_ID_MAX)
        return BI_ERR_ARGUMENT;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
            return BI_ERR_ARGUMENT;
    id->kind = BI_ID_NAME;
    id->value = 0;
    memcpy(id->raw, name, len + 1);
    return BI_OK;
}

static bool all_hex(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
            return false;
    }
    return true;
}

/* Reads SenderID/ReceiverID; the kind follows the text (see bi_header.h). */
bi_status bi_json_id(const json_t *root, const char *field, bi_id *id, bi_error *err)
{
    char raw[BI_ID_MAX + 1];
    memset(id, 0, sizeof(*id));
    bi_status st = bi_json_label(root, field, true, raw, BI_ID_MAX, err);
    if (st != BI_OK)
        return st;
    const char *digits = raw;
    size_t len = strlen(raw);
    if (len > 2 && raw[0] == '0' && (raw[1] == 'x' || raw[1] == 'X')) {
        digits += 2;
        len -= 2;
    }
    if ((len == 6 || len == 16) && all_hex(digits, len)) {
        st = bi_hex_be(digits, len, (unsigned)len / 2, &id->value, field, err);
        if (st != BI_OK)
            return st;
        id->kind = len == 6 ? BI_ID_NET_ID : BI_ID_EUI;
    } else {
        id->kind = BI_ID_NAME;
    }
    memcpy(id->raw, raw, sizeof(raw));
    return BI_OK;
}

static bi_status parse_token(const json_t *root, const char *field, bi_token *t, bi_error *err)
{
    return bi_json_hex(root, field, false, t->bytes, 1, BI_TOKEN_MAX, &t->len, err);
}

static bi_status parse_nsid(const json_t *root, const char *field, bi_version v, bool required, bool *has,
                            uint64_t *nsid, bi_error *err)
{
    *has = false;
    *nsid = 0;
    json_t *j = bi_json_get(root, field);
    if (v == BI_VERSION_1_0) {
        if (j != NULL)
            return bi_fail(err, BI_ERR_NSID, field, "not allowed with ProtocolVersion 1.0");
        return BI_OK;
    }
    if (j == NULL && required)
        return bi_fail(err, BI_ERR_NSID, field, "required with ProtocolVersion 1.1");
    return bi_json_be(root, field, false, 8, nsid, has, err);
}

bi_status bi_header_parse(const json_t *root, bi_header *h, bi_error *err)
{
    const char *s;
    size_t len;
    uint64_t v;
    memset(h, 0, sizeof(*h));
    h->version = BI_VERSION_1_0;
    err->answerable = false;

    bi_status st = bi_json_string(root, "MessageType", true, &s, &len, err);
    if (st != BI_OK)
        return st;
    if (bi_message_type_parse(s, len, &h->message_type) != BI_OK) {
        char shown[36];
        bi_printable(shown, sizeof(shown), s, len);
        return bi_fail(err, BI_ERR_MESSAGE_TYPE, "MessageType", "\"%s\" is not a Backend Interfaces message type",
                       shown);
    }
    if (!bi_message_type_is_request(h->message_type))
        return bi_fail(err, BI_ERR_UNSUPPORTED, "MessageType", "%s is not a request; a Join Server answers requests",
                       bi_message_type_name(h->message_type));
    if ((st = bi_json_id(root, "SenderID", &h->sender_id, err)) != BI_OK)
        return st;
    if ((st = bi_json_id(root, "ReceiverID", &h->receiver_id, err)) != BI_OK)
        return st;
    if ((st = bi_json_uint(root, "TransactionID", true, UINT32_MAX, &v, NULL, err)) != BI_OK)
        return st;
    h->transaction_id = (uint32_t)v;
    err->answerable = true;

    /* anything but "1.0" or "1.1", missing included, is InvalidProtocolVersion */
    json_t *pv = bi_json_get(root, "ProtocolVersion");
    if (json_is_string(pv) && strcmp(json_string_value(pv), "1.0") == 0) {
        h->version = BI_VERSION_1_0;
    } else if (json_is_string(pv) && strcmp(json_string_value(pv), "1.1") == 0) {
        h->version = BI_VERSION_1_1;
    } else if (json_is_string(pv)) {
        char shown[20];
        bi_printable(shown, sizeof(shown), json_string_value(pv), json_string_length(pv));
        return bi_fail(err, BI_ERR_VERSION, "ProtocolVersion", "\"%s\" is not supported (1.0 or 1.1)", shown);
    } else if (pv != NULL) {
        return bi_fail(err, BI_ERR_VERSION, "ProtocolVersion", "must be the string \"1.0\" or \"1.1\"");
    } else {
        return bi_fail(err, BI_ERR_VERSION, "ProtocolVersion", "required field is missing");
    }

    if ((st = parse_token(root, "SenderToken", &h->sender_token, err)) != BI_OK)
        return st;
    if ((st = parse_token(root, "ReceiverToken", &h->receiver_token, err)) != BI_OK)
        return st;
    /* In 1.1 a message from a network server names it; an AS has no NSID */
    bool from_ns = h->message_type != BI_MSG_APP_S_KEY_REQ;
    if ((st = parse_nsid(root, "SenderNSID", h->version, from_ns, &h->has_sender_nsid, &h->sender_nsid, err)) !=
        BI_OK)
        return st;
    if ((st = parse_nsid(root, "ReceiverNSID", h->version, false, &h->has_receiver_nsid, &h->receiver_nsid,
                         err)) != BI_OK)
        return st;

    json_t *vse = bi_json_get(root, "VSExtension");
    if (vse != NULL && !json_is_object(vse))
        return bi_fail(err, BI_ERR_TYPE, "VSExtension", "must be an object");
    return BI_OK;
}

bi_status bi_answer_header(const bi_header *req, bi_header *ans)
{
    if (req == NULL || ans == NULL)
        return BI_ERR_ARGUMENT;
    bi_message_type t;
    if (bi_message_type_answer(req->message_type, &t) != BI_OK)
        return BI_ERR_ARGUMENT;
    bi_header a;
    memset(&a, 0, sizeof(a));
    a.version = req->version;
    a.sender_id = req->receiver_id;
    a.receiver_id = req->sender_id;
    a.transaction_id = req->transaction_id;
    a.message_type = t;
    a.receiver_token = req->sender_token;
    if (req->version == BI_VERSION_1_1) {
        a.has_sender_nsid = req->has_receiver_nsid;
        a.sender_nsid = req->receiver_nsid;
        a.has_receiver_nsid = req->has_sender_nsid;
        a.receiver_nsid = req->sender_nsid;
    }
    *ans = a;
    return BI_OK;
}

static const char *const result_names[BI_RESULT_COUNT] = {
    [BI_RESULT_SUCCESS] = "Success",
    [BI_RESULT_MIC_FAILED] = "MICFailed",
    [BI_RESULT_JOIN_REQ_FAILED] = "JoinReqFailed",
    [BI_RESULT_NO_ROAMING_AGREEMENT] = "NoRoamingAgreement",
    [BI_RESULT_DEV_ROAMING_DISALLOWED] = "DevRoamingDisallowed",
    [BI_RESULT_ROAMING_ACT_DISALLOWED] = "RoamingActDisallowed",
    [BI_RESULT_ACTIVATION_DISALLOWED] = "ActivationDisallowed",
    [BI_RESULT_UNKNOWN_DEV_EUI] = "UnknownDevEUI",
    [BI_RESULT_UNKNOWN_DEV_ADDR] = "UnknownDevAddr",
    [BI_RESULT_UNKNOWN_SENDER] = "UnknownSender",
    [BI_RESULT_UNKNOWN_RECEIVER] = "UnkownReceiver", /* sic: the spec's spelling, which TTS sends */
    [BI_RESULT_DEFERRED] = "Deferred",
    [BI_RESULT_XMIT_FAILED] = "XmitFailed",
    [BI_RESULT_INVALID_FPORT] = "InvalidFPort",
    [BI_RESULT_INVALID_PROTOCOL_VERSION] = "InvalidProtocolVersion",
    [BI_RESULT_STALE_DEVICE_PROFILE] = "StaleDeviceProfile",
    [BI_RESULT_MALFORMED] = "MalformedRequest", /* 1.1: MalformedMessage */
    [BI_RESULT_FRAME_SIZE_ERROR] = "FrameSizeError",
    [BI_RESULT_OTHER] = "Other",
    [BI_RESULT_NO_ACTION] = "NoAction",
    [BI_RESULT_FRAME_REPLAYED] = "FrameReplayed",
};

const char *bi_result_code_name(bi_result_code c, bi_version v)
{
    if ((unsigned)c >= BI_RESULT_COUNT)
        return NULL;
    if (v == BI_VERSION_1_1)
        return c == BI_RESULT_MALFORMED ? "MalformedMessage" : result_names[c];
    if (v != BI_VERSION_1_0 || c == BI_RESULT_NO_ACTION || c == BI_RESULT_FRAME_REPLAYED)
        return NULL;
    return result_names[c];
}

bi_status bi_result_code_parse(const char *name, bi_result_code *out)
{
    if (name == NULL || out == NULL)
        return BI_ERR_ARGUMENT;
    if (strcmp(name, "MalformedMessage") == 0) {
        *out = BI_RESULT_MALFORMED;
        return BI_OK;
    }
    if (strcmp(name, "UnknownReceiver") == 0) {
        *out = BI_RESULT_UNKNOWN_RECEIVER;
        return BI_OK;
    }
    for (unsigned i = 0; i < BI_RESULT_COUNT; i++) {
        if (strcmp(result_names[i], name) == 0) {
            *out = (bi_result_code)i;
            return BI_OK;
        }
    }
    return BI_ERR_VALUE;
}

bi_result_code bi_error_result_code(const bi_error *err)
{
    switch (err->status) {
    case BI_ERR_VERSION:    return BI_RESULT_INVALID_PROTOCOL_VERSION;
    case BI_ERR_FRAME_SIZE: return BI_RESULT_FRAME_SIZE_ERROR;
    default:                return BI_RESULT_MALFORMED;
    }
}

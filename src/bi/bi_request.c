/*
 * bi_request.c - the four requests a Join Server serves, parsed into
 * bi_request, and written back for peers and tests.
 *
 * Roles are checked here rather than left to the server because they decide
 * how IDs are read: a JoinReq's SenderID is the NetID the join-accept will
 * carry, while an AppSKeyReq's SenderID is an AS-ID, a plain string even
 * when it happens to look like hex.
 */
#include "bi/bi_json.h"
#include "bi/bi_message.h"

#include <string.h>

static const char *const mac_names[BI_MAC_COUNT] = {"1.0.0", "1.0.1", "1.0.2", "1.0.3", "1.0.4", "1.1"};

const char *bi_mac_version_name(bi_mac_version v)
{
    return (unsigned)v < BI_MAC_COUNT ? mac_names[v] : NULL;
}

bi_status bi_mac_version_parse(const char *s, size_t len, bi_mac_version *out)
{
    if (s == NULL || out == NULL)
        return BI_ERR_ARGUMENT;
    if (len == 3 && memcmp(s, "1.0", 3) == 0) {
        *out = BI_MAC_1_0_0;
        return BI_OK;
    }
    /* ChirpStack v4 writes "1.1.0" (lrwn's MacVersion), and its own parser
     * reads "1.1" and "1.1.0" alike: so does ferry. */
    if (len == 5 && memcmp(s, "1.1.0", 5) == 0) {
        *out = BI_MAC_1_1;
        return BI_OK;
    }
    for (unsigned i = 0; i < BI_MAC_COUNT; i++) {
        if (strlen(mac_names[i]) == len && memcmp(mac_names[i], s, len) == 0) {
            *out = (bi_mac_version)i;
            return BI_OK;
        }
    }
    return BI_ERR_VALUE;
}

lw_mac_version bi_mac_version_lw(bi_mac_version v)
{
    return v == BI_MAC_1_1 ? LW_MAC_1_1 : LW_MAC_1_0;
}

static bi_status parse_mac_version(const json_t *root, const char *field, bi_mac_version *v, bi_error *err)
{
    const char *s;
    size_t len;
    bi_status st = bi_json_string(root, field, true, &s, &len, err);
    if (st != BI_OK)
        return st;
    if (bi_mac_version_parse(s, len, v) != BI_OK) {
        char shown[20];
        bi_printable(shown, sizeof(shown), s, len);
        return bi_fail(err, BI_ERR_VALUE, field, "\"%s\" is not 1.0, 1.0.0 to 1.0.4 or 1.1", shown);
    }
    return BI_OK;
}

static bi_status parse_join(const json_t *root, bool rejoin, bi_join_req *j, bi_error *err)
{
    uint64_t v;
    size_t n;
    bi_status st = parse_mac_version(root, "MACVersion", &j->mac_version, err);
    if (st != BI_OK)
        return st;
    const char *s;
    st = bi_json_string(root, "PHYPayload", true, &s, &n, err);
    if (st != BI_OK)
        return st;
    /* a size fault (empty, over 255 bytes, odd or not, as long as it is hex)
     * is FrameSizeError; a non-hex character is Malformed */
    size_t digits = n >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') ? n - 2 : n;
    if (digits == 0 || digits > 2 * LW_PHY_MAX)
        return bi_fail(err, BI_ERR_FRAME_SIZE, "PHYPayload", "%zu bytes, expected 1 to %d", (digits + 1) / 2,
                       LW_PHY_MAX);
    st = bi_hex_text(s, n, j->phy_payload, 1, LW_PHY_MAX, &j->phy_payload_len, "PHYPayload", err);
    if (st != BI_OK)
        return st;
    /* the sizes are fixed by the frame format; checked here so that a
     * truncated frame is FrameSizeError, not a MIC failure further on */
    n = j->phy_payload_len;
    if (!rejoin && n != LW_JOIN_REQUEST_LEN)
        return bi_fail(err, BI_ERR_FRAME_SIZE, "PHYPayload", "%zu bytes; a join-request has %d", n,
                       LW_JOIN_REQUEST_LEN);
    if (rejoin && n != LW_REJOIN_02_LEN && n != LW_REJOIN_1_LEN)
        return bi_fail(err, BI_ERR_FRAME_SIZE, "PHYPayload", "%zu bytes; a rejoin-request has %d or %d", n,
                       LW_REJOIN_02_LEN, LW_REJOIN_1_LEN);
    if ((st = bi_json_be(root, "DevEUI", true, 8, &j->dev_eui, NULL, err)) != BI_OK)
        return st;
    if ((st = bi_json_be(root, "DevAddr", true, 4, &v, NULL, err)) != BI_OK)
        return st;
    j->dev_addr = (uint32_t)v;
    if ((st = bi_json_be(root, "DLSettings", true, 1, &v, NULL, err)) != BI_OK)
        return st;
    j->dl_settings = (uint8_t)v;
    if ((st = bi_json_uint(root, "RxDelay", true, 15, &v, NULL, err)) != BI_OK)
        return st;
    j->rx_delay = (uint8_t)v;
    /* TTS sends "CFList": "" when there is none */
    st = bi_json_hex(root, "CFList", false, j->cflist, LW_CFLIST_LEN, LW_CFLIST_LEN, &n, err);
    if (st != BI_OK)
        return st;
    j->has_cflist = n == LW_CFLIST_LEN;
    return BI_OK;
}

static bi_status check_roles(bi_header *h, bi_error *err)
{
    if (h->receiver_id.kind != BI_ID_EUI)
        return bi_fail(err, BI_ERR_VALUE, "ReceiverID", "must be the Join Server's JoinEUI (16 hex digits)");
    if (h->message_type == BI_MSG_APP_S_KEY_REQ) {
        /* an AS-ID is a string, whatever it looks like */
        h->sender_id.kind = BI_ID_NAME;
        h->sender_id.value = 0;
        return BI_OK;
    }
    if (h->sender_id.kind != BI_ID_NET_ID)
        return bi_fail(err, BI_ERR_VALUE, "SenderID", "must be the network server's NetID (6 hex digits)");
    return BI_OK;
}

bi_status bi_request_parse(const void *body, size_t len, bi_request *req, bi_error *err)
{
    if (req == NULL || err == NULL)
        return BI_ERR_ARGUMENT;
    memset(err, 0, sizeof(*err));
    memset(req, 0, sizeof(*req));
    json_t *root;
    bi_status st = bi_json_load(body, len, &root, err);
    if (st != BI_OK)
        return st;
    st = bi_header_parse(root, &req->hdr, err);
    if (st == BI_OK)
        st = check_roles(&req->hdr, err);
    if (st == BI_OK) {
        switch (req->hdr.message_type) {
        case BI_MSG_JOIN_REQ:
            st = parse_join(root, false, &req->u.join, err);
            break;
        case BI_MSG_REJOIN_REQ:
            st = parse_join(root, true, &req->u.join, err);
            break;
        case BI_MSG_APP_S_KEY_REQ:
            st = bi_json_be(root, "DevEUI", true, 8, &req->u.app_s_key.dev_eui, NULL, err);
            if (st == BI_OK)
                st = bi_json_hex(root, "SessionKeyID", true, req->u.app_s_key.session_key_id, 1,
                                 BI_SESSION_KEY_ID_MAX, &req->u.app_s_key.session_key_id_len, err);
            break;
        case BI_MSG_HOME_NS_REQ:
            st = bi_json_be(root, "DevEUI", true, 8, &req->u.home_ns.dev_eui, NULL, err);
            break;
        default:
            st = bi_fail(err, BI_ERR_UNSUPPORTED, "MessageType", "%s is not served by a Join Server",
                         bi_message_type_name(req->hdr.message_type));
            break;
        }
    }
    json_decref(root);
    return st;
}

static bi_status build_join(json_t *o, const bi_join_req *j)
{
    const char *mac = bi_mac_version_name(j->mac_version);
    if (mac == NULL || j->phy_payload_len == 0 || j->phy_payload_len > LW_PHY_MAX || j->rx_delay > 15)
        return BI_ERR_ARGUMENT;
    bi_status st = bi_put_str(o, "MACVersion", mac);
    if (st == BI_OK) st = bi_put_hex(o, "PHYPayload", j->phy_payload, j->phy_payload_len);
    if (st == BI_OK) st = bi_put_be(o, "DevEUI", j->dev_eui, 8);
    if (st == BI_OK) st = bi_put_be(o, "DevAddr", j->dev_addr, 4);
    if (st == BI_OK) st = bi_put_be(o, "DLSettings", j->dl_settings, 1);
    if (st == BI_OK) st = bi_put_uint(o, "RxDelay", j->rx_delay);
    if (st == BI_OK && j->has_cflist) st = bi_put_hex(o, "CFList", j->cflist, LW_CFLIST_LEN);
    return st;
}

bi_status bi_request_build(const bi_request *req, char *out, size_t cap, size_t *out_len)
{
    if (req == NULL || out == NULL || out_len == NULL)
        return BI_ERR_ARGUMENT;
    json_t *o = json_object();
    if (o == NULL)
        return BI_ERR_NOMEM;
    bi_status st = bi_put_header(o, &req->hdr);
    if (st == BI_OK) {
        switch (req->hdr.message_type) {
        case BI_MSG_JOIN_REQ:
        case BI_MSG_REJOIN_REQ:
            st = build_join(o, &req->u.join);
            break;
        case BI_MSG_APP_S_KEY_REQ:
            if (req->u.app_s_key.session_key_id_len == 0 ||
                req->u.app_s_key.session_key_id_len > BI_SESSION_KEY_ID_MAX) {
                st = BI_ERR_ARGUMENT;
                break;
            }
            st = bi_put_be(o, "DevEUI", req->u.app_s_key.dev_eui, 8);
            if (st == BI_OK)
                st = bi_put_hex(o, "SessionKeyID", req->u.app_s_key.session_key_id,
                                req->u.app_s_key.session_key_id_len);
            break;
        case BI_MSG_HOME_NS_REQ:
            st = bi_put_be(o, "DevEUI", req->u.home_ns.dev_eui, 8);
            break;
        default:
            st = BI_ERR_ARGUMENT;
            break;
        }
    }
    if (st != BI_OK) {
        json_decref(o);
        return st;
    }
    return bi_json_dump(o, out, cap, out_len);
}

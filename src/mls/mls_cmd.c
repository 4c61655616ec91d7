/*
 * mls_cmd.c - encoding and decoding of MLS command, response and event bodies.
 *
 * Every body but the opaque secure command has one fixed length, so each
 * decoder first compares the length exactly (shorter: MLS_ERR_TRUNCATED,
 * longer: MLS_ERR_TOO_LONG) and only then reads fields at fixed offsets;
 * there is no length field in a body that could disagree with the message.
 * Validation lives in one function per struct (check_*) that both the encoder
 * and the decoder call, so the two can never drift apart.
 */
#include "mls/mls_cmd.h"
#include "mls/mls_bytes.h"
#include "lorawan/lw_secure.h"

#include <string.h>

#define LEN_STATUS     1
#define LEN_INSTALL    (2 + 8 + 8 + 1 + 1 + 2 + 2 + 2 * MLS_WRAPPED_LEN)  /* 72 */
#define LEN_PROFILE_ID 2
#define LEN_RENEW      (2 + 2 * MLS_WRAPPED_LEN)                          /* 50 */
#define LEN_ROTATE     (1 + MLS_WRAPPED_LEN)                              /* 25 */
#define LEN_BOOTSTRAP  1
#define LEN_RSP_HEAD   5   /* req_counter(4) | result(1) */
#define LEN_SE_STATUS  6
#define LEN_EVENT      7

static int all_zero(const uint8_t *p, size_t n)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= p[i];
    return acc == 0;
}

static mls_status check_length(size_t len, size_t want)
{
    if (len < want)
        return MLS_ERR_TRUNCATED;
    if (len > want)
        return MLS_ERR_TOO_LONG;
    return MLS_OK;
}

/* For 1.0.x the single root key travels as NwkKey and the AppKey slot is
 * zero; a non-zero AppKey there would be a server bug worth refusing. */
static mls_status check_install(const mls_profile_install *p)
{
    if (p->profile_id == 0 || (p->flags & ~MLS_INSTALL_ACTIVATE_NOW) != 0)
        return MLS_ERR_FORMAT;
    if (p->mac_version == MLS_MAC_1_0 || p->mac_version == MLS_MAC_1_0_4)
        return all_zero(p->app_key_wrapped, MLS_WRAPPED_LEN) ? MLS_OK : MLS_ERR_FORMAT;
    return p->mac_version == MLS_MAC_1_1 ? MLS_OK : MLS_ERR_FORMAT;
}

static mls_status check_cmd(const mls_cmd *c)
{
    switch (c->type) {
    case MLS_T_STATUS:    return MLS_OK;
    case MLS_T_INSTALL:   return check_install(&c->u.install);
    case MLS_T_ACTIVATE:  return c->u.activate.profile_id != 0 ? MLS_OK : MLS_ERR_FORMAT;
    case MLS_T_DELETE:    return c->u.remove.profile_id != 0 ? MLS_OK : MLS_ERR_FORMAT;
    case MLS_T_RENEW:     return c->u.renew.profile_id != 0 ? MLS_OK : MLS_ERR_FORMAT;
    case MLS_T_SECURE:
        return c->u.secure.len >= 1 && c->u.secure.len <= MLS_SECURE_MAX ? MLS_OK : MLS_ERR_FORMAT;
    case MLS_T_ROTATE:    return MLS_OK;
    case MLS_T_BOOTSTRAP: return (c->u.bootstrap.flags & ~MLS_BOOTSTRAP_ERASE) == 0 ? MLS_OK : MLS_ERR_FORMAT;
    default:              return MLS_ERR_TYPE;
    }
}

static size_t cmd_length(const mls_cmd *c)
{
    switch (c->type) {
    case MLS_T_STATUS:    return LEN_STATUS;
    case MLS_T_INSTALL:   return LEN_INSTALL;
    case MLS_T_ACTIVATE:
    case MLS_T_DELETE:    return LEN_PROFILE_ID;
    case MLS_T_RENEW:     return LEN_RENEW;
    case MLS_T_SECURE:    return c->u.secure.len;
    case MLS_T_ROTATE:    return LEN_ROTATE;
    default:              return LEN_BOOTSTRAP;
    }
}

mls_status mls_cmd_encode(const mls_cmd *cmd, uint8_t *out, size_t cap, size_t *len)
{
    if (cmd == NULL || out == NULL || len == NULL)
        return MLS_ERR_ARGUMENT;
    *len = 0;
    mls_status st = check_cmd(cmd);
    if (st != MLS_OK)
        return st;
    size_t n = cmd_length(cmd);
    if (cap < n)
        return MLS_ERR_BUFFER;
    const mls_profile_install *p = &cmd->u.install;
    switch (cmd->type) {
    case MLS_T_STATUS:
        out[0] = cmd->u.status.ack_event;
        break;
    case MLS_T_INSTALL:
        mls_put_be16(out, p->profile_id);
        mls_put_be64(out + 2, p->join_eui);
        mls_put_be64(out + 10, p->dev_eui);
        out[18] = p->mac_version;
        out[19] = p->flags;
        mls_put_be16(out + 20, p->max_join_attempts);
        mls_put_be16(out + 22, p->max_silence_hours);
        memcpy(out + 24, p->nwk_key_wrapped, MLS_WRAPPED_LEN);
        memcpy(out + 48, p->app_key_wrapped, MLS_WRAPPED_LEN);
        break;
    case MLS_T_ACTIVATE:
        mls_put_be16(out, cmd->u.activate.profile_id);
        break;
    case MLS_T_DELETE:
        mls_put_be16(out, cmd->u.remove.profile_id);
        break;
    case MLS_T_RENEW:
        mls_put_be16(out, cmd->u.renew.profile_id);
        memcpy(out + 2, cmd->u.renew.nwk_key_wrapped, MLS_WRAPPED_LEN);
        memcpy(out + 26, cmd->u.renew.app_key_wrapped, MLS_WRAPPED_LEN);
        break;
    case MLS_T_SECURE:
        if (cmd->u.secure.data == NULL)
            return MLS_ERR_ARGUMENT;
        memmove(out, cmd->u.secure.data, n);
        break;
    case MLS_T_ROTATE:
        out[0] = cmd->u.rotate.new_epoch;
        memcpy(out + 1, cmd->u.rotate.root_wrapped, MLS_WRAPPED_LEN);
        break;
    default:
        out[0] = cmd->u.bootstrap.flags;
        break;
    }
    *len = n;
    return MLS_OK;
}

mls_status mls_cmd_decode(uint8_t type, const uint8_t *body, size_t len, mls_cmd *cmd)
{
    if (cmd == NULL || (body == NULL && len != 0))
        return MLS_ERR_ARGUMENT;
    memset(cmd, 0, sizeof(*cmd));
    cmd->type = type;
    mls_status st;
    mls_profile_install *p = &cmd->u.install;
    switch (type) {
    case MLS_T_STATUS:
        if ((st = check_length(len, LEN_STATUS)) == MLS_OK)
            cmd->u.status.ack_event = body[0];
        break;
    case MLS_T_INSTALL:
        if ((st = check_length(len, LEN_INSTALL)) != MLS_OK)
            break;
        p->profile_id = mls_get_be16(body);
        p->join_eui = mls_get_be64(body + 2);
        p->dev_eui = mls_get_be64(body + 10);
        p->mac_version = body[18];
        p->flags = body[19];
        p->max_join_attempts = mls_get_be16(body + 20);
        p->max_silence_hours = mls_get_be16(body + 22);
        memcpy(p->nwk_key_wrapped, body + 24, MLS_WRAPPED_LEN);
        memcpy(p->app_key_wrapped, body + 48, MLS_WRAPPED_LEN);
        break;
    case MLS_T_ACTIVATE:
        if ((st = check_length(len, LEN_PROFILE_ID)) == MLS_OK)
            cmd->u.activate.profile_id = mls_get_be16(body);
        break;
    case MLS_T_DELETE:
        if ((st = check_length(len, LEN_PROFILE_ID)) == MLS_OK)
            cmd->u.remove.profile_id = mls_get_be16(body);
        break;
    case MLS_T_RENEW:
        if ((st = check_length(len, LEN_RENEW)) != MLS_OK)
            break;
        cmd->u.renew.profile_id = mls_get_be16(body);
        memcpy(cmd->u.renew.nwk_key_wrapped, body + 2, MLS_WRAPPED_LEN);
        memcpy(cmd->u.renew.app_key_wrapped, body + 26, MLS_WRAPPED_LEN);
        break;
    case MLS_T_SECURE:
        st = len == 0 ? MLS_ERR_TRUNCATED : len > MLS_SECURE_MAX ? MLS_ERR_TOO_LONG : MLS_OK;
        if (st == MLS_OK) {
            cmd->u.secure.len = (uint16_t)len;
            cmd->u.secure.data = body;
        }
        break;
    case MLS_T_ROTATE:
        if ((st = check_length(len, LEN_ROTATE)) != MLS_OK)
            break;
        cmd->u.rotate.new_epoch = body[0];
        memcpy(cmd->u.rotate.root_wrapped, body + 1, MLS_WRAPPED_LEN);
        break;
    case MLS_T_BOOTSTRAP:
        if ((st = check_length(len, LEN_BOOTSTRAP)) == MLS_OK)
            cmd->u.bootstrap.flags = body[0];
        break;
    default:
        st = MLS_ERR_TYPE;
        break;
    }
    if (st == MLS_OK)
        st = check_cmd(cmd);
    if (st != MLS_OK) {
        lw_secure_wipe(cmd, sizeof(*cmd));
        cmd->type = 0;
    }
    return st;
}

static int is_command_type(uint8_t t)
{
    return t >= MLS_T_STATUS && t <= MLS_T_BOOTSTRAP;
}

/* Data follows the result only for a successful status or secure command. */
static size_t rsp_data_length(const mls_rsp *r)
{
    if (r->result != MLS_R_OK)
        return 0;
    if (r->type == MLS_T_STATUS)
        return LEN_SE_STATUS;
    if (r->type == MLS_T_SECURE)
        return r->u.secure.len;
    return 0;
}

mls_status mls_rsp_encode(const mls_rsp *rsp, uint8_t *out, size_t cap, size_t *len)
{
    if (rsp == NULL || out == NULL || len == NULL)
        return MLS_ERR_ARGUMENT;
    *len = 0;
    if (!is_command_type(rsp->type))
        return MLS_ERR_TYPE;
    if (rsp->result > MLS_R_REJECTED)
        return MLS_ERR_FORMAT;
    if (rsp->type == MLS_T_SECURE && rsp->result == MLS_R_OK && rsp->u.secure.len > MLS_SECURE_MAX)
        return MLS_ERR_FORMAT;
    if (rsp->type == MLS_T_SECURE && rsp->result == MLS_R_OK && rsp->u.secure.len > 0 && rsp->u.secure.data == NULL)
        return MLS_ERR_ARGUMENT;
    if (rsp->type == MLS_T_STATUS && rsp->result == MLS_R_OK && rsp->u.status.state > 1)
        return MLS_ERR_FORMAT;
    size_t n = LEN_RSP_HEAD + rsp_data_length(rsp);
    if (cap < n)
        return MLS_ERR_BUFFER;
    mls_put_be32(out, rsp->req_counter);
    out[4] = rsp->result;
    if (rsp->result == MLS_R_OK && rsp->type == MLS_T_STATUS) {
        out[5] = rsp->u.status.state;
        mls_put_be16(out + 6, rsp->u.status.active_profile);
        mls_put_be16(out + 8, rsp->u.status.staged_profile);
        out[10] = rsp->u.status.pending_event;
    } else if (rsp->result == MLS_R_OK && rsp->type == MLS_T_SECURE && rsp->u.secure.len > 0) {
        /* memmove: an element builds the reply where it will be sealed. */
        memmove(out + LEN_RSP_HEAD, rsp->u.secure.data, rsp->u.secure.len);
    }
    *len = n;
    return MLS_OK;
}

mls_status mls_rsp_decode(uint8_t msg_type, const uint8_t *body, size_t len, mls_rsp *rsp)
{
    if (rsp == NULL || (body == NULL && len != 0))
        return MLS_ERR_ARGUMENT;
    memset(rsp, 0, sizeof(*rsp));
    if ((msg_type & 0xC0) != MLS_T_RESPONSE || !is_command_type(msg_type & 0x3F))
        return MLS_ERR_TYPE;
    if (len < LEN_RSP_HEAD)
        return MLS_ERR_TRUNCATED;
    mls_rsp r;
    memset(&r, 0, sizeof(r));
    r.type = msg_type & 0x3F;
    r.req_counter = mls_get_be32(body);
    r.result = body[4];
    if (r.result > MLS_R_REJECTED)
        return MLS_ERR_FORMAT;
    size_t data = len - LEN_RSP_HEAD;
    mls_status st = MLS_OK;
    if (r.result == MLS_R_OK && r.type == MLS_T_STATUS) {
        st = check_length(data, LEN_SE_STATUS);
        if (st == MLS_OK) {
            r.u.status.state = body[5];
            r.u.status.active_profile = mls_get_be16(body + 6);
            r.u.status.staged_profile = mls_get_be16(body + 8);
            r.u.status.pending_event = body[10];
            if (r.u.status.state > 1)
                st = MLS_ERR_FORMAT;
        }
    } else if (r.result == MLS_R_OK && r.type == MLS_T_SECURE) {
        if (data > MLS_SECURE_MAX) {
            st = MLS_ERR_TOO_LONG;
        } else {
            r.u.secure.len = (uint16_t)data;
            r.u.secure.data = body + LEN_RSP_HEAD;
        }
    } else if (data != 0) {
        st = MLS_ERR_TOO_LONG;
    }
    if (st == MLS_OK)
        *rsp = r;
    lw_secure_wipe(&r, sizeof(r));
    return st;
}

static mls_status check_event(const mls_event *ev)
{
    if (ev->event_id == 0 || ev->code != MLS_EVENT_FALLBACK)
        return MLS_ERR_FORMAT;
    if (ev->reason < MLS_FALLBACK_JOINS || ev->reason > MLS_FALLBACK_COMMAND)
        return MLS_ERR_FORMAT;
    return MLS_OK;
}

mls_status mls_event_encode(const mls_event *ev, uint8_t *out, size_t cap, size_t *len)
{
    if (ev == NULL || out == NULL || len == NULL)
        return MLS_ERR_ARGUMENT;
    *len = 0;
    mls_status st = check_event(ev);
    if (st != MLS_OK)
        return st;
    if (cap < LEN_EVENT)
        return MLS_ERR_BUFFER;
    out[0] = ev->event_id;
    out[1] = ev->code;
    mls_put_be16(out + 2, ev->profile_id);
    out[4] = ev->reason;
    mls_put_be16(out + 5, ev->join_attempts);
    *len = LEN_EVENT;
    return MLS_OK;
}

mls_status mls_event_decode(const uint8_t *body, size_t len, mls_event *ev)
{
    if (ev == NULL || (body == NULL && len != 0))
        return MLS_ERR_ARGUMENT;
    memset(ev, 0, sizeof(*ev));
    mls_status st = check_length(len, LEN_EVENT);
    if (st != MLS_OK)
        return st;
    mls_event e = {
        .event_id = body[0],
        .code = body[1],
        .profile_id = mls_get_be16(body + 2),
        .reason = body[4],
        .join_attempts = mls_get_be16(body + 5),
    };
    st = check_event(&e);
    if (st == MLS_OK)
        *ev = e;
    return st;
}

const char *mls_type_name(uint8_t type)
{
    static const char *const cmd[] = {"status", "install", "activate", "delete",
                                      "renew", "secure", "rotate", "bootstrap"};
    static const char *const rsp[] = {"response:status", "response:install", "response:activate",
                                      "response:delete", "response:renew", "response:secure",
                                      "response:rotate", "response:bootstrap"};
    if (is_command_type(type))
        return cmd[type - 1];
    if ((type & 0xC0) == MLS_T_RESPONSE && is_command_type(type & 0x3F))
        return rsp[(type & 0x3F) - 1];
    if (type == MLS_T_EVENT)
        return "event";
    return "unknown";
}

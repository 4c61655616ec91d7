/*
 * se_client.c - typed secure element calls over an APDU transport.
 *
 * The encoders here are the mirror of se_apdu.c; test_se_apdu.c drives both
 * through every command so that the two cannot disagree.
 */
#include "sehost/se_client.h"
#include "lorawan/lw_frame.h"
#include "lorawan/lw_secure.h"
#include "sehost/se_io.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* ---- transports ---------------------------------------------------- */

static se_status local_transmit(void *ctx, const uint8_t *cmd, size_t len, uint8_t *resp, size_t cap,
                                size_t *resp_len)
{
    se_client *c = ctx;
    (void)se_apdu_process(c->local, cmd, len, resp, cap, resp_len);
    return SE_OK;   /* the element's verdict is in the status word */
}

static void local_close(void *ctx)
{
    (void)ctx;
}

static const se_transport_class local_class = {.transmit = local_transmit, .close = local_close};

void se_client_open_local(se_client *c, se *e)
{
    memset(c, 0, sizeof(*c));
    c->cls = &local_class;
    c->ctx = c;
    c->fd = -1;
    c->local = e;
}

/* Frames: 2-byte big-endian length, then that many bytes. */
static se_status socket_transmit(void *ctx, const uint8_t *cmd, size_t len, uint8_t *resp, size_t cap,
                                 size_t *resp_len)
{
    se_client *c = ctx;
    uint8_t hdr[2];
    if (len > 0xFFFF)
        return SE_ERR_LENGTH;
    lw_put_be(hdr, len, 2);
    if (se_io_write_full(c->fd, hdr, 2) != 0 || se_io_write_full(c->fd, cmd, len) != 0)
        return SE_ERR_NVM;
    if (se_io_read_full(c->fd, hdr, 2) != 0)
        return SE_ERR_NVM;
    size_t n = (size_t)lw_get_be(hdr, 2);
    if (n < 2 || n > cap)
        return SE_ERR_BUFFER;
    if (se_io_read_full(c->fd, resp, n) != 0)
        return SE_ERR_NVM;
    *resp_len = n;
    return SE_OK;
}

static void socket_close(void *ctx)
{
    se_client *c = ctx;
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

static const se_transport_class socket_class = {.transmit = socket_transmit, .close = socket_close};

se_status se_client_open_socket(se_client *c, const char *path)
{
    memset(c, 0, sizeof(*c));
    c->fd = -1;
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    if (path == NULL || strlen(path) >= sizeof(addr.sun_path))
        return SE_ERR_ARGUMENT;
    strcpy(addr.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return SE_ERR_NVM;
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return SE_ERR_NVM;
    }
    c->cls = &socket_class;
    c->ctx = c;
    c->fd = fd;
    return SE_OK;
}

void se_client_close(se_client *c)
{
    if (c != NULL && c->cls != NULL)
        c->cls->close(c->ctx);
}

se_status se_client_transmit(se_client *c, const uint8_t *cmd, size_t len, uint8_t *resp, size_t cap,
                             size_t *resp_len)
{
    if (c == NULL || c->cls == NULL || resp == NULL || resp_len == NULL)
        return SE_ERR_ARGUMENT;
    uint8_t buf[SE_APDU_MAX_RESPONSE];
    size_t n = 0;
    se_status st = c->cls->transmit(c->ctx, cmd, len, buf, sizeof(buf), &n);
    if (st == SE_OK && n < 2)
        st = SE_ERR_LENGTH;
    if (st == SE_OK) {
        st = se_status_from_sw((uint16_t)lw_get_be(buf + n - 2, 2));
        if (st == SE_OK && n - 2 > cap)
            st = SE_ERR_BUFFER;
        if (st == SE_OK) {
            memcpy(resp, buf, n - 2);
            *resp_len = n - 2;
        }
    }
    LW_WIPE(buf);
    return st;
}

/* Builds CLA INS P1 P2 [Lc data] Le=00 into cmd and transmits. */
static se_status call2(se_client *c, uint8_t ins, uint8_t p1, uint8_t p2, const uint8_t *data, size_t len,
                       uint8_t *resp, size_t cap, size_t *resp_len);

static se_status call(se_client *c, uint8_t ins, uint8_t p1, const uint8_t *data, size_t len, uint8_t *resp,
                      size_t cap, size_t *resp_len)
{
    return call2(c, ins, p1, 0, data, len, resp, cap, resp_len);
}

static se_status call2(se_client *c, uint8_t ins, uint8_t p1, uint8_t p2, const uint8_t *data, size_t len,
                       uint8_t *resp, size_t cap, size_t *resp_len)
{
    uint8_t cmd[5 + 255 + 1];
    if (len > 255)
        return SE_ERR_LENGTH;
    cmd[0] = SE_CLA;
    cmd[1] = ins;
    cmd[2] = p1;
    cmd[3] = p2;
    size_t n = 4;
    if (len > 0) {
        cmd[4] = (uint8_t)len;
        memcpy(cmd + 5, data, len);
        n = 5 + len;
    }
    cmd[n++] = 0;   /* Le: up to 256 */
    se_status st = se_client_transmit(c, cmd, n, resp, cap, resp_len);
    LW_WIPE(cmd);
    return st;
}

se_status se_client_get_info(se_client *c, se_info *out)
{
    uint8_t r[256];
    size_t n = 0;
    se_status st = call(c, SE_INS_GET_INFO, 0, NULL, 0, r, sizeof(r), &n);
    if (st != SE_OK)
        return st;
    if (n != SE_INFO_LEN)
        return SE_ERR_LENGTH;
    memset(out, 0, sizeof(*out));
    out->lifecycle = r[0];
    out->dev_eui = lw_get_be(r + 1, 8);
    out->serial = lw_get_be(r + 9, 8);
    out->active_slot = r[17];
    out->active_profile_id = r[18];
    out->join_eui = lw_get_be(r + 19, 8);
    out->mac_version = r[27];
    out->on_trial = (r[28] & 0x01) != 0;
    out->joined = (r[28] & 0x02) != 0;
    out->join_attempts = r[29];
    out->staged_slot = r[30];
    out->next_dev_nonce = (uint32_t)lw_get_be(r + 31, 3);
    out->dev_addr = (uint32_t)lw_get_be(r + 34, 4);
    out->fcnt_up = (uint32_t)lw_get_be(r + 38, 4);
    out->nfcnt_down = (uint32_t)lw_get_be(r + 42, 4);
    out->afcnt_down = (uint32_t)lw_get_be(r + 46, 4);
    out->mls_epoch = r[50];
    out->mls_down_counter = (uint32_t)lw_get_be(r + 51, 4);
    out->net_id = (uint32_t)lw_get_be(r + 55, 3);
    out->has_join_nonce = (r[28] & SE_INFO_HAS_JOIN_NONCE) != 0;
    out->last_join_nonce = (uint32_t)lw_get_be(r + 58, 3);
    return SE_OK;
}

se_status se_client_personalise(se_client *c, const se_personalisation *p)
{
    uint8_t d[SE_PERSONALISE_LEN], r[8];
    size_t n = 0;
    lw_put_be(d, p->dev_eui, 8);
    lw_put_be(d + 8, p->serial, 8);
    lw_put_be(d + 16, p->join_eui, 8);
    d[24] = p->mac_version;
    memcpy(d + 25, p->nwk_key_wrapped, 24);
    memcpy(d + 49, p->app_key_wrapped, 24);
    memcpy(d + 73, p->mls_key_wrapped, 24);
    se_status st = call(c, SE_INS_PERSONALISE, 0, d, sizeof(d), r, sizeof(r), &n);
    LW_WIPE(d);
    return st;
}

se_status se_client_join_request(se_client *c, uint8_t out[LW_JOIN_REQUEST_LEN])
{
    uint8_t r[64];
    size_t n = 0;
    se_status st = call(c, SE_INS_JOIN_REQUEST, 0, NULL, 0, r, sizeof(r), &n);
    if (st == SE_OK && n != LW_JOIN_REQUEST_LEN)
        st = SE_ERR_LENGTH;
    if (st == SE_OK)
        memcpy(out, r, LW_JOIN_REQUEST_LEN);
    return st;
}

se_status se_client_rejoin_request(se_client *c, lw_rejoin_type type, uint8_t *out, size_t cap, size_t *len)
{
    return call(c, SE_INS_REJOIN_REQUEST, (uint8_t)type, NULL, 0, out, cap, len);
}

se_status se_client_join_accept(se_client *c, const uint8_t *phy, size_t len, se_join_result *out)
{
    uint8_t r[64];
    size_t n = 0;
    se_status st = call(c, SE_INS_JOIN_ACCEPT, 0, phy, len, r, sizeof(r), &n);
    if (st != SE_OK)
        return st;
    if (n != 10 && n != 10 + LW_CFLIST_LEN)
        return SE_ERR_LENGTH;
    memset(out, 0, sizeof(*out));
    out->dev_addr = (uint32_t)lw_get_be(r, 4);
    out->net_id = (uint32_t)lw_get_be(r + 4, 3);
    out->dl_settings = r[7];
    out->rx_delay = r[8];
    out->mac_version = r[9];
    out->has_cflist = (n > 10);
    if (out->has_cflist)
        memcpy(out->cflist, r + 10, LW_CFLIST_LEN);
    return SE_OK;
}

se_status se_client_protect_uplink(se_client *c, const se_uplink *up, uint8_t *out, size_t cap, size_t *len)
{
    uint8_t d[255];
    if (up->fopts_len > LW_FOPTS_MAX || 7u + up->fopts_len + up->payload_len > sizeof(d))
        return SE_ERR_LENGTH;
    d[0] = (uint8_t)((up->confirmed ? SE_UP_CONFIRMED : 0) | (up->adr ? SE_UP_ADR : 0) |
                     (up->adr_ack_req ? SE_UP_ADR_ACK_REQ : 0) | (up->ack ? SE_UP_ACK : 0) |
                     (up->class_b ? SE_UP_CLASS_B : 0) | (up->has_fport ? SE_UP_HAS_FPORT : 0));
    d[1] = up->fport;
    lw_put_be(d + 2, up->conf_fcnt, 2);
    d[4] = up->tx_dr;
    d[5] = up->tx_ch;
    d[6] = up->fopts_len;
    if (up->fopts_len > 0)
        memcpy(d + 7, up->fopts, up->fopts_len);
    if (up->payload_len > 0)
        memcpy(d + 7 + up->fopts_len, up->payload, up->payload_len);
    se_status st = call(c, SE_INS_PROTECT_UPLINK, 0, d, 7u + up->fopts_len + up->payload_len, out, cap, len);
    LW_WIPE(d);
    return st;
}

se_status se_client_unprotect_downlink(se_client *c, const uint8_t *phy, size_t len, uint8_t *out_buf, size_t cap,
                                       se_downlink *out)
{
    uint8_t r[256];
    size_t n = 0;
    se_status st = call(c, SE_INS_UNPROTECT_DOWNLINK, 0, phy, len, r, sizeof(r), &n);
    if (st == SE_OK && (n < 7 || 7u + r[6] > n))
        st = SE_ERR_LENGTH;
    if (st == SE_OK && n - 7 > cap)
        st = SE_ERR_BUFFER;
    if (st == SE_OK) {
        memset(out, 0, sizeof(*out));
        out->mls = (r[0] & SE_DOWN_MLS) != 0;
        out->secure_pending = (r[0] & SE_DOWN_SECURE) != 0;
        out->confirmed = (r[0] & SE_DOWN_CONFIRMED) != 0;
        out->ack = (r[0] & SE_DOWN_ACK) != 0;
        out->f_pending = (r[0] & SE_DOWN_F_PENDING) != 0;
        out->adr = (r[0] & SE_DOWN_ADR) != 0;
        out->has_fport = (r[0] & SE_DOWN_HAS_FPORT) != 0;
        out->fcnt = (uint32_t)lw_get_be(r + 1, 4);
        out->fport = r[5];
        out->fopts_len = r[6];
        memcpy(out_buf, r + 7, n - 7);
        out->fopts = out_buf;
        out->payload = out_buf + out->fopts_len;
        out->payload_len = n - 7 - out->fopts_len;
    }
    LW_WIPE(r);
    return st;
}

se_status se_client_set_time(se_client *c, uint32_t now)
{
    uint8_t d[4], r[8];
    size_t n = 0;
    lw_put_be(d, now, 4);
    return call(c, SE_INS_SET_TIME, 0, d, sizeof(d), r, sizeof(r), &n);
}

se_status se_client_mls_uplink(se_client *c, size_t frame_max, uint8_t *out, size_t *len)
{
    if (frame_max > 255)
        return SE_ERR_ARGUMENT;
    return call(c, SE_INS_MLS_UPLINK, (uint8_t)frame_max, NULL, 0, out, frame_max, len);
}

se_status se_client_secure_command(se_client *c, uint8_t *out, size_t cap, size_t *len)
{
    size_t total = 0;
    for (;;) {
        uint8_t r[256];
        size_t n = 0;
        se_status st = call2(c, SE_INS_SECURE_GET, (uint8_t)(total >> 8), (uint8_t)total, NULL, 0, r, sizeof(r), &n);
        if (st != SE_OK)
            return st;
        if (n > cap - total)
            return SE_ERR_BUFFER;
        memcpy(out + total, r, n);
        total += n;
        if (n < SE_SECURE_CHUNK)
            break;
    }
    *len = total;
    return SE_OK;
}

se_status se_client_secure_reply(se_client *c, bool accepted, const uint8_t *reply, size_t len)
{
    size_t off = 0;
    do {
        size_t chunk = len - off < SE_SECURE_CHUNK ? len - off : SE_SECURE_CHUNK;
        bool last = off + chunk == len;
        uint8_t r[8];
        size_t n = 0;
        se_status st = call2(c, SE_INS_SECURE_REPLY, accepted ? 0 : 1, last ? 1 : 0,
                             chunk > 0 ? reply + off : NULL, chunk, r, sizeof(r), &n);
        if (st != SE_OK)
            return st;
        off += chunk;
    } while (off < len);
    return SE_OK;
}

/* ---- LoRaMac-node's commands ------------------------------------------ */

/* A command whose answer has exactly `want` bytes. */
static se_status call_exact(se_client *c, uint8_t ins, uint8_t p1, uint8_t p2, const uint8_t *data, size_t len,
                            uint8_t *out, size_t want)
{
    uint8_t r[256];
    size_t n = 0;
    se_status st = call2(c, ins, p1, p2, data, len, r, sizeof(r), &n);
    if (st == SE_OK && n != want)
        st = SE_ERR_LENGTH;
    if (st == SE_OK && want > 0)
        memcpy(out, r, want);
    LW_WIPE(r);
    return st;
}

se_status se_client_join_request_mic(se_client *c, const uint8_t frame[LW_JOIN_REQUEST_LEN - LW_MIC_LEN],
                                     uint8_t mic[LW_MIC_LEN])
{
    return call_exact(c, SE_INS_JOIN_REQUEST, SE_P_HOST_FRAME, 0, frame, LW_JOIN_REQUEST_LEN - LW_MIC_LEN, mic,
                      LW_MIC_LEN);
}

se_status se_client_rejoin_request_mic(se_client *c, lw_rejoin_type type, const uint8_t *frame, size_t len,
                                       uint8_t mic[LW_MIC_LEN])
{
    return call_exact(c, SE_INS_REJOIN_REQUEST, (uint8_t)type, SE_P_HOST_FRAME, frame, len, mic, LW_MIC_LEN);
}

se_status se_client_join_accept_frame(se_client *c, const uint8_t *phy, size_t len, uint8_t *plain)
{
    return call_exact(c, SE_INS_JOIN_ACCEPT, SE_P_HOST_FRAME, 0, phy, len, plain, len);
}

/* fields | msg [| mic] into one data field. */
static se_status keyed(se_client *c, uint8_t ins, uint8_t key_id, uint8_t p2, const uint8_t *fields,
                       const uint8_t *msg, size_t len, const uint8_t *mic, uint8_t *out, size_t want)
{
    uint8_t d[255];
    size_t tail = mic != NULL ? LW_MIC_LEN : 0;
    if (len > sizeof(d) - SE_BLOCK_FIELDS - tail)
        return SE_ERR_LENGTH;
    memcpy(d, fields, SE_BLOCK_FIELDS);
    if (len > 0)
        memcpy(d + SE_BLOCK_FIELDS, msg, len);
    if (tail > 0)
        memcpy(d + SE_BLOCK_FIELDS + len, mic, tail);
    se_status st = call_exact(c, ins, key_id, p2, d, SE_BLOCK_FIELDS + len + tail, out, want);
    LW_WIPE(d);
    return st;
}

se_status se_client_keyed_cmac(se_client *c, uint8_t key_id, const uint8_t fields[SE_BLOCK_FIELDS],
                               const uint8_t *msg, size_t len, uint8_t mic[LW_MIC_LEN])
{
    return keyed(c, SE_INS_KEYED_CMAC, key_id, 0, fields, msg, len, NULL, mic, LW_MIC_LEN);
}

se_status se_client_keyed_verify(se_client *c, uint8_t key_id, const uint8_t fields[SE_BLOCK_FIELDS],
                                 const uint8_t *msg, size_t len, const uint8_t mic[LW_MIC_LEN])
{
    return keyed(c, SE_INS_KEYED_CMAC, key_id, SE_P_VERIFY, fields, msg, len, mic, NULL, 0);
}

se_status se_client_key_stream(se_client *c, uint8_t key_id, const uint8_t fields[SE_BLOCK_FIELDS], uint8_t index,
                               uint8_t out[16])
{
    return keyed(c, SE_INS_KEY_STREAM, key_id, index, fields, NULL, 0, NULL, out, 16);
}

se_status se_client_mc_setup(se_client *c, unsigned group, uint8_t root_type, const uint8_t enc[16], uint32_t addr)
{
    uint8_t d[20];
    if (group > 0xFF)
        return SE_ERR_ARGUMENT;
    memcpy(d, enc, 16);
    lw_put_be(d + 16, addr, 4);
    return call_exact(c, SE_INS_MC_SETUP, (uint8_t)group, root_type, d, sizeof(d), NULL, 0);
}

se_status se_client_mls_downlink(se_client *c, const uint8_t *payload, size_t len, uint8_t *flags)
{
    return call_exact(c, SE_INS_MLS_DOWNLINK, 0, 0, payload, len, flags, 1);
}

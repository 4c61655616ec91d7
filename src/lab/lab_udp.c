/*
 * lab_udp.c - the packet-forwarder protocol codec (see lab_udp.h).
 *
 * The binary header is split by hand with explicit lengths; the JSON parts
 * go through jansson with JSON_REJECT_DUPLICATES, and each field is checked
 * for type and range before it lands in a struct, so that the network
 * server never looks at raw datagram bytes again.
 */
#include "lab/lab_udp.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static bool json_part_ok(const uint8_t *p, size_t len)
{
    return len >= 2 && p[0] == '{' && p[len - 1] == '}';
}

lab_status lab_udp_decode(const uint8_t *d, size_t len, lab_udp_packet *out)
{
    if (d == NULL || out == NULL)
        return LAB_ERR_ARGUMENT;
    memset(out, 0, sizeof(*out));
    if (len < LAB_UDP_HDR_LEN)
        return LAB_ERR_FORMAT;
    if (d[0] != LAB_UDP_VERSION)
        return LAB_ERR_VERSION;
    out->token = (uint16_t)((d[1] << 8) | d[2]);
    out->type = (lab_udp_type)d[3];
    switch (d[3]) {
    case LAB_UDP_PUSH_ACK:
    case LAB_UDP_PULL_ACK:
        return len == LAB_UDP_HDR_LEN ? LAB_OK : LAB_ERR_FORMAT;
    case LAB_UDP_PULL_DATA:
        if (len != LAB_UDP_GW_HDR_LEN)
            return LAB_ERR_FORMAT;
        out->gateway_eui = lw_get_be(d + 4, 8);
        return LAB_OK;
    case LAB_UDP_PUSH_DATA:
    case LAB_UDP_TX_ACK:
        if (len < LAB_UDP_GW_HDR_LEN)
            return LAB_ERR_FORMAT;
        out->gateway_eui = lw_get_be(d + 4, 8);
        out->json = d + LAB_UDP_GW_HDR_LEN;
        out->json_len = len - LAB_UDP_GW_HDR_LEN;
        /* Some forwarders end TX_ACK's JSON with a NUL; tolerate exactly one. */
        if (out->json_len > 0 && out->json[out->json_len - 1] == 0)
            out->json_len--;
        if (d[3] == LAB_UDP_TX_ACK && out->json_len == 0)
            return LAB_OK;
        return json_part_ok(out->json, out->json_len) ? LAB_OK : LAB_ERR_FORMAT;
    case LAB_UDP_PULL_RESP:
        out->json = d + LAB_UDP_HDR_LEN;
        out->json_len = len - LAB_UDP_HDR_LEN;
        return json_part_ok(out->json, out->json_len) ? LAB_OK : LAB_ERR_FORMAT;
    default:
        return LAB_ERR_FORMAT;
    }
}

lab_status lab_udp_encode(const lab_udp_packet *p, uint8_t *out, size_t cap, size_t *out_len)
{
    if (p == NULL || out == NULL || out_len == NULL)
        return LAB_ERR_ARGUMENT;
    bool has_gw = p->type == LAB_UDP_PUSH_DATA || p->type == LAB_UDP_PULL_DATA || p->type == LAB_UDP_TX_ACK;
    bool needs_json = p->type == LAB_UDP_PUSH_DATA || p->type == LAB_UDP_PULL_RESP;
    bool may_json = needs_json || p->type == LAB_UDP_TX_ACK;
    if (p->type > LAB_UDP_TX_ACK || (needs_json && p->json_len == 0) || (!may_json && p->json_len != 0) ||
        (p->json_len != 0 && p->json == NULL))
        return LAB_ERR_ARGUMENT;
    size_t need = (has_gw ? LAB_UDP_GW_HDR_LEN : LAB_UDP_HDR_LEN) + p->json_len;
    if (need > cap || need > LAB_UDP_MAX)
        return LAB_ERR_BUFFER;
    out[0] = LAB_UDP_VERSION;
    out[1] = (uint8_t)(p->token >> 8);
    out[2] = (uint8_t)p->token;
    out[3] = (uint8_t)p->type;
    size_t off = LAB_UDP_HDR_LEN;
    if (has_gw) {
        lw_put_be(out + off, p->gateway_eui, 8);
        off += 8;
    }
    if (p->json_len)
        memcpy(out + off, p->json, p->json_len);
    *out_len = need;
    return LAB_OK;
}

/* ---- base64 ----------------------------------------------------------- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

lab_status lab_base64_decode(const char *in, size_t len, uint8_t *out, size_t cap, size_t *out_len)
{
    if (in == NULL || out_len == NULL || (out == NULL && cap))
        return LAB_ERR_ARGUMENT;
    /* Padding: at most two '=' and only at the end, on a 4-character group. */
    size_t pad = 0;
    while (len > 0 && in[len - 1] == '=' && pad < 2) {
        len--;
        pad++;
    }
    if (pad && (len + pad) % 4 != 0)
        return LAB_ERR_FORMAT;
    if (len % 4 == 1)
        return LAB_ERR_FORMAT;
    size_t n = 0;
    uint32_t acc = 0;
    unsigned bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64_value(in[i]);
        if (v < 0)
            return LAB_ERR_FORMAT;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n >= cap)
                return LAB_ERR_BUFFER;
            out[n++] = (uint8_t)(acc >> bits);
        }
    }
    /* Leftover bits must be zero (canonical encoding). */
    if (bits && (acc & ((1u << bits) - 1)) != 0)
        return LAB_ERR_FORMAT;
    *out_len = n;
    return LAB_OK;
}

lab_status lab_base64_encode(const uint8_t *in, size_t len, char *out, size_t cap)
{
    if ((in == NULL && len) || out == NULL)
        return LAB_ERR_ARGUMENT;
    size_t need = (len + 2) / 3 * 4 + 1;
    if (cap < need)
        return LAB_ERR_BUFFER;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < len)
            v |= in[i + 2];
        out[o++] = b64[(v >> 18) & 63];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = i + 1 < len ? b64[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? b64[v & 63] : '=';
    }
    out[o] = 0;
    return LAB_OK;
}

/* ---- JSON fields -------------------------------------------------------- */

lab_status lab_udp_datr_parse(const char *s, uint8_t *sf, uint16_t *bw)
{
    unsigned a = 0, b = 0;
    char tail;
    if (s == NULL || sscanf(s, "SF%uBW%u%c", &a, &b, &tail) != 2)
        return LAB_ERR_FORMAT;
    if (a < 5 || a > 12 || (b != 125 && b != 250 && b != 500))
        return LAB_ERR_FORMAT;
    /* sscanf accepts "SF07" or "SF+7": insist on the canonical text. */
    char canon[16];
    snprintf(canon, sizeof(canon), "SF%uBW%u", a, b);
    if (strcmp(canon, s) != 0)
        return LAB_ERR_FORMAT;
    *sf = (uint8_t)a;
    *bw = (uint16_t)b;
    return LAB_OK;
}

static json_t *load(const uint8_t *json, size_t len)
{
    json_error_t e;
    json_t *root = json_loadb((const char *)json, len, JSON_REJECT_DUPLICATES, &e);
    if (root != NULL && !json_is_object(root)) {
        json_decref(root);
        return NULL;
    }
    return root;
}

static bool get_uint(json_t *o, const char *k, uint64_t max, uint64_t *out)
{
    json_t *v = json_object_get(o, k);
    if (!json_is_integer(v) || json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) > max)
        return false;
    *out = (uint64_t)json_integer_value(v);
    return true;
}

static bool get_num(json_t *o, const char *k, double *out)
{
    json_t *v = json_object_get(o, k);
    if (!json_is_number(v))
        return false;
    *out = json_number_value(v);
    return isfinite(*out);
}

static bool get_str(json_t *o, const char *k, char *out, size_t cap)
{
    json_t *v = json_object_get(o, k);
    if (!json_is_string(v) || json_string_length(v) >= cap)
        return false;
    memcpy(out, json_string_value(v), json_string_length(v) + 1);
    return strlen(out) == json_string_length(v); /* no embedded NUL */
}

static lab_status read_payload(json_t *o, size_t *size, uint8_t data[LW_PHY_MAX])
{
    uint64_t sz = 0;
    json_t *d = json_object_get(o, "data");
    if (!get_uint(o, "size", LW_PHY_MAX, &sz) || !json_is_string(d))
        return LAB_ERR_FORMAT;
    size_t n = 0;
    if (lab_base64_decode(json_string_value(d), json_string_length(d), data, LW_PHY_MAX, &n) != LAB_OK ||
        n != sz)
        return LAB_ERR_FORMAT;
    *size = n;
    return LAB_OK;
}

static lab_status rxpk_one(json_t *o, lab_rxpk *pk)
{
    memset(pk, 0, sizeof(*pk));
    uint64_t u = 0;
    if (!json_is_object(o) || !get_uint(o, "tmst", UINT32_MAX, &u))
        return LAB_ERR_FORMAT;
    pk->tmst = (uint32_t)u;
    json_t *t = json_object_get(o, "time");
    if (t != NULL && !get_str(o, "time", pk->time, sizeof(pk->time)))
        return LAB_ERR_FORMAT;
    if (!get_num(o, "freq", &pk->freq) || pk->freq <= 0 || pk->freq > 10000)
        return LAB_ERR_FORMAT;
    if (json_object_get(o, "chan") != NULL) {
        if (!get_uint(o, "chan", 255, &u))
            return LAB_ERR_FORMAT;
        pk->chan = (uint8_t)u;
    }
    if (json_object_get(o, "rfch") != NULL) {
        if (!get_uint(o, "rfch", 255, &u))
            return LAB_ERR_FORMAT;
        pk->rfch = (uint8_t)u;
    }
    json_t *st = json_object_get(o, "stat");
    if (!json_is_integer(st) || json_integer_value(st) < -1 || json_integer_value(st) > 1)
        return LAB_ERR_FORMAT;
    pk->stat = (int)json_integer_value(st);
    char modu[8];
    if (!get_str(o, "modu", modu, sizeof(modu)))
        return LAB_ERR_FORMAT;
    if (strcmp(modu, "LORA") == 0) {
        char datr[16];
        pk->lora = true;
        if (!get_str(o, "datr", datr, sizeof(datr)) || lab_udp_datr_parse(datr, &pk->sf, &pk->bw) != LAB_OK)
            return LAB_ERR_FORMAT;
        if (json_object_get(o, "codr") != NULL && !get_str(o, "codr", pk->codr, sizeof(pk->codr)))
            return LAB_ERR_FORMAT;
    } else if (strcmp(modu, "FSK") == 0) {
        if (!json_is_integer(json_object_get(o, "datr")))
            return LAB_ERR_FORMAT;
    } else {
        return LAB_ERR_FORMAT;
    }
    json_t *r = json_object_get(o, "rssi");
    if (r != NULL) {
        if (!json_is_number(r) || json_number_value(r) < -300 || json_number_value(r) > 100)
            return LAB_ERR_FORMAT;
        pk->rssi = (int)json_number_value(r);
    }
    if (json_object_get(o, "lsnr") != NULL &&
        (!get_num(o, "lsnr", &pk->lsnr) || pk->lsnr < -100 || pk->lsnr > 100))
        return LAB_ERR_FORMAT;
    return read_payload(o, &pk->size, pk->data);
}

lab_status lab_udp_rxpk_parse(const uint8_t *json, size_t len, lab_rxpk *out, size_t max, size_t *n)
{
    if (json == NULL || n == NULL || (out == NULL && max))
        return LAB_ERR_ARGUMENT;
    *n = 0;
    json_t *root = load(json, len);
    if (root == NULL)
        return LAB_ERR_FORMAT;
    lab_status st = LAB_OK;
    json_t *arr = json_object_get(root, "rxpk");
    if (arr != NULL) {
        if (!json_is_array(arr) || json_array_size(arr) > max) {
            st = LAB_ERR_FORMAT;
        } else {
            for (size_t i = 0; i < json_array_size(arr) && st == LAB_OK; i++)
                st = rxpk_one(json_array_get(arr, i), &out[i]);
            if (st == LAB_OK)
                *n = json_array_size(arr);
        }
    }
    json_t *stat = json_object_get(root, "stat");
    if (st == LAB_OK && stat != NULL && !json_is_object(stat))
        st = LAB_ERR_FORMAT;
    json_decref(root);
    return st;
}

static lab_status dump(json_t *root, char *out, size_t cap, size_t *out_len)
{
    if (root == NULL)
        return LAB_ERR_NOMEM;
    size_t need = json_dumpb(root, NULL, 0, JSON_COMPACT);
    lab_status st = LAB_OK;
    if (need == 0)
        st = LAB_ERR_NOMEM;
    else if (need + 1 > cap)
        st = LAB_ERR_BUFFER;
    else {
        json_dumpb(root, out, cap, JSON_COMPACT);
        out[need] = 0;
        *out_len = need;
    }
    json_decref(root);
    return st;
}

static int set_payload(json_t *o, const uint8_t *data, size_t size)
{
    char text[(LW_PHY_MAX + 2) / 3 * 4 + 1];
    if (lab_base64_encode(data, size, text, sizeof(text)) != LAB_OK)
        return -1;
    int e = json_object_set_new(o, "size", json_integer((json_int_t)size));
    e |= json_object_set_new(o, "data", json_string(text));
    return e;
}

static int set_datr(json_t *o, uint8_t sf, uint16_t bw, const char *codr)
{
    char datr[16];
    snprintf(datr, sizeof(datr), "SF%uBW%u", (unsigned)sf, (unsigned)bw);
    int e = json_object_set_new(o, "modu", json_string("LORA"));
    e |= json_object_set_new(o, "datr", json_string(datr));
    e |= json_object_set_new(o, "codr", json_string(codr[0] ? codr : "4/5"));
    return e;
}

lab_status lab_udp_rxpk_build(const lab_rxpk *pk, size_t n, char *out, size_t cap, size_t *out_len)
{
    if ((pk == NULL && n) || out == NULL || out_len == NULL)
        return LAB_ERR_ARGUMENT;
    json_t *root = json_object();
    json_t *arr = json_array();
    int e = (root == NULL || arr == NULL) ? -1 : json_object_set_new(root, "rxpk", arr);
    for (size_t i = 0; i < n && e == 0; i++) {
        if (!pk[i].lora || pk[i].size > LW_PHY_MAX)
            e = -1;
        json_t *o = json_object();
        if (o == NULL || e != 0) {
            json_decref(o);
            e = -1;
            break;
        }
        e |= json_array_append_new(arr, o);
        if (pk[i].time[0])
            e |= json_object_set_new(o, "time", json_string(pk[i].time));
        e |= json_object_set_new(o, "tmst", json_integer(pk[i].tmst));
        e |= json_object_set_new(o, "chan", json_integer(pk[i].chan));
        e |= json_object_set_new(o, "rfch", json_integer(pk[i].rfch));
        e |= json_object_set_new(o, "freq", json_real(pk[i].freq));
        e |= json_object_set_new(o, "stat", json_integer(pk[i].stat));
        e |= set_datr(o, pk[i].sf, pk[i].bw, pk[i].codr);
        e |= json_object_set_new(o, "rssi", json_integer(pk[i].rssi));
        e |= json_object_set_new(o, "lsnr", json_real(pk[i].lsnr));
        e |= set_payload(o, pk[i].data, pk[i].size);
    }
    if (e != 0) {
        json_decref(root);
        return (root == NULL || arr == NULL) ? LAB_ERR_NOMEM : LAB_ERR_ARGUMENT;
    }
    return dump(root, out, cap, out_len);
}

lab_status lab_udp_txpk_build(const lab_txpk *tx, char *out, size_t cap, size_t *out_len)
{
    if (tx == NULL || out == NULL || out_len == NULL || tx->size > LW_PHY_MAX)
        return LAB_ERR_ARGUMENT;
    json_t *root = json_object();
    json_t *o = json_object();
    int e = (root == NULL || o == NULL) ? -1 : json_object_set_new(root, "txpk", o);
    if (e != 0) {
        json_decref(root);
        json_decref(o);
        return LAB_ERR_NOMEM;
    }
    if (tx->imme)
        e |= json_object_set_new(o, "imme", json_true());
    else
        e |= json_object_set_new(o, "tmst", json_integer(tx->tmst));
    e |= json_object_set_new(o, "freq", json_real(tx->freq));
    e |= json_object_set_new(o, "rfch", json_integer(tx->rfch));
    e |= json_object_set_new(o, "powe", json_integer(tx->powe));
    e |= set_datr(o, tx->sf, tx->bw, tx->codr);
    e |= json_object_set_new(o, "ipol", json_boolean(tx->ipol));
    e |= set_payload(o, tx->data, tx->size);
    if (e != 0) {
        json_decref(root);
        return LAB_ERR_NOMEM;
    }
    return dump(root, out, cap, out_len);
}

lab_status lab_udp_txpk_parse(const uint8_t *json, size_t len, lab_txpk *out)
{
    if (json == NULL || out == NULL)
        return LAB_ERR_ARGUMENT;
    memset(out, 0, sizeof(*out));
    json_t *root = load(json, len);
    if (root == NULL)
        return LAB_ERR_FORMAT;
    lab_status st = LAB_ERR_FORMAT;
    json_t *o = json_object_get(root, "txpk");
    uint64_t u = 0;
    if (!json_is_object(o))
        goto done;
    json_t *im = json_object_get(o, "imme");
    if (im != NULL && !json_is_boolean(im))
        goto done;
    out->imme = json_is_true(im);
    if (json_object_get(o, "tmst") != NULL) {
        if (!get_uint(o, "tmst", UINT32_MAX, &u))
            goto done;
        out->tmst = (uint32_t)u;
    } else if (!out->imme && json_object_get(o, "time") == NULL) {
        goto done; /* neither immediate nor timed */
    }
    if (json_object_get(o, "freq") != NULL && !get_num(o, "freq", &out->freq))
        goto done;
    if (json_object_get(o, "rfch") != NULL) {
        if (!get_uint(o, "rfch", 255, &u))
            goto done;
        out->rfch = (uint8_t)u;
    }
    json_t *pw = json_object_get(o, "powe");
    if (pw != NULL) {
        if (!json_is_integer(pw) || json_integer_value(pw) < -30 || json_integer_value(pw) > 40)
            goto done;
        out->powe = (int)json_integer_value(pw);
    }
    char datr[16];
    if (json_object_get(o, "datr") != NULL &&
        (!get_str(o, "datr", datr, sizeof(datr)) || lab_udp_datr_parse(datr, &out->sf, &out->bw) != LAB_OK))
        goto done;
    if (json_object_get(o, "codr") != NULL && !get_str(o, "codr", out->codr, sizeof(out->codr)))
        goto done;
    json_t *ip = json_object_get(o, "ipol");
    if (ip != NULL && !json_is_boolean(ip))
        goto done;
    out->ipol = json_is_true(ip);
    st = read_payload(o, &out->size, out->data);
done:
    json_decref(root);
    return st;
}

lab_status lab_udp_txnone_build(uint32_t tmst, bool wait, char *out, size_t cap, size_t *out_len)
{
    if (out == NULL || out_len == NULL)
        return LAB_ERR_ARGUMENT;
    int n = snprintf(out, cap, "{\"txnone\":{\"tmst\":%u%s}}", (unsigned)tmst, wait ? ",\"wait\":true" : "");
    if (n < 0 || (size_t)n >= cap)
        return LAB_ERR_BUFFER;
    *out_len = (size_t)n;
    return LAB_OK;
}

lab_status lab_udp_txnone_parse(const uint8_t *json, size_t len, uint32_t *tmst, bool *wait)
{
    if (json == NULL || tmst == NULL || wait == NULL)
        return LAB_ERR_ARGUMENT;
    json_t *root = load(json, len);
    if (root == NULL)
        return LAB_ERR_FORMAT;
    json_t *o = json_object_get(root, "txnone");
    uint64_t u = 0;
    lab_status st = json_is_object(o) && get_uint(o, "tmst", UINT32_MAX, &u) ? LAB_OK : LAB_ERR_FORMAT;
    json_t *w = st == LAB_OK ? json_object_get(o, "wait") : NULL;
    if (w != NULL && !json_is_boolean(w))
        st = LAB_ERR_FORMAT;
    if (st == LAB_OK) {
        *tmst = (uint32_t)u;
        *wait = json_is_true(w);
    }
    json_decref(root);
    return st;
}

lab_status lab_udp_tx_ack_parse(const uint8_t *json, size_t len, char *error, size_t cap)
{
    if (error == NULL || cap < 5)
        return LAB_ERR_ARGUMENT;
    strcpy(error, "NONE");
    if (len == 0)
        return LAB_OK;
    json_t *root = load(json, len);
    if (root == NULL)
        return LAB_ERR_FORMAT;
    lab_status st = LAB_OK;
    json_t *ack = json_object_get(root, "txpk_ack");
    if (ack != NULL) {
        json_t *e = json_object_get(ack, "error");
        if (!json_is_object(ack) || (e != NULL && (!json_is_string(e) || !get_str(ack, "error", error, cap))))
            st = LAB_ERR_FORMAT;
    }
    if (st != LAB_OK)
        strcpy(error, "NONE");
    json_decref(root);
    return st;
}

/*
 * store_records.c - devices and KEKs: plain records, validated on the way in
 * and decoded on the way out, in SQL both databases run unchanged.
 *
 * Blobs are copied, never looked into: their length is checked against
 * STORE_BLOB_MAX and that is all this layer knows of them.
 */
#include "store/store_driver.h"

#include <stdio.h>
#include <string.h>

#define DEVICE_COLUMNS                                                                                      \
    "dev_eui, join_eui, mac_version, home_net_id, allowed_net_ids, nwk_key, app_key, ns_kek_label, "       \
    "as_kek_label, as_id, next_join_nonce, created_at"

/* What a read returns: the columns a put writes, then the read-only ones. */
#define DEVICE_READ_COLUMNS DEVICE_COLUMNS ", last_join_nonce"

/* ---------------------------------------------------------------- helpers */

static bool label_ok(const char *label, bool required)
{
    size_t n = strnlen(label, STORE_LABEL_MAX + 1);
    if (n > STORE_LABEL_MAX || (required && n == 0))
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)label[i] < 0x20 || (unsigned char)label[i] > 0x7e)
            return false;
    return true;
}

static store_value text_or_null(const char *text)
{
    return *text != '\0' ? SV_TEXT(text) : SV_NULL;
}

static store_value blob_or_null(const store_blob *b)
{
    return b->len > 0 ? SV_BLOB(b->data, b->len) : SV_NULL;
}

static store_status copy_text(const store_value *v, char *out, size_t cap)
{
    out[0] = '\0';
    if (v->type == STORE_V_NULL)
        return STORE_OK;
    if (v->type != STORE_V_TEXT || strlen(v->text) >= cap)
        return STORE_ERR_CORRUPT;
    memcpy(out, v->text, strlen(v->text) + 1);
    return STORE_OK;
}

static store_status copy_blob(const store_value *v, store_blob *out)
{
    memset(out, 0, sizeof *out);
    if (v->type == STORE_V_NULL)
        return STORE_OK;
    if (v->type != STORE_V_BLOB || v->len > STORE_BLOB_MAX)
        return STORE_ERR_CORRUPT;
    memcpy(out->data, v->blob, v->len);
    out->len = v->len;
    return STORE_OK;
}

static store_status copy_int(const store_value *v, int64_t lo, int64_t hi, int64_t *out)
{
    if (v->type != STORE_V_INT || v->i < lo || v->i > hi)
        return STORE_ERR_CORRUPT;
    *out = v->i;
    return STORE_OK;
}

/* AllowedNetIDs as "000013,C00053": 6 hex digits each, comma-separated. */
static void net_ids_text(const store_device *d, char *out, size_t cap)
{
    size_t at = 0;
    out[0] = '\0';
    for (size_t i = 0; i < d->allowed_net_id_count && at + 8 <= cap; i++)
        at += (size_t)snprintf(out + at, cap - at, "%s%06X", i ? "," : "", (unsigned)d->allowed_net_ids[i]);
}

static store_status net_ids_parse(const char *text, store_device *d)
{
    d->allowed_net_id_count = 0;
    const char *p = text;
    while (*p != '\0') {
        unsigned v = 0;
        for (int i = 0; i < 6; i++, p++) {
            char c = *p;
            int dig = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
            if (dig < 0)
                return STORE_ERR_CORRUPT;
            v = (v << 4) | (unsigned)dig;
        }
        if (d->allowed_net_id_count == STORE_NET_IDS_MAX || (*p != ',' && *p != '\0'))
            return STORE_ERR_CORRUPT;
        d->allowed_net_ids[d->allowed_net_id_count++] = v;
        if (*p == ',')
            p++;
    }
    return STORE_OK;
}

/* ---------------------------------------------------------------- devices */

static store_status device_check(const store_device *d)
{
    if ((unsigned)d->mac_version >= STORE_MAC_COUNT || d->home_net_id > 0xFFFFFF ||
        d->allowed_net_id_count > STORE_NET_IDS_MAX || d->nwk_key.len == 0 || d->nwk_key.len > STORE_BLOB_MAX ||
        d->app_key.len > STORE_BLOB_MAX || d->next_join_nonce > STORE_JOIN_NONCE_LIMIT ||
        !label_ok(d->ns_kek_label, false) || !label_ok(d->as_kek_label, false) || !label_ok(d->as_id, false))
        return STORE_ERR_ARGUMENT;
    for (size_t i = 0; i < d->allowed_net_id_count; i++)
        if (d->allowed_net_ids[i] > 0xFFFFFF)
            return STORE_ERR_ARGUMENT;
    return STORE_OK;
}

static const char DEVICE_INSERT[] = "INSERT INTO devices (" DEVICE_COLUMNS ", updated_at) "
                                    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)";

/* The JoinNonce counter only moves forwards, and the DevNonce history is
 * another table: a re-import can change keys and policy, never replay. */
static const char DEVICE_UPSERT[] =
    "INSERT INTO devices (" DEVICE_COLUMNS ", updated_at) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) "
    "ON CONFLICT (dev_eui) DO UPDATE SET join_eui = excluded.join_eui, mac_version = excluded.mac_version, "
    "home_net_id = excluded.home_net_id, allowed_net_ids = excluded.allowed_net_ids, "
    "nwk_key = excluded.nwk_key, app_key = excluded.app_key, ns_kek_label = excluded.ns_kek_label, "
    "as_kek_label = excluded.as_kek_label, as_id = excluded.as_id, "
    "next_join_nonce = CASE WHEN excluded.next_join_nonce > devices.next_join_nonce "
    "THEN excluded.next_join_nonce ELSE devices.next_join_nonce END, updated_at = excluded.updated_at";

store_status store_device_put(store *s, const store_device *d, bool upsert)
{
    if (s == NULL || d == NULL)
        return STORE_ERR_ARGUMENT;
    store_status st = device_check(d);
    if (st != STORE_OK)
        return st;
    char dev[17], join[17], nets[STORE_NET_IDS_MAX * 7 + 1];
    store_eui_text(d->dev_eui, dev);
    store_eui_text(d->join_eui, join);
    net_ids_text(d, nets, sizeof nets);
    const store_value p[] = {
        SV_TEXT(dev), SV_TEXT(join), SV_TEXT(store_mac_version_name(d->mac_version)), SV_INT(d->home_net_id),
        SV_TEXT(nets), SV_BLOB(d->nwk_key.data, d->nwk_key.len), blob_or_null(&d->app_key),
        text_or_null(d->ns_kek_label), text_or_null(d->as_kek_label), text_or_null(d->as_id),
        SV_INT(d->next_join_nonce > STORE_JOIN_NONCE_FIRST ? d->next_join_nonce : STORE_JOIN_NONCE_FIRST),
        SV_INT(store_now()),
    };
    return s->drv->exec(s, upsert ? DEVICE_UPSERT : DEVICE_INSERT, p, sizeof p / sizeof p[0], NULL, NULL, NULL);
}

store_status store_device_raise_join_nonce(store *s, uint64_t dev_eui, uint32_t floor)
{
    if (s == NULL || floor >= STORE_JOIN_NONCE_LIMIT)
        return STORE_ERR_ARGUMENT;
    char dev[17];
    store_eui_text(dev_eui, dev);
    const store_value p[] = {SV_TEXT(dev), SV_INT(floor), SV_INT(store_now())};
    int64_t changes = 0;
    /* Two statements' worth in one: the row is touched either way, so that
     * "unknown device" and "already above" are told apart by `changes`. */
    store_status st = s->drv->exec(s,
                                   "UPDATE devices SET next_join_nonce = CASE WHEN next_join_nonce < $2 THEN $2 "
                                   "ELSE next_join_nonce END, updated_at = $3 WHERE dev_eui = $1",
                                   p, 3, NULL, NULL, &changes);
    if (st == STORE_OK && changes == 0)
        st = STORE_ERR_NOT_FOUND;
    return st;
}

/* Row callback: decodes DEVICE_READ_COLUMNS into the next slot of a page. */
typedef struct device_page {
    store_device *out;
    size_t cap, count;
} device_page;

static store_status store_device_from_row(const store_value *c, size_t n, store_device *d)
{
    int64_t v;
    store_status st = STORE_OK;
    memset(d, 0, sizeof *d);
    if (n < 13 || c[0].type != STORE_V_TEXT || c[1].type != STORE_V_TEXT || c[2].type != STORE_V_TEXT ||
        c[4].type != STORE_V_TEXT)
        return STORE_ERR_CORRUPT;
    if ((st = store_eui_parse(c[0].text, &d->dev_eui)) != STORE_OK ||
        (st = store_eui_parse(c[1].text, &d->join_eui)) != STORE_OK)
        return st;
    if (store_mac_version_parse(c[2].text, &d->mac_version) != STORE_OK)
        return STORE_ERR_CORRUPT;
    if ((st = copy_int(&c[3], 0, 0xFFFFFF, &v)) != STORE_OK)
        return st;
    d->home_net_id = (uint32_t)v;
    if ((st = net_ids_parse(c[4].text, d)) != STORE_OK || (st = copy_blob(&c[5], &d->nwk_key)) != STORE_OK ||
        (st = copy_blob(&c[6], &d->app_key)) != STORE_OK ||
        (st = copy_text(&c[7], d->ns_kek_label, sizeof d->ns_kek_label)) != STORE_OK ||
        (st = copy_text(&c[8], d->as_kek_label, sizeof d->as_kek_label)) != STORE_OK ||
        (st = copy_text(&c[9], d->as_id, sizeof d->as_id)) != STORE_OK ||
        (st = copy_int(&c[10], 0, STORE_JOIN_NONCE_LIMIT, &v)) != STORE_OK)
        return st;
    d->next_join_nonce = (uint32_t)v;
    if ((st = copy_int(&c[12], -1, (int64_t)d->next_join_nonce - 1, &d->last_join_nonce)) != STORE_OK)
        return st;
    return copy_int(&c[11], INT64_MIN, INT64_MAX, &d->created_at);
}

static store_status device_row(void *ctx, const store_value *cols, size_t n)
{
    device_page *pg = ctx;
    if (pg->count >= pg->cap)
        return STORE_ERR_CORRUPT;
    store_status st = store_device_from_row(cols, n, &pg->out[pg->count]);
    if (st == STORE_OK)
        pg->count++;
    return st;
}

store_status store_device_get(store *s, uint64_t dev_eui, store_device *out)
{
    if (s == NULL || out == NULL)
        return STORE_ERR_ARGUMENT;
    char dev[17];
    store_eui_text(dev_eui, dev);
    device_page pg = {out, 1, 0};
    const store_value p[] = {SV_TEXT(dev)};
    store_status st =
        s->drv->exec(s, "SELECT " DEVICE_READ_COLUMNS " FROM devices WHERE dev_eui = $1", p, 1, device_row, &pg, NULL);
    if (st == STORE_OK && pg.count == 0)
        st = STORE_ERR_NOT_FOUND;
    return st;
}

store_status store_device_list(store *s, const uint64_t *after, store_device *out, size_t cap, size_t *count)
{
    if (s == NULL || out == NULL || count == NULL || cap == 0 || cap > INT32_MAX)
        return STORE_ERR_ARGUMENT;
    *count = 0;
    char from[17] = ""; /* "" sorts before every 16-digit EUI */
    if (after != NULL)
        store_eui_text(*after, from);
    device_page pg = {out, cap, 0};
    const store_value p[] = {SV_TEXT(from), SV_INT(cap)};
    store_status st = s->drv->exec(s, "SELECT " DEVICE_READ_COLUMNS " FROM devices WHERE dev_eui > $1 "
                                      "ORDER BY dev_eui LIMIT $2",
                                   p, 2, device_row, &pg, NULL);
    *count = st == STORE_OK ? pg.count : 0;
    return st;
}

store_status store_device_delete(store *s, uint64_t dev_eui)
{
    if (s == NULL)
        return STORE_ERR_ARGUMENT;
    char dev[17];
    store_eui_text(dev_eui, dev);
    const store_value p[] = {SV_TEXT(dev)};
    int64_t changes = 0;
    store_status st = s->drv->exec(s, "DELETE FROM devices WHERE dev_eui = $1", p, 1, NULL, NULL, &changes);
    if (st == STORE_OK && changes == 0)
        st = STORE_ERR_NOT_FOUND;
    return st;
}

/* ---------------------------------------------------------------- KEKs */

typedef struct kek_page {
    store_kek *out;
    size_t cap, count;
} kek_page;

static store_status kek_row(void *ctx, const store_value *c, size_t n)
{
    kek_page *pg = ctx;
    if (pg->count >= pg->cap || n < 3)
        return STORE_ERR_CORRUPT;
    store_kek *k = &pg->out[pg->count];
    memset(k, 0, sizeof *k);
    store_status st;
    if ((st = copy_text(&c[0], k->label, sizeof k->label)) != STORE_OK || (st = copy_blob(&c[1], &k->key)) != STORE_OK ||
        (st = copy_int(&c[2], INT64_MIN, INT64_MAX, &k->created_at)) != STORE_OK)
        return st;
    pg->count++;
    return STORE_OK;
}

store_status store_kek_put(store *s, const store_kek *k)
{
    if (s == NULL || k == NULL || !label_ok(k->label, true) || k->key.len == 0 || k->key.len > STORE_BLOB_MAX)
        return STORE_ERR_ARGUMENT;
    const store_value p[] = {SV_TEXT(k->label), SV_BLOB(k->key.data, k->key.len), SV_INT(store_now())};
    return s->drv->exec(s, "INSERT INTO keks (label, wrapped, created_at) VALUES ($1, $2, $3)", p, 3, NULL, NULL,
                        NULL);
}

store_status store_kek_get(store *s, const char *label, store_kek *out)
{
    if (s == NULL || label == NULL || out == NULL || !label_ok(label, true))
        return STORE_ERR_ARGUMENT;
    kek_page pg = {out, 1, 0};
    const store_value p[] = {SV_TEXT(label)};
    store_status st =
        s->drv->exec(s, "SELECT label, wrapped, created_at FROM keks WHERE label = $1", p, 1, kek_row, &pg, NULL);
    if (st == STORE_OK && pg.count == 0)
        st = STORE_ERR_NOT_FOUND;
    return st;
}

store_status store_kek_list(store *s, const char *after, store_kek *out, size_t cap, size_t *count)
{
    if (s == NULL || out == NULL || count == NULL || cap == 0 || cap > INT32_MAX)
        return STORE_ERR_ARGUMENT;
    *count = 0;
    kek_page pg = {out, cap, 0};
    const store_value p[] = {SV_TEXT(after != NULL ? after : ""), SV_INT(cap)};
    store_status st = s->drv->exec(s, "SELECT label, wrapped, created_at FROM keks WHERE label > $1 "
                                      "ORDER BY label LIMIT $2",
                                   p, 2, kek_row, &pg, NULL);
    *count = st == STORE_OK ? pg.count : 0;
    return st;
}

store_status store_kek_delete(store *s, const char *label)
{
    if (s == NULL || label == NULL || !label_ok(label, true))
        return STORE_ERR_ARGUMENT;
    const store_value p[] = {SV_TEXT(label)};
    int64_t changes = 0;
    store_status st = s->drv->exec(s, "DELETE FROM keks WHERE label = $1", p, 1, NULL, NULL, &changes);
    if (st == STORE_OK && changes == 0)
        st = STORE_ERR_NOT_FOUND;
    return st;
}

/* ---------------------------------------------------------------- sessions */

static store_status session_row(void *ctx, const store_value *c, size_t n)
{
    store_session *o = ctx;
    int64_t v;
    store_status st;
    memset(o, 0, sizeof *o);
    if (n < 14 || c[0].type != STORE_V_TEXT || c[1].type != STORE_V_TEXT || c[2].type != STORE_V_BLOB ||
        c[2].len == 0 || c[2].len > STORE_SESSION_ID_MAX)
        return STORE_ERR_CORRUPT;
    if ((st = store_eui_parse(c[0].text, &o->dev_eui)) != STORE_OK ||
        (st = store_eui_parse(c[1].text, &o->join_eui)) != STORE_OK)
        return st;
    memcpy(o->session_key_id, c[2].blob, c[2].len);
    o->session_key_id_len = c[2].len;
    if ((st = copy_int(&c[3], 0, UINT32_MAX, &v)) != STORE_OK)
        return st;
    o->dev_addr = (uint32_t)v;
    if ((st = copy_int(&c[4], 0, STORE_JOIN_NONCE_LIMIT - 1, &v)) != STORE_OK)
        return st;
    o->join_nonce = (uint32_t)v;
    if ((st = copy_int(&c[5], 0, 0xFFFF, &v)) != STORE_OK)
        return st;
    o->dev_nonce = (uint16_t)v;
    if ((st = copy_int(&c[6], -1, 2, &v)) != STORE_OK)
        return st;
    o->rejoin_type = (int)v;
    if ((st = copy_blob(&c[7], &o->app_s_key)) != STORE_OK || (st = copy_blob(&c[8], &o->f_nwk_s_int_key)) != STORE_OK ||
        (st = copy_blob(&c[9], &o->s_nwk_s_int_key)) != STORE_OK ||
        (st = copy_blob(&c[10], &o->nwk_s_enc_key)) != STORE_OK || (st = copy_int(&c[11], 0, UINT32_MAX, &v)) != STORE_OK)
        return st;
    o->lifetime_s = (uint32_t)v;
    if ((st = copy_int(&c[12], INT64_MIN, INT64_MAX, &o->created_at)) != STORE_OK)
        return st;
    return copy_int(&c[13], INT64_MIN, INT64_MAX, &o->expires_at);
}

store_status store_session_get(store *s, uint64_t dev_eui, const uint8_t *session_key_id, size_t len,
                               store_session *out)
{
    if (s == NULL || session_key_id == NULL || len == 0 || len > STORE_SESSION_ID_MAX || out == NULL)
        return STORE_ERR_ARGUMENT;
    char dev[17];
    store_eui_text(dev_eui, dev);
    const store_value p[] = {SV_TEXT(dev), SV_BLOB(session_key_id, len)};
    out->session_key_id_len = 0;
    store_status st = s->drv->exec(s,
                                   "SELECT dev_eui, join_eui, session_key_id, dev_addr, join_nonce, dev_nonce, "
                                   "rejoin_type, app_s_key, f_nwk_s_int_key, s_nwk_s_int_key, nwk_s_enc_key, "
                                   "lifetime_s, created_at, expires_at FROM sessions "
                                   "WHERE dev_eui = $1 AND session_key_id = $2",
                                   p, 2, session_row, out, NULL);
    if (st == STORE_OK && out->session_key_id_len == 0)
        st = STORE_ERR_NOT_FOUND;
    return st;
}

store_status store_session_purge(store *s, int64_t now, size_t *deleted)
{
    if (s == NULL)
        return STORE_ERR_ARGUMENT;
    const store_value p[] = {SV_INT(now)};
    int64_t changes = 0;
    store_status st = s->drv->exec(s, "DELETE FROM sessions WHERE expires_at <> 0 AND expires_at <= $1", p, 1,
                                   NULL, NULL, &changes);
    if (deleted != NULL)
        *deleted = st == STORE_OK ? (size_t)changes : 0;
    return st;
}

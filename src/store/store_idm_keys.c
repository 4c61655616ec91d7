/*
 * store_idm_keys.c - the IDM's rows for operations after the first profile
 * (schema version 4): customer root keys of an SE's profiles as blobs under
 * the master key (store_idm_profile_key), the deletions owed to customer
 * Join Servers (store_idm_cleanup), and the key-age query of the renewal
 * policy. Why the slots exist is in store_idm_tenant.h; how the engine uses
 * them in docs/idm.md, "Operations".
 */
#include "store/store_idm_internal.h"
#include "store/store_idm_tenant.h"

#include <stdio.h>
#include <string.h>

static bool slot_ok(store_idm_key_slot slot)
{
    return (unsigned)slot < STORE_IDM_SLOT_COUNT;
}

store_status store_idm_key_put(store *s, const store_idm_profile_key *k)
{
    if (s == NULL || k == NULL || !slot_ok(k->slot) || !store_idm_id_ok(k->js_id) || k->profile_id == 0 ||
        k->nwk_key.len == 0 || k->nwk_key.len > STORE_BLOB_MAX || k->app_key.len > STORE_BLOB_MAX)
        return STORE_ERR_ARGUMENT;
    char dev[17];
    store_eui_text(k->dev_eui, dev);
    const store_value p[] = {SV_TEXT(dev),
                             SV_TEXT(store_idm_key_slot_name(k->slot)),
                             SV_TEXT(k->js_id),
                             SV_INT(k->profile_id),
                             SV_BLOB(k->nwk_key.data, k->nwk_key.len),
                             k->app_key.len > 0 ? SV_BLOB(k->app_key.data, k->app_key.len) : SV_NULL,
                             SV_INT(k->acked ? 1 : 0),
                             SV_INT(k->created_at != 0 ? k->created_at : store_now()),
                             SV_INT(k->join_nonce_base)};
    return s->drv->exec(s,
                        "INSERT INTO idm_profile_key (dev_eui, slot, js_id, profile_id, nwk_key, app_key, acked, "
                        "created_at, join_nonce_base) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT "
                        "(dev_eui, slot) DO UPDATE SET js_id = excluded.js_id, profile_id = excluded.profile_id, "
                        "nwk_key = excluded.nwk_key, app_key = excluded.app_key, acked = excluded.acked, "
                        "created_at = excluded.created_at, join_nonce_base = excluded.join_nonce_base",
                        p, 9, NULL, NULL, NULL);
}

static store_status key_row(void *ctx, const store_value *c, size_t n)
{
    rows *r = ctx;
    store_idm_profile_key *k = r->out;
    memset(k, 0, sizeof *k);
    if (n < 9 || c[8].type != STORE_V_INT || c[0].type != STORE_V_TEXT || c[3].type != STORE_V_INT || c[3].i < 1 || c[3].i > 65535 ||
        c[4].type != STORE_V_BLOB || c[4].len == 0 || c[4].len > STORE_BLOB_MAX ||
        (c[5].type == STORE_V_BLOB && c[5].len > STORE_BLOB_MAX) || c[6].type != STORE_V_INT ||
        c[7].type != STORE_V_INT)
        return STORE_ERR_CORRUPT;
    store_status st;
    if ((st = store_eui_parse(c[0].text, &k->dev_eui)) != STORE_OK ||
        (st = store_idm_copy_text(k->js_id, sizeof k->js_id, &c[2], false)) != STORE_OK)
        return st;
    if (c[1].type != STORE_V_TEXT || store_idm_key_slot_parse(c[1].text, &k->slot) != STORE_OK)
        return STORE_ERR_CORRUPT;
    k->profile_id = (uint16_t)c[3].i;
    memcpy(k->nwk_key.data, c[4].blob, c[4].len);
    k->nwk_key.len = c[4].len;
    if (c[5].type == STORE_V_BLOB) {
        memcpy(k->app_key.data, c[5].blob, c[5].len);
        k->app_key.len = c[5].len;
    }
    k->acked = c[6].i != 0;
    k->created_at = c[7].i;
    k->join_nonce_base = (uint32_t)c[8].i;
    r->count = 1;
    return STORE_OK;
}

store_status store_idm_key_get(store *s, uint64_t dev_eui, store_idm_key_slot slot, store_idm_profile_key *out)
{
    if (s == NULL || out == NULL || !slot_ok(slot))
        return STORE_ERR_ARGUMENT;
    char dev[17];
    store_eui_text(dev_eui, dev);
    const store_value p[] = {SV_TEXT(dev), SV_TEXT(store_idm_key_slot_name(slot))};
    rows r = {.out = out, .cap = 1};
    store_status st = s->drv->exec(s,
                                   "SELECT dev_eui, slot, js_id, profile_id, nwk_key, app_key, acked, created_at, "
                                   "join_nonce_base FROM idm_profile_key WHERE dev_eui = $1 AND slot = $2",
                                   p, 2, key_row, &r, NULL);
    if (st == STORE_OK && r.count == 0)
        st = STORE_ERR_NOT_FOUND;
    return st;
}

store_status store_idm_key_delete(store *s, uint64_t dev_eui, store_idm_key_slot slot)
{
    if (s == NULL || !slot_ok(slot))
        return STORE_ERR_ARGUMENT;
    char dev[17];
    store_eui_text(dev_eui, dev);
    const store_value p[] = {SV_TEXT(dev), SV_TEXT(store_idm_key_slot_name(slot))};
    return s->drv->exec(s, "DELETE FROM idm_profile_key WHERE dev_eui = $1 AND slot = $2", p, 2, NULL, NULL, NULL);
}

store_status store_idm_key_delete_all(store *s, uint64_t dev_eui)
{
    if (s == NULL)
        return STORE_ERR_ARGUMENT;
    char dev[17];
    store_eui_text(dev_eui, dev);
    const store_value p[] = {SV_TEXT(dev)};
    return s->drv->exec(s, "DELETE FROM idm_profile_key WHERE dev_eui = $1", p, 1, NULL, NULL, NULL);
}

store_status store_idm_key_age_list(store *s, int64_t before, const uint64_t *after, uint64_t *out, size_t cap,
                                    size_t *count)
{
    const store_value p[] = {SV_INT(before)};
    return store_idm_eui_page(s,
                              "SELECT e.dev_eui FROM idm_se e JOIN idm_claim c ON c.dev_eui = e.dev_eui JOIN "
                              "idm_profile_key k ON k.dev_eui = e.dev_eui AND k.slot = 'current' WHERE "
                              "e.state = 'active_at_customer' AND c.state = 'claimed' AND c.op = '' AND "
                              "k.created_at < $3 AND e.dev_eui > $1 ORDER BY e.dev_eui LIMIT $2",
                              p, 1, after, out, cap, count);
}

store_status store_idm_redeliver_list(store *s, int64_t before, const uint64_t *after, uint64_t *out, size_t cap,
                                      size_t *count)
{
    const store_value p[] = {SV_INT(before)};
    return store_idm_eui_page(s,
                              "SELECT e.dev_eui FROM idm_se e JOIN idm_claim c ON c.dev_eui = e.dev_eui WHERE "
                              "e.state = 'fallback' AND c.state = 'claimed' AND c.js_id IS NOT NULL AND "
                              "c.provisioned_at > 0 AND c.op = '' AND e.updated_at < $3 AND e.dev_eui > $1 "
                              "ORDER BY e.dev_eui LIMIT $2",
                              p, 1, after, out, cap, count);
}

store_status store_idm_cleanup_add(store *s, uint64_t dev_eui, const char *js_id, const char *reason)
{
    if (s == NULL || js_id == NULL || !store_idm_id_ok(js_id) || reason == NULL || strlen(reason) >= 32)
        return STORE_ERR_ARGUMENT;
    char dev[17];
    store_eui_text(dev_eui, dev);
    const store_value p[] = {SV_TEXT(dev), SV_TEXT(js_id), SV_TEXT(reason), SV_INT(store_now())};
    return s->drv->exec(s,
                        "INSERT INTO idm_js_cleanup (dev_eui, js_id, reason, created_at) VALUES ($1, $2, $3, $4) "
                        "ON CONFLICT (dev_eui, js_id) DO UPDATE SET reason = excluded.reason",
                        p, 4, NULL, NULL, NULL);
}

static store_status cleanup_row(void *ctx, const store_value *c, size_t n)
{
    rows *r = ctx;
    if (r->count >= r->cap)
        return STORE_OK;
    store_idm_cleanup *o = (store_idm_cleanup *)r->out + r->count;
    memset(o, 0, sizeof *o);
    if (n < 3 || c[0].type != STORE_V_TEXT)
        return STORE_ERR_CORRUPT;
    store_status st;
    if ((st = store_eui_parse(c[0].text, &o->dev_eui)) != STORE_OK ||
        (st = store_idm_copy_text(o->js_id, sizeof o->js_id, &c[1], false)) != STORE_OK ||
        (st = store_idm_copy_text(o->reason, sizeof o->reason, &c[2], false)) != STORE_OK)
        return st;
    r->count++;
    return STORE_OK;
}

store_status store_idm_cleanup_list(store *s, const store_idm_cleanup *after, store_idm_cleanup *out, size_t cap,
                                    size_t *count)
{
    if (s == NULL || out == NULL || count == NULL || cap == 0 || cap > INT32_MAX)
        return STORE_ERR_ARGUMENT;
    *count = 0;
    char dev[17] = ""; /* "" sorts before every 16-digit EUI */
    if (after != NULL)
        store_eui_text(after->dev_eui, dev);
    const store_value p[] = {SV_TEXT(dev), SV_TEXT(after != NULL ? after->js_id : ""), SV_INT((int64_t)cap)};
    rows r = {.out = out, .cap = cap};
    store_status st = s->drv->exec(s,
                                   "SELECT dev_eui, js_id, reason FROM idm_js_cleanup WHERE dev_eui > $1 OR "
                                   "(dev_eui = $1 AND js_id > $2) ORDER BY dev_eui, js_id LIMIT $3",
                                   p, 3, cleanup_row, &r, NULL);
    *count = st == STORE_OK ? r.count : 0;
    return st;
}

store_status store_idm_cleanup_done(store *s, uint64_t dev_eui, const char *js_id)
{
    if (s == NULL || js_id == NULL)
        return STORE_ERR_ARGUMENT;
    char dev[17];
    store_eui_text(dev_eui, dev);
    const store_value p[] = {SV_TEXT(dev), SV_TEXT(js_id)};
    return s->drv->exec(s, "DELETE FROM idm_js_cleanup WHERE dev_eui = $1 AND js_id = $2", p, 2, NULL, NULL, NULL);
}

/*
 * store_idm_tenant.c - tenants, customer Join Servers, claims and the
 * over-the-air delivery rows of the Identity Manager, in SQL both databases
 * run unchanged (store_idm_tenant.h says what each table is for).
 *
 * Why the delivery state is rows and not a blob of mls_frag_tx: the fields
 * that must survive a restart are few (msg_id, frame size, the acked and
 * sent bitmaps, rounds, times) and readable in a SQL shell; the engine
 * rebuilds an mls_frag_tx from them for each uplink (idm_ota.c).
 */
#include "store/store_idm_tenant.h"
#include "store/store_driver.h"
#include "store/store_idm_internal.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

bool store_idm_id_ok(const char *id)
{
    size_t n = strnlen(id, STORE_IDM_ID_MAX + 1);
    if (n == 0 || n > STORE_IDM_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-'))
            return false;
    }
    return true;
}

store_status store_idm_copy_text(char *dst, size_t cap, const store_value *v, bool null_ok)
{
    if (v->type == STORE_V_NULL && null_ok) {
        dst[0] = '\0';
        return STORE_OK;
    }
    if (v->type != STORE_V_TEXT)
        return STORE_ERR_CORRUPT;
    size_t n = strlen(v->text);
    if (n >= cap)
        return STORE_ERR_CORRUPT;
    memcpy(dst, v->text, n + 1);
    return STORE_OK;
}


/* ---------------------------------------------------------------- tenants */

static const char T_COLS[] = "SELECT id, kind, name, token_hash, created_at FROM idm_tenant ";

static store_status tenant_row(void *ctx, const store_value *c, size_t n)
{
    rows *r = ctx;
    if (r->count >= r->cap)
        return STORE_OK;
    store_idm_tenant *t = (store_idm_tenant *)r->out + r->count;
    memset(t, 0, sizeof *t);
    if (n < 5 || c[3].type != STORE_V_BLOB || c[3].len != STORE_IDM_HASH_LEN || c[4].type != STORE_V_INT)
        return STORE_ERR_CORRUPT;
    store_status st;
    if ((st = store_idm_copy_text(t->id, sizeof t->id, &c[0], false)) != STORE_OK ||
        (st = store_idm_copy_text(t->name, sizeof t->name, &c[2], false)) != STORE_OK)
        return st;
    if (c[1].type != STORE_V_TEXT || store_idm_tenant_kind_parse(c[1].text, &t->kind) != STORE_OK)
        return STORE_ERR_CORRUPT;
    memcpy(t->token_hash, c[3].blob, STORE_IDM_HASH_LEN);
    t->created_at = c[4].i;
    r->count++;
    return STORE_OK;
}

store_status store_idm_tenant_put(store *s, const store_idm_tenant *t)
{
    if (s == NULL || t == NULL || !store_idm_id_ok(t->id) || (unsigned)t->kind >= STORE_IDM_TENANT_KIND_COUNT ||
        strnlen(t->name, STORE_IDM_NAME_MAX + 1) > STORE_IDM_NAME_MAX)
        return STORE_ERR_ARGUMENT;
    const store_value p[] = {SV_TEXT(t->id), SV_TEXT(store_idm_tenant_kind_name(t->kind)), SV_TEXT(t->name),
                             SV_BLOB(t->token_hash, STORE_IDM_HASH_LEN), SV_INT(store_now())};
    return s->drv->exec(s, "INSERT INTO idm_tenant (id, kind, name, token_hash, created_at) VALUES ($1, $2, $3, $4, $5)",
                        p, 5, NULL, NULL, NULL);
}

static store_status tenant_one(store *s, const char *sql, const store_value *p, store_idm_tenant *out)
{
    rows r = {.out = out, .cap = 1};
    store_status st = s->drv->exec(s, sql, p, 1, tenant_row, &r, NULL);
    if (st == STORE_OK && r.count == 0)
        st = STORE_ERR_NOT_FOUND;
    return st;
}

store_status store_idm_tenant_get(store *s, const char *id, store_idm_tenant *out)
{
    if (s == NULL || id == NULL || out == NULL)
        return STORE_ERR_ARGUMENT;
    char sql[160];
    snprintf(sql, sizeof sql, "%sWHERE id = $1", T_COLS);
    const store_value p[] = {SV_TEXT(id)};
    return tenant_one(s, sql, p, out);
}

store_status store_idm_tenant_by_token(store *s, const uint8_t hash[STORE_IDM_HASH_LEN], store_idm_tenant *out)
{
    if (s == NULL || hash == NULL || out == NULL)
        return STORE_ERR_ARGUMENT;
    char sql[160];
    snprintf(sql, sizeof sql, "%sWHERE token_hash = $1", T_COLS);
    const store_value p[] = {SV_BLOB(hash, STORE_IDM_HASH_LEN)};
    return tenant_one(s, sql, p, out);
}

store_status store_idm_tenant_list(store *s, const char *after, store_idm_tenant *out, size_t cap, size_t *count)
{
    if (s == NULL || out == NULL || count == NULL || cap == 0)
        return STORE_ERR_ARGUMENT;
    char sql[200];
    snprintf(sql, sizeof sql, "%sWHERE id > $1 ORDER BY id LIMIT %zu", T_COLS, cap);
    const store_value p[] = {SV_TEXT(after != NULL ? after : "")};
    rows r = {.out = out, .cap = cap};
    store_status st = s->drv->exec(s, sql, p, 1, tenant_row, &r, NULL);
    *count = r.count;
    return st;
}

/* ---------------------------------------------------------------- customer Join Servers */

static const char J_COLS[] = "SELECT id, tenant_id, admin_url, token_key, token_ct, join_eui, home_net_id, kek_label, "
                             "created_at, ns_kek_label, as_kek_label, allowed_net_ids FROM idm_customer_js ";

static store_status js_row(void *ctx, const store_value *c, size_t n)
{
    rows *r = ctx;
    if (r->count >= r->cap)
        return STORE_OK;
    store_idm_js *j = (store_idm_js *)r->out + r->count;
    memset(j, 0, sizeof *j);
    if (n < 12 || c[3].type != STORE_V_BLOB || c[3].len == 0 || c[3].len > STORE_BLOB_MAX ||
        c[4].type != STORE_V_BLOB || c[4].len > STORE_IDM_TOKEN_CT_MAX || c[5].type != STORE_V_TEXT ||
        c[6].type != STORE_V_INT || c[8].type != STORE_V_INT)
        return STORE_ERR_CORRUPT;
    store_status st;
    if ((st = store_idm_copy_text(j->id, sizeof j->id, &c[0], false)) != STORE_OK ||
        (st = store_idm_copy_text(j->tenant_id, sizeof j->tenant_id, &c[1], false)) != STORE_OK ||
        (st = store_idm_copy_text(j->admin_url, sizeof j->admin_url, &c[2], false)) != STORE_OK ||
        (st = store_idm_copy_text(j->kek_label, sizeof j->kek_label, &c[7], false)) != STORE_OK ||
        (st = store_idm_copy_text(j->ns_kek_label, sizeof j->ns_kek_label, &c[9], false)) != STORE_OK ||
        (st = store_idm_copy_text(j->as_kek_label, sizeof j->as_kek_label, &c[10], false)) != STORE_OK ||
        (st = store_idm_copy_text(j->allowed_net_ids, sizeof j->allowed_net_ids, &c[11], false)) != STORE_OK ||
        (st = store_eui_parse(c[5].text, &j->join_eui)) != STORE_OK)
        return st;
    memcpy(j->token_key.data, c[3].blob, c[3].len);
    j->token_key.len = c[3].len;
    memcpy(j->token_ct, c[4].blob, c[4].len);
    j->token_ct_len = c[4].len;
    j->home_net_id = (uint32_t)c[6].i;
    j->created_at = c[8].i;
    r->count++;
    return STORE_OK;
}

/* "" or up to STORE_NET_IDS_MAX NetIDs (6 uppercase hex digits) separated by commas. */
static bool net_id_list_ok(const char *t)
{
    size_t n = strnlen(t, STORE_NET_IDS_MAX * 7);
    if (n == 0)
        return true;
    if (n >= STORE_NET_IDS_MAX * 7 || n % 7 != 6)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = t[i];
        bool hex = (ch >= '0' && ch <= '9') || (ch >= 'A' && ch <= 'F');
        if (i % 7 == 6 ? ch != ',' : !hex)
            return false;
    }
    return true;
}

store_status store_idm_js_put(store *s, const store_idm_js *j)
{
    if (s == NULL || j == NULL || !store_idm_id_ok(j->id) || !store_idm_id_ok(j->tenant_id) || j->admin_url[0] == '\0' ||
        j->token_key.len == 0 || j->token_key.len > STORE_BLOB_MAX || j->token_ct_len <= 16 ||
        j->token_ct_len > STORE_IDM_TOKEN_CT_MAX || j->kek_label[0] == '\0' || j->home_net_id > 0xFFFFFF ||
        !net_id_list_ok(j->allowed_net_ids))
        return STORE_ERR_ARGUMENT;
    char join[17];
    store_eui_text(j->join_eui, join);
    const store_value p[] = {SV_TEXT(j->id),        SV_TEXT(j->tenant_id),
                             SV_TEXT(j->admin_url), SV_BLOB(j->token_key.data, j->token_key.len),
                             SV_BLOB(j->token_ct, j->token_ct_len), SV_TEXT(join),
                             SV_INT(j->home_net_id), SV_TEXT(j->kek_label),
                             SV_INT(store_now()), SV_TEXT(j->ns_kek_label),
                             SV_TEXT(j->as_kek_label), SV_TEXT(j->allowed_net_ids)};
    return s->drv->exec(s,
                        "INSERT INTO idm_customer_js (id, tenant_id, admin_url, token_key, token_ct, join_eui, "
                        "home_net_id, kek_label, created_at, ns_kek_label, as_kek_label, allowed_net_ids) VALUES ($1, "
                        "$2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                        p, 12, NULL, NULL, NULL);
}

store_status store_idm_js_get(store *s, const char *id, store_idm_js *out)
{
    if (s == NULL || id == NULL || out == NULL)
        return STORE_ERR_ARGUMENT;
    char sql[240];
    snprintf(sql, sizeof sql, "%sWHERE id = $1", J_COLS);
    const store_value p[] = {SV_TEXT(id)};
    rows r = {.out = out, .cap = 1};
    store_status st = s->drv->exec(s, sql, p, 1, js_row, &r, NULL);
    if (st == STORE_OK && r.count == 0)
        st = STORE_ERR_NOT_FOUND;
    return st;
}

store_status store_idm_js_ca_set(store *s, const char *id, const char *pem)
{
    if (s == NULL || id == NULL || pem == NULL || strlen(pem) >= STORE_IDM_CA_MAX)
        return STORE_ERR_ARGUMENT;
    const store_value p[] = {SV_TEXT(pem), SV_TEXT(id)};
    int64_t changed = 0;
    store_status st = s->drv->exec(s, "UPDATE idm_customer_js SET ca_pem = $1 WHERE id = $2", p, 2, NULL, NULL, &changed);
    return st == STORE_OK && changed == 0 ? STORE_ERR_NOT_FOUND : st;
}

store_status store_idm_js_ca_get(store *s, const char *id, char *out, size_t cap, size_t *len)
{
    if (id == NULL)
        return STORE_ERR_ARGUMENT;
    const store_value p[] = {SV_TEXT(id)};
    return store_read_text(s, "SELECT ca_pem FROM idm_customer_js WHERE id = $1", p, 1, out, cap, len);
}

store_status store_idm_js_of_tenant(store *s, const char *tenant_id, store_idm_js *out, size_t cap, size_t *count)
{
    if (s == NULL || tenant_id == NULL || out == NULL || count == NULL || cap == 0)
        return STORE_ERR_ARGUMENT;
    char sql[260];
    snprintf(sql, sizeof sql, "%sWHERE tenant_id = $1 ORDER BY id LIMIT %zu", J_COLS, cap);
    const store_value p[] = {SV_TEXT(tenant_id)};
    rows r = {.out = out, .cap = cap};
    store_status st = s->drv->exec(s, sql, p, 1, js_row, &r, NULL);
    *count = r.count;
    return st;
}

/* ---------------------------------------------------------------- claims */

/* A row always has a claim state: NONE is the absence of the row. */
static bool claim_state_ok(store_idm_claim_state st)
{
    return st != STORE_IDM_CLAIM_NONE && (unsigned)st < STORE_IDM_CLAIM_STATE_COUNT;
}

store_status store_idm_claim_put(store *s, const store_idm_claim *c)
{
    if (s == NULL || c == NULL || !claim_state_ok(c->state) || (c->tenant_id[0] != '\0' && !store_idm_id_ok(c->tenant_id)) ||
        (c->js_id[0] != '\0' && !store_idm_id_ok(c->js_id)) || (c->prev_tenant_id[0] != '\0' && !store_idm_id_ok(c->prev_tenant_id)) ||
        (c->prev_js_id[0] != '\0' && !store_idm_id_ok(c->prev_js_id)) || (unsigned)c->op >= STORE_IDM_OP_COUNT)
        return STORE_ERR_ARGUMENT;
    char dev[17];
    store_eui_text(c->dev_eui, dev);
    int64_t now = store_now();
    const store_value p[] = {SV_TEXT(dev),
                             c->tenant_id[0] ? SV_TEXT(c->tenant_id) : SV_NULL,
                             SV_TEXT(store_idm_claim_state_name(c->state)),
                             c->js_id[0] ? SV_TEXT(c->js_id) : SV_NULL,
                             SV_INT(c->failures),
                             SV_INT(c->provisioned_at),
                             SV_INT(now),
                             SV_TEXT(store_idm_op_name(c->op)),
                             c->prev_tenant_id[0] ? SV_TEXT(c->prev_tenant_id) : SV_NULL,
                             c->prev_js_id[0] ? SV_TEXT(c->prev_js_id) : SV_NULL};
    return s->drv->exec(s,
                        "INSERT INTO idm_claim (dev_eui, tenant_id, state, js_id, failures, provisioned_at, "
                        "created_at, updated_at, op, prev_tenant_id, prev_js_id) VALUES ($1, $2, $3, $4, $5, $6, $7, "
                        "$7, $8, $9, $10) ON CONFLICT (dev_eui) DO "
                        "UPDATE SET tenant_id = excluded.tenant_id, state = excluded.state, js_id = excluded.js_id, "
                        "failures = excluded.failures, provisioned_at = excluded.provisioned_at, "
                        "updated_at = excluded.updated_at, op = excluded.op, prev_tenant_id = excluded.prev_tenant_id, "
                        "prev_js_id = excluded.prev_js_id",
                        p, 10, NULL, NULL, NULL);
}

static store_status claim_row(void *ctx, const store_value *c, size_t n)
{
    rows *r = ctx;
    store_idm_claim *o = r->out;
    memset(o, 0, sizeof *o);
    if (n < 11 || c[0].type != STORE_V_TEXT || c[4].type != STORE_V_INT || c[5].type != STORE_V_INT ||
        c[6].type != STORE_V_INT || c[7].type != STORE_V_INT)
        return STORE_ERR_CORRUPT;
    store_status st;
    if ((st = store_eui_parse(c[0].text, &o->dev_eui)) != STORE_OK ||
        (st = store_idm_copy_text(o->tenant_id, sizeof o->tenant_id, &c[1], true)) != STORE_OK ||
        (st = store_idm_copy_text(o->js_id, sizeof o->js_id, &c[3], true)) != STORE_OK ||
        (st = store_idm_copy_text(o->prev_tenant_id, sizeof o->prev_tenant_id, &c[9], true)) != STORE_OK ||
        (st = store_idm_copy_text(o->prev_js_id, sizeof o->prev_js_id, &c[10], true)) != STORE_OK)
        return st;
    if (c[2].type != STORE_V_TEXT || store_idm_claim_state_parse(c[2].text, &o->state) != STORE_OK ||
        !claim_state_ok(o->state) || c[8].type != STORE_V_TEXT || store_idm_op_parse(c[8].text, &o->op) != STORE_OK)
        return STORE_ERR_CORRUPT;
    o->failures = (uint32_t)c[4].i;
    o->provisioned_at = c[5].i;
    o->created_at = c[6].i;
    o->updated_at = c[7].i;
    r->count = 1;
    return STORE_OK;
}

/* Every change of a claim is read, checked, written back whole
 * (store_idm_claim_put) in one transaction. On PostgreSQL (READ COMMITTED)
 * two such transactions, from two IDM instances or the CLI next to idm
 * serve, would both read the old row and the second write would undo the
 * first: two provisionings both took the reservation (provisioned_at) and
 * both put keys on the customer JS, the SE getting one set and the JS the
 * other (found by tests/integration/idm_pg_multi.sh). So the read locks
 * the row to the end of the transaction, as a join locks its device row;
 * the second waits and reads the first's commit. SQLite's BEGIN IMMEDIATE
 * already serialises the whole transaction. Outside a transaction the lock
 * ends with the statement. */
#define CLAIM_GET                                                                                          \
    "SELECT dev_eui, tenant_id, state, js_id, failures, provisioned_at, created_at, updated_at, op, "      \
    "prev_tenant_id, prev_js_id FROM idm_claim WHERE dev_eui = $1"
static const char CLAIM_GET_FOR_UPDATE[] = CLAIM_GET " FOR UPDATE";

store_status store_idm_claim_get(store *s, uint64_t dev_eui, store_idm_claim *out)
{
    if (s == NULL || out == NULL)
        return STORE_ERR_ARGUMENT;
    char dev[17];
    store_eui_text(dev_eui, dev);
    const store_value p[] = {SV_TEXT(dev)};
    rows r = {.out = out, .cap = 1};
    store_status st = s->drv->exec(s, s->drv->row_locks ? CLAIM_GET_FOR_UPDATE : CLAIM_GET, p, 1, claim_row, &r, NULL);
    if (st == STORE_OK && r.count == 0)
        st = STORE_ERR_NOT_FOUND;
    return st;
}

static store_status failures_row(void *ctx, const store_value *c, size_t n)
{
    uint32_t *out = ctx;
    if (n < 1 || c[0].type != STORE_V_INT || c[0].i < 0 || c[0].i > UINT32_MAX)
        return STORE_ERR_CORRUPT;
    *out = (uint32_t)c[0].i;
    return STORE_OK;
}

store_status store_idm_claim_failures_get(store *s, uint64_t dev_eui, const char *tenant_id, uint32_t *failures)
{
    if (s == NULL || failures == NULL || !store_idm_id_ok(tenant_id))
        return STORE_ERR_ARGUMENT;
    char dev[17];
    store_eui_text(dev_eui, dev);
    *failures = 0;
    const store_value p[] = {SV_TEXT(dev), SV_TEXT(tenant_id)};
    return s->drv->exec(s, "SELECT failures FROM idm_claim_failure WHERE dev_eui = $1 AND tenant_id = $2", p, 2,
                        failures_row, failures, NULL);
}

store_status store_idm_claim_failures_add(store *s, uint64_t dev_eui, const char *tenant_id, uint32_t *failures)
{
    if (s == NULL || failures == NULL || !store_idm_id_ok(tenant_id))
        return STORE_ERR_ARGUMENT;
    char dev[17];
    store_eui_text(dev_eui, dev);
    const store_value p[] = {SV_TEXT(dev), SV_TEXT(tenant_id), SV_INT(store_now())};
    store_status st = s->drv->exec(s,
                                   "INSERT INTO idm_claim_failure (dev_eui, tenant_id, failures, updated_at) "
                                   "VALUES ($1, $2, 1, $3) ON CONFLICT (dev_eui, tenant_id) DO UPDATE SET "
                                   "failures = idm_claim_failure.failures + 1, updated_at = excluded.updated_at",
                                   p, 3, NULL, NULL, NULL);
    return st == STORE_OK ? store_idm_claim_failures_get(s, dev_eui, tenant_id, failures) : st;
}

store_status store_idm_claim_failures_clear(store *s, uint64_t dev_eui, const char *tenant_id)
{
    if (s == NULL || (tenant_id != NULL && !store_idm_id_ok(tenant_id)))
        return STORE_ERR_ARGUMENT;
    char dev[17];
    store_eui_text(dev_eui, dev);
    const store_value p[] = {SV_TEXT(dev), SV_TEXT(tenant_id != NULL ? tenant_id : "")};
    return s->drv->exec(s, "DELETE FROM idm_claim_failure WHERE dev_eui = $1 AND ($2 = '' OR tenant_id = $2)", p, 2,
                        NULL, NULL, NULL);
}

store_status store_idm_eui_row(void *ctx, const store_value *c, size_t n)
{
    rows *r = ctx;
    if (r->count >= r->cap)
        return STORE_OK;
    if (n < 1 || c[0].type != STORE_V_TEXT)
        return STORE_ERR_CORRUPT;
    store_status st = store_eui_parse(c[0].text, (uint64_t *)r->out + r->count);
    if (st == STORE_OK)
        r->count++;
    return st;
}

/* Every work list is a page: DevEUIs above the caller's cursor ($1, ""
 * before the first), at most the caller's page size ($2); the caller pages
 * until a page comes back short, so no fleet is cut at a fixed count. */
#define WORK_PAGE " AND e.dev_eui > $1 ORDER BY e.dev_eui LIMIT $2"

store_status store_idm_eui_page(store *s, const char *sql, const store_value *extra, size_t n_extra,
                                const uint64_t *after, uint64_t *out, size_t cap, size_t *count)
{
    if (s == NULL || out == NULL || count == NULL || cap == 0 || cap > INT32_MAX || n_extra > 2)
        return STORE_ERR_ARGUMENT;
    *count = 0;
    char from[17] = ""; /* "" sorts before every 16-digit EUI */
    if (after != NULL)
        store_eui_text(*after, from);
    store_value p[4] = {SV_TEXT(from), SV_INT((int64_t)cap)};
    for (size_t i = 0; i < n_extra; i++)
        p[2 + i] = extra[i];
    rows r = {.out = out, .cap = cap};
    store_status st = s->drv->exec(s, sql, p, 2 + n_extra, store_idm_eui_row, &r, NULL);
    *count = st == STORE_OK ? r.count : 0;
    return st;
}

/* Only a session from a JoinReq (rejoin_type -1) proves a bootstrap join:
 * a RejoinReq's is not checked by the Join Server's MIC. */
static const char *const WORK_SQL[] = {
    [STORE_IDM_WORK_BOOTSTRAP] =
        "SELECT e.dev_eui FROM idm_se e WHERE e.state IN ('manufactured', 'returned_to_bootstrap') AND EXISTS "
        "(SELECT 1 FROM sessions x WHERE x.dev_eui = e.dev_eui AND x.created_at >= e.updated_at AND "
        "x.rejoin_type < 0)" WORK_PAGE,
    [STORE_IDM_WORK_PROVISION] =
        "SELECT e.dev_eui FROM idm_se e JOIN idm_claim c ON c.dev_eui = e.dev_eui WHERE c.state = 'claimed' AND "
        "c.js_id IS NOT NULL AND c.provisioned_at <= 0 AND e.state IN ('bootstrapped', 'fallback', "
        "'transfer_pending')" WORK_PAGE,
    [STORE_IDM_WORK_DELIVERED] =
        "SELECT e.dev_eui FROM idm_se e WHERE e.state = 'profile_delivered'" WORK_PAGE,
    [STORE_IDM_WORK_RENEW_ACKED] =
        "SELECT e.dev_eui FROM idm_se e JOIN idm_claim c ON c.dev_eui = e.dev_eui JOIN idm_profile_key k ON "
        "k.dev_eui = e.dev_eui AND k.slot = 'pending' WHERE c.op = 'renew' AND k.acked = 1 AND "
        "e.state = 'profile_pending'" WORK_PAGE,
};

store_status store_idm_work_list(store *s, store_idm_work what, const uint64_t *after, uint64_t *out, size_t cap,
                                 size_t *count)
{
    if ((unsigned)what > STORE_IDM_WORK_RENEW_ACKED)
        return STORE_ERR_ARGUMENT;
    return store_idm_eui_page(s, WORK_SQL[what], NULL, 0, after, out, cap, count);
}

store_status store_idm_join_check_due(store *s, int64_t now, const uint64_t *after, uint64_t *out, size_t cap,
                                      size_t *count)
{
    const store_value x[] = {SV_INT(now)};
    return store_idm_eui_page(s,
                              "SELECT e.dev_eui FROM idm_se e LEFT JOIN idm_join_check j ON j.dev_eui = e.dev_eui "
                              "WHERE e.state = 'profile_delivered' AND (j.dev_eui IS NULL OR j.delivered_at <> "
                              "e.updated_at OR j.due_at <= $3)" WORK_PAGE,
                              x, 1, after, out, cap, count);
}

/* The count goes on within one delivery and starts again at 1 in a new
 * one (the SE's updated_at moved). */
static const char JOIN_CHECK_LATER[] =
    "INSERT INTO idm_join_check (dev_eui, delivered_at, due_at, checks) "
    "SELECT e.dev_eui, e.updated_at, CAST($2 AS BIGINT), 1 FROM idm_se e WHERE e.dev_eui = $1 "
    "ON CONFLICT (dev_eui) DO UPDATE SET due_at = excluded.due_at, "
    "checks = CASE WHEN idm_join_check.delivered_at = excluded.delivered_at THEN idm_join_check.checks + 1 ELSE 1 END, "
    "delivered_at = excluded.delivered_at";

typedef struct join_check_job {
    uint64_t dev_eui;
    int64_t now;
    uint32_t first_s, max_s;
    int64_t due_at;
} join_check_job;

static store_status join_check_fn(store *s, void *ctx)
{
    join_check_job *j = ctx;
    char dev[17];
    store_eui_text(j->dev_eui, dev);
    const store_value p[] = {SV_TEXT(dev), SV_INT(j->now)};
    int64_t changes = 0, k = 0;
    store_status st = s->drv->exec(s, JOIN_CHECK_LATER, p, 2, NULL, NULL, &changes);
    if (st == STORE_OK && changes != 1)
        st = STORE_ERR_NOT_FOUND;
    if (st == STORE_OK)
        st = store_read_int(s, "SELECT checks FROM idm_join_check WHERE dev_eui = $1", p, 1, &k);
    if (st != STORE_OK)
        return st;
    uint64_t wait = k >= 1 && k <= 32 ? (uint64_t)j->first_s << (k - 1) : j->max_s;
    j->due_at = j->now + (int64_t)(wait < j->max_s ? wait : j->max_s);
    const store_value q[] = {SV_TEXT(dev), SV_INT(j->due_at)};
    return s->drv->exec(s, "UPDATE idm_join_check SET due_at = $2 WHERE dev_eui = $1", q, 2, NULL, NULL, NULL);
}

store_status store_idm_join_check_later(store *s, uint64_t dev_eui, int64_t now, uint32_t first_s, uint32_t max_s,
                                        int64_t *due_at)
{
    if (s == NULL || due_at == NULL || first_s == 0 || first_s > max_s)
        return STORE_ERR_ARGUMENT;
    join_check_job j = {dev_eui, now, first_s, max_s, 0};
    store_status st = store_txn(s, join_check_fn, &j);
    *due_at = st == STORE_OK ? j.due_at : 0;
    return st;
}

/* ---------------------------------------------------------------- over-the-air state */

static store_status ota_row(void *ctx, const store_value *c, size_t n)
{
    rows *r = ctx;
    store_idm_ota *o = r->out;
    memset(o, 0, sizeof *o);
    if (n < 9 || c[0].type != STORE_V_TEXT || c[8].type != STORE_V_INT)
        return STORE_ERR_CORRUPT;
    for (size_t i = 1; i < 7; i++)
        if (c[i].type != STORE_V_INT)
            return STORE_ERR_CORRUPT;
    store_status st = store_eui_parse(c[0].text, &o->dev_eui);
    if (st != STORE_OK)
        return st;
    o->epoch = (uint8_t)c[1].i;
    o->tx_next = (uint32_t)c[2].i;
    o->rx_last = (uint32_t)c[3].i;
    o->next_msg_id = (uint8_t)(c[4].i & 0x7F);
    o->next_profile_id = (uint16_t)c[5].i;
    o->last_fcnt_up = c[6].i;
    if (c[7].type == STORE_V_BLOB && c[7].len <= STORE_SESSION_ID_MAX) {
        memcpy(o->last_session, c[7].blob, c[7].len);
        o->last_session_len = c[7].len;
    }
    o->last_event_id = (uint8_t)c[8].i;
    o->exists = true;
    r->count = 1;
    return STORE_OK;
}

store_status store_idm_ota_get(store *s, uint64_t dev_eui, store_idm_ota *out)
{
    if (s == NULL || out == NULL)
        return STORE_ERR_ARGUMENT;
    char dev[17];
    store_eui_text(dev_eui, dev);
    const store_value p[] = {SV_TEXT(dev)};
    rows r = {.out = out};
    store_status st = s->drv->exec(s,
                                   "SELECT dev_eui, epoch, tx_next, rx_last, next_msg_id, next_profile_id, "
                                   "last_fcnt_up, last_session, last_event_id FROM idm_ota WHERE dev_eui = $1",
                                   p, 1, ota_row, &r, NULL);
    if (st == STORE_OK && r.count == 0) {
        memset(out, 0, sizeof *out);
        out->dev_eui = dev_eui;
        out->tx_next = 1;
        out->next_profile_id = 1;
        out->last_fcnt_up = -1;
        st = STORE_ERR_NOT_FOUND;
    }
    return st;
}

store_status store_idm_ota_set_event(store *s, uint64_t dev_eui, uint8_t event_id)
{
    if (s == NULL)
        return STORE_ERR_ARGUMENT;
    char dev[17];
    store_eui_text(dev_eui, dev);
    const store_value p[] = {SV_TEXT(dev), SV_INT(event_id)};
    int64_t changes = 0;
    store_status st =
        s->drv->exec(s, "UPDATE idm_ota SET last_event_id = $2 WHERE dev_eui = $1", p, 2, NULL, NULL, &changes);
    return st == STORE_OK && changes != 1 ? STORE_ERR_NOT_FOUND : st;
}

store_status store_idm_ota_cas(store *s, const store_idm_ota *old, const store_idm_ota *next)
{
    if (s == NULL || old == NULL || next == NULL || old->dev_eui != next->dev_eui || next->tx_next == 0 ||
        next->last_session_len > STORE_SESSION_ID_MAX)
        return STORE_ERR_ARGUMENT;
    const store_value sess = next->last_session_len > 0 ? SV_BLOB(next->last_session, next->last_session_len) : SV_NULL;
    char dev[17];
    store_eui_text(next->dev_eui, dev);
    int64_t changes = 0;
    store_status st;
    if (!old->exists) {
        const store_value p[] = {SV_TEXT(dev),          SV_INT(next->epoch),           SV_INT(next->tx_next),
                                 SV_INT(next->rx_last), SV_INT(next->next_msg_id),     SV_INT(next->next_profile_id),
                                 SV_INT(next->last_fcnt_up), SV_INT(store_now()), sess};
        st = s->drv->exec(s,
                          "INSERT INTO idm_ota (dev_eui, epoch, tx_next, rx_last, next_msg_id, next_profile_id, "
                          "last_fcnt_up, updated_at, last_session) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
                          "ON CONFLICT (dev_eui) DO NOTHING",
                          p, 9, NULL, NULL, &changes);
    } else {
        const store_value p[] = {SV_TEXT(dev),
                                 SV_INT(next->epoch),
                                 SV_INT(next->tx_next),
                                 SV_INT(next->rx_last),
                                 SV_INT(next->next_msg_id),
                                 SV_INT(next->next_profile_id),
                                 SV_INT(next->last_fcnt_up),
                                 SV_INT(store_now()),
                                 SV_INT(old->epoch),
                                 SV_INT(old->tx_next),
                                 SV_INT(old->rx_last),
                                 SV_INT(old->next_msg_id),
                                 SV_INT(old->next_profile_id),
                                 sess};
        st = s->drv->exec(s,
                          "UPDATE idm_ota SET epoch = $2, tx_next = $3, rx_last = $4, next_msg_id = $5, "
                          "next_profile_id = $6, last_fcnt_up = $7, updated_at = $8, last_session = $14 "
                          "WHERE dev_eui = $1 AND epoch = $9 AND tx_next = $10 AND rx_last = $11 AND "
                          "next_msg_id = $12 AND next_profile_id = $13",
                          p, 14, NULL, NULL, &changes);
    }
    if (st == STORE_OK && changes != 1)
        st = STORE_ERR_ABORTED;
    return st;
}

static store_status max_row(void *ctx, const store_value *c, size_t n)
{
    if (n < 1)
        return STORE_ERR_CORRUPT;
    *(int64_t *)ctx = c[0].type == STORE_V_INT ? c[0].i : 0;
    return STORE_OK;
}

store_status store_idm_cmd_add(store *s, store_idm_cmd *c)
{
    if (s == NULL || c == NULL || c->msg_len == 0 || c->msg_len > sizeof c->msg)
        return STORE_ERR_ARGUMENT;
    char dev[17];
    store_eui_text(c->dev_eui, dev);
    const store_value q[] = {SV_TEXT(dev)};
    int64_t max = 0;
    store_status st = s->drv->exec(s, "SELECT MAX(seq) FROM idm_cmd WHERE dev_eui = $1", q, 1, max_row, &max, NULL);
    if (st != STORE_OK)
        return st;
    c->seq = max + 1;
    int64_t now = store_now();
    const store_value p[] = {SV_TEXT(dev), SV_INT(c->seq), SV_INT(c->type), SV_INT(c->counter),
                             SV_BLOB(c->msg, c->msg_len), SV_INT(c->deadline), SV_INT(now), SV_TEXT(c->origin)};
    return s->drv->exec(s,
                        "INSERT INTO idm_cmd (dev_eui, seq, type, counter, msg, state, deadline, created_at, "
                        "updated_at, origin) VALUES ($1, $2, $3, $4, $5, 'queued', $6, $7, $7, $8)",
                        p, 8, NULL, NULL, NULL);
}

#define CMD_COLS                                                                                          \
    "SELECT dev_eui, seq, type, counter, msg, state, msg_id, frame_max, acked, sent, rounds, last_sent_at, "      \
    "deadline, result, reply, origin, created_at FROM idm_cmd "

static store_status cmd_row(void *ctx, const store_value *c, size_t n)
{
    rows *r = ctx;
    store_idm_cmd *o = r->out;
    memset(o, 0, sizeof *o);
    if (n < 17 || c[0].type != STORE_V_TEXT || c[4].type != STORE_V_BLOB || c[4].len == 0 ||
        c[4].len > sizeof o->msg || c[5].type != STORE_V_TEXT ||
        (c[14].type == STORE_V_BLOB && c[14].len > sizeof o->reply) || c[16].type != STORE_V_INT)
        return STORE_ERR_CORRUPT;
    store_status st = store_eui_parse(c[0].text, &o->dev_eui);
    if (st != STORE_OK || (st = store_idm_copy_text(o->origin, sizeof o->origin, &c[15], false)) != STORE_OK)
        return st;
    if (store_idm_cmd_state_parse(c[5].text, &o->state) != STORE_OK)
        return STORE_ERR_CORRUPT;
    if (c[14].type == STORE_V_BLOB) {
        memcpy(o->reply, c[14].blob, c[14].len);
        o->reply_len = c[14].len;
    }
    o->created_at = c[16].i;
    o->seq = c[1].i;
    o->type = (uint8_t)c[2].i;
    o->counter = (uint32_t)c[3].i;
    memcpy(o->msg, c[4].blob, c[4].len);
    o->msg_len = c[4].len;
    o->msg_id = (uint8_t)c[6].i;
    o->frame_max = (uint8_t)c[7].i;
    if (c[8].type == STORE_V_BLOB && c[8].len == STORE_IDM_FRAG_BITMAP)
        memcpy(o->acked, c[8].blob, STORE_IDM_FRAG_BITMAP);
    if (c[9].type == STORE_V_BLOB && c[9].len == STORE_IDM_FRAG_BITMAP)
        memcpy(o->sent, c[9].blob, STORE_IDM_FRAG_BITMAP);
    o->rounds = (uint32_t)c[10].i;
    o->last_sent_at = c[11].i;
    o->deadline = c[12].i;
    o->result = (int)c[13].i;
    r->count = 1;
    return STORE_OK;
}

store_status store_idm_cmd_current(store *s, uint64_t dev_eui, store_idm_cmd *out)
{
    if (s == NULL || out == NULL)
        return STORE_ERR_ARGUMENT;
    char dev[17];
    store_eui_text(dev_eui, dev);
    const store_value p[] = {SV_TEXT(dev)};
    rows r = {.out = out};
    store_status st = s->drv->exec(s,
                                   CMD_COLS "WHERE dev_eui = $1 AND "
                                   "state IN ('queued', 'sending') ORDER BY seq LIMIT 1",
                                   p, 1, cmd_row, &r, NULL);
    if (st == STORE_OK && r.count == 0)
        st = STORE_ERR_NOT_FOUND;
    return st;
}

store_status store_idm_cmd_get(store *s, uint64_t dev_eui, int64_t seq, store_idm_cmd *out)
{
    if (s == NULL || out == NULL)
        return STORE_ERR_ARGUMENT;
    char dev[17];
    store_eui_text(dev_eui, dev);
    const store_value p[] = {SV_TEXT(dev), SV_INT(seq)};
    rows r = {.out = out};
    store_status st = s->drv->exec(s, CMD_COLS "WHERE dev_eui = $1 AND seq = $2", p, 2, cmd_row, &r, NULL);
    if (st == STORE_OK && r.count == 0)
        st = STORE_ERR_NOT_FOUND;
    return st;
}

store_status store_idm_cmd_update(store *s, const store_idm_cmd *c)
{
    if (s == NULL || c == NULL || (unsigned)c->state >= STORE_IDM_CMD_STATE_COUNT)
        return STORE_ERR_ARGUMENT;
    char dev[17];
    store_eui_text(c->dev_eui, dev);
    const store_value p[] = {SV_TEXT(dev),
                             SV_INT(c->seq),
                             SV_TEXT(store_idm_cmd_state_name(c->state)),
                             SV_INT(c->msg_id),
                             SV_INT(c->frame_max),
                             SV_BLOB(c->acked, STORE_IDM_FRAG_BITMAP),
                             SV_BLOB(c->sent, STORE_IDM_FRAG_BITMAP),
                             SV_INT(c->rounds),
                             SV_INT(c->last_sent_at),
                             SV_INT(c->result),
                             SV_INT(store_now()),
                             c->reply_len > 0 ? SV_BLOB(c->reply, c->reply_len) : SV_NULL};
    if (c->reply_len > sizeof c->reply)
        return STORE_ERR_ARGUMENT;
    int64_t changes = 0;
    store_status st = s->drv->exec(s,
                                   "UPDATE idm_cmd SET state = $3, msg_id = $4, frame_max = $5, acked = $6, "
                                   "sent = $7, rounds = $8, last_sent_at = $9, result = $10, updated_at = $11, "
                                   "reply = $12 WHERE dev_eui = $1 AND seq = $2 AND state IN ('queued', 'sending')",
                                   p, 12, NULL, NULL, &changes);
    /* A final command (done, failed) is never written again: a writer that
     * read it before another answered or gave it up must not bring it back
     * to sending (two engines, or a CLI retire next to idm serve). */
    if (st == STORE_OK && changes != 1)
        st = STORE_ERR_ABORTED;
    return st;
}

store_status store_idm_cmd_fail_all(store *s, uint64_t dev_eui)
{
    if (s == NULL)
        return STORE_ERR_ARGUMENT;
    char dev[17];
    store_eui_text(dev_eui, dev);
    const store_value p[] = {SV_TEXT(dev), SV_INT(store_now())};
    return s->drv->exec(s,
                        "UPDATE idm_cmd SET state = 'failed', updated_at = $2 WHERE dev_eui = $1 AND state IN "
                        "('queued', 'sending')",
                        p, 2, NULL, NULL, NULL);
}

static store_status count_row(void *ctx, const store_value *c, size_t n)
{
    if (n < 1 || c[0].type != STORE_V_INT || c[0].i < 0)
        return STORE_ERR_CORRUPT;
    *(uint64_t *)ctx = (uint64_t)c[0].i;
    return STORE_OK;
}

store_status store_idm_cmd_count(store *s, uint64_t dev_eui, store_idm_cmd_state state, uint64_t *count)
{
    if (s == NULL || count == NULL || (unsigned)state >= STORE_IDM_CMD_STATE_COUNT)
        return STORE_ERR_ARGUMENT;
    char dev[17];
    store_eui_text(dev_eui, dev);
    const store_value p[] = {SV_TEXT(dev), SV_TEXT(store_idm_cmd_state_name(state))};
    *count = 0;
    return s->drv->exec(s, "SELECT COUNT(*) FROM idm_cmd WHERE dev_eui = $1 AND state = $2", p, 2, count_row, count,
                        NULL);
}

store_status store_idm_cmd_expired(store *s, int64_t now, const uint64_t *after, uint64_t *out, size_t cap,
                                   size_t *count)
{
    const store_value p[] = {SV_INT(now)};
    return store_idm_eui_page(s,
                              "SELECT DISTINCT e.dev_eui FROM idm_cmd e WHERE e.state IN ('queued', 'sending') AND "
                              "e.deadline < $3" WORK_PAGE,
                              p, 1, after, out, cap, count);
}

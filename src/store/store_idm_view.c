/*
 * store_idm_view.c - the console's reads (store_idm_view.h), in SQL both
 * databases run unchanged.
 *
 * The scope (a customer's held SEs, a maker's batches) is written into the
 * WHERE clause so that a page never reads another tenant's rows at all;
 * whether each row may then be shown is idm_authorize's to say, above this
 * layer. Filters arrive as values, never as SQL text: the statement is
 * chosen from fixed fragments and every value is a parameter.
 *
 * A sorted page is keyset-paged: WHERE (key, DevEUI) comes after the
 * cursor's in the order, ORDER BY key, DevEUI. The keys other than the
 * DevEUI are expressions over an SE and its claim (a lifecycle rank, the
 * later of two tables' times, a column of the LEFT JOIN), which no index
 * orders; schema 12's indexes narrow the rows to the tenant's and the
 * database sorts those for each page (docs/idm.md, "Sorting a fleet").
 */
#include "store/store_idm_view.h"
#include "store/store_driver.h"
#include "store/store_idm_internal.h"

#include <stdio.h>
#include <string.h>

static const char SCOPE_HOLDER[] = "c.state = 'claimed' AND c.tenant_id = $1";
static const char SCOPE_MAKER[] = "s.maker = $1 AND s.state <> 'retired'";

static const char *scope_sql(store_idm_scope scope)
{
    return scope == STORE_IDM_SCOPE_MAKER ? SCOPE_MAKER : scope == STORE_IDM_SCOPE_HOLDER ? SCOPE_HOLDER : NULL;
}

static bool prefix_ok(const char *p)
{
    size_t n = strnlen(p, 17);
    if (n > 16)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'A' && p[i] <= 'F')))
            return false;
    return true;
}

/* The sort keys as SQL over `s` (idm_se) and `c` (its claim, or NULLs).
 * The state's lifecycle rank is spelled from the state table, so that it
 * follows idm_state's order wherever that goes. */
static const char *const SORT_SQL[STORE_IDM_SORT_COUNT] = {
    [STORE_IDM_SORT_DEV_EUI] = "s.dev_eui",
    [STORE_IDM_SORT_STATE] = NULL, /* state_rank_sql */
    [STORE_IDM_SORT_LAST_EVENT] = "(CASE WHEN c.updated_at > s.updated_at THEN c.updated_at ELSE s.updated_at END)",
    [STORE_IDM_SORT_JOIN_SERVER] = "COALESCE(c.js_id, '')",
};
static const char *const SORT_NAME[STORE_IDM_SORT_COUNT] = {"dev_eui", "state", "last_event", "join_server"};

const char *store_idm_se_sort_name(store_idm_se_sort sort)
{
    return (unsigned)sort < STORE_IDM_SORT_COUNT ? SORT_NAME[sort] : "unknown";
}

store_status store_idm_se_sort_parse(const char *text, store_idm_se_sort *out)
{
    for (int i = 0; text != NULL && out != NULL && i < STORE_IDM_SORT_COUNT; i++)
        if (strcmp(text, SORT_NAME[i]) == 0) {
            *out = (store_idm_se_sort)i;
            return STORE_OK;
        }
    return STORE_ERR_ARGUMENT;
}

void store_idm_se_row_key(const store_idm_se_row *r, store_idm_se_sort sort, int64_t *num, const char **text)
{
    *num = sort == STORE_IDM_SORT_STATE ? (int64_t)r->state : sort == STORE_IDM_SORT_LAST_EVENT ? r->updated_at : 0;
    *text = sort == STORE_IDM_SORT_JOIN_SERVER ? r->js_id : "";
}

/* "(CASE s.state WHEN 'manufactured' THEN 0 ... END)" into out. */
static bool state_rank_sql(char *out, size_t cap)
{
    int w = snprintf(out, cap, "(CASE s.state");
    for (int i = 0; i < IDM_STATE_COUNT && w > 0 && (size_t)w < cap; i++)
        w += snprintf(out + w, cap - (size_t)w, " WHEN '%s' THEN %d", store_idm_se_state_name((idm_state)i), i);
    if (w > 0 && (size_t)w < cap)
        w += snprintf(out + w, cap - (size_t)w, " END)");
    return w > 0 && (size_t)w < cap;
}

static store_status se_row(void *ctx, const store_value *c, size_t n)
{
    rows *r = ctx;
    if (r->count >= r->cap)
        return STORE_OK;
    store_idm_se_row *o = (store_idm_se_row *)r->out + r->count;
    memset(o, 0, sizeof *o);
    if (n < 11 || c[0].type != STORE_V_TEXT || c[1].type != STORE_V_TEXT || c[8].type != STORE_V_INT ||
        c[9].type != STORE_V_INT)
        return STORE_ERR_CORRUPT;
    store_status st;
    if ((st = store_eui_parse(c[0].text, &o->dev_eui)) != STORE_OK ||
        store_idm_se_state_parse(c[1].text, &o->state) != STORE_OK ||
        (st = store_idm_copy_text(o->maker, sizeof o->maker, &c[2], false)) != STORE_OK ||
        (st = store_idm_copy_text(o->tenant_id, sizeof o->tenant_id, &c[4], true)) != STORE_OK ||
        (st = store_idm_copy_text(o->js_id, sizeof o->js_id, &c[5], true)) != STORE_OK ||
        (st = store_idm_copy_text(o->prev_tenant_id, sizeof o->prev_tenant_id, &c[7], true)) != STORE_OK)
        return st != STORE_OK ? st : STORE_ERR_CORRUPT;
    o->claim = STORE_IDM_CLAIM_NONE;
    if (c[3].type == STORE_V_TEXT && store_idm_claim_state_parse(c[3].text, &o->claim) != STORE_OK)
        return STORE_ERR_CORRUPT;
    o->op = STORE_IDM_OP_NONE;
    if (c[6].type == STORE_V_TEXT && store_idm_op_parse(c[6].text, &o->op) != STORE_OK)
        return STORE_ERR_CORRUPT;
    o->pending = c[8].i < 0 ? 0 : (uint64_t)c[8].i;
    o->updated_at = c[9].i;
    if (c[10].type == STORE_V_INT && c[10].i > o->updated_at)
        o->updated_at = c[10].i;
    if (n > 11 && c[11].type == STORE_V_INT)
        o->profile_id = (uint16_t)c[11].i;
    r->count++;
    return STORE_OK;
}

store_status store_idm_se_page(store *s, const store_idm_se_filter *f, store_idm_se_row *out, size_t cap,
                               size_t *count)
{
    if (s == NULL || f == NULL || out == NULL || count == NULL || cap == 0 || cap > INT32_MAX ||
        f->tenant_id == NULL || !store_idm_id_ok(f->tenant_id) || scope_sql(f->scope) == NULL ||
        (f->has_state && (unsigned)f->state >= IDM_STATE_COUNT) ||
        (f->has_claim && (unsigned)f->claim >= STORE_IDM_CLAIM_STATE_COUNT) ||
        (f->js_id != NULL && !store_idm_id_ok(f->js_id)) || (f->prefix != NULL && !prefix_ok(f->prefix)) ||
        (unsigned)f->sort >= STORE_IDM_SORT_COUNT)
        return STORE_ERR_ARGUMENT;
    if (f->has_after && ((f->sort == STORE_IDM_SORT_STATE && (f->after_num < 0 || f->after_num >= IDM_STATE_COUNT)) ||
                         (f->sort == STORE_IDM_SORT_JOIN_SERVER &&
                          (f->after_text == NULL || (f->after_text[0] != '\0' && !store_idm_id_ok(f->after_text))))))
        return STORE_ERR_ARGUMENT;
    *count = 0;
    char rank[400], key[400];
    if (f->sort == STORE_IDM_SORT_STATE) {
        if (!state_rank_sql(rank, sizeof rank))
            return STORE_ERR_ARGUMENT; /* fixed fragments: never, but checked */
    }
    snprintf(key, sizeof key, "%s", f->sort == STORE_IDM_SORT_STATE ? rank : SORT_SQL[f->sort]);
    const char *dir = f->desc ? "DESC" : "ASC", *beyond = f->desc ? "<" : ">";
    char order[460]; /* the key, then the DevEUI as the tie-break, both one way */
    int o = f->sort == STORE_IDM_SORT_DEV_EUI ? snprintf(order, sizeof order, "s.dev_eui %s", dir)
                                              : snprintf(order, sizeof order, "%s %s, s.dev_eui %s", key, dir, dir);
    if (o < 0 || (size_t)o >= sizeof order)
        return STORE_ERR_ARGUMENT; /* fixed fragments: never, but checked */
    char after[17] = "", like[18];
    store_value p[8];
    size_t np = 0;
    p[np++] = SV_TEXT(f->tenant_id);
    char where[1400];
    int w = snprintf(where, sizeof where, "%s", scope_sql(f->scope));
    if (f->has_after) {
        store_eui_text(f->after, after);
        p[np++] = SV_TEXT(after);
        if (f->sort == STORE_IDM_SORT_DEV_EUI) {
            w += snprintf(where + w, sizeof where - (size_t)w, " AND s.dev_eui %s $%zu", beyond, np);
        } else {
            p[np++] = f->sort == STORE_IDM_SORT_JOIN_SERVER ? SV_TEXT(f->after_text) : SV_INT(f->after_num);
            w += snprintf(where + w, sizeof where - (size_t)w, " AND (%s %s $%zu OR (%s = $%zu AND s.dev_eui %s $%zu))",
                          key, beyond, np, key, np, beyond, np - 1);
        }
    }
    if (f->has_state) {
        p[np++] = SV_TEXT(store_idm_se_state_name(f->state));
        w += snprintf(where + w, sizeof where - (size_t)w, " AND s.state = $%zu", np);
    }
    if (f->has_claim && f->claim == STORE_IDM_CLAIM_NONE) {
        w += snprintf(where + w, sizeof where - (size_t)w, " AND c.dev_eui IS NULL");
    } else if (f->has_claim) {
        p[np++] = SV_TEXT(store_idm_claim_state_name(f->claim));
        w += snprintf(where + w, sizeof where - (size_t)w, " AND c.state = $%zu", np);
    }
    if (f->js_id != NULL) {
        p[np++] = SV_TEXT(f->js_id);
        w += snprintf(where + w, sizeof where - (size_t)w, " AND c.js_id = $%zu", np);
    }
    if (f->prefix != NULL && f->prefix[0] != '\0') {
        snprintf(like, sizeof like, "%s%%", f->prefix);
        p[np++] = SV_TEXT(like);
        w += snprintf(where + w, sizeof where - (size_t)w, " AND s.dev_eui LIKE $%zu", np);
    }
    char sql[2600];
    int n = snprintf(sql, sizeof sql,
                     "SELECT s.dev_eui, s.state, s.maker, c.state, c.tenant_id, c.js_id, c.op, c.prev_tenant_id,"
                     " (SELECT COUNT(*) FROM idm_cmd m WHERE m.dev_eui = s.dev_eui AND m.state IN ('queued','sending')),"
                     " s.updated_at, c.updated_at,"
                     " (SELECT k.profile_id FROM idm_profile_key k WHERE k.dev_eui = s.dev_eui AND k.slot = 'current')"
                     " FROM idm_se s LEFT JOIN idm_claim c ON c.dev_eui = s.dev_eui"
                     " WHERE %s ORDER BY %s LIMIT %zu",
                     where, order, cap);
    if (w < 0 || (size_t)w >= sizeof where || n < 0 || (size_t)n >= sizeof sql)
        return STORE_ERR_ARGUMENT; /* fixed fragments: never, but checked */
    rows r = {.out = out, .cap = cap};
    store_status st = s->drv->exec(s, sql, p, np, se_row, &r, NULL);
    *count = r.count;
    return st;
}

typedef struct counts_ctx {
    uint64_t *counts;
} counts_ctx;

static store_status count_row(void *ctx, const store_value *c, size_t n)
{
    counts_ctx *k = ctx;
    idm_state state;
    if (n < 2 || c[0].type != STORE_V_TEXT || c[1].type != STORE_V_INT ||
        store_idm_se_state_parse(c[0].text, &state) != STORE_OK)
        return STORE_ERR_CORRUPT;
    k->counts[state] = (uint64_t)c[1].i;
    return STORE_OK;
}

store_status store_idm_se_state_counts(store *s, store_idm_scope scope, const char *tenant_id,
                                       uint64_t counts[IDM_STATE_COUNT])
{
    if (s == NULL || tenant_id == NULL || !store_idm_id_ok(tenant_id) || scope_sql(scope) == NULL || counts == NULL)
        return STORE_ERR_ARGUMENT;
    memset(counts, 0, sizeof(uint64_t) * IDM_STATE_COUNT);
    char sql[400];
    snprintf(sql, sizeof sql,
             "SELECT s.state, COUNT(*) FROM idm_se s LEFT JOIN idm_claim c ON c.dev_eui = s.dev_eui"
             " WHERE %s GROUP BY s.state",
             scope_sql(scope));
    const store_value p[] = {SV_TEXT(tenant_id)};
    counts_ctx k = {counts};
    return s->drv->exec(s, sql, p, 1, count_row, &k, NULL);
}

static store_status audit_row(void *ctx, const store_value *c, size_t n)
{
    rows *r = ctx;
    if (r->count >= r->cap)
        return STORE_OK;
    store_idm_audit_entry *e = (store_idm_audit_entry *)r->out + r->count;
    memset(e, 0, sizeof *e);
    if (n < 6 || c[0].type != STORE_V_INT || c[1].type != STORE_V_INT || c[2].type != STORE_V_TEXT ||
        c[5].type != STORE_V_TEXT)
        return STORE_ERR_CORRUPT;
    e->seq = c[0].i;
    e->logged_at = c[1].i;
    if (store_eui_parse(c[2].text, &e->dev_eui) != STORE_OK)
        return STORE_ERR_CORRUPT;
    store_status st;
    if ((st = store_idm_copy_text(e->actor, sizeof e->actor, &c[3], false)) != STORE_OK ||
        (st = store_idm_copy_text(e->action, sizeof e->action, &c[4], false)) != STORE_OK)
        return st;
    size_t len = strlen(c[5].text);
    if (len > STORE_IDM_VIEW_TEXT_MAX)
        e->details_too_long = true;
    else
        memcpy(e->details, c[5].text, len + 1);
    r->count++;
    return STORE_OK;
}

#define A_COLS "SELECT seq, logged_at, subject, actor, action, details FROM idm_audit "

store_status store_idm_audit_of_se(store *s, uint64_t dev_eui, int64_t after, store_idm_audit_entry *out,
                                   size_t cap, size_t *count)
{
    if (s == NULL || out == NULL || count == NULL || cap == 0 || cap > INT32_MAX)
        return STORE_ERR_ARGUMENT;
    char dev[17], sql[200];
    store_eui_text(dev_eui, dev);
    snprintf(sql, sizeof sql, A_COLS "WHERE subject = $1 AND seq > $2 ORDER BY seq LIMIT %zu", cap);
    const store_value p[] = {SV_TEXT(dev), SV_INT(after)};
    rows r = {.out = out, .cap = cap};
    store_status st = s->drv->exec(s, sql, p, 2, audit_row, &r, NULL);
    *count = r.count;
    return st;
}

store_status store_idm_audit_se_changes(store *s, int64_t after, store_idm_audit_entry *out, size_t cap,
                                        size_t *count)
{
    if (s == NULL || out == NULL || count == NULL || cap == 0 || cap > INT32_MAX)
        return STORE_ERR_ARGUMENT;
    char sql[200];
    snprintf(sql, sizeof sql, A_COLS "WHERE seq > $1 AND action LIKE 'idm.se.%%' ORDER BY seq LIMIT %zu", cap);
    const store_value p[] = {SV_INT(after)};
    rows r = {.out = out, .cap = cap};
    store_status st = s->drv->exec(s, sql, p, 1, audit_row, &r, NULL);
    *count = r.count;
    return st;
}

static store_status int_row(void *ctx, const store_value *c, size_t n)
{
    if (n < 1 || c[0].type != STORE_V_INT)
        return STORE_ERR_CORRUPT;
    *(int64_t *)ctx = c[0].i;
    return STORE_OK;
}

store_status store_idm_audit_head(store *s, int64_t *seq)
{
    if (s == NULL || seq == NULL)
        return STORE_ERR_ARGUMENT;
    *seq = 0;
    return s->drv->exec(s, "SELECT COALESCE(MAX(seq), 0) FROM idm_audit", NULL, 0, int_row, seq, NULL);
}

typedef struct ev_rows {
    store_idm_event_count *out;
    size_t cap, count;
    bool over;
} ev_rows;

static store_status event_row(void *ctx, const store_value *c, size_t n)
{
    ev_rows *r = ctx;
    if (n < 3 || c[0].type != STORE_V_INT || c[1].type != STORE_V_TEXT || c[2].type != STORE_V_INT ||
        strncmp(c[1].text, "idm.se.", 7) != 0)
        return STORE_ERR_CORRUPT;
    if (r->count >= r->cap) {
        r->over = true;
        return STORE_OK;
    }
    store_idm_event_count *e = &r->out[r->count];
    memset(e, 0, sizeof *e);
    e->hour = c[0].i * 3600;
    size_t len = strlen(c[1].text + 7);
    if (len >= sizeof e->event)
        return STORE_ERR_CORRUPT;
    memcpy(e->event, c[1].text + 7, len + 1);
    e->n = (uint64_t)c[2].i;
    r->count++;
    return STORE_OK;
}

store_status store_idm_se_event_counts(store *s, store_idm_scope scope, const char *tenant_id, int64_t since,
                                       store_idm_event_count *out, size_t cap, size_t *count)
{
    if (s == NULL || tenant_id == NULL || !store_idm_id_ok(tenant_id) || scope_sql(scope) == NULL || out == NULL ||
        count == NULL || cap == 0)
        return STORE_ERR_ARGUMENT;
    char sql[600];
    snprintf(sql, sizeof sql,
             "SELECT a.logged_at / 3600, a.action, COUNT(*) FROM idm_audit a"
             " JOIN idm_se s ON s.dev_eui = a.subject LEFT JOIN idm_claim c ON c.dev_eui = s.dev_eui"
             " WHERE %s AND a.logged_at >= $2 AND a.action LIKE 'idm.se.%%'"
             " GROUP BY a.logged_at / 3600, a.action ORDER BY 1, 2",
             scope_sql(scope));
    const store_value p[] = {SV_TEXT(tenant_id), SV_INT(since)};
    ev_rows r = {.out = out, .cap = cap};
    store_status st = s->drv->exec(s, sql, p, 2, event_row, &r, NULL);
    *count = r.count;
    if (st == STORE_OK && r.over)
        st = STORE_ERR_ARGUMENT;
    return st;
}

static store_status cmd_row(void *ctx, const store_value *c, size_t n)
{
    rows *r = ctx;
    if (r->count >= r->cap)
        return STORE_OK;
    store_idm_cmd_row *o = (store_idm_cmd_row *)r->out + r->count;
    memset(o, 0, sizeof *o);
    if (n < 8 || c[0].type != STORE_V_TEXT || c[1].type != STORE_V_INT || c[2].type != STORE_V_INT ||
        c[3].type != STORE_V_TEXT || c[4].type != STORE_V_INT || c[6].type != STORE_V_INT ||
        store_eui_parse(c[0].text, &o->dev_eui) != STORE_OK ||
        store_idm_cmd_state_parse(c[3].text, &o->state) != STORE_OK)
        return STORE_ERR_CORRUPT;
    o->seq = c[1].i;
    o->type = (uint8_t)c[2].i;
    o->result = (int)c[4].i;
    if (c[5].type == STORE_V_BLOB) {
        if (c[5].len > sizeof o->reply)
            return STORE_ERR_CORRUPT;
        memcpy(o->reply, c[5].blob, c[5].len);
        o->reply_len = c[5].len;
    }
    o->created_at = c[6].i;
    store_status st = store_idm_copy_text(o->origin, sizeof o->origin, &c[7], false);
    if (st != STORE_OK)
        return st;
    r->count++;
    return STORE_OK;
}

store_status store_idm_cmd_page_of(store *s, const char *tenant_id, bool has_after, uint64_t after_dev,
                                   int64_t after_seq, store_idm_cmd_row *out, size_t cap, size_t *count)
{
    if (s == NULL || tenant_id == NULL || !store_idm_id_ok(tenant_id) || out == NULL || count == NULL || cap == 0 ||
        cap > INT32_MAX)
        return STORE_ERR_ARGUMENT;
    char o1[STORE_IDM_ID_MAX + 16], o2[STORE_IDM_ID_MAX + 16], dev[17] = "", sql[400];
    snprintf(o1, sizeof o1, "tenant:%s", tenant_id);
    snprintf(o2, sizeof o2, "cli:tenant:%s", tenant_id);
    if (has_after)
        store_eui_text(after_dev, dev);
    snprintf(sql, sizeof sql,
             "SELECT dev_eui, seq, type, state, result, reply, created_at, origin FROM idm_cmd"
             " WHERE origin IN ($1, $2) AND (dev_eui > $3 OR (dev_eui = $3 AND seq > $4))"
             " ORDER BY dev_eui, seq LIMIT %zu",
             cap);
    const store_value p[] = {SV_TEXT(o1), SV_TEXT(o2), SV_TEXT(dev), SV_INT(has_after ? after_seq : 0)};
    rows r = {.out = out, .cap = cap};
    store_status st = s->drv->exec(s, sql, p, 4, cmd_row, &r, NULL);
    *count = r.count;
    return st;
}

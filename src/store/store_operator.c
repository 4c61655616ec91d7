/*
 * store_operator.c - operators and their counters (store_operator.h), in
 * SQL both databases run unchanged.
 *
 * The client CA bundle is kept in its own column and read only by
 * store_operator_client_ca: the Join Server reads an operator's row on
 * every request and compares the bundle's SHA-256 with the trust list it
 * cached, so the PEM text (kilobytes) is read only when it changed.
 */
#include "store/store_operator.h"
#include "store/store_driver.h"

#include <stdio.h>
#include <string.h>

const char *store_operator_reach_name(store_operator_reach r)
{
    switch (r) {
    case STORE_OPERATOR_DIRECT: return "direct";
    case STORE_OPERATOR_HUB: return "hub";
    default: return NULL;
    }
}

store_status store_operator_reach_parse(const char *text, store_operator_reach *out)
{
    if (text == NULL || out == NULL)
        return STORE_ERR_ARGUMENT;
    for (int r = STORE_OPERATOR_DIRECT; r <= STORE_OPERATOR_HUB; r++) {
        if (strcmp(text, store_operator_reach_name((store_operator_reach)r)) == 0) {
            *out = (store_operator_reach)r;
            return STORE_OK;
        }
    }
    return STORE_ERR_ARGUMENT;
}

/* The operator's state column: "active" or "suspended", the one spelling. */
static const char *const STATE_TEXT[2] = {"active", "suspended"};

static bool text_ok(const char *t, size_t max, bool required)
{
    size_t n = strnlen(t, max + 1);
    if (n > max || (required && n == 0))
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)t[i] < 0x20 || (unsigned char)t[i] == 0x7f)
            return false;
    return true;
}

static const char OP_INSERT[] =
    "INSERT INTO idm_operator (net_id, name, nsid, token_hash, client_ca, client_ca_hash, kek_label, reach, state, "
    "created_at, updated_at, answer_url, answer_token_file) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11, "
    "$12)";

store_status store_operator_put(store *s, const store_operator *op, const char *client_ca)
{
    bool has_ca = client_ca != NULL && client_ca[0] != '\0';
    if (s == NULL || op == NULL || op->net_id > 0xFFFFFF || !text_ok(op->name, STORE_OPERATOR_NAME_MAX, false) ||
        !text_ok(op->kek_label, STORE_LABEL_MAX, op->reach == STORE_OPERATOR_DIRECT) ||
        store_operator_reach_name(op->reach) == NULL || has_ca != op->has_client_ca ||
        (has_ca && strnlen(client_ca, STORE_OPERATOR_CA_MAX + 1) > STORE_OPERATOR_CA_MAX) ||
        !text_ok(op->answer_url, STORE_OPERATOR_URL_MAX, false) ||
        !text_ok(op->answer_token_file, STORE_OPERATOR_PATH_MAX, false))
        return STORE_ERR_ARGUMENT;
    char nsid[17];
    store_eui_text(op->nsid, nsid);
    const store_value p[] = {
        SV_INT(op->net_id),
        SV_TEXT(op->name),
        op->has_nsid ? SV_TEXT(nsid) : SV_NULL,
        op->has_token ? SV_BLOB(op->token_sha256, STORE_OPERATOR_HASH_LEN) : SV_NULL,
        SV_TEXT(has_ca ? client_ca : ""),
        has_ca ? SV_BLOB(op->client_ca_sha256, STORE_OPERATOR_HASH_LEN) : SV_NULL,
        SV_TEXT(op->kek_label),
        SV_TEXT(store_operator_reach_name(op->reach)),
        SV_TEXT(STATE_TEXT[op->suspended]),
        SV_INT(store_now()),
        SV_TEXT(op->answer_url),
        SV_TEXT(op->answer_token_file),
    };
    store_operator have;
    store_status st = store_operator_get(s, op->net_id, &have);
    if (st == STORE_OK)
        return STORE_ERR_EXISTS;
    if (st != STORE_ERR_NOT_FOUND)
        return st;
    st = s->drv->exec(s, OP_INSERT, p, sizeof p / sizeof p[0], NULL, NULL, NULL);
    /* a concurrent insert of the same NetID: the primary key refused it */
    if (st == STORE_ERR_BACKEND && store_operator_get(s, op->net_id, &have) == STORE_OK)
        st = STORE_ERR_EXISTS;
    return st;
}

#define OP_COLS                                                                                                \
    "SELECT net_id, name, nsid, token_hash, client_ca_hash, kek_label, reach, state, created_at, updated_at, " \
    "answer_url, answer_token_file FROM idm_operator "

typedef struct op_rows {
    store_operator *out;
    size_t cap, count;
} op_rows;

static store_status op_row(void *ctx, const store_value *c, size_t n)
{
    op_rows *r = ctx;
    if (r->count >= r->cap)
        return STORE_OK;
    store_operator *o = &r->out[r->count];
    memset(o, 0, sizeof *o);
    if (n < 12 || c[10].type != STORE_V_TEXT || strlen(c[10].text) > STORE_OPERATOR_URL_MAX ||
        c[11].type != STORE_V_TEXT || strlen(c[11].text) > STORE_OPERATOR_PATH_MAX || c[0].type != STORE_V_INT || c[0].i < 0 || c[0].i > 0xFFFFFF || c[1].type != STORE_V_TEXT ||
        strlen(c[1].text) > STORE_OPERATOR_NAME_MAX || c[5].type != STORE_V_TEXT ||
        strlen(c[5].text) > STORE_LABEL_MAX || c[6].type != STORE_V_TEXT || c[7].type != STORE_V_TEXT ||
        c[8].type != STORE_V_INT || c[9].type != STORE_V_INT)
        return STORE_ERR_CORRUPT;
    o->net_id = (uint32_t)c[0].i;
    memcpy(o->name, c[1].text, strlen(c[1].text) + 1);
    if (c[2].type == STORE_V_TEXT) {
        if (store_eui_parse(c[2].text, &o->nsid) != STORE_OK)
            return STORE_ERR_CORRUPT;
        o->has_nsid = true;
    } else if (c[2].type != STORE_V_NULL) {
        return STORE_ERR_CORRUPT;
    }
    if (c[3].type == STORE_V_BLOB && c[3].len == STORE_OPERATOR_HASH_LEN) {
        memcpy(o->token_sha256, c[3].blob, STORE_OPERATOR_HASH_LEN);
        o->has_token = true;
    } else if (c[3].type != STORE_V_NULL) {
        return STORE_ERR_CORRUPT;
    }
    if (c[4].type == STORE_V_BLOB && c[4].len == STORE_OPERATOR_HASH_LEN) {
        memcpy(o->client_ca_sha256, c[4].blob, STORE_OPERATOR_HASH_LEN);
        o->has_client_ca = true;
    } else if (c[4].type != STORE_V_NULL) {
        return STORE_ERR_CORRUPT;
    }
    memcpy(o->kek_label, c[5].text, strlen(c[5].text) + 1);
    if (store_operator_reach_parse(c[6].text, &o->reach) != STORE_OK)
        return STORE_ERR_CORRUPT;
    o->suspended = strcmp(c[7].text, STATE_TEXT[true]) == 0;
    if (!o->suspended && strcmp(c[7].text, STATE_TEXT[false]) != 0)
        return STORE_ERR_CORRUPT;
    o->created_at = c[8].i;
    o->updated_at = c[9].i;
    memcpy(o->answer_url, c[10].text, strlen(c[10].text) + 1);
    memcpy(o->answer_token_file, c[11].text, strlen(c[11].text) + 1);
    r->count++;
    return STORE_OK;
}

store_status store_operator_get(store *s, uint32_t net_id, store_operator *out)
{
    if (s == NULL || out == NULL || net_id > 0xFFFFFF)
        return STORE_ERR_ARGUMENT;
    const store_value p[] = {SV_INT(net_id)};
    op_rows r = {.out = out, .cap = 1};
    store_status st = s->drv->exec(s, OP_COLS "WHERE net_id = $1", p, 1, op_row, &r, NULL);
    if (st == STORE_OK && r.count == 0)
        st = STORE_ERR_NOT_FOUND;
    return st;
}

store_status store_operator_by_token(store *s, const uint8_t hash[STORE_OPERATOR_HASH_LEN], store_operator *out)
{
    if (s == NULL || hash == NULL || out == NULL)
        return STORE_ERR_ARGUMENT;
    const store_value p[] = {SV_BLOB(hash, STORE_OPERATOR_HASH_LEN)};
    op_rows r = {.out = out, .cap = 1};
    store_status st = s->drv->exec(s, OP_COLS "WHERE token_hash = $1 ORDER BY net_id", p, 1, op_row, &r, NULL);
    if (st == STORE_OK && r.count == 0)
        st = STORE_ERR_NOT_FOUND;
    return st;
}

store_status store_operator_client_ca(store *s, uint32_t net_id, char *out, size_t cap, size_t *len)
{
    if (net_id > 0xFFFFFF)
        return STORE_ERR_ARGUMENT;
    const store_value p[] = {SV_INT(net_id)};
    return store_read_text(s, "SELECT client_ca FROM idm_operator WHERE net_id = $1", p, 1, out, cap, len);
}

store_status store_operator_list(store *s, const uint32_t *after, store_operator *out, size_t cap, size_t *count)
{
    if (s == NULL || out == NULL || count == NULL || cap == 0)
        return STORE_ERR_ARGUMENT;
    char sql[320];
    snprintf(sql, sizeof sql, "%sWHERE net_id > $1 ORDER BY net_id LIMIT %zu", OP_COLS, cap);
    const store_value p[] = {SV_INT(after != NULL ? (int64_t)*after : -1)};
    op_rows r = {.out = out, .cap = cap};
    store_status st = s->drv->exec(s, sql, p, 1, op_row, &r, NULL);
    *count = r.count;
    return st;
}

store_status store_operator_set_suspended(store *s, uint32_t net_id, bool suspended)
{
    if (s == NULL || net_id > 0xFFFFFF)
        return STORE_ERR_ARGUMENT;
    const store_value p[] = {SV_INT(net_id), SV_TEXT(STATE_TEXT[suspended]), SV_INT(store_now())};
    int64_t changes = 0;
    store_status st =
        s->drv->exec(s, "UPDATE idm_operator SET state = $2, updated_at = $3 WHERE net_id = $1", p, 3, NULL, NULL,
                     &changes);
    if (st == STORE_OK && changes == 0)
        st = STORE_ERR_NOT_FOUND;
    return st;
}

store_status store_operator_delete(store *s, uint32_t net_id)
{
    if (s == NULL || net_id > 0xFFFFFF)
        return STORE_ERR_ARGUMENT;
    const store_value p[] = {SV_INT(net_id)};
    int64_t changes = 0;
    /* the counters first: the foreign key cascades on both databases, but
     * saying it here keeps the rule visible */
    store_status st = s->drv->exec(s, "DELETE FROM idm_operator_count WHERE net_id = $1", p, 1, NULL, NULL, NULL);
    if (st == STORE_OK)
        st = s->drv->exec(s, "DELETE FROM idm_operator WHERE net_id = $1", p, 1, NULL, NULL, &changes);
    if (st == STORE_OK && changes == 0)
        st = STORE_ERR_NOT_FOUND;
    return st;
}

/* ---------------------------------------------------------------- counters */

static const char COUNT_ADD[] =
    "INSERT INTO idm_operator_count (net_id, request, result, n) "
    "SELECT CAST($1 AS BIGINT), CAST($2 AS TEXT), CAST($3 AS TEXT), CAST($4 AS BIGINT) "
    "WHERE EXISTS (SELECT 1 FROM idm_operator WHERE net_id = CAST($1 AS BIGINT)) "
    "ON CONFLICT (net_id, request, result) DO UPDATE SET n = idm_operator_count.n + excluded.n";

store_status store_operator_count_add(store *s, uint32_t net_id, const char *request, const char *result, uint64_t n)
{
    if (s == NULL || request == NULL || result == NULL || net_id > 0xFFFFFF || n > INT64_MAX ||
        (strcmp(request, "join") != 0 && strcmp(request, "home_ns") != 0) || !text_ok(result, 31, true))
        return STORE_ERR_ARGUMENT;
    if (n == 0)
        return STORE_OK;
    const store_value p[] = {SV_INT(net_id), SV_TEXT(request), SV_TEXT(result), SV_INT((int64_t)n)};
    return s->drv->exec(s, COUNT_ADD, p, 4, NULL, NULL, NULL);
}

typedef struct count_rows {
    store_operator_count *out;
    size_t cap, count;
} count_rows;

static store_status count_row(void *ctx, const store_value *c, size_t n)
{
    count_rows *r = ctx;
    if (r->count >= r->cap)
        return STORE_ERR_ARGUMENT; /* out[cap] too small: an error, never a shorter list */
    if (n < 3 || c[0].type != STORE_V_TEXT || c[1].type != STORE_V_TEXT || c[2].type != STORE_V_INT || c[2].i < 0)
        return STORE_ERR_CORRUPT;
    store_operator_count *o = &r->out[r->count];
    if (strlen(c[0].text) >= sizeof o->request || strlen(c[1].text) >= sizeof o->result)
        return STORE_ERR_CORRUPT;
    memcpy(o->request, c[0].text, strlen(c[0].text) + 1);
    memcpy(o->result, c[1].text, strlen(c[1].text) + 1);
    o->n = (uint64_t)c[2].i;
    r->count++;
    return STORE_OK;
}

store_status store_operator_counts(store *s, uint32_t net_id, store_operator_count *out, size_t cap, size_t *count)
{
    if (s == NULL || out == NULL || count == NULL || cap == 0 || net_id > 0xFFFFFF)
        return STORE_ERR_ARGUMENT;
    const store_value p[] = {SV_INT(net_id)};
    count_rows r = {.out = out, .cap = cap};
    store_status st = s->drv->exec(s,
                                   "SELECT request, result, n FROM idm_operator_count WHERE net_id = $1 "
                                   "ORDER BY request, result",
                                   p, 1, count_row, &r, NULL);
    *count = st == STORE_OK ? r.count : 0;
    return st;
}

/*
 * store_idm.c - the Identity Manager's rows: secure elements and the
 * hash-chained audit log, in SQL both databases run unchanged.
 *
 * The audit chain is computed here, not by the caller, so that there is one
 * definition of an entry's bytes (store_idm.h) and the verifier cannot drift
 * from the writer. Verification pages through the table by seq, a thousand
 * rows at a time, so that a log of any length is checked in constant memory
 * on both databases (libpq would otherwise hold a whole result set).
 */
#include "store/store_idm.h"
#include "store/store_driver.h"

#include <mbedtls/sha256.h>
#include <string.h>

#define AUDIT_TEXT_MAX 65536
#define AUDIT_PAGE 1000

store_status store_idm_txn(store *s, store_status (*fn)(store *s, void *ctx), void *ctx)
{
    if (s == NULL || fn == NULL)
        return STORE_ERR_ARGUMENT;
    return store_txn(s, fn, ctx);
}

/* ---------------------------------------------------------------- secure elements */

static bool state_ok(idm_state state)
{
    return (unsigned)state < IDM_STATE_COUNT;
}

static const char SE_INSERT[] =
    "INSERT INTO idm_se (dev_eui, join_eui, serial, mac_version, mls_key, owner_token_hash, state, created_at, "
    "updated_at, operators, maker, mls_msg_max) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9, $10, $11)";

/* "*" or NetIDs (6 uppercase hex digits) separated by commas. */
static bool operators_ok(const char *ops)
{
    size_t n = strnlen(ops, STORE_IDM_OPERATORS_MAX + 1);
    if (n > STORE_IDM_OPERATORS_MAX)
        return false;
    if (n == 0 || (n == 1 && ops[0] == '*'))
        return true;
    if (n % 7 != 6)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = ops[i];
        bool hex = (ch >= '0' && ch <= '9') || (ch >= 'A' && ch <= 'F');
        if (i % 7 == 6 ? ch != ',' : !hex)
            return false;
    }
    return true;
}

store_status store_idm_se_put(store *s, const store_idm_se *e)
{
    if (s == NULL || e == NULL || (unsigned)e->mac_version >= STORE_MAC_COUNT || e->mls_key.len == 0 ||
        e->mls_key.len > STORE_BLOB_MAX || !state_ok(e->state) || !operators_ok(e->operators) ||
        strnlen(e->maker, sizeof e->maker) == sizeof e->maker ||
        (e->mls_msg_max != 0 && (e->mls_msg_max < 128 || e->mls_msg_max > 1024)))
        return STORE_ERR_ARGUMENT;
    char dev[17], join[17], serial[17];
    store_eui_text(e->dev_eui, dev);
    store_eui_text(e->join_eui, join);
    store_eui_text(e->serial, serial);
    const store_value p[] = {
        SV_TEXT(dev), SV_TEXT(join), SV_TEXT(serial), SV_TEXT(store_mac_version_name(e->mac_version)),
        SV_BLOB(e->mls_key.data, e->mls_key.len), SV_BLOB(e->owner_token_hash, STORE_IDM_HASH_LEN),
        SV_TEXT(store_idm_se_state_name(e->state)), SV_INT(store_now()), SV_TEXT(e->operators[0] != '\0' ? e->operators : "*"),
        SV_TEXT(e->maker), SV_INT(e->mls_msg_max != 0 ? e->mls_msg_max : 1024),
    };
    return s->drv->exec(s, SE_INSERT, p, sizeof p / sizeof p[0], NULL, NULL, NULL);
}

typedef struct se_row {
    store_idm_se *out;
    bool found;
} se_row;

static store_status se_from_row(void *ctx, const store_value *c, size_t n)
{
    se_row *r = ctx;
    store_idm_se *e = r->out;
    memset(e, 0, sizeof *e);
    if (n < 12 || c[0].type != STORE_V_TEXT || c[1].type != STORE_V_TEXT || c[2].type != STORE_V_TEXT ||
        c[3].type != STORE_V_TEXT || c[4].type != STORE_V_BLOB || c[4].len == 0 || c[4].len > STORE_BLOB_MAX ||
        c[5].type != STORE_V_BLOB || c[5].len != STORE_IDM_HASH_LEN || c[6].type != STORE_V_TEXT ||
        c[7].type != STORE_V_INT || c[8].type != STORE_V_INT || c[9].type != STORE_V_TEXT ||
        !operators_ok(c[9].text) || c[9].text[0] == '\0' || c[10].type != STORE_V_TEXT ||
        strlen(c[10].text) > STORE_IDM_MAKER_MAX || c[11].type != STORE_V_INT || c[11].i < 128 || c[11].i > 1024)
        return STORE_ERR_CORRUPT;
    store_status st;
    if ((st = store_eui_parse(c[0].text, &e->dev_eui)) != STORE_OK ||
        (st = store_eui_parse(c[1].text, &e->join_eui)) != STORE_OK ||
        (st = store_eui_parse(c[2].text, &e->serial)) != STORE_OK)
        return st;
    /* a state no table names is corrupt, never guessed */
    if (store_mac_version_parse(c[3].text, &e->mac_version) != STORE_OK ||
        store_idm_se_state_parse(c[6].text, &e->state) != STORE_OK)
        return STORE_ERR_CORRUPT;
    memcpy(e->mls_key.data, c[4].blob, c[4].len);
    e->mls_key.len = c[4].len;
    memcpy(e->owner_token_hash, c[5].blob, STORE_IDM_HASH_LEN);
    e->created_at = c[7].i;
    e->updated_at = c[8].i;
    memcpy(e->operators, c[9].text, strlen(c[9].text) + 1);
    memcpy(e->maker, c[10].text, strlen(c[10].text) + 1);
    e->mls_msg_max = (uint16_t)c[11].i;
    r->found = true;
    return STORE_OK;
}

static const char SE_SELECT[] = "SELECT dev_eui, join_eui, serial, mac_version, mls_key, owner_token_hash, state, "
                                "created_at, updated_at, operators, maker, mls_msg_max FROM idm_se WHERE dev_eui = $1";

store_status store_idm_se_get(store *s, uint64_t dev_eui, store_idm_se *out)
{
    if (s == NULL || out == NULL)
        return STORE_ERR_ARGUMENT;
    char dev[17];
    store_eui_text(dev_eui, dev);
    const store_value p[] = {SV_TEXT(dev)};
    se_row r = {.out = out};
    store_status st = s->drv->exec(s, SE_SELECT, p, 1, se_from_row, &r, NULL);
    if (st == STORE_OK && !r.found)
        st = STORE_ERR_NOT_FOUND;
    return st;
}

static const char SE_SET_STATE[] = "UPDATE idm_se SET state = $3, updated_at = $4 WHERE dev_eui = $1 AND state = $2";

store_status store_idm_se_set_state(store *s, uint64_t dev_eui, idm_state from, idm_state to)
{
    if (s == NULL || !state_ok(from) || !state_ok(to))
        return STORE_ERR_ARGUMENT;
    char dev[17];
    store_eui_text(dev_eui, dev);
    const store_value p[] = {SV_TEXT(dev), SV_TEXT(store_idm_se_state_name(from)),
                             SV_TEXT(store_idm_se_state_name(to)), SV_INT(store_now())};
    int64_t changes = 0;
    store_status st = s->drv->exec(s, SE_SET_STATE, p, 4, NULL, NULL, &changes);
    if (st != STORE_OK || changes == 1)
        return st;
    store_idm_se cur;
    st = store_idm_se_get(s, dev_eui, &cur);
    return st == STORE_OK ? STORE_ERR_ABORTED : st;
}

static store_status count_row(void *ctx, const store_value *c, size_t n)
{
    if (n < 1 || c[0].type != STORE_V_INT || c[0].i < 0)
        return STORE_ERR_CORRUPT;
    *(uint64_t *)ctx = (uint64_t)c[0].i;
    return STORE_OK;
}

static const char SE_COUNT[] = "SELECT COUNT(*) FROM idm_se";

store_status store_idm_se_count(store *s, uint64_t *count)
{
    if (s == NULL || count == NULL)
        return STORE_ERR_ARGUMENT;
    *count = 0;
    return s->drv->exec(s, SE_COUNT, NULL, 0, count_row, count, NULL);
}

/* ---------------------------------------------------------------- audit chain */

static void put_be(uint8_t *p, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

static void hash_text(mbedtls_sha256_context *h, const char *text, size_t len)
{
    uint8_t l[4];
    put_be(l, len, 4);
    (void)mbedtls_sha256_update_ret(h, l, 4);
    (void)mbedtls_sha256_update_ret(h, (const unsigned char *)text, len);
}

/* The one definition of an entry's hash (store_idm.h). */
static void entry_hash(const uint8_t prev[STORE_IDM_HASH_LEN], int64_t seq, int64_t at, const char *const text[4],
                       const size_t len[4], uint8_t out[STORE_IDM_HASH_LEN])
{
    mbedtls_sha256_context h;
    mbedtls_sha256_init(&h);
    (void)mbedtls_sha256_starts_ret(&h, 0);
    (void)mbedtls_sha256_update_ret(&h, prev, STORE_IDM_HASH_LEN);
    uint8_t num[16];
    put_be(num, (uint64_t)seq, 8);
    put_be(num + 8, (uint64_t)at, 8);
    (void)mbedtls_sha256_update_ret(&h, num, sizeof num);
    for (int i = 0; i < 4; i++)
        hash_text(&h, text[i], len[i]);
    (void)mbedtls_sha256_finish_ret(&h, out);
    mbedtls_sha256_free(&h);
}

typedef struct audit_head {
    bool found;
    int64_t seq;
    uint8_t hash[STORE_IDM_HASH_LEN];
} audit_head;

static store_status head_row(void *ctx, const store_value *c, size_t n)
{
    audit_head *h = ctx;
    if (n < 2 || c[0].type != STORE_V_INT || c[1].type != STORE_V_BLOB || c[1].len != STORE_IDM_HASH_LEN)
        return STORE_ERR_CORRUPT;
    h->found = true;
    h->seq = c[0].i;
    memcpy(h->hash, c[1].blob, STORE_IDM_HASH_LEN);
    return STORE_OK;
}

static const char AUDIT_HEAD[] = "SELECT seq, hash FROM idm_audit ORDER BY seq DESC LIMIT 1";
static const char AUDIT_INSERT[] = "INSERT INTO idm_audit (seq, logged_at, actor, action, subject, details, "
                                   "prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

static bool text_ok(const char *t)
{
    return t != NULL && strnlen(t, AUDIT_TEXT_MAX + 1) <= AUDIT_TEXT_MAX;
}

store_status store_idm_audit_append(store *s, const store_idm_audit_record *r, int64_t *seq)
{
    if (s == NULL || r == NULL || !text_ok(r->actor) || !text_ok(r->action) || !text_ok(r->subject) ||
        !text_ok(r->details))
        return STORE_ERR_ARGUMENT;
    audit_head head = {0};
    /* Several IDM instances on one PostgreSQL: the head is read under the
     * chain's lock, so no two appends build on the same entry. */
    store_status st = s->drv->lock_audit(s);
    if (st == STORE_OK)
        st = s->drv->exec(s, AUDIT_HEAD, NULL, 0, head_row, &head, NULL);
    if (st != STORE_OK)
        return st;
    int64_t next = head.found ? head.seq + 1 : 1;
    int64_t at = store_now();
    const char *text[4] = {r->actor, r->action, r->subject, r->details};
    size_t len[4];
    for (int i = 0; i < 4; i++)
        len[i] = strlen(text[i]);
    uint8_t hash[STORE_IDM_HASH_LEN];
    entry_hash(head.hash, next, at, text, len, hash);
    const store_value p[] = {
        SV_INT(next),        SV_INT(at),
        SV_TEXT(r->actor),   SV_TEXT(r->action),
        SV_TEXT(r->subject), SV_TEXT(r->details),
        SV_BLOB(head.hash, STORE_IDM_HASH_LEN), SV_BLOB(hash, STORE_IDM_HASH_LEN),
    };
    st = s->drv->exec(s, AUDIT_INSERT, p, sizeof p / sizeof p[0], NULL, NULL, NULL);
    if (st == STORE_OK && seq != NULL)
        *seq = next;
    return st;
}

typedef struct audit_walk {
    store_idm_audit_report *rep;
    int64_t last_seq;           /* seq of the last entry checked (0: none) */
    size_t rows;                /* rows seen in this page */
} audit_walk;

static store_status walk_row(void *ctx, const store_value *c, size_t n)
{
    audit_walk *w = ctx;
    store_idm_audit_report *rep = w->rep;
    w->rows++;
    if (!rep->ok)
        return STORE_OK;
    if (n < 8 || c[0].type != STORE_V_INT) {
        rep->ok = false;
        rep->first_bad_seq = n >= 1 && c[0].type == STORE_V_INT ? c[0].i : w->last_seq + 1;
        rep->reason = "the entry's columns are not of their types";
        return STORE_OK;
    }
    int64_t seq = c[0].i;
    const char *why = NULL;
    if (seq != w->last_seq + 1)
        why = "a gap in the sequence: entries before this one were removed";
    else if (c[1].type != STORE_V_INT || c[2].type != STORE_V_TEXT || c[3].type != STORE_V_TEXT ||
             c[4].type != STORE_V_TEXT || c[5].type != STORE_V_TEXT || c[6].type != STORE_V_BLOB ||
             c[6].len != STORE_IDM_HASH_LEN || c[7].type != STORE_V_BLOB || c[7].len != STORE_IDM_HASH_LEN)
        why = "the entry's columns are not of their types";
    else if (memcmp(c[6].blob, rep->head_hash, STORE_IDM_HASH_LEN) != 0)
        why = "prev_hash is not the hash of the previous entry";
    if (why == NULL) {
        const char *text[4] = {c[2].text, c[3].text, c[4].text, c[5].text};
        size_t len[4];
        for (int i = 0; i < 4; i++)
            len[i] = strlen(text[i]);
        uint8_t hash[STORE_IDM_HASH_LEN];
        entry_hash(rep->head_hash, seq, c[1].i, text, len, hash);
        if (memcmp(hash, c[7].blob, STORE_IDM_HASH_LEN) != 0)
            why = "the entry's hash does not match its contents";
        else
            memcpy(rep->head_hash, hash, STORE_IDM_HASH_LEN);
    }
    if (why != NULL) {
        rep->ok = false;
        rep->first_bad_seq = seq;
        rep->reason = why;
        return STORE_OK;
    }
    rep->entries++;
    w->last_seq = seq;
    return STORE_OK;
}

static const char AUDIT_PAGE_SQL[] = "SELECT seq, logged_at, actor, action, subject, details, prev_hash, hash "
                                     "FROM idm_audit WHERE seq > $1 ORDER BY seq LIMIT $2";

store_status store_idm_audit_verify(store *s, store_idm_audit_report *report)
{
    if (s == NULL || report == NULL)
        return STORE_ERR_ARGUMENT;
    memset(report, 0, sizeof *report);
    report->ok = true;
    audit_walk w = {.rep = report};
    int64_t after = 0;
    for (;;) {
        const store_value p[] = {SV_INT(after), SV_INT(AUDIT_PAGE)};
        w.rows = 0;
        store_status st = s->drv->exec(s, AUDIT_PAGE_SQL, p, 2, walk_row, &w, NULL);
        if (st != STORE_OK)
            return st;
        if (!report->ok || w.rows < AUDIT_PAGE)
            return STORE_OK;
        after = w.last_seq;
    }
}

/*
 * store_outbox.c - the outbox of asynchronous answers (store_outbox.h), in
 * SQL both databases run unchanged.
 *
 * The capacity is checked inside the transaction that inserts, so on
 * SQLite (one writer) it is exact; on PostgreSQL two processes inserting at
 * the same instant at the boundary may each see room, and the outbox may
 * then hold a row or two more than its capacity - never fewer answers than
 * were acknowledged, which is the property that matters.
 *
 * A delivery is claimed by moving next_attempt_ms forward only if it still
 * holds the value the claimant read (compare-and-set): two processes never
 * POST the same row at once, and a process killed in the middle of a POST
 * leaves a row that falls due again when its lease ends.
 */
#include "store/store_outbox.h"
#include "store/store_driver.h"

#include <string.h>
#include <time.h>

static const char *const STATE_TEXT[STORE_OUTBOX_STATE_COUNT] = {"pending", "delivered", "expired"};

const char *store_outbox_state_name(store_outbox_state st)
{
    return (unsigned)st < STORE_OUTBOX_STATE_COUNT ? STATE_TEXT[st] : NULL;
}

static store_status state_parse(const char *text, store_outbox_state *out)
{
    for (unsigned i = 0; i < STORE_OUTBOX_STATE_COUNT; i++) {
        if (strcmp(text, STATE_TEXT[i]) == 0) {
            *out = (store_outbox_state)i;
            return STORE_OK;
        }
    }
    return STORE_ERR_CORRUPT;
}

int64_t store_now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static bool sender_ok(const char *id)
{
    size_t n = id != NULL ? strnlen(id, STORE_OUTBOX_SENDER_MAX + 1) : 0;
    return n > 0 && n <= STORE_OUTBOX_SENDER_MAX;
}

/* ---------------------------------------------------------------- rows */

#define ROW_COLS                                                                                                 \
    "SELECT sender_id, transaction_id, request_hash, answer_url, answer, state, attempts, next_attempt_ms, "     \
    "deadline_ms, created_ms FROM js_outbox "

typedef struct rows {
    store_outbox_entry *out;
    size_t cap, count;
} rows;

static store_status take_row(void *ctx, const store_value *c, size_t n)
{
    rows *r = ctx;
    if (r->count >= r->cap)
        return STORE_OK;
    store_outbox_entry *e = &r->out[r->count];
    if (n < 10 || c[0].type != STORE_V_TEXT || strlen(c[0].text) > STORE_OUTBOX_SENDER_MAX ||
        c[1].type != STORE_V_INT || c[1].i < 0 || c[1].i > 0xFFFFFFFFLL || c[2].type != STORE_V_BLOB ||
        c[2].len != STORE_OUTBOX_HASH_LEN || c[3].type != STORE_V_TEXT ||
        strlen(c[3].text) > STORE_OUTBOX_URL_MAX || c[4].type != STORE_V_TEXT ||
        strlen(c[4].text) > STORE_OUTBOX_ANSWER_MAX || c[5].type != STORE_V_TEXT || c[6].type != STORE_V_INT ||
        c[6].i < 0 || c[7].type != STORE_V_INT || c[8].type != STORE_V_INT || c[9].type != STORE_V_INT)
        return STORE_ERR_CORRUPT;
    memset(e, 0, offsetof(store_outbox_entry, answer));
    memcpy(e->sender_id, c[0].text, strlen(c[0].text) + 1);
    e->transaction_id = (uint32_t)c[1].i;
    memcpy(e->request_sha256, c[2].blob, STORE_OUTBOX_HASH_LEN);
    memcpy(e->answer_url, c[3].text, strlen(c[3].text) + 1);
    e->answer_len = strlen(c[4].text);
    memcpy(e->answer, c[4].text, e->answer_len + 1);
    if (state_parse(c[5].text, &e->state) != STORE_OK)
        return STORE_ERR_CORRUPT;
    e->attempts = (unsigned)c[6].i;
    e->next_attempt_ms = c[7].i;
    e->deadline_ms = c[8].i;
    e->created_ms = c[9].i;
    r->count++;
    return STORE_OK;
}

store_status store_outbox_find(store *s, const char *sender_id, uint32_t transaction_id, store_outbox_entry *out)
{
    if (s == NULL || out == NULL || !sender_ok(sender_id))
        return STORE_ERR_ARGUMENT;
    const store_value p[] = {SV_TEXT(sender_id), SV_INT(transaction_id)};
    rows r = {out, 1, 0};
    store_status st = s->drv->exec(s, ROW_COLS "WHERE sender_id = $1 AND transaction_id = $2", p, 2, take_row, &r,
                                   NULL);
    if (st == STORE_OK && r.count == 0)
        st = STORE_ERR_NOT_FOUND;
    return st;
}

static store_status count_row(void *ctx, const store_value *c, size_t n)
{
    if (n < 1 || c[0].type != STORE_V_INT || c[0].i < 0)
        return STORE_ERR_CORRUPT;
    *(size_t *)ctx = (size_t)c[0].i;
    return STORE_OK;
}

store_status store_outbox_count(store *s, store_outbox_state st, size_t *count)
{
    if (s == NULL || count == NULL || store_outbox_state_name(st) == NULL)
        return STORE_ERR_ARGUMENT;
    *count = 0;
    const store_value p[] = {SV_TEXT(STATE_TEXT[st])};
    return s->drv->exec(s, "SELECT count(*) FROM js_outbox WHERE state = $1", p, 1, count_row, count, NULL);
}

store_status store_outbox_due(store *s, int64_t now_ms, store_outbox_entry *out, size_t cap, size_t *count)
{
    if (s == NULL || out == NULL || count == NULL || cap == 0)
        return STORE_ERR_ARGUMENT;
    *count = 0;
    const store_value p[] = {SV_INT(now_ms), SV_INT((int64_t)cap)};
    rows r = {out, cap, 0};
    store_status st = s->drv->exec(s,
                                   ROW_COLS "WHERE state = 'pending' AND next_attempt_ms <= $1 "
                                            "ORDER BY next_attempt_ms, sender_id, transaction_id LIMIT $2",
                                   p, 2, take_row, &r, NULL);
    if (st == STORE_OK)
        *count = r.count;
    return st;
}

/* ---------------------------------------------------------------- writes */

typedef struct add_job {
    const store_outbox_entry *e;
    size_t capacity;
} add_job;

static store_status add_in_txn(store *s, void *ctx)
{
    add_job *j = ctx;
    const store_outbox_entry *e = j->e;
    size_t pending = 0;
    store_status st = store_outbox_count(s, STORE_OUTBOX_PENDING, &pending);
    if (st != STORE_OK)
        return st;
    if (pending >= j->capacity)
        return STORE_ERR_FULL;
    const store_value key[] = {SV_TEXT(e->sender_id), SV_INT(e->transaction_id)};
    int64_t changes = 0;
    /* a finished row of the same ID: the sender reused it for a new request */
    st = s->drv->exec(s, "DELETE FROM js_outbox WHERE sender_id = $1 AND transaction_id = $2 AND state <> 'pending'",
                      key, 2, NULL, NULL, &changes);
    if (st != STORE_OK)
        return st;
    int64_t now = store_now_ms();
    const store_value p[] = {
        SV_TEXT(e->sender_id),
        SV_INT(e->transaction_id),
        SV_BLOB(e->request_sha256, STORE_OUTBOX_HASH_LEN),
        SV_TEXT(e->answer_url),
        SV_TEXT(e->answer),
        SV_INT(e->next_attempt_ms),
        SV_INT(e->deadline_ms),
        SV_INT(now),
    };
    changes = 0;
    st = s->drv->exec(s,
                      "INSERT INTO js_outbox (sender_id, transaction_id, request_hash, answer_url, answer, state, "
                      "attempts, next_attempt_ms, deadline_ms, created_ms, updated_ms) "
                      "VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $7, $8, $8) "
                      "ON CONFLICT (sender_id, transaction_id) DO NOTHING",
                      p, sizeof p / sizeof p[0], NULL, NULL, &changes);
    if (st == STORE_OK && changes != 1)
        st = STORE_ERR_EXISTS;
    return st;
}

store_status store_outbox_add(store *s, const store_outbox_entry *e, size_t capacity)
{
    if (s == NULL || e == NULL || !sender_ok(e->sender_id) || e->answer_url[0] == '\0' ||
        strnlen(e->answer_url, STORE_OUTBOX_URL_MAX + 1) > STORE_OUTBOX_URL_MAX ||
        e->answer_len > STORE_OUTBOX_ANSWER_MAX || strnlen(e->answer, e->answer_len + 1) != e->answer_len ||
        e->answer_len == 0)
        return STORE_ERR_ARGUMENT;
    add_job j = {e, capacity};
    return store_txn(s, add_in_txn, &j);
}

/* Runs an UPDATE of one pending row: `none` when it changed no row. */
static store_status update_row(store *s, const char *sql, const store_value *p, size_t n, store_status none)
{
    int64_t changes = 0;
    store_status st = s->drv->exec(s, sql, p, n, NULL, NULL, &changes);
    return st != STORE_OK ? st : changes == 1 ? STORE_OK : none;
}

store_status store_outbox_claim(store *s, const char *sender_id, uint32_t transaction_id, int64_t seen_ms,
                                int64_t lease_ms)
{
    if (s == NULL || !sender_ok(sender_id))
        return STORE_ERR_ARGUMENT;
    const store_value p[] = {SV_TEXT(sender_id), SV_INT(transaction_id), SV_INT(seen_ms), SV_INT(lease_ms),
                             SV_INT(store_now_ms())};
    return update_row(s,
                      "UPDATE js_outbox SET next_attempt_ms = $4, updated_ms = $5 WHERE sender_id = $1 "
                      "AND transaction_id = $2 AND state = 'pending' AND next_attempt_ms = $3",
                      p, 5, STORE_ERR_BUSY);
}

store_status store_outbox_retry_at(store *s, const char *sender_id, uint32_t transaction_id, int64_t next_ms)
{
    if (s == NULL || !sender_ok(sender_id))
        return STORE_ERR_ARGUMENT;
    const store_value p[] = {SV_TEXT(sender_id), SV_INT(transaction_id), SV_INT(next_ms), SV_INT(store_now_ms())};
    return update_row(s,
                      "UPDATE js_outbox SET attempts = attempts + 1, next_attempt_ms = $3, updated_ms = $4 "
                      "WHERE sender_id = $1 AND transaction_id = $2 AND state = 'pending'",
                      p, 4, STORE_ERR_NOT_FOUND);
}

store_status store_outbox_finish(store *s, const char *sender_id, uint32_t transaction_id, store_outbox_state to)
{
    if (s == NULL || !sender_ok(sender_id) || (to != STORE_OUTBOX_DELIVERED && to != STORE_OUTBOX_EXPIRED))
        return STORE_ERR_ARGUMENT;
    const store_value p[] = {SV_TEXT(sender_id), SV_INT(transaction_id), SV_TEXT(STATE_TEXT[to]),
                             SV_INT(to == STORE_OUTBOX_DELIVERED ? 1 : 0), SV_INT(store_now_ms())};
    return update_row(s,
                      "UPDATE js_outbox SET state = $3, attempts = attempts + $4, updated_ms = $5 "
                      "WHERE sender_id = $1 AND transaction_id = $2 AND state = 'pending'",
                      p, 5, STORE_ERR_NOT_FOUND);
}

store_status store_outbox_purge(store *s, int64_t before_ms, size_t *deleted)
{
    if (s == NULL)
        return STORE_ERR_ARGUMENT;
    const store_value p[] = {SV_INT(before_ms)};
    int64_t changes = 0;
    store_status st = s->drv->exec(s, "DELETE FROM js_outbox WHERE state <> 'pending' AND updated_ms < $1", p, 1, NULL,
                                   NULL, &changes);
    if (st == STORE_OK && deleted != NULL)
        *deleted = (size_t)changes;
    return st;
}

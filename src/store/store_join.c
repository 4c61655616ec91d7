/*
 * store_join.c - the heart of the Join Server's state: one transaction per
 * JoinReq or RejoinReq that checks the nonce rule, takes the JoinNonce and
 * keeps the session, or changes nothing.
 *
 * Order inside the transaction, and why:
 *  1. Lock the device (PostgreSQL: FOR UPDATE; SQLite: the writer lock
 *     BEGIN IMMEDIATE took) and read its MAC version and JoinNonce counter.
 *     Everything after reads state no other server can change until commit.
 *  2. The DevNonce (or RJcount) rule, on the newest committed state.
 *  3. The JoinNonce: the counter's value, refused once 2^24 were issued.
 *  4. The caller derives the session keys with that JoinNonce (in the HSM)
 *     and hands back wrapped blobs; refusing rolls everything back, so a
 *     failed derivation burns neither the DevNonce nor the JoinNonce. If
 *     the caller prepared the session before the transaction for exactly
 *     this grant (store_prepared), that one is kept and nothing is called:
 *     the HSM work then ran outside the writer lock.
 *  5. Write: counter + 1, the JoinNonce as the session in force
 *     (last_join_nonce), the DevNonce (or RJcount), the session; commit.
 *
 * DevNonces are kept one row per accepted value in dev_nonces, with primary
 * key (dev_eui, join_eui, dev_nonce), for every MAC version. Why rows and
 * not an 8 KiB bitmap per pair: a join writes one small row instead of
 * rewriting 8 KiB (the WAL of a busy server would carry 8 KiB per join), the
 * same table answers both rules (1.0.0-1.0.3: "is this value there?";
 * 1.0.4/1.1: "MAX(dev_nonce)" - both one index lookup), and the primary key
 * is a guard of its own: whatever the isolation, the database cannot hold one
 * DevNonce twice. The worst case, a 1.0.x device that used all 65,536
 * values, is about 3 MB of rows, bounded.
 */
#include "store/store_driver.h"

#include <assert.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct commit_ctx {
    /* in */
    uint64_t dev_eui;
    uint64_t join_eui;     /* JoinReq and rejoin type 1: from the frame */
    uint16_t nonce;        /* DevNonce or RJcount */
    int rejoin_type;       /* -1: JoinReq */
    store_session_fn make_session;
    void *user;
    const store_prepared *prepared;
    /* read under the lock */
    bool found;
    store_mac_version mac;
    int64_t next_join_nonce;
    int64_t last_join_nonce; /* of the session in force here, -1: none */
    /* out */
    store_join_result result;
} commit_ctx;

static store_status device_locked_row(void *ctx, const store_value *c, size_t n)
{
    commit_ctx *x = ctx;
    uint64_t join_eui;
    if (n < 4 || c[0].type != STORE_V_TEXT || c[1].type != STORE_V_TEXT || c[2].type != STORE_V_INT ||
        c[3].type != STORE_V_INT || store_eui_parse(c[0].text, &join_eui) != STORE_OK ||
        store_mac_version_parse(c[1].text, &x->mac) != STORE_OK || c[2].i < 0 || c[2].i > STORE_JOIN_NONCE_LIMIT ||
        c[3].i < -1 || c[3].i >= c[2].i)
        return STORE_ERR_CORRUPT;
    /* Rejoins of types 0 and 2 carry a NetID, not a JoinEUI: the device's. */
    if (x->rejoin_type == 0 || x->rejoin_type == 2)
        x->join_eui = join_eui;
    x->next_join_nonce = c[2].i;
    x->last_join_nonce = c[3].i;
    x->found = true;
    return STORE_OK;
}

static store_status int_row(void *ctx, const store_value *c, size_t n)
{
    if (n < 1 || c[0].type != STORE_V_INT)
        return STORE_ERR_CORRUPT;
    *(int64_t *)ctx = c[0].i;
    return STORE_OK;
}

typedef struct rj_row_data {
    bool found;
    int64_t last, session;
} rj_row_data;

static store_status rj_row(void *ctx, const store_value *c, size_t n)
{
    rj_row_data *r = ctx;
    if (n < 2 || c[0].type != STORE_V_INT || c[1].type != STORE_V_INT)
        return STORE_ERR_CORRUPT;
    r->found = true;
    r->last = c[0].i;
    r->session = c[1].i;
    return STORE_OK;
}

/* The lock is a statement of its own, and must stay one. Under READ
 * COMMITTED a statement that waited for a row lock re-reads that row, but
 * any subquery in it keeps the snapshot taken before the wait: folding the
 * DevNonce query into this one would check the rule against a state older
 * than the lock. The statements after it take fresh snapshots. */
static const char LOCK_DEVICE[] =
    "SELECT join_eui, mac_version, next_join_nonce, last_join_nonce FROM devices WHERE dev_eui = $1";
static const char LOCK_DEVICE_FOR_UPDATE[] =
    "SELECT join_eui, mac_version, next_join_nonce, last_join_nonce FROM devices WHERE dev_eui = $1 FOR UPDATE";

/* 1.0.4 and 1.1 (LoRaWAN 1.0.4 §6.2.5, 1.1 §6.2.5): DevNonce is a counter,
 * accept only above the last one. 1.0.0-1.0.3: DevNonce is random, accept
 * only a value never accepted for this (DevEUI, JoinEUI). */
static store_status check_dev_nonce(store *s, commit_ctx *x, const char *dev, const char *join)
{
    int64_t v = -1;
    store_status st;
    if (store_mac_version_counts_dev_nonce(x->mac)) {
        const store_value p[] = {SV_TEXT(dev), SV_TEXT(join)};
        st = s->drv->exec(s, "SELECT COALESCE(MAX(dev_nonce), -1) FROM dev_nonces WHERE dev_eui = $1 AND join_eui = $2",
                          p, 2, int_row, &v, NULL);
        if (st == STORE_OK && (int64_t)x->nonce <= v)
            st = STORE_ERR_REPLAY;
    } else {
        const store_value p[] = {SV_TEXT(dev), SV_TEXT(join), SV_INT(x->nonce)};
        v = 0;
        st = s->drv->exec(s,
                          "SELECT COUNT(*) FROM dev_nonces WHERE dev_eui = $1 AND join_eui = $2 AND dev_nonce = $3",
                          p, 3, int_row, &v, NULL);
        if (st == STORE_OK && v != 0)
            st = STORE_ERR_REPLAY;
    }
    return st;
}

/* RJcount1 (type 1) lives as long as the device and only grows. RJcount0
 * (types 0 and 2) restarts at 0 with every session, so a value is compared
 * only with the last one received while the same session was in force -
 * the session being named by its JoinNonce (docs/store.md discusses what
 * this can catch). */
static store_status check_rj_count(store *s, commit_ctx *x, const char *dev, const char *join, int64_t session)
{
    rj_row_data r = {0};
    const store_value p[] = {SV_TEXT(dev), SV_TEXT(join), SV_INT(x->rejoin_type == 1 ? 1 : 0)};
    store_status st = s->drv->exec(s,
                                   "SELECT last_count, session_join_nonce FROM rejoin_counts "
                                   "WHERE dev_eui = $1 AND join_eui = $2 AND counter = $3",
                                   p, 3, rj_row, &r, NULL);
    if (st != STORE_OK || !r.found)
        return st;
    bool same_epoch = x->rejoin_type == 1 || r.session == session;
    return same_epoch && (int64_t)x->nonce <= r.last ? STORE_ERR_REPLAY : STORE_OK;
}

static bool session_ok(const store_session *ss)
{
    return ss->session_key_id_len > 0 && ss->session_key_id_len <= STORE_SESSION_ID_MAX &&
           ss->app_s_key.len <= STORE_BLOB_MAX && ss->f_nwk_s_int_key.len <= STORE_BLOB_MAX &&
           ss->s_nwk_s_int_key.len <= STORE_BLOB_MAX && ss->nwk_s_enc_key.len <= STORE_BLOB_MAX;
}

static store_value opt_blob(const store_blob *b)
{
    return b->len > 0 ? SV_BLOB(b->data, b->len) : SV_NULL;
}

static bool grant_equal(const store_join_grant *a, const store_join_grant *b)
{
    return a->dev_eui == b->dev_eui && a->join_eui == b->join_eui && a->mac_version == b->mac_version &&
           a->dev_nonce == b->dev_nonce && a->join_nonce == b->join_nonce;
}

static store_status commit_body(store *s, void *ctx)
{
    commit_ctx *x = ctx;
    char dev[17], join[17];
    store_eui_text(x->dev_eui, dev);
    x->found = false;

    /* 1. the device, locked */
    const store_value pd[] = {SV_TEXT(dev)};
    store_status st = s->drv->exec(s, s->drv->row_locks ? LOCK_DEVICE_FOR_UPDATE : LOCK_DEVICE, pd, 1,
                                   device_locked_row, x, NULL);
    if (st != STORE_OK)
        return st;
    if (!x->found)
        return STORE_ERR_NOT_FOUND;
    store_eui_text(x->join_eui, join);
    /* Not next_join_nonce - 1: a counter may start at a floor, and a device
     * that moved here with one has no session on this server yet. */
    int64_t session_in_force = x->last_join_nonce; /* -1: never answered here */

    /* 2. the nonce rule */
    if (x->rejoin_type < 0) {
        st = check_dev_nonce(s, x, dev, join);
    } else if (x->mac != STORE_MAC_1_1) {
        st = STORE_ERR_NOT_ALLOWED;
    } else if ((x->rejoin_type == 0 || x->rejoin_type == 2) && session_in_force < 0) {
        /* Types 0 and 2 carry no MIC the Join Server can check (the NS
         * checks it with SNwkSIntKey): only a device that has a session
         * may be answered, never one that never joined. */
        st = STORE_ERR_NO_SESSION;
    } else {
        st = check_rj_count(s, x, dev, join, session_in_force);
    }
    if (st != STORE_OK)
        return st;

    /* 3. the JoinNonce */
    if (x->next_join_nonce >= STORE_JOIN_NONCE_LIMIT)
        return STORE_ERR_JOIN_NONCE_EXHAUSTED;
    uint32_t join_nonce = (uint32_t)x->next_join_nonce;
    assert(join_nonce < STORE_JOIN_NONCE_LIMIT);

    /* 4. the caller's session */
    store_join_grant grant = {.dev_eui = x->dev_eui, .join_eui = x->join_eui, .mac_version = x->mac,
                              .dev_nonce = x->nonce, .join_nonce = join_nonce};
    store_session ss;
    bool used_prepared = x->prepared != NULL && grant_equal(&x->prepared->grant, &grant);
    if (used_prepared) {
        ss = x->prepared->session;
    } else {
        memset(&ss, 0, sizeof ss);
        if (x->make_session(x->user, &grant, &ss) != STORE_OK)
            return STORE_ERR_ABORTED;
    }
    if (!session_ok(&ss))
        return STORE_ERR_ARGUMENT;
    int64_t now = store_now();
    int64_t expires = ss.lifetime_s ? now + (int64_t)ss.lifetime_s : 0;

    /* 5. write */
    const store_value pu[] = {SV_TEXT(dev), SV_INT(join_nonce + 1), SV_INT(join_nonce)};
    if ((st = s->drv->exec(s, "UPDATE devices SET next_join_nonce = $2, last_join_nonce = $3 WHERE dev_eui = $1",
                           pu, 3, NULL, NULL, NULL)) != STORE_OK)
        return st;
    if (x->rejoin_type < 0) {
        const store_value pn[] = {SV_TEXT(dev), SV_TEXT(join), SV_INT(x->nonce), SV_INT(join_nonce), SV_INT(now)};
        st = s->drv->exec(s,
                          "INSERT INTO dev_nonces (dev_eui, join_eui, dev_nonce, join_nonce, accepted_at) "
                          "VALUES ($1, $2, $3, $4, $5)",
                          pn, 5, NULL, NULL, NULL);
        if (st == STORE_ERR_EXISTS) /* the primary key caught what the rule did not */
            st = STORE_ERR_REPLAY;
    } else {
        const store_value pr[] = {SV_TEXT(dev), SV_TEXT(join), SV_INT(x->rejoin_type == 1 ? 1 : 0),
                                  SV_INT(x->nonce), SV_INT(session_in_force), SV_INT(now)};
        st = s->drv->exec(s,
                          "INSERT INTO rejoin_counts (dev_eui, join_eui, counter, last_count, session_join_nonce, "
                          "updated_at) VALUES ($1, $2, $3, $4, $5, $6) "
                          "ON CONFLICT (dev_eui, join_eui, counter) DO UPDATE SET last_count = excluded.last_count, "
                          "session_join_nonce = excluded.session_join_nonce, updated_at = excluded.updated_at",
                          pr, 6, NULL, NULL, NULL);
    }
    if (st != STORE_OK)
        return st;
    const store_value ps[] = {
        SV_TEXT(dev), SV_BLOB(ss.session_key_id, ss.session_key_id_len), SV_TEXT(join), SV_INT(join_nonce),
        SV_INT(x->nonce), SV_INT(x->rejoin_type), SV_INT(ss.dev_addr), opt_blob(&ss.app_s_key),
        opt_blob(&ss.f_nwk_s_int_key), opt_blob(&ss.s_nwk_s_int_key), opt_blob(&ss.nwk_s_enc_key),
        SV_INT(ss.lifetime_s), SV_INT(now), SV_INT(expires),
    };
    st = s->drv->exec(s,
                      "INSERT INTO sessions (dev_eui, session_key_id, join_eui, join_nonce, dev_nonce, rejoin_type, "
                      "dev_addr, app_s_key, f_nwk_s_int_key, s_nwk_s_int_key, nwk_s_enc_key, lifetime_s, "
                      "created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
                      ps, sizeof ps / sizeof ps[0], NULL, NULL, NULL);
    memset(&ss, 0, sizeof ss); /* blobs are wrapped, but keep no copies around */
    if (st != STORE_OK)
        return st;
    assert(x->found && st == STORE_OK);
    x->result = (store_join_result){.join_nonce = join_nonce, .mac_version = x->mac, .created_at = now,
                                    .expires_at = expires, .used_prepared = used_prepared};
    return STORE_OK;
}

static commit_ctx join_ctx(const store_join *j)
{
    return (commit_ctx){.dev_eui = j->dev_eui, .join_eui = j->join_eui, .nonce = j->dev_nonce, .rejoin_type = -1,
                        .make_session = j->make_session, .user = j->ctx, .prepared = j->prepared};
}

static commit_ctx rejoin_ctx(const store_rejoin *r)
{
    return (commit_ctx){.dev_eui = r->dev_eui, .join_eui = r->join_eui, .nonce = r->rj_count,
                        .rejoin_type = r->rejoin_type, .make_session = r->make_session, .user = r->ctx,
                        .prepared = r->prepared};
}

static bool rejoin_args_ok(const store_rejoin *r)
{
    return r->make_session != NULL && r->rejoin_type >= 0 && r->rejoin_type <= 2;
}

store_status store_join_commit(store *s, const store_join *j, store_join_result *out)
{
    if (s == NULL || j == NULL || j->make_session == NULL || out == NULL)
        return STORE_ERR_ARGUMENT;
    commit_ctx x = join_ctx(j);
    store_status st = store_txn(s, commit_body, &x);
    if (st == STORE_OK)
        *out = x.result;
    return st;
}

store_status store_rejoin_commit(store *s, const store_rejoin *r, store_join_result *out)
{
    if (s == NULL || r == NULL || out == NULL || !rejoin_args_ok(r))
        return STORE_ERR_ARGUMENT;
    commit_ctx x = rejoin_ctx(r);
    store_status st = store_txn(s, commit_body, &x);
    if (st == STORE_OK)
        *out = x.result;
    return st;
}

/* ---------------------------------------------------------------- group commit
 *
 * Why: with synchronous=FULL every SQLite COMMIT is an fsync of the WAL
 * (about a millisecond on the development machine), and SQLite has one
 * writer, so one join per transaction caps a server at ~1,000 joins/s
 * whatever its CPU count. A queue lets joins that arrive during one fsync
 * share the next one.
 *
 * How: a thread that wants to commit appends its item to the queue. If no
 * thread is writing, it becomes the writer: it takes the whole queue (its
 * own item included), runs every item's commit_body in a SAVEPOINT of its
 * own inside one BEGIN IMMEDIATE, commits once, then marks every item done
 * and wakes the waiters. Items that arrive meanwhile queue up; when the
 * writer finishes, one of their threads becomes the next writer. Before it
 * takes the queue, a writer waits for the joins announced to the batch
 * (store_batch_announce: their threads are deriving keys and will queue
 * within moments), at most STORE_BATCH_WAIT_US: when the CPU rather than
 * the disk is the limit, what piles up during one fsync is one or two
 * joins, and the joins in flight are many. A lone join with nothing
 * announced is written at once.
 *
 * Why it keeps the guarantees:
 *  - the rules run in order inside one transaction that holds the writer
 *    lock, so each item sees the items before it (two JoinReqs of one device
 *    in one batch behave as two serial transactions: the second sees the
 *    first's DevNonce and JoinNonce);
 *  - a refused item is rolled back to its savepoint: it changes nothing and
 *    the other items keep their writes;
 *  - no caller returns STORE_OK before the COMMIT holding its writes
 *    returned; if the COMMIT (or a savepoint statement) fails, every item of
 *    the batch gets that error, and none was written;
 *  - the queued callers' make_session may run on the writer's thread, while
 *    their own thread waits on the condition variable: each callback still
 *    runs on one thread at a time, and its context is published by the mutex.
 */
typedef struct batch_item {
    commit_ctx *x;
    store_status st;
    bool done;
    pthread_cond_t wake; /* its thread sleeps here: until done, or its turn to write */
    struct batch_item *next;
} batch_item;

struct store_batch {
    pthread_mutex_t lock;
    pthread_cond_t announced; /* a writer waits here for announced joins */
    batch_item *head, *tail; /* waiting to be written */
    bool writing;            /* a thread is writing a batch */
    /* Joins announced (store_batch_announce) and not yet queued or
     * withdrawn, by the parity of the epoch they were announced in: a
     * writer closes the current epoch and waits for that one only, so joins
     * announced while it waits do not keep it waiting. */
    unsigned coming[2];
    unsigned epoch;
    uint64_t transactions, joins; /* store_batch_counts */
    uint64_t waits_cut;           /* writers that stopped waiting at STORE_BATCH_WAIT_US */
};

store_status store_batch_new(store_batch **out)
{
    if (out == NULL)
        return STORE_ERR_ARGUMENT;
    store_batch *b = calloc(1, sizeof *b);
    if (b == NULL)
        return STORE_ERR_NOMEM;
    if (pthread_mutex_init(&b->lock, NULL) != 0) {
        free(b);
        return STORE_ERR_NOMEM;
    }
    if (pthread_cond_init(&b->announced, NULL) != 0) {
        pthread_mutex_destroy(&b->lock);
        free(b);
        return STORE_ERR_NOMEM;
    }
    *out = b;
    return STORE_OK;
}

void store_batch_free(store_batch *b)
{
    if (b == NULL)
        return;
    assert(b->head == NULL && !b->writing);
    pthread_cond_destroy(&b->announced);
    pthread_mutex_destroy(&b->lock);
    free(b);
}

void store_batch_counts(store_batch *b, uint64_t *transactions, uint64_t *joins, uint64_t *waits_cut)
{
    pthread_mutex_lock(&b->lock);
    *transactions = b->transactions;
    *joins = b->joins;
    *waits_cut = b->waits_cut;
    pthread_mutex_unlock(&b->lock);
}

void store_batch_announce(store_batch *b, store_batch_ticket *t)
{
    t->live = false;
    if (b == NULL)
        return;
    pthread_mutex_lock(&b->lock);
    t->parity = b->epoch & 1u;
    t->live = true;
    b->coming[t->parity]++;
    pthread_mutex_unlock(&b->lock);
}

/* Under b->lock. */
static void ticket_resolve(store_batch *b, store_batch_ticket *t)
{
    if (t == NULL || !t->live)
        return;
    assert(b->coming[t->parity] > 0);
    b->coming[t->parity]--;
    t->live = false;
    if (b->coming[t->parity] == 0 && b->writing)
        pthread_cond_signal(&b->announced);
}

void store_batch_withdraw(store_batch *b, store_batch_ticket *t)
{
    if (b == NULL || t == NULL)
        return;
    pthread_mutex_lock(&b->lock);
    ticket_resolve(b, t);
    pthread_mutex_unlock(&b->lock);
}

/* Under b->lock, by the thread about to write: closes the epoch and waits
 * until every join announced in it is queued or withdrawn, at most
 * STORE_BATCH_WAIT_US. Those joins are deriving their keys on other
 * threads and are about to queue: waiting for them makes one commit (one
 * fsync) out of what would be several, the batch growing with the joins in
 * flight. A stall (a slow HSM call) costs at most the bound, never
 * correctness: the wait decides only how the queue is cut. */
static void wait_for_announced(store_batch *b)
{
    unsigned closed = b->epoch & 1u;
    b->epoch++;
    if (b->coming[closed] == 0)
        return;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += STORE_BATCH_WAIT_US * 1000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    while (b->coming[closed] > 0) {
        if (pthread_cond_timedwait(&b->announced, &b->lock, &until) != 0) {
            b->waits_cut++;
            return;
        }
    }
}

static const char SP_OPEN[] = "SAVEPOINT store_join";
static const char SP_RELEASE[] = "RELEASE SAVEPOINT store_join";
static const char SP_UNDO[] = "ROLLBACK TO SAVEPOINT store_join";

static store_status sql(store *s, const char *text)
{
    return s->drv->exec(s, text, NULL, 0, NULL, NULL, NULL);
}

/* The body of a batch's transaction (store_txn retries it whole on BUSY). A
 * non-OK return fails the whole batch; an item's own refusal does not. */
static store_status batch_body(store *s, void *ctx)
{
    batch_item *list = ctx;
    if (list->next == NULL) { /* alone: the transaction is its savepoint */
        list->st = commit_body(s, list->x);
        return list->st;
    }
    for (batch_item *it = list; it != NULL; it = it->next) {
        store_status st = sql(s, SP_OPEN);
        if (st != STORE_OK)
            return st;
        it->st = commit_body(s, it->x);
        if (it->st == STORE_ERR_BUSY)
            return STORE_ERR_BUSY;
        if (it->st != STORE_OK) {
            /* If the database abandoned the whole transaction (an I/O error,
             * say), the savepoint is gone and this fails: the batch fails,
             * rather than the next items running outside a transaction. */
            if ((st = sql(s, SP_UNDO)) != STORE_OK)
                return st;
        }
        if ((st = sql(s, SP_RELEASE)) != STORE_OK)
            return st;
    }
    return STORE_OK;
}

static store_status batched(store *s, store_batch *b, commit_ctx *x, store_batch_ticket *t)
{
    batch_item me = {.x = x, .st = STORE_ERR_BUSY, .wake = PTHREAD_COND_INITIALIZER};
    pthread_mutex_lock(&b->lock);
    ticket_resolve(b, t);
    if (b->tail != NULL)
        b->tail->next = &me;
    else
        b->head = &me;
    b->tail = &me;
    while (!me.done) {
        if (b->writing) {
            pthread_cond_wait(&me.wake, &b->lock);
            continue;
        }
        /* Not done and nobody writing: `me` is still queued. Write it all,
         * once the joins announced so far have joined the queue. */
        b->writing = true;
        wait_for_announced(b);
        batch_item *list = b->head;
        b->head = b->tail = NULL;
        pthread_mutex_unlock(&b->lock);
        store_status st = store_txn(s, batch_body, list);
        pthread_mutex_lock(&b->lock);
        b->transactions++;
        for (batch_item *it = list, *next; it != NULL; it = next) {
            next = it->next;
            b->joins++;
            if (st != STORE_OK)
                it->st = st;
            it->done = true; /* its thread may return once we unlock */
            pthread_cond_signal(&it->wake);
        }
        b->writing = false;
        /* the first of those queued meanwhile writes the next batch; the
         * others sleep on until theirs is written (no herd wakes per batch) */
        if (b->head != NULL)
            pthread_cond_signal(&b->head->wake);
    }
    pthread_mutex_unlock(&b->lock);
    pthread_cond_destroy(&me.wake);
    return me.st;
}

store_status store_join_commit_batched(store *s, store_batch *b, const store_join *j, store_join_result *out)
{
    if (b == NULL || s == NULL || s->drv->row_locks)
        return store_join_commit(s, j, out);
    if (j == NULL || j->make_session == NULL || out == NULL)
        return STORE_ERR_ARGUMENT;
    commit_ctx x = join_ctx(j);
    store_status st = batched(s, b, &x, j->ticket);
    if (st == STORE_OK)
        *out = x.result;
    return st;
}

store_status store_rejoin_commit_batched(store *s, store_batch *b, const store_rejoin *r, store_join_result *out)
{
    if (b == NULL || s == NULL || s->drv->row_locks)
        return store_rejoin_commit(s, r, out);
    if (r == NULL || out == NULL || !rejoin_args_ok(r))
        return STORE_ERR_ARGUMENT;
    commit_ctx x = rejoin_ctx(r);
    store_status st = batched(s, b, &x, r->ticket);
    if (st == STORE_OK)
        *out = x.result;
    return st;
}

/*
 * test_store_batch.c - group commit (store_join_commit_batched) and sessions
 * prepared outside the transaction (store_prepared), on SQLite, where they
 * matter:
 *  - a prepared session is kept only when its grant is the real one; else
 *    make_session runs inside and its session is the one kept;
 *  - threads racing one DevNonce through one batch: exactly one wins per
 *    round, whatever ends up in the same transaction;
 *  - threads on interleaved DevNonces of one device: JoinNonces unique and
 *    contiguous, accepted DevNonces strictly increasing in JoinNonce order
 *    (1.1), i.e. the batched history is a serial one;
 *  - a callback that refuses inside a batch rolls back its own join only;
 *  - the fallbacks (no batch) behave like store_join_commit;
 *  - announced joins (store_batch_announce): the writer waits for them (one
 *    transaction for joins announced together), at most its bound (a join
 *    that never comes is a counted cut), and the rules still hold between
 *    two joins of one device in that transaction.
 * The durability side (kill -9 while batches commit) is js_kill.sh's.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/store.h"

#define JOIN_EUI 0x70B3D57ED0000001ull
#define THREADS 8

typedef struct fixture {
    char dir[256];
    char location[512];
    store *s;
    store_batch *b;
} fixture;

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(fx->dir, sizeof fx->dir, "%s/ferry-batch.XXXXXX", base);
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->location, sizeof fx->location, "sqlite:%s/ferry.db", fx->dir);
    assert_int_equal(store_open(fx->location, &fx->s), STORE_OK);
    assert_int_equal(store_batch_new(&fx->b), STORE_OK);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    store_batch_free(fx->b);
    store_close(fx->s);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx->dir);
    int rc = system(cmd);
    free(fx);
    return rc == 0 ? 0 : -1;
}

static store_blob fake_blob(uint8_t seed)
{
    store_blob b = {.len = 24};
    for (size_t i = 0; i < b.len; i++)
        b.data[i] = (uint8_t)(seed + 13 * i);
    return b;
}

static void add_device(store *s, uint64_t dev_eui, store_mac_version v)
{
    store_device d;
    memset(&d, 0, sizeof d);
    d.dev_eui = dev_eui;
    d.join_eui = JOIN_EUI;
    d.mac_version = v;
    d.home_net_id = 0x13;
    d.nwk_key = fake_blob(1);
    if (v == STORE_MAC_1_1)
        d.app_key = fake_blob(2);
    strcpy(d.ns_kek_label, "ns-kek");
    assert_int_equal(store_device_put(s, &d, false), STORE_OK);
}

/* Session ID = 0xA5 and the JoinNonce; ctx (may be NULL) counts calls. With
 * refuse_every = n, every n-th call (process-wide) refuses. */
static int refuse_every;
static int calls_total;
static pthread_mutex_t calls_lock = PTHREAD_MUTEX_INITIALIZER;

static store_status make_session(void *ctx, const store_join_grant *g, store_session *ss)
{
    pthread_mutex_lock(&calls_lock);
    int k = ++calls_total;
    pthread_mutex_unlock(&calls_lock);
    if (ctx != NULL)
        (*(int *)ctx)++;
    if (refuse_every > 0 && k % refuse_every == 0)
        return STORE_ERR_BACKEND;
    ss->session_key_id_len = 4;
    ss->session_key_id[0] = 0xA5;
    ss->session_key_id[1] = (uint8_t)(g->join_nonce >> 16);
    ss->session_key_id[2] = (uint8_t)(g->join_nonce >> 8);
    ss->session_key_id[3] = (uint8_t)g->join_nonce;
    ss->app_s_key = fake_blob((uint8_t)g->join_nonce);
    return STORE_OK;
}

static uint32_t next_join_nonce(store *s, uint64_t dev)
{
    store_device d;
    assert_int_equal(store_device_get(s, dev, &d), STORE_OK);
    return d.next_join_nonce;
}

/* ---------------------------------------------------------------- prepared */

static void test_prepared_session(void **state)
{
    fixture *fx = *state;
    add_device(fx->s, 0x100, STORE_MAC_1_0_4);
    int calls = 0;
    store_prepared p;
    memset(&p, 0, sizeof p);
    p.grant = (store_join_grant){.dev_eui = 0x100, .join_eui = JOIN_EUI, .mac_version = STORE_MAC_1_0_4,
                                 .dev_nonce = 1, .join_nonce = 1};
    p.session.session_key_id_len = 3;
    memcpy(p.session.session_key_id, "\x01\x02\x03", 3);
    p.session.app_s_key = fake_blob(77);
    store_join j = {.dev_eui = 0x100, .join_eui = JOIN_EUI, .dev_nonce = 1, .make_session = make_session,
                    .ctx = &calls, .prepared = &p};
    store_join_result r;
    assert_int_equal(store_join_commit_batched(fx->s, fx->b, &j, &r), STORE_OK);
    assert_int_equal(r.join_nonce, 1);
    assert_int_equal(calls, 0); /* the prepared session was right: no callback */
    assert_true(r.used_prepared);
    store_session got;
    assert_int_equal(store_session_get(fx->s, 0x100, (const uint8_t *)"\x01\x02\x03", 3, &got), STORE_OK);
    assert_memory_equal(got.app_s_key.data, fake_blob(77).data, 24);

    /* Prepared for JoinNonce 1 again (stale): the store must call back for 2. */
    j.dev_nonce = 2;
    p.grant.dev_nonce = 2;
    assert_int_equal(store_join_commit_batched(fx->s, fx->b, &j, &r), STORE_OK);
    assert_int_equal(r.join_nonce, 2);
    assert_int_equal(calls, 1);
    assert_false(r.used_prepared);
    const uint8_t id2[4] = {0xA5, 0, 0, 2};
    assert_int_equal(store_session_get(fx->s, 0x100, id2, 4, &got), STORE_OK);
    assert_int_equal(got.join_nonce, 2);

    /* Prepared with another DevNonce than the request's: not used either. */
    p.grant.join_nonce = 3;
    p.grant.dev_nonce = 9;
    j.dev_nonce = 3;
    assert_int_equal(store_join_commit(fx->s, &j, &r), STORE_OK);
    assert_int_equal(calls, 2);
    /* A replay with a perfect prepared session is still a replay. */
    p.grant = (store_join_grant){.dev_eui = 0x100, .join_eui = JOIN_EUI, .mac_version = STORE_MAC_1_0_4,
                                 .dev_nonce = 3, .join_nonce = 4};
    assert_int_equal(store_join_commit_batched(fx->s, fx->b, &j, &r), STORE_ERR_REPLAY);
    assert_int_equal(next_join_nonce(fx->s, 0x100), 4);
    /* No batch: the plain commit, which takes a prepared session too. */
    j.dev_nonce = 4;
    p.grant.dev_nonce = 4;
    memcpy(p.session.session_key_id, "\x04\x05\x06", 3);
    assert_int_equal(store_join_commit_batched(fx->s, NULL, &j, &r), STORE_OK);
    assert_int_equal(r.join_nonce, 4);
    assert_int_equal(calls, 2);
}

/* ---------------------------------------------------------------- races */

typedef struct racer {
    const char *location;
    store_batch *b;
    pthread_barrier_t *barrier;
    uint64_t dev;
    int id, rounds, per_round;
    bool same;
    int attempts;
    uint16_t nonce[256];
    store_status st[256];
    uint32_t jn[256];
} racer;

static void *race(void *arg)
{
    racer *r = arg;
    store *s = NULL;
    assert_int_equal(store_open(r->location, &s), STORE_OK);
    for (int round = 0; round < r->rounds; round++) {
        pthread_barrier_wait(r->barrier);
        for (int k = 0; k < r->per_round; k++) {
            int a = r->attempts++;
            r->nonce[a] = r->same ? (uint16_t)(round + 1) : (uint16_t)((round * r->per_round + k) * THREADS + r->id);
            /* announced as the Join Server does: writers wait for it */
            store_batch_ticket t;
            store_batch_announce(r->b, &t);
            store_join j = {.dev_eui = r->dev, .join_eui = JOIN_EUI, .dev_nonce = r->nonce[a],
                            .make_session = make_session, .ticket = &t};
            store_join_result res;
            r->st[a] = store_join_commit_batched(s, r->b, &j, &res);
            store_batch_withdraw(r->b, &t);
            assert_false(t.live);
            r->jn[a] = res.join_nonce;
        }
    }
    store_close(s);
    return NULL;
}

static racer racers[THREADS];

static void run(fixture *fx, uint64_t dev, int rounds, int per_round, bool same)
{
    pthread_barrier_t barrier;
    pthread_t th[THREADS];
    assert_int_equal(pthread_barrier_init(&barrier, NULL, THREADS), 0);
    for (int i = 0; i < THREADS; i++) {
        racers[i] = (racer){.location = fx->location, .b = fx->b, .barrier = &barrier, .dev = dev, .id = i,
                            .rounds = rounds, .per_round = per_round, .same = same};
        assert_int_equal(pthread_create(&th[i], NULL, race, &racers[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&barrier);
}

static void test_race_same_dev_nonce(void **state)
{
    fixture *fx = *state;
    const store_mac_version versions[] = {STORE_MAC_1_0_2, STORE_MAC_1_1};
    for (int v = 0; v < 2; v++) {
        uint64_t dev = 0x200 + (uint64_t)v;
        add_device(fx->s, dev, versions[v]);
        run(fx, dev, 25, 1, true);
        for (int round = 0; round < 25; round++) {
            int winners = 0;
            for (int i = 0; i < THREADS; i++) {
                if (racers[i].st[round] == STORE_OK)
                    winners++;
                else if (racers[i].st[round] != STORE_ERR_REPLAY)
                    fail_msg("racer %d: %s", i, store_strerror(racers[i].st[round]));
            }
            if (winners != 1)
                fail_msg("round %d: %d threads had the same DevNonce accepted", round, winners);
        }
        assert_int_equal(next_join_nonce(fx->s, dev), 25 + STORE_JOIN_NONCE_FIRST);
    }
}

static void test_race_interleaved(void **state)
{
    fixture *fx = *state;
    enum { ROUNDS = 10, PER = 5, TOTAL = THREADS * ROUNDS * PER };
    add_device(fx->s, 0x300, STORE_MAC_1_1);
    run(fx, 0x300, ROUNDS, PER, false);
    static int32_t by_jn[TOTAL];
    for (int k = 0; k < TOTAL; k++)
        by_jn[k] = -1;
    int accepted = 0;
    for (int i = 0; i < THREADS; i++) {
        for (int a = 0; a < racers[i].attempts; a++) {
            if (racers[i].st[a] == STORE_ERR_REPLAY)
                continue;
            assert_int_equal(racers[i].st[a], STORE_OK);
            uint32_t k = racers[i].jn[a] - STORE_JOIN_NONCE_FIRST;
            assert_true(racers[i].jn[a] >= STORE_JOIN_NONCE_FIRST && k < (uint32_t)TOTAL);
            assert_int_equal(by_jn[k], -1);
            by_jn[k] = racers[i].nonce[a];
            accepted++;
        }
    }
    assert_true(accepted >= ROUNDS);
    for (int k = 0; k < accepted; k++) {
        assert_true(by_jn[k] >= 0);
        if (k > 0)
            assert_true(by_jn[k] > by_jn[k - 1]);
    }
    assert_int_equal(next_join_nonce(fx->s, 0x300), accepted + STORE_JOIN_NONCE_FIRST);
}

/* Every 3rd callback refuses: only those joins are missing, the batch
 * partners of a refused join are kept. 1.0.2 and distinct DevNonces, so
 * every join not refused is accepted. */
static void test_refusal_inside_batch(void **state)
{
    fixture *fx = *state;
    enum { ROUNDS = 10, PER = 5, TOTAL = THREADS * ROUNDS * PER };
    add_device(fx->s, 0x400, STORE_MAC_1_0_2);
    calls_total = 0;
    refuse_every = 3;
    run(fx, 0x400, ROUNDS, PER, false);
    refuse_every = 0;
    static uint8_t seen[TOTAL];
    memset(seen, 0, sizeof seen);
    int ok = 0, aborted = 0;
    for (int i = 0; i < THREADS; i++) {
        for (int a = 0; a < racers[i].attempts; a++) {
            if (racers[i].st[a] == STORE_ERR_ABORTED) {
                aborted++;
                continue;
            }
            assert_int_equal(racers[i].st[a], STORE_OK);
            uint32_t k = racers[i].jn[a] - STORE_JOIN_NONCE_FIRST;
            assert_true(racers[i].jn[a] >= STORE_JOIN_NONCE_FIRST && k < (uint32_t)TOTAL);
            assert_int_equal(seen[k]++, 0);
            ok++;
        }
    }
    assert_int_equal(ok + aborted, TOTAL);
    uint64_t txns = 0, joins = 0, cut = 0;
    store_batch_counts(fx->b, &txns, &joins, &cut);
    assert_int_equal(joins, TOTAL);
    if (txns >= joins) /* else nothing above tested a batch of more than one */
        fail_msg("no two joins shared a transaction (%llu for %llu)", (unsigned long long)txns,
                 (unsigned long long)joins);
    assert_true(aborted > 0);
    /* contiguous from the first: refused joins took none */
    assert_int_equal(next_join_nonce(fx->s, 0x400), ok + STORE_JOIN_NONCE_FIRST);
    for (int k = 0; k < ok; k++)
        assert_int_equal(seen[k], 1);
}

/* ---------------------------------------------------------------- announced joins */

typedef struct announced {
    const char *location;
    store_batch *b;
    store_batch_ticket *t;
    uint64_t dev;
    uint16_t nonce;
    store_status st;
} announced;

static void *commit_announced(void *arg)
{
    announced *a = arg;
    store *s = NULL;
    assert_int_equal(store_open(a->location, &s), STORE_OK);
    store_join j = {.dev_eui = a->dev, .join_eui = JOIN_EUI, .dev_nonce = a->nonce, .make_session = make_session,
                    .ticket = a->t};
    store_join_result res;
    a->st = store_join_commit_batched(s, a->b, &j, &res);
    store_close(s);
    return NULL;
}

typedef struct batch_counts {
    uint64_t txns, joins, cut;
} batch_counts;

static batch_counts counts(store_batch *b)
{
    batch_counts c;
    store_batch_counts(b, &c.txns, &c.joins, &c.cut);
    return c;
}

/* Two joins announced before either is queued: the thread that writes
 * waits for the other, so both go in one transaction unless the wait was
 * cut at its bound (counted). Same device and DevNonce: one of the two. */
static void two_announced(fixture *fx, uint64_t dev1, uint64_t dev2, uint16_t nonce1, uint16_t nonce2, announced *a)
{
    store_batch_ticket t[2];
    store_batch_announce(fx->b, &t[0]);
    store_batch_announce(fx->b, &t[1]);
    assert_true(t[0].live && t[1].live);
    a[0] = (announced){.location = fx->location, .b = fx->b, .t = &t[0], .dev = dev1, .nonce = nonce1};
    a[1] = (announced){.location = fx->location, .b = fx->b, .t = &t[1], .dev = dev2, .nonce = nonce2};
    batch_counts before = counts(fx->b);
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, commit_announced, &a[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    batch_counts after = counts(fx->b);
    assert_false(t[0].live || t[1].live); /* queuing resolved both */
    assert_int_equal(after.joins - before.joins, 2);
    if (after.cut == before.cut)
        assert_int_equal(after.txns - before.txns, 1);
}

static void test_announced_joins(void **state)
{
    fixture *fx = *state;
    add_device(fx->s, 0x500, STORE_MAC_1_0_4);
    add_device(fx->s, 0x501, STORE_MAC_1_0_2);

    /* An announced join that never comes: a join waits at most the bound,
     * then commits alone, and the cut is counted. Withdrawing twice is
     * harmless. */
    store_batch_ticket lost;
    store_batch_announce(fx->b, &lost);
    store_join j = {.dev_eui = 0x500, .join_eui = JOIN_EUI, .dev_nonce = 1, .make_session = make_session};
    store_join_result r;
    batch_counts c0 = counts(fx->b);
    assert_int_equal(store_join_commit_batched(fx->s, fx->b, &j, &r), STORE_OK);
    batch_counts c1 = counts(fx->b);
    assert_int_equal(c1.txns - c0.txns, 1);
    assert_int_equal(c1.cut - c0.cut, 1);
    store_batch_withdraw(fx->b, &lost);
    assert_false(lost.live);
    store_batch_withdraw(fx->b, &lost);
    /* withdrawn: the next lone join does not wait */
    j.dev_nonce = 2;
    assert_int_equal(store_join_commit_batched(fx->s, fx->b, &j, &r), STORE_OK);
    assert_int_equal(counts(fx->b).cut, c1.cut);

    announced a[2];
    for (uint16_t k = 0; k < 10; k++) {
        two_announced(fx, 0x500, 0x501, (uint16_t)(10 + k), (uint16_t)(10 + k), a);
        assert_int_equal(a[0].st, STORE_OK);
        assert_int_equal(a[1].st, STORE_OK);
    }
    /* the same device twice, the same DevNonce (1.0.2: never twice): one
     * is accepted, the other refused, in one transaction or in two */
    for (uint16_t k = 0; k < 10; k++) {
        two_announced(fx, 0x501, 0x501, (uint16_t)(100 + k), (uint16_t)(100 + k), a);
        assert_true((a[0].st == STORE_OK && a[1].st == STORE_ERR_REPLAY) ||
                    (a[0].st == STORE_ERR_REPLAY && a[1].st == STORE_OK));
    }
    /* 1.0.4, the same device twice with increasing DevNonces: both, the
     * JoinNonces one after the other */
    uint32_t jn = next_join_nonce(fx->s, 0x500);
    two_announced(fx, 0x500, 0x500, 200, 201, a);
    assert_int_equal(a[1].st, STORE_OK); /* 201 is above 200 whatever the order */
    assert_true(a[0].st == STORE_OK || a[0].st == STORE_ERR_REPLAY);
    assert_int_equal(next_join_nonce(fx->s, 0x500), jn + (a[0].st == STORE_OK) + (a[1].st == STORE_OK));

    /* no batch: nothing to announce to */
    store_batch_ticket none;
    store_batch_announce(NULL, &none);
    assert_false(none.live);
    store_batch_withdraw(NULL, &none);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_prepared_session, setup, teardown),
        cmocka_unit_test_setup_teardown(test_race_same_dev_nonce, setup, teardown),
        cmocka_unit_test_setup_teardown(test_race_interleaved, setup, teardown),
        cmocka_unit_test_setup_teardown(test_announced_joins, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusal_inside_batch, setup, teardown),
    };
    return cmocka_run_group_tests_name("store-batch", tests, NULL, NULL);
}

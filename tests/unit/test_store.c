/*
 * test_store.c - the Join Server's state, on SQLite and on PostgreSQL, with
 * the same tests: migrations, records, the DevNonce rules of every MAC
 * version, JoinNonce overflow, rejoin counters, sessions, races between
 * connections, and kill -9 in the middle of committing joins.
 *
 * SQLite runs always (in /dev/shm when it exists: these tests commit tens of
 * thousands of joins, and fsync on tmpfs is free; the durability settings
 * are the same). PostgreSQL runs when FERRY_TEST_PG holds a location that
 * store_open() accepts ("pg:host=... dbname=..." or "postgresql://...");
 * tests/integration/store_pg.sh starts a throwaway cluster and sets it. Each
 * PostgreSQL test starts from an empty `public` schema.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store/store.h"
#include "store/store_idm.h"
#include "store/store_idm_tenant.h"
#include "store/store_idm_view.h"
#include "store/store_operator.h"
#include "store/store_outbox.h"

/* ---------------------------------------------------------------- fixture */

typedef enum { BACKEND_SQLITE, BACKEND_PG } backend;

typedef struct fixture {
    backend kind;
    char dir[256];
    char location[1024];
    store *s;
} fixture;

static backend SQLITE = BACKEND_SQLITE;
static backend PG = BACKEND_PG;

/* Runs raw SQL beside the store (to fake a newer schema, to reset). */
static void raw_sql(const fixture *fx, const char *sql)
{
    if (fx->kind == BACKEND_SQLITE) {
        sqlite3 *db;
        assert_int_equal(sqlite3_open(fx->location + 7, &db), SQLITE_OK);
        char *err = NULL;
        int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
        if (rc != SQLITE_OK)
            fail_msg("sqlite: %s", err ? err : "?");
        sqlite3_close(db);
    } else {
        const char *conninfo = strncmp(fx->location, "pg:", 3) == 0 ? fx->location + 3 : fx->location;
        PGconn *c = PQconnectdb(conninfo);
        if (PQstatus(c) != CONNECTION_OK)
            fail_msg("postgresql: %s", PQerrorMessage(c));
        PGresult *r = PQexec(c, sql);
        ExecStatusType rs = PQresultStatus(r);
        if (rs != PGRES_COMMAND_OK && rs != PGRES_TUPLES_OK)
            fail_msg("postgresql: %s", PQerrorMessage(c));
        PQclear(r);
        PQfinish(c);
    }
}

/* Runs a raw query that answers one integer (or text, for SQLite's
 * integrity_check: then 1 means "ok"). */
static int64_t raw_int(const fixture *fx, const char *sql)
{
    int64_t v = -1;
    if (fx->kind == BACKEND_SQLITE) {
        sqlite3 *db;
        sqlite3_stmt *st;
        assert_int_equal(sqlite3_open(fx->location + 7, &db), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        if (sqlite3_column_type(st, 0) == SQLITE_TEXT)
            v = strcmp((const char *)sqlite3_column_text(st, 0), "ok") == 0;
        else
            v = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        sqlite3_close(db);
    } else {
        const char *conninfo = strncmp(fx->location, "pg:", 3) == 0 ? fx->location + 3 : fx->location;
        PGconn *c = PQconnectdb(conninfo);
        PGresult *r = PQexec(c, sql);
        if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
            fail_msg("postgresql: %s", PQerrorMessage(c));
        v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        PQclear(r);
        PQfinish(c);
    }
    return v;
}

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    fx->kind = *(backend *)*state;
    if (fx->kind == BACKEND_SQLITE) {
        const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        snprintf(fx->dir, sizeof fx->dir, "%s/ferry-store.XXXXXX", base);
        assert_non_null(mkdtemp(fx->dir));
        snprintf(fx->location, sizeof fx->location, "sqlite:%s/ferry.db", fx->dir);
    } else {
        /* A libpq URI as it is, a keyword conninfo behind "pg:". */
        const char *env = getenv("FERRY_TEST_PG");
        assert_non_null(env);
        bool scheme = strncmp(env, "postgres", 8) == 0 || strncmp(env, "pg:", 3) == 0;
        snprintf(fx->location, sizeof fx->location, "%s%s", scheme ? "" : "pg:", env);
        raw_sql(fx, "SET client_min_messages = warning; DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public");
    }
    assert_int_equal(store_open(fx->location, &fx->s), STORE_OK);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    store_close(fx->s);
    if (fx->kind == BACKEND_SQLITE) {
        char cmd[400];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx->dir);
        if (system(cmd) != 0)
            return -1;
    }
    free(fx);
    return 0;
}

/* ---------------------------------------------------------------- helpers */

#define JOIN_EUI 0x70B3D57ED0000001ull

static store_blob fake_blob(uint8_t seed)
{
    /* Stands for a wrapped key: the store must carry it without looking. */
    store_blob b = {.len = 24};
    for (size_t i = 0; i < b.len; i++)
        b.data[i] = (uint8_t)(seed + 13 * i);
    return b;
}

static store_device make_device(uint64_t dev_eui, store_mac_version v)
{
    store_device d;
    memset(&d, 0, sizeof d);
    d.dev_eui = dev_eui;
    d.join_eui = JOIN_EUI;
    d.mac_version = v;
    d.home_net_id = 0x000013;
    d.allowed_net_id_count = 2;
    d.allowed_net_ids[0] = 0x000024;
    d.allowed_net_ids[1] = 0xC00053;
    d.nwk_key = fake_blob(1);
    if (v == STORE_MAC_1_1)
        d.app_key = fake_blob(2);
    strcpy(d.ns_kek_label, "ns-kek");
    strcpy(d.as_kek_label, "as-kek");
    strcpy(d.as_id, "as.example.com");
    return d;
}

static void add_device(store *s, uint64_t dev_eui, store_mac_version v)
{
    store_device d = make_device(dev_eui, v);
    assert_int_equal(store_device_put(s, &d, false), STORE_OK);
}

/* The session a test Join Server derives: its ID is the JoinNonce, so it is
 * unique per device; the AppSKey blob is recognisable. */
static store_status make_session(void *ctx, const store_join_grant *g, store_session *ss)
{
    (void)ctx;
    ss->session_key_id_len = 4;
    ss->session_key_id[0] = (uint8_t)(g->join_nonce >> 24);
    ss->session_key_id[1] = (uint8_t)(g->join_nonce >> 16);
    ss->session_key_id[2] = (uint8_t)(g->join_nonce >> 8);
    ss->session_key_id[3] = (uint8_t)g->join_nonce;
    ss->dev_addr = 0x26000000u | g->join_nonce;
    ss->app_s_key = fake_blob((uint8_t)(g->join_nonce + 100));
    if (g->mac_version == STORE_MAC_1_1) {
        ss->f_nwk_s_int_key = fake_blob(3);
        ss->s_nwk_s_int_key = fake_blob(4);
        ss->nwk_s_enc_key = fake_blob(5);
    }
    ss->lifetime_s = 3600;
    return STORE_OK;
}

static store_status refuse_session(void *ctx, const store_join_grant *g, store_session *ss)
{
    (void)g;
    (void)ss;
    (*(int *)ctx)++;
    return STORE_ERR_BACKEND;
}

static store_status join(store *s, uint64_t dev_eui, uint64_t join_eui, uint16_t dev_nonce, uint32_t *join_nonce)
{
    store_join j = {.dev_eui = dev_eui, .join_eui = join_eui, .dev_nonce = dev_nonce, .make_session = make_session};
    store_join_result r;
    store_status st = store_join_commit(s, &j, &r);
    if (st == STORE_OK && join_nonce != NULL)
        *join_nonce = r.join_nonce;
    return st;
}

static store_status rejoin(store *s, uint64_t dev_eui, int type, uint16_t count, uint32_t *join_nonce)
{
    store_rejoin rj = {.dev_eui = dev_eui, .join_eui = JOIN_EUI, .rejoin_type = type, .rj_count = count,
                       .make_session = make_session};
    store_join_result r;
    store_status st = store_rejoin_commit(s, &rj, &r);
    if (st == STORE_OK && join_nonce != NULL)
        *join_nonce = r.join_nonce;
    return st;
}

static uint32_t next_join_nonce(store *s, uint64_t dev_eui)
{
    store_device d;
    assert_int_equal(store_device_get(s, dev_eui, &d), STORE_OK);
    return d.next_join_nonce;
}

/* ---------------------------------------------------------------- open */

static void test_open_and_migrations(void **state)
{
    fixture *fx = *state;
    assert_int_equal(store_schema_version(fx->s), store_schema_latest());
    assert_true(store_schema_latest() >= 1);
    assert_string_equal(store_backend_name(fx->s), fx->kind == BACKEND_SQLITE ? "sqlite" : "postgresql");
    add_device(fx->s, 1, STORE_MAC_1_0_2);

    /* Re-open: idempotent, data kept. */
    store_close(fx->s);
    fx->s = NULL;
    assert_int_equal(store_open(fx->location, &fx->s), STORE_OK);
    assert_int_equal(store_schema_version(fx->s), store_schema_latest());
    store_device d;
    assert_int_equal(store_device_get(fx->s, 1, &d), STORE_OK);

    /* Locations that are not understood. */
    store *bad = (store *)1;
    assert_int_equal(store_open("mysql://x", &bad), STORE_ERR_CONFIG);
    assert_null(bad);
    assert_int_equal(store_open("sqlite:", &bad), STORE_ERR_CONFIG);
    assert_int_equal(store_open("sqlite:/nonexistent-dir/x/ferry.db", &bad), STORE_ERR_OPEN);
    assert_int_equal(store_open(NULL, &bad), STORE_ERR_ARGUMENT);

    /* A schema from the future is refused, untouched. */
    store_close(fx->s);
    fx->s = NULL;
    char sql[128];
    snprintf(sql, sizeof sql, "INSERT INTO schema_version (version, applied_at) VALUES (%d, 0)",
             store_schema_latest() + 1);
    raw_sql(fx, sql);
    assert_int_equal(store_open(fx->location, &fx->s), STORE_ERR_SCHEMA_NEWER);
    assert_null(fx->s);
    snprintf(sql, sizeof sql, "DELETE FROM schema_version WHERE version = %d", store_schema_latest() + 1);
    raw_sql(fx, sql);
    assert_int_equal(store_open(fx->location, &fx->s), STORE_OK);
    assert_int_equal(store_device_get(fx->s, 1, &d), STORE_OK);
}

static void test_strings(void **state)
{
    (void)state;
    for (int st = 0; st < STORE_STATUS_COUNT; st++)
        assert_string_not_equal(store_strerror((store_status)st), "unknown store status");
    assert_string_equal(store_strerror(STORE_STATUS_COUNT), "unknown store status");
    store_mac_version v;
    for (int i = 0; i < STORE_MAC_COUNT; i++) {
        assert_int_equal(store_mac_version_parse(store_mac_version_name((store_mac_version)i), &v), STORE_OK);
        assert_int_equal(v, i);
    }
    assert_int_equal(store_mac_version_parse("1.0.5", &v), STORE_ERR_ARGUMENT);
    assert_int_equal(store_mac_version_parse("1.1.0", &v), STORE_OK); /* ChirpStack's spelling */
    assert_int_equal(v, STORE_MAC_1_1);
    assert_int_equal(store_mac_version_parse("1.1.1", &v), STORE_ERR_ARGUMENT);
    assert_false(store_mac_version_counts_dev_nonce(STORE_MAC_1_0_3));
    assert_true(store_mac_version_counts_dev_nonce(STORE_MAC_1_0_4));
    assert_true(store_mac_version_counts_dev_nonce(STORE_MAC_1_1));
}

/* ---------------------------------------------------------------- devices */

static void test_device_crud(void **state)
{
    fixture *fx = *state;
    store_device d = make_device(0xFFFFFFFFFFFFFFFFull, STORE_MAC_1_1), got;
    assert_int_equal(store_device_put(fx->s, &d, false), STORE_OK);
    assert_int_equal(store_device_get(fx->s, d.dev_eui, &got), STORE_OK);
    assert_true(got.created_at > 0);
    d.created_at = got.created_at;
    /* No floor given: the counter starts at 1, never 0; no join served. */
    assert_int_equal(got.next_join_nonce, STORE_JOIN_NONCE_FIRST);
    assert_int_equal(got.last_join_nonce, -1);
    d.next_join_nonce = STORE_JOIN_NONCE_FIRST;
    d.last_join_nonce = -1;
    assert_memory_equal(&d, &got, sizeof d);

    /* Duplicate refused, upsert replaces. */
    assert_int_equal(store_device_put(fx->s, &d, false), STORE_ERR_EXISTS);
    d.nwk_key = fake_blob(77);
    memset(&d.app_key, 0, sizeof d.app_key);
    d.mac_version = STORE_MAC_1_0_4;
    d.allowed_net_id_count = 0;
    memset(d.allowed_net_ids, 0, sizeof d.allowed_net_ids);
    memset(d.as_id, 0, sizeof d.as_id);
    assert_int_equal(store_device_put(fx->s, &d, true), STORE_OK);
    assert_int_equal(store_device_get(fx->s, d.dev_eui, &got), STORE_OK);
    assert_memory_equal(&d, &got, sizeof d);

    /* An upsert never moves the JoinNonce counter backwards. */
    assert_int_equal(join(fx->s, d.dev_eui, JOIN_EUI, 1, NULL), STORE_OK);
    assert_int_equal(join(fx->s, d.dev_eui, JOIN_EUI, 2, NULL), STORE_OK);
    d.next_join_nonce = 0;
    assert_int_equal(store_device_put(fx->s, &d, true), STORE_OK);
    assert_int_equal(next_join_nonce(fx->s, d.dev_eui), 3);
    d.next_join_nonce = 500;
    assert_int_equal(store_device_put(fx->s, &d, true), STORE_OK);
    assert_int_equal(next_join_nonce(fx->s, d.dev_eui), 500);
    /* ... and keeps the DevNonce history. */
    assert_int_equal(join(fx->s, d.dev_eui, JOIN_EUI, 2, NULL), STORE_ERR_REPLAY);

    /* Unknown. */
    assert_int_equal(store_device_get(fx->s, 0x1234, &got), STORE_ERR_NOT_FOUND);
    assert_int_equal(store_device_delete(fx->s, 0x1234), STORE_ERR_NOT_FOUND);
    assert_int_equal(join(fx->s, 0x1234, JOIN_EUI, 1, NULL), STORE_ERR_NOT_FOUND);

    /* Invalid records. */
    store_device bad = make_device(5, STORE_MAC_1_0_2);
    bad.nwk_key.len = 0;
    assert_int_equal(store_device_put(fx->s, &bad, false), STORE_ERR_ARGUMENT);
    bad = make_device(5, STORE_MAC_COUNT);
    assert_int_equal(store_device_put(fx->s, &bad, false), STORE_ERR_ARGUMENT);
    bad = make_device(5, STORE_MAC_1_0_2);
    bad.home_net_id = 0x1000000;
    assert_int_equal(store_device_put(fx->s, &bad, false), STORE_ERR_ARGUMENT);
    bad = make_device(5, STORE_MAC_1_0_2);
    memset(bad.ns_kek_label, 'a', sizeof bad.ns_kek_label); /* no NUL within bounds */
    assert_int_equal(store_device_put(fx->s, &bad, false), STORE_ERR_ARGUMENT);
    bad = make_device(5, STORE_MAC_1_0_2);
    bad.next_join_nonce = STORE_JOIN_NONCE_LIMIT + 1;
    assert_int_equal(store_device_put(fx->s, &bad, false), STORE_ERR_ARGUMENT);
    assert_int_equal(store_device_get(fx->s, 5, &got), STORE_ERR_NOT_FOUND);

    /* Delete forgets the device with its history and sessions. */
    uint8_t sid[4] = {0, 0, 0, 1};
    store_session ss;
    assert_int_equal(store_session_get(fx->s, d.dev_eui, sid, 4, &ss), STORE_OK);
    assert_int_equal(store_device_delete(fx->s, d.dev_eui), STORE_OK);
    assert_int_equal(store_device_get(fx->s, d.dev_eui, &got), STORE_ERR_NOT_FOUND);
    assert_int_equal(store_session_get(fx->s, d.dev_eui, sid, 4, &ss), STORE_ERR_NOT_FOUND);
}

static void test_device_list(void **state)
{
    fixture *fx = *state;
    /* EUIs whose signed and unsigned orders differ, to check the paging. */
    const uint64_t euis[] = {0x8000000000000000ull, 0x0000000000000001ull, 0xFFFFFFFFFFFFFFFEull,
                             0x70B3D57ED0000002ull, 0x00000000000000FFull};
    const uint64_t sorted[] = {0x1, 0xFF, 0x70B3D57ED0000002ull, 0x8000000000000000ull, 0xFFFFFFFFFFFFFFFEull};
    for (size_t i = 0; i < 5; i++)
        add_device(fx->s, euis[i], STORE_MAC_1_0_3);
    store_device page[2];
    size_t n, seen = 0;
    const uint64_t *after = NULL;
    uint64_t cursor;
    do {
        assert_int_equal(store_device_list(fx->s, after, page, 2, &n), STORE_OK);
        for (size_t i = 0; i < n; i++)
            assert_true(page[i].dev_eui == sorted[seen++]);
        if (n > 0) {
            cursor = page[n - 1].dev_eui;
            after = &cursor;
        }
    } while (n == 2);
    assert_int_equal(seen, 5);
    assert_int_equal(store_device_list(fx->s, NULL, page, 0, &n), STORE_ERR_ARGUMENT);
}

static void test_kek_crud(void **state)
{
    fixture *fx = *state;
    store_kek k = {.label = "ns-kek", .key = fake_blob(9)}, got;
    assert_int_equal(store_kek_put(fx->s, &k), STORE_OK);
    assert_int_equal(store_kek_put(fx->s, &k), STORE_ERR_EXISTS);
    assert_int_equal(store_kek_get(fx->s, "ns-kek", &got), STORE_OK);
    assert_string_equal(got.label, "ns-kek");
    assert_int_equal(got.key.len, 24);
    assert_memory_equal(got.key.data, k.key.data, 24);
    assert_true(got.created_at > 0);
    assert_int_equal(store_kek_get(fx->s, "other", &got), STORE_ERR_NOT_FOUND);

    store_kek k2 = {.label = "as-kek", .key = fake_blob(10)};
    store_kek k3 = {.label = "zz", .key = fake_blob(11)};
    assert_int_equal(store_kek_put(fx->s, &k2), STORE_OK);
    assert_int_equal(store_kek_put(fx->s, &k3), STORE_OK);
    store_kek page[2];
    size_t n;
    assert_int_equal(store_kek_list(fx->s, NULL, page, 2, &n), STORE_OK);
    assert_int_equal(n, 2);
    assert_string_equal(page[0].label, "as-kek");
    assert_string_equal(page[1].label, "ns-kek");
    assert_int_equal(store_kek_list(fx->s, page[1].label, page, 2, &n), STORE_OK);
    assert_int_equal(n, 1);
    assert_string_equal(page[0].label, "zz");

    assert_int_equal(store_kek_delete(fx->s, "ns-kek"), STORE_OK);
    assert_int_equal(store_kek_delete(fx->s, "ns-kek"), STORE_ERR_NOT_FOUND);
    store_kek empty = {.label = "", .key = fake_blob(1)};
    assert_int_equal(store_kek_put(fx->s, &empty), STORE_ERR_ARGUMENT);
    store_kek nokey = {.label = "x"};
    assert_int_equal(store_kek_put(fx->s, &nokey), STORE_ERR_ARGUMENT);
    store_kek ctl = {.label = "a\nb", .key = fake_blob(1)};
    assert_int_equal(store_kek_put(fx->s, &ctl), STORE_ERR_ARGUMENT);
}

/* ---------------------------------------------------------------- operators (schema 5) */

static void test_operators(void **state)
{
    fixture *fx = *state;
    store_operator op, got;
    memset(&op, 0, sizeof op);
    op.net_id = 0x00000A;
    snprintf(op.name, sizeof op.name, "Net A");
    snprintf(op.kek_label, sizeof op.kek_label, "ns:A");
    op.has_token = true;
    memset(op.token_sha256, 0x42, sizeof op.token_sha256);
    op.has_nsid = true;
    op.nsid = 0x000000000000000Aull;
    const char *pem = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    op.has_client_ca = true;
    memset(op.client_ca_sha256, 0x24, sizeof op.client_ca_sha256);
    assert_int_equal(store_operator_put(fx->s, &op, pem), STORE_OK);
    assert_int_equal(store_operator_put(fx->s, &op, pem), STORE_ERR_EXISTS);
    assert_int_equal(store_operator_get(fx->s, 0x00000A, &got), STORE_OK);
    assert_string_equal(got.name, "Net A");
    assert_true(got.has_token && got.has_nsid && got.nsid == 0xA && got.has_client_ca && !got.suspended);
    assert_memory_equal(got.token_sha256, op.token_sha256, 32);
    assert_memory_equal(got.client_ca_sha256, op.client_ca_sha256, 32);
    assert_true(got.created_at > 0 && got.reach == STORE_OPERATOR_DIRECT);
    assert_string_equal(got.answer_url, ""); /* synchronous answers unless set (schema 9) */
    assert_string_equal(got.answer_token_file, "");
    store_operator_reach reach = STORE_OPERATOR_DIRECT;
    assert_int_equal(store_operator_reach_parse("hub", &reach), STORE_OK);
    assert_int_equal(reach, STORE_OPERATOR_HUB);
    assert_int_equal(store_operator_reach_parse("Hub", &reach), STORE_ERR_ARGUMENT);
    char ca[256];
    size_t n = 0;
    assert_int_equal(store_operator_client_ca(fx->s, 0x00000A, ca, sizeof ca, &n), STORE_OK);
    assert_string_equal(ca, pem);
    assert_int_equal(store_operator_client_ca(fx->s, 0x00000A, ca, 8, &n), STORE_ERR_ARGUMENT);
    /* a hub operator: no KEK, no credential; a direct one needs its KEK label */
    store_operator hub = {.net_id = 0x00000B, .reach = STORE_OPERATOR_HUB,
                          .answer_url = "https://ns-b.example/answers", .answer_token_file = "/etc/ferry/b.token"};
    assert_int_equal(store_operator_put(fx->s, &hub, NULL), STORE_OK);
    assert_int_equal(store_operator_get(fx->s, 0x00000B, &got), STORE_OK);
    assert_string_equal(got.answer_url, "https://ns-b.example/answers");
    assert_string_equal(got.answer_token_file, "/etc/ferry/b.token");
    store_operator nokek = {.net_id = 0x00000C};
    assert_int_equal(store_operator_put(fx->s, &nokek, NULL), STORE_ERR_ARGUMENT);
    store_operator big = {.net_id = 0x1000000, .kek_label = "x"};
    assert_int_equal(store_operator_put(fx->s, &big, NULL), STORE_ERR_ARGUMENT);
    store_operator page[4];
    assert_int_equal(store_operator_list(fx->s, NULL, page, 4, &n), STORE_OK);
    assert_int_equal(n, 2);
    assert_int_equal(page[1].net_id, 0x00000B);
    uint32_t after = 0x00000A;
    assert_int_equal(store_operator_list(fx->s, &after, page, 4, &n), STORE_OK);
    assert_int_equal(n, 1);
    /* suspension */
    assert_int_equal(store_operator_set_suspended(fx->s, 0x00000A, true), STORE_OK);
    assert_int_equal(store_operator_get(fx->s, 0x00000A, &got), STORE_OK);
    assert_true(got.suspended);
    assert_int_equal(store_operator_set_suspended(fx->s, 0x0000EE, true), STORE_ERR_NOT_FOUND);
    /* counters add up; an operator that is not onboarded gets none */
    assert_int_equal(store_operator_count_add(fx->s, 0x00000A, "join", "Success", 3), STORE_OK);
    assert_int_equal(store_operator_count_add(fx->s, 0x00000A, "join", "Success", 2), STORE_OK);
    assert_int_equal(store_operator_count_add(fx->s, 0x00000A, "home_ns", "NoRoamingAgreement", 1), STORE_OK);
    assert_int_equal(store_operator_count_add(fx->s, 0x0000EE, "join", "Success", 1), STORE_OK);
    assert_int_equal(store_operator_count_add(fx->s, 0x00000A, "other", "Success", 1), STORE_ERR_ARGUMENT);
    store_operator_count c[8];
    assert_int_equal(store_operator_counts(fx->s, 0x00000A, c, 8, &n), STORE_OK);
    assert_int_equal(n, 2);
    assert_string_equal(c[0].request, "home_ns");
    assert_int_equal(c[0].n, 1);
    assert_string_equal(c[1].result, "Success");
    assert_int_equal(c[1].n, 5);
    assert_int_equal(store_operator_counts(fx->s, 0x0000EE, c, 8, &n), STORE_OK);
    assert_int_equal(n, 0);
    /* out[] smaller than the counters: an error, not a shorter list */
    assert_int_equal(store_operator_counts(fx->s, 0x00000A, c, 1, &n), STORE_ERR_ARGUMENT);
    /* removal takes the counters */
    assert_int_equal(store_operator_delete(fx->s, 0x00000A), STORE_OK);
    assert_int_equal(store_operator_delete(fx->s, 0x00000A), STORE_ERR_NOT_FOUND);
    assert_int_equal(store_operator_counts(fx->s, 0x00000A, c, 8, &n), STORE_OK);
    assert_int_equal(n, 0);
    assert_int_equal(store_operator_get(fx->s, 0x00000A, &got), STORE_ERR_NOT_FOUND);

    /* an SE keeps the operators of its batch ("*" by default) */
    store_idm_se se;
    memset(&se, 0, sizeof se);
    se.dev_eui = 0x70B3D57ED0050001ull;
    se.mac_version = STORE_MAC_1_0_4;
    se.mls_key = fake_blob(7);
    se.state = IDM_STATE_MANUFACTURED;
    assert_int_equal(store_idm_se_put(fx->s, &se), STORE_OK);
    store_idm_se gse;
    assert_int_equal(store_idm_se_get(fx->s, se.dev_eui, &gse), STORE_OK);
    assert_string_equal(gse.operators, "*");
    se.dev_eui++;
    snprintf(se.operators, sizeof se.operators, "00000A,C00053");
    assert_int_equal(store_idm_se_put(fx->s, &se), STORE_OK);
    assert_int_equal(store_idm_se_get(fx->s, se.dev_eui, &gse), STORE_OK);
    assert_string_equal(gse.operators, "00000A,C00053");
    se.dev_eui++;
    snprintf(se.operators, sizeof se.operators, "00000A;C00053");
    assert_int_equal(store_idm_se_put(fx->s, &se), STORE_ERR_ARGUMENT);
}

/* ---------------------------------------------------------------- IDM enums (store_idm_states.h) */

/* Raw SQL that writes a text no table names: past the CHECK lists where a
 * column has one (SQLite: ignore_check_constraints; PostgreSQL: the
 * column's constraint dropped, the schema is thrown away after the test). */
static void corrupt_text(const fixture *fx, const char *table, const char *column, bool checked, const char *update)
{
    char sql[400];
    if (!checked)
        snprintf(sql, sizeof sql, "%s", update);
    else if (fx->kind == BACKEND_SQLITE)
        snprintf(sql, sizeof sql, "PRAGMA ignore_check_constraints = ON; %s", update);
    else
        snprintf(sql, sizeof sql, "ALTER TABLE %s DROP CONSTRAINT %s_%s_check; %s", table, table, column, update);
    raw_sql(fx, sql);
}

/* Every value of every enum is written through the store, read back equal,
 * and stored as the text the schema's CHECK lists and docs name; a text no
 * table names, read from the database, is STORE_ERR_CORRUPT. */
static void test_idm_enums_round_trip(void **state)
{
    fixture *fx = *state;
    const uint64_t dev0 = 0x70B3D57ED0060000ull;
    char sql[200];
    /* the SE lifecycle: one SE per state, then a compare-and-set walk */
    store_idm_se se, got;
    memset(&se, 0, sizeof se);
    se.mac_version = STORE_MAC_1_0_4;
    se.mls_key = fake_blob(9);
    for (int st = 0; st < IDM_STATE_COUNT; st++) {
        se.dev_eui = dev0 + (uint64_t)st;
        se.state = (idm_state)st;
        assert_int_equal(store_idm_se_put(fx->s, &se), STORE_OK);
        assert_int_equal(store_idm_se_get(fx->s, se.dev_eui, &got), STORE_OK);
        assert_int_equal(got.state, st);
        snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM idm_se WHERE dev_eui = '%016llX' AND state = '%s'",
                 (unsigned long long)se.dev_eui, store_idm_se_state_name((idm_state)st));
        assert_int_equal(raw_int(fx, sql), 1);
    }
    se.dev_eui = dev0 + 100;
    se.state = IDM_STATE_COUNT;
    assert_int_equal(store_idm_se_put(fx->s, &se), STORE_ERR_ARGUMENT);
    assert_int_equal(store_idm_se_set_state(fx->s, dev0, IDM_STATE_BOOTSTRAPPED, IDM_STATE_RETIRED), STORE_ERR_ABORTED);
    assert_int_equal(store_idm_se_set_state(fx->s, dev0, IDM_STATE_MANUFACTURED, IDM_STATE_BOOTSTRAPPED), STORE_OK);
    assert_int_equal(store_idm_se_get(fx->s, dev0, &got), STORE_OK);
    assert_int_equal(got.state, IDM_STATE_BOOTSTRAPPED);
    assert_int_equal(store_idm_se_set_state(fx->s, dev0, IDM_STATE_BOOTSTRAPPED, IDM_STATE_COUNT), STORE_ERR_ARGUMENT);
    assert_int_equal(store_idm_se_set_state(fx->s, dev0 + 99, IDM_STATE_BOOTSTRAPPED, IDM_STATE_RETIRED),
                     STORE_ERR_NOT_FOUND);

    /* tenant kinds */
    for (int k = 0; k < STORE_IDM_TENANT_KIND_COUNT; k++) {
        store_idm_tenant t, tg;
        memset(&t, 0, sizeof t);
        snprintf(t.id, sizeof t.id, "t%d", k);
        snprintf(t.name, sizeof t.name, "T%d", k);
        memset(t.token_hash, 0x30 + k, sizeof t.token_hash);
        t.kind = (store_idm_tenant_kind)k;
        assert_int_equal(store_idm_tenant_put(fx->s, &t), STORE_OK);
        assert_int_equal(store_idm_tenant_get(fx->s, t.id, &tg), STORE_OK);
        assert_int_equal(tg.kind, k);
        snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM idm_tenant WHERE id = 't%d' AND kind = '%s'", k,
                 store_idm_tenant_kind_name((store_idm_tenant_kind)k));
        assert_int_equal(raw_int(fx, sql), 1);
    }
    store_idm_tenant bad = {.id = "t9", .kind = STORE_IDM_TENANT_KIND_COUNT};
    assert_int_equal(store_idm_tenant_put(fx->s, &bad), STORE_ERR_ARGUMENT);

    /* claim states x ops, on one SE's claim row */
    store_idm_claim c, cg;
    for (int cs = 0; cs < STORE_IDM_CLAIM_STATE_COUNT; cs++) {
        for (int op = 0; op < STORE_IDM_OP_COUNT; op++) {
            memset(&c, 0, sizeof c);
            c.dev_eui = dev0;
            c.state = (store_idm_claim_state)cs;
            c.op = (store_idm_op)op;
            if (cs == STORE_IDM_CLAIM_NONE) { /* the absence of a row is never written */
                assert_int_equal(store_idm_claim_put(fx->s, &c), STORE_ERR_ARGUMENT);
                continue;
            }
            assert_int_equal(store_idm_claim_put(fx->s, &c), STORE_OK);
            assert_int_equal(store_idm_claim_get(fx->s, dev0, &cg), STORE_OK);
            assert_int_equal(cg.state, cs);
            assert_int_equal(cg.op, op);
            snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM idm_claim WHERE state = '%s' AND op = '%s'",
                     store_idm_claim_state_name((store_idm_claim_state)cs), store_idm_op_name((store_idm_op)op));
            assert_int_equal(raw_int(fx, sql), 1);
        }
    }
    c.state = STORE_IDM_CLAIM_STATE_COUNT;
    assert_int_equal(store_idm_claim_put(fx->s, &c), STORE_ERR_ARGUMENT);
    c.state = STORE_IDM_CLAIM_CLAIMED;
    c.op = STORE_IDM_OP_COUNT;
    assert_int_equal(store_idm_claim_put(fx->s, &c), STORE_ERR_ARGUMENT);

    /* command states: born queued, then each state written and read back */
    store_idm_cmd *cmd = calloc(1, sizeof *cmd), *cmd_got = calloc(1, sizeof *cmd_got);
    assert_non_null(cmd);
    assert_non_null(cmd_got);
    cmd->dev_eui = dev0;
    cmd->msg_len = 20;
    cmd->deadline = 1;
    cmd->state = STORE_IDM_CMD_DONE; /* ignored: a command is born queued */
    assert_int_equal(store_idm_cmd_add(fx->s, cmd), STORE_OK);
    assert_int_equal(store_idm_cmd_get(fx->s, dev0, cmd->seq, cmd_got), STORE_OK);
    assert_int_equal(cmd_got->state, STORE_IDM_CMD_QUEUED);
    for (int ks = 0; ks < STORE_IDM_CMD_STATE_COUNT; ks++) {
        /* each state from a command still in flight: a final one is never
         * written again (below) */
        raw_sql(fx, "UPDATE idm_cmd SET state = 'sending'");
        cmd->state = (store_idm_cmd_state)ks;
        assert_int_equal(store_idm_cmd_update(fx->s, cmd), STORE_OK);
        assert_int_equal(store_idm_cmd_get(fx->s, dev0, cmd->seq, cmd_got), STORE_OK);
        assert_int_equal(cmd_got->state, ks);
        for (int other = 0; other < STORE_IDM_CMD_STATE_COUNT; other++) {
            uint64_t n = 9;
            assert_int_equal(store_idm_cmd_count(fx->s, dev0, (store_idm_cmd_state)other, &n), STORE_OK);
            assert_int_equal(n, other == ks ? 1 : 0);
        }
        snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM idm_cmd WHERE state = '%s'",
                 store_idm_cmd_state_name((store_idm_cmd_state)ks));
        assert_int_equal(raw_int(fx, sql), 1);
    }
    /* failed is final: writing it again (any state) is refused, nothing moves */
    cmd->state = STORE_IDM_CMD_SENDING;
    assert_int_equal(store_idm_cmd_update(fx->s, cmd), STORE_ERR_ABORTED);
    assert_int_equal(store_idm_cmd_get(fx->s, dev0, cmd->seq, cmd_got), STORE_OK);
    assert_int_equal(cmd_got->state, STORE_IDM_CMD_FAILED);
    cmd->state = STORE_IDM_CMD_STATE_COUNT;
    assert_int_equal(store_idm_cmd_update(fx->s, cmd), STORE_ERR_ARGUMENT);
    uint64_t n = 0;
    assert_int_equal(store_idm_cmd_count(fx->s, dev0, STORE_IDM_CMD_STATE_COUNT, &n), STORE_ERR_ARGUMENT);

    /* key slots */
    store_idm_profile_key k, kg;
    memset(&k, 0, sizeof k);
    k.dev_eui = dev0;
    snprintf(k.js_id, sizeof k.js_id, "js");
    k.profile_id = 1;
    k.nwk_key = fake_blob(3);
    for (int sl = 0; sl < STORE_IDM_SLOT_COUNT; sl++) {
        k.slot = (store_idm_key_slot)sl;
        k.profile_id = (uint16_t)(10 + sl);
        assert_int_equal(store_idm_key_put(fx->s, &k), STORE_OK);
        assert_int_equal(store_idm_key_get(fx->s, dev0, (store_idm_key_slot)sl, &kg), STORE_OK);
        assert_int_equal(kg.slot, sl);
        assert_int_equal(kg.profile_id, 10 + sl);
        snprintf(sql, sizeof sql, "SELECT profile_id FROM idm_profile_key WHERE slot = '%s'",
                 store_idm_key_slot_name((store_idm_key_slot)sl));
        assert_int_equal(raw_int(fx, sql), 10 + sl);
    }
    k.slot = STORE_IDM_SLOT_COUNT;
    assert_int_equal(store_idm_key_put(fx->s, &k), STORE_ERR_ARGUMENT);
    assert_int_equal(store_idm_key_get(fx->s, dev0, STORE_IDM_SLOT_COUNT, &kg), STORE_ERR_ARGUMENT);
    assert_int_equal(store_idm_key_delete(fx->s, dev0, STORE_IDM_SLOT_PENDING), STORE_OK);
    assert_int_equal(store_idm_key_get(fx->s, dev0, STORE_IDM_SLOT_PENDING, &kg), STORE_ERR_NOT_FOUND);
    assert_int_equal(store_idm_key_get(fx->s, dev0, STORE_IDM_SLOT_PREVIOUS, &kg), STORE_OK);

    /* unknown text in the database: corrupt, never a guess */
    store_close(fx->s);
    fx->s = NULL;
    snprintf(sql, sizeof sql, "UPDATE idm_se SET state = 'active' WHERE dev_eui = '%016llX'", (unsigned long long)dev0);
    corrupt_text(fx, "idm_se", "state", false, sql);
    corrupt_text(fx, "idm_tenant", "kind", true, "UPDATE idm_tenant SET kind = 'Maker' WHERE id = 't0'");
    corrupt_text(fx, "idm_cmd", "state", true, "UPDATE idm_cmd SET state = 'sent'");
    corrupt_text(fx, "idm_profile_key", "slot", true, "UPDATE idm_profile_key SET slot = 'older' WHERE slot = 'previous'");
    assert_int_equal(store_open(fx->location, &fx->s), STORE_OK);
    assert_int_equal(store_idm_se_get(fx->s, dev0, &got), STORE_ERR_CORRUPT);
    assert_int_equal(store_idm_se_set_state(fx->s, dev0, IDM_STATE_BOOTSTRAPPED, IDM_STATE_RETIRED), STORE_ERR_CORRUPT);
    assert_int_equal(store_idm_se_get(fx->s, dev0 + 1, &got), STORE_OK); /* the others are intact */
    store_idm_tenant tg;
    assert_int_equal(store_idm_tenant_get(fx->s, "t0", &tg), STORE_ERR_CORRUPT);
    assert_int_equal(store_idm_tenant_get(fx->s, "t1", &tg), STORE_OK);
    assert_int_equal(store_idm_cmd_get(fx->s, dev0, cmd->seq, cmd_got), STORE_ERR_CORRUPT);
    assert_int_equal(store_idm_cmd_current(fx->s, dev0, cmd_got), STORE_ERR_NOT_FOUND); /* 'sent' is not in flight */
    store_idm_profile_key *probe = calloc(1, sizeof *probe);
    assert_non_null(probe);
    assert_int_equal(raw_int(fx, "SELECT COUNT(*) FROM idm_profile_key WHERE slot = 'older'"), 1);
    assert_int_equal(store_idm_key_get(fx->s, dev0, STORE_IDM_SLOT_CURRENT, probe), STORE_OK);
    free(probe);
    /* a claim: an unknown state, "none" (never a row), an unknown op */
    const char *const claim_bad[] = {"UPDATE idm_claim SET state = 'held'", "UPDATE idm_claim SET state = 'none'",
                                     "UPDATE idm_claim SET state = 'claimed', op = 'rekey'"};
    for (size_t i = 0; i < sizeof claim_bad / sizeof claim_bad[0]; i++) {
        store_close(fx->s);
        fx->s = NULL;
        /* PostgreSQL: the constraint goes once; SQLite ignores it each time */
        corrupt_text(fx, "idm_claim", "state", i == 0 || fx->kind == BACKEND_SQLITE, claim_bad[i]);
        assert_int_equal(store_open(fx->location, &fx->s), STORE_OK);
        assert_int_equal(store_idm_claim_get(fx->s, dev0, &cg), STORE_ERR_CORRUPT);
    }
    free(cmd);
    free(cmd_got);
}

/* ---------------------------------------------------------------- DevNonce */

static void test_dev_nonce_random_versions(void **state)
{
    fixture *fx = *state;
    for (int v = STORE_MAC_1_0_0; v <= STORE_MAC_1_0_3; v++) {
        uint64_t dev = 0x100 + (uint64_t)v;
        add_device(fx->s, dev, (store_mac_version)v);
        uint32_t jn = 99;
        assert_int_equal(join(fx->s, dev, JOIN_EUI, 1000, &jn), STORE_OK);
        assert_int_equal(jn, 1);
        /* Smaller and larger values are fine while unused... */
        assert_int_equal(join(fx->s, dev, JOIN_EUI, 5, &jn), STORE_OK);
        assert_int_equal(jn, 2);
        assert_int_equal(join(fx->s, dev, JOIN_EUI, 65535, &jn), STORE_OK);
        assert_int_equal(join(fx->s, dev, JOIN_EUI, 0, &jn), STORE_OK);
        assert_int_equal(jn, 4);
        /* ... and every used one is refused, whatever its place. */
        assert_int_equal(join(fx->s, dev, JOIN_EUI, 5, NULL), STORE_ERR_REPLAY);
        assert_int_equal(join(fx->s, dev, JOIN_EUI, 1000, NULL), STORE_ERR_REPLAY);
        assert_int_equal(join(fx->s, dev, JOIN_EUI, 0, NULL), STORE_ERR_REPLAY);
        assert_int_equal(join(fx->s, dev, JOIN_EUI, 65535, NULL), STORE_ERR_REPLAY);
        /* A refusal changes nothing: the JoinNonce was not consumed. */
        assert_int_equal(next_join_nonce(fx->s, dev), 5);
        /* The rule is per (DevEUI, JoinEUI). */
        assert_int_equal(join(fx->s, dev, JOIN_EUI + 1, 5, &jn), STORE_OK);
        assert_int_equal(jn, 5);
    }
}

static void test_dev_nonce_all_65536(void **state)
{
    fixture *fx = *state;
    const uint64_t dev = 0x70B3D57ED0001020ull;
    add_device(fx->s, dev, STORE_MAC_1_0_2);
    /* Every value once, in a scrambled order (odd multiplier: a bijection). */
    for (uint32_t i = 0; i < 65536; i++) {
        uint16_t dn = (uint16_t)(i * 40503u + 17u);
        uint32_t jn;
        store_status st = join(fx->s, dev, JOIN_EUI, dn, &jn);
        if (st != STORE_OK)
            fail_msg("DevNonce %u (#%u): %s", dn, i, store_strerror(st));
        assert_int_equal(jn, i + STORE_JOIN_NONCE_FIRST);
    }
    for (uint32_t dn = 0; dn < 65536; dn++) {
        store_status st = join(fx->s, dev, JOIN_EUI, (uint16_t)dn, NULL);
        if (st != STORE_ERR_REPLAY)
            fail_msg("DevNonce %u accepted twice: %s", dn, store_strerror(st));
    }
    assert_int_equal(next_join_nonce(fx->s, dev), 65536 + STORE_JOIN_NONCE_FIRST);
}

static void test_dev_nonce_counter_versions(void **state)
{
    fixture *fx = *state;
    const store_mac_version versions[] = {STORE_MAC_1_0_4, STORE_MAC_1_1};
    for (size_t k = 0; k < 2; k++) {
        uint64_t dev = 0x200 + k;
        add_device(fx->s, dev, versions[k]);
        uint32_t jn;
        assert_int_equal(join(fx->s, dev, JOIN_EUI, 0, &jn), STORE_OK);
        assert_int_equal(join(fx->s, dev, JOIN_EUI, 1, &jn), STORE_OK);
        assert_int_equal(join(fx->s, dev, JOIN_EUI, 1, NULL), STORE_ERR_REPLAY);
        assert_int_equal(join(fx->s, dev, JOIN_EUI, 0, NULL), STORE_ERR_REPLAY);
        assert_int_equal(join(fx->s, dev, JOIN_EUI, 10, &jn), STORE_OK); /* gaps are fine */
        assert_int_equal(jn, 3);
        assert_int_equal(join(fx->s, dev, JOIN_EUI, 5, NULL), STORE_ERR_REPLAY); /* unused but not greater */
        assert_int_equal(join(fx->s, dev, JOIN_EUI, 10, NULL), STORE_ERR_REPLAY);
        assert_int_equal(join(fx->s, dev, JOIN_EUI, 11, &jn), STORE_OK);
        assert_int_equal(jn, 4);
        assert_int_equal(join(fx->s, dev, JOIN_EUI, 65535, &jn), STORE_OK);
        assert_int_equal(join(fx->s, dev, JOIN_EUI, 65535, NULL), STORE_ERR_REPLAY);
        assert_int_equal(join(fx->s, dev, JOIN_EUI, 12, NULL), STORE_ERR_REPLAY);
        assert_int_equal(next_join_nonce(fx->s, dev), 6);
        /* Per (DevEUI, JoinEUI): another JoinEUI has its own counter. */
        assert_int_equal(join(fx->s, dev, JOIN_EUI + 1, 0, &jn), STORE_OK);
        assert_int_equal(jn, 6);
    }
}

/* ---------------------------------------------------------------- JoinNonce */

static void test_join_nonce_overflow(void **state)
{
    fixture *fx = *state;
    store_device d = make_device(0x300, STORE_MAC_1_1);
    d.next_join_nonce = 0xFFFFFE;
    assert_int_equal(store_device_put(fx->s, &d, false), STORE_OK);
    uint32_t jn;
    assert_int_equal(join(fx->s, d.dev_eui, JOIN_EUI, 1, &jn), STORE_OK);
    assert_int_equal(jn, 0xFFFFFE);
    assert_int_equal(join(fx->s, d.dev_eui, JOIN_EUI, 2, &jn), STORE_OK);
    assert_int_equal(jn, 0xFFFFFF);
    assert_int_equal(join(fx->s, d.dev_eui, JOIN_EUI, 3, NULL), STORE_ERR_JOIN_NONCE_EXHAUSTED);
    assert_int_equal(rejoin(fx->s, d.dev_eui, 1, 0, NULL), STORE_ERR_JOIN_NONCE_EXHAUSTED);
    assert_int_equal(next_join_nonce(fx->s, d.dev_eui), STORE_JOIN_NONCE_LIMIT);
    /* The refused join consumed nothing: DevNonce 3 is still the next. */
    d.next_join_nonce = 0;
    assert_int_equal(store_device_put(fx->s, &d, true), STORE_OK); /* cannot rewind either */
    assert_int_equal(join(fx->s, d.dev_eui, JOIN_EUI, 3, NULL), STORE_ERR_JOIN_NONCE_EXHAUSTED);
}

/* Issue 20: LoRaMac-node and LoRa Basics Modem start with a stored JoinNonce
 * of 0 and take only a different (1.0.x) or greater (1.1) one. A device's
 * first JoinNonce is 1; a floor (a device that moved here) is where its
 * counter starts; and nothing lowers a counter, whoever writes. */
static void test_join_nonce_first_and_floor(void **state)
{
    fixture *fx = *state;
    uint32_t jn = 0;
    add_device(fx->s, 0x310, STORE_MAC_1_0_2);
    assert_int_equal(next_join_nonce(fx->s, 0x310), STORE_JOIN_NONCE_FIRST);
    assert_int_equal(join(fx->s, 0x310, JOIN_EUI, 1, &jn), STORE_OK);
    assert_int_equal(jn, 1);

    /* A floor: the first JoinNonce served is the floor itself. */
    store_device d = make_device(0x311, STORE_MAC_1_1);
    d.next_join_nonce = 4097;
    assert_int_equal(store_device_put(fx->s, &d, false), STORE_OK);
    assert_int_equal(join(fx->s, 0x311, JOIN_EUI, 0, &jn), STORE_OK);
    assert_int_equal(jn, 4097);

    /* A PUT with a higher floor raises it, a lower one changes nothing. */
    d.next_join_nonce = 9000;
    assert_int_equal(store_device_put(fx->s, &d, true), STORE_OK);
    assert_int_equal(join(fx->s, 0x311, JOIN_EUI, 1, &jn), STORE_OK);
    assert_int_equal(jn, 9000);
    d.next_join_nonce = 1;
    assert_int_equal(store_device_put(fx->s, &d, true), STORE_OK);
    assert_int_equal(next_join_nonce(fx->s, 0x311), 9001);

    /* store_device_raise_join_nonce: up only, on a known device only. */
    assert_int_equal(store_device_raise_join_nonce(fx->s, 0x311, 12000), STORE_OK);
    assert_int_equal(next_join_nonce(fx->s, 0x311), 12000);
    assert_int_equal(store_device_raise_join_nonce(fx->s, 0x311, 50), STORE_OK);
    assert_int_equal(next_join_nonce(fx->s, 0x311), 12000);
    assert_int_equal(join(fx->s, 0x311, JOIN_EUI, 2, &jn), STORE_OK);
    assert_int_equal(jn, 12000);
    assert_int_equal(store_device_raise_join_nonce(fx->s, 0x399, 5), STORE_ERR_NOT_FOUND);
    assert_int_equal(store_device_raise_join_nonce(fx->s, 0x311, STORE_JOIN_NONCE_LIMIT), STORE_ERR_ARGUMENT);

    /* Across a restart of the server (a new connection): the counter and
     * the floor are in the database, nothing in the process. */
    store_close(fx->s);
    fx->s = NULL;
    assert_int_equal(store_open(fx->location, &fx->s), STORE_OK);
    assert_int_equal(join(fx->s, 0x311, JOIN_EUI, 3, &jn), STORE_OK);
    assert_int_equal(jn, 12001);
    assert_int_equal(join(fx->s, 0x310, JOIN_EUI, 2, &jn), STORE_OK);
    assert_int_equal(jn, 2);
}

/* The MIC-less rejoins (types 0 and 2) are served only for a device with a
 * session on this server. A device that arrives with a floor has none,
 * though its counter is above 0: before the fix "next_join_nonce - 1" made
 * it look like it had one. */
static void test_rejoin_needs_a_session_here(void **state)
{
    fixture *fx = *state;
    store_device d = make_device(0x320, STORE_MAC_1_1);
    d.next_join_nonce = 700;
    assert_int_equal(store_device_put(fx->s, &d, false), STORE_OK);
    assert_int_equal(rejoin(fx->s, 0x320, 0, 0, NULL), STORE_ERR_NO_SESSION);
    assert_int_equal(rejoin(fx->s, 0x320, 2, 0, NULL), STORE_ERR_NO_SESSION);
    assert_int_equal(store_device_raise_join_nonce(fx->s, 0x320, 800), STORE_OK);
    assert_int_equal(rejoin(fx->s, 0x320, 0, 0, NULL), STORE_ERR_NO_SESSION);
    assert_int_equal(next_join_nonce(fx->s, 0x320), 800); /* the refusals took nothing */

    store_device got;
    assert_int_equal(store_device_get(fx->s, 0x320, &got), STORE_OK);
    assert_int_equal(got.last_join_nonce, -1);
    uint32_t jn = 0;
    assert_int_equal(join(fx->s, 0x320, JOIN_EUI, 5, &jn), STORE_OK);
    assert_int_equal(jn, 800);
    assert_int_equal(store_device_get(fx->s, 0x320, &got), STORE_OK);
    assert_int_equal(got.last_join_nonce, 800);
    assert_int_equal(rejoin(fx->s, 0x320, 0, 0, &jn), STORE_OK);
    assert_int_equal(jn, 801);
    /* A raise (the device went elsewhere and may come back) keeps the
     * session in force here: a rejoin from it is still served. */
    assert_int_equal(store_device_raise_join_nonce(fx->s, 0x320, 2000), STORE_OK);
    assert_int_equal(rejoin(fx->s, 0x320, 2, 0, &jn), STORE_OK);
    assert_int_equal(jn, 2000);
}

/* Schema 10 on a database written by schema 9: devices that never joined
 * start at 1, the others keep their counters and their session in force. */
static void test_join_nonce_migration(void **state)
{
    fixture *fx = *state;
    add_device(fx->s, 0x330, STORE_MAC_1_1); /* never joins */
    add_device(fx->s, 0x331, STORE_MAC_1_1);
    assert_int_equal(join(fx->s, 0x331, JOIN_EUI, 1, NULL), STORE_OK);
    assert_int_equal(join(fx->s, 0x331, JOIN_EUI, 2, NULL), STORE_OK); /* JoinNonces 1 and 2 */
    store_close(fx->s);
    fx->s = NULL;
    /* Back to what schema 9 left: counters from 0, no last_join_nonce. */
    raw_sql(fx, "ALTER TABLE devices DROP COLUMN last_join_nonce");
    raw_sql(fx, "UPDATE devices SET next_join_nonce = 0 WHERE dev_eui = '0000000000000330'");
    /* and what came after it: version 11's lease table */
    raw_sql(fx, "DROP TABLE idm_lease");
    /* and version 12's indexes */
    raw_sql(fx, "DROP INDEX idm_audit_subject");
    raw_sql(fx, "DROP INDEX idm_claim_tenant");
    raw_sql(fx, "DROP INDEX idm_se_maker");
    raw_sql(fx, "DROP INDEX idm_cmd_origin");
    /* and version 13's customer-join checks */
    raw_sql(fx, "DROP TABLE idm_join_check");
    raw_sql(fx, "DELETE FROM schema_version WHERE version >= 10");
    assert_int_equal(store_open(fx->location, &fx->s), STORE_OK);
    assert_int_equal(store_schema_version(fx->s), store_schema_latest());
    assert_int_equal(next_join_nonce(fx->s, 0x330), 1);
    assert_int_equal(next_join_nonce(fx->s, 0x331), 3); /* its last session: JoinNonce 2 */
    store_device got;
    assert_int_equal(store_device_get(fx->s, 0x330, &got), STORE_OK);
    assert_int_equal(got.last_join_nonce, -1); /* counter 1, yet never joined: what the IDM asks */
    assert_int_equal(store_device_get(fx->s, 0x331, &got), STORE_OK);
    assert_int_equal(got.last_join_nonce, 2);
    assert_int_equal(rejoin(fx->s, 0x330, 0, 0, NULL), STORE_ERR_NO_SESSION);
    uint32_t jn = 0;
    assert_int_equal(rejoin(fx->s, 0x331, 0, 0, &jn), STORE_OK);
    assert_int_equal(jn, 3);
}

static void test_session_callback_refuses(void **state)
{
    fixture *fx = *state;
    add_device(fx->s, 0x400, STORE_MAC_1_0_2);
    int calls = 0;
    store_join j = {.dev_eui = 0x400, .join_eui = JOIN_EUI, .dev_nonce = 7, .make_session = refuse_session,
                    .ctx = &calls};
    store_join_result r;
    assert_int_equal(store_join_commit(fx->s, &j, &r), STORE_ERR_ABORTED);
    assert_int_equal(calls, 1);
    /* Nothing was consumed: the same DevNonce gets the first JoinNonce. */
    uint32_t jn = 9;
    assert_int_equal(join(fx->s, 0x400, JOIN_EUI, 7, &jn), STORE_OK);
    assert_int_equal(jn, STORE_JOIN_NONCE_FIRST);
    /* The callback is not even called for a replay. */
    assert_int_equal(store_join_commit(fx->s, &j, &r), STORE_ERR_REPLAY);
    assert_int_equal(calls, 1);
    assert_int_equal(store_join_commit(fx->s, NULL, &r), STORE_ERR_ARGUMENT);
}

/* ---------------------------------------------------------------- sessions */

static store_status fixed_session(void *ctx, const store_join_grant *g, store_session *ss)
{
    (void)g;
    *ss = *(const store_session *)ctx;
    return STORE_OK;
}

static void test_sessions(void **state)
{
    fixture *fx = *state;
    add_device(fx->s, 0x500, STORE_MAC_1_1);
    store_session want;
    memset(&want, 0, sizeof want);
    want.session_key_id_len = 16;
    memcpy(want.session_key_id, "\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10", 16);
    want.dev_addr = 0xFFFFFFFFu;
    want.app_s_key = fake_blob(40);
    want.s_nwk_s_int_key = fake_blob(41);
    want.lifetime_s = 86400;
    store_join j = {.dev_eui = 0x500, .join_eui = JOIN_EUI, .dev_nonce = 3, .make_session = fixed_session,
                    .ctx = &want};
    store_join_result r;
    assert_int_equal(store_join_commit(fx->s, &j, &r), STORE_OK);
    assert_int_equal(r.join_nonce, STORE_JOIN_NONCE_FIRST);
    assert_int_equal(r.mac_version, STORE_MAC_1_1);
    assert_int_equal(r.expires_at, r.created_at + 86400);
    const int64_t first_created = r.created_at;

    store_session got;
    assert_int_equal(store_session_get(fx->s, 0x500, want.session_key_id, 16, &got), STORE_OK);
    want.dev_eui = 0x500;
    want.join_eui = JOIN_EUI;
    want.dev_nonce = 3;
    want.join_nonce = r.join_nonce;
    want.rejoin_type = -1;
    want.created_at = r.created_at;
    want.expires_at = r.expires_at;
    assert_memory_equal(&want, &got, sizeof want);

    /* A SessionKeyID the device already has: refused, nothing consumed. */
    j.dev_nonce = 4;
    assert_int_equal(store_join_commit(fx->s, &j, &r), STORE_ERR_EXISTS);
    assert_int_equal(next_join_nonce(fx->s, 0x500), 2);
    assert_int_equal(join(fx->s, 0x500, JOIN_EUI, 4, NULL), STORE_OK);

    /* Unknown, and invalid. */
    assert_int_equal(store_session_get(fx->s, 0x500, want.session_key_id, 15, &got), STORE_ERR_NOT_FOUND);
    assert_int_equal(store_session_get(fx->s, 0x501, want.session_key_id, 16, &got), STORE_ERR_NOT_FOUND);
    assert_int_equal(store_session_get(fx->s, 0x500, want.session_key_id, 0, &got), STORE_ERR_ARGUMENT);
    want.session_key_id_len = 0;
    j.dev_nonce = 5;
    assert_int_equal(store_join_commit(fx->s, &j, &r), STORE_ERR_ARGUMENT);
    assert_int_equal(join(fx->s, 0x500, JOIN_EUI, 5, NULL), STORE_OK);

    /* Purge: expired sessions go, the others stay. */
    want.session_key_id_len = 2;
    want.lifetime_s = 0; /* never expires */
    j.dev_nonce = 6;
    assert_int_equal(store_join_commit(fx->s, &j, &r), STORE_OK);
    size_t gone = 99;
    assert_int_equal(store_session_purge(fx->s, first_created + 3599, &gone), STORE_OK);
    assert_int_equal(gone, 0);
    assert_int_equal(store_session_purge(fx->s, r.created_at + 86400 + 3600, &gone), STORE_OK);
    assert_int_equal(gone, 3); /* the 86400 s one and the two 3600 s ones */
    assert_int_equal(store_session_get(fx->s, 0x500, want.session_key_id, 2, &got), STORE_OK);
    assert_int_equal(got.expires_at, 0);
    assert_int_equal(store_session_get(fx->s, 0x500, want.session_key_id, 16, &got), STORE_ERR_NOT_FOUND);
}

/* ---------------------------------------------------------------- rejoin */

static void test_rejoin(void **state)
{
    fixture *fx = *state;
    add_device(fx->s, 0x600, STORE_MAC_1_0_4);
    assert_int_equal(rejoin(fx->s, 0x600, 0, 0, NULL), STORE_ERR_NOT_ALLOWED);
    assert_int_equal(rejoin(fx->s, 0x601, 1, 0, NULL), STORE_ERR_NOT_FOUND);
    assert_int_equal(rejoin(fx->s, 0x600, 3, 0, NULL), STORE_ERR_ARGUMENT);

    const uint64_t dev = 0x602;
    add_device(fx->s, dev, STORE_MAC_1_1);
    uint32_t jn;
    /* types 0 and 2 carry no MIC the Join Server checks: never for a
     * device that has no session to rejoin from */
    assert_int_equal(rejoin(fx->s, dev, 0, 0, NULL), STORE_ERR_NO_SESSION);
    assert_int_equal(rejoin(fx->s, dev, 2, 0, NULL), STORE_ERR_NO_SESSION);
    assert_int_equal(join(fx->s, dev, JOIN_EUI, 0, &jn), STORE_OK);
    assert_int_equal(jn, 1);

    /* RJcount1: strictly increasing for the device's life, shared JoinNonce. */
    assert_int_equal(rejoin(fx->s, dev, 1, 0, &jn), STORE_OK);
    assert_int_equal(jn, 2);
    assert_int_equal(rejoin(fx->s, dev, 1, 0, NULL), STORE_ERR_REPLAY);
    assert_int_equal(rejoin(fx->s, dev, 1, 1, &jn), STORE_OK);
    assert_int_equal(jn, 3);
    assert_int_equal(join(fx->s, dev, JOIN_EUI, 1, &jn), STORE_OK); /* a JoinReq does not reset RJcount1 */
    assert_int_equal(jn, 4);
    assert_int_equal(rejoin(fx->s, dev, 1, 1, NULL), STORE_ERR_REPLAY);
    assert_int_equal(rejoin(fx->s, dev, 1, 7, &jn), STORE_OK);
    assert_int_equal(jn, 5);

    /* RJcount0 (types 0 and 2, one counter) restarts with each session:
     * every answered rejoin starts one, so a device that restarts at 0 after
     * the accept is served. */
    assert_int_equal(rejoin(fx->s, dev, 0, 0, &jn), STORE_OK);
    assert_int_equal(jn, 6);
    assert_int_equal(rejoin(fx->s, dev, 2, 0, &jn), STORE_OK);
    assert_int_equal(jn, 7);
    assert_int_equal(rejoin(fx->s, dev, 0, 3, &jn), STORE_OK);
    assert_int_equal(jn, 8);

    /* The rejoin's session is kept and tagged with its type and count. */
    uint8_t sid[4] = {0, 0, 0, 8};
    store_session ss;
    assert_int_equal(store_session_get(fx->s, dev, sid, 4, &ss), STORE_OK);
    assert_int_equal(ss.rejoin_type, 0);
    assert_int_equal(ss.dev_nonce, 3);
    assert_int_equal(ss.join_nonce, 8);

    /* The DevNonce rule is untouched by rejoins. */
    assert_int_equal(join(fx->s, dev, JOIN_EUI, 1, NULL), STORE_ERR_REPLAY);
    assert_int_equal(join(fx->s, dev, JOIN_EUI, 2, NULL), STORE_OK);
}

/* ---------------------------------------------------------------- connections */

typedef struct opener {
    const char *location;
    pthread_barrier_t *barrier;
    store_status st;
    int version;
} opener;

static void *open_thread(void *arg)
{
    opener *o = arg;
    store *s = NULL;
    pthread_barrier_wait(o->barrier);
    o->st = store_open(o->location, &s);
    o->version = store_schema_version(s);
    store_close(s);
    return NULL;
}

/* Servers starting together on an empty database migrate it once. Several
 * rounds: on SQLite the race (switching a new file to WAL answers BUSY
 * without waiting) is lost in only some of them. */
static void test_concurrent_first_open(void **state)
{
    fixture *fx = *state;
    store_close(fx->s);
    fx->s = NULL;
    int rounds = fx->kind == BACKEND_SQLITE ? 12 : 2;
    for (int round = 0; round < rounds; round++) {
        if (fx->kind == BACKEND_SQLITE) {
            char cmd[400];
            snprintf(cmd, sizeof cmd, "rm -f '%s'/ferry.db*", fx->dir);
            assert_int_equal(system(cmd), 0);
        } else {
            raw_sql(fx, "SET client_min_messages = warning; DROP SCHEMA public CASCADE; CREATE SCHEMA public");
        }
        enum { OPENERS = 8 };
        pthread_barrier_t barrier;
        pthread_t th[OPENERS];
        opener o[OPENERS];
        assert_int_equal(pthread_barrier_init(&barrier, NULL, OPENERS), 0);
        for (int i = 0; i < OPENERS; i++) {
            o[i] = (opener){.location = fx->location, .barrier = &barrier};
            assert_int_equal(pthread_create(&th[i], NULL, open_thread, &o[i]), 0);
        }
        for (int i = 0; i < OPENERS; i++)
            pthread_join(th[i], NULL);
        pthread_barrier_destroy(&barrier);
        for (int i = 0; i < OPENERS; i++) {
            if (o[i].st != STORE_OK)
                fail_msg("round %d, opener %d: %s", round, i, store_strerror(o[i].st));
            assert_int_equal(o[i].version, store_schema_latest());
        }
    }
    assert_int_equal(store_open(fx->location, &fx->s), STORE_OK);
    add_device(fx->s, 1, STORE_MAC_1_1);
}

/* PostgreSQL: a connection the server dropped between transactions is
 * re-established by the next call (SQLite has no connection to lose). */
static void test_reconnect(void **state)
{
    fixture *fx = *state;
    add_device(fx->s, 0xA00, STORE_MAC_1_1);
    assert_int_equal(join(fx->s, 0xA00, JOIN_EUI, 1, NULL), STORE_OK);
    if (fx->kind != BACKEND_PG)
        return;
    const char *kill_others = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = current_database() AND pid <> pg_backend_pid()";
    raw_sql(fx, kill_others);
    store_device d;
    assert_int_equal(store_device_get(fx->s, 0xA00, &d), STORE_OK);
    raw_sql(fx, kill_others);
    uint32_t jn;
    assert_int_equal(join(fx->s, 0xA00, JOIN_EUI, 2, &jn), STORE_OK);
    assert_int_equal(jn, 2);
    assert_int_equal(join(fx->s, 0xA00, JOIN_EUI, 2, NULL), STORE_ERR_REPLAY);
}

/* ---------------------------------------------------------------- races */

#define RACERS 8

typedef struct racer {
    const char *location;
    pthread_barrier_t *barrier;
    uint64_t dev_eui;
    int id, rounds, per_round;
    /* per attempt: DevNonce, status, JoinNonce */
    uint16_t nonce[4096];
    store_status st[4096];
    uint32_t jn[4096];
    int attempts;
    int open_failed;
} racer;

static uint16_t race_nonce(const racer *r, int round, int k, bool same)
{
    /* same: all racers the same value per round; else interleaved values. */
    return same ? (uint16_t)(round * 3 + 1) : (uint16_t)((round * r->per_round + k) * RACERS + r->id);
}

static bool race_same;

static void *race_thread(void *arg)
{
    racer *r = arg;
    store *s = NULL;
    /* Everyone opens at once too: migrations must not trip over each other. */
    pthread_barrier_wait(r->barrier);
    if (store_open(r->location, &s) != STORE_OK)
        r->open_failed = 1;
    for (int round = 0; round < r->rounds; round++) {
        pthread_barrier_wait(r->barrier);
        for (int k = 0; k < r->per_round && s != NULL; k++) {
            int a = r->attempts++;
            r->nonce[a] = race_nonce(r, round, k, race_same);
            r->st[a] = join(s, r->dev_eui, JOIN_EUI, r->nonce[a], &r->jn[a]);
        }
    }
    store_close(s);
    return NULL;
}

static void run_racers(fixture *fx, racer *rs, uint64_t dev, int rounds, int per_round, bool same)
{
    pthread_barrier_t barrier;
    pthread_t th[RACERS];
    race_same = same;
    assert_int_equal(pthread_barrier_init(&barrier, NULL, RACERS), 0);
    for (int i = 0; i < RACERS; i++) {
        memset(&rs[i], 0, sizeof rs[i]);
        rs[i] = (racer){.location = fx->location, .barrier = &barrier, .dev_eui = dev, .id = i,
                        .rounds = rounds, .per_round = per_round};
        assert_int_equal(pthread_create(&th[i], NULL, race_thread, &rs[i]), 0);
    }
    for (int i = 0; i < RACERS; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&barrier);
    for (int i = 0; i < RACERS; i++)
        assert_int_equal(rs[i].open_failed, 0);
}

static racer racers[RACERS];

static void test_race_same_dev_nonce(void **state)
{
    fixture *fx = *state;
    const store_mac_version versions[] = {STORE_MAC_1_0_2, STORE_MAC_1_1};
    for (size_t v = 0; v < 2; v++) {
        uint64_t dev = 0x700 + v;
        add_device(fx->s, dev, versions[v]);
        const int rounds = 25;
        run_racers(fx, racers, dev, rounds, 1, true);
        for (int round = 0; round < rounds; round++) {
            int winners = 0;
            for (int i = 0; i < RACERS; i++) {
                store_status st = racers[i].st[round];
                if (st == STORE_OK)
                    winners++;
                else if (st != STORE_ERR_REPLAY)
                    fail_msg("racer %d round %d: %s", i, round, store_strerror(st));
            }
            if (winners != 1)
                fail_msg("%s round %d: %d connections accepted the same DevNonce", store_mac_version_name(versions[v]),
                         round, winners);
        }
        assert_int_equal(next_join_nonce(fx->s, dev), rounds + STORE_JOIN_NONCE_FIRST);
    }
}

static void test_race_join_nonces_unique(void **state)
{
    fixture *fx = *state;
    const int rounds = 10, per_round = 5, total = RACERS * rounds * per_round;
    static uint8_t seen[RACERS * 10 * 5];

    /* 1.0.2: all distinct values, all accepted, JoinNonces a permutation. */
    add_device(fx->s, 0x800, STORE_MAC_1_0_2);
    run_racers(fx, racers, 0x800, rounds, per_round, false);
    memset(seen, 0, sizeof seen);
    for (int i = 0; i < RACERS; i++) {
        for (int a = 0; a < racers[i].attempts; a++) {
            assert_int_equal(racers[i].st[a], STORE_OK);
            assert_true(racers[i].jn[a] >= STORE_JOIN_NONCE_FIRST);
            assert_true(racers[i].jn[a] - STORE_JOIN_NONCE_FIRST < (uint32_t)total);
            assert_int_equal(seen[racers[i].jn[a] - STORE_JOIN_NONCE_FIRST]++, 0);
        }
    }
    assert_int_equal(next_join_nonce(fx->s, 0x800), total + STORE_JOIN_NONCE_FIRST);

    /* 1.1: interleaved increasing values; whatever is accepted, in JoinNonce
     * order, has strictly increasing DevNonces (the accepted history is a
     * serial one), and the JoinNonces are 1..accepted, each once. */
    add_device(fx->s, 0x801, STORE_MAC_1_1);
    run_racers(fx, racers, 0x801, rounds, per_round, false);
    static int32_t by_jn[RACERS * 10 * 5];
    for (int k = 0; k < total; k++)
        by_jn[k] = -1;
    int accepted = 0;
    for (int i = 0; i < RACERS; i++) {
        for (int a = 0; a < racers[i].attempts; a++) {
            if (racers[i].st[a] == STORE_ERR_REPLAY)
                continue;
            assert_int_equal(racers[i].st[a], STORE_OK);
            uint32_t k = racers[i].jn[a] - STORE_JOIN_NONCE_FIRST;
            assert_true(racers[i].jn[a] >= STORE_JOIN_NONCE_FIRST && k < (uint32_t)total);
            assert_int_equal(by_jn[k], -1);
            by_jn[k] = racers[i].nonce[a];
            accepted++;
        }
    }
    assert_true(accepted >= rounds); /* at least one per round */
    for (int k = 0; k < accepted; k++) {
        assert_true(by_jn[k] >= 0);
        if (k > 0)
            assert_true(by_jn[k] > by_jn[k - 1]);
    }
    assert_int_equal(next_join_nonce(fx->s, 0x801), accepted + STORE_JOIN_NONCE_FIRST);
}

/* Two (here eight) `serve` processes on one database: the same race with
 * processes instead of threads, each with its own connection, released at
 * once by closing a pipe; each child's exit code is its status. */
static void test_race_processes(void **state)
{
    fixture *fx = *state;
    enum { PROCS = 8, ROUNDS = 5 };
    add_device(fx->s, 0xB00, STORE_MAC_1_0_3);
    store_close(fx->s); /* no connection may cross a fork */
    fx->s = NULL;
    for (int round = 0; round < ROUNDS; round++) {
        int go[2];
        pid_t pids[PROCS];
        assert_int_equal(pipe(go), 0);
        for (int i = 0; i < PROCS; i++) {
            pids[i] = fork();
            assert_true(pids[i] >= 0);
            if (pids[i] == 0) {
                close(go[1]);
                store *s = NULL;
                if (store_open(fx->location, &s) != STORE_OK)
                    _exit(100);
                char c;
                while (read(go[0], &c, 1) < 0 && errno == EINTR)
                    ;
                store_status st = join(s, 0xB00, JOIN_EUI, (uint16_t)(4242 + round), NULL);
                store_close(s);
                _exit((int)st);
            }
        }
        close(go[0]);
        usleep(100000); /* let every child connect; they then wait on the pipe */
        close(go[1]);
        int winners = 0;
        for (int i = 0; i < PROCS; i++) {
            int status;
            assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
            assert_true(WIFEXITED(status));
            int st = WEXITSTATUS(status);
            if (st == STORE_OK)
                winners++;
            else if (st != STORE_ERR_REPLAY)
                fail_msg("process %d round %d: %s", i, round, st == 100 ? "open failed" : store_strerror(st));
        }
        if (winners != 1)
            fail_msg("round %d: %d processes accepted the same DevNonce", round, winners);
    }
    assert_int_equal(store_open(fx->location, &fx->s), STORE_OK);
    assert_int_equal(next_join_nonce(fx->s, 0xB00), ROUNDS + STORE_JOIN_NONCE_FIRST);
}

/* ---------------------------------------------------------------- kill -9 */

typedef struct kill_record {
    uint32_t device; /* 0: the 1.0.2 device, 1: the 1.1 device */
    uint32_t dev_nonce;
    uint32_t join_nonce;
    uint32_t step;   /* the child's loop counter */
} kill_record;

#define KILL_DEV_102 0x900ull
#define KILL_DEV_11 0x901ull

/* The child: commits joins as fast as it can and reports each one on the
 * pipe only after store_join_commit() returned. Never returns. */
static void kill_child(const char *location, int fd, uint32_t start)
{
    store *s = NULL;
    if (store_open(location, &s) != STORE_OK)
        _exit(3);
    for (uint32_t i = start;; i++) {
        for (uint32_t dev = 0; dev < 2; dev++) {
            /* 1.0.2: a scrambled walk; 1.1: the counter itself. */
            uint16_t dn = dev == 0 ? (uint16_t)(i * 40503u + 17u) : (uint16_t)i;
            uint32_t jn;
            store_status st = join(s, dev == 0 ? KILL_DEV_102 : KILL_DEV_11, JOIN_EUI, dn, &jn);
            if (st == STORE_ERR_REPLAY)
                continue; /* committed before an earlier kill, unreported */
            if (st != STORE_OK)
                _exit(4);
            kill_record rec = {dev, dn, jn, i};
            if (write(fd, &rec, sizeof rec) != (ssize_t)sizeof rec)
                _exit(5);
        }
    }
}

static void test_kill_during_joins(void **state)
{
    fixture *fx = *state;
    add_device(fx->s, KILL_DEV_102, STORE_MAC_1_0_2);
    add_device(fx->s, KILL_DEV_11, STORE_MAC_1_1);
    store_close(fx->s); /* no connection may cross a fork */
    fx->s = NULL;

    static kill_record got[200000];
    size_t n = 0;
    uint32_t next_i = 0;
    unsigned seed = (unsigned)time(NULL);
    srand(seed);
    for (int round = 0; round < 8; round++) {
        int fds[2];
        assert_int_equal(pipe(fds), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            kill_child(fx->location, fds[1], next_i);
        }
        close(fds[1]);
        /* Read until a random moment, then kill -9, then drain. */
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        long budget_ms = 30 + rand() % 150;
        bool killed = false;
        for (;;) {
            struct timespec t;
            clock_gettime(CLOCK_MONOTONIC, &t);
            long ms = (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
            if (!killed && ms >= budget_ms) {
                kill(pid, SIGKILL);
                killed = true;
            }
            struct pollfd p = {.fd = fds[0], .events = POLLIN};
            if (poll(&p, 1, killed ? -1 : 5) == 0)
                continue;
            kill_record rec;
            ssize_t r = read(fds[0], &rec, sizeof rec);
            if (r == 0)
                break;
            if (r < 0 && errno == EINTR)
                continue;
            assert_int_equal(r, sizeof rec);
            assert_true(n < sizeof got / sizeof got[0]);
            got[n++] = rec;
        }
        close(fds[0]);
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
            fail_msg("child ended on its own (status %d, seed %u)", status, seed);

        /* Reopen and check every invariant against what was reported. */
        assert_int_equal(store_open(fx->location, &fx->s), STORE_OK);
        uint32_t last_jn[2] = {0, 0};
        bool any[2] = {false, false};
        for (size_t k = 0; k < n; k++) {
            const kill_record *rec = &got[k];
            if (any[rec->device] && rec->join_nonce <= last_jn[rec->device])
                fail_msg("JoinNonce %u repeated or went back (seed %u)", rec->join_nonce, seed);
            last_jn[rec->device] = rec->join_nonce;
            any[rec->device] = true;
        }
        for (size_t k = 0; k < n; k++) {
            const kill_record *rec = &got[k];
            uint64_t dev = rec->device == 0 ? KILL_DEV_102 : KILL_DEV_11;
            /* Retrying a reported DevNonce must be refused (a refusal writes
             * nothing, so this does not disturb the next round). Checked for
             * every record of the last 50 and a sample of the rest. */
            if (k + 50 >= n || k % 97 == 0) {
                store_status st = join(fx->s, dev, JOIN_EUI, (uint16_t)rec->dev_nonce, NULL);
                if (st != STORE_ERR_REPLAY)
                    fail_msg("reported DevNonce %u was lost: %s (seed %u)", rec->dev_nonce, store_strerror(st),
                             seed);
            }
        }
        for (uint32_t d = 0; d < 2; d++)
            if (any[d])
                assert_true(next_join_nonce(fx->s, d == 0 ? KILL_DEV_102 : KILL_DEV_11) > last_jn[d]);
        /* Atomicity across tables: every JoinNonce issued has exactly one
         * DevNonce row and one session, whatever moment the kill hit. */
        for (uint32_t d = 0; d < 2; d++) {
            uint64_t dev = d == 0 ? KILL_DEV_102 : KILL_DEV_11;
            char sql[160];
            snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM dev_nonces WHERE dev_eui = '%016llX'",
                     (unsigned long long)dev);
            int64_t nonces = raw_int(fx, sql);
            snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM sessions WHERE dev_eui = '%016llX'",
                     (unsigned long long)dev);
            int64_t sessions = raw_int(fx, sql);
            int64_t issued = next_join_nonce(fx->s, dev) - STORE_JOIN_NONCE_FIRST;
            if (nonces != issued || sessions != issued)
                fail_msg("device %u: %lld JoinNonces issued, %lld DevNonces, %lld sessions (seed %u)", d,
                         (long long)issued, (long long)nonces, (long long)sessions, seed);
        }
        if (fx->kind == BACKEND_SQLITE)
            assert_int_equal(raw_int(fx, "PRAGMA integrity_check"), 1);
        store_close(fx->s);
        fx->s = NULL;
        /* The next round continues after the last reported step; a step
         * committed but unreported is refused as a replay and skipped. */
        if (n > 0)
            next_i = got[n - 1].step + 1;
    }
    print_message("# kill -9: %zu joins reported over 8 rounds (seed %u)\n", n, seed);
    assert_true(n > 0);
    assert_int_equal(store_open(fx->location, &fx->s), STORE_OK);
}


/* ---------------------------------------------------------------- IDM work lists */

/* More SEs than any page, and than the LIMIT 256 the work lists once had. */
#define FLEET 600
#define FLEET_EUI(i) (0x70B3D57ED0100000ull + 3 * (uint64_t)(i))

static store_status put_fleet(store *s, void *ctx)
{
    (void)ctx;
    store_status st = STORE_OK;
    for (size_t i = 0; i < FLEET && st == STORE_OK; i++) {
        store_idm_se se;
        memset(&se, 0, sizeof se);
        se.dev_eui = FLEET_EUI(i);
        se.join_eui = 0x70B3D57ED0000000ull;
        se.serial = 1 + i;
        se.mac_version = STORE_MAC_1_0_4;
        se.mls_key = fake_blob(3);
        se.state = i % 5 == 4 ? IDM_STATE_BOOTSTRAPPED : IDM_STATE_PROFILE_DELIVERED;
        st = store_idm_se_put(s, &se);
        if (st == STORE_OK)
            st = store_idm_cleanup_add(s, se.dev_eui, "js-a", "retired");
        if (st == STORE_OK && i % 2 == 0)
            st = store_idm_cleanup_add(s, se.dev_eui, "js-b", "transferred");
    }
    return st;
}

static void test_idm_work_lists_page(void **state)
{
    fixture *fx = *state;
    assert_int_equal(store_idm_txn(fx->s, put_fleet, NULL), STORE_OK);
    const size_t delivered = FLEET - FLEET / 5;
    uint64_t *all = calloc(FLEET + 1, sizeof *all);
    assert_non_null(all);
    /* A page as large as the caller asks: nothing cut at a fixed count. */
    size_t n = 0;
    assert_int_equal(store_idm_work_list(fx->s, STORE_IDM_WORK_DELIVERED, NULL, all, FLEET + 1, &n), STORE_OK);
    assert_int_equal(n, delivered);
    /* Small pages after a cursor: every SE once, in DevEUI order. */
    uint64_t page[7], cursor = 0;
    size_t seen = 0, pages = 0;
    do {
        assert_int_equal(store_idm_work_list(fx->s, STORE_IDM_WORK_DELIVERED, pages ? &cursor : NULL, page, 7, &n),
                         STORE_OK);
        for (size_t i = 0; i < n; i++) {
            assert_true(seen < delivered);
            assert_true(page[i] == all[seen]);
            if (seen > 0)
                assert_true(all[seen - 1] < page[i]);
            seen++;
        }
        if (n > 0)
            cursor = page[n - 1];
        pages++;
    } while (n == 7);
    assert_int_equal(seen, delivered);
    assert_int_equal(pages, delivered / 7 + 1);
    assert_int_equal(store_idm_work_list(fx->s, STORE_IDM_WORK_DELIVERED, NULL, page, 0, &n), STORE_ERR_ARGUMENT);
    /* The deletions owed page on (DevEUI, JS): two rows of one SE may
     * straddle a page boundary and neither is lost nor repeated. */
    store_idm_cleanup cl[7], last;
    seen = 0;
    pages = 0;
    do {
        assert_int_equal(store_idm_cleanup_list(fx->s, pages ? &last : NULL, cl, 7, &n), STORE_OK);
        for (size_t i = 0; i < n; i++) {
            const store_idm_cleanup *prev = i > 0 ? &cl[i - 1] : pages ? &last : NULL;
            if (prev != NULL)
                assert_true(prev->dev_eui < cl[i].dev_eui ||
                            (prev->dev_eui == cl[i].dev_eui && strcmp(prev->js_id, cl[i].js_id) < 0));
            seen++;
        }
        if (n > 0)
            last = cl[n - 1];
        pages++;
    } while (n == 7);
    assert_int_equal(seen, FLEET + FLEET / 2);
    free(all);
}

/* ---------------------------------------------------------------- the console's reads (schema 12) */

static store_status view_audit(store *s, void *ctx)
{
    (void)ctx;
    const store_idm_audit_record r[] = {
        {"idm-ota", "idm.se.bootstrap_join", "70B3D57ED0080000", "{\"from\":\"manufactured\",\"to\":\"bootstrapped\"}"},
        {"tenant:ca", "idm.claim", "70B3D57ED0080000", "{\"tenant\":\"ca\"}"},
        {"idm-ota", "idm.se.customer_join", "70B3D57ED0080003", "{\"from\":\"profile_delivered\",\"to\":\"active_at_customer\"}"},
        {"cli", "idm.tenant.add", "cb", "{}"},
    };
    for (size_t i = 0; i < sizeof r / sizeof r[0]; i++) {
        store_status st = store_idm_audit_append(s, &r[i], NULL);
        if (st != STORE_OK)
            return st;
    }
    return STORE_OK;
}

static void view_se_put(fixture *fx, uint64_t dev_eui, idm_state state, const char *maker)
{
    store_idm_se se;
    memset(&se, 0, sizeof se);
    se.dev_eui = dev_eui;
    se.mac_version = STORE_MAC_1_0_4;
    se.mls_key = fake_blob(9);
    se.state = state;
    snprintf(se.maker, sizeof se.maker, "%s", maker);
    assert_int_equal(store_idm_se_put(fx->s, &se), STORE_OK);
}

static size_t view_page(fixture *fx, const store_idm_se_filter *f, uint64_t *devs, size_t cap)
{
    store_idm_se_row rows[8];
    size_t n = 0;
    assert_true(cap <= 8);
    assert_int_equal(store_idm_se_page(fx->s, f, rows, cap, &n), STORE_OK);
    for (size_t i = 0; i < n; i++)
        devs[i] = rows[i].dev_eui & 0xF;
    return n;
}

/* Pages of a tenant's SEs with filters, counts per state, an SE's audit
 * entries, the lifecycle changes after a point, events per hour, on both
 * databases (the SQL is shared). */
static void test_idm_view(void **state)
{
    fixture *fx = *state;
    const uint64_t dev0 = 0x70B3D57ED0080000ull;
    const char *tenants[3] = {"mk", "ca", "cb"};
    for (int k = 0; k < 3; k++) {
        store_idm_tenant t;
        memset(&t, 0, sizeof t);
        snprintf(t.id, sizeof t.id, "%s", tenants[k]);
        memset(t.token_hash, 0x40 + k, sizeof t.token_hash);
        t.kind = k == 0 ? STORE_IDM_TENANT_MAKER : STORE_IDM_TENANT_CUSTOMER;
        assert_int_equal(store_idm_tenant_put(fx->s, &t), STORE_OK);
    }
    /* 0 manufactured, 1 bootstrapped, 2 and 3 active, 4 retired: maker mk; 5: no maker */
    const idm_state states[6] = {IDM_STATE_MANUFACTURED, IDM_STATE_BOOTSTRAPPED, IDM_STATE_ACTIVE_AT_CUSTOMER,
                                 IDM_STATE_ACTIVE_AT_CUSTOMER, IDM_STATE_RETIRED, IDM_STATE_BOOTSTRAPPED};
    for (int i = 0; i < 6; i++)
        view_se_put(fx, dev0 + (uint64_t)i, states[i], i < 5 ? "mk" : "");
    for (int i = 0; i < 5; i++) { /* 0, 1, 2 held by ca; 3 by cb; 4 released */
        store_idm_claim c;
        memset(&c, 0, sizeof c);
        c.dev_eui = dev0 + (uint64_t)i;
        c.state = i == 4 ? STORE_IDM_CLAIM_RELEASED : STORE_IDM_CLAIM_CLAIMED;
        snprintf(c.tenant_id, sizeof c.tenant_id, "%s", i == 4 ? "" : i == 3 ? "cb" : "ca");
        assert_int_equal(store_idm_claim_put(fx->s, &c), STORE_OK);
    }
    uint64_t d[8];
    store_idm_se_filter f = {.scope = STORE_IDM_SCOPE_HOLDER, .tenant_id = "ca"};
    assert_int_equal(view_page(fx, &f, d, 8), 3);
    assert_true(d[0] == 0 && d[1] == 1 && d[2] == 2);
    f.tenant_id = "cb";
    assert_int_equal(view_page(fx, &f, d, 8), 1);
    assert_true(d[0] == 3);
    f = (store_idm_se_filter){.scope = STORE_IDM_SCOPE_MAKER, .tenant_id = "mk"};
    assert_int_equal(view_page(fx, &f, d, 8), 4); /* not the retired one, not another maker's */
    /* cursor pages of 2: 0 1 | 2 3 | (none) */
    assert_int_equal(view_page(fx, &f, d, 2), 2);
    f.has_after = true, f.after = dev0 + 1;
    assert_int_equal(view_page(fx, &f, d, 2), 2);
    assert_true(d[0] == 2 && d[1] == 3);
    f.after = dev0 + 3;
    assert_int_equal(view_page(fx, &f, d, 2), 0);
    f.has_after = false;
    f.has_state = true, f.state = IDM_STATE_ACTIVE_AT_CUSTOMER;
    assert_int_equal(view_page(fx, &f, d, 8), 2);
    f.has_state = false;
    f.has_claim = true, f.claim = STORE_IDM_CLAIM_NONE;
    assert_int_equal(view_page(fx, &f, d, 8), 0);
    f.has_claim = false;
    f.prefix = "70B3D57ED0080003";
    assert_int_equal(view_page(fx, &f, d, 8), 1);
    assert_true(d[0] == 3);
    f.prefix = "70B3D57ED008000";
    assert_int_equal(view_page(fx, &f, d, 8), 4);
    f.prefix = "70b3";   /* lower case is the caller's to fold: refused here */
    store_idm_se_row rows[2];
    size_t n = 0;
    assert_int_equal(store_idm_se_page(fx->s, &f, rows, 2, &n), STORE_ERR_ARGUMENT);
    f.prefix = NULL;
    f.tenant_id = "x'; DROP TABLE idm_se; --";
    assert_int_equal(store_idm_se_page(fx->s, &f, rows, 2, &n), STORE_ERR_ARGUMENT);
    uint64_t counts[IDM_STATE_COUNT];
    assert_int_equal(store_idm_se_state_counts(fx->s, STORE_IDM_SCOPE_MAKER, "mk", counts), STORE_OK);
    assert_int_equal(counts[IDM_STATE_MANUFACTURED], 1);
    assert_int_equal(counts[IDM_STATE_BOOTSTRAPPED], 1);
    assert_int_equal(counts[IDM_STATE_ACTIVE_AT_CUSTOMER], 2);
    assert_int_equal(counts[IDM_STATE_RETIRED], 0);
    assert_int_equal(store_idm_se_state_counts(fx->s, STORE_IDM_SCOPE_HOLDER, "cb", counts), STORE_OK);
    assert_int_equal(counts[IDM_STATE_ACTIVE_AT_CUSTOMER], 1);
    /* the audit chain */
    assert_int_equal(store_idm_txn(fx->s, view_audit, NULL), STORE_OK);
    int64_t head = 0;
    assert_int_equal(store_idm_audit_head(fx->s, &head), STORE_OK);
    assert_true(head >= 4);
    store_idm_audit_entry *es = calloc(8, sizeof *es);
    assert_non_null(es);
    assert_int_equal(store_idm_audit_of_se(fx->s, dev0, 0, es, 8, &n), STORE_OK);
    assert_int_equal(n, 2);
    assert_string_equal(es[0].action, "idm.se.bootstrap_join");
    assert_string_equal(es[1].actor, "tenant:ca");
    assert_int_equal(store_idm_audit_of_se(fx->s, dev0, es[0].seq, es, 8, &n), STORE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(store_idm_audit_se_changes(fx->s, head - 4, es, 8, &n), STORE_OK);
    assert_int_equal(n, 2); /* lifecycle changes only */
    assert_true(es[0].dev_eui == dev0 && es[1].dev_eui == dev0 + 3);
    assert_int_equal(store_idm_audit_se_changes(fx->s, es[1].seq, es, 8, &n), STORE_OK);
    assert_int_equal(n, 0);
    free(es);
    store_idm_event_count ev[4];
    assert_int_equal(store_idm_se_event_counts(fx->s, STORE_IDM_SCOPE_MAKER, "mk", 0, ev, 4, &n), STORE_OK);
    assert_int_equal(n, 2);
    assert_int_equal(ev[0].hour % 3600, 0);
    assert_int_equal(store_idm_se_event_counts(fx->s, STORE_IDM_SCOPE_HOLDER, "cb", 0, ev, 4, &n), STORE_OK);
    assert_int_equal(n, 1);
    assert_string_equal(ev[0].event, "customer_join");
    assert_int_equal(store_idm_se_event_counts(fx->s, STORE_IDM_SCOPE_MAKER, "mk", 0, ev, 1, &n), STORE_ERR_ARGUMENT);
}

/* Every page of f at page size `per` (cursors the REST layer would make,
 * from the last row's key): the DevEUIs' low nibbles in order into d. */
static size_t view_all_pages(fixture *fx, store_idm_se_filter f, size_t per, uint64_t *d, size_t cap)
{
    store_idm_se_row rows[8];
    char text[STORE_IDM_ID_MAX + 1]; /* the cursor's key outlives rows, reused by the next page */
    size_t total = 0, n = 0;
    f.has_after = false;
    do {
        assert_int_equal(store_idm_se_page(fx->s, &f, rows, per, &n), STORE_OK);
        for (size_t i = 0; i < n; i++) {
            assert_true(total < cap);
            d[total++] = rows[i].dev_eui & 0xF;
        }
        if (n > 0) {
            f.has_after = true;
            f.after = rows[n - 1].dev_eui;
            store_idm_se_row_key(&rows[n - 1], f.sort, &f.after_num, &f.after_text);
            snprintf(text, sizeof text, "%s", f.after_text);
            f.after_text = text;
        }
    } while (n == per);
    return total;
}

static void assert_order(const uint64_t *d, size_t n, const char *want)
{
    char got[17] = "";
    for (size_t i = 0; i < n && i < 16; i++)
        got[i] = (char)"0123456789ABCDEF"[d[i]];
    assert_string_equal(got, want);
}

/* Sorted pages (schema 12's SQL, no index of their own): each order is
 * its key then the DevEUI, both directions, and keyset cursors walk it
 * page by page without a row seen twice or missed, ties included; another
 * tenant's SEs are in no order. */
static void test_idm_view_sort(void **state)
{
    fixture *fx = *state;
    const uint64_t dev0 = 0x70B3D57ED0090000ull;
    const char *tenants[2] = {"ca", "cb"};
    for (int k = 0; k < 2; k++) {
        store_idm_tenant t;
        memset(&t, 0, sizeof t);
        snprintf(t.id, sizeof t.id, "%s", tenants[k]);
        memset(t.token_hash, 0x50 + k, sizeof t.token_hash);
        t.kind = STORE_IDM_TENANT_CUSTOMER;
        assert_int_equal(store_idm_tenant_put(fx->s, &t), STORE_OK);
    }
    for (int i = 0; i < 2; i++) {
        store_idm_js j;
        memset(&j, 0, sizeof j);
        snprintf(j.id, sizeof j.id, "%s", i == 0 ? "ja" : "jb");
        snprintf(j.tenant_id, sizeof j.tenant_id, "ca");
        snprintf(j.admin_url, sizeof j.admin_url, "http://127.0.0.1:1");
        snprintf(j.kek_label, sizeof j.kek_label, "k");
        j.token_key.len = 24;
        j.token_ct_len = 20;
        assert_int_equal(store_idm_js_put(fx->s, &j), STORE_OK);
    }
    /* SE i: state, Join Server, last event (the SE's, its claim's) */
    const idm_state states[7] = {IDM_STATE_ACTIVE_AT_CUSTOMER, IDM_STATE_BOOTSTRAPPED,  IDM_STATE_ACTIVE_AT_CUSTOMER,
                                 IDM_STATE_FALLBACK,           IDM_STATE_BOOTSTRAPPED,  IDM_STATE_PROFILE_PENDING,
                                 IDM_STATE_ACTIVE_AT_CUSTOMER};
    const char *js[7] = {"jb", "", "ja", "jb", "ja", "", "ja"};
    const int64_t se_at[7] = {500, 100, 300, 300, 900, 200, 100}, claim_at[7] = {0, 700, 0, 0, 0, 0, 800};
    for (int i = 0; i < 7; i++) {
        const uint64_t dev = dev0 + (uint64_t)i;
        view_se_put(fx, dev, states[i], "mk");
        store_idm_claim c;
        memset(&c, 0, sizeof c);
        c.dev_eui = dev;
        c.state = STORE_IDM_CLAIM_CLAIMED;
        snprintf(c.tenant_id, sizeof c.tenant_id, "%s", i == 6 ? "cb" : "ca"); /* 6 is cb's */
        snprintf(c.js_id, sizeof c.js_id, "%s", i == 6 ? "" : js[i]);
        assert_int_equal(store_idm_claim_put(fx->s, &c), STORE_OK);
        char sql[300];
        snprintf(sql, sizeof sql, "UPDATE idm_se SET updated_at = %lld WHERE dev_eui = '%016llX';"
                 "UPDATE idm_claim SET updated_at = %lld WHERE dev_eui = '%016llX';",
                 (long long)se_at[i], (unsigned long long)dev, (long long)claim_at[i], (unsigned long long)dev);
        raw_sql(fx, sql);
    }
    /* ca's six: 0..5 */
    static const struct {
        store_idm_se_sort sort;
        bool desc;
        const char *want;
    } cases[] = {
        {STORE_IDM_SORT_DEV_EUI, false, "012345"},    {STORE_IDM_SORT_DEV_EUI, true, "543210"},
        {STORE_IDM_SORT_STATE, false, "145023"},      {STORE_IDM_SORT_STATE, true, "320541"},
        {STORE_IDM_SORT_LAST_EVENT, false, "523014"}, {STORE_IDM_SORT_LAST_EVENT, true, "410325"},
        {STORE_IDM_SORT_JOIN_SERVER, false, "152403"}, {STORE_IDM_SORT_JOIN_SERVER, true, "304251"},
    };
    uint64_t d[8];
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        store_idm_se_filter f = {.scope = STORE_IDM_SCOPE_HOLDER, .tenant_id = "ca", .sort = cases[k].sort,
                                 .desc = cases[k].desc};
        for (size_t per = 1; per <= 7; per += 2) {
            size_t n = view_all_pages(fx, f, per, d, 8);
            assert_int_equal(n, 6);
            assert_order(d, n, cases[k].want);
        }
    }
    /* a filter with a sort; the other tenant's one alone in its list */
    store_idm_se_filter f = {.scope = STORE_IDM_SCOPE_HOLDER, .tenant_id = "ca", .sort = STORE_IDM_SORT_LAST_EVENT,
                             .has_state = true, .state = IDM_STATE_ACTIVE_AT_CUSTOMER};
    assert_int_equal(view_all_pages(fx, f, 1, d, 8), 2);
    assert_order(d, 2, "20");
    f = (store_idm_se_filter){.scope = STORE_IDM_SCOPE_HOLDER, .tenant_id = "cb", .sort = STORE_IDM_SORT_JOIN_SERVER};
    assert_int_equal(view_all_pages(fx, f, 2, d, 8), 1);
    assert_order(d, 1, "6");
    /* a cursor key out of range: refused, nothing read */
    store_idm_se_row rows[2];
    size_t n = 0;
    f = (store_idm_se_filter){.scope = STORE_IDM_SCOPE_HOLDER, .tenant_id = "ca", .sort = STORE_IDM_SORT_STATE,
                              .has_after = true, .after = dev0, .after_num = IDM_STATE_COUNT};
    assert_int_equal(store_idm_se_page(fx->s, &f, rows, 2, &n), STORE_ERR_ARGUMENT);
    f.sort = STORE_IDM_SORT_JOIN_SERVER;
    f.after_text = "x'; --";
    assert_int_equal(store_idm_se_page(fx->s, &f, rows, 2, &n), STORE_ERR_ARGUMENT);
    f.sort = STORE_IDM_SORT_COUNT;
    assert_int_equal(store_idm_se_page(fx->s, &f, rows, 2, &n), STORE_ERR_ARGUMENT);
    store_idm_se_sort s = STORE_IDM_SORT_DEV_EUI;
    assert_int_equal(store_idm_se_sort_parse("last_event", &s), STORE_OK);
    assert_int_equal(s, STORE_IDM_SORT_LAST_EVENT);
    assert_string_equal(store_idm_se_sort_name(STORE_IDM_SORT_JOIN_SERVER), "join_server");
    assert_int_equal(store_idm_se_sort_parse("LastEvent", &s), STORE_ERR_ARGUMENT);
}

/* ---------------------------------------------------------------- outbox (schema 9) */

static store_outbox_entry *outbox_entry(const char *sender, uint32_t txid, uint8_t hash_byte, int64_t next_ms)
{
    store_outbox_entry *e = calloc(1, sizeof *e);
    assert_non_null(e);
    snprintf(e->sender_id, sizeof e->sender_id, "%s", sender);
    e->transaction_id = txid;
    memset(e->request_sha256, hash_byte, sizeof e->request_sha256);
    snprintf(e->answer_url, sizeof e->answer_url, "http://127.0.0.1:9/answers");
    e->answer_len = (size_t)snprintf(e->answer, sizeof e->answer,
                                     "{\"MessageType\":\"JoinAns\",\"TransactionID\":%u}", (unsigned)txid);
    e->next_attempt_ms = next_ms;
    e->deadline_ms = next_ms + 60000;
    return e;
}

static void test_outbox(void **state)
{
    fixture *fx = *state;
    store_outbox_entry *got = calloc(1, sizeof *got);
    store_outbox_entry *due = calloc(4, sizeof *due);
    assert_non_null(got);
    assert_non_null(due);
    int64_t t0 = 1700000000000LL;
    store_outbox_entry *a = outbox_entry("000013", 7, 0xA1, t0 + 20);
    store_outbox_entry *b = outbox_entry("000013", 4294967295u, 0xB2, t0 + 10);
    store_outbox_entry *c = outbox_entry("000042", 7, 0xC3, t0 + 30);
    assert_int_equal(store_outbox_find(fx->s, "000013", 7, got), STORE_ERR_NOT_FOUND);
    assert_int_equal(store_outbox_add(fx->s, a, 2), STORE_OK);
    /* the same (SenderID, TransactionID) while pending: kept, not replaced */
    store_outbox_entry *a2 = outbox_entry("000013", 7, 0xEE, t0);
    assert_int_equal(store_outbox_add(fx->s, a2, 2), STORE_ERR_EXISTS);
    assert_int_equal(store_outbox_add(fx->s, b, 2), STORE_OK);
    /* capacity: two pending, a third is refused and nothing is written */
    assert_int_equal(store_outbox_add(fx->s, c, 2), STORE_ERR_FULL);
    assert_int_equal(store_outbox_find(fx->s, "000042", 7, got), STORE_ERR_NOT_FOUND);
    size_t n = 99;
    assert_int_equal(store_outbox_count(fx->s, STORE_OUTBOX_PENDING, &n), STORE_OK);
    assert_int_equal(n, 2);

    assert_int_equal(store_outbox_find(fx->s, "000013", 7, got), STORE_OK);
    assert_int_equal(got->state, STORE_OUTBOX_PENDING);
    assert_memory_equal(got->request_sha256, a->request_sha256, STORE_OUTBOX_HASH_LEN);
    assert_string_equal(got->answer, a->answer);
    assert_int_equal(got->answer_len, a->answer_len);
    assert_string_equal(got->answer_url, a->answer_url);
    assert_int_equal(got->attempts, 0);
    assert_true(got->next_attempt_ms == t0 + 20 && got->deadline_ms == t0 + 60020);

    /* due: earliest first, only those whose time came */
    assert_int_equal(store_outbox_due(fx->s, t0 + 15, due, 4, &n), STORE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(due[0].transaction_id, 4294967295u);
    assert_int_equal(store_outbox_due(fx->s, t0 + 100, due, 4, &n), STORE_OK);
    assert_int_equal(n, 2);
    assert_int_equal(due[0].transaction_id, 4294967295u);
    assert_int_equal(due[1].transaction_id, 7);
    assert_int_equal(store_outbox_due(fx->s, t0 + 100, due, 1, &n), STORE_OK);
    assert_int_equal(n, 1);

    /* claim: compare-and-set on next_attempt_ms; the second claimant loses */
    assert_int_equal(store_outbox_claim(fx->s, "000013", 7, t0 + 20, t0 + 5000), STORE_OK);
    assert_int_equal(store_outbox_claim(fx->s, "000013", 7, t0 + 20, t0 + 5000), STORE_ERR_BUSY);
    assert_int_equal(store_outbox_due(fx->s, t0 + 100, due, 4, &n), STORE_OK);
    assert_int_equal(n, 1);
    /* a failed attempt: counted, the next one later */
    assert_int_equal(store_outbox_retry_at(fx->s, "000013", 7, t0 + 200), STORE_OK);
    assert_int_equal(store_outbox_find(fx->s, "000013", 7, got), STORE_OK);
    assert_int_equal(got->attempts, 1);
    assert_true(got->next_attempt_ms == t0 + 200);
    /* delivered: attempts + 1, no longer due or pending */
    assert_int_equal(store_outbox_finish(fx->s, "000013", 7, STORE_OUTBOX_DELIVERED), STORE_OK);
    assert_int_equal(store_outbox_finish(fx->s, "000013", 7, STORE_OUTBOX_DELIVERED), STORE_ERR_NOT_FOUND);
    assert_int_equal(store_outbox_retry_at(fx->s, "000013", 7, t0), STORE_ERR_NOT_FOUND);
    assert_int_equal(store_outbox_find(fx->s, "000013", 7, got), STORE_OK);
    assert_int_equal(got->state, STORE_OUTBOX_DELIVERED);
    assert_int_equal(got->attempts, 2);
    assert_int_equal(store_outbox_due(fx->s, t0 + 1000, due, 4, &n), STORE_OK);
    assert_int_equal(n, 1);
    /* room again: the third fits now */
    assert_int_equal(store_outbox_add(fx->s, c, 2), STORE_OK);
    assert_int_equal(store_outbox_finish(fx->s, "000042", 7, STORE_OUTBOX_EXPIRED), STORE_OK);
    assert_int_equal(store_outbox_count(fx->s, STORE_OUTBOX_EXPIRED, &n), STORE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(store_outbox_count(fx->s, STORE_OUTBOX_DELIVERED, &n), STORE_OK);
    assert_int_equal(n, 1);
    /* a delivered row's TransactionID reused for a new request: replaced */
    assert_int_equal(store_outbox_add(fx->s, a2, 3), STORE_OK);
    assert_int_equal(store_outbox_find(fx->s, "000013", 7, got), STORE_OK);
    assert_int_equal(got->state, STORE_OUTBOX_PENDING);
    assert_int_equal(got->attempts, 0);
    assert_memory_equal(got->request_sha256, a2->request_sha256, STORE_OUTBOX_HASH_LEN);

    /* durable: another connection (a restarted process) sees the rows */
    store_close(fx->s);
    fx->s = NULL;
    assert_int_equal(store_open(fx->location, &fx->s), STORE_OK);
    assert_int_equal(store_outbox_count(fx->s, STORE_OUTBOX_PENDING, &n), STORE_OK);
    assert_int_equal(n, 2);
    /* purge: finished rows only; pending ones stay whatever their age */
    size_t gone = 0;
    assert_int_equal(store_outbox_purge(fx->s, store_now_ms() + 1000, &gone), STORE_OK);
    assert_int_equal(gone, 1);
    assert_int_equal(store_outbox_find(fx->s, "000042", 7, got), STORE_ERR_NOT_FOUND);
    assert_int_equal(store_outbox_count(fx->s, STORE_OUTBOX_PENDING, &n), STORE_OK);
    assert_int_equal(n, 2);

    /* arguments */
    assert_int_equal(store_outbox_find(fx->s, "", 7, got), STORE_ERR_ARGUMENT);
    store_outbox_entry *bad = outbox_entry("000013", 9, 0, t0);
    bad->answer_url[0] = '\0';
    assert_int_equal(store_outbox_add(fx->s, bad, 10), STORE_ERR_ARGUMENT);
    free(bad);
    bad = outbox_entry("000013", 9, 0, t0);
    bad->answer_len = 0;
    bad->answer[0] = '\0';
    assert_int_equal(store_outbox_add(fx->s, bad, 10), STORE_ERR_ARGUMENT);
    assert_int_equal(store_outbox_finish(fx->s, "000013", 9, STORE_OUTBOX_PENDING), STORE_ERR_ARGUMENT);
    assert_int_equal(store_outbox_due(fx->s, t0, due, 0, &n), STORE_ERR_ARGUMENT);
    assert_string_equal(store_outbox_state_name(STORE_OUTBOX_EXPIRED), "expired");
    assert_null(store_outbox_state_name(STORE_OUTBOX_STATE_COUNT));
    free(bad);
    free(a);
    free(a2);
    free(b);
    free(c);
    free(got);
    free(due);
}

/* ---------------------------------------------------------------- main */

#define STORE_TESTS(B)                                                                       \
    cmocka_unit_test_prestate_setup_teardown(test_open_and_migrations, setup, teardown, &B), \
    cmocka_unit_test_prestate_setup_teardown(test_device_crud, setup, teardown, &B),         \
    cmocka_unit_test_prestate_setup_teardown(test_device_list, setup, teardown, &B),         \
    cmocka_unit_test_prestate_setup_teardown(test_idm_work_lists_page, setup, teardown, &B), \
    cmocka_unit_test_prestate_setup_teardown(test_idm_view, setup, teardown, &B),            \
    cmocka_unit_test_prestate_setup_teardown(test_idm_view_sort, setup, teardown, &B),       \
    cmocka_unit_test_prestate_setup_teardown(test_kek_crud, setup, teardown, &B),            \
    cmocka_unit_test_prestate_setup_teardown(test_operators, setup, teardown, &B),           \
    cmocka_unit_test_prestate_setup_teardown(test_outbox, setup, teardown, &B),              \
    cmocka_unit_test_prestate_setup_teardown(test_idm_enums_round_trip, setup, teardown, &B), \
    cmocka_unit_test_prestate_setup_teardown(test_dev_nonce_random_versions, setup, teardown, &B), \
    cmocka_unit_test_prestate_setup_teardown(test_dev_nonce_all_65536, setup, teardown, &B), \
    cmocka_unit_test_prestate_setup_teardown(test_dev_nonce_counter_versions, setup, teardown, &B), \
    cmocka_unit_test_prestate_setup_teardown(test_join_nonce_overflow, setup, teardown, &B), \
    cmocka_unit_test_prestate_setup_teardown(test_join_nonce_first_and_floor, setup, teardown, &B), \
    cmocka_unit_test_prestate_setup_teardown(test_rejoin_needs_a_session_here, setup, teardown, &B), \
    cmocka_unit_test_prestate_setup_teardown(test_join_nonce_migration, setup, teardown, &B), \
    cmocka_unit_test_prestate_setup_teardown(test_session_callback_refuses, setup, teardown, &B), \
    cmocka_unit_test_prestate_setup_teardown(test_sessions, setup, teardown, &B),            \
    cmocka_unit_test_prestate_setup_teardown(test_rejoin, setup, teardown, &B),              \
    cmocka_unit_test_prestate_setup_teardown(test_concurrent_first_open, setup, teardown, &B), \
    cmocka_unit_test_prestate_setup_teardown(test_reconnect, setup, teardown, &B),           \
    cmocka_unit_test_prestate_setup_teardown(test_race_same_dev_nonce, setup, teardown, &B), \
    cmocka_unit_test_prestate_setup_teardown(test_race_join_nonces_unique, setup, teardown, &B), \
    cmocka_unit_test_prestate_setup_teardown(test_race_processes, setup, teardown, &B),      \
    cmocka_unit_test_prestate_setup_teardown(test_kill_during_joins, setup, teardown, &B)

int main(void)
{
    const struct CMUnitTest common[] = {cmocka_unit_test(test_strings)};
    const struct CMUnitTest sqlite_tests[] = {STORE_TESTS(SQLITE)};
    const struct CMUnitTest pg_tests[] = {STORE_TESTS(PG)};
    int failed = 0;
    /* store_pg.sh sets FERRY_TEST_PG_ONLY: the rest already ran as a unit. */
    if (getenv("FERRY_TEST_PG_ONLY") == NULL) {
        failed += cmocka_run_group_tests_name("store", common, NULL, NULL);
        failed += cmocka_run_group_tests_name("store-sqlite", sqlite_tests, NULL, NULL);
    }
    if (getenv("FERRY_TEST_PG") != NULL && *getenv("FERRY_TEST_PG") != '\0') {
        failed += cmocka_run_group_tests_name("store-postgresql", pg_tests, NULL, NULL);
    } else {
        /* cmocka 1.1 prints its own skips as "not ok"; say it in TAP. */
        printf("1..1\nok 1 # SKIP store-postgresql: %zu tests need FERRY_TEST_PG "
               "(tests/integration/store_pg.sh sets it)\n",
               sizeof pg_tests / sizeof pg_tests[0]);
    }
    return failed != 0;
}

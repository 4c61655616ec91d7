/*
 * test_idm_import.c - the manufacturing hand-off end to end: the HSA
 * personalises SE images and writes a batch; the IDM imports it.
 *
 * The group set-up runs the HSA step once (20 SEs, its own token, closed
 * afterwards: one SoftHSM2 deployment is open at a time per process), then
 * makes the IDM's token, into which the HSA-IDM KEK is imported the way
 * `ferry kek import` does it (hsm_import_clear -> blob in the keks table).
 * Each test gets a fresh database on that token.
 *
 * Neither side's keys are ever seen by the test. That the SE and the IDM
 * hold the same NwkKey is shown by the frames: the image builds a
 * join-request, and the IDM's token computes its MIC from the device's blob.
 *
 * IDM_IMPORT_LINES=N sizes the generated batch of big_batch_streams
 * (default 3000; the 1,000,000 run is bench/idm_import.sh).
 * FERRY_TEST_PG=<conninfo> runs every test on PostgreSQL instead of SQLite
 * (the public schema is dropped before each test, as in test_store.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <mbedtls/sha256.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "idm/idm.h"
#include "lorawan/lorawan.h"
#include "se/se.h"
#include "sehost/se_nvm_file.h"

#define COUNT 20
#define LABEL "hsa-idm"
#define DEV_BASE 0x70B3D57ED0010000ull

typedef struct group {
    char root[64];
    char out[128];            /* the HSA's output directory */
    char batch[4096];
    uint8_t kek[16];          /* the HSA-IDM KEK: the one key the test knows */
    hsm_dir_config dc;
    idm_token tok;            /* the IDM's token; reopened by long imports */
    uint8_t kek_blob[HSM_BLOB_MAX];
    size_t kek_blob_len;
    int db_seq;
    store *db;                /* per test */
    char db_path[192];
    char location[512];       /* store_open() location of this test's database */
    const char *pg;           /* FERRY_TEST_PG, or NULL for SQLite */
} group;

static group G;

static void put_kek(store *db, const char *label, const uint8_t *blob, size_t len)
{
    store_kek k;
    memset(&k, 0, sizeof k);
    snprintf(k.label, sizeof k.label, "%s", label);
    memcpy(k.key.data, blob, len);
    k.key.len = len;
    assert_int_equal(store_kek_put(db, &k), STORE_OK);
}

static int group_setup(void **state)
{
    (void)state;
    memset(&G, 0, sizeof G);
    snprintf(G.root, sizeof G.root, "/tmp/ferry-idm-XXXXXX");
    if (mkdtemp(G.root) == NULL)
        return -1;
    snprintf(G.out, sizeof G.out, "%s/hsa-out", G.root);
    if (getrandom(G.kek, sizeof G.kek, 0) != (ssize_t)sizeof G.kek)
        return -1;

    idm_hsa_opts o = {
        .out_dir = G.out,
        .count = COUNT,
        .kek_label = LABEL,
        .join_eui = IDM_DEFAULT_JOIN_EUI,
        .mac_version = STORE_MAC_1_1,
        .dev_eui_base = DEV_BASE,
        .serial_base = 1,
        .profile_id = 0x00AB0001,
    };
    uint8_t copy[16];
    memcpy(copy, G.kek, 16);
    idm_hsa_result res;
    char err[IDM_ERR_MAX];
    idm_status st = idm_hsa_personalise(&o, copy, &res, err);
    if (st != IDM_OK) {
        fprintf(stderr, "personalise: %s\n", err);
        return -1;
    }
    for (int i = 0; i < 16; i++)
        if (copy[i] != 0)
            return -1; /* the KEK given must have been wiped */
    snprintf(G.batch, sizeof G.batch, "%s", res.batch_path);

    /* The IDM's deployment: its own token. */
    char dir[128];
    snprintf(dir, sizeof dir, "%s/idm", G.root);
    hsm_diag diag = {0};
    if (hsm_token_create(dir, "ferry", NULL, &diag) != HSM_OK)
        return -1;
    if (hsm_config_for_dir(dir, "ferry", &G.dc) != HSM_OK || hsm_open(&G.dc.cfg, &G.tok.h, &diag) != HSM_OK ||
        hsm_session_open(G.tok.h, &G.tok.s) != HSM_OK)
        return -1;
    G.tok.cfg = &G.dc.cfg;
    memcpy(copy, G.kek, 16);
    if (hsm_import_clear(G.tok.s, copy, 16, G.kek_blob, sizeof G.kek_blob, &G.kek_blob_len) != HSM_OK)
        return -1;
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    hsm_session_close(G.tok.s);
    hsm_close(G.tok.h);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", G.root);
    if (getenv("IDM_TEST_KEEP") == NULL && system(cmd) != 0)
        return -1;
    return 0;
}

static void raw_sql(const char *sql)
{
    if (G.pg == NULL) {
        sqlite3 *db;
        assert_int_equal(sqlite3_open(G.db_path, &db), SQLITE_OK);
        char *msg = NULL;
        if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
            fail_msg("%s: %s", sql, msg);
        sqlite3_close(db);
        return;
    }
    PGconn *c = PQconnectdb(strncmp(G.pg, "pg:", 3) == 0 ? G.pg + 3 : G.pg);
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("postgresql: %s", PQerrorMessage(c));
    PGresult *r = PQexec(c, sql);
    ExecStatusType rs = PQresultStatus(r);
    if (rs != PGRES_COMMAND_OK && rs != PGRES_TUPLES_OK)
        fail_msg("postgresql: %s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
}

static int setup(void **state)
{
    (void)state;
    G.pg = getenv("FERRY_TEST_PG");
    if (G.pg != NULL && *G.pg == '\0')
        G.pg = NULL;
    if (G.pg != NULL) {
        bool scheme = strncmp(G.pg, "postgres", 8) == 0 || strncmp(G.pg, "pg:", 3) == 0;
        snprintf(G.location, sizeof G.location, "%s%s", scheme ? "" : "pg:", G.pg);
        raw_sql("SET client_min_messages = warning; DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public");
    } else {
        snprintf(G.db_path, sizeof G.db_path, "%s/idm/test-%d.db", G.root, ++G.db_seq);
        snprintf(G.location, sizeof G.location, "sqlite:%s", G.db_path);
    }
    if (store_open(G.location, &G.db) != STORE_OK)
        return -1;
    put_kek(G.db, LABEL, G.kek_blob, G.kek_blob_len);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    store_close(G.db);
    G.db = NULL;
    return 0;
}

/* ---------------------------------------------------------------- helpers */

static const idm_import_opts OPTS = {
    .home_net_id = 0x000013,
    .ns_kek_label = "bootstrap-ns",
    .as_kek_label = "idm-as",
    .as_id = "",
    .actor = "test",
};

static idm_status import_file(const char *path, idm_import_summary *sum, char err[IDM_ERR_MAX])
{
    FILE *in = fopen(path, "r");
    assert_non_null(in);
    idm_status st = idm_import_batch(&G.tok, G.db, in, &OPTS, sum, err);
    fclose(in);
    return st;
}

static uint64_t se_count(void)
{
    uint64_t n = 0;
    assert_int_equal(store_idm_se_count(G.db, &n), STORE_OK);
    return n;
}

/* Reads the batch into lines[COUNT][1024]. */
static void read_batch(char lines[COUNT][1024])
{
    FILE *f = fopen(G.batch, "r");
    assert_non_null(f);
    for (int i = 0; i < COUNT; i++)
        assert_non_null(fgets(lines[i], 1024, f));
    char extra[8];
    assert_null(fgets(extra, sizeof extra, f));
    fclose(f);
}

static void write_batch(const char *path, char lines[COUNT][1024])
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 0; i < COUNT; i++)
        fputs(lines[i], f);
    fclose(f);
}

/* ---------------------------------------------------------------- tests */

static void batch_holds_only_wrapped_keys(void **state)
{
    (void)state;
    char lines[COUNT][1024];
    read_batch(lines);
    struct stat sb;
    assert_int_equal(stat(G.batch, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    for (int i = 0; i < COUNT; i++) {
        json_error_t je;
        json_t *o = json_loads(lines[i], 0, &je);
        assert_non_null(o);
        char want[17];
        snprintf(want, sizeof want, "%016llX", (unsigned long long)(DEV_BASE + (uint64_t)i));
        assert_string_equal(json_string_value(json_object_get(o, "DevEUI")), want);
        assert_string_equal(json_string_value(json_object_get(o, "JoinEUI")), "70B3D57ED0000000");
        assert_string_equal(json_string_value(json_object_get(o, "MACVersion")), "1.1");
        static const char *const keys[] = {"NwkKey", "AppKey", "MLSKey"};
        for (int k = 0; k < 3; k++) {
            json_t *env = json_object_get(o, keys[k]);
            assert_true(json_is_object(env));
            assert_string_equal(json_string_value(json_object_get(env, "KEKLabel")), LABEL);
            /* 24 bytes: an RFC 3394 wrap, never a 16-byte clear key */
            assert_int_equal(strlen(json_string_value(json_object_get(env, "AESKey"))), 48);
        }
        const char *token = json_string_value(json_object_get(o, "OwnerToken"));
        assert_int_equal(strlen(token), 32);
        char qr[128];
        snprintf(qr, sizeof qr, "LW:D0:70B3D57ED0000000:%s:00AB0001:O%s", want, token);
        assert_string_equal(json_string_value(json_object_get(o, "QR")), qr);
        json_decref(o);

        idm_batch_line l;
        char err[IDM_ERR_MAX];
        assert_int_equal(idm_batch_line_parse(lines[i], strlen(lines[i]), &l, err), IDM_OK);
        assert_int_equal(l.serial, 1 + (uint64_t)i);
        assert_int_equal(l.profile_id, 0x00AB0001);
        /* format(parse(line)) == line */
        char again[1024];
        size_t len;
        assert_int_equal(idm_batch_line_format(&l, again, sizeof again, &len), IDM_OK);
        assert_int_equal(len, strlen(lines[i]));
        assert_memory_equal(again, lines[i], len);
        /* MLSMessageMax: absent = 0 (1024); written when set; 128..1024 only */
        assert_int_equal(l.mls_msg_max, 0);
        assert_null(strstr(lines[i], "MLSMessageMax"));
        l.mls_msg_max = 512;
        assert_int_equal(idm_batch_line_format(&l, again, sizeof again, &len), IDM_OK);
        assert_non_null(strstr(again, "\"MLSMessageMax\":512,"));
        idm_batch_line l2;
        assert_int_equal(idm_batch_line_parse(again, len, &l2, err), IDM_OK);
        assert_int_equal(l2.mls_msg_max, 512);
        /* the field's own digits: "512" may also stand in the hex of a key */
        char *at = strstr(again, "\"MLSMessageMax\":512") + strlen("\"MLSMessageMax\":");
        memcpy(at, "100", 3);
        assert_int_equal(idm_batch_line_parse(again, len, &l2, err), IDM_ERR_INPUT);
        assert_non_null(strstr(err, "MLSMessageMax"));
        lw_secure_wipe(&l2, sizeof l2);
    }
}

static void images_boot_and_their_join_mic_verifies_in_the_idm_token(void **state)
{
    (void)state;
    idm_import_summary sum;
    char err[IDM_ERR_MAX];
    assert_int_equal(import_file(G.batch, &sum, err), IDM_OK);
    assert_int_equal(sum.imported, COUNT);
    const lw_crypto *c = hsm_session_crypto(G.tok.s);
    char lines[COUNT][1024];
    read_batch(lines);
    for (int i = 0; i < COUNT; i++) {
        uint64_t dev_eui = DEV_BASE + (uint64_t)i;
        char path[256];
        snprintf(path, sizeof path, "%s/se-%016llX.img", G.out, (unsigned long long)dev_eui);
        struct stat sb;
        assert_int_equal(stat(path, &sb), 0);
        assert_int_equal(sb.st_mode & 0777, 0600);
        se_nvm_file f;
        se_nvm nvm;
        se e;
        assert_int_equal(se_nvm_file_open(&f, path, 0, &nvm), SE_OK);
        assert_int_equal(se_boot(&e, &nvm, lw_crypto_software()), SE_OK);
        se_info info;
        assert_int_equal(se_get_info(&e, &info), SE_OK);
        assert_int_equal(info.lifecycle, SE_LIFECYCLE_OPERATIONAL);
        assert_int_equal(info.dev_eui, dev_eui);
        assert_int_equal(info.serial, 1 + (uint64_t)i);
        assert_int_equal(info.join_eui, IDM_DEFAULT_JOIN_EUI);
        assert_int_equal(info.mac_version, SE_MAC_1_1);
        uint8_t frame[LW_JOIN_REQUEST_LEN];
        assert_int_equal(se_build_join_request(&e, frame), SE_OK);
        lw_secure_wipe(&e, sizeof e);
        se_nvm_file_close(&f);

        /* The bootstrap Join Server's device: the same NwkKey, as a blob. */
        store_device d;
        assert_int_equal(store_device_get(G.db, dev_eui, &d), STORE_OK);
        assert_int_equal(d.join_eui, IDM_DEFAULT_JOIN_EUI);
        assert_int_equal(d.mac_version, STORE_MAC_1_1);
        assert_int_equal(d.home_net_id, 0x000013);
        assert_string_equal(d.ns_kek_label, "bootstrap-ns");
        assert_int_equal(d.nwk_key.len, HSM_BLOB_LEN);
        assert_int_equal(d.app_key.len, HSM_BLOB_LEN);
        lw_key nwk;
        memset(&nwk, 0, sizeof nwk);
        assert_int_equal(hsm_key_unwrap_blob(G.tok.s, HSM_KEY_WORKING, d.nwk_key.data, d.nwk_key.len, &nwk), HSM_OK);
        uint8_t mic[LW_MIC_LEN];
        assert_int_equal(lw_mic_join_request(c, &nwk, frame, LW_JOIN_REQUEST_LEN - LW_MIC_LEN, mic), LW_OK);
        hsm_key_release(G.tok.s, &nwk);
        if (!lw_mic_equal(mic, frame + LW_JOIN_REQUEST_LEN - LW_MIC_LEN))
            fail_msg("SE %016llX: the IDM's NwkKey does not verify the SE's join-request", (unsigned long long)dev_eui);

        /* ... and another SE's key does not (the check can fail). */
        store_device other;
        assert_int_equal(store_device_get(G.db, DEV_BASE + (uint64_t)((i + 1) % COUNT), &other), STORE_OK);
        assert_int_equal(hsm_key_unwrap_blob(G.tok.s, HSM_KEY_WORKING, other.nwk_key.data, other.nwk_key.len, &nwk),
                         HSM_OK);
        assert_int_equal(lw_mic_join_request(c, &nwk, frame, LW_JOIN_REQUEST_LEN - LW_MIC_LEN, mic), LW_OK);
        hsm_key_release(G.tok.s, &nwk);
        assert_false(lw_mic_equal(mic, frame + LW_JOIN_REQUEST_LEN - LW_MIC_LEN));

        /* The IDM's own row: state, hashed token, MLS key blob. */
        store_idm_se se_row;
        assert_int_equal(store_idm_se_get(G.db, dev_eui, &se_row), STORE_OK);
        assert_int_equal(se_row.state, IDM_STATE_MANUFACTURED);
        assert_int_equal(se_row.serial, 1 + (uint64_t)i);
        assert_int_equal(se_row.mls_key.len, HSM_BLOB_LEN);
        idm_batch_line l;
        assert_int_equal(idm_batch_line_parse(lines[i], strlen(lines[i]), &l, err), IDM_OK);
        uint8_t h[32];
        assert_int_equal(mbedtls_sha256_ret(l.owner_token, sizeof l.owner_token, h, 0), 0);
        assert_memory_equal(se_row.owner_token_hash, h, 32);
        assert_memory_not_equal(se_row.owner_token_hash, l.owner_token, sizeof l.owner_token);
    }
    /* Nothing was left behind in the token. */
    size_t objects = 99;
    assert_int_equal(hsm_session_count_objects(G.tok.s, &objects), HSM_OK);
    assert_int_equal(objects, 0);
}

static void reimport_is_idempotent(void **state)
{
    (void)state;
    idm_import_summary sum;
    char err[IDM_ERR_MAX];
    assert_int_equal(import_file(G.batch, &sum, err), IDM_OK);
    assert_int_equal(sum.imported, COUNT);
    assert_int_equal(sum.already, 0);
    assert_int_equal(sum.audit_seq, 1);
    uint8_t first_hash[32];
    memcpy(first_hash, sum.batch_sha256, 32);
    assert_int_equal(import_file(G.batch, &sum, err), IDM_OK);
    assert_int_equal(sum.imported, 0);
    assert_int_equal(sum.already, COUNT);
    assert_int_equal(sum.lines, COUNT);
    assert_int_equal(sum.audit_seq, 2);
    assert_memory_equal(sum.batch_sha256, first_hash, 32);
    assert_int_equal(se_count(), COUNT);
}

/* Line 7 broken in several ways: nothing of the batch may land. */
static void a_bad_line_imports_nothing(void **state)
{
    (void)state;
    char lines[COUNT][1024];
    char path[256], err[IDM_ERR_MAX];
    snprintf(path, sizeof path, "%s/bad.jsonl", G.root);
    store_kek other;
    memset(&other, 0, sizeof other);
    snprintf(other.label, sizeof other.label, "other-kek");
    {
        /* a KEK that exists but is not the one the batch was wrapped under */
        lw_key k;
        memset(&k, 0, sizeof k);
        assert_int_equal(hsm_key_generate(G.tok.s, HSM_KEY_KEK, &k), HSM_OK);
        assert_int_equal(hsm_key_wrap_blob(G.tok.s, &k, other.key.data, sizeof other.key.data, &other.key.len), HSM_OK);
        hsm_key_release(G.tok.s, &k);
        assert_int_equal(store_kek_put(G.db, &other), STORE_OK);
    }
    static const char *const why[] = {"not JSON", "flipped AESKey", "unknown KEK", "clear key", "wrong KEK",
                                      "bad DevEUI", "QR mismatch"};
    for (int variant = 0; variant < 7; variant++) {
        read_batch(lines);
        char *l = lines[6];
        char *p;
        switch (variant) {
        case 0: snprintf(l, 1024, "{\"DevEUI\": \n"); break;
        case 1: p = strstr(l, "\"AppKey\":{\"KEKLabel\":\"hsa-idm\",\"AESKey\":\"") + 40; *p = *p == '0' ? '1' : '0'; break;
        case 2: p = strstr(l, "hsa-idm"); memcpy(p, "hsa-xxx", 7); break;
        case 3: p = strstr(l, "\"MLSKey\":{\"KEKLabel\":\"hsa-idm\""); memmove(p + 22, p + 29, strlen(p + 29) + 1); break;
        case 4: {
            char tmp[1024];
            p = strstr(l, "\"NwkKey\":{\"KEKLabel\":\"hsa-idm\"");
            snprintf(tmp, sizeof tmp, "%.*s\"NwkKey\":{\"KEKLabel\":\"other-kek\"%s", (int)(p - l), l, p + 30);
            memcpy(l, tmp, strlen(tmp) + 1);
            break;
        }
        case 5: p = strstr(l, "70B3D57ED0010006"); p[3] = 'G'; break;
        case 6: p = strstr(l, ":O") + 2; *p = *p == 'A' ? 'B' : 'A'; break;
        }
        write_batch(path, lines);
        idm_import_summary sum;
        idm_status st = import_file(path, &sum, err);
        if (st == IDM_OK)
            fail_msg("%s: imported", why[variant]);
        if (strstr(err, "line 7") == NULL)
            fail_msg("%s: the error does not name line 7: %s", why[variant], err);
        assert_int_equal(sum.imported, 0);
        assert_int_equal(se_count(), 0);
        store_device d;
        assert_int_equal(store_device_get(G.db, DEV_BASE, &d), STORE_ERR_NOT_FOUND);
        store_idm_audit_report rep;
        assert_int_equal(store_idm_audit_verify(G.db, &rep), STORE_OK);
        assert_int_equal(rep.entries, 0);
    }
    size_t objects = 99;
    assert_int_equal(hsm_session_count_objects(G.tok.s, &objects), HSM_OK);
    assert_int_equal(objects, 0);
}

static void a_contradicting_reimport_is_refused(void **state)
{
    (void)state;
    idm_import_summary sum;
    char err[IDM_ERR_MAX], path[256];
    assert_int_equal(import_file(G.batch, &sum, err), IDM_OK);
    char lines[COUNT][1024];
    read_batch(lines);
    idm_batch_line l;
    assert_int_equal(idm_batch_line_parse(lines[2], strlen(lines[2]), &l, err), IDM_OK);
    l.owner_token[0] ^= 1; /* same DevEUI, another token: a forged or mixed-up batch */
    size_t len;
    assert_int_equal(idm_batch_line_format(&l, lines[2], 1024, &len), IDM_OK);
    snprintf(path, sizeof path, "%s/conflict.jsonl", G.root);
    write_batch(path, lines);
    assert_int_equal(import_file(path, &sum, err), IDM_ERR_CONFLICT);
    assert_non_null(strstr(err, "line 3"));
    assert_int_equal(se_count(), COUNT);
}

/* --operators: kept per SE; a re-import must name the same ones; a list
 * that is not canonical is refused before anything is read. */
static void operators_are_kept_per_se(void **state)
{
    (void)state;
    idm_import_summary sum;
    char err[IDM_ERR_MAX];
    idm_import_opts o = OPTS;
    o.operators = "00000A,C00053";
    FILE *in = fopen(G.batch, "r");
    assert_non_null(in);
    assert_int_equal(idm_import_batch(&G.tok, G.db, in, &o, &sum, err), IDM_OK);
    char lines[COUNT][1024];
    read_batch(lines);
    idm_batch_line l;
    assert_int_equal(idm_batch_line_parse(lines[0], strlen(lines[0]), &l, err), IDM_OK);
    store_idm_se row;
    assert_int_equal(store_idm_se_get(G.db, l.dev_eui, &row), STORE_OK);
    assert_string_equal(row.operators, "00000A,C00053");
    rewind(in);
    o.operators = NULL; /* all: not what the batch was imported with */
    assert_int_equal(idm_import_batch(&G.tok, G.db, in, &o, &sum, err), IDM_ERR_CONFLICT);
    assert_non_null(strstr(err, "--operators"));
    rewind(in);
    o.operators = "00000a";
    assert_int_equal(idm_import_batch(&G.tok, G.db, in, &o, &sum, err), IDM_ERR_ARGUMENT);
    rewind(in);
    o.operators = "00000A,C00053";
    assert_int_equal(idm_import_batch(&G.tok, G.db, in, &o, &sum, err), IDM_OK);
    assert_int_equal(sum.already, COUNT);
    fclose(in);
}

static store_status append_one(store *s, void *ctx)
{
    (void)ctx;
    store_idm_audit_record r = {"test", "idm.claim", "70B3D57ED0010000", "{\"tenant\":\"acme\"}"};
    return store_idm_audit_append(s, &r, NULL);
}

static void audit_chain_verifies_and_finds_tampering(void **state)
{
    (void)state;
    idm_import_summary sum;
    char err[IDM_ERR_MAX];
    store_idm_audit_report rep;
    assert_int_equal(store_idm_audit_verify(G.db, &rep), STORE_OK);
    assert_true(rep.ok);
    assert_int_equal(rep.entries, 0);
    assert_int_equal(import_file(G.batch, &sum, err), IDM_OK);
    assert_int_equal(import_file(G.batch, &sum, err), IDM_OK);
    assert_int_equal(store_idm_txn(G.db, append_one, NULL), STORE_OK);
    assert_int_equal(store_idm_audit_verify(G.db, &rep), STORE_OK);
    assert_true(rep.ok);
    assert_int_equal(rep.entries, 3);
    uint8_t head[32];
    memcpy(head, rep.head_hash, 32);

    /* A changed record. */
    raw_sql("UPDATE idm_audit SET details = '{\"imported\":0}' WHERE seq = 2");
    assert_int_equal(store_idm_audit_verify(G.db, &rep), STORE_OK);
    assert_false(rep.ok);
    assert_int_equal(rep.first_bad_seq, 2);
    assert_int_equal(rep.entries, 1);
    assert_non_null(strstr(rep.reason, "hash"));

    /* A record rewritten with a matching hash breaks the next link. */
    assert_int_equal(teardown(state), 0);
    assert_int_equal(setup(state), 0);
    assert_int_equal(import_file(G.batch, &sum, err), IDM_OK);
    assert_int_equal(store_idm_txn(G.db, append_one, NULL), STORE_OK);
    assert_int_equal(store_idm_txn(G.db, append_one, NULL), STORE_OK);
    raw_sql("UPDATE idm_audit SET hash = prev_hash WHERE seq = 2");
    assert_int_equal(store_idm_audit_verify(G.db, &rep), STORE_OK);
    assert_false(rep.ok);
    assert_int_equal(rep.first_bad_seq, 2);

    /* A removed record: the gap is found. */
    assert_int_equal(teardown(state), 0);
    assert_int_equal(setup(state), 0);
    assert_int_equal(import_file(G.batch, &sum, err), IDM_OK);
    assert_int_equal(store_idm_txn(G.db, append_one, NULL), STORE_OK);
    assert_int_equal(store_idm_txn(G.db, append_one, NULL), STORE_OK);
    raw_sql("DELETE FROM idm_audit WHERE seq = 2");
    assert_int_equal(store_idm_audit_verify(G.db, &rep), STORE_OK);
    assert_false(rep.ok);
    assert_int_equal(rep.first_bad_seq, 3);
    assert_non_null(strstr(rep.reason, "gap"));
}

/* Every file of both deployments and the HSA output, searched for the one
 * clear key the test knows (the HSA-IDM KEK), as bytes and as hex. */
static int file_contains(const char *path, const uint8_t *needle, size_t n)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return 0;
    static uint8_t buf[1 << 20];
    size_t len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    for (size_t i = 0; i + n <= len; i++)
        if (memcmp(buf + i, needle, n) == 0)
            return 1;
    return 0;
}

static int tree_contains(const char *dir, const uint8_t *needle, size_t n, char *found, size_t cap)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return 0;
    struct dirent *de;
    int hit = 0;
    while (!hit && (de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        struct stat sb;
        if (lstat(path, &sb) != 0)
            continue;
        if (S_ISDIR(sb.st_mode))
            hit = tree_contains(path, needle, n, found, cap);
        else if (S_ISREG(sb.st_mode) && file_contains(path, needle, n)) {
            snprintf(found, cap, "%s", path);
            hit = 1;
        }
    }
    closedir(d);
    return hit;
}

static void no_clear_kek_in_any_file(void **state)
{
    (void)state;
    idm_import_summary sum;
    char err[IDM_ERR_MAX], found[1024];
    assert_int_equal(import_file(G.batch, &sum, err), IDM_OK);
    char hex_lo[33], hex_up[33];
    assert_int_equal(lw_hex_encode(G.kek, 16, hex_lo, sizeof hex_lo), LW_OK);
    for (int i = 0; i < 33; i++)
        hex_up[i] = (char)(hex_lo[i] >= 'a' && hex_lo[i] <= 'f' ? hex_lo[i] - 32 : hex_lo[i]);
    assert_false(tree_contains(G.root, G.kek, 16, found, sizeof found));
    assert_false(tree_contains(G.root, (const uint8_t *)hex_lo, 32, found, sizeof found));
    assert_false(tree_contains(G.root, (const uint8_t *)hex_up, 32, found, sizeof found));
    /* the search works: a planted copy is found */
    char plant[256];
    snprintf(plant, sizeof plant, "%s/hsa-out/planted", G.root);
    FILE *f = fopen(plant, "wb");
    assert_non_null(f);
    fwrite(G.kek, 1, 16, f);
    fclose(f);
    assert_true(tree_contains(G.root, G.kek, 16, found, sizeof found));
    assert_string_equal(found, plant);
    unlink(plant);
}

/* A generated batch (keys wrapped in software: test data), imported in one
 * transaction; prints the throughput. */
static void big_batch_streams(void **state)
{
    (void)state;
    const char *env = getenv("IDM_IMPORT_LINES");
    uint64_t n = env != NULL ? strtoull(env, NULL, 10) : 3000;
    char path[256], err[IDM_ERR_MAX];
    snprintf(path, sizeof path, "%s/big.jsonl", G.root);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    lw_key kek;
    memset(&kek, 0, sizeof kek);
    assert_int_equal(lw_key_from_bytes(&kek, G.kek, 16), LW_OK);
    const lw_crypto *sw = lw_crypto_software();
    idm_batch_line l;
    memset(&l, 0, sizeof l);
    l.join_eui = IDM_DEFAULT_JOIN_EUI;
    l.mac_version = STORE_MAC_1_1;
    snprintf(l.nwk_key.kek_label, sizeof l.nwk_key.kek_label, LABEL);
    snprintf(l.app_key.kek_label, sizeof l.app_key.kek_label, LABEL);
    snprintf(l.mls_key.kek_label, sizeof l.mls_key.kek_label, LABEL);
    uint8_t raw[16 * 3 + IDM_OWNER_TOKEN_LEN];
    char line[1024];
    for (uint64_t i = 0; i < n; i++) {
        l.dev_eui = 0x70B3D57ED1000000ull + i;
        l.serial = 0x1000000 + i;
        assert_int_equal(getrandom(raw, sizeof raw, 0), (ssize_t)sizeof raw);
        idm_batch_key *keys[3] = {&l.nwk_key, &l.app_key, &l.mls_key};
        for (int k = 0; k < 3; k++) {
            lw_key key;
            assert_int_equal(lw_key_from_bytes(&key, raw + 16 * k, 16), LW_OK);
            assert_int_equal(lw_key_wrap(sw, &kek, &key, keys[k]->wrapped, HSM_BLOB_LEN), LW_OK);
            lw_key_wipe(&key);
        }
        memcpy(l.owner_token, raw + 48, IDM_OWNER_TOKEN_LEN);
        size_t len;
        assert_int_equal(idm_batch_line_format(&l, line, sizeof line, &len), IDM_OK);
        assert_int_equal(fwrite(line, 1, len, f), len);
    }
    fclose(f);
    lw_key_wipe(&kek);
    G.tok.recycle_every = 1000; /* exercise the reopen path in make check */
    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    idm_import_summary sum;
    idm_status st = import_file(path, &sum, err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    getrusage(RUSAGE_SELF, &ru1);
    G.tok.recycle_every = 0;
    if (st != IDM_OK)
        fail_msg("import: %s", err);
    assert_int_equal(sum.imported, n);
    assert_int_equal(se_count(), n);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    fprintf(stderr, "# big_batch_streams: %llu SEs in %.2f s = %.0f SEs/s; max RSS %ld -> %ld KiB\n",
            (unsigned long long)n, secs, (double)n / secs, ru0.ru_maxrss, ru1.ru_maxrss);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(batch_holds_only_wrapped_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(images_boot_and_their_join_mic_verifies_in_the_idm_token, setup, teardown),
        cmocka_unit_test_setup_teardown(reimport_is_idempotent, setup, teardown),
        cmocka_unit_test_setup_teardown(a_bad_line_imports_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(a_contradicting_reimport_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(operators_are_kept_per_se, setup, teardown),
        cmocka_unit_test_setup_teardown(audit_chain_verifies_and_finds_tampering, setup, teardown),
        cmocka_unit_test_setup_teardown(no_clear_kek_in_any_file, setup, teardown),
        cmocka_unit_test_setup_teardown(big_batch_streams, setup, teardown),
    };
    return cmocka_run_group_tests_name("idm_import", tests, group_setup, group_teardown);
}

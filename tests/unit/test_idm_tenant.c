/*
 * test_idm_tenant.c - tenants, customer Join Servers, claims and the IDM's
 * server end of MLS in the token.
 *
 *   - schema 3 rows round-trip (tenants, Join Servers, claims, OTA state,
 *     the command queue);
 *   - the claim rules: wrong owner token counted and locking at 5, another
 *     tenant refused without counting, release/refuse/lock/unlock, assign
 *     only by the holder;
 *   - lifecycle changes through idm_se_event, each with its audit entry;
 *   - a customer JS's admin token is kept encrypted and reads back;
 *   - idm_mls_open (WrapDown derived as a KEK, hsm_key_derive): a command
 *     sealed in the token with a token key wrapped for the SE is opened by
 *     the SE's side of MLS in software, the unwrapped key equals the token's
 *     (same AES output), and the SE's answer opens in the token;
 *   - a profile is one INSTALL with "activate now", acknowledged by its
 *     OK response (refused: given up); a delivery queued as INSTALL +
 *     ACTIVATE before that still completes on ACTIVATE's answer;
 *   - schema 4: profile key slots, deletions owed to customer JSs, the
 *     key-age query, secure command replies; an abandoned transfer or
 *     renewal undone in its transaction; operations refused by state and
 *     caller, and queued with fresh MLS counters.
 * SQLite, or PostgreSQL with FERRY_TEST_PG=<conninfo> (the public schema is
 * dropped before each test; tests/integration/store_pg.sh runs it so). The
 * token is a fresh SoftHSM2 deployment.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <libpq-fe.h>
#include <mbedtls/sha256.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "idm/idm_ota.h"
#include "idm/idm_tenant.h"
#include "lorawan/lorawan.h"
#include "mls/mls_cmd.h"
#include "mls/mls_frag.h"
#include "store/store_idm_lease.h"

#define DEV 0x70B3D57ED0050000ull

typedef struct group {
    char root[64];
    hsm_dir_config dc;
    hsm *h;
    hsm_session *s;
    uint8_t mls_root[16];      /* the SE's MLS root: the test plays the SE */
    uint8_t mls_blob[HSM_BLOB_MAX];
    size_t mls_blob_len;
    int seq;
    store *db;
} group;

static group G;

static int group_setup(void **state)
{
    (void)state;
    memset(&G, 0, sizeof G);
    snprintf(G.root, sizeof G.root, "/tmp/ferry-idmt-XXXXXX");
    if (mkdtemp(G.root) == NULL)
        return -1;
    char dir[128];
    snprintf(dir, sizeof dir, "%s/idm", G.root);
    hsm_diag diag = {0};
    if (hsm_token_create(dir, "ferry", NULL, &diag) != HSM_OK || hsm_config_for_dir(dir, "ferry", &G.dc) != HSM_OK ||
        hsm_open(&G.dc.cfg, &G.h, &diag) != HSM_OK || hsm_session_open(G.h, &G.s) != HSM_OK)
        return -1;
    for (int i = 0; i < 16; i++)
        G.mls_root[i] = (uint8_t)(0xA0 + i);
    uint8_t copy[16];
    memcpy(copy, G.mls_root, 16);
    return hsm_import_clear(G.s, copy, 16, G.mls_blob, sizeof G.mls_blob, &G.mls_blob_len) == HSM_OK ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    hsm_session_close(G.s);
    hsm_close(G.h);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", G.root);
    return system(cmd) == 0 ? 0 : -1;
}

static const uint8_t OWNER[IDM_OWNER_TOKEN_LEN] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
static const char OWNER_HEX[] = "0102030405060708090A0B0C0D0E0F10";

static int pg_reset(const char *pg)
{
    PGconn *c = PQconnectdb(strncmp(pg, "pg:", 3) == 0 ? pg + 3 : pg);
    int rc = PQstatus(c) == CONNECTION_OK ? 0 : -1;
    if (rc == 0) {
        PGresult *r = PQexec(c, "SET client_min_messages = warning; DROP SCHEMA public CASCADE; CREATE SCHEMA public");
        rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : -1;
        PQclear(r);
    }
    PQfinish(c);
    return rc;
}

static int setup(void **state)
{
    (void)state;
    char loc[512];
    const char *pg = getenv("FERRY_TEST_PG");
    if (pg != NULL && pg_reset(pg) != 0)
        return -1;
    snprintf(loc, sizeof loc, "sqlite:%s/t%d.db", G.root, ++G.seq);
    if (store_open(pg != NULL ? pg : loc, &G.db) != STORE_OK)
        return -1;
    for (int i = 0; i < 2; i++) {
        store_idm_se se;
        memset(&se, 0, sizeof se);
        se.dev_eui = DEV + (uint64_t)i;
        se.join_eui = 0x70B3D57ED0000000ull;
        se.serial = 1 + (uint64_t)i;
        se.mac_version = STORE_MAC_1_0_4;
        memcpy(se.mls_key.data, G.mls_blob, G.mls_blob_len);
        se.mls_key.len = G.mls_blob_len;
        (void)mbedtls_sha256_ret(OWNER, sizeof OWNER, se.owner_token_hash, 0);
        se.state = IDM_STATE_MANUFACTURED;
        if (store_idm_se_put(G.db, &se) != STORE_OK)
            return -1;
    }
    char tok[IDM_TENANT_TOKEN_HEX + 1], err[IDM_ERR_MAX];
    if (idm_tenant_add(G.db, "acme", "customer", "Acme", "test", tok, err) != IDM_OK ||
        idm_tenant_add(G.db, "bolt", "customer", "Bolt", "test", tok, err) != IDM_OK ||
        idm_tenant_add(G.db, "cleo", "customer", "Cleo", "test", tok, err) != IDM_OK ||
        idm_tenant_add(G.db, "mk", "maker", "Mk", "test", tok, err) != IDM_OK)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    store_close(G.db);
    G.db = NULL;
    return 0;
}

static void tenants_and_tokens(void **state)
{
    (void)state;
    char tok[IDM_TENANT_TOKEN_HEX + 1], err[IDM_ERR_MAX];
    assert_int_equal(idm_tenant_add(G.db, "maker", "maker", "Maker", "test", tok, err), IDM_OK);
    assert_int_equal(strlen(tok), IDM_TENANT_TOKEN_HEX);
    store_idm_tenant t;
    assert_int_equal(idm_tenant_authenticate(G.db, tok, &t), IDM_OK);
    assert_string_equal(t.id, "maker");
    assert_int_equal(t.kind, STORE_IDM_TENANT_MAKER);
    tok[0] = tok[0] == 'A' ? 'B' : 'A';
    assert_int_equal(idm_tenant_authenticate(G.db, tok, &t), IDM_ERR_AUTH);
    assert_int_equal(idm_tenant_add(G.db, "maker", "maker", "again", "test", tok, err), IDM_ERR_EXISTS);
    assert_int_equal(idm_tenant_add(G.db, "bad id", "maker", "x", "test", tok, err), IDM_ERR_ARGUMENT);
    assert_int_equal(idm_tenant_add(G.db, "x", "reseller", "x", "test", tok, err), IDM_ERR_ARGUMENT);
    store_idm_tenant list[8];
    size_t n = 0;
    assert_int_equal(store_idm_tenant_list(G.db, NULL, list, 8, &n), STORE_OK);
    assert_int_equal(n, 5); /* acme, bolt, cleo, maker, mk */
    assert_string_equal(list[0].id, "acme");
    assert_string_equal(list[3].id, "maker");
}

/* idm_claim_many: one transaction, each item the answer idm_claim gives it
 * alone, in order (a second claim of the same SE in the batch sees the
 * first), wrong tokens counted. */
static void claim_many_as_one_by_one(void **state)
{
    (void)state;
    idm_claim_item it[5];
    memset(it, 0, sizeof it);
    it[0] = (idm_claim_item){.dev_eui = DEV, .owner_token = OWNER_HEX};
    it[1] = (idm_claim_item){.dev_eui = DEV + 1, .owner_token = "00000000000000000000000000000000"};
    it[2] = (idm_claim_item){.dev_eui = 0x1234, .owner_token = "00000000000000000000000000000000"};
    it[3] = (idm_claim_item){.dev_eui = DEV + 2, .owner_token = "not-a-token"};
    it[4] = (idm_claim_item){.dev_eui = DEV, .owner_token = OWNER_HEX};
    assert_int_equal(idm_claim_many(G.db, "acme", "t", it, 5), IDM_OK);
    assert_int_equal(it[0].result, IDM_OK);
    assert_false(it[0].already);
    assert_int_equal(it[1].result, IDM_ERR_AUTH);
    assert_int_equal(it[2].result, IDM_ERR_AUTH);
    assert_string_equal(it[1].err, it[2].err); /* unknown or wrong: one answer */
    assert_int_equal(it[3].result, IDM_ERR_ARGUMENT);
    assert_int_equal(it[4].result, IDM_OK);
    assert_true(it[4].already);
    uint32_t fails = 0;
    assert_int_equal(store_idm_claim_failures_get(G.db, DEV + 1, "acme", &fails), STORE_OK);
    assert_int_equal(fails, 1);
    store_idm_claim c;
    assert_int_equal(store_idm_claim_get(G.db, DEV, &c), STORE_OK);
    assert_int_equal(c.state, STORE_IDM_CLAIM_CLAIMED);
    assert_string_equal(c.tenant_id, "acme");
    /* a customer tenant only, as alone */
    idm_claim_item m = {.dev_eui = DEV + 2, .owner_token = OWNER_HEX};
    assert_int_equal(idm_claim_many(G.db, "mk", "t", &m, 1), IDM_OK);
    assert_int_equal(m.result, IDM_ERR_FORBIDDEN);
    assert_int_equal(idm_claim_many(G.db, "acme", "t", it, 0), IDM_ERR_ARGUMENT);
    assert_int_equal(idm_claim_many(G.db, "acme", "t", it, IDM_CLAIM_BATCH_MAX + 1), IDM_ERR_ARGUMENT);
}

static void claim_rules(void **state)
{
    (void)state;
    char err[IDM_ERR_MAX], first[IDM_ERR_MAX];
    bool already = true;
    for (unsigned i = 1; i < IDM_CLAIM_MAX_FAILURES; i++)
        assert_int_equal(idm_claim(G.db, DEV, "acme", "00000000000000000000000000000000", "t", NULL, err), IDM_ERR_AUTH);
    assert_int_equal(idm_claim(G.db, DEV, "acme", OWNER_HEX, "t", &already, err), IDM_OK);
    assert_false(already);
    assert_int_equal(idm_claim(G.db, DEV, "acme", OWNER_HEX, "t", &already, err), IDM_OK);
    assert_true(already);
    /* one answer without the right token, whatever the SE: held by another
     * (here), free, locked, unknown (finding 9) */
    assert_int_equal(idm_claim(G.db, DEV, "bolt", "11111111111111111111111111111111", "t", NULL, first), IDM_ERR_AUTH);
    assert_int_equal(idm_claim(G.db, 0x1234, "bolt", "11111111111111111111111111111111", "t", NULL, err), IDM_ERR_AUTH);
    assert_string_equal(err, first);
    assert_int_equal(idm_claim(G.db, DEV + 2, "bolt", "11111111111111111111111111111111", "t", NULL, err), IDM_ERR_AUTH);
    assert_string_equal(err, first);
    /* a malformed token is refused on its form: not counted (finding 4) */
    for (unsigned i = 0; i < 2 * IDM_CLAIM_MAX_FAILURES; i++)
        assert_int_equal(idm_claim(G.db, DEV + 1, "bolt", "not-a-token", "t", NULL, err), IDM_ERR_ARGUMENT);
    uint32_t fails = 99;
    assert_int_equal(store_idm_claim_failures_get(G.db, DEV + 1, "bolt", &fails), STORE_OK);
    assert_int_equal(fails, 0);
    /* bolt's wrong tokens lock out bolt only, and acme keeps the SE */
    for (unsigned i = 0; i < 2 * IDM_CLAIM_MAX_FAILURES; i++)
        assert_int_equal(idm_claim(G.db, DEV, "bolt", "11111111111111111111111111111111", "t", NULL, err), IDM_ERR_AUTH);
    assert_int_equal(idm_claim(G.db, DEV, "bolt", OWNER_HEX, "t", NULL, err), IDM_ERR_AUTH);
    assert_string_equal(err, first);
    store_idm_claim c;
    assert_int_equal(store_idm_claim_get(G.db, DEV, &c), STORE_OK);
    assert_int_equal(c.state, STORE_IDM_CLAIM_CLAIMED);
    assert_string_equal(c.tenant_id, "acme");
    /* release only by the holder, and it leaves no holder behind (finding 3) */
    assert_int_equal(idm_claim_change(G.db, DEV, IDM_CLAIM_RELEASE, "bolt", "t", err), IDM_ERR_NOT_FOUND);
    assert_int_equal(idm_claim_change(G.db, DEV, IDM_CLAIM_RELEASE, "acme", "t", err), IDM_OK);
    assert_int_equal(store_idm_claim_get(G.db, DEV, &c), STORE_OK);
    assert_int_equal(c.state, STORE_IDM_CLAIM_RELEASED);
    assert_string_equal(c.tenant_id, "");
    /* bolt locked itself out of DEV: even the right token is refused, with
     * the same answer, until the operator's unlock forgives it */
    assert_int_equal(idm_claim(G.db, DEV, "bolt", OWNER_HEX, "t", NULL, err), IDM_ERR_AUTH);
    assert_int_equal(idm_claim(G.db, DEV, "cleo", OWNER_HEX, "t", NULL, err), IDM_OK);
    assert_int_equal(idm_claim_change(G.db, DEV, IDM_CLAIM_REFUSE, NULL, "t", err), IDM_OK);
    assert_int_equal(store_idm_claim_get(G.db, DEV, &c), STORE_OK);
    assert_int_equal(c.state, STORE_IDM_CLAIM_REFUSED);
    assert_string_equal(c.tenant_id, "");
    /* the operator's lock, then unlock: no former holder comes back, and
     * the buyer with the right token claims it (finding 3) */
    assert_int_equal(idm_claim_change(G.db, DEV, IDM_CLAIM_LOCK, NULL, "t", err), IDM_OK);
    assert_int_equal(idm_claim(G.db, DEV, "acme", OWNER_HEX, "t", NULL, err), IDM_ERR_LOCKED);
    assert_int_equal(idm_claim_change(G.db, DEV, IDM_CLAIM_UNLOCK, NULL, "t", err), IDM_OK);
    assert_int_equal(store_idm_claim_get(G.db, DEV, &c), STORE_OK);
    assert_int_equal(c.state, STORE_IDM_CLAIM_RELEASED);
    assert_string_equal(c.tenant_id, "");
    assert_int_equal(idm_claim(G.db, DEV, "bolt", OWNER_HEX, "t", NULL, err), IDM_OK);
    /* a maker claims nothing, decided before the SE is looked at */
    assert_int_equal(idm_claim(G.db, 0x1234, "mk", OWNER_HEX, "t", NULL, err), IDM_ERR_FORBIDDEN);
    store_idm_audit_report rep;
    assert_int_equal(store_idm_audit_verify(G.db, &rep), STORE_OK);
    assert_true(rep.ok);
}

/* The KEK acme-kek in the token and the database, and acme's Join Server
 * acme-js under it (at 127.0.0.1:1, where nothing answers). */
static void add_acme_js(void)
{
    char err[IDM_ERR_MAX];
    store_kek k;
    memset(&k, 0, sizeof k);
    snprintf(k.label, sizeof k.label, "acme-kek");
    lw_key kek;
    size_t bl = 0;
    assert_int_equal(hsm_key_generate(G.s, HSM_KEY_KEK, &kek), HSM_OK);
    assert_int_equal(hsm_key_wrap_blob(G.s, &kek, k.key.data, sizeof k.key.data, &bl), HSM_OK);
    hsm_key_release(G.s, &kek);
    k.key.len = bl;
    assert_int_equal(store_kek_put(G.db, &k), STORE_OK);
    char token[] = "5EC2E7ADM1NT0KEN5EC2E7ADM1NT0KEN5EC2E7ADM1NT0KEN\n";
    idm_js_opts o = {"acme-js", "acme", "http://127.0.0.1:1", token, 0x70B3D57ED00A0000ull, 0x13, "acme-kek", "ns", NULL, "t", NULL, NULL};
    assert_int_equal(idm_js_add(G.s, G.db, &o, err), IDM_OK);
    for (size_t i = 0; i < sizeof token - 1; i++)
        assert_int_equal(token[i], 0); /* wiped */
}

static void js_and_assign(void **state)
{
    (void)state;
    char err[IDM_ERR_MAX];
    add_acme_js();
    char token2[] = "x";
    idm_js_opts bad = {"bolt-js", "bolt", "http://127.0.0.1:2", token2, 1, 1, "no-kek", NULL, NULL, "t", NULL, NULL};
    assert_int_equal(idm_js_add(G.s, G.db, &bad, err), IDM_ERR_KEK);
    /* the admin token never travels in clear off loopback */
    char token3[] = "y";
    idm_js_opts far = {"bolt-js", "bolt", "http://x", token3, 1, 1, "acme-kek", NULL, NULL, "t", NULL, NULL};
    assert_int_equal(idm_js_add(G.s, G.db, &far, err), IDM_ERR_ARGUMENT);
    char token4[] = "z";
    idm_js_opts odd = {"bolt-js", "bolt", "https://js.example", token4, 1, 1, "acme-kek", "a b", NULL, "t", NULL, NULL};
    assert_int_equal(idm_js_add(G.s, G.db, &odd, err), IDM_ERR_ARGUMENT);
    /* a host that only begins like loopback is not loopback */
    char token5[] = "w";
    idm_js_opts sly = {"bolt-js", "bolt", "http://127.0.0.1.evil.example:80/", token5, 1, 1, "acme-kek", NULL, NULL,
                       "t", NULL, NULL};
    assert_int_equal(idm_js_add(G.s, G.db, &sly, err), IDM_ERR_ARGUMENT);
    assert_non_null(strstr(err, "https://"));
    /* a private CA: refused when it is not PEM certificates, kept when it is */
    char token6[] = "v";
    idm_js_opts junk = {"bolt-js", "bolt", "https://js.bolt.example", token6, 1, 1, "acme-kek", NULL, NULL, "t", NULL,
                        "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"};
    assert_int_equal(idm_js_add(G.s, G.db, &junk, err), IDM_ERR_ARGUMENT);
    assert_non_null(strstr(err, "--ca-file"));
    assert_int_equal(store_idm_js_get(G.db, "bolt-js", &(store_idm_js){0}), STORE_ERR_NOT_FOUND);
    static const char ca[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBiDCCAS2gAwIBAgIUPsWzkzkwOjxZqUjNsCC/7IvMgLYwCgYIKoZIzj0EAwIw\n"
    "GDEWMBQGA1UEAwwNZmVycnkgdGVzdCBDQTAgFw0yNjEyMDMwNzQ0MjVaGA8yMTI2\n"
    "MTEwOTA3NDQyNVowGDEWMBQGA1UEAwwNZmVycnkgdGVzdCBDQTBZMBMGByqGSM49\n"
    "AgEGCCqGSM49AwEHA0IABIItXywubkLC51B0UPg6vsNmyQqjaD5njseJ/ed7FnDS\n"
    "bakqlrK50iIkYRneTumWbmIFLmM9Pn3UFSKGsg6npNijUzBRMB0GA1UdDgQWBBSA\n"
    "fENkOd5aD5LnNXAtr065RqUcWDAfBgNVHSMEGDAWgBSAfENkOd5aD5LnNXAtr065\n"
    "RqUcWDAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0kAMEYCIQChFpcmLSit\n"
    "hfcsYqz6O0J53r27eB0XBGMMI0DVRPLVQgIhAOhOj3awhGabTrC1R0Avl+vWnT9y\n"
    "JJ5opBnGtODSuBe3\n"
    "-----END CERTIFICATE-----\n"
    ;
    char token7[] = "u";
    idm_js_opts priv = {"bolt-js", "bolt", "https://js.bolt.example", token7, 1, 1, "acme-kek", NULL, NULL, "t", NULL, ca};
    assert_int_equal(idm_js_add(G.s, G.db, &priv, err), IDM_OK);
    char got[STORE_IDM_CA_MAX];
    size_t got_len = 0;
    assert_int_equal(store_idm_js_ca_get(G.db, "bolt-js", got, sizeof got, &got_len), STORE_OK);
    assert_int_equal(got_len, strlen(ca));
    assert_string_equal(got, ca);
    assert_int_equal(store_idm_js_ca_get(G.db, "acme-js", got, sizeof got, &got_len), STORE_OK);
    assert_int_equal(got_len, 0); /* none: the system's CAs */
    assert_int_equal(store_idm_js_ca_get(G.db, "no-such-js", got, sizeof got, &got_len), STORE_ERR_NOT_FOUND);
    store_idm_js j;
    assert_int_equal(store_idm_js_get(G.db, "acme-js", &j), STORE_OK);
    assert_null(memmem(j.token_ct, j.token_ct_len, "5EC2E7ADM1N", 11)); /* not in clear */
    char back[STORE_IDM_TOKEN_CT_MAX + 1];
    assert_int_equal(idm_js_token(G.s, &j, back, sizeof back), IDM_OK);
    assert_string_equal(back, "5EC2E7ADM1NT0KEN5EC2E7ADM1NT0KEN5EC2E7ADM1NT0KEN");
    assert_string_equal(j.ns_kek_label, "ns");
    /* assign: only by the holder, to its own JS */
    assert_int_equal(idm_assign(G.db, DEV, NULL, NULL, "t", err), IDM_ERR_NOT_FOUND);
    assert_int_equal(idm_claim(G.db, DEV, "acme", OWNER_HEX, "t", NULL, err), IDM_OK);
    assert_int_equal(idm_assign(G.db, DEV, "bolt", NULL, "t", err), IDM_ERR_NOT_FOUND);
    assert_int_equal(idm_assign(G.db, DEV, "acme", "other", "t", err), IDM_ERR_NOT_FOUND);
    assert_int_equal(idm_assign(G.db, DEV, "acme", NULL, "t", err), IDM_OK);
    store_idm_claim c;
    assert_int_equal(store_idm_claim_get(G.db, DEV, &c), STORE_OK);
    assert_string_equal(c.js_id, "acme-js");
    assert_int_equal(c.provisioned_at, 0);
    /* not bootstrapped: nothing to provision yet */
    uint64_t list[4];
    size_t n = 9;
    assert_int_equal(store_idm_work_list(G.db, STORE_IDM_WORK_PROVISION, NULL, list, 4, &n), STORE_OK);
    assert_int_equal(n, 0);
    idm_policy pol = IDM_POLICY_DEFAULT;
    assert_int_equal(idm_provision(G.s, G.db, DEV, &pol, "t", err), IDM_ERR_ILLEGAL);
    assert_int_equal(idm_se_event(G.db, DEV, IDM_EV_BOOTSTRAP_JOIN, "t", NULL, NULL, err), IDM_OK);
    assert_int_equal(store_idm_work_list(G.db, STORE_IDM_WORK_PROVISION, NULL, list, 4, &n), STORE_OK);
    assert_int_equal(n, 1);
    assert_true(list[0] == DEV);
    /* the customer JS at 127.0.0.1:1 does not answer: nothing queued, nothing changed */
    assert_int_equal(idm_provision(G.s, G.db, DEV, &pol, "t", err), IDM_ERR_REMOTE);
    uint64_t cmds = 9;
    for (int cs = 0; cs < STORE_IDM_CMD_STATE_COUNT; cs++) {
        assert_int_equal(store_idm_cmd_count(G.db, DEV, (store_idm_cmd_state)cs, &cmds), STORE_OK);
        assert_int_equal(cmds, 0);
    }
    store_idm_se se;
    assert_int_equal(store_idm_se_get(G.db, DEV, &se), STORE_OK);
    assert_int_equal(se.state, IDM_STATE_BOOTSTRAPPED);
    assert_int_equal(store_idm_claim_get(G.db, DEV, &c), STORE_OK);
    assert_int_equal(c.provisioned_at, 0); /* the reservation was given back */
    /* another provisioner's fresh reservation: this one stands back */
    c.provisioned_at = -(int64_t)time(NULL);
    assert_int_equal(store_idm_claim_put(G.db, &c), STORE_OK);
    assert_int_equal(idm_provision(G.s, G.db, DEV, &pol, "t", err), IDM_ERR_BUSY);
    /* a stale one (a crashed provisioner) is taken over: it fails here only
     * because the customer JS does not answer */
    c.provisioned_at = -((int64_t)time(NULL) - 3600);
    assert_int_equal(store_idm_claim_put(G.db, &c), STORE_OK);
    assert_int_equal(idm_provision(G.s, G.db, DEV, &pol, "t", err), IDM_ERR_REMOTE);
}

static void lifecycle_events(void **state)
{
    (void)state;
    char err[IDM_ERR_MAX];
    idm_state to;
    assert_int_equal(idm_se_event(G.db, DEV, IDM_EV_PROFILE_ACKED, "t", NULL, &to, err), IDM_ERR_ILLEGAL);
    /* Details are built by jansson: quotes, backslashes, control bytes and
     * a value longer than any fixed buffer the details once had stay one
     * valid JSON object, whole. */
    char hostile[1200];
    memset(hostile, 'x', sizeof hostile - 1);
    hostile[sizeof hostile - 1] = '\0';
    memcpy(hostile, "\"},\"to\":\"retired\\\n", 17);
    json_t *det = json_pack("{s:s}", "via", hostile);
    assert_non_null(det);
    char *text = idm_audit_text(det);
    assert_non_null(text);
    json_t *back = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
    assert_non_null(back);
    assert_true(json_equal(back, det));
    json_decref(back);
    idm_json_free(text);
    assert_int_equal(idm_se_event(G.db, DEV, IDM_EV_BOOTSTRAP_JOIN, "t", det, &to, err), IDM_OK);
    json_decref(det);
    if (getenv("FERRY_TEST_PG") == NULL) {
        char path[128];
        snprintf(path, sizeof path, "%s/t%d.db", G.root, G.seq);
        sqlite3 *db = NULL;
        sqlite3_stmt *st = NULL;
        assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(db, "SELECT details FROM idm_audit ORDER BY seq DESC LIMIT 1", -1, &st, NULL),
                         SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        json_t *row = json_loads((const char *)sqlite3_column_text(st, 0), JSON_REJECT_DUPLICATES, NULL);
        assert_non_null(row);
        assert_string_equal(json_string_value(json_object_get(row, "to")), "bootstrapped");
        assert_string_equal(json_string_value(json_object_get(row, "via")), hostile);
        json_decref(row);
        sqlite3_finalize(st);
        sqlite3_close(db);
    }
    assert_int_equal(to, IDM_STATE_BOOTSTRAPPED);
    assert_int_equal(idm_se_event(G.db, DEV, IDM_EV_RETIRE, "t", NULL, &to, err), IDM_OK);
    assert_int_equal(idm_se_event(G.db, DEV, IDM_EV_BOOTSTRAP_JOIN, "t", NULL, &to, err), IDM_ERR_ILLEGAL);
    store_idm_audit_report rep;
    assert_int_equal(store_idm_audit_verify(G.db, &rep), STORE_OK);
    assert_true(rep.ok);
    assert_int_equal(rep.entries, 6); /* four tenants, two transitions */
}

static void ota_rows(void **state)
{
    (void)state;
    store_idm_ota o;
    assert_int_equal(store_idm_ota_get(G.db, DEV, &o), STORE_ERR_NOT_FOUND);
    assert_int_equal(o.tx_next, 1);
    assert_true(o.last_fcnt_up == -1);
    assert_false(o.exists);
    store_idm_ota a = o;
    a.tx_next = 7, a.rx_last = 3, a.next_msg_id = 127, a.next_profile_id = 9, a.last_fcnt_up = 42;
    assert_int_equal(store_idm_ota_cas(G.db, &o, &a), STORE_OK);
    assert_int_equal(store_idm_ota_cas(G.db, &o, &a), STORE_ERR_ABORTED); /* inserted already */
    store_idm_ota b;
    assert_int_equal(store_idm_ota_get(G.db, DEV, &b), STORE_OK);
    assert_true(b.exists);
    store_idm_ota c8 = b;
    c8.tx_next = 8;
    assert_int_equal(store_idm_ota_cas(G.db, &b, &c8), STORE_OK);
    /* a writer holding the old row cannot move the counter back */
    a.exists = true;
    store_idm_ota stale = a;
    stale.rx_last = 4;
    assert_int_equal(store_idm_ota_cas(G.db, &a, &stale), STORE_ERR_ABORTED);
    assert_int_equal(store_idm_ota_get(G.db, DEV, &b), STORE_OK);
    assert_int_equal(b.tx_next, 8);
    assert_int_equal(b.rx_last, 3);
    assert_int_equal(b.next_msg_id, 127);
    assert_true(b.last_fcnt_up == 42);
    store_idm_cmd *c = calloc(1, sizeof *c);
    assert_non_null(c);
    c->dev_eui = DEV, c->type = MLS_T_INSTALL, c->counter = 7, c->msg_len = 30, c->deadline = 100;
    memset(c->msg, 0x5A, 30);
    assert_int_equal(store_idm_cmd_add(G.db, c), STORE_OK);
    assert_int_equal(c->seq, 1);
    c->type = MLS_T_ACTIVATE, c->counter = 8;
    assert_int_equal(store_idm_cmd_add(G.db, c), STORE_OK);
    assert_int_equal(c->seq, 2);
    assert_int_equal(store_idm_cmd_current(G.db, DEV, c), STORE_OK);
    assert_int_equal(c->seq, 1);
    assert_int_equal(c->state, STORE_IDM_CMD_QUEUED);
    c->state = STORE_IDM_CMD_DONE;
    c->acked[0] = 0x3;
    assert_int_equal(store_idm_cmd_update(G.db, c), STORE_OK);
    assert_int_equal(store_idm_cmd_current(G.db, DEV, c), STORE_OK);
    assert_int_equal(c->seq, 2);
    uint64_t list[4];
    size_t n = 0;
    assert_int_equal(store_idm_cmd_expired(G.db, 101, NULL, list, 4, &n), STORE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(store_idm_cmd_fail_all(G.db, DEV), STORE_OK);
    assert_int_equal(store_idm_cmd_current(G.db, DEV, c), STORE_ERR_NOT_FOUND);
    free(c);
}

/* A delivery past its deadline fails in housekeeping, back to bootstrapped. */
static void deadline_fails(void **state)
{
    (void)state;
    char err[IDM_ERR_MAX];
    assert_int_equal(idm_se_event(G.db, DEV, IDM_EV_BOOTSTRAP_JOIN, "t", NULL, NULL, err), IDM_OK);
    assert_int_equal(idm_se_event(G.db, DEV, IDM_EV_PROFILE_QUEUED, "t", NULL, NULL, err), IDM_OK);
    store_idm_cmd *c = calloc(1, sizeof *c);
    assert_non_null(c);
    c->dev_eui = DEV, c->type = MLS_T_INSTALL, c->counter = 1, c->msg_len = 20, c->deadline = 1;
    assert_int_equal(store_idm_cmd_add(G.db, c), STORE_OK);
    free(c);
    idm_policy pol = IDM_POLICY_DEFAULT;
    idm_ota *e = NULL;
    assert_int_equal(idm_ota_new(G.s, G.db, &pol, &e), IDM_OK);
    assert_int_equal(idm_ota_tick(e, err), IDM_OK);
    idm_ota_free(e);
    store_idm_se se;
    assert_int_equal(store_idm_se_get(G.db, DEV, &se), STORE_OK);
    assert_int_equal(se.state, IDM_STATE_BOOTSTRAPPED);
    uint64_t n = 0;
    assert_int_equal(store_idm_cmd_count(G.db, DEV, STORE_IDM_CMD_FAILED, &n), STORE_OK);
    assert_int_equal(n, 1);
}

/* Schema 4 rows: profile key slots, JS deletions owed, the key-age query,
 * a command's reply. */
static void profile_keys_and_cleanups(void **state)
{
    (void)state;
    store_idm_profile_key k, back;
    memset(&k, 0, sizeof k);
    k.dev_eui = DEV;
    k.slot = STORE_IDM_SLOT_CURRENT;
    snprintf(k.js_id, sizeof k.js_id, "acme-js");
    k.profile_id = 3;
    k.nwk_key.len = 40;
    memset(k.nwk_key.data, 0x11, 40);
    k.join_nonce_base = 7;
    k.created_at = 1000;
    assert_int_equal(store_idm_key_put(G.db, &k), STORE_OK);
    assert_int_equal(store_idm_key_get(G.db, DEV, STORE_IDM_SLOT_CURRENT, &back), STORE_OK);
    assert_int_equal(back.profile_id, 3);
    assert_int_equal(back.join_nonce_base, 7);
    assert_int_equal(back.app_key.len, 0);
    assert_memory_equal(back.nwk_key.data, k.nwk_key.data, 40);
    assert_int_equal(store_idm_key_get(G.db, DEV, STORE_IDM_SLOT_PENDING, &back), STORE_ERR_NOT_FOUND);
    k.slot = STORE_IDM_SLOT_COUNT;
    assert_int_equal(store_idm_key_put(G.db, &k), STORE_ERR_ARGUMENT);
    k.slot = STORE_IDM_SLOT_PENDING;
    k.app_key.len = 40;
    k.acked = true;
    assert_int_equal(store_idm_key_put(G.db, &k), STORE_OK);
    assert_int_equal(store_idm_key_get(G.db, DEV, STORE_IDM_SLOT_PENDING, &back), STORE_OK);
    assert_true(back.acked);
    assert_int_equal(store_idm_key_delete(G.db, DEV, STORE_IDM_SLOT_PENDING), STORE_OK);
    assert_int_equal(store_idm_key_get(G.db, DEV, STORE_IDM_SLOT_PENDING, &back), STORE_ERR_NOT_FOUND);
    assert_int_equal(store_idm_key_get(G.db, DEV, STORE_IDM_SLOT_CURRENT, &back), STORE_OK);

    /* key age: only an SE active at its customer, claimed, nothing in flight */
    char err[IDM_ERR_MAX];
    uint64_t list[4];
    size_t n = 9;
    assert_int_equal(store_idm_key_age_list(G.db, 2000, NULL, list, 4, &n), STORE_OK);
    assert_int_equal(n, 0);
    store_idm_claim c;
    memset(&c, 0, sizeof c);
    c.dev_eui = DEV;
    snprintf(c.tenant_id, sizeof c.tenant_id, "acme");
    c.state = STORE_IDM_CLAIM_CLAIMED;
    c.provisioned_at = 5;
    assert_int_equal(store_idm_claim_put(G.db, &c), STORE_OK);
    assert_int_equal(idm_se_event(G.db, DEV, IDM_EV_BOOTSTRAP_JOIN, "t", NULL, NULL, err), IDM_OK);
    assert_int_equal(idm_se_event(G.db, DEV, IDM_EV_CUSTOMER_JOIN, "t", NULL, NULL, err), IDM_OK);
    assert_int_equal(store_idm_key_age_list(G.db, 2000, NULL, list, 4, &n), STORE_OK);
    assert_int_equal(n, 1);
    assert_true(list[0] == DEV);
    assert_int_equal(store_idm_key_age_list(G.db, 1000, NULL, list, 4, &n), STORE_OK);
    assert_int_equal(n, 0); /* not older than that */
    c.op = STORE_IDM_OP_RENEW;
    assert_int_equal(store_idm_claim_put(G.db, &c), STORE_OK);
    assert_int_equal(store_idm_key_age_list(G.db, 2000, NULL, list, 4, &n), STORE_OK);
    assert_int_equal(n, 0); /* an update is in flight */

    store_idm_cleanup cl[4];
    assert_int_equal(store_idm_cleanup_add(G.db, DEV, "acme-js", "transferred"), STORE_OK);
    assert_int_equal(store_idm_cleanup_add(G.db, DEV, "acme-js", "again"), STORE_OK); /* one per (SE, JS) */
    assert_int_equal(store_idm_cleanup_add(G.db, DEV + 1, "bolt-js", "retired"), STORE_OK);
    assert_int_equal(store_idm_cleanup_add(G.db, DEV, "bad id!", "x"), STORE_ERR_ARGUMENT);
    assert_int_equal(store_idm_cleanup_list(G.db, NULL, cl, 4, &n), STORE_OK);
    assert_int_equal(n, 2);
    assert_int_equal(store_idm_cleanup_done(G.db, DEV, "acme-js"), STORE_OK);
    assert_int_equal(store_idm_cleanup_list(G.db, NULL, cl, 4, &n), STORE_OK);
    assert_int_equal(n, 1);
    assert_string_equal(cl[0].js_id, "bolt-js");

    store_idm_cmd *cmd = calloc(1, sizeof *cmd);
    assert_non_null(cmd);
    cmd->dev_eui = DEV, cmd->type = MLS_T_SECURE, cmd->counter = 4, cmd->msg_len = 20, cmd->deadline = 99;
    snprintf(cmd->origin, sizeof cmd->origin, "tenant:acme");
    assert_int_equal(store_idm_cmd_add(G.db, cmd), STORE_OK);
    int64_t seq = cmd->seq;
    cmd->reply_len = 3;
    memcpy(cmd->reply, "\x0A\x0B\x0C", 3);
    cmd->state = STORE_IDM_CMD_DONE;
    cmd->result = 0;
    assert_int_equal(store_idm_cmd_update(G.db, cmd), STORE_OK);
    memset(cmd, 0, sizeof *cmd);
    assert_int_equal(store_idm_cmd_get(G.db, DEV, seq, cmd), STORE_OK);
    assert_int_equal(cmd->reply_len, 3);
    assert_memory_equal(cmd->reply, "\x0A\x0B\x0C", 3);
    assert_string_equal(cmd->origin, "tenant:acme");
    assert_int_equal(store_idm_cmd_get(G.db, DEV, seq + 1, cmd), STORE_ERR_NOT_FOUND);
    free(cmd);
}

static store_status undo_fn(store *s, void *ctx)
{
    return idm_ops_update_failed_txn(s, DEV, ctx);
}

/* An abandoned transfer puts the claim and the keys back and owes the new
 * JS a deletion; an abandoned renewal drops only the pending keys. */
static void update_failed_undoes(void **state)
{
    (void)state;
    for (int i = 0; i < 2; i++) {
        store_idm_js j;
        memset(&j, 0, sizeof j);
        snprintf(j.id, sizeof j.id, "%s", i == 0 ? "acme-js" : "bolt-js");
        snprintf(j.tenant_id, sizeof j.tenant_id, "%s", i == 0 ? "acme" : "bolt");
        snprintf(j.admin_url, sizeof j.admin_url, "http://127.0.0.1:1");
        snprintf(j.kek_label, sizeof j.kek_label, "k");
        j.token_key.len = 40;
        j.token_ct_len = 20;
        assert_int_equal(store_idm_js_put(G.db, &j), STORE_OK);
    }
    store_idm_claim c;
    memset(&c, 0, sizeof c);
    c.dev_eui = DEV;
    snprintf(c.tenant_id, sizeof c.tenant_id, "bolt");
    snprintf(c.js_id, sizeof c.js_id, "bolt-js");
    snprintf(c.prev_tenant_id, sizeof c.prev_tenant_id, "acme");
    snprintf(c.prev_js_id, sizeof c.prev_js_id, "acme-js");
    c.state = STORE_IDM_CLAIM_CLAIMED;
    c.op = STORE_IDM_OP_TRANSFER;
    c.provisioned_at = 50;
    assert_int_equal(store_idm_claim_put(G.db, &c), STORE_OK);
    store_idm_profile_key k;
    memset(&k, 0, sizeof k);
    k.dev_eui = DEV, k.profile_id = 2, k.nwk_key.len = 40, k.created_at = 10;
    k.slot = STORE_IDM_SLOT_CURRENT;
    snprintf(k.js_id, sizeof k.js_id, "bolt-js");
    assert_int_equal(store_idm_key_put(G.db, &k), STORE_OK);
    k.profile_id = 1;
    k.slot = STORE_IDM_SLOT_PREVIOUS;
    snprintf(k.js_id, sizeof k.js_id, "acme-js");
    assert_int_equal(store_idm_key_put(G.db, &k), STORE_OK);
    store_idm_op op = STORE_IDM_OP_COUNT;
    assert_int_equal(store_idm_txn(G.db, undo_fn, &op), STORE_OK);
    assert_int_equal(op, STORE_IDM_OP_TRANSFER);
    assert_int_equal(store_idm_claim_get(G.db, DEV, &c), STORE_OK);
    assert_string_equal(c.tenant_id, "acme");
    assert_string_equal(c.js_id, "acme-js");
    assert_string_equal(c.prev_tenant_id, "");
    assert_int_equal(c.op, STORE_IDM_OP_NONE);
    store_idm_profile_key back;
    assert_int_equal(store_idm_key_get(G.db, DEV, STORE_IDM_SLOT_CURRENT, &back), STORE_OK);
    assert_string_equal(back.js_id, "acme-js");
    assert_int_equal(back.profile_id, 1);
    assert_int_equal(store_idm_key_get(G.db, DEV, STORE_IDM_SLOT_PREVIOUS, &back), STORE_ERR_NOT_FOUND);
    store_idm_cleanup cl[2];
    size_t n = 0;
    assert_int_equal(store_idm_cleanup_list(G.db, NULL, cl, 2, &n), STORE_OK);
    assert_int_equal(n, 1);
    assert_string_equal(cl[0].js_id, "bolt-js");

    c.op = STORE_IDM_OP_RENEW;
    assert_int_equal(store_idm_claim_put(G.db, &c), STORE_OK);
    k.slot = STORE_IDM_SLOT_PENDING;
    assert_int_equal(store_idm_key_put(G.db, &k), STORE_OK);
    assert_int_equal(store_idm_txn(G.db, undo_fn, &op), STORE_OK);
    assert_int_equal(op, STORE_IDM_OP_RENEW);
    assert_int_equal(store_idm_key_get(G.db, DEV, STORE_IDM_SLOT_PENDING, &back), STORE_ERR_NOT_FOUND);
    assert_int_equal(store_idm_key_get(G.db, DEV, STORE_IDM_SLOT_CURRENT, &back), STORE_OK);
    assert_int_equal(store_idm_claim_get(G.db, DEV, &c), STORE_OK);
    assert_int_equal(c.op, STORE_IDM_OP_NONE);
    assert_int_equal(store_idm_txn(G.db, undo_fn, &op), STORE_OK); /* nothing in flight: nothing changes */
    assert_int_equal(op, STORE_IDM_OP_NONE);

    /* A transfer undone after the operator refused the claim: the claim
     * table has no hand-back from refused, so no holder comes back. */
    c.state = STORE_IDM_CLAIM_REFUSED;
    c.op = STORE_IDM_OP_TRANSFER;
    c.tenant_id[0] = c.js_id[0] = '\0';
    c.provisioned_at = 0; /* refused: before the new owner's JS was provisioned */
    snprintf(c.prev_tenant_id, sizeof c.prev_tenant_id, "acme");
    snprintf(c.prev_js_id, sizeof c.prev_js_id, "acme-js");
    assert_int_equal(store_idm_claim_put(G.db, &c), STORE_OK);
    assert_int_equal(store_idm_txn(G.db, undo_fn, &op), STORE_OK);
    assert_int_equal(op, STORE_IDM_OP_TRANSFER);
    assert_int_equal(store_idm_claim_get(G.db, DEV, &c), STORE_OK);
    assert_int_equal(c.state, STORE_IDM_CLAIM_REFUSED);
    assert_string_equal(c.tenant_id, "");
    assert_string_equal(c.prev_tenant_id, "");
    assert_int_equal(c.op, STORE_IDM_OP_NONE);
}

/* The operations refuse what the state or the caller does not allow, and
 * queue sealed commands with fresh counters when they may. */
static void operations_refuse_and_queue(void **state)
{
    (void)state;
    char err[IDM_ERR_MAX];
    idm_policy pol = IDM_POLICY_DEFAULT;
    int64_t seq = 0;
    uint8_t payload[3] = {1, 2, 3};
    assert_int_equal(idm_secure_send(G.s, G.db, DEV, NULL, payload, 3, &pol, "t", &seq, err), IDM_ERR_ILLEGAL);
    assert_non_null(strstr(err, "manufactured"));
    assert_int_equal(idm_se_event(G.db, DEV, IDM_EV_BOOTSTRAP_JOIN, "t", NULL, NULL, err), IDM_OK);
    assert_int_equal(idm_secure_send(G.s, G.db, DEV, NULL, payload, 0, &pol, "t", &seq, err), IDM_ERR_ARGUMENT);
    assert_int_equal(idm_secure_send(G.s, G.db, DEV, "acme", payload, 3, &pol, "t", &seq, err), IDM_ERR_NOT_FOUND);
    assert_int_equal(idm_renew(G.s, G.db, DEV, NULL, &pol, "t", err), IDM_ERR_ILLEGAL);
    assert_int_equal(idm_return_to_bootstrap(G.s, G.db, DEV, NULL, &pol, "t", err), IDM_ERR_ILLEGAL);
    assert_int_equal(idm_transfer(G.s, G.db, DEV, NULL, "bolt", NULL, &pol, "t", err), IDM_ERR_ILLEGAL);
    assert_int_equal(idm_secure_send(G.s, G.db, DEV, NULL, payload, 3, &pol, "t", &seq, err), IDM_OK);
    assert_int_equal(seq, 1);
    assert_int_equal(idm_secure_send(G.s, G.db, DEV, NULL, payload, 3, &pol, "t", &seq, err), IDM_OK);
    assert_int_equal(seq, 2);
    store_idm_cmd *c = calloc(1, sizeof *c);
    assert_non_null(c);
    assert_int_equal(store_idm_cmd_get(G.db, DEV, 1, c), STORE_OK);
    assert_int_equal(c->type, MLS_T_SECURE);
    uint32_t first = c->counter;
    assert_int_equal(store_idm_cmd_get(G.db, DEV, 2, c), STORE_OK);
    assert_int_equal(c->counter, first + 1); /* never the same counter twice */
    free(c);
    store_idm_ota o;
    assert_int_equal(store_idm_ota_get(G.db, DEV, &o), STORE_OK);
    assert_int_equal(o.tx_next, first + 2);
    assert_int_equal(idm_retire(G.db, DEV, "t", err), IDM_OK);
    uint64_t n = 0;
    assert_int_equal(store_idm_cmd_count(G.db, DEV, STORE_IDM_CMD_FAILED, &n), STORE_OK);
    assert_int_equal(n, 2);
    assert_int_equal(idm_retire(G.db, DEV, "t", err), IDM_ERR_ILLEGAL);
    assert_int_equal(idm_secure_send(G.s, G.db, DEV, NULL, payload, 3, &pol, "t", &seq, err), IDM_ERR_ILLEGAL);
}

/* issue 20: the floor the IDM gives the next Join Server of a device is
 * above the bootstrap JS's counter by the reserve, fails rather than wraps
 * at the end of the 2^24 JoinNonces, and never guesses about a JS it does
 * not know. (With a customer JS to ask: lmn_joinnonce.sh.) */
static void join_nonce_floors(void **state)
{
    (void)state;
    char err[IDM_ERR_MAX];
    uint32_t floor = 0;
    /* No bootstrap device yet: nothing served, the reserve alone. */
    assert_int_equal(idm_join_nonce_floor(G.s, G.db, DEV, "", &floor, err), IDM_OK);
    assert_int_equal(floor, 256);
    store_device d;
    memset(&d, 0, sizeof d);
    d.dev_eui = DEV;
    d.join_eui = 0x70B3D57ED0000000ull;
    d.mac_version = STORE_MAC_1_0_4;
    d.nwk_key.len = 24;
    assert_int_equal(store_device_put(G.db, &d, false), STORE_OK);
    assert_int_equal(idm_join_nonce_floor(G.s, G.db, DEV, NULL, &floor, err), IDM_OK);
    assert_int_equal(floor, STORE_JOIN_NONCE_FIRST + 256);
    assert_int_equal(store_device_raise_join_nonce(G.db, DEV, 5000), STORE_OK);
    assert_int_equal(idm_join_nonce_floor(G.s, G.db, DEV, "", &floor, err), IDM_OK);
    assert_int_equal(floor, 5256);
    assert_int_equal(idm_join_nonce_floor(G.s, G.db, DEV, "nosuch-js", &floor, err), IDM_ERR_NOT_FOUND);
    assert_int_equal(floor, 5256); /* untouched on failure */
    assert_int_equal(store_device_raise_join_nonce(G.db, DEV, STORE_JOIN_NONCE_LIMIT - 256), STORE_OK);
    assert_int_equal(idm_join_nonce_floor(G.s, G.db, DEV, "", &floor, err), IDM_ERR_ILLEGAL);
    assert_non_null(strstr(err, "used up"));
}

/* The server end in the token against the SE end in software. */
/* INSTALL of profile 1 on acme's JoinEUI for SE DEV, flags 0, its keys
 * not filled in. */
static void install_of_dev(mls_cmd *c)
{
    memset(c, 0, sizeof *c);
    c->type = MLS_T_INSTALL;
    c->u.install.profile_id = 1;
    c->u.install.join_eui = 0x70B3D57ED00A0000ull;
    c->u.install.dev_eui = DEV;
    c->u.install.mac_version = MLS_MAC_1_0_4;
}

static void mls_token_vs_se(void **state)
{
    (void)state;
    store_idm_se se;
    assert_int_equal(store_idm_se_get(G.db, DEV, &se), STORE_OK);
    store_idm_ota ota;
    assert_int_equal(store_idm_ota_get(G.db, DEV, &ota), STORE_ERR_NOT_FOUND);
    mls_session srv;
    assert_int_equal(idm_mls_open(G.s, &se, &ota, &srv), IDM_OK);
    lw_key root, key;
    assert_int_equal(lw_key_from_bytes(&root, G.mls_root, 16), LW_OK);
    const lw_crypto *sw = lw_crypto_software();
    mls_session dev;
    assert_int_equal(mls_session_init(&dev, sw, MLS_ROLE_SE, &root, DEV, 0, 1, 0), MLS_OK);
    lw_key_wipe(&root);
    /* a profile key made in the token, wrapped for the SE */
    assert_int_equal(hsm_key_generate(G.s, HSM_KEY_WORKING, &key), HSM_OK);
    mls_cmd cmd;
    install_of_dev(&cmd);
    assert_int_equal(mls_wrap_key(&srv, &key, cmd.u.install.nwk_key_wrapped, MLS_WRAPPED_LEN), MLS_OK);
    uint8_t body[MLS_BODY_MAX], msg[MLS_MSG_MAX], out[MLS_BODY_MAX];
    size_t bl = 0, ml = 0, ol = 0;
    assert_int_equal(mls_cmd_encode(&cmd, body, sizeof body, &bl), MLS_OK);
    assert_int_equal(mls_seal(&srv, MLS_T_INSTALL, body, bl, msg, sizeof msg, &ml), MLS_OK);
    mls_header h;
    assert_int_equal(mls_open(&dev, msg, ml, &h, out, sizeof out, &ol), MLS_OK);
    mls_cmd got;
    assert_int_equal(mls_cmd_decode(h.type, out, ol, &got), MLS_OK);
    lw_key sek;
    assert_int_equal(mls_unwrap_key(&dev, got.u.install.nwk_key_wrapped, MLS_WRAPPED_LEN, &sek), MLS_OK);
    uint8_t blk[16] = {1}, a[16], b[16];
    assert_int_equal(lw_aes_encrypt(hsm_session_crypto(G.s), &key, blk, a), LW_OK);
    assert_int_equal(lw_aes_encrypt(sw, &sek, blk, b), LW_OK);
    assert_memory_equal(a, b, 16); /* the SE holds the token's key */
    lw_key_wipe(&sek);
    hsm_key_release(G.s, &key);
    /* and the SE's answer opens in the token */
    mls_rsp rsp = {.type = MLS_T_INSTALL, .req_counter = h.counter, .result = MLS_R_OK};
    assert_int_equal(mls_rsp_encode(&rsp, body, sizeof body, &bl), MLS_OK);
    assert_int_equal(mls_seal(&dev, MLS_T_RESPONSE | MLS_T_INSTALL, body, bl, msg, sizeof msg, &ml), MLS_OK);
    assert_int_equal(mls_open(&srv, msg, ml, &h, out, sizeof out, &ol), MLS_OK);
    assert_int_equal(h.type, MLS_T_RESPONSE | MLS_T_INSTALL);
    mls_session_end(&srv);
    mls_session_end(&dev);
    lw_secure_wipe(&se, sizeof se);
}

/* ---- a profile over the air, the SE's side played in software ---- */

/* The SE's end of dev_eui's MLS session, epoch 0 (every test SE has the
 * root G.mls_root). */
static void se_session(uint64_t dev_eui, mls_session *out)
{
    lw_key root;
    assert_int_equal(lw_key_from_bytes(&root, G.mls_root, 16), LW_OK);
    assert_int_equal(mls_session_init(out, lw_crypto_software(), MLS_ROLE_SE, &root, dev_eui, 0, 1, 0), MLS_OK);
    lw_key_wipe(&root);
}

/* The SE takes the IDM's current command through windows without an MLS
 * frame of its own (idm_ota_relay, 51-byte frames), opens it and decodes it
 * into *got. With ack it first acknowledges the fragments, as an element
 * that does not answer in place of the ack does; the IDM then has nothing
 * to send until the answer. */
static void se_take(idm_ota *e, uint64_t dev_eui, mls_session *dev, bool ack, mls_header *h, mls_cmd *got)
{
    mls_frag_rx *rx = calloc(1, sizeof *rx);
    assert_non_null(rx);
    mls_frag_rx_init(rx, 600);
    uint8_t out[242], msg[MLS_MSG_MAX], body[MLS_BODY_MAX];
    size_t olen = 0, ml = 0, bl = 0;
    char err[IDM_ERR_MAX];
    int complete = 0;
    for (int i = 0; i < 8 && !complete; i++) {
        assert_int_equal(idm_ota_relay(e, dev_eui, NULL, 0, 51, out, &olen, err), IDM_OK);
        assert_true(olen > 0 && (out[0] & MLS_FRAG_ACK_BIT) == 0);
        assert_int_equal(mls_frag_rx_push(rx, out, olen, 0, &complete), MLS_OK);
    }
    assert_true(complete);
    if (ack) {
        assert_int_equal(mls_frag_rx_ack(rx, 51, msg, &ml), MLS_OK);
        assert_int_equal(idm_ota_relay(e, dev_eui, msg, ml, 51, out, &olen, err), IDM_OK);
        assert_int_equal(olen, 0);
    }
    assert_int_equal(mls_frag_rx_take(rx, msg, sizeof msg, &ml), MLS_OK);
    assert_int_equal(mls_open(dev, msg, ml, h, body, sizeof body, &bl), MLS_OK);
    assert_int_equal(mls_accept_counter(dev, h->counter), MLS_OK);
    assert_int_equal(mls_cmd_decode(h->type, body, bl, got), MLS_OK);
    lw_secure_wipe(body, sizeof body);
    free(rx);
}

/* The SE answers the command of header *h with `result`, as its message
 * msg_id; the IDM must acknowledge the whole answer. */
static void se_answer(idm_ota *e, uint64_t dev_eui, mls_session *dev, const mls_header *h, uint8_t result,
                      uint8_t msg_id)
{
    mls_rsp rsp = {.type = h->type, .req_counter = h->counter, .result = result};
    uint8_t body[64], msg[128], frame[64], out[242];
    size_t bl = 0, ml = 0, fl = 0, olen = 0;
    char err[IDM_ERR_MAX];
    assert_int_equal(mls_rsp_encode(&rsp, body, sizeof body, &bl), MLS_OK);
    assert_int_equal(mls_seal(dev, (uint8_t)(MLS_T_RESPONSE | h->type), body, bl, msg, sizeof msg, &ml), MLS_OK);
    mls_frag_tx *tx = calloc(1, sizeof *tx);
    assert_non_null(tx);
    assert_int_equal(mls_frag_tx_start(tx, msg_id, msg, ml, sizeof frame, 0, 600), MLS_OK);
    assert_int_equal(mls_frag_tx_next(tx, sizeof frame, frame, &fl), MLS_OK);
    assert_int_equal(idm_ota_relay(e, dev_eui, frame, fl, 51, out, &olen, err), IDM_OK);
    assert_true(olen > 0 && (out[0] & MLS_FRAG_ACK_BIT) != 0);
    assert_int_equal(mls_frag_tx_ack(tx, out, olen, 0), MLS_OK);
    assert_true(mls_frag_tx_done(tx));
    free(tx);
}

static void assert_state(uint64_t dev_eui, idm_state want)
{
    store_idm_se se;
    assert_int_equal(store_idm_se_get(G.db, dev_eui, &se), STORE_OK);
    assert_int_equal(se.state, want);
    lw_secure_wipe(&se, sizeof se);
}

static void assert_cmd(uint64_t dev_eui, int64_t seq, uint8_t type, store_idm_cmd_state want)
{
    store_idm_cmd *c = calloc(1, sizeof *c);
    assert_non_null(c);
    assert_int_equal(store_idm_cmd_get(G.db, dev_eui, seq, c), STORE_OK);
    assert_int_equal(c->type, type);
    assert_int_equal(c->state, want);
    free(c);
}

/* A profile is one MLS message: INSTALL with "activate now" (docs/mls.md
 * 5.2) under one counter, prepared as idm_provision prepares it. Its OK
 * response is the acknowledgement (profile_delivered), also when it comes
 * in place of the ack of the command's fragments; a refusal gives the
 * delivery up (back to bootstrapped). */
static void profile_is_one_install(void **state)
{
    (void)state;
    char err[IDM_ERR_MAX], line[1024];
    add_acme_js();
    store_idm_js js;
    assert_int_equal(store_idm_js_get(G.db, "acme-js", &js), STORE_OK);
    idm_policy pol = IDM_POLICY_DEFAULT;
    idm_ota *e = NULL;
    assert_int_equal(idm_ota_new(G.s, G.db, &pol, &e), IDM_OK);
    store_idm_cmd *cmd = calloc(1, sizeof *cmd);
    assert_non_null(cmd);
    for (uint64_t i = 0; i < 2; i++) {
        uint64_t dev_eui = DEV + i;
        bool refuse = i == 1;
        store_idm_se se;
        store_idm_ota ota, next;
        assert_int_equal(store_idm_se_get(G.db, dev_eui, &se), STORE_OK);
        assert_int_equal(store_idm_ota_get(G.db, dev_eui, &ota), STORE_ERR_NOT_FOUND);
        assert_int_equal(idm_profile_prepare(G.s, G.db, &se, &js, &ota, &pol, line, sizeof line, cmd, err), IDM_OK);
        assert_int_equal(cmd->type, MLS_T_INSTALL);
        assert_int_equal(cmd->counter, 1);
        assert_int_equal(cmd->msg_len, MLS_OVERHEAD + 72);
        assert_int_equal(cmd->state, STORE_IDM_CMD_QUEUED);
        /* queued as idm_provision's last step queues it: one command, the
         * counter moved on by one */
        next = ota;
        next.tx_next = 2;
        assert_int_equal(store_idm_ota_cas(G.db, &ota, &next), STORE_OK);
        cmd->dev_eui = dev_eui;
        assert_int_equal(store_idm_cmd_add(G.db, cmd), STORE_OK);
        assert_int_equal(idm_se_event(G.db, dev_eui, IDM_EV_BOOTSTRAP_JOIN, "t", NULL, NULL, err), IDM_OK);
        assert_int_equal(idm_se_event(G.db, dev_eui, IDM_EV_PROFILE_QUEUED, "t", NULL, NULL, err), IDM_OK);
        mls_session dev;
        se_session(dev_eui, &dev);
        mls_header h;
        mls_cmd got;
        se_take(e, dev_eui, &dev, refuse, &h, &got);
        assert_int_equal(h.counter, 1);
        assert_int_equal(got.type, MLS_T_INSTALL);
        assert_int_equal(got.u.install.flags, MLS_INSTALL_ACTIVATE_NOW);
        assert_int_equal(got.u.install.profile_id, 1);
        assert_true(got.u.install.join_eui == js.join_eui);
        assert_true(got.u.install.dev_eui == dev_eui);
        assert_state(dev_eui, IDM_STATE_PROFILE_PENDING);
        se_answer(e, dev_eui, &dev, &h, refuse ? MLS_R_UNWRAP_FAILED : MLS_R_OK, 1);
        assert_state(dev_eui, refuse ? IDM_STATE_BOOTSTRAPPED : IDM_STATE_PROFILE_DELIVERED);
        assert_cmd(dev_eui, 1, MLS_T_INSTALL, refuse ? STORE_IDM_CMD_FAILED : STORE_IDM_CMD_DONE);
        assert_int_equal(store_idm_cmd_current(G.db, dev_eui, cmd), STORE_ERR_NOT_FOUND);
        lw_secure_wipe(&got, sizeof got);
        lw_secure_wipe(&se, sizeof se);
        mls_session_end(&dev);
    }
    free(cmd);
    idm_ota_free(e);
}

/* A delivery queued before a profile became one message, as INSTALL
 * (without "activate now") and ACTIVATE under two counters, still
 * completes after the upgrade: INSTALL's OK moves nothing, ACTIVATE's is
 * the acknowledgement. */
static void two_command_profile_completes(void **state)
{
    (void)state;
    char err[IDM_ERR_MAX];
    idm_policy pol = IDM_POLICY_DEFAULT;
    store_idm_se se;
    store_idm_ota ota, next;
    assert_int_equal(store_idm_se_get(G.db, DEV, &se), STORE_OK);
    assert_int_equal(store_idm_ota_get(G.db, DEV, &ota), STORE_ERR_NOT_FOUND);
    mls_session srv;
    assert_int_equal(idm_mls_open(G.s, &se, &ota, &srv), IDM_OK);
    store_idm_cmd *cmd = calloc(2, sizeof *cmd);
    assert_non_null(cmd);
    mls_cmd c;
    install_of_dev(&c);
    assert_int_equal(idm_seal_cmd(&srv, &c, 0, &cmd[0], (int64_t)time(NULL) + 600), IDM_OK);
    memset(&c, 0, sizeof c);
    c.type = MLS_T_ACTIVATE;
    c.u.activate.profile_id = 1;
    assert_int_equal(idm_seal_cmd(&srv, &c, 0, &cmd[1], (int64_t)time(NULL) + 600), IDM_OK);
    next = ota;
    next.tx_next = srv.tx_next;
    mls_session_end(&srv);
    assert_int_equal(next.tx_next, 3);
    assert_int_equal(store_idm_ota_cas(G.db, &ota, &next), STORE_OK);
    for (int k = 0; k < 2; k++) {
        cmd[k].dev_eui = DEV;
        assert_int_equal(store_idm_cmd_add(G.db, &cmd[k]), STORE_OK);
    }
    free(cmd);
    assert_int_equal(idm_se_event(G.db, DEV, IDM_EV_BOOTSTRAP_JOIN, "t", NULL, NULL, err), IDM_OK);
    assert_int_equal(idm_se_event(G.db, DEV, IDM_EV_PROFILE_QUEUED, "t", NULL, NULL, err), IDM_OK);
    idm_ota *e = NULL;
    assert_int_equal(idm_ota_new(G.s, G.db, &pol, &e), IDM_OK);
    mls_session dev;
    se_session(DEV, &dev);
    mls_header h;
    mls_cmd got;
    se_take(e, DEV, &dev, true, &h, &got);
    assert_int_equal(got.type, MLS_T_INSTALL);
    assert_int_equal(got.u.install.flags, 0);
    se_answer(e, DEV, &dev, &h, MLS_R_OK, 1);
    assert_state(DEV, IDM_STATE_PROFILE_PENDING); /* ACTIVATE to come */
    assert_cmd(DEV, 1, MLS_T_INSTALL, STORE_IDM_CMD_DONE);
    assert_cmd(DEV, 2, MLS_T_ACTIVATE, STORE_IDM_CMD_QUEUED);
    se_take(e, DEV, &dev, true, &h, &got);
    assert_int_equal(got.type, MLS_T_ACTIVATE);
    assert_int_equal(h.counter, 2);
    se_answer(e, DEV, &dev, &h, MLS_R_OK, 2);
    assert_state(DEV, IDM_STATE_PROFILE_DELIVERED);
    assert_cmd(DEV, 2, MLS_T_ACTIVATE, STORE_IDM_CMD_DONE);
    lw_secure_wipe(&got, sizeof got);
    lw_secure_wipe(&se, sizeof se);
    mls_session_end(&dev);
    idm_ota_free(e);
}

/* The reassembly of the SEs' uplink messages has a named capacity
 * (mls_rx_slots): when every slot holds another SE's unfinished message, a
 * new SE's fragment is refused and counted, and no unfinished message is
 * evicted; once a message settles, its slot serves the refused SE. */
static void mls_rx_slots_refuse_not_evict(void **state)
{
    (void)state;
    store_idm_se se;
    assert_int_equal(store_idm_se_get(G.db, DEV, &se), STORE_OK);
    se.dev_eui = DEV + 2;
    se.serial = 3;
    assert_int_equal(store_idm_se_put(G.db, &se), STORE_OK);
    lw_secure_wipe(&se, sizeof se);

    uint8_t msg[60];
    for (size_t i = 0; i < sizeof msg; i++)
        msg[i] = (uint8_t)(0x40 + i); /* not a valid MLS message: settled as dropped, and acked */
    mls_frag_tx *tx = calloc(1, sizeof *tx);
    assert_non_null(tx);
    assert_int_equal(mls_frag_tx_start(tx, 1, msg, sizeof msg, 24, 0, 600), MLS_OK);
    uint8_t frag[8][24], out[242];
    size_t flen[8], nfrag = 0, olen = 0;
    while (nfrag < 8 && mls_frag_tx_next(tx, sizeof frag[0], frag[nfrag], &flen[nfrag]) == MLS_OK && flen[nfrag] > 0)
        nfrag++;
    free(tx);
    assert_true(nfrag >= 3);

    char err[IDM_ERR_MAX];
    idm_policy pol = IDM_POLICY_DEFAULT;
    pol.mls_rx_slots = 0;
    idm_ota *e = NULL;
    assert_int_equal(idm_ota_new(G.s, G.db, &pol, &e), IDM_ERR_ARGUMENT);
    pol.mls_rx_slots = 2;
    assert_int_equal(idm_ota_new(G.s, G.db, &pol, &e), IDM_OK);
    idm_ota_counters k;
    /* SEs 0 and 1 start messages: both slots hold unfinished ones. */
    for (uint64_t d = 0; d < 2; d++) {
        assert_int_equal(idm_ota_relay(e, DEV + d, frag[0], flen[0], 51, out, &olen, err), IDM_OK);
        assert_int_equal(olen, 0);
    }
    /* SE 2's fragment is refused and counted; SE 0's message is kept. */
    assert_int_equal(idm_ota_relay(e, DEV + 2, frag[0], flen[0], 51, out, &olen, err), IDM_OK);
    assert_int_equal(olen, 0);
    idm_ota_counters_get(e, &k);
    assert_int_equal(k.rx_slots, 2);
    assert_int_equal(k.rx_in_use, 2);
    assert_int_equal(k.rx_refused, 1);
    for (size_t i = 1; i < nfrag; i++)
        assert_int_equal(idm_ota_relay(e, DEV, frag[i], flen[i], 51, out, &olen, err), IDM_OK);
    assert_true(olen > 0); /* complete and settled: acknowledged */
    assert_true((out[0] & MLS_FRAG_ACK_BIT) != 0);
    /* SE 0's slot is settled now: SE 2's fragment sent again is taken. */
    assert_int_equal(idm_ota_relay(e, DEV + 2, frag[0], flen[0], 51, out, &olen, err), IDM_OK);
    idm_ota_counters_get(e, &k);
    assert_int_equal(k.rx_in_use, 2);
    assert_int_equal(k.rx_refused, 1);
    for (size_t i = 1; i < nfrag; i++)
        assert_int_equal(idm_ota_relay(e, DEV + 2, frag[i], flen[i], 51, out, &olen, err), IDM_OK);
    assert_true(olen > 0 && (out[0] & MLS_FRAG_ACK_BIT) != 0);
    idm_ota_free(e);
}

/* The per-SE lease of several IDM instances on one database (schema v9),
 * taken through two handles as two instances would; and a command made
 * final is never written back by a writer holding an old copy. */
static void leases_between_instances(void **state)
{
    (void)state;
    char loc[512];
    const char *pg = getenv("FERRY_TEST_PG");
    snprintf(loc, sizeof loc, "sqlite:%s/t%d.db", G.root, G.seq);
    store *other = NULL;
    assert_int_equal(store_open(pg != NULL ? pg : loc, &other), STORE_OK);
    char owner[STORE_IDM_LEASE_OWNER_MAX + 1];
    int64_t until = 0;
    assert_int_equal(store_idm_lease_get(G.db, DEV, owner, &until), STORE_ERR_NOT_FOUND);
    assert_int_equal(store_idm_lease_take(G.db, DEV, "a:1", 100, 130), STORE_OK);
    assert_int_equal(store_idm_lease_get(other, DEV, owner, &until), STORE_OK);
    assert_string_equal(owner, "a:1");
    assert_int_equal(until, 130);
    /* held by a until 130: b waits its turn; another SE is free */
    assert_int_equal(store_idm_lease_take(other, DEV, "b:2", 110, 140), STORE_ERR_BUSY);
    assert_int_equal(store_idm_lease_take(other, DEV, "b:2", 129, 159), STORE_ERR_BUSY);
    assert_int_equal(store_idm_lease_take(other, DEV + 1, "b:2", 110, 140), STORE_OK);
    /* the holder extends its own */
    assert_int_equal(store_idm_lease_take(G.db, DEV, "a:1", 120, 150), STORE_OK);
    assert_int_equal(store_idm_lease_get(G.db, DEV, owner, &until), STORE_OK);
    assert_int_equal(until, 150);
    /* a killed holder's lease runs out: b takes it over at 150 */
    assert_int_equal(store_idm_lease_take(other, DEV, "b:2", 149, 179), STORE_ERR_BUSY);
    assert_int_equal(store_idm_lease_take(other, DEV, "b:2", 150, 180), STORE_OK);
    assert_int_equal(store_idm_lease_get(G.db, DEV, owner, &until), STORE_OK);
    assert_string_equal(owner, "b:2");
    /* a's late give-back does not free b's lease */
    assert_int_equal(store_idm_lease_give_back(G.db, DEV, "a:1"), STORE_OK);
    assert_int_equal(store_idm_lease_take(G.db, DEV, "a:1", 160, 190), STORE_ERR_BUSY);
    assert_int_equal(store_idm_lease_give_back(other, DEV, "b:2"), STORE_OK);
    assert_int_equal(store_idm_lease_get(G.db, DEV, owner, &until), STORE_ERR_NOT_FOUND);
    assert_int_equal(store_idm_lease_take(G.db, DEV, "a:1", 160, 190), STORE_OK);
    /* arguments */
    char long_owner[STORE_IDM_LEASE_OWNER_MAX + 2];
    memset(long_owner, 'x', sizeof long_owner - 1);
    long_owner[sizeof long_owner - 1] = '\0';
    assert_int_equal(store_idm_lease_take(G.db, DEV, "", 100, 130), STORE_ERR_ARGUMENT);
    assert_int_equal(store_idm_lease_take(G.db, DEV, long_owner, 100, 130), STORE_ERR_ARGUMENT);
    assert_int_equal(store_idm_lease_take(G.db, DEV, "a:1", 130, 130), STORE_ERR_ARGUMENT);
    assert_int_equal(store_idm_lease_give_back(G.db, DEV, NULL), STORE_ERR_ARGUMENT);

    /* one audit chain from both handles */
    const store_idm_audit_record r = {"test", "idm.test", "0000000000000000", "{}"};
    int64_t seq1 = 0, seq2 = 0;
    assert_int_equal(store_idm_audit_append(G.db, &r, &seq1), STORE_OK);
    assert_int_equal(store_idm_audit_append(other, &r, &seq2), STORE_OK);
    assert_int_equal(seq2, seq1 + 1);
    store_idm_audit_report rep;
    assert_int_equal(store_idm_audit_verify(other, &rep), STORE_OK);
    assert_true(rep.ok);

    /* a command answered through one handle is not sent again by a copy
     * read before through the other */
    store_idm_cmd *c = calloc(1, sizeof *c), *old = calloc(1, sizeof *old);
    assert_non_null(c);
    assert_non_null(old);
    c->dev_eui = DEV, c->type = MLS_T_INSTALL, c->counter = 1, c->msg_len = 30, c->deadline = 100;
    memset(c->msg, 0x5A, 30);
    assert_int_equal(store_idm_cmd_add(G.db, c), STORE_OK);
    assert_int_equal(store_idm_cmd_current(other, DEV, old), STORE_OK);
    assert_int_equal(store_idm_cmd_current(G.db, DEV, c), STORE_OK);
    c->state = STORE_IDM_CMD_SENDING;
    assert_int_equal(store_idm_cmd_update(G.db, c), STORE_OK);
    c->state = STORE_IDM_CMD_DONE;
    c->result = 0;
    assert_int_equal(store_idm_cmd_update(G.db, c), STORE_OK);
    old->state = STORE_IDM_CMD_SENDING;
    old->sent[0] = 1;
    assert_int_equal(store_idm_cmd_update(other, old), STORE_ERR_ABORTED);
    assert_int_equal(store_idm_cmd_get(G.db, DEV, c->seq, c), STORE_OK);
    assert_int_equal(c->state, STORE_IDM_CMD_DONE);
    assert_int_equal(c->result, 0);
    assert_int_equal(store_idm_cmd_current(G.db, DEV, c), STORE_ERR_NOT_FOUND);
    free(c);
    free(old);
    store_close(other);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(tenants_and_tokens, setup, teardown),
        cmocka_unit_test_setup_teardown(claim_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(claim_many_as_one_by_one, setup, teardown),
        cmocka_unit_test_setup_teardown(js_and_assign, setup, teardown),
        cmocka_unit_test_setup_teardown(lifecycle_events, setup, teardown),
        cmocka_unit_test_setup_teardown(ota_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(deadline_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(mls_token_vs_se, setup, teardown),
        cmocka_unit_test_setup_teardown(profile_is_one_install, setup, teardown),
        cmocka_unit_test_setup_teardown(two_command_profile_completes, setup, teardown),
        cmocka_unit_test_setup_teardown(profile_keys_and_cleanups, setup, teardown),
        cmocka_unit_test_setup_teardown(update_failed_undoes, setup, teardown),
        cmocka_unit_test_setup_teardown(operations_refuse_and_queue, setup, teardown),
        cmocka_unit_test_setup_teardown(mls_rx_slots_refuse_not_evict, setup, teardown),
        cmocka_unit_test_setup_teardown(join_nonce_floors, setup, teardown),
        cmocka_unit_test_setup_teardown(leases_between_instances, setup, teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

/*
 * test_lab_as.c - the lab application server (src/lab/lab_as*.c): its
 * configuration file, the NS's uplink body, the AppSKey unwrap and the
 * FRMPayload decryption checked against published and independently
 * computed vectors, the relay request and answer, the Downlinks answer to
 * the NS, the engine with a fake Identity Manager (200 with a frame, 200 {},
 * 404, unreachable, garbage), the per-device history, and the bearer check.
 *
 * Vectors:
 *   - lora-packet's README frame 40F17DBE4900020001954378762B11FF0D:
 *     DevAddr 49BE7DF1, FCnt 2, FPort 1, AppSKey ec925802ae430ca77fd3dd73cb2cc588,
 *     FRMPayload 95437876 = "test";
 *   - that AppSKey wrapped under KEK 0f0e0d0c0b0a09080706050403020100 by
 *     node's OpenSSL (id-aes128-wrap): 247f46ba70756854e655212331f3302392c6601168d8597c;
 *   - a downlink under that AppSKey, DevAddr 49BE7DF1, FCnt 5, computed by
 *     tests/integration/lab_as.js (node's OpenSSL, LoRaWAN L2 4.3.3):
 *     00112233445566778899aabbccddeeff0102030405 ->
 *     3ebe40ac4223827ab2cc041b08166e1bdc9fc65f87.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <mbedtls/sha256.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lab/lab_as.h"
#include "lorawan/lorawan.h"
#include "test_util.h"

#define DEV_EUI  "70B3D57ED0050000"
#define DEV_ADDR "49BE7DF1"

static const char KEK_HEX[] = "0f0e0d0c0b0a09080706050403020100";
static const char ASK_HEX[] = "ec925802ae430ca77fd3dd73cb2cc588";
static const char ASK_WRAPPED[] = "247f46ba70756854e655212331f3302392c6601168d8597c";
static const char TOKEN[] = "ns-to-as-token-0123456789";

/* ---- helpers ------------------------------------------------------------------ */

static void put(const char *dir, const char *name, const char *text, mode_t mode)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(chmod(p, mode), 0);
}

static lab_status load(const char *dir, const char *conf, lab_as_config *cfg, char *err, size_t cap)
{
    put(dir, "as.conf", conf, 0600);
    char p[512];
    snprintf(p, sizeof(p), "%s/as.conf", dir);
    return lab_as_config_load(p, cfg, err, cap);
}

static void rm_rf(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void config_in_memory(lab_as_config *cfg, bool relay)
{
    memset(cfg, 0, sizeof(*cfg));
    strcpy(cfg->listen, "127.0.0.1:9000");
    strcpy(cfg->kek_label, "acme-as");
    tu_key(&cfg->kek, KEK_HEX);
    (void)mbedtls_sha256_ret((const unsigned char *)TOKEN, strlen(TOKEN), cfg->token_sha256, 0);
    if (relay) {
        strcpy(cfg->idm_url, "http://idm.test");
        strcpy(cfg->idm_token, "tenant-token");
    }
    cfg->idm_timeout_ms = 2000;
}

/* An uplink body as the lab NS writes it (docs/ns-as.md). */
static void uplink_body(char *out, size_t cap, const char *label, const char *wrapped, uint32_t fcnt, unsigned fport,
                        const char *frm, unsigned maxdl, uint32_t next_down)
{
    snprintf(out, cap,
             "{\"DevEUI\":\"%s\",\"DevAddr\":\"%s\",\"SessionKeyID\":\"0102\",\"AppSKey\":{\"KEKLabel\":\"%s\","
             "\"AESKey\":\"%s\"},\"FCnt\":%u,\"FPort\":%u,\"FRMPayload\":\"%s\",\"Confirmed\":false,\"DR\":5,"
             "\"MaxDownlinkPayload\":%u,\"NextAFCntDown\":%u,\"RecvTime\":\"2024-05-01T10:00:00.123Z\"}",
             DEV_EUI, DEV_ADDR, label, wrapped, (unsigned)fcnt, fport, frm, maxdl, (unsigned)next_down);
}

/* Hex of an FRMPayload encrypted (uplink) under the test's AppSKey. */
static void encrypt_up(uint32_t fcnt, const char *plain_hex, char *out, size_t cap)
{
    uint8_t p[LAB_AS_PAYLOAD_MAX], c[LAB_AS_PAYLOAD_MAX];
    size_t n = tu_hex(plain_hex, p, sizeof(p));
    lw_key k;
    tu_key(&k, ASK_HEX);
    assert_int_equal(lw_frm_payload_crypt(lw_crypto_software(), &k, true, 0x49BE7DF1u, fcnt, p, n, c), LW_OK);
    assert_int_equal(lw_hex_encode(c, n, out, cap), LW_OK);
}

/* ---- a fake Identity Manager --------------------------------------------------- */

typedef struct fake_idm {
    int calls;
    char url[512];
    char body[1024];
    long http;           /* what it answers; 0 = unreachable */
    const char *answer;
    int logs;
    char last_event[64];
} fake_idm;

static lab_status fake_post(void *user, const char *url, const char *body, size_t len, long *http, char *ans,
                            size_t cap, size_t *ans_len)
{
    fake_idm *f = user;
    f->calls++;
    snprintf(f->url, sizeof(f->url), "%s", url);
    snprintf(f->body, sizeof(f->body), "%.*s", (int)len, body);
    *http = f->http;
    *ans_len = 0;
    if (f->http == 0)
        return LAB_ERR_IO;
    snprintf(ans, cap, "%s", f->answer != NULL ? f->answer : "{}");
    *ans_len = strlen(ans);
    return LAB_OK;
}

static void fake_log(void *user, const char *level, const char *event, uint64_t dev_eui, const char *detail)
{
    (void)level;
    (void)dev_eui;
    fake_idm *f = user;
    f->logs++;
    snprintf(f->last_event, sizeof(f->last_event), "%s", event);
    /* no key, wrapped or not, ever reaches a log line */
    assert_null(strstr(detail, ASK_HEX));
    assert_null(strstr(detail, ASK_WRAPPED));
    assert_null(strstr(detail, TOKEN));
}

static lab_as *engine(fake_idm *f, bool relay)
{
    lab_as_config cfg;
    config_in_memory(&cfg, relay);
    lab_as_io io = {.user = f, .idm_post = fake_post, .log = fake_log};
    lab_as *as = NULL;
    assert_int_equal(lab_as_new(&cfg, &io, &as), LAB_OK);
    lab_as_config_wipe(&cfg);
    return as;
}

/* ---- configuration -------------------------------------------------------------- */

static void test_config_ok(void **state)
{
    (void)state;
    char dir[] = "/tmp/ferry-labas.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char err[256], line[200];
    put(dir, "as.tok", "ns-to-as-token-0123456789\n", 0600);
    put(dir, "as.kek", "0F0E0D0C0B0A09080706050403020100\n", 0600);
    put(dir, "idm.tok", "  tenant-token \n", 0600);
    put(dir, "ca.pem", "not checked here\n", 0644);
    lab_as_config cfg;
    assert_int_equal(load(dir,
                          "# the lab AS\n\nlisten = 127.0.0.1:9123\ntoken_file = as.tok\nkek_label = acme-as\n"
                          "kek_file = as.kek\nidm_url = http://127.0.0.1:4712//\nidm_token_file = idm.tok\n"
                          "ca_file = ca.pem\nidm_timeout_ms = 1500\n",
                          &cfg, err, sizeof(err)),
                     LAB_OK);
    assert_string_equal(cfg.listen, "127.0.0.1:9123");
    assert_string_equal(cfg.kek_label, "acme-as");
    assert_key_equal(&cfg.kek, "0f0e0d0c0b0a09080706050403020100");
    assert_string_equal(cfg.idm_url, "http://127.0.0.1:4712"); /* trailing slashes dropped */
    assert_string_equal(cfg.idm_token, "tenant-token");
    assert_int_equal(cfg.idm_timeout_ms, 1500);
    snprintf(line, sizeof(line), "%s/ca.pem", dir);
    assert_string_equal(cfg.ca_file, line);
    uint8_t want[32];
    (void)mbedtls_sha256_ret((const unsigned char *)TOKEN, strlen(TOKEN), want, 0);
    assert_memory_equal(cfg.token_sha256, want, 32); /* only the hash is kept */
    lab_as_config_wipe(&cfg);
    assert_true(tu_all_zero(&cfg, sizeof(cfg)));

    /* defaults; the relay is optional */
    assert_int_equal(load(dir, "token_file = as.tok\nkek_label = L\nkek_file = as.kek\n", &cfg, err, sizeof(err)),
                     LAB_OK);
    assert_string_equal(cfg.listen, "127.0.0.1:9000");
    assert_string_equal(cfg.idm_url, "");
    assert_int_equal(cfg.idm_timeout_ms, 2000);
    lab_as_config_wipe(&cfg);
    rm_rf(dir);
}

static void expect_refusal(const char *dir, const char *conf, const char *needle)
{
    lab_as_config cfg;
    char err[256];
    memset(&cfg, 0xAA, sizeof(cfg));
    assert_int_equal(load(dir, conf, &cfg, err, sizeof(err)), LAB_ERR_CONFIG);
    if (strstr(err, needle) == NULL)
        fail_msg("config refusal: expected \"%s\" in \"%s\"", needle, err);
    assert_true(tu_all_zero(&cfg, sizeof(cfg))); /* wiped on failure */
}

static void test_config_refusals(void **state)
{
    (void)state;
    char dir[] = "/tmp/ferry-labas.XXXXXX";
    assert_non_null(mkdtemp(dir));
    put(dir, "as.tok", "tok\n", 0600);
    put(dir, "as.kek", "0f0e0d0c0b0a09080706050403020100\n", 0600);
    put(dir, "short.kek", "0f0e0d0c0b0a0908\n", 0600);
    put(dir, "open.kek", "0f0e0d0c0b0a09080706050403020100\n", 0644);
    put(dir, "empty.tok", "\n", 0600);
    const char *base = "token_file = as.tok\nkek_label = L\nkek_file = as.kek\n";
    char conf[512];
    snprintf(conf, sizeof(conf), "%sbogus = 1\n", base);
    expect_refusal(dir, conf, "line 4: unknown key 'bogus'");
    snprintf(conf, sizeof(conf), "%skek_label = M\n", base);
    expect_refusal(dir, conf, "line 4: 'kek_label' given twice (first on line 2)");
    expect_refusal(dir, "# no equals sign\nlisten 127.0.0.1:1\n", "line 2: expected key = value");
    expect_refusal(dir, "kek_label = L\nkek_file = as.kek\n", "token_file is required");
    expect_refusal(dir, "token_file = as.tok\nkek_label = L\n", "kek_label and kek_file are required");
    expect_refusal(dir, "token_file = as.tok\nkek_label = L\nkek_file = short.kek\n",
                   "line 3: ");
    expect_refusal(dir, "token_file = as.tok\nkek_label = L\nkek_file = short.kek\n", "32, 48 or 64 hex digits");
    expect_refusal(dir, "token_file = as.tok\nkek_label = L\nkek_file = open.kek\n", "readable by others");
    expect_refusal(dir, "token_file = empty.tok\n", "line 1: ");
    expect_refusal(dir, "token_file = missing.tok\n", "missing.tok");
    snprintf(conf, sizeof(conf), "%sidm_url = http://127.0.0.1:1\n", base);
    expect_refusal(dir, conf, "idm_url and idm_token_file go together");
    snprintf(conf, sizeof(conf), "%sidm_url = ftp://x\n", base);
    expect_refusal(dir, conf, "line 4: idm_url");
    snprintf(conf, sizeof(conf), "%slisten = 0.0.0.0:9000\n", base);
    expect_refusal(dir, conf, "loopback");
    snprintf(conf, sizeof(conf), "%slisten = localhost:9000\n", base);
    expect_refusal(dir, conf, "line 4: listen");
    snprintf(conf, sizeof(conf), "%sidm_timeout_ms = 5\n", base);
    expect_refusal(dir, conf, "line 4: idm_timeout_ms");
    snprintf(conf, sizeof(conf), "%sca_file = none.pem\n", base);
    expect_refusal(dir, conf, "line 4: ca_file");
    lab_as_config cfg;
    char err[128];
    assert_int_equal(lab_as_config_load("/nonexistent/as.conf", &cfg, err, sizeof(err)), LAB_ERR_CONFIG);
    rm_rf(dir);
}

/* ---- messages ------------------------------------------------------------------- */

static void test_uplink_parse(void **state)
{
    (void)state;
    char body[1024], what[64];
    lab_as_uplink up;
    uplink_body(body, sizeof(body), "acme-as", ASK_WRAPPED, 2, 1, "95437876", 242, 7);
    assert_int_equal(lab_as_uplink_parse(body, strlen(body), &up, what, sizeof(what)), LAB_OK);
    assert_true(up.dev_eui == 0x70B3D57ED0050000ULL);
    assert_int_equal(up.dev_addr, 0x49BE7DF1u);
    assert_true(up.app_s_key.present);
    assert_string_equal(up.app_s_key.kek_label, "acme-as");
    assert_hex_equal(up.app_s_key.aes_key, up.app_s_key.aes_key_len, ASK_WRAPPED);
    assert_int_equal(up.fcnt, 2);
    assert_int_equal(up.fport, 1);
    assert_hex_equal(up.frm_payload, up.frm_len, "95437876");
    assert_int_equal(up.dr, 5);
    assert_int_equal(up.max_downlink, 242);
    assert_true(up.has_next_afcnt_down);
    assert_int_equal(up.next_afcnt_down, 7);
    assert_string_equal(up.recv_time, "2024-05-01T10:00:00.123Z");

    /* minimal, lower case, 0x, nulls for absent, an unknown field ignored */
    const char *min = "{\"DevEUI\":\"0x70b3d57ed0050000\",\"DevAddr\":\"49be7df1\",\"FCnt\":4294967295,\"FPort\":223,"
                      "\"FRMPayload\":\"\",\"AppSKey\":null,\"NextAFCntDown\":null,\"Vendor\":{\"x\":1}}";
    assert_int_equal(lab_as_uplink_parse(min, strlen(min), &up, what, sizeof(what)), LAB_OK);
    assert_int_equal(up.fcnt, 0xFFFFFFFFu);
    assert_int_equal(up.frm_len, 0);
    assert_false(up.app_s_key.present);
    assert_false(up.has_next_afcnt_down);
    assert_int_equal(up.max_downlink, 0);

    static const struct { const char *body, *field; } bad[] = {
        {"[]", "body"},
        {"{\"DevEUI\":", "body"},
        {"{\"DevEUI\":\"70B3D57ED0050000\",\"DevEUI\":\"70B3D57ED0050000\",\"DevAddr\":\"49BE7DF1\",\"FCnt\":1,"
         "\"FPort\":1,\"FRMPayload\":\"\"}", "body"},
        {"{\"DevEUI\":\"70B3D57ED00500\",\"DevAddr\":\"49BE7DF1\",\"FCnt\":1,\"FPort\":1,\"FRMPayload\":\"\"}", "DevEUI"},
        {"{\"DevEUI\":\"70B3D57ED0050000\",\"DevAddr\":1,\"FCnt\":1,\"FPort\":1,\"FRMPayload\":\"\"}", "DevAddr"},
        {"{\"DevEUI\":\"70B3D57ED0050000\",\"DevAddr\":\"49BE7DF1\",\"FCnt\":-1,\"FPort\":1,\"FRMPayload\":\"\"}", "FCnt"},
        {"{\"DevEUI\":\"70B3D57ED0050000\",\"DevAddr\":\"49BE7DF1\",\"FCnt\":4294967296,\"FPort\":1,\"FRMPayload\":\"\"}",
         "FCnt"},
        {"{\"DevEUI\":\"70B3D57ED0050000\",\"DevAddr\":\"49BE7DF1\",\"FCnt\":1,\"FPort\":0,\"FRMPayload\":\"\"}", "FPort"},
        {"{\"DevEUI\":\"70B3D57ED0050000\",\"DevAddr\":\"49BE7DF1\",\"FCnt\":1,\"FPort\":224,\"FRMPayload\":\"\"}", "FPort"},
        {"{\"DevEUI\":\"70B3D57ED0050000\",\"DevAddr\":\"49BE7DF1\",\"FCnt\":1,\"FPort\":1}", "FRMPayload"},
        {"{\"DevEUI\":\"70B3D57ED0050000\",\"DevAddr\":\"49BE7DF1\",\"FCnt\":1,\"FPort\":1,\"FRMPayload\":\"abc\"}",
         "FRMPayload"},
        {"{\"DevEUI\":\"70B3D57ED0050000\",\"DevAddr\":\"49BE7DF1\",\"FCnt\":1,\"FPort\":1,\"FRMPayload\":\"zz\"}",
         "FRMPayload"},
        /* a clear envelope: the AppSKey never travels in clear */
        {"{\"DevEUI\":\"70B3D57ED0050000\",\"DevAddr\":\"49BE7DF1\",\"FCnt\":1,\"FPort\":1,\"FRMPayload\":\"\","
         "\"AppSKey\":{\"AESKey\":\"ec925802ae430ca77fd3dd73cb2cc588\"}}", "AppSKey"},
        {"{\"DevEUI\":\"70B3D57ED0050000\",\"DevAddr\":\"49BE7DF1\",\"FCnt\":1,\"FPort\":1,\"FRMPayload\":\"\","
         "\"AppSKey\":{\"KEKLabel\":\"\",\"AESKey\":\"ec925802ae430ca77fd3dd73cb2cc588\"}}", "AppSKey"},
        {"{\"DevEUI\":\"70B3D57ED0050000\",\"DevAddr\":\"49BE7DF1\",\"FCnt\":1,\"FPort\":1,\"FRMPayload\":\"\","
         "\"AppSKey\":{\"KEKLabel\":\"acme-as\",\"AESKey\":\"247f46ba\"}}", "AppSKey"},
        {"{\"DevEUI\":\"70B3D57ED0050000\",\"DevAddr\":\"49BE7DF1\",\"FCnt\":1,\"FPort\":1,\"FRMPayload\":\"\","
         "\"MaxDownlinkPayload\":243}", "MaxDownlinkPayload"},
        {"{\"DevEUI\":\"70B3D57ED0050000\",\"DevAddr\":\"49BE7DF1\",\"FCnt\":1,\"FPort\":1,\"FRMPayload\":\"\","
         "\"Confirmed\":1}", "Confirmed"},
        {"{\"DevEUI\":\"70B3D57ED0050000\",\"DevAddr\":\"49BE7DF1\",\"FCnt\":1,\"FPort\":1,\"FRMPayload\":\"\","
         "\"RecvTime\":\"<script>\"}", "RecvTime"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (lab_as_uplink_parse(bad[i].body, strlen(bad[i].body), &up, what, sizeof(what)) != LAB_ERR_FORMAT)
            fail_msg("bad uplink %zu accepted: %s", i, bad[i].body);
        if (strncmp(what, bad[i].field, strlen(bad[i].field)) != 0)
            fail_msg("bad uplink %zu: field \"%s\", expected \"%s\"", i, what, bad[i].field);
    }
    /* 242 bytes are the most */
    char big[600];
    memset(big, 'a', 486);
    big[486] = 0;
    snprintf(body, sizeof(body), "{\"DevEUI\":\"%s\",\"DevAddr\":\"%s\",\"FCnt\":1,\"FPort\":1,\"FRMPayload\":\"%s\"}",
             DEV_EUI, DEV_ADDR, big);
    assert_int_equal(lab_as_uplink_parse(body, strlen(body), &up, what, sizeof(what)), LAB_ERR_FORMAT);
    big[484] = 0;
    snprintf(body, sizeof(body), "{\"DevEUI\":\"%s\",\"DevAddr\":\"%s\",\"FCnt\":1,\"FPort\":1,\"FRMPayload\":\"%s\"}",
             DEV_EUI, DEV_ADDR, big);
    assert_int_equal(lab_as_uplink_parse(body, strlen(body), &up, what, sizeof(what)), LAB_OK);
    assert_int_equal(up.frm_len, 242);
}

static void test_unwrap_and_decrypt_vectors(void **state)
{
    (void)state;
    lab_as_config cfg;
    config_in_memory(&cfg, false);
    char body[1024], what[64];
    lab_as_uplink up;
    uplink_body(body, sizeof(body), "acme-as", ASK_WRAPPED, 2, 1, "95437876", 242, 0);
    assert_int_equal(lab_as_uplink_parse(body, strlen(body), &up, what, sizeof(what)), LAB_OK);
    lw_key ask;
    assert_int_equal(lab_as_app_s_key(&cfg, &up, &ask), LAB_OK);
    assert_key_equal(&ask, "ec925802ae430ca77fd3dd73cb2cc588"); /* node's id-aes128-wrap, unwrapped by ferry */
    uint8_t plain[16];
    assert_int_equal(lw_frm_payload_crypt(lw_crypto_software(), &ask, true, up.dev_addr, up.fcnt, up.frm_payload,
                                          up.frm_len, plain),
                     LW_OK);
    assert_memory_equal(plain, "test", 4); /* lora-packet's README */
    lw_key_wipe(&ask);

    /* another KEK label: not ours */
    strcpy(up.app_s_key.kek_label, "bolt-as");
    assert_int_equal(lab_as_app_s_key(&cfg, &up, &ask), LAB_ERR_UNKNOWN);
    assert_true(tu_all_zero(&ask, sizeof(ask)));
    /* our label, but a tampered wrap: RFC 3394's integrity check */
    strcpy(up.app_s_key.kek_label, "acme-as");
    up.app_s_key.aes_key[5] ^= 1;
    assert_int_equal(lab_as_app_s_key(&cfg, &up, &ask), LAB_ERR_CRYPTO);
    assert_true(tu_all_zero(&ask, sizeof(ask)));
    /* no envelope */
    up.app_s_key.present = false;
    assert_int_equal(lab_as_app_s_key(&cfg, &up, &ask), LAB_ERR_UNKNOWN);
    lab_as_config_wipe(&cfg);
}

static void test_relay_messages(void **state)
{
    (void)state;
    char out[1024];
    size_t n = 0;
    const uint8_t frame[] = {0x01, 0xAB, 0xCD};
    assert_int_equal(lab_as_relay_body(frame, 3, 51, out, sizeof(out), &n), LAB_OK);
    assert_string_equal(out, "{\"FRMPayload\":\"01ABCD\",\"MaxDownlinkPayload\":51}");
    assert_int_equal(n, strlen(out));
    assert_int_equal(lab_as_relay_body(NULL, 0, 242, out, sizeof(out), &n), LAB_OK);
    assert_string_equal(out, "{\"FRMPayload\":\"\",\"MaxDownlinkPayload\":242}");
    assert_int_equal(lab_as_relay_body(frame, 3, 51, out, 20, &n), LAB_ERR_BUFFER);

    uint8_t f[LAB_AS_PAYLOAD_MAX];
    size_t fl = 99;
    assert_int_equal(lab_as_relay_answer_parse("{}", 2, f, &fl), LAB_OK);
    assert_int_equal(fl, 0);
    const char *a = "{\"FPort\":200,\"FRMPayload\":\"0x00112233\"}";
    assert_int_equal(lab_as_relay_answer_parse(a, strlen(a), f, &fl), LAB_OK);
    assert_hex_equal(f, fl, "00112233");
    a = "{\"FRMPayload\":\"aa\"}"; /* FPort absent: 200 */
    assert_int_equal(lab_as_relay_answer_parse(a, strlen(a), f, &fl), LAB_OK);
    assert_int_equal(fl, 1);
    a = "{\"FPort\":200,\"FRMPayload\":\"\"}";
    assert_int_equal(lab_as_relay_answer_parse(a, strlen(a), f, &fl), LAB_OK);
    assert_int_equal(fl, 0);
    static const char *const bad[] = {"", "[]", "{\"FPort\":201,\"FRMPayload\":\"aa\"}", "{\"FRMPayload\":7}",
                                      "{\"FRMPayload\":\"a\"}", "{\"FPort\":200,\"FPort\":200}", "not json"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        fl = 99;
        if (lab_as_relay_answer_parse(bad[i], strlen(bad[i]), f, &fl) != LAB_ERR_FORMAT)
            fail_msg("relay answer %zu accepted: %s", i, bad[i]);
        assert_int_equal(fl, 0);
    }
}

static void test_downlinks_vector(void **state)
{
    (void)state;
    lab_as_uplink up;
    memset(&up, 0, sizeof(up));
    up.dev_eui = 0x70B3D57ED0050000ULL;
    up.dev_addr = 0x49BE7DF1u;
    up.max_downlink = 51;
    up.has_next_afcnt_down = true;
    up.next_afcnt_down = 5;
    lw_key ask;
    tu_key(&ask, ASK_HEX);
    uint8_t frame[32];
    size_t n = tu_hex("00112233445566778899aabbccddeeff0102030405", frame, sizeof(frame));
    char out[1024];
    assert_int_equal(lab_as_downlinks_build(&ask, &up, frame, n, out, sizeof(out)), LAB_OK);
    assert_string_equal(out, "{\"Downlinks\":[{\"DevEUI\":\"70B3D57ED0050000\",\"FPort\":200,\"FCnt\":5,"
                             "\"FRMPayload\":\"3EBE40AC4223827AB2CC041B08166E1BDC9FC65F87\"}]}");
    /* bigger than the device's next downlink can carry */
    up.max_downlink = 20;
    assert_int_equal(lab_as_downlinks_build(&ask, &up, frame, n, out, sizeof(out)), LAB_ERR_TOO_BIG);
    up.max_downlink = 51;
    up.has_next_afcnt_down = false; /* no counter: nothing can be encrypted */
    assert_int_equal(lab_as_downlinks_build(&ask, &up, frame, n, out, sizeof(out)), LAB_ERR_ARGUMENT);
    up.has_next_afcnt_down = true;
    assert_int_equal(lab_as_downlinks_build(&ask, &up, frame, n, out, 40), LAB_ERR_BUFFER);
    lw_key_wipe(&ask);
}

/* ---- the engine ----------------------------------------------------------------- */

static json_t *parse(const char *s)
{
    json_error_t e;
    json_t *o = json_loads(s, 0, &e);
    if (o == NULL)
        fail_msg("not JSON: %s", s);
    return o;
}

static void test_engine_relay(void **state)
{
    (void)state;
    fake_idm f = {.http = 200};
    lab_as *as = engine(&f, true);
    char body[1024], out[2048];

    /* an application uplink: decrypted, kept, and relayed as "" */
    uplink_body(body, sizeof(body), "acme-as", ASK_WRAPPED, 2, 1, "95437876", 242, 3);
    assert_int_equal(lab_as_uplink_post(as, body, strlen(body), 0, out, sizeof(out)), 200);
    assert_string_equal(out, "{}");
    assert_int_equal(f.calls, 1);
    assert_string_equal(f.url, "http://idm.test/api/v1/ses/70B3D57ED0050000/relay");
    assert_string_equal(f.body, "{\"FRMPayload\":\"\",\"MaxDownlinkPayload\":242}");
    char *h = NULL;
    assert_int_equal(lab_as_uplinks_get(as, DEV_EUI, &h), 200);
    json_t *o = parse(h);
    json_t *u0 = json_array_get(json_object_get(o, "Uplinks"), 0);
    assert_string_equal(json_string_value(json_object_get(u0, "FRMPayload")), "74657374"); /* "test" */
    assert_int_equal(json_integer_value(json_object_get(u0, "FCnt")), 2);
    assert_int_equal(json_integer_value(json_object_get(u0, "FPort")), 1);
    assert_string_equal(json_string_value(json_object_get(u0, "RecvTime")), "2024-05-01T10:00:00.123Z");
    assert_string_equal(json_string_value(json_object_get(o, "DevEUI")), DEV_EUI);
    json_decref(o);
    free(h);

    /* an MLS uplink: the decrypted frame goes to the IDM, and its answer
     * comes back encrypted under NextAFCntDown */
    char enc[600];
    encrypt_up(3, "00A1B2C3D4", enc, sizeof(enc));
    f.answer = "{\"FPort\":200,\"FRMPayload\":\"00112233445566778899AABBCCDDEEFF0102030405\"}";
    uplink_body(body, sizeof(body), "acme-as", ASK_WRAPPED, 3, 200, enc, 51, 5);
    assert_int_equal(lab_as_uplink_post(as, body, strlen(body), 0, out, sizeof(out)), 200);
    assert_string_equal(f.body, "{\"FRMPayload\":\"00A1B2C3D4\",\"MaxDownlinkPayload\":51}");
    assert_string_equal(out, "{\"Downlinks\":[{\"DevEUI\":\"70B3D57ED0050000\",\"FPort\":200,\"FCnt\":5,"
                             "\"FRMPayload\":\"3EBE40AC4223827AB2CC041B08166E1BDC9FC65F87\"}]}");
    /* ... and it is not application data: the history still holds one uplink */
    assert_int_equal(lab_as_uplinks_get(as, DEV_EUI, &h), 200);
    o = parse(h);
    assert_int_equal(json_array_size(json_object_get(o, "Uplinks")), 1);
    json_decref(o);
    free(h);

    /* a frame bigger than MaxDownlinkPayload is dropped, the NS gets {} */
    uplink_body(body, sizeof(body), "acme-as", ASK_WRAPPED, 4, 1, "", 11, 6);
    assert_int_equal(lab_as_uplink_post(as, body, strlen(body), 0, out, sizeof(out)), 200);
    assert_string_equal(out, "{}");
    assert_string_equal(f.last_event, "downlink dropped");

    /* the IDM does not hold the SE for this tenant: 404, logged, {} */
    f.http = 404;
    f.answer = "{\"Error\":\"no such secure element\"}";
    uplink_body(body, sizeof(body), "acme-as", ASK_WRAPPED, 5, 1, "", 51, 6);
    assert_int_equal(lab_as_uplink_post(as, body, strlen(body), 0, out, sizeof(out)), 200);
    assert_string_equal(out, "{}");
    assert_string_equal(f.last_event, "relay refused");
    /* unreachable */
    f.http = 0;
    assert_int_equal(lab_as_uplink_post(as, body, strlen(body), 0, out, sizeof(out)), 200);
    assert_string_equal(out, "{}");
    assert_string_equal(f.last_event, "relay error");
    /* another status, and a garbage answer */
    f.http = 500;
    assert_int_equal(lab_as_uplink_post(as, body, strlen(body), 0, out, sizeof(out)), 200);
    assert_string_equal(out, "{}");
    f.http = 200;
    f.answer = "<html>";
    assert_int_equal(lab_as_uplink_post(as, body, strlen(body), 0, out, sizeof(out)), 200);
    assert_string_equal(out, "{}");
    assert_string_equal(f.last_event, "relay error");

    /* keys that do not open: counted, no relay, still 200 {} */
    int calls = f.calls;
    uplink_body(body, sizeof(body), "bolt-as", ASK_WRAPPED, 6, 1, "95437876", 51, 6);
    assert_int_equal(lab_as_uplink_post(as, body, strlen(body), 0, out, sizeof(out)), 200);
    assert_string_equal(out, "{}");
    uplink_body(body, sizeof(body), "acme-as", "247f46ba70756854e655212331f3302392c6601168d8597d", 6, 1, "95437876",
                51, 6);
    assert_int_equal(lab_as_uplink_post(as, body, strlen(body), 0, out, sizeof(out)), 200);
    const char *nokey = "{\"DevEUI\":\"70B3D57ED0050000\",\"DevAddr\":\"49BE7DF1\",\"FCnt\":7,\"FPort\":1,"
                        "\"FRMPayload\":\"00\",\"MaxDownlinkPayload\":51,\"NextAFCntDown\":1}";
    assert_int_equal(lab_as_uplink_post(as, nokey, strlen(nokey), 0, out, sizeof(out)), 200);
    assert_string_equal(f.last_event, "no key");
    assert_int_equal(f.calls, calls);
    /* a malformed body is the only 400 */
    assert_int_equal(lab_as_uplink_post(as, "{\"DevEUI\":1}", 12, 0, out, sizeof(out)), 400);
    assert_non_null(strstr(out, "DevEUI"));

    lab_as_stats s;
    lab_as_stats_get(as, &s);
    assert_int_equal(s.uplinks, 10);
    assert_int_equal(s.app_uplinks, 6);
    assert_int_equal(s.mls_uplinks, 1);
    assert_int_equal(s.key_errors, 3);
    assert_int_equal(s.bad_requests, 1);
    assert_int_equal(s.relays, 3);
    assert_int_equal(s.relay_refused, 1);
    assert_int_equal(s.relay_errors, 3);
    assert_int_equal(s.downlinks, 1);
    assert_int_equal(s.devices, 1);
    char st[1024];
    assert_int_equal(lab_as_stats_json(as, st, sizeof(st)), LAB_OK);
    o = parse(st);
    assert_int_equal(json_integer_value(json_object_get(o, "relay_refused")), 1);
    assert_null(strstr(st, DEV_EUI)); /* no identifiers on /status */
    json_decref(o);
    lab_as_free(as);
}

static void test_engine_without_relay(void **state)
{
    (void)state;
    fake_idm f = {.http = 200};
    lab_as *as = engine(&f, false);
    char body[1024], out[256];
    uplink_body(body, sizeof(body), "acme-as", ASK_WRAPPED, 2, 1, "95437876", 242, 0);
    assert_int_equal(lab_as_uplink_post(as, body, strlen(body), 0, out, sizeof(out)), 200);
    assert_string_equal(out, "{}");
    assert_int_equal(f.calls, 0);
    lab_as_free(as);
}

static void test_history(void **state)
{
    (void)state;
    fake_idm f = {.http = 200};
    lab_as *as = engine(&f, false);
    char body[1024], out[256], enc[64];
    for (uint32_t i = 0; i < LAB_AS_HISTORY + 6; i++) {
        char plain[16];
        snprintf(plain, sizeof(plain), "%08X", (unsigned)i);
        encrypt_up(i, plain, enc, sizeof(enc));
        snprintf(body, sizeof(body),
                 "{\"DevEUI\":\"%s\",\"DevAddr\":\"%s\",\"AppSKey\":{\"KEKLabel\":\"acme-as\",\"AESKey\":\"%s\"},"
                 "\"FCnt\":%u,\"FPort\":%u,\"FRMPayload\":\"%s\"}",
                 DEV_EUI, DEV_ADDR, ASK_WRAPPED, (unsigned)i, 1 + (unsigned)i % 5, enc);
        assert_int_equal(lab_as_uplink_post(as, body, strlen(body), 1714557600000ULL + i, out, sizeof(out)), 200);
    }
    char *h = NULL;
    assert_int_equal(lab_as_uplinks_get(as, "70b3d57ed0050000", &h), 200);
    json_t *o = parse(h);
    json_t *list = json_object_get(o, "Uplinks");
    assert_int_equal(json_array_size(list), LAB_AS_HISTORY);
    assert_int_equal(json_integer_value(json_object_get(o, "Total")), LAB_AS_HISTORY + 6);
    json_t *first = json_array_get(list, 0), *last = json_array_get(list, LAB_AS_HISTORY - 1);
    assert_int_equal(json_integer_value(json_object_get(first, "FCnt")), 6); /* the 6 oldest went */
    assert_string_equal(json_string_value(json_object_get(first, "FRMPayload")), "00000006");
    assert_int_equal(json_integer_value(json_object_get(last, "FCnt")), LAB_AS_HISTORY + 5);
    assert_string_equal(json_string_value(json_object_get(last, "FRMPayload")), "00000045");
    /* no RecvTime from the NS: the AS's own clock */
    assert_string_equal(json_string_value(json_object_get(first, "RecvTime")), "2024-05-01T10:00:00.006Z");
    json_decref(o);
    free(h);
    assert_int_equal(lab_as_uplinks_get(as, "0000000000000001", &h), 404);
    free(h);
    assert_int_equal(lab_as_uplinks_get(as, "70B3", &h), 400);
    free(h);
    assert_int_equal(lab_as_uplinks_get(as, "70B3D57ED0050000/x", &h), 400);
    free(h);
    lab_as_free(as);
}

static void test_auth(void **state)
{
    (void)state;
    fake_idm f = {.http = 200};
    lab_as *as = engine(&f, false);
    char h[200];
    snprintf(h, sizeof(h), "Bearer %s", TOKEN);
    assert_true(lab_as_authorised(as, h));
    assert_false(lab_as_authorised(as, NULL));
    assert_false(lab_as_authorised(as, TOKEN));
    assert_false(lab_as_authorised(as, "Bearer "));
    assert_false(lab_as_authorised(as, "Bearer ns-to-as-token-012345678")); /* a prefix */
    snprintf(h, sizeof(h), "Bearer %sX", TOKEN);
    assert_false(lab_as_authorised(as, h));
    snprintf(h, sizeof(h), "bearer %s", TOKEN);
    assert_false(lab_as_authorised(as, h));
    lab_as_stats s;
    lab_as_stats_get(as, &s);
    assert_int_equal(s.unauthorised, 6);
    lab_as_free(as);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_ok),
        cmocka_unit_test(test_config_refusals),
        cmocka_unit_test(test_uplink_parse),
        cmocka_unit_test(test_unwrap_and_decrypt_vectors),
        cmocka_unit_test(test_relay_messages),
        cmocka_unit_test(test_downlinks_vector),
        cmocka_unit_test(test_engine_relay),
        cmocka_unit_test(test_engine_without_relay),
        cmocka_unit_test(test_history),
        cmocka_unit_test(test_auth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_hsm.c - the PKCS#11 key service against a real SoftHSM2 token.
 *
 * Every test gets its own deployment: a mkdtemp() directory in which
 * hsm_token_create() writes softhsm2.conf, the PIN files and a fresh token
 * (the library exports SOFTHSM2_CONF itself), then opens it and one session.
 * The teardown closes everything, scans every file of the deployment for the
 * clear bytes of each test key the test handed to the token (register_secret)
 * - none may appear - and removes the directory.
 *
 * LoRaWAN results through the token are compared with the published vectors
 * (lorawan-test-vectors.md V2, V3, V4, V7) and with the software backend.
 * Session keys derived in the token are wrapped under a KEK and unwrapped in
 * software, then compared byte for byte.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <p11-kit/pkcs11.h>

#include "hsm/hsm.h"
#include "lorawan/lorawan.h"
#include "test_util.h"

#define LABEL "ferry-test"

typedef struct fixture {
    char root[64];             /* the mkdtemp() directory = deployment dir */
    hsm_dir_config cfg;
    hsm *h;
    hsm_session *s;
    uint8_t secrets[8][LW_KEY_MAX];
    size_t secret_len[8];
    size_t nsecrets;
} fixture;

/* ---- fixture ----------------------------------------------------------- */

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->root, sizeof(f->root), "/tmp/ferry-hsm-XXXXXX");
    assert_non_null(mkdtemp(f->root));
    hsm_diag d = {0};
    hsm_status st = hsm_token_create(f->root, LABEL, NULL, &d);
    if (st != HSM_OK) {
        char msg[256];
        fail_msg("hsm_token_create: %s", hsm_diag_format(st, &d, msg, sizeof(msg)));
    }
    assert_int_equal(hsm_config_for_dir(f->root, LABEL, &f->cfg), HSM_OK);
    assert_int_equal(hsm_open(&f->cfg.cfg, &f->h, NULL), HSM_OK);
    assert_int_equal(hsm_session_open(f->h, &f->s), HSM_OK);
    *state = f;
    return 0;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* The fixture's secrets, searched for in one file's bytes. */
static fixture *scan_fixture;
static int scan_failures;

static int scan_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)ftw;
    if (flag != FTW_F || sb->st_size == 0)
        return 0;
    FILE *fp = fopen(path, "rb");
    if (fp == NULL)
        return 0;
    uint8_t *buf = malloc((size_t)sb->st_size);
    size_t n = buf != NULL ? fread(buf, 1, (size_t)sb->st_size, fp) : 0;
    fclose(fp);
    for (size_t k = 0; k < scan_fixture->nsecrets; k++) {
        size_t len = scan_fixture->secret_len[k];
        for (size_t i = 0; i + len <= n; i++) {
            if (memcmp(buf + i, scan_fixture->secrets[k], len) == 0) {
                print_error("clear test key %zu found in %s at offset %zu\n", k, path, i);
                scan_failures++;
            }
        }
    }
    free(buf);
    return 0;
}

/* How many times a registered clear key occurs in the deployment's files. */
static int secret_hits(fixture *f)
{
    scan_fixture = f;
    scan_failures = 0;
    assert_int_equal(nftw(f->root, scan_entry, 16, FTW_PHYS), 0);
    return scan_failures;
}

static int teardown(void **state)
{
    fixture *f = *state;
    hsm_session_close(f->s);
    hsm_close(f->h);
    int failures = secret_hits(f);
    nftw(f->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return failures == 0 ? 0 : -1;
}

static void register_secret(fixture *f, const uint8_t *key, size_t len)
{
    assert_true(f->nsecrets < 8);
    memcpy(f->secrets[f->nsecrets], key, len);
    f->secret_len[f->nsecrets++] = len;
}

/* Puts the key written in `hex` into the token the way an operator would
 * (hsm_import_clear -> blob) and returns it as a session object with
 * `role`; *soft (if not NULL) receives the same key for the software backend. */
static void load_key(fixture *f, const char *hex, hsm_key_role role, lw_key *out, lw_key *soft)
{
    uint8_t bytes[LW_KEY_MAX], blob[HSM_BLOB_MAX];
    size_t n = tu_hex(hex, bytes, sizeof(bytes)), blob_len = 0;
    register_secret(f, bytes, n);
    if (soft != NULL)
        assert_int_equal(lw_key_from_bytes(soft, bytes, n), LW_OK);
    assert_int_equal(hsm_import_clear(f->s, bytes, n, blob, sizeof(blob), &blob_len), HSM_OK);
    assert_true(tu_all_zero(bytes, n));   /* the caller's bytes are wiped */
    assert_int_equal(blob_len, n + 8);
    assert_int_equal(hsm_key_unwrap_blob(f->s, role, blob, blob_len, out), HSM_OK);
    assert_true(out->handle != 0);
    assert_true(tu_all_zero(out->material, sizeof(out->material)));
}

static size_t objects(fixture *f)
{
    size_t n = 0;
    assert_int_equal(hsm_session_count_objects(f->s, &n), HSM_OK);
    return n;
}

/* Wraps token key `k` under `kek` and unwraps it in software with kek_soft. */
static void export_to_software(fixture *f, const lw_key *kek, const lw_key *kek_soft, const lw_key *k,
                               lw_key *out)
{
    uint8_t wrapped[HSM_BLOB_MAX];
    assert_int_equal(lw_key_wrap(hsm_session_crypto(f->s), kek, k, wrapped, sizeof(wrapped)), LW_OK);
    assert_int_equal(lw_key_unwrap(lw_crypto_software(), kek_soft, wrapped, 24, out), LW_OK);
}

#define assert_same_key(token_exported, soft) \
    assert_memory_equal((token_exported)->material, (soft)->material, LW_KEY_LEN)

/* ---- the deployment ---------------------------------------------------- */

static void token_create_and_reopen(void **state)
{
    fixture *f = *state;
    lw_key k, again;
    uint8_t blob[HSM_BLOB_MAX], in[16] = {1, 2, 3}, a[16], b[16];
    size_t len = 0;
    assert_int_equal(hsm_key_generate(f->s, HSM_KEY_WORKING, &k), HSM_OK);
    assert_int_equal(hsm_key_wrap_blob(f->s, &k, blob, sizeof(blob), &len), HSM_OK);
    assert_int_equal(len, HSM_BLOB_LEN);
    assert_int_equal(lw_aes_encrypt(hsm_session_crypto(f->s), &k, in, a), LW_OK);
    hsm_key_release(f->s, &k);
    assert_int_equal(k.handle, 0);

    /* Close and open again: the master key persisted, the blob still opens. */
    hsm_session_close(f->s);
    hsm_close(f->h);
    assert_int_equal(hsm_open(&f->cfg.cfg, &f->h, NULL), HSM_OK);
    assert_int_equal(hsm_session_open(f->h, &f->s), HSM_OK);
    assert_int_equal(hsm_key_unwrap_blob(f->s, HSM_KEY_WORKING, blob, len, &again), HSM_OK);
    assert_int_equal(lw_aes_encrypt(hsm_session_crypto(f->s), &again, in, b), LW_OK);
    assert_memory_equal(a, b, 16);
    hsm_key_release(f->s, &again);

    /* softhsm2.conf names the token directory absolutely. */
    char conf[1024] = {0};
    FILE *fp = fopen(f->cfg.conf_path, "r");
    assert_non_null(fp);
    assert_true(fread(conf, 1, sizeof(conf) - 1, fp) > 0);
    fclose(fp);
    assert_non_null(strstr(conf, "directories.tokendir = /"));
    assert_non_null(strstr(conf, "objectstore.backend = file"));

    /* A second set-up in the same directory refuses to overwrite anything. */
    assert_int_equal(hsm_token_create(f->root, LABEL, NULL, NULL), HSM_ERR_EXISTS);
}

static void check_pin_file(const char *dir, const char *name)
{
    char path[PATH_MAX], pin[80] = {0};
    struct stat sb;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(sb.st_mode & (S_IRGRP | S_IROTH | S_IWGRP | S_IWOTH), 0);
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    size_t n = fread(pin, 1, sizeof(pin) - 1, fp);
    fclose(fp);
    assert_int_equal(n, 33);            /* 32 hex digits, newline */
    for (size_t i = 0; i < 32; i++)
        assert_true(tu_nibble(pin[i]) >= 0);
}

static void pin_files_are_private(void **state)
{
    fixture *f = *state;
    check_pin_file(f->root, "so.pin");
    check_pin_file(f->root, "user.pin");
    char path[PATH_MAX];
    struct stat sb;
    snprintf(path, sizeof(path), "%s/tokens", f->root);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0700);

    /* A PIN file others can read is refused, not used. */
    hsm *other = NULL;
    assert_int_equal(chmod(f->cfg.pin_path, 0644), 0);
    assert_int_equal(hsm_open(&f->cfg.cfg, &other, NULL), HSM_ERR_PIN_FILE);
    assert_null(other);
    assert_int_equal(chmod(f->cfg.pin_path, 0600), 0);
}

static void wrong_pin_is_a_clear_error(void **state)
{
    fixture *f = *state;
    /* Log the fixture out first: PKCS#11 logs in per process, not per session. */
    hsm_session_close(f->s);
    hsm_close(f->h);
    f->s = NULL;
    f->h = NULL;
    char wrong[PATH_MAX];
    snprintf(wrong, sizeof(wrong), "%s/wrong.pin", f->root);
    int fd = open(wrong, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "0123456789abcdef\n", 17), 17);
    close(fd);
    hsm_config cfg = f->cfg.cfg;
    cfg.pin_file = wrong;
    hsm_diag d = {0};
    hsm *h = NULL;
    hsm_status st = hsm_open(&cfg, &h, &d);
    assert_int_equal(st, HSM_ERR_PIN_INCORRECT);
    assert_null(h);
    char msg[256];
    hsm_diag_format(st, &d, msg, sizeof(msg));
    assert_non_null(strstr(msg, "C_Login"));
    assert_non_null(strstr(msg, "CKR_PIN_INCORRECT"));
    assert_non_null(strstr(hsm_strerror(st), "CKR_PIN_INCORRECT"));

    /* A missing token label and a missing PIN file are their own errors. */
    cfg = f->cfg.cfg;
    cfg.token_label = "no-such-token";
    assert_int_equal(hsm_open(&cfg, &h, NULL), HSM_ERR_TOKEN_NOT_FOUND);
    cfg = f->cfg.cfg;
    cfg.pin_file = "/nonexistent/user.pin";
    assert_int_equal(hsm_open(&cfg, &h, NULL), HSM_ERR_PIN_FILE);
    /* And the right PIN still works. */
    assert_int_equal(hsm_open(&f->cfg.cfg, &f->h, NULL), HSM_OK);
    assert_int_equal(hsm_session_open(f->h, &f->s), HSM_OK);
}

/* Raw PKCS#11 on the token the fixture opened: the module is already loaded
 * and initialised in this process, so dlopen returns the same instance. */
static CK_FUNCTION_LIST_PTR raw_module(void)
{
    void *dl = dlopen(HSM_DEFAULT_MODULE, RTLD_NOW | RTLD_NOLOAD);
    assert_non_null(dl);
    CK_C_GetFunctionList get = NULL;
    *(void **)&get = dlsym(dl, "C_GetFunctionList");
    assert_non_null(get);
    CK_FUNCTION_LIST_PTR fl = NULL;
    assert_int_equal(get(&fl), CKR_OK);
    dlclose(dl);   /* drops only the reference NOLOAD took */
    return fl;
}

static CK_SESSION_HANDLE raw_session(CK_FUNCTION_LIST_PTR fl)
{
    CK_SLOT_ID slots[16];
    CK_ULONG n = 16;
    assert_int_equal(fl->C_GetSlotList(CK_TRUE, slots, &n), CKR_OK);
    CK_UTF8CHAR want[32];
    memset(want, ' ', 32);
    memcpy(want, LABEL, strlen(LABEL));
    for (CK_ULONG i = 0; i < n; i++) {
        CK_TOKEN_INFO info;
        if (fl->C_GetTokenInfo(slots[i], &info) == CKR_OK && memcmp(info.label, want, 32) == 0) {
            CK_SESSION_HANDLE s;
            assert_int_equal(fl->C_OpenSession(slots[i], CKF_SERIAL_SESSION, NULL, NULL, &s), CKR_OK);
            return s;
        }
    }
    fail_msg("token %s not found", LABEL);
    return 0;
}

static void master_key_is_not_extractable(void **state)
{
    fixture *f = *state;
    CK_FUNCTION_LIST_PTR fl = raw_module();
    CK_SESSION_HANDLE s = raw_session(fl);
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_ATTRIBUTE find[] = {{CKA_CLASS, &cls, sizeof(cls)},
                           {CKA_LABEL, (CK_VOID_PTR)HSM_MASTER_LABEL, strlen(HSM_MASTER_LABEL)}};
    CK_OBJECT_HANDLE master[2];
    CK_ULONG n = 0;
    assert_int_equal(fl->C_FindObjectsInit(s, find, 2), CKR_OK);
    assert_int_equal(fl->C_FindObjects(s, master, 2, &n), CKR_OK);
    assert_int_equal(fl->C_FindObjectsFinal(s), CKR_OK);
    assert_int_equal(n, 1);

    uint8_t value[32];
    CK_ATTRIBUTE v = {CKA_VALUE, value, sizeof(value)};
    assert_int_not_equal(fl->C_GetAttributeValue(s, master[0], &v, 1), CKR_OK);

    CK_BBOOL extractable = 1, sensitive = 0, never = 0, token = 0, encrypt = 1, modifiable = 1;
    CK_ULONG len = 0;
    CK_ATTRIBUTE attrs[] = {
        {CKA_EXTRACTABLE, &extractable, 1}, {CKA_SENSITIVE, &sensitive, 1},
        {CKA_NEVER_EXTRACTABLE, &never, 1}, {CKA_TOKEN, &token, 1},
        {CKA_ENCRYPT, &encrypt, 1},         {CKA_MODIFIABLE, &modifiable, 1},
        {CKA_VALUE_LEN, &len, sizeof(len)},
    };
    assert_int_equal(fl->C_GetAttributeValue(s, master[0], attrs, 7), CKR_OK);
    assert_false(extractable);
    assert_true(sensitive);
    assert_true(never);
    assert_true(token);
    assert_false(encrypt);
    assert_false(modifiable);
    assert_int_equal(len, 32);

    /* Wrapping the master under a KEK of the same token is refused. */
    lw_key kek;
    assert_int_equal(hsm_key_generate(f->s, HSM_KEY_KEK, &kek), HSM_OK);
    CK_MECHANISM wrap = {CKM_AES_KEY_WRAP, NULL, 0};
    uint8_t out[48];
    CK_ULONG out_len = sizeof(out);
    CK_RV rv = fl->C_WrapKey(s, &wrap, kek.handle, master[0], out, &out_len);
    assert_int_equal(rv, CKR_KEY_UNEXTRACTABLE);
    /* Nor can it decrypt a blob directly. */
    CK_MECHANISM ecb = {CKM_AES_ECB, NULL, 0};
    assert_int_equal(fl->C_DecryptInit(s, &ecb, master[0]), CKR_KEY_FUNCTION_NOT_PERMITTED);
    hsm_key_release(f->s, &kek);
    fl->C_CloseSession(s);
}

/* Working keys cannot wrap, KEKs cannot encrypt/decrypt/sign. */
static void roles_are_enforced(void **state)
{
    fixture *f = *state;
    const lw_crypto *c = hsm_session_crypto(f->s);
    lw_key work, kek, other;
    uint8_t in[16] = {0}, out[40];
    assert_int_equal(hsm_key_generate(f->s, HSM_KEY_WORKING, &work), HSM_OK);
    assert_int_equal(hsm_key_generate(f->s, HSM_KEY_WORKING, &other), HSM_OK);
    assert_int_equal(hsm_key_generate(f->s, HSM_KEY_KEK, &kek), HSM_OK);
    assert_int_equal(lw_key_wrap(c, &work, &other, out, sizeof(out)), LW_ERR_KEY);
    hsm_diag d;
    assert_int_equal(hsm_session_last_error(f->s, &d), HSM_ERR_KEY_USE);
    assert_string_equal(d.call, "C_WrapKey");
    assert_int_equal(lw_aes_decrypt(c, &kek, in, out), LW_ERR_KEY);
    assert_int_equal(lw_aes_encrypt(c, &kek, in, out), LW_ERR_KEY);
    assert_int_equal(lw_cmac(c, &kek, in, 16, out), LW_ERR_KEY);
    assert_int_equal(lw_key_wrap(c, &kek, &other, out, 23), LW_ERR_BUFFER);
    assert_int_equal(lw_key_wrap(c, &kek, &other, out, 24), LW_OK);
    hsm_key_release(f->s, &work);
    hsm_key_release(f->s, &other);
    hsm_key_release(f->s, &kek);
}

/* ---- blobs ------------------------------------------------------------- */

static void blob_round_trip(void **state)
{
    fixture *f = *state;
    const lw_crypto *c = hsm_session_crypto(f->s);
    size_t before = objects(f);
    lw_key k, soft, again;
    load_key(f, "2b7e151628aed2a6abf7158809cf4f3c", HSM_KEY_WORKING, &k, &soft);
    uint8_t msg[16], mac[16], mac_soft[16], blob[HSM_BLOB_MAX];
    tu_hex("6bc1bee22e409f96e93d7e117393172a", msg, sizeof(msg));
    assert_int_equal(lw_cmac(c, &k, msg, 16, mac), LW_OK);
    assert_hex_equal(mac, 16, "070a16b46b4d4144f79bdd9dd04a287c");   /* RFC 4493 */
    assert_int_equal(lw_cmac(c, &k, NULL, 0, mac), LW_OK);
    assert_hex_equal(mac, 16, "bb1d6929e95937287fa37d129b756746");

    size_t len = 0;
    assert_int_equal(hsm_key_wrap_blob(f->s, &k, blob, 23, &len), HSM_ERR_BUFFER);
    assert_int_equal(hsm_key_wrap_blob(f->s, &k, blob, sizeof(blob), &len), HSM_OK);
    assert_int_equal(len, 24);
    assert_int_equal(hsm_key_unwrap_blob(f->s, HSM_KEY_WORKING, blob, len, &again), HSM_OK);
    assert_int_equal(lw_cmac(c, &again, msg, 16, mac), LW_OK);
    assert_int_equal(lw_cmac(lw_crypto_software(), &soft, msg, 16, mac_soft), LW_OK);
    assert_memory_equal(mac, mac_soft, 16);

    /* A flipped bit: the integrity check of RFC 3394 fails, no object. */
    blob[5] ^= 0x01;
    lw_key bad;
    assert_int_equal(hsm_key_unwrap_blob(f->s, HSM_KEY_WORKING, blob, len, &bad), HSM_ERR_WRAPPED_INVALID);
    assert_int_equal(bad.handle, 0);
    assert_int_equal(hsm_key_unwrap_blob(f->s, HSM_KEY_WORKING, blob, 23, &bad), HSM_ERR_KEY_INVALID);

    hsm_key_release(f->s, &k);
    hsm_key_release(f->s, &again);
    lw_key_wipe(&soft);
    assert_int_equal(objects(f), before);
}

/* ---- LoRaWAN through the token ----------------------------------------- */

static void join_request_mic_matches_software(void **state)
{
    fixture *f = *state;
    lw_key k, soft;
    load_key(f, "01010101010101010101010101010101", HSM_KEY_WORKING, &k, &soft);   /* V4 */
    uint8_t jr[23], mic[4], mic_soft[4];
    size_t n = tu_hex("00 0807060504030201 0807060504030201 0201", jr, sizeof(jr));
    assert_int_equal(lw_mic_join_request(hsm_session_crypto(f->s), &k, jr, n, mic), LW_OK);
    assert_int_equal(lw_mic_join_request(lw_crypto_software(), &soft, jr, n, mic_soft), LW_OK);
    assert_hex_equal(mic, 4, "e6e10c55");
    assert_memory_equal(mic, mic_soft, 4);
    hsm_key_release(f->s, &k);
}

static void join_accept_10_and_11_match_software(void **state)
{
    fixture *f = *state;
    const lw_crypto *c = hsm_session_crypto(f->s);
    lw_key k, soft;
    load_key(f, "0102030405060708090a0b0c0d0e0f10", HSM_KEY_WORKING, &k, &soft);   /* V2 */
    uint8_t plain[17], wire[17], wire_soft[17], mic[4];

    /* 1.0.x: MIC with NwkKey, then "encrypt" (AES-decrypt) with NwkKey. */
    size_t n = tu_hex("20 010101 020202 04030201 00 00", plain, sizeof(plain));
    assert_int_equal(lw_mic_join_accept_10(c, &k, plain, n, mic), LW_OK);
    assert_hex_equal(mic, 4, "3449f212");
    memcpy(plain + n, mic, 4);
    assert_int_equal(lw_join_accept_encrypt(c, &k, plain, 17, wire, sizeof(wire)), LW_OK);
    assert_int_equal(lw_join_accept_encrypt(lw_crypto_software(), &soft, plain, 17, wire_soft, 17), LW_OK);
    assert_hex_equal(wire, 17, "20 23cf335489aae3183c0be0baa8dee5f3");
    assert_memory_equal(wire, wire_soft, 17);

    /* 1.1 with OptNeg: MIC with JSIntKey (V2 uses the same key). */
    n = tu_hex("20 010101 020202 04030201 80 00", plain, sizeof(plain));
    assert_int_equal(lw_mic_join_accept_11(c, &k, LW_JOIN_REQ_TYPE_JOIN, 0x0807060504030201ull, 258, plain, n,
                                           mic),
                     LW_OK);
    assert_hex_equal(mic, 4, "93ff9a3a");
    memcpy(plain + n, mic, 4);
    assert_int_equal(lw_join_accept_encrypt(c, &k, plain, 17, wire, sizeof(wire)), LW_OK);
    assert_hex_equal(wire, 17, "20 7abeea06b02920f11c02d0348fcf1815");
    hsm_key_release(f->s, &k);
}

#define PEER_KEK "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf"

static void session_keys_10_exported_under_kek(void **state)
{
    fixture *f = *state;
    const lw_crypto *c = hsm_session_crypto(f->s);
    size_t before = objects(f);
    lw_key root, kek, kek_soft, root_soft;
    load_key(f, "01020304050607080102030405060708", HSM_KEY_WORKING, &root, &root_soft);   /* V3 */
    load_key(f, PEER_KEK, HSM_KEY_KEK, &kek, &kek_soft);
    lw_session_keys_10 tok, sw;
    assert_int_equal(lw_derive_session_keys_10(c, &root, 65536, 0x010203, 258, &tok), LW_OK);
    assert_int_equal(lw_derive_session_keys_10(lw_crypto_software(), &root_soft, 65536, 0x010203, 258, &sw), LW_OK);
    assert_true(tu_all_zero(tok.nwk_s_key.material, LW_KEY_MAX));

    lw_key nwk, app;
    export_to_software(f, &kek, &kek_soft, &tok.nwk_s_key, &nwk);
    export_to_software(f, &kek, &kek_soft, &tok.app_s_key, &app);
    assert_key_equal(&nwk, "df53c35f3034ccced0ff354c70de04df");
    assert_key_equal(&app, "927b9c911183cffe4cb2ff4b75545f6d");
    assert_same_key(&nwk, &sw.nwk_s_key);
    assert_same_key(&app, &sw.app_s_key);

    /* The KeyEnvelopes are RFC 3394 exactly: the same bytes as software and
     * as node's crypto (createCipheriv("id-aes128-wrap", PEER_KEK,
     * A6A6A6A6A6A6A6A6) over the V3 keys, computed once and written here). */
    uint8_t a[24], b[24];
    assert_int_equal(lw_key_wrap(c, &kek, &tok.app_s_key, a, sizeof(a)), LW_OK);
    assert_int_equal(lw_key_wrap(lw_crypto_software(), &kek_soft, &sw.app_s_key, b, sizeof(b)), LW_OK);
    assert_memory_equal(a, b, 24);
    assert_hex_equal(a, 24, "516ca33b538edcf019639c57618aa9949bd1e068754fa742");
    assert_int_equal(lw_key_wrap(c, &kek, &tok.nwk_s_key, a, sizeof(a)), LW_OK);
    assert_hex_equal(a, 24, "82abfbe5336c6f4103fcfbff58313e970a86f7dc862d91db");

    lw_session_keys_10_release(c, &tok);
    lw_session_keys_10_release(lw_crypto_software(), &sw);
    hsm_key_release(f->s, &root);
    hsm_key_release(f->s, &kek);
    assert_int_equal(objects(f), before);
}

static void session_keys_11_exported_under_kek(void **state)
{
    fixture *f = *state;
    const lw_crypto *c = hsm_session_crypto(f->s);
    size_t before = objects(f);
    lw_key nwk_key, app_key, kek, kek_soft;
    load_key(f, "01020304050607080102030405060708", HSM_KEY_WORKING, &nwk_key, NULL);   /* V3 */
    load_key(f, "00000000000000000000000000000000", HSM_KEY_WORKING, &app_key, NULL);
    load_key(f, PEER_KEK, HSM_KEY_KEK, &kek, &kek_soft);
    lw_session_keys_11 tok;
    assert_int_equal(lw_derive_session_keys_11(c, &nwk_key, &app_key, 65536, 0x0807060504030201ull, 258, &tok),
                     LW_OK);
    lw_key k;
    export_to_software(f, &kek, &kek_soft, &tok.app_s_key, &k);
    assert_key_equal(&k, "01621215d1ca08febf0c602cc2ad90fa");
    export_to_software(f, &kek, &kek_soft, &tok.f_nwk_s_int_key, &k);
    assert_key_equal(&k, "537f8aae896c79e015d102d06286354e");
    export_to_software(f, &kek, &kek_soft, &tok.s_nwk_s_int_key, &k);
    assert_key_equal(&k, "589498993092cfdb5fd2e02ac7510bf1");
    export_to_software(f, &kek, &kek_soft, &tok.nwk_s_enc_key, &k);
    assert_key_equal(&k, "9898283c4f66eb6c6fd5165882046c40");
    lw_key_wipe(&k);
    lw_session_keys_11_release(c, &tok);

    /* JSIntKey / JSEncKey, V4 (TTS), and the 1.1 join-accept MIC with it. */
    lw_key v4, v4_soft;
    load_key(f, "BEC499C69E9C939E413B663961636C61", HSM_KEY_WORKING, &v4, &v4_soft);
    lw_js_keys js, js_soft;
    assert_int_equal(lw_derive_js_keys(c, &v4, 0x0042004213424341ull, &js), LW_OK);
    assert_int_equal(lw_derive_js_keys(lw_crypto_software(), &v4_soft, 0x0042004213424341ull, &js_soft), LW_OK);
    export_to_software(f, &kek, &kek_soft, &js.js_int_key, &k);
    assert_key_equal(&k, "CB8E9EE114C3FB5CE472A5AA13AB1855");
    export_to_software(f, &kek, &kek_soft, &js.js_enc_key, &k);
    assert_key_equal(&k, "BB711EEFB9829B4A75866F8616BACD6D");
    uint8_t ja[13], mic[4], mic_soft[4];
    size_t n = tu_hex("20 030201 030201 04030201 00 01", ja, sizeof(ja));
    assert_int_equal(lw_mic_join_accept_11(c, &js.js_int_key, 0xFF, 0x0000001223224242ull, 0x7369, ja, n, mic),
                     LW_OK);
    assert_int_equal(lw_mic_join_accept_11(lw_crypto_software(), &js_soft.js_int_key, 0xFF, 0x0000001223224242ull,
                                           0x7369, ja, n, mic_soft),
                     LW_OK);
    assert_memory_equal(mic, mic_soft, 4);
    lw_key_wipe(&k);
    lw_js_keys_release(c, &js);
    lw_js_keys_release(lw_crypto_software(), &js_soft);
    hsm_key_release(f->s, &v4);
    hsm_key_release(f->s, &nwk_key);
    hsm_key_release(f->s, &app_key);
    hsm_key_release(f->s, &kek);
    assert_int_equal(objects(f), before);
}

/* ---- imports ----------------------------------------------------------- */

#define RFC3394_KEK "000102030405060708090A0B0C0D0E0F"
#define RFC3394_KEY "00112233445566778899AABBCCDDEEFF"
#define RFC3394_WRAPPED "1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5"

static void key_envelope_import_rfc3394(void **state)
{
    fixture *f = *state;
    const lw_crypto *c = hsm_session_crypto(f->s);
    size_t before = objects(f);
    lw_key kek, key_soft;
    load_key(f, RFC3394_KEK, HSM_KEY_KEK, &kek, NULL);
    uint8_t clear[16];
    tu_hex(RFC3394_KEY, clear, sizeof(clear));
    register_secret(f, clear, 16);
    assert_int_equal(lw_key_from_bytes(&key_soft, clear, 16), LW_OK);

    uint8_t env[24], blob[HSM_BLOB_MAX];
    size_t len = 0;
    tu_hex(RFC3394_WRAPPED, env, sizeof(env));
    assert_int_equal(hsm_import_wrapped(f->s, &kek, env, 24, blob, sizeof(blob), &len), HSM_OK);
    assert_int_equal(len, 24);
    assert_int_equal(objects(f), before + 1);   /* only the KEK: the transient object is gone */

    lw_key imported;
    assert_int_equal(hsm_key_unwrap_blob(f->s, HSM_KEY_WORKING, blob, len, &imported), HSM_OK);
    uint8_t msg[19] = "join-request bytes", mac[16], mac_soft[16];
    assert_int_equal(lw_cmac(c, &imported, msg, sizeof(msg), mac), LW_OK);
    assert_int_equal(lw_cmac(lw_crypto_software(), &key_soft, msg, sizeof(msg), mac_soft), LW_OK);
    assert_memory_equal(mac, mac_soft, 16);

    /* And back out under the same KEK: the RFC's own ciphertext. */
    uint8_t out[24];
    assert_int_equal(lw_key_wrap(c, &kek, &imported, out, sizeof(out)), LW_OK);
    assert_hex_equal(out, 24, RFC3394_WRAPPED);

    hsm_key_release(f->s, &imported);
    hsm_key_release(f->s, &kek);
    lw_key_wipe(&key_soft);
    assert_int_equal(objects(f), before);
}

static void wrong_transport_kek_stores_nothing(void **state)
{
    fixture *f = *state;
    size_t before = objects(f);
    lw_key wrong;
    load_key(f, "0f0e0d0c0b0a09080706050403020100", HSM_KEY_KEK, &wrong, NULL);
    uint8_t env[24], blob[HSM_BLOB_MAX];
    size_t len = 0;
    memset(blob, 0x55, sizeof(blob));
    tu_hex(RFC3394_WRAPPED, env, sizeof(env));
    hsm_status st = hsm_import_wrapped(f->s, &wrong, env, 24, blob, sizeof(blob), &len);
    assert_int_equal(st, HSM_ERR_WRAPPED_INVALID);
    assert_true(tu_all_zero(blob, sizeof(blob)));
    assert_int_equal(objects(f), before + 1);   /* the KEK only */
    hsm_diag d;
    assert_int_equal(hsm_session_last_error(f->s, &d), HSM_ERR_WRAPPED_INVALID);
    assert_string_equal(d.call, "C_UnwrapKey");
    char msg[256];
    hsm_diag_format(st, &d, msg, sizeof(msg));
    assert_non_null(strstr(msg, "C_UnwrapKey returned CKR_"));
    assert_non_null(strstr(msg, "integrity check"));

    /* Through the LoRaWAN interface the same failure is LW_ERR_MIC. */
    lw_key k;
    assert_int_equal(lw_key_unwrap(hsm_session_crypto(f->s), &wrong, env, 24, &k), LW_ERR_MIC);
    assert_int_equal(k.handle, 0);
    hsm_key_release(f->s, &wrong);
    assert_int_equal(objects(f), before);
}

static void import_clear_rejects_bad_lengths_and_wipes(void **state)
{
    fixture *f = *state;
    uint8_t key[17], blob[HSM_BLOB_MAX];
    size_t len = 0;
    memset(key, 0x42, sizeof(key));
    assert_int_equal(hsm_import_clear(f->s, key, 17, blob, sizeof(blob), &len), HSM_ERR_KEY_INVALID);
    assert_true(tu_all_zero(key, sizeof(key)));
    memset(key, 0x42, sizeof(key));
    assert_int_equal(hsm_import_clear(f->s, key, 16, blob, 23, &len), HSM_ERR_BUFFER);
    assert_true(tu_all_zero(key, 16));
}

/* ---- threads ----------------------------------------------------------- */

typedef struct worker {
    hsm *h;
    const uint8_t *blob;
    const lw_key *soft;
    uint8_t seed;
    int mismatches;
    hsm_status status;
} worker;

static void *run_worker(void *arg)
{
    worker *w = arg;
    hsm_session *s = NULL;
    lw_key k;
    w->status = hsm_session_open(w->h, &s);
    if (w->status == HSM_OK)
        w->status = hsm_key_unwrap_blob(s, HSM_KEY_WORKING, w->blob, HSM_BLOB_LEN, &k);
    for (unsigned i = 0; w->status == HSM_OK && i < 1000; i++) {
        uint8_t msg[19], mac[16], ref[16];
        for (size_t j = 0; j < sizeof(msg); j++)
            msg[j] = (uint8_t)(w->seed + i * 7 + j);
        if (lw_cmac(hsm_session_crypto(s), &k, msg, sizeof(msg), mac) != LW_OK ||
            lw_cmac(lw_crypto_software(), w->soft, msg, sizeof(msg), ref) != LW_OK ||
            memcmp(mac, ref, 16) != 0)
            w->mismatches++;
    }
    if (s != NULL) {
        hsm_key_release(s, &k);
        hsm_session_close(s);
    }
    return NULL;
}

static void two_threads_own_sessions(void **state)
{
    fixture *f = *state;
    uint8_t bytes[16], blob[HSM_BLOB_MAX];
    size_t len = 0;
    lw_key soft;
    tu_hex("98929b92c49edba9676d646d3b612456", bytes, sizeof(bytes));   /* V1 AppKey */
    register_secret(f, bytes, 16);
    assert_int_equal(lw_key_from_bytes(&soft, bytes, 16), LW_OK);
    assert_int_equal(hsm_import_clear(f->s, bytes, 16, blob, sizeof(blob), &len), HSM_OK);
    worker w[2] = {{f->h, blob, &soft, 1, 0, HSM_OK}, {f->h, blob, &soft, 99, 0, HSM_OK}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, run_worker, &w[i]), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(w[i].status, HSM_OK);
        assert_int_equal(w[i].mismatches, 0);
    }
    lw_key_wipe(&soft);
}

/* The teardown's scan is only worth something if it finds a planted key. */
static void secret_scan_finds_a_planted_key(void **state)
{
    fixture *f = *state;
    uint8_t key[16], junk[64];
    tu_hex("c0ffee00112233445566778899aabbcc", key, sizeof(key));
    register_secret(f, key, 16);
    assert_int_equal(secret_hits(f), 0);
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/tokens/planted", f->root);
    memset(junk, 0x33, sizeof(junk));
    memcpy(junk + 21, key, 16);
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(junk, 1, sizeof(junk), fp), sizeof(junk));
    fclose(fp);
    assert_int_equal(secret_hits(f), 1);
    assert_int_equal(unlink(path), 0);
}

/* In a child, so the test process itself stays debuggable. */
static void process_harden_disables_core_dumps(void **state)
{
    (void)state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct rlimit rl;
        int ok = hsm_process_harden() == HSM_OK && getrlimit(RLIMIT_CORE, &rl) == 0 && rl.rlim_cur == 0 &&
                 rl.rlim_max == 0 && prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0;
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* ---- statuses ---------------------------------------------------------- */

static void every_status_has_a_sentence(void **state)
{
    (void)state;
    for (int i = 0; i < HSM_STATUS_COUNT; i++) {
        assert_non_null(hsm_strerror((hsm_status)i));
        assert_string_not_equal(hsm_strerror((hsm_status)i), "unknown hsm status");
    }
    assert_string_equal(hsm_ckr_name(CKR_PIN_INCORRECT), "CKR_PIN_INCORRECT");
    assert_int_equal(hsm_status_from_ckr(CKR_PIN_INCORRECT), HSM_ERR_PIN_INCORRECT);
    assert_int_equal(hsm_status_from_ckr(CKR_WRAPPED_KEY_INVALID), HSM_ERR_WRAPPED_INVALID);
    assert_int_equal(hsm_status_from_ckr(0x12345678ul), HSM_ERR_PKCS11);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(token_create_and_reopen),
        T(pin_files_are_private),
        T(wrong_pin_is_a_clear_error),
        T(master_key_is_not_extractable),
        T(roles_are_enforced),
        T(blob_round_trip),
        T(join_request_mic_matches_software),
        T(join_accept_10_and_11_match_software),
        T(session_keys_10_exported_under_kek),
        T(session_keys_11_exported_under_kek),
        T(key_envelope_import_rfc3394),
        T(wrong_transport_kek_stores_nothing),
        T(import_clear_rejects_bad_lengths_and_wipes),
        T(two_threads_own_sessions),
        T(secret_scan_finds_a_planted_key),
        cmocka_unit_test(process_harden_disables_core_dumps),
        cmocka_unit_test(every_status_has_a_sentence),
    };
    return cmocka_run_group_tests_name("hsm", tests, NULL, NULL);
}

/*
 * idm_profile.c - profiles prepared per second for `make bench`
 * (bench/idm_profile.sh makes the deployment: ferry init, KEKs, SEs
 * personalised by `ferry hsa personalise` and imported with `ferry idm
 * import`).
 *
 *   idm_profile run DIR KEK BASE COUNT SECONDS [RECYCLE]
 *       in turn, a batch at a time, until each has had SECONDS of timed work:
 *     - idm_profile_prepare() (src/idm/idm_ota.h), the token work of
 *       idm_provision for one SE: customer root keys generated in the token,
 *       the customer JS's device line (KeyEnvelopes under KEK, read from the
 *       store as idm_provision does), the SE's MLS session opened (root
 *       unwrapped, five purpose keys, WrapDown as a KEK), the keys wrapped
 *       under WrapDown, one INSTALL (activating at once) sealed; nothing posted or stored;
 *     - the PKCS#11 floor: the same calls through the hsm API and the
 *       token's lw_crypto directly, no JSON, no MLS code, no store, no wipes
 *       (see floor_one).
 *   idm_profile count DIR KEK BASE COUNT
 *       both of the above on COUNT SEs with every PKCS#11 call counted (the
 *       module's function list patched in this process), per profile: the
 *       check that the floor does the same token work as the product.
 *
 * The SEs are DevEUIs BASE .. BASE+COUNT-1 of DIR's IDM (all of one MAC
 * version), read once with store_idm_se_get / store_idm_ota_get; the loops
 * go round them. SoftHSM2 frees a destroyed object's memory only at
 * C_Finalize (src/idm/idm.h, IDM_RECYCLE_EVERY), so the token is closed and
 * reopened every RECYCLE profiles of the two loops together (default 2000,
 * 0 = never), outside the timed parts. Each mode prints one line of JSON.
 */
#include <dlfcn.h>
#include <p11-kit/pkcs11.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "idm/idm_ota.h"
#include "js/js.h"
#include "mls/mls.h"

#define BATCH 50
#define WARMUP 20

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static long peak_rss_kb(void)
{
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : -1;
}

typedef struct bench {
    js_config *cfg;
    hsm_config hc;
    hsm *h;
    hsm_session *s;
    store *db;
    store_idm_js js;      /* the customer JS, in memory */
    store_kek kek;        /* its KEK's blob (the floor's; prepare reads its own) */
    idm_policy pol;
    size_t n;
    store_idm_se *se;
    store_idm_ota *ota;
    bool v11;
    size_t body_len;      /* the INSTALL body, as the product seals it */
    unsigned reopens;
} bench;

static int token_open(bench *b)
{
    hsm_diag diag = {0};
    char line[200];
    hsm_status hs = hsm_open(&b->hc, &b->h, &diag);
    if (hs == HSM_OK)
        hs = hsm_session_open(b->h, &b->s);
    if (hs != HSM_OK) {
        fprintf(stderr, "idm_profile: key service: %s\n", hsm_diag_format(hs, &diag, line, sizeof line));
        return 1;
    }
    return 0;
}

static void token_close(bench *b)
{
    hsm_session_close(b->s);
    hsm_close(b->h);
    b->s = NULL;
    b->h = NULL;
}

static int token_reopen(bench *b)
{
    token_close(b);
    b->reopens++;
    return token_open(b);
}

/* ---------------------------------------------------------------- product */

static bool prepare_one(bench *b, size_t i, store_idm_cmd *cmd)
{
    char line[1024], err[IDM_ERR_MAX];
    idm_status st = idm_profile_prepare(b->s, b->db, &b->se[i], &b->js, &b->ota[i], &b->pol, line, sizeof line, cmd,
                                        err);
    if (st != IDM_OK)
        fprintf(stderr, "idm_profile: idm_profile_prepare(%016llX): %s: %s\n", (unsigned long long)b->se[i].dev_eui,
                idm_strerror(st), err);
    return st == IDM_OK;
}

/* ------------------------------------------------------------------ floor
 * The PKCS#11 calls of one idm_profile_prepare, in its order, and nothing
 * else (counted against the product by `idm_profile count`):
 *   hsm_key_generate NwkKey [AppKey]           C_GenerateKey
 *   hsm_key_wrap_blob of each (master key)     C_WrapKey
 *   hsm_key_unwrap_blob of the JS's KEK        C_UnwrapKey
 *   lw_key_wrap of each under it               C_WrapKey
 *   release the KEK                            C_DestroyObject
 *   hsm_key_unwrap_blob of the MLS root        C_UnwrapKey
 *   lw_derive x5 (mls_keys_derive's labels)    C_DeriveKey
 *   WrapDown released, hsm_key_derive as KEK   C_DestroyObject, C_DeriveKey
 *   release the root                           C_DestroyObject
 *   lw_key_wrap of each under WrapDown         C_WrapKey
 *   one seal (INSTALL, activating at once): AES-CTR block by block (one
 *   lw_aes_encrypt per 16 bytes of body) and one CMAC over
 *   DevEUI|header|ciphertext
 *                                              C_EncryptInit+C_Encrypt, C_SignInit+C_Sign
 *   release the five MLS keys and the profile keys   C_DestroyObject
 */
static void derive_block(uint8_t block[16], uint8_t label, uint64_t dev_eui, uint8_t epoch)
{
    memset(block, 0, 16);
    block[0] = label;
    for (int i = 0; i < 8; i++)
        block[1 + i] = (uint8_t)(dev_eui >> (56 - 8 * i));
    block[9] = epoch;
}

static bool seal_floor(const lw_crypto *c, const lw_key *enc, const lw_key *mac, uint64_t dev_eui, uint8_t epoch,
                       uint32_t counter, size_t body_len)
{
    uint8_t in[8 + MLS_MSG_MAX], block[16], stream[16], tag[16];
    memset(in, 0, 8 + MLS_HEADER_LEN + body_len);
    memset(block, 0, sizeof block);
    for (int i = 0; i < 8; i++)
        block[i] = in[i] = (uint8_t)(dev_eui >> (56 - 8 * i));
    block[9] = epoch;
    for (int i = 0; i < 4; i++)
        block[10 + i] = (uint8_t)(counter >> (24 - 8 * i));
    bool ok = true;
    for (size_t off = 0, i = 0; ok && off < body_len; off += 16, i++) {
        block[14] = (uint8_t)(i >> 8);
        block[15] = (uint8_t)i;
        ok = lw_aes_encrypt(c, enc, block, stream) == LW_OK;
        size_t n = body_len - off < 16 ? body_len - off : 16;
        memcpy(in + 8 + MLS_HEADER_LEN + off, stream, n);
    }
    return ok && lw_cmac(c, mac, in, 8 + MLS_HEADER_LEN + body_len, tag) == LW_OK;
}

static bool floor_one(bench *b, size_t i)
{
    hsm_session *s = b->s;
    const lw_crypto *c = hsm_session_crypto(s);
    const store_idm_se *se = &b->se[i];
    uint8_t epoch = b->ota[i].epoch;
    lw_key nwk = {0}, app = {0}, kk = {0}, root = {0};
    lw_key *mk[5];
    mls_keys k;
    memset(&k, 0, sizeof k);
    mk[0] = &k.enc_down, mk[1] = &k.mac_down, mk[2] = &k.wrap_down, mk[3] = &k.enc_up, mk[4] = &k.mac_up;
    static const uint8_t labels[5] = {MLS_LABEL_ENC_DOWN, MLS_LABEL_MAC_DOWN, MLS_LABEL_WRAP_DOWN, MLS_LABEL_ENC_UP,
                                      MLS_LABEL_MAC_UP};
    uint8_t blob[HSM_BLOB_MAX], w[HSM_BLOB_MAX], block[16];
    size_t bl = 0;
    bool v11 = b->v11;
    bool ok = hsm_key_generate(s, HSM_KEY_WORKING, &nwk) == HSM_OK &&
              (!v11 || hsm_key_generate(s, HSM_KEY_WORKING, &app) == HSM_OK) &&
              hsm_key_wrap_blob(s, &nwk, blob, sizeof blob, &bl) == HSM_OK &&
              (!v11 || hsm_key_wrap_blob(s, &app, blob, sizeof blob, &bl) == HSM_OK);
    ok = ok && hsm_key_unwrap_blob(s, HSM_KEY_KEK, b->kek.key.data, b->kek.key.len, &kk) == HSM_OK &&
         lw_key_wrap(c, &kk, &nwk, w, sizeof w) == LW_OK && (!v11 || lw_key_wrap(c, &kk, &app, w, sizeof w) == LW_OK);
    hsm_key_release(s, &kk);
    ok = ok && hsm_key_unwrap_blob(s, HSM_KEY_WORKING, se->mls_key.data, se->mls_key.len, &root) == HSM_OK;
    for (int j = 0; ok && j < 5; j++) {
        derive_block(block, labels[j], se->dev_eui, epoch);
        ok = lw_derive(c, &root, block, mk[j]) == LW_OK;
    }
    if (ok) {
        lw_key_release(c, &k.wrap_down);
        derive_block(block, MLS_LABEL_WRAP_DOWN, se->dev_eui, epoch);
        ok = hsm_key_derive(s, HSM_KEY_KEK, &root, block, &k.wrap_down) == HSM_OK;
    }
    hsm_key_release(s, &root);
    ok = ok && lw_key_wrap(c, &k.wrap_down, &nwk, w, sizeof w) == LW_OK &&
         (!v11 || lw_key_wrap(c, &k.wrap_down, &app, w, sizeof w) == LW_OK);
    uint32_t tx = b->ota[i].tx_next;
    ok = ok && seal_floor(c, &k.enc_down, &k.mac_down, se->dev_eui, epoch, tx, b->body_len);
    for (int j = 0; j < 5; j++)
        if (mk[j]->handle != 0)
            lw_key_release(c, mk[j]);
    hsm_key_release(s, &nwk);
    hsm_key_release(s, &app);
    if (!ok)
        fprintf(stderr, "idm_profile: the floor's token calls failed for %016llX\n", (unsigned long long)se->dev_eui);
    return ok;
}

/* ------------------------------------------------------ counting PKCS#11
 * The module's own function list (SoftHSM2's is a static table in its data)
 * gets counting wrappers for every call the hsm layer makes on a key; the
 * hsm layer then calls through them. Only in `count` mode. */
#define P11_CALLS(X)                                                                                                \
    X(C_GenerateKey, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_ATTRIBUTE_PTR c, CK_ULONG d,                      \
                      CK_OBJECT_HANDLE_PTR e), (a, b, c, d, e))                                                     \
    X(C_WrapKey, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c, CK_OBJECT_HANDLE d, CK_BYTE_PTR e,    \
                  CK_ULONG_PTR f), (a, b, c, d, e, f))                                                              \
    X(C_UnwrapKey, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c, CK_BYTE_PTR d, CK_ULONG e,         \
                    CK_ATTRIBUTE_PTR f, CK_ULONG g, CK_OBJECT_HANDLE_PTR h), (a, b, c, d, e, f, g, h))              \
    X(C_DeriveKey, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c, CK_ATTRIBUTE_PTR d, CK_ULONG e,    \
                    CK_OBJECT_HANDLE_PTR f), (a, b, c, d, e, f))                                                    \
    X(C_DestroyObject, (CK_SESSION_HANDLE a, CK_OBJECT_HANDLE b), (a, b))                                          \
    X(C_CreateObject, (CK_SESSION_HANDLE a, CK_ATTRIBUTE_PTR b, CK_ULONG c, CK_OBJECT_HANDLE_PTR d), (a, b, c, d))  \
    X(C_GetAttributeValue, (CK_SESSION_HANDLE a, CK_OBJECT_HANDLE b, CK_ATTRIBUTE_PTR c, CK_ULONG d), (a, b, c, d)) \
    X(C_FindObjectsInit, (CK_SESSION_HANDLE a, CK_ATTRIBUTE_PTR b, CK_ULONG c), (a, b, c))                          \
    X(C_FindObjects, (CK_SESSION_HANDLE a, CK_OBJECT_HANDLE_PTR b, CK_ULONG c, CK_ULONG_PTR d), (a, b, c, d))       \
    X(C_EncryptInit, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c), (a, b, c))                      \
    X(C_Encrypt, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e), (a, b, c, d, e))  \
    X(C_DecryptInit, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c), (a, b, c))                      \
    X(C_Decrypt, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e), (a, b, c, d, e))  \
    X(C_SignInit, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c), (a, b, c))                         \
    X(C_Sign, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e), (a, b, c, d, e))

enum {
#define X_ENUM(name, params, args) I_##name,
    P11_CALLS(X_ENUM) P11_N
#undef X_ENUM
};
static const char *const p11_names[P11_N] = {
#define X_NAME(name, params, args) #name,
    P11_CALLS(X_NAME)
#undef X_NAME
};
static unsigned long p11_count[P11_N];
static CK_FUNCTION_LIST p11_real;

#define X_WRAP(name, params, args)                                                                                  \
    static CK_RV count_##name params                                                                                \
    {                                                                                                               \
        p11_count[I_##name]++;                                                                                      \
        return p11_real.name args;                                                                                  \
    }
P11_CALLS(X_WRAP)
#undef X_WRAP

/* dlopen()s the module before hsm_open does (same handle, kept loaded) and
 * patches its function list in place. */
static int p11_patch(const char *module)
{
    void *dl = dlopen(module, RTLD_NOW | RTLD_LOCAL);
    CK_C_GetFunctionList get = NULL;
    if (dl != NULL)
        *(void **)&get = dlsym(dl, "C_GetFunctionList");
    CK_FUNCTION_LIST_PTR f = NULL;
    if (get == NULL || get(&f) != CKR_OK || f == NULL) {
        fprintf(stderr, "idm_profile count: cannot load %s\n", module);
        return 1;
    }
    long page = sysconf(_SC_PAGESIZE);
    uintptr_t lo = (uintptr_t)f & ~(uintptr_t)(page - 1);
    uintptr_t hi = ((uintptr_t)(f + 1) + (uintptr_t)page - 1) & ~(uintptr_t)(page - 1);
    if (mprotect((void *)lo, hi - lo, PROT_READ | PROT_WRITE) != 0) {
        perror("idm_profile count: mprotect");
        return 1;
    }
    p11_real = *f;
#define X_SET(name, params, args) f->name = count_##name;
    P11_CALLS(X_SET)
#undef X_SET
    return 0;
}

static void p11_print(const char *what, unsigned long per)
{
    unsigned long total = 0;
    printf("\"%s\":{", what);
    for (int i = 0; i < P11_N; i++) {
        if (p11_count[i] == 0)
            continue;
        printf("\"%s\":%.2f,", p11_names[i], (double)p11_count[i] / (double)per);
        total += p11_count[i];
    }
    printf("\"total\":%.2f}", (double)total / (double)per);
    memset(p11_count, 0, sizeof p11_count);
}

/* ------------------------------------------------------------------- runs */

/* Both loops in one process, a batch of each in turn until each has had
 * `seconds` of timed work: load from elsewhere on the machine then falls on
 * both sides alike, and the ratio means something even when the figures
 * move. */
static int run_both(bench *b, double seconds, unsigned recycle)
{
    store_idm_cmd *cmd = malloc(sizeof *cmd);
    if (cmd == NULL)
        return 1;
    size_t ops[2] = {0, 0}; /* [0] floor, [1] prepare */
    double timed[2] = {0, 0};
    for (size_t w = 0; w < WARMUP; w++)
        if (!floor_one(b, w % b->n) || !prepare_one(b, w % b->n, cmd))
            goto fail;
    if (token_reopen(b) != 0)
        goto fail;
    b->reopens = 0;
    size_t since = 0; /* profiles made in this token session, both loops */
    while (timed[0] < seconds || timed[1] < seconds) {
        for (int side = 0; side < 2; side++) {
            double t0 = now_s();
            for (int k = 0; k < BATCH; k++, ops[side]++)
                if (!(side == 0 ? floor_one(b, ops[0] % b->n) : prepare_one(b, ops[1] % b->n, cmd)))
                    goto fail;
            timed[side] += now_s() - t0;
            since += BATCH;
        }
        if (recycle != 0 && since >= recycle) {
            since = 0;
            if (token_reopen(b) != 0)
                goto fail;
        }
    }
    free(cmd);
    printf("{\"mode\":\"run\",\"mac\":\"%s\",\"ses\":%zu,\"reopens\":%u,\"recycle\":%u,\"peak_rss_kb\":%ld",
           store_mac_version_name(b->se[0].mac_version), b->n, b->reopens, recycle, peak_rss_kb());
    for (int side = 0; side < 2; side++)
        printf(",\"%s\":{\"ops\":%zu,\"seconds\":%.2f,\"per_s\":%.1f,\"us_per_op\":%.1f}",
               side == 0 ? "floor" : "prepare", ops[side], timed[side], (double)ops[side] / timed[side],
               timed[side] * 1e6 / (double)ops[side]);
    printf("}\n");
    return 0;
fail:
    free(cmd);
    return 1;
}

static int run_count(bench *b)
{
    store_idm_cmd *cmd = malloc(sizeof *cmd);
    if (cmd == NULL)
        return 1;
    memset(p11_count, 0, sizeof p11_count);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < b->n; i++)
        rc = prepare_one(b, i, cmd) ? 0 : 1;
    printf("{\"mode\":\"count\",\"mac\":\"%s\",\"profiles\":%zu,", store_mac_version_name(b->se[0].mac_version),
           b->n);
    p11_print("prepare", b->n);
    for (size_t i = 0; rc == 0 && i < b->n; i++)
        rc = floor_one(b, i) ? 0 : 1;
    printf(",");
    p11_print("floor", b->n);
    size_t left = 0;
    if (hsm_session_count_objects(b->s, &left) == HSM_OK)
        printf(",\"session_objects_left\":%zu", left);
    printf("}\n");
    free(cmd);
    return rc;
}

static int setup(bench *b, const char *dir, const char *kek_label, uint64_t base, size_t n)
{
    char err[JS_ERR_MAX];
    b->cfg = calloc(1, sizeof *b->cfg);
    b->se = calloc(n, sizeof *b->se);
    b->ota = calloc(n, sizeof *b->ota);
    if (b->cfg == NULL || b->se == NULL || b->ota == NULL || n == 0)
        return 1;
    if (js_config_load(dir, b->cfg, err) != JS_OK) {
        fprintf(stderr, "idm_profile: %s\n", err);
        return 1;
    }
    b->hc = (hsm_config){
        .module = b->cfg->pkcs11_module[0] ? b->cfg->pkcs11_module : NULL,
        .softhsm_conf = b->cfg->softhsm_conf[0] ? b->cfg->softhsm_conf : NULL,
        .token_label = b->cfg->token_label,
        .pin_file = b->cfg->pin_file,
    };
    store_status ss = store_open(b->cfg->database, &b->db);
    if (ss == STORE_OK)
        ss = store_kek_get(b->db, kek_label, &b->kek);
    if (ss != STORE_OK) {
        fprintf(stderr, "idm_profile: database or KEK %s: %s\n", kek_label, store_strerror(ss));
        return 1;
    }
    for (size_t i = 0; i < n; i++) {
        ss = store_idm_se_get(b->db, base + i, &b->se[i]);
        if (ss == STORE_OK) {
            ss = store_idm_ota_get(b->db, base + i, &b->ota[i]);
            if (ss == STORE_ERR_NOT_FOUND)
                ss = STORE_OK; /* the fresh state, as idm_provision uses it */
        }
        if (ss != STORE_OK || b->se[i].mac_version != b->se[0].mac_version) {
            fprintf(stderr, "idm_profile: SE %016llX: %s\n", (unsigned long long)(base + i),
                    ss != STORE_OK ? store_strerror(ss) : "another MAC version than the first");
            return 1;
        }
    }
    b->n = n;
    b->v11 = b->se[0].mac_version == STORE_MAC_1_1;
    /* The customer JS as `idm js add` would record it; the admin URL and
     * token are not used by idm_profile_prepare. */
    snprintf(b->js.id, sizeof b->js.id, "bench-js");
    snprintf(b->js.tenant_id, sizeof b->js.tenant_id, "bench");
    snprintf(b->js.kek_label, sizeof b->js.kek_label, "%s", kek_label);
    snprintf(b->js.ns_kek_label, sizeof b->js.ns_kek_label, "bench-ns");
    b->js.join_eui = 0x70B3D57ED00A0000ull;
    b->js.home_net_id = 0x000013;
    b->pol = (idm_policy)IDM_POLICY_DEFAULT;
    return 0;
}

/* One product profile, to check it works and to learn the sealed bodies'
 * lengths for the floor. */
static int learn_bodies(bench *b)
{
    store_idm_cmd *cmd = malloc(sizeof *cmd);
    if (cmd == NULL || !prepare_one(b, 0, cmd)) {
        free(cmd);
        return 1;
    }
    b->body_len = cmd->msg_len - MLS_OVERHEAD;
    free(cmd);
    return 0;
}

int main(int argc, char **argv)
{
    bool count = argc == 6 && strcmp(argv[1], "count") == 0;
    bool run = (argc == 7 || argc == 8) && strcmp(argv[1], "run") == 0;
    if (!count && !run) {
        fprintf(stderr, "usage: idm_profile run DIR KEK DEV_EUI_BASE COUNT SECONDS [RECYCLE]\n"
                        "       idm_profile count DIR KEK DEV_EUI_BASE COUNT\n");
        return 2;
    }
    bench b;
    memset(&b, 0, sizeof b);
    uint64_t base = strtoull(argv[4], NULL, 16);
    size_t n = strtoul(argv[5], NULL, 10);
    if (setup(&b, argv[2], argv[3], base, n) != 0)
        return 1;
    if (count && p11_patch(b.hc.module != NULL ? b.hc.module : HSM_DEFAULT_MODULE) != 0)
        return 1;
    if (token_open(&b) != 0 || learn_bodies(&b) != 0)
        return 1;
    int rc;
    if (count) {
        rc = run_count(&b);
    } else {
        unsigned recycle = argc == 8 ? (unsigned)strtoul(argv[7], NULL, 10) : 2000;
        recycle = recycle / BATCH * BATCH;
        rc = run_both(&b, atof(argv[6]), recycle);
    }
    token_close(&b);
    store_close(b.db);
    free(b.se);
    free(b.ota);
    free(b.cfg);
    return rc;
}

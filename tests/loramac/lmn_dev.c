/*
 * lmn_dev.c - a device running LoRaMac-node v4.7.0's end-device crypto,
 * built unmodified on the host (src/mac/LoRaMacCrypto.c, LoRaMacParser.c,
 * LoRaMacSerializer.c, src/peripherals/soft-se/), for tests that want to
 * know what a device running Semtech's stack does with ferry's frames.
 *
 * The stack's non-volatile state (LoRaMacCryptoNvmData_t: DevNonce, the
 * last JoinNonce accepted, frame counters; SecureElementNvmData_t: EUIs and
 * keys) lives in a file, read at the start of each run and written back at
 * the end, as a device restores its NVM at boot and saves it when the stack
 * signals a change. A missing file is a factory-fresh device: the crypto's
 * own LoRaMacCryptoInit defaults (stored JoinNonce 0).
 *
 *   lmn_dev NVM join-request  --dev-eui D --join-eui J --nwk-key K [--app-key A] [--dev-nonce N]
 *   lmn_dev NVM join-accept   HEX
 *   lmn_dev NVM show
 *
 * join-request: the root keys and EUIs go into the soft secure element (what
 *   the ferry element does when it switches profile; the stack's crypto NVM
 *   stays as it is), then LoRaMacCryptoPrepareJoinRequest makes the frame. The
 *   stack increments its DevNonce before each request; --dev-nonce N makes
 *   this request carry N (the NVM of a device that sent N - 1 before), so a
 *   test can hold the frame next to the one another element sent.
 *   Prints {"PHYPayload":HEX,"DevNonce":N}.
 * join-accept: LoRaMacCryptoHandleJoinAccept on the frame, as an answer to
 *   the last join-request. Prints {"Accepted":true|false,"Status":NAME,
 *   "JoinNonce":N,"LastJoinNonce":M,"OptNeg":0|1}; exit 0 when taken, 3 when
 *   the stack refused it, 1 on a usage or file error. LastJoinNonce is what
 *   the stack had stored before this frame.
 * show: {"DevNonce":N,"JoinNonce":M}.
 *
 * DevEUI, JoinEUI and keys are 16/32 hex digits, most significant first.
 * Keys on a command line are fine for a test; a device keeps them in its
 * element (issue 20, part 2: ferry's element behind this same API).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "LoRaMacCrypto.h"
#include "LoRaMacParser.h"
#include "LoRaMacSerializer.h"
#include "secure-element.h"
#include "lmn_util.h"

#define NVM_MAGIC "LMNDEV01"

typedef struct device_nvm {
    char magic[8];
    LoRaMacCryptoNvmData_t crypto;
    SecureElementNvmData_t se;
    uint8_t last_join_request[LORAMAC_JOIN_REQ_MSG_SIZE];
} device_nvm;

static int fail(const char *fmt, const char *arg)
{
    fprintf(stderr, "lmn_dev: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n");
    return 1;
}

/* The NVM file, or a factory-fresh device when there is none: both inits
 * run either way (they point the stack at our structs), then the saved
 * contents replace their defaults. */
static int nvm_load(const char *path, device_nvm *nvm)
{
    memset(nvm, 0, sizeof *nvm);
    if (LoRaMacCryptoInit(&nvm->crypto) != LORAMAC_CRYPTO_SUCCESS ||
        SecureElementInit(&nvm->se) != SECURE_ELEMENT_SUCCESS)
        return fail("%s", "the stack's init failed");
    memcpy(nvm->magic, NVM_MAGIC, sizeof nvm->magic);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return errno == ENOENT ? 0 : fail("cannot read %s", path);
    device_nvm saved;
    size_t got = fread(&saved, 1, sizeof saved, f);
    fclose(f);
    if (got != sizeof saved || memcmp(saved.magic, NVM_MAGIC, sizeof saved.magic) != 0)
        return fail("%s is not an lmn_dev NVM file of this build", path);
    *nvm = saved;
    return 0;
}

/* Written whole to a temporary file and renamed: a kill leaves the old or
 * the new state, as a device's NVM driver must. */
static int nvm_save(const char *path, const device_nvm *nvm)
{
    return lmn_file_save("lmn_dev", path, nvm, sizeof *nvm) == 0 ? 0 : 1;
}

typedef struct request_args {
    uint8_t dev_eui[8], join_eui[8], nwk_key[16], app_key[16];
    bool have_dev_eui, have_join_eui, have_nwk_key, have_app_key;
    long dev_nonce; /* -1: the stack's own next one */
} request_args;

static int parse_request_args(int argc, char **argv, request_args *a)
{
    memset(a, 0, sizeof *a);
    a->dev_nonce = -1;
    for (int i = 0; i < argc; i += 2) {
        const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL)
            return fail("%s needs a value", k);
        int bad = 0;
        if (strcmp(k, "--dev-eui") == 0)
            bad = lmn_hex_exact(v, a->dev_eui, 8), a->have_dev_eui = true;
        else if (strcmp(k, "--join-eui") == 0)
            bad = lmn_hex_exact(v, a->join_eui, 8), a->have_join_eui = true;
        else if (strcmp(k, "--nwk-key") == 0)
            bad = lmn_hex_exact(v, a->nwk_key, 16), a->have_nwk_key = true;
        else if (strcmp(k, "--app-key") == 0)
            bad = lmn_hex_exact(v, a->app_key, 16), a->have_app_key = true;
        else if (strcmp(k, "--dev-nonce") == 0) {
            char *end;
            a->dev_nonce = strtol(v, &end, 10);
            bad = *end != '\0' || a->dev_nonce < 0 || a->dev_nonce > 65535 ? -1 : 0;
        } else
            return fail("unknown option %s", k);
        if (bad)
            return fail("bad value for %s", k);
    }
    if (!a->have_dev_eui || !a->have_join_eui || !a->have_nwk_key)
        return fail("%s", "join-request needs --dev-eui, --join-eui and --nwk-key");
    return 0;
}

/* The element's profile: EUIs and root keys. For 1.0.x LoRaMac-node wants
 * the one root key in both slots (NWK_KEY for the join, APP_KEY for the
 * multicast root key it derives at every join-accept). */
static int set_profile(const request_args *a)
{
    uint8_t nwk[16], app[16], dev[8], join[8];
    memcpy(nwk, a->nwk_key, 16);
    memcpy(app, a->have_app_key ? a->app_key : a->nwk_key, 16);
    memcpy(dev, a->dev_eui, 8);
    memcpy(join, a->join_eui, 8);
    int rc = SecureElementSetDevEui(dev) == SECURE_ELEMENT_SUCCESS && SecureElementSetJoinEui(join) == SECURE_ELEMENT_SUCCESS &&
                     SecureElementSetKey(NWK_KEY, nwk) == SECURE_ELEMENT_SUCCESS &&
                     SecureElementSetKey(APP_KEY, app) == SECURE_ELEMENT_SUCCESS
                 ? 0
                 : fail("%s", "the soft secure element refused the profile");
    memset(nwk, 0, sizeof nwk);
    memset(app, 0, sizeof app);
    return rc;
}

static int cmd_join_request(device_nvm *nvm, int argc, char **argv)
{
    request_args a;
    if (parse_request_args(argc, argv, &a) != 0 || set_profile(&a) != 0)
        return 1;
    if (a.dev_nonce >= 0)
        nvm->crypto.DevNonce = (uint16_t)(a.dev_nonce - 1); /* the stack increments first */
    LoRaMacMessageJoinRequest_t m;
    memset(&m, 0, sizeof m);
    m.Buffer = nvm->last_join_request;
    m.BufSize = LORAMAC_JOIN_REQ_MSG_SIZE;
    m.MHDR.Bits.MType = FRAME_TYPE_JOIN_REQ;
    memcpy(m.JoinEUI, SecureElementGetJoinEui(), LORAMAC_JOIN_EUI_FIELD_SIZE);
    memcpy(m.DevEUI, SecureElementGetDevEui(), LORAMAC_DEV_EUI_FIELD_SIZE);
    LoRaMacCryptoStatus_t st = LoRaMacCryptoPrepareJoinRequest(&m);
    if (st != LORAMAC_CRYPTO_SUCCESS)
        return fail("LoRaMacCryptoPrepareJoinRequest: %s", lmn_crypto_status_name(st));
    printf("{\"PHYPayload\":\"");
    lmn_print_hex(m.Buffer, LORAMAC_JOIN_REQ_MSG_SIZE);
    printf("\",\"DevNonce\":%u}\n", (unsigned)m.DevNonce);
    return 0;
}

static int cmd_join_accept(device_nvm *nvm, int argc, char **argv)
{
    uint8_t frame[LORAMAC_JOIN_ACCEPT_FRAME_MAX_SIZE];
    size_t len = 0;
    if (argc != 1 || lmn_hex_any(argv[0], frame, sizeof frame, &len) != 0 || len < LORAMAC_JOIN_ACCEPT_FRAME_MIN_SIZE)
        return fail("%s", "join-accept takes one frame in hex");
    uint32_t before = nvm->crypto.JoinNonce;
    LoRaMacMessageJoinAccept_t m;
    memset(&m, 0, sizeof m);
    m.Buffer = frame;
    m.BufSize = (uint8_t)len;
    LoRaMacCryptoStatus_t st = LoRaMacCryptoHandleJoinAccept(JOIN_REQ, SecureElementGetJoinEui(), &m);
    /* The frame is decrypted and parsed before the JoinNonce is judged, so
     * a refusal for the JoinNonce still shows which one it was. */
    uint32_t jn = (uint32_t)m.JoinNonce[0] | (uint32_t)m.JoinNonce[1] << 8 | (uint32_t)m.JoinNonce[2] << 16;
    bool parsed = st == LORAMAC_CRYPTO_SUCCESS || st == LORAMAC_CRYPTO_FAIL_JOIN_NONCE;
    printf("{\"Accepted\":%s,\"Status\":\"%s\",", st == LORAMAC_CRYPTO_SUCCESS ? "true" : "false",
           lmn_crypto_status_name(st));
    if (parsed)
        printf("\"JoinNonce\":%u,\"OptNeg\":%u,", (unsigned)jn, (unsigned)m.DLSettings.Bits.OptNeg);
    printf("\"LastJoinNonce\":%u}\n", (unsigned)before);
    memset(frame, 0, sizeof frame);
    return st == LORAMAC_CRYPTO_SUCCESS ? 0 : 3;
}

int main(int argc, char **argv)
{
    if (argc < 3)
        return fail("%s", "usage: lmn_dev NVM join-request|join-accept|show ...");
    device_nvm *nvm = calloc(1, sizeof *nvm);
    if (nvm == NULL || nvm_load(argv[1], nvm) != 0) {
        free(nvm);
        return 1;
    }
    int rc;
    if (strcmp(argv[2], "join-request") == 0)
        rc = cmd_join_request(nvm, argc - 3, argv + 3);
    else if (strcmp(argv[2], "join-accept") == 0)
        rc = cmd_join_accept(nvm, argc - 3, argv + 3);
    else if (strcmp(argv[2], "show") == 0 && argc == 3) {
        printf("{\"DevNonce\":%u,\"JoinNonce\":%u}\n", (unsigned)nvm->crypto.DevNonce, (unsigned)nvm->crypto.JoinNonce);
        rc = 0;
    } else
        rc = fail("unknown command %s", argv[2]);
    /* Saved whatever the outcome, as the stack's NVM callback would: a
     * refused accept changed nothing in it anyway. */
    if ((rc == 0 || rc == 3) && strcmp(argv[2], "show") != 0 && nvm_save(argv[1], nvm) != 0)
        rc = 1;
    memset(nvm, 0, sizeof *nvm);
    free(nvm);
    return rc;
}

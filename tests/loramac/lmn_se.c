/*
 * lmn_se.c - LoRaMac-node v4.7.0's end-device crypto (LoRaMacCrypto.c, its
 * parser and serializer, built unmodified) on the ferry element through
 * ports/loramac-node/ferry-se/ (no soft-se): what a device maker's firmware
 * does with ferry's element, as a host program for tests.
 *
 *   lmn_se (--socket PATH | --image FILE) NVM COMMAND ...
 *
 * --socket (lmn_se): the element is `ferry se serve` (lmn_transport_socket.c);
 * --image (lmn_se_local): the element runs in this process over its image
 * file (lmn_transport_local.c). NVM is the stack's own non-volatile state
 * (LoRaMacCryptoNvmData_t, SecureElementNvmData_t without keys, and the
 * session's DevAddr/NetID and multicast addresses the MAC would keep),
 * read at start and written back after each command, as lmn_dev does.
 *
 * Commands (JSON on stdout; exit 0 done, 3 the stack or element refused,
 * 1 usage or file error):
 *   info                          the element's GET INFO, as FerrySeGetInfo
 *   join-request [--dev-nonce N]  DevNonce from the element (as the package
 *                                 does) or N; {"PHYPayload","DevNonce"}
 *   join-accept HEX [--type T]    LoRaMacCryptoHandleJoinAccept (T: a rejoin's)
 *   uplink --fport P [--payload HEX] [--fopts HEX] [--fcnt N] [--confirmed]
 *          [--ack] [--dr D] [--ch C]   LoRaMacCryptoSecureMessage
 *   downlink HEX                  LoRaMacCryptoUnsecureMessage (unicast)
 *   rejoin 0|1|2                  LoRaMacCryptoPrepareReJoinType0or2 / Type1
 *   mc-setup GROUP MCADDR MCKEYENC  LoRaMacCryptoSetKey(MC_KEY_i) and
 *                                 LoRaMacCryptoDeriveMcSessionKeyPair
 *   mc-downlink GROUP HEX         LoRaMacCryptoUnsecureMessage (multicast)
 *   refusals                      secure-element.h calls the driver or the
 *                                 element must refuse, one JSON line each
 *   -                             commands from stdin, one a line, each
 *                                 followed by {"Exit":rc}: the element
 *                                 stays up (a join's answer needs that)
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
#include "ferry-se.h"
#include "lmn_transport.h"
#include "lmn_util.h"

#define NVM_MAGIC "LMNSE001"

typedef struct device_nvm {
    char magic[8];
    LoRaMacCryptoNvmData_t crypto;
    SecureElementNvmData_t se;
    uint32_t dev_addr;
    uint8_t net_id[3];
    uint32_t mc_addr[LORAMAC_MAX_MC_CTX];
} device_nvm;

static int fail(const char *fmt, const char *arg)
{
    fprintf(stderr, "lmn_se: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n");
    return 1;
}

static int nvm_load(const char *path, device_nvm *nvm)
{
    memset(nvm, 0, sizeof *nvm);
    if (LoRaMacCryptoInit(&nvm->crypto) != LORAMAC_CRYPTO_SUCCESS)
        return fail("%s", "LoRaMacCryptoInit failed");
    memcpy(nvm->magic, NVM_MAGIC, sizeof nvm->magic);
    FILE *f = fopen(path, "rb");
    if (f != NULL) {
        device_nvm saved;
        size_t got = fread(&saved, 1, sizeof saved, f);
        fclose(f);
        if (got != sizeof saved || memcmp(saved.magic, NVM_MAGIC, sizeof saved.magic) != 0)
            return fail("%s is not an lmn_se NVM file of this build", path);
        *nvm = saved;
    } else if (errno != ENOENT)
        return fail("cannot read %s", path);
    /* The element's facts replace whatever the NVM held (SecureElementInit
     * reads them); the crypto NVM stays the stack's. */
    if (SecureElementInit(&nvm->se) != SECURE_ELEMENT_SUCCESS)
        return fail("%s", "SecureElementInit: the element did not answer GET INFO");
    return 0;
}

static int nvm_save(const char *path, const device_nvm *nvm)
{
    return lmn_file_save("lmn_se", path, nvm, sizeof *nvm) == 0 ? 0 : 1;
}

static int num_arg(const char *v, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 0);
    if (errno != 0 || *end != '\0' || end == v || x < lo || x > hi)
        return -1;
    *out = x;
    return 0;
}

static int cmd_info(void)
{
    FerrySeInfo_t i;
    if (FerrySeGetInfo(&i) != SECURE_ELEMENT_SUCCESS)
        return fail("%s", "GET INFO failed");
    printf("{\"DevEUI\":\"");
    lmn_print_hex(i.DevEui, 8);
    printf("\",\"JoinEUI\":\"");
    lmn_print_hex(i.JoinEui, 8);
    printf("\",\"ActiveSlot\":%u,\"MacVersion\":%u,\"Joined\":%s,\"OnTrial\":%s,\"NextDevNonce\":%u,"
           "\"LastJoinNonce\":%u}\n",
           i.ActiveSlot, i.MacVersion, i.Joined ? "true" : "false", i.OnTrial ? "true" : "false",
           (unsigned)i.NextDevNonce, (unsigned)i.LastJoinNonce);
    return 0;
}

static int cmd_join_request(device_nvm *nvm, int argc, char **argv)
{
    FerrySeInfo_t i;
    long dev_nonce = -1;
    if (argc == 2 && strcmp(argv[0], "--dev-nonce") == 0) {
        if (num_arg(argv[1], 0, 65535, &dev_nonce) != 0)
            return fail("%s", "bad --dev-nonce");
    } else if (argc != 0)
        return fail("%s", "join-request takes [--dev-nonce N]");
    if (FerrySeGetInfo(&i) != SECURE_ELEMENT_SUCCESS)
        return fail("%s", "GET INFO failed");
    /* What the activation package does before LmHandlerJoin: the stack
     * counts DevNonce up before each request, from the element's next. */
    if (dev_nonce < 0)
        dev_nonce = (long)i.NextDevNonce;
    nvm->crypto.DevNonce = (uint16_t)(dev_nonce - 1);
    uint8_t buf[LORAMAC_JOIN_REQ_MSG_SIZE];
    LoRaMacMessageJoinRequest_t m;
    memset(&m, 0, sizeof m);
    m.Buffer = buf;
    m.BufSize = LORAMAC_JOIN_REQ_MSG_SIZE;
    m.MHDR.Bits.MType = FRAME_TYPE_JOIN_REQ;
    memcpy(m.JoinEUI, SecureElementGetJoinEui(), LORAMAC_JOIN_EUI_FIELD_SIZE);
    memcpy(m.DevEUI, SecureElementGetDevEui(), LORAMAC_DEV_EUI_FIELD_SIZE);
    LoRaMacCryptoStatus_t st = LoRaMacCryptoPrepareJoinRequest(&m);
    if (st != LORAMAC_CRYPTO_SUCCESS) {
        printf("{\"Status\":\"%s\"}\n", lmn_crypto_status_name(st));
        return 3;
    }
    printf("{\"PHYPayload\":\"");
    lmn_print_hex(m.Buffer, LORAMAC_JOIN_REQ_MSG_SIZE);
    printf("\",\"DevNonce\":%u}\n", (unsigned)m.DevNonce);
    return 0;
}

static int cmd_join_accept(device_nvm *nvm, int argc, char **argv)
{
    uint8_t frame[LORAMAC_JOIN_ACCEPT_FRAME_MAX_SIZE];
    size_t len = 0;
    long type = JOIN_REQ;
    if (argc == 3 && strcmp(argv[1], "--type") == 0 && num_arg(argv[2], 0, 2, &type) == 0)
        argc = 1;
    if (argc != 1 || lmn_hex_any(argv[0], frame, sizeof frame, &len) != 0 || len < LORAMAC_JOIN_ACCEPT_FRAME_MIN_SIZE)
        return fail("%s", "join-accept takes one frame in hex [--type 0|1|2: the answer to that rejoin]");
    uint32_t before = nvm->crypto.JoinNonce;
    LoRaMacMessageJoinAccept_t m;
    memset(&m, 0, sizeof m);
    m.Buffer = frame;
    m.BufSize = (uint8_t)len;
    LoRaMacCryptoStatus_t st = LoRaMacCryptoHandleJoinAccept((JoinReqIdentifier_t)type, SecureElementGetJoinEui(), &m);
    uint32_t jn = (uint32_t)m.JoinNonce[0] | (uint32_t)m.JoinNonce[1] << 8 | (uint32_t)m.JoinNonce[2] << 16;
    printf("{\"Accepted\":%s,\"Status\":\"%s\"", st == LORAMAC_CRYPTO_SUCCESS ? "true" : "false",
           lmn_crypto_status_name(st));
    if (st == LORAMAC_CRYPTO_SUCCESS || st == LORAMAC_CRYPTO_FAIL_JOIN_NONCE)
        printf(",\"JoinNonce\":%u,\"OptNeg\":%u,\"DevAddr\":\"%08X\"", (unsigned)jn,
               (unsigned)m.DLSettings.Bits.OptNeg, (unsigned)m.DevAddr);
    printf(",\"LastJoinNonce\":%u}\n", (unsigned)before);
    if (st == LORAMAC_CRYPTO_SUCCESS) {
        nvm->dev_addr = m.DevAddr;
        memcpy(nvm->net_id, m.NetID, 3);
    }
    memset(frame, 0, sizeof frame);
    return st == LORAMAC_CRYPTO_SUCCESS ? 0 : 3;
}

static int cmd_uplink(device_nvm *nvm, int argc, char **argv)
{
    uint8_t payload[242], fopts[15], buf[255];
    size_t plen = 0, flen = 0;
    long fport = -1, fcnt = -1, dr = 0, ch = 0;
    bool confirmed = false, ack = false;
    for (int i = 0; i < argc; i++) {
        const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
        int bad = 0;
        if (strcmp(k, "--confirmed") == 0)
            confirmed = true;
        else if (strcmp(k, "--ack") == 0)
            ack = true;
        else if (strcmp(k, "--fport") == 0)
            bad = num_arg(v, 0, 255, &fport), i++;
        else if (strcmp(k, "--fcnt") == 0)
            bad = num_arg(v, 0, 0xFFFFFFFFL, &fcnt), i++;
        else if (strcmp(k, "--dr") == 0)
            bad = num_arg(v, 0, 15, &dr), i++;
        else if (strcmp(k, "--ch") == 0)
            bad = num_arg(v, 0, 255, &ch), i++;
        else if (strcmp(k, "--payload") == 0)
            bad = lmn_hex_any(v, payload, sizeof payload, &plen), i++;
        else if (strcmp(k, "--fopts") == 0)
            bad = lmn_hex_any(v, fopts, sizeof fopts, &flen), i++;
        else
            return fail("unknown option %s", k);
        if (bad)
            return fail("bad value for %s", k);
    }
    if (fport < 0)
        return fail("%s", "uplink needs --fport");
    uint32_t up = 0;
    if (fcnt < 0 && LoRaMacCryptoGetFCntUp(&up) == LORAMAC_CRYPTO_SUCCESS)
        fcnt = (long)up;
    LoRaMacMessageData_t m;
    memset(&m, 0, sizeof m);
    m.Buffer = buf;
    m.BufSize = sizeof buf;
    m.MHDR.Bits.MType = confirmed ? FRAME_TYPE_DATA_CONFIRMED_UP : FRAME_TYPE_DATA_UNCONFIRMED_UP;
    m.FHDR.DevAddr = nvm->dev_addr;
    m.FHDR.FCtrl.Bits.FOptsLen = (uint8_t)flen;
    m.FHDR.FCtrl.Bits.Ack = ack ? 1 : 0;
    m.FHDR.FCnt = (uint16_t)fcnt;
    memcpy(m.FHDR.FOpts, fopts, flen);
    m.FPort = (uint8_t)fport;
    m.FRMPayload = payload;
    m.FRMPayloadSize = (uint8_t)plen;
    LoRaMacCryptoStatus_t st = LoRaMacCryptoSecureMessage((uint32_t)fcnt, (uint8_t)dr, (uint8_t)ch, &m);
    if (st != LORAMAC_CRYPTO_SUCCESS) {
        printf("{\"Status\":\"%s\"}\n", lmn_crypto_status_name(st));
        return 3;
    }
    printf("{\"PHYPayload\":\"");
    lmn_print_hex(m.Buffer, m.BufSize);
    printf("\",\"FCnt\":%lu}\n", (unsigned long)fcnt);
    return 0;
}

/* Opens a downlink as LoRaMac.c does: the 32-bit counter from the stack's
 * own, then LoRaMacCryptoUnsecureMessage. */
static int open_downlink(AddressIdentifier_t addr_id, uint32_t addr, bool v11, uint8_t *frame, size_t len)
{
    uint8_t payload[255];   /* where the parser puts FRMPayload, as LoRaMac.c's RxPayload */
    LoRaMacMessageData_t m;
    memset(&m, 0, sizeof m);
    m.Buffer = frame;
    m.BufSize = (uint8_t)len;
    m.FRMPayload = payload;
    if (LoRaMacParserData(&m) != LORAMAC_PARSER_SUCCESS)
        return fail("%s", "the parser refused the downlink");
    FCntIdentifier_t id = FCNT_DOWN;
    if (addr_id != UNICAST_DEV_ADDR)
        id = (FCntIdentifier_t)(MC_FCNT_DOWN_0 + addr_id);
    else if (v11)   /* 1.1 sessions keep two counters: FPort > 0 the application's */
        id = (m.FPort > 0 && m.FRMPayloadSize > 0) ? A_FCNT_DOWN : N_FCNT_DOWN;
    uint32_t fcnt = 0;
    LoRaMacCryptoStatus_t st = LoRaMacCryptoGetFCntDown(id, m.FHDR.FCnt, &fcnt);
    if (st == LORAMAC_CRYPTO_SUCCESS) {
        memset(&m, 0, sizeof m);
        m.Buffer = frame;
        m.BufSize = (uint8_t)len;
        m.FRMPayload = payload;
        st = LoRaMacCryptoUnsecureMessage(addr_id, addr, id, fcnt, &m);
    }
    if (st != LORAMAC_CRYPTO_SUCCESS) {
        printf("{\"Status\":\"%s\"}\n", lmn_crypto_status_name(st));
        return 3;
    }
    printf("{\"Status\":\"%s\",\"FCnt\":%u,\"FPort\":%u,\"FOpts\":\"", lmn_crypto_status_name(st), (unsigned)fcnt,
           (unsigned)m.FPort);
    lmn_print_hex(m.FHDR.FOpts, m.FHDR.FCtrl.Bits.FOptsLen);
    printf("\",\"Payload\":\"");
    lmn_print_hex(m.FRMPayload, m.FRMPayloadSize);
    printf("\"}\n");
    return 0;
}

static int cmd_downlink(device_nvm *nvm, int argc, char **argv)
{
    uint8_t frame[255];
    size_t len = 0;
    if (argc != 1 || lmn_hex_any(argv[0], frame, sizeof frame, &len) != 0 || len < 12)
        return fail("%s", "downlink takes one frame in hex");
    return open_downlink(UNICAST_DEV_ADDR, nvm->dev_addr, nvm->crypto.LrWanVersion.Fields.Minor == 1, frame, len);
}

static int cmd_rejoin(device_nvm *nvm, int argc, char **argv)
{
    long type = -1;
    if (argc != 1 || num_arg(argv[0], 0, 2, &type) != 0)
        return fail("%s", "rejoin takes 0, 1 or 2");
    uint8_t buf[LORAMAC_RE_JOIN_1_MSG_SIZE];
    LoRaMacCryptoStatus_t st;
    size_t len;
    if (type == 1) {
        LoRaMacMessageReJoinType1_t m;
        memset(&m, 0, sizeof m);
        m.Buffer = buf;
        m.BufSize = LORAMAC_RE_JOIN_1_MSG_SIZE;
        m.MHDR.Bits.MType = FRAME_TYPE_REJOIN;
        m.ReJoinType = 1;
        memcpy(m.JoinEUI, SecureElementGetJoinEui(), 8);
        memcpy(m.DevEUI, SecureElementGetDevEui(), 8);
        st = LoRaMacCryptoGetRJcount(RJ_COUNT_1, &m.RJcount1);   /* as LoRaMac.c does */
        if (st == LORAMAC_CRYPTO_SUCCESS)
            st = LoRaMacCryptoPrepareReJoinType1(&m);
        len = LORAMAC_RE_JOIN_1_MSG_SIZE;
    } else {
        LoRaMacMessageReJoinType0or2_t m;
        memset(&m, 0, sizeof m);
        m.Buffer = buf;
        m.BufSize = LORAMAC_RE_JOIN_0_2_MSG_SIZE;
        m.MHDR.Bits.MType = FRAME_TYPE_REJOIN;
        m.ReJoinType = (uint8_t)type;
        memcpy(m.NetID, nvm->net_id, 3);
        memcpy(m.DevEUI, SecureElementGetDevEui(), 8);
        st = LoRaMacCryptoGetRJcount(RJ_COUNT_0, &m.RJcount0);
        if (st == LORAMAC_CRYPTO_SUCCESS)
            st = LoRaMacCryptoPrepareReJoinType0or2(&m);
        len = LORAMAC_RE_JOIN_0_2_MSG_SIZE;
    }
    if (st != LORAMAC_CRYPTO_SUCCESS) {
        printf("{\"Status\":\"%s\"}\n", lmn_crypto_status_name(st));
        return 3;
    }
    printf("{\"PHYPayload\":\"");
    lmn_print_hex(buf, len);
    printf("\"}\n");
    return 0;
}

static int cmd_mc_setup(device_nvm *nvm, int argc, char **argv)
{
    long group = -1, addr = -1;
    uint8_t enc[16];
    if (argc != 3 || num_arg(argv[0], 0, LORAMAC_MAX_MC_CTX - 1, &group) != 0 ||
        num_arg(argv[1], 0, 0xFFFFFFFFL, &addr) != 0 || lmn_hex_exact(argv[2], enc, 16) != 0)
        return fail("%s", "mc-setup takes GROUP MCADDR(0x...) MCKEYENC");
    LoRaMacCryptoStatus_t st = LoRaMacCryptoSetKey((KeyIdentifier_t)(MC_KEY_0 + 3 * group), enc);
    if (st == LORAMAC_CRYPTO_SUCCESS)
        st = LoRaMacCryptoDeriveMcSessionKeyPair((AddressIdentifier_t)group, (uint32_t)addr);
    printf("{\"Status\":\"%s\"}\n", lmn_crypto_status_name(st));
    if (st == LORAMAC_CRYPTO_SUCCESS)
        nvm->mc_addr[group] = (uint32_t)addr;
    return st == LORAMAC_CRYPTO_SUCCESS ? 0 : 3;
}

static int cmd_mc_downlink(device_nvm *nvm, int argc, char **argv)
{
    long group = -1;
    uint8_t frame[255];
    size_t len = 0;
    if (argc != 2 || num_arg(argv[0], 0, LORAMAC_MAX_MC_CTX - 1, &group) != 0 ||
        lmn_hex_any(argv[1], frame, sizeof frame, &len) != 0 || len < 12)
        return fail("%s", "mc-downlink takes GROUP FRAME");
    return open_downlink((AddressIdentifier_t)group, nvm->mc_addr[group], false, frame, len);
}

static void refusal(const char *what, SecureElementStatus_t st)
{
    printf("{\"Call\":\"%s\",\"Refused\":%s,\"Status\":%d}\n", what, st != SECURE_ELEMENT_SUCCESS ? "true" : "false",
           (int)st);
}

/* Calls a compromised or buggy MCU could make: each must fail. */
static int cmd_refusals(device_nvm *nvm)
{
    uint8_t key[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    uint8_t block[16], out[16], msg[32];
    uint32_t mic = 0;
    memset(msg, 0x5A, sizeof msg);
    refusal("SetKey(NWK_KEY)", SecureElementSetKey(NWK_KEY, key));
    refusal("SetKey(APP_KEY)", SecureElementSetKey(APP_KEY, key));
    refusal("SetKey(APP_S_KEY)", SecureElementSetKey(APP_S_KEY, key));
    refusal("SetKey(MC_APP_S_KEY_0)", SecureElementSetKey(MC_APP_S_KEY_0, key));
    refusal("AesEncrypt(any block, NWK_KEY)", SecureElementAesEncrypt(key, 16, NWK_KEY, out));
    refusal("AesEncrypt(any block, APP_KEY)", SecureElementAesEncrypt(key, 16, APP_KEY, out));
    memset(block, 0, 16);
    block[0] = 0x01;
    memcpy(block + 6, &nvm->dev_addr, 4);   /* host order is little-endian on x86, as the block wants */
    block[15] = 1;
    refusal("AesEncrypt(A block, F_NWK_S_INT_KEY)", SecureElementAesEncrypt(block, 16, F_NWK_S_INT_KEY, out));
    block[2] = 0x77;
    refusal("AesEncrypt(A block with byte 2 set, APP_S_KEY)", SecureElementAesEncrypt(block, 16, APP_S_KEY, out));
    block[2] = 0;
    block[0] = 0x49;
    refusal("AesEncrypt(B0 block, APP_S_KEY)", SecureElementAesEncrypt(block, 16, APP_S_KEY, out));
    block[0] = 0x01;
    block[6] ^= 0xFF;
    refusal("AesEncrypt(A block, other DevAddr, APP_S_KEY)", SecureElementAesEncrypt(block, 16, APP_S_KEY, out));
    block[6] ^= 0xFF;
    block[5] = 2;
    refusal("AesEncrypt(A block, direction 2, APP_S_KEY)", SecureElementAesEncrypt(block, 16, APP_S_KEY, out));
    block[5] = 0;
    refusal("AesEncrypt(SLOT_RAND_ZERO_KEY)", SecureElementAesEncrypt(block, 16, SLOT_RAND_ZERO_KEY, out));
    refusal("ComputeAesCmac(NULL, 32 bytes, NWK_KEY)", SecureElementComputeAesCmac(NULL, msg, 32, NWK_KEY, &mic));
    refusal("ComputeAesCmac(NULL, 19 bytes not a join-request of this element, NWK_KEY)",
            SecureElementComputeAesCmac(NULL, msg, 19, NWK_KEY, &mic));
    uint8_t jr[19] = {0};
    for (int i = 0; i < 8; i++) {
        jr[1 + i] = SecureElementGetJoinEui()[7 - i];
        jr[9 + i] = SecureElementGetDevEui()[7 - i];
    }
    refusal("ComputeAesCmac(NULL, join-request with DevNonce 0 again, NWK_KEY)",
            SecureElementComputeAesCmac(NULL, jr, 19, NWK_KEY, &mic));
    memset(block, 0, 16);
    block[0] = 0x49;
    memcpy(block + 6, &nvm->dev_addr, 4);
    block[15] = 32;
    refusal("ComputeAesCmac(B0, APP_S_KEY)", SecureElementComputeAesCmac(block, msg, 32, APP_S_KEY, &mic));
    refusal("ComputeAesCmac(B0, NWK_KEY)", SecureElementComputeAesCmac(block, msg, 32, NWK_KEY, &mic));
    refusal("ComputeAesCmac(B0, J_S_INT_KEY)", SecureElementComputeAesCmac(block, msg, 32, J_S_INT_KEY, &mic));
    block[15] = 31;
    refusal("ComputeAesCmac(B0 with the wrong length, F_NWK_S_INT_KEY)",
            SecureElementComputeAesCmac(block, msg, 32, F_NWK_S_INT_KEY, &mic));
    block[15] = 32;
    block[5] = 1;
    refusal("ComputeAesCmac(downlink B0, F_NWK_S_INT_KEY)",
            SecureElementComputeAesCmac(block, msg, 32, F_NWK_S_INT_KEY, &mic));
    block[5] = 0;
    block[7] ^= 0x01;
    refusal("ComputeAesCmac(B0 other DevAddr, F_NWK_S_INT_KEY)",
            SecureElementComputeAesCmac(block, msg, 32, F_NWK_S_INT_KEY, &mic));
    block[7] ^= 0x01;
    refusal("ComputeAesCmac(B0, MC_NWK_S_KEY_3 never set up)",
            SecureElementComputeAesCmac(block, msg, 32, MC_NWK_S_KEY_3, &mic));
    memset(block, 0, 16);
    block[0] = 0x02;
    refusal("DeriveAndStoreKey(other block, NWK_KEY -> APP_S_KEY)", SecureElementDeriveAndStoreKey(block, NWK_KEY, APP_S_KEY));
    refusal("DeriveAndStoreKey(NWK_KEY -> MC_ROOT_KEY)", SecureElementDeriveAndStoreKey(block, NWK_KEY, MC_ROOT_KEY));
    refusal("DeriveAndStoreKey(wrong DevEUI, NWK_KEY -> J_S_INT_KEY)",
            SecureElementDeriveAndStoreKey(block, NWK_KEY, J_S_INT_KEY));
    uint8_t eui[8];
    memcpy(eui, SecureElementGetDevEui(), 8);
    eui[7] ^= 1;
    refusal("SetDevEui(another)", SecureElementSetDevEui(eui));
    memcpy(eui, SecureElementGetJoinEui(), 8);
    eui[7] ^= 1;
    refusal("SetJoinEui(another)", SecureElementSetJoinEui(eui));
    memcpy(eui, SecureElementGetDevEui(), 8);
    printf("{\"Call\":\"SetDevEui(its own)\",\"Refused\":%s}\n",
           SecureElementSetDevEui(eui) != SECURE_ELEMENT_SUCCESS ? "true" : "false");
    return 0;
}

static int run_command(device_nvm *nvm, const char *cmd, int n, char **a)
{
    if (strcmp(cmd, "info") == 0 && n == 0)
        return cmd_info();
    if (strcmp(cmd, "join-request") == 0)
        return cmd_join_request(nvm, n, a);
    if (strcmp(cmd, "join-accept") == 0)
        return cmd_join_accept(nvm, n, a);
    if (strcmp(cmd, "uplink") == 0)
        return cmd_uplink(nvm, n, a);
    if (strcmp(cmd, "downlink") == 0)
        return cmd_downlink(nvm, n, a);
    if (strcmp(cmd, "rejoin") == 0)
        return cmd_rejoin(nvm, n, a);
    if (strcmp(cmd, "mc-setup") == 0)
        return cmd_mc_setup(nvm, n, a);
    if (strcmp(cmd, "mc-downlink") == 0)
        return cmd_mc_downlink(nvm, n, a);
    if (strcmp(cmd, "refusals") == 0 && n == 0)
        return cmd_refusals(nvm);
    return fail("unknown command %s", cmd);
}

/* COMMAND "-": one command per line of stdin, the element staying up
 * between them (it keeps the join it answers in RAM only, as a chip does
 * between resets). After each: {"Exit":rc} on its own line, NVM saved. */
static int run_script(const char *path, device_nvm *nvm)
{
    char line[1024];
    while (fgets(line, sizeof line, stdin) != NULL) {
        char *words[16];
        int n = 0;
        for (char *w = strtok(line, " \t\r\n"); w != NULL && n < 16; w = strtok(NULL, " \t\r\n"))
            words[n++] = w;
        if (n == 0)
            continue;
        int rc = run_command(nvm, words[0], n - 1, words + 1);
        if ((rc == 0 || rc == 3) && nvm_save(path, nvm) != 0)
            rc = 1;
        printf("{\"Exit\":%d}\n", rc);
        fflush(stdout);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 5 || (strcmp(argv[1], "--socket") != 0 && strcmp(argv[1], "--image") != 0))
        return fail("%s", "usage: lmn_se --socket PATH | --image FILE  NVM COMMAND ...");
    /* One transport per binary: lmn_se has the socket, lmn_se_local the
     * element itself (built with LMN_SE_LOCAL). */
#ifdef LMN_SE_LOCAL
    int t = strcmp(argv[1], "--image") == 0 ? lmn_transport_local_open(argv[2]) : -1;
#else
    int t = strcmp(argv[1], "--socket") == 0 ? lmn_transport_socket_open(argv[2]) : -1;
#endif
    if (t != 0)
        return fail("cannot reach the element at %s", argv[2]);
    device_nvm *nvm = calloc(1, sizeof *nvm);
    if (nvm == NULL || nvm_load(argv[3], nvm) != 0) {
        free(nvm);
        lmn_transport_close();
        return 1;
    }
    int rc;
    if (strcmp(argv[4], "-") == 0)
        rc = run_script(argv[3], nvm);
    else
        rc = run_command(nvm, argv[4], argc - 5, argv + 5);
    if ((rc == 0 || rc == 3) && nvm_save(argv[3], nvm) != 0)
        rc = 1;
    memset(nvm, 0, sizeof *nvm);
    free(nvm);
    lmn_transport_close();
    return rc;
}

/*
 * se_status.c - status words and sentences of the secure element.
 *
 * Two separate tables on purpose: the element itself needs only the status
 * words (se_apdu_process), and a firmware built with section garbage
 * collection then links no sentence. Hosts print the sentences.
 */
#include "se/se_status.h"

static const uint16_t status_words[SE_STATUS_COUNT] = {
    [SE_OK] = 0x9000,
    [SE_ERR_ARGUMENT] = 0x6A80,
    [SE_ERR_LENGTH] = 0x6700,
    [SE_ERR_STATE] = 0x6985,
    [SE_ERR_NO_PROFILE] = 0x6A88,
    [SE_ERR_NO_SESSION] = 0x6986,
    [SE_ERR_MIC] = 0x6982,
    [SE_ERR_REPLAY] = 0x6983,
    [SE_ERR_COUNTER] = 0x6984,
    [SE_ERR_FRAME] = 0x6A81,
    [SE_ERR_NVM] = 0x6581,
    [SE_ERR_CORRUPT] = 0x6F01,
    [SE_ERR_CRYPTO] = 0x6F00,
    [SE_ERR_BUFFER] = 0x6C00,
    [SE_ERR_INS] = 0x6D00,
    [SE_ERR_CLA] = 0x6E00,
    [SE_ERR_NO_SPACE] = 0x6A84,
};

static const char *const sentences[SE_STATUS_COUNT] = {
    [SE_OK] = "success",
    [SE_ERR_ARGUMENT] = "invalid parameter in command data",
    [SE_ERR_LENGTH] = "wrong command data length",
    [SE_ERR_STATE] = "command not allowed in the secure element's lifecycle state",
    [SE_ERR_NO_PROFILE] = "no usable profile in that slot",
    [SE_ERR_NO_SESSION] = "no network session: join first",
    [SE_ERR_MIC] = "integrity check failed",
    [SE_ERR_REPLAY] = "replayed or outdated nonce or counter",
    [SE_ERR_COUNTER] = "counter exhausted",
    [SE_ERR_FRAME] = "malformed LoRaWAN frame or wrong message type",
    [SE_ERR_NVM] = "persistent memory write failed; state unchanged",
    [SE_ERR_CORRUPT] = "no valid memory image",
    [SE_ERR_CRYPTO] = "cryptographic failure",
    [SE_ERR_BUFFER] = "response larger than the buffer",
    [SE_ERR_INS] = "instruction not supported",
    [SE_ERR_CLA] = "class not supported",
    [SE_ERR_NO_SPACE] = "no free profile slot",
};

const char *se_strerror(se_status st)
{
    if ((unsigned)st >= SE_STATUS_COUNT)
        return "unknown status";
    return sentences[st];
}

uint16_t se_status_sw(se_status st)
{
    if ((unsigned)st >= SE_STATUS_COUNT)
        return 0x6F00;
    return status_words[st];
}

se_status se_status_from_sw(uint16_t sw)
{
    for (unsigned i = 0; i < SE_STATUS_COUNT; i++) {
        if (status_words[i] == sw)
            return (se_status)i;
    }
    return SE_ERR_CRYPTO;
}

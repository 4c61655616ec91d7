/* se_status.c - sentences and status words of the secure element. */
#include "se/se_status.h"

static const struct {
    uint16_t sw;
    const char *text;
} table[SE_STATUS_COUNT] = {
    [SE_OK] = {0x9000, "success"},
    [SE_ERR_ARGUMENT] = {0x6A80, "invalid parameter in command data"},
    [SE_ERR_LENGTH] = {0x6700, "wrong command data length"},
    [SE_ERR_STATE] = {0x6985, "command not allowed in the secure element's lifecycle state"},
    [SE_ERR_NO_PROFILE] = {0x6A88, "no usable profile in that slot"},
    [SE_ERR_NO_SESSION] = {0x6986, "no network session: join first"},
    [SE_ERR_MIC] = {0x6982, "integrity check failed"},
    [SE_ERR_REPLAY] = {0x6983, "replayed or outdated nonce or counter"},
    [SE_ERR_COUNTER] = {0x6984, "counter exhausted"},
    [SE_ERR_FRAME] = {0x6A81, "malformed LoRaWAN frame or wrong message type"},
    [SE_ERR_NVM] = {0x6581, "persistent memory write failed; state unchanged"},
    [SE_ERR_CORRUPT] = {0x6F01, "no valid memory image"},
    [SE_ERR_CRYPTO] = {0x6F00, "cryptographic failure"},
    [SE_ERR_BUFFER] = {0x6C00, "response larger than the buffer"},
    [SE_ERR_INS] = {0x6D00, "instruction not supported"},
    [SE_ERR_CLA] = {0x6E00, "class not supported"},
    [SE_ERR_NO_SPACE] = {0x6A84, "no free profile slot"},
};

const char *se_strerror(se_status st)
{
    if ((unsigned)st >= SE_STATUS_COUNT)
        return "unknown status";
    return table[st].text;
}

uint16_t se_status_sw(se_status st)
{
    if ((unsigned)st >= SE_STATUS_COUNT)
        return 0x6F00;
    return table[st].sw;
}

se_status se_status_from_sw(uint16_t sw)
{
    for (unsigned i = 0; i < SE_STATUS_COUNT; i++) {
        if (table[i].sw == sw)
            return (se_status)i;
    }
    return SE_ERR_CRYPTO;
}

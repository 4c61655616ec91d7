/* lw_status.c - sentences for the core's status values. */
#include "lorawan/lw_status.h"

const char *lw_strerror(lw_status st)
{
    switch (st) {
    case LW_OK:            return "success";
    case LW_ERR_ARGUMENT:  return "invalid argument";
    case LW_ERR_TRUNCATED: return "frame is truncated: shorter than its message type requires";
    case LW_ERR_TOO_LONG:  return "frame is longer than its message type allows";
    case LW_ERR_MAJOR:     return "unsupported MHDR Major version (only LoRaWAN R1 is defined)";
    case LW_ERR_MTYPE:     return "message type does not fit this operation";
    case LW_ERR_FORMAT:    return "malformed field in frame";
    case LW_ERR_BUFFER:    return "output buffer too small";
    case LW_ERR_MIC:       return "MIC check failed";
    case LW_ERR_CRYPTO:    return "cryptographic operation failed";
    case LW_ERR_KEY:       return "key missing, of the wrong length or unusable";
    case LW_ERR_HEX:       return "not a hexadecimal value of the expected length";
    case LW_STATUS_COUNT:  break;
    }
    return "unknown status";
}

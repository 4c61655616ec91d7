/* mls_status.c - sentences for the MLS status values. */
#include "mls/mls_status.h"

const char *mls_strerror(mls_status st)
{
    switch (st) {
    case MLS_OK:                    return "success";
    case MLS_ERR_ARGUMENT:          return "invalid argument";
    case MLS_ERR_TRUNCATED:         return "MLS data is truncated: shorter than its format requires";
    case MLS_ERR_TOO_LONG:          return "MLS data is longer than its format allows";
    case MLS_ERR_VERSION:           return "unsupported MLS version (only version 1 is defined)";
    case MLS_ERR_FORMAT:            return "malformed field in MLS data";
    case MLS_ERR_TYPE:              return "unknown or misplaced MLS message type";
    case MLS_ERR_BUFFER:            return "output buffer too small";
    case MLS_ERR_DIRECTION:         return "MLS message travels in the wrong direction";
    case MLS_ERR_EPOCH:             return "MLS message is for another key epoch";
    case MLS_ERR_TAG:               return "MLS authentication tag check failed";
    case MLS_ERR_REPLAY:            return "MLS counter is not above the last accepted one (replay or old message)";
    case MLS_ERR_COUNTER:           return "MLS send counter exhausted: rotate the MLS keys";
    case MLS_ERR_CRYPTO:            return "cryptographic operation failed";
    case MLS_ERR_KEY:               return "key missing, of the wrong length or unusable";
    case MLS_ERR_UNWRAP:            return "wrapped key failed its integrity check";
    case MLS_ERR_FRAG_INCONSISTENT: return "fragment is inconsistent with earlier fragments of its message";
    case MLS_ERR_FRAG_TIMEOUT:      return "fragmented transfer timed out and was abandoned";
    case MLS_ERR_FRAG_FRAME:        return "frame is too small for this message's fragment size";
    case MLS_ERR_FRAG_STATE:        return "no fragmented message in the required state";
    case MLS_STATUS_COUNT:          break;
    }
    return "unknown status";
}

mls_status mls_status_from_lw(lw_status st)
{
    switch (st) {
    case LW_OK:          return MLS_OK;
    case LW_ERR_MIC:     return MLS_ERR_UNWRAP;
    case LW_ERR_KEY:     return MLS_ERR_KEY;
    case LW_ERR_BUFFER:  return MLS_ERR_BUFFER;
    case LW_ERR_ARGUMENT: return MLS_ERR_ARGUMENT;
    default:             return MLS_ERR_CRYPTO;
    }
}

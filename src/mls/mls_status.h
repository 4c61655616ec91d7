/*
 * mls_status.h - the one status type of the message-layer security (MLS).
 *
 * Every function of src/mls/ that can fail returns an mls_status; MLS_OK is 0
 * so that `if (st != MLS_OK)` reads naturally. mls_strerror() turns each
 * value into a sentence that a CLI or a log prints as it is. Crypto backend
 * failures (lw_status) are folded into MLS_ERR_CRYPTO, MLS_ERR_KEY or
 * MLS_ERR_UNWRAP at the boundary, so a caller of the MLS layer only ever
 * handles this enum.
 */
#ifndef FERRY_MLS_STATUS_H
#define FERRY_MLS_STATUS_H

#include "lorawan/lw_status.h"

typedef enum mls_status {
    MLS_OK = 0,
    MLS_ERR_ARGUMENT,          /* a NULL pointer or a value out of its range */
    MLS_ERR_TRUNCATED,         /* input shorter than its format requires */
    MLS_ERR_TOO_LONG,          /* input longer than its format allows */
    MLS_ERR_VERSION,           /* MLS header version is not 1 */
    MLS_ERR_FORMAT,            /* a field holds a value the format forbids */
    MLS_ERR_TYPE,              /* unknown or misplaced message type */
    MLS_ERR_BUFFER,            /* the caller's output buffer is too small */
    MLS_ERR_DIRECTION,         /* message travels in the wrong direction */
    MLS_ERR_EPOCH,             /* message is for another MLS key epoch */
    MLS_ERR_TAG,               /* authentication tag does not match */
    MLS_ERR_REPLAY,            /* counter not above the last accepted one */
    MLS_ERR_COUNTER,           /* send counter exhausted: rotate MLS keys */
    MLS_ERR_CRYPTO,            /* the crypto backend failed */
    MLS_ERR_KEY,               /* a key is missing, of the wrong size or unusable */
    MLS_ERR_UNWRAP,            /* RFC 3394 integrity check of a wrapped key failed */
    MLS_ERR_FRAG_INCONSISTENT, /* fragment disagrees with earlier ones of its message */
    MLS_ERR_FRAG_TIMEOUT,      /* fragmented transfer abandoned after its timeout */
    MLS_ERR_FRAG_FRAME,        /* frame too small for the message's fragment size */
    MLS_ERR_FRAG_STATE,        /* no fragmented message in that state */
    MLS_STATUS_COUNT
} mls_status;

/* A static, human sentence for `st`; never NULL, never needs freeing. */
const char *mls_strerror(mls_status st);

/* Maps a crypto backend status to the MLS one (LW_ERR_MIC from an unwrap
 * becomes MLS_ERR_UNWRAP, LW_ERR_KEY MLS_ERR_KEY, every other error
 * MLS_ERR_CRYPTO). */
mls_status mls_status_from_lw(lw_status st);

#define MLS_MUST_CHECK LW_MUST_CHECK

#endif

/*
 * lw_status.h - the one status type of the LoRaWAN core.
 *
 * Every function of the core that can fail returns an lw_status; LW_OK is 0
 * so that `if (st != LW_OK)` reads naturally. lw_strerror() turns each value
 * into a sentence the CLI prints as it is.
 */
#ifndef FERRY_LW_STATUS_H
#define FERRY_LW_STATUS_H

typedef enum lw_status {
    LW_OK = 0,
    LW_ERR_ARGUMENT,     /* a NULL pointer or a value out of its range */
    LW_ERR_TRUNCATED,    /* the frame is shorter than its kind requires */
    LW_ERR_TOO_LONG,     /* the frame is longer than its kind allows */
    LW_ERR_MAJOR,        /* MHDR.Major is not LoRaWAN R1 */
    LW_ERR_MTYPE,        /* the frame's MType does not fit the operation */
    LW_ERR_FORMAT,       /* a field holds a value the specification forbids */
    LW_ERR_BUFFER,       /* the caller's output buffer is too small */
    LW_ERR_MIC,          /* the MIC does not match */
    LW_ERR_CRYPTO,       /* the crypto backend failed */
    LW_ERR_KEY,          /* a key is missing, of the wrong size or unusable */
    LW_ERR_HEX,          /* text is not hexadecimal of the expected length */
    LW_STATUS_COUNT
} lw_status;

/* A static, human sentence for `st`; never NULL, never needs freeing. */
const char *lw_strerror(lw_status st);

#if defined(__GNUC__)
#define LW_MUST_CHECK __attribute__((warn_unused_result))
#else
#define LW_MUST_CHECK
#endif

#endif

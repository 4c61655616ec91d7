/*
 * bi_status.h - the one status type of the Backend Interfaces layer.
 *
 * Every bi_ function that can fail returns a bi_status; BI_OK is 0.
 * bi_strerror() gives each value a sentence. Parsers also fill a bi_error
 * (bi_types.h) that names the field and says why, ready to become the
 * Description of a MalformedRequest/MalformedMessage answer.
 */
#ifndef FERRY_BI_STATUS_H
#define FERRY_BI_STATUS_H

typedef enum bi_status {
    BI_OK = 0,
    BI_ERR_ARGUMENT,     /* a NULL pointer or a value the caller may not pass */
    BI_ERR_TOO_LARGE,    /* the body is larger than BI_BODY_MAX */
    BI_ERR_NOT_JSON,     /* the body is not JSON text (or has duplicate keys) */
    BI_ERR_NOT_OBJECT,   /* the body is JSON but not an object */
    BI_ERR_TOO_DEEP,     /* objects/arrays nested deeper than BI_JSON_MAX_DEPTH */
    BI_ERR_MISSING,      /* a required field is absent */
    BI_ERR_TYPE,         /* a field has the wrong JSON type */
    BI_ERR_HEX,          /* a field is not hexadecimal, or has the wrong length */
    BI_ERR_RANGE,        /* a number is out of its range */
    BI_ERR_VALUE,        /* a field holds a value that is not allowed here */
    BI_ERR_VERSION,      /* ProtocolVersion is not "1.0" or "1.1" */
    BI_ERR_NSID,         /* SenderNSID/ReceiverNSID missing in 1.1 or present in 1.0 */
    BI_ERR_MESSAGE_TYPE, /* MessageType is not a Backend Interfaces message type */
    BI_ERR_UNSUPPORTED,  /* a known MessageType that a Join Server does not serve */
    BI_ERR_FRAME_SIZE,   /* PHYPayload has the wrong size for its message */
    BI_ERR_CLEAR_KEY,    /* a KeyEnvelope without KEKLabel where only wrapped keys go */
    BI_ERR_NOMEM,        /* jansson could not allocate */
    BI_ERR_BUFFER,       /* the caller's output buffer is too small */
    BI_STATUS_COUNT
} bi_status;

/* A static, human sentence for `st`; never NULL, never needs freeing. */
const char *bi_strerror(bi_status st);

#if defined(__GNUC__)
#define BI_MUST_CHECK __attribute__((warn_unused_result))
#else
#define BI_MUST_CHECK
#endif

#endif

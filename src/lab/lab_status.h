/*
 * lab_status.h - the one status type of the lab layer (network server,
 * gateways). LAB_OK is 0; lab_strerror() gives each value a sentence.
 */
#ifndef FERRY_LAB_STATUS_H
#define FERRY_LAB_STATUS_H

typedef enum lab_status {
    LAB_OK = 0,
    LAB_ERR_ARGUMENT,   /* a NULL pointer or a value out of range */
    LAB_ERR_FORMAT,     /* a datagram, JSON body or frame is malformed */
    LAB_ERR_VERSION,    /* a packet-forwarder datagram of another protocol version */
    LAB_ERR_BUFFER,     /* the caller's buffer is too small */
    LAB_ERR_NOMEM,      /* out of memory */
    LAB_ERR_MIC,        /* a frame's MIC does not verify */
    LAB_ERR_REPLAY,     /* a frame counter already seen (or too far behind) */
    LAB_ERR_UNKNOWN,    /* no session or device for that DevAddr / DevEUI */
    LAB_ERR_NO_ROUTE,   /* no Join Server route for that JoinEUI */
    LAB_ERR_JOIN,       /* the Join Server refused the join or could not be reached */
    LAB_ERR_FCNT,       /* a downlink names a counter other than the next one */
    LAB_ERR_TOO_BIG,    /* a downlink payload exceeds the device's maximum */
    LAB_ERR_IO,         /* a socket, file or HTTP exchange failed */
    LAB_ERR_CONFIG,     /* the configuration file is wrong */
    LAB_ERR_CRYPTO,     /* the crypto backend failed, or a key did not unwrap */
    LAB_ERR_DUTY_CYCLE, /* the sub-band's duty cycle does not allow a transmission yet */
    LAB_ERR_BUSY,       /* the gateway already transmits at that time */
    LAB_STATUS_COUNT
} lab_status;

/* A static sentence for `st`; never NULL. */
const char *lab_strerror(lab_status st);

#if defined(__GNUC__)
#define LAB_MUST_CHECK __attribute__((warn_unused_result))
#else
#define LAB_MUST_CHECK
#endif

#endif

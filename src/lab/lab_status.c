/*
 * lab_status.c - sentences for lab_status.
 */
#include "lab/lab_status.h"

const char *lab_strerror(lab_status st)
{
    static const char *const text[LAB_STATUS_COUNT] = {
        [LAB_OK] = "success",
        [LAB_ERR_ARGUMENT] = "invalid argument",
        [LAB_ERR_FORMAT] = "malformed datagram, body or frame",
        [LAB_ERR_VERSION] = "unsupported packet-forwarder protocol version (2 expected)",
        [LAB_ERR_BUFFER] = "output buffer too small",
        [LAB_ERR_NOMEM] = "out of memory",
        [LAB_ERR_MIC] = "MIC does not verify",
        [LAB_ERR_REPLAY] = "frame counter replayed or outdated",
        [LAB_ERR_UNKNOWN] = "unknown device or session",
        [LAB_ERR_NO_ROUTE] = "no Join Server route for this JoinEUI",
        [LAB_ERR_JOIN] = "the Join Server refused the join or could not be reached",
        [LAB_ERR_FCNT] = "downlink counter is not the next one",
        [LAB_ERR_TOO_BIG] = "payload exceeds the device's current maximum",
        [LAB_ERR_IO] = "I/O error",
        [LAB_ERR_CONFIG] = "configuration error",
        [LAB_ERR_CRYPTO] = "crypto failure or key unwrap failed",
        [LAB_ERR_DUTY_CYCLE] = "the sub-band's duty cycle does not allow a transmission yet",
        [LAB_ERR_BUSY] = "the gateway already transmits at that time",
    };
    if ((unsigned)st >= LAB_STATUS_COUNT)
        return "unknown status";
    return text[st];
}

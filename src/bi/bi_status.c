/* bi_status.c - sentences for the Backend Interfaces status values. */
#include "bi/bi_status.h"

const char *bi_strerror(bi_status st)
{
    switch (st) {
    case BI_OK:               return "success";
    case BI_ERR_ARGUMENT:     return "invalid argument";
    case BI_ERR_TOO_LARGE:    return "message body is larger than 64 KiB";
    case BI_ERR_NOT_JSON:     return "message body is not valid JSON";
    case BI_ERR_NOT_OBJECT:   return "message body is not a JSON object";
    case BI_ERR_TOO_DEEP:     return "JSON nesting is deeper than allowed";
    case BI_ERR_MISSING:      return "a required field is missing";
    case BI_ERR_TYPE:         return "a field has the wrong JSON type";
    case BI_ERR_HEX:          return "a field is not hexadecimal of the expected length";
    case BI_ERR_RANGE:        return "a number is out of range";
    case BI_ERR_VALUE:        return "a field holds a value that is not allowed";
    case BI_ERR_VERSION:      return "unsupported ProtocolVersion (only \"1.0\" and \"1.1\")";
    case BI_ERR_NSID:         return "SenderNSID/ReceiverNSID do not match the ProtocolVersion";
    case BI_ERR_MESSAGE_TYPE: return "unknown MessageType";
    case BI_ERR_UNSUPPORTED:  return "MessageType is not served by a Join Server";
    case BI_ERR_FRAME_SIZE:   return "PHYPayload has the wrong size";
    case BI_ERR_CLEAR_KEY:    return "KeyEnvelope carries a key in clear";
    case BI_ERR_NOMEM:        return "out of memory";
    case BI_ERR_BUFFER:       return "output buffer too small";
    case BI_STATUS_COUNT:     break;
    }
    return "unknown status";
}

/* net_status.c - net_strerror. */
#include "net/net.h"

const char *net_strerror(net_status st)
{
    switch (st) {
    case NET_OK:
        return "ok";
    case NET_ERR_ARGUMENT:
        return "invalid argument";
    case NET_ERR_POLICY:
        return "refused by the transport policy";
    case NET_ERR_IO:
        return "input/output error";
    case NET_ERR_TLS:
        return "TLS files unusable";
    case NET_ERR_LIMIT:
        return "a capacity was reached";
    case NET_ERR_NOMEM:
        return "out of memory";
    }
    return "unknown status";
}

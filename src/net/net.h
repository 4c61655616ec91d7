/*
 * net.h - the server layer every HTTP service of ferry stands on (the Join
 * Server, the hub, `idm serve`, the lab NS and AS) and the one HTTP client
 * they call others with (docs/net.md).
 *
 *   net_addr.h    listen addresses and URLs: parsing, loopback, plain-HTTP policy
 *   net_server.h  libmicrohttpd + GnuTLS: limits, deadlines, bodies, access logs
 *   net_client.h  libcurl: per-target CA, client certificate, bearer, body cap
 *   net_cert.h    a client certificate chain verified for one claimed identity
 *   net_json.h    request bodies parsed strictly (duplicate keys, UTF-8)
 *   net_log.h     JSON log lines built by jansson
 *   net_config.h  the `key = value` file format of every service's config
 *   net_token.h   bearer tokens kept as SHA-256, compared in constant time
 *
 * Every function returns a net_status; messages go to a caller's
 * char err[NET_ERR_MAX].
 */
#ifndef FERRY_NET_H
#define FERRY_NET_H

#define NET_ERR_MAX 256

typedef enum net_status {
    NET_OK = 0,
    NET_ERR_ARGUMENT, /* a malformed address, URL, file or value */
    NET_ERR_POLICY, /* well-formed but refused: plain HTTP off loopback, a token in clear */
    NET_ERR_IO, /* a file, a socket, a peer that did not answer */
    NET_ERR_TLS, /* certificate, key or CA files unusable */
    NET_ERR_LIMIT, /* a named capacity reached (body, answer, file size) */
    NET_ERR_NOMEM,
} net_status;

#define NET_MUST_CHECK __attribute__((warn_unused_result))

const char *net_strerror(net_status st);

#endif

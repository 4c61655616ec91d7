/*
 * net_addr.h - listen addresses and URLs, and the one plain-HTTP policy.
 *
 * A listen address is numeric, ADDR:PORT or [IPv6]:PORT; the port is all
 * digits, 0..65535 (0: the system chooses and the server logs the port it
 * bound). "127.0.0.1:17141x" is an error, not port 17141.
 *
 * Plain HTTP is served only on loopback, and a URL that will carry a bearer
 * token (or any other credential) may be http:// only towards loopback:
 * anywhere else the token would cross a network in clear.
 */
#ifndef FERRY_NET_ADDR_H
#define FERRY_NET_ADDR_H

#include "net/net.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

typedef struct net_addr {
    struct sockaddr_storage ss;
    socklen_t len;
    uint16_t port;
    bool v6;
    bool loopback; /* 127.0.0.0/8 or ::1 */
} net_addr;

/* Parses a listen address; err says what is wrong with `text`. */
net_status net_addr_parse(const char *text, net_addr *out, char err[NET_ERR_MAX]) NET_MUST_CHECK;

/* The URL's host is loopback: 127.0.0.0/8, [::1] or "localhost". */
bool net_url_is_loopback(const char *url);

/* A URL the services may call: http:// or https://, a host, and, when it
 * carries a credential, https:// unless the host is loopback. */
net_status net_url_check(const char *url, bool carries_credential, char err[NET_ERR_MAX]) NET_MUST_CHECK;

#endif

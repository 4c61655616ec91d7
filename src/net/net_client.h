/*
 * net_client.h - the one HTTP client of ferry's services (libcurl).
 *
 * Every call names its target's trust: a CA file for a private CA (else
 * the system's), an optional client certificate. A call that carries a
 * credential (a bearer token or a client certificate) goes out over
 * http:// only to a loopback host (net_url_check): elsewhere it is
 * refused before any byte is sent. An answer longer than the caller's
 * buffer is an error (NET_ERR_LIMIT), never cut silently. The bearer
 * header is built in a buffer that is wiped after the call.
 *
 * A net_client is one libcurl handle (connections to a target are
 * reused); use one per thread.
 */
#ifndef FERRY_NET_CLIENT_H
#define FERRY_NET_CLIENT_H

#include "net/net.h"

#include <stdbool.h>
#include <stddef.h>

#define NET_CLIENT_TIMEOUT_MS_DEFAULT 15000
#define NET_CLIENT_TOKEN_MAX 1024

typedef struct net_call {
    const char *method; /* NULL: POST when there is a body, else GET */
    const char *url;
    const char *bearer; /* NULL: none */
    const char *content_type; /* NULL: application/json when there is a body */
    const void *body; /* NULL: none */
    size_t len;
    const char *ca_file; /* NULL or "": the system's CAs (unless ca_pem) */
    const char *ca_pem;  /* PEM text of the target's CAs (a private CA); NULL or "": none */
    const char *client_cert; /* NULL or "": none (then client_key is ignored) */
    const char *client_key;
    unsigned timeout_ms; /* 0: NET_CLIENT_TIMEOUT_MS_DEFAULT */
} net_call;

typedef struct net_answer {
    unsigned status; /* the HTTP status */
    char *body; /* the caller's buffer, NUL-terminated */
    size_t cap; /* its size; the answer may hold cap - 1 bytes */
    size_t len;
} net_answer;

typedef struct net_client net_client;

net_status net_client_new(net_client **out) NET_MUST_CHECK;
void net_client_free(net_client *c);

/* Makes the call; NET_OK when an HTTP answer came (any status, in
 * ans->status). NET_ERR_POLICY for a credential over plain HTTP off
 * loopback, NET_ERR_IO when nothing answered (err says why), NET_ERR_LIMIT
 * for an answer that does not fit. */
net_status net_client_call(net_client *c, const net_call *call, net_answer *ans, char err[NET_ERR_MAX]) NET_MUST_CHECK;

#endif

/*
 * net_server.h - one HTTP(S) server shell for every ferry service.
 *
 * A service gives a handler and its options; the shell does the rest the
 * same way everywhere (docs/net.md):
 *
 *  - listens on a numeric ADDR:PORT (net_addr.h); plain HTTP only on
 *    loopback, HTTPS (GnuTLS) with tls_cert + tls_key anywhere;
 *  - when client_ca is given, asks each client for a certificate and hands
 *    the chain as sent to the handler, which verifies it for the identity
 *    the request claims (net_cert.h) - the handshake's check against the
 *    union of CAs authenticates nobody;
 *  - bounds what a client can hold: NET_LIMITS' connections in all and per
 *    IP address, an idle time-out, a deadline for receiving a request
 *    (headers and body; a slow client is cut off when it passes), and a
 *    body size per route. Reaching any of them is counted (net_server_stats)
 *    and logged, never silent;
 *  - collects the body (wiped before it is freed: bodies carry tokens and
 *    wrapped keys), the bearer token and the client's address;
 *  - writes one access-log line per request as JSON (net_log.h), with the
 *    fields the handler adds; the handler never logs a request by hand.
 */
#ifndef FERRY_NET_SERVER_H
#define FERRY_NET_SERVER_H

#include "net/net.h"
#include "net/net_cert.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Defaults a service may change (each is a named capacity, see docs/net.md). */
#define NET_CONN_MAX_DEFAULT 256 /* connections open at once */
#define NET_CONN_PER_IP_DEFAULT 32 /* of which from one IP address */
#define NET_IDLE_S_DEFAULT 15 /* a connection silent this long is closed */
#define NET_REQUEST_S_DEFAULT 30 /* to send a whole request (headers + body) */
#define NET_BODY_MAX_DEFAULT 65536 /* request body bytes */

typedef struct net_limits {
    unsigned conn_max;
    unsigned conn_per_ip;
    unsigned idle_s;
    unsigned request_s;
    size_t body_max;
} net_limits;

typedef struct net_request {
    const char *method;
    const char *path; /* as decoded by libmicrohttpd, without the query */
    const char *body; /* NUL-terminated; "" when none */
    size_t len;
    const char *bearer; /* the Bearer token, or NULL */
    const net_cert *chain; /* the client's certificates as sent, leaf first */
    size_t chain_len;
    const char *peer; /* the client's IP address as text */
    struct timespec started; /* CLOCK_MONOTONIC when its headers had arrived */
    struct net_server *server; /* the server answering (for its statistics) */
    void *conn_; /* for net_request_query/header */
} net_request;

/* Seconds since the request's headers arrived (for latency metrics). */
double net_request_seconds(const net_request *rq);

/* A query argument or a header of the request; NULL when absent. */
const char *net_request_query(const net_request *rq, const char *name);
const char *net_request_header(const net_request *rq, const char *name);

#define NET_REPLY_HEADERS_MAX 12 /* extra headers of one answer (net_reply_header) */

typedef struct net_stream net_stream;

typedef struct net_reply {
    unsigned status; /* 0 = the handler answered nothing: 500 */
    const char *content_type;
    char *body;
    size_t len;
    void (*body_free)(void *); /* how body is freed (after a wipe); NULL = not owned */
    const char *log_level; /* NULL: by status (error >= 500, warn >= 400, else info) */
    const char *log_msg; /* NULL: "request" */
    json_t *log; /* fields of the access-log line (the handler adds; never a secret) */
    const char *headers[NET_REPLY_HEADERS_MAX][2]; /* name, value: strings that outlive the answer */
    size_t n_headers;
    net_stream *stream; /* net_reply_stream: the body is streamed (body ignored) */
} net_reply;

/* Each of these replaces the answer; when memory runs out the answer
 * becomes a 500 {"Error":"out of memory"} (a constant), never a half one. */
/* The answer is a copy of body (len bytes). */
void net_reply_copy(net_reply *rp, unsigned status, const char *content_type, const void *body, size_t len);
/* The answer is doc rendered compact (doc consumed; NULL = out of memory). */
void net_reply_json(net_reply *rp, unsigned status, json_t *doc);
/* {"Error": msg} with status (msg any bytes: jansson escapes them). */
void net_reply_error(net_reply *rp, unsigned status, const char *msg);
/* Frees the body (wiped first) and the log fields. */
void net_reply_clear(net_reply *rp);

/* Adds a header to the answer (name and value must outlive it: constants).
 * NET_ERR_LIMIT past NET_REPLY_HEADERS_MAX, and nothing is added. */
net_status net_reply_header(net_reply *rp, const char *name, const char *value) NET_MUST_CHECK;

/* ---- streamed answers (server-sent events) ----
 * The answer's status and headers go now; its body is whatever the
 * service hands net_stream_send later, from any thread, as the client
 * takes it, until net_stream_end, the client going away, or the server
 * stopping. A connection waiting for bytes costs no thread and no CPU
 * (libmicrohttpd suspends it until the next send). */
#define NET_STREAM_QUEUE_MAX 65536 /* bytes queued for one client and not taken yet */

/* Makes rp a streamed answer; *out is the service's reference to the
 * stream (release it with net_stream_release when done with it). */
net_status net_reply_stream(net_reply *rp, unsigned status, const char *content_type,
                            net_stream **out) NET_MUST_CHECK;
/* Queues len bytes. NET_ERR_LIMIT when they would pass
 * NET_STREAM_QUEUE_MAX (a client that does not read): nothing is queued
 * and the stream ends; NET_ERR_IO when the stream has ended already. */
net_status net_stream_send(net_stream *st, const char *text, size_t len) NET_MUST_CHECK;
/* False once the stream ended (net_stream_end, the client gone, the server stopping). */
bool net_stream_open(net_stream *st);
/* Ends the stream once the queued bytes are sent. */
void net_stream_end(net_stream *st);
/* Drops the service's reference (NULL is fine). */
void net_stream_release(net_stream *st);

typedef void (*net_handler_fn)(void *user, const net_request *rq, net_reply *rp);
/* The body limit for this route; 0 = the server's limits.body_max. */
typedef size_t (*net_body_max_fn)(void *user, const char *method, const char *path);

/* HTTPS: certificate and key files, and the CAs a client may be verified
 * against (PEM text; NULL = no client certificates asked). All NULL or ""
 * = plain HTTP, on loopback only. */
typedef struct net_tls {
    const char *cert, *key;
    const char *client_ca;
    size_t client_ca_len;
    const char *priority;          /* GnuTLS priority string; NULL = NET_TLS_PRIORITY_DEFAULT (net_tls.h) */
    bool below_floor_ok;           /* the configuration allows a priority below the floor */
} net_tls;

typedef struct net_server_opts {
    const char *service; /* the "service" of its log lines: "js", "hub", "idm", ... */
    const char *listen; /* ADDR:PORT */
    net_tls tls;
    unsigned threads; /* 0 or 1: one thread; else a pool */
    /* SO_REUSEPORT: several processes of the same user listen on one
     * address and the kernel spreads new connections among them (for a
     * service whose state is all in a shared database) */
    bool shared_port;
    net_limits limits; /* zero fields take the defaults above */
    net_handler_fn handle;
    net_body_max_fn body_max; /* optional */
    void *user;
} net_server_opts;

typedef struct net_stats {
    uint64_t requests; /* answered */
    uint64_t refused_conn_max; /* connections closed at once: conn_max open */
    uint64_t refused_per_ip; /* connections closed at once: conn_per_ip from that address */
    uint64_t cut_deadline; /* connections cut: request_s passed while receiving */
    uint64_t body_too_large; /* requests answered 413 */
    uint64_t reloads;        /* TLS material replaced (net_server_reload) */
    unsigned open; /* connections open now */
} net_stats;

typedef struct net_server net_server;

/* Starts serving (threads of libmicrohttpd's). err says what is wrong:
 * the address, the policy, the TLS files, or the port in use. */
net_status net_server_start(const net_server_opts *o, net_server **out, char err[NET_ERR_MAX]) NET_MUST_CHECK;

/* The port bound (differs from the configured one for ":0"). */
unsigned net_server_port(const net_server *s);

void net_server_stats(net_server *s, net_stats *out);

/* The statistics as Prometheus text (ferry_http_* families, labelled with
 * the service), appended at out + *len within cap; NET_ERR_LIMIT when they
 * do not fit (nothing appended). */
net_status net_server_metrics(net_server *s, char *out, size_t cap, size_t *len) NET_MUST_CHECK;

/* New TLS material (certificate, key, client CAs, priority) without a
 * restart: read and checked whole first - a file that cannot be read, a
 * key that is not the certificate's, a priority below the floor leave the
 * material in place and err says why. Then a new daemon serves every new
 * connection on the same socket, and the old one finishes the connections
 * it has (at most request_s + idle_s more) on the old material. A reload
 * cannot turn TLS or client certificates on or off (a restart can). */
net_status net_server_reload(net_server *s, const net_tls *tls, char err[NET_ERR_MAX]) NET_MUST_CHECK;

/* net_server_reload with tls, whose client CA bundle (tls->client_ca, a
 * heap buffer of net_ca_bundle_add's, or NULL) is taken: wiped and freed
 * here whatever the outcome. What the services' reloads share. */
net_status net_server_reload_taking_ca(net_server *s, net_tls *tls, char err[NET_ERR_MAX]) NET_MUST_CHECK;

/* Stops, waits for the threads, frees; NULL is fine. */
void net_server_stop(net_server *s);

#endif

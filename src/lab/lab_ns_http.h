/*
 * lab_ns_http.h - the lab network server as a process: the UDP socket of
 * the packet-forwarder protocol, the HTTP endpoint of the NS-AS interface
 * (POST /downlink, GET /status; libmicrohttpd), and the HTTP client for
 * Join Servers and the application server (libcurl), around the engine of
 * lab_ns.h.
 */
#ifndef FERRY_LAB_NS_HTTP_H
#define FERRY_LAB_NS_HTTP_H

#include <signal.h>
#include <stddef.h>
#include "lab/lab_ns.h"

/* Runs until *stop becomes non-zero. Log lines (one JSON object each) go
 * to stderr; a "listening" line is written once both sockets are open.
 * LAB_ERR_IO with a sentence in err[cap] when a socket cannot be opened. */
lab_status lab_ns_serve(const lab_ns_config *cfg, volatile sig_atomic_t *stop, char *err, size_t cap) LAB_MUST_CHECK;

#endif

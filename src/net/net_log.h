/*
 * net_log.h - one log line = one JSON object on stderr, built by jansson.
 *
 * Every service's log goes through here, so every line of every log parses
 * as JSON whatever a request put in its URL, headers or body: jansson
 * escapes control characters and quotes, and text that is not UTF-8 is
 * logged as its hex ("<hex>...") rather than dropped or passed through.
 * A line is written whole with one fputs under stdio's lock, so lines from
 * several threads never interleave. Never give it a secret.
 */
#ifndef FERRY_NET_LOG_H
#define FERRY_NET_LOG_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

/* {"ts","level","service","msg", ...fields}: fields (consumed; NULL = none)
 * is an object whose members are appended in order. */
void net_log(const char *service, const char *level, const char *msg, json_t *fields);

/* net_log to `out` (NULL: stderr), stamped `unix_s` seconds since the
 * epoch instead of now when unix_s >= 0 (a service's own clock). */
void net_log_to(FILE *out, int64_t unix_s, const char *service, const char *level, const char *msg, json_t *fields);

/* A JSON string of any bytes: s itself when it is valid UTF-8 of at most
 * max bytes, else a marked rendering ("hex:..." or a cut "…" suffix) that
 * says so. Never NULL unless memory runs out. */
json_t *net_log_text(const char *s, size_t len, size_t max);

#endif

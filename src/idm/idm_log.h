/*
 * idm_log.h - the Identity Manager's log lines: one JSON object a line on
 * stderr, built by jansson, so that nothing a client sends (a path, a
 * customer Join Server's answer quoted in an error) can end a line or
 * forge a field.
 */
#ifndef FERRY_IDM_LOG_H
#define FERRY_IDM_LOG_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

/* {"time":..,"component":"idm","msg":<fmt formatted>} ; the message is
 * formatted whole (up to 1 KiB; longer is cut and ends with "...",
 * which says so) and then escaped by the JSON library. */
void idm_logf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The line of idm_logf, written to `out` with `when` (seconds since the
 * epoch) as its time: for a caller with its own stream and clock
 * (idm_core_logf). */
void idm_log_vwrite(FILE *out, int64_t when, const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));

/* A request: {"time","component":"idm","msg":"request","method","path","status"};
 * the path whole, escaped. */
void idm_log_request(const char *method, const char *path, unsigned status);

/* {"time","component":"idm","msg":"listening","listen","port","scheme"} */
void idm_log_listening(const char *listen, unsigned port, const char *scheme);

#endif

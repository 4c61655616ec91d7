/*
 * idm_log.h - the Identity Manager's log lines: the server layer's JSON
 * lines (src/net/net_log.h, "service":"idm"), so that nothing a client
 * sends (a path, a customer Join Server's answer quoted in an error) can
 * end a line or forge a field, and every service's log reads alike.
 */
#ifndef FERRY_IDM_LOG_H
#define FERRY_IDM_LOG_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

/* {"ts","level":"info","service":"idm","msg":<fmt formatted>}: the message
 * formatted whole (never cut), then escaped by the JSON library. */
void idm_logf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The line of idm_logf, written to `out` with `when` (seconds since the
 * epoch) as its time: for a caller with its own stream and clock
 * (idm_core_logf). */
void idm_log_vwrite(FILE *out, int64_t when, const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));

/* {"ts","level","service":"idm","msg":"listening","listen","port","scheme"} */
void idm_log_listening(const char *listen, unsigned port, const char *scheme);

#endif

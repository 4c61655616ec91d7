/*
 * lab_log.h - what the lab's processes (lab_ns_http.c, lab_as_http.c) share:
 * the wall clock in milliseconds and one JSON object per log line on stderr
 * ({"ts","level","msg","dev_eui"?,"detail"}). Callers never pass a key or a
 * token in `detail`.
 */
#ifndef FERRY_LAB_LOG_H
#define FERRY_LAB_LOG_H

#include <stdint.h>

/* Milliseconds since the Unix epoch (CLOCK_REALTIME). */
uint64_t lab_now_ms(void);

/* One log line; dev_eui 0 leaves the field out; detail may be NULL. */
void lab_log_line(const char *level, const char *msg, uint64_t dev_eui, const char *detail);

#endif

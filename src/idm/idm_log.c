/*
 * idm_log.c - the Identity Manager's log lines (idm_log.h), written by the
 * server layer's net_log_to: one fputs per line under stdio's lock, so
 * lines from the HTTP and housekeeping threads never interleave.
 */
#include "idm/idm_log.h"
#include "net/net_log.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void idm_log_vwrite(FILE *out, int64_t when, const char *fmt, va_list ap)
{
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    char *msg = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (msg != NULL)
        vsnprintf(msg, (size_t)n + 1, fmt, again);
    va_end(again);
    net_log_to(out, when, "idm", "info", msg != NULL ? msg : "(a log message could not be formatted)", NULL);
    free(msg);
}

void idm_logf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    idm_log_vwrite(stderr, -1, fmt, ap);
    va_end(ap);
}

void idm_log_listening(const char *listen, unsigned port, const char *scheme)
{
    json_t *f = json_object();
    if (f != NULL) {
        json_object_set_new(f, "listen", net_log_text(listen, strlen(listen), 128));
        json_object_set_new(f, "port", json_integer(port));
        json_object_set_new(f, "scheme", json_string(scheme));
    }
    net_log("idm", "info", "listening", f);
}

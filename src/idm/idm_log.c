/*
 * idm_log.c - log lines built by jansson (idm_log.h). One fputs per line,
 * so lines from the HTTP and housekeeping threads never interleave.
 */
#include "idm/idm_log.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MSG_MAX 1024

static void emit_to(FILE *out, int64_t when, json_t *o)
{
    if (o == NULL)
        return;
    json_object_set_new(o, "component", json_string("idm"));
    json_object_set_new(o, "time", json_integer((json_int_t)when));
    char *line = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_SORT_KEYS);
    json_decref(o);
    if (line == NULL) {
        fputs("{\"component\":\"idm\",\"msg\":\"a log line could not be built\"}\n", out);
        return;
    }
    size_t n = strlen(line);
    char *withnl = malloc(n + 2);
    if (withnl != NULL) {
        memcpy(withnl, line, n);
        withnl[n] = '\n';
        withnl[n + 1] = '\0';
        fputs(withnl, out);
        free(withnl);
    }
    /* jansson's own allocator made it (the CLI installs a wiping one) */
    json_free_t jfree = NULL;
    json_get_alloc_funcs(NULL, &jfree);
    if (jfree != NULL)
        jfree(line);
}

static void emit(json_t *o)
{
    emit_to(stderr, (int64_t)time(NULL), o);
}

/* jansson refuses invalid UTF-8: bytes outside ASCII are shown as '?' so
 * that a hostile path still gets its line. */
static json_t *text(const char *s)
{
    json_t *j = json_string(s);
    if (j != NULL)
        return j;
    size_t n = strlen(s);
    char *copy = malloc(n + 1);
    if (copy == NULL)
        return json_string("?");
    for (size_t i = 0; i <= n; i++)
        copy[i] = (unsigned char)s[i] >= 0x80 ? '?' : s[i];
    j = json_string(copy);
    free(copy);
    return j;
}

void idm_log_vwrite(FILE *out, int64_t when, const char *fmt, va_list ap)
{
    char msg[MSG_MAX];
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    if (n < 0)
        snprintf(msg, sizeof msg, "(a log message could not be formatted)");
    else if ((size_t)n >= sizeof msg)
        memcpy(msg + sizeof msg - 4, "...", 4);
    json_t *o = json_object();
    if (o != NULL)
        json_object_set_new(o, "msg", text(msg));
    emit_to(out, when, o);
}

void idm_logf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    idm_log_vwrite(stderr, (int64_t)time(NULL), fmt, ap);
    va_end(ap);
}

void idm_log_request(const char *method, const char *path, unsigned status)
{
    json_t *o = json_object();
    if (o == NULL)
        return;
    json_object_set_new(o, "msg", json_string("request"));
    json_object_set_new(o, "method", text(method != NULL ? method : ""));
    json_object_set_new(o, "path", text(path != NULL ? path : ""));
    json_object_set_new(o, "status", json_integer(status));
    emit(o);
}

void idm_log_listening(const char *listen, unsigned port, const char *scheme)
{
    json_t *o = json_object();
    if (o == NULL)
        return;
    json_object_set_new(o, "msg", json_string("listening"));
    json_object_set_new(o, "listen", text(listen));
    json_object_set_new(o, "port", json_integer(port));
    json_object_set_new(o, "scheme", text(scheme));
    emit(o);
}

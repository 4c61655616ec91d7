/* net_log.c - JSON log lines (net_log.h). */
#include "net/net_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

json_t *net_log_text(const char *s, size_t len, size_t max)
{
    if (s == NULL)
        return json_null();
    size_t n = len < max ? len : max;
    json_t *t = json_stringn(s, n); /* NULL when not UTF-8 (or cut inside a character) */
    if (t != NULL && n == len)
        return t;
    if (t != NULL) {
        char *cut = malloc(n + 64);
        if (cut == NULL) {
            json_decref(t);
            return NULL;
        }
        memcpy(cut, s, n);
        int k = snprintf(cut + n, 64, "...(%zu bytes more)", len - n);
        json_decref(t);
        t = json_stringn(cut, n + (size_t)k);
        free(cut);
        return t;
    }
    /* not UTF-8: show the bytes as hex, so a hostile byte neither breaks
     * the line nor disappears */
    size_t shown = n > max / 2 ? max / 2 : n;
    char *hex = malloc(2 * shown + 64);
    if (hex == NULL)
        return NULL;
    size_t o = (size_t)snprintf(hex, 64, "hex:");
    for (size_t i = 0; i < shown; i++)
        o += (size_t)snprintf(hex + o, 3, "%02x", (unsigned char)s[i]);
    if (shown < len)
        o += (size_t)snprintf(hex + o, 48, "...(%zu bytes more)", len - shown);
    t = json_stringn(hex, o);
    free(hex);
    return t;
}

void net_log(const char *service, const char *level, const char *msg, json_t *fields)
{
    net_log_to(stderr, -1, service, level, msg, fields);
}

void net_log_to(FILE *out, int64_t unix_s, const char *service, const char *level, const char *msg, json_t *fields)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (unix_s >= 0) {
        ts.tv_sec = (time_t)unix_s;
        ts.tv_nsec = 0;
    }
    if (out == NULL)
        out = stderr;
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[80];
    snprintf(when, sizeof(when), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ts.tv_nsec / 1000000) % 1000);
    json_t *o = json_object();
    if (o == NULL) {
        json_decref(fields);
        return;
    }
    json_object_set_new(o, "ts", json_string(when));
    json_object_set_new(o, "level", json_string(level != NULL ? level : "info"));
    if (service != NULL)
        json_object_set_new(o, "service", json_string(service));
    json_object_set_new(o, "msg", net_log_text(msg != NULL ? msg : "", msg != NULL ? strlen(msg) : 0, 4096));
    if (json_is_object(fields))
        json_object_update(o, fields);
    json_decref(fields);
    char *line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (line == NULL)
        return;
    flockfile(out);
    fputs(line, out);
    fputc('\n', out);
    fflush(out);
    funlockfile(out);
    json_free_t jfree = NULL;
    json_get_alloc_funcs(NULL, &jfree);
    (jfree != NULL ? jfree : free)(line);
}

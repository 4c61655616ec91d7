/*
 * js_log.c - logs as JSON lines on stderr.
 *
 * What a line may hold: time, level, message, the request's MessageType,
 * ResultCode, DevEUI, HTTP status, latency and the answer's Description
 * (which the bi layer guarantees never carries key material). Bodies,
 * headers (Authorization!), envelopes and blobs are never logged. A line is
 * built whole and written with one fputs under stdio's lock, so lines from
 * worker threads do not interleave.
 */
#include "js/js.h"
#include "js/js_internal.h"

#include <jansson.h>
#include <stdio.h>
#include <time.h>

void js_log(const char *level, const char *msg, const js_reply *r, double seconds, const char *extra)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[80];
    snprintf(when, sizeof(when), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ts.tv_nsec / 1000000) % 1000);
    json_t *o = json_object();
    if (o == NULL)
        return;
    json_object_set_new(o, "ts", json_string(when));
    json_object_set_new(o, "level", json_string(level));
    json_object_set_new(o, "msg", json_string(msg));
    if (r != NULL) {
        json_object_set_new(o, "status", json_integer(r->http_status));
        if (r->has_type && bi_message_type_name(r->type) != NULL)
            json_object_set_new(o, "type", json_string(bi_message_type_name(r->type)));
        if (r->has_result) {
            const char *rn = bi_result_code_name(r->result, BI_VERSION_1_1);
            json_object_set_new(o, "result", json_string(rn != NULL ? rn : "?"));
        }
        if (r->has_dev_eui) {
            char eui[17];
            snprintf(eui, sizeof(eui), "%016llX", (unsigned long long)r->dev_eui);
            json_object_set_new(o, "dev_eui", json_string(eui));
        }
        if (r->note[0] != '\0')
            json_object_set_new(o, "detail", json_string(r->note));
        json_object_set_new(o, "ms", json_real(seconds * 1000.0));
    }
    if (extra != NULL)
        json_object_set_new(o, "detail", json_string(extra));
    char line[1024];
    size_t n = json_dumpb(o, line, sizeof(line) - 2, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (n == 0 || n > sizeof(line) - 2)
        return;
    line[n++] = '\n';
    line[n] = '\0';
    fputs(line, stderr);
    fflush(stderr);
}

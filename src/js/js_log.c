/*
 * js_log.c - the Join Server's log lines, as JSON through the server
 * layer's net_log (one object per line, built by jansson).
 *
 * What a line may hold: time, level, message, the request's MessageType,
 * ResultCode, DevEUI, HTTP status, latency and the answer's Description
 * (which the bi layer guarantees never carries key material). Bodies,
 * headers (Authorization!), envelopes and blobs are never logged.
 */
#include "js/js.h"
#include "js/js_internal.h"
#include "net/net_log.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

void js_log_fields(const js_reply *r, json_t *o)
{
    if (r == NULL || !json_is_object(o))
        return;
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
        json_object_set_new(o, "detail", net_log_text(r->note, strlen(r->note), sizeof(r->note)));
}

void js_log(const char *level, const char *msg, const js_reply *r, double seconds, const char *extra)
{
    json_t *o = json_object();
    if (o == NULL)
        return;
    if (r != NULL) {
        json_object_set_new(o, "status", json_integer(r->http_status));
        js_log_fields(r, o);
        json_object_set_new(o, "ms", json_real(seconds * 1000.0));
    }
    if (extra != NULL)
        json_object_set_new(o, "detail", net_log_text(extra, strlen(extra), 1024));
    net_log("js", level, msg, o);
}

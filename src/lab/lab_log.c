/*
 * lab_log.c - the clock and the JSON log lines of the lab's processes
 * (lab_log.h), written by the server layer's net_log.
 */
#include "lab/lab_log.h"
#include "net/net_log.h"

#include <jansson.h>
#include <string.h>
#include <stdio.h>
#include <time.h>

uint64_t lab_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void lab_log_line(const char *level, const char *msg, uint64_t dev_eui, const char *detail)
{
    json_t *o = json_object();
    if (o == NULL)
        return;
    if (dev_eui) {
        char eui[17];
        snprintf(eui, sizeof(eui), "%016llX", (unsigned long long)dev_eui);
        json_object_set_new(o, "dev_eui", json_string(eui));
    }
    json_object_set_new(o, "detail", net_log_text(detail ? detail : "", detail ? strlen(detail) : 0, 2048));
    net_log("lab", level, msg, o);
}

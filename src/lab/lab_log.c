/*
 * lab_log.c - the clock and the JSON log lines of the lab's processes
 * (lab_log.h).
 */
#include "lab/lab_log.h"

#include <stdio.h>
#include <time.h>

uint64_t lab_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void json_escape(const char *s, char *out, size_t cap)
{
    size_t o = 0;
    for (; *s && o + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < 0x20) {
            o += (size_t)snprintf(out + o, cap - o, "\\u%04x", c);
        } else {
            out[o++] = (char)c;
        }
    }
    out[o] = 0;
}

void lab_log_line(const char *level, const char *msg, uint64_t dev_eui, const char *detail)
{
    char when[40], esc[1100];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    json_escape(detail ? detail : "", esc, sizeof(esc));
    if (dev_eui)
        fprintf(stderr, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":\"%s\",\"dev_eui\":\"%016llX\",\"detail\":\"%s\"}\n",
                when, level, msg, (unsigned long long)dev_eui, esc);
    else
        fprintf(stderr, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":\"%s\",\"detail\":\"%s\"}\n", when, level, msg, esc);
    fflush(stderr);
}

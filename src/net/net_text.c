/* net_text.c - text into a bounded buffer (net_text.h). */
#include "net/net_text.h"

#include <stdarg.h>
#include <stdio.h>

void net_text_put(net_text *t, const char *fmt, ...)
{
    if (t->over)
        return;
    if (t->len >= t->cap) {
        t->over = true;
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= t->cap - t->len) {
        t->over = true;
        t->p[t->len] = '\0';
        return;
    }
    t->len += (size_t)n;
}

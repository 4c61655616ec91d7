/*
 * net_text.h - text built piece by piece into a caller's buffer (metrics
 * expositions): a piece that does not fit sets `over` and nothing after it
 * is written, so the caller answers an error instead of a cut text.
 */
#ifndef FERRY_NET_TEXT_H
#define FERRY_NET_TEXT_H

#include <stdbool.h>
#include <stddef.h>

typedef struct net_text {
    char *p; /* NUL-terminated while not over */
    size_t cap, len;
    bool over;
} net_text;

void net_text_put(net_text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif

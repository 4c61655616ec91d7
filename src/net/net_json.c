/* net_json.c - strict JSON request bodies (net_json.h). */
#include "net/net_json.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

size_t net_utf8_invalid_at(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        size_t n;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return i;
        }
        for (size_t k = 1; k <= n; k++) {
            if (i + k >= len || (s[i + k] & 0xC0) != 0x80)
                return i;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return i;
        i += n + 1;
    }
    return len;
}

size_t net_json_too_deep_at(const char *s, size_t len, unsigned max)
{
    unsigned depth = 0;
    bool in_str = false, esc = false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (in_str) {
            if (esc)
                esc = false;
            else if (c == '\\')
                esc = true;
            else if (c == '"')
                in_str = false;
        } else if (c == '"') {
            in_str = true;
        } else if (c == '[' || c == '{') {
            if (++depth > max)
                return i;
        } else if ((c == ']' || c == '}') && depth > 0) {
            depth--;
        }
    }
    return len;
}

net_status net_json_parse(const char *body, size_t len, size_t jansson_flags, json_t **out, char why[NET_ERR_MAX])
{
    *out = NULL;
    if (body == NULL || len == 0) {
        snprintf(why, NET_ERR_MAX, "body: empty, a JSON document is expected");
        return NET_ERR_ARGUMENT;
    }
    size_t bad = net_utf8_invalid_at((const unsigned char *)body, len);
    if (bad < len) {
        snprintf(why, NET_ERR_MAX, "body: invalid UTF-8 at byte %zu", bad);
        return NET_ERR_ARGUMENT;
    }
    const char *nul = memchr(body, '\0', len);
    if (nul != NULL) {
        snprintf(why, NET_ERR_MAX, "body: a NUL byte at byte %zu", (size_t)(nul - body));
        return NET_ERR_ARGUMENT;
    }
    size_t deep = net_json_too_deep_at(body, len, NET_JSON_DEPTH_MAX);
    if (deep < len) {
        snprintf(why, NET_ERR_MAX, "body: nested deeper than %d levels at byte %zu", NET_JSON_DEPTH_MAX, deep);
        return NET_ERR_LIMIT;
    }
    json_error_t je;
    json_t *doc = json_loadb(body, len, jansson_flags | JSON_REJECT_DUPLICATES, &je);
    if (doc == NULL) {
        snprintf(why, NET_ERR_MAX, "body: %s at byte %d", je.text, je.position);
        return NET_ERR_ARGUMENT;
    }
    *out = doc;
    return NET_OK;
}

/*
 * net_json.h - a request body parsed as exactly one JSON document, strictly.
 *
 * Refused with a precise reason (for a 400 answer): bytes that are not
 * UTF-8 (with the offset of the first bad one), a NUL byte, a duplicate key
 * in any object (the last one would silently win), trailing data, anything
 * jansson's parser rejects, and nesting deeper than NET_JSON_DEPTH_MAX
 * (checked before parsing: jansson recurses once per level).
 */
#ifndef FERRY_NET_JSON_H
#define FERRY_NET_JSON_H

#include "net/net.h"

#include <jansson.h>
#include <stddef.h>

#define NET_JSON_DEPTH_MAX 32

/* *out = the document (caller's, json_decref) or NULL with why[] filled. */
net_status net_json_parse(const char *body, size_t len, size_t jansson_flags, json_t **out,
                          char why[NET_ERR_MAX]) NET_MUST_CHECK;

/* The offset of the first byte that breaks UTF-8 (overlongs, surrogates and
 * code points above U+10FFFF included), or len when all is valid. */
size_t net_utf8_invalid_at(const unsigned char *s, size_t len);

/* The offset of the first bracket, outside strings, that opens a level
 * deeper than max; len when there is none. A scan before jansson, whose
 * parser and json_decref recurse once per level. */
size_t net_json_too_deep_at(const char *s, size_t len, unsigned max);

#endif

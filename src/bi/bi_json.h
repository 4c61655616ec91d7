/*
 * bi_json.h - internal to src/bi: reading and writing BI fields with jansson.
 *
 * Readers take the object, the field name and whether it is required, and
 * on failure fill the caller's bi_error with the field and a reason, so each
 * message parser is a flat list of calls. JSON null counts as absent (Go's
 * nil pointers and Rust's None are written that way by some peers).
 * Writers return BI_ERR_NOMEM when jansson cannot allocate.
 */
#ifndef FERRY_BI_JSON_H
#define FERRY_BI_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "bi/bi_header.h"
#include "bi/bi_key_envelope.h"

/* Records `st`, `field` and the formatted reason in err; returns st. */
bi_status bi_fail(bi_error *err, bi_status st, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Body checks (size, nesting), parse, must be an object. On success the
 * caller owns *root (json_decref). Failures are never answerable. */
bi_status bi_json_load(const void *body, size_t len, json_t **root, bi_error *err);

/* Copies at most cap-1 characters of s[len] into out for an error message:
 * printable ASCII as is, anything else as '?', "..." when cut. Echoed values
 * go through it so that a Description is always valid UTF-8 (jansson
 * refuses anything else) and never carries control characters. */
void bi_printable(char *out, size_t cap, const char *s, size_t len);

/* The member `name`, or NULL when absent or null. */
json_t *bi_json_get(const json_t *obj, const char *name);

/* A string member; *s NULL when absent and optional. */
bi_status bi_json_string(const json_t *obj, const char *field, bool required, const char **s, size_t *len,
                         bi_error *err);

/* A hex member of min..max bytes ("0x" and either case accepted); *out_len
 * is 0 when absent and optional ("" counts as absent then). */
bi_status bi_json_hex(const json_t *obj, const char *field, bool required, uint8_t *out, size_t min, size_t max,
                      size_t *out_len, bi_error *err);

/* Hex text of exactly `bytes` bytes read as a big-endian number. */
bi_status bi_hex_be(const char *s, size_t len, unsigned bytes, uint64_t *v, const char *field, bi_error *err);

/* A hex member of exactly `bytes` bytes as a big-endian number (EUI: 8,
 * NetID: 3, DevAddr: 4); *present false when absent and optional. */
bi_status bi_json_be(const json_t *obj, const char *field, bool required, unsigned bytes, uint64_t *v,
                     bool *present, bi_error *err);

/* A non-negative integer member up to `max` (an integral real is accepted:
 * jansson yields reals for integers too large for it). */
bi_status bi_json_uint(const json_t *obj, const char *field, bool required, uint64_t max, uint64_t *v,
                       bool *present, bi_error *err);

/* Decodes hex text (after an optional 0x) of min..max bytes; constant time
 * in the digits (it goes through lw_hex_decode). */
bi_status bi_hex_text(const char *s, size_t len, uint8_t *out, size_t min, size_t max, size_t *out_len,
                      const char *field, bi_error *err);

/* Copies a label-like string (no control characters, 1..max bytes) into
 * out[max+1]; *out "" when absent and optional. */
bi_status bi_json_label(const json_t *obj, const char *field, bool required, char *out, size_t max,
                        bi_error *err);

/* The KeyEnvelope member `field`; env->present false when absent and
 * optional. Overwrites the AESKey text inside the document. */
bi_status bi_json_key_envelope(json_t *obj, const char *field, bool required, bi_key_envelope *env,
                               bi_error *err);

/* A SenderID/ReceiverID member (bi_header.c): required; the kind follows
 * the text (6 hex digits a NetID, 16 an EUI, anything else a name). */
bi_status bi_json_id(const json_t *root, const char *field, bi_id *id, bi_error *err);

/* Header fields of a message (bi_header.c). Sets err->answerable once
 * MessageType, SenderID, ReceiverID and TransactionID are good. */
bi_status bi_header_parse(const json_t *root, bi_header *h, bi_error *err);

/* Writers. */
bi_status bi_put_hex(json_t *obj, const char *key, const uint8_t *b, size_t n);
bi_status bi_put_be(json_t *obj, const char *key, uint64_t v, unsigned bytes);
bi_status bi_put_str(json_t *obj, const char *key, const char *s);
bi_status bi_put_uint(json_t *obj, const char *key, uint64_t v);
bi_status bi_put_header(json_t *obj, const bi_header *h);
bi_status bi_put_key_envelope(json_t *obj, const char *key, const bi_key_envelope *env);
bi_status bi_put_result(json_t *obj, const bi_result *r, bi_version v);
/* Dumps `root` compactly into out[cap] with a NUL and releases it. */
bi_status bi_json_dump(json_t *root, char *out, size_t cap, size_t *out_len);

#endif

/*
 * bi_key_envelope.h - the Backend Interfaces KeyEnvelope,
 * {"KEKLabel": "<label>", "AESKey": "<hex>"} (TS002 1.0 Table 11/16).
 *
 * With a KEKLabel, AESKey is the RFC 3394 wrap of a 16-byte key: 24 bytes.
 * Without one (or with ""), AESKey is the key itself in clear: 16 bytes.
 * ferry never writes a clear envelope, and reports a parsed one with
 * `clear` so that the caller refuses it unless the operator allowed it.
 *
 * A clear envelope holds key material: wipe it with bi_key_envelope_wipe()
 * when done. The JSON text it came from also passes through jansson's heap;
 * a process that parses clear envelopes should install a wiping allocator
 * with json_set_alloc_funcs() (the CLI's cli_json_init() does), and the
 * parser also overwrites the AESKey string inside the parsed document before
 * releasing it.
 */
#ifndef FERRY_BI_KEY_ENVELOPE_H
#define FERRY_BI_KEY_ENVELOPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "bi/bi_header.h"

#define BI_KEK_LABEL_MAX  128
#define BI_AES_KEY_LEN    16 /* a clear AESKey */
#define BI_WRAPPED_KEY_LEN 24 /* RFC 3394 of a 16-byte key */

typedef struct bi_key_envelope {
    bool present;                      /* the field was there / is to be written */
    bool clear;                        /* no KEKLabel: aes_key is the key itself */
    char kek_label[BI_KEK_LABEL_MAX + 1];
    size_t aes_key_len;                /* 16 when clear, 24 when wrapped */
    uint8_t aes_key[BI_WRAPPED_KEY_LEN];
} bi_key_envelope;

/* Parses one KeyEnvelope object from JSON text. On failure `env` is wiped
 * and `err` says what was wrong (its field is "KEKLabel" or "AESKey"). */
bi_status bi_key_envelope_parse(const char *json, size_t len, bi_key_envelope *env, bi_error *err) BI_MUST_CHECK;

/* Fills a wrapped envelope (label non-empty, 24 bytes). BI_ERR_ARGUMENT
 * for an empty or overlong label, BI_ERR_CLEAR_KEY never (no clear setter
 * exists on purpose). */
bi_status bi_key_envelope_set_wrapped(bi_key_envelope *env, const char *kek_label,
                                      const uint8_t wrapped[BI_WRAPPED_KEY_LEN]) BI_MUST_CHECK;

/* Wipes the whole envelope (key bytes included). */
void bi_key_envelope_wipe(bi_key_envelope *env);

#endif

/*
 * cli_json.h - building and printing the CLI's one JSON object, on jansson.
 *
 * Output is always `json_dumpb(..., JSON_INDENT(2))` followed by a newline,
 * keys in insertion order (spec order). Binary values are lowercase hex,
 * integers that people read big-endian (EUIs, DevAddr, NetID, nonces) are
 * hex strings of their field's exact width, counters are JSON numbers.
 *
 * Some outputs carry key material (`ferry lorawan derive`), so cli_json_init()
 * installs an allocator that wipes every block jansson frees, and the text
 * buffer is wiped after it is written.
 *
 * The setters return 0, or -1 when jansson could not allocate; callers OR
 * the results together and hand the total to cli_json_emit().
 */
#ifndef FERRY_CLI_JSON_H
#define FERRY_CLI_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "lorawan/lorawan.h"

/* Installs the wiping allocator; call once before any other jansson call. */
void cli_json_init(void);

int cli_json_set_hex(json_t *obj, const char *key, const uint8_t *bytes, size_t len);
/* `v` as exactly `digits` hex digits, most significant first. */
int cli_json_set_be(json_t *obj, const char *key, uint64_t v, unsigned digits);
int cli_json_set_uint(json_t *obj, const char *key, uint64_t v);
int cli_json_set_bool(json_t *obj, const char *key, bool v);
int cli_json_set_str(json_t *obj, const char *key, const char *s);
/* Adds `child` under `key`, taking the reference (child may be NULL: -1). */
int cli_json_set_obj(json_t *obj, const char *key, json_t *child);
/* A software key's material as hex; the stack copy is wiped. */
int cli_json_set_key(json_t *obj, const char *key, const lw_key *k);

/* Prints `obj` on stdout unless `err` is set, then releases it. Returns the
 * exit status: CLI_EXIT_OK, or CLI_EXIT_FAIL with a message on stderr. */
int cli_json_emit(const char *prog, json_t *obj, int err);

#endif

/*
 * net_config.h - the one reader of ferry's configuration files.
 *
 * The format (docs/net.md): UTF-8 text, one `key = value` per line; blank
 * lines and lines starting with `#` are ignored; blanks around key and
 * value are trimmed; a value runs to the end of the line (no quoting, no
 * inline comments: `#` inside a value is part of it). A line longer than
 * NET_CONFIG_LINE_MAX, a NUL byte, or a line without `=` is an error that
 * names the file and the line; nothing is cut or skipped silently.
 */
#ifndef FERRY_NET_CONFIG_H
#define FERRY_NET_CONFIG_H

#include "net/net.h"

#include <stdbool.h>
#include <stddef.h>

#define NET_CONFIG_LINE_MAX 4096

/* What a service does with one key: false, with err filled, stops the read. */
typedef bool (*net_config_key_fn)(void *user, const char *key, const char *value, unsigned line, char err[NET_ERR_MAX]);

/* Reads path, calling fn for each key in file order. NET_ERR_IO when the
 * file cannot be read (err has errno's text), NET_ERR_ARGUMENT for a
 * malformed line or when fn refused a key. */
net_status net_config_read(const char *path, net_config_key_fn fn, void *user, char err[NET_ERR_MAX]) NET_MUST_CHECK;

/* The first line of a small file that holds one secret (a token, a PIN),
 * trimmed, into out[cap]; read with read(2) and the buffer wiped, so no
 * stdio buffer keeps a copy. NET_ERR_LIMIT when it does not fit. */
net_status net_config_read_secret(const char *path, char *out, size_t cap, char err[NET_ERR_MAX]) NET_MUST_CHECK;

/* s without leading and trailing blanks (space, tab, CR, LF), in place. */
char *net_config_trim(char *s);

/* Replaces the file at path with text[len], atomically and durably:
 * written to path.tmp (new, 0600, fsync), checked with check(user,
 * tmp_path) when check is given, renamed over path, the directory synced.
 * A reader sees the old file or the new one, never half of either. The
 * operator CLIs that edit their configuration (`idm config set`, `joineui
 * add|remove`) share it. NET_ERR_ARGUMENT when check refused the new text
 * (path untouched, err untouched: the caller's check said why),
 * NET_ERR_IO with a sentence in err otherwise. */
net_status net_config_replace(const char *path, const char *text, size_t len, bool (*check)(void *user, const char *tmp),
                              void *user, char err[NET_ERR_MAX]) NET_MUST_CHECK;

#endif

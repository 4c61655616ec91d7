/*
 * net_token.h - bearer tokens. A service keeps only the SHA-256 of a token
 * it accepts, and compares digests in constant time.
 */
#ifndef FERRY_NET_TOKEN_H
#define FERRY_NET_TOKEN_H

#include <stdbool.h>
#include <stdint.h>

#define NET_TOKEN_HASH_LEN 32

/* The token of an "Authorization: Bearer <token>" header value (scheme
 * matched without regard to case, blanks after it skipped); NULL when the
 * header is absent, of another scheme, or the token is empty. */
const char *net_bearer_of(const char *authorization);

/* token (may be NULL: no match) hashes to hash, compared in constant time. */
bool net_token_matches(const char *token, const uint8_t hash[NET_TOKEN_HASH_LEN]);

#endif

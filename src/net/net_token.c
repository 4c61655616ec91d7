/* net_token.c - bearer tokens (net_token.h). */
#include "net/net_token.h"
#include "lorawan/lw_secure.h"

#include <mbedtls/sha256.h>
#include <string.h>
#include <strings.h>

const char *net_bearer_of(const char *h)
{
    if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
        return NULL;
    h += 7;
    while (*h == ' ')
        h++;
    return *h != '\0' ? h : NULL;
}

bool net_token_matches(const char *token, const uint8_t hash[NET_TOKEN_HASH_LEN])
{
    if (token == NULL)
        return false;
    uint8_t got[NET_TOKEN_HASH_LEN];
    if (mbedtls_sha256_ret((const unsigned char *)token, strlen(token), got, 0) != 0)
        return false;
    bool ok = lw_secure_equal(got, hash, NET_TOKEN_HASH_LEN) == 1;
    lw_secure_wipe(got, sizeof(got));
    return ok;
}

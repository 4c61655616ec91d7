/*
 * hub_status.c - hub_strerror(), SHA-256 of tokens, token generation.
 */
#include "hub/hub.h"
#include "lorawan/lw_secure.h"

#include <mbedtls/sha256.h>
#include <sys/random.h>

static const char *const status_text[HUB_STATUS_COUNT] = {
    [HUB_OK] = "success",
    [HUB_ERR_ARGUMENT] = "invalid argument",
    [HUB_ERR_CONFIG] = "the hub's configuration is missing or invalid",
    [HUB_ERR_NOMEM] = "out of memory",
    [HUB_ERR_IO] = "a file, socket or HTTP exchange failed",
    [HUB_ERR_TLS] = "a certificate, key or CA file could not be used",
    [HUB_ERR_RANDOM] = "the random generator failed",
};

const char *hub_strerror(hub_status st)
{
    if ((unsigned)st >= HUB_STATUS_COUNT)
        return "unknown hub status";
    return status_text[st];
}

void hub_sha256(const void *data, size_t len, uint8_t out[HUB_HASH_LEN])
{
    (void)mbedtls_sha256_ret(data, len, out, 0);
}

hub_status hub_token_generate(char out[65], uint8_t hash[HUB_HASH_LEN])
{
    uint8_t raw[32];
    if (out == NULL || hash == NULL)
        return HUB_ERR_ARGUMENT;
    if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
        LW_WIPE(raw);
        return HUB_ERR_RANDOM;
    }
    lw_status ls = lw_hex_encode(raw, sizeof(raw), out, 65);
    LW_WIPE(raw);
    if (ls != LW_OK)
        return HUB_ERR_ARGUMENT;
    hub_sha256(out, 64, hash);
    return HUB_OK;
}

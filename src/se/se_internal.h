/*
 * se_internal.h - helpers shared by the secure element's source files only.
 * Not part of the public interface; nothing outside src/se/ includes it.
 */
#ifndef FERRY_SE_INTERNAL_H
#define FERRY_SE_INTERNAL_H

#include "lorawan/lw_crypto.h"
#include "lorawan/lw_status.h"
#include "se/se.h"

/* The SE status for a core status. */
se_status se_from_lw(lw_status st);

/* Makes `next` durable and adopts it as the element's state; wipes `next`
 * either way. On failure the element's state is unchanged. */
se_status se_commit(se *e, se_state *next);

/* Loads 16 key bytes from the state into a software key. */
se_status se_load_key(lw_key *k, const uint8_t bytes[16]);

/* Unwraps a 24-byte RFC 3394 blob under `kek` into 16 key bytes. */
se_status se_unwrap_key(const lw_crypto *c, const lw_key *kek, const uint8_t wrapped[SE_WRAPPED_KEY_LEN],
                        uint8_t out[16]);

/* SE_OK when the element is booted and personalised. */
se_status se_require_operational(const se *e);

#endif

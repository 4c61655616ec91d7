/*
 * se_internal.h - helpers shared by the secure element's source files only.
 * Not part of the public interface; nothing outside src/se/ includes it.
 */
#ifndef FERRY_SE_INTERNAL_H
#define FERRY_SE_INTERNAL_H

#include "lorawan/lw_crypto.h"
#include "lorawan/lw_status.h"
#include "se/se.h"

/* Keeps a function's frame (typically a state copy) out of its caller's:
 * for helpers whose caller goes on to call the element's deepest paths. */
#if defined(__GNUC__)
#define SE_NOINLINE __attribute__((noinline))
#else
#define SE_NOINLINE
#endif

/* The SE status for a core status. */
se_status se_from_lw(lw_status st);

/* Makes `next` durable and adopts it as the element's state; wipes `next`
 * either way. On failure the element's state is unchanged. */
se_status se_commit(se *e, se_state *next);

/* As se_commit, and every older state is erased from the flash (keys that
 * must not outlive this commit, as the transport key at personalisation). */
se_status se_commit_erasing_history(se *e, se_state *next);

/* Loads 16 key bytes from the state into a software key. */
se_status se_load_key(lw_key *k, const uint8_t bytes[16]);

/* Unwraps a 24-byte RFC 3394 blob under `kek` into 16 key bytes. */
se_status se_unwrap_key(const lw_crypto *c, const lw_key *kek, const uint8_t wrapped[SE_WRAPPED_KEY_LEN],
                        uint8_t out[16]);

/* SE_OK when the element is booted and personalised. */
se_status se_require_operational(const se *e);

/* in[len] XOR the key stream of key `key_id` (se_keyed's A blocks with
 * `fields`, indices 1, 2, ...) into out[len]; out may be in. */
se_status se_keyed_xor(const se *e, uint8_t key_id, const uint8_t fields[SE_BLOCK_FIELDS], const uint8_t *in,
                       uint8_t *out, size_t len);

/* Profile changes on a state copy, without committing (se_profile.c). */
#define SE_RENEW_DEFAULT_ATTEMPTS 8
int se_profile_slot_of(const se_state *s, uint16_t profile_id);
se_status se_profile_apply_stage(const lw_crypto *c, se_state *next, const lw_key *kek,
                                 const se_profile_install *p);
se_status se_profile_apply_activate(se_state *next, uint16_t profile_id);
se_status se_profile_apply_delete(se_state *next, uint16_t profile_id);
se_status se_profile_apply_renew(const lw_crypto *c, se_state *next, const lw_key *kek, uint16_t profile_id,
                                 const uint8_t nwk_wrapped[SE_WRAPPED_KEY_LEN],
                                 const uint8_t app_wrapped[SE_WRAPPED_KEY_LEN]);
void se_profile_apply_bootstrap(se_state *next, bool erase);

/* SE_OK when the staged profile `profile_id` may be activated. */
se_status se_profile_check_activate(const se_state *s, uint16_t profile_id);

/* Carries out next->switch_pending (activation or return to bootstrap) and
 * clears it; true when the active profile changed. */
bool se_profile_apply_switch(se_state *next);

/* Wipes copies of `profile_id` other than the active one and the fallback:
 * what a renewal leaves behind once it is confirmed or abandoned. */
void se_profile_drop_superseded(se_state *s, uint16_t profile_id);

/* Empties the MLS endpoint's RAM (transfers in flight are abandoned), as
 * at power-on. */
void se_mls_reset(se *e);

/* A secure reply in chunks (the SECURE REPLY APDU): each chunk is appended
 * where the sealed response will carry it; finish seals and queues it. */
se_status se_secure_reply_append(se *e, const uint8_t *chunk, size_t len);
se_status se_secure_reply_finish(se *e, bool accepted);

/* Fallback reasons, as MLS events report them (docs/mls.md 5.9). */
#define SE_FALLBACK_JOINS   0x01
#define SE_FALLBACK_SILENCE 0x02
#define SE_FALLBACK_COMMAND 0x03

#endif

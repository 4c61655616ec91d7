/*
 * store_idm_lease.h - which IDM instance works on an SE now (schema v9,
 * table idm_lease; docs/idm.md, "Several idm serve on one database").
 *
 * Several `idm serve` may share one PostgreSQL, and any of them may get an
 * SE's next uplink or find the SE in its housekeeping lists. The delivery
 * engine reads an SE's fragment state, acts, and writes it back over a few
 * transactions; two engines interleaving there would undo each other's
 * bitmaps or handle one uplink twice. So an engine first takes the SE's
 * lease: one row per SE naming its owner (an instance id) and until when.
 * A lease runs out by itself, so the SEs of a killed instance pass to the
 * others after at most one lease period, with nothing to clean up.
 *
 * The lease keeps engines apart; it is not what keeps an MLS counter
 * single: that is the compare-and-set on idm_ota (store_idm_ota_cas), which
 * holds even when a lease ran out under a slow holder.
 *
 * Each call is one statement of its own, atomic on both databases: call
 * them outside a transaction, so that the lease is seen by others at once.
 */
#ifndef FERRY_STORE_IDM_LEASE_H
#define FERRY_STORE_IDM_LEASE_H

#include "store/store.h"

#define STORE_IDM_LEASE_OWNER_MAX 64   /* an instance id, 1..64 characters */

/* Takes SE dev_eui's lease for `owner` until `until` (Unix seconds), when it
 * is free, expired (its expires_at <= now) or already owner's (then it is
 * extended). STORE_ERR_BUSY when another owner holds it past now;
 * STORE_ERR_ARGUMENT for an owner that is empty, too long, or until <= now. */
store_status store_idm_lease_take(store *s, uint64_t dev_eui, const char *owner, int64_t now,
                                  int64_t until) STORE_MUST_CHECK;

/* Gives the lease back if owner still holds it (STORE_OK also when it does
 * not: taken over after it expired, or never taken). */
store_status store_idm_lease_give_back(store *s, uint64_t dev_eui, const char *owner) STORE_MUST_CHECK;

/* Who holds the lease and until when; STORE_ERR_NOT_FOUND when no row
 * (expired rows are still reported: compare *until with the clock). */
store_status store_idm_lease_get(store *s, uint64_t dev_eui, char owner[STORE_IDM_LEASE_OWNER_MAX + 1],
                                 int64_t *until) STORE_MUST_CHECK;

#endif

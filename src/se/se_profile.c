/*
 * se_profile.c - profile slots: stage, activate (on trial), delete, return
 * to bootstrap.
 *
 * Never bricked: the bootstrap slot can be neither deleted nor overwritten,
 * an activated profile stays on trial with the previous one kept as its
 * fallback until a join-accept on it verifies (se_session.c), and
 * se_build_join_request() falls back by itself when the trial's attempts
 * are spent.
 */
#include "se/se.h"
#include "se/se_internal.h"
#include "lorawan/lw_secure.h"

#include <string.h>

static int slot_of(const se_state *s, uint8_t profile_id)
{
    for (unsigned i = 1; i < SE_PROFILE_SLOTS; i++) {
        if (s->profiles[i].in_use && s->profiles[i].id == profile_id)
            return (int)i;
    }
    return -1;
}

se_status se_profile_stage(se *e, const lw_key *kek, const se_profile_install *p)
{
    se_status st = se_require_operational(e);
    if (st != SE_OK)
        return st;
    if (kek == NULL || p == NULL || p->id == 0)
        return SE_ERR_ARGUMENT;   /* id 0 names the bootstrap profile */
    if (p->mac_version != SE_MAC_1_0_2 && p->mac_version != SE_MAC_1_0_3 && p->mac_version != SE_MAC_1_0_4 &&
        p->mac_version != SE_MAC_1_1)
        return SE_ERR_ARGUMENT;
    se_state next = e->st;
    /* A staged profile that is replaced, or a free slot; never the active
     * one or the fallback. */
    int target = -1;
    if (next.staged_slot != SE_NO_SLOT)
        target = next.staged_slot;
    for (unsigned i = 1; i < SE_PROFILE_SLOTS && target < 0; i++) {
        if (!next.profiles[i].in_use)
            target = (int)i;
    }
    if (target < 0) {
        se_state_wipe(&next);
        return SE_ERR_STATE;   /* both customer slots busy: delete one first */
    }
    int same_id = slot_of(&next, p->id);
    if (same_id >= 0 && same_id != target) {
        se_state_wipe(&next);
        return SE_ERR_ARGUMENT;   /* ids are unique among kept profiles */
    }
    se_profile *slot = &next.profiles[target];
    memset(slot, 0, sizeof(*slot));
    st = se_unwrap_key(e->crypto, kek, p->nwk_key_wrapped, slot->nwk_key);
    if (st == SE_OK)
        st = se_unwrap_key(e->crypto, kek, p->app_key_wrapped, slot->app_key);
    if (st != SE_OK) {
        se_state_wipe(&next);
        return st;
    }
    slot->in_use = true;
    slot->id = p->id;
    slot->join_eui = p->join_eui;
    slot->mac_version = p->mac_version;
    slot->max_join_attempts = p->max_join_attempts;
    next.staged_slot = (uint8_t)target;
    return se_commit(e, &next);
}

se_status se_profile_activate(se *e, uint8_t profile_id)
{
    se_status st = se_require_operational(e);
    if (st != SE_OK)
        return st;
    const se_state *cur = &e->st;
    if (cur->staged_slot == SE_NO_SLOT || cur->profiles[cur->staged_slot].id != profile_id)
        return SE_ERR_NO_PROFILE;
    if (cur->on_trial)
        return SE_ERR_STATE;   /* one trial at a time: the fallback must be confirmed */
    se_state next = e->st;
    next.previous_slot = next.active_slot;
    next.active_slot = next.staged_slot;
    next.staged_slot = SE_NO_SLOT;
    next.on_trial = true;
    next.join_attempts = 0;
    memset(&next.session, 0, sizeof(next.session));
    st = se_commit(e, &next);
    if (st == SE_OK)
        e->pending.active = false;
    return st;
}

se_status se_profile_delete(se *e, uint8_t profile_id)
{
    se_status st = se_require_operational(e);
    if (st != SE_OK)
        return st;
    int slot = slot_of(&e->st, profile_id);
    if (slot < 0)
        return SE_ERR_NO_PROFILE;
    if ((uint8_t)slot == e->st.active_slot || (uint8_t)slot == e->st.previous_slot)
        return SE_ERR_STATE;
    se_state next = e->st;
    lw_secure_wipe(&next.profiles[slot], sizeof(next.profiles[slot]));
    if (next.staged_slot == (uint8_t)slot)
        next.staged_slot = SE_NO_SLOT;
    return se_commit(e, &next);
}

se_status se_return_to_bootstrap(se *e)
{
    se_status st = se_require_operational(e);
    if (st != SE_OK)
        return st;
    se_state next = e->st;
    next.active_slot = SE_SLOT_BOOTSTRAP;
    next.previous_slot = SE_NO_SLOT;
    next.on_trial = false;
    next.join_attempts = 0;
    memset(&next.session, 0, sizeof(next.session));
    st = se_commit(e, &next);
    if (st == SE_OK)
        e->pending.active = false;
    return st;
}

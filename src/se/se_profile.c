/*
 * se_profile.c - profile slots: stage, activate (on trial), delete, renew,
 * return to bootstrap.
 *
 * Never bricked: the bootstrap slot can be neither deleted nor overwritten,
 * an activated profile stays on trial with the previous one kept as its
 * fallback until a join-accept on it verifies (se_session.c), and
 * se_build_join_request() falls back by itself when the trial's attempts
 * are spent.
 *
 * Each operation exists twice: se_profile_apply_* changes a state copy
 * without committing, so that an MLS command can apply its effect, its
 * counter and its response in one commit (se_mls.c); the public functions
 * of se.h wrap them with a commit of their own.
 */
#include "se/se.h"
#include "se/se_internal.h"
#include "lorawan/lw_secure.h"

#include <string.h>

int se_profile_slot_of(const se_state *s, uint16_t profile_id)
{
    if (profile_id == 0)
        return SE_SLOT_BOOTSTRAP;
    /* During a renewal two slots share an id: the active copy is the one. */
    if (s->profiles[s->active_slot].in_use && s->profiles[s->active_slot].id == profile_id)
        return s->active_slot;
    for (unsigned i = 1; i < SE_PROFILE_SLOTS; i++) {
        if (s->profiles[i].in_use && s->profiles[i].id == profile_id)
            return (int)i;
    }
    return -1;
}

static void wipe_slot(se_state *s, unsigned slot)
{
    lw_secure_wipe(&s->profiles[slot], sizeof(s->profiles[slot]));
    if (s->staged_slot == slot)
        s->staged_slot = SE_NO_SLOT;
}

void se_profile_drop_superseded(se_state *s, uint16_t profile_id)
{
    if (profile_id == 0 || s->profiles[s->active_slot].id != profile_id)
        return;
    for (unsigned i = 1; i < SE_PROFILE_SLOTS; i++) {
        if (i != s->active_slot && i != s->previous_slot && s->profiles[i].in_use &&
            s->profiles[i].id == profile_id)
            wipe_slot(s, i);
    }
}

static bool mac_version_ok(uint8_t v)
{
    return v == SE_MAC_1_0_2 || v == SE_MAC_1_0_3 || v == SE_MAC_1_0_4 || v == SE_MAC_1_1;
}

/* A customer slot that may be (over)written: the staged one, or a free one. */
static int writable_slot(const se_state *s)
{
    if (s->staged_slot != SE_NO_SLOT)
        return s->staged_slot;
    for (unsigned i = 1; i < SE_PROFILE_SLOTS; i++) {
        if (!s->profiles[i].in_use)
            return (int)i;
    }
    return -1;
}

se_status se_profile_apply_stage(const lw_crypto *c, se_state *next, const lw_key *kek,
                                 const se_profile_install *p)
{
    if (kek == NULL || p == NULL || p->id == 0 || !mac_version_ok(p->mac_version))
        return SE_ERR_ARGUMENT;   /* id 0 names the bootstrap profile */
    int target = writable_slot(next);
    if (target < 0)
        return SE_ERR_NO_SPACE;
    for (unsigned i = 1; i < SE_PROFILE_SLOTS; i++) {
        if ((int)i != target && next->profiles[i].in_use && next->profiles[i].id == p->id)
            return SE_ERR_STATE;   /* ids are unique among kept profiles: renew instead */
    }
    se_profile fresh;
    memset(&fresh, 0, sizeof(fresh));
    se_status st = se_unwrap_key(c, kek, p->nwk_key_wrapped, fresh.nwk_key);
    if (st == SE_OK && p->mac_version == SE_MAC_1_1)
        st = se_unwrap_key(c, kek, p->app_key_wrapped, fresh.app_key);
    if (st == SE_OK) {
        fresh.in_use = true;
        fresh.id = p->id;
        fresh.dev_eui = p->dev_eui != 0 ? p->dev_eui : next->dev_eui;
        fresh.join_eui = p->join_eui;
        fresh.mac_version = p->mac_version;
        fresh.max_join_attempts = p->max_join_attempts;
        next->profiles[target] = fresh;
        next->staged_slot = (uint8_t)target;
    }
    LW_WIPE(fresh);
    return st;
}

se_status se_profile_apply_activate(se_state *next, uint16_t profile_id)
{
    if (next->staged_slot == SE_NO_SLOT || next->profiles[next->staged_slot].id != profile_id)
        return SE_ERR_NO_PROFILE;
    if (next->on_trial)
        return SE_ERR_STATE;   /* one trial at a time: the fallback must be confirmed */
    next->previous_slot = next->active_slot;
    next->active_slot = next->staged_slot;
    next->staged_slot = SE_NO_SLOT;
    next->on_trial = true;
    next->join_attempts = 0;
    memset(&next->session, 0, sizeof(next->session));
    return SE_OK;
}

se_status se_profile_apply_delete(se_state *next, uint16_t profile_id)
{
    if (profile_id == 0)
        return SE_ERR_STATE;   /* the bootstrap profile stays */
    bool found = false;
    for (unsigned i = 1; i < SE_PROFILE_SLOTS; i++) {
        if (!next->profiles[i].in_use || next->profiles[i].id != profile_id)
            continue;
        if (i == next->active_slot || i == next->previous_slot)
            return SE_ERR_STATE;
        found = true;
    }
    if (!found)
        return SE_ERR_NO_PROFILE;
    for (unsigned i = 1; i < SE_PROFILE_SLOTS; i++) {
        if (next->profiles[i].in_use && next->profiles[i].id == profile_id)
            wipe_slot(next, i);
    }
    return SE_OK;
}

se_status se_profile_apply_renew(const lw_crypto *c, se_state *next, const lw_key *kek, uint16_t profile_id,
                                 const uint8_t nwk_wrapped[SE_WRAPPED_KEY_LEN],
                                 const uint8_t app_wrapped[SE_WRAPPED_KEY_LEN])
{
    int slot = se_profile_slot_of(next, profile_id);
    if (profile_id == 0 || slot < 0)
        return SE_ERR_NO_PROFILE;
    const se_profile *cur = &next->profiles[slot];
    if ((unsigned)slot != next->active_slot) {
        /* Not in use: new keys in place. */
        uint8_t nwk[16], app[16] = {0};
        se_status st = se_unwrap_key(c, kek, nwk_wrapped, nwk);
        if (st == SE_OK && cur->mac_version == SE_MAC_1_1)
            st = se_unwrap_key(c, kek, app_wrapped, app);
        if (st == SE_OK) {
            memcpy(next->profiles[slot].nwk_key, nwk, 16);
            memcpy(next->profiles[slot].app_key, app, 16);
            next->profiles[slot].has_join_nonce = false;
        }
        LW_WIPE(nwk);
        LW_WIPE(app);
        return st;
    }
    /* The active profile: its new keys go into a copy that is activated on
     * trial, the current keys staying as the fallback. A confirmed join drops
     * the old copy, a fallback drops the new one. */
    if (next->on_trial)
        return SE_ERR_STATE;
    se_profile_install copy = {.id = cur->id, .dev_eui = cur->dev_eui, .join_eui = cur->join_eui,
                               .mac_version = cur->mac_version,
                               .max_join_attempts = cur->max_join_attempts != 0 ? cur->max_join_attempts
                                                                                : SE_RENEW_DEFAULT_ATTEMPTS};
    memcpy(copy.nwk_key_wrapped, nwk_wrapped, SE_WRAPPED_KEY_LEN);
    memcpy(copy.app_key_wrapped, app_wrapped, SE_WRAPPED_KEY_LEN);
    int target = writable_slot(next);
    if (target < 0)
        return SE_ERR_NO_SPACE;
    se_profile fresh;
    memset(&fresh, 0, sizeof(fresh));
    se_status st = se_unwrap_key(c, kek, copy.nwk_key_wrapped, fresh.nwk_key);
    if (st == SE_OK && copy.mac_version == SE_MAC_1_1)
        st = se_unwrap_key(c, kek, copy.app_key_wrapped, fresh.app_key);
    if (st == SE_OK) {
        fresh.in_use = true;
        fresh.id = copy.id;
        fresh.dev_eui = copy.dev_eui;
        fresh.join_eui = copy.join_eui;
        fresh.mac_version = copy.mac_version;
        fresh.max_join_attempts = copy.max_join_attempts;
        next->profiles[target] = fresh;
        next->staged_slot = (uint8_t)target;
        next->switch_pending = SE_SWITCH_ACTIVATE;
    }
    LW_WIPE(fresh);
    return st;
}

se_status se_profile_check_activate(const se_state *s, uint16_t profile_id)
{
    if (s->staged_slot == SE_NO_SLOT || s->profiles[s->staged_slot].id != profile_id)
        return SE_ERR_NO_PROFILE;
    return s->on_trial ? SE_ERR_STATE : SE_OK;
}

bool se_profile_apply_switch(se_state *next)
{
    uint8_t sw = next->switch_pending;
    next->switch_pending = SE_SWITCH_NONE;
    switch (sw) {
    case SE_SWITCH_ACTIVATE:
        if (next->staged_slot != SE_NO_SLOT)
            return se_profile_apply_activate(next, next->profiles[next->staged_slot].id) == SE_OK;
        return false;
    case SE_SWITCH_BOOTSTRAP:
    case SE_SWITCH_BOOTSTRAP_ERASE:
        se_profile_apply_bootstrap(next, sw == SE_SWITCH_BOOTSTRAP_ERASE);
        return true;
    default:
        return false;
    }
}

void se_profile_apply_bootstrap(se_state *next, bool erase)
{
    next->active_slot = SE_SLOT_BOOTSTRAP;
    next->previous_slot = SE_NO_SLOT;
    next->on_trial = false;
    next->join_attempts = 0;
    memset(&next->session, 0, sizeof(next->session));
    if (erase) {
        for (unsigned i = 1; i < SE_PROFILE_SLOTS; i++)
            wipe_slot(next, i);
    }
}

/* ---- the committing forms of se.h ------------------------------------ */

se_status se_profile_stage(se *e, const lw_key *kek, const se_profile_install *p)
{
    se_status st = se_require_operational(e);
    if (st != SE_OK)
        return st;
    se_state next = e->st;
    st = se_profile_apply_stage(e->crypto, &next, kek, p);
    if (st != SE_OK) {
        se_state_wipe(&next);
        return st;
    }
    return se_commit(e, &next);
}

se_status se_profile_activate(se *e, uint16_t profile_id)
{
    se_status st = se_require_operational(e);
    if (st != SE_OK)
        return st;
    se_state next = e->st;
    st = se_profile_apply_activate(&next, profile_id);
    if (st != SE_OK) {
        se_state_wipe(&next);
        return st;
    }
    st = se_commit(e, &next);
    if (st == SE_OK)
        e->pending.active = false;
    return st;
}

se_status se_profile_delete(se *e, uint16_t profile_id)
{
    se_status st = se_require_operational(e);
    if (st != SE_OK)
        return st;
    se_state next = e->st;
    st = se_profile_apply_delete(&next, profile_id);
    if (st != SE_OK) {
        se_state_wipe(&next);
        return st;
    }
    return se_commit(e, &next);
}

se_status se_return_to_bootstrap(se *e)
{
    se_status st = se_require_operational(e);
    if (st != SE_OK)
        return st;
    se_state next = e->st;
    se_profile_apply_bootstrap(&next, false);
    st = se_commit(e, &next);
    if (st == SE_OK)
        e->pending.active = false;
    return st;
}

/* se_internal.c - helpers shared by the secure element's source files. */
#include "se/se_internal.h"
#include "lorawan/lw_secure.h"

#include <string.h>

se_status se_from_lw(lw_status st)
{
    switch (st) {
    case LW_OK: return SE_OK;
    case LW_ERR_MIC: return SE_ERR_MIC;
    case LW_ERR_TRUNCATED:
    case LW_ERR_TOO_LONG:
    case LW_ERR_MAJOR:
    case LW_ERR_MTYPE:
    case LW_ERR_FORMAT: return SE_ERR_FRAME;
    case LW_ERR_BUFFER: return SE_ERR_BUFFER;
    case LW_ERR_ARGUMENT: return SE_ERR_ARGUMENT;
    default: return SE_ERR_CRYPTO;
    }
}

/* Adopts `next` once it is durable; wipes the copy either way. */
se_status se_commit(se *e, se_state *next)
{
    se_status st = se_store_commit(&e->store, &e->st, next);
    if (st == SE_OK)
        e->st = *next;
    se_state_wipe(next);
    return st;
}

/* As se_commit, on a freshly erased flash. */
se_status se_commit_erasing_history(se *e, se_state *next)
{
    se_status st = se_store_rewrite(&e->store, next);
    if (st == SE_OK)
        e->st = *next;
    se_state_wipe(next);
    return st;
}

se_status se_load_key(lw_key *k, const uint8_t bytes[16])
{
    return lw_key_from_bytes(k, bytes, 16) == LW_OK ? SE_OK : SE_ERR_CRYPTO;
}

se_status se_require_operational(const se *e)
{
    if (e == NULL || !e->booted)
        return SE_ERR_ARGUMENT;
    return e->st.lifecycle == SE_LIFECYCLE_OPERATIONAL ? SE_OK : SE_ERR_STATE;
}

se_status se_unwrap_key(const lw_crypto *c, const lw_key *kek, const uint8_t wrapped[SE_WRAPPED_KEY_LEN],
                             uint8_t out[16])
{
    lw_key k;
    memset(&k, 0, sizeof(k));
    lw_status ls = lw_key_unwrap(c, kek, wrapped, SE_WRAPPED_KEY_LEN, &k);
    se_status st = se_from_lw(ls);
    if (st == SE_OK && k.length != 16)
        st = SE_ERR_ARGUMENT;
    if (st == SE_OK)
        memcpy(out, k.material, 16);
    lw_key_wipe(&k);
    return st;
}


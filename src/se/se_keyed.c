/*
 * se_keyed.c - MICs, key-stream blocks and multicast keys by key id: what
 * LoRaMac-node's secure-element API asks of an element
 * (ports/loramac-node/ferry-se/, docs/se-commands.md).
 *
 * The stack builds its frames and its B0/B1/A blocks itself. The element
 * never takes a whole block from it: it writes the block's fixed bytes (the
 * 0x49 or 0x01 tag, the zero byte, the length or block index) and takes
 * only the 13 bytes the stack varies, checks that their address is the
 * session's (or the multicast group's), their direction and counter-free
 * bytes fit the key, and only then uses the key. So no input the host
 * chooses reaches a root key, and a session key only ever computes what a
 * LoRaWAN frame of that session would need. Counters are the stack's here:
 * it keeps and persists them itself; the element does not commit these
 * operations (no flash wear per frame).
 */
#include "se/se.h"
#include "se/se_internal.h"
#include "lorawan/lorawan.h"

#include <string.h>

#define MC_GROUP(id) ((unsigned)(id) & 0x0Fu)

/* The group's session key (01: McAppSKey, 02: McNwkSKey) from McKey_i and
 * McAddr, into *k, for a block at `addr`. */
static se_status mc_key(const se *e, const se_mc_group *m, uint8_t type, uint32_t addr, lw_key *k)
{
    if (!m->valid || m->profile_id != e->st.profiles[e->st.active_slot].id)
        return SE_ERR_STATE;
    if (addr != m->addr)
        return SE_ERR_ARGUMENT;
    uint8_t block[16] = {type};
    lw_put_le(block + 1, m->addr, 4);
    lw_key mk;
    se_status st = se_load_key(&mk, m->key);
    if (st == SE_OK)
        st = se_from_lw(lw_aes_encrypt(e->crypto, &mk, block, block));
    if (st == SE_OK)
        st = se_load_key(k, block);
    lw_key_wipe(&mk);
    LW_WIPE(block);
    return st;
}

/* Checks block[1..13] (what the host varies) against key `id` for a CMAC
 * (B0/B1) or a key-stream (A) block and loads the key into *k. */
static se_status keyed_key(const se *e, uint8_t id, const uint8_t block[16], bool cmac, lw_key *k)
{
    se_status st = se_require_operational(e);
    if (st != SE_OK)
        return st;
    const se_session *s = &e->st.session;
    const uint8_t *f = block + 1;
    uint32_t addr = (uint32_t)lw_get_le(f + 5, 4);
    uint8_t dir = f[4];
    /* B0/B1: bytes 1..4 carry ConfFCnt, TxDr, TxCh only for SNwkSIntKey in
     * 1.1. A: bytes 1..3 are zero, byte 4 is the 1.1.1 FOpts type (0..2),
     * for NwkSEncKey only. */
    uint8_t b13 = (uint8_t)(f[0] | f[1] | f[2]);
    bool extra = (b13 | f[3]) != 0;
    if (dir > 1)
        return SE_ERR_ARGUMENT;
    if (id & (SE_KEY_MC_APP_S | SE_KEY_MC_NWK_S)) {
        bool app = (id & 0xF0u) == SE_KEY_MC_APP_S;
        if ((id & 0xF0u) > SE_KEY_MC_NWK_S || MC_GROUP(id) >= SE_MC_GROUPS || app == cmac || dir != 1 || extra)
            return SE_ERR_ARGUMENT;   /* multicast: downlinks only, McAppSKey never for a MIC */
        return mc_key(e, &e->st.mc[MC_GROUP(id)], app ? 1 : 2, addr, k);
    }
    if (!s->valid)
        return SE_ERR_NO_SESSION;
    const uint8_t *bytes = NULL;
    if (cmac && id == SE_KEY_F_NWK_S_INT && dir == 0 && !extra)
        bytes = s->f_nwk_s_int_key;
    else if (cmac && id == SE_KEY_S_NWK_S_INT && (!extra || s->mac_version == SE_MAC_1_1))
        bytes = s->s_nwk_s_int_key;
    else if (!cmac && id == SE_KEY_NWK_S_ENC && b13 == 0 && f[3] <= 2)
        bytes = s->nwk_s_enc_key;
    else if (!cmac && id == SE_KEY_APP_S && !extra)
        bytes = s->app_s_key;
    if (bytes == NULL || addr != s->dev_addr)
        return SE_ERR_ARGUMENT;
    return se_load_key(k, bytes);
}

se_status se_keyed(const se *e, uint8_t key_id, bool cmac, const uint8_t fields[SE_BLOCK_FIELDS], uint8_t last,
                   const uint8_t *msg, size_t len, uint8_t out[16])
{
    if (fields == NULL || out == NULL || (cmac && (msg == NULL || len == 0 || len > LW_PHY_MAX)))
        return SE_ERR_ARGUMENT;
    uint8_t block[16];
    block[0] = cmac ? 0x49 : 0x01;
    memcpy(block + 1, fields, SE_BLOCK_FIELDS);
    block[14] = 0;
    block[15] = cmac ? (uint8_t)len : last;
    lw_key k;
    memset(&k, 0, sizeof(k));
    se_status st = keyed_key(e, key_id, block, cmac, &k);
    if (st == SE_OK && cmac)
        st = se_from_lw(lw_cmac_prefixed(e->crypto, &k, block, sizeof(block), msg, len, out));
    else if (st == SE_OK)
        st = se_from_lw(lw_aes_encrypt(e->crypto, &k, block, out));
    lw_key_wipe(&k);
    return st;
}

se_status se_mc_setup(se *e, unsigned group, uint8_t root_type, const uint8_t enc[16], uint32_t addr)
{
    se_status st = se_require_operational(e);
    if (st != SE_OK)
        return st;
    if (enc == NULL || group >= SE_MC_GROUPS || (root_type != 0x00 && root_type != 0x20))
        return SE_ERR_ARGUMENT;
    const se_profile *p = &e->st.profiles[e->st.active_slot];
    /* McRootKey = AES(AppKey, root_type | 0..), McKEKey = AES(McRootKey,
     * 0..), McKey = AES(McKEKey, enc): each step's result keys the next. */
    static const uint8_t zero[16];
    uint8_t t[16] = {root_type};
    const uint8_t *in[3] = {t, zero, enc};
    lw_key k;
    st = se_load_key(&k, p->app_key);
    for (unsigned i = 0; i < 3 && st == SE_OK; i++) {
        st = se_from_lw(lw_aes_encrypt(e->crypto, &k, in[i], t));
        if (st == SE_OK)
            st = se_load_key(&k, t);
    }
    lw_key_wipe(&k);
    se_state next = e->st;
    se_mc_group *m = &next.mc[group];
    m->valid = true;
    m->profile_id = p->id;
    m->addr = addr;
    memcpy(m->key, t, 16);
    LW_WIPE(t);
    if (st != SE_OK) {
        se_state_wipe(&next);
        return st;
    }
    return se_commit(e, &next);
}

/*
 * se_state.c - the fixed little-endian image of se_state.
 *
 * One cursor type does both directions so that the reader and the writer
 * cannot drift apart: each field is visited once, by `visit_state`, with the
 * cursor either copying out of the struct or into it. A reader also range-
 * checks the enumerations and booleans it restores.
 */
#include "se/se_state.h"
#include "lorawan/lw_frame.h"
#include "lorawan/lw_secure.h"

#include <stddef.h>
#include <string.h>

#define IMAGE_VERSION 2   /* 2: multicast groups appended */

typedef struct cursor {
    uint8_t *buf;      /* the image bytes [win, win + win_len) */
    size_t cap;        /* length of the whole image */
    size_t pos;        /* position in the whole image */
    size_t win;
    size_t win_len;
    bool writing;      /* struct -> image */
    bool bad;          /* overflow or an out-of-range value */
} cursor;

/* Writes n image bytes at the cursor; only those inside the window land, so
 * that a store can compare two states a few bytes at a time without either
 * whole image in RAM. */
/* True when none of the next n image bytes falls in the window: the usual
 * case when a store compares a window, so the field is not even read. */
static bool outside_window(const cursor *c, size_t n)
{
    return c->pos + n <= c->win || c->pos >= c->win + c->win_len;
}

static void put_bytes(cursor *c, const uint8_t *bytes, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        size_t at = c->pos + i;
        if (at >= c->win && at - c->win < c->win_len)
            c->buf[at - c->win] = bytes[i];
    }
}

static void visit_int(cursor *c, void *field, size_t field_size, size_t wire_size)
{
    if (c->bad || wire_size > c->cap - c->pos) {
        c->bad = true;
        return;
    }
    uint64_t v = 0;
    if (c->writing && outside_window(c, wire_size)) {
        c->pos += wire_size;
        return;
    }
    if (c->writing) {
        switch (field_size) {
        case 1: v = *(uint8_t *)field; break;
        case 2: v = *(uint16_t *)field; break;
        case 4: v = *(uint32_t *)field; break;
        default: v = *(uint64_t *)field; break;
        }
        uint8_t le[8];
        lw_put_le(le, v, wire_size);
        put_bytes(c, le, wire_size);
    } else {
        v = lw_get_le(c->buf + c->pos, wire_size);
        switch (field_size) {
        case 1: *(uint8_t *)field = (uint8_t)v; break;
        case 2: *(uint16_t *)field = (uint16_t)v; break;
        case 4: *(uint32_t *)field = (uint32_t)v; break;
        default: *(uint64_t *)field = v; break;
        }
    }
    c->pos += wire_size;
}

#define VISIT(c, f) visit_int((c), &(f), sizeof(f), sizeof(f))

static void visit_bool(cursor *c, bool *b)
{
    uint8_t v = *b ? 1 : 0;
    visit_int(c, &v, 1, 1);
    if (!c->writing) {
        if (v > 1)
            c->bad = true;
        *b = (v == 1);
    }
}

static void visit_bytes(cursor *c, uint8_t *p, size_t n)
{
    if (c->bad || n > c->cap - c->pos) {
        c->bad = true;
        return;
    }
    if (!c->writing)
        memcpy(p, c->buf + c->pos, n);
    else if (!outside_window(c, n))
        put_bytes(c, p, n);
    c->pos += n;
}

static bool mac_version_valid(uint8_t v)
{
    return v == SE_MAC_1_0_2 || v == SE_MAC_1_0_3 || v == SE_MAC_1_0_4 || v == SE_MAC_1_1;
}

static bool slot_valid_or_none(uint8_t s)
{
    return s < SE_PROFILE_SLOTS || s == SE_NO_SLOT;
}

/* The image is a table, not code: each field's place in the struct, its
 * size and kind, in image order. Repeated structs (profiles, DevNonce
 * entries, multicast groups) are one table walked `count` times. A table
 * is a few bytes per field where a call per field was a dozen: the
 * element's code budget (docs/se-commands.md, "Sizes"). */
enum { K_INT, K_BOOL, K_BYTES };
typedef struct field {
    uint16_t off;
    uint8_t size;
    uint8_t kind;
} field;
#define F_INT(T, m) {offsetof(T, m), sizeof(((T *)0)->m), K_INT}
#define F_BOOL(T, m) {offsetof(T, m), 1, K_BOOL}
#define F_BYTES(T, m) {offsetof(T, m), sizeof(((T *)0)->m), K_BYTES}

static const field TOP_HEAD[] = {
    F_INT(se_state, lifecycle), F_BYTES(se_state, transport_key), F_INT(se_state, dev_eui), F_INT(se_state, serial),
};
static const field PROFILE[] = {
    F_BOOL(se_profile, in_use),         F_INT(se_profile, id),           F_INT(se_profile, dev_eui),
    F_INT(se_profile, join_eui),        F_INT(se_profile, mac_version),  F_BYTES(se_profile, nwk_key),
    F_BYTES(se_profile, app_key),       F_INT(se_profile, max_join_attempts), F_BOOL(se_profile, has_join_nonce),
    F_INT(se_profile, last_join_nonce),
};
static const field TOP_SLOTS[] = {
    F_INT(se_state, active_slot),    F_INT(se_state, previous_slot),       F_INT(se_state, staged_slot),
    F_BOOL(se_state, on_trial),      F_INT(se_state, switch_pending),      F_INT(se_state, join_attempts),
    F_INT(se_state, event_id),       F_INT(se_state, last_event_id),       F_INT(se_state, fallback_profile_id),
    F_INT(se_state, fallback_reason), F_INT(se_state, fallback_attempts),
};
static const field NONCE[] = {
    F_BOOL(se_nonce_entry, in_use), F_INT(se_nonce_entry, join_eui), F_INT(se_nonce_entry, next_dev_nonce),
};
static const field TOP_RJ[] = {F_INT(se_state, rj_count1)};
static const field SESSION[] = {
    F_BOOL(se_session, valid),          F_INT(se_session, slot),           F_INT(se_session, mac_version),
    F_INT(se_session, dev_addr),        F_INT(se_session, net_id),         F_BYTES(se_session, f_nwk_s_int_key),
    F_BYTES(se_session, s_nwk_s_int_key), F_BYTES(se_session, nwk_s_enc_key), F_BYTES(se_session, app_s_key),
    F_INT(se_session, fcnt_up),         F_INT(se_session, nfcnt_down),     F_INT(se_session, afcnt_down),
    F_INT(se_session, rj_count0),       F_BOOL(se_session, has_conf_fcnt_up), F_INT(se_session, conf_fcnt_up),
};
static const field TOP_MLS[] = {
    F_BYTES(se_state, mls_root_key), F_INT(se_state, mls_epoch),    F_INT(se_state, mls_down_counter),
    F_INT(se_state, mls_up_counter), F_BOOL(se_state, has_mls_next), F_BYTES(se_state, mls_next_root_key),
};
static const field MC[] = {
    F_BOOL(se_mc_group, valid), F_INT(se_mc_group, profile_id), F_INT(se_mc_group, addr), F_BYTES(se_mc_group, key),
};

typedef struct part {
    const field *f;
    uint8_t n;
    uint8_t count;
    uint16_t base;
    uint16_t stride;
} part;
#define PART(t, count, base, stride) {t, sizeof(t) / sizeof(t[0]), count, base, stride}

static const part LAYOUT[] = {
    PART(TOP_HEAD, 1, 0, 0),
    PART(PROFILE, SE_PROFILE_SLOTS, offsetof(se_state, profiles), sizeof(se_profile)),
    PART(TOP_SLOTS, 1, 0, 0),
    PART(NONCE, SE_NONCE_TABLE, offsetof(se_state, nonces), sizeof(se_nonce_entry)),
    PART(TOP_RJ, 1, 0, 0),
    PART(SESSION, 1, offsetof(se_state, session), 0),
    PART(TOP_MLS, 1, 0, 0),
    PART(MC, SE_MC_GROUPS, offsetof(se_state, mc), sizeof(se_mc_group)),
};

static void visit_state(cursor *c, se_state *st)
{
    uint8_t version = IMAGE_VERSION;
    VISIT(c, version);
    if (!c->writing && version != IMAGE_VERSION)
        c->bad = true;
    for (size_t p = 0; p < sizeof(LAYOUT) / sizeof(LAYOUT[0]); p++) {
        const part *pt = &LAYOUT[p];
        for (unsigned i = 0; i < pt->count; i++) {
            uint8_t *base = (uint8_t *)st + pt->base + (size_t)i * pt->stride;
            for (unsigned j = 0; j < pt->n; j++) {
                const field *f = &pt->f[j];
                void *at = base + f->off;
                if (f->kind == K_BOOL)
                    visit_bool(c, at);
                else if (f->kind == K_BYTES)
                    visit_bytes(c, at, f->size);
                else
                    visit_int(c, at, f->size, f->size);
            }
        }
    }
    if (c->writing)
        return;
    /* What a reader restores must be in range. */
    for (unsigned i = 0; i < SE_PROFILE_SLOTS; i++) {
        if (st->profiles[i].in_use && !mac_version_valid(st->profiles[i].mac_version))
            c->bad = true;
    }
    const se_session *s = &st->session;
    if ((s->valid && (s->slot >= SE_PROFILE_SLOTS || !mac_version_valid(s->mac_version))) ||
        st->lifecycle > SE_LIFECYCLE_OPERATIONAL || st->active_slot >= SE_PROFILE_SLOTS ||
        !slot_valid_or_none(st->previous_slot) || !slot_valid_or_none(st->staged_slot) ||
        st->switch_pending > SE_SWITCH_BOOTSTRAP_ERASE)
        c->bad = true;
}

se_status se_state_serialize(const se_state *st, uint8_t *out, size_t cap, size_t *out_len)
{
    if (st == NULL || out == NULL || out_len == NULL)
        return SE_ERR_ARGUMENT;
    if (cap < SE_STATE_IMAGE_LEN)
        return SE_ERR_BUFFER;
    cursor c = {.buf = out, .cap = SE_STATE_IMAGE_LEN, .win = 0, .win_len = SE_STATE_IMAGE_LEN, .writing = true};
    /* The visitor takes non-const pointers for both directions; in this
     * direction it only reads them. */
    visit_state(&c, (se_state *)st);
    if (c.bad || c.pos != SE_STATE_IMAGE_LEN)
        return SE_ERR_BUFFER;
    *out_len = c.pos;
    return SE_OK;
}

se_status se_state_serialize_window(const se_state *st, size_t offset, uint8_t *out, size_t len)
{
    if (st == NULL || out == NULL)
        return SE_ERR_ARGUMENT;
    if (offset > SE_STATE_IMAGE_LEN || len > SE_STATE_IMAGE_LEN - offset)
        return SE_ERR_BUFFER;
    cursor c = {.buf = out, .cap = SE_STATE_IMAGE_LEN, .win = offset, .win_len = len, .writing = true};
    visit_state(&c, (se_state *)st);
    return c.bad || c.pos != SE_STATE_IMAGE_LEN ? SE_ERR_BUFFER : SE_OK;
}

se_status se_state_deserialize(const uint8_t *in, size_t len, se_state *st)
{
    if (in == NULL || st == NULL)
        return SE_ERR_ARGUMENT;
    if (len != SE_STATE_IMAGE_LEN)
        return SE_ERR_CORRUPT;
    memset(st, 0, sizeof(*st));
    cursor c = {.buf = (uint8_t *)in, .cap = len, .win = 0, .win_len = len, .writing = false};
    visit_state(&c, st);
    if (c.bad || c.pos != len) {
        se_state_wipe(st);
        return SE_ERR_CORRUPT;
    }
    return SE_OK;
}

void se_state_wipe(se_state *st)
{
    if (st != NULL)
        lw_secure_wipe(st, sizeof(*st));
}

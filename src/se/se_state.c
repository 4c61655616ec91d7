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

static void visit_profile(cursor *c, se_profile *p)
{
    visit_bool(c, &p->in_use);
    VISIT(c, p->id);
    VISIT(c, p->dev_eui);
    VISIT(c, p->join_eui);
    VISIT(c, p->mac_version);
    visit_bytes(c, p->nwk_key, sizeof(p->nwk_key));
    visit_bytes(c, p->app_key, sizeof(p->app_key));
    VISIT(c, p->max_join_attempts);
    visit_bool(c, &p->has_join_nonce);
    VISIT(c, p->last_join_nonce);
    if (!c->writing && p->in_use && !mac_version_valid(p->mac_version))
        c->bad = true;
}

static void visit_session(cursor *c, se_session *s)
{
    visit_bool(c, &s->valid);
    VISIT(c, s->slot);
    VISIT(c, s->mac_version);
    VISIT(c, s->dev_addr);
    VISIT(c, s->net_id);
    visit_bytes(c, s->f_nwk_s_int_key, 16);
    visit_bytes(c, s->s_nwk_s_int_key, 16);
    visit_bytes(c, s->nwk_s_enc_key, 16);
    visit_bytes(c, s->app_s_key, 16);
    VISIT(c, s->fcnt_up);
    VISIT(c, s->nfcnt_down);
    VISIT(c, s->afcnt_down);
    VISIT(c, s->rj_count0);
    visit_bool(c, &s->has_conf_fcnt_up);
    VISIT(c, s->conf_fcnt_up);
    if (!c->writing && s->valid && (s->slot >= SE_PROFILE_SLOTS || !mac_version_valid(s->mac_version)))
        c->bad = true;
}

static bool slot_valid_or_none(uint8_t s)
{
    return s < SE_PROFILE_SLOTS || s == SE_NO_SLOT;
}

static void visit_state(cursor *c, se_state *st)
{
    uint8_t version = IMAGE_VERSION;
    VISIT(c, version);
    if (!c->writing && version != IMAGE_VERSION)
        c->bad = true;
    VISIT(c, st->lifecycle);
    visit_bytes(c, st->transport_key, sizeof(st->transport_key));
    VISIT(c, st->dev_eui);
    VISIT(c, st->serial);
    for (unsigned i = 0; i < SE_PROFILE_SLOTS; i++)
        visit_profile(c, &st->profiles[i]);
    VISIT(c, st->active_slot);
    VISIT(c, st->previous_slot);
    VISIT(c, st->staged_slot);
    visit_bool(c, &st->on_trial);
    VISIT(c, st->switch_pending);
    VISIT(c, st->join_attempts);
    VISIT(c, st->event_id);
    VISIT(c, st->last_event_id);
    VISIT(c, st->fallback_profile_id);
    VISIT(c, st->fallback_reason);
    VISIT(c, st->fallback_attempts);
    for (unsigned i = 0; i < SE_NONCE_TABLE; i++) {
        visit_bool(c, &st->nonces[i].in_use);
        VISIT(c, st->nonces[i].join_eui);
        VISIT(c, st->nonces[i].next_dev_nonce);
    }
    VISIT(c, st->rj_count1);
    visit_session(c, &st->session);
    visit_bytes(c, st->mls_root_key, sizeof(st->mls_root_key));
    VISIT(c, st->mls_epoch);
    VISIT(c, st->mls_down_counter);
    VISIT(c, st->mls_up_counter);
    visit_bool(c, &st->has_mls_next);
    visit_bytes(c, st->mls_next_root_key, sizeof(st->mls_next_root_key));
    for (unsigned i = 0; i < SE_MC_GROUPS; i++) {
        visit_bool(c, &st->mc[i].valid);
        VISIT(c, st->mc[i].profile_id);
        VISIT(c, st->mc[i].addr);
        visit_bytes(c, st->mc[i].key, 16);
    }

    if (!c->writing) {
        if (st->lifecycle > SE_LIFECYCLE_OPERATIONAL || st->active_slot >= SE_PROFILE_SLOTS ||
            !slot_valid_or_none(st->previous_slot) || !slot_valid_or_none(st->staged_slot) ||
            st->switch_pending > SE_SWITCH_BOOTSTRAP_ERASE)
            c->bad = true;
    }
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

/*
 * se_store.c - the state journal on NOR flash (se_store.h, docs/se-store.md).
 *
 * Why a journal of image patches rather than one record type per field: the
 * state image (se_state.c) already is a fixed, versioned byte layout, so a
 * patch "these bytes at this offset" journals any change, including ones
 * added later, with one parser. A commit that changes one byte (most
 * downlinks, most FCntUp reservations) is one slot; a few bytes, a head
 * slot, one or two body slots and a commit slot; a snapshot 55 slots.
 *
 * Why entries carry a sequence number: a torn entry is skipped and the next
 * commit reuses its number, so the numbers of the valid entries of a page
 * run without a gap. A gap means an entry that once verified no longer does
 * (flash decay): replay stops there, so that no later patch is applied on
 * top of a lost one and the state read is one that was really committed.
 *
 * Why the head and commit slots repeat their bytes inverted: a program cut
 * short leaves some bits of a slot programmed (1 -> 0) and others not; a
 * byte and its inverse can both be read back as intended only if all of
 * their bits landed.
 */
#include "se/se_store.h"
#include "lorawan/lw_frame.h"
#include "lorawan/lw_secure.h"

#include <string.h>

#define SLOT SE_NVM_SLOT
#define HEADER_SLOTS 2
#define PATCH_HEADER 4
#define WINDOW 32                     /* bytes of two states compared at once */
#define MIN_GAP PATCH_HEADER          /* equal bytes cheaper to rewrite than a new patch */
#define FLAG_SOLE 0x01                /* every other page must be erased */

static const uint8_t magic[4] = {'F', 'S', 'E', '2'};

uint32_t se_crc32_update(uint32_t crc, const uint8_t *p, size_t len)
{
    crc = ~crc;
    for (size_t i = 0; i < len; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

static uint32_t page_slots(const se_store *s)
{
    return s->nvm.geometry.page_size / SLOT;
}

static se_status read_slot(const se_store *s, uint32_t page, uint32_t slot, uint8_t out[SLOT])
{
    return s->nvm.cls->read(s->nvm.ctx, page, slot * SLOT, out, SLOT) == SE_OK ? SE_OK : SE_ERR_NVM;
}

static se_status program_slot(const se_store *s, uint32_t page, uint32_t slot, const uint8_t in[SLOT])
{
    return s->nvm.cls->program(s->nvm.ctx, page, slot * SLOT, in, SLOT) == SE_OK ? SE_OK : SE_ERR_NVM;
}

static bool all_erased(const uint8_t *p, size_t n)
{
    uint8_t acc = 0xFF;
    for (size_t i = 0; i < n; i++)
        acc &= p[i];
    return acc == 0xFF;
}

/* True when p[4..7] is the inverse of p[0..3]. */
static bool doubled(const uint8_t p[SLOT])
{
    for (int i = 0; i < 4; i++)
        if ((uint8_t)(p[i] ^ p[4 + i]) != 0xFF)
            return false;
    return true;
}

static void put_doubled(uint8_t p[SLOT], uint32_t v)
{
    lw_put_le(p, v, 4);
    for (int i = 0; i < 4; i++)
        p[4 + i] = (uint8_t)~p[i];
}

static bool geometry_usable(const se_nvm_geometry *g)
{
    uint32_t u = g->program_unit;
    return (u == 1 || u == 2 || u == 4 || u == 8) && g->page_size % SLOT == 0 &&
           g->page_size >= SE_NVM_PAGE_MIN && g->page_size <= SE_NVM_PAGE_MAX && g->page_count >= 2 &&
           g->page_count <= SE_NVM_PAGES_MAX;
}

/* ---- page headers ------------------------------------------------------ */

typedef struct page_header {
    uint32_t seq;
    uint8_t flags;
} page_header;

static bool read_header(const se_store *s, uint32_t page, page_header *h)
{
    uint8_t b[HEADER_SLOTS * SLOT];
    if (read_slot(s, page, 0, b) != SE_OK || read_slot(s, page, 1, b + SLOT) != SE_OK)
        return false;
    if (memcmp(b, magic, 4) != 0 || b[9] != 0 || b[10] != 0 || b[11] != 0)
        return false;
    if (se_crc32_update(0, b, 12) != (uint32_t)lw_get_le(b + 12, 4))
        return false;
    h->seq = (uint32_t)lw_get_le(b + 4, 4);
    h->flags = b[8];
    return h->flags <= FLAG_SOLE;
}

static se_status write_header(const se_store *s, uint32_t page, uint32_t seq, uint8_t flags)
{
    uint8_t b[HEADER_SLOTS * SLOT];
    memcpy(b, magic, 4);
    lw_put_le(b + 4, seq, 4);
    b[8] = flags;
    b[9] = b[10] = b[11] = 0;
    lw_put_le(b + 12, se_crc32_update(0, b, 12), 4);
    se_status st = program_slot(s, page, 0, b);
    return st == SE_OK ? program_slot(s, page, 1, b + SLOT) : st;
}

/* ---- replay ------------------------------------------------------------ */

typedef struct replay {
    uint32_t next_slot;
    uint16_t entry_seq;
    bool has_snapshot;
    bool must_move;
} replay;

/* Applies (or, with image NULL, only checks) the patches of an entry whose
 * body starts at `slot` and spans `nslots`. `first`: the entry must begin
 * with a snapshot of the whole image. */
static bool apply_body(const se_store *s, uint32_t page, uint32_t slot, uint32_t nslots, bool first,
                       uint8_t *image)
{
    uint8_t b[SLOT], hdr[PATCH_HEADER];
    uint32_t at = 0, total = nslots * SLOT;
    size_t hdr_fill = 0;
    uint32_t off = 0, left = 0;   /* bytes of the current patch still to come */
    bool any = false, ok = true, ended = false;
    while (ok && !ended && at < total) {
        ok = read_slot(s, page, slot + at / SLOT, b) == SE_OK;
        for (size_t i = 0; ok && !ended && i < SLOT; i++, at++) {
            if (left > 0) {
                if (image != NULL)
                    image[off] = b[i];
                off++;
                left--;
                continue;
            }
            hdr[hdr_fill++] = b[i];
            if (hdr_fill < PATCH_HEADER)
                continue;
            hdr_fill = 0;
            off = (uint32_t)lw_get_le(hdr, 2);
            left = (uint32_t)lw_get_le(hdr + 2, 2);
            if (off == 0xFFFF && left == 0xFFFF) {
                ended = true;   /* padding: the body must end in this slot */
                ok = any && total - at - 1 < SLOT;
            } else if (left == 0 || off > SE_STATE_IMAGE_LEN || left > SE_STATE_IMAGE_LEN - off ||
                       (first && !any && (off != 0 || left != SE_STATE_IMAGE_LEN))) {
                ok = false;
            }
            any = true;
        }
    }
    if (ok && !ended)
        ok = any && left == 0 && all_erased(hdr, hdr_fill);   /* 0..3 bytes of padding */
    LW_WIPE(b);
    return ok;
}

/* The CRC of an entry (head slot, body) against its commit slot. */
static bool entry_verifies(const se_store *s, uint32_t page, uint32_t slot, uint32_t nslots)
{
    uint8_t b[SLOT];
    uint32_t crc = 0;
    bool ok = true;
    for (uint32_t i = 0; ok && i <= nslots; i++) {
        ok = read_slot(s, page, slot + i, b) == SE_OK;
        if (ok)
            crc = se_crc32_update(crc, b, SLOT);
    }
    ok = ok && read_slot(s, page, slot + nslots + 1, b) == SE_OK && doubled(b) &&
         (uint32_t)lw_get_le(b, 4) == crc;
    LW_WIPE(b);
    return ok;
}

static bool rest_erased(const se_store *s, uint32_t page, uint32_t slot)
{
    uint8_t b[SLOT];
    bool erased = true;
    for (; erased && slot < page_slots(s); slot++)
        erased = read_slot(s, page, slot, b) == SE_OK && all_erased(b, SLOT);
    LW_WIPE(b);
    return erased;
}

/* Replays the entries of `page` into image[SE_STATE_IMAGE_LEN]. */
static void replay_page(const se_store *s, uint32_t page, uint8_t *image, replay *r)
{
    uint32_t n = page_slots(s), slot = HEADER_SLOTS;
    memset(r, 0, sizeof(*r));
    r->entry_seq = 1;
    r->must_move = true;   /* unless the log ends on an erased slot with room after it */
    uint8_t h[SLOT];
    while (slot < n) {
        if (read_slot(s, page, slot, h) != SE_OK)
            break;
        if (all_erased(h, SLOT)) {
            /* The end of the log, if the rest of the page is erased too:
             * appending must never program a unit that is not. */
            r->must_move = !rest_erased(s, page, slot + 1);
            break;
        }
        if (!doubled(h))
            break;   /* a torn head, or garbage: nothing after it counts */
        if (h[1] & 0x80) {
            /* A one-byte entry (write_one_byte); a torn one ends the log. */
            uint32_t off = h[0] | ((h[1] & 1u) << 8);
            uint32_t seq = ((h[1] >> 1) & 0x3Fu) | ((uint32_t)h[3] << 6);
            if (r->entry_seq == 1 || seq != (r->entry_seq & 0x3FFFu) || off >= SE_STATE_IMAGE_LEN)
                break;
            image[off] = h[2];
            r->entry_seq++;
            slot++;
            continue;
        }
        uint32_t nslots = (uint32_t)lw_get_le(h, 2);
        uint16_t seq = (uint16_t)lw_get_le(h + 2, 2);
        if (nslots == 0 || slot + 2 + nslots > n || seq != r->entry_seq)
            break;   /* an entry lost to decay, or garbage: nothing after it counts */
        bool first = (seq == 1);
        if (entry_verifies(s, page, slot, nslots)) {
            if (!apply_body(s, page, slot + 1, nslots, first, NULL))
                break;
            (void)apply_body(s, page, slot + 1, nslots, first, image);
            r->has_snapshot = true;
            r->entry_seq++;
        } else if (first) {
            break;   /* the snapshot itself is torn: the page holds no state */
        }
        slot += nslots + 2;
    }
    LW_WIPE(h);
    r->next_slot = slot;
}

/* ---- writing an entry -------------------------------------------------- */

/* Streams an entry's body into slots, with its running CRC. */
typedef struct writer {
    const se_store *s;
    uint32_t page;
    uint32_t slot;
    uint8_t buf[SLOT];
    size_t fill;
    uint32_t crc;
    se_status st;
    bool dry;          /* count only */
    uint32_t bytes;
    unsigned patches;
    uint32_t first_off;  /* the first patch: where, how long, its first byte */
    size_t first_len;
    uint8_t first_byte;
} writer;

static void writer_put(writer *w, const uint8_t *p, size_t n)
{
    w->bytes += (uint32_t)n;
    if (w->dry)
        return;
    for (size_t i = 0; i < n && w->st == SE_OK; i++) {
        w->buf[w->fill++] = p[i];
        if (w->fill == SLOT) {
            w->crc = se_crc32_update(w->crc, w->buf, SLOT);
            w->st = program_slot(w->s, w->page, w->slot++, w->buf);
            w->fill = 0;
        }
    }
}

static void writer_patch(writer *w, uint32_t off, const uint8_t *p, size_t n)
{
    if (w->patches++ == 0) {
        w->first_off = off;
        w->first_len = n;
        w->first_byte = p[0];
    }
    uint8_t hdr[PATCH_HEADER];
    lw_put_le(hdr, off, 2);
    lw_put_le(hdr + 2, n, 2);
    writer_put(w, hdr, sizeof(hdr));
    writer_put(w, p, n);
}

/* A window of the image of *st, with FCntUp replaced by what the flash
 * holds for it (the reservation). */
static se_status window_of(const se_state *st, uint32_t fcnt_up, size_t off, uint8_t *out, size_t n)
{
    se_status rc = se_state_serialize_window(st, off, out, n);
    uint8_t le[4];
    lw_put_le(le, fcnt_up, 4);
    for (size_t i = 0; i < 4; i++) {
        size_t at = SE_STATE_FCNT_UP_OFFSET + i;
        if (at >= off && at - off < n)
            out[at - off] = le[i];
    }
    return rc;
}

/* The patches turning `cur` into `next` (cur NULL: one patch of all of it). */
static se_status write_changes(writer *w, const se_state *cur, uint32_t cur_fcnt, const se_state *next,
                               uint32_t next_fcnt)
{
    uint8_t a[WINDOW], b[WINDOW];
    se_status st = SE_OK;
    if (cur == NULL) {
        uint8_t hdr[PATCH_HEADER];
        lw_put_le(hdr, 0, 2);
        lw_put_le(hdr + 2, SE_STATE_IMAGE_LEN, 2);
        writer_put(w, hdr, sizeof(hdr));
    }
    for (size_t off = 0; off < SE_STATE_IMAGE_LEN && st == SE_OK; off += WINDOW) {
        size_t n = SE_STATE_IMAGE_LEN - off < WINDOW ? SE_STATE_IMAGE_LEN - off : WINDOW;
        st = window_of(next, next_fcnt, off, b, n);
        if (st == SE_OK && cur == NULL) {
            writer_put(w, b, n);
            continue;
        }
        if (st == SE_OK)
            st = window_of(cur, cur_fcnt, off, a, n);
        for (size_t i = 0; i < n && st == SE_OK;) {
            if (a[i] == b[i]) {
                i++;
                continue;
            }
            size_t end = i + 1;
            for (size_t j = i + 1; j < n && j - end < MIN_GAP; j++)
                if (a[j] != b[j])
                    end = j + 1;
            writer_patch(w, (uint32_t)(off + i), b + i, end - i);
            i = end;
        }
    }
    LW_WIPE(a);
    LW_WIPE(b);
    return st;
}

/* Writes one entry (head, body, commit) at s->next_slot. */
static se_status write_entry(se_store *s, uint32_t nslots, const se_state *cur, uint32_t cur_fcnt,
                             const se_state *next, uint32_t next_fcnt)
{
    uint8_t h[SLOT];
    lw_put_le(h, nslots, 2);
    lw_put_le(h + 2, s->entry_seq, 2);
    for (int i = 0; i < 4; i++)
        h[4 + i] = (uint8_t)~h[i];
    writer w = {.s = s, .page = s->page, .slot = s->next_slot + 1, .crc = se_crc32_update(0, h, SLOT)};
    w.st = program_slot(s, s->page, s->next_slot, h);
    if (w.st == SE_OK)
        w.st = write_changes(&w, cur, cur_fcnt, next, next_fcnt);
    if (w.st == SE_OK && w.fill > 0) {
        uint8_t pad[SLOT];
        memset(pad, 0xFF, sizeof(pad));
        writer_put(&w, pad, SLOT - w.fill);
    }
    LW_WIPE(w.buf);
    if (w.st != SE_OK)
        return w.st;
    if (w.slot != s->next_slot + 1 + nslots)
        return SE_ERR_NVM;   /* the two passes disagree: never leave an entry that lies about its size */
    uint8_t c[SLOT];
    put_doubled(c, w.crc);
    return program_slot(s, s->page, w.slot, c);
}

/* What a commit would write: its body's slots, and whether the change is a
 * single byte (written as a one-slot entry). */
typedef struct change_size {
    uint32_t nslots;
    bool one_byte;
    uint32_t off;
    uint8_t value;
} change_size;

static se_status size_changes(const se_state *cur, uint32_t cur_fcnt, const se_state *next, uint32_t next_fcnt,
                              change_size *out)
{
    writer w = {.dry = true};
    se_status st = write_changes(&w, cur, cur_fcnt, next, next_fcnt);
    out->nslots = (w.bytes + SLOT - 1) / SLOT;
    out->one_byte = cur != NULL && w.patches == 1 && w.first_len == 1;
    out->off = w.first_off;
    out->value = w.first_byte;
    w.first_byte = 0;
    return st;
}

/* A one-byte entry, in one slot:
 *   off & FF | 80 + (off >> 8) + (seq & 3F) << 1 | value | seq >> 6 | the 4 inverted
 * Bit 7 of the second byte tells it from an entry head (nslots < 8,192). */
static se_status write_one_byte(const se_store *s, uint32_t off, uint8_t value)
{
    uint8_t b[SLOT];
    b[0] = (uint8_t)off;
    b[1] = (uint8_t)(0x80u | ((off >> 8) & 1u) | ((s->entry_seq & 0x3Fu) << 1));
    b[2] = value;
    b[3] = (uint8_t)(s->entry_seq >> 6);
    for (int i = 0; i < 4; i++)
        b[4 + i] = (uint8_t)~b[i];
    se_status st = program_slot(s, s->page, s->next_slot, b);
    LW_WIPE(b);
    return st;
}

/* The page after p, wrapping: a compare, not `% count` (the Cortex-M0+ has
 * no divide instruction; libgcc's is 270 bytes of the element's code). */
static uint32_t page_after(uint32_t p, uint32_t count)
{
    return p + 1 < count ? p + 1 : 0;
}

/* The page a move writes: the next one in turn, passing over pages that
 * failed to erase or program since boot, so that one worn page does not
 * stop the element (after a reboot each page gets its turn again). */
static uint32_t next_page(const se_store *s)
{
    uint32_t count = s->nvm.geometry.page_count, first = s->ready ? page_after(s->page, count) : 0;
    uint32_t p = first;
    for (uint32_t i = 0; i < count; i++, p = page_after(p, count))
        if ((!s->ready || p != s->page) && !(s->failed_pages & (1u << p)))
            return p;
    return first;
}

/* Starts the next page in turn with a snapshot of *st. `sole`: then erases
 * every other page. */

static se_status move_to_new_page(se_store *s, const se_state *st, uint32_t fcnt, bool sole)
{
    uint32_t count = s->nvm.geometry.page_count;
    uint32_t target = next_page(s);
    uint32_t seq = s->ready ? s->page_seq + 1 : 1;
    change_size size;
    se_status rc = size_changes(NULL, 0, st, fcnt, &size);
    uint32_t nslots = size.nslots;
    if (rc == SE_OK && HEADER_SLOTS + nslots + 2 > page_slots(s))
        rc = SE_ERR_NVM;
    if (rc == SE_OK)
        rc = s->nvm.cls->erase(s->nvm.ctx, target) == SE_OK ? SE_OK : SE_ERR_NVM;
    if (rc == SE_OK)
        rc = write_header(s, target, seq, sole ? FLAG_SOLE : 0);
    se_store moved = *s;
    moved.page = target;
    moved.page_seq = seq;
    moved.next_slot = HEADER_SLOTS;
    moved.entry_seq = 1;
    if (rc == SE_OK)
        rc = write_entry(&moved, nslots, NULL, 0, st, fcnt);
    if (rc != SE_OK) {
        s->must_move = true;
        s->failed_pages |= (uint16_t)(1u << target);
        return SE_ERR_NVM;
    }
    moved.failed_pages &= (uint16_t)~(1u << target);
    moved.next_slot = HEADER_SLOTS + nslots + 2;
    moved.entry_seq = 2;
    moved.ready = true;
    moved.must_move = false;
    moved.fcnt_up_reserved = fcnt;
    *s = moved;
    if (sole) {
        /* The new page is the state now; a failed erase is retried by the
         * next open, which sees the flag. */
        for (uint32_t p = 0; p < count; p++)
            if (p != target)
                (void)s->nvm.cls->erase(s->nvm.ctx, p);
    }
    return SE_OK;
}

/* ---- the interface ----------------------------------------------------- */

/* Erases the pages a sole page says must be empty and are not. */
static void finish_purge(se_store *s)
{
    for (uint32_t p = 0; p < s->nvm.geometry.page_count; p++)
        if (p != s->page && !rest_erased(s, p, 0))
            (void)s->nvm.cls->erase(s->nvm.ctx, p);
}

/* True when sequence a is newer than b (wrapping). */
static bool newer(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) > 0;
}

se_status se_store_open(se_store *s, const se_nvm *nvm, se_state *st)
{
    if (s == NULL || nvm == NULL || nvm->cls == NULL || st == NULL)
        return SE_ERR_ARGUMENT;
    memset(s, 0, sizeof(*s));
    s->nvm = *nvm;
    if (!geometry_usable(&nvm->geometry))
        return SE_ERR_ARGUMENT;

    uint32_t count = nvm->geometry.page_count, tried = 0;
    uint8_t image[SE_STATE_IMAGE_LEN];
    se_status result = SE_ERR_CORRUPT;
    /* Newest page first; a page without a whole snapshot, or whose state
     * does not parse, gives way to the next older one. */
    while (result != SE_OK) {
        int pick = -1;
        page_header best = {0}, h;
        for (uint32_t p = 0; p < count; p++) {
            if (!(tried & (1u << p)) && read_header(s, p, &h) && (pick < 0 || newer(h.seq, best.seq))) {
                pick = (int)p;
                best = h;
            }
        }
        if (pick < 0)
            break;
        tried |= 1u << pick;
        replay r;
        memset(image, 0, sizeof(image));
        replay_page(s, (uint32_t)pick, image, &r);
        if (!r.has_snapshot || se_state_deserialize(image, sizeof(image), st) != SE_OK)
            continue;
        s->page = (uint32_t)pick;
        s->page_seq = best.seq;
        s->next_slot = r.next_slot;
        s->entry_seq = r.entry_seq;
        s->must_move = r.must_move;
        s->ready = true;
        s->fcnt_up_reserved = st->session.fcnt_up;
        if (best.flags & FLAG_SOLE)
            finish_purge(s);
        result = SE_OK;
    }
    LW_WIPE(image);
    return result;
}

se_status se_store_commit(se_store *s, const se_state *current, const se_state *next)
{
    if (s == NULL || current == NULL || next == NULL || s->nvm.cls == NULL)
        return SE_ERR_ARGUMENT;
    if (!geometry_usable(&s->nvm.geometry))
        return SE_ERR_ARGUMENT;
    if (!s->ready)
        return move_to_new_page(s, next, next->session.fcnt_up, true);   /* a blank chip: format it */

    /* FCntUp: a new reservation once the counter leaves the current one,
     * or when it restarts (a new session). */
    uint32_t held = s->fcnt_up_reserved, want = held, f = next->session.fcnt_up;
    if (f > held || f < current->session.fcnt_up)
        want = f > UINT32_MAX - SE_STORE_FCNT_UP_BLOCK ? UINT32_MAX : f + SE_STORE_FCNT_UP_BLOCK;

    change_size size;
    se_status st = size_changes(current, held, next, want, &size);
    if (st != SE_OK)
        return st;
    if (size.nslots == 0)
        return SE_OK;   /* nothing the flash holds changes */
    uint32_t slots = size.one_byte ? 1 : size.nslots + 2;
    if (s->must_move || s->next_slot + slots > page_slots(s))
        return move_to_new_page(s, next, want, false);
    st = size.one_byte ? write_one_byte(s, size.off, size.value)
                       : write_entry(s, size.nslots, current, held, next, want);
    if (st != SE_OK) {
        /* What reached the flash is a torn entry at best: append nothing
         * after it in this page. */
        s->must_move = true;
        return SE_ERR_NVM;
    }
    s->next_slot += slots;
    s->entry_seq++;
    s->fcnt_up_reserved = want;
    return SE_OK;
}

se_status se_store_rewrite(se_store *s, const se_state *st)
{
    if (s == NULL || st == NULL || s->nvm.cls == NULL)
        return SE_ERR_ARGUMENT;
    if (!geometry_usable(&s->nvm.geometry))
        return SE_ERR_ARGUMENT;
    /* The flash may say "resume at" any value not below the next unused
     * one, and must not go below what it already promised. */
    uint32_t f = st->session.fcnt_up;
    uint32_t want = s->ready && f <= s->fcnt_up_reserved ? s->fcnt_up_reserved : f;
    return move_to_new_page(s, st, want, true);
}

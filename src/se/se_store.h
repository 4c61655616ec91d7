/*
 * se_store.h - the secure element's state in NOR flash: a journal of small
 * changes over a few pages, erased in turn.
 *
 * Format (docs/se-store.md): each page starts with a header (magic "FSE2",
 * page sequence, CRC) and a snapshot of the whole state; then entries, one
 * per commit, each holding only the bytes of the state image that changed:
 *
 *   head slot   nslots(2) | entry seq(2) | the same 4 bytes inverted
 *   body        patches: offset(2) | length(2) | bytes, padded with 0xFF
 *   commit slot CRC-32(head + body)(4) | its inverse(4)
 *
 * An entry counts once its commit slot verifies; a torn one is skipped. When
 * a page is full, the next page in turn is erased and starts with a
 * snapshot: every page is erased equally often, and until the new snapshot
 * verifies the previous page stands whole. FCntUp, the one counter that
 * changes at every uplink, is reserved SE_STORE_FCNT_UP_BLOCK at a time, so
 * that most uplinks write nothing (after a power cut the device resumes
 * above the block: a gap, which LoRaWAN allows, never a reuse).
 *
 * No page-sized buffer: a commit compares the two states a window at a time
 * and programs one 8-byte slot at a time.
 */
#ifndef FERRY_SE_STORE_H
#define FERRY_SE_STORE_H

#include <stdbool.h>
#include <stdint.h>
#include "se/se_nvm.h"
#include "se/se_state.h"

/* Uplink counters reserved by one journal entry. */
#define SE_STORE_FCNT_UP_BLOCK 32u

typedef struct se_store {
    se_nvm nvm;
    uint32_t page;              /* the page holding the current state */
    uint32_t page_seq;          /* its sequence number */
    uint32_t next_slot;         /* its first free slot */
    uint16_t entry_seq;         /* sequence of its next entry */
    bool ready;                 /* a page holds a valid state */
    bool must_move;             /* the page takes no more entries: the next commit starts a new one */
    uint32_t fcnt_up_reserved;  /* session.fcnt_up as the flash holds it: every value below may have been used */
    uint16_t failed_pages;      /* pages whose erase or program failed since boot: passed over */
} se_store;

/* Binds the store to `nvm` and reads the current state into *st.
 * SE_ERR_CORRUPT when no page holds a valid state (a chip never written);
 * the store is then ready for a first commit, which formats the flash.
 * SE_ERR_ARGUMENT when the geometry is one the store cannot use. */
se_status se_store_open(se_store *s, const se_nvm *nvm, se_state *st);

/* Makes *next durable, *current being what the store last committed (or
 * loaded) with session.fcnt_up possibly advanced within its reservation.
 * Writes only what changed; nothing at all when nothing needs to be. On
 * any failure the previous state remains the one the flash yields and
 * SE_ERR_NVM is returned. */
se_status se_store_commit(se_store *s, const se_state *current, const se_state *next);

/* Writes *st as the only state the flash holds: a fresh page, then every
 * other page erased, so that keys of the past (the transport key at
 * personalisation) leave the chip. A purge cut short is finished by the
 * next se_store_open. */
se_status se_store_rewrite(se_store *s, const se_state *st);

/* CRC-32 (IEEE 802.3, reflected, as zlib), exposed for tests; `crc` is a
 * running value: start with se_crc32_update(0, ...). */
uint32_t se_crc32_update(uint32_t crc, const uint8_t *p, size_t len);

#endif

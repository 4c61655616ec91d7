/*
 * se_store.h - atomic commits of the secure element's state to two banks.
 *
 * Bank format (docs/se-commands.md, "Memory image"):
 *   magic "FSE1" | sequence(4, LE) | length(2, LE) | state image | CRC-32(4, LE)
 * A commit writes the whole image to the bank not holding the current one,
 * with the sequence number plus one. On boot the valid bank with the higher
 * sequence wins; a torn write fails its CRC and the other bank stands. The
 * CRC guards against tearing and decay, not against an attacker: the banks
 * are the chip's protected memory.
 */
#ifndef FERRY_SE_STORE_H
#define FERRY_SE_STORE_H

#include <stdbool.h>
#include <stdint.h>
#include "se/se_nvm.h"
#include "se/se_state.h"

typedef struct se_store {
    se_nvm nvm;
    unsigned bank;        /* bank holding the current image */
    uint32_t seq;         /* its sequence number */
    bool loaded;          /* a valid image exists */
} se_store;

/* Binds the store to `nvm` and reads the newest valid image into *st.
 * SE_ERR_CORRUPT when neither bank holds a valid image (a chip never
 * written); the store is then ready for a first commit. */
se_status se_store_open(se_store *s, const se_nvm *nvm, se_state *st);

/* Writes *st durably as the new current image. On any failure the previous
 * image remains current and SE_ERR_NVM is returned. */
se_status se_store_commit(se_store *s, const se_state *st);

/* CRC-32 (IEEE 802.3, reflected, as zlib), exposed for tests. */
uint32_t se_crc32(const uint8_t *p, size_t len);

#endif

/*
 * se_store.c - two-bank atomic image commits.
 *
 * Why two banks rather than a journal: the image is a few hundred bytes, a
 * flash page holds it whole, and rewriting it all is cheaper in code than a
 * log with compaction. The sequence number is 32 bits: at one commit per
 * uplink and one uplink a minute it lasts 8,000 years.
 */
#include "se/se_store.h"
#include "lorawan/lw_frame.h"
#include "lorawan/lw_secure.h"

#include <string.h>

#define BANK_HEADER 10
#define BANK_LEN (BANK_HEADER + SE_STATE_IMAGE_LEN + 4)

static const uint8_t magic[4] = {'F', 'S', 'E', '1'};

uint32_t se_crc32(const uint8_t *p, size_t len)
{
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < len; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

/* Reads one bank; SE_OK with its sequence number when it is valid. */
static se_status read_bank(const se_nvm *nvm, unsigned bank, uint8_t buf[BANK_LEN], uint32_t *seq)
{
    se_status st = nvm->cls->read(nvm->ctx, bank, buf, BANK_LEN);
    if (st != SE_OK)
        return st;
    if (memcmp(buf, magic, sizeof(magic)) != 0)
        return SE_ERR_CORRUPT;
    if (lw_get_le(buf + 8, 2) != SE_STATE_IMAGE_LEN)
        return SE_ERR_CORRUPT;
    uint32_t want = (uint32_t)lw_get_le(buf + BANK_HEADER + SE_STATE_IMAGE_LEN, 4);
    if (se_crc32(buf, BANK_HEADER + SE_STATE_IMAGE_LEN) != want)
        return SE_ERR_CORRUPT;
    *seq = (uint32_t)lw_get_le(buf + 4, 4);
    return SE_OK;
}

se_status se_store_open(se_store *s, const se_nvm *nvm, se_state *st)
{
    if (s == NULL || nvm == NULL || nvm->cls == NULL || st == NULL)
        return SE_ERR_ARGUMENT;
    memset(s, 0, sizeof(*s));
    s->nvm = *nvm;

    uint8_t buf[2][BANK_LEN];
    uint32_t seq[2] = {0, 0};
    bool ok[2];
    for (unsigned b = 0; b < 2; b++)
        ok[b] = read_bank(nvm, b, buf[b], &seq[b]) == SE_OK;

    se_status result = SE_ERR_CORRUPT;
    /* Newer wins; sequence numbers are compared as a wrapping difference so
     * that a wrap after 2^32 commits does not flip the choice. */
    for (int attempt = 0; attempt < 2 && result != SE_OK; attempt++) {
        int pick;
        if (ok[0] && ok[1])
            pick = (int32_t)(seq[1] - seq[0]) > 0 ? 1 : 0;
        else if (ok[0] || ok[1])
            pick = ok[0] ? 0 : 1;
        else
            break;
        if (attempt == 1)
            pick = 1 - pick;   /* the newer image did not parse: take the older */
        if (!ok[pick])
            break;
        if (se_state_deserialize(buf[pick] + BANK_HEADER, SE_STATE_IMAGE_LEN, st) == SE_OK) {
            s->bank = (unsigned)pick;
            s->seq = seq[pick];
            s->loaded = true;
            result = SE_OK;
        } else {
            ok[pick] = false;
        }
    }
    LW_WIPE(buf);
    if (result != SE_OK) {
        /* First commit goes to bank 0 with sequence 1. */
        s->bank = 1;
        s->seq = 0;
    }
    return result;
}

se_status se_store_commit(se_store *s, const se_state *st)
{
    if (s == NULL || st == NULL)
        return SE_ERR_ARGUMENT;
    uint8_t buf[BANK_LEN];
    size_t len = 0;
    unsigned target = 1u - s->bank;
    uint32_t seq = s->seq + 1;

    memcpy(buf, magic, sizeof(magic));
    lw_put_le(buf + 4, seq, 4);
    lw_put_le(buf + 8, SE_STATE_IMAGE_LEN, 2);
    se_status rc = se_state_serialize(st, buf + BANK_HEADER, SE_STATE_IMAGE_LEN, &len);
    if (rc == SE_OK) {
        lw_put_le(buf + BANK_HEADER + len, se_crc32(buf, BANK_HEADER + len), 4);
        rc = s->nvm.cls->write(s->nvm.ctx, target, buf, BANK_LEN) == SE_OK ? SE_OK : SE_ERR_NVM;
    }
    LW_WIPE(buf);
    if (rc != SE_OK)
        return rc;
    s->bank = target;
    s->seq = seq;
    s->loaded = true;
    return SE_OK;
}

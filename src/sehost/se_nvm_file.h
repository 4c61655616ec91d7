/*
 * se_nvm_file.h - the secure element's flash on a host: one image file.
 *
 * File format 2 (docs/se-store.md, "The host's image file"):
 *   magic "FSEFLASH" | version(4) = 2 | page_size(4) | page_count(4) |
 *   program_unit(4) | erase count of each of 16 pages (4 each) |
 *   zeros to 124 | CRC-32 of bytes 0..123 (4)           -- 128 bytes
 *   then the pages, back to back.
 * All integers little-endian. The flash rules are those of se_nvm_ram.h
 * (the file's pages are held in RAM and every program or erase is written
 * through with pwrite + fsync), so a host element wears and fails as a chip
 * would, and its erase counts survive restarts.
 *
 * Files of the two-bank format (ferry before the flash store: 2 KiB, "FSE1")
 * are refused, not migrated: such an element is manufactured and
 * personalised again. The file stands for the chip's protected memory: it is
 * created with mode 0600 and nothing else reads it.
 */
#ifndef FERRY_SE_NVM_FILE_H
#define FERRY_SE_NVM_FILE_H

#include "se/se_nvm.h"
#include "sehost/se_nvm_ram.h"

#define SE_NVM_FILE_HEADER 128

typedef struct se_nvm_file {
    int fd;
    se_nvm_ram flash;
    const char *error;   /* a sentence: why the last call failed */
} se_nvm_file;

/* Opens (creating if `create`, 0600) the image file at `path` and binds *nvm
 * to it. An empty file becomes a fresh flash of the default geometry
 * (se_nvm_ram.h). SE_ERR_NVM with errno set when the file cannot be used;
 * SE_ERR_CORRUPT when it is not an image of this format (f->error says
 * which: an old two-bank image, another version, a damaged header). */
se_status se_nvm_file_open(se_nvm_file *f, const char *path, int create, se_nvm *nvm);

void se_nvm_file_close(se_nvm_file *f);

/* The sentence for the last failure of f, or of errno when f has none. */
const char *se_nvm_file_error(const se_nvm_file *f);

/* Reads a whole image file into *flash (for a host that keeps many
 * elements in RAM, as the lab); *why set on failure as f->error above. */
se_status se_nvm_file_load(const char *path, se_nvm_ram *flash, const char **why);

/* Writes *flash as an image file, atomically (temporary file, fsync,
 * rename). */
se_status se_nvm_file_save(const char *path, const se_nvm_ram *flash);

#endif

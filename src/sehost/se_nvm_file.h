/*
 * se_nvm_file.h - the secure element's NVM on a host: one image file.
 *
 * The file holds the two banks back to back (2 x SE_NVM_BANK_SIZE bytes). A
 * bank write is pwrite + fsync, so a crash tears at most the bank being
 * written and se_store keeps the other. The file stands for the chip's
 * protected memory: it is created with mode 0600 and nothing else reads it.
 */
#ifndef FERRY_SE_NVM_FILE_H
#define FERRY_SE_NVM_FILE_H

#include "se/se_nvm.h"

typedef struct se_nvm_file {
    int fd;
} se_nvm_file;

/* Opens (creating if `create`, 0600) the image file at `path` and binds *nvm
 * to it. SE_ERR_NVM with errno set on failure. */
se_status se_nvm_file_open(se_nvm_file *f, const char *path, int create, se_nvm *nvm);

void se_nvm_file_close(se_nvm_file *f);

#endif

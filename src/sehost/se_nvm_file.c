/* se_nvm_file.c - two NVM banks in one file, each write made durable. */
#include "sehost/se_nvm_file.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static se_status file_read(void *ctx, unsigned bank, uint8_t *buf, size_t len)
{
    se_nvm_file *f = ctx;
    if (bank > 1 || len > SE_NVM_BANK_SIZE)
        return SE_ERR_ARGUMENT;
    off_t off = (off_t)bank * SE_NVM_BANK_SIZE;
    size_t done = 0;
    while (done < len) {
        ssize_t r = pread(f->fd, buf + done, len - done, off + (off_t)done);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return SE_ERR_NVM;
        if (r == 0)
            break;   /* short file: the rest reads as zeros */
        done += (size_t)r;
    }
    memset(buf + done, 0, len - done);
    return SE_OK;
}

static se_status file_write(void *ctx, unsigned bank, const uint8_t *buf, size_t len)
{
    se_nvm_file *f = ctx;
    if (bank > 1 || len > SE_NVM_BANK_SIZE)
        return SE_ERR_ARGUMENT;
    off_t off = (off_t)bank * SE_NVM_BANK_SIZE;
    size_t done = 0;
    while (done < len) {
        ssize_t w = pwrite(f->fd, buf + done, len - done, off + (off_t)done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return SE_ERR_NVM;
        done += (size_t)w;
    }
    return fsync(f->fd) == 0 ? SE_OK : SE_ERR_NVM;
}

static const se_nvm_class file_class = {.read = file_read, .write = file_write};

se_status se_nvm_file_open(se_nvm_file *f, const char *path, int create, se_nvm *nvm)
{
    if (f == NULL || path == NULL || nvm == NULL)
        return SE_ERR_ARGUMENT;
    int flags = O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0);
    f->fd = open(path, flags, S_IRUSR | S_IWUSR);
    if (f->fd < 0)
        return SE_ERR_NVM;
    nvm->cls = &file_class;
    nvm->ctx = f;
    return SE_OK;
}

void se_nvm_file_close(se_nvm_file *f)
{
    if (f != NULL && f->fd >= 0) {
        close(f->fd);
        f->fd = -1;
    }
}

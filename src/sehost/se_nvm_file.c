/*
 * se_nvm_file.c - the element's flash in one file (se_nvm_file.h).
 *
 * The pages live in an se_nvm_ram, which keeps the flash rules; each program
 * or erase that the rules allow is then written through to the file and
 * fsync'ed before it returns, so a crash of the host loses at most the
 * operation in flight, as a power cut would on a chip.
 */
#include "sehost/se_nvm_file.h"
#include "lorawan/lw_frame.h"
#include "lorawan/lw_secure.h"
#include "se/se_store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FORMAT_VERSION 2
static const uint8_t file_magic[8] = {'F', 'S', 'E', 'F', 'L', 'A', 'S', 'H'};
static const uint8_t old_magic[4] = {'F', 'S', 'E', '1'};

static const char ERR_OLD[] = "an element image in the two-bank format (FSE1) of ferry before the flash store: "
                              "it is not migrated; manufacture and personalise the element again";
static const char ERR_VERSION[] = "an element image of another format version";
static const char ERR_HEADER[] = "not an element image (its header is damaged or of another program)";
static const char ERR_SIZE[] = "an element image whose length does not match its geometry";
static const char ERR_RULE[] = "the element broke a flash rule (programmed a unit twice or off its alignment)";

static void encode_header(const se_nvm_ram *r, uint8_t h[SE_NVM_FILE_HEADER])
{
    memset(h, 0, SE_NVM_FILE_HEADER);
    memcpy(h, file_magic, sizeof(file_magic));
    lw_put_le(h + 8, FORMAT_VERSION, 4);
    lw_put_le(h + 12, r->geometry.page_size, 4);
    lw_put_le(h + 16, r->geometry.page_count, 4);
    lw_put_le(h + 20, r->geometry.program_unit, 4);
    for (unsigned p = 0; p < SE_NVM_PAGES_MAX; p++)
        lw_put_le(h + 24 + 4 * p, r->erases[p], 4);
    lw_put_le(h + 124, se_crc32_update(0, h, 124), 4);
}

/* Checks a header and sets r's geometry and erase counts from it. */
static const char *decode_header(const uint8_t *h, size_t len, se_nvm_ram *r)
{
    if (len >= 4 && memcmp(h, old_magic, 4) == 0)
        return ERR_OLD;
    if (len >= 1024 + 4 && memcmp(h + 1024, old_magic, 4) == 0)
        return ERR_OLD;
    if (len < SE_NVM_FILE_HEADER || memcmp(h, file_magic, sizeof(file_magic)) != 0 ||
        se_crc32_update(0, h, 124) != (uint32_t)lw_get_le(h + 124, 4))
        return ERR_HEADER;
    if (lw_get_le(h + 8, 4) != FORMAT_VERSION)
        return ERR_VERSION;
    se_nvm_geometry g = {.page_size = (uint32_t)lw_get_le(h + 12, 4), .page_count = (uint32_t)lw_get_le(h + 16, 4),
                         .program_unit = (uint32_t)lw_get_le(h + 20, 4)};
    if (se_nvm_ram_format(r, &g) != SE_OK)
        return ERR_HEADER;
    if (len != SE_NVM_FILE_HEADER + (size_t)se_nvm_ram_size(r))
        return ERR_SIZE;
    for (unsigned p = 0; p < SE_NVM_PAGES_MAX; p++)
        r->erases[p] = (uint32_t)lw_get_le(h + 24 + 4 * p, 4);
    memcpy(r->mem, h + SE_NVM_FILE_HEADER, se_nvm_ram_size(r));
    return NULL;
}

static int write_all(int fd, const uint8_t *p, size_t len, off_t off)
{
    size_t done = 0;
    while (done < len) {
        ssize_t w = pwrite(fd, p + done, len - done, off + (off_t)done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        done += (size_t)w;
    }
    return 0;
}

/* Reads the whole file (at most one header and SE_NVM_RAM_MAX bytes of
 * pages, plus one byte to notice a longer file). */
static ssize_t read_all(int fd, uint8_t *buf, size_t cap)
{
    size_t done = 0;
    while (done < cap) {
        ssize_t r = pread(fd, buf + done, cap - done, (off_t)done);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        done += (size_t)r;
    }
    return (ssize_t)done;
}

#define FILE_MAX (SE_NVM_FILE_HEADER + SE_NVM_RAM_MAX + 1)

/* Fills *r from the file at fd; an empty file becomes a fresh flash. */
static se_status load_fd(int fd, se_nvm_ram *r, const char **why, bool *fresh)
{
    uint8_t buf[FILE_MAX];
    memset(r, 0, sizeof(*r));
    *why = NULL;
    *fresh = false;
    ssize_t n = read_all(fd, buf, sizeof(buf));
    if (n < 0)
        return SE_ERR_NVM;
    se_status st = SE_OK;
    if (n == 0) {
        *fresh = true;
        st = se_nvm_ram_format(r, &se_nvm_ram_default_geometry);
    } else if ((*why = decode_header(buf, (size_t)n, r)) != NULL) {
        st = SE_ERR_CORRUPT;
    }
    lw_secure_wipe(buf, (size_t)n);
    return st;
}

static se_status sync_header(se_nvm_file *f)
{
    uint8_t h[SE_NVM_FILE_HEADER];
    encode_header(&f->flash, h);
    return write_all(f->fd, h, sizeof(h), 0) == 0 ? SE_OK : SE_ERR_NVM;
}

static off_t page_at(const se_nvm_file *f, uint32_t page)
{
    return (off_t)SE_NVM_FILE_HEADER + (off_t)page * f->flash.geometry.page_size;
}

static se_status file_read(void *ctx, uint32_t page, uint32_t offset, uint8_t *buf, size_t len)
{
    se_nvm_file *f = ctx;
    se_nvm inner;
    se_status st = se_nvm_ram_bind(&f->flash, &inner);
    return st == SE_OK ? inner.cls->read(inner.ctx, page, offset, buf, len) : st;
}

static se_status file_program(void *ctx, uint32_t page, uint32_t offset, const uint8_t *buf, size_t len)
{
    se_nvm_file *f = ctx;
    se_nvm inner;
    se_status st = se_nvm_ram_bind(&f->flash, &inner);
    unsigned before = f->flash.violations;
    if (st == SE_OK)
        st = inner.cls->program(inner.ctx, page, offset, buf, len);
    if (st != SE_OK) {
        f->error = f->flash.violations != before ? ERR_RULE : NULL;
        return SE_ERR_NVM;
    }
    const uint8_t *p = f->flash.mem + (size_t)page * f->flash.geometry.page_size + offset;
    if (write_all(f->fd, p, len, page_at(f, page) + (off_t)offset) != 0 || fsync(f->fd) != 0)
        return SE_ERR_NVM;
    return SE_OK;
}

static se_status file_erase(void *ctx, uint32_t page)
{
    se_nvm_file *f = ctx;
    se_nvm inner;
    se_status st = se_nvm_ram_bind(&f->flash, &inner);
    if (st == SE_OK)
        st = inner.cls->erase(inner.ctx, page);
    if (st != SE_OK)
        return SE_ERR_NVM;
    const uint8_t *p = f->flash.mem + (size_t)page * f->flash.geometry.page_size;
    if (write_all(f->fd, p, f->flash.geometry.page_size, page_at(f, page)) != 0 || sync_header(f) != SE_OK ||
        fsync(f->fd) != 0)
        return SE_ERR_NVM;
    return SE_OK;
}

static const se_nvm_class file_class = {.read = file_read, .program = file_program, .erase = file_erase};

se_status se_nvm_file_open(se_nvm_file *f, const char *path, int create, se_nvm *nvm)
{
    if (f == NULL || path == NULL || nvm == NULL)
        return SE_ERR_ARGUMENT;
    f->error = NULL;
    int flags = O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0);
    f->fd = open(path, flags, S_IRUSR | S_IWUSR);
    if (f->fd < 0)
        return SE_ERR_NVM;
    bool fresh = false;
    se_status st = load_fd(f->fd, &f->flash, &f->error, &fresh);
    if (st == SE_OK && fresh) {
        /* A new chip: its erased pages and header on disk at once. */
        if (ftruncate(f->fd, SE_NVM_FILE_HEADER + (off_t)se_nvm_ram_size(&f->flash)) != 0 ||
            write_all(f->fd, f->flash.mem, se_nvm_ram_size(&f->flash), SE_NVM_FILE_HEADER) != 0 ||
            sync_header(f) != SE_OK || fsync(f->fd) != 0)
            st = SE_ERR_NVM;
    }
    if (st != SE_OK) {
        int saved = errno;
        close(f->fd);
        f->fd = -1;
        errno = saved;
        return st;
    }
    nvm->cls = &file_class;
    nvm->ctx = f;
    nvm->geometry = f->flash.geometry;
    return SE_OK;
}

void se_nvm_file_close(se_nvm_file *f)
{
    if (f != NULL && f->fd >= 0) {
        close(f->fd);
        f->fd = -1;
    }
    if (f != NULL)
        lw_secure_wipe(f->flash.mem, sizeof(f->flash.mem));
}

const char *se_nvm_file_error(const se_nvm_file *f)
{
    if (f != NULL && f->error != NULL)
        return f->error;
    return strerror(errno);
}

se_status se_nvm_file_load(const char *path, se_nvm_ram *flash, const char **why)
{
    if (path == NULL || flash == NULL || why == NULL)
        return SE_ERR_ARGUMENT;
    *why = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return SE_ERR_NVM;
    bool fresh = false;
    se_status st = load_fd(fd, flash, why, &fresh);
    close(fd);
    if (st == SE_OK && fresh) {
        *why = "an empty element image (never manufactured)";
        st = SE_ERR_CORRUPT;
    }
    return st;
}

se_status se_nvm_file_save(const char *path, const se_nvm_ram *flash)
{
    if (path == NULL || flash == NULL)
        return SE_ERR_ARGUMENT;
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp)
        return SE_ERR_ARGUMENT;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, S_IRUSR | S_IWUSR);
    if (fd < 0)
        return SE_ERR_NVM;
    uint8_t h[SE_NVM_FILE_HEADER];
    encode_header(flash, h);
    bool ok = write_all(fd, h, sizeof(h), 0) == 0 &&
              write_all(fd, flash->mem, se_nvm_ram_size(flash), SE_NVM_FILE_HEADER) == 0 && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return SE_ERR_NVM;
    }
    return SE_OK;
}

/*
 * lmn_nvm.c - upstream's NvmDataMgmt API (apps/LoRaMac/common/NvmDataMgmt.h,
 * what LmHandler calls) for the lab board: the stack's LoRaMacNvmData_t in
 * one file, as a device keeps it in its EEPROM or flash.
 *
 * The MAC tells what changed through its NvmDataChange callback (the
 * LORAMAC_NVM_NOTIFY_FLAG_* groups); LmHandlerProcess then calls
 * NvmDataMgmtStore, which writes the groups to the file when any flag is
 * set: the whole struct at once, to a temporary file that is synced and
 * renamed over the old one, so a crash leaves either the old state or the
 * new one, never a mix. At boot, LmHandlerInit calls NvmDataMgmtRestore,
 * which hands the file's groups to the MAC (MIB_NVM_CTXS); the MAC takes
 * each group whose CRC is right and keeps its defaults for the others.
 *
 * With ferry's element behind the stack (ports/loramac-node/ferry-se/) the
 * file holds no key: the SecureElement group is the EUIs and PIN only
 * (built without SOFT_SE, SecureElementNvmData_t has no key list).
 *
 * Singleton state (the API has no context): the file's path and the flags
 * noted since the last store.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "LoRaMac.h"
#include "NvmDataMgmt.h"
#include "lmn_lab.h"

#define NVM_MAGIC "FERRYLMN"

static struct {
    char path[512];
    uint16_t flags;
} N;

typedef struct nvm_file {
    char magic[8];
    uint32_t size;               /* sizeof(LoRaMacNvmData_t) of the build that wrote it */
    LoRaMacNvmData_t data;
} nvm_file;

void lmn_nvm_set_path(const char *path)
{
    snprintf(N.path, sizeof N.path, "%s", path);
}

void NvmDataMgmtEvent(uint16_t notifyFlags)
{
    N.flags |= notifyFlags;
}

uint16_t NvmDataMgmtStore(void)
{
    if (N.flags == LORAMAC_NVM_NOTIFY_FLAG_NONE || N.path[0] == '\0')
        return 0;
    /* the MAC must not be in the middle of an exchange (upstream's rule) */
    if (LoRaMacIsBusy())
        return 0;
    MibRequestConfirm_t mib = {.Type = MIB_NVM_CTXS};
    if (LoRaMacMibGetRequestConfirm(&mib) != LORAMAC_STATUS_OK)
        return 0;
    static nvm_file f;   /* a few KiB: not on the stack */
    memset(&f, 0, sizeof f);
    memcpy(f.magic, NVM_MAGIC, sizeof f.magic);
    f.size = sizeof f.data;
    f.data = *mib.Param.Contexts;
    char tmp[sizeof N.path + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", N.path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        fprintf(stderr, "lmn_node: %s: cannot write the stack's NVM\n", tmp);
        return 0;
    }
    bool ok = write(fd, &f, sizeof f) == (ssize_t)sizeof f && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, N.path) != 0) {
        fprintf(stderr, "lmn_node: %s: cannot write the stack's NVM\n", N.path);
        unlink(tmp);
        return 0;   /* the flags stay: the next call tries again */
    }
    N.flags = LORAMAC_NVM_NOTIFY_FLAG_NONE;
    return (uint16_t)sizeof f.data;
}

uint16_t NvmDataMgmtRestore(void)
{
    if (N.path[0] == '\0')
        return 0;
    int fd = open(N.path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;   /* a factory-fresh device: the MAC's defaults */
    static nvm_file f;
    ssize_t n = read(fd, &f, sizeof f);
    close(fd);
    if (n != (ssize_t)sizeof f || memcmp(f.magic, NVM_MAGIC, sizeof f.magic) != 0 || f.size != sizeof f.data) {
        fprintf(stderr, "lmn_node: %s: not this build's NVM file; starting from the stack's defaults\n", N.path);
        return 0;
    }
    MibRequestConfirm_t mib = {.Type = MIB_NVM_CTXS};
    mib.Param.Contexts = &f.data;
    if (LoRaMacMibSetRequestConfirm(&mib) != LORAMAC_STATUS_OK)
        return 0;
    return (uint16_t)sizeof f.data;
}

bool NvmDataMgmtFactoryReset(void)
{
    N.flags = LORAMAC_NVM_NOTIFY_FLAG_NONE;
    return N.path[0] == '\0' || unlink(N.path) == 0;
}

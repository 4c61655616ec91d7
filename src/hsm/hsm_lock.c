/*
 * hsm_lock.c - one process at a time opens a SoftHSM2 token directory.
 *
 * Why (measured with strace, docs/hsm.md "Several processes on one token"):
 * SoftHSM2 keeps a token's label, flags and PIN blobs in
 * TOKENDIR/<uuid>/token.object and rewrites that file at every C_Login -
 * Token::loginUser clears CKF_USER_PIN_COUNT_LOW and stores the flags even
 * when nothing changed. The rewrite is not atomic: ObjectFile::store takes
 * an fcntl write lock, ftruncate()s the file to 0, writes through a stdio
 * buffer, and releases the lock before fclose() flushes that buffer. For
 * that moment the file is empty and unlocked. Another process reading it
 * then - in C_Initialize (the token scan), C_GetTokenInfo or its own
 * C_Login - takes the token for invalid: it is missing from the slot list
 * (HSM_ERR_TOKEN_NOT_FOUND) or C_Login fails with CKR_GENERAL_ERROR.
 *
 * ferry reads token.object only while opening (C_Initialize to C_Login);
 * sessions, key operations, C_Logout and C_Finalize leave it alone. So it
 * is enough that no two ferry processes open the same token directory at
 * once: each takes an exclusive flock(2) on TOKENDIR/ferry-open.lock around
 * the whole open. The lock goes with the process if it dies (flock locks
 * belong to the open file, which the kernel closes).
 *
 * This is SoftHSM2-specific, so it is done only when ferry exports the
 * SoftHSM2 configuration itself (hsm_config.softhsm_conf), and the lock file
 * sits in the token directory that configuration names. Where that
 * directory is not ours to write (a system-wide token store), nothing is
 * locked and the bounded retry in hsm_open is what remains.
 */
#include "hsm/hsm_internal.h"
#include "net/net_config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#define LOCK_NAME "ferry-open.lock"
#define CONF_MAX (64 * 1024)         /* a SoftHSM2 configuration is a few lines */
#define POLL_FIRST_MS 2              /* lock polling: 2, 4, 8 ms ... */
#define POLL_MAX_MS 20               /* ... then every 20 ms */

void hsm_pause_ms(unsigned ms)
{
    struct timespec t = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&t, &t) != 0 && errno == EINTR) {
    }
}

/* Finds `directories.tokendir = VALUE` the way SoftHSM2 reads it (one
 * "key = value" per line, '#' starts a comment line). *found = 0 when the
 * configuration does not name one (SoftHSM2 then uses its built-in
 * directory, which is not ferry's). */
static hsm_status conf_tokendir(const char *conf, char dir[PATH_MAX], int *found)
{
    *found = 0;
    FILE *fp = fopen(conf, "re");
    if (fp == NULL)
        return HSM_ERR_IO;
    char line[PATH_MAX + 64];
    size_t total = 0;
    hsm_status st = HSM_OK;
    while (st == HSM_OK && fgets(line, sizeof(line), fp) != NULL) {
        total += strlen(line);
        if (total > CONF_MAX || (strchr(line, '\n') == NULL && !feof(fp))) {
            st = HSM_ERR_IO;    /* a line or a file this long is not a SoftHSM2 configuration */
            break;
        }
        char *eq = strchr(line, '=');
        char *key = net_config_trim(line);
        if (key[0] == '#' || eq == NULL)
            continue;
        *eq = '\0';
        if (strcmp(net_config_trim(key), "directories.tokendir") != 0)
            continue;
        char *value = net_config_trim(eq + 1);
        if (strlen(value) >= PATH_MAX) {
            st = HSM_ERR_ARGUMENT;
            break;
        }
        snprintf(dir, PATH_MAX, "%s", value);
        *found = 1;           /* SoftHSM2 keeps the last one; so do we */
    }
    if (ferror(fp))
        st = HSM_ERR_IO;
    fclose(fp);
    return st;
}

hsm_status hsm_open_lock_take(const char *softhsm_conf, unsigned wait_ms, hsm_open_lock *l)
{
    if (l == NULL)
        return HSM_ERR_ARGUMENT;
    l->fd = -1;
    if (softhsm_conf == NULL)
        return HSM_OK;        /* not SoftHSM2, or not a configuration of ferry's */
    char dir[PATH_MAX], path[PATH_MAX];
    int found = 0;
    hsm_status st = conf_tokendir(softhsm_conf, dir, &found);
    if (st != HSM_OK || !found)
        return st;
    int n = snprintf(path, sizeof(path), "%s/%s", dir, LOCK_NAME);
    if (n < 0 || (size_t)n >= sizeof(path))
        return HSM_ERR_ARGUMENT;
    int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        /* A token directory we may not write, or that is not there (then
         * C_Initialize will say so): nothing to lock. */
        if (errno == EACCES || errno == EPERM || errno == EROFS || errno == ENOENT)
            return HSM_OK;
        return HSM_ERR_IO;
    }
    /* Polled rather than a blocking flock(): a holder that is stopped or
     * hangs inside its module must cost a bounded wait, not a hung process. */
    unsigned waited = 0, step = POLL_FIRST_MS;
    for (;;) {
        if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
            l->fd = fd;
            return HSM_OK;
        }
        if (errno != EWOULDBLOCK && errno != EINTR) {
            close(fd);
            return HSM_ERR_IO;
        }
        if (waited >= (wait_ms != 0 ? wait_ms : HSM_OPEN_LOCK_WAIT_MS)) {
            close(fd);
            return HSM_ERR_BUSY;
        }
        hsm_pause_ms(step);
        waited += step;
        step = step * 2 < POLL_MAX_MS ? step * 2 : POLL_MAX_MS;
    }
}

void hsm_open_lock_release(hsm_open_lock *l)
{
    if (l == NULL || l->fd < 0)
        return;
    close(l->fd);             /* closing the only descriptor releases the flock */
    l->fd = -1;
}

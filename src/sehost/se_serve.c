/*
 * se_serve.c - the emulator's socket loop: one host at a time, one APDU per
 * frame, as a chip on a bus. The element's state is committed by the
 * element itself, so killing the emulator at any moment loses nothing that
 * was answered.
 */
#include "sehost/se_client.h"
#include "lorawan/lw_secure.h"
#include "sehost/se_io.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static void serve_connection(se *e, int fd, volatile int *stop)
{
    uint8_t cmd[512], resp[SE_APDU_MAX_RESPONSE + 2];
    while (!*stop) {
        uint8_t hdr[2];
        if (se_io_read_full(fd, hdr, 2) != 0)
            break;
        size_t len = (size_t)hdr[0] << 8 | hdr[1];
        if (len > sizeof(cmd))
            break;   /* not an APDU: drop the host */
        if (se_io_read_full(fd, cmd, len) != 0)
            break;
        size_t n = 0;
        (void)se_apdu_process(e, cmd, len, resp + 2, SE_APDU_MAX_RESPONSE, &n);
        resp[0] = (uint8_t)(n >> 8);
        resp[1] = (uint8_t)n;
        if (se_io_write_full(fd, resp, n + 2) != 0)
            break;
    }
    LW_WIPE(cmd);
    LW_WIPE(resp);
}

se_status se_serve_socket(se *e, const char *path, volatile int *stop)
{
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    if (e == NULL || path == NULL || stop == NULL || strlen(path) >= sizeof(addr.sun_path))
        return SE_ERR_ARGUMENT;
    strcpy(addr.sun_path, path);
    int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (lfd < 0)
        return SE_ERR_NVM;
    unlink(path);
    mode_t old = umask(077);   /* only the owner may talk to the chip */
    int rc = bind(lfd, (struct sockaddr *)&addr, sizeof(addr));
    umask(old);
    if (rc != 0 || listen(lfd, 1) != 0) {
        close(lfd);
        return SE_ERR_NVM;
    }
    while (!*stop) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        serve_connection(e, fd, stop);
        close(fd);
    }
    close(lfd);
    unlink(path);
    return SE_OK;
}

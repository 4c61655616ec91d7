/*
 * cli_secret.c - secrets in, with no copy left behind (cli_secret.h).
 *
 * Why not fgets(stdin): stdio reads a whole block into a buffer that lives
 * until exit and is never wiped, so a KEK typed or piped in stays in the
 * process's memory, where a core dump or a swap page can show it.
 */
#include "cli/cli_secret.h"
#include "lorawan/lw_secure.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

int cli_secret_line(char *buf, size_t cap, size_t *len)
{
    size_t n = 0;
    bool any = false;
    for (;;) {
        char c;
        ssize_t r = read(0, &c, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            lw_secure_wipe(buf, cap);
            return -1;
        }
        if (r == 0)
            break;
        any = true;
        if (c == '\n')
            break;
        if (n + 1 >= cap) {
            lw_secure_wipe(buf, cap);
            lw_secure_wipe(&c, sizeof c);
            return -1;
        }
        buf[n++] = c;
        lw_secure_wipe(&c, sizeof c);
    }
    if (!any) {
        lw_secure_wipe(buf, cap);
        return -1;
    }
    while (n > 0 && (buf[n - 1] == '\r' || buf[n - 1] == ' '))
        n--;
    buf[n] = '\0';
    if (len != NULL)
        *len = n;
    return 0;
}

FILE *cli_secret_fopen(const char *path, cli_secret_file *sf)
{
    sf->f = fopen(path, "r");
    if (sf->f != NULL && setvbuf(sf->f, sf->buf, _IOFBF, sizeof sf->buf) != 0) {
        fclose(sf->f);
        sf->f = NULL;
        errno = ENOMEM;
    }
    return sf->f;
}

void cli_secret_fclose(cli_secret_file *sf)
{
    if (sf->f != NULL)
        fclose(sf->f);
    sf->f = NULL;
    lw_secure_wipe(sf->buf, sizeof sf->buf);
}

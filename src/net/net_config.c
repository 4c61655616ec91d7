/* net_config.c - the `key = value` configuration format (net_config.h). */
#include "net/net_config.h"
#include "lorawan/lw_secure.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SECRET_FILE_MAX 4096

char *net_config_trim(char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = '\0';
    return s;
}

net_status net_config_read(const char *path, net_config_key_fn fn, void *user, char err[NET_ERR_MAX])
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, NET_ERR_MAX, "%.180s: %s", path, strerror(errno));
        return NET_ERR_IO;
    }
    char *buf = malloc(NET_CONFIG_LINE_MAX + 2);
    if (buf == NULL) {
        fclose(f);
        return NET_ERR_NOMEM;
    }
    net_status st = NET_OK;
    unsigned line = 0;
    while (st == NET_OK && fgets(buf, NET_CONFIG_LINE_MAX + 2, f) != NULL) {
        line++;
        size_t n = strlen(buf);
        if (n == NET_CONFIG_LINE_MAX + 1 && buf[n - 1] != '\n') {
            snprintf(err, NET_ERR_MAX, "%.150s line %u: longer than %d bytes", path, line, NET_CONFIG_LINE_MAX);
            st = NET_ERR_LIMIT;
            break;
        }
        /* fgets stops at a NUL silently: what follows it would be lost */
        if (n == 0 || (buf[n - 1] != '\n' && !feof(f))) {
            snprintf(err, NET_ERR_MAX, "%.150s line %u: a NUL byte", path, line);
            st = NET_ERR_ARGUMENT;
            break;
        }
        char *s = net_config_trim(buf);
        if (*s == '\0' || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        if (eq == NULL) {
            snprintf(err, NET_ERR_MAX, "%.150s line %u: expected key = value", path, line);
            st = NET_ERR_ARGUMENT;
            break;
        }
        *eq = '\0';
        char *key = net_config_trim(s);
        char *value = net_config_trim(eq + 1);
        if (*key == '\0') {
            snprintf(err, NET_ERR_MAX, "%.150s line %u: a key is missing before =", path, line);
            st = NET_ERR_ARGUMENT;
        } else if (!fn(user, key, value, line, err)) {
            st = NET_ERR_ARGUMENT;
        }
    }
    if (st == NET_OK && ferror(f)) {
        snprintf(err, NET_ERR_MAX, "%.180s: read error", path);
        st = NET_ERR_IO;
    }
    lw_secure_wipe(buf, NET_CONFIG_LINE_MAX + 2);
    free(buf);
    fclose(f);
    return st;
}

net_status net_config_read_secret(const char *path, char *out, size_t cap, char err[NET_ERR_MAX])
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, NET_ERR_MAX, "%.180s: %s", path, strerror(errno));
        return NET_ERR_IO;
    }
    char buf[SECRET_FILE_MAX + 1];
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, sizeof(buf) - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(err, NET_ERR_MAX, "%.180s: %s", path, strerror(errno));
            close(fd);
            lw_secure_wipe(buf, sizeof(buf));
            return NET_ERR_IO;
        }
        if (r == 0 || (n += (size_t)r) == sizeof(buf) - 1)
            break;
    }
    close(fd);
    buf[n] = '\0';
    net_status st = NET_OK;
    char *nl = memchr(buf, '\n', n);
    if (nl == NULL && n == sizeof(buf) - 1) {
        snprintf(err, NET_ERR_MAX, "%.180s: its first line is longer than %d bytes", path, SECRET_FILE_MAX);
        st = NET_ERR_LIMIT;
    } else {
        if (nl != NULL)
            *nl = '\0';
        char *s = net_config_trim(buf);
        size_t len = strlen(s);
        if (len == 0) {
            snprintf(err, NET_ERR_MAX, "%.180s: empty", path);
            st = NET_ERR_ARGUMENT;
        } else if (len >= cap) {
            snprintf(err, NET_ERR_MAX, "%.180s: longer than %zu bytes", path, cap - 1);
            st = NET_ERR_LIMIT;
        } else {
            memcpy(out, s, len + 1);
        }
    }
    lw_secure_wipe(buf, sizeof(buf));
    return st;
}

net_status net_config_replace(const char *path, const char *text, size_t len, bool (*check)(void *user, const char *tmp),
                              void *user, char err[NET_ERR_MAX])
{
    char tmp[4200];
    if (path == NULL || text == NULL || (size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp) {
        snprintf(err, NET_ERR_MAX, "a configuration path too long");
        return NET_ERR_IO;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    bool ok = fd >= 0 && write(fd, text, len) == (ssize_t)len && fsync(fd) == 0;
    if (fd >= 0)
        ok = close(fd) == 0 && ok;
    if (!ok) {
        snprintf(err, NET_ERR_MAX, "%.200s: %s", tmp, strerror(errno));
        unlink(tmp);
        return NET_ERR_IO;
    }
    if (check != NULL && !check(user, tmp)) {
        unlink(tmp);
        return NET_ERR_ARGUMENT;
    }
    if (rename(tmp, path) != 0) {
        snprintf(err, NET_ERR_MAX, "%.200s: %s", path, strerror(errno));
        unlink(tmp);
        return NET_ERR_IO;
    }
    /* the rename itself durable: sync the directory that holds both names */
    char dir[4200];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == NULL)
        snprintf(dir, sizeof dir, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ok = dfd >= 0 && fsync(dfd) == 0;
    if (dfd >= 0)
        close(dfd);
    if (!ok) {
        snprintf(err, NET_ERR_MAX, "%.200s: the directory could not be synced", dir);
        return NET_ERR_IO;
    }
    return NET_OK;
}

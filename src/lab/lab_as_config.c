/*
 * lab_as_config.c - the lab application server's configuration file.
 *
 * The same format and rules as the lab NS's (lab_ns_config.c): `key = value`
 * lines, `#` comments, unknown keys are errors, and so is a key given twice
 * (a second `kek_file` silently replacing the first is the kind of mistake
 * that costs an afternoon). Files named in it are read relative to the
 * configuration file's directory; secret files must be 0600 or stricter.
 *
 * The NS's bearer is kept only as its SHA-256, so the token itself is wiped
 * as soon as it is read; the IDM token must be kept as text, because it is
 * sent.
 */
#include "lab/lab_as.h"
#include "lab/lab_gw.h"
#include "lorawan/lw_secure.h"
#include "net/net_config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <mbedtls/sha256.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

static lab_status fail(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static lab_status fail(char *err, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
    return LAB_ERR_CONFIG;
}

/* dir/name unless name is absolute. */
static lab_status resolve(const char *dir, const char *name, char *out, size_t cap, char *err, size_t ecap,
                          unsigned ln)
{
    int n = (name[0] == '/' || dir[0] == 0) ? snprintf(out, cap, "%s", name) : snprintf(out, cap, "%s/%s", dir, name);
    if (name[0] == 0)
        return fail(err, ecap, "line %u: a file name is expected", ln);
    if (n < 0 || (size_t)n >= cap)
        return fail(err, ecap, "line %u: path too long", ln);
    return LAB_OK;
}

/* The first line of a small secret file into out[cap], trimmed. */
static lab_status read_secret(const char *path, char *out, size_t cap, char *err, size_t ecap, unsigned ln)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return fail(err, ecap, "line %u: %s: %s", ln, path, strerror(errno));
    if (st.st_mode & 077)
        return fail(err, ecap, "line %u: %s: readable by others (chmod 600)", ln, path);
    char nerr[NET_ERR_MAX];
    if (net_config_read_secret(path, out, cap, nerr) != NET_OK)
        return fail(err, ecap, "line %u: %s", ln, nerr);
    return LAB_OK;
}

static lab_status parse_kek(lab_as_config *cfg, const char *path, char *err, size_t cap, unsigned ln)
{
    char hex[100];
    uint8_t key[LW_KEY_MAX];
    lab_status st = read_secret(path, hex, sizeof(hex), err, cap, ln);
    size_t n = strlen(hex);
    if (st == LAB_OK && ((n != 32 && n != 48 && n != 64) || lw_hex_decode(hex, n, key, n / 2) != LW_OK ||
                         lw_key_from_bytes(&cfg->kek, key, n / 2) != LW_OK))
        st = fail(err, cap, "line %u: %s: expected 32, 48 or 64 hex digits", ln, path);
    lw_secure_wipe(hex, sizeof(hex));
    lw_secure_wipe(key, sizeof(key));
    return st;
}

static lab_status parse_token(lab_as_config *cfg, const char *path, char *err, size_t cap, unsigned ln)
{
    char tok[LAB_AS_TOKEN_MAX + 1];
    lab_status st = read_secret(path, tok, sizeof(tok), err, cap, ln);
    if (st == LAB_OK)
        (void)mbedtls_sha256_ret((const unsigned char *)tok, strlen(tok), cfg->token_sha256, 0);
    lw_secure_wipe(tok, sizeof(tok));
    return st;
}

static bool loopback(const char *listen)
{
    struct sockaddr_storage sa;
    unsigned len = 0;
    if (lab_addr_parse(listen, &sa, &len) != LAB_OK)
        return false;
    if (sa.ss_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)&sa)->sin_addr.s_addr) >> 24) == 127;
    if (sa.ss_family == AF_INET6)
        return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)&sa)->sin6_addr);
    return false;
}

static const char *const keys[] = {"listen",         "token_file", "kek_label", "kek_file", "idm_url",
                                   "idm_token_file", "ca_file",    "idm_timeout_ms"};
enum { K_LISTEN, K_TOKEN, K_KEK_LABEL, K_KEK_FILE, K_IDM_URL, K_IDM_TOKEN, K_CA, K_TIMEOUT, K_N };

static lab_status set_key(lab_as_config *cfg, int k, char *v, const char *dir, char *err, size_t cap, unsigned ln)
{
    char path[512];
    lab_status st = LAB_OK;
    if (k == K_TOKEN || k == K_KEK_FILE || k == K_IDM_TOKEN || k == K_CA) {
        st = resolve(dir, v, path, sizeof(path), err, cap, ln);
        if (st != LAB_OK)
            return st;
    }
    switch (k) {
    case K_LISTEN:
        if (strlen(v) >= sizeof(cfg->listen) || strrchr(v, ':') == NULL)
            return fail(err, cap, "line %u: listen: ADDR:PORT with a numeric address", ln);
        if (!loopback(v))
            return fail(err, cap, "line %u: listen %s: the lab AS serves plain HTTP on a loopback address only", ln,
                        v);
        strcpy(cfg->listen, v);
        return LAB_OK;
    case K_TOKEN:
        return parse_token(cfg, path, err, cap, ln);
    case K_KEK_LABEL:
        if (strlen(v) == 0 || strlen(v) > BI_KEK_LABEL_MAX)
            return fail(err, cap, "line %u: kek_label: 1..%d characters", ln, BI_KEK_LABEL_MAX);
        strcpy(cfg->kek_label, v);
        return LAB_OK;
    case K_KEK_FILE:
        return parse_kek(cfg, path, err, cap, ln);
    case K_IDM_URL: {
        size_t n = strlen(v);
        while (n > 0 && v[n - 1] == '/')
            v[--n] = 0;
        if (n >= sizeof(cfg->idm_url) - 64 || (strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0) ||
            strchr(v, ' ') != NULL || strchr(v, '?') != NULL)
            return fail(err, cap, "line %u: idm_url: an http:// or https:// base URL (idm serve's address)", ln);
        strcpy(cfg->idm_url, v);
        return LAB_OK;
    }
    case K_IDM_TOKEN:
        return read_secret(path, cfg->idm_token, sizeof(cfg->idm_token), err, cap, ln);
    case K_CA: {
        FILE *f = strlen(path) < sizeof(cfg->ca_file) ? fopen(path, "r") : NULL;
        if (f == NULL)
            return fail(err, cap, "line %u: ca_file: cannot read %s", ln, path);
        fclose(f);
        strcpy(cfg->ca_file, path);
        return LAB_OK;
    }
    case K_TIMEOUT: {
        char *end;
        unsigned long x = strtoul(v, &end, 10);
        if (*v == 0 || *end || x < 100 || x > 60000)
            return fail(err, cap, "line %u: idm_timeout_ms: a number of milliseconds, 100..60000", ln);
        cfg->idm_timeout_ms = (uint32_t)x;
        return LAB_OK;
    }
    default:
        return fail(err, cap, "line %u: internal: key %d", ln, k);
    }
}

/* The state of one read of the AS's configuration, for net_config_read;
 * sentences go straight to the caller's err[cap]. */
typedef struct lab_as_reader {
    lab_as_config *cfg;
    const char *dir;
    unsigned *seen;
    char *err;
    size_t cap;
    lab_status st;
} lab_as_reader;

static bool lab_as_config_key(void *user, const char *k, const char *value, unsigned ln, char err[NET_ERR_MAX])
{
    lab_as_reader *rd = user;
    int idx = -1;
    for (int i = 0; i < K_N; i++)
        if (strcmp(k, keys[i]) == 0)
            idx = i;
    char v[NET_CONFIG_LINE_MAX + 1];
    snprintf(v, sizeof(v), "%s", value);
    if (idx < 0)
        rd->st = fail(rd->err, rd->cap, "line %u: unknown key '%s'", ln, k);
    else if (rd->seen[idx])
        rd->st = fail(rd->err, rd->cap, "line %u: '%s' given twice (first on line %u)", ln, k, rd->seen[idx]);
    else {
        rd->seen[idx] = ln;
        rd->st = set_key(rd->cfg, idx, v, rd->dir, rd->err, rd->cap, ln);
    }
    lw_secure_wipe(v, sizeof(v));
    if (rd->st != LAB_OK)
        snprintf(err, NET_ERR_MAX, "%.255s", rd->err);
    return rd->st == LAB_OK;
}

lab_status lab_as_config_load(const char *path, lab_as_config *cfg, char *err, size_t cap)
{
    if (path == NULL || cfg == NULL || err == NULL || cap == 0)
        return LAB_ERR_ARGUMENT;
    memset(cfg, 0, sizeof(*cfg));
    err[0] = 0;
    strcpy(cfg->listen, "127.0.0.1:9000");
    cfg->idm_timeout_ms = 2000;
    char dir[512];
    if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir))
        return fail(err, cap, "path too long");
    char *slash = strrchr(dir, '/');
    if (slash != NULL)
        *slash = 0;
    else
        dir[0] = 0;
    unsigned seen[K_N] = {0};
    lab_as_reader rd = {.cfg = cfg, .dir = dir, .seen = seen, .err = err, .cap = cap};
    char nerr[NET_ERR_MAX];
    lab_status st = LAB_OK;
    if (net_config_read(path, lab_as_config_key, &rd, nerr) != NET_OK)
        st = rd.st != LAB_OK ? rd.st : fail(err, cap, "%s", nerr);
    if (st == LAB_OK && !seen[K_TOKEN])
        st = fail(err, cap, "token_file is required (the bearer the network server sends)");
    if (st == LAB_OK && (!seen[K_KEK_LABEL] || !seen[K_KEK_FILE]))
        st = fail(err, cap, "kek_label and kek_file are required (the AS unwraps each session's AppSKey)");
    if (st == LAB_OK && (seen[K_IDM_URL] != 0) != (seen[K_IDM_TOKEN] != 0))
        st = fail(err, cap, "idm_url and idm_token_file go together (the relay to the Identity Manager)");
    if (st != LAB_OK) {
        lab_as_config_wipe(cfg);
        return st;
    }
    return LAB_OK;
}

void lab_as_config_wipe(lab_as_config *cfg)
{
    if (cfg != NULL)
        lw_secure_wipe(cfg, sizeof(*cfg));
}

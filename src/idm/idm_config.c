/*
 * idm_config.c - DIR/idm.conf: the Identity Manager's own settings, next to
 * the Join Server's ferry.conf of the same deployment (which names the
 * token and the database both use). A separate file because `idm serve` is
 * a separate process with its own listen address and its own peer (the
 * bootstrap network server), and ferry.conf refuses keys it does not know.
 *
 *   listen            = 127.0.0.1:4720
 *   ns_token_sha256   = <64 hex>   SHA-256 of the NS's bearer token (POST /uplink)
 *   tls_cert          = PATH       PEM certificate: HTTPS, on any IPv4 address
 *   tls_key           = PATH       its PEM private key (both or neither)
 *   delivery_deadline = 86400      seconds
 *   retry_base        = 30         seconds before a round is re-sent; doubles
 *   retry_max         = 3600
 *   max_join_attempts = 8          trial of a delivered profile
 *   poll              = 5          seconds between housekeeping rounds
 *   max_key_age       = 0          renew root keys older than this (seconds; 0 = never)
 *   redeliver_after   = 3600       a new profile for an SE back on bootstrap after this long (0 = never)
 *   mls_rx_slots      = 256        SEs whose uplink MLS messages are reassembled at once
 *   console_streams   = 64         the console's live streams (GET /api/v1/events) open at once
 *   tls_priority      = STRING     GnuTLS priority (default: docs/net.md, "TLS policy")
 *   tls_priority_below_floor = no  yes: allow a tls_priority below the default's floor
 *
 * `ferry idm config set KEY VALUE...` (idm_config_set) changes it: every
 * value checked as the loader reads it, the whole new file checked, then
 * renamed over the old one. `idm serve` reads it when it starts.
 */
#include "idm/idm_ota.h"
#include "lorawan/lw_secure.h"
#include "net/net_config.h"

#include <errno.h>
#include <fcntl.h>
#include <mbedtls/sha256.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#define CONF "idm.conf"
#define LINE_MAX_ 512          /* a line of idm.conf, its newline included */
#define CONF_MAX_ (64 * 1024)  /* the whole file, for `idm config set` */

static bool num(const char *v, uint32_t max, uint32_t *out)
{
    char *end;
    errno = 0;
    unsigned long x = strtoul(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || x > max || v[0] == '-')
        return false;
    *out = (uint32_t)x;
    return true;
}

/* A path from idm.conf: relative ones are taken from the deployment
 * directory, so that `idm serve` does not depend on its working directory. */
static bool path_of(const char *dir, const char *v, char *out, size_t cap)
{
    int n = v[0] == '/' ? snprintf(out, cap, "%s", v) : snprintf(out, cap, "%s/%s", dir, v);
    return v[0] != '\0' && n > 0 && (size_t)n < cap;
}

/* One `key = value` of idm.conf into *out; false when the key is unknown
 * or the value is not one it takes. */
static bool apply_key(const char *dir, idm_config *out, const char *k, const char *v)
{
    uint32_t x = 0;
    if (strcmp(k, "listen") == 0 && strlen(v) < sizeof out->listen)
        memcpy(out->listen, v, strlen(v) + 1);
    else if (strcmp(k, "ns_token_sha256") == 0 && strlen(v) == 64 &&
             lw_hex_decode(v, 64, out->ns_token_sha256, 32) == LW_OK)
        out->has_ns_token = true;
    else if (strcmp(k, "tls_cert") == 0)
        return path_of(dir, v, out->tls_cert, sizeof out->tls_cert);
    else if (strcmp(k, "tls_key") == 0)
        return path_of(dir, v, out->tls_key, sizeof out->tls_key);
    else if (strcmp(k, "delivery_deadline") == 0 && num(v, 0x7FFFFFFF, &x) && x > 0)
        out->policy.deadline_s = x;
    else if (strcmp(k, "retry_base") == 0 && num(v, 86400, &x))
        out->policy.retry_base_s = x;
    else if (strcmp(k, "retry_max") == 0 && num(v, 0x7FFFFFFF, &x))
        out->policy.retry_max_s = x;
    else if (strcmp(k, "max_join_attempts") == 0 && num(v, 65535, &x))
        out->policy.max_join_attempts = (uint16_t)x;
    else if (strcmp(k, "poll") == 0 && num(v, 86400, &x) && x > 0)
        out->policy.poll_s = x;
    else if (strcmp(k, "max_key_age") == 0 && num(v, 0xFFFFFFFFu, &x))
        out->policy.max_key_age_s = x;
    else if (strcmp(k, "redeliver_after") == 0 && num(v, 0xFFFFFFFFu, &x))
        out->policy.redeliver_after_s = x;
    else if (strcmp(k, "mls_rx_slots") == 0 && num(v, IDM_OTA_RX_SLOTS_MAX, &x) && x > 0)
        out->policy.mls_rx_slots = x;
    else if (strcmp(k, "console_streams") == 0 && num(v, IDM_CONSOLE_STREAMS_MAX, &x) && x > 0)
        out->console_streams = x;
    else if (strcmp(k, "tls_priority") == 0 && v[0] != '\0' && strlen(v) < sizeof out->tls_priority)
        memcpy(out->tls_priority, v, strlen(v) + 1);
    else if (strcmp(k, "tls_priority_below_floor") == 0 && (strcmp(v, "yes") == 0 || strcmp(v, "no") == 0))
        out->tls_priority_below_floor = strcmp(v, "yes") == 0;
    else
        return false;
    return true;
}

/* Splits a line of idm.conf in place as net_config_read reads it (for
 * `idm config set`, which rewrites lines): *k and *v trimmed. 0 = a blank
 * or comment line, 1 = a key and a value, -1 = no '='. */
static int split_line(char *line, char **k, char **v)
{
    char *p = net_config_trim(line);
    if (*p == '\0' || *p == '#')
        return 0;
    char *eq = strchr(p, '=');
    if (eq == NULL)
        return -1;
    *eq = '\0';
    *k = net_config_trim(p);
    *v = net_config_trim(eq + 1);
    return 1;
}

/* The state of one read of idm.conf, for net_config_read. */
typedef struct conf_reader {
    const char *dir;
    idm_config *out;
} conf_reader;

static bool conf_key(void *user, const char *key, const char *value, unsigned line, char err[NET_ERR_MAX])
{
    conf_reader *rd = user;
    if (apply_key(rd->dir, rd->out, key, value))
        return true;
    snprintf(err, NET_ERR_MAX, CONF " line %u: unknown key or bad value for %.40s", line, key);
    return false;
}

/* Reads the file at `path` (idm.conf or its replacement being checked) as
 * idm.conf of `dir`. */
static idm_status load_file(const char *dir, const char *path, idm_config *out, char err[IDM_ERR_MAX])
{
    memset(out, 0, sizeof *out);
    snprintf(out->listen, sizeof out->listen, "127.0.0.1:4720");
    out->policy = (idm_policy)IDM_POLICY_DEFAULT;
    out->console_streams = IDM_CONSOLE_STREAMS_DEFAULT;
    if (access(path, F_OK) != 0 && errno == ENOENT)
        return IDM_OK; /* the defaults */
    conf_reader rd = {dir, out};
    char nerr[NET_ERR_MAX];
    net_status ns = net_config_read(path, conf_key, &rd, nerr);
    if (ns != NET_OK) {
        snprintf(err, IDM_ERR_MAX, "%s", nerr);
        return ns == NET_ERR_IO ? IDM_ERR_IO : IDM_ERR_INPUT;
    }
    if ((out->tls_cert[0] != '\0') != (out->tls_key[0] != '\0')) {
        snprintf(err, IDM_ERR_MAX, CONF ": tls_cert and tls_key go together: set both, or neither");
        return IDM_ERR_INPUT;
    }
    return IDM_OK;
}

idm_status idm_config_load(const char *dir, idm_config *out, char err[IDM_ERR_MAX])
{
    char path[4200];
    snprintf(path, sizeof path, "%s/" CONF, dir);
    return load_file(dir, path, out, err);
}

/* The keys `idm config set` takes: all of idm.conf's. */
static const char *const settable[] = {"listen",      "ns_token_sha256", "tls_cert",          "tls_key",
                                       "delivery_deadline", "retry_base", "retry_max", "max_join_attempts",
                                       "poll",        "max_key_age",     "redeliver_after",   "mls_rx_slots",
                                       "console_streams",
                                       "tls_priority", "tls_priority_below_floor"};

static bool known_key(const char *k)
{
    for (size_t i = 0; i < sizeof settable / sizeof settable[0]; i++)
        if (strcmp(k, settable[i]) == 0)
            return true;
    return false;
}

/* A value goes into a line of its own: nothing that would end the line,
 * start a comment or be trimmed away. */
static bool value_fits_a_line(const char *v)
{
    size_t n = strlen(v);
    if (n == 0 || n >= 1024 || v[0] == ' ' || v[n - 1] == ' ')
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] > 0x7e || v[i] == '#')
            return false;
    return true;
}

/* The new idm.conf, checked whole as it will be read (tls_cert without
 * tls_key, ...) before it replaces the old one (net_config_replace). */
typedef struct replace_check {
    const char *dir;
    idm_config *probe;
    char *err;
    idm_status rc;
} replace_check;

static bool loads_whole(void *user, const char *tmp)
{
    replace_check *c = user;
    c->rc = load_file(c->dir, tmp, c->probe, c->err);
    return c->rc == IDM_OK;
}

idm_status idm_config_set(const char *dir, const idm_config_setting *set, size_t n, char err[IDM_ERR_MAX])
{
    err[0] = '\0';
    if (n == 0 || n > IDM_CONFIG_SET_MAX) {
        snprintf(err, IDM_ERR_MAX, "expected 1 to %d KEY VALUE pairs", IDM_CONFIG_SET_MAX);
        return IDM_ERR_ARGUMENT;
    }
    idm_config probe;
    memset(&probe, 0, sizeof probe);
    for (size_t i = 0; i < n; i++) {
        if (!known_key(set[i].key)) {
            snprintf(err, IDM_ERR_MAX, "%.40s: not a key of " CONF " (see `ferry idm config show`)", set[i].key);
            return IDM_ERR_ARGUMENT;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(set[i].key, set[j].key) == 0) {
                snprintf(err, IDM_ERR_MAX, "%s: given twice", set[i].key);
                return IDM_ERR_ARGUMENT;
            }
        if (!value_fits_a_line(set[i].value) || !apply_key(dir, &probe, set[i].key, set[i].value)) {
            snprintf(err, IDM_ERR_MAX, "%s: bad value \"%.64s\"", set[i].key, set[i].value);
            return IDM_ERR_ARGUMENT;
        }
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/" CONF, dir);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, IDM_ERR_MAX, CONF ": %s", errno == ENOENT ? "missing: run `ferry -d DIR idm init` first"
                                                                 : strerror(errno));
        return errno == ENOENT ? IDM_ERR_NOT_FOUND : IDM_ERR_IO;
    }
    /* The new text: every line as it was but those of the keys set, which
     * get their new value in place; keys not there yet go at the end. */
    char *out = calloc(1, CONF_MAX_ + 1);
    bool *done = calloc(n, sizeof *done);
    size_t len = 0;
    idm_status rc = out != NULL && done != NULL ? IDM_OK : IDM_ERR_NOMEM;
    char line[LINE_MAX_], copy[LINE_MAX_];
    while (rc == IDM_OK && fgets(line, sizeof line, f) != NULL) {
        memcpy(copy, line, sizeof line);
        char *k = NULL, *v = NULL;
        size_t hit = n;
        if (split_line(copy, &k, &v) > 0)
            for (size_t i = 0; i < n && hit == n; i++)
                if (strcmp(k, set[i].key) == 0)
                    hit = i;
        int w = hit < n ? snprintf(out + len, CONF_MAX_ + 1 - len, "%s = %s\n", set[hit].key, set[hit].value)
                        : snprintf(out + len, CONF_MAX_ + 1 - len, "%s%s", line, strchr(line, '\n') ? "" : "\n");
        if (w < 0 || (size_t)w >= CONF_MAX_ + 1 - len)
            rc = IDM_ERR_INPUT;
        else
            len += (size_t)w;
        if (hit < n)
            done[hit] = true;
    }
    if (ferror(f))
        rc = IDM_ERR_IO;
    fclose(f);
    for (size_t i = 0; rc == IDM_OK && i < n; i++) {
        if (done[i])
            continue;
        int w = snprintf(out + len, CONF_MAX_ + 1 - len, "%s = %s\n", set[i].key, set[i].value);
        if (w < 0 || (size_t)w >= CONF_MAX_ + 1 - len)
            rc = IDM_ERR_INPUT;
        else
            len += (size_t)w;
    }
    if (rc == IDM_ERR_INPUT)
        snprintf(err, IDM_ERR_MAX, CONF ": larger than %d bytes", CONF_MAX_);
    if (rc == IDM_OK) {
        replace_check chk = {dir, &probe, err, IDM_OK};
        char nerr[NET_ERR_MAX];
        net_status ns = net_config_replace(path, out, len, loads_whole, &chk, nerr);
        if (ns == NET_ERR_ARGUMENT) {
            rc = chk.rc;
        } else if (ns != NET_OK) {
            snprintf(err, IDM_ERR_MAX, "%s", nerr);
            rc = IDM_ERR_IO;
        }
    }
    free(out);
    free(done);
    return rc;
}

idm_status idm_config_init(const char *dir, const char *listen, char token_hex[IDM_TENANT_TOKEN_HEX + 1],
                           char err[IDM_ERR_MAX])
{
    uint8_t raw[32], h[32];
    if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw) {
        snprintf(err, IDM_ERR_MAX, "%s", idm_strerror(IDM_ERR_RANDOM));
        return IDM_ERR_RANDOM;
    }
    if (lw_hex_encode(raw, sizeof raw, token_hex, IDM_TENANT_TOKEN_HEX + 1) != LW_OK)
        return IDM_ERR_ARGUMENT;
    lw_secure_wipe(raw, sizeof raw);
    (void)mbedtls_sha256_ret((const unsigned char *)token_hex, IDM_TENANT_TOKEN_HEX, h, 0);
    char hh[65];
    if (lw_hex_encode(h, 32, hh, sizeof hh) != LW_OK)
        return IDM_ERR_ARGUMENT;
    char path[4200];
    snprintf(path, sizeof path, "%s/" CONF, dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        lw_secure_wipe(token_hex, IDM_TENANT_TOKEN_HEX + 1);
        int e = errno;
        snprintf(err, IDM_ERR_MAX, CONF ": %s", e == EEXIST ? "exists already; nothing overwritten" : strerror(e));
        errno = e;
        return errno == EEXIST ? IDM_ERR_EXISTS : IDM_ERR_IO;
    }
    FILE *f = fdopen(fd, "w");
    if (f == NULL) {
        close(fd);
        return IDM_ERR_IO;
    }
    fprintf(f, "# the Identity Manager's settings (docs/idm.md)\nlisten = %s\nns_token_sha256 = %s\n"
               "# HTTPS (needed to listen on a non-loopback address); relative paths are from this directory\n"
               "# tls_cert = /path/cert.pem\n# tls_key = /path/key.pem\n"
               "delivery_deadline = 86400\nretry_base = 30\nretry_max = 3600\nmax_join_attempts = 8\npoll = 5\nmax_key_age = 0\nredeliver_after = 3600\n"
               "# SEs whose uplink MLS messages are reassembled at once; beyond, a fragment is refused (re-sent)\n"
               "mls_rx_slots = 256\n",
            listen != NULL ? listen : "127.0.0.1:4720", hh);
    if (fflush(f) != 0 || fsync(fd) != 0) {
        fclose(f);
        return IDM_ERR_IO;
    }
    fclose(f);
    return IDM_OK;
}

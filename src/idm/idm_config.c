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
 */
#include "idm/idm_ota.h"
#include "lorawan/lw_secure.h"

#include <errno.h>
#include <fcntl.h>
#include <mbedtls/sha256.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#define CONF "idm.conf"

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

idm_status idm_config_load(const char *dir, idm_config *out, char err[IDM_ERR_MAX])
{
    memset(out, 0, sizeof *out);
    snprintf(out->listen, sizeof out->listen, "127.0.0.1:4720");
    out->policy = (idm_policy)IDM_POLICY_DEFAULT;
    char path[4200];
    snprintf(path, sizeof path, "%s/" CONF, dir);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return errno == ENOENT ? IDM_OK : IDM_ERR_IO;
    char line[512];
    unsigned no = 0;
    idm_status rc = IDM_OK;
    while (rc == IDM_OK && fgets(line, sizeof line, f) != NULL) {
        no++;
        char *p = line;
        p[strcspn(p, "\r\n#")] = '\0';
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '\0')
            continue;
        char *eq = strchr(p, '=');
        if (eq == NULL) {
            rc = IDM_ERR_INPUT;
            break;
        }
        char *k = p, *v = eq + 1;
        *eq = '\0';
        for (char *t = eq - 1; t >= k && (*t == ' ' || *t == '\t'); t--)
            *t = '\0';
        while (*v == ' ' || *v == '\t')
            v++;
        for (char *t = v + strlen(v) - 1; t >= v && (*t == ' ' || *t == '\t'); t--)
            *t = '\0';
        uint32_t x = 0;
        if (strcmp(k, "listen") == 0 && strlen(v) < sizeof out->listen)
            memcpy(out->listen, v, strlen(v) + 1);
        else if (strcmp(k, "ns_token_sha256") == 0 && strlen(v) == 64 &&
                 lw_hex_decode(v, 64, out->ns_token_sha256, 32) == LW_OK)
            out->has_ns_token = true;
        else if (strcmp(k, "tls_cert") == 0)
            rc = path_of(dir, v, out->tls_cert, sizeof out->tls_cert) ? IDM_OK : IDM_ERR_INPUT;
        else if (strcmp(k, "tls_key") == 0)
            rc = path_of(dir, v, out->tls_key, sizeof out->tls_key) ? IDM_OK : IDM_ERR_INPUT;
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
        else
            rc = IDM_ERR_INPUT;
    }
    fclose(f);
    if (rc != IDM_OK) {
        snprintf(err, IDM_ERR_MAX, CONF " line %u: unknown key or bad value", no);
        return rc;
    }
    if ((out->tls_cert[0] != '\0') != (out->tls_key[0] != '\0')) {
        snprintf(err, IDM_ERR_MAX, CONF ": tls_cert and tls_key go together: set both, or neither");
        return IDM_ERR_INPUT;
    }
    return IDM_OK;
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

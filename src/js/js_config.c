/*
 * js_config.c - DIR/ferry.conf: one `key = value` per line, `#` comments.
 *
 * Plain text rather than JSON so that an operator can read and edit it
 * with any editor and append a peer with `ferry peer add` without
 * re-serialising the file. Peers are `peer.<ID>.<attribute> = value`; the
 * ID may itself contain dots (an AS-ID is a host name), so the attribute is
 * what follows the last dot. Unknown keys are errors, so a typo in a
 * security setting never passes silently. docs/join-server.md lists every key.
 */
#include "js/js.h"
#include "js/js_internal.h"
#include "net/net_config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <mbedtls/sha256.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

static const char *const status_text[JS_STATUS_COUNT] = {
    [JS_OK] = "success",
    [JS_ERR_ARGUMENT] = "invalid argument",
    [JS_ERR_CONFIG] = "the deployment's configuration is missing or invalid",
    [JS_ERR_EXISTS] = "it exists already",
    [JS_ERR_NOT_FOUND] = "not found",
    [JS_ERR_IO] = "a file could not be read or written",
    [JS_ERR_HSM] = "the key service (PKCS#11) failed",
    [JS_ERR_STORE] = "the database failed",
    [JS_ERR_INPUT] = "the input is malformed",
    [JS_ERR_CLEAR_KEY] = "a key came in clear (allowed only with --allow-clear-keys)",
    [JS_ERR_KEK] = "a wrapped key does not unwrap under its KEK",
    [JS_ERR_RANDOM] = "the random generator failed",
    [JS_ERR_NOMEM] = "out of memory",
    [JS_ERR_HTTP] = "the HTTP server could not start",
};

const char *js_strerror(js_status st)
{
    if ((unsigned)st >= JS_STATUS_COUNT)
        return "unknown js status";
    return status_text[st];
}

void js_sha256(const void *data, size_t len, uint8_t out[JS_HASH_LEN])
{
    (void)mbedtls_sha256_ret(data, len, out, 0);
}

js_status js_token_generate(char out[JS_TOKEN_HEX_LEN + 1], uint8_t hash[JS_HASH_LEN])
{
    uint8_t raw[JS_TOKEN_HEX_LEN / 2];
    if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
        LW_WIPE(raw);
        return JS_ERR_RANDOM;
    }
    lw_status ls = lw_hex_encode(raw, sizeof(raw), out, JS_TOKEN_HEX_LEN + 1);
    LW_WIPE(raw);
    if (ls != LW_OK)
        return JS_ERR_ARGUMENT;
    js_sha256(out, JS_TOKEN_HEX_LEN, hash);
    return JS_OK;
}

const js_peer *js_config_peer(const js_config *cfg, const char *id)
{
    for (size_t i = 0; i < cfg->peer_count; i++) {
        if (strcmp(cfg->peers[i].id, id) == 0)
            return &cfg->peers[i];
    }
    return NULL;
}

static bool copy_str(char *dst, size_t cap, const char *v)
{
    size_t n = strlen(v);
    if (n >= cap)
        return false;
    memcpy(dst, v, n + 1);
    return true;
}

static bool parse_hex_be(const char *v, unsigned bytes, uint64_t *out)
{
    uint8_t b[8];
    if (v[0] == '0' && (v[1] == 'x' || v[1] == 'X'))
        v += 2;
    if (bytes > sizeof(b) || lw_hex_decode(v, strlen(v), b, bytes) != LW_OK)
        return false;
    uint64_t x = 0;
    for (unsigned i = 0; i < bytes; i++)
        x = (x << 8) | b[i];
    *out = x;
    return true;
}

static bool parse_bool(const char *v, bool *out)
{
    if (strcmp(v, "yes") == 0 || strcmp(v, "true") == 0 || strcmp(v, "required") == 0) {
        *out = true;
        return true;
    }
    if (strcmp(v, "no") == 0 || strcmp(v, "false") == 0 || strcmp(v, "none") == 0) {
        *out = false;
        return true;
    }
    return false;
}

static bool parse_uint(const char *v, unsigned long max, unsigned long *out)
{
    char *end = NULL;
    errno = 0;
    if (v[0] < '0' || v[0] > '9')
        return false;
    unsigned long x = strtoul(v, &end, 10);
    if (errno != 0 || *end != '\0' || x > max)
        return false;
    *out = x;
    return true;
}

/* Canonical peer ID: a NetID (6 hex digits, optional 0x) uppercased, else as is. */
void js_canonical_id(const char *in, char out[BI_ID_MAX + 1])
{
    uint64_t v;
    size_t n = strlen(in);
    size_t digits = (n > 2 && in[0] == '0' && (in[1] == 'x' || in[1] == 'X')) ? n - 2 : n;
    if (digits == 6 && parse_hex_be(in, 3, &v)) {
        snprintf(out, BI_ID_MAX + 1, "%06llX", (unsigned long long)v);
        return;
    }
    snprintf(out, BI_ID_MAX + 1, "%s", in);
}

static js_status set_peer(js_config *cfg, const char *key, const char *v, char err[JS_ERR_MAX], int line)
{
    const char *rest = key + 5;
    const char *dot = strrchr(rest, '.');
    if (dot == NULL || dot == rest || (size_t)(dot - rest) > BI_ID_MAX) {
        js_errf(err, "ferry.conf line %d: expected peer.<ID>.<attribute>", line);
        return JS_ERR_CONFIG;
    }
    char raw[BI_ID_MAX + 1], id[BI_ID_MAX + 1];
    memcpy(raw, rest, (size_t)(dot - rest));
    raw[dot - rest] = '\0';
    js_canonical_id(raw, id);
    js_peer *p = (js_peer *)js_config_peer(cfg, id);
    if (p == NULL) {
        if (cfg->peer_count >= JS_PEERS_MAX) {
            js_errf(err, "ferry.conf line %d: more than %d peers", line, JS_PEERS_MAX);
            return JS_ERR_CONFIG;
        }
        p = &cfg->peers[cfg->peer_count++];
        memset(p, 0, sizeof(*p));
        memcpy(p->id, id, sizeof(id));
    }
    const char *attr = dot + 1;
    if (strcmp(attr, "token_sha256") == 0) {
        if (lw_hex_decode(v, strlen(v), p->token_sha256, JS_HASH_LEN) != LW_OK) {
            js_errf(err, "ferry.conf line %d: token_sha256 must be 64 hex digits", line);
            return JS_ERR_CONFIG;
        }
        p->has_token = true;
    } else if (strcmp(attr, "nsid") == 0) {
        if (!parse_hex_be(v, 8, &p->nsid)) {
            js_errf(err, "ferry.conf line %d: nsid must be 16 hex digits", line);
            return JS_ERR_CONFIG;
        }
        p->has_nsid = true;
    } else if (strcmp(attr, "client_ca") == 0) {
        if (v[0] != '/' || !copy_str(p->client_ca, sizeof(p->client_ca), v)) {
            js_errf(err, "ferry.conf line %d: client_ca must be an absolute path", line);
            return JS_ERR_CONFIG;
        }
    } else if (strcmp(attr, "answer_url") == 0) {
        if ((strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0) ||
            !copy_str(p->answer_url, sizeof(p->answer_url), v)) {
            js_errf(err, "ferry.conf line %d: answer_url must be an http:// or https:// URL shorter than %d bytes",
                    line, JS_ANSWER_URL_MAX);
            return JS_ERR_CONFIG;
        }
    } else if (strcmp(attr, "answer_token_file") == 0 || strcmp(attr, "answer_ca") == 0) {
        char *dst = strcmp(attr, "answer_ca") == 0 ? p->answer_ca : p->answer_token_file;
        if (v[0] != '/' || !copy_str(dst, JS_PATH_MAX, v)) {
            js_errf(err, "ferry.conf line %d: %s must be an absolute path", line, attr);
            return JS_ERR_CONFIG;
        }
    } else if (strcmp(attr, "client_crl") == 0) {
        if (v[0] != '/' || !copy_str(p->client_crl, sizeof(p->client_crl), v)) {
            js_errf(err, "ferry.conf line %d: client_crl must be an absolute path", line);
            return JS_ERR_CONFIG;
        }
    } else {
        js_errf(err, "ferry.conf line %d: unknown peer attribute \"%.40s\"", line, attr);
        return JS_ERR_CONFIG;
    }
    return JS_OK;
}

static js_status set_key(js_config *cfg, const char *key, const char *v, char err[JS_ERR_MAX], int line)
{
    bool ok = true;
    unsigned long n = 0;
    if (strncmp(key, "peer.", 5) == 0)
        return set_peer(cfg, key, v, err, line);
    if (strcmp(key, "join_eui") == 0) {
        char e[JS_ERR_MAX];
        js_status st = js_config_add_join_eui(cfg, v, e);
        if (st != JS_OK) {
            js_errf(err, "ferry.conf line %d: %s", line, e);
            return JS_ERR_CONFIG;
        }
    } else if (strcmp(key, "listen") == 0)
        ok = copy_str(cfg->listen, sizeof(cfg->listen), v);
    else if (strcmp(key, "listen_shared") == 0)
        ok = parse_bool(v, &cfg->listen_shared);
    else if (strcmp(key, "database") == 0)
        ok = copy_str(cfg->database, sizeof(cfg->database), v);
    else if (strcmp(key, "pkcs11_module") == 0)
        ok = copy_str(cfg->pkcs11_module, sizeof(cfg->pkcs11_module), v);
    else if (strcmp(key, "softhsm_conf") == 0)
        ok = copy_str(cfg->softhsm_conf, sizeof(cfg->softhsm_conf), v);
    else if (strcmp(key, "token_label") == 0)
        ok = copy_str(cfg->token_label, sizeof(cfg->token_label), v) && v[0] != '\0';
    else if (strcmp(key, "pin_file") == 0)
        ok = copy_str(cfg->pin_file, sizeof(cfg->pin_file), v);
    else if (strcmp(key, "peer_auth") == 0)
        ok = parse_bool(v, &cfg->peer_auth_required);
    else if (strcmp(key, "lifetime") == 0) {
        ok = parse_uint(v, UINT32_MAX, &n);
        cfg->lifetime = (uint32_t)n;
    } else if (strcmp(key, "threads") == 0) {
        ok = parse_uint(v, 64, &n) && n >= 1;
        cfg->threads = (unsigned)n;
    } else if (strcmp(key, "async_deadline") == 0) {
        ok = parse_uint(v, 7 * 86400, &n) && n >= 1;
        cfg->async_deadline_s = (uint32_t)n;
    } else if (strcmp(key, "async_retry_ms") == 0) {
        ok = parse_uint(v, 3600000, &n) && n >= 10;
        cfg->async_retry_ms = (uint32_t)n;
    } else if (strcmp(key, "async_retry_max_ms") == 0) {
        ok = parse_uint(v, 3600000, &n) && n >= 10;
        cfg->async_retry_max_ms = (uint32_t)n;
    } else if (strcmp(key, "async_outbox_max") == 0) {
        ok = parse_uint(v, 10000000, &n) && n >= 1;
        cfg->async_outbox_max = (uint32_t)n;
    } else if (strcmp(key, "async_keep") == 0) {
        ok = parse_uint(v, 30 * 86400, &n);
        cfg->async_keep_s = (uint32_t)n;
    } else if (strcmp(key, "tls_cert") == 0)
        ok = copy_str(cfg->tls_cert, sizeof(cfg->tls_cert), v);
    else if (strcmp(key, "tls_key") == 0)
        ok = copy_str(cfg->tls_key, sizeof(cfg->tls_key), v);
    else if (strcmp(key, "tls_client_ca") == 0)
        ok = copy_str(cfg->tls_client_ca, sizeof(cfg->tls_client_ca), v);
    else if (strcmp(key, "tls_client_crl") == 0)
        ok = copy_str(cfg->tls_client_crl, sizeof(cfg->tls_client_crl), v) && v[0] == '/';
    else if (strcmp(key, "tls_crl_required") == 0)
        ok = parse_bool(v, &cfg->tls_crl_required);
    else if (strcmp(key, "tls_priority") == 0)
        ok = copy_str(cfg->tls_priority, sizeof(cfg->tls_priority), v);
    else if (strcmp(key, "tls_priority_below_floor") == 0)
        ok = parse_bool(v, &cfg->tls_priority_below_floor);
    else if (strcmp(key, "admin_token_sha256") == 0) {
        ok = lw_hex_decode(v, strlen(v), cfg->admin_token_sha256, JS_HASH_LEN) == LW_OK;
        cfg->has_admin_token = ok;
    } else {
        js_errf(err, "ferry.conf line %d: unknown key \"%.40s\"", line, key);
        return JS_ERR_CONFIG;
    }
    if (!ok) {
        js_errf(err, "ferry.conf line %d: bad value for %.40s", line, key);
        return JS_ERR_CONFIG;
    }
    return JS_OK;
}

/* The state of one read of ferry.conf, for net_config_read's callback. */
typedef struct js_reader {
    js_config *cfg;
    js_status st;
    bool have_eui;
} js_reader;

static bool js_config_key(void *user, const char *key, const char *value, unsigned line, char err[NET_ERR_MAX])
{
    js_reader *rd = user;
    char e[JS_ERR_MAX] = "";
    if (strcmp(key, "join_eui") == 0)
        rd->have_eui = true;
    rd->st = set_key(rd->cfg, key, value, e, (int)line);
    if (rd->st != JS_OK)
        snprintf(err, NET_ERR_MAX, "%s", e);
    return rd->st == JS_OK;
}

js_status js_config_load(const char *dir, js_config *cfg, char err[JS_ERR_MAX])
{
    memset(cfg, 0, sizeof(*cfg));
    err[0] = '\0';
    char *abs = realpath(dir, NULL);
    if (abs == NULL || strlen(abs) >= sizeof(cfg->dir)) {
        js_errf(err, "%s: %s", dir, abs == NULL ? strerror(errno) : "path too long");
        free(abs);
        return JS_ERR_CONFIG;
    }
    memcpy(cfg->dir, abs, strlen(abs) + 1);
    free(abs);
    cfg->peer_auth_required = true;
    cfg->threads = 16; /* docs/join-server.md, "Performance": joins per fsync grow with threads */
    cfg->async_deadline_s = JS_ASYNC_DEADLINE_S_DEFAULT;
    cfg->async_retry_ms = JS_ASYNC_RETRY_MS_DEFAULT;
    cfg->async_retry_max_ms = JS_ASYNC_RETRY_MAX_MS_DEFAULT;
    cfg->async_outbox_max = JS_ASYNC_OUTBOX_MAX_DEFAULT;
    cfg->async_keep_s = JS_ASYNC_KEEP_S_DEFAULT;
    snprintf(cfg->listen, sizeof(cfg->listen), "127.0.0.1:%d", JS_DEFAULT_PORT);

    char path[JS_PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/%s", cfg->dir, JS_CONF_FILE);
    js_reader rd = {.cfg = cfg};
    char nerr[NET_ERR_MAX];
    net_status ns = net_config_read(path, js_config_key, &rd, nerr);
    js_status st = rd.st;
    if (ns == NET_ERR_IO) {
        js_errf(err, "%s (is this a deployment made by `ferry init`?)", nerr);
        return JS_ERR_CONFIG;
    }
    if (ns != NET_OK) {
        js_errf(err, "%s", nerr);
        st = JS_ERR_CONFIG;
    }
    bool have_eui = rd.have_eui;
    if (st == JS_OK && !have_eui) {
        js_errf(err, "ferry.conf: join_eui is missing");
        st = JS_ERR_CONFIG;
    }
    if (st == JS_OK && (cfg->database[0] == '\0' || cfg->pin_file[0] == '\0' || cfg->token_label[0] == '\0')) {
        js_errf(err, "ferry.conf: database, token_label and pin_file are required");
        st = JS_ERR_CONFIG;
    }
    for (size_t i = 0; st == JS_OK && i < cfg->peer_count; i++) {
        const js_peer *p = &cfg->peers[i];
        if (p->answer_url[0] == '\0' && (p->answer_token_file[0] != '\0' || p->answer_ca[0] != '\0')) {
            js_errf(err, "ferry.conf: peer %s has answer_token_file or answer_ca without answer_url", p->id);
            st = JS_ERR_CONFIG;
        }
    }
    if (st == JS_OK && cfg->async_retry_max_ms < cfg->async_retry_ms) {
        js_errf(err, "ferry.conf: async_retry_max_ms is below async_retry_ms");
        st = JS_ERR_CONFIG;
    }
    if (st == JS_OK && (cfg->tls_cert[0] != '\0') != (cfg->tls_key[0] != '\0')) {
        js_errf(err, "ferry.conf: tls_cert and tls_key go together");
        st = JS_ERR_CONFIG;
    }
    return st;
}

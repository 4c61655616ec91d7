/*
 * js_deploy.c - making a deployment directory and adding peers to it.
 *
 * Order matters for "never overwrite": ferry.conf is the marker of a
 * deployment, so it is checked first and written last (O_EXCL); the token
 * set-up refuses on its own files; admin.token is O_EXCL too. A failure half
 * way leaves files behind and says so; the operator removes DIR and retries.
 */
#include "js/js.h"
#include "js/js_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Writes `text` to a new file `path` with mode 0600; never replaces one. */
static js_status write_new(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return errno == EEXIST ? JS_ERR_EXISTS : JS_ERR_IO;
    size_t n = strlen(text), off = 0;
    while (off < n) {
        ssize_t w = write(fd, text + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            close(fd);
            unlink(path);
            return JS_ERR_IO;
        }
        off += (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0)
        return JS_ERR_IO;
    return JS_OK;
}

static void hex_of(const uint8_t *b, size_t n, char *out, size_t cap)
{
    if (lw_hex_encode(b, n, out, cap) != LW_OK && cap > 0)
        out[0] = '\0';
}

js_status js_deploy_init(const char *dir, const js_init_opts *o, char err[JS_ERR_MAX])
{
    err[0] = '\0';
    if (dir == NULL || o == NULL || o->join_euis == NULL || o->n_join_euis == 0 || o->n_join_euis > JS_JOIN_EUIS_MAX)
        return JS_ERR_ARGUMENT;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        js_errf(err, "%s: %s", dir, strerror(errno));
        return JS_ERR_IO;
    }
    if (chmod(dir, 0700) != 0) {
        js_errf(err, "%s: %s", dir, strerror(errno));
        return JS_ERR_IO;
    }
    char *abs = realpath(dir, NULL);
    if (abs == NULL || strlen(abs) > JS_PATH_MAX - 64) {
        js_errf(err, "%s: %s", dir, abs == NULL ? strerror(errno) : "path too long");
        free(abs);
        return JS_ERR_IO;
    }
    char conf_path[JS_PATH_MAX], tok_path[JS_PATH_MAX], db[JS_PATH_MAX + 16];
    snprintf(conf_path, sizeof(conf_path), "%s/%s", abs, JS_CONF_FILE);
    snprintf(tok_path, sizeof(tok_path), "%s/%s", abs, JS_ADMIN_TOKEN);
    struct stat sb;
    if (lstat(conf_path, &sb) == 0 || lstat(tok_path, &sb) == 0) {
        js_errf(err, "%s already holds a deployment (%s); refusing to overwrite it", abs,
                 JS_CONF_FILE);
        free(abs);
        return JS_ERR_EXISTS;
    }
    const char *label = o->token_label != NULL ? o->token_label : JS_TOKEN_LABEL;
    hsm_diag diag = {0};
    hsm_status hs = hsm_token_create(abs, label, NULL, &diag);
    if (hs != HSM_OK) {
        char line[200];
        js_errf(err, "token set-up: %s%s", hsm_diag_format(hs, &diag, line, sizeof(line)),
                 hs == HSM_ERR_EXISTS ? " (a token is there already: refusing to overwrite)" : "");
        free(abs);
        return hs == HSM_ERR_EXISTS ? JS_ERR_EXISTS : JS_ERR_HSM;
    }
    if (o->database != NULL)
        snprintf(db, sizeof(db), "%s", o->database);
    else
        snprintf(db, sizeof(db), "sqlite:%s/ferry.db", abs);
    store *s = NULL;
    store_status ss = store_open(db, &s);
    if (ss != STORE_OK) {
        js_errf(err, "database %s: %s", o->database != NULL ? "(given)" : db, store_strerror(ss));
        store_close(s);
        free(abs);
        return JS_ERR_STORE;
    }
    store_close(s);
    /* SQLite makes the file with the umask's mode; the -wal and -shm files
     * copy the database's, so 0600 here keeps all three private. */
    if (o->database == NULL) {
        char file[JS_PATH_MAX + 16];
        snprintf(file, sizeof(file), "%s/ferry.db", abs);
        if (chmod(file, 0600) != 0) {
            js_errf(err, "%s: %s", file, strerror(errno));
            free(abs);
            return JS_ERR_IO;
        }
    }

    hsm_dir_config dc;
    if (hsm_config_for_dir(abs, label, &dc) != HSM_OK) {
        js_errf(err, "token paths do not fit");
        free(abs);
        return JS_ERR_ARGUMENT;
    }
    char token[JS_TOKEN_HEX_LEN + 2];
    uint8_t hash[JS_HASH_LEN];
    js_status st = js_token_generate(token, hash);
    if (st == JS_OK) {
        token[JS_TOKEN_HEX_LEN] = '\n';
        token[JS_TOKEN_HEX_LEN + 1] = '\0';
        st = write_new(tok_path, token);
        lw_secure_wipe(token, sizeof(token));
        if (st != JS_OK)
            js_errf(err, "%s: could not write", tok_path);
    }
    if (st == JS_OK) {
        char hash_hex[2 * JS_HASH_LEN + 1];
        hex_of(hash, sizeof(hash), hash_hex, sizeof(hash_hex));
        char listen[128];
        if (o->listen != NULL)
            snprintf(listen, sizeof(listen), "%s", o->listen);
        else
            snprintf(listen, sizeof(listen), "127.0.0.1:%d", JS_DEFAULT_PORT);
        size_t cap = 4 * PATH_MAX + 4 * JS_PATH_MAX;
        char *text = malloc(cap);
        if (text == NULL) {
            free(abs);
            return JS_ERR_NOMEM;
        }
        /* one join_eui line per range, first in the file */
        char euis[JS_JOIN_EUIS_MAX * (JS_JOIN_EUI_TEXT_MAX + 12)];
        size_t el = 0;
        for (size_t i = 0; i < o->n_join_euis; i++) {
            char t[JS_JOIN_EUI_TEXT_MAX];
            js_join_eui_range_text(&o->join_euis[i], t);
            el += (size_t)snprintf(euis + el, sizeof euis - el, "join_eui = %s\n", t);
        }
        snprintf(text, cap,
                 "# ferry Join Server deployment (made by `ferry init`). docs/join-server.md lists every key.\n"
                 "# the JoinEUIs served, a prefix /BITS each (ferry joineui add|remove|list)\n"
                 "%s"
                 "listen = %s\n"
                 "database = %s\n"
                 "pkcs11_module = %s\n"
                 "softhsm_conf = %s\n"
                 "token_label = %s\n"
                 "pin_file = %s\n"
                 "# required: every peer authenticates (bearer token or client certificate);\n"
                 "# none: any sender is served (only allowed with plain HTTP on loopback)\n"
                 "peer_auth = required\n"
                 "lifetime = 0\n"
                 "# a thread waiting for the group commit's fsync uses no CPU: more threads\n"
                 "# than cores let more joins share one fsync (docs/join-server.md)\n"
                 "threads = 16\n"
                 "# TLS (required on any address that is not loopback):\n"
                 "# tls_cert = /path/cert.pem\n"
                 "# tls_key = /path/key.pem\n"
                 "admin_token_sha256 = %s\n"
                 "# peers (ferry peer add): peer.<NetID or AS-ID>.token_sha256 = <hex>,\n"
                 "# peer.<ID>.client_ca = /abs/ca.pem (its client certificates), peer.<NetID>.nsid = <EUI>\n",
                 euis, listen, db, dc.cfg.module != NULL ? dc.cfg.module : HSM_DEFAULT_MODULE,
                 dc.conf_path, dc.label, dc.pin_path, hash_hex);
        st = write_new(conf_path, text);
        free(text);
        if (st != JS_OK)
            js_errf(err, "%s: could not write", conf_path);
    }
    free(abs);
    return st;
}

/* The absolute path of a PEM file holding at least one X.509 certificate. */
static js_status check_ca_file(const char *path, char out[JS_PATH_MAX], char err[JS_ERR_MAX])
{
    char *abs = realpath(path, NULL);
    if (abs == NULL || strlen(abs) >= JS_PATH_MAX) {
        js_errf(err, "--client-ca %s: %s", path, abs == NULL ? strerror(errno) : "path too long");
        free(abs);
        return JS_ERR_ARGUMENT;
    }
    for (const char *p = abs; *p != '\0'; p++) {
        if (*p == '\n' || *p == '\r') {
            js_errf(err, "--client-ca: the path may not contain a newline");
            free(abs);
            return JS_ERR_ARGUMENT;
        }
    }
    gnutls_x509_trust_list_t tl;
    int added = -1;
    if (gnutls_x509_trust_list_init(&tl, 0) == GNUTLS_E_SUCCESS) {
        added = gnutls_x509_trust_list_add_trust_file(tl, abs, NULL, GNUTLS_X509_FMT_PEM, 0, 0);
        gnutls_x509_trust_list_deinit(tl, 1);
    }
    if (added <= 0) {
        js_errf(err, "--client-ca %s: no PEM certificate could be read", path);
        free(abs);
        return JS_ERR_INPUT;
    }
    js_copy(out, JS_PATH_MAX, abs);
    free(abs);
    return JS_OK;
}

js_status js_peer_add(const char *dir, const char *id, const char *token_out, const char *client_ca,
                      const char *nsid_hex, char err[JS_ERR_MAX])
{
    err[0] = '\0';
    if (token_out == NULL && client_ca == NULL) {
        js_errf(err, "a peer needs a credential: --token-out FILE, --client-ca FILE, or both");
        return JS_ERR_ARGUMENT;
    }
    char ca_abs[JS_PATH_MAX] = "";
    if (client_ca != NULL) {
        js_status cs = check_ca_file(client_ca, ca_abs, err);
        if (cs != JS_OK)
            return cs;
    }
    err[0] = '\0';
    js_config *cfg = calloc(1, sizeof(*cfg));
    if (cfg == NULL)
        return JS_ERR_NOMEM;
    js_status st = js_config_load(dir, cfg, err);
    char canon[BI_ID_MAX + 1];
    if (st == JS_OK) {
        js_canonical_id(id, canon);
        for (const char *p = canon; *p != '\0'; p++) {
            if ((unsigned char)*p <= ' ' || *p == '=' || *p == '#' || (unsigned char)*p >= 0x7f) {
                js_errf(err, "peer ID: printable characters without space, '=' or '#' only");
                st = JS_ERR_ARGUMENT;
                break;
            }
        }
    }
    if (st == JS_OK && js_config_peer(cfg, canon) != NULL) {
        js_errf(err, "peer %s is configured already", canon);
        st = JS_ERR_EXISTS;
    }
    char path[JS_PATH_MAX + 32];
    if (st == JS_OK)
        snprintf(path, sizeof(path), "%s/%s", cfg->dir, JS_CONF_FILE);
    free(cfg);
    if (st != JS_OK)
        return st;
    if (nsid_hex != NULL) {
        uint8_t b[8];
        const char *h = nsid_hex;
        if (h[0] == '0' && (h[1] == 'x' || h[1] == 'X'))
            h += 2;
        if (lw_hex_decode(h, strlen(h), b, sizeof(b)) != LW_OK) {
            js_errf(err, "--nsid: expected 16 hex digits");
            return JS_ERR_ARGUMENT;
        }
    }
    char hash_hex[2 * JS_HASH_LEN + 1] = "";
    if (token_out != NULL) {
        char token[JS_TOKEN_HEX_LEN + 2];
        uint8_t hash[JS_HASH_LEN];
        st = js_token_generate(token, hash);
        if (st != JS_OK)
            return st;
        token[JS_TOKEN_HEX_LEN] = '\n';
        token[JS_TOKEN_HEX_LEN + 1] = '\0';
        st = write_new(token_out, token);
        lw_secure_wipe(token, sizeof(token));
        if (st != JS_OK) {
            js_errf(err, "%s: %s", token_out,
                     st == JS_ERR_EXISTS ? "exists; the token file is never overwritten" : "could not write");
            return st;
        }
        hex_of(hash, sizeof(hash), hash_hex, sizeof(hash_hex));
    }
    FILE *f = fopen(path, "a");
    if (f == NULL) {
        if (token_out != NULL)
            unlink(token_out);
        js_errf(err, "%s: %s", path, strerror(errno));
        return JS_ERR_IO;
    }
    if (token_out != NULL)
        fprintf(f, "peer.%s.token_sha256 = %s\n", canon, hash_hex);
    if (client_ca != NULL)
        fprintf(f, "peer.%s.client_ca = %s\n", canon, ca_abs);
    if (nsid_hex != NULL)
        fprintf(f, "peer.%s.nsid = %s\n", canon, nsid_hex);
    if (fflush(f) != 0 || fsync(fileno(f)) != 0 || fclose(f) != 0) {
        js_errf(err, "%s: could not write", path);
        return JS_ERR_IO;
    }
    return JS_OK;
}

/*
 * hub_config.c - the hub's configuration file.
 *
 * `key = value` lines and `#` comments, like ferry.conf and the lab NS's;
 * unknown keys are errors, so that a misspelt security setting is never
 * ignored. `member` and `route` repeat:
 *
 *     member = ID [token_sha256=HEX] [client_ca=FILE]
 *     route  = RECEIVER URL [TOKEN_FILE]
 *
 * ID and RECEIVER: a NetID (6 hex digits), a JoinEUI (16 hex digits) or a
 * JoinEUI prefix (EUI/BITS), or an AS-ID (any other text). A member keeps
 * only the SHA-256 of its token: the hub verifies tokens, it never needs
 * to present them. A route's TOKEN_FILE holds the credentials the hub
 * presents to that receiver: one bare token for every sender, and/or lines
 * `SENDERID TOKEN` for a receiver that knows each sender (ferry's Join
 * Server authenticates the SenderID itself).
 */
#include "hub/hub.h"
#include "lorawan/lw_secure.h"
#include "net/net_config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static hub_status fail(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static hub_status fail(char *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, HUB_ERR_MAX, fmt, ap);
    va_end(ap);
    return HUB_ERR_CONFIG;
}

static bool resolve(const char *dir, const char *name, char *out, size_t cap)
{
    int n = (name[0] == '/' || dir[0] == '\0') ? snprintf(out, cap, "%s", name)
                                               : snprintf(out, cap, "%s/%s", dir, name);
    return n > 0 && (size_t)n < cap;
}

static bool hex_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i]))
            return false;
    return true;
}

/* NetID, JoinEUI[/BITS] or AS-ID, as a member ID or a route's receiver. */
static bool parse_id(const char *text, bi_id *id, unsigned *bits)
{
    char buf[BI_ID_MAX + 1];
    if (strlen(text) > BI_ID_MAX)
        return false;
    strcpy(buf, text);
    *bits = 0;
    char *slash = strchr(buf, '/');
    const char *hex = buf;
    if (strlen(hex) > 2 && hex[0] == '0' && (hex[1] == 'x' || hex[1] == 'X'))
        hex += 2;
    if (slash != NULL) {
        char *end;
        *slash = '\0';
        unsigned long b = strtoul(slash + 1, &end, 10);
        if (*end != '\0' || end == slash + 1 || b > 64 || strlen(hex) != 16 || !hex_digits(hex, 16))
            return false;
        bi_id_set_eui(id, strtoull(hex, NULL, 16));
        *bits = (unsigned)b;
        return true;
    }
    size_t n = strlen(hex);
    if (n == 16 && hex_digits(hex, n)) {
        bi_id_set_eui(id, strtoull(hex, NULL, 16));
        *bits = 64;
        return true;
    }
    if (n == 6 && hex_digits(hex, n)) {
        bi_id_set_net_id(id, (uint32_t)strtoul(hex, NULL, 16));
        return true;
    }
    return bi_id_set_name(id, text) == BI_OK;
}

static bool same_member(const hub_member *a, const bi_id *id, unsigned bits)
{
    return a->id.kind == id->kind && a->bits == bits &&
           (id->kind == BI_ID_NAME ? strcmp(a->id.raw, id->raw) == 0 : a->id.value == id->value);
}

static hub_status parse_member(hub_config *cfg, char *v, const char *dir, char *err, unsigned ln)
{
    if (cfg->n_members == HUB_MEMBERS_MAX)
        return fail(err, "line %u: more than %d members", ln, HUB_MEMBERS_MAX);
    hub_member *m = &cfg->members[cfg->n_members];
    memset(m, 0, sizeof(*m));
    char *save = NULL;
    char *id = strtok_r(v, " \t", &save);
    if (id == NULL || !parse_id(id, &m->id, &m->bits))
        return fail(err, "line %u: member = ID [token_sha256=HEX] [client_ca=FILE]; ID a NetID, JoinEUI[/BITS] or AS-ID",
                    ln);
    for (size_t i = 0; i < cfg->n_members; i++)
        if (same_member(&cfg->members[i], &m->id, m->bits))
            return fail(err, "line %u: member %s is listed twice", ln, id);
    for (char *a = strtok_r(NULL, " \t", &save); a != NULL; a = strtok_r(NULL, " \t", &save)) {
        if (strncmp(a, "token_sha256=", 13) == 0) {
            const char *h = a + 13;
            if (strlen(h) != 2 * HUB_HASH_LEN || lw_hex_decode(h, strlen(h), m->token_sha256, HUB_HASH_LEN) != LW_OK)
                return fail(err, "line %u: token_sha256 must be 64 hex digits (sha256sum of the token)", ln);
            m->has_token = true;
        } else if (strncmp(a, "client_crl=", 11) == 0) {
            if (!resolve(dir, a + 11, m->client_crl, sizeof(m->client_crl)))
                return fail(err, "line %u: client_crl path too long", ln);
        } else if (strncmp(a, "client_ca=", 10) == 0) {
            if (!resolve(dir, a + 10, m->client_ca, sizeof(m->client_ca)))
                return fail(err, "line %u: client_ca path too long", ln);
            FILE *f = fopen(m->client_ca, "r");
            if (f == NULL)
                return fail(err, "line %u: client_ca %s: %s", ln, m->client_ca, strerror(errno));
            fclose(f);
        } else {
            return fail(err, "line %u: unknown member attribute '%s' (token_sha256=, client_ca=, client_crl=)", ln, a);
        }
    }
    if (!m->has_token && m->client_ca[0] == '\0')
        return fail(err, "line %u: member %s has no credential (token_sha256= or client_ca=)", ln, id);
    cfg->n_members++;
    return HUB_OK;
}

static bool token_ok(const char *t)
{
    size_t n = strlen(t);
    if (n == 0 || n > HUB_TOKEN_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)t[i] <= 0x20 || t[i] == 0x7f)
            return false;
    return true;
}

/* The route's token file: a bare token, and/or "SENDERID TOKEN" lines. */
static hub_status read_tokens(hub_config *cfg, size_t route, const char *path, char *err, unsigned ln)
{
    struct stat sb;
    if (stat(path, &sb) != 0)
        return fail(err, "line %u: %s: %s", ln, path, strerror(errno));
    if (sb.st_mode & 077)
        return fail(err, "line %u: %s: readable by others (chmod 600)", ln, path);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return fail(err, "line %u: %s: %s", ln, path, strerror(errno));
    hub_route *r = &cfg->routes[route];
    char line[512];
    unsigned k = 0;
    size_t found = 0;
    hub_status st = HUB_OK;
    while (st == HUB_OK && fgets(line, sizeof(line), f) != NULL) {
        k++;
        char *l = net_config_trim(line);
        if (*l == '\0' || *l == '#')
            continue;
        char *sp = l + strcspn(l, " \t");
        if (*sp == '\0') {
            if (r->token[0] != '\0' || !token_ok(l))
                st = fail(err, "line %u: %s line %u: one bare token at most, 1..%d printable characters", ln, path,
                          k, HUB_TOKEN_MAX);
            else
                strcpy(r->token, l);
            found++;
            continue;
        }
        *sp = '\0';
        char *tok = net_config_trim(sp + 1);
        bi_id sender;
        unsigned bits;
        if (cfg->n_creds == HUB_CREDS_MAX)
            st = fail(err, "line %u: more than %d per-sender tokens", ln, HUB_CREDS_MAX);
        else if (!parse_id(l, &sender, &bits) || (sender.kind == BI_ID_EUI && bits != 64) || !token_ok(tok))
            st = fail(err, "line %u: %s line %u: expected SENDERID TOKEN", ln, path, k);
        else {
            hub_cred *c = &cfg->creds[cfg->n_creds++];
            c->route = route;
            c->sender = sender;
            strcpy(c->token, tok);
            found++;
        }
    }
    fclose(f);
    lw_secure_wipe(line, sizeof(line));
    if (st == HUB_OK && found == 0)
        st = fail(err, "line %u: %s holds no token", ln, path);
    return st;
}

static hub_status parse_route(hub_config *cfg, char *v, const char *dir, char *err, unsigned ln)
{
    if (cfg->n_routes == HUB_ROUTES_MAX)
        return fail(err, "line %u: more than %d routes", ln, HUB_ROUTES_MAX);
    hub_route *r = &cfg->routes[cfg->n_routes];
    memset(r, 0, sizeof(*r));
    char *save = NULL;
    char *rcv = strtok_r(v, " \t", &save);
    char *url = strtok_r(NULL, " \t", &save);
    char *tok = strtok_r(NULL, " \t", &save);
    if (rcv == NULL || url == NULL || strtok_r(NULL, " \t", &save) != NULL)
        return fail(err, "line %u: route = RECEIVER URL [TOKEN_FILE]", ln);
    bi_id id;
    unsigned bits;
    if (!parse_id(rcv, &id, &bits))
        return fail(err, "line %u: route receiver: a NetID, JoinEUI[/BITS] or AS-ID", ln);
    r->kind = id.kind;
    r->prefix = id.value;
    r->bits = bits;
    snprintf(r->name, sizeof(r->name), "%s", id.raw);
    if (r->kind == BI_ID_EUI && r->bits < 64 && r->bits > 0)
        r->prefix &= ~0ULL << (64 - r->bits);
    if (r->kind == BI_ID_EUI && r->bits == 0)
        r->prefix = 0;
    for (size_t i = 0; i < cfg->n_routes; i++) {
        const hub_route *o = &cfg->routes[i];
        if (o->kind == r->kind && o->bits == r->bits &&
            (r->kind == BI_ID_NAME ? strcmp(o->name, r->name) == 0 : o->prefix == r->prefix))
            return fail(err, "line %u: a route for %s exists already", ln, rcv);
    }
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
        return fail(err, "line %u: route URL must be http:// or https://", ln);
    if (strlen(url) >= sizeof(r->url))
        return fail(err, "line %u: route URL longer than %d characters", ln, HUB_URL_MAX - 1);
    strcpy(r->url, url);
    if (tok != NULL) {
        char path[HUB_PATH_MAX];
        if (!resolve(dir, tok, path, sizeof(path)))
            return fail(err, "line %u: token file path too long", ln);
        hub_status st = read_tokens(cfg, cfg->n_routes, path, err, ln);
        if (st != HUB_OK)
            return st;
    }
    cfg->n_routes++;
    return HUB_OK;
}

static hub_status set_path(char *dst, const char *dir, const char *v, const char *key, char *err, unsigned ln)
{
    if (!resolve(dir, v, dst, HUB_PATH_MAX))
        return fail(err, "line %u: %s: path too long", ln, key);
    FILE *f = fopen(dst, "r");
    if (f == NULL)
        return fail(err, "line %u: %s: cannot read %s: %s", ln, key, dst, strerror(errno));
    fclose(f);
    return HUB_OK;
}

static hub_status set_key(hub_config *cfg, const char *k, char *v, const char *dir, char *err, unsigned ln)
{
    char *end;
    if (strcmp(k, "listen") == 0) {
        if (strlen(v) >= sizeof(cfg->listen) || strrchr(v, ':') == NULL)
            return fail(err, "line %u: listen: ADDR:PORT", ln);
        strcpy(cfg->listen, v);
    } else if (strcmp(k, "threads") == 0) {
        unsigned long x = strtoul(v, &end, 10);
        if (*v == '\0' || *end != '\0' || x < 2 || x > 64)
            return fail(err, "line %u: threads: 2..64 (a forwarded request holds its thread until the answer)", ln);
        cfg->threads = (unsigned)x;
    } else if (strcmp(k, "timeout_ms") == 0) {
        unsigned long x = strtoul(v, &end, 10);
        if (*v == '\0' || *end != '\0' || x < 100 || x > 60000)
            return fail(err, "line %u: timeout_ms: 100..60000", ln);
        cfg->timeout_ms = (unsigned)x;
    } else if (strcmp(k, "tls_cert") == 0) {
        return set_path(cfg->tls_cert, dir, v, k, err, ln);
    } else if (strcmp(k, "tls_key") == 0) {
        return set_path(cfg->tls_key, dir, v, k, err, ln);
    } else if (strcmp(k, "ca_file") == 0) {
        return set_path(cfg->ca_file, dir, v, k, err, ln);
    } else if (strcmp(k, "client_cert") == 0) {
        return set_path(cfg->client_cert, dir, v, k, err, ln);
    } else if (strcmp(k, "client_key") == 0) {
        return set_path(cfg->client_key, dir, v, k, err, ln);
    } else if (strcmp(k, "tls_priority") == 0) {
        if (strlen(v) >= sizeof(cfg->tls_priority))
            return fail(err, "line %u: tls_priority too long", ln);
        strcpy(cfg->tls_priority, v);
    } else if (strcmp(k, "tls_priority_below_floor") == 0 || strcmp(k, "tls_crl_required") == 0) {
        bool yes = strcmp(v, "yes") == 0 || strcmp(v, "true") == 0;
        if (!yes && strcmp(v, "no") != 0 && strcmp(v, "false") != 0)
            return fail(err, "line %u: %s: yes or no", ln, k);
        if (k[4] == 'p')
            cfg->tls_priority_below_floor = yes;
        else
            cfg->tls_crl_required = yes;
    } else if (strcmp(k, "member") == 0) {
        return parse_member(cfg, v, dir, err, ln);
    } else if (strcmp(k, "route") == 0) {
        return parse_route(cfg, v, dir, err, ln);
    } else {
        return fail(err, "line %u: unknown key '%s'", ln, k);
    }
    return HUB_OK;
}

static hub_status check(const hub_config *cfg, const char *path, char *err)
{
    if ((cfg->tls_cert[0] == '\0') != (cfg->tls_key[0] == '\0'))
        return fail(err, "%s: tls_cert and tls_key go together", path);
    if ((cfg->client_cert[0] == '\0') != (cfg->client_key[0] == '\0'))
        return fail(err, "%s: client_cert and client_key go together", path);
    if (cfg->n_members == 0)
        return fail(err, "%s: no member: nobody could send through this hub", path);
    if (cfg->n_routes == 0)
        return fail(err, "%s: no route: the hub could deliver nothing", path);
    return HUB_OK;
}

/* The state of one read of the hub's configuration, for net_config_read. */
typedef struct hub_reader {
    hub_config *cfg;
    const char *dir;
    hub_status st;
    char err[HUB_ERR_MAX];
} hub_reader;

static bool hub_config_key(void *user, const char *key, const char *value, unsigned line, char err[NET_ERR_MAX])
{
    hub_reader *rd = user;
    char v[NET_CONFIG_LINE_MAX + 1]; /* members and routes are split in place */
    snprintf(v, sizeof(v), "%s", value);
    rd->st = set_key(rd->cfg, key, v, rd->dir, rd->err, line);
    lw_secure_wipe(v, sizeof(v));
    if (rd->st != HUB_OK)
        snprintf(err, NET_ERR_MAX, "%.255s", rd->err);
    return rd->st == HUB_OK;
}

hub_status hub_config_load(const char *path, hub_config *cfg, char err[HUB_ERR_MAX])
{
    if (path == NULL || cfg == NULL || err == NULL)
        return HUB_ERR_ARGUMENT;
    memset(cfg, 0, sizeof(*cfg));
    err[0] = '\0';
    strcpy(cfg->listen, "127.0.0.1:4800");
    cfg->threads = 8;
    cfg->timeout_ms = 4000;
    char dir[HUB_PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash != NULL)
        *slash = '\0';
    else
        dir[0] = '\0';
    hub_reader rd = {.cfg = cfg, .dir = dir};
    char nerr[NET_ERR_MAX];
    hub_status st = HUB_OK;
    if (net_config_read(path, hub_config_key, &rd, nerr) != NET_OK)
        st = rd.st != HUB_OK ? rd.st : fail(err, "%s", nerr);
    if (rd.st != HUB_OK)
        snprintf(err, HUB_ERR_MAX, "%s", rd.err);
    if (st == HUB_OK)
        st = check(cfg, path, err);
    if (st != HUB_OK)
        hub_config_wipe(cfg);
    return st;
}

void hub_config_wipe(hub_config *cfg)
{
    if (cfg != NULL)
        lw_secure_wipe(cfg, sizeof(*cfg));
}

/*
 * lab_ns_config.c - the lab network server's configuration file.
 *
 * Plain `key = value` lines and `#` comments, as ferry.conf; unknown keys
 * are errors so that a misspelt setting is never ignored. `route` may be
 * given many times: `route = PREFIX/BITS URL TOKEN_FILE`. Passive roaming:
 * `roaming_hub = URL TOKEN_FILE`, `bi_token_file`, `roaming_lifetime`.
 * `state_file`: sessions kept across restarts (lab_ns_state.c).
 */
#include "lab/lab_ns.h"
#include "lab/lab_bi.h"
#include "lorawan/lw_secure.h"
#include "net/net_config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
static void resolve(const char *dir, const char *name, char *out, size_t cap)
{
    if (name[0] == '/' || dir[0] == 0)
        snprintf(out, cap, "%s", name);
    else
        snprintf(out, cap, "%s/%s", dir, name);
}

/* Reads the first line of a small secret file into out[cap] (trimmed). The
 * file must not be readable by group or others. */
static lab_status read_secret(const char *path, char *out, size_t cap, char *err, size_t ecap)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return fail(err, ecap, "%s: %s", path, strerror(errno));
    if (st.st_mode & 077)
        return fail(err, ecap, "%s: readable by others (chmod 600)", path);
    char nerr[NET_ERR_MAX];
    if (net_config_read_secret(path, out, cap, nerr) != NET_OK)
        return fail(err, ecap, "%s", nerr);
    return LAB_OK;
}

static lab_status parse_route(lab_ns_config *cfg, char *v, const char *dir, char *err, size_t cap, unsigned ln)
{
    if (cfg->n_routes == LAB_NS_ROUTES_MAX)
        return fail(err, cap, "line %u: more than %d routes", ln, LAB_NS_ROUTES_MAX);
    lab_ns_route *r = &cfg->routes[cfg->n_routes];
    char *save = NULL;
    char *pfx = strtok_r(v, " \t", &save);
    char *url = strtok_r(NULL, " \t", &save);
    char *tok = strtok_r(NULL, " \t", &save);
    if (pfx == NULL || url == NULL || tok == NULL || strtok_r(NULL, " \t", &save) != NULL)
        return fail(err, cap, "line %u: route = JOINEUI/BITS URL TOKEN_FILE", ln);
    char *slash = strchr(pfx, '/');
    unsigned bits = 64;
    if (slash != NULL) {
        char *end;
        unsigned long b = strtoul(slash + 1, &end, 10);
        if (*end || end == slash + 1 || b > 64)
            return fail(err, cap, "line %u: route prefix length must be 0..64", ln);
        bits = (unsigned)b;
        *slash = 0;
    }
    if (lab_hex_uint(pfx, strlen(pfx), 16, &r->prefix) != LAB_OK)
        return fail(err, cap, "line %u: route JoinEUI: expected 16 hex digits", ln);
    r->bits = bits;
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
        return fail(err, cap, "line %u: route URL must be http:// or https://", ln);
    if (strlen(url) >= sizeof(r->url))
        return fail(err, cap, "line %u: route URL too long", ln);
    strcpy(r->url, url);
    char path[512];
    resolve(dir, tok, path, sizeof(path));
    lab_status st = read_secret(path, r->token, sizeof(r->token), err, cap);
    if (st == LAB_OK)
        cfg->n_routes++;
    return st;
}

/* roaming_hub = URL TOKEN_FILE: where roaming messages go, with that bearer. */
static lab_status parse_roaming_hub(lab_ns_config *cfg, char *v, const char *dir, char *err, size_t cap, unsigned ln)
{
    char *save = NULL;
    char *url = strtok_r(v, " \t", &save);
    char *tok = strtok_r(NULL, " \t", &save);
    if (url == NULL || tok == NULL || strtok_r(NULL, " \t", &save) != NULL)
        return fail(err, cap, "line %u: roaming_hub = URL TOKEN_FILE", ln);
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
        return fail(err, cap, "line %u: roaming_hub URL must be http:// or https://", ln);
    if (strlen(url) >= sizeof(cfg->roaming_hub_url))
        return fail(err, cap, "line %u: roaming_hub URL too long", ln);
    strcpy(cfg->roaming_hub_url, url);
    char path[512];
    resolve(dir, tok, path, sizeof(path));
    return read_secret(path, cfg->roaming_hub_token, sizeof(cfg->roaming_hub_token), err, cap);
}

static lab_status parse_kek(lab_ns_config *cfg, const char *path, char *err, size_t cap)
{
    char hex[100];
    uint8_t key[LW_KEY_MAX];
    lab_status st = read_secret(path, hex, sizeof(hex), err, cap);
    size_t n = strlen(hex);
    if (st == LAB_OK && ((n != 32 && n != 48 && n != 64) || lw_hex_decode(hex, n, key, n / 2) != LW_OK ||
                         lw_key_from_bytes(&cfg->kek, key, n / 2) != LW_OK))
        st = fail(err, cap, "%s: expected 32, 48 or 64 hex digits", path);
    lw_secure_wipe(hex, sizeof(hex));
    lw_secure_wipe(key, sizeof(key));
    return st;
}

static lab_status set_key(lab_ns_config *cfg, const char *k, char *v, const char *dir, char *err, size_t cap,
                          unsigned ln)
{
    uint64_t u;
    char path[512];
    char *end;
    if (strcmp(k, "net_id") == 0) {
        if (lab_hex_uint(v, strlen(v), 6, &u) != LAB_OK)
            return fail(err, cap, "line %u: net_id: expected 6 hex digits", ln);
        cfg->net_id = (uint32_t)u;
    } else if (strcmp(k, "nsid") == 0) {
        if (lab_hex_uint(v, strlen(v), 16, &cfg->nsid) != LAB_OK)
            return fail(err, cap, "line %u: nsid: expected 16 hex digits", ln);
    } else if (strcmp(k, "bi_version") == 0) {
        if (strcmp(v, "1.0") == 0)
            cfg->bi_version = BI_VERSION_1_0;
        else if (strcmp(v, "1.1") == 0)
            cfg->bi_version = BI_VERSION_1_1;
        else
            return fail(err, cap, "line %u: bi_version: 1.0 or 1.1", ln);
    } else if (strcmp(k, "mac_version") == 0) {
        if (bi_mac_version_parse(v, strlen(v), &cfg->mac_version) != BI_OK)
            return fail(err, cap, "line %u: mac_version: 1.0.0 .. 1.0.4 or 1.1", ln);
    } else if (strcmp(k, "kek_label") == 0) {
        if (strlen(v) == 0 || strlen(v) > BI_KEK_LABEL_MAX)
            return fail(err, cap, "line %u: kek_label: 1..%d characters", ln, BI_KEK_LABEL_MAX);
        strcpy(cfg->kek_label, v);
    } else if (strcmp(k, "kek_file") == 0) {
        resolve(dir, v, path, sizeof(path));
        return parse_kek(cfg, path, err, cap);
    } else if (strcmp(k, "route") == 0) {
        return parse_route(cfg, v, dir, err, cap, ln);
    } else if (strcmp(k, "late_ms") == 0) {
        unsigned long x = strtoul(v, &end, 10);
        if (*v == 0 || *end || x > 600000)
            return fail(err, cap, "line %u: late_ms: a number up to 600000", ln);
        cfg->late_ms = (uint32_t)x;
    } else if (strcmp(k, "dedup_ms") == 0 || strcmp(k, "rx_delay") == 0 || strcmp(k, "tx_power") == 0) {
        unsigned long x = strtoul(v, &end, 10);
        unsigned long max = k[0] == 'd' ? 5000 : k[0] == 'r' ? 15 : 30;
        if (*v == 0 || *end || x > max || (k[0] == 'r' && x == 0))
            return fail(err, cap, "line %u: %s: a number up to %lu", ln, k, max);
        if (k[0] == 'd')
            cfg->dedup_ms = (uint32_t)x;
        else if (k[0] == 'r')
            cfg->rx_delay = (uint8_t)x;
        else
            cfg->tx_power = (int)x;
    } else if (strcmp(k, "clock") == 0) {
        if (lab_clock_parse(v, &cfg->clock) != LAB_OK)
            return fail(err, cap, "line %u: clock: wall or simulated", ln);
    } else if (strcmp(k, "udp_listen") == 0 || strcmp(k, "http_listen") == 0) {
        char *dst = k[0] == 'u' ? cfg->udp_listen : cfg->http_listen;
        if (strlen(v) >= sizeof(cfg->udp_listen) || strrchr(v, ':') == NULL)
            return fail(err, cap, "line %u: %s: ADDR:PORT", ln, k);
        strcpy(dst, v);
    } else if (strcmp(k, "as_url") == 0) {
        if (strlen(v) >= sizeof(cfg->as_url) || (strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0))
            return fail(err, cap, "line %u: as_url: an http:// or https:// URL", ln);
        strcpy(cfg->as_url, v);
    } else if (strcmp(k, "ca_file") == 0) {
        resolve(dir, v, path, sizeof(path));
        FILE *f = strlen(path) < sizeof(cfg->ca_file) ? fopen(path, "r") : NULL;
        if (f == NULL)
            return fail(err, cap, "line %u: ca_file: cannot read %s", ln, path);
        fclose(f);
        strcpy(cfg->ca_file, path);
    } else if (strcmp(k, "as_token_file") == 0) {
        resolve(dir, v, path, sizeof(path));
        return read_secret(path, cfg->as_token, sizeof(cfg->as_token), err, cap);
    } else if (strcmp(k, "downlink_token_file") == 0) {
        resolve(dir, v, path, sizeof(path));
        return read_secret(path, cfg->downlink_token, sizeof(cfg->downlink_token), err, cap);
    } else if (strcmp(k, "roaming_hub") == 0) {
        return parse_roaming_hub(cfg, v, dir, err, cap, ln);
    } else if (strcmp(k, "bi_token_file") == 0) {
        resolve(dir, v, path, sizeof(path));
        return read_secret(path, cfg->bi_token, sizeof(cfg->bi_token), err, cap);
    } else if (strcmp(k, "roaming_lifetime") == 0) {
        unsigned long x = strtoul(v, &end, 10);
        if (*v == 0 || *end || x == 0 || x > 604800)
            return fail(err, cap, "line %u: roaming_lifetime: seconds, 1 to 604800 (0, stateless roaming, is not "
                                  "supported)", ln);
        cfg->roaming_lifetime = (uint32_t)x;
    } else if (strcmp(k, "state_file") == 0) {
        resolve(dir, v, path, sizeof(path));
        if (strlen(path) + 8 >= sizeof(cfg->state_file))
            return fail(err, cap, "line %u: state_file: a path shorter than %zu characters", ln,
                        sizeof(cfg->state_file) - 8);
        strcpy(cfg->state_file, path);
    } else {
        return fail(err, cap, "line %u: unknown key '%s'", ln, k);
    }
    return LAB_OK;
}

/* The state of one read of the NS's configuration, for net_config_read;
 * set_key's sentence goes straight to the caller's err[cap]. */
typedef struct lab_ns_reader {
    lab_ns_config *cfg;
    const char *dir;
    char *err;
    size_t cap;
    lab_status st;
    bool has_net_id;
    bool has_dedup;
} lab_ns_reader;

static bool lab_ns_config_key(void *user, const char *key, const char *value, unsigned line, char err[NET_ERR_MAX])
{
    lab_ns_reader *rd = user;
    char v[NET_CONFIG_LINE_MAX + 1]; /* routes are split in place */
    snprintf(v, sizeof(v), "%s", value);
    rd->has_net_id |= strcmp(key, "net_id") == 0;
    rd->has_dedup |= strcmp(key, "dedup_ms") == 0;
    rd->st = set_key(rd->cfg, key, v, rd->dir, rd->err, rd->cap, line);
    lw_secure_wipe(v, sizeof(v));
    if (rd->st != LAB_OK)
        snprintf(err, NET_ERR_MAX, "%.255s", rd->err);
    return rd->st == LAB_OK;
}

lab_status lab_ns_config_load(const char *path, lab_ns_config *cfg, char *err, size_t cap)
{
    if (path == NULL || cfg == NULL || err == NULL || cap == 0)
        return LAB_ERR_ARGUMENT;
    memset(cfg, 0, sizeof(*cfg));
    err[0] = 0;
    cfg->bi_version = BI_VERSION_1_1;
    cfg->mac_version = BI_MAC_1_1;
    cfg->dedup_ms = 200;
    cfg->late_ms = 2000;
    cfg->rx_delay = 1;
    cfg->tx_power = 14;
    cfg->roaming_lifetime = 3600;
    strcpy(cfg->udp_listen, "127.0.0.1:1700");
    strcpy(cfg->http_listen, "127.0.0.1:8090");
    char dir[512];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash != NULL)
        *slash = 0;
    else
        dir[0] = 0;
    lab_ns_reader rd = {.cfg = cfg, .dir = dir, .err = err, .cap = cap};
    char nerr[NET_ERR_MAX];
    lab_status st = LAB_OK;
    if (net_config_read(path, lab_ns_config_key, &rd, nerr) != NET_OK)
        st = rd.st != LAB_OK ? rd.st : fail(err, cap, "%s", nerr);
    bool has_net_id = rd.has_net_id;
    if (st == LAB_OK && !has_net_id)
        st = fail(err, cap, "%s: net_id is required", path);
    if (st == LAB_OK && (cfg->kek.length == 0 || cfg->kek_label[0] == 0))
        st = fail(err, cap, "%s: kek_label and kek_file are required (the NS unwraps its session keys)", path);
    /* Under the simulated clock every copy of an uplink arrives at once
     * (docs/lab-ns.md, "Simulated time"): a short window is enough. */
    if (st == LAB_OK && cfg->clock == LAB_CLOCK_SIMULATED && !rd.has_dedup)
        cfg->dedup_ms = LAB_NS_SIM_DEDUP_MS;
    if (st == LAB_OK && cfg->nsid == 0)
        cfg->nsid = cfg->net_id; /* a NetID is a valid NSID as EUI-64 0000000000NNNNNN */
    if (st != LAB_OK) {
        lab_ns_config_wipe(cfg);
        return st;
    }
    return LAB_OK;
}

void lab_ns_config_wipe(lab_ns_config *cfg)
{
    if (cfg != NULL)
        lw_secure_wipe(cfg, sizeof(*cfg));
}

const lab_ns_route *lab_ns_route_find(const lab_ns_config *cfg, uint64_t join_eui)
{
    const lab_ns_route *best = NULL;
    for (size_t i = 0; i < cfg->n_routes; i++) {
        const lab_ns_route *r = &cfg->routes[i];
        uint64_t mask = r->bits == 0 ? 0 : ~0ULL << (64 - r->bits);
        if ((join_eui & mask) == (r->prefix & mask) && (best == NULL || r->bits > best->bits))
            best = r;
    }
    return best;
}

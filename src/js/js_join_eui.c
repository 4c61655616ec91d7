/*
 * js_join_eui.c - the JoinEUIs a Join Server serves. A deployment serves
 * prefixes ("70B3D57ED0000000/40": every JoinEUI whose top 40 bits are
 * those), as an operator's Join Server answers for a block of JoinEUIs, not
 * for one: `join_eui` lines of ferry.conf, one range each. The ReceiverID of
 * every request (JoinReq, RejoinReq, AppSKeyReq, HomeNSReq) and the JoinEUI
 * of every imported device must fall in one of them.
 *
 * A running server takes a changed list at SIGHUP (or POST
 * /api/v1/tls/reload) with the TLS material: `ferry joineui add|remove`
 * rewrites ferry.conf atomically and says so.
 */
#include "js/js_internal.h"
#include "lorawan/lw_secure.h"
#include "net/net_config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t mask_of(unsigned bits)
{
    return bits >= 64 ? UINT64_MAX : bits == 0 ? 0 : ~(UINT64_MAX >> bits);
}

js_status js_join_eui_range_parse(const char *text, js_join_eui_range *out, char err[JS_ERR_MAX])
{
    const char *slash = strchr(text, '/');
    size_t hex_len = slash != NULL ? (size_t)(slash - text) : strlen(text);
    const char *h = text;
    if (hex_len > 2 && h[0] == '0' && (h[1] == 'x' || h[1] == 'X'))
        h += 2, hex_len -= 2;
    uint8_t b[8];
    if (hex_len != 16 || lw_hex_decode(h, hex_len, b, sizeof b) != LW_OK) {
        js_errf(err, "JoinEUI range \"%.40s\": expected 16 hex digits, optionally /BITS (1..64)", text);
        return JS_ERR_ARGUMENT;
    }
    uint64_t eui = 0;
    for (int i = 0; i < 8; i++)
        eui = eui << 8 | b[i];
    unsigned long bits = 64;
    if (slash != NULL) {
        char *end = NULL;
        errno = 0;
        bits = strtoul(slash + 1, &end, 10);
        if (slash[1] == '\0' || !isdigit((unsigned char)slash[1]) || *end != '\0' || errno != 0 || bits < 1 ||
            bits > 64) {
            js_errf(err, "JoinEUI range \"%.40s\": /BITS must be 1..64", text);
            return JS_ERR_ARGUMENT;
        }
    }
    if ((eui & ~mask_of((unsigned)bits)) != 0) {
        js_errf(err, "JoinEUI range \"%.40s\": bits are set past the first %lu (a prefix ends in zeros)", text, bits);
        return JS_ERR_ARGUMENT;
    }
    out->prefix = eui;
    out->bits = (unsigned)bits;
    return JS_OK;
}

void js_join_eui_range_text(const js_join_eui_range *r, char out[JS_JOIN_EUI_TEXT_MAX])
{
    if (r->bits == 64)
        snprintf(out, JS_JOIN_EUI_TEXT_MAX, "%016llX", (unsigned long long)r->prefix);
    else
        snprintf(out, JS_JOIN_EUI_TEXT_MAX, "%016llX/%u", (unsigned long long)r->prefix, r->bits);
}

bool js_join_eui_ranges_match(const js_join_eui_range *r, size_t n, uint64_t eui)
{
    for (size_t i = 0; i < n; i++)
        if ((eui & mask_of(r[i].bits)) == r[i].prefix)
            return true;
    return false;
}

js_status js_config_add_join_eui(js_config *cfg, const char *text, char err[JS_ERR_MAX])
{
    js_join_eui_range r;
    js_status st = js_join_eui_range_parse(text, &r, err);
    if (st != JS_OK)
        return st;
    for (size_t i = 0; i < cfg->n_join_euis; i++) {
        if (cfg->join_euis[i].prefix == r.prefix && cfg->join_euis[i].bits == r.bits) {
            js_errf(err, "JoinEUI range %.40s is there already", text);
            return JS_ERR_EXISTS;
        }
    }
    if (cfg->n_join_euis == JS_JOIN_EUIS_MAX) {
        js_errf(err, "at most %d JoinEUI ranges", JS_JOIN_EUIS_MAX);
        return JS_ERR_ARGUMENT;
    }
    cfg->join_euis[cfg->n_join_euis++] = r;
    return JS_OK;
}

bool js_serves_join_eui(js_ctx *ctx, uint64_t eui)
{
    pthread_rwlock_rdlock(&ctx->join_eui_lock);
    bool ok = js_join_eui_ranges_match(ctx->cfg->join_euis, ctx->cfg->n_join_euis, eui);
    pthread_rwlock_unlock(&ctx->join_eui_lock);
    return ok;
}

void js_join_eui_list_text(js_ctx *ctx, char *out, size_t cap)
{
    size_t len = 0;
    out[0] = '\0';
    pthread_rwlock_rdlock(&ctx->join_eui_lock);
    for (size_t i = 0; i < ctx->cfg->n_join_euis && len + JS_JOIN_EUI_TEXT_MAX + 2 < cap; i++) {
        char t[JS_JOIN_EUI_TEXT_MAX];
        js_join_eui_range_text(&ctx->cfg->join_euis[i], t);
        len += (size_t)snprintf(out + len, cap - len, "%s%s", i ? ", " : "", t);
    }
    pthread_rwlock_unlock(&ctx->join_eui_lock);
}

js_status js_join_eui_reload(js_ctx *ctx, char err[JS_ERR_MAX])
{
    js_config *fresh = calloc(1, sizeof *fresh);
    if (fresh == NULL)
        return JS_ERR_NOMEM;
    js_status st = js_config_load(ctx->cfg->dir, fresh, err);
    if (st == JS_OK) {
        pthread_rwlock_wrlock(&ctx->join_eui_lock);
        memcpy(ctx->cfg->join_euis, fresh->join_euis, sizeof fresh->join_euis);
        ctx->cfg->n_join_euis = fresh->n_join_euis;
        pthread_rwlock_unlock(&ctx->join_eui_lock);
    }
    lw_secure_wipe(fresh, sizeof *fresh);
    free(fresh);
    return st;
}

/* ---- ferry joineui add|remove: ferry.conf rewritten ---- */

#define CONF_MAX (256 * 1024)

static bool is_join_eui_line(const char *line, js_join_eui_range *r)
{
    while (*line == ' ' || *line == '\t')
        line++;
    if (strncmp(line, "join_eui", 8) != 0)
        return false;
    const char *p = line + 8;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p != '=')
        return false;
    p++;
    while (*p == ' ' || *p == '\t')
        p++;
    char v[64];
    size_t n = strcspn(p, " \t\r\n");
    if (n >= sizeof v)
        return false;
    memcpy(v, p, n);
    v[n] = '\0';
    char e[JS_ERR_MAX];
    return js_join_eui_range_parse(v, r, e) == JS_OK;
}

js_status js_join_eui_change(const char *dir, bool add, const char *text, char err[JS_ERR_MAX])
{
    err[0] = '\0';
    js_join_eui_range r;
    js_status st = js_join_eui_range_parse(text, &r, err);
    if (st != JS_OK)
        return st;
    js_config *cfg = calloc(1, sizeof *cfg);
    char *out = calloc(1, CONF_MAX + 1);
    if (cfg == NULL || out == NULL) {
        free(cfg);
        free(out);
        return JS_ERR_NOMEM;
    }
    char canon[JS_JOIN_EUI_TEXT_MAX];
    js_join_eui_range_text(&r, canon);
    if ((st = js_config_load(dir, cfg, err)) == JS_OK) {
        bool there = false;
        for (size_t i = 0; i < cfg->n_join_euis; i++)
            there = there || (cfg->join_euis[i].prefix == r.prefix && cfg->join_euis[i].bits == r.bits);
        if (add && there) {
            js_errf(err, "JoinEUI range %s is served already", canon);
            st = JS_ERR_EXISTS;
        } else if (!add && !there) {
            js_errf(err, "JoinEUI range %s is not one of this Join Server's", canon);
            st = JS_ERR_NOT_FOUND;
        } else if (!add && cfg->n_join_euis == 1) {
            js_errf(err, "JoinEUI range %s is the last one: a Join Server serves at least one", canon);
            st = JS_ERR_ARGUMENT;
        } else if (add && cfg->n_join_euis == JS_JOIN_EUIS_MAX) {
            js_errf(err, "at most %d JoinEUI ranges", JS_JOIN_EUIS_MAX);
            st = JS_ERR_ARGUMENT;
        }
    }
    char path[JS_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/%s", cfg->dir, JS_CONF_FILE);
    FILE *f = st == JS_OK ? fopen(path, "re") : NULL;
    if (st == JS_OK && f == NULL) {
        js_errf(err, "%s: %s", path, strerror(errno));
        st = JS_ERR_IO;
    }
    /* Every line as it was; a removed range's line goes; an added one
     * follows the last join_eui line, so the file still reads in order. */
    size_t len = 0;
    long last_eui_end = -1;
    char line[4096];
    while (st == JS_OK && fgets(line, sizeof line, f) != NULL) {
        js_join_eui_range lr;
        bool eui_line = is_join_eui_line(line, &lr);
        if (!add && eui_line && lr.prefix == r.prefix && lr.bits == r.bits)
            continue;
        int w = snprintf(out + len, CONF_MAX + 1 - len, "%s%s", line, strchr(line, '\n') ? "" : "\n");
        if (w < 0 || (size_t)w >= CONF_MAX + 1 - len) {
            js_errf(err, "%s: larger than %d bytes", path, CONF_MAX);
            st = JS_ERR_CONFIG;
            break;
        }
        len += (size_t)w;
        if (eui_line)
            last_eui_end = (long)len;
    }
    if (f != NULL)
        fclose(f);
    if (st == JS_OK && add) {
        char ins[JS_JOIN_EUI_TEXT_MAX + 16];
        int w = snprintf(ins, sizeof ins, "join_eui = %s\n", canon);
        size_t at = last_eui_end < 0 ? len : (size_t)last_eui_end;
        if (len + (size_t)w > CONF_MAX) {
            js_errf(err, "%s: larger than %d bytes", path, CONF_MAX);
            st = JS_ERR_CONFIG;
        } else {
            memmove(out + at + w, out + at, len - at);
            memcpy(out + at, ins, (size_t)w);
            len += (size_t)w;
        }
    }
    /* A reader sees the old list or the new one, never half a file. */
    char nerr[NET_ERR_MAX];
    if (st == JS_OK && net_config_replace(path, out, len, NULL, NULL, nerr) != NET_OK) {
        js_errf(err, "%s", nerr);
        st = JS_ERR_IO;
    }
    free(out);
    lw_secure_wipe(cfg, sizeof *cfg);
    free(cfg);
    return st;
}

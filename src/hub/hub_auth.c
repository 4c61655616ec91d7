/*
 * hub_auth.c - is the sender the member it claims to be?
 *
 * The same two credentials as ferry's Join Server (docs/join-server.md,
 * "Authentication"), for the same reasons:
 *
 *  - a bearer token, kept as its SHA-256 and compared in constant time;
 *  - a client certificate chain verified against THAT member's CA alone
 *    (one trust store for all members would let a certificate from member
 *    A's CA claim B in its name), with the TLS-client key purpose and the
 *    validity dates checked, whose identity is the member's ID: a DNS or URI
 *    subjectAltName equal to it if the certificate has such names, else its
 *    one CN. NetIDs and EUIs compare by value ("00001a" = "00001A"), AS-IDs
 *    exactly. A JoinEUI-prefix member's certificate names its prefix as
 *    configured (e.g. "70B3D57E00000000/32") or, for /64, the JoinEUI.
 *
 * The TLS handshake proved possession of the key; the server layer hands
 * over the chain as sent and net_cert_chain_authenticates (src/net) checks
 * it with the rule below.
 */
#include "hub/hub.h"
#include "lorawan/lw_secure.h"
#include "net/net_cert.h"
#include "net/net_token.h"

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The text a certificate must carry for member m. */
static void member_name(const hub_member *m, char out[BI_ID_MAX + 8])
{
    if (m->id.kind == BI_ID_EUI && m->bits != 64)
        snprintf(out, BI_ID_MAX + 8, "%s/%u", m->id.raw, m->bits);
    else
        snprintf(out, BI_ID_MAX + 8, "%s", m->id.raw);
}

static bool name_is(const char *name, size_t len, const hub_member *m)
{
    if (len == 0 || len > BI_ID_MAX || strlen(name) != len) /* an embedded NUL is no match */
        return false;
    char want[BI_ID_MAX + 8];
    member_name(m, want);
    if (m->id.kind == BI_ID_NAME)
        return strcmp(name, want) == 0;
    if (m->id.kind == BI_ID_EUI && m->bits != 64)
        return strcasecmp(name, want) == 0;
    /* a NetID or a JoinEUI: by value, any case, optional 0x */
    const char *hex = name;
    if (len > 2 && hex[0] == '0' && (hex[1] == 'x' || hex[1] == 'X'))
        hex += 2;
    return strcasecmp(hex, want) == 0;
}

/* The rule for the server layer's certificate check (net_cert.h). */
static bool names_member(const char *name, size_t len, const void *m)
{
    return name_is(name, len, m);
}

/* A chain that does not authenticate the member is logged with why
 * (revoked, expired, ...); it is counted with the message's outcome
 * (unknown_sender) in the hub's metrics. */
static bool chain_authenticates(gnutls_x509_trust_list_t tl, const hub_auth *auth, const hub_member *m)
{
    if (auth->tls_chain_len == 0)
        return false;
    net_cert_verdict v = net_cert_chain_check(tl, auth->tls_chain, auth->tls_chain_len, names_member, m);
    if (v != NET_CERT_OK) {
        char detail[160];
        snprintf(detail, sizeof(detail), "member %.64s: %s", m->id.raw, net_cert_verdict_name(v));
        hub_log("warn", "client certificate refused", NULL, 0, detail);
    }
    return v == NET_CERT_OK;
}

bool hub_member_authenticated(hub_ctx *ctx, const hub_member *m, const hub_auth *auth)
{
    if (ctx == NULL || m == NULL || auth == NULL)
        return false;
    size_t i = (size_t)(m - ctx->cfg->members);
    if (i >= ctx->cfg->n_members)
        return false;
    /* read-locked while used: hub_trust_reload swaps the lists */
    pthread_rwlock_rdlock(&ctx->trust_lock);
    bool by_cert = ctx->trust[i] != NULL && chain_authenticates(ctx->trust[i], auth, m);
    pthread_rwlock_unlock(&ctx->trust_lock);
    if (by_cert)
        return true;
    return m->has_token && net_token_matches(auth->bearer, m->token_sha256);
}

/* Every member's trust list (its CA and CRL) into t[]; on error nothing. */
static hub_status trust_load(const hub_config *cfg, void *t[HUB_MEMBERS_MAX], char err[HUB_ERR_MAX])
{
    memset(t, 0, HUB_MEMBERS_MAX * sizeof(t[0]));
    for (size_t i = 0; i < cfg->n_members; i++) {
        const char *path = cfg->members[i].client_ca;
        if (path[0] == '\0')
            continue;
        char nerr[NET_ERR_MAX];
        gnutls_x509_trust_list_t tl = NULL;
        net_status ns = net_cert_trust_load(path, cfg->members[i].client_crl, cfg->tls_crl_required, &tl, nerr);
        if (ns != NET_OK) {
            snprintf(err, HUB_ERR_MAX, "member %s: %s", cfg->members[i].id.raw, nerr);
            for (size_t k = 0; k < i; k++)
                if (t[k] != NULL)
                    gnutls_x509_trust_list_deinit(t[k], 1);
            memset(t, 0, HUB_MEMBERS_MAX * sizeof(t[0]));
            return ns == NET_ERR_NOMEM ? HUB_ERR_NOMEM : HUB_ERR_TLS;
        }
        t[i] = tl;
    }
    return HUB_OK;
}

hub_status hub_ctx_open(hub_ctx *ctx, const hub_config *cfg, const hub_io *io, char err[HUB_ERR_MAX])
{
    if (ctx == NULL || cfg == NULL || io == NULL || err == NULL)
        return HUB_ERR_ARGUMENT;
    memset(ctx, 0, sizeof(*ctx));
    ctx->cfg = cfg;
    ctx->io = *io;
    pthread_mutex_init(&ctx->metrics.lock, NULL);
    pthread_rwlock_init(&ctx->trust_lock, NULL);
    ctx->metrics_ready = true;
    hub_status st = trust_load(cfg, ctx->trust, err);
    if (st != HUB_OK)
        hub_ctx_close(ctx);
    return st;
}

hub_status hub_trust_reload(hub_ctx *ctx, char err[HUB_ERR_MAX])
{
    void *fresh[HUB_MEMBERS_MAX], *old[HUB_MEMBERS_MAX];
    hub_status st = trust_load(ctx->cfg, fresh, err);
    if (st != HUB_OK)
        return st;
    pthread_rwlock_wrlock(&ctx->trust_lock);
    memcpy(old, ctx->trust, sizeof(old));
    memcpy(ctx->trust, fresh, sizeof(fresh));
    pthread_rwlock_unlock(&ctx->trust_lock);
    for (size_t i = 0; i < HUB_MEMBERS_MAX; i++)
        if (old[i] != NULL)
            gnutls_x509_trust_list_deinit(old[i], 1);
    return HUB_OK;
}

void hub_ctx_close(hub_ctx *ctx)
{
    if (ctx == NULL)
        return;
    for (size_t i = 0; i < HUB_MEMBERS_MAX; i++) {
        if (ctx->trust[i] != NULL)
            gnutls_x509_trust_list_deinit(ctx->trust[i], 1);
        ctx->trust[i] = NULL;
    }
    if (ctx->metrics_ready) {
        pthread_mutex_destroy(&ctx->metrics.lock);
        pthread_rwlock_destroy(&ctx->trust_lock);
    }
    ctx->metrics_ready = false;
}

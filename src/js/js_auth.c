/*
 * js_auth.c - who is asking: bearer tokens and client certificates per peer.
 *
 * A request names its peer in SenderID; it is served only when it proves to
 * be that peer. Two credentials, either of which a peer may have:
 *
 *  - a bearer token, kept as its SHA-256 and compared in constant time;
 *  - a client certificate whose chain verifies against the CA configured for
 *    THAT peer (peer.<ID>.client_ca; tls_client_ca is the fallback for peers
 *    without one) and whose identity is the SenderID.
 *
 * Why the chain is verified here and not in the TLS handshake: the
 * handshake does not know the SenderID yet (it is inside the body), and one
 * trust store for all peers would let a certificate issued by peer A's CA
 * claim to be peer B by putting B in its name. The transport (js_http.c)
 * therefore only asks for a certificate and hands the chain as sent; the
 * server layer's net_cert_chain_authenticates verifies it against the
 * trust list of the claimed peer alone (src/net/net_cert.h).
 *
 * The identity (RFC 6125's rule, applied to peer IDs): if the certificate
 * carries DNS or URI subjectAltNames, one of them must equal the SenderID
 * and the CN is ignored; without such names, its one CN must equal it.
 * Equality is after js_canonical_id (a NetID in either case matches its
 * 6 uppercase hex digits); anything else is compared exactly.
 */
#include "js/js.h"
#include "js/js_internal.h"
#include "net/net_token.h"
#include "net/net_cert.h"

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The rule for the server layer's certificate check (net_cert.h): a name
 * is the sender's after js_canonical_id. */
static bool names_sender(const char *name, size_t len, const void *sender)
{
    if (len > BI_ID_MAX)
        return false;
    char canon[BI_ID_MAX + 1];
    js_canonical_id(name, canon);
    return strcmp(canon, sender) == 0;
}

/* The chain sent authenticates `sender` against tl; a chain that does not
 * is counted and logged with its reason (revoked, expired, ...). No chain
 * at all is no event: the peer may use its token. */
static bool chain_authenticates(js_ctx *ctx, gnutls_x509_trust_list_t tl, const js_auth *auth, const char *sender)
{
    if (auth == NULL || auth->tls_chain_len == 0)
        return false;
    net_cert_verdict v = net_cert_chain_check(tl, auth->tls_chain, auth->tls_chain_len, names_sender, sender);
    if (v != NET_CERT_OK)
        js_metrics_cert_refused(ctx, sender, v);
    return v == NET_CERT_OK;
}

bool js_peer_authenticated(js_ctx *ctx, const char *sender, const js_auth *auth)
{
    const js_config *cfg = ctx->cfg;
    const js_peer *p = js_config_peer(cfg, sender);
    if (p == NULL)
        return !cfg->peer_auth_required;
    size_t i = (size_t)(p - cfg->peers);
    /* read-locked while used: a reload (js_trust_reload) swaps the lists */
    pthread_rwlock_rdlock(&ctx->trust_lock);
    gnutls_x509_trust_list_t tl = ctx->trust != NULL ? ctx->trust[i] : NULL;
    bool by_cert = auth != NULL && tl != NULL && chain_authenticates(ctx, tl, auth, sender);
    pthread_rwlock_unlock(&ctx->trust_lock);
    if (by_cert)
        return true;
    if (auth != NULL && p->has_token && net_token_matches(auth->bearer, p->token_sha256))
        return true;
    /* A peer with a credential must present it; one without (an entry for
     * its nsid only) is like an unknown sender. */
    return !p->has_token && tl == NULL && !cfg->peer_auth_required;
}

/* ---------------------------------------------------------------- operators */

/* The trust list of op's CA bundle: cached per worker while the bundle's
 * SHA-256 in the row is unchanged (a bundle replaced by remove + add is
 * noticed at the next request), else parsed from the PEM in the database. */
static gnutls_x509_trust_list_t operator_trust(js_worker *w, const store_operator *op)
{
    w->clock++;
    js_op_trust *victim = &w->op_trust[0];
    for (size_t i = 0; i < JS_OP_TRUST_CACHE; i++) {
        js_op_trust *e = &w->op_trust[i];
        if (e->tl != NULL && e->net_id == op->net_id) {
            if (lw_secure_equal(e->ca_sha256, op->client_ca_sha256, JS_HASH_LEN) == 1) {
                e->used = w->clock;
                return e->tl;
            }
            victim = e;
            break;
        }
        if (e->tl == NULL || e->used < victim->used)
            victim = e;
    }
    if (victim->tl != NULL)
        gnutls_x509_trust_list_deinit(victim->tl, 1);
    memset(victim, 0, sizeof(*victim));
    char *pem = malloc(JS_OPERATOR_CA_MAX + 1);
    size_t len = 0;
    gnutls_x509_trust_list_t tl = NULL;
    if (pem != NULL && store_operator_client_ca(w->db, op->net_id, pem, JS_OPERATOR_CA_MAX + 1, &len) == STORE_OK &&
        len > 0 && gnutls_x509_trust_list_init(&tl, 0) == GNUTLS_E_SUCCESS) {
        gnutls_datum_t d = {(unsigned char *)pem, (unsigned)len};
        if (gnutls_x509_trust_list_add_trust_mem(tl, &d, NULL, GNUTLS_X509_FMT_PEM, 0, 0) <= 0) {
            gnutls_x509_trust_list_deinit(tl, 1);
            tl = NULL;
        }
    }
    free(pem);
    if (tl == NULL)
        return NULL;
    victim->net_id = op->net_id;
    memcpy(victim->ca_sha256, op->client_ca_sha256, JS_HASH_LEN);
    victim->tl = tl;
    victim->used = w->clock;
    return tl;
}

bool js_operator_authenticated(js_worker *w, const store_operator *op, const char *sender, const bi_header *h,
                               const js_auth *auth)
{
    bool ok = false;
    if (auth != NULL && op->has_token && net_token_matches(auth->bearer, op->token_sha256))
        ok = true;
    if (!ok && auth != NULL && op->has_client_ca && auth->tls_chain_len > 0) {
        gnutls_x509_trust_list_t tl = operator_trust(w, op);
        ok = tl != NULL && chain_authenticates(w->ctx, tl, auth, sender);
    }
    if (!ok && !op->has_token && !op->has_client_ca)
        ok = !w->ctx->cfg->peer_auth_required;
    /* BI 1.1: the NS-ID it sends must be the one it was onboarded with */
    if (ok && h->version == BI_VERSION_1_1 && op->has_nsid && (!h->has_sender_nsid || h->sender_nsid != op->nsid))
        ok = false;
    return ok;
}

void js_op_trust_release(js_worker *w)
{
    for (size_t i = 0; i < JS_OP_TRUST_CACHE; i++) {
        if (w->op_trust[i].tl != NULL)
            gnutls_x509_trust_list_deinit(w->op_trust[i].tl, 1);
        memset(&w->op_trust[i], 0, sizeof(w->op_trust[i]));
    }
}

/* ---------------------------------------------------------------- loading */

static const char *ca_path_of(const js_config *cfg, const js_peer *p)
{
    if (p->client_ca[0] != '\0')
        return p->client_ca;
    return cfg->tls_client_ca[0] != '\0' ? cfg->tls_client_ca : NULL;
}

static const char *crl_path_of(const js_config *cfg, const js_peer *p)
{
    if (p->client_crl[0] != '\0')
        return p->client_crl;
    return cfg->tls_client_crl[0] != '\0' ? cfg->tls_client_crl : NULL;
}

static void trust_array_free(gnutls_x509_trust_list_t *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < JS_PEERS_MAX; i++)
        if (t[i] != NULL)
            gnutls_x509_trust_list_deinit(t[i], 1);
    free(t);
}

/* Every peer's trust list (its CA and CRL) read anew, into a new array. */
static js_status trust_array_load(const js_config *cfg, gnutls_x509_trust_list_t **out, char err[JS_ERR_MAX])
{
    gnutls_x509_trust_list_t *t = calloc(JS_PEERS_MAX, sizeof(*t));
    if (t == NULL)
        return JS_ERR_NOMEM;
    for (size_t i = 0; i < cfg->peer_count; i++) {
        const char *path = ca_path_of(cfg, &cfg->peers[i]);
        if (path == NULL)
            continue;
        char nerr[NET_ERR_MAX];
        net_status ns = net_cert_trust_load(path, crl_path_of(cfg, &cfg->peers[i]), cfg->tls_crl_required, &t[i], nerr);
        if (ns != NET_OK) {
            js_errf(err, "peer %s: %s", cfg->peers[i].id, nerr);
            trust_array_free(t);
            return ns == NET_ERR_NOMEM ? JS_ERR_NOMEM : JS_ERR_CONFIG;
        }
    }
    *out = t;
    return JS_OK;
}

js_status js_trust_load(js_ctx *ctx, char err[JS_ERR_MAX])
{
    pthread_rwlock_init(&ctx->trust_lock, NULL);
    ctx->trust_lock_ready = true;
    return trust_array_load(ctx->cfg, &ctx->trust, err);
}

js_status js_trust_reload(js_ctx *ctx, char err[JS_ERR_MAX])
{
    gnutls_x509_trust_list_t *t = NULL;
    js_status st = trust_array_load(ctx->cfg, &t, err);
    if (st != JS_OK)
        return st; /* the lists in place stay */
    pthread_rwlock_wrlock(&ctx->trust_lock);
    gnutls_x509_trust_list_t *old = ctx->trust;
    ctx->trust = t;
    pthread_rwlock_unlock(&ctx->trust_lock);
    trust_array_free(old); /* no reader holds it: they hold the read lock while they use it */
    return JS_OK;
}

void js_trust_free(js_ctx *ctx)
{
    trust_array_free(ctx->trust);
    ctx->trust = NULL;
    if (ctx->trust_lock_ready)
        pthread_rwlock_destroy(&ctx->trust_lock);
    ctx->trust_lock_ready = false;
}

bool js_trust_any(const js_ctx *ctx)
{
    for (size_t i = 0; ctx->trust != NULL && i < ctx->cfg->peer_count; i++) {
        if (ctx->trust[i] != NULL)
            return true;
    }
    return false;
}

/* Every distinct CA file in use, concatenated: what the TLS handshake
 * advertises (and how libmicrohttpd knows to ask for a certificate). */
char *js_trust_pem(const js_ctx *ctx, size_t *len)
{
    const js_config *cfg = ctx->cfg;
    size_t n = 0;
    char *out = NULL;
    for (size_t i = 0; i < cfg->peer_count; i++) {
        const char *path = ctx->trust != NULL && ctx->trust[i] != NULL ? ca_path_of(cfg, &cfg->peers[i]) : NULL;
        bool seen = path == NULL;
        for (size_t k = 0; k < i && !seen; k++)
            seen = ctx->trust[k] != NULL && strcmp(ca_path_of(cfg, &cfg->peers[k]), path) == 0;
        if (!seen && !net_ca_bundle_add(&out, &n, path)) {
            free(out);
            return NULL;
        }
    }
    *len = n;
    return out;
}

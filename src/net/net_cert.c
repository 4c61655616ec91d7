/* net_cert.c - client certificate chains per claimed identity (net_cert.h). */
#include "net/net_cert.h"

#include <gnutls/gnutls.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static bool one_name(const char *name, size_t len, net_cert_names_fn names, const void *claimed)
{
    return len > 0 && len <= NET_CERT_NAME_MAX && strlen(name) == len && names(name, len, claimed);
}

static bool leaf_names(gnutls_x509_crt_t crt, net_cert_names_fn names, const void *claimed)
{
    bool has_san = false;
    for (unsigned i = 0;; i++) {
        char name[NET_CERT_NAME_MAX + 2];
        size_t len = sizeof(name) - 1;
        unsigned critical = 0;
        int type = gnutls_x509_crt_get_subject_alt_name(crt, i, name, &len, &critical);
        if (type == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
            break;
        if (type == GNUTLS_E_SHORT_MEMORY_BUFFER) { /* too long to be a peer's name */
            has_san = true;
            continue;
        }
        if (type < 0)
            return false;
        if (type != GNUTLS_SAN_DNSNAME && type != GNUTLS_SAN_URI)
            continue;
        has_san = true;
        name[len < sizeof(name) ? len : sizeof(name) - 1] = '\0';
        if (one_name(name, len, names, claimed))
            return true;
    }
    if (has_san)
        return false;
    char cn[NET_CERT_NAME_MAX + 2];
    size_t len = sizeof(cn);
    if (gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, cn, &len) != GNUTLS_E_SUCCESS)
        return false;
    char second[NET_CERT_NAME_MAX + 2];
    size_t len2 = sizeof(second);
    if (gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 1, 0, second, &len2) !=
        GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
        return false;
    return one_name(cn, len, names, claimed);
}

const char *net_cert_verdict_name(net_cert_verdict v)
{
    static const char *const NAMES[NET_CERT_VERDICT_COUNT] = {"ok",      "none",    "untrusted",
                                                             "revoked", "expired", "name"};
    return (unsigned)v < NET_CERT_VERDICT_COUNT ? NAMES[v] : "?";
}

net_cert_verdict net_cert_chain_check(gnutls_x509_trust_list_t tl, const net_cert *chain, size_t n,
                                      net_cert_names_fn names, const void *claimed)
{
    if (tl == NULL || chain == NULL || n == 0 || n > NET_CHAIN_MAX || names == NULL)
        return NET_CERT_NONE;
    gnutls_x509_crt_t crts[NET_CHAIN_MAX];
    size_t made = 0;
    bool ok = true;
    for (; made < n && ok; made++) {
        if (gnutls_x509_crt_init(&crts[made]) != GNUTLS_E_SUCCESS)
            break;
        gnutls_datum_t d = {(unsigned char *)(uintptr_t)chain[made].der, (unsigned)chain[made].len};
        ok = chain[made].len <= NET_CERT_DER_MAX &&
             gnutls_x509_crt_import(crts[made], &d, GNUTLS_X509_FMT_DER) == GNUTLS_E_SUCCESS;
    }
    net_cert_verdict v = ok && made == n ? NET_CERT_OK : NET_CERT_NONE;
    if (v == NET_CERT_OK) {
        unsigned status = ~0u;
        gnutls_typed_vdata_st purpose = {.type = GNUTLS_DT_KEY_PURPOSE_OID,
                                         .data = (unsigned char *)(uintptr_t)GNUTLS_KP_TLS_WWW_CLIENT};
        if (gnutls_x509_trust_list_verify_crt2(tl, crts, (unsigned)n, &purpose, 1, 0, &status, NULL) !=
            GNUTLS_E_SUCCESS)
            v = NET_CERT_UNTRUSTED;
        else if (status & GNUTLS_CERT_REVOKED)
            v = NET_CERT_REVOKED;
        else if (status & (GNUTLS_CERT_EXPIRED | GNUTLS_CERT_NOT_ACTIVATED))
            v = NET_CERT_EXPIRED;
        else if (status != 0)
            v = NET_CERT_UNTRUSTED;
        else if (!leaf_names(crts[0], names, claimed))
            v = NET_CERT_NAME;
    }
    for (size_t i = 0; i < made; i++)
        gnutls_x509_crt_deinit(crts[i]);
    return v;
}

bool net_cert_chain_authenticates(gnutls_x509_trust_list_t tl, const net_cert *chain, size_t n,
                                  net_cert_names_fn names, const void *claimed)
{
    return net_cert_chain_check(tl, chain, n, names, claimed) == NET_CERT_OK;
}

/* A whole small file (a CRL) into d; false when it cannot be read. */
static bool read_datum(const char *path, gnutls_datum_t *d)
{
    return gnutls_load_file(path, d) == GNUTLS_E_SUCCESS;
}

net_status net_cert_trust_load(const char *ca_file, const char *crl_file, bool crl_required,
                               gnutls_x509_trust_list_t *out, char err[NET_ERR_MAX])
{
    *out = NULL;
    gnutls_x509_trust_list_t tl;
    if (gnutls_x509_trust_list_init(&tl, 0) != GNUTLS_E_SUCCESS)
        return NET_ERR_NOMEM;
    if (gnutls_x509_trust_list_add_trust_file(tl, ca_file, NULL, GNUTLS_X509_FMT_PEM, 0, 0) <= 0) {
        gnutls_x509_trust_list_deinit(tl, 1);
        snprintf(err, NET_ERR_MAX, "client CA %.180s: no PEM certificate could be read", ca_file);
        return NET_ERR_TLS;
    }
    bool have_crl = crl_file != NULL && crl_file[0] != '\0';
    if (!have_crl) {
        if (crl_required) {
            gnutls_x509_trust_list_deinit(tl, 1);
            snprintf(err, NET_ERR_MAX, "client CA %.180s: no CRL configured, and a CRL is required", ca_file);
            return NET_ERR_TLS;
        }
        *out = tl;
        return NET_OK;
    }
    gnutls_datum_t d = {NULL, 0};
    gnutls_x509_crl_t crl = NULL;
    net_status st = NET_OK;
    if (!read_datum(crl_file, &d)) {
        snprintf(err, NET_ERR_MAX, "CRL %.200s: cannot be read", crl_file);
        st = NET_ERR_TLS;
    } else if (gnutls_x509_crl_init(&crl) != GNUTLS_E_SUCCESS) {
        st = NET_ERR_NOMEM;
    } else {
        gnutls_x509_crt_fmt_t fmt = GNUTLS_X509_FMT_PEM;
        if (gnutls_x509_crl_import(crl, &d, fmt) != GNUTLS_E_SUCCESS) {
            fmt = GNUTLS_X509_FMT_DER;
            if (gnutls_x509_crl_import(crl, &d, fmt) != GNUTLS_E_SUCCESS) {
                snprintf(err, NET_ERR_MAX, "CRL %.200s: neither PEM nor DER", crl_file);
                st = NET_ERR_TLS;
            }
        }
        time_t next = st == NET_OK ? gnutls_x509_crl_get_next_update(crl) : 0;
        if (st == NET_OK && crl_required && next != (time_t)-1 && next < time(NULL)) {
            snprintf(err, NET_ERR_MAX, "CRL %.180s: out of date (its nextUpdate has passed)", crl_file);
            st = NET_ERR_TLS;
        }
        /* the CRL must be the CA's own: GNUTLS_TL_VERIFY_CRL drops it otherwise */
        if (st == NET_OK &&
            gnutls_x509_trust_list_add_trust_mem(tl, NULL, &d, fmt, GNUTLS_TL_VERIFY_CRL | GNUTLS_TL_FAIL_ON_INVALID_CRL,
                                                 0) < 0) {
            snprintf(err, NET_ERR_MAX, "CRL %.180s: not signed by the client CA %.40s", crl_file, ca_file);
            st = NET_ERR_TLS;
        }
    }
    if (crl != NULL)
        gnutls_x509_crl_deinit(crl);
    gnutls_free(d.data);
    if (st != NET_OK) {
        gnutls_x509_trust_list_deinit(tl, 1);
        return st;
    }
    *out = tl;
    return NET_OK;
}

bool net_cert_pem_ok(const char *pem, size_t len, unsigned max, char *err, size_t cap)
{
    gnutls_x509_crt_t *crts = NULL;
    unsigned n = 0;
    gnutls_datum_t d = {(unsigned char *)(uintptr_t)pem, (unsigned)len};
    int rc = len > 0 ? gnutls_x509_crt_list_import2(&crts, &n, &d, GNUTLS_X509_FMT_PEM, 0) : GNUTLS_E_NO_CERTIFICATE_FOUND;
    for (unsigned i = 0; rc >= 0 && i < n; i++)
        gnutls_x509_crt_deinit(crts[i]);
    gnutls_free(crts);
    if (rc < 0) {
        snprintf(err, cap, "not PEM certificates: %s", gnutls_strerror(rc));
        return false;
    }
    if (n == 0 || n > max) {
        snprintf(err, cap, "%u certificates: 1 to %u expected", n, max);
        return false;
    }
    return true;
}

bool net_ca_bundle_add(char **out, size_t *len, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return false;
    size_t n = *len;
    bool ok = true;
    char buf[4096];
    size_t got;
    while (ok && (got = fread(buf, 1, sizeof(buf), f)) > 0) {
        char *nb = n + got + 2 <= NET_CA_BUNDLE_MAX ? realloc(*out, n + got + 2) : NULL;
        if (nb == NULL) {
            ok = false;
            break;
        }
        *out = nb;
        memcpy(*out + n, buf, got);
        n += got;
    }
    ok = ok && !ferror(f);
    fclose(f);
    if (ok && *out != NULL) {
        (*out)[n++] = '\n';
        (*out)[n] = '\0';
        *len = n;
    }
    return ok;
}

/* net_cert.c - client certificate chains per claimed identity (net_cert.h). */
#include "net/net_cert.h"

#include <gnutls/gnutls.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

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

bool net_cert_chain_authenticates(gnutls_x509_trust_list_t tl, const net_cert *chain, size_t n, net_cert_names_fn names,
                                  const void *claimed)
{
    if (tl == NULL || chain == NULL || n == 0 || n > NET_CHAIN_MAX || names == NULL)
        return false;
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
    ok = ok && made == n;
    if (ok) {
        unsigned status = ~0u;
        gnutls_typed_vdata_st purpose = {.type = GNUTLS_DT_KEY_PURPOSE_OID,
                                         .data = (unsigned char *)(uintptr_t)GNUTLS_KP_TLS_WWW_CLIENT};
        ok = gnutls_x509_trust_list_verify_crt2(tl, crts, (unsigned)n, &purpose, 1, 0, &status, NULL) ==
                 GNUTLS_E_SUCCESS &&
             status == 0 && leaf_names(crts[0], names, claimed);
    }
    for (size_t i = 0; i < made; i++)
        gnutls_x509_crt_deinit(crts[i]);
    return ok;
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

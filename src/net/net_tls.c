/* net_tls.c - the TLS policy's floor (net_tls.h). */
#include "net/net_tls.h"

#include <gnutls/gnutls.h>
#include <stdio.h>

static bool version_ok(unsigned v)
{
    return v == GNUTLS_TLS1_2 || v == GNUTLS_TLS1_3;
}

static bool cipher_ok(unsigned c)
{
    return c == GNUTLS_CIPHER_AES_128_GCM || c == GNUTLS_CIPHER_AES_256_GCM || c == GNUTLS_CIPHER_CHACHA20_POLY1305 ||
           c == GNUTLS_CIPHER_AES_128_CCM || c == GNUTLS_CIPHER_AES_256_CCM;
}

static bool kx_ok(unsigned k)
{
    return k == GNUTLS_KX_ECDHE_RSA || k == GNUTLS_KX_ECDHE_ECDSA;
}

net_status net_tls_priority_check(const char *priority, bool below_floor_ok, char err[NET_ERR_MAX])
{
    gnutls_priority_t p;
    const char *where = NULL;
    if (priority == NULL || gnutls_priority_init2(&p, priority, &where, 0) != GNUTLS_E_SUCCESS) {
        snprintf(err, NET_ERR_MAX, "tls_priority: not a GnuTLS priority string (near \"%.40s\")",
                 where != NULL ? where : "");
        return NET_ERR_ARGUMENT;
    }
    net_status st = NET_OK;
    const unsigned *list = NULL;
    int n = gnutls_priority_protocol_list(p, &list);
    for (int i = 0; st == NET_OK && i < n; i++)
        if (!version_ok(list[i])) {
            snprintf(err, NET_ERR_MAX, "tls_priority allows %s, below TLS 1.2",
                     gnutls_protocol_get_name((gnutls_protocol_t)list[i]));
            st = NET_ERR_POLICY;
        }
    n = gnutls_priority_cipher_list(p, &list);
    for (int i = 0; st == NET_OK && i < n; i++)
        if (!cipher_ok(list[i])) {
            snprintf(err, NET_ERR_MAX, "tls_priority allows the cipher %s, which is not AEAD",
                     gnutls_cipher_get_name((gnutls_cipher_algorithm_t)list[i]));
            st = NET_ERR_POLICY;
        }
    n = gnutls_priority_kx_list(p, &list);
    for (int i = 0; st == NET_OK && i < n; i++)
        if (!kx_ok(list[i])) {
            snprintf(err, NET_ERR_MAX, "tls_priority allows the key exchange %s, without ECDHE forward secrecy",
                     gnutls_kx_get_name((gnutls_kx_algorithm_t)list[i]));
            st = NET_ERR_POLICY;
        }
    gnutls_priority_deinit(p);
    if (st == NET_ERR_POLICY && below_floor_ok)
        st = NET_OK; /* the operator said so (tls_priority_below_floor); the caller logs it */
    return st;
}

/*
 * net_cert.h - is this client certificate chain the peer it claims to be?
 *
 * Used by every service that authenticates peers by certificate (the Join
 * Server's peers and operators, the hub's members). The handshake only asks
 * for a certificate and hands over the chain as sent, because the identity
 * is claimed inside the request (a SenderID) and one trust store for all
 * peers would let a certificate issued by peer A's CA claim to be peer B.
 * Here the chain is verified against the trust list of the claimed peer
 * alone, for the TLS-client key purpose, with validity dates; the TLS
 * handshake has already proved possession of the key (CertificateVerify).
 *
 * The identity, RFC 6125's rule: if the leaf carries DNS or URI
 * subjectAltNames, one of them must be accepted by the caller's `names`
 * and the CN is ignored; without such names, its one CN must be (two CNs
 * are ambiguous and refused). Names with an embedded NUL never match.
 */
#ifndef FERRY_NET_CERT_H
#define FERRY_NET_CERT_H

#include "net/net.h"

#include <gnutls/x509.h>
#include <stdbool.h>
#include <stddef.h>

#define NET_CHAIN_MAX 8 /* certificates a client may send */
#define NET_CERT_DER_MAX 65536 /* bytes of one certificate */
#define NET_CERT_NAME_MAX 255 /* a name longer than this is no peer's */

typedef struct net_cert {
    const unsigned char *der;
    size_t len;
} net_cert;

/* The caller's rule for "this name (len bytes, NUL-terminated) is the
 * claimed peer". */
typedef bool (*net_cert_names_fn)(const char *name, size_t len, const void *claimed);

/* Why a chain was refused (or not): for the log line and the counter. */
typedef enum net_cert_verdict {
    NET_CERT_OK = 0,
    NET_CERT_NONE,      /* no chain, or one that does not parse */
    NET_CERT_UNTRUSTED, /* not issued by the claimed peer's CA, or not for TLS clients */
    NET_CERT_REVOKED,   /* listed in that CA's CRL */
    NET_CERT_EXPIRED,   /* outside its validity dates */
    NET_CERT_NAME,      /* a good chain of another identity */
    NET_CERT_VERDICT_COUNT
} net_cert_verdict;

/* "ok", "none", "untrusted", "revoked", "expired", "name". */
const char *net_cert_verdict_name(net_cert_verdict v);

/* The chain (leaf first, n <= NET_CHAIN_MAX) against tl (with its CRLs)
 * and the claimed identity. */
net_cert_verdict net_cert_chain_check(gnutls_x509_trust_list_t tl, const net_cert *chain, size_t n,
                                      net_cert_names_fn names, const void *claimed);

/* net_cert_chain_check(...) == NET_CERT_OK. False on any doubt. */
bool net_cert_chain_authenticates(gnutls_x509_trust_list_t tl, const net_cert *chain, size_t n, net_cert_names_fn names,
                                  const void *claimed);

/* A trust list of the CAs in ca_file and, when crl_file is given, that
 * CA's CRL (PEM or DER, verified against the CA). With crl_required, a
 * missing CRL or one past its nextUpdate is an error (NET_ERR_TLS), named
 * in err; without, an expired CRL still revokes what it lists. */
net_status net_cert_trust_load(const char *ca_file, const char *crl_file, bool crl_required,
                               gnutls_x509_trust_list_t *out, char err[NET_ERR_MAX]) NET_MUST_CHECK;

#define NET_CA_BUNDLE_MAX (4u * 1024 * 1024) /* bytes of every client CA a server advertises */

/* Appends the file at path, and a newline, to the NUL-terminated bundle
 * *out of *len bytes (grown with realloc; free() it). False when the file
 * cannot be read or the bundle would pass NET_CA_BUNDLE_MAX (the bundle as
 * it was is kept). */
bool net_ca_bundle_add(char **out, size_t *len, const char *path);

/* PEM text that holds 1..max certificates, each of which parses; err
 * says what is wrong. For a CA bundle given on a command line, before it
 * is stored. */
bool net_cert_pem_ok(const char *pem, size_t len, unsigned max, char *err, size_t cap);

#endif

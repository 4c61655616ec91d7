/*
 * net_tls.h - the one TLS policy of ferry's servers and client (docs/net.md,
 * "TLS policy").
 *
 * TLS 1.2 and 1.3 only; in TLS 1.2 only ECDHE key exchange with AEAD
 * ciphers (AES-GCM, ChaCha20-Poly1305): forward secrecy, no CBC, no
 * static RSA, no 3DES, no SHA-1 MACs. An operator with stricter rules sets
 * another GnuTLS priority string (`tls_priority`); one that would allow
 * less than this floor is refused at start unless the configuration says
 * so explicitly (`tls_priority_below_floor = yes`), which is logged.
 */
#ifndef FERRY_NET_TLS_H
#define FERRY_NET_TLS_H

#include "net/net.h"

#include <stdbool.h>

/* The default priority string (GnuTLS syntax). */
#define NET_TLS_PRIORITY_DEFAULT                                                                                      \
    "NONE:+VERS-TLS1.3:+VERS-TLS1.2:+ECDHE-ECDSA:+ECDHE-RSA:+AES-256-GCM:+CHACHA20-POLY1305:+AES-128-GCM:+AEAD:"      \
    "+SIGN-ALL:+GROUP-ALL:+COMP-NULL:+CTYPE-X509:%SERVER_PRECEDENCE"

/* The client's (libcurl over OpenSSL) TLS 1.2 suites: the same floor. */
#define NET_TLS_CLIENT_CIPHERS                                                                                        \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:"                        \
    "ECDHE-RSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256"

/* Checks a priority string: it parses, and - unless below_floor_ok - it
 * allows no protocol below TLS 1.2, no cipher that is not AEAD and no key
 * exchange without forward secrecy. err names what is below the floor. */
net_status net_tls_priority_check(const char *priority, bool below_floor_ok, char err[NET_ERR_MAX]) NET_MUST_CHECK;

#endif

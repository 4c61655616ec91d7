/* net_addr.c - listen addresses and URLs (net_addr.h). */
#include "net/net_addr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define HOST_MAX 64 /* the longest numeric IPv6 text is 45 bytes */

net_status net_addr_parse(const char *text, net_addr *out, char err[NET_ERR_MAX])
{
    memset(out, 0, sizeof(*out));
    if (text == NULL || text[0] == '\0') {
        snprintf(err, NET_ERR_MAX, "listen address missing: expected ADDR:PORT");
        return NET_ERR_ARGUMENT;
    }
    const char *colon = strrchr(text, ':');
    if (colon == NULL || colon == text) {
        snprintf(err, NET_ERR_MAX, "listen address \"%.80s\": expected ADDR:PORT", text);
        return NET_ERR_ARGUMENT;
    }
    const char *host = text;
    size_t hl = (size_t)(colon - text);
    if (host[0] == '[') {
        if (hl < 3 || host[hl - 1] != ']') {
            snprintf(err, NET_ERR_MAX, "listen address \"%.80s\": expected [IPv6]:PORT", text);
            return NET_ERR_ARGUMENT;
        }
        host++;
        hl -= 2;
    }
    unsigned long port = 0;
    const char *p = colon + 1;
    for (; *p >= '0' && *p <= '9' && port <= 65535; p++)
        port = port * 10 + (unsigned long)(*p - '0');
    if (p == colon + 1 || *p != '\0' || port > 65535 || p - (colon + 1) > 5) {
        snprintf(err, NET_ERR_MAX, "listen address \"%.80s\": expected ADDR:PORT, the port all digits, 0..65535", text);
        return NET_ERR_ARGUMENT;
    }
    char h[HOST_MAX];
    if (hl >= sizeof(h)) {
        snprintf(err, NET_ERR_MAX, "listen address \"%.80s\": a numeric IPv4 or IPv6 address is expected", text);
        return NET_ERR_ARGUMENT;
    }
    memcpy(h, host, hl);
    h[hl] = '\0';
    struct sockaddr_in *s4 = (struct sockaddr_in *)&out->ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&out->ss;
    if (text[0] != '[' && inet_pton(AF_INET, h, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        out->len = sizeof(*s4);
        out->loopback = (ntohl(s4->sin_addr.s_addr) >> 24) == 127;
    } else if (inet_pton(AF_INET6, h, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        out->len = sizeof(*s6);
        out->v6 = true;
        out->loopback = IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr);
    } else {
        snprintf(err, NET_ERR_MAX, "listen address \"%.80s\": a numeric IPv4 or IPv6 address is expected", text);
        return NET_ERR_ARGUMENT;
    }
    out->port = (uint16_t)port;
    return NET_OK;
}

/* The host of scheme://[userinfo@]host[:port][/...] into h; false when the
 * URL has no scheme or host. */
static bool url_host(const char *url, char h[HOST_MAX + 192])
{
    const char *s = strstr(url, "://");
    if (s == NULL)
        return false;
    s += 3;
    size_t n = strcspn(s, "/?#");
    const char *at = memchr(s, '@', n);
    if (at != NULL) {
        n -= (size_t)(at + 1 - s);
        s = at + 1;
    }
    size_t hl;
    if (s[0] == '[') {
        const char *close = memchr(s, ']', n);
        if (close == NULL)
            return false;
        s++;
        hl = (size_t)(close - s);
    } else {
        const char *colon = memchr(s, ':', n);
        hl = colon != NULL ? (size_t)(colon - s) : n;
    }
    if (hl == 0 || hl >= HOST_MAX + 192)
        return false;
    memcpy(h, s, hl);
    h[hl] = '\0';
    return true;
}

bool net_url_is_loopback(const char *url)
{
    char h[HOST_MAX + 192];
    if (url == NULL || !url_host(url, h))
        return false;
    if (strcasecmp(h, "localhost") == 0)
        return true;
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, h, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    return inet_pton(AF_INET6, h, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
}

net_status net_url_check(const char *url, bool carries_credential, char err[NET_ERR_MAX])
{
    char h[HOST_MAX + 192];
    bool https = url != NULL && strncasecmp(url, "https://", 8) == 0;
    bool http = url != NULL && strncasecmp(url, "http://", 7) == 0;
    if (!(http || https) || !url_host(url, h)) {
        snprintf(err, NET_ERR_MAX, "URL \"%.120s\": expected http://HOST[:PORT]/... or https://...",
                 url != NULL ? url : "");
        return NET_ERR_ARGUMENT;
    }
    for (const char *p = url; *p != '\0'; p++) {
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p == 0x7f) {
            snprintf(err, NET_ERR_MAX, "URL \"%.120s\": blanks and control characters are not allowed", url);
            return NET_ERR_ARGUMENT;
        }
    }
    if (http && carries_credential && !net_url_is_loopback(url)) {
        snprintf(err, NET_ERR_MAX,
                 "URL \"%.120s\": plain http:// is allowed only to a loopback host; a credential would cross the "
                 "network in clear (use https://)",
                 url);
        return NET_ERR_POLICY;
    }
    return NET_OK;
}

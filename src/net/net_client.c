/* net_client.c - the HTTP client (net_client.h). */
#include "net/net_client.h"
#include "net/net_addr.h"
#include "net/net_tls.h"
#include "lorawan/lw_secure.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct net_client {
    CURL *curl;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_start(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

net_status net_client_new(net_client **out)
{
    pthread_once(&curl_once, curl_start);
    *out = NULL;
    net_client *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NET_ERR_NOMEM;
    c->curl = curl_easy_init();
    if (c->curl == NULL) {
        free(c);
        return NET_ERR_NOMEM;
    }
    *out = c;
    return NET_OK;
}

void net_client_free(net_client *c)
{
    if (c == NULL)
        return;
    curl_easy_cleanup(c->curl);
    free(c);
}

typedef struct sink {
    net_answer *a;
    bool overflow;
} sink;

static size_t on_body(char *p, size_t size, size_t n, void *user)
{
    sink *s = user;
    size_t k = size * n;
    net_answer *a = s->a;
    if (a->cap == 0 || a->len + k > a->cap - 1) {
        s->overflow = true;
        return 0; /* libcurl stops with CURLE_WRITE_ERROR */
    }
    memcpy(a->body + a->len, p, k);
    a->len += k;
    a->body[a->len] = '\0';
    return k;
}

static bool given(const char *s)
{
    return s != NULL && s[0] != '\0';
}

net_status net_client_call(net_client *c, const net_call *call, net_answer *ans, char err[NET_ERR_MAX])
{
    ans->status = 0;
    ans->len = 0;
    if (ans->cap > 0)
        ans->body[0] = '\0';
    bool credential = given(call->bearer) || given(call->client_cert);
    net_status st = net_url_check(call->url, credential, err);
    if (st != NET_OK)
        return st;
    if (given(call->bearer) && strlen(call->bearer) > NET_CLIENT_TOKEN_MAX) {
        snprintf(err, NET_ERR_MAX, "the bearer token is longer than %d bytes", NET_CLIENT_TOKEN_MAX);
        return NET_ERR_LIMIT;
    }
    CURL *h = c->curl;
    curl_easy_reset(h);
    char type[160];
    const char *ct = call->content_type != NULL ? call->content_type : "application/json";
    snprintf(type, sizeof(type), "Content-Type: %s", ct);
    struct curl_slist *hdr = call->body != NULL ? curl_slist_append(NULL, type) : NULL;
    bool nomem = call->body != NULL && hdr == NULL;
    if (!nomem && given(call->bearer)) {
        char auth[NET_CLIENT_TOKEN_MAX + 32];
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", call->bearer);
        struct curl_slist *h2 = curl_slist_append(hdr, auth); /* libcurl copies the string */
        lw_secure_wipe(auth, sizeof(auth));
        if (h2 == NULL)
            nomem = true;
        else
            hdr = h2;
    }
    if (nomem) {
        curl_slist_free_all(hdr);
        snprintf(err, NET_ERR_MAX, "HTTP client: out of memory");
        return NET_ERR_NOMEM;
    }
    const char *method = call->method != NULL ? call->method : call->body != NULL ? "POST" : "GET";
    sink s = {.a = ans};
    curl_easy_setopt(h, CURLOPT_URL, call->url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    if (hdr != NULL)
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    if (call->body != NULL) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, call->body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)call->len);
    }
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS,
                     (long)(call->timeout_ms != 0 ? call->timeout_ms : NET_CLIENT_TIMEOUT_MS_DEFAULT));
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L); /* a redirect would carry the token elsewhere */
    /* the TLS policy's floor (net_tls.h): 1.2 and up, ECDHE with AEAD in 1.2 */
    curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    curl_easy_setopt(h, CURLOPT_SSL_CIPHER_LIST, NET_TLS_CLIENT_CIPHERS);
    if (given(call->ca_file))
        curl_easy_setopt(h, CURLOPT_CAINFO, call->ca_file);
    if (given(call->ca_pem)) {
        struct curl_blob ca = {.data = (void *)(uintptr_t)call->ca_pem, .len = strlen(call->ca_pem),
                               .flags = CURL_BLOB_COPY};
        curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &ca);
    }
    if (given(call->client_cert)) {
        curl_easy_setopt(h, CURLOPT_SSLCERT, call->client_cert);
        curl_easy_setopt(h, CURLOPT_SSLKEY, given(call->client_key) ? call->client_key : call->client_cert);
    }
    CURLcode rc = curl_easy_perform(h);
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    /* the handle keeps the header list's pointer until the next reset */
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hdr);
    if (s.overflow) {
        snprintf(err, NET_ERR_MAX, "%s %.120s: the answer is longer than %zu bytes", method, call->url,
                 ans->cap > 0 ? ans->cap - 1 : 0);
        ans->len = 0;
        if (ans->cap > 0)
            ans->body[0] = '\0';
        return NET_ERR_LIMIT;
    }
    if (rc != CURLE_OK || code < 100 || code > 599) {
        snprintf(err, NET_ERR_MAX, "%s %.120s: %s", method, call->url,
                 rc != CURLE_OK ? curl_easy_strerror(rc) : "no HTTP status");
        return NET_ERR_IO;
    }
    ans->status = (unsigned)code;
    return NET_OK;
}

/*
 * idm_client.c - the IDM's HTTP client for customer Join Servers' admin
 * APIs (libcurl, one easy handle per call: provisioning is rare next to
 * the cost of the keys, so no connection reuse is worth its state).
 *
 * The bearer header is built in a local buffer and wiped after the call;
 * libcurl copies it into its own list, which curl_slist_free_all frees
 * without wiping: the admin token is in clear in process memory for the
 * duration of one request, unavoidably (it is a password for the remote).
 */
#include "idm/idm_ota.h"
#include "lorawan/lw_secure.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void global_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t sink(char *p, size_t size, size_t n, void *ctx)
{
    idm_http_resp *r = ctx;
    size_t len = size * n;
    size_t room = sizeof r->body - 1 - r->len;
    size_t take = len < room ? len : room;
    memcpy(r->body + r->len, p, take);
    r->len += take;
    r->body[r->len] = '\0';
    return len;
}

idm_status idm_http_call(const char *method, const char *url, const char *bearer, const char *body,
                         idm_http_resp *out, char err[IDM_ERR_MAX])
{
    pthread_once(&once, global_init);
    memset(out, 0, sizeof *out);
    CURL *c = curl_easy_init();
    if (c == NULL) {
        snprintf(err, IDM_ERR_MAX, "HTTP client: out of memory");
        return IDM_ERR_NOMEM;
    }
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    char auth[300];
    if (bearer != NULL) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", bearer);
        h = curl_slist_append(h, auth);
        lw_secure_wipe(auth, sizeof auth);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 15L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
    if (rc != CURLE_OK) {
        snprintf(err, IDM_ERR_MAX, "%s %s: %s", method, url, curl_easy_strerror(rc));
        return IDM_ERR_REMOTE;
    }
    return IDM_OK;
}

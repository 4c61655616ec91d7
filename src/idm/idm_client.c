/*
 * idm_client.c - the IDM's HTTP client for customer Join Servers' admin
 * APIs, on the server layer's client (src/net/net_client.h): one client
 * per call, since provisioning is rare next to the cost of the keys and
 * calls come from the HTTP and the housekeeping threads.
 *
 * The admin token goes only over https://, or http:// to loopback
 * (net_url_check); an answer longer than the response buffer is an error,
 * not a cut one. The bearer header is built in a buffer that is wiped; the
 * token is in clear in process memory for the duration of one request,
 * unavoidably (it is a password for the remote).
 */
#include "idm/idm_ota.h"
#include "net/net_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

idm_status idm_http_call(const char *method, const char *url, const char *bearer, const char *body,
                         const char *ca_pem, idm_http_resp *out, char err[IDM_ERR_MAX])
{
    memset(out, 0, sizeof *out);
    net_client *c = NULL;
    if (net_client_new(&c) != NET_OK) {
        snprintf(err, IDM_ERR_MAX, "HTTP client: out of memory");
        return IDM_ERR_NOMEM;
    }
    net_call call = {.method = method, .url = url, .bearer = bearer, .body = body,
                     .len = body != NULL ? strlen(body) : 0, .ca_pem = ca_pem};
    net_answer a = {.body = out->body, .cap = sizeof out->body};
    char nerr[NET_ERR_MAX];
    net_status st = net_client_call(c, &call, &a, nerr);
    net_client_free(c);
    if (st != NET_OK) {
        snprintf(err, IDM_ERR_MAX, "%s", nerr);
        return st == NET_ERR_NOMEM ? IDM_ERR_NOMEM : st == NET_ERR_POLICY ? IDM_ERR_ARGUMENT : IDM_ERR_REMOTE;
    }
    out->status = (long)a.status;
    out->len = a.len;
    return IDM_OK;
}

idm_status idm_js_call(store *db, const store_idm_js *js, const char *method, const char *url, const char *bearer,
                       const char *body, idm_http_resp *out, char err[IDM_ERR_MAX])
{
    char *ca = malloc(STORE_IDM_CA_MAX);
    size_t len = 0;
    if (ca == NULL) {
        snprintf(err, IDM_ERR_MAX, "out of memory");
        return IDM_ERR_NOMEM;
    }
    store_status ss = store_idm_js_ca_get(db, js->id, ca, STORE_IDM_CA_MAX, &len);
    if (ss != STORE_OK) {
        snprintf(err, IDM_ERR_MAX, "join server %s: its CA could not be read: %s", js->id, store_strerror(ss));
        free(ca);
        return IDM_ERR_STORE;
    }
    idm_status st = idm_http_call(method, url, bearer, body, len > 0 ? ca : NULL, out, err);
    free(ca);
    return st;
}

/*
 * idm_tenant.c - tenants, customer Join Servers, and the one path through
 * which an SE's lifecycle state changes (claims: idm_claim.c).
 *
 * Why each operation is one store transaction with its audit entry: the
 * chain then never records a change that did not happen, nor misses one
 * that did.
 */
#include "idm/idm_tenant.h"
#include "idm/idm_roaming.h"
#include "lorawan/lw_secure.h"
#include "net/net_addr.h"
#include "net/net_cert.h"

#include <mbedtls/sha256.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

static void eui_text(uint64_t eui, char out[17])
{
    snprintf(out, 17, "%016llX", (unsigned long long)eui);
}

static bool random_bytes(uint8_t *out, size_t len)
{
    size_t at = 0;
    while (at < len) {
        ssize_t n = getrandom(out + at, len - at, 0);
        if (n <= 0)
            return false;
        at += (size_t)n;
    }
    return true;
}

static void hex_upper(const uint8_t *in, size_t len, char *out)
{
    static const char D[] = "0123456789ABCDEF";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = D[in[i] >> 4];
        out[2 * i + 1] = D[in[i] & 15];
    }
    out[2 * len] = '\0';
}

static void sha256_text(const char *text, uint8_t out[32])
{
    (void)mbedtls_sha256_ret((const unsigned char *)text, strlen(text), out, 0);
}

static idm_status from_store(store_status st)
{
    switch (st) {
    case STORE_OK:
        return IDM_OK;
    case STORE_ERR_NOT_FOUND:
        return IDM_ERR_NOT_FOUND;
    case STORE_ERR_EXISTS:
        return IDM_ERR_EXISTS;
    case STORE_ERR_ARGUMENT:
        return IDM_ERR_ARGUMENT;
    default:
        return IDM_ERR_STORE;
    }
}

/* ---------------------------------------------------------------- audit and lifecycle */

char *idm_audit_text(const json_t *details)
{
    if (details == NULL)
        details = json_object();
    else
        json_incref((json_t *)details);
    char *text = json_is_object(details) ? json_dumps(details, JSON_COMPACT) : NULL;
    json_decref((json_t *)details);
    return text;
}

void idm_json_free(char *text)
{
    if (text == NULL)
        return;
    /* jansson's own free: the CLI installs a wiping allocator (cli_json.c) */
    json_free_t jfree = NULL;
    json_get_alloc_funcs(NULL, &jfree);
    if (jfree != NULL)
        jfree(text);
}

store_status idm_audit_txn(store *s, const char *actor, const char *action, const char *subject,
                           const json_t *details)
{
    char *text = idm_audit_text(details);
    if (text == NULL)
        return STORE_ERR_NOMEM;
    store_idm_audit_record r = {actor, action, subject, text};
    store_status st = store_idm_audit_append(s, &r, NULL);
    idm_json_free(text);
    return st;
}

typedef struct audit_job {
    const char *actor, *action, *subject;
    const json_t *details;
} audit_job;

static store_status audit_fn(store *s, void *ctx)
{
    audit_job *j = ctx;
    return idm_audit_txn(s, j->actor, j->action, j->subject, j->details);
}

idm_status idm_audit(store *db, const char *actor, const char *action, const char *subject, const json_t *details)
{
    audit_job j = {actor, action, subject, details};
    return from_store(store_idm_txn(db, audit_fn, &j));
}

store_status idm_se_event_txn(store *db, uint64_t dev_eui, idm_event ev, const char *actor, const json_t *details,
                              idm_state *to)
{
    store_idm_se se;
    store_status st = store_idm_se_get(db, dev_eui, &se);
    if (st != STORE_OK)
        return st;
    idm_state from = se.state, next;
    bool ok = idm_state_transition(from, ev, &next) == IDM_OK;
    lw_secure_wipe(&se, sizeof se);
    if (!ok)
        return STORE_ERR_ABORTED;
    st = store_idm_se_set_state(db, dev_eui, from, next);
    if (st != STORE_OK)
        return st;
    char subject[17], action[64];
    eui_text(dev_eui, subject);
    int n = snprintf(action, sizeof action, "idm.se.%s", idm_event_name(ev));
    if (n < 0 || (size_t)n >= sizeof action) /* event names are short constants: never, but checked */
        return STORE_ERR_ARGUMENT;
    json_t *det = json_pack("{s:s,s:s}", "from", idm_state_name(from), "to", idm_state_name(next));
    if (det == NULL || (details != NULL && json_object_update(det, (json_t *)details) != 0)) {
        json_decref(det);
        return STORE_ERR_NOMEM;
    }
    st = idm_audit_txn(db, actor, action, subject, det);
    json_decref(det);
    if (st == STORE_OK && to != NULL)
        *to = next;
    return st;
}

typedef struct event_job {
    uint64_t dev_eui;
    idm_event ev;
    const char *actor;
    const json_t *details;
    idm_state to;
} event_job;

static store_status event_fn(store *s, void *ctx)
{
    event_job *j = ctx;
    return idm_se_event_txn(s, j->dev_eui, j->ev, j->actor, j->details, &j->to);
}

idm_status idm_se_event(store *db, uint64_t dev_eui, idm_event ev, const char *actor, const json_t *details,
                        idm_state *to, char err[IDM_ERR_MAX])
{
    event_job j = {dev_eui, ev, actor, details, IDM_STATE_MANUFACTURED};
    store_status st = store_idm_txn(db, event_fn, &j);
    if (st == STORE_ERR_ABORTED) {
        snprintf(err, IDM_ERR_MAX, "%016llX: %s refused: %s", (unsigned long long)dev_eui, idm_event_name(ev),
                 idm_strerror(IDM_ERR_ILLEGAL));
        return IDM_ERR_ILLEGAL;
    }
    if (st != STORE_OK) {
        snprintf(err, IDM_ERR_MAX, "%016llX: %s", (unsigned long long)dev_eui, store_strerror(st));
        return from_store(st);
    }
    if (to != NULL)
        *to = j.to;
    return IDM_OK;
}

/* ---------------------------------------------------------------- tenants */

typedef struct tenant_job {
    store_idm_tenant t;
    const char *actor;
} tenant_job;

static store_status tenant_fn(store *s, void *ctx)
{
    tenant_job *j = ctx;
    store_status st = store_idm_tenant_put(s, &j->t);
    if (st != STORE_OK)
        return st;
    json_t *det = json_pack("{s:s}", "kind", store_idm_tenant_kind_name(j->t.kind));
    st = det != NULL ? idm_audit_txn(s, j->actor, "idm.tenant.add", j->t.id, det) : STORE_ERR_NOMEM;
    json_decref(det);
    return st;
}

idm_status idm_tenant_add(store *db, const char *id, const char *kind, const char *name, const char *actor,
                          char token_hex[IDM_TENANT_TOKEN_HEX + 1], char err[IDM_ERR_MAX])
{
    tenant_job j;
    memset(&j, 0, sizeof j);
    if (id == NULL || kind == NULL || name == NULL || strlen(id) > STORE_IDM_ID_MAX ||
        strlen(name) > STORE_IDM_NAME_MAX || store_idm_tenant_kind_parse(kind, &j.t.kind) != STORE_OK || strchr(name, '"') != NULL ||
        strchr(name, '\\') != NULL) {
        snprintf(err, IDM_ERR_MAX, "tenant: id (1..64 of A-Z a-z 0-9 . _ -), kind maker|customer, name (no quotes)");
        return IDM_ERR_ARGUMENT;
    }
    uint8_t raw[IDM_TENANT_TOKEN_HEX / 2];
    if (!random_bytes(raw, sizeof raw)) {
        snprintf(err, IDM_ERR_MAX, "%s", idm_strerror(IDM_ERR_RANDOM));
        return IDM_ERR_RANDOM;
    }
    hex_upper(raw, sizeof raw, token_hex);
    lw_secure_wipe(raw, sizeof raw);
    memcpy(j.t.id, id, strlen(id) + 1);
    memcpy(j.t.name, name, strlen(name) + 1);
    sha256_text(token_hex, j.t.token_hash);
    j.actor = actor;
    store_status st = store_idm_txn(db, tenant_fn, &j);
    if (st != STORE_OK) {
        lw_secure_wipe(token_hex, IDM_TENANT_TOKEN_HEX + 1);
        snprintf(err, IDM_ERR_MAX, "tenant %s: %s", id,
                 st == STORE_ERR_EXISTS ? "exists already" : st == STORE_ERR_ARGUMENT ? "invalid id, kind or name"
                                                                                     : store_strerror(st));
        return from_store(st);
    }
    return IDM_OK;
}

idm_status idm_tenant_authenticate(store *db, const char *token, store_idm_tenant *out)
{
    if (db == NULL || token == NULL || out == NULL || strlen(token) != IDM_TENANT_TOKEN_HEX)
        return IDM_ERR_AUTH;
    uint8_t h[32];
    sha256_text(token, h);
    store_status st = store_idm_tenant_by_token(db, h, out);
    bool ok = st == STORE_OK && lw_secure_equal(h, out->token_hash, sizeof h);
    lw_secure_wipe(h, sizeof h);
    if (!ok) {
        memset(out, 0, sizeof *out);
        return st == STORE_OK || st == STORE_ERR_NOT_FOUND ? IDM_ERR_AUTH : IDM_ERR_STORE;
    }
    return IDM_OK;
}

idm_status idm_operator_authenticate(store *db, const char *token, store_operator *out)
{
    if (db == NULL || token == NULL || out == NULL || token[0] == '\0' || strlen(token) > IDM_OPERATOR_TOKEN_MAX)
        return IDM_ERR_AUTH;
    uint8_t h[32];
    sha256_text(token, h);
    store_status st = store_operator_by_token(db, h, out);
    bool ok = st == STORE_OK && out->has_token && lw_secure_equal(h, out->token_sha256, sizeof h);
    lw_secure_wipe(h, sizeof h);
    if (!ok) {
        memset(out, 0, sizeof *out);
        return st == STORE_OK || st == STORE_ERR_NOT_FOUND ? IDM_ERR_AUTH : IDM_ERR_STORE;
    }
    return IDM_OK;
}

/* ---------------------------------------------------------------- customer Join Servers */

/* token_ct = nonce(16) || token XOR AES-CTR keystream of K over blocks
 * nonce+0, nonce+1, ... (counter in the last two bytes, big-endian). */
static idm_status ctr(const lw_crypto *c, const lw_key *k, const uint8_t nonce[16], const uint8_t *in, size_t len,
                      uint8_t *out)
{
    uint8_t block[16], ks[16];
    for (size_t i = 0; i < len; i += 16) {
        memcpy(block, nonce, 16);
        uint16_t n = (uint16_t)(((unsigned)block[14] << 8 | block[15]) + i / 16);
        block[14] = (uint8_t)(n >> 8);
        block[15] = (uint8_t)n;
        if (lw_aes_encrypt(c, k, block, ks) != LW_OK) {
            lw_secure_wipe(ks, sizeof ks);
            return IDM_ERR_HSM;
        }
        for (size_t j = 0; j < 16 && i + j < len; j++)
            out[i + j] = in[i + j] ^ ks[j];
    }
    lw_secure_wipe(ks, sizeof ks);
    return IDM_OK;
}

typedef struct js_job {
    const store_idm_js *j;
    const char *actor;
    const char *ca_pem;           /* NULL or "": the system's CAs */
} js_job;

static store_status js_fn(store *s, void *ctx)
{
    js_job *jj = ctx;
    store_status st = store_idm_js_put(s, jj->j);
    if (st == STORE_OK && jj->ca_pem != NULL && jj->ca_pem[0] != '\0')
        st = store_idm_js_ca_set(s, jj->j->id, jj->ca_pem);
    if (st != STORE_OK)
        return st;
    char join_eui[17], home[7];
    eui_text(jj->j->join_eui, join_eui);
    snprintf(home, sizeof home, "%06X", (unsigned)(jj->j->home_net_id & 0xFFFFFF));
    json_t *det = json_pack("{s:s,s:s,s:s,s:s,s:s,s:b}", "tenant", jj->j->tenant_id, "admin_url", jj->j->admin_url,
                            "join_eui", join_eui, "home_net_id", home, "kek_label", jj->j->kek_label, "private_ca",
                            jj->ca_pem != NULL && jj->ca_pem[0] != '\0');
    st = det != NULL ? idm_audit_txn(s, jj->actor, "idm.js.add", jj->j->id, det) : STORE_ERR_NOMEM;
    json_decref(det);
    return st;
}

static bool url_ok(const char *u)
{
    if (strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0)
        return false;
    for (const char *p = u; *p; p++)
        if (*p <= ' ' || *p == '"' || *p == '\\' || (unsigned char)*p >= 0x7f)
            return false;
    return strlen(u) <= STORE_IDM_URL_MAX;
}

/* A KEK label as `ferry kek import` takes it: printable, no quote. */
static bool label_ok(const char *l)
{
    if (l == NULL)
        return true;
    size_t n = strlen(l);
    if (n > STORE_LABEL_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (l[i] <= ' ' || l[i] == '"' || l[i] == '\\' || (unsigned char)l[i] >= 0x7f)
            return false;
    return true;
}

idm_status idm_js_add(hsm_session *hs, store *db, idm_js_opts *o, char err[IDM_ERR_MAX])
{
    store_idm_js *j = calloc(1, sizeof *j);
    idm_status rc = IDM_OK;
    lw_key k = {0};
    size_t tlen = o->admin_token != NULL ? strlen(o->admin_token) : 0;
    while (tlen > 0 && (o->admin_token[tlen - 1] == '\n' || o->admin_token[tlen - 1] == '\r'))
        o->admin_token[--tlen] = '\0';
    if (j == NULL) {
        rc = IDM_ERR_NOMEM;
        snprintf(err, IDM_ERR_MAX, "%s", idm_strerror(rc));
        goto out;
    }
    if (o->id == NULL || o->tenant_id == NULL || o->admin_url == NULL || o->kek_label == NULL ||
        strlen(o->id) > STORE_IDM_ID_MAX || strlen(o->tenant_id) > STORE_IDM_ID_MAX || !url_ok(o->admin_url) ||
        strlen(o->kek_label) > STORE_LABEL_MAX || tlen == 0 || tlen > STORE_IDM_TOKEN_CT_MAX - 16 ||
        o->home_net_id > 0xFFFFFF) {
        rc = IDM_ERR_ARGUMENT;
        snprintf(err, IDM_ERR_MAX, "join server: id, tenant, an http(s) URL, an admin token (1..128 bytes) and a "
                                   "KEK label are required");
        goto out;
    }
    /* the admin token travels in every call: plain http:// only to a
     * loopback host (the URL's host parsed, not its first characters) */
    char uerr[NET_ERR_MAX];
    if (net_url_check(o->admin_url, true, uerr) != NET_OK) {
        rc = IDM_ERR_ARGUMENT;
        snprintf(err, IDM_ERR_MAX, "--url: %.240s", uerr);
        goto out;
    }
    if (o->ca_pem != NULL && o->ca_pem[0] != '\0' &&
        (strlen(o->ca_pem) >= STORE_IDM_CA_MAX || !net_cert_pem_ok(o->ca_pem, strlen(o->ca_pem), 64, uerr, sizeof uerr))) {
        rc = IDM_ERR_ARGUMENT;
        snprintf(err, IDM_ERR_MAX, "--ca-file: %.240s", strlen(o->ca_pem) >= STORE_IDM_CA_MAX ? "larger than 64 KiB" : uerr);
        goto out;
    }
    if (!label_ok(o->kek_label) || !label_ok(o->ns_kek_label) || !label_ok(o->as_kek_label)) {
        rc = IDM_ERR_ARGUMENT;
        snprintf(err, IDM_ERR_MAX, "a KEK label: 1..%d printable characters, no blank or quote", STORE_LABEL_MAX);
        goto out;
    }
    store_idm_tenant t;
    store_status ss = store_idm_tenant_get(db, o->tenant_id, &t);
    if (ss != STORE_OK || t.kind != STORE_IDM_TENANT_CUSTOMER) {
        rc = ss == STORE_OK || ss == STORE_ERR_NOT_FOUND ? IDM_ERR_NOT_FOUND : IDM_ERR_STORE;
        snprintf(err, IDM_ERR_MAX, "tenant %s: %s", o->tenant_id,
                 ss == STORE_OK ? "is not a customer" : store_strerror(ss));
        goto out;
    }
    store_kek kek;
    ss = store_kek_get(db, o->kek_label, &kek);
    lw_secure_wipe(&kek, sizeof kek);
    if (ss != STORE_OK) {
        rc = IDM_ERR_KEK;
        snprintf(err, IDM_ERR_MAX, "KEK %s: %s (import it with `ferry kek import` first)", o->kek_label,
                 store_strerror(ss));
        goto out;
    }
    memcpy(j->id, o->id, strlen(o->id) + 1);
    memcpy(j->tenant_id, o->tenant_id, strlen(o->tenant_id) + 1);
    memcpy(j->admin_url, o->admin_url, strlen(o->admin_url) + 1);
    memcpy(j->kek_label, o->kek_label, strlen(o->kek_label) + 1);
    if (o->ns_kek_label != NULL)   /* checked above: never dropped silently */
        memcpy(j->ns_kek_label, o->ns_kek_label, strlen(o->ns_kek_label) + 1);
    if (o->as_kek_label != NULL)
        memcpy(j->as_kek_label, o->as_kek_label, strlen(o->as_kek_label) + 1);
    j->join_eui = o->join_eui;
    j->home_net_id = o->home_net_id;
    if (o->allowed_net_ids != NULL &&
        (rc = idm_net_id_list_canon(o->allowed_net_ids, false, STORE_NET_IDS_MAX, j->allowed_net_ids,
                                    sizeof j->allowed_net_ids, err)) != IDM_OK) {
        char why[IDM_ERR_MAX];
        snprintf(why, sizeof why, "%s", err);
        snprintf(err, IDM_ERR_MAX, "allowed NetIDs: %.200s", why);
        goto out;
    }
    size_t bl = 0;
    if (hsm_key_generate(hs, HSM_KEY_WORKING, &k) != HSM_OK ||
        hsm_key_wrap_blob(hs, &k, j->token_key.data, sizeof j->token_key.data, &bl) != HSM_OK) {
        rc = IDM_ERR_HSM;
        snprintf(err, IDM_ERR_MAX, "key service: could not make the admin token's key");
        goto out;
    }
    j->token_key.len = bl;
    if (!random_bytes(j->token_ct, 16)) {
        rc = IDM_ERR_RANDOM;
        snprintf(err, IDM_ERR_MAX, "%s", idm_strerror(rc));
        goto out;
    }
    rc = ctr(hsm_session_crypto(hs), &k, j->token_ct, (const uint8_t *)o->admin_token, tlen, j->token_ct + 16);
    if (rc != IDM_OK) {
        snprintf(err, IDM_ERR_MAX, "key service: could not encrypt the admin token");
        goto out;
    }
    j->token_ct_len = 16 + tlen;
    js_job jj = {j, o->actor, o->ca_pem};
    ss = store_idm_txn(db, js_fn, &jj);
    if (ss != STORE_OK) {
        rc = from_store(ss);
        snprintf(err, IDM_ERR_MAX, "join server %s: %s", o->id, ss == STORE_ERR_EXISTS ? "exists already"
                                                                 : ss == STORE_ERR_ARGUMENT ? "invalid id"
                                                                                            : store_strerror(ss));
    }
out:
    hsm_key_release(hs, &k);
    if (o->admin_token != NULL)
        lw_secure_wipe(o->admin_token, tlen);
    free(j);
    return rc;
}

idm_status idm_js_token(hsm_session *hs, const store_idm_js *j, char *out, size_t cap)
{
    if (j->token_ct_len <= 16 || cap < j->token_ct_len - 16 + 1)
        return IDM_ERR_ARGUMENT;
    lw_key k;
    if (hsm_key_unwrap_blob(hs, HSM_KEY_WORKING, j->token_key.data, j->token_key.len, &k) != HSM_OK)
        return IDM_ERR_HSM;
    size_t n = j->token_ct_len - 16;
    idm_status rc = ctr(hsm_session_crypto(hs), &k, j->token_ct, j->token_ct + 16, n, (uint8_t *)out);
    hsm_key_release(hs, &k);
    out[rc == IDM_OK ? n : 0] = '\0';
    return rc;
}


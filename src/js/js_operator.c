/*
 * js_operator.c - onboarding network operators: checks, rows and audit.
 *
 * An operator is a row of the database (store_operator.h), not a ferry.conf
 * peer: the IDM's operator changes it with `ferry operator` or the admin
 * API while `serve` runs, and the next request from that NetID sees it.
 * Every change appends its entry to the IDM's hash-chained audit log in the
 * same transaction (docs/idm-lifecycle.md, "Audit log"): onboarding and
 * suspending operators is who may receive session keys, which an auditor
 * must be able to reconstruct.
 *
 * What is checked before anything is written: a 24-bit NetID, a name and
 * labels of printable characters, at least one credential for an operator
 * that talks to the Join Server directly, a CA bundle that parses to at
 * least one certificate, and the KEK label present in the keks table
 * (`ferry kek import` first: a label that names no KEK would make every
 * join of that operator fail).
 */
#include "js/js.h"
#include "js/js_internal.h"
#include "store/store_idm.h"

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool js_net_id_parse(const char *text, uint32_t *out)
{
    if (text == NULL)
        return false;
    if (text[0] == '0' && (text[1] == 'x' || text[1] == 'X'))
        text += 2;
    uint8_t b[3];
    if (strlen(text) != 6 || lw_hex_decode(text, 6, b, 3) != LW_OK)
        return false;
    *out = (uint32_t)b[0] << 16 | (uint32_t)b[1] << 8 | b[2];
    return true;
}

static bool printable(const char *t, size_t max)
{
    size_t n = strnlen(t, max + 1);
    if (n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)t[i] < 0x20 || (unsigned char)t[i] == 0x7f)
            return false;
    return true;
}

static js_status check_ca(const char *pem, char err[JS_ERR_MAX])
{
    size_t n = strnlen(pem, JS_OPERATOR_CA_MAX + 1);
    if (n == 0 || n > JS_OPERATOR_CA_MAX) {
        js_errf(err, "client CA bundle: empty or larger than %d bytes", JS_OPERATOR_CA_MAX);
        return JS_ERR_INPUT;
    }
    gnutls_x509_trust_list_t tl;
    int added = -1;
    if (gnutls_x509_trust_list_init(&tl, 0) == GNUTLS_E_SUCCESS) {
        gnutls_datum_t d = {(unsigned char *)(uintptr_t)pem, (unsigned)n};
        added = gnutls_x509_trust_list_add_trust_mem(tl, &d, NULL, GNUTLS_X509_FMT_PEM, 0, 0);
        gnutls_x509_trust_list_deinit(tl, 1);
    }
    if (added <= 0) {
        js_errf(err, "client CA bundle: no PEM certificate could be read");
        return JS_ERR_INPUT;
    }
    return JS_OK;
}

static void net_id_text(uint32_t net_id, char out[7])
{
    snprintf(out, 7, "%06X", (unsigned)(net_id & 0xFFFFFF));
}

/* ---------------------------------------------------------------- writes */

typedef struct op_change {
    const char *action;           /* "operator.add", ... */
    const char *actor;
    uint32_t net_id;
    const store_operator *op;     /* add */
    const char *client_ca;        /* add */
    int suspend;                  /* set: 1 suspend, 0 resume */
    char details[512];
} op_change;

static store_status change_txn(store *s, void *ctx)
{
    op_change *c = ctx;
    store_status st;
    if (strcmp(c->action, "operator.add") == 0)
        st = store_operator_put(s, c->op, c->client_ca);
    else if (strcmp(c->action, "operator.remove") == 0)
        st = store_operator_delete(s, c->net_id);
    else
        st = store_operator_set_suspended(s, c->net_id, c->suspend == 1);
    if (st != STORE_OK)
        return st;
    char subject[7];
    net_id_text(c->net_id, subject);
    store_idm_audit_record rec = {
        .actor = c->actor != NULL ? c->actor : "cli",
        .action = c->action,
        .subject = subject,
        .details = c->details,
    };
    return store_idm_audit_append(s, &rec, NULL);
}

static js_status run_change(store *db, op_change *c, char err[JS_ERR_MAX])
{
    store_status ss = store_idm_txn(db, change_txn, c);
    char id[7];
    net_id_text(c->net_id, id);
    switch (ss) {
    case STORE_OK:
        return JS_OK;
    case STORE_ERR_EXISTS:
        js_errf(err, "operator %s is onboarded already", id);
        return JS_ERR_EXISTS;
    case STORE_ERR_NOT_FOUND:
        js_errf(err, "no operator %s", id);
        return JS_ERR_NOT_FOUND;
    case STORE_ERR_ARGUMENT:
        js_errf(err, "operator %s: a field is out of range", id);
        return JS_ERR_INPUT;
    default:
        js_errf(err, "database: %s", store_strerror(ss));
        return JS_ERR_STORE;
    }
}

js_status js_operator_add(store *db, const js_operator_opts *o, char err[JS_ERR_MAX])
{
    err[0] = '\0';
    if (db == NULL || o == NULL)
        return JS_ERR_ARGUMENT;
    const char *name = o->name != NULL ? o->name : "";
    const char *kek = o->kek_label != NULL ? o->kek_label : "";
    bool has_ca = o->client_ca != NULL;
    if (o->net_id > 0xFFFFFF) {
        js_errf(err, "NetID: 24 bits (6 hex digits)");
        return JS_ERR_INPUT;
    }
    if (!printable(name, STORE_OPERATOR_NAME_MAX)) {
        js_errf(err, "name: at most %d printable characters", STORE_OPERATOR_NAME_MAX);
        return JS_ERR_INPUT;
    }
    if (o->reach != STORE_OPERATOR_DIRECT && o->reach != STORE_OPERATOR_HUB) {
        js_errf(err, "reach: direct or hub");
        return JS_ERR_INPUT;
    }
    if (o->reach == STORE_OPERATOR_DIRECT && !o->has_token && !has_ca) {
        js_errf(err, "an operator that reaches the Join Server directly needs a credential: a bearer token, "
                     "a client CA bundle, or both");
        return JS_ERR_INPUT;
    }
    if (kek[0] == '\0' ? o->reach == STORE_OPERATOR_DIRECT : !printable(kek, STORE_LABEL_MAX)) {
        js_errf(err, "KEK label: required for a direct operator (the KEK its session keys are wrapped under), "
                     "at most %d printable characters", STORE_LABEL_MAX);
        return JS_ERR_INPUT;
    }
    const char *answer_url = o->answer_url != NULL ? o->answer_url : "";
    const char *answer_token = o->answer_token_file != NULL ? o->answer_token_file : "";
    if ((answer_url[0] != '\0' && strncmp(answer_url, "http://", 7) != 0 && strncmp(answer_url, "https://", 8) != 0) ||
        !printable(answer_url, STORE_OPERATOR_URL_MAX)) {
        js_errf(err, "answer URL: http:// or https://, at most %d printable characters", STORE_OPERATOR_URL_MAX);
        return JS_ERR_INPUT;
    }
    if ((answer_token[0] != '\0' && (answer_url[0] == '\0' || answer_token[0] != '/')) ||
        !printable(answer_token, STORE_OPERATOR_PATH_MAX)) {
        js_errf(err, "answer token file: an absolute path, and only with an answer URL");
        return JS_ERR_INPUT;
    }
    js_status st = has_ca ? check_ca(o->client_ca, err) : JS_OK;
    if (st != JS_OK)
        return st;
    if (kek[0] != '\0') {
        store_kek k;
        store_status ss = store_kek_get(db, kek, &k);
        lw_secure_wipe(&k, sizeof(k));
        if (ss != STORE_OK) {
            js_errf(err, "KEK \"%.64s\": %s (import it first: ferry -d DIR kek import %.64s)", kek,
                    ss == STORE_ERR_NOT_FOUND ? "not known to this Join Server" : store_strerror(ss), kek);
            return ss == STORE_ERR_NOT_FOUND ? JS_ERR_NOT_FOUND : JS_ERR_STORE;
        }
    }
    store_operator op;
    memset(&op, 0, sizeof(op));
    op.net_id = o->net_id;
    js_copy(op.name, sizeof(op.name), name);
    op.has_nsid = o->has_nsid;
    op.nsid = o->nsid;
    op.has_token = o->has_token;
    if (o->has_token)
        memcpy(op.token_sha256, o->token_sha256, JS_HASH_LEN);
    op.has_client_ca = has_ca;
    if (has_ca)
        js_sha256(o->client_ca, strlen(o->client_ca), op.client_ca_sha256);
    js_copy(op.kek_label, sizeof(op.kek_label), kek);
    op.reach = o->reach;
    js_copy(op.answer_url, sizeof(op.answer_url), answer_url);
    js_copy(op.answer_token_file, sizeof(op.answer_token_file), answer_token);
    op_change c = {.action = "operator.add", .actor = o->actor, .net_id = o->net_id, .op = &op,
                   .client_ca = o->client_ca};
    json_t *d = json_pack("{s:s, s:s, s:s, s:b, s:b}", "name", name, "reach", store_operator_reach_name(o->reach),
                          "kek_label", kek, "token", o->has_token, "client_ca", has_ca);
    /* json_dumpb into our buffer: the CLI gives jansson an allocator of its
     * own (cli_json.c), so a json_dumps result is not ours to free() */
    size_t dn = d != NULL ? json_dumpb(d, c.details, sizeof(c.details) - 1, JSON_COMPACT | JSON_SORT_KEYS) : 0;
    json_decref(d);
    if (dn == 0 || dn >= sizeof(c.details))
        return JS_ERR_NOMEM;
    c.details[dn] = '\0';
    st = run_change(db, &c, err);
    lw_secure_wipe(&op, sizeof(op));
    return st;
}

js_status js_operator_set_suspended(store *db, uint32_t net_id, bool suspend, const char *actor, char err[JS_ERR_MAX])
{
    err[0] = '\0';
    if (db == NULL)
        return JS_ERR_ARGUMENT;
    op_change c = {.action = suspend ? "operator.suspend" : "operator.resume", .actor = actor, .net_id = net_id,
                   .suspend = suspend ? 1 : 0};
    snprintf(c.details, sizeof(c.details), "{\"state\":\"%s\"}", suspend ? "suspended" : "active");
    return run_change(db, &c, err);
}

js_status js_operator_remove(store *db, uint32_t net_id, const char *actor, char err[JS_ERR_MAX])
{
    err[0] = '\0';
    if (db == NULL)
        return JS_ERR_ARGUMENT;
    op_change c = {.action = "operator.remove", .actor = actor, .net_id = net_id};
    snprintf(c.details, sizeof(c.details), "{}");
    return run_change(db, &c, err);
}

/* ---------------------------------------------------------------- reads */

js_status js_operator_json(store *db, const store_operator *op, bool with_counts, char *out, size_t cap, size_t *len)
{
    char id[7], nsid[17];
    net_id_text(op->net_id, id);
    snprintf(nsid, sizeof(nsid), "%016llX", (unsigned long long)op->nsid);
    json_t *o = json_object();
    int e = o == NULL;
    e |= json_object_set_new(o, "NetID", json_string(id));
    e |= json_object_set_new(o, "Name", json_string(op->name));
    e |= json_object_set_new(o, "NSID", op->has_nsid ? json_string(nsid) : json_null());
    e |= json_object_set_new(o, "State", json_string(op->suspended ? "suspended" : "active"));
    e |= json_object_set_new(o, "Reach", json_string(store_operator_reach_name(op->reach)));
    e |= json_object_set_new(o, "KEKLabel", json_string(op->kek_label));
    if (op->answer_url[0] != '\0')
        e |= json_object_set_new(o, "AnswerURL", json_string(op->answer_url));
    e |= json_object_set_new(o, "Token", json_boolean(op->has_token));
    e |= json_object_set_new(o, "ClientCA", json_boolean(op->has_client_ca));
    e |= json_object_set_new(o, "CreatedAt", json_integer((json_int_t)op->created_at));
    e |= json_object_set_new(o, "UpdatedAt", json_integer((json_int_t)op->updated_at));
    js_status st = JS_OK;
    if (with_counts && e == 0) {
        store_operator_count c[STORE_OPERATOR_COUNTS_MAX];
        size_t n = 0;
        if (store_operator_counts(db, op->net_id, c, STORE_OPERATOR_COUNTS_MAX, &n) != STORE_OK) {
            st = JS_ERR_STORE;
        } else {
            uint64_t act = 0, hns = 0;
            json_t *ref = json_object();
            json_t *by = json_object();
            e |= ref == NULL || by == NULL;
            for (size_t i = 0; i < n && e == 0; i++) {
                bool join = strcmp(c[i].request, "join") == 0;
                if (strcmp(c[i].result, "Success") == 0) {
                    *(join ? &act : &hns) += c[i].n;
                    continue;
                }
                json_t *prev = json_object_get(ref, c[i].result);
                uint64_t sum = c[i].n + (prev != NULL ? (uint64_t)json_integer_value(prev) : 0);
                e |= json_object_set_new(ref, c[i].result, json_integer((json_int_t)sum));
                json_t *kind = json_object_get(by, join ? "JoinReq" : "HomeNSReq");
                if (kind == NULL) {
                    kind = json_object();
                    e |= json_object_set_new(by, join ? "JoinReq" : "HomeNSReq", kind);
                }
                e |= json_object_set_new(kind, c[i].result, json_integer((json_int_t)c[i].n));
            }
            e |= json_object_set_new(o, "Activations", json_integer((json_int_t)act));
            e |= json_object_set_new(o, "HomeNSAnswers", json_integer((json_int_t)hns));
            e |= json_object_set_new(o, "Refusals", ref);
            e |= json_object_set_new(o, "RefusalsByRequest", by);
        }
    }
    if (st == JS_OK && e != 0)
        st = JS_ERR_NOMEM;
    if (st == JS_OK) {
        size_t n = json_dumpb(o, out, cap, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (n == 0 || n >= cap) {
            st = JS_ERR_ARGUMENT;
        } else {
            out[n] = '\0';
            *len = n;
        }
    }
    json_decref(o);
    return st;
}

js_status js_operator_trust_pem(store *db, char **pem, size_t *len)
{
    store_operator page[32];
    uint32_t after = 0;
    bool first = true;
    char *ca = malloc(JS_OPERATOR_CA_MAX + 1);
    if (ca == NULL)
        return JS_ERR_NOMEM;
    js_status st = JS_OK;
    for (;;) {
        size_t count = 0;
        if (store_operator_list(db, first ? NULL : &after, page, 32, &count) != STORE_OK) {
            st = JS_ERR_STORE;
            break;
        }
        first = false;
        for (size_t i = 0; i < count && st == JS_OK; i++) {
            size_t n = 0;
            if (!page[i].has_client_ca)
                continue;
            if (store_operator_client_ca(db, page[i].net_id, ca, JS_OPERATOR_CA_MAX + 1, &n) != STORE_OK) {
                st = JS_ERR_STORE;
                break;
            }
            char *grown = realloc(*pem, *len + n + 2);
            if (grown == NULL) {
                st = JS_ERR_NOMEM;
                break;
            }
            *pem = grown;
            memcpy(*pem + *len, ca, n);
            *len += n;
            (*pem)[(*len)++] = '\n';
            (*pem)[*len] = '\0';
        }
        if (st != JS_OK || count < 32)
            break;
        after = page[31].net_id;
    }
    free(ca);
    return st;
}

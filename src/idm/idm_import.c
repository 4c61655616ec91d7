/*
 * idm_import.c - a manufacturing batch into the IDM, all or nothing.
 *
 * The whole batch is one database transaction: every line is read, its keys
 * translated inside the token, its rows written, then one audit entry, then
 * COMMIT. A bad line anywhere rolls back everything before it, so an
 * operator fixes the file and runs the same command again; a batch that was
 * imported already imports nothing (each SE found is compared, not
 * rewritten). Why not a transaction per chunk: "all or nothing per batch" is
 * the contract, and SQLite and PostgreSQL both hold a million-row
 * transaction in their journal, not in our memory.
 *
 * Memory: one line buffer (getline), one parsed line, a few KEK handles.
 * The file is hashed as it is read; the hash names the batch in the audit.
 *
 * Keys: hsm_import_wrapped unwraps each envelope under its KEK inside the
 * token and rewraps it under the master key; the key is never in process
 * memory. The wrapped envelopes and the owner token are wiped after use.
 */
#include "idm/idm.h"
#include "idm/idm_roaming.h"
#include "idm/idm_tenant.h"
#include "store/store_idm_tenant.h"
#include "lorawan/lw_secure.h"

#include <mbedtls/sha256.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define KEK_CACHE 8

static void errf(char err[IDM_ERR_MAX], const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void errf(char err[IDM_ERR_MAX], const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, IDM_ERR_MAX, fmt, ap);
    va_end(ap);
}

typedef struct kek_entry {
    char label[STORE_LABEL_MAX + 1];
    lw_key key;                   /* session object, KEK role */
} kek_entry;

typedef struct import_run {
    idm_token *tok;
    hsm_session *sess;            /* tok->s, or NULL after a failed reopen */
    FILE *in;
    const idm_import_opts *o;
    idm_import_summary *sum;
    char *err;
    idm_status st;                /* why the transaction function failed */
    kek_entry keks[KEK_CACHE];
    size_t nkeks;
    char *buf;                    /* getline's buffer, reused */
    size_t cap;
    idm_batch_line line;
    const char *operators;        /* o->operators, "*" for NULL */
    const char *maker;            /* o->maker, "" for NULL */
} import_run;

static void keks_release(import_run *r)
{
    for (size_t i = 0; i < r->nkeks; i++)
        if (r->sess != NULL)
            hsm_key_release(r->sess, &r->keks[i].key);
    memset(r->keks, 0, sizeof r->keks);
    r->nkeks = 0;
}

/* Closes and reopens the module so that SoftHSM2 frees its destroyed
 * objects (idm_token); the KEK cache is dropped and refilled on demand. */
static idm_status recycle(import_run *r)
{
    idm_token *t = r->tok;
    if (t->cfg == NULL)
        return IDM_OK;
    keks_release(r);
    hsm_session_close(t->s);
    hsm_close(t->h);
    t->s = NULL;
    t->h = NULL;
    r->sess = NULL;
    hsm_diag diag = {0};
    hsm_status hs = hsm_open(t->cfg, &t->h, &diag);
    if (hs == HSM_OK)
        hs = hsm_session_open(t->h, &t->s);
    if (hs != HSM_OK) {
        char line[200];
        errf(r->err, "reopening the key service: %s", hsm_diag_format(hs, &diag, line, sizeof line));
        return IDM_ERR_HSM;
    }
    r->sess = t->s;
    return IDM_OK;
}

/* The KEK named `label` as a KEK-role handle: cached, or unwrapped from the
 * store's keks table (where `ferry kek import` put it). */
static idm_status kek_for(import_run *r, store *db, const char *label, const lw_key **out, uint64_t lineno)
{
    for (size_t i = 0; i < r->nkeks; i++) {
        if (strcmp(r->keks[i].label, label) == 0) {
            *out = &r->keks[i].key;
            return IDM_OK;
        }
    }
    store_kek k;
    store_status ss = store_kek_get(db, label, &k);
    if (ss != STORE_OK) {
        errf(r->err, "line %llu: KEK \"%s\" %s (import it with: ferry -d DIR kek import %s)",
             (unsigned long long)lineno, label, ss == STORE_ERR_NOT_FOUND ? "is not known" : store_strerror(ss),
             label);
        return ss == STORE_ERR_NOT_FOUND ? IDM_ERR_KEK : IDM_ERR_STORE;
    }
    if (r->nkeks == KEK_CACHE) {
        hsm_key_release(r->sess, &r->keks[0].key);
        memmove(&r->keks[0], &r->keks[1], sizeof(kek_entry) * (KEK_CACHE - 1));
        r->nkeks--;
    }
    kek_entry *e = &r->keks[r->nkeks];
    memset(e, 0, sizeof *e);
    hsm_status hs = hsm_key_unwrap_blob(r->sess, HSM_KEY_KEK, k.key.data, k.key.len, &e->key);
    lw_secure_wipe(&k, sizeof k);
    if (hs != HSM_OK) {
        errf(r->err, "line %llu: KEK \"%s\" does not unwrap under this token's master key: %s",
             (unsigned long long)lineno, label, hsm_strerror(hs));
        return IDM_ERR_HSM;
    }
    memcpy(e->label, label, strlen(label) + 1);
    r->nkeks++;
    *out = &e->key;
    return IDM_OK;
}

static idm_status translate(import_run *r, store *db, const idm_batch_key *k, const char *name, store_blob *out,
                            uint64_t lineno)
{
    const lw_key *kek;
    idm_status st = kek_for(r, db, k->kek_label, &kek, lineno);
    if (st != IDM_OK)
        return st;
    hsm_status hs = hsm_import_wrapped(r->sess, kek, k->wrapped, HSM_BLOB_LEN, out->data, sizeof out->data, &out->len);
    if (hs == HSM_OK)
        return IDM_OK;
    if (hs == HSM_ERR_WRAPPED_INVALID) {
        errf(r->err, "line %llu: %s does not unwrap under KEK \"%s\" (wrong KEK or corrupted)",
             (unsigned long long)lineno, name, k->kek_label);
        return IDM_ERR_KEK;
    }
    errf(r->err, "line %llu: %s: key service: %s", (unsigned long long)lineno, name, hsm_strerror(hs));
    return IDM_ERR_HSM;
}

static void hash_token(const uint8_t token[IDM_OWNER_TOKEN_LEN], uint8_t out[STORE_IDM_HASH_LEN])
{
    (void)mbedtls_sha256_ret(token, IDM_OWNER_TOKEN_LEN, out, 0);
}

/* One SE line: compare with what the IDM holds, or translate and insert. */
static idm_status import_line(import_run *r, store *db, uint64_t lineno)
{
    idm_batch_line *l = &r->line;
    uint8_t token_hash[STORE_IDM_HASH_LEN];
    hash_token(l->owner_token, token_hash);
    lw_secure_wipe(l->owner_token, sizeof l->owner_token);

    store_idm_se have;
    store_status ss = store_idm_se_get(db, l->dev_eui, &have);
    if (ss == STORE_OK) {
        if (have.join_eui != l->join_eui || have.serial != l->serial || have.mac_version != l->mac_version ||
            have.mls_msg_max != (l->mls_msg_max != 0 ? l->mls_msg_max : 1024) ||
            !lw_secure_equal(have.owner_token_hash, token_hash, STORE_IDM_HASH_LEN)) {
            errf(r->err, "line %llu: DevEUI %016llX is held already with a different JoinEUI, serial, MAC version, "
                         "MLSMessageMax or owner token", (unsigned long long)lineno, (unsigned long long)l->dev_eui);
            return IDM_ERR_CONFLICT;
        }
        /* the operators chosen for the batch are part of what was imported:
         * a re-import must not say it changed them when it did not */
        if (strcmp(have.maker, r->maker) != 0) {
            errf(r->err, "line %llu: DevEUI %016llX was imported with --maker %s, not %s", (unsigned long long)lineno,
                 (unsigned long long)l->dev_eui, have.maker[0] != '\0' ? have.maker : "(none)",
                 r->maker[0] != '\0' ? r->maker : "(none)");
            return IDM_ERR_CONFLICT;
        }
        if (strcmp(have.operators, r->operators) != 0) {
            errf(r->err, "line %llu: DevEUI %016llX was imported with --operators %s, not %s",
                 (unsigned long long)lineno, (unsigned long long)l->dev_eui,
                 strcmp(have.operators, "*") == 0 ? "* (all)" : have.operators,
                 strcmp(r->operators, "*") == 0 ? "* (all)" : r->operators);
            return IDM_ERR_CONFLICT;
        }
        r->sum->already++;
        return IDM_OK;
    }
    if (ss != STORE_ERR_NOT_FOUND) {
        errf(r->err, "line %llu: database: %s", (unsigned long long)lineno, store_strerror(ss));
        return IDM_ERR_STORE;
    }

    store_device d;
    store_idm_se e;
    memset(&d, 0, sizeof d);
    memset(&e, 0, sizeof e);
    idm_status st = translate(r, db, &l->nwk_key, "NwkKey", &d.nwk_key, lineno);
    if (st == IDM_OK && l->mac_version == STORE_MAC_1_1)
        st = translate(r, db, &l->app_key, "AppKey", &d.app_key, lineno);
    if (st == IDM_OK)
        st = translate(r, db, &l->mls_key, "MLSKey", &e.mls_key, lineno);
    if (st == IDM_OK) {
        d.dev_eui = e.dev_eui = l->dev_eui;
        d.join_eui = e.join_eui = l->join_eui;
        d.mac_version = e.mac_version = l->mac_version;
        e.serial = l->serial;
        d.home_net_id = r->o->home_net_id;
        snprintf(d.ns_kek_label, sizeof d.ns_kek_label, "%s", r->o->ns_kek_label);
        snprintf(d.as_kek_label, sizeof d.as_kek_label, "%s", r->o->as_kek_label);
        snprintf(d.as_id, sizeof d.as_id, "%s", r->o->as_id);
        memcpy(e.owner_token_hash, token_hash, STORE_IDM_HASH_LEN);
        e.state = IDM_STATE_MANUFACTURED;
        snprintf(e.operators, sizeof e.operators, "%s", r->operators);
        snprintf(e.maker, sizeof e.maker, "%s", r->maker);
        e.mls_msg_max = l->mls_msg_max;
        ss = store_device_put(db, &d, false);
        if (ss == STORE_ERR_EXISTS) {
            errf(r->err, "line %llu: the Join Server has a device %016llX already (not from a batch)",
                 (unsigned long long)lineno, (unsigned long long)l->dev_eui);
            st = IDM_ERR_CONFLICT;
        } else if (ss == STORE_OK) {
            ss = store_idm_se_put(db, &e);
        }
        if (st == IDM_OK && ss != STORE_OK) {
            errf(r->err, "line %llu: database: %s", (unsigned long long)lineno, store_strerror(ss));
            st = IDM_ERR_STORE;
        }
    }
    lw_secure_wipe(&d, sizeof d);
    lw_secure_wipe(&e, sizeof e);
    if (st == IDM_OK)
        r->sum->imported++;
    return st;
}

static bool blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
            return false;
    return true;
}

static store_status audit(import_run *r, store *db)
{
    char hash_hex[65];
    if (lw_hex_encode(r->sum->batch_sha256, 32, hash_hex, sizeof hash_hex) != LW_OK)
        return STORE_ERR_ARGUMENT;
    json_t *det = json_pack("{s:I,s:s,s:I,s:I,s:s}", "already", (json_int_t)r->sum->already, "batch_sha256", hash_hex,
                            "imported", (json_int_t)r->sum->imported, "lines", (json_int_t)r->sum->lines, "operators",
                            r->operators);
    char *details = det != NULL ? idm_audit_text(det) : NULL;
    json_decref(det);
    if (details == NULL)
        return STORE_ERR_NOMEM;
    store_idm_audit_record rec = {
        .actor = r->o->actor != NULL ? r->o->actor : "cli",
        .action = "idm.import",
        .subject = hash_hex,
        .details = details,
    };
    store_status st = store_idm_audit_append(db, &rec, &r->sum->audit_seq);
    idm_json_free(details);
    return st;
}

/* The transaction: run again from the top of the file on a retry. */
static store_status import_txn(store *db, void *ctx)
{
    import_run *r = ctx;
    idm_import_summary *sum = r->sum;
    memset(sum, 0, sizeof *sum);
    r->err[0] = '\0';
    r->st = IDM_OK;
    if (r->sess == NULL) {
        errf(r->err, "the key service is closed");
        r->st = IDM_ERR_HSM;
        return STORE_ERR_ABORTED;
    }
    if (fseek(r->in, 0, SEEK_SET) != 0) {
        errf(r->err, "the batch must be a regular file (it is read again if the transaction is retried)");
        r->st = IDM_ERR_IO;
        return STORE_ERR_ABORTED;
    }
    mbedtls_sha256_context h;
    mbedtls_sha256_init(&h);
    (void)mbedtls_sha256_starts_ret(&h, 0);
    uint64_t lineno = 0;
    ssize_t n;
    while (r->st == IDM_OK && (n = getline(&r->buf, &r->cap, r->in)) >= 0) {
        lineno++;
        (void)mbedtls_sha256_update_ret(&h, (const unsigned char *)r->buf, (size_t)n);
        if (blank(r->buf, (size_t)n)) {
            lw_secure_wipe(r->buf, (size_t)n);
            continue;
        }
        char perr[IDM_ERR_MAX];
        r->st = idm_batch_line_parse(r->buf, (size_t)n, &r->line, perr);
        lw_secure_wipe(r->buf, (size_t)n);
        if (r->st != IDM_OK) {
            errf(r->err, "line %llu: %s", (unsigned long long)lineno, perr);
            break;
        }
        if (r->o->join_euis != NULL &&
            !js_join_eui_ranges_match(r->o->join_euis, r->o->n_join_euis, r->line.join_eui)) {
            errf(r->err, "line %llu: JoinEUI %016llX is not served by this deployment's Join Server "
                 "(`ferry joineui add`)", (unsigned long long)lineno, (unsigned long long)r->line.join_eui);
            r->st = IDM_ERR_INPUT;
            lw_secure_wipe(&r->line, sizeof r->line);
            break;
        }
        sum->lines++;
        r->st = import_line(r, db, lineno);
        lw_secure_wipe(&r->line, sizeof r->line);
        unsigned every = r->tok->recycle_every != 0 ? r->tok->recycle_every : IDM_RECYCLE_EVERY;
        if (r->st == IDM_OK && sum->lines % every == 0)
            r->st = recycle(r);
    }
    if (r->st == IDM_OK && ferror(r->in)) {
        errf(r->err, "reading the batch failed after line %llu", (unsigned long long)lineno);
        r->st = IDM_ERR_IO;
    }
    (void)mbedtls_sha256_finish_ret(&h, sum->batch_sha256);
    mbedtls_sha256_free(&h);
    if (r->st == IDM_OK && sum->lines == 0) {
        errf(r->err, "the batch holds no SE");
        r->st = IDM_ERR_INPUT;
    }
    if (r->st == IDM_OK) {
        store_status ss = audit(r, db);
        if (ss != STORE_OK) {
            errf(r->err, "audit log: %s", store_strerror(ss));
            r->st = IDM_ERR_STORE;
            return ss == STORE_ERR_BUSY ? ss : STORE_ERR_ABORTED;
        }
    }
    return r->st == IDM_OK ? STORE_OK : STORE_ERR_ABORTED;
}

idm_status idm_import_batch(idm_token *t, store *db, FILE *in, const idm_import_opts *o, idm_import_summary *out,
                            char err[IDM_ERR_MAX])
{
    err[0] = '\0';
    if (t == NULL || t->s == NULL || db == NULL || in == NULL || o == NULL || out == NULL || o->home_net_id > 0xFFFFFF ||
        o->ns_kek_label == NULL || o->as_kek_label == NULL || o->as_id == NULL ||
        (o->operators != NULL && strlen(o->operators) > STORE_IDM_OPERATORS_MAX))
        return IDM_ERR_ARGUMENT;
    if (o->operators != NULL && o->operators[0] != '\0') {
        bool all = false;
        uint32_t ids[JS_SE_OPERATORS_MAX];
        size_t n = 0;
        if (idm_net_id_list_parse(o->operators, &all, ids, JS_SE_OPERATORS_MAX, &n) != IDM_OK) {
            errf(err, "operators: \"*\" or NetIDs (6 uppercase hex digits) separated by commas");
            return IDM_ERR_ARGUMENT;
        }
    }
    if (o->maker != NULL && o->maker[0] != '\0') {
        store_idm_tenant mk;
        store_status ms = store_idm_tenant_get(db, o->maker, &mk);
        if (ms != STORE_OK || mk.kind != STORE_IDM_TENANT_MAKER) {
            errf(err, "maker %s: %s", o->maker,
                 ms == STORE_OK ? "is not a tenant of kind maker" : ms == STORE_ERR_NOT_FOUND ? "no such tenant" : store_strerror(ms));
            return ms == STORE_OK || ms == STORE_ERR_NOT_FOUND ? IDM_ERR_ARGUMENT : IDM_ERR_STORE;
        }
    }
    import_run *r = calloc(1, sizeof *r);
    if (r == NULL)
        return IDM_ERR_NOMEM;
    r->tok = t;
    r->maker = o->maker != NULL ? o->maker : "";
    r->sess = t->s;
    r->in = in;
    r->o = o;
    r->operators = o->operators != NULL && o->operators[0] != '\0' ? o->operators : "*";
    r->sum = out;
    r->err = err;
    store_status ss = store_idm_txn(db, import_txn, r);
    idm_status st = r->st;
    if (ss != STORE_OK && st == IDM_OK) {
        errf(err, "database: %s%s%s", store_strerror(ss), store_last_error(db)[0] ? ": " : "", store_last_error(db));
        st = IDM_ERR_STORE;
    }
    if (st != IDM_OK) {
        uint8_t keep[32];
        memcpy(keep, out->batch_sha256, sizeof keep);
        memset(out, 0, sizeof *out); /* nothing was imported */
        memcpy(out->batch_sha256, keep, sizeof keep);
    }
    keks_release(r);
    if (r->buf != NULL)
        lw_secure_wipe(r->buf, r->cap);
    free(r->buf);
    lw_secure_wipe(r, sizeof *r);
    free(r);
    return st;
}

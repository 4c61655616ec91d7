/*
 * store.c - opening a store, its migrations, transactions and the small
 * helpers every part of the layer shares.
 *
 * Migrations are versioned and applied at open, inside one write
 * transaction that first excludes every other process opening the same
 * database (SQLite's writer lock, a PostgreSQL advisory lock), so two
 * servers starting together migrate once. A database whose schema_version
 * is above what this binary knows is refused untouched: an older binary
 * must not write into a schema it does not understand.
 */
#include "store/store_driver.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const MESSAGES[STORE_STATUS_COUNT] = {
    [STORE_OK] = "success",
    [STORE_ERR_ARGUMENT] = "invalid argument",
    [STORE_ERR_CONFIG] = "database location not understood (expected sqlite:PATH or postgresql://...)",
    [STORE_ERR_OPEN] = "the database could not be opened",
    [STORE_ERR_SCHEMA_NEWER] = "the database schema is newer than this ferry knows",
    [STORE_ERR_MIGRATION] = "a database migration failed",
    [STORE_ERR_NOT_FOUND] = "not found",
    [STORE_ERR_EXISTS] = "already exists",
    [STORE_ERR_REPLAY] = "nonce or counter already used (replay)",
    [STORE_ERR_JOIN_NONCE_EXHAUSTED] = "the device has used every JoinNonce",
    [STORE_ERR_NOT_ALLOWED] = "not allowed for the device's MAC version",
    [STORE_ERR_NO_SESSION] = "a rejoin of type 0 or 2 needs a session to rejoin from",
    [STORE_ERR_ABORTED] = "the session could not be made; nothing was changed",
    [STORE_ERR_BUSY] = "the database is busy",
    [STORE_ERR_CORRUPT] = "the database holds an inconsistent record",
    [STORE_ERR_NOMEM] = "out of memory",
    [STORE_ERR_BACKEND] = "database error",
    [STORE_ERR_FULL] = "a capacity of the database is reached",
};

const char *store_strerror(store_status st)
{
    if ((unsigned)st >= STORE_STATUS_COUNT || MESSAGES[st] == NULL)
        return "unknown store status";
    return MESSAGES[st];
}

static const char *const MAC_NAMES[STORE_MAC_COUNT] = {"1.0.0", "1.0.1", "1.0.2", "1.0.3", "1.0.4", "1.1"};

const char *store_mac_version_name(store_mac_version v)
{
    return (unsigned)v < STORE_MAC_COUNT ? MAC_NAMES[v] : "?";
}

store_status store_mac_version_parse(const char *text, store_mac_version *out)
{
    if (text == NULL || out == NULL)
        return STORE_ERR_ARGUMENT;
    if (strcmp(text, "1.1.0") == 0) { /* ChirpStack's spelling of 1.1 */
        *out = STORE_MAC_1_1;
        return STORE_OK;
    }
    for (int v = 0; v < STORE_MAC_COUNT; v++) {
        if (strcmp(text, MAC_NAMES[v]) == 0) {
            *out = (store_mac_version)v;
            return STORE_OK;
        }
    }
    return STORE_ERR_ARGUMENT;
}

bool store_mac_version_counts_dev_nonce(store_mac_version v)
{
    return v == STORE_MAC_1_0_4 || v == STORE_MAC_1_1;
}

void store_eui_text(uint64_t eui, char out[17])
{
    static const char HEX[] = "0123456789ABCDEF";
    for (int i = 15; i >= 0; i--) {
        out[i] = HEX[eui & 0xf];
        eui >>= 4;
    }
    out[16] = '\0';
}

typedef struct text_out {
    char *out;
    size_t cap, len;
    bool found;
} text_out;

static store_status text_row(void *ctx, const store_value *c, size_t n)
{
    text_out *o = ctx;
    if (n < 1 || c[0].type != STORE_V_TEXT)
        return STORE_ERR_CORRUPT;
    size_t len = strlen(c[0].text);
    if (len >= o->cap)
        return STORE_ERR_ARGUMENT;
    memcpy(o->out, c[0].text, len + 1);
    o->len = len;
    o->found = true;
    return STORE_OK;
}

store_status store_read_text(store *s, const char *sql, const store_value *params, size_t n, char *out, size_t cap,
                             size_t *len)
{
    if (s == NULL || out == NULL || cap == 0 || len == NULL)
        return STORE_ERR_ARGUMENT;
    out[0] = '\0';
    *len = 0;
    text_out o = {.out = out, .cap = cap};
    store_status st = s->drv->exec(s, sql, params, n, text_row, &o, NULL);
    if (st == STORE_OK && !o.found)
        st = STORE_ERR_NOT_FOUND;
    if (st == STORE_OK)
        *len = o.len;
    return st;
}

typedef struct int_out {
    int64_t v;
    bool found;
} int_out;

static store_status int_out_row(void *ctx, const store_value *c, size_t n)
{
    int_out *o = ctx;
    if (n < 1 || c[0].type != STORE_V_INT)
        return STORE_ERR_CORRUPT;
    o->v = c[0].i;
    o->found = true;
    return STORE_OK;
}

store_status store_read_int(store *s, const char *sql, const store_value *params, size_t n, int64_t *out)
{
    if (s == NULL || out == NULL)
        return STORE_ERR_ARGUMENT;
    int_out o = {0, false};
    store_status st = s->drv->exec(s, sql, params, n, int_out_row, &o, NULL);
    if (st == STORE_OK && !o.found)
        st = STORE_ERR_NOT_FOUND;
    *out = st == STORE_OK ? o.v : 0;
    return st;
}

store_status store_eui_parse(const char *text, uint64_t *out)
{
    uint64_t v = 0;
    if (text == NULL || strlen(text) != 16)
        return STORE_ERR_CORRUPT;
    for (int i = 0; i < 16; i++) {
        char c = text[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0)
            return STORE_ERR_CORRUPT;
        v = (v << 4) | (uint64_t)d;
    }
    *out = v;
    return STORE_OK;
}

int64_t store_now(void)
{
    return (int64_t)time(NULL);
}

void store_set_error(store *s, const char *prefix, const char *msg)
{
    snprintf(s->error, sizeof s->error, "%s%s%s", prefix, msg != NULL && *prefix ? ": " : "",
             msg != NULL ? msg : "");
    /* Database messages end with a newline (libpq); logs want one line. */
    char *nl = strchr(s->error, '\n');
    if (nl != NULL)
        *nl = '\0';
}

const char *store_last_error(const store *s)
{
    return s != NULL ? s->error : "";
}

const char *store_backend_name(const store *s)
{
    return s != NULL ? s->drv->name : "";
}

int store_schema_version(const store *s)
{
    return s != NULL ? s->schema_version : 0;
}

bool store_txn_excludes_writers(const store *s)
{
    return s != NULL && !s->drv->row_locks;
}

int store_schema_latest(void)
{
    return STORE_SCHEMA_COUNT;
}

/* A transient conflict (PostgreSQL 40001/40P01, or SQLite busy past its
 * timeout) is retried with the whole transaction; FOR UPDATE makes joins
 * conflict-free, so this is a safety net, not the mechanism. */
#define TXN_ATTEMPTS 5

/* Inside a transaction, fn runs under a savepoint: its writes are undone
 * alone when it fails, and become durable only with the enclosing
 * transaction's commit. Not retried here: a conflict is the enclosing
 * transaction's to retry. Both databases take the same SQL, and a
 * savepoint name may repeat (the latest one of that name is meant). */
static store_status nested_txn(store *s, store_status (*fn)(store *s, void *ctx), void *ctx)
{
    store_status st = s->drv->script(s, "SAVEPOINT ferry_nested");
    if (st != STORE_OK)
        return st;
    s->txn_depth++;
    st = fn(s, ctx);
    s->txn_depth--;
    if (st != STORE_OK) {
        store_status undo = s->drv->script(s, "ROLLBACK TO SAVEPOINT ferry_nested");
        if (undo == STORE_OK)
            undo = s->drv->script(s, "RELEASE SAVEPOINT ferry_nested");
        /* a savepoint that cannot be undone leaves the enclosing
         * transaction unusable: make sure it is rolled back */
        return undo == STORE_OK ? st : STORE_ERR_BACKEND;
    }
    return s->drv->script(s, "RELEASE SAVEPOINT ferry_nested");
}

store_status store_txn(store *s, store_status (*fn)(store *s, void *ctx), void *ctx)
{
    assert(s != NULL && s->conn != NULL && fn != NULL);
    if (s->txn_depth > 0)
        return nested_txn(s, fn, ctx);
    store_status st = STORE_ERR_BUSY;
    for (int attempt = 0; attempt < TXN_ATTEMPTS; attempt++) {
        st = s->drv->begin(s);
        if (st == STORE_OK) {
            s->txn_depth = 1;
            st = fn(s, ctx);
            s->txn_depth = 0;
            if (st == STORE_OK)
                st = s->drv->commit(s);
            else
                s->drv->rollback(s);
        }
        if (st != STORE_ERR_BUSY)
            return st;
        struct timespec pause = {0, (long)(1000000L << attempt)}; /* 1, 2, 4, 8 ms */
        nanosleep(&pause, NULL);
    }
    return st;
}

/* ---------------------------------------------------------------- migrations */

static store_status read_int_row(void *ctx, const store_value *cols, size_t n)
{
    if (n >= 1 && cols[0].type == STORE_V_INT)
        *(int64_t *)ctx = cols[0].i;
    return STORE_OK;
}

static store_status migrate(store *s, void *ctx)
{
    (void)ctx;
    store_status st = s->drv->lock_migrations(s);
    if (st != STORE_OK)
        return st;
    st = s->drv->script(s, "CREATE TABLE IF NOT EXISTS schema_version ("
                           " version INTEGER PRIMARY KEY,"
                           " applied_at BIGINT NOT NULL)");
    if (st != STORE_OK)
        return st;
    int64_t have = 0;
    st = s->drv->exec(s, "SELECT COALESCE(MAX(version), 0) FROM schema_version", NULL, 0, read_int_row, &have, NULL);
    if (st != STORE_OK)
        return st;
    if (have > s->drv->migration_count)
        return STORE_ERR_SCHEMA_NEWER;
    for (int64_t v = have; v < s->drv->migration_count; v++) {
        st = s->drv->script(s, s->drv->migrations[v]);
        if (st != STORE_OK)
            return STORE_ERR_MIGRATION;
        const store_value p[] = {SV_INT(v + 1), SV_INT(store_now())};
        st = s->drv->exec(s, "INSERT INTO schema_version (version, applied_at) VALUES ($1, $2)", p, 2, NULL, NULL,
                          NULL);
        if (st != STORE_OK)
            return STORE_ERR_MIGRATION;
    }
    s->schema_version = s->drv->migration_count;
    return STORE_OK;
}

store_status store_open(const char *location, store **out)
{
    if (location == NULL || out == NULL)
        return STORE_ERR_ARGUMENT;
    *out = NULL;
    const store_driver *drv;
    const char *target;
    if (strncmp(location, "sqlite:", 7) == 0) {
        drv = &store_driver_sqlite;
        target = location + 7;
    } else if (strncmp(location, "postgresql://", 13) == 0 || strncmp(location, "postgres://", 11) == 0) {
        drv = &store_driver_pg;
        target = location;
    } else if (strncmp(location, "pg:", 3) == 0) {
        drv = &store_driver_pg;
        target = location + 3;
    } else {
        return STORE_ERR_CONFIG;
    }
    if (*target == '\0')
        return STORE_ERR_CONFIG;
    store *s = calloc(1, sizeof *s);
    if (s == NULL)
        return STORE_ERR_NOMEM;
    s->drv = drv;
    store_status st = drv->connect(s, target);
    if (st == STORE_OK)
        st = store_txn(s, migrate, NULL);
    if (st != STORE_OK) {
        store_close(s);
        return st;
    }
    *out = s;
    return STORE_OK;
}

void store_close(store *s)
{
    if (s == NULL)
        return;
    if (s->conn != NULL)
        s->drv->disconnect(s);
    free(s);
}

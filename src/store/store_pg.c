/*
 * store_pg.c - the PostgreSQL driver: several Join Servers, one state.
 *
 * Isolation, and why not SERIALIZABLE: a join touches one device. Its
 * transaction starts READ COMMITTED and its first statement is
 * `SELECT ... FROM devices WHERE dev_eui = $1 FOR UPDATE`, which takes the
 * device's row lock; a second server joining the same device waits on that
 * lock, and because READ COMMITTED gives every later statement a fresh
 * snapshot, it then sees the first server's committed DevNonce and JoinNonce.
 * The rule is thus checked on the newest state, by one server at a time per
 * device, and joins of different devices run in parallel. SERIALIZABLE
 * would give the same safety with aborts and retries instead of waits
 * (predicate locks on dev_nonces make two racing joins conflict); waiting
 * is cheaper under load and needs no retry to be correct. The primary key
 * (dev_eui, join_eui, dev_nonce) is a second, independent guard: even a bug
 * in the locking could not store one DevNonce twice. Serialization failures
 * and deadlocks (40001, 40P01) are still mapped to STORE_ERR_BUSY, which
 * store_txn() retries.
 *
 * Durability: every session sets synchronous_commit=on, whatever the server
 * default, so COMMIT returns only after the WAL reached the disk.
 *
 * Statements are prepared once per connection (named "fs<slot>", keyed by
 * the address of their SQL text, like the SQLite driver's cache; a text
 * built at run time may come again at the same address with other words,
 * so a hit also compares the text kept with the slot): a join is
 * seven round trips, and parsing and planning each again was a third of the
 * time. Prepared statements outlive a rolled-back transaction, so a failed
 * join does not lose them.
 *
 * Parameters go as text (integers, text) or binary (blobs); results come
 * back binary and are decoded by column type, so no bytea escaping is
 * parsed anywhere.
 */
#include "store/store_driver.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PARAMS 24
#define CACHE_SLOTS 48
#define MAX_COLUMNS 24
#define MIGRATION_LOCK_KEY "7303001" /* any constant; 'ferry' migrations */
#define AUDIT_LOCK_KEY "7303002"     /* the IDM's audit chain */

/* Type OIDs from pg_type.h (stable across versions). */
enum { OID_BOOL = 16, OID_BYTEA = 17, OID_INT8 = 20, OID_INT2 = 21, OID_INT4 = 23 };

static PGconn *conn_of(store *s)
{
    return (PGconn *)s->conn;
}

static void ignore_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* Maps a failed result to a status; keeps only the primary message, never
 * DETAIL (which may quote the values of a key). Frees `res`. */
static store_status fail(store *s, PGresult *res)
{
    const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res != NULL ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    store_set_error(s, "postgresql", msg != NULL ? msg : PQerrorMessage(conn_of(s)));
    store_status st = STORE_ERR_BACKEND;
    if (state != NULL) {
        if (strcmp(state, "23505") == 0)
            st = STORE_ERR_EXISTS;
        else if (strcmp(state, "23514") == 0 || strcmp(state, "23502") == 0 || strcmp(state, "22003") == 0)
            st = STORE_ERR_ARGUMENT;
        else if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 || strcmp(state, "55P03") == 0)
            st = STORE_ERR_BUSY;
    }
    PQclear(res);
    return st;
}

static store_status command(store *s, const char *sql)
{
    PGresult *res = PQexec(conn_of(s), sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
        return fail(s, res);
    PQclear(res);
    return STORE_OK;
}

typedef struct pg_cache {
    const char *sql[CACHE_SLOTS];
    char *text[CACHE_SLOTS];       /* a copy of what was prepared there */
} pg_cache;

static void cache_forget(pg_cache *c)
{
    for (int i = 0; i < CACHE_SLOTS; i++) {
        free(c->text[i]);
        c->text[i] = NULL;
        c->sql[i] = NULL;
    }
}

static store_status session_settings(store *s)
{
    store_status st = command(s, "SET synchronous_commit = on; SET client_min_messages = warning");
    return st == STORE_OK ? STORE_OK : STORE_ERR_OPEN;
}

static void pg_disconnect(store *s)
{
    PQfinish(conn_of(s));
    s->conn = NULL;
    if (s->cache != NULL)
        cache_forget(s->cache);
    free(s->cache);
    s->cache = NULL;
}

/* Finds or prepares `sql`; *name is "" when the cache is full (then the
 * statement runs unprepared). */
static store_status prepared(store *s, const char *sql, int n, char name[16])
{
    pg_cache *c = s->cache;
    int slot = -1;
    name[0] = '\0';
    for (int i = 0; i < CACHE_SLOTS; i++) {
        if (c->sql[i] == sql && strcmp(c->text[i], sql) == 0) {
            snprintf(name, 16, "fs%d", i);
            return STORE_OK;
        }
        if (c->sql[i] == sql) { /* the same buffer, another statement in it now: that slot again */
            char dealloc[32];
            snprintf(dealloc, sizeof dealloc, "DEALLOCATE fs%d", i);
            store_status st = command(s, dealloc);
            if (st != STORE_OK)
                return st;
            free(c->text[i]);
            c->text[i] = NULL;
            c->sql[i] = NULL;
        }
        if (c->sql[i] == NULL && slot < 0)
            slot = i;
    }
    if (slot < 0)
        return STORE_OK;
    char *copy = strdup(sql);
    if (copy == NULL)
        return STORE_ERR_NOMEM;
    snprintf(name, 16, "fs%d", slot);
    PGresult *res = PQprepare(conn_of(s), name, sql, n, NULL);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        free(copy);
        return fail(s, res);
    }
    PQclear(res);
    c->sql[slot] = sql;
    c->text[slot] = copy;
    return STORE_OK;
}

static store_status pg_connect(store *s, const char *conninfo)
{
    PGconn *c = PQconnectdb(conninfo);
    s->conn = c;
    if (c == NULL)
        return STORE_ERR_NOMEM;
    if (PQstatus(c) != CONNECTION_OK) {
        store_set_error(s, "postgresql", PQerrorMessage(c));
        return STORE_ERR_OPEN;
    }
    PQsetNoticeProcessor(c, ignore_notice, NULL);
    s->cache = calloc(1, sizeof(pg_cache));
    if (s->cache == NULL)
        return STORE_ERR_NOMEM;
    return session_settings(s);
}

/* A server restart or a terminated backend leaves the connection dead; the
 * first statement to notice fails. When that statement was outside any
 * transaction (a BEGIN, a lookup, an autocommit write), nothing of ours was
 * in flight, so the driver reconnects once and runs it again. Inside a
 * transaction the error is returned: the transaction is gone, and a COMMIT
 * whose answer was lost may or may not have happened - the safe side for a
 * join, whose DevNonce is then at worst consumed without an answer. */
static bool reconnect(store *s, bool was_idle)
{
    if (!was_idle || PQstatus(conn_of(s)) != CONNECTION_BAD)
        return false;
    PQreset(conn_of(s));
    if (PQstatus(conn_of(s)) != CONNECTION_OK)
        return false;
    cache_forget(s->cache); /* prepared statements died with it */
    return session_settings(s) == STORE_OK;
}

static bool idle(store *s)
{
    return PQtransactionStatus(conn_of(s)) == PQTRANS_IDLE || PQstatus(conn_of(s)) == CONNECTION_BAD;
}

static store_status pg_begin(store *s)
{
    bool was_idle = idle(s);
    store_status st = command(s, "BEGIN ISOLATION LEVEL READ COMMITTED");
    if (st != STORE_OK && reconnect(s, was_idle))
        st = command(s, "BEGIN ISOLATION LEVEL READ COMMITTED");
    return st;
}

static store_status pg_commit(store *s)
{
    PGresult *res = PQexec(conn_of(s), "COMMIT");
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        return fail(s, res);
    /* COMMIT of an aborted transaction "succeeds" with the tag ROLLBACK. */
    bool committed = strcmp(PQcmdStatus(res), "COMMIT") == 0;
    PQclear(res);
    if (!committed) {
        store_set_error(s, "postgresql", "transaction was rolled back at commit");
        return STORE_ERR_BACKEND;
    }
    return STORE_OK;
}

static void pg_rollback(store *s)
{
    PGresult *res = PQexec(conn_of(s), "ROLLBACK");
    PQclear(res);
}

static int64_t be_int(const uint8_t *p, size_t n)
{
    uint64_t v = (n > 0 && (p[0] & 0x80)) ? UINT64_MAX : 0; /* sign-extend */
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return (int64_t)v;
}

static store_status decode(PGresult *res, int row, int col, store_value *v)
{
    memset(v, 0, sizeof *v);
    if (PQgetisnull(res, row, col)) {
        v->type = STORE_V_NULL;
        return STORE_OK;
    }
    const uint8_t *p = (const uint8_t *)PQgetvalue(res, row, col);
    size_t n = (size_t)PQgetlength(res, row, col);
    switch (PQftype(res, col)) {
    case OID_INT8:
    case OID_INT4:
    case OID_INT2:
    case OID_BOOL:
        if (n == 0 || n > 8)
            return STORE_ERR_CORRUPT;
        v->type = STORE_V_INT;
        v->i = PQftype(res, col) == OID_BOOL ? p[0] : be_int(p, n);
        return STORE_OK;
    case OID_BYTEA:
        v->type = STORE_V_BLOB;
        v->blob = p;
        v->len = n;
        return STORE_OK;
    default:
        /* text-like types: binary form is the bytes; libpq appends a NUL. */
        v->type = STORE_V_TEXT;
        v->text = (const char *)p;
        v->len = n;
        return STORE_OK;
    }
}

static store_status exec_once(store *s, const char *sql, const store_value *params, size_t n, store_row_fn row,
                              void *ctx, int64_t *changes)
{
    if (n > MAX_PARAMS)
        return STORE_ERR_ARGUMENT;
    const char *values[MAX_PARAMS];
    int lengths[MAX_PARAMS], formats[MAX_PARAMS];
    char ints[MAX_PARAMS][24];
    for (size_t i = 0; i < n; i++) {
        lengths[i] = 0;
        formats[i] = 0;
        switch (params[i].type) {
        case STORE_V_INT:
            snprintf(ints[i], sizeof ints[i], "%lld", (long long)params[i].i);
            values[i] = ints[i];
            break;
        case STORE_V_TEXT:
            values[i] = params[i].text;
            break;
        case STORE_V_BLOB:
            values[i] = params[i].len ? (const char *)params[i].blob : "";
            lengths[i] = (int)params[i].len;
            formats[i] = 1;
            break;
        default:
            values[i] = NULL;
            break;
        }
    }
    char name[16];
    store_status pst = prepared(s, sql, (int)n, name);
    if (pst != STORE_OK)
        return pst;
    PGresult *res = name[0] != '\0' ? PQexecPrepared(conn_of(s), name, (int)n, values, lengths, formats, 1)
                                     : PQexecParams(conn_of(s), sql, (int)n, NULL, values, lengths, formats, 1);
    ExecStatusType rs = PQresultStatus(res);
    if (rs != PGRES_COMMAND_OK && rs != PGRES_TUPLES_OK)
        return fail(s, res);
    store_status st = STORE_OK;
    int nc = PQnfields(res);
    if (nc > MAX_COLUMNS)
        st = STORE_ERR_CORRUPT;
    for (int r = 0; st == STORE_OK && row != NULL && r < PQntuples(res); r++) {
        store_value cols[MAX_COLUMNS];
        for (int c = 0; st == STORE_OK && c < nc; c++)
            st = decode(res, r, c, &cols[c]);
        if (st == STORE_OK)
            st = row(ctx, cols, (size_t)nc);
    }
    if (st == STORE_OK && changes != NULL) {
        const char *t = PQcmdTuples(res);
        *changes = (t != NULL && *t != '\0') ? strtoll(t, NULL, 10) : 0;
    }
    PQclear(res);
    return st;
}

static store_status pg_exec(store *s, const char *sql, const store_value *params, size_t n, store_row_fn row,
                            void *ctx, int64_t *changes)
{
    bool was_idle = idle(s);
    store_status st = exec_once(s, sql, params, n, row, ctx, changes);
    if (st == STORE_ERR_BACKEND && reconnect(s, was_idle))
        st = exec_once(s, sql, params, n, row, ctx, changes);
    return st;
}

static store_status pg_lock_migrations(store *s)
{
    return command(s, "SELECT pg_advisory_xact_lock(" MIGRATION_LOCK_KEY ")");
}

/* Two READ COMMITTED transactions appending to the audit chain would both
 * read the same head; the primary key on seq refuses the second insert
 * (the chain never forks), but only after its whole transaction ran, which
 * then fails. The lock makes the second wait for the first's commit and
 * read the new head: appends from any number of IDM instances are one
 * chain, in commit order. Held to the end of the transaction. */
static store_status pg_lock_audit(store *s)
{
    return command(s, "SELECT pg_advisory_xact_lock(" AUDIT_LOCK_KEY ")");
}

const store_driver store_driver_pg = {
    .name = "postgresql",
    .connect = pg_connect,
    .disconnect = pg_disconnect,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .exec = pg_exec,
    .script = command,
    .lock_migrations = pg_lock_migrations,
    .lock_audit = pg_lock_audit,
    .row_locks = true,
    .migrations = store_schema_pg,
    .migration_count = STORE_SCHEMA_COUNT,
};

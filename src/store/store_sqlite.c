/*
 * store_sqlite.c - the SQLite driver: the embedded default.
 *
 * Durability and isolation, and why:
 * - journal_mode=WAL: readers (device list, AppSKeyReq) never block the
 *   writer, and a commit is one append to the log.
 * - synchronous=FULL: the log is fsync()ed at every commit, so a join that
 *   store_join_commit() reported committed survives power loss, not only a
 *   crash of the process (NORMAL would only guarantee the latter in WAL).
 * - a busy handler (busy_wait): several handles (threads, processes, a CLI
 *   next to `serve`) wait for the writer lock instead of failing at once.
 * - foreign_keys=ON: deleting a device deletes its nonces and sessions.
 * - Every write transaction is BEGIN IMMEDIATE: the writer lock is taken
 *   before the first read, so the DevNonce check, the JoinNonce increment and
 *   the session insert see and write one state that nobody else can change
 *   in between (a deferred BEGIN would read under a shared lock and could
 *   fail to upgrade, or worse, decide on a stale read). SQLite has one writer
 *   at a time, so joins are serial across all devices; PostgreSQL scales
 *   that out with row locks.
 *
 * Statements are prepared once per handle and kept in a small cache keyed
 * by the address of their SQL text (most are string literals). A text
 * built at run time (a page's LIMIT, the console's filters) may come
 * again at the same address with other words, so a hit is taken only when
 * the prepared statement's text is still the one asked for; otherwise that
 * slot is prepared anew.
 */
#include "store/store_driver.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CACHE_SLOTS 48
#define MAX_COLUMNS 24
#define BUSY_TIMEOUT_MS 10000
#define WAL_RETRY_MS 5
#define BUSY_SLEEP_US 250

typedef struct stmt_cache {
    const char *sql[CACHE_SLOTS];
    sqlite3_stmt *stmt[CACHE_SLOTS];
} stmt_cache;

static sqlite3 *db_of(store *s)
{
    return (sqlite3 *)s->conn;
}

static store_status map_error(store *s, int rc)
{
    store_set_error(s, "sqlite", sqlite3_errmsg(db_of(s)));
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return STORE_ERR_BUSY;
    case SQLITE_NOMEM:
        return STORE_ERR_NOMEM;
    case SQLITE_CONSTRAINT:
        if (rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE)
            return STORE_ERR_EXISTS;
        if (rc == SQLITE_CONSTRAINT_CHECK || rc == SQLITE_CONSTRAINT_NOTNULL)
            return STORE_ERR_ARGUMENT;
        return STORE_ERR_BACKEND;
    default:
        return STORE_ERR_BACKEND;
    }
}

static store_status pragma(store *s, const char *sql)
{
    int rc = sqlite3_exec(db_of(s), sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? STORE_OK : map_error(s, rc);
}

static int pragma_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return v;
}

static void sq_disconnect(store *s)
{
    stmt_cache *c = s->cache;
    if (c != NULL) {
        for (int i = 0; i < CACHE_SLOTS; i++)
            sqlite3_finalize(c->stmt[i]);
        free(c);
        s->cache = NULL;
    }
    sqlite3_close(db_of(s));
    s->conn = NULL;
}

/* Switching a fresh database to WAL needs its exclusive lock, and SQLite
 * answers SQLITE_BUSY at once there instead of calling the busy handler:
 * servers (or threads) opening a new database together would fail. So wait
 * here, in short sleeps, for as long as the busy timeout allows; once one
 * opener has switched, the mode is persistent and the others read "wal". */
static int journal_to_wal(sqlite3 *db, bool *wal)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "PRAGMA journal_mode=WAL", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return rc;
    for (int waited_ms = 0;; waited_ms += WAL_RETRY_MS) {
        rc = sqlite3_step(st);
        if ((rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED)
            break;
        sqlite3_reset(st);
        if (waited_ms >= BUSY_TIMEOUT_MS)
            break;
        sqlite3_sleep(WAL_RETRY_MS);
    }
    if (rc == SQLITE_ROW) {
        *wal = strcmp((const char *)sqlite3_column_text(st, 0), "wal") == 0;
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

/* The busy handler. SQLite's own (sqlite3_busy_timeout) sleeps 1, 2, 5,
 * 10, ... up to 100 ms between tries: a commit waiting for another process
 * that holds the writer lock (a second `ferry serve` with listen_shared, the
 * CLI) then sleeps far longer than the lock is held (a batch commits in
 * about a millisecond), which showed as a p99 of 167 ms. Even, short
 * sleeps instead, up to the same BUSY_TIMEOUT_MS (counted in sleeps: a
 * loaded machine only makes the wait longer). */
static int busy_wait(void *ctx, int tries)
{
    (void)ctx;
    if ((long long)tries * BUSY_SLEEP_US >= BUSY_TIMEOUT_MS * 1000LL)
        return 0;
    struct timespec pause = {0, BUSY_SLEEP_US * 1000L};
    nanosleep(&pause, NULL);
    return 1;
}

static store_status sq_connect(store *s, const char *path)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    s->conn = db;
    if (rc != SQLITE_OK) {
        store_set_error(s, "sqlite", db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        return STORE_ERR_OPEN;
    }
    s->cache = calloc(1, sizeof(stmt_cache));
    if (s->cache == NULL)
        return STORE_ERR_NOMEM;
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_handler(db, busy_wait, NULL);
    /* journal_mode answers with the mode in force; anything but "wal" (a
     * filesystem without shared memory, say) is refused rather than
     * silently running with weaker guarantees than documented. */
    bool wal = false;
    rc = journal_to_wal(db, &wal);
    if (rc != SQLITE_OK || !wal) {
        store_set_error(s, "sqlite", "cannot switch the journal to WAL");
        return STORE_ERR_OPEN;
    }
    store_status r = pragma(s, "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;");
    if (r != STORE_OK)
        return STORE_ERR_OPEN;
    /* Read both back: a build of SQLite without foreign keys ignores the
     * pragma silently, and the cascade of store_device_delete needs it. */
    if (pragma_int(db, "PRAGMA synchronous") != 2 || pragma_int(db, "PRAGMA foreign_keys") != 1) {
        store_set_error(s, "sqlite", "synchronous=FULL or foreign_keys=ON did not take effect");
        return STORE_ERR_OPEN;
    }
    return STORE_OK;
}

static store_status sq_begin(store *s)
{
    return pragma(s, "BEGIN IMMEDIATE");
}

static store_status sq_commit(store *s)
{
    int rc = sqlite3_exec(db_of(s), "COMMIT", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        return STORE_OK;
    store_status st = map_error(s, rc);
    sqlite3_exec(db_of(s), "ROLLBACK", NULL, NULL, NULL);
    return st;
}

static void sq_rollback(store *s)
{
    if (!sqlite3_get_autocommit(db_of(s)))
        sqlite3_exec(db_of(s), "ROLLBACK", NULL, NULL, NULL);
}

/* The text prepared (with ?) is the one asked for (with $). */
static bool same_text(const char *prepared, const char *sql)
{
    if (prepared == NULL)
        return false;
    size_t i = 0;
    for (; sql[i] != '\0'; i++)
        if (prepared[i] != (sql[i] == '$' ? '?' : sql[i]))
            return false;
    return prepared[i] == '\0';
}

/* The shared SQL says $1, $2 ...; SQLite reads ?1, ?2 ... by number. */
static store_status prepare(store *s, const char *sql, sqlite3_stmt **out)
{
    stmt_cache *c = s->cache;
    int free_slot = -1;
    for (int i = 0; i < CACHE_SLOTS; i++) {
        if (c->sql[i] == sql) {
            if (same_text(sqlite3_sql(c->stmt[i]), sql)) {
                *out = c->stmt[i];
                return STORE_OK;
            }
            sqlite3_finalize(c->stmt[i]); /* the same buffer, another statement in it now */
            c->stmt[i] = NULL;
            c->sql[i] = NULL;
        }
        if (c->sql[i] == NULL && free_slot < 0)
            free_slot = i;
    }
    size_t len = strlen(sql);
    char *text = malloc(len + 1);
    if (text == NULL)
        return STORE_ERR_NOMEM;
    for (size_t i = 0; i <= len; i++)
        text[i] = sql[i] == '$' ? '?' : sql[i];
    int rc = sqlite3_prepare_v2(db_of(s), text, (int)len, out, NULL);
    free(text);
    if (rc != SQLITE_OK)
        return map_error(s, rc);
    if (free_slot >= 0) {
        c->sql[free_slot] = sql;
        c->stmt[free_slot] = *out;
    }
    return STORE_OK;
}

static store_status bind(store *s, sqlite3_stmt *st, const store_value *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int idx = (int)i + 1, rc;
        switch (p[i].type) {
        case STORE_V_INT:
            rc = sqlite3_bind_int64(st, idx, p[i].i);
            break;
        case STORE_V_TEXT:
            rc = sqlite3_bind_text(st, idx, p[i].text, -1, SQLITE_STATIC);
            break;
        case STORE_V_BLOB:
            rc = sqlite3_bind_blob(st, idx, p[i].len ? (const void *)p[i].blob : "", (int)p[i].len, SQLITE_STATIC);
            break;
        default:
            rc = sqlite3_bind_null(st, idx);
            break;
        }
        if (rc != SQLITE_OK)
            return map_error(s, rc);
    }
    return STORE_OK;
}

static store_status sq_exec(store *s, const char *sql, const store_value *params, size_t n, store_row_fn row,
                            void *ctx, int64_t *changes)
{
    sqlite3_stmt *st;
    store_status r = prepare(s, sql, &st);
    if (r != STORE_OK)
        return r;
    bool cached = false;
    for (int i = 0; i < CACHE_SLOTS && !cached; i++)
        cached = ((stmt_cache *)s->cache)->stmt[i] == st;
    r = bind(s, st, params, n);
    while (r == STORE_OK) {
        int rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
            break;
        if (rc != SQLITE_ROW) {
            r = map_error(s, sqlite3_extended_errcode(db_of(s)));
            break;
        }
        if (row == NULL)
            continue;
        store_value cols[MAX_COLUMNS];
        int nc = sqlite3_column_count(st);
        if (nc > MAX_COLUMNS) {
            r = STORE_ERR_CORRUPT;
            break;
        }
        for (int i = 0; i < nc; i++) {
            store_value *v = &cols[i];
            memset(v, 0, sizeof *v);
            switch (sqlite3_column_type(st, i)) {
            case SQLITE_INTEGER:
                v->type = STORE_V_INT;
                v->i = sqlite3_column_int64(st, i);
                break;
            case SQLITE_TEXT:
                v->type = STORE_V_TEXT;
                v->text = (const char *)sqlite3_column_text(st, i);
                v->len = (size_t)sqlite3_column_bytes(st, i);
                break;
            case SQLITE_BLOB:
                v->type = STORE_V_BLOB;
                v->blob = sqlite3_column_blob(st, i);
                v->len = (size_t)sqlite3_column_bytes(st, i);
                break;
            default:
                v->type = STORE_V_NULL;
                break;
            }
        }
        r = row(ctx, cols, (size_t)nc);
    }
    if (r == STORE_OK && changes != NULL)
        *changes = sqlite3_changes64(db_of(s));
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (!cached)
        sqlite3_finalize(st);
    return r;
}

static store_status sq_script(store *s, const char *sql)
{
    return pragma(s, sql);
}

static store_status sq_lock_migrations(store *s)
{
    (void)s; /* BEGIN IMMEDIATE already excludes every other writer */
    return STORE_OK;
}

const store_driver store_driver_sqlite = {
    .name = "sqlite",
    .connect = sq_connect,
    .disconnect = sq_disconnect,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .exec = sq_exec,
    .script = sq_script,
    .lock_migrations = sq_lock_migrations,
    .lock_audit = sq_lock_migrations, /* the same: BEGIN IMMEDIATE excludes every other writer */
    .row_locks = false,
    .migrations = store_schema_sqlite,
    .migration_count = STORE_SCHEMA_COUNT,
};

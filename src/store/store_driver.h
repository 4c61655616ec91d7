/*
 * store_driver.h - the class each database implements (internal to store/).
 *
 * The rules of the Join Server live once, in store_join.c and
 * store_records.c, written in SQL that both databases accept: PostgreSQL's
 * `$1` placeholders (the SQLite driver rewrites them to `?1`), INSERT ...
 * ON CONFLICT, integers in BIGINT range, blobs as binary parameters. What
 * differs is here, in a small table of functions chosen at open, BearSSL
 * style: how a write transaction starts (SQLite: BEGIN IMMEDIATE, the writer
 * lock before any read; PostgreSQL: BEGIN and a row lock with FOR UPDATE),
 * how a statement runs, and the DDL of each migration.
 */
#ifndef FERRY_STORE_DRIVER_H
#define FERRY_STORE_DRIVER_H

#include "store/store.h"

typedef enum store_vtype { STORE_V_NULL = 0, STORE_V_INT, STORE_V_TEXT, STORE_V_BLOB } store_vtype;

/* A parameter or a column. Text and blobs point into memory owned by the
 * caller (parameters) or by the driver until the row callback returns. */
typedef struct store_value {
    store_vtype type;
    int64_t i;
    const char *text;
    const uint8_t *blob;
    size_t len;
} store_value;

#define SV_INT(v) ((store_value){.type = STORE_V_INT, .i = (int64_t)(v)})
#define SV_TEXT(v) ((store_value){.type = STORE_V_TEXT, .text = (v)})
#define SV_BLOB(p, n) ((store_value){.type = STORE_V_BLOB, .blob = (p), .len = (n)})
#define SV_NULL ((store_value){.type = STORE_V_NULL})

/* Called once per result row; a non-OK status stops the query with it. */
typedef store_status (*store_row_fn)(void *ctx, const store_value *cols, size_t ncols);

typedef struct store_driver {
    const char *name;
    /* Opens a connection to `target` (the location without its scheme). */
    store_status (*connect)(store *s, const char *target);
    void (*disconnect)(store *s);
    /* Starts a transaction that will write: SQLite takes the writer lock now;
     * PostgreSQL starts READ COMMITTED and relies on row locks. */
    store_status (*begin)(store *s);
    store_status (*commit)(store *s);
    void (*rollback)(store *s);
    /* Runs one statement with `n` parameters; `row` (may be NULL) gets each
     * result row. *changes (may be NULL) is the number of rows written. */
    store_status (*exec)(store *s, const char *sql, const store_value *params, size_t n, store_row_fn row,
                         void *ctx, int64_t *changes);
    /* Runs a script of DDL statements without parameters. */
    store_status (*script)(store *s, const char *sql);
    /* Serialises migrations between processes opening the same database,
     * inside the current transaction (SQLite: already, by BEGIN IMMEDIATE). */
    store_status (*lock_migrations)(store *s);
    /* Serialises the audit chain's appends between processes, inside the
     * current transaction until it ends (SQLite: already, by BEGIN
     * IMMEDIATE; PostgreSQL: an advisory transaction lock), so that two
     * appends never read the same head. */
    store_status (*lock_audit)(store *s);
    /* True where a transaction must lock the device row (SELECT ... FOR
     * UPDATE); false where begin() already excludes every other writer. */
    bool row_locks;
    /* migrations[i] takes the schema from version i to i + 1. */
    const char *const *migrations;
    int migration_count;
} store_driver;

/* The handle. Allocated by store_open(), one owner, freed by store_close(). */
struct store {
    const store_driver *drv;
    void *conn;      /* sqlite3 * or PGconn * */
    void *cache;     /* driver-private (SQLite's prepared statements) */
    int schema_version;
    int txn_depth;   /* store_txn calls open now: 0 none, above 1 = savepoints */
    char error[256]; /* the last database message, never with parameters */
};

/* The migrations (store_schema.c); version i + 1 is element i. */
#define STORE_SCHEMA_COUNT 13
extern const char *const store_schema_sqlite[STORE_SCHEMA_COUNT];
extern const char *const store_schema_pg[STORE_SCHEMA_COUNT];

extern const store_driver store_driver_sqlite;
extern const store_driver store_driver_pg;

/* Copies a database message into s->error (truncated, never parameters). */
void store_set_error(store *s, const char *prefix, const char *msg);

/* Runs `fn` in a write transaction: begin, fn, commit; rollback on any
 * error; retried a few times when the driver reports STORE_ERR_BUSY from a
 * conflict it knows is transient (a PostgreSQL serialization failure or
 * deadlock). Called inside another store_txn, `fn` runs under a savepoint
 * instead: undone alone when it fails, durable only with the enclosing
 * commit, never retried by itself. */
store_status store_txn(store *s, store_status (*fn)(store *s, void *ctx), void *ctx);

/* EUIs are stored as 16 uppercase hex digits: readable in psql and the
 * sqlite3 shell, ordered like the numbers. `out` holds 17 bytes. */
void store_eui_text(uint64_t eui, char out[17]);
store_status store_eui_parse(const char *text, uint64_t *out);

/* The one TEXT column of the one row `sql` selects, into out[cap] (its
 * length in *len): STORE_ERR_NOT_FOUND without a row, STORE_ERR_ARGUMENT
 * when it does not fit (never cut), STORE_ERR_CORRUPT when it is not text.
 * For the PEM bundles kept apart from their rows. */
store_status store_read_text(store *s, const char *sql, const store_value *params, size_t n, char *out, size_t cap,
                             size_t *len);

/* The one INTEGER column of the first row `sql` selects into *out:
 * STORE_ERR_NOT_FOUND without a row, STORE_ERR_CORRUPT when it is not an
 * integer. */
store_status store_read_int(store *s, const char *sql, const store_value *params, size_t n, int64_t *out);

int64_t store_now(void);

#endif

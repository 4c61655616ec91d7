/*
 * idm_core.h - one Identity Manager, opened once: the context every entry
 * point works through (docs/idm.md, "The core").
 *
 *   idm_open(DIR)  ->  idm_core
 *                        ferry.conf    which token and which database (js_config)
 *                        token         one PKCS#11 session (when asked for), the
 *                                      process hardened before the PIN is read
 *                        store         one database connection
 *                        idm.conf      listen, TLS, the delivery policy
 *                        authorization idm_core_check: idm_access_check on this store
 *                        clock         wall clock unless a test sets another
 *                        log           JSON lines (idm_log.c) on stderr, with that clock
 *
 * The CLI (`ferry idm ...`), `idm serve` and its REST API take their token,
 * database and settings from here and from nowhere else; `ferry demo` goes
 * through the CLI and the REST API. So there is one place that knows how an
 * IDM is laid out on disk, and one way to fail when it is not there.
 *
 * Threads: a core is used by one thread at a time (idm serve holds its lock
 * around each use, as it did around the session and connection before).
 */
#ifndef FERRY_IDM_CORE_H
#define FERRY_IDM_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "idm/idm.h"
#include "idm/idm_access.h"
#include "idm/idm_ota.h"

typedef struct idm_core idm_core;

typedef struct idm_open_opts {
    bool with_token;              /* open the token too (a session, logged in) */
    unsigned token_wait_ms;       /* longest wait for another process opening the token;
                                     0 = HSM_OPEN_LOCK_WAIT_MS (30 s) */
    /* The memory of the context: NULL both = malloc/free. free_fn gets
     * blocks already wiped (a test checks that it does). */
    void *(*alloc_fn)(size_t n);
    void (*free_fn)(void *p, size_t n);
} idm_open_opts;

/* Opens the IDM of deployment DIR (made by `ferry init DIR`, then `ferry -d
 * DIR idm init`): reads DIR/ferry.conf and DIR/idm.conf (missing idm.conf
 * = defaults), opens the database, and with o->with_token hardens the
 * process (hsm_process_harden) and opens the token with one session. o NULL
 * = no token. *out is freed with idm_close. On failure err names what is
 * missing or refused and nothing stays open:
 *   IDM_ERR_NOT_FOUND  DIR or DIR/ferry.conf missing (not a deployment)
 *   IDM_ERR_INPUT      ferry.conf or idm.conf malformed (the line named)
 *   IDM_ERR_STORE      the database cannot be opened
 *   IDM_ERR_BUSY       another process kept the token's open lock longer than the wait
 *   IDM_ERR_HSM        the token refused (wrong or locked PIN, missing token...) */
idm_status idm_open(const char *dir, const idm_open_opts *o, idm_core **out, char err[IDM_ERR_MAX])
    __attribute__((warn_unused_result));

/* Closes the session, logs out of the token, closes the database, wipes
 * the context and frees it; *c becomes NULL. NULL and *c NULL are fine. */
void idm_close(idm_core **c);

/* What the core owns, borrowed for as long as it is open. */
const char *idm_core_dir(const idm_core *c);                 /* absolute */
store *idm_core_store(idm_core *c);
hsm_session *idm_core_session(idm_core *c);                  /* NULL when opened without the token */
idm_token *idm_core_token(idm_core *c);                      /* for idm_import_batch; NULL idem */
const idm_config *idm_core_config(const idm_core *c);        /* idm.conf */
const js_config *idm_core_js_config(const idm_core *c);      /* ferry.conf: the bootstrap JS's */
const idm_policy *idm_core_policy(const idm_core *c);        /* idm.conf's delivery policy */

/* Authorization on this IDM: idm_access_check on its store. */
idm_status idm_core_check(idm_core *c, const idm_actor *a, idm_action act, uint64_t dev_eui, int64_t seq,
                          const char **reason) __attribute__((warn_unused_result));

/* The clock: now_fn(arg) from here on (NULL = the wall clock again). */
void idm_core_set_clock(idm_core *c, idm_clock_fn now_fn, void *arg);
int64_t idm_core_now(const idm_core *c);

/* A log line {"component":"idm","msg":..,"time":<the core's clock>} on
 * stderr, or on `out` after idm_core_set_log (NULL = stderr again; the
 * stream stays the caller's). */
void idm_core_set_log(idm_core *c, FILE *out);
void idm_core_logf(const idm_core *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A delivery engine on the core's session, store, policy and clock (it
 * asks the core's clock each time, so idm_core_set_clock applies to it
 * too). The core must have its token. Freed with idm_ota_free, before
 * idm_close. */
idm_status idm_core_engine_new(idm_core *c, idm_ota **out);

#endif

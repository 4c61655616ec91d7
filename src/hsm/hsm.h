/*
 * hsm.h - ferry's server-side key service over PKCS#11: the table of contents.
 *
 * The rule this layer enforces: no secret key is ever in clear outside a
 * secure element or an HSM. The server keeps keys in three forms only:
 *
 *   - the storage master key: AES-256, a token object, sensitive and not
 *     extractable, usable only to wrap and unwrap; made once by
 *     hsm_token_create() and found once by hsm_open();
 *   - blobs: RFC 3394 wraps under the master key (device root keys, peer
 *     KEKs), which is what the database keeps; 24 bytes for an AES-128 key;
 *   - session objects: keys unwrapped from blobs, derived, generated or
 *     imported for the duration of one job, named by an lw_key whose `handle`
 *     is the PKCS#11 object handle and whose `material` stays zero. They
 *     leave the token only wrapped (under a peer's KEK or the master key).
 *
 * Threads: an `hsm` is shared; each worker thread opens its own hsm_session
 * (a PKCS#11 session) and passes it to every operation. A session is not
 * thread-safe; the hsm is, for hsm_session_open/close. Real HSMs scale with
 * concurrent sessions; SoftHSM2 serialises on a global lock either way
 * (docs/hsm.md, performance-baselines.md B.1).
 *
 * At start-up: hsm_process_harden(), hsm_open(), one hsm_session_open() per
 * worker thread.
 *
 * What the Join Server does per join (every call below is one or two
 * PKCS#11 calls; no C_FindObjects on this path):
 *   hsm_key_unwrap_blob(NwkKey blob [, AppKey blob])        root keys
 *   lw_mic_join_request / lw_derive_* / lw_mic_join_accept_* /
 *   lw_join_accept_encrypt with hsm_session_crypto(sess)    the LoRaWAN work
 *   hsm_key_unwrap_blob(HSM_KEY_KEK, peer KEK blob)          once per peer (cache it)
 *   lw_key_wrap(crypto, peer KEK, session key, ...)          KeyEnvelopes
 *   lw_key_release / lw_session_keys_*_release               destroy the objects
 *
 * Failures: every function returns an hsm_status; the PKCS#11 call and CKR_
 * value behind the last failure of a session are kept for
 * hsm_session_last_error() (see hsm_status.h).
 */
#ifndef FERRY_HSM_H
#define FERRY_HSM_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "hsm/hsm_status.h"
#include "lorawan/lw_crypto.h"

#define HSM_DEFAULT_MODULE "/usr/lib/softhsm/libsofthsm2.so"
#define HSM_MASTER_LABEL   "ferry-storage-master"
#define HSM_LABEL_MAX      32                       /* PKCS#11 token labels are 32 bytes */
#define HSM_BLOB_LEN       (LW_KEY_LEN + LW_WRAP_OVERHEAD)   /* 24: a wrapped AES-128 key */
#define HSM_BLOB_MAX       (LW_KEY_MAX + LW_WRAP_OVERHEAD)   /* 40: a wrapped AES-256 key */

/* hsm_open's bounds (docs/hsm.md, "Several processes on one token"):
 * attempts at reaching the token before C_Login, 10, 20, 40, 80 ms apart;
 * and how long it waits for the SoftHSM2 token directory's open lock. */
#define HSM_OPEN_TRIES         5
#define HSM_OPEN_LOCK_WAIT_MS  30000

typedef struct hsm hsm;
typedef struct hsm_session hsm_session;

/* How to reach the key service. Strings are borrowed for the duration of
 * hsm_open() only. */
typedef struct hsm_config {
    const char *module;       /* PKCS#11 module path; NULL = HSM_DEFAULT_MODULE */
    const char *softhsm_conf; /* SoftHSM2 only: exported as SOFTHSM2_CONF before the
                                 module is initialised; NULL leaves the environment alone */
    const char *token_label;  /* the token to use; NULL = use slot_id */
    unsigned long slot_id;    /* used only when token_label is NULL */
    const char *pin_file;     /* user PIN, one line, file mode 0600 or stricter */
    const char *master_label; /* CKA_LABEL of the master key; NULL = HSM_MASTER_LABEL */
    unsigned open_wait_ms;    /* longest wait for the token directory's open lock;
                                 0 = HSM_OPEN_LOCK_WAIT_MS */
} hsm_config;

/* An hsm_config for a deployment directory made by hsm_token_create(), with
 * the paths it points to held inside. */
typedef struct hsm_dir_config {
    hsm_config cfg;
    char conf_path[PATH_MAX];
    char pin_path[PATH_MAX];
    char label[HSM_LABEL_MAX + 1];
} hsm_dir_config;

/* What a key is for; chosen when a key object is made, enforced by the token
 * through its attributes (docs/hsm.md, "Attributes"):
 *   HSM_KEY_WORKING  LoRaWAN keys: encrypt, decrypt, sign (CMAC), derive;
 *                    sensitive, extractable only by wrapping; cannot wrap.
 *   HSM_KEY_KEK      key-encryption keys: wrap and unwrap only. */
typedef enum hsm_key_role {
    HSM_KEY_WORKING = 0,
    HSM_KEY_KEK
} hsm_key_role;

/* ---- deployment -------------------------------------------------------- */

/* Creates a SoftHSM2 deployment in `dir` (made with mode 0700 if missing):
 * dir/softhsm2.conf (token directory dir/tokens, file backend), a token
 * labelled `label` initialised through C_InitToken/C_InitPIN with a fresh
 * random SO PIN and user PIN written to dir/so.pin and dir/user.pin (mode
 * 0600, never printed), and inside the token the AES-256 storage master key
 * HSM_MASTER_LABEL. `module` NULL = HSM_DEFAULT_MODULE. Sets SOFTHSM2_CONF
 * for this process (see hsm_config.softhsm_conf). HSM_ERR_EXISTS if any of
 * those files exists already; nothing is overwritten. `diag` (may be NULL)
 * receives the failing PKCS#11 call. */
hsm_status hsm_token_create(const char *dir, const char *label, const char *module, hsm_diag *diag);

/* Fills *out for the deployment in `dir` with token `label`, SoftHSM2 at
 * HSM_DEFAULT_MODULE. HSM_ERR_ARGUMENT if a path does not fit. */
hsm_status hsm_config_for_dir(const char *dir, const char *label, hsm_dir_config *out);

/* Keeps this process's memory out of core dumps and away from ptrace by
 * other processes of the same user: RLIMIT_CORE 0 and PR_SET_DUMPABLE 0.
 * A service using SoftHSM2 must call it at start-up: SoftHSM2 is a library
 * in the service's own address space, so "inside the token" is this
 * process's heap. Process-wide and not undone; HSM_ERR_IO if refused. */
hsm_status hsm_process_harden(void);

/* ---- the service ------------------------------------------------------- */

/* Loads the module (dlopen, C_GetFunctionList, C_Initialize), finds the
 * token, checks that it has the four mechanisms (HSM_ERR_MECHANISM), logs
 * in with the PIN from cfg->pin_file (wiped after use) and finds the master
 * key once. *out is owned by the caller; free with hsm_close().
 * HSM_ERR_PIN_INCORRECT for a wrong PIN; `diag` (may be NULL) receives the
 * failing PKCS#11 call and the number of attempts made.
 *
 * Several processes may open one token at once. With cfg->softhsm_conf set,
 * ferry processes take turns on the token directory's open lock (waiting
 * at most cfg->open_wait_ms, default HSM_OPEN_LOCK_WAIT_MS, else
 * HSM_ERR_BUSY). With any module, a
 * token that is missing (HSM_ERR_TOKEN_NOT_FOUND) or failing (HSM_ERR_DEVICE)
 * before the PIN is presented is tried again, the module re-initialised when
 * this hsm is its only user, up to HSM_OPEN_TRIES attempts in all. A failed
 * C_Login is never repeated: a real HSM counts PIN attempts. */
hsm_status hsm_open(const hsm_config *cfg, hsm **out, hsm_diag *diag);

/* Logs out and unloads. Every hsm_session must be closed first. NULL is ok. */
void hsm_close(hsm *h);

/* Opens a PKCS#11 session for one thread. Owned by the caller; free with
 * hsm_session_close(), before hsm_close(). Session objects still alive are
 * destroyed by the token when the session closes. */
hsm_status hsm_session_open(hsm *h, hsm_session **out);
void hsm_session_close(hsm_session *s);

/* The lw_crypto backend of this session, for the LoRaWAN core: AES-ECB
 * (CKM_AES_ECB), CMAC (CKM_AES_CMAC), derive (CKM_AES_ECB_ENCRYPT_DATA into a
 * HSM_KEY_WORKING session object), wrap/unwrap (CKM_AES_KEY_WRAP; unwrap
 * makes a HSM_KEY_WORKING object) and release (C_DestroyObject). Valid while
 * the session is open; points into it. Failures come back as lw_status
 * (LW_ERR_MIC when an unwrap's integrity check fails); the detail is in
 * hsm_session_last_error(). */
const lw_crypto *hsm_session_crypto(hsm_session *s);

/* The status and PKCS#11 detail of the session's last failure (HSM_OK and a
 * zero diag when none). `out` may be NULL. */
hsm_status hsm_session_last_error(const hsm_session *s, hsm_diag *out);

/* ---- keys -------------------------------------------------------------- */

/* A fresh random AES-128 session object (C_GenerateKey) with `role`, e.g. a
 * KEK for a new peer; store it with hsm_key_wrap_blob(). Release with
 * hsm_key_release(). */
hsm_status hsm_key_generate(hsm_session *s, hsm_key_role role, lw_key *out);

/* Derives AES-ECB(root, block) into a new session object with `role`
 * (CKM_AES_ECB_ENCRYPT_DATA), like lw_derive but choosing the role: the
 * IDM's MLS WrapDown key must be a HSM_KEY_KEK to wrap profile keys, which
 * lw_derive's working keys cannot. Release with hsm_key_release(). */
hsm_status hsm_key_derive(hsm_session *s, hsm_key_role role, const lw_key *root, const uint8_t block[16],
                          lw_key *out);

/* Unwraps a storage blob (as kept in the database) under the master key into
 * a session object with `role`. HSM_ERR_WRAPPED_INVALID when the blob does
 * not unwrap under this token's master key. */
hsm_status hsm_key_unwrap_blob(hsm_session *s, hsm_key_role role, const uint8_t *blob, size_t len,
                               lw_key *out);

/* Wraps a session object under the master key: the blob for the database,
 * key length + 8 bytes into out[cap]; *len receives the length. */
hsm_status hsm_key_wrap_blob(hsm_session *s, const lw_key *key, uint8_t *out, size_t cap, size_t *len);

/* Destroys a key object made by this layer and zeroes *key (same as
 * lw_key_release(hsm_session_crypto(s), key)). A zero handle is ignored. */
void hsm_key_release(hsm_session *s, lw_key *key);

/* ---- imports ----------------------------------------------------------- */

/* Imports a key sent wrapped (Backend Interfaces KeyEnvelope, RFC 3394)
 * under `transport_kek` (a HSM_KEY_KEK object): unwrapped inside the token
 * into a transient object, wrapped under the master key into blob_out[cap]
 * (*blob_len = length), destroyed. The key never enters process memory.
 * HSM_ERR_WRAPPED_INVALID (wrong KEK, corrupted envelope): nothing is
 * written to blob_out and no object remains. */
hsm_status hsm_import_wrapped(hsm_session *s, const lw_key *transport_kek, const uint8_t *wrapped, size_t len,
                              uint8_t *blob_out, size_t cap, size_t *blob_len);

/* THE ONE EXCEPTION to "no key in clear": for the operator's explicit
 * --allow-clear-keys path. Creates a transient object from key[key_len]
 * (16, 24 or 32 bytes), wraps it under the master key into blob_out[cap],
 * destroys it, and wipes key[] on every path, success or failure. */
hsm_status hsm_import_clear(hsm_session *s, uint8_t *key, size_t key_len, uint8_t *blob_out, size_t cap,
                            size_t *blob_len);

/* ---- diagnostics ------------------------------------------------------- */

/* The number of session objects visible to this application on the token
 * (C_FindObjects: slow, for tests and leak checks, never on a hot path). */
hsm_status hsm_session_count_objects(hsm_session *s, size_t *n);

#endif

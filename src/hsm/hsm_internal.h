/*
 * hsm_internal.h - what the files of the hsm layer share; not for callers.
 */
#ifndef FERRY_HSM_INTERNAL_H
#define FERRY_HSM_INTERNAL_H

#include <pthread.h>
#include <p11-kit/pkcs11.h>

#include "hsm/hsm.h"

/* A loaded and initialised PKCS#11 module (hsm_module.c). */
typedef struct hsm_module hsm_module;

/* Loads `path` and initialises it once per process; later calls with the
 * same path share it (reference counted). `softhsm_conf` non-NULL is
 * exported as SOFTHSM2_CONF before C_Initialize; asking for another
 * configuration while the module is initialised is HSM_ERR_CONFIG. */
hsm_status hsm_module_acquire(const char *path, const char *softhsm_conf, hsm_module **out,
                              CK_FUNCTION_LIST_PTR *fns, hsm_diag *d);
void hsm_module_release(hsm_module *m);

/* The exclusive open lock of a SoftHSM2 token directory (hsm_lock.c): held
 * by hsm_open and hsm_token_create from C_Initialize to the end of C_Login,
 * because SoftHSM2 rewrites token.object at C_Login in a way a concurrent
 * reader can catch half done. fd -1 = nothing held. */
typedef struct hsm_open_lock {
    int fd;
} hsm_open_lock;

/* Takes the lock of the token directory that the SoftHSM2 configuration
 * `softhsm_conf` names (its directories.tokendir), in the file
 * TOKENDIR/ferry-open.lock, waiting at most wait_ms (0 = HSM_OPEN_LOCK_WAIT_MS):
 * HSM_ERR_BUSY when another process held it all that time, HSM_ERR_IO when
 * the configuration cannot be read or the lock file cannot be made for
 * another reason than the ones below. Nothing is held, and HSM_OK returned,
 * when `softhsm_conf` is NULL (not ferry's SoftHSM2), names no token
 * directory, or names one this process may not write or that is missing. */
hsm_status hsm_open_lock_take(const char *softhsm_conf, unsigned wait_ms, hsm_open_lock *l);
void hsm_open_lock_release(hsm_open_lock *l);

/* Sleeps `ms` milliseconds (resumed after signals). */
void hsm_pause_ms(unsigned ms);

struct hsm {
    hsm_module *mod;
    CK_FUNCTION_LIST_PTR f;
    CK_SLOT_ID slot;
    CK_SESSION_HANDLE login_session;  /* holds the login for every later session */
    CK_OBJECT_HANDLE master;          /* found once in hsm_open */
    pthread_mutex_t lock;             /* guards `sessions` */
    unsigned sessions;
};

struct hsm_session {
    hsm *h;
    CK_FUNCTION_LIST_PTR f;
    CK_SESSION_HANDLE s;
    lw_crypto crypto;                 /* {&hsm_lw_class, this} */
    hsm_status last_status;
    hsm_diag last;
};

extern const lw_crypto_class hsm_lw_class;

/* Records a failed call in d (may be NULL) and returns its hsm_status. */
hsm_status hsm_fail(hsm_diag *d, const char *call, CK_RV rv);

/* Same, recorded as the session's last error. */
hsm_status hsm_session_fail(hsm_session *s, const char *call, CK_RV rv);

/* A failed C_UnwrapKey. SoftHSM2 reports a failed RFC 3394 integrity check
 * (wrong KEK, altered blob) as CKR_GENERAL_ERROR rather than
 * CKR_WRAPPED_KEY_INVALID; with a valid KEK handle and a valid length that is
 * the only way a software unwrap fails, so both CKR_GENERAL_ERROR and
 * CKR_FUNCTION_FAILED from C_UnwrapKey become HSM_ERR_WRAPPED_INVALID. The
 * diag keeps the CKR_ the module actually returned. */
hsm_status hsm_session_unwrap_fail(hsm_session *s, CK_RV rv);

/* Finds the slot holding the token labelled `label` (blank-padded compare). */
hsm_status hsm_find_token(CK_FUNCTION_LIST_PTR f, const char *label, CK_SLOT_ID *slot, hsm_diag *d);

/* Fills label[32] with `text` padded with blanks, as PKCS#11 wants it. */
void hsm_pad_label(CK_UTF8CHAR label[32], const char *text);

/* Session-object template for `role`, with room for CKA_CLASS/KEY_TYPE
 * (and CKA_VALUE_LEN when value_len > 0 / CKA_VALUE when value != NULL).
 * Returns the number of attributes written to t[] (capacity HSM_TEMPLATE_MAX). */
#define HSM_TEMPLATE_MAX 20
CK_ULONG hsm_key_template(hsm_key_role role, int transient, CK_ATTRIBUTE *t, CK_ULONG *value_len,
                          const uint8_t *value, size_t value_size);

/* Reads the key length (CKA_VALUE_LEN) of an object. */
hsm_status hsm_object_key_len(hsm_session *s, CK_OBJECT_HANDLE obj, uint8_t *len);

#endif

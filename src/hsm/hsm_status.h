/*
 * hsm_status.h - the status type of the PKCS#11 key service.
 *
 * One enum for the whole layer (the curl model: CURLcode + curl_easy_strerror).
 * PKCS#11 return values (CKR_*) are folded into these statuses; each
 * sentence names the CKR_ codes it covers, so a log line says both what
 * ferry thinks happened and what the token said. The exact CKR_ value of the
 * last failure is kept in an hsm_diag, which hsm_diag_format() turns into
 * "C_Login returned CKR_PIN_INCORRECT: the token rejected the PIN ...".
 */
#ifndef FERRY_HSM_STATUS_H
#define FERRY_HSM_STATUS_H

#include <stddef.h>

typedef enum hsm_status {
    HSM_OK = 0,
    HSM_ERR_ARGUMENT,        /* NULL pointer, bad length, bad label */
    HSM_ERR_BUFFER,          /* the caller's output buffer is too small */
    HSM_ERR_IO,              /* a file or directory of the deployment could not be made or read */
    HSM_ERR_EXISTS,          /* token set-up would overwrite an existing file or token */
    HSM_ERR_RANDOM,          /* the OS random generator failed */
    HSM_ERR_MODULE,          /* dlopen() or C_GetFunctionList of the PKCS#11 module failed */
    HSM_ERR_CONFIG,          /* the module is already initialised with another configuration */
    HSM_ERR_PIN_FILE,        /* the PIN file is missing, empty, too long or readable by others */
    HSM_ERR_TOKEN_NOT_FOUND, /* no token with that label (or no such slot) */
    HSM_ERR_KEY_NOT_FOUND,   /* the master key label matches no object, or several */
    HSM_ERR_PIN_INCORRECT,   /* CKR_PIN_INCORRECT, CKR_PIN_INVALID, CKR_PIN_LEN_RANGE */
    HSM_ERR_PIN_LOCKED,      /* CKR_PIN_LOCKED, CKR_PIN_EXPIRED */
    HSM_ERR_WRAPPED_INVALID, /* CKR_WRAPPED_KEY_INVALID, CKR_ENCRYPTED_DATA_INVALID: wrong KEK or bad blob */
    HSM_ERR_KEY_INVALID,     /* CKR_KEY_HANDLE_INVALID, CKR_OBJECT_HANDLE_INVALID, CKR_KEY_SIZE_RANGE, ... */
    HSM_ERR_KEY_USE,         /* CKR_KEY_FUNCTION_NOT_PERMITTED, CKR_KEY_UNEXTRACTABLE, CKR_KEY_NOT_WRAPPABLE, ... */
    HSM_ERR_MECHANISM,       /* CKR_MECHANISM_INVALID, CKR_MECHANISM_PARAM_INVALID */
    HSM_ERR_SESSION,         /* CKR_SESSION_HANDLE_INVALID, CKR_USER_NOT_LOGGED_IN, CKR_SESSION_COUNT, ... */
    HSM_ERR_DEVICE,          /* CKR_DEVICE_ERROR, CKR_DEVICE_REMOVED, CKR_TOKEN_NOT_PRESENT, CKR_GENERAL_ERROR, ... */
    HSM_ERR_MEMORY,          /* CKR_HOST_MEMORY, CKR_DEVICE_MEMORY, or malloc() failed */
    HSM_ERR_PKCS11,          /* any other CKR_ value: see the hsm_diag */
    HSM_ERR_BUSY,            /* another process held the token directory's open lock too long */
    HSM_STATUS_COUNT
} hsm_status;

/* Where a failure came from: the PKCS#11 function (a static string such as
 * "C_Login", or NULL when the failure was not a PKCS#11 call) and the CKR_
 * value it returned (0 when none). `tries` is set by hsm_open: how many
 * attempts it made at the token (1 when the first one settled it; 0 from
 * every other function). */
typedef struct hsm_diag {
    const char *call;
    unsigned long ckr;
    unsigned tries;
} hsm_diag;

/* A static sentence for `st`; never NULL. */
const char *hsm_strerror(hsm_status st);

/* The symbolic name of a CKR_ value ("CKR_PIN_INCORRECT"), or
 * "CKR_VENDOR_DEFINED" / "unknown CKR" for values this table lacks. Static. */
const char *hsm_ckr_name(unsigned long ckr);

/* The hsm_status a CKR_ value maps to (HSM_OK for CKR_OK). */
hsm_status hsm_status_from_ckr(unsigned long ckr);

/* Writes one line for a failure into buf[cap] (always NUL-terminated when
 * cap > 0, truncated when longer): "CALL returned CKR_X: SENTENCE" when `d`
 * names a PKCS#11 call, else just the sentence; " (after N tries)" follows
 * when hsm_open tried more than once. `d` may be NULL. Returns buf. */
char *hsm_diag_format(hsm_status st, const hsm_diag *d, char *buf, size_t cap);

#endif

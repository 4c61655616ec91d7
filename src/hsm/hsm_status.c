/* hsm_status.c - sentences, CKR_ names and the CKR_ -> hsm_status mapping. */
#include "hsm/hsm_status.h"

#include <stdio.h>
#include <p11-kit/pkcs11.h>

static const char *const sentences[HSM_STATUS_COUNT] = {
    [HSM_OK] = "success",
    [HSM_ERR_ARGUMENT] = "invalid argument",
    [HSM_ERR_BUFFER] = "the output buffer is too small",
    [HSM_ERR_IO] = "a file or directory of the HSM deployment could not be created or read",
    [HSM_ERR_EXISTS] = "refusing to overwrite an existing token, configuration or PIN file",
    [HSM_ERR_RANDOM] = "the operating system's random generator failed",
    [HSM_ERR_MODULE] = "the PKCS#11 module could not be loaded (dlopen or C_GetFunctionList failed)",
    [HSM_ERR_CONFIG] = "the PKCS#11 module is already initialised in this process with another configuration",
    [HSM_ERR_PIN_FILE] = "the PIN file is missing, empty, too long, or readable by group or others (it must be mode 0600)",
    [HSM_ERR_TOKEN_NOT_FOUND] = "no token with that label or slot is present",
    [HSM_ERR_KEY_NOT_FOUND] = "the storage master key was not found in the token, or its label is not unique",
    [HSM_ERR_PIN_INCORRECT] = "the token rejected the PIN (CKR_PIN_INCORRECT, CKR_PIN_INVALID or CKR_PIN_LEN_RANGE)",
    [HSM_ERR_PIN_LOCKED] = "the token's PIN is locked or expired (CKR_PIN_LOCKED, CKR_PIN_EXPIRED)",
    [HSM_ERR_WRAPPED_INVALID] = "the wrapped key failed its integrity check: wrong KEK or corrupted blob "
                                "(CKR_WRAPPED_KEY_INVALID, CKR_ENCRYPTED_DATA_INVALID; "
                                "SoftHSM2 reports it from C_UnwrapKey as CKR_GENERAL_ERROR)",
    [HSM_ERR_KEY_INVALID] = "the key handle is invalid or the key has the wrong type or size "
                            "(CKR_KEY_HANDLE_INVALID, CKR_OBJECT_HANDLE_INVALID, CKR_KEY_SIZE_RANGE, "
                            "CKR_KEY_TYPE_INCONSISTENT, CKR_WRAPPED_KEY_LEN_RANGE)",
    [HSM_ERR_KEY_USE] = "the key's attributes forbid this operation (CKR_KEY_FUNCTION_NOT_PERMITTED, "
                        "CKR_KEY_UNEXTRACTABLE, CKR_KEY_NOT_WRAPPABLE, CKR_ATTRIBUTE_SENSITIVE)",
    [HSM_ERR_MECHANISM] = "the token does not support the mechanism or its parameters "
                          "(CKR_MECHANISM_INVALID, CKR_MECHANISM_PARAM_INVALID)",
    [HSM_ERR_SESSION] = "the PKCS#11 session is closed, not logged in or out of sessions "
                        "(CKR_SESSION_HANDLE_INVALID, CKR_SESSION_CLOSED, CKR_USER_NOT_LOGGED_IN, CKR_SESSION_COUNT)",
    [HSM_ERR_DEVICE] = "the token failed or went away (CKR_DEVICE_ERROR, CKR_DEVICE_REMOVED, "
                       "CKR_TOKEN_NOT_PRESENT, CKR_GENERAL_ERROR, CKR_FUNCTION_FAILED)",
    [HSM_ERR_MEMORY] = "out of memory in the host or the token (CKR_HOST_MEMORY, CKR_DEVICE_MEMORY)",
    [HSM_ERR_PKCS11] = "the PKCS#11 module returned an unexpected error",
    [HSM_ERR_BUSY] = "another process held the token directory's open lock (ferry-open.lock) "
                     "for longer than ferry waits",
};

const char *hsm_strerror(hsm_status st)
{
    if ((unsigned)st >= HSM_STATUS_COUNT || sentences[st] == NULL)
        return "unknown hsm status";
    return sentences[st];
}

#define CKR(name, status) {name, #name, status}

static const struct {
    unsigned long ckr;
    const char *name;
    hsm_status status;
} ckrs[] = {
    CKR(CKR_OK, HSM_OK),
    CKR(CKR_HOST_MEMORY, HSM_ERR_MEMORY),
    CKR(CKR_DEVICE_MEMORY, HSM_ERR_MEMORY),
    CKR(CKR_GENERAL_ERROR, HSM_ERR_DEVICE),
    CKR(CKR_FUNCTION_FAILED, HSM_ERR_DEVICE),
    CKR(CKR_DEVICE_ERROR, HSM_ERR_DEVICE),
    CKR(CKR_DEVICE_REMOVED, HSM_ERR_DEVICE),
    CKR(CKR_TOKEN_NOT_PRESENT, HSM_ERR_DEVICE),
    CKR(CKR_TOKEN_NOT_RECOGNIZED, HSM_ERR_DEVICE),
    CKR(CKR_SLOT_ID_INVALID, HSM_ERR_TOKEN_NOT_FOUND),
    CKR(CKR_PIN_INCORRECT, HSM_ERR_PIN_INCORRECT),
    CKR(CKR_PIN_INVALID, HSM_ERR_PIN_INCORRECT),
    CKR(CKR_PIN_LEN_RANGE, HSM_ERR_PIN_INCORRECT),
    CKR(CKR_PIN_LOCKED, HSM_ERR_PIN_LOCKED),
    CKR(CKR_PIN_EXPIRED, HSM_ERR_PIN_LOCKED),
    CKR(CKR_WRAPPED_KEY_INVALID, HSM_ERR_WRAPPED_INVALID),
    CKR(CKR_ENCRYPTED_DATA_INVALID, HSM_ERR_WRAPPED_INVALID),
    CKR(CKR_KEY_HANDLE_INVALID, HSM_ERR_KEY_INVALID),
    CKR(CKR_OBJECT_HANDLE_INVALID, HSM_ERR_KEY_INVALID),
    CKR(CKR_KEY_SIZE_RANGE, HSM_ERR_KEY_INVALID),
    CKR(CKR_KEY_TYPE_INCONSISTENT, HSM_ERR_KEY_INVALID),
    CKR(CKR_WRAPPED_KEY_LEN_RANGE, HSM_ERR_KEY_INVALID),
    CKR(CKR_WRAPPING_KEY_HANDLE_INVALID, HSM_ERR_KEY_INVALID),
    CKR(CKR_WRAPPING_KEY_SIZE_RANGE, HSM_ERR_KEY_INVALID),
    CKR(CKR_WRAPPING_KEY_TYPE_INCONSISTENT, HSM_ERR_KEY_INVALID),
    CKR(CKR_UNWRAPPING_KEY_HANDLE_INVALID, HSM_ERR_KEY_INVALID),
    CKR(CKR_UNWRAPPING_KEY_SIZE_RANGE, HSM_ERR_KEY_INVALID),
    CKR(CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT, HSM_ERR_KEY_INVALID),
    CKR(CKR_KEY_FUNCTION_NOT_PERMITTED, HSM_ERR_KEY_USE),
    CKR(CKR_KEY_UNEXTRACTABLE, HSM_ERR_KEY_USE),
    CKR(CKR_KEY_NOT_WRAPPABLE, HSM_ERR_KEY_USE),
    CKR(CKR_ATTRIBUTE_SENSITIVE, HSM_ERR_KEY_USE),
    CKR(CKR_KEY_INDIGESTIBLE, HSM_ERR_KEY_USE),
    CKR(CKR_MECHANISM_INVALID, HSM_ERR_MECHANISM),
    CKR(CKR_MECHANISM_PARAM_INVALID, HSM_ERR_MECHANISM),
    CKR(CKR_SESSION_HANDLE_INVALID, HSM_ERR_SESSION),
    CKR(CKR_SESSION_CLOSED, HSM_ERR_SESSION),
    CKR(CKR_SESSION_COUNT, HSM_ERR_SESSION),
    CKR(CKR_SESSION_READ_ONLY, HSM_ERR_SESSION),
    CKR(CKR_USER_NOT_LOGGED_IN, HSM_ERR_SESSION),
    CKR(CKR_CRYPTOKI_NOT_INITIALIZED, HSM_ERR_SESSION),
    CKR(CKR_ARGUMENTS_BAD, HSM_ERR_ARGUMENT),
    CKR(CKR_DATA_LEN_RANGE, HSM_ERR_ARGUMENT),
    CKR(CKR_BUFFER_TOO_SMALL, HSM_ERR_BUFFER),
    CKR(CKR_ATTRIBUTE_VALUE_INVALID, HSM_ERR_PKCS11),
    CKR(CKR_ATTRIBUTE_TYPE_INVALID, HSM_ERR_PKCS11),
    CKR(CKR_ATTRIBUTE_READ_ONLY, HSM_ERR_PKCS11),
    CKR(CKR_TEMPLATE_INCOMPLETE, HSM_ERR_PKCS11),
    CKR(CKR_TEMPLATE_INCONSISTENT, HSM_ERR_PKCS11),
    CKR(CKR_OPERATION_ACTIVE, HSM_ERR_PKCS11),
    CKR(CKR_OPERATION_NOT_INITIALIZED, HSM_ERR_PKCS11),
    CKR(CKR_USER_ALREADY_LOGGED_IN, HSM_ERR_PKCS11),
    CKR(CKR_USER_PIN_NOT_INITIALIZED, HSM_ERR_PIN_INCORRECT),
    CKR(CKR_USER_TYPE_INVALID, HSM_ERR_PKCS11),
    CKR(CKR_TOKEN_WRITE_PROTECTED, HSM_ERR_PKCS11),
    CKR(CKR_FUNCTION_NOT_SUPPORTED, HSM_ERR_MECHANISM),
    CKR(CKR_CRYPTOKI_ALREADY_INITIALIZED, HSM_ERR_CONFIG),
    CKR(CKR_CANT_LOCK, HSM_ERR_MODULE),
};

const char *hsm_ckr_name(unsigned long ckr)
{
    for (size_t i = 0; i < sizeof(ckrs) / sizeof(ckrs[0]); i++) {
        if (ckrs[i].ckr == ckr)
            return ckrs[i].name;
    }
    return ckr >= CKR_VENDOR_DEFINED ? "CKR_VENDOR_DEFINED" : "unknown CKR";
}

hsm_status hsm_status_from_ckr(unsigned long ckr)
{
    for (size_t i = 0; i < sizeof(ckrs) / sizeof(ckrs[0]); i++) {
        if (ckrs[i].ckr == ckr)
            return ckrs[i].status;
    }
    return HSM_ERR_PKCS11;
}

char *hsm_diag_format(hsm_status st, const hsm_diag *d, char *buf, size_t cap)
{
    if (buf == NULL || cap == 0)
        return buf;
    char tries[40] = "";
    if (d != NULL && d->tries > 1)
        snprintf(tries, sizeof(tries), " (after %u tries)", d->tries);
    if (d != NULL && d->call != NULL)
        snprintf(buf, cap, "%s returned %s (0x%lx): %s%s", d->call, hsm_ckr_name(d->ckr), d->ckr,
                 hsm_strerror(st), tries);
    else
        snprintf(buf, cap, "%s%s", hsm_strerror(st), tries);
    return buf;
}

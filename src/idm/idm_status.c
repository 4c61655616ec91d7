/*
 * idm_status.c - a sentence for every idm_status.
 */
#include "idm/idm_status.h"

#include <stddef.h>

static const char *const MESSAGES[IDM_STATUS_COUNT] = {
    [IDM_OK] = "success",
    [IDM_ERR_ARGUMENT] = "invalid argument",
    [IDM_ERR_ILLEGAL] = "the secure element's lifecycle does not allow this transition",
    [IDM_ERR_EXISTS] = "exists already; nothing was overwritten",
    [IDM_ERR_IO] = "a file could not be read or written",
    [IDM_ERR_HSM] = "the key service failed",
    [IDM_ERR_STORE] = "the database failed",
    [IDM_ERR_SE] = "the secure element refused",
    [IDM_ERR_INPUT] = "a batch line is malformed",
    [IDM_ERR_KEK] = "a key does not unwrap under the KEK it names, or the KEK is unknown",
    [IDM_ERR_CONFLICT] = "the batch contradicts a secure element the IDM already holds",
    [IDM_ERR_RANDOM] = "the OS random generator failed",
    [IDM_ERR_NOMEM] = "out of memory",
    [IDM_ERR_NOT_FOUND] = "no such secure element, tenant, Join Server or claim",
    [IDM_ERR_AUTH] = "the token is wrong",
    [IDM_ERR_LOCKED] = "the claim is locked or held by another tenant",
    [IDM_ERR_REMOTE] = "the customer Join Server refused or could not be reached",
    [IDM_ERR_MLS] = "an MLS message could not be sealed, opened or decoded",
    [IDM_ERR_BUSY] = "not possible now; try again later",
    [IDM_ERR_FORBIDDEN] = "this kind of actor may not do that",
    [IDM_ERR_TOO_BIG] = "larger than the secure element takes",
};

const char *idm_strerror(idm_status st)
{
    if ((unsigned)st >= IDM_STATUS_COUNT || MESSAGES[st] == NULL)
        return "unknown IDM status";
    return MESSAGES[st];
}

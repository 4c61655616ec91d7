/*
 * idm_status.h - the Identity Manager's one status enum and its sentences.
 */
#ifndef FERRY_IDM_STATUS_H
#define FERRY_IDM_STATUS_H

typedef enum idm_status {
    IDM_OK = 0,
    IDM_ERR_ARGUMENT,    /* a NULL pointer or a value out of range */
    IDM_ERR_ILLEGAL,     /* a lifecycle transition the state machine refuses */
    IDM_ERR_EXISTS,      /* an output file or record exists already: nothing overwritten */
    IDM_ERR_IO,          /* a file could not be read or written */
    IDM_ERR_HSM,         /* the key service failed */
    IDM_ERR_STORE,       /* the database failed */
    IDM_ERR_SE,          /* the secure element refused manufacture or personalisation */
    IDM_ERR_INPUT,       /* a batch line is malformed (the message names the line) */
    IDM_ERR_KEK,         /* a key does not unwrap under the KEK it names, or the KEK is unknown */
    IDM_ERR_CONFLICT,    /* a batch line contradicts an SE the IDM already holds */
    IDM_ERR_RANDOM,      /* the OS random generator failed */
    IDM_ERR_NOMEM,       /* out of memory */
    IDM_ERR_NOT_FOUND,   /* no such secure element, tenant, Join Server or claim */
    IDM_ERR_AUTH,        /* a wrong owner token or bearer token */
    IDM_ERR_LOCKED,      /* the claim is locked, or held by another tenant */
    IDM_ERR_REMOTE,      /* the customer Join Server refused or could not be reached */
    IDM_ERR_MLS,         /* an MLS message could not be sealed, opened or decoded */
    IDM_ERR_BUSY,        /* nothing to do now: try again later */
    IDM_ERR_FORBIDDEN,   /* an action this kind of actor does not have (idm_authorize) */
    IDM_ERR_TOO_BIG,     /* an MLS command larger than the SE takes (its MLSMessageMax) */
    IDM_STATUS_COUNT
} idm_status;

/* A static sentence for `st`; never NULL. */
const char *idm_strerror(idm_status st);

#define IDM_ERR_MAX 256  /* size of the err[] buffers filled with a detailed sentence */

#endif

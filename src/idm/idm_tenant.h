/*
 * idm_tenant.h - owners and customers: tenants, customer Join Servers
 * (idm_tenant.c), claims and assignment (idm_claim.c); docs/idm.md.
 *
 *   tenant      a device maker or a customer; authenticates to the IDM's
 *               REST API with a bearer token the IDM made (kept as SHA-256)
 *   customer JS a customer's Join Server: admin API URL and token, JoinEUI,
 *               home NetID and the label of a KEK shared with it (imported
 *               into the IDM's token with `ferry kek import`)
 *   claim       an SE held by a customer tenant: claimed with the SE's owner
 *               token, then assigned to one of the tenant's Join Servers
 *
 * Claim states (idm_claim_transition): none -> claimed (right owner token);
 * claimed -> released (by its tenant) | refused (by the operator) | locked
 * (by the operator); released/refused -> claimed (by anyone with the owner
 * token); locked -> claimed or released (operator unlock); IDM_CLAIM_MAX_FAILURES
 * wrong owner tokens in a row lock the SE against claims.
 *
 * Every change is written with its audit entry in one transaction. Functions
 * return idm_status with a sentence in err[IDM_ERR_MAX].
 */
#ifndef FERRY_IDM_TENANT_H
#define FERRY_IDM_TENANT_H

#include "idm/idm.h"
#include "store/store_idm_tenant.h"
#include "store/store_operator.h"

#include <jansson.h>

#define IDM_TENANT_TOKEN_HEX 64       /* 256-bit bearer tokens, 64 hex digits */
#define IDM_CLAIM_MAX_FAILURES 5

/* Makes tenant `id` of `kind` ("maker" or "customer") and a fresh bearer
 * token, returned once in token_hex (64 hex digits + NUL; the caller writes
 * it to a 0600 file and wipes it). IDM_ERR_EXISTS if the id is taken. */
idm_status idm_tenant_add(store *db, const char *id, const char *kind, const char *name, const char *actor,
                          char token_hex[IDM_TENANT_TOKEN_HEX + 1], char err[IDM_ERR_MAX]);

/* The tenant whose bearer token is `token` (SHA-256 looked up, then
 * compared in constant time); IDM_ERR_AUTH otherwise. */
idm_status idm_tenant_authenticate(store *db, const char *token, store_idm_tenant *out)
    __attribute__((warn_unused_result));

/* A network operator signing in to the activation console with the bearer
 * token it has for the Join Server (docs/operators.md): the operator whose
 * token hashes the same (looked up, then compared in constant time);
 * IDM_ERR_AUTH otherwise (also for an operator without a token). */
#define IDM_OPERATOR_TOKEN_MAX 256
idm_status idm_operator_authenticate(store *db, const char *token, store_operator *out)
    __attribute__((warn_unused_result));

typedef struct idm_js_opts {
    const char *id;
    const char *tenant_id;        /* a customer tenant */
    const char *admin_url;        /* base URL of the JS, e.g. http://127.0.0.1:4712 */
    char *admin_token;            /* the JS's DIR/admin.token text; wiped here */
    uint64_t join_eui;
    uint32_t home_net_id;
    const char *kek_label;        /* must be in the keks table */
    const char *ns_kek_label;     /* NSKEKLabel for the devices on that JS (NULL/"" none) */
    const char *as_kek_label;     /* ASKEKLabel for the devices on that JS (NULL/"" none) */
    const char *actor;
    /* NetIDs the customer's devices may join through besides home_net_id,
     * separated by commas (at most STORE_NET_IDS_MAX; NULL/"" = no
     * restriction): their AllowedNetIDs on that JS, and the networks the
     * bootstrap JS answers HomeNSReq for them (docs/operators.md). */
    const char *allowed_net_ids;
    /* PEM CA bundle its admin API's certificate is verified against (a
     * private CA); NULL/"" = the system's CAs. */
    const char *ca_pem;
} idm_js_opts;

/* Registers a customer Join Server. Its admin token is encrypted under a
 * working key made in the token for this row (store_idm_tenant.h). */
idm_status idm_js_add(hsm_session *hs, store *db, idm_js_opts *o, char err[IDM_ERR_MAX]);

/* Decrypts a JS's admin token into out[cap] (NUL-terminated) for one HTTP
 * request. The caller wipes out[] right after. */
idm_status idm_js_token(hsm_session *hs, const store_idm_js *j, char *out, size_t cap);

/* Claims SE dev_eui for customer tenant `tenant_id` with its owner token (32
 * hex digits, from the QR). IDM_OK also when that tenant holds it already;
 * IDM_ERR_AUTH wrong token (counted); IDM_ERR_LOCKED locked or held by
 * another tenant; IDM_ERR_NOT_FOUND unknown SE. *already (may be NULL). */
idm_status idm_claim(store *db, uint64_t dev_eui, const char *tenant_id, const char *owner_token, const char *actor,
                     bool *already, char err[IDM_ERR_MAX]) __attribute__((warn_unused_result));

/* Many claims for one tenant, IDM_CLAIM_BATCH_MAX at most, in one
 * transaction: each item gets the result, `already` and error idm_claim
 * would give it (a wrong token is counted and audited as alone). A claims
 * file of 10,000 SEs is then 40 commits instead of 10,000. When the
 * transaction itself fails (the database), every item is claimed again in
 * its own transaction, so that one bad item cannot fail the others.
 * IDM_ERR_ARGUMENT for n out of 1..IDM_CLAIM_BATCH_MAX. */
#define IDM_CLAIM_BATCH_MAX 256
typedef struct idm_claim_item {
    uint64_t dev_eui;
    const char *owner_token;      /* 32 hex digits; the caller wipes it */
    idm_status result;
    bool already;
    char err[IDM_ERR_MAX];
} idm_claim_item;
idm_status idm_claim_many(store *db, const char *tenant_id, const char *actor, idm_claim_item *items, size_t n)
    __attribute__((warn_unused_result));

/* One line of a claims file (`idm claim --file`), without or with its
 * newline: "DEVEUI OWNERTOKEN" (16 and 32 hex digits, blanks between), or
 * the SE's TR005 QR payload LW:D0:<JoinEUI>:<DevEUI>:<ProfileID>:O<token>
 * (other optional fields allowed). token gets the owner token's 32 hex
 * digits and a NUL, for idm_claim; the caller wipes it and the line.
 * IDM_ERR_INPUT with a sentence that never quotes the line. */
idm_status idm_claim_line_parse(const char *line, uint64_t *dev_eui, char token[2 * IDM_OWNER_TOKEN_LEN + 1],
                                char err[IDM_ERR_MAX]) __attribute__((warn_unused_result));

typedef enum idm_claim_op {
    IDM_CLAIM_RELEASE = 0,        /* by the tenant holding it (tenant_id given) */
    IDM_CLAIM_REFUSE,             /* operator: the maker refuses the claim */
    IDM_CLAIM_LOCK,               /* operator: freeze */
    IDM_CLAIM_UNLOCK              /* operator: back to claimed (with a tenant) or released */
} idm_claim_op;

/* Applies op; tenant_id (RELEASE only) must hold the claim. Releasing is
 * refused once a profile was queued (IDM_ERR_ILLEGAL). */
idm_status idm_claim_change(store *db, uint64_t dev_eui, idm_claim_op op, const char *tenant_id, const char *actor,
                            char err[IDM_ERR_MAX]);

/* Assigns a claimed SE to one Join Server of its tenant: js_id, or the
 * tenant's only one when NULL (IDM_ERR_ARGUMENT when it has several).
 * tenant_id non-NULL: the caller must be that tenant (IDM_ERR_NOT_FOUND
 * otherwise, as if the SE did not exist). Provisioning follows when the SE
 * is bootstrapped (idm_provision). */
idm_status idm_assign(store *db, uint64_t dev_eui, const char *tenant_id, const char *js_id, const char *actor,
                      char err[IDM_ERR_MAX]);

/* Moves SE dev_eui through `ev` (idm_state_transition + compare-and-set)
 * and appends the audit entry "idm.se.<event>", in one transaction. Its
 * details are {"from","to"} and the members of `details` (a JSON object,
 * borrowed; NULL: none). *to (may be NULL) the new state. */
idm_status idm_se_event(store *db, uint64_t dev_eui, idm_event ev, const char *actor, const json_t *details,
                        idm_state *to, char err[IDM_ERR_MAX]);

/* The same inside a transaction the caller runs (store_idm_txn). */
store_status idm_se_event_txn(store *db, uint64_t dev_eui, idm_event ev, const char *actor, const json_t *details,
                              idm_state *to) STORE_MUST_CHECK;

/* Audit details are JSON objects built with jansson (never text by hand,
 * so any string is escaped and nothing is cut), stored compact.
 * idm_audit_txn appends one entry inside the caller's transaction;
 * details borrowed, NULL gives {}; STORE_ERR_NOMEM when details is not an
 * object or its text cannot be made (out of memory). idm_audit does the
 * same in its own transaction. */
store_status idm_audit_txn(store *s, const char *actor, const char *action, const char *subject,
                           const json_t *details) STORE_MUST_CHECK;
idm_status idm_audit(store *db, const char *actor, const char *action, const char *subject, const json_t *details);

/* Text of a JSON object for an audit entry (compact), allocated by
 * jansson's allocator: free it with idm_json_free. NULL when out of memory. */
char *idm_audit_text(const json_t *details);
void idm_json_free(char *text);

#endif

/*
 * idm.h - the Identity Manager: the table of contents.
 *
 * Manufacturing hand-off (this part of the IDM; docs/hsa.md):
 *
 *   high-security area (HSA)                      Identity Manager
 *   idm_hsa_personalise()                         idm_import_batch()
 *     its own SoftHSM2 token (OUT/hsa/)             the `ferry init` deployment's token
 *     per SE: root keys + MLS key generated         each key: unwrapped under the
 *     in the token, wrapped for the chip            HSA-IDM KEK inside the token and
 *     (transport key) and for the IDM               rewrapped under the master key
 *     (HSA-IDM KEK) ----- OUT/batch.jsonl ----->    idm_se row + bootstrap JS device
 *
 * Lifecycle: idm_state.h (docs/idm-lifecycle.md). Rows and the audit chain:
 * store/store_idm.h. Opening an IDM (its token, database, idm.conf, clock
 * and log, for the CLI and `idm serve` alike): idm_core.h.
 *
 * Secrets: no function here takes or returns a key in clear except the
 * HSA-IDM KEK given to idm_hsa_personalise (the operator's input, wiped) and
 * the emulated chip maker's transport keys, which exist in process memory
 * for the duration of one SE (see idm_hsa.c). The owner token leaves only in
 * the batch file (for the QR label) and is kept by the IDM as its SHA-256.
 *
 * Every function returns an idm_status; err[IDM_ERR_MAX] gets a sentence
 * that names the input at fault (a batch line number, a file).
 */
#ifndef FERRY_IDM_H
#define FERRY_IDM_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "hsm/hsm.h"
#include "idm/idm_state.h"
#include "idm/idm_status.h"
#include "js/js.h"
#include "store/store.h"
#include "store/store_idm.h"

#define IDM_HSA_TOKEN_LABEL    "ferry-hsa"
#define IDM_HSA_DIR            "hsa"              /* OUT/hsa: the HSA's SoftHSM2 deployment */
#define IDM_BATCH_FILE         "batch.jsonl"
#define IDM_DEFAULT_JOIN_EUI   0x70B3D57ED0000000ull  /* bootstrap JoinEUI unless --join-eui */
#define IDM_DEFAULT_DEV_EUI    0x70B3D57ED0010000ull  /* first DevEUI unless --dev-eui-base */
#define IDM_DEFAULT_SERIAL     0x0000000000000001ull  /* first serial unless --serial-base */
#define IDM_DEFAULT_PROFILE_ID 0x00000000u            /* TR005 ProfileID unless --profile-id */
#define IDM_OWNER_TOKEN_LEN    16                     /* 128 random bits, 32 hex digits */
#define IDM_QR_MAX             96

/* ---- the batch line (idm_batch.c) -------------------------------------- */

/* One SE of a batch file, parsed. The keys are RFC 3394 wraps under the KEK
 * named by their label: 24 bytes each, never clear. */
typedef struct idm_batch_key {
    char kek_label[STORE_LABEL_MAX + 1];
    uint8_t wrapped[HSM_BLOB_LEN];
} idm_batch_key;

typedef struct idm_batch_line {
    uint64_t dev_eui;
    uint64_t join_eui;
    uint64_t serial;
    store_mac_version mac_version;     /* 1.0.2, 1.0.3, 1.0.4 or 1.1 */
    idm_batch_key nwk_key;
    idm_batch_key app_key;
    idm_batch_key mls_key;
    uint8_t owner_token[IDM_OWNER_TOKEN_LEN];
    uint32_t profile_id;               /* from the QR; 0 when absent */
    /* "MLSMessageMax": the largest sealed MLS message the element's
     * firmware takes (128..1024); 0 = absent, the protocol's 1024. */
    uint16_t mls_msg_max;
} idm_batch_line;

/* Writes `l` as one JSON line with its newline into out[cap] (docs/hsa.md,
 * "Batch file"); *len its length. IDM_ERR_ARGUMENT when cap is too small. */
idm_status idm_batch_line_format(const idm_batch_line *l, char *out, size_t cap, size_t *len);

/* Parses one line (without or with its newline). IDM_ERR_INPUT with the
 * field at fault in err. The line is wiped by the caller; *out is wiped on
 * failure. */
idm_status idm_batch_line_parse(const char *text, size_t len, idm_batch_line *out, char err[IDM_ERR_MAX]);

/* The TR005 QR payload LW:D0:<JoinEUI>:<DevEUI>:<ProfileID>:O<OwnerToken>
 * into out[IDM_QR_MAX]. It carries the owner token: treat it like the token. */
void idm_qr_payload(const idm_batch_line *l, char out[IDM_QR_MAX]);

/* The MAC version names the SE supports ("1.0.2", "1.0.3", "1.0.4", "1.1")
 * and the se_mac_version code of each. IDM_ERR_ARGUMENT otherwise. */
idm_status idm_mac_version_se_code(store_mac_version v, uint8_t *code);

/* ---- the high-security area (idm_hsa.c) -------------------------------- */

typedef struct idm_hsa_opts {
    const char *out_dir;          /* made 0700 if missing; must not hold batch.jsonl */
    uint64_t count;               /* SEs to personalise, >= 1 */
    const char *kek_label;        /* KEKLabel written into every envelope */
    uint64_t join_eui;            /* bootstrap JoinEUI */
    store_mac_version mac_version;
    uint64_t dev_eui_base;        /* DevEUIs base, base+1, ... */
    uint64_t serial_base;
    uint32_t profile_id;          /* TR005 ProfileID: VendorID << 16 | VendorProfileID */
    uint16_t mls_msg_max;         /* the element firmware's MLS_MSG_MAX, written as MLSMessageMax;
                                     0 = the protocol's 1024, not written */
} idm_hsa_opts;

typedef struct idm_hsa_result {
    uint64_t personalised;
    bool token_created;           /* OUT/hsa was made by this run (else reused) */
    char batch_path[4096];
} idm_hsa_result;

/* Personalises o->count SE images OUT/se-<DevEUI>.img and writes
 * OUT/batch.jsonl (first as batch.jsonl.tmp, renamed when complete, so a
 * batch file is always whole). hsa_idm_kek[16] is the HSA-IDM transport KEK:
 * imported into the HSA token and wiped here on every path. Streams: memory
 * does not grow with count (the HSA token is reopened every IDM_RECYCLE_EVERY
 * SEs, see idm_token). IDM_ERR_EXISTS when the batch or an image exists
 * already. The caller should have called hsm_process_harden(). */
idm_status idm_hsa_personalise(const idm_hsa_opts *o, uint8_t hsa_idm_kek[16], idm_hsa_result *out,
                               char err[IDM_ERR_MAX]);

/* ---- the import (idm_import.c) ----------------------------------------- */

/* The IDM's key service for an import. SoftHSM2 frees the memory of a
 * destroyed object only at C_Finalize (measured: ~250 bytes per object
 * created), so a long import closes and reopens the module every
 * IDM_RECYCLE_EVERY SEs when `cfg` is given; h and s are replaced then.
 * `cfg` NULL: never (memory then grows with the batch on SoftHSM2). */
typedef struct idm_token {
    const hsm_config *cfg;
    unsigned recycle_every;       /* SEs between reopens; 0 = IDM_RECYCLE_EVERY */
    hsm *h;
    hsm_session *s;
} idm_token;

#define IDM_RECYCLE_EVERY 5000

typedef struct idm_import_opts {
    uint32_t home_net_id;         /* HomeNetID of the bootstrap devices (24 bits) */
    const char *ns_kek_label;     /* NSKEKLabel of the bootstrap devices ("" = none) */
    const char *as_kek_label;     /* ASKEKLabel ("" = none) */
    const char *as_id;            /* ASID ("" = none) */
    const char *actor;            /* who, for the audit entry */
    /* The onboarded operators that may activate the batch's SEs
     * (docs/operators.md): NULL or "*" = all of them, else the canonical
     * list of idm_net_id_list_canon ("000013,C00053"). Kept per SE. */
    const char *operators;
    /* The maker tenant whose batch this is (a tenant of kind maker): it
     * may read and act on these SEs and no others (docs/idm.md, "Who may do
     * what"). NULL or "" = none recorded: no maker acts on them. */
    const char *maker;
    /* The JoinEUIs the deployment's Join Server serves (ferry.conf): an SE
     * whose bootstrap JoinEUI is outside them could never join, and the
     * batch is refused. NULL = not checked (tests of the import alone). */
    const js_join_eui_range *join_euis;
    size_t n_join_euis;
} idm_import_opts;

typedef struct idm_import_summary {
    uint64_t lines;               /* SE lines in the batch */
    uint64_t imported;            /* new SEs */
    uint64_t already;             /* SEs the IDM held already (same identity and token) */
    int64_t audit_seq;            /* the audit entry recording this import */
    uint8_t batch_sha256[32];     /* of the whole file as read */
} idm_import_summary;

/* Imports a batch into the IDM in ONE transaction: for each new SE the
 * three keys are translated inside the token (hsm_import_wrapped under the
 * KEK its envelope names, which must be in the store's keks table) into
 * master-key blobs; the SE becomes an idm_se row (state "manufactured",
 * owner token hashed) and a bootstrap Join Server device (store_device_put).
 * SEs already held with the same JoinEUI, serial, MAC version and owner
 * token are counted as `already`; one that differs is IDM_ERR_CONFLICT. Any
 * error (with err naming the line) rolls everything back. One audit entry
 * per batch. `in` must be seekable (a retried transaction reads it again).
 * Memory is constant in the batch's size (with t->cfg, see idm_token). */
idm_status idm_import_batch(idm_token *t, store *db, FILE *in, const idm_import_opts *o, idm_import_summary *out,
                            char err[IDM_ERR_MAX]);

#endif

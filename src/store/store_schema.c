/*
 * store_schema.c - the migrations, side by side for both databases.
 *
 * One schema, two spellings: SQLite says BLOB where PostgreSQL says BYTEA,
 * PostgreSQL's key text is COLLATE "C", and SQLite's small per-nonce table is
 * WITHOUT ROWID. Everything else -
 * names, keys, constraints, column order - is identical, so docs/store.md
 * describes both at once and the same SQL in store_join.c runs on both.
 *
 * Rules for a new migration: append, never edit one that has shipped; add it
 * to both arrays in the same commit; keep it one transaction's worth of DDL.
 */
#include "store/store_driver.h"

/* Key text columns (EUIs, labels) compare bytewise on both databases:
 * SQLite's default, PostgreSQL's COLLATE "C" (whatever the cluster's locale),
 * so paging orders and index lookups agree.
 *
 * Version 1. EUIs as 16 uppercase hex digits; integers fit BIGINT; times are
 * Unix seconds. Key columns hold wrapped blobs only (see store.h). */
#define V1(BLOB, KEY, NONCES_TAIL)                                                                        \
    "CREATE TABLE devices ("                                                                         \
    " dev_eui " KEY " PRIMARY KEY CHECK (length(dev_eui) = 16),"                                        \
    " join_eui " KEY " NOT NULL CHECK (length(join_eui) = 16),"                                         \
    " mac_version TEXT NOT NULL CHECK (mac_version IN ('1.0.0','1.0.1','1.0.2','1.0.3','1.0.4','1.1')),"  \
    " home_net_id BIGINT NOT NULL CHECK (home_net_id BETWEEN 0 AND 16777215),"                       \
    " allowed_net_ids TEXT NOT NULL DEFAULT '',"                                                     \
    " nwk_key " BLOB " NOT NULL,"                                                                    \
    " app_key " BLOB ","                                                                             \
    " ns_kek_label TEXT,"                                                                            \
    " as_kek_label TEXT,"                                                                            \
    " as_id TEXT,"                                                                                   \
    " next_join_nonce BIGINT NOT NULL DEFAULT 0 CHECK (next_join_nonce BETWEEN 0 AND 16777216),"     \
    " created_at BIGINT NOT NULL,"                                                                   \
    " updated_at BIGINT NOT NULL);"                                                                  \
    "CREATE TABLE dev_nonces ("                                                                      \
    " dev_eui " KEY " NOT NULL REFERENCES devices (dev_eui) ON DELETE CASCADE,"                         \
    " join_eui " KEY " NOT NULL,"                                                                       \
    " dev_nonce INTEGER NOT NULL CHECK (dev_nonce BETWEEN 0 AND 65535),"                             \
    " join_nonce BIGINT NOT NULL,"                                                                   \
    " accepted_at BIGINT NOT NULL,"                                                                  \
    " PRIMARY KEY (dev_eui, join_eui, dev_nonce))" NONCES_TAIL ";"                                   \
    "CREATE TABLE rejoin_counts ("                                                                   \
    " dev_eui " KEY " NOT NULL REFERENCES devices (dev_eui) ON DELETE CASCADE,"                         \
    " join_eui " KEY " NOT NULL,"                                                                       \
    " counter INTEGER NOT NULL CHECK (counter IN (0, 1)),"                                           \
    " last_count INTEGER NOT NULL CHECK (last_count BETWEEN 0 AND 65535),"                           \
    " session_join_nonce BIGINT NOT NULL,"                                                           \
    " updated_at BIGINT NOT NULL,"                                                                   \
    " PRIMARY KEY (dev_eui, join_eui, counter));"                                                    \
    "CREATE TABLE sessions ("                                                                        \
    " dev_eui " KEY " NOT NULL REFERENCES devices (dev_eui) ON DELETE CASCADE,"                         \
    " session_key_id " BLOB " NOT NULL,"                                                             \
    " join_eui " KEY " NOT NULL,"                                                                       \
    " join_nonce BIGINT NOT NULL,"                                                                   \
    " dev_nonce INTEGER NOT NULL,"                                                                   \
    " rejoin_type INTEGER NOT NULL CHECK (rejoin_type BETWEEN -1 AND 2),"                            \
    " dev_addr BIGINT NOT NULL,"                                                                     \
    " app_s_key " BLOB ","                                                                           \
    " f_nwk_s_int_key " BLOB ","                                                                     \
    " s_nwk_s_int_key " BLOB ","                                                                     \
    " nwk_s_enc_key " BLOB ","                                                                       \
    " lifetime_s BIGINT NOT NULL,"                                                                   \
    " created_at BIGINT NOT NULL,"                                                                   \
    " expires_at BIGINT NOT NULL,"                                                                   \
    " PRIMARY KEY (dev_eui, session_key_id));"                                                       \
    "CREATE INDEX sessions_expiry ON sessions (expires_at);"                                         \
    "CREATE TABLE keks ("                                                                            \
    " label " KEY " PRIMARY KEY,"                                                                       \
    " wrapped " BLOB " NOT NULL,"                                                                    \
    " created_at BIGINT NOT NULL);"

/* Version 2: the Identity Manager (docs/idm-lifecycle.md, src/store/store_idm.h).
 * idm_se: one row per secure element from a manufacturing batch; the MLS
 * root key as a blob under the master key, the owner token only as its
 * SHA-256. idm_audit: the append-only, hash-chained audit log; seq is the
 * chain position (1, 2, ...), hash = SHA-256(prev_hash || record), see
 * store_idm.c for the record's bytes. */
#define V2(BLOB, KEY)                                                                                     \
    "CREATE TABLE idm_se ("                                                                          \
    " dev_eui " KEY " PRIMARY KEY CHECK (length(dev_eui) = 16),"                                        \
    " join_eui " KEY " NOT NULL CHECK (length(join_eui) = 16),"                                         \
    " serial " KEY " NOT NULL CHECK (length(serial) = 16),"                                             \
    " mac_version TEXT NOT NULL CHECK (mac_version IN ('1.0.0','1.0.1','1.0.2','1.0.3','1.0.4','1.1')),"  \
    " mls_key " BLOB " NOT NULL,"                                                                    \
    " owner_token_hash " BLOB " NOT NULL,"                                                           \
    " state TEXT NOT NULL,"                                                                          \
    " created_at BIGINT NOT NULL,"                                                                   \
    " updated_at BIGINT NOT NULL);"                                                                  \
    "CREATE TABLE idm_audit ("                                                                       \
    " seq BIGINT PRIMARY KEY CHECK (seq >= 1),"                                                      \
    " logged_at BIGINT NOT NULL,"                                                                    \
    " actor TEXT NOT NULL,"                                                                          \
    " action TEXT NOT NULL,"                                                                         \
    " subject TEXT NOT NULL,"                                                                        \
    " details TEXT NOT NULL,"                                                                        \
    " prev_hash " BLOB " NOT NULL,"                                                                  \
    " hash " BLOB " NOT NULL);"

/* Version 3: tenants, customer Join Servers, claims and the over-the-air
 * delivery state of the Identity Manager (docs/idm.md,
 * src/store/store_idm_tenant.h). No column holds a secret in clear: tenant
 * bearer tokens as SHA-256; a customer JS's admin token encrypted (AES-CTR)
 * under a per-row working key kept as a blob under the master key; sealed
 * MLS messages only. */
#define V3(BLOB, KEY)                                                                                     \
    "CREATE TABLE idm_tenant ("                                                                      \
    " id " KEY " PRIMARY KEY,"                                                                          \
    " kind TEXT NOT NULL CHECK (kind IN ('maker','customer')),"                                      \
    " name TEXT NOT NULL,"                                                                           \
    " token_hash " BLOB " NOT NULL UNIQUE,"                                                          \
    " created_at BIGINT NOT NULL);"                                                                  \
    "CREATE TABLE idm_customer_js ("                                                                 \
    " id " KEY " PRIMARY KEY,"                                                                          \
    " tenant_id " KEY " NOT NULL REFERENCES idm_tenant (id),"                                           \
    " admin_url TEXT NOT NULL,"                                                                      \
    " token_key " BLOB " NOT NULL,"                                                                  \
    " token_ct " BLOB " NOT NULL,"                                                                   \
    " join_eui " KEY " NOT NULL CHECK (length(join_eui) = 16),"                                         \
    " home_net_id BIGINT NOT NULL CHECK (home_net_id BETWEEN 0 AND 16777215),"                       \
    " kek_label TEXT NOT NULL,"                                                                      \
    " ns_kek_label TEXT NOT NULL,"                                                                   \
    " created_at BIGINT NOT NULL);"                                                                  \
    "CREATE TABLE idm_claim ("                                                                       \
    " dev_eui " KEY " PRIMARY KEY REFERENCES idm_se (dev_eui),"                                         \
    " tenant_id " KEY " REFERENCES idm_tenant (id),"                                                    \
    " state TEXT NOT NULL CHECK (state IN ('claimed','locked','released','refused')),"               \
    " js_id " KEY " REFERENCES idm_customer_js (id),"                                                   \
    " failures INTEGER NOT NULL DEFAULT 0,"                                                          \
    " provisioned_at BIGINT NOT NULL DEFAULT 0,"                                                     \
    " created_at BIGINT NOT NULL,"                                                                   \
    " updated_at BIGINT NOT NULL);"                                                                  \
    "CREATE TABLE idm_ota ("                                                                         \
    " dev_eui " KEY " PRIMARY KEY REFERENCES idm_se (dev_eui),"                                         \
    " epoch INTEGER NOT NULL DEFAULT 0,"                                                             \
    " tx_next BIGINT NOT NULL CHECK (tx_next BETWEEN 0 AND 4294967295),"                             \
    " rx_last BIGINT NOT NULL CHECK (rx_last BETWEEN 0 AND 4294967295),"                             \
    " next_msg_id INTEGER NOT NULL DEFAULT 0,"                                                       \
    " next_profile_id INTEGER NOT NULL DEFAULT 1,"                                                   \
    " last_fcnt_up BIGINT NOT NULL DEFAULT -1,"                                                      \
    " last_session " BLOB ","                                                                        \
    " updated_at BIGINT NOT NULL);"                                                                  \
    "CREATE TABLE idm_cmd ("                                                                         \
    " dev_eui " KEY " NOT NULL REFERENCES idm_se (dev_eui),"                                            \
    " seq BIGINT NOT NULL,"                                                                          \
    " type INTEGER NOT NULL,"                                                                        \
    " counter BIGINT NOT NULL,"                                                                      \
    " msg " BLOB " NOT NULL,"                                                                        \
    " state TEXT NOT NULL CHECK (state IN ('queued','sending','done','failed')),"                    \
    " msg_id INTEGER NOT NULL DEFAULT 0,"                                                            \
    " frame_max INTEGER NOT NULL DEFAULT 0,"                                                         \
    " acked " BLOB ","                                                                               \
    " sent " BLOB ","                                                                                \
    " rounds INTEGER NOT NULL DEFAULT 0,"                                                            \
    " last_sent_at BIGINT NOT NULL DEFAULT 0,"                                                       \
    " deadline BIGINT NOT NULL,"                                                                     \
    " result INTEGER NOT NULL DEFAULT -1,"                                                           \
    " created_at BIGINT NOT NULL,"                                                                   \
    " updated_at BIGINT NOT NULL,"                                                                   \
    " PRIMARY KEY (dev_eui, seq));"

/* Version 4: the Identity Manager's operations after the first profile
 * (docs/idm.md, "Operations"): the update in flight on a claim (a key
 * renewal, a transfer from the previous owner, a return to bootstrap), the
 * customer root keys of an SE's profiles as blobs under the master key (a
 * renewal's new keys reach the customer JS only once the SE has them, and
 * the previous ones can be put back), the deletions still owed to customer
 * Join Servers, the replies of secure commands, and the AS KEK label of a
 * customer JS's devices. */
#define V4(BLOB, KEY)                                                                                     \
    "ALTER TABLE idm_customer_js ADD COLUMN as_kek_label TEXT NOT NULL DEFAULT '';"                  \
    "ALTER TABLE idm_claim ADD COLUMN op TEXT NOT NULL DEFAULT '';"                                  \
    "ALTER TABLE idm_claim ADD COLUMN prev_tenant_id " KEY ";"                                       \
    "ALTER TABLE idm_claim ADD COLUMN prev_js_id " KEY ";"                                           \
    "ALTER TABLE idm_cmd ADD COLUMN reply " BLOB ";"                                                 \
    "ALTER TABLE idm_ota ADD COLUMN last_event_id INTEGER NOT NULL DEFAULT 0;"                       \
    "ALTER TABLE idm_cmd ADD COLUMN origin TEXT NOT NULL DEFAULT '';"                                \
    "CREATE TABLE idm_profile_key ("                                                                 \
    " dev_eui " KEY " NOT NULL REFERENCES idm_se (dev_eui),"                                          \
    " slot TEXT NOT NULL CHECK (slot IN ('current','pending','previous')),"                           \
    " js_id " KEY " NOT NULL,"                                                                         \
    " profile_id INTEGER NOT NULL CHECK (profile_id BETWEEN 1 AND 65535),"                             \
    " nwk_key " BLOB " NOT NULL,"                                                                     \
    " app_key " BLOB ","                                                                               \
    " acked INTEGER NOT NULL DEFAULT 0,"                                                              \
    " join_nonce_base BIGINT NOT NULL DEFAULT 0,"                                                     \
    " created_at BIGINT NOT NULL,"                                                                    \
    " PRIMARY KEY (dev_eui, slot));"                                                                  \
    "CREATE TABLE idm_js_cleanup ("                                                                  \
    " dev_eui " KEY " NOT NULL,"                                                                       \
    " js_id " KEY " NOT NULL,"                                                                         \
    " reason TEXT NOT NULL,"                                                                          \
    " created_at BIGINT NOT NULL,"                                                                    \
    " PRIMARY KEY (dev_eui, js_id));"

/* Version 5: network operators onboarded to the activation service
 * (docs/operators.md, src/store/store_operator.h): each one's NetID, how it
 * authenticates (the SHA-256 of a bearer token and/or the PEM CA bundle of
 * its client certificates), the label of the KEK its network session keys
 * are wrapped under, how it reaches the bootstrap Join Server (direct, or
 * through the hub by passive roaming) and whether it is suspended; its
 * counters (activations, refusals by ResultCode); per SE the operators its
 * maker lets activate it ('*' = every onboarded operator, else NetIDs
 * separated by commas); per customer Join Server the NetIDs its devices
 * may join through ('' = no restriction). */
#define V5(BLOB, KEY)                                                                                     \
    "CREATE TABLE idm_operator ("                                                                    \
    " net_id BIGINT PRIMARY KEY CHECK (net_id BETWEEN 0 AND 16777215),"                              \
    " name TEXT NOT NULL,"                                                                            \
    " nsid " KEY " CHECK (nsid IS NULL OR length(nsid) = 16),"                                          \
    " token_hash " BLOB ","                                                                           \
    " client_ca TEXT NOT NULL DEFAULT '',"                                                            \
    " client_ca_hash " BLOB ","                                                                       \
    " kek_label TEXT NOT NULL,"                                                                       \
    " reach TEXT NOT NULL CHECK (reach IN ('direct','hub')),"                                         \
    " state TEXT NOT NULL CHECK (state IN ('active','suspended')),"                                   \
    " created_at BIGINT NOT NULL,"                                                                    \
    " updated_at BIGINT NOT NULL);"                                                                   \
    "CREATE TABLE idm_operator_count ("                                                              \
    " net_id BIGINT NOT NULL REFERENCES idm_operator (net_id) ON DELETE CASCADE,"                     \
    " request TEXT NOT NULL CHECK (request IN ('join','home_ns')),"                                   \
    " result TEXT NOT NULL,"                                                                          \
    " n BIGINT NOT NULL CHECK (n >= 0),"                                                              \
    " PRIMARY KEY (net_id, request, result));"                                                        \
    "ALTER TABLE idm_se ADD COLUMN operators TEXT NOT NULL DEFAULT '*';"                             \
    "ALTER TABLE idm_customer_js ADD COLUMN allowed_net_ids TEXT NOT NULL DEFAULT '';"

/* Version 6: who may act on an SE (docs/idm.md, "Who may do what"): the
 * maker tenant whose batch it came from ('' for SEs imported before, which
 * no maker may act on), and wrong owner tokens counted per tenant and SE,
 * so that one tenant's guesses lock out that tenant only, never the
 * buyer. */
#define V6(BLOB, KEY)                                                                                     \
    "ALTER TABLE idm_se ADD COLUMN maker TEXT NOT NULL DEFAULT '';"                                  \
    "CREATE TABLE idm_claim_failure ("                                                                \
    " dev_eui " KEY " NOT NULL REFERENCES idm_se (dev_eui),"                                            \
    " tenant_id " KEY " NOT NULL REFERENCES idm_tenant (id),"                                           \
    " failures INTEGER NOT NULL CHECK (failures >= 0),"                                               \
    " updated_at BIGINT NOT NULL,"                                                                    \
    " PRIMARY KEY (dev_eui, tenant_id));"

/* Version 7: the CA a customer Join Server's admin API is verified against
 * (PEM, '' = the system's CAs), for a JS behind a private CA
 * (`idm js add --ca-file`); kept in the database so that every IDM instance
 * on one PostgreSQL trusts the same. */
#define V7(BLOB, KEY) "ALTER TABLE idm_customer_js ADD COLUMN ca_pem TEXT NOT NULL DEFAULT '';"

/* Version 8: the largest sealed MLS message an SE takes (its firmware's
 * MLS_MSG_MAX, from the HSA batch: docs/mls.md, "Message size"), so that
 * the IDM never seals a command the element would refuse. 1024, the
 * protocol's limit, for SEs imported before. */
#define V8(BLOB, KEY)                                                                                     \
    "ALTER TABLE idm_se ADD COLUMN mls_msg_max INTEGER NOT NULL DEFAULT 1024 "                        \
    "CHECK (mls_msg_max BETWEEN 128 AND 1024);"

/* Version 9: the Join Server's outbox of asynchronous answers
 * (docs/store.md, "js_outbox"; src/store/store_outbox.h). One row per
 * (SenderID, TransactionID) answered asynchronously: the SHA-256 of the
 * request body (a duplicate is answered once), the URL and the answer to
 * POST there (its keys wrapped under the peers' KEKs, never clear), the
 * delivery state, the attempts made, the next one and the deadline, all in
 * Unix milliseconds. And per onboarded operator the answer URL and the
 * file of the bearer token presented there ('' = synchronous answers).
 * Self-contained, so that it can be renumbered when another migration
 * lands first. */
#define V9(BLOB, KEY)                                                                                     \
    "CREATE TABLE js_outbox ("                                                                       \
    " sender_id " KEY " NOT NULL,"                                                                      \
    " transaction_id BIGINT NOT NULL CHECK (transaction_id BETWEEN 0 AND 4294967295),"                 \
    " request_hash " BLOB " NOT NULL,"                                                               \
    " answer_url TEXT NOT NULL,"                                                                     \
    " answer TEXT NOT NULL,"                                                                         \
    " state TEXT NOT NULL CHECK (state IN ('pending','delivered','expired')),"                       \
    " attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),"                                    \
    " next_attempt_ms BIGINT NOT NULL,"                                                              \
    " deadline_ms BIGINT NOT NULL,"                                                                  \
    " created_ms BIGINT NOT NULL,"                                                                   \
    " updated_ms BIGINT NOT NULL,"                                                                   \
    " PRIMARY KEY (sender_id, transaction_id));"                                                     \
    "CREATE INDEX js_outbox_due ON js_outbox (state, next_attempt_ms);"                              \
    "ALTER TABLE idm_operator ADD COLUMN answer_url TEXT NOT NULL DEFAULT '';"                        \
    "ALTER TABLE idm_operator ADD COLUMN answer_token_file TEXT NOT NULL DEFAULT '';"

/* Version 10: JoinNonces that unmodified device stacks accept (docs/store.md,
 * "JoinNonce: the first is 1, a floor per move"). LoRaMac-node and LoRa Basics
 * Modem keep the last JoinNonce they accepted, 0 when factory-fresh, and take
 * only a different (1.0.x) or greater (1.1) one: a counter that starts at 0
 * makes every fresh device drop its first join-accept. Devices that never
 * joined start at 1. And "the device has a session here" can no longer be
 * read as next_join_nonce > 0 once a counter may start above a floor:
 * last_join_nonce is the JoinNonce of the session in force on this server
 * (-1: none), exact for existing rows since their counters started at 0. */
#define V10(BLOB, KEY)                                                                                     \
    "ALTER TABLE devices ADD COLUMN last_join_nonce BIGINT NOT NULL DEFAULT -1"                      \
    " CHECK (last_join_nonce BETWEEN -1 AND 16777215);"                                              \
    "UPDATE devices SET last_join_nonce = next_join_nonce - 1;"                                      \
    "UPDATE devices SET next_join_nonce = 1 WHERE next_join_nonce = 0;"

/* Version 11: leases on SEs (docs/idm.md, "Several idm serve on one
 * database"): the delivery engine of one `idm serve` works on an SE only
 * while it holds that SE's row here, until expires_at; a killed instance's
 * leases run out and another takes its SEs over. Self-contained (one new
 * table, nothing else touched) so that it can be renumbered at a merge. */
#define V11(BLOB, KEY)                                                                                     \
    "CREATE TABLE idm_lease ("                                                                        \
    " dev_eui " KEY " PRIMARY KEY CHECK (length(dev_eui) = 16),"                                        \
    " owner TEXT NOT NULL CHECK (length(owner) BETWEEN 1 AND 64),"                                    \
    " expires_at BIGINT NOT NULL);"

/* Version 12: indexes for the activation console's reads
 * (store_idm_view.c): an SE's audit entries by subject, a customer's held
 * SEs, a maker's batches, a tenant's commands. Self-contained (indexes
 * only, nothing else touched) so that it can be renumbered at a merge. */
#define V12(BLOB, KEY)                                                                                     \
    "CREATE INDEX idm_audit_subject ON idm_audit (subject, seq);"                                      \
    "CREATE INDEX idm_claim_tenant ON idm_claim (tenant_id, dev_eui);"                                 \
    "CREATE INDEX idm_se_maker ON idm_se (maker, dev_eui);"                                            \
    "CREATE INDEX idm_cmd_origin ON idm_cmd (origin, dev_eui, seq);"

/* Version 13: when the housekeeping next asks a customer JS whether a
 * delivered SE joined it (docs/idm.md, "Housekeeping": customer joins, with
 * a back-off per SE). A row is written when a check found no join; it
 * holds for the delivery it was made for (delivered_at = the SE's
 * updated_at then): a later delivery is checked at once. Self-contained
 * (one new table, nothing else touched) so that it can be renumbered at a
 * merge. */
#define V13(BLOB, KEY)                                                                                     \
    "CREATE TABLE idm_join_check ("                                                                   \
    " dev_eui " KEY " PRIMARY KEY CHECK (length(dev_eui) = 16),"                                        \
    " delivered_at BIGINT NOT NULL,"                                                                  \
    " due_at BIGINT NOT NULL,"                                                                        \
    " checks INTEGER NOT NULL CHECK (checks >= 0));"

const char *const store_schema_sqlite[STORE_SCHEMA_COUNT] = {
    V1("BLOB", "TEXT", " WITHOUT ROWID"),
    V2("BLOB", "TEXT"),
    V3("BLOB", "TEXT"),
    V4("BLOB", "TEXT"),
    V5("BLOB", "TEXT"),
    V6("BLOB", "TEXT"),
    V7("BLOB", "TEXT"),
    V8("BLOB", "TEXT"),
    V9("BLOB", "TEXT"),
    V10("BLOB", "TEXT"),
    V11("BLOB", "TEXT"),
    V12("BLOB", "TEXT"),
    V13("BLOB", "TEXT"),
};

const char *const store_schema_pg[STORE_SCHEMA_COUNT] = {
    V1("BYTEA", "TEXT COLLATE \"C\"", ""),
    V2("BYTEA", "TEXT COLLATE \"C\""),
    V3("BYTEA", "TEXT COLLATE \"C\""),
    V4("BYTEA", "TEXT COLLATE \"C\""),
    V5("BYTEA", "TEXT COLLATE \"C\""),
    V6("BYTEA", "TEXT COLLATE \"C\""),
    V7("BYTEA", "TEXT COLLATE \"C\""),
    V8("BYTEA", "TEXT COLLATE \"C\""),
    V9("BYTEA", "TEXT COLLATE \"C\""),
    V10("BYTEA", "TEXT COLLATE \"C\""),
    V11("BYTEA", "TEXT COLLATE \"C\""),
    V12("BYTEA", "TEXT COLLATE \"C\""),
    V13("BYTEA", "TEXT COLLATE \"C\""),
};

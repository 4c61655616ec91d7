/*
 * se.h - the Generic Secure Element: identity, profiles, LoRaWAN key work.
 *
 * The element keeps every root and session key inside its state and answers
 * with frames, never with keys. Each operation that consumes a nonce or a
 * counter commits the new value to NVM (se_store) before its result leaves
 * the element; when that commit fails the operation fails and nothing
 * changed, in RAM or in NVM. Operations work on a copy of the state and adopt
 * it only after a successful commit.
 *
 * A host reaches these functions through APDUs (se_apdu.h); the C API is the
 * same operations for in-process use and tests.
 *
 * The caller owns the se struct (no allocation); its fields are private.
 */
#ifndef FERRY_SE_H
#define FERRY_SE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "lorawan/lw_crypto.h"
#include "lorawan/lw_frame.h"
#include "se/se_nvm.h"
#include "se/se_state.h"
#include "se/se_status.h"
#include "se/se_store.h"
#include "mls/mls_frag.h"

#define SE_WRAPPED_KEY_LEN 24     /* RFC 3394 of a 16-byte key */

/* The join or rejoin the element last sent, so that it knows how to open
 * the answer. Kept in RAM only: after a reset the device simply joins again. */
typedef struct se_pending_join {
    bool active;
    uint8_t join_req_type;        /* LW_JOIN_REQ_TYPE_* */
    uint8_t slot;
    uint64_t join_eui;
    uint16_t nonce;               /* DevNonce, or RJcount0/1 for a rejoin */
} se_pending_join;

/* Where a secure command stands (se_mls_runtime.secure_state). */
#define SE_SECURE_NONE     0
#define SE_SECURE_HELD     1      /* opened, in rx.buf, waiting for the application */
#define SE_SECURE_REPLYING 2      /* the reply accumulates in tx.msg */

/* The MLS endpoint's working memory (RAM only: a reset abandons transfers
 * in flight, which the Identity Manager repeats; committed effects stay).
 * Two message buffers, each used in place (se_mls.c says how). */
typedef struct se_mls_runtime {
    mls_frag_rx rx;               /* downlink message being reassembled, then opened; a held secure command */
    mls_frag_tx tx;               /* response or event sealed and being sent; a secure reply being built */
    uint32_t now;                 /* host-given monotonic seconds */
    uint8_t next_msg_id;
    bool ack_pending;             /* an ack of the downlink message is due */
    bool tx_active;
    uint32_t last_cmd_counter;    /* counter of the command the tx answers */
    uint8_t event_sent;           /* event id already sent since boot */
    uint8_t secure_state;         /* SE_SECURE_* */
    uint32_t secure_counter;
    size_t secure_len;
    uint32_t rejected;            /* messages that failed to open (for diagnostics) */
} se_mls_runtime;

typedef struct se {
    se_store store;
    const lw_crypto *crypto;
    se_state st;
    se_pending_join pending;
    se_mls_runtime mls;
    bool booted;
} se;

/* The FPort on which MLS fragments travel, both ways. */
#define SE_MLS_FPORT 200

/* What the factory writes into a blank element: the personalisation
 * transport key, and nothing else. */
se_status se_manufacture(se *e, const se_nvm *nvm, const lw_crypto *crypto, const uint8_t transport_key[16]);

/* Starts the element from its NVM. SE_ERR_CORRUPT on a chip never
 * manufactured. */
se_status se_boot(se *e, const se_nvm *nvm, const lw_crypto *crypto);

/* Personalisation data, as the high-security area sends it. Keys arrive
 * wrapped (RFC 3394) under the transport key. */
typedef struct se_personalisation {
    uint64_t dev_eui;
    uint64_t serial;
    uint64_t join_eui;                       /* bootstrap JoinEUI */
    uint8_t mac_version;                     /* se_mac_version of the bootstrap profile */
    uint8_t nwk_key_wrapped[SE_WRAPPED_KEY_LEN];
    uint8_t app_key_wrapped[SE_WRAPPED_KEY_LEN];
    uint8_t mls_key_wrapped[SE_WRAPPED_KEY_LEN];
} se_personalisation;

/* Personalises a blank element once, then locks it (the transport key is
 * erased). SE_ERR_STATE when already personalised, SE_ERR_MIC when a
 * wrapped key fails its integrity check. */
se_status se_personalise(se *e, const se_personalisation *p);

/* Public facts about the element; never a key. */
typedef struct se_info {
    uint8_t lifecycle;
    uint64_t dev_eui;
    uint64_t serial;
    uint8_t active_slot;
    uint16_t active_profile_id;
    uint64_t join_eui;
    uint8_t mac_version;
    bool on_trial;
    uint8_t join_attempts;
    uint8_t staged_slot;
    uint32_t next_dev_nonce;
    uint32_t rj_count1;
    bool joined;
    uint32_t dev_addr;
    uint32_t net_id;
    uint32_t fcnt_up;
    uint32_t nfcnt_down;
    uint32_t afcnt_down;
    uint32_t rj_count0;
    uint8_t mls_epoch;
    uint32_t mls_down_counter;
    uint32_t mls_up_counter;
    bool has_join_nonce;          /* a join-accept was taken on the active profile */
    uint32_t last_join_nonce;     /* its JoinNonce */
} se_info;

se_status se_get_info(const se *e, se_info *out);

/* Builds a join-request for the active profile into out[23]. The DevNonce
 * is consumed and committed first. On a profile on trial, the attempt is
 * counted; once the policy's attempts are spent without an accept the
 * element first falls back to the previous profile and builds the request
 * for that one. */
se_status se_build_join_request(se *e, uint8_t out[LW_JOIN_REQUEST_LEN]);

/* Builds a rejoin-request of type 0, 1 or 2 (1.1 sessions only) into
 * out[cap]; RJcount0/1 consumed and committed first. */
se_status se_build_rejoin_request(se *e, lw_rejoin_type type, uint8_t *out, size_t cap, size_t *out_len);

/* What a verified join-accept told the device. */
typedef struct se_join_result {
    uint32_t dev_addr;
    uint32_t net_id;
    uint8_t dl_settings;
    uint8_t rx_delay;
    bool has_cflist;
    uint8_t cflist[LW_CFLIST_LEN];
    uint8_t mac_version;          /* of the new session: 1.1 only with OptNeg */
} se_join_result;

/* Opens the answer to the last join or rejoin: decrypts, checks the MIC and
 * the JoinNonce, derives and keeps the session keys, ends a profile's trial,
 * commits. SE_ERR_MIC / SE_ERR_REPLAY / SE_ERR_FRAME change nothing. */
se_status se_process_join_accept(se *e, const uint8_t *phy, size_t len, se_join_result *out);

/* An uplink the device wants protected. */
typedef struct se_uplink {
    bool confirmed;
    bool adr;
    bool adr_ack_req;
    bool ack;                     /* acknowledges the last confirmed downlink */
    bool class_b;
    const uint8_t *fopts;         /* plaintext MAC commands, 0..15 bytes */
    uint8_t fopts_len;
    bool has_fport;
    uint8_t fport;
    const uint8_t *payload;       /* plaintext FRMPayload */
    size_t payload_len;
    uint16_t conf_fcnt;           /* 1.1: FCnt of the confirmed downlink acknowledged */
    uint8_t tx_dr;                /* 1.1: data rate and channel of this uplink */
    uint8_t tx_ch;
} se_uplink;

/* Encrypts and MICs an uplink into out[cap], built there in place: out must
 * not overlap the uplink's FOpts or payload unless it lies before them in
 * the same buffer (the APDU layer's one buffer). FCntUp consumed and
 * committed first. On failure out is wiped. */
se_status se_protect_uplink(se *e, const se_uplink *up, uint8_t *out, size_t cap, size_t *out_len);

/* A downlink opened by the element. Byte fields point into `out_buf` given
 * to se_unprotect_downlink. A downlink on SE_MLS_FPORT is consumed by the
 * element's MLS endpoint: `mls` is set and no payload is returned. */
typedef struct se_downlink {
    bool mls;                     /* consumed by MLS: ask se_mls_next_uplink for what to send */
    bool secure_pending;          /* a secure command waits for the application */
    bool confirmed;
    bool ack;
    bool f_pending;
    bool adr;
    uint32_t fcnt;                /* the full 32-bit counter */
    uint8_t fopts_len;
    const uint8_t *fopts;         /* decrypted */
    bool has_fport;
    uint8_t fport;
    size_t payload_len;
    const uint8_t *payload;       /* decrypted */
} se_downlink;

/* Checks address, counter and MIC of a downlink, decrypts FOpts and
 * FRMPayload into out_buf[cap], commits the new downlink counter. out_buf
 * may lie before phy in the same buffer, never after it. */
se_status se_unprotect_downlink(se *e, const uint8_t *phy, size_t len, uint8_t *out_buf, size_t cap,
                                se_downlink *out);

/* ---- LoRaMac-node's secure-element API (se_keyed.c; docs/se-commands.md,
 * "Commands for LoRaMac-node") ------------------------------------------
 *
 * LoRaMac-node builds its frames itself and asks its secure element for
 * MICs and key-stream blocks by key identifier. These operations give it
 * exactly that and no more: root keys are never used on input the host
 * shapes, session keys only on blocks whose fixed bytes the element writes
 * itself and whose address is the session's or the multicast group's. */

/* Element key ids (KEYED CMAC, KEY STREAM). A multicast id carries its group
 * (0..3) in the low nibble. */
#define SE_KEY_F_NWK_S_INT 0x01   /* 1.0.x: NwkSKey */
#define SE_KEY_S_NWK_S_INT 0x02
#define SE_KEY_NWK_S_ENC   0x03
#define SE_KEY_APP_S       0x04
#define SE_KEY_MC_APP_S    0x10   /* | group */
#define SE_KEY_MC_NWK_S    0x20   /* | group */

/* Bytes 1..13 of a B0/B1 or A block: the part LoRaMac-node varies (ConfFCnt,
 * TxDr, TxCh or the FOpts type; direction; address LE; counter LE). */
#define SE_BLOCK_FIELDS 13

/* As se_build_join_request, for the 19 bytes (MHDR, JoinEUI, DevEUI,
 * DevNonce) LoRaMac-node serialised: the frame must name the active
 * profile's JoinEUI and DevEUI, and its DevNonce must not be below the
 * element's next one for that JoinEUI (SE_ERR_REPLAY); it becomes the new
 * next one. When a pending switch or a trial fallback happened at this
 * join and the frame names the old profile, the switch is committed and
 * SE_ERR_STATE says: read GET INFO and join again. */
se_status se_join_request_for(se *e, const uint8_t *host_frame, uint8_t out[LW_JOIN_REQUEST_LEN]);

/* As se_build_rejoin_request, for the frame LoRaMac-node serialised
 * (without MIC: 14 bytes for type 0/2, 19 for type 1): it must be the frame
 * the element would build with the stack's RJcount, which must not be below
 * the element's (SE_ERR_REPLAY). */
se_status se_rejoin_request_for(se *e, lw_rejoin_type type, const uint8_t *host_frame, uint8_t *out, size_t cap,
                                size_t *out_len);

/* As se_process_join_accept; plain_out[len] (when not NULL) receives the
 * decrypted frame, MHDR to MIC, which holds no key. */
se_status se_join_accept_for(se *e, const uint8_t *phy, size_t len, se_join_result *out, uint8_t *plain_out);

/* With session or multicast key `key_id`: for a MIC (cmac), the full
 * AES-CMAC of the block 49 | fields | 00 | len followed by msg[len]; else
 * one key-stream block, AES-encrypt of 01 | fields | 00 | last, under
 * AppSKey, NwkSEncKey or a McAppSKey. out[16]; a MIC is its first four
 * bytes. Nothing is committed. */
se_status se_keyed(const se *e, uint8_t key_id, bool cmac, const uint8_t fields[SE_BLOCK_FIELDS], uint8_t last,
                   const uint8_t *msg, size_t len, uint8_t out[16]);

/* Sets up multicast group `group` (TS005): McKey = AES-encrypt(McKEKey,
 * enc), McKEKey derived from the active profile's AppKey (GenAppKey for
 * 1.0.x) through McRootKey, whose block starts with root_type (0x20 for a
 * 1.1 session, 0x00 for 1.0.x); and McAddr, from which McAppSKey and
 * McNwkSKey are derived at each use. The group belongs to the active
 * profile. Committed. */
se_status se_mc_setup(se *e, unsigned group, uint8_t root_type, const uint8_t enc[16], uint32_t addr);

/* Profile management, for the MLS commands of the Identity Manager. Keys
 * arrive wrapped (RFC 3394) under `kek`, a key the caller derived inside the
 * element (the MLS downlink wrap key). */
typedef struct se_profile_install {
    uint16_t id;
    uint64_t dev_eui;             /* 0: the element's own DevEUI */
    uint64_t join_eui;
    uint8_t mac_version;
    uint8_t max_join_attempts;
    uint8_t nwk_key_wrapped[SE_WRAPPED_KEY_LEN];
    uint8_t app_key_wrapped[SE_WRAPPED_KEY_LEN];
} se_profile_install;

/* Writes a profile into the free customer slot and marks it staged. Key
 * renewal is a new profile (same JoinEUI, new keys) staged and activated, so
 * that it too is on trial and cannot brick the device. */
se_status se_profile_stage(se *e, const lw_key *kek, const se_profile_install *p);

/* Makes the staged profile active, on trial; the current one is kept as
 * the fallback. The session is dropped: the device must join. */
se_status se_profile_activate(se *e, uint16_t profile_id);

/* Erases a customer profile that is neither active nor the fallback. */
se_status se_profile_delete(se *e, uint16_t profile_id);

/* Makes the bootstrap profile active again (not on trial) and drops the
 * session. */
se_status se_return_to_bootstrap(se *e);

/* ---- MLS endpoint (se_mls.c, docs/mls.md) ------------------------------
 *
 * Downlink fragments reach the endpoint through se_unprotect_downlink (FPort
 * SE_MLS_FPORT). A complete message is opened, its counter, its effect and
 * its sealed response committed together, then the response is fragmented.
 * The host asks for what to send with se_mls_next_uplink at each uplink
 * opportunity and protects it on SE_MLS_FPORT. */

/* Hands one MLS frame (the FRMPayload of a verified downlink on
 * SE_MLS_FPORT) to the endpoint; se_unprotect_downlink does this itself.
 * Bad fragments and messages that do not open change nothing. */
se_status se_mls_push(se *e, const uint8_t *frame, size_t len);

/* Sets the host's monotonic clock, in seconds, used for transfer timeouts. */
void se_set_time(se *e, uint32_t now);

/* Writes the next MLS frame to send (an ack, a fragment of a response or of
 * an event) into out[frame_max] (frame_max: the uplink's maximum FRMPayload,
 * 11..242) and its length to *out_len, 0 when there is nothing to send. A
 * command answered at once is acknowledged by its response alone (no ack
 * frame first: docs/mls.md 6.2). */
se_status se_mls_next_uplink(se *e, size_t frame_max, uint8_t *out, size_t *out_len);

/* The secure command waiting for the application: *cmd points into the
 * element's memory (the buffer it arrived in), valid until se_secure_reply
 * or until the next MLS message arrives and abandons it. SE_ERR_STATE when
 * none. */
se_status se_secure_command(const se *e, const uint8_t **cmd, size_t *len);

/* The application's answer to the waiting secure command: accepted (with
 * reply[len], 0..1003 bytes) or rejected. The element seals the response. */
se_status se_secure_reply(se *e, bool accepted, const uint8_t *reply, size_t len);

#endif

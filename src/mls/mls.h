/*
 * mls.h - MLS, the message-layer security between ferry's Identity Manager
 * (server) and a secure element (SE): key schedule, sealing and opening.
 *
 * Both ends run this same code. It does no I/O, never allocates and keeps no
 * global state: the caller owns an mls_session, loads its counters from
 * wherever it persists them, and writes them back when told to below. The
 * wire format, the key schedule and test vectors are in docs/mls.md.
 *
 * Every key is an lw_key used through an lw_crypto backend; only AES-ECB
 * derivation (lw_derive), AES-ECB blocks (for AES-CTR), AES-CMAC and RFC 3394
 * wrap are used, so the server can run everything inside a PKCS#11 token.
 *
 * Receiving (either end):
 *     mls_header_parse()  optional: read the (unauthenticated) epoch to
 *                         choose the session during an MLS key rotation
 *     mls_open()          verify the tag, check direction, epoch and counter,
 *                         decrypt into the caller's buffer; changes nothing
 *     ...persist the returned counter as "last accepted"...
 *     mls_accept_counter() record it in the session, then act on the body
 * Sending:
 *     mls_seal()          uses s->tx_next and advances it
 *     ...persist s->tx_next...
 *     transmit (fragmented with mls_frag.h when it does not fit one frame)
 */
#ifndef FERRY_MLS_H
#define FERRY_MLS_H

#include <stddef.h>
#include <stdint.h>
#include "lorawan/lw_crypto.h"
#include "mls/mls_status.h"

#define MLS_VERSION      1
#define MLS_HEADER_LEN   8     /* version | dir | epoch | counter(4) | type */
#define MLS_TAG_LEN      8     /* first 8 bytes of AES-CMAC */
#define MLS_OVERHEAD     (MLS_HEADER_LEN + MLS_TAG_LEN)
/* A whole sealed message. The protocol's limit is 1024 bytes, which the
 * Identity Manager and hosts use; an element's firmware may be built with a
 * smaller one (-DMLS_MSG_MAX=..., at least MLS_MSG_MIN) to fit a small RAM,
 * and then refuses longer messages (docs/mls.md, "Message size"). */
#ifndef MLS_MSG_MAX
#define MLS_MSG_MAX      1024
#endif
#define MLS_MSG_MIN      128
#define MLS_BODY_MAX     (MLS_MSG_MAX - MLS_OVERHEAD)   /* 1008 */
#if MLS_MSG_MAX < MLS_MSG_MIN || MLS_MSG_MAX > 1024
#error "MLS_MSG_MAX must lie between MLS_MSG_MIN and 1024"
#endif

/* Key derivation labels: purpose key = AES(root, label|DevEUI|epoch|0..). */
#define MLS_LABEL_ENC_DOWN  0x01
#define MLS_LABEL_MAC_DOWN  0x02
#define MLS_LABEL_WRAP_DOWN 0x03
#define MLS_LABEL_ENC_UP    0x11
#define MLS_LABEL_MAC_UP    0x12

typedef enum mls_dir {
    MLS_DIR_DOWN = 0,   /* server -> SE */
    MLS_DIR_UP = 1      /* SE -> server */
} mls_dir;

typedef enum mls_role {
    MLS_ROLE_SERVER = 0,  /* sends down, receives up */
    MLS_ROLE_SE = 1       /* sends up, receives down */
} mls_role;

/* The purpose keys of one (root key, DevEUI, epoch). There is no uplink wrap
 * key: keys only ever travel down. */
typedef struct mls_keys {
    lw_key enc_down;
    lw_key mac_down;
    lw_key wrap_down;
    lw_key enc_up;
    lw_key mac_up;
} mls_keys;

/* One end's view of one epoch. Caller-owned; fill it with mls_session_init()
 * and end it with mls_session_end(). The counters are plain fields the caller
 * persists: tx_next is the counter the next sealed message will carry (>= 1;
 * 0 means exhausted), rx_last the last counter accepted from the peer (0 =
 * none yet). */
typedef struct mls_session {
    const lw_crypto *crypto;
    mls_keys keys;
    uint64_t deveui;
    uint8_t epoch;
    uint8_t role;          /* mls_role */
    uint32_t tx_next;
    uint32_t rx_last;
} mls_session;

/* A parsed header. */
typedef struct mls_header {
    uint8_t version;
    uint8_t dir;           /* mls_dir */
    uint8_t epoch;
    uint32_t counter;
    uint8_t type;          /* message type, see mls_cmd.h */
} mls_header;

/* Derives the five purpose keys of (root, deveui, epoch) into *keys with
 * lw_derive. On failure every key already derived is released and *keys is
 * wiped. Release with mls_keys_release(). */
mls_status mls_keys_derive(const lw_crypto *c, const lw_key *root, uint64_t deveui, uint8_t epoch,
                           mls_keys *keys) MLS_MUST_CHECK;

/* Releases (token: destroys) and wipes the five keys. NULL-safe. */
void mls_keys_release(const lw_crypto *c, mls_keys *keys);

/* Fills *s for `role` with the keys of (root, deveui, epoch) and the counters
 * loaded by the caller. `root` is only used during the call. tx_next must be
 * >= 1 (MLS_ERR_ARGUMENT otherwise). On failure *s is wiped. */
mls_status mls_session_init(mls_session *s, const lw_crypto *c, mls_role role, const lw_key *root,
                            uint64_t deveui, uint8_t epoch, uint32_t tx_next,
                            uint32_t rx_last) MLS_MUST_CHECK;

/* Releases the session's keys and wipes *s. NULL-safe. */
void mls_session_end(mls_session *s);

/* Seals `body` (body_len <= MLS_BODY_MAX) as a message of `type` in the
 * session's sending direction, with counter s->tx_next, into out[cap]
 * (needs body_len + MLS_OVERHEAD) and sets *out_len. body may be
 * out + MLS_HEADER_LEN: the message is then sealed in place. On success s->tx_next
 * advances; the caller persists it before transmitting. MLS_ERR_COUNTER when
 * the counter space is exhausted (rotate the MLS keys). On failure nothing
 * changes in *s and out is wiped. */
mls_status mls_seal(mls_session *s, uint8_t type, const uint8_t *body, size_t body_len, uint8_t *out,
                    size_t cap, size_t *out_len) MLS_MUST_CHECK;

/* Parses the header of msg[len] WITHOUT authenticating it: use only to pick a
 * session by epoch, never to act. MLS_ERR_TRUNCATED / MLS_ERR_TOO_LONG on the
 * length, MLS_ERR_VERSION, MLS_ERR_FORMAT for reserved direction bits. */
mls_status mls_header_parse(const uint8_t *msg, size_t len, mls_header *h) MLS_MUST_CHECK;

/* Opens a message travelling towards this session's role: checks version,
 * direction (MLS_ERR_DIRECTION), epoch (MLS_ERR_EPOCH), the tag in constant
 * time (MLS_ERR_TAG), then the counter (MLS_ERR_REPLAY when <= s->rx_last),
 * and only then decrypts into body[cap] (needs len - MLS_OVERHEAD bytes,
 * MLS_ERR_BUFFER otherwise); body may be msg + MLS_HEADER_LEN, to open the
 * message in place. Sets *h and *body_len. Does NOT change *s: the
 * caller persists h->counter and then calls mls_accept_counter(). On any
 * failure body[0..cap) is wiped and *body_len is 0. */
mls_status mls_open(const mls_session *s, const uint8_t *msg, size_t len, mls_header *h, uint8_t *body,
                    size_t cap, size_t *body_len) MLS_MUST_CHECK;

/* Records `counter` (from a successful mls_open) as the last accepted one.
 * MLS_ERR_REPLAY and no change when counter <= s->rx_last. */
mls_status mls_accept_counter(mls_session *s, uint32_t counter) MLS_MUST_CHECK;

/* Server side: RFC 3394-wraps `key` under the session's downlink wrap key
 * into out[cap] (key length + 8 bytes; PKCS#11 C_WrapKey). */
mls_status mls_wrap_key(const mls_session *s, const lw_key *key, uint8_t *out, size_t cap) MLS_MUST_CHECK;

/* SE side: unwraps in[in_len] under the session's downlink wrap key into a
 * new key *out (released by the caller with lw_key_release). MLS_ERR_UNWRAP
 * when the integrity check fails; *out is then wiped. */
mls_status mls_unwrap_key(const mls_session *s, const uint8_t *in, size_t in_len, lw_key *out) MLS_MUST_CHECK;

#endif

/*
 * mls_cmd.h - the bodies of MLS messages: commands (down), responses and
 * events (up), as fixed byte layouts with explicit lengths.
 *
 * An MLS message carries a one-byte type in its authenticated header
 * (mls.h) and a body that this module encodes from, and decodes into, plain
 * structs. Decoding takes untrusted bytes (even after the tag verified, a
 * buggy or compromised server must not make the SE read out of bounds): every
 * length is checked exactly, reserved bits must be zero, and the SE then
 * dispatches on the decoded struct, never on raw bytes. Byte tables are in
 * docs/mls.md.
 *
 *   down  0x01..0x08   commands                 mls_cmd_encode / mls_cmd_decode
 *   up    0x81..0x88   response to command 0x0N mls_rsp_encode / mls_rsp_decode
 *   up    0xC0         event (unsolicited)      mls_event_encode / mls_event_decode
 *
 * Each function here is pure: no keys, no crypto. Encoders refuse structs
 * that their decoders would refuse (MLS_ERR_FORMAT), so a server cannot emit
 * a message the SE rejects as malformed. Every function fails with
 * MLS_ERR_ARGUMENT on NULL, MLS_ERR_BUFFER when out[cap] is too small,
 * MLS_ERR_TRUNCATED / MLS_ERR_TOO_LONG when a body's length is wrong,
 * MLS_ERR_TYPE on an unknown type and MLS_ERR_FORMAT on a forbidden value;
 * on failure a decoder leaves its output zeroed and an encoder sets *len = 0.
 */
#ifndef FERRY_MLS_CMD_H
#define FERRY_MLS_CMD_H

#include <stddef.h>
#include <stdint.h>
#include "mls/mls.h"
#include "mls/mls_status.h"

/* Message types. */
#define MLS_T_STATUS     0x01  /* status request (acks events) */
#define MLS_T_INSTALL    0x02  /* install a profile into a staged slot */
#define MLS_T_ACTIVATE   0x03  /* make a staged profile the active one */
#define MLS_T_DELETE     0x04  /* delete a profile */
#define MLS_T_RENEW      0x05  /* new root keys for a profile */
#define MLS_T_SECURE     0x06  /* opaque authenticated application command */
#define MLS_T_ROTATE     0x07  /* new MLS root key, next epoch */
#define MLS_T_BOOTSTRAP  0x08  /* return to the bootstrap profile */
#define MLS_T_RESPONSE   0x80  /* response type = MLS_T_RESPONSE | command type */
#define MLS_T_EVENT      0xC0  /* unsolicited event report (uplink) */

#define MLS_WRAPPED_LEN  24    /* RFC 3394 wrap of an AES-128 key */
#define MLS_SECURE_MAX   (MLS_BODY_MAX - 5)  /* 1003: the reply fits a response too */

/* Profile MAC versions. */
#define MLS_MAC_1_0      0x00  /* LoRaWAN 1.0.0-1.0.3: the one root key travels as NwkKey */
#define MLS_MAC_1_1      0x01  /* LoRaWAN 1.1: NwkKey and AppKey */
#define MLS_MAC_1_0_4    0x02  /* LoRaWAN 1.0.4: as 1.0, and JoinNonce must increase */

#define MLS_INSTALL_ACTIVATE_NOW 0x01  /* install flag: activate right after install */
#define MLS_BOOTSTRAP_ERASE      0x01  /* bootstrap flag: delete operational profiles */

/* Result codes carried in every response. */
typedef enum mls_result {
    MLS_R_OK = 0,
    MLS_R_UNKNOWN_COMMAND = 1,  /* type not implemented by this SE */
    MLS_R_MALFORMED = 2,        /* body refused by mls_cmd_decode */
    MLS_R_NO_PROFILE = 3,       /* no profile with that id */
    MLS_R_NO_SPACE = 4,         /* no free staged slot */
    MLS_R_UNWRAP_FAILED = 5,    /* a wrapped key failed its integrity check */
    MLS_R_BAD_STATE = 6,        /* not allowed now (e.g. delete the active profile) */
    MLS_R_UNSUPPORTED = 7,      /* valid but unsupported value (MAC version, epoch) */
    MLS_R_INTERNAL = 8,         /* NVM or crypto failure inside the SE */
    MLS_R_REJECTED = 9          /* the application refused a secure command */
} mls_result;

typedef struct mls_profile_install {
    uint16_t profile_id;             /* 1..65535; 0 means "none" */
    uint64_t join_eui;
    uint64_t dev_eui;                /* the profile's DevEUI (may differ from the SE's) */
    uint8_t mac_version;             /* MLS_MAC_1_0 or MLS_MAC_1_1 */
    uint8_t flags;                   /* MLS_INSTALL_ACTIVATE_NOW, others 0 */
    uint16_t max_join_attempts;      /* fall back after this many failed joins; 0 = never */
    uint16_t max_silence_hours;      /* fall back after this long without a downlink; 0 = never */
    uint8_t nwk_key_wrapped[MLS_WRAPPED_LEN];
    uint8_t app_key_wrapped[MLS_WRAPPED_LEN];  /* all zero for MLS_MAC_1_0 */
} mls_profile_install;

typedef struct mls_key_renew {
    uint16_t profile_id;
    uint8_t nwk_key_wrapped[MLS_WRAPPED_LEN];
    uint8_t app_key_wrapped[MLS_WRAPPED_LEN];  /* all zero for a 1.0.x profile */
} mls_key_renew;

/* Opaque bytes are not copied into the struct: a decoder points `data`
 * into the body it decoded (valid as long as that body is), an encoder
 * reads them from wherever the caller keeps them. A secure element thus
 * holds a 1 KiB command once, in the buffer it arrived in. */
typedef struct mls_opaque {
    uint16_t len;
    const uint8_t *data;
} mls_opaque;

typedef struct mls_cmd {
    uint8_t type;                              /* MLS_T_STATUS .. MLS_T_BOOTSTRAP */
    union {
        struct { uint8_t ack_event; } status;  /* last event id the server saw; 0 = none */
        mls_profile_install install;
        struct { uint16_t profile_id; } activate;
        struct { uint16_t profile_id; } remove; /* MLS_T_DELETE */
        mls_key_renew renew;
        mls_opaque secure;                     /* 1..MLS_SECURE_MAX bytes */
        struct { uint8_t new_epoch; uint8_t root_wrapped[MLS_WRAPPED_LEN]; } rotate;
        struct { uint8_t flags; } bootstrap;   /* MLS_BOOTSTRAP_ERASE, others 0 */
    } u;
} mls_cmd;

typedef struct mls_se_status {
    uint8_t state;             /* 0 = bootstrap profile active, 1 = operational */
    uint16_t active_profile;   /* 0 = none */
    uint16_t staged_profile;   /* 0 = none */
    uint8_t pending_event;     /* oldest event id not yet acknowledged; 0 = none */
} mls_se_status;

typedef struct mls_rsp {
    uint8_t type;              /* the command type answered (0x01..0x08) */
    uint32_t req_counter;      /* MLS counter of the command answered */
    uint8_t result;            /* mls_result */
    union {
        mls_se_status status;  /* MLS_T_STATUS with MLS_R_OK */
        mls_opaque secure;     /* MLS_T_SECURE with MLS_R_OK: the reply, 0..MLS_SECURE_MAX */
    } u;
} mls_rsp;

#define MLS_EVENT_FALLBACK 0x01     /* the SE fell back to the bootstrap profile */

#define MLS_FALLBACK_JOINS    0x01  /* max_join_attempts reached */
#define MLS_FALLBACK_SILENCE  0x02  /* max_silence_hours reached */
#define MLS_FALLBACK_COMMAND  0x03  /* MLS_T_BOOTSTRAP (reported for completeness) */

typedef struct mls_event {
    uint8_t event_id;          /* 1..255, wraps to 1; acked by MLS_T_STATUS */
    uint8_t code;              /* MLS_EVENT_FALLBACK */
    uint16_t profile_id;       /* the profile that was left */
    uint8_t reason;            /* MLS_FALLBACK_* */
    uint16_t join_attempts;    /* failed joins counted before falling back */
} mls_event;

/* Encodes the body of command *cmd (message type cmd->type) into out[cap]. */
mls_status mls_cmd_encode(const mls_cmd *cmd, uint8_t *out, size_t cap, size_t *len) MLS_MUST_CHECK;

/* Decodes body[len] of a downlink message of type `type` into *cmd. */
mls_status mls_cmd_decode(uint8_t type, const uint8_t *body, size_t len, mls_cmd *cmd) MLS_MUST_CHECK;

/* Encodes response *rsp into out[cap]; its message type is
 * MLS_T_RESPONSE | rsp->type. */
mls_status mls_rsp_encode(const mls_rsp *rsp, uint8_t *out, size_t cap, size_t *len) MLS_MUST_CHECK;

/* Decodes body[len] of an uplink message of type `msg_type` (0x81..0x88). */
mls_status mls_rsp_decode(uint8_t msg_type, const uint8_t *body, size_t len, mls_rsp *rsp) MLS_MUST_CHECK;

/* Encodes event *ev into out[cap] (message type MLS_T_EVENT). */
mls_status mls_event_encode(const mls_event *ev, uint8_t *out, size_t cap, size_t *len) MLS_MUST_CHECK;

/* Decodes body[len] of an MLS_T_EVENT message. */
mls_status mls_event_decode(const uint8_t *body, size_t len, mls_event *ev) MLS_MUST_CHECK;

/* A static name for a message type ("install", "response:install",
 * "event", "unknown"); never NULL. */
const char *mls_type_name(uint8_t type);

#endif

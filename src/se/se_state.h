/*
 * se_state.h - everything the secure element remembers, and its image.
 *
 * The state lives in RAM while the element runs and in flash as an image
 * that se_state_serialize() writes field by field in a fixed little-endian
 * layout, journalled by se_store (docs/se-store.md), so an image survives a
 * change of compiler or of struct padding. Keys are held here as bytes: this struct
 * and its image are the chip's protected memory, and no command copies a key
 * out of it.
 */
#ifndef FERRY_SE_STATE_H
#define FERRY_SE_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "se/se_status.h"

#define SE_SLOT_BOOTSTRAP 0
#define SE_PROFILE_SLOTS  3      /* bootstrap + two customer slots (active, staged) */
#define SE_NONCE_TABLE    4      /* JoinEUIs whose DevNonce counters are kept */
#define SE_NO_SLOT        0xFF

typedef enum se_lifecycle {
    SE_LIFECYCLE_BLANK = 0,           /* holds only the transport key */
    SE_LIFECYCLE_OPERATIONAL = 1      /* personalised and locked */
} se_lifecycle;

/* MAC versions a profile can name. The JoinNonce rule depends on it. */
typedef enum se_mac_version {
    SE_MAC_1_0_2 = 2,    /* 1.0.0 .. 1.0.2: AppNonce random, only "not the last one" */
    SE_MAC_1_0_3 = 3,
    SE_MAC_1_0_4 = 4,    /* 1.0.4: JoinNonce increases */
    SE_MAC_1_1 = 11
} se_mac_version;

/* A profile switch ordered by the Identity Manager waits until its answer
 * has left over the current network (or the host starts a join). */
#define SE_SWITCH_NONE            0
#define SE_SWITCH_ACTIVATE        1   /* the staged profile becomes active, on trial */
#define SE_SWITCH_BOOTSTRAP       2
#define SE_SWITCH_BOOTSTRAP_ERASE 3   /* and the customer profiles are erased */

typedef struct se_profile {
    bool in_use;
    uint16_t id;                /* chosen by the Identity Manager; 0 = bootstrap */
    uint64_t dev_eui;           /* the DevEUI this profile joins with */
    uint64_t join_eui;
    uint8_t mac_version;        /* se_mac_version */
    uint8_t nwk_key[16];        /* 1.0.x: the device's AppKey */
    uint8_t app_key[16];        /* 1.1 only */
    uint8_t max_join_attempts;  /* on trial: joins without accept before falling back; 0 = never */
    bool has_join_nonce;
    uint32_t last_join_nonce;
} se_profile;

typedef struct se_nonce_entry {
    bool in_use;
    uint64_t join_eui;
    uint32_t next_dev_nonce;    /* 0x10000 = exhausted */
} se_nonce_entry;

typedef struct se_session {
    bool valid;
    uint8_t slot;               /* profile the session was joined on */
    uint8_t mac_version;
    uint32_t dev_addr;
    uint32_t net_id;
    uint8_t f_nwk_s_int_key[16];   /* NwkSKey in 1.0.x */
    uint8_t s_nwk_s_int_key[16];
    uint8_t nwk_s_enc_key[16];
    uint8_t app_s_key[16];
    uint32_t fcnt_up;              /* next uplink counter */
    uint32_t nfcnt_down;           /* next expected network downlink counter */
    uint32_t afcnt_down;           /* next expected application downlink counter (1.1) */
    uint32_t rj_count0;
    bool has_conf_fcnt_up;         /* a confirmed uplink awaits its ACK */
    uint32_t conf_fcnt_up;         /* its FCntUp, bound into the 1.1 downlink MIC */
} se_session;

/* A multicast group set up through LoRaMac-node's API (TS005 remote
 * multicast setup): McKey_i as decrypted under McKEKey, and McAddr. The
 * group's session keys are derived from them at each use. A group belongs
 * to the profile that was active when its key was set and is unusable
 * under any other (a new owner never inherits an old owner's groups). */
#define SE_MC_GROUPS      4      /* LoRaMac-node's LORAMAC_MAX_MC_CTX */
typedef struct se_mc_group {
    bool valid;
    uint16_t profile_id;           /* owner */
    uint32_t addr;                 /* McAddr */
    uint8_t key[16];               /* McKey_i */
} se_mc_group;

typedef struct se_state {
    uint8_t lifecycle;             /* se_lifecycle */
    uint8_t transport_key[16];     /* only while BLANK */
    uint64_t dev_eui;
    uint64_t serial;
    se_profile profiles[SE_PROFILE_SLOTS];
    uint8_t active_slot;
    uint8_t previous_slot;         /* SE_NO_SLOT when not on trial */
    uint8_t staged_slot;           /* SE_NO_SLOT when nothing is staged */
    bool on_trial;                 /* active profile not yet confirmed by a join-accept */
    uint8_t switch_pending;        /* SE_SWITCH_*: applied once the command's answer is out */
    uint8_t join_attempts;         /* join-requests sent on the trial profile */
    uint8_t event_id;              /* unacknowledged fallback event, 0 = none */
    uint8_t last_event_id;         /* last id used, so ids never repeat back to back */
    uint16_t fallback_profile_id;  /* the profile the element left */
    uint8_t fallback_reason;       /* MLS_FALLBACK_* */
    uint16_t fallback_attempts;
    se_nonce_entry nonces[SE_NONCE_TABLE];
    uint32_t rj_count1;
    se_session session;
    uint8_t mls_root_key[16];
    uint8_t mls_epoch;
    uint32_t mls_down_counter;     /* last accepted downlink counter */
    uint32_t mls_up_counter;       /* next uplink counter, >= 1 */
    bool has_mls_next;             /* a rotation is pending: */
    uint8_t mls_next_root_key[16]; /* the next epoch's root key */
    se_mc_group mc[SE_MC_GROUPS];
} se_state;

/* Size of a serialised state; fixed. */
#define SE_STATE_IMAGE_LEN 507

/* Writes the image of *st to out[cap]; SE_ERR_BUFFER when cap is short. */
se_status se_state_serialize(const se_state *st, uint8_t *out, size_t cap, size_t *out_len);

/* Writes bytes [offset, offset + len) of the image of *st to out[len]:
 * what a store compares and journals, a window at a time. */
se_status se_state_serialize_window(const se_state *st, size_t offset, uint8_t *out, size_t len);

/* Where session.fcnt_up sits in the image (4 bytes, LE): the one counter
 * the store reserves in blocks rather than writes at every change. Moves
 * with any change of the layout before it (test_se_store checks it). */
#define SE_STATE_FCNT_UP_OFFSET 352

/* Reads an image; SE_ERR_CORRUPT when a field is out of its range. *st is
 * only meaningful on SE_OK. */
se_status se_state_deserialize(const uint8_t *in, size_t len, se_state *st);

/* Wipes every key and counter. */
void se_state_wipe(se_state *st);

#endif

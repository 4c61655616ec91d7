/*
 * bi_device.h - one line of a device import file (`ferry device import`):
 *
 *   {"DevEUI":"70B3D57ED0000001","JoinEUI":"70B3D57ED0000000",
 *    "MACVersion":"1.0.3","HomeNetID":"000013","AllowedNetIDs":["000014"],
 *    "NwkKey":{"KEKLabel":"import-2024","AESKey":"<48 hex>"},
 *    "NSKEKLabel":"ns:000013","ASKEKLabel":"as:app1","ASID":"app1.example.com",
 *    "NextJoinNonce":4097}
 *
 * NextJoinNonce (optional, 0..16777215) is a floor for the device's JoinNonce
 * counter on this Join Server: what an Identity Manager (or an operator
 * migrating devices) gives when the device comes from another Join Server,
 * so that the first JoinNonce served here is above every one the device
 * accepted there (docs/store.md, "JoinNonce"). Absent: 0, and the counter
 * starts at 1.
 *
 * For 1.0.x `NwkKey` alone is the device's AppKey (and "AppKey" is refused so
 * that nobody believes a second key is used); 1.1 needs both. Keys come as
 * KeyEnvelopes; a clear one (no KEKLabel) is parsed and flagged, and the
 * caller accepts it only with --allow-clear-keys. Hex rules as for messages.
 */
#ifndef FERRY_BI_DEVICE_H
#define FERRY_BI_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "bi/bi_header.h"
#include "bi/bi_key_envelope.h"
#include "bi/bi_message.h"

#define BI_ALLOWED_NET_IDS_MAX 64

typedef struct bi_device {
    uint64_t dev_eui;
    uint64_t join_eui;
    bi_mac_version mac_version;
    uint32_t home_net_id;
    size_t allowed_net_ids_len; /* 0 when absent */
    uint32_t allowed_net_ids[BI_ALLOWED_NET_IDS_MAX];
    bi_key_envelope nwk_key;    /* always present */
    bi_key_envelope app_key;    /* present for 1.1 only */
    char ns_kek_label[BI_KEK_LABEL_MAX + 1]; /* "" when absent */
    char as_kek_label[BI_KEK_LABEL_MAX + 1];
    char as_id[BI_ID_MAX + 1];
    uint32_t next_join_nonce;   /* the floor; 0 when absent */
} bi_device;

/* Parses one JSON line (`len` bytes, no NUL needed; a trailing newline is
 * fine). On failure `dev` is wiped and `err` names the field
 * ("NwkKey.AESKey", "AllowedNetIDs[2]") and the reason. */
bi_status bi_device_parse(const char *line, size_t len, bi_device *dev, bi_error *err) BI_MUST_CHECK;

/* True when NwkKey or AppKey came in clear. */
bool bi_device_has_clear_key(const bi_device *dev);

/* Wipes the device record, keys included. */
void bi_device_wipe(bi_device *dev);

#endif

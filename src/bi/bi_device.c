/*
 * bi_device.c - one JSON line of `ferry device import`.
 *
 * The same readers as the messages (hex with or without 0x, any case, KEK
 * labels without control characters), so an operator who can write a
 * JoinReq can write an import line. Any failure wipes the record: a half
 * parsed line may already hold a clear NwkKey.
 */
#include "bi/bi_device.h"
#include "bi/bi_json.h"

#include <stdio.h>
#include <string.h>

#include "lorawan/lw_secure.h"

static bi_status parse_allowed(const json_t *root, bi_device *dev, bi_error *err)
{
    json_t *a = bi_json_get(root, "AllowedNetIDs");
    if (a == NULL)
        return BI_OK;
    if (!json_is_array(a))
        return bi_fail(err, BI_ERR_TYPE, "AllowedNetIDs", "must be an array of NetIDs");
    if (json_array_size(a) > BI_ALLOWED_NET_IDS_MAX)
        return bi_fail(err, BI_ERR_VALUE, "AllowedNetIDs", "%zu entries, at most %d", json_array_size(a),
                       BI_ALLOWED_NET_IDS_MAX);
    for (size_t i = 0; i < json_array_size(a); i++) {
        char name[48];
        snprintf(name, sizeof(name), "AllowedNetIDs[%u]", (unsigned)i); /* i < 64 */
        json_t *e = json_array_get(a, i);
        if (!json_is_string(e))
            return bi_fail(err, BI_ERR_TYPE, name, "must be a string");
        uint64_t v;
        bi_status st = bi_hex_be(json_string_value(e), json_string_length(e), 3, &v, name, err);
        if (st != BI_OK)
            return st;
        dev->allowed_net_ids[dev->allowed_net_ids_len++] = (uint32_t)v;
    }
    return BI_OK;
}

static bi_status parse_fields(json_t *root, bi_device *dev, bi_error *err)
{
    uint64_t v;
    const char *s;
    size_t len;
    bi_status st;
    if ((st = bi_json_be(root, "DevEUI", true, 8, &dev->dev_eui, NULL, err)) != BI_OK)
        return st;
    if ((st = bi_json_be(root, "JoinEUI", true, 8, &dev->join_eui, NULL, err)) != BI_OK)
        return st;
    if ((st = bi_json_string(root, "MACVersion", true, &s, &len, err)) != BI_OK)
        return st;
    if (bi_mac_version_parse(s, len, &dev->mac_version) != BI_OK) {
        char shown[20];
        bi_printable(shown, sizeof(shown), s, len);
        return bi_fail(err, BI_ERR_VALUE, "MACVersion", "\"%s\" is not 1.0.0 to 1.0.4 or 1.1", shown);
    }
    if ((st = bi_json_be(root, "HomeNetID", true, 3, &v, NULL, err)) != BI_OK)
        return st;
    dev->home_net_id = (uint32_t)v;
    if ((st = parse_allowed(root, dev, err)) != BI_OK)
        return st;
    /* read both envelopes before judging, so that a clear AppKey in a bad
     * line is still wiped out of the document */
    bool v11 = dev->mac_version == BI_MAC_1_1;
    if ((st = bi_json_key_envelope(root, "NwkKey", true, &dev->nwk_key, err)) != BI_OK)
        return st;
    if ((st = bi_json_key_envelope(root, "AppKey", false, &dev->app_key, err)) != BI_OK)
        return st;
    if (v11 && !dev->app_key.present)
        return bi_fail(err, BI_ERR_MISSING, "AppKey", "required for MACVersion 1.1");
    if (!v11 && dev->app_key.present)
        return bi_fail(err, BI_ERR_VALUE, "AppKey",
                       "not used by LoRaWAN 1.0.x: NwkKey alone is the device's AppKey");
    if ((st = bi_json_label(root, "NSKEKLabel", false, dev->ns_kek_label, BI_KEK_LABEL_MAX, err)) != BI_OK)
        return st;
    if ((st = bi_json_label(root, "ASKEKLabel", false, dev->as_kek_label, BI_KEK_LABEL_MAX, err)) != BI_OK)
        return st;
    if ((st = bi_json_label(root, "ASID", false, dev->as_id, BI_ID_MAX, err)) != BI_OK)
        return st;
    /* 2^24 - 1 at most: a floor of 2^24 would be a device born exhausted. */
    if ((st = bi_json_uint(root, "NextJoinNonce", false, 0xFFFFFF, &v, NULL, err)) != BI_OK)
        return st;
    dev->next_join_nonce = (uint32_t)v;
    return BI_OK;
}

bi_status bi_device_parse(const char *line, size_t len, bi_device *dev, bi_error *err)
{
    if (line == NULL || dev == NULL || err == NULL)
        return BI_ERR_ARGUMENT;
    memset(err, 0, sizeof(*err));
    memset(dev, 0, sizeof(*dev));
    json_t *root;
    bi_status st = bi_json_load(line, len, &root, err);
    if (st != BI_OK)
        return st;
    st = parse_fields(root, dev, err);
    if (st != BI_OK) {
        /* an early exit may leave an envelope unread: wipe its key text */
        const char *keys[] = {"NwkKey", "AppKey"};
        for (size_t i = 0; i < 2; i++) {
            json_t *k = json_object_get(json_object_get(root, keys[i]), "AESKey");
            if (json_is_string(k))
                lw_secure_wipe((char *)json_string_value(k), json_string_length(k));
        }
        bi_device_wipe(dev);
    }
    json_decref(root);
    return st;
}

bool bi_device_has_clear_key(const bi_device *dev)
{
    return (dev->nwk_key.present && dev->nwk_key.clear) || (dev->app_key.present && dev->app_key.clear);
}

void bi_device_wipe(bi_device *dev)
{
    if (dev != NULL)
        lw_secure_wipe(dev, sizeof(*dev));
}

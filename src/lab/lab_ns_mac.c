/*
 * lab_ns_mac.c - uplink MAC commands (see lab_ns_mac.h).
 */
#include "lab/lab_ns_mac.h"

#include <math.h>
#include <string.h>
#include "lab/lab_region.h"

/* Payload length of each uplink CID (device -> NS), -1 unknown. */
static int uplink_len(uint8_t cid, bool v11)
{
    switch (cid) {
    case 0x01: return v11 ? 1 : -1; /* ResetInd */
    case 0x02: return 0;            /* LinkCheckReq */
    case 0x03: return 1;            /* LinkADRAns */
    case 0x04: return 0;            /* DutyCycleAns */
    case 0x05: return 1;            /* RXParamSetupAns */
    case 0x06: return 2;            /* DevStatusAns */
    case 0x07: return 1;            /* NewChannelAns */
    case 0x08: return 0;            /* RXTimingSetupAns */
    case 0x09: return 0;            /* TxParamSetupAns */
    case 0x0A: return 1;            /* DlChannelAns */
    case 0x0B: return v11 ? 1 : -1; /* RekeyInd */
    case 0x0C: return v11 ? 0 : -1; /* ADRParamSetupAns */
    case 0x0D: return 0;            /* DeviceTimeReq */
    case 0x0F: return v11 ? 1 : -1; /* RejoinParamSetupAns */
    default: return -1;
    }
}

static lab_status put(uint8_t *out, size_t cap, size_t *n, const uint8_t *b, size_t len)
{
    if (*n + len > cap)
        return LAB_ERR_BUFFER;
    memcpy(out + *n, b, len);
    *n += len;
    return LAB_OK;
}

lab_status lab_mac_uplink(const uint8_t *cmds, size_t len, const lab_mac_link *link, uint8_t *answers, size_t cap,
                          size_t *answers_len, lab_mac_report *rep)
{
    if ((cmds == NULL && len) || link == NULL || answers_len == NULL || rep == NULL || (answers == NULL && cap))
        return LAB_ERR_ARGUMENT;
    memset(rep, 0, sizeof(*rep));
    size_t n = 0;
    lab_status st = LAB_OK;
    size_t i = 0;
    while (i < len && st == LAB_OK) {
        uint8_t cid = cmds[i];
        int plen = uplink_len(cid, link->v11);
        if (plen < 0 || i + 1 + (size_t)plen > len) {
            rep->unknown = true;
            break;
        }
        const uint8_t *p = cmds + i + 1;
        rep->commands++;
        if (cid == LAB_MAC_LINK_CHECK) {
            double m = floor(link->snr - lab_lora_required_snr(link->sf));
            uint8_t a[3] = {LAB_MAC_LINK_CHECK, (uint8_t)(m < 0 ? 0 : m > 254 ? 254 : m),
                            (uint8_t)(link->gw_count > 255 ? 255 : link->gw_count)};
            st = put(answers, cap, &n, a, sizeof(a));
        } else if (cid == LAB_MAC_DEV_STATUS) {
            rep->dev_status = true;
            rep->battery = p[0];
            int8_t m = (int8_t)(p[1] & 0x3F);
            rep->margin = (int8_t)(m >= 32 ? m - 64 : m);
        } else if (cid == LAB_MAC_REKEY || cid == LAB_MAC_RESET) {
            /* Answer with the version this server speaks: 1 (LoRaWAN 1.1),
             * never above the device's. */
            uint8_t v = p[0] & 0x0F;
            if (cid == LAB_MAC_REKEY) {
                rep->rekey = true;
                rep->rekey_version = v;
            }
            uint8_t a[2] = {cid, v < 1 ? v : 1};
            st = put(answers, cap, &n, a, sizeof(a));
        } else if (cid == LAB_MAC_DEVICE_TIME) {
            uint64_t s = link->gps_time_ms / 1000;
            uint8_t a[6] = {LAB_MAC_DEVICE_TIME, (uint8_t)s, (uint8_t)(s >> 8), (uint8_t)(s >> 16), (uint8_t)(s >> 24),
                            (uint8_t)((link->gps_time_ms % 1000) * 256 / 1000)};
            st = put(answers, cap, &n, a, sizeof(a));
        }
        i += 1 + (size_t)plen;
    }
    *answers_len = n;
    return st;
}

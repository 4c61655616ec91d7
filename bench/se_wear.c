/*
 * se_wear.c - how long the element's flash lasts: a long simulated life on
 * the simulated flash (sehost/se_nvm_ram.h, 4 pages of 2 KiB, 8-byte
 * program unit unless told otherwise), counting the erases of each page.
 *
 * The life, per uplink (one a minute on a real device): an unconfirmed
 * uplink; every 10th a downlink from the network; every 100th uplink
 * confirmed, and acknowledged by the next downlink; every 5,000th an MLS
 * STATUS command from the Identity Manager on FPort 200 (its counter and its
 * sealed answer committed); every 20,000th a new join. The figure is the
 * most worn page's erases per uplink, extrapolated to 10,000 cycles.
 *
 *   se_wear [UPLINKS [PAGE_SIZE PAGES [DOWNLINK_EVERY]]]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lorawan/lorawan.h"
#include "mls/mls.h"
#include "mls/mls_cmd.h"
#include "se/se.h"
#include "sehost/se_nvm_ram.h"

#define CYCLES 10000.0
#define MINUTES_PER_YEAR (60.0 * 24.0 * 365.25)
#define DEV_ADDR 0x26011234u

static const uint8_t KEY[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

typedef struct net {
    se e;
    se_nvm_ram flash;
    lw_session_keys_10 keys;
    uint32_t join_nonce;
    uint32_t fcnt_down;
    bool ack_due;
    mls_session idm;
    uint8_t msg_id;
} net;

static int fail(const char *what)
{
    fprintf(stderr, "se_wear: %s failed\n", what);
    return 1;
}

static int join(net *n)
{
    const lw_crypto *c = lw_crypto_software();
    uint8_t jr[LW_JOIN_REQUEST_LEN], plain[33], wire[33];
    lw_frame f;
    lw_key k;
    size_t len = 0;
    if (se_build_join_request(&n->e, jr) != SE_OK || lw_frame_decode(jr, sizeof(jr), &f) != LW_OK ||
        lw_key_from_bytes(&k, KEY, 16) != LW_OK)
        return fail("join-request");
    lw_join_accept ja = {.join_nonce = ++n->join_nonce, .net_id = 0x13, .dev_addr = DEV_ADDR, .rx_delay = 1};
    se_join_result r;
    lw_session_keys_10_release(c, &n->keys);
    if (lw_join_accept_build(&ja, plain, sizeof(plain), &len) != LW_OK ||
        lw_mic_join_accept_10(c, &k, plain, len, plain + len) != LW_OK ||
        lw_join_accept_encrypt(c, &k, plain, len + 4, wire, sizeof(wire)) != LW_OK ||
        se_process_join_accept(&n->e, wire, len + 4, &r) != SE_OK ||
        lw_derive_session_keys_10(c, &k, ja.join_nonce, 0x13, f.u.join_request.dev_nonce, &n->keys) != LW_OK)
        return fail("join");
    n->fcnt_down = 0;
    return 0;
}

static int uplink(net *n, bool confirmed)
{
    static const uint8_t reading[4] = {0x01, 0x67, 0x00, 0xd2};
    se_uplink up = {.confirmed = confirmed, .has_fport = true, .fport = 2, .payload = reading,
                    .payload_len = sizeof(reading)};
    uint8_t frame[64];
    size_t len = 0;
    return se_protect_uplink(&n->e, &up, frame, sizeof(frame), &len) == SE_OK ? 0 : fail("uplink");
}

static int downlink(net *n, uint8_t fport, const uint8_t *payload, size_t plen)
{
    const lw_crypto *c = lw_crypto_software();
    uint8_t enc[LW_PHY_MAX], frame[LW_PHY_MAX], out[LW_PHY_MAX], mic[4];
    uint32_t fcnt = n->fcnt_down++;
    lw_frame d = {.mtype = LW_MTYPE_UNCONFIRMED_DATA_DOWN};
    d.u.data.dev_addr = DEV_ADDR;
    d.u.data.fctrl.ack = n->ack_due;
    d.u.data.fcnt = (uint16_t)fcnt;
    d.u.data.has_fport = true;
    d.u.data.fport = fport;
    d.u.data.frm_payload = enc;
    d.u.data.frm_payload_len = plen;
    lw_data_mic_params mp = {.dev_addr = DEV_ADDR, .fcnt = fcnt};
    size_t len = 0;
    se_downlink dl;
    if (lw_frm_payload_crypt(c, &n->keys.app_s_key, false, DEV_ADDR, fcnt, payload, plen, enc) != LW_OK ||
        lw_frame_encode(&d, frame, sizeof(frame), &len) != LW_OK ||
        lw_mic_data_10(c, &n->keys.nwk_s_key, &mp, frame, len - 4, mic) != LW_OK ||
        lw_frame_set_mic(frame, len, mic) != LW_OK ||
        se_unprotect_downlink(&n->e, frame, len, out, sizeof(out), &dl) != SE_OK)
        return fail("downlink");
    n->ack_due = false;
    return 0;
}

/* One MLS STATUS command in a single fragment. */
static int mls_status_command(net *n)
{
    mls_cmd cmd = {.type = MLS_T_STATUS};
    uint8_t body[16], frame[4 + 64];
    size_t blen = 0, mlen = 0;
    uint32_t before = n->e.st.mls_down_counter;
    if (mls_cmd_encode(&cmd, body, sizeof(body), &blen) != MLS_OK ||
        mls_seal(&n->idm, MLS_T_STATUS, body, blen, frame + 4, sizeof(frame) - 4, &mlen) != MLS_OK)
        return fail("MLS seal");
    frame[0] = (uint8_t)(n->msg_id++ & 0x7F);
    frame[1] = 0;
    frame[2] = 1;
    frame[3] = (uint8_t)mlen;
    if (downlink(n, SE_MLS_FPORT, frame, 4 + mlen) != 0)
        return 1;
    return n->e.st.mls_down_counter == before + 1 ? 0 : fail("MLS command");
}

static int setup(net *n, const se_nvm_geometry *g)
{
    const lw_crypto *c = lw_crypto_software();
    se_nvm nvm;
    lw_key k;
    se_personalisation p = {.dev_eui = 0x70B3D57ED0001234ull, .join_eui = 2, .mac_version = SE_MAC_1_0_3};
    if (se_nvm_ram_format(&n->flash, g) != SE_OK || se_nvm_ram_bind(&n->flash, &nvm) != SE_OK ||
        se_manufacture(&n->e, &nvm, c, KEY) != SE_OK || lw_key_from_bytes(&k, KEY, 16) != LW_OK ||
        lw_key_wrap(c, &k, &k, p.nwk_key_wrapped, 24) != LW_OK ||
        lw_key_wrap(c, &k, &k, p.app_key_wrapped, 24) != LW_OK ||
        lw_key_wrap(c, &k, &k, p.mls_key_wrapped, 24) != LW_OK || se_personalise(&n->e, &p) != SE_OK ||
        mls_session_init(&n->idm, c, MLS_ROLE_SERVER, &k, p.dev_eui, 0, 1, 0) != MLS_OK)
        return fail("setup");
    return 0;
}

int main(int argc, char **argv)
{
    long uplinks = argc > 1 ? atol(argv[1]) : 200000;
    se_nvm_geometry g = se_nvm_ram_default_geometry;
    if (argc > 3) {
        g.page_size = (uint32_t)atol(argv[2]);
        g.page_count = (uint32_t)atol(argv[3]);
    }
    long every = argc > 4 ? atol(argv[4]) : 10;   /* uplinks per downlink */
    if (every <= 0)
        return fail("DOWNLINK_EVERY");
    static net n;
    if (uplinks <= 0 || setup(&n, &g) != 0)
        return 1;
    uint32_t base[SE_NVM_PAGES_MAX];
    memcpy(base, n.flash.erases, sizeof(base));   /* the factory's erases are not wear */
    uint64_t programs0 = n.flash.programs;
    long downlinks = 0, commands = 0, joins = 0;
    for (long i = 0; i < uplinks; i++) {
        if (i % 20000 == 0) {
            if (join(&n) != 0)
                return 1;
            joins++;
        }
        bool confirmed = i % 100 == 99;
        if (uplink(&n, confirmed) != 0)
            return 1;
        n.ack_due = n.ack_due || confirmed;
        if (i % every == every - 1) {
            static const uint8_t cmd[2] = {0x03, 0x01};
            if (downlink(&n, 3, cmd, sizeof(cmd)) != 0)
                return 1;
            downlinks++;
        }
        if (i % 5000 == 4999) {
            if (mls_status_command(&n) != 0)
                return 1;
            commands++;
        }
    }
    uint32_t total = 0, most = 0, least = UINT32_MAX;
    for (uint32_t p = 0; p < g.page_count; p++) {
        uint32_t e = n.flash.erases[p] - base[p];
        total += e;
        most = e > most ? e : most;
        least = e < least ? e : least;
    }
    if (n.flash.violations != 0)
        return fail("flash rules");
    if (most == 0)
        return fail("a run this short erased nothing: give more uplinks");
    double years = CYCLES / ((double)most / (double)uplinks) / MINUTES_PER_YEAR;
    printf("se-wear: erases_per_1000_uplinks=%.2f lifetime_years_at_1_per_min=%.0f pages=%u page_size=%u\n",
           1000.0 * total / (double)uplinks, years, g.page_count, g.page_size);
    printf("se-wear-detail: uplinks=%ld downlinks=%ld mls_commands=%ld joins=%ld erases=%u "
           "per_page_min=%u per_page_max=%u slots_programmed_per_uplink=%.2f fcnt_up_block=%u\n",
           uplinks, downlinks, commands, joins, total, least, most,
           (double)(n.flash.programs - programs0) / (double)uplinks, SE_STORE_FCNT_UP_BLOCK);
    mls_session_end(&n.idm);
    lw_session_keys_10_release(lw_crypto_software(), &n.keys);
    se_state_wipe(&n.e.st);
    return 0;
}

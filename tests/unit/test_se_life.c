/*
 * test_se_life.c - the secure element's whole life, end to end, with the
 * LoRaWAN core playing the networks and the MLS code playing the Identity
 * Manager:
 *
 *   personalise -> join the bootstrap network -> INSTALL a customer profile
 *   in 51-byte downlink fragments with 20% of frames lost both ways ->
 *   ACTIVATE -> join the customer network (trial confirmed) -> a secure
 *   command and its reply -> RENEW the keys (new trial, confirmed) -> a
 *   profile whose network never answers falls back by itself and reports it
 *   -> MLS key rotation -> back to bootstrap.
 *
 * Then the same life with a power cut at every single flash program and
 * erase, torn 8 ways (sehost/se_nvm_ram.h): after each, the element boots
 * with a usable profile, no counter went backwards and a replayed MLS
 * command is not acted on twice. Every frame the element sends
 * is scanned for key material.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "lorawan/lorawan.h"
#include "mls/mls.h"
#include "mls/mls_cmd.h"
#include "mls/mls_frag.h"
#include "se/se.h"
#include "se/se_apdu.h"
#include "se_test_env.h"

static const uint8_t TRANSPORT[16] = {0x70, 0x71, 0x72, 0x73, 0x74, 0x75, 0x76, 0x77,
                                      0x78, 0x79, 0x7a, 0x7b, 0x7c, 0x7d, 0x7e, 0x7f};
static const uint8_t BOOT_NWK[16] = {0xb0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 0xbf};
static const uint8_t BOOT_APP[16] = {0xa0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 0xaf};
static const uint8_t MLS_ROOT[16] = {0x3c, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 0x3f};
static const uint8_t MLS_ROOT2[16] = {0x4c, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 0x4f};
static const uint8_t CUST_NWK[16] = {0xc0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 0xcf};
static const uint8_t CUST_APP[16] = {0xd0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 0xdf};
static const uint8_t RENEW_NWK[16] = {0xe0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 0xef};
static const uint8_t RENEW_APP[16] = {0xf0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 0xff};
static const uint8_t DEAD_NWK[16] = {0x11, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 0x1f};

#define DEV_EUI 0x70B3D57ED0005E01ull
#define BOOT_JOIN_EUI 0x70B3D57ED0000001ull
#define CUST_JOIN_EUI 0x0011223344550001ull
#define DEAD_JOIN_EUI 0x0011223344550002ull
#define FRAME 51

/* What the test world knows: the network's view of the session, the
 * Identity Manager's MLS session, the radio's losses, and what the element
 * emitted (for the power-cut invariants). */
typedef struct world {
    se e;
    ram_nvm *nvm;
    uint32_t rng;
    lw_session_keys_11 keys;      /* network side of the current session */
    bool joined;
    uint32_t dev_addr;
    uint32_t join_nonce;
    uint32_t afcnt_down;
    mls_session idm;              /* the Identity Manager's end */
    uint8_t idm_msg_id;
    uint8_t secrets[16][16];
    unsigned nsecrets;
    bool cut;                     /* the NVM lost power: stop */
    /* emitted by the element, for the invariants */
    uint32_t max_dev_nonce_plus1[4];
    uint64_t join_euis[4];
    uint32_t fcnt_up_plus1;       /* FCntUp that left the element, */
    uint32_t fcnt_dev_addr;       /* in the session of this DevAddr */
    uint32_t mls_up_seen;         /* highest MLS uplink counter the IDM saw, current epoch */
    uint8_t mls_epoch_seen;
    uint8_t last_cmd[MLS_MSG_MAX];
    size_t last_cmd_len;
    unsigned lost, sent;
} world;

static uint32_t rnd(world *w)
{
    w->rng ^= w->rng << 13;
    w->rng ^= w->rng >> 17;
    w->rng ^= w->rng << 5;
    return w->rng;
}

static bool lose(world *w)   /* 20% of frames vanish */
{
    w->sent++;
    bool l = rnd(w) % 5 == 0;
    w->lost += l;
    return l;
}

static void remember(world *w, const uint8_t k[16])
{
    if (w->nsecrets < 16)
        memcpy(w->secrets[w->nsecrets++], k, 16);
}

static void assert_no_secret(const world *w, const uint8_t *buf, size_t len)
{
    for (unsigned k = 0; k < w->nsecrets; k++)
        for (size_t off = 0; off + 4 <= 16; off += 4)
            for (size_t i = 0; i + 4 <= len; i++)
                assert_false(memcmp(buf + i, w->secrets[k] + off, 4) == 0);
}

/* False once the NVM lost power, whatever the call returned: the MLS
 * endpoint drops a message whose commit failed without telling the host. */
static bool check(world *w, se_status st)
{
    (void)st;
    if (w->nvm->power_off) {
        w->cut = true;
        return false;
    }
    return true;
}

static void note_dev_nonce(world *w, uint64_t join_eui, uint16_t dn)
{
    for (unsigned i = 0; i < 4; i++) {
        if (w->join_euis[i] == join_eui || w->join_euis[i] == 0) {
            w->join_euis[i] = join_eui;
            if ((uint32_t)dn + 1 > w->max_dev_nonce_plus1[i])
                w->max_dev_nonce_plus1[i] = dn + 1u;
            return;
        }
    }
}

/* A join through a network holding nwk/app; `answer` false: nobody hears it. */
static bool join(world *w, const uint8_t nwk_b[16], const uint8_t app_b[16], bool answer)
{
    const lw_crypto *c = lw_crypto_software();
    uint8_t jr[23];
    se_status st = se_build_join_request(&w->e, jr);
    if (!check(w, st))
        return false;
    assert_int_equal(st, SE_OK);
    assert_no_secret(w, jr, sizeof(jr));
    lw_frame f;
    assert_int_equal(lw_frame_decode(jr, 23, &f), LW_OK);
    note_dev_nonce(w, f.u.join_request.join_eui, f.u.join_request.dev_nonce);
    if (!answer)
        return true;
    lw_key nwk, app;
    assert_int_equal(lw_key_from_bytes(&nwk, nwk_b, 16), LW_OK);
    assert_int_equal(lw_key_from_bytes(&app, app_b, 16), LW_OK);
    uint8_t mic[4];
    assert_int_equal(lw_mic_join_request(c, &nwk, jr, 19, mic), LW_OK);
    assert_true(lw_mic_equal(mic, f.mic));
    w->join_nonce++;
    w->dev_addr = 0x26000000u | (w->join_nonce & 0xFFFF);
    lw_join_accept ja = {.join_nonce = w->join_nonce, .net_id = 0x13, .dev_addr = w->dev_addr,
                         .dl_settings = LW_DL_OPTNEG, .rx_delay = 1};
    uint8_t plain[33], wire[33];
    size_t n = 0;
    lw_js_keys js;
    assert_int_equal(lw_join_accept_build(&ja, plain, sizeof(plain), &n), LW_OK);
    assert_int_equal(lw_derive_js_keys(c, &nwk, f.u.join_request.dev_eui, &js), LW_OK);
    assert_int_equal(lw_mic_join_accept_11(c, &js.js_int_key, 0xFF, f.u.join_request.join_eui,
                                           f.u.join_request.dev_nonce, plain, n, plain + n), LW_OK);
    assert_int_equal(lw_join_accept_encrypt(c, &nwk, plain, n + 4, wire, sizeof(wire)), LW_OK);
    lw_js_keys_release(c, &js);
    se_join_result r;
    st = se_process_join_accept(&w->e, wire, n + 4, &r);
    if (!check(w, st))
        return false;
    assert_int_equal(st, SE_OK);
    lw_session_keys_11_release(c, &w->keys);
    assert_int_equal(lw_derive_session_keys_11(c, &nwk, &app, w->join_nonce, f.u.join_request.join_eui,
                                               f.u.join_request.dev_nonce, &w->keys), LW_OK);
    w->joined = true;
    w->afcnt_down = 0;
    return true;
}

/* Application uplinks, each committing its FCntUp. */
static bool app_traffic(world *w, int n)
{
    for (int i = 0; i < n; i++) {
        uint8_t frame[64];
        size_t len = 0;
        static const uint8_t reading[4] = {0x01, 0x67, 0x00, 0xd2};
        se_uplink up = {.has_fport = true, .fport = 2, .payload = reading, .payload_len = sizeof(reading)};
        se_status st = se_protect_uplink(&w->e, &up, frame, sizeof(frame), &len);
        if (!check(w, st))
            return false;
        assert_int_equal(st, SE_OK);
        assert_no_secret(w, frame, len);
        w->fcnt_up_plus1 = (uint32_t)lw_get_le(frame + 6, 2) + 1u;
        w->fcnt_dev_addr = (uint32_t)lw_get_le(frame + 1, 4);
    }
    return true;
}

/* One downlink on the MLS port, built by the network. */
static bool downlink(world *w, const uint8_t *payload, size_t len)
{
    const lw_crypto *c = lw_crypto_software();
    uint8_t enc[LW_PHY_MAX], frame[LW_PHY_MAX], out[LW_PHY_MAX], mic[4];
    uint32_t fcnt = w->afcnt_down++;
    assert_int_equal(lw_frm_payload_crypt(c, &w->keys.app_s_key, false, w->dev_addr, fcnt, payload, len, enc), LW_OK);
    lw_frame d = {.mtype = LW_MTYPE_UNCONFIRMED_DATA_DOWN};
    d.u.data.dev_addr = w->dev_addr;
    d.u.data.fcnt = (uint16_t)fcnt;
    d.u.data.has_fport = true;
    d.u.data.fport = SE_MLS_FPORT;
    d.u.data.frm_payload = enc;
    d.u.data.frm_payload_len = len;
    size_t n = 0;
    assert_int_equal(lw_frame_encode(&d, frame, sizeof(frame), &n), LW_OK);
    lw_data_mic_params mp = {.dev_addr = w->dev_addr, .fcnt = fcnt};
    assert_int_equal(lw_mic_data_down_11(c, &w->keys.s_nwk_s_int_key, &mp, frame, n - 4, mic), LW_OK);
    assert_int_equal(lw_frame_set_mic(frame, n, mic), LW_OK);
    if (lose(w))
        return true;
    se_downlink dl;
    se_status st = se_unprotect_downlink(&w->e, frame, n, out, sizeof(out), &dl);
    if (!check(w, st))
        return false;
    assert_int_equal(st, SE_OK);
    assert_true(dl.mls);
    assert_int_equal(dl.payload_len, 0);
    return true;
}

/* One uplink opportunity: what the element sends on the MLS port, as the
 * network decrypts it. *len 0: nothing sent (or lost). */
static bool uplink(world *w, uint8_t *mls_frame, size_t *len)
{
    const lw_crypto *c = lw_crypto_software();
    uint8_t payload[FRAME], frame[LW_PHY_MAX], mic[4];
    size_t plen = 0, n = 0;
    *len = 0;
    se_status st = se_mls_next_uplink(&w->e, FRAME, payload, &plen);
    if (!check(w, st))
        return false;
    assert_int_equal(st, SE_OK);
    if (plen == 0)
        return true;
    se_uplink up = {.has_fport = true, .fport = SE_MLS_FPORT, .payload = payload, .payload_len = plen};
    st = se_protect_uplink(&w->e, &up, frame, sizeof(frame), &n);
    if (!check(w, st))
        return false;
    assert_int_equal(st, SE_OK);
    assert_no_secret(w, frame, n);
    w->fcnt_up_plus1 = (uint32_t)lw_get_le(frame + 6, 2) + 1u;
    w->fcnt_dev_addr = (uint32_t)lw_get_le(frame + 1, 4);
    if (lose(w))
        return true;
    lw_frame f;
    assert_int_equal(lw_frame_decode(frame, n, &f), LW_OK);
    lw_data_mic_params mp = {.dev_addr = w->dev_addr, .fcnt = f.u.data.fcnt};
    assert_int_equal(lw_mic_data_up_11(c, &w->keys.s_nwk_s_int_key, &w->keys.f_nwk_s_int_key, &mp, frame, n - 4,
                                       mic), LW_OK);
    assert_true(lw_mic_equal(mic, f.mic));
    assert_int_equal(f.u.data.fport, SE_MLS_FPORT);
    assert_int_equal(lw_frm_payload_crypt(c, &w->keys.app_s_key, true, w->dev_addr, f.u.data.fcnt,
                                          f.u.data.frm_payload, f.u.data.frm_payload_len, mls_frame), LW_OK);
    *len = f.u.data.frm_payload_len;
    assert_no_secret(w, mls_frame, *len);
    return true;
}

/* The IDM sends one command and waits for the sealed answer (a response or
 * an event). Returns false when the element lost power. */
static bool idm_exchange(world *w, uint8_t type, const mls_cmd *cmd, uint8_t *rtype, uint8_t *rbody, size_t *rlen)
{
    uint8_t body[MLS_BODY_MAX], msg[MLS_MSG_MAX];
    size_t blen = 0, mlen = 0;
    if (cmd != NULL) {
        assert_int_equal(mls_cmd_encode(cmd, body, sizeof(body), &blen), MLS_OK);
        assert_int_equal(mls_seal(&w->idm, type, body, blen, msg, sizeof(msg), &mlen), MLS_OK);
        memcpy(w->last_cmd, msg, mlen);
        w->last_cmd_len = mlen;
    }
    mls_frag_tx tx;
    bool sending = cmd != NULL;
    if (sending)
        assert_int_equal(mls_frag_tx_start(&tx, w->idm_msg_id++ & 0x7F, msg, mlen, FRAME, 0, 100000), MLS_OK);
    mls_frag_rx rx;
    mls_frag_rx_init(&rx, 100000);
    bool have_answer = false;
    for (int round = 0; round < 400; round++) {
        uint8_t frag[FRAME];
        size_t flen = 0;
        /* the answer ends the command's transfer, acked or not (docs/mls.md 6.3) */
        if (sending && !have_answer && !mls_frag_tx_done(&tx)) {
            assert_int_equal(mls_frag_tx_next(&tx, FRAME, frag, &flen), MLS_OK);
            if (flen == 0) {
                mls_frag_tx_rewind(&tx);
                assert_int_equal(mls_frag_tx_next(&tx, FRAME, frag, &flen), MLS_OK);
            }
            if (flen > 0 && !downlink(w, frag, flen))
                return false;
        } else if (have_answer) {
            /* Acknowledge the answer until the element stops sending it. */
            if (mls_frag_rx_ack(&rx, FRAME, frag, &flen) == MLS_OK && !downlink(w, frag, flen))
                return false;
        }
        uint8_t up[FRAME];
        size_t ulen = 0;
        if (!uplink(w, up, &ulen))
            return false;
        if (ulen == 0) {
            if (have_answer)
                break;
            continue;
        }
        if (up[0] & MLS_FRAG_ACK_BIT) {
            if (sending && !mls_frag_tx_done(&tx))
                assert_int_equal(mls_frag_tx_ack(&tx, up, ulen, 0), MLS_OK);
            continue;
        }
        int complete = 0;
        if (mls_frag_rx_push(&rx, up, ulen, 0, &complete) == MLS_OK && complete) {
            uint8_t in[MLS_MSG_MAX];
            size_t inlen = 0;
            assert_int_equal(mls_frag_rx_take(&rx, in, sizeof(in), &inlen), MLS_OK);
            mls_header h;
            assert_int_equal(mls_open(&w->idm, in, inlen, &h, rbody, MLS_BODY_MAX, rlen), MLS_OK);
            assert_int_equal(mls_accept_counter(&w->idm, h.counter), MLS_OK);
            assert_no_secret(w, rbody, *rlen);
            w->mls_up_seen = h.counter;
            *rtype = h.type;
            have_answer = true;
        }
    }
    if (!have_answer)
        print_message("no answer to type %02x: idm sent all=%d, se rejected=%u, se tx_active=%d, down=%u up=%u\n",
                      type, sending ? mls_frag_tx_done(&tx) : -1, w->e.mls.rejected, w->e.mls.tx_active,
                      w->e.st.mls_down_counter, w->e.st.mls_up_counter);
    assert_true(have_answer);
    return true;
}

/* Sends a command, expects its response with `result`. */
static bool command(world *w, const mls_cmd *cmd, uint8_t result, mls_rsp *out)
{
    uint8_t body[MLS_BODY_MAX], rtype = 0;
    size_t rlen = 0;
    if (!idm_exchange(w, cmd->type, cmd, &rtype, body, &rlen))
        return false;
    mls_rsp rsp;
    assert_int_equal(rtype, MLS_T_RESPONSE | cmd->type);
    assert_int_equal(mls_rsp_decode(rtype, body, rlen, &rsp), MLS_OK);
    assert_int_equal(rsp.result, result);
    if (out != NULL)
        *out = rsp;
    return true;
}

static void wrap_for(world *w, const uint8_t key[16], uint8_t out[24])
{
    lw_key k;
    assert_int_equal(lw_key_from_bytes(&k, key, 16), LW_OK);
    assert_int_equal(mls_wrap_key(&w->idm, &k, out, 24), MLS_OK);
}

static bool install(world *w, uint16_t id, uint64_t join_eui, const uint8_t nwk[16], const uint8_t app[16],
                    uint16_t attempts, bool activate)
{
    mls_cmd c;
    memset(&c, 0, sizeof(c));
    c.type = MLS_T_INSTALL;
    c.u.install.profile_id = id;
    c.u.install.join_eui = join_eui;
    c.u.install.mac_version = MLS_MAC_1_1;
    c.u.install.flags = activate ? MLS_INSTALL_ACTIVATE_NOW : 0;
    c.u.install.max_join_attempts = attempts;
    wrap_for(w, nwk, c.u.install.nwk_key_wrapped);
    wrap_for(w, app, c.u.install.app_key_wrapped);
    return command(w, &c, MLS_R_OK, NULL);
}

static void world_init(world *w, ram_nvm *nvm, uint32_t seed)
{
    memset(w, 0, sizeof(*w));
    w->nvm = nvm;
    w->rng = seed;
    const uint8_t *keys[] = {TRANSPORT, BOOT_NWK, BOOT_APP, MLS_ROOT, MLS_ROOT2, CUST_NWK, CUST_APP,
                             RENEW_NWK, RENEW_APP, DEAD_NWK};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        remember(w, keys[i]);
    lw_key root;
    assert_int_equal(lw_key_from_bytes(&root, MLS_ROOT, 16), LW_OK);
    assert_int_equal(mls_session_init(&w->idm, lw_crypto_software(), MLS_ROLE_SERVER, &root, DEV_EUI, 0, 1, 0),
                     MLS_OK);
}

static void wrap_transport(const uint8_t key[16], uint8_t out[24])
{
    lw_key kek, k;
    assert_int_equal(lw_key_from_bytes(&kek, TRANSPORT, 16), LW_OK);
    assert_int_equal(lw_key_from_bytes(&k, key, 16), LW_OK);
    assert_int_equal(lw_key_wrap(lw_crypto_software(), &kek, &k, out, 24), LW_OK);
}

/* The whole life; returns early (false) at a power cut. */
static bool life(world *w)
{
    se_nvm v = ram_nvm_bind(w->nvm);
    se_status st = se_manufacture(&w->e, &v, lw_crypto_software(), TRANSPORT);
    if (!check(w, st))
        return false;
    se_personalisation p = {.dev_eui = DEV_EUI, .serial = 7, .join_eui = BOOT_JOIN_EUI, .mac_version = SE_MAC_1_1};
    wrap_transport(BOOT_NWK, p.nwk_key_wrapped);
    wrap_transport(BOOT_APP, p.app_key_wrapped);
    wrap_transport(MLS_ROOT, p.mls_key_wrapped);
    if (!check(w, se_personalise(&w->e, &p)))
        return false;

    /* 1. Bootstrap network. */
    if (!join(w, BOOT_NWK, BOOT_APP, true) || !app_traffic(w, 20))
        return false;
    /* 2. The customer profile, fragmented and lossy, then activation. */
    if (!install(w, 1, CUST_JOIN_EUI, CUST_NWK, CUST_APP, 3, false))
        return false;
    mls_cmd act = {.type = MLS_T_ACTIVATE, .u.activate.profile_id = 1};
    if (!command(w, &act, MLS_R_OK, NULL))
        return false;
    /* 3. The customer network. */
    if (!join(w, CUST_NWK, CUST_APP, true) || !app_traffic(w, 40))
        return false;
    se_info info;
    assert_int_equal(se_get_info(&w->e, &info), SE_OK);
    assert_false(info.on_trial);
    assert_int_equal(info.active_profile_id, 1);
    /* 4. A secure command travels to the application and back. */
    mls_cmd sec = {.type = MLS_T_SECURE};
    sec.u.secure.len = 3;
    sec.u.secure.data = (const uint8_t *)"\x01\x02\x03";
    uint8_t body[MLS_MSG_MAX], msg[MLS_MSG_MAX], frag[FRAME];
    size_t blen = 0, mlen = 0, flen = 0;
    assert_int_equal(mls_cmd_encode(&sec, body, sizeof(body), &blen), MLS_OK);
    assert_int_equal(mls_seal(&w->idm, MLS_T_SECURE, body, blen, msg, sizeof(msg), &mlen), MLS_OK);
    mls_frag_tx tx;
    assert_int_equal(mls_frag_tx_start(&tx, w->idm_msg_id++ & 0x7F, msg, mlen, FRAME, 0, 1000), MLS_OK);
    assert_int_equal(mls_frag_tx_next(&tx, FRAME, frag, &flen), MLS_OK);
    w->rng |= 1;
    while (true) {   /* deliver the single fragment, retrying losses */
        uint32_t before = w->lost;
        if (!downlink(w, frag, flen))
            return false;
        if (w->lost == before)
            break;
    }
    const uint8_t *cmdp = NULL;
    size_t clen = 0;
    assert_int_equal(se_secure_command(&w->e, &cmdp, &clen), SE_OK);
    assert_int_equal(clen, 3);
    assert_memory_equal(cmdp, "\x01\x02\x03", 3);
    st = se_secure_reply(&w->e, true, (const uint8_t *)"ok!", 3);
    if (!check(w, st))
        return false;
    assert_int_equal(st, SE_OK);
    uint8_t rtype = 0;
    size_t rlen = 0;
    if (!idm_exchange(w, 0, NULL, &rtype, body, &rlen))
        return false;
    mls_rsp rsp;
    assert_int_equal(mls_rsp_decode(rtype, body, rlen, &rsp), MLS_OK);
    assert_int_equal(rsp.result, MLS_R_OK);
    assert_int_equal(rsp.u.secure.len, 3);
    assert_memory_equal(rsp.u.secure.data, "ok!", 3);

    /* 5. Key renewal of the active profile: a trial, then confirmed. */
    mls_cmd ren = {.type = MLS_T_RENEW};
    ren.u.renew.profile_id = 1;
    wrap_for(w, RENEW_NWK, ren.u.renew.nwk_key_wrapped);
    wrap_for(w, RENEW_APP, ren.u.renew.app_key_wrapped);
    if (!command(w, &ren, MLS_R_OK, NULL))
        return false;
    if (!join(w, RENEW_NWK, RENEW_APP, true) || !app_traffic(w, 40))
        return false;
    assert_int_equal(se_get_info(&w->e, &info), SE_OK);
    assert_false(info.on_trial);
    assert_int_equal(info.active_profile_id, 1);

    /* 6. A profile whose network never answers: the element falls back by
     * itself after 2 attempts and reports it. */
    if (!install(w, 2, DEAD_JOIN_EUI, DEAD_NWK, DEAD_NWK, 2, true))
        return false;
    for (int i = 0; i < 2; i++)
        if (!join(w, DEAD_NWK, DEAD_NWK, false))
            return false;
    if (!join(w, RENEW_NWK, RENEW_APP, true))   /* the third attempt is the fallback's */
        return false;
    assert_int_equal(se_get_info(&w->e, &info), SE_OK);
    assert_int_equal(info.active_profile_id, 1);
    if (!idm_exchange(w, 0, NULL, &rtype, body, &rlen))
        return false;
    assert_int_equal(rtype, MLS_T_EVENT);
    mls_event ev;
    assert_int_equal(mls_event_decode(body, rlen, &ev), MLS_OK);
    assert_int_equal(ev.profile_id, 2);
    assert_int_equal(ev.reason, MLS_FALLBACK_JOINS);
    mls_cmd stc = {.type = MLS_T_STATUS, .u.status.ack_event = ev.event_id};
    if (!command(w, &stc, MLS_R_OK, &rsp))
        return false;
    assert_int_equal(rsp.u.status.pending_event, 0);
    assert_int_equal(rsp.u.status.active_profile, 1);

    /* 7. MLS key rotation; the next command runs under the new epoch. */
    mls_cmd rot = {.type = MLS_T_ROTATE, .u.rotate.new_epoch = 1};
    wrap_for(w, MLS_ROOT2, rot.u.rotate.root_wrapped);
    if (!command(w, &rot, MLS_R_OK, NULL))
        return false;
    mls_session_end(&w->idm);
    lw_key root2;
    assert_int_equal(lw_key_from_bytes(&root2, MLS_ROOT2, 16), LW_OK);
    assert_int_equal(mls_session_init(&w->idm, lw_crypto_software(), MLS_ROLE_SERVER, &root2, DEV_EUI, 1, 1, 0),
                     MLS_OK);
    w->mls_up_seen = 0;
    w->mls_epoch_seen = 1;
    mls_cmd del = {.type = MLS_T_DELETE, .u.remove.profile_id = 2};
    if (!command(w, &del, MLS_R_OK, NULL))
        return false;
    assert_int_equal(w->e.st.mls_epoch, 1);

    /* 8. Back to bootstrap. */
    mls_cmd boot = {.type = MLS_T_BOOTSTRAP, .u.bootstrap.flags = MLS_BOOTSTRAP_ERASE};
    if (!command(w, &boot, MLS_R_OK, NULL))
        return false;
    assert_int_equal(se_get_info(&w->e, &info), SE_OK);
    assert_int_equal(info.active_slot, SE_SLOT_BOOTSTRAP);
    return join(w, BOOT_NWK, BOOT_APP, true);
}

static void test_whole_life(void **state)
{
    (void)state;
    ram_nvm nvm = {0};
    world *w = test_malloc(sizeof(world));
    world_init(w, &nvm, 0x2545F491u);
    assert_true(life(w));
    assert_true(w->lost > 0);   /* the radio really lost frames */
    print_message("life: %u flash programs and erases (erases per page %u %u %u %u), %u of %u frames lost\n",
                  nvm.writes, nvm.erases[0], nvm.erases[1], nvm.erases[2], nvm.erases[3], w->lost, w->sent);
    assert_int_equal(nvm.violations, 0);
    lw_session_keys_11_release(lw_crypto_software(), &w->keys);
    mls_session_end(&w->idm);
    test_free(w);
}

/* A world whose element is manufactured and personalised (1.1), nothing more. */
static world *personalised_world(ram_nvm *nvm, uint32_t seed)
{
    world *w = test_malloc(sizeof(world));
    world_init(w, nvm, seed);
    se_nvm v = ram_nvm_bind(nvm);
    assert_int_equal(se_manufacture(&w->e, &v, lw_crypto_software(), TRANSPORT), SE_OK);
    se_personalisation p = {.dev_eui = DEV_EUI, .join_eui = BOOT_JOIN_EUI, .mac_version = SE_MAC_1_1};
    wrap_transport(BOOT_NWK, p.nwk_key_wrapped);
    wrap_transport(BOOT_APP, p.app_key_wrapped);
    wrap_transport(MLS_ROOT, p.mls_key_wrapped);
    assert_int_equal(se_personalise(&w->e, &p), SE_OK);
    return w;
}

static void test_bit_flips_of_a_command_change_nothing(void **state)
{
    (void)state;
    ram_nvm nvm = {0};
    world *w = personalised_world(&nvm, 7);
    mls_cmd c = {.type = MLS_T_DELETE, .u.remove.profile_id = 9};
    uint8_t body[8], msg[64];
    size_t blen = 0, mlen = 0;
    assert_int_equal(mls_cmd_encode(&c, body, sizeof(body), &blen), MLS_OK);
    assert_int_equal(mls_seal(&w->idm, MLS_T_DELETE, body, blen, msg, sizeof(msg), &mlen), MLS_OK);
    se_state before = w->e.st;
    unsigned writes = nvm.writes;
    for (size_t bit = 0; bit < mlen * 8; bit++) {
        uint8_t frame[4 + 64];
        frame[0] = (uint8_t)(bit % 100);   /* a fresh message id each time */
        frame[1] = 0;
        frame[2] = 1;
        frame[3] = (uint8_t)mlen;
        memcpy(frame + 4, msg, mlen);
        frame[4 + bit / 8] ^= (uint8_t)(1u << (bit % 8));
        assert_int_equal(se_mls_push(&w->e, frame, 4 + mlen), SE_OK);
        assert_memory_equal(&w->e.st, &before, sizeof(before));
    }
    assert_int_equal(nvm.writes, writes);
    assert_int_equal(w->e.mls.rejected, mlen * 8);
    /* The genuine message is accepted once, and its replay is not acted on. */
    uint8_t frame[4 + 64] = {100, 0, 1, (uint8_t)mlen};
    memcpy(frame + 4, msg, mlen);
    assert_int_equal(se_mls_push(&w->e, frame, 4 + mlen), SE_OK);
    assert_int_equal(w->e.st.mls_down_counter, 1);
    unsigned after_one = nvm.writes;
    uint8_t sealed[64];
    size_t sealed_len = w->e.mls.tx.len;
    assert_true(sealed_len > 0 && sealed_len <= sizeof(sealed));
    memcpy(sealed, w->e.mls.tx.msg, sealed_len);
    unsigned rejected = w->e.mls.rejected;
    frame[0] = 101;
    assert_int_equal(se_mls_push(&w->e, frame, 4 + mlen), SE_OK);
    assert_int_equal(nvm.writes, after_one);   /* answered again from memory, not acted on */
    /* Regression: the repetition was taken for a forgery (its header had
     * been wiped by the failed open) and never answered. Now the same
     * sealed response goes out again. */
    assert_int_equal(w->e.mls.rejected, rejected);
    assert_true(w->e.mls.tx_active);
    assert_int_equal(w->e.mls.tx.len, sealed_len);
    assert_memory_equal(w->e.mls.tx.msg, sealed, sealed_len);
    mls_session_end(&w->idm);
    test_free(w);
}

/* Seals `cmd` as the IDM and pushes it to the element in one fragment. */
static void push_one_fragment(world *w, const mls_cmd *cmd, uint8_t msg_id)
{
    uint8_t body[64], frame[4 + 64 + MLS_OVERHEAD];
    size_t blen = 0, mlen = 0;
    assert_int_equal(mls_cmd_encode(cmd, body, sizeof(body), &blen), MLS_OK);
    assert_int_equal(mls_seal(&w->idm, cmd->type, body, blen, frame + 4, sizeof(frame) - 4, &mlen), MLS_OK);
    frame[0] = msg_id;
    frame[1] = 0;
    frame[2] = 1;
    frame[3] = (uint8_t)mlen;
    assert_int_equal(se_mls_push(&w->e, frame, 4 + mlen), SE_OK);
}

/* A new command that completes while the application is still sending its
 * reply in chunks abandons that reply: the new command's answer is sealed
 * in the send buffer the reply was being built in. Regression: the reply's
 * state survived, and its last chunk then sealed the bytes of the other
 * answer as the reply. */
static void test_new_command_abandons_a_reply_being_built(void **state)
{
    (void)state;
    ram_nvm nvm = {0};
    world *w = personalised_world(&nvm, 11);

    mls_cmd sec = {.type = MLS_T_SECURE};
    sec.u.secure.len = 3;
    sec.u.secure.data = (const uint8_t *)"\x01\x02\x03";
    push_one_fragment(w, &sec, 1);
    const uint8_t *cmdp = NULL;
    size_t clen = 0;
    assert_int_equal(se_secure_command(&w->e, &cmdp, &clen), SE_OK);
    uint8_t apdu[SE_APDU_BUFFER] = {SE_CLA, SE_INS_SECURE_REPLY, 0, 0, 3, 'a', 'b', 'c'};
    size_t n = 0;
    assert_int_equal(se_apdu_process(&w->e, apdu, 8, apdu, sizeof(apdu), &n), SE_OK);   /* not the last chunk */

    mls_cmd status = {.type = MLS_T_STATUS};
    push_one_fragment(w, &status, 2);
    assert_true(w->e.mls.tx_active);
    uint8_t body[MLS_BODY_MAX];
    size_t blen = 0;
    mls_header h;
    assert_int_equal(mls_open(&w->idm, w->e.mls.tx.msg, w->e.mls.tx.len, &h, body, sizeof(body), &blen), MLS_OK);
    assert_int_equal(h.type, MLS_T_RESPONSE | MLS_T_STATUS);
    /* The last chunk of the abandoned reply finds no command to answer. */
    uint8_t last[SE_APDU_BUFFER] = {SE_CLA, SE_INS_SECURE_REPLY, 0, 1, 1, 'd'};
    assert_int_equal(se_apdu_process(&w->e, last, 6, last, sizeof(last), &n), SE_ERR_STATE);
    assert_int_equal(se_secure_command(&w->e, &cmdp, &clen), SE_ERR_STATE);
    mls_session_end(&w->idm);
    test_free(w);
}

/* The element's next MLS uplink, which must be a data frame of one
 * fragment: the sealed message it carries, opened as the IDM, is answer
 * type `want`. */
static void next_uplink_is_answer(world *w, uint8_t want)
{
    uint8_t up[FRAME], body[MLS_BODY_MAX];
    size_t ul = 0, blen = 0;
    mls_header h;
    assert_int_equal(se_mls_next_uplink(&w->e, FRAME, up, &ul), SE_OK);
    assert_true(ul > 4);
    assert_int_equal(up[0] & MLS_FRAG_ACK_BIT, 0);
    assert_int_equal(up[2], 1);   /* one fragment: the whole answer */
    assert_int_equal(mls_open(&w->idm, up + 4, ul - 4, &h, body, sizeof(body), &blen), MLS_OK);
    assert_int_equal(h.type, want);
}

static void next_uplink_is_ack(world *w)
{
    uint8_t up[FRAME];
    size_t ul = 0;
    assert_int_equal(se_mls_next_uplink(&w->e, FRAME, up, &ul), SE_OK);
    assert_true(ul >= MLS_FRAG_ACK_HEADER);
    assert_true((up[0] & MLS_FRAG_ACK_BIT) != 0);
}

/* An answer acknowledges its command (docs/mls.md 6.2): the first uplink
 * after a command's last fragment carries the answer, not an ack of the
 * fragments, and so does the first after a repetition of that command. A
 * secure command, whose answer waits for the application, and a message
 * that does not open are acknowledged as before. */
static void test_answer_in_place_of_the_ack(void **state)
{
    (void)state;
    ram_nvm nvm = {0};
    world *w = personalised_world(&nvm, 13);
    mls_cmd status = {.type = MLS_T_STATUS};
    uint8_t body[8], frame[4 + 64];
    size_t blen = 0, mlen = 0;
    assert_int_equal(mls_cmd_encode(&status, body, sizeof(body), &blen), MLS_OK);
    assert_int_equal(mls_seal(&w->idm, MLS_T_STATUS, body, blen, frame + 4, sizeof(frame) - 4, &mlen), MLS_OK);
    frame[0] = 1, frame[1] = 0, frame[2] = 1, frame[3] = (uint8_t)mlen;
    assert_int_equal(se_mls_push(&w->e, frame, 4 + mlen), SE_OK);
    next_uplink_is_answer(w, MLS_T_RESPONSE | MLS_T_STATUS);
    /* the IDM missed it and sends the command again, as a new message */
    frame[0] = 2;
    assert_int_equal(se_mls_push(&w->e, frame, 4 + mlen), SE_OK);
    next_uplink_is_answer(w, MLS_T_RESPONSE | MLS_T_STATUS);
    /* a secure command is held for the application: acknowledged */
    mls_cmd sec = {.type = MLS_T_SECURE};
    sec.u.secure.len = 3;
    sec.u.secure.data = (const uint8_t *)"\x01\x02\x03";
    push_one_fragment(w, &sec, 3);
    next_uplink_is_ack(w);
    /* a message that does not open: acknowledged, not answered */
    frame[0] = 4;
    frame[4 + mlen - 1] ^= 1;
    assert_int_equal(se_mls_push(&w->e, frame, 4 + mlen), SE_OK);
    next_uplink_is_ack(w);
    mls_session_end(&w->idm);
    test_free(w);
}

static void test_power_cut_at_every_write(void **state)
{
    (void)state;
    ram_nvm full = {0};
    world *w = test_malloc(sizeof(world));
    world_init(w, &full, 0x2545F491u);
    assert_true(life(w));
    unsigned total = full.writes;
    lw_session_keys_11_release(lw_crypto_software(), &w->keys);
    mls_session_end(&w->idm);
    print_message("power cuts: %u programs and erases x 8 ways to tear = %u cut points\n", total, total * 8);
    ram_nvm fresh = {0};
    se_nvm fv = ram_nvm_bind(&fresh);
    assert_int_equal(se_manufacture(&w->e, &fv, lw_crypto_software(), TRANSPORT), SE_OK);
    unsigned factory_writes = fresh.writes;

    for (unsigned point = 0; point < total * 8; point++) {
        unsigned cut = point / 8 + 1;
        ram_nvm *nvm = test_malloc(sizeof(ram_nvm));
        memset(nvm, 0, sizeof(*nvm));
        nvm->cut_at = cut;
        nvm->tear = point % 8 + 1;
        world_init(w, nvm, 0x2545F491u);
        assert_false(life(w));
        assert_true(w->cut);
        nvm->power_off = 0;
        nvm->cut_at = 0;
        se_nvm v = ram_nvm_bind(nvm);
        se *after = test_malloc(sizeof(se));
        se_status st = se_boot(after, &v, lw_crypto_software());
        assert_int_equal(nvm->violations, 0);   /* no flash rule broken, before the cut or at boot */
        if (st == SE_ERR_CORRUPT) {
            assert_true(cut <= factory_writes);   /* the factory write itself was cut */
        } else {
            assert_int_equal(st, SE_OK);
            const se_state *s = &after->st;
            if (s->lifecycle == SE_LIFECYCLE_OPERATIONAL) {
                /* A usable profile. */
                assert_true(s->profiles[s->active_slot].in_use);
                /* No DevNonce that left the element comes out again. */
                for (unsigned i = 0; i < 4; i++) {
                    if (w->join_euis[i] == 0)
                        continue;
                    for (unsigned k = 0; k < SE_NONCE_TABLE; k++)
                        if (s->nonces[k].in_use && s->nonces[k].join_eui == w->join_euis[i])
                            assert_true(s->nonces[k].next_dev_nonce >= w->max_dev_nonce_plus1[i]);
                }
                /* No FCntUp that left in this session comes out again. */
                if (s->session.valid && s->session.dev_addr == w->fcnt_dev_addr)
                    assert_true(s->session.fcnt_up >= w->fcnt_up_plus1);
                /* No MLS uplink counter the IDM saw can be sealed again. */
                if (s->mls_epoch == w->mls_epoch_seen)
                    assert_true(s->mls_up_counter > w->mls_up_seen);
                /* The last command, replayed whole, is not acted on twice. */
                if (w->last_cmd_len > 0 && s->mls_down_counter > 0) {
                    se_state before = after->st;
                    uint8_t frame[4 + MLS_MSG_MAX];
                    frame[0] = 0x55;
                    frame[1] = 0;
                    frame[2] = 1;
                    frame[3] = (uint8_t)(w->last_cmd_len > 238 ? 238 : w->last_cmd_len);
                    if (w->last_cmd_len <= 238) {
                        memcpy(frame + 4, w->last_cmd, w->last_cmd_len);
                        mls_header h;
                        assert_int_equal(mls_header_parse(w->last_cmd, w->last_cmd_len, &h), MLS_OK);
                        assert_int_equal(se_mls_push(after, frame, 4 + w->last_cmd_len), SE_OK);
                        if (h.epoch == before.mls_epoch && h.counter <= before.mls_down_counter)
                            assert_memory_equal(&after->st, &before, sizeof(before));
                    }
                }
            }
        }
        test_free(after);
        lw_session_keys_11_release(lw_crypto_software(), &w->keys);
        mls_session_end(&w->idm);
        test_free(nvm);
    }
    test_free(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whole_life),
        cmocka_unit_test(test_bit_flips_of_a_command_change_nothing),
        cmocka_unit_test(test_new_command_abandons_a_reply_being_built),
        cmocka_unit_test(test_answer_in_place_of_the_ack),
        cmocka_unit_test(test_power_cut_at_every_write),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

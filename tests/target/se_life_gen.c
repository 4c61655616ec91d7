/*
 * se_life_gen.c - runs the element's whole life on the host and writes it
 * down as a transcript (a C header) for the test firmware to replay on the
 * emulated Cortex-M (se_life_target.c).
 *
 * The host plays everything around the element: the factory, the
 * high-security area that personalises it, the Join Server, the network
 * server and the Identity Manager, whose MLS commands it seals, fragments
 * and carries in downlinks on FPort 200, and whose answers it reassembles
 * and opens. Every answer of the host's element is checked here (MICs,
 * sealed responses, results); the firmware then has to give the same
 * bytes, APDU for APDU, from the compact AES and a Cortex-M0+ build.
 *
 * Usage: se_life_gen OUT.h   (exit status 0 when the life checked out)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lorawan/lorawan.h"
#include "mls/mls.h"
#include "mls/mls_cmd.h"
#include "mls/mls_frag.h"
#include "se/se_apdu.h"
#include "sehost/se_client.h"
#include "target_flash.h"

#define DEV_EUI 0x0004A30B001C0530ull
#define JOIN_EUI 0x70B3D57ED0000001ull
#define DEV_ADDR 0x26011234u
#define FRAME_MAX 51
#define MAX_STEPS 400
#define MAX_BYTES 60000

/* The test's keys: 16 bytes counting up from a tag; tags differ in their
 * high nibble, so every key is different. */
enum { NWK_KEY = 0x10, APP_KEY = 0x30, MLS_KEY = 0x50, TRANSPORT = 0x70, CUST_NWK = 0xC0 };

static const uint8_t *key_bytes(uint8_t tag)
{
    static uint8_t keys[16][16];
    uint8_t *k = keys[tag >> 4];
    for (int j = 0; j < 16; j++)
        k[j] = (uint8_t)(tag + j);
    return k;
}

/* Step kinds, as the firmware reads them. */
#define STEP_MANUFACTURE 'M'
#define STEP_BOOT 'B'
#define STEP_APDU 'A'

typedef struct step {
    char kind;
    char name[40];
    size_t cmd_off, cmd_len, resp_off, resp_len;
} step;

/* The recorder: an se_client transport that runs the host's element and
 * writes down every command and response. */
typedef struct world {
    se element;
    target_flash flash;
    se_client client;
    step steps[MAX_STEPS];
    size_t n_steps;
    uint8_t bytes[MAX_BYTES];
    size_t n_bytes;
    const char *label;
    const lw_crypto *c;
    lw_session_keys_11 keys;
    uint32_t afcnt_down;
    mls_session idm;
} world;

static void die(const char *what)
{
    fprintf(stderr, "se_life_gen: %s\n", what);
    exit(1);
}

static size_t keep(world *w, const uint8_t *p, size_t n)
{
    if (w->n_bytes + n > MAX_BYTES)
        die("transcript too long");
    memcpy(w->bytes + w->n_bytes, p, n);
    w->n_bytes += n;
    return w->n_bytes - n;
}

static step *add_step(world *w, char kind, const char *name)
{
    if (w->n_steps == MAX_STEPS)
        die("too many steps");
    step *s = &w->steps[w->n_steps++];
    memset(s, 0, sizeof(*s));
    s->kind = kind;
    snprintf(s->name, sizeof(s->name), "%s", name);
    return s;
}

static se_status record(void *ctx, const uint8_t *cmd, size_t len, uint8_t *resp, size_t cap, size_t *resp_len)
{
    world *w = ctx;
    (void)se_apdu_process(&w->element, cmd, len, resp, cap, resp_len);
    step *s = add_step(w, STEP_APDU, w->label);
    s->cmd_off = keep(w, cmd, len);
    s->cmd_len = len;
    s->resp_off = keep(w, resp, *resp_len);
    s->resp_len = *resp_len;
    return SE_OK;
}

static void no_close(void *ctx)
{
    (void)ctx;
}

static const se_transport_class recorder = {.transmit = record, .close = no_close};

static void expect(world *w, se_status st, const char *what)
{
    (void)w;
    if (st != SE_OK) {
        fprintf(stderr, "se_life_gen: %s: %s\n", what, se_strerror(st));
        exit(1);
    }
}

static void wrap(uint8_t kek_tag, uint8_t key_tag, uint8_t out[24])
{
    lw_key kek, key;
    if (lw_key_from_bytes(&kek, key_bytes(kek_tag), 16) != LW_OK ||
        lw_key_from_bytes(&key, key_bytes(key_tag), 16) != LW_OK ||
        lw_key_wrap(lw_crypto_software(), &kek, &key, out, 24) != LW_OK)
        die("wrap");
}

static void boot(world *w)
{
    se_nvm nvm = target_flash_bind(&w->flash);
    expect(w, se_boot(&w->element, &nvm, w->c), "boot");
    add_step(w, STEP_BOOT, "power cycle: boot from NVM");
}

/* The Join Server's side of a 1.1 join: check the request, answer it, and
 * keep the session keys the network uses. */
static void join(world *w, uint32_t join_nonce)
{
    uint8_t jr[23], plain[33], wire[33], mic[4];
    w->label = "join-request";
    expect(w, se_client_join_request(&w->client, jr), "join-request");
    lw_key nwk, app;
    lw_frame f;
    if (lw_key_from_bytes(&nwk, key_bytes(NWK_KEY), 16) != LW_OK ||
        lw_key_from_bytes(&app, key_bytes(APP_KEY), 16) != LW_OK ||
        lw_frame_decode(jr, 23, &f) != LW_OK || lw_mic_join_request(w->c, &nwk, jr, 19, mic) != LW_OK ||
        !lw_mic_equal(mic, f.mic))
        die("join-request does not verify");
    lw_join_accept ja = {.join_nonce = join_nonce, .net_id = 0x13, .dev_addr = DEV_ADDR,
                         .dl_settings = LW_DL_OPTNEG, .rx_delay = 1};
    size_t n = 0;
    lw_js_keys js;
    if (lw_join_accept_build(&ja, plain, sizeof(plain), &n) != LW_OK ||
        lw_derive_js_keys(w->c, &nwk, DEV_EUI, &js) != LW_OK ||
        lw_mic_join_accept_11(w->c, &js.js_int_key, 0xFF, JOIN_EUI, f.u.join_request.dev_nonce, plain, n,
                              plain + n) != LW_OK ||
        lw_derive_session_keys_11(w->c, &nwk, &app, join_nonce, JOIN_EUI, f.u.join_request.dev_nonce, &w->keys) !=
            LW_OK ||
        lw_join_accept_encrypt(w->c, &nwk, plain, n + 4, wire, sizeof(wire)) != LW_OK)
        die("join-accept");
    se_join_result r;
    w->label = "join-accept (1.1, OptNeg)";
    expect(w, se_client_join_accept(&w->client, wire, n + 4, &r), "join-accept");
    if (r.dev_addr != DEV_ADDR || r.mac_version != SE_MAC_1_1)
        die("join-accept result");
    w->afcnt_down = 0;
}

static void uplink(world *w, const char *label, bool confirmed, const uint8_t *fopts, uint8_t fopts_len)
{
    static const uint8_t text[] = "temperature=21.5";
    se_uplink up = {.confirmed = confirmed, .fopts = fopts, .fopts_len = fopts_len, .has_fport = true, .fport = 2,
                    .payload = text, .payload_len = sizeof(text) - 1, .tx_dr = 5, .tx_ch = 1};
    uint8_t frame[LW_PHY_MAX], mic[4];
    size_t n = 0;
    w->label = label;
    expect(w, se_client_protect_uplink(&w->client, &up, frame, sizeof(frame), &n), label);
    lw_frame f;
    se_info info;
    if (lw_frame_decode(frame, n, &f) != LW_OK)
        die("uplink does not parse");
    w->label = "get-info";
    expect(w, se_client_get_info(&w->client, &info), "get-info");
    lw_data_mic_params mp = {.dev_addr = DEV_ADDR, .fcnt = info.fcnt_up - 1, .tx_dr = 5, .tx_ch = 1};
    if (lw_mic_data_up_11(w->c, &w->keys.s_nwk_s_int_key, &w->keys.f_nwk_s_int_key, &mp, frame, n - 4, mic) !=
            LW_OK ||
        !lw_mic_equal(mic, f.mic))
        die("uplink MIC");
}

/* The network server's downlink on `fport` (application counter). */
static void downlink(world *w, const char *label, uint8_t fport, const uint8_t *payload, size_t len, se_downlink *dl)
{
    uint8_t enc[LW_PHY_MAX], frame[LW_PHY_MAX], mic[4], out[LW_PHY_MAX];
    size_t dn = 0;
    uint32_t fcnt = w->afcnt_down++;
    lw_frame d = {.mtype = LW_MTYPE_UNCONFIRMED_DATA_DOWN};
    d.u.data.dev_addr = DEV_ADDR;
    d.u.data.fcnt = (uint16_t)fcnt;
    d.u.data.has_fport = true;
    d.u.data.fport = fport;
    d.u.data.frm_payload = enc;
    d.u.data.frm_payload_len = len;
    lw_data_mic_params mp = {.dev_addr = DEV_ADDR, .fcnt = fcnt};
    if (lw_frm_payload_crypt(w->c, &w->keys.app_s_key, false, DEV_ADDR, fcnt, payload, len, enc) != LW_OK ||
        lw_frame_encode(&d, frame, sizeof(frame), &dn) != LW_OK ||
        lw_mic_data_down_11(w->c, &w->keys.s_nwk_s_int_key, &mp, frame, dn - 4, mic) != LW_OK ||
        lw_frame_set_mic(frame, dn, mic) != LW_OK)
        die("downlink");
    w->label = label;
    expect(w, se_client_unprotect_downlink(&w->client, frame, dn, out, sizeof(out), dl), label);
}

/* The Identity Manager sends one command and reads its sealed answer. */
static void idm_command(world *w, const char *name, const mls_cmd *cmd, mls_rsp *rsp)
{
    uint8_t body[MLS_BODY_MAX], msg[MLS_MSG_MAX], frag[FRAME_MAX];
    size_t blen = 0, mlen = 0, fl = 0;
    static uint8_t msg_id = 1;
    static mls_frag_tx tx;
    static mls_frag_rx rx;
    char label[40];
    if (mls_cmd_encode(cmd, body, sizeof(body), &blen) != MLS_OK ||
        mls_seal(&w->idm, cmd->type, body, blen, msg, sizeof(msg), &mlen) != MLS_OK ||
        mls_frag_tx_start(&tx, msg_id++, msg, mlen, FRAME_MAX, 0, 3600) != MLS_OK)
        die("idm seal");
    se_downlink dl;
    for (unsigned i = 0; mls_frag_tx_next(&tx, FRAME_MAX, frag, &fl) == MLS_OK && fl > 0; i++) {
        snprintf(label, sizeof(label), "mls %s: downlink %u", name, i + 1);
        downlink(w, label, SE_MLS_FPORT, frag, fl, &dl);
        if (!dl.mls)
            die("the element did not take the MLS fragment");
    }
    if (cmd->type == MLS_T_SECURE) {
        /* The application reads the command and answers it. */
        uint8_t got[MLS_SECURE_MAX], reply[100];
        size_t glen = 0;
        w->label = "secure command: read";
        expect(w, se_client_secure_command(&w->client, got, sizeof(got), &glen), "secure get");
        if (glen != cmd->u.secure.len || memcmp(got, cmd->u.secure.data, glen) != 0)
            die("secure command bytes");
        for (size_t i = 0; i < sizeof(reply); i++)
            reply[i] = (uint8_t)(0xF0 ^ i);
        w->label = "secure command: reply";
        expect(w, se_client_secure_reply(&w->client, true, reply, sizeof(reply)), "secure reply");
    }
    /* The answer leaves on MLS uplinks: first the ack, then fragments. */
    mls_frag_rx_init(&rx, 3600);
    int complete = 0;
    for (int i = 0; i < 40 && !complete; i++) {
        snprintf(label, sizeof(label), "mls %s: uplink %d", name, i + 1);
        w->label = label;
        expect(w, se_client_mls_uplink(&w->client, FRAME_MAX, frag, &fl), "mls uplink");
        if (fl > 0 && !(frag[0] & MLS_FRAG_ACK_BIT) && mls_frag_rx_push(&rx, frag, fl, 0, &complete) != MLS_OK)
            die("response fragment");
    }
    uint8_t ack[FRAME_MAX];
    size_t alen = 0;
    mls_header h;
    if (!complete || mls_frag_rx_take(&rx, msg, sizeof(msg), &mlen) != MLS_OK ||
        mls_open(&w->idm, msg, mlen, &h, body, sizeof(body), &blen) != MLS_OK ||
        mls_accept_counter(&w->idm, h.counter) != MLS_OK || mls_rsp_decode(h.type, body, blen, rsp) != MLS_OK ||
        mls_frag_rx_ack(&rx, FRAME_MAX, ack, &alen) != MLS_OK)
        die("the sealed response does not open");
    snprintf(label, sizeof(label), "mls %s: ack of the response", name);
    downlink(w, label, SE_MLS_FPORT, ack, alen, &dl);
}

/* One raw APDU through the recorder; SE_OK expected. */
static size_t raw(world *w, const char *label, uint8_t ins, uint8_t p1, uint8_t p2, const uint8_t *data, size_t lc,
                  uint8_t *out, size_t cap)
{
    uint8_t cmd[SE_APDU_BUFFER];
    size_t len = 0, n = 0;
    cmd[len++] = SE_CLA;
    cmd[len++] = ins;
    cmd[len++] = p1;
    cmd[len++] = p2;
    if (lc > 0) {
        cmd[len++] = (uint8_t)lc;
        memcpy(cmd + len, data, lc);
        len += lc;
    }
    cmd[len++] = 0;
    w->label = label;
    expect(w, se_client_transmit(&w->client, cmd, len, out, cap, &n), label);
    return n;
}

/* LoRaMac-node's way through the element (ports/loramac-node/ferry-se): the
 * stack builds the frames and blocks, the element MICs and ciphers them
 * (docs/se-commands.md, "Commands for LoRaMac-node"). */
static void lmn_life(world *w)
{
    se_info info;
    w->label = "get-info";
    expect(w, se_client_get_info(&w->client, &info), "get-info");
    uint8_t jr[19], r[64], plain[33], wire[33];
    jr[0] = 0x00;
    lw_put_le(jr + 1, JOIN_EUI, 8);
    lw_put_le(jr + 9, DEV_EUI, 8);
    uint16_t dev_nonce = (uint16_t)(info.next_dev_nonce + 2);   /* the stack's DevNonce, ahead of the element's */
    lw_put_le(jr + 17, dev_nonce, 2);
    if (raw(w, "lmn: join-request MIC for the host's frame", SE_INS_JOIN_REQUEST, SE_P_HOST_FRAME, 0, jr, 19, r,
            sizeof(r)) != 4)
        die("lmn join-request");
    lw_key nwk, app;
    lw_js_keys js;
    lw_join_accept ja = {.join_nonce = 9, .net_id = 0x13, .dev_addr = DEV_ADDR, .dl_settings = LW_DL_OPTNEG,
                         .rx_delay = 1};
    size_t n = 0;
    if (lw_key_from_bytes(&nwk, key_bytes(NWK_KEY), 16) != LW_OK ||
        lw_key_from_bytes(&app, key_bytes(APP_KEY), 16) != LW_OK ||
        lw_join_accept_build(&ja, plain, sizeof(plain), &n) != LW_OK ||
        lw_derive_js_keys(w->c, &nwk, DEV_EUI, &js) != LW_OK ||
        lw_mic_join_accept_11(w->c, &js.js_int_key, 0xFF, JOIN_EUI, dev_nonce, plain, n, plain + n) != LW_OK ||
        lw_join_accept_encrypt(w->c, &nwk, plain, n + 4, wire, sizeof(wire)) != LW_OK)
        die("lmn join-accept");
    lw_js_keys_release(w->c, &js);
    if (raw(w, "lmn: join-accept, decrypted frame back", SE_INS_JOIN_ACCEPT, SE_P_HOST_FRAME, 0, wire, n + 4, r,
            sizeof(r)) != n + 4 ||
        memcmp(r, plain, n + 4) != 0)
        die("lmn join-accept frame");
    uint8_t d[13 + 40];
    memset(d, 0, sizeof(d));
    lw_put_le(d + 5, DEV_ADDR, 4);
    lw_put_le(d + 9, 1, 4);
    raw(w, "lmn: keyed cmac (FNwkSIntKey, B0)", SE_INS_KEYED_CMAC, SE_KEY_F_NWK_S_INT, 0, d, sizeof(d), r, sizeof(r));
    d[4] = 1;
    raw(w, "lmn: key stream (AppSKey)", SE_INS_KEY_STREAM, SE_KEY_APP_S, 1, d, 13, r, sizeof(r));
    uint8_t mc[20] = {0};
    lw_put_be(mc + 16, 0x01FF0042, 4);
    raw(w, "lmn: multicast setup", SE_INS_MC_SETUP, 0, 0x20, mc, sizeof(mc), r, sizeof(r));
    lw_put_le(d + 5, 0x01FF0042, 4);
    raw(w, "lmn: keyed cmac (McNwkSKey)", SE_INS_KEYED_CMAC, SE_KEY_MC_NWK_S | 0, 0, d, sizeof(d), r, sizeof(r));
    uint8_t rj0[15] = {0xC0, 0x00};
    lw_put_le(rj0 + 2, 0x13, 3);
    lw_put_le(rj0 + 5, DEV_EUI, 8);
    lw_put_le(rj0 + 13, 1, 2);
    raw(w, "lmn: rejoin type 0 MIC for the host's frame", SE_INS_REJOIN_REQUEST, 0, SE_P_HOST_FRAME, rj0, 15, r,
        sizeof(r));
    static const uint8_t junk[12] = {0x01, 0x02, 0x03};
    raw(w, "lmn: mls downlink", SE_INS_MLS_DOWNLINK, 0, 0, junk, sizeof(junk), r, sizeof(r));
    lw_key_wipe(&nwk);
    lw_key_wipe(&app);
}

static void write_header(const world *w, const char *path)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        die("cannot write the transcript");
    fprintf(f, "/* Generated by tests/target/se_life_gen.c: do not edit. */\n");
    fprintf(f, "static const uint8_t life_transport_key[16] = {");
    for (int i = 0; i < 16; i++)
        fprintf(f, "%s0x%02x", i ? ", " : "", key_bytes(TRANSPORT)[i]);
    fprintf(f, "};\nstatic const uint8_t life_bytes[%zu] = {", w->n_bytes);
    for (size_t i = 0; i < w->n_bytes; i++)
        fprintf(f, "%s0x%02x", i == 0 ? "\n    " : i % 16 ? ", " : ",\n    ", w->bytes[i]);
    fprintf(f, "\n};\nstatic const life_step life_steps[%zu] = {\n", w->n_steps);
    for (size_t i = 0; i < w->n_steps; i++) {
        const step *s = &w->steps[i];
        fprintf(f, "    {'%c', \"%s\", %zu, %zu, %zu, %zu},\n", s->kind, s->name, s->cmd_off, s->cmd_len,
                s->resp_off, s->resp_len);
    }
    fprintf(f, "};\n");
    if (fclose(f) != 0)
        die("cannot write the transcript");
}

int main(int argc, char **argv)
{
    if (argc != 2)
        die("usage: se_life_gen OUT.h");
    static world w;
    w.c = lw_crypto_software();
    w.client.cls = &recorder;
    w.client.ctx = &w;

    se_nvm nvm = target_flash_bind(&w.flash);
    expect(&w, se_manufacture(&w.element, &nvm, w.c, key_bytes(TRANSPORT)), "manufacture");
    add_step(&w, STEP_MANUFACTURE, "manufacture");
    se_personalisation p = {.dev_eui = DEV_EUI, .serial = 7, .join_eui = JOIN_EUI, .mac_version = SE_MAC_1_1};
    wrap(TRANSPORT, NWK_KEY, p.nwk_key_wrapped);
    wrap(TRANSPORT, APP_KEY, p.app_key_wrapped);
    wrap(TRANSPORT, MLS_KEY, p.mls_key_wrapped);
    w.label = "personalise (1.1)";
    expect(&w, se_client_personalise(&w.client, &p), "personalise");
    w.label = "set time";
    expect(&w, se_client_set_time(&w.client, 1000), "set time");

    join(&w, 1);
    static const uint8_t fopts[3] = {0x02, 0x03, 0x06};
    uplink(&w, "uplink 1", false, NULL, 0);
    uplink(&w, "uplink 2 (confirmed, FOpts)", true, fopts, sizeof(fopts));
    boot(&w);
    uplink(&w, "uplink 3 after reboot", false, NULL, 0);
    uint8_t rj[LW_REJOIN_1_LEN];
    size_t rjl = 0;
    w.label = "rejoin-request type 1";
    expect(&w, se_client_rejoin_request(&w.client, LW_REJOIN_TYPE_1, rj, sizeof(rj), &rjl), "rejoin");
    w.label = "rejoin-request type 0";
    expect(&w, se_client_rejoin_request(&w.client, LW_REJOIN_TYPE_0, rj, sizeof(rj), &rjl), "rejoin");
    se_downlink dl;
    static const uint8_t app_cmd[4] = {0xAB, 0xCD, 0xEF, 0x01};
    downlink(&w, "application downlink", 9, app_cmd, sizeof(app_cmd), &dl);
    if (dl.payload_len != sizeof(app_cmd) || memcmp(dl.payload, app_cmd, sizeof(app_cmd)) != 0)
        die("application downlink payload");

    lw_key root;
    if (lw_key_from_bytes(&root, key_bytes(MLS_KEY), 16) != LW_OK ||
        mls_session_init(&w.idm, w.c, MLS_ROLE_SERVER, &root, DEV_EUI, 0, 1, 0) != MLS_OK)
        die("idm session");
    static mls_cmd cmd;
    static mls_rsp rsp;
    cmd.type = MLS_T_STATUS;
    idm_command(&w, "status", &cmd, &rsp);
    if (rsp.result != MLS_R_OK || rsp.u.status.state != 0)
        die("status response");

    memset(&cmd, 0, sizeof(cmd));
    cmd.type = MLS_T_INSTALL;
    cmd.u.install = (mls_profile_install){.profile_id = 77, .join_eui = 0x0011223344556677ull, .dev_eui = DEV_EUI,
                                          .mac_version = MLS_MAC_1_0_4, .max_join_attempts = 5};
    lw_key cust;
    if (lw_key_from_bytes(&cust, key_bytes(CUST_NWK), 16) != LW_OK ||
        mls_wrap_key(&w.idm, &cust, cmd.u.install.nwk_key_wrapped, MLS_WRAPPED_LEN) != MLS_OK)
        die("wrap customer key");
    idm_command(&w, "install", &cmd, &rsp);
    if (rsp.result != MLS_R_OK)
        die("install response");

    memset(&cmd, 0, sizeof(cmd));
    cmd.type = MLS_T_SECURE;
    static uint8_t secure_bytes[120];
    for (int i = 0; i < 120; i++)
        secure_bytes[i] = (uint8_t)(i * 7);
    cmd.u.secure.len = sizeof(secure_bytes);
    cmd.u.secure.data = secure_bytes;
    idm_command(&w, "secure", &cmd, &rsp);
    if (rsp.result != MLS_R_OK || rsp.u.secure.len != 100)
        die("secure response");

    uplink(&w, "uplink 4", false, NULL, 0);
    boot(&w);
    se_info info;
    w.label = "get-info after reboot";
    expect(&w, se_client_get_info(&w.client, &info), "get-info");
    if (info.staged_slot == SE_NO_SLOT)
        die("the installed profile is not staged");

    lmn_life(&w);
    mls_session_end(&w.idm);
    lw_session_keys_11_release(w.c, &w.keys);
    write_header(&w, argv[1]);
    printf("se_life_gen: %zu steps, %zu bytes of APDUs\n", w.n_steps, w.n_bytes);
    return 0;
}

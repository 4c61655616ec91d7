/*
 * test_se_apdu.c - the secure element through its APDU interface: the host
 * client in-process and over the emulator's Unix socket, malformed
 * commands, and a scan of every response for key material.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lorawan/lorawan.h"
#include "se/se_apdu.h"
#include "sehost/se_client.h"
#include "sehost/se_nvm_file.h"
#include "se_test_env.h"
#include "mls/mls.h"
#include "mls/mls_cmd.h"
#include "mls/mls_frag.h"

static const uint8_t TRANSPORT[16] = {0x70, 0x71, 0x72, 0x73, 0x74, 0x75, 0x76, 0x77,
                                      0x78, 0x79, 0x7a, 0x7b, 0x7c, 0x7d, 0x7e, 0x7f};
static const uint8_t NWK_KEY[16] = {0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6,
                                    0xab, 0xf7, 0x15, 0x88, 0x09, 0xcf, 0x4f, 0x3c};
static const uint8_t APP_KEY[16] = {0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18,
                                    0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x20};
static const uint8_t MLS_KEY[16] = {0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28,
                                    0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f, 0x30};

/* Every secret of the test, to look for in responses. */
typedef struct secrets {
    uint8_t keys[16][16];
    unsigned n;
} secrets;

static void remember(secrets *s, const uint8_t k[16])
{
    memcpy(s->keys[s->n++], k, 16);
}

/* No 4-byte window of any secret appears in `buf`: a key leaked even in
 * part would be found. */
static void assert_no_secret(const secrets *s, const uint8_t *buf, size_t len)
{
    for (unsigned k = 0; k < s->n; k++) {
        for (size_t off = 0; off + 4 <= 16; off++) {
            for (size_t i = 0; i + 4 <= len; i++)
                assert_false(memcmp(buf + i, s->keys[k] + off, 4) == 0);
        }
    }
}

static void wrap(const uint8_t kek_bytes[16], const uint8_t key_bytes[16], uint8_t out[24])
{
    assert_int_equal(se_test_wrap(kek_bytes, key_bytes, out), LW_OK);
}

static void personalise(se_client *c)
{
    se_personalisation p = {.dev_eui = 0x0004A30B001C0530ull, .serial = 0x5E00000000000001ull,
                            .join_eui = 0x70B3D57ED0000001ull, .mac_version = SE_MAC_1_0_4};
    wrap(TRANSPORT, NWK_KEY, p.nwk_key_wrapped);
    wrap(TRANSPORT, APP_KEY, p.app_key_wrapped);
    wrap(TRANSPORT, MLS_KEY, p.mls_key_wrapped);
    assert_int_equal(se_client_personalise(c, &p), SE_OK);
}

/* A whole 1.0.4 life through a client, every response scanned. */
static void run_life(se_client *c)
{
    const lw_crypto *cr = lw_crypto_software();
    secrets s = {.n = 0};
    remember(&s, TRANSPORT);
    remember(&s, NWK_KEY);
    remember(&s, APP_KEY);
    remember(&s, MLS_KEY);

    personalise(c);
    se_info info;
    assert_int_equal(se_client_get_info(c, &info), SE_OK);
    assert_true(info.dev_eui == 0x0004A30B001C0530ull);
    assert_int_equal(info.lifecycle, SE_LIFECYCLE_OPERATIONAL);
    assert_int_equal(info.mac_version, SE_MAC_1_0_4);

    uint8_t jr[23];
    assert_int_equal(se_client_join_request(c, jr), SE_OK);
    assert_no_secret(&s, jr, sizeof(jr));
    lw_key nwk;
    assert_int_equal(lw_key_from_bytes(&nwk, NWK_KEY, 16), LW_OK);
    lw_frame f;
    assert_int_equal(lw_frame_decode(jr, 23, &f), LW_OK);
    uint8_t mic[4];
    assert_int_equal(lw_mic_join_request(cr, &nwk, jr, 19, mic), LW_OK);
    assert_true(lw_mic_equal(mic, f.mic));

    lw_join_accept ja = {.join_nonce = 1, .net_id = 0x13, .dev_addr = 0x26012345, .dl_settings = 0x03,
                         .rx_delay = 1, .has_cflist = true};
    for (int i = 0; i < 16; i++)
        ja.cflist[i] = (uint8_t)i;
    uint8_t plain[33], wire[33];
    size_t n = 0;
    assert_int_equal(lw_join_accept_build(&ja, plain, sizeof(plain), &n), LW_OK);
    assert_int_equal(lw_mic_join_accept_10(cr, &nwk, plain, n, plain + n), LW_OK);
    assert_int_equal(lw_join_accept_encrypt(cr, &nwk, plain, n + 4, wire, sizeof(wire)), LW_OK);
    se_join_result r;
    assert_int_equal(se_client_join_accept(c, wire, n + 4, &r), SE_OK);
    assert_int_equal(r.dev_addr, 0x26012345);
    assert_true(r.has_cflist);
    assert_memory_equal(r.cflist, ja.cflist, 16);
    /* The same accept again: its JoinNonce is spent. */
    assert_int_equal(se_client_join_accept(c, wire, n + 4, &r), SE_ERR_STATE);

    lw_session_keys_10 k;
    assert_int_equal(lw_derive_session_keys_10(cr, &nwk, 1, 0x13, f.u.join_request.dev_nonce, &k), LW_OK);
    remember(&s, k.nwk_s_key.material);
    remember(&s, k.app_s_key.material);

    static const uint8_t text[] = "temperature=21.5";
    se_uplink up = {.has_fport = true, .fport = 2, .payload = text, .payload_len = sizeof(text) - 1};
    uint8_t frame[255];
    size_t fl = 0;
    assert_int_equal(se_client_protect_uplink(c, &up, frame, sizeof(frame), &fl), SE_OK);
    assert_no_secret(&s, frame, fl);
    assert_int_equal(lw_frame_decode(frame, fl, &f), LW_OK);
    lw_data_mic_params mp = {.dev_addr = 0x26012345, .fcnt = 0};
    assert_int_equal(lw_mic_data_10(cr, &k.nwk_s_key, &mp, frame, fl - 4, mic), LW_OK);
    assert_true(lw_mic_equal(mic, f.mic));

    /* Downlink through the client. */
    static const uint8_t cmd[2] = {0xAB, 0xCD};
    uint8_t enc[2], down[32], out[64];
    assert_int_equal(lw_frm_payload_crypt(cr, &k.app_s_key, false, 0x26012345, 0, cmd, 2, enc), LW_OK);
    lw_frame d = {.mtype = LW_MTYPE_CONFIRMED_DATA_DOWN};
    d.u.data.dev_addr = 0x26012345;
    d.u.data.has_fport = true;
    d.u.data.fport = 9;
    d.u.data.frm_payload = enc;
    d.u.data.frm_payload_len = 2;
    size_t dn = 0;
    assert_int_equal(lw_frame_encode(&d, down, sizeof(down), &dn), LW_OK);
    assert_int_equal(lw_mic_data_10(cr, &k.nwk_s_key, &mp, down, dn - 4, mic), LW_OK);
    assert_int_equal(lw_frame_set_mic(down, dn, mic), LW_OK);
    se_downlink dl;
    assert_int_equal(se_client_unprotect_downlink(c, down, dn, out, sizeof(out), &dl), SE_OK);
    assert_true(dl.confirmed);
    assert_int_equal(dl.fport, 9);
    assert_memory_equal(dl.payload, cmd, 2);

    assert_int_equal(se_client_get_info(c, &info), SE_OK);
    /* FCntUp resumes above the block the flash reserved: a gap, never a reuse. */
    assert_true(info.fcnt_up >= 1 && info.fcnt_up <= 1 + SE_STORE_FCNT_UP_BLOCK);
    assert_int_equal(info.nfcnt_down, 1);
    assert_int_equal(info.next_dev_nonce, 1);
    uint8_t raw[SE_INFO_LEN + 8];
    size_t rn = 0;
    static const uint8_t get_info[5] = {SE_CLA, SE_INS_GET_INFO, 0, 0, 0};
    assert_int_equal(se_client_transmit(c, get_info, 5, raw, sizeof(raw), &rn), SE_OK);
    assert_no_secret(&s, raw, rn);
    lw_session_keys_10_release(cr, &k);
}


/* A transport that hands the element one buffer for the command and its
 * answer, as a smart card's I/O buffer (se_apdu_process with resp == cmd). */
static se_status one_buffer_transmit(void *ctx, const uint8_t *cmd, size_t len, uint8_t *resp, size_t cap,
                                     size_t *resp_len)
{
    se *e = ((se_client *)ctx)->local;
    uint8_t apdu[SE_APDU_BUFFER];
    assert_true(len <= sizeof(apdu));
    memcpy(apdu, cmd, len);
    (void)se_apdu_process(e, apdu, len, apdu, sizeof(apdu), resp_len);
    assert_true(*resp_len <= cap);
    memcpy(resp, apdu, *resp_len);
    return SE_OK;
}

static void no_close(void *ctx)
{
    (void)ctx;
}

static const se_transport_class one_buffer_class = {.transmit = one_buffer_transmit, .close = no_close};


/* A whole life in process: through se_apdu_process with separate command
 * and answer buffers, or, with `one_buffer`, through the transport above. */
static void life_in_process(bool one_buffer)
{
    ram_nvm nvm = {0};
    se_nvm v = ram_nvm_bind(&nvm);
    se e;
    assert_int_equal(se_manufacture(&e, &v, lw_crypto_software(), TRANSPORT), SE_OK);
    se_client c;
    se_client_open_local(&c, &e);
    if (one_buffer)
        c.cls = &one_buffer_class;   /* ctx: the client, whose `local` is e */
    run_life(&c);
    se_client_close(&c);
}

static void test_life_in_process(void **state)
{
    (void)state;
    life_in_process(false);
}

/* The same life when every answer is written over its own command. */
static void test_life_in_one_apdu_buffer(void **state)
{
    (void)state;
    life_in_process(true);
}

static void test_malformed_apdus_change_nothing(void **state)
{
    (void)state;
    ram_nvm nvm = {0};
    se_nvm v = ram_nvm_bind(&nvm);
    se e;
    assert_int_equal(se_manufacture(&e, &v, lw_crypto_software(), TRANSPORT), SE_OK);
    se_client c;
    se_client_open_local(&c, &e);
    personalise(&c);
    unsigned writes = nvm.writes;
    struct {
        uint8_t bytes[12];
        size_t len;
        uint16_t sw;
    } cases[] = {
        {{0x80}, 1, 0x6700},                                   /* shorter than a header */
        {{0x00, SE_INS_GET_INFO, 0, 0}, 4, 0x6E00},            /* wrong class */
        {{0x80, 0x99, 0, 0}, 4, 0x6D00},                       /* unknown instruction */
        {{0x80, SE_INS_JOIN_ACCEPT, 0, 0, 5, 1, 2}, 7, 0x6700}, /* Lc says 5, 2 follow */
        {{0x80, SE_INS_JOIN_ACCEPT, 0, 0, 3, 0x20, 1, 2}, 8, 0x6985}, /* no join outstanding */
        {{0x80, SE_INS_PERSONALISE, 0, 0, 1, 0}, 6, 0x6700},
        {{0x80, SE_INS_PROTECT_UPLINK, 0, 0, 2, 0, 0}, 7, 0x6700},
        {{0x80, SE_INS_UNPROTECT_DOWNLINK, 0, 0, 2, 0x60, 0}, 7, 0x6986}, /* not joined */
        {{0x80, SE_INS_REJOIN_REQUEST, 0, 0}, 4, 0x6986},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint8_t resp[SE_APDU_MAX_RESPONSE];
        size_t n = 0;
        (void)se_apdu_process(&e, cases[i].bytes, cases[i].len, resp, sizeof(resp), &n);
        assert_int_equal(n, 2);
        assert_int_equal((resp[0] << 8) | resp[1], cases[i].sw);
    }
    assert_int_equal(nvm.writes, writes);
    se_client_close(&c);
}

typedef struct server_arg {
    se *e;
    const char *path;
    volatile int stop;
} server_arg;

static void *server_main(void *p)
{
    server_arg *a = p;
    (void)se_serve_socket(a->e, a->path, &a->stop);
    return NULL;
}

static void test_life_over_socket_and_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/ferry-se-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char image[64], sock[64];
    snprintf(image, sizeof(image), "%s/se.img", dir);
    snprintf(sock, sizeof(sock), "%s/se.sock", dir);

    se_nvm_file f;
    se_nvm v;
    assert_int_equal(se_nvm_file_open(&f, image, 1, &v), SE_OK);
    se e;
    assert_int_equal(se_manufacture(&e, &v, lw_crypto_software(), TRANSPORT), SE_OK);

    server_arg arg = {.e = &e, .path = sock, .stop = 0};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, server_main, &arg), 0);
    se_client c;
    se_status st = SE_ERR_NVM;
    for (int i = 0; i < 200 && st != SE_OK; i++) {
        st = se_client_open_socket(&c, sock);
        if (st != SE_OK)
            usleep(10000);
    }
    assert_int_equal(st, SE_OK);
    run_life(&c);
    arg.stop = 1;
    se_client_close(&c);   /* ends the connection; the loop sees stop */
    se_client cl;
    if (se_client_open_socket(&cl, sock) == SE_OK)
        se_client_close(&cl);   /* wakes accept() */
    pthread_join(t, NULL);
    se_nvm_file_close(&f);

    /* The image file alone brings the element back, counters and all. */
    assert_int_equal(se_nvm_file_open(&f, image, 0, &v), SE_OK);
    se_info info;
    assert_int_equal(se_info_after_boot(&v, &info), SE_OK);
    /* FCntUp resumes above the block the flash reserved: a gap, never a reuse. */
    assert_true(info.fcnt_up >= 1 && info.fcnt_up <= 1 + SE_STORE_FCNT_UP_BLOCK);
    assert_int_equal(info.next_dev_nonce, 1);
    assert_true(info.joined);
    se_nvm_file_close(&f);
    unlink(image);
    rmdir(dir);
}

/* A secure command of 600 bytes and a reply of 500, through the APDU
 * interface: MLS fragments in LoRaWAN downlinks on FPort 200, the command
 * read and answered in chunks, the sealed answer back in uplinks. */
static void test_secure_command_over_apdus(void **state)
{
    (void)state;
    const lw_crypto *cr = lw_crypto_software();
    ram_nvm nvm = {0};
    se_nvm v = ram_nvm_bind(&nvm);
    se *e = test_malloc(sizeof(se));
    assert_int_equal(se_manufacture(e, &v, cr, TRANSPORT), SE_OK);
    se_client c;
    se_client_open_local(&c, e);
    personalise(&c);
    assert_int_equal(se_client_set_time(&c, 1000), SE_OK);
    uint8_t none[64];
    size_t nn = 99;
    assert_int_equal(se_client_mls_uplink(&c, 51, none, &nn), SE_OK);
    assert_int_equal(nn, 0);   /* nothing to say yet */
    assert_int_equal(se_client_secure_command(&c, none, sizeof(none), &nn), SE_ERR_STATE);

    /* Join (1.0.4). */
    uint8_t jr[23];
    assert_int_equal(se_client_join_request(&c, jr), SE_OK);
    lw_key nwk;
    assert_int_equal(lw_key_from_bytes(&nwk, NWK_KEY, 16), LW_OK);
    lw_join_accept ja = {.join_nonce = 5, .net_id = 0x13, .dev_addr = 0x26000042};
    uint8_t plain[33], wire[33];
    size_t n = 0;
    assert_int_equal(lw_join_accept_build(&ja, plain, sizeof(plain), &n), LW_OK);
    assert_int_equal(lw_mic_join_accept_10(cr, &nwk, plain, n, plain + n), LW_OK);
    assert_int_equal(lw_join_accept_encrypt(cr, &nwk, plain, n + 4, wire, sizeof(wire)), LW_OK);
    se_join_result r;
    assert_int_equal(se_client_join_accept(&c, wire, n + 4, &r), SE_OK);
    lw_session_keys_10 k;
    assert_int_equal(lw_derive_session_keys_10(cr, &nwk, 5, 0x13, (uint16_t)lw_get_le(jr + 17, 2), &k), LW_OK);

    /* The IDM seals a 600-byte secure command. */
    mls_session idm;
    lw_key root;
    assert_int_equal(lw_key_from_bytes(&root, MLS_KEY, 16), LW_OK);
    assert_int_equal(mls_session_init(&idm, cr, MLS_ROLE_SERVER, &root, 0x0004A30B001C0530ull, 0, 1, 0), MLS_OK);
    mls_cmd *cmd = test_malloc(sizeof(mls_cmd));
    memset(cmd, 0, sizeof(*cmd));
    cmd->type = MLS_T_SECURE;
    static uint8_t secure_bytes[600];
    for (int i = 0; i < 600; i++)
        secure_bytes[i] = (uint8_t)(i * 7);
    cmd->u.secure.len = 600;
    cmd->u.secure.data = secure_bytes;
    uint8_t body[MLS_BODY_MAX], msg[MLS_MSG_MAX];
    size_t blen = 0, mlen = 0;
    assert_int_equal(mls_cmd_encode(cmd, body, sizeof(body), &blen), MLS_OK);
    assert_int_equal(mls_seal(&idm, MLS_T_SECURE, body, blen, msg, sizeof(msg), &mlen), MLS_OK);
    mls_frag_tx *tx = test_malloc(sizeof(mls_frag_tx));
    assert_int_equal(mls_frag_tx_start(tx, 3, msg, mlen, 51, 0, 100), MLS_OK);
    uint32_t fcnt = 0;
    se_downlink dl;
    while (!mls_frag_tx_done(tx)) {
        uint8_t frag[51], enc[51], frame[80], mic[4], out[80];
        size_t fl = 0, dn = 0;
        assert_int_equal(mls_frag_tx_next(tx, 51, frag, &fl), MLS_OK);
        if (fl == 0)
            break;
        assert_int_equal(lw_frm_payload_crypt(cr, &k.app_s_key, false, 0x26000042, fcnt, frag, fl, enc), LW_OK);
        lw_frame d = {.mtype = LW_MTYPE_UNCONFIRMED_DATA_DOWN};
        d.u.data.dev_addr = 0x26000042;
        d.u.data.fcnt = (uint16_t)fcnt;
        d.u.data.has_fport = true;
        d.u.data.fport = SE_MLS_FPORT;
        d.u.data.frm_payload = enc;
        d.u.data.frm_payload_len = fl;
        assert_int_equal(lw_frame_encode(&d, frame, sizeof(frame), &dn), LW_OK);
        lw_data_mic_params mp = {.dev_addr = 0x26000042, .fcnt = fcnt++};
        assert_int_equal(lw_mic_data_10(cr, &k.nwk_s_key, &mp, frame, dn - 4, mic), LW_OK);
        assert_int_equal(lw_frame_set_mic(frame, dn, mic), LW_OK);
        assert_int_equal(se_client_unprotect_downlink(&c, frame, dn, out, sizeof(out), &dl), SE_OK);
        assert_true(dl.mls);
        assert_int_equal(dl.payload_len, 0);
    }
    assert_true(dl.secure_pending);

    /* The application reads the command and answers in chunks. */
    uint8_t got[1024];
    size_t glen = 0;
    assert_int_equal(se_client_secure_command(&c, got, sizeof(got), &glen), SE_OK);
    assert_int_equal(glen, 600);
    assert_memory_equal(got, cmd->u.secure.data, 600);
    uint8_t reply[500];
    for (int i = 0; i < 500; i++)
        reply[i] = (uint8_t)(255 - i);
    assert_int_equal(se_client_secure_reply(&c, true, reply, sizeof(reply)), SE_OK);

    /* The answer leaves in uplinks on FPort 200 (read here from the MLS
     * uplink APDU directly) and opens at the IDM. */
    mls_frag_rx *rx = test_malloc(sizeof(mls_frag_rx));
    mls_frag_rx_init(rx, 100);
    int complete = 0;
    for (int i = 0; i < 40 && !complete; i++) {
        uint8_t frag[51];
        size_t fl = 0;
        assert_int_equal(se_client_mls_uplink(&c, 51, frag, &fl), SE_OK);
        if (fl > 0 && !(frag[0] & MLS_FRAG_ACK_BIT))
            assert_int_equal(mls_frag_rx_push(rx, frag, fl, 0, &complete), MLS_OK);
    }
    assert_true(complete);
    uint8_t in[MLS_MSG_MAX], rb[MLS_BODY_MAX];
    size_t inlen = 0, rblen = 0;
    mls_header h;
    assert_int_equal(mls_frag_rx_take(rx, in, sizeof(in), &inlen), MLS_OK);
    assert_int_equal(mls_open(&idm, in, inlen, &h, rb, sizeof(rb), &rblen), MLS_OK);
    mls_rsp *rsp = test_malloc(sizeof(mls_rsp));
    assert_int_equal(mls_rsp_decode(h.type, rb, rblen, rsp), MLS_OK);
    assert_int_equal(rsp->result, MLS_R_OK);
    assert_int_equal(rsp->u.secure.len, 500);
    assert_memory_equal(rsp->u.secure.data, reply, 500);
    test_free(rsp);
    test_free(rx);
    test_free(tx);
    test_free(cmd);
    mls_session_end(&idm);
    lw_session_keys_10_release(cr, &k);
    se_client_close(&c);
    test_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_life_in_process),
        cmocka_unit_test(test_life_in_one_apdu_buffer),
        cmocka_unit_test(test_malformed_apdus_change_nothing),
        cmocka_unit_test(test_life_over_socket_and_file),
        cmocka_unit_test(test_secure_command_over_apdus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_mls.c - MLS key schedule, sealing and opening.
 *
 * The fixed vectors below are the ones in docs/mls.md; they were generated
 * by this code and recomputed independently with Node's OpenSSL and a
 * separate CMAC (tests/mls/check_vectors.js) and with the openssl CLI. The
 * rest checks the receiver's rules one by one: every single-bit flip of a
 * sealed message is refused and leaves the session untouched, as are
 * replays, older counters, the wrong direction, DevEUI or epoch, and bad
 * lengths. A token-like backend, whose keys are only handles, must produce
 * the same bytes: the IDM's PKCS#11 path.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "mls/mls.h"
#include "mls/mls_cmd.h"
#include "lorawan/lw_secure.h"
#include "test_util.h"

#define ROOT_HEX   "2B7E151628AED2A6ABF7158809CF4F3C"
#define DEVEUI     0x70B3D57ED0000001ull
#define EPOCH      3
#define INSTALL_BODY_HEX                                             \
    "0001 70B3D57ED0001000 70B3D57ED0000042 01 00 0010 0048"         \
    "727C9B3BB8E82319D8643CF34139D53C09303C579BAE1B87"               \
    "DF3FF7B8DED5FEECB0F7DCCD3300F7E6D7510EC6AA51A683"
#define INSTALL_MSG_HEX                                                          \
    "01 00 03 00000005 02"                                                       \
    "2F134D568817568F3A6A0E1E6C538707FD8114986094CB6B76C6BA6C435B808EA751CA16DBDE50E0" \
    "209F8EA4465ED771C4ADDDDF2C2187D939864DFFAD61A4DE8BFD5FE650398392"            \
    "6616ADCED2EEB5EA"
#define RSP_MSG_HEX "01 01 03 00000009 82 8C092DA17A D37317C2E26172D3"

typedef struct pair {
    mls_session server;
    mls_session se;
} pair;

static void pair_init(pair *p, uint64_t se_deveui, uint8_t se_epoch)
{
    lw_key root;
    tu_key(&root, ROOT_HEX);
    assert_int_equal(mls_session_init(&p->server, lw_crypto_software(), MLS_ROLE_SERVER, &root, DEVEUI,
                                      EPOCH, 1, 0), MLS_OK);
    assert_int_equal(mls_session_init(&p->se, lw_crypto_software(), MLS_ROLE_SE, &root, se_deveui,
                                      se_epoch, 1, 0), MLS_OK);
    lw_key_wipe(&root);
}

static void pair_end(pair *p)
{
    mls_session_end(&p->server);
    mls_session_end(&p->se);
    assert_true(tu_all_zero(p, sizeof(*p)));
}

/* ---- fixed vectors ----------------------------------------------------- */

static void vector_purpose_keys(void **state)
{
    (void)state;
    lw_key root;
    mls_keys k;
    tu_key(&root, ROOT_HEX);
    assert_int_equal(mls_keys_derive(lw_crypto_software(), &root, DEVEUI, EPOCH, &k), MLS_OK);
    assert_key_equal(&k.enc_down, "E83F0FA0F6797D63E5028C540559072E");
    assert_key_equal(&k.mac_down, "56CAE218B40A8F4B9D431373A2F66318");
    assert_key_equal(&k.wrap_down, "C181E5FDD49DB06EC77B27327F61509F");
    assert_key_equal(&k.enc_up, "97A6833F278DAE05DFF9E221F3F3A9E3");
    assert_key_equal(&k.mac_up, "52A0ABD732BD71CF641BCC3AD399549D");
    mls_keys_release(lw_crypto_software(), &k);
    assert_true(tu_all_zero(&k, sizeof(k)));
    lw_key_wipe(&root);
}

static void vector_install_downlink(void **state)
{
    (void)state;
    pair p;
    pair_init(&p, DEVEUI, EPOCH);
    p.server.tx_next = 5;

    lw_key nwk, app;
    tu_key(&nwk, "000102030405060708090A0B0C0D0E0F");
    tu_key(&app, "101112131415161718191A1B1C1D1E1F");
    mls_cmd cmd;
    memset(&cmd, 0, sizeof(cmd));
    cmd.type = MLS_T_INSTALL;
    cmd.u.install = (mls_profile_install){.profile_id = 1, .join_eui = 0x70B3D57ED0001000ull,
                                          .dev_eui = 0x70B3D57ED0000042ull, .mac_version = MLS_MAC_1_1,
                                          .max_join_attempts = 16, .max_silence_hours = 72};
    assert_int_equal(mls_wrap_key(&p.server, &nwk, cmd.u.install.nwk_key_wrapped, MLS_WRAPPED_LEN), MLS_OK);
    assert_int_equal(mls_wrap_key(&p.server, &app, cmd.u.install.app_key_wrapped, MLS_WRAPPED_LEN), MLS_OK);

    uint8_t body[128], msg[MLS_MSG_MAX];
    size_t blen, mlen;
    assert_int_equal(mls_cmd_encode(&cmd, body, sizeof(body), &blen), MLS_OK);
    assert_hex_equal(body, blen, INSTALL_BODY_HEX);
    assert_int_equal(mls_seal(&p.server, MLS_T_INSTALL, body, blen, msg, sizeof(msg), &mlen), MLS_OK);
    assert_hex_equal(msg, mlen, INSTALL_MSG_HEX);
    assert_int_equal(p.server.tx_next, 6);

    /* The SE side: open, decode, unwrap back to the same keys. */
    mls_header h;
    uint8_t plain[MLS_BODY_MAX];
    size_t plen;
    assert_int_equal(mls_open(&p.se, msg, mlen, &h, plain, sizeof(plain), &plen), MLS_OK);
    assert_int_equal(h.counter, 5);
    assert_int_equal(h.type, MLS_T_INSTALL);
    mls_cmd got;
    assert_int_equal(mls_cmd_decode(h.type, plain, plen, &got), MLS_OK);
    lw_key k;
    assert_int_equal(mls_unwrap_key(&p.se, got.u.install.nwk_key_wrapped, MLS_WRAPPED_LEN, &k), MLS_OK);
    assert_key_equal(&k, "000102030405060708090A0B0C0D0E0F");
    lw_key_release(lw_crypto_software(), &k);
    assert_int_equal(mls_unwrap_key(&p.se, got.u.install.app_key_wrapped, MLS_WRAPPED_LEN, &k), MLS_OK);
    assert_key_equal(&k, "101112131415161718191A1B1C1D1E1F");
    lw_key_release(lw_crypto_software(), &k);
    lw_key_wipe(&nwk);
    lw_key_wipe(&app);
    pair_end(&p);
}

static void vector_response_uplink(void **state)
{
    (void)state;
    pair p;
    pair_init(&p, DEVEUI, EPOCH);
    p.se.tx_next = 9;
    mls_rsp r = {.type = MLS_T_INSTALL, .req_counter = 5, .result = MLS_R_OK};
    uint8_t body[16], msg[64];
    size_t blen, mlen;
    assert_int_equal(mls_rsp_encode(&r, body, sizeof(body), &blen), MLS_OK);
    assert_hex_equal(body, blen, "00000005 00");
    assert_int_equal(mls_seal(&p.se, MLS_T_RESPONSE | MLS_T_INSTALL, body, blen, msg, sizeof(msg), &mlen),
                     MLS_OK);
    assert_hex_equal(msg, mlen, RSP_MSG_HEX);

    mls_header h;
    uint8_t plain[64];
    size_t plen;
    assert_int_equal(mls_open(&p.server, msg, mlen, &h, plain, sizeof(plain), &plen), MLS_OK);
    mls_rsp got;
    assert_int_equal(mls_rsp_decode(h.type, plain, plen, &got), MLS_OK);
    assert_int_equal(got.type, MLS_T_INSTALL);
    assert_int_equal(got.req_counter, 5);
    assert_int_equal(got.result, MLS_R_OK);
    pair_end(&p);
}

/* ---- round trips and the receiver's rules ------------------------------ */

static void round_trip_both_directions_all_sizes(void **state)
{
    (void)state;
    pair p;
    pair_init(&p, DEVEUI, EPOCH);
    static uint8_t body[MLS_BODY_MAX], msg[MLS_MSG_MAX], plain[MLS_BODY_MAX];
    for (size_t i = 0; i < sizeof(body); i++)
        body[i] = (uint8_t)(i * 7 + 1);
    static const size_t sizes[] = {0, 1, 15, 16, 17, 100, MLS_BODY_MAX};
    for (size_t n = 0; n < sizeof(sizes) / sizeof(sizes[0]); n++) {
        for (int dir = 0; dir < 2; dir++) {
            mls_session *tx = dir ? &p.se : &p.server, *rx = dir ? &p.server : &p.se;
            size_t mlen, plen;
            mls_header h;
            uint32_t c = tx->tx_next;
            assert_int_equal(mls_seal(tx, 0x42, body, sizes[n], msg, sizeof(msg), &mlen), MLS_OK);
            assert_int_equal(mlen, sizes[n] + MLS_OVERHEAD);
            if (sizes[n] > 0)
                assert_memory_not_equal(msg + MLS_HEADER_LEN, body, sizes[n]);
            assert_int_equal(mls_open(rx, msg, mlen, &h, plain, sizeof(plain), &plen), MLS_OK);
            assert_int_equal(plen, sizes[n]);
            assert_memory_equal(plain, body, plen);
            assert_int_equal(h.counter, c);
            assert_int_equal(h.dir, dir ? MLS_DIR_UP : MLS_DIR_DOWN);
            assert_int_equal(h.type, 0x42);
            assert_int_equal(mls_accept_counter(rx, h.counter), MLS_OK);
            assert_int_equal(rx->rx_last, c);
        }
    }
    pair_end(&p);
}

static void every_single_bit_flip_is_rejected(void **state)
{
    (void)state;
    pair p;
    pair_init(&p, DEVEUI, EPOCH);
    uint8_t body[40], msg[64], plain[64];
    memset(body, 0x5A, sizeof(body));
    size_t mlen, plen;
    assert_int_equal(mls_seal(&p.server, MLS_T_SECURE, body, sizeof(body), msg, sizeof(msg), &mlen), MLS_OK);
    mls_session before = p.se;
    for (size_t bit = 0; bit < mlen * 8; bit++) {
        mls_header h;
        msg[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        memset(plain, 0xEE, sizeof(plain));
        mls_status st = mls_open(&p.se, msg, mlen, &h, plain, sizeof(plain), &plen);
        msg[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        if (st == MLS_OK)
            fail_msg("flip of bit %zu was accepted", bit);
        assert_int_equal(plen, 0);
        assert_true(tu_all_zero(plain, sizeof(plain)));
        assert_memory_equal(&before, &p.se, sizeof(before));
    }
    mls_header h;
    assert_int_equal(mls_open(&p.se, msg, mlen, &h, plain, sizeof(plain), &plen), MLS_OK);
    pair_end(&p);
}

static void replay_and_older_counters_are_rejected(void **state)
{
    (void)state;
    pair p;
    pair_init(&p, DEVEUI, EPOCH);
    uint8_t m1[32], m2[32], m3[32], plain[16];
    size_t l1, l2, l3, plen;
    mls_header h;
    const uint8_t b[1] = {0};
    assert_int_equal(mls_seal(&p.server, 1, b, 1, m1, sizeof(m1), &l1), MLS_OK);
    assert_int_equal(mls_seal(&p.server, 1, b, 1, m2, sizeof(m2), &l2), MLS_OK);
    assert_int_equal(mls_seal(&p.server, 1, b, 1, m3, sizeof(m3), &l3), MLS_OK);

    /* m2 arrives first and is accepted. */
    assert_int_equal(mls_open(&p.se, m2, l2, &h, plain, sizeof(plain), &plen), MLS_OK);
    assert_int_equal(mls_accept_counter(&p.se, h.counter), MLS_OK);
    /* The replay of m2 and the older m1 are refused. */
    assert_int_equal(mls_open(&p.se, m2, l2, &h, plain, sizeof(plain), &plen), MLS_ERR_REPLAY);
    assert_int_equal(mls_open(&p.se, m1, l1, &h, plain, sizeof(plain), &plen), MLS_ERR_REPLAY);
    assert_int_equal(mls_accept_counter(&p.se, 2), MLS_ERR_REPLAY);
    assert_int_equal(mls_accept_counter(&p.se, 1), MLS_ERR_REPLAY);
    assert_int_equal(p.se.rx_last, 2);
    /* Until the counter is accepted, the same message opens again: the SE
     * can lose power between open and persist without losing it. */
    assert_int_equal(mls_open(&p.se, m3, l3, &h, plain, sizeof(plain), &plen), MLS_OK);
    assert_int_equal(mls_open(&p.se, m3, l3, &h, plain, sizeof(plain), &plen), MLS_OK);
    assert_int_equal(mls_accept_counter(&p.se, h.counter), MLS_OK);
    assert_int_equal(mls_open(&p.se, m3, l3, &h, plain, sizeof(plain), &plen), MLS_ERR_REPLAY);
    pair_end(&p);
}

static void wrong_direction_is_rejected(void **state)
{
    (void)state;
    pair p;
    pair_init(&p, DEVEUI, EPOCH);
    uint8_t msg[32], plain[16];
    size_t mlen, plen;
    mls_header h;
    const uint8_t b[4] = {1, 2, 3, 4};
    /* A downlink reflected back at the server. */
    assert_int_equal(mls_seal(&p.server, 1, b, 4, msg, sizeof(msg), &mlen), MLS_OK);
    assert_int_equal(mls_open(&p.server, msg, mlen, &h, plain, sizeof(plain), &plen), MLS_ERR_DIRECTION);
    /* Same, with the direction bit rewritten: the up MAC key refuses it. */
    msg[1] = MLS_DIR_UP;
    assert_int_equal(mls_open(&p.server, msg, mlen, &h, plain, sizeof(plain), &plen), MLS_ERR_TAG);
    /* An uplink reflected at the SE. */
    assert_int_equal(mls_seal(&p.se, 0x81, b, 4, msg, sizeof(msg), &mlen), MLS_OK);
    assert_int_equal(mls_open(&p.se, msg, mlen, &h, plain, sizeof(plain), &plen), MLS_ERR_DIRECTION);
    pair_end(&p);
}

static void wrong_deveui_is_rejected(void **state)
{
    (void)state;
    pair p;
    pair_init(&p, DEVEUI + 1, EPOCH);
    uint8_t msg[32], plain[16];
    size_t mlen, plen;
    mls_header h;
    const uint8_t b[4] = {1, 2, 3, 4};
    assert_int_equal(mls_seal(&p.server, 1, b, 4, msg, sizeof(msg), &mlen), MLS_OK);
    assert_int_equal(mls_open(&p.se, msg, mlen, &h, plain, sizeof(plain), &plen), MLS_ERR_TAG);
    pair_end(&p);
}

static void wrong_epoch_is_rejected(void **state)
{
    (void)state;
    pair p;
    pair_init(&p, DEVEUI, EPOCH + 1);
    uint8_t msg[32], plain[16];
    size_t mlen, plen;
    mls_header h;
    const uint8_t b[4] = {1, 2, 3, 4};
    assert_int_equal(mls_seal(&p.server, 1, b, 4, msg, sizeof(msg), &mlen), MLS_OK);
    assert_int_equal(mls_open(&p.se, msg, mlen, &h, plain, sizeof(plain), &plen), MLS_ERR_EPOCH);
    /* Rewriting the epoch byte does not help: the keys differ. */
    msg[2] = EPOCH + 1;
    assert_int_equal(mls_open(&p.se, msg, mlen, &h, plain, sizeof(plain), &plen), MLS_ERR_TAG);
    /* The header can still be read to choose a session. */
    assert_int_equal(mls_header_parse(msg, mlen, &h), MLS_OK);
    assert_int_equal(h.epoch, EPOCH + 1);
    pair_end(&p);
}

static void bad_lengths_and_fields_are_rejected(void **state)
{
    (void)state;
    pair p;
    pair_init(&p, DEVEUI, EPOCH);
    static uint8_t msg[MLS_MSG_MAX + 8], plain[MLS_MSG_MAX];
    size_t mlen, plen;
    mls_header h;
    uint8_t b[20] = {0};
    assert_int_equal(mls_seal(&p.server, 1, b, sizeof(b), msg, sizeof(msg), &mlen), MLS_OK);
    for (size_t n = 0; n < mlen; n++) {
        mls_status st = mls_open(&p.se, msg, n, &h, plain, sizeof(plain), &plen);
        assert_int_equal(st, n < MLS_OVERHEAD ? MLS_ERR_TRUNCATED : MLS_ERR_TAG);
    }
    assert_int_equal(mls_open(&p.se, msg, mlen + 1, &h, plain, sizeof(plain), &plen), MLS_ERR_TAG);
    assert_int_equal(mls_open(&p.se, msg, MLS_MSG_MAX + 1, &h, plain, sizeof(plain), &plen), MLS_ERR_TOO_LONG);
    /* Too small a body buffer is an error, not a truncation. */
    assert_int_equal(mls_open(&p.se, msg, mlen, &h, plain, sizeof(b) - 1, &plen), MLS_ERR_BUFFER);
    /* Version and reserved direction bits. */
    msg[0] = 2;
    assert_int_equal(mls_open(&p.se, msg, mlen, &h, plain, sizeof(plain), &plen), MLS_ERR_VERSION);
    msg[0] = 1;
    msg[1] = 0x02;
    assert_int_equal(mls_open(&p.se, msg, mlen, &h, plain, sizeof(plain), &plen), MLS_ERR_FORMAT);
    /* Sealing: body too long, output too small. */
    assert_int_equal(mls_seal(&p.server, 1, plain, MLS_BODY_MAX + 1, msg, sizeof(msg), &mlen), MLS_ERR_TOO_LONG);
    assert_int_equal(mls_seal(&p.server, 1, b, sizeof(b), msg, sizeof(b) + MLS_OVERHEAD - 1, &mlen),
                     MLS_ERR_BUFFER);
    assert_int_equal(mlen, 0);
    pair_end(&p);
}

static void counter_exhaustion_stops_sending(void **state)
{
    (void)state;
    pair p;
    pair_init(&p, DEVEUI, EPOCH);
    uint8_t msg[32], plain[16];
    size_t mlen, plen;
    mls_header h;
    p.server.tx_next = 0xFFFFFFFFu;
    assert_int_equal(mls_seal(&p.server, 1, NULL, 0, msg, sizeof(msg), &mlen), MLS_OK);
    assert_int_equal(p.server.tx_next, 0);
    assert_int_equal(mls_open(&p.se, msg, mlen, &h, plain, sizeof(plain), &plen), MLS_OK);
    assert_int_equal(h.counter, 0xFFFFFFFFu);
    assert_int_equal(mls_seal(&p.server, 1, NULL, 0, msg, sizeof(msg), &mlen), MLS_ERR_COUNTER);
    pair_end(&p);
}

static void unwrap_under_wrong_key_fails_cleanly(void **state)
{
    (void)state;
    pair p;
    pair_init(&p, DEVEUI, EPOCH);
    uint8_t wrapped[MLS_WRAPPED_LEN];
    lw_key k;
    tu_key(&k, "000102030405060708090A0B0C0D0E0F");
    assert_int_equal(mls_wrap_key(&p.server, &k, wrapped, sizeof(wrapped)), MLS_OK);
    wrapped[5] ^= 1;
    lw_key out;
    memset(&out, 0x77, sizeof(out));
    assert_int_equal(mls_unwrap_key(&p.se, wrapped, sizeof(wrapped), &out), MLS_ERR_UNWRAP);
    assert_true(tu_all_zero(&out, sizeof(out)));
    assert_int_equal(mls_wrap_key(&p.server, &k, wrapped, sizeof(wrapped) - 1), MLS_ERR_BUFFER);
    lw_key_wipe(&k);
    pair_end(&p);
}

/* The rotation procedure of docs/mls.md, run end to end. */
static void key_rotation_switches_epoch(void **state)
{
    (void)state;
    pair p;
    pair_init(&p, DEVEUI, EPOCH);
    lw_key new_root;
    tu_key(&new_root, "F0E1D2C3B4A5968778695A4B3C2D1E0F");

    mls_cmd cmd = {.type = MLS_T_ROTATE};
    cmd.u.rotate.new_epoch = EPOCH + 1;
    assert_int_equal(mls_wrap_key(&p.server, &new_root, cmd.u.rotate.root_wrapped, MLS_WRAPPED_LEN), MLS_OK);
    uint8_t body[64], msg[128], plain[128];
    size_t blen, mlen, plen;
    mls_header h;
    assert_int_equal(mls_cmd_encode(&cmd, body, sizeof(body), &blen), MLS_OK);
    assert_int_equal(mls_seal(&p.server, MLS_T_ROTATE, body, blen, msg, sizeof(msg), &mlen), MLS_OK);

    /* SE: open, unwrap, build the pending session of the next epoch. */
    assert_int_equal(mls_open(&p.se, msg, mlen, &h, plain, sizeof(plain), &plen), MLS_OK);
    assert_int_equal(mls_accept_counter(&p.se, h.counter), MLS_OK);
    mls_cmd got;
    assert_int_equal(mls_cmd_decode(h.type, plain, plen, &got), MLS_OK);
    lw_key unwrapped;
    assert_int_equal(mls_unwrap_key(&p.se, got.u.rotate.root_wrapped, MLS_WRAPPED_LEN, &unwrapped), MLS_OK);
    mls_session se_next, server_next;
    assert_int_equal(mls_session_init(&se_next, lw_crypto_software(), MLS_ROLE_SE, &unwrapped, DEVEUI,
                                      got.u.rotate.new_epoch, 1, 0), MLS_OK);
    lw_key_release(lw_crypto_software(), &unwrapped);

    /* Server, once it has the OK response: switches to the new epoch. */
    assert_int_equal(mls_session_init(&server_next, lw_crypto_software(), MLS_ROLE_SERVER, &new_root, DEVEUI,
                                      EPOCH + 1, 1, 0), MLS_OK);
    const uint8_t b[1] = {7};
    assert_int_equal(mls_seal(&server_next, MLS_T_STATUS, b, 1, msg, sizeof(msg), &mlen), MLS_OK);
    /* The SE picks the session by the header's epoch; the old one refuses. */
    assert_int_equal(mls_header_parse(msg, mlen, &h), MLS_OK);
    assert_int_equal(h.epoch, EPOCH + 1);
    assert_int_equal(mls_open(&p.se, msg, mlen, &h, plain, sizeof(plain), &plen), MLS_ERR_EPOCH);
    assert_int_equal(mls_open(&se_next, msg, mlen, &h, plain, sizeof(plain), &plen), MLS_OK);
    assert_int_equal(h.counter, 1);

    mls_session_end(&se_next);
    mls_session_end(&server_next);
    lw_key_wipe(&new_root);
    pair_end(&p);
}

/* ---- a token backend: keys by handle only ------------------------------ */

/* Stands in for the IDM's PKCS#11 key service: an lw_key carries only a
 * handle into this table, its material stays zero, and every operation
 * asserts so. Sealing through it must give the very same bytes, which shows
 * that MLS never reads key material and needs nothing a token lacks. */
typedef struct token {
    uint8_t value[16][16];
    int used[16];
    int live;
} token;

static const lw_key *token_sw_key(token *t, const lw_key *k, lw_key *tmp)
{
    assert_true(tu_all_zero(k->material, sizeof(k->material)));
    assert_true(k->handle >= 1 && k->handle <= 16 && t->used[k->handle - 1]);
    assert_int_equal(lw_key_from_bytes(tmp, t->value[k->handle - 1], 16), LW_OK);
    return tmp;
}

static lw_status token_store(token *t, const lw_key *sw, lw_key *out)
{
    for (int i = 0; i < 16; i++) {
        if (!t->used[i]) {
            memcpy(t->value[i], sw->material, 16);
            t->used[i] = 1;
            t->live++;
            memset(out, 0, sizeof(*out));
            out->handle = (uint64_t)i + 1;
            return LW_OK;
        }
    }
    return LW_ERR_CRYPTO;
}

static lw_status token_aes(void *ctx, const lw_key *key, const uint8_t in[16], uint8_t out[16])
{
    lw_key tmp;
    lw_status st = lw_aes_encrypt(lw_crypto_software(), token_sw_key(ctx, key, &tmp), in, out);
    lw_key_wipe(&tmp);
    return st;
}

static lw_status token_aes_dec(void *ctx, const lw_key *key, const uint8_t in[16], uint8_t out[16])
{
    (void)ctx; (void)key; (void)in; (void)out;
    fail_msg("MLS never needs AES decryption");
    return LW_ERR_CRYPTO;
}

static lw_status token_cmac(void *ctx, const lw_key *key, const uint8_t *prefix, size_t prefix_len,
                            const uint8_t *msg, size_t len, uint8_t out[16])
{
    lw_key tmp;
    lw_status st = lw_cmac_prefixed(lw_crypto_software(), token_sw_key(ctx, key, &tmp), prefix, prefix_len, msg, len,
                                    out);
    lw_key_wipe(&tmp);
    return st;
}

static lw_status token_derive(void *ctx, const lw_key *root, const uint8_t block[16], lw_key *out)
{
    lw_key tmp, made;
    lw_status st = lw_derive(lw_crypto_software(), token_sw_key(ctx, root, &tmp), block, &made);
    if (st == LW_OK)
        st = token_store(ctx, &made, out);
    lw_key_wipe(&tmp);
    lw_key_wipe(&made);
    return st;
}

static lw_status token_wrap(void *ctx, const lw_key *kek, const lw_key *key, uint8_t *out, size_t cap)
{
    lw_key tk, tw;
    lw_status st = lw_key_wrap(lw_crypto_software(), token_sw_key(ctx, kek, &tk), token_sw_key(ctx, key, &tw),
                               out, cap);
    lw_key_wipe(&tk);
    lw_key_wipe(&tw);
    return st;
}

static lw_status token_unwrap(void *ctx, const lw_key *kek, const uint8_t *in, size_t len, lw_key *out)
{
    lw_key tk, made;
    memset(&made, 0, sizeof(made));
    lw_status st = lw_key_unwrap(lw_crypto_software(), token_sw_key(ctx, kek, &tk), in, len, &made);
    if (st == LW_OK)
        st = token_store(ctx, &made, out);
    lw_key_wipe(&tk);
    lw_key_wipe(&made);
    return st;
}

static void token_release(void *ctx, lw_key *key)
{
    token *t = ctx;
    assert_true(key->handle >= 1 && key->handle <= 16 && t->used[key->handle - 1]);
    t->used[key->handle - 1] = 0;
    t->live--;
    lw_key_wipe(key);
}

static const lw_crypto_class token_class = {
    .name = "test token", .aes_encrypt = token_aes, .aes_decrypt = token_aes_dec, .cmac = token_cmac,
    .derive = token_derive, .wrap = token_wrap, .unwrap = token_unwrap, .release = token_release,
};

static void token_backend_gives_the_same_bytes(void **state)
{
    (void)state;
    token t;
    memset(&t, 0, sizeof(t));
    const lw_crypto tok = {.cls = &token_class, .ctx = &t};
    lw_key sw, root, nwk, app;
    tu_key(&sw, ROOT_HEX);
    assert_int_equal(token_store(&t, &sw, &root), LW_OK);
    tu_key(&sw, "000102030405060708090A0B0C0D0E0F");
    assert_int_equal(token_store(&t, &sw, &nwk), LW_OK);
    tu_key(&sw, "101112131415161718191A1B1C1D1E1F");
    assert_int_equal(token_store(&t, &sw, &app), LW_OK);
    lw_key_wipe(&sw);

    mls_session server;
    assert_int_equal(mls_session_init(&server, &tok, MLS_ROLE_SERVER, &root, DEVEUI, EPOCH, 5, 0), MLS_OK);
    assert_int_equal(t.live, 3 + 5);
    mls_cmd cmd;
    memset(&cmd, 0, sizeof(cmd));
    cmd.type = MLS_T_INSTALL;
    cmd.u.install = (mls_profile_install){.profile_id = 1, .join_eui = 0x70B3D57ED0001000ull,
                                          .dev_eui = 0x70B3D57ED0000042ull, .mac_version = MLS_MAC_1_1,
                                          .max_join_attempts = 16, .max_silence_hours = 72};
    assert_int_equal(mls_wrap_key(&server, &nwk, cmd.u.install.nwk_key_wrapped, MLS_WRAPPED_LEN), MLS_OK);
    assert_int_equal(mls_wrap_key(&server, &app, cmd.u.install.app_key_wrapped, MLS_WRAPPED_LEN), MLS_OK);
    uint8_t body[128], msg[256];
    size_t blen, mlen;
    assert_int_equal(mls_cmd_encode(&cmd, body, sizeof(body), &blen), MLS_OK);
    assert_int_equal(mls_seal(&server, MLS_T_INSTALL, body, blen, msg, sizeof(msg), &mlen), MLS_OK);
    assert_hex_equal(msg, mlen, INSTALL_MSG_HEX);

    /* The uplink vector opens through the token too. */
    mls_header h;
    uint8_t plain[64];
    size_t plen, rl = tu_hex(RSP_MSG_HEX, msg, sizeof(msg));
    assert_int_equal(mls_open(&server, msg, rl, &h, plain, sizeof(plain), &plen), MLS_OK);
    assert_hex_equal(plain, plen, "00000005 00");

    mls_session_end(&server);
    assert_int_equal(t.live, 3);   /* the five purpose keys were released */
}

static void arguments_are_checked(void **state)
{
    (void)state;
    lw_key root;
    mls_session s;
    tu_key(&root, ROOT_HEX);
    assert_int_equal(mls_session_init(&s, lw_crypto_software(), MLS_ROLE_SE, &root, DEVEUI, 0, 0, 0),
                     MLS_ERR_ARGUMENT);
    assert_int_equal(mls_session_init(&s, lw_crypto_software(), (mls_role)7, &root, DEVEUI, 0, 1, 0),
                     MLS_ERR_ARGUMENT);
    assert_int_equal(mls_session_init(NULL, lw_crypto_software(), MLS_ROLE_SE, &root, DEVEUI, 0, 1, 0),
                     MLS_ERR_ARGUMENT);
    lw_key empty;
    memset(&empty, 0, sizeof(empty));
    memset(&s, 0x33, sizeof(s));
    assert_int_not_equal(mls_session_init(&s, lw_crypto_software(), MLS_ROLE_SE, &empty, DEVEUI, 0, 1, 0),
                         MLS_OK);
    assert_true(tu_all_zero(&s, sizeof(s)));
    for (int st = 0; st <= MLS_STATUS_COUNT; st++)
        assert_non_null(mls_strerror((mls_status)st));
    assert_string_equal(mls_strerror(MLS_ERR_REPLAY),
                        "MLS counter is not above the last accepted one (replay or old message)");
    assert_int_equal(mls_status_from_lw(LW_OK), MLS_OK);
    assert_int_equal(mls_status_from_lw(LW_ERR_MIC), MLS_ERR_UNWRAP);
    assert_int_equal(mls_status_from_lw(LW_ERR_KEY), MLS_ERR_KEY);
    assert_int_equal(mls_status_from_lw(LW_ERR_FORMAT), MLS_ERR_CRYPTO);
    mls_header h;
    const uint8_t hdr[16] = {1, 1, 9, 0x01, 0x02, 0x03, 0x04, 0x86};
    assert_int_equal(mls_header_parse(hdr, sizeof(hdr), &h), MLS_OK);
    assert_int_equal(h.dir, MLS_DIR_UP);
    assert_int_equal(h.epoch, 9);
    assert_int_equal(h.counter, 0x01020304);
    assert_int_equal(h.type, 0x86);
    assert_int_equal(mls_header_parse(hdr, 15, &h), MLS_ERR_TRUNCATED);
    assert_int_equal(mls_header_parse(NULL, 16, &h), MLS_ERR_ARGUMENT);
    mls_session_end(NULL);
    lw_key_wipe(&root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(vector_purpose_keys),
        cmocka_unit_test(vector_install_downlink),
        cmocka_unit_test(vector_response_uplink),
        cmocka_unit_test(round_trip_both_directions_all_sizes),
        cmocka_unit_test(every_single_bit_flip_is_rejected),
        cmocka_unit_test(replay_and_older_counters_are_rejected),
        cmocka_unit_test(wrong_direction_is_rejected),
        cmocka_unit_test(wrong_deveui_is_rejected),
        cmocka_unit_test(wrong_epoch_is_rejected),
        cmocka_unit_test(bad_lengths_and_fields_are_rejected),
        cmocka_unit_test(counter_exhaustion_stops_sending),
        cmocka_unit_test(unwrap_under_wrong_key_fails_cleanly),
        cmocka_unit_test(key_rotation_switches_epoch),
        cmocka_unit_test(token_backend_gives_the_same_bytes),
        cmocka_unit_test(arguments_are_checked),
    };
    return cmocka_run_group_tests_name("mls", tests, NULL, NULL);
}

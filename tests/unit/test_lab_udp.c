/*
 * test_lab_udp.c - the packet-forwarder codec (src/lab/lab_udp.c): header
 * layouts of PROTOCOL.TXT v2 byte by byte, rxpk/txpk JSON both ways, the
 * spec's own rxpk example, refusals (version, lengths, JSON, base64), and
 * RFC 4648's base64 vectors; the EU868 table.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "lab/lab.h"
#include "test_util.h"

static void test_headers(void **state)
{
    (void)state;
    uint8_t d[64];
    size_t n = 0;
    lab_udp_packet p = {.token = 0xABCD, .type = LAB_UDP_PULL_DATA, .gateway_eui = 0xAA555A0000000001ULL};
    assert_int_equal(lab_udp_encode(&p, d, sizeof(d), &n), LAB_OK);
    uint8_t want[12];
    tu_hex("02 ABCD 02 AA555A0000000001", want, sizeof(want));
    assert_int_equal(n, 12);
    assert_memory_equal(d, want, 12);
    lab_udp_packet q;
    assert_int_equal(lab_udp_decode(d, n, &q), LAB_OK);
    assert_int_equal(q.type, LAB_UDP_PULL_DATA);
    assert_int_equal(q.token, 0xABCD);
    assert_true(q.gateway_eui == 0xAA555A0000000001ULL);

    /* acks are exactly four bytes */
    uint8_t ack[5] = {2, 0x12, 0x34, LAB_UDP_PUSH_ACK, 0};
    assert_int_equal(lab_udp_decode(ack, 4, &q), LAB_OK);
    assert_int_equal(q.type, LAB_UDP_PUSH_ACK);
    assert_int_equal(q.token, 0x1234);
    assert_int_equal(lab_udp_decode(ack, 5, &q), LAB_ERR_FORMAT);
    ack[3] = LAB_UDP_PULL_ACK;
    assert_int_equal(lab_udp_decode(ack, 4, &q), LAB_OK);
    /* version 1 (the old protocol) and unknown identifiers are refused */
    ack[0] = 1;
    assert_int_equal(lab_udp_decode(ack, 4, &q), LAB_ERR_VERSION);
    ack[0] = 2;
    ack[3] = 6;
    assert_int_equal(lab_udp_decode(ack, 4, &q), LAB_ERR_FORMAT);
    assert_int_equal(lab_udp_decode(ack, 3, &q), LAB_ERR_FORMAT);
    /* PULL_DATA of the wrong length; PUSH_DATA without JSON */
    assert_int_equal(lab_udp_decode(d, 11, &q), LAB_ERR_FORMAT);
    d[3] = LAB_UDP_PUSH_DATA;
    assert_int_equal(lab_udp_decode(d, 12, &q), LAB_ERR_FORMAT);
    /* TX_ACK: JSON optional, a trailing NUL tolerated */
    d[3] = LAB_UDP_TX_ACK;
    assert_int_equal(lab_udp_decode(d, 12, &q), LAB_OK);
    assert_int_equal(q.json_len, 0);
    memcpy(d + 12, "{}", 3);
    assert_int_equal(lab_udp_decode(d, 15, &q), LAB_OK);
    assert_int_equal(q.json_len, 2);
    /* encode refuses a PULL_RESP without JSON and a too-small buffer */
    lab_udp_packet r = {.type = LAB_UDP_PULL_RESP};
    assert_int_equal(lab_udp_encode(&r, d, sizeof(d), &n), LAB_ERR_ARGUMENT);
    r.json = (const uint8_t *)"{\"txpk\":{}}";
    r.json_len = 11;
    assert_int_equal(lab_udp_encode(&r, d, 10, &n), LAB_ERR_BUFFER);
    assert_int_equal(lab_udp_encode(&r, d, sizeof(d), &n), LAB_OK);
    assert_int_equal(n, 15);
    assert_int_equal(d[3], 3);
}

/* PROTOCOL.TXT section 4's example: a LoRa packet and an FSK one. The LoRa
 * example's data "-DS4CG..." is not base64 at all (a known flaw of the
 * document), so it is refused; the FSK one decodes. */
static void test_rxpk_spec_example(void **state)
{
    (void)state;
    const char *fsk = "{\"rxpk\":[{\"time\":\"2013-03-31T16:21:17.530974Z\",\"tmst\":3512348514,\"chan\":9,"
                      "\"rfch\":1,\"freq\":869.1,\"stat\":1,\"modu\":\"FSK\",\"datr\":50000,\"rssi\":-75,"
                      "\"size\":16,\"data\":\"VEVTVF9QQUNLRVRfMTIzNA==\"}]}";
    lab_rxpk pk[2];
    size_t n = 0;
    assert_int_equal(lab_udp_rxpk_parse((const uint8_t *)fsk, strlen(fsk), pk, 2, &n), LAB_OK);
    assert_int_equal(n, 1);
    assert_false(pk[0].lora);
    assert_int_equal(pk[0].size, 16);
    assert_memory_equal(pk[0].data, "TEST_PACKET_1234", 16);
    assert_true(pk[0].tmst == 3512348514u);
    const char *lora = "{\"rxpk\":[{\"tmst\":3512348611,\"chan\":2,\"rfch\":0,\"freq\":866.349812,\"stat\":1,"
                       "\"modu\":\"LORA\",\"datr\":\"SF7BW125\",\"codr\":\"4/6\",\"rssi\":-35,\"lsnr\":5.1,"
                       "\"size\":32,\"data\":\"-DS4CGaDCdG+48eJNM3Vai-zDpsR71Pn9CPA9uCON84\"}]}";
    assert_int_equal(lab_udp_rxpk_parse((const uint8_t *)lora, strlen(lora), pk, 2, &n), LAB_ERR_FORMAT);
    /* stat-only datagrams carry no rxpk */
    const char *stat = "{\"stat\":{\"time\":\"2014-01-12 08:59:28 GMT\",\"rxnb\":2}}";
    assert_int_equal(lab_udp_rxpk_parse((const uint8_t *)stat, strlen(stat), pk, 2, &n), LAB_OK);
    assert_int_equal(n, 0);
}

static void test_rxpk_round_trip_and_refusals(void **state)
{
    (void)state;
    lab_rxpk pk;
    memset(&pk, 0, sizeof(pk));
    pk.tmst = 4000000000u;
    pk.freq = 868.3;
    pk.stat = 1;
    pk.lora = true;
    pk.sf = 9;
    pk.bw = 125;
    strcpy(pk.codr, "4/5");
    pk.rssi = -101;
    pk.lsnr = -3.5;
    pk.size = tu_hex("40 01000026 00 0000 02 68656C6C6F 11223344", pk.data, sizeof(pk.data));
    char json[1024];
    size_t jn = 0;
    assert_int_equal(lab_udp_rxpk_build(&pk, 1, json, sizeof(json), &jn), LAB_OK);
    assert_int_equal(strlen(json), jn);
    lab_rxpk back;
    size_t n = 0;
    assert_int_equal(lab_udp_rxpk_parse((const uint8_t *)json, jn, &back, 1, &n), LAB_OK);
    assert_int_equal(n, 1);
    assert_true(back.tmst == pk.tmst && back.sf == 9 && back.bw == 125 && back.rssi == -101);
    assert_true(back.lsnr == -3.5 && back.freq == 868.3 && back.lora);
    assert_int_equal(back.size, pk.size);
    assert_memory_equal(back.data, pk.data, pk.size);
    assert_int_equal(lab_udp_rxpk_build(&pk, 1, json, 20, &jn), LAB_ERR_BUFFER);

    static const char *const bad[] = {
        "{\"rxpk\":[{\"tmst\":1,\"freq\":868.1,\"stat\":1,\"modu\":\"LORA\",\"datr\":\"SF7BW125\",\"size\":2,\"data\":\"AAA=\"}]}",   /* size 2, data 2? ok below */
        "{\"rxpk\":[{\"tmst\":1,\"freq\":868.1,\"stat\":1,\"modu\":\"LORA\",\"datr\":\"SF7BW125\",\"size\":3,\"data\":\"AAA=\"}]}",   /* size mismatch */
        "{\"rxpk\":[{\"tmst\":-1,\"freq\":868.1,\"stat\":1,\"modu\":\"LORA\",\"datr\":\"SF7BW125\",\"size\":2,\"data\":\"AAA=\"}]}",  /* tmst < 0 */
        "{\"rxpk\":[{\"tmst\":1,\"freq\":868.1,\"stat\":1,\"modu\":\"LORA\",\"datr\":\"SF13BW125\",\"size\":2,\"data\":\"AAA=\"}]}", /* SF13 */
        "{\"rxpk\":[{\"tmst\":1,\"freq\":868.1,\"stat\":2,\"modu\":\"LORA\",\"datr\":\"SF7BW125\",\"size\":2,\"data\":\"AAA=\"}]}",   /* stat 2 */
        "{\"rxpk\":[{\"tmst\":1,\"freq\":868.1,\"stat\":1,\"modu\":\"OOK\",\"datr\":\"SF7BW125\",\"size\":2,\"data\":\"AAA=\"}]}",    /* modu */
        "{\"rxpk\":[{\"tmst\":1,\"tmst\":2,\"freq\":868.1,\"stat\":1,\"modu\":\"LORA\",\"datr\":\"SF7BW125\",\"size\":2,\"data\":\"AAA=\"}]}", /* duplicate key */
        "{\"rxpk\":{}}",
        "[1]",
        "{\"rxpk\":[{\"tmst\":1,\"freq\":868.1,\"stat\":1,\"modu\":\"LORA\",\"datr\":\"SF7BW125\",\"size\":2,\"data\":\"A$A=\"}]}",   /* base64 */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        lab_status st = lab_udp_rxpk_parse((const uint8_t *)bad[i], strlen(bad[i]), &back, 1, &n);
        if (i == 0)
            assert_int_equal(st, LAB_OK);
        else if (st != LAB_ERR_FORMAT)
            fail_msg("case %zu accepted: %s", i, bad[i]);
    }
    /* more rxpk than the caller's array */
    const char *pair = "{\"rxpk\":[{\"tmst\":1,\"freq\":868.1,\"stat\":1,\"modu\":\"LORA\",\"datr\":\"SF7BW125\",\"size\":2,\"data\":\"AAA\"},"
                       "{\"tmst\":1,\"freq\":868.1,\"stat\":1,\"modu\":\"LORA\",\"datr\":\"SF7BW125\",\"size\":2,\"data\":\"AAA\"}]}";
    assert_int_equal(lab_udp_rxpk_parse((const uint8_t *)pair, strlen(pair), &back, 1, &n), LAB_ERR_FORMAT);
}

static void test_txpk_and_tx_ack(void **state)
{
    (void)state;
    lab_txpk tx;
    memset(&tx, 0, sizeof(tx));
    tx.tmst = 6000000;
    tx.freq = 869.525;
    tx.powe = 14;
    tx.sf = 12;
    tx.bw = 125;
    tx.ipol = true;
    tx.size = tu_hex("20 00112233445566778899AABBCCDDEEFF", tx.data, sizeof(tx.data));
    char json[512];
    size_t jn = 0;
    assert_int_equal(lab_udp_txpk_build(&tx, json, sizeof(json), &jn), LAB_OK);
    assert_non_null(strstr(json, "\"datr\":\"SF12BW125\""));
    assert_non_null(strstr(json, "\"ipol\":true"));
    assert_null(strstr(json, "imme"));
    lab_txpk back;
    assert_int_equal(lab_udp_txpk_parse((const uint8_t *)json, jn, &back), LAB_OK);
    assert_true(back.tmst == 6000000 && back.sf == 12 && back.ipol && back.powe == 14 && back.freq == 869.525);
    assert_int_equal(back.size, tx.size);
    assert_memory_equal(back.data, tx.data, tx.size);
    /* the spec's example with imme and unpadded data */
    const char *ex = "{\"txpk\":{\"imme\":true,\"freq\":864.123456,\"rfch\":0,\"powe\":14,\"modu\":\"LORA\","
                     "\"datr\":\"SF11BW125\",\"codr\":\"4/6\",\"ipol\":false,\"size\":3,\"data\":\"H3P3\"}}";
    assert_int_equal(lab_udp_txpk_parse((const uint8_t *)ex, strlen(ex), &back), LAB_OK);
    assert_true(back.imme && back.sf == 11 && back.size == 3);
    const char *untimed = "{\"txpk\":{\"size\":1,\"data\":\"AA\"}}";
    assert_int_equal(lab_udp_txpk_parse((const uint8_t *)untimed, strlen(untimed), &back), LAB_ERR_FORMAT);

    char err[32];
    assert_int_equal(lab_udp_tx_ack_parse(NULL, 0, err, sizeof(err)), LAB_OK);
    assert_string_equal(err, "NONE");
    const char *late = "{\"txpk_ack\":{\"error\":\"TOO_LATE\"}}";
    assert_int_equal(lab_udp_tx_ack_parse((const uint8_t *)late, strlen(late), err, sizeof(err)), LAB_OK);
    assert_string_equal(err, "TOO_LATE");
    assert_int_equal(lab_udp_tx_ack_parse((const uint8_t *)"{x", 2, err, sizeof(err)), LAB_ERR_FORMAT);
}

static void test_base64_rfc4648(void **state)
{
    (void)state;
    static const char *const v[][2] = {{"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},
                                       {"foo", "Zm9v"},  {"foob", "Zm9vYg=="},  {"fooba", "Zm9vYmE="},
                                       {"foobar", "Zm9vYmFy"}};
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        char out[16];
        uint8_t bin[16];
        size_t n = 0;
        assert_int_equal(lab_base64_encode((const uint8_t *)v[i][0], strlen(v[i][0]), out, sizeof(out)), LAB_OK);
        assert_string_equal(out, v[i][1]);
        assert_int_equal(lab_base64_decode(v[i][1], strlen(v[i][1]), bin, sizeof(bin), &n), LAB_OK);
        assert_int_equal(n, strlen(v[i][0]));
        assert_memory_equal(bin, v[i][0], n);
    }
    uint8_t bin[8];
    size_t n;
    assert_int_equal(lab_base64_decode("Zm9vYg", 6, bin, sizeof(bin), &n), LAB_OK); /* padding optional */
    assert_int_equal(n, 4);
    assert_int_equal(lab_base64_decode("Zm9vY", 5, bin, sizeof(bin), &n), LAB_ERR_FORMAT);
    assert_int_equal(lab_base64_decode("Zg=", 3, bin, sizeof(bin), &n), LAB_ERR_FORMAT);
    assert_int_equal(lab_base64_decode("Zh==", 4, bin, sizeof(bin), &n), LAB_ERR_FORMAT); /* non-zero tail bits */
    assert_int_equal(lab_base64_decode("Zm9vYmFy", 8, bin, 5, &n), LAB_ERR_BUFFER);
    char small[4];
    assert_int_equal(lab_base64_encode((const uint8_t *)"foo", 3, small, sizeof(small)), LAB_ERR_BUFFER);
}

static void test_eu868(void **state)
{
    (void)state;
    static const unsigned max[] = {51, 51, 51, 115, 242, 242, 242};
    for (uint8_t dr = 0; dr < 7; dr++) {
        uint8_t sf;
        uint16_t bw;
        uint8_t back;
        assert_int_equal(lab_eu868_dr_params(dr, &sf, &bw), LAB_OK);
        assert_int_equal(lab_eu868_dr(sf, bw, &back), LAB_OK);
        assert_int_equal(back, dr);
        assert_int_equal(lab_eu868_max_payload(dr), max[dr]);
    }
    uint8_t dr;
    assert_int_equal(lab_eu868_dr(7, 500, &dr), LAB_ERR_FORMAT);
    assert_int_equal(lab_eu868_channel(868.5), 2);
    assert_int_equal(lab_eu868_channel(867.9), 7);
    uint8_t sf;
    uint16_t bw;
    assert_int_equal(lab_udp_datr_parse("SF07BW125", &sf, &bw), LAB_ERR_FORMAT);
    assert_int_equal(lab_udp_datr_parse("SF7BW125x", &sf, &bw), LAB_ERR_FORMAT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_headers),
        cmocka_unit_test(test_rxpk_spec_example),
        cmocka_unit_test(test_rxpk_round_trip_and_refusals),
        cmocka_unit_test(test_txpk_and_tx_ack),
        cmocka_unit_test(test_base64_rfc4648),
        cmocka_unit_test(test_eu868),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

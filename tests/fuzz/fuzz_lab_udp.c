/*
 * fuzz_lab_udp.c - libFuzzer target for the packet-forwarder codec
 * (src/lab/lab_udp.c): what a network server reads from any UDP sender and
 * what a gateway reads from the network server.
 *
 * For every input:
 *   1. lab_udp_decode(); when it accepts, lab_udp_encode() of the result
 *      must give back the same bytes (a trailing NUL after a TX_ACK's JSON
 *      is the one tolerated difference), and the JSON part goes to the
 *      parser of its kind (rxpk, txpk, txpk_ack);
 *   2. every accepted rxpk is rebuilt and parsed again to the same packet
 *      (payload, tmst, SF/BW), and so is an accepted txpk;
 *   3. the raw bytes are also fed to the three JSON parsers and the base64
 *      decoder directly, so the JSON code is reached without a valid header.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "lab/lab_udp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)           \
    do {                      \
        if (!(cond))          \
            __builtin_trap(); \
    } while (0)

static void rxpk_round_trip(const uint8_t *json, size_t len)
{
    static lab_rxpk pk[LAB_UDP_RXPK_MAX], back[LAB_UDP_RXPK_MAX];
    size_t n = 0, m = 0;
    if (lab_udp_rxpk_parse(json, len, pk, LAB_UDP_RXPK_MAX, &n) != LAB_OK)
        return;
    CHECK(n <= LAB_UDP_RXPK_MAX);
    for (size_t i = 0; i < n; i++) {
        CHECK(pk[i].size <= LW_PHY_MAX);
        if (!pk[i].lora)
            continue;
        char text[2048];
        size_t tn = 0;
        CHECK(lab_udp_rxpk_build(&pk[i], 1, text, sizeof(text), &tn) == LAB_OK);
        CHECK(lab_udp_rxpk_parse((const uint8_t *)text, tn, back, 1, &m) == LAB_OK && m == 1);
        CHECK(back[0].size == pk[i].size && memcmp(back[0].data, pk[i].data, pk[i].size) == 0);
        CHECK(back[0].tmst == pk[i].tmst && back[0].sf == pk[i].sf && back[0].bw == pk[i].bw);
    }
}

static void txpk_round_trip(const uint8_t *json, size_t len)
{
    lab_txpk tx, back;
    if (lab_udp_txpk_parse(json, len, &tx) != LAB_OK)
        return;
    CHECK(tx.size <= LW_PHY_MAX);
    if (tx.sf == 0)
        return; /* no datr given: the builder always writes one */
    char text[2048];
    size_t tn = 0;
    CHECK(lab_udp_txpk_build(&tx, text, sizeof(text), &tn) == LAB_OK);
    CHECK(lab_udp_txpk_parse((const uint8_t *)text, tn, &back) == LAB_OK);
    CHECK(back.size == tx.size && memcmp(back.data, tx.data, tx.size) == 0 && back.imme == tx.imme);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lab_udp_packet p;
    if (lab_udp_decode(data, size, &p) == LAB_OK) {
        static uint8_t again[LAB_UDP_MAX];
        size_t n = 0;
        CHECK(lab_udp_encode(&p, again, sizeof(again), &n) == LAB_OK);
        CHECK(n == size || (n + 1 == size && data[size - 1] == 0));
        CHECK(memcmp(again, data, n) == 0);
        char err[32];
        if (p.type == LAB_UDP_PUSH_DATA)
            rxpk_round_trip(p.json, p.json_len);
        else if (p.type == LAB_UDP_PULL_RESP)
            txpk_round_trip(p.json, p.json_len);
        else if (p.type == LAB_UDP_TX_ACK)
            (void)lab_udp_tx_ack_parse(p.json, p.json_len, err, sizeof(err));
    }
    rxpk_round_trip(data, size);
    txpk_round_trip(data, size);
    char err[32];
    (void)lab_udp_tx_ack_parse(data, size, err, sizeof(err));
    uint8_t bin[LW_PHY_MAX];
    size_t bn = 0;
    if (lab_base64_decode((const char *)data, size, bin, sizeof(bin), &bn) == LAB_OK) {
        char text[LW_PHY_MAX * 2];
        CHECK(lab_base64_encode(bin, bn, text, sizeof(text)) == LAB_OK);
    }
    return 0;
}

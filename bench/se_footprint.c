/*
 * se_footprint.c - what a microcontroller build of the secure element
 * carries: this program references only the element's entry points (boot,
 * manufacture, APDU dispatch) over a RAM NVM, so that `size` of the linked,
 * section-collected binary minus an empty program's is the code and static
 * data of the SE core, the LoRaWAN core, MLS and mbedTLS's AES/CMAC.
 *
 * With --join N it runs N join-request + join-accept rounds, with
 * --uplink N one join then N protected 20-byte uplinks, for
 * bench/se_footprint.sh to count instructions per operation with callgrind.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lorawan/lorawan.h"
#include "se/se_apdu.h"

/* A flash driver as a firmware writes it (docs/se-commands.md, porting
 * guide): 4 pages of 2 KiB, programmed 8 bytes at a time; here in RAM. */
#define PAGE 2048
#define PAGES 4
typedef struct ram {
    uint8_t page[PAGES][PAGE];
} ram;

static se_status ram_read(void *ctx, uint32_t page, uint32_t off, uint8_t *buf, size_t len)
{
    memcpy(buf, ((ram *)ctx)->page[page % PAGES] + off, len);
    return SE_OK;
}

static se_status ram_program(void *ctx, uint32_t page, uint32_t off, const uint8_t *buf, size_t len)
{
    memcpy(((ram *)ctx)->page[page % PAGES] + off, buf, len);
    return SE_OK;
}

static se_status ram_erase(void *ctx, uint32_t page)
{
    memset(((ram *)ctx)->page[page % PAGES], 0xFF, PAGE);
    return SE_OK;
}

static const se_nvm_class ram_class = {.read = ram_read, .program = ram_program, .erase = ram_erase};

static int fail(const char *what)
{
    fprintf(stderr, "se_footprint: %s failed\n", what);
    return 1;
}

int main(int argc, char **argv)
{
    static ram mem;
    static se e;
    se_nvm nvm = {.cls = &ram_class, .ctx = &mem, .geometry = {.page_size = PAGE, .page_count = PAGES, .program_unit = 8}};
    const lw_crypto *c = lw_crypto_software();
    uint8_t key[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    long count = argc == 3 ? atol(argv[2]) : 0;
    int uplinks = argc == 3 && strcmp(argv[1], "--uplink") == 0;
    if (count <= 0) {
        /* Size mode: reference the entry points a firmware would. */
        if (se_boot(&e, &nvm, c) != SE_OK && se_manufacture(&e, &nvm, c, key) != SE_OK)
            return fail("manufacture");
        uint8_t cmd[5] = {SE_CLA, SE_INS_GET_INFO, 0, 0, 0}, resp[SE_APDU_MAX_RESPONSE];
        size_t n = 0;
        (void)se_apdu_process(&e, cmd, sizeof(cmd), resp, sizeof(resp), &n);
        printf("se-ram: context=%zu bytes (se struct, caller-allocated), apdu-buffers=%d bytes\n", sizeof(se),
               SE_APDU_MAX_RESPONSE + 261);
        return 0;
    }

    /* Operation mode: personalise a 1.0.3 element, then join and send. */
    lw_key k;
    if (se_manufacture(&e, &nvm, c, key) != SE_OK || lw_key_from_bytes(&k, key, 16) != LW_OK)
        return fail("setup");
    se_personalisation p = {.dev_eui = 1, .join_eui = 2, .mac_version = SE_MAC_1_0_3};
    if (lw_key_wrap(c, &k, &k, p.nwk_key_wrapped, 24) != LW_OK ||
        lw_key_wrap(c, &k, &k, p.app_key_wrapped, 24) != LW_OK ||
        lw_key_wrap(c, &k, &k, p.mls_key_wrapped, 24) != LW_OK || se_personalise(&e, &p) != SE_OK)
        return fail("personalise");
    long joins = uplinks ? 1 : count;
    for (long i = 0; i < joins; i++) {
        uint8_t jr[23], plain[33], wire[33];
        size_t len = 0;
        lw_join_accept ja = {.join_nonce = (uint32_t)i + 1, .net_id = 0x13, .dev_addr = 0x26000001};
        if (se_build_join_request(&e, jr) != SE_OK || lw_join_accept_build(&ja, plain, sizeof(plain), &len) != LW_OK ||
            lw_mic_join_accept_10(c, &k, plain, len, plain + len) != LW_OK ||
            lw_join_accept_encrypt(c, &k, plain, len + 4, wire, sizeof(wire)) != LW_OK)
            return fail("join-request");
        se_join_result r;
        if (se_process_join_accept(&e, wire, len + 4, &r) != SE_OK)
            return fail("join-accept");
    }
    for (long i = 0; uplinks && i < count; i++) {
        static const uint8_t payload[20] = {0};
        se_uplink up = {.has_fport = true, .fport = 1, .payload = payload, .payload_len = sizeof(payload)};
        uint8_t frame[64];
        size_t fl = 0;
        if (se_protect_uplink(&e, &up, frame, sizeof(frame), &fl) != SE_OK)
            return fail("uplink");
    }
    return 0;
}

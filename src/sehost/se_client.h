/*
 * se_client.h - how a device program talks to its secure element.
 *
 * The client speaks APDUs over a transport: in-process (the element linked
 * into the program, as in tests and the lab) or a Unix socket to the
 * emulator (`ferry se serve`), exactly as it would over a chip's I2C or SPI
 * link. Typed calls below build the APDUs of docs/se-commands.md and parse
 * the answers; a status word other than 9000 comes back as its se_status.
 */
#ifndef FERRY_SE_CLIENT_H
#define FERRY_SE_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include "se/se.h"
#include "se/se_apdu.h"

typedef struct se_transport_class {
    /* Sends cmd[len], receives the response (data + SW1 SW2) into resp[cap]. */
    se_status (*transmit)(void *ctx, const uint8_t *cmd, size_t len, uint8_t *resp, size_t cap, size_t *resp_len);
    void (*close)(void *ctx);
} se_transport_class;

typedef struct se_client {
    const se_transport_class *cls;
    void *ctx;
    int fd;          /* socket transport */
    se *local;       /* in-process transport */
} se_client;

/* In-process: APDUs go straight to se_apdu_process on `e` (owned by the caller). */
void se_client_open_local(se_client *c, se *e);

/* Unix socket to an emulator. SE_ERR_NVM (errno set) when it cannot connect. */
se_status se_client_open_socket(se_client *c, const char *path);

void se_client_close(se_client *c);

/* One raw APDU; resp holds data without the status word, *status the
 * se_status of the status word. */
se_status se_client_transmit(se_client *c, const uint8_t *cmd, size_t len, uint8_t *resp, size_t cap,
                             size_t *resp_len);

se_status se_client_get_info(se_client *c, se_info *out);
se_status se_client_personalise(se_client *c, const se_personalisation *p);
se_status se_client_join_request(se_client *c, uint8_t out[LW_JOIN_REQUEST_LEN]);
se_status se_client_rejoin_request(se_client *c, lw_rejoin_type type, uint8_t *out, size_t cap, size_t *len);
se_status se_client_join_accept(se_client *c, const uint8_t *phy, size_t len, se_join_result *out);
se_status se_client_protect_uplink(se_client *c, const se_uplink *up, uint8_t *out, size_t cap, size_t *len);

/* Downlink answer; fopts and payload are copied into out_buf[cap]. */
se_status se_client_unprotect_downlink(se_client *c, const uint8_t *phy, size_t len, uint8_t *out_buf, size_t cap,
                                       se_downlink *out);

/* MLS: the host's clock, the next frame for SE_MLS_FPORT, and the secure
 * command the application must answer (docs/se-commands.md). */
se_status se_client_set_time(se_client *c, uint32_t now);
se_status se_client_mls_uplink(se_client *c, size_t frame_max, uint8_t *out, size_t *len);
se_status se_client_secure_command(se_client *c, uint8_t *out, size_t cap, size_t *len);
se_status se_client_secure_reply(se_client *c, bool accepted, const uint8_t *reply, size_t len);

/* LoRaMac-node's commands (docs/se-commands.md, "Commands for
 * LoRaMac-node"): the host built the frame or the block, the element MICs or
 * ciphers it. fields are block bytes 1..13 (SE_BLOCK_FIELDS). */
se_status se_client_join_request_mic(se_client *c, const uint8_t frame[LW_JOIN_REQUEST_LEN - LW_MIC_LEN],
                                     uint8_t mic[LW_MIC_LEN]);
/* frame[len]: 15 bytes for type 0/2, 20 for type 1 (no MIC). */
se_status se_client_rejoin_request_mic(se_client *c, lw_rejoin_type type, const uint8_t *frame, size_t len,
                                       uint8_t mic[LW_MIC_LEN]);
/* The decrypted join-accept, MHDR to MIC, into plain[len]. */
se_status se_client_join_accept_frame(se_client *c, const uint8_t *phy, size_t len, uint8_t *plain);
se_status se_client_keyed_cmac(se_client *c, uint8_t key_id, const uint8_t fields[SE_BLOCK_FIELDS],
                               const uint8_t *msg, size_t len, uint8_t mic[LW_MIC_LEN]);
/* SE_OK when mic is the MIC, SE_ERR_MIC when not. */
se_status se_client_keyed_verify(se_client *c, uint8_t key_id, const uint8_t fields[SE_BLOCK_FIELDS],
                                 const uint8_t *msg, size_t len, const uint8_t mic[LW_MIC_LEN]);
se_status se_client_key_stream(se_client *c, uint8_t key_id, const uint8_t fields[SE_BLOCK_FIELDS], uint8_t index,
                               uint8_t out[16]);
se_status se_client_mc_setup(se_client *c, unsigned group, uint8_t root_type, const uint8_t enc[16], uint32_t addr);
/* The FRMPayload of an FPort 200 downlink the host's MAC opened; *flags as
 * UNPROTECT DOWNLINK's byte 0. */
se_status se_client_mls_downlink(se_client *c, const uint8_t *payload, size_t len, uint8_t *flags);

/* Serves APDUs for `e` on a Unix socket at `path`, one connection at a time
 * (a chip has one host), until *stop becomes non-zero or accept fails.
 * Frames on the socket: length (2 bytes, big-endian) then the bytes. */
se_status se_serve_socket(se *e, const char *path, volatile int *stop);

#endif

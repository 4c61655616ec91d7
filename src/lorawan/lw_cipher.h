/*
 * lw_cipher.h - LoRaWAN encryption: FRMPayload, 1.1 FOpts, join-accept.
 *
 * FRMPayload and FOpts use AES in a counter-like mode built from A blocks, so
 * encryption and decryption are the same operation. The join-accept is the
 * odd one: the server "encrypts" with AES-ECB *decrypt* so that the device
 * only needs the encrypt direction.
 */
#ifndef FERRY_LW_CIPHER_H
#define FERRY_LW_CIPHER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "lorawan/lw_crypto.h"
#include "lorawan/lw_frame.h"

/* Encrypts or decrypts an FRMPayload (in place allowed: in == out, and so
 * is out lying before in within one buffer: bytes are processed in order,
 * each read before its place is written). The key
 * is AppSKey for FPort > 0, NwkSKey (1.0) or NwkSEncKey (1.1) for FPort 0:
 * the caller picks it with lw_frm_payload_key_is_network(). */
lw_status lw_frm_payload_crypt(const lw_crypto *c, const lw_key *key, bool uplink, uint32_t dev_addr,
                               uint32_t fcnt, const uint8_t *in, size_t len, uint8_t *out) LW_MUST_CHECK;

/* True when FRMPayload on this FPort is encrypted with the network key. */
bool lw_frm_payload_key_is_network(uint8_t fport);

/* 1.1 FOpts encryption with NwkSEncKey (in place allowed, as above).
 * `a_fcnt_down`
 * selects the AFCntDown variant of the A block (downlink with FPort > 0, per
 * the LoRaWAN 1.1 errata "FCntDwn usage in FOpts encryption"). */
lw_status lw_fopts_crypt_11(const lw_crypto *c, const lw_key *nwk_s_enc_key, bool uplink, bool a_fcnt_down,
                            uint32_t dev_addr, uint32_t fcnt, const uint8_t *in, size_t len,
                            uint8_t *out) LW_MUST_CHECK;

/* Server side: turns a plaintext join-accept plain[len] = MHDR | fields |
 * MIC (17 or 33 bytes) into the wire form MHDR | AES-decrypt(key, rest).
 * key: NwkKey for join-request answers, JSEncKey for rejoin answers (1.1). */
lw_status lw_join_accept_encrypt(const lw_crypto *c, const lw_key *key, const uint8_t *plain, size_t len,
                                 uint8_t *out, size_t cap) LW_MUST_CHECK;

/* Device side: the inverse, wire -> plaintext, with AES-encrypt. */
lw_status lw_join_accept_decrypt(const lw_crypto *c, const lw_key *key, const uint8_t *wire, size_t len,
                                 uint8_t *out, size_t cap) LW_MUST_CHECK;

#endif

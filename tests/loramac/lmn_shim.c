/*
 * lmn_shim.c - what LoRaMac-node's crypto, parser, serializer and soft
 * secure element need from a board, for a host build in tests: the byte
 * helpers declared by its boards/utilities.h and the unique ID its soft-se
 * HAL asks the board for. Written here from those headers' contracts, not
 * copied from upstream's boards/mcu/utilities.c.
 *
 * Nothing else of a board is needed: the crypto has no timer, radio or NVM
 * driver of its own - its NVM is the struct its caller hands to
 * LoRaMacCryptoInit / SecureElementInit (lmn_dev.c keeps it in a file).
 */
#include <stdint.h>
#include <string.h>

#include "utilities.h"

void memcpy1(uint8_t *dst, const uint8_t *src, uint16_t size)
{
    memmove(dst, src, size);
}

/* Copies reversed: LoRaWAN puts EUIs on air little-endian, the stack keeps
 * them big-endian. */
void memcpyr(uint8_t *dst, const uint8_t *src, uint16_t size)
{
    for (uint16_t i = 0; i < size; i++)
        dst[i] = src[size - 1 - i];
}

void memset1(uint8_t *dst, uint8_t value, uint16_t size)
{
    memset(dst, value, size);
}

/* soft-se-hal.h: the DevEUI of an element that is not pre-provisioned. The
 * harness always sets the DevEUI it is given afterwards. */
void SoftSeHalGetUniqueId(uint8_t *id);
void SoftSeHalGetUniqueId(uint8_t *id)
{
    memset(id, 0, 8);
}

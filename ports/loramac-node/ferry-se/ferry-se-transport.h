/*
 * ferry-se-transport.h - what a board implements so that LoRaMac-node can
 * reach the ferry secure element (ferry-se.c).
 *
 * One function: one command APDU out, its response back. On hardware it is
 * an I2C, SPI or UART exchange with the element chip (docs/se-commands.md
 * describes the APDUs); in ferry's tests it is a Unix socket to `ferry se
 * serve` or the element linked into the same process
 * (tests/loramac/lmn_transport_*.c). No key ever travels here: the element
 * answers with MICs, key-stream blocks, frames and public facts only.
 */
#ifndef FERRY_SE_TRANSPORT_H
#define FERRY_SE_TRANSPORT_H

#include <stdint.h>

/* One command APDU to the element, its response back (data then SW1 SW2). 0 on success, -1 when the
 * transport failed (the driver then answers SECURE_ELEMENT_ERROR). */
int FerrySeTransportExchange( const uint8_t* apdu, uint16_t apduSize, uint8_t* resp, uint16_t respCap,
                              uint16_t* respSize );

#endif

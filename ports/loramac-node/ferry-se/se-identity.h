/*
 * se-identity.h - what LoRaMac-node's apps/LoRaMac/common/Commissioning.h
 * (and so LmHandler.c) includes from the secure element's driver folder,
 * as each of upstream's drivers ships one. For ferry's element there is no
 * identity to compile in: the DevEUI and JoinEUI are read from the element
 * (SecureElementGetDevEui / GetJoinEui, refreshed by FerrySeGetInfo), and
 * its keys never leave it, so this file has no key list. Its profiles are
 * OTAA only: the device address comes from each join-accept.
 */
#ifndef FERRY_SE_IDENTITY_H
#define FERRY_SE_IDENTITY_H

/* Read from the element, not compiled in. */
#define STATIC_DEVICE_EUI 0
#define LORAWAN_DEVICE_EUI { 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00 }
#define LORAWAN_JOIN_EUI { 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00 }
#define SECURE_ELEMENT_PIN { 0x00, 0x00, 0x00, 0x00 }

/* OTAA only: the address of each session is the join-accept's. */
#define STATIC_DEVICE_ADDRESS 0
#define LORAWAN_DEVICE_ADDRESS ( uint32_t )0x00000000

#endif

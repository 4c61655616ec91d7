/*
 * lorawan.h - the LoRaWAN L2 core in one include.
 *
 * A pure engine: no I/O, no allocation, no global mutable state. Frames in
 * lw_frame.h, MICs in lw_mic.h, encryption in lw_cipher.h, key derivation in
 * lw_keys.h, all over the crypto interface of lw_crypto.h.
 */
#ifndef FERRY_LORAWAN_H
#define FERRY_LORAWAN_H

#include "lorawan/lw_status.h"
#include "lorawan/lw_secure.h"
#include "lorawan/lw_crypto.h"
#include "lorawan/lw_frame.h"
#include "lorawan/lw_mic.h"
#include "lorawan/lw_cipher.h"
#include "lorawan/lw_keys.h"

#endif

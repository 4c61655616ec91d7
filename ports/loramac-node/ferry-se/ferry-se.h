/*
 * ferry-se.h - ferry's additions to LoRaMac-node's secure-element API
 * (src/mac/secure-element.h), for the activation package and applications.
 *
 * ferry-se.c implements every function of secure-element.h by APDUs to the
 * ferry element over FerrySeTransportExchange (ferry-se-transport.h). The
 * functions below reach what secure-element.h has no words for: the
 * element's identity and profile (so the stack joins with the element's
 * JoinEUI and DevNonce), and its MLS endpoint on FPort 200.
 *
 * Every function returns SECURE_ELEMENT_SUCCESS or an error; on an error no
 * output is meaningful. docs/se-commands.md ("LoRaMac-node driver") lists
 * which LoRaMac-node key IDs map to which element keys and what is refused.
 */
#ifndef FERRY_SE_H
#define FERRY_SE_H

#include <stdbool.h>
#include <stdint.h>
#include "secure-element.h"

typedef struct sFerrySeInfo {
    uint8_t DevEui[8];        /* most significant byte first, as LoRaMac-node keeps EUIs */
    uint8_t JoinEui[8];       /* of the active profile */
    uint8_t ActiveSlot;       /* 0 bootstrap, 1, 2 customer */
    uint8_t ProfileId;
    uint8_t MacVersion;       /* as PERSONALISE: 0x02,0x03,0x04 (1.0.x), 0x0B (1.1) */
    bool Joined;              /* the element holds a session for the active profile */
    bool OnTrial;
    uint32_t NextDevNonce;    /* 0x10000 = exhausted */
    uint32_t LastJoinNonce;   /* last JoinNonce accepted on the active profile (0 = none) */
} FerrySeInfo_t;

/* Reads the element's public facts (GET INFO); also refreshes the DevEUI and
 * JoinEUI that SecureElementGetDevEui/GetJoinEui return. */
SecureElementStatus_t FerrySeGetInfo( FerrySeInfo_t* info );

/* FRMPayload of a downlink on FERRY_SE_MLS_FPORT (200), already decrypted by the MAC; flags as
 * UNPROTECT DOWNLINK's (bit 5: a secure command waits for the application). */
SecureElementStatus_t FerrySeMlsDownlink( const uint8_t* payload, uint8_t size, uint8_t* flags );

/* What to send next on FERRY_SE_MLS_FPORT; *size 0 when the element has nothing to say. */
SecureElementStatus_t FerrySeMlsUplink( uint8_t frameMax, uint8_t* out, uint8_t* size );

/* The host's monotonic clock in seconds (MLS transfer timeouts only). */
SecureElementStatus_t FerrySeSetTime( uint32_t seconds );

/* Up to *size (at most 240) bytes of the waiting secure command from byte
 * `offset`; *size is set to what was read (0 past the end). */
SecureElementStatus_t FerrySeSecureGet( uint16_t offset, uint8_t* out, uint8_t* size );

/* The application's answer to the waiting secure command, in chunks of up
 * to 240 bytes; `last` seals it (reject: the command is refused). */
SecureElementStatus_t FerrySeSecureReply( bool reject, bool last, const uint8_t* chunk, uint8_t size );

#define FERRY_SE_MLS_FPORT 200

#endif

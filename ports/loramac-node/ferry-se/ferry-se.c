/*
 * ferry-se.c - LoRaMac-node's secure element (src/mac/secure-element.h,
 * v4.7.0) on the ferry element: a drop-in beside upstream's
 * src/peripherals/soft-se/, atecc608a-tnglora-se/ and lr1110-se/.
 *
 * How a board uses it: compile this file instead of soft-se.c (no SOFT_SE
 * define, so SecureElementNvmData_t holds no key list), add this directory
 * to the include path, and implement FerrySeTransportExchange
 * (ferry-se-transport.h) over the bus the element sits on. The element must
 * be personalised (docs/hsa.md); its active profile gives the DevEUI,
 * JoinEUI and root keys. docs/se-commands.md, "The LoRaMac-node driver",
 * is the reference: key-id mapping, what is refused and why.
 *
 * Every function is one or two APDUs (docs/se-commands.md); no key crosses
 * the transport, in either direction. Where LoRaMac-node asks to derive
 * and store a key, the element has already done it (the join-accept is one
 * element command that keeps the session keys; JS keys and McRootKey are
 * derived inside the element when it needs them): the driver checks that
 * the derivation block is the one that matches and says yes, so a caller
 * that asks for anything else is refused rather than silently ignored.
 *
 * State: upstream's API has no context argument, so the few facts the
 * driver keeps (the EUIs it read, the last join-accept's public fields,
 * LoRaMac-node's NVM block) are one file-scope singleton. That is the one
 * global of the port, forced by the API.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "LoRaMacTypes.h"
#include "secure-element-nvm.h"
#include "secure-element.h"
#include "ferry-se-transport.h"
#include "ferry-se.h"

/* APDU instructions and parameters: docs/se-commands.md. */
#define CLA 0x80
#define INS_GET_INFO 0xCA
#define INS_JOIN_REQUEST 0x20
#define INS_REJOIN_REQUEST 0x21
#define INS_JOIN_ACCEPT 0x22
#define INS_MLS_UPLINK 0x40
#define INS_SET_TIME 0x42
#define INS_SECURE_GET 0x43
#define INS_SECURE_REPLY 0x44
#define INS_MLS_DOWNLINK 0x45
#define INS_KEYED_CMAC 0x50
#define INS_KEY_STREAM 0x51
#define INS_MC_SETUP 0x52
#define P_HOST_FRAME 0x01
#define P_VERIFY 0x01

#define SW_OK 0x9000u
#define SW_MIC 0x6982u

#define APDU_MAX 261
#define RESP_MAX 258
#define DATA_MAX 255
#define INFO_LEN 58         /* what every element answers; 61 with the last JoinNonce */
#define BLOCK_FIELDS 13     /* bytes 1..13 of a B0/B1/A block */
#define SECURE_CHUNK 240

/* Element key ids (KEYED CMAC, KEY STREAM). */
#define EK_F_NWK_S_INT 0x01
#define EK_S_NWK_S_INT 0x02
#define EK_NWK_S_ENC 0x03
#define EK_APP_S 0x04
#define EK_MC_APP_S 0x10
#define EK_MC_NWK_S 0x20
#define EK_NONE 0x00

typedef struct FerrySeDriver {
    SecureElementNvmData_t* Nvm;   /* LoRaMac-node's NVM block: EUIs and PIN only (no keys) */
    bool Ready;
    uint8_t DevEui[SE_EUI_SIZE];
    uint8_t JoinEui[SE_EUI_SIZE];
    uint8_t McRootType;            /* first byte of the McRootKey block LoRaMac-node asked for */
    /* The last join-accept the element took: what the session-key
     * derivations LoRaMac-node asks for next must name. */
    bool Accepted;
    bool Accepted11;
    uint8_t JoinNonce[3];          /* as in the frame (little-endian) */
    uint8_t NetId[3];
    uint8_t AcceptJoinEui[SE_EUI_SIZE];   /* most significant first */
    uint16_t AcceptNonce;          /* DevNonce or RJcount */
    /* McKey_i as LoRaMac-node set it (encrypted under McKEKey: no secret
     * to the MCU), sent to the element with McAddr when the stack derives
     * the group's key pair. */
    uint8_t McKeyE[LORAMAC_MAX_MC_CTX][16];
    bool McKeyESet[LORAMAC_MAX_MC_CTX];
    bool McSent[LORAMAC_MAX_MC_CTX];
    uint32_t McSentAddr[LORAMAC_MAX_MC_CTX];
} FerrySeDriver_t;

/* The port's singleton (see the top comment). */
static FerrySeDriver_t Ferry;

static void Wipe( void* p, size_t n )
{
    volatile uint8_t* v = ( volatile uint8_t* )p;
    while( n-- > 0 )
    {
        *v++ = 0;
    }
}

/* One APDU: CLA ins p1 p2, then the data in up to two parts, then Le. The
 * answer's data goes to out[outCap] (SECURE_ELEMENT_ERROR_BUF_SIZE when it
 * does not fit); *sw receives the status word. */
static SecureElementStatus_t Exchange( uint8_t ins, uint8_t p1, uint8_t p2, const uint8_t* d1, uint16_t n1,
                                       const uint8_t* d2, uint16_t n2, uint8_t* out, uint16_t outCap,
                                       uint16_t* outSize, uint16_t* sw )
{
    uint8_t apdu[APDU_MAX];
    uint8_t resp[RESP_MAX];
    uint16_t respSize = 0;
    uint16_t len = 4;
    SecureElementStatus_t st = SECURE_ELEMENT_SUCCESS;

    if( ( uint32_t )n1 + n2 > DATA_MAX )
    {
        return SECURE_ELEMENT_ERROR_BUF_SIZE;
    }
    apdu[0] = CLA;
    apdu[1] = ins;
    apdu[2] = p1;
    apdu[3] = p2;
    if( n1 + n2 > 0 )
    {
        apdu[len++] = ( uint8_t )( n1 + n2 );
        if( n1 > 0 )
        {
            memcpy( apdu + len, d1, n1 );
        }
        len += n1;
        if( n2 > 0 )
        {
            memcpy( apdu + len, d2, n2 );
        }
        len += n2;
    }
    apdu[len++] = 0x00;   /* Le: as much as the element answers */

    if( FerrySeTransportExchange( apdu, len, resp, sizeof( resp ), &respSize ) != 0 || respSize < 2 ||
        respSize > sizeof( resp ) )
    {
        st = SECURE_ELEMENT_ERROR;
    }
    else
    {
        *sw = ( uint16_t )( ( resp[respSize - 2] << 8 ) | resp[respSize - 1] );
        uint16_t n = ( uint16_t )( respSize - 2 );
        if( *sw == SW_OK && n > outCap )
        {
            st = SECURE_ELEMENT_ERROR_BUF_SIZE;
        }
        else if( *sw == SW_OK )
        {
            if( n > 0 )
            {
                memcpy( out, resp, n );
            }
            if( outSize != NULL )
            {
                *outSize = n;
            }
        }
        else
        {
            st = ( *sw == SW_MIC ) ? SECURE_ELEMENT_FAIL_CMAC : SECURE_ELEMENT_ERROR;
        }
    }
    /* MICs and key-stream blocks pass through these buffers. */
    Wipe( apdu, sizeof( apdu ) );
    Wipe( resp, sizeof( resp ) );
    return st;
}

static SecureElementStatus_t Command( uint8_t ins, uint8_t p1, uint8_t p2, const uint8_t* d1, uint16_t n1,
                                      const uint8_t* d2, uint16_t n2, uint8_t* out, uint16_t outCap,
                                      uint16_t* outSize )
{
    uint16_t sw = 0;
    return Exchange( ins, p1, p2, d1, n1, d2, n2, out, outCap, outSize, &sw );
}

static void Reverse( uint8_t* dst, const uint8_t* src, uint8_t n )
{
    for( uint8_t i = 0; i < n; i++ )
    {
        dst[i] = src[n - 1 - i];
    }
}

/* Maps a LoRaMac-node key id to the element's for MICs (cmac) or key
 * stream; EK_NONE for every other key, root keys first of all. */
static uint8_t ElementKey( KeyIdentifier_t keyID, bool cmac )
{
    switch( keyID )
    {
        case F_NWK_S_INT_KEY:
            return cmac ? EK_F_NWK_S_INT : EK_NONE;
        case S_NWK_S_INT_KEY:
            return cmac ? EK_S_NWK_S_INT : EK_NONE;
        case NWK_S_ENC_KEY:
            /* LoRaMac-node MICs a 1.0.x uplink "under NWK_S_ENC_KEY": in
             * 1.0.x every network key is the one NwkSKey, which the element
             * keeps as FNwkSIntKey. */
            return cmac ? EK_F_NWK_S_INT : EK_NWK_S_ENC;
        case APP_S_KEY:
            return cmac ? EK_NONE : EK_APP_S;
        default:
            break;
    }
    if( keyID > MC_KE_KEY && keyID <= MC_NWK_S_KEY_3 )
    {
        uint8_t rel = ( uint8_t )( keyID - MC_KEY_0 );
        uint8_t group = ( uint8_t )( rel / 3 );
        uint8_t kind = ( uint8_t )( rel % 3 );   /* 0 McKey, 1 McAppSKey, 2 McNwkSKey */
        if( kind == 1 && !cmac )
        {
            return ( uint8_t )( EK_MC_APP_S | group );
        }
        if( kind == 2 && cmac )
        {
            return ( uint8_t )( EK_MC_NWK_S | group );
        }
    }
    return EK_NONE;
}

static bool IsZero( const uint8_t* p, uint8_t n )
{
    uint8_t acc = 0;
    for( uint8_t i = 0; i < n; i++ )
    {
        acc |= p[i];
    }
    return acc == 0;
}

/* ---- FerrySe additions (ferry-se.h) --------------------------------- */

SecureElementStatus_t FerrySeGetInfo( FerrySeInfo_t* info )
{
    uint8_t r[64];
    uint16_t n = 0;
    if( info == NULL )
    {
        return SECURE_ELEMENT_ERROR_NPE;
    }
    SecureElementStatus_t st = Command( INS_GET_INFO, 0, 0, NULL, 0, NULL, 0, r, sizeof( r ), &n );
    if( st != SECURE_ELEMENT_SUCCESS )
    {
        return st;
    }
    if( n < INFO_LEN || r[0] != 0x01 )
    {
        return SECURE_ELEMENT_ERROR;   /* short answer, or an element not personalised */
    }
    memset( info, 0, sizeof( *info ) );
    memcpy( info->DevEui, r + 1, 8 );
    memcpy( info->JoinEui, r + 19, 8 );
    info->ActiveSlot = r[17];
    info->ProfileId = r[18];
    info->MacVersion = r[27];
    info->OnTrial = ( r[28] & 0x01 ) != 0;
    info->Joined = ( r[28] & 0x02 ) != 0;
    info->NextDevNonce = ( ( uint32_t )r[31] << 16 ) | ( ( uint32_t )r[32] << 8 ) | r[33];
    if( n >= INFO_LEN + 3 && ( r[28] & 0x04 ) != 0 )
    {
        info->LastJoinNonce = ( ( uint32_t )r[58] << 16 ) | ( ( uint32_t )r[59] << 8 ) | r[60];
    }
    memcpy( Ferry.DevEui, info->DevEui, 8 );
    memcpy( Ferry.JoinEui, info->JoinEui, 8 );
    if( Ferry.Nvm != NULL )
    {
        memcpy( Ferry.Nvm->DevEui, info->DevEui, 8 );
        memcpy( Ferry.Nvm->JoinEui, info->JoinEui, 8 );
    }
    return SECURE_ELEMENT_SUCCESS;
}

SecureElementStatus_t FerrySeMlsDownlink( const uint8_t* payload, uint8_t size, uint8_t* flags )
{
    uint16_t n = 0;
    if( payload == NULL || flags == NULL || size == 0 )
    {
        return SECURE_ELEMENT_ERROR_NPE;
    }
    SecureElementStatus_t st = Command( INS_MLS_DOWNLINK, 0, 0, payload, size, NULL, 0, flags, 1, &n );
    return ( st == SECURE_ELEMENT_SUCCESS && n != 1 ) ? SECURE_ELEMENT_ERROR : st;
}

SecureElementStatus_t FerrySeMlsUplink( uint8_t frameMax, uint8_t* out, uint8_t* size )
{
    uint16_t n = 0;
    if( out == NULL || size == NULL )
    {
        return SECURE_ELEMENT_ERROR_NPE;
    }
    SecureElementStatus_t st = Command( INS_MLS_UPLINK, frameMax, 0, NULL, 0, NULL, 0, out, frameMax, &n );
    *size = ( st == SECURE_ELEMENT_SUCCESS ) ? ( uint8_t )n : 0;
    return st;
}

SecureElementStatus_t FerrySeSetTime( uint32_t seconds )
{
    uint8_t t[4] = { ( uint8_t )( seconds >> 24 ), ( uint8_t )( seconds >> 16 ), ( uint8_t )( seconds >> 8 ),
                     ( uint8_t )seconds };
    return Command( INS_SET_TIME, 0, 0, t, 4, NULL, 0, NULL, 0, NULL );
}

SecureElementStatus_t FerrySeSecureGet( uint16_t offset, uint8_t* out, uint8_t* size )
{
    uint16_t n = 0;
    if( out == NULL || size == NULL )
    {
        return SECURE_ELEMENT_ERROR_NPE;
    }
    SecureElementStatus_t st = Command( INS_SECURE_GET, ( uint8_t )( offset >> 8 ), ( uint8_t )offset, NULL, 0,
                                        NULL, 0, out, *size, &n );
    *size = ( st == SECURE_ELEMENT_SUCCESS ) ? ( uint8_t )n : 0;
    return st;
}

SecureElementStatus_t FerrySeSecureReply( bool reject, bool last, const uint8_t* chunk, uint8_t size )
{
    if( ( chunk == NULL && size > 0 ) || size > SECURE_CHUNK || ( size == 0 && !last ) )
    {
        return SECURE_ELEMENT_ERROR_NPE;
    }
    /* An APDU carries at least one data byte: an empty last chunk of an
     * accepted reply is not expressible, a rejection carries one byte the
     * element ignores. */
    static const uint8_t none = 0;
    if( size == 0 && !reject )
    {
        return SECURE_ELEMENT_ERROR;
    }
    return Command( INS_SECURE_REPLY, reject ? 1 : 0, last ? 1 : 0, size > 0 ? chunk : &none, size > 0 ? size : 1,
                    NULL, 0, NULL, 0, NULL );
}

/* ---- secure-element.h ----------------------------------------------- */

SecureElementStatus_t SecureElementInit( SecureElementNvmData_t* nvm )
{
    FerrySeInfo_t info;
    if( nvm == NULL )
    {
        return SECURE_ELEMENT_ERROR_NPE;
    }
    memset( &Ferry, 0, sizeof( Ferry ) );
    Ferry.Nvm = nvm;
    SecureElementStatus_t st = FerrySeGetInfo( &info );
    if( st != SECURE_ELEMENT_SUCCESS )
    {
        return st;
    }
    Ferry.McRootType = ( info.MacVersion == 0x0B ) ? 0x20 : 0x00;
    Ferry.Ready = true;
    return SECURE_ELEMENT_SUCCESS;
}

SecureElementStatus_t SecureElementSetKey( KeyIdentifier_t keyID, uint8_t* key )
{
    if( key == NULL )
    {
        return SECURE_ELEMENT_ERROR_NPE;
    }
    /* Only McKey_i, which arrives encrypted under McKEKey (TS005): the
     * element decrypts it with its own McKEKey when the stack derives the
     * group's keys from it (SecureElementDeriveAndStoreKey, always the next
     * call). Every other key lives in the element's profile or is derived
     * there; none is taken in clear. */
    if( keyID > MC_KE_KEY && keyID <= MC_NWK_S_KEY_3 && ( keyID - MC_KEY_0 ) % 3 == 0 )
    {
        uint8_t group = ( uint8_t )( ( keyID - MC_KEY_0 ) / 3 );
        memcpy( Ferry.McKeyE[group], key, 16 );
        Ferry.McKeyESet[group] = true;
        Ferry.McSent[group] = false;
        return SECURE_ELEMENT_SUCCESS;
    }
    return SECURE_ELEMENT_ERROR_INVALID_KEY_ID;
}

SecureElementStatus_t SecureElementComputeAesCmac( uint8_t* micBxBuffer, uint8_t* buffer, uint16_t size,
                                                   KeyIdentifier_t keyID, uint32_t* cmac )
{
    uint8_t mic[4];
    uint16_t n = 0;
    SecureElementStatus_t st;
    if( buffer == NULL || cmac == NULL )
    {
        return SECURE_ELEMENT_ERROR_NPE;
    }
    if( micBxBuffer == NULL )
    {
        /* Join- and rejoin-requests: the element checks the frame names its
         * identity and that the nonce or counter has not been used, commits
         * it, and MICs with the key it holds. */
        if( keyID == NWK_KEY && size == 19 && buffer[0] == 0x00 )
        {
            st = Command( INS_JOIN_REQUEST, P_HOST_FRAME, 0, buffer, size, NULL, 0, mic, 4, &n );
        }
        else if( keyID == J_S_INT_KEY && size == 20 && buffer[0] == 0xC0 && buffer[1] == 0x01 )
        {
            st = Command( INS_REJOIN_REQUEST, 0x01, P_HOST_FRAME, buffer, size, NULL, 0, mic, 4, &n );
        }
        else if( keyID == S_NWK_S_INT_KEY && size == 15 && buffer[0] == 0xC0 &&
                 ( buffer[1] == 0x00 || buffer[1] == 0x02 ) )
        {
            st = Command( INS_REJOIN_REQUEST, buffer[1], P_HOST_FRAME, buffer, size, NULL, 0, mic, 4, &n );
        }
        else
        {
            return SECURE_ELEMENT_ERROR_INVALID_KEY_ID;   /* no CMAC under a root key over other input */
        }
    }
    else
    {
        uint8_t ek = ElementKey( keyID, true );
        if( ek == EK_NONE )
        {
            return SECURE_ELEMENT_ERROR_INVALID_KEY_ID;
        }
        if( micBxBuffer[0] != 0x49 || micBxBuffer[14] != 0x00 || micBxBuffer[15] != ( uint8_t )size )
        {
            return SECURE_ELEMENT_ERROR;   /* not a B0/B1 block for this message */
        }
        if( size + BLOCK_FIELDS > DATA_MAX )
        {
            return SECURE_ELEMENT_ERROR_BUF_SIZE;
        }
        st = Command( INS_KEYED_CMAC, ek, 0, micBxBuffer + 1, BLOCK_FIELDS, buffer, size, mic, 4, &n );
    }
    if( st == SECURE_ELEMENT_SUCCESS && n != 4 )
    {
        st = SECURE_ELEMENT_ERROR;
    }
    if( st == SECURE_ELEMENT_SUCCESS )
    {
        *cmac = ( uint32_t )mic[3] << 24 | ( uint32_t )mic[2] << 16 | ( uint32_t )mic[1] << 8 | mic[0];
    }
    return st;
}

SecureElementStatus_t SecureElementVerifyAesCmac( uint8_t* buffer, uint16_t size, uint32_t expectedCmac,
                                                  KeyIdentifier_t keyID )
{
    if( buffer == NULL )
    {
        return SECURE_ELEMENT_ERROR_NPE;
    }
    uint8_t ek = ElementKey( keyID, true );
    if( ek == EK_NONE )
    {
        return SECURE_ELEMENT_ERROR_INVALID_KEY_ID;
    }
    /* LoRaMac-node hands B0 and the message in one buffer. */
    if( size < 17 || buffer[0] != 0x49 || buffer[14] != 0x00 || buffer[15] != ( uint8_t )( size - 16 ) )
    {
        return SECURE_ELEMENT_ERROR;
    }
    uint16_t len = ( uint16_t )( size - 16 );
    if( len + BLOCK_FIELDS + 4 > DATA_MAX )
    {
        return SECURE_ELEMENT_ERROR_BUF_SIZE;
    }
    uint8_t data[DATA_MAX];
    memcpy( data, buffer + 1, BLOCK_FIELDS );
    memcpy( data + BLOCK_FIELDS, buffer + 16, len );
    data[BLOCK_FIELDS + len + 0] = ( uint8_t )expectedCmac;
    data[BLOCK_FIELDS + len + 1] = ( uint8_t )( expectedCmac >> 8 );
    data[BLOCK_FIELDS + len + 2] = ( uint8_t )( expectedCmac >> 16 );
    data[BLOCK_FIELDS + len + 3] = ( uint8_t )( expectedCmac >> 24 );
    return Command( INS_KEYED_CMAC, ek, P_VERIFY, data, ( uint16_t )( BLOCK_FIELDS + len + 4 ), NULL, 0, NULL, 0,
                    NULL );
}

SecureElementStatus_t SecureElementAesEncrypt( uint8_t* buffer, uint16_t size, KeyIdentifier_t keyID,
                                               uint8_t* encBuffer )
{
    if( buffer == NULL || encBuffer == NULL )
    {
        return SECURE_ELEMENT_ERROR_NPE;
    }
    if( size == 0 || ( size & 15 ) != 0 )
    {
        return SECURE_ELEMENT_ERROR_BUF_SIZE;
    }
    uint8_t ek = ElementKey( keyID, false );
    if( ek == EK_NONE )
    {
        return SECURE_ELEMENT_ERROR_INVALID_KEY_ID;   /* also SLOT_RAND_ZERO_KEY: no class B here */
    }
    for( uint16_t off = 0; off < size; off += 16 )
    {
        const uint8_t* a = buffer + off;
        uint16_t n = 0;
        if( a[0] != 0x01 || a[14] != 0x00 )
        {
            return SECURE_ELEMENT_ERROR;   /* only A blocks: the key stream of a frame */
        }
        SecureElementStatus_t st =
            Command( INS_KEY_STREAM, ek, a[15], a + 1, BLOCK_FIELDS, NULL, 0, encBuffer + off, 16, &n );
        if( st == SECURE_ELEMENT_SUCCESS && n != 16 )
        {
            st = SECURE_ELEMENT_ERROR;
        }
        if( st != SECURE_ELEMENT_SUCCESS )
        {
            return st;
        }
    }
    return SECURE_ELEMENT_SUCCESS;
}

/* The block LoRaMac-node uses to derive session key `target` from the last
 * join-accept (LoRaWAN 1.0.x and 1.1 key derivation), into block[16];
 * false for a key that is not a session key of that version. */
static bool SessionBlock( KeyIdentifier_t root, KeyIdentifier_t target, uint8_t block[16] )
{
    memset( block, 0, 16 );
    if( Ferry.Accepted11 )
    {
        switch( target )
        {
            case F_NWK_S_INT_KEY: block[0] = 0x01; break;
            case APP_S_KEY: block[0] = 0x02; break;
            case S_NWK_S_INT_KEY: block[0] = 0x03; break;
            case NWK_S_ENC_KEY: block[0] = 0x04; break;
            default: return false;
        }
        if( root != ( target == APP_S_KEY ? APP_KEY : NWK_KEY ) )
        {
            return false;
        }
        memcpy( block + 1, Ferry.JoinNonce, 3 );
        Reverse( block + 4, Ferry.AcceptJoinEui, 8 );
        block[12] = ( uint8_t )Ferry.AcceptNonce;
        block[13] = ( uint8_t )( Ferry.AcceptNonce >> 8 );
        return true;
    }
    switch( target )
    {
        case F_NWK_S_INT_KEY:
        case S_NWK_S_INT_KEY:
        case NWK_S_ENC_KEY: block[0] = 0x01; break;
        case APP_S_KEY: block[0] = 0x02; break;
        default: return false;
    }
    if( root != NWK_KEY )
    {
        return false;
    }
    memcpy( block + 1, Ferry.JoinNonce, 3 );
    memcpy( block + 4, Ferry.NetId, 3 );
    block[7] = ( uint8_t )Ferry.AcceptNonce;
    block[8] = ( uint8_t )( Ferry.AcceptNonce >> 8 );
    return true;
}

SecureElementStatus_t SecureElementDeriveAndStoreKey( uint8_t* input, KeyIdentifier_t rootKeyID,
                                                      KeyIdentifier_t targetKeyID )
{
    uint8_t want[16];
    if( input == NULL )
    {
        return SECURE_ELEMENT_ERROR_NPE;
    }
    /* JSIntKey / JSEncKey: derived inside the element from its NwkKey and
     * DevEUI whenever it needs them. */
    if( rootKeyID == NWK_KEY && ( targetKeyID == J_S_INT_KEY || targetKeyID == J_S_ENC_KEY ) )
    {
        memset( want, 0, sizeof( want ) );
        want[0] = ( targetKeyID == J_S_INT_KEY ) ? 0x06 : 0x05;
        Reverse( want + 1, Ferry.DevEui, 8 );
        return memcmp( want, input, 16 ) == 0 ? SECURE_ELEMENT_SUCCESS : SECURE_ELEMENT_ERROR;
    }
    /* McRootKey and McKEKey: the element derives them from its AppKey when
     * a McKey arrives; the block's first byte (0x20 for a 1.1 session) is
     * remembered for that. */
    if( rootKeyID == APP_KEY && targetKeyID == MC_ROOT_KEY )
    {
        if( ( input[0] != 0x00 && input[0] != 0x20 ) || !IsZero( input + 1, 15 ) )
        {
            return SECURE_ELEMENT_ERROR;
        }
        Ferry.McRootType = input[0];
        return SECURE_ELEMENT_SUCCESS;
    }
    if( rootKeyID == MC_ROOT_KEY && targetKeyID == MC_KE_KEY )
    {
        return IsZero( input, 16 ) ? SECURE_ELEMENT_SUCCESS : SECURE_ELEMENT_ERROR;
    }
    /* McAppSKey_i / McNwkSKey_i from McKey_i and McAddr: the element keeps
     * McAddr and derives the pair at each use. */
    if( rootKeyID > MC_KE_KEY && rootKeyID <= MC_NWK_S_KEY_3 && ( rootKeyID - MC_KEY_0 ) % 3 == 0 &&
        ( targetKeyID == rootKeyID + 1 || targetKeyID == rootKeyID + 2 ) )
    {
        uint8_t group = ( uint8_t )( ( rootKeyID - MC_KEY_0 ) / 3 );
        if( input[0] != ( uint8_t )( targetKeyID - rootKeyID ) || !IsZero( input + 5, 11 ) )
        {
            return SECURE_ELEMENT_ERROR;
        }
        uint32_t addr = ( uint32_t )input[1] | ( uint32_t )input[2] << 8 | ( uint32_t )input[3] << 16 |
                        ( uint32_t )input[4] << 24;
        if( Ferry.McSent[group] && Ferry.McSentAddr[group] == addr )
        {
            return SECURE_ELEMENT_SUCCESS;   /* the pair's second key: the element has the group */
        }
        if( !Ferry.McKeyESet[group] )
        {
            return SECURE_ELEMENT_ERROR;   /* no McKey since this driver started */
        }
        uint8_t be[4] = { input[4], input[3], input[2], input[1] };
        SecureElementStatus_t st =
            Command( INS_MC_SETUP, group, Ferry.McRootType, Ferry.McKeyE[group], 16, be, 4, NULL, 0, NULL );
        Ferry.McSent[group] = ( st == SECURE_ELEMENT_SUCCESS );
        Ferry.McSentAddr[group] = addr;
        return st;
    }
    /* Session keys: the element derived them when it took the join-accept. */
    if( !Ferry.Accepted )
    {
        return SECURE_ELEMENT_ERROR;
    }
    if( !SessionBlock( rootKeyID, targetKeyID, want ) )
    {
        return SECURE_ELEMENT_ERROR_INVALID_KEY_ID;
    }
    return memcmp( want, input, 16 ) == 0 ? SECURE_ELEMENT_SUCCESS : SECURE_ELEMENT_ERROR;
}

SecureElementStatus_t SecureElementProcessJoinAccept( JoinReqIdentifier_t joinReqType, uint8_t* joinEui,
                                                      uint16_t devNonce, uint8_t* encJoinAccept,
                                                      uint8_t encJoinAcceptSize, uint8_t* decJoinAccept,
                                                      uint8_t* versionMinor )
{
    uint16_t n = 0;
    if( joinEui == NULL || encJoinAccept == NULL || decJoinAccept == NULL || versionMinor == NULL )
    {
        return SECURE_ELEMENT_ERROR_NPE;
    }
    if( encJoinAcceptSize != 17 && encJoinAcceptSize != 33 )
    {
        return SECURE_ELEMENT_ERROR_BUF_SIZE;
    }
    (void)joinReqType;   /* the element answers the join or rejoin it MIC'd last */
    Ferry.Accepted = false;
    SecureElementStatus_t st = Command( INS_JOIN_ACCEPT, P_HOST_FRAME, 0, encJoinAccept, encJoinAcceptSize, NULL,
                                        0, decJoinAccept, encJoinAcceptSize, &n );
    if( st != SECURE_ELEMENT_SUCCESS )
    {
        return st;
    }
    if( n != encJoinAcceptSize )
    {
        return SECURE_ELEMENT_ERROR;
    }
    *versionMinor = ( decJoinAccept[11] & 0x80 ) ? 1 : 0;   /* DLSettings.OptNeg */
    Ferry.Accepted = true;
    Ferry.Accepted11 = *versionMinor == 1;
    memcpy( Ferry.JoinNonce, decJoinAccept + 1, 3 );
    memcpy( Ferry.NetId, decJoinAccept + 4, 3 );
    memcpy( Ferry.AcceptJoinEui, joinEui, 8 );
    Ferry.AcceptNonce = devNonce;
    return SECURE_ELEMENT_SUCCESS;
}

SecureElementStatus_t SecureElementSetDevEui( uint8_t* devEui )
{
    if( devEui == NULL )
    {
        return SECURE_ELEMENT_ERROR_NPE;
    }
    /* The DevEUI is the element's: only the same value is "set". */
    return memcmp( devEui, Ferry.DevEui, SE_EUI_SIZE ) == 0 ? SECURE_ELEMENT_SUCCESS : SECURE_ELEMENT_ERROR;
}

uint8_t* SecureElementGetDevEui( void )
{
    return Ferry.DevEui;
}

SecureElementStatus_t SecureElementSetJoinEui( uint8_t* joinEui )
{
    FerrySeInfo_t info;
    if( joinEui == NULL )
    {
        return SECURE_ELEMENT_ERROR_NPE;
    }
    /* The JoinEUI is the active profile's; after a profile switch the
     * element's answer is read again before refusing. */
    if( memcmp( joinEui, Ferry.JoinEui, SE_EUI_SIZE ) == 0 )
    {
        return SECURE_ELEMENT_SUCCESS;
    }
    SecureElementStatus_t st = FerrySeGetInfo( &info );
    if( st != SECURE_ELEMENT_SUCCESS )
    {
        return st;
    }
    return memcmp( joinEui, Ferry.JoinEui, SE_EUI_SIZE ) == 0 ? SECURE_ELEMENT_SUCCESS : SECURE_ELEMENT_ERROR;
}

uint8_t* SecureElementGetJoinEui( void )
{
    return Ferry.JoinEui;
}

/* The PIN (LoRa Cloud's join-server PIN) is no secret of the element: it
 * is kept in LoRaMac-node's own NVM block, as the stack persists it. */
SecureElementStatus_t SecureElementSetPin( uint8_t* pin )
{
    if( pin == NULL || Ferry.Nvm == NULL )
    {
        return SECURE_ELEMENT_ERROR_NPE;
    }
    memcpy( Ferry.Nvm->Pin, pin, SE_PIN_SIZE );
    return SECURE_ELEMENT_SUCCESS;
}

uint8_t* SecureElementGetPin( void )
{
    static uint8_t none[SE_PIN_SIZE];
    return Ferry.Nvm != NULL ? Ferry.Nvm->Pin : none;
}

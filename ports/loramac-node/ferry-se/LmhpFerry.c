/*
 * LmhpFerry.c - the LmHandler package of ferry's activation flow (see
 * LmhpFerry.h for what it does and how an application wires it).
 *
 * The package is driven by three things: the element's facts
 * (FerrySeGetInfo), read again whenever something may have changed them (a
 * downlink on FPort 200, the end of a join, a failed command), the MAC's
 * confirmations, and its own Process() on the application's main loop.
 * Process() does at most one thing per call, and only when the MAC is free:
 *
 *   1. the element is not joined, or on another profile than the stack's
 *      session, or the stack has no session: start a join (below);
 *   2. an element frame waits (taken from FerrySeMlsUplink but not yet
 *      accepted by the MAC): send it again;
 *   3. after an uplink or downlink: ask the element for its next frame on
 *      FPort 200 and send it.
 *
 * Starting a join resets, in the stack's NVM (MIB_NVM_CTXS, the same memory
 * LoRaMacCrypto works on), exactly what a profile switch requires:
 *   Crypto.DevNonce  = NextDevNonce - 1  (LoRaMacCrypto increments it before
 *                      each join-request; the element refuses any DevNonce
 *                      below its next one for that JoinEUI)
 *   Crypto.JoinNonce = LastJoinNonce     (of the element's active profile:
 *                      LoRaMacCrypto takes a JoinNonce different from it in
 *                      1.0.x, greater than it in 1.1, so the new Join
 *                      Server's first join-accept is taken)
 * and the MAC's session goes with the OTAA join request itself
 * (LoRaMacMlmeRequest(MLME_JOIN) resets the MAC parameters and the network
 * activation). The JoinEUI in the join-request is the element's:
 * FerrySeGetInfo refreshes what SecureElementGetJoinEui returns. The frame
 * counters and session keys are the element's and LoRaMacCrypto's concern
 * at the join-accept. Nothing else of the stack's state is touched.
 */
#include <string.h>

#include "LmhpFerry.h"
#include "LoRaMac.h"
#include "systime.h"
#include "timer.h"

#define SECURE_PENDING_FLAG 0x20   /* UNPROTECT DOWNLINK's flags: a secure command waits */
#define SECURE_CHUNK 240
#define FRAME_MAX 242

/* The package's state: a singleton, as LmHandler and every upstream package. */
static struct {
    bool initialized;
    LmhpFerryParams_t* params;
    FerrySeInfo_t info;
    bool infoValid;
    bool check;                  /* read the element's facts again */
    bool checkUplink;            /* ask the element for its next frame */
    bool joinPending;            /* a join procedure runs in the stack */
    bool joinRetryWait;          /* the stack refused to start one: wait for retryTimer */
    TimerEvent_t retryTimer;
    bool haveSession;            /* the stack's session is the element's, on sessionJoinEui/sessionSlot */
    uint8_t sessionJoinEui[8];
    uint8_t sessionSlot;
    bool seenProfile;            /* lastJoinEui/lastSlot hold the profile seen last */
    uint8_t lastJoinEui[8];
    uint8_t lastSlot;
    uint32_t lastTime;
    uint8_t frame[FRAME_MAX];    /* an element frame the MAC has not accepted yet */
    uint8_t frameSize;
    uint8_t secure[LMHP_FERRY_SECURE_MAX];
    LmhpFerryStats_t stats;
} F;

static void LmhpFerryInit( void* params, uint8_t* dataBuffer, uint8_t dataBufferMaxSize );
static bool LmhpFerryIsInitialized( void );
static bool LmhpFerryIsTxPending( void );
static void LmhpFerryProcess( void );
static void LmhpFerryOnMcpsConfirm( McpsConfirm_t* mcpsConfirm );
static void LmhpFerryOnMcpsIndication( McpsIndication_t* mcpsIndication );
static void LmhpFerryOnMlmeConfirm( MlmeConfirm_t* mlmeConfirm );

static LmhPackage_t LmhpFerryPackage = {
    .Port = FERRY_SE_MLS_FPORT,
    .Init = LmhpFerryInit,
    .IsInitialized = LmhpFerryIsInitialized,
    .IsTxPending = LmhpFerryIsTxPending,
    .Process = LmhpFerryProcess,
    .OnMcpsConfirmProcess = LmhpFerryOnMcpsConfirm,
    .OnMcpsIndicationProcess = LmhpFerryOnMcpsIndication,
    .OnMlmeConfirmProcess = LmhpFerryOnMlmeConfirm,
    .OnMlmeIndicationProcess = NULL,
    /* filled by LmhpFerryRegister, as LmHandlerPackageRegister does */
    .OnMacMcpsRequest = NULL,
    .OnMacMlmeRequest = NULL,
    .OnJoinRequest = NULL,
    .OnDeviceTimeRequest = NULL,
    .OnSysTimeUpdate = NULL,
};

LmhPackage_t* LmhpFerryPackageFactory( void )
{
    return &LmhpFerryPackage;
}

static void JoinThroughHandler( bool isOtaa )
{
    ( void )isOtaa;   /* the element's profiles are OTAA only */
    LmHandlerJoin( );
}

LmHandlerErrorStatus_t LmhpFerryRegister( LmhpFerryParams_t* params, uint8_t* dataBuffer, uint8_t dataBufferMaxSize )
{
    if( params == NULL )
    {
        return LORAMAC_HANDLER_ERROR;
    }
    LmhpFerryPackage.OnJoinRequest = JoinThroughHandler;
    LmhpFerryPackage.OnDeviceTimeRequest = LmHandlerDeviceTimeReq;
    LmhpFerryPackage.Init( params, dataBuffer, dataBufferMaxSize );
    return F.initialized ? LORAMAC_HANDLER_SUCCESS : LORAMAC_HANDLER_ERROR;
}

static void OnRetryTimer( void* context )
{
    ( void )context;
    F.joinRetryWait = false;
}

static void LmhpFerryInit( void* params, uint8_t* dataBuffer, uint8_t dataBufferMaxSize )
{
    /* The package keeps its own frame buffer: an element frame waiting for
     * the MAC must not share the application's buffer. */
    ( void )dataBuffer, ( void )dataBufferMaxSize;
    memset( &F, 0, sizeof( F ) );
    F.params = params;
    TimerInit( &F.retryTimer, OnRetryTimer );
    F.check = true;
    F.checkUplink = true;
    F.initialized = params != NULL;
}

static bool LmhpFerryIsInitialized( void )
{
    return F.initialized;
}

static void ReportError( const char* what, SecureElementStatus_t status )
{
    F.stats.ElementErrors++;
    if( ( F.params != NULL ) && ( F.params->OnError != NULL ) )
    {
        F.params->OnError( what, status );
    }
}

static bool StackJoined( void )
{
    return LmHandlerJoinStatus( ) == LORAMAC_HANDLER_SET;
}

static bool LmhpFerryIsTxPending( void )
{
    if( F.initialized == false )
    {
        return false;
    }
    return F.joinPending || F.joinRetryWait || F.check || F.checkUplink || ( F.frameSize > 0 ) ||
           ( StackJoined( ) == false ) || ( F.haveSession == false );
}

static void RetryLater( TimerTime_t waitMs )
{
    TimerStop( &F.retryTimer );
    TimerSetValue( &F.retryTimer, waitMs > LMHP_FERRY_JOIN_RETRY_MS ? waitMs : LMHP_FERRY_JOIN_RETRY_MS );
    TimerStart( &F.retryTimer );
    F.joinRetryWait = true;
}

/* Counts a change of profile (JoinEUI or slot) since the one seen last. */
static void NoteProfile( void )
{
    if( F.seenProfile &&
        ( ( memcmp( F.lastJoinEui, F.info.JoinEui, 8 ) != 0 ) || ( F.lastSlot != F.info.ActiveSlot ) ) )
    {
        F.stats.ProfileSwitches++;
        if( ( F.params != NULL ) && ( F.params->OnProfileSwitch != NULL ) )
        {
            F.params->OnProfileSwitch( &F.info );
        }
    }
    memcpy( F.lastJoinEui, F.info.JoinEui, 8 );
    F.lastSlot = F.info.ActiveSlot;
    F.seenProfile = true;
}

static void StartJoin( void )
{
    if( F.info.NextDevNonce > 0xFFFF )
    {
        /* Every DevNonce of this JoinEUI is spent: the element refuses
         * another join-request, and so the package does not send one. */
        ReportError( "no DevNonce left for the active profile's JoinEUI", SECURE_ELEMENT_ERROR );
        RetryLater( 60000 );
        F.check = true;
        return;
    }
    MibRequestConfirm_t mib;
    mib.Type = MIB_NVM_CTXS;
    if( LoRaMacMibGetRequestConfirm( &mib ) != LORAMAC_STATUS_OK )
    {
        RetryLater( LMHP_FERRY_JOIN_RETRY_MS );
        return;
    }
    LoRaMacNvmData_t* nvm = mib.Param.Contexts;
    nvm->Crypto.DevNonce = ( uint16_t )( F.info.NextDevNonce - 1 );
    nvm->Crypto.JoinNonce = F.info.LastJoinNonce;
    F.haveSession = false;
    F.frameSize = 0;   /* a frame of the old session goes nowhere now */
    F.joinPending = true;
    F.stats.Joins++;
    if( LmhpFerryPackage.OnJoinRequest != NULL )
    {
        LmhpFerryPackage.OnJoinRequest( true );
    }
    if( LoRaMacIsBusy( ) == false )
    {
        /* Not started: the duty cycle (join back-off) or the element refused
         * the join-request. Read the element again after the wait. */
        F.joinPending = false;
        F.stats.Joins--;
        F.check = true;
        RetryLater( LmHandlerGetDutyCycleWaitTime( ) );
    }
}

static void SendFrame( void )
{
    LmHandlerAppData_t appData = {
        .Port = FERRY_SE_MLS_FPORT,
        .BufferSize = F.frameSize,
        .Buffer = F.frame,
    };
    if( LmHandlerSend( &appData, LORAMAC_HANDLER_UNCONFIRMED_MSG ) == LORAMAC_HANDLER_SUCCESS )
    {
        F.stats.MlsUplinks++;
        F.frameSize = 0;
    }
}

static void AskElementUplink( void )
{
    LoRaMacTxInfo_t txInfo;
    uint8_t max = FRAME_MAX;
    if( LoRaMacQueryTxPossible( 0, &txInfo ) == LORAMAC_STATUS_OK )
    {
        max = txInfo.MaxPossibleApplicationDataSize < FRAME_MAX ? txInfo.MaxPossibleApplicationDataSize : FRAME_MAX;
    }
    uint8_t size = 0;
    SecureElementStatus_t st = FerrySeMlsUplink( max, F.frame, &size );
    if( st != SECURE_ELEMENT_SUCCESS )
    {
        ReportError( "FerrySeMlsUplink", st );
        return;
    }
    if( size > max )
    {
        ReportError( "FerrySeMlsUplink: a frame larger than asked for", SECURE_ELEMENT_ERROR );
        return;
    }
    F.frameSize = size;
    if( size > 0 )
    {
        SendFrame( );
    }
}

static void KeepElementClock( void )
{
    SysTime_t t = SysTimeGetMcuTime( );
    if( t.Seconds == F.lastTime )
    {
        return;
    }
    SecureElementStatus_t st = FerrySeSetTime( t.Seconds );
    if( st != SECURE_ELEMENT_SUCCESS )
    {
        ReportError( "FerrySeSetTime", st );
        return;
    }
    F.lastTime = t.Seconds;
}

static void LmhpFerryProcess( void )
{
    if( F.initialized == false )
    {
        return;
    }
    KeepElementClock( );
    if( LoRaMacIsBusy( ) || F.joinPending || F.joinRetryWait )
    {
        return;
    }
    if( F.check || ( F.infoValid == false ) )
    {
        SecureElementStatus_t st = FerrySeGetInfo( &F.info );
        if( st != SECURE_ELEMENT_SUCCESS )
        {
            ReportError( "FerrySeGetInfo", st );
            RetryLater( LMHP_FERRY_JOIN_RETRY_MS );
            return;
        }
        F.infoValid = true;
        F.check = false;
        NoteProfile( );
        if( StackJoined( ) && F.info.Joined && ( F.seenProfile ) && ( F.haveSession == false ) && ( F.stats.Joins == 0 ) )
        {
            /* At boot: the stack's NVM and the element both hold a session;
             * they were saved together, so they are the same one. */
            F.haveSession = true;
            memcpy( F.sessionJoinEui, F.info.JoinEui, 8 );
            F.sessionSlot = F.info.ActiveSlot;
        }
    }
    bool sameProfile = F.haveSession && ( memcmp( F.sessionJoinEui, F.info.JoinEui, 8 ) == 0 ) &&
                       ( F.sessionSlot == F.info.ActiveSlot );
    if( ( F.info.Joined == false ) || ( StackJoined( ) == false ) || ( sameProfile == false ) )
    {
        StartJoin( );
        return;
    }
    if( F.frameSize > 0 )
    {
        SendFrame( );
        return;
    }
    if( F.checkUplink )
    {
        F.checkUplink = false;
        AskElementUplink( );
    }
}

static void HandleSecureCommand( void )
{
    uint16_t len = 0;
    while( len < sizeof( F.secure ) )
    {
        uint16_t room = ( uint16_t )( sizeof( F.secure ) - len );
        uint8_t n = room < SECURE_CHUNK ? ( uint8_t )room : SECURE_CHUNK;
        SecureElementStatus_t st = FerrySeSecureGet( len, F.secure + len, &n );
        if( st != SECURE_ELEMENT_SUCCESS )
        {
            ReportError( "FerrySeSecureGet", st );
            memset( F.secure, 0, sizeof( F.secure ) );
            return;
        }
        if( n == 0 )
        {
            break;
        }
        len = ( uint16_t )( len + n );
    }
    uint8_t reply[SECURE_CHUNK];
    uint8_t replySize = 0;
    bool accept = false;
    if( ( F.params != NULL ) && ( F.params->OnSecureCommand != NULL ) )
    {
        accept = F.params->OnSecureCommand( F.secure, len, reply, sizeof( reply ), &replySize );
    }
    if( replySize > sizeof( reply ) )
    {
        accept = false;
    }
    SecureElementStatus_t st = FerrySeSecureReply( !accept, true, reply, accept ? replySize : 0 );
    memset( F.secure, 0, sizeof( F.secure ) );
    memset( reply, 0, sizeof( reply ) );
    if( st != SECURE_ELEMENT_SUCCESS )
    {
        ReportError( "FerrySeSecureReply", st );
        return;
    }
    F.stats.SecureCommands++;
}

static void OnDownlink( uint8_t port, const uint8_t* buffer, uint8_t size )
{
    if( ( port != FERRY_SE_MLS_FPORT ) || ( size == 0 ) || ( buffer == NULL ) )
    {
        return;
    }
    uint8_t flags = 0;
    SecureElementStatus_t st = FerrySeMlsDownlink( buffer, size, &flags );
    F.check = true;        /* the element may have switched profile */
    F.checkUplink = true;  /* and may have an answer */
    if( st != SECURE_ELEMENT_SUCCESS )
    {
        ReportError( "FerrySeMlsDownlink", st );
        return;
    }
    F.stats.MlsDownlinks++;
    if( ( flags & SECURE_PENDING_FLAG ) != 0 )
    {
        HandleSecureCommand( );
    }
}

static void LmhpFerryOnMcpsIndication( McpsIndication_t* mcpsIndication )
{
    if( ( F.initialized == false ) || ( mcpsIndication->Status != LORAMAC_EVENT_INFO_STATUS_OK ) ||
        ( mcpsIndication->RxData == false ) )
    {
        return;
    }
    OnDownlink( mcpsIndication->Port, mcpsIndication->Buffer, mcpsIndication->BufferSize );
}

/* After every uplink the element is read again: a profile switch can
 * complete as it protects a frame (once the answer to an INSTALL that
 * activates, or to an ACTIVATE, has left), with no downlink to tell. */
static void LmhpFerryOnMcpsConfirm( McpsConfirm_t* mcpsConfirm )
{
    ( void )mcpsConfirm;
    F.check = true;
    F.checkUplink = true;
}

static void OnJoinDone( bool joined )
{
    F.joinPending = false;
    F.check = true;
    if( joined )
    {
        /* The session is the one of the profile the join was started on; the
         * next Process reads the element again and compares. */
        F.haveSession = true;
        memcpy( F.sessionJoinEui, F.info.JoinEui, 8 );
        F.sessionSlot = F.info.ActiveSlot;
        F.checkUplink = true;
    }
    else
    {
        F.stats.JoinFailures++;
    }
}

static void LmhpFerryOnMlmeConfirm( MlmeConfirm_t* mlmeConfirm )
{
    if( ( F.initialized == false ) || ( mlmeConfirm->MlmeRequest != MLME_JOIN ) )
    {
        return;
    }
    OnJoinDone( mlmeConfirm->Status == LORAMAC_EVENT_INFO_STATUS_OK );
}

void LmhpFerryOnRxData( LmHandlerAppData_t* appData, LmHandlerRxParams_t* params )
{
    if( ( F.initialized == false ) || ( appData == NULL ) || ( params == NULL ) ||
        ( params->Status != LORAMAC_EVENT_INFO_STATUS_OK ) )
    {
        return;
    }
    OnDownlink( appData->Port, appData->Buffer, appData->BufferSize );
}

void LmhpFerryOnJoinRequest( LmHandlerJoinParams_t* params )
{
    if( ( F.initialized == false ) || ( params == NULL ) )
    {
        return;
    }
    OnJoinDone( params->Status == LORAMAC_HANDLER_SUCCESS );
}

void LmhpFerryOnTxData( LmHandlerTxParams_t* params )
{
    if( ( F.initialized == false ) || ( params == NULL ) || ( params->IsMcpsConfirm == 0 ) )
    {
        return;
    }
    F.check = true;
    F.checkUplink = true;
}

void LmhpFerryOnMacMcpsRequest( LoRaMacStatus_t status, McpsReq_t* mcpsReq, TimerTime_t nextTxDelay )
{
    ( void )mcpsReq, ( void )nextTxDelay;
    if( F.initialized && ( status == LORAMAC_STATUS_CRYPTO_ERROR ) )
    {
        F.check = true;
    }
}

void LmhpFerryGetInfo( FerrySeInfo_t* info )
{
    *info = F.info;
}

void LmhpFerryGetStats( LmhpFerryStats_t* stats )
{
    *stats = F.stats;
}

/*
 * LmhpFerry.h - the LmHandler package of ferry's activation flow, for
 * LoRaMac-node v4.7.0 applications whose secure element is ferry's
 * (ferry-se.c, ferry-se.h): an LmhPackage_t as upstream's LmhpClockSync is.
 *
 * What it does:
 *   - every downlink on FERRY_SE_MLS_FPORT (200) goes to the element
 *     (FerrySeMlsDownlink); a secure command the element hands up goes to
 *     the application's OnSecureCommand, whose answer goes back sealed by
 *     the element (FerrySeSecureReply);
 *   - it sends on FPort 200 what the element has to say (FerrySeMlsUplink:
 *     answers, acknowledgements, events) before the application's next
 *     uplink; the application's own uplinks wait while it has something;
 *   - it keeps the element's clock (FerrySeSetTime) from SysTimeGetMcuTime;
 *   - when the element switches profile (activation, renewal, transfer,
 *     return to bootstrap, fallback after a failed trial: FerrySeGetInfo()
 *     says Joined false, the JoinEUI may be another), it makes the stack
 *     join again with the element's JoinEUI, after resetting what the switch
 *     requires and nothing else: the stack's DevNonce (the next join-request
 *     carries the element's NextDevNonce for that JoinEUI), its stored
 *     JoinNonce (the new profile's LastJoinNonce, so the first join-accept of
 *     the new Join Server is taken in 1.0.x and 1.1), and its session (an
 *     OTAA join request resets the MAC's session and parameters). Each
 *     join-request is MICed by the element, which counts it towards its
 *     trial: when a trial profile is never answered the element falls back
 *     by itself, and the package sees another JoinEUI and joins on it.
 *
 * Wiring it into an application. LmHandler v4.7.0 registers only its four
 * built-in packages (LmHandlerPackageRegister's switch on PACKAGE_ID_*), and
 * its package table is private, so this package cannot be registered
 * through it without changing upstream. An application wires it instead:
 *
 *     LmhPackage_t *ferry = LmhpFerryPackageFactory( );
 *     LmhpFerryRegister( &ferryParams, appDataBuffer, sizeof( appDataBuffer ) );
 *     ...its LmHandlerCallbacks_t:
 *         OnRxData         -> also LmhpFerryOnRxData( appData, params )
 *         OnJoinRequest    -> also LmhpFerryOnJoinRequest( params )
 *         OnTxData         -> also LmhpFerryOnTxData( params )
 *         OnMacMcpsRequest -> also LmhpFerryOnMacMcpsRequest( status, mcpsReq, nextTxDelay )
 *     ...its main loop:
 *         LmHandlerProcess( );
 *         ferry->Process( );
 *         if( !ferry->IsTxPending( ) && !LmHandlerIsBusy( ) ) { its own uplink }
 *
 * ferry->IsTxPending() must be asked before LmHandlerIsBusy(): when the
 * stack is not joined, LmHandlerIsBusy() starts a join itself, and the join
 * after a profile switch is the package's to start (with the element's
 * DevNonce). docs/loramac-node.md walks through it.
 *
 * State: one static package, as upstream's packages (LmHandler is a
 * singleton and so is everything under it).
 */
#ifndef LMHP_FERRY_H
#define LMHP_FERRY_H

#include <stdbool.h>
#include <stdint.h>

#include "LmHandler.h"
#include "LmhPackage.h"
#include "ferry-se.h"

/* Largest secure command the package reads from the element for the application. */
#define LMHP_FERRY_SECURE_MAX 512
/* Least time between two attempts to start a join the stack refused (duty cycle, busy). */
#define LMHP_FERRY_JOIN_RETRY_MS 1000

typedef struct sLmhpFerryParams {
    /* A secure command for the application: cmd[size]. It writes its answer
     * in reply[replyMax] and its size in *replySize, and returns true to
     * accept the command, false to refuse it (the element seals either). May
     * be NULL: every secure command is then refused. */
    bool ( *OnSecureCommand )( const uint8_t* cmd, uint16_t size, uint8_t* reply, uint8_t replyMax,
                               uint8_t* replySize );
    /* The element switched profile; the stack is about to join on info's
     * JoinEUI. May be NULL. */
    void ( *OnProfileSwitch )( const FerrySeInfo_t* info );
    /* The element or its transport failed (a command answered with an
     * error): what failed. May be NULL. */
    void ( *OnError )( const char* what, SecureElementStatus_t status );
} LmhpFerryParams_t;

/* What the package did, for the application's reports. */
typedef struct sLmhpFerryStats {
    uint32_t MlsDownlinks;       /* FPort 200 downlinks the element took */
    uint32_t MlsUplinks;         /* FPort 200 uplinks sent for the element */
    uint32_t SecureCommands;     /* secure commands answered by the application */
    uint32_t ProfileSwitches;    /* JoinEUI changes seen (switch or fallback) */
    uint32_t Joins;              /* join procedures started by the package */
    uint32_t JoinFailures;       /* join procedures that ended without a join-accept */
    uint32_t ElementErrors;
} LmhpFerryStats_t;

LmhPackage_t* LmhpFerryPackageFactory( void );

/* What LmHandlerPackageRegister does for upstream's packages: fills the
 * package's LmHandler-side callbacks and runs its Init with `params` (kept
 * by pointer: it must outlive the package). */
LmHandlerErrorStatus_t LmhpFerryRegister( LmhpFerryParams_t* params, uint8_t* dataBuffer, uint8_t dataBufferMaxSize );

/* The application's LmHandler callbacks hand these on (see above). */
void LmhpFerryOnRxData( LmHandlerAppData_t* appData, LmHandlerRxParams_t* params );
void LmhpFerryOnJoinRequest( LmHandlerJoinParams_t* params );
void LmhpFerryOnTxData( LmHandlerTxParams_t* params );
/* An uplink the MAC refused to start: a crypto error means the element
 * refused to protect it (its session ended with a profile switch that it
 * completes when the next frame is asked of it), so the package reads the
 * element again before anything else is sent. */
void LmhpFerryOnMacMcpsRequest( LoRaMacStatus_t status, McpsReq_t* mcpsReq, TimerTime_t nextTxDelay );

/* The element's facts as the package last read them, and its counters. */
void LmhpFerryGetInfo( FerrySeInfo_t* info );
void LmhpFerryGetStats( LmhpFerryStats_t* stats );

#endif

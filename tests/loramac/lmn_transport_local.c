/*
 * lmn_transport_local.c - FerrySeTransportExchange to the ferry element
 * linked into the same program: se_boot over an image file
 * (src/sehost/se_nvm_file.c), then se_apdu_process for each APDU, exactly
 * the bytes a chip would see on its bus.
 */
#include <stdint.h>
#include <string.h>

#include "ferry-se-transport.h"
#include "lmn_transport.h"
#include "lorawan/lw_crypto.h"
#include "se/se.h"
#include "se/se_apdu.h"
#include "sehost/se_nvm_file.h"

/* The element of the program (the transport API has no context). */
static struct {
    bool open;
    se_nvm_file file;
    se_nvm nvm;
    se element;
} Local;

int lmn_transport_local_open( const char* imagePath )
{
    if( imagePath == NULL || Local.open )
    {
        return -1;
    }
    memset( &Local, 0, sizeof( Local ) );
    if( se_nvm_file_open( &Local.file, imagePath, 0, &Local.nvm ) != SE_OK )
    {
        return -1;
    }
    if( se_boot( &Local.element, &Local.nvm, lw_crypto_compact( ) ) != SE_OK )
    {
        se_nvm_file_close( &Local.file );
        return -1;
    }
    Local.open = true;
    return 0;
}

void lmn_transport_close( void )
{
    if( Local.open )
    {
        se_nvm_file_close( &Local.file );
    }
    memset( &Local, 0, sizeof( Local ) );
}

int FerrySeTransportExchange( const uint8_t* apdu, uint16_t apduSize, uint8_t* resp, uint16_t respCap,
                              uint16_t* respSize )
{
    size_t n = 0;
    if( !Local.open || apdu == NULL || resp == NULL || respSize == NULL )
    {
        return -1;
    }
    /* The element's verdict is in the status word; only a missing answer
     * is a transport failure. */
    ( void )se_apdu_process( &Local.element, apdu, apduSize, resp, respCap, &n );
    if( n < 2 )
    {
        return -1;
    }
    *respSize = ( uint16_t )n;
    return 0;
}

/*
 * lmn_transport_socket.c - FerrySeTransportExchange over a Unix socket to
 * `ferry se serve`: each APDU and each response is a 2-byte big-endian
 * length followed by its bytes (docs/se-commands.md, "The emulator").
 * Deliberately independent of ferry's se_client: this is what a board's
 * transport looks like, written against the documented framing alone.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ferry-se-transport.h"
#include "lmn_transport.h"

/* The one connection of the program (the transport API has no context). */
static int SocketFd = -1;

static int WriteAll( const uint8_t* p, size_t n )
{
    while( n > 0 )
    {
        ssize_t w = write( SocketFd, p, n );
        if( w < 0 && errno == EINTR )
        {
            continue;
        }
        if( w <= 0 )
        {
            return -1;
        }
        p += w;
        n -= ( size_t )w;
    }
    return 0;
}

static int ReadAll( uint8_t* p, size_t n )
{
    while( n > 0 )
    {
        ssize_t r = read( SocketFd, p, n );
        if( r < 0 && errno == EINTR )
        {
            continue;
        }
        if( r <= 0 )
        {
            return -1;
        }
        p += r;
        n -= ( size_t )r;
    }
    return 0;
}

int lmn_transport_socket_open( const char* path )
{
    struct sockaddr_un addr;
    memset( &addr, 0, sizeof( addr ) );
    addr.sun_family = AF_UNIX;
    if( path == NULL || strlen( path ) >= sizeof( addr.sun_path ) || SocketFd >= 0 )
    {
        return -1;
    }
    memcpy( addr.sun_path, path, strlen( path ) );
    int fd = socket( AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0 );
    if( fd < 0 )
    {
        return -1;
    }
    if( connect( fd, ( struct sockaddr* )&addr, sizeof( addr ) ) != 0 )
    {
        close( fd );
        return -1;
    }
    SocketFd = fd;
    return 0;
}

void lmn_transport_close( void )
{
    if( SocketFd >= 0 )
    {
        close( SocketFd );
    }
    SocketFd = -1;
}

int FerrySeTransportExchange( const uint8_t* apdu, uint16_t apduSize, uint8_t* resp, uint16_t respCap,
                              uint16_t* respSize )
{
    uint8_t hdr[2] = { ( uint8_t )( apduSize >> 8 ), ( uint8_t )apduSize };
    if( SocketFd < 0 || apdu == NULL || resp == NULL || respSize == NULL )
    {
        return -1;
    }
    if( WriteAll( hdr, 2 ) != 0 || WriteAll( apdu, apduSize ) != 0 || ReadAll( hdr, 2 ) != 0 )
    {
        return -1;
    }
    uint16_t n = ( uint16_t )( hdr[0] << 8 | hdr[1] );
    if( n < 2 || n > respCap || ReadAll( resp, n ) != 0 )
    {
        return -1;
    }
    *respSize = n;
    return 0;
}

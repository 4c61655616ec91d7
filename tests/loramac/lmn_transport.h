/*
 * lmn_transport.h - the two transports ferry's tests give the LoRaMac-node
 * driver (ports/loramac-node/ferry-se/ferry-se-transport.h): a Unix socket
 * to `ferry se serve` (lmn_transport_socket.c) or the element linked into
 * the same process over an image file (lmn_transport_local.c). A program
 * links exactly one of them; each keeps one connection, the singleton the
 * transport function's signature forces.
 */
#ifndef LMN_TRANSPORT_H
#define LMN_TRANSPORT_H

int lmn_transport_socket_open( const char* path );            /* 0 or -1 */
int lmn_transport_local_open( const char* imagePath );        /* 0 or -1 */
void lmn_transport_close( void );

#endif

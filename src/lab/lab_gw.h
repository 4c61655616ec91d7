/*
 * lab_gw.h - a simulated gateway: the packet-forwarder side of lab_udp.h
 * over a real UDP socket, so that the lab's devices (and the tests) reach a
 * network server exactly as a Semtech packet forwarder would, and a real
 * forwarder can stand in for this one.
 *
 * One gateway is one connected UDP socket and one EUI. Radio time is
 * simulated: the gateway does not wait for txpk.tmst, it hands the
 * downlink to its caller at once with the tmst it was asked for.
 */
#ifndef FERRY_LAB_GW_H
#define FERRY_LAB_GW_H

#include <stdbool.h>
#include <stdint.h>
#include "lab/lab_udp.h"

#define LAB_GW_PENDING 64

/* What a PULL_RESP carried (lab_udp.h): a downlink, or one of the
 * simulated clock's notices (only the tmst of the uplink is set). */
typedef enum lab_gw_down_kind {
    LAB_GW_DOWNLINK,
    LAB_GW_NONE,                 /* no downlink for that uplink */
    LAB_GW_WAIT,                 /* an answer may come later, from another network */
} lab_gw_down_kind;

typedef struct lab_gw {
    int fd;
    uint64_t eui;
    uint16_t token;
    size_t head, pending;               /* PULL_RESPs received, not yet taken (a ring) */
    lab_txpk down[LAB_GW_PENDING];
    uint16_t down_token[LAB_GW_PENDING];
    lab_gw_down_kind down_kind[LAB_GW_PENDING];
    bool defer_ack;                     /* the caller answers each PULL_RESP (lab_gw_tx_ack): the
                                           simulated clock's gateway checks its duty cycle first */
    uint32_t push_sent, push_acked;     /* PUSH_DATA sent, PUSH_ACKs seen */
    uint32_t down_refused;              /* PULL_RESPs answered with an error (unreadable, or the queue full) */
} lab_gw;

/* Opens a socket connected to the NS at "ADDR:PORT" (numeric). */
lab_status lab_gw_open(lab_gw *gw, const char *ns_addr, uint64_t eui) LAB_MUST_CHECK;
void lab_gw_close(lab_gw *gw);
/* PULL_DATA, then waits for its PULL_ACK. LAB_ERR_IO on timeout. */
lab_status lab_gw_pull(lab_gw *gw, int timeout_ms) LAB_MUST_CHECK;
/* PUSH_DATA with one rxpk, then waits for its PUSH_ACK. */
lab_status lab_gw_push(lab_gw *gw, const lab_rxpk *pk, int timeout_ms) LAB_MUST_CHECK;
/* PUSH_DATA with one rxpk, without waiting for its PUSH_ACK: a packet
 * forwarder goes on forwarding when its network server is slow to answer.
 * The ack is counted when lab_gw_read() sees it. */
lab_status lab_gw_send_push(lab_gw *gw, const lab_rxpk *pk) LAB_MUST_CHECK;
/* PULL_DATA without waiting for its PULL_ACK: the forwarder's keepalive,
 * which also tells a restarted network server where the gateway is. */
lab_status lab_gw_send_pull(lab_gw *gw) LAB_MUST_CHECK;
/* Reads every datagram the socket holds now, without blocking: PULL_RESPs
 * answered with TX_ACK and queued, PUSH_ACKs counted. */
void lab_gw_read(lab_gw *gw);
/* The same, but leaves datagrams in the socket once the queue is full
 * (the simulated clock takes every answer; none is refused for room). */
void lab_gw_read_room(lab_gw *gw);
/* Takes the oldest queued downlink; false when there is none. */
bool lab_gw_take_down(lab_gw *gw, lab_txpk *out);
/* The same, for the simulated clock: *token is the PULL_RESP's (for
 * lab_gw_tx_ack), *kind whether it is a downlink or a notice. */
bool lab_gw_take(lab_gw *gw, lab_txpk *out, uint16_t *token, lab_gw_down_kind *kind);
/* TX_ACK for a PULL_RESP taken under defer_ack: error "NONE" (sent) or a
 * reason ("DUTY_CYCLE", "COLLISION_PACKET", ...). */
lab_status lab_gw_tx_ack(lab_gw *gw, uint16_t token, const char *error) LAB_MUST_CHECK;
/* Waits for a PULL_RESP (or takes one received earlier), answers TX_ACK
 * "NONE" and returns its txpk. LAB_ERR_IO on timeout. */
lab_status lab_gw_wait_down(lab_gw *gw, int timeout_ms, lab_txpk *out) LAB_MUST_CHECK;

/* "ADDR:PORT" or "[V6]:PORT" into a sockaddr (for lab_gw and lab_ns_http). */
struct sockaddr_storage;
lab_status lab_addr_parse(const char *text, struct sockaddr_storage *out, unsigned *len) LAB_MUST_CHECK;

#endif

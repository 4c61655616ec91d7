/*
 * lab.h - the lab layer in one include: the pieces that make ferry run end
 * to end on one machine (docs/lab-ns.md).
 *
 *   lab_status.h   the status enum and lab_strerror()
 *   lab_udp.h      Semtech UDP packet-forwarder protocol v2 codec (pure)
 *   lab_gw.h       a simulated gateway over a UDP socket
 *   lab_region.h   EU868 data rates, payload sizes, channels
 *   lab_bi.h       the NS side of the Backend Interfaces (JoinReq out, JoinAns in)
 *   lab_ns_mac.h   uplink MAC commands and their answers
 *   lab_ns.h       the network server engine (pure over injected I/O) and its config
 *   lab_ns_http.h  the network server process: UDP, NS-AS HTTP, libcurl
 */
#ifndef FERRY_LAB_H
#define FERRY_LAB_H

#include "lab/lab_status.h"
#include "lab/lab_udp.h"
#include "lab/lab_gw.h"
#include "lab/lab_region.h"
#include "lab/lab_bi.h"
#include "lab/lab_ns_mac.h"
#include "lab/lab_ns.h"
#include "lab/lab_ns_http.h"

#endif

/*
 * lmn_lab.h - ferry's lab board for LoRaMac-node v4.7.0 on the host: what
 * the board files of this folder share with lmn_node.c, the program that
 * runs one LoRaMac-node device (upstream's unmodified src/mac, region EU868
 * and LmHandler, built in place from LORAMAC_NODE_DIR) on the lab's radio.
 *
 *   lmn_clock.c   the RTC under upstream's timer.c and systime.c: the lab's
 *                 clock (wall time plus the idle time skipped, see below)
 *   lmn_radio.c   upstream's `Radio` driver interface on the lab's radio:
 *                 frames go to the lab's network servers through ferry's
 *                 packet-forwarder gateways (src/lab/lab_gw.h), downlinks are
 *                 heard only in the receive windows the MAC opens
 *   lmn_nvm.c     upstream's NvmDataMgmt API (what LmHandler calls) over one
 *                 file holding the stack's LoRaMacNvmData_t groups
 *
 * One device per process. LoRaMac-node is a singleton (LoRaMac.c keeps its
 * context in file-scope statics, the radio is the global `Radio` struct,
 * LmHandler and timer.c keep theirs too), so the board's state here is a
 * singleton as well: the exception to ferry's "no global mutable state"
 * that upstream's API forces. Each file says which statics it holds.
 *
 * Time. The lab's network servers answer in wall time (they must send before
 * the uplink's RX1 opens, counted from when they heard it), so while the MAC
 * waits for its receive windows the clock is wall time. When the device is
 * idle until a timer far away (a duty-cycle or join back-off, the
 * application's next uplink), the clock jumps to it instead of sleeping: as
 * ferry's own lab devices (src/lab/lab_dev.h), the spec's back-offs cost
 * simulated time, not wall time. The gateways' concentrator counter (tmst)
 * is this clock in microseconds, so a downlink's tmst names the device's
 * window exactly.
 */
#ifndef FERRY_LMN_LAB_H
#define FERRY_LMN_LAB_H

#include <stdbool.h>
#include <stdint.h>

#define LMN_NETWORKS 8

/* ---- lmn_clock.c ---- */

/* Starts the clock (monotonic wall time, nothing skipped). */
void lmn_clock_init(void);
/* The lab's clock in milliseconds since lmn_clock_init. */
uint64_t lmn_clock_ms(void);
/* Runs upstream's TimerIrqHandler when the RTC alarm is due. True when it ran. */
bool lmn_clock_service(void);
/* Milliseconds until the RTC alarm (-1: none set). */
int64_t lmn_clock_until_alarm(void);
/* Jumps the clock forward by `ms` (idle time not waited). */
void lmn_clock_skip(uint64_t ms);
/* Simulated milliseconds skipped so far. */
uint64_t lmn_clock_skipped_ms(void);

/* ---- lmn_radio.c ---- */

typedef struct lmn_radio_config {
    char ns_addr[LMN_NETWORKS][64];  /* each network's packet-forwarder address, "ADDR:PORT" */
    char name[LMN_NETWORKS][32];
    unsigned n_net;
    uint32_t in_range;               /* bit i: network i hears the device */
    double loss_up, loss_down;       /* probability that a frame is lost (each way) */
    uint64_t gw_eui_base;            /* gateway i's EUI is base + i */
    uint32_t seed;                   /* loss draws and Radio.Random */
    int window_margin_ms;            /* wall time a window stays open past its start */
} lmn_radio_config;

typedef struct lmn_radio_stats {
    uint32_t sent, lost_up, heard, lost_down, missed, rx1, rx2;
    uint32_t push_failed, keepalive_failed;   /* datagrams the gateways could not send */
    uint32_t join_accepts;       /* of the frames heard, join-accepts (MType 001): handed to the MAC,
                                    whether or not it takes them */
} lmn_radio_stats;

/* Opens one gateway per network (lab_gw) and says hello (PULL_DATA). 0 or -1. */
int lmn_radio_open(const lmn_radio_config *cfg);
void lmn_radio_close(void);
/* Switches network i off or on (its gateway then hears nothing). */
void lmn_radio_set_down(unsigned i, bool down);
/* Reads what the gateways received, keeps the forwarders' keepalives, and
 * ends or fills the open receive window. Call from the main loop. */
void lmn_radio_service(void);
/* The gateways' sockets, for poll(): fills fds[cap], returns how many. */
unsigned lmn_radio_fds(int *fds, unsigned cap);
/* True while the MAC waits for the windows of its last frame: the clock
 * must then run in wall time. */
bool lmn_radio_awaiting(void);
/* Milliseconds until the open window closes or the next keepalive (-1: none). */
int64_t lmn_radio_until_event(void);
void lmn_radio_stats_get(lmn_radio_stats *out);

/* ---- lmn_nvm.c ---- */

/* The file the stack's NVM lives in (set before LmHandlerInit). */
void lmn_nvm_set_path(const char *path);

#endif

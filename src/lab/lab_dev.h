/*
 * lab_dev.h - the lab's simulated devices: an emulated secure element (an
 * image from `ferry hsa personalise`, run in this process) under a class A
 * LoRaWAN device stack that reaches keys only through the element, and the
 * simulated radio between the devices and the networks' gateways.
 *
 *   lab_dev      one device: its element, its data rate, what it did
 *   lab_air      the radio: which networks hear the devices, the loss
 *                rate both ways, and the simulated clock
 *   lab_fleet    many devices run by a pool of workers; each worker owns
 *                one simulated packet-forwarder gateway per network
 *                (lab_gw.h), so that a downlink comes back on the socket of
 *                the gateway that heard its uplink, as with real radios
 *
 * Time. The network server answers in wall time, as a real one does: it
 * has until the uplink's RX1 (RX2) opens, counted from when it heard the
 * uplink, to send the downlink, and names the window by the gateway's
 * concentrator time (txpk.tmst = the uplink's tmst + RX1 delay, or + 1 s
 * more for RX2). So a device waits, in wall time, until its RX2 would have
 * closed; what does not cost wall time is the air: the gateway's tmst is a
 * simulated clock, a downlink is handed over as soon as it arrives, and the
 * spec's join back-off (LoRaWAN L2 1.0.4 §7, retransmission back-off) and
 * time on air are kept as simulated seconds per device (`radio_s`).
 *
 * Receive windows. A device hears a downlink only in a window it opened:
 * RX1 at the uplink's tmst + RX1 delay (JOIN_ACCEPT_DELAY1 for a join, the
 * join-accept's RxDelay after it) on the uplink's channel at its data rate
 * minus the join-accept's RX1DROffset; RX2 one second later on 869.525 MHz
 * at the join-accept's RX2 data rate (DR0 before a join). A downlink at any
 * other time, frequency or data rate is not heard (counted as missed).
 *
 * Simulated time (air.clock = LAB_CLOCK_SIMULATED; docs/lab-ns.md,
 * "Simulated time"). The devices are spread over `gateways` cells, each
 * with one gateway per network; each worker runs the cells it owns as a
 * discrete-event simulation whose clock is the gateways' tmst. Uplinks take
 * their time on air (lab_radio.h) after the device's own duty cycle allows
 * them, collide on a channel and SF, go unheard by a gateway that is
 * transmitting; a gateway refuses a downlink its duty cycle or its one
 * transmitter cannot carry (TX_ACK "DUTY_CYCLE" / "COLLISION_PACKET"), and
 * the NS, which under the simulated clock always aims at RX1, retries RX2
 * or says "no downlink". The clock never passes the RX1 of an exchange whose
 * network has not answered yet (a downlink or a notice), so what the real
 * servers do, however long it takes them in wall time, lands at the right
 * simulated moment; everything else runs as fast as the CPU allows.
 *
 * Many exchanges at once. Each worker keeps up to `in_flight` devices
 * waiting on their windows at a time and serves whichever downlink comes
 * first, so devices waiting for an RX2 that stays silent cost no worker.
 *
 * A device step is one class A exchange: a join-request, or an uplink (the
 * element's next MLS frame on FPort 200 if it has one, else an application
 * frame on FPort 1), then the downlink of its receive windows if any. When
 * the element switches profile (an MLS INSTALL that activates, ACTIVATE,
 * RENEW or BOOTSTRAP) it drops its session, and the device joins again on
 * the new profile; when a trial profile is never answered, the element
 * falls back by itself after its policy's join attempts, and the device
 * joins on what it fell back to.
 *
 * Losing the network. A device whose network stops answering (the network
 * server lost its session, or it is gone) must not send into the void for
 * ever: after LAB_DEV_SILENT_BEFORE_CHECK data uplinks in a row without a
 * downlink its uplinks carry a LinkCheckReq, and after
 * LAB_DEV_CHECKS_BEFORE_REJOIN of those unanswered in a row it joins again,
 * as applications on LoRaMac-node do with LmHandlerLinkCheckReq.
 *
 * The device's own memory. Beside the element's image the device keeps
 * what its MAC learned from the join-accept (RX1 delay, RX1DROffset, RX2
 * data rate) in IMAGE.mac, written with the image, as a real stack keeps it
 * in its own NVM. A device whose element has a session but whose MAC state
 * is missing or belongs to another session joins again rather than listen
 * in the wrong windows.
 */
#ifndef FERRY_LAB_DEV_H
#define FERRY_LAB_DEV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include "lab/lab_gw.h"
#include "lab/lab_radio.h"
#include "lab/lab_status.h"
#include "se/se.h"
#include "sehost/se_nvm_ram.h"

#define LAB_AIR_NETWORKS 8
#define LAB_DEV_NAME_MAX 32
#define LAB_DEV_SILENT_BEFORE_CHECK 8
#define LAB_DEV_CHECKS_BEFORE_REJOIN 3

/* One network the simulated radio reaches: its NS's packet-forwarder port. */
typedef struct lab_air_network {
    char name[LAB_DEV_NAME_MAX];
    char ns_addr[64];            /* "127.0.0.1:1700" */
    bool down;                   /* switched off: its gateways hear nothing */
} lab_air_network;

typedef struct lab_air {
    lab_air_network net[LAB_AIR_NETWORKS];
    size_t n_net;
    double loss_up;              /* probability that an uplink is lost (per network) */
    double loss_down;            /* probability that a downlink is lost */
    unsigned in_flight;          /* exchanges each worker has open at once (default 32) */
    int window_margin_ms;        /* wall time past RX2 a device still listens (default 300):
                                    the NS's PULL_RESP travels over loopback, not the air;
                                    simulated clock: how long an exchange waits, in wall time,
                                    for an answer its NS does not announce (a roamed uplink) */
    lab_clock clock;             /* wall (default) or simulated (below) */
    unsigned gateways;           /* simulated: cells, each with one gateway per network
                                    (default: one per worker) */
    double start_spread_s;       /* simulated: a run's devices start uniformly over this many
                                    simulated seconds (default 1) */
} lab_air;

typedef struct lab_dev_stats {
    uint32_t join_requests, joins, uplinks, mls_uplinks, downlinks, mls_downlinks;
    uint32_t lost_up, lost_down, secure_commands;
    uint32_t rx1, rx2;           /* downlinks heard in each window */
    uint32_t link_checks;        /* uplinks that carried a LinkCheckReq */
    uint32_t rejoins;            /* joins begun because the network stopped answering
                                    or the MAC state was lost */
    double radio_s;              /* simulated air and back-off time */
    double se_cpu_s;             /* CPU time (of the worker thread) spent inside the element's calls */
    double sim_s;                /* simulated clock: when its last exchange ended */
} lab_dev_stats;

typedef struct lab_dev {
    se e;
    se_nvm_ram flash;            /* the element's memory (RAM; written back by lab_dev_save) */
    se_nvm nvm;
    char path[512];
    uint64_t dev_eui;
    uint8_t dr;                  /* EU868 data rate of its uplinks (0..5) */
    uint32_t in_range;           /* bit i: network i hears this device */
    unsigned join_failures;      /* consecutive join-requests without an accept */
    uint64_t joined_join_eui;    /* JoinEUI of the current session (0: none) */
    uint8_t rx1_dr_offset;       /* from the join-accept's DLSettings */
    uint8_t rx2_dr;
    uint8_t rx_delay_s;          /* RX1 delay of data frames (RxDelay, 0 read as 1) */
    uint32_t mac_dev_addr;       /* the session the three above belong to */
    bool mac_known;              /* they are set: from a join-accept or IMAGE.mac */
    bool must_join;              /* the next exchange is a join-request, session or not */
    unsigned silent_uplinks;     /* data uplinks in a row without a downlink */
    unsigned checks_unanswered;  /* of those, uplinks that carried a LinkCheckReq */
    lab_dev_stats st;
    uint8_t last_secure[64];     /* the last secure command the application got */
    size_t last_secure_len;
    uint32_t rng;                /* per-device loss draws */
    lab_dc dc;                   /* simulated clock: its own duty cycle per sub-band */
    uint64_t next_us;            /* simulated clock: when it may start its next exchange */
    pthread_mutex_t lock;        /* one worker at a time */
} lab_dev;

/* Loads the element image at `path` into RAM and boots it, and the
 * device's MAC state from `path`.mac when it belongs to the element's
 * session (otherwise the device joins first). */
lab_status lab_dev_open(lab_dev *d, const char *path, uint8_t dr, uint32_t in_range, uint32_t seed) LAB_MUST_CHECK;
/* Writes the element's memory back to its image file, then the MAC state
 * to `path`.mac (each atomically). */
lab_status lab_dev_save(lab_dev *d) LAB_MUST_CHECK;
void lab_dev_close(lab_dev *d);

/* The element's view (se_get_info). */
lab_status lab_dev_info(lab_dev *d, se_info *out) LAB_MUST_CHECK;

/* ---- the fleet ---- */

typedef struct lab_fleet lab_fleet;

/* A fleet over `air` (copied; networks can be switched off later) run by
 * `workers` threads, each with one gateway per network (EUIs from
 * gw_eui_base). */
lab_status lab_fleet_new(const lab_air *air, unsigned workers, uint64_t gw_eui_base, lab_fleet **out) LAB_MUST_CHECK;
void lab_fleet_free(lab_fleet *f);

/* Adds a device (the fleet keeps the pointer; the caller owns it). */
lab_status lab_fleet_add(lab_fleet *f, lab_dev *d) LAB_MUST_CHECK;

/* What the fleet's gateways saw, over its whole life. */
typedef struct lab_fleet_counters {
    uint64_t push_sent, push_acked;   /* PUSH_DATA and PUSH_ACK */
    uint64_t down_received;           /* PULL_RESPs */
    uint64_t down_missed;             /* ... in no open receive window of a device that the uplink's gateway heard */
    uint64_t down_refused;            /* ... answered with a TX_ACK error */
    uint64_t exchanges;               /* class A exchanges ended */
    uint64_t keepalive_failed;        /* PULL_DATA keepalives that could not be sent */
    uint32_t in_flight_max;           /* most exchanges open at once in one worker */
    /* simulated clock */
    double sim_s;                     /* the simulated clock (the latest cell's) */
    double air_up_s, air_down_s;      /* time on air of the uplinks sent, the downlinks sent */
    uint64_t no_downlink;             /* "no downlink" notices from the network servers */
    uint64_t dc_refused;              /* downlinks a gateway refused: its sub-band's duty cycle */
    uint64_t tx_busy;                 /* ... refused: the gateway already transmitting then */
    uint64_t collisions;              /* uplink copies lost to a collision (per gateway) */
    uint64_t deaf;                    /* uplink copies lost while the gateway transmitted */
    uint64_t medium_full;             /* frames not put on a full medium (LAB_MEDIUM_MAX) */
    uint64_t answers_late;            /* exchanges whose NS did not answer within 3 s of wall time
                                         (a roamed one waits window_margin_ms and is not counted) */
    uint64_t tx_ack_failed;           /* TX_ACKs that could not be sent */
} lab_fleet_counters;

void lab_fleet_counters_get(lab_fleet *f, lab_fleet_counters *out);

/* Switches network `i` on or off (its gateways then hear nothing). */
void lab_fleet_set_down(lab_fleet *f, size_t i, bool down);

/* Runs steps on every device for which want(d, ctx) is true, round robin
 * over the workers, until want() is false for all of them, or `max_steps`
 * steps per device, or `seconds` of wall time. *done gets the number of
 * devices for which want() ended false. */
lab_status lab_fleet_run(lab_fleet *f, bool (*want)(lab_dev *d, void *ctx), void *ctx, unsigned max_steps,
                         double seconds, size_t *done) LAB_MUST_CHECK;

#endif

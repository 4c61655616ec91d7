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
 * Radio time is simulated: nobody waits for RX1 or a duty-cycle back-off
 * in wall time. The spec's join back-off (LoRaWAN L2 1.0.4 §7, retransmission
 * back-off) is kept as simulated seconds per device (`radio_s`) and
 * reported; a device's next attempt only waits for the network's answer.
 *
 * A device step is one class A exchange: a join-request, or an uplink (the
 * element's next MLS frame on FPort 200 if it has one, else an application
 * frame on FPort 1), then the downlink of its receive windows if any. When
 * the element switches profile (an MLS ACTIVATE, RENEW or BOOTSTRAP) it
 * drops its session, and the device joins again on the new profile; when a
 * trial profile is never answered, the element falls back by itself after
 * its policy's join attempts, and the device joins on what it fell back to.
 */
#ifndef FERRY_LAB_DEV_H
#define FERRY_LAB_DEV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include "lab/lab_gw.h"
#include "lab/lab_status.h"
#include "se/se.h"

#define LAB_AIR_NETWORKS 8
#define LAB_DEV_NAME_MAX 32

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
    int join_wait_ms;            /* wall time to wait for a join-accept (default 4000) */
    int data_wait_ms;            /* ... for a data downlink (default 1500) */
} lab_air;

typedef struct lab_dev_stats {
    uint32_t join_requests, joins, uplinks, mls_uplinks, downlinks, mls_downlinks;
    uint32_t lost_up, lost_down, secure_commands;
    double radio_s;              /* simulated air and back-off time */
    double se_cpu_s;             /* CPU time (of the worker thread) spent inside the element's calls */
} lab_dev_stats;

typedef struct lab_dev {
    se e;
    uint8_t image[2 * SE_NVM_BANK_SIZE];  /* the element's memory (RAM; written back by lab_dev_save) */
    se_nvm nvm;
    char path[512];
    uint64_t dev_eui;
    uint8_t dr;                  /* EU868 data rate of its uplinks (0..5) */
    uint32_t in_range;           /* bit i: network i hears this device */
    unsigned join_failures;      /* consecutive join-requests without an accept */
    uint64_t joined_join_eui;    /* JoinEUI of the current session (0: none) */
    lab_dev_stats st;
    uint8_t last_secure[64];     /* the last secure command the application got */
    size_t last_secure_len;
    uint32_t rng;                /* per-device loss draws */
    pthread_mutex_t lock;        /* one worker at a time */
} lab_dev;

/* Loads the element image at `path` into RAM and boots it. */
lab_status lab_dev_open(lab_dev *d, const char *path, uint8_t dr, uint32_t in_range, uint32_t seed) LAB_MUST_CHECK;
/* Writes the element's memory back to its image file (atomically). */
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

/* Switches network `i` on or off (its gateways then hear nothing). */
void lab_fleet_set_down(lab_fleet *f, size_t i, bool down);

/* Runs steps on every device for which want(d, ctx) is true, round robin
 * over the workers, until want() is false for all of them, or `max_steps`
 * steps per device, or `seconds` of wall time. *done gets the number of
 * devices for which want() ended false. */
lab_status lab_fleet_run(lab_fleet *f, bool (*want)(lab_dev *d, void *ctx), void *ctx, unsigned max_steps,
                         double seconds, size_t *done) LAB_MUST_CHECK;

#endif

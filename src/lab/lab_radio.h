/*
 * lab_radio.h - the physics of the lab's simulated-time radio, pure: no
 * socket, no clock, no thread. Time is simulated microseconds (uint64_t),
 * handed in by the caller (lab_dev.c's discrete-event clock, the bench's
 * fleet simulator, the unit tests).
 *
 *   lab_lora_airtime_us   time on air of one LoRa frame (Semtech's formula,
 *                         SX1276 datasheet §4.1.1.7 / SX1261 datasheet
 *                         §6.1.4, the "LoRa calculator")
 *   lab_dc                a gateway's (or a device's) duty cycle per EU868
 *                         sub-band (ETSI EN 300 220 as RP002 lists it): the
 *                         band is off for airtime x (1/d - 1) after each
 *                         transmission, so its share of the air between two
 *                         transmissions never exceeds d
 *   lab_medium            the frames on the air around one gateway: two
 *                         uplinks on the same channel and spreading factor
 *                         that overlap in time are both lost (no capture
 *                         effect), and a gateway that transmits hears
 *                         nothing meanwhile (half-duplex)
 *   lab_rng               a seeded generator (splitmix64): the same seed
 *                         gives the same draws, so the same run
 *   lab_adr_dr            the data rate an ADR-like network settles a
 *                         device on, from its link's SNR
 *
 * Capacities have names: a medium holds LAB_MEDIUM_MAX frames that may
 * still overlap a new one; a full medium refuses the frame (LAB_ERR_BUFFER,
 * the caller counts it).
 */
#ifndef FERRY_LAB_RADIO_H
#define FERRY_LAB_RADIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "lab/lab_status.h"

/* ---- which clock drives the lab ---- */

typedef enum lab_clock {
    LAB_CLOCK_WALL = 0,          /* receive windows waited for in wall time (the default) */
    LAB_CLOCK_SIMULATED,         /* a discrete-event clock: nothing is waited for */
} lab_clock;

/* "wall" | "simulated"; LAB_ERR_ARGUMENT for anything else. */
lab_status lab_clock_parse(const char *text, lab_clock *out) LAB_MUST_CHECK;
const char *lab_clock_name(lab_clock c);

/* ---- time on air ---- */

typedef struct lab_lora_params {
    uint8_t sf;                  /* 7..12 (SF5/SF6 have other preamble rules) */
    uint16_t bw_khz;             /* 125, 250, 500 */
    uint8_t cr;                  /* coding rate 4/(4+cr): 1..4 (LoRaWAN: 1, 4/5) */
    uint16_t preamble;           /* programmed preamble symbols (LoRaWAN: 8) */
    bool implicit_header;        /* LoRaWAN: false */
    bool crc;                    /* payload CRC: LoRaWAN uplinks true, downlinks false */
    int ldro;                    /* low data rate optimisation: 1 on, 0 off, -1 as the
                                    radio's rule (on when a symbol lasts >= 16 ms) */
} lab_lora_params;

/* LoRaWAN's EU868 frame at data rate dr (0..6): 8-symbol preamble,
 * explicit header, CR 4/5, CRC on uplinks only. */
lab_status lab_lora_params_eu868(uint8_t dr, bool uplink, lab_lora_params *out) LAB_MUST_CHECK;

/* Time on air of a frame of `payload_len` bytes (the PHYPayload), in
 * microseconds, rounded to the nearest. LAB_ERR_ARGUMENT for parameters
 * outside the ranges above or a payload over 255 bytes. */
lab_status lab_lora_airtime_us(const lab_lora_params *p, size_t payload_len, uint64_t *us) LAB_MUST_CHECK;

/* ---- EU868 sub-bands and duty cycle ---- */

typedef enum lab_subband {
    LAB_BAND_G,                  /* 863.0-865.0 MHz, 0.1 % */
    LAB_BAND_G_,                 /* 865.0-868.0 MHz, 1 % (867.1 .. 867.9: the usual CFList) */
    LAB_BAND_G1,                 /* 868.0-868.6 MHz, 1 % (868.1, 868.3, 868.5) */
    LAB_BAND_G2,                 /* 868.7-869.2 MHz, 0.1 % */
    LAB_BAND_G3,                 /* 869.4-869.65 MHz, 10 % (RX2: 869.525) */
    LAB_BAND_G4,                 /* 869.7-870.0 MHz, 1 % */
    LAB_BAND_COUNT
} lab_subband;

/* The sub-band of a frequency (MHz); LAB_ERR_ARGUMENT outside them all. */
lab_status lab_eu868_subband(double freq_mhz, lab_subband *out) LAB_MUST_CHECK;
/* Its duty cycle, as a fraction (0.001, 0.01, 0.1). */
double lab_subband_duty(lab_subband b);
const char *lab_subband_name(lab_subband b);

/* One transmitter's duty-cycle ledger: per sub-band, the time it may
 * transmit again. */
typedef struct lab_dc {
    uint64_t free_at_us[LAB_BAND_COUNT];
    uint64_t airtime_us[LAB_BAND_COUNT]; /* granted so far */
    uint64_t refused[LAB_BAND_COUNT];    /* lab_dc_take refusals */
} lab_dc;

void lab_dc_init(lab_dc *dc);
/* The earliest time >= at_us at which the band of `freq_mhz` may carry a
 * frame. */
uint64_t lab_dc_next_us(const lab_dc *dc, double freq_mhz, uint64_t at_us);
/* Takes the band for a transmission of airtime_us starting at start_us:
 * LAB_OK and the band is off until start + airtime/d; LAB_ERR_DUTY_CYCLE
 * when the band is still off at start_us (the refusal is counted),
 * LAB_ERR_ARGUMENT for a frequency outside EU868. */
lab_status lab_dc_take(lab_dc *dc, double freq_mhz, uint64_t start_us, uint64_t airtime_us) LAB_MUST_CHECK;

/* ---- the medium around one gateway ---- */

#define LAB_MEDIUM_MAX 8192

typedef struct lab_frame_on_air {
    uint64_t start_us, end_us;
    double freq_mhz;
    uint8_t sf;
    uint16_t bw_khz;
    bool downlink;               /* sent by the gateway (inverted IQ) */
    bool collided;               /* overlapped another uplink on its channel and SF */
    bool reported;               /* lab_medium_heard counted its loss */
    uint32_t id;                 /* the caller's name for it */
} lab_frame_on_air;

typedef struct lab_medium {
    lab_frame_on_air f[LAB_MEDIUM_MAX];
    size_t n;
    uint64_t collisions;         /* uplinks lost to a collision */
    uint64_t deaf;               /* uplinks not heard because the gateway was transmitting */
    uint64_t full;               /* frames refused because the medium was full */
} lab_medium;

void lab_medium_init(lab_medium *m);
/* Forgets frames that ended before before_us (none can overlap a later one). */
void lab_medium_prune(lab_medium *m, uint64_t before_us);
/* Puts an uplink on the air. Every uplink already there on the same
 * frequency, SF and bandwidth that overlaps it is marked collided, and so
 * is this one. LAB_ERR_BUFFER when the medium is full (counted). */
lab_status lab_medium_uplink(lab_medium *m, uint32_t id, uint64_t start_us, uint64_t end_us, double freq_mhz,
                             uint8_t sf, uint16_t bw_khz) LAB_MUST_CHECK;
/* Puts the gateway's downlink on the air. LAB_ERR_BUSY when the gateway
 * already transmits at any time of [start, end) (a concentrator sends one
 * frame at a time); LAB_ERR_BUFFER when full. */
lab_status lab_medium_downlink(lab_medium *m, uint32_t id, uint64_t start_us, uint64_t end_us, double freq_mhz,
                               uint8_t sf, uint16_t bw_khz) LAB_MUST_CHECK;
/* Whether the uplink `id` (put on the air by lab_medium_uplink) reached the
 * gateway: not collided, and no downlink of the gateway overlapping it.
 * Call it once the uplink has ended and every frame that started before its
 * end is on the air. The first negative answer for an uplink is counted in
 * collisions or deaf. False also for an unknown id. */
bool lab_medium_heard(lab_medium *m, uint32_t id);

/* ---- seeded randomness ---- */

typedef struct lab_rng {
    uint64_t s;
} lab_rng;

void lab_rng_seed(lab_rng *r, uint64_t seed);
uint64_t lab_rng_next(lab_rng *r);
/* Uniform in [0, 1). */
double lab_rng_unit(lab_rng *r);
/* Uniform in [0, n); 0 when n is 0. */
uint64_t lab_rng_below(lab_rng *r, uint64_t n);

/* ---- data rate spread ---- */

/* The fastest EU868 data rate (0..5) whose demodulation floor plus
 * margin_db is at or below snr_db; DR0 when none is. */
uint8_t lab_adr_dr(double snr_db, double margin_db);
/* The SNR of a device dropped uniformly on a disc around its gateway: at
 * the edge the link is edge_snr_db, and it improves by 10 x exponent x
 * log10(R / r) towards the centre (log-distance path loss), capped at
 * +10 dB. */
double lab_link_snr(lab_rng *r, double edge_snr_db, double exponent);

#endif

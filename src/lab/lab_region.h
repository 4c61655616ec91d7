/*
 * lab_region.h - the EU868 facts the lab network server needs: data rates
 * DR0..DR6 (LoRa), the largest application payload per data rate (RP002
 * "N" with no FOpts: 51/51/51/115/242/242/242), the uplink channel index the
 * 1.1 uplink MIC binds, receive delays and RX2.
 */
#ifndef FERRY_LAB_REGION_H
#define FERRY_LAB_REGION_H

#include <stdint.h>
#include "lab/lab_status.h"

#define LAB_EU868_RX2_FREQ   869.525
#define LAB_EU868_RX2_DR     0
#define LAB_JOIN_ACCEPT_DELAY1_S 5
#define LAB_JOIN_ACCEPT_DELAY2_S 6

/* DR index of (sf, bw kHz); LAB_ERR_FORMAT when EU868 has none. */
lab_status lab_eu868_dr(uint8_t sf, uint16_t bw, uint8_t *dr) LAB_MUST_CHECK;
/* The inverse for DR0..DR6; LAB_ERR_ARGUMENT above. */
lab_status lab_eu868_dr_params(uint8_t dr, uint8_t *sf, uint16_t *bw) LAB_MUST_CHECK;
/* Largest FRMPayload at `dr` (0 for an unknown DR). */
unsigned lab_eu868_max_payload(uint8_t dr);
/* Channel index of an uplink frequency (MHz): 868.1/868.3/868.5 are 0..2,
 * 867.1..867.9 (the usual CFList) 3..7; 0 for any other. */
uint8_t lab_eu868_channel(double freq);
/* Demodulation floor of a spreading factor in dB (for LinkCheckAns margin). */
double lab_lora_required_snr(uint8_t sf);

#endif

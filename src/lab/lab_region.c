/*
 * lab_region.c - EU868 tables (RP002-1.0.x, EU863-870).
 */
#include "lab/lab_region.h"

#include <math.h>
#include <stddef.h>

static const struct {
    uint8_t sf;
    uint16_t bw;
    unsigned max_payload;
} dr_table[] = {
    {12, 125, 51}, {11, 125, 51}, {10, 125, 51}, {9, 125, 115}, {8, 125, 242}, {7, 125, 242}, {7, 250, 242},
};

#define DR_COUNT (sizeof(dr_table) / sizeof(dr_table[0]))

lab_status lab_eu868_dr(uint8_t sf, uint16_t bw, uint8_t *dr)
{
    for (size_t i = 0; i < DR_COUNT; i++) {
        if (dr_table[i].sf == sf && dr_table[i].bw == bw) {
            *dr = (uint8_t)i;
            return LAB_OK;
        }
    }
    return LAB_ERR_FORMAT;
}

lab_status lab_eu868_dr_params(uint8_t dr, uint8_t *sf, uint16_t *bw)
{
    if (dr >= DR_COUNT)
        return LAB_ERR_ARGUMENT;
    *sf = dr_table[dr].sf;
    *bw = dr_table[dr].bw;
    return LAB_OK;
}

unsigned lab_eu868_max_payload(uint8_t dr)
{
    return dr < DR_COUNT ? dr_table[dr].max_payload : 0;
}

uint8_t lab_eu868_channel(double freq)
{
    static const double ch[] = {868.1, 868.3, 868.5, 867.1, 867.3, 867.5, 867.7, 867.9};
    for (size_t i = 0; i < sizeof(ch) / sizeof(ch[0]); i++) {
        if (fabs(freq - ch[i]) < 0.0005)
            return (uint8_t)i;
    }
    return 0;
}

double lab_lora_required_snr(uint8_t sf)
{
    return sf >= 7 && sf <= 12 ? -7.5 - 2.5 * (sf - 7) : -20.0;
}

/*
 * test_lab_radio.c - the simulated radio's physics (src/lab/lab_radio.c):
 * time on air against published values, a duty cycle that is never
 * exceeded, collisions that lose both frames, half-duplex gateways, the
 * data-rate spread, and a seeded generator that repeats itself.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lab/lab_radio.h"

static uint64_t airtime(uint8_t sf, uint16_t bw, uint8_t cr, bool crc, int ldro, size_t len)
{
    lab_lora_params p = {.sf = sf, .bw_khz = bw, .cr = cr, .preamble = 8, .crc = crc, .ldro = ldro};
    uint64_t us = 0;
    assert_int_equal(lab_lora_airtime_us(&p, len, &us), LAB_OK);
    return us;
}

/* Published values, each recomputable from Semtech's formula:
 *  - 13 bytes, SF9/125 kHz, CR 4/5, explicit header, CRC, no LDRO:
 *    164.864 ms (28 payload symbols), the AN1200.13-based "LoRa airtime
 *    calculator" spreadsheet's own example;
 *  - 10 bytes, SF7/125 kHz, CR 4/5, no LDRO: 41.216 ms, and 10 bytes,
 *    SF11/125 kHz with LDRO: 577.536 ms (preamble 200.704 ms), the two
 *    worked examples of rfwireless-world.com's LoRaWAN airtime calculator;
 *  - a join-request (23 bytes) at SF12/125 kHz, LDRO on: 1482.752 ms and at
 *    SF7: 61.696 ms, the figures The Things Network's airtime tables give. */
static void test_airtime_published(void **state)
{
    (void)state;
    assert_int_equal(airtime(9, 125, 1, true, 0, 13), 164864);
    assert_int_equal(airtime(7, 125, 1, true, 0, 10), 41216);
    assert_int_equal(airtime(11, 125, 1, true, 1, 10), 577536);
    assert_int_equal(airtime(12, 125, 1, true, -1, 23), 1482752);
    assert_int_equal(airtime(7, 125, 1, true, -1, 23), 61696);
    /* the automatic LDRO rule switches on at SF11/125 (16.384 ms symbols) only */
    assert_int_equal(airtime(11, 125, 1, true, -1, 10), 577536);
    assert_int_equal(airtime(10, 125, 1, true, -1, 10), airtime(10, 125, 1, true, 0, 10));
}

static void test_airtime_eu868(void **state)
{
    (void)state;
    lab_lora_params up, down;
    uint64_t a = 0, b = 0;
    /* a downlink carries no payload CRC: never longer than the uplink */
    for (uint8_t dr = 0; dr <= 6; dr++) {
        assert_int_equal(lab_lora_params_eu868(dr, true, &up), LAB_OK);
        assert_int_equal(lab_lora_params_eu868(dr, false, &down), LAB_OK);
        assert_int_equal(lab_lora_airtime_us(&up, 33, &a), LAB_OK);
        assert_int_equal(lab_lora_airtime_us(&down, 33, &b), LAB_OK);
        assert_true(b <= a);
    }
    /* DR6 (SF7/250 kHz) takes half of DR5's symbol time */
    assert_int_equal(lab_lora_params_eu868(6, true, &up), LAB_OK);
    assert_int_equal(up.bw_khz, 250);
    assert_int_equal(lab_lora_airtime_us(&up, 23, &a), LAB_OK);
    assert_int_equal(a, 61696 / 2);
    /* refusals */
    assert_int_equal(lab_lora_params_eu868(7, true, &up), LAB_ERR_ARGUMENT);
    lab_lora_params bad = {.sf = 6, .bw_khz = 125, .cr = 1, .preamble = 8, .ldro = -1};
    assert_int_equal(lab_lora_airtime_us(&bad, 10, &a), LAB_ERR_ARGUMENT);
    bad.sf = 7;
    bad.bw_khz = 200;
    assert_int_equal(lab_lora_airtime_us(&bad, 10, &a), LAB_ERR_ARGUMENT);
    bad.bw_khz = 125;
    assert_int_equal(lab_lora_airtime_us(&bad, 256, &a), LAB_ERR_ARGUMENT);
}

static void test_subbands(void **state)
{
    (void)state;
    lab_subband b;
    assert_int_equal(lab_eu868_subband(868.1, &b), LAB_OK);
    assert_int_equal(b, LAB_BAND_G1);
    assert_true(lab_subband_duty(b) == 0.01);
    assert_int_equal(lab_eu868_subband(869.525, &b), LAB_OK);
    assert_int_equal(b, LAB_BAND_G3);
    assert_true(lab_subband_duty(b) == 0.1);
    assert_int_equal(lab_eu868_subband(867.5, &b), LAB_OK);
    assert_int_equal(b, LAB_BAND_G_);
    assert_int_equal(lab_eu868_subband(868.65, &b), LAB_ERR_ARGUMENT); /* between g1 and g2 */
    assert_int_equal(lab_eu868_subband(915.0, &b), LAB_ERR_ARGUMENT);
}

/* A gateway asked to send at random times never takes more than its share
 * of a sub-band between two of its transmissions, and over the whole run;
 * what it refuses is counted. */
static void test_duty_cycle_never_exceeded(void **state)
{
    (void)state;
    static const double freq[] = {868.1, 868.3, 868.5, 869.525};
    lab_dc dc;
    lab_dc_init(&dc);
    lab_rng r;
    lab_rng_seed(&r, 42);
    uint64_t last_start[LAB_BAND_COUNT], last_air[LAB_BAND_COUNT], first[LAB_BAND_COUNT];
    bool any[LAB_BAND_COUNT] = {false};
    uint64_t t = 0, granted = 0, refused = 0;
    for (int i = 0; i < 20000; i++) {
        t += lab_rng_below(&r, 2000000); /* every 0 .. 2 s */
        double f = freq[lab_rng_below(&r, 4)];
        uint64_t air = 30000 + lab_rng_below(&r, 1500000);
        lab_subband b;
        assert_int_equal(lab_eu868_subband(f, &b), LAB_OK);
        lab_status st = lab_dc_take(&dc, f, t, air);
        if (st == LAB_ERR_DUTY_CYCLE) {
            refused++;
            assert_true(lab_dc_next_us(&dc, f, t) > t);
            continue;
        }
        assert_int_equal(st, LAB_OK);
        granted++;
        if (any[b])
            assert_true((double)last_air[b] <= lab_subband_duty(b) * (double)(t - last_start[b]));
        else
            first[b] = t;
        any[b] = true;
        last_start[b] = t;
        last_air[b] = air;
    }
    assert_true(granted > 0 && refused > 0);
    uint64_t counted = 0;
    for (int b = 0; b < LAB_BAND_COUNT; b++) {
        counted += dc.refused[b];
        if (!any[b])
            continue;
        /* over the run, up to the end of the last band's off time */
        double span = (double)(last_start[b] - first[b]) + (double)last_air[b] / lab_subband_duty((lab_subband)b);
        assert_true((double)dc.airtime_us[b] <= lab_subband_duty((lab_subband)b) * span + 1.0);
    }
    assert_int_equal(counted, refused);
    /* outside EU868 */
    assert_int_equal(lab_dc_take(&dc, 915.0, t, 1000), LAB_ERR_ARGUMENT);
}

/* Two uplinks on the same channel and SF that overlap: both lost. Another
 * SF, another channel, or no overlap: both heard. */
static void test_collision_loses_both(void **state)
{
    (void)state;
    lab_medium *m = malloc(sizeof *m);
    assert_non_null(m);
    lab_medium_init(m);
    assert_int_equal(lab_medium_uplink(m, 1, 0, 100000, 868.1, 7, 125), LAB_OK);
    assert_int_equal(lab_medium_uplink(m, 2, 50000, 150000, 868.1, 7, 125), LAB_OK);   /* overlaps 1 */
    assert_int_equal(lab_medium_uplink(m, 3, 50000, 150000, 868.1, 9, 125), LAB_OK);   /* other SF */
    assert_int_equal(lab_medium_uplink(m, 4, 60000, 160000, 868.3, 7, 125), LAB_OK);   /* other channel */
    assert_int_equal(lab_medium_uplink(m, 5, 150000, 250000, 868.1, 7, 125), LAB_OK);  /* right after 2 */
    assert_false(lab_medium_heard(m, 1));
    assert_false(lab_medium_heard(m, 2));
    assert_true(lab_medium_heard(m, 3));
    assert_true(lab_medium_heard(m, 4));
    assert_true(lab_medium_heard(m, 5));
    assert_false(lab_medium_heard(m, 99));
    assert_false(lab_medium_heard(m, 1)); /* asked again: counted once */
    assert_int_equal(m->collisions, 2);
    /* a frame that starts later but overlaps the end of one already heard
     * takes it down too: "heard" is only final once nothing can overlap */
    assert_int_equal(lab_medium_uplink(m, 6, 240000, 300000, 868.1, 7, 125), LAB_OK);
    assert_false(lab_medium_heard(m, 5));
    assert_false(lab_medium_heard(m, 6));
    /* prune forgets what ended before */
    lab_medium_prune(m, 200000);
    assert_int_equal(m->n, 2);
    free(m);
}

/* A gateway that transmits hears nothing meanwhile, and sends one frame at
 * a time. */
static void test_half_duplex(void **state)
{
    (void)state;
    lab_medium *m = malloc(sizeof *m);
    assert_non_null(m);
    lab_medium_init(m);
    assert_int_equal(lab_medium_downlink(m, 10, 1000000, 1400000, 869.525, 12, 125), LAB_OK);
    assert_int_equal(lab_medium_downlink(m, 11, 1300000, 1500000, 868.1, 7, 125), LAB_ERR_BUSY);
    assert_int_equal(lab_medium_downlink(m, 12, 1400000, 1500000, 868.1, 7, 125), LAB_OK);
    assert_int_equal(lab_medium_uplink(m, 1, 900000, 1100000, 868.3, 7, 125), LAB_OK);  /* overlaps 10 */
    assert_int_equal(lab_medium_uplink(m, 2, 1500000, 1600000, 868.3, 7, 125), LAB_OK); /* after */
    /* a downlink does not collide with an uplink of the same channel and SF */
    assert_int_equal(lab_medium_uplink(m, 3, 1600000, 1700000, 868.1, 7, 125), LAB_OK);
    assert_false(lab_medium_heard(m, 1));
    assert_true(lab_medium_heard(m, 2));
    assert_true(lab_medium_heard(m, 3));
    assert_int_equal(m->deaf, 1);
    assert_int_equal(m->collisions, 0);
    free(m);
}

static void test_medium_full(void **state)
{
    (void)state;
    lab_medium *m = malloc(sizeof *m);
    assert_non_null(m);
    lab_medium_init(m);
    for (uint32_t i = 0; i < LAB_MEDIUM_MAX; i++)
        assert_int_equal(lab_medium_uplink(m, i, i * 10, i * 10 + 5, 868.1, 7, 125), LAB_OK);
    assert_int_equal(lab_medium_uplink(m, 0xFFFF, 1u << 30, (1u << 30) + 5, 868.1, 7, 125), LAB_ERR_BUFFER);
    assert_int_equal(m->full, 1);
    free(m);
}

/* The same seed gives the same draws, another seed others. */
static void test_rng_repeats(void **state)
{
    (void)state;
    lab_rng a, b, c;
    lab_rng_seed(&a, 7);
    lab_rng_seed(&b, 7);
    lab_rng_seed(&c, 8);
    int same_c = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t x = lab_rng_next(&a);
        assert_true(x == lab_rng_next(&b));
        same_c += x == lab_rng_next(&c);
        double u = lab_rng_unit(&a);
        assert_true(u == lab_rng_unit(&b));
        assert_true(u >= 0.0 && u < 1.0);
        (void)lab_rng_unit(&c);
        assert_true(lab_rng_below(&a, 6) < 6);
        (void)lab_rng_below(&b, 6);
        (void)lab_rng_below(&c, 6);
    }
    assert_true(same_c < 2);
    assert_int_equal(lab_rng_below(&a, 0), 0);
}

/* ADR-like spread: the fastest DR the link's SNR carries with the margin;
 * devices dropped on a disc spread over every DR, more of them far out. */
static void test_dr_spread(void **state)
{
    (void)state;
    assert_int_equal(lab_adr_dr(10.0, 10.0), 5);   /* SF7 needs -7.5 dB */
    assert_int_equal(lab_adr_dr(-7.6, 0.0), 4);
    assert_int_equal(lab_adr_dr(-19.0, 0.0), 0);
    assert_int_equal(lab_adr_dr(-30.0, 0.0), 0);
    lab_rng r;
    lab_rng_seed(&r, 1);
    unsigned count[6] = {0};
    for (int i = 0; i < 10000; i++) {
        double snr = lab_link_snr(&r, -20.0, 3.5);
        assert_true(snr >= -20.0 && snr <= 10.0);
        count[lab_adr_dr(snr, 5.0)]++;
    }
    for (int dr = 0; dr < 6; dr++)
        assert_true(count[dr] > 0);
    assert_true(count[0] > count[5]);
}

static void test_clock_names(void **state)
{
    (void)state;
    lab_clock c = LAB_CLOCK_WALL;
    assert_int_equal(lab_clock_parse("simulated", &c), LAB_OK);
    assert_int_equal(c, LAB_CLOCK_SIMULATED);
    assert_string_equal(lab_clock_name(c), "simulated");
    assert_int_equal(lab_clock_parse("wall", &c), LAB_OK);
    assert_int_equal(c, LAB_CLOCK_WALL);
    assert_int_equal(lab_clock_parse("fast", &c), LAB_ERR_ARGUMENT);
    assert_int_equal(lab_clock_parse(NULL, &c), LAB_ERR_ARGUMENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_airtime_published), cmocka_unit_test(test_airtime_eu868),
        cmocka_unit_test(test_subbands),          cmocka_unit_test(test_duty_cycle_never_exceeded),
        cmocka_unit_test(test_collision_loses_both), cmocka_unit_test(test_half_duplex),
        cmocka_unit_test(test_medium_full),       cmocka_unit_test(test_rng_repeats),
        cmocka_unit_test(test_dr_spread),         cmocka_unit_test(test_clock_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

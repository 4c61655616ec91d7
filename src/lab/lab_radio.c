/*
 * lab_radio.c - airtime, duty cycle, collisions, randomness (lab_radio.h).
 *
 * Time on air (Semtech, SX1276 datasheet §4.1.1.7; SX1261/2 datasheet
 * §6.1.4 for SF7..SF12; the same formula as Semtech's LoRa calculator):
 *
 *   Tsym      = 2^SF / BW
 *   Tpreamble = (n_preamble + 4.25) x Tsym
 *   n_payload = 8 + max(ceil((8 PL - 4 SF + 28 + 16 CRC - 20 IH) / (4 (SF - 2 DE))) x (CR + 4), 0)
 *   T         = Tpreamble + n_payload x Tsym
 *
 * with PL the PHYPayload's bytes, CRC 1 when a payload CRC is sent, IH 1 for
 * an implicit header, DE 1 with low data rate optimisation (mandated when a
 * symbol lasts 16 ms or more: SF11 and SF12 at 125 kHz), CR 1..4 for
 * 4/5..4/8.
 *
 * Duty cycle: the "time off" reading of ETSI EN 300 220 that LoRaWAN stacks
 * use: after a frame of airtime A in a band of duty cycle d, the band stays
 * off for A x (1/d - 1), so between the starts of two transmissions the
 * first takes at most the fraction d of the air.
 */
#include "lab/lab_radio.h"
#include "lab/lab_region.h"

#include <math.h>
#include <string.h>

lab_status lab_clock_parse(const char *text, lab_clock *out)
{
    if (text != NULL && strcmp(text, "wall") == 0)
        *out = LAB_CLOCK_WALL;
    else if (text != NULL && strcmp(text, "simulated") == 0)
        *out = LAB_CLOCK_SIMULATED;
    else
        return LAB_ERR_ARGUMENT;
    return LAB_OK;
}

const char *lab_clock_name(lab_clock c)
{
    return c == LAB_CLOCK_SIMULATED ? "simulated" : "wall";
}

/* ---- time on air ---- */

lab_status lab_lora_params_eu868(uint8_t dr, bool uplink, lab_lora_params *out)
{
    static const uint8_t sf[] = {12, 11, 10, 9, 8, 7, 7};
    if (dr >= sizeof sf)
        return LAB_ERR_ARGUMENT;
    memset(out, 0, sizeof *out);
    out->sf = sf[dr];
    out->bw_khz = dr == 6 ? 250 : 125;
    out->cr = 1;
    out->preamble = 8;
    out->crc = uplink;
    out->ldro = -1;
    return LAB_OK;
}

lab_status lab_lora_airtime_us(const lab_lora_params *p, size_t payload_len, uint64_t *us)
{
    if (p == NULL || us == NULL || p->sf < 7 || p->sf > 12 || p->cr < 1 || p->cr > 4 || payload_len > 255 ||
        (p->bw_khz != 125 && p->bw_khz != 250 && p->bw_khz != 500) || p->ldro < -1 || p->ldro > 1)
        return LAB_ERR_ARGUMENT;
    double tsym = (double)(1u << p->sf) * 1000.0 / (double)p->bw_khz; /* microseconds */
    int de = p->ldro >= 0 ? p->ldro : tsym >= 16000.0;
    double num = 8.0 * (double)payload_len - 4.0 * p->sf + 28 + 16 * (p->crc ? 1 : 0) - 20 * (p->implicit_header ? 1 : 0);
    double den = 4.0 * (p->sf - 2 * de);
    double blocks = ceil(num / den);
    double n_payload = 8 + (blocks > 0 ? blocks * (p->cr + 4) : 0);
    double t = ((double)p->preamble + 4.25) * tsym + n_payload * tsym;
    *us = (uint64_t)llround(t);
    return LAB_OK;
}

/* ---- sub-bands, duty cycle ---- */

static const struct {
    double lo, hi, duty;
    const char *name;
} bands[LAB_BAND_COUNT] = {
    [LAB_BAND_G] = {863.0, 865.0, 0.001, "g (863.0-865.0 MHz, 0.1 %)"},
    [LAB_BAND_G_] = {865.0, 868.0, 0.01, "g (865.0-868.0 MHz, 1 %)"},
    [LAB_BAND_G1] = {868.0, 868.6, 0.01, "g1 (868.0-868.6 MHz, 1 %)"},
    [LAB_BAND_G2] = {868.7, 869.2, 0.001, "g2 (868.7-869.2 MHz, 0.1 %)"},
    [LAB_BAND_G3] = {869.4, 869.65, 0.1, "g3 (869.4-869.65 MHz, 10 %)"},
    [LAB_BAND_G4] = {869.7, 870.0, 0.01, "g4 (869.7-870.0 MHz, 1 %)"},
};

lab_status lab_eu868_subband(double freq_mhz, lab_subband *out)
{
    /* 865.0 belongs to the 1 % band, 868.0 to g1: lower edges inclusive */
    for (int b = LAB_BAND_COUNT - 1; b >= 0; b--)
        if (freq_mhz >= bands[b].lo && freq_mhz < bands[b].hi) {
            *out = (lab_subband)b;
            return LAB_OK;
        }
    return LAB_ERR_ARGUMENT;
}

double lab_subband_duty(lab_subband b)
{
    return (unsigned)b < LAB_BAND_COUNT ? bands[b].duty : 0;
}

const char *lab_subband_name(lab_subband b)
{
    return (unsigned)b < LAB_BAND_COUNT ? bands[b].name : "outside EU868";
}

void lab_dc_init(lab_dc *dc)
{
    memset(dc, 0, sizeof *dc);
}

uint64_t lab_dc_next_us(const lab_dc *dc, double freq_mhz, uint64_t at_us)
{
    lab_subband b;
    if (lab_eu868_subband(freq_mhz, &b) != LAB_OK)
        return UINT64_MAX;
    return dc->free_at_us[b] > at_us ? dc->free_at_us[b] : at_us;
}

lab_status lab_dc_take(lab_dc *dc, double freq_mhz, uint64_t start_us, uint64_t airtime_us)
{
    lab_subband b;
    if (lab_eu868_subband(freq_mhz, &b) != LAB_OK)
        return LAB_ERR_ARGUMENT;
    if (start_us < dc->free_at_us[b]) {
        dc->refused[b]++;
        return LAB_ERR_DUTY_CYCLE;
    }
    /* ceil: the band's share of the air stays at or under d */
    dc->free_at_us[b] = start_us + (uint64_t)ceil((double)airtime_us / bands[b].duty);
    dc->airtime_us[b] += airtime_us;
    return LAB_OK;
}

/* ---- the medium ---- */

void lab_medium_init(lab_medium *m)
{
    m->n = 0;
    m->collisions = m->deaf = m->full = 0;
}

void lab_medium_prune(lab_medium *m, uint64_t before_us)
{
    size_t j = 0;
    for (size_t i = 0; i < m->n; i++)
        if (m->f[i].end_us >= before_us)
            m->f[j++] = m->f[i];
    m->n = j;
}

static bool overlap(const lab_frame_on_air *f, uint64_t start_us, uint64_t end_us)
{
    return f->start_us < end_us && start_us < f->end_us;
}

static bool same_channel(const lab_frame_on_air *f, double freq_mhz, uint8_t sf, uint16_t bw_khz)
{
    return fabs(f->freq_mhz - freq_mhz) < 0.0005 && f->sf == sf && f->bw_khz == bw_khz;
}

static lab_status put(lab_medium *m, uint32_t id, uint64_t start_us, uint64_t end_us, double freq_mhz, uint8_t sf,
                      uint16_t bw_khz, bool downlink, lab_frame_on_air **out)
{
    if (m->n == LAB_MEDIUM_MAX) {
        m->full++;
        return LAB_ERR_BUFFER;
    }
    lab_frame_on_air *f = &m->f[m->n++];
    *f = (lab_frame_on_air){.start_us = start_us, .end_us = end_us, .freq_mhz = freq_mhz, .sf = sf,
                            .bw_khz = bw_khz, .downlink = downlink, .id = id};
    *out = f;
    return LAB_OK;
}

lab_status lab_medium_uplink(lab_medium *m, uint32_t id, uint64_t start_us, uint64_t end_us, double freq_mhz,
                             uint8_t sf, uint16_t bw_khz)
{
    if (end_us <= start_us)
        return LAB_ERR_ARGUMENT;
    bool hit = false;
    for (size_t i = 0; i < m->n; i++) {
        lab_frame_on_air *o = &m->f[i];
        if (!o->downlink && overlap(o, start_us, end_us) && same_channel(o, freq_mhz, sf, bw_khz)) {
            o->collided = true;
            hit = true;
        }
    }
    lab_frame_on_air *f = NULL;
    lab_status st = put(m, id, start_us, end_us, freq_mhz, sf, bw_khz, false, &f);
    if (st == LAB_OK)
        f->collided = hit;
    return st;
}

lab_status lab_medium_downlink(lab_medium *m, uint32_t id, uint64_t start_us, uint64_t end_us, double freq_mhz,
                               uint8_t sf, uint16_t bw_khz)
{
    if (end_us <= start_us)
        return LAB_ERR_ARGUMENT;
    for (size_t i = 0; i < m->n; i++)
        if (m->f[i].downlink && overlap(&m->f[i], start_us, end_us))
            return LAB_ERR_BUSY;
    lab_frame_on_air *f = NULL;
    return put(m, id, start_us, end_us, freq_mhz, sf, bw_khz, true, &f);
}

bool lab_medium_heard(lab_medium *m, uint32_t id)
{
    lab_frame_on_air *f = NULL;
    for (size_t i = m->n; i-- > 0;)
        if (!m->f[i].downlink && m->f[i].id == id) {
            f = &m->f[i];
            break;
        }
    if (f == NULL)
        return false;
    bool deaf = false;
    for (size_t i = 0; i < m->n && !deaf; i++)
        deaf = m->f[i].downlink && overlap(&m->f[i], f->start_us, f->end_us);
    if ((f->collided || deaf) && !f->reported) {
        f->reported = true;
        if (f->collided)
            m->collisions++;
        else
            m->deaf++;
    }
    return !f->collided && !deaf;
}

/* ---- randomness ---- */

void lab_rng_seed(lab_rng *r, uint64_t seed)
{
    r->s = seed;
}

uint64_t lab_rng_next(lab_rng *r)
{
    /* splitmix64 (Steele, Lea, Flood 2014) */
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

double lab_rng_unit(lab_rng *r)
{
    return (double)(lab_rng_next(r) >> 11) / 9007199254740992.0; /* 2^53 */
}

uint64_t lab_rng_below(lab_rng *r, uint64_t n)
{
    return n == 0 ? 0 : lab_rng_next(r) % n;
}

/* ---- data rates ---- */

uint8_t lab_adr_dr(double snr_db, double margin_db)
{
    /* DR5 = SF7 .. DR0 = SF12 */
    for (int dr = 5; dr > 0; dr--) {
        if (snr_db >= lab_lora_required_snr((uint8_t)(12 - dr)) + margin_db)
            return (uint8_t)dr;
    }
    return 0;
}

double lab_link_snr(lab_rng *r, double edge_snr_db, double exponent)
{
    /* uniform on the disc: r/R = sqrt(u); u = 0 is the centre */
    double u = lab_rng_unit(r);
    double rel = sqrt(u > 1e-12 ? u : 1e-12);
    double snr = edge_snr_db + 10.0 * exponent * log10(1.0 / rel);
    return snr > 10.0 ? 10.0 : snr;
}

/*
 * lab_scale.c - `make bench`, the radio side of scale (docs/scale.md):
 *
 *  1. the minimum frames and time on air of one activation at each EU868 data
 *     rate, from the profile's size and the frame formats (how: docs/scale.md,
 *     "Frames and airtime per activation"): as it travels now, one INSTALL
 *     that activates at once, answered in place of the ack of its last
 *     fragment (docs/mls.md 5.2, 6.2), and beside it as it travelled before
 *     issue 15, INSTALL then ACTIVATE, each last fragment acknowledged in an
 *     uplink of its own before the response;
 *  2. the time to activate N devices behind G gateways under duty cycle, for
 *     N = 10k, 100k, 1M and G = 1, 10, 100: each device hears one gateway, so
 *     the fleet's time is that of one cell of N/G devices, simulated here with
 *     src/lab/lab_radio.c (airtime, device and gateway duty cycle, collisions,
 *     half-duplex, an ADR-like DR spread, a seeded generator) and an ideal
 *     network server that answers at once, every device taking the
 *     activation as it travels now (--profile before: as it did before
 *     issue 15, to compare); cells larger than --max-cell are
 *     projected linearly from the largest one simulated (a saturated cell's
 *     time grows with its devices), and the table says which.
 *
 *   lab_scale [--max-cell N (default 100)] [--seed S] [--profile now|before]
 *
 * Prints figures; asserts nothing.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lab/lab_radio.h"
#include "lab/lab_region.h"

#define JR_LEN 23        /* join-request */
#define JA_LEN 17        /* join-accept without CFList */
#define LW_OVERHEAD 13   /* MHDR 1, FHDR 7 (no FOpts), FPort 1, MIC 4 */
#define FRAG_HDR 4       /* docs/mls.md 6.1 */
#define MLS_OVERHEAD 16  /* header 8 (type included), tag 8 (docs/mls.md 3) */
#define INSTALL_BODY 72  /* docs/mls.md 5 */
#define ACTIVATE_BODY 2
#define ACK_UP_LEN (LW_OVERHEAD + 3) /* an uplink carrying an MLS ack frame (3 bytes) */
#define ACK_DOWN_LEN (LW_OVERHEAD + 3) /* the IDM's ack of a whole response */
#define RSP_UP_LEN (LW_OVERHEAD + FRAG_HDR + MLS_OVERHEAD + 5) /* a response without data, one fragment */
#define MAX_STEPS 32

/* One class A exchange of the activation: an uplink of `up` bytes answered
 * by a downlink of `down` bytes (0: none needed) after `delay` s. */
typedef struct step {
    unsigned up, down, delay;
} step;

static unsigned frags(unsigned msg, uint8_t dr)
{
    unsigned room = lab_eu868_max_payload(dr) - FRAG_HDR;
    return (msg + room - 1) / room;
}

/* How the profile travels. */
typedef enum profile_kind {
    PROFILE_NOW,     /* one INSTALL with "activate now"; its response in place of the last ack */
    PROFILE_BEFORE   /* before issue 15: INSTALL, then ACTIVATE; each last fragment acked on its own */
} profile_kind;

/* The shortest activation at data rate dr: bootstrap join; each MLS
 * command's fragments each on the window an uplink opens (the first any
 * uplink, each later one the ack of the fragment before), then the SE's
 * response, which the IDM acknowledges in that uplink's window (before:
 * after an uplink of its own with the ack of the last fragment, which no
 * downlink answers: the IDM waits for the response); the join on the
 * customer's profile; one uplink that confirms the trial. */
static size_t activation(uint8_t dr, profile_kind kind, step out[MAX_STEPS])
{
    size_t n = 0;
    out[n++] = (step){JR_LEN, JA_LEN, LAB_JOIN_ACCEPT_DELAY1_S};
    unsigned msgs[2] = {MLS_OVERHEAD + INSTALL_BODY, MLS_OVERHEAD + ACTIVATE_BODY};
    int cmds = kind == PROFILE_BEFORE ? 2 : 1;
    for (int m = 0; m < cmds; m++) {
        unsigned k = frags(msgs[m], dr), room = lab_eu868_max_payload(dr) - FRAG_HDR, left = msgs[m];
        for (unsigned i = 0; i < k; i++) {
            unsigned part = left < room ? left : room;
            left -= part;
            out[n++] = (step){ACK_UP_LEN, LW_OVERHEAD + FRAG_HDR + part, 1};
        }
        if (kind == PROFILE_BEFORE)
            out[n++] = (step){ACK_UP_LEN, 0, 1};
        out[n++] = (step){RSP_UP_LEN, ACK_DOWN_LEN, 1};
    }
    out[n++] = (step){JR_LEN, JA_LEN, LAB_JOIN_ACCEPT_DELAY1_S};
    out[n++] = (step){ACK_UP_LEN, 0, 1};
    return n;
}

static uint64_t air_us(uint8_t dr, bool up, unsigned len)
{
    lab_lora_params p;
    uint64_t us = 0;
    if (lab_lora_params_eu868(dr, up, &p) != LAB_OK || lab_lora_airtime_us(&p, len, &us) != LAB_OK)
        return 0;
    return us;
}

/* Frames and airtime (ms) of activation(dr, kind). */
static void activation_cost(uint8_t dr, profile_kind kind, unsigned *up, unsigned *down, double *air_up,
                            double *air_down)
{
    step plan[MAX_STEPS];
    size_t n = activation(dr, kind, plan);
    *up = *down = 0;
    *air_up = *air_down = 0;
    for (size_t i = 0; i < n; i++) {
        (*up)++;
        *air_up += (double)air_us(dr, true, plan[i].up) / 1000.0;
        if (plan[i].down) {
            (*down)++;
            *air_down += (double)air_us(dr, false, plan[i].down) / 1000.0; /* RX1 at the uplink's DR */
        }
    }
}

/* ---- one cell ---- */

enum { EV_START, EV_END, EV_HEARD };

typedef struct ev {
    uint64_t t;
    uint32_t dev;
    uint8_t kind;
} ev;

typedef struct heap {
    ev *e;
    size_t n, cap;
} heap;

static int heap_push(heap *h, ev x)
{
    if (h->n == h->cap) {
        size_t cap = h->cap ? 2 * h->cap : 1024;
        ev *p = realloc(h->e, cap * sizeof *p);
        if (p == NULL)
            return -1;
        h->e = p;
        h->cap = cap;
    }
    size_t k = h->n++;
    h->e[k] = x;
    while (k > 0 && h->e[(k - 1) / 2].t > h->e[k].t) {
        ev t = h->e[k];
        h->e[k] = h->e[(k - 1) / 2];
        h->e[(k - 1) / 2] = t;
        k = (k - 1) / 2;
    }
    return 0;
}

static ev heap_pop(heap *h)
{
    ev top = h->e[0];
    h->e[0] = h->e[--h->n];
    size_t k = 0;
    for (;;) {
        size_t l = 2 * k + 1, r = l + 1, m = k;
        if (l < h->n && h->e[l].t < h->e[m].t)
            m = l;
        if (r < h->n && h->e[r].t < h->e[m].t)
            m = r;
        if (m == k)
            return top;
        ev t = h->e[m];
        h->e[m] = h->e[k];
        h->e[k] = t;
        k = m;
    }
}

typedef struct dev {
    uint8_t dr, step;
    uint16_t fails;
    uint64_t free_at;            /* its own duty cycle on g1 (the three default channels) */
    uint64_t start;
    double freq;
    uint32_t frames;
    double air_s;
} dev;

typedef struct cell_result {
    double last_s, median_s;
    double frames_per_dev, air_per_dev_s;
    uint64_t collisions, dc_refused;
    bool ok;
} cell_result;

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static cell_result run_cell(size_t n, uint64_t seed, profile_kind kind)
{
    cell_result r;
    memset(&r, 0, sizeof r);
    lab_rng rng;
    lab_rng_seed(&rng, seed);
    dev *d = calloc(n, sizeof *d);
    double *done = calloc(n, sizeof *done);
    lab_medium *m = malloc(sizeof *m);
    step plan[6][MAX_STEPS];
    size_t plan_n[6];
    for (uint8_t dr = 0; dr < 6; dr++)
        plan_n[dr] = activation(dr, kind, plan[dr]);
    heap h = {0};
    if (d == NULL || done == NULL || m == NULL)
        goto out;
    lab_medium_init(m);
    lab_dc gw;
    lab_dc_init(&gw);
    uint64_t gw_tx_end = 0;      /* the gateway's transmitter is busy until */
    for (size_t i = 0; i < n; i++) {
        d[i].dr = lab_adr_dr(lab_link_snr(&rng, -20.0, 3.5), 5.0);
        if (heap_push(&h, (ev){lab_rng_below(&rng, 60000000), (uint32_t)i, EV_START}) != 0)
            goto out;
    }
    size_t finished = 0;
    uint64_t now = 0;
    while (h.n > 0 && finished < n) {
        ev e = heap_pop(&h);
        now = e.t;
        dev *v = &d[e.dev];
        const step *s = &plan[v->dr][v->step];
        if (e.kind == EV_START) {
            double f = 868.1 + 0.2 * (double)lab_rng_below(&rng, 3);
            if (v->free_at > now) {
                if (heap_push(&h, (ev){v->free_at + lab_rng_below(&rng, 1000000), e.dev, EV_START}) != 0)
                    goto out;
                continue;
            }
            uint64_t a = air_us(v->dr, true, s->up);
            v->free_at = now + a * 100;
            v->start = now;
            v->freq = f;
            v->frames++;
            v->air_s += (double)a / 1e6;
            lab_lora_params p;
            if (lab_lora_params_eu868(v->dr, true, &p) != LAB_OK ||
                lab_medium_uplink(m, e.dev, now, now + a, f, p.sf, p.bw_khz) != LAB_OK)
                continue; /* medium full: counted in m->full, the device is stuck: the result says so */
            if (heap_push(&h, (ev){now + a, e.dev, EV_END}) != 0)
                goto out;
        } else if (e.kind == EV_END) {
            if (m->n > LAB_MEDIUM_MAX / 2 && now > 20000000)
                lab_medium_prune(m, now - 20000000);
            bool heard = lab_medium_heard(m, e.dev);
            uint64_t next = 0;
            if (heard && s->down == 0) {
                v->step++;
            } else if (heard) {
                /* the NS answers at once: RX1 on the uplink's channel and DR, else RX2 (869.525, DR0) */
                uint64_t t1 = now + (uint64_t)s->delay * 1000000u, t2 = t1 + 1000000u;
                uint64_t a1 = air_us(v->dr, false, s->down), a2 = air_us(0, false, s->down);
                lab_lora_params p;
                bool sent = false;
                if (t1 >= gw_tx_end && lab_dc_take(&gw, v->freq, t1, a1) == LAB_OK &&
                    lab_lora_params_eu868(v->dr, false, &p) == LAB_OK &&
                    lab_medium_downlink(m, e.dev | 0x80000000u, t1, t1 + a1, v->freq, p.sf, p.bw_khz) == LAB_OK) {
                    gw_tx_end = t1 + a1;
                    next = t1 + a1;
                    v->air_s += (double)a1 / 1e6;
                    sent = true;
                } else if (t2 >= gw_tx_end && lab_dc_take(&gw, LAB_EU868_RX2_FREQ, t2, a2) == LAB_OK &&
                           lab_medium_downlink(m, e.dev | 0x80000000u, t2, t2 + a2, LAB_EU868_RX2_FREQ, 12, 125) ==
                               LAB_OK) {
                    gw_tx_end = t2 + a2;
                    next = t2 + a2;
                    v->air_s += (double)a2 / 1e6;
                    sent = true;
                } else {
                    r.dc_refused++;
                }
                if (sent) {
                    v->frames++;
                    v->step++;
                    v->fails = 0;
                }
            }
            if (v->step == plan_n[v->dr]) {
                done[finished++] = (double)(next ? next : now) / 1e6;
                continue;
            }
            if (next == 0) {
                /* nothing came: RX2 closes, then a join backs off, data waits for the duty cycle */
                next = now + (uint64_t)s->delay * 1000000u + 1500000u;
                if (s->up == JR_LEN) {
                    v->fails++;
                    next += (uint64_t)1000000u << (v->fails < 10 ? v->fails : 10);
                }
            }
            if (heap_push(&h, (ev){next + lab_rng_below(&rng, 1000000), e.dev, EV_START}) != 0)
                goto out;
        }
    }
    r.ok = finished == n;
    if (finished > 0) {
        qsort(done, finished, sizeof *done, cmp_d);
        r.last_s = done[finished - 1];
        r.median_s = done[finished / 2];
    }
    double frames = 0, air = 0;
    for (size_t i = 0; i < n; i++)
        frames += d[i].frames, air += d[i].air_s;
    r.frames_per_dev = frames / (double)n;
    r.air_per_dev_s = air / (double)n;
    r.collisions = m->collisions;
out:
    free(h.e);
    free(d);
    free(done);
    free(m);
    return r;
}

static void human(double s, char *out, size_t cap)
{
    if (s < 120)
        snprintf(out, cap, "%.0f s", s);
    else if (s < 7200)
        snprintf(out, cap, "%.0f min", s / 60);
    else if (s < 3 * 86400)
        snprintf(out, cap, "%.1f h", s / 3600);
    else
        snprintf(out, cap, "%.1f d", s / 86400);
}

int main(int argc, char **argv)
{
    size_t max_cell = 100;
    uint64_t seed = 1;
    profile_kind kind = PROFILE_NOW;
    for (int i = 1; i < argc; i += 2) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v != NULL && strcmp(argv[i], "--max-cell") == 0)
            max_cell = strtoul(v, NULL, 10);
        else if (v != NULL && strcmp(argv[i], "--seed") == 0)
            seed = strtoull(v, NULL, 10);
        else if (v != NULL && strcmp(argv[i], "--profile") == 0 && (strcmp(v, "now") == 0 || strcmp(v, "before") == 0))
            kind = strcmp(v, "now") == 0 ? PROFILE_NOW : PROFILE_BEFORE;
        else {
            fprintf(stderr, "usage: lab_scale [--max-cell N] [--seed S] [--profile now|before]\n");
            return 2;
        }
    }
    printf("== minimum frames and time on air of one activation (bootstrap join, the profile, each command's "
           "response and its ack, customer join, confirming uplink)\n"
           "   now: one INSTALL %u B sealed that activates at once, its response in place of the ack of its last "
           "fragment;\n   before: INSTALL %u B + ACTIVATE %u B, each last fragment acked in an uplink of its own\n",
           MLS_OVERHEAD + INSTALL_BODY, MLS_OVERHEAD + INSTALL_BODY, MLS_OVERHEAD + ACTIVATE_BODY);
    printf("%-4s %-10s | %-40s | %s\n", "", "", "now", "before");
    printf("%-4s %-10s | %4s %4s %6s %11s %11s | %4s %4s %6s %11s %11s\n", "DR", "", "up", "down", "frames",
           "air up ms", "air down ms", "up", "down", "frames", "air up ms", "air down ms");
    for (uint8_t dr = 0; dr < 6; dr++) {
        unsigned up = 0, down = 0, bup = 0, bdown = 0;
        double au = 0, ad = 0, bau = 0, bad = 0;
        activation_cost(dr, PROFILE_NOW, &up, &down, &au, &ad);
        activation_cost(dr, PROFILE_BEFORE, &bup, &bdown, &bau, &bad);
        uint8_t sf = 0;
        uint16_t bw = 0;
        if (lab_eu868_dr_params(dr, &sf, &bw) != LAB_OK)
            return 1;
        char name[16];
        snprintf(name, sizeof name, "SF%uBW%u", sf, bw);
        printf("DR%-2u %-10s | %4u %4u %6u %11.1f %11.1f | %4u %4u %6u %11.1f %11.1f\n", dr, name, up, down, up + down,
               au, ad, bup, bdown, bup + bdown, bau, bad);
    }
    printf("\n== time to activate N devices behind G gateways (one cell of N/G devices simulated; seed %llu; the "
           "profile as it travels %s)\n",
           (unsigned long long)seed, kind == PROFILE_NOW ? "now" : "before");
    static const size_t N[] = {10000, 100000, 1000000};
    static const size_t G[] = {1, 10, 100};
    size_t sizes[16];
    cell_result res[16];
    size_t n_sizes = 0;
    for (size_t a = 0; a < 3; a++)
        for (size_t b = 0; b < 3; b++) {
            size_t c = N[a] / G[b];
            bool known = false;
            for (size_t k = 0; k < n_sizes; k++)
                known |= sizes[k] == c;
            if (!known && c <= max_cell) {
                sizes[n_sizes] = c;
                res[n_sizes] = run_cell(c, seed, kind);
                fprintf(stderr, "lab_scale: a cell of %zu devices simulated\n", c);
                printf("# cell of %7zu devices: last active after %.0f s (median %.0f s), %.1f frames and %.2f s on air "
                       "per device, %llu uplinks lost to collisions, %llu downlinks the gateway's duty cycle refused%s\n",
                       c, res[n_sizes].last_s, res[n_sizes].median_s, res[n_sizes].frames_per_dev,
                       res[n_sizes].air_per_dev_s, (unsigned long long)res[n_sizes].collisions,
                       (unsigned long long)res[n_sizes].dc_refused, res[n_sizes].ok ? "" : " (NOT all activated)");
                n_sizes++;
            }
        }
    size_t largest = 0;
    for (size_t k = 0; k < n_sizes; k++)
        if (sizes[k] > sizes[largest])
            largest = k;
    printf("%-10s %14s %14s %14s\n", "N \\ G", "1", "10", "100");
    for (size_t a = 0; a < 3; a++) {
        printf("%-10zu", N[a]);
        for (size_t b = 0; b < 3; b++) {
            size_t c = N[a] / G[b];
            char t[32], cellv[40];
            double s = -1;
            bool projected = true;
            for (size_t k = 0; k < n_sizes; k++)
                if (sizes[k] == c)
                    s = res[k].last_s, projected = false;
            if (s < 0 && n_sizes > 0)
                s = res[largest].last_s * (double)c / (double)sizes[largest];
            human(s, t, sizeof t);
            snprintf(cellv, sizeof cellv, "%s%s", t, projected ? " (proj.)" : "");
            printf(" %14s", cellv);
        }
        printf("\n");
    }
    return 0;
}

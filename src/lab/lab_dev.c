/*
 * lab_dev.c - simulated devices over the simulated radio (lab_dev.h).
 *
 * Each device's element runs in this process over a RAM copy of its image
 * (simulated flash, sehost/se_nvm_ram.h), so thousands of devices cost no
 * fsync per frame; lab_dev_save writes the image back when the caller wants
 * it kept.
 *
 * Workers: each owns one gateway socket per network and keeps up to
 * `in_flight` class A exchanges open. A device's uplink is pushed by the
 * worker's gateway of every network that hears the device (each copy lost
 * with loss_up); the NS sends the downlink to the gateway that heard the
 * uplink, so it comes back to this worker, which hands it to the device
 * whose receive window it falls in (its tmst, frequency and data rate). A
 * downlink is lost with loss_down (the TX_ACK still goes: the gateway sent
 * it, the device did not hear it). An exchange ends with the downlink its
 * device took, or when its RX2 has closed in wall time.
 *
 * The worker's concentrator clock (tmst) advances FRAME_SPACING_US per
 * frame, so every window of a frame (RX2 at most 16 s after it) ends before
 * the worker's next frame: a window's tmst names one open exchange, except
 * after the 32-bit clock wrapped under a very long wait, when every
 * exchange it names tries the frame and its MIC decides, as on the air.
 */
#include "lab/lab_dev.h"
#include "lab/lab_region.h"
#include "lorawan/lw_crypto.h"
#include "lorawan/lw_secure.h"
#include "sehost/se_nvm_file.h"

#include <errno.h>
#include <math.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#define APP_FPORT 1

/* ---------------------------------------------------------------- the element in RAM */

/* IMAGE.mac: one line, "ferry-lab-mac 1 DEVADDR JOINEUI RX1DROFFSET RX2DR
 * RXDELAY" (hex, hex, decimal...). Not secret: no key is in it. */
#define MAC_MAGIC "ferry-lab-mac 1"

static void mac_path(const lab_dev *d, char *out, size_t cap)
{
    snprintf(out, cap, "%s.mac", d->path);
}

/* True when IMAGE.mac holds the MAC state of the session (dev_addr,
 * join_eui); the settings are then restored. */
static bool mac_state_load(lab_dev *d, uint32_t dev_addr, uint64_t join_eui)
{
    char path[sizeof d->path + 8];
    mac_path(d, path, sizeof path);
    FILE *fp = fopen(path, "re");
    if (fp == NULL)
        return false;
    char line[128];
    bool got = fgets(line, sizeof line, fp) != NULL;
    fclose(fp);
    unsigned long long addr = 0, eui = 0;
    unsigned off = 0, dr2 = 0, delay = 0;
    if (!got || strncmp(line, MAC_MAGIC " ", sizeof MAC_MAGIC) != 0 ||
        sscanf(line + sizeof MAC_MAGIC, "%llx %llx %u %u %u", &addr, &eui, &off, &dr2, &delay) != 5)
        return false;
    if (addr != dev_addr || eui != join_eui || off > 7 || dr2 > 15 || delay < 1 || delay > 15)
        return false;
    d->mac_dev_addr = dev_addr;
    d->mac_known = true;
    d->joined_join_eui = join_eui;
    d->rx1_dr_offset = (uint8_t)off;
    d->rx2_dr = (uint8_t)dr2;
    d->rx_delay_s = (uint8_t)delay;
    return true;
}

static lab_status mac_state_save(const lab_dev *d)
{
    char path[sizeof d->path + 8], tmp[sizeof d->path + 16];
    mac_path(d, path, sizeof path);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return LAB_ERR_IO;
    char line[128];
    int n = snprintf(line, sizeof line, MAC_MAGIC " %08X %016llX %u %u %u\n", (unsigned)d->mac_dev_addr,
                     (unsigned long long)d->joined_join_eui, d->rx1_dr_offset, d->rx2_dr, d->rx_delay_s);
    bool ok = n > 0 && write(fd, line, (size_t)n) == n && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return LAB_ERR_IO;
    }
    return LAB_OK;
}

lab_status lab_dev_open(lab_dev *d, const char *path, uint8_t dr, uint32_t in_range, uint32_t seed)
{
    memset(d, 0, sizeof *d);
    if (strlen(path) >= sizeof d->path || dr > 5)
        return LAB_ERR_ARGUMENT;
    memcpy(d->path, path, strlen(path) + 1);
    const char *why = NULL;
    se_status ls = se_nvm_file_load(path, &d->flash, &why);
    if (ls == SE_ERR_NVM)
        return LAB_ERR_IO;
    if (ls != SE_OK || se_nvm_ram_bind(&d->flash, &d->nvm) != SE_OK)
        return LAB_ERR_FORMAT;
    if (se_boot(&d->e, &d->nvm, lw_crypto_software()) != SE_OK)
        return LAB_ERR_FORMAT;
    se_info info;
    if (se_get_info(&d->e, &info) != SE_OK)
        return LAB_ERR_FORMAT;
    d->dev_eui = info.dev_eui;
    d->dr = dr;
    d->in_range = in_range;
    d->rng = seed != 0 ? seed : 0x9E3779B9u;
    if (info.joined && !mac_state_load(d, info.dev_addr, info.join_eui)) {
        d->must_join = true;
        d->st.rejoins++;
    }
    pthread_mutex_init(&d->lock, NULL);
    return LAB_OK;
}

lab_status lab_dev_save(lab_dev *d)
{
    if (se_nvm_file_save(d->path, &d->flash) != SE_OK)
        return LAB_ERR_IO;
    /* After the image: a cut between the two leaves a MAC state that names
     * an older session or none, and the device joins again. */
    return d->mac_known ? mac_state_save(d) : LAB_OK;
}

void lab_dev_close(lab_dev *d)
{
    se_state_wipe(&d->e.st);
    lw_secure_wipe(d->flash.mem, sizeof d->flash.mem);
    pthread_mutex_destroy(&d->lock);
}

lab_status lab_dev_info(lab_dev *d, se_info *out)
{
    pthread_mutex_lock(&d->lock);
    se_status st = se_get_info(&d->e, out);
    pthread_mutex_unlock(&d->lock);
    return st == SE_OK ? LAB_OK : LAB_ERR_ARGUMENT;
}

/* xorshift32: loss draws, reproducible per device. */
static double draw(lab_dev *d)
{
    uint32_t x = d->rng;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    d->rng = x;
    return (double)x / 4294967296.0;
}

/* ---------------------------------------------------------------- the fleet */

#define FRAME_SPACING_US 17000000u
#define KEEPALIVE_S 5.0              /* PULL_DATA, as a forwarder's keepalive_interval */
#define IN_FLIGHT_DEFAULT 32u
#define IN_FLIGHT_MAX 4096u
#define WINDOW_MARGIN_MS_DEFAULT 300

/* One open class A exchange: the uplink sent, the device listening. */
typedef struct exchange {
    lab_dev *d;
    size_t idx;
    bool join;
    uint64_t join_eui;           /* of the join-request */
    bool sent;                   /* a frame was built and put on the air */
    bool link_check;             /* the uplink carried a LinkCheckReq */
    uint32_t heard;              /* networks whose gateway got the uplink */
    uint32_t rx1_tmst, rx2_tmst;
    double rx1_freq;
    uint8_t rx1_sf, rx2_sf;
    uint16_t rx1_bw, rx2_bw;
    double deadline;             /* wall time: RX2 closed */
} exchange;

typedef struct worker {
    struct lab_fleet *f;
    lab_gw gw[LAB_AIR_NETWORKS];
    bool gw_open[LAB_AIR_NETWORKS];
    uint32_t tmst;               /* this worker's concentrator clock, microseconds */
    double keepalive_at;
    exchange *open;
    size_t n_open;
    lab_fleet_counters c;        /* merged into the fleet's at the end of a run */
    pthread_t thread;
    /* simulated clock (lab_dev_sim below) */
    uint64_t now_us;             /* the time of the event being handled (its cell's clock) */
    uint64_t max_us;             /* the latest event handled: where the next run starts */
    uint64_t *hz;                /* per cell: the RX1 its waiting exchanges hold it at */
    size_t *park_head;           /* per cell: devices due while it waits (SIZE_MAX: none) */
    size_t *park_next;           /* per device: the next one parked in its cell */
    struct sim_x *sx;
    size_t n_sx;
    size_t *heap;                /* device indices, by next_us */
    size_t n_heap, cap_heap;
    uint32_t next_id;
    int ep;                      /* epoll over every gateway socket of its cells (0: not yet) */
} worker;

/* Simulated clock: one cell, one gateway per network, worker cell % workers. */
typedef struct cell {
    lab_gw gw[LAB_AIR_NETWORKS];
    bool gw_open[LAB_AIR_NETWORKS];
    lab_medium *med[LAB_AIR_NETWORKS];
    lab_dc dc[LAB_AIR_NETWORKS];
} cell;

struct lab_fleet {
    lab_air air;
    pthread_mutex_t lock;
    lab_dev **dev;
    size_t n_dev, cap_dev;
    unsigned n_workers;
    worker *w;
    cell *cells;                 /* simulated clock: air.gateways of them */
    unsigned n_cells;
    lab_fleet_counters total;
    /* one run */
    bool (*want)(lab_dev *d, void *ctx);
    void *ctx;
    size_t next;                 /* round robin cursor */
    unsigned max_steps;
    unsigned *steps;
    size_t remaining;            /* devices with steps < max_steps */
    double deadline;
    bool stop;
};

static double now_wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double thread_cpu(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
        return 0;
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static lab_status sim_cells_open(lab_fleet *f, uint64_t gw_eui_base);
static void *sim_work(void *arg);

lab_status lab_fleet_new(const lab_air *air, unsigned workers, uint64_t gw_eui_base, lab_fleet **out)
{
    if (air == NULL || air->n_net == 0 || air->n_net > LAB_AIR_NETWORKS || workers == 0 || workers > 256 ||
        air->in_flight > IN_FLIGHT_MAX)
        return LAB_ERR_ARGUMENT;
    lab_fleet *f = calloc(1, sizeof *f);
    if (f == NULL)
        return LAB_ERR_NOMEM;
    f->air = *air;
    if (f->air.in_flight == 0)
        f->air.in_flight = IN_FLIGHT_DEFAULT;
    if (f->air.window_margin_ms <= 0)
        f->air.window_margin_ms = WINDOW_MARGIN_MS_DEFAULT;
    pthread_mutex_init(&f->lock, NULL);
    f->n_workers = workers;
    f->w = calloc(workers, sizeof *f->w);
    if (f->w == NULL) {
        lab_fleet_free(f);
        return LAB_ERR_NOMEM;
    }
    if (f->air.clock == LAB_CLOCK_SIMULATED) {
        lab_status st = sim_cells_open(f, gw_eui_base);
        if (st != LAB_OK) {
            lab_fleet_free(f);
            return st;
        }
    }
    for (unsigned i = 0; i < workers; i++) {
        worker *w = &f->w[i];
        w->f = f;
        w->tmst = 1000000u * (i + 1);
        w->open = calloc(f->air.in_flight, sizeof *w->open);
        if (w->open == NULL) {
            lab_fleet_free(f);
            return LAB_ERR_NOMEM;
        }
        for (size_t n = 0; n < f->air.n_net && f->air.clock == LAB_CLOCK_WALL; n++) {
            uint64_t eui = gw_eui_base + ((uint64_t)n << 16) + i;
            if (lab_gw_open(&w->gw[n], f->air.net[n].ns_addr, eui) != LAB_OK ||
                lab_gw_pull(&w->gw[n], 2000) != LAB_OK) {
                w->gw_open[n] = w->gw[n].fd >= 0;
                lab_fleet_free(f);
                return LAB_ERR_IO;
            }
            w->gw_open[n] = true;
        }
        w->keepalive_at = now_wall() + KEEPALIVE_S;
    }
    *out = f;
    return LAB_OK;
}

void lab_fleet_free(lab_fleet *f)
{
    if (f == NULL)
        return;
    for (unsigned i = 0; f->w != NULL && i < f->n_workers; i++) {
        for (size_t n = 0; n < f->air.n_net; n++)
            if (f->w[i].gw_open[n])
                lab_gw_close(&f->w[i].gw[n]);
        free(f->w[i].open);
        free(f->w[i].sx);
        free(f->w[i].heap);
        free(f->w[i].hz);
        free(f->w[i].park_head);
        free(f->w[i].park_next);
        if (f->w[i].ep > 0)
            close(f->w[i].ep);
    }
    for (unsigned c = 0; f->cells != NULL && c < f->n_cells; c++)
        for (size_t n = 0; n < f->air.n_net; n++) {
            if (f->cells[c].gw_open[n])
                lab_gw_close(&f->cells[c].gw[n]);
            free(f->cells[c].med[n]);
        }
    free(f->cells);
    free(f->w);
    free(f->dev);
    free(f->steps);
    pthread_mutex_destroy(&f->lock);
    free(f);
}

lab_status lab_fleet_add(lab_fleet *f, lab_dev *d)
{
    if (f->n_dev == f->cap_dev) {
        size_t cap = f->cap_dev == 0 ? 64 : 2 * f->cap_dev;
        lab_dev **nd = realloc(f->dev, cap * sizeof *nd);
        if (nd == NULL)
            return LAB_ERR_NOMEM;
        f->dev = nd;
        f->cap_dev = cap;
    }
    f->dev[f->n_dev++] = d;
    return LAB_OK;
}

void lab_fleet_set_down(lab_fleet *f, size_t i, bool down)
{
    pthread_mutex_lock(&f->lock);
    if (i < f->air.n_net)
        f->air.net[i].down = down;
    pthread_mutex_unlock(&f->lock);
}

void lab_fleet_counters_get(lab_fleet *f, lab_fleet_counters *out)
{
    pthread_mutex_lock(&f->lock);
    *out = f->total;
    for (unsigned i = 0; i < f->n_workers; i++)
        for (size_t n = 0; n < f->air.n_net; n++)
            if (f->w[i].gw_open[n]) {
                out->push_sent += f->w[i].gw[n].push_sent;
                out->push_acked += f->w[i].gw[n].push_acked;
                out->down_refused += f->w[i].gw[n].down_refused;
            }
    for (unsigned c = 0; f->cells != NULL && c < f->n_cells; c++)
        for (size_t n = 0; n < f->air.n_net; n++)
            if (f->cells[c].gw_open[n]) {
                out->push_sent += f->cells[c].gw[n].push_sent;
                out->push_acked += f->cells[c].gw[n].push_acked;
                out->down_refused += f->cells[c].gw[n].down_refused;
            }
    pthread_mutex_unlock(&f->lock);
}

/* ---- one exchange ---- */

/* The receive windows of the frame x->d is about to send at `tmst` on
 * `freq` (LoRaWAN L2 1.0.4 §3.3; EU868 RX1 data rate = uplink DR minus
 * RX1DROffset, floored at DR0). */
static void windows_of(const lab_air *air, exchange *x, uint32_t tmst, double freq)
{
    const lab_dev *d = x->d;
    unsigned delay = x->join ? LAB_JOIN_ACCEPT_DELAY1_S : d->rx_delay_s;
    unsigned off = x->join ? 0 : d->rx1_dr_offset;
    uint8_t dr1 = d->dr > off ? (uint8_t)(d->dr - off) : 0;
    uint8_t dr2 = x->join ? LAB_EU868_RX2_DR : d->rx2_dr;
    x->rx1_tmst = tmst + delay * 1000000u;
    x->rx2_tmst = x->rx1_tmst + 1000000u;
    x->rx1_freq = freq;
    if (lab_eu868_dr_params(dr1, &x->rx1_sf, &x->rx1_bw) != LAB_OK)
        x->rx1_sf = 12, x->rx1_bw = 125;
    if (lab_eu868_dr_params(dr2, &x->rx2_sf, &x->rx2_bw) != LAB_OK)
        x->rx2_sf = 12, x->rx2_bw = 125;
    x->deadline = now_wall() + (double)(delay + 1) + air->window_margin_ms / 1000.0;
}

/* The rxpk a gateway forwards for phy[len] heard at tmst. */
static void rxpk_fill(lab_rxpk *pk, uint32_t tmst, double freq, uint8_t sf, uint16_t bw, const uint8_t *phy, size_t len)
{
    memset(pk, 0, sizeof *pk);
    pk->tmst = tmst;
    pk->freq = freq;
    pk->stat = 1;
    pk->lora = true;
    pk->sf = sf;
    pk->bw = bw;
    memcpy(pk->codr, "4/5", 4);
    pk->rssi = -80;
    pk->lsnr = 5.0;
    pk->size = len;
    memcpy(pk->data, phy, len);
}

/* Pushes phy from every gateway of this worker whose network hears the
 * device, and opens the device's windows; x->heard gets a mask of the
 * networks that got a copy. */
static void transmit(worker *w, exchange *x, const uint8_t *phy, size_t len)
{
    lab_dev *d = x->d;
    lab_rxpk pk;
    uint8_t sf = 7;
    uint16_t bw = 125;
    if (lab_eu868_dr_params(d->dr, &sf, &bw) != LAB_OK)
        sf = 7, bw = 125;
    w->tmst += FRAME_SPACING_US;
    rxpk_fill(&pk, w->tmst, 868.1 + 0.2 * ((d->st.uplinks + d->st.join_requests) % 3), sf, bw, phy, len);
    lab_air air;
    pthread_mutex_lock(&w->f->lock);
    air = w->f->air;
    pthread_mutex_unlock(&w->f->lock);
    windows_of(&air, x, pk.tmst, pk.freq);
    x->heard = 0;
    for (size_t n = 0; n < air.n_net; n++) {
        if (!(d->in_range & (1u << n)) || air.net[n].down)
            continue;
        if (draw(d) < air.loss_up) {
            d->st.lost_up++;
            continue;
        }
        if (lab_gw_send_push(&w->gw[n], &pk) == LAB_OK)
            x->heard |= 1u << n;
    }
    /* time on air of one frame at this DR, roughly: SF7 ~ 50 ms .. SF12 ~ 1.5 s */
    d->st.radio_s += 0.05 * (double)(1u << (sf - 7));
}

/* Builds the device's next frame with its element into phy[*plen]. False
 * when the element had nothing to send (no session any more after a
 * profile switch: the next exchange joins). */
static bool exchange_build(exchange *x, uint8_t phy[LW_PHY_MAX], size_t *plen_out)
{
    lab_dev *d = x->d;
    double cpu0 = thread_cpu();
    size_t plen = 0;
    bool built = false;
    se_info info;
    if (se_get_info(&d->e, &info) != SE_OK)
        goto out;
    se_set_time(&d->e, (uint32_t)time(NULL));
    x->join = !info.joined || d->must_join;
    x->join_eui = info.join_eui;
    x->link_check = false;
    if (x->join) {
        built = se_build_join_request(&d->e, phy) == SE_OK;
        plen = LW_JOIN_REQUEST_LEN;
        goto out;
    }
    uint8_t frame[242];
    size_t flen = 0;
    /* LinkCheckReq (CID 0x02, no payload) rides in FOpts, taking one byte
     * of the FRMPayload's room. */
    static const uint8_t link_check_req[1] = {0x02};
    x->link_check = d->silent_uplinks >= LAB_DEV_SILENT_BEFORE_CHECK;
    size_t cap = lab_eu868_max_payload(d->dr) - (x->link_check ? sizeof link_check_req : 0);
    if (cap > sizeof frame)
        cap = sizeof frame;
    if (se_mls_next_uplink(&d->e, cap, frame, &flen) != SE_OK)
        flen = 0;
    uint8_t app[8];
    se_uplink up;
    memset(&up, 0, sizeof up);
    up.has_fport = true;
    up.tx_dr = d->dr;
    if (x->link_check) {
        up.fopts = link_check_req;
        up.fopts_len = sizeof link_check_req;
    }
    if (flen > 0) {
        up.fport = SE_MLS_FPORT;
        up.payload = frame;
        up.payload_len = flen;
    } else {
        /* the application's reading: its DevEUI's low bytes and a counter */
        uint32_t c = d->st.uplinks;
        uint8_t a[8] = {(uint8_t)(d->dev_eui >> 8), (uint8_t)d->dev_eui, 0x00, 0x01,
                        (uint8_t)(c >> 24), (uint8_t)(c >> 16), (uint8_t)(c >> 8), (uint8_t)c};
        memcpy(app, a, sizeof app);
        up.fport = APP_FPORT;
        up.payload = app;
        up.payload_len = sizeof app;
    }
    built = se_protect_uplink(&d->e, &up, phy, LW_PHY_MAX, &plen) == SE_OK;
    if (built && flen > 0)
        d->st.mls_uplinks++;
out:
    d->st.se_cpu_s += thread_cpu() - cpu0;
    if (!built)
        return false;
    if (x->join)
        d->st.join_requests++;
    else
        d->st.uplinks++;
    if (x->link_check)
        d->st.link_checks++;
    x->sent = true;
    *plen_out = plen;
    return true;
}

/* Builds the device's next frame and sends it (wall clock). */
static bool exchange_begin(worker *w, exchange *x)
{
    uint8_t phy[LW_PHY_MAX];
    size_t plen = 0;
    if (!exchange_build(x, phy, &plen))
        return false;
    transmit(w, x, phy, plen);
    return true;
}

/* The application's side of a secure command: it accepts it and answers
 * with its first bytes reversed, so a test can check the round trip. */
static void answer_secure_command(lab_dev *d)
{
    const uint8_t *cmd = NULL;
    size_t clen = 0;
    if (se_secure_command(&d->e, &cmd, &clen) != SE_OK)
        return;
    size_t keep = clen < sizeof d->last_secure ? clen : sizeof d->last_secure;
    memcpy(d->last_secure, cmd, keep);
    d->last_secure_len = keep;
    uint8_t reply[16];
    size_t rl = clen < sizeof reply ? clen : sizeof reply;
    for (size_t i = 0; i < rl; i++)
        reply[i] = cmd[rl - 1 - i];
    if (se_secure_reply(&d->e, true, reply, rl) == SE_OK)
        d->st.secure_commands++;
}

/* The device opens a downlink heard in one of its windows. True when it is
 * the device's (its element accepts it); otherwise the device goes on
 * listening, as when RX1 carried someone else's frame. */
static bool exchange_hear(exchange *x, const lab_txpk *down, bool rx2)
{
    lab_dev *d = x->d;
    double cpu0 = thread_cpu();
    bool taken = false;
    if (x->join) {
        se_join_result jres;
        if (se_process_join_accept(&d->e, down->data, down->size, &jres) == SE_OK) {
            taken = true;
            d->st.joins++;
            d->join_failures = 0;
            d->joined_join_eui = x->join_eui;
            d->mac_dev_addr = jres.dev_addr;
            d->mac_known = true;
            d->must_join = false;
            d->silent_uplinks = d->checks_unanswered = 0;
            d->rx1_dr_offset = (uint8_t)((jres.dl_settings >> 4) & 0x07);
            d->rx2_dr = (uint8_t)(jres.dl_settings & 0x0F);
            d->rx_delay_s = (uint8_t)((jres.rx_delay & 0x0F) == 0 ? 1 : (jres.rx_delay & 0x0F));
            lw_secure_wipe(&jres, sizeof jres);
        }
    } else {
        uint8_t buf[LW_PHY_MAX];
        se_downlink dl;
        if (se_unprotect_downlink(&d->e, down->data, down->size, buf, sizeof buf, &dl) == SE_OK) {
            taken = true;
            d->st.downlinks++;
            d->silent_uplinks = d->checks_unanswered = 0;
            if (dl.mls)
                d->st.mls_downlinks++;
            if (dl.secure_pending)
                answer_secure_command(d);
        }
        lw_secure_wipe(buf, sizeof buf);
    }
    if (taken) {
        if (rx2)
            d->st.rx2++;
        else
            d->st.rx1++;
    }
    d->st.se_cpu_s += thread_cpu() - cpu0;
    return taken;
}

/* RX2 closed without a frame for the device. Returns the join back-off it
 * imposes, in seconds (0 for a data uplink). */
static double exchange_silent(exchange *x)
{
    lab_dev *d = x->d;
    if (!x->join) {
        if (!x->sent)
            return 0;
        d->silent_uplinks++;
        if (x->link_check && ++d->checks_unanswered >= LAB_DEV_CHECKS_BEFORE_REJOIN) {
            /* The network no longer knows this session: join again. */
            d->must_join = true;
            d->checks_unanswered = d->silent_uplinks = 0;
            d->st.rejoins++;
        }
        return 0;
    }
    /* Retransmission back-off, in simulated time: the spec's duty-cycle
     * limits make a device wait longer after each unanswered attempt. */
    d->join_failures++;
    unsigned shift = d->join_failures < 10 ? d->join_failures : 10;
    d->st.radio_s += (double)(1u << shift);
    return (double)(1u << shift);
}

static bool same_freq(double a, double b)
{
    return fabs(a - b) < 0.0005;
}

/* ---- the workers ---- */

/* The next device that wants an exchange, locked; NULL when none is free
 * now (all done, or the rest in other workers' exchanges). */
static lab_dev *pick(lab_fleet *f, size_t *idx)
{
    for (;;) {
        lab_dev *d = NULL;
        size_t i = 0;
        pthread_mutex_lock(&f->lock);
        if (!f->stop && now_wall() > f->deadline)
            f->stop = true;
        for (size_t tried = 0; !f->stop && f->remaining > 0 && tried < f->n_dev; tried++) {
            i = f->next;
            f->next = (f->next + 1) % f->n_dev;
            if (f->steps[i] >= f->max_steps || pthread_mutex_trylock(&f->dev[i]->lock) != 0)
                continue;
            d = f->dev[i];
            break;
        }
        pthread_mutex_unlock(&f->lock);
        if (d == NULL)
            return NULL;
        if (f->want(d, f->ctx)) {
            *idx = i;
            return d;
        }
        pthread_mutex_lock(&f->lock);
        f->steps[i] = f->max_steps; /* done: not picked again in this run */
        f->remaining--;
        pthread_mutex_unlock(&f->lock);
        pthread_mutex_unlock(&d->lock);
    }
}

/* The exchange is over: the device is free for its next one. */
static void release(worker *w, exchange *x)
{
    lab_fleet *f = w->f;
    w->c.exchanges++;
    pthread_mutex_lock(&f->lock);
    if (++f->steps[x->idx] == f->max_steps)
        f->remaining--;
    pthread_mutex_unlock(&f->lock);
    pthread_mutex_unlock(&x->d->lock);
}

static void close_open(worker *w, size_t k)
{
    release(w, &w->open[k]);
    w->open[k] = w->open[--w->n_open];
}

/* Hands a downlink that gateway n received to the device whose window it
 * falls in. */
static void deliver(worker *w, size_t n, const lab_txpk *down)
{
    w->c.down_received++;
    bool lost = false;
    for (size_t k = 0; k < w->n_open; k++) {
        exchange *x = &w->open[k];
        if (!(x->d->in_range & (1u << n)))
            continue;
        bool rx1 = down->tmst == x->rx1_tmst && same_freq(down->freq, x->rx1_freq) && down->sf == x->rx1_sf &&
                   down->bw == x->rx1_bw;
        bool rx2 = down->tmst == x->rx2_tmst && same_freq(down->freq, LAB_EU868_RX2_FREQ) &&
                   down->sf == x->rx2_sf && down->bw == x->rx2_bw;
        if (!rx1 && !rx2)
            continue;
        if (draw(x->d) < w->f->air.loss_down) {
            x->d->st.lost_down++;
            lost = true;
            continue;
        }
        if (exchange_hear(x, down, rx2)) {
            close_open(w, k);
            return;
        }
    }
    if (!lost)
        w->c.down_missed++;
}

static bool finished(lab_fleet *f)
{
    pthread_mutex_lock(&f->lock);
    if (!f->stop && now_wall() > f->deadline)
        f->stop = true;
    bool over = f->stop || f->remaining == 0;
    pthread_mutex_unlock(&f->lock);
    return over;
}

/* Opens exchanges for devices that want one, up to the worker's limit. */
static void open_exchanges(worker *w)
{
    lab_fleet *f = w->f;
    while (w->n_open < f->air.in_flight) {
        exchange *x = &w->open[w->n_open];
        memset(x, 0, sizeof *x);
        x->d = pick(f, &x->idx);
        if (x->d == NULL)
            return;
        if (exchange_begin(w, x) && x->heard != 0) {
            if (++w->n_open > w->c.in_flight_max)
                w->c.in_flight_max = (uint32_t)w->n_open;
            continue;
        }
        /* Nothing was sent, or no gateway heard it: nobody can answer, so
         * its windows pass in simulated time. */
        if (x->heard == 0)
            (void)exchange_silent(x);
        release(w, x);
    }
}

/* Waits for downlinks until the nearest window closes (or a short while,
 * so that devices other workers free are picked up), then ends what
 * closed. */
static void serve_windows(worker *w)
{
    lab_fleet *f = w->f;
    double now = now_wall(), next = now + 0.005;
    if (w->n_open == f->air.in_flight) {
        next = now + 1.0;
        for (size_t k = 0; k < w->n_open; k++)
            if (w->open[k].deadline < next)
                next = w->open[k].deadline;
    }
    struct pollfd p[LAB_AIR_NETWORKS];
    for (size_t n = 0; n < f->air.n_net; n++)
        p[n] = (struct pollfd){.fd = w->gw[n].fd, .events = POLLIN};
    int ms = (int)ceil((next - now) * 1000.0);
    (void)poll(p, f->air.n_net, ms > 0 ? ms : 0);
    for (size_t n = 0; n < f->air.n_net; n++) {
        lab_gw_read(&w->gw[n]);
        lab_txpk down;
        while (lab_gw_take_down(&w->gw[n], &down))
            deliver(w, n, &down);
    }
    now = now_wall();
    for (size_t k = 0; k < w->n_open;) {
        if (w->open[k].deadline <= now) {
            (void)exchange_silent(&w->open[k]);
            close_open(w, k);
        } else {
            k++;
        }
    }
    if (now >= w->keepalive_at) {
        for (size_t n = 0; n < f->air.n_net; n++)
            if (lab_gw_send_pull(&w->gw[n]) != LAB_OK)
                w->c.keepalive_failed++;
        w->keepalive_at = now + KEEPALIVE_S;
    }
}

static void *work(void *arg)
{
    worker *w = arg;
    lab_fleet *f = w->f;
    for (;;) {
        open_exchanges(w);
        if (w->n_open == 0 && finished(f))
            return NULL;
        serve_windows(w);
    }
}

/* ---------------------------------------------------------------- the simulated clock */

#define SIM_COLLECT_EVERY 64u
#define SIM_ANSWER_GUARD_S 3.0       /* wall time an NS has to answer (a downlink or a notice);
                                        past it the exchange ends silent (AnswersLate): some answers
                                        are still lost at 2,000 devices and more (docs/scale.md) */
#define SIM_WAIT_MAX 64u             /* uplinks a worker has pushed and not had answered: an NS
                                        reads one UDP socket, whose buffer a burst would overflow */
#define SIM_POLL_MS 20               /* longest wait for an answer before looking again */
#define SIM_JITTER_US 1000000u       /* a device's random delay before an exchange */
#define SIM_PRUNE_US 20000000u       /* frames older than this cannot overlap a new one */
#define SIM_POLL_BACKOFF_MAX_S 512u  /* longest simulated wait after data uplinks heard nothing */

typedef enum sx_state { SX_AIR, SX_WAIT, SX_DOWN } sx_state;

/* One exchange under the simulated clock. */
typedef struct sim_x {
    exchange x;
    sx_state state;
    unsigned cell;
    uint32_t id;                 /* its name on the cell's media */
    uint64_t start_us, end_us;   /* the uplink on the air */
    uint64_t rx1_us, rx2_us;
    uint64_t horizon_us;         /* the clock waits here for its networks' answers */
    double freq;
    uint8_t sf;
    uint16_t bw;
    size_t len;
    uint8_t phy[LW_PHY_MAX];
    uint32_t pushed;             /* networks whose gateway passed the uplink on */
    uint32_t answered;           /* ... that said "no downlink" */
    double guard;                /* wall time: end without an answer */
    lab_txpk down;
    bool down_rx2;
    uint64_t hear_us;            /* the downlink has been received */
    bool roamed;                 /* a network said its answer may come later (txnone wait) */
} sim_x;

static lab_status sim_cells_open(lab_fleet *f, uint64_t gw_eui_base)
{
    f->n_cells = f->air.gateways != 0 ? f->air.gateways : f->n_workers;
    if (f->n_cells > 0xFFFF)
        return LAB_ERR_ARGUMENT;
    f->cells = calloc(f->n_cells, sizeof *f->cells);
    if (f->cells == NULL)
        return LAB_ERR_NOMEM;
    for (unsigned c = 0; c < f->n_cells; c++)
        for (size_t n = 0; n < f->air.n_net; n++) {
            cell *ce = &f->cells[c];
            lab_dc_init(&ce->dc[n]);
            ce->med[n] = malloc(sizeof *ce->med[n]);
            if (ce->med[n] == NULL)
                return LAB_ERR_NOMEM;
            lab_medium_init(ce->med[n]);
            uint64_t eui = gw_eui_base + ((uint64_t)n << 16) + c;
            if (lab_gw_open(&ce->gw[n], f->air.net[n].ns_addr, eui) != LAB_OK) {
                ce->gw_open[n] = ce->gw[n].fd >= 0;
                return LAB_ERR_IO;
            }
            ce->gw_open[n] = true;
            ce->gw[n].defer_ack = true;
            if (lab_gw_pull(&ce->gw[n], 2000) != LAB_OK)
                return LAB_ERR_IO;
        }
    return LAB_OK;
}

/* Consecutive devices share a cell (so each cell holds a mix of the data
 * rates a caller spreads by index). */
static unsigned cell_of(const lab_fleet *f, size_t dev_idx)
{
    size_t per = (f->n_dev + f->n_cells - 1) / f->n_cells;
    return (unsigned)(dev_idx / (per ? per : 1));
}

/* ---- the device heap ---- */

static bool heap_less(const lab_fleet *f, size_t a, size_t b)
{
    return f->dev[a]->next_us < f->dev[b]->next_us || (f->dev[a]->next_us == f->dev[b]->next_us && a < b);
}

static void heap_push(worker *w, size_t i)
{
    lab_fleet *f = w->f;
    size_t k = w->n_heap++;
    w->heap[k] = i;
    while (k > 0 && heap_less(f, w->heap[k], w->heap[(k - 1) / 2])) {
        size_t p = (k - 1) / 2, t = w->heap[p];
        w->heap[p] = w->heap[k];
        w->heap[k] = t;
        k = p;
    }
}

static size_t heap_pop(worker *w)
{
    lab_fleet *f = w->f;
    size_t top = w->heap[0], k = 0;
    w->heap[0] = w->heap[--w->n_heap];
    for (;;) {
        size_t l = 2 * k + 1, r = l + 1, m = k;
        if (l < w->n_heap && heap_less(f, w->heap[l], w->heap[m]))
            m = l;
        if (r < w->n_heap && heap_less(f, w->heap[r], w->heap[m]))
            m = r;
        if (m == k)
            return top;
        size_t t = w->heap[m];
        w->heap[m] = w->heap[k];
        w->heap[k] = t;
        k = m;
    }
}

/* Devices whose start fell at or past their cell's horizon wait off the
 * heap, in their cell's list, so that other cells' devices behind them are
 * not held up; anything that moves the cell's horizon puts them back. */
static void park(worker *w, unsigned c, size_t i)
{
    w->park_next[i] = w->park_head[c];
    w->park_head[c] = i;
}

static void unpark(worker *w, unsigned c)
{
    for (size_t i = w->park_head[c]; i != SIZE_MAX;) {
        size_t nx = w->park_next[i];
        heap_push(w, i);
        i = nx;
    }
    w->park_head[c] = SIZE_MAX;
}

/* ---- one exchange ---- */

static uint64_t preamble_us(uint8_t sf, uint16_t bw)
{
    return (uint64_t)(12.25 * (double)(1u << sf) * 1000.0 / (double)(bw ? bw : 125));
}

/* The exchange is over at t_us (silent: its RX2 closed with nothing for the
 * device); the device goes back on the heap for its next one. */
static void sim_finish(worker *w, size_t k, bool silent, uint64_t t_us)
{
    sim_x *e = &w->sx[k];
    lab_dev *d = e->x.d;
    double backoff = silent ? exchange_silent(&e->x) : 0;
    if (silent && !e->x.join && d->silent_uplinks > 0) {
        /* A data uplink that heard nothing: wait 1, 2, 4 .. 512 simulated
         * seconds before the next one. A device free to send whenever its
         * own duty cycle allows would poll a cell whose gateway is out of
         * downlink air (1 % / 10 %) some ten times per downlink it can get,
         * every poll a round trip through the real servers: wall time and
         * CPU for nothing. A downlink heard resets the count. */
        unsigned n = d->silent_uplinks - 1;
        backoff = (double)(n < 9 ? 1u << n : SIM_POLL_BACKOFF_MAX_S);
    }
    uint64_t next = t_us + (uint64_t)(backoff * 1e6) + (uint64_t)(draw(d) * SIM_JITTER_US);
    d->next_us = next;
    d->st.sim_s = (double)t_us / 1e6;
    size_t idx = e->x.idx;
    unsigned c = e->cell;
    release(w, &e->x);
    w->sx[k] = w->sx[--w->n_sx];
    unpark(w, c);
    lab_fleet *f = w->f;
    pthread_mutex_lock(&f->lock);
    bool more = f->steps[idx] < f->max_steps;
    pthread_mutex_unlock(&f->lock);
    if (more)
        heap_push(w, idx);
}

/* The device at the top of the heap starts an exchange at w->now_us, or
 * waits for its duty cycle, or is done for this run. */
static void sim_start(worker *w)
{
    lab_fleet *f = w->f;
    size_t idx = heap_pop(w);
    lab_dev *d = f->dev[idx];
    pthread_mutex_lock(&d->lock);
    pthread_mutex_lock(&f->lock);
    bool spent = f->steps[idx] >= f->max_steps || f->stop;
    pthread_mutex_unlock(&f->lock);
    if (spent || !f->want(d, f->ctx)) {
        pthread_mutex_lock(&f->lock);
        if (f->steps[idx] < f->max_steps) {
            f->steps[idx] = f->max_steps;
            f->remaining--;
        }
        pthread_mutex_unlock(&f->lock);
        pthread_mutex_unlock(&d->lock);
        return;
    }
    double freq = 868.1 + 0.2 * (double)(unsigned)(draw(d) * 3.0);
    uint64_t at = lab_dc_next_us(&d->dc, freq, w->now_us);
    if (at > w->now_us) {
        d->next_us = at;
        pthread_mutex_unlock(&d->lock);
        heap_push(w, idx);
        return;
    }
    sim_x *e = &w->sx[w->n_sx];
    memset(e, 0, sizeof *e);
    e->x.d = d;
    e->x.idx = idx;
    e->cell = cell_of(f, idx);
    if (!exchange_build(&e->x, e->phy, &e->len)) {
        /* nothing to send: the next exchange joins */
        w->n_sx++;
        sim_finish(w, w->n_sx - 1, false, w->now_us);
        return;
    }
    lab_lora_params lp;
    uint64_t air = 0;
    if (lab_lora_params_eu868(d->dr, true, &lp) != LAB_OK || lab_lora_airtime_us(&lp, e->len, &air) != LAB_OK ||
        lab_dc_take(&d->dc, freq, w->now_us, air) != LAB_OK)
        air = 1000000; /* cannot happen: DR 0..5, a frame of at most 255 bytes, the band free at `at` */
    e->freq = freq;
    e->sf = lp.sf;
    e->bw = lp.bw_khz;
    e->start_us = w->now_us;
    e->end_us = w->now_us + air;
    e->id = ++w->next_id;
    e->state = SX_AIR;
    d->st.radio_s += (double)air / 1e6;
    w->c.air_up_s += (double)air / 1e6;
    cell *ce = &f->cells[e->cell];
    for (size_t n = 0; n < f->air.n_net; n++)
        if ((d->in_range & (1u << n)) &&
            lab_medium_uplink(ce->med[n], e->id, e->start_us, e->end_us, freq, e->sf, e->bw) != LAB_OK)
            w->c.medium_full++;
    if (++w->n_sx > w->c.in_flight_max)
        w->c.in_flight_max = (uint32_t)w->n_sx;
}

/* The uplink of exchange k has ended: each network's gateway that heard it
 * passes it on. */
static void sim_uplink_end(worker *w, size_t k)
{
    lab_fleet *f = w->f;
    sim_x *e = &w->sx[k];
    lab_dev *d = e->x.d;
    cell *ce = &f->cells[e->cell];
    lab_air air;
    pthread_mutex_lock(&f->lock);
    air = f->air;
    pthread_mutex_unlock(&f->lock);
    windows_of(&air, &e->x, (uint32_t)e->end_us, e->freq);
    unsigned delay = e->x.join ? LAB_JOIN_ACCEPT_DELAY1_S : d->rx_delay_s;
    e->rx1_us = e->end_us + (uint64_t)delay * 1000000u;
    e->rx2_us = e->rx1_us + 1000000u;
    lab_rxpk pk;
    rxpk_fill(&pk, (uint32_t)e->end_us, e->freq, e->sf, e->bw, e->phy, e->len);
    for (size_t n = 0; n < air.n_net; n++) {
        if (!(d->in_range & (1u << n)) || air.net[n].down)
            continue;
        lab_medium *m = ce->med[n];
        uint64_t col = m->collisions, deaf = m->deaf;
        bool heard = lab_medium_heard(m, e->id);
        w->c.collisions += m->collisions - col;
        w->c.deaf += m->deaf - deaf;
        if (!heard)
            continue;
        if (draw(d) < air.loss_up) {
            d->st.lost_up++;
            continue;
        }
        if (lab_gw_send_push(&ce->gw[n], &pk) == LAB_OK)
            e->pushed |= 1u << n;
    }
    if (ce->med[0]->n > LAB_MEDIUM_MAX / 2 && w->now_us > SIM_PRUNE_US)
        for (size_t n = 0; n < air.n_net; n++)
            lab_medium_prune(ce->med[n], w->now_us - SIM_PRUNE_US);
    if (e->pushed == 0) {
        sim_finish(w, k, true, e->rx2_us + preamble_us(e->x.rx2_sf, e->x.rx2_bw));
        return;
    }
    e->state = SX_WAIT;
    e->horizon_us = e->rx1_us;
    e->guard = now_wall() + SIM_ANSWER_GUARD_S;
}

static void tx_ack(worker *w, lab_gw *gw, uint16_t token, const char *error)
{
    if (lab_gw_tx_ack(gw, token, error) != LAB_OK)
        w->c.tx_ack_failed++;
}

/* A PULL_RESP (or a "no downlink" notice) from network n's gateway of cell c. */
static void sim_answer(worker *w, unsigned c, size_t n, const lab_txpk *tx, uint16_t token, lab_gw_down_kind kind)
{
    bool none = kind != LAB_GW_DOWNLINK;
    lab_fleet *f = w->f;
    cell *ce = &f->cells[c];
    for (size_t k = 0; k < w->n_sx; k++) {
        sim_x *e = &w->sx[k];
        if (e->cell != c || e->state != SX_WAIT || !(e->pushed & (1u << n)))
            continue;
        if (none) {
            if (tx->tmst != (uint32_t)e->end_us)
                continue;
            if (kind == LAB_GW_WAIT) {
                /* a roamed uplink: its home network's answer, if any, comes
                 * through the hub within window_margin_ms of wall time */
                e->guard = now_wall() + w->f->air.window_margin_ms / 1000.0;
                e->roamed = true;
                return;
            }
            w->c.no_downlink++;
            e->answered |= 1u << n;
            if (e->answered == e->pushed)
                sim_finish(w, k, true, e->rx2_us + preamble_us(e->x.rx2_sf, e->x.rx2_bw));
            return;
        }
        bool rx1 = tx->tmst == e->x.rx1_tmst && same_freq(tx->freq, e->x.rx1_freq) && tx->sf == e->x.rx1_sf &&
                   tx->bw == e->x.rx1_bw;
        bool rx2 = tx->tmst == e->x.rx2_tmst && same_freq(tx->freq, LAB_EU868_RX2_FREQ) && tx->sf == e->x.rx2_sf &&
                   tx->bw == e->x.rx2_bw;
        if (!rx1 && !rx2)
            continue;
        uint64_t t_d = rx1 ? e->rx1_us : e->rx2_us;
        lab_lora_params lp;
        uint64_t air = 0;
        uint8_t dr = 0;
        if (lab_eu868_dr(tx->sf, tx->bw, &dr) != LAB_OK || lab_lora_params_eu868(dr, false, &lp) != LAB_OK ||
            lab_lora_airtime_us(&lp, tx->size, &air) != LAB_OK) {
            tx_ack(w, &ce->gw[n], token, "TX_FREQ");
            return;
        }
        lab_status st = lab_dc_take(&ce->dc[n], tx->freq, t_d, air);
        if (st == LAB_OK) {
            st = lab_medium_downlink(ce->med[n], e->id, t_d, t_d + air, tx->freq, tx->sf, tx->bw);
            if (st != LAB_OK) {
                /* the ledger gave the band: hand the time back is not possible; count it */
                w->c.tx_busy++;
            }
        } else {
            w->c.dc_refused++;
        }
        if (st != LAB_OK) {
            tx_ack(w, &ce->gw[n], token, st == LAB_ERR_DUTY_CYCLE ? "DUTY_CYCLE" : "COLLISION_PACKET");
            if (rx1) {
                e->horizon_us = e->rx2_us; /* the NS may try RX2 */
                unpark(w, c);
            }
            return;
        }
        tx_ack(w, &ce->gw[n], token, "NONE");
        w->c.air_down_s += (double)air / 1e6;
        e->state = SX_DOWN;
        e->down = *tx;
        e->down_rx2 = rx2;
        e->hear_us = t_d + air;
        unpark(w, c);
        return;
    }
    /* nobody listens for it (its exchange ended): the gateway still sends */
    if (!none) {
        tx_ack(w, &ce->gw[n], token, "NONE");
        w->c.down_missed++;
    }
}

/* The downlink of exchange k has been received. */
static void sim_downlink_end(worker *w, size_t k)
{
    sim_x *e = &w->sx[k];
    lab_dev *d = e->x.d;
    w->c.down_received++;
    if (draw(d) < w->f->air.loss_down) {
        d->st.lost_down++;
    } else if (exchange_hear(&e->x, &e->down, e->down_rx2)) {
        sim_finish(w, k, false, e->hear_us);
        return;
    } else {
        w->c.down_missed++;
    }
    sim_finish(w, k, true, e->rx2_us + preamble_us(e->x.rx2_sf, e->x.rx2_bw));
}

/* Reads what the worker's gateways received, waiting up to ms for it: only
 * the sockets epoll says hold something (a worker has hundreds of them). */
#define SIM_EVENTS 256
static void sim_collect(worker *w, int ms)
{
    lab_fleet *f = w->f;
    struct epoll_event ev[SIM_EVENTS];
    int n_ev = epoll_wait(w->ep, ev, SIM_EVENTS, ms);
    for (int i = 0; i < n_ev; i++) {
        unsigned c = (unsigned)(ev[i].data.u64 >> 8);
        size_t n = (size_t)(ev[i].data.u64 & 0xFF);
        lab_gw *gw = &f->cells[c].gw[n];
        lab_txpk tx;
        uint16_t token = 0;
        lab_gw_down_kind kind = LAB_GW_DOWNLINK;
        for (;;) {
            lab_gw_read_room(gw);
            if (!lab_gw_take(gw, &tx, &token, &kind))
                break;
            sim_answer(w, c, n, &tx, token, kind);
        }
    }
}

/* The worker's epoll set: every gateway socket of its cells. */
static bool sim_epoll_open(worker *w)
{
    lab_fleet *f = w->f;
    w->ep = epoll_create1(EPOLL_CLOEXEC);
    if (w->ep <= 0)
        return false;
    for (unsigned c = (unsigned)(w - f->w); c < f->n_cells; c += f->n_workers)
        for (size_t n = 0; n < f->air.n_net; n++) {
            struct epoll_event ev = {.events = EPOLLIN, .data.u64 = ((uint64_t)c << 8) | n};
            if (epoll_ctl(w->ep, EPOLL_CTL_ADD, f->cells[c].gw[n].fd, &ev) != 0)
                return false;
        }
    return true;
}

static void *sim_work(void *arg)
{
    worker *w = arg;
    lab_fleet *f = w->f;
    size_t cap = f->air.in_flight;
    w->n_sx = 0;
    w->n_heap = 0;
    if (w->sx == NULL)
        w->sx = calloc(cap, sizeof *w->sx);
    if (w->heap == NULL) {
        w->heap = calloc(f->n_dev + 1, sizeof *w->heap);
        w->park_next = calloc(f->n_dev + 1, sizeof *w->park_next);
        w->cap_heap = f->n_dev + 1;
    }
    if (w->hz == NULL) {
        w->hz = malloc(f->n_cells * sizeof *w->hz);
        w->park_head = malloc(f->n_cells * sizeof *w->park_head);
        for (unsigned c = 0; w->hz != NULL && w->park_head != NULL && c < f->n_cells; c++) {
            w->hz[c] = UINT64_MAX;
            w->park_head[c] = SIZE_MAX;
        }
    }
    bool ep_ok = w->ep > 0 || sim_epoll_open(w);
    if (w->sx == NULL || w->heap == NULL || w->park_next == NULL || w->hz == NULL || w->park_head == NULL ||
        w->cap_heap < f->n_dev + 1 || !ep_ok) {
        pthread_mutex_lock(&f->lock);
        f->stop = true;
        pthread_mutex_unlock(&f->lock);
        return NULL;
    }
    /* a run's devices start over start_spread_s, as a fleet powered up
     * over a while rather than at one instant */
    uint64_t spread_us = f->air.start_spread_s > 0 ? (uint64_t)(f->air.start_spread_s * 1e6) : SIM_JITTER_US;
    for (size_t i = 0; i < f->n_dev; i++)
        if (cell_of(f, i) % f->n_workers == (unsigned)(w - f->w)) {
            if (f->dev[i]->next_us < w->max_us)
                f->dev[i]->next_us = w->max_us + (uint64_t)(draw(f->dev[i]) * spread_us);
            heap_push(w, i);
        }
    double keepalive_at = now_wall() + KEEPALIVE_S;
    unsigned since_collect = 0;
    for (;;) {
        /* the sockets are read every SIM_COLLECT_EVERY events, and whenever
         * the clock waits for an answer: a read of every gateway per event
         * would cost more than the events */
        if (++since_collect >= SIM_COLLECT_EVERY) {
            sim_collect(w, 0);
            since_collect = 0;
        }
        double wall = now_wall();
        bool stop = finished(f) && f->stop;
        /* Cells share nothing but the servers, so each keeps its own time:
         * a cell waits at the RX1 of its unanswered exchanges (its horizon)
         * while the others go on. Pass 1: the guards and the horizons. */
        size_t n_wait = 0;
        for (size_t k = 0; k < w->n_sx; k++) {
            sim_x *e = &w->sx[k];
            if (e->state == SX_WAIT && (wall >= e->guard || stop)) {
                if (!e->roamed)
                    w->c.answers_late++;
                sim_finish(w, k, true, e->rx2_us + preamble_us(e->x.rx2_sf, e->x.rx2_bw));
                k--;
                continue;
            }
            if (e->state == SX_WAIT) {
                n_wait++;
                if (e->horizon_us < w->hz[e->cell])
                    w->hz[e->cell] = e->horizon_us;
            }
        }
        /* Pass 2: the earliest event of a cell not held at it. */
        uint64_t t_next = UINT64_MAX;
        size_t k_next = SIZE_MAX;
        for (size_t k = 0; k < w->n_sx; k++) {
            sim_x *e = &w->sx[k];
            uint64_t t = e->state == SX_AIR ? e->end_us : e->state == SX_DOWN ? e->hear_us : UINT64_MAX;
            if (t < t_next && t < w->hz[e->cell])
                t_next = t, k_next = k;
        }
        bool start = false;
        while (!stop && w->n_heap > 0 && w->n_sx < cap) {
            size_t i = w->heap[0];
            uint64_t t = f->dev[i]->next_us;
            if (t >= t_next)
                break;
            unsigned c = cell_of(f, i);
            if (t < w->hz[c]) {
                t_next = t;
                start = true;
                break;
            }
            park(w, c, heap_pop(w));
        }
        for (size_t k = 0; k < w->n_sx; k++)
            w->hz[w->sx[k].cell] = UINT64_MAX;
        if (stop && w->n_sx == 0)
            break;
        if (t_next == UINT64_MAX && n_wait == 0)
            break; /* nothing on the air, nobody waiting, no device wants more */
        /* flow control: the next uplink's end would push one more */
        bool full = !start && k_next != SIZE_MAX && w->sx[k_next].state == SX_AIR && n_wait >= SIM_WAIT_MAX;
        if (t_next == UINT64_MAX || full) {
            sim_collect(w, SIM_POLL_MS);
            since_collect = 0;
        } else {
            w->now_us = t_next;
            if (t_next > w->max_us)
                w->max_us = t_next;
            if (start)
                sim_start(w);
            else if (w->sx[k_next].state == SX_AIR)
                sim_uplink_end(w, k_next);
            else
                sim_downlink_end(w, k_next);
        }
        if (wall >= keepalive_at) {
            for (unsigned c = (unsigned)(w - f->w); c < f->n_cells; c += f->n_workers)
                for (size_t n = 0; n < f->air.n_net; n++)
                    if (lab_gw_send_pull(&f->cells[c].gw[n]) != LAB_OK)
                        w->c.keepalive_failed++;
            keepalive_at = wall + KEEPALIVE_S;
        }
    }
    for (unsigned c = 0; c < f->n_cells; c++)
        w->park_head[c] = SIZE_MAX; /* every device goes on the heap again at the next run */
    w->c.sim_s = (double)w->max_us / 1e6;
    return NULL;
}

lab_status lab_fleet_run(lab_fleet *f, bool (*want)(lab_dev *d, void *ctx), void *ctx, unsigned max_steps,
                         double seconds, size_t *done)
{
    if (f == NULL || want == NULL || f->n_dev == 0 || max_steps == 0)
        return LAB_ERR_ARGUMENT;
    free(f->steps);
    f->steps = calloc(f->n_dev, sizeof *f->steps);
    if (f->steps == NULL)
        return LAB_ERR_NOMEM;
    f->want = want;
    f->ctx = ctx;
    f->max_steps = max_steps;
    f->remaining = f->n_dev;
    f->deadline = now_wall() + seconds;
    f->stop = false;
    f->next = 0;
    unsigned started = 0;
    for (unsigned i = 0; i < f->n_workers; i++) {
        double sim_s = f->w[i].c.sim_s;
        memset(&f->w[i].c, 0, sizeof f->w[i].c);
        f->w[i].c.sim_s = sim_s;
        if (pthread_create(&f->w[i].thread, NULL, f->air.clock == LAB_CLOCK_SIMULATED ? sim_work : work, &f->w[i]) !=
            0)
            break;
        started++;
    }
    for (unsigned i = 0; i < started; i++)
        pthread_join(f->w[i].thread, NULL);
    pthread_mutex_lock(&f->lock);
    for (unsigned i = 0; i < started; i++) {
        const lab_fleet_counters *c = &f->w[i].c;
        f->total.down_received += c->down_received;
        f->total.down_missed += c->down_missed;
        f->total.exchanges += c->exchanges;
        f->total.keepalive_failed += c->keepalive_failed;
        if (c->in_flight_max > f->total.in_flight_max)
            f->total.in_flight_max = c->in_flight_max;
        if (c->sim_s > f->total.sim_s)
            f->total.sim_s = c->sim_s;
        f->total.air_up_s += c->air_up_s;
        f->total.air_down_s += c->air_down_s;
        f->total.no_downlink += c->no_downlink;
        f->total.dc_refused += c->dc_refused;
        f->total.tx_busy += c->tx_busy;
        f->total.collisions += c->collisions;
        f->total.deaf += c->deaf;
        f->total.medium_full += c->medium_full;
        f->total.answers_late += c->answers_late;
        f->total.tx_ack_failed += c->tx_ack_failed;
    }
    pthread_mutex_unlock(&f->lock);
    size_t n = 0;
    for (size_t i = 0; i < f->n_dev; i++) {
        pthread_mutex_lock(&f->dev[i]->lock);
        if (!want(f->dev[i], ctx))
            n++;
        pthread_mutex_unlock(&f->dev[i]->lock);
    }
    *done = n;
    return started == f->n_workers ? LAB_OK : LAB_ERR_NOMEM;
}

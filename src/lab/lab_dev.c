/*
 * lab_dev.c - simulated devices over the simulated radio (lab_dev.h).
 *
 * Each device's element runs in this process over a RAM copy of its image
 * (a two-bank se_nvm), so thousands of devices cost no fsync per frame;
 * lab_dev_save writes the image back when the caller wants it kept.
 *
 * Workers: each owns one gateway socket per network and takes devices in
 * turn. A device's uplink is pushed by the worker's gateway of every
 * network that hears the device (each copy lost with loss_up), then the
 * worker waits on those sockets for a PULL_RESP: the NS sends a downlink
 * to the gateway that heard the uplink, so it comes back to this worker.
 * A downlink is lost with loss_down (the TX_ACK still goes: the gateway
 * sent it, the device did not hear it).
 */
#include "lab/lab_dev.h"
#include "lab/lab_region.h"
#include "lorawan/lw_crypto.h"
#include "lorawan/lw_secure.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define APP_FPORT 1

/* ---------------------------------------------------------------- the element in RAM */

static se_status ram_read(void *ctx, unsigned bank, uint8_t *buf, size_t len)
{
    lab_dev *d = ctx;
    if (bank > 1 || len > SE_NVM_BANK_SIZE)
        return SE_ERR_ARGUMENT;
    memcpy(buf, d->image + bank * SE_NVM_BANK_SIZE, len);
    return SE_OK;
}

static se_status ram_write(void *ctx, unsigned bank, const uint8_t *buf, size_t len)
{
    lab_dev *d = ctx;
    if (bank > 1 || len > SE_NVM_BANK_SIZE)
        return SE_ERR_ARGUMENT;
    memcpy(d->image + bank * SE_NVM_BANK_SIZE, buf, len);
    return SE_OK;
}

static const se_nvm_class RAM_NVM = {ram_read, ram_write};

lab_status lab_dev_open(lab_dev *d, const char *path, uint8_t dr, uint32_t in_range, uint32_t seed)
{
    memset(d, 0, sizeof *d);
    if (strlen(path) >= sizeof d->path || dr > 5)
        return LAB_ERR_ARGUMENT;
    memcpy(d->path, path, strlen(path) + 1);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return LAB_ERR_IO;
    /* The file holds bank 0 at 0 and bank 1 at SE_NVM_BANK_SIZE, each as
     * long as its last image: shorter than two whole banks is normal. */
    ssize_t n = read(fd, d->image, sizeof d->image);
    close(fd);
    if (n <= 0)
        return LAB_ERR_FORMAT;
    d->nvm.cls = &RAM_NVM;
    d->nvm.ctx = d;
    if (se_boot(&d->e, &d->nvm, lw_crypto_software()) != SE_OK)
        return LAB_ERR_FORMAT;
    se_info info;
    if (se_get_info(&d->e, &info) != SE_OK)
        return LAB_ERR_FORMAT;
    d->dev_eui = info.dev_eui;
    d->dr = dr;
    d->in_range = in_range;
    d->rng = seed != 0 ? seed : 0x9E3779B9u;
    pthread_mutex_init(&d->lock, NULL);
    return LAB_OK;
}

lab_status lab_dev_save(lab_dev *d)
{
    char tmp[sizeof d->path + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", d->path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return LAB_ERR_IO;
    bool ok = write(fd, d->image, sizeof d->image) == (ssize_t)sizeof d->image && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, d->path) != 0) {
        unlink(tmp);
        return LAB_ERR_IO;
    }
    return LAB_OK;
}

void lab_dev_close(lab_dev *d)
{
    se_state_wipe(&d->e.st);
    lw_secure_wipe(d->image, sizeof d->image);
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

typedef struct worker {
    struct lab_fleet *f;
    lab_gw gw[LAB_AIR_NETWORKS];
    bool gw_open[LAB_AIR_NETWORKS];
    uint32_t tmst;               /* this worker's concentrator clock, microseconds */
    pthread_t thread;
} worker;

struct lab_fleet {
    lab_air air;
    pthread_mutex_t lock;
    lab_dev **dev;
    size_t n_dev, cap_dev;
    unsigned n_workers;
    worker *w;
    /* one run */
    bool (*want)(lab_dev *d, void *ctx);
    void *ctx;
    size_t next;                 /* round robin cursor */
    unsigned max_steps;
    unsigned *steps;
    double deadline;
    volatile bool stop;
};

static double now_wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

lab_status lab_fleet_new(const lab_air *air, unsigned workers, uint64_t gw_eui_base, lab_fleet **out)
{
    if (air == NULL || air->n_net == 0 || air->n_net > LAB_AIR_NETWORKS || workers == 0 || workers > 256)
        return LAB_ERR_ARGUMENT;
    lab_fleet *f = calloc(1, sizeof *f);
    if (f == NULL)
        return LAB_ERR_NOMEM;
    f->air = *air;
    if (f->air.join_wait_ms <= 0)
        f->air.join_wait_ms = 4000;
    if (f->air.data_wait_ms <= 0)
        f->air.data_wait_ms = 1500;
    pthread_mutex_init(&f->lock, NULL);
    f->n_workers = workers;
    f->w = calloc(workers, sizeof *f->w);
    if (f->w == NULL) {
        lab_fleet_free(f);
        return LAB_ERR_NOMEM;
    }
    for (unsigned i = 0; i < workers; i++) {
        worker *w = &f->w[i];
        w->f = f;
        w->tmst = 1000000u * (i + 1);
        for (size_t n = 0; n < f->air.n_net; n++) {
            uint64_t eui = gw_eui_base + ((uint64_t)n << 16) + i;
            if (lab_gw_open(&w->gw[n], f->air.net[n].ns_addr, eui) != LAB_OK ||
                lab_gw_pull(&w->gw[n], 2000) != LAB_OK) {
                w->gw_open[n] = w->gw[n].fd >= 0;
                lab_fleet_free(f);
                return LAB_ERR_IO;
            }
            w->gw_open[n] = true;
        }
    }
    *out = f;
    return LAB_OK;
}

void lab_fleet_free(lab_fleet *f)
{
    if (f == NULL)
        return;
    for (unsigned i = 0; f->w != NULL && i < f->n_workers; i++)
        for (size_t n = 0; n < f->air.n_net; n++)
            if (f->w[i].gw_open[n])
                lab_gw_close(&f->w[i].gw[n]);
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

/* Pushes phy from every gateway of this worker whose network hears the
 * device; returns a mask of the networks that got a copy. */
static uint32_t transmit(worker *w, lab_dev *d, const uint8_t *phy, size_t len)
{
    lab_rxpk pk;
    memset(&pk, 0, sizeof pk);
    uint8_t sf = 7;
    uint16_t bw = 125;
    if (lab_eu868_dr_params(d->dr, &sf, &bw) != LAB_OK)
        sf = 7, bw = 125;
    w->tmst += 2000000u; /* two simulated seconds between this worker's frames */
    pk.tmst = w->tmst;
    pk.freq = 868.1 + 0.2 * (d->st.uplinks % 3);
    pk.stat = 1;
    pk.lora = true;
    pk.sf = sf;
    pk.bw = bw;
    memcpy(pk.codr, "4/5", 4);
    pk.rssi = -80;
    pk.lsnr = 5.0;
    pk.size = len;
    memcpy(pk.data, phy, len);
    uint32_t heard = 0;
    lab_air air;
    pthread_mutex_lock(&w->f->lock);
    air = w->f->air;
    pthread_mutex_unlock(&w->f->lock);
    for (size_t n = 0; n < air.n_net; n++) {
        if (!(d->in_range & (1u << n)) || air.net[n].down)
            continue;
        if (draw(d) < air.loss_up) {
            d->st.lost_up++;
            continue;
        }
        if (lab_gw_push(&w->gw[n], &pk, 2000) == LAB_OK)
            heard |= 1u << n;
    }
    /* time on air of one frame at this DR, roughly: SF7 ~ 50 ms .. SF12 ~ 1.5 s */
    d->st.radio_s += 0.05 * (double)(1u << (sf - 7));
    return heard;
}

/* Waits for a downlink on the gateways in `heard`. */
static bool receive(worker *w, lab_dev *d, uint32_t heard, int wait_ms, lab_txpk *out)
{
    double end = now_wall() + wait_ms / 1000.0;
    while (heard != 0) {
        struct pollfd p[LAB_AIR_NETWORKS];
        size_t idx[LAB_AIR_NETWORKS], k = 0;
        for (size_t n = 0; n < w->f->air.n_net; n++)
            if (heard & (1u << n)) {
                if (w->gw[n].pending > 0) {
                    if (lab_gw_wait_down(&w->gw[n], 0, out) == LAB_OK)
                        goto got;
                }
                p[k].fd = w->gw[n].fd;
                p[k].events = POLLIN;
                idx[k++] = n;
            }
        int left = (int)((end - now_wall()) * 1000.0);
        if (left <= 0)
            return false;
        int r = poll(p, k, left);
        if (r <= 0)
            return false;
        for (size_t i = 0; i < k; i++)
            if ((p[i].revents & POLLIN) && lab_gw_wait_down(&w->gw[idx[i]], 200, out) == LAB_OK)
                goto got;
    }
    return false;
got:
    if (draw(d) < w->f->air.loss_down) {
        d->st.lost_down++;
        return false;
    }
    return true;
}

/* One class A exchange of device d. */
static void step(worker *w, lab_dev *d)
{
    se_info info;
    if (se_get_info(&d->e, &info) != SE_OK)
        return;
    se_set_time(&d->e, (uint32_t)time(NULL));
    lab_txpk down;
    if (!info.joined) {
        uint8_t jr[LW_JOIN_REQUEST_LEN];
        if (se_build_join_request(&d->e, jr) != SE_OK)
            return;
        d->st.join_requests++;
        uint32_t heard = transmit(w, d, jr, sizeof jr);
        se_join_result jres;
        if (receive(w, d, heard, w->f->air.join_wait_ms, &down) &&
            se_process_join_accept(&d->e, down.data, down.size, &jres) == SE_OK) {
            d->st.joins++;
            d->join_failures = 0;
            d->joined_join_eui = info.join_eui;
            return;
        }
        /* Retransmission back-off, in simulated time: the spec's duty-cycle
         * limits make a device wait longer after each unanswered attempt. */
        d->join_failures++;
        unsigned shift = d->join_failures < 10 ? d->join_failures : 10;
        d->st.radio_s += (double)(1u << shift);
        return;
    }
    uint8_t frame[242], phy[LW_PHY_MAX];
    size_t flen = 0, plen = 0;
    size_t cap = lab_eu868_max_payload(d->dr);
    if (cap > sizeof frame)
        cap = sizeof frame;
    if (se_mls_next_uplink(&d->e, cap, frame, &flen) != SE_OK)
        flen = 0;
    uint8_t app[8];
    se_uplink up;
    memset(&up, 0, sizeof up);
    up.has_fport = true;
    up.tx_dr = d->dr;
    if (flen > 0) {
        up.fport = SE_MLS_FPORT;
        up.payload = frame;
        up.payload_len = flen;
        d->st.mls_uplinks++;
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
    if (se_protect_uplink(&d->e, &up, phy, sizeof phy, &plen) != SE_OK) {
        /* no session any more (the element switched profile): join next */
        return;
    }
    d->st.uplinks++;
    uint32_t heard = transmit(w, d, phy, plen);
    if (!receive(w, d, heard, w->f->air.data_wait_ms, &down))
        return;
    uint8_t buf[LW_PHY_MAX];
    se_downlink dl;
    if (se_unprotect_downlink(&d->e, down.data, down.size, buf, sizeof buf, &dl) != SE_OK)
        return;
    d->st.downlinks++;
    if (dl.mls)
        d->st.mls_downlinks++;
    if (dl.secure_pending) {
        /* The device application: it accepts the command and answers with
         * its first bytes reversed, so a test can check the round trip. */
        const uint8_t *cmd = NULL;
        size_t clen = 0;
        if (se_secure_command(&d->e, &cmd, &clen) == SE_OK) {
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
    }
    lw_secure_wipe(buf, sizeof buf);
}

static void *work(void *arg)
{
    worker *w = arg;
    lab_fleet *f = w->f;
    for (;;) {
        lab_dev *d = NULL;
        size_t idx = 0;
        pthread_mutex_lock(&f->lock);
        if (!f->stop && now_wall() > f->deadline)
            f->stop = true;
        for (size_t tried = 0; !f->stop && tried < f->n_dev; tried++) {
            size_t i = f->next;
            f->next = (f->next + 1) % f->n_dev;
            if (f->steps[i] >= f->max_steps || pthread_mutex_trylock(&f->dev[i]->lock) != 0)
                continue;
            d = f->dev[i];
            idx = i;
            break;
        }
        pthread_mutex_unlock(&f->lock);
        if (d == NULL) {
            pthread_mutex_lock(&f->lock);
            bool any = false;
            for (size_t i = 0; i < f->n_dev && !f->stop; i++)
                if (f->steps[i] < f->max_steps && f->want(f->dev[i], f->ctx))
                    any = true;
            if (!any)
                f->stop = true;
            bool stop = f->stop;
            pthread_mutex_unlock(&f->lock);
            if (stop)
                return NULL;
            usleep(2000);
            continue;
        }
        if (f->want(d, f->ctx)) {
            step(w, d);
            f->steps[idx]++;
        } else {
            f->steps[idx] = f->max_steps; /* done: not picked again in this run */
        }
        pthread_mutex_unlock(&d->lock);
    }
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
    f->deadline = now_wall() + seconds;
    f->stop = false;
    f->next = 0;
    unsigned started = 0;
    for (unsigned i = 0; i < f->n_workers; i++)
        if (pthread_create(&f->w[i].thread, NULL, work, &f->w[i]) == 0)
            started++;
        else
            break;
    for (unsigned i = 0; i < started; i++)
        pthread_join(f->w[i].thread, NULL);
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

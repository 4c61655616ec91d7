/*
 * lmn_radio.c - upstream's `Radio` driver interface (src/radio/radio.h) on
 * the lab's radio: what an SX126x driver is to a real board, this is to
 * LoRaMac-node on the host.
 *
 * Uplinks. Radio.Send hands the frame, at once, to one packet-forwarder
 * gateway per network that hears the device (ferry's src/lab/lab_gw.h: a
 * PUSH_DATA with one rxpk over UDP, as a Semtech forwarder would send it),
 * with the frequency of Radio.SetChannel, the spreading factor and bandwidth
 * of Radio.SetTxConfig, and tmst = the lab's clock in microseconds. Each
 * network draws its own loss. TxDone follows on the next Radio.IrqProcess:
 * air time is not waited (LoRaMac-node still counts it for its duty cycle,
 * through Radio.TimeOnAir).
 *
 * Downlinks. The gateways' PULL_RESPs are answered with TX_ACK and kept
 * (one draw of downlink loss each). The device hears one only inside a
 * window the MAC opened with Radio.Rx: its txpk.tmst within the window
 * (the network names RX1 as the uplink's tmst + RX1 delay, RX2 one second
 * later; a window here starts where the MAC opened it, less
 * WINDOW_EARLY_US for the MAC's own offset), on the frequency of
 * Radio.SetChannel, at the spreading factor and bandwidth of
 * Radio.SetRxConfig, with inverted IQ. The window stays open for
 * `window_margin_ms` of wall time (the downlink travels over loopback, not
 * the air) and then times out (RxTimeout), unless the MAC ends it first.
 * Anything else is not heard (counted as missed), as with ferry's own lab
 * devices (src/lab/lab_dev.h).
 *
 * Singleton state (upstream's `Radio` is one global struct of functions
 * without a context): the gateways, the settings, the open window, the
 * kept downlinks and the pending "interrupts".
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "lab/lab_gw.h"
#include "lab/lab_region.h"
#include "lmn_lab.h"
#include "radio.h"

#define DOWN_KEPT 16
#define WINDOW_EARLY_US 300000     /* a window counts from this much before the MAC opened it */
#define KEEPALIVE_MS 5000
#define AWAIT_MAX_MS 8000          /* the last window of a join-request closes 6 s after it */

static struct {
    lmn_radio_config cfg;
    lab_gw gw[LMN_NETWORKS];
    bool down[LMN_NETWORKS];
    RadioEvents_t *events;
    RadioState_t state;
    uint32_t freq_hz;
    uint8_t tx_sf, rx_sf;
    uint16_t tx_bw, rx_bw;
    bool rx_iq_inverted;
    /* the open window */
    uint64_t rx_open_ms, rx_close_ms;
    /* the last frame's windows */
    bool sent;
    uint64_t tx_ms;
    unsigned windows_closed;
    bool heard_since_tx;
    /* pending interrupts, delivered by IrqProcess */
    bool irq_tx_done, irq_rx_done, irq_rx_timeout;
    uint8_t rx_buf[256];
    uint16_t rx_len;
    /* downlinks from the gateways, not yet heard */
    lab_txpk kept[DOWN_KEPT];
    unsigned n_kept;
    uint64_t next_keepalive_ms;
    uint32_t rng;
    lmn_radio_stats st;
} R;

static uint32_t next_random(void)
{
    /* xorshift32: the lab's loss draws, reproducible from the seed */
    uint32_t x = R.rng;
    x ^= x << 13, x ^= x >> 17, x ^= x << 5;
    R.rng = x;
    return x;
}

static bool lost(double p)
{
    return p > 0 && (double)(next_random() >> 8) / (double)(1u << 24) < p;
}

static uint16_t bw_khz(uint32_t bandwidth)
{
    return bandwidth == 2 ? 500 : bandwidth == 1 ? 250 : 125;
}

int lmn_radio_open(const lmn_radio_config *cfg)
{
    memset(&R, 0, sizeof R);
    R.cfg = *cfg;
    R.rng = cfg->seed != 0 ? cfg->seed : 0x2545F491u;
    for (unsigned i = 0; i < cfg->n_net; i++)
        R.gw[i].fd = -1;
    for (unsigned i = 0; i < cfg->n_net; i++) {
        if (lab_gw_open(&R.gw[i], cfg->ns_addr[i], cfg->gw_eui_base + i) != LAB_OK) {
            fprintf(stderr, "lmn_node: cannot open a gateway to %s (%s)\n", cfg->ns_addr[i], cfg->name[i]);
            lmn_radio_close();
            return -1;
        }
        /* the forwarder's hello: the network learns where to send PULL_RESPs */
        if (lab_gw_send_pull(&R.gw[i]) != LAB_OK) {
            lmn_radio_close();
            return -1;
        }
    }
    R.next_keepalive_ms = lmn_clock_ms() + KEEPALIVE_MS;
    return 0;
}

void lmn_radio_close(void)
{
    for (unsigned i = 0; i < R.cfg.n_net; i++)
        if (R.gw[i].fd >= 0)
            lab_gw_close(&R.gw[i]);
    R.cfg.n_net = 0;
}

void lmn_radio_set_down(unsigned i, bool down)
{
    if (i < R.cfg.n_net)
        R.down[i] = down;
}

void lmn_radio_stats_get(lmn_radio_stats *out)
{
    *out = R.st;
}

unsigned lmn_radio_fds(int *fds, unsigned cap)
{
    unsigned n = 0;
    for (unsigned i = 0; i < R.cfg.n_net && n < cap; i++)
        fds[n++] = R.gw[i].fd;
    return n;
}

bool lmn_radio_awaiting(void)
{
    return R.sent && !R.heard_since_tx && R.windows_closed < 2 && lmn_clock_ms() < R.tx_ms + AWAIT_MAX_MS;
}

int64_t lmn_radio_until_event(void)
{
    uint64_t now = lmn_clock_ms();
    uint64_t next = R.next_keepalive_ms;
    if (R.state == RF_RX_RUNNING && R.rx_close_ms < next)
        next = R.rx_close_ms;
    return next > now ? (int64_t)(next - now) : 0;
}

/* Whether the open window hears `tx`. */
static bool in_window(const lab_txpk *tx)
{
    uint32_t open_us = (uint32_t)(R.rx_open_ms * 1000u) - WINDOW_EARLY_US;
    uint32_t span_us = (uint32_t)((R.rx_close_ms - R.rx_open_ms) * 1000u) + WINDOW_EARLY_US;
    uint32_t off = tx->tmst - open_us;    /* wrap-safe: the concentrator counter wraps */
    return !tx->imme && off <= span_us && fabs(tx->freq * 1e6 - (double)R.freq_hz) < 500.0 && tx->sf == R.rx_sf &&
           tx->bw == R.rx_bw && tx->ipol == R.rx_iq_inverted;
}

static void close_window(void)
{
    if (R.state == RF_RX_RUNNING) {
        R.windows_closed++;
        R.state = RF_IDLE;
    }
}

/* Drops kept downlinks whose time has passed without a window hearing them. */
static void drop_stale(void)
{
    uint32_t now_us = (uint32_t)(lmn_clock_ms() * 1000u);
    unsigned k = 0;
    for (unsigned i = 0; i < R.n_kept; i++) {
        int32_t age = (int32_t)(now_us - R.kept[i].tmst);
        if (age > 2 * WINDOW_EARLY_US + 1000 * R.cfg.window_margin_ms && !(R.state == RF_RX_RUNNING && in_window(&R.kept[i])))
            R.st.missed++;
        else
            R.kept[k++] = R.kept[i];
    }
    R.n_kept = k;
}

void lmn_radio_service(void)
{
    uint64_t now = lmn_clock_ms();
    for (unsigned i = 0; i < R.cfg.n_net; i++) {
        lab_gw_read(&R.gw[i]);
        lab_txpk tx;
        while (lab_gw_take_down(&R.gw[i], &tx)) {
            if (R.down[i] || !(R.cfg.in_range & (1u << i)))
                continue;
            if (lost(R.cfg.loss_down)) {
                R.st.lost_down++;
                continue;
            }
            if (R.n_kept == DOWN_KEPT) {
                R.st.missed++;   /* more downlinks at once than a device could hear */
                continue;
            }
            R.kept[R.n_kept++] = tx;
        }
    }
    if (now >= R.next_keepalive_ms) {
        for (unsigned i = 0; i < R.cfg.n_net; i++)
            if (lab_gw_send_pull(&R.gw[i]) != LAB_OK)
                R.st.keepalive_failed++;   /* retried at the next one */
        R.next_keepalive_ms = now + KEEPALIVE_MS;
    }
    if (R.state == RF_RX_RUNNING) {
        for (unsigned i = 0; i < R.n_kept; i++) {
            if (!in_window(&R.kept[i]))
                continue;
            memcpy(R.rx_buf, R.kept[i].data, R.kept[i].size);
            R.rx_len = (uint16_t)R.kept[i].size;
            R.kept[i] = R.kept[--R.n_kept];
            R.st.heard++;
            if (R.rx_len > 0 && (R.rx_buf[0] >> 5) == 1)
                R.st.join_accepts++;
            if (R.windows_closed == 0)
                R.st.rx1++;
            else
                R.st.rx2++;
            R.heard_since_tx = true;
            close_window();
            R.irq_rx_done = true;
            break;
        }
        if (R.state == RF_RX_RUNNING && now >= R.rx_close_ms) {
            close_window();
            R.irq_rx_timeout = true;
        }
    }
    drop_stale();
}

/* ---- the Radio driver ---- */

static void radio_init(RadioEvents_t *events)
{
    R.events = events;
    R.state = RF_IDLE;
}

static RadioState_t radio_get_status(void)
{
    return R.state;
}

static void radio_set_modem(RadioModems_t modem)
{
    (void)modem;   /* LoRa only: the lab's radio has no FSK */
}

static void radio_set_channel(uint32_t freq)
{
    R.freq_hz = freq;
}

static bool radio_is_channel_free(uint32_t freq, uint32_t rxBandwidth, int16_t rssiThresh, uint32_t maxCarrierSenseTime)
{
    (void)freq, (void)rxBandwidth, (void)rssiThresh, (void)maxCarrierSenseTime;
    return true;
}

static uint32_t radio_random(void)
{
    return next_random();
}

static void radio_set_rx_config(RadioModems_t modem, uint32_t bandwidth, uint32_t datarate, uint8_t coderate,
                                uint32_t bandwidthAfc, uint16_t preambleLen, uint16_t symbTimeout, bool fixLen,
                                uint8_t payloadLen, bool crcOn, bool freqHopOn, uint8_t hopPeriod, bool iqInverted,
                                bool rxContinuous)
{
    (void)modem, (void)coderate, (void)bandwidthAfc, (void)preambleLen, (void)symbTimeout, (void)fixLen;
    (void)payloadLen, (void)crcOn, (void)freqHopOn, (void)hopPeriod, (void)rxContinuous;
    R.rx_sf = (uint8_t)datarate;
    R.rx_bw = bw_khz(bandwidth);
    R.rx_iq_inverted = iqInverted;
}

static void radio_set_tx_config(RadioModems_t modem, int8_t power, uint32_t fdev, uint32_t bandwidth,
                                uint32_t datarate, uint8_t coderate, uint16_t preambleLen, bool fixLen, bool crcOn,
                                bool freqHopOn, uint8_t hopPeriod, bool iqInverted, uint32_t timeout)
{
    (void)modem, (void)power, (void)fdev, (void)coderate, (void)preambleLen, (void)fixLen, (void)crcOn;
    (void)freqHopOn, (void)hopPeriod, (void)iqInverted, (void)timeout;
    R.tx_sf = (uint8_t)datarate;
    R.tx_bw = bw_khz(bandwidth);
}

static bool radio_check_rf_frequency(uint32_t frequency)
{
    (void)frequency;
    return true;
}

/* LoRa time on air (Semtech AN1200.13), in milliseconds rounded up. */
static uint32_t radio_time_on_air(RadioModems_t modem, uint32_t bandwidth, uint32_t datarate, uint8_t coderate,
                                  uint16_t preambleLen, bool fixLen, uint8_t payloadLen, bool crcOn)
{
    (void)modem;
    double bw = bw_khz(bandwidth) * 1000.0, sf = (double)datarate;
    double tsym = pow(2.0, sf) / bw;
    int de = (datarate >= 11 && bandwidth == 0) ? 1 : 0;
    double num = 8.0 * payloadLen - 4.0 * sf + 28 + (crcOn ? 16 : 0) - (fixLen ? 20 : 0);
    double n = ceil(num / (4.0 * (sf - 2.0 * de))) * (coderate + 4);
    double symbols = (preambleLen + 4.25) + 8 + (n > 0 ? n : 0);
    return (uint32_t)ceil(symbols * tsym * 1000.0);
}

static void radio_send(uint8_t *buffer, uint8_t size)
{
    lab_rxpk pk;
    memset(&pk, 0, sizeof pk);
    uint64_t now = lmn_clock_ms();
    pk.tmst = (uint32_t)(now * 1000u);
    pk.freq = (double)R.freq_hz / 1e6;
    pk.chan = lab_eu868_channel(pk.freq);
    pk.stat = 1;
    pk.lora = true;
    pk.sf = R.tx_sf;
    pk.bw = R.tx_bw;
    snprintf(pk.codr, sizeof pk.codr, "4/5");
    pk.rssi = -60;
    pk.lsnr = 9.0;
    pk.size = size;
    memcpy(pk.data, buffer, size);
    R.st.sent++;
    for (unsigned i = 0; i < R.cfg.n_net; i++) {
        if (R.down[i] || !(R.cfg.in_range & (1u << i)))
            continue;
        if (lost(R.cfg.loss_up)) {
            R.st.lost_up++;
            continue;
        }
        if (lab_gw_send_push(&R.gw[i], &pk) != LAB_OK)
            R.st.push_failed++;   /* a frame lost on the air */
    }
    R.sent = true;
    R.tx_ms = now;
    R.windows_closed = 0;
    R.heard_since_tx = false;
    R.state = RF_IDLE;
    R.irq_tx_done = true;
}

static void radio_sleep(void)
{
    if (R.state == RF_RX_RUNNING) {
        R.windows_closed++;
        R.state = RF_IDLE;
    }
}

static void radio_rx(uint32_t timeout)
{
    (void)timeout;   /* the window's length is the lab's (see the top of the file) */
    R.state = RF_RX_RUNNING;
    R.rx_open_ms = lmn_clock_ms();
    R.rx_close_ms = R.rx_open_ms + (uint64_t)R.cfg.window_margin_ms;
}

static void radio_start_cad(void)
{
}

static void radio_set_tx_continuous_wave(uint32_t freq, int8_t power, uint16_t time)
{
    (void)freq, (void)power, (void)time;
}

static int16_t radio_rssi(RadioModems_t modem)
{
    (void)modem;
    return -120;
}

static void radio_write(uint32_t addr, uint8_t data)
{
    (void)addr, (void)data;
}

static uint8_t radio_read(uint32_t addr)
{
    (void)addr;
    return 0;
}

static void radio_write_buffer(uint32_t addr, uint8_t *buffer, uint8_t size)
{
    (void)addr, (void)buffer, (void)size;
}

static void radio_read_buffer(uint32_t addr, uint8_t *buffer, uint8_t size)
{
    (void)addr;
    memset(buffer, 0, size);
}

static void radio_set_max_payload_length(RadioModems_t modem, uint8_t max)
{
    (void)modem, (void)max;
}

static void radio_set_public_network(bool enable)
{
    (void)enable;
}

static uint32_t radio_get_wakeup_time(void)
{
    return 1;
}

/* The "interrupts" of the last calls, delivered where LmHandlerProcess
 * expects them: from its call of Radio.IrqProcess on the main loop. */
static void radio_irq_process(void)
{
    if (R.irq_tx_done) {
        R.irq_tx_done = false;
        if (R.events != NULL && R.events->TxDone != NULL)
            R.events->TxDone();
    }
    if (R.irq_rx_done) {
        R.irq_rx_done = false;
        if (R.events != NULL && R.events->RxDone != NULL)
            R.events->RxDone(R.rx_buf, R.rx_len, -60, 9);
    }
    if (R.irq_rx_timeout) {
        R.irq_rx_timeout = false;
        if (R.events != NULL && R.events->RxTimeout != NULL)
            R.events->RxTimeout();
    }
}

static void radio_rx_boosted(uint32_t timeout)
{
    radio_rx(timeout);
}

static void radio_set_rx_duty_cycle(uint32_t rxTime, uint32_t sleepTime)
{
    (void)rxTime, (void)sleepTime;
}

const struct Radio_s Radio = {
    radio_init,
    radio_get_status,
    radio_set_modem,
    radio_set_channel,
    radio_is_channel_free,
    radio_random,
    radio_set_rx_config,
    radio_set_tx_config,
    radio_check_rf_frequency,
    radio_time_on_air,
    radio_send,
    radio_sleep,
    radio_sleep,            /* Standby: as Sleep, it ends an open window */
    radio_rx,
    radio_start_cad,
    radio_set_tx_continuous_wave,
    radio_rssi,
    radio_write,
    radio_read,
    radio_write_buffer,
    radio_read_buffer,
    radio_set_max_payload_length,
    radio_set_public_network,
    radio_get_wakeup_time,
    radio_irq_process,
    radio_rx_boosted,
    radio_set_rx_duty_cycle,
};

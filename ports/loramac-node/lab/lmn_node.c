/*
 * lmn_node.c - one LoRaMac-node device on the lab's radio: upstream's
 * unmodified MAC (src/mac, region EU868) and LmHandler, built in place from
 * LORAMAC_NODE_DIR, with ferry's element behind the stack (the driver
 * ports/loramac-node/ferry-se/ferry-se.c over the in-process transport
 * tests/loramac/lmn_transport_local.c: an element image from `ferry hsa
 * personalise`, as the lab's own devices use), ferry's activation package
 * (LmhpFerry) and the lab board of this folder (lmn_lab.h: clock, virtual
 * radio through ferry's packet-forwarder gateways, NVM in a file).
 *
 *   lmn_node --image SE.img --nvm STACK.nvm --networks NAME=ADDR:PORT,...
 *            [--in-range NAME,...] [--dr 0..5] [--loss P] [--seed N]
 *            [--gateway-eui-base HEX] [--window-margin-ms N] [--run] [--trace]
 *
 * One device per process: LoRaMac-node is a singleton (lmn_lab.h).
 *
 * The application is the lab's: while running it sends an 8-byte reading on
 * FPort 1 whenever the MAC and the package are free (the package's frames
 * on FPort 200 first), answers a secure command with its first bytes
 * reversed (as ferry's lab devices do, so a test can check the round trip),
 * and otherwise lets the package join, switch profile and fall back.
 *
 * Control, one line each on stdin: `run` (send uplinks), `pause` (finish
 * the exchange in progress, then stay silent), `down I` / `up I` (network I
 * of --networks stops / starts hearing the device and being heard),
 * `status` (print a status line now), `quit` (also end of input or
 * SIGTERM): the stack's NVM is stored and the process exits 0.
 *
 * Status, one JSON object a line on stdout, whenever something of it
 * changed: the element's facts as the package last read them (DevEUI,
 * JoinEUI, ActiveSlot, Joined, OnTrial), whether the stack has a session,
 * and counters (JoinRequests, Joins, JoinFailures, Uplinks, Downlinks,
 * MlsUplinks, MlsDownlinks, SecureCommands, ProfileSwitches, ElementErrors,
 * the radio's Sent, LostUp, LostDown, Missed, Rx1, Rx2, JoinAccepts: the
 * join-accepts heard and handed to the MAC, taken or not) and SimulatedS, the
 * back-off time skipped rather than waited. Errors go to stderr.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "LmHandler.h"
#include "LmhpFerry.h"
#include "NvmDataMgmt.h"
#include "board.h"
#include "lmn_lab.h"
#include "lmn_transport.h"
#include "radio.h"
#include "utilities.h"

#define APP_FPORT 1
#define APP_BUFFER_MAX 242
#define LOOP_IDLE_MS 100
#define SKIP_MIN_MS 20

/* The application's state. main() owns it; upstream's callbacks have no
 * context argument, so they reach it through this one pointer (the
 * singleton LoRaMac-node imposes, lmn_lab.h). */
typedef struct node {
    bool running, quit;
    uint32_t app_uplinks;
    uint32_t join_requests, joins, uplinks, downlinks;
    uint8_t app_buffer[APP_BUFFER_MAX];
    char line[256];              /* control input not yet ended by a newline */
    size_t line_len;
    char last_status[1024];
    LmhPackage_t *ferry;
    bool trace;                  /* --trace: every MAC request and event on stderr */
} node;

static node *the_node;
static volatile sig_atomic_t stop_signal;
static char **the_argv;          /* BoardResetMcu starts the program again with them */

static void on_signal(int sig)
{
    (void)sig;
    stop_signal = 1;
}

static void usage(void)
{
    fprintf(stderr, "usage: lmn_node --image SE.img --nvm STACK.nvm --networks NAME=ADDR:PORT,... [--in-range NAME,...]\n"
                    "                [--dr 0..5] [--loss P] [--seed N] [--gateway-eui-base HEX] [--window-margin-ms N] [--run] [--trace]\n");
}

/* ---- the application's LmHandler callbacks ---- */

static uint8_t get_battery_level(void)
{
    return 254;   /* "can't measure", a valid answer to DevStatusReq */
}

static float get_temperature(void)
{
    return 25.0f;
}

static uint32_t get_random_seed(void)
{
    return (uint32_t)getpid();
}

static void on_mac_process(void)
{
}

static void on_nvm_data_change(LmHandlerNvmContextStates_t state, uint16_t size)
{
    (void)state, (void)size;
}

static void on_network_parameters_change(CommissioningParams_t *params)
{
    (void)params;
}

static void trace(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void trace(const char *fmt, ...)
{
    if (!the_node->trace)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "lmn_node %.3f: ", (double)lmn_clock_ms() / 1000.0);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static void on_mac_mcps_request(LoRaMacStatus_t status, McpsReq_t *mcpsReq, TimerTime_t nextTxDelay)
{
    trace("MCPS request type %d port %u: status %d, next in %u ms", (int)mcpsReq->Type,
          mcpsReq->Req.Unconfirmed.fPort, (int)status, (unsigned)nextTxDelay);
    LmhpFerryOnMacMcpsRequest(status, mcpsReq, nextTxDelay);
}

static void on_mac_mlme_request(LoRaMacStatus_t status, MlmeReq_t *mlmeReq, TimerTime_t nextTxDelay)
{
    if (mlmeReq->Type == MLME_JOIN && status == LORAMAC_STATUS_OK)
        the_node->join_requests++;
    trace("MLME request type %d: status %d, next in %u ms", (int)mlmeReq->Type, (int)status, (unsigned)nextTxDelay);
}

static void on_join_request(LmHandlerJoinParams_t *params)
{
    if (params->Status == LORAMAC_HANDLER_SUCCESS)
        the_node->joins++;
    trace("join: %s", params->Status == LORAMAC_HANDLER_SUCCESS ? "accepted" : "failed");
    LmhpFerryOnJoinRequest(params);
}

static void on_tx_data(LmHandlerTxParams_t *params)
{
    if (params->IsMcpsConfirm != 0)
        the_node->uplinks++;
    trace("tx done: mcps %u status %d port %u", params->IsMcpsConfirm, (int)params->Status, params->AppData.Port);
    LmhpFerryOnTxData(params);
}

static void on_rx_data(LmHandlerAppData_t *appData, LmHandlerRxParams_t *params)
{
    if (params->Status == LORAMAC_EVENT_INFO_STATUS_OK)
        the_node->downlinks++;
    trace("rx: status %d port %u size %u slot %d", (int)params->Status, appData->Port, appData->BufferSize,
          params->RxSlot);
    LmhpFerryOnRxData(appData, params);
}

static void on_class_change(DeviceClass_t deviceClass)
{
    (void)deviceClass;
}

static void on_beacon_status_change(LoRaMacHandlerBeaconParams_t *params)
{
    (void)params;
}

static void on_sys_time_update(bool isSynchronized, int32_t timeCorrection)
{
    (void)isSynchronized, (void)timeCorrection;
}

/* The application's side of a secure command: accepted, answered with its
 * first bytes reversed. */
static bool on_secure_command(const uint8_t *cmd, uint16_t size, uint8_t *reply, uint8_t replyMax, uint8_t *replySize)
{
    uint8_t n = size < 16 ? (uint8_t)size : 16;
    if (n > replyMax)
        n = replyMax;
    for (uint8_t i = 0; i < n; i++)
        reply[i] = cmd[n - 1 - i];
    *replySize = n;
    return true;
}

static void on_element_error(const char *what, SecureElementStatus_t status)
{
    fprintf(stderr, "lmn_node: the element: %s failed (status %d)\n", what, (int)status);
}

/* board.h: a reset of the device is a new start of this program with the
 * same arguments; the element image and the stack's NVM file are what
 * survives, as flash survives a reset. (Only LmhpCompliance asks for one.) */
void BoardResetMcu(void)
{
    (void)NvmDataMgmtStore();
    fflush(stdout);
    execv("/proc/self/exe", the_argv);
    fprintf(stderr, "lmn_node: BoardResetMcu: cannot start again\n");
    _exit(1);
}

/* ---- status and control ---- */

static void hex(char *out, const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02X", b[i]);
}

static void status_print(node *n, bool force)
{
    FerrySeInfo_t info;
    LmhpFerryStats_t ps;
    lmn_radio_stats rs;
    LmhpFerryGetInfo(&info);
    LmhpFerryGetStats(&ps);
    lmn_radio_stats_get(&rs);
    char dev[17], je[17], text[1024];
    hex(dev, info.DevEui, 8);
    hex(je, info.JoinEui, 8);
    int len = snprintf(text, sizeof text,
                       "{\"DevEUI\":\"%s\",\"JoinEUI\":\"%s\",\"ActiveSlot\":%u,\"Joined\":%s,\"OnTrial\":%s,"
                       "\"StackJoined\":%s,\"Running\":%s,\"JoinRequests\":%u,\"Joins\":%u,\"JoinFailures\":%u,"
                       "\"Uplinks\":%u,\"Downlinks\":%u,\"MlsUplinks\":%u,\"MlsDownlinks\":%u,\"SecureCommands\":%u,"
                       "\"ProfileSwitches\":%u,\"ElementErrors\":%u,\"Sent\":%u,\"LostUp\":%u,\"LostDown\":%u,"
                       "\"Missed\":%u,\"Rx1\":%u,\"Rx2\":%u,\"JoinAccepts\":%u",
                       dev, je, info.ActiveSlot, info.Joined ? "true" : "false", info.OnTrial ? "true" : "false",
                       LmHandlerJoinStatus() == LORAMAC_HANDLER_SET ? "true" : "false", n->running ? "true" : "false",
                       n->join_requests, n->joins, ps.JoinFailures, n->uplinks, n->downlinks, ps.MlsUplinks,
                       ps.MlsDownlinks, ps.SecureCommands, ps.ProfileSwitches, ps.ElementErrors, rs.sent, rs.lost_up,
                       rs.lost_down, rs.missed, rs.rx1, rs.rx2, rs.join_accepts);
    if (len < 0 || (size_t)len >= sizeof text)
        return;
    if (!force && strcmp(text, n->last_status) == 0)
        return;
    memcpy(n->last_status, text, (size_t)len + 1);
    /* the skipped time changes at every back-off: printed, not compared */
    printf("%s,\"SimulatedS\":%.1f}\n", text, (double)lmn_clock_skipped_ms() / 1000.0);
    fflush(stdout);
}

static void control_line(node *n, const char *l)
{
    unsigned i;
    trace("control: %s", l);
    if (strcmp(l, "run") == 0)
        n->running = true;
    else if (strcmp(l, "pause") == 0)
        n->running = false;
    else if (sscanf(l, "down %u", &i) == 1)
        lmn_radio_set_down(i, true);
    else if (sscanf(l, "up %u", &i) == 1)
        lmn_radio_set_down(i, false);
    else if (strcmp(l, "status") == 0)
        status_print(n, true);
    else if (strcmp(l, "quit") == 0)
        n->quit = true;
    else if (l[0] != '\0')
        fprintf(stderr, "lmn_node: unknown control line: %.60s\n", l);
}

static void control_read(node *n)
{
    char buf[256];
    ssize_t r = read(0, buf, sizeof buf);
    if (r == 0) {
        n->quit = true;   /* whoever drives the device has gone */
        return;
    }
    if (r < 0)
        return;
    for (ssize_t k = 0; k < r; k++) {
        if (buf[k] == '\n') {
            n->line[n->line_len] = '\0';
            control_line(n, n->line);
            n->line_len = 0;
        } else if (n->line_len + 1 < sizeof n->line) {
            n->line[n->line_len++] = buf[k];
        } else {
            n->line_len = 0;   /* an over-long line is dropped whole */
        }
    }
}

/* ---- arguments ---- */

static int parse_networks(lmn_radio_config *rc, char *arg)
{
    for (char *save = NULL, *tok = strtok_r(arg, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        if (eq == NULL || rc->n_net == LMN_NETWORKS || (size_t)(eq - tok) >= sizeof rc->name[0] ||
            strlen(eq + 1) >= sizeof rc->ns_addr[0])
            return -1;
        memcpy(rc->name[rc->n_net], tok, (size_t)(eq - tok));
        rc->name[rc->n_net][eq - tok] = '\0';
        snprintf(rc->ns_addr[rc->n_net], sizeof rc->ns_addr[0], "%s", eq + 1);
        rc->n_net++;
    }
    return rc->n_net > 0 ? 0 : -1;
}

static int parse_in_range(lmn_radio_config *rc, char *arg)
{
    rc->in_range = 0;
    for (char *save = NULL, *tok = strtok_r(arg, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        unsigned i = 0;
        while (i < rc->n_net && strcmp(rc->name[i], tok) != 0)
            i++;
        if (i == rc->n_net)
            return -1;
        rc->in_range |= 1u << i;
    }
    return 0;
}

int main(int argc, char **argv)
{
    the_argv = argv;
    static node n;
    const char *image = NULL, *nvm = NULL;
    char *networks = NULL, *in_range = NULL;
    lmn_radio_config rc;
    memset(&rc, 0, sizeof rc);
    rc.gw_eui_base = 0xAA555B0000000000ull | ((uint64_t)(getpid() & 0xFFFFFF) << 8);
    rc.window_margin_ms = 300;
    rc.seed = (uint32_t)getpid() * 2654435761u;
    int dr = 5;
    bool run = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end = NULL;
        if (strcmp(a, "--run") == 0) {
            run = true;
            continue;
        }
        if (strcmp(a, "--trace") == 0) {
            n.trace = true;
            continue;
        }
        if (v == NULL) {
            usage();
            return 2;
        }
        i++;
        errno = 0;
        if (strcmp(a, "--image") == 0)
            image = v;
        else if (strcmp(a, "--nvm") == 0)
            nvm = v;
        else if (strcmp(a, "--networks") == 0)
            networks = argv[i];
        else if (strcmp(a, "--in-range") == 0)
            in_range = argv[i];
        else if (strcmp(a, "--dr") == 0)
            dr = (int)strtol(v, &end, 10);
        else if (strcmp(a, "--loss") == 0)
            rc.loss_up = rc.loss_down = strtod(v, &end);
        else if (strcmp(a, "--seed") == 0)
            rc.seed = (uint32_t)strtoul(v, &end, 0);
        else if (strcmp(a, "--gateway-eui-base") == 0)
            rc.gw_eui_base = strtoull(v, &end, 16);
        else if (strcmp(a, "--window-margin-ms") == 0)
            rc.window_margin_ms = (int)strtol(v, &end, 10);
        else {
            usage();
            return 2;
        }
        if (end != NULL && (*end != '\0' || errno != 0)) {
            fprintf(stderr, "lmn_node: %s %s: not a number\n", a, v);
            return 2;
        }
    }
    if (image == NULL || nvm == NULL || networks == NULL || dr < 0 || dr > 5 || rc.loss_up < 0 || rc.loss_up > 0.5 ||
        rc.window_margin_ms < 50 || rc.window_margin_ms > 900) {
        usage();
        return 2;
    }
    /* parsed from copies: argv stays whole for BoardResetMcu */
    bool range_given = in_range != NULL;
    networks = strdup(networks);
    in_range = range_given ? strdup(in_range) : NULL;
    if (networks == NULL || (range_given && in_range == NULL) || parse_networks(&rc, networks) != 0) {
        free(networks), free(in_range);
        fprintf(stderr, "lmn_node: --networks: NAME=ADDR:PORT,... (at most %d)\n", LMN_NETWORKS);
        return 2;
    }
    rc.in_range = (1u << rc.n_net) - 1;
    if (in_range != NULL && parse_in_range(&rc, in_range) != 0) {
        fprintf(stderr, "lmn_node: --in-range: names of --networks\n");
        free(networks), free(in_range);
        return 2;
    }
    free(networks), free(in_range);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    signal(SIGPIPE, SIG_IGN);
    int fl = fcntl(0, F_GETFL);
    if (fl < 0 || fcntl(0, F_SETFL, fl | O_NONBLOCK) != 0) {
        fprintf(stderr, "lmn_node: cannot read the control input without blocking\n");
        return 1;
    }

    the_node = &n;
    n.running = run;
    lmn_clock_init();
    if (lmn_transport_local_open(image) != 0) {
        fprintf(stderr, "lmn_node: %s: cannot boot the element\n", image);
        return 1;
    }
    if (lmn_radio_open(&rc) != 0) {
        lmn_transport_close();
        return 1;
    }
    lmn_nvm_set_path(nvm);

    static LmHandlerCallbacks_t callbacks = {
        .GetBatteryLevel = get_battery_level,
        .GetTemperature = get_temperature,
        .GetRandomSeed = get_random_seed,
        .OnMacProcess = on_mac_process,
        .OnNvmDataChange = on_nvm_data_change,
        .OnNetworkParametersChange = on_network_parameters_change,
        .OnMacMcpsRequest = on_mac_mcps_request,
        .OnMacMlmeRequest = on_mac_mlme_request,
        .OnJoinRequest = on_join_request,
        .OnTxData = on_tx_data,
        .OnRxData = on_rx_data,
        .OnClassChange = on_class_change,
        .OnBeaconStatusChange = on_beacon_status_change,
        .OnSysTimeUpdate = on_sys_time_update,
    };
    static LmHandlerParams_t params = {
        .Region = LORAMAC_REGION_EU868,
        .AdrEnable = false,
        .IsTxConfirmed = LORAMAC_HANDLER_UNCONFIRMED_MSG,
        .PublicNetworkEnable = true,
        /* as ferry's lab devices: no per-band duty cycle (its off-time would
         * be skipped anyway, but it would move the element's clock by
         * minutes between two fragments of one MLS message); the join
         * back-off stays, LoRaMac-node applies it whatever this says */
        .DutyCycleEnabled = false,
        .DataBufferMaxSize = APP_BUFFER_MAX,
        .PingSlotPeriodicity = 0,
    };
    params.TxDatarate = (int8_t)dr;
    params.DataBuffer = n.app_buffer;
    static LmhpFerryParams_t ferry_params = {
        .OnSecureCommand = on_secure_command,
        .OnProfileSwitch = NULL,
        .OnError = on_element_error,
    };
    int rc_exit = 1;
    if (LmHandlerInit(&callbacks, &params) != LORAMAC_HANDLER_SUCCESS) {
        fprintf(stderr, "lmn_node: LmHandlerInit failed (is the element answering?)\n");
        goto out;
    }
    n.ferry = LmhpFerryPackageFactory();
    if (LmhpFerryRegister(&ferry_params, n.app_buffer, sizeof n.app_buffer) != LORAMAC_HANDLER_SUCCESS) {
        fprintf(stderr, "lmn_node: the ferry package did not start\n");
        goto out;
    }
    status_print(&n, true);
    while (!n.quit && !stop_signal) {
        control_read(&n);
        lmn_radio_service();
        lmn_clock_service();
        LmHandlerProcess();
        if (n.running || LoRaMacIsBusy()) {
            n.ferry->Process();
            if (n.running && !n.ferry->IsTxPending() && !LmHandlerIsBusy()) {
                uint32_t c = n.app_uplinks;
                FerrySeInfo_t info;
                LmhpFerryGetInfo(&info);
                uint8_t reading[8] = {info.DevEui[6], info.DevEui[7], 0x00, 0x01, (uint8_t)(c >> 24),
                                      (uint8_t)(c >> 16), (uint8_t)(c >> 8), (uint8_t)c};
                memcpy(n.app_buffer, reading, sizeof reading);
                LmHandlerAppData_t app = {.Port = APP_FPORT, .BufferSize = sizeof reading, .Buffer = n.app_buffer};
                if (LmHandlerSend(&app, LORAMAC_HANDLER_UNCONFIRMED_MSG) == LORAMAC_HANDLER_SUCCESS)
                    n.app_uplinks++;
            }
        }
        status_print(&n, false);
        /* Wait for the next thing to do. While the MAC waits for the windows
         * of its frame the clock is wall time; otherwise an alarm further
         * away is skipped to (lmn_lab.h, "Time"). */
        int64_t alarm = lmn_clock_until_alarm(), radio = lmn_radio_until_event();
        if (alarm > SKIP_MIN_MS && !lmn_radio_awaiting() && Radio.GetStatus() != RF_RX_RUNNING &&
            (radio < 0 || radio > SKIP_MIN_MS)) {
            lmn_clock_skip((uint64_t)alarm);
            continue;
        }
        int64_t wait = LOOP_IDLE_MS;
        if (alarm >= 0 && alarm < wait)
            wait = alarm;
        if (radio >= 0 && radio < wait)
            wait = radio;
        struct pollfd pfd[LMN_NETWORKS + 1];
        int fds[LMN_NETWORKS];
        unsigned nfd = lmn_radio_fds(fds, LMN_NETWORKS);
        pfd[0].fd = 0, pfd[0].events = POLLIN;
        for (unsigned k = 0; k < nfd; k++)
            pfd[k + 1].fd = fds[k], pfd[k + 1].events = POLLIN;
        if (wait > 0 && poll(pfd, nfd + 1, (int)wait) < 0 && errno != EINTR)
            break;
    }
    /* the exchange in progress is abandoned; what the stack learnt is kept */
    (void)NvmDataMgmtStore();
    status_print(&n, true);
    rc_exit = 0;
out:
    lmn_radio_close();
    lmn_transport_close();
    return rc_exit;
}

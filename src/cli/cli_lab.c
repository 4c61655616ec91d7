/*
 * cli_lab.c - `ferry lab`: the lab's network server and a simulated gateway.
 *
 *   ferry lab ns --config FILE        run a lab network server (docs/lab-ns.md)
 *   ferry lab as --config FILE        run a customer's application server (docs/lab-as.md)
 *   ferry lab gateway --ns ADDR:PORT --gateway-eui E[,E...] [radio options] PHYPAYLOAD
 *                                     one uplink through one or more simulated
 *                                     gateways, and the downlink if one comes
 *
 * `lab gateway` is the device side's radio: it speaks the packet-forwarder
 * protocol (PULL_DATA, PUSH_DATA, PULL_RESP, TX_ACK) through lab_gw, so a
 * shell script can carry an SE's frames to the NS and back.
 */
#include "cli/cli.h"
#include "cli/cli_json.h"
#include "cli/cli_servers.h"
#include "lab/lab.h"
#include "lab/lab_as.h"

#include <stdlib.h>
#include <string.h>

static int cmd_ns(int argc, char **argv)
{
    static const char prog[] = "ferry lab ns";
    const char *path = NULL;
    int rc = cli_server_config_path(prog, "ferry lab ns --config FILE", "the network server's configuration (docs/lab-ns.md)", argc, argv, &path);
    if (rc >= 0)
        return rc;
    lab_ns_config *cfg = calloc(1, sizeof(*cfg));
    char err[512];
    if (cfg == NULL) {
        cli_error(prog, "out of memory");
        return CLI_EXIT_FAIL;
    }
    if (lab_ns_config_load(path, cfg, err, sizeof(err)) != LAB_OK) {
        cli_error(prog, "%s", err);
        free(cfg);
        return CLI_EXIT_FAIL;
    }
    lab_status st = lab_ns_serve(cfg, cli_server_stop_on_signals(), err, sizeof(err));
    lab_ns_config_wipe(cfg);
    free(cfg);
    if (st != LAB_OK) {
        cli_error(prog, "%s", err);
        return CLI_EXIT_FAIL;
    }
    return CLI_EXIT_OK;
}

static int cmd_as(int argc, char **argv)
{
    static const char prog[] = "ferry lab as";
    const char *path = NULL;
    int rc = cli_server_config_path(prog, "ferry lab as --config FILE", "the application server's configuration (docs/lab-as.md)", argc, argv, &path);
    if (rc >= 0)
        return rc;
    lab_as_config *cfg = calloc(1, sizeof(*cfg));
    char err[512];
    if (cfg == NULL) {
        cli_error(prog, "out of memory");
        return CLI_EXIT_FAIL;
    }
    if (lab_as_config_load(path, cfg, err, sizeof(err)) != LAB_OK) {
        cli_error(prog, "%s: %s", path, err);
        free(cfg);
        return CLI_EXIT_FAIL;
    }
    lab_status st = lab_as_serve(cfg, cli_server_stop_on_signals(), err, sizeof(err));
    lab_as_config_wipe(cfg);
    free(cfg);
    if (st != LAB_OK) {
        cli_error(prog, "%s", err);
        return CLI_EXIT_FAIL;
    }
    return CLI_EXIT_OK;
}

#define GW_LIST_MAX 8

static int parse_gateways(const char *prog, char *list, uint64_t *euis, size_t *n)
{
    *n = 0;
    char *save = NULL;
    for (char *t = strtok_r(list, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
        if (*n == GW_LIST_MAX) {
            cli_error(prog, "--gateway-eui: at most %d gateways", GW_LIST_MAX);
            return CLI_EXIT_USAGE;
        }
        if (cli_parse_hex_uint(prog, "--gateway-eui", t, 16, "a gateway EUI", &euis[(*n)++]) != CLI_EXIT_OK)
            return CLI_EXIT_USAGE;
    }
    if (*n == 0) {
        cli_error(prog, "--gateway-eui: at least one EUI");
        return CLI_EXIT_USAGE;
    }
    return CLI_EXIT_OK;
}

static int gateway_run(const char *prog, const char *ns, const uint64_t *euis, size_t ng, lab_rxpk *pk,
                       uint64_t wait_ms)
{
    lab_gw gws[GW_LIST_MAX];
    size_t opened = 0;
    int rc = CLI_EXIT_FAIL;
    lab_txpk tx;
    size_t got = (size_t)-1;
    unsigned acked = 0;
    for (; opened < ng; opened++) {
        if (lab_gw_open(&gws[opened], ns, euis[opened]) != LAB_OK) {
            cli_error(prog, "--ns %s: cannot open a UDP socket to it", ns);
            goto out;
        }
        if (lab_gw_pull(&gws[opened], 2000) != LAB_OK) {
            opened++;
            cli_error(prog, "no PULL_ACK from %s within 2 s: is `ferry lab ns` running there?", ns);
            goto out;
        }
    }
    /* Each gateway hears the same frame, the later ones 2 dB worse. */
    double snr = pk->lsnr;
    for (size_t i = 0; i < ng; i++) {
        pk->lsnr = snr - 2.0 * (double)i;
        pk->rssi -= (int)i;
        if (lab_gw_push(&gws[i], pk, 2000) != LAB_OK) {
            cli_error(prog, "no PUSH_ACK from %s within 2 s", ns);
            goto out;
        }
        acked++;
    }
    uint64_t slices = wait_ms / 20 + 1;
    for (uint64_t s = 0; s < slices && got == (size_t)-1; s++) {
        for (size_t i = 0; i < ng && got == (size_t)-1; i++) {
            if (lab_gw_wait_down(&gws[i], 20 / (int)ng + 1, &tx) == LAB_OK)
                got = i;
        }
    }
    json_t *o = json_object();
    int err = cli_json_set_uint(o, "PushAcked", acked);
    if (got == (size_t)-1) {
        err |= json_object_set_new(o, "Downlink", json_null());
    } else {
        json_t *d = json_object();
        char datr[16];
        snprintf(datr, sizeof(datr), "SF%uBW%u", (unsigned)tx.sf, (unsigned)tx.bw);
        err |= cli_json_set_hex(d, "PHYPayload", tx.data, tx.size);
        err |= cli_json_set_be(d, "Gateway", euis[got], 16);
        err |= cli_json_set_uint(d, "tmst", tx.tmst);
        err |= cli_json_set_uint(d, "DelayUs", (uint32_t)(tx.tmst - pk->tmst));
        err |= json_object_set_new(d, "freq", json_real(tx.freq));
        err |= cli_json_set_str(d, "datr", datr);
        err |= cli_json_set_obj(o, "Downlink", d);
    }
    rc = cli_json_emit(prog, o, err);
out:
    for (size_t i = 0; i < opened; i++)
        lab_gw_close(&gws[i]);
    return rc;
}

static int cmd_gateway(int argc, char **argv)
{
    static const char prog[] = "ferry lab gateway";
    static const cli_opt_spec specs[] = {
        {"ns", "ADDR:PORT", "the network server's packet-forwarder port"},
        {"gateway-eui", "E[,E...]", "one or more gateways that hear the frame (the first best)"},
        {"freq", "MHZ", "uplink frequency (default 868.1)"},
        {"datr", "SFnBWm", "data rate (default SF7BW125 = EU868 DR5)"},
        {"tmst", "N", "concentrator counter of the uplink, µs (default 1000000)"},
        {"snr", "DB", "SNR at the first gateway (default 7)"},
        {"wait-ms", "N", "how long to wait for a downlink (default 1500)"},
    };
    enum { O_NS, O_GW, O_FREQ, O_DATR, O_TMST, O_SNR, O_WAIT, O_N };
    char *v[O_N] = {NULL};
    char *pos[1] = {NULL};
    size_t npos = 0;
    const char *syn = "ferry lab gateway --ns ADDR:PORT --gateway-eui E[,E...] [options] PHYPAYLOAD";
    cli_parse_result pr = cli_opts_parse(prog, specs, O_N, argc, argv, v, pos, 1, &npos);
    if (pr == CLI_PARSE_HELP) {
        cli_opts_usage(stdout, syn, specs, O_N);
        return CLI_EXIT_OK;
    }
    if (pr != CLI_PARSED)
        return CLI_EXIT_USAGE;
    if (v[O_NS] == NULL || v[O_GW] == NULL || npos != 1) {
        cli_error(prog, "usage: %s", syn);
        return CLI_EXIT_USAGE;
    }
    uint64_t euis[GW_LIST_MAX];
    size_t ng = 0;
    if (parse_gateways(prog, v[O_GW], euis, &ng) != CLI_EXIT_OK)
        return CLI_EXIT_USAGE;
    lab_rxpk pk;
    memset(&pk, 0, sizeof(pk));
    pk.tmst = 1000000;
    pk.freq = 868.1;
    pk.stat = 1;
    pk.lora = true;
    pk.sf = 7;
    pk.bw = 125;
    strcpy(pk.codr, "4/5");
    pk.rssi = -60;
    pk.lsnr = 7.0;
    const char *hex = pos[0];
    if (hex[0] == '0' && (hex[1] == 'x' || hex[1] == 'X'))
        hex += 2;
    size_t hl = strlen(hex);
    if (hl == 0 || hl % 2 || hl / 2 > LW_PHY_MAX || lw_hex_decode(hex, hl, pk.data, hl / 2) != LW_OK) {
        cli_error(prog, "PHYPAYLOAD: expected 1 to 255 bytes of hex");
        return CLI_EXIT_USAGE;
    }
    pk.size = hl / 2;
    uint64_t u = 0;
    if (v[O_DATR] != NULL && lab_udp_datr_parse(v[O_DATR], &pk.sf, &pk.bw) != LAB_OK) {
        cli_error(prog, "--datr: expected SF7..SF12 and BW125/250/500, e.g. SF7BW125");
        return CLI_EXIT_USAGE;
    }
    if (v[O_FREQ] != NULL) {
        char *end;
        pk.freq = strtod(v[O_FREQ], &end);
        if (*end || pk.freq <= 0 || pk.freq > 10000) {
            cli_error(prog, "--freq: a frequency in MHz, e.g. 868.1");
            return CLI_EXIT_USAGE;
        }
    }
    if (v[O_SNR] != NULL) {
        char *end;
        pk.lsnr = strtod(v[O_SNR], &end);
        if (*end || pk.lsnr < -30 || pk.lsnr > 30) {
            cli_error(prog, "--snr: dB between -30 and 30");
            return CLI_EXIT_USAGE;
        }
    }
    if (v[O_TMST] != NULL) {
        if (cli_parse_dec_uint(prog, "--tmst", v[O_TMST], UINT32_MAX, &u) != CLI_EXIT_OK)
            return CLI_EXIT_USAGE;
        pk.tmst = (uint32_t)u;
    }
    uint64_t wait = 1500;
    if (v[O_WAIT] != NULL && cli_parse_dec_uint(prog, "--wait-ms", v[O_WAIT], 60000, &wait) != CLI_EXIT_OK)
        return CLI_EXIT_USAGE;
    return gateway_run(prog, v[O_NS], euis, ng, &pk, wait);
}

int cli_lab_main(int argc, char **argv)
{
    static const char usage[] =
        "usage: ferry lab <command> ...\n\n"
        "  ns --config FILE                          run a lab network server (docs/lab-ns.md)\n"
        "  as --config FILE                          run a customer's application server (docs/lab-as.md)\n"
        "  gateway --ns ADDR:PORT --gateway-eui E... PHYPAYLOAD\n"
        "                                            send one uplink through simulated gateways,\n"
        "                                            print the downlink if one comes\n"
        "  devices --image FILE... --network NAME=ADDR:PORT... [--until ...]\n"
        "                                            run simulated devices (emulated SEs + class A stack)\n";
    if (argc < 2) {
        fputs(usage, stderr);
        return CLI_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(usage, stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(argv[1], "ns") == 0)
        return cmd_ns(argc - 1, argv + 1);
    if (strcmp(argv[1], "as") == 0)
        return cmd_as(argc - 1, argv + 1);
    if (strcmp(argv[1], "gateway") == 0)
        return cmd_gateway(argc - 1, argv + 1);
    if (strcmp(argv[1], "devices") == 0)
        return cli_lab_devices_main(argc - 1, argv + 1);
    cli_error("ferry lab", "unknown command '%s'", argv[1]);
    fputs(usage, stderr);
    return CLI_EXIT_USAGE;
}

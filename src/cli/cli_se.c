/*
 * cli_se.c - `ferry se`: the secure element emulator and a host that talks
 * to it.
 *
 *   ferry se create --image FILE            a blank element; transport key (hex) on stdin
 *   ferry se serve --image FILE --socket P  serve APDUs on a Unix socket until SIGTERM
 *   ferry se info|join-request|join-accept|uplink|downlink|personalise --socket P ...
 *
 * The host commands go through se_client over the socket, exactly as a
 * device program would: they see frames and public facts, never keys.
 */
#include "cli/cli.h"
#include "cli/cli_json.h"
#include "cli/cli_secret.h"
#include "se/se.h"
#include "sehost/se_client.h"
#include "sehost/se_nvm_file.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

/* Set by SIGTERM/SIGINT; the one piece of process-wide state a signal needs. */
static volatile int serve_stop;

static void on_signal(int sig)
{
    (void)sig;
    serve_stop = 1;
}

static int se_fail(const char *prog, const char *what, se_status st)
{
    cli_error(prog, "%s: %s (SW %04X)", what, se_strerror(st), se_status_sw(st));
    return CLI_EXIT_FAIL;
}

static int cmd_create(int argc, char **argv)
{
    static const char prog[] = "ferry se create";
    static const cli_opt_spec specs[] = {{"image", "FILE", "image file to create (must not exist)"}};
    char *v[1] = {NULL};
    size_t npos = 0;
    cli_parse_result pr = cli_opts_parse(prog, specs, 1, argc, argv, v, NULL, 0, &npos);
    if (pr == CLI_PARSE_HELP) {
        cli_opts_usage(stdout, "ferry se create --image FILE < transport-key-hex", specs, 1);
        return CLI_EXIT_OK;
    }
    if (pr != CLI_PARSED)
        return CLI_EXIT_USAGE;
    if (v[0] == NULL) {
        cli_error(prog, "missing required option --image");
        return CLI_EXIT_USAGE;
    }
    if (access(v[0], F_OK) == 0) {
        cli_error(prog, "%s exists: an element is manufactured once", v[0]);
        return CLI_EXIT_FAIL;
    }
    char line[80];
    uint8_t key[16];
    if (cli_secret_line(line, sizeof line, NULL) != 0) {
        cli_error(prog, "expected the transport key (32 hex digits) on stdin");
        return CLI_EXIT_USAGE;
    }
    lw_status ls = lw_hex_decode(line, strlen(line), key, sizeof(key));
    lw_secure_wipe(line, sizeof(line));
    if (ls != LW_OK) {
        cli_error(prog, "transport key on stdin: expected 32 hex digits");
        return CLI_EXIT_USAGE;
    }
    se_nvm_file f;
    se_nvm nvm;
    se e;
    se_status st = se_nvm_file_open(&f, v[0], 1, &nvm);
    if (st != SE_OK) {
        LW_WIPE(key);
        cli_error(prog, "%s: %s", v[0], se_nvm_file_error(&f));
        return CLI_EXIT_FAIL;
    }
    st = se_manufacture(&e, &nvm, lw_crypto_software(), key);
    LW_WIPE(key);
    se_state_wipe(&e.st);
    se_nvm_file_close(&f);
    if (st != SE_OK)
        return se_fail(prog, "manufacture", st);
    json_t *o = json_object();
    int err = cli_json_set_str(o, "Image", v[0]);
    err |= cli_json_set_str(o, "Lifecycle", "blank");
    return cli_json_emit(prog, o, err);
}

static int cmd_serve(int argc, char **argv)
{
    static const char prog[] = "ferry se serve";
    static const cli_opt_spec specs[] = {{"image", "FILE", "the element's image file"},
                                         {"socket", "PATH", "Unix socket to listen on"}};
    char *v[2] = {NULL, NULL};
    size_t npos = 0;
    cli_parse_result pr = cli_opts_parse(prog, specs, 2, argc, argv, v, NULL, 0, &npos);
    if (pr == CLI_PARSE_HELP) {
        cli_opts_usage(stdout, "ferry se serve --image FILE --socket PATH", specs, 2);
        return CLI_EXIT_OK;
    }
    if (pr != CLI_PARSED)
        return CLI_EXIT_USAGE;
    if (v[0] == NULL || v[1] == NULL) {
        cli_error(prog, "--image and --socket are required");
        return CLI_EXIT_USAGE;
    }
    se_nvm_file f;
    se_nvm nvm;
    se e;
    if (se_nvm_file_open(&f, v[0], 0, &nvm) != SE_OK) {
        cli_error(prog, "%s: %s", v[0], se_nvm_file_error(&f));
        return CLI_EXIT_FAIL;
    }
    se_status st = se_boot(&e, &nvm, lw_crypto_software());
    if (st != SE_OK) {
        se_nvm_file_close(&f);
        return se_fail(prog, "boot", st);
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;   /* no SA_RESTART: accept() returns EINTR */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    fprintf(stderr, "%s: serving %s on %s\n", prog, v[0], v[1]);
    st = se_serve_socket(&e, v[1], &serve_stop);
    se_state_wipe(&e.st);
    se_nvm_file_close(&f);
    if (st != SE_OK) {
        cli_error(prog, "%s: %s", v[1], strerror(errno));
        return CLI_EXIT_FAIL;
    }
    return CLI_EXIT_OK;
}

/* Host commands share: --socket, then their own options. */
typedef struct host_cmd {
    const char *name;
    const char *synopsis;
    const cli_opt_spec *specs;   /* specs[0] is always --socket */
    size_t nspecs;
    size_t npos;                 /* positional arguments expected */
    int (*run)(const char *prog, se_client *c, char **v, char **pos);
} host_cmd;

static int run_info(const char *prog, se_client *c, char **v, char **pos)
{
    (void)v;
    (void)pos;
    se_info i;
    se_status st = se_client_get_info(c, &i);
    if (st != SE_OK)
        return se_fail(prog, "get info", st);
    json_t *o = json_object();
    int err = cli_json_set_str(o, "Lifecycle", i.lifecycle == SE_LIFECYCLE_OPERATIONAL ? "operational" : "blank");
    err |= cli_json_set_be(o, "DevEUI", i.dev_eui, 16);
    err |= cli_json_set_be(o, "Serial", i.serial, 16);
    err |= cli_json_set_uint(o, "ActiveSlot", i.active_slot);
    err |= cli_json_set_uint(o, "ActiveProfileID", i.active_profile_id);
    err |= cli_json_set_be(o, "JoinEUI", i.join_eui, 16);
    err |= cli_json_set_uint(o, "MACVersionCode", i.mac_version);
    err |= cli_json_set_bool(o, "OnTrial", i.on_trial);
    err |= cli_json_set_uint(o, "JoinAttempts", i.join_attempts);
    err |= cli_json_set_uint(o, "NextDevNonce", i.next_dev_nonce);
    err |= cli_json_set_bool(o, "Joined", i.joined);
    if (i.joined) {
        err |= cli_json_set_be(o, "DevAddr", i.dev_addr, 8);
        err |= cli_json_set_be(o, "NetID", i.net_id, 6);
        err |= cli_json_set_uint(o, "FCntUp", i.fcnt_up);
        err |= cli_json_set_uint(o, "NFCntDown", i.nfcnt_down);
        err |= cli_json_set_uint(o, "AFCntDown", i.afcnt_down);
    }
    err |= cli_json_set_uint(o, "MLSEpoch", i.mls_epoch);
    err |= cli_json_set_uint(o, "MLSDownCounter", i.mls_down_counter);
    return cli_json_emit(prog, o, err);
}

static int run_personalise(const char *prog, se_client *c, char **v, char **pos)
{
    (void)pos;
    se_personalisation p;
    memset(&p, 0, sizeof(p));
    uint64_t mv = 0;
    static const char *const names[] = {"--dev-eui", "--serial", "--join-eui"};
    uint64_t *dst[] = {&p.dev_eui, &p.serial, &p.join_eui};
    for (int i = 0; i < 3; i++) {
        if (v[1 + i] == NULL) {
            cli_error(prog, "missing required option %s", names[i]);
            return CLI_EXIT_USAGE;
        }
        if (cli_parse_hex_uint(prog, names[i], v[1 + i], 16, "an EUI-64", dst[i]) != CLI_EXIT_OK)
            return CLI_EXIT_USAGE;
    }
    static const struct { const char *text; uint8_t code; } versions[] = {
        {"1.0.0", SE_MAC_1_0_2}, {"1.0.1", SE_MAC_1_0_2}, {"1.0.2", SE_MAC_1_0_2},
        {"1.0.3", SE_MAC_1_0_3}, {"1.0.4", SE_MAC_1_0_4}, {"1.1", SE_MAC_1_1}};
    for (size_t i = 0; v[4] != NULL && i < sizeof(versions) / sizeof(versions[0]); i++) {
        if (strcmp(v[4], versions[i].text) == 0)
            mv = versions[i].code;
    }
    if (mv == 0) {
        cli_error(prog, "--mac-version: expected 1.0.0 .. 1.0.4 or 1.1");
        return CLI_EXIT_USAGE;
    }
    p.mac_version = (uint8_t)mv;
    uint8_t *wrapped[] = {p.nwk_key_wrapped, p.app_key_wrapped, p.mls_key_wrapped};
    static const char *const wnames[] = {"--nwkkey-wrapped", "--appkey-wrapped", "--mlskey-wrapped"};
    for (int i = 0; i < 3; i++) {
        if (v[5 + i] == NULL) {
            cli_error(prog, "missing required option %s", wnames[i]);
            return CLI_EXIT_USAGE;
        }
        if (cli_parse_hex_bytes(prog, wnames[i], v[5 + i], SE_WRAPPED_KEY_LEN, wrapped[i]) != CLI_EXIT_OK)
            return CLI_EXIT_USAGE;
    }
    se_status st = se_client_personalise(c, &p);
    LW_WIPE(p);
    if (st != SE_OK)
        return se_fail(prog, "personalise", st);
    json_t *o = json_object();
    return cli_json_emit(prog, o, cli_json_set_str(o, "Lifecycle", "operational"));
}

static int run_join_request(const char *prog, se_client *c, char **v, char **pos)
{
    (void)v;
    (void)pos;
    uint8_t jr[LW_JOIN_REQUEST_LEN];
    se_status st = se_client_join_request(c, jr);
    if (st != SE_OK)
        return se_fail(prog, "join-request", st);
    json_t *o = json_object();
    return cli_json_emit(prog, o, cli_json_set_hex(o, "PHYPayload", jr, sizeof(jr)));
}

static int parse_frame(const char *prog, const char *text, uint8_t *buf, size_t *len)
{
    const char *hex = (text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) ? text + 2 : text;
    size_t n = strlen(hex);
    if (n % 2 != 0 || n / 2 > LW_PHY_MAX || n == 0 || lw_hex_decode(hex, n, buf, n / 2) != LW_OK) {
        cli_error(prog, "PHYPAYLOAD: expected 1 to 255 bytes of hex");
        return CLI_EXIT_USAGE;
    }
    *len = n / 2;
    return CLI_EXIT_OK;
}

static int run_join_accept(const char *prog, se_client *c, char **v, char **pos)
{
    (void)v;
    uint8_t frame[LW_PHY_MAX];
    size_t len = 0;
    if (parse_frame(prog, pos[0], frame, &len) != CLI_EXIT_OK)
        return CLI_EXIT_USAGE;
    se_join_result r;
    se_status st = se_client_join_accept(c, frame, len, &r);
    if (st != SE_OK)
        return se_fail(prog, "join-accept", st);
    json_t *o = json_object();
    int err = cli_json_set_be(o, "DevAddr", r.dev_addr, 8);
    err |= cli_json_set_be(o, "NetID", r.net_id, 6);
    err |= cli_json_set_be(o, "DLSettings", r.dl_settings, 2);
    err |= cli_json_set_uint(o, "RxDelay", r.rx_delay);
    err |= cli_json_set_str(o, "MACVersion", r.mac_version == SE_MAC_1_1 ? "1.1" : "1.0");
    if (r.has_cflist)
        err |= cli_json_set_hex(o, "CFList", r.cflist, LW_CFLIST_LEN);
    return cli_json_emit(prog, o, err);
}

static int run_uplink(const char *prog, se_client *c, char **v, char **pos)
{
    (void)pos;
    se_uplink up;
    memset(&up, 0, sizeof(up));
    uint8_t payload[LW_PHY_MAX];
    uint64_t port = 0;
    if (v[1] != NULL) {
        if (cli_parse_dec_uint(prog, "--fport", v[1], 255, &port) != CLI_EXIT_OK)
            return CLI_EXIT_USAGE;
        up.has_fport = true;
        up.fport = (uint8_t)port;
    }
    if (v[2] != NULL) {
        size_t n = strlen(v[2]);
        if (!up.has_fport || n % 2 != 0 || n / 2 > 242 || lw_hex_decode(v[2], n, payload, n / 2) != LW_OK) {
            cli_error(prog, "--payload: expected up to 242 bytes of hex, with --fport");
            return CLI_EXIT_USAGE;
        }
        up.payload = payload;
        up.payload_len = n / 2;
    }
    up.confirmed = (v[3] != NULL && strcmp(v[3], "true") == 0);
    uint8_t frame[LW_PHY_MAX];
    size_t len = 0;
    se_status st = se_client_protect_uplink(c, &up, frame, sizeof(frame), &len);
    if (st != SE_OK)
        return se_fail(prog, "uplink", st);
    json_t *o = json_object();
    return cli_json_emit(prog, o, cli_json_set_hex(o, "PHYPayload", frame, len));
}

static int run_downlink(const char *prog, se_client *c, char **v, char **pos)
{
    (void)v;
    uint8_t frame[LW_PHY_MAX], plain[LW_PHY_MAX];
    size_t len = 0;
    if (parse_frame(prog, pos[0], frame, &len) != CLI_EXIT_OK)
        return CLI_EXIT_USAGE;
    se_downlink d;
    se_status st = se_client_unprotect_downlink(c, frame, len, plain, sizeof(plain), &d);
    if (st != SE_OK)
        return se_fail(prog, "downlink", st);
    json_t *o = json_object();
    int err = cli_json_set_uint(o, "FCnt", d.fcnt);
    err |= cli_json_set_bool(o, "Confirmed", d.confirmed);
    err |= cli_json_set_bool(o, "ACK", d.ack);
    if (d.has_fport)
        err |= cli_json_set_uint(o, "FPort", d.fport);
    err |= cli_json_set_hex(o, "FOpts", d.fopts, d.fopts_len);
    if (d.mls) {
        /* FPort 200: the element kept the MLS frame; the host only learns that. */
        err |= cli_json_set_bool(o, "MLS", true);
        err |= cli_json_set_bool(o, "SecureCommandWaiting", d.secure_pending);
    } else {
        err |= cli_json_set_hex(o, "FRMPayload", d.payload, d.payload_len);
    }
    return cli_json_emit(prog, o, err);
}

static int run_mls_uplink(const char *prog, se_client *c, char **v, char **pos)
{
    (void)pos;
    uint64_t max = 51, now = 0;
    if (v[1] != NULL && cli_parse_dec_uint(prog, "--frame-max", v[1], 242, &max) != CLI_EXIT_OK)
        return CLI_EXIT_USAGE;
    if (max < 11) {
        cli_error(prog, "--frame-max: expected 11 to 242");
        return CLI_EXIT_USAGE;
    }
    if (v[2] != NULL) {
        if (cli_parse_dec_uint(prog, "--time", v[2], UINT32_MAX, &now) != CLI_EXIT_OK)
            return CLI_EXIT_USAGE;
        se_status st = se_client_set_time(c, (uint32_t)now);
        if (st != SE_OK)
            return se_fail(prog, "set time", st);
    }
    uint8_t out[242];
    size_t n = 0;
    se_status st = se_client_mls_uplink(c, (size_t)max, out, &n);
    if (st != SE_OK)
        return se_fail(prog, "mls uplink", st);
    json_t *o = json_object();
    int err = cli_json_set_uint(o, "FPort", SE_MLS_FPORT);
    err |= cli_json_set_hex(o, "FRMPayload", out, n);
    return cli_json_emit(prog, o, err);
}

static int run_secure_command(const char *prog, se_client *c, char **v, char **pos)
{
    (void)v;
    (void)pos;
    uint8_t cmd[1024];
    size_t n = 0;
    se_status st = se_client_secure_command(c, cmd, sizeof(cmd), &n);
    if (st != SE_OK)
        return se_fail(prog, "secure command", st);
    json_t *o = json_object();
    return cli_json_emit(prog, o, cli_json_set_hex(o, "Command", cmd, n));
}

static int run_secure_reply(const char *prog, se_client *c, char **v, char **pos)
{
    (void)pos;
    uint8_t reply[1003];
    size_t n = 0;
    bool reject = v[2] != NULL && strcmp(v[2], "true") == 0;
    if (v[1] != NULL) {
        size_t len = strlen(v[1]);
        if (len % 2 != 0 || len / 2 > sizeof(reply) || lw_hex_decode(v[1], len, reply, len / 2) != LW_OK) {
            cli_error(prog, "--reply: expected up to 1003 bytes of hex");
            return CLI_EXIT_USAGE;
        }
        n = len / 2;
    }
    se_status st = se_client_secure_reply(c, !reject, reply, n);
    if (st != SE_OK)
        return se_fail(prog, "secure reply", st);
    json_t *o = json_object();
    return cli_json_emit(prog, o, cli_json_set_str(o, "Result", reject ? "rejected" : "accepted"));
}

static const cli_opt_spec socket_only[] = {{"socket", "PATH", "the emulator's Unix socket"}};
static const cli_opt_spec personalise_specs[] = {
    {"socket", "PATH", "the emulator's Unix socket"},
    {"dev-eui", "E", "DevEUI"},
    {"serial", "H", "SE serial number, 16 hex digits"},
    {"join-eui", "E", "bootstrap JoinEUI"},
    {"mac-version", "V", "1.0.0 .. 1.0.4 or 1.1"},
    {"nwkkey-wrapped", "H", "NwkKey (1.0.x: AppKey) wrapped under the transport key, 48 hex digits"},
    {"appkey-wrapped", "H", "AppKey wrapped under the transport key"},
    {"mlskey-wrapped", "H", "MLS root key wrapped under the transport key"},
};
static const cli_opt_spec uplink_specs[] = {
    {"socket", "PATH", "the emulator's Unix socket"},
    {"fport", "N", "FPort, 0..255"},
    {"payload", "HEX", "FRMPayload in clear"},
    {"confirmed", "true|false", "a confirmed uplink"},
};

static const cli_opt_spec mls_uplink_specs[] = {
    {"socket", "PATH", "the emulator's Unix socket"},
    {"frame-max", "N", "largest FRMPayload of the next uplink, 11..242 (default 51)"},
    {"time", "S", "the host's monotonic clock in seconds, for transfer timeouts"},
};
static const cli_opt_spec secure_reply_specs[] = {
    {"socket", "PATH", "the emulator's Unix socket"},
    {"reply", "HEX", "the application's reply (up to 1003 bytes)"},
    {"reject", "true|false", "refuse the command instead"},
};

static const host_cmd host_cmds[] = {
    {"info", "ferry se info --socket PATH", socket_only, 1, 0, run_info},
    {"personalise", "ferry se personalise --socket PATH --dev-eui E --serial H --join-eui E --mac-version V "
                    "--nwkkey-wrapped H --appkey-wrapped H --mlskey-wrapped H",
     personalise_specs, 8, 0, run_personalise},
    {"join-request", "ferry se join-request --socket PATH", socket_only, 1, 0, run_join_request},
    {"join-accept", "ferry se join-accept --socket PATH PHYPAYLOAD", socket_only, 1, 1, run_join_accept},
    {"uplink", "ferry se uplink --socket PATH [--fport N --payload HEX] [--confirmed true]", uplink_specs, 4, 0,
     run_uplink},
    {"downlink", "ferry se downlink --socket PATH PHYPAYLOAD", socket_only, 1, 1, run_downlink},
    {"mls-uplink", "ferry se mls-uplink --socket PATH [--frame-max N] [--time S]", mls_uplink_specs, 3, 0,
     run_mls_uplink},
    {"secure-command", "ferry se secure-command --socket PATH", socket_only, 1, 0, run_secure_command},
    {"secure-reply", "ferry se secure-reply --socket PATH [--reply HEX] [--reject true]", secure_reply_specs, 3, 0,
     run_secure_reply},
};

static int run_host(const host_cmd *h, int argc, char **argv)
{
    char prog[64];
    snprintf(prog, sizeof(prog), "ferry se %s", h->name);
    char *v[8] = {NULL};
    char *pos[1] = {NULL};
    size_t npos = 0;
    cli_parse_result pr = cli_opts_parse(prog, h->specs, h->nspecs, argc, argv, v, pos, h->npos, &npos);
    if (pr == CLI_PARSE_HELP) {
        cli_opts_usage(stdout, h->synopsis, h->specs, h->nspecs);
        return CLI_EXIT_OK;
    }
    if (pr != CLI_PARSED)
        return CLI_EXIT_USAGE;
    if (v[0] == NULL) {
        cli_error(prog, "missing required option --socket");
        return CLI_EXIT_USAGE;
    }
    if (npos != h->npos) {
        cli_error(prog, "expected %zu argument(s); usage: %s", h->npos, h->synopsis);
        return CLI_EXIT_USAGE;
    }
    se_client c;
    if (se_client_open_socket(&c, v[0]) != SE_OK) {
        cli_error(prog, "cannot reach the element at %s: %s", v[0], strerror(errno));
        return CLI_EXIT_FAIL;
    }
    int rc = h->run(prog, &c, v, pos);
    se_client_close(&c);
    return rc;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: ferry se <subcommand> [arguments]\n\nsubcommands:\n"
                 "  create        manufacture a blank element image (transport key as hex on stdin)\n"
                 "  serve         run the element emulator on a Unix socket\n");
    for (size_t i = 0; i < sizeof(host_cmds) / sizeof(host_cmds[0]); i++)
        fprintf(out, "  %-13s %s\n", host_cmds[i].name, host_cmds[i].synopsis);
    fprintf(out, "\nSee docs/se-commands.md.\n");
}

int cli_se_main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(argv[1], "create") == 0)
        return cmd_create(argc - 1, argv + 1);
    if (strcmp(argv[1], "serve") == 0)
        return cmd_serve(argc - 1, argv + 1);
    for (size_t i = 0; i < sizeof(host_cmds) / sizeof(host_cmds[0]); i++) {
        if (strcmp(argv[1], host_cmds[i].name) == 0)
            return run_host(&host_cmds[i], argc - 1, argv + 1);
    }
    cli_error("ferry se", "unknown subcommand \"%s\" (see ferry se --help)", argv[1]);
    return CLI_EXIT_USAGE;
}

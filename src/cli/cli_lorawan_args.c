/*
 * cli_lorawan_args.c - the options of `ferry lorawan`, one table for all
 * three subcommands, and their conversion into an lw_args.
 *
 * Each option's format is decided here and nowhere else, so `--dev-nonce`
 * reads the same in decode, derive and join-accept. Values are converted as
 * soon as they are parsed; keys go straight into lw_key structs through the
 * constant-time hex decoder and their text is wiped from argv.
 */
#include "cli/cli_lorawan.h"

#include <assert.h>
#include <string.h>

typedef enum opt_kind {
    KIND_VERSION,     /* --mac-version */
    KIND_KEY,         /* 32 hex digits */
    KIND_HEX,         /* `width` hex digits, big-endian */
    KIND_DEC,         /* decimal 0..max */
    KIND_CFLIST       /* 16 bytes of hex */
} opt_kind;

typedef struct opt_def {
    cli_opt_spec spec;
    const char *dashed;   /* "--name", for messages */
    opt_kind kind;
    unsigned width;       /* KIND_HEX: digits */
    uint64_t max;         /* KIND_DEC */
    const char *what;     /* KIND_HEX: the field's name */
} opt_def;

#define KEY_OPT(id, n, h) [id] = {{n, "K", h}, "--" n, KIND_KEY, 0, 0, NULL}
#define HEX_OPT(id, n, w, what, h) [id] = {{n, "H", h}, "--" n, KIND_HEX, w, 0, what}
#define DEC_OPT(id, n, m, h) [id] = {{n, "N", h}, "--" n, KIND_DEC, 0, m, NULL}

static const opt_def defs[OPT_COUNT] = {
    [OPT_MAC_VERSION] = {{"mac-version", "V", "1.0, 1.0.0 .. 1.0.4, 1.1 or 1.1.0 (default 1.0.3 for decode)"},
                         "--mac-version", KIND_VERSION, 0, 0, NULL},
    KEY_OPT(OPT_APPKEY, "appkey", "AppKey (1.0.x: the root key, same as --nwkkey; 1.1: root of AppSKey)"),
    KEY_OPT(OPT_NWKKEY, "nwkkey", "NwkKey (1.1), or the 1.0.x AppKey"),
    KEY_OPT(OPT_NWKSKEY, "nwkskey", "NwkSKey (1.0.x session)"),
    KEY_OPT(OPT_APPSKEY, "appskey", "AppSKey (session)"),
    KEY_OPT(OPT_SNWKSINTKEY, "snwksintkey", "SNwkSIntKey (1.1 session)"),
    KEY_OPT(OPT_FNWKSINTKEY, "fnwksintkey", "FNwkSIntKey (1.1 session)"),
    KEY_OPT(OPT_NWKSENCKEY, "nwksenckey", "NwkSEncKey (1.1 session)"),
    KEY_OPT(OPT_JSINTKEY, "jsintkey", "JSIntKey (1.1), instead of deriving it from --nwkkey and --dev-eui"),
    KEY_OPT(OPT_JSENCKEY, "jsenckey", "JSEncKey (1.1), instead of deriving it from --nwkkey and --dev-eui"),
    HEX_OPT(OPT_JOIN_EUI, "join-eui", 16, "a JoinEUI", "JoinEUI, 16 hex digits"),
    HEX_OPT(OPT_DEV_EUI, "dev-eui", 16, "a DevEUI", "DevEUI, 16 hex digits"),
    HEX_OPT(OPT_DEV_NONCE, "dev-nonce", 4, "a DevNonce", "DevNonce, 4 hex digits"),
    HEX_OPT(OPT_JOIN_NONCE, "join-nonce", 6, "a JoinNonce", "JoinNonce (AppNonce in 1.0), 6 hex digits"),
    HEX_OPT(OPT_NET_ID, "net-id", 6, "a NetID", "NetID, 6 hex digits"),
    HEX_OPT(OPT_DEV_ADDR, "dev-addr", 8, "a DevAddr", "DevAddr, 8 hex digits"),
    HEX_OPT(OPT_JOIN_REQ_TYPE, "join-req-type", 2, "a JoinReqType",
            "JoinReqType of the request answered: ff (join, default), 00, 01, 02 (rejoin)"),
    HEX_OPT(OPT_DL_SETTINGS, "dl-settings", 2, "DLSettings", "DLSettings byte, 2 hex digits (default 00)"),
    DEC_OPT(OPT_RX_DELAY, "rx-delay", 15, "RxDelay, decimal 0..15 (default 0)"),
    [OPT_CFLIST] = {{"cflist", "H", "CFList, 32 hex digits"}, "--cflist", KIND_CFLIST, 0, 0, NULL},
    DEC_OPT(OPT_FCNT32, "fcnt32", UINT32_MAX, "full 32-bit frame counter, decimal (default: the frame's 16 bits)"),
    DEC_OPT(OPT_CONF_FCNT, "conf-fcnt", UINT16_MAX, "1.1 ConfFCnt, decimal (default 0; used when ACK is set)"),
    DEC_OPT(OPT_TX_DR, "tx-dr", UINT8_MAX, "1.1 uplink TxDr, decimal (default 0)"),
    DEC_OPT(OPT_TX_CH, "tx-ch", UINT8_MAX, "1.1 uplink TxCh, decimal (default 0)"),
};

const char *lw_opt_name(lw_opt_id id)
{
    return (unsigned)id < OPT_COUNT ? defs[id].dashed : "--?";
}

static lw_key *key_slot(lw_args *a, lw_opt_id id)
{
    switch (id) {
    case OPT_APPKEY:      return &a->appkey;
    case OPT_NWKKEY:      return &a->nwkkey;
    case OPT_NWKSKEY:     return &a->nwkskey;
    case OPT_APPSKEY:     return &a->appskey;
    case OPT_SNWKSINTKEY: return &a->snwksintkey;
    case OPT_FNWKSINTKEY: return &a->fnwksintkey;
    case OPT_NWKSENCKEY:  return &a->nwksenckey;
    case OPT_JSINTKEY:    return &a->jsintkey;
    case OPT_JSENCKEY:    return &a->jsenckey;
    default:              return NULL;
    }
}

static int parse_version(const char *prog, const char *text, lw_args *a)
{
    static const struct { const char *text; lw_mac_version v; } versions[] = {
        {"1.0", LW_MAC_1_0},   {"1.0.0", LW_MAC_1_0}, {"1.0.1", LW_MAC_1_0}, {"1.0.2", LW_MAC_1_0},
        {"1.0.3", LW_MAC_1_0}, {"1.0.4", LW_MAC_1_0}, {"1.1", LW_MAC_1_1},   {"1.1.0", LW_MAC_1_1},
    };
    for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
        if (strcmp(text, versions[i].text) == 0) {
            a->version = versions[i].v;
            a->version_text = versions[i].text;
            return CLI_EXIT_OK;
        }
    }
    cli_error(prog, "--mac-version: expected 1.0, 1.0.0, 1.0.1, 1.0.2, 1.0.3, 1.0.4, 1.1 or 1.1.0, got \"%s\"",
              text);
    return CLI_EXIT_USAGE;
}

/* Converts one option's text into its field of *a. */
static int convert(const char *prog, lw_opt_id id, char *text, lw_args *a)
{
    const opt_def *d = &defs[id];
    uint64_t v = 0;
    int rc;
    switch (d->kind) {
    case KIND_VERSION:
        return parse_version(prog, text, a);
    case KIND_KEY:
        return cli_parse_key(prog, d->dashed, text, key_slot(a, id));
    case KIND_CFLIST:
        return cli_parse_hex_bytes(prog, d->dashed, text, LW_CFLIST_LEN, a->cflist);
    case KIND_DEC:
        rc = cli_parse_dec_uint(prog, d->dashed, text, d->max, &v);
        break;
    case KIND_HEX:
        rc = cli_parse_hex_uint(prog, d->dashed, text, d->width, d->what, &v);
        break;
    default:
        return CLI_EXIT_USAGE;
    }
    if (rc != CLI_EXIT_OK)
        return rc;
    switch (id) {
    case OPT_JOIN_EUI:    a->join_eui = v; break;
    case OPT_DEV_EUI:     a->dev_eui = v; break;
    case OPT_DEV_NONCE:   a->dev_nonce = (uint16_t)v; break;
    case OPT_JOIN_NONCE:  a->join_nonce = (uint32_t)v; break;
    case OPT_NET_ID:      a->net_id = (uint32_t)v; break;
    case OPT_DEV_ADDR:    a->dev_addr = (uint32_t)v; break;
    case OPT_DL_SETTINGS: a->dl_settings = (uint8_t)v; break;
    case OPT_RX_DELAY:    a->rx_delay = (uint8_t)v; break;
    case OPT_FCNT32:      a->fcnt32 = (uint32_t)v; break;
    case OPT_CONF_FCNT:   a->conf_fcnt = (uint16_t)v; break;
    case OPT_TX_DR:       a->tx_dr = (uint8_t)v; break;
    case OPT_TX_CH:       a->tx_ch = (uint8_t)v; break;
    case OPT_JOIN_REQ_TYPE:
        if (v != LW_JOIN_REQ_TYPE_JOIN && v > LW_JOIN_REQ_TYPE_REJOIN_2) {
            cli_error(prog, "--join-req-type: expected ff (join-request), 00, 01 or 02 (rejoin types), got \"%s\"",
                      text);
            return CLI_EXIT_USAGE;
        }
        a->join_req_type = (uint8_t)v;
        break;
    default:
        return CLI_EXIT_USAGE;
    }
    return CLI_EXIT_OK;
}

int lw_args_parse(const char *prog, const char *synopsis, const lw_opt_id *ids, size_t n, int argc, char **argv,
                  char **pos, size_t max_pos, size_t *npos, lw_args *a, bool *done)
{
    cli_opt_spec specs[OPT_COUNT] = {{0}};
    char *values[OPT_COUNT] = {0};

    memset(a, 0, sizeof(*a));
    a->version = LW_MAC_1_0;
    a->version_text = "1.0.3";
    a->join_req_type = LW_JOIN_REQ_TYPE_JOIN;
    *done = true;
    assert(n <= OPT_COUNT);
    for (size_t i = 0; i < n; i++)
        specs[i] = defs[ids[i]].spec;

    switch (cli_opts_parse(prog, specs, n, argc, argv, values, pos, max_pos, npos)) {
    case CLI_PARSE_HELP:
        cli_opts_usage(stdout, synopsis, specs, n);
        return CLI_EXIT_OK;
    case CLI_PARSE_ERROR:
        return CLI_EXIT_USAGE;
    case CLI_PARSED:
        break;
    }
    /* Convert every value, even after a failure, so that every key's text
     * is wiped from argv; report only the first error. */
    int status = CLI_EXIT_OK;
    for (size_t i = 0; i < n; i++) {
        if (values[i] == NULL)
            continue;
        if (status != CLI_EXIT_OK) {
            if (defs[ids[i]].kind == KIND_KEY)
                lw_secure_wipe(values[i], strlen(values[i]));
            continue;
        }
        status = convert(prog, ids[i], values[i], a);
        a->given[ids[i]] = true;
    }
    if (status != CLI_EXIT_OK) {
        lw_args_wipe(a);
        return status;
    }
    *done = false;
    return CLI_EXIT_OK;
}

int lw_args_require(const char *prog, const lw_args *a, const lw_opt_id *required, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!a->given[required[i]]) {
            cli_error(prog, "missing required option %s (see --help)", lw_opt_name(required[i]));
            return CLI_EXIT_USAGE;
        }
    }
    return CLI_EXIT_OK;
}

int lw_args_root_key_10(const char *prog, const lw_args *a, const lw_key **root)
{
    bool app = a->appkey.length != 0, nwk = a->nwkkey.length != 0;
    *root = app ? &a->appkey : nwk ? &a->nwkkey : NULL;
    if (app && nwk && !lw_secure_equal(a->appkey.material, a->nwkkey.material, LW_KEY_LEN)) {
        cli_error(prog, "LoRaWAN 1.0.x has one root key (the AppKey): give it as --appkey or --nwkkey, "
                        "not two different keys");
        return CLI_EXIT_USAGE;
    }
    return CLI_EXIT_OK;
}

void lw_args_wipe(lw_args *a)
{
    lw_secure_wipe(a, sizeof(*a));
}

/*
 * cli_lorawan.h - shared by the files of `ferry lorawan` (not a public API).
 *
 * The three subcommands draw their options from one table (cli_lorawan_args.c)
 * so that an option means the same thing and takes the same format in each
 * of them. A subcommand lists the options it accepts; lw_args_parse() checks
 * and converts them into an lw_args, once, at the edge.
 *
 * Number formats (see docs/lorawan-tool.md): EUIs, NetID, DevAddr, DevNonce,
 * JoinNonce, JoinReqType and DLSettings are hex of their field's exact width,
 * big-endian as people write them; counters and small numbers (FCnt, RxDelay,
 * TxDr, TxCh) are decimal; keys are 32 hex digits.
 */
#ifndef FERRY_CLI_LORAWAN_H
#define FERRY_CLI_LORAWAN_H

#include <stdbool.h>
#include <stdint.h>
#include "cli/cli.h"

typedef enum lw_opt_id {
    OPT_MAC_VERSION,
    OPT_APPKEY,
    OPT_NWKKEY,
    OPT_NWKSKEY,
    OPT_APPSKEY,
    OPT_SNWKSINTKEY,
    OPT_FNWKSINTKEY,
    OPT_NWKSENCKEY,
    OPT_JSINTKEY,
    OPT_JSENCKEY,
    OPT_JOIN_EUI,
    OPT_DEV_EUI,
    OPT_DEV_NONCE,
    OPT_JOIN_NONCE,
    OPT_NET_ID,
    OPT_DEV_ADDR,
    OPT_JOIN_REQ_TYPE,
    OPT_DL_SETTINGS,
    OPT_RX_DELAY,
    OPT_CFLIST,
    OPT_FCNT32,
    OPT_CONF_FCNT,
    OPT_TX_DR,
    OPT_TX_CH,
    OPT_COUNT
} lw_opt_id;

/* Parsed options. A key is present when its length is non-zero; any other
 * option when given[its id] is set. Wipe with lw_args_wipe(). */
typedef struct lw_args {
    bool given[OPT_COUNT];
    lw_mac_version version;          /* default LW_MAC_1_0 */
    const char *version_text;        /* as typed, or "1.0.3" */
    lw_key appkey, nwkkey, nwkskey, appskey;
    lw_key snwksintkey, fnwksintkey, nwksenckey, jsintkey, jsenckey;
    uint64_t join_eui, dev_eui;
    uint16_t dev_nonce;
    uint32_t join_nonce, net_id, dev_addr;
    uint8_t join_req_type;           /* default 0xFF (join-request) */
    uint8_t dl_settings;
    uint8_t rx_delay;
    uint8_t cflist[LW_CFLIST_LEN];
    uint32_t fcnt32;
    uint16_t conf_fcnt;
    uint8_t tx_dr, tx_ch;
} lw_args;

/* Parses argv for a subcommand that accepts the options ids[n] and up to
 * max_pos positional arguments. Returns CLI_EXIT_OK with *done false when the
 * command should run; otherwise *done is true and the return value is the
 * exit status (0 after --help, CLI_EXIT_USAGE after an error, which is on
 * stderr). *a is wiped on every path that sets *done. */
int lw_args_parse(const char *prog, const char *synopsis, const lw_opt_id *ids, size_t n, int argc, char **argv,
                  char **pos, size_t max_pos, size_t *npos, lw_args *a, bool *done);

/* Checks that every option of required[n] was given; CLI_EXIT_USAGE with a
 * message naming the first missing one otherwise. */
int lw_args_require(const char *prog, const lw_args *a, const lw_opt_id *required, size_t n);

/* The name of an option with its dashes, e.g. "--dev-nonce". */
const char *lw_opt_name(lw_opt_id id);

/* LoRaWAN 1.0.x has one root key, the AppKey, which plays the role 1.1 gives
 * NwkKey; the tool accepts it as --appkey or as --nwkkey. Sets *root to the
 * one given (NULL if neither); giving both with different values is a usage
 * error. */
int lw_args_root_key_10(const char *prog, const lw_args *a, const lw_key **root);

void lw_args_wipe(lw_args *a);

/* The subcommands. */
int cli_lorawan_decode(int argc, char **argv);
int cli_lorawan_derive(int argc, char **argv);
int cli_lorawan_join_accept(int argc, char **argv);

#endif

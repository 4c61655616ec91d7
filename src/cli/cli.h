/*
 * cli.h - the `ferry` command-line tool: subcommands, exit codes, options.
 *
 * The CLI is the outermost layer: it does the I/O (argv, stdout, stderr)
 * around the pure cores. Each subcommand is an entry of a small table in
 * main.c, `ferry <name> ...` runs its function with argv starting at the
 * subcommand's own arguments.
 *
 * Conventions every subcommand keeps:
 *   - the result is one JSON object on stdout (cli_json.h);
 *   - a failure prints "ferry <cmd>: <sentence>" on stderr, nothing on
 *     stdout, and exits CLI_EXIT_USAGE (bad command line: unknown or missing
 *     option, malformed value) or CLI_EXIT_FAIL (the input parsed but the
 *     operation failed: a truncated frame, a crypto error);
 *   - `--help` prints the subcommand's usage on stdout and exits 0.
 */
#ifndef FERRY_CLI_H
#define FERRY_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "lorawan/lorawan.h"

#ifndef FERRY_VERSION
#define FERRY_VERSION "0.1.0"
#endif

enum {
    CLI_EXIT_OK = 0,
    CLI_EXIT_FAIL = 1,   /* the operation failed on well-formed arguments */
    CLI_EXIT_USAGE = 2   /* the command line is wrong */
};

/* A subcommand: argv[0] is the subcommand's name, argv[1..argc) its arguments.
 * Returns the process exit status. */
typedef int (*cli_command_fn)(int argc, char **argv);

typedef struct cli_command {
    const char *name;
    cli_command_fn run;
    const char *summary;   /* one line for `ferry --help` */
} cli_command;

/* `ferry lorawan ...` (cli_lorawan.c). */
int cli_lorawan_main(int argc, char **argv);

/* `ferry se ...` (cli_se.c). */
int cli_se_main(int argc, char **argv);

/* The Join Server (cli_js.c): `ferry init`, and with `-d DIR` before the
 * command, `kek`, `device`, `peer` and `serve`. */
int cli_js_init_main(int argc, char **argv);
int cli_js_joineui_main(int argc, char **argv);
int cli_js_kek_main(int argc, char **argv);
int cli_js_device_main(int argc, char **argv);
int cli_js_peer_main(int argc, char **argv);
int cli_js_serve_main(int argc, char **argv);
/* The deployment directory of the global `-d DIR` option (borrowed from argv). */
void cli_set_deploy_dir(const char *dir);
/* That directory (or $FERRY_DIR); NULL with a message on stderr when none. */
const char *cli_deploy_dir(const char *prog);

/* Network operators of the activation service (cli_operator.c):
 * `ferry -d DIR operator add|list|show|suspend|resume|remove`. */
int cli_operator_main(int argc, char **argv);

/* The high-security area (cli_hsa.c) and the Identity Manager (cli_idm.c). */
int cli_hsa_main(int argc, char **argv);
int cli_idm_main(int argc, char **argv);

/* The peering hub (cli_hub.c): `ferry hub --config FILE`, `ferry hub token FILE`. */
int cli_hub_main(int argc, char **argv);

/* The lab (cli_lab.c): `ferry lab ns`, `ferry lab gateway`. */
int cli_lab_main(int argc, char **argv);
/* `ferry lab devices` (cli_lab_devices.c): simulated devices. */
int cli_lab_devices_main(int argc, char **argv);
/* `ferry demo` (cli_demo.c): the whole flow on one machine. */
int cli_demo_main(int argc, char **argv);

/* ---- Option parsing (cli_opts.c) -------------------------------------
 *
 * Options are long options only, `--name VALUE` or `--name=VALUE`; every
 * option takes a value. `--` ends the options. `-h` and `--help` ask for the
 * usage. A subcommand describes its options with a table of cli_opt_spec;
 * the parser fills values[i] (NULL when absent) for specs[i], pointing into
 * argv, so that a key's text can be wiped in place once decoded.
 */
typedef struct cli_opt_spec {
    const char *name;      /* without the leading "--" */
    const char *metavar;   /* "K", "E", "N"... for the usage text */
    const char *help;      /* one line */
} cli_opt_spec;

typedef enum cli_parse_result {
    CLI_PARSED,       /* values and positionals are set */
    CLI_PARSE_HELP,   /* --help was given: print the usage, exit 0 */
    CLI_PARSE_ERROR   /* a message is on stderr: exit CLI_EXIT_USAGE */
} cli_parse_result;

/* Parses argv[1..argc) against specs[n]. Positional arguments go to
 * pos[0..max_pos) and their count to *npos; more than max_pos is an error.
 * An unknown option, an option given twice or without a value is an error
 * reported on stderr prefixed with `prog`. */
cli_parse_result cli_opts_parse(const char *prog, const cli_opt_spec *specs, size_t n, int argc, char **argv,
                                char **values, char **pos, size_t max_pos, size_t *npos);

/* Prints "usage: <synopsis>" and one line per option to `out`. */
void cli_opts_usage(FILE *out, const char *synopsis, const cli_opt_spec *specs, size_t n);

/* Value converters. Each returns CLI_EXIT_OK, or prints a sentence naming
 * the option and the expected format on stderr and returns CLI_EXIT_USAGE.
 * Hex may carry a "0x" prefix and use either case. */

/* Exactly `digits` hex digits, read big-endian (as people write EUIs, NetIDs,
 * DevAddrs, nonces): "0102" -> 0x0102. `what` names the field in messages. */
int cli_parse_hex_uint(const char *prog, const char *opt, const char *text, unsigned digits, const char *what,
                       uint64_t *out);

/* A decimal number 0..max, digits only. */
int cli_parse_dec_uint(const char *prog, const char *opt, const char *text, uint64_t max, uint64_t *out);

/* Exactly `len` bytes of hex (2*len digits) into out[len]. */
int cli_parse_hex_bytes(const char *prog, const char *opt, const char *text, size_t len, uint8_t *out);

/* A 128-bit AES key: 32 hex digits, decoded in constant time with
 * lw_hex_decode. The text in argv is wiped afterwards, on success and on
 * failure, and never echoed in a message. */
int cli_parse_key(const char *prog, const char *opt, char *text, lw_key *out);

/* Prints "<prog>: <fmt...>\n" on stderr. */
void cli_error(const char *prog, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif

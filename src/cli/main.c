/*
 * main.c - `ferry`: dispatch to a subcommand.
 *
 * ferry's tools share one binary; each layer that has an operator-facing
 * face adds one row to `commands` below (today `lorawan`; `se` and `js` come
 * with their layers). A subcommand receives argv from its own name on and
 * owns everything after it, including its --help.
 */
#include "cli/cli.h"
#include "cli/cli_json.h"
#include "hsm/hsm.h"

#include <stdio.h>
#include <string.h>

static int cmd_version(int argc, char **argv);

static const cli_command commands[] = {
    {"lorawan", cli_lorawan_main, "decode frames, derive session keys, build join-accepts (LoRaWAN 1.0.x, 1.1)"},
    {"se", cli_se_main, "the secure element emulator and a device-side host for it"},
    {"init", cli_js_init_main, "create a Join Server deployment: ferry init DIR --join-eui EUI[/BITS][,...]"},
    {"joineui", cli_js_joineui_main, "add, remove or list the JoinEUI ranges a Join Server serves (-d DIR)"},
    {"kek", cli_js_kek_main, "import, generate or list the KEKs of peers (-d DIR)"},
    {"device", cli_js_device_main, "import, list, show or delete devices (-d DIR)"},
    {"peer", cli_js_peer_main, "authorise a network or application server with a bearer token (-d DIR)"},
    {"operator", cli_operator_main, "onboard, list, show, suspend, resume or remove network operators (-d DIR)"},
    {"serve", cli_js_serve_main, "run the Join Server: Backend Interfaces, admin API, metrics (-d DIR)"},
    {"hsa", cli_hsa_main, "high-security area: personalise secure elements, write the IDM batch"},
    {"idm", cli_idm_main, "Identity Manager: import, tenants, claims, profiles over the air, transfer, renew, commands, audit (-d DIR)"},
    {"hub", cli_hub_main, "the peering hub: route Backend Interfaces messages between operators (--config FILE)"},
    {"lab", cli_lab_main, "the lab: network server, gateways, application server, simulated devices"},
    {"demo", cli_demo_main, "the whole bootstrap-to-customer flow on this machine, with a report"},
    {"version", cmd_version, "print ferry's version"},
};

#define COMMAND_COUNT (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *out)
{
    fprintf(out, "usage: ferry [-d DIR] <command> [arguments]\n\ncommands:\n");
    for (size_t i = 0; i < COMMAND_COUNT; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n-d DIR names the Join Server deployment (or set FERRY_DIR).\n`ferry <command> --help` describes a command. Results are JSON on stdout;\n"
                 "errors go to stderr with exit status 2 (command line) or 1 (operation).\n");
}

static int cmd_version(int argc, char **argv)
{
    (void)argv;
    if (argc > 1) {
        cli_error("ferry version", "takes no arguments");
        return CLI_EXIT_USAGE;
    }
    printf("ferry %s\n", FERRY_VERSION);
    return CLI_EXIT_OK;
}

int main(int argc, char **argv)
{
    /* Every subcommand may handle a secret (a KEK on stdin, clear keys in
     * an import file, owner tokens, the lorawan tool's keys): no core dump
     * and no ptrace from the start, not only in the servers. */
    if (hsm_process_harden() != HSM_OK) {
        cli_error("ferry", "could not keep the process out of core dumps (setrlimit, prctl)");
        return CLI_EXIT_FAIL;
    }
    cli_json_init();
    if (argc < 2) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    /* The one global option: the deployment directory of the Join Server's
     * commands (`ferry -d DIR kek list`). */
    if (strcmp(argv[1], "-d") == 0) {
        if (argc < 4) {
            cli_error("ferry", "-d needs a directory and a command (ferry -d DIR <command> ...)");
            return CLI_EXIT_USAGE;
        }
        cli_set_deploy_dir(argv[2]);
        argc -= 2;
        argv += 2;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
        usage(stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(name, "--version") == 0)
        return cmd_version(1, argv + 1);
    for (size_t i = 0; i < COMMAND_COUNT; i++) {
        if (strcmp(name, commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    }
    cli_error("ferry", "unknown command \"%s\" (see ferry --help)", name);
    return CLI_EXIT_USAGE;
}

/*
 * cli_hub.c - `ferry hub`: the peering hub (docs/hub.md).
 *
 *   ferry hub --config FILE    route Backend Interfaces messages between members
 *   ferry hub token FILE       a fresh member token into FILE (new, 0600), and
 *                              the token_sha256 for its `member` line on stdout
 */
#include "cli/cli.h"
#include "cli/cli_servers.h"
#include "cli/cli_json.h"
#include "hub/hub.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int cmd_token(int argc, char **argv)
{
    static const char prog[] = "ferry hub token";
    char *pos[1] = {NULL};
    size_t npos = 0;
    cli_parse_result pr = cli_opts_parse(prog, NULL, 0, argc, argv, NULL, pos, 1, &npos);
    if (pr == CLI_PARSE_HELP) {
        printf("usage: ferry hub token FILE\n  writes a fresh 256-bit token (64 hex digits) into FILE (created, 0600)\n"
               "  and prints {\"token_sha256\": ...} for the hub's `member = ID token_sha256=...` line\n");
        return CLI_EXIT_OK;
    }
    if (pr != CLI_PARSED)
        return CLI_EXIT_USAGE;
    if (npos != 1) {
        cli_error(prog, "usage: ferry hub token FILE");
        return CLI_EXIT_USAGE;
    }
    char tok[65];
    uint8_t hash[HUB_HASH_LEN];
    if (hub_token_generate(tok, hash) != HUB_OK) {
        cli_error(prog, "the random generator failed");
        return CLI_EXIT_FAIL;
    }
    int fd = open(pos[0], O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        cli_error(prog, "%s: %s (an existing file is never overwritten)", pos[0], strerror(errno));
        lw_secure_wipe(tok, sizeof(tok));
        return CLI_EXIT_FAIL;
    }
    tok[64] = '\n';
    ssize_t w = write(fd, tok, 65);
    lw_secure_wipe(tok, sizeof(tok));
    if (close(fd) != 0 || w != 65) {
        cli_error(prog, "%s: could not write the token", pos[0]);
        unlink(pos[0]);
        return CLI_EXIT_FAIL;
    }
    json_t *o = json_object();
    int err = cli_json_set_str(o, "file", pos[0]);
    err |= cli_json_set_hex(o, "token_sha256", hash, sizeof(hash));
    return cli_json_emit(prog, o, err);
}

static int cmd_serve(int argc, char **argv)
{
    static const char prog[] = "ferry hub";
    const char *path = NULL;
    int rc = cli_server_config_path(prog, "ferry hub --config FILE | ferry hub token FILE",
                                    "the hub's configuration (docs/hub.md)", argc, argv, &path);
    if (rc >= 0)
        return rc;
    hub_config *cfg = calloc(1, sizeof(*cfg));
    char err[HUB_ERR_MAX];
    if (cfg == NULL) {
        cli_error(prog, "out of memory");
        return CLI_EXIT_FAIL;
    }
    if (hub_config_load(path, cfg, err) != HUB_OK) {
        cli_error(prog, "%s", err);
        free(cfg);
        return CLI_EXIT_FAIL;
    }
    hub_status st = hub_serve(cfg, cli_server_stop_on_signals(), cli_server_reload_flag(), err);
    hub_config_wipe(cfg);
    free(cfg);
    if (st != HUB_OK) {
        cli_error(prog, "%s", err);
        return CLI_EXIT_FAIL;
    }
    return CLI_EXIT_OK;
}

int cli_hub_main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "token") == 0)
        return cmd_token(argc - 1, argv + 1);
    return cmd_serve(argc, argv);
}

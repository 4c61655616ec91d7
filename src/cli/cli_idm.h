/*
 * cli_idm.h - what the `ferry idm` command files share (cli_idm.c: set-up,
 * tenants, claims, provisioning, serve; cli_idm_ops.c: the operations after
 * the first profile). Internal to the CLI.
 */
#ifndef FERRY_CLI_IDM_H
#define FERRY_CLI_IDM_H

#include "idm/idm.h"
#include "idm/idm_core.h"

/* idm_open on the deployment of -d DIR: its database, and its token when
 * `with_token`; CLI_EXIT_OK or the exit status (the message printed).
 * Closed with idm_close. */
int cli_idm_open(const char *prog, bool with_token, idm_core **out);

/* Prints err (or idm_strerror(st)) and returns CLI_EXIT_FAIL. */
int fail_idm(const char *prog, idm_status st, const char *err);

/* `ferry idm transfer|renew|return|command|command-show|retire`: the exit
 * status, or -1 when cmd is none of them. */
int cli_idm_ops_main(const char *cmd, int argc, char **argv);

#endif

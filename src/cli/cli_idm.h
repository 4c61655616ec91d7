/*
 * cli_idm.h - what the `ferry idm` command files share (cli_idm.c: set-up,
 * tenants, claims, provisioning, serve; cli_idm_ops.c: the operations after
 * the first profile). Internal to the CLI.
 */
#ifndef FERRY_CLI_IDM_H
#define FERRY_CLI_IDM_H

#include "idm/idm.h"
#include "idm/idm_authz.h"
#include "idm/idm_core.h"

/* idm_open on the deployment of -d DIR: its database, and its token when
 * `with_token`; CLI_EXIT_OK or the exit status (the message printed).
 * Closed with idm_close. */
int cli_idm_open(const char *prog, bool with_token, idm_core **out);

/* The one question every `ferry idm` subcommand asks before it acts on an
 * SE (idm_authorize, through idm_core_check): may the operator - or, with
 * tenant_id, that tenant (--tenant) - do `act` to dev_eui (and its command
 * seq, for IDM_ACT_READ_COMMAND)? IDM_OK, or the refusal with its reason
 * in err. A claim is not asked here: whether the owner token is proven
 * decides it, with one answer for every refusal (idm_claim). */
idm_status cli_idm_may(idm_core *c, const char *tenant_id, idm_action act, uint64_t dev_eui, int64_t seq,
                       char err[IDM_ERR_MAX]);

/* Prints err (or idm_strerror(st)) and returns CLI_EXIT_FAIL. */
int fail_idm(const char *prog, idm_status st, const char *err);

/* `ferry idm transfer|renew|return|command|command-show|retire`: the exit
 * status, or -1 when cmd is none of them. */
int cli_idm_ops_main(const char *cmd, int argc, char **argv);

/* The DevEUIs of a fleet command (cli_dev_list.c): the arguments, then the
 * lines of `file` ("-": stdin; NULL: none), no limit on their number.
 * CLI_EXIT_USAGE / CLI_EXIT_FAIL after saying which line is wrong. */
typedef struct cli_dev_list {
    uint64_t *dev;
    size_t n, cap;
} cli_dev_list;
int cli_dev_list_read(const char *prog, char **pos, size_t npos, const char *file, cli_dev_list *out);
void cli_dev_list_free(cli_dev_list *l);

#endif

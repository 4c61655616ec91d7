/*
 * cli_idm_ops.c - `ferry -d DIR idm` operations on SEs after their first
 * profile (docs/idm.md, "Operations"):
 *
 *   ferry -d DIR idm transfer DEVEUI... | --file F --to-tenant T [--js ID] [--tenant ID]
 *   ferry -d DIR idm renew DEVEUI... | --file F [--tenant ID]
 *   ferry -d DIR idm return DEVEUI... | --file F [--tenant ID]
 *   ferry -d DIR idm command DEVEUI... | --file F --payload HEX [--tenant ID]
 *   ferry -d DIR idm command-show DEVEUI SEQ
 *   ferry -d DIR idm retire DEVEUI
 *
 * Several DevEUIs make a fleet operation: each SE is its own transaction,
 * one failing does not stop the others, and the answer lists every SE
 * ({"Results": [...], "Done": n, "Failed": n}); the exit status is 1 when
 * any failed. --tenant acts as that tenant (refused unless it holds the
 * SE); without it, as the operator. The commands queue work; `idm serve`
 * delivers it.
 */
#include "cli/cli.h"
#include "cli/cli_idm.h"
#include "cli/cli_json.h"
#include "idm/idm_ota.h"
#include "lorawan/lw_secure.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum op_kind { OP_TRANSFER, OP_RENEW, OP_RETURN, OP_COMMAND } op_kind;

static int fleet(const char *prog, op_kind kind, int argc, char **argv)
{
    static const cli_opt_spec specs[] = {
        {"tenant", "ID", "act as this tenant (as `Who may do what` in docs/idm.md: a customer on SEs it holds, a maker on its own that no customer holds)"},
        {"to-tenant", "T", "transfer: the new owner"},
        {"js", "ID", "transfer: the new owner's Join Server (default: its only one)"},
        {"payload", "HEX", "command: the secure command for the SE's application (1..1003 bytes)"},
        {"file", "F", "more DevEUIs, one per line (- for standard input; blank lines and # comments skipped)"},
    };
    char *v[5];
    /* as many DevEUIs as the command line holds, and any number in --file */
    char **pos = calloc((size_t)argc + 1, sizeof *pos);
    cli_dev_list fl = {0};
    uint64_t *devs = NULL;
    uint8_t *payload = malloc(MLS_SECURE_MAX);
    size_t npos = 0, plen = 0;
    int rc = pos == NULL || payload == NULL ? CLI_EXIT_FAIL : CLI_EXIT_OK;
    if (rc == CLI_EXIT_OK) {
        switch (cli_opts_parse(prog, specs, 5, argc, argv, v, pos, (size_t)argc + 1, &npos)) {
        case CLI_PARSE_HELP:
            cli_opts_usage(stdout, "ferry -d DIR idm transfer|renew|return|command DEVEUI... | --file F [options]",
                           specs, 5);
            rc = -2;
            break;
        case CLI_PARSE_ERROR:
            rc = CLI_EXIT_USAGE;
            break;
        default:
            rc = cli_dev_list_read(prog, pos, npos, v[4], &fl);
            if (rc == CLI_EXIT_OK && fl.n == 0) {
                cli_error(prog, "expected at least one DevEUI (arguments or --file F)");
                rc = CLI_EXIT_USAGE;
            }
            devs = fl.dev;
            npos = fl.n;
        }
    }
    if (rc == CLI_EXIT_OK && kind == OP_TRANSFER && v[1] == NULL) {
        cli_error(prog, "--to-tenant is required");
        rc = CLI_EXIT_USAGE;
    }
    if (rc == CLI_EXIT_OK && kind == OP_COMMAND) {
        size_t hl = v[3] != NULL ? strlen(v[3]) : 0;
        if (hl == 0 || hl % 2 != 0 || hl / 2 > MLS_SECURE_MAX ||
            lw_hex_decode(v[3], hl, payload, hl / 2) != LW_OK) {
            cli_error(prog, "--payload: 1 to %u bytes in hex", (unsigned)MLS_SECURE_MAX);
            rc = CLI_EXIT_USAGE;
        }
        plen = hl / 2;
    }
    idm_core *c = NULL;
    char err[IDM_ERR_MAX];
    if (rc == CLI_EXIT_OK && (rc = cli_idm_open(prog, true, &c)) == CLI_EXIT_OK) {
        const idm_policy *pol = idm_core_policy(c);
        hsm_session *hs = idm_core_session(c);
        store *db = idm_core_store(c);
        json_t *out = json_object(), *results = json_array();
        unsigned done = 0, failed = 0;
        char actor[96];
        snprintf(actor, sizeof actor, "%s%s", v[0] != NULL ? "cli:tenant:" : "cli", v[0] != NULL ? v[0] : "");
        /* a maker acts on its own SEs that no customer holds: as the
         * operator does, not as a holder (what the REST API does too) */
        store_idm_tenant as_tenant;
        const char *holder = v[0];
        if (v[0] != NULL && store_idm_tenant_get(db, v[0], &as_tenant) == STORE_OK &&
            idm_actor_of_tenant(&as_tenant).kind == IDM_ACTOR_MAKER)
            holder = NULL;
        for (size_t i = 0; i < npos; i++) {
            idm_status st;
            int64_t seq = 0;
            err[0] = '\0';
            static const idm_action ACTION_OF[] = {[OP_TRANSFER] = IDM_ACT_TRANSFER, [OP_RENEW] = IDM_ACT_RENEW,
                                                   [OP_RETURN] = IDM_ACT_RETURN, [OP_COMMAND] = IDM_ACT_COMMAND};
            st = cli_idm_may(c, v[0], ACTION_OF[kind], devs[i], 0, err);
            if (st != IDM_OK)
                goto answered;
            switch (kind) {
            case OP_TRANSFER:
                st = idm_transfer(hs, db, devs[i], holder, v[1], v[2], pol, actor, err);
                break;
            case OP_RENEW:
                st = idm_renew(hs, db, devs[i], holder, pol, actor, err);
                break;
            case OP_RETURN:
                st = idm_return_to_bootstrap(hs, db, devs[i], holder, pol, actor, err);
                break;
            default:
                st = idm_secure_send(hs, db, devs[i], holder, payload, plen, pol, actor, &seq, err);
            }
        answered:;
            json_t *r = json_object();
            int e = cli_json_set_be(r, "DevEUI", devs[i], 16);
            if (st == IDM_OK) {
                done++;
                e |= cli_json_set_str(r, "Queued", "ok");
                if (kind == OP_COMMAND)
                    e |= cli_json_set_uint(r, "Seq", (uint64_t)seq);
            } else {
                failed++;
                e |= cli_json_set_str(r, "Error", err[0] != '\0' ? err : idm_strerror(st));
            }
            if (e != 0 || json_array_append_new(results, r) != 0)
                failed++;
        }
        json_object_set_new(out, "Results", results);
        int e = cli_json_set_uint(out, "Done", done);
        e |= cli_json_set_uint(out, "Failed", failed);
        rc = cli_json_emit(prog, out, e);
        if (rc == CLI_EXIT_OK && failed > 0)
            rc = CLI_EXIT_FAIL;
        idm_close(&c);
    }
    if (payload != NULL)
        lw_secure_wipe(payload, MLS_SECURE_MAX);
    free(payload);
    free(pos);
    cli_dev_list_free(&fl);
    return rc == -2 ? CLI_EXIT_OK : rc;
}

static int command_show(int argc, char **argv)
{
    static const char prog[] = "ferry idm command-show";
    char *pos[2];
    size_t npos = 0;
    switch (cli_opts_parse(prog, NULL, 0, argc, argv, NULL, pos, 2, &npos)) {
    case CLI_PARSE_HELP:
        printf("usage: ferry -d DIR idm command-show DEVEUI SEQ\n");
        return CLI_EXIT_OK;
    case CLI_PARSE_ERROR:
        return CLI_EXIT_USAGE;
    default:
        break;
    }
    uint64_t dev;
    char *end = NULL;
    long long seq = npos == 2 ? strtoll(pos[1], &end, 10) : 0;
    if (npos != 2 || cli_parse_hex_uint(prog, "DEVEUI", pos[0], 16, "DevEUI", &dev) != CLI_EXIT_OK ||
        end == NULL || *end != '\0' || seq < 1) {
        cli_error(prog, "expected a DevEUI and a command's Seq (from `idm command`)");
        return CLI_EXIT_USAGE;
    }
    idm_core *c = NULL;
    int rc = cli_idm_open(prog, false, &c);
    if (rc != CLI_EXIT_OK)
        return rc;
    char err[IDM_ERR_MAX];
    idm_status st = cli_idm_may(c, NULL, IDM_ACT_READ_COMMAND, dev, seq, err);
    if (st != IDM_OK) {
        idm_close(&c);
        return fail_idm(prog, st, err);
    }
    store_idm_cmd *cmd = calloc(1, sizeof *cmd);
    store_status ss = cmd != NULL ? store_idm_cmd_get(idm_core_store(c), dev, seq, cmd) : STORE_ERR_NOMEM;
    idm_close(&c);
    if (ss != STORE_OK) {
        cli_error(prog, "%016llX command %lld: %s", (unsigned long long)dev, seq, store_strerror(ss));
        free(cmd);
        return CLI_EXIT_FAIL;
    }
    json_t *out = json_object();
    int e = cli_json_set_be(out, "DevEUI", dev, 16);
    e |= cli_json_set_uint(out, "Seq", (uint64_t)cmd->seq);
    e |= cli_json_set_str(out, "Type", mls_type_name(cmd->type));
    e |= cli_json_set_str(out, "State", store_idm_cmd_state_name(cmd->state));
    e |= cli_json_set_uint(out, "MLSCounter", cmd->counter);
    if (cmd->result >= 0)
        e |= cli_json_set_uint(out, "Result", (uint64_t)cmd->result);
    if (cmd->reply_len > 0)
        e |= cli_json_set_hex(out, "Reply", cmd->reply, cmd->reply_len);
    e |= cli_json_set_str(out, "Origin", cmd->origin);
    free(cmd);
    return cli_json_emit(prog, out, e);
}

static int retire(int argc, char **argv)
{
    static const char prog[] = "ferry idm retire";
    char *pos[1];
    size_t npos = 0;
    switch (cli_opts_parse(prog, NULL, 0, argc, argv, NULL, pos, 1, &npos)) {
    case CLI_PARSE_HELP:
        printf("usage: ferry -d DIR idm retire DEVEUI\n");
        return CLI_EXIT_OK;
    case CLI_PARSE_ERROR:
        return CLI_EXIT_USAGE;
    default:
        break;
    }
    uint64_t dev;
    if (npos != 1 || cli_parse_hex_uint(prog, "DEVEUI", pos[0], 16, "DevEUI", &dev) != CLI_EXIT_OK)
        return CLI_EXIT_USAGE;
    idm_core *c = NULL;
    int rc = cli_idm_open(prog, false, &c);
    if (rc != CLI_EXIT_OK)
        return rc;
    char err[IDM_ERR_MAX];
    idm_status st = cli_idm_may(c, NULL, IDM_ACT_RETIRE, dev, 0, err);
    if (st == IDM_OK)
        st = idm_retire(idm_core_store(c), dev, "cli", err);
    idm_close(&c);
    if (st != IDM_OK)
        return fail_idm(prog, st, err);
    json_t *out = json_object();
    int e = cli_json_set_be(out, "DevEUI", dev, 16);
    e |= cli_json_set_str(out, "State", "retired");
    return cli_json_emit(prog, out, e);
}

int cli_idm_ops_main(const char *cmd, int argc, char **argv)
{
    if (strcmp(cmd, "transfer") == 0)
        return fleet("ferry idm transfer", OP_TRANSFER, argc, argv);
    if (strcmp(cmd, "renew") == 0)
        return fleet("ferry idm renew", OP_RENEW, argc, argv);
    if (strcmp(cmd, "return") == 0)
        return fleet("ferry idm return", OP_RETURN, argc, argv);
    if (strcmp(cmd, "command") == 0)
        return fleet("ferry idm command", OP_COMMAND, argc, argv);
    if (strcmp(cmd, "command-show") == 0)
        return command_show(argc, argv);
    if (strcmp(cmd, "retire") == 0)
        return retire(argc, argv);
    return -1;
}

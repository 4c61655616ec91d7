/*
 * cli_idm.c - the Identity Manager's commands, on a `ferry init` deployment:
 *
 *   ferry -d DIR idm import BATCH [--net-id HEX6] [--ns-kek-label L]
 *                                 [--as-kek-label L] [--as-id ID]
 *   ferry -d DIR idm show DEVEUI
 *   ferry -d DIR idm audit verify
 *
 * The deployment's ferry.conf names the token and the database (js_config);
 * the IDM opens them itself, with one PKCS#11 session and one connection.
 * Nothing printed holds a key, a blob or an owner token.
 */
#include "cli/cli.h"
#include "cli/cli_json.h"
#include "idm/idm.h"
#include "js/js.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_NS_KEK "bootstrap-ns"
#define DEFAULT_AS_KEK "idm-as"

typedef struct idm_cli {
    js_config *cfg;               /* ferry.conf: hc points into it */
    hsm_config hc;
    idm_token tok;
    store *db;
} idm_cli;

static void idm_cli_close(idm_cli *c)
{
    hsm_session_close(c->tok.s);
    hsm_close(c->tok.h);
    store_close(c->db);
    free(c->cfg);
    memset(c, 0, sizeof *c);
}

/* Opens the deployment's database, and its token when `with_token`. */
static int idm_cli_open(const char *prog, bool with_token, idm_cli *c)
{
    memset(c, 0, sizeof *c);
    const char *dir = cli_deploy_dir(prog);
    if (dir == NULL)
        return CLI_EXIT_USAGE;
    js_config *cfg = c->cfg = calloc(1, sizeof *cfg);
    if (cfg == NULL) {
        cli_error(prog, "out of memory");
        return CLI_EXIT_FAIL;
    }
    char err[JS_ERR_MAX];
    int rc = CLI_EXIT_OK;
    if (js_config_load(dir, cfg, err) != JS_OK) {
        cli_error(prog, "%s", err);
        rc = CLI_EXIT_FAIL;
    }
    store_status ss = rc == CLI_EXIT_OK ? store_open(cfg->database, &c->db) : STORE_OK;
    if (ss != STORE_OK) {
        cli_error(prog, "database: %s", store_strerror(ss));
        rc = CLI_EXIT_FAIL;
    }
    if (rc == CLI_EXIT_OK && with_token) {
        c->hc = (hsm_config){
            .module = cfg->pkcs11_module[0] ? cfg->pkcs11_module : NULL,
            .softhsm_conf = cfg->softhsm_conf[0] ? cfg->softhsm_conf : NULL,
            .token_label = cfg->token_label,
            .pin_file = cfg->pin_file,
        };
        c->tok.cfg = &c->hc;
        hsm_diag diag = {0};
        char line[200];
        hsm_status hs = hsm_process_harden();
        if (hs == HSM_OK)
            hs = hsm_open(&c->hc, &c->tok.h, &diag);
        if (hs == HSM_OK)
            hs = hsm_session_open(c->tok.h, &c->tok.s);
        if (hs != HSM_OK) {
            cli_error(prog, "key service: %s", hsm_diag_format(hs, &diag, line, sizeof line));
            rc = CLI_EXIT_FAIL;
        }
    }
    if (rc != CLI_EXIT_OK)
        idm_cli_close(c);
    return rc;
}

static int import(int argc, char **argv)
{
    static const char prog[] = "ferry idm import";
    static const cli_opt_spec specs[] = {
        {"net-id", "HEX6", "HomeNetID of the bootstrap devices (default 000000)"},
        {"ns-kek-label", "L", "NSKEKLabel of the bootstrap devices (default " DEFAULT_NS_KEK ")"},
        {"as-kek-label", "L", "ASKEKLabel of the bootstrap devices (default " DEFAULT_AS_KEK ")"},
        {"as-id", "ID", "ASID allowed to fetch AppSKeys (default none)"},
    };
    char *v[4], *pos[1];
    size_t npos = 0;
    switch (cli_opts_parse(prog, specs, 4, argc, argv, v, pos, 1, &npos)) {
    case CLI_PARSE_HELP:
        cli_opts_usage(stdout, "ferry -d DIR idm import BATCH [options]", specs, 4);
        return CLI_EXIT_OK;
    case CLI_PARSE_ERROR:
        return CLI_EXIT_USAGE;
    default:
        break;
    }
    if (npos != 1) {
        cli_error(prog, "expected the batch file (ferry -d DIR idm import BATCH)");
        return CLI_EXIT_USAGE;
    }
    uint64_t net_id = 0;
    if (v[0] != NULL && cli_parse_hex_uint(prog, "--net-id", v[0], 6, "NetID", &net_id) != CLI_EXIT_OK)
        return CLI_EXIT_USAGE;
    idm_import_opts o = {
        .home_net_id = (uint32_t)net_id,
        .ns_kek_label = v[1] != NULL ? v[1] : DEFAULT_NS_KEK,
        .as_kek_label = v[2] != NULL ? v[2] : DEFAULT_AS_KEK,
        .as_id = v[3] != NULL ? v[3] : "",
        .actor = "cli",
    };
    FILE *in = fopen(pos[0], "r");
    if (in == NULL) {
        cli_error(prog, "%s: cannot open", pos[0]);
        return CLI_EXIT_FAIL;
    }
    idm_cli c;
    int rc = idm_cli_open(prog, true, &c);
    if (rc != CLI_EXIT_OK) {
        fclose(in);
        return rc;
    }
    idm_import_summary sum;
    char err[IDM_ERR_MAX];
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    idm_status st = idm_import_batch(&c.tok, c.db, in, &o, &sum, err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    fclose(in);
    idm_cli_close(&c);
    if (st != IDM_OK) {
        cli_error(prog, "%s: %s; nothing was imported", pos[0], err[0] != '\0' ? err : idm_strerror(st));
        return CLI_EXIT_FAIL;
    }
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    json_t *out = json_object();
    int e = cli_json_set_uint(out, "imported", sum.imported);
    e |= cli_json_set_uint(out, "already", sum.already);
    e |= cli_json_set_uint(out, "lines", sum.lines);
    e |= cli_json_set_hex(out, "batch_sha256", sum.batch_sha256, sizeof sum.batch_sha256);
    e |= cli_json_set_uint(out, "audit_seq", (uint64_t)sum.audit_seq);
    e |= json_object_set_new(out, "seconds", json_real(secs));
    return cli_json_emit(prog, out, e);
}

static int show(int argc, char **argv)
{
    static const char prog[] = "ferry idm show";
    char *pos[1];
    size_t npos = 0;
    switch (cli_opts_parse(prog, NULL, 0, argc, argv, NULL, pos, 1, &npos)) {
    case CLI_PARSE_HELP:
        printf("usage: ferry -d DIR idm show DEVEUI\n");
        return CLI_EXIT_OK;
    case CLI_PARSE_ERROR:
        return CLI_EXIT_USAGE;
    default:
        break;
    }
    uint64_t dev_eui;
    if (npos != 1) {
        cli_error(prog, "expected a DevEUI");
        return CLI_EXIT_USAGE;
    }
    if (cli_parse_hex_uint(prog, "DEVEUI", pos[0], 16, "DevEUI", &dev_eui) != CLI_EXIT_OK)
        return CLI_EXIT_USAGE;
    idm_cli c;
    int rc = idm_cli_open(prog, false, &c);
    if (rc != CLI_EXIT_OK)
        return rc;
    store_idm_se se;
    store_status ss = store_idm_se_get(c.db, dev_eui, &se);
    idm_cli_close(&c);
    if (ss != STORE_OK) {
        cli_error(prog, "%016llX: %s", (unsigned long long)dev_eui, store_strerror(ss));
        return CLI_EXIT_FAIL;
    }
    json_t *out = json_object();
    int e = cli_json_set_be(out, "DevEUI", se.dev_eui, 16);
    e |= cli_json_set_be(out, "JoinEUI", se.join_eui, 16);
    e |= cli_json_set_be(out, "SerialNumber", se.serial, 16);
    e |= cli_json_set_str(out, "MACVersion", store_mac_version_name(se.mac_version));
    e |= cli_json_set_str(out, "State", se.state);
    lw_secure_wipe(&se, sizeof se);
    return cli_json_emit(prog, out, e);
}

static int audit_verify(void)
{
    static const char prog[] = "ferry idm audit verify";
    idm_cli c;
    int rc = idm_cli_open(prog, false, &c);
    if (rc != CLI_EXIT_OK)
        return rc;
    store_idm_audit_report rep;
    store_status ss = store_idm_audit_verify(c.db, &rep);
    idm_cli_close(&c);
    if (ss != STORE_OK) {
        cli_error(prog, "database: %s", store_strerror(ss));
        return CLI_EXIT_FAIL;
    }
    json_t *out = json_object();
    int e = cli_json_set_bool(out, "ok", rep.ok);
    e |= cli_json_set_uint(out, "entries", rep.entries);
    if (rep.ok) {
        e |= cli_json_set_hex(out, "head_hash", rep.head_hash, sizeof rep.head_hash);
    } else {
        e |= cli_json_set_uint(out, "first_bad_entry", (uint64_t)rep.first_bad_seq);
        e |= cli_json_set_str(out, "reason", rep.reason);
    }
    rc = cli_json_emit(prog, out, e);
    if (rc == CLI_EXIT_OK && !rep.ok) {
        cli_error(prog, "the audit log is broken at entry %lld: %s", (long long)rep.first_bad_seq, rep.reason);
        rc = CLI_EXIT_FAIL;
    }
    return rc;
}

int cli_idm_main(int argc, char **argv)
{
    static const char usage[] = "usage: ferry -d DIR idm import BATCH [--net-id HEX6] [--ns-kek-label L] "
                                "[--as-kek-label L] [--as-id ID]\n"
                                "       ferry -d DIR idm show DEVEUI\n"
                                "       ferry -d DIR idm audit verify\n";
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    }
    if (strcmp(argv[1], "import") == 0)
        return import(argc - 1, argv + 1);
    if (strcmp(argv[1], "show") == 0)
        return show(argc - 1, argv + 1);
    if (strcmp(argv[1], "audit") == 0 && argc == 3 && strcmp(argv[2], "verify") == 0)
        return audit_verify();
    cli_error("ferry idm", "unknown subcommand (see ferry idm --help)");
    return CLI_EXIT_USAGE;
}

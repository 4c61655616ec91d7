/*
 * cli_idm.c - the Identity Manager's commands, on a `ferry init` deployment:
 *
 *   ferry -d DIR idm import BATCH [--net-id HEX6] [--ns-kek-label L]
 *                                 [--as-kek-label L] [--as-id ID] [--operators N,N|*]
 *   ferry -d DIR idm show DEVEUI
 *   ferry -d DIR idm status DEVEUI... | --file F
 *   ferry -d DIR idm audit verify
 *   ferry -d DIR idm init --ns-token-out FILE [--listen A:P]
 *   ferry -d DIR idm config set KEY VALUE [KEY VALUE...] | show
 *   ferry -d DIR idm tenant add ID --kind maker|customer --token-out FILE [--name N]
 *   ferry -d DIR idm tenant list
 *   ferry -d DIR idm js add ID --tenant T --url URL --admin-token-file F --join-eui E
 *                           --net-id HEX6 --kek-label L [--ns-kek-label L] [--allowed-net-ids N,N]
 *   ferry -d DIR idm claim DEVEUI --owner-token T --tenant ID
 *   ferry -d DIR idm claim --file F --tenant ID
 *   ferry -d DIR idm release DEVEUI --tenant ID | refuse DEVEUI | lock DEVEUI | unlock DEVEUI
 *   ferry -d DIR idm assign DEVEUI [--tenant ID] [--js ID]
 *   ferry -d DIR idm provision DEVEUI
 *   ferry -d DIR idm serve [--listen A:P]
 *
 * Every command opens the IDM through idm_open (idm_core.h: ferry.conf's
 * token and database, idm.conf) and nothing else; `idm init` makes
 * idm.conf and `idm config set` changes it.
 * Nothing printed holds a key, a blob or an owner token.
 */
#include "cli/cli.h"
#include "cli/cli_servers.h"
#include "cli/cli_json.h"
#include "cli/cli_secret.h"
#include "cli/cli_idm.h"
#include "idm/idm.h"
#include "idm/idm_ota.h"
#include "idm/idm_roaming.h"
#include "js/js.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>
#include <time.h>

#define DEFAULT_NS_KEK "bootstrap-ns"
#define DEFAULT_AS_KEK "idm-as"

int cli_idm_open(const char *prog, bool with_token, idm_core **out)
{
    *out = NULL;
    const char *dir = cli_deploy_dir(prog);
    if (dir == NULL)
        return CLI_EXIT_USAGE;
    char err[IDM_ERR_MAX];
    idm_open_opts o = {.with_token = with_token};
    idm_status st = idm_open(dir, &o, out, err);
    if (st != IDM_OK) {
        cli_error(prog, "%s", err[0] != '\0' ? err : idm_strerror(st));
        return CLI_EXIT_FAIL;
    }
    return CLI_EXIT_OK;
}

static int import(int argc, char **argv)
{
    static const char prog[] = "ferry idm import";
    static const cli_opt_spec specs[] = {
        {"net-id", "HEX6", "HomeNetID of the bootstrap devices (default 000000)"},
        {"ns-kek-label", "L", "NSKEKLabel of the bootstrap devices (default " DEFAULT_NS_KEK ")"},
        {"as-kek-label", "L", "ASKEKLabel of the bootstrap devices (default " DEFAULT_AS_KEK ")"},
        {"as-id", "ID", "ASID allowed to fetch AppSKeys (default none)"},
        {"operators", "N,N|*", "onboarded operators (NetIDs) that may activate these SEs (default *: all)"},
        {"maker", "TENANT", "the maker tenant whose batch this is: it may read and act on these SEs only"},
    };
    char *v[6], *pos[1];
    size_t npos = 0;
    switch (cli_opts_parse(prog, specs, 6, argc, argv, v, pos, 1, &npos)) {
    case CLI_PARSE_HELP:
        cli_opts_usage(stdout, "ferry -d DIR idm import BATCH [options]", specs, 6);
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
    char ops[STORE_IDM_OPERATORS_MAX + 1], oerr[IDM_ERR_MAX];
    if (idm_net_id_list_canon(v[4] != NULL ? v[4] : "*", true, JS_SE_OPERATORS_MAX, ops, sizeof ops, oerr) != IDM_OK ||
        ops[0] == '\0') {
        cli_error(prog, "--operators: %s", oerr[0] != '\0' ? oerr : "expected * or NetIDs separated by commas");
        return CLI_EXIT_USAGE;
    }
    idm_import_opts o = {
        .home_net_id = (uint32_t)net_id,
        .ns_kek_label = v[1] != NULL ? v[1] : DEFAULT_NS_KEK,
        .as_kek_label = v[2] != NULL ? v[2] : DEFAULT_AS_KEK,
        .as_id = v[3] != NULL ? v[3] : "",
        .actor = "cli",
        .operators = ops,
        .maker = v[5],
    };
    /* the batch carries owner tokens: stdio's buffer is ours and wiped */
    cli_secret_file *sf = malloc(sizeof *sf);
    FILE *in = sf != NULL ? cli_secret_fopen(pos[0], sf) : NULL;
    if (in == NULL) {
        free(sf);
        cli_error(prog, "%s: cannot open", pos[0]);
        return CLI_EXIT_FAIL;
    }
    idm_core *c = NULL;
    int rc = cli_idm_open(prog, true, &c);
    if (rc != CLI_EXIT_OK) {
        cli_secret_fclose(sf);
        free(sf);
        return rc;
    }
    idm_import_summary sum;
    char err[IDM_ERR_MAX];
    const js_config *jc = idm_core_js_config(c);
    o.join_euis = jc->join_euis;
    o.n_join_euis = jc->n_join_euis;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    idm_status st = idm_import_batch(idm_core_token(c), idm_core_store(c), in, &o, &sum, err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    cli_secret_fclose(sf);
    free(sf);
    idm_close(&c);
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
    e |= cli_json_set_str(out, "operators", ops);
    e |= cli_json_set_str(out, "maker", v[5] != NULL ? v[5] : "");
    e |= json_object_set_new(out, "seconds", json_real(secs));
    return cli_json_emit(prog, out, e);
}

/* The operator's view of SE dev_eui as a new object in *out (the fields of
 * `idm show`); STORE_ERR_NOT_FOUND when the IDM has no such SE. */
static store_status se_view(idm_core *c, uint64_t dev_eui, json_t **out)
{
    *out = NULL;
    store *db = idm_core_store(c);
    store_idm_se se;
    store_idm_claim cl;
    uint64_t pending = 0, queued = 0;
    store_status ss = store_idm_se_get(db, dev_eui, &se);
    if (ss != STORE_OK)
        return ss;
    bool have_claim = store_idm_claim_get(db, dev_eui, &cl) == STORE_OK;
    if (store_idm_cmd_count(db, dev_eui, STORE_IDM_CMD_SENDING, &pending) != STORE_OK ||
        store_idm_cmd_count(db, dev_eui, STORE_IDM_CMD_QUEUED, &queued) != STORE_OK)
        pending = queued = 0;
    json_t *o = json_object();
    int e = cli_json_set_be(o, "DevEUI", se.dev_eui, 16);
    e |= cli_json_set_be(o, "JoinEUI", se.join_eui, 16);
    e |= cli_json_set_be(o, "SerialNumber", se.serial, 16);
    e |= cli_json_set_str(o, "MACVersion", store_mac_version_name(se.mac_version));
    e |= cli_json_set_str(o, "State", idm_state_name(se.state));
    e |= cli_json_set_str(o, "Claim", store_idm_claim_state_name(have_claim ? cl.state : STORE_IDM_CLAIM_NONE));
    if (have_claim) {
        e |= cli_json_set_str(o, "Tenant", cl.tenant_id);
        e |= cli_json_set_str(o, "JoinServer", cl.js_id);
        e |= cli_json_set_bool(o, "Provisioned", cl.provisioned_at > 0);
        e |= cli_json_set_str(o, "Update", store_idm_op_name(cl.op));
        if (cl.prev_tenant_id[0] != '\0')
            e |= cli_json_set_str(o, "PreviousTenant", cl.prev_tenant_id);
    }
    e |= cli_json_set_uint(o, "PendingCommands", pending + queued);
    lw_secure_wipe(&se, sizeof se);
    if (o == NULL || e != 0) {
        json_decref(o);
        return STORE_ERR_NOMEM;
    }
    *out = o;
    return STORE_OK;
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
    idm_core *c = NULL;
    int rc = cli_idm_open(prog, false, &c);
    if (rc != CLI_EXIT_OK)
        return rc;
    json_t *out = NULL;
    store_status ss = se_view(c, dev_eui, &out);
    idm_close(&c);
    if (ss != STORE_OK) {
        cli_error(prog, "%016llX: %s", (unsigned long long)dev_eui, store_strerror(ss));
        return CLI_EXIT_FAIL;
    }
    return cli_json_emit(prog, out, 0);
}

/* `idm status DEVEUI... | --file F`: the view of `idm show` for many SEs
 * in one process, as {"SEs":[...],"Found":n,"Missing":n}; an SE the IDM
 * does not hold is {"DevEUI","Error"} in its place, and the exit status is
 * then 1. This is how a script (`ferry demo`) reads the IDM's state: it
 * never opens the IDM's database itself. */
static int status(int argc, char **argv)
{
    static const char prog[] = "ferry idm status";
    static const cli_opt_spec specs[] = {
        {"file", "F", "the DevEUIs, one per line (- for standard input; blank lines and # comments skipped)"}};
    char *v[1];
    char **pos = calloc((size_t)argc + 1, sizeof *pos);
    size_t npos = 0;
    if (pos == NULL)
        return CLI_EXIT_FAIL;
    switch (cli_opts_parse(prog, specs, 1, argc, argv, v, pos, (size_t)argc + 1, &npos)) {
    case CLI_PARSE_HELP:
        cli_opts_usage(stdout, "ferry -d DIR idm status DEVEUI... | --file F", specs, 1);
        free(pos);
        return CLI_EXIT_OK;
    case CLI_PARSE_ERROR:
        free(pos);
        return CLI_EXIT_USAGE;
    default:
        break;
    }
    if ((npos == 0) == (v[0] == NULL)) {
        cli_error(prog, "expected DevEUIs or --file F (not both)");
        free(pos);
        return CLI_EXIT_USAGE;
    }
    cli_dev_list fl;
    int rc = cli_dev_list_read(prog, pos, npos, v[0], &fl);
    free(pos);
    if (rc != CLI_EXIT_OK)
        return rc;
    idm_core *c = NULL;
    rc = cli_idm_open(prog, false, &c);
    json_t *list = json_array();
    uint64_t found = 0, missing = 0;
    for (size_t i = 0; rc == CLI_EXIT_OK && i < fl.n; i++) {
        uint64_t dev = fl.dev[i];
        json_t *o = NULL;
        store_status ss = se_view(c, dev, &o);
        if (ss == STORE_ERR_NOT_FOUND) {
            missing++;
            o = json_object();
            if (cli_json_set_be(o, "DevEUI", dev, 16) != 0 || cli_json_set_str(o, "Error", "no such secure element") != 0)
                ss = STORE_ERR_NOMEM;
            else
                ss = STORE_OK;
        } else if (ss == STORE_OK) {
            found++;
        }
        if (ss != STORE_OK || json_array_append_new(list, o) != 0) {
            cli_error(prog, "%016llX: %s", (unsigned long long)dev, store_strerror(ss));
            rc = CLI_EXIT_FAIL;
        }
    }
    idm_close(&c);
    cli_dev_list_free(&fl);
    if (rc != CLI_EXIT_OK) {
        json_decref(list);
        return rc;
    }
    json_t *out = json_object();
    int e = cli_json_set_obj(out, "SEs", list);
    e |= cli_json_set_uint(out, "Found", found);
    e |= cli_json_set_uint(out, "Missing", missing);
    rc = cli_json_emit(prog, out, e);
    if (rc == CLI_EXIT_OK && missing > 0) {
        cli_error(prog, "%llu of %llu secure elements unknown", (unsigned long long)missing,
                  (unsigned long long)(found + missing));
        rc = CLI_EXIT_FAIL;
    }
    return rc;
}

/* `idm config set KEY VALUE...` (idm_config_set) and `idm config show`. */
static int config(int argc, char **argv)
{
    static const char prog[] = "ferry idm config";
    static const char synopsis[] = "usage: ferry -d DIR idm config set KEY VALUE [KEY VALUE...] | show\n";
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(synopsis, stdout);
        return CLI_EXIT_OK;
    }
    const char *dir = cli_deploy_dir(prog);
    if (dir == NULL)
        return CLI_EXIT_USAGE;
    if (argc == 2 && strcmp(argv[1], "show") == 0) {
        idm_core *c = NULL;
        int rc = cli_idm_open(prog, false, &c);
        if (rc != CLI_EXIT_OK)
            return rc;
        const idm_config *cfg = idm_core_config(c);
        json_t *out = json_object();
        int e = cli_json_set_str(out, "listen", cfg->listen);
        e |= cli_json_set_bool(out, "ns_token", cfg->has_ns_token);
        e |= cli_json_set_str(out, "tls_cert", cfg->tls_cert);
        e |= cli_json_set_str(out, "tls_key", cfg->tls_key);
        e |= cli_json_set_uint(out, "delivery_deadline", cfg->policy.deadline_s);
        e |= cli_json_set_uint(out, "retry_base", cfg->policy.retry_base_s);
        e |= cli_json_set_uint(out, "retry_max", cfg->policy.retry_max_s);
        e |= cli_json_set_uint(out, "max_join_attempts", cfg->policy.max_join_attempts);
        e |= cli_json_set_uint(out, "poll", cfg->policy.poll_s);
        e |= cli_json_set_uint(out, "max_key_age", cfg->policy.max_key_age_s);
        e |= cli_json_set_uint(out, "redeliver_after", cfg->policy.redeliver_after_s);
        e |= cli_json_set_uint(out, "console_streams", cfg->console_streams);
        idm_close(&c);
        return cli_json_emit(prog, out, e);
    }
    if (argc < 4 || strcmp(argv[1], "set") != 0 || (argc - 2) % 2 != 0 || (argc - 2) / 2 > IDM_CONFIG_SET_MAX) {
        cli_error(prog, "expected set KEY VALUE [KEY VALUE...] (at most %d pairs) or show", IDM_CONFIG_SET_MAX);
        return CLI_EXIT_USAGE;
    }
    idm_config_setting set[IDM_CONFIG_SET_MAX];
    size_t n = (size_t)(argc - 2) / 2;
    for (size_t i = 0; i < n; i++)
        set[i] = (idm_config_setting){argv[2 + 2 * i], argv[3 + 2 * i]};
    char err[IDM_ERR_MAX];
    idm_status st = idm_config_set(dir, set, n, err);
    if (st != IDM_OK) {
        cli_error(prog, "%s%s", err[0] != '\0' ? err : idm_strerror(st), "; idm.conf unchanged");
        return st == IDM_ERR_ARGUMENT ? CLI_EXIT_USAGE : CLI_EXIT_FAIL;
    }
    json_t *out = json_object();
    int e = 0;
    for (size_t i = 0; i < n; i++)
        e |= cli_json_set_str(out, set[i].key, set[i].value);
    return cli_json_emit(prog, out, e);
}

static int audit_verify(void)
{
    static const char prog[] = "ferry idm audit verify";
    idm_core *c = NULL;
    int rc = cli_idm_open(prog, false, &c);
    if (rc != CLI_EXIT_OK)
        return rc;
    store_idm_audit_report rep;
    store_status ss = store_idm_audit_verify(idm_core_store(c), &rep);
    idm_close(&c);
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

/* ---------------------------------------------------------------- tenants, claims, delivery */

/* Writes text and a newline to a new file, 0600; refuses to overwrite. */
static int write_secret_file(const char *prog, const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        cli_error(prog, "%s: %s", path, errno == EEXIST ? "exists already; refusing to overwrite it" : strerror(errno));
        return CLI_EXIT_FAIL;
    }
    size_t n = strlen(text);
    bool ok = write(fd, text, n) == (ssize_t)n && write(fd, "\n", 1) == 1 && fsync(fd) == 0;
    close(fd);
    if (!ok) {
        cli_error(prog, "%s: write failed", path);
        unlink(path);
        return CLI_EXIT_FAIL;
    }
    return CLI_EXIT_OK;
}

/* Reads the first line of a file into out[cap]; the caller wipes it. */
static int read_secret_file(const char *prog, const char *path, char *out, size_t cap)
{
    cli_secret_file sf;
    FILE *f = cli_secret_fopen(path, &sf);
    if (f == NULL) {
        cli_error(prog, "%s: cannot open", path);
        return CLI_EXIT_FAIL;
    }
    bool ok = fgets(out, (int)cap, f) != NULL;
    cli_secret_fclose(&sf);
    if (!ok) {
        cli_error(prog, "%s: empty", path);
        return CLI_EXIT_FAIL;
    }
    out[strcspn(out, "\r\n")] = '\0';
    return CLI_EXIT_OK;
}

int fail_idm(const char *prog, idm_status st, const char *err)
{
    cli_error(prog, "%s", err != NULL && err[0] != '\0' ? err : idm_strerror(st));
    return CLI_EXIT_FAIL;
}

static int parse_dev(const char *prog, size_t npos, char **pos, uint64_t *dev)
{
    if (npos != 1) {
        cli_error(prog, "expected one DevEUI");
        return CLI_EXIT_USAGE;
    }
    return cli_parse_hex_uint(prog, "DEVEUI", pos[0], 16, "DevEUI", dev);
}

#define PARSE(prog, specs, nspecs, synopsis, v, pos, maxpos, npos)                                                \
    switch (cli_opts_parse(prog, specs, nspecs, argc, argv, v, pos, maxpos, &npos)) {                           \
    case CLI_PARSE_HELP:                                                                                       \
        cli_opts_usage(stdout, synopsis, specs, nspecs);                                                        \
        return CLI_EXIT_OK;                                                                                    \
    case CLI_PARSE_ERROR:                                                                                      \
        return CLI_EXIT_USAGE;                                                                                 \
    default:                                                                                                   \
        break;                                                                                                 \
    }

static int idm_init(int argc, char **argv)
{
    static const char prog[] = "ferry idm init";
    static const cli_opt_spec specs[] = {
        {"listen", "A:P", "idm serve's address (default 127.0.0.1:4720)"},
        {"ns-token-out", "FILE", "new file (0600) for the bootstrap NS's bearer token (POST /uplink)"},
    };
    char *v[2], *pos[1];
    size_t npos = 0;
    PARSE(prog, specs, 2, "ferry -d DIR idm init --ns-token-out FILE [--listen A:P]", v, pos, 0, npos);
    if (v[1] == NULL) {
        cli_error(prog, "--ns-token-out FILE is required");
        return CLI_EXIT_USAGE;
    }
    const char *dir = cli_deploy_dir(prog);
    if (dir == NULL)
        return CLI_EXIT_USAGE;
    char tok[IDM_TENANT_TOKEN_HEX + 1], err[IDM_ERR_MAX];
    if (access(v[1], F_OK) == 0) {
        cli_error(prog, "%s: exists already; refusing to overwrite it", v[1]);
        return CLI_EXIT_FAIL;
    }
    idm_status st = idm_config_init(dir, v[0], tok, err);
    if (st != IDM_OK)
        return fail_idm(prog, st, err);
    int rc = write_secret_file(prog, v[1], tok);
    lw_secure_wipe(tok, sizeof tok);
    if (rc != CLI_EXIT_OK)
        return rc;
    json_t *out = json_object();
    int e = cli_json_set_str(out, "listen", v[0] != NULL ? v[0] : "127.0.0.1:4720");
    e |= cli_json_set_str(out, "ns_token_file", v[1]);
    return cli_json_emit(prog, out, e);
}

static int tenant(int argc, char **argv)
{
    static const char prog[] = "ferry idm tenant";
    if (argc >= 2 && strcmp(argv[1], "list") == 0) {
        idm_core *c = NULL;
        int rc = cli_idm_open(prog, false, &c);
        if (rc != CLI_EXIT_OK)
            return rc;
        json_t *arr = json_array();
        store_idm_tenant *page = calloc(100, sizeof *page);
        char after[STORE_IDM_ID_MAX + 1] = "";
        size_t n = 0;
        store_status ss = page == NULL ? STORE_ERR_NOMEM : STORE_OK;
        do {
            if (ss == STORE_OK)
                ss = store_idm_tenant_list(idm_core_store(c), after, page, 100, &n);
            for (size_t i = 0; ss == STORE_OK && i < n; i++) {
                json_t *o = json_object();
                (void)cli_json_set_str(o, "id", page[i].id);
                (void)cli_json_set_str(o, "kind", store_idm_tenant_kind_name(page[i].kind));
                (void)cli_json_set_str(o, "name", page[i].name);
                json_array_append_new(arr, o);
                memcpy(after, page[i].id, sizeof after);
            }
        } while (ss == STORE_OK && n == 100);
        free(page);
        idm_close(&c);
        if (ss != STORE_OK) {
            json_decref(arr);
            cli_error(prog, "database: %s", store_strerror(ss));
            return CLI_EXIT_FAIL;
        }
        json_t *out = json_object();
        int e = json_object_set_new(out, "tenants", arr);
        return cli_json_emit(prog, out, e);
    }
    if (argc < 2 || strcmp(argv[1], "add") != 0) {
        cli_error(prog, "expected add or list");
        return CLI_EXIT_USAGE;
    }
    argc--, argv++;
    static const cli_opt_spec specs[] = {
        {"kind", "K", "maker or customer"},
        {"name", "N", "display name (default: the id)"},
        {"token-out", "FILE", "new file (0600) that receives the tenant's bearer token"},
    };
    char *v[3], *pos[1];
    size_t npos = 0;
    PARSE(prog, specs, 3, "ferry -d DIR idm tenant add ID --kind maker|customer --token-out FILE [--name N]", v, pos,
          1, npos);
    if (npos != 1 || v[0] == NULL || v[2] == NULL) {
        cli_error(prog, "expected add ID --kind K --token-out FILE");
        return CLI_EXIT_USAGE;
    }
    if (access(v[2], F_OK) == 0) {
        cli_error(prog, "%s: exists already; refusing to overwrite it", v[2]);
        return CLI_EXIT_FAIL;
    }
    idm_core *c = NULL;
    int rc = cli_idm_open(prog, false, &c);
    if (rc != CLI_EXIT_OK)
        return rc;
    char tok[IDM_TENANT_TOKEN_HEX + 1], err[IDM_ERR_MAX];
    idm_status st = idm_tenant_add(idm_core_store(c), pos[0], v[0], v[1] != NULL ? v[1] : pos[0], "cli", tok, err);
    idm_close(&c);
    if (st != IDM_OK)
        return fail_idm(prog, st, err);
    rc = write_secret_file(prog, v[2], tok);
    lw_secure_wipe(tok, sizeof tok);
    if (rc != CLI_EXIT_OK)
        return rc;
    json_t *out = json_object();
    int e = cli_json_set_str(out, "id", pos[0]);
    e |= cli_json_set_str(out, "kind", v[0]);
    e |= cli_json_set_str(out, "token_file", v[2]);
    return cli_json_emit(prog, out, e);
}

/* A small file that is not secret (a CA bundle), whole, NUL-terminated, of
 * fewer than `max` bytes; NULL (said) when it cannot be read or is larger. */
static char *read_text_file(const char *prog, const char *path, size_t max)
{
    FILE *f = fopen(path, "rb");
    char *b = f != NULL ? malloc(max + 1) : NULL;
    size_t n = b != NULL ? fread(b, 1, max + 1, f) : 0;
    bool whole = b != NULL && !ferror(f) && n < max && memchr(b, '\0', n) == NULL;
    if (f != NULL)
        fclose(f);
    if (!whole) {
        cli_error(prog, "%s: %s", path, f == NULL ? strerror(errno) : n >= max ? "too large" : "cannot be read as text");
        free(b);
        return NULL;
    }
    b[n] = '\0';
    return b;
}

static int js_add(int argc, char **argv)
{
    static const char prog[] = "ferry idm js add";
    if (argc < 2 || strcmp(argv[1], "add") != 0) {
        cli_error(prog, "expected add");
        return CLI_EXIT_USAGE;
    }
    argc--, argv++;
    static const cli_opt_spec specs[] = {
        {"tenant", "T", "the customer tenant owning the Join Server"},
        {"url", "URL", "its admin API base URL (http://127.0.0.1:4712)"},
        {"admin-token-file", "F", "its DIR/admin.token (read once, kept encrypted under a token key)"},
        {"join-eui", "E", "its JoinEUI"},
        {"net-id", "HEX6", "HomeNetID of the devices provisioned there"},
        {"kek-label", "L", "KEK shared with it (imported into this token with `ferry kek import`)"},
        {"ns-kek-label", "L", "NSKEKLabel of the devices provisioned there (optional)"},
        {"as-kek-label", "L", "ASKEKLabel of the devices provisioned there: its AS gets the AppSKey (optional)"},
        {"allowed-net-ids", "N,N", "networks its devices may also join through (AllowedNetIDs; default: any)"},
        {"ca-file", "F", "PEM CA(s) its https:// admin API is verified against (a private CA; default: the system's)"},
    };
    char *v[10], *pos[1];
    size_t npos = 0;
    PARSE(prog, specs, 10,
          "ferry -d DIR idm js add ID --tenant T --url URL --admin-token-file F --join-eui E --net-id HEX6 "
          "--kek-label L [--ns-kek-label L] [--as-kek-label L] [--allowed-net-ids N,N] [--ca-file F]",
          v, pos, 1, npos);
    if (npos != 1 || v[0] == NULL || v[1] == NULL || v[2] == NULL || v[3] == NULL || v[4] == NULL || v[5] == NULL) {
        cli_error(prog, "expected ID and --tenant, --url, --admin-token-file, --join-eui, --net-id, --kek-label");
        return CLI_EXIT_USAGE;
    }
    uint64_t join_eui, net_id;
    if (cli_parse_hex_uint(prog, "--join-eui", v[3], 16, "JoinEUI", &join_eui) != CLI_EXIT_OK ||
        cli_parse_hex_uint(prog, "--net-id", v[4], 6, "NetID", &net_id) != CLI_EXIT_OK)
        return CLI_EXIT_USAGE;
    char *ca = NULL;
    if (v[9] != NULL && (ca = read_text_file(prog, v[9], STORE_IDM_CA_MAX)) == NULL)
        return CLI_EXIT_FAIL;
    char tok[STORE_IDM_TOKEN_CT_MAX];
    if (read_secret_file(prog, v[2], tok, sizeof tok) != CLI_EXIT_OK) {
        free(ca);
        return CLI_EXIT_FAIL;
    }
    idm_core *c = NULL;
    int rc = cli_idm_open(prog, true, &c);
    if (rc != CLI_EXIT_OK) {
        lw_secure_wipe(tok, sizeof tok);
        free(ca);
        return rc;
    }
    idm_js_opts o = {pos[0], v[0], v[1], tok, join_eui, (uint32_t)net_id, v[5], v[6], v[7], "cli", v[8], ca};
    char err[IDM_ERR_MAX];
    idm_status st = idm_js_add(idm_core_session(c), idm_core_store(c), &o, err);
    lw_secure_wipe(tok, sizeof tok);
    free(ca);
    idm_close(&c);
    if (st != IDM_OK)
        return fail_idm(prog, st, err);
    json_t *out = json_object();
    int e = cli_json_set_str(out, "id", pos[0]);
    e |= cli_json_set_str(out, "tenant", v[0]);
    e |= cli_json_set_str(out, "url", v[1]);
    e |= cli_json_set_be(out, "JoinEUI", join_eui, 16);
    e |= cli_json_set_str(out, "kek_label", v[5]);
    e |= cli_json_set_bool(out, "private_ca", v[9] != NULL);
    return cli_json_emit(prog, out, e);
}

/* `idm claim --file F --tenant ID`: the lines' claims in batches of
 * IDM_CLAIM_BATCH_MAX, each batch one transaction (idm_claim_many), each
 * line its own result and audit entry, so a bad line stops nothing. Prints
 * a result per line, in the file's order, and the counts, as POST
 * /api/v1/claims answers; exit 1 when any claim failed. Blank lines and
 * lines starting with # are skipped. The lines, the batch's tokens and
 * stdio's buffer of the file hold owner tokens: all wiped. */
typedef struct claim_pending {
    idm_claim_item item[IDM_CLAIM_BATCH_MAX];
    char tok[IDM_CLAIM_BATCH_MAX][2 * IDM_OWNER_TOKEN_LEN + 1];
    json_t *res[IDM_CLAIM_BATCH_MAX];    /* its line's result object, already in the results array */
    size_t n;
} claim_pending;

static int claim_flush(idm_core *c, const char *tenant, claim_pending *p, uint64_t *claimed, uint64_t *failed)
{
    if (p->n == 0)
        return 0;
    idm_status st = idm_claim_many(idm_core_store(c), tenant, "cli", p->item, p->n);
    int e = 0;
    for (size_t i = 0; i < p->n; i++) {
        idm_claim_item *it = &p->item[i];
        idm_status r = st == IDM_OK ? it->result : st;
        if (r == IDM_OK) {
            (*claimed)++;
            e |= cli_json_set_str(p->res[i], "Claim", "claimed");
            e |= cli_json_set_bool(p->res[i], "Already", it->already);
        } else {
            (*failed)++;
            e |= cli_json_set_str(p->res[i], "Error", st == IDM_OK && it->err[0] != '\0' ? it->err : idm_strerror(r));
        }
    }
    lw_secure_wipe(p->tok, sizeof p->tok);
    p->n = 0;
    return e;
}

static int claim_file(const char *prog, const char *path, const char *tenant)
{
    FILE *in = fopen(path, "r");
    if (in == NULL) {
        cli_error(prog, "%s: cannot open", path);
        return CLI_EXIT_FAIL;
    }
    char iobuf[4096];
    setvbuf(in, iobuf, _IOFBF, sizeof iobuf);
    idm_core *c = NULL;
    claim_pending *p = calloc(1, sizeof *p);
    int rc = p == NULL ? CLI_EXIT_FAIL : cli_idm_open(prog, false, &c);
    if (rc != CLI_EXIT_OK) {
        fclose(in);
        lw_secure_wipe(iobuf, sizeof iobuf);
        free(p);
        return rc;
    }
    json_t *results = json_array();
    int e = results == NULL ? -1 : 0;
    uint64_t lineno = 0, claimed = 0, failed = 0;
    char line[256];
    while (e == 0 && fgets(line, sizeof line, in) != NULL) {
        lineno++;
        size_t len = strlen(line);
        bool too_long = false;
        if (len == sizeof line - 1 && line[len - 1] != '\n') { /* skip the rest of it */
            int ch = fgetc(in);
            too_long = ch != EOF && ch != '\n';
            while (ch != EOF && ch != '\n')
                ch = fgetc(in);
        }
        const char *s = line + strspn(line, " \t\r\n");
        if (!too_long && (*s == '\0' || *s == '#')) {
            lw_secure_wipe(line, sizeof line);
            continue;
        }
        uint64_t dev = 0;
        char err[IDM_ERR_MAX] = "";
        idm_status st = IDM_ERR_INPUT;
        if (too_long)
            snprintf(err, sizeof err, "longer than %zu characters", sizeof line - 1);
        else
            st = idm_claim_line_parse(line, &dev, p->tok[p->n], err);
        lw_secure_wipe(line, sizeof line);
        json_t *res = json_object();
        e |= res != NULL && json_array_append_new(results, res) == 0 ? 0 : -1;
        if (e != 0)
            break;
        e |= cli_json_set_uint(res, "Line", lineno);
        if (st != IDM_OK) {
            failed++;
            e |= cli_json_set_obj(res, "DevEUI", json_null());
            e |= cli_json_set_str(res, "Error", err[0] != '\0' ? err : idm_strerror(st));
            continue;
        }
        e |= cli_json_set_be(res, "DevEUI", dev, 16);
        p->item[p->n] = (idm_claim_item){.dev_eui = dev, .owner_token = p->tok[p->n]};
        p->res[p->n++] = res;
        if (p->n == IDM_CLAIM_BATCH_MAX)
            e |= claim_flush(c, tenant, p, &claimed, &failed);
    }
    e |= claim_flush(c, tenant, p, &claimed, &failed);
    lw_secure_wipe(p, sizeof *p);
    free(p);
    bool read_error = ferror(in) != 0;
    fclose(in);
    lw_secure_wipe(iobuf, sizeof iobuf);
    idm_close(&c);
    if (read_error || (e == 0 && claimed + failed == 0)) {
        json_decref(results);
        cli_error(prog, "%s: %s", path,
                  read_error ? "read error" : "no claims in it (lines of DEVEUI OWNERTOKEN, or QR payloads)");
        return CLI_EXIT_FAIL;
    }
    json_t *out = json_object();
    e |= cli_json_set_str(out, "Tenant", tenant);
    e |= cli_json_set_obj(out, "Results", results);
    e |= cli_json_set_uint(out, "Claimed", claimed);
    e |= cli_json_set_uint(out, "Failed", failed);
    rc = cli_json_emit(prog, out, e);
    if (rc == CLI_EXIT_OK && failed > 0) {
        cli_error(prog, "%llu of %llu claims failed", (unsigned long long)failed,
                  (unsigned long long)(claimed + failed));
        rc = CLI_EXIT_FAIL;
    }
    return rc;
}

static int claim(int argc, char **argv)
{
    static const char prog[] = "ferry idm claim";
    static const cli_opt_spec specs[] = {
        {"owner-token", "T", "the SE's owner token (32 hex digits, from its QR label)"},
        {"tenant", "ID", "the customer tenant claiming it"},
        {"file", "F", "claim many: one SE per line, DEVEUI OWNERTOKEN or its QR payload LW:D0:...:O<token>"},
    };
    char *v[3], *pos[1];
    size_t npos = 0;
    PARSE(prog, specs, 3, "ferry -d DIR idm claim DEVEUI --owner-token T --tenant ID | --file F --tenant ID", v, pos,
          1, npos);
    if (v[2] != NULL) {
        if (npos != 0 || v[0] != NULL || v[1] == NULL) {
            cli_error(prog, "--file F takes --tenant ID, and neither a DevEUI nor --owner-token");
            return CLI_EXIT_USAGE;
        }
        return claim_file(prog, v[2], v[1]);
    }
    uint64_t dev;
    int rc = parse_dev(prog, npos, pos, &dev);
    if (rc != CLI_EXIT_OK)
        return rc;
    if (v[0] == NULL || v[1] == NULL) {
        cli_error(prog, "--owner-token and --tenant are required");
        return CLI_EXIT_USAGE;
    }
    idm_core *c = NULL;
    if ((rc = cli_idm_open(prog, false, &c)) != CLI_EXIT_OK)
        return rc;
    char err[IDM_ERR_MAX];
    bool already = false;
    idm_status st = idm_claim(idm_core_store(c), dev, v[1], v[0], "cli", &already, err);
    idm_close(&c);
    if (st != IDM_OK)
        return fail_idm(prog, st, err);
    json_t *out = json_object();
    int e = cli_json_set_be(out, "DevEUI", dev, 16);
    e |= cli_json_set_str(out, "Claim", "claimed");
    e |= cli_json_set_str(out, "Tenant", v[1]);
    e |= cli_json_set_bool(out, "Already", already);
    return cli_json_emit(prog, out, e);
}

idm_status cli_idm_may(idm_core *c, const char *tenant_id, idm_action act, uint64_t dev_eui, int64_t seq,
                       char err[IDM_ERR_MAX])
{
    idm_actor a = {IDM_ACTOR_OPERATOR, ""};
    store_idm_tenant t;
    if (tenant_id != NULL) {
        store_status ss = store_idm_tenant_get(idm_core_store(c), tenant_id, &t);
        if (ss != STORE_OK) {
            snprintf(err, IDM_ERR_MAX, "tenant %.64s: %s", tenant_id,
                     ss == STORE_ERR_NOT_FOUND ? "unknown" : store_strerror(ss));
            return ss == STORE_ERR_NOT_FOUND ? IDM_ERR_NOT_FOUND : IDM_ERR_STORE;
        }
        a = idm_actor_of_tenant(&t);
    }
    const char *why = NULL;
    idm_status st = idm_core_check(c, &a, act, dev_eui, seq, &why);
    if (st != IDM_OK)
        snprintf(err, IDM_ERR_MAX, "%016llX: %s", (unsigned long long)dev_eui, why != NULL ? why : idm_strerror(st));
    return st;
}

static int claim_change(int argc, char **argv, idm_claim_op op, const char *prog, const char *result)
{
    static const cli_opt_spec specs[] = {{"tenant", "ID", "the tenant holding the claim (release)"}};
    char *v[1], *pos[1];
    size_t npos = 0;
    PARSE(prog, specs, 1, "ferry -d DIR idm release|refuse|lock|unlock DEVEUI [--tenant ID]", v, pos, 1, npos);
    uint64_t dev;
    int rc = parse_dev(prog, npos, pos, &dev);
    if (rc != CLI_EXIT_OK)
        return rc;
    if (op == IDM_CLAIM_RELEASE && v[0] == NULL) {
        cli_error(prog, "--tenant is required");
        return CLI_EXIT_USAGE;
    }
    idm_core *c = NULL;
    if ((rc = cli_idm_open(prog, false, &c)) != CLI_EXIT_OK)
        return rc;
    char err[IDM_ERR_MAX];
    /* the holder releases; the operator refuses, locks, unlocks */
    idm_status st = op == IDM_CLAIM_RELEASE ? cli_idm_may(c, v[0], IDM_ACT_RELEASE, dev, 0, err)
                                            : cli_idm_may(c, NULL, IDM_ACT_MODERATE, dev, 0, err);
    if (st == IDM_OK)
        st = idm_claim_change(idm_core_store(c), dev, op, v[0], "cli", err);
    idm_close(&c);
    if (st != IDM_OK)
        return fail_idm(prog, st, err);
    json_t *out = json_object();
    int e = cli_json_set_be(out, "DevEUI", dev, 16);
    e |= cli_json_set_str(out, "Claim", result);
    return cli_json_emit(prog, out, e);
}

/* Provisions now when the SE's state allows; otherwise says it waits. */
static int provision_now(const char *prog, idm_core *c, uint64_t dev, json_t *out)
{
    char err[IDM_ERR_MAX];
    idm_status st = idm_provision(idm_core_session(c), idm_core_store(c), dev, idm_core_policy(c), "cli", err);
    if (st == IDM_OK)
        return cli_json_set_str(out, "Profile", "queued") != 0 ? CLI_EXIT_FAIL : CLI_EXIT_OK;
    if (st == IDM_ERR_ILLEGAL) /* not bootstrapped yet: idm serve provisions it when it is */
        return cli_json_set_str(out, "Profile", "waiting for the bootstrap join") != 0 ? CLI_EXIT_FAIL : CLI_EXIT_OK;
    if (st == IDM_ERR_EXISTS)
        return cli_json_set_str(out, "Profile", "queued already") != 0 ? CLI_EXIT_FAIL : CLI_EXIT_OK;
    json_decref(out);
    return fail_idm(prog, st, err);
}

static int assign(int argc, char **argv)
{
    static const char prog[] = "ferry idm assign";
    static const cli_opt_spec specs[] = {
        {"tenant", "ID", "act as this tenant (refused unless it holds the SE)"},
        {"js", "ID", "the tenant's Join Server (default: its only one)"},
    };
    char *v[2], *pos[1];
    size_t npos = 0;
    PARSE(prog, specs, 2, "ferry -d DIR idm assign DEVEUI [--tenant ID] [--js ID]", v, pos, 1, npos);
    uint64_t dev;
    int rc = parse_dev(prog, npos, pos, &dev);
    if (rc != CLI_EXIT_OK)
        return rc;
    idm_core *c = NULL;
    if ((rc = cli_idm_open(prog, true, &c)) != CLI_EXIT_OK)
        return rc;
    char err[IDM_ERR_MAX];
    idm_status st = cli_idm_may(c, v[0], IDM_ACT_ASSIGN, dev, 0, err);
    if (st == IDM_OK)
        st = idm_assign(idm_core_store(c), dev, v[0], v[1], "cli", err);
    if (st != IDM_OK) {
        idm_close(&c);
        return fail_idm(prog, st, err);
    }
    json_t *out = json_object();
    int e = cli_json_set_be(out, "DevEUI", dev, 16);
    store_idm_claim cl;
    if (store_idm_claim_get(idm_core_store(c), dev, &cl) == STORE_OK)
        e |= cli_json_set_str(out, "JoinServer", cl.js_id);
    rc = provision_now(prog, c, dev, out);
    idm_close(&c);
    return rc != CLI_EXIT_OK ? rc : cli_json_emit(prog, out, e);
}

static int provision(int argc, char **argv)
{
    static const char prog[] = "ferry idm provision";
    char *pos[1];
    size_t npos = 0;
    PARSE(prog, NULL, 0, "ferry -d DIR idm provision DEVEUI", NULL, pos, 1, npos);
    uint64_t dev;
    int rc = parse_dev(prog, npos, pos, &dev);
    if (rc != CLI_EXIT_OK)
        return rc;
    idm_core *c = NULL;
    if ((rc = cli_idm_open(prog, true, &c)) != CLI_EXIT_OK)
        return rc;
    char err[IDM_ERR_MAX];
    idm_status st = cli_idm_may(c, NULL, IDM_ACT_MODERATE, dev, 0, err);
    if (st != IDM_OK) {
        idm_close(&c);
        return fail_idm(prog, st, err);
    }
    json_t *out = json_object();
    int e = cli_json_set_be(out, "DevEUI", dev, 16);
    rc = provision_now(prog, c, dev, out);
    idm_close(&c);
    return rc != CLI_EXIT_OK ? rc : cli_json_emit(prog, out, e);
}

static int serve(int argc, char **argv)
{
    static const char prog[] = "ferry idm serve";
    static const cli_opt_spec specs[] = {{"listen", "A:P", "override idm.conf's listen"}};
    char *v[1], *pos[1];
    size_t npos = 0;
    PARSE(prog, specs, 1, "ferry -d DIR idm serve [--listen A:P]", v, pos, 0, npos);
    idm_core *c = NULL;
    int rc = cli_idm_open(prog, true, &c);
    if (rc != CLI_EXIT_OK)
        return rc;
    char err[IDM_ERR_MAX];
    idm_serve_opts o = {c, v[0], cli_server_stop_on_signals(), cli_server_reload_flag()};
    idm_status st = idm_serve(&o, err);
    idm_close(&c);
    return st == IDM_OK ? CLI_EXIT_OK : fail_idm(prog, st, err);
}

int cli_idm_main(int argc, char **argv)
{
    static const char usage[] =
        "usage: ferry -d DIR idm import BATCH [--net-id HEX6] [--ns-kek-label L] [--as-kek-label L] [--as-id ID]\n"
        "                                     [--operators N,N|*]\n"
        "       ferry -d DIR idm show DEVEUI\n"
        "       ferry -d DIR idm status DEVEUI... | --file F\n"
        "       ferry -d DIR idm audit verify\n"
        "       ferry -d DIR idm init --ns-token-out FILE [--listen A:P]\n"
        "       ferry -d DIR idm config set KEY VALUE [KEY VALUE...] | show\n"
        "       ferry -d DIR idm tenant add ID --kind maker|customer --token-out FILE [--name N]\n"
        "       ferry -d DIR idm tenant list\n"
        "       ferry -d DIR idm js add ID --tenant T --url URL --admin-token-file F --join-eui E --net-id HEX6\n"
        "                               --kek-label L [--ns-kek-label L] [--as-kek-label L] [--allowed-net-ids N,N]\n"
        "       ferry -d DIR idm claim DEVEUI --owner-token T --tenant ID\n"
        "       ferry -d DIR idm claim --file F --tenant ID     (F: DEVEUI OWNERTOKEN or a QR payload per line)\n"
        "       ferry -d DIR idm release DEVEUI --tenant ID\n"
        "       ferry -d DIR idm refuse|lock|unlock DEVEUI\n"
        "       ferry -d DIR idm assign DEVEUI [--tenant ID] [--js ID]\n"
        "       ferry -d DIR idm provision DEVEUI\n"
        "       ferry -d DIR idm serve [--listen A:P]\n"
        "       ferry -d DIR idm transfer DEVEUI...|--file F --to-tenant T [--js ID] [--tenant ID]\n"
        "       ferry -d DIR idm renew|return DEVEUI...|--file F [--tenant ID]\n"
        "       ferry -d DIR idm command DEVEUI...|--file F --payload HEX [--tenant ID]\n"
        "       ferry -d DIR idm command-show DEVEUI SEQ\n"
        "       ferry -d DIR idm retire DEVEUI\n";
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    }
    const char *cmd = argv[1];
    argc--, argv++;
    if (strcmp(cmd, "import") == 0)
        return import(argc, argv);
    if (strcmp(cmd, "show") == 0)
        return show(argc, argv);
    if (strcmp(cmd, "status") == 0)
        return status(argc, argv);
    if (strcmp(cmd, "config") == 0)
        return config(argc, argv);
    if (strcmp(cmd, "audit") == 0 && argc == 2 && strcmp(argv[1], "verify") == 0)
        return audit_verify();
    if (strcmp(cmd, "init") == 0)
        return idm_init(argc, argv);
    if (strcmp(cmd, "tenant") == 0)
        return tenant(argc, argv);
    if (strcmp(cmd, "js") == 0)
        return js_add(argc, argv);
    if (strcmp(cmd, "claim") == 0)
        return claim(argc, argv);
    if (strcmp(cmd, "release") == 0)
        return claim_change(argc, argv, IDM_CLAIM_RELEASE, "ferry idm release", "released");
    if (strcmp(cmd, "refuse") == 0)
        return claim_change(argc, argv, IDM_CLAIM_REFUSE, "ferry idm refuse", "refused");
    if (strcmp(cmd, "lock") == 0)
        return claim_change(argc, argv, IDM_CLAIM_LOCK, "ferry idm lock", "locked");
    if (strcmp(cmd, "unlock") == 0)
        return claim_change(argc, argv, IDM_CLAIM_UNLOCK, "ferry idm unlock", "unlocked");
    if (strcmp(cmd, "assign") == 0)
        return assign(argc, argv);
    if (strcmp(cmd, "provision") == 0)
        return provision(argc, argv);
    if (strcmp(cmd, "serve") == 0)
        return serve(argc, argv);
    int rc = cli_idm_ops_main(cmd, argc, argv);
    if (rc >= 0)
        return rc;
    cli_error("ferry idm", "unknown subcommand (see ferry idm --help)");
    return CLI_EXIT_USAGE;
}

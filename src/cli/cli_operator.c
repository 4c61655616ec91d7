/*
 * cli_operator.c - network operators of the activation service
 * (docs/operators.md), on the IDM deployment's database:
 *
 *   ferry -d DIR operator add NETID [--kek-label L] [--name N] [--nsid EUI]
 *                               [--token-out FILE] [--client-ca FILE] [--reach direct|hub]
 *                               [--answer-url URL [--answer-token-file FILE]]
 *   ferry -d DIR operator list
 *   ferry -d DIR operator show NETID
 *   ferry -d DIR operator suspend NETID | resume NETID | remove NETID
 *
 * The same as /api/v1/operators of the Join Server's admin API; `serve`
 * sees every change at the operator's next request, no restart. A bearer
 * token is made here and written once to --token-out (a new 0600 file);
 * only its SHA-256 is kept. Nothing printed holds a credential.
 */
#include "cli/cli.h"
#include "cli/cli_json.h"
#include "js/js.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage_text[] =
    "usage: ferry -d DIR operator add NETID [--kek-label L] [--name N] [--nsid EUI] [--token-out FILE]\n"
    "                                [--client-ca FILE] [--reach direct|hub] [--answer-url URL [--answer-token-file FILE]]\n"
    "       ferry -d DIR operator list\n"
    "       ferry -d DIR operator show NETID      (with its activations and refusals)\n"
    "       ferry -d DIR operator suspend NETID | resume NETID | remove NETID\n"
    "A direct operator needs --kek-label (a KEK imported with `ferry kek import`) and --token-out and/or\n"
    "--client-ca. docs/operators.md.\n";

typedef struct op_cli {
    js_config *cfg;
    store *db;
} op_cli;

static int op_open(const char *prog, op_cli *c)
{
    memset(c, 0, sizeof(*c));
    const char *dir = cli_deploy_dir(prog);
    if (dir == NULL)
        return CLI_EXIT_USAGE;
    c->cfg = calloc(1, sizeof(*c->cfg));
    if (c->cfg == NULL) {
        cli_error(prog, "out of memory");
        return CLI_EXIT_FAIL;
    }
    char err[JS_ERR_MAX];
    if (js_config_load(dir, c->cfg, err) != JS_OK) {
        cli_error(prog, "%s", err);
        free(c->cfg);
        return CLI_EXIT_FAIL;
    }
    store_status ss = store_open(c->cfg->database, &c->db);
    if (ss != STORE_OK) {
        cli_error(prog, "database: %s", store_strerror(ss));
        store_close(c->db);
        free(c->cfg);
        return CLI_EXIT_FAIL;
    }
    return CLI_EXIT_OK;
}

static void op_close(op_cli *c)
{
    store_close(c->db);
    free(c->cfg);
}

/* The operator's JSON (js_operator_json) on stdout. */
static int print_operator(const char *prog, store *db, uint32_t net_id, bool with_counts, const char *token_file)
{
    store_operator op;
    store_status ss = store_operator_get(db, net_id, &op);
    if (ss != STORE_OK) {
        cli_error(prog, "operator %06X: %s", (unsigned)net_id, ss == STORE_ERR_NOT_FOUND ? "not onboarded"
                                                                                        : store_strerror(ss));
        return CLI_EXIT_FAIL;
    }
    char text[4096];
    size_t n = 0;
    if (js_operator_json(db, &op, with_counts, text, sizeof(text), &n) != JS_OK) {
        cli_error(prog, "could not render operator %06X", (unsigned)net_id);
        return CLI_EXIT_FAIL;
    }
    json_error_t je;
    json_t *o = json_loadb(text, n, 0, &je);
    int e = o == NULL;
    if (o != NULL && token_file != NULL)
        e |= cli_json_set_str(o, "TokenFile", token_file);
    return cli_json_emit(prog, o, e);
}

/* A new 0600 file holding `text` and a newline; never overwrites. */
static int write_new(const char *prog, const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        cli_error(prog, "%s: %s", path, errno == EEXIST ? "exists; the token file is never overwritten"
                                                        : strerror(errno));
        return CLI_EXIT_FAIL;
    }
    size_t n = strlen(text);
    bool ok = write(fd, text, n) == (ssize_t)n && write(fd, "\n", 1) == 1 && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok) {
        cli_error(prog, "%s: write failed", path);
        unlink(path);
        return CLI_EXIT_FAIL;
    }
    return CLI_EXIT_OK;
}

/* The whole of a PEM file (at most JS_OPERATOR_CA_MAX bytes) into a new buffer. */
static char *read_pem(const char *prog, const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        cli_error(prog, "--client-ca %s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(JS_OPERATOR_CA_MAX + 2);
    size_t n = buf != NULL ? fread(buf, 1, JS_OPERATOR_CA_MAX + 1, f) : 0;
    bool err = ferror(f) != 0;
    fclose(f);
    if (buf == NULL || err || n == 0 || n > JS_OPERATOR_CA_MAX || memchr(buf, '\0', n) != NULL) {
        cli_error(prog, "--client-ca %s: %s", path,
                  n > JS_OPERATOR_CA_MAX ? "larger than 32 KiB" : "empty, unreadable or not text");
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

static int parse_net_id(const char *prog, const char *text, uint32_t *out)
{
    if (!js_net_id_parse(text, out)) {
        cli_error(prog, "NETID: expected 6 hex digits (a LoRaWAN NetID), got \"%s\"", text);
        return CLI_EXIT_USAGE;
    }
    return CLI_EXIT_OK;
}

static int op_add(const char *prog, int argc, char **argv)
{
    static const cli_opt_spec specs[] = {
        {"kek-label", "L", "the KEK its network session keys are wrapped under (required unless --reach hub)"},
        {"name", "N", "a name for people"},
        {"nsid", "EUI", "its NS-ID: SenderNSID of its BI 1.1 requests, HNSID when it is a home network"},
        {"token-out", "FILE", "new file (0600) that receives its bearer token"},
        {"client-ca", "FILE", "PEM CA bundle that issues its TLS client certificates"},
        {"reach", "direct|hub", "how it reaches the bootstrap Join Server (default direct)"},
        {"answer-url", "URL", "its answers are POSTed there, asynchronously (docs/join-server.md)"},
        {"answer-token-file", "FILE", "absolute path of the file (0600) holding the bearer token for --answer-url"},
    };
    enum { N_SPECS = sizeof specs / sizeof specs[0] };
    char *v[N_SPECS], *pos[1];
    size_t npos = 0;
    cli_parse_result pr = cli_opts_parse(prog, specs, N_SPECS, argc, argv, v, pos, 1, &npos); /* argv[0] is "add" */
    if (pr == CLI_PARSE_HELP) {
        cli_opts_usage(stdout, "ferry -d DIR operator add NETID [options]", specs, N_SPECS);
        return CLI_EXIT_OK;
    }
    if (pr != CLI_PARSED)
        return CLI_EXIT_USAGE;
    if (npos != 1) {
        cli_error(prog, "expected add NETID (see --help)");
        return CLI_EXIT_USAGE;
    }
    js_operator_opts o = {.name = v[1], .kek_label = v[0], .answer_url = v[6], .answer_token_file = v[7], .actor = "cli"};
    if (parse_net_id(prog, pos[0], &o.net_id) != CLI_EXIT_OK)
        return CLI_EXIT_USAGE;
    if (v[2] != NULL) {
        if (cli_parse_hex_uint(prog, "--nsid", v[2], 16, "an EUI-64", &o.nsid) != CLI_EXIT_OK)
            return CLI_EXIT_USAGE;
        o.has_nsid = true;
    }
    o.reach = STORE_OPERATOR_DIRECT;
    if (v[5] != NULL && store_operator_reach_parse(v[5], &o.reach) != STORE_OK) {
        cli_error(prog, "--reach: direct or hub");
        return CLI_EXIT_USAGE;
    }
    if (o.reach == STORE_OPERATOR_DIRECT && (v[0] == NULL || (v[3] == NULL && v[4] == NULL))) {
        cli_error(prog, "a direct operator needs --kek-label and a credential (--token-out and/or --client-ca)");
        return CLI_EXIT_USAGE;
    }
    char *pem = NULL;
    if (v[4] != NULL && (pem = read_pem(prog, v[4])) == NULL)
        return CLI_EXIT_FAIL;
    o.client_ca = pem;
    op_cli c;
    int rc = op_open(prog, &c);
    if (rc != CLI_EXIT_OK) {
        free(pem);
        return rc;
    }
    /* The token file first, so that a token is never kept that nobody
     * holds; removed again when the operator is refused. */
    char token[JS_TOKEN_HEX_LEN + 1];
    if (v[3] != NULL) {
        if (js_token_generate(token, o.token_sha256) != JS_OK) {
            cli_error(prog, "the random generator failed");
            rc = CLI_EXIT_FAIL;
        } else {
            o.has_token = true;
            rc = write_new(prog, v[3], token);
        }
        lw_secure_wipe(token, sizeof(token));
    }
    if (rc == CLI_EXIT_OK) {
        char err[JS_ERR_MAX];
        js_status st = js_operator_add(c.db, &o, err);
        if (st != JS_OK) {
            cli_error(prog, "%s; nothing was changed", err[0] != '\0' ? err : js_strerror(st));
            if (v[3] != NULL)
                unlink(v[3]);
            rc = st == JS_ERR_INPUT ? CLI_EXIT_USAGE : CLI_EXIT_FAIL;
        } else {
            rc = print_operator(prog, c.db, o.net_id, false, v[3]);
        }
    }
    lw_secure_wipe(o.token_sha256, sizeof(o.token_sha256));
    free(pem);
    op_close(&c);
    return rc;
}

static int op_list(const char *prog)
{
    op_cli c;
    int rc = op_open(prog, &c);
    if (rc != CLI_EXIT_OK)
        return rc;
    json_t *out = json_object(), *arr = json_array();
    int e = out == NULL || arr == NULL;
    store_operator page[32];
    uint32_t after = 0;
    bool first = true;
    while (e == 0) {
        size_t count = 0;
        if (store_operator_list(c.db, first ? NULL : &after, page, 32, &count) != STORE_OK) {
            cli_error(prog, "database: could not list the operators");
            e = -1;
            break;
        }
        first = false;
        for (size_t i = 0; i < count && e == 0; i++) {
            char text[1024];
            size_t n = 0;
            json_error_t je;
            json_t *item = js_operator_json(c.db, &page[i], false, text, sizeof(text), &n) == JS_OK
                               ? json_loadb(text, n, 0, &je)
                               : NULL;
            e |= item == NULL || json_array_append_new(arr, item) != 0;
        }
        if (count < 32)
            break;
        after = page[31].net_id;
    }
    e |= cli_json_set_obj(out, "Operators", arr);
    op_close(&c);
    return cli_json_emit(prog, out, e);
}

int cli_operator_main(int argc, char **argv)
{
    static const char prog[] = "ferry operator";
    const char *verb = argc > 1 ? argv[1] : "";
    if (strcmp(verb, "--help") == 0 || strcmp(verb, "-h") == 0 || argc < 2) {
        fputs(usage_text, argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    }
    if (strcmp(verb, "add") == 0)
        return op_add("ferry operator add", argc - 1, argv + 1);
    char *pos[2];
    size_t npos = 0;
    char *v[1];
    cli_parse_result pr = cli_opts_parse(prog, NULL, 0, argc, argv, v, pos, 2, &npos);
    if (pr == CLI_PARSE_HELP) {
        fputs(usage_text, stdout);
        return CLI_EXIT_OK;
    }
    if (pr != CLI_PARSED)
        return CLI_EXIT_USAGE;
    if (strcmp(verb, "list") == 0 && npos == 1)
        return op_list(prog);
    bool show = strcmp(verb, "show") == 0, suspend = strcmp(verb, "suspend") == 0;
    bool resume = strcmp(verb, "resume") == 0, drop = strcmp(verb, "remove") == 0;
    if (!(show || suspend || resume || drop) || npos != 2) {
        cli_error(prog, "expected add, list, show NETID, suspend NETID, resume NETID or remove NETID (see --help)");
        return CLI_EXIT_USAGE;
    }
    uint32_t net_id;
    if (parse_net_id(prog, pos[1], &net_id) != CLI_EXIT_OK)
        return CLI_EXIT_USAGE;
    op_cli c;
    int rc = op_open(prog, &c);
    if (rc != CLI_EXIT_OK)
        return rc;
    char err[JS_ERR_MAX];
    js_status st = JS_OK;
    if (suspend || resume)
        st = js_operator_set_suspended(c.db, net_id, suspend, "cli", err);
    else if (drop)
        st = js_operator_remove(c.db, net_id, "cli", err);
    if (st != JS_OK) {
        cli_error(prog, "%s", err[0] != '\0' ? err : js_strerror(st));
        rc = CLI_EXIT_FAIL;
    } else if (drop) {
        json_t *out = json_object();
        char id[7];
        snprintf(id, sizeof(id), "%06X", (unsigned)net_id);
        int e = cli_json_set_str(out, "NetID", id);
        e |= cli_json_set_bool(out, "Removed", true);
        rc = cli_json_emit(prog, out, e);
    } else {
        rc = print_operator(prog, c.db, net_id, show, NULL);
    }
    op_close(&c);
    return rc;
}

/*
 * cli_js.c - the Join Server's commands:
 *
 *   ferry init DIR --join-eui EUI [--listen ADDR:PORT] [--database LOC]
 *   ferry -d DIR kek import LABEL < hex       ferry -d DIR kek generate LABEL
 *   ferry -d DIR kek list
 *   ferry -d DIR device import FILE [--allow-clear-keys]
 *   ferry -d DIR device list | show DEVEUI | delete DEVEUI
 *   ferry -d DIR peer add ID [--token-out FILE] [--client-ca FILE] [--nsid EUI]
 *   ferry -d DIR serve [--listen ADDR:PORT]
 *
 * Nothing here prints a key, a blob or a token: a KEK is read from stdin and
 * wiped, device keys are translated inside the token, tokens go to files.
 */
#include "cli/cli.h"
#include "cli/cli_servers.h"
#include "cli/cli_json.h"
#include "cli/cli_secret.h"
#include "idm/idm_roaming.h"
#include "js/js.h"
#include "store/store_idm.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

static const char *deploy_dir;

void cli_set_deploy_dir(const char *dir)
{
    deploy_dir = dir;
}

const char *cli_deploy_dir(const char *prog)
{
    const char *d = deploy_dir != NULL ? deploy_dir : getenv("FERRY_DIR");
    if (d == NULL || d[0] == '\0')
        cli_error(prog, "no deployment: give -d DIR before the command (ferry -d DIR ...), or set FERRY_DIR");
    return d;
}

static int js_fail(const char *prog, js_status st, const char *err)
{
    cli_error(prog, "%s", err[0] != '\0' ? err : js_strerror(st));
    return st == JS_ERR_ARGUMENT ? CLI_EXIT_USAGE : CLI_EXIT_FAIL;
}

/* Opens the deployment and one worker for a CLI command. */
static int open_deploy(const char *prog, js_ctx **ctx, js_worker **w)
{
    const char *dir = cli_deploy_dir(prog);
    if (dir == NULL)
        return CLI_EXIT_USAGE;
    char err[JS_ERR_MAX];
    js_status st = js_open(dir, ctx, err);
    if (st != JS_OK)
        return js_fail(prog, st, err);
    st = js_worker_open(*ctx, w, err);
    if (st != JS_OK) {
        js_close(*ctx);
        return js_fail(prog, st, err);
    }
    return CLI_EXIT_OK;
}

static void close_deploy(js_ctx *ctx, js_worker *w)
{
    js_worker_close(w);
    js_close(ctx);
}

/* ---------------------------------------------------------------- init */

int cli_js_init_main(int argc, char **argv)
{
    static const char prog[] = "ferry init";
    static const cli_opt_spec specs[] = {
        {"join-eui", "EUI[/BITS][,...]", "the JoinEUIs served: one or more, each a JoinEUI (16 hex digits) or a "
                                         "prefix of BITS bits (required)"},
        {"listen", "ADDR:PORT", "listen address (default 127.0.0.1:4711)"},
        {"database", "LOC", "sqlite:PATH or postgresql://... (default sqlite:DIR/ferry.db)"},
    };
    char *v[3];
    char *pos[1];
    size_t npos = 0;
    cli_parse_result pr = cli_opts_parse(prog, specs, 3, argc, argv, v, pos, 1, &npos);
    if (pr == CLI_PARSE_HELP) {
        cli_opts_usage(stdout, "ferry init DIR --join-eui EUI[/BITS][,...] [options]", specs, 3);
        return CLI_EXIT_OK;
    }
    if (pr != CLI_PARSED)
        return CLI_EXIT_USAGE;
    if (npos != 1 || v[0] == NULL) {
        cli_error(prog, "expected DIR and --join-eui EUI (see --help)");
        return CLI_EXIT_USAGE;
    }
    js_init_opts o = {.listen = v[1], .database = v[2]};
    js_join_eui_range ranges[JS_JOIN_EUIS_MAX];
    char list[JS_JOIN_EUIS_MAX * JS_JOIN_EUI_TEXT_MAX], err[JS_ERR_MAX];
    if (strlen(v[0]) >= sizeof list) {
        cli_error(prog, "--join-eui: at most %d ranges", JS_JOIN_EUIS_MAX);
        return CLI_EXIT_USAGE;
    }
    strcpy(list, v[0]);
    for (char *save = NULL, *t = strtok_r(list, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
        if (o.n_join_euis == JS_JOIN_EUIS_MAX) {
            cli_error(prog, "--join-eui: at most %d ranges", JS_JOIN_EUIS_MAX);
            return CLI_EXIT_USAGE;
        }
        if (js_join_eui_range_parse(t, &ranges[o.n_join_euis], err) != JS_OK) {
            cli_error(prog, "--join-eui: %s", err);
            return CLI_EXIT_USAGE;
        }
        for (size_t i = 0; i < o.n_join_euis; i++)
            if (ranges[i].prefix == ranges[o.n_join_euis].prefix && ranges[i].bits == ranges[o.n_join_euis].bits) {
                cli_error(prog, "--join-eui: %s given twice", t);
                return CLI_EXIT_USAGE;
            }
        o.n_join_euis++;
    }
    if (o.n_join_euis == 0) {
        cli_error(prog, "--join-eui: at least one JoinEUI or prefix");
        return CLI_EXIT_USAGE;
    }
    o.join_euis = ranges;
    if (v[1] != NULL) {
        if (strchr(v[1], ':') == NULL) {
            cli_error(prog, "--listen: expected ADDR:PORT");
            return CLI_EXIT_USAGE;
        }
    }
    js_status st = js_deploy_init(pos[0], &o, err);
    if (st != JS_OK)
        return js_fail(prog, st, err);
    json_t *out = json_object();
    int e = cli_json_set_str(out, "Dir", pos[0]);
    json_t *arr = json_array();
    for (size_t i = 0; arr != NULL && i < o.n_join_euis; i++) {
        char t[JS_JOIN_EUI_TEXT_MAX];
        js_join_eui_range_text(&ranges[i], t);
        e |= json_array_append_new(arr, json_string(t));
    }
    e |= arr == NULL || json_object_set_new(out, "JoinEUIs", arr) != 0;
    if (o.n_join_euis == 1 && ranges[0].bits == 64) /* one JoinEUI: as before ranges */
        e |= cli_json_set_be(out, "JoinEUI", ranges[0].prefix, 16);
    e |= cli_json_set_str(out, "Config", JS_CONF_FILE);
    e |= cli_json_set_str(out, "AdminTokenFile", JS_ADMIN_TOKEN);
    return cli_json_emit(prog, out, e);
}

/* ---------------------------------------------------------------- kek */

static int kek_import(const char *prog, js_worker *w, const char *label)
{
    char line[160];
    if (cli_secret_line(line, sizeof line, NULL) != 0) {
        cli_error(prog, "expected the KEK as 32, 48 or 64 hex digits on stdin");
        return CLI_EXIT_USAGE;
    }
    char *hex = line;
    if (hex[0] == '0' && (hex[1] == 'x' || hex[1] == 'X'))
        hex += 2;
    size_t n = strlen(hex) / 2;
    uint8_t key[32];
    lw_status ls = (n == 16 || n == 24 || n == 32) ? lw_hex_decode(hex, strlen(hex), key, n) : LW_ERR_HEX;
    lw_secure_wipe(line, sizeof(line));
    if (ls != LW_OK) {
        LW_WIPE(key);
        cli_error(prog, "KEK on stdin: expected 32, 48 or 64 hex digits");
        return CLI_EXIT_USAGE;
    }
    char err[JS_ERR_MAX];
    js_status st = js_kek_import_clear(w, label, key, n, err);
    LW_WIPE(key);
    if (st != JS_OK)
        return js_fail(prog, st, err);
    json_t *out = json_object();
    int e = cli_json_set_str(out, "KEKLabel", label);
    e |= cli_json_set_uint(out, "Bits", n * 8);
    return cli_json_emit(prog, out, e);
}

int cli_js_kek_main(int argc, char **argv)
{
    static const char prog[] = "ferry kek";
    char *v[1];
    char *pos[2];
    size_t npos = 0;
    cli_parse_result pr = cli_opts_parse(prog, NULL, 0, argc, argv, v, pos, 2, &npos);
    if (pr == CLI_PARSE_HELP) {
        printf("usage: ferry -d DIR kek import LABEL < hex   (AES key on stdin: 32, 48 or 64 hex digits)\n"
               "       ferry -d DIR kek generate LABEL\n"
               "       ferry -d DIR kek list\n");
        return CLI_EXIT_OK;
    }
    if (pr != CLI_PARSED)
        return CLI_EXIT_USAGE;
    bool list = npos == 1 && strcmp(pos[0], "list") == 0;
    bool imp = npos == 2 && strcmp(pos[0], "import") == 0;
    bool gen = npos == 2 && strcmp(pos[0], "generate") == 0;
    if (!list && !imp && !gen) {
        cli_error(prog, "expected import LABEL, generate LABEL or list (see --help)");
        return CLI_EXIT_USAGE;
    }
    js_ctx *ctx = NULL;
    js_worker *w = NULL;
    int rc = open_deploy(prog, &ctx, &w);
    if (rc != CLI_EXIT_OK)
        return rc;
    if (imp) {
        rc = kek_import(prog, w, pos[1]);
    } else if (gen) {
        char err[JS_ERR_MAX];
        js_status st = js_kek_generate(w, pos[1], err);
        if (st != JS_OK) {
            rc = js_fail(prog, st, err);
        } else {
            json_t *out = json_object();
            int e = cli_json_set_str(out, "KEKLabel", pos[1]);
            e |= cli_json_set_uint(out, "Bits", 128);
            rc = cli_json_emit(prog, out, e);
        }
    } else {
        json_t *out = json_object();
        json_t *arr = json_array();
        int e = 0;
        store_kek page[32];
        char after[STORE_LABEL_MAX + 1] = "";
        for (;;) {
            size_t count = 0;
            store_status ss = store_kek_list(js_worker_store(w), after[0] != '\0' ? after : NULL, page, 32, &count);
            if (ss != STORE_OK) {
                e = -1;
                break;
            }
            for (size_t i = 0; i < count; i++)
                e |= json_array_append_new(arr, json_string(page[i].label));
            /* the cursor is copied before the page is wiped: wiped first, it
             * was "" and the first page came back for ever (32+ KEKs) */
            bool full = count == 32;
            if (full)
                memcpy(after, page[31].label, sizeof(after));
            lw_secure_wipe(page, sizeof(page[0]) * count);
            if (!full)
                break;
        }
        e |= cli_json_set_obj(out, "KEKs", arr);
        rc = cli_json_emit(prog, out, e);
    }
    close_deploy(ctx, w);
    return rc;
}

/* ---------------------------------------------------------------- device */

static int print_device(const char *prog, const store_device *d)
{
    char text[4096];
    size_t n = 0;
    if (js_device_json(d, text, sizeof(text), &n) != JS_OK) {
        cli_error(prog, "could not render the device");
        return CLI_EXIT_FAIL;
    }
    json_error_t je;
    json_t *o = json_loadb(text, n, 0, &je);
    return cli_json_emit(prog, o, o == NULL);
}

typedef struct import_job {
    const store_device *devs;
    size_t n;
    size_t failed_at;            /* the device whose insert failed */
} import_job;

/* Every device in one transaction: a kill at any point leaves all of them
 * or none, and the same import can simply be run again. */
static store_status import_txn(store *s, void *ctx)
{
    import_job *j = ctx;
    for (size_t i = 0; i < j->n; i++) {
        store_status ss = store_device_put(s, &j->devs[i], false);
        if (ss != STORE_OK) {
            j->failed_at = i;
            return ss;
        }
    }
    return STORE_OK;
}

static int device_import(const char *prog, js_worker *w, const char *path, bool allow_clear)
{
    /* the file may hold clear keys (--allow-clear-keys): stdio's buffer is
     * ours and wiped */
    cli_secret_file *sf = malloc(sizeof *sf);
    FILE *f = sf != NULL ? cli_secret_fopen(path, sf) : NULL;
    if (f == NULL) {
        cli_error(prog, "%s: %s", path, strerror(errno));
        free(sf);
        return CLI_EXIT_FAIL;
    }
    size_t cap = 16, n = 0;
    store_device *devs = malloc(cap * sizeof(*devs));
    char *line = NULL;
    size_t lcap = 0;
    ssize_t len;
    int lineno = 0, rc = CLI_EXIT_OK;
    size_t clear = 0;
    char err[JS_ERR_MAX];
    store *db = js_worker_store(w);
    while (rc == CLI_EXIT_OK && devs != NULL && (len = getline(&line, &lcap, f)) >= 0) {
        lineno++;
        size_t l = (size_t)len;
        while (l > 0 && (line[l - 1] == '\n' || line[l - 1] == '\r' || line[l - 1] == ' '))
            l--;
        if (l == 0)
            continue;
        if (n == cap) {
            store_device *nd = realloc(devs, 2 * cap * sizeof(*devs));
            if (nd == NULL) {
                rc = CLI_EXIT_FAIL;
                cli_error(prog, "out of memory");
                break;
            }
            devs = nd;
            cap *= 2;
        }
        bool was_clear = false;
        js_status st = js_device_translate(w, line, l, allow_clear, &devs[n], &was_clear, err);
        lw_secure_wipe(line, lcap);
        if (st != JS_OK) {
            cli_error(prog, "%s line %d: %s; nothing was imported", path, lineno, err);
            rc = CLI_EXIT_FAIL;
            break;
        }
        if (was_clear)
            clear++;
        store_device existing;
        if (store_device_get(db, devs[n].dev_eui, &existing) == STORE_OK) {
            cli_error(prog, "%s line %d: device %016llX exists already; nothing was imported", path, lineno,
                      (unsigned long long)devs[n].dev_eui);
            rc = CLI_EXIT_FAIL;
            break;
        }
        for (size_t i = 0; i < n; i++) {
            if (devs[i].dev_eui == devs[n].dev_eui) {
                cli_error(prog, "%s line %d: DevEUI %016llX appears twice; nothing was imported", path, lineno,
                          (unsigned long long)devs[n].dev_eui);
                rc = CLI_EXIT_FAIL;
            }
        }
        n++;
    }
    cli_secret_fclose(sf);
    free(sf);
    if (line != NULL) {
        lw_secure_wipe(line, lcap);
        free(line);
    }
    if (devs == NULL) {
        cli_error(prog, "out of memory");
        return CLI_EXIT_FAIL;
    }
    /* All lines are valid: insert them all in one transaction. */
    if (rc == CLI_EXIT_OK && n > 0) {
        import_job j = {devs, n, 0};
        store_status ss = store_idm_txn(db, import_txn, &j);
        if (ss != STORE_OK) {
            cli_error(prog, "device %016llX: %s; nothing was imported", (unsigned long long)devs[j.failed_at].dev_eui,
                      store_strerror(ss));
            rc = CLI_EXIT_FAIL;
        }
    }
    if (rc == CLI_EXIT_OK && clear > 0)
        fprintf(stderr, "%s: warning: %zu device(s) came with keys in clear; they are now wrapped inside the token, "
                        "but the file %s still holds them: destroy it\n", prog, clear, path);
    json_t *out = NULL;
    int e = 0;
    if (rc == CLI_EXIT_OK) {
        out = json_object();
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++) {
            char eui[17];
            snprintf(eui, sizeof(eui), "%016llX", (unsigned long long)devs[i].dev_eui);
            e |= json_array_append_new(arr, json_string(eui));
        }
        e |= cli_json_set_uint(out, "Imported", n);
        e |= cli_json_set_uint(out, "ClearKeys", clear);
        e |= cli_json_set_obj(out, "DevEUIs", arr);
    }
    lw_secure_wipe(devs, cap * sizeof(*devs));
    free(devs);
    if (rc != CLI_EXIT_OK)
        return rc;
    return cli_json_emit(prog, out, e);
}

int cli_js_device_main(int argc, char **argv)
{
    static const char prog[] = "ferry device";
    bool allow_clear = false;
    /* The one flag without a value: taken out before the option parser. */
    int k = 0;
    for (int i = 0; i < argc; i++) {
        if (i > 0 && strcmp(argv[i], "--allow-clear-keys") == 0)
            allow_clear = true;
        else
            argv[k++] = argv[i];
    }
    argc = k;
    char *v[1];
    char *pos[2];
    size_t npos = 0;
    cli_parse_result pr = cli_opts_parse(prog, NULL, 0, argc, argv, v, pos, 2, &npos);
    if (pr == CLI_PARSE_HELP) {
        printf("usage: ferry -d DIR device import FILE [--allow-clear-keys]   JSON lines (docs/backend-interfaces.md)\n"
               "       ferry -d DIR device list\n"
               "       ferry -d DIR device show DEVEUI\n"
               "       ferry -d DIR device delete DEVEUI\n");
        return CLI_EXIT_OK;
    }
    if (pr != CLI_PARSED)
        return CLI_EXIT_USAGE;
    const char *verb = npos > 0 ? pos[0] : "";
    bool ok = (strcmp(verb, "list") == 0 && npos == 1) ||
              ((strcmp(verb, "import") == 0 || strcmp(verb, "show") == 0 || strcmp(verb, "delete") == 0) && npos == 2);
    if (!ok) {
        cli_error(prog, "expected import FILE, list, show DEVEUI or delete DEVEUI (see --help)");
        return CLI_EXIT_USAGE;
    }
    if (allow_clear && strcmp(verb, "import") != 0) {
        cli_error(prog, "--allow-clear-keys goes with import only");
        return CLI_EXIT_USAGE;
    }
    uint64_t eui = 0;
    if ((strcmp(verb, "show") == 0 || strcmp(verb, "delete") == 0) &&
        cli_parse_hex_uint(prog, "DEVEUI", pos[1], 16, "a DevEUI", &eui) != CLI_EXIT_OK)
        return CLI_EXIT_USAGE;
    js_ctx *ctx = NULL;
    js_worker *w = NULL;
    int rc = open_deploy(prog, &ctx, &w);
    if (rc != CLI_EXIT_OK)
        return rc;
    store *db = js_worker_store(w);
    if (strcmp(verb, "import") == 0) {
        rc = device_import(prog, w, pos[1], allow_clear);
    } else if (strcmp(verb, "show") == 0) {
        store_device d;
        store_status ss = store_device_get(db, eui, &d);
        if (ss != STORE_OK) {
            cli_error(prog, "device %016llX: %s", (unsigned long long)eui, store_strerror(ss));
            rc = CLI_EXIT_FAIL;
        } else {
            rc = print_device(prog, &d);
        }
        lw_secure_wipe(&d, sizeof(d));
    } else if (strcmp(verb, "delete") == 0) {
        store_status ss = store_device_delete(db, eui);
        if (ss != STORE_OK) {
            cli_error(prog, "device %016llX: %s", (unsigned long long)eui, store_strerror(ss));
            rc = CLI_EXIT_FAIL;
        } else {
            json_t *out = json_object();
            int e = cli_json_set_be(out, "DevEUI", eui, 16);
            e |= cli_json_set_bool(out, "Deleted", true);
            rc = cli_json_emit(prog, out, e);
        }
    } else {
        /* list: DevEUIs with version and home NetID; one JSON object. */
        json_t *out = json_object();
        json_t *arr = json_array();
        int e = 0;
        store_device page[16];
        uint64_t after = 0;
        bool first = true;
        for (;;) {
            size_t count = 0;
            if (store_device_list(db, first ? NULL : &after, page, 16, &count) != STORE_OK) {
                e = -1;
                break;
            }
            first = false;
            for (size_t i = 0; i < count; i++) {
                json_t *d = json_object();
                e |= cli_json_set_be(d, "DevEUI", page[i].dev_eui, 16);
                e |= cli_json_set_be(d, "JoinEUI", page[i].join_eui, 16);
                const char *mv = store_mac_version_name(page[i].mac_version);
                e |= cli_json_set_str(d, "MACVersion", mv != NULL ? mv : "?");
                e |= cli_json_set_be(d, "HomeNetID", page[i].home_net_id, 6);
                e |= json_array_append_new(arr, d);
            }
            if (count > 0)
                after = page[count - 1].dev_eui;
            lw_secure_wipe(page, sizeof(page));
            if (count < 16)
                break;
        }
        e |= cli_json_set_obj(out, "Devices", arr);
        rc = cli_json_emit(prog, out, e);
    }
    close_deploy(ctx, w);
    return rc;
}

/* ---------------------------------------------------------------- peer */

int cli_js_peer_main(int argc, char **argv)
{
    static const char prog[] = "ferry peer";
    static const char usage[] =
        "ferry -d DIR peer add ID [--token-out FILE] [--client-ca FILE] [--nsid EUI]   (ID: a NetID or an AS-ID;"
        " at least one of --token-out, --client-ca)";
    static const cli_opt_spec specs[] = {
        {"token-out", "FILE", "new file (0600) that receives the peer's bearer token"},
        {"client-ca", "FILE", "PEM CA bundle that issues this peer's TLS client certificates"},
        {"nsid", "EUI", "the NS-ID sent as HNSID in 1.1 HomeNSAns for this home NetID"},
    };
    char *v[3];
    char *pos[2];
    size_t npos = 0;
    cli_parse_result pr = cli_opts_parse(prog, specs, 3, argc, argv, v, pos, 2, &npos);
    if (pr == CLI_PARSE_HELP) {
        cli_opts_usage(stdout, usage, specs, 3);
        return CLI_EXIT_OK;
    }
    if (pr != CLI_PARSED)
        return CLI_EXIT_USAGE;
    if (npos != 2 || strcmp(pos[0], "add") != 0 || (v[0] == NULL && v[1] == NULL)) {
        cli_error(prog, "expected add ID with --token-out FILE and/or --client-ca FILE (see --help)");
        return CLI_EXIT_USAGE;
    }
    const char *dir = cli_deploy_dir(prog);
    if (dir == NULL)
        return CLI_EXIT_USAGE;
    char err[JS_ERR_MAX];
    js_status st = js_peer_add(dir, pos[1], v[0], v[1], v[2], err);
    if (st != JS_OK)
        return js_fail(prog, st, err);
    json_t *out = json_object();
    int e = cli_json_set_str(out, "Peer", pos[1]);
    if (v[0] != NULL)
        e |= cli_json_set_str(out, "TokenFile", v[0]);
    if (v[1] != NULL)
        e |= cli_json_set_str(out, "ClientCA", v[1]);
    return cli_json_emit(prog, out, e);
}

/* ---------------------------------------------------------------- serve */

int cli_js_serve_main(int argc, char **argv)
{
    static const char prog[] = "ferry serve";
    static const cli_opt_spec specs[] = {
        {"listen", "ADDR:PORT", "override the configured listen address"},
    };
    char *v[1];
    size_t npos = 0;
    cli_parse_result pr = cli_opts_parse(prog, specs, 1, argc, argv, v, NULL, 0, &npos);
    if (pr == CLI_PARSE_HELP) {
        cli_opts_usage(stdout, "ferry -d DIR serve [--listen ADDR:PORT]", specs, 1);
        return CLI_EXIT_OK;
    }
    if (pr != CLI_PARSED)
        return CLI_EXIT_USAGE;
    js_ctx *ctx = NULL;
    const char *dir = cli_deploy_dir(prog);
    if (dir == NULL)
        return CLI_EXIT_USAGE;
    char err[JS_ERR_MAX];
    js_status st = js_open(dir, &ctx, err);
    if (st != JS_OK)
        return js_fail(prog, st, err);
    volatile sig_atomic_t *stop = cli_server_stop_on_signals();
    /* The IDM's secure elements: which operators may activate them, where
     * they are (docs/operators.md). A deployment without SEs answers "not
     * an SE" for every device. */
    js_set_se_policy(ctx, idm_se_policy, NULL);
    st = js_serve(ctx, v[0], stop, cli_server_reload_flag(), err);
    js_close(ctx);
    if (st != JS_OK)
        return js_fail(prog, st, err);
    return CLI_EXIT_OK;
}

/* ---------------------------------------------------------------- joineui */

/* `ferry joineui add|remove|list`: the JoinEUI ranges of ferry.conf. The
 * file is rewritten atomically; a running `ferry serve` takes the change at
 * SIGHUP (or POST /api/v1/tls/reload). */
int cli_js_joineui_main(int argc, char **argv)
{
    static const char prog[] = "ferry joineui";
    static const char usage[] = "ferry -d DIR joineui add RANGE | remove RANGE | list   (RANGE: EUI or EUI/BITS)";
    char *pos[2];
    size_t npos = 0;
    cli_parse_result pr = cli_opts_parse(prog, NULL, 0, argc, argv, NULL, pos, 2, &npos);
    if (pr == CLI_PARSE_HELP) {
        cli_opts_usage(stdout, usage, NULL, 0);
        return CLI_EXIT_OK;
    }
    if (pr != CLI_PARSED)
        return CLI_EXIT_USAGE;
    bool list = npos == 1 && strcmp(pos[0], "list") == 0;
    bool add = npos == 2 && strcmp(pos[0], "add") == 0;
    bool remove = npos == 2 && strcmp(pos[0], "remove") == 0;
    if (!list && !add && !remove) {
        cli_error(prog, "expected add RANGE, remove RANGE or list (see --help)");
        return CLI_EXIT_USAGE;
    }
    const char *dir = cli_deploy_dir(prog);
    if (dir == NULL)
        return CLI_EXIT_USAGE;
    char err[JS_ERR_MAX];
    if (!list) {
        js_status st = js_join_eui_change(dir, add, pos[1], err);
        if (st != JS_OK)
            return js_fail(prog, st, err);
    }
    js_config *cfg = calloc(1, sizeof *cfg);
    if (cfg == NULL)
        return CLI_EXIT_FAIL;
    js_status st = js_config_load(dir, cfg, err);
    if (st != JS_OK) {
        free(cfg);
        return js_fail(prog, st, err);
    }
    json_t *out = json_object(), *arr = json_array();
    int e = out == NULL || arr == NULL;
    for (size_t i = 0; !e && i < cfg->n_join_euis; i++) {
        char t[JS_JOIN_EUI_TEXT_MAX];
        js_join_eui_range_text(&cfg->join_euis[i], t);
        e |= json_array_append_new(arr, json_string(t));
    }
    free(cfg);
    e |= out == NULL || json_object_set_new(out, "JoinEUIs", arr) != 0;
    if (!list)
        e |= cli_json_set_str(out, "Note", "ferry.conf changed; a running `ferry serve` takes it at SIGHUP");
    return cli_json_emit(prog, out, e);
}

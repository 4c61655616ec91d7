/*
 * cli_hsa.c - the high-security area's command (docs/hsa.md):
 *
 *   ferry hsa personalise --count N --out DIR --kek-label LABEL
 *         [--join-eui EUI] [--mac-version V] [--dev-eui-base EUI]
 *         [--serial-base HEX16] [--profile-id HEX8]      < HSA-IDM KEK (32 hex digits)
 *
 * The KEK arrives on stdin (never on the command line, where /proc shows it),
 * goes into the HSA's token and is wiped. The output is a summary; the batch
 * file and the images are in DIR. Nothing printed holds a key or a token.
 */
#include "cli/cli.h"
#include "cli/cli_json.h"
#include "cli/cli_secret.h"
#include "idm/idm.h"
#include "mls/mls.h"

#include <string.h>
#include <time.h>

static int read_kek(const char *prog, uint8_t key[16])
{
    char line[160];
    if (cli_secret_line(line, sizeof line, NULL) != 0) {
        cli_error(prog, "expected the HSA-IDM transport KEK as 32 hex digits on stdin");
        return CLI_EXIT_USAGE;
    }
    char *hex = line;
    if (hex[0] == '0' && (hex[1] == 'x' || hex[1] == 'X'))
        hex += 2;
    lw_status ls = strlen(hex) == 32 ? lw_hex_decode(hex, 32, key, 16) : LW_ERR_HEX;
    lw_secure_wipe(line, sizeof line);
    if (ls != LW_OK) {
        lw_secure_wipe(key, 16);
        cli_error(prog, "KEK on stdin: expected 32 hex digits (an AES-128 key)");
        return CLI_EXIT_USAGE;
    }
    return CLI_EXIT_OK;
}

static int personalise(int argc, char **argv)
{
    static const char prog[] = "ferry hsa personalise";
    static const cli_opt_spec specs[] = {
        {"count", "N", "how many secure elements (required)"},
        {"out", "DIR", "output directory: images, batch.jsonl, the HSA token in DIR/hsa (required)"},
        {"kek-label", "LABEL", "KEKLabel of the HSA-IDM transport KEK, as the IDM imported it (required)"},
        {"join-eui", "EUI", "bootstrap JoinEUI (default 70B3D57ED0000000)"},
        {"mac-version", "V", "1.0.2, 1.0.3, 1.0.4 or 1.1 (default 1.1)"},
        {"dev-eui-base", "EUI", "first DevEUI, then +1 per SE (default 70B3D57ED0010000)"},
        {"serial-base", "HEX16", "first serial number, then +1 (default 0000000000000001)"},
        {"profile-id", "HEX8", "TR005 ProfileID: VendorID and VendorProfileID (default 00000000)"},
        {"mls-message-max", "N", "the largest sealed MLS message the element's firmware takes, 128..1024 "
                                 "(its MLS_MSG_MAX; default 1024, the protocol's): the IDM never sends more"},
    };
    enum { O_COUNT, O_OUT, O_LABEL, O_JOIN, O_MAC, O_DEV, O_SERIAL, O_PROFILE, O_MLS, O_N };
    char *v[O_N];
    size_t npos = 0;
    switch (cli_opts_parse(prog, specs, O_N, argc, argv, v, NULL, 0, &npos)) {
    case CLI_PARSE_HELP:
        cli_opts_usage(stdout, "ferry hsa personalise --count N --out DIR --kek-label LABEL [options] < KEK-hex",
                       specs, O_N);
        return CLI_EXIT_OK;
    case CLI_PARSE_ERROR:
        return CLI_EXIT_USAGE;
    default:
        break;
    }
    if (v[O_COUNT] == NULL || v[O_OUT] == NULL || v[O_LABEL] == NULL) {
        cli_error(prog, "--count, --out and --kek-label are required (see --help)");
        return CLI_EXIT_USAGE;
    }
    idm_hsa_opts o = {
        .out_dir = v[O_OUT],
        .kek_label = v[O_LABEL],
        .join_eui = IDM_DEFAULT_JOIN_EUI,
        .mac_version = STORE_MAC_1_1,
        .dev_eui_base = IDM_DEFAULT_DEV_EUI,
        .serial_base = IDM_DEFAULT_SERIAL,
        .profile_id = IDM_DEFAULT_PROFILE_ID,
    };
    uint64_t pid = o.profile_id;
    int rc = cli_parse_dec_uint(prog, "--count", v[O_COUNT], 100000000, &o.count);
    if (rc == CLI_EXIT_OK && o.count == 0) {
        cli_error(prog, "--count: at least 1");
        rc = CLI_EXIT_USAGE;
    }
    if (rc == CLI_EXIT_OK && v[O_JOIN] != NULL)
        rc = cli_parse_hex_uint(prog, "--join-eui", v[O_JOIN], 16, "JoinEUI", &o.join_eui);
    if (rc == CLI_EXIT_OK && v[O_DEV] != NULL)
        rc = cli_parse_hex_uint(prog, "--dev-eui-base", v[O_DEV], 16, "DevEUI", &o.dev_eui_base);
    if (rc == CLI_EXIT_OK && v[O_SERIAL] != NULL)
        rc = cli_parse_hex_uint(prog, "--serial-base", v[O_SERIAL], 16, "serial number", &o.serial_base);
    if (rc == CLI_EXIT_OK && v[O_PROFILE] != NULL)
        rc = cli_parse_hex_uint(prog, "--profile-id", v[O_PROFILE], 8, "ProfileID", &pid);
    uint8_t se_code;
    if (rc == CLI_EXIT_OK && v[O_MAC] != NULL &&
        (store_mac_version_parse(v[O_MAC], &o.mac_version) != STORE_OK ||
         idm_mac_version_se_code(o.mac_version, &se_code) != IDM_OK)) {
        cli_error(prog, "--mac-version: expected 1.0.2, 1.0.3, 1.0.4 or 1.1");
        rc = CLI_EXIT_USAGE;
    }
    uint64_t mls_max = 0;
    if (rc == CLI_EXIT_OK && v[O_MLS] != NULL &&
        ((rc = cli_parse_dec_uint(prog, "--mls-message-max", v[O_MLS], 1024, &mls_max)) != CLI_EXIT_OK ||
         mls_max < MLS_MSG_MIN)) {
        cli_error(prog, "--mls-message-max: %d to 1024", MLS_MSG_MIN);
        rc = CLI_EXIT_USAGE;
    }
    if (rc != CLI_EXIT_OK)
        return rc;
    o.profile_id = (uint32_t)pid;
    o.mls_msg_max = mls_max == 1024 ? 0 : (uint16_t)mls_max;

    if (hsm_process_harden() != HSM_OK) {
        cli_error(prog, "could not keep this process out of core dumps and debuggers; refusing to hold keys");
        return CLI_EXIT_FAIL;
    }
    uint8_t kek[16];
    if ((rc = read_kek(prog, kek)) != CLI_EXIT_OK)
        return rc;
    idm_hsa_result res;
    char err[IDM_ERR_MAX];
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    idm_status st = idm_hsa_personalise(&o, kek, &res, err); /* wipes kek */
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (st != IDM_OK) {
        cli_error(prog, "%s", err[0] != '\0' ? err : idm_strerror(st));
        return st == IDM_ERR_ARGUMENT ? CLI_EXIT_USAGE : CLI_EXIT_FAIL;
    }
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    json_t *out = json_object();
    int e = cli_json_set_uint(out, "personalised", res.personalised);
    e |= cli_json_set_str(out, "batch", res.batch_path);
    e |= cli_json_set_be(out, "FirstDevEUI", o.dev_eui_base, 16);
    e |= cli_json_set_be(out, "LastDevEUI", o.dev_eui_base + o.count - 1, 16);
    e |= cli_json_set_bool(out, "hsa_token_created", res.token_created);
    e |= json_object_set_new(out, "seconds", json_real(secs));
    return cli_json_emit(prog, out, e);
}

int cli_hsa_main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        FILE *f = argc < 2 ? stderr : stdout;
        fprintf(f, "usage: ferry hsa personalise --count N --out DIR --kek-label LABEL [options] < KEK-hex\n"
                   "       (see ferry hsa personalise --help; docs/hsa.md)\n");
        return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    }
    if (strcmp(argv[1], "personalise") == 0)
        return personalise(argc - 1, argv + 1);
    cli_error("ferry hsa", "unknown subcommand \"%s\" (personalise)", argv[1]);
    return CLI_EXIT_USAGE;
}

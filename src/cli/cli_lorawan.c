/*
 * cli_lorawan.c - `ferry lorawan`: an operator's view of the LoRaWAN core.
 *
 *   ferry lorawan decode PHYPAYLOAD [keys...]   fields, MIC check, decryption
 *   ferry lorawan derive ...                    session keys from root keys
 *   ferry lorawan join-accept ...               an encrypted join-accept
 *
 * All crypto runs on the software backend (lw_crypto_software()), because the
 * operator typed the root keys in: this is the one place in ferry where
 * derived key material is read out of an lw_key and printed. Every lw_key and
 * buffer that held a key is wiped before the subcommand returns.
 *
 * decode lives in cli_lorawan_decode.c; the option table in
 * cli_lorawan_args.c.
 */
#include "cli/cli_lorawan.h"
#include "cli/cli_json.h"

#include <string.h>

typedef struct lorawan_subcommand {
    const char *name;
    cli_command_fn run;
    const char *summary;
} lorawan_subcommand;

static const lorawan_subcommand subcommands[] = {
    {"decode", cli_lorawan_decode, "decode a PHYPayload; check its MIC and decrypt it when keys are given"},
    {"derive", cli_lorawan_derive, "derive the session keys (and 1.1 JS keys) of a join"},
    {"join-accept", cli_lorawan_join_accept, "build an encrypted join-accept with its MIC"},
};

#define SUBCOMMAND_COUNT (sizeof(subcommands) / sizeof(subcommands[0]))

static void usage(FILE *out)
{
    fprintf(out, "usage: ferry lorawan <subcommand> [arguments]\n\nsubcommands:\n");
    for (size_t i = 0; i < SUBCOMMAND_COUNT; i++)
        fprintf(out, "  %-12s %s\n", subcommands[i].name, subcommands[i].summary);
    fprintf(out, "\nHex is case-insensitive and may start with 0x. EUIs, NetID, DevAddr and nonces are\n"
                 "written big-endian, as people read them. See docs/lorawan-tool.md.\n");
}

int cli_lorawan_main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return CLI_EXIT_OK;
    }
    for (size_t i = 0; i < SUBCOMMAND_COUNT; i++) {
        if (strcmp(argv[1], subcommands[i].name) == 0)
            return subcommands[i].run(argc - 1, argv + 1);
    }
    cli_error("ferry lorawan", "unknown subcommand \"%s\" (see ferry lorawan --help)", argv[1]);
    return CLI_EXIT_USAGE;
}

/* ---- derive ------------------------------------------------------------ */

static const char derive_synopsis[] =
    "ferry lorawan derive --mac-version V --nwkkey K [--appkey K] --join-nonce H --dev-nonce H\n"
    "                            [--net-id H] [--join-eui H] [--dev-eui H]\n"
    "  1.0.x: --net-id required; the root key is the AppKey, given as --nwkkey or --appkey.\n"
    "  1.1:   --appkey and --join-eui required; --dev-eui adds JSIntKey and JSEncKey.";

static int derive_10(const char *prog, const lw_args *a, json_t *out, int *jerr)
{
    static const lw_opt_id required[] = {OPT_NET_ID};
    const lw_key *root = NULL;
    int rc = lw_args_root_key_10(prog, a, &root);
    if (rc == CLI_EXIT_OK && root == NULL) {
        cli_error(prog, "missing required option --nwkkey (the 1.0.x AppKey; --appkey is accepted too)");
        rc = CLI_EXIT_USAGE;
    }
    if (rc == CLI_EXIT_OK)
        rc = lw_args_require(prog, a, required, 1);
    if (rc != CLI_EXIT_OK)
        return rc;

    const lw_crypto *c = lw_crypto_software();
    lw_session_keys_10 k;
    lw_status st = lw_derive_session_keys_10(c, root, a->join_nonce, a->net_id, a->dev_nonce, &k);
    if (st != LW_OK) {
        cli_error(prog, "key derivation failed: %s", lw_strerror(st));
        return CLI_EXIT_FAIL;
    }
    *jerr |= cli_json_set_key(out, "NwkSKey", &k.nwk_s_key);
    *jerr |= cli_json_set_key(out, "AppSKey", &k.app_s_key);
    lw_session_keys_10_release(c, &k);
    LW_WIPE(k);
    return CLI_EXIT_OK;
}

static int derive_11(const char *prog, const lw_args *a, json_t *out, int *jerr)
{
    static const lw_opt_id required[] = {OPT_NWKKEY, OPT_APPKEY, OPT_JOIN_EUI};
    int rc = lw_args_require(prog, a, required, sizeof(required) / sizeof(required[0]));
    if (rc != CLI_EXIT_OK)
        return rc;

    const lw_crypto *c = lw_crypto_software();
    lw_session_keys_11 k;
    lw_js_keys js;
    memset(&js, 0, sizeof(js));
    lw_status st = lw_derive_session_keys_11(c, &a->nwkkey, &a->appkey, a->join_nonce, a->join_eui, a->dev_nonce, &k);
    if (st == LW_OK && a->given[OPT_DEV_EUI]) {
        st = lw_derive_js_keys(c, &a->nwkkey, a->dev_eui, &js);
        if (st != LW_OK)
            lw_session_keys_11_release(c, &k);
    }
    if (st != LW_OK) {
        cli_error(prog, "key derivation failed: %s", lw_strerror(st));
        return CLI_EXIT_FAIL;
    }
    *jerr |= cli_json_set_key(out, "FNwkSIntKey", &k.f_nwk_s_int_key);
    *jerr |= cli_json_set_key(out, "SNwkSIntKey", &k.s_nwk_s_int_key);
    *jerr |= cli_json_set_key(out, "NwkSEncKey", &k.nwk_s_enc_key);
    *jerr |= cli_json_set_key(out, "AppSKey", &k.app_s_key);
    if (a->given[OPT_DEV_EUI]) {
        *jerr |= cli_json_set_key(out, "JSIntKey", &js.js_int_key);
        *jerr |= cli_json_set_key(out, "JSEncKey", &js.js_enc_key);
        lw_js_keys_release(c, &js);
    }
    lw_session_keys_11_release(c, &k);
    LW_WIPE(k);
    LW_WIPE(js);
    return CLI_EXIT_OK;
}

int cli_lorawan_derive(int argc, char **argv)
{
    static const char prog[] = "ferry lorawan derive";
    static const lw_opt_id ids[] = {OPT_MAC_VERSION, OPT_NWKKEY, OPT_APPKEY, OPT_JOIN_NONCE,
                                    OPT_NET_ID,      OPT_DEV_NONCE, OPT_JOIN_EUI, OPT_DEV_EUI};
    static const lw_opt_id required[] = {OPT_MAC_VERSION, OPT_JOIN_NONCE, OPT_DEV_NONCE};
    lw_args a;
    size_t npos = 0;
    bool done = false;
    int rc = lw_args_parse(prog, derive_synopsis, ids, sizeof(ids) / sizeof(ids[0]), argc, argv, NULL, 0, &npos,
                           &a, &done);
    if (done)
        return rc;
    rc = lw_args_require(prog, &a, required, sizeof(required) / sizeof(required[0]));
    if (rc == CLI_EXIT_OK) {
        json_t *out = json_object();
        int jerr = 0;
        rc = a.version == LW_MAC_1_0 ? derive_10(prog, &a, out, &jerr) : derive_11(prog, &a, out, &jerr);
        if (rc == CLI_EXIT_OK)
            rc = cli_json_emit(prog, out, jerr);
        else
            json_decref(out);
    }
    lw_args_wipe(&a);
    return rc;
}

/* ---- join-accept ------------------------------------------------------- */

static const char join_accept_synopsis[] =
    "ferry lorawan join-accept --mac-version V --nwkkey K --join-nonce H --net-id H --dev-addr H\n"
    "                                 [--dl-settings H] [--rx-delay N] [--cflist H]\n"
    "                                 [--join-eui H --dev-nonce H --dev-eui H [--join-req-type H]]\n"
    "  1.1 sets OptNeg in DLSettings and needs --join-eui, --dev-nonce and --dev-eui (for JSIntKey,\n"
    "  or give --jsintkey); rejoin answers (--join-req-type 00..02) are encrypted with JSEncKey.";

/* The keys a join-accept needs: `mic` signs it, `enc` encrypts it. For 1.1
 * the JS keys come from --jsintkey/--jsenckey or are derived into *js. */
static int join_accept_keys(const char *prog, const lw_args *a, lw_js_keys *js, const lw_key **mic,
                            const lw_key **enc)
{
    if (a->version == LW_MAC_1_0) {
        int rc = lw_args_root_key_10(prog, a, mic);
        if (rc == CLI_EXIT_OK && *mic == NULL) {
            cli_error(prog, "missing required option --nwkkey (the 1.0.x AppKey; --appkey is accepted too)");
            rc = CLI_EXIT_USAGE;
        }
        *enc = *mic;
        return rc;
    }
    static const lw_opt_id required[] = {OPT_NWKKEY, OPT_JOIN_EUI, OPT_DEV_NONCE};
    int rc = lw_args_require(prog, a, required, sizeof(required) / sizeof(required[0]));
    if (rc != CLI_EXIT_OK)
        return rc;
    bool rejoin = a->join_req_type != LW_JOIN_REQ_TYPE_JOIN;
    bool need_derive = !a->given[OPT_JSINTKEY] || (rejoin && !a->given[OPT_JSENCKEY]);
    if (need_derive && !a->given[OPT_DEV_EUI]) {
        cli_error(prog, "missing required option --dev-eui: LoRaWAN 1.1 join-accepts are signed with JSIntKey%s, "
                        "derived from NwkKey and DevEUI",
                  rejoin ? " and rejoin answers encrypted with JSEncKey" : "");
        return CLI_EXIT_USAGE;
    }
    if (need_derive) {
        lw_status st = lw_derive_js_keys(lw_crypto_software(), &a->nwkkey, a->dev_eui, js);
        if (st != LW_OK) {
            cli_error(prog, "JS key derivation failed: %s", lw_strerror(st));
            return CLI_EXIT_FAIL;
        }
    }
    *mic = a->given[OPT_JSINTKEY] ? &a->jsintkey : &js->js_int_key;
    *enc = !rejoin ? &a->nwkkey : a->given[OPT_JSENCKEY] ? &a->jsenckey : &js->js_enc_key;
    return CLI_EXIT_OK;
}

static int build_join_accept(const char *prog, const lw_args *a, const lw_key *mic_key, const lw_key *enc_key,
                             json_t *out, int *jerr)
{
    const lw_crypto *c = lw_crypto_software();
    lw_join_accept ja;
    memset(&ja, 0, sizeof(ja));
    ja.join_nonce = a->join_nonce;
    ja.net_id = a->net_id;
    ja.dev_addr = a->dev_addr;
    ja.dl_settings = (uint8_t)(a->dl_settings | (a->version == LW_MAC_1_1 ? LW_DL_OPTNEG : 0));
    ja.rx_delay = a->rx_delay;
    ja.has_cflist = a->given[OPT_CFLIST];
    if (ja.has_cflist)
        memcpy(ja.cflist, a->cflist, LW_CFLIST_LEN);

    uint8_t plain[LW_JOIN_ACCEPT_CFLIST_LEN], wire[LW_JOIN_ACCEPT_CFLIST_LEN], mic[LW_MIC_LEN];
    size_t len = 0;
    lw_status st = lw_join_accept_build(&ja, plain, sizeof(plain) - LW_MIC_LEN, &len);
    if (st == LW_OK) {
        st = a->version == LW_MAC_1_0
                 ? lw_mic_join_accept_10(c, mic_key, plain, len, mic)
                 : lw_mic_join_accept_11(c, mic_key, a->join_req_type, a->join_eui, a->dev_nonce, plain, len, mic);
    }
    if (st == LW_OK) {
        memcpy(plain + len, mic, LW_MIC_LEN);
        len += LW_MIC_LEN;
        st = lw_join_accept_encrypt(c, enc_key, plain, len, wire, sizeof(wire));
    }
    if (st == LW_OK)
        *jerr |= cli_json_set_hex(out, "PHYPayload", wire, len);
    LW_WIPE(plain);
    if (st != LW_OK) {
        cli_error(prog, "cannot build the join-accept: %s", lw_strerror(st));
        return CLI_EXIT_FAIL;
    }
    return CLI_EXIT_OK;
}

int cli_lorawan_join_accept(int argc, char **argv)
{
    static const char prog[] = "ferry lorawan join-accept";
    static const lw_opt_id ids[] = {OPT_MAC_VERSION, OPT_NWKKEY,   OPT_APPKEY,      OPT_JOIN_NONCE, OPT_NET_ID,
                                    OPT_DEV_ADDR,    OPT_DL_SETTINGS, OPT_RX_DELAY, OPT_CFLIST,     OPT_JOIN_EUI,
                                    OPT_DEV_NONCE,   OPT_JOIN_REQ_TYPE, OPT_DEV_EUI, OPT_JSINTKEY,  OPT_JSENCKEY};
    static const lw_opt_id required[] = {OPT_MAC_VERSION, OPT_JOIN_NONCE, OPT_NET_ID, OPT_DEV_ADDR};
    lw_args a;
    size_t npos = 0;
    bool done = false;
    int rc = lw_args_parse(prog, join_accept_synopsis, ids, sizeof(ids) / sizeof(ids[0]), argc, argv, NULL, 0,
                           &npos, &a, &done);
    if (done)
        return rc;
    lw_js_keys js;
    memset(&js, 0, sizeof(js));
    const lw_key *mic_key = NULL, *enc_key = NULL;
    rc = lw_args_require(prog, &a, required, sizeof(required) / sizeof(required[0]));
    if (rc == CLI_EXIT_OK)
        rc = join_accept_keys(prog, &a, &js, &mic_key, &enc_key);
    if (rc == CLI_EXIT_OK) {
        json_t *out = json_object();
        int jerr = 0;
        rc = build_join_accept(prog, &a, mic_key, enc_key, out, &jerr);
        if (rc == CLI_EXIT_OK)
            rc = cli_json_emit(prog, out, jerr);
        else
            json_decref(out);
    }
    lw_js_keys_release(lw_crypto_software(), &js);
    LW_WIPE(js);
    lw_args_wipe(&a);
    return rc;
}

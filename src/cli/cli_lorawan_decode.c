/*
 * cli_lorawan_decode.c - `ferry lorawan decode PHYPAYLOAD [keys...]`.
 *
 * The frame is parsed once by lw_frame_decode(); what follows only reads the
 * lw_frame and asks the core for MICs and keystreams. The output has the
 * spec's field names in wire order, and then what the given keys allowed:
 *
 *   MICValid             true/false when the keys allow the check; otherwise
 *   MICNote              a sentence saying which options are missing;
 *   FRMPayloadDecrypted  and FOptsDecrypted (1.1) when a key allows it,
 *   DecryptNote          otherwise, saying which key is missing;
 *   join-accept fields   only once the join-accept could be decrypted.
 *
 * A MIC that does not match is a result, not an error: the exit status is 0
 * as long as the frame parses. Which key does what, per version, is spelled
 * out in docs/lorawan-tool.md.
 */
#include "cli/cli_lorawan.h"
#include "cli/cli_json.h"

#include <string.h>

typedef struct decode_ctx {
    const char *prog;
    const lw_crypto *c;
    const lw_args *a;
    const uint8_t *phy;   /* the whole PHYPayload */
    size_t len;
    const lw_frame *f;
    json_t *out;
    int jerr;             /* OR of the JSON setters' results */
} decode_ctx;

static const char decode_synopsis[] =
    "ferry lorawan decode PHYPAYLOAD [--mac-version V] [keys] [context]\n"
    "  keys:    --appkey --nwkkey (join-request, join-accept, rejoin type 1), --nwkskey (1.0.x data),\n"
    "           --snwksintkey --fnwksintkey --nwksenckey (1.1 data, rejoin 0/2), --appskey (FPort > 0),\n"
    "           --jsintkey --jsenckey (1.1 join-accept, rejoin type 1; else derived from --nwkkey)\n"
    "  context: join-accept 1.1: --dev-eui --join-eui --dev-nonce [--join-req-type];\n"
    "           data: --fcnt32, and for 1.1 --conf-fcnt --tx-dr --tx-ch";

/* Records the outcome of a MIC computation: MICValid, or an error. */
static int report_mic(decode_ctx *d, lw_status st, const uint8_t computed[LW_MIC_LEN],
                      const uint8_t received[LW_MIC_LEN])
{
    if (st != LW_OK) {
        cli_error(d->prog, "cannot compute the MIC: %s", lw_strerror(st));
        return CLI_EXIT_FAIL;
    }
    d->jerr |= cli_json_set_bool(d->out, "MICValid", lw_mic_equal(computed, received) == 1);
    return CLI_EXIT_OK;
}

static void note(decode_ctx *d, const char *field, const char *text)
{
    d->jerr |= cli_json_set_str(d->out, field, text);
}

/* JSIntKey or JSEncKey: the one given, else derived from --nwkkey and DevEUI
 * into *js. Returns NULL (and LW_OK) when neither is possible. */
static lw_status js_key(decode_ctx *d, bool want_int, bool have_dev_eui, uint64_t dev_eui, lw_js_keys *js,
                        const lw_key **out)
{
    const lw_key *given = want_int ? &d->a->jsintkey : &d->a->jsenckey;
    *out = NULL;
    if (given->length != 0) {
        *out = given;
        return LW_OK;
    }
    if (d->a->nwkkey.length == 0 || !have_dev_eui)
        return LW_OK;
    lw_status st = lw_derive_js_keys(d->c, &d->a->nwkkey, dev_eui, js);
    if (st == LW_OK)
        *out = want_int ? &js->js_int_key : &js->js_enc_key;
    return st;
}

static int decode_join_request(decode_ctx *d)
{
    const lw_join_request *j = &d->f->u.join_request;
    d->jerr |= cli_json_set_be(d->out, "JoinEUI", j->join_eui, 16);
    d->jerr |= cli_json_set_be(d->out, "DevEUI", j->dev_eui, 16);
    d->jerr |= cli_json_set_be(d->out, "DevNonce", j->dev_nonce, 4);
    d->jerr |= cli_json_set_hex(d->out, "MIC", d->f->mic, LW_MIC_LEN);

    const lw_key *key = NULL;
    if (d->a->version == LW_MAC_1_0) {
        int rc = lw_args_root_key_10(d->prog, d->a, &key);
        if (rc != CLI_EXIT_OK)
            return rc;
    } else {
        key = d->a->nwkkey.length != 0 ? &d->a->nwkkey : NULL;
    }
    if (key == NULL) {
        note(d, "MICNote", d->a->version == LW_MAC_1_0
                               ? "MIC not checked: give --appkey (or --nwkkey), the LoRaWAN 1.0.x root key"
                               : "MIC not checked: LoRaWAN 1.1 join-requests are signed with NwkKey, give --nwkkey");
        return CLI_EXIT_OK;
    }
    uint8_t mic[LW_MIC_LEN];
    lw_status st = lw_mic_join_request(d->c, key, d->phy, d->len - LW_MIC_LEN, mic);
    return report_mic(d, st, mic, d->f->mic);
}

static int decode_rejoin_request(decode_ctx *d)
{
    const lw_rejoin_request *r = &d->f->u.rejoin_request;
    bool type1 = r->type == LW_REJOIN_TYPE_1;
    d->jerr |= cli_json_set_uint(d->out, "RejoinType", (uint64_t)r->type);
    if (type1)
        d->jerr |= cli_json_set_be(d->out, "JoinEUI", r->join_eui, 16);
    else
        d->jerr |= cli_json_set_be(d->out, "NetID", r->net_id, 6);
    d->jerr |= cli_json_set_be(d->out, "DevEUI", r->dev_eui, 16);
    d->jerr |= cli_json_set_uint(d->out, type1 ? "RJcount1" : "RJcount0", r->rj_count);
    d->jerr |= cli_json_set_hex(d->out, "MIC", d->f->mic, LW_MIC_LEN);

    if (d->a->version != LW_MAC_1_1) {
        note(d, "MICNote", "MIC not checked: rejoin-requests exist only in LoRaWAN 1.1, give --mac-version 1.1");
        return CLI_EXIT_OK;
    }
    lw_js_keys js;
    memset(&js, 0, sizeof(js));
    const lw_key *key = NULL;
    lw_status st = LW_OK;
    if (type1)
        st = js_key(d, true, true, r->dev_eui, &js, &key);
    else if (d->a->snwksintkey.length != 0)
        key = &d->a->snwksintkey;

    int rc = CLI_EXIT_OK;
    if (st != LW_OK) {
        cli_error(d->prog, "cannot derive JSIntKey: %s", lw_strerror(st));
        rc = CLI_EXIT_FAIL;
    } else if (key == NULL) {
        note(d, "MICNote", type1 ? "MIC not checked: rejoin type 1 is signed with JSIntKey, give --nwkkey "
                                   "(JSIntKey is derived with the frame's DevEUI) or --jsintkey"
                                 : "MIC not checked: rejoin types 0 and 2 are signed with SNwkSIntKey, "
                                   "give --snwksintkey");
    } else {
        uint8_t mic[LW_MIC_LEN];
        st = lw_mic_rejoin_request(d->c, key, d->phy, d->len - LW_MIC_LEN, mic);
        rc = report_mic(d, st, mic, d->f->mic);
    }
    lw_js_keys_release(d->c, &js);
    LW_WIPE(js);
    return rc;
}

/* Prints the decrypted join-accept fields and checks its MIC. */
static int join_accept_fields(decode_ctx *d, const uint8_t *plain, const lw_key *root, lw_js_keys *js)
{
    lw_join_accept ja;
    uint8_t received[LW_MIC_LEN];
    lw_status st = lw_join_accept_parse(plain, d->len, &ja, received);
    if (st != LW_OK) {
        cli_error(d->prog, "cannot read the decrypted join-accept: %s", lw_strerror(st));
        return CLI_EXIT_FAIL;
    }
    json_t *dl = json_object();
    d->jerr |= cli_json_set_bool(dl, "OptNeg", (ja.dl_settings & LW_DL_OPTNEG) != 0);
    d->jerr |= cli_json_set_uint(dl, "RX1DROffset", (ja.dl_settings >> 4) & 0x07);
    d->jerr |= cli_json_set_uint(dl, "RX2DataRate", ja.dl_settings & 0x0f);
    d->jerr |= cli_json_set_be(d->out, "JoinNonce", ja.join_nonce, 6);
    d->jerr |= cli_json_set_be(d->out, "NetID", ja.net_id, 6);
    d->jerr |= cli_json_set_be(d->out, "DevAddr", ja.dev_addr, 8);
    d->jerr |= cli_json_set_obj(d->out, "DLSettings", dl);
    d->jerr |= cli_json_set_uint(d->out, "RxDelay", ja.rx_delay);
    if (ja.has_cflist)
        d->jerr |= cli_json_set_hex(d->out, "CFList", ja.cflist, LW_CFLIST_LEN);
    d->jerr |= cli_json_set_hex(d->out, "MIC", received, LW_MIC_LEN);

    const lw_args *a = d->a;
    uint8_t mic[LW_MIC_LEN];
    size_t body = d->len - LW_MIC_LEN;
    bool optneg = (ja.dl_settings & LW_DL_OPTNEG) != 0;
    if (a->version == LW_MAC_1_0 || !optneg) {
        /* 1.0.x, or a 1.1 device answered by a 1.0 network (OptNeg clear). */
        st = lw_mic_join_accept_10(d->c, root, plain, body, mic);
        return report_mic(d, st, mic, received);
    }
    const lw_key *key = NULL;
    st = js_key(d, true, a->given[OPT_DEV_EUI], a->dev_eui, js, &key);
    if (st != LW_OK) {
        cli_error(d->prog, "cannot derive JSIntKey: %s", lw_strerror(st));
        return CLI_EXIT_FAIL;
    }
    if (key == NULL || !a->given[OPT_JOIN_EUI] || !a->given[OPT_DEV_NONCE]) {
        note(d, "MICNote", "MIC not checked: a LoRaWAN 1.1 join-accept with OptNeg is signed with JSIntKey "
                           "(derived from NwkKey and DevEUI) over JoinReqType, JoinEUI and DevNonce; "
                           "give --dev-eui (or --jsintkey), --join-eui and --dev-nonce");
        return CLI_EXIT_OK;
    }
    st = lw_mic_join_accept_11(d->c, key, a->join_req_type, a->join_eui, a->dev_nonce, plain, body, mic);
    return report_mic(d, st, mic, received);
}

static int decode_join_accept(decode_ctx *d)
{
    const lw_args *a = d->a;
    const lw_key *root = NULL, *enc = NULL;
    lw_js_keys js;
    memset(&js, 0, sizeof(js));
    lw_status st = LW_OK;
    if (a->version == LW_MAC_1_0) {
        int rc = lw_args_root_key_10(d->prog, a, &root);
        if (rc != CLI_EXIT_OK)
            return rc;
        enc = root;
    } else {
        root = a->nwkkey.length != 0 ? &a->nwkkey : NULL;
        if (a->join_req_type == LW_JOIN_REQ_TYPE_JOIN)
            enc = root;
        else
            st = js_key(d, false, a->given[OPT_DEV_EUI], a->dev_eui, &js, &enc);
    }

    int rc = CLI_EXIT_OK;
    uint8_t plain[LW_JOIN_ACCEPT_CFLIST_LEN];
    if (st != LW_OK) {
        cli_error(d->prog, "cannot derive JSEncKey: %s", lw_strerror(st));
        rc = CLI_EXIT_FAIL;
    } else if (enc == NULL) {
        d->jerr |= cli_json_set_hex(d->out, "Encrypted", d->f->u.join_accept.ciphertext, d->f->u.join_accept.len);
        note(d, "DecryptNote",
             a->version == LW_MAC_1_0 ? "not decrypted: give --appkey (or --nwkkey), the LoRaWAN 1.0.x root key"
             : a->join_req_type == LW_JOIN_REQ_TYPE_JOIN
                 ? "not decrypted: give --nwkkey"
                 : "not decrypted: an answer to a rejoin is encrypted with JSEncKey, give --nwkkey and --dev-eui "
                   "(or --jsenckey)");
        note(d, "MICNote", "MIC not checked: the MIC is inside the encrypted part");
    } else if ((st = lw_join_accept_decrypt(d->c, enc, d->phy, d->len, plain, sizeof(plain))) != LW_OK) {
        cli_error(d->prog, "cannot decrypt the join-accept: %s", lw_strerror(st));
        rc = CLI_EXIT_FAIL;
    } else {
        rc = join_accept_fields(d, plain, root, &js);
    }
    LW_WIPE(plain);
    lw_js_keys_release(d->c, &js);
    LW_WIPE(js);
    return rc;
}

/* Appends `text` to the decrypt note being collected in buf[cap]. */
static void add_note(char *buf, size_t cap, const char *text)
{
    size_t used = strlen(buf);
    snprintf(buf + used, cap - used, "%s%s", used > 0 ? "; " : "", text);
}

static int data_mic(decode_ctx *d, uint32_t fcnt32, bool uplink)
{
    const lw_args *a = d->a;
    const lw_data_frame *df = &d->f->u.data;
    lw_data_mic_params p = {
        .dev_addr = df->dev_addr, .fcnt = fcnt32, .conf_fcnt = a->conf_fcnt, .tx_dr = a->tx_dr, .tx_ch = a->tx_ch};
    size_t msg_len = d->len - LW_MIC_LEN;
    uint8_t mic[LW_MIC_LEN];
    lw_status st;
    if (a->version == LW_MAC_1_0) {
        if (a->nwkskey.length == 0) {
            note(d, "MICNote", "MIC not checked: give --nwkskey (LoRaWAN 1.0.x)");
            return CLI_EXIT_OK;
        }
        st = lw_mic_data_10(d->c, &a->nwkskey, &p, d->phy, msg_len, mic);
    } else if (uplink) {
        if (a->snwksintkey.length == 0 || a->fnwksintkey.length == 0) {
            note(d, "MICNote", "MIC not checked: a LoRaWAN 1.1 uplink MIC needs both --snwksintkey and "
                               "--fnwksintkey (and --conf-fcnt, --tx-dr, --tx-ch if not 0)");
            return CLI_EXIT_OK;
        }
        st = lw_mic_data_up_11(d->c, &a->snwksintkey, &a->fnwksintkey, &p, d->phy, msg_len, mic);
    } else {
        if (a->snwksintkey.length == 0) {
            note(d, "MICNote", "MIC not checked: a LoRaWAN 1.1 downlink MIC needs --snwksintkey "
                               "(and --conf-fcnt if ACK is set)");
            return CLI_EXIT_OK;
        }
        st = lw_mic_data_down_11(d->c, &a->snwksintkey, &p, d->phy, msg_len, mic);
    }
    return report_mic(d, st, mic, d->f->mic);
}

static int decode_data(decode_ctx *d)
{
    const lw_args *a = d->a;
    const lw_data_frame *df = &d->f->u.data;
    bool uplink = lw_mtype_is_uplink(d->f->mtype);
    uint32_t fcnt32 = df->fcnt;
    if (a->given[OPT_FCNT32]) {
        if ((a->fcnt32 & 0xFFFFu) != df->fcnt) {
            cli_error(d->prog, "--fcnt32 %lu does not end in the frame's FCnt %u (its low 16 bits are %lu)",
                      (unsigned long)a->fcnt32, (unsigned)df->fcnt, (unsigned long)(a->fcnt32 & 0xFFFFu));
            return CLI_EXIT_USAGE;
        }
        fcnt32 = a->fcnt32;
    }

    json_t *fctrl = json_object();
    d->jerr |= cli_json_set_bool(fctrl, "ADR", df->fctrl.adr);
    d->jerr |= cli_json_set_bool(fctrl, uplink ? "ADRACKReq" : "RFU", df->fctrl.adr_ack_req);
    d->jerr |= cli_json_set_bool(fctrl, "ACK", df->fctrl.ack);
    d->jerr |= cli_json_set_bool(fctrl, uplink ? "ClassB" : "FPending", df->fctrl.f_pending);
    d->jerr |= cli_json_set_uint(fctrl, "FOptsLen", df->fctrl.fopts_len);
    d->jerr |= cli_json_set_be(d->out, "DevAddr", df->dev_addr, 8);
    d->jerr |= cli_json_set_obj(d->out, "FCtrl", fctrl);
    d->jerr |= cli_json_set_uint(d->out, "FCnt", df->fcnt);
    if (a->given[OPT_FCNT32])
        d->jerr |= cli_json_set_uint(d->out, "FCnt32", fcnt32);
    d->jerr |= cli_json_set_hex(d->out, "FOpts", df->fopts, df->fctrl.fopts_len);

    char why[256] = "";
    uint8_t buf[LW_PHY_MAX];
    lw_status st = LW_OK;
    if (a->version == LW_MAC_1_1 && df->fctrl.fopts_len > 0) {
        if (a->nwksenckey.length == 0) {
            add_note(why, sizeof(why), "FOpts not decrypted: give --nwksenckey");
        } else {
            bool a_fcnt_down = !uplink && df->has_fport && df->fport > 0;
            st = lw_fopts_crypt_11(d->c, &a->nwksenckey, uplink, a_fcnt_down, df->dev_addr, fcnt32, df->fopts,
                                   df->fctrl.fopts_len, buf);
            if (st == LW_OK)
                d->jerr |= cli_json_set_hex(d->out, "FOptsDecrypted", buf, df->fctrl.fopts_len);
        }
    }
    if (st == LW_OK && df->has_fport) {
        d->jerr |= cli_json_set_uint(d->out, "FPort", df->fport);
        d->jerr |= cli_json_set_hex(d->out, "FRMPayload", df->frm_payload, df->frm_payload_len);
        bool network = lw_frm_payload_key_is_network(df->fport);
        const lw_key *key = !network ? &a->appskey : a->version == LW_MAC_1_0 ? &a->nwkskey : &a->nwksenckey;
        if (df->frm_payload_len == 0) {
            /* nothing to decrypt */
        } else if (key->length == 0) {
            add_note(why, sizeof(why),
                     !network ? "FRMPayload not decrypted: give --appskey"
                     : a->version == LW_MAC_1_0
                         ? "FRMPayload (FPort 0, MAC commands) not decrypted: give --nwkskey"
                         : "FRMPayload (FPort 0, MAC commands) not decrypted: give --nwksenckey");
        } else {
            st = lw_frm_payload_crypt(d->c, key, uplink, df->dev_addr, fcnt32, df->frm_payload,
                                      df->frm_payload_len, buf);
            if (st == LW_OK)
                d->jerr |= cli_json_set_hex(d->out, "FRMPayloadDecrypted", buf, df->frm_payload_len);
        }
    }
    LW_WIPE(buf);
    if (st != LW_OK) {
        cli_error(d->prog, "cannot decrypt: %s", lw_strerror(st));
        return CLI_EXIT_FAIL;
    }
    if (why[0] != '\0')
        note(d, "DecryptNote", why);
    d->jerr |= cli_json_set_hex(d->out, "MIC", d->f->mic, LW_MIC_LEN);
    return data_mic(d, fcnt32, uplink);
}

/* Reads the positional PHYPayload into phy[LW_PHY_MAX]. */
static int read_phy_payload(const char *prog, const char *text, uint8_t *phy, size_t *len)
{
    const char *hex = text;
    if (hex[0] == '0' && (hex[1] == 'x' || hex[1] == 'X'))
        hex += 2;
    size_t digits = strlen(hex);
    if (digits == 0) {
        cli_error(prog, "PHYPayload: %s (it is empty)", lw_strerror(LW_ERR_TRUNCATED));
        return CLI_EXIT_FAIL;
    }
    if (digits / 2 > LW_PHY_MAX) {
        cli_error(prog, "PHYPayload: %zu bytes is longer than the %d a LoRa radio carries", digits / 2, LW_PHY_MAX);
        return CLI_EXIT_FAIL;
    }
    if (digits % 2 != 0 || lw_hex_decode(hex, digits, phy, digits / 2) != LW_OK) {
        cli_error(prog, "PHYPayload: expected an even number of hex digits, got \"%s\"", text);
        return CLI_EXIT_USAGE;
    }
    *len = digits / 2;
    return CLI_EXIT_OK;
}

static int decode_frame(decode_ctx *d)
{
    d->jerr |= cli_json_set_str(d->out, "MType", lw_mtype_name(d->f->mtype));
    d->jerr |= cli_json_set_uint(d->out, "Major", d->f->major);
    switch (d->f->mtype) {
    case LW_MTYPE_JOIN_REQUEST:
        return decode_join_request(d);
    case LW_MTYPE_JOIN_ACCEPT:
        return decode_join_accept(d);
    case LW_MTYPE_REJOIN_REQUEST:
        return decode_rejoin_request(d);
    case LW_MTYPE_PROPRIETARY:
        d->jerr |= cli_json_set_hex(d->out, "Payload", d->f->u.proprietary.payload, d->f->u.proprietary.len);
        note(d, "MICNote", "LoRaWAN does not define the format or MIC of a proprietary frame");
        return CLI_EXIT_OK;
    case LW_MTYPE_UNCONFIRMED_DATA_UP:
    case LW_MTYPE_UNCONFIRMED_DATA_DOWN:
    case LW_MTYPE_CONFIRMED_DATA_UP:
    case LW_MTYPE_CONFIRMED_DATA_DOWN:
        return decode_data(d);
    }
    cli_error(d->prog, "%s", lw_strerror(LW_ERR_MTYPE));
    return CLI_EXIT_FAIL;
}

int cli_lorawan_decode(int argc, char **argv)
{
    static const char prog[] = "ferry lorawan decode";
    static const lw_opt_id ids[] = {
        OPT_MAC_VERSION, OPT_APPKEY,   OPT_NWKKEY,   OPT_NWKSKEY,   OPT_APPSKEY,       OPT_SNWKSINTKEY,
        OPT_FNWKSINTKEY, OPT_NWKSENCKEY, OPT_JSINTKEY, OPT_JSENCKEY, OPT_JOIN_EUI,     OPT_DEV_EUI,
        OPT_DEV_NONCE,   OPT_JOIN_REQ_TYPE, OPT_FCNT32, OPT_CONF_FCNT, OPT_TX_DR,      OPT_TX_CH,
    };
    lw_args a;
    char *pos[1];
    size_t npos = 0;
    bool done = false;
    int rc = lw_args_parse(prog, decode_synopsis, ids, sizeof(ids) / sizeof(ids[0]), argc, argv, pos, 1, &npos,
                           &a, &done);
    if (done)
        return rc;

    uint8_t phy[LW_PHY_MAX];
    size_t len = 0;
    lw_frame f;
    if (npos != 1) {
        cli_error(prog, "missing the PHYPayload to decode, in hex (see --help)");
        rc = CLI_EXIT_USAGE;
    } else {
        rc = read_phy_payload(prog, pos[0], phy, &len);
    }
    if (rc == CLI_EXIT_OK) {
        lw_status st = lw_frame_decode(phy, len, &f);
        if (st != LW_OK) {
            cli_error(prog, "cannot decode the PHYPayload: %s", lw_strerror(st));
            rc = CLI_EXIT_FAIL;
        }
    }
    if (rc == CLI_EXIT_OK) {
        decode_ctx d = {prog, lw_crypto_software(), &a, phy, len, &f, json_object(), 0};
        rc = decode_frame(&d);
        if (rc == CLI_EXIT_OK)
            rc = cli_json_emit(prog, d.out, d.jerr);
        else
            json_decref(d.out);
    }
    lw_args_wipe(&a);
    return rc;
}

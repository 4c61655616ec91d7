/*
 * oracle_check.c - checks ferry's LoRaWAN core against lora-packet.
 *
 * tests/oracle/gen.js draws random cases and asks lora-packet 0.9.3, an
 * independent TypeScript implementation, for every expected value. This
 * program reads those cases (JSON lines, from argv[1] or stdin), recomputes
 * each one with the core's public API and prints TAP:
 *
 *   ok N - <kind> <version> (<count> cases)          one line per group
 *   ok N - corrupted expectations are caught (M of M)
 *   ok N - input well formed (L lines, 0 unusable)
 *
 * and, under a "not ok" line, the first mismatching cases as "#" comments:
 * the field, lora-packet's value, the core's value, and the case itself.
 *
 * A case is {"kind", "ver", "in": {...}, "expect": {...}}; see gen.js for the
 * conventions (hex in wire order for byte strings, big-endian hex for the
 * numbers lora-packet keeps as buffers). The groups are the KINDS table at
 * the bottom: one checker function per (kind, version). A group fails when
 * any case disagrees or when it holds fewer than MIN_CASES cases, so a
 * generator that silently produced nothing cannot pass.
 *
 * Each checker compares every field of "expect" unconditionally (an empty
 * byte string is compared too). To show that the comparisons are real rather
 * than trusted, the first CORRUPT_CASES cases of every group are run again
 * once per expected field with that one value corrupted; every corruption
 * must be reported as a mismatch.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "lorawan/lorawan.h"

#define MIN_CASES     1000
#define CORRUPT_CASES 8
#define MAX_REPORTED  3
#define WHY_LEN       1024
#define LINE_SHOWN    700
#define ARRAY_LEN(a)  (sizeof(a) / sizeof((a)[0]))

/* One case being checked: its inputs and lora-packet's answers, and the
 * first disagreement found (empty while everything agrees). */
typedef struct check {
    const json_t *in;
    const json_t *expect;
    char why[WHY_LEN];
} check;

static bool failed(const check *k)
{
    return k->why[0] != '\0';
}

/* Records a mismatch; only the first of a case is kept, the rest follow from it. */
__attribute__((format(printf, 2, 3)))
static void fail(check *k, const char *fmt, ...)
{
    if (failed(k))
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(k->why, sizeof(k->why), fmt, ap);
    va_end(ap);
}

static void to_hex(const uint8_t *b, size_t n, char *out, size_t cap)
{
    if (lw_hex_encode(b, n, out, cap) != LW_OK)
        snprintf(out, cap, "(%zu bytes)", n);
}

/* ---- reading the JSON: no silent defaults, a missing field is a mismatch ---- */

static const json_t *field(check *k, const json_t *obj, const char *side, const char *name)
{
    const json_t *v = json_object_get(obj, name);
    if (v == NULL)
        fail(k, "%s.%s: missing", side, name);
    return v;
}

/* Hex string of at most cap bytes into out; false (and a mismatch) otherwise. */
static bool hex_value(check *k, const json_t *v, const char *name, uint8_t *out, size_t cap, size_t *len)
{
    const char *s = json_string_value(v);
    size_t n = s != NULL ? strlen(s) : 0;
    if (s == NULL || n % 2 != 0 || n / 2 > cap || (n > 0 && lw_hex_decode(s, n, out, n / 2) != LW_OK)) {
        fail(k, "%s: not a hex string of at most %zu bytes", name, cap);
        return false;
    }
    *len = n / 2;
    return true;
}

/* A number: a JSON integer, a boolean (0/1) or big-endian hex of up to 8 bytes. */
static bool uint_value(check *k, const json_t *v, const char *name, uint64_t *out)
{
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *out = (uint64_t)json_integer_value(v);
        return true;
    }
    if (json_is_boolean(v)) {
        *out = json_is_true(v) ? 1 : 0;
        return true;
    }
    uint8_t b[8];
    size_t n = 0;
    if (json_is_string(v) && hex_value(k, v, name, b, sizeof(b), &n) && n > 0) {
        *out = 0;
        for (size_t i = 0; i < n; i++)
            *out = (*out << 8) | b[i];
        return true;
    }
    fail(k, "%s: not a number", name);
    return false;
}

static bool in_bytes(check *k, const char *name, uint8_t *out, size_t cap, size_t *len)
{
    const json_t *v = field(k, k->in, "in", name);
    return v != NULL && hex_value(k, v, name, out, cap, len);
}

static uint64_t in_uint(check *k, const char *name)
{
    uint64_t x = 0;
    const json_t *v = field(k, k->in, "in", name);
    if (v != NULL)
        (void)uint_value(k, v, name, &x);
    return x;
}

static bool in_key(check *k, const char *name, lw_key *key)
{
    uint8_t b[LW_KEY_LEN];
    size_t n = 0;
    bool ok = in_bytes(k, name, b, sizeof(b), &n) && n == LW_KEY_LEN && lw_key_from_bytes(key, b, n) == LW_OK;
    if (!ok)
        fail(k, "in.%s: not a 16-byte key", name);
    lw_secure_wipe(b, sizeof(b));
    return ok;
}

/* ---- comparing with lora-packet's answers ---- */

static void expect_bytes(check *k, const char *name, const uint8_t *got, size_t got_len)
{
    uint8_t want[LW_PHY_MAX];
    size_t want_len = 0;
    const json_t *v = field(k, k->expect, "expect", name);
    if (v == NULL || !hex_value(k, v, name, want, sizeof(want), &want_len))
        return;
    if (want_len != got_len || (got_len > 0 && memcmp(want, got, got_len) != 0)) {
        char w[2 * LW_PHY_MAX + 1], g[2 * LW_PHY_MAX + 1];
        to_hex(want, want_len, w, sizeof(w));
        to_hex(got, got_len, g, sizeof(g));
        fail(k, "%s: expected %s, got %s", name, want_len ? w : "(empty)", got_len ? g : "(empty)");
    }
}

static void expect_uint(check *k, const char *name, uint64_t got)
{
    uint64_t want = 0;
    const json_t *v = field(k, k->expect, "expect", name);
    if (v != NULL && uint_value(k, v, name, &want) && want != got)
        fail(k, "%s: expected %llu (0x%llx), got %llu (0x%llx)", name, (unsigned long long)want,
             (unsigned long long)want, (unsigned long long)got, (unsigned long long)got);
}

/* FPort is null in "expect" when the frame has none. */
static void expect_fport(check *k, bool has, uint8_t port)
{
    const json_t *v = field(k, k->expect, "expect", "fport");
    if (v == NULL)
        return;
    if (json_is_null(v)) {
        if (has)
            fail(k, "fport: expected none, got %u", port);
    } else if (!has) {
        fail(k, "fport: expected %" JSON_INTEGER_FORMAT ", got none", json_integer_value(v));
    } else {
        expect_uint(k, "fport", port);
    }
}

static bool expect_ok(check *k, const char *what, lw_status st)
{
    if (st != LW_OK)
        fail(k, "%s: %s", what, lw_strerror(st));
    return st == LW_OK;
}

/* The MIC the core computed must equal lora-packet's, and lw_mic_equal must
 * say so, and must say no to a MIC one bit off. */
static void expect_mic(check *k, const uint8_t got[LW_MIC_LEN], const uint8_t on_wire[LW_MIC_LEN])
{
    expect_bytes(k, "mic", got, LW_MIC_LEN);
    uint8_t off[LW_MIC_LEN];
    memcpy(off, got, sizeof(off));
    off[LW_MIC_LEN - 1] ^= 0x01;
    if (lw_mic_equal(got, on_wire) != 1 || lw_mic_equal(off, on_wire) != 0)
        fail(k, "lw_mic_equal: wrong answer");
}

/* Re-encoding a decoded frame gives back the same bytes. */
static void expect_reencode(check *k, const lw_frame *f, const uint8_t *phy, size_t len)
{
    uint8_t out[LW_PHY_MAX];
    size_t n = 0;
    if (expect_ok(k, "lw_frame_encode", lw_frame_encode(f, out, sizeof(out), &n))
        && (n != len || memcmp(out, phy, len) != 0))
        fail(k, "lw_frame_encode: does not give back the decoded bytes");
}

/* ---- the checkers, one per kind ---- */

/* Join-request: encode from fields, MIC (AppKey in 1.0, NwkKey in 1.1: the
 * same computation), decode. */
static void check_join_request(check *k)
{
    const lw_crypto *c = lw_crypto_software();
    lw_key key;
    if (!in_key(k, "key", &key))
        return;
    lw_frame f = { .mtype = LW_MTYPE_JOIN_REQUEST };
    f.u.join_request.join_eui = in_uint(k, "join_eui");
    f.u.join_request.dev_eui = in_uint(k, "dev_eui");
    f.u.join_request.dev_nonce = (uint16_t)in_uint(k, "dev_nonce");

    uint8_t phy[LW_PHY_MAX], mic[LW_MIC_LEN];
    size_t len = 0;
    if (expect_ok(k, "lw_frame_encode", lw_frame_encode(&f, phy, sizeof(phy), &len))
        && expect_ok(k, "lw_mic_join_request", lw_mic_join_request(c, &key, phy, len - LW_MIC_LEN, mic))
        && expect_ok(k, "lw_frame_set_mic", lw_frame_set_mic(phy, len, mic))) {
        expect_bytes(k, "phy", phy, len);
        lw_frame d;
        if (expect_ok(k, "lw_frame_decode", lw_frame_decode(phy, len, &d))) {
            expect_uint(k, "join_eui", d.u.join_request.join_eui);
            expect_uint(k, "dev_eui", d.u.join_request.dev_eui);
            expect_uint(k, "dev_nonce", d.u.join_request.dev_nonce);
            expect_mic(k, mic, d.mic);
        }
    }
    lw_key_wipe(&key);
}

/* Rejoin-request of any type: decode, re-encode, MIC. */
static void check_rejoin_request(check *k)
{
    const lw_crypto *c = lw_crypto_software();
    lw_key key;
    uint8_t phy[LW_PHY_MAX], mic[LW_MIC_LEN];
    size_t len = 0;
    lw_frame f;
    if (!in_key(k, "key", &key))
        return;
    if (in_bytes(k, "phy", phy, sizeof(phy), &len)
        && expect_ok(k, "lw_frame_decode", lw_frame_decode(phy, len, &f))) {
        const lw_rejoin_request *r = &f.u.rejoin_request;
        if (f.mtype != LW_MTYPE_REJOIN_REQUEST)
            fail(k, "mtype: expected RejoinRequest, got %s", lw_mtype_name(f.mtype));
        expect_uint(k, "rejoin_type", r->type);
        expect_uint(k, "dev_eui", r->dev_eui);
        expect_uint(k, "rj_count", r->rj_count);
        expect_uint(k, r->type == LW_REJOIN_TYPE_1 ? "join_eui" : "net_id",
                    r->type == LW_REJOIN_TYPE_1 ? r->join_eui : r->net_id);
        expect_reencode(k, &f, phy, len);
        if (expect_ok(k, "lw_mic_rejoin_request", lw_mic_rejoin_request(c, &key, phy, len - LW_MIC_LEN, mic)))
            expect_mic(k, mic, f.mic);
    }
    lw_key_wipe(&key);
}

/* Join-accept: build from fields, MIC, encrypt, decrypt, parse, decode. The
 * 1.0 form (OptNeg clear) uses one key for MIC and encryption; the 1.1 form
 * (OptNeg set) a JSIntKey MIC over JoinReqType | JoinEUI | DevNonce first. */
static void check_join_accept(check *k, lw_mac_version v)
{
    const lw_crypto *c = lw_crypto_software();
    lw_key mic_key, enc_key;
    bool keys = v == LW_MAC_1_0 ? in_key(k, "key", &mic_key) && in_key(k, "key", &enc_key)
                                : in_key(k, "mic_key", &mic_key) && in_key(k, "enc_key", &enc_key);
    lw_join_accept ja = {
        .join_nonce = (uint32_t)in_uint(k, "join_nonce"),
        .net_id = (uint32_t)in_uint(k, "net_id"),
        .dev_addr = (uint32_t)in_uint(k, "dev_addr"),
        .dl_settings = (uint8_t)in_uint(k, "dl_settings"),
        .rx_delay = (uint8_t)in_uint(k, "rx_delay"),
    };
    size_t cflist_len = 0;
    if (in_bytes(k, "cflist", ja.cflist, sizeof(ja.cflist), &cflist_len))
        ja.has_cflist = cflist_len == LW_CFLIST_LEN;

    uint8_t plain[LW_JOIN_ACCEPT_CFLIST_LEN], wire[LW_JOIN_ACCEPT_CFLIST_LEN];
    uint8_t back[LW_JOIN_ACCEPT_CFLIST_LEN], mic[LW_MIC_LEN];
    size_t len = 0;
    if (!keys || failed(k) || !expect_ok(k, "lw_join_accept_build", lw_join_accept_build(&ja, plain, sizeof(plain), &len)))
        goto out;
    lw_status st = v == LW_MAC_1_0
        ? lw_mic_join_accept_10(c, &mic_key, plain, len, mic)
        : lw_mic_join_accept_11(c, &mic_key, (uint8_t)in_uint(k, "join_req_type"), in_uint(k, "join_eui"),
                                (uint16_t)in_uint(k, "dev_nonce"), plain, len, mic);
    if (!expect_ok(k, "lw_mic_join_accept", st))
        goto out;
    expect_bytes(k, "mic", mic, sizeof(mic));
    memcpy(plain + len, mic, sizeof(mic));
    len += sizeof(mic);
    expect_bytes(k, "plain", plain, len);

    if (expect_ok(k, "lw_join_accept_encrypt", lw_join_accept_encrypt(c, &enc_key, plain, len, wire, sizeof(wire))))
        expect_bytes(k, "phy", wire, len);

    /* The other way, from lora-packet's wire bytes. */
    size_t wire_len = 0;
    const json_t *phy = field(k, k->expect, "expect", "phy");
    lw_frame f;
    if (phy == NULL || !hex_value(k, phy, "phy", wire, sizeof(wire), &wire_len)
        || !expect_ok(k, "lw_frame_decode", lw_frame_decode(wire, wire_len, &f)))
        goto out;
    if (f.mtype != LW_MTYPE_JOIN_ACCEPT || f.u.join_accept.ciphertext != wire + 1
        || f.u.join_accept.len != wire_len - 1)
        fail(k, "lw_frame_decode: not a join-accept with its ciphertext after the MHDR");
    if (!expect_ok(k, "lw_join_accept_decrypt", lw_join_accept_decrypt(c, &enc_key, wire, wire_len, back, sizeof(back))))
        goto out;
    expect_bytes(k, "plain", back, wire_len);
    lw_join_accept got;
    uint8_t got_mic[LW_MIC_LEN];
    if (expect_ok(k, "lw_join_accept_parse", lw_join_accept_parse(back, wire_len, &got, got_mic))) {
        if (got.join_nonce != ja.join_nonce || got.net_id != ja.net_id || got.dev_addr != ja.dev_addr
            || got.dl_settings != ja.dl_settings || got.rx_delay != ja.rx_delay || got.has_cflist != ja.has_cflist
            || (ja.has_cflist && memcmp(got.cflist, ja.cflist, LW_CFLIST_LEN) != 0))
            fail(k, "lw_join_accept_parse: fields differ from the ones built");
        expect_uint(k, "join_nonce", got.join_nonce);
        expect_uint(k, "net_id", got.net_id);
        expect_uint(k, "dev_addr", got.dev_addr);
        expect_uint(k, "dl_settings", got.dl_settings);
        expect_uint(k, "rx_delay", got.rx_delay);
        expect_bytes(k, "cflist", got.cflist, got.has_cflist ? LW_CFLIST_LEN : 0);
        expect_bytes(k, "mic", got_mic, sizeof(got_mic));
    }
out:
    lw_key_wipe(&mic_key);
    lw_key_wipe(&enc_key);
}

static void check_join_accept_10(check *k) { check_join_accept(k, LW_MAC_1_0); }
static void check_join_accept_11(check *k) { check_join_accept(k, LW_MAC_1_1); }

/* Data frames, up or down: decode every field, re-encode, MIC (with a random
 * ConfFCnt even when ACK is clear: the core must zero it), FRMPayload and,
 * in 1.1, FOpts decryption, all with the 32-bit FCnt. */
static void check_data(check *k, lw_mac_version v)
{
    const lw_crypto *c = lw_crypto_software();
    lw_key k_app, k_net_enc, k_fnwk, k_snwk;  /* 1.0: k_fnwk is NwkSKey, for MIC and encryption */
    memset(&k_net_enc, 0, sizeof(k_net_enc));
    memset(&k_snwk, 0, sizeof(k_snwk));
    bool keys = v == LW_MAC_1_0
        ? in_key(k, "app_s_key", &k_app) && in_key(k, "nwk_s_key", &k_fnwk) && in_key(k, "nwk_s_key", &k_net_enc)
        : in_key(k, "app_s_key", &k_app) && in_key(k, "f_nwk_s_int_key", &k_fnwk)
            && in_key(k, "s_nwk_s_int_key", &k_snwk) && in_key(k, "nwk_s_enc_key", &k_net_enc);
    uint8_t phy[LW_PHY_MAX], buf[LW_PHY_MAX], mic[LW_MIC_LEN];
    size_t len = 0;
    lw_frame f;
    if (!keys || !in_bytes(k, "phy", phy, sizeof(phy), &len)
        || !expect_ok(k, "lw_frame_decode", lw_frame_decode(phy, len, &f)))
        goto out;
    const lw_data_frame *d = &f.u.data;
    bool up = lw_mtype_is_uplink(f.mtype);
    if (!lw_mtype_is_data(f.mtype))
        fail(k, "mtype: %s is not a data MType", lw_mtype_name(f.mtype));
    expect_uint(k, "mtype", f.mtype);
    expect_uint(k, "dev_addr", d->dev_addr);
    expect_uint(k, "fcnt16", d->fcnt);
    expect_uint(k, "adr", d->fctrl.adr);
    expect_uint(k, "adr_ack_req", d->fctrl.adr_ack_req);
    expect_uint(k, "ack", d->fctrl.ack);
    expect_uint(k, "f_pending", d->fctrl.f_pending);
    expect_bytes(k, "fopts", d->fopts, d->fctrl.fopts_len);
    expect_fport(k, d->has_fport, d->fport);
    expect_bytes(k, "frm_payload", d->frm_payload, d->frm_payload_len);
    expect_reencode(k, &f, phy, len);

    lw_data_mic_params p = {
        .dev_addr = d->dev_addr,
        .fcnt = (uint32_t)in_uint(k, "fcnt"),
        .conf_fcnt = (uint16_t)in_uint(k, "conf_fcnt"),
        .tx_dr = (uint8_t)in_uint(k, "tx_dr"),
        .tx_ch = (uint8_t)in_uint(k, "tx_ch"),
    };
    if ((p.fcnt & 0xFFFFu) != d->fcnt)
        fail(k, "in.fcnt: low 16 bits differ from the frame's FCnt");
    size_t msg_len = len - LW_MIC_LEN;
    lw_status st = v == LW_MAC_1_0 ? lw_mic_data_10(c, &k_fnwk, &p, phy, msg_len, mic)
                 : up             ? lw_mic_data_up_11(c, &k_snwk, &k_fnwk, &p, phy, msg_len, mic)
                                  : lw_mic_data_down_11(c, &k_snwk, &p, phy, msg_len, mic);
    if (expect_ok(k, "lw_mic_data", st))
        expect_mic(k, mic, f.mic);

    size_t n = d->has_fport ? d->frm_payload_len : 0;
    const lw_key *frm_key = d->has_fport && lw_frm_payload_key_is_network(d->fport) ? &k_net_enc : &k_app;
    if (n == 0 || expect_ok(k, "lw_frm_payload_crypt",
                            lw_frm_payload_crypt(c, frm_key, up, d->dev_addr, p.fcnt, d->frm_payload, n, buf)))
        expect_bytes(k, "frm_plain", buf, n);

    if (v == LW_MAC_1_1) {
        /* In place, as the header allows; AFCntDown for downlinks on FPort > 0. */
        bool a_fcnt_down = !up && d->has_fport && d->fport > 0;
        n = d->fctrl.fopts_len;
        memcpy(buf, d->fopts, n);
        if (n == 0 || expect_ok(k, "lw_fopts_crypt_11",
                                lw_fopts_crypt_11(c, &k_net_enc, up, a_fcnt_down, d->dev_addr, p.fcnt, buf, n, buf)))
            expect_bytes(k, "fopts_plain", buf, n);
    }
out:
    lw_key_wipe(&k_app);
    lw_key_wipe(&k_net_enc);
    lw_key_wipe(&k_fnwk);
    lw_key_wipe(&k_snwk);
}

static void check_data_10(check *k) { check_data(k, LW_MAC_1_0); }
static void check_data_11(check *k) { check_data(k, LW_MAC_1_1); }

/* A derived key must be a 16-byte software key equal to lora-packet's. */
static void expect_key(check *k, const char *name, const lw_key *key)
{
    if (key->length != LW_KEY_LEN)
        fail(k, "%s: derived key has length %u", name, key->length);
    expect_bytes(k, name, key->material, LW_KEY_LEN);
}

static void check_session_keys_10(check *k)
{
    const lw_crypto *c = lw_crypto_software();
    lw_key root;
    lw_session_keys_10 s;
    if (!in_key(k, "nwk_key", &root))
        return;
    if (expect_ok(k, "lw_derive_session_keys_10",
                  lw_derive_session_keys_10(c, &root, (uint32_t)in_uint(k, "join_nonce"), (uint32_t)in_uint(k, "net_id"),
                                            (uint16_t)in_uint(k, "dev_nonce"), &s))) {
        expect_key(k, "nwk_s_key", &s.nwk_s_key);
        expect_key(k, "app_s_key", &s.app_s_key);
        lw_session_keys_10_release(c, &s);
    }
    lw_key_wipe(&root);
}

static void check_session_keys_11(check *k)
{
    const lw_crypto *c = lw_crypto_software();
    lw_key nwk, app;
    lw_session_keys_11 s;
    if (!in_key(k, "nwk_key", &nwk))
        return;
    if (in_key(k, "app_key", &app)
        && expect_ok(k, "lw_derive_session_keys_11",
                     lw_derive_session_keys_11(c, &nwk, &app, (uint32_t)in_uint(k, "join_nonce"), in_uint(k, "join_eui"),
                                               (uint16_t)in_uint(k, "dev_nonce"), &s))) {
        expect_key(k, "f_nwk_s_int_key", &s.f_nwk_s_int_key);
        expect_key(k, "s_nwk_s_int_key", &s.s_nwk_s_int_key);
        expect_key(k, "nwk_s_enc_key", &s.nwk_s_enc_key);
        expect_key(k, "app_s_key", &s.app_s_key);
        lw_session_keys_11_release(c, &s);
    }
    lw_key_wipe(&nwk);
    lw_key_wipe(&app);
}

static void check_js_keys(check *k)
{
    const lw_crypto *c = lw_crypto_software();
    lw_key nwk;
    lw_js_keys s;
    if (!in_key(k, "nwk_key", &nwk))
        return;
    if (expect_ok(k, "lw_derive_js_keys", lw_derive_js_keys(c, &nwk, in_uint(k, "dev_eui"), &s))) {
        expect_key(k, "js_int_key", &s.js_int_key);
        expect_key(k, "js_enc_key", &s.js_enc_key);
        lw_js_keys_release(c, &s);
    }
    lw_key_wipe(&nwk);
}

/* ---- the table: (kind, version) -> checker; gen.js has the same list ---- */

typedef void (*checker_fn)(check *k);

static const struct kind {
    const char *kind;
    const char *ver;
    checker_fn fn;
} KINDS[] = {
    { "join_request",     "1.0", check_join_request },
    { "join_request",     "1.1", check_join_request },
    { "rejoin_request_0", "1.1", check_rejoin_request },
    { "rejoin_request_1", "1.1", check_rejoin_request },
    { "rejoin_request_2", "1.1", check_rejoin_request },
    { "join_accept",      "1.0", check_join_accept_10 },
    { "join_accept",      "1.1", check_join_accept_11 },
    { "data_up",          "1.0", check_data_10 },
    { "data_down",        "1.0", check_data_10 },
    { "data_up",          "1.1", check_data_11 },
    { "data_down",        "1.1", check_data_11 },
    { "session_keys",     "1.0", check_session_keys_10 },
    { "session_keys",     "1.1", check_session_keys_11 },
    { "js_keys",          "1.1", check_js_keys },
};

typedef struct group_result {
    unsigned cases;
    unsigned mismatches;
    unsigned corrupted;   /* cases run again with one expectation corrupted */
    char report[MAX_REPORTED][WHY_LEN + LINE_SHOWN + 64];
} group_result;

typedef struct totals {
    unsigned lines;
    unsigned bad_lines;
    unsigned corruptions;
    unsigned corruptions_missed;
    char bad[MAX_REPORTED][WHY_LEN];
    char missed[MAX_REPORTED][WHY_LEN];
} totals;

static void note(char list[][WHY_LEN], unsigned count, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void note(char list[][WHY_LEN], unsigned count, const char *fmt, ...)
{
    if (count >= MAX_REPORTED)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(list[count], WHY_LEN, fmt, ap);
    va_end(ap);
}

/* Replaces v by a value that differs from it: the last hex digit's low bit
 * flipped, a number or boolean changed, an empty string or null given a
 * value. NULL if v is of no such type. */
static json_t *corrupted(const json_t *v)
{
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t n = strlen(s);
        if (n == 0)
            return json_string("00");
        char *t = strdup(s);
        if (t == NULL)
            return NULL;
        static const char digits[] = "0123456789abcdef";
        const char *p = strchr(digits, t[n - 1] | 0x20);
        t[n - 1] = p != NULL ? digits[(p - digits) ^ 1] : '0';
        json_t *r = json_string(t);
        free(t);
        return r;
    }
    if (json_is_integer(v))
        return json_integer(json_integer_value(v) ^ 1);
    if (json_is_boolean(v))
        return json_boolean(!json_is_true(v));
    if (json_is_null(v))
        return json_integer(0);
    return NULL;
}

/* Runs the case again once per expected value, that value corrupted: the
 * checker must notice each time. */
static void corrupt_each(const struct kind *kd, const json_t *in, const json_t *expect, totals *t)
{
    const char *name;
    json_t *value;
    json_object_foreach((json_t *)expect, name, value) {
        json_t *bad = json_deep_copy(expect);
        json_t *nv = corrupted(value);
        if (bad == NULL || nv == NULL || json_object_set_new(bad, name, nv) != 0) {
            json_decref(bad);
            note(t->missed, t->corruptions_missed++, "%s %s: cannot corrupt expect.%s", kd->kind, kd->ver, name);
            continue;
        }
        check k = { .in = in, .expect = bad };
        kd->fn(&k);
        t->corruptions++;
        if (!failed(&k))
            note(t->missed, t->corruptions_missed++, "%s %s: corrupted expect.%s went unnoticed", kd->kind, kd->ver,
                 name);
        json_decref(bad);
    }
}

static const struct kind *find_kind(const char *kind, const char *ver)
{
    for (size_t i = 0; i < ARRAY_LEN(KINDS); i++)
        if (strcmp(KINDS[i].kind, kind) == 0 && strcmp(KINDS[i].ver, ver) == 0)
            return &KINDS[i];
    return NULL;
}

static void run_line(char *line, group_result *results, totals *t)
{
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    if (n == 0)
        return;
    t->lines++;
    json_error_t err;
    json_t *tc = json_loads(line, 0, &err);
    const char *kind = json_string_value(json_object_get(tc, "kind"));
    const char *ver = json_string_value(json_object_get(tc, "ver"));
    if (kind != NULL && strcmp(kind, "meta") == 0) {
        printf("# cases from seed %" JSON_INTEGER_FORMAT ", lora-packet %s\n", json_integer_value(json_object_get(tc, "seed")),
               json_string_value(json_object_get(tc, "lora_packet")));
        json_decref(tc);
        return;
    }
    const struct kind *kd = kind != NULL && ver != NULL ? find_kind(kind, ver) : NULL;
    const json_t *in = json_object_get(tc, "in");
    const json_t *expect = json_object_get(tc, "expect");
    if (kd == NULL || !json_is_object(in) || !json_is_object(expect)) {
        note(t->bad, t->bad_lines++, "line %u: %s", t->lines,
             tc == NULL ? err.text : kd == NULL ? "unknown kind or version" : "no \"in\" or \"expect\" object");
        json_decref(tc);
        return;
    }
    group_result *g = &results[kd - KINDS];
    check k = { .in = in, .expect = expect };
    kd->fn(&k);
    g->cases++;
    if (failed(&k)) {
        if (g->mismatches < MAX_REPORTED)
            snprintf(g->report[g->mismatches], sizeof(g->report[0]), "line %u: %s\n#     case: %.*s%s", t->lines,
                     k.why, LINE_SHOWN, line, n > LINE_SHOWN ? "..." : "");
        g->mismatches++;
    } else if (g->corrupted < CORRUPT_CASES) {
        g->corrupted++;
        corrupt_each(kd, in, expect, t);
    }
    json_decref(tc);
}

int main(int argc, char **argv)
{
    FILE *fp = stdin;
    if (argc > 2 || (argc == 2 && (fp = fopen(argv[1], "r")) == NULL)) {
        fprintf(stderr, "usage: %s [cases.jsonl]   (default: stdin)%s%s\n", argv[0], argc == 2 ? ": " : "",
                argc == 2 ? strerror(errno) : "");
        return 2;
    }
    static group_result results[ARRAY_LEN(KINDS)];
    static totals t;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, fp) != -1)
        run_line(line, results, &t);
    free(line);
    if (fp != stdin)
        fclose(fp);

    unsigned test = 0, not_ok = 0;
    printf("1..%zu\n", ARRAY_LEN(KINDS) + 2);
    for (size_t i = 0; i < ARRAY_LEN(KINDS); i++) {
        const group_result *g = &results[i];
        bool ok = g->mismatches == 0 && g->cases >= MIN_CASES;
        not_ok += !ok;
        printf("%sok %u - %s %s (%u cases)\n", ok ? "" : "not ", ++test, KINDS[i].kind, KINDS[i].ver, g->cases);
        if (g->cases < MIN_CASES)
            printf("#   fewer than %d cases\n", MIN_CASES);
        if (g->mismatches > 0)
            printf("#   %u of %u cases disagree with lora-packet; the first:\n", g->mismatches, g->cases);
        for (unsigned j = 0; j < g->mismatches && j < MAX_REPORTED; j++)
            printf("#   %s\n", g->report[j]);
    }

    bool ok = t.corruptions_missed == 0 && t.corruptions > 0;
    not_ok += !ok;
    printf("%sok %u - corrupted expectations are caught (%u of %u)\n", ok ? "" : "not ", ++test,
           t.corruptions - t.corruptions_missed, t.corruptions);
    for (unsigned j = 0; j < t.corruptions_missed && j < MAX_REPORTED; j++)
        printf("#   %s\n", t.missed[j]);

    ok = t.bad_lines == 0;
    not_ok += !ok;
    printf("%sok %u - input well formed (%u lines, %u unusable)\n", ok ? "" : "not ", ++test, t.lines, t.bad_lines);
    for (unsigned j = 0; j < t.bad_lines && j < MAX_REPORTED; j++)
        printf("#   %s\n", t.bad[j]);
    return not_ok == 0 ? 0 : 1;
}

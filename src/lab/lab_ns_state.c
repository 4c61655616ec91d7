/*
 * lab_ns_state.c - the lab NS's sessions on disk (`state_file`), so that a
 * network server killed and started again still knows its devices, as a
 * production NS keeps them in its database. Without it a restart forgets
 * every session and each device must notice (LinkCheckReq) and join again.
 *
 * The file is a journal of JSON lines (docs/lab-ns.md, "State file"):
 *   {"session":{...}}   a join: identity, DevAddr, the session keys wrapped
 *                       (RFC 3394) under the NS's KEK, the AppSKey envelope
 *                       as the Join Server sent it, the next NwkAddr
 *   {"counters":{...}}  after each accepted uplink: FCntUp, the downlink
 *                       counters, the last data rate; also says the device
 *                       uses this session (the others of its DevEUI go)
 * Opening replays it, then rewrites it as one session and one counters line
 * per live session (atomically: temporary file, fsync, rename) and appends
 * from there. A line is written with one write(2), without fsync: the page
 * cache survives the process being killed; a power cut may lose the last
 * lines (docs/lab-ns.md says what that costs). A last line without its
 * newline (a write cut short) is ignored; any other bad line refuses the
 * start, naming the line: a damaged file, or one written under another KEK.
 */
#include "lab/lab_ns_internal.h"
#include "lab/lab_bi.h"
#include "lorawan/lw_crypto.h"
#include "lorawan/lw_secure.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LINE_MAX_LEN 4096

static json_t *hex_json(const uint8_t *b, size_t n)
{
    char h[2 * BI_SESSION_KEY_ID_MAX + 1];
    if (n > BI_SESSION_KEY_ID_MAX || lw_hex_encode(b, n, h, sizeof h) != LW_OK)
        return NULL;
    return json_string(h);
}

static json_t *uint_hex(uint64_t v, unsigned digits)
{
    char h[17];
    snprintf(h, sizeof h, "%0*llX", (int)digits, (unsigned long long)v);
    return json_string(h);
}

/* One session key wrapped under the NS's KEK: what the Join Server sent,
 * since RFC 3394 is deterministic. */
static json_t *wrapped_json(const lab_ns *ns, const lw_key *k)
{
    uint8_t w[BI_WRAPPED_KEY_LEN];
    if (lw_key_wrap(lw_crypto_software(), &ns->cfg.kek, k, w, sizeof w) != LW_OK)
        return NULL;
    json_t *j = hex_json(w, sizeof w);
    lw_secure_wipe(w, sizeof w);
    return j;
}

/* json_dumpb into our own buffer: the text never comes from jansson's
 * allocator, which a program may have replaced (the CLI wipes on free). */
static lab_status append(lab_ns *ns, json_t *rec)
{
    lab_status st = LAB_ERR_NOMEM;
    char *line = rec != NULL ? malloc(LINE_MAX_LEN) : NULL;
    if (line != NULL) {
        size_t n = json_dumpb(rec, line, LINE_MAX_LEN - 1, JSON_COMPACT);
        if (n == 0 || n >= LINE_MAX_LEN - 1) {
            st = LAB_ERR_BUFFER;
        } else {
            line[n] = '\n';
            st = write(ns->state_fd, line, n + 1) == (ssize_t)(n + 1) ? LAB_OK : LAB_ERR_IO;
        }
        free(line);
    }
    json_decref(rec);
    return st;
}

static json_t *session_json(const lab_ns *ns, const lab_session *s)
{
    json_t *keys = json_array();
    if (keys == NULL)
        return NULL;
    json_array_append_new(keys, wrapped_json(ns, &s->f_nwk_s_int_key));
    if (s->v11) {
        json_array_append_new(keys, wrapped_json(ns, &s->s_nwk_s_int_key));
        json_array_append_new(keys, wrapped_json(ns, &s->nwk_s_enc_key));
    }
    json_t *app = json_null();
    if (s->app_s_key.present && !s->app_s_key.clear && s->app_s_key.aes_key_len == BI_WRAPPED_KEY_LEN)
        app = json_pack("{s:s,s:o}", "kek_label", s->app_s_key.kek_label, "aes_key",
                        hex_json(s->app_s_key.aes_key, s->app_s_key.aes_key_len));
    return json_pack("{s:{s:I,s:o,s:o,s:o,s:b,s:o,s:o,s:o,s:I}}", "session", "seq", (json_int_t)s->seq, "dev_eui",
                     uint_hex(s->dev_eui, 16), "join_eui", uint_hex(s->join_eui, 16), "dev_addr",
                     uint_hex(s->dev_addr, 8), "v11", s->v11, "nwk_keys", keys, "app_s_key", app,
                     "session_key_id", hex_json(s->session_key_id, s->session_key_id_len), "next_nwk_addr",
                     (json_int_t)ns->next_nwk_addr);
}

static json_t *counters_json(const lab_session *s)
{
    return json_pack("{s:{s:I,s:b,s:I,s:I,s:I,s:i}}", "counters", "seq", (json_int_t)s->seq, "has_up", s->has_up,
                     "fcnt_up_next", (json_int_t)s->fcnt_up_next, "nfcnt_down", (json_int_t)s->nfcnt_down,
                     "afcnt_down", (json_int_t)s->afcnt_down, "last_dr", (int)s->last_dr);
}

/* Every failure is counted and logged: the NS goes on, with a restart then
 * forgetting what was not written. */
static void record(lab_ns *ns, json_t *rec, uint64_t dev_eui)
{
    if (ns->state_fd < 0) {
        json_decref(rec);
        return;
    }
    if (append(ns, rec) != LAB_OK) {
        ns->stats.state_write_failures++;
        lab_ns_log(ns, "state not written", dev_eui, "%s: %s", ns->cfg.state_file, strerror(errno));
    }
}

void lab_ns_state_session(lab_ns *ns, const lab_session *s)
{
    if (ns->state_fd >= 0)
        record(ns, session_json(ns, s), s->dev_eui);
}

void lab_ns_state_counters(lab_ns *ns, const lab_session *s)
{
    if (ns->state_fd >= 0)
        record(ns, counters_json(s), s->dev_eui);
}

/* ---- reading ---- */

static lab_session *by_seq(lab_ns *ns, uint64_t seq)
{
    for (size_t i = 0; i < ns->n_sessions; i++)
        if (ns->sessions[i]->seq == seq)
            return ns->sessions[i];
    return NULL;
}

static bool hex_field(json_t *o, const char *k, uint8_t *out, size_t n, size_t max, size_t *len)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s != NULL && lab_hex_parse(s, strlen(s), out, n, max, len) == LAB_OK;
}

static bool uint_field(json_t *o, const char *k, unsigned digits, uint64_t *out)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s != NULL && lab_hex_uint(s, strlen(s), digits, out) == LAB_OK;
}

static bool unwrap_key(const lab_ns *ns, json_t *keys, size_t i, lw_key *out)
{
    const char *s = json_string_value(json_array_get(keys, i));
    uint8_t w[BI_WRAPPED_KEY_LEN];
    bool ok = s != NULL && lab_hex_parse(s, strlen(s), w, sizeof w, 0, NULL) == LAB_OK &&
              lw_key_unwrap(lw_crypto_software(), &ns->cfg.kek, w, sizeof w, out) == LW_OK;
    lw_secure_wipe(w, sizeof w);
    return ok;
}

static lab_status load_session(lab_ns *ns, json_t *o)
{
    lab_session *s = calloc(1, sizeof *s);
    if (s == NULL)
        return LAB_ERR_NOMEM;
    uint64_t addr = 0;
    json_t *keys = json_object_get(o, "nwk_keys"), *app = json_object_get(o, "app_s_key");
    s->v11 = json_is_true(json_object_get(o, "v11"));
    json_int_t seq = json_integer_value(json_object_get(o, "seq"));
    json_int_t next = json_integer_value(json_object_get(o, "next_nwk_addr"));
    bool ok = seq > 0 && next > 0 && next <= 0x2000000 && uint_field(o, "dev_eui", 16, &s->dev_eui) &&
              uint_field(o, "join_eui", 16, &s->join_eui) && uint_field(o, "dev_addr", 8, &addr) &&
              json_array_size(keys) == (s->v11 ? 3u : 1u) && unwrap_key(ns, keys, 0, &s->f_nwk_s_int_key) &&
              hex_field(o, "session_key_id", s->session_key_id, 0, BI_SESSION_KEY_ID_MAX, &s->session_key_id_len);
    if (ok && s->v11)
        ok = unwrap_key(ns, keys, 1, &s->s_nwk_s_int_key) && unwrap_key(ns, keys, 2, &s->nwk_s_enc_key);
    else if (ok)
        s->s_nwk_s_int_key = s->nwk_s_enc_key = s->f_nwk_s_int_key;
    if (ok && json_is_object(app)) {
        const char *label = json_string_value(json_object_get(app, "kek_label"));
        ok = label != NULL && strlen(label) > 0 && strlen(label) <= BI_KEK_LABEL_MAX &&
             hex_field(app, "aes_key", s->app_s_key.aes_key, BI_WRAPPED_KEY_LEN, 0, NULL);
        if (ok) {
            strcpy(s->app_s_key.kek_label, label);
            s->app_s_key.present = true;
            s->app_s_key.aes_key_len = BI_WRAPPED_KEY_LEN;
        }
    }
    if (!ok || by_seq(ns, (uint64_t)seq) != NULL) {
        lw_secure_wipe(s, sizeof *s);
        free(s);
        return LAB_ERR_FORMAT;
    }
    s->dev_addr = (uint32_t)addr;
    s->seq = (uint64_t)seq;
    if (s->seq > ns->session_seq)
        ns->session_seq = s->seq;
    if ((uint32_t)next > ns->next_nwk_addr)
        ns->next_nwk_addr = (uint32_t)next;
    lab_status st = lab_ns_session_add(ns, s);
    if (st != LAB_OK) {
        lw_secure_wipe(s, sizeof *s);
        free(s);
    }
    return st;
}

static lab_status load_counters(lab_ns *ns, json_t *o)
{
    json_int_t seq = json_integer_value(json_object_get(o, "seq"));
    json_int_t up = json_integer_value(json_object_get(o, "fcnt_up_next"));
    json_int_t nd = json_integer_value(json_object_get(o, "nfcnt_down"));
    json_int_t ad = json_integer_value(json_object_get(o, "afcnt_down"));
    json_int_t dr = json_integer_value(json_object_get(o, "last_dr"));
    lab_session *s = by_seq(ns, (uint64_t)seq);
    if (s == NULL || up < 0 || up > UINT32_MAX || nd < 0 || nd > UINT32_MAX || ad < 0 || ad > UINT32_MAX || dr < 0 ||
        dr > 15)
        return LAB_ERR_FORMAT;
    /* Counters only go forward, whatever the order of the lines. */
    s->has_up = s->has_up || json_is_true(json_object_get(o, "has_up"));
    if ((uint32_t)up > s->fcnt_up_next)
        s->fcnt_up_next = (uint32_t)up;
    if ((uint32_t)nd > s->nfcnt_down)
        s->nfcnt_down = (uint32_t)nd;
    if ((uint32_t)ad > s->afcnt_down)
        s->afcnt_down = (uint32_t)ad;
    s->last_dr = (uint8_t)dr;
    if (s->has_up)
        lab_ns_session_promote(ns, s);
    return LAB_OK;
}

/* Rewrites the file with what was loaded, then keeps it open to append. */
static lab_status compact(lab_ns *ns, char *err, size_t cap)
{
    char tmp[sizeof ns->cfg.state_file + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", ns->cfg.state_file);
    ns->state_fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (ns->state_fd < 0) {
        snprintf(err, cap, "state_file %s: %s", tmp, strerror(errno));
        return LAB_ERR_IO;
    }
    lab_status st = LAB_OK;
    for (size_t i = 0; i < ns->n_sessions && st == LAB_OK; i++) {
        st = append(ns, session_json(ns, ns->sessions[i]));
        if (st == LAB_OK)
            st = append(ns, counters_json(ns->sessions[i]));
    }
    if (st == LAB_OK && fsync(ns->state_fd) != 0)
        st = LAB_ERR_IO;
    close(ns->state_fd);
    ns->state_fd = -1;
    if (st == LAB_OK && rename(tmp, ns->cfg.state_file) != 0)
        st = LAB_ERR_IO;
    if (st == LAB_OK)
        ns->state_fd = open(ns->cfg.state_file, O_WRONLY | O_APPEND | O_CLOEXEC);
    if (st != LAB_OK || ns->state_fd < 0) {
        unlink(tmp);
        snprintf(err, cap, "state_file %s: %s", ns->cfg.state_file, strerror(errno));
        return LAB_ERR_IO;
    }
    return LAB_OK;
}

lab_status lab_ns_state_open(lab_ns *ns, char *err, size_t cap)
{
    ns->state_fd = -1;
    if (ns->cfg.state_file[0] == '\0')
        return LAB_OK;
    FILE *fp = fopen(ns->cfg.state_file, "re");
    if (fp == NULL && errno != ENOENT) {
        snprintf(err, cap, "state_file %s: %s", ns->cfg.state_file, strerror(errno));
        return LAB_ERR_IO;
    }
    char *line = malloc(LINE_MAX_LEN);
    lab_status st = line == NULL ? LAB_ERR_NOMEM : LAB_OK;
    unsigned ln = 0, bad_at = 0;
    bool torn = false;
    while (st == LAB_OK && fp != NULL && fgets(line, LINE_MAX_LEN, fp) != NULL) {
        ln++;
        size_t n = strlen(line);
        if (n == 0 || line[n - 1] != '\n') {
            /* Each record goes in one write(2) ending in a newline: a line
             * without one is the end of a write cut short. */
            torn = true;
            bad_at = ln;
            if (fgets(line, LINE_MAX_LEN, fp) != NULL)
                st = LAB_ERR_FORMAT; /* more after it: not the end */
            break;
        }
        json_t *rec = json_loadb(line, n - 1, JSON_REJECT_DUPLICATES, NULL);
        json_t *o;
        lab_status r = LAB_ERR_FORMAT;
        if ((o = json_object_get(rec, "session")) != NULL)
            r = load_session(ns, o);
        else if ((o = json_object_get(rec, "counters")) != NULL)
            r = load_counters(ns, o);
        json_decref(rec);
        if (r != LAB_OK) {
            st = r == LAB_ERR_NOMEM ? r : LAB_ERR_FORMAT;
            bad_at = ln;
        }
    }
    lw_secure_wipe(line, line != NULL ? LINE_MAX_LEN : 0);
    free(line);
    if (fp != NULL)
        fclose(fp);
    if (st != LAB_OK) {
        snprintf(err, cap, "state_file %s: line %u is not a session or counters record the NS wrote under this "
                 "kek_file (a damaged file, or another NS's)", ns->cfg.state_file, bad_at);
        return st == LAB_ERR_NOMEM ? st : LAB_ERR_CONFIG;
    }
    if (torn)
        lab_ns_log(ns, "state torn", 0, "%s: the last line (%u) was cut short and is ignored", ns->cfg.state_file,
                   bad_at);
    ns->stats.state_sessions_loaded = ns->n_sessions;
    return compact(ns, err, cap);
}

void lab_ns_state_close(lab_ns *ns)
{
    if (ns->state_fd >= 0)
        close(ns->state_fd);
    ns->state_fd = -1;
}

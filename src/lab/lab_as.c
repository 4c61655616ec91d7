/*
 * lab_as.c - the lab application server's engine (lab_as.h): one POST
 * /uplink from the network server from body to answer, the per-device
 * history of application uplinks, the bearer check and the counters.
 *
 * One uplink, in order:
 *   1. parse the body (lab_as_msg.c); a malformed one is the only 400;
 *   2. unwrap the AppSKey envelope under the AS's KEK into a stack key;
 *      without it nothing can be read or answered: log, count, 200 {};
 *   3. decrypt FRMPayload; an application port goes to the history;
 *   4. relay to the IDM (every port: each uplink is a class A window):
 *      the FPort 200 frame in clear of LoRaWAN (still MLS ciphertext, which
 *      only the IDM and the SE can open), "" otherwise;
 *   5. a frame in the IDM's answer is encrypted under NextAFCntDown and
 *      becomes the `Downlinks` of the answer;
 *   6. the AppSKey and the clear payload are wiped.
 * The IDM's failures (unreachable, 404 for an SE this tenant does not hold,
 * any other status) are the AS's business, not the NS's: logged, counted,
 * and the NS still gets 200 {}.
 *
 * Why the key is unwrapped per uplink and never cached: the envelope rides
 * in every uplink (docs/lab-ns.md), a software unwrap costs microseconds,
 * and a key that is never kept cannot leak from a heap dump or outlive its
 * session. The history and the counters are the engine's only state, under
 * one mutex; the relay call runs outside it.
 */
#include "lab/lab_as.h"
#include "lab/lab_bi.h"
#include "lorawan/lorawan.h"

#include <ctype.h>
#include <jansson.h>
#include <mbedtls/sha256.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct as_entry {
    uint32_t fcnt;
    uint8_t fport;
    uint8_t len;
    uint8_t payload[LAB_AS_PAYLOAD_MAX];
    char recv_time[40];
} as_entry;

typedef struct as_device {
    uint64_t dev_eui;
    uint64_t total;      /* application uplinks ever kept */
    uint64_t last_seen;  /* the engine's sequence number at the last uplink */
    size_t next, count;  /* ring[next] is written next */
    as_entry ring[LAB_AS_HISTORY];
} as_device;

struct lab_as {
    lab_as_config cfg;
    lab_as_io io;
    pthread_mutex_t lock;
    lab_as_stats stats;
    as_device **devices;
    size_t n_devices;
    uint64_t seq;
};

static void note(lab_as *as, const char *level, const char *event, uint64_t dev_eui, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void note(lab_as *as, const char *level, const char *event, uint64_t dev_eui, const char *fmt, ...)
{
    if (as->io.log == NULL)
        return;
    char detail[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    as->io.log(as->io.user, level, event, dev_eui, detail);
}

static void count(lab_as *as, uint64_t *counter)
{
    pthread_mutex_lock(&as->lock);
    (*counter)++;
    pthread_mutex_unlock(&as->lock);
}

lab_status lab_as_new(const lab_as_config *cfg, const lab_as_io *io, lab_as **out)
{
    if (cfg == NULL || io == NULL || out == NULL || (cfg->idm_url[0] && io->idm_post == NULL))
        return LAB_ERR_ARGUMENT;
    lab_as *as = calloc(1, sizeof(*as));
    if (as == NULL)
        return LAB_ERR_NOMEM;
    as->devices = calloc(LAB_AS_DEVICES_MAX, sizeof(*as->devices));
    if (as->devices == NULL) {
        free(as);
        return LAB_ERR_NOMEM;
    }
    as->cfg = *cfg;
    as->io = *io;
    pthread_mutex_init(&as->lock, NULL);
    *out = as;
    return LAB_OK;
}

void lab_as_free(lab_as *as)
{
    if (as == NULL)
        return;
    for (size_t i = 0; i < as->n_devices; i++) {
        lw_secure_wipe(as->devices[i], sizeof(*as->devices[i])); /* application data: not a key, but not ours */
        free(as->devices[i]);
    }
    free(as->devices);
    pthread_mutex_destroy(&as->lock);
    lab_as_config_wipe(&as->cfg);
    lw_secure_wipe(as, sizeof(*as));
    free(as);
}

bool lab_as_authorised(lab_as *as, const char *h)
{
    bool ok = false;
    if (h != NULL && strncmp(h, "Bearer ", 7) == 0) {
        uint8_t got[32];
        (void)mbedtls_sha256_ret((const unsigned char *)h + 7, strlen(h + 7), got, 0);
        ok = lw_secure_equal(got, as->cfg.token_sha256, sizeof(got)) == 1;
        lw_secure_wipe(got, sizeof(got));
    }
    if (!ok)
        count(as, &as->stats.unauthorised);
    return ok;
}

/* ---- the history ------------------------------------------------------------ */

static void iso_time(uint64_t now_ms, char out[40])
{
    time_t t = (time_t)(now_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    size_t n = strftime(out, 40, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 40 - n, ".%03uZ", (unsigned)(now_ms % 1000));
}

/* The device's history, made when new; when the table is full the device
 * heard least recently makes room. Called with the lock held. */
static as_device *device_for(lab_as *as, uint64_t dev_eui, bool create)
{
    for (size_t i = 0; i < as->n_devices; i++)
        if (as->devices[i]->dev_eui == dev_eui)
            return as->devices[i];
    if (!create)
        return NULL;
    if (as->n_devices < LAB_AS_DEVICES_MAX) {
        as_device *d = calloc(1, sizeof(*d));
        if (d == NULL)
            return NULL;
        as->devices[as->n_devices++] = d;
        as->stats.devices = as->n_devices;
        d->dev_eui = dev_eui;
        return d;
    }
    size_t oldest = 0;
    for (size_t i = 1; i < as->n_devices; i++)
        if (as->devices[i]->last_seen < as->devices[oldest]->last_seen)
            oldest = i;
    as_device *d = as->devices[oldest];
    lw_secure_wipe(d, sizeof(*d));
    d->dev_eui = dev_eui;
    return d;
}

static void keep(lab_as *as, const lab_as_uplink *up, const uint8_t *plain, uint64_t now_ms)
{
    pthread_mutex_lock(&as->lock);
    as->stats.app_uplinks++;
    as_device *d = device_for(as, up->dev_eui, true);
    if (d != NULL) {
        as_entry *e = &d->ring[d->next];
        e->fcnt = up->fcnt;
        e->fport = up->fport;
        e->len = (uint8_t)up->frm_len;
        memcpy(e->payload, plain, up->frm_len);
        if (up->recv_time[0])
            memcpy(e->recv_time, up->recv_time, sizeof(e->recv_time));
        else
            iso_time(now_ms, e->recv_time);
        d->next = (d->next + 1) % LAB_AS_HISTORY;
        if (d->count < LAB_AS_HISTORY)
            d->count++;
        d->total++;
        d->last_seen = ++as->seq;
    }
    pthread_mutex_unlock(&as->lock);
    if (d == NULL)
        note(as, "warn", "history full", up->dev_eui, "out of memory: uplink FCnt %u not kept", (unsigned)up->fcnt);
}

static int hex_field(json_t *o, const char *k, const uint8_t *b, size_t n)
{
    char hex[2 * LAB_AS_PAYLOAD_MAX + 1] = "";
    if (n > 0 && lw_hex_encode(b, n, hex, sizeof(hex)) != LW_OK)
        return -1;
    for (char *p = hex; *p; p++)
        *p = (char)toupper((unsigned char)*p);
    return json_object_set_new(o, k, json_string(hex));
}

/* The text of o in a malloc()ed buffer (not jansson's: a process may have
 * given jansson its own allocator, json_set_alloc_funcs), and o released. */
static char *dump(json_t *o)
{
    size_t n = o != NULL ? json_dumpb(o, NULL, 0, JSON_COMPACT) : 0;
    char *s = n > 0 ? malloc(n + 1) : NULL;
    if (s != NULL) {
        json_dumpb(o, s, n, JSON_COMPACT);
        s[n] = 0;
    }
    json_decref(o);
    return s;
}

static char *error_body(const char *msg)
{
    json_t *o = json_object();
    if (o != NULL)
        json_object_set_new(o, "Error", json_string(msg));
    return dump(o);
}

int lab_as_uplinks_get(lab_as *as, const char *text, char **out)
{
    uint64_t eui = 0;
    *out = NULL;
    if (text == NULL || lab_hex_uint(text, strlen(text), 16, &eui) != LAB_OK) {
        *out = error_body("DevEUI: 16 hex digits");
        return *out ? 400 : 500;
    }
    pthread_mutex_lock(&as->lock);
    as_device *d = device_for(as, eui, false);
    json_t *o = NULL;
    int err = 0;
    if (d != NULL) {
        char e[17];
        snprintf(e, sizeof(e), "%016llX", (unsigned long long)eui);
        o = json_object();
        json_t *list = json_array();
        err = o == NULL || list == NULL;
        err |= json_object_set_new(o, "DevEUI", json_string(e));
        err |= json_object_set_new(o, "Total", json_integer((json_int_t)d->total));
        err |= json_object_set_new(o, "Uplinks", list);
        size_t first = (d->next + LAB_AS_HISTORY - d->count) % LAB_AS_HISTORY;
        for (size_t i = 0; i < d->count && !err; i++) {
            const as_entry *en = &d->ring[(first + i) % LAB_AS_HISTORY];
            json_t *u = json_object();
            err |= u == NULL || json_array_append_new(list, u);
            err |= json_object_set_new(u, "FCnt", json_integer(en->fcnt));
            err |= json_object_set_new(u, "FPort", json_integer(en->fport));
            err |= hex_field(u, "FRMPayload", en->payload, en->len);
            err |= json_object_set_new(u, "RecvTime", json_string(en->recv_time));
        }
    }
    pthread_mutex_unlock(&as->lock);
    if (d == NULL) {
        *out = error_body("no uplink from this DevEUI");
        return *out ? 404 : 500;
    }
    if (err) {
        json_decref(o);
        return 500;
    }
    *out = dump(o);
    return *out ? 200 : 500;
}

/* ---- POST /uplink ----------------------------------------------------------- */

/* Steps 4 and 5: the relay. Writes the answer to the NS into out[cap]. */
static void relay(lab_as *as, const lab_as_uplink *up, const lw_key *ask, const uint8_t *plain, char *out,
                  size_t cap)
{
    if (up->max_downlink == 0) {
        note(as, "warn", "relay skipped", up->dev_eui, "the uplink has no MaxDownlinkPayload");
        count(as, &as->stats.relay_errors);
        return;
    }
    char url[LAB_AS_URL_MAX + 64];
    snprintf(url, sizeof(url), "%s/api/v1/ses/%016llX/relay", as->cfg.idm_url, (unsigned long long)up->dev_eui);
    bool mls = up->fport == LAB_AS_MLS_FPORT;
    char body[2 * LAB_AS_PAYLOAD_MAX + 64];
    size_t blen = 0;
    char *ans = malloc(LAB_AS_ANSWER_MAX);
    long http = 0;
    size_t alen = 0;
    lab_status st = ans == NULL ? LAB_ERR_NOMEM
                                : lab_as_relay_body(plain, mls ? up->frm_len : 0, up->max_downlink, body,
                                                    sizeof(body), &blen);
    if (st == LAB_OK)
        st = as->io.idm_post(as->io.user, url, body, blen, &http, ans, LAB_AS_ANSWER_MAX, &alen);
    uint8_t frame[LAB_AS_PAYLOAD_MAX];
    size_t flen = 0;
    if (st != LAB_OK || http != 200) {
        bool refused = st == LAB_OK && http == 404;
        count(as, refused ? &as->stats.relay_refused : &as->stats.relay_errors);
        if (refused)
            note(as, "warn", "relay refused", up->dev_eui,
                 "the IDM answered 404: this tenant does not hold the SE (or the IDM does not know it)");
        else if (st == LAB_OK)
            note(as, "warn", "relay error", up->dev_eui, "the IDM answered HTTP %ld to the relay of FCnt %u", http,
                 (unsigned)up->fcnt);
        else
            note(as, "warn", "relay error", up->dev_eui, "the IDM could not be reached: %s", lab_strerror(st));
    } else if (lab_as_relay_answer_parse(ans, alen, frame, &flen) != LAB_OK) {
        count(as, &as->stats.relay_errors);
        note(as, "warn", "relay error", up->dev_eui, "the IDM's answer is not {} or {\"FPort\":200,\"FRMPayload\"}");
    } else {
        count(as, &as->stats.relays);
        st = flen == 0 ? LAB_OK : lab_as_downlinks_build(ask, up, frame, flen, out, cap);
        if (st != LAB_OK) {
            snprintf(out, cap, "{}");
            note(as, "warn", "downlink dropped", up->dev_eui, "the IDM's %zu-byte frame: %s", flen,
                 st == LAB_ERR_ARGUMENT ? "the uplink has no NextAFCntDown to encrypt it under"
                 : st == LAB_ERR_TOO_BIG ? "longer than the uplink's MaxDownlinkPayload"
                                         : lab_strerror(st));
        } else if (flen > 0) {
            count(as, &as->stats.downlinks);
        }
        if (st == LAB_OK && (mls || flen > 0))
            note(as, "info", "relay", up->dev_eui, "FCnt %u FPort %u: %zu bytes to the IDM, %zu back (FCnt down %u)",
                 (unsigned)up->fcnt, (unsigned)up->fport, mls ? up->frm_len : (size_t)0, flen,
                 (unsigned)up->next_afcnt_down);
    }
    lw_secure_wipe(frame, sizeof(frame));
    free(ans);
}

static void key_problem(lab_as *as, const lab_as_uplink *up, lab_status st)
{
    count(as, &as->stats.key_errors);
    if (!up->app_s_key.present)
        note(as, "warn", "no key", up->dev_eui,
             "uplink FCnt %u carries no AppSKey envelope: the network server must pass on the JoinAns's",
             (unsigned)up->fcnt);
    else if (st == LAB_ERR_UNKNOWN)
        note(as, "warn", "no key", up->dev_eui, "AppSKey is wrapped under KEK '%s'; this AS holds '%s'",
             up->app_s_key.kek_label, as->cfg.kek_label);
    else
        note(as, "warn", "no key", up->dev_eui, "AppSKey does not unwrap under KEK '%s' (another key by that label?)",
             as->cfg.kek_label);
}

int lab_as_uplink_post(lab_as *as, const char *body, size_t len, uint64_t now_ms, char *out, size_t cap)
{
    if (as == NULL || out == NULL || cap < 64)
        return 500;
    lab_as_uplink *up = malloc(sizeof(*up));
    if (up == NULL) {
        snprintf(out, cap, "{\"Error\":\"out of memory\"}");
        return 500;
    }
    char what[64];
    if (lab_as_uplink_parse(body != NULL ? body : "", body != NULL ? len : 0, up, what, sizeof(what)) != LAB_OK) {
        count(as, &as->stats.bad_requests);
        note(as, "warn", "bad uplink", 0, "malformed uplink body: %s", what);
        snprintf(out, cap, "{\"Error\":\"malformed uplink: %s\"}", what);
        free(up);
        return 400;
    }
    snprintf(out, cap, "{}");
    count(as, &as->stats.uplinks);
    lw_key ask;
    uint8_t plain[LAB_AS_PAYLOAD_MAX];
    lab_status st = lab_as_app_s_key(&as->cfg, up, &ask);
    if (st == LAB_OK && up->frm_len > 0 &&
        lw_frm_payload_crypt(lw_crypto_software(), &ask, true, up->dev_addr, up->fcnt, up->frm_payload, up->frm_len,
                             plain) != LW_OK)
        st = LAB_ERR_CRYPTO;
    if (st != LAB_OK) {
        key_problem(as, up, st);
    } else {
        if (up->fport == LAB_AS_MLS_FPORT) {
            count(as, &as->stats.mls_uplinks);
        } else {
            keep(as, up, plain, now_ms);
            note(as, "info", "uplink", up->dev_eui, "FCnt %u FPort %u: %zu bytes decrypted", (unsigned)up->fcnt,
                 (unsigned)up->fport, up->frm_len);
        }
        if (as->cfg.idm_url[0])
            relay(as, up, &ask, plain, out, cap);
    }
    lw_key_wipe(&ask);
    lw_secure_wipe(plain, sizeof(plain));
    lw_secure_wipe(up, sizeof(*up));
    free(up);
    return 200;
}

void lab_as_stats_get(lab_as *as, lab_as_stats *out)
{
    pthread_mutex_lock(&as->lock);
    *out = as->stats;
    pthread_mutex_unlock(&as->lock);
}

lab_status lab_as_stats_json(lab_as *as, char *out, size_t cap)
{
    lab_as_stats s;
    lab_as_stats_get(as, &s);
    int n = snprintf(out, cap,
                     "{\"uplinks\":%llu,\"app_uplinks\":%llu,\"mls_uplinks\":%llu,\"bad_requests\":%llu,"
                     "\"unauthorised\":%llu,\"key_errors\":%llu,\"relays\":%llu,\"relay_refused\":%llu,"
                     "\"relay_errors\":%llu,\"downlinks\":%llu,\"devices\":%llu}",
                     (unsigned long long)s.uplinks, (unsigned long long)s.app_uplinks,
                     (unsigned long long)s.mls_uplinks, (unsigned long long)s.bad_requests,
                     (unsigned long long)s.unauthorised, (unsigned long long)s.key_errors,
                     (unsigned long long)s.relays, (unsigned long long)s.relay_refused,
                     (unsigned long long)s.relay_errors, (unsigned long long)s.downlinks,
                     (unsigned long long)s.devices);
    return n > 0 && (size_t)n < cap ? LAB_OK : LAB_ERR_BUFFER;
}

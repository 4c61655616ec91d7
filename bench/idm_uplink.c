/*
 * idm_uplink.c - the Identity Manager's cost per uplink and per
 * housekeeping round with N SEs mid-delivery, for `make bench`
 * (bench/idm_uplink.sh makes the deployment: `ferry init`, a customer
 * tenant and its Join Server, which runs; docs/scale.md "The IDM per uplink").
 *
 *   idm_uplink DIR BASE N SECONDS
 *
 * Setup, untimed: N SEs (DevEUIs BASE .. BASE+N-1) written straight into
 * DIR's database: the bootstrap JS's device, a session of it whose AppSKey
 * is a blob under the token's master key, the SE's row in profile_pending
 * and one queued command of 200 sealed-looking bytes (the engine moves
 * fragments without opening them). Then three measurements:
 *
 *   uplinks    idm_ota_uplink in turn over the N SEs, for SECONDS: each
 *              uplink has a fresh FCnt and no MLS frame of the SE, so each
 *              gets the next fragment (idm.conf retry_base 0: a new round
 *              starts as soon as one ends), the common case of a delivery.
 *              Uplinks/s, CPU per uplink (getrusage), fdatasync+fsync per
 *              uplink (counted by wrapping them in this process: what
 *              SQLite calls on each commit), latency percentiles.
 *   round      the N SEs moved to profile_delivered with a claim on the
 *              customer JS (which does not know them: its GET answers 404,
 *              as for a device that did not join yet); then two
 *              housekeeping rounds (idm_ota_tick) timed, both with the
 *              engine's clock held at the first one's start: the first
 *              (every SE's check due), and one right after it (before any
 *              SE's next check is due, if checks back off; the same work
 *              again if every round asks every SE).
 *   together   the uplinks again for SECONDS while another thread runs
 *              housekeeping rounds a second apart (`poll 1`, as `ferry
 *              demo` sets it), sharing the engine under
 *              one mutex the way `idm serve` does (idm_serve.c): the
 *              latency of an uplink that waits for housekeeping.
 *
 * Prints one line of JSON; asserts nothing about the figures.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "idm/idm_core.h"
#include "idm/idm_ota.h"
#include "mls/mls.h"
#include "store/store_driver.h"

/* ---------------------------------------------------------------- syncs
 * SQLite makes a commit durable with fdatasync (or fsync) of the WAL: count
 * them by wrapping the two calls for the whole process. */
static atomic_ulong syncs;

int fdatasync(int fd)
{
    static int (*real)(int);
    if (real == NULL)
        real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    atomic_fetch_add(&syncs, 1);
    return real(fd);
}

int fsync(int fd)
{
    static int (*real)(int);
    if (real == NULL)
        real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    atomic_fetch_add(&syncs, 1);
    return real(fd);
}

static double mono(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double cpu_s(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           (double)ru.ru_stime.tv_usec / 1e6;
}

typedef struct bench {
    idm_core *core;
    idm_ota *engine;
    store *db;
    uint64_t base;
    size_t n;
    uint32_t *fcnt;          /* per SE */
    pthread_mutex_t lock;    /* idm serve's: one PKCS#11 session, one connection */
    atomic_bool stop;
    unsigned rounds;         /* housekeeping rounds of the `together` run */
} bench;

/* The engine's clock: the wall clock while `held` is 0. */
static int64_t held;

static int64_t bench_clock(void *arg)
{
    (void)arg;
    return held != 0 ? held : (int64_t)time(NULL);
}

static uint8_t blob[64];
static size_t blob_len;

static store_status one_session(void *ctx, const store_join_grant *g, store_session *out)
{
    (void)ctx;
    memset(out, 0, sizeof *out);
    out->dev_eui = g->dev_eui;
    out->join_eui = g->join_eui;
    out->session_key_id_len = 8;
    for (int i = 0; i < 8; i++)
        out->session_key_id[i] = (uint8_t)(g->dev_eui >> (56 - 8 * i));
    out->dev_addr = (uint32_t)g->dev_eui;
    memcpy(out->app_s_key.data, blob, blob_len);
    out->app_s_key.len = blob_len;
    return STORE_OK;
}

static int setup(bench *b)
{
    lw_key k = {0};
    hsm_session *hs = idm_core_session(b->core);
    if (hsm_key_generate(hs, HSM_KEY_WORKING, &k) != HSM_OK ||
        hsm_key_wrap_blob(hs, &k, blob, sizeof blob, &blob_len) != HSM_OK) {
        fprintf(stderr, "idm_uplink: the AppSKey blob could not be made in the token\n");
        return 1;
    }
    hsm_key_release(hs, &k);
    /* setup only: no fsync per row (restored below) */
    if (b->db->drv->exec(b->db, "PRAGMA synchronous=OFF", NULL, 0, NULL, NULL, NULL) != STORE_OK)
        return 1;
    store_idm_cmd *c = calloc(1, sizeof *c);
    store_device *d = calloc(1, sizeof *d);
    if (c == NULL || d == NULL)
        return 1;
    for (size_t i = 0; i < b->n; i++) {
        uint64_t dev = b->base + i;
        memset(d, 0, sizeof *d);
        d->dev_eui = dev;
        d->join_eui = 0x70B3D57ED0000000ull;
        d->mac_version = STORE_MAC_1_0_4;
        memcpy(d->nwk_key.data, blob, blob_len);
        d->nwk_key.len = blob_len;
        store_idm_se se;
        memset(&se, 0, sizeof se);
        se.dev_eui = dev;
        se.join_eui = d->join_eui;
        se.serial = i;
        se.mac_version = STORE_MAC_1_0_4;
        memcpy(se.mls_key.data, blob, blob_len);
        se.mls_key.len = blob_len;
        se.state = IDM_STATE_PROFILE_PENDING;
        store_join j = {.dev_eui = dev, .join_eui = d->join_eui, .dev_nonce = 1, .make_session = one_session};
        store_join_result jr;
        memset(c, 0, sizeof *c);
        c->dev_eui = dev;
        c->type = MLS_T_INSTALL;
        c->counter = 1;
        c->msg_len = 200;
        for (size_t m = 0; m < c->msg_len; m++)
            c->msg[m] = (uint8_t)(m * 7 + i);
        c->state = STORE_IDM_CMD_QUEUED;
        c->deadline = (int64_t)time(NULL) + 86400 * 30;
        c->result = -1;
        snprintf(c->origin, sizeof c->origin, "bench");
        store_status st = store_device_put(b->db, d, false);
        if (st == STORE_OK)
            st = store_idm_se_put(b->db, &se);
        if (st == STORE_OK)
            st = store_join_commit(b->db, &j, &jr);
        if (st == STORE_OK)
            st = store_idm_cmd_add(b->db, c);
        if (st != STORE_OK) {
            fprintf(stderr, "idm_uplink: setting up SE %zu: %s (%s)\n", i, store_strerror(st),
                    store_last_error(b->db));
            return 1;
        }
    }
    free(c);
    free(d);
    return b->db->drv->exec(b->db, "PRAGMA synchronous=FULL", NULL, 0, NULL, NULL, NULL) == STORE_OK ? 0 : 1;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct run_out {
    unsigned long uplinks, frames, syncs;
    double wall, cpu, p50, p90, p99, max;
} run_out;

/* Uplinks in turn over the SEs for `seconds`, under the lock (as
 * idm_serve.c's handle_uplink). */
static int uplinks(bench *b, double seconds, run_out *o)
{
    size_t cap = 1u << 20, n = 0;
    double *lat = malloc(cap * sizeof *lat);
    if (lat == NULL)
        return 1;
    memset(o, 0, sizeof *o);
    unsigned long s0 = atomic_load(&syncs);
    double c0 = cpu_s(), t0 = mono(), end = t0 + seconds;
    size_t i = 0;
    while (mono() < end && n < cap) {
        idm_uplink u;
        memset(&u, 0, sizeof u);
        u.dev_eui = b->base + i;
        u.dev_addr = (uint32_t)u.dev_eui;
        u.session_key_id_len = 8;
        for (int k = 0; k < 8; k++)
            u.session_key_id[k] = (uint8_t)(u.dev_eui >> (56 - 8 * k));
        u.fcnt = ++b->fcnt[i];
        u.fport = 1;
        u.max_downlink = 51;
        u.next_af_cnt_down = u.fcnt;
        idm_downlink dl;
        char err[IDM_ERR_MAX];
        double a = mono();
        pthread_mutex_lock(&b->lock);
        idm_status st = idm_ota_uplink(b->engine, &u, &dl, err);
        pthread_mutex_unlock(&b->lock);
        lat[n++] = mono() - a;
        if (st != IDM_OK) {
            fprintf(stderr, "idm_uplink: uplink of %016llX: %s: %s\n", (unsigned long long)u.dev_eui,
                    idm_strerror(st), err);
            free(lat);
            return 1;
        }
        o->frames += dl.present;
        i = (i + 1) % b->n;
    }
    o->wall = mono() - t0;
    o->cpu = cpu_s() - c0;
    o->syncs = atomic_load(&syncs) - s0;
    o->uplinks = n;
    qsort(lat, n, sizeof *lat, cmp_d);
    if (n > 0) {
        o->p50 = lat[n / 2];
        o->p90 = lat[n * 9 / 10];
        o->p99 = lat[n * 99 / 100];
        o->max = lat[n - 1];
    }
    free(lat);
    return 0;
}

static void lock_engine(void *arg)
{
    pthread_mutex_lock(&((bench *)arg)->lock);
}

static void unlock_engine(void *arg)
{
    pthread_mutex_unlock(&((bench *)arg)->lock);
}

/* One housekeeping round, locked as idm serve's housekeeping thread locks
 * it: the engine takes the lock per SE's step (idm_ota_set_lock). */
static idm_status round_locked(bench *b, char err[IDM_ERR_MAX])
{
    return idm_ota_tick(b->engine, err);
}

static void *housekeeper(void *arg)
{
    bench *b = arg;
    char err[IDM_ERR_MAX];
    while (!atomic_load(&b->stop)) {
        (void)round_locked(b, err);
        b->rounds++;
        /* `poll 1`, as ferry demo sets it: a second between rounds */
        for (int i = 0; i < 10 && !atomic_load(&b->stop); i++) {
            struct timespec t = {0, 100000000L};
            nanosleep(&t, NULL);
        }
    }
    return NULL;
}

static int to_delivered(bench *b, const char *tenant, const char *js)
{
    for (size_t i = 0; i < b->n; i++) {
        store_idm_claim c;
        memset(&c, 0, sizeof c);
        c.dev_eui = b->base + i;
        snprintf(c.tenant_id, sizeof c.tenant_id, "%s", tenant);
        c.state = STORE_IDM_CLAIM_CLAIMED;
        snprintf(c.js_id, sizeof c.js_id, "%s", js);
        c.provisioned_at = (int64_t)time(NULL);
        store_status st = store_idm_claim_put(b->db, &c);
        if (st == STORE_OK)
            st = store_idm_se_set_state(b->db, c.dev_eui, IDM_STATE_PROFILE_PENDING, IDM_STATE_PROFILE_DELIVERED);
        if (st != STORE_OK) {
            fprintf(stderr, "idm_uplink: delivered %zu: %s\n", i, store_strerror(st));
            return 1;
        }
    }
    return 0;
}

static void print_run(const char *name, const run_out *o)
{
    printf("\"%s\":{\"uplinks\":%lu,\"frames\":%lu,\"per_s\":%.1f,\"cpu_us\":%.1f,\"syncs_per_uplink\":%.2f,"
           "\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f}",
           name, o->uplinks, o->frames, o->wall > 0 ? (double)o->uplinks / o->wall : 0,
           o->uplinks > 0 ? o->cpu * 1e6 / (double)o->uplinks : 0,
           o->uplinks > 0 ? (double)o->syncs / (double)o->uplinks : 0, o->p50 * 1e3, o->p90 * 1e3, o->p99 * 1e3,
           o->max * 1e3);
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: idm_uplink DIR BASE N SECONDS\n");
        return 2;
    }
    bench b;
    memset(&b, 0, sizeof b);
    b.base = strtoull(argv[2], NULL, 16);
    b.n = strtoul(argv[3], NULL, 10);
    double seconds = strtod(argv[4], NULL);
    char err[IDM_ERR_MAX];
    idm_open_opts oo = {.with_token = true};
    if (b.n == 0 || idm_open(argv[1], &oo, &b.core, err) != IDM_OK) {
        fprintf(stderr, "idm_uplink: %s\n", b.n == 0 ? "N must be above 0" : err);
        return 1;
    }
    FILE *quiet = fopen("/dev/null", "w");
    if (quiet != NULL)
        idm_core_set_log(b.core, quiet);
    idm_core_set_clock(b.core, bench_clock, NULL);
    b.db = idm_core_store(b.core);
    b.fcnt = calloc(b.n, sizeof *b.fcnt);
    pthread_mutex_init(&b.lock, NULL);
    int rc = b.fcnt == NULL || setup(&b) != 0 || idm_core_engine_new(b.core, &b.engine) != IDM_OK;
    if (rc == 0)
        idm_ota_set_lock(b.engine, lock_engine, unlock_engine, &b);
    run_out alone, together;
    double r1 = 0, r2 = 0;
    unsigned long rs1 = 0, rs2 = 0;
    if (rc == 0)
        rc = uplinks(&b, seconds, &alone);
    if (rc == 0)
        rc = to_delivered(&b, "bench-cust", "bench-js");
    if (rc == 0) {
        held = (int64_t)time(NULL);
        unsigned long s0 = atomic_load(&syncs);
        double t0 = mono();
        (void)round_locked(&b, err);
        r1 = mono() - t0;
        rs1 = atomic_load(&syncs) - s0;
        s0 = atomic_load(&syncs);
        t0 = mono();
        (void)round_locked(&b, err);
        r2 = mono() - t0;
        rs2 = atomic_load(&syncs) - s0;
        held = 0;
    }
    if (rc == 0) {
        pthread_t hk;
        atomic_store(&b.stop, false);
        rc = pthread_create(&hk, NULL, housekeeper, &b) != 0;
        if (rc == 0) {
            rc = uplinks(&b, seconds, &together);
            atomic_store(&b.stop, true);
            pthread_join(hk, NULL);
        }
    }
    if (rc == 0) {
        printf("{\"ses\":%zu,\"seconds\":%g,", b.n, seconds);
        print_run("alone", &alone);
        printf(",\"round\":{\"first_s\":%.3f,\"next_s\":%.3f,\"syncs_first\":%lu,\"syncs_next\":%lu},", r1, r2, rs1,
               rs2);
        print_run("together", &together);
        printf(",\"rounds_together\":%u}\n", b.rounds);
    }
    idm_ota_free(b.engine);
    idm_close(&b.core);
    if (quiet != NULL)
        fclose(quiet);
    free(b.fcnt);
    pthread_mutex_destroy(&b.lock);
    return rc;
}

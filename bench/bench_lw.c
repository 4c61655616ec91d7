/*
 * bench_lw.c - throughput of the LoRaWAN core on realistic frames.
 *
 *   bench_lw --write FILE            write the deterministic frame set and exit
 *   bench_lw [--frames FILE] [--seconds S]
 *
 * The frame set is what a network server sees: join-requests, 1.0 data
 * uplinks and 1.1 data uplinks carrying 10-50 byte payloads, each frame with
 * its own device keys and a valid MIC. It is generated here from a fixed
 * seed, or read from FILE (the format --write produces, which
 * bench/lora_packet_bench.js reads too, so both sides do the same work):
 *
 *   <kind> <fcnt> <tx_dr> <tx_ch> <phy hex> <key hex>...
 *   kind join_request: AppKey
 *   kind data_up_10:   NwkSKey AppSKey
 *   kind data_up_11:   FNwkSIntKey SNwkSIntKey NwkSEncKey AppSKey
 *
 * Each operation runs over its frames for S seconds (default 1) after a
 * short warm-up; one "op" is one frame:
 *
 *   decode            lw_frame_decode, every frame
 *   mic_join_request  decode + MIC + lw_mic_equal, join-requests
 *   mic_data_up_10    decode + MIC + lw_mic_equal, 1.0 uplinks
 *   mic_data_up_11    decode + MIC + lw_mic_equal, 1.1 uplinks (ACK clear)
 *   decrypt_frm       decode + FRMPayload decryption, all data frames
 *
 * Output, one "name value" pair a line, for bench/run.sh to tabulate:
 * "impl", "frames", "op <name> <ops per second>", "mic_failures" (frames whose MIC did not verify,
 * counted over every pass: must be 0)
 * and "peak_rss_kb" (getrusage). Nothing here asserts a timing.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "lorawan/lorawan.h"

#define MAX_FRAMES   4096
#define MAX_KEYS     4
#define N_JOIN       300
#define N_DATA_10    400
#define N_DATA_11    400
#define SEED         0x6665727279ULL   /* "ferry" */
#define WARMUP_SEC   0.2

typedef enum frame_kind { JOIN_REQUEST, DATA_UP_10, DATA_UP_11 } frame_kind;

static const struct {
    const char *name;
    int keys;
} KIND_INFO[] = {
    [JOIN_REQUEST] = { "join_request", 1 },
    [DATA_UP_10]   = { "data_up_10", 2 },
    [DATA_UP_11]   = { "data_up_11", 4 },
};

/* Key order per kind as in the file: see the header comment. */
enum { K_APP_KEY = 0, K_NWK_S_KEY = 0, K_APP_S_KEY_10 = 1,
       K_F_NWK = 0, K_S_NWK = 1, K_NWK_S_ENC = 2, K_APP_S_KEY_11 = 3 };

typedef struct bench_frame {
    frame_kind kind;
    uint8_t phy[LW_PHY_MAX];
    size_t len;
    uint32_t fcnt;          /* full 32-bit counter; the wire has its low half */
    uint8_t tx_dr, tx_ch;
    lw_key keys[MAX_KEYS];
} bench_frame;

static bench_frame frames[MAX_FRAMES];
static size_t n_frames;
static unsigned mic_failures;

/* ---- the deterministic frame set ---- */

static uint64_t rng_state = SEED;

static uint64_t rng(void)   /* splitmix64 */
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static unsigned rng_below(unsigned n)
{
    return (unsigned)(rng() % n);
}

static void rng_bytes(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)rng();
}

static void die(const char *what, lw_status st)
{
    fprintf(stderr, "bench_lw: %s: %s\n", what, lw_strerror(st));
    exit(1);
}

static void random_keys(bench_frame *b)
{
    for (int i = 0; i < KIND_INFO[b->kind].keys; i++) {
        uint8_t k[LW_KEY_LEN];
        rng_bytes(k, sizeof(k));
        lw_status st = lw_key_from_bytes(&b->keys[i], k, sizeof(k));
        if (st != LW_OK)
            die("lw_key_from_bytes", st);
    }
}

static void make_join_request(bench_frame *b)
{
    const lw_crypto *c = lw_crypto_software();
    lw_frame f = { .mtype = LW_MTYPE_JOIN_REQUEST };
    f.u.join_request.join_eui = 0x70B3D57ED0000000ULL | rng_below(256);
    f.u.join_request.dev_eui = rng();
    f.u.join_request.dev_nonce = (uint16_t)rng();
    uint8_t mic[LW_MIC_LEN];
    lw_status st = lw_frame_encode(&f, b->phy, sizeof(b->phy), &b->len);
    if (st == LW_OK)
        st = lw_mic_join_request(c, &b->keys[K_APP_KEY], b->phy, b->len - LW_MIC_LEN, mic);
    if (st == LW_OK)
        st = lw_frame_set_mic(b->phy, b->len, mic);
    if (st != LW_OK)
        die("join-request", st);
}

/* An uplink as devices send them: ADR on, ACK clear, a few MAC command bytes
 * now and then, an application payload of 10 to 50 bytes on ports 1..223. */
static void make_data_up(bench_frame *b)
{
    const lw_crypto *c = lw_crypto_software();
    uint8_t fopts[LW_FOPTS_MAX], payload[50];
    lw_frame f = { .mtype = rng_below(4) == 0 ? LW_MTYPE_CONFIRMED_DATA_UP : LW_MTYPE_UNCONFIRMED_DATA_UP };
    lw_data_frame *d = &f.u.data;
    b->fcnt = (uint32_t)rng_below(1u << 20);
    b->tx_dr = (uint8_t)rng_below(6);
    b->tx_ch = (uint8_t)rng_below(8);
    d->dev_addr = 0x26000000u | (uint32_t)(rng() & 0x01FFFFFFu);
    d->fctrl.adr = true;
    d->fctrl.fopts_len = (uint8_t)(rng_below(4) == 0 ? 1 + rng_below(5) : 0);
    d->fcnt = (uint16_t)b->fcnt;
    rng_bytes(fopts, d->fctrl.fopts_len);
    d->fopts = fopts;
    d->has_fport = true;
    d->fport = (uint8_t)(1 + rng_below(223));
    d->frm_payload_len = 10 + rng_below(41);
    rng_bytes(payload, d->frm_payload_len);   /* as good as ciphertext */
    d->frm_payload = payload;

    lw_data_mic_params p = { .dev_addr = d->dev_addr, .fcnt = b->fcnt, .tx_dr = b->tx_dr, .tx_ch = b->tx_ch };
    uint8_t mic[LW_MIC_LEN];
    lw_status st = lw_frame_encode(&f, b->phy, sizeof(b->phy), &b->len);
    size_t n = b->len - LW_MIC_LEN;
    if (st == LW_OK)
        st = b->kind == DATA_UP_10
            ? lw_mic_data_10(c, &b->keys[K_NWK_S_KEY], &p, b->phy, n, mic)
            : lw_mic_data_up_11(c, &b->keys[K_S_NWK], &b->keys[K_F_NWK], &p, b->phy, n, mic);
    if (st == LW_OK)
        st = lw_frame_set_mic(b->phy, b->len, mic);
    if (st != LW_OK)
        die("data uplink", st);
}

static void generate(void)
{
    static const struct { frame_kind kind; int count; } plan[] = {
        { JOIN_REQUEST, N_JOIN }, { DATA_UP_10, N_DATA_10 }, { DATA_UP_11, N_DATA_11 },
    };
    for (size_t i = 0; i < sizeof(plan) / sizeof(plan[0]); i++) {
        for (int j = 0; j < plan[i].count; j++) {
            bench_frame *b = &frames[n_frames++];
            memset(b, 0, sizeof(*b));
            b->kind = plan[i].kind;
            random_keys(b);
            if (b->kind == JOIN_REQUEST)
                make_join_request(b);
            else
                make_data_up(b);
        }
    }
}

/* ---- the frame file ---- */

static bool write_frames(const char *path)
{
    FILE *fp = fopen(path, "w");
    if (fp == NULL) {
        perror(path);
        return false;
    }
    char hex[2 * LW_PHY_MAX + 1];
    for (size_t i = 0; i < n_frames; i++) {
        const bench_frame *b = &frames[i];
        fprintf(fp, "%s %u %u %u", KIND_INFO[b->kind].name, (unsigned)b->fcnt, b->tx_dr, b->tx_ch);
        if (lw_hex_encode(b->phy, b->len, hex, sizeof(hex)) == LW_OK)
            fprintf(fp, " %s", hex);
        for (int k = 0; k < KIND_INFO[b->kind].keys; k++)
            if (lw_hex_encode(b->keys[k].material, LW_KEY_LEN, hex, sizeof(hex)) == LW_OK)
                fprintf(fp, " %s", hex);
        fputc('\n', fp);
    }
    return fclose(fp) == 0;
}

static bool parse_line(char *line, bench_frame *b)
{
    char *save = NULL;
    char *tok[4 + 1 + MAX_KEYS + 1];
    int n = 0;
    for (char *t = strtok_r(line, " \t\r\n", &save); t != NULL && n < (int)(sizeof(tok) / sizeof(tok[0]));
         t = strtok_r(NULL, " \t\r\n", &save))
        tok[n++] = t;
    memset(b, 0, sizeof(*b));
    int kind = -1;
    for (int k = 0; k < (int)(sizeof(KIND_INFO) / sizeof(KIND_INFO[0])); k++)
        if (n > 0 && strcmp(tok[0], KIND_INFO[k].name) == 0)
            kind = k;
    if (kind < 0 || n != 5 + KIND_INFO[kind].keys)
        return false;
    b->kind = (frame_kind)kind;
    b->fcnt = (uint32_t)strtoul(tok[1], NULL, 10);
    b->tx_dr = (uint8_t)strtoul(tok[2], NULL, 10);
    b->tx_ch = (uint8_t)strtoul(tok[3], NULL, 10);
    size_t hl = strlen(tok[4]);
    if (hl % 2 != 0 || hl / 2 > LW_PHY_MAX || lw_hex_decode(tok[4], hl, b->phy, hl / 2) != LW_OK)
        return false;
    b->len = hl / 2;
    for (int k = 0; k < KIND_INFO[kind].keys; k++) {
        uint8_t key[LW_KEY_LEN];
        bool ok = lw_hex_decode(tok[5 + k], strlen(tok[5 + k]), key, sizeof(key)) == LW_OK
               && lw_key_from_bytes(&b->keys[k], key, sizeof(key)) == LW_OK;
        lw_secure_wipe(key, sizeof(key));
        if (!ok)
            return false;
    }
    return true;
}

static bool read_frames(const char *path)
{
    FILE *fp = fopen(path, "r");
    if (fp == NULL) {
        perror(path);
        return false;
    }
    char line[1024];
    unsigned lineno = 0;
    while (fgets(line, sizeof(line), fp) != NULL) {
        lineno++;
        if (line[0] == '#' || line[0] == '\n')
            continue;
        if (n_frames == MAX_FRAMES || !parse_line(line, &frames[n_frames])) {
            fprintf(stderr, "%s:%u: not a frame line (or more than %d frames)\n", path, lineno, MAX_FRAMES);
            fclose(fp);
            return false;
        }
        n_frames++;
    }
    fclose(fp);
    return n_frames > 0;
}

/* ---- the operations: each handles one frame and returns a value to keep ---- */

typedef unsigned (*op_fn)(const bench_frame *b);

static unsigned op_decode(const bench_frame *b)
{
    lw_frame f;
    return lw_frame_decode(b->phy, b->len, &f) == LW_OK ? f.mic[0] : 0x100;
}

static unsigned op_verify_mic(const bench_frame *b)
{
    const lw_crypto *c = lw_crypto_software();
    lw_frame f;
    uint8_t mic[LW_MIC_LEN];
    lw_status st = lw_frame_decode(b->phy, b->len, &f);
    size_t n = b->len - LW_MIC_LEN;
    if (st == LW_OK && b->kind == JOIN_REQUEST) {
        st = lw_mic_join_request(c, &b->keys[K_APP_KEY], b->phy, n, mic);
    } else if (st == LW_OK) {
        lw_data_mic_params p = { .dev_addr = f.u.data.dev_addr, .fcnt = b->fcnt, .tx_dr = b->tx_dr, .tx_ch = b->tx_ch };
        st = b->kind == DATA_UP_10 ? lw_mic_data_10(c, &b->keys[K_NWK_S_KEY], &p, b->phy, n, mic)
                                   : lw_mic_data_up_11(c, &b->keys[K_S_NWK], &b->keys[K_F_NWK], &p, b->phy, n, mic);
    }
    bool ok = st == LW_OK && lw_mic_equal(mic, f.mic) == 1;
    mic_failures += !ok;
    return ok;
}

static unsigned op_decrypt(const bench_frame *b)
{
    const lw_crypto *c = lw_crypto_software();
    lw_frame f;
    uint8_t plain[LW_PHY_MAX];
    if (lw_frame_decode(b->phy, b->len, &f) != LW_OK || !f.u.data.has_fport)
        return 0x100;
    const lw_data_frame *d = &f.u.data;
    bool net = lw_frm_payload_key_is_network(d->fport);
    const lw_key *key = b->kind == DATA_UP_10 ? &b->keys[net ? K_NWK_S_KEY : K_APP_S_KEY_10]
                                              : &b->keys[net ? K_NWK_S_ENC : K_APP_S_KEY_11];
    if (lw_frm_payload_crypt(c, key, true, d->dev_addr, b->fcnt, d->frm_payload, d->frm_payload_len, plain) != LW_OK)
        return 0x100;
    return plain[0];
}

static bool any_frame(const bench_frame *b) { (void)b; return true; }
static bool is_join(const bench_frame *b) { return b->kind == JOIN_REQUEST; }
static bool is_data_10(const bench_frame *b) { return b->kind == DATA_UP_10; }
static bool is_data_11(const bench_frame *b) { return b->kind == DATA_UP_11; }
static bool is_data(const bench_frame *b) { return b->kind != JOIN_REQUEST; }

static const struct op {
    const char *name;
    bool (*wants)(const bench_frame *b);
    op_fn fn;
} OPS[] = {
    { "decode",           any_frame,  op_decode },
    { "mic_join_request", is_join,    op_verify_mic },
    { "mic_data_up_10",   is_data_10, op_verify_mic },
    { "mic_data_up_11",   is_data_11, op_verify_mic },
    { "decrypt_frm",      is_data,    op_decrypt },
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static volatile unsigned sink;

/* Passes over the op's frames until `seconds` have gone; ops per second. */
static double measure(const struct op *op, const bench_frame **set, size_t n, double seconds)
{
    unsigned acc = 0;
    uint64_t ops = 0;
    double start = now(), elapsed;
    do {
        for (size_t i = 0; i < n; i++)
            acc += op->fn(set[i]);
        ops += n;
        elapsed = now() - start;
    } while (elapsed < seconds);
    sink = acc;
    return (double)ops / elapsed;
}

int main(int argc, char **argv)
{
    const char *in = NULL, *out = NULL;
    double seconds = 1.0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--frames") == 0 && i + 1 < argc) {
            in = argv[++i];
        } else if (strcmp(argv[i], "--write") == 0 && i + 1 < argc) {
            out = argv[++i];
        } else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            seconds = strtod(argv[++i], NULL);
        } else {
            fprintf(stderr, "usage: %s [--write FILE | --frames FILE] [--seconds S]\n", argv[0]);
            return 2;
        }
    }
    if (!(seconds > 0)) {
        fprintf(stderr, "bench_lw: --seconds must be positive\n");
        return 2;
    }
    if (in == NULL)
        generate();
    else if (!read_frames(in))
        return 1;
    if (out != NULL)
        return write_frames(out) ? 0 : 1;

    static const bench_frame *set[MAX_FRAMES];
    printf("impl ferry\nframes %zu\n", n_frames);
    for (size_t o = 0; o < sizeof(OPS) / sizeof(OPS[0]); o++) {
        size_t n = 0;
        for (size_t i = 0; i < n_frames; i++)
            if (OPS[o].wants(&frames[i]))
                set[n++] = &frames[i];
        if (n == 0)
            continue;
        (void)measure(&OPS[o], set, n, WARMUP_SEC);
        printf("op %s %.0f\n", OPS[o].name, measure(&OPS[o], set, n, seconds));
        fflush(stdout);
    }
    printf("mic_failures %u\n", mic_failures);
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        printf("peak_rss_kb %ld\n", ru.ru_maxrss);
    for (size_t i = 0; i < n_frames; i++)
        for (int k = 0; k < MAX_KEYS; k++)
            lw_key_wipe(&frames[i].keys[k]);
    return mic_failures == 0 ? 0 : 1;
}

/*
 * js_load.c - load generator and floors for `make bench` (bench/js_bench.sh).
 *
 *   js_load http PORT TOKEN CONNS SECONDS    CONNS keep-alive connections, one
 *                                            thread and one device each
 *                                            (DevEUI BENCH_EUI+i, 1.0.4), JoinReqs
 *                                            with increasing DevNonces
 *   js_load handler DIR TOKEN THREADS DEVICES SECONDS
 *                                            the same JoinReqs through js_handle_bi
 *                                            in THREADS threads, no HTTP (handler,
 *                                            store with group commit, token)
 *   js_load floor DIR SECONDS [THREADS]      the PKCS#11 calls of one 1.0.x join
 *                                            (unwrap, MIC, 2 derives, accept MIC +
 *                                            encrypt, 2 KEK wraps, keep AppSKey,
 *                                            releases) in DIR's token, no HTTP, no DB;
 *                                            with THREADS, that many threads of one
 *                                            process, each its own session
 *   js_load memory SECONDS                   the same crypto with lw_crypto_software
 *
 * Each prints one line of JSON: {"mode":...,"ops":N,"seconds":S,"per_s":R
 * [,"p50_ms":...,"p99_ms":...,"errors":E]}. Raw sockets and blocking I/O
 * per thread: simple, and the server is what is measured.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "js/js.h"
#include "lorawan/lorawan.h"

#define BENCH_EUI 0x0004A30B00BE0000ull
#define JOIN_EUI 0x70B3D57ED0000000ull
#define MAX_CONNS 256

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* The bench devices' keys: not secrets, a fixed pattern per device. */
static void bench_key(unsigned i, uint8_t k[16])
{
    for (unsigned b = 0; b < 16; b++)
        k[b] = (uint8_t)(0x40 + b + i * 7);
}

typedef struct conn_job {
    unsigned index;
    uint16_t port;
    const char *token;
    double until;
    size_t count, errors, cap;
    double *lat;
} conn_job;

static int dial(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static bool send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* Reads one HTTP response; true when it is 200 and its body says Success. */
static bool read_response(int fd, bool *success)
{
    char buf[8192];
    size_t len = 0;
    char *hdr_end = NULL;
    while (hdr_end == NULL) {
        if (len == sizeof(buf) - 1)
            return false;
        ssize_t r = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
        if (r <= 0)
            return false;
        len += (size_t)r;
        buf[len] = '\0';
        hdr_end = strstr(buf, "\r\n\r\n");
    }
    const char *cl = strcasestr(buf, "Content-Length:");
    if (cl == NULL || cl > hdr_end)
        return false;
    size_t body_len = strtoul(cl + 15, NULL, 10);
    size_t have = len - (size_t)(hdr_end + 4 - buf);
    size_t total = (size_t)(hdr_end + 4 - buf) + body_len;
    if (total >= sizeof(buf))
        return false;
    while (have < body_len) {
        ssize_t r = recv(fd, buf + len, total - len, 0);
        if (r <= 0)
            return false;
        len += (size_t)r;
        have += (size_t)r;
    }
    buf[len] = '\0';
    *success = strncmp(buf, "HTTP/1.1 200", 12) == 0 && strstr(hdr_end, "\"Success\"") != NULL;
    return true;
}

static int join_body(char *body, size_t cap, uint16_t nonce, const char *hex, unsigned index)
{
    return snprintf(body, cap,
                    "{\"ProtocolVersion\":\"1.0\",\"SenderID\":\"000013\",\"ReceiverID\":\"70B3D57ED0000000\","
                    "\"TransactionID\":%u,\"MessageType\":\"JoinReq\",\"MACVersion\":\"1.0.4\","
                    "\"PHYPayload\":\"%s\",\"DevEUI\":\"%016llX\",\"DevAddr\":\"26011234\","
                    "\"DLSettings\":\"00\",\"RxDelay\":1}",
                    (unsigned)nonce, hex, (unsigned long long)(BENCH_EUI + index));
}

/* A signed join-request of bench device `index` as hex (47 bytes). */
static bool join_hex(unsigned index, const lw_key *key, uint16_t nonce, char hex[47])
{
    lw_frame f;
    memset(&f, 0, sizeof(f));
    f.mtype = LW_MTYPE_JOIN_REQUEST;
    f.u.join_request.join_eui = JOIN_EUI;
    f.u.join_request.dev_eui = BENCH_EUI + index;
    f.u.join_request.dev_nonce = nonce;
    uint8_t phy[23], mic[4];
    size_t n = 0;
    return lw_frame_encode(&f, phy, sizeof(phy), &n) == LW_OK &&
           lw_mic_join_request(lw_crypto_software(), key, phy, 19, mic) == LW_OK &&
           lw_frame_set_mic(phy, 23, mic) == LW_OK && lw_hex_encode(phy, 23, hex, 47) == LW_OK;
}

static void *conn_main(void *arg)
{
    conn_job *j = arg;
    lw_key key;
    uint8_t kb[16];
    bench_key(j->index, kb);
    if (lw_key_from_bytes(&key, kb, 16) != LW_OK)
        return NULL;
    int fd = dial(j->port);
    uint16_t nonce = 1;
    while (fd >= 0 && now_s() < j->until && nonce < 65535) {
        char hex[47];
        if (!join_hex(j->index, &key, nonce++, hex))
            break;
        char body[512], req[1024];
        int bl = join_body(body, sizeof(body), nonce, hex, j->index);
        int rl = snprintf(req, sizeof(req),
                          "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                          "Authorization: Bearer %s\r\nContent-Length: %d\r\n\r\n%s",
                          j->token, bl, body);
        double t0 = now_s();
        bool success = false;
        if (!send_all(fd, req, (size_t)rl) || !read_response(fd, &success)) {
            close(fd);
            j->errors++;
            fd = dial(j->port);
            continue;
        }
        if (!success) {
            j->errors++;
            continue;
        }
        if (j->count == j->cap) {
            size_t nc = j->cap ? 2 * j->cap : 4096;
            double *nl = realloc(j->lat, nc * sizeof(double));
            if (nl == NULL)
                break;
            j->lat = nl;
            j->cap = nc;
        }
        j->lat[j->count++] = now_s() - t0;
    }
    if (fd >= 0)
        close(fd);
    return NULL;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int run_http(uint16_t port, const char *token, unsigned conns, double seconds)
{
    if (conns == 0 || conns > MAX_CONNS)
        return 2;
    static conn_job jobs[MAX_CONNS];
    pthread_t th[MAX_CONNS];
    double t0 = now_s();
    for (unsigned i = 0; i < conns; i++) {
        jobs[i] = (conn_job){.index = i, .port = port, .token = token, .until = t0 + seconds};
        pthread_create(&th[i], NULL, conn_main, &jobs[i]);
    }
    size_t total = 0, errors = 0;
    for (unsigned i = 0; i < conns; i++) {
        pthread_join(th[i], NULL);
        total += jobs[i].count;
        errors += jobs[i].errors;
    }
    double el = now_s() - t0;
    double *all = malloc((total ? total : 1) * sizeof(double));
    size_t k = 0;
    for (unsigned i = 0; i < conns; i++) {
        if (all != NULL)
            memcpy(all + k, jobs[i].lat, jobs[i].count * sizeof(double));
        k += jobs[i].count;
        free(jobs[i].lat);
    }
    double p50 = 0, p99 = 0;
    if (all != NULL && total > 0) {
        qsort(all, total, sizeof(double), cmp_d);
        p50 = all[total / 2];
        p99 = all[(total * 99) / 100 < total ? (total * 99) / 100 : total - 1];
    }
    free(all);
    printf("{\"mode\":\"http\",\"conns\":%u,\"ops\":%zu,\"seconds\":%.2f,\"per_s\":%.1f,\"p50_ms\":%.3f,"
           "\"p99_ms\":%.3f,\"errors\":%zu}\n",
           conns, total, el, (double)total / el, p50 * 1e3, p99 * 1e3, errors);
    return total > 0 ? 0 : 1;
}

/* ---------------------------------------------------------------- handler
 * The server minus HTTP: THREADS threads, each with its own js_worker (PKCS#11
 * session, database connection), call js_handle_bi with real JoinReq bodies
 * for their own devices; the store's group commit and fsyncs are all there. */
typedef struct handler_job {
    js_ctx *ctx;
    unsigned first, count; /* devices first .. first+count-1 */
    const char *token;
    double until;
    size_t ops, errors;
} handler_job;

static void *handler_main(void *arg)
{
    handler_job *h = arg;
    js_worker *w = NULL;
    char err[JS_ERR_MAX];
    js_reply *r = malloc(sizeof(*r));
    if (r == NULL || js_worker_open(h->ctx, &w, err) != JS_OK) {
        free(r);
        h->errors++;
        return NULL;
    }
    js_auth auth = {.bearer = h->token};
    uint16_t nonce = 32768; /* above what an `http` run on the same devices used (1.0.4 counts up) */
    while (now_s() < h->until && nonce < 65535) {
        for (unsigned d = h->first; d < h->first + h->count; d++) {
            uint8_t kb[16];
            lw_key key;
            char hex[47], body[512];
            bench_key(d, kb);
            if (lw_key_from_bytes(&key, kb, 16) != LW_OK || !join_hex(d, &key, nonce, hex))
                break;
            int bl = join_body(body, sizeof(body), nonce, hex, d);
            js_handle_bi(w, &auth, body, (size_t)bl, r);
            if (r->http_status == 200 && r->has_result && r->result == BI_RESULT_SUCCESS)
                h->ops++;
            else
                h->errors++;
        }
        nonce++;
    }
    js_worker_close(w);
    free(r);
    return NULL;
}

static int run_handler(const char *dir, const char *token, unsigned threads, unsigned devices, double seconds)
{
    if (threads == 0 || threads > 64 || devices < threads || devices > MAX_CONNS)
        return 2;
    js_ctx *ctx = NULL;
    char err[JS_ERR_MAX];
    if (js_open(dir, &ctx, err) != JS_OK) {
        fprintf(stderr, "js_load handler: %s\n", err);
        return 1;
    }
    handler_job jobs[64];
    pthread_t th[64];
    double t0 = now_s();
    for (unsigned i = 0; i < threads; i++) {
        unsigned per = devices / threads, first = i * per;
        jobs[i] = (handler_job){.ctx = ctx, .first = first, .count = i + 1 == threads ? devices - first : per,
                                .token = token, .until = t0 + seconds};
        pthread_create(&th[i], NULL, handler_main, &jobs[i]);
    }
    size_t ops = 0, errors = 0;
    for (unsigned i = 0; i < threads; i++) {
        pthread_join(th[i], NULL);
        ops += jobs[i].ops;
        errors += jobs[i].errors;
    }
    double el = now_s() - t0;
    js_close(ctx);
    printf("{\"mode\":\"handler\",\"threads\":%u,\"ops\":%zu,\"seconds\":%.2f,\"per_s\":%.1f,\"errors\":%zu}\n",
           threads, ops, el, (double)ops / el, errors);
    return ops > 0 ? 0 : 1;
}

/* The crypto of one 1.0.x join with `c`: keys unwrapped from blobs by
 * `unwrap` for the token, or software keys as they are for memory. */
typedef struct floor_keys {
    const lw_crypto *c;
    hsm_session *s;      /* NULL: software */
    const uint8_t *blob; /* device key blob (token) */
    size_t blob_len;
    lw_key root;         /* software root */
    lw_key ns_kek, as_kek;
} floor_keys;

static bool one_join(floor_keys *fk, uint32_t join_nonce)
{
    const lw_crypto *c = fk->c;
    lw_key root;
    memset(&root, 0, sizeof(root));
    if (fk->s != NULL) {
        if (hsm_key_unwrap_blob(fk->s, HSM_KEY_WORKING, fk->blob, fk->blob_len, &root) != HSM_OK)
            return false;
    } else {
        root = fk->root;
    }
    uint8_t msg[19] = {0}, mic[4], plain[17], wire[17], w1[24], w2[24], kept[40];
    bool ok = lw_mic_join_request(c, &root, msg, sizeof(msg), mic) == LW_OK;
    lw_session_keys_10 sk;
    memset(&sk, 0, sizeof(sk));
    ok = ok && lw_derive_session_keys_10(c, &root, join_nonce & 0xFFFFFF, 0x13, (uint16_t)join_nonce, &sk) == LW_OK;
    lw_join_accept ja = {.join_nonce = join_nonce & 0xFFFFFF, .net_id = 0x13, .dev_addr = 0x26011234};
    size_t n = 0;
    ok = ok && lw_join_accept_build(&ja, plain, sizeof(plain), &n) == LW_OK;
    ok = ok && lw_mic_join_accept_10(c, &root, plain, n, plain + n) == LW_OK;
    ok = ok && lw_join_accept_encrypt(c, &root, plain, n + 4, wire, sizeof(wire)) == LW_OK;
    ok = ok && lw_key_wrap(c, &fk->ns_kek, &sk.nwk_s_key, w1, sizeof(w1)) == LW_OK;
    ok = ok && lw_key_wrap(c, &fk->as_kek, &sk.app_s_key, w2, sizeof(w2)) == LW_OK;
    if (ok && fk->s != NULL) {
        size_t kl = 0;
        ok = hsm_key_wrap_blob(fk->s, &sk.app_s_key, kept, sizeof(kept), &kl) == HSM_OK;
    }
    lw_session_keys_10_release(c, &sk);
    if (fk->s != NULL)
        hsm_key_release(fk->s, &root);
    return ok;
}

static int run_floor(floor_keys *fk, const char *mode, double seconds)
{
    size_t ops = 0;
    double t0 = now_s(), end = t0 + seconds;
    while (now_s() < end) {
        for (int i = 0; i < 64; i++) {
            if (!one_join(fk, (uint32_t)ops)) {
                fprintf(stderr, "js_load %s: a join's crypto failed\n", mode);
                return 1;
            }
            ops++;
        }
    }
    double el = now_s() - t0;
    printf("{\"mode\":\"%s\",\"ops\":%zu,\"seconds\":%.2f,\"per_s\":%.1f}\n", mode, ops, el, (double)ops / el);
    return 0;
}

/* `floor` in several threads of one process, each with its own session
 * and KEKs: what the token's library lets one process do in parallel. */
typedef struct floor_thread {
    hsm *h;
    const store_device *d;
    const store_kek *ns, *as;
    double seconds;
    size_t ops;
    bool ok;
} floor_thread;

static void *floor_run(void *arg)
{
    floor_thread *t = arg;
    hsm_session *s = NULL;
    if (hsm_session_open(t->h, &s) != HSM_OK)
        return NULL;
    floor_keys fk;
    memset(&fk, 0, sizeof(fk));
    fk.c = hsm_session_crypto(s);
    fk.s = s;
    fk.blob = t->d->nwk_key.data;
    fk.blob_len = t->d->nwk_key.len;
    if (hsm_key_unwrap_blob(s, HSM_KEY_KEK, t->ns->key.data, t->ns->key.len, &fk.ns_kek) == HSM_OK &&
        hsm_key_unwrap_blob(s, HSM_KEY_KEK, t->as->key.data, t->as->key.len, &fk.as_kek) == HSM_OK) {
        t->ok = true;
        double end = now_s() + t->seconds;
        while (t->ok && now_s() < end) {
            for (int i = 0; i < 64 && t->ok; i++)
                t->ok = one_join(&fk, (uint32_t)t->ops++);
        }
    }
    hsm_key_release(s, &fk.ns_kek);
    hsm_key_release(s, &fk.as_kek);
    hsm_session_close(s);
    return NULL;
}

static int run_floor_threads(hsm *h, const store_device *d, const store_kek *ns, const store_kek *as,
                             unsigned n, double seconds)
{
    floor_thread t[MAX_CONNS];
    pthread_t th[MAX_CONNS];
    double t0 = now_s();
    for (unsigned i = 0; i < n; i++) {
        t[i] = (floor_thread){.h = h, .d = d, .ns = ns, .as = as, .seconds = seconds};
        if (pthread_create(&th[i], NULL, floor_run, &t[i]) != 0)
            return 1;
    }
    size_t ops = 0;
    bool ok = true;
    for (unsigned i = 0; i < n; i++) {
        pthread_join(th[i], NULL);
        ops += t[i].ops;
        ok = ok && t[i].ok;
    }
    double el = now_s() - t0;
    if (!ok) {
        fprintf(stderr, "js_load floor: a join's crypto failed\n");
        return 1;
    }
    printf("{\"mode\":\"pkcs11\",\"threads\":%u,\"ops\":%zu,\"seconds\":%.2f,\"per_s\":%.1f}\n", n, ops, el,
           (double)ops / el);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 6 && strcmp(argv[1], "http") == 0)
        return run_http((uint16_t)atoi(argv[2]), argv[3], (unsigned)atoi(argv[4]), atof(argv[5]));
    if (argc == 7 && strcmp(argv[1], "handler") == 0)
        return run_handler(argv[2], argv[3], (unsigned)atoi(argv[4]), (unsigned)atoi(argv[5]), atof(argv[6]));
    if (argc == 3 && strcmp(argv[1], "memory") == 0) {
        floor_keys fk;
        memset(&fk, 0, sizeof(fk));
        fk.c = lw_crypto_software();
        uint8_t k[16];
        bench_key(0, k);
        if (lw_key_from_bytes(&fk.root, k, 16) != LW_OK || lw_key_from_bytes(&fk.ns_kek, k, 16) != LW_OK ||
            lw_key_from_bytes(&fk.as_kek, k, 16) != LW_OK)
            return 1;
        return run_floor(&fk, "memory", atof(argv[2]));
    }
    if ((argc == 4 || argc == 5) && strcmp(argv[1], "floor") == 0) {
        unsigned threads = argc == 5 ? (unsigned)atoi(argv[4]) : 1;
        if (threads < 1 || threads > MAX_CONNS) {
            fprintf(stderr, "js_load floor: 1 to %d threads\n", MAX_CONNS);
            return 2;
        }
        char err[JS_ERR_MAX];
        js_config *cfg = calloc(1, sizeof(*cfg));
        if (cfg == NULL || js_config_load(argv[2], cfg, err) != JS_OK) {
            fprintf(stderr, "js_load floor: %s\n", cfg != NULL ? err : "out of memory");
            return 1;
        }
        /* The blobs come from the store once; the loop never touches it. */
        store *db = NULL;
        store_device d;
        store_kek ns, as;
        if (store_open(cfg->database, &db) != STORE_OK || store_device_get(db, BENCH_EUI, &d) != STORE_OK ||
            store_kek_get(db, "ns:000013", &ns) != STORE_OK || store_kek_get(db, "as:bench", &as) != STORE_OK) {
            fprintf(stderr, "js_load floor: the bench device or KEKs are missing\n");
            return 1;
        }
        store_close(db);
        hsm_config hc = {.module = cfg->pkcs11_module, .softhsm_conf = cfg->softhsm_conf,
                         .token_label = cfg->token_label, .pin_file = cfg->pin_file};
        hsm_diag diag;
        hsm *h = NULL;
        hsm_session *s = NULL;
        if (hsm_open(&hc, &h, &diag) != HSM_OK)
            return 1;
        if (argc == 5) {
            int rc = run_floor_threads(h, &d, &ns, &as, threads, atof(argv[3]));
            hsm_close(h);
            free(cfg);
            return rc;
        }
        if (hsm_session_open(h, &s) != HSM_OK)
            return 1;
        floor_keys fk;
        memset(&fk, 0, sizeof(fk));
        fk.c = hsm_session_crypto(s);
        fk.s = s;
        fk.blob = d.nwk_key.data;
        fk.blob_len = d.nwk_key.len;
        if (hsm_key_unwrap_blob(s, HSM_KEY_KEK, ns.key.data, ns.key.len, &fk.ns_kek) != HSM_OK ||
            hsm_key_unwrap_blob(s, HSM_KEY_KEK, as.key.data, as.key.len, &fk.as_kek) != HSM_OK)
            return 1;
        int rc = run_floor(&fk, "pkcs11", atof(argv[3]));
        hsm_key_release(s, &fk.ns_kek);
        hsm_key_release(s, &fk.as_kek);
        hsm_session_close(s);
        hsm_close(h);
        free(cfg);
        return rc;
    }
    fprintf(stderr, "usage: js_load http PORT TOKEN CONNS SECONDS | handler DIR TOKEN THREADS DEVICES SECONDS |"
                    " floor DIR SECONDS [THREADS] | memory SECONDS\n");
    return 2;
}

/*
 * cli_demo.c - `ferry demo`: the whole bootstrap-to-customer flow on one
 * machine, every piece real and on 127.0.0.1 (docs/demo.md).
 *
 *   ferry demo [--dir DIR] [--devices N] [--loss P] [--json FILE] [--keep]
 *              [--stack ferry|loramac-node|mixed] [--mac-version 1.0.4|1.1]
 *              [--restart-join-servers true]
 *              [--clock wall|simulated] [--gateways G]
 *
 * Set-up (under DIR, default a fresh temporary directory): the HSA batch
 * (`ferry hsa personalise`), the IDM deployment with its bootstrap Join
 * Server, two customers (acme, bolt) each with its own Join Server
 * deployment and token, its lab network server and its lab application
 * server; the bootstrap network's lab NS, whose AS is `idm serve`.
 * Processes are this binary's own subcommands, started and stopped here.
 *
 * Steps, each a run of the simulated devices (lab_dev.h) until every
 * device of the step reached its goal:
 *   bootstrap   every device joins the bootstrap network
 *   claim       acme claims the even devices, bolt the odd ones (bulk, by
 *               owner token), each assigned to its owner's Join Server
 *   profile     the profile arrives over the air, the device switches and
 *               joins its owner's network (trial confirmed)
 *   uplinks     application uplinks, decrypted by the owner's AS
 *   transfer    half of acme's fleet moves to bolt
 *   renew       some of bolt's devices get new root keys
 *   command     one secure command reaches a device's application and back
 *   fallback    one more of acme's devices is moved to bolt while bolt's
 *               network is unreachable: it falls back to acme's profile and
 *               the IDM abandons the transfer
 * At the end the IDM's state and owner of every device are compared with
 * what the scenario expects; the exit status is 1 when any differs.
 *
 * --stack loramac-node (or mixed) runs all (or every third) device as an
 * lmn_node process running LoRaMac-node with ferry's element (cli_lmn.h,
 * docs/loramac-node.md): its goals are read from its status lines, a
 * thread keeps reading them, and each step drives ferry's devices on the
 * fleet's workers and LoRaMac-node's by `run` / `pause` at once.
 */
#include "cli/cli.h"
#include "cli/cli_cpu.h"
#include "cli/cli_json.h"
#include "cli/cli_lmn.h"
#include "cli/cli_lab_sim.h"
#include "cli/cli_servers.h"
#include "lab/lab_dev.h"
#include "lorawan/lw_secure.h"
#include "net/net_client.h"
#include "net/net_config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_PROCS 16
#define BOOT_JE 0x70B3D57ED0000000ull
#define ACME_JE 0x70B3D57ED00A0000ull
#define BOLT_JE 0x70B3D57ED00B0000ull
#define DEV_BASE 0x70B3D57ED0070000ull
#define NET_BOOT 0
#define NET_ACME 1
#define NET_BOLT 2
#define NET_VISITED 3
#define VISITED_NET "000042"

enum { OWNER_ACME = 0, OWNER_BOLT = 1 };

/* Which devices run LoRaMac-node (--stack): none, all, or every third
 * (device i when i % 3 == 0: among them transferred, renewed, roaming
 * devices and the one that gets the secure command). */
enum { STACK_FERRY, STACK_LMN, STACK_MIXED };
static const char *const stack_name[] = {"ferry", "loramac-node", "mixed"};

/* Where the flow's CPU time goes (docs/demo.md, "The report"): each spawned
 * process is counted in the group it was started for, the element is the
 * devices' se_cpu_s, and the rest of this process is the simulated radio. */
enum { CPU_SE, CPU_JS, CPU_IDM, CPU_NS, CPU_AS, CPU_HUB, CPU_RADIO, CPU_GROUPS };
static const char *const cpu_group_name[CPU_GROUPS] = {"se", "join_server", "idm", "network_server",
                                                       "application_server", "hub", "lab_radio"};

typedef struct step_report {
    const char *name;
    size_t total, done;
    uint64_t frames;
    double median_s, worst_s;
} step_report;

typedef struct demo {
    char dir[PATH_MAX - 64];
    char ferry[PATH_MAX];
    size_t n;
    double loss;
    lab_clock clock;             /* --clock: the lab NSs are configured with it too */
    unsigned gateways;           /* --gateways (simulated clock) */
    bool tty;
    pid_t pid[MAX_PROCS];
    int group[MAX_PROCS];        /* CPU_JS ... CPU_HUB, per pid */
    char log[MAX_PROCS][32];     /* its log file in dir, which names it */
    size_t npid;
    cli_ports ports;             /* held from set-up until the servers start */
    unsigned p_js, p_idm, p_acme_js, p_bolt_js, p_ns[4], u_ns[4], p_as[2], p_hub;
    lab_dev *dev;
    lab_fleet *fleet;
    int *owner;                  /* expected final owner */
    uint64_t *target_je;         /* the goal of the running step, per device */
    uint32_t *need_mls;          /* MLS commands the device must have executed */
    uint32_t *need_up;           /* uplinks the device must have sent */
    int *leave_slot;             /* a profile slot the device must have left (-1: none) */
    bool *in_step;
    bool *need_secure;
    double *done_at;
    double t0;
    double setup_s, flow_s;      /* wall: set-up to t0, then the scenario */
    double cpu0[CPU_GROUPS];     /* cumulative CPU at t0 (cpu_sample) */
    double cpu[CPU_GROUPS];      /* CPU spent during the scenario (cpu_account) */
    step_report steps[10];
    size_t nsteps;
    volatile bool progress_stop;
    const char *step_name;
    volatile sig_atomic_t *stop;  /* --console: set by SIGTERM/SIGINT (cli_server_stop_on_signals) */
    /* LoRaMac-node devices (--stack): lmn_node processes (cli_lmn.h) */
    int stack;
    char lmn_prog[PATH_MAX];
    bool *is_lmn;
    cli_lmn *lmn;                /* n entries; used where is_lmn */
    uint32_t *need_switch;       /* profile changes an LoRaMac-node device must have seen */
    uint32_t *secure_base;       /* secure commands answered before the step */
    pthread_mutex_t lmn_lock;    /* the devices' status, read by lmn_reader */
    pthread_t lmn_reader;
    volatile bool lmn_reader_stop;
    bool lmn_reader_on;
    const char *mac_version;     /* of the HSA batch: 1.0.4 or 1.1 (--mac-version) */
    bool restart_js;             /* --restart-join-servers: each Join Server restarted before each step */
    unsigned js_restarts;
} demo;

/* What the scenario needs to know of device i, whichever its stack. */
typedef struct dev_view {
    bool ok;
    uint64_t join_eui;
    bool joined, on_trial;
    int slot;
    uint32_t mls;                /* ferry: MLS commands executed; LoRaMac-node: FPort 200 downlinks the element took */
    uint32_t uplinks, secure, switches, joins, join_requests, downlinks;
} dev_view;

static void view_of(demo *d, size_t i, dev_view *v)
{
    memset(v, 0, sizeof *v);
    if (d->is_lmn[i]) {
        pthread_mutex_lock(&d->lmn_lock);
        cli_lmn_status st = d->lmn[i].st;
        pthread_mutex_unlock(&d->lmn_lock);
        v->ok = st.seen;
        v->join_eui = st.join_eui, v->joined = st.joined && st.stack_joined, v->on_trial = st.on_trial;
        v->slot = (int)st.active_slot, v->mls = st.mls_downlinks, v->uplinks = st.uplinks;
        v->secure = st.secure_commands, v->switches = st.profile_switches, v->joins = st.joins;
        v->join_requests = st.join_requests, v->downlinks = st.downlinks;
        return;
    }
    lab_dev *dv = &d->dev[i];
    se_info s;
    v->ok = lab_dev_info(dv, &s) == LAB_OK;
    if (v->ok)
        v->join_eui = s.join_eui, v->joined = s.joined, v->on_trial = s.on_trial, v->slot = s.active_slot,
        v->mls = s.mls_down_counter;
    v->uplinks = dv->st.uplinks, v->secure = dv->st.secure_commands, v->joins = dv->st.joins;
    v->join_requests = dv->st.join_requests, v->downlinks = dv->st.downlinks;
}

static uint64_t frames_of(demo *d, size_t i)
{
    dev_view v;
    view_of(d, i, &v);
    return (uint64_t)v.uplinks + v.join_requests + v.downlinks;
}

/* A lab NS configuration ends with its clock (docs/lab-ns.md). */
static int sim_clock_line(const demo *d, char *text, size_t cap)
{
    size_t len = strlen(text);
    int n = snprintf(text + len, cap - len, "clock = %s\n", lab_clock_name(d->clock));
    return n > 0 && (size_t)n < cap - len ? 0 : -1;
}

static bool roaming(size_t i)
{
    return i % 5 == 4;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---------------------------------------------------------------- processes */

/* Runs a shell command line (built from our own paths and numbers only)
 * with `in` on its stdin, its output appended to DIR/setup.log. */
static int run(demo *d, const char *in, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int run(demo *d, const char *in, const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof cmd)
        return -1;
    char full[sizeof cmd + sizeof d->dir + 64];
    snprintf(full, sizeof full, "cd '%s' && { %s ; } >>setup.log 2>&1", d->dir, cmd);
    FILE *p = popen(full, "w");
    if (p == NULL)
        return -1;
    if (in != NULL)
        fputs(in, p);
    int st = pclose(p);
    int rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    if (rc != 0) {
        /* The user sees which command failed and why, not only a step
         * that never ended: its last lines are at the end of setup.log. */
        char log[sizeof d->dir + 16];
        snprintf(log, sizeof log, "%s/setup.log", d->dir);
        fprintf(stderr, "ferry demo: a command failed (status %d): %.300s\n  its last lines (%s):\n", rc, cmd, log);
        cli_print_log_tail(stderr, log, 8, "    ");
    }
    return rc;
}

/* Starts a server (logging to DIR/log), counted in CPU group `group`. */
static int spawn(demo *d, int group, const char *log, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int spawn(demo *d, int group, const char *log, const char *fmt, ...)
{
    if (d->npid == MAX_PROCS)
        return -1;
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof cmd)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        /* The servers end with the demo, also when it is killed before it
         * could stop them (kept across the exec: no set-uid program). */
        if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() == 1 || chdir(d->dir) != 0)
            _exit(127);
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        char full[2100];
        snprintf(full, sizeof full, "exec %s", cmd);
        execl("/bin/sh", "sh", "-c", full, (char *)NULL);
        _exit(127);
    }
    d->group[d->npid] = group;
    snprintf(d->log[d->npid], sizeof d->log[0], "%s", log);
    d->pid[d->npid++] = pid;
    return 0;
}

static void stop_all(demo *d)
{
    /* a pid of -1 was reaped already: kill(-1) would signal everything */
    for (size_t i = 0; i < d->npid; i++)
        if (d->pid[i] > 0)
            kill(d->pid[i], SIGTERM);
    for (size_t i = 0; i < d->npid; i++)
        if (d->pid[i] > 0)
            waitpid(d->pid[i], NULL, 0);
    d->npid = 0;
}

static void random_hex(char out[33])
{
    uint8_t b[16];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, b, sizeof b) : -1;
    if (fd >= 0)
        close(fd);
    for (int i = 0; i < 16; i++)
        snprintf(out + 2 * i, 3, "%02X", n == 16 ? b[i] : (unsigned)rand() & 0xFF);
}

static int write_file(demo *d, const char *name, const char *text)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", d->dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    size_t len = strlen(text);
    bool ok = write(fd, text, len) == (ssize_t)len;
    return close(fd) == 0 && ok ? 0 : -1;
}

/* ---------------------------------------------------------------- set-up */

static int setup(demo *d)
{
    char hsa[33], boot_ns[33], acme_kek[33], acme_ns[33], acme_as[33], bolt_kek[33], bolt_ns[33], bolt_as[33];
    random_hex(hsa), random_hex(boot_ns), random_hex(acme_kek), random_hex(acme_ns), random_hex(acme_as);
    random_hex(bolt_kek), random_hex(bolt_ns), random_hex(bolt_as);
    char in[64];
    const char *F = d->ferry;
    /* every port at once and held until the servers start: none taken
     * twice, none taken meanwhile by an outgoing connection */
    if (cli_ports_reserve(&d->ports, 15) != 0)
        return -1;
    const unsigned *pp = d->ports.port;
    d->p_js = pp[0], d->p_idm = pp[1], d->p_acme_js = pp[2], d->p_bolt_js = pp[3];
    for (int i = 0; i < 4; i++)
        d->p_ns[i] = pp[4 + i], d->u_ns[i] = pp[8 + i];
    d->p_hub = pp[12], d->p_as[0] = pp[13], d->p_as[1] = pp[14];
#define RUN_IN(key, ...)                                                                                          \
    do {                                                                                                          \
        snprintf(in, sizeof in, "%s\n", key);                                                                     \
        if (run(d, in, __VA_ARGS__) != 0)                                                                         \
            return -1;                                                                                            \
    } while (0)
#define RUN(...)                                                                                                  \
    do {                                                                                                          \
        if (run(d, NULL, __VA_ARGS__) != 0)                                                                       \
            return -1;                                                                                            \
    } while (0)
    RUN("'%s' init idm --join-eui %016llX --listen 127.0.0.1:%u", F, BOOT_JE, d->p_js);
    RUN_IN(hsa, "'%s' -d idm kek import hsa-idm", F);
    RUN_IN(boot_ns, "'%s' -d idm kek import bootstrap-ns", F);
    RUN("'%s' -d idm kek generate idm-as && '%s' -d idm peer add 000000 --token-out boot-js.tok", F, F);
    RUN_IN(acme_kek, "'%s' -d idm kek import acme-kek", F);
    RUN_IN(bolt_kek, "'%s' -d idm kek import bolt-kek", F);
    const char *cust[2] = {"acme", "bolt"};
    const char *keks[2][3] = {{acme_kek, acme_ns, acme_as}, {bolt_kek, bolt_ns, bolt_as}};
    unsigned js_port[2] = {d->p_acme_js, d->p_bolt_js};
    uint64_t je[2] = {ACME_JE, BOLT_JE};
    const char *net[2] = {"000013", "000014"};
    for (int c = 0; c < 2; c++) {
        RUN("'%s' init %s-js --join-eui %016llX --listen 127.0.0.1:%u", F, cust[c], (unsigned long long)je[c],
            js_port[c]);
        RUN_IN(keks[c][0], "'%s' -d %s-js kek import %s-kek", F, cust[c], cust[c]);
        RUN_IN(keks[c][1], "'%s' -d %s-js kek import %s-ns", F, cust[c], cust[c]);
        RUN_IN(keks[c][2], "'%s' -d %s-js kek import %s-as", F, cust[c], cust[c]);
        RUN("'%s' -d %s-js peer add %s --token-out %s-js.tok", F, cust[c], net[c], cust[c]);
    }
    RUN_IN(hsa,
           "'%s' hsa personalise --count %zu --out hsa --kek-label hsa-idm --mac-version %s --dev-eui-base %016llX",
           F, d->n, d->mac_version, DEV_BASE);
    /* the batch's maker, a tenant that follows its SEs (docs/idm.md, "Who may do what") */
    RUN("'%s' -d idm idm tenant add maker --kind maker --name 'the device maker' --token-out maker.tok", F);
    RUN("'%s' -d idm idm import hsa/batch.jsonl --maker maker", F);
    RUN("'%s' -d idm idm init --ns-token-out idm-ns.tok --listen 127.0.0.1:%u", F, d->p_idm);
    /* a demo's minutes, not a deployment's hours: re-send, poll and re-deliver sooner */
    /* Under the simulated clock a device's next uplink may come a
     * millisecond of wall time later: a new round of fragments waits for
     * the NS to have sent every earlier one (DownlinkQueued, docs/idm.md),
     * not for wall-clock seconds that mean nothing to simulated devices. */
    RUN("'%s' -d idm idm config set retry_base %d poll 1 redeliver_after 10", F,
        d->clock == LAB_CLOCK_SIMULATED ? 0 : 1);
    for (int c = 0; c < 2; c++) {
        RUN("'%s' -d idm idm tenant add %s --kind customer --token-out %s.tok", F, cust[c], cust[c]);
        RUN("'%s' -d idm idm js add %s-js --tenant %s --url http://127.0.0.1:%u --admin-token-file %s-js/admin.token "
            "--join-eui %016llX --net-id %s --kek-label %s-kek --ns-kek-label %s-ns --as-kek-label %s-as",
            F, cust[c], cust[c], js_port[c], cust[c], (unsigned long long)je[c], net[c], cust[c], cust[c], cust[c]);
    }
    /* the visited network's operator, onboarded at the IDM's Join Server and
     * reaching it through the peering hub; the hub's members and routes */
    char text[2048], name[64], vis_kek[33], bi_home[33], bi_vis[33], h_home[80] = "", h_vis[80] = "", op_tok[160] = "";
    random_hex(vis_kek), random_hex(bi_home), random_hex(bi_vis);
    RUN("'%s' -d idm operator add %s --reach hub --token-out hub-op.tok --name 'visited network'", F, VISITED_NET);
    RUN("'%s' hub token home-hub.tok >home-hub.json && '%s' hub token visited-hub.tok >visited-hub.json", F, F);
    {
        const char *files[3] = {"home-hub.json", "visited-hub.json", "hub-op.tok"};
        char *outs[3] = {h_home, h_vis, op_tok};
        size_t caps[3] = {sizeof h_home, sizeof h_vis, sizeof op_tok};
        for (int k = 0; k < 3; k++) {
            char path[PATH_MAX];
            snprintf(path, sizeof path, "%s/%s", d->dir, files[k]);
            if (k < 2) {
                json_t *o = json_load_file(path, 0, NULL);
                const char *h = json_string_value(json_object_get(o, "token_sha256"));
                if (h != NULL)
                    snprintf(outs[k], caps[k], "%s", h);
                json_decref(o);
            } else {
                FILE *f = fopen(path, "r");
                if (f == NULL || fgets(outs[k], (int)caps[k], f) == NULL) {
                    if (f != NULL)
                        fclose(f);
                    return -1;
                }
                fclose(f);
                outs[k][strcspn(outs[k], "\r\n")] = '\0';
            }
            if (outs[k][0] == '\0')
                return -1;
        }
    }
    snprintf(text, sizeof text, "%s %s\n", VISITED_NET, op_tok);
    if (write_file(d, "hub-js.tok", text) != 0 || write_file(d, "hub-home-bi.tok", bi_home) != 0 ||
        write_file(d, "hub-to-home.tok", bi_home) != 0 || write_file(d, "hub-visited-bi.tok", bi_vis) != 0 ||
        write_file(d, "hub-to-visited.tok", bi_vis) != 0 || write_file(d, "visited.kek", vis_kek) != 0)
        return -1;
    lw_secure_wipe(op_tok, sizeof op_tok), lw_secure_wipe(text, sizeof text);
    snprintf(text, sizeof text,
             "listen = 127.0.0.1:%u\nthreads = 4\nmember = 000000 token_sha256=%s\nmember = %s token_sha256=%s\n"
             "route = %016llX/48 http://127.0.0.1:%u/ hub-js.tok\nroute = 000000 http://127.0.0.1:%u/bi hub-to-home.tok\n"
             "route = %s http://127.0.0.1:%u/bi hub-to-visited.tok\n",
             d->p_hub, h_home, VISITED_NET, h_vis, BOOT_JE, d->p_js, d->p_ns[0], VISITED_NET, d->p_ns[3]);
    if (write_file(d, "hub.conf", text) != 0)
        return -1;
    snprintf(text, sizeof text,
             "net_id = %s\nkek_label = ns:%s\nkek_file = visited.kek\nudp_listen = 127.0.0.1:%u\n"
             "http_listen = 127.0.0.1:%u\nroaming_hub = http://127.0.0.1:%u/ visited-hub.tok\n"
             "bi_token_file = hub-visited-bi.tok\n",
             VISITED_NET, VISITED_NET, d->u_ns[3], d->p_ns[3], d->p_hub);
    if (sim_clock_line(d, text, sizeof text) != 0 || write_file(d, "visited-ns.conf", text) != 0)
        return -1;
    lw_secure_wipe(vis_kek, sizeof vis_kek), lw_secure_wipe(bi_home, sizeof bi_home), lw_secure_wipe(bi_vis, sizeof bi_vis);
    /* the network servers and the customers' application servers */
    if (write_file(d, "boot-ns.kek", boot_ns) != 0 || write_file(d, "ns-as.tok", "demo-ns-as-token\n") != 0 ||
        write_file(d, "dl.tok", "demo-downlink-token\n") != 0)
        return -1;
    snprintf(text, sizeof text,
             "net_id = 000000\nkek_label = bootstrap-ns\nkek_file = boot-ns.kek\nudp_listen = 127.0.0.1:%u\n"
             "http_listen = 127.0.0.1:%u\nroute = %016llX/48 http://127.0.0.1:%u/ boot-js.tok\n"
             "as_url = http://127.0.0.1:%u\nas_token_file = idm-ns.tok\ndownlink_token_file = dl.tok\n"
             "roaming_hub = http://127.0.0.1:%u/ home-hub.tok\nbi_token_file = hub-home-bi.tok\nroaming_lifetime = 600\n",
             d->u_ns[0], d->p_ns[0], BOOT_JE, d->p_js, d->p_idm, d->p_hub);
    if (sim_clock_line(d, text, sizeof text) != 0 || write_file(d, "bootstrap-ns.conf", text) != 0)
        return -1;
    for (int c = 0; c < 2; c++) {
        snprintf(name, sizeof name, "%s-ns.kek", cust[c]);
        if (write_file(d, name, keks[c][1]) != 0)
            return -1;
        snprintf(name, sizeof name, "%s-as.kek", cust[c]);
        if (write_file(d, name, keks[c][2]) != 0)
            return -1;
        snprintf(text, sizeof text,
                 "net_id = %s\nkek_label = %s-ns\nkek_file = %s-ns.kek\nudp_listen = 127.0.0.1:%u\n"
                 "http_listen = 127.0.0.1:%u\nroute = %016llX/48 http://127.0.0.1:%u/ %s-js.tok\n"
                 "as_url = http://127.0.0.1:%u\nas_token_file = ns-as.tok\ndownlink_token_file = dl.tok\n",
                 net[c], cust[c], cust[c], d->u_ns[1 + c], d->p_ns[1 + c], (unsigned long long)je[c], js_port[c],
                 cust[c], d->p_as[c]);
        snprintf(name, sizeof name, "%s-ns.conf", cust[c]);
        if (sim_clock_line(d, text, sizeof text) != 0 || write_file(d, name, text) != 0)
            return -1;
        snprintf(text, sizeof text,
                 "listen = 127.0.0.1:%u\ntoken_file = ns-as.tok\nkek_label = %s-as\nkek_file = %s-as.kek\n"
                 "idm_url = http://127.0.0.1:%u\nidm_token_file = %s.tok\n",
                 d->p_as[c], cust[c], cust[c], d->p_idm, cust[c]);
        snprintf(name, sizeof name, "%s-as.conf", cust[c]);
        if (write_file(d, name, text) != 0)
            return -1;
    }
    lw_secure_wipe(hsa, sizeof hsa), lw_secure_wipe(boot_ns, sizeof boot_ns);
    lw_secure_wipe(acme_kek, sizeof acme_kek), lw_secure_wipe(acme_ns, sizeof acme_ns);
    lw_secure_wipe(acme_as, sizeof acme_as), lw_secure_wipe(bolt_kek, sizeof bolt_kek);
    lw_secure_wipe(bolt_ns, sizeof bolt_ns), lw_secure_wipe(bolt_as, sizeof bolt_as);
    lw_secure_wipe(in, sizeof in);
    return 0;
#undef RUN
#undef RUN_IN
}

/* The three Join Servers are the first three processes start() spawns. */
static const char *const js_log[3] = {"bootstrap-js.log", "acme-js.log", "bolt-js.log"};
static const char *const js_dir[3] = {"idm", "acme-js", "bolt-js"};

/* --restart-join-servers: stops each Join Server (SIGTERM, waited for) and
 * starts it again on its port, before a step's joins: the JoinNonce a
 * device is given next must not depend on the server's memory. The CPU it
 * used before is not counted any more (docs/demo.md). */
static int restart_join_servers(demo *d, const char *prog)
{
    unsigned port[3] = {d->p_js, d->p_acme_js, d->p_bolt_js};
    for (size_t k = 0; k < 3; k++) {
        if (d->pid[k] > 0) {
            kill(d->pid[k], SIGTERM);
            waitpid(d->pid[k], NULL, 0);
        }
        d->pid[k] = -1;
        size_t keep = d->npid;
        d->npid = k;   /* spawn() fills slot k */
        int rc = spawn(d, CPU_JS, js_log[k], "'%s' -d %s serve", d->ferry, js_dir[k]);
        d->npid = keep;
        int status = 0;
        if (rc != 0 || cli_wait_listening(d->pid[k], port[k], 30 * cli_build_slowness(), &status) != CLI_READY) {
            cli_error(prog, "a Join Server did not start again: see %s/%s", d->dir, js_log[k]);
            return -1;
        }
    }
    d->js_restarts++;
    return 0;
}

/* Starts every server, then waits for each to listen. A server that exits
 * or does not listen in time is named, with the end of its log: the
 * demo is the first thing a new user runs, and "a server did not start"
 * alone sends them hunting through eleven logs. */
static int start(demo *d, const char *prog)
{
    const char *F = d->ferry;
    cli_ports_release(&d->ports);
    if (spawn(d, CPU_JS, js_log[0], "'%s' -d %s serve", F, js_dir[0]) ||
        spawn(d, CPU_JS, js_log[1], "'%s' -d %s serve", F, js_dir[1]) ||
        spawn(d, CPU_JS, js_log[2], "'%s' -d %s serve", F, js_dir[2]) ||
        spawn(d, CPU_IDM, "idm.log", "'%s' -d idm idm serve", F) ||
        spawn(d, CPU_NS, "bootstrap-ns.log", "'%s' lab ns --config bootstrap-ns.conf", F) ||
        spawn(d, CPU_NS, "acme-ns.log", "'%s' lab ns --config acme-ns.conf", F) ||
        spawn(d, CPU_NS, "bolt-ns.log", "'%s' lab ns --config bolt-ns.conf", F) ||
        spawn(d, CPU_AS, "acme-as.log", "'%s' lab as --config acme-as.conf", F) ||
        spawn(d, CPU_AS, "bolt-as.log", "'%s' lab as --config bolt-as.conf", F) ||
        spawn(d, CPU_HUB, "hub.log", "'%s' hub --config hub.conf", F) ||
        spawn(d, CPU_NS, "visited-ns.log", "'%s' lab ns --config visited-ns.conf", F))
        return -1;
    unsigned ports[] = {d->p_js, d->p_acme_js, d->p_bolt_js, d->p_idm, d->p_ns[0], d->p_ns[1], d->p_ns[2],
                        d->p_as[0], d->p_as[1], d->p_hub, d->p_ns[3]};
    double limit = 30 * cli_build_slowness();
    for (size_t i = 0; i < sizeof ports / sizeof ports[0]; i++) {
        int status = 0;
        cli_ready r = cli_wait_listening(d->pid[i], ports[i], limit, &status);
        if (r == CLI_READY)
            continue;
        if (r == CLI_READY_EXITED) {
            d->pid[i] = -1;   /* reaped */
            if (WIFEXITED(status))
                cli_error(prog, "a server did not start: %s exited with status %d; its last lines:", d->log[i],
                          WEXITSTATUS(status));
            else
                cli_error(prog, "a server did not start: %s ended by signal %d; its last lines:", d->log[i],
                          WIFSIGNALED(status) ? WTERMSIG(status) : 0);
        } else {
            cli_error(prog, "a server did not start: %s is not listening on 127.0.0.1:%u after %.0f s; its last lines:",
                      d->log[i], ports[i], limit);
        }
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", d->dir, d->log[i]);
        cli_print_log_tail(stderr, path, 10, "    ");
        return -1;
    }
    return 0;
}

/* Starts device i as an lmn_node process on the demo's four networks (in
 * range as the lab device would be), its NVM and log under DIR/lmn/. */
static int start_lmn(demo *d, size_t i, const char *img)
{
    char dir[PATH_MAX], nvm[PATH_MAX + 64], log[PATH_MAX + 64], nets[512];
    snprintf(dir, sizeof dir, "%s/lmn", d->dir);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return -1;
    snprintf(nvm, sizeof nvm, "%s/se-%016llX.nvm", dir, (unsigned long long)(DEV_BASE + i));
    snprintf(log, sizeof log, "%s/se-%016llX.log", dir, (unsigned long long)(DEV_BASE + i));
    snprintf(nets, sizeof nets, "bootstrap=127.0.0.1:%u,acme=127.0.0.1:%u,bolt=127.0.0.1:%u,visited=127.0.0.1:%u",
             d->u_ns[NET_BOOT], d->u_ns[NET_ACME], d->u_ns[NET_BOLT], d->u_ns[NET_VISITED]);
    int margin = (int)(300 * cli_build_slowness());
    cli_lmn_args a = {
        .image = img,
        .nvm = nvm,
        .log = log,
        .networks = nets,
        .in_range = roaming(i) ? "acme,bolt,visited" : "bootstrap,acme,bolt",
        .dr = (unsigned)(i % 6),
        .loss = d->loss,
        .seed = 0xC0FFEEu + (uint32_t)i * 2654435761u,
        .window_margin_ms = margin < 700 ? margin : 700,   /* RX2 opens one second after RX1 */
        .run = false,
    };
    d->dev[i].dev_eui = DEV_BASE + i;
    return cli_lmn_start(&d->lmn[i], d->lmn_prog, &a);
}

/* ---------------------------------------------------------------- steps */

/* The goal of a step for device i: a session on target_je[i], its trial
 * over, at least need_mls[i] MLS commands executed, and the secure command
 * answered when need_secure[i]. */
static bool want(lab_dev *dv, void *ctx)
{
    demo *d = ctx;
    size_t i = (size_t)(dv - d->dev);
    if (!d->in_step[i])
        return false;
    se_info s;
    if (se_get_info(&dv->e, &s) != SE_OK)
        return true;
    bool met = s.joined && !s.on_trial && s.join_eui == d->target_je[i] && s.mls_down_counter >= d->need_mls[i] &&
               dv->st.uplinks >= d->need_up[i] && (d->leave_slot[i] < 0 || s.active_slot != d->leave_slot[i]) &&
               (!d->need_secure[i] || dv->st.secure_commands > d->secure_base[i]);
    if (met && d->done_at[i] == 0)
        d->done_at[i] = now();
    return !met;
}

static void *progress(void *arg)
{
    demo *d = arg;
    while (!d->progress_stop) {
        size_t in = 0, done = 0;
        for (size_t i = 0; i < d->n; i++)
            if (d->in_step[i]) {
                in++;
                done += d->done_at[i] != 0;
            }
        int width = 30, fill = in > 0 ? (int)(width * done / in) : width;
        fprintf(stderr, "\r  %-10s [%.*s%*s] %zu/%zu ", d->step_name, fill, "##############################",
                width - fill, "", done, in);
        usleep(200 * 1000);
    }
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The goal of a step for a LoRaMac-node device i: as want()'s, read from
 * its status line. Its MLS count is of FPort 200 downlinks the element
 * took (fragments included), so need_mls is a lower bound there; a
 * fallback also needs need_switch profile changes (to the new profile and
 * back). */
static bool lmn_met(demo *d, size_t i)
{
    dev_view v;
    view_of(d, i, &v);
    return v.ok && v.joined && !v.on_trial && v.join_eui == d->target_je[i] && v.mls >= d->need_mls[i] &&
           v.uplinks >= d->need_up[i] && (d->leave_slot[i] < 0 || v.slot != d->leave_slot[i]) &&
           (!d->need_secure[i] || v.secure > d->secure_base[i]) && v.switches >= d->need_switch[i];
}

/* Drives the LoRaMac-node devices of the step until each met its goal or
 * `end`: `run` while a device has not, `pause` once it has (as the lab's
 * own devices take no step once they met it). */
static void lmn_drive(demo *d, double end)
{
    for (;;) {
        bool all = true;
        for (size_t i = 0; i < d->n; i++) {
            if (!d->is_lmn[i])
                continue;
            bool met = !d->in_step[i] || lmn_met(d, i);
            if (d->in_step[i] && met && d->done_at[i] == 0)
                d->done_at[i] = now();
            all = all && met;
            if (!met != d->lmn[i].running && cli_lmn_send(&d->lmn[i], met ? "pause" : "run") != 0)
                d->lmn[i].running = !met;   /* a device that is gone: not asked again */
        }
        if (all || now() > end)
            break;
        usleep(100 * 1000);
    }
    for (size_t i = 0; i < d->n; i++)
        if (d->is_lmn[i] && d->lmn[i].running)
            (void)cli_lmn_send(&d->lmn[i], "pause");   /* a device that is gone pauses anyway */
}

typedef struct fleet_job {
    demo *d;
    double seconds;
    lab_status st;
    size_t done;
} fleet_job;

static void *fleet_thread(void *arg)
{
    fleet_job *j = arg;
    j->st = lab_fleet_run(j->d->fleet, want, j->d, 2000, j->seconds, &j->done);
    return NULL;
}

/* Keeps reading the LoRaMac-node devices' status lines, also between
 * steps: a device whose output nobody reads would block on it. */
static void *lmn_reader(void *arg)
{
    demo *d = arg;
    while (!d->lmn_reader_stop)
        cli_lmn_poll(d->lmn, d->n, 200, &d->lmn_lock);
    return NULL;
}

static void set_network_down(demo *d, size_t net, bool down)
{
    lab_fleet_set_down(d->fleet, net, down);
    char line[32];
    snprintf(line, sizeof line, "%s %zu", down ? "down" : "up", net);
    for (size_t i = 0; i < d->n; i++)
        if (d->is_lmn[i] && cli_lmn_send(&d->lmn[i], line) != 0)
            fprintf(stderr, "ferry demo: LoRaMac-node device %zu did not take \"%s\"\n", i, line);
}

/* Runs the devices with in_step set until each met its goal: ferry's on
 * the fleet's workers, LoRaMac-node's as their own processes, at once. */
static int run_step(demo *d, const char *name, double seconds)
{
    if (d->restart_js && strcmp(name, "bootstrap") != 0 && restart_join_servers(d, "ferry demo") != 0)
        return -1;
    step_report *r = &d->steps[d->nsteps++];
    memset(r, 0, sizeof *r);
    r->name = name;
    d->step_name = name;
    uint64_t frames0 = 0;
    for (size_t i = 0; i < d->n; i++) {
        d->done_at[i] = 0;
        frames0 += frames_of(d, i);
        r->total += d->in_step[i];
    }
    double t0 = now();
    pthread_t th;
    d->progress_stop = false;
    bool bar = d->tty && pthread_create(&th, NULL, progress, d) == 0;
    bool any_ferry = false, any_lmn = false;
    for (size_t i = 0; i < d->n; i++)
        if (d->in_step[i]) {
            any_ferry = any_ferry || !d->is_lmn[i];
            any_lmn = any_lmn || d->is_lmn[i];
        }
    fleet_job job = {.d = d, .seconds = seconds, .st = LAB_OK, .done = 0};
    pthread_t ft;
    bool fleet_on = any_ferry && pthread_create(&ft, NULL, fleet_thread, &job) == 0;
    if (any_ferry && !fleet_on)
        (void)fleet_thread(&job);
    if (any_lmn)
        lmn_drive(d, t0 + seconds);
    if (fleet_on)
        pthread_join(ft, NULL);
    lab_status st = job.st;
    d->progress_stop = true;
    if (bar) {
        pthread_join(th, NULL);
        fprintf(stderr, "\r%60s\r", "");
    }
    uint64_t frames1 = 0;
    double *t = calloc(d->n + 1, sizeof *t);
    size_t k = 0;
    for (size_t i = 0; i < d->n; i++) {
        frames1 += frames_of(d, i);
        if (d->in_step[i] && d->done_at[i] != 0 && t != NULL)
            t[k++] = d->done_at[i] - t0;
    }
    r->done = k;
    r->frames = frames1 - frames0;
    if (t != NULL && k > 0) {
        qsort(t, k, sizeof *t, cmp_double);
        r->median_s = t[k / 2];
        r->worst_s = t[k - 1];
    }
    free(t);
    fprintf(stderr, "  %-10s %zu/%zu devices, %llu frames, median %.1f s, worst %.1f s\n", name, r->done, r->total,
            (unsigned long long)r->frames, r->median_s, r->worst_s);
    return st == LAB_OK ? 0 : -1;
}

static void select_none(demo *d)
{
    for (size_t i = 0; i < d->n; i++)
        d->in_step[i] = false, d->need_secure[i] = false, d->leave_slot[i] = -1, d->need_switch[i] = 0;
}

static int slot_of(demo *d, size_t i)
{
    dev_view v;
    view_of(d, i, &v);
    return v.ok ? v.slot : -1;
}

static uint32_t uplinks_of(demo *d, size_t i)
{
    dev_view v;
    view_of(d, i, &v);
    return v.uplinks;
}

static uint64_t je_of(int owner)
{
    return owner == OWNER_ACME ? ACME_JE : BOLT_JE;
}

static uint32_t mls_of(demo *d, size_t i)
{
    dev_view v;
    view_of(d, i, &v);
    return v.mls;
}

/* Writes one DevEUI per line (optionally with its owner token from the
 * batch) to DIR/name for a fleet command. */
static int fleet_file(demo *d, const char *name, bool (*pick)(demo *, size_t), bool with_token)
{
    char path[PATH_MAX], batch[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", d->dir, name);
    snprintf(batch, sizeof batch, "%s/hsa/batch.jsonl", d->dir);
    FILE *out = fopen(path, "w"), *in = with_token ? fopen(batch, "r") : NULL;
    if (out == NULL || (with_token && in == NULL)) {
        if (out != NULL)
            fclose(out);
        if (in != NULL)
            fclose(in);
        return -1;
    }
    char line[2048];
    for (size_t i = 0; i < d->n; i++) {
        if (!pick(d, i))
            continue;
        uint64_t dev = d->dev[i].dev_eui;
        if (!with_token) {
            fprintf(out, "%016llX\n", (unsigned long long)dev);
            continue;
        }
        rewind(in);
        char want_dev[40];
        snprintf(want_dev, sizeof want_dev, "\"DevEUI\":\"%016llX\"", (unsigned long long)dev);
        while (fgets(line, sizeof line, in) != NULL) {
            char *q = strstr(line, want_dev), *o = strstr(line, ":O");
            if (q != NULL && o != NULL) {
                fprintf(out, "%016llX %.32s\n", (unsigned long long)dev, o + 2);
                break;
            }
        }
    }
    lw_secure_wipe(line, sizeof line);
    bool ok = fclose(out) == 0;
    if (in != NULL)
        fclose(in);
    return ok ? 0 : -1;
}

static bool pick_acme(demo *d, size_t i) { return d->owner[i] == OWNER_ACME; }
static bool pick_bolt(demo *d, size_t i) { return d->owner[i] == OWNER_BOLT; }
static bool pick_step(demo *d, size_t i) { return d->in_step[i]; }

/* ferry idm <verb> with the DevEUIs of the step's devices as arguments. */
static bool verify(demo *d, json_t *devices, int attempts);

/* Simulated clock: the devices outrun the IDM's own (wall-time) housekeeping,
 * so before each fleet command the demo waits until the IDM has every device
 * where the scenario left it, as the wall clock's steps give it time to.
 * Waiting alone is not enough: an SE's last answer lost on the air (its
 * response to the profile, sent as it switches networks) reaches the IDM
 * only on a later uplink, and between steps no device sends one. So each
 * round, the devices the IDM has not settled send two more uplinks (through
 * the owner's AS relay, docs/idm.md "Relay"), up to SETTLE_ROUNDS rounds. */
#define SETTLE_ROUNDS 20
static void idm_settle(demo *d)
{
    if (d->clock != LAB_CLOCK_SIMULATED)
        return;
    json_t *tmp = json_array();
    bool all = false;
    uint64_t pumped = 0;
    for (int round = 0; tmp != NULL && round < SETTLE_ROUNDS; round++) {
        all = verify(d, tmp, round == 0 ? 2 : 1);
        if (all)
            break;
        select_none(d);
        size_t n = 0;
        for (size_t i = 0; i < d->n; i++) {
            if (d->is_lmn[i] || json_is_true(json_object_get(json_array_get(tmp, i), "ok")))
                continue;
            d->in_step[i] = true, d->target_je[i] = je_of(d->owner[i]), d->need_mls[i] = 0,
            d->need_up[i] = uplinks_of(d, i) + 2;
            n++;
        }
        size_t done = 0;
        uint64_t f0 = 0, f1 = 0;
        for (size_t i = 0; i < d->n; i++)
            f0 += frames_of(d, i);
        if (n == 0 || lab_fleet_run(d->fleet, want, d, 2000, 120 * cli_build_slowness(), &done) != LAB_OK)
            break;
        for (size_t i = 0; i < d->n; i++)
            f1 += frames_of(d, i);
        pumped += f1 - f0;
        usleep(300 * 1000); /* the IDM's housekeeping: a customer join seen, an update finished */
    }
    select_none(d);
    for (size_t i = 0; i < d->n; i++)
        d->need_up[i] = 0;
    if (!all)
        fprintf(stderr, "  (the IDM had not settled every device after %d rounds; going on)\n", SETTLE_ROUNDS);
    else if (pumped > 0)
        fprintf(stderr, "  (%llu more frames until the IDM had every device where the step left it)\n",
                (unsigned long long)pumped);
    json_decref(tmp);
}

static int idm_fleet(demo *d, const char *verb_and_opts)
{
    if (fleet_file(d, "step.txt", pick_step, false) != 0)
        return -1;
    /* a file, not arguments: a fleet of any size (the command batches) */
    return run(d, NULL, "'%s' -d idm idm %s --file step.txt", d->ferry, verb_and_opts);
}

/* The tenants' REST API of `idm serve` (docs/idm.md): one assignment per
 * device over one kept-alive connection (the server layer's client),
 * much cheaper than a CLI process each. The tenant tokens are read with
 * read(2) and wiped. */
static int assign_all(demo *d)
{
    char tok[2][128];
    const char *names[2] = {"acme", "bolt"};
    for (int c = 0; c < 2; c++) {
        char path[PATH_MAX], nerr[NET_ERR_MAX];
        snprintf(path, sizeof path, "%s/%s.tok", d->dir, names[c]);
        if (net_config_read_secret(path, tok[c], sizeof tok[c], nerr) != NET_OK) {
            lw_secure_wipe(tok, sizeof tok);
            return -1;
        }
    }
    net_client *h = NULL;
    if (net_client_new(&h) != NET_OK) {
        lw_secure_wipe(tok, sizeof tok);
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < d->n && rc == 0; i++) {
        char url[256], ans[1024], err[NET_ERR_MAX];
        snprintf(url, sizeof url, "http://127.0.0.1:%u/api/v1/ses/%016llX/assign", d->p_idm,
                 (unsigned long long)d->dev[i].dev_eui);
        net_call call = {.method = "POST", .url = url, .bearer = tok[d->owner[i]], .body = "{}", .len = 2,
                         .timeout_ms = 30000};
        net_answer a = {.body = ans, .cap = sizeof ans};
        if (net_client_call(h, &call, &a, err) != NET_OK || a.status != 200)
            rc = -1;
    }
    net_client_free(h);
    lw_secure_wipe(tok, sizeof tok);
    return rc;
}

/* ---------------------------------------------------------------- the scenario */

static bool pick_transfer(demo *d, size_t i) { (void)d; return i % 4 == 0 && i + 2 < d->n; }
static bool pick_renew(demo *d, size_t i) { (void)d; return i % 4 == 1; }

/* A step's wall-time budget: `base` seconds, and more for large fleets (the
 * profile step moves about 9 frames a device at a few hundred a second). */
static double budget(const demo *d, double base, double per_device)
{
    return (base + per_device * (double)d->n) * cli_build_slowness();
}

static int scenario(demo *d)
{
    const char *F = d->ferry;
    size_t secure_dev = d->n > 3 ? 3 : 1;    /* one of bolt's */
    size_t fallback_dev = 2;                 /* one of acme's, kept by acme in the end */
    /* bootstrap */
    select_none(d);
    for (size_t i = 0; i < d->n; i++)
        d->in_step[i] = true, d->target_je[i] = BOOT_JE, d->need_mls[i] = 0;
    if (run_step(d, "bootstrap", budget(d, 300, 0.03)) != 0)
        return -1;
    /* claim: even devices by acme, odd by bolt, in bulk with their owner tokens */
    for (size_t i = 0; i < d->n; i++)
        d->owner[i] = i % 2 == 0 ? OWNER_ACME : OWNER_BOLT;
    double t = now();
    if (fleet_file(d, "acme-claims.txt", pick_acme, true) != 0 || fleet_file(d, "bolt-claims.txt", pick_bolt, true) != 0 ||
        run(d, NULL, "'%s' -d idm idm claim --file acme-claims.txt --tenant acme && '%s' -d idm idm claim --file "
                     "bolt-claims.txt --tenant bolt", F, F) != 0)
        return -1;
    if (assign_all(d) != 0)
        return -1;
    step_report *r = &d->steps[d->nsteps++];
    memset(r, 0, sizeof *r);
    r->name = "claim", r->total = r->done = d->n, r->median_s = r->worst_s = now() - t;
    fprintf(stderr, "  %-10s %zu/%zu devices claimed and assigned (acme %zu, bolt %zu), %.1f s\n", "claim", d->n, d->n,
            (d->n + 1) / 2, d->n / 2, now() - t);
    /* profile: one INSTALL that activates at once, over the bootstrap network, then the owner's network */
    for (size_t i = 0; i < d->n; i++)
        d->target_je[i] = je_of(d->owner[i]), d->need_mls[i] = 1;
    if (run_step(d, "profile", budget(d, 600, 0.12)) != 0)
        return -1;
    /* uplinks on the customers' networks: three more each, which the owner's AS decrypts */
    for (size_t i = 0; i < d->n; i++)
        d->need_mls[i] = 0, d->need_up[i] = uplinks_of(d, i) + 3;
    if (run_step(d, "uplinks", budget(d, 300, 0.06)) != 0)
        return -1;
    for (size_t i = 0; i < d->n; i++)
        d->need_up[i] = 0;
    idm_settle(d);
    /* transfer half of acme's fleet to bolt */
    select_none(d);
    for (size_t i = 0; i < d->n; i++)
        if (pick_transfer(d, i)) {
            d->in_step[i] = true;
            d->owner[i] = OWNER_BOLT;
            d->target_je[i] = BOLT_JE;
            d->need_mls[i] = mls_of(d, i) + 1; /* the new owner's INSTALL */
            d->leave_slot[i] = slot_of(d, i);
        }
    if (idm_fleet(d, "transfer --to-tenant bolt --tenant acme") != 0 || run_step(d, "transfer", budget(d, 600, 0.06)) != 0)
        return -1;
    /* renew some of bolt's devices */
    idm_settle(d);
    select_none(d);
    for (size_t i = 0; i < d->n; i++)
        if (pick_renew(d, i)) {
            d->in_step[i] = true;
            d->target_je[i] = BOLT_JE;
            d->need_mls[i] = mls_of(d, i) + 1;
            d->leave_slot[i] = slot_of(d, i); /* the renewed keys are a copy in another slot */
        }
    if (idm_fleet(d, "renew --tenant bolt") != 0 || run_step(d, "renew", budget(d, 600, 0.06)) != 0)
        return -1;
    /* one secure command */
    idm_settle(d);
    select_none(d);
    d->in_step[secure_dev] = true, d->need_secure[secure_dev] = true;
    d->need_mls[secure_dev] = mls_of(d, secure_dev) + 1;
    {
        dev_view v;
        view_of(d, secure_dev, &v);
        d->secure_base[secure_dev] = v.secure;
    }
    if (idm_fleet(d, "command --payload 0102C0FFEE --tenant bolt") != 0 || run_step(d, "command", 300) != 0)
        return -1;
    /* fallback: bolt's network unreachable, one of acme's devices moved to bolt */
    idm_settle(d);
    select_none(d);
    d->in_step[fallback_dev] = true;
    d->target_je[fallback_dev] = ACME_JE;
    d->need_mls[fallback_dev] = mls_of(d, fallback_dev) + 2; /* INSTALL, the STATUS acking its event */
    {
        dev_view v;
        view_of(d, fallback_dev, &v);
        d->need_switch[fallback_dev] = v.switches + 2;   /* to bolt's profile and back (LoRaMac-node devices) */
    }
    set_network_down(d, NET_BOLT, true);
    if (idm_fleet(d, "transfer --to-tenant bolt --tenant acme") != 0 || run_step(d, "fallback", 600) != 0)
        return -1;
    set_network_down(d, NET_BOLT, false);
    /* settle: devices go on reporting, which carries the last answers and
     * acknowledgements of the IDM's exchanges */
    select_none(d);
    for (size_t i = 0; i < d->n; i++)
        d->in_step[i] = true, d->target_je[i] = je_of(d->owner[i]), d->need_mls[i] = 0,
        d->need_up[i] = uplinks_of(d, i) + 3;
    if (run_step(d, "settle", budget(d, 300, 0.06)) != 0)
        return -1;
    return 0;
}

static bool pick_all(demo *d, size_t i) { (void)d, (void)i; return true; }

/* The IDM's view of each device against the scenario's, after the IDM's
 * housekeeping has had time to catch up. Read as the operator reads it,
 * with `ferry idm status` (the demo opens no database of the product's). */
static bool verify(demo *d, json_t *devices, int attempts)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/status.json", d->dir);
    if (fleet_file(d, "all.txt", pick_all, false) != 0)
        return false;
    bool all = false;
    for (int attempt = 0; attempt < attempts && !all; attempt++) {
        all = true;
        json_array_clear(devices);
        /* exit status 1 when an SE is unknown: the report says which */
        (void)run(d, NULL, "'%s' -d idm idm status --file all.txt >status.json", d->ferry);
        json_t *st = json_load_file(path, 0, NULL);
        json_t *ses = json_object_get(st, "SEs");
        for (size_t i = 0; i < d->n; i++) {
            json_t *row = json_array_get(ses, i);
            const char *state = json_string_value(json_object_get(row, "State"));
            const char *tenant = json_string_value(json_object_get(row, "Tenant"));
            const char *op = json_string_value(json_object_get(row, "Update"));
            char eui[17];
            snprintf(eui, sizeof eui, "%016llX", (unsigned long long)d->dev[i].dev_eui);
            const char *got_eui = json_string_value(json_object_get(row, "DevEUI"));
            /* the SE and its claim, as the report has always needed both (the
             * CLI writes hex in lower case, the report in upper case) */
            bool have = state != NULL && tenant != NULL && got_eui != NULL && strcasecmp(got_eui, eui) == 0;
            const char *want_owner = d->owner[i] == OWNER_ACME ? "acme" : "bolt";
            bool ok = have && strcmp(state, "active_at_customer") == 0 && strcmp(tenant, want_owner) == 0 &&
                      (op == NULL || op[0] == '\0');
            all = all && ok;
            json_t *o = json_object();
            json_object_set_new(o, "DevEUI", json_string(eui));
            json_object_set_new(o, "owner", json_string(have ? tenant : ""));
            json_object_set_new(o, "state", json_string(have ? state : "unknown"));
            json_object_set_new(o, "expected", json_string("active_at_customer"));
            json_object_set_new(o, "expected_owner", json_string(want_owner));
            json_object_set_new(o, "ok", json_boolean(ok));
            json_object_set_new(o, "stack", json_string(d->is_lmn[i] ? "loramac-node" : "ferry"));
            dev_view dvv;
            view_of(d, i, &dvv);
            json_object_set_new(o, "joins", json_integer((json_int_t)dvv.joins));
            json_object_set_new(o, "join_requests", json_integer((json_int_t)dvv.join_requests));
            if (d->is_lmn[i]) {
                pthread_mutex_lock(&d->lmn_lock);
                uint32_t ja = d->lmn[i].st.join_accepts;
                pthread_mutex_unlock(&d->lmn_lock);
                json_object_set_new(o, "join_accepts_heard", json_integer((json_int_t)ja));
            }
            json_array_append_new(devices, o);
        }
        json_decref(st);
        if (!all)
            usleep(500 * 1000);
    }
    return all;
}

/* ---------------------------------------------------------------- where the time goes */

/* Cumulative CPU seconds per group so far; what cannot be read counts 0.
 * The scenario's `ferry -d idm idm ...` commands (claim, transfer, renew,
 * command) have ended and been waited for by then, so RUSAGE_CHILDREN holds
 * them: they are the IDM's work done by a CLI process, counted as "idm".
 * The servers are not waited for until stop_all, so they are not in it. */
static void cpu_sample(const demo *d, double out[CPU_GROUPS])
{
    memset(out, 0, CPU_GROUPS * sizeof out[0]);
    for (size_t i = 0; i < d->npid; i++) {
        double s = d->pid[i] > 0 ? cli_cpu_of_pid(d->pid[i]) : 0;
        out[d->group[i]] += s > 0 ? s : 0;
    }
    double cli = cli_cpu_children();
    out[CPU_IDM] += cli > 0 ? cli : 0;
    for (size_t i = 0; i < d->n; i++)
        out[CPU_SE] += d->dev[i].st.se_cpu_s;
    double self = cli_cpu_self();
    out[CPU_RADIO] = self > 0 ? self : 0; /* the whole process: cpu_account takes the element out */
    /* LoRaMac-node devices: their stack, element and radio, one process each */
    out[CPU_RADIO] += d->lmn != NULL ? cli_lmn_cpu(d->lmn, d->n) : 0;
}

/* d->cpu = what each group used since d->cpu0. A figure read at t0 but not
 * now would go negative: it counts 0 instead. */
static void cpu_account(demo *d)
{
    double end[CPU_GROUPS];
    cpu_sample(d, end);
    for (int g = 0; g < CPU_GROUPS; g++)
        d->cpu[g] = end[g] > d->cpu0[g] ? end[g] - d->cpu0[g] : 0;
    /* the element runs on the workers' threads, inside this process */
    d->cpu[CPU_RADIO] = d->cpu[CPU_RADIO] > d->cpu[CPU_SE] ? d->cpu[CPU_RADIO] - d->cpu[CPU_SE] : 0;
}

static double cpu_total(const demo *d)
{
    double t = 0;
    for (int g = 0; g < CPU_GROUPS; g++)
        t += d->cpu[g];
    return t;
}

/* "setup_s", "flow_s", "devices_per_s", "cpu" and "cpu_share" in the report. */
static void cpu_report(const demo *d, json_t *report)
{
    double total = cpu_total(d);
    json_t *cpu = json_object(), *share = json_object();
    for (int g = 0; g < CPU_GROUPS; g++) {
        json_object_set_new(cpu, cpu_group_name[g], json_real(d->cpu[g]));
        json_object_set_new(share, cpu_group_name[g], json_real(total > 0 ? d->cpu[g] / total : 0));
    }
    json_object_set_new(cpu, "total", json_real(total));
    json_object_set_new(report, "setup_s", json_real(d->setup_s));
    json_object_set_new(report, "flow_s", json_real(d->flow_s));
    json_object_set_new(report, "devices_per_s", json_real(d->flow_s > 0 ? (double)d->n / d->flow_s : 0));
    json_object_set_new(report, "cpu", cpu);
    json_object_set_new(report, "cpu_share", share);
}

static void cpu_print(const demo *d)
{
    double total = cpu_total(d);
    fprintf(stderr, "\n  set-up %.1f s, flow %.1f s: %.2f devices/s\n", d->setup_s, d->flow_s,
            d->flow_s > 0 ? (double)d->n / d->flow_s : 0);
    fprintf(stderr, "  %-20s %10s %8s\n", "CPU during the flow", "s", "share");
    for (int g = 0; g < CPU_GROUPS; g++)
        fprintf(stderr, "  %-20s %10.2f %7.1f%%\n", cpu_group_name[g], d->cpu[g],
                total > 0 ? 100 * d->cpu[g] / total : 0);
    fprintf(stderr, "  %-20s %10.2f %7.1f%%\n", "total", total, total > 0 ? 100.0 : 0);
}

/* --console: the bootstrap step, then the devices go on as devices do
 * (uplinks, joins, profile switches) until SIGTERM or SIGINT, while
 * people or a browser test act through the activation console of `idm
 * serve` (docs/console.md). console.json says where and with which token
 * files; nothing is claimed, transferred or checked by the demo itself. */
static bool want_live(lab_dev *dv, void *ctx)
{
    (void)dv;
    demo *d = ctx;
    return !*d->stop;
}

static int console_mode(demo *d)
{
    select_none(d);
    for (size_t i = 0; i < d->n; i++)
        d->in_step[i] = true, d->target_je[i] = BOOT_JE, d->need_mls[i] = 0;
    if (run_step(d, "bootstrap", budget(d, 300, 0.03)) != 0)
        return -1;
    char text[6 * PATH_MAX + 512];
    int n = snprintf(text, sizeof text,
             "{\"url\": \"http://127.0.0.1:%u/\", \"batch\": \"%s/hsa/batch.jsonl\",\n"
             " \"tokens\": {\"acme\": \"%s/acme.tok\", \"bolt\": \"%s/bolt.tok\", \"maker\": \"%s/maker.tok\","
             " \"operator\": \"%s/hub-op.tok\"},\n \"operator\": \"%s\"}\n",
             d->p_idm, d->dir, d->dir, d->dir, d->dir, d->dir, VISITED_NET);
    if (n < 0 || (size_t)n >= sizeof text || write_file(d, "console.json.tmp", text) != 0 ||
        run(d, NULL, "mv console.json.tmp console.json") != 0)
        return -1;
    fprintf(stderr, "  console    http://127.0.0.1:%u/ (tokens: %s/*.tok); the devices run until SIGTERM or ^C\n",
            d->p_idm, d->dir);
    size_t done = 0;
    while (!*d->stop) /* a round ends after its steps; the devices' state carries on into the next */
        if (lab_fleet_run(d->fleet, want_live, d, 1000000, 3600, &done) != LAB_OK && !*d->stop)
            return -1;
    return 0;
}

/* Frames per activation by stack (docs/demo.md, "The report"): over the
 * whole flow, every frame on the air of the stack's devices (join-requests,
 * uplinks, downlinks taken) over their activations (joins that ended with a
 * join-accept taken). Written to the report and printed. */
static void stacks_report(demo *d, json_t *report)
{
    json_t *o = json_object();
    for (int k = 0; k < 2; k++) {
        uint64_t devices = 0, joins = 0, jr = 0, up = 0, down = 0, heard = 0, refused = 0, lost_up = 0, lost_down = 0;
        for (size_t i = 0; i < d->n; i++) {
            if ((int)d->is_lmn[i] != k)
                continue;
            dev_view v;
            view_of(d, i, &v);
            devices++, joins += v.joins, jr += v.join_requests, up += v.uplinks, down += v.downlinks;
            if (k) {
                pthread_mutex_lock(&d->lmn_lock);
                uint32_t ja = d->lmn[i].st.join_accepts;
                lost_up += d->lmn[i].st.lost_up, lost_down += d->lmn[i].st.lost_down;
                pthread_mutex_unlock(&d->lmn_lock);
                heard += ja, refused += ja > v.joins ? ja - v.joins : 0;
            }
        }
        if (devices == 0)
            continue;
        uint64_t frames = jr + up + down;
        double fpa = joins > 0 ? (double)frames / (double)joins : 0;
        json_t *s = json_object();
        json_object_set_new(s, "devices", json_integer((json_int_t)devices));
        json_object_set_new(s, "activations", json_integer((json_int_t)joins));
        json_object_set_new(s, "join_requests", json_integer((json_int_t)jr));
        json_object_set_new(s, "uplinks", json_integer((json_int_t)up));
        json_object_set_new(s, "downlinks", json_integer((json_int_t)down));
        json_object_set_new(s, "frames", json_integer((json_int_t)frames));
        json_object_set_new(s, "frames_per_activation", json_real(fpa));
        json_object_set_new(s, "join_requests_per_activation", json_real(joins > 0 ? (double)jr / (double)joins : 0));
        if (k) {
            /* join-accepts the devices heard but their stack refused (e.g.
             * a JoinNonce it does not take): 0 when every first one is taken */
            json_object_set_new(s, "join_accepts_heard", json_integer((json_int_t)heard));
            json_object_set_new(s, "join_accepts_refused", json_integer((json_int_t)refused));
            json_object_set_new(s, "lost_up", json_integer((json_int_t)lost_up));
            json_object_set_new(s, "lost_down", json_integer((json_int_t)lost_down));
        }
        json_object_set_new(o, k ? "loramac-node" : "ferry", s);
        fprintf(stderr, "  %-13s %5llu devices %6llu activations %8llu frames: %.1f frames per activation, %.2f join-requests each\n",
                k ? "loramac-node" : "ferry", (unsigned long long)devices, (unsigned long long)joins,
                (unsigned long long)frames, fpa, joins > 0 ? (double)jr / (double)joins : 0);
    }
    json_object_set_new(report, "stacks", o);
}

int cli_demo_main(int argc, char **argv)
{
    static const char prog[] = "ferry demo";
    static const cli_opt_spec specs[] = {
        {"dir", "DIR", "where everything is set up (default: a new directory under $TMPDIR or /tmp)"},
        {"devices", "N", "simulated devices (default 100)"},
        {"loss", "P", "radio loss both ways, 0..0.5 (default 0)"},
        {"json", "FILE", "write the report as JSON"},
        {"keep", "true", "keep the directory (default: removed when everything went well)"},
        {"console", "true", "after the bootstrap step, keep the devices running for the activation console until ^C"},
        {"stack", "ferry|loramac-node|mixed", "the devices' LoRaWAN stack: ferry's lab devices (default), "
                                             "LoRaMac-node (lmn_node processes, `make loramac`), or every third one"},
        {"mac-version", "1.0.4|1.1", "the devices' LoRaWAN version (default 1.0.4)"},
        {"restart-join-servers", "true", "restart every Join Server before each step after the bootstrap"},
        {"clock", "wall|simulated", "wall (default): receive windows waited for; simulated: a discrete-event "
                                    "radio clock, bound by CPU (docs/scale.md)"},
        {"gateways", "G", "simulated clock: cells, each with one gateway per network (default: one per device up "
                          "to 200 devices, then one per 10, at most 1000)"},
    };
    enum { NSPEC = 11 };
    char *v[NSPEC];
    size_t npos = 0;
    switch (cli_opts_parse(prog, specs, NSPEC, argc, argv, v, NULL, 0, &npos)) {
    case CLI_PARSE_HELP:
        cli_opts_usage(stdout, "ferry demo [--devices N] [--loss P] [--json FILE] [--dir DIR] [--keep true] [--console true] "
                               "[--stack S] [--mac-version V] [--restart-join-servers true] [--clock wall|simulated] "
                               "[--gateways G]", specs, NSPEC);
        return CLI_EXIT_OK;
    case CLI_PARSE_ERROR:
        return CLI_EXIT_USAGE;
    default:
        break;
    }
    demo *d = calloc(1, sizeof *d);
    if (d == NULL)
        return CLI_EXIT_FAIL;
    for (size_t i = 0; i < sizeof d->ports.fd / sizeof d->ports.fd[0]; i++)
        d->ports.fd[i] = -1;
    d->n = v[1] != NULL ? (size_t)strtoul(v[1], NULL, 10) : 100;
    d->loss = v[2] != NULL ? atof(v[2]) : 0.0;
    long gws = v[10] != NULL ? strtol(v[10], NULL, 10) : 0;
    if (d->n < 4 || d->n > 10000 || d->loss < 0 || d->loss > 0.5 ||
        (v[9] != NULL && lab_clock_parse(v[9], &d->clock) != LAB_OK) || gws < 0 || gws > 1000 ||
        (v[5] != NULL && d->clock == LAB_CLOCK_SIMULATED)) {
        cli_error(prog, "--devices 4..10000, --loss 0..0.5, --clock wall or simulated, --gateways 1..1000 "
                        "(--console runs the devices in wall time: not with --clock simulated)");
        free(d);
        return CLI_EXIT_USAGE;
    }
    d->stack = STACK_FERRY;
    if (v[6] != NULL) {
        for (d->stack = 0; d->stack < 3 && strcmp(v[6], stack_name[d->stack]) != 0; d->stack++)
            ;
        if (d->stack == 3) {
            cli_error(prog, "--stack ferry, loramac-node or mixed");
            free(d);
            return CLI_EXIT_USAGE;
        }
    }
    if (d->stack != STACK_FERRY && d->n > 1000) {
        cli_error(prog, "--stack %s: at most 1000 devices (each LoRaMac-node device is a process)", v[6]);
        free(d);
        return CLI_EXIT_USAGE;
    }
    d->mac_version = v[7] != NULL ? v[7] : "1.0.4";
    if (strcmp(d->mac_version, "1.0.4") != 0 && strcmp(d->mac_version, "1.1") != 0) {
        cli_error(prog, "--mac-version 1.0.4 or 1.1");
        free(d);
        return CLI_EXIT_USAGE;
    }
    d->restart_js = v[8] != NULL && strcmp(v[8], "true") == 0;
    if (v[5] != NULL && d->stack != STACK_FERRY) {
        /* the console mode runs the devices in this process (lab_fleet) */
        cli_error(prog, "--console runs ferry's own lab devices: leave out --stack %s", v[6]);
        free(d);
        return CLI_EXIT_USAGE;
    }
    if (d->stack != STACK_FERRY && d->clock == LAB_CLOCK_SIMULATED) {
        cli_error(prog, "--stack %s runs on the wall clock: leave out --clock simulated", v[6]);
        free(d);
        return CLI_EXIT_USAGE;
    }
    d->gateways = gws > 0 ? (unsigned)gws : d->n <= 200 ? (unsigned)d->n : (unsigned)(d->n / 10 < 1000 ? d->n / 10 : 1000);
    d->tty = isatty(2);
    ssize_t fl = readlink("/proc/self/exe", d->ferry, sizeof d->ferry - 1);
    if (fl <= 0) {
        cli_error(prog, "cannot find this program's own path");
        free(d);
        return CLI_EXIT_FAIL;
    }
    d->ferry[fl] = '\0';
    if (d->stack != STACK_FERRY) {
        char why[PATH_MAX + 256];
        if (cli_lmn_path(d->ferry, d->lmn_prog, sizeof d->lmn_prog, why, sizeof why) != 0) {
            cli_error(prog, "--stack %s: %s", v[6], why);
            free(d);
            return CLI_EXIT_FAIL;
        }
    }
    if (v[0] != NULL) {
        if (strlen(v[0]) >= sizeof d->dir || (mkdir(v[0], 0700) != 0 && errno != EEXIST)) {
            cli_error(prog, "--dir %s: cannot create it", v[0]);
            free(d);
            return CLI_EXIT_FAIL;
        }
        if (realpath(v[0], d->dir) == NULL) {
            free(d);
            return CLI_EXIT_FAIL;
        }
    } else {
        const char *tmpd = getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp";
        snprintf(d->dir, sizeof d->dir, "%s/ferry-demo.XXXXXX", tmpd);
        if (mkdtemp(d->dir) == NULL) {
            cli_error(prog, "cannot create a directory under %s", tmpd);
            free(d);
            return CLI_EXIT_FAIL;
        }
    }
    int rc = CLI_EXIT_FAIL;
    d->dev = calloc(d->n, sizeof *d->dev);
    d->owner = calloc(d->n, sizeof *d->owner);
    d->target_je = calloc(d->n, sizeof *d->target_je);
    d->need_mls = calloc(d->n, sizeof *d->need_mls);
    d->need_up = calloc(d->n, sizeof *d->need_up);
    d->leave_slot = calloc(d->n, sizeof *d->leave_slot);
    d->in_step = calloc(d->n, sizeof *d->in_step);
    d->need_secure = calloc(d->n, sizeof *d->need_secure);
    d->done_at = calloc(d->n, sizeof *d->done_at);
    d->is_lmn = calloc(d->n, sizeof *d->is_lmn);
    d->lmn = calloc(d->n, sizeof *d->lmn);
    d->need_switch = calloc(d->n, sizeof *d->need_switch);
    d->secure_base = calloc(d->n, sizeof *d->secure_base);
    pthread_mutex_init(&d->lmn_lock, NULL);
    size_t opened = 0;
    json_t *report = json_object(), *steps = json_object(), *devices = json_array();
    if (!d->dev || !d->owner || !d->target_je || !d->need_mls || !d->need_up || !d->leave_slot || !d->in_step ||
        !d->need_secure || !d->done_at || !d->is_lmn || !d->lmn || !d->need_switch || !d->secure_base)
        goto out;
    for (size_t i = 0; i < d->n; i++) {
        d->lmn[i].pid = -1;
        d->is_lmn[i] = d->stack == STACK_LMN || (d->stack == STACK_MIXED && i % 3 == 0);
    }
    fprintf(stderr, "ferry demo: %zu devices (stack: %s), %.0f%% radio loss, %s clock, in %s\n", d->n,
            stack_name[d->stack], d->loss * 100, lab_clock_name(d->clock), d->dir);
    fprintf(stderr, "  set-up     HSA batch, IDM + bootstrap JS, acme and bolt (JS, NS, AS each), bootstrap NS,\n"
                    "             a visited network (NS, operator %s) reaching it only through the hub, the hub\n",
            VISITED_NET);
    double t_setup = now();
    if (setup(d) != 0) {
        cli_error(prog, "set-up failed: see %s/setup.log", d->dir);
        goto out;
    }
    if (start(d, prog) != 0) {
        cli_error(prog, "the logs are in %s", d->dir);
        goto out;
    }
    lab_air air;
    memset(&air, 0, sizeof air);
    const char *names[4] = {"bootstrap", "acme", "bolt", "visited"};
    for (int i = 0; i < 4; i++) {
        snprintf(air.net[i].name, sizeof air.net[i].name, "%s", names[i]);
        snprintf(air.net[i].ns_addr, sizeof air.net[i].ns_addr, "127.0.0.1:%u", d->u_ns[i]);
    }
    air.n_net = 4;
    air.loss_up = air.loss_down = d->loss;
    /* Two workers (the machine's cores) with many exchanges each: a device
     * waiting for a silent RX2 costs no worker. */
    air.in_flight = d->clock == LAB_CLOCK_SIMULATED ? CLI_LAB_SIM_IN_FLIGHT : 128;
    air.window_margin_ms = (int)(300 * cli_build_slowness());
    air.clock = d->clock;
    air.gateways = d->gateways;
    /* each step's devices start over 10 simulated seconds per device of a
     * cell: a cell's gateway is not asked for every join-accept at once */
    air.start_spread_s = 10.0 * (double)d->n / (double)d->gateways;
    unsigned workers = 2;
    if (lab_fleet_new(&air, workers, 0xAA555A0000000000ull, &d->fleet) != LAB_OK) {
        cli_error(prog, "the simulated gateways could not reach the network servers");
        goto out;
    }
    for (; opened < d->n; opened++) {
        char img[PATH_MAX];
        snprintf(img, sizeof img, "%s/hsa/se-%016llX.img", d->dir, (unsigned long long)(DEV_BASE + opened));
        /* every fifth device is heard by the visited network, not by the
         * bootstrap one: it bootstraps by passive roaming through the hub */
        uint32_t range = roaming(opened) ? (1u << NET_ACME) | (1u << NET_BOLT) | (1u << NET_VISITED)
                                         : (1u << NET_BOOT) | (1u << NET_ACME) | (1u << NET_BOLT);
        if (d->is_lmn[opened]) {
            if (start_lmn(d, opened, img) != 0) {
                cli_error(prog, "%s: cannot start its LoRaMac-node device (%s)", img, d->lmn_prog);
                goto out;
            }
            continue;
        }
        if (lab_dev_open(&d->dev[opened], img, (uint8_t)(opened % 6), range, 0xC0FFEEu + (uint32_t)opened * 2654435761u) !=
                LAB_OK ||
            lab_fleet_add(d->fleet, &d->dev[opened]) != LAB_OK) {
            cli_error(prog, "%s: cannot load the element", img);
            goto out;
        }
    }
    if (d->stack != STACK_FERRY) {
        d->lmn_reader_on = pthread_create(&d->lmn_reader, NULL, lmn_reader, d) == 0;
        if (!d->lmn_reader_on) {
            cli_error(prog, "cannot start the thread that reads the LoRaMac-node devices");
            goto out;
        }
    }
    d->t0 = now();
    d->setup_s = d->t0 - t_setup;
    if (v[5] != NULL) {
        d->stop = cli_server_stop_on_signals();
        rc = console_mode(d) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
        v[4] = "true"; /* the directory stays: its logs and tokens */
        goto out;
    }
    cpu_sample(d, d->cpu0);
    int sc = scenario(d);
    d->flow_s = now() - d->t0;
    cpu_account(d);
    /* Every device is in the report, also after a step failed: read once
     * then, rather than waited for. */
    bool verified = verify(d, devices, sc == 0 ? 60 : 1);
    bool ok = sc == 0 && verified;
    for (size_t i = 0; i < d->nsteps; i++) {
        step_report *r = &d->steps[i];
        json_t *o = json_object();
        json_object_set_new(o, "done", json_integer((json_int_t)r->done));
        json_object_set_new(o, "failed", json_integer((json_int_t)(r->total - r->done)));
        json_object_set_new(o, "frames", json_integer((json_int_t)r->frames));
        json_object_set_new(o, "median_s", json_real(r->median_s));
        json_object_set_new(o, "worst_s", json_real(r->worst_s));
        json_object_set_new(steps, r->name, o);
        ok = ok && r->done == r->total;
    }
    json_object_set_new(report, "ok", json_boolean(ok));
    json_object_set_new(report, "devices_total", json_integer((json_int_t)d->n));
    size_t roam = 0;
    for (size_t i = 0; i < d->n; i++)
        roam += roaming(i);
    json_object_set_new(report, "roaming_devices", json_integer((json_int_t)roam));
    json_object_set_new(report, "loss", json_real(d->loss));
    json_object_set_new(report, "stack", json_string(stack_name[d->stack]));
    json_object_set_new(report, "mac_version", json_string(d->mac_version));
    json_object_set_new(report, "join_server_restarts", json_integer((json_int_t)d->js_restarts));
    json_object_set_new(report, "clock", json_string(lab_clock_name(d->clock)));
    if (d->clock == LAB_CLOCK_SIMULATED) {
        lab_fleet_counters fc;
        lab_fleet_counters_get(d->fleet, &fc);
        json_object_set_new(report, "gateways", json_integer((json_int_t)d->gateways));
        json_object_set_new(report, "simulated", cli_lab_sim_json(&fc));
        fprintf(stderr, "  simulated clock: %.0f s of radio time, %u gateways per network, %llu downlinks refused "
                        "by duty cycle, %llu uplink copies lost to collisions\n",
                fc.sim_s, d->gateways, (unsigned long long)fc.dc_refused, (unsigned long long)fc.collisions);
    }
    json_object_set_new(report, "seconds", json_real(now() - d->t0));
    cpu_report(d, report);
    json_object_set_new(report, "steps", steps);
    json_object_set_new(report, "devices", devices);
    steps = devices = NULL;
    fprintf(stderr, "\n  %-10s %8s %8s %8s %10s %10s\n", "step", "done", "failed", "frames", "median s", "worst s");
    for (size_t i = 0; i < d->nsteps; i++) {
        step_report *r = &d->steps[i];
        fprintf(stderr, "  %-10s %8zu %8zu %8llu %10.1f %10.1f\n", r->name, r->done, r->total - r->done,
                (unsigned long long)r->frames, r->median_s, r->worst_s);
    }
    fprintf(stderr, "\n");
    stacks_report(d, report);
    cpu_print(d);
    fprintf(stderr, "\n  %s in %.0f s: %s\n", ok ? "every device reached the state the scenario expects" :
                                                   "SOME DEVICES DID NOT reach the state the scenario expects",
            now() - d->t0, d->dir);
    if (v[3] != NULL && json_dump_file(report, v[3], JSON_INDENT(2)) != 0)
        cli_error(prog, "%s: cannot write the report", v[3]);
    rc = ok ? CLI_EXIT_OK : CLI_EXIT_FAIL;
out:
    if (d->lmn_reader_on) {
        d->lmn_reader_stop = true;
        pthread_join(d->lmn_reader, NULL);
    }
    if (d->lmn != NULL)
        cli_lmn_stop_all(d->lmn, d->n, 10 * cli_build_slowness());
    lab_fleet_free(d->fleet);
    for (size_t i = 0; i < opened; i++)
        if (!d->is_lmn[i])
            lab_dev_close(&d->dev[i]);
    cli_ports_release(&d->ports);
    stop_all(d);
    if (rc == CLI_EXIT_OK && v[4] == NULL && v[0] == NULL) {
        char cmd[PATH_MAX + 16];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", d->dir);
        if (system(cmd) != 0)
            cli_error(prog, "could not remove %s", d->dir);
    }
    json_decref(report);
    json_decref(steps);
    json_decref(devices);
    free(d->dev), free(d->owner), free(d->target_je), free(d->need_mls), free(d->in_step), free(d->need_secure);
    free(d->done_at), free(d->need_up), free(d->leave_slot);
    free(d->is_lmn), free(d->lmn), free(d->need_switch), free(d->secure_base);
    pthread_mutex_destroy(&d->lmn_lock);
    free(d);
    return rc;
}

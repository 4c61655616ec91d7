/*
 * cli_lmn.c - LoRaMac-node devices as lmn_node processes (cli_lmn.h).
 *
 * Each device is a child with two pipes: its standard input carries the
 * control lines, its standard output its status lines. The reads are
 * non-blocking and gathered in the device's line buffer; a line longer than
 * CLI_LMN_LINE_MAX is not a status line of lmn_node's and is dropped whole.
 */
#include "cli/cli_lmn.h"
#include "cli/cli_cpu.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LMN_POLL_MAX 1024

int cli_lmn_path(const char *ferry_exe, char *out, size_t cap, char *why, size_t why_cap)
{
    const char *env = getenv("FERRY_LMN_NODE");
    if (env != NULL && env[0] != '\0') {
        if ((size_t)snprintf(out, cap, "%s", env) >= cap || access(out, X_OK) != 0) {
            snprintf(why, why_cap, "FERRY_LMN_NODE=%s is not an executable LoRaMac-node device program", env);
            return -1;
        }
        return 0;
    }
    /* BUILD/bin/ferry -> BUILD/loramac/lmn_node (BUILD/san/... likewise) */
    char dir[PATH_MAX];
    if ((size_t)snprintf(dir, sizeof dir, "%s", ferry_exe) >= sizeof dir)
        return -1;
    char *slash = strrchr(dir, '/');
    if (slash != NULL)
        *slash = '\0';
    slash = strrchr(dir, '/');
    if (slash != NULL)
        *slash = '\0';
    if ((size_t)snprintf(out, cap, "%s/loramac/lmn_node", dir) >= cap)
        return -1;
    if (access(out, X_OK) == 0)
        return 0;
    snprintf(why, why_cap,
             "the LoRaMac-node device program %s is not built: run `make loramac` (it builds LoRaMac-node v4.7.0 "
             "from LORAMAC_NODE_DIR, default ../shared/loramac-node; docs/loramac-node.md), or set FERRY_LMN_NODE",
             out);
    return -1;
}

int cli_lmn_start(cli_lmn *d, const char *program, const cli_lmn_args *a)
{
    memset(d, 0, sizeof *d);
    d->pid = -1, d->to_fd = d->from_fd = -1;
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) != 0)
        return -1;
    if (pipe2(out, O_CLOEXEC) != 0) {
        close(in[0]), close(in[1]);
        return -1;
    }
    char dr[8], loss[32], seed[16], margin[16];
    snprintf(dr, sizeof dr, "%u", a->dr);
    snprintf(loss, sizeof loss, "%.6f", a->loss);
    snprintf(seed, sizeof seed, "%u", a->seed);
    snprintf(margin, sizeof margin, "%d", a->window_margin_ms);
    const char *argv[24];
    size_t k = 0;
    argv[k++] = program;
    argv[k++] = "--image", argv[k++] = a->image;
    argv[k++] = "--nvm", argv[k++] = a->nvm;
    argv[k++] = "--networks", argv[k++] = a->networks;
    if (a->in_range != NULL)
        argv[k++] = "--in-range", argv[k++] = a->in_range;
    argv[k++] = "--dr", argv[k++] = dr;
    argv[k++] = "--loss", argv[k++] = loss;
    argv[k++] = "--seed", argv[k++] = seed;
    argv[k++] = "--window-margin-ms", argv[k++] = margin;
    if (a->run)
        argv[k++] = "--run";
    if (getenv("FERRY_LMN_TRACE") != NULL)
        argv[k++] = "--trace";   /* every MAC request and event in the device's log */
    argv[k] = NULL;
    pid_t pid = fork();
    if (pid < 0) {
        close(in[0]), close(in[1]), close(out[0]), close(out[1]);
        return -1;
    }
    if (pid == 0) {
        /* the device ends with whoever drives it */
        if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0)
            _exit(127);
        int log = open(a->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0 || (log >= 0 && dup2(log, 2) < 0))
            _exit(127);
        execv(program, (char *const *)argv);
        _exit(127);
    }
    close(in[0]), close(out[1]);
    d->pid = pid;
    d->to_fd = in[1];
    d->from_fd = out[0];
    d->running = a->run;
    int fl = fcntl(d->from_fd, F_GETFL);
    if (fl < 0 || fcntl(d->from_fd, F_SETFL, fl | O_NONBLOCK) != 0)
        return -1;
    return 0;
}

static uint64_t hex_field(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s != NULL ? strtoull(s, NULL, 16) : 0;
}

static uint32_t uint_field(json_t *o, const char *key)
{
    json_int_t v = json_integer_value(json_object_get(o, key));
    return v > 0 && v <= UINT32_MAX ? (uint32_t)v : 0;
}

static void parse_status(cli_lmn *d, const char *line, size_t len)
{
    json_t *o = json_loadb(line, len, 0, NULL);
    if (!json_is_object(o)) {
        json_decref(o);
        return;
    }
    cli_lmn_status *s = &d->st;
    s->seen = true;
    s->dev_eui = hex_field(o, "DevEUI");
    s->join_eui = hex_field(o, "JoinEUI");
    s->active_slot = uint_field(o, "ActiveSlot");
    s->joined = json_is_true(json_object_get(o, "Joined"));
    s->on_trial = json_is_true(json_object_get(o, "OnTrial"));
    s->stack_joined = json_is_true(json_object_get(o, "StackJoined"));
    s->join_requests = uint_field(o, "JoinRequests");
    s->joins = uint_field(o, "Joins");
    s->join_failures = uint_field(o, "JoinFailures");
    s->uplinks = uint_field(o, "Uplinks");
    s->downlinks = uint_field(o, "Downlinks");
    s->mls_uplinks = uint_field(o, "MlsUplinks");
    s->mls_downlinks = uint_field(o, "MlsDownlinks");
    s->secure_commands = uint_field(o, "SecureCommands");
    s->profile_switches = uint_field(o, "ProfileSwitches");
    s->element_errors = uint_field(o, "ElementErrors");
    s->sent = uint_field(o, "Sent");
    s->lost_up = uint_field(o, "LostUp");
    s->lost_down = uint_field(o, "LostDown");
    s->missed = uint_field(o, "Missed");
    s->rx1 = uint_field(o, "Rx1");
    s->rx2 = uint_field(o, "Rx2");
    s->join_accepts = uint_field(o, "JoinAccepts");
    s->simulated_s = json_real_value(json_object_get(o, "SimulatedS"));
    json_decref(o);
}

static void read_lines(cli_lmn *d)
{
    for (;;) {
        if (d->len == sizeof d->buf)
            d->len = 0;   /* no newline in a whole buffer: not a status line */
        ssize_t r = read(d->from_fd, d->buf + d->len, sizeof d->buf - d->len);
        if (r == 0) {
            d->exited = true;
            return;
        }
        if (r < 0)
            return;
        d->len += (size_t)r;
        char *start = d->buf, *nl;
        while ((nl = memchr(start, '\n', d->len - (size_t)(start - d->buf))) != NULL) {
            parse_status(d, start, (size_t)(nl - start));
            start = nl + 1;
        }
        d->len -= (size_t)(start - d->buf);
        memmove(d->buf, start, d->len);
    }
}

void cli_lmn_poll(cli_lmn *devs, size_t n, int timeout_ms, pthread_mutex_t *lock)
{
    struct pollfd pfd[LMN_POLL_MAX];
    size_t idx[LMN_POLL_MAX], m = 0;
    for (size_t i = 0; i < n && m < LMN_POLL_MAX; i++)
        if (devs[i].pid > 0 && !devs[i].exited && devs[i].from_fd >= 0) {
            pfd[m].fd = devs[i].from_fd, pfd[m].events = POLLIN, pfd[m].revents = 0;
            idx[m++] = i;
        }
    if (m == 0)
        return;
    if (poll(pfd, m, timeout_ms) <= 0)
        return;
    if (lock != NULL)
        pthread_mutex_lock(lock);
    for (size_t k = 0; k < m; k++)
        if (pfd[k].revents != 0)
            read_lines(&devs[idx[k]]);
    if (lock != NULL)
        pthread_mutex_unlock(lock);
}

int cli_lmn_send(cli_lmn *d, const char *line)
{
    if (d->pid <= 0 || d->to_fd < 0)
        return -1;
    char buf[64];
    int len = snprintf(buf, sizeof buf, "%s\n", line);
    if (len < 0 || (size_t)len >= sizeof buf)
        return -1;
    if (write(d->to_fd, buf, (size_t)len) != len)
        return -1;
    if (strcmp(line, "run") == 0)
        d->running = true;
    else if (strcmp(line, "pause") == 0)
        d->running = false;
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void cli_lmn_stop_all(cli_lmn *devs, size_t n, double seconds)
{
    for (size_t i = 0; i < n; i++)
        if (devs[i].pid > 0) {
            if (cli_lmn_send(&devs[i], "quit") != 0)
                kill(devs[i].pid, SIGTERM);
            close(devs[i].to_fd);
            devs[i].to_fd = -1;
        }
    double end = now_s() + seconds;
    for (size_t i = 0; i < n; i++) {
        if (devs[i].pid <= 0)
            continue;
        while (waitpid(devs[i].pid, NULL, WNOHANG) == 0) {
            if (now_s() > end) {
                kill(devs[i].pid, SIGKILL);
                waitpid(devs[i].pid, NULL, 0);
                break;
            }
            cli_lmn_poll(&devs[i], 1, 50, NULL);
        }
        devs[i].pid = -1;
        if (devs[i].from_fd >= 0)
            close(devs[i].from_fd);
        devs[i].from_fd = -1;
    }
}

double cli_lmn_cpu(const cli_lmn *devs, size_t n)
{
    double t = 0;
    for (size_t i = 0; i < n; i++)
        if (devs[i].pid > 0) {
            double s = cli_cpu_of_pid(devs[i].pid);
            t += s > 0 ? s : 0;
        }
    return t;
}

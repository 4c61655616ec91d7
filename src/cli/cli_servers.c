/*
 * cli_servers.c - ports, readiness, log tails and budgets for commands that
 * start servers (cli_servers.h).
 */
#include "cli/cli.h"
#include "cli/cli_servers.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Ports are drawn from [PORTS_LOW, the ephemeral range's start): above the
 * well-known and registered services a test machine commonly runs. */
#define PORTS_LOW 10000u
#define PORTS_TRIES 2000
#define TAIL_MAX 64

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The first port of the kernel's ephemeral range (32768 when unreadable). */
static unsigned ephemeral_low(void)
{
    unsigned lo = 32768, hi = 0;
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    if (f != NULL) {
        if (fscanf(f, "%u %u", &lo, &hi) != 2)
            lo = 32768;
        fclose(f);
    }
    return lo > PORTS_LOW + 1000 && lo <= 65535 ? lo : 32768;
}

static int bind_loopback(int type, unsigned port)
{
    int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static unsigned random_below(unsigned n)
{
    uint32_t r = 0;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || read(fd, &r, sizeof r) != (ssize_t)sizeof r)
        r = (uint32_t)rand();
    if (fd >= 0)
        close(fd);
    return r % n;
}

int cli_ports_reserve(cli_ports *p, size_t n)
{
    memset(p, 0, sizeof *p);
    for (size_t i = 0; i < 2 * CLI_PORTS_MAX; i++)
        p->fd[i] = -1;
    if (n > CLI_PORTS_MAX)
        return -1;
    unsigned lo = ephemeral_low();
    for (int tries = 0; p->n < n && tries < PORTS_TRIES; tries++) {
        unsigned port = PORTS_LOW + random_below(lo - PORTS_LOW);
        /* held sockets make a port taken twice fail its bind here */
        int t = bind_loopback(SOCK_STREAM, port);
        int u = t >= 0 ? bind_loopback(SOCK_DGRAM, port) : -1;
        if (t < 0 || u < 0) {
            if (t >= 0)
                close(t);
            continue;
        }
        p->fd[2 * p->n] = t;
        p->fd[2 * p->n + 1] = u;
        p->port[p->n++] = port;
    }
    if (p->n < n) {
        cli_ports_release(p);
        return -1;
    }
    return 0;
}

void cli_ports_release(cli_ports *p)
{
    for (size_t i = 0; i < 2 * CLI_PORTS_MAX; i++) {
        if (p->fd[i] >= 0)
            close(p->fd[i]);
        p->fd[i] = -1;
    }
}

static bool accepts(unsigned port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(fd);
    return ok;
}

cli_ready cli_wait_listening(pid_t pid, unsigned port, double seconds, int *status)
{
    double end = now() + seconds;
    useconds_t nap = 10 * 1000;
    for (;;) {
        if (accepts(port))
            return CLI_READY;
        pid_t w = waitpid(pid, status, WNOHANG);
        if (w == pid)
            return CLI_READY_EXITED;
        if (now() >= end)
            return CLI_READY_TIMEOUT;
        usleep(nap);
        if (nap < 200 * 1000)
            nap *= 2;
    }
}

void cli_print_log_tail(FILE *out, const char *path, size_t lines, const char *prefix)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(out, "%s(%s: %s)\n", prefix, path, strerror(errno));
        return;
    }
    if (lines > TAIL_MAX)
        lines = TAIL_MAX;
    /* a ring of the last `lines` lines; a longer line is shown cut, and
     * says so */
    char ring[TAIL_MAX][512];
    size_t n = 0;
    char buf[512];
    while (lines > 0 && fgets(buf, sizeof buf, f) != NULL) {
        size_t len = strlen(buf);
        if (len > 0 && buf[len - 1] != '\n') {
            int c;
            while ((c = fgetc(f)) != EOF && c != '\n')
                ;
            if (len > 4)
                memcpy(buf + len - 4, "...", 4);
        }
        memcpy(ring[n % lines], buf, sizeof buf);
        n++;
    }
    fclose(f);
    size_t first = n > lines ? n - lines : 0;
    for (size_t i = first; i < n; i++) {
        const char *l = ring[i % lines];
        fprintf(out, "%s%s%s", prefix, l, l[0] != '\0' && l[strlen(l) - 1] == '\n' ? "" : "\n");
    }
    if (n == 0)
        fprintf(out, "%s(%s is empty)\n", prefix, path);
}

double cli_build_slowness(void)
{
#if defined(__SANITIZE_ADDRESS__)
    return 3.0;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
    return 3.0;
#else
    return 1.0;
#endif
#else
    return 1.0;
#endif
}

/* ---------------------------------------------------------------- serve commands */

/* The process-wide flags a signal handler may set (see the header). */
static volatile sig_atomic_t server_stop, server_reload;

static void on_stop_signal(int sig)
{
    if (sig == SIGHUP)
        server_reload = 1;
    else
        server_stop = 1;
}

volatile sig_atomic_t *cli_server_reload_flag(void)
{
    return &server_reload;
}

volatile sig_atomic_t *cli_server_stop_on_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    return &server_stop;
}

int cli_server_config_path(const char *prog, const char *usage, const char *help, int argc, char **argv,
                           const char **path)
{
    const cli_opt_spec specs[] = {{"config", "FILE", help}};
    char *v[1] = {NULL};
    size_t npos = 0;
    cli_parse_result pr = cli_opts_parse(prog, specs, 1, argc, argv, v, NULL, 0, &npos);
    if (pr == CLI_PARSE_HELP) {
        cli_opts_usage(stdout, usage, specs, 1);
        return CLI_EXIT_OK;
    }
    if (pr != CLI_PARSED)
        return CLI_EXIT_USAGE;
    if (v[0] == NULL) {
        cli_error(prog, "missing required option --config (see --help)");
        return CLI_EXIT_USAGE;
    }
    *path = v[0];
    return -1;
}

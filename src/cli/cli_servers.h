/*
 * cli_servers.h - what a command that starts servers of its own (`ferry
 * demo`) needs to do it without races: ports no one else takes, readiness
 * that notices a server that died, the end of its log when it did, and
 * wall-time budgets that grow with the build's slowness.
 */
#ifndef FERRY_CLI_SERVERS_H
#define FERRY_CLI_SERVERS_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

/* Ports reserved at once, at most this many. */
#define CLI_PORTS_MAX 32

/* Distinct loopback ports, each free for TCP and UDP, held open until
 * cli_ports_release. They come from below the kernel's ephemeral range
 * (ip_local_port_range), which connect() never picks as a source port:
 * a port found by binding port 0 is in that range, and an outgoing
 * connection of any process may take it before the server binds it. */
typedef struct cli_ports {
    unsigned port[CLI_PORTS_MAX];
    int fd[2 * CLI_PORTS_MAX];
    size_t n;
} cli_ports;

/* Reserves `n` ports into `p` (p->port[0..n)). Returns 0, or -1 when `n`
 * is over CLI_PORTS_MAX or no free ports were found in a bounded number of
 * tries (nothing held then). */
int cli_ports_reserve(cli_ports *p, size_t n);

/* Closes the held sockets, just before the servers bind the ports. */
void cli_ports_release(cli_ports *p);

/* What cli_wait_listening saw. */
typedef enum cli_ready {
    CLI_READY = 0,      /* something accepts TCP connections on the port */
    CLI_READY_EXITED,   /* the process exited first; *status says how */
    CLI_READY_TIMEOUT   /* neither within the time given */
} cli_ready;

/* Waits until 127.0.0.1:`port` accepts a TCP connection, for at most
 * `seconds`, and stops at once when the child `pid` exits (it is then
 * reaped, its wait status in *status). */
cli_ready cli_wait_listening(pid_t pid, unsigned port, double seconds, int *status);

/* Prints the last `lines` lines of the file at `path` to `out`, each
 * behind `prefix`; a missing file is said so. */
void cli_print_log_tail(FILE *out, const char *path, size_t lines, const char *prefix);

/* How much slower this build runs than a plain optimised one: 3 under
 * AddressSanitizer (measured: the lab flow takes 2.5 to 3 times longer),
 * else 1. Wall-time budgets are multiplied by it. */
double cli_build_slowness(void);

/* ---- what every `ferry ... serve` command does before it serves ---- */

/* Parses the one option of a server started from a configuration file
 * (`PROG --config FILE`, `help` describing FILE): -1 with *path set to go
 * on, else the exit code (CLI_EXIT_OK after --help, CLI_EXIT_USAGE). */
int cli_server_config_path(const char *prog, const char *usage, const char *help, int argc, char **argv,
                           const char **path);

/* The process's stop flag, which SIGTERM and SIGINT set (no SA_RESTART
 * needed: servers poll it); SIGPIPE is ignored, so a client that hangs up
 * mid-answer does not kill a server. One per process: the signal handler
 * can reach nothing else. */
volatile sig_atomic_t *cli_server_stop_on_signals(void);

/* The process's reload flag, which SIGHUP sets (installed by
 * cli_server_stop_on_signals): a server reads its TLS material again. */
volatile sig_atomic_t *cli_server_reload_flag(void);

#endif

/*
 * cli_lmn.h - devices that run LoRaMac-node (issue 20), for `ferry demo
 * --stack` and `ferry lab devices --stack`: each is an lmn_node process
 * (ports/loramac-node/lab/lmn_node.c: upstream's MAC, region EU868 and
 * LmHandler with ferry's element, driver, package and lab board), driven
 * over its standard input (run, pause, down I, up I, status, quit) and read
 * from its standard output (one JSON status line per change).
 *
 * The program is built by `make loramac` next to the ferry binary's build
 * ($(BUILD)/loramac/lmn_node for $(BUILD)/bin/ferry, and the sanitizer
 * flavour likewise); FERRY_LMN_NODE names another one.
 */
#ifndef FERRY_CLI_LMN_H
#define FERRY_CLI_LMN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <sys/types.h>

#define CLI_LMN_LINE_MAX 2048

/* What a device said last (its status line). */
typedef struct cli_lmn_status {
    bool seen;                   /* a status line was read */
    uint64_t dev_eui, join_eui;
    unsigned active_slot;
    bool joined, on_trial, stack_joined;
    uint32_t join_requests, joins, join_failures, uplinks, downlinks;
    uint32_t mls_uplinks, mls_downlinks, secure_commands, profile_switches, element_errors;
    uint32_t sent, lost_up, lost_down, missed, rx1, rx2;
    uint32_t join_accepts;       /* heard and handed to the MAC: more than joins means some were refused */
    double simulated_s;
} cli_lmn_status;

typedef struct cli_lmn {
    pid_t pid;                   /* -1: not started, or reaped */
    int to_fd, from_fd;          /* its standard input and output */
    char buf[CLI_LMN_LINE_MAX];
    size_t len;
    cli_lmn_status st;
    bool running;                /* told `run` last (not `pause`) */
    bool exited;                 /* its output ended */
} cli_lmn;

/* How to start one device. */
typedef struct cli_lmn_args {
    const char *image;           /* the element image (written by the device as it goes) */
    const char *nvm;             /* the stack's NVM file */
    const char *log;             /* its standard error */
    const char *networks;        /* NAME=ADDR:PORT,... */
    const char *in_range;        /* NAME,... (NULL: all) */
    unsigned dr;
    double loss;
    uint32_t seed;
    int window_margin_ms;
    bool run;                    /* sends uplinks from the start */
} cli_lmn_args;

/* Finds the lmn_node program for the ferry binary at `ferry_exe`: 0 with
 * out[cap] set, or -1 with `why` (a sentence saying how to build it). */
int cli_lmn_path(const char *ferry_exe, char *out, size_t cap, char *why, size_t why_cap);

/* Starts a device (d->pid set). 0 or -1. */
int cli_lmn_start(cli_lmn *d, const char *program, const cli_lmn_args *a);

/* Reads the status lines the devices have written, waiting up to
 * `timeout_ms` for the first. `lock` (may be NULL) is held while a
 * device's status changes, for a reader on another thread. */
void cli_lmn_poll(cli_lmn *devs, size_t n, int timeout_ms, pthread_mutex_t *lock);

/* Sends one control line ("run", "pause", "down 2", ...). 0 or -1. */
int cli_lmn_send(cli_lmn *d, const char *line);

/* Tells every device to quit, waits up to `seconds` for them (each stores
 * its NVM and exits), then ends those still there. */
void cli_lmn_stop_all(cli_lmn *devs, size_t n, double seconds);

/* CPU seconds the running devices used so far (/proc), summed. */
double cli_lmn_cpu(const cli_lmn *devs, size_t n);

#endif

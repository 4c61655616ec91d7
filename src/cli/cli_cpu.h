/*
 * cli_cpu.h - CPU time used by processes, as the kernel counts it, for
 * `ferry demo`'s account of where the flow's time goes (docs/demo.md, "The
 * report").
 *
 * CPU time rather than wall time because the demo's processes run at once on
 * few cores: their wall times overlap and add up to more than the run, while
 * CPU seconds add up to the work done and split it fairly between pieces.
 * Each function returns seconds (user + system, every thread) or -1 when the
 * kernel could not tell; none allocates.
 */
#ifndef FERRY_CLI_CPU_H
#define FERRY_CLI_CPU_H

#include <sys/types.h>

/* The CPU seconds process `pid` has used so far, from /proc/PID/stat. -1
 * when it cannot be read (no /proc, the process gone, an unexpected format). */
double cli_cpu_of_pid(pid_t pid);

/* This process's CPU seconds so far, all threads (getrusage RUSAGE_SELF). */
double cli_cpu_self(void);

/* The CPU seconds of this process's children that have ended and been
 * waited for, with their own waited-for descendants (RUSAGE_CHILDREN). */
double cli_cpu_children(void);

#endif

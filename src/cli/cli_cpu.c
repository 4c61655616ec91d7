/*
 * cli_cpu.c - CPU time of a process from /proc and getrusage (cli_cpu.h).
 *
 * /proc/PID/stat counts in clock ticks (sysconf(_SC_CLK_TCK), usually 100 a
 * second), so a figure is good to about 10 ms per process: plenty for runs
 * of seconds to minutes.
 */
#include "cli/cli_cpu.h"

#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* Fields of /proc/PID/stat after "(comm)", counted from 3 (the state), up to
 * and including stime (field 15, proc(5)). */
#define STAT_UTIME 14
#define STAT_STIME 15

double cli_cpu_of_pid(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = '\0';
    /* the command name may hold spaces and parentheses: skip to its last ')' */
    const char *p = strrchr(buf, ')');
    long tick = sysconf(_SC_CLK_TCK);
    if (p == NULL || tick <= 0)
        return -1;
    unsigned long long utime = 0, stime = 0;
    int field = 2;
    for (p++; *p != '\0' && field < STAT_STIME; p++) {
        if (*p != ' ')
            continue;
        field++;
        if (field == STAT_UTIME && sscanf(p + 1, "%llu", &utime) != 1)
            return -1;
        if (field == STAT_STIME && sscanf(p + 1, "%llu", &stime) != 1)
            return -1;
    }
    if (field != STAT_STIME)
        return -1;
    return (double)(utime + stime) / (double)tick;
}

static double rusage_s(int who)
{
    struct rusage ru;
    if (getrusage(who, &ru) != 0)
        return -1;
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           (double)ru.ru_stime.tv_usec / 1e6;
}

double cli_cpu_self(void)
{
    return rusage_s(RUSAGE_SELF);
}

double cli_cpu_children(void)
{
    return rusage_s(RUSAGE_CHILDREN);
}

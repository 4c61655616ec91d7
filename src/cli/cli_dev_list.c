/*
 * cli_dev_list.c - the DevEUIs a fleet command acts on: its arguments, then
 * the lines of --file F ("-": standard input), as many as there are. A
 * line holds one DevEUI; blank lines and # comments are skipped. Why no cap:
 * a fleet is as large as the customer's, and a command that stops at its
 * 1,000th SE is a surprise nobody plans for (each SE is its own transaction
 * anyway, so the command batches by itself).
 */
#include "cli/cli_idm.h"
#include "cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int push(cli_dev_list *l, uint64_t dev)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        uint64_t *p = realloc(l->dev, cap * sizeof *p);
        if (p == NULL)
            return -1;
        l->dev = p;
        l->cap = cap;
    }
    l->dev[l->n++] = dev;
    return 0;
}

int cli_dev_list_read(const char *prog, char **pos, size_t npos, const char *file, cli_dev_list *out)
{
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < npos; i++) {
        uint64_t dev;
        if (cli_parse_hex_uint(prog, "DEVEUI", pos[i], 16, "DevEUI", &dev) != CLI_EXIT_OK) {
            cli_dev_list_free(out);
            return CLI_EXIT_USAGE;
        }
        if (push(out, dev) != 0) {
            cli_dev_list_free(out);
            return CLI_EXIT_FAIL;
        }
    }
    if (file == NULL)
        return CLI_EXIT_OK;
    bool std_in = strcmp(file, "-") == 0;
    FILE *in = std_in ? stdin : fopen(file, "r");
    if (in == NULL) {
        cli_error(prog, "%s: cannot open", file);
        cli_dev_list_free(out);
        return CLI_EXIT_FAIL;
    }
    int rc = CLI_EXIT_OK;
    char line[256];
    for (unsigned long long no = 1; rc == CLI_EXIT_OK && fgets(line, sizeof line, in) != NULL; no++) {
        line[strcspn(line, "\r\n")] = '\0';
        char *p = line + strspn(line, " \t");
        for (char *t = p + strlen(p); t > p && (t[-1] == ' ' || t[-1] == '\t'); t--)
            t[-1] = '\0';
        if (*p == '\0' || *p == '#')
            continue;
        char where[300];
        snprintf(where, sizeof where, "%s line %llu", std_in ? "stdin" : file, no);
        uint64_t dev;
        if ((rc = cli_parse_hex_uint(prog, where, p, 16, "DevEUI", &dev)) == CLI_EXIT_OK && push(out, dev) != 0)
            rc = CLI_EXIT_FAIL;
    }
    if (rc == CLI_EXIT_OK && ferror(in)) {
        cli_error(prog, "%s: read error", file);
        rc = CLI_EXIT_FAIL;
    }
    if (!std_in)
        fclose(in);
    if (rc != CLI_EXIT_OK)
        cli_dev_list_free(out);
    return rc;
}

void cli_dev_list_free(cli_dev_list *l)
{
    free(l->dev);
    memset(l, 0, sizeof *l);
}

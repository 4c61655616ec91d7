/*
 * cli_opts.c - long-option parsing and value conversion for the CLI.
 *
 * A hand-written parser rather than getopt_long: every subcommand has a
 * handful of long options that all take a value, and we want our own
 * messages ("--dev-nonce: expected 4 hex digits ..."), no argv permutation
 * and no global state. Values are left in argv, so a key's text can be wiped
 * where it lies once it is decoded (which also blanks it in /proc/PID/cmdline).
 */
#include "cli/cli.h"

#include <stdarg.h>
#include <string.h>

void cli_error(const char *prog, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", prog);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static const cli_opt_spec *find_spec(const cli_opt_spec *specs, size_t n, const char *name, size_t name_len,
                                     size_t *index)
{
    for (size_t i = 0; i < n; i++) {
        if (strlen(specs[i].name) == name_len && memcmp(specs[i].name, name, name_len) == 0) {
            *index = i;
            return &specs[i];
        }
    }
    return NULL;
}

cli_parse_result cli_opts_parse(const char *prog, const cli_opt_spec *specs, size_t n, int argc, char **argv,
                                char **values, char **pos, size_t max_pos, size_t *npos)
{
    bool options_done = false;
    *npos = 0;
    for (size_t i = 0; i < n; i++)
        values[i] = NULL;

    for (int a = 1; a < argc; a++) {
        char *arg = argv[a];
        if (options_done || arg[0] != '-' || arg[1] == '\0') {
            if (*npos >= max_pos) {
                cli_error(prog, "unexpected argument \"%s\" (see --help)", arg);
                return CLI_PARSE_ERROR;
            }
            pos[(*npos)++] = arg;
            continue;
        }
        if (strcmp(arg, "--") == 0) {
            options_done = true;
            continue;
        }
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0)
            return CLI_PARSE_HELP;
        if (arg[1] != '-') {
            cli_error(prog, "unknown option \"%s\" (options are long: --name VALUE; see --help)", arg);
            return CLI_PARSE_ERROR;
        }
        const char *name = arg + 2;
        char *eq = strchr(arg, '=');
        size_t name_len = eq != NULL ? (size_t)(eq - name) : strlen(name);
        size_t index = 0;
        const cli_opt_spec *spec = find_spec(specs, n, name, name_len, &index);
        if (spec == NULL) {
            cli_error(prog, "unknown option \"--%.*s\" (see --help)", (int)name_len, name);
            return CLI_PARSE_ERROR;
        }
        if (values[index] != NULL) {
            cli_error(prog, "option --%s given twice", spec->name);
            return CLI_PARSE_ERROR;
        }
        if (eq != NULL) {
            values[index] = eq + 1;
        } else if (a + 1 < argc) {
            values[index] = argv[++a];
        } else {
            cli_error(prog, "option --%s needs a value (%s)", spec->name, spec->metavar);
            return CLI_PARSE_ERROR;
        }
    }
    return CLI_PARSED;
}

void cli_opts_usage(FILE *out, const char *synopsis, const cli_opt_spec *specs, size_t n)
{
    fprintf(out, "usage: %s\n", synopsis);
    if (n > 0)
        fprintf(out, "\noptions:\n");
    for (size_t i = 0; i < n; i++) {
        char left[64];
        snprintf(left, sizeof(left), "--%s %s", specs[i].name, specs[i].metavar);
        fprintf(out, "  %-24s %s\n", left, specs[i].help);
    }
    fprintf(out, "  %-24s %s\n", "-h, --help", "show this help");
}

/* Skips an optional 0x/0X prefix. */
static const char *skip_0x(const char *text)
{
    if (text[0] == '0' && (text[1] == 'x' || text[1] == 'X'))
        return text + 2;
    return text;
}

int cli_parse_hex_bytes(const char *prog, const char *opt, const char *text, size_t len, uint8_t *out)
{
    const char *hex = skip_0x(text);
    if (lw_hex_decode(hex, strlen(hex), out, len) != LW_OK) {
        cli_error(prog, "%s: expected %zu hex digits (%zu bytes), got \"%s\"", opt, 2 * len, len, text);
        return CLI_EXIT_USAGE;
    }
    return CLI_EXIT_OK;
}

int cli_parse_hex_uint(const char *prog, const char *opt, const char *text, unsigned digits, const char *what,
                       uint64_t *out)
{
    uint8_t be[8];
    const char *hex = skip_0x(text);
    size_t n = digits / 2;
    if (n > sizeof(be) || lw_hex_decode(hex, strlen(hex), be, n) != LW_OK) {
        cli_error(prog, "%s: expected %s as exactly %u hex digits, big-endian as written (e.g. %.*s), got \"%s\"",
                  opt, what, digits, (int)digits, "0102030405060708090a0b0c0d0e0f10", text);
        return CLI_EXIT_USAGE;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | be[i];
    *out = v;
    return CLI_EXIT_OK;
}

int cli_parse_dec_uint(const char *prog, const char *opt, const char *text, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    size_t len = strlen(text);
    bool ok = len > 0 && len <= 20;
    for (size_t i = 0; ok && i < len; i++) {
        unsigned d = (unsigned)(unsigned char)text[i] - '0';
        if (d > 9 || v > (UINT64_MAX - d) / 10)
            ok = false;
        else
            v = v * 10 + d;
    }
    if (!ok || v > max) {
        cli_error(prog, "%s: expected a decimal number from 0 to %llu, got \"%s\"", opt, (unsigned long long)max,
                  text);
        return CLI_EXIT_USAGE;
    }
    *out = v;
    return CLI_EXIT_OK;
}

int cli_parse_key(const char *prog, const char *opt, char *text, lw_key *out)
{
    uint8_t bytes[LW_KEY_LEN];
    const char *hex = skip_0x(text);
    lw_status st = lw_hex_decode(hex, strlen(hex), bytes, sizeof(bytes));
    if (st == LW_OK)
        st = lw_key_from_bytes(out, bytes, sizeof(bytes));
    LW_WIPE(bytes);
    lw_secure_wipe(text, strlen(text));
    if (st != LW_OK) {
        lw_key_wipe(out);
        cli_error(prog, "%s: expected a 128-bit AES key as 32 hex digits (%s)", opt, lw_strerror(st));
        return CLI_EXIT_USAGE;
    }
    return CLI_EXIT_OK;
}

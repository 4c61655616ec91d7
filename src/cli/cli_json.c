/*
 * cli_json.c - JSON output of the CLI.
 *
 * jansson gives its free function no size, so the wiping allocator keeps the
 * size in a header in front of each block (one max_align_t, so the block the
 * caller sees keeps malloc's alignment). The cost is a few bytes per JSON
 * node of a single small object, and in exchange no copy of a derived key
 * lingers in freed heap memory.
 *
 * The text is rendered with json_dumpb into a caller-owned buffer rather
 * than json_dumps, so that the one buffer that holds the whole output is ours
 * to wipe.
 */
#include "cli/cli_json.h"
#include "cli/cli.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

typedef union block_header {
    size_t size;
    max_align_t align;
} block_header;

static void *wiping_malloc(size_t size)
{
    if (size > SIZE_MAX - sizeof(block_header))
        return NULL;
    block_header *h = malloc(sizeof(block_header) + size);
    if (h == NULL)
        return NULL;
    h->size = size;
    return h + 1;
}

static void wiping_free(void *p)
{
    if (p == NULL)
        return;
    block_header *h = (block_header *)p - 1;
    lw_secure_wipe(p, h->size);
    free(h);
}

void cli_json_init(void)
{
    json_set_alloc_funcs(wiping_malloc, wiping_free);
}

int cli_json_set_obj(json_t *obj, const char *key, json_t *child)
{
    if (obj == NULL || child == NULL) {
        json_decref(child);
        return -1;
    }
    return json_object_set_new(obj, key, child) == 0 ? 0 : -1;
}

int cli_json_set_hex(json_t *obj, const char *key, const uint8_t *bytes, size_t len)
{
    char text[2 * LW_PHY_MAX + 1];
    if (len > LW_PHY_MAX || lw_hex_encode(bytes, len, text, sizeof(text)) != LW_OK)
        return -1;
    int rc = cli_json_set_obj(obj, key, json_string(text));
    LW_WIPE(text);
    return rc;
}

int cli_json_set_be(json_t *obj, const char *key, uint64_t v, unsigned digits)
{
    uint8_t be[8];
    size_t n = digits / 2;
    if (digits % 2 != 0 || n == 0 || n > sizeof(be))
        return -1;
    for (size_t i = 0; i < n; i++)
        be[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
    return cli_json_set_hex(obj, key, be, n);
}

int cli_json_set_uint(json_t *obj, const char *key, uint64_t v)
{
    if (v > (uint64_t)INT64_MAX)
        return -1;
    return cli_json_set_obj(obj, key, json_integer((json_int_t)v));
}

int cli_json_set_bool(json_t *obj, const char *key, bool v)
{
    return cli_json_set_obj(obj, key, json_boolean(v));
}

int cli_json_set_str(json_t *obj, const char *key, const char *s)
{
    return cli_json_set_obj(obj, key, json_string(s));
}

int cli_json_set_key(json_t *obj, const char *key, const lw_key *k)
{
    if (k->length == 0 || k->length > LW_KEY_MAX)
        return -1;
    return cli_json_set_hex(obj, key, k->material, k->length);
}

int cli_json_emit(const char *prog, json_t *obj, int err)
{
    /* Most outputs (a decoded 255-byte frame is the largest single object)
     * are a few kilobytes. */
    static char text[16384];
    int status = CLI_EXIT_OK;
    if (obj == NULL || err != 0) {
        cli_error(prog, "out of memory while building the JSON output");
        status = CLI_EXIT_FAIL;
    } else {
        /* Larger outputs (a list of results, `idm claim --file`) get a heap
         * buffer of their exact size, wiped the same way. */
        const size_t flags = JSON_INDENT(2) | JSON_PRESERVE_ORDER;
        size_t need = json_dumpb(obj, NULL, 0, flags);
        size_t cap = need < sizeof(text) ? sizeof(text) : need + 1;
        char *buf = cap == sizeof(text) ? text : malloc(cap);
        size_t n = need > 0 && buf != NULL ? json_dumpb(obj, buf, cap - 1, flags) : 0;
        if (n == 0 || n != need) {
            cli_error(prog, "could not render the JSON output");
            status = CLI_EXIT_FAIL;
        } else {
            buf[n++] = '\n';
            if (fwrite(buf, 1, n, stdout) != n || fflush(stdout) != 0) {
                cli_error(prog, "could not write to standard output");
                status = CLI_EXIT_FAIL;
            }
        }
        if (buf != NULL)
            lw_secure_wipe(buf, cap);
        if (buf != text)
            free(buf);
    }
    json_decref(obj);
    return status;
}

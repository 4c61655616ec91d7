/*
 * idm_console.h - the activation console's static files (console/NAME.html,
 * .js, .css), embedded in the binary at build time: the Makefile runs
 * scripts/embed_console.sh over console/ into $(BUILD)/gen/
 * idm_console_assets.c, compiled into the idm layer. `idm serve` answers
 * them at `/` (docs/console.md); nothing is fetched from elsewhere, and
 * nothing is built at run time.
 */
#ifndef FERRY_IDM_CONSOLE_H
#define FERRY_IDM_CONSOLE_H

#include <stddef.h>

typedef struct idm_console_asset {
    const char *path;             /* "/" for index.html, else "/NAME" */
    const char *content_type;
    const unsigned char *data;
    size_t len;
} idm_console_asset;

/* The file served at `path` ("/index.html" is "/"); NULL when none. */
const idm_console_asset *idm_console_find(const char *path);

#endif

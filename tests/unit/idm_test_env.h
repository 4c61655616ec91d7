/*
 * idm_test_env.h - an Identity Manager deployment for unit tests: a
 * temporary root directory, and deployments in it made by the CLI's init
 * path (`ferry init DIR` is js_deploy_init, `ferry -d DIR idm init` is
 * idm_config_init), with a real SoftHSM2 token and SQLite database.
 *
 * Include after <stdarg.h> <stddef.h> <stdint.h> <setjmp.h> <cmocka.h>.
 */
#ifndef FERRY_IDM_TEST_ENV_H
#define FERRY_IDM_TEST_ENV_H

#include <stdio.h>
#include <stdlib.h>

#include "idm/idm_core.h"
#include "js/js.h"

/* root[64] becomes a new directory /tmp/ferry-<tag>-XXXXXX; 0 or -1 (a
 * cmocka group setup's answer). */
static inline int idm_test_root_make(char root[64], const char *tag)
{
    snprintf(root, 64, "/tmp/ferry-%s-XXXXXX", tag);
    return mkdtemp(root) != NULL ? 0 : -1;
}

/* Removes it and everything in it; 0 or -1. */
static inline int idm_test_root_remove(const char *root)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    return system(cmd) == 0 ? 0 : -1;
}

/* A deployment in root/name, as the CLI makes it; its path into dir. */
static inline void idm_test_deployment(const char *root, const char *name, char dir[256])
{
    snprintf(dir, 256, "%s/%s", root, name);
    static const js_join_eui_range je = {0x70B3D57ED0000000ull, 64};
    js_init_opts o = {.join_euis = &je, .n_join_euis = 1, .listen = "127.0.0.1:0"};
    char jerr[JS_ERR_MAX], err[IDM_ERR_MAX], tok[IDM_TENANT_TOKEN_HEX + 1];
    assert_int_equal(js_deploy_init(dir, &o, jerr), JS_OK);
    assert_int_equal(idm_config_init(dir, "127.0.0.1:0", tok, err), IDM_OK);
}

#endif

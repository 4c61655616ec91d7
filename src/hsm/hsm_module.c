/*
 * hsm_module.c - loading PKCS#11 modules: dlopen, C_GetFunctionList,
 * C_Initialize, shared per process.
 *
 * PKCS#11 is process-wide by specification: a module is initialised once
 * per process, and a second C_Initialize returns
 * CKR_CRYPTOKI_ALREADY_INITIALIZED. Two `hsm` objects on the same module
 * (two tokens, or a test that creates a token then opens it) must therefore
 * share one initialisation and finalise only when the last one goes. That is
 * the only global state of the layer: a small table guarded by a mutex.
 *
 * SoftHSM2 reads its configuration from SOFTHSM2_CONF at C_Initialize, so the
 * variable is set under the same mutex just before; a process that wants two
 * SoftHSM2 deployments at once cannot have them (HSM_ERR_CONFIG) - use one
 * deployment with several tokens instead.
 */
#include "hsm/hsm_internal.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MODULES_MAX 4

struct hsm_module {
    char path[PATH_MAX];
    char conf[PATH_MAX];     /* "" = environment left alone */
    void *dl;
    CK_FUNCTION_LIST_PTR f;
    unsigned refs;
    int finalize;            /* we initialised it, so we finalise it */
};

static pthread_mutex_t modules_lock = PTHREAD_MUTEX_INITIALIZER;
static struct hsm_module modules[MODULES_MAX];

static hsm_status load(struct hsm_module *m, const char *path, const char *conf, hsm_diag *d)
{
    m->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (m->dl == NULL)
        return HSM_ERR_MODULE;
    CK_C_GetFunctionList get = NULL;
    /* POSIX allows this conversion; the cast via void* silences -Wpedantic. */
    *(void **)&get = dlsym(m->dl, "C_GetFunctionList");
    CK_RV rv = get != NULL ? get(&m->f) : CKR_FUNCTION_FAILED;
    if (rv != CKR_OK || m->f == NULL) {
        dlclose(m->dl);
        m->dl = NULL;
        return get == NULL ? HSM_ERR_MODULE : hsm_fail(d, "C_GetFunctionList", rv);
    }
    if (conf != NULL && setenv("SOFTHSM2_CONF", conf, 1) != 0) {
        dlclose(m->dl);
        m->dl = NULL;
        return HSM_ERR_MEMORY;
    }
    CK_C_INITIALIZE_ARGS args;
    memset(&args, 0, sizeof(args));
    args.flags = CKF_OS_LOCKING_OK;
    rv = m->f->C_Initialize(&args);
    if (rv == CKR_CRYPTOKI_ALREADY_INITIALIZED) {
        /* Someone else in this process (not ferry) initialised it: share it
         * and leave finalising to them. */
        m->finalize = 0;
    } else if (rv != CKR_OK) {
        dlclose(m->dl);
        m->dl = NULL;
        return hsm_fail(d, "C_Initialize", rv);
    } else {
        m->finalize = 1;
    }
    snprintf(m->path, sizeof(m->path), "%s", path);
    snprintf(m->conf, sizeof(m->conf), "%s", conf != NULL ? conf : "");
    m->refs = 1;
    return HSM_OK;
}

hsm_status hsm_module_acquire(const char *path, const char *softhsm_conf, hsm_module **out,
                              CK_FUNCTION_LIST_PTR *fns, hsm_diag *d)
{
    if (path == NULL || out == NULL || fns == NULL || strlen(path) >= PATH_MAX ||
        (softhsm_conf != NULL && strlen(softhsm_conf) >= PATH_MAX))
        return HSM_ERR_ARGUMENT;
    hsm_status st = HSM_OK;
    struct hsm_module *free_slot = NULL, *found = NULL;
    pthread_mutex_lock(&modules_lock);
    for (size_t i = 0; i < MODULES_MAX; i++) {
        if (modules[i].refs == 0) {
            if (free_slot == NULL)
                free_slot = &modules[i];
        } else if (strcmp(modules[i].path, path) == 0) {
            found = &modules[i];
        }
    }
    if (found != NULL) {
        if (softhsm_conf != NULL && strcmp(found->conf, softhsm_conf) != 0)
            st = HSM_ERR_CONFIG;
        else
            found->refs++;
    } else if (free_slot == NULL) {
        st = HSM_ERR_MODULE;
    } else {
        memset(free_slot, 0, sizeof(*free_slot));
        st = load(free_slot, path, softhsm_conf, d);
        found = free_slot;
    }
    if (st == HSM_OK) {
        *out = found;
        *fns = found->f;
    }
    pthread_mutex_unlock(&modules_lock);
    return st;
}

void hsm_module_release(hsm_module *m)
{
    if (m == NULL)
        return;
    pthread_mutex_lock(&modules_lock);
    if (m->refs > 0 && --m->refs == 0) {
        if (m->finalize)
            m->f->C_Finalize(NULL);
        dlclose(m->dl);
        memset(m, 0, sizeof(*m));
    }
    pthread_mutex_unlock(&modules_lock);
}

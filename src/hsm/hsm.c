/*
 * hsm.c - opening the key service, logging in, finding the master key once,
 * and per-thread sessions.
 *
 * Costs that shape this file (SoftHSM2 figures, performance-baselines.md
 * B.1): C_FindObjects is linear in the objects of the token and about 500
 * times a CMAC, so the master key is looked up here once and only its
 * handle is kept; opening a session costs about five CMACs, so a worker
 * opens one session and keeps it. PKCS#11 keeps the login per application
 * and token, not per session: hsm_open logs in on a session of its own that
 * stays open, and every hsm_session opened later inherits the login.
 */
#include "hsm/hsm_internal.h"
#include "lorawan/lw_secure.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define PIN_MAX 256
#define OPEN_PAUSE_FIRST_MS 10   /* between attempts: 10, 20, 40, 80 ms */

hsm_status hsm_fail(hsm_diag *d, const char *call, CK_RV rv)
{
    if (d != NULL) {
        d->call = call;
        d->ckr = rv;
    }
    return hsm_status_from_ckr(rv);
}

hsm_status hsm_session_fail(hsm_session *s, const char *call, CK_RV rv)
{
    s->last_status = hsm_fail(&s->last, call, rv);
    return s->last_status;
}

hsm_status hsm_session_unwrap_fail(hsm_session *s, CK_RV rv)
{
    hsm_status st = hsm_session_fail(s, "C_UnwrapKey", rv);
    if (rv == CKR_GENERAL_ERROR || rv == CKR_FUNCTION_FAILED)
        st = s->last_status = HSM_ERR_WRAPPED_INVALID;
    return st;
}

void hsm_pad_label(CK_UTF8CHAR label[32], const char *text)
{
    memset(label, ' ', 32);
    size_t n = strlen(text);
    memcpy(label, text, n < 32 ? n : 32);
}

hsm_status hsm_find_token(CK_FUNCTION_LIST_PTR f, const char *label, CK_SLOT_ID *slot, hsm_diag *d)
{
    CK_UTF8CHAR want[32];
    hsm_pad_label(want, label);
    CK_ULONG n = 0;
    CK_RV rv = f->C_GetSlotList(CK_TRUE, NULL, &n);
    if (rv != CKR_OK)
        return hsm_fail(d, "C_GetSlotList", rv);
    if (n == 0)
        return HSM_ERR_TOKEN_NOT_FOUND;
    CK_SLOT_ID *slots = calloc(n, sizeof(*slots));
    if (slots == NULL)
        return HSM_ERR_MEMORY;
    hsm_status st = HSM_ERR_TOKEN_NOT_FOUND;
    rv = f->C_GetSlotList(CK_TRUE, slots, &n);
    if (rv != CKR_OK)
        st = hsm_fail(d, "C_GetSlotList", rv);
    for (CK_ULONG i = 0; rv == CKR_OK && i < n; i++) {
        CK_TOKEN_INFO info;
        if (f->C_GetTokenInfo(slots[i], &info) != CKR_OK || !(info.flags & CKF_TOKEN_INITIALIZED))
            continue;
        if (memcmp(info.label, want, 32) == 0) {
            *slot = slots[i];
            st = HSM_OK;
            break;
        }
    }
    free(slots);
    return st;
}

/* Reads the user PIN: a regular file, not a symlink, mode 0600 or stricter
 * (the ssh rule: a secret readable by others is refused, not used). One
 * line; trailing newline and blanks dropped. */
static hsm_status read_pin(const char *path, char pin[PIN_MAX + 1], size_t *len)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return HSM_ERR_PIN_FILE;
    struct stat sb;
    hsm_status st = HSM_OK;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || (sb.st_mode & 077) != 0)
        st = HSM_ERR_PIN_FILE;
    size_t n = 0;
    while (st == HSM_OK && n <= PIN_MAX) {
        ssize_t r = read(fd, pin + n, PIN_MAX + 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            st = HSM_ERR_PIN_FILE;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    if (st == HSM_OK && n > PIN_MAX)
        st = HSM_ERR_PIN_FILE;
    while (st == HSM_OK && n > 0 && (pin[n - 1] == '\n' || pin[n - 1] == '\r' || pin[n - 1] == ' '))
        n--;
    if (st == HSM_OK && n == 0)
        st = HSM_ERR_PIN_FILE;
    if (st != HSM_OK)
        lw_secure_wipe(pin, PIN_MAX + 1);
    *len = n;
    return st;
}

static hsm_status find_master(hsm *h, const char *label, hsm_diag *d)
{
    static const CK_OBJECT_CLASS secret = CKO_SECRET_KEY;
    CK_ATTRIBUTE t[] = {
        {CKA_CLASS, (CK_VOID_PTR)&secret, sizeof(secret)},
        {CKA_LABEL, (CK_VOID_PTR)label, strlen(label)},
    };
    CK_RV rv = h->f->C_FindObjectsInit(h->login_session, t, 2);
    if (rv != CKR_OK)
        return hsm_fail(d, "C_FindObjectsInit", rv);
    CK_OBJECT_HANDLE found[2];
    CK_ULONG n = 0;
    rv = h->f->C_FindObjects(h->login_session, found, 2, &n);
    h->f->C_FindObjectsFinal(h->login_session);
    if (rv != CKR_OK)
        return hsm_fail(d, "C_FindObjects", rv);
    if (n != 1)
        return HSM_ERR_KEY_NOT_FOUND;
    h->master = found[0];
    return HSM_OK;
}

/* Fails early, with the mechanism's name in the diag, on a token that lacks
 * one of the four mechanisms ferry uses, rather than at the first join. */
static hsm_status check_mechanisms(hsm *h, hsm_diag *d)
{
    static const struct {
        CK_MECHANISM_TYPE type;
        const char *name;
    } need[] = {
        {CKM_AES_ECB, "C_GetMechanismInfo(CKM_AES_ECB)"},
        {CKM_AES_CMAC, "C_GetMechanismInfo(CKM_AES_CMAC)"},
        {CKM_AES_ECB_ENCRYPT_DATA, "C_GetMechanismInfo(CKM_AES_ECB_ENCRYPT_DATA)"},
        {CKM_AES_KEY_WRAP, "C_GetMechanismInfo(CKM_AES_KEY_WRAP)"},
    };
    for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
        CK_MECHANISM_INFO info;
        CK_RV rv = h->f->C_GetMechanismInfo(h->slot, need[i].type, &info);
        if (rv != CKR_OK)
            return hsm_fail(d, need[i].name, rv);
    }
    return HSM_OK;
}

static hsm_status login(hsm *h, const char *pin_file, hsm_diag *d)
{
    char pin[PIN_MAX + 1];
    size_t n = 0;
    hsm_status st = read_pin(pin_file, pin, &n);
    if (st != HSM_OK)
        return st;
    CK_RV rv = h->f->C_Login(h->login_session, CKU_USER, (CK_UTF8CHAR_PTR)pin, n);
    LW_WIPE(pin);
    if (rv == CKR_USER_ALREADY_LOGGED_IN)   /* another hsm on this token in this process */
        rv = CKR_OK;
    return rv == CKR_OK ? HSM_OK : hsm_fail(d, "C_Login", rv);
}

/* One attempt at the token: module, token, mechanisms, login session, login,
 * master key. *pin_used is set once C_Login has been called. What it leaves
 * in h on failure is undone by undo_attempt() or hsm_close(). */
static hsm_status attempt(hsm *h, const hsm_config *cfg, bool *pin_used, hsm_diag *diag)
{
    const char *module = cfg->module != NULL ? cfg->module : HSM_DEFAULT_MODULE;
    hsm_status st = hsm_module_acquire(module, cfg->softhsm_conf, &h->mod, &h->f, diag);
    if (st == HSM_OK) {
        if (cfg->token_label != NULL)
            st = hsm_find_token(h->f, cfg->token_label, &h->slot, diag);
        else
            h->slot = cfg->slot_id;
    }
    if (st == HSM_OK)
        st = check_mechanisms(h, diag);
    if (st == HSM_OK) {
        CK_RV rv = h->f->C_OpenSession(h->slot, CKF_SERIAL_SESSION, NULL, NULL, &h->login_session);
        if (rv != CKR_OK)
            st = hsm_fail(diag, "C_OpenSession", rv);
    }
    if (st == HSM_OK) {
        *pin_used = true;
        st = login(h, cfg->pin_file, diag);
    }
    if (st == HSM_OK)
        st = find_master(h, cfg->master_label != NULL ? cfg->master_label : HSM_MASTER_LABEL, diag);
    return st;
}

/* Back to the state before attempt(): the login session closed and the
 * module released - finalised, when this hsm was its only user, so that the
 * next C_Initialize looks at the tokens afresh. */
static void undo_attempt(hsm *h)
{
    if (h->login_session != CK_INVALID_HANDLE)
        h->f->C_CloseSession(h->login_session);
    h->login_session = CK_INVALID_HANDLE;
    hsm_module_release(h->mod);
    h->mod = NULL;
    h->f = NULL;
}

/* Worth another attempt: a token that was not in the slot list, or a module
 * that reported the device failing. With SoftHSM2 both are what a process
 * sees while another one rewrites token.object (hsm_lock.c); a real HSM may
 * report its token missing for a moment while it restarts. */
static bool transient(hsm_status st)
{
    return st == HSM_ERR_TOKEN_NOT_FOUND || st == HSM_ERR_DEVICE;
}

/* attempt() until it succeeds, fails for good, or HSM_OPEN_TRIES attempts
 * are spent; *tries counts them. The pauses double from OPEN_PAUSE_FIRST_MS:
 * a SoftHSM2 token.object rewrite takes microseconds, a re-initialisation
 * milliseconds, so 150 ms in all is plenty without hiding a real fault. */
static hsm_status attempt_until_settled(hsm *h, const hsm_config *cfg, unsigned *tries, hsm_diag *diag)
{
    bool pin_used = false;
    unsigned pause_ms = OPEN_PAUSE_FIRST_MS;
    for (;;) {
        if (diag != NULL)
            *diag = (hsm_diag){0};   /* the diag tells of the last attempt only */
        ++*tries;
        hsm_status st = attempt(h, cfg, &pin_used, diag);
        if (st == HSM_OK || pin_used || !transient(st) || *tries >= HSM_OPEN_TRIES)
            return st;
        undo_attempt(h);
        hsm_pause_ms(pause_ms);
        pause_ms *= 2;
    }
}

hsm_status hsm_open(const hsm_config *cfg, hsm **out, hsm_diag *diag)
{
    if (cfg == NULL || out == NULL || cfg->pin_file == NULL)
        return HSM_ERR_ARGUMENT;
    *out = NULL;
    if (diag != NULL)
        *diag = (hsm_diag){0};
    hsm *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return HSM_ERR_MEMORY;
    if (pthread_mutex_init(&h->lock, NULL) != 0) {
        free(h);
        return HSM_ERR_MEMORY;
    }
    /* Held around every attempt: from C_Initialize to the end of C_Login
     * SoftHSM2 reads and rewrites token.object (hsm_lock.c). */
    hsm_open_lock lock;
    unsigned tries = 0;
    hsm_status st = hsm_open_lock_take(cfg->softhsm_conf, cfg->open_wait_ms, &lock);
    if (st == HSM_OK) {
        st = attempt_until_settled(h, cfg, &tries, diag);
        hsm_open_lock_release(&lock);
    }
    if (diag != NULL)
        diag->tries = tries;
    if (st != HSM_OK) {
        hsm_close(h);
        return st;
    }
    *out = h;
    return HSM_OK;
}

void hsm_close(hsm *h)
{
    if (h == NULL)
        return;
    pthread_mutex_lock(&h->lock);
    assert(h->sessions == 0 && "close every hsm_session before hsm_close");
    pthread_mutex_unlock(&h->lock);
    if (h->login_session != CK_INVALID_HANDLE) {
        /* Closing the last session of the application on the token logs it
         * out (PKCS#11 5.6); no explicit C_Logout, which would also log out
         * another hsm of this process on the same token. */
        h->f->C_CloseSession(h->login_session);
    }
    hsm_module_release(h->mod);
    pthread_mutex_destroy(&h->lock);
    memset(h, 0, sizeof(*h));
    free(h);
}

hsm_status hsm_session_open(hsm *h, hsm_session **out)
{
    if (h == NULL || out == NULL)
        return HSM_ERR_ARGUMENT;
    *out = NULL;
    hsm_session *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return HSM_ERR_MEMORY;
    /* Read-only is enough: session objects (CKA_TOKEN false) may be made and
     * destroyed in a read-only session, and a worker must never change the
     * token itself. */
    CK_RV rv = h->f->C_OpenSession(h->slot, CKF_SERIAL_SESSION, NULL, NULL, &s->s);
    if (rv != CKR_OK) {
        free(s);
        return hsm_status_from_ckr(rv);
    }
    s->h = h;
    s->f = h->f;
    s->crypto.cls = &hsm_lw_class;
    s->crypto.ctx = s;
    pthread_mutex_lock(&h->lock);
    h->sessions++;
    pthread_mutex_unlock(&h->lock);
    *out = s;
    return HSM_OK;
}

void hsm_session_close(hsm_session *s)
{
    if (s == NULL)
        return;
    s->f->C_CloseSession(s->s);
    pthread_mutex_lock(&s->h->lock);
    s->h->sessions--;
    pthread_mutex_unlock(&s->h->lock);
    memset(s, 0, sizeof(*s));
    free(s);
}

const lw_crypto *hsm_session_crypto(hsm_session *s)
{
    return s != NULL ? &s->crypto : NULL;
}

hsm_status hsm_session_last_error(const hsm_session *s, hsm_diag *out)
{
    if (s == NULL)
        return HSM_ERR_ARGUMENT;
    if (out != NULL)
        *out = s->last;
    return s->last_status;
}

hsm_status hsm_process_harden(void)
{
    struct rlimit none = {0, 0};
    if (setrlimit(RLIMIT_CORE, &none) != 0 || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
        return HSM_ERR_IO;
    return HSM_OK;
}

hsm_status hsm_config_for_dir(const char *dir, const char *label, hsm_dir_config *out)
{
    if (dir == NULL || label == NULL || out == NULL || strlen(label) > HSM_LABEL_MAX)
        return HSM_ERR_ARGUMENT;
    memset(out, 0, sizeof(*out));
    int a = snprintf(out->conf_path, sizeof(out->conf_path), "%s/softhsm2.conf", dir);
    int b = snprintf(out->pin_path, sizeof(out->pin_path), "%s/user.pin", dir);
    if (a < 0 || b < 0 || (size_t)a >= sizeof(out->conf_path) || (size_t)b >= sizeof(out->pin_path))
        return HSM_ERR_ARGUMENT;
    snprintf(out->label, sizeof(out->label), "%s", label);
    out->cfg.module = HSM_DEFAULT_MODULE;
    out->cfg.softhsm_conf = out->conf_path;
    out->cfg.token_label = out->label;
    out->cfg.pin_file = out->pin_path;
    out->cfg.master_label = HSM_MASTER_LABEL;
    return HSM_OK;
}

/*
 * hsm_token.c - setting up a SoftHSM2 token for a deployment directory.
 *
 * Layout made here (docs/hsm.md):
 *     DIR/              0700 (made if missing)
 *     DIR/softhsm2.conf 0600  tokendir = DIR/tokens, file object store
 *     DIR/tokens/       0700  SoftHSM2's token files (objects encrypted
 *                             under a key derived from the PINs)
 *     DIR/so.pin        0600  security-officer PIN, 128 random bits as hex
 *     DIR/user.pin      0600  user PIN, likewise; what hsm_open() reads
 *
 * The token is initialised through PKCS#11 itself: SoftHSM2 always offers
 * one slot with an uninitialised token, and C_InitToken on it works; so no
 * softhsm2-util is run and no PIN ever appears on a command line (where
 * /proc/PID/cmdline would show it to every local user).
 *
 * The storage master key is generated inside the token and can never leave
 * it: CKA_EXTRACTABLE false, CKA_SENSITIVE true, CKA_MODIFIABLE false (so
 * those cannot be flipped later), and it can only wrap and unwrap - no
 * encrypt or decrypt, so a blob cannot be decrypted with it through
 * C_Decrypt (the usual PKCS#11 wrap-then-decrypt key-extraction attack).
 */
#include "hsm/hsm_internal.h"
#include "lorawan/lw_secure.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define PIN_BYTES 16                 /* 128 bits, 32 hex digits */
#define PIN_HEX (2 * PIN_BYTES + 1)

typedef struct paths {
    char conf[PATH_MAX];
    char tokens[PATH_MAX];
    char so_pin[PATH_MAX];
    char user_pin[PATH_MAX];
} paths;

static int join(char *out, const char *dir, const char *name)
{
    int n = snprintf(out, PATH_MAX, "%s/%s", dir, name);
    return n >= 0 && n < PATH_MAX;
}

/* Writes text to a new file (never replaces one), mode 0600 whatever the
 * umask, flushed to disk. */
static hsm_status write_new_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return errno == EEXIST ? HSM_ERR_EXISTS : HSM_ERR_IO;
    hsm_status st = HSM_OK;
    size_t len = strlen(text), off = 0;
    if (fchmod(fd, 0600) != 0)
        st = HSM_ERR_IO;
    while (st == HSM_OK && off < len) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            st = HSM_ERR_IO;
        else
            off += (size_t)w;
    }
    if (st == HSM_OK && fsync(fd) != 0)
        st = HSM_ERR_IO;
    close(fd);
    if (st != HSM_OK)
        unlink(path);
    return st;
}

static hsm_status new_pin(char pin[PIN_HEX])
{
    uint8_t raw[PIN_BYTES];
    size_t got = 0;
    while (got < sizeof(raw)) {
        ssize_t r = getrandom(raw + got, sizeof(raw) - got, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            LW_WIPE(raw);
            return HSM_ERR_RANDOM;
        }
        got += (size_t)r;
    }
    lw_status st = lw_hex_encode(raw, sizeof(raw), pin, PIN_HEX);
    LW_WIPE(raw);
    return st == LW_OK ? HSM_OK : HSM_ERR_BUFFER;
}

static hsm_status write_pin_file(const char *path, const char pin[PIN_HEX])
{
    char line[PIN_HEX + 1];
    snprintf(line, sizeof(line), "%s\n", pin);
    hsm_status st = write_new_file(path, line);
    LW_WIPE(line);
    return st;
}

static hsm_status find_empty_slot(CK_FUNCTION_LIST_PTR f, CK_SLOT_ID *slot, hsm_diag *d)
{
    CK_SLOT_ID slots[64];
    CK_ULONG n = 64;
    CK_RV rv = f->C_GetSlotList(CK_TRUE, slots, &n);
    if (rv != CKR_OK)
        return hsm_fail(d, "C_GetSlotList", rv);
    for (CK_ULONG i = 0; i < n; i++) {
        CK_TOKEN_INFO info;
        if (f->C_GetTokenInfo(slots[i], &info) == CKR_OK && !(info.flags & CKF_TOKEN_INITIALIZED)) {
            *slot = slots[i];
            return HSM_OK;
        }
    }
    return HSM_ERR_TOKEN_NOT_FOUND;
}

static hsm_status generate_master(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s, hsm_diag *d)
{
    static const CK_OBJECT_CLASS secret = CKO_SECRET_KEY;
    static const CK_KEY_TYPE aes = CKK_AES;
    static const CK_ULONG len = 32;
    static const CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    static const char label[] = HSM_MASTER_LABEL;
#define B(attr, v) {attr, (CK_VOID_PTR)&(v), sizeof(CK_BBOOL)}
    CK_ATTRIBUTE t[] = {
        {CKA_CLASS, (CK_VOID_PTR)&secret, sizeof(secret)},
        {CKA_KEY_TYPE, (CK_VOID_PTR)&aes, sizeof(aes)},
        {CKA_VALUE_LEN, (CK_VOID_PTR)&len, sizeof(len)},
        {CKA_LABEL, (CK_VOID_PTR)label, sizeof(label) - 1},
        B(CKA_TOKEN, yes),
        B(CKA_PRIVATE, yes),
        B(CKA_SENSITIVE, yes),
        B(CKA_EXTRACTABLE, no),
        B(CKA_MODIFIABLE, no),
        B(CKA_WRAP, yes),
        B(CKA_UNWRAP, yes),
        B(CKA_ENCRYPT, no),
        B(CKA_DECRYPT, no),
        B(CKA_SIGN, no),
        B(CKA_VERIFY, no),
        B(CKA_DERIVE, no),
    };
#undef B
    CK_MECHANISM mech = {CKM_AES_KEY_GEN, NULL, 0};
    CK_OBJECT_HANDLE key = CK_INVALID_HANDLE;
    CK_RV rv = f->C_GenerateKey(s, &mech, t, sizeof(t) / sizeof(t[0]), &key);
    return rv == CKR_OK ? HSM_OK : hsm_fail(d, "C_GenerateKey", rv);
}

/* Initialises the token, sets the user PIN and makes the master key. */
static hsm_status init_token(CK_FUNCTION_LIST_PTR f, const char *label, const char *so_pin,
                             const char *user_pin, hsm_diag *d)
{
    CK_SLOT_ID slot = 0;
    if (hsm_find_token(f, label, &slot, NULL) == HSM_OK)
        return HSM_ERR_EXISTS;
    hsm_status st = find_empty_slot(f, &slot, d);
    if (st != HSM_OK)
        return st;
    CK_UTF8CHAR padded[32];
    hsm_pad_label(padded, label);
    CK_RV rv = f->C_InitToken(slot, (CK_UTF8CHAR_PTR)so_pin, strlen(so_pin), padded);
    if (rv != CKR_OK)
        return hsm_fail(d, "C_InitToken", rv);
    /* SoftHSM2 may renumber the slot of a token it has just initialised. */
    st = hsm_find_token(f, label, &slot, d);
    if (st != HSM_OK)
        return st;

    CK_SESSION_HANDLE s;
    rv = f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s);
    if (rv != CKR_OK)
        return hsm_fail(d, "C_OpenSession", rv);
    const char *call = "C_Login";
    rv = f->C_Login(s, CKU_SO, (CK_UTF8CHAR_PTR)so_pin, strlen(so_pin));
    if (rv == CKR_OK) {
        call = "C_InitPIN";
        rv = f->C_InitPIN(s, (CK_UTF8CHAR_PTR)user_pin, strlen(user_pin));
        f->C_Logout(s);
    }
    if (rv == CKR_OK) {
        call = "C_Login";
        rv = f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)user_pin, strlen(user_pin));
    }
    st = rv == CKR_OK ? generate_master(f, s, d) : hsm_fail(d, call, rv);
    if (rv == CKR_OK)
        f->C_Logout(s);
    f->C_CloseSession(s);
    return st;
}

hsm_status hsm_token_create(const char *dir, const char *label, const char *module, hsm_diag *diag)
{
    if (dir == NULL || label == NULL || label[0] == '\0' || strlen(label) > HSM_LABEL_MAX)
        return HSM_ERR_ARGUMENT;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return HSM_ERR_IO;
    /* softhsm2.conf must name the token directory absolutely: SoftHSM2
     * resolves it against whatever the working directory is at C_Initialize. */
    char abs[PATH_MAX];
    if (realpath(dir, abs) == NULL)
        return HSM_ERR_IO;
    paths p;
    if (!join(p.conf, abs, "softhsm2.conf") || !join(p.tokens, abs, "tokens") ||
        !join(p.so_pin, abs, "so.pin") || !join(p.user_pin, abs, "user.pin"))
        return HSM_ERR_ARGUMENT;
    struct stat sb;
    if (lstat(p.conf, &sb) == 0 || lstat(p.so_pin, &sb) == 0 || lstat(p.user_pin, &sb) == 0)
        return HSM_ERR_EXISTS;
    if (mkdir(p.tokens, 0700) != 0 && errno != EEXIST)
        return HSM_ERR_IO;

    char conf[2 * PATH_MAX];
    snprintf(conf, sizeof(conf),
             "# SoftHSM2 configuration of a ferry deployment (made by hsm_token_create).\n"
             "directories.tokendir = %s\n"
             "objectstore.backend = file\n"
             "log.level = ERROR\n"
             "slots.removable = false\n",
             p.tokens);
    char so_pin[PIN_HEX], user_pin[PIN_HEX];
    hsm_status st = write_new_file(p.conf, conf);
    int wrote_conf = st == HSM_OK, wrote_so = 0, wrote_user = 0;
    if (st == HSM_OK)
        st = new_pin(so_pin);
    if (st == HSM_OK)
        st = new_pin(user_pin);
    if (st == HSM_OK && (st = write_pin_file(p.so_pin, so_pin)) == HSM_OK)
        wrote_so = 1;
    if (st == HSM_OK && (st = write_pin_file(p.user_pin, user_pin)) == HSM_OK)
        wrote_user = 1;

    hsm_module *mod = NULL;
    CK_FUNCTION_LIST_PTR f = NULL;
    /* C_InitToken and C_Login write token.object: take turns with any
     * process opening this token directory (hsm_lock.c). */
    hsm_open_lock lock = {-1};
    if (st == HSM_OK)
        st = hsm_open_lock_take(p.conf, 0, &lock);
    if (st == HSM_OK)
        st = hsm_module_acquire(module != NULL ? module : HSM_DEFAULT_MODULE, p.conf, &mod, &f, diag);
    if (st == HSM_OK) {
        st = init_token(f, label, so_pin, user_pin, diag);
        hsm_module_release(mod);
    }
    hsm_open_lock_release(&lock);
    LW_WIPE(so_pin);
    LW_WIPE(user_pin);
    if (st != HSM_OK) {
        /* Leave no PIN files that open nothing; a half-initialised token
         * under tokens/ may remain (docs/hsm.md: remove DIR and retry). */
        if (wrote_user)
            unlink(p.user_pin);
        if (wrote_so)
            unlink(p.so_pin);
        if (wrote_conf)
            unlink(p.conf);
    }
    return st;
}

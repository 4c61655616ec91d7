/*
 * idm_hsa.c - the high-security area's personalisation run (docs/hsa.md).
 *
 * The HSA is its own security domain, so it has its own token: a SoftHSM2
 * deployment in OUT/hsa (hsm_token_create), never the IDM's. Per SE:
 *
 *   1. the chip maker (emulated): a fresh random transport key, se_manufacture
 *      of a blank image holding it. THIS IS THE ONE PLACE a transport key is
 *      in process memory: a real chip maker injects it in its own HSA and
 *      hands it over wrapped; here the same process plays both parts. The
 *      bytes enter the HSA token (hsm_import_clear, which wipes them) and are
 *      used from then on only as a KEK-role object;
 *   2. NwkKey, AppKey and the MLS root key generated inside the token;
 *   3. each wrapped under the chip's transport key and given to the chip
 *      through se_personalise (the PERSONALISE APDU's wrapped import);
 *   4. each wrapped under the HSA-IDM transport KEK into the batch line;
 *   5. every object destroyed, the chip emulator's RAM wiped.
 *
 * The batch is written to batch.jsonl.tmp and renamed when complete, so the
 * IDM never sees half a batch; one line at a time through stdio, so memory
 * does not grow with the count.
 */
#include "idm/idm.h"
#include "lorawan/lw_secure.h"
#include "se/se.h"
#include "sehost/se_nvm_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

static void errf(char err[IDM_ERR_MAX], const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void errf(char err[IDM_ERR_MAX], const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, IDM_ERR_MAX, fmt, ap);
    va_end(ap);
}

static idm_status random_bytes(uint8_t *out, size_t len)
{
    size_t at = 0;
    while (at < len) {
        ssize_t n = getrandom(out + at, len - at, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return IDM_ERR_RANDOM;
        at += (size_t)n;
    }
    return IDM_OK;
}

/* key[16] into the token as a KEK-role session object; key[] is wiped.
 * blob_out (may be NULL) keeps its master-key blob, to unwrap it again. */
static idm_status import_as_kek(hsm_session *s, uint8_t key[16], lw_key *out, uint8_t blob_out[HSM_BLOB_MAX],
                                size_t *blob_len_out)
{
    uint8_t blob[HSM_BLOB_MAX];
    size_t blob_len = 0;
    hsm_status hs = hsm_import_clear(s, key, 16, blob, sizeof blob, &blob_len); /* wipes key[] */
    if (hs == HSM_OK)
        hs = hsm_key_unwrap_blob(s, HSM_KEY_KEK, blob, blob_len, out);
    if (hs == HSM_OK && blob_out != NULL) {
        memcpy(blob_out, blob, blob_len);
        *blob_len_out = blob_len;
    }
    lw_secure_wipe(blob, sizeof blob);
    return hs == HSM_OK ? IDM_OK : IDM_ERR_HSM;
}

typedef struct hsa_run {
    const idm_hsa_opts *o;
    hsm_dir_config dc;            /* to reopen the token (recycle) */
    hsm *h;
    hsm_session *sess;
    const lw_crypto *c;
    lw_key idm_kek;               /* HSA-IDM transport KEK, KEK role */
    uint8_t idm_kek_blob[HSM_BLOB_MAX]; /* the same under the HSA master key */
    size_t idm_kek_blob_len;
    uint8_t se_mac;
    char line[1024];
} hsa_run;

static void close_token(hsa_run *r)
{
    if (r->sess != NULL)
        hsm_key_release(r->sess, &r->idm_kek);
    hsm_session_close(r->sess);
    hsm_close(r->h);
    r->sess = NULL;
    r->h = NULL;
}

/* Opens the HSA token, a session, and the HSA-IDM KEK from its blob. */
static idm_status open_token(hsa_run *r, char err[IDM_ERR_MAX])
{
    hsm_diag diag = {0};
    char line[200];
    hsm_status hs = hsm_open(&r->dc.cfg, &r->h, &diag);
    if (hs == HSM_OK)
        hs = hsm_session_open(r->h, &r->sess);
    if (hs == HSM_OK && r->idm_kek_blob_len > 0)
        hs = hsm_key_unwrap_blob(r->sess, HSM_KEY_KEK, r->idm_kek_blob, r->idm_kek_blob_len, &r->idm_kek);
    if (hs != HSM_OK) {
        errf(err, "HSA token: %s", hsm_diag_format(hs, &diag, line, sizeof line));
        close_token(r);
        return IDM_ERR_HSM;
    }
    r->c = hsm_session_crypto(r->sess);
    return IDM_OK;
}

/* One SE: chip maker, keys, personalisation, batch line. */
static idm_status personalise_one(hsa_run *r, uint64_t index, FILE *batch, char err[IDM_ERR_MAX])
{
    const idm_hsa_opts *o = r->o;
    idm_batch_line l;
    memset(&l, 0, sizeof l);
    l.dev_eui = o->dev_eui_base + index;
    l.join_eui = o->join_eui;
    l.mls_msg_max = o->mls_msg_max;
    l.serial = o->serial_base + index;
    l.mac_version = o->mac_version;
    l.profile_id = o->profile_id;

    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/se-%016llX.img", o->out_dir, (unsigned long long)l.dev_eui) >=
        sizeof path) {
        errf(err, "%s: path too long", o->out_dir);
        return IDM_ERR_ARGUMENT;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        errf(err, "%s: %s", path, errno == EEXIST ? "exists already (refusing to overwrite a chip)" : strerror(errno));
        return errno == EEXIST ? IDM_ERR_EXISTS : IDM_ERR_IO;
    }
    close(fd);

    se chip;
    se_nvm nvm;
    se_nvm_ram flash;   /* the chip's flash, written to `path` at once when personalised */
    memset(&flash, 0, sizeof flash);
    lw_key transport = {0}, nwk = {0}, app = {0}, mls = {0};
    uint8_t tk[16];
    idm_status st = random_bytes(tk, sizeof tk);
    se_status ss = SE_OK;
    if (st == IDM_OK && (ss = se_nvm_ram_format(&flash, &se_nvm_ram_default_geometry)) == SE_OK &&
        (ss = se_nvm_ram_bind(&flash, &nvm)) == SE_OK)
        ss = se_manufacture(&chip, &nvm, lw_crypto_software(), tk);
    if (st == IDM_OK && ss != SE_OK) {
        errf(err, "%s: manufacture: %s", path, se_strerror(ss));
        st = IDM_ERR_SE;
    }
    if (st == IDM_OK)
        st = import_as_kek(r->sess, tk, &transport, NULL, NULL);
    lw_secure_wipe(tk, sizeof tk); /* the chip maker's copy: gone */
    if (st == IDM_OK && (hsm_key_generate(r->sess, HSM_KEY_WORKING, &nwk) != HSM_OK ||
                         hsm_key_generate(r->sess, HSM_KEY_WORKING, &app) != HSM_OK ||
                         hsm_key_generate(r->sess, HSM_KEY_WORKING, &mls) != HSM_OK))
        st = IDM_ERR_HSM;

    se_personalisation p;
    memset(&p, 0, sizeof p);
    p.dev_eui = l.dev_eui;
    p.serial = l.serial;
    p.join_eui = l.join_eui;
    p.mac_version = r->se_mac;
    if (st == IDM_OK && (lw_key_wrap(r->c, &transport, &nwk, p.nwk_key_wrapped, SE_WRAPPED_KEY_LEN) != LW_OK ||
                         lw_key_wrap(r->c, &transport, &app, p.app_key_wrapped, SE_WRAPPED_KEY_LEN) != LW_OK ||
                         lw_key_wrap(r->c, &transport, &mls, p.mls_key_wrapped, SE_WRAPPED_KEY_LEN) != LW_OK))
        st = IDM_ERR_HSM;
    if (st == IDM_OK && (ss = se_personalise(&chip, &p)) != SE_OK) {
        errf(err, "%s: personalise: %s", path, se_strerror(ss));
        st = IDM_ERR_SE;
    }
    if (st == IDM_OK && (lw_key_wrap(r->c, &r->idm_kek, &nwk, l.nwk_key.wrapped, HSM_BLOB_LEN) != LW_OK ||
                         lw_key_wrap(r->c, &r->idm_kek, &app, l.app_key.wrapped, HSM_BLOB_LEN) != LW_OK ||
                         lw_key_wrap(r->c, &r->idm_kek, &mls, l.mls_key.wrapped, HSM_BLOB_LEN) != LW_OK))
        st = IDM_ERR_HSM;
    if (st == IDM_ERR_HSM && err[0] == '\0') {
        hsm_diag diag;
        char line[200];
        hsm_status hs = hsm_session_last_error(r->sess, &diag);
        errf(err, "SE %016llX: key service: %s", (unsigned long long)l.dev_eui,
             hsm_diag_format(hs, &diag, line, sizeof line));
    }
    hsm_key_release(r->sess, &transport);
    hsm_key_release(r->sess, &nwk);
    hsm_key_release(r->sess, &app);
    hsm_key_release(r->sess, &mls);
    lw_secure_wipe(&p, sizeof p);
    if (st == IDM_OK && se_nvm_file_save(path, &flash) != SE_OK) {
        errf(err, "%s: %s", path, strerror(errno));
        st = IDM_ERR_IO;
    }
    lw_secure_wipe(&flash, sizeof flash);
    lw_secure_wipe(&chip, sizeof chip); /* the emulated chip's RAM */

    if (st == IDM_OK)
        st = random_bytes(l.owner_token, sizeof l.owner_token);
    if (st == IDM_OK) {
        memcpy(l.nwk_key.kek_label, o->kek_label, strlen(o->kek_label) + 1);
        memcpy(l.app_key.kek_label, o->kek_label, strlen(o->kek_label) + 1);
        memcpy(l.mls_key.kek_label, o->kek_label, strlen(o->kek_label) + 1);
        size_t len = 0;
        st = idm_batch_line_format(&l, r->line, sizeof r->line, &len);
        if (st == IDM_OK && fwrite(r->line, 1, len, batch) != len) {
            errf(err, "batch: %s", strerror(errno));
            st = IDM_ERR_IO;
        }
        lw_secure_wipe(r->line, sizeof r->line);
    }
    lw_secure_wipe(&l, sizeof l);
    if (st != IDM_OK)
        unlink(path); /* a chip that is not in the batch must not be shipped */
    return st;
}

/* Makes OUT/hsa on first use; fills r->dc. */
static idm_status make_hsa_token(const char *out_dir, hsa_run *r, bool *created, char err[IDM_ERR_MAX])
{
    char dir[4096], conf[4200];
    snprintf(dir, sizeof dir, "%s/%s", out_dir, IDM_HSA_DIR);
    snprintf(conf, sizeof conf, "%s/softhsm2.conf", dir);
    hsm_diag diag = {0};
    char line[200];
    struct stat sb;
    *created = false;
    if (stat(conf, &sb) != 0) {
        hsm_status hs = hsm_token_create(dir, IDM_HSA_TOKEN_LABEL, NULL, &diag);
        if (hs != HSM_OK) {
            errf(err, "HSA token set-up in %s: %s", dir, hsm_diag_format(hs, &diag, line, sizeof line));
            return IDM_ERR_HSM;
        }
        *created = true;
    }
    if (hsm_config_for_dir(dir, IDM_HSA_TOKEN_LABEL, &r->dc) != HSM_OK) {
        errf(err, "%s: path too long", dir);
        return IDM_ERR_ARGUMENT;
    }
    return IDM_OK;
}

/* A KEKLabel that goes into JSON as it is: printable, no space, quote or backslash. */
static bool label_ok(const char *label)
{
    size_t n = strlen(label);
    if (n == 0 || n > STORE_LABEL_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (label[i] <= 0x20 || label[i] > 0x7e || label[i] == '"' || label[i] == '\\')
            return false;
    return true;
}

idm_status idm_hsa_personalise(const idm_hsa_opts *o, uint8_t hsa_idm_kek[16], idm_hsa_result *out,
                               char err[IDM_ERR_MAX])
{
    err[0] = '\0';
    idm_status st = IDM_OK;
    uint8_t se_mac = 0;
    if (o == NULL || out == NULL || o->out_dir == NULL || o->kek_label == NULL || o->count == 0 ||
        o->dev_eui_base + (o->count - 1) < o->dev_eui_base || idm_mac_version_se_code(o->mac_version, &se_mac) != IDM_OK ||
        !label_ok(o->kek_label)) {
        errf(err, "invalid options (count >= 1, DevEUIs must not wrap, MAC version 1.0.2..1.1, KEK label 1..%d "
                  "printable characters without space, quote or backslash)", STORE_LABEL_MAX);
        lw_secure_wipe(hsa_idm_kek, 16);
        return IDM_ERR_ARGUMENT;
    }
    memset(out, 0, sizeof *out);
    char tmp[4200];
    snprintf(out->batch_path, sizeof out->batch_path, "%s/%s", o->out_dir, IDM_BATCH_FILE);
    snprintf(tmp, sizeof tmp, "%s.tmp", out->batch_path);
    struct stat sb;
    if (mkdir(o->out_dir, 0700) != 0 && errno != EEXIST) {
        errf(err, "%s: %s", o->out_dir, strerror(errno));
        st = IDM_ERR_IO;
    } else if (stat(out->batch_path, &sb) == 0) {
        errf(err, "%s exists already: one batch per output directory", out->batch_path);
        st = IDM_ERR_EXISTS;
    }
    int fd = -1;
    if (st == IDM_OK && (fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0) {
        errf(err, "%s: %s", tmp, errno == EEXIST ? "exists (an interrupted run? remove it and its images)" : strerror(errno));
        st = errno == EEXIST ? IDM_ERR_EXISTS : IDM_ERR_IO;
    }
    FILE *batch = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (fd >= 0 && batch == NULL) {
        close(fd);
        st = IDM_ERR_IO;
    }

    hsa_run *r = calloc(1, sizeof *r);
    if (st == IDM_OK && r == NULL)
        st = IDM_ERR_NOMEM;
    if (st == IDM_OK) {
        r->o = o;
        r->se_mac = se_mac;
        st = make_hsa_token(o->out_dir, r, &out->token_created, err);
    }
    if (st == IDM_OK)
        st = open_token(r, err);
    if (st == IDM_OK) {
        st = import_as_kek(r->sess, hsa_idm_kek, &r->idm_kek, r->idm_kek_blob, &r->idm_kek_blob_len);
        if (st != IDM_OK)
            errf(err, "HSA-IDM KEK: the HSA token refused it");
    }
    lw_secure_wipe(hsa_idm_kek, 16);
    for (uint64_t i = 0; st == IDM_OK && i < o->count; i++) {
        /* SoftHSM2 frees destroyed objects only at C_Finalize (idm_token) */
        if (i > 0 && i % IDM_RECYCLE_EVERY == 0) {
            close_token(r);
            st = open_token(r, err);
            if (st != IDM_OK)
                break;
        }
        st = personalise_one(r, i, batch, err);
        if (st == IDM_OK)
            out->personalised++;
    }
    if (r != NULL) {
        close_token(r);
        lw_secure_wipe(r, sizeof *r);
    }
    free(r);
    if (batch != NULL) {
        if (st == IDM_OK && (fflush(batch) != 0 || fsync(fileno(batch)) != 0)) {
            errf(err, "%s: %s", tmp, strerror(errno));
            st = IDM_ERR_IO;
        }
        if (fclose(batch) != 0 && st == IDM_OK)
            st = IDM_ERR_IO;
        if (st == IDM_OK && rename(tmp, out->batch_path) != 0) {
            errf(err, "%s: %s", out->batch_path, strerror(errno));
            st = IDM_ERR_IO;
        }
        if (st != IDM_OK)
            unlink(tmp);
    }
    if (st != IDM_OK && err[0] == '\0')
        errf(err, "%s", idm_strerror(st));
    return st;
}

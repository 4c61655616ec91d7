/*
 * idm_core.c - idm_open/idm_close (idm_core.h).
 *
 * The order of opening is the order of what can go wrong cheaply: the
 * deployment's files first (a wrong -d is the commonest mistake, and it
 * should not cost a token login), the database, then the token. Closing
 * is the reverse, and every path out of idm_open goes through idm_close,
 * so a half-opened core is torn down by the same code as a whole one.
 */
#include "idm/idm_core.h"
#include "idm/idm_log.h"
#include "js/js.h"
#include "lorawan/lw_secure.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct idm_core {
    js_config js;                 /* ferry.conf: hc and the database name point into it */
    hsm_config hc;
    idm_token tok;                /* tok.cfg = &hc: an import may reopen the token */
    store *db;
    idm_config cfg;               /* idm.conf */
    idm_clock_fn now_fn;
    void *now_arg;
    FILE *log;                    /* NULL = stderr */
    void (*free_fn)(void *p, size_t n);
};

static int64_t wall_clock(void *arg)
{
    (void)arg;
    return (int64_t)time(NULL);
}

static void plain_free(void *p, size_t n)
{
    (void)n;
    free(p);
}

void idm_close(idm_core **pc)
{
    if (pc == NULL || *pc == NULL)
        return;
    idm_core *c = *pc;
    hsm_session_close(c->tok.s);
    hsm_close(c->tok.h);
    store_close(c->db);
    void (*free_fn)(void *, size_t) = c->free_fn;
    lw_secure_wipe(c, sizeof *c);
    free_fn(c, sizeof *c);
    *pc = NULL;
}

/* The token's failure as a sentence, and as the IDM's status: a token
 * another process keeps busy is worth trying again, the rest is not. */
static idm_status token_failed(hsm_status hs, const hsm_diag *diag, char err[IDM_ERR_MAX])
{
    char line[200];
    snprintf(err, IDM_ERR_MAX, "key service: %s%s", hsm_diag_format(hs, diag, line, sizeof line),
             hs == HSM_ERR_BUSY ? " (another ferry process is opening this token: try again)" : "");
    return hs == HSM_ERR_BUSY ? IDM_ERR_BUSY : IDM_ERR_HSM;
}

static idm_status open_token(idm_core *c, unsigned wait_ms, char err[IDM_ERR_MAX])
{
    c->hc = (hsm_config){
        .module = c->js.pkcs11_module[0] != '\0' ? c->js.pkcs11_module : NULL,
        .softhsm_conf = c->js.softhsm_conf[0] != '\0' ? c->js.softhsm_conf : NULL,
        .token_label = c->js.token_label,
        .pin_file = c->js.pin_file,
        .open_wait_ms = wait_ms,
    };
    c->tok.cfg = &c->hc;
    hsm_diag diag = {0};
    /* before the PIN is read: no core dump, no ptrace of this process */
    hsm_status hs = hsm_process_harden();
    if (hs == HSM_OK)
        hs = hsm_open(&c->hc, &c->tok.h, &diag);
    if (hs == HSM_OK)
        hs = hsm_session_open(c->tok.h, &c->tok.s);
    return hs == HSM_OK ? IDM_OK : token_failed(hs, &diag, err);
}

idm_status idm_open(const char *dir, const idm_open_opts *o, idm_core **out, char err[IDM_ERR_MAX])
{
    static const idm_open_opts none = {0};
    if (o == NULL)
        o = &none;
    err[0] = '\0';
    if (out == NULL || dir == NULL || (o->alloc_fn == NULL) != (o->free_fn == NULL)) {
        snprintf(err, IDM_ERR_MAX, "%s", idm_strerror(IDM_ERR_ARGUMENT));
        return IDM_ERR_ARGUMENT;
    }
    *out = NULL;
    idm_core *c = o->alloc_fn != NULL ? o->alloc_fn(sizeof *c) : malloc(sizeof *c);
    if (c == NULL) {
        snprintf(err, IDM_ERR_MAX, "%s", idm_strerror(IDM_ERR_NOMEM));
        return IDM_ERR_NOMEM;
    }
    memset(c, 0, sizeof *c);
    c->free_fn = o->free_fn != NULL ? o->free_fn : plain_free;
    c->now_fn = wall_clock;
    idm_status rc = IDM_OK;
    struct stat sb;
    char jerr[JS_ERR_MAX];
    int st = stat(dir, &sb);
    if (st != 0 || !S_ISDIR(sb.st_mode)) {
        const char *why = st == 0 || errno == ENOENT || errno == ENOTDIR ? "no such directory" : strerror(errno);
        snprintf(err, IDM_ERR_MAX, "%.120s: %.60s (the deployment made by `ferry init DIR`)", dir, why);
        rc = IDM_ERR_NOT_FOUND;
    } else if (js_config_load(dir, &c->js, jerr) != JS_OK) {
        /* no ferry.conf: not a deployment; one that does not parse: its line */
        char path[JS_PATH_MAX + 32];
        snprintf(path, sizeof path, "%s/%s", dir, JS_CONF_FILE);
        bool missing = access(path, F_OK) != 0;
        snprintf(err, IDM_ERR_MAX, "%s", jerr);
        rc = missing ? IDM_ERR_NOT_FOUND : IDM_ERR_INPUT;
    } else if ((rc = idm_config_load(c->js.dir, &c->cfg, err)) != IDM_OK) {
        rc = rc == IDM_ERR_IO ? IDM_ERR_IO : IDM_ERR_INPUT;
    } else {
        store_status ss = store_open(c->js.database, &c->db);
        if (ss != STORE_OK) {
            snprintf(err, IDM_ERR_MAX, "database %.160s: %s", c->js.database, store_strerror(ss));
            rc = IDM_ERR_STORE;
        }
    }
    if (rc == IDM_OK && o->with_token)
        rc = open_token(c, o->token_wait_ms, err);
    if (rc != IDM_OK) {
        idm_close(&c);
        return rc;
    }
    *out = c;
    return IDM_OK;
}

const char *idm_core_dir(const idm_core *c)
{
    return c->js.dir;
}

store *idm_core_store(idm_core *c)
{
    return c->db;
}

hsm_session *idm_core_session(idm_core *c)
{
    return c->tok.s;
}

idm_token *idm_core_token(idm_core *c)
{
    return c->tok.s != NULL ? &c->tok : NULL;
}

const js_config *idm_core_js_config(const idm_core *c)
{
    return &c->js;
}

const idm_config *idm_core_config(const idm_core *c)
{
    return &c->cfg;
}

const idm_policy *idm_core_policy(const idm_core *c)
{
    return &c->cfg.policy;
}

idm_status idm_core_check(idm_core *c, const idm_actor *a, idm_action act, uint64_t dev_eui, int64_t seq,
                          const char **reason)
{
    return idm_access_check(c->db, a, act, dev_eui, seq, reason);
}

void idm_core_set_clock(idm_core *c, idm_clock_fn now_fn, void *arg)
{
    c->now_fn = now_fn != NULL ? now_fn : wall_clock;
    c->now_arg = now_fn != NULL ? arg : NULL;
}

int64_t idm_core_now(const idm_core *c)
{
    return c->now_fn(c->now_arg);
}

void idm_core_set_log(idm_core *c, FILE *out)
{
    c->log = out;
}

void idm_core_logf(const idm_core *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    idm_log_vwrite(c->log != NULL ? c->log : stderr, idm_core_now(c), fmt, ap);
    va_end(ap);
}

/* The engine asks the core each time: a clock set later applies to it too. */
static int64_t engine_clock(void *arg)
{
    return idm_core_now(arg);
}

idm_status idm_core_engine_new(idm_core *c, idm_ota **out)
{
    if (c->tok.s == NULL)
        return IDM_ERR_ARGUMENT;
    idm_status st = idm_ota_new(c->tok.s, c->db, &c->cfg.policy, out);
    if (st == IDM_OK)
        idm_ota_set_clock(*out, engine_clock, c);
    return st;
}

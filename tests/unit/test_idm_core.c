/*
 * test_idm_core.c - idm_open/idm_close on a real deployment (idm_core.h).
 *
 *   - a deployment made as the CLI makes it (`ferry init DIR` is
 *     js_deploy_init, `ferry -d DIR idm init` is idm_config_init) opens with
 *     and without its token: store, session, idm.conf, authorization;
 *   - a wrong directory, a directory that is no deployment and a malformed
 *     idm.conf are refused with a sentence naming what is wrong;
 *   - a token another process keeps busy (its open lock held) is
 *     IDM_ERR_BUSY after the wait asked for; a token that refuses the PIN is
 *     IDM_ERR_HSM naming the PIN; nothing stays open after either;
 *   - idm_close wipes the context before it is freed (the free hook sees
 *     only zeros), releases the token (it opens again at once) and NULLs
 *     the pointer;
 *   - the clock is the core's: the log line carries it, and the delivery
 *     engine fails a command's deadline only when the core's clock passed it.
 * The token is SoftHSM2, the database SQLite, both real.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <jansson.h>
#include <mbedtls/sha256.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "idm/idm_core.h"
#include "idm_test_env.h"
#include "js/js.h"
#include "mls/mls_cmd.h"

#define DEV 0x70B3D57ED0060000ull

static char root[64];

/* A deployment in root/name made by the CLI's init path. */
static void make_deployment(const char *name, char dir[256])
{
    idm_test_deployment(root, name, dir);
}

static int group_setup(void **state)
{
    (void)state;
    return idm_test_root_make(root, "idmcore");
}

static int group_teardown(void **state)
{
    (void)state;
    return idm_test_root_remove(root);
}

static void opens_a_fresh_deployment(void **state)
{
    (void)state;
    char dir[256], err[IDM_ERR_MAX];
    make_deployment("fresh", dir);
    idm_core *c = NULL;
    idm_open_opts o = {.with_token = true};
    assert_int_equal(idm_open(dir, &o, &c, err), IDM_OK);
    assert_non_null(c);
    assert_non_null(idm_core_store(c));
    assert_non_null(idm_core_session(c));
    assert_non_null(idm_core_token(c));
    assert_true(idm_core_dir(c)[0] == '/');
    assert_true(idm_core_config(c)->has_ns_token);
    assert_string_equal(idm_core_config(c)->listen, "127.0.0.1:0");
    idm_policy def = IDM_POLICY_DEFAULT;
    assert_int_equal(idm_core_policy(c)->retry_base_s, def.retry_base_s);
    /* authorization on this IDM's store: an SE it holds, and one it does not */
    store_idm_se se;
    memset(&se, 0, sizeof se);
    se.dev_eui = DEV, se.join_eui = 0x70B3D57ED0000000ull, se.serial = 1, se.mac_version = STORE_MAC_1_0_4;
    se.mls_key.len = 24;
    se.state = IDM_STATE_MANUFACTURED;
    assert_int_equal(store_idm_se_put(idm_core_store(c), &se), STORE_OK);
    idm_actor op = {IDM_ACTOR_OPERATOR, ""}, cust = {IDM_ACTOR_CUSTOMER, "acme"};
    const char *why = NULL;
    assert_int_equal(idm_core_check(c, &op, IDM_ACT_READ, DEV, 0, &why), IDM_OK);
    assert_int_equal(idm_core_check(c, &cust, IDM_ACT_READ, DEV, 0, &why), IDM_ERR_NOT_FOUND);
    assert_int_equal(idm_core_check(c, &op, IDM_ACT_READ, DEV + 1, 0, &why), IDM_ERR_NOT_FOUND);
    idm_close(&c);
    assert_null(c);
    /* without the token: the database and the settings only */
    assert_int_equal(idm_open(dir, NULL, &c, err), IDM_OK);
    assert_null(idm_core_session(c));
    assert_null(idm_core_token(c));
    assert_int_equal(store_idm_se_get(idm_core_store(c), DEV, &se), STORE_OK);
    idm_ota *e = NULL;
    assert_int_equal(idm_core_engine_new(c, &e), IDM_ERR_ARGUMENT);
    idm_close(&c);
    idm_close(&c);     /* twice: a no-op */
    idm_close(NULL);
}

static void wrong_dir_is_named(void **state)
{
    (void)state;
    char dir[256], err[IDM_ERR_MAX];
    idm_core *c = (idm_core *)&c;   /* not NULL: idm_open must clear it */
    snprintf(dir, sizeof dir, "%s/nowhere", root);
    assert_int_equal(idm_open(dir, NULL, &c, err), IDM_ERR_NOT_FOUND);
    assert_null(c);
    assert_non_null(strstr(err, "no such directory"));
    assert_non_null(strstr(err, "nowhere"));
    /* a directory, but no deployment in it */
    assert_int_equal(idm_open(root, NULL, &c, err), IDM_ERR_NOT_FOUND);
    assert_non_null(strstr(err, "ferry.conf"));
    /* a deployment whose idm.conf does not load: the line is named */
    make_deployment("badconf", dir);
    char path[300];
    snprintf(path, sizeof path, "%s/idm.conf", dir);
    FILE *f = fopen(path, "a");
    assert_non_null(f);
    fputs("poll = often\n", f);
    fclose(f);
    assert_int_equal(idm_open(dir, NULL, &c, err), IDM_ERR_INPUT);
    assert_null(c);
    assert_non_null(strstr(err, "idm.conf line"));
}

static void busy_or_refusing_token(void **state)
{
    (void)state;
    char dir[256], err[IDM_ERR_MAX];
    make_deployment("busy", dir);
    /* another process opening the token holds its open lock (hsm_lock.c) */
    char lock[300];
    snprintf(lock, sizeof lock, "%s/tokens/ferry-open.lock", dir);
    int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    pid_t holder = fork();
    assert_true(holder >= 0);
    if (holder == 0) {
        /* a process of its own: flock is per open file, and this one is
         * inherited, so the child takes it on a file it opens itself */
        int cfd = open(lock, O_RDWR | O_CLOEXEC);
        if (cfd < 0 || flock(cfd, LOCK_EX) != 0)
            _exit(1);
        pause();
        _exit(0);
    }
    close(fd);
    /* until the child holds it */
    for (int i = 0; i < 500; i++) {
        int probe = open(lock, O_RDWR | O_CLOEXEC);
        bool held = probe >= 0 && flock(probe, LOCK_EX | LOCK_NB) != 0;
        if (probe >= 0)
            close(probe);
        if (held)
            break;
        usleep(10 * 1000);
    }
    idm_core *c = NULL;
    idm_open_opts o = {.with_token = true, .token_wait_ms = 200};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(idm_open(dir, &o, &c, err), IDM_ERR_BUSY);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_null(c);
    assert_non_null(strstr(err, "key service"));
    assert_non_null(strstr(err, "try again"));
    assert_true(t1.tv_sec - t0.tv_sec < 10);     /* the wait asked for, not the default 30 s */
    /* the database alone does not need the token */
    assert_int_equal(idm_open(dir, NULL, &c, err), IDM_OK);
    idm_close(&c);
    kill(holder, SIGTERM);
    waitpid(holder, NULL, 0);
    assert_int_equal(idm_open(dir, &o, &c, err), IDM_OK);
    idm_close(&c);
    /* a PIN the token refuses */
    make_deployment("pin", dir);
    char pin[300];
    snprintf(pin, sizeof pin, "%s/user.pin", dir);
    FILE *f = fopen(pin, "w");
    assert_non_null(f);
    fputs("0000wrong0000\n", f);
    fclose(f);
    assert_int_equal(idm_open(dir, &o, &c, err), IDM_ERR_HSM);
    assert_null(c);
    assert_non_null(strstr(err, "key service"));
    assert_non_null(strstr(err, "PIN"));
}

/* The free hook of the context: the block must be all zeros by then. */
static size_t freed_blocks, freed_dirty;

static void *test_alloc(size_t n)
{
    return malloc(n);
}

static void checking_free(void *p, size_t n)
{
    const unsigned char *b = p;
    unsigned char acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= b[i];
    freed_blocks++;
    freed_dirty += acc != 0;
    free(p);
}

static void close_wipes_and_releases(void **state)
{
    (void)state;
    char dir[256], err[IDM_ERR_MAX];
    make_deployment("wipe", dir);
    idm_core *c = NULL;
    idm_open_opts o = {.with_token = true, .alloc_fn = test_alloc, .free_fn = checking_free};
    assert_int_equal(idm_open(dir, &o, &c, err), IDM_OK);
    freed_blocks = freed_dirty = 0;
    idm_close(&c);
    assert_null(c);
    assert_int_equal(freed_blocks, 1);
    assert_int_equal(freed_dirty, 0);
    /* the token is free again at once: a 1 ms wait is enough */
    idm_open_opts quick = {.with_token = true, .token_wait_ms = 1, .alloc_fn = test_alloc, .free_fn = checking_free};
    assert_int_equal(idm_open(dir, &quick, &c, err), IDM_OK);
    idm_close(&c);
    /* a failed open frees what it took, wiped, too */
    freed_blocks = freed_dirty = 0;
    snprintf(dir, sizeof dir, "%s/nowhere", root);
    assert_int_equal(idm_open(dir, &quick, &c, err), IDM_ERR_NOT_FOUND);
    assert_int_equal(freed_blocks, 1);
    assert_int_equal(freed_dirty, 0);
    /* one hook without the other is a mistake */
    idm_open_opts half = {.free_fn = checking_free};
    assert_int_equal(idm_open(dir, &half, &c, err), IDM_ERR_ARGUMENT);
}

static int64_t fake_now;

static int64_t fake_clock(void *arg)
{
    return *(const int64_t *)arg;
}

static void clock_moves_log_and_engine(void **state)
{
    (void)state;
    char dir[256], err[IDM_ERR_MAX];
    make_deployment("clock", dir);
    idm_core *c = NULL;
    idm_open_opts o = {.with_token = true};
    assert_int_equal(idm_open(dir, &o, &c, err), IDM_OK);
    int64_t wall = (int64_t)time(NULL);
    assert_true(idm_core_now(c) >= wall && idm_core_now(c) <= wall + 5);
    fake_now = 1234567;
    idm_core_set_clock(c, fake_clock, &fake_now);
    assert_int_equal(idm_core_now(c), 1234567);
    /* the log: one JSON line with the core's time, whatever the message holds */
    FILE *log = tmpfile();
    assert_non_null(log);
    idm_core_set_log(c, log);
    idm_core_logf(c, "a \"quoted\"\nline %d", 7);
    rewind(log);
    char line[512];
    assert_non_null(fgets(line, sizeof line, log));
    assert_null(fgets(line + strlen(line), (int)(sizeof line - strlen(line)), log)); /* one line only */
    json_error_t je;
    json_t *j = json_loads(line, 0, &je);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "ts")), "1970-01-15T06:56:07.000Z"); /* 1234567 s */
    assert_string_equal(json_string_value(json_object_get(j, "msg")), "a \"quoted\"\nline 7");
    json_decref(j);
    idm_core_set_log(c, NULL);
    fclose(log);
    /* the engine: a command due in an hour fails only once the core's clock passed it */
    store *db = idm_core_store(c);
    store_idm_se se;
    memset(&se, 0, sizeof se);
    se.dev_eui = DEV, se.join_eui = 0x70B3D57ED0000000ull, se.serial = 1, se.mac_version = STORE_MAC_1_0_4;
    se.mls_key.len = 24;
    se.state = IDM_STATE_MANUFACTURED;
    assert_int_equal(store_idm_se_put(db, &se), STORE_OK);
    assert_int_equal(idm_se_event(db, DEV, IDM_EV_BOOTSTRAP_JOIN, "t", NULL, NULL, err), IDM_OK);
    assert_int_equal(idm_se_event(db, DEV, IDM_EV_PROFILE_QUEUED, "t", NULL, NULL, err), IDM_OK);
    store_idm_cmd *cmd = calloc(1, sizeof *cmd);
    assert_non_null(cmd);
    cmd->dev_eui = DEV, cmd->type = MLS_T_INSTALL, cmd->counter = 1, cmd->msg_len = 20, cmd->deadline = wall + 3600;
    assert_int_equal(store_idm_cmd_add(db, cmd), STORE_OK);
    free(cmd);
    idm_core_set_clock(c, NULL, NULL);            /* the wall clock again */
    idm_ota *e = NULL;
    assert_int_equal(idm_core_engine_new(c, &e), IDM_OK);
    assert_int_equal(idm_ota_tick(e, err), IDM_OK);
    uint64_t failed = 9;
    assert_int_equal(store_idm_cmd_count(db, DEV, STORE_IDM_CMD_FAILED, &failed), STORE_OK);
    assert_int_equal(failed, 0);
    fake_now = wall + 7200;                       /* two hours later, without sleeping */
    idm_core_set_clock(c, fake_clock, &fake_now); /* after the engine was made: it follows */
    assert_int_equal(idm_ota_tick(e, err), IDM_OK);
    assert_int_equal(store_idm_cmd_count(db, DEV, STORE_IDM_CMD_FAILED, &failed), STORE_OK);
    assert_int_equal(failed, 1);
    idm_ota_free(e);
    idm_close(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(opens_a_fresh_deployment),
        cmocka_unit_test(wrong_dir_is_named),
        cmocka_unit_test(busy_or_refusing_token),
        cmocka_unit_test(close_wipes_and_releases),
        cmocka_unit_test(clock_moves_log_and_engine),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

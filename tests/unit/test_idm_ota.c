/*
 * test_idm_ota.c - the delivery engine's uplink as one transaction
 * (src/idm/idm_ota.c, docs/idm.md "What is in the database, and why a
 * restart loses nothing"), and the store's nested transactions it rests on.
 *
 *   - a store_txn inside a store_txn is a savepoint: its failure undoes its
 *     own writes only, the enclosing one's failure undoes both;
 *   - an uplink that sends a fragment commits once on SQLite, and writes no
 *     lease row there (one instance; its transaction keeps every other
 *     writer out);
 *   - a process killed before any database call of an uplink (the first
 *     one, a fragment out; the next one, the SE's ack of it and the next
 *     fragment) leaves the database exactly as before the uplink (no frame
 *     left without its sent bit, no half of an ack); the same uplink sent
 *     again afterwards gives the same frame and the same database as an
 *     uplink never interrupted; sent once more (a replay, same FCnt) it gives
 *     no frame and changes nothing;
 *   - customer-join checks back off per SE (store_idm_join_check_due/later)
 *     and start again at once for a new delivery.
 * The token is SoftHSM2, the database SQLite, both real; the kill is a
 * child process's _exit at the chosen call of the store's driver.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "idm/idm_core.h"
#include "idm_test_env.h"
#include "js/js.h"
#include "lorawan/lw_cipher.h"
#include "mls/mls_cmd.h"
#include "mls/mls_frag.h"
#include "store/store_driver.h"

#define DEV 0x70B3D57ED0070000ull
#define DEV_ADDR 0x26011234u
#define NOW 1800000000

static char root[64];
static int64_t fake_now = NOW;

static int64_t fake_clock(void *arg)
{
    return *(const int64_t *)arg;
}

/* ---------------------------------------------------------------- a counting driver
 * The store's driver with every call counted; at call number kill_at the
 * process ends there (_exit, as a kill -9 would: no rollback, no commit). */
static store_driver counted;
static const store_driver *real;
static long calls, kill_at;

static void step(void)
{
    if (++calls == kill_at)
        _exit(0);
}

static store_status c_begin(store *s)
{
    step();
    return real->begin(s);
}

static store_status c_commit(store *s)
{
    step();
    return real->commit(s);
}

static store_status c_exec(store *s, const char *sql, const store_value *p, size_t n, store_row_fn row, void *ctx,
                           int64_t *changes)
{
    step();
    return real->exec(s, sql, p, n, row, ctx, changes);
}

static store_status c_script(store *s, const char *sql)
{
    step();
    return real->script(s, sql);
}

static long commits;

static store_status c_commit_counted(store *s)
{
    commits++;
    return c_commit(s);
}

static void count_calls(store *s, long kill)
{
    real = s->drv;
    counted = *real;
    counted.begin = c_begin;
    counted.commit = c_commit_counted;
    counted.exec = c_exec;
    counted.script = c_script;
    s->drv = &counted;
    calls = 0;
    commits = 0;
    kill_at = kill;
}

static void uncount(store *s)
{
    s->drv = real;
}

/* ---------------------------------------------------------------- fixture */

static int group_setup(void **state)
{
    (void)state;
    return idm_test_root_make(root, "idmota");
}

static int group_teardown(void **state)
{
    (void)state;
    return idm_test_root_remove(root);
}

static void make_deployment(const char *name, char dir[256])
{
    idm_test_deployment(root, name, dir);
}

static idm_core *open_idm(const char *dir)
{
    idm_core *c = NULL;
    char err[IDM_ERR_MAX];
    idm_open_opts o = {.with_token = true};
    if (idm_open(dir, &o, &c, err) != IDM_OK) {
        fprintf(stderr, "idm_open: %s\n", err);
        return NULL;
    }
    idm_core_set_clock(c, fake_clock, &fake_now);
    return c;
}

static uint8_t ask_blob[64];
static size_t ask_blob_len;

static store_status make_session(void *ctx, const store_join_grant *g, store_session *out)
{
    (void)ctx;
    memset(out, 0, sizeof *out);
    out->dev_eui = g->dev_eui;
    out->join_eui = g->join_eui;
    out->session_key_id_len = 4;
    memcpy(out->session_key_id, "\x01\x02\x03\x04", 4);
    out->dev_addr = DEV_ADDR;
    memcpy(out->app_s_key.data, ask_blob, ask_blob_len);
    out->app_s_key.len = ask_blob_len;
    return STORE_OK;
}

/* An SE mid-delivery: its bootstrap session (AppSKey a blob in the token)
 * and one queued command of 100 bytes (4 fragments of at most 40). */
static void seed(idm_core *c)
{
    store *db = idm_core_store(c);
    hsm_session *hs = idm_core_session(c);
    lw_key k = {0};
    assert_int_equal(hsm_key_generate(hs, HSM_KEY_WORKING, &k), HSM_OK);
    assert_int_equal(hsm_key_wrap_blob(hs, &k, ask_blob, sizeof ask_blob, &ask_blob_len), HSM_OK);
    hsm_key_release(hs, &k);
    store_device *d = calloc(1, sizeof *d);
    assert_non_null(d);
    d->dev_eui = DEV;
    d->join_eui = 0x70B3D57ED0000000ull;
    d->mac_version = STORE_MAC_1_0_4;
    memcpy(d->nwk_key.data, ask_blob, ask_blob_len);
    d->nwk_key.len = ask_blob_len;
    assert_int_equal(store_device_put(db, d, false), STORE_OK);
    free(d);
    store_join j = {.dev_eui = DEV, .join_eui = 0x70B3D57ED0000000ull, .dev_nonce = 1, .make_session = make_session};
    store_join_result jr;
    assert_int_equal(store_join_commit(db, &j, &jr), STORE_OK);
    store_idm_se se;
    memset(&se, 0, sizeof se);
    se.dev_eui = DEV, se.join_eui = 0x70B3D57ED0000000ull, se.serial = 1, se.mac_version = STORE_MAC_1_0_4;
    memcpy(se.mls_key.data, ask_blob, ask_blob_len);
    se.mls_key.len = ask_blob_len;
    se.state = IDM_STATE_PROFILE_PENDING;
    assert_int_equal(store_idm_se_put(db, &se), STORE_OK);
    store_idm_cmd *cmd = calloc(1, sizeof *cmd);
    assert_non_null(cmd);
    cmd->dev_eui = DEV, cmd->type = MLS_T_INSTALL, cmd->counter = 1, cmd->msg_len = 100;
    for (size_t i = 0; i < cmd->msg_len; i++)
        cmd->msg[i] = (uint8_t)(i * 13 + 5);
    cmd->state = STORE_IDM_CMD_QUEUED, cmd->deadline = NOW + 86400, cmd->result = -1;
    snprintf(cmd->origin, sizeof cmd->origin, "test");
    assert_int_equal(store_idm_cmd_add(db, cmd), STORE_OK);
    free(cmd);
}

/* ---------------------------------------------------------------- the database as text */

typedef struct dump {
    char text[8192];
    size_t len;
} dump;

static store_status dump_row(void *ctx, const store_value *c, size_t n)
{
    dump *d = ctx;
    for (size_t i = 0; i < n; i++) {
        int w = 0;
        size_t room = sizeof d->text - d->len;
        switch (c[i].type) {
        case STORE_V_INT:
            w = snprintf(d->text + d->len, room, "%lld|", (long long)c[i].i);
            break;
        case STORE_V_TEXT:
            w = snprintf(d->text + d->len, room, "%s|", c[i].text);
            break;
        case STORE_V_BLOB:
            for (size_t b = 0; b < c[i].len && (size_t)w + 3 < room; b++)
                w += snprintf(d->text + d->len + w, room - (size_t)w, "%02x", c[i].blob[b]);
            w += snprintf(d->text + d->len + w, room - (size_t)w, "|");
            break;
        default:
            w = snprintf(d->text + d->len, room, "NULL|");
            break;
        }
        if (w < 0 || (size_t)w >= room)
            return STORE_ERR_FULL;
        d->len += (size_t)w;
    }
    if (d->len + 2 >= sizeof d->text)
        return STORE_ERR_FULL;
    d->text[d->len++] = '\n';
    d->text[d->len] = '\0';
    return STORE_OK;
}

/* Everything an uplink may write: the SE's delivery state, its commands,
 * its state, the audit, leases. */
static void dump_db(store *db, dump *d)
{
    static const char *const q[] = {
        "SELECT dev_eui, epoch, tx_next, rx_last, next_msg_id, next_profile_id, last_fcnt_up, last_session, "
        "last_event_id FROM idm_ota ORDER BY dev_eui",
        "SELECT dev_eui, seq, state, msg_id, frame_max, acked, sent, rounds, last_sent_at, result FROM idm_cmd "
        "ORDER BY dev_eui, seq",
        "SELECT dev_eui, state FROM idm_se ORDER BY dev_eui",
        "SELECT count(*) FROM idm_audit",
        "SELECT count(*) FROM idm_lease",
    };
    memset(d, 0, sizeof *d);
    for (size_t i = 0; i < sizeof q / sizeof q[0]; i++)
        assert_int_equal(db->drv->exec(db, q[i], NULL, 0, dump_row, d, NULL), STORE_OK);
}

static void dump_dir(const char *dir, dump *d)
{
    idm_core *c = NULL;
    char err[IDM_ERR_MAX];
    assert_int_equal(idm_open(dir, NULL, &c, err), IDM_OK);
    dump_db(idm_core_store(c), d);
    idm_close(&c);
}

/* ---------------------------------------------------------------- uplinks */

typedef struct up {
    uint32_t fcnt;
    uint8_t fport;
    size_t len;
    uint8_t frm[64];  /* in clear; encrypted with the AppSKey when sent */
} up;

/* Sends *u through a fresh engine of core c; *dl the answer. */
static idm_status send_up(idm_core *c, const up *u, idm_downlink *dl)
{
    idm_uplink x;
    memset(&x, 0, sizeof x);
    x.dev_eui = DEV, x.dev_addr = DEV_ADDR, x.session_key_id_len = 4;
    memcpy(x.session_key_id, "\x01\x02\x03\x04", 4);
    x.fcnt = u->fcnt, x.fport = u->fport, x.frm_len = u->len, x.max_downlink = 40, x.next_af_cnt_down = u->fcnt;
    hsm_session *hs = idm_core_session(c);
    if (u->len > 0) {
        lw_key k = {0};
        if (hsm_key_unwrap_blob(hs, HSM_KEY_WORKING, ask_blob, ask_blob_len, &k) != HSM_OK ||
            lw_frm_payload_crypt(hsm_session_crypto(hs), &k, true, DEV_ADDR, u->fcnt, u->frm, u->len, x.frm) != LW_OK)
            return IDM_ERR_HSM;
        hsm_key_release(hs, &k);
    }
    idm_ota *e = NULL;
    char err[IDM_ERR_MAX];
    idm_status st = idm_core_engine_new(c, &e);
    if (st == IDM_OK)
        st = idm_ota_uplink(e, &x, dl, err);
    idm_ota_free(e);
    return st;
}

/* The SE's side of a downlink: decrypted, pushed to its reassembly, and
 * the ack it sends back on FPort 200 as the next uplink *ack. */
static void se_acks(idm_core *c, const idm_downlink *dl, up *ack)
{
    hsm_session *hs = idm_core_session(c);
    lw_key k = {0};
    uint8_t plain[242];
    assert_int_equal(hsm_key_unwrap_blob(hs, HSM_KEY_WORKING, ask_blob, ask_blob_len, &k), HSM_OK);
    assert_int_equal(lw_frm_payload_crypt(hsm_session_crypto(hs), &k, false, DEV_ADDR, dl->fcnt, dl->frm, dl->frm_len,
                                          plain),
                     LW_OK);
    hsm_key_release(hs, &k);
    mls_frag_rx *rx = calloc(1, sizeof *rx);
    assert_non_null(rx);
    mls_frag_rx_init(rx, 600);
    int complete = 0;
    assert_int_equal(mls_frag_rx_push(rx, plain, dl->frm_len, 1, &complete), MLS_OK);
    assert_int_equal(mls_frag_rx_ack(rx, sizeof ack->frm, ack->frm, &ack->len), MLS_OK);
    assert_true(ack->frm[0] & MLS_FRAG_ACK_BIT);
    free(rx);
}

/* Copies deployment `from`'s files over `to` (the database as it was);
 * the copy's ferry.conf names its own database (the token stays from's). */
static void copy_dir(const char *from, const char *to)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -a '%s' '%s' && sed -i 's#^database = sqlite:.*#database = sqlite:%s/ferry.db#' '%s/ferry.conf'",
             to, from, to, to, to);
    assert_int_equal(system(cmd), 0);
}

/* Runs uplink *u in a child process that dies at its store call number
 * `kill` (0: never). Returns how many store calls the uplink made. */
static long run_child(const char *dir, const up *u, long kill, bool *sent)
{
    int fd[2];
    assert_int_equal(pipe(fd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fd[0]);
        idm_core *c = open_idm(dir);
        if (c == NULL)
            _exit(2);
        store *db = idm_core_store(c);
        count_calls(db, kill);
        idm_downlink dl;
        idm_status st = send_up(c, u, &dl);
        uncount(db);
        long out[2] = {calls, st == IDM_OK && dl.present};
        if (write(fd[1], out, sizeof out) != (ssize_t)sizeof out)
            _exit(3);
        idm_close(&c);
        _exit(st == IDM_OK ? 0 : 4);
    }
    close(fd[1]);
    long got[2] = {-1, 0};
    ssize_t n = read(fd[0], got, sizeof got);
    close(fd[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    if (kill > 0 && n <= 0)
        return -1; /* killed where it was asked to */
    assert_int_equal(n, (ssize_t)sizeof got);
    assert_int_equal(WEXITSTATUS(status), 0);
    *sent = got[1] != 0;
    return got[0];
}

/* For uplink *u applied on deployment `base`: killed at each of its store
 * calls, the database is as before; the uplink then sent again is as an
 * uninterrupted one; sent once more, it is a replay: no frame, no change.
 * *dl_out the uninterrupted uplink's downlink. */
static void kill_everywhere(const char *base, const char *work, const up *u, idm_downlink *dl_out)
{
    dump before, after, d;
    dump_dir(base, &before);
    /* the uninterrupted run, counted */
    copy_dir(base, work);
    bool sent = false;
    long n = run_child(work, u, 0, &sent);
    assert_true(n > 0);
    assert_true(sent);
    dump_dir(work, &after);
    assert_string_not_equal(before.text, after.text);
    idm_core *c = open_idm(work);
    assert_non_null(c);
    idm_downlink ref;
    assert_int_equal(send_up(c, u, &ref), IDM_OK); /* the replay of it */
    assert_false(ref.present);
    dump_db(idm_core_store(c), &d);
    assert_string_equal(d.text, after.text);
    idm_close(&c);
    /* the reference frame: the same uplink on a fresh copy, in this process */
    copy_dir(base, work);
    c = open_idm(work);
    assert_non_null(c);
    assert_int_equal(send_up(c, u, &ref), IDM_OK);
    assert_true(ref.present);
    idm_close(&c);
    for (long k = 1; k <= n; k++) {
        copy_dir(base, work);
        assert_int_equal(run_child(work, u, k, &sent), -1);
        dump_dir(work, &d);
        if (strcmp(d.text, before.text) != 0)
            fail_msg("killed at store call %ld of %ld: the database changed\nbefore:\n%s\nafter:\n%s", k, n,
                     before.text, d.text);
        c = open_idm(work);
        assert_non_null(c);
        idm_downlink dl;
        assert_int_equal(send_up(c, u, &dl), IDM_OK);
        assert_true(dl.present);
        assert_int_equal(dl.frm_len, ref.frm_len);
        assert_memory_equal(dl.frm, ref.frm, ref.frm_len);
        dump_db(idm_core_store(c), &d);
        assert_string_equal(d.text, after.text);
        assert_int_equal(send_up(c, u, &dl), IDM_OK);
        assert_false(dl.present);
        dump_db(idm_core_store(c), &d);
        assert_string_equal(d.text, after.text);
        idm_close(&c);
    }
    *dl_out = ref;
}

/* ---------------------------------------------------------------- tests */

typedef struct two {
    int64_t first, second;
    bool inner_fails, outer_fails;
} two;

static store_status put_se(store *s, uint64_t dev)
{
    store_idm_se se;
    memset(&se, 0, sizeof se);
    se.dev_eui = dev, se.join_eui = 1, se.serial = dev, se.mac_version = STORE_MAC_1_0_4;
    se.mls_key.len = 24;
    se.state = IDM_STATE_MANUFACTURED;
    return store_idm_se_put(s, &se);
}

static store_status inner_fn(store *s, void *ctx)
{
    two *t = ctx;
    store_status st = put_se(s, (uint64_t)t->second);
    return st == STORE_OK && t->inner_fails ? STORE_ERR_ABORTED : st;
}

static store_status outer_fn(store *s, void *ctx)
{
    two *t = ctx;
    store_status st = put_se(s, (uint64_t)t->first);
    if (st != STORE_OK)
        return st;
    st = store_idm_txn(s, inner_fn, t);
    if (t->inner_fails && st != STORE_ERR_ABORTED)
        return STORE_ERR_CORRUPT; /* the inner status must come back as it was */
    return t->outer_fails ? STORE_ERR_ABORTED : STORE_OK;
}

static bool se_exists(store *s, uint64_t dev)
{
    store_idm_se se;
    return store_idm_se_get(s, dev, &se) == STORE_OK;
}

static void nested_transactions_are_savepoints(void **state)
{
    (void)state;
    char loc[128];
    snprintf(loc, sizeof loc, "sqlite:%s/nested.db", root);
    store *s = NULL;
    assert_int_equal(store_open(loc, &s), STORE_OK);
    two a = {1, 2, true, false};   /* the inner one fails: its row only is gone */
    assert_int_equal(store_idm_txn(s, outer_fn, &a), STORE_OK);
    assert_true(se_exists(s, 1));
    assert_false(se_exists(s, 2));
    two b = {3, 4, false, true};   /* the outer one fails: both gone */
    assert_int_equal(store_idm_txn(s, outer_fn, &b), STORE_ERR_ABORTED);
    assert_false(se_exists(s, 3));
    assert_false(se_exists(s, 4));
    two c = {5, 6, false, false};  /* both committed, at the outer commit */
    assert_int_equal(store_idm_txn(s, outer_fn, &c), STORE_OK);
    assert_true(se_exists(s, 5));
    assert_true(se_exists(s, 6));
    assert_int_equal(store_idm_txn(s, inner_fn, &(two){0, 7, false, false}), STORE_OK); /* alone: a transaction */
    assert_true(se_exists(s, 7));
    store_close(s);
}

static void one_commit_no_lease_on_sqlite(void **state)
{
    (void)state;
    char dir[256];
    make_deployment("one-commit", dir);
    idm_core *c = open_idm(dir);
    assert_non_null(c);
    seed(c);
    store *db = idm_core_store(c);
    assert_true(store_txn_excludes_writers(db));
    up u = {.fcnt = 1, .fport = 1};
    idm_downlink dl;
    count_calls(db, 0);
    assert_int_equal(send_up(c, &u, &dl), IDM_OK);
    long n = commits;
    uncount(db);
    assert_true(dl.present);
    assert_int_equal(n, 1);
    dump d;
    memset(&d, 0, sizeof d);
    assert_int_equal(db->drv->exec(db, "SELECT count(*) FROM idm_lease", NULL, 0, dump_row, &d, NULL), STORE_OK);
    assert_string_equal(d.text, "0|\n");
    idm_close(&c);
}

static void kill_at_every_step_loses_nothing(void **state)
{
    (void)state;
    char base[256], work[300];
    make_deployment("kill-base", base);
    snprintf(work, sizeof work, "%s/kill-work", root);
    idm_core *c = open_idm(base);
    assert_non_null(c);
    seed(c);
    idm_close(&c);
    /* 1: an uplink without MLS: the command starts, its first fragment goes */
    up u1 = {.fcnt = 1, .fport = 1};
    idm_downlink dl;
    kill_everywhere(base, work, &u1, &dl);
    /* the base moves on by that uplink, uninterrupted */
    c = open_idm(base);
    assert_non_null(c);
    idm_downlink again;
    assert_int_equal(send_up(c, &u1, &again), IDM_OK);
    assert_true(again.present);
    assert_memory_equal(again.frm, dl.frm, dl.frm_len);
    /* 2: the SE's ack of that fragment: the bitmap moves, the next goes */
    up u2 = {.fcnt = 2, .fport = IDM_MLS_FPORT};
    se_acks(c, &again, &u2);
    idm_close(&c);
    kill_everywhere(base, work, &u2, &dl);
}

static void join_checks_back_off(void **state)
{
    (void)state;
    char loc[128];
    snprintf(loc, sizeof loc, "sqlite:%s/join-check.db", root);
    store *s = NULL;
    assert_int_equal(store_open(loc, &s), STORE_OK);
    assert_int_equal(put_se(s, 0x10), STORE_OK);
    assert_int_equal(put_se(s, 0x11), STORE_OK);
    assert_int_equal(store_idm_se_set_state(s, 0x10, IDM_STATE_MANUFACTURED, IDM_STATE_PROFILE_DELIVERED), STORE_OK);
    uint64_t page[4];
    size_t n = 0;
    /* a delivered SE never checked is due; one not delivered never */
    assert_int_equal(store_idm_join_check_due(s, 100, NULL, page, 4, &n), STORE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(page[0], 0x10);
    int64_t due = 0;
    static const int64_t waits[] = {5, 10, 20, 30, 30};
    int64_t now = 100;
    for (size_t i = 0; i < sizeof waits / sizeof waits[0]; i++) {
        assert_int_equal(store_idm_join_check_later(s, 0x10, now, 5, 30, &due), STORE_OK);
        assert_int_equal(due, now + waits[i]);
        assert_int_equal(store_idm_join_check_due(s, due - 1, NULL, page, 4, &n), STORE_OK);
        assert_int_equal(n, 0);
        assert_int_equal(store_idm_join_check_due(s, due, NULL, page, 4, &n), STORE_OK);
        assert_int_equal(n, 1);
        now = due;
    }
    assert_int_equal(store_idm_join_check_later(s, 0x11, now, 5, 30, &due), STORE_OK); /* any SE may be recorded */
    assert_int_equal(store_idm_join_check_later(s, 0x99, now, 5, 30, &due), STORE_ERR_NOT_FOUND);
    assert_int_equal(store_idm_join_check_later(s, 0x10, now, 0, 30, &due), STORE_ERR_ARGUMENT);
    assert_int_equal(store_idm_join_check_later(s, 0x10, now, 31, 30, &due), STORE_ERR_ARGUMENT);
    /* a new delivery (the state left and came back, updated_at moved) is
     * due at once, and its back-off starts again */
    assert_int_equal(s->drv->exec(s, "UPDATE idm_se SET updated_at = updated_at + 7 WHERE dev_eui = '0000000000000010'",
                                  NULL, 0, NULL, NULL, NULL),
                     STORE_OK);
    assert_int_equal(store_idm_join_check_due(s, now - 1000, NULL, page, 4, &n), STORE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(store_idm_join_check_later(s, 0x10, now, 5, 30, &due), STORE_OK);
    assert_int_equal(due, now + 5);
    store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(nested_transactions_are_savepoints),
        cmocka_unit_test(one_commit_no_lease_on_sqlite),
        cmocka_unit_test(kill_at_every_step_loses_nothing),
        cmocka_unit_test(join_checks_back_off),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

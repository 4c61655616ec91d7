/*
 * idm_ota.c - the over-the-air delivery engine: the IDM as application
 * server of the bootstrap sessions (docs/ns-as.md, docs/idm.md "OTA").
 *
 * One uplink at a time, for any number of SEs: everything an SE's delivery
 * needs between two uplinks is in the database (idm_ota, idm_cmd), so the
 * engine holds no per-SE state but the reassembly of the SE's own
 * messages (rx slots below), which the SE's re-sending makes disposable.
 *
 * Exactly once, across restarts:
 *   - a command is sealed once, with a counter persisted in the same
 *     transaction as the sealed bytes (idm_provision.c, queue_status());
 *     re-sends are the same bytes, which the SE answers from memory;
 *   - a response is acted on in the transaction that records its counter
 *     as rx_last; a repeat fails mls_open with MLS_ERR_REPLAY and is only
 *     acknowledged again;
 *   - a fragment round (sent/acked bitmaps) is persisted before the frame
 *     is returned to the NS.
 *
 * One transaction per uplink (or relayed frame): everything an uplink
 * reads and writes (its de-duplication, an ack's bitmaps, a message of the
 * SE recorded and acted on, the next fragment's sent bit) commits at once,
 * before the answer leaves, or not at all: one fdatasync per uplink on
 * SQLite instead of four or five. The steps that were transactions of their
 * own are savepoints inside it (store_txn). When it does not commit, no
 * frame goes out and the SE's reassembly here is dropped (none of it was
 * acknowledged: the SE sends it again).
 *
 * Leases (below) keep several `idm serve` on one PostgreSQL off each
 * other's SEs. Where a write transaction excludes every other writer
 * (SQLite, store_txn_excludes_writers), one transaction per uplink already
 * does, in every process on the database: no lease rows there.
 *
 * Back-off: within a round every fragment goes once; when an uplink brings
 * no ack and nothing is left in the round, a new round (only unacked
 * fragments) starts after retry_base * 2^rounds seconds (capped at
 * retry_max). The policy deadline fails the whole queue of the SE.
 */
#include "idm/idm_ota.h"
#include "idm/idm_log.h"
#include "lorawan/lw_cipher.h"
#include "lorawan/lw_secure.h"
#include "mls/mls_cmd.h"
#include "mls/mls_frag.h"
#include "store/store_idm_lease.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* A reassembly idle this long is over (mls_frag_rx drops it too): its
 * slot may go to another SE. */
#define RX_TIMEOUT 600

/* Several engines on one database (docs/idm.md, "Several idm serve on one
 * database") work on an SE only under its lease (store_idm_lease.h). A
 * lease lasts LEASE_S seconds: longer than an uplink's work, about as long
 * as a provisioning's two calls to a customer JS at libcurl's 15 s timeout.
 * When a lease runs out under a holder still working, the compare-and-set
 * on idm_ota still keeps every MLS counter single: the lease keeps engines
 * from interleaving, it is not what makes a counter safe. An uplink whose
 * SE another instance holds waits up to LEASE_WAIT_MS (its holder is
 * usually done in milliseconds), polling every LEASE_POLL_MS; then it is
 * answered without a downlink, and the SE's next uplink tries again. */
#define LEASE_S 30
#define LEASE_WAIT_MS 2000
#define LEASE_POLL_MS 5

/* The reassembly of one SE's message (at most one slot per SE, so one SE
 * can never take another's). */
typedef struct rx_slot {
    uint64_t dev_eui;
    bool used;
    int64_t last_use;
    mls_frag_rx rx;
} rx_slot;

struct idm_ota {
    hsm_session *hs;
    store *db;
    idm_policy pol;
    size_t rx_cap;              /* pol.mls_rx_slots */
    rx_slot *rx;                /* rx[rx_cap] */
    uint64_t rx_refused;        /* fragments refused because every slot held an unfinished message */
    idm_clock_fn now_fn;        /* NULL = the wall clock */
    void *now_arg;
    char owner[STORE_IDM_LEASE_OWNER_MAX + 1]; /* this engine in the SEs' leases: host:pid:random */
    bool one_writer;            /* store_txn_excludes_writers: no leases needed */
    idm_lock_fn lock, unlock;   /* idm_ota_set_lock; NULL = the caller locks around a tick */
    void *lock_arg;
    bool renew_push_due;        /* the uplink's transaction recorded a RENEW's ack: push its keys after the commit */
};

static int64_t now_s(const idm_ota *e)
{
    return e->now_fn != NULL ? e->now_fn(e->now_arg) : (int64_t)time(NULL);
}

void idm_ota_set_clock(idm_ota *e, idm_clock_fn now_fn, void *arg)
{
    e->now_fn = now_fn;
    e->now_arg = now_fn != NULL ? arg : NULL;
}

#define logf_ idm_logf

idm_status idm_ota_new(hsm_session *hs, store *db, const idm_policy *p, idm_ota **out)
{
    if (p->mls_rx_slots == 0 || p->mls_rx_slots > IDM_OTA_RX_SLOTS_MAX)
        return IDM_ERR_ARGUMENT;
    idm_ota *e = calloc(1, sizeof *e);
    if (e == NULL)
        return IDM_ERR_NOMEM;
    e->rx = calloc(p->mls_rx_slots, sizeof *e->rx);
    if (e->rx == NULL) {
        free(e);
        return IDM_ERR_NOMEM;
    }
    e->hs = hs;
    e->db = db;
    e->pol = *p;
    e->rx_cap = p->mls_rx_slots;
    /* Unique among the instances on one database, also after a restart
     * with the same pid: the random part. */
    char host[40] = "";
    uint32_t r = 0;
    if (gethostname(host, sizeof host) != 0)
        snprintf(host, sizeof host, "idm");
    host[sizeof host - 1] = '\0';
    if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r)
        r = (uint32_t)time(NULL) ^ (uint32_t)(uintptr_t)e;
    snprintf(e->owner, sizeof e->owner, "%s:%ld:%08x", host, (long)getpid(), (unsigned)r);
    e->one_writer = store_txn_excludes_writers(db);
    *out = e;
    return IDM_OK;
}

/* Takes SE dev_eui's lease for this engine; with wait, polls while another
 * instance holds it, up to LEASE_WAIT_MS. False when not taken (held
 * elsewhere, or the database failed: logged). */
static bool lease_take(idm_ota *e, uint64_t dev_eui, bool wait)
{
    if (e->one_writer)
        return true; /* the uplink's one transaction keeps every other writer out */
    for (int waited = 0;; waited += LEASE_POLL_MS) {
        int64_t now = now_s(e);
        store_status st = store_idm_lease_take(e->db, dev_eui, e->owner, now, now + LEASE_S);
        if (st == STORE_OK)
            return true;
        if (st != STORE_ERR_BUSY) {
            logf_("%016llX: taking the SE's lease: %s", (unsigned long long)dev_eui, store_strerror(st));
            return false;
        }
        if (!wait || waited >= LEASE_WAIT_MS)
            return false;
        struct timespec pause = {0, LEASE_POLL_MS * 1000000L};
        nanosleep(&pause, NULL);
    }
}

/* Gives it back at once, so that another instance need not wait for it to
 * run out; a failure only leaves it to run out. */
static void lease_give_back(idm_ota *e, uint64_t dev_eui)
{
    if (e->one_writer)
        return;
    store_status st = store_idm_lease_give_back(e->db, dev_eui, e->owner);
    if (st != STORE_OK)
        logf_("%016llX: giving the SE's lease back: %s (it runs out in %d s)", (unsigned long long)dev_eui,
              store_strerror(st), LEASE_S);
}

void idm_ota_set_lock(idm_ota *e, idm_lock_fn lock, idm_lock_fn unlock, void *arg)
{
    bool both = lock != NULL && unlock != NULL;
    e->lock = both ? lock : NULL;
    e->unlock = both ? unlock : NULL;
    e->lock_arg = both ? arg : NULL;
}

static void hold(idm_ota *e)
{
    if (e->lock != NULL)
        e->lock(e->lock_arg);
}

static void let_go(idm_ota *e)
{
    if (e->unlock != NULL)
        e->unlock(e->lock_arg);
}

void idm_ota_free(idm_ota *e)
{
    if (e != NULL) {
        lw_secure_wipe(e->rx, e->rx_cap * sizeof *e->rx);
        free(e->rx);
        lw_secure_wipe(e, sizeof *e);
        free(e);
    }
}

void idm_ota_counters_get(const idm_ota *e, idm_ota_counters *out)
{
    memset(out, 0, sizeof *out);
    out->rx_slots = e->rx_cap;
    for (size_t i = 0; i < e->rx_cap; i++)
        out->rx_in_use += e->rx[i].used && e->rx[i].rx.state == 1;
    out->rx_refused = e->rx_refused;
}

/* A slot may go to another SE when it holds no unfinished message: never
 * used, idle, settled (complete or taken: it only re-acks, and a message
 * sent again is answered as a replay), or silent for RX_TIMEOUT. */
static bool rx_reusable(const rx_slot *s, int64_t now)
{
    return !s->used || s->rx.state != 1 || now - s->last_use >= RX_TIMEOUT;
}

/* The SE's reassembly slot, or a new one for it; NULL when every slot holds
 * another SE's unfinished message. Then the fragment is refused, not acked,
 * counted and logged: the SE sends it again in its next round (docs/mls.md,
 * "Fragmentation"), by when a slot has settled or timed out. An unfinished
 * message is never evicted for another SE's. */
static mls_frag_rx *rx_for(idm_ota *e, uint64_t dev_eui)
{
    int64_t now = now_s(e);
    rx_slot *pick = NULL;
    for (size_t i = 0; i < e->rx_cap; i++) {
        rx_slot *s = &e->rx[i];
        if (s->used && s->dev_eui == dev_eui) {
            s->last_use = now;
            return &s->rx;
        }
        if (rx_reusable(s, now) && (pick == NULL || !s->used || (pick->used && s->last_use < pick->last_use)))
            pick = s;
    }
    if (pick == NULL) {
        e->rx_refused++;
        logf_("%016llX: MLS fragment refused: all %zu reassembly slots (mls_rx_slots) hold unfinished messages of "
              "other SEs; the SE sends it again (%llu refused so far)",
              (unsigned long long)dev_eui, e->rx_cap, (unsigned long long)e->rx_refused);
        return NULL;
    }
    pick->used = true;
    pick->dev_eui = dev_eui;
    pick->last_use = now;
    mls_frag_rx_init(&pick->rx, RX_TIMEOUT);
    return &pick->rx;
}

/* Drops the SE's reassembly: what an uplink put there belongs to a
 * transaction that did not commit (a message taken from it may have been
 * acted on in the rollback only), and nothing of it was acknowledged, so
 * the SE sends it all again. */
static void rx_forget(idm_ota *e, uint64_t dev_eui)
{
    for (size_t i = 0; i < e->rx_cap; i++) {
        rx_slot *s = &e->rx[i];
        if (s->used && s->dev_eui == dev_eui) {
            mls_frag_rx_init(&s->rx, RX_TIMEOUT);
            s->used = false;
        }
    }
}

/* ---------------------------------------------------------------- transactions */

typedef struct resp_job {
    store_idm_ota *ota;
    uint32_t counter;            /* MLS counter of the SE's message */
    bool is_event;
    mls_rsp rsp;
    mls_event ev;
    store_idm_cmd *status_cmd;   /* a sealed STATUS acking the event, or NULL */
    uint32_t tx_next_after;
    const char *actor;
    bool renew_acked;            /* out: the SE took a renewal's keys; push them to the JS */
} resp_job;

/* The SE's current delivery is given up (a refusal or the deadline):
 * its queue fails; the update in flight, if any, is undone
 * (idm_ops_update_failed_txn); the lifecycle moves by update_failed (a
 * renewal or transfer: the SE still runs its previous customer profile) or
 * delivery_failed (a first profile), when the state allows it. */
static store_status give_up_txn(store *s, uint64_t dev_eui, const char *actor, const json_t *det)
{
    char subject[17];
    store_idm_op op;
    store_status st = store_idm_cmd_fail_all(s, dev_eui);
    if (st == STORE_OK)
        st = idm_ops_update_failed_txn(s, dev_eui, &op);
    if (st != STORE_OK)
        return st;
    idm_event ev = op == STORE_IDM_OP_RENEW || op == STORE_IDM_OP_TRANSFER ? IDM_EV_UPDATE_FAILED
                                                                            : IDM_EV_DELIVERY_FAILED;
    store_idm_se se;
    idm_state to;
    if ((st = store_idm_se_get(s, dev_eui, &se)) != STORE_OK)
        return st;
    bool legal = op != STORE_IDM_OP_RETURN && idm_state_transition(se.state, ev, &to) == IDM_OK;
    lw_secure_wipe(&se, sizeof se);
    if (legal)
        return idm_se_event_txn(s, dev_eui, ev, actor, det, NULL);
    /* e.g. a STATUS acknowledging an event, or a return to bootstrap
     * refused: no lifecycle change */
    json_t *full = det != NULL ? json_deep_copy(det) : json_object();
    if (full == NULL || json_object_set_new(full, "op", json_string(store_idm_op_name(op))) != 0) {
        json_decref(full);
        return STORE_ERR_NOMEM;
    }
    snprintf(subject, sizeof subject, "%016llX", (unsigned long long)dev_eui);
    st = idm_audit_txn(s, actor, "idm.delivery.failed", subject, full);
    json_decref(full);
    return st;
}

/* An event of the SE (its profile's trial fell back): acted on once, in
 * the transaction of resp_fn; det holds the event's fields. */
static store_status event_txn(store *s, resp_job *j, const store_idm_ota *cur, const char *subject, json_t *det)
{
    store_idm_se se;
    idm_state from, to;
    store_status st;
    if ((st = store_idm_se_get(s, j->ota->dev_eui, &se)) != STORE_OK)
        return st;
    from = se.state;
    bool legal = j->ev.code == MLS_EVENT_FALLBACK && idm_state_transition(from, IDM_EV_FALLBACK_REPORTED, &to) == IDM_OK;
    lw_secure_wipe(&se, sizeof se);
    /* The SE repeats an event until a STATUS acknowledges it: act once. */
    bool repeat = j->ev.event_id == cur->last_event_id;
    if ((st = store_idm_ota_set_event(s, j->ota->dev_eui, j->ev.event_id)) != STORE_OK)
        return st;
    store_idm_claim cl;
    bool have_claim = store_idm_claim_get(s, j->ota->dev_eui, &cl) == STORE_OK;
    store_idm_op op = have_claim ? cl.op : STORE_IDM_OP_NONE;
    if (!repeat && legal && from == IDM_STATE_PROFILE_DELIVERED && op == STORE_IDM_OP_TRANSFER) {
        /* The new owner's network never answered: the SE is back on
         * the old owner's profile, whose device was kept. */
        store_idm_op was;
        if ((st = idm_ops_update_failed_txn(s, j->ota->dev_eui, &was)) != STORE_OK)
            return st;
        return idm_se_event_txn(s, j->ota->dev_eui, IDM_EV_UPDATE_FAILED, j->actor, det, NULL);
    }
    /* Only a profile on trial falls back. An SE active at its customer
     * with no update in flight reports a trial the IDM already undid
     * (a renewal never joined); during a renewal, the old keys go back
     * on the JS by the housekeeping's deadline, not here: nothing moves. */
    bool stale = from == IDM_STATE_ACTIVE_AT_CUSTOMER || op == STORE_IDM_OP_RENEW;
    if (!repeat && !stale && legal)
        return idm_se_event_txn(s, j->ota->dev_eui, IDM_EV_FALLBACK_REPORTED, j->actor, det, NULL);
    if (json_object_set_new(det, repeat ? "repeat" : "stale", json_true()) != 0)
        return STORE_ERR_NOMEM;
    return idm_audit_txn(s, j->actor, "idm.mls.event", subject, det);
}

/* Is an ACTIVATE the SE's next command? Only behind an INSTALL queued
 * before a profile became one message (idm_provision.c): the two were
 * queued together, and that ACTIVATE's answer acknowledges the profile.
 * Read in the transaction that marked the INSTALL done. */
static store_status activate_follows(store *s, uint64_t dev_eui, bool *follows)
{
    *follows = false;
    store_idm_cmd *next = malloc(sizeof *next);
    if (next == NULL)
        return STORE_ERR_NOMEM;
    store_status st = store_idm_cmd_current(s, dev_eui, next);
    if (st == STORE_OK)
        *follows = next->type == MLS_T_ACTIVATE;
    free(next);
    return st == STORE_ERR_NOT_FOUND ? STORE_OK : st;
}

/* What a response moves, once recorded: the lifecycle, or a renewal's keys
 * made ready for the customer JS. d2 the details of a failure. */
static store_status after_response_txn(store *s, resp_job *j, uint8_t cmd_type, bool ok, const json_t *d2)
{
    store_status st;
    bool follows = false;
    switch (cmd_type) {
    case MLS_T_ACTIVATE:
        /* the second half of a profile queued as INSTALL + ACTIVATE */
        return ok ? idm_se_event_txn(s, j->ota->dev_eui, IDM_EV_PROFILE_ACKED, j->actor, NULL, NULL)
                  : give_up_txn(s, j->ota->dev_eui, j->actor, d2);
    case MLS_T_INSTALL:
        /* A profile is one INSTALL with "activate now": its OK is the
         * acknowledgement, as ACTIVATE's was; an older INSTALL waits for
         * the ACTIVATE queued behind it. */
        if (!ok)
            return give_up_txn(s, j->ota->dev_eui, j->actor, d2);
        if ((st = activate_follows(s, j->ota->dev_eui, &follows)) != STORE_OK || follows)
            return st;
        return idm_se_event_txn(s, j->ota->dev_eui, IDM_EV_PROFILE_ACKED, j->actor, NULL, NULL);
    case MLS_T_RENEW:
    case MLS_T_BOOTSTRAP:
        if (!ok)
            return give_up_txn(s, j->ota->dev_eui, j->actor, d2);
        if (cmd_type == MLS_T_BOOTSTRAP)
            return idm_ops_returned_txn(s, j->ota->dev_eui, j->actor);
        if (cmd_type == MLS_T_RENEW) {
            /* The SE has the new keys (on trial, the old ones as fallback):
             * now, and only now, they may go to the customer JS. */
            store_idm_profile_key k;
            memset(&k, 0, sizeof k);
            st = store_idm_key_get(s, j->ota->dev_eui, STORE_IDM_SLOT_PENDING, &k);
            if (st == STORE_OK && !k.acked) {
                k.acked = true;
                st = store_idm_key_put(s, &k);
                j->renew_acked = st == STORE_OK;
            }
            lw_secure_wipe(&k, sizeof k);
            return st == STORE_ERR_NOT_FOUND ? STORE_OK : st;
        }
        return STORE_OK;
    default:
        return STORE_OK;
    }
}

static store_status resp_fn(store *s, void *ctx)
{
    resp_job *j = ctx;
    store_idm_ota cur, next;
    store_status st = store_idm_ota_get(s, j->ota->dev_eui, &cur);
    if (st != STORE_OK && st != STORE_ERR_NOT_FOUND)
        return st;
    if (j->counter <= cur.rx_last)
        return STORE_ERR_ABORTED; /* handled already */
    next = cur;
    next.rx_last = j->counter;
    if (j->is_event && j->status_cmd != NULL) {
        /* the STATUS was sealed with counter tx_next as read before: still ours? */
        if (cur.tx_next != j->status_cmd->counter)
            return STORE_ERR_ABORTED;
        next.tx_next = j->tx_next_after;
        j->status_cmd->dev_eui = j->ota->dev_eui;
        if ((st = store_idm_cmd_add(s, j->status_cmd)) != STORE_OK)
            return st;
    }
    if ((st = store_idm_ota_cas(s, &cur, &next)) != STORE_OK)
        return st;
    char subject[17];
    snprintf(subject, sizeof subject, "%016llX", (unsigned long long)j->ota->dev_eui);
    json_t *det;
    if (j->is_event) {
        det = json_pack("{s:i,s:i,s:i,s:i,s:i}", "event_id", (int)j->ev.event_id, "code", (int)j->ev.code,
                        "profile_id", (int)j->ev.profile_id, "reason", (int)j->ev.reason, "join_attempts",
                        (int)j->ev.join_attempts);
        st = det != NULL ? event_txn(s, j, &cur, subject, det) : STORE_ERR_NOMEM;
        json_decref(det);
        return st;
    }
    store_idm_cmd c;
    st = store_idm_cmd_current(s, j->ota->dev_eui, &c);
    bool ok = j->rsp.result == MLS_R_OK;
    const char *type = mls_type_name((uint8_t)(MLS_T_RESPONSE | j->rsp.type));
    store_idm_cmd_state answered = STORE_IDM_CMD_FAILED;
    /* an answer counts only for the command whose fragments went out
     * (the command table, idm_state.c); any other is stale */
    if (st == STORE_ERR_NOT_FOUND ||
        (st == STORE_OK && (c.counter != j->rsp.req_counter ||
                            idm_cmd_transition(c.state, ok ? IDM_CMD_EV_ANSWER_OK : IDM_CMD_EV_ANSWER_ERROR,
                                               &answered) != IDM_OK))) {
        det = json_pack("{s:b,s:s,s:I,s:i}", "stale", 1, "type", type, "req_counter", (json_int_t)j->rsp.req_counter,
                        "result", (int)j->rsp.result);
        st = det != NULL ? idm_audit_txn(s, j->actor, "idm.mls.response", subject, det) : STORE_ERR_NOMEM;
        json_decref(det);
        return st;
    }
    if (st != STORE_OK)
        return st;
    c.state = answered;
    c.result = j->rsp.result;
    if (ok && c.type == MLS_T_SECURE && j->rsp.type == MLS_T_SECURE) {
        memcpy(c.reply, j->rsp.u.secure.data, j->rsp.u.secure.len);
        c.reply_len = j->rsp.u.secure.len;
    }
    if ((st = store_idm_cmd_update(s, &c)) != STORE_OK)
        return st;
    det = json_pack("{s:s,s:I,s:i,s:I}", "type", type, "req_counter", (json_int_t)j->rsp.req_counter, "result",
                    (int)j->rsp.result, "seq", (json_int_t)c.seq);
    st = det != NULL ? idm_audit_txn(s, j->actor, "idm.mls.response", subject, det) : STORE_ERR_NOMEM;
    json_decref(det);
    if (st != STORE_OK)
        return st;
    json_t *d2 = json_pack("{s:i}", "result", (int)j->rsp.result);
    if (d2 == NULL)
        return STORE_ERR_NOMEM;
    st = after_response_txn(s, j, c.type, ok, d2);
    json_decref(d2);
    return st;
}

/* A whole message from the SE: open it and act. */
/* A whole message from the SE. True when it is settled: acted on and
 * recorded, a repeat of one that was, or one that can never be accepted;
 * false when recording it failed for now (the token or the database), so
 * that it is not acknowledged and the SE sends it again. */
static bool handle_message(idm_ota *e, const store_idm_se *se, store_idm_ota *ota, const uint8_t *msg, size_t len)
{
    mls_header h;
    if (mls_header_parse(msg, len, &h) != MLS_OK || h.epoch != ota->epoch) {
        logf_("%016llX: MLS message with a bad header or another epoch dropped", (unsigned long long)se->dev_eui);
        return true;
    }
    mls_session ms;
    if (idm_mls_open(e->hs, se, ota, &ms) != IDM_OK) {
        logf_("%016llX: MLS session could not be opened in the token", (unsigned long long)se->dev_eui);
        return false;
    }
    bool settled = true;
    uint8_t body[MLS_BODY_MAX];
    size_t blen = 0;
    mls_status st = mls_open(&ms, msg, len, &h, body, sizeof body, &blen);
    resp_job j;
    memset(&j, 0, sizeof j);
    j.ota = ota;
    j.counter = h.counter;
    j.actor = "idm-ota";
    store_idm_cmd *status_cmd = NULL;
    if (st == MLS_ERR_REPLAY) {
        goto out; /* handled before a restart or a lost ack: the ack goes again */
    } else if (st != MLS_OK) {
        logf_("%016llX: MLS message refused: %s", (unsigned long long)se->dev_eui, mls_strerror(st));
        goto out;
    }
    if (h.type == MLS_T_EVENT) {
        j.is_event = true;
        if (mls_event_decode(body, blen, &j.ev) != MLS_OK)
            goto out;
        /* Acknowledge the event with a STATUS, sealed now, queued with it. */
        status_cmd = calloc(1, sizeof *status_cmd);
        uint8_t b[16];
        size_t bl = 0;
        mls_cmd cmd = {.type = MLS_T_STATUS};
        cmd.u.status.ack_event = j.ev.event_id;
        if (status_cmd != NULL) {
            status_cmd->counter = ms.tx_next;
            status_cmd->type = MLS_T_STATUS;
            status_cmd->state = STORE_IDM_CMD_QUEUED;
            status_cmd->deadline = now_s(e) + (int64_t)e->pol.deadline_s;
            status_cmd->result = -1;
            if (mls_cmd_encode(&cmd, b, sizeof b, &bl) == MLS_OK &&
                mls_seal(&ms, MLS_T_STATUS, b, bl, status_cmd->msg, sizeof status_cmd->msg, &status_cmd->msg_len) ==
                    MLS_OK) {
                j.status_cmd = status_cmd;
                j.tx_next_after = ms.tx_next;
            }
        }
    } else if ((h.type & 0xC0) == MLS_T_RESPONSE) {
        if (mls_rsp_decode(h.type, body, blen, &j.rsp) != MLS_OK)
            goto out;
    } else {
        goto out;
    }
    store_status ss = store_idm_txn(e->db, resp_fn, &j);
    if (ss == STORE_OK) {
        if (store_idm_ota_get(e->db, se->dev_eui, ota) != STORE_OK)
            ota->rx_last = h.counter;
        logf_("%016llX: MLS %s counter %u handled", (unsigned long long)se->dev_eui, mls_type_name(h.type), h.counter);
        /* pushed once the uplink's transaction committed (after_commit) */
        e->renew_push_due = j.renew_acked;
    } else {
        /* ABORTED is a repeat when its counter is recorded by now; else
         * another writer moved the counters (the STATUS to queue lost its
         * counter): not settled, the SE sends the message again. */
        store_idm_ota now_row;
        settled = ss == STORE_ERR_ABORTED && store_idm_ota_get(e->db, se->dev_eui, &now_row) == STORE_OK &&
                  now_row.rx_last >= h.counter;
        if (!settled)
            logf_("%016llX: recording MLS %s: %s (not acknowledged: it comes again)", (unsigned long long)se->dev_eui,
                  mls_type_name(h.type), store_strerror(ss));
    }
out:
    free(status_cmd);
    lw_secure_wipe(body, sizeof body);
    mls_session_end(&ms);
    return settled;
}

/* ---------------------------------------------------------------- downlink fragments */

static void tx_rebuild(const idm_ota *e, const store_idm_cmd *c, mls_frag_tx *tx)
{
    memset(tx, 0, sizeof *tx);
    if (mls_frag_tx_start(tx, c->msg_id, c->msg, c->msg_len, c->frame_max, (uint32_t)now_s(e), 0xFFFFFFFFu) != MLS_OK)
        return;
    memcpy(tx->acked, c->acked, sizeof tx->acked);
    memcpy(tx->sent, c->sent, sizeof tx->sent);
}

typedef struct give_up_job {
    uint64_t dev_eui;
    const json_t *det;
} give_up_job;

static store_status give_up_fn(store *s, void *ctx)
{
    give_up_job *j = ctx;
    return give_up_txn(s, j->dev_eui, "idm-ota", j->det);
}

static void fail_delivery(idm_ota *e, uint64_t dev_eui, const char *why)
{
    json_t *det = json_pack("{s:s}", "reason", why);
    give_up_job j = {dev_eui, det};
    store_status st = det != NULL ? store_idm_txn(e->db, give_up_fn, &j) : STORE_ERR_NOMEM;
    json_decref(det);
    if (st == STORE_OK)
        logf_("%016llX: delivery failed: %s", (unsigned long long)dev_eui, why);
    else
        logf_("%016llX: giving up the delivery (%s): %s; tried again", (unsigned long long)dev_eui, why,
              store_strerror(st));
}

typedef struct start_job {
    const store_idm_ota *before;
    store_idm_ota *ota;
    store_idm_cmd *cmd;
} start_job;

static store_status start_fn(store *s, void *ctx)
{
    start_job *j = ctx;
    store_status st = store_idm_ota_cas(s, j->before, j->ota);
    return st == STORE_OK ? store_idm_cmd_update(s, j->cmd) : st;
}

/* The next fragment of the SE's current command into frame[*len]. */
static void next_fragment(idm_ota *e, store_idm_ota *ota, size_t max_dl, bool got_ack, int32_t queued_down,
                          uint8_t *frame, size_t *len)
{
    *len = 0;
    store_idm_cmd *c = malloc(sizeof *c);
    mls_frag_tx *tx = malloc(sizeof *tx);
    if (c == NULL || tx == NULL)
        goto out;
    if (store_idm_cmd_current(e->db, ota->dev_eui, c) != STORE_OK)
        goto out;
    int64_t now = now_s(e);
    if (now > c->deadline) {
        fail_delivery(e, ota->dev_eui, "deadline");
        goto out;
    }
    size_t cap = max_dl > MLS_FRAG_FRAME_MAX ? MLS_FRAG_FRAME_MAX : max_dl;
    if (cap < MLS_FRAG_FRAME_MIN)
        goto out;
    bool restart = c->state == STORE_IDM_CMD_QUEUED;
    if (!restart) {
        tx_rebuild(e, c, tx);
        if (mls_frag_tx_done(tx))
            goto out; /* all fragments acked: waiting for the SE's answer */
        if (mls_frag_tx_next(tx, cap, frame, len) == MLS_ERR_FRAG_FRAME)
            restart = true; /* the data rate dropped: the message starts again */
    }
    if (restart) {
        if (idm_cmd_transition(c->state, IDM_CMD_EV_START, &c->state) != IDM_OK)
            goto out; /* only a queued or sending command goes out */
        store_idm_ota before = *ota;
        c->msg_id = ota->next_msg_id;
        ota->next_msg_id = (uint8_t)((ota->next_msg_id + 1) & MLS_FRAG_ID_MAX);
        c->frame_max = (uint8_t)cap;
        memset(c->acked, 0, sizeof c->acked);
        memset(c->sent, 0, sizeof c->sent);
        tx_rebuild(e, c, tx);
        start_job sj = {&before, ota, c};
        if (store_idm_txn(e->db, start_fn, &sj) != STORE_OK) {
            *ota = before; /* another writer moved the row: next uplink */
            goto out;
        }
        ota->exists = true;
        if (mls_frag_tx_next(tx, cap, frame, len) != MLS_OK)
            *len = 0;
    }
    if (*len == 0 && !got_ack && queued_down <= 0) {
        /* Nothing left in this round and no ack came: back off, then a new
         * round of only the fragments not acked. Not while the NS still
         * holds one of our downlinks for the device (its gateway had no air
         * for it yet): that one is not lost, and a copy behind it in the
         * queue would take a window the next fragment could use. */
        uint32_t shift = c->rounds < 16 ? c->rounds : 16;
        uint64_t wait = (uint64_t)e->pol.retry_base_s << shift;
        if (wait > e->pol.retry_max_s)
            wait = e->pol.retry_max_s;
        if (now - c->last_sent_at >= (int64_t)wait) {
            mls_frag_tx_rewind(tx);
            c->rounds++;
            if (mls_frag_tx_next(tx, cap, frame, len) != MLS_OK)
                *len = 0;
        }
    }
    if (*len > 0) {
        memcpy(c->sent, tx->sent, sizeof c->sent);
        c->last_sent_at = now;
        if (store_idm_cmd_update(e->db, c) != STORE_OK)
            *len = 0; /* never send what the database does not know was sent */
    }
out:
    free(c);
    if (tx != NULL)
        lw_secure_wipe(tx, sizeof *tx);
    free(tx);
}

/* An ack frame from the SE for our current message. */
static bool apply_ack(idm_ota *e, uint64_t dev_eui, const uint8_t *frame, size_t len)
{
    store_idm_cmd *c = malloc(sizeof *c);
    mls_frag_tx *tx = malloc(sizeof *tx);
    bool ok = false;
    if (c != NULL && tx != NULL && store_idm_cmd_current(e->db, dev_eui, c) == STORE_OK &&
        c->state == STORE_IDM_CMD_SENDING && (frame[0] & MLS_FRAG_ID_MAX) == c->msg_id) {
        tx_rebuild(e, c, tx);
        if (mls_frag_tx_ack(tx, frame, len, (uint32_t)now_s(e)) == MLS_OK) {
            memcpy(c->acked, tx->acked, sizeof c->acked);
            memcpy(c->sent, tx->sent, sizeof c->sent);
            ok = store_idm_cmd_update(e->db, c) == STORE_OK;
        }
    }
    free(c);
    free(tx);
    return ok;
}

/* One MLS exchange in a class A window, whichever network carried it:
 * frame[len] the SE's MLS frame in clear of its LoRaWAN encryption (NULL:
 * an uplink without MLS), out[*out_len] what goes back (0: nothing). An ack
 * from the SE moves our fragments on; a data frame is reassembled, opened
 * and acted on when complete, and acknowledged; anything else gets the next
 * fragment of the current command. */
static void exchange(idm_ota *e, const store_idm_se *se, store_idm_ota *ota, const uint8_t *plain, size_t len,
                     size_t cap, int32_t queued_down, uint8_t *frame, size_t *flen)
{
    bool got_ack = false, want_rx_ack = false;
    mls_frag_rx *rx = NULL;
    *flen = 0;
    if (plain == NULL || len == 0) {
        /* nothing to read */
    } else if (plain[0] & MLS_FRAG_ACK_BIT) {
        got_ack = apply_ack(e, se->dev_eui, plain, len);
    } else {
        rx = rx_for(e, se->dev_eui);
        int complete = 0;
        if (rx != NULL && mls_frag_rx_push(rx, plain, len, (uint32_t)now_s(e), &complete) == MLS_OK) {
            /* Only a whole message, once settled, is acknowledged: the
             * reassembly lives in this process's memory, and the SE never
             * sends a fragment again once it was acked, so an ack for a
             * fragment held here when the process dies would lose the
             * message. Unacked, the SE's next round sends it all again. */
            if (complete) {
                uint8_t msg[MLS_MSG_MAX];
                size_t mlen = 0;
                want_rx_ack = mls_frag_rx_take(rx, msg, sizeof msg, &mlen) == MLS_OK &&
                              handle_message(e, se, ota, msg, mlen);
                if (!want_rx_ack)
                    mls_frag_rx_init(rx, RX_TIMEOUT);
                lw_secure_wipe(msg, sizeof msg);
            } else if (rx->state >= 2) {
                want_rx_ack = true; /* a fragment of a message settled already: the ack again */
            }
        }
    }
    if (want_rx_ack) {
        if (mls_frag_rx_ack(rx, cap, frame, flen) != MLS_OK)
            *flen = 0;
    } else {
        next_fragment(e, ota, cap, got_ack, queued_down, frame, flen);
    }
}

/* After an uplink's transaction committed: the keys of a RENEW the SE
 * acknowledged go to the customer JS at once, so the SE's first join on
 * them finds them; the housekeeping retries a JS that cannot be reached. */
static void after_commit(idm_ota *e, uint64_t dev_eui)
{
    char e2[IDM_ERR_MAX];
    if (e->renew_push_due && idm_ops_renew_push(e->hs, e->db, dev_eui, "idm-ota", e2) != IDM_OK)
        logf_("%016llX: renewal: the customer JS gets the keys later: %s", (unsigned long long)dev_eui, e2);
    e->renew_push_due = false;
}

typedef struct relay_job {
    idm_ota *e;
    const store_idm_se *se;
    const uint8_t *frame;
    size_t len, cap;
    uint8_t *buf;
    size_t *out_len;
    unsigned attempts;
} relay_job;

static store_status relay_fn(store *s, void *ctx)
{
    relay_job *j = ctx;
    /* a retried transaction starts the SE's reassembly afresh */
    if (j->attempts++ > 0)
        rx_forget(j->e, j->se->dev_eui);
    j->e->renew_push_due = false;
    *j->out_len = 0;
    store_idm_ota ota;
    store_status ss = store_idm_ota_get(s, j->se->dev_eui, &ota);
    if (ss != STORE_OK && ss != STORE_ERR_NOT_FOUND)
        return ss;
    exchange(j->e, j->se, &ota, j->len > 0 ? j->frame : NULL, j->len, j->cap, -1, j->buf, j->out_len);
    return STORE_OK;
}

idm_status idm_ota_relay(idm_ota *e, uint64_t dev_eui, const uint8_t *frame, size_t len, size_t max_downlink,
                         uint8_t out[242], size_t *out_len, char err[IDM_ERR_MAX])
{
    *out_len = 0;
    err[0] = '\0';
    if (len > 242 || (len > 0 && frame == NULL) || max_downlink < MLS_FRAG_FRAME_MIN) {
        snprintf(err, IDM_ERR_MAX, "FRMPayload: 0..242 bytes; MaxDownlinkPayload: %u..242", (unsigned)MLS_FRAG_FRAME_MIN);
        return IDM_ERR_ARGUMENT;
    }
    store_idm_se se;
    store_status ss = store_idm_se_get(e->db, dev_eui, &se);
    if (ss != STORE_OK) {
        snprintf(err, IDM_ERR_MAX, "%016llX: %s", (unsigned long long)dev_eui, store_strerror(ss));
        lw_secure_wipe(&se, sizeof se);
        return ss == STORE_ERR_NOT_FOUND ? IDM_ERR_NOT_FOUND : IDM_ERR_STORE;
    }
    if (!lease_take(e, dev_eui, true)) {
        /* another instance works on it: no frame now; an unacked one of
         * the SE's comes again */
        logf_("%016llX: relayed uplink answered without a frame: another IDM instance holds the SE",
              (unsigned long long)dev_eui);
        lw_secure_wipe(&se, sizeof se);
        return IDM_OK;
    }
    uint8_t buf[242];
    relay_job j = {e, &se, frame, len, max_downlink > sizeof buf ? sizeof buf : max_downlink, buf, out_len, 0};
    /* read and written in one transaction (under the lease): the state as
     * the last one left it */
    ss = store_idm_txn(e->db, relay_fn, &j);
    lease_give_back(e, dev_eui);
    if (ss == STORE_OK) {
        memcpy(out, buf, *out_len);
        after_commit(e, dev_eui);
    } else {
        *out_len = 0;
        rx_forget(e, dev_eui);
        e->renew_push_due = false;
    }
    lw_secure_wipe(buf, sizeof buf);
    lw_secure_wipe(&se, sizeof se);
    if (ss != STORE_OK) {
        snprintf(err, IDM_ERR_MAX, "%016llX: %s", (unsigned long long)dev_eui, store_strerror(ss));
        return IDM_ERR_STORE;
    }
    return IDM_OK;
}

/* ---------------------------------------------------------------- the uplink */

typedef struct uplink_job {
    idm_ota *e;
    const idm_uplink *u;
    const store_idm_se *se;
    idm_downlink *dl;
    char *err;
    idm_status rc;      /* the uplink's answer when the transaction was given up for it */
    unsigned attempts;
} uplink_job;

/* The whole uplink, in one transaction: what it read is what it wrote
 * back, and its frame leaves only once all of it is committed. */
static store_status uplink_fn(store *s, void *ctx)
{
    uplink_job *j = ctx;
    idm_ota *e = j->e;
    const idm_uplink *u = j->u;
    if (j->attempts++ > 0)
        rx_forget(e, u->dev_eui); /* a retried transaction starts the SE's reassembly afresh */
    e->renew_push_due = false;
    memset(j->dl, 0, sizeof *j->dl);
    j->rc = IDM_OK;
    j->err[0] = '\0';
    store_status ss = STORE_OK;
    store_session sess;
    lw_key ask = {0};
    uint8_t plain[242], frame[242];
    memset(&sess, 0, sizeof sess);
    store_idm_ota ota;
    ss = store_idm_ota_get(s, u->dev_eui, &ota);
    if (ss != STORE_OK && ss != STORE_ERR_NOT_FOUND)
        goto out;
    ss = STORE_OK;
    if (ota.last_fcnt_up >= 0 && (int64_t)u->fcnt <= ota.last_fcnt_up &&
        ota.last_session_len == u->session_key_id_len &&
        memcmp(ota.last_session, u->session_key_id, u->session_key_id_len) == 0)
        goto out; /* a repeat of an uplink of this session already handled */
    ss = store_session_get(s, u->dev_eui, u->session_key_id, u->session_key_id_len, &sess);
    if (ss != STORE_OK || sess.app_s_key.len == 0 || sess.dev_addr != u->dev_addr) {
        snprintf(j->err, IDM_ERR_MAX, "%016llX: no bootstrap session with that SessionKeyID and DevAddr",
                 (unsigned long long)u->dev_eui);
        j->rc = ss == STORE_OK || ss == STORE_ERR_NOT_FOUND ? IDM_ERR_NOT_FOUND : IDM_ERR_STORE;
        ss = STORE_ERR_ABORTED;
        goto out;
    }
    if (hsm_key_unwrap_blob(e->hs, HSM_KEY_WORKING, sess.app_s_key.data, sess.app_s_key.len, &ask) != HSM_OK ||
        (u->frm_len > 0 && lw_frm_payload_crypt(hsm_session_crypto(e->hs), &ask, true, u->dev_addr, u->fcnt, u->frm,
                                                 u->frm_len, plain) != LW_OK)) {
        snprintf(j->err, IDM_ERR_MAX, "key service: AppSKey");
        j->rc = IDM_ERR_HSM;
        ss = STORE_ERR_ABORTED;
        goto out;
    }
    /* An uplink on the bootstrap session: the SE has joined. */
    idm_state next;
    if ((j->se->state == IDM_STATE_MANUFACTURED || j->se->state == IDM_STATE_RETURNED_TO_BOOTSTRAP) &&
        idm_state_transition(j->se->state, IDM_EV_BOOTSTRAP_JOIN, &next) == IDM_OK) {
        char e2[IDM_ERR_MAX];
        json_t *via = json_pack("{s:s}", "via", "uplink");
        if (via == NULL || idm_se_event(s, u->dev_eui, IDM_EV_BOOTSTRAP_JOIN, "idm-ota", via, NULL, e2) != IDM_OK)
            logf_("%016llX: bootstrap join seen in an uplink not recorded now (the housekeeping records it): %s",
                  (unsigned long long)u->dev_eui, via == NULL ? idm_strerror(IDM_ERR_NOMEM) : e2);
        json_decref(via);
    }
    /* Any uplink opens a downlink window for the next fragment; only FPort
     * 200 carries MLS frames to read. */
    size_t flen = 0;
    size_t cap = u->max_downlink > sizeof frame ? sizeof frame : u->max_downlink;
    exchange(e, j->se, &ota, u->fport == IDM_MLS_FPORT ? plain : NULL, u->frm_len, cap, u->queued_down, frame, &flen);
    /* Remember the uplink for de-duplication (best effort: a writer that
     * moved the row meanwhile wins, and a repeat is harmless anyway). */
    store_idm_ota now_row, seen;
    ss = store_idm_ota_get(s, u->dev_eui, &now_row);
    if (ss == STORE_OK || ss == STORE_ERR_NOT_FOUND) {
        seen = now_row;
        seen.last_fcnt_up = u->fcnt;
        memcpy(seen.last_session, u->session_key_id, u->session_key_id_len);
        seen.last_session_len = u->session_key_id_len;
        ss = store_idm_ota_cas(s, &now_row, &seen);
        if (ss == STORE_ERR_ABORTED)
            ss = STORE_OK;
    }
    if (ss != STORE_OK)
        goto out;
    if (flen > 0) {
        if (lw_frm_payload_crypt(hsm_session_crypto(e->hs), &ask, false, u->dev_addr, u->next_af_cnt_down, frame, flen,
                                 j->dl->frm) != LW_OK) {
            j->rc = IDM_ERR_HSM;
            snprintf(j->err, IDM_ERR_MAX, "key service: AppSKey");
            ss = STORE_ERR_ABORTED;
            goto out;
        }
        j->dl->present = true;
        j->dl->fport = IDM_MLS_FPORT;
        j->dl->fcnt = u->next_af_cnt_down;
        j->dl->frm_len = flen;
    }
out:
    hsm_key_release(e->hs, &ask);
    lw_secure_wipe(plain, sizeof plain);
    lw_secure_wipe(frame, sizeof frame);
    lw_secure_wipe(&sess, sizeof sess);
    return ss;
}

idm_status idm_ota_uplink(idm_ota *e, const idm_uplink *u, idm_downlink *dl, char err[IDM_ERR_MAX])
{
    memset(dl, 0, sizeof *dl);
    err[0] = '\0';
    if (u->frm_len > sizeof u->frm || u->fport == 0) {
        snprintf(err, IDM_ERR_MAX, "FRMPayload: 0..242 bytes, FPort 1..223");
        return IDM_ERR_ARGUMENT;
    }
    store_idm_se se;
    store_status ss = store_idm_se_get(e->db, u->dev_eui, &se);
    if (ss != STORE_OK) {
        snprintf(err, IDM_ERR_MAX, "%016llX: %s", (unsigned long long)u->dev_eui, store_strerror(ss));
        return ss == STORE_ERR_NOT_FOUND ? IDM_ERR_NOT_FOUND : IDM_ERR_STORE;
    }
    /* On PostgreSQL the SE's lease keeps other instances' engines off it
     * while this one works: then the de-duplication below also sees an
     * uplink another instance handled. */
    if (!lease_take(e, u->dev_eui, true)) {
        logf_("%016llX: uplink FCnt %u answered without a downlink: another IDM instance holds the SE",
              (unsigned long long)u->dev_eui, (unsigned)u->fcnt);
        lw_secure_wipe(&se, sizeof se);
        return IDM_OK;
    }
    uplink_job j = {e, u, &se, dl, err, IDM_OK, 0};
    ss = store_idm_txn(e->db, uplink_fn, &j);
    lease_give_back(e, u->dev_eui);
    idm_status rc = IDM_OK;
    if (ss == STORE_OK) {
        after_commit(e, u->dev_eui);
    } else {
        /* nothing of it committed: no frame leaves (its sent bit is not
         * recorded), and no ack of a message that is not recorded */
        lw_secure_wipe(dl, sizeof *dl);
        memset(dl, 0, sizeof *dl);
        rx_forget(e, u->dev_eui);
        e->renew_push_due = false;
        rc = j.rc != IDM_OK ? j.rc : IDM_ERR_STORE;
        if (j.rc == IDM_OK)
            snprintf(err, IDM_ERR_MAX, "%016llX: %s", (unsigned long long)u->dev_eui, store_strerror(ss));
    }
    lw_secure_wipe(&se, sizeof se);
    return rc;
}

/* ---------------------------------------------------------------- housekeeping */

/* Has the customer JS served a join of the device with its current keys?
 * A join with them has a JoinNonce at or above `base`, the JS's counter
 * when they were put there. Asked as LastJoinNonce >= base, not as
 * NextJoinNonce > base: schema 10 moved the counters of devices that never
 * joined from 0 to 1, which would read as a join against a base of 0
 * recorded before it (and then a transfer would delete the old owner's
 * device too early). A JS too old to say LastJoinNonce counts from 0, and
 * there NextJoinNonce > base is still exact.
 * Called with the engine's lock held: what the GET needs is read from the
 * database and the token first, and the lock is let go while the customer
 * JS answers (the HTTP thread's uplinks go on meanwhile). */
static bool customer_joined(idm_ota *e, uint64_t dev_eui)
{
    store_idm_claim c;
    store_idm_js *js = malloc(sizeof *js);
    store_idm_profile_key *k = calloc(1, sizeof *k);
    idm_http_resp *r = malloc(sizeof *r);
    char *ca = malloc(STORE_IDM_CA_MAX);
    char token[STORE_IDM_TOKEN_CT_MAX + 1], url[STORE_IDM_URL_MAX + 64];
    size_t ca_len = 0;
    bool joined = false;
    char err[IDM_ERR_MAX];
    uint32_t next = 0, base = 0;
    int64_t last = IDM_JOIN_NONCE_UNSAID;
    memset(token, 0, sizeof token);
    if (js == NULL || k == NULL || r == NULL || ca == NULL || store_idm_claim_get(e->db, dev_eui, &c) != STORE_OK ||
        c.js_id[0] == '\0' || store_idm_js_get(e->db, c.js_id, js) != STORE_OK ||
        store_idm_js_ca_get(e->db, js->id, ca, STORE_IDM_CA_MAX, &ca_len) != STORE_OK ||
        idm_js_token(e->hs, js, token, sizeof token) != IDM_OK)
        goto out;
    if (store_idm_key_get(e->db, dev_eui, STORE_IDM_SLOT_CURRENT, k) == STORE_OK && strcmp(k->js_id, c.js_id) == 0)
        base = k->join_nonce_base;
    snprintf(url, sizeof url, "%s/api/v1/devices/%016llX", js->admin_url, (unsigned long long)dev_eui);
    let_go(e);
    idm_status st = idm_http_call("GET", url, token, NULL, ca_len > 0 ? ca : NULL, r, err);
    hold(e);
    if (st != IDM_OK || idm_js_join_nonce_answer(js, dev_eui, r, &next, &last, err) != IDM_OK)
        goto out;
    joined = last != IDM_JOIN_NONCE_UNSAID ? last >= (int64_t)base : next > base;
out:
    lw_secure_wipe(token, sizeof token);
    if (k != NULL)
        lw_secure_wipe(k, sizeof *k);
    if (js != NULL)
        lw_secure_wipe(js, sizeof *js);
    free(k);
    free(js);
    free(r);
    free(ca);
    return joined;
}

/* One SE of a work list, acted on by the housekeeping. */
typedef void (*work_fn)(idm_ota *e, uint64_t dev_eui);

static void bootstrap_one(idm_ota *e, uint64_t dev_eui)
{
    char e2[IDM_ERR_MAX];
    json_t *via = json_pack("{s:s}", "via", "join_server_session");
    if (via != NULL && idm_se_event(e->db, dev_eui, IDM_EV_BOOTSTRAP_JOIN, "idm-ota", via, NULL, e2) == IDM_OK)
        logf_("%016llX: bootstrapped (a bootstrap join was served)", (unsigned long long)dev_eui);
    json_decref(via);
}

static void redeliver_one(idm_ota *e, uint64_t dev_eui)
{
    char e2[IDM_ERR_MAX];
    if (idm_ops_redeliver(e->db, dev_eui, "idm-policy", e2) == IDM_OK)
        logf_("%016llX: back on bootstrap for redeliver_after: a new profile follows", (unsigned long long)dev_eui);
}

static void provision_one(idm_ota *e, uint64_t dev_eui)
{
    char e2[IDM_ERR_MAX];
    idm_status st = idm_provision(e->hs, e->db, dev_eui, &e->pol, "idm-ota", e2);
    if (st == IDM_OK)
        logf_("%016llX: profile queued", (unsigned long long)dev_eui);
    else if (st != IDM_ERR_BUSY)
        logf_("%016llX: provisioning: %s", (unsigned long long)dev_eui, e2);
}

static void renew_push_one(idm_ota *e, uint64_t dev_eui)
{
    char e2[IDM_ERR_MAX];
    if (idm_ops_renew_push(e->hs, e->db, dev_eui, "idm-ota", e2) != IDM_OK)
        logf_("%016llX: renewal: %s", (unsigned long long)dev_eui, e2);
}

static void delivered_one(idm_ota *e, uint64_t dev_eui)
{
    char e2[IDM_ERR_MAX];
    if (customer_joined(e, dev_eui)) {
        if (idm_ops_customer_joined(e->db, dev_eui, "idm-ota", e2) == IDM_OK)
            logf_("%016llX: active at customer", (unsigned long long)dev_eui);
        return;
    }
    /* A renewal or transfer delivered but never joined: the SE's trial has
     * fallen back to its previous profile by now. */
    store_idm_se se;
    store_idm_claim c;
    if (store_idm_se_get(e->db, dev_eui, &se) == STORE_OK && store_idm_claim_get(e->db, dev_eui, &c) == STORE_OK &&
        (c.op == STORE_IDM_OP_RENEW || c.op == STORE_IDM_OP_TRANSFER) &&
        now_s(e) - se.updated_at > (int64_t)e->pol.deadline_s) {
        if (idm_ops_undo_update(e->hs, e->db, dev_eui, "never joined", "idm-ota", e2) == IDM_OK)
            logf_("%016llX: %s undone: no join on the new keys", (unsigned long long)dev_eui, store_idm_op_name(c.op));
        else
            logf_("%016llX: undoing the %s: %s", (unsigned long long)dev_eui, store_idm_op_name(c.op), e2);
        lw_secure_wipe(&se, sizeof se);
        return;
    }
    lw_secure_wipe(&se, sizeof se);
    /* No join yet: ask again after poll, 2 poll, 4 poll... seconds, at most
     * IDM_JOIN_CHECK_MAX_S (a new delivery starts the count again). A
     * failure to record it only means the next round asks again. */
    uint32_t first = e->pol.poll_s > 0 ? e->pol.poll_s : 1;
    int64_t due = 0;
    store_status st = store_idm_join_check_later(e->db, dev_eui, now_s(e), first,
                                                 first > IDM_JOIN_CHECK_MAX_S ? first : IDM_JOIN_CHECK_MAX_S, &due);
    if (st != STORE_OK)
        logf_("%016llX: the next customer-join check could not be recorded: %s (asked again next round)",
              (unsigned long long)dev_eui, store_strerror(st));
}

static void renew_by_age_one(idm_ota *e, uint64_t dev_eui)
{
    char e2[IDM_ERR_MAX];
    idm_status st = idm_renew(e->hs, e->db, dev_eui, NULL, &e->pol, "idm-policy", e2);
    if (st == IDM_OK)
        logf_("%016llX: keys older than max_key_age: renewal queued", (unsigned long long)dev_eui);
    else if (st != IDM_ERR_BUSY)
        logf_("%016llX: renewal by key age: %s", (unsigned long long)dev_eui, e2);
}

static void expired_one(idm_ota *e, uint64_t dev_eui)
{
    fail_delivery(e, dev_eui, "deadline");
}

/* The work lists of the store, one signature: `arg` is the list's own
 * parameter (which work, or a time). */
typedef enum work_list { WL_WORK, WL_JOIN_CHECK, WL_REDELIVER, WL_KEY_AGE, WL_EXPIRED } work_list;

static store_status list_page(store *db, work_list l, int64_t arg, const uint64_t *after, uint64_t *out, size_t *n)
{
    switch (l) {
    case WL_WORK:
        return store_idm_work_list(db, (store_idm_work)arg, after, out, IDM_OTA_WORK_PAGE, n);
    case WL_JOIN_CHECK:
        return store_idm_join_check_due(db, arg, after, out, IDM_OTA_WORK_PAGE, n);
    case WL_REDELIVER:
        return store_idm_redeliver_list(db, arg, after, out, IDM_OTA_WORK_PAGE, n);
    case WL_KEY_AGE:
        return store_idm_key_age_list(db, arg, after, out, IDM_OTA_WORK_PAGE, n);
    case WL_EXPIRED:
    default:
        return store_idm_cmd_expired(db, arg, after, out, IDM_OTA_WORK_PAGE, n);
    }
}

/* Acts on every SE of a work list, page by page, in one pass: an SE that
 * stays on the list (not possible now) is behind the cursor and waits for
 * the next tick, so the pass ends whatever the actions do. */
static idm_status each_of(idm_ota *e, work_list l, int64_t arg, work_fn act, uint64_t *page, const char *what,
                          char err[IDM_ERR_MAX])
{
    uint64_t after = 0;
    size_t n = 0;
    bool first = true;
    do {
        hold(e);
        store_status st = list_page(e->db, l, arg, first ? NULL : &after, page, &n);
        let_go(e);
        if (st != STORE_OK) {
            snprintf(err, IDM_ERR_MAX, "housekeeping: listing %s: %s", what, store_strerror(st));
            logf_("%s", err);
            return IDM_ERR_STORE;
        }
        for (size_t i = 0; i < n; i++) {
            /* one SE's step at a time under the shared lock: an uplink
             * waits for one step, never for a round */
            hold(e);
            /* an SE another instance works on now is its business this
             * round; this one sees it again next round if it still needs it */
            if (lease_take(e, page[i], false)) {
                act(e, page[i]);
                lease_give_back(e, page[i]);
            }
            let_go(e);
        }
        if (n > 0)
            after = page[n - 1];
        first = false;
    } while (n == IDM_OTA_WORK_PAGE);
    return IDM_OK;
}

/* The first failure of a tick is its answer (*rc, err); later ones are logged only. */
static void keep_first(idm_status st, const char e2[IDM_ERR_MAX], idm_status *rc, char err[IDM_ERR_MAX])
{
    if (st != IDM_OK && *rc == IDM_OK) {
        *rc = st;
        memcpy(err, e2, IDM_ERR_MAX);
    }
}

idm_status idm_ota_tick(idm_ota *e, char err[IDM_ERR_MAX])
{
    err[0] = '\0';
    uint64_t *page = malloc(IDM_OTA_WORK_PAGE * sizeof *page);
    if (page == NULL)
        return IDM_ERR_NOMEM;
    /* Each list runs even when one before it failed; the first error is
     * the tick's answer. */
    idm_status rc = IDM_OK;
    char e2[IDM_ERR_MAX];
    keep_first(each_of(e, WL_WORK, STORE_IDM_WORK_BOOTSTRAP, bootstrap_one, page, "bootstrap joins", e2), e2, &rc, err);
    if (e->pol.redeliver_after_s > 0)
        keep_first(each_of(e, WL_REDELIVER, now_s(e) - (int64_t)e->pol.redeliver_after_s, redeliver_one, page,
                           "redeliveries", e2),
                   e2, &rc, err);
    keep_first(each_of(e, WL_WORK, STORE_IDM_WORK_PROVISION, provision_one, page, "provisioning", e2), e2, &rc, err);
    keep_first(each_of(e, WL_WORK, STORE_IDM_WORK_RENEW_ACKED, renew_push_one, page, "acknowledged renewals", e2), e2,
               &rc, err);
    keep_first(each_of(e, WL_JOIN_CHECK, now_s(e), delivered_one, page, "delivered profiles", e2), e2, &rc, err);
    if (e->pol.max_key_age_s > 0)
        keep_first(each_of(e, WL_KEY_AGE, now_s(e) - (int64_t)e->pol.max_key_age_s, renew_by_age_one, page,
                           "keys by age", e2),
                   e2, &rc, err);
    hold(e);
    keep_first(idm_ops_cleanup(e->hs, e->db, e2), e2, &rc, err);
    let_go(e);
    keep_first(each_of(e, WL_EXPIRED, now_s(e), expired_one, page, "expired commands", e2), e2, &rc, err);
    free(page);
    return rc;
}

/*
 * se_mls.c - the secure element's MLS endpoint: reassembles commands from
 * the Identity Manager, opens them, acts, and sends back sealed responses
 * and events (docs/mls.md for the protocol, docs/se-commands.md for how the
 * host drives it).
 *
 * Exactly once: a command's counter, its effect on the profiles and the
 * counter of its sealed response are committed in ONE image write. If that
 * write fails, nothing happened and the Identity Manager's retransmission is
 * accepted as new; if it succeeded and the response was lost, the
 * retransmission is recognised (authentic, counter equal to the last one
 * accepted) and the same response is sent again instead of acting twice.
 *
 * Messages that do not open (bad tag, wrong direction or epoch, replay) are
 * dropped silently: answering them would give an attacker an oracle and
 * cost airtime.
 *
 * RAM: the endpoint owns two message buffers and no third. A command is
 * opened in place in the reassembly buffer (rx.buf) and a secure command
 * waits there for the application; a response or event is encoded and
 * sealed in place in the send buffer (tx.msg), where a secure reply also
 * accumulates. No message is ever copied to the stack.
 */
#include "se/se.h"
#include "se/se_internal.h"
#include "lorawan/lw_secure.h"
#include "mls/mls.h"
#include "mls/mls_cmd.h"

#include <string.h>

#define FRAG_TIMEOUT_S 3600u   /* a transfer without progress for an hour is abandoned */

void se_mls_reset(se *e)
{
    memset(&e->mls, 0, sizeof(e->mls));
    mls_frag_rx_init(&e->mls.rx, FRAG_TIMEOUT_S);
}

void se_set_time(se *e, uint32_t now)
{
    if (e != NULL)
        e->mls.now = now;
}

/* The session for `epoch`: the current one, or the pending one of a
 * rotation. *pending tells which. */
static se_status session_for_epoch(const se *e, uint8_t epoch, mls_session *s, bool *pending)
{
    const se_state *st = &e->st;
    lw_key root;
    uint32_t tx_next, rx_last;
    if (epoch == st->mls_epoch) {
        *pending = false;
        if (se_load_key(&root, st->mls_root_key) != SE_OK)
            return SE_ERR_CRYPTO;
        tx_next = st->mls_up_counter;
        rx_last = st->mls_down_counter;
    } else if (st->has_mls_next && epoch == (uint8_t)(st->mls_epoch + 1)) {
        *pending = true;
        if (se_load_key(&root, st->mls_next_root_key) != SE_OK)
            return SE_ERR_CRYPTO;
        tx_next = 1;
        rx_last = 0;
    } else {
        return SE_ERR_REPLAY;   /* an epoch we have no key for */
    }
    mls_status ms = mls_session_init(s, e->crypto, MLS_ROLE_SE, &root, st->dev_eui, epoch, tx_next, rx_last);
    lw_key_wipe(&root);
    return ms == MLS_OK ? SE_OK : SE_ERR_CRYPTO;
}

static uint8_t result_of(se_status st)
{
    switch (st) {
    case SE_OK: return MLS_R_OK;
    case SE_ERR_MIC: return MLS_R_UNWRAP_FAILED;
    case SE_ERR_NO_SPACE: return MLS_R_NO_SPACE;
    case SE_ERR_NO_PROFILE: return MLS_R_NO_PROFILE;
    case SE_ERR_STATE: return MLS_R_BAD_STATE;
    case SE_ERR_ARGUMENT: return MLS_R_UNSUPPORTED;
    default: return MLS_R_INTERNAL;
    }
}

static uint8_t se_mac_of(uint8_t mls_mac)
{
    switch (mls_mac) {
    case MLS_MAC_1_1: return SE_MAC_1_1;
    case MLS_MAC_1_0_4: return SE_MAC_1_0_4;
    default: return SE_MAC_1_0_3;   /* 1.0.0-1.0.3: JoinNonce only has to differ */
    }
}

static void fill_status(const se_state *st, mls_se_status *out)
{
    out->state = st->active_slot == SE_SLOT_BOOTSTRAP ? 0 : 1;
    out->active_profile = st->profiles[st->active_slot].id;
    out->staged_profile = st->staged_slot == SE_NO_SLOT ? 0 : st->profiles[st->staged_slot].id;
    out->pending_event = st->event_id;
}

/* Applies command *c to `next` (keys it carries are unwrapped under `kek`,
 * the session's downlink wrap key) and fills the response's result. True when
 * it succeeded; false when it failed as a whole, and then `next` is half
 * changed and the caller starts it again from the element's state (a copy
 * here would cost a second state on the stack). */
SE_NOINLINE static bool execute(se *e, se_state *next, const lw_key *kek, const mls_cmd *c, mls_rsp *rsp)
{
    se_status st = SE_OK;
    switch (c->type) {
    case MLS_T_STATUS:
        if (c->u.status.ack_event != 0 && c->u.status.ack_event == next->event_id)
            next->event_id = 0;
        else if (c->u.status.ack_event != next->event_id)
            e->mls.event_sent = 0;   /* the IDM has not seen it: send it again */
        break;
    case MLS_T_INSTALL: {
        const mls_profile_install *in = &c->u.install;
        if (in->max_silence_hours != 0 || in->max_join_attempts > 255) {
            st = SE_ERR_ARGUMENT;   /* reported as unsupported */
            break;
        }
        se_profile_install p = {.id = in->profile_id, .dev_eui = in->dev_eui, .join_eui = in->join_eui,
                                .mac_version = se_mac_of(in->mac_version),
                                .max_join_attempts = (uint8_t)in->max_join_attempts};
        memcpy(p.nwk_key_wrapped, in->nwk_key_wrapped, SE_WRAPPED_KEY_LEN);
        memcpy(p.app_key_wrapped, in->app_key_wrapped, SE_WRAPPED_KEY_LEN);
        st = se_profile_apply_stage(e->crypto, next, kek, &p);
        if (st == SE_OK && (in->flags & MLS_INSTALL_ACTIVATE_NOW))
            st = se_profile_check_activate(next, in->profile_id);
        if (st == SE_OK && (in->flags & MLS_INSTALL_ACTIVATE_NOW))
            next->switch_pending = SE_SWITCH_ACTIVATE;
        LW_WIPE(p);
        break;
    }
    case MLS_T_ACTIVATE:
        /* The switch waits for the answer to leave over this network. */
        st = se_profile_check_activate(next, c->u.activate.profile_id);
        if (st == SE_OK)
            next->switch_pending = SE_SWITCH_ACTIVATE;
        break;
    case MLS_T_DELETE:
        st = se_profile_apply_delete(next, c->u.remove.profile_id);
        break;
    case MLS_T_RENEW:
        st = se_profile_apply_renew(e->crypto, next, kek, c->u.renew.profile_id,
                                    c->u.renew.nwk_key_wrapped, c->u.renew.app_key_wrapped);
        break;
    case MLS_T_ROTATE:
        if (c->u.rotate.new_epoch != (uint8_t)(next->mls_epoch + 1)) {
            st = SE_ERR_ARGUMENT;
            break;
        }
        st = se_unwrap_key(e->crypto, kek, c->u.rotate.root_wrapped, next->mls_next_root_key);
        if (st == SE_OK)
            next->has_mls_next = true;
        break;
    case MLS_T_BOOTSTRAP:
        next->switch_pending = (c->u.bootstrap.flags & MLS_BOOTSTRAP_ERASE) ? SE_SWITCH_BOOTSTRAP_ERASE
                                                                              : SE_SWITCH_BOOTSTRAP;
        break;
    default:
        rsp->result = MLS_R_UNKNOWN_COMMAND;
        return true;   /* nothing was changed */
    }
    rsp->result = result_of(st);
    if (st == SE_OK && c->type == MLS_T_STATUS)
        fill_status(next, &rsp->u.status);
    return st == SE_OK;
}

/* Starts sending the first len bytes of the send buffer (a message sealed
 * there); the fragment size follows the frame size the host gave last
 * (51 bytes, DR0 in EU868, until it says otherwise). */
static void start_tx(se *e, size_t len, size_t frame_max)
{
    uint8_t id = e->mls.next_msg_id;
    e->mls.next_msg_id = (uint8_t)((e->mls.next_msg_id + 1) & MLS_FRAG_ID_MAX);
    e->mls.tx_active =
        mls_frag_tx_start(&e->mls.tx, id, e->mls.tx.msg, len, frame_max, e->mls.now, FRAG_TIMEOUT_S) == MLS_OK;
}

static size_t default_frame(void)
{
    return 51;
}

/* Empties the send buffer: whatever it held is abandoned. */
static void drop_tx(se *e)
{
    lw_secure_wipe(&e->mls.tx, sizeof(e->mls.tx));
    e->mls.tx_active = false;
    e->mls.last_cmd_counter = 0;
}

/* Seals the body already encoded at tx.msg + MLS_HEADER_LEN (blen bytes) as
 * a message of `type`, in place; the caller commits s->tx_next. */
static se_status seal_in_place(se *e, mls_session *s, uint8_t type, size_t blen, size_t *mlen)
{
    uint8_t *msg = e->mls.tx.msg;
    return mls_seal(s, type, msg + MLS_HEADER_LEN, blen, msg, sizeof(e->mls.tx.msg), mlen) == MLS_OK
               ? SE_OK
               : SE_ERR_CRYPTO;
}

/* Encodes and seals `rsp` in the send buffer with `s`; next's uplink
 * counter becomes the session's. *mlen: the sealed length. */
static se_status seal_response(se *e, se_state *next, mls_session *s, const mls_rsp *rsp, size_t *mlen)
{
    size_t blen = 0;
    e->mls.tx_active = false;
    se_status st = mls_rsp_encode(rsp, e->mls.tx.msg + MLS_HEADER_LEN, MLS_BODY_MAX, &blen) == MLS_OK ? SE_OK
                                                                                                     : SE_ERR_CRYPTO;
    if (st == SE_OK)
        st = seal_in_place(e, s, (uint8_t)(MLS_T_RESPONSE | rsp->type), blen, mlen);
    if (st == SE_OK)
        next->mls_up_counter = s->tx_next;
    return st;
}

/* Commits `next` (the command's counter, its effects and the response's
 * counter, all at once) and queues the response sealed in the send buffer;
 * on failure the send buffer is emptied. `next` is wiped either way. */
static se_status commit_and_send(se *e, se_state *next, se_status sealed, size_t mlen, uint32_t cmd_counter)
{
    se_status st = sealed;
    if (st == SE_OK)
        st = se_commit(e, next);
    else
        se_state_wipe(next);
    if (st == SE_OK) {
        start_tx(e, mlen, default_frame());
        e->mls.last_cmd_counter = cmd_counter;
    } else {
        drop_tx(e);
    }
    return st;
}

/* What every accepted command commits, whatever it does: its counter, and
 * the rotation when it is the first message under the next epoch's key. */
static void accept_into(se_state *next, bool pending, uint32_t counter)
{
    if (pending) {
        memcpy(next->mls_root_key, next->mls_next_root_key, 16);
        lw_secure_wipe(next->mls_next_root_key, 16);
        next->has_mls_next = false;
        next->mls_epoch = (uint8_t)(next->mls_epoch + 1);
        next->mls_up_counter = 1;
    }
    next->mls_down_counter = counter;
}

/* What opening a complete downlink message led to. */
typedef enum opened_as {
    OPENED_NOTHING,    /* dropped */
    OPENED_SECURE,     /* a secure command, to hold for the application */
    OPENED_REPEAT,     /* a command answered before: send its response again */
    OPENED_COMMAND     /* a command to execute and answer */
} opened_as;

/* What the opening hands on: small, so that it can sit under the frames that
 * hold a state copy. */
typedef struct opened_msg {
    uint8_t type;          /* the header's message type */
    uint8_t epoch;
    bool pending;          /* the first message under the next epoch's key */
    uint32_t counter;
    bool decoded;          /* cmd holds the decoded body */
    mls_cmd cmd;
    lw_key kek;            /* the session's downlink wrap key, for keys in cmd */
} opened_msg;

/* Opens msg[len] in place with the session of its epoch and decodes it into
 * *o. Out of line on purpose: the session's five keys are off the stack
 * before a state copy is made. */
SE_NOINLINE static opened_as open_command(se *e, uint8_t *msg, size_t len, opened_msg *o)
{
    mls_header h, opened;
    if (mls_header_parse(msg, len, &h) != MLS_OK) {
        e->mls.rejected++;
        return OPENED_NOTHING;
    }
    mls_session s;
    if (session_for_epoch(e, h.epoch, &s, &o->pending) != SE_OK) {
        e->mls.rejected++;
        return OPENED_NOTHING;
    }
    size_t blen = 0;
    uint8_t *body = msg + MLS_HEADER_LEN;
    mls_status ms = mls_open(&s, msg, len, &opened, body, len - MLS_HEADER_LEN, &blen);
    opened_as result = OPENED_COMMAND;
    if (ms == MLS_ERR_REPLAY && h.counter == e->st.mls_down_counter && h.counter == e->mls.last_cmd_counter &&
        e->mls.tx.len > 0 && !o->pending) {
        /* The Identity Manager repeats a command whose response it missed:
         * the same response again (still in the send buffer), not the
         * action. */
        result = OPENED_REPEAT;
    } else if (ms != MLS_OK || mls_accept_counter(&s, h.counter) != MLS_OK) {
        e->mls.rejected++;
        result = OPENED_NOTHING;
    } else {
        o->type = h.type;
        o->epoch = h.epoch;
        o->counter = h.counter;
        o->decoded = mls_cmd_decode(h.type, body, blen, &o->cmd) == MLS_OK;
        if (o->decoded && o->cmd.type == MLS_T_SECURE) {
            /* Held for the application where it is, in the reassembly
             * buffer. */
            e->mls.secure_len = o->cmd.u.secure.len;
            result = OPENED_SECURE;
        } else {
            o->kek = s.keys.wrap_down;
            lw_secure_wipe(msg, len);   /* decoded: the plaintext goes */
        }
    }
    mls_session_end(&s);
    return result;
}

/* Seals `rsp` in the send buffer with the session of `epoch` (derived again:
 * cheaper in RAM than keeping it); next's uplink counter follows. */
SE_NOINLINE static se_status seal_in_epoch(se *e, uint8_t epoch, se_state *next, const mls_rsp *rsp, size_t *mlen)
{
    mls_session s;
    bool pending = false;
    se_status st = session_for_epoch(e, epoch, &s, &pending);
    if (st == SE_OK)
        st = seal_response(e, next, &s, rsp, mlen);
    mls_session_end(&s);
    return st;
}

/* Executes an opened command on a state copy, seals its response, and
 * commits the counter, the effect and the response's counter at once. */
SE_NOINLINE static void execute_and_answer(se *e, const opened_msg *o)
{
    se_state next = e->st;
    accept_into(&next, o->pending, o->counter);
    mls_rsp rsp;
    memset(&rsp, 0, sizeof(rsp));
    rsp.type = o->type;
    rsp.req_counter = o->counter;
    if (!o->decoded) {
        rsp.result = (o->type >= MLS_T_STATUS && o->type <= MLS_T_BOOTSTRAP) ? MLS_R_MALFORMED
                                                                           : MLS_R_UNKNOWN_COMMAND;
        if (rsp.result == MLS_R_UNKNOWN_COMMAND)
            rsp.type = MLS_T_STATUS;   /* answer on a type the peer can parse */
    } else if (!execute(e, &next, &o->kek, &o->cmd, &rsp)) {
        /* The command failed as a whole: only its counter is committed. */
        se_state_wipe(&next);
        next = e->st;
        accept_into(&next, o->pending, o->counter);
    }
    size_t mlen = 0;
    se_status sealed = seal_in_epoch(e, o->epoch, &next, &rsp, &mlen);
    (void)commit_and_send(e, &next, sealed, mlen, o->counter);
    LW_WIPE(rsp);
}

/* Commits the counter of a secure command, which then waits for the
 * application (its response is sealed when it answers). */
SE_NOINLINE static void hold_secure(se *e, const opened_msg *o)
{
    se_state next = e->st;
    accept_into(&next, o->pending, o->counter);
    if (se_commit(e, &next) == SE_OK) {
        e->mls.secure_state = SE_SECURE_HELD;
        e->mls.secure_counter = o->counter;
    }
}

/* A complete downlink message msg[len], in the reassembly buffer. */
static void process_message(se *e, uint8_t *msg, size_t len)
{
    opened_msg o;
    memset(&o, 0, sizeof(o));
    opened_as r = open_command(e, msg, len, &o);
    switch (r) {
    case OPENED_REPEAT:
        start_tx(e, e->mls.tx.len, default_frame());
        break;
    case OPENED_SECURE:
        hold_secure(e, &o);
        break;
    case OPENED_COMMAND:
        execute_and_answer(e, &o);
        break;
    case OPENED_NOTHING:
        break;
    }
    if (r >= OPENED_REPEAT)
        e->mls.ack_pending = !e->mls.tx_active;
    LW_WIPE(o);   /* the wrap key */
}

se_status se_mls_push(se *e, const uint8_t *frame, size_t len)
{
    if (e == NULL || frame == NULL || len == 0)
        return SE_ERR_ARGUMENT;
    if (frame[0] & MLS_FRAG_ACK_BIT) {
        /* An ack for another message or a malformed one changes nothing. */
        if (e->mls.tx_active && mls_frag_tx_ack(&e->mls.tx, frame, len, e->mls.now) != MLS_OK)
            e->mls.rejected++;
        return SE_OK;
    }
    int complete = 0;
    if (mls_frag_rx_push(&e->mls.rx, frame, len, e->mls.now, &complete) != MLS_OK)
        return SE_OK;   /* a malformed or inconsistent fragment changes nothing */
    e->mls.ack_pending = true;
    if (e->mls.secure_state == SE_SECURE_HELD && !mls_frag_rx_holds(&e->mls.rx, e->mls.rx.buf))
        e->mls.secure_state = SE_SECURE_NONE;   /* a new message took the buffer: the IDM moved on */
    uint8_t *msg = NULL;
    size_t mlen = 0;
    if (complete && mls_frag_rx_take_in_place(&e->mls.rx, &msg, &mlen) == MLS_OK) {
        if (e->mls.secure_state == SE_SECURE_REPLYING) {
            /* The IDM moved on: the reply being built in the send buffer,
             * which this message's answer needs, is abandoned. */
            e->mls.secure_state = SE_SECURE_NONE;
            drop_tx(e);
        }
        process_message(e, msg, mlen);
    }
    return SE_OK;
}

/* Seals the pending fallback event in the send buffer, once per boot until
 * acknowledged. Not while a secure reply accumulates there. */
static void queue_event(se *e)
{
    se_state *st = &e->st;
    if (st->event_id == 0 || e->mls.event_sent == st->event_id || e->mls.secure_state == SE_SECURE_REPLYING)
        return;
    mls_event ev = {.event_id = st->event_id, .code = MLS_EVENT_FALLBACK, .profile_id = st->fallback_profile_id,
                    .reason = st->fallback_reason, .join_attempts = st->fallback_attempts};
    size_t blen = 0, mlen = 0;
    mls_session s;
    bool pending = false;
    if (mls_event_encode(&ev, e->mls.tx.msg + MLS_HEADER_LEN, MLS_BODY_MAX, &blen) != MLS_OK ||
        session_for_epoch(e, st->mls_epoch, &s, &pending) != SE_OK)
        return;
    se_state next = e->st;
    if (seal_in_place(e, &s, MLS_T_EVENT, blen, &mlen) == SE_OK) {
        next.mls_up_counter = s.tx_next;
        if (se_commit(e, &next) == SE_OK) {
            start_tx(e, mlen, default_frame());
            e->mls.event_sent = e->st.event_id;
            e->mls.last_cmd_counter = 0;
        } else {
            drop_tx(e);
        }
    } else {
        se_state_wipe(&next);
        drop_tx(e);
    }
    mls_session_end(&s);
}

se_status se_mls_next_uplink(se *e, size_t frame_max, uint8_t *out, size_t *out_len)
{
    se_status st = se_require_operational(e);
    if (st != SE_OK)
        return st;
    if (out == NULL || out_len == NULL || frame_max < MLS_FRAG_FRAME_MIN || frame_max > MLS_FRAG_FRAME_MAX)
        return SE_ERR_ARGUMENT;
    *out_len = 0;
    if (mls_frag_rx_poll(&e->mls.rx, e->mls.now) != MLS_OK)
        e->mls.ack_pending = false;   /* the half-received message expired */
    if (e->mls.tx_active && mls_frag_tx_poll(&e->mls.tx, e->mls.now) != MLS_OK)
        e->mls.tx_active = false;
    if (e->mls.tx_active && mls_frag_tx_done(&e->mls.tx))
        e->mls.tx_active = false;
    if (!e->mls.tx_active && e->st.switch_pending != SE_SWITCH_NONE) {
        /* The answer is out (or abandoned): now change networks. The host
         * sees "not joined" in GET INFO and joins. */
        se_state next = e->st;
        (void)se_profile_apply_switch(&next);
        st = se_commit(e, &next);
        if (st != SE_OK)
            return st;
        e->pending.active = false;
    }

    if (e->mls.ack_pending) {
        if (mls_frag_rx_ack(&e->mls.rx, frame_max, out, out_len) == MLS_OK) {
            e->mls.ack_pending = false;
            return SE_OK;
        }
        e->mls.ack_pending = false;
    }
    if (!e->mls.tx_active)
        queue_event(e);
    if (!e->mls.tx_active)
        return SE_OK;

    mls_status ms = mls_frag_tx_next(&e->mls.tx, frame_max, out, out_len);
    if (ms == MLS_ERR_FRAG_FRAME) {
        /* The data rate dropped below the fragment size: start over smaller. */
        start_tx(e, e->mls.tx.len, frame_max);
        ms = e->mls.tx_active ? mls_frag_tx_next(&e->mls.tx, frame_max, out, out_len) : MLS_ERR_FRAG_STATE;
    }
    if (ms == MLS_OK && *out_len == 0 && !mls_frag_tx_done(&e->mls.tx)) {
        /* Everything sent, no ack yet: resend what is not acknowledged. */
        mls_frag_tx_rewind(&e->mls.tx);
        ms = mls_frag_tx_next(&e->mls.tx, frame_max, out, out_len);
    }
    return ms == MLS_OK ? SE_OK : SE_ERR_CRYPTO;
}

se_status se_secure_command(const se *e, const uint8_t **cmd, size_t *len)
{
    if (e == NULL || cmd == NULL || len == NULL)
        return SE_ERR_ARGUMENT;
    if (e->mls.secure_state != SE_SECURE_HELD)
        return SE_ERR_STATE;
    *cmd = e->mls.rx.buf + MLS_HEADER_LEN;   /* the command's body is its bytes */
    *len = e->mls.secure_len;
    return SE_OK;
}

/* Where a secure reply is built: at its place in the response that will be
 * sealed around it (header, then the response's 5-byte head). */
static uint8_t *reply_area(se *e)
{
    return e->mls.tx.msg + MLS_HEADER_LEN + (MLS_BODY_MAX - MLS_SECURE_MAX);
}

se_status se_secure_reply_append(se *e, const uint8_t *chunk, size_t len)
{
    if (e == NULL || (chunk == NULL && len > 0))
        return SE_ERR_ARGUMENT;
    if (e->mls.secure_state == SE_SECURE_NONE)
        return SE_ERR_STATE;
    bool first = e->mls.secure_state == SE_SECURE_HELD;
    if (first) {
        /* The send buffer takes the reply (whatever it still held was
         * answered before the IDM sent this command). */
        drop_tx(e);
        e->mls.secure_state = SE_SECURE_REPLYING;
        e->mls.secure_len = 0;
    }
    if (len > MLS_SECURE_MAX - e->mls.secure_len)
        return SE_ERR_LENGTH;
    if (len > 0)   /* an empty last chunk (SECURE REPLY without data) appends nothing */
        memmove(reply_area(e) + e->mls.secure_len, chunk, len);
    e->mls.secure_len += len;
    if (first && mls_frag_rx_holds(&e->mls.rx, e->mls.rx.buf))
        lw_secure_wipe(e->mls.rx.buf, sizeof(e->mls.rx.buf));   /* the command, read by now (chunk may be it) */
    return SE_OK;
}

se_status se_secure_reply_finish(se *e, bool accepted)
{
    se_status st = se_require_operational(e);
    if (st != SE_OK)
        return st;
    if (e->mls.secure_state == SE_SECURE_NONE)
        return SE_ERR_STATE;
    if (e->mls.secure_state == SE_SECURE_HELD && (st = se_secure_reply_append(e, NULL, 0)) != SE_OK)
        return st;
    mls_rsp rsp;
    memset(&rsp, 0, sizeof(rsp));
    rsp.type = MLS_T_SECURE;
    rsp.req_counter = e->mls.secure_counter;
    rsp.result = accepted ? MLS_R_OK : MLS_R_REJECTED;
    if (accepted) {
        rsp.u.secure.len = (uint16_t)e->mls.secure_len;
        rsp.u.secure.data = reply_area(e);   /* encoded where it already is */
    }
    mls_session s;
    bool pending = false;
    st = session_for_epoch(e, e->st.mls_epoch, &s, &pending);
    if (st == SE_OK) {
        se_state next = e->st;
        size_t mlen = 0;
        se_status sealed = seal_response(e, &next, &s, &rsp, &mlen);
        st = commit_and_send(e, &next, sealed, mlen, e->mls.secure_counter);
        mls_session_end(&s);
    }
    /* Done, or failed: the reply was sealed where it was built, so it is
     * gone either way; after a failure the application sends it again, from
     * its first chunk (the command stays answerable). */
    e->mls.secure_len = 0;
    if (st == SE_OK)
        e->mls.secure_state = SE_SECURE_NONE;
    LW_WIPE(rsp);
    return st;
}

se_status se_secure_reply(se *e, bool accepted, const uint8_t *reply, size_t len)
{
    se_status st = se_require_operational(e);
    if (st != SE_OK)
        return st;
    if (e->mls.secure_state == SE_SECURE_NONE)
        return SE_ERR_STATE;
    if (len > MLS_SECURE_MAX || (len > 0 && reply == NULL))
        return SE_ERR_ARGUMENT;
    if (e->mls.secure_state == SE_SECURE_REPLYING)
        e->mls.secure_len = 0;   /* the whole reply at once replaces chunks */
    st = se_secure_reply_append(e, reply, accepted ? len : 0);
    return st == SE_OK ? se_secure_reply_finish(e, accepted) : st;
}

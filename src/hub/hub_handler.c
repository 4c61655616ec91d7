/*
 * hub_handler.c - one POSTed message: read the header, authenticate the
 * member, find the route, forward, hand back the receiver's answer.
 *
 * The order of the checks decides what a sender learns: a body that is not
 * a BI message is refused before anyone is authenticated (it names
 * nobody); an unauthenticated sender learns nothing about routes (the
 * UnknownSender answer comes before the route lookup). The body is passed
 * on as received, never re-encoded: the hub reads its header and nothing
 * else, so what the receiver gets is byte for byte what the sender signed
 * off, wrapped keys included.
 *
 * Answers travel the same way: an answer POSTed on its own (TS002's
 * asynchronous mode, e.g. a Join Server's JoinAns to a network server that
 * took its JoinReq with an empty 200) is routed to its ReceiverID like a
 * request, and an empty 2xx from a receiver is passed back as it came.
 *
 * Refusals of a request are BI answers from the hub (HTTP 200, as ferry's
 * Join Server and The Things Stack answer errors); refusals of an answer
 * or a notification cannot be BI answers (nobody answers an answer) and
 * are plain-text HTTP errors.
 */
#include "hub/hub.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *const outcome_names[HUB_OUTCOME_COUNT] = {
    [HUB_FORWARDED] = "forwarded",
    [HUB_MALFORMED] = "malformed",
    [HUB_TOO_LARGE] = "too_large",
    [HUB_UNKNOWN_SENDER] = "unknown_sender",
    [HUB_UNKNOWN_RECEIVER] = "unknown_receiver",
    [HUB_UNREACHABLE] = "unreachable",
};

const char *hub_outcome_name(hub_outcome o)
{
    return (unsigned)o < HUB_OUTCOME_COUNT ? outcome_names[o] : "?";
}

static void text(hub_reply *r, unsigned status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void text(hub_reply *r, unsigned status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(r->body, sizeof(r->body), fmt, ap);
    va_end(ap);
    r->http_status = status;
    r->content_type = "text/plain";
    r->len = n < 0 ? 0 : (size_t)n < sizeof(r->body) ? (size_t)n : sizeof(r->body) - 1;
}

static void note(hub_reply *r, const char *s)
{
    snprintf(r->note, sizeof(r->note), "%s", s);
}

/* The hub's own BI answer to request `req`. */
static void answer(hub_reply *r, const bi_header *req, bi_result_code code, const char *why)
{
    size_t n = 0;
    bi_status st = bi_error_answer_build(req, code, why, r->body, sizeof(r->body), &n);
    note(r, why);
    if (st != BI_OK) {
        text(r, 500, "the hub could not build its answer: %s\n", bi_strerror(st));
        return;
    }
    r->http_status = 200;
    r->content_type = "application/json";
    r->len = n;
    r->has_result = true;
    r->result = code;
}

static double since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Whose credentials these are, when they are not the claimed member's:
 * only for the Description (the refusal is the same either way). */
static const hub_member *credential_owner(hub_ctx *ctx, const hub_auth *auth)
{
    for (size_t i = 0; i < ctx->cfg->n_members; i++)
        if (hub_member_authenticated(ctx, &ctx->cfg->members[i], auth))
            return &ctx->cfg->members[i];
    return NULL;
}

static bool authenticate(hub_ctx *ctx, const hub_auth *auth, const bi_id *sender, char why[BI_DESCRIPTION_MAX + 1])
{
    const hub_member *m = hub_member_find(ctx->cfg, sender);
    if (m != NULL && hub_member_authenticated(ctx, m, auth))
        return true;
    const hub_member *other = credential_owner(ctx, auth);
    if (other != NULL)
        snprintf(why, BI_DESCRIPTION_MAX + 1, "SenderID %.64s: these credentials are member %.64s's; a member speaks only for itself",
                 sender->raw, other->id.raw);
    else if (m == NULL)
        snprintf(why, BI_DESCRIPTION_MAX + 1, "SenderID %.64s is not a member of this hub", sender->raw);
    else
        snprintf(why, BI_DESCRIPTION_MAX + 1, "SenderID %.64s: bearer token or client certificate missing or wrong",
                 sender->raw);
    return false;
}

/* The receiver's answer: its ResultCode for the metrics, and a note when it
 * does not answer the request (passed on all the same: the sender decides). */
static void read_answer(hub_reply *r, const bi_header *req)
{
    bi_relay_msg a;
    bi_error e;
    bi_message_type want;
    if (r->len == 0 && r->http_status >= 200 && r->http_status <= 299) {
        /* TS002's asynchronous mode: the HTTP answer only acknowledges;
         * the receiver POSTs its answer later, which the hub routes to
         * its ReceiverID like any message */
        note(r, "acknowledged without a body: the answer comes asynchronously");
        return;
    }
    if (bi_relay_parse(r->body, r->len, &a, &e) != BI_OK) {
        if (r->http_status == 200)
            note(r, "the receiver's answer is not a BI message");
        return;
    }
    r->has_result = a.has_result;
    r->result = a.result;
    if (bi_message_type_answer(req->message_type, &want) == BI_OK &&
        (a.hdr.message_type != want || a.hdr.transaction_id != req->transaction_id))
        note(r, "the receiver's answer does not match the request (MessageType or TransactionID)");
}

void hub_route_message(hub_ctx *ctx, const hub_auth *auth, const char *body, size_t len, hub_reply *r)
{
    /* everything but the 65 KiB body, which is written before it is read */
    memset(r, 0, offsetof(hub_reply, body));
    memset((char *)r + offsetof(hub_reply, has_type), 0, sizeof(*r) - offsetof(hub_reply, has_type));
    r->body[0] = '\0';
    r->outcome = HUB_MALFORMED;
    if (len > BI_BODY_MAX) {
        r->outcome = HUB_TOO_LARGE;
        text(r, 413, "body larger than %u bytes\n", BI_BODY_MAX);
        return;
    }
    bi_relay_msg m;
    bi_error e;
    bi_status st = bi_relay_parse(body, len, &m, &e);
    if (st == BI_OK || e.answerable) {
        r->has_type = true;
        r->type = m.hdr.message_type;
        snprintf(r->sender, sizeof(r->sender), "%s", m.hdr.sender_id.raw);
        snprintf(r->receiver, sizeof(r->receiver), "%s", m.hdr.receiver_id.raw);
    }
    if (st != BI_OK) {
        if (e.answerable) {
            answer(r, &m.hdr, bi_error_result_code(&e), e.description);
        } else {
            note(r, e.description);
            text(r, 400, "not a Backend Interfaces message the hub can route: %s\n", e.description);
        }
        return;
    }
    bool request = bi_message_type_is_request(m.hdr.message_type);
    char why[BI_DESCRIPTION_MAX + 1];
    if (!authenticate(ctx, auth, &m.hdr.sender_id, why)) {
        r->outcome = HUB_UNKNOWN_SENDER;
        if (request)
            answer(r, &m.hdr, BI_RESULT_UNKNOWN_SENDER, why);
        else {
            note(r, why);
            text(r, 403, "%s\n", why);
        }
        return;
    }
    const hub_route *route = hub_route_find(ctx->cfg, &m.hdr.receiver_id);
    if (route == NULL) {
        r->outcome = HUB_UNKNOWN_RECEIVER;
        snprintf(why, sizeof(why), "ReceiverID %.64s: no route at this hub", m.hdr.receiver_id.raw);
        if (request)
            answer(r, &m.hdr, BI_RESULT_UNKNOWN_RECEIVER, why);
        else {
            note(r, why);
            text(r, 404, "%s\n", why);
        }
        return;
    }
    const char *bearer = hub_route_bearer(ctx->cfg, route, &m.hdr.sender_id);
    char io_why[200] = "";
    unsigned status = 0;
    size_t n = 0;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    hub_status hs = ctx->io.forward == NULL ? HUB_ERR_IO
                                            : ctx->io.forward(ctx->io.user, route, bearer, body, len, r->body,
                                                              sizeof(r->body), &n, &status, io_why);
    r->forward_seconds = since(&t0);
    if (hs != HUB_OK) {
        r->outcome = HUB_UNREACHABLE;
        /* the sender learns that the receiver did not answer, not where
         * the hub looked for it; the log has the URL */
        snprintf(why, sizeof(why), "the receiver of %.64s is unreachable: %.150s", m.hdr.receiver_id.raw,
                 io_why[0] ? io_why : hub_strerror(hs));
        if (request)
            answer(r, &m.hdr, BI_RESULT_OTHER, why);
        else
            text(r, 502, "%s\n", why);
        snprintf(r->note, sizeof(r->note), "%.100s (%.140s)", why, route->url);
        return;
    }
    r->outcome = HUB_FORWARDED;
    r->http_status = status;
    r->len = n < sizeof(r->body) ? n : sizeof(r->body) - 1;
    r->body[r->len] = '\0';
    r->content_type = r->len > 0 && r->body[0] == '{' ? "application/json" : "text/plain";
    if (request)
        read_answer(r, &m.hdr);
}

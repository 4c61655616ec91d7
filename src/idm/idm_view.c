/*
 * idm_view.c - the console's reads (idm_view.h):
 *
 *   GET /api/v1/me                          who the token is
 *   GET /api/v1/ses?state=&claim=&js=&prefix=&sort=&order=&cursor=&limit=
 *   GET /api/v1/ses/{DevEUI}/history?cursor=&limit=
 *   GET /api/v1/commands?cursor=&limit=
 *   GET /api/v1/joinservers
 *   GET /api/v1/overview                    counts per state, events per hour
 *   GET /api/v1/operator                    an operator's counters
 *
 * Why a row is checked again after a query that already narrowed it to
 * the caller: the one place that decides who sees an SE is idm_authorize,
 * and a list is an entry point like any other. A query that drifted from
 * the table (a scope written wrong) then shows fewer rows, never another
 * tenant's. The cursor is the last row of the store's page, so a page
 * thinned by the check still leads to the next one.
 */
#include "idm/idm_view.h"
#include "idm/idm_access.h"
#include "idm/idm_serve_ops.h"
#include "lorawan/lw_secure.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A response under construction: a status and a document. */
typedef struct answer {
    unsigned status;
    json_t *doc;
} answer;

static void fail(answer *a, unsigned status, const char *msg)
{
    json_decref(a->doc);
    a->status = status;
    a->doc = json_pack("{s:s}", "Error", msg);
}

static void eui_text(uint64_t v, char out[17])
{
    snprintf(out, 17, "%016llX", (unsigned long long)v);
}

static bool parse_eui(const char *s, uint64_t *out)
{
    uint8_t b[8];
    if (s == NULL || strlen(s) != 16 || lw_hex_decode(s, 16, b, sizeof b) != LW_OK)
        return false;
    *out = 0;
    for (size_t i = 0; i < sizeof b; i++)
        *out = *out << 8 | b[i];
    return true;
}

/* `limit`: absent = IDM_VIEW_PAGE_DEFAULT; 1..IDM_VIEW_PAGE_MAX. */
static bool page_limit(idm_view_query_fn q, void *qctx, size_t *limit, answer *a)
{
    const char *t = q(qctx, "limit");
    *limit = IDM_VIEW_PAGE_DEFAULT;
    if (t == NULL)
        return true;
    char *end = NULL;
    long v = strtol(t, &end, 10);
    if (end == t || *end != '\0' || v < 1 || v > IDM_VIEW_PAGE_MAX) {
        char msg[96];
        snprintf(msg, sizeof msg, "limit: a number from 1 to %d (the largest page)", IDM_VIEW_PAGE_MAX);
        fail(a, 400, msg);
        return false;
    }
    *limit = (size_t)v;
    return true;
}

static store_idm_scope scope_of(const idm_viewer *v)
{
    return v->actor.kind == IDM_ACTOR_MAKER ? STORE_IDM_SCOPE_MAKER : STORE_IDM_SCOPE_HOLDER;
}

/* The facts idm_authorize decides on, from a listed row (as idm_facts_read
 * reads them from the SE and its claim). */
static void subject_of(const store_idm_se_row *r, idm_subject *s)
{
    memset(s, 0, sizeof *s);
    s->exists = true;
    s->state = r->state;
    s->maker = r->maker;
    s->holder = r->claim == STORE_IDM_CLAIM_CLAIMED ? r->tenant_id : "";
    s->leaving = r->op == STORE_IDM_OP_TRANSFER ? r->prev_tenant_id : "";
    s->cmd_origin = "";
}

/* ---------------------------------------------------------------- GET /api/v1/ses */

static json_t *se_json(const store_idm_se_row *r)
{
    char eui[17];
    eui_text(r->dev_eui, eui);
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:I,s:i}", "DevEUI", eui, "State", idm_state_name(r->state),
                     "Claim", store_idm_claim_state_name(r->claim), "Tenant",
                     r->claim == STORE_IDM_CLAIM_CLAIMED ? r->tenant_id : "", "JoinServer", r->js_id, "Update",
                     store_idm_op_name(r->op), "PendingCommands", (json_int_t)r->pending, "LastEventAt",
                     (json_int_t)r->updated_at, "ProfileID", (int)r->profile_id);
}

/* `sort` (dev_eui, state, last_event, join_server; absent: dev_eui) and
 * `order` (asc, desc; absent: asc). */
static bool sort_order(idm_view_query_fn q, void *qctx, store_idm_se_filter *f, answer *a)
{
    const char *t = q(qctx, "sort");
    if (t != NULL && t[0] != '\0' && store_idm_se_sort_parse(t, &f->sort) != STORE_OK) {
        fail(a, 400, "sort: one of dev_eui, state, last_event, join_server");
        return false;
    }
    t = q(qctx, "order");
    if (t != NULL && t[0] != '\0' && strcmp(t, "asc") != 0 && strcmp(t, "desc") != 0) {
        fail(a, 400, "order: asc or desc");
        return false;
    }
    f->desc = t != NULL && strcmp(t, "desc") == 0;
    return true;
}

/* A page's Next: "SORT:ORDER:DEVEUI" for the DevEUI order, else
 * "SORT:ORDER:DEVEUI:KEY" with the last row's key (a state name, Unix
 * seconds, a Join Server id or ""). The sort and order are in it so that
 * a cursor is never read in an order it was not made in. */
#define SE_CURSOR_MAX (12 + 1 + 4 + 1 + 16 + 1 + STORE_IDM_ID_MAX + 1)

static void cursor_text(const store_idm_se_row *r, const store_idm_se_filter *f, char out[SE_CURSOR_MAX])
{
    int64_t num = 0;
    const char *text = "";
    store_idm_se_row_key(r, f->sort, &num, &text);
    int w = snprintf(out, SE_CURSOR_MAX, "%s:%s:%016llX", store_idm_se_sort_name(f->sort), f->desc ? "desc" : "asc",
                     (unsigned long long)r->dev_eui);
    if (f->sort == STORE_IDM_SORT_STATE)
        snprintf(out + w, SE_CURSOR_MAX - (size_t)w, ":%s", idm_state_name((idm_state)num));
    else if (f->sort == STORE_IDM_SORT_LAST_EVENT)
        snprintf(out + w, SE_CURSOR_MAX - (size_t)w, ":%lld", (long long)num);
    else if (f->sort == STORE_IDM_SORT_JOIN_SERVER)
        snprintf(out + w, SE_CURSOR_MAX - (size_t)w, ":%s", text);
}

/* Reads a cursor made by cursor_text for f's sort and order; a cursor of
 * another sort or order is refused with both named. */
static bool sort_cursor(const char *t, store_idm_se_filter *f, answer *a)
{
    if (t == NULL || t[0] == '\0')
        return true;
    const char *sort = store_idm_se_sort_name(f->sort), *order = f->desc ? "desc" : "asc";
    char msg[200], dev[17];
    const char *c1 = strchr(t, ':'), *c2 = c1 != NULL ? strchr(c1 + 1, ':') : NULL;
    if (c1 == NULL || c2 == NULL || strlen(c2 + 1) < 16 || (c2[17] != '\0' && c2[17] != ':')) {
        fail(a, 400, "cursor: the Next of the previous page, unchanged (SORT:ORDER:DEVEUI[:KEY])");
        return false;
    }
    if ((size_t)(c1 - t) != strlen(sort) || strncmp(t, sort, strlen(sort)) != 0 ||
        (size_t)(c2 - c1 - 1) != strlen(order) || strncmp(c1 + 1, order, strlen(order)) != 0) {
        snprintf(msg, sizeof msg, "cursor: made for another sort or order than %s %s; start again without a cursor",
                 sort, order);
        fail(a, 400, msg);
        return false;
    }
    memcpy(dev, c2 + 1, 16);
    dev[16] = '\0';
    const char *key = c2[17] == ':' ? c2 + 18 : NULL;
    bool ok = parse_eui(dev, &f->after) && (key == NULL) == (f->sort == STORE_IDM_SORT_DEV_EUI);
    if (ok && f->sort == STORE_IDM_SORT_STATE) {
        idm_state s;
        ok = store_idm_se_state_parse(key, &s) == STORE_OK;
        f->after_num = ok ? (int64_t)s : 0;
    } else if (ok && f->sort == STORE_IDM_SORT_LAST_EVENT) {
        char *end = NULL;
        long long v = strtoll(key, &end, 10);
        ok = end != key && *end == '\0' && v >= 0;
        f->after_num = v;
    } else if (ok && f->sort == STORE_IDM_SORT_JOIN_SERVER) {
        ok = key[0] == '\0' || store_idm_id_ok(key);
        f->after_text = key;
    }
    if (!ok) {
        snprintf(msg, sizeof msg, "cursor: its DevEUI or %s key is malformed; use the Next of the previous page", sort);
        fail(a, 400, msg);
        return false;
    }
    f->has_after = true;
    return true;
}

static void list_ses(store *db, const idm_viewer *v, idm_view_query_fn q, void *qctx, answer *a)
{
    size_t limit = 0;
    if (!page_limit(q, qctx, &limit, a))
        return;
    store_idm_se_filter f = {.scope = scope_of(v), .tenant_id = v->actor.id};
    const char *t;
    char prefix[17];
    if ((t = q(qctx, "state")) != NULL && t[0] != '\0') {
        if (store_idm_se_state_parse(t, &f.state) != STORE_OK) {
            fail(a, 400, "state: one of manufactured, bootstrapped, profile_pending, profile_delivered, "
                         "active_at_customer, fallback, transfer_pending, returned_to_bootstrap, retired");
            return;
        }
        f.has_state = true;
    }
    if ((t = q(qctx, "claim")) != NULL && t[0] != '\0') {
        if (store_idm_claim_state_parse(t, &f.claim) != STORE_OK) {
            fail(a, 400, "claim: one of none, claimed, locked, released, refused");
            return;
        }
        f.has_claim = true;
    }
    if ((t = q(qctx, "js")) != NULL && t[0] != '\0')
        f.js_id = t;
    if ((t = q(qctx, "prefix")) != NULL && t[0] != '\0') {
        size_t n = strlen(t);
        bool ok = n <= 16;
        for (size_t i = 0; ok && i < n; i++) {
            char c = t[i] >= 'a' && t[i] <= 'f' ? (char)(t[i] - 'a' + 'A') : t[i];
            ok = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
            prefix[i] = c;
        }
        if (!ok) {
            fail(a, 400, "prefix: up to 16 hex digits of a DevEUI");
            return;
        }
        prefix[n] = '\0';
        f.prefix = prefix;
    }
    if (!sort_order(q, qctx, &f, a) || !sort_cursor(q(qctx, "cursor"), &f, a))
        return;
    store_idm_se_row *rows = calloc(limit, sizeof *rows);
    if (rows == NULL) {
        fail(a, 500, "out of memory");
        return;
    }
    size_t n = 0;
    store_status st = store_idm_se_page(db, &f, rows, limit, &n);
    if (st == STORE_ERR_ARGUMENT) {
        free(rows);
        fail(a, 400, "js: a Join Server id ([A-Za-z0-9._-], 1..64)");
        return;
    }
    if (st != STORE_OK) {
        free(rows);
        fail(a, 500, "the secure elements could not be read");
        return;
    }
    json_t *list = json_array();
    bool ok = list != NULL;
    for (size_t i = 0; i < n && ok; i++) {
        idm_subject s;
        subject_of(&rows[i], &s);
        if (idm_authorize(&v->actor, IDM_ACT_READ, &s, NULL) != IDM_OK)
            continue;
        ok = json_array_append_new(list, se_json(&rows[i])) == 0;
    }
    char next[SE_CURSOR_MAX];
    if (n == limit)
        cursor_text(&rows[n - 1], &f, next);
    free(rows);
    a->doc = ok ? json_pack("{s:o,s:o}", "SEs", list, "Next", n == limit ? json_string(next) : json_null()) : NULL;
    if (!ok)
        json_decref(list);
    a->status = a->doc != NULL ? 200 : 500;
}

/* ---------------------------------------------------------------- history */

static bool is_own(const idm_viewer *v, const char *actor)
{
    if (strncmp(actor, "cli:", 4) == 0)
        actor += 4;
    return strncmp(actor, "tenant:", 7) == 0 && strcmp(actor + 7, v->actor.id) == 0;
}

idm_view_reach idm_view_entry_reach(const idm_viewer *v, const store_idm_audit_entry *e)
{
    if (v == NULL || e == NULL || v->actor.id == NULL || v->actor.id[0] == '\0')
        return IDM_VIEW_HIDDEN;
    if (is_own(v, e->actor))
        return IDM_VIEW_FULL;
    if (strncmp(e->action, "idm.se.", 7) == 0)
        return IDM_VIEW_CHANGE;
    return IDM_VIEW_HIDDEN;
}

json_t *idm_view_change_json(const store_idm_audit_entry *e)
{
    if (e == NULL || strncmp(e->action, "idm.se.", 7) != 0)
        return NULL;
    json_t *det = e->details_too_long ? NULL : json_loads(e->details, 0, NULL);
    const char *from = json_string_value(json_object_get(det, "from"));
    const char *to = json_string_value(json_object_get(det, "to"));
    char eui[17];
    eui_text(e->dev_eui, eui);
    json_t *o = json_pack("{s:I,s:s,s:s,s:s,s:s,s:I}", "Seq", (json_int_t)e->seq, "DevEUI", eui, "Event",
                          e->action + 7, "From", from != NULL ? from : "", "To", to != NULL ? to : "", "At",
                          (json_int_t)e->logged_at);
    json_decref(det);
    return o;
}

static json_t *entry_json(const store_idm_audit_entry *e, idm_view_reach reach)
{
    json_t *o = idm_view_change_json(e);
    if (o == NULL) {
        char eui[17];
        eui_text(e->dev_eui, eui);
        o = json_pack("{s:I,s:s,s:s,s:I}", "Seq", (json_int_t)e->seq, "DevEUI", eui, "Action", e->action, "At",
                      (json_int_t)e->logged_at);
    } else if (json_object_set_new(o, "Action", json_string(e->action)) != 0) {
        json_decref(o);
        return NULL;
    }
    if (o != NULL && reach == IDM_VIEW_FULL) {
        json_t *det = e->details_too_long ? NULL : json_loads(e->details, 0, NULL);
        int err = json_object_set_new(o, "Actor", json_string(e->actor));
        if (e->details_too_long)
            err |= json_object_set_new(o, "DetailsOmitted", json_true());
        else
            err |= json_object_set_new(o, "Details", det != NULL ? det : json_object());
        if (err != 0) {
            json_decref(o);
            o = NULL;
        }
    }
    return o;
}

static void se_history(store *db, const idm_viewer *v, uint64_t dev, idm_view_query_fn q, void *qctx, answer *a)
{
    size_t limit = 0;
    if (!page_limit(q, qctx, &limit, a))
        return;
    idm_status as = idm_access_check(db, &v->actor, IDM_ACT_READ, dev, 0, NULL);
    if (as != IDM_OK) {
        fail(a, as == IDM_ERR_STORE ? 500 : 404, as == IDM_ERR_STORE ? "the database could not be read"
                                                                     : "no such secure element");
        return;
    }
    int64_t after = 0;
    const char *t = q(qctx, "cursor");
    if (t != NULL && t[0] != '\0') {
        char *end = NULL;
        long long v2 = strtoll(t, &end, 10);
        if (end == t || *end != '\0' || v2 < 0) {
            fail(a, 400, "cursor: the Next of the previous page (a number)");
            return;
        }
        after = v2;
    }
    store_idm_audit_entry *es = calloc(limit, sizeof *es);
    if (es == NULL) {
        fail(a, 500, "out of memory");
        return;
    }
    size_t n = 0;
    if (store_idm_audit_of_se(db, dev, after, es, limit, &n) != STORE_OK) {
        free(es);
        fail(a, 500, "the audit chain could not be read");
        return;
    }
    json_t *list = json_array();
    bool ok = list != NULL;
    for (size_t i = 0; i < n && ok; i++) {
        idm_view_reach r = idm_view_entry_reach(v, &es[i]);
        if (r == IDM_VIEW_HIDDEN)
            continue;
        json_t *e = entry_json(&es[i], r);
        ok = e != NULL && json_array_append_new(list, e) == 0;
    }
    char eui[17], next[24];
    eui_text(dev, eui);
    if (n == limit)
        snprintf(next, sizeof next, "%lld", (long long)es[n - 1].seq);
    lw_secure_wipe(es, limit * sizeof *es);
    free(es);
    a->doc = ok ? json_pack("{s:s,s:o,s:o}", "DevEUI", eui, "Entries", list, "Next",
                            n == limit ? json_string(next) : json_null())
                : NULL;
    if (!ok)
        json_decref(list);
    a->status = a->doc != NULL ? 200 : 500;
}

/* ---------------------------------------------------------------- commands */

static void list_commands(store *db, const idm_viewer *v, idm_view_query_fn q, void *qctx, answer *a)
{
    size_t limit = 0;
    if (!page_limit(q, qctx, &limit, a))
        return;
    bool has_after = false;
    uint64_t after_dev = 0;
    int64_t after_seq = 0;
    const char *t = q(qctx, "cursor");
    if (t != NULL && t[0] != '\0') {
        char dev[17];
        char *end = NULL;
        long long seq = strlen(t) > 17 && t[16] == ':' ? strtoll(t + 17, &end, 10) : -1;
        memcpy(dev, t, 16 < strlen(t) ? 16 : strlen(t));
        dev[16 < strlen(t) ? 16 : strlen(t)] = '\0';
        if (seq < 0 || end == NULL || *end != '\0' || !parse_eui(dev, &after_dev)) {
            fail(a, 400, "cursor: the Next of the previous page (DEVEUI:SEQ)");
            return;
        }
        has_after = true;
        after_seq = seq;
    }
    store_idm_cmd_row *rows = calloc(limit, sizeof *rows);
    if (rows == NULL) {
        fail(a, 500, "out of memory");
        return;
    }
    size_t n = 0;
    if (store_idm_cmd_page_of(db, v->actor.id, has_after, after_dev, after_seq, rows, limit, &n) != STORE_OK) {
        free(rows);
        fail(a, 500, "the commands could not be read");
        return;
    }
    json_t *list = json_array();
    bool ok = list != NULL;
    for (size_t i = 0; i < n && ok; i++) {
        idm_facts f;
        if (idm_facts_read(db, rows[i].dev_eui, rows[i].seq, &f) != IDM_OK ||
            idm_authorize(&v->actor, IDM_ACT_READ_COMMAND, &f.s, NULL) != IDM_OK)
            continue;
        char eui[17], reply[2 * sizeof rows[i].reply + 1];
        eui_text(rows[i].dev_eui, eui);
        json_t *o = json_pack("{s:s,s:I,s:i,s:s,s:I}", "DevEUI", eui, "Seq", (json_int_t)rows[i].seq, "Type",
                              (int)rows[i].type, "State", store_idm_cmd_state_name(rows[i].state), "CreatedAt",
                              (json_int_t)rows[i].created_at);
        if (o != NULL && rows[i].result >= 0)
            ok = json_object_set_new(o, "Result", json_integer(rows[i].result)) == 0;
        if (o != NULL && ok && rows[i].reply_len > 0) {
            for (size_t k = 0; k < rows[i].reply_len; k++)
                snprintf(reply + 2 * k, 3, "%02X", rows[i].reply[k]);
            ok = json_object_set_new(o, "Reply", json_string(reply)) == 0;
        }
        ok = ok && o != NULL && json_array_append_new(list, o) == 0;
    }
    char next[40];
    if (n == limit)
        snprintf(next, sizeof next, "%016llX:%lld", (unsigned long long)rows[n - 1].dev_eui,
                 (long long)rows[n - 1].seq);
    free(rows);
    a->doc = ok ? json_pack("{s:o,s:o}", "Commands", list, "Next", n == limit ? json_string(next) : json_null())
                : NULL;
    if (!ok)
        json_decref(list);
    a->status = a->doc != NULL ? 200 : 500;
}

/* ---------------------------------------------------------------- Join Servers, overview, operator */

static void list_join_servers(store *db, const idm_viewer *v, answer *a)
{
    json_t *list = json_array();
    if (v->actor.kind != IDM_ACTOR_CUSTOMER) { /* a maker has none */
        a->doc = json_pack("{s:o}", "JoinServers", list);
        a->status = a->doc != NULL ? 200 : 500;
        return;
    }
    store_idm_js *js = calloc(IDM_VIEW_JS_MAX + 1, sizeof *js);
    size_t n = 0;
    store_status st = js != NULL ? store_idm_js_of_tenant(db, v->actor.id, js, IDM_VIEW_JS_MAX + 1, &n)
                                 : STORE_ERR_NOMEM;
    bool ok = list != NULL && st == STORE_OK && n <= IDM_VIEW_JS_MAX;
    for (size_t i = 0; i < n && ok; i++) {
        char eui[17], net[7];
        eui_text(js[i].join_eui, eui);
        snprintf(net, sizeof net, "%06X", (unsigned)js[i].home_net_id);
        ok = json_array_append_new(list, json_pack("{s:s,s:s,s:s,s:s}", "ID", js[i].id, "JoinEUI", eui, "HomeNetID",
                                                   net, "URL", js[i].admin_url)) == 0;
    }
    if (js != NULL) {
        lw_secure_wipe(js, (IDM_VIEW_JS_MAX + 1) * sizeof *js); /* wrapped token keys and ciphertext */
        free(js);
    }
    if (!ok) {
        json_decref(list);
        fail(a, 500, n > IDM_VIEW_JS_MAX ? "the tenant has more Join Servers than the console lists (64)"
                                         : "the Join Servers could not be read");
        return;
    }
    a->doc = json_pack("{s:o}", "JoinServers", list);
    a->status = a->doc != NULL ? 200 : 500;
}

static void overview(store *db, const idm_viewer *v, answer *a)
{
    uint64_t counts[IDM_STATE_COUNT];
    int64_t since = ((int64_t)time(NULL) / 3600 - 23) * 3600;
    store_idm_event_count *ev = calloc(STORE_IDM_EVENT_COUNTS_MAX, sizeof *ev);
    size_t n = 0;
    if (ev == NULL || store_idm_se_state_counts(db, scope_of(v), v->actor.id, counts) != STORE_OK ||
        store_idm_se_event_counts(db, scope_of(v), v->actor.id, since, ev, STORE_IDM_EVENT_COUNTS_MAX, &n) !=
            STORE_OK) {
        free(ev);
        fail(a, 500, "the counts could not be read");
        return;
    }
    json_t *states = json_object(), *hours = json_array(), *totals = json_object();
    bool ok = states != NULL && hours != NULL && totals != NULL;
    uint64_t total = 0;
    for (int s = 0; s < IDM_STATE_COUNT && ok; s++) {
        ok = json_object_set_new(states, idm_state_name((idm_state)s), json_integer((json_int_t)counts[s])) == 0;
        total += counts[s];
    }
    /* one object per hour of the window, oldest first, with every event seen in it */
    for (int64_t h = since; h <= since + 23 * 3600 && ok; h += 3600) {
        json_t *events = json_object();
        for (size_t i = 0; i < n && events != NULL; i++)
            if (ev[i].hour == h && json_object_set_new(events, ev[i].event, json_integer((json_int_t)ev[i].n)) != 0)
                ok = false;
        ok = ok && events != NULL &&
             json_array_append_new(hours, json_pack("{s:I,s:o}", "Hour", (json_int_t)h, "Events", events)) == 0;
    }
    for (size_t i = 0; i < n && ok; i++) {
        json_int_t before = json_integer_value(json_object_get(totals, ev[i].event));
        ok = json_object_set_new(totals, ev[i].event, json_integer(before + (json_int_t)ev[i].n)) == 0;
    }
    free(ev);
    if (!ok) {
        json_decref(states);
        json_decref(hours);
        json_decref(totals);
        fail(a, 500, "out of memory");
        return;
    }
    a->doc = json_pack("{s:o,s:I,s:I,s:o,s:o}", "States", states, "Total", (json_int_t)total, "Since",
                       (json_int_t)since, "Hours", hours, "Events", totals);
    a->status = a->doc != NULL ? 200 : 500;
}

static void operator_counts(store *db, const idm_viewer *v, answer *a)
{
    store_operator_count *c = calloc(STORE_OPERATOR_COUNTS_MAX, sizeof *c);
    size_t n = 0;
    if (c == NULL || store_operator_counts(db, v->net_id, c, STORE_OPERATOR_COUNTS_MAX, &n) != STORE_OK) {
        free(c);
        fail(a, 500, "the operator's counters could not be read");
        return;
    }
    json_t *list = json_array(), *refusals = json_object();
    json_int_t activations = 0, roaming = 0;
    bool ok = list != NULL && refusals != NULL;
    for (size_t i = 0; i < n && ok; i++) {
        ok = json_array_append_new(list, json_pack("{s:s,s:s,s:I}", "Request", c[i].request, "Result", c[i].result,
                                                   "Count", (json_int_t)c[i].n)) == 0;
        if (strcmp(c[i].result, "Success") == 0) {
            if (strcmp(c[i].request, "join") == 0)
                activations += (json_int_t)c[i].n;
            else
                roaming += (json_int_t)c[i].n;
        } else if (ok) {
            json_int_t before = json_integer_value(json_object_get(refusals, c[i].result));
            ok = json_object_set_new(refusals, c[i].result, json_integer(before + (json_int_t)c[i].n)) == 0;
        }
    }
    free(c);
    char net[7];
    snprintf(net, sizeof net, "%06X", (unsigned)v->net_id);
    a->doc = ok ? json_pack("{s:s,s:s,s:I,s:I,s:o,s:o}", "NetID", net, "Name", v->name, "Activations", activations,
                            "HomeNSAnswers", roaming, "Refusals", refusals, "Counters", list)
                : NULL;
    if (!ok) {
        json_decref(list);
        json_decref(refusals);
    }
    a->status = a->doc != NULL ? 200 : 500;
}

static void me(const idm_viewer *v, answer *a)
{
    if (v->actor.kind == IDM_ACTOR_NETWORK) {
        char net[7];
        snprintf(net, sizeof net, "%06X", (unsigned)v->net_id);
        a->doc = json_pack("{s:s,s:s,s:s}", "Kind", "operator", "NetID", net, "Name", v->name);
    } else {
        a->doc = json_pack("{s:s,s:s,s:s,s:i,s:i}", "Kind", idm_actor_kind_name(v->actor.kind), "Tenant", v->actor.id,
                           "Name", v->name, "PageMax", IDM_VIEW_PAGE_MAX, "FleetMax", IDM_FLEET_MAX);
    }
    a->status = a->doc != NULL ? 200 : 500;
}

bool idm_view_handle(store *db, const idm_viewer *v, const char *method, const char *path, idm_view_query_fn query,
                     void *qctx, unsigned *status, json_t **out)
{
    if (strcmp(method, "GET") != 0)
        return false;
    answer a = {500, NULL};
    bool ops = v->actor.kind == IDM_ACTOR_NETWORK;
    uint64_t dev = 0;
    size_t plen = strlen(path);
    bool history = strncmp(path, "/api/v1/ses/", 12) == 0 && plen == 12 + 16 + 8 &&
                   strcmp(path + 28, "/history") == 0;
    bool se_path = strcmp(path, "/api/v1/ses") == 0 || history || strcmp(path, "/api/v1/commands") == 0 ||
                   strcmp(path, "/api/v1/joinservers") == 0 || strcmp(path, "/api/v1/overview") == 0;
    if (strcmp(path, "/api/v1/me") == 0) {
        me(v, &a);
    } else if (strcmp(path, "/api/v1/operator") == 0) {
        if (ops)
            operator_counts(db, v, &a);
        else
            fail(&a, 403, "only a network operator has activation counters here");
    } else if (se_path && idm_authorize(&v->actor, IDM_ACT_READ, &(idm_subject){.exists = false}, NULL) ==
                              IDM_ERR_FORBIDDEN) {
        /* decided on the kind of actor alone, before any SE is read: an operator */
        fail(&a, 403, "a network operator sees its activation counters only (GET /api/v1/operator)");
    } else if (strcmp(path, "/api/v1/ses") == 0) {
        list_ses(db, v, query, qctx, &a);
    } else if (history) {
        char eui[17];
        memcpy(eui, path + 12, 16);
        eui[16] = '\0';
        if (!parse_eui(eui, &dev))
            fail(&a, 400, "DevEUI: 16 hex digits");
        else
            se_history(db, v, dev, query, qctx, &a);
    } else if (strcmp(path, "/api/v1/commands") == 0) {
        list_commands(db, v, query, qctx, &a);
    } else if (strcmp(path, "/api/v1/joinservers") == 0) {
        list_join_servers(db, v, &a);
    } else if (strcmp(path, "/api/v1/overview") == 0) {
        overview(db, v, &a);
    } else {
        return false;
    }
    *status = a.doc != NULL ? a.status : 500;
    *out = a.doc;
    return true;
}

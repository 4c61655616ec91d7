/*
 * test_idm_view.c - what of an SE's audit entries each viewer sees
 * (idm_view_entry_reach) and what a lifecycle change says on the stream
 * and in a history (idm_view_change_json): a tenant sees its own entries
 * whole (its claims, also those the operator made for it with `cli:`),
 * every lifecycle change without actor or details, and nothing else; a
 * viewer without an id (an operator) sees nothing; a change carries the
 * DevEUI, the event, from, to and time, never who made it. And the
 * sort and cursor arguments of GET /api/v1/ses (on an empty SQLite
 * database): an unknown sort or order, a cursor of another sort or order,
 * a malformed key are 400 with a sentence; a cursor of the sort asked 200.
 */
#include "idm/idm_view.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static store_idm_audit_entry entry(const char *actor, const char *action, const char *details)
{
    store_idm_audit_entry e;
    memset(&e, 0, sizeof e);
    e.seq = 42;
    e.logged_at = 1796305326;
    e.dev_eui = 0x70B3D57ED0070001ull;
    snprintf(e.actor, sizeof e.actor, "%s", actor);
    snprintf(e.action, sizeof e.action, "%s", action);
    snprintf(e.details, sizeof e.details, "%s", details);
    return e;
}

static void reach(void **state)
{
    (void)state;
    idm_viewer acme = {.actor = {IDM_ACTOR_CUSTOMER, "acme"}};
    idm_viewer maker = {.actor = {IDM_ACTOR_MAKER, "maker"}};
    idm_viewer op = {.actor = {IDM_ACTOR_NETWORK, ""}};
    store_idm_audit_entry own = entry("tenant:acme", "idm.claim", "{\"tenant\":\"acme\"}");
    store_idm_audit_entry own_cli = entry("cli:tenant:acme", "idm.secure.queued", "{}");
    store_idm_audit_entry other = entry("tenant:bolt", "idm.claim.refused", "{\"tenant\":\"bolt\"}");
    store_idm_audit_entry prefix = entry("tenant:acmex", "idm.claim", "{}"); /* not acme's: a longer id */
    store_idm_audit_entry engine = entry("idm-ota", "idm.mls.response", "{}");
    store_idm_audit_entry change = entry("tenant:bolt", "idm.se.transfer_requested",
                                         "{\"from\":\"active_at_customer\",\"to\":\"transfer_pending\",\"tenant\":\"bolt\"}");
    assert_int_equal(idm_view_entry_reach(&acme, &own), IDM_VIEW_FULL);
    assert_int_equal(idm_view_entry_reach(&acme, &own_cli), IDM_VIEW_FULL);
    assert_int_equal(idm_view_entry_reach(&acme, &other), IDM_VIEW_HIDDEN);
    assert_int_equal(idm_view_entry_reach(&acme, &prefix), IDM_VIEW_HIDDEN);
    assert_int_equal(idm_view_entry_reach(&acme, &engine), IDM_VIEW_HIDDEN);
    assert_int_equal(idm_view_entry_reach(&acme, &change), IDM_VIEW_CHANGE);
    assert_int_equal(idm_view_entry_reach(&maker, &own), IDM_VIEW_HIDDEN);
    assert_int_equal(idm_view_entry_reach(&maker, &change), IDM_VIEW_CHANGE);
    assert_int_equal(idm_view_entry_reach(&op, &change), IDM_VIEW_HIDDEN);
    assert_int_equal(idm_view_entry_reach(&op, &own), IDM_VIEW_HIDDEN);
    assert_int_equal(idm_view_entry_reach(NULL, &own), IDM_VIEW_HIDDEN);
}

static void change_json(void **state)
{
    (void)state;
    store_idm_audit_entry change = entry("tenant:bolt", "idm.se.transfer_requested",
                                         "{\"from\":\"active_at_customer\",\"to\":\"transfer_pending\",\"tenant\":\"bolt\"}");
    json_t *o = idm_view_change_json(&change);
    assert_non_null(o);
    char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(text, "{\"At\":1796305326,\"DevEUI\":\"70B3D57ED0070001\",\"Event\":\"transfer_requested\","
                              "\"From\":\"active_at_customer\",\"Seq\":42,\"To\":\"transfer_pending\"}");
    assert_null(strstr(text, "bolt")); /* neither the actor nor the details' tenant */
    free(text);
    json_decref(o);
    store_idm_audit_entry claim = entry("tenant:acme", "idm.claim", "{}");
    assert_null(idm_view_change_json(&claim));
    store_idm_audit_entry big = change;
    big.details_too_long = true;
    big.details[0] = '\0';
    o = idm_view_change_json(&big); /* from and to unknown: said as "", not guessed */
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "From")), "");
    json_decref(o);
}

typedef struct args {
    const char *sort, *order, *cursor;
} args;

static const char *arg(void *ctx, const char *name)
{
    const args *a = ctx;
    return strcmp(name, "sort") == 0 ? a->sort : strcmp(name, "order") == 0 ? a->order
                                                : strcmp(name, "cursor") == 0 ? a->cursor : NULL;
}

/* The status of GET /api/v1/ses with a; its Error (if any) into err. */
static unsigned list(store *db, args a, char err[200])
{
    idm_viewer acme = {.actor = {IDM_ACTOR_CUSTOMER, "acme"}, .name = "Acme"};
    unsigned status = 0;
    json_t *doc = NULL;
    assert_true(idm_view_handle(db, &acme, "GET", "/api/v1/ses", arg, &a, &status, &doc));
    assert_non_null(doc);
    const char *e = json_string_value(json_object_get(doc, "Error"));
    snprintf(err, 200, "%s", e != NULL ? e : "");
    if (status == 200)
        assert_true(json_is_array(json_object_get(doc, "SEs")) && json_is_null(json_object_get(doc, "Next")));
    json_decref(doc);
    return status;
}

static void sort_args(void **state)
{
    (void)state;
    char dir[] = "/tmp/ferry-idm-view.XXXXXX", loc[64], err[200];
    assert_non_null(mkdtemp(dir));
    snprintf(loc, sizeof loc, "sqlite:%s/ferry.db", dir);
    store *db = NULL;
    assert_int_equal(store_open(loc, &db), STORE_OK);
    const char *dev = "70B3D57ED0070000";
    char c[96];
    assert_int_equal(list(db, (args){NULL, NULL, NULL}, err), 200);
    assert_int_equal(list(db, (args){"last_event", "desc", NULL}, err), 200);
    assert_int_equal(list(db, (args){"size", NULL, NULL}, err), 400);
    assert_non_null(strstr(err, "sort: one of dev_eui, state, last_event, join_server"));
    assert_int_equal(list(db, (args){NULL, "up", NULL}, err), 400);
    assert_non_null(strstr(err, "order: asc or desc"));
    /* cursors of the sort asked */
    snprintf(c, sizeof c, "dev_eui:asc:%s", dev);
    assert_int_equal(list(db, (args){NULL, NULL, c}, err), 200);
    snprintf(c, sizeof c, "state:desc:%s:active_at_customer", dev);
    assert_int_equal(list(db, (args){"state", "desc", c}, err), 200);
    snprintf(c, sizeof c, "last_event:asc:%s:1796305326", dev);
    assert_int_equal(list(db, (args){"last_event", "asc", c}, err), 200);
    snprintf(c, sizeof c, "join_server:asc:%s:", dev);
    assert_int_equal(list(db, (args){"join_server", NULL, c}, err), 200);
    snprintf(c, sizeof c, "join_server:asc:%s:acme-js", dev);
    assert_int_equal(list(db, (args){"join_server", NULL, c}, err), 200);
    /* another sort, another order: named */
    snprintf(c, sizeof c, "state:asc:%s:active_at_customer", dev);
    assert_int_equal(list(db, (args){"last_event", NULL, c}, err), 400);
    assert_non_null(strstr(err, "another sort or order than last_event asc"));
    assert_int_equal(list(db, (args){"state", "desc", c}, err), 400);
    assert_non_null(strstr(err, "another sort or order than state desc"));
    assert_int_equal(list(db, (args){"stat", NULL, c}, err), 400);
    /* malformed */
    const char *bad[] = {
        "70B3D57ED0070000",                             /* the bare DevEUI of earlier versions */
        "dev_eui:asc:70B3D57ED0070000:x",               /* a key where the DevEUI order has none */
        "dev_eui:asc:70B3D57ED007",                     /* a DevEUI too short */
        "dev_eui:asc:70B3D57ED00700001",                /* too long */
        "dev_eui:asc:70B3D57ED007000G",                 /* not hex */
        "state:asc:70B3D57ED0070000",                   /* no key */
        "state:asc:70B3D57ED0070000:sleeping",          /* not a state */
        "last_event:asc:70B3D57ED0070000:-1",           /* a time before 1970 */
        "last_event:asc:70B3D57ED0070000:12x",
        "join_server:asc:70B3D57ED0070000:not an id!",
        "",
    };
    const char *sorts[] = {NULL, NULL, NULL, NULL, NULL, "state", "state", "last_event", "last_event", "join_server"};
    for (size_t i = 0; bad[i][0] != '\0'; i++) {
        assert_int_equal(list(db, (args){sorts[i], NULL, bad[i]}, err), 400);
        assert_non_null(strstr(err, "cursor: "));
    }
    store_close(db);
    snprintf(c, sizeof c, "rm -rf '%s'", dir);
    assert_int_equal(system(c), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reach),
        cmocka_unit_test(change_json),
        cmocka_unit_test(sort_args),
    };
    return cmocka_run_group_tests_name("idm_view", tests, NULL, NULL);
}

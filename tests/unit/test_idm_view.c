/*
 * test_idm_view.c - what of an SE's audit entries each viewer sees
 * (idm_view_entry_reach) and what a lifecycle change says on the stream
 * and in a history (idm_view_change_json): a tenant sees its own entries
 * whole (its claims, also those the operator made for it with `cli:`),
 * every lifecycle change without actor or details, and nothing else; a
 * viewer without an id (an operator) sees nothing; a change carries the
 * DevEUI, the event, from, to and time, never who made it.
 */
#include "idm/idm_view.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reach),
        cmocka_unit_test(change_json),
    };
    return cmocka_run_group_tests_name("idm_view", tests, NULL, NULL);
}

/*
 * test_idm_authz.c - the authorization table (idm_authz.h), swept over
 * every actor x action x lifecycle state x relation of the actor to the SE
 * (maker of its batch or not, holder or not, the owner it is leaving or
 * not, the one who queued the command or not, SE known or not), checking
 * the rules the table must keep whatever its details:
 *   - a tenant never reaches an SE it has no relation to (only a customer's
 *     claim goes on, to the owner-token check);
 *   - what a tenant may not see answers exactly like an SE that does not
 *     exist (NOT_FOUND), never FORBIDDEN or ILLEGAL;
 *   - FORBIDDEN depends on the actor's kind and the action alone;
 *   - a retired SE is out of every tenant's and network's reach, and the
 *     operator may only read it;
 *   - commands are read only by whoever queued them;
 * then the findings of the review as named cases. Prints the number of
 * cases swept.
 */
#include "idm/idm_authz.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

static const char *const TENANT = "acme";
static const char *const OTHER = "bolt";

typedef struct relation {
    bool exists, is_maker, is_holder, other_holds, is_leaving, queued_it;
} relation;

static idm_subject subject_of(const relation *r, idm_state st)
{
    idm_subject s = {
        .exists = r->exists,
        .state = st,
        .maker = r->is_maker ? TENANT : OTHER,
        .holder = r->is_holder ? TENANT : r->other_holds ? OTHER : "",
        .leaving = r->is_leaving ? TENANT : "",
        .cmd_origin = r->queued_it ? "tenant:acme" : "tenant:bolt",
    };
    return s;
}

static void sweep(void **state)
{
    (void)state;
    unsigned long cases = 0;
    for (int k = 0; k < IDM_ACTOR_COUNT; k++) {
        idm_actor a = {(idm_actor_kind)k, (k == IDM_ACTOR_MAKER || k == IDM_ACTOR_CUSTOMER) ? TENANT : ""};
        bool tenant = k == IDM_ACTOR_MAKER || k == IDM_ACTOR_CUSTOMER;
        for (int act = 0; act < IDM_ACTION_COUNT; act++) {
            int forbidden_seen = -1;   /* FORBIDDEN must be all or nothing per (kind, action) */
            for (int st = 0; st < IDM_STATE_COUNT; st++) {
                for (unsigned bits = 0; bits < 64; bits++) {
                    relation r = {bits & 1, bits & 2, bits & 4, bits & 8, bits & 16, bits & 32};
                    if (r.is_holder && r.other_holds)
                        continue;
                    idm_subject s = subject_of(&r, (idm_state)st);
                    const char *why = NULL;
                    idm_status got = idm_authorize(&a, (idm_action)act, &s, &why);
                    cases++;
                    assert_true(got == IDM_OK || got == IDM_ERR_NOT_FOUND || got == IDM_ERR_FORBIDDEN ||
                                got == IDM_ERR_ILLEGAL);
                    if (got != IDM_OK)
                        assert_non_null(why);
                    int forb = got == IDM_ERR_FORBIDDEN;
                    if (forbidden_seen < 0)
                        forbidden_seen = forb;
                    assert_int_equal(forbidden_seen, forb);
                    if (forb)
                        continue;
                    if (!r.exists)
                        assert_int_equal(got, IDM_ERR_NOT_FOUND);
                    bool retired = st == IDM_STATE_RETIRED;
                    if (retired && k != IDM_ACTOR_OPERATOR)
                        assert_int_not_equal(got, IDM_OK);
                    if (retired && k == IDM_ACTOR_OPERATOR && act != IDM_ACT_READ && act != IDM_ACT_READ_COMMAND)
                        assert_int_not_equal(got, IDM_OK);
                    bool related = k == IDM_ACTOR_MAKER ? r.is_maker : r.is_holder || r.is_leaving;
                    if (tenant && !related && !(k == IDM_ACTOR_CUSTOMER && act == IDM_ACT_CLAIM))
                        assert_int_equal(got, IDM_ERR_NOT_FOUND);
                    if (tenant && act == IDM_ACT_READ_COMMAND && !r.queued_it)
                        assert_int_not_equal(got, IDM_OK);
                    if (k == IDM_ACTOR_CUSTOMER && act != IDM_ACT_CLAIM && act != IDM_ACT_RELAY &&
                        act != IDM_ACT_READ_COMMAND && !r.is_holder)
                        assert_int_not_equal(got, IDM_OK);
                    /* a tenant that may not see it cannot tell it from nothing */
                    if (tenant && got != IDM_OK && !related)
                        assert_int_equal(got, IDM_ERR_NOT_FOUND);
                }
            }
        }
    }
    print_message("# authorization sweep: %lu cases (%d actors x %d actions x %d states x relations)\n", cases,
                  IDM_ACTOR_COUNT, IDM_ACTION_COUNT, IDM_STATE_COUNT);
    assert_true(cases > 10000);
}

static idm_status ask(idm_actor_kind k, const char *id, idm_action act, idm_subject s)
{
    idm_actor a = {k, id};
    return idm_authorize(&a, act, &s, NULL);
}

/* The review's findings (issue: one authorization policy), as cases. */
static void findings(void **state)
{
    (void)state;
    idm_subject active = {.exists = true, .state = IDM_STATE_ACTIVE_AT_CUSTOMER, .maker = "mk", .holder = "acme",
                          .leaving = "", .cmd_origin = "tenant:acme"};
    /* 1. a maker that imported nothing acts on nobody's SE; the maker of
     * the batch reads it but does not command or return a customer's SE */
    assert_int_equal(ask(IDM_ACTOR_MAKER, "othermaker", IDM_ACT_READ, active), IDM_ERR_NOT_FOUND);
    assert_int_equal(ask(IDM_ACTOR_MAKER, "othermaker", IDM_ACT_TRANSFER, active), IDM_ERR_FORBIDDEN);
    assert_int_equal(ask(IDM_ACTOR_MAKER, "othermaker", IDM_ACT_COMMAND, active), IDM_ERR_NOT_FOUND);
    assert_int_equal(ask(IDM_ACTOR_MAKER, "mk", IDM_ACT_READ, active), IDM_OK);
    assert_int_equal(ask(IDM_ACTOR_MAKER, "mk", IDM_ACT_COMMAND, active), IDM_ERR_ILLEGAL);
    assert_int_equal(ask(IDM_ACTOR_MAKER, "mk", IDM_ACT_TRANSFER, active), IDM_ERR_FORBIDDEN);
    idm_subject stock = active;
    stock.holder = "";
    stock.state = IDM_STATE_BOOTSTRAPPED;
    assert_int_equal(ask(IDM_ACTOR_MAKER, "mk", IDM_ACT_COMMAND, stock), IDM_OK);
    /* an SE imported before makers were recorded: no maker reaches it */
    idm_subject old = stock;
    old.maker = "";
    assert_int_equal(ask(IDM_ACTOR_MAKER, "mk", IDM_ACT_READ, old), IDM_ERR_NOT_FOUND);
    /* 2. a retired SE: no claim, no assign, no activation */
    idm_subject retired = stock;
    retired.state = IDM_STATE_RETIRED;
    assert_int_equal(ask(IDM_ACTOR_CUSTOMER, "acme", IDM_ACT_CLAIM, retired), IDM_ERR_NOT_FOUND);
    assert_int_equal(ask(IDM_ACTOR_CUSTOMER, "acme", IDM_ACT_ASSIGN, retired), IDM_ERR_NOT_FOUND);
    assert_int_equal(ask(IDM_ACTOR_NETWORK, "", IDM_ACT_ACTIVATE, retired), IDM_ERR_NOT_FOUND);
    assert_int_equal(ask(IDM_ACTOR_OPERATOR, "", IDM_ACT_ASSIGN, retired), IDM_ERR_ILLEGAL);
    assert_int_equal(ask(IDM_ACTOR_OPERATOR, "", IDM_ACT_READ, retired), IDM_OK);
    assert_int_equal(ask(IDM_ACTOR_NETWORK, "", IDM_ACT_ACTIVATE, stock), IDM_OK);
    /* 6. after a transfer the new holder does not read the old holder's
     * commands; the old holder reads its own while the SE leaves it */
    idm_subject moving = active;
    moving.holder = "bolt";
    moving.leaving = "acme";
    moving.state = IDM_STATE_PROFILE_PENDING;
    assert_int_equal(ask(IDM_ACTOR_CUSTOMER, "bolt", IDM_ACT_READ_COMMAND, moving), IDM_ERR_NOT_FOUND);
    assert_int_equal(ask(IDM_ACTOR_CUSTOMER, "acme", IDM_ACT_READ_COMMAND, moving), IDM_OK);
    assert_int_equal(ask(IDM_ACTOR_CUSTOMER, "acme", IDM_ACT_RELAY, moving), IDM_OK);
    assert_int_equal(ask(IDM_ACTOR_CUSTOMER, "acme", IDM_ACT_COMMAND, moving), IDM_ERR_NOT_FOUND);
    /* 9. another's SE and no SE answer alike */
    idm_subject none = {.exists = false, .maker = "", .holder = "", .leaving = "", .cmd_origin = ""};
    assert_int_equal(ask(IDM_ACTOR_CUSTOMER, "bolt", IDM_ACT_READ, active),
                     ask(IDM_ACTOR_CUSTOMER, "bolt", IDM_ACT_READ, none));
    assert_int_equal(ask(IDM_ACTOR_CUSTOMER, "bolt", IDM_ACT_RELEASE, active),
                     ask(IDM_ACTOR_CUSTOMER, "bolt", IDM_ACT_RELEASE, none));
    /* out of range */
    idm_actor bad = {IDM_ACTOR_COUNT, ""};
    assert_int_equal(idm_authorize(&bad, IDM_ACT_READ, &active, NULL), IDM_ERR_ARGUMENT);
    idm_actor noid = {IDM_ACTOR_CUSTOMER, ""};
    assert_int_equal(idm_authorize(&noid, IDM_ACT_READ, &active, NULL), IDM_ERR_ARGUMENT);
    assert_string_equal(idm_actor_kind_name(IDM_ACTOR_NETWORK), "network");
    assert_string_equal(idm_action_name(IDM_ACT_READ_COMMAND), "read_command");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sweep),
        cmocka_unit_test(findings),
    };
    return cmocka_run_group_tests_name("idm_authz", tests, NULL, NULL);
}

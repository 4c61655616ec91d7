/*
 * test_idm_state.c - the SE lifecycle table, every (state, event) pair.
 *
 * The legal transitions are written here a second time, as the list in
 * docs/idm-lifecycle.md gives them; every pair of the table is checked
 * against it, so a hole or an extra entry in either is caught.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "idm/idm_state.h"

typedef struct legal {
    idm_state from;
    idm_event ev;
    idm_state to;
} legal;

#define S(x) IDM_STATE_##x
#define E(x) IDM_EV_##x

static const legal LEGAL[] = {
    {S(MANUFACTURED), E(BOOTSTRAP_JOIN), S(BOOTSTRAPPED)},
    {S(MANUFACTURED), E(RETIRE), S(RETIRED)},
    {S(BOOTSTRAPPED), E(BOOTSTRAP_JOIN), S(BOOTSTRAPPED)},
    {S(BOOTSTRAPPED), E(PROFILE_QUEUED), S(PROFILE_PENDING)},
    {S(BOOTSTRAPPED), E(CUSTOMER_JOIN), S(ACTIVE_AT_CUSTOMER)},
    {S(BOOTSTRAPPED), E(RETIRE), S(RETIRED)},
    {S(PROFILE_PENDING), E(BOOTSTRAP_JOIN), S(PROFILE_PENDING)},
    {S(PROFILE_PENDING), E(PROFILE_ACKED), S(PROFILE_DELIVERED)},
    {S(PROFILE_PENDING), E(DELIVERY_FAILED), S(BOOTSTRAPPED)},
    {S(PROFILE_PENDING), E(UPDATE_FAILED), S(ACTIVE_AT_CUSTOMER)},
    {S(PROFILE_PENDING), E(RETIRE), S(RETIRED)},
    {S(PROFILE_DELIVERED), E(BOOTSTRAP_JOIN), S(FALLBACK)},
    {S(PROFILE_DELIVERED), E(CUSTOMER_JOIN), S(ACTIVE_AT_CUSTOMER)},
    {S(PROFILE_DELIVERED), E(FALLBACK_REPORTED), S(FALLBACK)},
    {S(PROFILE_DELIVERED), E(RETURN_REQUESTED), S(RETURNED_TO_BOOTSTRAP)},
    {S(PROFILE_DELIVERED), E(UPDATE_FAILED), S(ACTIVE_AT_CUSTOMER)},
    {S(PROFILE_DELIVERED), E(RETIRE), S(RETIRED)},
    {S(ACTIVE_AT_CUSTOMER), E(BOOTSTRAP_JOIN), S(FALLBACK)},
    {S(ACTIVE_AT_CUSTOMER), E(PROFILE_QUEUED), S(PROFILE_PENDING)},
    {S(ACTIVE_AT_CUSTOMER), E(CUSTOMER_JOIN), S(ACTIVE_AT_CUSTOMER)},
    {S(ACTIVE_AT_CUSTOMER), E(FALLBACK_REPORTED), S(FALLBACK)},
    {S(ACTIVE_AT_CUSTOMER), E(TRANSFER_REQUESTED), S(TRANSFER_PENDING)},
    {S(ACTIVE_AT_CUSTOMER), E(RETURN_REQUESTED), S(RETURNED_TO_BOOTSTRAP)},
    {S(ACTIVE_AT_CUSTOMER), E(RETIRE), S(RETIRED)},
    {S(FALLBACK), E(BOOTSTRAP_JOIN), S(FALLBACK)},
    {S(FALLBACK), E(PROFILE_QUEUED), S(PROFILE_PENDING)},
    {S(FALLBACK), E(CUSTOMER_JOIN), S(ACTIVE_AT_CUSTOMER)},
    {S(FALLBACK), E(TRANSFER_REQUESTED), S(TRANSFER_PENDING)},
    {S(FALLBACK), E(RETURN_REQUESTED), S(RETURNED_TO_BOOTSTRAP)},
    {S(FALLBACK), E(RETIRE), S(RETIRED)},
    {S(TRANSFER_PENDING), E(BOOTSTRAP_JOIN), S(TRANSFER_PENDING)},
    {S(TRANSFER_PENDING), E(PROFILE_QUEUED), S(PROFILE_PENDING)},
    {S(TRANSFER_PENDING), E(DELIVERY_FAILED), S(ACTIVE_AT_CUSTOMER)},
    {S(TRANSFER_PENDING), E(CUSTOMER_JOIN), S(TRANSFER_PENDING)},
    {S(TRANSFER_PENDING), E(FALLBACK_REPORTED), S(FALLBACK)},
    {S(TRANSFER_PENDING), E(RETURN_REQUESTED), S(RETURNED_TO_BOOTSTRAP)},
    {S(TRANSFER_PENDING), E(RETIRE), S(RETIRED)},
    {S(RETURNED_TO_BOOTSTRAP), E(BOOTSTRAP_JOIN), S(BOOTSTRAPPED)},
    {S(RETURNED_TO_BOOTSTRAP), E(RETIRE), S(RETIRED)},
};

static const legal *find(idm_state s, idm_event e)
{
    for (size_t i = 0; i < sizeof LEGAL / sizeof LEGAL[0]; i++)
        if (LEGAL[i].from == s && LEGAL[i].ev == e)
            return &LEGAL[i];
    return NULL;
}

static void every_pair_matches_the_documented_list(void **state)
{
    (void)state;
    size_t legal_seen = 0;
    for (int s = 0; s < IDM_STATE_COUNT; s++) {
        for (int e = 0; e < IDM_EVENT_COUNT; e++) {
            idm_state to = IDM_STATE_COUNT;
            idm_status st = idm_state_transition((idm_state)s, (idm_event)e, &to);
            const legal *want = find((idm_state)s, (idm_event)e);
            if (want != NULL) {
                if (st != IDM_OK || to != want->to)
                    fail_msg("%s --%s--> expected %s, got status %d to %s", idm_state_name((idm_state)s),
                             idm_event_name((idm_event)e), idm_state_name(want->to), st, idm_state_name(to));
                legal_seen++;
            } else {
                if (st != IDM_ERR_ILLEGAL || to != IDM_STATE_COUNT)
                    fail_msg("%s --%s--> must be illegal (status %d)", idm_state_name((idm_state)s),
                             idm_event_name((idm_event)e), st);
            }
        }
    }
    assert_int_equal(legal_seen, sizeof LEGAL / sizeof LEGAL[0]);
}

static void retired_is_terminal_and_every_other_state_can_retire(void **state)
{
    (void)state;
    idm_state to;
    for (int e = 0; e < IDM_EVENT_COUNT; e++)
        assert_int_equal(idm_state_transition(IDM_STATE_RETIRED, (idm_event)e, &to), IDM_ERR_ILLEGAL);
    for (int s = 0; s < IDM_STATE_RETIRED; s++) {
        assert_int_equal(idm_state_transition((idm_state)s, IDM_EV_RETIRE, &to), IDM_OK);
        assert_int_equal(to, IDM_STATE_RETIRED);
    }
}

static void every_state_is_reachable_from_manufactured(void **state)
{
    (void)state;
    int reached[IDM_STATE_COUNT] = {0};
    reached[IDM_STATE_MANUFACTURED] = 1;
    for (int round = 0; round < IDM_STATE_COUNT; round++)
        for (int s = 0; s < IDM_STATE_COUNT; s++)
            for (int e = 0; e < IDM_EVENT_COUNT && reached[s]; e++) {
                idm_state to;
                if (idm_state_transition((idm_state)s, (idm_event)e, &to) == IDM_OK)
                    reached[to] = 1;
            }
    for (int s = 0; s < IDM_STATE_COUNT; s++)
        if (!reached[s])
            fail_msg("%s is unreachable", idm_state_name((idm_state)s));
}

static void out_of_range_and_names(void **state)
{
    (void)state;
    idm_state to;
    assert_int_equal(idm_state_transition(IDM_STATE_COUNT, IDM_EV_RETIRE, &to), IDM_ERR_ARGUMENT);
    assert_int_equal(idm_state_transition(IDM_STATE_MANUFACTURED, IDM_EVENT_COUNT, &to), IDM_ERR_ARGUMENT);
    assert_int_equal(idm_state_transition(IDM_STATE_MANUFACTURED, IDM_EV_RETIRE, NULL), IDM_ERR_ARGUMENT);
    for (int s = 0; s < IDM_STATE_COUNT; s++) {
        idm_state back;
        assert_int_equal(idm_state_parse(idm_state_name((idm_state)s), &back), IDM_OK);
        assert_int_equal(back, s);
    }
    assert_int_equal(idm_state_parse("active", &to), IDM_ERR_ARGUMENT);
    assert_string_equal(idm_state_name(IDM_STATE_COUNT), "?");
    assert_string_equal(idm_event_name(IDM_EVENT_COUNT), "?");
    assert_string_equal(idm_strerror(IDM_ERR_ILLEGAL),
                        "the secure element's lifecycle does not allow this transition");
    assert_string_equal(idm_strerror(IDM_STATUS_COUNT), "unknown IDM status");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_pair_matches_the_documented_list),
        cmocka_unit_test(retired_is_terminal_and_every_other_state_can_retire),
        cmocka_unit_test(every_state_is_reachable_from_manufactured),
        cmocka_unit_test(out_of_range_and_names),
    };
    return cmocka_run_group_tests_name("idm_state", tests, NULL, NULL);
}

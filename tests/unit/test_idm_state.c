/*
 * test_idm_state.c - the three state-machine tables of idm_state.c (the SE
 * lifecycle, the claim, a command's delivery), every (state, event) pair.
 *
 * The legal transitions are written here a second time, as the lists in
 * docs/idm-lifecycle.md and docs/idm.md give them; every pair of each table
 * is checked against its list, so a hole or an extra entry in either is
 * caught.
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
        assert_int_equal(store_idm_se_state_parse(idm_state_name((idm_state)s), &back), STORE_OK);
        assert_int_equal(back, s);
    }
    assert_int_equal(store_idm_se_state_parse("active", &to), STORE_ERR_ARGUMENT);
    assert_string_equal(idm_state_name(IDM_STATE_COUNT), "?");
    assert_string_equal(idm_event_name(IDM_EVENT_COUNT), "?");
    assert_string_equal(idm_strerror(IDM_ERR_ILLEGAL),
                        "the secure element's lifecycle does not allow this transition");
    assert_string_equal(idm_strerror(IDM_STATUS_COUNT), "unknown IDM status");
}

/* ---------------------------------------------------------------- claims (docs/idm.md, "Claims") */

typedef struct claim_legal {
    store_idm_claim_state from;
    idm_claim_event ev;
    store_idm_claim_state to;
} claim_legal;

#define CS(x) STORE_IDM_CLAIM_##x
#define CE(x) IDM_CLAIM_EV_##x

static const claim_legal CLAIM_LEGAL[] = {
    {CS(NONE), CE(CLAIM), CS(CLAIMED)},
    {CS(NONE), CE(LOCK), CS(LOCKED)},
    {CS(NONE), CE(LET_GO), CS(NONE)},
    {CS(CLAIMED), CE(CLAIM), CS(CLAIMED)},
    {CS(CLAIMED), CE(RELEASE), CS(RELEASED)},
    {CS(CLAIMED), CE(REFUSE), CS(REFUSED)},
    {CS(CLAIMED), CE(LOCK), CS(LOCKED)},
    {CS(CLAIMED), CE(ASSIGN), CS(CLAIMED)},
    {CS(CLAIMED), CE(PROVISION), CS(CLAIMED)},
    {CS(CLAIMED), CE(TRANSFER), CS(CLAIMED)},
    {CS(CLAIMED), CE(TRANSFER_UNDONE), CS(CLAIMED)},
    {CS(CLAIMED), CE(LET_GO), CS(RELEASED)},
    {CS(LOCKED), CE(LOCK), CS(LOCKED)},
    {CS(LOCKED), CE(UNLOCK_HELD), CS(CLAIMED)},
    {CS(LOCKED), CE(UNLOCK_FREE), CS(RELEASED)},
    {CS(LOCKED), CE(TRANSFER_UNDONE), CS(LOCKED)},
    {CS(LOCKED), CE(LET_GO), CS(LOCKED)},
    {CS(RELEASED), CE(CLAIM), CS(CLAIMED)},
    {CS(RELEASED), CE(LOCK), CS(LOCKED)},
    {CS(RELEASED), CE(LET_GO), CS(RELEASED)},
    {CS(REFUSED), CE(CLAIM), CS(CLAIMED)},
    {CS(REFUSED), CE(LOCK), CS(LOCKED)},
    {CS(REFUSED), CE(LET_GO), CS(RELEASED)},
};

static void every_claim_pair_matches_the_documented_list(void **state)
{
    (void)state;
    size_t n = sizeof CLAIM_LEGAL / sizeof CLAIM_LEGAL[0], seen = 0, pairs = 0;
    for (int s = 0; s < STORE_IDM_CLAIM_STATE_COUNT; s++) {
        for (int e = 0; e < IDM_CLAIM_EVENT_COUNT; e++, pairs++) {
            const claim_legal *want = NULL;
            for (size_t i = 0; i < n; i++)
                if (CLAIM_LEGAL[i].from == (store_idm_claim_state)s && CLAIM_LEGAL[i].ev == (idm_claim_event)e)
                    want = &CLAIM_LEGAL[i];
            store_idm_claim_state to = STORE_IDM_CLAIM_STATE_COUNT;
            idm_status st = idm_claim_transition((store_idm_claim_state)s, (idm_claim_event)e, &to);
            const char *sn = store_idm_claim_state_name((store_idm_claim_state)s);
            const char *en = idm_claim_event_name((idm_claim_event)e);
            if (want != NULL) {
                if (st != IDM_OK || to != want->to)
                    fail_msg("claim %s --%s--> expected %s, got status %d to %s", sn, en,
                             store_idm_claim_state_name(want->to), st, store_idm_claim_state_name(to));
                seen++;
            } else if (st != IDM_ERR_ILLEGAL || to != STORE_IDM_CLAIM_STATE_COUNT) {
                fail_msg("claim %s --%s--> must be illegal (status %d)", sn, en, st);
            }
        }
    }
    assert_int_equal(seen, n);
    print_message("# claim table: %zu pairs, %zu legal\n", pairs, seen);
}

/* The rules docs/idm.md states in words, on the table itself. */
static void claim_rules(void **state)
{
    (void)state;
    store_idm_claim_state to;
    /* nothing but the operator's unlock leaves a lock; a claim never
     * lands on a lock, and nothing reaches "none" from a real claim */
    for (int e = 0; e < IDM_CLAIM_EVENT_COUNT; e++) {
        if (idm_claim_transition(CS(LOCKED), (idm_claim_event)e, &to) == IDM_OK && to != CS(LOCKED))
            assert_true(e == CE(UNLOCK_HELD) || e == CE(UNLOCK_FREE));
        for (int s = CS(CLAIMED); s < STORE_IDM_CLAIM_STATE_COUNT; s++)
            if (idm_claim_transition((store_idm_claim_state)s, (idm_claim_event)e, &to) == IDM_OK)
                assert_int_not_equal(to, CS(NONE));
    }
    assert_int_equal(idm_claim_transition(CS(LOCKED), CE(CLAIM), &to), IDM_ERR_ILLEGAL);
    /* what needs a holder needs "claimed" */
    const idm_claim_event held[] = {CE(RELEASE), CE(REFUSE), CE(ASSIGN), CE(PROVISION), CE(TRANSFER)};
    for (size_t i = 0; i < sizeof held / sizeof held[0]; i++)
        for (int s = 0; s < STORE_IDM_CLAIM_STATE_COUNT; s++)
            assert_int_equal(idm_claim_transition((store_idm_claim_state)s, held[i], &to) == IDM_OK,
                             s == CS(CLAIMED));
    assert_int_equal(idm_claim_transition(CS(STATE_COUNT), CE(CLAIM), &to), IDM_ERR_ARGUMENT);
    assert_int_equal(idm_claim_transition(CS(NONE), IDM_CLAIM_EVENT_COUNT, &to), IDM_ERR_ARGUMENT);
    assert_int_equal(idm_claim_transition(CS(NONE), CE(CLAIM), NULL), IDM_ERR_ARGUMENT);
    assert_string_equal(idm_claim_event_name(IDM_CLAIM_EVENT_COUNT), "?");
}

/* ---------------------------------------------------------------- commands */

typedef struct cmd_legal {
    store_idm_cmd_state from;
    idm_cmd_event ev;
    store_idm_cmd_state to;
} cmd_legal;

#define KS(x) STORE_IDM_CMD_##x
#define KE(x) IDM_CMD_EV_##x

static const cmd_legal CMD_LEGAL[] = {
    {KS(QUEUED), KE(START), KS(SENDING)},
    {KS(QUEUED), KE(GIVE_UP), KS(FAILED)},
    {KS(SENDING), KE(START), KS(SENDING)},
    {KS(SENDING), KE(ANSWER_OK), KS(DONE)},
    {KS(SENDING), KE(ANSWER_ERROR), KS(FAILED)},
    {KS(SENDING), KE(GIVE_UP), KS(FAILED)},
};

static void every_command_pair_matches_the_documented_list(void **state)
{
    (void)state;
    size_t n = sizeof CMD_LEGAL / sizeof CMD_LEGAL[0], seen = 0, pairs = 0;
    for (int s = 0; s < STORE_IDM_CMD_STATE_COUNT; s++) {
        for (int e = 0; e < IDM_CMD_EVENT_COUNT; e++, pairs++) {
            const cmd_legal *want = NULL;
            for (size_t i = 0; i < n; i++)
                if (CMD_LEGAL[i].from == (store_idm_cmd_state)s && CMD_LEGAL[i].ev == (idm_cmd_event)e)
                    want = &CMD_LEGAL[i];
            store_idm_cmd_state to = STORE_IDM_CMD_STATE_COUNT;
            idm_status st = idm_cmd_transition((store_idm_cmd_state)s, (idm_cmd_event)e, &to);
            const char *sn = store_idm_cmd_state_name((store_idm_cmd_state)s);
            const char *en = idm_cmd_event_name((idm_cmd_event)e);
            if (want != NULL) {
                if (st != IDM_OK || to != want->to)
                    fail_msg("command %s --%s--> expected %s, got status %d to %s", sn, en,
                             store_idm_cmd_state_name(want->to), st, store_idm_cmd_state_name(to));
                seen++;
            } else if (st != IDM_ERR_ILLEGAL || to != STORE_IDM_CMD_STATE_COUNT) {
                fail_msg("command %s --%s--> must be illegal (status %d)", sn, en, st);
            }
        }
    }
    assert_int_equal(seen, n);
    print_message("# command table: %zu pairs, %zu legal\n", pairs, seen);
    /* done and failed are final; GIVE_UP is legal exactly where
     * store_idm_cmd_fail_all's SQL looks (queued, sending) */
    store_idm_cmd_state to;
    for (int e = 0; e < IDM_CMD_EVENT_COUNT; e++) {
        assert_int_equal(idm_cmd_transition(KS(DONE), (idm_cmd_event)e, &to), IDM_ERR_ILLEGAL);
        assert_int_equal(idm_cmd_transition(KS(FAILED), (idm_cmd_event)e, &to), IDM_ERR_ILLEGAL);
    }
    assert_int_equal(idm_cmd_transition(KS(STATE_COUNT), KE(START), &to), IDM_ERR_ARGUMENT);
    assert_int_equal(idm_cmd_transition(KS(QUEUED), IDM_CMD_EVENT_COUNT, &to), IDM_ERR_ARGUMENT);
    assert_string_equal(idm_cmd_event_name(IDM_CMD_EVENT_COUNT), "?");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_pair_matches_the_documented_list),
        cmocka_unit_test(retired_is_terminal_and_every_other_state_can_retire),
        cmocka_unit_test(every_state_is_reachable_from_manufactured),
        cmocka_unit_test(out_of_range_and_names),
        cmocka_unit_test(every_claim_pair_matches_the_documented_list),
        cmocka_unit_test(claim_rules),
        cmocka_unit_test(every_command_pair_matches_the_documented_list),
    };
    return cmocka_run_group_tests_name("idm_state", tests, NULL, NULL);
}

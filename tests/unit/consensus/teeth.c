/* teeth.c — runner test-unit-consensus-teeth, linked with treaty_consensus_bugs (built with
 * TREATY_RAFT_BUGS): each injectable bug really changes behaviour, and RAFT_BUG_NONE does not.
 * The simulator's teeth test relies on these switches; this proves they are wired. */
#include "tnet.h"

#include "common/err.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

static struct raft_config with_bug(enum raft_bug bug)
{
    struct raft_config c;
    raft_config_defaults(&c);
    c.bug = bug;
    return c;
}

static struct raft_msg msg(enum raft_msg_type type, uint64_t from, uint64_t to, uint64_t term)
{
    struct raft_msg m;
    memset(&m, 0, sizeof(m));
    m.type = type;
    m.from = from;
    m.to = to;
    m.term = term;
    return m;
}

/* Figure 3.7 as in test_replication.c; returns node 1's commit after node 2 acknowledged the
 * term-2 entry at index 2 under a term-3 leader. */
static uint64_t figure_3_7_commit(enum raft_bug bug)
{
    struct raft_config c = with_bug(bug);
    struct tnet net;
    tnet_init(&net, 3, 3, &c);
    for (uint64_t id = 1; id <= 3; id++)
        tnet_stop(&net, id);
    tlog_append(&net.nodes[1].log, 1, 1, RAFT_ENTRY_NOOP, NULL, 0);
    tlog_append(&net.nodes[1].log, 2, 2, RAFT_ENTRY_NORMAL, "t2", 2);
    net.nodes[1].hs.term = 2;
    net.nodes[1].hs.commit = 1;
    tnet_start(&net, 1);
    ck_assert_int_eq(raft_campaign(net.nodes[1].r), TR_OK);
    tnet_process(&net, 1);
    struct raft_msg m = msg(RAFT_MSG_PREVOTE_RESP, 2, 1, 3);
    tnet_step(&net, 1, &m);
    m = msg(RAFT_MSG_VOTE_RESP, 2, 1, 3);
    tnet_step(&net, 1, &m);
    ck_assert_int_eq(tnet_status(&net, 1).role, RAFT_LEADER);
    m = msg(RAFT_MSG_APPEND_RESP, 2, 1, 3);
    m.index = 2;
    tnet_step(&net, 1, &m);
    uint64_t commit = tnet_status(&net, 1).commit;
    tnet_free(&net);
    return commit;
}

START_TEST(test_commit_prev_term)
{
    ck_assert_uint_eq(figure_3_7_commit(RAFT_BUG_NONE), 1);
    ck_assert_uint_eq(figure_3_7_commit(RAFT_BUG_COMMIT_PREV_TERM), 2);
}
END_TEST

/* Node 2 (log [1: term 1]) is asked for a vote by node 3 with an empty log. Returns whether it
 * granted, and the vote it handed out for persisting. */
static int vote_case(enum raft_bug bug, uint64_t *persisted_vote)
{
    struct raft_config c = with_bug(bug);
    struct tnet net;
    tnet_init(&net, 3, 3, &c);
    tnet_stop(&net, 2);
    tlog_append(&net.nodes[2].log, 1, 1, RAFT_ENTRY_NOOP, NULL, 0);
    net.nodes[2].hs.term = 1;
    tnet_start(&net, 2);
    struct raft_msg m = msg(RAFT_MSG_VOTE, 3, 2, 2);
    m.index = 2;
    m.log_term = 1;
    if (bug == RAFT_BUG_VOTE_NO_LOG_CHECK) {
        m.index = 0;
        m.log_term = 0;
    }
    tnet_step(&net, 2, &m);
    int granted = tnet_status(&net, 2).vote == 3;
    *persisted_vote = net.nodes[2].hs.vote;
    tnet_free(&net);
    return granted;
}

START_TEST(test_forget_vote_persist)
{
    uint64_t v;
    ck_assert_int_eq(vote_case(RAFT_BUG_NONE, &v), 1);
    ck_assert_uint_eq(v, 3);
    ck_assert_int_eq(vote_case(RAFT_BUG_FORGET_VOTE_PERSIST, &v), 1);
    ck_assert_uint_eq(v, RAFT_NONE);
}
END_TEST

START_TEST(test_vote_no_log_check)
{
    uint64_t v;
    ck_assert_int_eq(vote_case(RAFT_BUG_VOTE_NO_LOG_CHECK, &v), 1);
    ck_assert_uint_eq(v, 3);
}
END_TEST

static int second_change(enum raft_bug bug)
{
    struct raft_config c = with_bug(bug);
    struct tnet net;
    tnet_init(&net, 5, 3, &c);
    ck_assert_uint_eq(tnet_elect(&net, 1), 1);
    ck_assert_int_eq(raft_propose_conf(net.nodes[1].r, RAFT_CONF_ADD_LEARNER, 4, NULL), TR_OK);
    int rc = raft_propose_conf(net.nodes[1].r, RAFT_CONF_ADD_LEARNER, 5, NULL);
    tnet_settle(&net);
    tnet_free(&net);
    return rc;
}

START_TEST(test_two_membership_changes)
{
    ck_assert_int_eq(second_change(RAFT_BUG_NONE), TR_EBUSY);
    ck_assert_int_eq(second_change(RAFT_BUG_TWO_MEMBERSHIP_CHANGES), TR_OK);
}
END_TEST

/* Voters {1, 2, 3} and learner 4; voters 2 and 3 are down. Only the bug lets 1 win with 4. */
static uint64_t learner_election(enum raft_bug bug)
{
    struct raft_config c = with_bug(bug);
    struct tnet net;
    tnet_init(&net, 4, 3, &c);
    ck_assert_uint_eq(tnet_elect(&net, 1), 1);
    ck_assert_int_eq(raft_propose_conf(net.nodes[1].r, RAFT_CONF_ADD_LEARNER, 4, NULL), TR_OK);
    tnet_settle(&net);
    tnet_stop(&net, 2);
    tnet_stop(&net, 3);
    tnet_stop(&net, 1);
    tnet_start(&net, 1);
    tnet_ticks(&net, 40);
    uint64_t l = tnet_leader(&net);
    tnet_free(&net);
    return l;
}

START_TEST(test_learner_votes)
{
    ck_assert_uint_eq(learner_election(RAFT_BUG_NONE), 0);
    ck_assert_uint_ne(learner_election(RAFT_BUG_LEARNER_VOTES), 0);
}
END_TEST

static Suite *suite_teeth(void)
{
    Suite *s = suite_create("teeth");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_commit_prev_term);
    tcase_add_test(tc, test_forget_vote_persist);
    tcase_add_test(tc, test_vote_no_log_check);
    tcase_add_test(tc, test_two_membership_changes);
    tcase_add_test(tc, test_learner_votes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite_teeth());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

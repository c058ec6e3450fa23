/* test_transfer.c — consensus/transfer.c: leadership transfer (§3.10): an up-to-date target is
 * told TimeoutNow at once; a lagging one is caught up first; proposals are refused meanwhile; a
 * transfer that cannot finish is abandoned after an election timeout. */
#include "tnet.h"

#include "common/err.h"

#include <check.h>
#include <string.h>

START_TEST(test_transfer_to_up_to_date_follower)
{
    struct tnet net;
    tnet_init(&net, 3, 3, NULL);
    ck_assert_uint_eq(tnet_elect(&net, 1), 1);
    ck_assert_int_eq(raft_transfer_leadership(net.nodes[1].r, 2), TR_OK);
    ck_assert_uint_eq(tnet_status(&net, 1).transferee, 2);
    ck_assert_int_eq(tnet_propose(&net, 1, "x"), TR_EBUSY);
    tnet_settle(&net);
    ck_assert_uint_eq(net.delivered[RAFT_MSG_TIMEOUT_NOW], 1);
    ck_assert_uint_eq(tnet_leader(&net), 2);
    ck_assert_int_eq(tnet_count_leaders(&net), 1);
    /* Straight to a vote (no pre-vote), through the others' leases: term 2, no tick needed. */
    for (uint64_t id = 1; id <= 3; id++) {
        ck_assert_uint_eq(tnet_status(&net, id).term, 2);
        ck_assert_uint_eq(tnet_status(&net, id).leader, 2);
    }
    ck_assert_uint_eq(tnet_status(&net, 1).transferee, RAFT_NONE);
    tnet_free(&net);
}
END_TEST

START_TEST(test_transfer_to_lagging_follower)
{
    struct tnet net;
    tnet_init(&net, 3, 3, NULL);
    ck_assert_uint_eq(tnet_elect(&net, 1), 1);
    tnet_cut(&net, 1, 3, 1);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(tnet_propose(&net, 1, "x"), TR_OK);
    tnet_settle(&net);
    ck_assert_int_eq(raft_transfer_leadership(net.nodes[1].r, 3), TR_OK);
    tnet_settle(&net);
    ck_assert_uint_eq(net.delivered[RAFT_MSG_TIMEOUT_NOW], 0);
    ck_assert_int_eq(tnet_status(&net, 1).role, RAFT_LEADER);
    tnet_cut(&net, 1, 3, 0);
    tnet_ticks(&net, 1);
    ck_assert_uint_eq(net.delivered[RAFT_MSG_TIMEOUT_NOW], 1);
    ck_assert_uint_eq(tnet_leader(&net), 3);
    ck_assert_uint_eq(tnet_status(&net, 3).term, 2);
    ck_assert_uint_eq(tnet_status(&net, 3).last_index, 6); /* 5 + its no-op */
    tnet_free(&net);
}
END_TEST

START_TEST(test_transfer_abandoned_after_election_timeout)
{
    struct tnet net;
    tnet_init(&net, 3, 3, NULL);
    ck_assert_uint_eq(tnet_elect(&net, 1), 1);
    tnet_cut(&net, 1, 3, 1);
    ck_assert_int_eq(raft_transfer_leadership(net.nodes[1].r, 3), TR_OK);
    tnet_ticks(&net, 9);
    ck_assert_uint_eq(tnet_status(&net, 1).transferee, 3);
    ck_assert_int_eq(tnet_propose(&net, 1, "x"), TR_EBUSY);
    tnet_tick(&net);
    ck_assert_uint_eq(tnet_status(&net, 1).transferee, RAFT_NONE);
    ck_assert_int_eq(tnet_propose(&net, 1, "x"), TR_OK);
    ck_assert_int_eq(tnet_status(&net, 1).role, RAFT_LEADER);
    tnet_free(&net);
}
END_TEST

START_TEST(test_transfer_refusals)
{
    struct tnet net;
    tnet_init(&net, 4, 3, NULL);
    ck_assert_int_eq(raft_transfer_leadership(net.nodes[1].r, 2), TR_ENOTLEADER);
    ck_assert_uint_eq(tnet_elect(&net, 1), 1);
    ck_assert_int_eq(raft_transfer_leadership(net.nodes[1].r, 1), TR_EINVAL);
    ck_assert_int_eq(raft_transfer_leadership(net.nodes[1].r, 4), TR_EINVAL);
    ck_assert_int_eq(raft_propose_conf(net.nodes[1].r, RAFT_CONF_ADD_LEARNER, 4, NULL), TR_OK);
    tnet_settle(&net);
    ck_assert_int_eq(raft_transfer_leadership(net.nodes[1].r, 4), TR_EINVAL);
    tnet_cut(&net, 1, 2, 1);
    ck_assert_int_eq(raft_transfer_leadership(net.nodes[1].r, 2), TR_OK);
    ck_assert_int_eq(raft_transfer_leadership(net.nodes[1].r, 3), TR_EBUSY);
    ck_assert_int_eq(raft_propose_conf(net.nodes[1].r, RAFT_CONF_REMOVE, 4, NULL), TR_EBUSY);
    tnet_free(&net);
}
END_TEST

Suite *suite_transfer(void);
Suite *suite_transfer(void)
{
    Suite *s = suite_create("transfer");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_transfer_to_up_to_date_follower);
    tcase_add_test(tc, test_transfer_to_lagging_follower);
    tcase_add_test(tc, test_transfer_abandoned_after_election_timeout);
    tcase_add_test(tc, test_transfer_refusals);
    suite_add_tcase(s, tc);
    return s;
}

/* test_read_index.c — consensus/read_index.c: linearizable reads (§6.4): the read index is the
 * commit index once a heartbeat round confirms leadership; refused before the leader commits in
 * its term, on followers, during a transfer and beyond the pending bound. */
#include "tnet.h"

#include "common/err.h"

#include <check.h>
#include <string.h>

START_TEST(test_read_index_after_heartbeat_quorum)
{
    struct tnet net;
    tnet_init(&net, 3, 3, NULL);
    ck_assert_uint_eq(tnet_elect(&net, 1), 1);
    ck_assert_int_eq(tnet_propose(&net, 1, "a"), TR_OK);
    tnet_settle(&net);
    uint64_t hb = net.delivered[RAFT_MSG_HEARTBEAT];
    ck_assert_int_eq(raft_read_index(net.nodes[1].r, 42), TR_OK);
    tnet_process(&net, 1);
    /* Not released before any answer. */
    ck_assert_uint_eq(net.nodes[1].n_reads, 0);
    tnet_settle(&net);
    ck_assert_uint_eq(net.delivered[RAFT_MSG_HEARTBEAT], hb + 2);
    ck_assert_uint_eq(net.nodes[1].n_reads, 1);
    ck_assert_uint_eq(net.nodes[1].reads[0].request_id, 42);
    ck_assert_uint_eq(net.nodes[1].reads[0].index, 2);
    ck_assert_uint_eq(tnet_status(&net, 1).commit, 2);
    tnet_free(&net);
}
END_TEST

START_TEST(test_read_index_one_answer_is_a_quorum_of_three)
{
    struct tnet net;
    tnet_init(&net, 3, 3, NULL);
    ck_assert_uint_eq(tnet_elect(&net, 1), 1);
    tnet_cut(&net, 1, 3, 1);
    ck_assert_int_eq(raft_read_index(net.nodes[1].r, 7), TR_OK);
    tnet_settle(&net);
    ck_assert_uint_eq(net.nodes[1].n_reads, 1);
    ck_assert_uint_eq(net.nodes[1].reads[0].index, 1);
    tnet_free(&net);
}
END_TEST

START_TEST(test_read_index_waits_without_quorum)
{
    struct tnet net;
    tnet_init(&net, 3, 3, NULL);
    ck_assert_uint_eq(tnet_elect(&net, 1), 1);
    tnet_isolate(&net, 1, 1);
    ck_assert_int_eq(raft_read_index(net.nodes[1].r, 1), TR_OK);
    tnet_ticks(&net, 5);
    ck_assert_uint_eq(net.nodes[1].n_reads, 0);
    /* Answers to later heartbeats also confirm the earlier request. */
    tnet_isolate(&net, 1, 0);
    tnet_ticks(&net, 1);
    ck_assert_uint_eq(net.nodes[1].n_reads, 1);
    ck_assert_uint_eq(net.nodes[1].reads[0].request_id, 1);
    tnet_free(&net);
}
END_TEST

START_TEST(test_read_index_refusals)
{
    struct raft_config c;
    raft_config_defaults(&c);
    c.max_read_requests = 2;
    struct tnet net;
    tnet_init(&net, 3, 3, &c);
    ck_assert_int_eq(raft_read_index(net.nodes[1].r, 1), TR_ENOTLEADER);
    ck_assert_int_eq(raft_campaign(net.nodes[1].r), TR_OK);
    tnet_process(&net, 1);
    while (tnet_status(&net, 1).role != RAFT_LEADER) {
        struct raft_msg m = net.queue[net.q_head++];
        ck_assert_int_eq(raft_step(net.nodes[m.to].r, &m), TR_OK);
        tnet_process(&net, m.to);
    }
    /* §6.4 step 1: the no-op of the new term is not committed yet. */
    ck_assert_int_eq(raft_read_index(net.nodes[1].r, 1), TR_EBUSY);
    tnet_settle(&net);
    ck_assert_int_eq(raft_read_index(net.nodes[2].r, 1), TR_ENOTLEADER);
    tnet_isolate(&net, 1, 1);
    ck_assert_int_eq(raft_read_index(net.nodes[1].r, 1), TR_OK);
    ck_assert_int_eq(raft_read_index(net.nodes[1].r, 2), TR_OK);
    ck_assert_int_eq(raft_read_index(net.nodes[1].r, 3), TR_EBUSY);
    tnet_isolate(&net, 1, 0);
    tnet_ticks(&net, 1);
    ck_assert_uint_eq(net.nodes[1].n_reads, 2);
    ck_assert_uint_eq(net.nodes[1].reads[0].request_id, 1);
    ck_assert_uint_eq(net.nodes[1].reads[1].request_id, 2);
    ck_assert_int_eq(raft_read_index(net.nodes[1].r, 3), TR_OK);
    ck_assert_int_eq(raft_transfer_leadership(net.nodes[1].r, 2), TR_OK);
    ck_assert_int_eq(raft_read_index(net.nodes[1].r, 4), TR_EBUSY);
    tnet_free(&net);
}
END_TEST

START_TEST(test_read_index_single_node_immediate)
{
    struct tnet net;
    tnet_init(&net, 1, 1, NULL);
    ck_assert_uint_eq(tnet_elect(&net, 1), 1);
    ck_assert_int_eq(raft_read_index(net.nodes[1].r, 5), TR_OK);
    tnet_process(&net, 1);
    ck_assert_uint_eq(net.nodes[1].n_reads, 1);
    ck_assert_uint_eq(net.nodes[1].reads[0].index, 1);
    tnet_free(&net);
}
END_TEST

/* Pending requests die with leadership: a deposed leader never releases them. */
START_TEST(test_read_index_dropped_on_step_down)
{
    struct tnet net;
    tnet_init(&net, 3, 3, NULL);
    ck_assert_uint_eq(tnet_elect(&net, 1), 1);
    tnet_isolate(&net, 1, 1);
    ck_assert_int_eq(raft_read_index(net.nodes[1].r, 9), TR_OK);
    tnet_ticks(&net, 12);
    ck_assert_uint_eq(tnet_elect(&net, 2), 2);
    tnet_isolate(&net, 1, 0);
    tnet_ticks(&net, 3);
    ck_assert_int_eq(tnet_status(&net, 1).role, RAFT_FOLLOWER);
    ck_assert_uint_eq(net.nodes[1].n_reads, 0);
    tnet_free(&net);
}
END_TEST

Suite *suite_read_index(void);
Suite *suite_read_index(void)
{
    Suite *s = suite_create("read_index");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_read_index_after_heartbeat_quorum);
    tcase_add_test(tc, test_read_index_one_answer_is_a_quorum_of_three);
    tcase_add_test(tc, test_read_index_waits_without_quorum);
    tcase_add_test(tc, test_read_index_refusals);
    tcase_add_test(tc, test_read_index_single_node_immediate);
    tcase_add_test(tc, test_read_index_dropped_on_step_down);
    suite_add_tcase(s, tc);
    return s;
}

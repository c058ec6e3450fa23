/* test_election.c — consensus/election.c: leader election (§3.4), randomized timeouts, the vote
 * rules (§3.6.1), pre-vote (§9.6) and check-quorum / leader lease (§4.2.3, §6.2), over tnet. */
#include "tnet.h"

#include "common/err.h"

#include <check.h>
#include <string.h>

/* A seed under which the three nodes draw distinct election timeouts. */
#define SEED 1

static struct raft_config cfg10(void)
{
    struct raft_config c;
    raft_config_defaults(&c);
    c.election_ticks = 10;
    c.heartbeat_ticks = 1;
    return c;
}

/* The last queued message of `type` sent by `from`, or NULL. */
static const struct raft_msg *queued(struct tnet *net, uint64_t from, enum raft_msg_type type)
{
    const struct raft_msg *found = NULL;
    for (size_t i = net->q_head; i < net->q_len; i++)
        if (net->queue[i].from == from && net->queue[i].type == type)
            found = &net->queue[i];
    return found;
}

START_TEST(test_single_leader_at_exact_tick)
{
    struct raft_config c = cfg10();
    c.seed = SEED;
    struct tnet net;
    tnet_init(&net, 3, 3, &c);
    uint32_t min = UINT32_MAX;
    uint64_t first = 0;
    int ties = 0;
    for (uint64_t id = 1; id <= 3; id++) {
        uint32_t t = tnet_status(&net, id).election_timeout;
        ck_assert_uint_ge(t, 10);
        ck_assert_uint_le(t, 19);
        ties += t == min;
        if (t < min) {
            min = t;
            first = id;
            ties = 0;
        }
    }
    ck_assert_int_eq(ties, 0); /* this seed gives distinct timeouts */
    tnet_ticks(&net, (int)min - 1);
    ck_assert_int_eq(tnet_count_leaders(&net), 0);
    for (uint64_t id = 1; id <= 3; id++)
        ck_assert_uint_eq(tnet_status(&net, id).term, 0);
    tnet_tick(&net);
    ck_assert_int_eq(tnet_count_leaders(&net), 1);
    uint64_t l = tnet_leader(&net);
    ck_assert_uint_eq(l, first);
    for (uint64_t id = 1; id <= 3; id++) {
        struct raft_status st = tnet_status(&net, id);
        ck_assert_uint_eq(st.term, 1);
        ck_assert_uint_eq(st.leader, l);
        /* The leader's no-op (§3.6.2) is committed everywhere. */
        ck_assert_uint_eq(st.commit, 1);
        ck_assert_uint_eq(net.nodes[id].applied, 1);
    }
    tnet_free(&net);
}
END_TEST

START_TEST(test_timeout_range_and_determinism)
{
    struct raft_config c = cfg10();
    int seen_low = 0, seen_high = 0;
    for (uint64_t seed = 0; seed < 200; seed++) {
        c.seed = seed;
        struct tnet a, b;
        tnet_init(&a, 1, 1, &c);
        tnet_init(&b, 1, 1, &c);
        uint32_t ta = tnet_status(&a, 1).election_timeout;
        ck_assert_uint_eq(ta, tnet_status(&b, 1).election_timeout);
        ck_assert_uint_ge(ta, 10);
        ck_assert_uint_le(ta, 19);
        seen_low |= ta == 10;
        seen_high |= ta == 19;
        tnet_free(&a);
        tnet_free(&b);
    }
    ck_assert(seen_low && seen_high);
}
END_TEST

START_TEST(test_single_node_elects_itself)
{
    struct tnet net;
    tnet_init(&net, 1, 1, NULL);
    ck_assert_uint_eq(tnet_elect(&net, 1), 1);
    struct raft_status st = tnet_status(&net, 1);
    ck_assert_uint_eq(st.term, 1);
    ck_assert_uint_eq(st.vote, 1);
    ck_assert_uint_eq(st.commit, 1);
    ck_assert_uint_eq(net.nodes[1].hs.term, 1);
    ck_assert_uint_eq(net.nodes[1].hs.vote, 1);
    tnet_free(&net);
}
END_TEST

START_TEST(test_prevote_partitioned_node_does_not_disrupt)
{
    struct raft_config c = cfg10();
    struct tnet net;
    tnet_init(&net, 3, 3, &c);
    ck_assert_uint_eq(tnet_elect(&net, 1), 1);
    tnet_isolate(&net, 3, 1);
    tnet_ticks(&net, 100);
    struct raft_status s3 = tnet_status(&net, 3);
    ck_assert_uint_eq(s3.term, 1);
    ck_assert_int_eq(s3.role, RAFT_PRE_CANDIDATE);
    tnet_isolate(&net, 3, 0);
    tnet_ticks(&net, 3);
    for (uint64_t id = 1; id <= 3; id++) {
        struct raft_status st = tnet_status(&net, id);
        ck_assert_uint_eq(st.term, 1);
        ck_assert_uint_eq(st.leader, 1);
    }
    ck_assert_int_eq(tnet_status(&net, 3).role, RAFT_FOLLOWER);
    tnet_free(&net);
}
END_TEST

/* The same schedule without pre-vote and check-quorum: the rejoining node's inflated term
 * deposes the leader. Shows the previous test measures something. */
START_TEST(test_without_prevote_partitioned_node_disrupts)
{
    struct raft_config c = cfg10();
    c.pre_vote = 0;
    c.check_quorum = 0;
    struct tnet net;
    tnet_init(&net, 3, 3, &c);
    ck_assert_uint_eq(tnet_elect(&net, 1), 1);
    tnet_isolate(&net, 3, 1);
    tnet_ticks(&net, 100);
    ck_assert_uint_gt(tnet_status(&net, 3).term, 3);
    tnet_isolate(&net, 3, 0);
    tnet_ticks(&net, 40);
    ck_assert_uint_gt(tnet_status(&net, 1).term, 3);
    tnet_free(&net);
}
END_TEST

START_TEST(test_check_quorum_step_down_exact_tick)
{
    struct raft_config c = cfg10();
    struct tnet net;
    tnet_init(&net, 3, 3, &c);
    ck_assert_uint_eq(tnet_elect(&net, 1), 1);
    uint32_t e0 = tnet_status(&net, 1).election_elapsed;
    tnet_isolate(&net, 1, 1);
    /* The first check (at 10 - e0) still sees the followers' earlier answers; the second one,
     * an election timeout later, finds nobody and steps down (§6.2). */
    int until = 20 - (int)e0;
    tnet_ticks(&net, until - 1);
    ck_assert_int_eq(tnet_status(&net, 1).role, RAFT_LEADER);
    tnet_tick(&net);
    struct raft_status st = tnet_status(&net, 1);
    ck_assert_int_eq(st.role, RAFT_FOLLOWER);
    ck_assert_uint_eq(st.term, 1);
    ck_assert_uint_eq(st.leader, RAFT_NONE);
    tnet_free(&net);
}
END_TEST

START_TEST(test_check_quorum_leader_stays_with_majority)
{
    struct raft_config c = cfg10();
    struct tnet net;
    tnet_init(&net, 3, 3, &c);
    ck_assert_uint_eq(tnet_elect(&net, 1), 1);
    tnet_isolate(&net, 3, 1);
    tnet_ticks(&net, 60);
    ck_assert_int_eq(tnet_status(&net, 1).role, RAFT_LEADER);
    ck_assert_uint_eq(tnet_status(&net, 1).term, 1);
    tnet_free(&net);
}
END_TEST

START_TEST(test_lease_ignores_vote_unless_transfer)
{
    struct raft_config c = cfg10();
    struct tnet net;
    tnet_init(&net, 3, 3, &c);
    ck_assert_uint_eq(tnet_elect(&net, 1), 1);
    struct raft_msg m;
    memset(&m, 0, sizeof(m));
    m.type = RAFT_MSG_VOTE;
    m.from = 3;
    m.to = 2;
    m.term = 5;
    m.index = 100;
    m.log_term = 4;
    ck_assert_int_eq(tnet_step(&net, 2, &m), TR_OK);
    ck_assert_uint_eq(tnet_status(&net, 2).term, 1);
    ck_assert_ptr_null(queued(&net, 2, RAFT_MSG_VOTE_RESP));
    m.flags = RAFT_MSG_FLAG_TRANSFER;
    ck_assert_int_eq(tnet_step(&net, 2, &m), TR_OK);
    ck_assert_uint_eq(tnet_status(&net, 2).term, 5);
    ck_assert_uint_eq(tnet_status(&net, 2).vote, 3);
    ck_assert_uint_eq(net.nodes[2].hs.vote, 3);
    tnet_free(&net);
}
END_TEST

START_TEST(test_vote_requires_up_to_date_log_and_one_vote_per_term)
{
    struct raft_config c = cfg10();
    struct tnet net;
    tnet_init(&net, 3, 3, &c);
    tnet_stop(&net, 2);
    tlog_append(&net.nodes[2].log, 1, 1, RAFT_ENTRY_NOOP, NULL, 0);
    tlog_append(&net.nodes[2].log, 2, 1, RAFT_ENTRY_NORMAL, "x", 1);
    net.nodes[2].hs.term = 1;
    tnet_start(&net, 2);
    struct raft_msg m;
    memset(&m, 0, sizeof(m));
    m.type = RAFT_MSG_VOTE;
    m.from = 3;
    m.to = 2;
    m.term = 2;
    m.index = 1;
    m.log_term = 1; /* shorter log, same last term: not up to date (§3.6.1) */
    tnet_step(&net, 2, &m);
    const struct raft_msg *resp = queued(&net, 2, RAFT_MSG_VOTE_RESP);
    ck_assert_ptr_nonnull(resp);
    ck_assert_uint_eq(resp->reject, 1);
    ck_assert_uint_eq(tnet_status(&net, 2).term, 2);
    ck_assert_uint_eq(tnet_status(&net, 2).vote, RAFT_NONE);
    m.index = 2;
    tnet_step(&net, 2, &m);
    resp = queued(&net, 2, RAFT_MSG_VOTE_RESP);
    ck_assert_uint_eq(resp->reject, 0);
    ck_assert_uint_eq(resp->term, 2);
    ck_assert_uint_eq(net.nodes[2].hs.vote, 3);
    /* A second candidate in the same term, even with a longer log, is refused. */
    m.from = 1;
    m.index = 9;
    m.log_term = 2;
    tnet_step(&net, 2, &m);
    resp = queued(&net, 2, RAFT_MSG_VOTE_RESP);
    ck_assert_uint_eq(resp->to, 1);
    ck_assert_uint_eq(resp->reject, 1);
    ck_assert_uint_eq(tnet_status(&net, 2).vote, 3);
    /* The vote survives a restart (it was persisted before the answer was queued). */
    tnet_stop(&net, 2);
    tnet_start(&net, 2);
    ck_assert_uint_eq(tnet_status(&net, 2).vote, 3);
    ck_assert_uint_eq(tnet_status(&net, 2).term, 2);
    tnet_free(&net);
}
END_TEST

START_TEST(test_candidate_with_stale_log_loses)
{
    struct raft_config c = cfg10();
    c.pre_vote = 0;
    c.check_quorum = 0;
    struct tnet net;
    tnet_init(&net, 3, 3, &c);
    ck_assert_uint_eq(tnet_elect(&net, 1), 1);
    tnet_isolate(&net, 3, 1);
    ck_assert_int_eq(tnet_propose(&net, 1, "a"), TR_OK);
    tnet_settle(&net);
    tnet_isolate(&net, 3, 0);
    /* Node 3 misses entry 2: both others refuse it (§3.6.1), so it loses at once. */
    ck_assert_int_eq(raft_campaign(net.nodes[3].r), TR_OK);
    tnet_settle(&net);
    struct raft_status s3 = tnet_status(&net, 3);
    ck_assert_int_eq(s3.role, RAFT_FOLLOWER);
    ck_assert_uint_eq(s3.term, 2);
    ck_assert_uint_eq(tnet_status(&net, 1).term, 2);
    ck_assert_int_eq(tnet_count_leaders(&net), 0);
    /* Only a node holding entry 2 can win; node 3 then catches up. */
    for (int i = 0; i < 60 && tnet_leader(&net) == 0; i++)
        tnet_tick(&net);
    uint64_t l = tnet_leader(&net);
    ck_assert(l == 1 || l == 2);
    ck_assert_uint_ge(tnet_status(&net, 3).commit, 3);
    ck_assert_uint_eq(tlog_term(&net.nodes[3].log, 2), 1);
    tnet_free(&net);
}
END_TEST

START_TEST(test_prevote_does_not_change_term)
{
    struct raft_config c = cfg10();
    struct tnet net;
    tnet_init(&net, 3, 3, &c);
    tnet_isolate(&net, 1, 1);
    ck_assert_int_eq(raft_campaign(net.nodes[1].r), TR_OK);
    tnet_process(&net, 1);
    struct raft_status st = tnet_status(&net, 1);
    ck_assert_int_eq(st.role, RAFT_PRE_CANDIDATE);
    ck_assert_uint_eq(st.term, 0);
    ck_assert_uint_eq(st.vote, RAFT_NONE);
    ck_assert_uint_eq(net.nodes[1].hs.term, 0);
    tnet_free(&net);
}
END_TEST

/* Figure 3.1: a stale RequestVote is refused with the current term, so the candidate catches up
 * (regression: h5 simulator seeds 483/703, a candidate stuck below a voter's term). */
START_TEST(test_stale_vote_answered_with_current_term)
{
    struct raft_config c = cfg10();
    struct tnet net;
    tnet_init(&net, 3, 3, &c);
    tnet_stop(&net, 2);
    net.nodes[2].hs.term = 9;
    tnet_start(&net, 2);
    struct raft_msg m;
    memset(&m, 0, sizeof(m));
    m.type = RAFT_MSG_VOTE;
    m.from = 3;
    m.to = 2;
    m.term = 4;
    tnet_step(&net, 2, &m);
    const struct raft_msg *resp = queued(&net, 2, RAFT_MSG_VOTE_RESP);
    ck_assert_ptr_nonnull(resp);
    ck_assert_uint_eq(resp->reject, 1);
    ck_assert_uint_eq(resp->term, 9);
    m.type = RAFT_MSG_PREVOTE;
    tnet_step(&net, 2, &m);
    resp = queued(&net, 2, RAFT_MSG_PREVOTE_RESP);
    ck_assert_ptr_nonnull(resp);
    ck_assert_uint_eq(resp->term, 9);
    tnet_settle(&net);
    ck_assert_uint_eq(tnet_status(&net, 3).term, 9);
    tnet_free(&net);
}
END_TEST

Suite *suite_election(void);
Suite *suite_election(void)
{
    Suite *s = suite_create("election");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_single_leader_at_exact_tick);
    tcase_add_test(tc, test_timeout_range_and_determinism);
    tcase_add_test(tc, test_single_node_elects_itself);
    tcase_add_test(tc, test_prevote_partitioned_node_does_not_disrupt);
    tcase_add_test(tc, test_without_prevote_partitioned_node_disrupts);
    tcase_add_test(tc, test_check_quorum_step_down_exact_tick);
    tcase_add_test(tc, test_check_quorum_leader_stays_with_majority);
    tcase_add_test(tc, test_lease_ignores_vote_unless_transfer);
    tcase_add_test(tc, test_vote_requires_up_to_date_log_and_one_vote_per_term);
    tcase_add_test(tc, test_candidate_with_stale_log_loses);
    tcase_add_test(tc, test_prevote_does_not_change_term);
    tcase_add_test(tc, test_stale_vote_answered_with_current_term);
    suite_add_tcase(s, tc);
    return s;
}

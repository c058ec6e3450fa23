/* test_ready.c — consensus/ready.c: the Ready contract. What must be durable before a message
 * is sent travels in the same Ready as that message; hard and soft state are reported only when
 * they change; no event may arrive while a Ready is outstanding. */
#include "tnet.h"

#include "common/err.h"

#include <check.h>
#include <signal.h>
#include <string.h>

START_TEST(test_vote_persisted_with_its_answer)
{
    struct tnet net;
    tnet_init(&net, 3, 3, NULL);
    struct raft_msg m;
    memset(&m, 0, sizeof(m));
    m.type = RAFT_MSG_VOTE;
    m.from = 3;
    m.to = 2;
    m.term = 4;
    ck_assert_int_eq(raft_step(net.nodes[2].r, &m), TR_OK);
    struct raft_ready rd;
    ck_assert_int_eq(raft_ready(net.nodes[2].r, &rd), TR_OK);
    ck_assert_int_eq(rd.has_hard_state, 1);
    ck_assert_uint_eq(rd.hard_state.term, 4);
    ck_assert_uint_eq(rd.hard_state.vote, 3);
    ck_assert_uint_eq(rd.n_msgs, 1);
    ck_assert_int_eq(rd.msgs[0].type, RAFT_MSG_VOTE_RESP);
    ck_assert_uint_eq(rd.msgs[0].reject, 0);
    ck_assert_uint_eq(rd.msgs[0].term, 4);
    ck_assert_int_eq(raft_advance(net.nodes[2].r), TR_OK);
    ck_assert_int_eq(raft_has_ready(net.nodes[2].r), 0);
    tnet_free(&net);
}
END_TEST

START_TEST(test_append_ack_travels_with_entries)
{
    struct tnet net;
    tnet_init(&net, 3, 3, NULL);
    ck_assert_uint_eq(tnet_elect(&net, 1), 1);
    ck_assert_int_eq(tnet_propose(&net, 1, "a"), TR_OK);
    tnet_process(&net, 1);
    struct raft_msg m;
    int found = 0;
    for (size_t i = net.q_head; i < net.q_len; i++)
        if (net.queue[i].to == 2 && net.queue[i].type == RAFT_MSG_APPEND) {
            m = net.queue[i];
            found = 1;
        }
    ck_assert(found);
    ck_assert_int_eq(raft_step(net.nodes[2].r, &m), TR_OK);
    struct raft_ready rd;
    ck_assert_int_eq(raft_ready(net.nodes[2].r, &rd), TR_OK);
    ck_assert_uint_eq(rd.n_entries, 1);
    ck_assert_uint_eq(rd.entries[0].index, 2);
    ck_assert(memcmp(rd.entries[0].data, "a", 1) == 0);
    ck_assert_uint_eq(rd.n_msgs, 1);
    ck_assert_int_eq(rd.msgs[0].type, RAFT_MSG_APPEND_RESP);
    ck_assert_uint_eq(rd.msgs[0].index, 2);
    ck_assert_int_eq(raft_advance(net.nodes[2].r), TR_OK);
    tnet_free(&net);
}
END_TEST

START_TEST(test_soft_and_hard_state_reported_on_change)
{
    struct tnet net;
    tnet_init(&net, 1, 1, NULL);
    struct raft *r = net.nodes[1].r;
    ck_assert_int_eq(raft_has_ready(r), 0);
    ck_assert_int_eq(raft_campaign(r), TR_OK);
    struct raft_ready rd;
    ck_assert_int_eq(raft_ready(r, &rd), TR_OK);
    ck_assert_int_eq(rd.has_soft_state, 1);
    ck_assert_int_eq(rd.role, RAFT_LEADER);
    ck_assert_uint_eq(rd.leader, 1);
    ck_assert_int_eq(rd.has_hard_state, 1);
    tlog_append(&net.nodes[1].log, 1, 1, RAFT_ENTRY_NOOP, NULL, 0);
    ck_assert_int_eq(raft_advance(r), TR_OK);
    /* The advance committed the no-op: only the commit changed. */
    ck_assert_int_eq(raft_ready(r, &rd), TR_OK);
    ck_assert_int_eq(rd.has_soft_state, 0);
    ck_assert_int_eq(rd.has_hard_state, 1);
    ck_assert_uint_eq(rd.hard_state.commit, 1);
    ck_assert_uint_eq(rd.n_committed, 1);
    ck_assert_uint_eq(rd.n_entries, 0);
    ck_assert_int_eq(raft_advance(r), TR_OK);
    ck_assert_int_eq(raft_has_ready(r), 0);
    ck_assert_int_eq(raft_tick(r), TR_OK);
    ck_assert_int_eq(raft_has_ready(r), 0);
    tnet_free(&net);
}
END_TEST

START_TEST(test_event_during_outstanding_ready_aborts)
{
    struct tnet net;
    tnet_init(&net, 1, 1, NULL);
    struct raft_ready rd;
    ck_assert_int_eq(raft_ready(net.nodes[1].r, &rd), TR_OK);
    raft_tick(net.nodes[1].r);
}
END_TEST

START_TEST(test_double_ready_aborts)
{
    struct tnet net;
    tnet_init(&net, 1, 1, NULL);
    struct raft_ready rd;
    ck_assert_int_eq(raft_ready(net.nodes[1].r, &rd), TR_OK);
    raft_ready(net.nodes[1].r, &rd);
}
END_TEST

Suite *suite_ready(void);
Suite *suite_ready(void)
{
    Suite *s = suite_create("ready");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_vote_persisted_with_its_answer);
    tcase_add_test(tc, test_append_ack_travels_with_entries);
    tcase_add_test(tc, test_soft_and_hard_state_reported_on_change);
    tcase_add_test_raise_signal(tc, test_event_during_outstanding_ready_aborts, SIGABRT);
    tcase_add_test_raise_signal(tc, test_double_ready_aborts, SIGABRT);
    suite_add_tcase(s, tc);
    return s;
}

/* test_progress.c — consensus/progress.c: probe and replicate states, the bounded in-flight
 * window, stale rejections, as the leader's raft_progress_get reports them. */
#include "tnet.h"

#include "common/err.h"

#include <check.h>
#include <string.h>

static struct raft_progress_info progress(struct tnet *net, uint64_t leader, uint64_t id)
{
    struct raft_progress_info pi;
    ck_assert_int_eq(raft_progress_get(net->nodes[leader].r, id, &pi), TR_OK);
    return pi;
}

START_TEST(test_probe_then_replicate)
{
    struct tnet net;
    tnet_init(&net, 3, 3, NULL);
    ck_assert_int_eq(raft_campaign(net.nodes[1].r), TR_OK);
    /* Deliver only the election: stop before the no-op's answers arrive. */
    tnet_process(&net, 1);
    for (int i = 0; i < 8; i++) {
        struct raft_msg m = net.queue[net.q_head++];
        ck_assert_int_eq(raft_step(net.nodes[m.to].r, &m), TR_OK);
        tnet_process(&net, m.to);
        if (tnet_status(&net, 1).role == RAFT_LEADER)
            break;
    }
    ck_assert_int_eq(tnet_status(&net, 1).role, RAFT_LEADER);
    struct raft_progress_info pi = progress(&net, 1, 2);
    ck_assert_int_eq(pi.state, RAFT_PROGRESS_PROBE);
    ck_assert_uint_eq(pi.match, 0);
    ck_assert_uint_eq(pi.next, 1);
    tnet_settle(&net);
    pi = progress(&net, 1, 2);
    ck_assert_int_eq(pi.state, RAFT_PROGRESS_REPLICATE);
    ck_assert_uint_eq(pi.match, 1);
    ck_assert_uint_eq(pi.next, 2);
    ck_assert_uint_eq(pi.inflight, 0);
    ck_assert_int_eq(raft_progress_get(net.nodes[1].r, 9, &pi), TR_ENOTFOUND);
    ck_assert_int_eq(raft_progress_get(net.nodes[2].r, 1, &pi), TR_ENOTLEADER);
    tnet_free(&net);
}
END_TEST

START_TEST(test_inflight_window_bounded)
{
    struct raft_config c;
    raft_config_defaults(&c);
    c.max_inflight = 2;
    c.max_append_entries = 1;
    struct tnet net;
    tnet_init(&net, 3, 3, &c);
    ck_assert_uint_eq(tnet_elect(&net, 1), 1);
    tnet_cut(&net, 1, 2, 1);
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(tnet_propose(&net, 1, "p"), TR_OK);
        tnet_settle(&net);
    }
    struct raft_progress_info pi = progress(&net, 1, 2);
    ck_assert_int_eq(pi.state, RAFT_PROGRESS_REPLICATE);
    ck_assert_uint_eq(pi.inflight, 2);
    ck_assert_uint_eq(pi.match, 1);
    ck_assert_uint_eq(pi.next, 4);
    /* Node 3 answers, so it is unaffected and the entries commit. */
    pi = progress(&net, 1, 3);
    ck_assert_uint_eq(pi.match, 6);
    ck_assert_uint_eq(tnet_status(&net, 1).commit, 6);
    /* Healed: a heartbeat answer frees a slot, the optimistic append is refused, the leader
     * probes back to the match point and replicates the rest. */
    tnet_cut(&net, 1, 2, 0);
    tnet_ticks(&net, 3);
    pi = progress(&net, 1, 2);
    ck_assert_int_eq(pi.state, RAFT_PROGRESS_REPLICATE);
    ck_assert_uint_eq(pi.match, 6);
    ck_assert_uint_eq(pi.inflight, 0);
    ck_assert_uint_eq(tnet_status(&net, 2).commit, 6);
    ck_assert_uint_ge(net.rejects_to[1], 1);
    tnet_free(&net);
}
END_TEST

static size_t queued_to(struct tnet *net, uint64_t to, enum raft_msg_type type)
{
    size_t n = 0;
    for (size_t i = net->q_head; i < net->q_len; i++)
        n += net->queue[i].to == to && net->queue[i].type == type;
    return n;
}

START_TEST(test_probe_sends_one_at_a_time)
{
    struct tnet net;
    tnet_init(&net, 3, 3, NULL);
    tnet_stop(&net, 3);
    ck_assert_uint_eq(tnet_elect(&net, 1), 1);
    struct raft_progress_info pi = progress(&net, 1, 3);
    ck_assert_int_eq(pi.state, RAFT_PROGRESS_PROBE);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(tnet_propose(&net, 1, "p"), TR_OK);
        tnet_process(&net, 1);
        ck_assert_uint_eq(queued_to(&net, 3, RAFT_MSG_APPEND), 0);
        ck_assert_uint_eq(queued_to(&net, 2, RAFT_MSG_APPEND), 1);
        tnet_settle(&net);
    }
    pi = progress(&net, 1, 3);
    ck_assert_int_eq(pi.state, RAFT_PROGRESS_PROBE);
    ck_assert_uint_eq(pi.next, 1);
    ck_assert_uint_eq(pi.match, 0);
    /* Restarted, node 3 answers a heartbeat; the probe resumes and it catches up. */
    tnet_start(&net, 3);
    tnet_ticks(&net, 2);
    pi = progress(&net, 1, 3);
    ck_assert_int_eq(pi.state, RAFT_PROGRESS_REPLICATE);
    ck_assert_uint_eq(pi.match, 4);
    tnet_free(&net);
}
END_TEST

START_TEST(test_stale_rejection_ignored)
{
    struct tnet net;
    tnet_init(&net, 3, 3, NULL);
    ck_assert_uint_eq(tnet_elect(&net, 1), 1);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(tnet_propose(&net, 1, "p"), TR_OK);
    tnet_settle(&net);
    struct raft_progress_info before = progress(&net, 1, 2);
    ck_assert_uint_eq(before.match, 4);
    struct raft_msg m;
    memset(&m, 0, sizeof(m));
    m.type = RAFT_MSG_APPEND_RESP;
    m.from = 2;
    m.to = 1;
    m.term = 1;
    m.reject = 1;
    m.index = 2; /* below match: an answer to an old append */
    tnet_step(&net, 1, &m);
    struct raft_progress_info after = progress(&net, 1, 2);
    ck_assert_int_eq(after.state, RAFT_PROGRESS_REPLICATE);
    ck_assert_uint_eq(after.match, 4);
    ck_assert_uint_eq(after.next, before.next);
    tnet_free(&net);
}
END_TEST

Suite *suite_progress(void);
Suite *suite_progress(void)
{
    Suite *s = suite_create("progress");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_probe_then_replicate);
    tcase_add_test(tc, test_inflight_window_bounded);
    tcase_add_test(tc, test_probe_sends_one_at_a_time);
    tcase_add_test(tc, test_stale_rejection_ignored);
    suite_add_tcase(s, tc);
    return s;
}

/* test_replication.c — consensus/replication.c: log replication and commitment (§3.5, §3.6),
 * the current-term-only commit rule (§3.6.2, Figure 3.7), conflict hints, append batching
 * bounds, and a stale leader stepping down, over tnet. */
#include "tnet.h"

#include "common/err.h"

#include <check.h>
#include <string.h>

static void logs_equal(struct tnet *net, uint64_t a, uint64_t b)
{
    const struct tlog *la = &net->nodes[a].log, *lb = &net->nodes[b].log;
    ck_assert_uint_eq(la->n, lb->n);
    for (size_t i = 0; i < la->n; i++) {
        ck_assert_uint_eq(la->ents[i].term, lb->ents[i].term);
        ck_assert_int_eq(la->ents[i].type, lb->ents[i].type);
        ck_assert_uint_eq(la->ents[i].len, lb->ents[i].len);
        if (la->ents[i].len)
            ck_assert(memcmp(la->ents[i].data, lb->ents[i].data, la->ents[i].len) == 0);
    }
}

START_TEST(test_replicate_and_commit)
{
    struct tnet net;
    tnet_init(&net, 3, 3, NULL);
    ck_assert_uint_eq(tnet_elect(&net, 1), 1);
    const char *words[] = {"alpha", "bravo", "charlie", "delta", "echo"};
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(tnet_propose(&net, 1, words[i]), TR_OK);
    tnet_settle(&net);
    for (uint64_t id = 1; id <= 3; id++) {
        ck_assert_uint_eq(tnet_status(&net, id).commit, 6);
        ck_assert_uint_eq(net.nodes[id].applied, 6);
        ck_assert_uint_eq(net.nodes[id].log.n, 6);
    }
    logs_equal(&net, 1, 2);
    logs_equal(&net, 1, 3);
    ck_assert_int_eq(net.nodes[2].log.ents[3].type, RAFT_ENTRY_NORMAL);
    ck_assert(memcmp(net.nodes[2].log.ents[3].data, "charlie", 7) == 0);
    ck_assert_int_eq(net.nodes[2].log.ents[0].type, RAFT_ENTRY_NOOP);
    tnet_free(&net);
}
END_TEST

START_TEST(test_follower_rejects_proposal)
{
    struct tnet net;
    tnet_init(&net, 3, 3, NULL);
    ck_assert_uint_eq(tnet_elect(&net, 1), 1);
    ck_assert_int_eq(tnet_propose(&net, 2, "x"), TR_ENOTLEADER);
    ck_assert_uint_eq(tnet_status(&net, 2).last_index, 1);
    tnet_free(&net);
}
END_TEST

/* The leader counts its own entry only once the driver persisted it (raft_advance). */
START_TEST(test_leader_counts_itself_after_persist)
{
    struct tnet net;
    tnet_init(&net, 1, 1, NULL);
    ck_assert_uint_eq(tnet_elect(&net, 1), 1);
    struct raft *r = net.nodes[1].r;
    ck_assert_int_eq(raft_propose(r, (const uint8_t *)"a", 1, NULL), TR_OK);
    ck_assert_uint_eq(tnet_status(&net, 1).commit, 1);
    struct raft_ready rd;
    ck_assert_int_eq(raft_ready(r, &rd), TR_OK);
    ck_assert_uint_eq(rd.n_entries, 1);
    ck_assert_uint_eq(rd.n_committed, 0);
    tlog_append(&net.nodes[1].log, 2, 1, RAFT_ENTRY_NORMAL, "a", 1);
    ck_assert_int_eq(raft_advance(r), TR_OK);
    ck_assert_uint_eq(tnet_status(&net, 1).commit, 2);
    ck_assert_int_eq(raft_ready(r, &rd), TR_OK);
    ck_assert_uint_eq(rd.n_committed, 1);
    ck_assert_uint_eq(rd.committed[0].index, 2);
    ck_assert_int_eq(raft_advance(r), TR_OK);
    ck_assert_uint_eq(tnet_status(&net, 1).applied, 2);
    tnet_free(&net);
}
END_TEST

/* A message to node `to` granting a (pre-)vote for term `term`. */
static struct raft_msg grant(enum raft_msg_type type, uint64_t from, uint64_t to, uint64_t term)
{
    struct raft_msg m;
    memset(&m, 0, sizeof(m));
    m.type = type;
    m.from = from;
    m.to = to;
    m.term = term;
    return m;
}

/* Figure 3.7: an entry of term 2 stored on a majority must not be committed by a term-3
 * leader by counting; it commits only when an entry of term 3 does. Nodes 2 and 3 are stopped;
 * their answers are hand-made. */
START_TEST(test_figure_3_7_current_term_only)
{
    struct tnet net;
    tnet_init(&net, 3, 3, NULL);
    tnet_stop(&net, 1);
    tnet_stop(&net, 2);
    tnet_stop(&net, 3);
    tlog_append(&net.nodes[1].log, 1, 1, RAFT_ENTRY_NOOP, NULL, 0);
    tlog_append(&net.nodes[1].log, 2, 2, RAFT_ENTRY_NORMAL, "t2", 2);
    net.nodes[1].hs.term = 2;
    net.nodes[1].hs.commit = 1;
    tnet_start(&net, 1);
    ck_assert_int_eq(raft_campaign(net.nodes[1].r), TR_OK);
    tnet_process(&net, 1);
    struct raft_msg m = grant(RAFT_MSG_PREVOTE_RESP, 2, 1, 3);
    tnet_step(&net, 1, &m);
    m = grant(RAFT_MSG_VOTE_RESP, 2, 1, 3);
    tnet_step(&net, 1, &m);
    struct raft_status st = tnet_status(&net, 1);
    ck_assert_int_eq(st.role, RAFT_LEADER);
    ck_assert_uint_eq(st.term, 3);
    ck_assert_uint_eq(st.last_index, 3);
    ck_assert_uint_eq(tlog_term(&net.nodes[1].log, 3), 3);
    /* Node 2 now holds entry 2 (term 2): a majority {1, 2}, yet no commit. */
    m = grant(RAFT_MSG_APPEND_RESP, 2, 1, 3);
    m.index = 2;
    tnet_step(&net, 1, &m);
    ck_assert_uint_eq(tnet_status(&net, 1).commit, 1);
    m.index = 3;
    tnet_step(&net, 1, &m);
    ck_assert_uint_eq(tnet_status(&net, 1).commit, 3);
    ck_assert_uint_eq(net.nodes[1].applied, 3);
    tnet_free(&net);
}
END_TEST

static void seed_log(struct tnet *net, uint64_t id, uint64_t upto_t1, uint64_t upto, uint64_t term)
{
    for (uint64_t i = 1; i <= upto; i++)
        tlog_append(&net->nodes[id].log, i, i <= upto_t1 ? 1 : term, RAFT_ENTRY_NORMAL, "e", 1);
    net->nodes[id].hs.term = term;
    net->nodes[id].hs.commit = upto_t1;
}

/* §3.5 conflict hints: node 3 holds 50 stale entries of term 2 after index 10; the leader's
 * log has term-3 entries there. One rejection is enough to find the match point at index 10. */
START_TEST(test_fast_backtracking_hints)
{
    struct tnet net;
    tnet_init(&net, 3, 3, NULL);
    for (uint64_t id = 1; id <= 3; id++)
        tnet_stop(&net, id);
    seed_log(&net, 1, 10, 20, 3);
    seed_log(&net, 2, 10, 20, 3);
    seed_log(&net, 3, 10, 60, 2);
    for (uint64_t id = 1; id <= 3; id++)
        tnet_start(&net, id);
    ck_assert_uint_eq(tnet_elect(&net, 1), 1);
    ck_assert_uint_eq(tnet_status(&net, 1).term, 4);
    ck_assert_uint_eq(net.rejects_to[1], 1);
    ck_assert_uint_eq(net.nodes[3].log.n, 21);
    ck_assert_uint_eq(tlog_term(&net.nodes[3].log, 10), 1);
    ck_assert_uint_eq(tlog_term(&net.nodes[3].log, 11), 3);
    ck_assert_uint_eq(tlog_term(&net.nodes[3].log, 21), 4);
    ck_assert_uint_eq(tnet_status(&net, 3).commit, 21);
    logs_equal(&net, 1, 3);
    tnet_free(&net);
}
END_TEST

/* The follower's hint when its log is shorter than the leader's previous index. */
START_TEST(test_reject_hint_short_log)
{
    struct tnet net;
    tnet_init(&net, 3, 3, NULL);
    struct raft_msg m;
    memset(&m, 0, sizeof(m));
    m.type = RAFT_MSG_APPEND;
    m.from = 1;
    m.to = 2;
    m.term = 1;
    m.index = 7;
    m.log_term = 1;
    tnet_step(&net, 2, &m);
    ck_assert_uint_gt(net.q_len, net.q_head);
    const struct raft_msg *resp = &net.queue[net.q_len - 1];
    ck_assert_int_eq(resp->type, RAFT_MSG_APPEND_RESP);
    ck_assert_uint_eq(resp->reject, 1);
    ck_assert_uint_eq(resp->index, 7);
    ck_assert_uint_eq(resp->hint_index, 0);
    ck_assert_uint_eq(resp->hint_term, 0);
    ck_assert_uint_eq(tnet_status(&net, 2).leader, 1);
    tnet_free(&net);
}
END_TEST

struct batch_obs {
    size_t max_entries;
    size_t max_bytes;
    size_t appends;
};

static void observe_batch(struct tnet *net, const struct raft_msg *m, void *arg)
{
    struct batch_obs *o = arg;
    (void)net;
    if (m->type != RAFT_MSG_APPEND || m->n_entries == 0)
        return;
    size_t bytes = 0;
    for (size_t i = 0; i < m->n_entries; i++)
        bytes += m->entries[i].len;
    if (m->n_entries > o->max_entries)
        o->max_entries = m->n_entries;
    if (bytes > o->max_bytes)
        o->max_bytes = bytes;
    o->appends++;
}

static struct batch_obs run_batching(uint32_t max_entries, size_t max_bytes)
{
    struct raft_config c;
    raft_config_defaults(&c);
    c.max_append_entries = max_entries;
    c.max_append_bytes = max_bytes;
    struct tnet net;
    tnet_init(&net, 2, 2, &c);
    ck_assert_uint_eq(tnet_elect(&net, 1), 1);
    tnet_isolate(&net, 2, 1);
    for (int i = 0; i < 9; i++)
        ck_assert_int_eq(tnet_propose(&net, 1, "sixsix"), TR_OK);
    tnet_settle(&net);
    tnet_isolate(&net, 2, 0);
    struct batch_obs o = {0, 0, 0};
    net.observe = observe_batch;
    net.observe_arg = &o;
    tnet_ticks(&net, 2);
    ck_assert_uint_eq(tnet_status(&net, 2).commit, 10);
    tnet_free(&net);
    return o;
}

START_TEST(test_append_batches_bounded)
{
    struct batch_obs o = run_batching(2, 1 << 20);
    ck_assert_uint_eq(o.max_entries, 2);
    ck_assert_uint_ge(o.appends, 5);
    o = run_batching(64, 13);
    /* 6-byte entries under a 13-byte bound: two per append, never three. */
    ck_assert_uint_eq(o.max_entries, 2);
    ck_assert_uint_le(o.max_bytes, 13);
    o = run_batching(64, 1);
    /* One entry always goes, even above the byte bound. */
    ck_assert_uint_eq(o.max_entries, 1);
}
END_TEST

START_TEST(test_stale_leader_steps_down)
{
    struct tnet net;
    tnet_init(&net, 3, 3, NULL);
    ck_assert_uint_eq(tnet_elect(&net, 1), 1);
    tnet_isolate(&net, 1, 1);
    tnet_ticks(&net, 12);
    ck_assert_uint_eq(tnet_elect(&net, 2), 2);
    ck_assert_uint_eq(tnet_status(&net, 2).term, 2);
    /* Node 1 has not noticed yet (check-quorum needs two windows); then it hears term 2. */
    ck_assert_int_eq(tnet_status(&net, 1).role, RAFT_LEADER);
    ck_assert_int_eq(tnet_propose(&net, 1, "lost"), TR_OK);
    tnet_isolate(&net, 1, 0);
    tnet_ticks(&net, 2);
    struct raft_status s1 = tnet_status(&net, 1);
    ck_assert_int_eq(s1.role, RAFT_FOLLOWER);
    ck_assert_uint_eq(s1.term, 2);
    ck_assert_uint_eq(s1.leader, 2);
    ck_assert_int_eq(tnet_count_leaders(&net), 1);
    /* The uncommitted entry of the deposed leader is replaced by the new leader's log. */
    logs_equal(&net, 1, 2);
    ck_assert_uint_eq(tlog_term(&net.nodes[1].log, 2), 2);
    tnet_free(&net);
}
END_TEST

/* Figure 3.1: a stale append is refused with the current term, so a stale leader learns it even
 * with pre-vote and check-quorum off (regression: h5 simulator, a stale leader stuck forever). */
START_TEST(test_stale_append_answered_with_current_term)
{
    struct raft_config c;
    raft_config_defaults(&c);
    c.pre_vote = 0;
    c.check_quorum = 0;
    struct tnet net;
    tnet_init(&net, 3, 3, &c);
    ck_assert_uint_eq(tnet_elect(&net, 1), 1);
    tnet_stop(&net, 2);
    net.nodes[2].hs.term = 5;
    tnet_start(&net, 2);
    tnet_ticks(&net, 1);
    struct raft_status s1 = tnet_status(&net, 1);
    ck_assert_int_eq(s1.role, RAFT_FOLLOWER);
    ck_assert_uint_eq(s1.term, 5);
    tnet_free(&net);
}
END_TEST

START_TEST(test_restart_keeps_log_and_commit)
{
    struct tnet net;
    tnet_init(&net, 3, 3, NULL);
    ck_assert_uint_eq(tnet_elect(&net, 1), 1);
    ck_assert_int_eq(tnet_propose(&net, 1, "a"), TR_OK);
    ck_assert_int_eq(tnet_propose(&net, 1, "b"), TR_OK);
    tnet_settle(&net);
    tnet_stop(&net, 3);
    ck_assert_int_eq(tnet_propose(&net, 1, "c"), TR_OK);
    tnet_settle(&net);
    tnet_start(&net, 3);
    struct raft_status s3 = tnet_status(&net, 3);
    ck_assert_uint_eq(s3.term, 1);
    ck_assert_uint_eq(s3.vote, 1);
    ck_assert_uint_eq(s3.commit, net.nodes[3].hs.commit);
    ck_assert_uint_eq(s3.last_index, 3);
    ck_assert_uint_eq(s3.applied, 3);
    tnet_ticks(&net, 2);
    ck_assert_uint_eq(tnet_status(&net, 3).commit, 4);
    ck_assert_uint_eq(net.nodes[3].applied, 4);
    ck_assert_uint_eq(tnet_status(&net, 1).term, 1);
    tnet_free(&net);
}
END_TEST

Suite *suite_replication(void);
Suite *suite_replication(void)
{
    Suite *s = suite_create("replication");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_replicate_and_commit);
    tcase_add_test(tc, test_follower_rejects_proposal);
    tcase_add_test(tc, test_leader_counts_itself_after_persist);
    tcase_add_test(tc, test_figure_3_7_current_term_only);
    tcase_add_test(tc, test_fast_backtracking_hints);
    tcase_add_test(tc, test_reject_hint_short_log);
    tcase_add_test(tc, test_append_batches_bounded);
    tcase_add_test(tc, test_stale_leader_steps_down);
    tcase_add_test(tc, test_stale_append_answered_with_current_term);
    tcase_add_test(tc, test_restart_keeps_log_and_commit);
    suite_add_tcase(s, tc);
    return s;
}

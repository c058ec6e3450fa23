/* test_ready.c — consensus/ready.c: the Ready contract. What must be durable before a message
 * is sent travels in the same Ready as that message; hard and soft state are reported only when
 * they change; no event may arrive while a Ready is outstanding, but a leader's append
 * acknowledgements through raft_step_early and its proposals through raft_propose_early. */
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

/* Node 1 elected, "a" proposed: the append that carries it to node 2. */
static struct raft_msg append_of_a(struct tnet *net)
{
    ck_assert_uint_eq(tnet_elect(net, 1), 1);
    ck_assert_int_eq(tnet_propose(net, 1, "a"), TR_OK);
    tnet_process(net, 1);
    struct raft_msg m;
    int found = 0;
    for (size_t i = net->q_head; i < net->q_len; i++)
        if (net->queue[i].to == 2 && net->queue[i].type == RAFT_MSG_APPEND) {
            m = net->queue[i];
            found = 1;
        }
    ck_assert(found);
    return m;
}

START_TEST(test_append_ack_travels_with_entries)
{
    struct tnet net;
    tnet_init(&net, 3, 3, NULL);
    struct raft_msg m = append_of_a(&net);
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

/* A follower is sent entry 2 together with a commit index that covers it (the leader already
 * has it on another follower). By default the Ready that persists it also hands it out to apply;
 * with apply_persisted_only it is handed out only by the Ready after the one that persisted it. */
static void append_with_commit(int persisted_only)
{
    struct raft_config base;
    raft_config_defaults(&base);
    base.apply_persisted_only = persisted_only;
    struct tnet net;
    tnet_init(&net, 3, 3, &base);
    struct raft_msg m = append_of_a(&net);
    m.commit = 2;
    struct raft *r = net.nodes[2].r;
    ck_assert_int_eq(raft_step(r, &m), TR_OK);
    struct raft_ready rd;
    ck_assert_int_eq(raft_ready(r, &rd), TR_OK);
    ck_assert_uint_eq(rd.n_entries, 1);
    ck_assert_uint_eq(rd.entries[0].index, 2);
    ck_assert_uint_eq(rd.hard_state.commit, 2);
    /* Whatever else it applies (entry 1, the leader's no-op, was persisted earlier). */
    uint64_t last_applied = rd.n_committed ? rd.committed[rd.n_committed - 1].index : 0;
    ck_assert_int_eq(last_applied == 2, !persisted_only);
    ck_assert_uint_le(last_applied, 2);
    tlog_append(&net.nodes[2].log, 2, rd.entries[0].term, RAFT_ENTRY_NORMAL, "a", 1);
    ck_assert_int_eq(raft_advance(r), TR_OK);
    ck_assert_int_eq(raft_has_ready(r), persisted_only);
    if (persisted_only) {
        ck_assert_int_eq(raft_ready(r, &rd), TR_OK);
        ck_assert_uint_eq(rd.n_entries, 0);
        ck_assert_uint_eq(rd.n_committed, 1);
        ck_assert_uint_eq(rd.committed[0].index, 2);
        ck_assert_int_eq(raft_advance(r), TR_OK);
        ck_assert_int_eq(raft_has_ready(r), 0);
    }
    tnet_free(&net);
}

START_TEST(test_committed_entries_of_the_same_ready)
{
    append_with_commit(0);
}
END_TEST

START_TEST(test_apply_persisted_only_waits_a_ready)
{
    append_with_commit(1);
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

/* The queued message of `type` from `from` to `to` (the last one); fails the test if none. */
static struct raft_msg queued(const struct tnet *net, enum raft_msg_type type, uint64_t from,
                              uint64_t to)
{
    struct raft_msg m;
    int found = 0;
    for (size_t i = net->q_head; i < net->q_len; i++)
        if (net->queue[i].type == type && net->queue[i].from == from && net->queue[i].to == to) {
            m = net->queue[i];
            found = 1;
        }
    ck_assert(found);
    return m;
}

/* Node 1 leads 3 nodes and has proposed "a" (index 2); its Ready with "a" is outstanding in *rd,
 * and both followers took the appends in it (their acknowledgements are queued). */
static struct raft *leader_persisting_a(struct tnet *net, struct raft_ready *rd, uint64_t *term)
{
    tnet_init(net, 3, 3, NULL);
    ck_assert_uint_eq(tnet_elect(net, 1), 1);
    struct raft *r = net->nodes[1].r;
    uint64_t idx = 0;
    *term = tnet_status(net, 1).term;
    ck_assert_int_eq(raft_propose(r, (const uint8_t *)"a", 1, &idx), TR_OK);
    ck_assert_uint_eq(idx, 2);
    ck_assert_int_eq(raft_ready(r, rd), TR_OK);
    ck_assert_uint_eq(rd->n_entries, 1);
    ck_assert_uint_eq(rd->n_msgs, 2);
    for (size_t i = 0; i < rd->n_msgs; i++) {
        ck_assert_int_eq(rd->msgs[i].type, RAFT_MSG_APPEND);
        tnet_step(net, rd->msgs[i].to, &rd->msgs[i]); /* the follower persists and answers */
    }
    return r;
}

/* Follower 2 of a settled network, with a Ready outstanding (it took a new append). */
static struct raft *follower_with_ready(struct tnet *net, struct raft_ready *rd)
{
    ck_assert_int_eq(tnet_propose(net, 1, "c"), TR_OK);
    tnet_process(net, 1);
    struct raft_msg app = queued(net, RAFT_MSG_APPEND, 1, 2);
    ck_assert_int_eq(raft_step(net->nodes[2].r, &app), TR_OK);
    ck_assert_int_eq(raft_ready(net->nodes[2].r, rd), TR_OK);
    return net->nodes[2].r;
}

/* raft_step_early: while the leader persists its new entry, the followers' acknowledgements
 * commit it (two of three are durable) and the new commit index leaves at once; the leader's
 * own entry does not count before raft_advance; the outstanding Ready is left as it was. */
START_TEST(test_step_early_commits_while_leader_persists)
{
    struct tnet net;
    struct raft_ready rd;
    uint64_t term = 0;
    struct raft *r = leader_persisting_a(&net, &rd, &term);
    const struct raft_msg *out = NULL;
    size_t n_out = 9;
    struct raft_msg ack2 = queued(&net, RAFT_MSG_APPEND_RESP, 2, 1);
    struct raft_msg ack3 = queued(&net, RAFT_MSG_APPEND_RESP, 3, 1);
    ck_assert_uint_eq(ack2.index, 2);

    /* Not taken early: a rejection, another type, another term. */
    struct raft_msg bad = ack2;
    bad.reject = 1;
    ck_assert_int_eq(raft_step_early(r, &bad, &out, &n_out), TR_EBUSY);
    ck_assert_uint_eq(n_out, 0);
    bad = ack2;
    bad.type = RAFT_MSG_HEARTBEAT_RESP;
    ck_assert_int_eq(raft_step_early(r, &bad, &out, &n_out), TR_EBUSY);
    bad = ack2;
    bad.term = term + 1;
    ck_assert_int_eq(raft_step_early(r, &bad, &out, &n_out), TR_EBUSY);
    ck_assert_uint_eq(tnet_status(&net, 1).term, term);

    /* One follower and the leader's persisted no-op: index 2 is not yet on a majority. */
    ck_assert_int_eq(raft_step_early(r, &ack2, &out, &n_out), TR_OK);
    ck_assert_uint_eq(tnet_status(&net, 1).commit, 1);
    /* The second follower: 2 of 3 hold index 2 durably, so it commits while the leader persists. */
    ck_assert_int_eq(raft_step_early(r, &ack3, &out, &n_out), TR_OK);
    ck_assert_uint_eq(tnet_status(&net, 1).commit, 2);
    ck_assert_uint_eq(n_out, 2);
    for (size_t i = 0; i < n_out; i++) {
        ck_assert_int_eq(out[i].type, RAFT_MSG_APPEND);
        ck_assert_uint_eq(out[i].commit, 2);
        ck_assert_uint_eq(out[i].term, term);
    }
    /* The outstanding Ready still holds what it held. */
    ck_assert_uint_eq(rd.n_entries, 1);
    ck_assert_uint_eq(rd.entries[0].index, 2);
    ck_assert(memcmp(rd.entries[0].data, "a", 1) == 0);
    ck_assert_int_eq(rd.msgs[0].type, RAFT_MSG_APPEND);
    ck_assert_int_eq(rd.msgs[1].type, RAFT_MSG_APPEND);

    /* The leader persists, advances: the next Ready applies index 2 and records the commit. */
    tlog_append(&net.nodes[1].log, 2, term, RAFT_ENTRY_NORMAL, "a", 1);
    ck_assert_int_eq(raft_advance(r), TR_OK);
    ck_assert_int_eq(raft_step_early(r, &ack2, &out, &n_out), TR_EBUSY); /* none outstanding */
    ck_assert_int_eq(raft_ready(r, &rd), TR_OK);
    ck_assert_uint_eq(rd.n_committed, 1);
    ck_assert_uint_eq(rd.committed[0].index, 2);
    ck_assert_int_eq(rd.has_hard_state, 1);
    ck_assert_uint_eq(rd.hard_state.commit, 2);
    ck_assert_int_eq(raft_advance(r), TR_OK);

    /* A follower never takes one early. */
    ck_assert_int_eq(raft_step_early(follower_with_ready(&net, &rd), &ack3, &out, &n_out),
                     TR_EBUSY);
    tnet_free(&net);
}
END_TEST

/* raft_propose_early: a leader persisting "a" takes "b" at once; the appends carrying "b" leave
 * now, the outstanding Ready keeps only "a", and the next Ready hands "b" out to persist. The
 * followers' acknowledgements commit both before the leader persisted either. */
START_TEST(test_propose_early_joins_the_next_ready)
{
    struct tnet net;
    struct raft_ready rd;
    uint64_t term = 0, idx = 0;
    struct raft *r = leader_persisting_a(&net, &rd, &term);
    const struct raft_msg *out = NULL;
    size_t n_out = 9;

    ck_assert_int_eq(raft_propose_early(r, (const uint8_t *)"b", 1, &idx, &out, &n_out), TR_OK);
    ck_assert_uint_eq(idx, 3);
    ck_assert_uint_eq(n_out, 2);
    for (size_t i = 0; i < n_out; i++) {
        ck_assert_int_eq(out[i].type, RAFT_MSG_APPEND);
        ck_assert_uint_eq(out[i].n_entries, 1);
        ck_assert_uint_eq(out[i].entries[0].index, 3);
        ck_assert(memcmp(out[i].entries[0].data, "b", 1) == 0);
    }
    struct raft_msg sent[2] = {out[0], out[1]};
    ck_assert_uint_eq(rd.n_entries, 1); /* the outstanding Ready is unchanged */
    ck_assert_uint_eq(rd.entries[0].index, 2);
    ck_assert(memcmp(rd.entries[0].data, "a", 1) == 0);
    struct raft_status st = tnet_status(&net, 1);
    ck_assert_uint_eq(st.last_index, 3);
    ck_assert_uint_eq(st.stable_index, 1);
    for (size_t i = 0; i < 2; i++)
        tnet_step(&net, sent[i].to, &sent[i]); /* the followers persist "b" and answer */
    for (uint64_t f = 2; f <= 3; f++) {
        struct raft_msg ack = queued(&net, RAFT_MSG_APPEND_RESP, f, 1);
        ck_assert_uint_eq(ack.index, 3);
        ck_assert_int_eq(raft_step_early(r, &ack, &out, &n_out), TR_OK);
    }
    ck_assert_uint_eq(tnet_status(&net, 1).commit, 3);

    /* The leader persisted "a" only: "b" is the next Ready's to persist, both are to apply. */
    tlog_append(&net.nodes[1].log, 2, term, RAFT_ENTRY_NORMAL, "a", 1);
    ck_assert_int_eq(raft_advance(r), TR_OK);
    st = tnet_status(&net, 1);
    ck_assert_uint_eq(st.stable_index, 2);
    ck_assert_uint_eq(st.last_index, 3);
    ck_assert_int_eq(raft_ready(r, &rd), TR_OK);
    ck_assert_uint_eq(rd.n_entries, 1);
    ck_assert_uint_eq(rd.entries[0].index, 3);
    ck_assert(memcmp(rd.entries[0].data, "b", 1) == 0);
    ck_assert_uint_eq(rd.n_committed, 2);
    ck_assert_uint_eq(rd.committed[1].index, 3);
    tlog_append(&net.nodes[1].log, 3, term, RAFT_ENTRY_NORMAL, "b", 1);
    ck_assert_int_eq(raft_advance(r), TR_OK);
    ck_assert_uint_eq(tnet_status(&net, 1).stable_index, 3);
    ck_assert_int_eq(raft_propose_early(r, (const uint8_t *)"x", 1, &idx, &out, &n_out), TR_EBUSY);
    ck_assert_uint_eq(n_out, 0); /* no Ready outstanding */

    /* A follower with a Ready outstanding is refused. */
    struct raft *f = follower_with_ready(&net, &rd);
    ck_assert_int_eq(raft_propose_early(f, (const uint8_t *)"d", 1, &idx, &out, &n_out),
                     TR_ENOTLEADER);
    tnet_free(&net);
}
END_TEST

Suite *suite_ready(void);
Suite *suite_ready(void)
{
    Suite *s = suite_create("ready");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_vote_persisted_with_its_answer);
    tcase_add_test(tc, test_append_ack_travels_with_entries);
    tcase_add_test(tc, test_committed_entries_of_the_same_ready);
    tcase_add_test(tc, test_apply_persisted_only_waits_a_ready);
    tcase_add_test(tc, test_soft_and_hard_state_reported_on_change);
    tcase_add_test(tc, test_step_early_commits_while_leader_persists);
    tcase_add_test(tc, test_propose_early_joins_the_next_ready);
    tcase_add_test_raise_signal(tc, test_event_during_outstanding_ready_aborts, SIGABRT);
    tcase_add_test_raise_signal(tc, test_double_ready_aborts, SIGABRT);
    suite_add_tcase(s, tc);
    return s;
}

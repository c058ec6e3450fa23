/* test_log.c — consensus/log.c: the unstable tail and its bounds (proposals refused at the edge,
 * a follower accepting only what fits), the sticky log error, and truncation of a conflicting
 * suffix through the Ready contract. */
#include "tnet.h"

#include "common/alloc.h"
#include "common/err.h"

#include <check.h>
#include <string.h>

START_TEST(test_unstable_entries_bound)
{
    struct raft_config c;
    raft_config_defaults(&c);
    c.max_unstable_entries = 4;
    struct tnet net;
    tnet_init(&net, 1, 1, &c);
    ck_assert_uint_eq(tnet_elect(&net, 1), 1);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(tnet_propose(&net, 1, "p"), TR_OK);
    uint64_t index = 99;
    ck_assert_int_eq(raft_propose(net.nodes[1].r, (const uint8_t *)"q", 1, &index), TR_EBUSY);
    ck_assert_uint_eq(index, 99);
    ck_assert_uint_eq(tnet_status(&net, 1).last_index, 5);
    tnet_process(&net, 1);
    ck_assert_int_eq(raft_propose(net.nodes[1].r, (const uint8_t *)"q", 1, &index), TR_OK);
    ck_assert_uint_eq(index, 6);
    tnet_free(&net);
}
END_TEST

START_TEST(test_unstable_bytes_bound_and_entry_limit)
{
    struct raft_config c;
    raft_config_defaults(&c);
    c.max_unstable_bytes = 10;
    c.max_entry_bytes = 10;
    struct tnet net;
    tnet_init(&net, 1, 1, &c);
    ck_assert_uint_eq(tnet_elect(&net, 1), 1);
    ck_assert_int_eq(tnet_propose(&net, 1, "sixsix"), TR_OK);
    ck_assert_int_eq(tnet_propose(&net, 1, "sixsix"), TR_EBUSY);
    ck_assert_int_eq(tnet_propose(&net, 1, "elevenbytes"), TR_ELIMIT);
    ck_assert_int_eq(raft_propose(net.nodes[1].r, NULL, 3, NULL), TR_EINVAL);
    ck_assert_int_eq(raft_propose(net.nodes[1].r, NULL, 0, NULL), TR_OK);
    tnet_process(&net, 1);
    ck_assert_int_eq(tnet_propose(&net, 1, "tenbytes!!"), TR_OK);
    ck_assert_int_eq(raft_propose(net.nodes[1].r, NULL, 0, NULL), TR_OK);
    tnet_settle(&net);
    ck_assert_uint_eq(tnet_status(&net, 1).commit, 5);
    ck_assert_uint_eq(net.nodes[1].log.ents[2].len, 0);
    ck_assert_uint_eq(net.nodes[1].log.ents[3].len, 10);
    tnet_free(&net);
}
END_TEST

static struct raft_msg append_msg(uint64_t prev, size_t n, struct raft_entry *ents)
{
    for (size_t i = 0; i < n; i++) {
        ents[i].index = prev + 1 + i;
        ents[i].term = 1;
        ents[i].type = RAFT_ENTRY_NORMAL;
        ents[i].data = (const uint8_t *)"d";
        ents[i].len = 1;
    }
    struct raft_msg m;
    memset(&m, 0, sizeof(m));
    m.type = RAFT_MSG_APPEND;
    m.from = 1;
    m.to = 2;
    m.term = 1;
    m.index = prev;
    m.log_term = prev ? 1 : 0;
    m.commit = prev + n;
    m.entries = ents;
    m.n_entries = n;
    return m;
}

START_TEST(test_follower_accepts_up_to_bound)
{
    struct raft_config c;
    raft_config_defaults(&c);
    c.max_unstable_entries = 2;
    struct tnet net;
    tnet_init(&net, 2, 2, &c);
    struct raft_entry ents[5];
    struct raft_msg m = append_msg(0, 5, ents);
    ck_assert_int_eq(raft_step(net.nodes[2].r, &m), TR_OK);
    struct raft_ready rd;
    ck_assert_int_eq(raft_ready(net.nodes[2].r, &rd), TR_OK);
    ck_assert_uint_eq(rd.n_entries, 2);
    ck_assert_uint_eq(rd.n_msgs, 1);
    ck_assert_uint_eq(rd.msgs[0].reject, 0);
    ck_assert_uint_eq(rd.msgs[0].index, 2);
    /* Commit never passes what this log is known to match. */
    ck_assert_uint_eq(rd.hard_state.commit, 2);
    ck_assert_int_eq(raft_advance(net.nodes[2].r), TR_OK);
    tnet_free(&net);
}
END_TEST

START_TEST(test_conflicting_suffix_truncated_in_ready)
{
    struct tnet net;
    tnet_init(&net, 2, 2, NULL);
    tnet_stop(&net, 2);
    for (uint64_t i = 1; i <= 5; i++)
        tlog_append(&net.nodes[2].log, i, 1, RAFT_ENTRY_NORMAL, "o", 1);
    net.nodes[2].hs.term = 2;
    net.nodes[2].hs.commit = 2;
    tnet_start(&net, 2);
    struct raft_entry ents[2] = {
        {3, 2, RAFT_ENTRY_NORMAL, (const uint8_t *)"n", 1},
        {4, 2, RAFT_ENTRY_NORMAL, (const uint8_t *)"n", 1},
    };
    struct raft_msg m;
    memset(&m, 0, sizeof(m));
    m.type = RAFT_MSG_APPEND;
    m.from = 1;
    m.to = 2;
    m.term = 2;
    m.index = 2;
    m.log_term = 1;
    m.commit = 4;
    m.entries = ents;
    m.n_entries = 2;
    ck_assert_int_eq(raft_step(net.nodes[2].r, &m), TR_OK);
    struct raft_status st = tnet_status(&net, 2);
    ck_assert_uint_eq(st.last_index, 4);
    ck_assert_uint_eq(st.stable_index, 2);
    ck_assert_uint_eq(st.commit, 4);
    struct raft_ready rd;
    ck_assert_int_eq(raft_ready(net.nodes[2].r, &rd), TR_OK);
    ck_assert_uint_eq(rd.n_entries, 2);
    ck_assert_uint_eq(rd.entries[0].index, 3);
    ck_assert_uint_eq(rd.entries[0].term, 2);
    ck_assert_uint_eq(rd.n_committed, 4);
    ck_assert_uint_eq(rd.committed[2].term, 2);
    ck_assert_int_eq(raft_advance(net.nodes[2].r), TR_OK);
    tnet_free(&net);
}
END_TEST

static int fail_term(void *ctx, uint64_t index, uint64_t *term)
{
    (void)ctx;
    (void)index;
    (void)term;
    return TR_EIO;
}

static int one_entry(void *ctx, uint64_t index, struct raft_entry *e)
{
    (void)ctx;
    memset(e, 0, sizeof(*e));
    e->index = index;
    e->term = 1;
    e->type = RAFT_ENTRY_NOOP;
    return TR_OK;
}

static int last_one(void *ctx, uint64_t *index)
{
    (void)ctx;
    *index = 1;
    return TR_OK;
}

START_TEST(test_log_error_is_sticky)
{
    struct raft_config c;
    raft_config_defaults(&c);
    c.id = 1;
    c.log.term = fail_term;
    c.log.entry = one_entry;
    c.log.last_index = last_one;
    c.conf.n_voters = 3;
    c.conf.voters[0] = 1;
    c.conf.voters[1] = 2;
    c.conf.voters[2] = 3;
    c.hard_state.term = 1;
    struct raft *r = NULL;
    ck_assert_int_eq(raft_create(&c, &r), TR_OK);
    ck_assert_int_eq(raft_campaign(r), TR_EIO);
    ck_assert_int_eq(raft_tick(r), TR_EIO);
    ck_assert_int_eq(raft_has_ready(r), 0);
    struct raft_ready rd;
    ck_assert_int_eq(raft_ready(r, &rd), TR_EIO);
    ck_assert_int_eq(raft_read_index(r, 1), TR_EIO);
    raft_destroy(r);
}
END_TEST

START_TEST(test_message_queue_bound_drops)
{
    struct raft_config c;
    raft_config_defaults(&c);
    c.max_msgs = 2;
    struct tnet net;
    tnet_init(&net, 5, 5, &c);
    ck_assert_int_eq(raft_campaign(net.nodes[1].r), TR_OK);
    struct raft_status st = tnet_status(&net, 1);
    ck_assert_uint_eq(st.msgs_dropped, 2);
    struct raft_ready rd;
    ck_assert_int_eq(raft_ready(net.nodes[1].r, &rd), TR_OK);
    ck_assert_uint_eq(rd.n_msgs, 2);
    ck_assert_uint_eq(rd.msgs[0].to, 2);
    ck_assert_uint_eq(rd.msgs[1].to, 3);
    ck_assert_int_eq(raft_advance(net.nodes[1].r), TR_OK);
    /* Those two were not delivered. Later elections reach two of four peers each time, which
     * with the candidate's own vote is a quorum of five: a leader emerges. */
    for (int i = 0; i < 40 && !tnet_leader(&net); i++)
        tnet_tick(&net);
    ck_assert_uint_ne(tnet_leader(&net), 0);
    tnet_free(&net);
}
END_TEST

START_TEST(test_apply_bounded_per_ready)
{
    struct raft_config c;
    raft_config_defaults(&c);
    c.max_apply_entries = 2;
    struct tnet net;
    tnet_init(&net, 1, 1, &c);
    ck_assert_uint_eq(tnet_elect(&net, 1), 1);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(tnet_propose(&net, 1, "p"), TR_OK);
    struct raft *r = net.nodes[1].r;
    size_t readys = 0;
    while (raft_has_ready(r)) {
        struct raft_ready rd;
        ck_assert_int_eq(raft_ready(r, &rd), TR_OK);
        ck_assert_uint_le(rd.n_committed, 2);
        for (size_t i = 0; i < rd.n_entries; i++)
            tlog_append(&net.nodes[1].log, rd.entries[i].index, rd.entries[i].term,
                        rd.entries[i].type, rd.entries[i].data, rd.entries[i].len);
        ck_assert_int_eq(raft_advance(r), TR_OK);
        readys++;
    }
    ck_assert_uint_eq(tnet_status(&net, 1).applied, 6);
    ck_assert_uint_eq(readys, 4);
    tnet_free(&net);
}
END_TEST

/* Two appends between Readys, the second conflicting with the first: the truncation happens
 * inside the unstable tail and the Ready carries only the surviving entries. */
START_TEST(test_truncation_inside_unstable_tail)
{
    struct tnet net;
    tnet_init(&net, 3, 3, NULL);
    struct raft_entry a[3];
    struct raft_msg m = append_msg(0, 3, a);
    m.commit = 0;
    ck_assert_int_eq(raft_step(net.nodes[2].r, &m), TR_OK);
    struct raft_entry b[2] = {
        {2, 2, RAFT_ENTRY_NORMAL, (const uint8_t *)"B", 1},
        {3, 2, RAFT_ENTRY_NORMAL, (const uint8_t *)"C", 1},
    };
    memset(&m, 0, sizeof(m));
    m.type = RAFT_MSG_APPEND;
    m.from = 3;
    m.to = 2;
    m.term = 2;
    m.index = 1;
    m.log_term = 1;
    m.entries = b;
    m.n_entries = 2;
    ck_assert_int_eq(raft_step(net.nodes[2].r, &m), TR_OK);
    struct raft_ready rd;
    ck_assert_int_eq(raft_ready(net.nodes[2].r, &rd), TR_OK);
    ck_assert_uint_eq(rd.n_entries, 3);
    ck_assert_uint_eq(rd.entries[0].term, 1);
    ck_assert_uint_eq(rd.entries[1].term, 2);
    ck_assert(memcmp(rd.entries[2].data, "C", 1) == 0);
    ck_assert_int_eq(raft_advance(net.nodes[2].r), TR_OK);
    ck_assert_uint_eq(tnet_status(&net, 2).stable_index, 3);
    tnet_free(&net);
}
END_TEST

/* Appends whose entries do not follow the previous index, go back in term or come from the
 * future are ignored without an answer. */
START_TEST(test_malformed_append_ignored)
{
    struct tnet net;
    tnet_init(&net, 2, 2, NULL);
    struct raft_entry e[2];
    struct raft_msg m = append_msg(0, 2, e);
    e[1].index = 5;
    ck_assert_int_eq(tnet_step(&net, 2, &m), TR_OK);
    m = append_msg(0, 2, e);
    e[1].term = 7;
    ck_assert_int_eq(tnet_step(&net, 2, &m), TR_OK);
    m = append_msg(0, 2, e);
    e[0].data = NULL;
    ck_assert_int_eq(tnet_step(&net, 2, &m), TR_OK);
    ck_assert_uint_eq(tnet_status(&net, 2).last_index, 0);
    for (size_t i = net.q_head; i < net.q_len; i++)
        ck_assert_int_ne(net.queue[i].type, RAFT_MSG_APPEND_RESP);
    m = append_msg(0, 2, e);
    ck_assert_int_eq(tnet_step(&net, 2, &m), TR_OK);
    ck_assert_uint_eq(tnet_status(&net, 2).last_index, 2);
    tnet_free(&net);
}
END_TEST

START_TEST(test_apply_bytes_bounded_per_ready)
{
    struct raft_config c;
    raft_config_defaults(&c);
    c.max_apply_bytes = 7;
    struct tnet net;
    tnet_init(&net, 1, 1, &c);
    ck_assert_uint_eq(tnet_elect(&net, 1), 1);
    const char *p[] = {"abcd", "efgh", "ij", "klmnopqrst", "u"};
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(tnet_propose(&net, 1, p[i]), TR_OK);
    struct raft *r = net.nodes[1].r;
    size_t batches[8], nb = 0;
    while (raft_has_ready(r)) {
        struct raft_ready rd;
        ck_assert_int_eq(raft_ready(r, &rd), TR_OK);
        size_t bytes = 0;
        for (size_t i = 0; i < rd.n_committed; i++)
            bytes += rd.committed[i].len;
        ck_assert(rd.n_committed <= 1 || bytes <= 7);
        if (rd.n_committed)
            batches[nb++] = rd.n_committed;
        for (size_t i = 0; i < rd.n_entries; i++)
            tlog_append(&net.nodes[1].log, rd.entries[i].index, rd.entries[i].term,
                        rd.entries[i].type, rd.entries[i].data, rd.entries[i].len);
        ck_assert_int_eq(raft_advance(r), TR_OK);
    }
    /* {abcd} (efgh would pass 7 bytes), {efgh, ij}, {klmnopqrst} alone above the bound, {u}. */
    ck_assert_uint_eq(nb, 4);
    ck_assert_uint_eq(batches[0], 1);
    ck_assert_uint_eq(batches[1], 2);
    ck_assert_uint_eq(batches[2], 1);
    ck_assert_uint_eq(batches[3], 1);
    tnet_free(&net);
}
END_TEST

/* Allocation failures refuse the operation and leave the core as it was. */
START_TEST(test_alloc_failure_leaves_state_unchanged)
{
    struct tnet net;
    tnet_init(&net, 1, 1, NULL);
    ck_assert_uint_eq(tnet_elect(&net, 1), 1);
    struct raft *r = net.nodes[1].r;
    tr_alloc_fail_after(1);
    int rc = raft_propose(r, (const uint8_t *)"abc", 3, NULL);
    tr_alloc_fail_reset();
    ck_assert_int_eq(rc, TR_ENOMEM);
    ck_assert_uint_eq(tnet_status(&net, 1).last_index, 1);
    ck_assert_int_eq(raft_has_ready(r), 0);
    ck_assert_int_eq(tnet_propose(&net, 1, "abc"), TR_OK);
    tnet_settle(&net);
    /* Restart with nothing applied: committed entries are copied out of the stable log. */
    tnet_stop(&net, 1);
    net.nodes[1].applied = 0;
    tnet_start(&net, 1);
    r = net.nodes[1].r;
    struct raft_ready rd;
    tr_alloc_fail_after(1);
    rc = raft_ready(r, &rd);
    tr_alloc_fail_reset();
    ck_assert_int_eq(rc, TR_ENOMEM);
    ck_assert_int_eq(raft_has_ready(r), 1);
    ck_assert_int_eq(raft_ready(r, &rd), TR_OK);
    ck_assert_uint_eq(rd.n_committed, 2);
    ck_assert(memcmp(rd.committed[1].data, "abc", 3) == 0);
    ck_assert_int_eq(raft_advance(r), TR_OK);
    tnet_free(&net);
}
END_TEST

Suite *suite_log(void);
Suite *suite_log(void)
{
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_unstable_entries_bound);
    tcase_add_test(tc, test_unstable_bytes_bound_and_entry_limit);
    tcase_add_test(tc, test_follower_accepts_up_to_bound);
    tcase_add_test(tc, test_conflicting_suffix_truncated_in_ready);
    tcase_add_test(tc, test_log_error_is_sticky);
    tcase_add_test(tc, test_message_queue_bound_drops);
    tcase_add_test(tc, test_apply_bounded_per_ready);
    tcase_add_test(tc, test_alloc_failure_leaves_state_unchanged);
    tcase_add_test(tc, test_truncation_inside_unstable_tail);
    tcase_add_test(tc, test_malformed_append_ignored);
    tcase_add_test(tc, test_apply_bytes_bounded_per_ready);
    suite_add_tcase(s, tc);
    return s;
}

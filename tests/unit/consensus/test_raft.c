/* test_raft.c — consensus/raft.c: create/validation and allocation failure, restart, the bug
 * names, the production build ignoring the bug switch, determinism, and a randomized schedule
 * (partitions, crashes, transfers, reads) checked against Raft's safety properties (§3.6.3). */
#include "tnet.h"

#include "common/alloc.h"
#include "common/err.h"
#include "common/prng.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int mem_term(void *ctx, uint64_t index, uint64_t *term)
{
    (void)ctx;
    *term = index == 0 ? 0 : 1;
    return TR_OK;
}

static int mem_entry(void *ctx, uint64_t index, struct raft_entry *e)
{
    (void)ctx;
    memset(e, 0, sizeof(*e));
    e->index = index;
    e->term = 1;
    e->type = RAFT_ENTRY_NORMAL;
    return TR_OK;
}

static int mem_last(void *ctx, uint64_t *index)
{
    *index = *(uint64_t *)ctx;
    return TR_OK;
}

static struct raft_config valid_config(uint64_t *last)
{
    struct raft_config c;
    raft_config_defaults(&c);
    c.id = 1;
    c.log.ctx = last;
    c.log.term = mem_term;
    c.log.entry = mem_entry;
    c.log.last_index = mem_last;
    c.conf.n_voters = 3;
    c.conf.voters[0] = 1;
    c.conf.voters[1] = 2;
    c.conf.voters[2] = 3;
    return c;
}

START_TEST(test_create_validates)
{
    uint64_t last = 3;
    struct raft *r = NULL;
    struct raft_config c = valid_config(&last);
    ck_assert_int_eq(raft_create(&c, &r), TR_OK);
    raft_destroy(r);
    raft_destroy(NULL);
    r = NULL;
    c.id = 0;
    ck_assert_int_eq(raft_create(&c, &r), TR_EINVAL);
    c = valid_config(&last);
    c.log.term = NULL;
    ck_assert_int_eq(raft_create(&c, &r), TR_EINVAL);
    c = valid_config(&last);
    c.heartbeat_ticks = 10;
    ck_assert_int_eq(raft_create(&c, &r), TR_EINVAL);
    c = valid_config(&last);
    c.election_ticks = 1;
    ck_assert_int_eq(raft_create(&c, &r), TR_EINVAL);
    c = valid_config(&last);
    c.hard_state.commit = 4;
    c.applied = 4;
    ck_assert_int_eq(raft_create(&c, &r), TR_EINVAL);
    c = valid_config(&last);
    c.applied = 1;
    ck_assert_int_eq(raft_create(&c, &r), TR_EINVAL);
    c = valid_config(&last);
    c.conf.voters[1] = 9;
    ck_assert_int_eq(raft_create(&c, &r), TR_EINVAL);
    c = valid_config(&last);
    c.max_entry_bytes = c.max_unstable_bytes + 1;
    ck_assert_int_eq(raft_create(&c, &r), TR_EINVAL);
    ck_assert_ptr_null(r);
}
END_TEST

START_TEST(test_create_alloc_failures)
{
    uint64_t last = 3;
    struct raft_config c = valid_config(&last);
    int failures = 0;
    for (long n = 1; n < 100; n++) {
        struct raft *r = NULL;
        tr_alloc_fail_after(n);
        int rc = raft_create(&c, &r);
        int fired = tr_alloc_fail_fired();
        tr_alloc_fail_reset();
        if (rc == TR_OK) {
            ck_assert(!fired);
            raft_destroy(r);
            break;
        }
        ck_assert_int_eq(rc, TR_ENOMEM);
        ck_assert_ptr_null(r);
        failures++;
    }
    ck_assert_int_ge(failures, 3);
}
END_TEST

START_TEST(test_restart_from_hard_state)
{
    uint64_t last = 3;
    struct raft_config c = valid_config(&last);
    c.hard_state.term = 7;
    c.hard_state.vote = 2;
    c.hard_state.commit = 2;
    c.applied = 1;
    struct raft *r = NULL;
    ck_assert_int_eq(raft_create(&c, &r), TR_OK);
    struct raft_status st;
    raft_status_get(r, &st);
    ck_assert_int_eq(st.role, RAFT_FOLLOWER);
    ck_assert_uint_eq(st.term, 7);
    ck_assert_uint_eq(st.vote, 2);
    ck_assert_uint_eq(st.commit, 2);
    ck_assert_uint_eq(st.applied, 1);
    ck_assert_uint_eq(st.last_index, 3);
    ck_assert_uint_eq(st.stable_index, 3);
    /* Nothing to persist again; entry 2 is still to be applied. */
    struct raft_ready rd;
    ck_assert_int_eq(raft_ready(r, &rd), TR_OK);
    ck_assert_int_eq(rd.has_hard_state, 0);
    ck_assert_int_eq(rd.has_soft_state, 0);
    ck_assert_uint_eq(rd.n_committed, 1);
    ck_assert_uint_eq(rd.committed[0].index, 2);
    ck_assert_int_eq(raft_advance(r), TR_OK);
    raft_destroy(r);
}
END_TEST

START_TEST(test_bug_names)
{
    for (int b = 0; b < RAFT_BUG__COUNT; b++) {
        enum raft_bug parsed;
        ck_assert_str_ne(raft_bug_name((enum raft_bug)b), "?");
        ck_assert_int_eq(raft_bug_parse(raft_bug_name((enum raft_bug)b), &parsed), TR_OK);
        ck_assert_int_eq(parsed, b);
    }
    enum raft_bug parsed;
    ck_assert_int_eq(raft_bug_parse("learner-votes", &parsed), TR_OK);
    ck_assert_int_eq(parsed, RAFT_BUG_LEARNER_VOTES);
    ck_assert_int_eq(raft_bug_parse("nope", &parsed), TR_EINVAL);
    ck_assert_str_eq(raft_bug_name(RAFT_BUG__COUNT), "?");
    ck_assert_str_eq(raft_role_name(RAFT_PRE_CANDIDATE), "pre-candidate");
    ck_assert_str_eq(raft_msg_type_name(RAFT_MSG_TIMEOUT_NOW), "timeout-now");
    ck_assert_str_eq(raft_msg_type_name((enum raft_msg_type)99), "?");
}
END_TEST

/* The production library has no bug code: the switch is ignored. */
START_TEST(test_production_ignores_bug_switch)
{
    struct raft_config c;
    raft_config_defaults(&c);
    c.bug = RAFT_BUG_VOTE_NO_LOG_CHECK;
    struct tnet net;
    tnet_init(&net, 3, 3, &c);
    tnet_stop(&net, 2);
    tlog_append(&net.nodes[2].log, 1, 1, RAFT_ENTRY_NOOP, NULL, 0);
    net.nodes[2].hs.term = 1;
    tnet_start(&net, 2);
    struct raft_msg m;
    memset(&m, 0, sizeof(m));
    m.type = RAFT_MSG_VOTE;
    m.from = 3;
    m.to = 2;
    m.term = 2;
    ck_assert_int_eq(tnet_step(&net, 2, &m), TR_OK);
    ck_assert_uint_eq(tnet_status(&net, 2).vote, RAFT_NONE);
    tnet_free(&net);
}
END_TEST

/* ---- randomized schedules ---- */

struct sched {
    uint64_t seed;
    uint64_t leader_of_term[4096];
    uint64_t applied_term[4096]; /* term of the entry applied at each index, first seen */
    uint64_t checked[TNET_MAX + 1];
    uint64_t trace; /* FNV-1a over every delivered message */
};

static void observe_trace(struct tnet *net, const struct raft_msg *m, void *arg)
{
    struct sched *s = arg;
    (void)net;
    uint64_t fields[] = {m->type,   m->from,     m->to,        m->term,   m->index,
                         m->commit, m->log_term, m->n_entries, m->reject, m->hint_index};
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        s->trace ^= fields[i];
        s->trace *= 1099511628211ULL;
    }
}

/* Election Safety and State Machine Safety (§3.6.3) over all running nodes. */
static void check_safety(struct tnet *net, struct sched *s)
{
    for (int i = 1; i <= net->n; i++) {
        if (!net->nodes[i].r)
            continue;
        struct raft_status st = tnet_status(net, (uint64_t)i);
        if (st.role == RAFT_LEADER && st.term < 4096) {
            uint64_t *l = &s->leader_of_term[st.term];
            ck_assert_msg(*l == 0 || *l == (uint64_t)i, "seed %llu: two leaders in term %llu",
                          (unsigned long long)s->seed, (unsigned long long)st.term);
            *l = (uint64_t)i;
        }
    }
    for (int i = 1; i <= net->n; i++) {
        const struct tnode *nd = &net->nodes[i];
        for (uint64_t k = s->checked[i] + 1; k <= nd->applied && k < 4096; k++) {
            if (s->applied_term[k] == 0)
                s->applied_term[k] = nd->applied_terms[k];
            ck_assert_msg(s->applied_term[k] == nd->applied_terms[k],
                          "seed %llu: node %d applied term %llu at %llu, another node term %llu",
                          (unsigned long long)s->seed, i, (unsigned long long)nd->applied_terms[k],
                          (unsigned long long)k, (unsigned long long)s->applied_term[k]);
        }
        s->checked[i] = nd->applied;
    }
}

/* On a failure, what each node believes: replaying a seed starts from this. */
static void dump(struct tnet *net)
{
    for (int i = 1; i <= net->n; i++) {
        if (!net->nodes[i].r) {
            fprintf(stderr, "  node %d: down\n", i);
            continue;
        }
        struct raft_status st = tnet_status(net, (uint64_t)i);
        fprintf(stderr,
                "  node %d: %s term %llu vote %llu leader %llu commit %llu last %llu conf@%llu "
                "voters",
                i, raft_role_name(st.role), (unsigned long long)st.term,
                (unsigned long long)st.vote, (unsigned long long)st.leader,
                (unsigned long long)st.commit, (unsigned long long)st.last_index,
                (unsigned long long)st.conf_index);
        for (uint32_t v = 0; v < st.conf.n_voters; v++)
            fprintf(stderr, " %llu", (unsigned long long)st.conf.voters[v]);
        fprintf(stderr, " learners");
        for (uint32_t v = 0; v < st.conf.n_learners; v++)
            fprintf(stderr, " %llu", (unsigned long long)st.conf.learners[v]);
        fprintf(stderr, "\n");
    }
}

/* The first member of the current leader's configuration whose applied index is behind the
 * leader's commit, or 0. */
static int members_lagging(struct tnet *net)
{
    uint64_t l = tnet_leader(net);
    if (!l)
        return -1;
    struct raft_status ls = tnet_status(net, l);
    for (int i = 1; i <= net->n; i++)
        if ((raft_conf_is_voter(&ls.conf, (uint64_t)i) ||
             raft_conf_is_learner(&ls.conf, (uint64_t)i)) &&
            net->nodes[i].applied != ls.commit)
            return i;
    return 0;
}

static void random_step(struct tnet *net, struct tr_prng *p)
{
    uint64_t a = 1 + tr_prng_below(p, (uint64_t)net->n);
    uint64_t b = 1 + tr_prng_below(p, (uint64_t)net->n);
    uint64_t roll = tr_prng_below(p, 100);
    uint64_t l = tnet_leader(net);
    if (roll < 70) {
        tnet_tick(net);
    } else if (roll < 85 && l) {
        raft_propose(net->nodes[l].r, (const uint8_t *)"w", 1, NULL);
        tnet_settle(net);
    } else if (roll < 92 && a != b) {
        tnet_cut(net, a, b, !net->cut[a][b]);
    } else if (roll < 96) {
        if (net->nodes[a].r)
            tnet_stop(net, a);
        else
            tnet_start(net, a);
    } else if (roll < 97 && l) {
        static const enum raft_conf_op ops[] = {RAFT_CONF_ADD_VOTER, RAFT_CONF_ADD_LEARNER,
                                                RAFT_CONF_PROMOTE, RAFT_CONF_REMOVE};
        raft_propose_conf(net->nodes[l].r, ops[tr_prng_below(p, 4)], a, NULL);
        tnet_settle(net);
    } else if (roll < 98 && l && l != a) {
        raft_transfer_leadership(net->nodes[l].r, a);
        tnet_settle(net);
    } else if (l) {
        raft_read_index(net->nodes[l].r, roll);
        tnet_settle(net);
    }
}

static uint64_t run_schedule(uint64_t seed, int steps, int chaos)
{
    static struct sched s;
    memset(&s, 0, sizeof(s));
    s.seed = seed;
    struct raft_config c;
    raft_config_defaults(&c);
    c.seed = seed;
    c.max_inflight = 4;
    c.max_append_entries = 3;
    /* Every combination of pre-vote and check-quorum, by seed. */
    c.pre_vote = (int)((seed >> 1) & 1);
    c.check_quorum = (int)((seed >> 2) & 1);
    struct tnet *net = malloc(sizeof(*net));
    ck_assert_ptr_nonnull(net);
    tnet_init(net, 5, 5, &c);
    net->observe = observe_trace;
    net->observe_arg = &s;
    struct tr_prng p, q;
    tr_prng_seed(&p, seed);
    tr_prng_seed(&q, ~seed);
    if (chaos) {
        net->chaos = &q;
        net->drop_pct = 5;
        net->dup_pct = 3;
    }
    for (int i = 0; i < steps; i++) {
        random_step(net, &p);
        check_safety(net, &s);
    }
    /* Heal everything: the cluster must converge and commit again. */
    net->drop_pct = 0;
    for (int i = 1; i <= net->n; i++) {
        if (!net->nodes[i].r)
            tnet_start(net, (uint64_t)i);
        tnet_isolate(net, (uint64_t)i, 0);
    }
    /* A transfer started before healing may still hold proposals back for a while. */
    uint64_t l = 0;
    int rc = TR_ENOTLEADER;
    for (int i = 0; i < 300 && rc != TR_OK; i++) {
        tnet_tick(net);
        l = tnet_leader(net);
        if (l)
            rc = raft_propose(net->nodes[l].r, (const uint8_t *)"end", 3, NULL);
    }
    if (rc != TR_OK)
        dump(net);
    ck_assert_msg(rc == TR_OK, "seed %llu: no leader takes proposals after healing (%s)",
                  (unsigned long long)seed, tr_err_name(rc));
    /* Every member catches up within a bounded number of ticks. */
    int lagging = 1;
    for (int t = 0; t < 60 && lagging; t++) {
        tnet_tick(net);
        lagging = members_lagging(net);
    }
    if (lagging)
        dump(net);
    ck_assert_msg(!lagging, "seed %llu: node %d lags after healing", (unsigned long long)seed,
                  lagging);
    check_safety(net, &s);
    tnet_free(net);
    free(net);
    return s.trace;
}

START_TEST(test_same_inputs_same_outputs)
{
    ck_assert_uint_eq(run_schedule(11, 400, 1), run_schedule(11, 400, 1));
    ck_assert_uint_ne(run_schedule(11, 400, 1), run_schedule(12, 400, 1));
}
END_TEST

/* TREATY_TEST_SEED=<n> replays one seed (or starts there); TREATY_TEST_SEEDS=<count> runs more. Odd
 * seeds run over a network that reorders, drops and duplicates messages; bits 1 and 2 of the seed
 * turn pre-vote and check-quorum on. */
START_TEST(test_randomized_schedules_are_safe)
{
    const char *one = getenv("TREATY_TEST_SEED");
    const char *count = getenv("TREATY_TEST_SEEDS");
    uint64_t first = one ? strtoull(one, NULL, 10) : 1000;
    uint64_t n = count ? strtoull(count, NULL, 10) : one ? 1 : 30;
    fprintf(stderr, "test_randomized_schedules_are_safe: seeds %llu..%llu\n",
            (unsigned long long)first, (unsigned long long)(first + n - 1));
    for (uint64_t seed = first; seed < first + n; seed++)
        run_schedule(seed, 1500, (int)(seed % 2));
}
END_TEST

Suite *suite_raft(void);
Suite *suite_raft(void)
{
    Suite *s = suite_create("raft");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_create_validates);
    tcase_add_test(tc, test_create_alloc_failures);
    tcase_add_test(tc, test_restart_from_hard_state);
    tcase_add_test(tc, test_bug_names);
    tcase_add_test(tc, test_production_ignores_bug_switch);
    tcase_add_test(tc, test_same_inputs_same_outputs);
    tcase_add_test(tc, test_randomized_schedules_are_safe);
    suite_add_tcase(s, tc);
    return s;
}

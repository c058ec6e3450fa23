/* sim.c — treaty-sim: a deterministic simulator that tries to break treaty's Raft core.
 * Each seed builds a network of 3, 5 or 7 voters (plus up to 2 spares) running the real core
 * (consensus/raft.h) over simulated disks (store.c: unsynced writes lost at a crash, torn tails)
 * and a simulated network (net.c: delay, loss, duplication, reordering, symmetric and one-way
 * partitions, clogged links). Swarm testing: the seed also draws the fault rates, timing, cluster
 * size and core options. Safety phase: faults, crashes, membership changes, leadership transfers,
 * writes and ReadIndex reads, with every invariant of check.c checked after every step. Liveness
 * phase: the network heals, a majority restarts, and a barrier write must commit on every healthy
 * member within a bounded time. Everything comes from the seed, so a run replays byte for byte.
 *
 * Usage (see usage() below):
 *   treaty-sim --seeds 1..2000           the CI run (ctest test-sim-seeds)
 *   treaty-sim --seeds 1..200000         the long run required before releasing the core
 *   treaty-sim --seed 42 [-v]            one seed (replays a failure exactly; -v traces events)
 *   treaty-sim-bugs --teeth              every known bug must be caught (ctest test-sim-teeth)
 *   treaty-sim-bugs --inject-bug NAME --seeds 1..500
 * A failure prints "SIM FAIL seed=S step=K check=NAME", a detail line, the seed's parameters and
 * each node's recent events, and exits 1. Checks (check.c, workload.c, driver.c):
 *   election-safety      one leader per term; every leader holds durable votes of a majority of
 *                        its voters; nobody votes twice in a term
 *   log-matching         same index and term => same log prefix (hash chains)
 *   leader-completeness  a leader of term T has every entry committed before T
 *   leader-commit-rule   a leader counts replicas only for entries of its own term (§3.6.2)
 *   state-machine-safety every node applies the same entry at each index, in order, once
 *   committed-durable    the committed log stays fsynced on >= half the voters of every
 *                        configuration that may be active (no committed entry lost to a crash)
 *   membership-safety    configurations that may be active differ by at most one voter
 *   read-linearizable    a read index covers every write acknowledged before the read began
 *   durability           a restarted node's disk is coherent (applied <= commit <= last entry)
 *   monotonic            term and commit never go back within one incarnation
 *   progress             liveness phase: a barrier write commits on every healthy member in time
 *   restart / core-error / crash: the core refused to restart, returned an error, or aborted.
 * Bugs of treaty-sim-bugs: the core's enum raft_bug, plus the driver's apply-before-persist and
 * ack-before-persist (send the Ready's messages before the fsync). */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/alloc.h"
#include "common/err.h"
#include "sim.h"

#define SIM_DEFAULT_STEPS 20000

struct sim_opts {
    uint64_t seed_lo, seed_hi;
    uint32_t nodes; /* 0: each seed draws 3, 5 or 7 */
    uint32_t steps;
    int verbose;
    int single; /* --seed */
    int bug;
    int list_bugs;
    int teeth;
};

/* ---- failure and event reporting ---- */

void sim_fail(struct sim *s, const char *check, const char *fmt, ...)
{
    if (s->failed)
        return;
    s->failed = 1;
    snprintf(s->fail_check, sizeof(s->fail_check), "%s", check);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->fail_detail, sizeof(s->fail_detail), fmt, ap);
    va_end(ap);
}

void sim_event(struct sim *s, uint64_t id, const char *fmt, ...)
{
    struct sim_node *n = &s->nodes[id];
    char *slot = n->ring[n->ring_next];
    int k = snprintf(slot, SIM_EVENT_LEN, "step=%llu t=%llu ", (unsigned long long)s->step,
                     (unsigned long long)s->now);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(slot + k, SIM_EVENT_LEN - (size_t)k, fmt, ap);
    va_end(ap);
    n->ring_next = (n->ring_next + 1) % SIM_RING;
    if (n->ring_count < SIM_RING)
        n->ring_count++;
    if (s->verbose)
        printf("node %llu %s\n", (unsigned long long)id, slot);
}

/* ---- bugs ---- */

static const char *sim_bug_name(int bug)
{
    if (bug == SIM_BUG_APPLY_BEFORE_PERSIST)
        return "apply-before-persist";
    if (bug == SIM_BUG_ACK_BEFORE_PERSIST)
        return "ack-before-persist";
    return raft_bug_name((enum raft_bug)bug);
}

#ifdef TREATY_RAFT_BUGS
static int sim_bug_parse(const char *name, int *bug)
{
    for (int b = 1; b < SIM_BUG__COUNT; b++)
        if (strcmp(name, sim_bug_name(b)) == 0) {
            *bug = b;
            return TR_OK;
        }
    return TR_EINVAL;
}
#endif

/* ---- swarm: per-seed parameters from the fault stream ---- */

static uint32_t pick(struct tr_prng *p, const uint32_t *v, uint32_t n)
{
    return v[tr_prng_below(p, n)];
}

#define PICK(p, ...)                                                                               \
    pick((p), (const uint32_t[]){__VA_ARGS__},                                                     \
         (uint32_t)(sizeof((const uint32_t[]){__VA_ARGS__}) / sizeof(uint32_t)))

static uint32_t rng(struct tr_prng *p, uint32_t lo, uint32_t hi)
{
    return (uint32_t)tr_prng_range(p, lo, hi);
}

static void sim_swarm_network(struct tr_prng *f, struct sim_params *p)
{
    /* Delays relative to the election timeout: mostly well below it (Raft's timing requirement,
     * §3.4), sometimes close to it, so elections get contested. */
    p->delay_min = rng(f, 1, 60);
    p->delay_max = p->delay_min + p->election_ticks * SIM_TICK * PICK(f, 5, 15, 30, 60) / 100;
    p->drop_pm = PICK(f, 0, 0, 10, 50, 150);
    p->dup_pm = PICK(f, 0, 10, 50);
    p->fault_gap = rng(f, 300, 6000);
    p->crash_w = rng(f, 0, 3);
    p->part_w = rng(f, 0, 3);
    p->oneway_w = rng(f, 0, 2);
    p->clog_w = rng(f, 0, 2);
    p->heal_w = rng(f, 1, 3);
    p->down_max = rng(f, 100, 6000);
    p->midcrash_pm = PICK(f, 0, 5, 20, 60);
    p->survive_pm = PICK(f, 0, 500, 900);
    p->torn_pm = PICK(f, 0, 300, 1000);
}

static void sim_swarm(struct sim *s, const struct sim_opts *o)
{
    struct tr_prng *f = &s->faults;
    struct sim_params *p = &s->p;
    p->n_voters = o->nodes ? o->nodes : PICK(f, 3, 5, 7);
    uint32_t spares = rng(f, 0, 2);
    p->n_nodes = p->n_voters + spares;
    p->n_learners = spares ? rng(f, 0, spares) : 0;
    p->steps = o->steps;
    p->election_ticks = rng(f, 5, 20);
    p->heartbeat_ticks = rng(f, 1, p->election_ticks / 3);
    sim_swarm_network(f, p);
    p->work_gap = rng(f, 10, 200);
    p->propose_w = rng(f, 1, 8);
    p->read_w = rng(f, 0, 4);
    p->conf_w = rng(f, 0, 3);
    p->transfer_w = rng(f, 0, 2);
    p->pre_vote = tr_prng_chance(f, 1, 2);
    p->check_quorum = tr_prng_chance(f, 1, 2);
    p->max_inflight = PICK(f, 1, 2, 8, 64);
    p->max_append_entries = PICK(f, 1, 2, 4, 64);
    p->apply_persisted_only = (int)((s->seed * 0x9e3779b97f4a7c15ULL) >> 63);
}

static void sim_print_params(const struct sim *s)
{
    const struct sim_params *p = &s->p;
    printf("  params: voters=%u nodes=%u learners=%u steps=%u delay=%u..%u drop=%u dup=%u "
           "faultgap=%u w(crash=%u part=%u oneway=%u clog=%u heal=%u) down<=%u midcrash=%u "
           "survive=%u torn=%u workgap=%u w(prop=%u read=%u conf=%u xfer=%u) election=%u "
           "heartbeat=%u prevote=%d checkquorum=%d inflight=%u batch=%u applybeside=%d\n",
           p->n_voters, p->n_nodes, p->n_learners, p->steps, p->delay_min, p->delay_max, p->drop_pm,
           p->dup_pm, p->fault_gap, p->crash_w, p->part_w, p->oneway_w, p->clog_w, p->heal_w,
           p->down_max, p->midcrash_pm, p->survive_pm, p->torn_pm, p->work_gap, p->propose_w,
           p->read_w, p->conf_w, p->transfer_w, p->election_ticks, p->heartbeat_ticks, p->pre_vote,
           p->check_quorum, p->max_inflight, p->max_append_entries, p->apply_persisted_only);
}

/* ---- setup and teardown ---- */

static void sim_stream(struct tr_prng *p, uint64_t seed, uint64_t stream)
{
    tr_prng_seed(p, seed * 0x9e3779b97f4a7c15ULL + stream * 0xd1b54a32d192ed03ULL);
}

/* Initial members get the bootstrap configuration (conf_index 0); spares start empty. */
static void sim_bootstrap_conf(struct sim *s, struct sim_node *n)
{
    if (n->id > s->p.n_voters + s->p.n_learners)
        return;
    struct raft_conf *c = &n->st.conf;
    for (uint64_t id = 1; id <= s->p.n_voters; id++)
        c->voters[c->n_voters++] = id;
    for (uint64_t id = s->p.n_voters + 1; id <= s->p.n_voters + s->p.n_learners; id++)
        c->learners[c->n_learners++] = id;
}

static int sim_setup(struct sim *s, uint64_t seed, const struct sim_opts *o)
{
    memset(s, 0, sizeof(*s));
    s->seed = seed;
    s->bug = o->bug;
    s->verbose = o->verbose;
    sim_stream(&s->faults, seed, 1);
    sim_stream(&s->timing, seed, 2);
    sim_stream(&s->work, seed, 3);
    sim_swarm(s, o);
    s->n = s->p.n_nodes;
    for (uint64_t id = 1; id <= s->p.n_voters; id++)
        s->initial_voters |= 1u << id;
    for (uint64_t id = s->p.n_voters + 1; id <= s->p.n_voters + s->p.n_learners; id++)
        s->initial_learners |= 1u << id;
    sim_net_init(&s->net, &s->p);
    sim_work_init(&s->w);
    if (sim_check_create(&s->chk) != TR_OK)
        return TR_ENOMEM;
    for (uint64_t id = 1; id <= s->n; id++) {
        struct sim_node *n = &s->nodes[id];
        n->id = id;
        sim_store_init(&n->st);
        sim_bootstrap_conf(s, n);
        n->tick_period = rng(&s->timing, SIM_TICK - 10, SIM_TICK + 10);
        if (sim_node_start(s, id) != TR_OK)
            return TR_EINTERNAL;
    }
    s->next_fault = 1 + tr_prng_below(&s->faults, 2ULL * s->p.fault_gap);
    s->next_work = 1 + tr_prng_below(&s->work, 2ULL * s->p.work_gap);
    return TR_OK;
}

static void sim_teardown(struct sim *s)
{
    for (uint64_t id = 1; id <= s->n; id++) {
        raft_destroy(s->nodes[id].r);
        sim_store_free(&s->nodes[id].st);
    }
    sim_net_free(&s->net);
    sim_work_free(&s->w);
    sim_check_destroy(s->chk);
}

/* ---- faults ---- */

static uint64_t sim_random_node(struct sim *s)
{
    return 1 + tr_prng_below(&s->faults, s->n);
}

static void sim_fault(struct sim *s)
{
    const struct sim_params *p = &s->p;
    uint32_t total = p->crash_w + p->part_w + p->oneway_w + p->clog_w + p->heal_w;
    uint32_t x = (uint32_t)tr_prng_below(&s->faults, total);
    uint64_t a = sim_random_node(s), b = sim_random_node(s);
    if (x < p->crash_w) {
        sim_node_crash(s, a, 0);
    } else if ((x -= p->crash_w) < p->part_w) {
        uint32_t mask = (uint32_t)tr_prng_below(&s->faults, 1u << s->n) << 1;
        sim_net_partition(&s->net, mask, s->n);
        sim_event(s, a, "partition: 0x%x | rest", mask);
    } else if ((x -= p->part_w) < p->oneway_w) {
        if (a != b) {
            sim_net_cut_one_way(&s->net, a, b);
            sim_event(s, a, "link %llu -> %llu cut", (unsigned long long)a, (unsigned long long)b);
        }
    } else if ((x -= p->oneway_w) < p->clog_w) {
        uint64_t until = s->now + rng(&s->faults, 300, 6000);
        sim_net_clog(&s->net, a, b, until);
        sim_event(s, a, "link %llu -> %llu clogged until %llu", (unsigned long long)a,
                  (unsigned long long)b, (unsigned long long)until);
    } else {
        sim_net_heal(&s->net, 0);
        sim_event(s, a, "network healed");
    }
}

/* ---- the event loop ---- */

enum sim_what { SIM_DELIVER, SIM_TICK_NODE, SIM_RESTART, SIM_WORK, SIM_FAULT };

/* The next event and its time; ties go to delivery, then the node with the lowest id (tick or
 * restart), then clients, then faults. */
static enum sim_what sim_next(struct sim *s, uint64_t *when, uint64_t *who)
{
    enum sim_what what = SIM_DELIVER;
    uint64_t t = sim_net_next_at(&s->net);
    for (uint64_t id = 1; id <= s->n; id++) {
        struct sim_node *n = &s->nodes[id];
        uint64_t at = n->up ? n->next_tick : n->restart_at;
        if (at < t) {
            t = at;
            what = n->up ? SIM_TICK_NODE : SIM_RESTART;
            *who = id;
        }
    }
    if (s->next_work < t) {
        t = s->next_work;
        what = SIM_WORK;
    }
    if (!s->liveness && s->next_fault < t) {
        t = s->next_fault;
        what = SIM_FAULT;
    }
    *when = t;
    return what;
}

static void sim_one_step(struct sim *s)
{
    uint64_t when = 0, who = 0;
    enum sim_what what = sim_next(s, &when, &who);
    s->now = when;
    s->step++;
    switch (what) {
    case SIM_DELIVER: {
        struct sim_msg *sm = sim_net_pop(&s->net);
        if (sm != NULL && !sm->early)
            sim_node_deliver(s, sm);
        sim_net_msg_free(sm);
        break;
    }
    case SIM_TICK_NODE:
        sim_node_tick(s, who);
        break;
    case SIM_RESTART:
        if (sim_node_start(s, who) == TR_OK) {
            s->restarts++;
            sim_node_drain(s, who);
        }
        break;
    case SIM_WORK:
        s->next_work = s->now + 1 + tr_prng_below(&s->work, 2ULL * s->p.work_gap);
        if (!s->liveness)
            sim_work_act(s);
        break;
    case SIM_FAULT:
        s->next_fault = s->now + 1 + tr_prng_below(&s->faults, 2ULL * s->p.fault_gap);
        sim_fault(s);
        break;
    }
    if (!s->failed)
        sim_check_step(s);
}

/* Liveness: heal the network, keep down a set of nodes that is a minority of every
 * configuration that may be active (possibly none), restart the rest. Returns the mask of
 * healthy nodes. */
static uint32_t sim_heal(struct sim *s)
{
    s->liveness = 1;
    sim_net_heal(&s->net, 1);
    s->net.delay_min = 1;
    s->net.delay_max = s->p.election_ticks * SIM_TICK / 5;
    uint32_t minv = sim_check_min_voters(s);
    uint32_t max_down = minv >= 5 ? (minv - 1) / 2 - 1 : 0;
    uint32_t down = (uint32_t)tr_prng_below(&s->faults, max_down + 1);
    uint32_t healthy = 0;
    for (uint64_t id = 1; id <= s->n; id++)
        healthy |= 1u << id;
    for (uint32_t i = 0; i < down; i++) {
        uint64_t id = sim_random_node(s);
        healthy &= ~(1u << id);
        sim_node_crash(s, id, 0);
        s->nodes[id].restart_at = UINT64_MAX;
    }
    for (uint64_t id = 1; id <= s->n && !s->failed; id++)
        if (((healthy >> id) & 1u) && !s->nodes[id].up)
            s->nodes[id].restart_at = s->now + 1;
    sim_event(s, 1, "LIVENESS: network healed, healthy nodes 0x%x", healthy);
    return healthy;
}

static void sim_run(struct sim *s)
{
    while (!s->failed && s->step < s->p.steps)
        sim_one_step(s);
    if (s->failed)
        return;
    uint32_t healthy = sim_heal(s);
    uint64_t start = s->now, backlog = 0;
    for (uint64_t id = 1; id <= s->n; id++)
        if (s->nodes[id].st.vis.n > backlog)
            backlog = s->nodes[id].st.vis.n;
    /* Bound: elections and transfers settle within 200 election timeouts; a lagging member may
     * then need one round trip (at most 2/5 of an election timeout once healed) per entry of
     * the longest log (max_inflight and max_append_entries may both be 1). */
    uint64_t per_entry = 2 + 2ULL * s->p.election_ticks / 5;
    uint64_t bound = (200ULL * s->p.election_ticks + per_entry * backlog) * SIM_TICK;
    while (!s->failed) {
        if (sim_work_barrier(s, healthy))
            return;
        if (s->now - start > bound) {
            sim_fail(s, "progress",
                     "no barrier write committed on every healthy member within %llu ticks of "
                     "healing (healthy 0x%x)",
                     (unsigned long long)(bound / SIM_TICK), healthy);
            return;
        }
        sim_one_step(s);
    }
}

/* ---- output ---- */

static void sim_print_failure(const struct sim *s)
{
    printf("SIM FAIL seed=%llu step=%llu check=%s\n", (unsigned long long)s->seed,
           (unsigned long long)s->step, s->fail_check);
    printf("  detail: %s\n", s->fail_detail);
    if (s->bug)
        printf("  injected bug: %s\n", sim_bug_name(s->bug));
    sim_print_params(s);
    for (uint64_t id = 1; id <= s->n; id++) {
        const struct sim_node *n = &s->nodes[id];
        const struct sim_conf_at *c = sim_view_conf_at(&n->st.vis, UINT64_MAX);
        uint32_t voters = c ? c->voters : sim_conf_mask(n->st.conf.voters, n->st.conf.n_voters);
        uint32_t learners =
            c ? c->learners : sim_conf_mask(n->st.conf.learners, n->st.conf.n_learners);
        printf("  node %llu (%s, %s, term %llu, last %llu, commit %llu, applied %llu, conf at "
               "%llu: voters 0x%x learners 0x%x): last %u events\n",
               (unsigned long long)id, n->up ? "up" : "down", raft_role_name(n->role),
               (unsigned long long)n->term, (unsigned long long)n->st.vis.n,
               (unsigned long long)n->commit, (unsigned long long)n->st.applied,
               (unsigned long long)(c ? c->index : n->st.conf_index), voters, learners,
               n->ring_count);
        for (uint32_t i = 0; i < n->ring_count; i++) {
            uint32_t slot = (n->ring_next + SIM_RING - n->ring_count + i) % SIM_RING;
            printf("    %s\n", n->ring[slot]);
        }
    }
}

static void sim_print_pass(const struct sim *s)
{
    printf("seed %llu passed: voters=%u nodes=%u steps=%llu committed=%llu writes=%llu "
           "reads=%llu conf=%llu transfers=%llu crashes=%llu torn=%llu msgs=%llu "
           "dropped=%llu\n",
           (unsigned long long)s->seed, s->p.n_voters, s->p.n_nodes, (unsigned long long)s->step,
           (unsigned long long)sim_check_committed(s->chk), (unsigned long long)s->w.writes_acked,
           (unsigned long long)s->w.reads_served, (unsigned long long)s->w.conf_changes,
           (unsigned long long)s->w.transfers, (unsigned long long)s->crashes,
           (unsigned long long)s->torn, (unsigned long long)s->net.sent,
           (unsigned long long)s->net.dropped);
}

/* The seed being run, for the signal handler: an assertion in the core aborts the process, and
 * the failure must still be reported as a SIM FAIL line with the recent events. */
static struct sim *sim_current;

static void sim_on_signal(int sig)
{
    if (sim_current != NULL && !sim_current->failed) {
        sim_fail(sim_current, "crash",
                 "the process got signal %d (an assertion failed in the core or the simulator: "
                 "see stderr)",
                 sig);
        sim_print_failure(sim_current);
        fflush(stdout);
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Runs one seed. Returns 1 when it passed. Prints a failure unless `quiet`, a pass line for
 * --seed. `check` (when non-NULL) gets the failed check's name; `steps` accumulates steps. */
static int sim_seed(uint64_t seed, const struct sim_opts *o, int quiet, char *check, size_t cap,
                    uint64_t *steps)
{
    struct sim *s = tr_calloc(1, sizeof(*s));
    TR_ASSERT(s != NULL);
    sim_current = s;
    if (sim_setup(s, seed, o) == TR_OK && !s->failed)
        sim_run(s);
    sim_current = NULL;
    int ok = !s->failed;
    if (!ok && !quiet)
        sim_print_failure(s);
    else if (ok && o->single)
        sim_print_pass(s);
    if (!ok && check != NULL)
        snprintf(check, cap, "%s", s->fail_check);
    *steps += s->step;
    sim_teardown(s);
    tr_free(s);
    return ok;
}

static double sim_clock(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int sim_range(const struct sim_opts *o)
{
    double t0 = sim_clock();
    uint64_t steps = 0, passed = 0;
    for (uint64_t seed = o->seed_lo; seed <= o->seed_hi; seed++) {
        if (!sim_seed(seed, o, 0, NULL, 0, &steps))
            return 1;
        passed++;
        /* Long runs report progress on stderr; stdout's last line stays "N seeds passed". */
        if (passed % 10000 == 0) {
            double dt = sim_clock() - t0;
            fprintf(stderr, "%llu seeds passed so far (%.1f seeds/s)\n", (unsigned long long)passed,
                    dt > 0 ? (double)passed / dt : 0.0);
        }
    }
    double dt = sim_clock() - t0;
    printf("rate: %.1f seeds/s, %.0f steps/s (%.1f s)\n", dt > 0 ? (double)passed / dt : 0.0,
           dt > 0 ? (double)steps / dt : 0.0, dt);
    printf("%llu seeds passed\n", (unsigned long long)passed);
    return 0;
}

#ifdef TREATY_RAFT_BUGS
/* --teeth: each known bug must make some seed of the range fail. */
static int sim_teeth(struct sim_opts o)
{
    int all = 1;
    for (int b = 1; b < SIM_BUG__COUNT; b++) {
        char check[40] = "";
        uint64_t steps = 0, seed;
        o.bug = b;
        for (seed = o.seed_lo; seed <= o.seed_hi; seed++)
            if (!sim_seed(seed, &o, 1, check, sizeof(check), &steps))
                break;
        if (seed <= o.seed_hi) {
            printf("bug %s: caught at seed %llu (%llu seeds) check=%s\n", sim_bug_name(b),
                   (unsigned long long)seed, (unsigned long long)(seed - o.seed_lo + 1), check);
        } else {
            printf("bug %s: NOT caught in seeds %llu..%llu\n", sim_bug_name(b),
                   (unsigned long long)o.seed_lo, (unsigned long long)o.seed_hi);
            all = 0;
        }
        fflush(stdout);
    }
    printf("%s\n", all ? "every bug caught" : "some bugs were not caught");
    return all ? 0 : 1;
}
#endif

/* ---- command line ---- */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: treaty-sim --seeds A..B [--nodes 3|5|7] [--steps K]\n"
            "       treaty-sim --seed S [-v] [--nodes N] [--steps K]\n"
            "       treaty-sim --list-bugs\n"
            "       treaty-sim-bugs --inject-bug NAME (--seed S | --seeds A..B)\n"
            "       treaty-sim-bugs --teeth [--seeds A..B]\n"
            "Runs the Raft core under simulated faults; exits 0 when every seed passes (last\n"
            "line \"N seeds passed\"), 1 on the first failure (SIM FAIL line + recent events),\n"
            "2 on bad arguments. Default steps per seed: %d. Before a release of the core run\n"
            "treaty-sim --seeds 1..200000 (Release build) and expect no failure.\n",
            SIM_DEFAULT_STEPS);
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end = NULL;
    if (s == NULL || *s < '0' || *s > '9')
        return 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end != '\0')
        return 0;
    *out = v;
    return 1;
}

static int parse_range(const char *s, uint64_t *lo, uint64_t *hi)
{
    const char *dots = s ? strstr(s, "..") : NULL;
    if (dots == NULL || (size_t)(dots - s) >= 32)
        return 0;
    char a[32];
    memcpy(a, s, (size_t)(dots - s));
    a[dots - s] = '\0';
    return parse_u64(a, lo) && parse_u64(dots + 2, hi) && *lo <= *hi;
}

static int bad(const char *msg, const char *arg)
{
    fprintf(stderr, "treaty-sim: %s%s%s (see --help)\n", msg, arg ? ": " : "", arg ? arg : "");
    return 2;
}

static int parse_bug(struct sim_opts *o, const char *name)
{
#ifdef TREATY_RAFT_BUGS
    if (name != NULL && sim_bug_parse(name, &o->bug) == TR_OK)
        return 0;
    return bad("unknown bug", name);
#else
    (void)o;
    (void)name;
    return bad("this build has no bugs to inject; use treaty-sim-bugs", NULL);
#endif
}

static int parse_one(struct sim_opts *o, int argc, char **argv, int *i, int *have)
{
    const char *a = argv[*i], *v = *i + 1 < argc ? argv[*i + 1] : NULL;
    uint64_t x = 0;
    if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
        o->verbose = 1;
        return 0;
    }
    if (strcmp(a, "--list-bugs") == 0) {
        o->list_bugs = 1;
        return 0;
    }
    if (strcmp(a, "--teeth") == 0) {
        o->teeth = 1;
        return 0;
    }
    (*i)++;
    if (strcmp(a, "--seed") == 0) {
        if (!parse_u64(v, &o->seed_lo))
            return bad("--seed needs a number", v);
        o->seed_hi = o->seed_lo;
        o->single = 1;
        *have = 1;
    } else if (strcmp(a, "--seeds") == 0) {
        if (!parse_range(v, &o->seed_lo, &o->seed_hi))
            return bad("--seeds needs a range A..B with A <= B", v);
        *have = 1;
    } else if (strcmp(a, "--nodes") == 0) {
        if (!parse_u64(v, &x) || (x != 3 && x != 5 && x != 7))
            return bad("--nodes must be 3, 5 or 7", v);
        o->nodes = (uint32_t)x;
    } else if (strcmp(a, "--steps") == 0) {
        if (!parse_u64(v, &x) || x < 1 || x > 100000000)
            return bad("--steps must be between 1 and 100000000", v);
        o->steps = (uint32_t)x;
    } else if (strcmp(a, "--inject-bug") == 0) {
        return parse_bug(o, v);
    } else {
        return bad("unknown argument", a);
    }
    return 0;
}

static int list_bugs(void)
{
#ifdef TREATY_RAFT_BUGS
    for (int b = 1; b < SIM_BUG__COUNT; b++)
        printf("%s\n", sim_bug_name(b));
#else
    printf("this build has no injectable bugs (they are in treaty-sim-bugs)\n");
#endif
    return 0;
}

int main(int argc, char **argv)
{
    struct sim_opts o = {.seed_lo = 1, .seed_hi = 500, .steps = SIM_DEFAULT_STEPS};
    int have = 0;
    signal(SIGABRT, sim_on_signal);
    signal(SIGSEGV, sim_on_signal);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        }
        int rc = parse_one(&o, argc, argv, &i, &have);
        if (rc != 0)
            return rc;
    }
    if (o.list_bugs)
        return list_bugs();
    if (o.teeth) {
#ifdef TREATY_RAFT_BUGS
        return sim_teeth(o);
#else
        return bad("--teeth needs the bug build; use treaty-sim-bugs", NULL);
#endif
    }
    if (!have)
        return bad("give --seed S or --seeds A..B", NULL);
    if (o.single) {
        uint64_t steps = 0;
        return sim_seed(o.seed_lo, &o, 0, NULL, 0, &steps) ? 0 : 1;
    }
    return sim_range(&o);
}

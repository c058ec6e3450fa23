/* check.c — the invariants treaty-sim checks after every step (and at every append, apply,
 * durable vote and restart): Raft's election safety, log matching, leader completeness and
 * state-machine safety (dissertation §3.6.3, Figure 3.2), plus: every leader won a durable
 * majority of votes, committed entries stay durable on enough voters, configurations that may
 * be active differ by at most one voter (§4.1), and a restarted node's disk is coherent. */
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "sim.h"

struct check_slot {
    uint64_t term, chain;
};

struct check_slots {
    struct check_slot *v;
    uint32_t n, cap;
};

/* The committed log at one index: its chain, and a term by which that entry was surely
 * committed (the term of the node first seen committing it; kept non-decreasing in the index). */
struct check_hist {
    uint64_t chain;
    uint64_t ct;
};

struct sim_check {
    struct check_slots *lm; /* per index: (term, chain) pairs ever seen in any log */
    uint64_t cap_lm;
    uint64_t gc;             /* largest index known committed */
    struct check_hist *hist; /* [i] for i <= gc */
    uint64_t cap_hist;
    uint64_t *app_chain; /* [i]: state chain after applying i, 0 = nobody applied it yet */
    uint64_t cap_app;
    uint8_t *leaders; /* [term]: leader id, 0 = none seen */
    uint64_t cap_leaders;
    uint8_t *votes; /* [term * (SIM_MAX_NODES + 1) + voter]: durable vote */
    uint64_t cap_votes;
    struct sim_conf_at cc; /* configuration of the committed log at gc (index 0: bootstrap) */
    uint32_t min_voters;   /* smallest voter set among the maybe-active configurations */
};

/* Grows a zero-filled array so that index `need` is valid. */
static void check_grow(void **arr, uint64_t *cap, uint64_t need, size_t elem)
{
    if (need < *cap)
        return;
    uint64_t ncap = *cap ? *cap : 256;
    while (ncap <= need)
        ncap *= 2;
    uint8_t *p = tr_realloc(*arr, (size_t)ncap * elem);
    TR_ASSERT(p != NULL);
    memset(p + (size_t)*cap * elem, 0, (size_t)(ncap - *cap) * elem);
    *arr = p;
    *cap = ncap;
}

int sim_check_create(struct sim_check **out)
{
    struct sim_check *c = tr_calloc(1, sizeof(*c));
    if (c == NULL)
        return TR_ENOMEM;
    *out = c;
    return TR_OK;
}

void sim_check_destroy(struct sim_check *c)
{
    if (c == NULL)
        return;
    for (uint64_t i = 0; i < c->cap_lm; i++)
        tr_free(c->lm[i].v);
    tr_free(c->lm);
    tr_free(c->hist);
    tr_free(c->app_chain);
    tr_free(c->leaders);
    tr_free(c->votes);
    tr_free(c);
}

uint64_t sim_check_committed(const struct sim_check *c)
{
    return c->gc;
}

static uint32_t check_popcount(uint32_t x)
{
    uint32_t n = 0;
    for (; x; x &= x - 1)
        n++;
    return n;
}

void sim_check_append(struct sim *s, uint64_t id, uint64_t index, uint64_t term, uint64_t chain)
{
    struct sim_check *c = s->chk;
    check_grow((void **)&c->lm, &c->cap_lm, index, sizeof(*c->lm));
    struct check_slots *sl = &c->lm[index];
    for (uint32_t i = 0; i < sl->n; i++) {
        if (sl->v[i].term != term)
            continue;
        if (sl->v[i].chain != chain)
            sim_fail(s, "log-matching",
                     "node %llu has an entry at index %llu term %llu whose log differs from "
                     "another log with the same entry",
                     (unsigned long long)id, (unsigned long long)index, (unsigned long long)term);
        return;
    }
    if (sl->n == sl->cap) {
        uint32_t cap = sl->cap ? sl->cap * 2 : 2;
        struct check_slot *v = tr_realloc(sl->v, cap * sizeof(*v));
        TR_ASSERT(v != NULL);
        sl->v = v;
        sl->cap = cap;
    }
    sl->v[sl->n].term = term;
    sl->v[sl->n].chain = chain;
    sl->n++;
}

void sim_check_apply(struct sim *s, uint64_t id, uint64_t index, uint64_t chain)
{
    struct sim_check *c = s->chk;
    check_grow((void **)&c->app_chain, &c->cap_app, index, sizeof(*c->app_chain));
    if (c->app_chain[index] == 0) {
        c->app_chain[index] = chain;
        return;
    }
    if (c->app_chain[index] != chain)
        sim_fail(s, "state-machine-safety",
                 "node %llu applied a different entry at index %llu than a node before it",
                 (unsigned long long)id, (unsigned long long)index);
}

void sim_check_vote(struct sim *s, uint64_t id, uint64_t term, uint64_t vote)
{
    struct sim_check *c = s->chk;
    uint64_t slot = term * (SIM_MAX_NODES + 1) + id;
    check_grow((void **)&c->votes, &c->cap_votes, slot, 1);
    if (c->votes[slot] == 0)
        c->votes[slot] = (uint8_t)vote;
    else if (c->votes[slot] != vote)
        sim_fail(s, "election-safety", "node %llu voted for %u and then %llu in term %llu",
                 (unsigned long long)id, c->votes[slot], (unsigned long long)vote,
                 (unsigned long long)term);
}

void sim_check_recovered(struct sim *s, uint64_t id)
{
    const struct sim_store *st = &s->nodes[id].st;
    const char *why = NULL;
    if (st->vis.hs.commit > st->vis.n)
        why = "its commit index is beyond its log";
    else if (st->applied > st->vis.n)
        why = "it applied entries its log no longer has";
    else if (sim_view_chain(&st->vis, st->applied) != st->applied_chain)
        why = "its log differs from what it applied";
    else if (st->applied > st->vis.hs.commit && !s->p.apply_persisted_only)
        why = "it applied beyond its durable commit index";
    if (why != NULL)
        sim_fail(s, "durability",
                 "node %llu restarts with an incoherent disk: %s (last %llu, commit %llu, "
                 "applied %llu)",
                 (unsigned long long)id, why, (unsigned long long)st->vis.n,
                 (unsigned long long)st->vis.hs.commit, (unsigned long long)st->applied);
}

/* Learns newly committed entries from node `id` (commit index `commit`, term `term`), and checks
 * that its committed prefix is the one everybody committed. */
static void check_commit(struct sim *s, uint64_t id, uint64_t commit, uint64_t term)
{
    struct sim_check *c = s->chk;
    const struct sim_view *v = &s->nodes[id].st.vis;
    if (commit > v->n) {
        sim_fail(s, "core-error", "node %llu commit %llu is beyond its log (%llu)",
                 (unsigned long long)id, (unsigned long long)commit, (unsigned long long)v->n);
        return;
    }
    uint64_t m = commit < c->gc ? commit : c->gc;
    if (m > 0 && sim_view_chain(v, m) != c->hist[m].chain) {
        sim_fail(s, "state-machine-safety",
                 "node %llu committed up to %llu a log that differs from the committed one",
                 (unsigned long long)id, (unsigned long long)commit);
        return;
    }
    if (commit <= c->gc)
        return;
    check_grow((void **)&c->hist, &c->cap_hist, commit, sizeof(*c->hist));
    uint64_t floor_term = c->hist[c->gc].ct;
    uint64_t ct = term > floor_term ? term : floor_term;
    for (uint64_t i = c->gc + 1; i <= commit; i++) {
        c->hist[i].chain = sim_view_chain(v, i);
        c->hist[i].ct = ct;
    }
    c->gc = commit;
    const struct sim_conf_at *at = sim_view_conf_at(v, commit);
    if (at != NULL) {
        c->cc = *at;
    } else {
        c->cc.index = 0;
        c->cc.voters = s->initial_voters;
        c->cc.learners = s->initial_learners;
    }
}

/* Election safety (§3.6.3) and that the leader holds a durable majority of votes of its own
 * configuration for its term: a vote that was not made durable, or a vote from a non-voter,
 * shows up here at once. */
static void check_new_leader(struct sim *s, uint64_t id, const struct raft_status *st)
{
    struct sim_check *c = s->chk;
    check_grow((void **)&c->leaders, &c->cap_leaders, st->term, 1);
    if (c->leaders[st->term] == id)
        return;
    if (c->leaders[st->term] != 0) {
        sim_fail(s, "election-safety", "nodes %u and %llu are both leaders of term %llu",
                 c->leaders[st->term], (unsigned long long)id, (unsigned long long)st->term);
        return;
    }
    c->leaders[st->term] = (uint8_t)id;
    uint32_t voters = sim_conf_mask(st->conf.voters, st->conf.n_voters);
    uint32_t granted = 0;
    uint64_t base = st->term * (SIM_MAX_NODES + 1);
    check_grow((void **)&c->votes, &c->cap_votes, base + SIM_MAX_NODES, 1);
    for (uint64_t v = 1; v <= SIM_MAX_NODES; v++)
        if (((voters >> v) & 1u) && c->votes[base + v] == id)
            granted |= 1u << v;
    if (check_popcount(granted) * 2 <= check_popcount(voters))
        sim_fail(s, "election-safety",
                 "node %llu leads term %llu with durable votes of %u of its %u voters "
                 "(voters 0x%x, votes 0x%x)",
                 (unsigned long long)id, (unsigned long long)st->term, check_popcount(granted),
                 check_popcount(voters), voters, granted);
}

/* Leader completeness (§3.6.3): a leader of term T holds every entry committed before T. */
static void check_leader_complete(struct sim *s, uint64_t id, uint64_t term)
{
    struct sim_check *c = s->chk;
    uint64_t lo = 0, hi = c->gc; /* largest i with hist[i].ct < term */
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo + 1) / 2;
        if (c->hist[mid].ct < term)
            lo = mid;
        else
            hi = mid - 1;
    }
    if (lo == 0)
        return;
    const struct sim_view *v = &s->nodes[id].st.vis;
    if (v->n < lo || sim_view_chain(v, lo) != c->hist[lo].chain)
        sim_fail(s, "leader-completeness",
                 "leader %llu of term %llu lacks entries committed before its term (up to %llu; "
                 "its log ends at %llu)",
                 (unsigned long long)id, (unsigned long long)term, (unsigned long long)lo,
                 (unsigned long long)v->n);
}

/* The configurations that may be active: the committed one and the newest config entry of every
 * log that agrees with the committed log (§4.1: a server uses the latest configuration in its
 * log). Returns how many were written to `out`. */
static uint32_t check_active_confs(struct sim *s, struct sim_conf_at *out, uint64_t *owner)
{
    struct sim_check *c = s->chk;
    uint32_t k = 0;
    out[k] = c->cc;
    owner[k++] = 0;
    for (uint64_t id = 1; id <= s->n; id++) {
        const struct sim_view *v = &s->nodes[id].st.vis;
        if (v->n_confs == 0 || v->confs[v->n_confs - 1].index <= c->cc.index)
            continue;
        uint64_t m = v->n < c->gc ? v->n : c->gc;
        if (m > 0 && sim_view_chain(v, m) != c->hist[m].chain)
            continue;
        out[k] = v->confs[v->n_confs - 1];
        owner[k++] = id;
    }
    return k;
}

/* Membership safety: any two configurations that may be active differ by at most one voter, so
 * their majorities overlap (§4.1); and every such configuration keeps the committed log on at
 * least half of its voters, so no majority of it can elect a leader without it (no committed
 * entry lost across crashes: only durable, fsynced logs count). */
static void check_membership(struct sim *s)
{
    struct sim_check *c = s->chk;
    struct sim_conf_at confs[SIM_MAX_NODES + 1];
    uint64_t owner[SIM_MAX_NODES + 1];
    uint32_t k = check_active_confs(s, confs, owner);
    c->min_voters = SIM_MAX_NODES;
    for (uint32_t i = 0; i < k; i++) {
        uint32_t nv = check_popcount(confs[i].voters);
        if (nv < c->min_voters)
            c->min_voters = nv;
        for (uint32_t j = i + 1; j < k; j++)
            if (check_popcount(confs[i].voters ^ confs[j].voters) > 1) {
                sim_fail(s, "membership-safety",
                         "configurations may both be active and differ by more than one voter: "
                         "voters 0x%x (index %llu, node %llu) and 0x%x (index %llu, node %llu)",
                         confs[i].voters, (unsigned long long)confs[i].index,
                         (unsigned long long)owner[i], confs[j].voters,
                         (unsigned long long)confs[j].index, (unsigned long long)owner[j]);
                return;
            }
    }
    if (c->gc == 0)
        return;
    uint32_t holders = 0;
    for (uint64_t id = 1; id <= s->n; id++) {
        const struct sim_view *d = &s->nodes[id].st.dur;
        if (d->n >= c->gc && sim_view_chain(d, c->gc) == c->hist[c->gc].chain)
            holders |= 1u << id;
    }
    for (uint32_t i = 0; i < k; i++) {
        uint32_t nv = check_popcount(confs[i].voters);
        if (check_popcount(holders & confs[i].voters) * 2 < nv)
            sim_fail(s, "committed-durable",
                     "committed index %llu is durable on %u of the %u voters of configuration "
                     "0x%x (holders 0x%x)",
                     (unsigned long long)c->gc, check_popcount(holders & confs[i].voters), nv,
                     confs[i].voters, holders);
    }
}

/* §3.6.2: a leader commits by counting replicas only an entry of its own term; older entries
 * commit indirectly, below it. So when a node that stayed leader of the same term advances its
 * commit index, the entry there is of that term. */
static void check_commit_rule(struct sim *s, uint64_t id, const struct raft_status *st)
{
    struct sim_node *n = &s->nodes[id];
    if (n->chk_role != RAFT_LEADER || st->role != RAFT_LEADER || n->chk_term != st->term ||
        st->commit <= n->commit)
        return;
    const struct sim_view *v = &n->st.vis;
    if (v->e[st->commit - 1].term != st->term)
        sim_fail(s, "leader-commit-rule",
                 "leader %llu of term %llu advanced its commit index to %llu, an entry of term "
                 "%llu",
                 (unsigned long long)id, (unsigned long long)st->term,
                 (unsigned long long)st->commit, (unsigned long long)v->e[st->commit - 1].term);
}

/* Within one incarnation a node's term and commit index never go back (§3.3, §3.5). */
static void check_monotonic(struct sim *s, uint64_t id, const struct raft_status *st)
{
    const struct sim_node *n = &s->nodes[id];
    if (st->term < n->chk_term || st->commit < n->commit)
        sim_fail(s, "monotonic",
                 "node %llu went back from term %llu commit %llu to term %llu commit %llu",
                 (unsigned long long)id, (unsigned long long)n->chk_term,
                 (unsigned long long)n->commit, (unsigned long long)st->term,
                 (unsigned long long)st->commit);
}

void sim_check_step(struct sim *s)
{
    struct raft_status st[SIM_MAX_NODES + 1];
    for (uint64_t id = 1; id <= s->n && !s->failed; id++) {
        if (!s->nodes[id].up)
            continue;
        raft_status_get(s->nodes[id].r, &st[id]);
        check_monotonic(s, id, &st[id]);
        if (!s->failed)
            check_commit(s, id, st[id].commit, st[id].term);
        if (!s->failed)
            check_commit_rule(s, id, &st[id]);
        s->nodes[id].commit = st[id].commit;
        s->nodes[id].chk_role = st[id].role;
        s->nodes[id].chk_term = st[id].term;
    }
    for (uint64_t id = 1; id <= s->n && !s->failed; id++) {
        if (!s->nodes[id].up || st[id].role != RAFT_LEADER)
            continue;
        check_new_leader(s, id, &st[id]);
        if (!s->failed)
            check_leader_complete(s, id, st[id].term);
    }
    if (!s->failed)
        check_membership(s);
}

uint32_t sim_check_min_voters(struct sim *s)
{
    return s->chk->min_voters;
}

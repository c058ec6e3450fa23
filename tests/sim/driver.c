/* driver.c — what node/ will do around the core, done over simulated disks and network: start
 * (from what survived on disk), tick, deliver, and the Ready loop persist -> fsync -> send ->
 * apply -> advance (DESIGN.md §3.2, raft.h "struct raft_ready"). A node may crash between the
 * write and the fsync. With TREATY_RAFT_BUGS the two driver bugs reorder that loop. */
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "sim.h"

static uint64_t driver_seed(uint64_t seed, uint64_t id, uint32_t incarnation)
{
    struct tr_prng p;
    tr_prng_seed(&p, seed ^ (id << 48) ^ ((uint64_t)incarnation << 32) ^ 0x7261667473656564ULL);
    return tr_prng_next(&p);
}

static void driver_config(struct sim *s, struct sim_node *n, struct raft_config *cfg)
{
    raft_config_defaults(cfg);
    cfg->id = n->id;
    cfg->log = sim_store_log_ops(&n->st);
    cfg->hard_state = n->st.vis.hs;
    cfg->applied = n->st.applied;
    cfg->conf = n->st.conf;
    cfg->conf_index = n->st.conf_index;
    cfg->seed = driver_seed(s->seed, n->id, n->incarnation);
    cfg->election_ticks = s->p.election_ticks;
    cfg->heartbeat_ticks = s->p.heartbeat_ticks;
    cfg->pre_vote = s->p.pre_vote;
    cfg->check_quorum = s->p.check_quorum;
    cfg->max_inflight = s->p.max_inflight;
    cfg->max_append_entries = s->p.max_append_entries;
    cfg->apply_persisted_only = s->p.apply_persisted_only;
#ifdef TREATY_RAFT_BUGS
    if (s->bug > 0 && s->bug < (int)RAFT_BUG__COUNT)
        cfg->bug = (enum raft_bug)s->bug;
#endif
}

int sim_node_start(struct sim *s, uint64_t id)
{
    struct sim_node *n = &s->nodes[id];
    struct raft_config cfg;
    TR_ASSERT(!n->up);
    sim_check_recovered(s, id);
    /* An unsynced vote that survived the crash is durable now: it counts from here on. */
    if (n->st.vis.hs.vote != RAFT_NONE)
        sim_check_vote(s, id, n->st.vis.hs.term, n->st.vis.hs.vote);
    driver_config(s, n, &cfg);
    int rc = raft_create(&cfg, &n->r);
    if (rc != TR_OK) {
        sim_fail(s, "restart",
                 "node %llu: raft_create: %s (last %llu, term %llu, commit %llu, "
                 "applied %llu)",
                 (unsigned long long)id, tr_err_name(rc), (unsigned long long)n->st.vis.n,
                 (unsigned long long)cfg.hard_state.term, (unsigned long long)cfg.hard_state.commit,
                 (unsigned long long)cfg.applied);
        return rc;
    }
    n->up = 1;
    n->incarnation++;
    n->restart_at = UINT64_MAX;
    n->next_tick = s->now + 1 + tr_prng_below(&s->timing, n->tick_period);
    n->role = RAFT_FOLLOWER;
    n->term = cfg.hard_state.term;
    n->commit = cfg.hard_state.commit;
    n->chk_role = RAFT_FOLLOWER;
    n->chk_term = cfg.hard_state.term;
    sim_event(s, id, "start #%u: last=%llu term=%llu vote=%llu commit=%llu applied=%llu",
              n->incarnation, (unsigned long long)n->st.vis.n,
              (unsigned long long)cfg.hard_state.term, (unsigned long long)cfg.hard_state.vote,
              (unsigned long long)cfg.hard_state.commit, (unsigned long long)cfg.applied);
    return TR_OK;
}

void sim_node_crash(struct sim *s, uint64_t id, int where)
{
    struct sim_node *n = &s->nodes[id];
    if (!n->up)
        return;
    raft_destroy(n->r);
    n->r = NULL;
    n->up = 0;
    int torn = 0;
    size_t unsynced = n->st.n_recs - n->st.n_synced;
    size_t kept = sim_store_crash(&n->st, &s->faults, s->p.survive_pm, s->p.torn_pm, &torn);
    s->crashes++;
    s->torn += (uint64_t)torn;
    n->restart_at = s->now + 1 + tr_prng_below(&s->faults, s->p.down_max);
    sim_work_reads_dropped(s, id);
    static const char *const where_name[] = {"", " before fsync", " before apply"};
    sim_event(s, id, "CRASH%s: %zu/%zu unsynced records survived%s; recovered last=%llu",
              where_name[where], kept, unsynced, torn ? " (last torn)" : "",
              (unsigned long long)n->st.vis.n);
}

static void driver_fail_core(struct sim *s, uint64_t id, const char *what, int rc)
{
    sim_fail(s, "core-error", "node %llu: %s: %s", (unsigned long long)id, what, tr_err_name(rc));
}

static void driver_send(struct sim *s, const struct raft_ready *rd)
{
    for (size_t i = 0; i < rd->n_msgs; i++) {
        const struct raft_msg *m = &rd->msgs[i];
        if (m->to < 1 || m->to > s->n || m->from < 1 || m->from > s->n) {
            sim_fail(s, "core-error", "message %s from %llu to unknown node %llu",
                     raft_msg_type_name(m->type), (unsigned long long)m->from,
                     (unsigned long long)m->to);
            return;
        }
        TR_ASSERT(sim_net_send(&s->net, s->now, m, &s->faults, &s->timing) == TR_OK);
    }
}

static void driver_apply_one(struct sim *s, struct sim_node *n, const struct raft_entry *e)
{
    struct sim_store *st = &n->st;
    if (e->index != st->applied + 1) {
        sim_fail(s, "state-machine-safety", "node %llu applied index %llu after %llu",
                 (unsigned long long)n->id, (unsigned long long)e->index,
                 (unsigned long long)st->applied);
        return;
    }
    st->applied_chain = sim_chain_next(st->applied_chain, e->term, e->type, e->data, e->len);
    st->applied = e->index;
    if (e->type == RAFT_ENTRY_CONFIG) {
        TR_ASSERT(raft_conf_decode(e->data, e->len, &st->conf, NULL, NULL) == TR_OK);
        st->conf_index = e->index;
    }
    sim_check_apply(s, n->id, e->index, st->applied_chain);
    if (e->type == RAFT_ENTRY_NORMAL)
        sim_work_applied(s, n->id, e->index, e->data, e->len);
}

static void driver_apply(struct sim *s, struct sim_node *n, const struct raft_ready *rd)
{
    if (rd->n_committed == 0)
        return;
    for (size_t i = 0; i < rd->n_committed && !s->failed; i++)
        driver_apply_one(s, n, &rd->committed[i]);
    sim_event(s, n->id, "apply %llu..%llu", (unsigned long long)rd->committed[0].index,
              (unsigned long long)rd->committed[rd->n_committed - 1].index);
}

/* Step 1 of the Ready: write (not yet durable) the entries, then the hard state, so a crash
 * that keeps a prefix never keeps a commit index without the entries it covers. */
static void driver_write(struct sim *s, struct sim_node *n, const struct raft_ready *rd)
{
    if (rd->n_entries > 0) {
        TR_ASSERT(sim_store_write_entries(&n->st, rd->entries, rd->n_entries) == TR_OK);
        for (size_t i = 0; i < rd->n_entries; i++) {
            uint64_t idx = rd->entries[i].index;
            sim_check_append(s, n->id, idx, rd->entries[i].term, sim_view_chain(&n->st.vis, idx));
        }
        sim_event(s, n->id, "write %llu..%llu term %llu", (unsigned long long)rd->entries[0].index,
                  (unsigned long long)rd->entries[rd->n_entries - 1].index,
                  (unsigned long long)rd->entries[rd->n_entries - 1].term);
    }
    if (rd->has_hard_state)
        TR_ASSERT(sim_store_write_hard_state(&n->st, &rd->hard_state) == TR_OK);
}

static int driver_bug(const struct sim *s, int bug)
{
#ifdef TREATY_RAFT_BUGS
    return s->bug == bug;
#else
    (void)s;
    (void)bug;
    return 0;
#endif
}

/* What node/ does while a leader's Ready is being persisted: append acknowledgements that arrive
 * meanwhile are stepped at once (raft_step_early), batches are proposed at once
 * (raft_propose_early), and the messages that causes are sent before the persist is durable.
 * Modelled by taking, with even odds, each APPEND_RESP to this node that the network would
 * deliver within the longest message delay (its delay shortened), and by a write proposed here
 * in one Ready of four. */
static void driver_step_early(struct sim *s, struct sim_node *n)
{
    if (n->role == RAFT_LEADER && tr_prng_chance(&s->timing, 1, 4))
        sim_work_propose_early(s, n->id);
    for (size_t i = 0; i < s->net.n && !s->failed; i++) {
        struct sim_msg *sm = s->net.heap[i];
        if (sm->early || sm->m.to != n->id || sm->m.type != RAFT_MSG_APPEND_RESP ||
            sm->at > s->now + s->p.delay_max || !tr_prng_chance(&s->timing, 1, 2))
            continue;
        const struct raft_msg *out = NULL;
        size_t n_out = 0;
        int rc = raft_step_early(n->r, &sm->m, &out, &n_out);
        if (rc == TR_EBUSY)
            continue;
        if (rc != TR_OK) {
            driver_fail_core(s, n->id, "raft_step_early", rc);
            return;
        }
        sm->early = 1;
        sim_event(s, n->id, "early APPEND_RESP from %llu idx %llu -> %zu msgs",
                  (unsigned long long)sm->m.from, (unsigned long long)sm->m.index, n_out);
        for (size_t k = 0; k < n_out; k++)
            TR_ASSERT(sim_net_send(&s->net, s->now, &out[k], &s->faults, &s->timing) == TR_OK);
    }
}

/* One Ready. Returns 0 when the node crashed in it. */
static int driver_ready(struct sim *s, struct sim_node *n)
{
    struct raft_ready rd;
    int rc = raft_ready(n->r, &rd);
    if (rc != TR_OK) {
        driver_fail_core(s, n->id, "raft_ready", rc);
        return 0;
    }
    int ack_early = driver_bug(s, SIM_BUG_ACK_BEFORE_PERSIST);
    int apply_early = driver_bug(s, SIM_BUG_APPLY_BEFORE_PERSIST);
    if (ack_early)
        driver_send(s, &rd);
    /* Applying beside the write (before it, here) is what apply_persisted_only allows: every
     * entry handed out must already be durable. */
    int apply_beside = s->p.apply_persisted_only && !apply_early;
    if (apply_beside) {
        for (size_t i = 0; i < rd.n_committed; i++)
            if (rd.committed[i].index > n->st.dur.n) {
                sim_fail(s, "apply-persisted-only",
                         "node %llu: entry %llu handed out to apply, durable log ends at %llu",
                         (unsigned long long)n->id, (unsigned long long)rd.committed[i].index,
                         (unsigned long long)n->st.dur.n);
                return 0;
            }
        driver_apply(s, n, &rd);
    }
    if (apply_early)
        driver_apply(s, n, &rd);
    driver_write(s, n, &rd);
    if (rd.n_entries > 0 || rd.has_hard_state || rd.n_committed > 0)
        driver_step_early(s, n);
    if ((rd.n_entries > 0 || rd.has_hard_state) && !s->liveness &&
        tr_prng_chance(&s->faults, s->p.midcrash_pm, 1000)) {
        sim_node_crash(s, n->id, 1);
        return 0;
    }
    sim_store_sync(&n->st);
    if (rd.has_hard_state && rd.hard_state.vote != RAFT_NONE)
        sim_check_vote(s, n->id, rd.hard_state.term, rd.hard_state.vote);
    if (!ack_early)
        driver_send(s, &rd);
    /* A crash after the send and before the apply: the restart must re-apply from `applied`. */
    if (rd.n_committed > 0 && !s->liveness && tr_prng_chance(&s->faults, s->p.midcrash_pm, 2000)) {
        sim_node_crash(s, n->id, 2);
        return 0;
    }
    if (!apply_early && !apply_beside)
        driver_apply(s, n, &rd);
    for (size_t i = 0; i < rd.n_reads; i++)
        sim_work_read_released(s, n->id, rd.reads[i].request_id, rd.reads[i].index);
    if (rd.has_soft_state && rd.role != RAFT_LEADER)
        sim_work_reads_dropped(s, n->id);
    rc = raft_advance(n->r);
    if (rc != TR_OK) {
        driver_fail_core(s, n->id, "raft_advance", rc);
        return 0;
    }
    return 1;
}

static void driver_note_role(struct sim *s, struct sim_node *n)
{
    struct raft_status st;
    raft_status_get(n->r, &st);
    if (st.role != n->role || st.term != n->term)
        sim_event(s, n->id, "%s term %llu (leader %llu, commit %llu, last %llu)",
                  raft_role_name(st.role), (unsigned long long)st.term,
                  (unsigned long long)st.leader, (unsigned long long)st.commit,
                  (unsigned long long)st.last_index);
    n->role = st.role;
    n->term = st.term;
}

void sim_node_drain(struct sim *s, uint64_t id)
{
    struct sim_node *n = &s->nodes[id];
    while (n->up && !s->failed && raft_has_ready(n->r))
        if (!driver_ready(s, n))
            return;
    if (n->up)
        driver_note_role(s, n);
}

void sim_node_tick(struct sim *s, uint64_t id)
{
    struct sim_node *n = &s->nodes[id];
    n->next_tick += n->tick_period;
    int rc = raft_tick(n->r);
    if (rc != TR_OK) {
        driver_fail_core(s, id, "raft_tick", rc);
        return;
    }
    sim_node_drain(s, id);
}

void sim_node_deliver(struct sim *s, struct sim_msg *sm)
{
    struct sim_node *n = &s->nodes[sm->m.to];
    if (!n->up)
        return;
    if (sm->m.type != RAFT_MSG_HEARTBEAT && sm->m.type != RAFT_MSG_HEARTBEAT_RESP)
        sim_event(s, n->id, "recv %s from %llu term %llu idx %llu lt %llu n=%zu c=%llu%s",
                  raft_msg_type_name(sm->m.type), (unsigned long long)sm->m.from,
                  (unsigned long long)sm->m.term, (unsigned long long)sm->m.index,
                  (unsigned long long)sm->m.log_term, sm->m.n_entries,
                  (unsigned long long)sm->m.commit, sm->m.reject ? " reject" : "");
    int rc = raft_step(n->r, &sm->m);
    if (rc != TR_OK) {
        driver_fail_core(s, n->id, "raft_step", rc);
        return;
    }
    sim_node_drain(s, n->id);
}

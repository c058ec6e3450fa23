/* workload.c — the clients of treaty-sim: writes (8-byte ids), ReadIndex reads (§6.4),
 * single-server membership changes (§4.1, often two in a row to tempt the core) and leadership
 * transfers (§3.10), all drawn from the workload PRNG stream. It also checks that a read reflects
 * every write acknowledged before the read began (linearizability) and drives the liveness
 * phase's barrier write. Called by sim.c (actions) and driver.c (applies, read states). */
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "sim.h"

void sim_work_init(struct sim_work *w)
{
    memset(w, 0, sizeof(*w));
}

void sim_work_free(struct sim_work *w)
{
    tr_free(w->acked);
    tr_free(w->reads);
    memset(w, 0, sizeof(*w));
}

static void work_encode(uint64_t id, uint8_t out[8])
{
    for (int i = 0; i < 8; i++)
        out[i] = (uint8_t)(id >> (56 - 8 * i));
}

static uint64_t work_decode(const uint8_t *data)
{
    uint64_t id = 0;
    for (int i = 0; i < 8; i++)
        id = (id << 8) | data[i];
    return id;
}

/* A node that believes it leads, chosen at random (a deposed leader may still believe it); now
 * and then any up node, to exercise refusals. 0 when none. */
static uint64_t work_pick_target(struct sim *s)
{
    uint64_t cands[SIM_MAX_NODES];
    uint32_t k = 0;
    int anyone = tr_prng_chance(&s->work, 1, 10);
    for (uint64_t id = 1; id <= s->n; id++) {
        struct sim_node *n = &s->nodes[id];
        if (n->up && (anyone || n->role == RAFT_LEADER))
            cands[k++] = id;
    }
    return k ? cands[tr_prng_below(&s->work, k)] : 0;
}

/* Proposes a new write at `id`; returns its write id when the core took it, else 0. */
static uint64_t work_propose(struct sim *s, uint64_t id)
{
    uint8_t data[8];
    uint64_t wid = ++s->w.next_id;
    uint64_t index = 0;
    work_encode(wid, data);
    int rc = raft_propose(s->nodes[id].r, data, sizeof(data), &index);
    if (rc != TR_OK)
        return 0;
    sim_event(s, id, "propose write %llu at %llu", (unsigned long long)wid,
              (unsigned long long)index);
    sim_node_drain(s, id);
    return wid;
}

void sim_work_propose_early(struct sim *s, uint64_t id)
{
    uint8_t data[8];
    uint64_t wid = ++s->w.next_id;
    uint64_t index = 0;
    const struct raft_msg *out = NULL;
    size_t n_out = 0;
    work_encode(wid, data);
    int rc = raft_propose_early(s->nodes[id].r, data, sizeof(data), &index, &out, &n_out);
    if (rc == TR_EBUSY || rc == TR_ENOTLEADER)
        return;
    if (rc != TR_OK) {
        sim_fail(s, "core-error", "node %llu: raft_propose_early: %s", (unsigned long long)id,
                 tr_err_name(rc));
        return;
    }
    sim_event(s, id, "propose write %llu at %llu early -> %zu msgs", (unsigned long long)wid,
              (unsigned long long)index, n_out);
    for (size_t i = 0; i < n_out; i++)
        TR_ASSERT(sim_net_send(&s->net, s->now, &out[i], &s->faults, &s->timing) == TR_OK);
}

static void work_read(struct sim *s, uint64_t id)
{
    struct sim_work *w = &s->w;
    uint64_t rid = ++w->next_read_id;
    if (raft_read_index(s->nodes[id].r, rid) != TR_OK)
        return;
    if (w->n_reads == w->cap_reads) {
        size_t cap = w->cap_reads ? w->cap_reads * 2 : 16;
        struct sim_read *r = tr_realloc(w->reads, cap * sizeof(*r));
        TR_ASSERT(r != NULL);
        w->reads = r;
        w->cap_reads = cap;
    }
    struct sim_read *r = &w->reads[w->n_reads++];
    r->id = rid;
    r->acked_index = w->acked_max;
    r->index = 0;
    r->node = (int)id;
    sim_event(s, id, "read %llu begins (writes acked up to index %llu)", (unsigned long long)rid,
              (unsigned long long)w->acked_max);
    sim_node_drain(s, id);
}

struct work_changes {
    enum raft_conf_op op[4 * SIM_MAX_NODES];
    uint64_t node[4 * SIM_MAX_NODES];
    uint32_t n;
};

static void work_change_add(struct work_changes *c, enum raft_conf_op op, uint64_t node)
{
    c->op[c->n] = op;
    c->node[c->n] = node;
    c->n++;
}

/* Picks a membership change that fits `conf`, as (op, node); returns 0 when none does. Voters
 * are removed only down to two, so a majority can survive the liveness phase. */
static int work_pick_change(struct sim *s, const struct raft_conf *conf, enum raft_conf_op *op,
                            uint64_t *node)
{
    struct work_changes c = {.n = 0};
    for (uint64_t id = 1; id <= s->n; id++) {
        int voter = raft_conf_is_voter(conf, id), learner = raft_conf_is_learner(conf, id);
        if (!voter && !learner) {
            work_change_add(&c, RAFT_CONF_ADD_LEARNER, id);
            work_change_add(&c, RAFT_CONF_ADD_VOTER, id);
        } else if (learner) {
            work_change_add(&c, RAFT_CONF_PROMOTE, id);
            work_change_add(&c, RAFT_CONF_REMOVE, id);
        } else if (conf->n_voters > 2) {
            work_change_add(&c, RAFT_CONF_REMOVE, id);
        }
    }
    if (c.n == 0)
        return 0;
    uint32_t pick = (uint32_t)tr_prng_below(&s->work, c.n);
    *op = c.op[pick];
    *node = c.node[pick];
    return 1;
}

static const char *work_op_name(enum raft_conf_op op)
{
    switch (op) {
    case RAFT_CONF_ADD_VOTER:
        return "add-voter";
    case RAFT_CONF_ADD_LEARNER:
        return "add-learner";
    case RAFT_CONF_PROMOTE:
        return "promote";
    case RAFT_CONF_REMOVE:
        return "remove";
    }
    return "?";
}

/* One membership change at leader `id`; returns 1 when the core took it. */
static int work_conf_once(struct sim *s, uint64_t id)
{
    struct raft_status st;
    enum raft_conf_op op;
    uint64_t node, index = 0;
    raft_status_get(s->nodes[id].r, &st);
    if (!work_pick_change(s, &st.conf, &op, &node))
        return 0;
    int rc = raft_propose_conf(s->nodes[id].r, op, node, &index);
    if (rc != TR_OK)
        return 0;
    s->w.conf_changes++;
    sim_event(s, id, "propose %s %llu at %llu", work_op_name(op), (unsigned long long)node,
              (unsigned long long)index);
    return 1;
}

static void work_conf(struct sim *s, uint64_t id)
{
    /* Half the time a second change follows at once: a correct core refuses it (EBUSY). */
    if (work_conf_once(s, id) && tr_prng_chance(&s->work, 1, 2))
        work_conf_once(s, id);
    sim_node_drain(s, id);
}

static void work_transfer(struct sim *s, uint64_t id)
{
    struct raft_status st;
    raft_status_get(s->nodes[id].r, &st);
    if (st.conf.n_voters == 0)
        return;
    uint64_t target = st.conf.voters[tr_prng_below(&s->work, st.conf.n_voters)];
    if (raft_transfer_leadership(s->nodes[id].r, target) != TR_OK)
        return;
    s->w.transfers++;
    sim_event(s, id, "transfer leadership to %llu", (unsigned long long)target);
    sim_node_drain(s, id);
}

void sim_work_act(struct sim *s)
{
    uint64_t id = work_pick_target(s);
    if (id == 0)
        return;
    const struct sim_params *p = &s->p;
    uint32_t total = p->propose_w + p->read_w + p->conf_w + p->transfer_w;
    uint32_t x = (uint32_t)tr_prng_below(&s->work, total);
    if (x < p->propose_w)
        work_propose(s, id);
    else if ((x -= p->propose_w) < p->read_w)
        work_read(s, id);
    else if ((x -= p->read_w) < p->conf_w)
        work_conf(s, id);
    else
        work_transfer(s, id);
}

void sim_work_applied(struct sim *s, uint64_t id, uint64_t index, const uint8_t *data, size_t len)
{
    struct sim_work *w = &s->w;
    if (len != 8)
        return;
    uint64_t wid = work_decode(data);
    if (wid == 0 || wid > w->next_id) {
        sim_fail(s, "state-machine-safety", "node %llu applied a write nobody proposed",
                 (unsigned long long)id);
        return;
    }
    if (wid >= w->cap_acked) {
        size_t cap = w->cap_acked ? w->cap_acked : 256;
        while (cap <= wid)
            cap *= 2;
        uint64_t *a = tr_realloc(w->acked, cap * sizeof(*a));
        TR_ASSERT(a != NULL);
        memset(a + w->cap_acked, 0, (cap - w->cap_acked) * sizeof(*a));
        w->acked = a;
        w->cap_acked = cap;
    }
    if (w->acked[wid] != 0 && w->acked[wid] != index) {
        sim_fail(s, "state-machine-safety", "write %llu applied at index %llu and at %llu",
                 (unsigned long long)wid, (unsigned long long)w->acked[wid],
                 (unsigned long long)index);
        return;
    }
    if (w->acked[wid] == 0) {
        w->acked[wid] = index;
        w->writes_acked++;
        if (index > w->acked_max)
            w->acked_max = index;
    }
}

/* Linearizable reads (§6.4): the read point must cover every write acknowledged before the read
 * began; the node then serves the read from a state at or after that point. */
void sim_work_read_released(struct sim *s, uint64_t id, uint64_t request_id, uint64_t index)
{
    struct sim_work *w = &s->w;
    for (size_t i = 0; i < w->n_reads; i++) {
        struct sim_read *r = &w->reads[i];
        if (r->id != request_id)
            continue;
        if ((uint64_t)r->node != id)
            break;
        if (index < r->acked_index)
            sim_fail(s, "read-linearizable",
                     "node %llu answered read %llu at index %llu, but a write at index %llu was "
                     "acknowledged before the read began",
                     (unsigned long long)id, (unsigned long long)request_id,
                     (unsigned long long)index, (unsigned long long)r->acked_index);
        sim_event(s, id, "read %llu at index %llu", (unsigned long long)request_id,
                  (unsigned long long)index);
        w->reads_served++;
        w->reads[i] = w->reads[--w->n_reads];
        return;
    }
    sim_fail(s, "read-linearizable", "node %llu released read %llu that it was never asked",
             (unsigned long long)id, (unsigned long long)request_id);
}

void sim_work_reads_dropped(struct sim *s, uint64_t id)
{
    struct sim_work *w = &s->w;
    for (size_t i = 0; i < w->n_reads;) {
        if ((uint64_t)w->reads[i].node == id)
            w->reads[i] = w->reads[--w->n_reads];
        else
            i++;
    }
}

/* The healthy node that leads the highest term, 0 when none. */
static uint64_t work_leader(struct sim *s, uint32_t healthy, struct raft_status *st)
{
    uint64_t best = 0, best_term = 0;
    for (uint64_t id = 1; id <= s->n; id++) {
        if (!((healthy >> id) & 1u) || !s->nodes[id].up)
            continue;
        struct raft_status x;
        raft_status_get(s->nodes[id].r, &x);
        if (x.role == RAFT_LEADER && x.term >= best_term) {
            best = id;
            best_term = x.term;
            *st = x;
        }
    }
    return best;
}

int sim_work_barrier(struct sim *s, uint32_t healthy)
{
    struct sim_work *w = &s->w;
    struct raft_status st;
    uint64_t leader = work_leader(s, healthy, &st);
    if (leader == 0)
        return 0;
    uint64_t at = w->barrier_id && w->barrier_id < w->cap_acked ? w->acked[w->barrier_id] : 0;
    if (at != 0) {
        uint32_t members = sim_conf_mask(st.conf.voters, st.conf.n_voters) |
                           sim_conf_mask(st.conf.learners, st.conf.n_learners);
        for (uint64_t id = 1; id <= s->n; id++)
            if (((members & healthy) >> id) & 1u && s->nodes[id].st.applied < at)
                return 0;
        w->barrier_index = at;
        return 1;
    }
    uint64_t retry = 3ULL * s->p.election_ticks * SIM_TICK;
    if (w->barrier_id == 0 || s->now - w->barrier_at > retry) {
        uint64_t wid = work_propose(s, leader);
        if (wid != 0) {
            w->barrier_id = wid;
            w->barrier_at = s->now;
        }
    }
    return 0;
}

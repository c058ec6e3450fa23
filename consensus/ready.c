/* ready.c — the output side of the core: the bounded message queue, the arena that owns message
 * and entry copies until raft_advance, and raft_ready / raft_advance themselves.
 * Invariant: everything a Ready points to stays valid until raft_advance, and no event may
 * arrive in between (asserted by the event entry points). Called by the driver and every file
 * that sends a message. */
#include "consensus/raft_int.h"

#include "common/alloc.h"

#include <stddef.h>
#include <string.h>

struct raft__chunk {
    struct raft__chunk *next;
    max_align_t data[];
};

void *raft__arena_alloc(struct raft *r, size_t size)
{
    struct raft__chunk *c = tr_malloc(sizeof(*c) + size);
    if (!c)
        return NULL;
    c->next = r->arena;
    r->arena = c;
    return c->data;
}

void raft__arena_free(struct raft *r)
{
    while (r->arena) {
        struct raft__chunk *next = r->arena->next;
        tr_free(r->arena);
        r->arena = next;
    }
}

struct raft_msg *raft__send(struct raft *r, const struct raft_msg *m)
{
    TR_ASSERT(m->to != r->id && m->to != RAFT_NONE);
    if (r->n_msgs >= r->cfg.max_msgs) {
        r->msgs_dropped++;
        return NULL;
    }
    struct raft_msg *out = &r->msgs[r->n_msgs++];
    *out = *m;
    out->from = r->id;
    if (out->term == 0)
        out->term = r->term;
    return out;
}

/* The hard state to hand out. With the teeth bug FORGET_VOTE_PERSIST the vote never reaches
 * the disk: a restart forgets it and the node may vote twice in one term (§3.8 violated). */
static struct raft_hard_state hard_state_out(const struct raft *r)
{
    struct raft_hard_state hs = {r->term, r->vote, r->commit};
#ifdef TREATY_RAFT_BUGS
    if (RAFT__BUG(r, RAFT_BUG_FORGET_VOTE_PERSIST))
        hs.vote = r->term == r->prev_hs.term ? r->prev_hs.vote : RAFT_NONE;
#endif
    return hs;
}

static int hard_state_changed(const struct raft *r)
{
    struct raft_hard_state hs = hard_state_out(r);
    return hs.term != r->prev_hs.term || hs.vote != r->prev_hs.vote ||
           hs.commit != r->prev_hs.commit;
}

int raft_has_ready(const struct raft *r)
{
    if (r->outstanding || r->err)
        return 0;
    return r->u.n > 0 || r->n_msgs > 0 || r->n_reads_out > 0 || r->commit > r->applied ||
           hard_state_changed(r) || r->role != r->prev_role || r->leader != r->prev_leader;
}

/* Committed entries after `applied`, bounded in count and bytes (at least one). */
static int collect_committed(struct raft *r, size_t *n)
{
    size_t bytes = 0;
    uint64_t last = r->commit;
    if (r->cfg.apply_persisted_only && raft__persisted_index(r) < last)
        last = raft__persisted_index(r);
    *n = 0;
    for (uint64_t i = r->applied + 1; i <= last && *n < r->cfg.max_apply_entries; i++) {
        size_t room = *n == 0 ? SIZE_MAX : r->cfg.max_apply_bytes - bytes;
        int rc = raft__entry_get(r, i, 1, room, &r->committed[*n]);
        if (rc == TR_ELIMIT)
            break;
        if (rc != TR_OK)
            return rc;
        bytes += r->committed[*n].len;
        (*n)++;
        if (bytes >= r->cfg.max_apply_bytes)
            break;
    }
    return TR_OK;
}

int raft_ready(struct raft *r, struct raft_ready *rd)
{
    TR_ASSERT(!r->outstanding);
    memset(rd, 0, sizeof(*rd));
    if (r->err)
        return r->err;
    size_t n_committed = 0;
    int rc = collect_committed(r, &n_committed);
    if (rc != TR_OK)
        return r->err ? r->err : rc;
    rd->has_hard_state = hard_state_changed(r);
    rd->hard_state = hard_state_out(r);
    rd->entries = r->u.n > 0 ? r->u.ents : NULL;
    rd->n_entries = r->u.n;
    rd->msgs = r->n_msgs > 0 ? r->msgs : NULL;
    rd->n_msgs = r->n_msgs;
    rd->committed = n_committed > 0 ? r->committed : NULL;
    rd->n_committed = n_committed;
    rd->reads = r->n_reads_out > 0 ? r->reads_out : NULL;
    rd->n_reads = r->n_reads_out;
    rd->has_soft_state = r->role != r->prev_role || r->leader != r->prev_leader;
    rd->leader = r->leader;
    rd->role = r->role;
    r->rd_hs = rd->hard_state;
    r->rd_last_committed = n_committed > 0 ? r->committed[n_committed - 1].index : r->applied;
    r->rd_n_msgs = r->n_msgs;
    r->rd_n_entries = r->u.n;
    r->outstanding = 1;
    return TR_OK;
}

int raft_advance(struct raft *r)
{
    TR_ASSERT(r->outstanding);
    r->outstanding = 0;
    if (r->err)
        return r->err;
    r->prev_hs = r->rd_hs;
    r->prev_role = r->role;
    r->prev_leader = r->leader;
    r->n_msgs = 0;
    r->n_reads_out = 0;
    raft__arena_free(r);
    raft__unstable_persisted(r, r->rd_n_entries);
    if (r->rd_last_committed > r->applied)
        r->applied = r->rd_last_committed;
    /* The leader's own entries count toward commit only once durable (§3.6, §10.2.1). */
    if (r->role == RAFT_LEADER)
        raft__leader_commit(r);
    return r->err;
}

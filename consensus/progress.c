/* progress.c — the leader's per-follower state (Raft dissertation §3.5 nextIndex/matchIndex),
 * with etcd-style flow control: PROBE sends one append at a time until the match point is
 * found, REPLICATE pipelines appends within a bounded in-flight window (§10.2.1).
 * Invariant: match < next; the window never holds more than max_inflight appends.
 * Called by replication.c, election.c (quorum), membership.c and transfer.c. */
#include "consensus/raft_int.h"

#include <string.h>

struct raft__progress *raft__progress_find(struct raft *r, uint64_t id)
{
    for (uint32_t i = 0; i < r->n_prs; i++)
        if (r->prs[i].id == id)
            return &r->prs[i];
    return NULL;
}

uint32_t raft__quorum(const struct raft *r)
{
    return raft__conf(r)->n_voters / 2 + 1;
}

int raft__quorum_of(const struct raft *r, const uint64_t *ids, uint32_t n)
{
    uint32_t c = 0;
    for (uint32_t i = 0; i < n; i++)
        c += (uint32_t)raft__is_voter(r, ids[i]);
    return c >= raft__quorum(r);
}

int raft__quorum_active(struct raft *r)
{
    uint64_t ids[RAFT_MAX_MEMBERS + 1];
    uint32_t n = 0;
    ids[n++] = r->id;
    for (uint32_t i = 0; i < r->n_prs; i++)
        if (r->prs[i].recent_active)
            ids[n++] = r->prs[i].id;
    return raft__quorum_of(r, ids, n);
}

static uint64_t *pool_slot(struct raft *r, uint32_t slot)
{
    return r->inflight_pool + (size_t)slot * r->cfg.max_inflight;
}

static int slot_used(const struct raft *r, const uint64_t *p, const struct raft__progress *out,
                     uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (out[i].inflight == p)
            return 1;
    /* Followers still to be carried over keep their slot. */
    for (uint32_t i = 0; i < r->n_prs; i++)
        if (r->prs[i].inflight == p && raft__is_member(r, r->prs[i].id))
            return 1;
    return 0;
}

/* A pool slot no current progress uses. There are RAFT_MAX_MEMBERS slots for at most
 * RAFT_MAX_MEMBERS - 1 followers, so one is always free. */
static uint64_t *free_slot(struct raft *r, const struct raft__progress *out, uint32_t n)
{
    for (uint32_t s = 0; s < RAFT_MAX_MEMBERS; s++) {
        uint64_t *p = pool_slot(r, s);
        if (!slot_used(r, p, out, n))
            return p;
    }
    TR_ASSERT(0);
    return NULL;
}

static void progress_init(struct raft *r, struct raft__progress *pr, uint64_t id)
{
    uint64_t *slot = pr->inflight;
    memset(pr, 0, sizeof(*pr));
    pr->id = id;
    pr->inflight = slot;
    pr->next = raft__last_index(r) + 1;
    pr->state = RAFT_PROGRESS_PROBE;
}

/* Adds member `id` to `out` (sorted by construction), reusing its old state unless `reset`. */
static void sync_one(struct raft *r, struct raft__progress *out, uint32_t *n, uint64_t id,
                     int reset)
{
    if (id == r->id)
        return;
    struct raft__progress *old = raft__progress_find(r, id);
    struct raft__progress *pr = &out[(*n)++];
    if (old && !reset) {
        *pr = *old;
        return;
    }
    pr->inflight = old ? old->inflight : free_slot(r, out, *n - 1);
    progress_init(r, pr, id);
}

void raft__progress_sync(struct raft *r, int reset)
{
    const struct raft_conf *c = raft__conf(r);
    struct raft__progress out[RAFT_MAX_MEMBERS];
    uint32_t n = 0;
    uint32_t iv = 0, il = 0;
    /* Merge the two sorted id lists so progress is kept in id order. */
    while (iv < c->n_voters || il < c->n_learners) {
        int take_voter =
            il >= c->n_learners || (iv < c->n_voters && c->voters[iv] < c->learners[il]);
        uint64_t id = take_voter ? c->voters[iv++] : c->learners[il++];
        sync_one(r, out, &n, id, reset);
    }
    memcpy(r->prs, out, n * sizeof(out[0]));
    r->n_prs = n;
}

static void inflight_reset(struct raft__progress *pr)
{
    pr->in_start = 0;
    pr->in_count = 0;
}

void raft__progress_become_probe(struct raft__progress *pr)
{
    pr->state = RAFT_PROGRESS_PROBE;
    pr->probe_sent = 0;
    pr->next = pr->match + 1;
    inflight_reset(pr);
}

void raft__progress_become_replicate(struct raft__progress *pr)
{
    pr->state = RAFT_PROGRESS_REPLICATE;
    pr->probe_sent = 0;
    pr->next = pr->match + 1;
    inflight_reset(pr);
}

int raft__progress_update(struct raft__progress *pr, uint64_t index)
{
    int updated = 0;
    if (pr->match < index) {
        pr->match = index;
        updated = 1;
        pr->probe_sent = 0;
    }
    if (pr->next < index + 1)
        pr->next = index + 1;
    return updated;
}

/* A rejection of the append whose previous index was `rejected`. Stale rejections (answers to
 * appends sent before the leader moved next) are ignored: 0. */
int raft__progress_decr(struct raft__progress *pr, uint64_t rejected, uint64_t hint)
{
    if (pr->state == RAFT_PROGRESS_REPLICATE) {
        if (rejected <= pr->match)
            return 0;
        pr->next = pr->match + 1;
        return 1;
    }
    if (pr->next - 1 != rejected)
        return 0;
    uint64_t next = rejected < hint + 1 ? rejected : hint + 1;
    if (next < pr->match + 1)
        next = pr->match + 1;
    pr->next = next;
    pr->probe_sent = 0;
    return 1;
}

int raft__progress_paused(const struct raft *r, const struct raft__progress *pr)
{
    if (pr->state == RAFT_PROGRESS_PROBE)
        return pr->probe_sent;
    return pr->in_count >= r->cfg.max_inflight;
}

void raft__inflight_add(struct raft *r, struct raft__progress *pr, uint64_t index)
{
    TR_ASSERT(pr->in_count < r->cfg.max_inflight);
    uint32_t pos = (pr->in_start + pr->in_count) % r->cfg.max_inflight;
    pr->inflight[pos] = index;
    pr->in_count++;
}

void raft__inflight_free_to(struct raft *r, struct raft__progress *pr, uint64_t index)
{
    while (pr->in_count > 0 && pr->inflight[pr->in_start] <= index) {
        pr->in_start = (pr->in_start + 1) % r->cfg.max_inflight;
        pr->in_count--;
    }
}

void raft__inflight_free_first(struct raft *r, struct raft__progress *pr)
{
    if (pr->state != RAFT_PROGRESS_REPLICATE || pr->in_count < r->cfg.max_inflight)
        return;
    pr->in_start = (pr->in_start + 1) % r->cfg.max_inflight;
    pr->in_count--;
}

int raft_progress_get(const struct raft *r, uint64_t id, struct raft_progress_info *pi)
{
    if (r->role != RAFT_LEADER)
        return TR_ENOTLEADER;
    const struct raft__progress *pr = NULL;
    for (uint32_t i = 0; i < r->n_prs && !pr; i++)
        if (r->prs[i].id == id)
            pr = &r->prs[i];
    if (!pr)
        return TR_ENOTFOUND;
    memset(pi, 0, sizeof(*pi));
    pi->match = pr->match;
    pi->next = pr->next;
    pi->state = pr->state;
    pi->inflight = pr->in_count;
    pi->recent_active = pr->recent_active;
    pi->is_learner = raft_conf_is_learner(raft__conf(r), id);
    return TR_OK;
}

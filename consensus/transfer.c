/* transfer.c — leadership transfer (Raft dissertation §3.10): the leader stops accepting
 * proposals, brings the target's log up to date, then sends it TimeoutNow so it starts an
 * election at once (its vote requests bypass the §4.2.3 lease). Invariant: at most one transfer
 * at a time, abandoned after one election timeout. Called by the driver and replication.c. */
#include "consensus/raft_int.h"

#include <string.h>

void raft__transfer_abort(struct raft *r)
{
    r->transferee = RAFT_NONE;
    r->transfer_elapsed = 0;
}

static void send_timeout_now(struct raft *r, uint64_t to)
{
    struct raft_msg m;
    memset(&m, 0, sizeof(m));
    m.type = RAFT_MSG_TIMEOUT_NOW;
    m.to = to;
    raft__send(r, &m);
}

int raft_transfer_leadership(struct raft *r, uint64_t target)
{
    TR_ASSERT(!r->outstanding);
    if (r->err)
        return r->err;
    if (r->role != RAFT_LEADER)
        return TR_ENOTLEADER;
    if (target == r->id || !raft__is_voter(r, target))
        return TR_EINVAL;
    if (r->transferee != RAFT_NONE)
        return TR_EBUSY;
    struct raft__progress *pr = raft__progress_find(r, target);
    TR_ASSERT(pr);
    r->transferee = target;
    r->transfer_elapsed = 0;
    if (pr->match == raft__last_index(r))
        send_timeout_now(r, target);
    else
        raft__send_append(r, pr, 1);
    return r->err;
}

void raft__transfer_maybe_send(struct raft *r, struct raft__progress *pr)
{
    if (pr->id == r->transferee && pr->match == raft__last_index(r))
        send_timeout_now(r, pr->id);
}

void raft__transfer_tick(struct raft *r)
{
    if (r->transferee == RAFT_NONE)
        return;
    if (++r->transfer_elapsed >= r->cfg.election_ticks)
        raft__transfer_abort(r);
}

/* The target campaigns at once, skipping pre-vote: the old leader asked for it. */
void raft__handle_timeout_now(struct raft *r, const struct raft_msg *m)
{
    (void)m;
    if (r->role != RAFT_LEADER)
        raft__campaign(r, 0, 1);
}

/* A leader leaving the configuration (§4.2.2) hands over at once instead of letting the cluster
 * wait for an election timeout (§3.10 names this use): TimeoutNow to the up-to-date voter with
 * the lowest id, if any. */
void raft__transfer_handoff(struct raft *r)
{
    uint64_t last = raft__last_index(r);
    for (uint32_t i = 0; i < r->n_prs; i++) {
        const struct raft__progress *pr = &r->prs[i];
        if (pr->match == last && raft__is_voter(r, pr->id)) {
            send_timeout_now(r, pr->id);
            return;
        }
    }
}

/* read_index.c — linearizable reads without writing to the log (Raft dissertation §6.4): the
 * leader records its commit index as the read index, confirms it is still leader with a round of
 * heartbeats answered by a majority, then releases (request id, read index) to the driver, which
 * serves the read once it has applied that far. Invariant: requests are released in arrival
 * order and only by a leader that has committed an entry of its term. Called by the driver
 * (raft_read_index) and replication.c (heartbeat answers). */
#include "consensus/raft_int.h"

#include <string.h>

void raft__read_reset(struct raft *r)
{
    r->n_reads_pending = 0;
}

static int read_release(struct raft *r, uint64_t request_id, uint64_t index)
{
    if (r->n_reads_out >= r->cfg.max_read_requests)
        return TR_EBUSY;
    r->reads_out[r->n_reads_out].request_id = request_id;
    r->reads_out[r->n_reads_out].index = index;
    r->n_reads_out++;
    return TR_OK;
}

int raft_read_index(struct raft *r, uint64_t request_id)
{
    TR_ASSERT(!r->outstanding);
    if (r->err)
        return r->err;
    if (r->role != RAFT_LEADER)
        return TR_ENOTLEADER;
    /* §6.4 step 1: until an entry of its term commits, the leader may not know the latest
     * commit index. */
    if (r->transferee != RAFT_NONE || !raft__committed_in_term(r))
        return TR_EBUSY;
    if (r->n_reads_pending + r->n_reads_out >= r->cfg.max_read_requests)
        return TR_EBUSY;
    uint64_t self = r->id;
    if (raft__quorum_of(r, &self, 1))
        return read_release(r, request_id, r->commit);
    struct raft__read *rq = &r->reads_pending[r->n_reads_pending++];
    memset(rq, 0, sizeof(*rq));
    rq->request_id = request_id;
    rq->index = r->commit;
    rq->round = ++r->read_round;
    if (raft__is_voter(r, r->id))
        rq->acks[rq->n_acks++] = r->id;
    /* §6.4 step 3: a fresh heartbeat round; answers carry the round back. */
    raft__bcast_heartbeat(r, rq->round);
    return TR_OK;
}

static void ack_one(struct raft__read *rq, uint64_t from)
{
    for (uint32_t i = 0; i < rq->n_acks; i++)
        if (rq->acks[i] == from)
            return;
    if (rq->n_acks < RAFT_MAX_MEMBERS)
        rq->acks[rq->n_acks++] = from;
}

/* An answer to round `round` proves `from` still followed this leader after every request of
 * that round or earlier was made. */
void raft__read_ack(struct raft *r, uint64_t from, uint64_t round)
{
    if (!raft__is_voter(r, from))
        return;
    for (uint32_t i = 0; i < r->n_reads_pending; i++)
        if (r->reads_pending[i].round <= round)
            ack_one(&r->reads_pending[i], from);
    uint32_t done = 0;
    while (done < r->n_reads_pending) {
        const struct raft__read *rq = &r->reads_pending[done];
        if (!raft__quorum_of(r, rq->acks, rq->n_acks))
            break;
        /* Room was reserved at request time: pending + released <= max_read_requests. */
        int rc = read_release(r, rq->request_id, rq->index);
        TR_ASSERT(rc == TR_OK);
        done++;
    }
    memmove(r->reads_pending, r->reads_pending + done,
            (r->n_reads_pending - done) * sizeof(r->reads_pending[0]));
    r->n_reads_pending -= done;
}

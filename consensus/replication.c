/* replication.c — log replication (Raft dissertation §3.5) and commitment (§3.6): the leader's
 * appends, heartbeats and commit rule, the follower's consistency check with conflict hints.
 * Invariant: the leader commits by counting only entries of its own term (§3.6.2), and counts
 * its own entries only once persisted. Called by raft.c's step dispatch and ready.c's advance. */
#include "consensus/raft_int.h"

#include <string.h>

void raft__become_leader(struct raft *r)
{
    TR_ASSERT(r->role == RAFT_CANDIDATE);
    r->role = RAFT_LEADER;
    r->leader = r->id;
    r->heartbeat_elapsed = 0;
    r->election_elapsed = 0;
    raft__progress_sync(r, 1);
    /* §3.6.2 / §6.4: a no-op of the new term lets the leader commit (and learn the commit index
     * for reads) without waiting for a client proposal. */
    uint64_t index;
    int rc = raft__append_local(r, RAFT_ENTRY_NOOP, NULL, 0, &index);
    TR_ASSERT(rc == TR_OK || r->err);
}

int raft__committed_in_term(struct raft *r)
{
    return raft__term(r, r->commit) == r->term;
}

int raft__append_local(struct raft *r, enum raft_entry_type type, const uint8_t *data, size_t len,
                       uint64_t *index)
{
    struct raft_entry e = {raft__last_index(r) + 1, r->term, type, data, len};
    if (type != RAFT_ENTRY_NOOP && !raft__unstable_fits(r, 1, len))
        return TR_EBUSY;
    if (raft__log_append(r, &e, 1) != 1)
        return r->err ? r->err : TR_ENOMEM;
    if (index)
        *index = e.index;
    raft__bcast_append(r);
    return r->err;
}

/* Entries [next, last] bounded by count and bytes (at least one), copied into the arena. */
static int gather(struct raft *r, uint64_t next, struct raft_entry **out, size_t *n)
{
    uint64_t last = raft__last_index(r);
    *n = 0;
    *out = NULL;
    if (next > last)
        return TR_OK;
    uint64_t want = last - next + 1;
    if (want > r->cfg.max_append_entries)
        want = r->cfg.max_append_entries;
    struct raft_entry *ents = raft__arena_alloc(r, (size_t)want * sizeof(*ents));
    if (!ents)
        return TR_ENOMEM;
    size_t bytes = 0;
    for (size_t i = 0; i < want; i++) {
        size_t room = i == 0 ? SIZE_MAX : r->cfg.max_append_bytes - bytes;
        int rc = raft__entry_get(r, next + i, 0, room, &ents[i]);
        if (rc == TR_ELIMIT)
            break;
        if (rc != TR_OK)
            return rc;
        bytes += ents[i].len;
        (*n)++;
        if (bytes >= r->cfg.max_append_bytes)
            break;
    }
    *out = ents;
    return TR_OK;
}

void raft__send_append(struct raft *r, struct raft__progress *pr, int send_if_empty)
{
    if (raft__progress_paused(r, pr))
        return;
    struct raft_msg m;
    memset(&m, 0, sizeof(m));
    struct raft_entry *ents;
    size_t n;
    if (gather(r, pr->next, &ents, &n) != TR_OK) {
        /* Out of memory: like a lost message, the follower is retried later. */
        r->msgs_dropped++;
        return;
    }
    if (n == 0 && !send_if_empty)
        return;
    m.type = RAFT_MSG_APPEND;
    m.to = pr->id;
    m.index = pr->next - 1;
    m.log_term = raft__term(r, m.index);
    m.commit = r->commit;
    m.entries = n > 0 ? ents : NULL;
    m.n_entries = n;
    if (r->err || !raft__send(r, &m))
        return;
    if (pr->state == RAFT_PROGRESS_REPLICATE && n > 0) {
        /* Pipelining (§10.2.1): assume success, bounded by the in-flight window. */
        pr->next = ents[n - 1].index + 1;
        raft__inflight_add(r, pr, ents[n - 1].index);
    } else if (pr->state == RAFT_PROGRESS_PROBE) {
        pr->probe_sent = 1;
    }
}

void raft__bcast_append(struct raft *r)
{
    for (uint32_t i = 0; i < r->n_prs; i++)
        raft__send_append(r, &r->prs[i], 1);
}

void raft__bcast_heartbeat(struct raft *r, uint64_t context)
{
    struct raft_msg m;
    memset(&m, 0, sizeof(m));
    m.type = RAFT_MSG_HEARTBEAT;
    m.context = context;
    for (uint32_t i = 0; i < r->n_prs; i++) {
        const struct raft__progress *pr = &r->prs[i];
        m.to = pr->id;
        /* Never tell a follower to commit past what it is known to hold. */
        m.commit = pr->match < r->commit ? pr->match : r->commit;
        raft__send(r, &m);
    }
}

void raft__leader_tick(struct raft *r)
{
    r->heartbeat_elapsed++;
    r->election_elapsed++;
    raft__transfer_tick(r);
    if (r->election_elapsed >= r->cfg.election_ticks) {
        r->election_elapsed = 0;
        /* §6.2 check-quorum: without a majority heard from in an election timeout, a leader
         * steps down so clients find the real one. */
        if (r->cfg.check_quorum && !raft__quorum_active(r)) {
            raft__become_follower(r, r->term, RAFT_NONE);
            return;
        }
        for (uint32_t i = 0; i < r->n_prs; i++)
            r->prs[i].recent_active = 0;
    }
    if (r->heartbeat_elapsed >= r->cfg.heartbeat_ticks) {
        r->heartbeat_elapsed = 0;
        /* Carry the latest read round: an answer confirms every pending read, so reads survive
         * lost heartbeats (§6.4). */
        raft__bcast_heartbeat(r, r->n_reads_pending > 0 ? r->read_round : 0);
    }
}

/* The quorum-th largest match among voters; the leader's own is its persisted index. */
static uint64_t quorum_match(struct raft *r)
{
    const struct raft_conf *c = raft__conf(r);
    uint64_t m[RAFT_MAX_MEMBERS];
    uint32_t n = 0;
    for (uint32_t i = 0; i < c->n_voters; i++) {
        uint64_t v = 0;
        if (c->voters[i] == r->id) {
            v = raft__persisted_index(r);
        } else {
            const struct raft__progress *pr = raft__progress_find(r, c->voters[i]);
            v = pr ? pr->match : 0;
        }
        uint32_t j = n++;
        for (; j > 0 && m[j - 1] < v; j--)
            m[j] = m[j - 1];
        m[j] = v;
    }
    return n == 0 ? 0 : m[raft__quorum(r) - 1];
}

int raft__maybe_commit(struct raft *r)
{
    uint64_t n = quorum_match(r);
    if (n <= r->commit)
        return 0;
    /* §3.6.2 (Figure 3.7): an entry of an earlier term is never committed by counting replicas;
     * it commits only indirectly, below an entry of the current term. */
    int current = raft__term(r, n) == r->term;
#ifdef TREATY_RAFT_BUGS
    if (RAFT__BUG(r, RAFT_BUG_COMMIT_PREV_TERM))
        current = 1;
#endif
    if (!current)
        return 0;
    raft__commit_to(r, n);
    return 1;
}

int raft__leader_commit(struct raft *r)
{
    if (!raft__maybe_commit(r))
        return 0;
    raft__bcast_append(r);
    /* §4.2.2: a leader that removed itself steps down once that configuration is committed. */
    if (!raft__is_voter(r, r->id) && !raft__conf_pending(r)) {
        raft__transfer_handoff(r);
        raft__become_follower(r, r->term, RAFT_NONE);
    }
    return 1;
}

void raft__commit_to(struct raft *r, uint64_t commit)
{
    if (commit <= r->commit)
        return;
    TR_ASSERT(commit <= raft__last_index(r));
    r->commit = commit;
    raft__conf_committed(r, commit);
}

/* Rejects an append whose previous entry does not match, with hints that let the leader skip a
 * whole conflicting term per round trip instead of one entry (§3.5). */
static void reject_append(struct raft *r, const struct raft_msg *m)
{
    struct raft_msg resp;
    memset(&resp, 0, sizeof(resp));
    resp.type = RAFT_MSG_APPEND_RESP;
    resp.to = m->from;
    resp.reject = 1;
    resp.index = m->index;
    resp.hint_index = raft__find_conflict_by_term(r, m->index, m->log_term);
    resp.hint_term = raft__term(r, resp.hint_index);
    raft__send(r, &resp);
}

static void ack_append(struct raft *r, const struct raft_msg *m, uint64_t index)
{
    struct raft_msg resp;
    memset(&resp, 0, sizeof(resp));
    resp.type = RAFT_MSG_APPEND_RESP;
    resp.to = m->from;
    resp.index = index;
    raft__send(r, &resp);
}

/* A well-formed append carries entries m->index+1, +2, … with terms that never decrease and
 * never exceed the message's term. Anything else is ignored. */
static int append_well_formed(const struct raft_msg *m)
{
    uint64_t prev_term = m->log_term;
    if (m->n_entries > 0 && !m->entries)
        return 0;
    for (size_t i = 0; i < m->n_entries; i++) {
        const struct raft_entry *e = &m->entries[i];
        if (e->index != m->index + 1 + i || e->term < prev_term || e->term > m->term)
            return 0;
        if (e->len > 0 && !e->data)
            return 0;
        prev_term = e->term;
    }
    return m->log_term <= m->term;
}

/* Follower side of AppendEntries (§3.5, Figure 3.1 receiver rules 2-5). */
void raft__handle_append(struct raft *r, const struct raft_msg *m)
{
    if (!append_well_formed(m))
        return;
    if (m->index < r->commit) {
        ack_append(r, m, r->commit);
        return;
    }
    if (!raft__match_term(r, m->index, m->log_term)) {
        reject_append(r, m);
        return;
    }
    size_t k = 0;
    while (k < m->n_entries && raft__match_term(r, m->entries[k].index, m->entries[k].term))
        k++;
    uint64_t last_new = m->index + m->n_entries;
    if (k < m->n_entries) {
        /* Rule 3: delete the conflicting entry and all that follow it; rule 4: append. The tail
         * bound may accept fewer: the answer then says how far this log really matches. */
        size_t appended = raft__log_append(r, m->entries + k, m->n_entries - k);
        last_new = m->index + k + appended;
    }
    if (r->err)
        return;
    uint64_t commit = m->commit < last_new ? m->commit : last_new;
    raft__commit_to(r, commit);
    ack_append(r, m, last_new);
}

void raft__handle_heartbeat(struct raft *r, const struct raft_msg *m)
{
    uint64_t commit = m->commit;
    if (commit > raft__last_index(r))
        commit = raft__last_index(r);
    raft__commit_to(r, commit);
    struct raft_msg resp;
    memset(&resp, 0, sizeof(resp));
    resp.type = RAFT_MSG_HEARTBEAT_RESP;
    resp.to = m->from;
    resp.context = m->context;
    raft__send(r, &resp);
}

/* Sends as many appends as the follower's window allows. */
static void send_more(struct raft *r, struct raft__progress *pr)
{
    uint64_t last = raft__last_index(r);
    while (pr->next <= last && !raft__progress_paused(r, pr)) {
        uint64_t before = pr->next;
        raft__send_append(r, pr, 0);
        if (pr->next == before)
            break;
    }
}

static void append_rejected(struct raft *r, struct raft__progress *pr, const struct raft_msg *m)
{
    uint64_t hint = m->hint_index;
    if (m->hint_term > 0)
        hint = raft__find_conflict_by_term(r, m->hint_index, m->hint_term);
    if (!raft__progress_decr(pr, m->index, hint))
        return;
    if (pr->state == RAFT_PROGRESS_REPLICATE)
        raft__progress_become_probe(pr);
    raft__send_append(r, pr, 1);
}

/* Leader side of AppendEntries responses: move match/next, switch probe -> replicate, commit. */
void raft__handle_append_response(struct raft *r, const struct raft_msg *m)
{
    struct raft__progress *pr = raft__progress_find(r, m->from);
    if (!pr)
        return;
    pr->recent_active = 1;
    if (m->reject) {
        append_rejected(r, pr, m);
        return;
    }
    int was_paused = raft__progress_paused(r, pr);
    if (m->index > raft__last_index(r) || !raft__progress_update(pr, m->index))
        return;
    if (pr->state == RAFT_PROGRESS_PROBE)
        raft__progress_become_replicate(pr);
    else
        raft__inflight_free_to(r, pr, m->index);
    if (raft__leader_commit(r)) {
        if (r->role != RAFT_LEADER)
            return;
    } else if (was_paused) {
        raft__send_append(r, pr, 1);
    }
    send_more(r, pr);
    raft__transfer_maybe_send(r, pr);
}

void raft__handle_heartbeat_response(struct raft *r, const struct raft_msg *m)
{
    struct raft__progress *pr = raft__progress_find(r, m->from);
    if (!pr)
        return;
    pr->recent_active = 1;
    pr->probe_sent = 0;
    /* All appends in flight may have been lost: free one slot so replication cannot stall. */
    raft__inflight_free_first(r, pr);
    if (pr->match < raft__last_index(r))
        raft__send_append(r, pr, 1);
    if (m->context != 0)
        raft__read_ack(r, m->from, m->context);
}
